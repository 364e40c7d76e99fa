"""Backward messages: soft and hard value iteration, and exact policy evaluation.

Soft value iteration is the backward pass of control as inference (Levine 2018,
"Reinforcement Learning and Control as Probabilistic Inference", eqs. 7-9 and
the discounted form of Sec. 4; Ziebart 2010 for the finite-horizon recursion):

    Q_t(s, a) = r(s, a) + γ Σ_s' P(s'|s,a) V_{t+1}(s')
    V_t(s)    = α log Σ_a exp(Q_t(s, a) / α)
    π_t(a|s)  = exp((Q_t(s, a) - V_t(s)) / α)

With ``mdp.horizon = T`` it runs T steps back from ``V_T = 0`` and returns
time-indexed tables (index 0 = first step). Without a horizon it iterates the
discounted (stationary) backup to a tolerance. Shapes: S states, A actions.

The absorbing state of a terminating MDP is worth exactly 0 (soft or hard): the
episode is over, so it earns neither reward nor an entropy bonus for the
choices it no longer makes. Its policy is uniform and never matters.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from irl._checks import NonFiniteError, check_finite
from irl.envs.tabular import TabularMDP
from irl.solvers.soft_bellman import soft_backup, soft_policy, soft_value
from irl.solvers.tabular_common import default_tol, expected_next, operators_for, reward_table


@dataclass(frozen=True, eq=False)
class ValueResult:
    """Values and a policy for one reward.

    Fields:
        q: ``(S, A)`` or, for a finite horizon, ``(T, S, A)``.
        v: ``(S,)`` or ``(T, S)``.
        policy: ``(S, A)`` or ``(T, S, A)``, rows sum to 1.
        temperature: α for soft results, 0 for hard ones.
        iterations: backups performed.
        converged: False if an infinite-horizon iteration hit ``max_iters``.
    """

    q: torch.Tensor
    v: torch.Tensor
    policy: torch.Tensor
    temperature: float
    iterations: int
    converged: bool

    @property
    def log_policy(self) -> torch.Tensor:
        """``log π``; exact for soft results (``(Q - V)/α``), ``log`` of the greedy policy for hard ones."""
        if self.temperature > 0:
            return (self.q - self.v.unsqueeze(-1)) / self.temperature
        return torch.log(self.policy)

    def log_policy_at(
        self, states: torch.Tensor, actions: torch.Tensor, timesteps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``log π_t(a|s)`` ``(N,)`` at ``N`` steps ``(states, actions[, timesteps])``; the time index is
        needed (and used) only by a time-indexed result."""
        logp = self.log_policy
        states, actions = states.to(logp.device), actions.to(logp.device)
        if logp.ndim == 3:
            if timesteps is None:
                raise ValueError("a time-indexed policy needs the timesteps of the steps")
            return logp[timesteps.to(logp.device), states, actions]
        return logp[states, actions]


def soft_policy_from_values(
    q: torch.Tensor, v: torch.Tensor, temperature: float, absorbing: int | None
) -> torch.Tensor:
    """``π = exp((Q − V)/α)`` ``(..., S, A)`` from ``Q`` ``(..., S, A)`` and its soft value ``V`` ``(..., S)``.

    float64: the exponent as it stands (clamped at 0). A batched softmax over the short action
    axis was 5x slower (measured), and the rounding of V (relative 1e-16 of its size) leaves π
    normalised to ~1e-7 even at ``|V|/α = 1e9``. Lower precision: V's rounding is too coarse at
    large ``|V|/α``, so it is a softmax (shifted by the row max). The absorbing row, whose V was
    set to 0 rather than ``α log A``, is uniform.
    """
    if q.shape[:-1] != v.shape:
        raise ValueError(f"q (..., S, A) and v (..., S) must agree; got {tuple(q.shape)} and {tuple(v.shape)}")
    if q.dtype == torch.float64:
        pi = torch.sub(q, v.unsqueeze(-1))
        if temperature != 1.0:
            pi.div_(temperature)
        pi.clamp_(max=0.0).exp_()
    else:
        pi = soft_policy(q, temperature)
    if absorbing is not None:
        pi[..., absorbing, :] = 1.0 / q.shape[-1]
    return pi


def _hard_backup(q: torch.Tensor, tie_tol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``V = max_a Q`` ``(S,)`` and the greedy policy ``(S, A)``, uniform over the actions within
    ``tie_tol`` of the max."""
    v = q.amax(dim=-1)
    best = (q >= v.unsqueeze(-1) - tie_tol).to(q.dtype)
    return v, best / best.sum(dim=-1, keepdim=True)


def soft_value_iteration(
    mdp: TabularMDP,
    reward: Any,
    *,
    temperature: float = 1.0,
    tol: float | None = None,
    max_iters: int = 100_000,
    v_init: torch.Tensor | None = None,
) -> ValueResult:
    """Soft-optimal Q, V and policy of ``reward`` on ``mdp`` (control as inference backward pass).

    Args:
        mdp: the model; its ``horizon`` selects finite-horizon (time-indexed) or
            discounted (stationary) solutions.
        reward: ``(S,)`` or ``(S, A)``, torch or numpy; the result follows its
            dtype and device.
        temperature: α > 0. As α → 0 this approaches hard value iteration.
        tol: infinite horizon only: stop when the values are within ``tol``
            (relative to their scale) of the fixed point. Default near round-off.
        max_iters: infinite horizon only: cap on backups.
        v_init: infinite horizon only: ``(S,)`` values to start from instead of 0 (a warm
            start, e.g. the previous reward's ``v`` in an optimiser's loop). The stopping rule
            and the fixed point are the same; a nearby start only needs fewer backups.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    r = reward_table(mdp, reward)
    return _value_iteration(mdp, r, temperature=temperature, tie_tol=0.0, tol=tol, max_iters=max_iters,
                            v_init=v_init)


def hard_value_iteration(
    mdp: TabularMDP, reward: Any, *, tol: float | None = None, max_iters: int = 100_000
) -> ValueResult:
    """Optimal Q, V and a greedy policy (ties split uniformly) of ``reward`` on ``mdp``."""
    r = reward_table(mdp, reward)
    tie_tol = (1e-9 if r.dtype == torch.float64 else 1e-4) * max(1.0, float(r.abs().max()))
    return _value_iteration(mdp, r, temperature=0.0, tie_tol=tie_tol, tol=tol, max_iters=max_iters)


def _value_iteration(
    mdp: TabularMDP,
    r: torch.Tensor,
    *,
    temperature: float,
    tie_tol: float,
    tol: float | None,
    max_iters: int,
    v_init: torch.Tensor | None = None,
) -> ValueResult:
    """The backward pass for the reward table ``r`` ``(S, A)``: soft at ``temperature`` > 0
    (:func:`irl.solvers.soft_bellman.soft_backup`), hard (greedy, ties within ``tie_tol``) at 0;
    an infinite horizon starts from ``v_init`` ``(S,)`` when given, else from 0."""
    check_finite("reward given to value iteration", r)
    if v_init is not None and mdp.horizon is not None:
        raise ValueError("v_init applies to an infinite horizon only: a finite horizon is solved exactly in T steps")
    P, _ = operators_for(mdp, r)
    S, A = r.shape
    gamma = mdp.gamma
    absorbing = mdp.absorbing
    soft = temperature > 0

    def backup(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return soft_backup(q, temperature) if soft else _hard_backup(q, tie_tol)

    if mdp.horizon is not None:
        T = mdp.horizon
        q = r.new_empty(T, S, A)
        v = r.new_empty(T, S)
        pi = None if soft else r.new_empty(T, S, A)
        v_next = r.new_zeros(S)
        for t in range(T - 1, -1, -1):
            torch.add(r, expected_next(P, v_next, A), alpha=gamma, out=q[t])
            if soft:  # only V in the loop; the policy of all steps in one batched softmax below
                v[t] = soft_value(q[t], temperature)
            else:
                v[t], pi[t] = backup(q[t])
            if absorbing is not None:
                v[t, absorbing] = 0.0
            v_next = v[t]
        if soft:  # one batched π for all steps, from the V of the loop
            pi = soft_policy_from_values(q, v, temperature, absorbing)
        # A finite reward can still overflow V (e.g. float32 over a long horizon): one check at the end.
        check_finite("value V of value iteration", v)
        return ValueResult(q, v, pi, temperature, T, True)

    tol = default_tol(r.dtype) if tol is None else tol
    # ||V_k - V*|| <= γ/(1-γ) ||V_k - V_{k-1}||: stop when that bound is below tol * scale.
    step_tol = tol * (1.0 - gamma) / max(gamma, 1e-12)
    v = r.new_zeros(S) if v_init is None else _start_values(v_init, r, absorbing)
    converged = False
    check_every = 1 if r.device.type == "cpu" else 16  # a convergence check syncs the device
    it = 0
    for it in range(1, max_iters + 1):
        q = torch.add(r, expected_next(P, v, A), alpha=gamma)
        v_new, pi = backup(q)
        if absorbing is not None:
            v_new[absorbing] = 0.0
        if it % check_every == 0:
            delta = float((v_new - v).abs().max())
            if not math.isfinite(delta):  # NaN never meets the tolerance: stop at the first one
                raise NonFiniteError(f"the value V of value iteration is not finite at backup {it}")
            scale = max(1.0, float(v_new.abs().max()))
            if delta <= step_tol * scale:
                v = v_new
                converged = True
                break
        v = v_new
    if not converged:
        warnings.warn(f"value iteration did not converge in {max_iters} iterations", RuntimeWarning, stacklevel=3)
    return ValueResult(q, v, pi, temperature, it, converged)


def _start_values(v_init: torch.Tensor, r: torch.Tensor, absorbing: int | None) -> torch.Tensor:
    """``v_init`` as a fresh ``(S,)`` tensor on ``r``'s device and dtype, 0 at the absorbing state."""
    v = torch.as_tensor(v_init).to(device=r.device, dtype=r.dtype).clone()
    if v.shape != (r.shape[0],):
        raise ValueError(f"v_init must have shape ({r.shape[0]},), got {tuple(v.shape)}")
    check_finite("v_init of value iteration", v)
    if absorbing is not None:
        v[absorbing] = 0.0
    return v


@dataclass(frozen=True, eq=False)
class PolicyValues:
    """``q`` and ``v`` of a fixed policy: shapes as in :class:`ValueResult`."""

    q: torch.Tensor
    v: torch.Tensor


def policy_evaluation(
    mdp: TabularMDP,
    reward: Any,
    policy: torch.Tensor,
    *,
    tol: float | None = None,
    max_iters: int = 100_000,
    dense_limit: int = 4096,
) -> PolicyValues:
    """Exact values of ``policy`` ``(S, A)`` or ``(T, S, A)`` under ``reward`` on ``mdp``.

    Finite horizon: the backward recursion (exact). Infinite horizon: a dense
    linear solve ``(I - γ P_π) v = r_π`` when ``S <= dense_limit``, else
    iteration to ``tol``.
    """
    r = reward_table(mdp, reward)
    policy = torch.as_tensor(policy).to(device=r.device, dtype=r.dtype)
    P, _ = operators_for(mdp, r)
    S, A = r.shape
    gamma = mdp.gamma
    if mdp.horizon is not None:
        T = mdp.horizon
        pis = _time_indexed(policy, T, S, A)
        q = r.new_empty(T, S, A)
        v = r.new_empty(T, S)
        v_next = r.new_zeros(S)
        for t in range(T - 1, -1, -1):
            torch.add(r, expected_next(P, v_next, A), alpha=gamma, out=q[t])
            v[t] = (pis[t] * q[t]).sum(-1)
            v_next = v[t]
        return PolicyValues(q, v)

    if policy.shape != (S, A):
        raise ValueError(f"a stationary policy must have shape ({S}, {A}), got {tuple(policy.shape)}")
    r_pi = (policy * r).sum(-1)
    if S <= dense_limit:
        P_pi = torch.einsum("sa,sat->st", policy, mdp.dense_transitions().to(r.device, r.dtype))
        eye = torch.eye(S, dtype=r.dtype, device=r.device)
        v = torch.linalg.solve(eye - gamma * P_pi, r_pi)
    else:
        tol = default_tol(r.dtype) if tol is None else tol
        v = r.new_zeros(S)
        n = min(max_iters, int(math.ceil(math.log(tol) / math.log(gamma))) + 1) if gamma > 0 else 1
        for _ in range(n):
            v = r_pi + gamma * (policy * expected_next(P, v, A)).sum(-1)
    q = torch.add(r, expected_next(P, v, A), alpha=gamma)
    return PolicyValues(q, v)


def expected_return(mdp: TabularMDP, reward: Any, policy: torch.Tensor) -> torch.Tensor:
    """Expected (discounted) return of ``policy`` from the initial distribution, a 0-d tensor."""
    values = policy_evaluation(mdp, reward, policy)
    v0 = values.v[0] if mdp.horizon is not None else values.v
    return (mdp.initial.to(v0.device, v0.dtype) * v0).sum()


def _time_indexed(policy: torch.Tensor, T: int, S: int, A: int) -> torch.Tensor:
    """``(T, S, A)`` view of a stationary ``(S, A)`` or time-indexed ``(T, S, A)`` policy."""
    if policy.shape == (S, A):
        return policy.unsqueeze(0).expand(T, S, A)
    if policy.shape == (T, S, A):
        return policy
    raise ValueError(f"policy must have shape ({S}, {A}) or ({T}, {S}, {A}), got {tuple(policy.shape)}")
