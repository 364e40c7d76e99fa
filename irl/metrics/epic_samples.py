"""Sample-based EPIC for continuous tasks (Gleave et al. 2021, Sec. 4 and App. A.1).

The expectations of the canonical reward (Def. 4.1) become means over ``M``
samples ``(u_j, x_j)``, ``u_j ~ D_A``, ``x_j ~ D_S``:

    m(y) ≈ (1/M) Σ_j R(y, u_j, x_j),     c ≈ (1/M) Σ_i m(x_i),
    C(R)(s, a, s') ≈ R(s, a, s') + γ m(s') - m(s) - γ c,

evaluated at ``N`` coverage transitions ``(s, a, s') ~ D``; EPIC is the Pearson
distance of ``C(R_A)`` and ``C(R_B)`` over them. A transition that terminates
has potential 0 after it (see :mod:`irl.metrics.canonical`):
``C(R)(s, a, s') ≈ R(s, a, s') - m(s) - γ c / (1 - γ)``, which needs γ < 1.
Cost: ``(2N + M) M + N`` reward evaluations per reward, in chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from irl.metrics.correlation import pearson_distance, weighted_pearson

RewardFn = Callable[[Any, Any, Any], Any]


def _rows(x: Any) -> int:
    return int(x.shape[0])


def _repeat_each(x: Any, n: int) -> Any:
    """Each row of ``x`` repeated ``n`` times in a row: ``x0 x0 x1 x1 ...``."""
    return x.repeat_interleave(n, dim=0) if isinstance(x, torch.Tensor) else np.repeat(x, n, axis=0)


def _tile(x: Any, n: int) -> Any:
    """``x`` stacked ``n`` times: ``x0 x1 ... x0 x1 ...``."""
    if isinstance(x, torch.Tensor):
        return x.repeat(n, *([1] * (x.ndim - 1)))
    return np.tile(x, (n,) + (1,) * (np.ndim(x) - 1))


def _values(fn: RewardFn, obs: Any, act: Any, next_obs: Any) -> np.ndarray:
    with torch.no_grad():
        r = fn(obs, act, next_obs)
    r = r.detach().cpu().numpy() if isinstance(r, torch.Tensor) else np.asarray(r)
    r = r.astype(np.float64).reshape(-1)
    if r.shape[0] != _rows(obs):
        raise ValueError(f"a reward function returned {r.shape[0]} values for a batch of {_rows(obs)}")
    return r


def _batched(fn: RewardFn, obs: Any, act: Any, next_obs: Any, chunk: int) -> np.ndarray:
    """``R(obs_i, act_i, next_obs_i)`` ``(N,)`` in chunks of ``chunk`` rows."""
    n = _rows(obs)
    return np.concatenate(
        [
            _values(fn, obs[i : i + chunk], act[i : i + chunk], next_obs[i : i + chunk])
            for i in range(0, n, chunk)
        ]
    )


def mean_reward_from(
    fn: RewardFn, states: Any, action_samples: Any, state_samples: Any, chunk: int
) -> np.ndarray:
    """``m(y_i) ≈ (1/M) Σ_j R(y_i, u_j, x_j)`` ``(len(states),)``, ``M`` = number of samples."""
    M = _rows(action_samples)
    per = max(1, chunk // M)
    out = []
    for i in range(0, _rows(states), per):
        ys = states[i : i + per]
        n = _rows(ys)
        r = _values(fn, _repeat_each(ys, M), _tile(action_samples, n), _tile(state_samples, n))
        out.append(r.reshape(n, M).mean(axis=1))
    return np.concatenate(out)


def canonical_rewards_samples(
    reward_fn: RewardFn,
    coverage_obs: Any,
    coverage_act: Any,
    coverage_next_obs: Any,
    state_samples: Any,
    action_samples: Any,
    gamma: float,
    terminated: np.ndarray | None = None,
    *,
    chunk_size: int = 1 << 16,
) -> tuple[np.ndarray, float]:
    """Monte-Carlo canonical reward ``(N,)`` at the coverage transitions and its scale (module docstring)."""
    N = _rows(coverage_obs)
    if _rows(coverage_act) != N or _rows(coverage_next_obs) != N:
        raise ValueError("coverage_obs, coverage_act and coverage_next_obs must have the same number of rows")
    if _rows(state_samples) != _rows(action_samples) or _rows(state_samples) == 0:
        raise ValueError("state_samples and action_samples must have the same (nonzero) number of rows")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
    term = np.zeros(N, dtype=bool) if terminated is None else np.asarray(terminated, dtype=bool).reshape(-1)
    if term.shape != (N,):
        raise ValueError(f"terminated must be ({N},), got {term.shape}")
    if term.any() and gamma >= 1.0:
        raise ValueError(
            "sample-based EPIC with terminations needs gamma < 1 (the potential after the end is 0)"
        )

    r = _batched(reward_fn, coverage_obs, coverage_act, coverage_next_obs, chunk_size)
    m_s = mean_reward_from(reward_fn, coverage_obs, action_samples, state_samples, chunk_size)
    m_next = mean_reward_from(reward_fn, coverage_next_obs, action_samples, state_samples, chunk_size)
    c = float(mean_reward_from(reward_fn, state_samples, action_samples, state_samples, chunk_size).mean())
    canon = r + gamma * m_next - m_s - gamma * c
    if term.any():
        canon[term] = (r - m_s - gamma * c / (1.0 - gamma))[term]
    offset = gamma / (1.0 - gamma) if term.any() else gamma  # the largest multiple of c used
    scale = float(np.abs(r).max() + np.abs(m_s).max() + np.abs(m_next).max() + abs(c) * offset)
    return canon, scale


def epic_distance_samples(
    reward_a_fn: RewardFn,
    reward_b_fn: RewardFn,
    coverage_obs: Any,
    coverage_act: Any,
    coverage_next_obs: Any,
    state_samples: Any,
    action_samples: Any,
    gamma: float,
    terminated: np.ndarray | None = None,
    *,
    chunk_size: int = 1 << 16,
) -> float:
    """Monte-Carlo EPIC distance in [0, 1] between two reward functions.

    Args:
        reward_a_fn, reward_b_fn: callables on batches ``(obs (B, *obs_shape),
            act (B, *act_shape), next_obs (B, *obs_shape)) -> (B,)``; they get
            numpy arrays or torch tensors, whichever the samples are.
        coverage_obs, coverage_act, coverage_next_obs: ``N`` transitions from the
            coverage distribution ``D`` (e.g. demos or rollouts), ``(N, ...)``.
        state_samples, action_samples: ``M`` samples of ``D_S`` and ``D_A``,
            ``(M, *obs_shape)`` and ``(M, *act_shape)``, paired row by row.
        gamma: the discount of the canonicalisation.
        terminated: optional ``(N,)`` bool: the coverage transition ended the
            episode (its successor has potential 0); needs gamma < 1.
        chunk_size: rows per reward call.
    Constant canonical rewards: as :func:`irl.metrics.epic_distance` (distance 0
    if both are constant, ``sqrt(1/2)`` if one is).
    """
    kw = {"terminated": terminated, "chunk_size": chunk_size}
    args = (coverage_obs, coverage_act, coverage_next_obs, state_samples, action_samples, gamma)
    ca, scale_a = canonical_rewards_samples(reward_a_fn, *args, **kw)
    cb, scale_b = canonical_rewards_samples(reward_b_fn, *args, **kw)
    w = torch.ones(ca.shape[0], dtype=torch.float64)
    rho = weighted_pearson(torch.from_numpy(ca), torch.from_numpy(cb), w, scale_x=scale_a, scale_y=scale_b)
    return pearson_distance(rho)
