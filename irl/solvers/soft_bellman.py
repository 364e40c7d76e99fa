"""The soft Bellman backup, once: soft values, soft-optimal policies and soft targets.

Control as inference (Levine 2018, eqs. 7-9) at temperature α:

    V(s)    = α log Σ_a exp(Q(s, a) / α)
    π(a|s)  = exp((Q(s, a) − V(s)) / α)
    y       = r + γ (1 − terminated) V(s')

α = 0 is the hard limit: ``V = max_a Q`` (and a greedy policy). Every solver that backs up
a soft value uses these functions: exact value iteration, soft Q-learning (tabular and
deep) and discrete SAC (whose value also subtracts the entropy of its own policy, see
:func:`policy_soft_value`). Shapes: ``(..., A)`` action-values, ``(...)`` values.
"""

from __future__ import annotations

import math

import torch

__all__ = ["log_soft_policy", "policy_soft_value", "soft_backup", "soft_policy", "soft_target", "soft_value",
           "soft_value_of_row"]


def _check(q: torch.Tensor, temperature: float) -> None:
    if q.ndim < 1:
        raise ValueError(f"q must have an action axis, got shape {tuple(q.shape)}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")


def soft_value(q: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``V = α logsumexp(Q/α)`` over the last axis, ``(..., A) -> (...)``; ``max Q`` at α = 0."""
    _check(q, temperature)
    if temperature == 0:
        return q.amax(dim=-1)
    if temperature == 1.0:
        return torch.logsumexp(q, dim=-1)
    return temperature * torch.logsumexp(q / temperature, dim=-1)


def soft_policy(q: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``π = softmax(Q/α)`` over the last axis, ``(..., A)``; α > 0."""
    if not temperature > 0:
        raise ValueError(f"a soft policy needs temperature > 0, got {temperature}")
    return torch.softmax(q if temperature == 1.0 else q / temperature, dim=-1)


def log_soft_policy(q: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``log π = (Q − V)/α`` over the last axis, ``(..., A)``; α > 0."""
    if not temperature > 0:
        raise ValueError(f"a soft policy needs temperature > 0, got {temperature}")
    return torch.log_softmax(q if temperature == 1.0 else q / temperature, dim=-1)


def soft_backup(q: torch.Tensor, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(V, π)`` from one exp pass: ``(..., A) -> (...), (..., A)``; α > 0."""
    if not temperature > 0:
        raise ValueError(f"a soft backup needs temperature > 0, got {temperature}")
    m = q.amax(dim=-1, keepdim=True)
    e = torch.exp((q - m) / temperature)
    z = e.sum(dim=-1, keepdim=True)
    return m.squeeze(-1) + temperature * torch.log(z.squeeze(-1)), e / z


def policy_soft_value(q: torch.Tensor, probs: torch.Tensor, log_probs: torch.Tensor,
                      alpha: torch.Tensor | float) -> torch.Tensor:
    """``V = Σ_a π(a|s) (Q(s, a) − α log π(a|s))``, the soft value of a given policy ``π``.

    Equals :func:`soft_value` when ``π`` is the soft-optimal policy of ``q``. ``q``,
    ``probs`` and ``log_probs`` ``(..., A)`` -> ``(...)``.
    """
    if not q.shape == probs.shape == log_probs.shape:
        raise ValueError(f"q, probs and log_probs must share a shape, got {tuple(q.shape)}, "
                         f"{tuple(probs.shape)}, {tuple(log_probs.shape)}")
    return (probs * torch.addcmul(q, torch.as_tensor(alpha, dtype=q.dtype), log_probs, value=-1.0)).sum(-1)


def soft_target(reward: torch.Tensor, next_value: torch.Tensor, terminated: torch.Tensor,
                gamma: float) -> torch.Tensor:
    """``y = r + γ (1 − terminated) V(s')``, ``(N,)``: no bootstrap through a termination (a time
    limit is not one: a truncated step bootstraps)."""
    n = reward.shape[0]
    if reward.shape != (n,) or next_value.shape != (n,) or terminated.shape != (n,):
        raise ValueError(f"expected reward, next_value, terminated (N,); got {tuple(reward.shape)}, "
                         f"{tuple(next_value.shape)}, {tuple(terminated.shape)}")
    live = torch.rsub(terminated.to(next_value.dtype), 1.0)
    return torch.addcmul(reward.to(next_value.dtype), live, next_value, value=gamma)


def soft_value_of_row(row: list[float], temperature: float) -> float:
    """:func:`soft_value` of one row given as a list of floats, in plain Python (a tabular learner's
    inner loop, where a torch call per step costs more than the sum)."""
    m = max(row)
    if temperature == 0:
        return m
    return m + temperature * math.log(sum(math.exp((x - m) / temperature) for x in row))
