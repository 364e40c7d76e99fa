"""Finite MDPs with sparse transitions: the model every exact algorithm works on.

Transition layout (padded successor lists)
-------------------------------------------
A state of a gridworld has a handful of successors, so ``P(s' | s, a)`` is never
stored as a dense ``(S, A, S)`` array. Instead, with ``K`` the largest number of
successors of any ``(s, a)``:

- ``next_states``  ``(S, A, K)`` int64: the successor states of ``(s, a)``;
- ``next_probs``   ``(S, A, K)`` float: their probabilities.

Unused slots hold probability 0 and point at ``s`` itself, so a gather
``v[next_states]`` is always in range and a padded slot contributes nothing.
``E[v(s') | s, a] = (next_probs * v[next_states]).sum(-1)``.

Terminations
------------
An episode that terminates (as opposed to being truncated by a time limit) is
modelled by one extra **absorbing state**, always the last index ``S - 1``:
a terminating transition leads there, it loops to itself under every action,
its reward is 0 and its features are 0. ``n_env_states`` counts the
environment's own states (``S - 1`` when an absorbing state was added).
Rewards, features and tables indexed by the environment's states have
``n_env_states`` rows; ``pad_states`` appends the absorbing row.

Horizon and discount
--------------------
``horizon`` set: a finite-horizon problem of ``horizon`` steps, discounted by
``discount`` if given (default 1). ``horizon`` unset: an infinite-horizon
problem that needs ``discount < 1``.

Building one
------------
``TabularMDP.from_arrays`` (dense or sparse transitions, terminal states),
``TabularMDP.from_successors`` (the padded layout, vectorised) and ``TabularMDP.from_env``
(a tabular gymnasium env) check their input and assemble the layout in
:mod:`irl.envs.builders` and :mod:`irl.envs.from_env`, which sit below this module.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from irl.envs.builders import MDPError, csr_operators, fields_from_arrays, fields_from_successors
from irl.envs.from_env import env_fields

__all__ = ["MDPError", "TabularMDP"]


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """A finite MDP with sparse transitions (see the module docstring for the layout).

    Fields (S states incl. any absorbing state, A actions, K successor slots, F features):
        next_states: ``(S, A, K)`` int64 successor indices; padding points at ``s``.
        next_probs: ``(S, A, K)`` float successor probabilities; padding is 0.
        initial: ``(S,)`` float initial-state distribution (0 on the absorbing state).
        features: ``(S, F)`` or ``(S, A, F)`` float, or None; 0 on the absorbing state.
        reward: ``(S, A)`` float true reward, or None; 0 on the absorbing state.
        discount: the discount factor, or None (meaning 1 with a finite horizon).
        horizon: number of steps of a finite-horizon problem, or None.
        absorbing: index of the absorbing state (always ``S - 1``), or None.
        grid_shape: ``(rows, cols)`` when states are the cells of a grid in
            row-major order (used for heat-maps), else None.
        info: free-form description (env id, kwargs, provenance).
    """

    next_states: torch.Tensor
    next_probs: torch.Tensor
    initial: torch.Tensor
    features: torch.Tensor | None = None
    reward: torch.Tensor | None = None
    discount: float | None = None
    horizon: int | None = None
    absorbing: int | None = None
    grid_shape: tuple[int, int] | None = None
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        ns, npr = self.next_states, self.next_probs
        if ns.ndim != 3 or npr.shape != ns.shape:
            raise MDPError(
                f"next_states and next_probs must both be (S, A, K); got {tuple(ns.shape)} "
                f"and {tuple(npr.shape)}"
            )
        S, A, _ = ns.shape
        if self.initial.shape != (S,):
            raise MDPError(f"initial must have shape ({S},), got {tuple(self.initial.shape)}")
        if self.features is not None and (
            self.features.ndim not in (2, 3)
            or self.features.shape[0] != S
            or (self.features.ndim == 3 and self.features.shape[1] != A)
        ):
            raise MDPError(
                f"features must be ({S}, F) or ({S}, {A}, F), got {tuple(self.features.shape)}"
            )
        if self.reward is not None and self.reward.shape != (S, A):
            raise MDPError(f"reward must have shape ({S}, {A}), got {tuple(self.reward.shape)}")
        if self.discount is not None and not 0.0 <= self.discount <= 1.0:
            raise MDPError(f"discount must lie in [0, 1], got {self.discount}")
        if self.horizon is None and (self.discount is None or self.discount >= 1.0):
            raise MDPError("an MDP without a horizon needs a discount < 1")
        if self.horizon is not None and self.horizon < 1:
            raise MDPError(f"horizon must be >= 1, got {self.horizon}")
        if self.absorbing is not None and self.absorbing != S - 1:
            raise MDPError(f"the absorbing state must be the last one ({S - 1}), got {self.absorbing}")

    # ---------------------------------------------------------------- sizes
    @property
    def n_states(self) -> int:
        """S: all states, the absorbing one included."""
        return self.next_states.shape[0]

    @property
    def n_actions(self) -> int:
        return self.next_states.shape[1]

    @property
    def n_successors(self) -> int:
        """K: successor slots per (s, a)."""
        return self.next_states.shape[2]

    @property
    def n_env_states(self) -> int:
        """The environment's own states (the absorbing state excluded)."""
        return self.n_states - (1 if self.absorbing is not None else 0)

    @property
    def n_features(self) -> int | None:
        return None if self.features is None else self.features.shape[-1]

    @property
    def gamma(self) -> float:
        """The discount as a number (1.0 for an undiscounted finite horizon)."""
        return 1.0 if self.discount is None else float(self.discount)

    @property
    def device(self) -> torch.device:
        return self.next_probs.device

    @property
    def dtype(self) -> torch.dtype:
        return self.next_probs.dtype

    # ------------------------------------------------------------ utilities
    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> TabularMDP:
        """A copy on ``device`` with floating tensors cast to ``dtype``; the MDP itself (frozen, with its
        cached operators) when it is there already."""
        same_device = device is None or torch.device(device) == self.device
        if same_device and (dtype is None or dtype == self.dtype):
            return self

        def move(x: torch.Tensor | None) -> torch.Tensor | None:
            if x is None:
                return None
            if x.is_floating_point():
                return x.to(device=device, dtype=dtype or x.dtype)
            return x.to(device=device)

        return dataclasses.replace(
            self,
            next_states=move(self.next_states),
            next_probs=move(self.next_probs),
            initial=move(self.initial),
            features=move(self.features),
            reward=move(self.reward),
        )

    def replace(self, **changes: Any) -> TabularMDP:
        """A copy with some fields changed (e.g. ``horizon=``, ``discount=``)."""
        return dataclasses.replace(self, **changes)

    def pad_states(self, table: torch.Tensor | np.ndarray, fill: float = 0.0) -> torch.Tensor:
        """Append the absorbing-state row to a table indexed by environment states.

        Accepts ``(n_env_states, ...)`` (padded) or ``(n_states, ...)`` (returned as is).
        """
        t = torch.as_tensor(table)
        if t.shape[0] == self.n_states:
            return t
        if t.shape[0] != self.n_env_states:
            raise MDPError(
                f"table has {t.shape[0]} rows; expected {self.n_env_states} (env states) "
                f"or {self.n_states} (with the absorbing state)"
            )
        pad = torch.full((1, *t.shape[1:]), fill, dtype=t.dtype, device=t.device)
        return torch.cat([t, pad], dim=0)

    def env_states(self, table: torch.Tensor) -> torch.Tensor:
        """Drop the absorbing-state row from a ``(S, ...)`` table (time-indexed: ``(T, S, ...)`` not accepted)."""
        return table[: self.n_env_states]

    def dense_transitions(self) -> torch.Tensor:
        """``(S, A, S)`` dense transition tensor; for small MDPs and tests only."""
        S, A, _ = self.next_states.shape
        P = torch.zeros(S, A, S, dtype=self.dtype, device=self.device)
        P.scatter_add_(2, self.next_states, self.next_probs)
        return P

    def transition_operators(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None,
        action_major: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse CSR matrices ``P`` ``(S*A, S)`` and ``P^T`` ``(S, S*A)``, cached per device and dtype.

        Row ``s*A + a`` of ``P`` is ``P(. | s, a)``: ``P @ v`` is ``E[v(s') | s, a]``
        flattened, and ``P^T @ x`` pushes state-action mass ``x`` one step forward.
        With ``action_major`` the rows (of ``P^T``: the columns) are ordered ``a*S + s``
        instead, so that ``(P @ v).view(A, S)`` is action by state. Padding slots
        (probability 0) are dropped.
        """
        device = torch.device(device) if device is not None else self.device
        dtype = dtype or self.dtype
        cache = self.__dict__.setdefault("_operator_cache", {})
        key = (str(device), dtype, action_major)
        if key not in cache:
            cache[key] = csr_operators(self.next_states, self.next_probs, device, dtype, action_major)
        return cache[key]

    # --------------------------------------------------------- constructors
    @classmethod
    def from_arrays(
        cls,
        transitions: Any,
        initial: Any,
        features: Any = None,
        reward: Any = None,
        discount: float | None = None,
        horizon: int | None = None,
        *,
        terminal_states: Any = None,
        grid_shape: tuple[int, int] | None = None,
        dtype: torch.dtype = torch.float64,
        info: dict[str, Any] | None = None,
    ) -> TabularMDP:
        """An MDP from dense ``(S, A, S)`` or sparse ``(S*A, S)`` transitions, optionally with terminal
        states (an absorbing state is added); arguments as :func:`irl.envs.builders.fields_from_arrays`."""
        return cls(**fields_from_arrays(
            transitions, initial, features, reward, discount, horizon,
            terminal_states=terminal_states, grid_shape=grid_shape, dtype=dtype, info=info,
        ))

    @classmethod
    def from_successors(
        cls,
        next_states: np.ndarray,
        next_probs: np.ndarray,
        initial: np.ndarray,
        *,
        features: np.ndarray | None = None,
        reward: np.ndarray | None = None,
        discount: float | None = None,
        horizon: int | None = None,
        grid_shape: tuple[int, int] | None = None,
        dtype: torch.dtype = torch.float64,
        info: dict[str, Any] | None = None,
    ) -> TabularMDP:
        """An MDP (no terminations) from the padded layout itself, vectorised, for large generated
        MDPs; arguments as :func:`irl.envs.builders.fields_from_successors`."""
        return cls(**fields_from_successors(
            next_states, next_probs, initial, features=features, reward=reward, discount=discount,
            horizon=horizon, grid_shape=grid_shape, dtype=dtype, info=info,
        ))

    @classmethod
    def from_env(
        cls,
        env: Any,
        *,
        env_kwargs: dict[str, Any] | None = None,
        horizon: int | str | None = "auto",
        discount: float | None = None,
        features: str | np.ndarray | None = "auto",
        dtype: torch.dtype = torch.float64,
    ) -> TabularMDP:
        """The exact model of a tabular gymnasium env (an instance, or an id made with ``env_kwargs``).

        Also ``irl.envs.mdp_from_env``. Our own envs give theirs; gymnasium's toy-text envs are read
        from their table ``P`` (:mod:`irl.envs.from_env`).

        Args:
            env: a gymnasium env (wrapped or not) or an env id such as ``"FrozenLake-v1"``.
            env_kwargs: keyword arguments for ``gymnasium.make`` when ``env`` is an id.
            horizon: ``"auto"``: the time limit ``env.spec.max_episode_steps`` (for our own
                envs, their horizon, or the time limit if shorter); an int: that many steps;
                None: an infinite-horizon problem (needs ``discount < 1``).
            discount: the discount factor, or None (undiscounted finite horizon; our own
                envs keep theirs).
            features: ``"auto"`` (one-hot states for toy-text, the env's own features for
                ours), ``"onehot"`` (``(S_env, S_env)`` identity), None, or an array of
                ``(S_env, F)`` / ``(S_env, A, F)``.
            dtype: floating dtype of the tensors.

        Raises:
            MDPError: the env has no exact tabular model, or no horizon nor discount is known.
        """
        return cls(**env_fields(
            env, env_kwargs=env_kwargs, horizon=horizon, discount=discount, features=features, dtype=dtype,
        ))
