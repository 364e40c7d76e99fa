"""Second-order exact MaxEnt: the Hessian-vector product, and a trust-region Newton fit.

The gradient of the MaxEnt objective is ``∂L/∂r = counts − D(r)`` with ``D`` the visitation of
the soft-optimal policy π_r from the demos' mass (:mod:`irl.inverse.maxent_objective`), so its
Hessian is ``−∂D/∂r``. Its product with a reward direction ``u`` ``(S, A)`` is the tangent of
both message passes (forward-mode differentiation, written out):

    backward  dQ_t = u + γ P dV_{t+1},  dV_t = Σ_a π_t(a|s) dQ_t(s, a),  dlog π_t = dQ_t − dV_t
    forward   dx_t = π_t (dd_t + d_t dlog π_t),  dd_{t+1} = Pᵀ dx_t,  dD = Σ_t γ^t dx_t

The backward tangent is the value of the fixed policy π under the reward ``u``
(:func:`irl.solvers.policy_evaluation`), since V = log Σ exp Q moves by the π-average of Q's
change. The forward tangent is the visitation of π from the mass ``s_t = d_t π_t dlog π_t``
that the policy change creates at each step (pushed one step on, it enters at t + 1), plus
that mass itself: one more :func:`irl.solvers.visitation` call. ``d_t`` are the primal
per-step state masses (:func:`irl.solvers.state_visitation`). For a reward linear in its
parameters, ``r = J θ``, the Hessian in θ is ``−Jᵀ (∂D/∂r) J``; with deterministic dynamics
it is minus the covariance of the trajectory feature counts (Ziebart 2010, Ch. 9). With
stochastic dynamics MaxEnt's likelihood need not be concave; the trust region copes with
negative curvature.

The optimiser is a trust-region Newton method whose steps come from Steihaug-Toint conjugate
gradients (Nocedal & Wright 2006, Alg. 4.1 and 7.2; Conn, Gould & Toint 2000, §7.5 for the
preconditioned form), in a metric ``B`` rebuilt each iteration by BFGS updates from the exact
products of the last few iterations (:class:`SecantMetric`): the Hessian drifts slowly, so the
last iterations' products precondition the next solve. scipy's ``trust-ncg`` and
``trust-krylov`` take no preconditioner; on the 48×48 block-feature gridworld of
``experiments/bench_tabular.py --maxent`` (seed 0) they needed 1.7× and 2.8× the passes of this one.

Cost in passes (one pass = one soft value iteration + one visitation, the gradient's cost): each
product is one backward sweep (policy evaluation, cheaper than the soft one) and one forward
sweep, counted as one pass (:data:`PASSES`). With a finite horizon the gradient's lean pass keeps
π and the per-step state masses when they fit (:data:`irl.solvers.messages.POLICY_BUDGET`), and
the products read them (:func:`finite_visitation_tangent`): 0.66 of a pass each on the 48×48
benchmark (11.6 ms against 17.5 ms, one thread, measured), so the count is an upper bound there.
Otherwise the policy table and the state masses are computed once per accepted point.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg
import torch

from irl.envs.tabular import TabularMDP
from irl.solvers import policy_evaluation, reward_table, state_visitation, visitation
from irl.solvers.tabular_common import operators_for
from irl.solvers.value_iteration import _time_indexed

#: what each kind of evaluation costs, in passes (one soft value iteration + one visitation):
#: "objective" the objective and gradient, "policy" a soft value iteration alone, "states" the
#: policy table of a lean finite-horizon solution and one forward sweep, "hvp" one Hessian-vector
#: product (rounded up from their measured times)
PASSES = {"objective": 1.0, "policy": 1.0, "states": 1.0, "hvp": 1.0}

#: the metric keeps the products of this many past iterations (older Hessians fit worse)
SECANT_MEMORY = 3
#: parameters above which the metric stays the identity (a dense ``(n, n)`` matrix is too big)
DENSE_LIMIT = 2000
#: the likelihood counts as flat along a direction ``v`` when ``max |dD[J v]|`` is at most this times
#: ``max |J v|`` times the visitation's total mass (round-off is about 1e-14 of that)
FLAT_TOL = 1e-9


class PassCount:
    """How many evaluations of each kind of :data:`PASSES` a fit made, and their cost in passes."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(PASSES, 0)

    def add(self, kind: str) -> None:
        self.counts[kind] += 1

    @property
    def passes(self) -> float:
        return sum(PASSES[k] * n for k, n in self.counts.items())


def visitation_tangent(
    mdp: TabularMDP,
    policy: torch.Tensor,
    states: torch.Tensor,
    direction: torch.Tensor,
    *,
    tol: float | None = None,
) -> torch.Tensor:
    """``dD`` ``(S, A)``: the derivative of the soft-optimal visitation along a reward direction.

    ``D(r) = visitation(π_r, mass)`` with π_r the soft-optimal policy (temperature 1) of r;
    the result is ``lim (D(r + εu) − D(r))/ε`` (module docstring), so ``−dD`` is the MaxEnt
    Hessian times ``u``.

    Args:
        mdp: the model (finite horizon T, or discounted).
        policy: π_r, ``(T, S, A)`` or (discounted) ``(S, A)``.
        states: the primal state masses of that visitation: ``(T, S)`` per step, after each
            step's injected mass, or (discounted) ``(S,)`` the discounted state visitation;
            :func:`irl.solvers.state_visitation` with the same ``initial`` gives either.
        direction: ``u`` ``(S, A)`` (all states; the absorbing row must be 0, as a reward's is).
        tol: discounted only: tolerance of the policy evaluation and the visitation sums.
    """
    S, A, T = mdp.n_states, mdp.n_actions, mdp.horizon
    if direction.shape != (S, A):
        raise ValueError(f"direction must be ({S}, {A}), got {tuple(direction.shape)}")
    if states.shape != ((T, S) if T is not None else (S,)):
        expected = f"({T}, {S})" if T is not None else f"({S},)"
        raise ValueError(f"states must be {expected}, got {tuple(states.shape)}")
    # Backward: dQ, dV are the values of the fixed π under the reward u (dense_limit=0: iterate,
    # a dense solve is S³).
    tangent = policy_evaluation(mdp, direction, policy, tol=tol, dense_limit=0)
    # s_t = d_t π_t dlog π_t, the mass the policy change creates (T, S, A) or (S, A); in place
    # on the fresh dQ: a (T, S, A) temporary costs more than the arithmetic.
    source = tangent.q.sub_(tangent.v.unsqueeze(-1)).mul_(policy).mul_(states.unsqueeze(-1))
    _, PT = operators_for(mdp, direction)
    if T is not None:
        pis = _time_indexed(policy, T, S, A)
        discount = mdp.gamma ** torch.arange(T, dtype=source.dtype, device=source.device)
        injected = source.new_zeros(T, S)
        if T > 1:  # s_t pushed one step on enters at t + 1: one sparse product for all steps
            injected[1:] = (PT @ source[:-1].reshape(T - 1, S * A).T).T
        return torch.einsum("t,tsa->sa", discount, source) + visitation(mdp, pis, initial=injected)
    injected = mdp.gamma * (PT @ source.reshape(-1))
    return source + visitation(mdp, policy, initial=injected, tol=tol)


def finite_visitation_tangent(
    P: torch.Tensor, PT: torch.Tensor, policy: torch.Tensor, states: torch.Tensor, direction: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """``dD`` ``(A, S)`` of :func:`visitation_tangent`, finite horizon, action-major, from a lean pass's
    kept tables: ``policy`` π ``(T, A, S)`` and ``states`` ``d`` ``(T, S)``
    (:class:`~irl.solvers.LeanSolution` ``kept_policy`` and ``states``), ``direction`` ``u`` ``(A, S)``
    (absorbing column 0), and the action-major operators ``P`` ``(A*S, S)``, ``PT`` ``(S, A*S)``.

    The same formulas (module docstring) written step by step on the tables the gradient already
    holds: three operations a backward step (``dQ_t = u + γ P dV_{t+1}`` in one ``addmv``, and the
    π-average), two a forward step (``dx_t = π_t dd_t + s_t``, ``dd_{t+1} = Pᵀ dx_t``), and the
    source ``s_t = d_t π_t (dQ_t − dV_t)`` and the sum ``dD = Σ_t γ^t dx_t`` each once for all steps.
    (k directions at once, with k-column sparse products, cost 10 ms a direction against 11.7 ms
    for one at a time on the 48×48 benchmark: not worth a second code path.)
    """
    T, A, S = policy.shape
    if direction.shape != (A, S) or states.shape != (T, S):
        raise ValueError(f"expected direction ({A}, {S}) and states ({T}, {S}), got {tuple(direction.shape)} "
                         f"and {tuple(states.shape)}")
    dQ = policy.new_empty(T, A * S)
    dV = policy.new_empty(T + 1, S)
    dV[T] = 0.0
    w = direction.reshape(-1)
    for t in range(T - 1, -1, -1):
        torch.addmv(w, P, dV[t + 1], alpha=gamma, out=dQ[t])
        torch.sum(dQ[t].view(A, S) * policy[t], 0, out=dV[t])
    source = dQ.view(T, A, S).sub_(dV[:T, None]).mul_(policy).mul_(states[:, None])  # s_t, in place of dQ_t
    dd = policy.new_zeros(S)
    for t in range(T):
        dx = source[t].addcmul_(policy[t], dd).view(-1)  # dx_t, in place of s_t
        if t + 1 < T:
            dd = PT @ dx
    discount = (gamma ** torch.arange(T, dtype=torch.float64, device=policy.device)).to(policy.dtype)
    return (discount @ source.view(T, A * S)).view(A, S)


class SecantMetric:
    """A positive definite ``B ≈ H`` ``(n, n)``: BFGS updates of ``base`` (positive definite; the
    identity if None) from exact Hessian products ``(s, H s)``, those with ``sᵀHs <= 0`` skipped; the
    identity when n > :data:`DENSE_LIMIT`.

    BFGS updates along the H-conjugate directions of a CG solve reproduce H on their span (the
    quadratic termination of BFGS, Nocedal & Wright 2006, Ch. 6), so ``B`` is the Hessian of the
    last iterations along the directions they explored.
    """

    def __init__(self, n: int, pairs: list[tuple[np.ndarray, np.ndarray]] = (), base: np.ndarray | None = None) -> None:
        self.B = None if n > DENSE_LIMIT else np.eye(n) if base is None else base.copy()
        for s, y in pairs if self.B is not None else ():
            sy = float(s @ y)
            if sy > 1e-10 * np.linalg.norm(s) * np.linalg.norm(y):
                Bs = self.B @ s
                self.B += np.outer(y, y) / sy - np.outer(Bs, Bs) / float(s @ Bs)
        self.factor = None if self.B is None else scipy.linalg.cho_factor(self.B)

    def solve(self, r: np.ndarray) -> np.ndarray:
        """``B⁻¹ r``."""
        return r.copy() if self.factor is None else scipy.linalg.cho_solve(self.factor, r)

    def inner(self, z: np.ndarray, w: np.ndarray) -> float:
        """``zᵀ B w``."""
        return float(z @ w) if self.B is None else float(z @ (self.B @ w))


def steihaug_cg(
    grad: np.ndarray,
    hessp: Callable[[np.ndarray], np.ndarray],
    metric: SecantMetric,
    radius: float,
    done: Callable[[np.ndarray], bool],
) -> tuple[np.ndarray, np.ndarray, bool, list[tuple[np.ndarray, np.ndarray]]]:
    """Approximately minimise ``gᵀp + ½ pᵀHp`` subject to ``‖p‖_B <= radius`` by CG preconditioned
    with ``B`` (Steihaug-Toint: stop at the boundary, or along a direction of non-positive curvature).

    ``grad`` ``(n,)``; ``hessp(v)`` gives ``H v``; ``done(r)`` says when the model's gradient
    ``r = g + H p`` is small enough. Returns ``p``, ``H p``, whether ``p`` is on the boundary, and
    the ``(d, H d)`` pairs of the solve.
    """
    z, Hz, r = np.zeros_like(grad), np.zeros_like(grad), grad.copy()
    y = metric.solve(r)
    d, ry = -y, float(r @ y)
    pairs = []
    for _ in range(grad.size):
        Hd = hessp(d)
        pairs.append((d, Hd))
        curv = float(d @ Hd)
        alpha = ry / curv if curv > 0 else np.inf
        if curv <= 0 or metric.inner(z + alpha * d, z + alpha * d) >= radius**2:
            a, b, c = metric.inner(d, d), 2 * metric.inner(z, d), metric.inner(z, z) - radius**2
            tau = (-b + np.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)  # ‖z + τd‖_B = radius, τ >= 0
            return z + tau * d, Hz + tau * Hd, True, pairs
        z, Hz, r = z + alpha * d, Hz + alpha * Hd, r + alpha * Hd
        if done(r):
            break
        y = metric.solve(r)
        ry_next = float(r @ y)
        d, ry = -y + (ry_next / ry) * d, ry_next
    return z, Hz, False, pairs


class _TableOf(torch.nn.Module):
    """``model.table(mdp)`` as a module's forward, so that :func:`torch.func.functional_call` can
    evaluate it at other parameters."""

    def __init__(self, model: torch.nn.Module, mdp: TabularMDP) -> None:
        super().__init__()
        self.model, self.mdp = model, mdp

    def forward(self) -> torch.Tensor:
        return self.model.table(self.mdp)


def trust_region_newton(
    model: torch.nn.Module,
    mdp: TabularMDP,
    work_mdp: TabularMDP,
    mass: torch.Tensor,
    evaluate: Callable[[], tuple[float, float]],
    start: tuple[float, float],
    *,
    l2: float,
    grad_tol: float,
    max_iters: int,
    scale: np.ndarray,
    count: PassCount,
    on_iteration: Callable[[dict[str, float]], None],
    flat: np.ndarray | None = None,
) -> tuple[str, int, float]:
    """Minimise −L + ``l2/2 ‖θ‖²`` over the parameters θ of ``model`` (linear in θ: a linear or
    tabular reward) by trust-region Newton (module docstring) on ``x = θ · scale``.

    ``evaluate()`` sets the parameters' gradients at the model's current parameters and returns
    (loss, max |grad|), leaving its :class:`~irl.inverse.maxent_objective.MaxEntEvaluation` in
    ``evaluate.ev`` and the log entry in ``evaluate.last``; ``start`` is what it returned when last
    called, at the model's current parameters (the start point). Products are exact:
    ``H v = Jᵀ dD[J v] + l2 v`` (:func:`visitation_tangent`, ``J = ∂table/∂θ``). ``scale`` is a
    diagonal preconditioner (the square root of the Hessian's rough diagonal) under the secant
    metric. CG stops at the inexact-Newton tolerance ``min(0.5, √‖g‖) ‖g‖`` (superlinear
    convergence), or once the model's gradient meets half of ``grad_tol``. The fit stops when the
    largest entry of the gradient is at most ``grad_tol``, after ``max_iters`` iterations, or
    when the model predicts no decrease. Returns (stop reason, iterations, final max |grad|); the
    model is left at the last accepted point.

    ``flat`` ``(n,)``, if given, is a parameter direction whose reward is a constant (e.g. θ = 1 for
    features that partition the states): where that leaves the soft-optimal policy unchanged (no
    episode ends early), the likelihood is flat along it and the Hessian has the exact eigenpair
    ``(l2, flat)``. The diagonal preconditioner mixes that smallest eigenvalue into every direction;
    with ``l2 > 0`` one product at the start checks the flatness and the metric's base becomes the
    diagonal on the complement of ``flat`` plus ``l2`` along it. On the block-feature gridworlds of
    ``experiments/bench_tabular.py`` (features that partition the states) that saved about a tenth of
    the counted passes over five demo draws when it landed, though not on every draw: each takes its
    own path through the trust region (``--maxent-seeds`` there reports the spread).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    sizes = [p.numel() for p in params]
    table_of = _TableOf(model, mdp)
    names = [n for n, p in table_of.named_parameters() if p.requires_grad]
    cache: OrderedDict[bytes, dict[str, Any]] = OrderedDict()  # the current point and the proposed one

    def split(vector: np.ndarray) -> list[torch.Tensor]:
        return [torch.as_tensor(c, dtype=p.dtype).view(p.shape) for p, c in
                zip(params, np.split(vector, np.cumsum(sizes)[:-1]))]

    def set_params(theta: np.ndarray) -> None:
        with torch.no_grad():
            for p, value in zip(params, split(theta)):
                p.copy_(value)

    def record(x: np.ndarray, loss: float, grad_max: float) -> dict[str, Any]:
        g = np.concatenate([p.grad.detach().cpu().numpy().ravel() for p in params])
        cache[x.tobytes()] = {"loss": loss, "grad": g / scale, "grad_max": grad_max, "ev": evaluate.ev,
                              "entry": dict(evaluate.last), "states": None}
        while len(cache) > 2:
            cache.popitem(last=False)
        return cache[x.tobytes()]

    def point(x: np.ndarray) -> dict[str, Any]:
        if x.tobytes() not in cache:
            set_params(x / scale)
            record(x, *evaluate())
        cache.move_to_end(x.tobytes())
        return cache[x.tobytes()]

    def tangent(rec: dict[str, Any], u: torch.Tensor) -> torch.Tensor:
        """``dD`` ``(S, A)`` at the point ``rec`` along the reward direction ``u`` ``(S, A)``."""
        solution = rec["ev"].solution
        if getattr(solution, "kept_policy", None) is not None:  # a lean pass that kept π and d_t
            P, PT = work_mdp.transition_operators(u.device, u.dtype, action_major=True)
            return finite_visitation_tangent(P, PT, solution.kept_policy, solution.states, u.T.contiguous(),
                                             work_mdp.gamma).T
        if rec["states"] is None and work_mdp.horizon is None:  # discounted: the visitation summed over actions
            rec["states"] = rec["ev"].visitation.sum(-1)
        elif rec["states"] is None:
            rec["states"] = state_visitation(work_mdp, solution.policy, initial=mass)
            count.add("states")
        return visitation_tangent(work_mdp, solution.policy, rec["states"], u)

    def visitation_change(rec: dict[str, Any], v: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The reward direction ``u = J v`` and ``dD`` along it, both ``(n_env_states, A)``, at ``rec``."""
        like = rec["ev"].visitation
        with torch.no_grad():
            u = torch.func.functional_call(table_of, dict(zip(names, split(v))), ())  # J v: the table is linear
        u = u.to(like.device, like.dtype)
        count.add("hvp")
        return u, tangent(rec, reward_table(work_mdp, u))[: work_mdp.n_env_states]

    def hessp(rec: dict[str, Any], p: np.ndarray) -> np.ndarray:
        v = p / scale
        _, dD = visitation_change(rec, v)
        table = model.table(mdp)
        jt = torch.autograd.grad(table, params, dD.to(table.device, table.dtype))
        return (np.concatenate([j.detach().cpu().numpy().ravel() for j in jt]) + l2 * v) / scale

    def flat_base(rec: dict[str, Any]) -> np.ndarray | None:
        """The secant metric's base with the exact curvature ``l2`` along ``flat``, once one product has
        confirmed the likelihood is flat along it; None otherwise (``flat`` above)."""
        if flat is None or l2 <= 0 or flat.size > DENSE_LIMIT:
            return None
        v0 = flat / np.linalg.norm(flat)
        u, dD = visitation_change(rec, v0)
        mass = float(rec["ev"].visitation.abs().sum())
        if not float(dD.abs().max()) <= FLAT_TOL * float(u.abs().max()) * mass:
            return None  # e.g. episodes that end early: the constant reward is a reward for living
        # In θ (x = θ · scale): (I − v0 v0ᵀ) diag(scale²) (I − v0 v0ᵀ) + l2 v0 v0ᵀ, written out in O(n²).
        dv = scale**2 * v0
        base = np.diag(scale**2) - np.outer(dv, v0) - np.outer(v0, dv) + (float(v0 @ dv) + l2) * np.outer(v0, v0)
        return base / np.outer(scale, scale)

    x = np.concatenate([p.detach().cpu().numpy().ravel() for p in params]) * scale
    rec, radius, history = record(x, *start), 1.0, []
    base = flat_base(rec) if rec["grad_max"] > grad_tol else None
    metric = SecantMetric(x.size, base=base)
    reason, k = "max_iters", 0
    while k < max_iters and rec["grad_max"] > grad_tol:
        g = rec["grad"]
        g_norm = float(np.linalg.norm(g))
        forcing = min(0.5, np.sqrt(g_norm)) * g_norm
        done = lambda r: np.linalg.norm(r) <= forcing or np.abs(r * scale).max() <= 0.5 * grad_tol  # noqa: E731
        p, Hp, on_boundary, pairs = steihaug_cg(g, lambda v, rec=rec: hessp(rec, v), metric, radius, done)
        predicted = -float(g @ p + 0.5 * p @ Hp)
        step = np.sqrt(metric.inner(p, p))
        new = point(x + p)
        rho = (rec["loss"] - new["loss"]) / predicted if predicted > 0 else -np.inf
        if rho < 0.25:
            radius = 0.25 * step
        elif rho > 0.75 and on_boundary:
            radius = 2.0 * radius
        if rho > 0.1:
            x, rec = x + p, new
        k += 1
        on_iteration(dict(rec["entry"]))
        history = (history + [pairs])[-SECANT_MEMORY:]
        metric = SecantMetric(x.size, [pair for solve in history for pair in solve], base)
        if predicted <= 0:
            reason = "trust_region"
            break
    set_params(x / scale)
    if k == 0:
        on_iteration(dict(rec["entry"]))
    if rec["grad_max"] <= grad_tol:
        reason = "grad_tol"
    return reason, k, rec["grad_max"]
