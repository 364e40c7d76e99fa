"""Canonically shaped rewards (Gleave, Dennis, Legg, Russell & Leike 2021, Def. 4.1).

Gleave et al. canonicalise a reward with states ``S, S' ~ D_S`` and actions ``A ~ D_A``:

    C(R)(s, a, s') = R(s, a, s') + E[γ R(s', A, S') - R(s, A, S') - γ R(S, A, S')]
                   = R(s, a, s') + γ m(s') - m(s) - γ c,

with ``m(x) = E[R(x, A, S')]`` and ``c = E[m(S)]``. ``C(R)`` is the same for all
rewards that differ by potential shaping ``γ Φ(s') - Φ(s)`` (and, up to a
constant, by a constant), so a distance between canonical rewards is a distance
between equivalence classes.

Terminations
------------
An episode that terminates enters the absorbing state, whose reward is 0 and
whose potential must be 0 (shaping may not pay out after the end; Ng, Harada &
Russell 1999). For γ < 1, Def. 4.1 is potential shaping of ``R`` by

    Ψ(x) = m(x) + γ c / (1 - γ)          (γ Ψ(s') - Ψ(s) = γ m(s') - m(s) - γ c),

so we use exactly that on the environment's states and ``Ψ(absorbing) = 0``:
``C(R)(s, a, s') = R(s, a, s') + γ Ψ(s') - Ψ(s)``. This is Def. 4.1 verbatim on
transitions that do not terminate and stays invariant to every shaping with
``Φ(absorbing) = 0`` (dropping only the ``γ m(s')`` term at termination would not
be: it shifts terminating transitions by ``γ² E[Φ(S)]``).

For γ = 1 (undiscounted finite horizons) ``γ c / (1 - γ)`` is undefined; the
shaping-invariant offset is then ``t = E[R(S, A, absorbing)]`` (the reward for
terminating from ``S ~ D_S``, which shaping shifts by ``-E[Φ(S)]``): ``Ψ = m + t``.
With γ = 1 and no absorbing state, Def. 4.1 is used verbatim.
"""

from __future__ import annotations

import torch


def canonical_potential(
    reward: torch.Tensor,
    state_dist: torch.Tensor,
    action_dist: torch.Tensor,
    gamma: float,
    absorbing: int | None,
) -> tuple[torch.Tensor, float]:
    """The potential ``Ψ`` ``(S,)`` and constant ``k`` of the canonical reward ``R + γ Ψ(s') - Ψ(s) + k``.

    Args:
        reward: ``(S, A)`` or ``(S, A, S)`` over all states; the absorbing row is 0.
        state_dist: ``D_S`` ``(S,)``, 0 at the absorbing state.
        action_dist: ``D_A`` ``(A,)``.
        gamma: discount in [0, 1].
        absorbing: index of the absorbing state, or None.
    Returns ``Ψ`` (0 at the absorbing state) and ``k`` (nonzero only for γ = 1
    without an absorbing state, where it is Def. 4.1's ``-c``).
    """
    S = state_dist.shape[0]
    if reward.shape[0] != S or action_dist.shape[0] != reward.shape[1] or reward.ndim not in (2, 3):
        raise ValueError(
            f"reward must be (S, A) or (S, A, S) with S = {S}, A = {action_dist.shape[0]}; "
            f"got {tuple(reward.shape)}"
        )
    if reward.ndim == 2:
        m = reward @ action_dist  # E_{S'} of a reward that ignores s' is the reward itself
    else:
        m = torch.einsum("xas,a,s->x", reward, action_dist, state_dist)
    c = float(state_dist @ m)
    k = 0.0
    if gamma < 1.0:
        psi = m + gamma * c / (1.0 - gamma)
    elif absorbing is not None:
        r_end = reward[:, :, absorbing] if reward.ndim == 3 else reward
        psi = m + float(state_dist @ (r_end @ action_dist))
    else:
        psi, k = m, -c
    if absorbing is not None:
        psi = psi.clone()
        psi[absorbing] = 0.0
    return psi, k


def canonical_reward_at(
    reward: torch.Tensor,
    psi: torch.Tensor,
    k: float,
    gamma: float,
    s: torch.Tensor,
    a: torch.Tensor,
    s_next: torch.Tensor,
) -> torch.Tensor:
    """``C(R)(s_i, a_i, s'_i) = R(s_i, a_i, s'_i) + γ Ψ(s'_i) - Ψ(s_i) + k`` ``(M,)`` at triples ``(M,)``."""
    r = reward[s, a] if reward.ndim == 2 else reward[s, a, s_next]
    return r + gamma * psi[s_next] - psi[s] + k
