"""Objectworld (Levine, Popović & Koltun 2011, "Nonlinear Inverse Reinforcement
Learning with Gaussian Processes", NIPS, Sec. 6), as implemented here.

World
    A ``size x size`` grid (default 32), cells in row-major order ``s = row * size + col``
    (row 0 at the top), as in ``irl.envs.gridworld``. Objects: each cell, visited in
    order ``s = 0, 1, ...``, receives an object with probability ``object_prob``
    (0.05). An object has a primary (outer) colour in ``0..n_primary-1`` and a
    secondary (inner) colour in ``0..n_secondary-1``, each uniform. With more than two
    primary colours they are placed in rounds of two colours, as Levine's
    irl_toolkit does (``objectworldbuild.m``): round ``k`` gives free cells an object
    of primary colour ``2k`` or ``2k+1`` with probability ``object_prob`` (a last
    lone colour with ``object_prob / 2``), so the reward colours 0 and 1 are always
    placed and the extra colours are distractors. Seeded by ``world_seed``
    (``numpy.random.default_rng``).

Dynamics
    Five actions, numbered as in the gridworld: 0 stay, 1 up, 2 down, 3 left, 4 right.
    The paper: "each action has a 30% chance of moving in a random direction". We
    implement: with probability ``move_noise`` (0.3) the chosen move is replaced by one
    of the five moves drawn uniformly (intended move ``1 - 0.3 + 0.3/5 = 0.76``, each
    other ``0.06``); moves off the grid stay put. irl_toolkit instead gives the
    intended move ``determinism = 0.7`` and each other move ``0.3 / 4``; that is exactly
    ``move_noise = 0.375`` here.

Features (``F`` columns)
    ``distance[s, c]``: Euclidean distance (in cells) from ``s`` to the nearest object
    whose primary colour is ``c`` (columns ``0..n_primary-1``), then whose secondary
    colour is ``c`` (columns ``n_primary..n_primary+n_secondary-1``); 0 on the object's
    own cell. A colour with no object gets ``size * sqrt(2)`` (as irl_toolkit).

    - ``"continuous"``: ``distance`` itself, ``F = n_primary + n_secondary``.
    - ``"discrete"``: for ``d = 1..size`` and each colour column ``c``, the indicator
      ``distance[s, c] < d`` (strict, as irl_toolkit's ``c1dsq(i) < d``), column
      ``(d - 1) * (n_primary + n_secondary) + c``; ``F = (n_primary + n_secondary) * size``.
      The paper says ``D in {1..N}`` (used here); irl_toolkit uses ``d = 1..N-1``.

True reward (the paper's reward tree)
    ``near1 = distance to primary colour 0 < 3``, ``near2 = distance to primary colour 1 < 2``
    (strict, irl_toolkit's tests on the discrete features d=3 and d=2, so the reward is
    a function of the discrete features). Reward ``+5`` where ``near1 and near2``,
    ``-5`` where ``near1`` only, 0 elsewhere (``reward_values=(5, -5)``). The paper
    says only "positive" / "negative"; irl_toolkit's tree has leaves +1 and -2 scaled by
    ``R_SCALE = 5``, i.e. ``reward_values=(5, -10)``.

Episodes never terminate; they are truncated after ``horizon`` steps (default
``2 * size``, enough to cross the grid; the paper solves the infinite-horizon
problem with discount 0.9, which is ``mdp.replace(horizon=None, discount=0.9)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt

from irl.envs.gridworld import SlipperyGridEnv, check_grid_size, grid_mdp
from irl.envs.tabular import MDPError, TabularMDP


@dataclass(frozen=True)
class ObjectworldLayout:
    """The objects of one objectworld and the distances they define.

    Fields:
        size: cells per side (``S = size**2``).
        n_primary, n_secondary: numbers of primary (outer) and secondary (inner) colours.
        objects: ``(n_objects, 4)`` int64 rows ``(row, col, primary, secondary)``.
        distances: ``(S, n_primary + n_secondary)`` float64 distance to the nearest object
            of each primary, then each secondary, colour (``size * sqrt(2)`` if none).
    """

    size: int
    n_primary: int
    n_secondary: int
    objects: np.ndarray
    distances: np.ndarray

    def features(self, kind: str = "discrete") -> np.ndarray:
        """``(S, F)`` float64 features, ``"discrete"`` or ``"continuous"`` (module docstring)."""
        if kind == "continuous":
            return self.distances.copy()
        if kind == "discrete":
            thresholds = np.arange(1, self.size + 1, dtype=np.float64)
            below = self.distances[:, None, :] < thresholds[None, :, None]  # (S, size, C)
            return below.reshape(self.size * self.size, -1).astype(np.float64)
        raise MDPError(f"features must be 'discrete' or 'continuous', got {kind!r}")

    def reward(self, values: tuple[float, float] = (5.0, -5.0)) -> np.ndarray:
        """``(S,)`` true reward: ``values[0]`` near colours 0 and 1, ``values[1]`` near 0 alone, else 0."""
        near1 = self.distances[:, 0] < 3.0
        near2 = self.distances[:, 1] < 2.0
        return np.where(near1 & near2, values[0], np.where(near1, values[1], 0.0))


def place_objects(
    size: int, n_primary: int, n_secondary: int, object_prob: float, rng: np.random.Generator
) -> np.ndarray:
    """``(n_objects, 4)`` int64 rows ``(row, col, primary, secondary)``, sorted by cell."""
    S = size * size
    occupied = np.zeros(S, dtype=bool)
    primary = np.zeros(S, dtype=np.int64)
    secondary = np.zeros(S, dtype=np.int64)
    for first in range(0, n_primary, 2):
        n_colours = min(2, n_primary - first)
        prob = object_prob if n_colours == 2 else object_prob / 2
        cells = np.flatnonzero((rng.random(S) < prob) & ~occupied)
        occupied[cells] = True
        primary[cells] = first + rng.integers(n_colours, size=cells.size)
        secondary[cells] = rng.integers(n_secondary, size=cells.size)
    cells = np.flatnonzero(occupied)
    return np.stack([cells // size, cells % size, primary[cells], secondary[cells]], axis=1).astype(np.int64)


def colour_distances(size: int, objects: np.ndarray, n_primary: int, n_secondary: int) -> np.ndarray:
    """``(S, n_primary + n_secondary)`` Euclidean distance to the nearest object of each colour.

    Exact, via a Euclidean distance transform (the squared distances are integers).
    """
    S = size * size
    out = np.full((S, n_primary + n_secondary), size * np.sqrt(2.0))
    rows, cols = np.divmod(np.arange(S), size)
    for column in range(n_primary + n_secondary):
        is_primary = column < n_primary
        colour = column if is_primary else column - n_primary
        mine = objects[objects[:, 2 if is_primary else 3] == colour]
        if mine.size == 0:
            continue
        free = np.ones((size, size), dtype=bool)
        free[mine[:, 0], mine[:, 1]] = False
        nearest = distance_transform_edt(free, return_distances=False, return_indices=True)
        dr = nearest[0].reshape(-1) - rows
        dc = nearest[1].reshape(-1) - cols
        out[:, column] = np.sqrt(dr * dr + dc * dc)
    return out


def objectworld_layout(
    size: int = 32, n_primary: int = 2, n_secondary: int = 2, object_prob: float = 0.05, world_seed: int = 0
) -> ObjectworldLayout:
    """Place the objects of an objectworld (seeded by ``world_seed``) and measure distances."""
    check_grid_size(size)
    if n_primary < 2 or n_secondary < 1:
        raise MDPError(
            f"objectworld needs n_primary >= 2 and n_secondary >= 1, got {n_primary}, {n_secondary}"
        )
    if not 0.0 <= object_prob <= 1.0:
        raise MDPError(f"object_prob must lie in [0, 1], got {object_prob}")
    rng = np.random.default_rng(world_seed)
    objects = place_objects(size, n_primary, n_secondary, object_prob, rng)
    return ObjectworldLayout(
        size, n_primary, n_secondary, objects, colour_distances(size, objects, n_primary, n_secondary)
    )


def _mdp(layout: ObjectworldLayout, kwargs: dict[str, Any], dtype: torch.dtype) -> TabularMDP:
    return grid_mdp(
        layout.size,
        kwargs["move_noise"],
        layout.reward(kwargs["reward_values"]),
        layout.features(kwargs["features"]),
        kwargs["horizon"],
        kwargs["initial"],
        dtype,
        {
            "env_id": "irl/Objectworld-v0",
            "env_kwargs": dict(kwargs, reward_values=list(kwargs["reward_values"])),
        },
    )


def objectworld_mdp(
    size: int = 32,
    *,
    n_primary: int = 2,
    n_secondary: int = 2,
    object_prob: float = 0.05,
    move_noise: float = 0.3,
    features: str = "discrete",
    world_seed: int = 0,
    reward_values: tuple[float, float] = (5.0, -5.0),
    horizon: int | None = None,
    initial: str = "uniform",
    dtype: torch.dtype = torch.float64,
) -> TabularMDP:
    """The exact ``TabularMDP`` of ``irl/Objectworld-v0`` (see the module docstring).

    Shapes: ``S = size**2`` states, 5 actions, ``K = 5`` successor slots; reward ``(S, 5)``
    (state reward repeated over actions); features ``(S, F)``; horizon ``2 * size`` by default.
    """
    kwargs = dict(locals())
    del kwargs["dtype"]
    layout = objectworld_layout(size, n_primary, n_secondary, object_prob, world_seed)
    return _mdp(layout, kwargs, dtype)


class ObjectworldEnv(SlipperyGridEnv):
    """``irl/Objectworld-v0``: Levine et al.'s objectworld as a gymnasium env (module docstring).

    Takes the keyword arguments of ``objectworld_mdp`` (``dtype`` aside) and ``render_mode``.

    Attributes:
        objects: ``(n_objects, 4)`` int64 rows ``(row, col, primary, secondary)``.
        distances: ``(S, n_primary + n_secondary)`` distances to the nearest object of each colour.
        features: ``(S, F)`` the features chosen by ``features=``.
        true_reward: ``(S,)`` float64 state reward.
    """

    def __init__(
        self,
        size: int = 32,
        n_primary: int = 2,
        n_secondary: int = 2,
        object_prob: float = 0.05,
        move_noise: float = 0.3,
        features: str = "discrete",
        world_seed: int = 0,
        reward_values: tuple[float, float] = (5.0, -5.0),
        horizon: int | None = None,
        initial: str = "uniform",
        render_mode: str | None = None,
    ) -> None:
        self._kwargs = dict(locals())
        for name in ("self", "render_mode", "__class__"):
            self._kwargs.pop(name, None)
        self.layout = objectworld_layout(size, n_primary, n_secondary, object_prob, world_seed)
        self.objects = self.layout.objects
        self.distances = self.layout.distances
        self.features = self.layout.features(features)
        super().__init__(size, move_noise, self.layout.reward(reward_values), horizon, initial)
        self.render_mode = render_mode

    def tabular_mdp(self, dtype: torch.dtype = torch.float64) -> TabularMDP:
        """The exact model of this env (the same world, no re-placement of objects)."""
        return _mdp(self.layout, self._kwargs, dtype)
