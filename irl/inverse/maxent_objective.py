"""The exact MaxEnt IRL objective and its gradient with respect to the reward table.

Maximum (causal) entropy IRL (Ziebart et al. 2008; Ziebart 2010, Ch. 9) fits a
reward r so that the soft-optimal policy (temperature 1) explains the demos.
With E demo episodes τ_i of L_i steps, the objective is

    L(r) = (1/E) Σ_i [ Σ_{t<L_i} γ^t r(s_t, a_t) − V_0(s_0^i) + γ^{L_i} V_{L_i}(s_{L_i}^i) ]

(the last term only for episodes truncated before the horizon). For deterministic
dynamics L is exactly the demo log-likelihood Σ log π_t(a_t | s_t); for stochastic
dynamics it is that log-likelihood with the dynamics' own noise averaged out.
Its gradient is the demo counts minus the model's visitation from the demos'
own start states:

    ∂L/∂r(s, a) = counts(s, a) − D(s, a),   D = visitation(π, start_mass)

(Ziebart 2008, eq. 6; the backward pass is soft value iteration, the forward
pass the visitation; see :mod:`irl.envs.demo_counts` for the footing).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from irl.envs.demo_counts import DemoCounts
from irl.envs.tabular import TabularMDP
from irl.solvers import ValueResult, reward_table, soft_value_iteration, visitation


@dataclass(frozen=True, eq=False)
class MaxEntEvaluation:
    """One evaluation of the objective.

    Fields:
        value: 0-d tensor, L(r) (per episode; higher is better).
        grad: ``(n_env_states, A)`` ∂L/∂r (the absorbing row is not a parameter).
        solution: the soft value iteration result for r.
        visitation: ``(S, A)`` model visitation D on the demos' footing.
    """

    value: torch.Tensor
    grad: torch.Tensor
    solution: ValueResult
    visitation: torch.Tensor


def maxent_objective(
    mdp: TabularMDP, demos: DemoCounts, reward: torch.Tensor, *, tol: float | None = None
) -> MaxEntEvaluation:
    """Evaluate L(r) and ∂L/∂r for a reward table ``(n_env_states, A)`` or ``(S, A)`` (see module docstring).

    ``tol`` is the stopping tolerance of the discounted backward and forward passes
    (default: near the dtype's round-off); finite horizons are exact.
    """
    r = reward_table(mdp, reward.detach())
    demos = demos.to(r.device, r.dtype)
    solution = soft_value_iteration(mdp, r, temperature=1.0, tol=tol)
    D = visitation(mdp, solution.policy, initial=demos.start_mass, tol=tol)
    data_term = (demos.weights * r[demos.states, demos.actions]).sum()
    value_term = (demos.start_mass * solution.v).sum()  # (T, S) · (T, S), or (S,) · (S,)
    grad = (demos.counts - D)[: mdp.n_env_states]
    return MaxEntEvaluation(data_term - value_term, grad, solution, D)


def demo_log_likelihood(solution: ValueResult, demos: DemoCounts) -> torch.Tensor:
    """Literal ``(1/E) Σ_i Σ_t log π_t(a_t | s_t)`` of the demo steps, a 0-d tensor (no discounting)."""
    logp = solution.log_policy
    if logp.ndim == 3:
        steps = logp[demos.timesteps, demos.states, demos.actions]
    else:
        steps = logp[demos.states, demos.actions]
    return steps.sum() / demos.n_episodes
