"""The math of IQ-Learn, as pure functions of tensors.

[G] Garg, Chakraborty, Cundy, Song, Ermon 2021, "IQ-Learn: Inverse soft-Q Learning for Imitation",
    NeurIPS. Sec. 4: the objective over Q alone; sec. 5.1: its practical "value" form; the χ²
    divergence's φ.

A soft Q-function at temperature α fixes a policy ``π(a|s) = exp((Q(s,a) − V(s))/α)`` and, through the
inverse soft Bellman operator, a reward ``r(s, a) = Q(s, a) − γ E_{s'}[V(s')]``. IQ-Learn maximises

    J(Q) = E_demo[φ(r(s, a, s'))] − E_ρ[V(s) − γ V(s')],        φ(x) = x − x² / (4c)   (χ²)

where ``E_ρ[V(s) − γ V(s')]`` over the transitions of any policy telescopes to ``[G]``'s
``(1 − γ) E_{s0}[V(s0)]``; :func:`iq_loss` is ``−J``. After a termination ``V(s') = 0`` (the episode's
absorbing state is worth nothing); a time limit is no termination, so a truncated step bootstraps.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from irl.solvers.soft_bellman import soft_target

__all__ = ["IQLoss", "inverse_soft_bellman", "iq_loss", "value_gap"]


def inverse_soft_bellman(q: torch.Tensor, next_value: torch.Tensor, terminated: torch.Tensor,
                         gamma: float) -> torch.Tensor:
    """Returns the rewards ``r = Q(s, a) − γ (1 − terminated) V(s')`` ([G] sec. 3, the inverse soft Bellman
    operator on one sampled successor), shape of ``q``.

    ``q`` ``(..., N)`` (e.g. ``(K, N)`` for K critics); ``next_value`` and ``terminated`` (0/1 or bool) ``(N,)``.
    """
    _check_batch(q, next_value, terminated)
    bootstrap = soft_target(torch.zeros_like(next_value), next_value, terminated, gamma)  # γ (1 − t) V(s')
    return q - bootstrap


def value_gap(value: torch.Tensor, next_value: torch.Tensor, terminated: torch.Tensor, gamma: float) -> torch.Tensor:
    """Returns ``(N,)`` ``V(s) − γ (1 − terminated) V(s')``, whose mean over a policy's transitions is
    ``(1 − γ) E_{s0}[V(s0)]`` ([G] sec. 5.1). All inputs ``(N,)``."""
    if value.ndim != 1:
        raise ValueError(f"value must be (N,), got {tuple(value.shape)}")
    _check_batch(value, next_value, terminated)
    return value - soft_target(torch.zeros_like(next_value), next_value, terminated, gamma)


class IQLoss(NamedTuple):
    """:func:`iq_loss` and its three terms (scalars; ``total = −demo_reward + value + chi2``)."""

    total: torch.Tensor
    demo_reward: torch.Tensor
    """``E_demo[r]``, the linear part of ``E_demo[φ(r)]``."""
    value: torch.Tensor
    """``E_ρ[V(s) − γ V(s')]``."""
    chi2: torch.Tensor
    """``E_reg[r²] / (4c)``, the χ² part of ``−E[φ(r)]`` (0 without a regulariser)."""


def iq_loss(demo_reward: torch.Tensor, gap: torch.Tensor, regulariser_reward: torch.Tensor,
            chi2_weight: float | None) -> IQLoss:
    """Returns ``−J(Q) = −E_demo[r] + E_ρ[V(s) − γ V(s')] + E_reg[r²] / (4c)``, to minimise ([G] sec. 4–5.1).

    Args:
        demo_reward: ``(..., N)`` :func:`inverse_soft_bellman` rewards of demo transitions (a leading
            critic axis averages the critics' losses).
        gap: ``(M,)`` :func:`value_gap` of the transitions of ρ (demos offline; demos and the policy's
            replay online).
        regulariser_reward: ``(..., R)`` the rewards the χ² term averages over: the demo rewards again gives
            exactly ``−E_demo[φ(r)]`` with ``φ(x) = x − x²/(4c)``; demos and policy samples together is the
            authors' online choice.
        chi2_weight: ``c > 0``; None drops the regulariser (``φ(x) = x``).

    The term ``E_demo[r]`` is linear in Q, so without a regulariser the objective is unbounded wherever
    nothing else pins Q down; ``c`` bounds it (small ``c``: rewards near 0, large ``c``: weak pull).
    """
    if chi2_weight is not None and not chi2_weight > 0:
        raise ValueError(f"chi2_weight must be > 0 (None: no regulariser), got {chi2_weight}")
    if gap.ndim != 1 or demo_reward.ndim < 1 or regulariser_reward.ndim < 1:
        raise ValueError(f"need demo_reward (..., N), gap (M,), regulariser_reward (..., R); got "
                         f"{tuple(demo_reward.shape)}, {tuple(gap.shape)}, {tuple(regulariser_reward.shape)}")
    reward_term = demo_reward.mean()
    value_term = gap.mean()
    if chi2_weight is None:
        chi2 = torch.zeros((), dtype=reward_term.dtype, device=reward_term.device)
    else:
        chi2 = regulariser_reward.square().mean() / (4.0 * chi2_weight)
    return IQLoss(value_term - reward_term + chi2, reward_term, value_term, chi2)


def _check_batch(x: torch.Tensor, next_value: torch.Tensor, terminated: torch.Tensor) -> None:
    n = next_value.shape[0] if next_value.ndim == 1 else -1
    if next_value.ndim != 1 or terminated.shape != (n,) or x.ndim < 1 or x.shape[-1] != n:
        raise ValueError(f"need x (..., N) with next_value and terminated (N,); got {tuple(x.shape)}, "
                         f"{tuple(next_value.shape)}, {tuple(terminated.shape)}")
