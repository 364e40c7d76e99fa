"""Maximum margin planning (Ratliff, Bagnell & Zinkevich 2006), exact on tabular MDPs.

Ratliff, Bagnell & Zinkevich, "Maximum Margin Planning", ICML 2006, Sec. 2-3. With a
linear reward ``w · f(s, a)``, a loss ``l(s, a)`` and the demos' visitation ``μ_D``,
MMP minimises the regularised structured hinge loss

    c(w) = λ/2 ‖w‖² + max_μ (Fᵀw + l)ᵀμ − (Fᵀw + l)ᵀμ_D                     (Sec. 3)

over the visitations ``μ`` of all policies: the demonstration must beat every other
behaviour by at least that behaviour's extra loss. The max is *loss-augmented
planning*: hard value iteration on the reward ``Fᵀw + l``, then the visitation of
its greedy policy. A subgradient is ``λw + F(μ* − μ_D)`` (Sec. 3, Algorithm 1);
we take projected subgradient steps with step ``step_size / √k`` onto the ball
``‖w‖ ≤ ‖g₀‖ / λ`` (``g₀`` the subgradient at ``w = 0``), which holds the minimiser
because ``c`` is λ-strongly convex, and keep the best iterate (subgradient steps
are not monotone).

The demos enter as one example: their ``γ^t``-weighted per-episode counts
(:mod:`irl.envs.demo_counts`; the ``(1/n) Σ`` over demos is that average), the
loss ``l(s, a) = margin · (1 − p̂(a | s))`` with ``p̂`` the demos' action frequencies
at ``s`` (1 at states the demos never visit: leaving their path costs a full
margin per step; 0 on the demos' action when they agree), and the plans start
from the demos' own start mass. For a demo episode truncated after ``L < T`` steps
that mass counts the plan's first ``L`` steps only; the plan is optimal for all ``T``
steps, which over the first ``L`` is feasible but not always best, so ``ξ`` is then a
lower bound.

``slacks`` holds the structured slack ``ξ(w) = max_μ (Fᵀw + l)ᵀμ − (Fᵀw + l)ᵀμ_D``
per iteration: 0 when the demonstrated behaviour is optimal for ``Fᵀw + l``, i.e.
beats every alternative by at least its loss. With state features ``f(s)`` no ``w``
can separate actions of the same effect (a move into a wall and "stay"), nor the
last action of a finite horizon, so ``ξ`` cannot fall below their loss; state-action
features ``f(s, a)`` make every action count.

A fit can resume from a :class:`irl.checkpoint.Checkpoint` (one iteration: one subgradient step).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from irl.checkpoint import Checkpoint
from irl.data import Demos
from irl.envs.demo_counts import DemoCounts
from irl.envs.tabular import TabularMDP
from irl.inverse.common import DTYPES, TabularResult, check_finite, working_copies
from irl.inverse.feature_matching import linear_reward, optimal_policy, require_features
from irl.solvers import feature_expectations, hard_value_iteration, reward_table, visitation
from irl.solvers.tabular_common import cpu_threads_for


@dataclass(frozen=True)
class MMPConfig:
    """Settings of maximum margin planning; the CLI builds one from its flags."""

    l2: float = 0.01
    """λ of the regulariser ``λ/2 ‖w‖²``."""
    margin: float = 1.0
    """Loss of taking an action the demos do not take (scales ``l(s, a)``)."""
    step_size: float = 0.1
    """Subgradient step at iteration k (1-based) is ``step_size / √k``."""
    max_iters: int = 300
    """Cap on subgradient iterations (one loss-augmented plan each)."""
    tol: float = 1e-6
    """Stop when the best objective improved by less than ``tol`` (relative) over ``patience`` iterations."""
    patience: int = 50
    """Iterations without improvement before stopping (see ``tol``)."""
    seed: int = 0
    """Accepted so every algorithm takes a seed; MMP is deterministic (it starts at ``w = 0``)."""
    dtype: str = "float64"
    """Precision of the value iteration and visitation passes: "float64" or "float32"."""
    device: str = "cpu"
    """Device of those passes: "cpu" or "cuda"."""

    def __post_init__(self) -> None:
        if not self.l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {self.l2}")
        if not self.margin >= 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")
        if not self.step_size > 0:
            raise ValueError(f"step_size must be > 0, got {self.step_size}")
        if self.max_iters < 1:
            raise ValueError(f"max_iters must be >= 1, got {self.max_iters}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol}")
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}")


@dataclass
class MMPResult(TabularResult):
    """What a fit returns (K iterations, F features).

    Fields:
        reward_model: the learned ``LinearReward`` with weights ``w`` (CPU, float64).
        reward_table: ``(n_env_states, A)`` numpy learned reward ``f · w``.
        policy: greedy optimal policy of the learned reward (no loss), ``(S, A)`` or ``(T, S, A)``.
        log: one dict per iteration: ``iteration``, ``objective``, ``slack``, ``grad_norm``, ``step``,
            ``feature_gap`` (``‖F(μ* − μ_D)‖``).
        converged: whether the objective stopped improving (``tol``, ``patience``) before ``max_iters``.
        iterations: K.
        seconds: wall time of the fit.
        config: the settings used.
        w: ``(F,)`` the best iterate (lowest objective).
        weights: ``(K, F)`` the iterate ``w_k`` evaluated at each iteration.
        slacks: the structured slack ``ξ(w_k)`` per iteration (module docstring); 0 when the demos
            beat every alternative by its loss. (Not a margin: MMP's margin is the loss ``l``.)
        objectives: ``c(w_k)`` per iteration.
        expert_features: ``(F,)`` ``F μ_D``.
        loss: ``(S, A)`` numpy loss table ``l`` (0 on the absorbing state).
    """

    config: MMPConfig
    w: np.ndarray
    weights: np.ndarray
    slacks: list[float]
    objectives: list[float]
    expert_features: np.ndarray
    loss: np.ndarray


# ------------------------------------------------------------- pure math
def action_loss(counts: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Loss ``l (S, A) = margin · (1 − p̂(a|s))`` from demo counts ``(S, A)``; ``margin`` at unvisited states.

    Ratliff et al. 2006, Sec. 2: the loss counts state-action pairs off the demonstrated
    behaviour; with several demos per state it is the chance that ``a`` differs from a
    demonstrated action drawn from the counts.
    """
    if counts.ndim != 2:
        raise ValueError(f"counts must be (S, A), got {tuple(counts.shape)}")
    if (counts < 0).any():
        raise ValueError("counts must be non-negative")
    total = counts.sum(-1, keepdim=True)
    freq = torch.where(total > 0, counts / total.clamp_min(torch.finfo(counts.dtype).tiny), 0.0)
    return margin * (1.0 - freq)


def mmp_objective(
    w: torch.Tensor,
    expert_features: torch.Tensor,
    plan_features: torch.Tensor,
    plan_value: torch.Tensor,
    demo_value: torch.Tensor,
    l2: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Objective ``c(w)``, slack ``ξ(w)`` (0-d) and subgradient ``λw + F(μ* − μ_D)`` ``(F,)``.

    Args:
        w: ``(F,)`` weights.
        expert_features: ``(F,)`` ``F μ_D``.
        plan_features: ``(F,)`` ``F μ*`` of the loss-augmented plan.
        plan_value: 0-d ``(Fᵀw + l)ᵀμ*``; demo_value: 0-d ``(Fᵀw + l)ᵀμ_D``.
        l2: λ ≥ 0.
    Ratliff et al. 2006, Sec. 3 (the objective and its subgradient, Algorithm 1).
    """
    if not (w.ndim == 1 and w.shape == expert_features.shape == plan_features.shape):
        raise ValueError(
            f"w, expert_features and plan_features must all be (F,); got {tuple(w.shape)}, "
            f"{tuple(expert_features.shape)}, {tuple(plan_features.shape)}"
        )
    slack = plan_value - demo_value
    objective = 0.5 * l2 * (w @ w) + slack
    return objective, slack, l2 * w + (plan_features - expert_features)


def project_to_ball(w: torch.Tensor, radius: float) -> torch.Tensor:
    """``w`` ``(F,)`` scaled back onto ``‖w‖₂ ≤ radius`` if outside."""
    norm = float(w.norm())
    return w * (radius / norm) if norm > radius else w


# -------------------------------------------------------------------- fit
def fit(
    mdp: TabularMDP,
    demos: Demos | DemoCounts,
    *,
    config: MMPConfig | None = None,
    callback: Callable[[dict[str, float]], None] | None = None,
    checkpoint: Checkpoint | None = None,
    **overrides: Any,
) -> MMPResult:
    """Fit a linear reward to ``demos`` on ``mdp`` by maximum margin planning (module docstring).

    Args:
        mdp: the tabular model, with features; needs a horizon or a discount.
        demos: demonstrations whose observations and actions are state and action indices
            (or their :class:`DemoCounts`).
        config: all settings (:class:`MMPConfig`); ``overrides`` replace its fields.
        callback: called with each iteration's log entry.
        checkpoint: resume from its restored state, and save the state at the end of a subgradient step
            when due (:mod:`irl.checkpoint`).
    """
    cfg = dataclasses.replace(config if config is not None else MMPConfig(), **overrides)  # validates
    with cpu_threads_for(mdp):
        return _fit(mdp, demos, cfg, callback, checkpoint)


def _fit(
    mdp: TabularMDP,
    demos: Demos | DemoCounts,
    cfg: MMPConfig,
    callback: Callable[[dict[str, float]], None] | None,
    checkpoint: Checkpoint | None = None,
) -> MMPResult:
    start = time.perf_counter()
    work, counts = working_copies(mdp, demos, cfg.dtype, cfg.device)
    phi = require_features(work)
    D_demo = counts.counts
    loss = reward_table(work, action_loss(D_demo, cfg.margin))  # absorbing row 0: nothing to choose there
    mu_demo = feature_expectations(phi, D_demo)

    def plan(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Loss-augmented plan: its features F μ*, its value (Fᵀw + l)ᵀμ*, and the demos' value."""
        r = _reward(phi, w, work.n_actions) + loss
        D = visitation(work, hard_value_iteration(work, r).policy, initial=counts.start_mass)
        return feature_expectations(phi, D), (r * D).sum(), (r * D_demo).sum()

    w = torch.zeros(phi.shape[-1], dtype=work.dtype, device=work.device)
    # c is λ-strongly convex, so ‖w* − 0‖ ≤ ‖g₀‖/λ for any subgradient g₀ at 0.
    radius = float((plan(w)[0] - mu_demo).norm()) / cfg.l2 if cfg.l2 > 0 else math.inf

    weights: list[np.ndarray] = []
    slacks: list[float] = []
    objectives: list[float] = []
    log: list[dict[str, float]] = []
    best_w, best = w.clone(), math.inf
    best_so_far: list[float] = []  # the best objective after each iteration
    converged = False
    first = 0
    restored = checkpoint.restored if checkpoint is not None else None
    if restored is not None:
        first = restored["iteration"]
        w = restored["w"].to(device=work.device, dtype=work.dtype)
        best_w, best = restored["best_w"].to(device=work.device, dtype=work.dtype), restored["best"]
        weights = list(restored["weights"])
        slacks, objectives = list(restored["slacks"]), list(restored["objectives"])
        log, best_so_far = [dict(entry) for entry in restored["log"]], list(restored["best_so_far"])
        start = time.perf_counter() - restored["seconds"]
    for k in range(first, cfg.max_iters):
        mu_plan, plan_value, demo_value = plan(w)
        objective, slack, grad = mmp_objective(w, mu_demo, mu_plan, plan_value, demo_value, cfg.l2)
        check_finite("objective", objective, iteration=k, algo="mmp")
        check_finite("subgradient", grad, iteration=k, algo="mmp")
        step = cfg.step_size / math.sqrt(k + 1)
        obj = float(objective)
        weights.append(w.cpu().double().numpy().copy())
        slacks.append(float(slack))
        objectives.append(obj)
        entry = {
            "iteration": k,
            "objective": obj,
            "slack": float(slack),
            "grad_norm": float(grad.norm()),
            "step": step,
            "feature_gap": float((mu_plan - mu_demo).norm()),
        }
        log.append(entry)
        if callback:
            callback(entry)
        if obj < best:
            best, best_w = obj, w.clone()
        best_so_far.append(best)
        if k >= cfg.patience and best_so_far[k - cfg.patience] - best <= cfg.tol * max(1.0, abs(best)):
            converged = True
            break
        w = project_to_ball(w - step * grad, radius)
        if checkpoint is not None and checkpoint.due(k + 1):
            checkpoint.save(k + 1, {
                "iteration": k + 1, "w": w, "best_w": best_w, "best": best, "weights": np.stack(weights),
                "slacks": slacks, "objectives": objectives, "log": log, "best_so_far": best_so_far,
                "seconds": time.perf_counter() - start})

    w_final = best_w.cpu().double().numpy()
    model, table = linear_reward(mdp, w_final)
    cpu = mdp.to("cpu", torch.float64)
    policy = optimal_policy(cpu, require_features(cpu), w_final, 0.0)
    return MMPResult(
        reward_model=model,
        reward_table=table,
        policy=policy,
        log=log,
        converged=converged,
        iterations=len(slacks),
        seconds=time.perf_counter() - start,
        stop_reason="plateau" if converged else "max_iters",
        stop_message=(
            f"converged: the best objective improved by less than tol {cfg.tol:g} over {cfg.patience} iterations"
            if converged else
            f"not converged: stopped at the cap max_iters={cfg.max_iters} while the objective still improved by "
            f"more than tol {cfg.tol:g} over {cfg.patience} iterations: raise max_iters "
            f"(e.g. max_iters={2 * cfg.max_iters})"),
        config=cfg,
        w=w_final,
        weights=np.stack(weights),
        slacks=slacks,
        objectives=objectives,
        expert_features=mu_demo.cpu().double().numpy(),
        loss=loss.cpu().double().numpy(),
    )


def _reward(features: torch.Tensor, w: torch.Tensor, n_actions: int) -> torch.Tensor:
    """``(S, A)`` reward ``f(s[, a]) · w`` (state features repeated over actions)."""
    r = features @ w
    return r[:, None].expand(-1, n_actions) if r.ndim == 1 else r
