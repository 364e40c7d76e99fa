"""Exact MaxEnt IRL on tabular MDPs (Ziebart et al. 2008; Wulfmeier et al. 2015 for the deep variant).

Every iteration runs one backward pass (soft value iteration) and one forward
pass (visitation) for the current reward table; the gradient ``counts − D``
(:mod:`irl.inverse.maxent_objective`) is pushed through the reward model by
autograd. The objective is the demos' discounted log-likelihood (concave in a linear or
tabular reward for deterministic dynamics, bounded above always); linear and tabular
rewards are fitted by a trust-region Newton method with exact Hessian-vector products
(:mod:`irl.inverse.maxent_newton`) or L-BFGS (scipy), an MLP reward with Adam. Every
evaluation is counted in passes (one soft value iteration + one visitation): the result's
``evaluations`` and ``passes``.

``converged`` means: Newton or L-BFGS (linear, tabular) brought the largest gradient entry of the
penalised objective below ``grad_tol`` before ``max_iters`` iterations: a stationary point, which with
stochastic dynamics need not be the best one (``experiments/bench_tabular.py --maxent-seeds`` finds
demo draws of the slippery gridworld where Newton and L-BFGS stop at two different strict local
minima; its block in experiments/README.md has them); Adam (mlp) did
that, or the objective stopped improving (by less than ``plateau_tol`` of its size over
``plateau_steps`` steps) before ``max_iters`` steps. A NaN or inf in the reward, the
values or the gradient stops the fit with :class:`irl._checks.NonFiniteError`.

The MLP (Adam) fit can resume from a :class:`irl.checkpoint.Checkpoint` (one iteration: one
Adam step); Newton and L-BFGS, a few dozen iterations, always run from the start.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.optimize
import torch

from irl.checkpoint import Checkpoint
from irl.data import Demos
from irl.envs.demo_counts import DemoCounts
from irl.envs.tabular import TabularMDP
from irl.inverse.common import DTYPES, TabularResult, check_finite, working_copies
from irl.inverse.maxent_newton import PassCount, trust_region_newton
from irl.inverse.maxent_objective import literal_log_likelihood, maxent_objective
from irl.rewards import LinearReward, TabularReward, make_reward
from irl.solvers import feature_expectations, soft_value_iteration
from irl.solvers.tabular_common import cpu_threads_for

REWARD_KINDS = ("linear", "tabular", "tabular-state", "mlp")
OPTIMIZERS = ("newton", "lbfgs")


@dataclass(frozen=True)
class MaxEntConfig:
    """Settings of exact MaxEnt IRL; the CLI builds one from its flags."""

    reward: str = "linear"
    """Reward model: "linear" (in the MDP's features), "tabular" (state-action), "tabular-state", "mlp"."""
    l2: float = 1e-3
    """L2 penalty ``l2/2 · ‖θ‖²`` on the reward parameters (per demo episode)."""
    optimizer: str = "newton"
    """Linear and tabular rewards: "newton" (trust region, steps by conjugate gradients on exact
    Hessian-vector products, :mod:`irl.inverse.maxent_newton`) or "lbfgs" (L-BFGS); the MLP always
    uses Adam. Counted passes, Newton ÷ L-BFGS, 100 demos: 0.52–0.94 on 48×48 block-feature
    gridworlds (3 seeds), 0.61 on 32×32, 0.30–0.53 on 32×32 objectworlds (3 seeds; L-BFGS stopped
    at max_iters=500 there); about even on an 8×8 grid with 16 weights."""
    max_iters: int = 500
    """Cap on optimiser iterations (Newton or L-BFGS iterations, or Adam steps for the MLP)."""
    grad_tol: float = 1e-4
    """Stop when the largest gradient entry of the penalised objective is below this (the
    gradient is a gap in expected counts per episode: 1e-4 visits is far below the
    sampling noise of any demo set)."""
    plateau_tol: float = 1e-7
    """MLP (Adam) only: also stop when the objective improved by less than this fraction of its
    size over the last ``plateau_steps`` steps (Adam's steps keep the gradient from vanishing)."""
    plateau_steps: int = 50
    """MLP (Adam) only: the window of the ``plateau_tol`` test."""
    hidden: tuple[int, ...] = (64, 64)
    """MLP hidden layer sizes."""
    lr: float = 1e-3
    """Adam learning rate (MLP only). With 300 steps this early-stops deep MaxEnt before it
    overfits: on demos/objectworld32.npz EPIC 0.34 against 0.48 at lr 0.01 / 100 steps and
    0.68 at lr 0.01 / 500 steps (measured with experiments/compare_inverse.py)."""
    seed: int = 0
    """Seeds the reward model's initialisation."""
    dtype: str = "float64"
    """Precision of the messages: "float64" or "float32"."""
    device: str = "cpu"
    """Device of the messages: "cpu" or "cuda"."""

    def __post_init__(self) -> None:
        if self.reward not in REWARD_KINDS:
            raise ValueError(f"reward must be one of {', '.join(REWARD_KINDS)}; got {self.reward!r}")
        if not self.l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {self.l2}")
        if int(self.max_iters) < 1:
            raise ValueError(f"max_iters must be >= 1, got {self.max_iters}")
        if not self.grad_tol > 0 or not self.lr > 0:
            raise ValueError(f"grad_tol and lr must be > 0, got {self.grad_tol} and {self.lr}")
        if not self.plateau_tol >= 0 or int(self.plateau_steps) < 1:
            raise ValueError(f"plateau_tol must be >= 0 and plateau_steps >= 1, got {self.plateau_tol} and "
                             f"{self.plateau_steps}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be float64 or float32, got {self.dtype!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))  # JSON gives a list


@dataclass
class MaxEntResult(TabularResult):
    """What a fit returns: the fields of :class:`irl.inverse.common.TabularResult`, where
    ``reward_model`` is on the CPU in float64, ``policy`` is the soft-optimal policy of the
    learned reward, and each ``log`` entry has ``iteration``, ``objective``,
    ``log_likelihood``, ``grad_norm``, ``feature_gap`` and ``passes`` (so far).

    Fields (besides the inherited ones):
        evaluations: how many of each kind of evaluation the fit made
            (:data:`irl.inverse.maxent_newton.PASSES`: objective and gradient, soft value
            iteration alone, forward sweep, Hessian-vector product).
        passes: their cost in passes of one soft value iteration + one visitation.
    """

    config: MaxEntConfig = field(default_factory=MaxEntConfig)
    evaluations: dict[str, int] = field(default_factory=dict)
    passes: float = 0.0


def fit(
    mdp: TabularMDP,
    demos: Demos | DemoCounts,
    *,
    reward: str | None = None,
    seed: int | None = None,
    config: MaxEntConfig | None = None,
    callback: Callable[[dict[str, float]], None] | None = None,
    checkpoint: Checkpoint | None = None,
    **overrides: Any,
) -> MaxEntResult:
    """Fit a reward to ``demos`` on ``mdp`` by exact MaxEnt IRL.

    Args:
        mdp: the tabular model; needs a horizon or a discount (see
            :func:`irl.envs.mdp_for_demos` to take them from the demos' metadata); it must
            model the env the demos name (checked when both name one).
        demos: demonstrations whose observations and actions are state and action indices.
        reward, seed: shortcuts for ``config.reward`` and ``config.seed``.
        config: all settings (:class:`MaxEntConfig`); ``overrides`` replace its fields.
        callback: called with each iteration's log entry (e.g. a progress bar).
        checkpoint: MLP reward (Adam) only: resume from its restored state and save the state at the
            end of an Adam step when due (:mod:`irl.checkpoint`); the linear and tabular fits ignore it.
    """
    if reward is not None:
        overrides["reward"] = reward
    if seed is not None:
        overrides["seed"] = seed
    cfg = dataclasses.replace(config if config is not None else MaxEntConfig(), **overrides)  # validates
    dtype = DTYPES[cfg.dtype]
    work_mdp, counts = working_copies(mdp, demos, cfg.dtype, cfg.device)

    model_kwargs: dict[str, Any] = {}
    if cfg.reward == "mlp":  # linear and tabular models start at zero: nothing to seed
        model_kwargs = {"seed": cfg.seed, "hidden": tuple(cfg.hidden)}
    model = make_reward(cfg.reward, mdp, dtype=torch.float64, **model_kwargs)
    features = _feature_matrix(mdp)

    log: list[dict[str, float]] = []
    count = PassCount()
    start = time.perf_counter()
    warm_start: torch.Tensor | None = None  # infinite horizon: the last evaluation's values, a nearby reward's

    algo = "deep-maxent" if cfg.reward == "mlp" else "maxent"

    def evaluate() -> tuple[float, float]:
        """Penalised objective to minimise; fills the parameters' .grad. Returns (loss, max |grad|)."""
        nonlocal warm_start
        model.zero_grad()
        table = model.table(mdp)
        check_finite("reward table", table.detach(), iteration=len(log), algo=algo)
        ev = maxent_objective(work_mdp, counts, table.to(cfg.device, dtype), v_init=warm_start)
        count.add("objective")
        check_finite("objective", ev.value, iteration=len(log), algo=algo)
        check_finite("gradient", ev.grad, iteration=len(log), algo=algo)
        params = [p for p in model.parameters() if p.requires_grad]
        penalty = 0.5 * cfg.l2 * sum((p**2).sum() for p in params)
        # Minimise −L + penalty: backpropagate −∂L/∂table, add the penalty's own gradient.
        table.backward(-ev.grad.to(table.device, table.dtype))
        penalty.backward() if params else None
        grad_max = max(float(p.grad.abs().max()) for p in params) if params else 0.0
        check_finite("parameter gradient", grad_max, iteration=len(log), algo=algo)
        entry = {
            "iteration": len(log),
            "objective": float(ev.value),
            "log_likelihood": float(literal_log_likelihood(ev.solution, counts)),
            "grad_norm": float(torch.sqrt(sum((p.grad**2).sum() for p in params))),
            "feature_gap": _feature_gap(features, counts.counts, ev.visitation),
        }
        evaluate.last, evaluate.ev = entry, ev  # type: ignore[attr-defined]
        warm_start = ev.warm_start
        return float(-ev.value) + float(penalty.detach() if params else 0.0), grad_max

    def record(entry: dict[str, float]) -> None:
        entry["iteration"], entry["passes"] = len(log), count.passes
        log.append(entry)
        if callback:
            callback(entry)

    def progress() -> dict[str, Any]:
        """What the fit holds besides the model and the optimiser: the log, the pass counts, the warm
        start and the seconds so far."""
        return {"log": log, "evaluations": dict(count.counts), "warm_start": warm_start,
                "seconds": time.perf_counter() - start}

    def load_progress(state: dict[str, Any]) -> None:
        nonlocal warm_start, start
        log[:] = [dict(entry) for entry in state["log"]]
        count.counts.update(state["evaluations"])
        warm_start = None if state["warm_start"] is None else state["warm_start"].to(cfg.device, dtype)
        start = time.perf_counter() - state["seconds"]

    with cpu_threads_for(work_mdp):
        if cfg.reward == "mlp":
            stop_reason, iterations, grad_max = _adam(model, evaluate, cfg, log, record, checkpoint,
                                                      progress, load_progress)
        else:
            start_point = evaluate()  # its visitation scales the preconditioner
            scale = _scale(_curvature(model, counts.counts + evaluate.ev.visitation, mdp), model)
            if cfg.optimizer == "newton":
                stop_reason, iterations, grad_max = trust_region_newton(
                    model, mdp, work_mdp, counts.likelihood_mass, evaluate, start_point, l2=cfg.l2,
                    grad_tol=cfg.grad_tol, max_iters=cfg.max_iters, scale=scale, count=count, on_iteration=record,
                    flat=_constant_direction(model))
            else:
                stop_reason, iterations, grad_max = _lbfgs(model, evaluate, cfg, log, record, scale)

        model = model.cpu()
        final_mdp = mdp.to("cpu", torch.float64)
        with torch.no_grad():
            table = model.table(final_mdp).detach()
        solution = soft_value_iteration(final_mdp, table).policy  # on the fit's threads, like its passes
        count.add("policy")
    return MaxEntResult(
        reward_model=model,
        reward_table=table.numpy().copy(),
        policy=solution,
        log=log,
        converged=stop_reason in ("grad_tol", "plateau"),
        iterations=iterations,
        seconds=time.perf_counter() - start,
        stop_reason=stop_reason,
        stop_message=_stop_message(stop_reason, cfg, iterations, grad_max),
        config=cfg,
        evaluations=dict(count.counts),
        passes=count.passes,
    )


def _stop_message(reason: str, cfg: MaxEntConfig, iterations: int, grad_max: float) -> str:
    """One sentence: why the fit stopped, and what to change if it did not converge."""
    grad = f"largest gradient entry {grad_max:.2g}"
    if reason == "grad_tol":
        return f"converged: {grad} <= grad_tol {cfg.grad_tol:g} after {iterations} iterations"
    if reason == "plateau":
        return (f"converged: the objective changed by less than plateau_tol {cfg.plateau_tol:g} of its size over "
                f"{cfg.plateau_steps} Adam steps ({grad})")
    if reason in ("line_search", "trust_region"):
        method = "L-BFGS" if reason == "line_search" else "Newton's trust region"
        return (f"not converged: {method} could not improve the objective further after {iterations} iterations "
                f"({grad} > grad_tol {cfg.grad_tol:g}); the objective is flat to round-off there: raise l2 or "
                "grad_tol")
    steps = "Adam steps" if cfg.reward == "mlp" else f"{'Newton' if cfg.optimizer == 'newton' else 'L-BFGS'} iterations"
    extra = " (a deliberate early stop for the MLP: longer runs can overfit)" if cfg.reward == "mlp" else ""
    return (f"not converged: stopped at the cap max_iters={cfg.max_iters} {steps}{extra} with {grad} > grad_tol "
            f"{cfg.grad_tol:g}; to go on, raise it (e.g. max_iters={2 * cfg.max_iters})")


def _curvature(model: torch.nn.Module, counts: torch.Tensor, mdp: TabularMDP) -> np.ndarray | None:
    """Diagonal of ``Jᵀ diag(counts) J`` (J = ∂table/∂θ) for the linear-in-θ models, else None.

    ``counts`` are the demo counts plus the start model's visitation. The Hessian of −L
    is the covariance of the reward's sufficient statistics under the model; its
    diagonal is roughly the expected count of each parameter's feature, which for
    rarely visited features is orders of magnitude below the common ones. L-BFGS on
    ``θ · sqrt(diag)`` (a fixed diagonal preconditioner) converges in a fraction of the
    iterations; the optimum and the stopping test on the unscaled gradient are unchanged.
    """
    # Demo counts are >= 0, but the model's visitation carries the signed start mass of truncated
    # episodes and can dip below 0 where little else arrives: the curvature scale is a size, so clamp.
    c = counts[: mdp.n_env_states].to("cpu", torch.float64).clamp_min(0.0)
    if isinstance(model, LinearReward) and model.features is not None:
        phi2 = model.features.to("cpu", torch.float64) ** 2
        h = phi2.T @ c.sum(1) if phi2.ndim == 2 else torch.einsum("saf,sa->f", phi2, c)
    elif isinstance(model, TabularReward):
        h = c.sum(1) if model.state_only else c
    else:
        return None
    h = h.reshape(-1).numpy()
    return np.sqrt(h + 1e-2 * max(float(h.mean()), 1e-12))


def _constant_direction(model: torch.nn.Module) -> np.ndarray | None:
    """Parameters θ whose reward table is 1 on every state and action, for the linear-in-θ models whose
    features span the constant reward (a tabular reward; features that partition the states), else None.

    Adding a constant to every reward leaves the soft-optimal policy unchanged when no episode ends
    early, so the likelihood is flat along θ: :func:`~irl.inverse.maxent_newton.trust_region_newton`
    checks that and preconditions along it exactly.
    """
    if isinstance(model, TabularReward):
        return np.ones(_n_params(model))
    if not isinstance(model, LinearReward) or model.features is None:
        return None
    phi = model.features.to("cpu", torch.float64)
    phi = phi.reshape(-1, phi.shape[-1]).numpy()  # (S, F) or (S·A, F)
    theta = np.linalg.lstsq(phi, np.ones(phi.shape[0]), rcond=None)[0]
    return theta if np.abs(phi @ theta - 1.0).max() <= 1e-9 else None


def _n_params(model: torch.nn.Module) -> int:
    """How many trainable parameters ``model`` has: the length of the flat parameter vector θ."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _scale(curvature: np.ndarray | None, model: torch.nn.Module) -> np.ndarray:
    """The diagonal preconditioner of the parameters: ``curvature``, or ones where there is none."""
    n = _n_params(model)
    return np.ones(n) if curvature is None or curvature.size != n else curvature


def _lbfgs(model, evaluate, cfg, log, record, scale) -> tuple[str, int, float]:
    """L-BFGS on the parameters times ``scale``; returns (stop reason, iterations, final max |grad|)."""
    params = [p for p in model.parameters() if p.requires_grad]
    sizes = [p.numel() for p in params]

    def set_flat(x: np.ndarray) -> None:
        with torch.no_grad():
            for p, chunk in zip(params, np.split(x / scale, np.cumsum(sizes)[:-1])):
                p.copy_(torch.as_tensor(chunk, dtype=p.dtype).view(p.shape))

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        set_flat(x)
        loss, _ = evaluate()
        g = np.concatenate([p.grad.detach().cpu().numpy().ravel() for p in params])
        return loss, g / scale

    def on_iteration(xk: np.ndarray) -> None:
        record(dict(evaluate.last))  # the last evaluation is at xk (the accepted point)

    x0 = np.concatenate([p.detach().cpu().numpy().ravel() for p in params]) * scale
    res = scipy.optimize.minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        callback=on_iteration,
        # |g/scale| <= gtol / max(scale) implies |g| <= grad_tol: scipy never stops before our test passes
        options={"maxiter": cfg.max_iters, "gtol": cfg.grad_tol / float(scale.max()), "ftol": 0.0, "maxcor": 20},
    )
    set_flat(res.x)
    _, grad_max = evaluate()
    if not log or log[-1]["objective"] != evaluate.last["objective"]:
        record(dict(evaluate.last))
    if grad_max <= cfg.grad_tol:
        reason = "grad_tol"
    else:
        reason = "max_iters" if int(res.nit) >= cfg.max_iters else "line_search"
    return reason, int(res.nit), grad_max


def _adam(model, evaluate, cfg, log, record, checkpoint=None, progress=None, load_progress=None
          ) -> tuple[str, int, float]:
    """Adam on the MLP's parameters; returns (stop reason, steps, final max |grad|).

    With a ``checkpoint`` it starts from the restored state, if any, and saves at the end of each
    step when due: the parameters, Adam's state, the step and its gradient, and ``progress()`` (the
    fit's log, pass counts and warm start, which ``load_progress`` puts back).
    """
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    reason, it, grad_max = "max_iters", 0, float("inf")
    restored = checkpoint.restored if checkpoint is not None else None
    if restored is not None:
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(restored["parameters"][name])
        opt.load_state_dict(copy.deepcopy(restored["optimizer"]))  # Adam would update the given tensors in place
        load_progress(restored["fit"])
        it, grad_max = restored["iteration"], restored["grad_max"]
    first = it + 1
    for it in range(first, cfg.max_iters + 1):
        opt.zero_grad()
        _, grad_max = evaluate()
        record(dict(evaluate.last))
        if grad_max <= cfg.grad_tol:
            reason = "grad_tol"
            break
        if len(log) > cfg.plateau_steps:
            now, then = log[-1]["objective"], log[-1 - cfg.plateau_steps]["objective"]
            if abs(now - then) <= cfg.plateau_tol * max(1.0, abs(now)):
                reason = "plateau"
                break
        opt.step()
        if checkpoint is not None and checkpoint.due(it):
            checkpoint.save(it, {"parameters": dict(model.named_parameters()), "optimizer": opt.state_dict(),
                                 "iteration": it, "grad_max": grad_max, "fit": progress()})
    return reason, it, grad_max


def _feature_matrix(mdp: TabularMDP) -> torch.Tensor | None:
    if mdp.features is None:
        return None
    return mdp.features.to("cpu", torch.float64)


def _feature_gap(features: torch.Tensor | None, counts: torch.Tensor, D: torch.Tensor) -> float:
    """‖μ_demo − μ_model‖₂ in the MDP's features (state or state-action); nan without features."""
    if features is None:
        return float("nan")
    return float(feature_expectations(features, (counts - D).to("cpu", torch.float64)).norm())
