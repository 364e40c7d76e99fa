"""Demonstrations on a tabular MDP, counted on the same footing as model visitation.

Exact MaxEnt IRL compares the demos' state-action counts with the visitation of
the model policy. The two only compare if they cover the same steps:

- counts are ``γ^t``-weighted (γ = ``mdp.gamma``) and averaged over episodes;
- an episode that **terminated** after L < T steps sits in the absorbing state for
  the remaining steps; its counts there are spread uniformly over actions (the
  absorbing reward is fixed at 0, so they never enter a gradient);
- an episode **truncated** after L steps (time limit, or data that just stops)
  says nothing about steps L, L+1, ...; so the model's mass for it is removed at
  step L: ``start_mass`` holds ``+1/E`` at each episode's first state at t = 0 and
  ``-1/E`` at a truncated episode's last next-state at t = L.

``start_mass`` is ``(T, S)`` for a finite horizon (pass it as ``initial`` to
:func:`irl.solvers.visitation`), and ``(S,)`` for an infinite one, where the
truncation term carries its discount ``γ^L`` directly.

``likelihood_mass`` (MaxEnt's footing) adds, for every demo step, the difference
between the state it really led to and the model's expectation, ``δ(s_{t+1}) −
P(·|s_t, a_t)`` at step t+1 (the absorbing state for a terminating step; nothing past
the horizon). A forward pass from it visits, from every realised state, what the
policy would do there, so MaxEnt's objective is exactly the demos' discounted
log-likelihood ``Σ_t γ^t log π_t(a_t|s_t) ≤ 0`` (:mod:`irl.inverse.maxent_objective`).
For deterministic dynamics the differences vanish and both masses agree. With
stochastic dynamics the start-only form (Ziebart 2008) is the likelihood only on
average over the dynamics; with truncated episodes it is not even bounded above (a
reward can value the states where the demos happened to be cut more than the start
can reach them, without limit), and the episodes that terminated before a cut are a
biased sample of fast ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from irl.data import Demos
from irl.envs.tabular import MDPError, TabularMDP


@dataclass(frozen=True, eq=False)
class DemoCounts:
    """Demos mapped onto a tabular MDP.

    Fields (N demo steps, E episodes, S states incl. absorbing, A actions):
        states, actions, timesteps: ``(N,)`` int64 per demo step.
        weights: ``(N,)`` ``γ^t / E`` per step.
        counts: ``(S, A)`` ``Σ_steps weights · e(s_t, a_t)`` plus absorbing padding: the demos'
            empirical visitation per episode (also ``irl.metrics.demo_visitation``).
        start_mass: ``(T, S)`` or ``(S,)`` signed start mass for the model's forward pass.
        likelihood_mass: ``start_mass`` plus, per demo step, the realised next state
            minus its expectation (MaxEnt's footing; module docstring).
        n_episodes: E.
    """

    states: torch.Tensor
    actions: torch.Tensor
    timesteps: torch.Tensor
    weights: torch.Tensor
    counts: torch.Tensor
    start_mass: torch.Tensor
    likelihood_mass: torch.Tensor
    n_episodes: int

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> DemoCounts:
        """A copy on ``device`` with the floating tensors in ``dtype``."""
        f = lambda x: x.to(device=device, dtype=dtype or x.dtype)  # noqa: E731
        i = lambda x: x.to(device=device)  # noqa: E731
        return DemoCounts(
            i(self.states), i(self.actions), i(self.timesteps), f(self.weights), f(self.counts), f(self.start_mass),
            f(self.likelihood_mass), self.n_episodes,
        )


def demo_indices(mdp: TabularMDP, demos: Demos) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """States, actions and timesteps ``(N,)`` int64 of the demo steps, checked against ``mdp``.

    Observations and actions must be state and action indices (shape ``(N,)`` or ``(N, 1)``,
    integer values in range), and no episode may be longer than the horizon: the model has no
    such steps.
    """
    obs = _as_indices(demos.observations, "observations", mdp.n_env_states)
    act = _as_indices(demos.actions, "actions", mdp.n_actions)
    lengths = demos.episode_lengths
    T = mdp.horizon
    if T is not None and lengths.max() > T:
        i = int(np.argmax(lengths))
        raise MDPError(f"demo episode {i} has {int(lengths[i])} steps, more than the MDP's horizon {T}: "
                       "use an MDP with a longer horizon or cut the demos")
    return obs, act, demos.timestep.astype(np.int64)


def demo_counts(mdp: TabularMDP, demos: Demos, *, dtype: torch.dtype = torch.float64) -> DemoCounts:
    """Count ``demos`` on ``mdp`` (see the module docstring); observations must be state indices.

    An episode that terminated before the model's end needs the absorbing state to spend the
    remaining steps in: :class:`MDPError` when ``mdp`` has none.
    """
    S, A, T = mdp.n_states, mdp.n_actions, mdp.horizon
    obs, act, t = demo_indices(mdp, demos)
    nxt = _as_indices(demos.next_observations, "next_observations", mdp.n_env_states)
    lengths = demos.episode_lengths
    E = demos.n_episodes
    gamma = mdp.gamma
    w = gamma ** t.astype(np.float64) / E

    counts = np.zeros((S, A))
    np.add.at(counts, (obs, act), w)
    last = demos.episode_ends - 1
    terminated = demos.terminals[last]
    early = terminated & ((lengths < T) if T is not None else True)
    if mdp.absorbing is None and early.any():
        i = int(np.flatnonzero(early)[0])
        raise MDPError(f"demo episode {i} terminated after {int(lengths[i])} steps, but the MDP has no "
                       "absorbing state (it models no termination): the demos do not come from this model")
    if mdp.absorbing is not None:
        for L in lengths[terminated]:
            rest = (gamma ** np.arange(L, T)).sum() if T is not None else gamma**L / (1 - gamma)
            counts[mdp.absorbing] += rest / E / A
    starts = obs[demos.episode_starts]
    truncated = ~terminated & ((lengths < T) if T is not None else np.ones(E, dtype=bool))
    if T is not None:
        start_mass = np.zeros((T, S))
        np.add.at(start_mass[0], starts, 1.0 / E)
        np.add.at(start_mass, (lengths[truncated], nxt[last[truncated]]), -1.0 / E)
    else:
        start_mass = np.zeros(S)
        np.add.at(start_mass, starts, 1.0 / E)
        np.add.at(start_mass, nxt[last[truncated]], -(gamma ** lengths[truncated].astype(np.float64)) / E)
    likelihood_mass = start_mass + _realised_minus_expected(mdp, demos, obs, act, nxt, t)

    as_long = lambda x: torch.as_tensor(x, dtype=torch.int64)  # noqa: E731
    return DemoCounts(
        states=as_long(obs),
        actions=as_long(act),
        timesteps=as_long(t),
        weights=torch.as_tensor(w, dtype=dtype),
        counts=torch.as_tensor(counts, dtype=dtype),
        start_mass=torch.as_tensor(start_mass, dtype=dtype),
        likelihood_mass=torch.as_tensor(likelihood_mass, dtype=dtype),
        n_episodes=E,
    )


def _realised_minus_expected(mdp: TabularMDP, demos: Demos, obs: np.ndarray, act: np.ndarray, nxt: np.ndarray,
                             t: np.ndarray) -> np.ndarray:
    """``Σ (δ(s_{t+1}) − P(·|s_t, a_t)) / E`` at step t+1 over the demo steps: ``(T, S)``, or
    ``(S,)`` weighted by ``γ^{t+1}`` without a horizon (module docstring)."""
    S, T, E = mdp.n_states, mdp.horizon, demos.n_episodes
    out = np.zeros((T, S) if T is not None else (S,))
    realised = nxt.copy()
    ends = demos.episode_ends - 1
    if mdp.absorbing is not None:  # a terminating step lands in the absorbing state, in the model
        realised[ends[demos.terminals[ends]]] = mdp.absorbing
    steps = np.arange(len(obs))
    if T is not None:
        steps = steps[t[steps] + 1 < T]  # the last step of a horizon has no next value
    if steps.size == 0:
        return out
    succ = mdp.next_states[obs[steps], act[steps]].cpu().numpy()  # (n, K)
    prob = mdp.next_probs[obs[steps], act[steps]].cpu().double().numpy()  # (n, K)
    if T is not None:
        when = t[steps] + 1
        np.add.at(out, (when, realised[steps]), 1.0 / E)
        np.add.at(out, (np.repeat(when, succ.shape[1]), succ.reshape(-1)), -prob.reshape(-1) / E)
    else:
        w = mdp.gamma ** (t[steps] + 1).astype(np.float64) / E
        np.add.at(out, realised[steps], w)
        np.add.at(out, succ.reshape(-1), -(prob * w[:, None]).reshape(-1))
    return out


def _as_indices(x: np.ndarray, key: str, n: int) -> np.ndarray:
    """``x`` ``(N,)`` or ``(N, 1)`` as ``(N,)`` int64 indices in ``0..n-1`` (integral floats are accepted)."""
    arr = np.asarray(x)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise MDPError(f"tabular demos need scalar {key} (shape (N,) or (N, 1)), got shape {arr.shape}")
    integral = np.issubdtype(arr.dtype, np.integer) or (
        np.issubdtype(arr.dtype, np.floating) and bool(np.isfinite(arr).all())
        and bool((arr == np.round(arr)).all())
    )
    if not integral:
        raise MDPError(f"demo '{key}' must be integers (state or action indices of a tabular MDP), "
                       f"got {arr.dtype}")
    bad = np.flatnonzero((arr < 0) | (arr >= n))
    if bad.size:
        raise MDPError(f"demo '{key}'[{int(bad[0])}] = {arr[bad[0]]} is outside 0..{n - 1}: tabular demos "
                       f"need integers in 0..{n - 1} for this MDP")
    return arr.astype(np.int64)
