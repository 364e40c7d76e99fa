"""How well a policy explains tabular demos: visitation, feature-expectation gap, log-likelihood.

Demos of a tabular task have integer observations (the environment's state
index, shape ``(N,)`` or ``(N, 1)``) and integer actions.

Empirical visitation, on the same footing as :func:`irl.solvers.visitation`
(per episode, discounted by ``γ^t`` with ``t`` = the step's index in its episode,
γ = ``mdp.gamma``):

    D_demo(s, a) = (1/E) Σ_episodes Σ_t γ^t 1[s_t = s, a_t = a].

An episode that **terminated** after ``L`` steps stays in the absorbing state
for the rest of the problem, as the model does: steps ``L .. T-1`` of a horizon
``T`` (or all ``t >= L`` when discounted without a horizon, mass
``γ^L / (1 - γ)``) are added to the absorbing state's row, split evenly over the
actions (the absorbing state's features are 0, so only the total mass sees it;
a soft-optimal policy is uniform there too). An episode **truncated** (or just
ending) before the horizon counts only its own steps: the demos do not say
what came after, so its mass is ``Σ_{t<L} γ^t``, less than the model's.
Episodes longer than ``mdp.horizon`` are an error: the model has no such steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from irl.data import Demos
from irl.envs.tabular import TabularMDP
from irl.solvers import visitation


def _integers(name: str, x: np.ndarray, high: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(f"tabular demos need scalar {name} (shape (N,) or (N, 1)), got shape {x.shape}")
    idx = x.astype(np.int64)
    if (idx != x).any() or idx.min() < 0 or idx.max() >= high:
        raise ValueError(f"demo {name} must be integers in 0..{high - 1} for this MDP")
    return idx


def demo_indices(mdp: TabularMDP, demos: Demos) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """States, actions and timesteps ``(N,)`` int64 of the demos' steps, checked against ``mdp``."""
    states = _integers("observations", demos.observations, mdp.n_env_states)
    actions = _integers("actions", demos.actions, mdp.n_actions)
    t = demos.timestep
    if mdp.horizon is not None and int(demos.episode_lengths.max()) > mdp.horizon:
        raise ValueError(
            f"an episode of the demos has {int(demos.episode_lengths.max())} steps, more than the MDP's "
            f"horizon {mdp.horizon}; use an MDP with a longer horizon or cut the demos"
        )
    return states, actions, t


def demo_visitation(mdp: TabularMDP, demos: Demos) -> torch.Tensor:
    """Empirical (discounted) state-action visitation ``(S, A)`` per episode (module docstring).

    Same dtype and device as ``mdp``; rows include the absorbing state. For a
    finite horizon ``T`` each terminated or full-length episode has mass
    ``Σ_{t<T} γ^t`` (``T`` undiscounted), the same as ``visitation(mdp, policy)``.
    """
    states, actions, t = demo_indices(mdp, demos)
    gamma = mdp.gamma
    S, A = mdp.n_states, mdp.n_actions
    D = np.zeros((S, A))
    np.add.at(D, (states, actions), gamma ** t.astype(np.float64))
    ended = demos.episode_ends - 1
    lengths = demos.episode_lengths
    terminated = demos.terminals[ended]
    if terminated.any():
        if mdp.absorbing is None:
            raise ValueError("the demos have terminated episodes but the MDP has no absorbing state")
        L = lengths[terminated].astype(np.float64)
        if mdp.horizon is not None:
            T = mdp.horizon
            # Σ_{t=L}^{T-1} γ^t
            pad = (T - L) if gamma == 1.0 else (gamma**L - gamma**T) / (1.0 - gamma)
        else:
            pad = gamma**L / (1.0 - gamma)
        D[mdp.absorbing] += pad.sum() / A
    D /= demos.n_episodes
    return torch.as_tensor(D, dtype=mdp.dtype, device=mdp.device)


def expected_features(mdp: TabularMDP, visitation: torch.Tensor) -> torch.Tensor:
    """Feature expectations ``μ = Σ_{s,a} D(s, a) φ(s[, a])`` ``(F,)`` from a visitation ``(S, A)``."""
    if mdp.features is None:
        raise ValueError("the MDP has no features")
    phi = mdp.features.to(visitation.dtype)
    if visitation.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(
            f"visitation must be ({mdp.n_states}, {mdp.n_actions}), got {tuple(visitation.shape)}"
        )
    if phi.ndim == 2:
        return visitation.sum(-1) @ phi
    return torch.einsum("sa,saf->f", visitation, phi)


def feature_expectation_gap(mdp: TabularMDP, demos: Demos, policy: Any) -> float:
    """``‖μ_demo − μ_π‖₂``: demo feature expectations vs ``policy``'s (``(S, A)`` or ``(T, S, A)``).

    ``μ_demo`` comes from :func:`demo_visitation`, ``μ_π`` from
    :func:`irl.solvers.visitation` (Abbeel & Ng 2004, eq. 8 / Ziebart et al. 2008, eq. 1).
    """
    policy = torch.as_tensor(policy).to(device=mdp.device, dtype=mdp.dtype)
    if policy.ndim in (2, 3) and policy.shape[-2] == mdp.n_env_states < mdp.n_states:
        uniform = policy.new_full((*policy.shape[:-2], 1, mdp.n_actions), 1.0 / mdp.n_actions)
        policy = torch.cat([policy, uniform], dim=-2)  # any policy will do in the absorbing state
    mu_demo = expected_features(mdp, demo_visitation(mdp, demos))
    mu_pi = expected_features(mdp, visitation(mdp, policy))
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
