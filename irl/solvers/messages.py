"""Lean exact messages: one MaxEnt gradient's backward and forward pass, storing V and at most π.

A finite-horizon :func:`~irl.solvers.soft_value_iteration` keeps Q, V and π of every step,
three ``(T, S, A)`` tensors, for any caller. A MaxEnt gradient needs the visitation ``D``
and the values ``V`` only, and π_t is one sparse product away from ``V_{t+1}``:

    backward (t = T-1 .. 0):  Q_t = r + γ P V_{t+1},  V_t = α logsumexp_a Q_t/α,  V_T = 0
    forward  (t = 0 .. T-1):  π_t = exp((Q_t − V_t)/α),
                              x_t = d_t π_t,  D += γ^t x_t,  d_{t+1} = Pᵀ x_t (+ m_{t+1})

The forward pass takes π_t from one of two places. When the ``(T, S, A)`` policy table fits
:data:`POLICY_BUDGET` (256 MiB: every CPU-sized problem), the backward keeps it, at the cost of
one division a step (π_t = the softmax whose normaliser V_t needs anyway). Otherwise (10⁶ states
on a GPU) only ``V`` ``(T, S)`` is kept and the forward rebuilds π, :data:`CHUNK` steps at a time,
from one sparse product ``P [V_{t+1} … V_{t+k}]`` and one ``exp``; the chunk is the only
``(k, S, A)`` temporary. Either way the sequential part of a forward step is two operations
(``x_t = d_t π_t`` in place of π_t, and ``Pᵀ x_t``), and ``D`` is summed once per chunk.

Layout: inside the passes tables are action-major, ``(A, S)``, with the operators' rows ordered
``a*S + s`` (:meth:`~irl.envs.TabularMDP.transition_operators` with ``action_major``), so that
sums and maxima over actions run along contiguous rows; :func:`soft_messages` takes and returns
the usual ``(S, A)``. The 48×48 gradient of ``experiments/bench_tabular.py`` went from 32 ms to
16 ms with this layout, the kept policy and int32 CSR indices (one thread, measured).

The formulas are those of :mod:`irl.solvers.value_iteration` and :mod:`irl.solvers.visitation`,
which stay the reference. One numerical choice differs: V is stored as ``u_t + c_t``, less a
per-step offset (:func:`finite_soft_values`), so float32 rounds V's spread within a step rather
than its magnitude. float64 agrees with the reference to ~1e-15; float32 comes ~10x closer to
float64 than the reference's own float32. An infinite horizon has a stationary ``(S, A)``
policy, already small: :func:`soft_messages` solves it with value iteration (optionally
warm-started) and :func:`~irl.solvers.visitation`.

The elementwise part of each step is a pure function (:func:`backward_step`,
:func:`policy_chunk`); ``fused=True`` runs them through ``torch.compile`` (one fused kernel per
step on a GPU). The plain functions are the reference and the CPU default.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch

from irl._checks import check_finite
from irl.envs.tabular import TabularMDP
from irl.solvers.tabular_common import expected_next, operators_for, reward_table
from irl.solvers.value_iteration import ValueResult, soft_policy_from_values, soft_value_iteration
from irl.solvers.visitation import split_initial, visitation

__all__ = ["CHUNK", "POLICY_BUDGET", "LeanSolution", "backward_step", "finite_soft_values", "finite_visitation",
           "policy_chunk", "policy_fits", "soft_messages"]


# ------------------------------------------------------------------ one step
#: the forward pass reuses the backward's policy table ``(T, A, S)`` when it takes at most this
#: many bytes (then each π_t costs one division in the backward), and otherwise rebuilds π from V
#: in chunks of :data:`CHUNK` steps (module docstring)
POLICY_BUDGET = 256 * 2**20
#: steps per rebuilt chunk: one sparse product for CHUNK columns of V; MKL's CSR × dense product is
#: fastest per column at 8 or fewer (14 µs a column against 37 µs for a single one and ~90 µs for
#: 16, 48×48 gridworld, one thread, measured)
CHUNK = 8


def backward_step(
    r: torch.Tensor, next_expected: torch.Tensor, gamma: float, temperature: float, n_env: int, policy: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One backward step, action-major: ``(w − m, m, π_t)`` from ``r`` and ``E[V_{t+1}]`` ``(A, S)``.

    ``w = α logsumexp_a (r + γ E[V_{t+1}])/α`` ``(S,)``; ``m`` (0-d) is its largest entry over the
    first ``n_env`` states; ``π_t = softmax_a`` ``(A, S)`` when ``policy``, else None. Action-major
    so that the reductions over actions run down contiguous rows (2x faster than over a last axis
    of 5 on the CPU, measured). ``next_expected`` is overwritten.
    """
    q = next_expected.mul_(gamma).add_(r)
    if temperature != 1.0:
        q = q.div_(temperature)
    top = q.amax(0)
    e = q.sub_(top).exp_()
    z = e.sum(0)
    w = torch.log(z).add_(top)
    if temperature != 1.0:
        w = w.mul_(temperature)
    shift = w[:n_env].max()
    return w.sub_(shift), shift, e.div_(z) if policy else None


def policy_chunk(
    r: torch.Tensor, next_expected: torch.Tensor, v: torch.Tensor, gamma: float, temperature: float,
    absorbing: int | None,
) -> torch.Tensor:
    """π of k steps rebuilt from values, ``(k, A, S)``: ``exp((r + γ E[V_{t+1}] − V_t)/α)`` from ``r``
    ``(A, S)``, ``E[V_{t+1}]`` ``(k, A, S)`` (overwritten) and ``V_t`` ``(k, S)`` (both in one frame:
    shifted by the same constant); the absorbing column is uniform.

    The exponent is clamped at 0 (π ≤ 1 against rounding); with V's offsets taken out it is small,
    so the plain ``exp`` is as close as a softmax, and faster.
    """
    pi = next_expected.mul_(gamma).add_(r).sub_(v.unsqueeze(1))
    if temperature != 1.0:
        pi.div_(temperature)
    pi.clamp_(max=0.0).exp_()
    if absorbing is not None:
        pi[:, :, absorbing] = 1.0 / pi.shape[1]
    return pi


@functools.cache
def _compiled(fn):
    return torch.compile(fn, dynamic=False)


def _steps(fused: bool):
    return (_compiled(backward_step), _compiled(policy_chunk)) if fused else (backward_step, policy_chunk)


def policy_fits(horizon: int, n_states: int, n_actions: int, dtype: torch.dtype) -> bool:
    """Whether the lean pass keeps the ``(T, A, S)`` policy table (within :data:`POLICY_BUDGET`)."""
    return horizon * n_states * n_actions * torch.finfo(dtype).bits // 8 <= POLICY_BUDGET


# ---------------------------------------------------------------- the passes
def finite_soft_values(
    r: torch.Tensor, P: torch.Tensor, horizon: int, *, gamma: float, temperature: float = 1.0,
    absorbing: int | None = None, fused: bool = False, keep_policy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Soft values of the reward ``r`` ``(A, S)`` (action-major) over ``horizon`` = T steps, as
    ``V_t = u_t + c_t``: ``(u, c, π)`` with ``u`` ``(T, S)`` in ``r``'s dtype, the per-step offsets
    ``c`` ``(T,)`` in float64, and with ``keep_policy`` the policy ``(T, A, S)`` (else None).

    ``P`` ``(A*S, S)`` is the action-major transition operator (sparse CSR or dense; row ``a*S + s``
    is ``P(. | s, a)``); the absorbing state (always the last), if any, is worth 0. Q is not kept.

    Why the offsets: V grows with the steps left, to hundreds, while π depends only on the
    differences of V within a step (its spread, tens). ``u`` holds V less its largest entry
    (over the environment's states) of each step, so float32 rounds the spread, not the
    magnitude: π and D are ~10x closer to float64 than with V stored as is (measured on 8x8 to
    32x32 gridworlds, H up to 256). A constant shift of ``V_{t+1}`` shifts every ``Q_t(s, ·)``
    alike (rows of P sum to 1), which changes no policy.
    """
    A, S = r.shape
    if P.shape != (S * A, S):
        raise ValueError(f"P must have shape ({S * A}, {S}) for r {tuple(r.shape)}, got {tuple(P.shape)}")
    step, _ = _steps(fused)
    n_env = S - 1 if absorbing is not None else S
    u = r.new_empty(horizon, S)
    policy = r.new_empty(horizon, A, S) if keep_policy else None
    c = torch.zeros(horizon + 1, dtype=torch.float64, device=r.device)  # c[T] = 0: V_T = 0
    u_next = r.new_zeros(S)
    for t in range(horizon - 1, -1, -1):
        u[t], shift, pi = step(r, (P @ u_next).view(A, S), gamma, temperature, n_env, keep_policy)
        torch.add(shift, c[t + 1], alpha=gamma, out=c[t])  # u_t = V_t − γ c_{t+1} − shift
        if absorbing is not None:
            u[t, absorbing] = -c[t]
        if keep_policy:
            policy[t] = pi
        u_next = u[t]
    # A finite reward can still overflow V (e.g. float32 over a long horizon): one check at the end.
    check_finite("value V of value iteration", u)
    check_finite("value V of value iteration", c)
    if keep_policy and absorbing is not None:
        policy[:, :, absorbing] = 1.0 / A
    return u, c[:horizon], policy


def finite_visitation(
    r: torch.Tensor, P: torch.Tensor, PT: torch.Tensor, u: torch.Tensor, c: torch.Tensor, initial: torch.Tensor,
    injections: torch.Tensor | None = None, *, gamma: float, temperature: float = 1.0,
    absorbing: int | None = None, fused: bool = False, policy: torch.Tensor | None = None,
    states: torch.Tensor | None = None,
) -> torch.Tensor:
    """Visitation ``D = Σ_t γ^t x_t`` ``(A, S)`` (action-major) of the soft-optimal policy of ``r``
    ``(A, S)``, whose values ``V_t = u_t + c_t`` (``u`` ``(T, S)``, ``c`` ``(T,)``) come from
    :func:`finite_soft_values`.

    ``P`` ``(A*S, S)`` and ``PT`` ``(S, A*S)`` are the action-major transition operators;
    ``initial`` ``(S,)`` is the mass at step 0, and ``injections`` ``(T, S)``, if given, adds
    ``injections[t]`` at each step t ≥ 1 (signed mass: :mod:`irl.solvers.visitation`). π_t comes
    from ``policy`` ``(T, A, S)`` when given (:func:`finite_soft_values` with ``keep_policy``),
    else is rebuilt from V :data:`CHUNK` steps at a time. ``states``, a ``(T, S)`` buffer if
    given, receives the state masses ``d_t`` (after each step's injection).
    """
    T, S = u.shape
    A = r.shape[0]
    if (r.shape != (A, S) or c.shape != (T,) or initial.shape != (S,)
            or (injections is not None and injections.shape != (T, S))
            or (policy is not None and policy.shape != (T, A, S))
            or (states is not None and states.shape != (T, S))):
        raise ValueError(f"expected r (A, S), u (T, S), c (T,), initial (S,), injections (T, S), policy (T, A, S), "
                         f"states (T, S); got {tuple(r.shape)}, {tuple(u.shape)}, {tuple(c.shape)}, "
                         f"{tuple(initial.shape)}, {None if injections is None else tuple(injections.shape)}, "
                         f"{None if policy is None else tuple(policy.shape)}, "
                         f"{None if states is None else tuple(states.shape)}")
    _, rebuild = _steps(fused)
    discount = (gamma ** torch.arange(T, dtype=torch.float64, device=r.device)).to(r.dtype)
    if policy is None:
        # In the frame of Q_t = r + γ P u_{t+1}, V_t reads u_t + (c_t − γ c_{t+1}).
        shifts = (c - gamma * torch.cat([c[1:], c.new_zeros(1)])).to(u.dtype)
        u_next = torch.cat([u[1:], u.new_zeros(1, S)])
    D = r.new_zeros(A * S)
    xs = r.new_empty(min(CHUNK, T), A * S)
    d = initial
    if states is not None:
        states[0] = initial
    for t0 in range(0, T, CHUNK):
        k = min(CHUNK, T - t0)
        if policy is not None:
            chunk = policy[t0:t0 + k]
        else:
            expected = (P @ u_next[t0:t0 + k].T).T.reshape(k, A, S)
            chunk = rebuild(r, expected, u[t0:t0 + k] + shifts[t0:t0 + k, None], gamma, temperature, absorbing)
        for j in range(k):
            t = t0 + j
            x = torch.mul(chunk[j], d, out=xs[j].view(A, S)).view(-1)  # x_t = d_t π_t
            if t + 1 < T:
                out = None if states is None else states[t + 1]
                d = (torch.mv(PT, x, out=out) if injections is None
                     else torch.addmv(injections[t + 1], PT, x, out=out))
        D.addmv_(xs[:k].T, discount[t0:t0 + k])
    return D.view(A, S)


# ------------------------------------------------------------- on an MDP
@dataclass(frozen=True, eq=False)
class LeanSolution:
    """A finite-horizon soft solution that stores ``V = u + c`` (and π when it fits
    :data:`POLICY_BUDGET`); reads like :class:`ValueResult`.

    ``v`` ``(T, S)`` and ``q``, ``policy``, ``log_policy`` ``(T, S, A)`` are built on first use
    (then kept); :meth:`log_policy_at` and :meth:`total_value` need none of them.

    Fields:
        mdp: the model (finite horizon).
        reward: ``(S, A)`` the reward table.
        u: ``(T, S)`` values less their per-step offset (:func:`finite_soft_values`).
        c: ``(T,)`` float64 offsets: ``V_t = u_t + c_t``.
        temperature: α.
        iterations: backups performed (T).
        converged: always True (the recursion is exact).
        kept_policy: ``(T, A, S)`` π, action-major, when the pass kept it (:data:`POLICY_BUDGET`), else None.
        states: ``(T, S)`` the forward pass's state masses ``d_t``, kept along with π, else None.
    """

    mdp: TabularMDP
    reward: torch.Tensor
    u: torch.Tensor
    c: torch.Tensor
    temperature: float
    iterations: int
    converged: bool = True
    kept_policy: torch.Tensor | None = None
    states: torch.Tensor | None = None

    def _next(self, x: torch.Tensor) -> torch.Tensor:
        """``x_{t+1}`` for each t, with ``x_T = 0``: ``(T, ...)``."""
        return torch.cat([x[1:], x.new_zeros(1, *x.shape[1:])])

    def _frame_v(self) -> torch.Tensor:
        """``(T, S)`` ``V_t − γ c_{t+1}``, the values in the frame of :meth:`_frame_q`."""
        shifts = self.c - self.mdp.gamma * self._next(self.c)
        return self.u + shifts.to(self.u.dtype).unsqueeze(-1)

    @functools.cached_property
    def _frame_q(self) -> torch.Tensor:
        """``(T, S, A)`` ``Q_t − γ c_{t+1} = r + γ P u_{t+1}``."""
        P, _ = operators_for(self.mdp, self.reward)
        A = self.reward.shape[1]
        return torch.stack([torch.add(self.reward, expected_next(P, un, A), alpha=self.mdp.gamma)
                            for un in self._next(self.u)])

    @functools.cached_property
    def v(self) -> torch.Tensor:
        """``(T, S)`` soft values ``V_t``."""
        return self.u + self.c.to(self.u.dtype).unsqueeze(-1)

    @property
    def q(self) -> torch.Tensor:
        """``(T, S, A)`` ``Q_t = r + γ P V_{t+1}``."""
        offsets = self.mdp.gamma * self._next(self.c)
        return self._frame_q + offsets.to(self.u.dtype)[:, None, None]

    @functools.cached_property
    def policy(self) -> torch.Tensor:
        """``(T, S, A)`` π, by the rule of :func:`~irl.solvers.soft_value_iteration` (the kept table, if any)."""
        if self.kept_policy is not None:
            return self.kept_policy.transpose(1, 2).contiguous()
        return soft_policy_from_values(self._frame_q, self._frame_v(), self.temperature, self.mdp.absorbing)

    @property
    def log_policy(self) -> torch.Tensor:
        """``(T, S, A)`` ``log π = (Q − V)/α``."""
        return (self._frame_q - self._frame_v().unsqueeze(-1)) / self.temperature

    def log_policy_at(
        self, states: torch.Tensor, actions: torch.Tensor, timesteps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``log π_t(a|s)`` ``(N,)`` at ``N`` steps, from the successor lists: no ``(T, S, A)`` table."""
        if timesteps is None:
            raise ValueError("a time-indexed policy needs the timesteps of the steps")
        r = self.reward
        states, actions, timesteps = states.to(r.device), actions.to(r.device), timesteps.to(r.device)
        succ = self.mdp.next_states.to(r.device)[states, actions]  # (N, K)
        probs = self.mdp.next_probs.to(r.device, r.dtype)[states, actions]
        expected = (probs * self._next(self.u)[timesteps.unsqueeze(-1), succ]).sum(-1)
        q = r[states, actions] + self.mdp.gamma * expected
        return (q - self._frame_v()[timesteps, states]) / self.temperature

    def total_value(self, weights: torch.Tensor) -> torch.Tensor:
        """``Σ_{t,s} w_t(s) V_t(s)``, a 0-d tensor, for weights ``(T, S)``; the offsets are summed apart."""
        if weights.shape != self.u.shape:
            raise ValueError(f"weights must have shape {tuple(self.u.shape)}, got {tuple(weights.shape)}")
        w = weights.to(self.u.dtype)
        return (w * self.u).sum() + (w.sum(-1).to(self.c.dtype) * self.c).sum().to(self.u.dtype)


def soft_messages(
    mdp: TabularMDP, reward: Any, *, initial: torch.Tensor | None = None, temperature: float = 1.0,
    tol: float | None = None, v_init: torch.Tensor | None = None, fused: bool = False,
) -> tuple[LeanSolution | ValueResult, torch.Tensor]:
    """The soft solution of ``reward`` ``(S,)`` or ``(S, A)`` and its visitation ``D`` ``(S, A)``.

    Finite horizon: the lean pass (V, and π within :data:`POLICY_BUDGET`; module docstring) and a
    :class:`LeanSolution`.
    Infinite horizon: :func:`~irl.solvers.soft_value_iteration` (from ``v_init`` ``(S,)`` if
    given) and its :class:`ValueResult`. ``initial`` is as for :func:`~irl.solvers.visitation`
    (``(S,)``, or ``(T, S)`` mass injected per step); ``tol`` bounds the infinite-horizon
    passes; ``fused`` compiles the per-step functions (finite horizon).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    r = reward_table(mdp, reward)
    if mdp.horizon is None:
        solution = soft_value_iteration(mdp, r, temperature=temperature, tol=tol, v_init=v_init)
        return solution, visitation(mdp, solution.policy, initial=initial, tol=tol)
    if v_init is not None:
        raise ValueError("v_init applies to an infinite horizon only: a finite horizon is solved exactly in T steps")
    check_finite("reward given to value iteration", r)
    P, PT = mdp.transition_operators(r.device, r.dtype, action_major=True)
    d, injections = split_initial(mdp, initial, r)
    kw = {"gamma": mdp.gamma, "temperature": temperature, "absorbing": mdp.absorbing, "fused": fused}
    rT = r.T.contiguous()
    keep = policy_fits(mdp.horizon, mdp.n_states, mdp.n_actions, r.dtype)
    u, c, policy = finite_soft_values(rT, P, mdp.horizon, keep_policy=keep, **kw)
    states = r.new_empty(mdp.horizon, mdp.n_states) if keep else None
    D = finite_visitation(rT, P, PT, u, c, d, injections, policy=policy, states=states, **kw)
    solution = LeanSolution(mdp, r, u, c, temperature, mdp.horizon, kept_policy=policy, states=states)
    return solution, D.T.contiguous()
