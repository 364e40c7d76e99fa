"""Forward messages: expected state and state-action visitation of a policy.

    d_0 = ρ_0,   x_t(s, a) = d_t(s) π_t(a|s),   d_{t+1}(s') = Σ_{s,a} x_t(s, a) P(s'|s,a)

Finite horizon T: ``D = Σ_{t<T} γ^t x_t`` (γ = ``mdp.discount``, default 1, so
the total mass is T). Infinite horizon: ``D = Σ_t γ^t x_t`` with total mass
``1/(1-γ)``, summed until the mass left is below ``tol`` of the total.
An absorbing state keeps its mass, so totals hold for terminating tasks too.

With a finite horizon, ``initial`` may also be ``(T, S)``: mass injected at each
step, ``d_t ← d_t + initial[t]`` (signed mass is allowed). Exact MaxEnt IRL uses
this to remove the steps that truncated demonstrations never reached.

Feature expectations are a visitation seen through the features,
``μ = Σ_{s,a} D(s, a) φ(s[, a])`` (:func:`feature_expectations`): the same function
serves the demos' counts and a policy's visitation.
"""

from __future__ import annotations

import math

import torch

from irl.envs.tabular import TabularMDP
from irl.solvers.tabular_common import default_tol, initial_for, operators_for, push_forward
from irl.solvers.value_iteration import _time_indexed


def visitation(
    mdp: TabularMDP,
    policy: torch.Tensor,
    *,
    initial: torch.Tensor | None = None,
    tol: float | None = None,
) -> torch.Tensor:
    """Expected (discounted) state-action visitation ``(S, A)`` of ``policy``.

    Args:
        mdp: the model.
        policy: ``(S, A)`` stationary or ``(T, S, A)`` time-indexed (finite horizon).
        initial: ``(S,)`` start distribution (default ``mdp.initial``), or with a
            finite horizon ``(T, S)`` mass injected at each step.
        tol: infinite horizon only: relative mass left out of the sum.
    """
    D, _ = _forward(mdp, policy, initial, tol, keep_states=False)
    return D


def state_visitation(
    mdp: TabularMDP,
    policy: torch.Tensor,
    *,
    initial: torch.Tensor | None = None,
    tol: float | None = None,
) -> torch.Tensor:
    """Per-step state distributions ``(T, S)`` (finite horizon), or discounted state visitation ``(S,)``."""
    D, per_step = _forward(mdp, policy, initial, tol, keep_states=mdp.horizon is not None)
    return per_step if mdp.horizon is not None else D.sum(-1)


def feature_expectations(features: torch.Tensor, visitation: torch.Tensor) -> torch.Tensor:
    """``μ = Σ_{s,a} D(s, a) φ(s[, a])`` ``(F,)`` from features ``(S, F)`` or ``(S, A, F)`` and ``D (S, A)``.

    Abbeel & Ng 2004, Sec. 2 (feature expectations); Ziebart et al. 2008, eq. 1. With ``D`` a
    (discounted) visitation the expectation is exact; with the demos' ``γ^t``-weighted counts it is
    their empirical estimate. The result follows ``D``'s dtype and device.
    """
    if visitation.ndim != 2 or features.ndim not in (2, 3) or features.shape[0] != visitation.shape[0] or (
        features.ndim == 3 and features.shape[1] != visitation.shape[1]
    ):
        raise ValueError(
            f"features must be (S, F) or (S, A, F) and visitation (S, A); got {tuple(features.shape)} "
            f"and {tuple(visitation.shape)}"
        )
    phi = features.to(visitation.dtype)
    if phi.ndim == 2:
        return visitation.sum(-1) @ phi
    return torch.einsum("sa,saf->f", visitation, phi)


def split_initial(
    mdp: TabularMDP, initial: torch.Tensor | None, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The step-0 mass ``(S,)`` and, for a time-indexed ``initial`` ``(T, S)``, the whole of it as the
    per-step injections (else None); on ``like``'s device and dtype, ``mdp.initial`` when None."""
    S, T = mdp.n_states, mdp.horizon
    d = initial_for(mdp, like) if initial is None else torch.as_tensor(initial).to(like.device, like.dtype)
    if T is not None and d.shape == (T, S):
        return d[0], d
    if d.shape != (S,):
        expected = f"({S},)" + (f" or ({T}, {S})" if T is not None else "")
        raise ValueError(f"initial must have shape {expected}, got {tuple(d.shape)}")
    return d, None


def _forward(mdp, policy, initial, tol, keep_states):
    policy = torch.as_tensor(policy)
    if not policy.is_floating_point():
        raise TypeError("policy must be a floating tensor")
    S, A = mdp.n_states, mdp.n_actions
    _, PT = operators_for(mdp, policy)
    d, injections = split_initial(mdp, initial, policy)
    T = mdp.horizon
    gamma = mdp.gamma
    D = policy.new_zeros(S, A)
    if T is not None:
        pis = _time_indexed(policy, T, S, A)
        per_step = policy.new_empty(T, S) if keep_states else None
        weight = 1.0
        for t in range(T):
            if injections is not None and t > 0:
                d = d + injections[t]
            if per_step is not None:
                per_step[t] = d
            x = d.unsqueeze(-1) * pis[t]
            D.add_(x, alpha=weight)
            if t + 1 < T:
                d = push_forward(PT, x)
            weight *= gamma
        return D, per_step

    if policy.shape != (S, A):
        raise ValueError(f"an infinite-horizon visitation needs a stationary ({S}, {A}) policy")
    tol = default_tol(policy.dtype) if tol is None else tol
    steps = int(math.ceil(math.log(tol) / math.log(gamma))) if gamma > 0 else 1
    weight = 1.0
    for _ in range(max(1, steps)):
        x = d.unsqueeze(-1) * policy
        D.add_(x, alpha=weight)
        d = push_forward(PT, x)
        weight *= gamma
    return D, None
