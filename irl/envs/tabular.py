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
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


class MDPError(ValueError):
    """An MDP's arrays are inconsistent (shape, probabilities, ranges)."""


_ROW_SUM_TOL = 1e-6


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
        """A copy on ``device`` with floating tensors cast to ``dtype``."""

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
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse CSR matrices ``P`` ``(S*A, S)`` and ``P^T`` ``(S, S*A)``, cached per device and dtype.

        Row ``s*A + a`` of ``P`` is ``P(. | s, a)``: ``P @ v`` is ``E[v(s') | s, a]``
        flattened, and ``P^T @ x`` pushes state-action mass ``x`` one step forward.
        Padding slots (probability 0) are dropped.
        """
        device = torch.device(device) if device is not None else self.device
        dtype = dtype or self.dtype
        cache = self.__dict__.setdefault("_operator_cache", {})
        key = (str(device), dtype)
        if key not in cache:
            cache[key] = _build_operators(self.next_states, self.next_probs, device, dtype)
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
        """Build an MDP from arrays.

        Args:
            transitions: dense ``(S, A, S)`` array, or a scipy.sparse matrix of shape
                ``(S*A, S)`` whose row ``s*A + a`` is ``P(. | s, a)``.
            initial: ``(S,)`` initial-state distribution.
            features: ``(S, F)`` or ``(S, A, F)``, optional.
            reward: ``(S,)``, ``(S, A)`` or ``(S, A, S)`` (reduced to its expectation
                under the transitions), optional.
            discount, horizon: see the module docstring.
            terminal_states: optional ``(S,)`` bool; entering such a state ends the
                episode. Transitions into them are sent to an added absorbing state.
            grid_shape: ``(rows, cols)`` if the states are grid cells (row-major).
            dtype: floating dtype of the tensors.
        """
        dense, sparse_rows = _read_transitions(transitions)
        if dense is not None:
            S, A, _ = dense.shape
        else:
            S = sparse_rows.shape[1]
            A = sparse_rows.shape[0] // S
        init = _as_float_array("initial", initial, (S,))
        _check_distribution("initial", init[None, :])

        if terminal_states is not None:
            term = np.asarray(terminal_states)
            if term.shape != (S,) or term.dtype != bool:
                raise MDPError(f"terminal_states must be a bool array of shape ({S},), got {term.dtype}{term.shape}")
        else:
            term = np.zeros(S, dtype=bool)

        # Successor lists from the dense or sparse form.
        if dense is not None:
            succ_lists = [
                [(int(j), float(dense[s, a, j])) for j in np.flatnonzero(dense[s, a])] for s in range(S) for a in range(A)
            ]
        else:
            csr = sparse_rows.tocsr()
            csr.sum_duplicates()
            succ_lists = [
                [(int(j), float(p)) for j, p in zip(csr.indices[csr.indptr[i] : csr.indptr[i + 1]], csr.data[csr.indptr[i] : csr.indptr[i + 1]]) if p != 0]
                for i in range(S * A)
            ]

        # Expected reward before terminal redirection (the reward of entering a terminal state counts).
        r_sa = None
        if reward is not None:
            r = np.asarray(reward, dtype=np.float64)
            if r.shape == (S,):
                r_sa = np.repeat(r[:, None], A, axis=1)
            elif r.shape == (S, A):
                r_sa = r
            elif r.shape == (S, A, S):
                _check_finite("reward", r)
                r_sa = np.empty((S, A))
                for i, lst in enumerate(succ_lists):
                    s, a = divmod(i, A)
                    r_sa[s, a] = sum(p * r[s, a, j] for j, p in lst)
            else:
                raise MDPError(f"reward must be ({S},), ({S}, {A}) or ({S}, {A}, {S}); got {r.shape}")
            _check_finite("reward", r_sa)

        feats = None
        if features is not None:
            feats = np.asarray(features, dtype=np.float64)
            if not (feats.ndim == 2 and feats.shape[0] == S) and not (feats.ndim == 3 and feats.shape[:2] == (S, A)):
                raise MDPError(f"features must be ({S}, F) or ({S}, {A}, F), got {feats.shape}")
            _check_finite("features", feats)

        return cls._from_successor_lists(
            succ_lists, S, A, init, term, feats, r_sa, discount, horizon, grid_shape, dtype, info or {}
        )

    @classmethod
    def _from_successor_lists(
        cls,
        succ_lists: list[list[tuple[int, float]]],
        S: int,
        A: int,
        initial: np.ndarray,
        terminal_states: np.ndarray,
        features: np.ndarray | None,
        reward: np.ndarray | None,
        discount: float | None,
        horizon: int | None,
        grid_shape: tuple[int, int] | None,
        dtype: torch.dtype,
        info: dict[str, Any],
        terminating: list[float] | None = None,
    ) -> TabularMDP:
        """Assemble the padded layout from per-(s, a) successor lists (row ``s*A + a``).

        ``terminating[i]`` is extra probability mass of row ``i`` that ends the
        episode (goes to the absorbing state). Entering a ``terminal_states`` state
        also ends it.
        """
        # np.array copies: term_mass is updated below and must not alias the caller's array.
        term_mass = np.zeros(S * A) if terminating is None else np.array(terminating, dtype=np.float64)
        rows: list[dict[int, float]] = []
        for i, lst in enumerate(succ_lists):
            row: dict[int, float] = {}
            for j, p in lst:
                if p < 0 or not np.isfinite(p):
                    s, a = divmod(i, A)
                    raise MDPError(f"transitions[{s}, {a}, {j}] = {p} is not a probability")
                if j < 0 or j >= S:
                    s, a = divmod(i, A)
                    raise MDPError(f"transitions from ({s}, {a}) lead to state {j}, outside 0..{S - 1}")
                if terminal_states[j]:
                    term_mass[i] += p
                elif p > 0:
                    row[j] = row.get(j, 0.0) + p
            rows.append(row)
        sums = np.array([sum(r.values()) for r in rows]) + term_mass
        bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_SUM_TOL)
        if bad.size:
            s, a = divmod(int(bad[0]), A)
            raise MDPError(f"transition probabilities from (state {s}, action {a}) sum to {sums[bad[0]]:.6g}, not 1")

        has_absorbing = bool(term_mass.any())
        n = S + 1 if has_absorbing else S
        absorbing = S if has_absorbing else None
        K = max(1, max(len(r) + (1 if term_mass[i] > 0 else 0) for i, r in enumerate(rows)))
        next_states = np.empty((n, A, K), dtype=np.int64)
        next_probs = np.zeros((n, A, K), dtype=np.float64)
        next_states[:] = np.arange(n)[:, None, None]
        for i, row in enumerate(rows):
            s, a = divmod(i, A)
            items = sorted(row.items())
            if term_mass[i] > 0:
                items.append((S, term_mass[i]))
            for k, (j, p) in enumerate(items):
                next_states[s, a, k] = j
                next_probs[s, a, k] = p
        if has_absorbing:
            next_probs[S, :, 0] = 1.0  # the absorbing state loops to itself
        # Renormalise away round-off so every row sums to 1 exactly in float64.
        next_probs /= next_probs.sum(-1, keepdims=True)

        init = np.asarray(initial, dtype=np.float64)
        if has_absorbing:
            init = np.append(init, 0.0)
            if features is not None:
                features = np.concatenate([features, np.zeros((1, *features.shape[1:]))], axis=0)
            if reward is not None:
                reward = np.concatenate([reward, np.zeros((1, A))], axis=0)

        def t(x: np.ndarray | None) -> torch.Tensor | None:
            return None if x is None else torch.as_tensor(x, dtype=dtype)

        return cls(
            next_states=torch.as_tensor(next_states),
            next_probs=t(next_probs),
            initial=t(init),
            features=t(features),
            reward=t(reward),
            discount=discount,
            horizon=horizon,
            absorbing=absorbing,
            grid_shape=grid_shape,
            info=info,
        )

    @classmethod
    def from_env(cls, env: Any, **kwargs: Any) -> TabularMDP:
        """The exact model of a tabular gymnasium env (see ``irl.envs.from_env.mdp_from_env``)."""
        from irl.envs.from_env import mdp_from_env

        return mdp_from_env(env, **kwargs)

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
        """Build an MDP (no terminations) directly from the padded layout, vectorised.

        For large generated MDPs (gridworlds of 10^6 states) where per-row Python
        loops would be slow. Checks ranges and that rows sum to 1.
        """
        ns = np.asarray(next_states, dtype=np.int64)
        npb = np.asarray(next_probs, dtype=np.float64)
        if ns.ndim != 3 or npb.shape != ns.shape:
            raise MDPError(f"next_states and next_probs must both be (S, A, K); got {ns.shape} and {npb.shape}")
        S = ns.shape[0]
        if ns.min() < 0 or ns.max() >= S:
            raise MDPError(f"next_states must lie in 0..{S - 1}")
        if (npb < 0).any() or not np.isfinite(npb).all():
            raise MDPError("next_probs must be finite and non-negative")
        _check_distribution("transitions", npb.reshape(-1, npb.shape[-1]))
        _check_distribution("initial", np.asarray(initial, dtype=np.float64)[None, :])

        def t(x: np.ndarray | None) -> torch.Tensor | None:
            return None if x is None else torch.as_tensor(np.asarray(x), dtype=dtype)

        return cls(
            next_states=torch.as_tensor(ns),
            next_probs=t(npb),
            initial=t(initial),
            features=t(features),
            reward=t(reward),
            discount=discount,
            horizon=horizon,
            grid_shape=grid_shape,
            info=info or {},
        )


# ----------------------------------------------------------------- helpers
def _build_operators(
    next_states: torch.Tensor, next_probs: torch.Tensor, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    S, A, K = next_states.shape
    probs = next_probs.reshape(-1)
    keep = probs > 0
    rows = torch.arange(S * A, device=next_states.device).repeat_interleave(K)[keep]
    cols = next_states.reshape(-1)[keep]
    vals = probs[keep]
    with warnings.catch_warnings():  # torch flags sparse CSR as beta; it is what we want here
        warnings.simplefilter("ignore", UserWarning)
        P = _csr(rows, cols, vals, (S * A, S), device, dtype)
        PT = _csr(cols, rows, vals, (S, S * A), device, dtype)
    return P, PT


def _csr(rows, cols, vals, shape, device, dtype) -> torch.Tensor:
    """CSR matrix from (row, col, value) triples; duplicates are summed."""
    coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, shape).coalesce()
    return coo.to_sparse_csr().to(device=device, dtype=dtype)


def _read_transitions(transitions: Any) -> tuple[np.ndarray | None, Any]:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a dependency
        sp = None
    if sp is not None and sp.issparse(transitions):
        m = transitions.tocsr().astype(np.float64)
        rows, S = m.shape
        if S == 0 or rows == 0 or rows % S != 0:
            raise MDPError(f"a sparse transition matrix must have shape (S*A, S); got {m.shape}")
        if m.nnz and (m.data.min() < 0 or not np.isfinite(m.data).all()):
            raise MDPError("transition probabilities must be finite and non-negative")
        sums = np.asarray(m.sum(axis=1)).ravel()
        bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_SUM_TOL)
        if bad.size:
            s, a = divmod(int(bad[0]), rows // S)
            raise MDPError(f"transition probabilities from (state {s}, action {a}) sum to {sums[bad[0]]:.6g}, not 1")
        return None, m
    P = np.asarray(transitions, dtype=np.float64)
    if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] == 0 or P.shape[1] == 0:
        raise MDPError(f"transitions must be a dense (S, A, S) array or a scipy.sparse (S*A, S) matrix; got shape {P.shape}")
    if not np.isfinite(P).all():
        raise MDPError("transitions contain NaN or inf")
    if (P < 0).any():
        s, a, j = np.argwhere(P < 0)[0]
        raise MDPError(f"transitions[{s}, {a}, {j}] = {P[s, a, j]} is negative")
    sums = P.sum(-1)
    bad = np.argwhere(np.abs(sums - 1.0) > _ROW_SUM_TOL)
    if bad.size:
        s, a = bad[0]
        raise MDPError(f"transition probabilities from (state {s}, action {a}) sum to {sums[s, a]:.6g}, not 1")
    return P, None


def _as_float_array(name: str, x: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape != shape:
        raise MDPError(f"{name} must have shape {shape}, got {arr.shape}")
    _check_finite(name, arr)
    return arr


def _check_finite(name: str, arr: np.ndarray) -> None:
    if not np.isfinite(arr).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise MDPError(f"{name}{list(idx)} is not finite")


def _check_distribution(name: str, rows: np.ndarray) -> None:
    if (rows < 0).any():
        raise MDPError(f"{name} has negative probabilities")
    sums = rows.sum(-1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_SUM_TOL)
    if bad.size:
        raise MDPError(f"{name} sums to {sums[bad[0]]:.6g}, not 1 (row {int(bad[0])})")
