"""Gridworld: a ``size x size`` grid with slippery moves and state rewards.

Spec (also used by the benchmarks, so keep it exact):

- States are the cells in row-major order, ``s = row * size + col``, row 0 at the top.
- Actions: 0 stay, 1 up, 2 down, 3 left, 4 right. With probability ``slip`` the
  chosen move is replaced by one of the five moves drawn uniformly, so the intended
  move happens with probability ``1 - slip + slip / 5`` and each other move with
  ``slip / 5``. A move off the grid leaves the agent where it is.
- Rewards are state rewards: the reward of step ``t`` is ``r(s_t)``, whatever the action.
- Episodes never terminate; they are truncated after ``horizon`` steps (default ``2 * size``).

``gridworld_mdp`` builds the exact model vectorised (10^6 states in a few seconds);
``GridworldEnv`` is the same process as a gymnasium env.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

from irl._memory import check_fits
from irl.envs.tabular import MDPError, TabularMDP

N_ACTIONS = 5
STAY, UP, DOWN, LEFT, RIGHT = range(N_ACTIONS)
_DENSE_FEATURE_LIMIT = 2**27  # entries (1 GiB in float64) of a dense one-hot feature matrix
#: bytes per cell of the exact model while it is built: (S, 5, 5) successor states and probabilities,
#: the two CSR operators, and the temporaries of their construction
_BYTES_PER_CELL = 2000


def check_grid_size(size: Any) -> int:
    """``size`` as an int if it is >= 1 and its exact model fits in memory; raises otherwise (before allocating)."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise MDPError(f"size must be an integer, got {size!r}")
    if size < 1:
        raise MDPError(f"size must be >= 1, got {size}")
    check_fits(_BYTES_PER_CELL * float(size) ** 2, f"a {size}x{size} grid ({size * size} states)",
               hint="choose a smaller size")
    return int(size)


def grid_successors(size: int) -> np.ndarray:
    """``(S, 5)`` int64: the cell that each move (stay, up, down, left, right) leads to from every cell."""
    s = np.arange(size * size, dtype=np.int64)
    row, col = np.divmod(s, size)
    return np.stack(
        [
            s,
            np.maximum(row - 1, 0) * size + col,
            np.minimum(row + 1, size - 1) * size + col,
            row * size + np.maximum(col - 1, 0),
            row * size + np.minimum(col + 1, size - 1),
        ],
        axis=1,
    )


def slip_transitions(size: int, slip: float) -> tuple[np.ndarray, np.ndarray]:
    """Padded successor lists ``(S, 5, K)`` (states, probabilities) of the slippery grid.

    ``K = 5`` (slot ``k`` holds move ``k``; a move off the grid repeats ``s``), or
    ``K = 1`` when ``slip == 0``. Zero-probability slots point at ``s`` itself.
    """
    if not 0.0 <= slip <= 1.0:
        raise MDPError(f"slip must lie in [0, 1], got {slip}")
    succ = grid_successors(size)
    if slip == 0.0:
        return succ[:, :, None].copy(), np.ones((size * size, N_ACTIONS, 1))
    move_probs = np.full((N_ACTIONS, N_ACTIONS), slip / N_ACTIONS) + (1.0 - slip) * np.eye(N_ACTIONS)
    next_probs = np.broadcast_to(move_probs, (size * size, N_ACTIONS, N_ACTIONS)).copy()
    own = np.arange(size * size, dtype=np.int64)[:, None, None]
    next_states = np.where(next_probs > 0, succ[:, None, :], own)
    return next_states, next_probs


def initial_distribution(size: int, initial: str) -> np.ndarray:
    """``(S,)`` initial-state distribution: ``"uniform"`` over cells or ``"corner"`` (top-left cell)."""
    if initial == "uniform":
        return np.full(size * size, 1.0 / (size * size))
    if initial == "corner":
        d = np.zeros(size * size)
        d[0] = 1.0
        return d
    raise MDPError(f"initial must be 'uniform' or 'corner', got {initial!r}")


def feature_index(size: int, features: str | None, block_size: int = 2) -> tuple[np.ndarray, int]:
    """Which one-hot feature is on in each cell: ``(S,)`` int64 column indices and ``F``.

    ``"onehot"`` (or None): one feature per cell. ``"blocks"``: one per coarse cell of
    ``block_size x block_size`` cells (``ceil(size / block_size)**2`` features).
    """
    s = np.arange(size * size, dtype=np.int64)
    if features in ("onehot", None):
        return s, size * size
    if features == "blocks":
        if block_size < 1:
            raise MDPError(f"block_size must be >= 1, got {block_size}")
        n_blocks = -(-size // block_size)
        row, col = np.divmod(s, size)
        return (row // block_size) * n_blocks + col // block_size, n_blocks * n_blocks
    raise MDPError(f"features must be 'onehot', 'blocks' or None, got {features!r}")


def one_hot_features(index: np.ndarray, n_features: int) -> np.ndarray:
    """``(S, F)`` float64 matrix with a single 1 per row at ``index``."""
    if index.size * n_features > _DENSE_FEATURE_LIMIT:
        raise MDPError(
            f"dense one-hot features for {index.size} states x {n_features} features are too large; "
            "pass features='blocks' (coarser) or features=None"
        )
    phi = np.zeros((index.size, n_features))
    phi[np.arange(index.size), index] = 1.0
    return phi


def gridworld_reward(
    size: int,
    reward: str | Any = "goal",
    *,
    features: str | None = "onehot",
    block_size: int = 2,
    reward_seed: int = 0,
) -> np.ndarray:
    """``(S,)`` state reward: ``"goal"`` (+1 in the bottom-right cell), ``"random"`` or an array.

    ``"random"`` is linear in the features, ``r(s) = phi(s) . w`` with
    ``w ~ N(0, I)`` drawn from ``numpy.random.default_rng(reward_seed)``
    (one-hot features when ``features`` is None).
    """
    S = check_grid_size(size) ** 2
    if isinstance(reward, str):
        if reward == "goal":
            r = np.zeros(S)
            r[-1] = 1.0
            return r
        if reward == "random":
            index, n_features = feature_index(size, features, block_size)
            w = np.random.default_rng(reward_seed).standard_normal(n_features)
            return w[index]
        raise MDPError(f"reward must be 'goal', 'random' or an array of {S} floats, got {reward!r}")
    r = np.asarray(reward, dtype=np.float64).reshape(-1)
    if r.shape != (S,) or not np.isfinite(r).all():
        raise MDPError(
            f"a reward array must hold {S} finite floats (one per cell), got shape {np.shape(reward)}"
        )
    return r


def grid_mdp(
    size: int,
    slip: float,
    state_reward: np.ndarray,
    features: np.ndarray | None,
    horizon: int | None,
    initial: str,
    dtype: torch.dtype,
    info: dict[str, Any],
) -> TabularMDP:
    """The exact model of a slippery grid with a state reward ``(S,)`` and features ``(S, F)``."""
    check_grid_size(size)
    next_states, next_probs = slip_transitions(size, slip)
    return TabularMDP.from_successors(
        next_states,
        next_probs,
        initial_distribution(size, initial),
        features=features,
        reward=np.repeat(state_reward[:, None], N_ACTIONS, axis=1),
        horizon=2 * size if horizon is None else horizon,
        grid_shape=(size, size),
        dtype=dtype,
        info=info,
    )


def gridworld_mdp(
    size: int,
    slip: float = 0.1,
    *,
    reward: str | Any = "goal",
    features: str | None = "onehot",
    block_size: int = 2,
    reward_seed: int = 0,
    horizon: int | None = None,
    initial: str = "uniform",
    dtype: torch.dtype = torch.float64,
) -> TabularMDP:
    """The exact ``TabularMDP`` of ``irl/Gridworld-v0`` (see the module docstring).

    Shapes: ``S = size**2`` states, 5 actions, ``K = 5`` successor slots; reward
    ``(S, 5)`` (the state reward repeated over actions); features ``(S, F)`` or None;
    ``horizon`` defaults to ``2 * size``; ``discount`` is None.
    """
    state_reward = gridworld_reward(
        size, reward, features=features, block_size=block_size, reward_seed=reward_seed
    )
    phi = None if features is None else one_hot_features(*feature_index(size, features, block_size))
    kwargs = {
        "size": size,
        "slip": slip,
        "reward": reward if isinstance(reward, str) else state_reward.tolist(),
        "features": features,
        "block_size": block_size,
        "reward_seed": reward_seed,
        "horizon": horizon,
        "initial": initial,
    }
    return grid_mdp(
        size,
        slip,
        state_reward,
        phi,
        horizon,
        initial,
        dtype,
        {"env_id": "irl/Gridworld-v0", "env_kwargs": kwargs},
    )


class SlipperyGridEnv(gymnasium.Env):
    """A slippery grid as a gymnasium env: shared by the gridworld and the objectworld.

    Observations are cell indices (``Discrete(S)``), actions ``Discrete(5)``. The
    reward of a step is ``true_reward[s_t]``; episodes are truncated after
    ``horizon`` steps and never terminate. ``reset(options={"state": s})`` starts in ``s``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self, size: int, slip: float, true_reward: np.ndarray, horizon: int | None, initial: str
    ) -> None:
        check_grid_size(size)
        if not 0.0 <= slip <= 1.0:
            raise MDPError(f"slip must lie in [0, 1], got {slip}")
        self.size, self.slip = size, float(slip)
        self.horizon = 2 * size if horizon is None else int(horizon)
        if self.horizon < 1:
            raise MDPError(f"horizon must be >= 1, got {horizon}")
        self.true_reward = np.asarray(true_reward, dtype=np.float64)
        self._initial_cdf = np.cumsum(initial_distribution(size, initial))
        self._successors = grid_successors(size)
        self.observation_space = spaces.Discrete(size * size)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self._state = 0
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        if options and "state" in options:
            state = int(options["state"])
            if not 0 <= state < self.size * self.size:
                raise ValueError(f"options['state'] must lie in 0..{self.size * self.size - 1}, got {state}")
        else:
            u = self.np_random.random() * self._initial_cdf[-1]  # inverse CDF: O(log S) per reset
            state = int(np.searchsorted(self._initial_cdf, u, side="right"))
        self._state, self._t = state, 0
        return state, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an int in 0..{N_ACTIONS - 1}, got {action!r}")
        reward = float(self.true_reward[self._state])
        move = int(action)
        if self.slip > 0.0 and self.np_random.random() < self.slip:
            move = int(self.np_random.integers(N_ACTIONS))
        self._state = int(self._successors[self._state, move])
        self._t += 1
        return self._state, reward, False, self._t >= self.horizon, {}


class GridworldEnv(SlipperyGridEnv):
    """``irl/Gridworld-v0``: a slippery gridworld with state rewards (see the module docstring).

    Args:
        size: cells per side (``S = size**2`` states).
        slip: probability that the chosen move is replaced by a uniformly drawn one.
        reward: ``"goal"`` (+1 bottom-right), ``"random"`` (``phi(s) . w``, ``w ~ N(0, I)``)
            or ``size * size`` floats.
        features: ``"onehot"`` (``(S, S)``) or ``"blocks"`` (``(S, ceil(size/block_size)**2)``).
        block_size: side of a coarse cell for ``features="blocks"``.
        reward_seed: seed of ``w`` for ``reward="random"``.
        horizon: steps before truncation (default ``2 * size``).
        initial: ``"uniform"`` over cells or ``"corner"`` (top-left cell).

    Attributes:
        true_reward: ``(S,)`` float64 state reward.
    """

    def __init__(
        self,
        size: int = 8,
        slip: float = 0.1,
        reward: str | Any = "goal",
        features: str = "onehot",
        block_size: int = 2,
        reward_seed: int = 0,
        horizon: int | None = None,
        initial: str = "uniform",
        render_mode: str | None = None,
    ) -> None:
        true_reward = gridworld_reward(
            size, reward, features=features, block_size=block_size, reward_seed=reward_seed
        )
        feature_index(size, features, block_size)  # validate early
        super().__init__(size, slip, true_reward, horizon, initial)
        self.render_mode = render_mode
        self._kwargs = {
            "reward": reward,
            "features": features,
            "block_size": block_size,
            "reward_seed": reward_seed,
            "horizon": horizon,
            "initial": initial,
        }

    def tabular_mdp(self, dtype: torch.dtype = torch.float64) -> TabularMDP:
        """The exact model of this env (``gridworld_mdp`` with this env's arguments)."""
        return gridworld_mdp(self.size, self.slip, dtype=dtype, **self._kwargs)
