"""EPIC distance and correlations of canonical rewards, exact on tabular MDPs.

EPIC (Gleave, Dennis, Legg, Russell & Leike 2021, "Quantifying Differences in
Reward Functions", ICLR, Def. 4.2) is the Pearson distance between the
canonically shaped rewards (Def. 4.1, see :mod:`irl.metrics.canonical`) under a
coverage distribution ``D`` over transitions ``(s, a, s')``:

    D_EPIC(R_A, R_B) = sqrt((1 - ρ(C(R_A), C(R_B))) / 2),   ρ: Pearson under D.

It is 0 for rewards that differ by positive scaling and potential shaping, 1 for
a negated reward, and a pseudometric (symmetric, triangle inequality).

Arguments shared by the functions here:
    mdp: the model; γ = ``mdp.gamma``.
    reward_a, reward_b: ``(S,)``, ``(S, A)`` or dense ``(S, A, S)``, numpy or torch,
        rows = the environment's states or all states (see :mod:`irl.metrics.tables`).
    state_dist: ``D_S`` of the canonicalisation, ``(n_env_states,)`` weights;
        default uniform over the environment's states (never the absorbing one).
    action_dist: ``D_A`` ``(A,)``; default uniform.
    coverage: the distribution ``D`` the correlation is taken under: None
        (``s ~ D_S``, ``a ~ D_A``, ``s' ~ P(.|s, a)``), ``(S, A)`` weights
        (``s' ~ P(.|s, a)``) or ``(S, A, S)`` weights; see
        :func:`irl.metrics.tables.coverage_triples`.

If a canonical reward is constant under the coverage, Pearson's ρ is 0/0; the
convention (see :mod:`irl.metrics.correlation`) is ρ = 1 if both are constant
(distance 0) and ρ = 0 if only one is (distance ``sqrt(1/2) ≈ 0.707``).
"""

from __future__ import annotations

from typing import Any

import torch

from irl.envs.tabular import TabularMDP
from irl.metrics.canonical import canonical_potential, canonical_reward_at
from irl.metrics.correlation import pearson_distance, weighted_pearson, weighted_spearman
from irl.metrics.tables import action_distribution, coverage_triples, state_distribution, transition_rewards


def canonical_rewards(
    mdp: TabularMDP,
    reward: Any,
    *,
    coverage: Any = None,
    state_dist: Any = None,
    action_dist: Any = None,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The canonical reward on the coverage's transitions.

    Returns ``C(R)`` ``(M,)`` float64 at the coverage's support, its weights
    ``(M,)`` (summing to 1), and the magnitude of the numbers ``C(R)`` was made of
    (to tell a constant canonical reward from round-off).
    """
    d_s = state_distribution(mdp, state_dist)
    d_a = action_distribution(mdp, action_dist)
    cov = coverage_triples(mdp, coverage, state_dist, action_dist)
    r = transition_rewards(mdp, reward)
    psi, k = canonical_potential(r, d_s, d_a, mdp.gamma, mdp.absorbing)
    c = canonical_reward_at(r, psi, k, mdp.gamma, cov.s, cov.a, cov.s_next)
    raw = r[cov.s, cov.a] if r.ndim == 2 else r[cov.s, cov.a, cov.s_next]
    scale = float(raw.abs().max()) + float(psi.abs().max()) + abs(k)
    return c, cov.w, scale


def _both(mdp, reward_a, reward_b, coverage, state_dist, action_dist):
    kw = {"coverage": coverage, "state_dist": state_dist, "action_dist": action_dist}
    ca, w, scale_a = canonical_rewards(mdp, reward_a, **kw)
    cb, _, scale_b = canonical_rewards(mdp, reward_b, **kw)
    return ca, cb, w, scale_a, scale_b


def epic_distance(
    mdp: TabularMDP,
    reward_a: Any,
    reward_b: Any,
    *,
    coverage: Any = None,
    state_dist: Any = None,
    action_dist: Any = None,
) -> float:
    """Exact EPIC distance in [0, 1] between two rewards on ``mdp`` (arguments: module docstring)."""
    ca, cb, w, sa, sb = _both(mdp, reward_a, reward_b, coverage, state_dist, action_dist)
    return pearson_distance(weighted_pearson(ca, cb, w, scale_x=sa, scale_y=sb))


def reward_correlations(
    mdp: TabularMDP,
    reward_a: Any,
    reward_b: Any,
    *,
    coverage: Any = None,
    state_dist: Any = None,
    action_dist: Any = None,
) -> dict[str, float]:
    """Pearson and Spearman correlation of the canonical rewards under the coverage.

    Returns ``{"pearson": ρ, "spearman": ρ_s}``. Pearson is weighted by the
    coverage exactly (``1 - 2 EPIC²``). Spearman is the population rank
    correlation of the coverage distribution: Pearson's ρ of the weighted
    mid-ranks (the coverage mass strictly below a value plus half the mass tied
    with it), also weighted by the coverage. Canonicalising first makes both
    ignore potential shaping; constant canonical rewards follow the module's
    convention (1 if both, 0 if one).
    """
    ca, cb, w, sa, sb = _both(mdp, reward_a, reward_b, coverage, state_dist, action_dist)
    return {
        "pearson": weighted_pearson(ca, cb, w, scale_x=sa, scale_y=sb),
        "spearman": weighted_spearman(ca, cb, w, scale_x=sa, scale_y=sb),
    }
