"""Apprenticeship learning by feature matching (Abbeel & Ng 2004), projection and max-margin variants.

Abbeel & Ng, "Apprenticeship Learning via Inverse Reinforcement Learning", ICML 2004,
Sec. 3. The reward is linear, ``R(s, a) = w · φ(s[, a])``, and a policy is judged by
its feature expectations ``μ(π) = E[Σ_t γ^t φ(s_t[, a_t])]``. Starting from a policy
``π⁽⁰⁾``, iteration ``i`` (0-based here) finds a direction ``w⁽ⁱ⁾`` and a margin
``t⁽ⁱ⁾`` from the policies found so far, stops if ``t⁽ⁱ⁾ ≤ ε``, and otherwise adds
``π⁽ⁱ⁺¹⁾``, optimal for ``w⁽ⁱ⁾ · φ``:

- max-margin (Sec. 3, step 2): ``max_{t, w} t  s.t.  wᵀμ_E ≥ wᵀμ⁽ʲ⁾ + t ∀j,
  ‖w‖₂ ≤ 1``, a second-order cone program solved by cvxpy (Clarabel by default;
  :mod:`irl.inverse.feature_qp`); ``t`` is then the distance from ``μ_E`` to the convex
  hull of the ``μ⁽ʲ⁾``;
- projection (Sec. 3.1): ``μ̄`` is moved to the orthogonal projection of ``μ_E`` onto
  the line through ``μ̄`` and the newest ``μ⁽ʲ⁾``; ``w = μ_E − μ̄``, ``t = ‖w‖₂``.
  The step is clipped to the segment, which keeps ``μ̄`` a mixture of the policies
  and ``t`` non-increasing even when ``μ_E`` is out of reach (finite, noisy demos).

``ApprenticeshipConfig.variant`` picks one. At the end, the mixture weights ``λ`` over the
policies that bring ``Σ_j λ_j μ⁽ʲ⁾`` closest to ``μ_E`` come from a small QP (Sec. 3, end);
its gap is ``≤ ε`` on convergence, and :func:`irl.inverse.feature_matching.mixture_policy`
turns the mixture into one Markov policy. ``μ_E`` comes from the demos' ``γ^t``-weighted
counts and every ``μ(π)`` exactly from :func:`irl.solvers.visitation` started from the
demos' own start mass (:mod:`irl.envs.demo_counts`), so both count the same steps.

A run that cannot progress stops early with ``stop_reason="stalled"``: the optimal
policy of the current ``w`` does no better than the policies already found, which
means no policy reaches ``μ_E`` (e.g. few demos on a stochastic MDP); raise ``ε``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from irl.data import Demos
from irl.envs.demo_counts import DemoCounts
from irl.envs.tabular import TabularMDP
from irl.inverse.common import DTYPES, TabularResult, check_finite, working_copies
from irl.inverse.feature_matching import linear_reward, mixture_policy, optimal_policy, require_features
from irl.inverse.feature_qp import check_solver, closest_mixture, max_margin_direction
from irl.solvers import feature_expectations, visitation
from irl.solvers.tabular_common import cpu_threads_for

__all__ = ["ApprenticeshipConfig", "ApprenticeshipResult", "fit", "projection_update"]

VARIANTS = ("projection", "max-margin")
INITIAL_POLICIES = ("uniform", "random")
REWARD_CHOICES = ("closest", "last")


@dataclass(frozen=True)
class ApprenticeshipConfig:
    """Settings of apprenticeship learning; the CLI builds one from its flags."""

    variant: str = "projection"
    """Which algorithm: "projection" (Sec. 3.1, ``μ̄`` moves towards ``μ_E``) or "max-margin" (Sec. 3,
    step 2, a second-order cone program per iteration)."""
    epsilon: float = 0.05
    """Stop when the margin ``t`` (a distance in feature-expectation space) is ``≤ epsilon``."""
    max_iters: int = 100
    """Cap on iterations (margins computed); at most this many policies are found."""
    temperature: float = 0.0
    """0: each new policy is greedy-optimal (hard value iteration, as in the paper); > 0: soft-optimal
    at this α for the unit-norm reward ``ŵ · φ`` (the convergence guarantee is then lost)."""
    initial_policy: str = "uniform"
    """``π⁽⁰⁾``: "uniform" (uniform random actions) or "random" (optimal for ``w ~ N(0, I)``, drawn
    with ``seed``)."""
    reward_choice: str = "closest"
    """The ``w`` handed on as the learned reward: "closest" (the one whose optimal policy came closest to
    ``μ_E``) or "last" (the final direction ``w⁽ᵏ⁾``)."""
    solver: str = "CLARABEL"
    """cvxpy solver for the max-margin program and the mixture QP (e.g. CLARABEL, OSQP, SCS)."""
    seed: int = 0
    """Seeds ``π⁽⁰⁾`` when ``initial_policy="random"`` (nothing else is random)."""
    dtype: str = "float64"
    """Precision of the value iteration and visitation passes: "float64" or "float32"."""
    device: str = "cpu"
    """Device of those passes: "cpu" or "cuda"."""

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {self.variant!r}")
        if not self.epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0, got {self.epsilon}")
        if self.max_iters < 1:
            raise ValueError(f"max_iters must be >= 1, got {self.max_iters}")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy policies), got {self.temperature}")
        if self.initial_policy not in INITIAL_POLICIES:
            raise ValueError(
                f"initial_policy must be one of {', '.join(INITIAL_POLICIES)}; got {self.initial_policy!r}"
            )
        if self.reward_choice not in REWARD_CHOICES:
            raise ValueError(
                f"reward_choice must be one of {', '.join(REWARD_CHOICES)}; got {self.reward_choice!r}"
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}")
        check_solver(self.solver)


@dataclass
class ApprenticeshipResult(TabularResult):
    """What a fit returns (k policies found, F features).

    Fields:
        reward_model: the learned ``LinearReward`` with weights ``w`` (CPU, float64).
        reward_table: ``(n_env_states, A)`` numpy learned reward ``φ · w``.
        policy: the mixture of the policies found as one Markov policy
            (:func:`irl.inverse.feature_matching.mixture_policy`),
            ``(T, S, A)`` or ``(S, A)`` tensor; its feature expectations are within ``mixture_gap`` of
            ``μ_E``. (The optimal policy of ``reward_table`` alone need not match the demos.)
        log: one dict per iteration: ``iteration``, ``margin``, ``feature_gap`` (``‖μ_E − μ⁽ⁱ⁾‖`` of the
            newest policy), ``seconds``.
        converged: whether the margin reached ``epsilon`` before ``max_iters`` (the stopping test).
        iterations: iterations run (``= len(margins) = k``).
        seconds: wall time of the fit.
        config: the settings used.
        w: ``(F,)`` the learned weights, unit norm (zeros if ``μ_E`` was matched before any ``w`` was needed).
        weights: ``(k, F)`` the direction ``w⁽ⁱ⁾`` of every iteration, as the variant produced it.
        margins: ``t⁽ⁱ⁾`` per iteration; non-increasing for the projection variant.
        policies: the k policies ``π⁽⁰⁾ .. π⁽ᵏ⁻¹⁾`` found, tensors ``(S, A)`` or ``(T, S, A)``.
        feature_expectations: ``(k, F)`` their ``μ(π⁽ʲ⁾)``.
        expert_features: ``(F,)`` ``μ_E``.
        mixture: ``(k,)`` weights on the simplex with ``Σ_j λ_j μ⁽ʲ⁾`` closest to ``μ_E``.
        mixture_gap: ``‖μ_E − Σ_j λ_j μ⁽ʲ⁾‖₂``.
        stop_reason: "margin" (``t ≤ ε``), "max_iters" or "stalled" (see the module docstring);
            ``stop_message`` says it in a sentence.
    """

    config: ApprenticeshipConfig
    w: np.ndarray
    weights: np.ndarray
    margins: list[float]
    policies: list[torch.Tensor]
    feature_expectations: np.ndarray
    expert_features: np.ndarray
    mixture: np.ndarray
    mixture_gap: float


# ------------------------------------------------------------- pure math
def projection_update(expert: np.ndarray, mean: np.ndarray, newest: np.ndarray) -> np.ndarray:
    """The next ``μ̄`` ``(F,)``: ``μ_E`` projected onto the segment from ``μ̄`` ``(F,)`` to ``μ⁽ⁱ⁾`` ``(F,)``.

    Abbeel & Ng 2004, Sec. 3.1, step 2: ``μ̄ ← μ̄ + c (μ⁽ⁱ⁾ − μ̄)`` with
    ``c = (μ⁽ⁱ⁾ − μ̄)ᵀ(μ_E − μ̄) / ‖μ⁽ⁱ⁾ − μ̄‖²``. The paper's ``c`` lies in [0, 1] when ``μ⁽ⁱ⁾``
    is optimal for ``w = μ_E − μ̄`` and ``μ_E`` is reachable; clipping it there keeps ``μ̄`` a
    mixture otherwise, and ``‖μ_E − μ̄‖`` never grows.
    """
    expert, mean, newest = (np.asarray(x, dtype=np.float64) for x in (expert, mean, newest))
    if not expert.shape == mean.shape == newest.shape or expert.ndim != 1:
        raise ValueError(
            f"expert, mean and newest must all be (F,); got {expert.shape}, {mean.shape}, {newest.shape}"
        )
    step = newest - mean
    denom = float(step @ step)
    if denom <= 1e-300:
        return mean.copy()
    c = min(1.0, max(0.0, float(step @ (expert - mean)) / denom))
    return mean + c * step


def fit(
    mdp: TabularMDP,
    demos: Demos | DemoCounts,
    *,
    config: ApprenticeshipConfig | None = None,
    callback: Callable[[dict[str, float]], None] | None = None,
    **overrides: Any,
) -> ApprenticeshipResult:
    """Fit a linear reward to ``demos`` on ``mdp`` by apprenticeship learning (module docstring).

    Args:
        mdp: the tabular model, with features; needs a horizon or a discount.
        demos: demonstrations whose observations and actions are state and action indices
            (or their :class:`DemoCounts`).
        config: all settings (:class:`ApprenticeshipConfig`, projection by default; its ``variant``
            picks the other); ``overrides`` replace its fields.
        callback: called with each iteration's log entry.
    """
    base = config if config is not None else ApprenticeshipConfig()
    cfg = dataclasses.replace(base, **overrides)  # validates
    with cpu_threads_for(mdp):
        return _fit(mdp, demos, cfg, callback)


def _fit(
    mdp: TabularMDP,
    demos: Demos | DemoCounts,
    cfg: ApprenticeshipConfig,
    callback: Callable[[dict[str, float]], None] | None,
) -> ApprenticeshipResult:
    start = time.perf_counter()
    work, counts = working_copies(mdp, demos, cfg.dtype, cfg.device)
    phi = require_features(work)

    algo = cfg.variant

    def mu_of(policy: torch.Tensor) -> np.ndarray:
        D = visitation(work, policy, initial=counts.start_mass)
        mu = feature_expectations(phi, D).cpu().double().numpy()
        check_finite("feature expectation of a policy", mu, iteration=len(margins), algo=algo)
        return mu

    def solve(w: np.ndarray) -> torch.Tensor:
        return optimal_policy(work, phi, w, cfg.temperature)

    mu_expert = feature_expectations(phi, counts.counts).cpu().double().numpy()
    if cfg.initial_policy == "uniform":
        first = torch.full_like(work.next_probs[:, :, 0], 1.0 / work.n_actions)
    else:
        first = solve(np.random.default_rng(cfg.seed).standard_normal(phi.shape[-1]))
    weights: list[np.ndarray] = []
    margins: list[float] = []
    policies, mus = [first], [mu_of(first)]
    log: list[dict[str, float]] = []
    mean = mus[0]
    stalled = False
    stop_reason = "max_iters"
    tol = 1e-9 * max(1.0, float(np.abs(mu_expert).max()))

    for i in range(cfg.max_iters):
        if cfg.variant == "projection":
            if i > 0:
                mean = projection_update(mu_expert, mean, mus[-1])
            w = mu_expert - mean
            t = float(np.linalg.norm(w))
        else:
            w, t = max_margin_direction(mu_expert, np.stack(mus), solver=cfg.solver)
        check_finite("direction w", w, iteration=i, algo=algo)
        check_finite("margin t", t, iteration=i, algo=algo)
        weights.append(w)
        margins.append(t)
        entry = {
            "iteration": i,
            "margin": t,
            "feature_gap": float(np.linalg.norm(mu_expert - mus[-1])),
            "seconds": time.perf_counter() - start,
        }
        log.append(entry)
        if callback:
            callback(entry)
        if t <= cfg.epsilon:
            stop_reason = "margin"
            break
        if stalled:
            stop_reason = "stalled"
            break
        if i + 1 == cfg.max_iters:
            break
        policy = solve(w)
        mu = mu_of(policy)
        # The new policy must beat the current separator, w·μ ≥ w·μ_E − t; if it does not, the next
        # w and t are the same as these and nothing changes again.
        unit = w / max(np.linalg.norm(w), 1e-300)
        stalled = float(unit @ (mu_expert - mu)) >= t - tol
        policies.append(policy)
        mus.append(mu)

    mu_all = np.stack(mus)
    mixture, gap = closest_mixture(mu_expert, mu_all, solver=cfg.solver)
    w_final = _choose_weights(weights, margins, mu_all, mu_expert, cfg.reward_choice, tol)
    model, table = linear_reward(mdp, w_final)
    # The mixture is the algorithm's policy; it is rebuilt from the demos' start states (the
    # signed truncation mass is left out: a start distribution must be a distribution).
    start_states = counts.start_mass[0] if counts.start_mass.ndim == 2 else counts.start_mass
    policy = mixture_policy(work, policies, mixture, start_states.clamp_min(0.0)).to("cpu", torch.float64)
    return ApprenticeshipResult(
        reward_model=model,
        reward_table=table,
        policy=policy,
        log=log,
        converged=stop_reason == "margin",
        iterations=len(margins),
        seconds=time.perf_counter() - start,
        stop_reason=stop_reason,
        stop_message=_stop_message(stop_reason, cfg, margins),
        config=cfg,
        w=w_final,
        weights=np.stack(weights),
        margins=margins,
        policies=[p.cpu() for p in policies],
        feature_expectations=mu_all,
        expert_features=mu_expert,
        mixture=mixture,
        mixture_gap=gap,
    )


def _stop_message(reason: str, cfg: ApprenticeshipConfig, margins: list[float]) -> str:
    """One sentence: why the fit stopped, and what to change if it did not converge."""
    t = margins[-1]
    if reason == "margin":
        return f"converged: margin {t:.3g} <= epsilon {cfg.epsilon:g} after {len(margins)} iterations"
    if reason == "stalled":
        return (f"not converged: stalled at margin {t:.3g} > epsilon {cfg.epsilon:g} (the newest policy did no "
                f"better than those found; no policy reaches the demos' feature expectations): raise epsilon "
                f"above {t:.3g}, e.g. epsilon={1.1 * t:.3g}")
    return (f"not converged: stopped at the cap max_iters={cfg.max_iters} with margin {t:.3g} > epsilon "
            f"{cfg.epsilon:g}: raise max_iters (e.g. max_iters={2 * cfg.max_iters}) or epsilon")


def _choose_weights(
    weights: list[np.ndarray],
    margins: list[float],
    mus: np.ndarray,
    expert: np.ndarray,
    choice: str,
    tol: float,
) -> np.ndarray:
    """Unit-norm ``w``: the last direction, or the one whose policy ``π⁽ʲ⁺¹⁾`` came closest to ``μ_E``.

    The last direction is zero when its margin is (numerically) zero: then no direction separates
    ``μ_E`` from the policies and the solver's ``w`` carries no information.
    """
    if choice == "closest" and len(mus) > 1:
        # weights[j] produced policy j + 1 (policy 0 is the initial one); their margins were > epsilon.
        w = weights[int(np.argmin(np.linalg.norm(mus[1:] - expert, axis=1)))]
    elif margins[-1] <= tol:
        return np.zeros_like(weights[-1])
    else:
        w = weights[-1]
    return w / np.linalg.norm(w)
