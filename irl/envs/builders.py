"""From arrays to the padded successor layout of :class:`irl.envs.tabular.TabularMDP`, validated.

Each builder checks its input (shapes, probabilities, ranges; one :class:`MDPError` naming
the first problem) and returns the keyword arguments of ``TabularMDP(...)``: the layout
``next_states`` / ``next_probs`` ``(S, A, K)`` (see :mod:`irl.envs.tabular`), ``initial``
and the optional ``features`` / ``reward``, all as tensors of the requested dtype, plus
the scalar fields. ``TabularMDP.from_arrays`` and ``TabularMDP.from_successors`` are
these functions; this module does not know the class, so the class can call down to it.

- :func:`fields_from_arrays`: dense ``(S, A, S)`` or sparse ``(S*A, S)`` transitions,
  with optional terminal states (sent to an added absorbing state);
- :func:`fields_from_successor_lists`: per-(s, a) lists of ``(next_state, prob)``
  (what the readers of toy-text tables produce), with extra terminating mass;
- :func:`fields_from_successors`: the padded layout itself, vectorised, for large
  generated MDPs (no terminations);
- :func:`csr_operators`: the sparse operators ``P`` and ``Pᵀ`` of a layout.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

__all__ = [
    "MDPError",
    "ROW_SUM_TOL",
    "csr_operators",
    "fields_from_arrays",
    "fields_from_successor_lists",
    "fields_from_successors",
]


class MDPError(ValueError):
    """An MDP's arrays are inconsistent (shape, probabilities, ranges)."""


#: how far a row of probabilities may sum from 1 (the layout is renormalised after the check)
ROW_SUM_TOL = 1e-6


def fields_from_arrays(
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
) -> dict[str, Any]:
    """The ``TabularMDP`` fields of an MDP given as arrays.

    Args:
        transitions: dense ``(S, A, S)`` array, or a scipy.sparse matrix of shape
            ``(S*A, S)`` whose row ``s*A + a`` is ``P(. | s, a)``.
        initial: ``(S,)`` initial-state distribution.
        features: ``(S, F)`` or ``(S, A, F)``, optional.
        reward: ``(S,)``, ``(S, A)`` or ``(S, A, S)`` (reduced to its expectation
            under the transitions), optional.
        discount, horizon: see :mod:`irl.envs.tabular`.
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

    return fields_from_successor_lists(
        succ_lists, S, A, init, term, feats, r_sa, discount, horizon, grid_shape, dtype, info or {}
    )


def fields_from_successor_lists(
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
    terminating: list[float] | np.ndarray | None = None,
) -> dict[str, Any]:
    """The ``TabularMDP`` fields from per-(s, a) successor lists (row ``s*A + a``).

    ``terminating[i]`` is extra probability mass of row ``i`` that ends the
    episode (goes to the absorbing state). Entering a ``terminal_states`` state
    also ends it. ``initial`` ``(S,)``, ``features`` ``(S, F)`` or ``(S, A, F)`` and
    ``reward`` ``(S, A)`` count the env's states; the absorbing row is appended here.
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
    bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOL)
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

    return {
        "next_states": torch.as_tensor(next_states),
        "next_probs": t(next_probs),
        "initial": t(init),
        "features": t(features),
        "reward": t(reward),
        "discount": discount,
        "horizon": horizon,
        "absorbing": absorbing,
        "grid_shape": grid_shape,
        "info": info,
    }


def fields_from_successors(
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
) -> dict[str, Any]:
    """The ``TabularMDP`` fields (no terminations) of the padded layout itself, vectorised.

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

    return {
        "next_states": torch.as_tensor(ns),
        "next_probs": t(npb),
        "initial": t(initial),
        "features": t(features),
        "reward": t(reward),
        "discount": discount,
        "horizon": horizon,
        "grid_shape": grid_shape,
        "info": info or {},
    }


def csr_operators(
    next_states: torch.Tensor, next_probs: torch.Tensor, device: torch.device, dtype: torch.dtype,
    action_major: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse CSR ``P`` ``(S*A, S)`` and ``Pᵀ`` ``(S, S*A)`` of the layout ``(S, A, K)``; padding dropped.

    State-major (default): row ``s*A + a`` of ``P`` is ``P(. | s, a)``. ``action_major``: row
    ``a*S + s`` is, so ``(P @ v).view(A, S)`` holds one action's expectations per row.
    """
    S, A, K = next_states.shape
    if action_major:
        next_states, next_probs = next_states.transpose(0, 1), next_probs.transpose(0, 1)
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


# ----------------------------------------------------------------- helpers
def _csr(rows, cols, vals, shape, device, dtype) -> torch.Tensor:
    """CSR matrix from (row, col, value) triples; duplicates are summed.

    Indices are int32 when they fit: torch's CPU sparse products (MKL) take int32 and convert
    int64 indices on every call, which cost a quarter of a ``P @ v`` on a 48×48 gridworld
    (49 µs against 37 µs, one thread, measured).
    """
    coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, shape).coalesce()
    csr = coo.to_sparse_csr()
    if max(shape[0], shape[1], csr.values().numel()) < 2**31:
        csr = torch.sparse_csr_tensor(csr.crow_indices().to(torch.int32), csr.col_indices().to(torch.int32),
                                      csr.values(), shape)
    return csr.to(device=device, dtype=dtype)


def _read_transitions(transitions: Any) -> tuple[np.ndarray | None, Any]:
    """``(dense (S, A, S), None)`` or ``(None, sparse CSR (S*A, S))``, checked to be stochastic."""
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
        bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOL)
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
    bad = np.argwhere(np.abs(sums - 1.0) > ROW_SUM_TOL)
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
    bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOL)
    if bad.size:
        raise MDPError(f"{name} sums to {sums[bad[0]]:.6g}, not 1 (row {int(bad[0])})")
