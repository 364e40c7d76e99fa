"""Reward tables, sampling distributions and coverage for the tabular metrics.

Every metric works in float64 on the MDP's device, over all ``S`` states (the
absorbing state, if any, included as the last row), whatever the caller passed:

- a reward ``(S,)`` (state reward), ``(S, A)``, or ``(S, A, S)`` (dense, for small
  MDPs); rows may count the environment's states (``n_env_states``) or all
  states. A dense reward needs all ``S`` columns, since ``R(s, a, absorbing)`` is
  the reward of a terminating transition. The absorbing row is always 0.
- a state distribution over the environment's states (never the absorbing one),
  an action distribution, and a coverage distribution over transitions
  ``(s, a, s')``, given as a flat list of weighted triples.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from irl.envs.tabular import TabularMDP
from irl.solvers import reward_table


def as_float64(x: Any, device: torch.device) -> torch.Tensor:
    """``x`` (numpy, torch, list) as a float64 tensor on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else torch.as_tensor(x)
    return t.detach().to(device=device, dtype=torch.float64)


def transition_rewards(mdp: TabularMDP, reward: Any) -> torch.Tensor:
    """The reward as ``(S, A)`` or ``(S, A, S)`` float64 over all states, absorbing row 0.

    ``(S,)`` becomes ``(S, A)`` (repeated over actions); ``(S, A)`` means
    ``R(s, a, s') = R(s, a)`` for every ``s'``.
    """
    r = as_float64(reward, mdp.device)
    if r.ndim in (1, 2):
        return reward_table(mdp, r)
    S, A, n = mdp.n_states, mdp.n_actions, mdp.n_env_states
    if r.ndim != 3 or r.shape[1] != A or r.shape[2] != S or r.shape[0] not in (n, S):
        hint = (
            f"; the last axis must include the absorbing state ({S} columns): "
            "R(s, a, absorbing) is the reward of a terminating transition"
            if mdp.absorbing is not None
            else ""
        )
        raise ValueError(
            f"reward must be ({n},), ({n}, {A}) or ({n}, {A}, {S}) (or with {S} rows); "
            f"got {tuple(r.shape)}{hint}"
        )
    if r.shape[0] == n and mdp.absorbing is not None:
        return torch.cat([r, r.new_zeros(1, A, S)], dim=0)
    r = r.clone()
    if mdp.absorbing is not None:
        r[mdp.absorbing] = 0.0
    return r


def expected_reward(mdp: TabularMDP, reward: Any) -> torch.Tensor:
    """``r(s, a) = Σ_s' P(s'|s, a) R(s, a, s')`` ``(S, A)`` float64: what the solvers take."""
    r = transition_rewards(mdp, reward)
    if r.ndim == 2:
        return r
    probs = mdp.next_probs.to(torch.float64)
    return (probs * r.gather(2, mdp.next_states)).sum(-1)


def _distribution(name: str, x: Any, size: int, device: torch.device) -> torch.Tensor:
    d = as_float64(x, device)
    if d.shape != (size,) or not torch.isfinite(d).all() or (d < 0).any() or d.sum() <= 0:
        raise ValueError(
            f"{name} must be {size} finite non-negative weights, not all 0; got shape {tuple(d.shape)}"
        )
    return d / d.sum()


def state_distribution(mdp: TabularMDP, state_dist: Any = None) -> torch.Tensor:
    """``D_S`` ``(S,)``: uniform over the environment's states by default, 0 on the absorbing state.

    ``state_dist`` may have ``n_env_states`` or ``S`` entries (then 0 at the
    absorbing state); it is normalised to sum to 1.
    """
    n, S = mdp.n_env_states, mdp.n_states
    if state_dist is None:
        d = torch.full((n,), 1.0 / n, dtype=torch.float64, device=mdp.device)
    else:
        d = as_float64(state_dist, mdp.device)
        size = S if tuple(d.shape) == (S,) else n
        d = _distribution("state_dist", d, size, mdp.device)
        if size == S and mdp.absorbing is not None:
            if d[mdp.absorbing] != 0:
                raise ValueError("state_dist must put no weight on the absorbing state")
            d = d[:n]
    return mdp.pad_states(d)


def action_distribution(mdp: TabularMDP, action_dist: Any = None) -> torch.Tensor:
    """``D_A`` ``(A,)``: uniform by default, else ``action_dist`` normalised."""
    A = mdp.n_actions
    if action_dist is None:
        return torch.full((A,), 1.0 / A, dtype=torch.float64, device=mdp.device)
    return _distribution("action_dist", action_dist, A, mdp.device)


class Coverage(NamedTuple):
    """Weighted transitions ``(s_i, a_i, s'_i, w_i)``, each ``(M,)``; ``w`` sums to 1, all ``w > 0``."""

    s: torch.Tensor
    a: torch.Tensor
    s_next: torch.Tensor
    w: torch.Tensor


def coverage_triples(
    mdp: TabularMDP, coverage: Any = None, state_dist: Any = None, action_dist: Any = None
) -> Coverage:
    """The coverage distribution over transitions as weighted triples.

    ``coverage``:
        None: ``s ~ D_S``, ``a ~ D_A`` (the canonicalisation's distributions,
            uniform by default), ``s' ~ P(.|s, a)``.
        ``(S, A)`` weights (``n_env_states`` or ``S`` rows, the absorbing row 0): ``(s, a)`` drawn with
            these weights, ``s' ~ P(.|s, a)`` exactly (from the successor slots).
        ``(S, A, S)`` weights (``n_env_states`` or ``S`` rows, the absorbing row 0;
            ``S`` columns): ``(s, a, s')`` drawn with these weights, whatever the dynamics.
    Weights are normalised to sum to 1; zero-weight transitions are dropped.
    """
    S, A, n = mdp.n_states, mdp.n_actions, mdp.n_env_states
    dev = mdp.device
    if coverage is None:
        sa = state_distribution(mdp, state_dist)[:, None] * action_distribution(mdp, action_dist)[None, :]
    else:
        cov = as_float64(coverage, dev)
        if cov.ndim not in (2, 3) or cov.shape[0] not in (n, S) or cov.shape[1] != A or (
            cov.ndim == 3 and cov.shape[2] != S
        ):
            raise ValueError(
                f"coverage must be ({n}, {A}) or ({n}, {A}, {S}) (or with {S} rows); got {tuple(cov.shape)}"
            )
        if not torch.isfinite(cov).all() or (cov < 0).any() or cov.sum() <= 0:
            raise ValueError("coverage must hold finite non-negative weights, not all 0")
        if cov.shape[0] == S and mdp.absorbing is not None and (cov[mdp.absorbing] != 0).any():
            raise ValueError(
                "coverage must put no weight on transitions from the absorbing state (the episode is over)"
            )
        if cov.ndim == 3:
            if cov.shape[0] == n:
                cov = torch.cat([cov, cov.new_zeros(S - n, A, S)], dim=0)
            s, a, s_next = torch.nonzero(cov, as_tuple=True)
            w = cov[s, a, s_next]
            return Coverage(s, a, s_next, w / w.sum())
        sa = mdp.pad_states(cov)
    K = mdp.n_successors
    w = (sa[:, :, None] * mdp.next_probs.to(torch.float64)).reshape(-1)
    s = torch.arange(S, device=dev).repeat_interleave(A * K)
    a = torch.arange(A, device=dev).repeat_interleave(K).repeat(S)
    s_next = mdp.next_states.reshape(-1)
    keep = w > 0
    w = w[keep]
    return Coverage(s[keep], a[keep], s_next[keep], w / w.sum())

