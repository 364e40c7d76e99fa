"""How well a policy explains tabular demos: visitation, feature-expectation gap, log-likelihood.

Demos of a tabular task have integer observations (the environment's state
index, shape ``(N,)`` or ``(N, 1)``) and integer actions, checked by
:func:`irl.envs.demo_counts.demo_indices`.

The empirical visitation is the demos' counts of :mod:`irl.envs.demo_counts`, on the
same footing as :func:`irl.solvers.visitation` (per episode, discounted by ``γ^t``
with ``t`` = the step's index in its episode, γ = ``mdp.gamma``):

    D_demo(s, a) = (1/E) Σ_episodes Σ_t γ^t 1[s_t = s, a_t = a].

An episode that **terminated** after ``L`` steps stays in the absorbing state for
the rest of the problem, as the model does (its mass split evenly over the actions;
the absorbing state's features are 0). An episode **truncated** before the horizon
counts only its own steps: the demos do not say what came after. Episodes longer
than ``mdp.horizon`` are an error: the model has no such steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from irl.data import Demos
from irl.envs.demo_counts import demo_counts, demo_indices
from irl.envs.tabular import TabularMDP
from irl.solvers import feature_expectations, visitation


def demo_visitation(mdp: TabularMDP, demos: Demos) -> torch.Tensor:
    """Empirical (discounted) state-action visitation ``(S, A)`` per episode (module docstring).

    The counts of :func:`irl.envs.demo_counts.demo_counts` (what MaxEnt IRL matches), in ``mdp``'s
    dtype and on its device; rows include the absorbing state. For a finite horizon ``T`` each
    terminated or full-length episode has mass ``Σ_{t<T} γ^t`` (``T`` undiscounted), the same as
    ``visitation(mdp, policy)``.
    """
    return demo_counts(mdp, demos, dtype=mdp.dtype).counts.to(mdp.device)


def feature_expectation_gap(mdp: TabularMDP, demos: Demos, policy: Any) -> float:
    """``‖μ_demo − μ_π‖₂``: demo feature expectations vs ``policy``'s (``(S, A)`` or ``(T, S, A)``).

    ``μ_demo`` comes from :func:`demo_visitation`, ``μ_π`` from
    :func:`irl.solvers.visitation` (Abbeel & Ng 2004, eq. 8 / Ziebart et al. 2008, eq. 1).
    """
    if mdp.features is None:
        raise ValueError("the MDP has no features")
    policy = torch.as_tensor(policy).to(device=mdp.device, dtype=mdp.dtype)
    if policy.ndim in (2, 3) and policy.shape[-2] == mdp.n_env_states < mdp.n_states:
        uniform = policy.new_full((*policy.shape[:-2], 1, mdp.n_actions), 1.0 / mdp.n_actions)
        policy = torch.cat([policy, uniform], dim=-2)  # any policy will do in the absorbing state
    mu_demo = feature_expectations(mdp.features, demo_visitation(mdp, demos))
    mu_pi = feature_expectations(mdp.features, visitation(mdp, policy))
    return float(torch.linalg.vector_norm(mu_demo - mu_pi))


def demo_log_likelihood(mdp: TabularMDP, demos: Demos, policy: Any) -> dict[str, float]:
    """Log-likelihood of the demos' actions under ``policy``: ``Σ log π_t(a_t | s_t)``.

    Args:
        policy: ``(S, A)`` stationary, or ``(T, S, A)`` time-indexed with ``t`` =
            the step's index in its episode (``demos.timestep``); a step with
            ``t >= T`` is an error. Rows may count the environment's or all states.
    Returns ``{"total": Σ, "per_step": Σ / N}``; ``-inf`` if a demo action has
    probability 0 (e.g. under a greedy policy).
    """
    states, actions, t = demo_indices(mdp, demos)
    pi = torch.as_tensor(policy).to(device="cpu", dtype=torch.float64)
    S, A, n = mdp.n_states, mdp.n_actions, mdp.n_env_states
    if pi.ndim not in (2, 3) or pi.shape[-1] != A or pi.shape[-2] not in (n, S):
        raise ValueError(
            f"policy must be ({n}, {A}) or (T, {n}, {A}) (or with {S} rows), got {tuple(pi.shape)}"
        )
    with np.errstate(divide="ignore"):
        if pi.ndim == 2:
            p = pi[states, actions].numpy()
        else:
            if int(t.max()) >= pi.shape[0]:
                raise ValueError(
                    f"a demo step has timestep {int(t.max())}, but the policy has {pi.shape[0]} steps"
                )
            p = pi[t, states, actions].numpy()
        total = float(np.log(p).sum())
    return {"total": total, "per_step": total / len(states)}
