"""The exact MaxEnt IRL objective and its gradient with respect to the reward table.

Maximum (causal) entropy IRL (Ziebart et al. 2008; Ziebart 2010, Ch. 9) fits a
reward r so that the soft-optimal policy (temperature 1) explains the demos. The
objective is the demos' discounted log-likelihood under that policy, per episode:

    L(r) = (1/E) Σ_i Σ_{t<L_i} γ^t log π_t(a_t^i | s_t^i)  ≤ 0

With ``log π_t(a|s) = Q_t(s, a) − V_t(s)`` and ``Q_t = r + γ P V_{t+1}`` it is the
demo reward ``Σ γ^t r(s_t, a_t)`` minus ``Σ_t γ^t m_t · V_t`` for the signed mass ``m``
of :attr:`irl.envs.demo_counts.DemoCounts.likelihood_mass` (each episode's start,
plus each realised next state minus its expectation), and its gradient is the demo
counts minus the model's visitation from that mass:

    ∂L/∂r(s, a) = counts(s, a) − D(s, a),   D = visitation(π, likelihood_mass)

(Ziebart 2008, eq. 6, with the visitation restarted from every realised state; the
backward pass is soft value iteration, the forward pass the visitation; with a finite
horizon both run lean, storing V only: :mod:`irl.solvers.messages`). Terminated,
truncated and full-length episodes all fit this form: the likelihood needs no
assumption about why an episode ended. For deterministic dynamics it is Ziebart's
start-only form exactly, and concave in r; for stochastic dynamics it is bounded
above but need not be concave.

Warm start (infinite horizon): value iteration starts from ``v_init``, e.g. the previous
iterate's :attr:`MaxEntEvaluation.warm_start`; nearby rewards have nearby values, so an
optimiser's successive evaluations need fewer backups for the same fixed point.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from irl.envs.demo_counts import DemoCounts
from irl.envs.tabular import TabularMDP
from irl.solvers import ValueResult, reward_table
from irl.solvers.messages import LeanSolution, soft_messages


@dataclass(frozen=True, eq=False)
class MaxEntEvaluation:
    """One evaluation of the objective.

    Fields:
        value: 0-d tensor, L(r) (per episode; higher is better).
        grad: ``(n_env_states, A)`` ∂L/∂r (the absorbing row is not a parameter).
        solution: the soft solution for r: a :class:`~irl.solvers.ValueResult` (infinite
            horizon) or a :class:`~irl.solvers.messages.LeanSolution` (finite horizon: V stored,
            Q and π rebuilt on first use).
        visitation: ``(S, A)`` model visitation D on the demos' footing.
    """

    value: torch.Tensor
    grad: torch.Tensor
    solution: ValueResult | LeanSolution
    visitation: torch.Tensor

    @property
    def warm_start(self) -> torch.Tensor | None:
        """``(S,)`` the values to pass as the next evaluation's ``v_init`` (infinite horizon), else None."""
        return None if isinstance(self.solution, LeanSolution) else self.solution.v


def maxent_objective(
    mdp: TabularMDP, demos: DemoCounts, reward: torch.Tensor, *, tol: float | None = None,
    v_init: torch.Tensor | None = None, fused: bool = False,
) -> MaxEntEvaluation:
    """Evaluate L(r) and ∂L/∂r for a reward table ``(n_env_states, A)`` or ``(S, A)`` (see module docstring).

    ``tol`` is the stopping tolerance of the discounted backward and forward passes
    (default: near the dtype's round-off); finite horizons are exact. ``v_init`` ``(S,)``
    warm-starts the discounted value iteration (module docstring; None with a finite
    horizon). ``fused`` compiles the finite-horizon per-step functions
    (:mod:`irl.solvers.messages`; worth it on a GPU, the plain path is the reference).
    """
    r = reward_table(mdp, reward.detach())
    demos = demos.to(r.device, r.dtype)
    mass = demos.likelihood_mass
    solution, D = soft_messages(mdp, r, initial=mass, temperature=1.0, tol=tol, v_init=v_init, fused=fused)
    data_term = (demos.weights * r[demos.states, demos.actions]).sum()
    if mass.ndim == 2:  # mass injected at step t counts γ^t in the forward pass: the same weight here
        discount = mdp.gamma ** torch.arange(mass.shape[0], dtype=mass.dtype, device=mass.device)
        weights = discount[:, None] * mass
        lean = isinstance(solution, LeanSolution)  # it sums its V's offsets apart: fewer digits lost
        value_term = solution.total_value(weights) if lean else (weights * solution.v).sum()
    else:  # (S,): the discounts are already in the mass
        value_term = (mass * solution.v).sum()
    grad = (demos.counts - D)[: mdp.n_env_states]
    return MaxEntEvaluation(data_term - value_term, grad, solution, D)


def literal_log_likelihood(solution: ValueResult | LeanSolution, demos: DemoCounts) -> torch.Tensor:
    """Literal ``(1/E) Σ_i Σ_t log π_t(a_t | s_t)`` of the demo steps, a 0-d tensor (no discounting).

    MaxEnt's log entry ``log_likelihood``; the objective is its ``γ^t``-weighted form. (The
    metric :func:`irl.metrics.demo_log_likelihood` scores any policy from the raw demos.)
    Only the demo steps are scored: a lean solution builds no ``(T, S, A)`` table for it.
    """
    steps = solution.log_policy_at(demos.states, demos.actions, demos.timesteps)
    return steps.sum() / demos.n_episodes
