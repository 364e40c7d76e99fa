"""What the feature-matching algorithms share: a linear reward ``w · φ``, its optimal policy, mixtures.

Apprenticeship learning (:mod:`irl.inverse.apprenticeship`, Abbeel & Ng 2004) and maximum
margin planning (:mod:`irl.inverse.mmp`, Ratliff et al. 2006) both learn weights ``w`` of a
reward linear in the MDP's features ``φ(s)`` ``(S, F)`` or ``φ(s, a)`` ``(S, A, F)`` and judge
a policy by its feature expectations (:func:`irl.solvers.feature_expectations`).
"""

from __future__ import annotations

import numpy as np
import torch

from irl.envs.tabular import TabularMDP
from irl.rewards import LinearReward, make_reward
from irl.solvers import hard_value_iteration, soft_value_iteration, state_visitation, visitation

__all__ = ["linear_reward", "mixture_policy", "optimal_policy", "require_features"]


def require_features(mdp: TabularMDP) -> torch.Tensor:
    """The MDP's features ``(S, F)`` or ``(S, A, F)``; ``ValueError`` if it has none (or F = 0)."""
    if mdp.features is None:
        raise ValueError(
            "feature-matching IRL needs an MDP with features (e.g. gridworld_mdp(..., features='onehot'))"
        )
    if mdp.features.shape[-1] == 0:
        raise ValueError("the MDP's features have no columns (F = 0)")
    return mdp.features


def optimal_policy(
    mdp: TabularMDP, features: torch.Tensor, w: np.ndarray, temperature: float
) -> torch.Tensor:
    """Optimal policy ``(S, A)`` or ``(T, S, A)`` of ``r = φ · w``: greedy, or soft at α = ``temperature`` > 0
    for the unit-norm ``ŵ``."""
    wt = torch.as_tensor(w, dtype=features.dtype, device=features.device)
    if temperature > 0:
        wt = wt / wt.norm().clamp_min(1e-300)
        return soft_value_iteration(mdp, features @ wt, temperature=temperature).policy
    return hard_value_iteration(mdp, features @ wt).policy


def linear_reward(mdp: TabularMDP, w: np.ndarray) -> tuple[LinearReward, np.ndarray]:
    """The ``LinearReward`` with weights ``w`` ``(F,)`` (CPU float64) and its ``(n_env_states, A)`` table."""
    cpu = mdp.to("cpu", torch.float64)
    model = make_reward("linear", cpu, dtype=torch.float64)
    with torch.no_grad():
        model.weights.copy_(torch.as_tensor(w, dtype=torch.float64))
        table = model.table(cpu).detach().clone()
    return model, table.numpy()


def mixture_policy(
    mdp: TabularMDP, policies: list[torch.Tensor], weights: np.ndarray, initial: torch.Tensor
) -> torch.Tensor:
    """One Markov policy whose visitation from ``initial`` equals the ``weights``-mixture of ``policies``.

    Abbeel & Ng 2004 act with the mixture by drawing policy ``j`` with probability ``λ_j`` once
    per episode; the policy that acts at ``(t, s)`` in proportion to the mixture's own visits,
    ``π(a | s, t) = Σ_j λ_j d_j,t(s) π_j,t(a | s) / Σ_j λ_j d_j,t(s)``, visits every
    ``(t, s, a)`` as often (the occupancy-measure argument of constrained MDPs), so it has the
    same feature expectations. Where the mixture never goes it acts as ``Σ_j λ_j π_j``.

    Args:
        policies: k policies ``(S, A)`` or ``(T, S, A)``.
        weights: ``(k,)`` on the simplex.
        initial: ``(S,)`` start distribution.
    Returns ``(T, S, A)`` with a horizon, else ``(S, A)`` (discounted occupancies).
    """
    if len(policies) != len(weights) or len(policies) == 0:
        raise ValueError(
            f"need one weight per policy; got {len(policies)} policies and {len(weights)} weights"
        )
    S, A, T = mdp.n_states, mdp.n_actions, mdp.horizon
    like = policies[0]
    visits = like.new_zeros((T, S, A) if T is not None else (S, A))
    average = torch.zeros_like(visits)
    for policy, lam in zip(policies, np.asarray(weights, dtype=np.float64)):
        if lam <= 0:
            continue
        if T is not None:
            per_step = policy.expand(T, S, A) if policy.ndim == 2 else policy
            visits += lam * state_visitation(mdp, policy, initial=initial).unsqueeze(-1) * per_step
        else:
            per_step = policy
            visits += lam * visitation(mdp, policy, initial=initial)
        average += lam * per_step
    mass = visits.sum(-1, keepdim=True)
    tiny = torch.finfo(visits.dtype).tiny / torch.finfo(visits.dtype).eps
    return torch.where(mass > tiny, visits / mass.clamp_min(tiny), average / average.sum(-1, keepdim=True))
