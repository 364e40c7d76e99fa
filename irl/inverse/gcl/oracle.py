"""The exact MaxEnt gradient on a tabular task, and the sampled estimates guided cost learning makes of it.

For a reward table ``θ`` ``(S, A)`` (``∇_θ r(τ)`` is then the trajectory's state-action counts)
the MaxEnt gradient is ``E_demo[counts] - E_model[counts]``. Two models give two exact answers:

- **causal** MaxEnt (Ziebart 2010; :mod:`irl.inverse.maxent_objective`): the model is the
  soft-optimal policy ``π_θ`` run in the true dynamics; its expected counts are one backward
  (:func:`~irl.solvers.soft_value_iteration`) and one forward (:func:`~irl.solvers.visitation`)
  pass. :func:`causal_gradient`.
- **trajectory-level** MaxEnt (Ziebart et al. 2008; what GCL's importance weights estimate):
  ``p(τ) ∝ p0(s_0) Π_t P(s_{t+1}|s_t,a_t) exp(Σ_t θ(s_t,a_t))``. It tilts every random choice
  toward high value, nature's too: the start state by ``exp W_0(s_0)`` and each successor by
  ``exp W_{t+1}(s')``, with ``W_t(s) = log Σ_a exp(θ(s,a) + log E_{s'}[exp W_{t+1}(s')])``
  (Levine 2018, sec. 2.4: the exact posterior has optimistic dynamics).
  :func:`trajectory_gradient` computes it with these messages, or on a tiny MDP by summing
  over every trajectory (:func:`enumerate_trajectories`), which tests the messages.

The two agree when nature has no choice: deterministic dynamics *and* one start state. They
differ under stochastic dynamics, and also with deterministic dynamics from a spread of start
states (the trajectory-level model prefers the better starts).

Sampled estimates (J trajectories of a sampling policy q, :func:`sample_trajectories`):
:func:`gcl_gradient` (self-normalised importance weights, :mod:`irl.inverse.gcl.weights`),
:func:`sample_average_gradient` (q's samples taken as if drawn from the model) and
:func:`gan_gcl_gradient` (the discriminator loss of GAN-GCL). :func:`cosine` and
:func:`relative_error` score them. Trajectory-level quantities need a finite horizon, no
discount and no termination (an absorbing state would count its actions as distinct
trajectories); everything is float64-friendly and runs on the MDP's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from irl.envs.tabular import TabularMDP
from irl.inverse.adversarial.losses import discriminator_loss
from irl.inverse.adversarial.rewards import airl_logit
from irl.inverse.gcl.weights import discriminator_log_partition, trajectory_log_weights
from irl.solvers import reward_table, soft_value_iteration, visitation

__all__ = [
    "Trajectories",
    "causal_gradient",
    "cosine",
    "enumerate_trajectories",
    "gan_gcl_gradient",
    "gcl_gradient",
    "relative_error",
    "sample_average_gradient",
    "sample_trajectories",
    "trajectory_counts",
    "trajectory_gradient",
    "trajectory_log_probs",
    "trajectory_returns",
    "trajectory_visitation",
]


@dataclass(frozen=True, eq=False)
class Trajectories:
    """J trajectories of T steps on a tabular MDP.

    Fields:
        states: ``(J, T)`` int64 ``s_t``.
        actions: ``(J, T)`` int64 ``a_t``.
    """

    states: torch.Tensor
    actions: torch.Tensor

    def __post_init__(self) -> None:
        s, a = self.states, self.actions
        if s.ndim != 2 or a.shape != s.shape or s.dtype != torch.int64 or a.dtype != torch.int64:
            raise ValueError(f"states and actions must both be (J, T) int64, got {tuple(s.shape)} {s.dtype} "
                             f"and {tuple(a.shape)} {a.dtype}")

    def __len__(self) -> int:
        return self.states.shape[0]

    @property
    def horizon(self) -> int:
        return self.states.shape[1]

    def cat(self, other: Trajectories) -> Trajectories:
        """These trajectories followed by ``other``'s (same T)."""
        return Trajectories(torch.cat([self.states, other.states]), torch.cat([self.actions, other.actions]))


def _check_trajectory_model(mdp: TabularMDP) -> int:
    """The horizon T of ``mdp`` if trajectory-level MaxEnt applies to it (module docstring)."""
    if mdp.horizon is None or mdp.gamma != 1.0 or mdp.absorbing is not None:
        raise ValueError("trajectory-level quantities need a finite horizon, no discount and no absorbing state; "
                         f"got horizon={mdp.horizon}, discount={mdp.discount}, absorbing={mdp.absorbing}")
    return mdp.horizon


def _time_indexed(policy: torch.Tensor, T: int, S: int, A: int) -> torch.Tensor:
    if policy.shape == (S, A):
        return policy.expand(T, S, A)
    if policy.shape != (T, S, A):
        raise ValueError(f"policy must be ({S}, {A}) or ({T}, {S}, {A}), got {tuple(policy.shape)}")
    return policy


def _check_trajectories(trajs: Trajectories, S: int, A: int, T: int | None = None) -> None:
    if T is not None and trajs.horizon != T:
        raise ValueError(f"trajectories have {trajs.horizon} steps, expected {T}")
    if len(trajs) and (int(trajs.states.max()) >= S or int(trajs.actions.max()) >= A
                       or int(trajs.states.min()) < 0 or int(trajs.actions.min()) < 0):
        raise ValueError(f"trajectories hold states or actions outside 0..{S - 1} / 0..{A - 1}")


# ------------------------------------------------------------------------------- trajectories
def sample_trajectories(mdp: TabularMDP, policy: torch.Tensor, n: int, *,
                        generator: torch.Generator) -> Trajectories:
    """Returns ``n`` trajectories of ``mdp.horizon`` steps of ``policy`` in ``mdp``, every draw from ``generator``.

    Args:
        policy: ``(S, A)`` stationary or ``(T, S, A)`` time-indexed; rows sum to 1.
        generator: seeds the start, action and successor draws (on the MDP's device).
    """
    T = _check_trajectory_model(mdp)
    S, A = mdp.n_states, mdp.n_actions
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    pis = _time_indexed(policy.to(mdp.device, mdp.dtype), T, S, A)
    states = torch.empty(n, T, dtype=torch.int64, device=mdp.device)
    actions = torch.empty_like(states)
    s = torch.multinomial(mdp.initial, n, replacement=True, generator=generator)
    for t in range(T):
        a = torch.multinomial(pis[t][s], 1, generator=generator).squeeze(1)
        states[:, t], actions[:, t] = s, a
        if t + 1 < T:
            k = torch.multinomial(mdp.next_probs[s, a], 1, generator=generator).squeeze(1)
            s = mdp.next_states[s, a, k]
    return Trajectories(states, actions)


def trajectory_returns(reward: torch.Tensor, trajs: Trajectories) -> torch.Tensor:
    """Returns ``(J,)`` ``r(τ_j) = Σ_t r(s_t, a_t)`` for a reward table ``(S, A)`` (differentiable in it)."""
    if reward.ndim != 2:
        raise ValueError(f"reward must be an (S, A) table, got {tuple(reward.shape)}")
    _check_trajectories(trajs, *reward.shape)
    return reward[trajs.states, trajs.actions].sum(1)


def trajectory_log_probs(policy: torch.Tensor, trajs: Trajectories) -> torch.Tensor:
    """Returns ``(J,)`` ``log q(τ_j) = Σ_t log π_t(a_t|s_t)`` (the policy part; -inf where π is 0).

    ``policy`` is ``(S, A)`` or ``(T, S, A)`` with T the trajectories' length.
    """
    T = trajs.horizon
    S, A = policy.shape[-2:]
    pis = _time_indexed(policy, T, S, A)
    _check_trajectories(trajs, S, A)
    steps = torch.arange(T, device=policy.device)
    return torch.log(pis[steps, trajs.states, trajs.actions]).sum(1)


def trajectory_counts(trajs: Trajectories, n_states: int, n_actions: int,
                      weights: torch.Tensor | None = None) -> torch.Tensor:
    """Returns ``(S, A)`` float64 ``Σ_j w_j counts(τ_j)`` (``∇_θ`` of ``Σ_j w_j r(τ_j)``); default ``w_j = 1/J``."""
    _check_trajectories(trajs, n_states, n_actions)
    J, T = trajs.states.shape
    if weights is None:
        weights = torch.full((J,), 1.0 / J, dtype=torch.float64, device=trajs.states.device)
    if weights.shape != (J,):
        raise ValueError(f"weights must be ({J},), got {tuple(weights.shape)}")
    flat = (trajs.states * n_actions + trajs.actions).reshape(-1)
    out = weights.new_zeros(n_states * n_actions).index_add(0, flat, weights.repeat_interleave(T))
    return out.view(n_states, n_actions)


def enumerate_trajectories(mdp: TabularMDP, *, max_trajectories: int = 1_000_000
                           ) -> tuple[Trajectories, torch.Tensor]:
    """Returns every trajectory of ``mdp`` (all starts, action sequences and successor branches) and
    ``(J,)`` ``log p0(s_0) + Σ_{t<T-1} log P(s_{t+1}|s_t,a_t)``; for tiny MDPs (raises past ``max_trajectories``).

    Two successor slots that lead to the same state stay two branches; their probabilities add up
    in every expectation, so sums over the result are exact.
    """
    T = _check_trajectory_model(mdp)
    A = mdp.n_actions
    starts = torch.nonzero(mdp.initial > 0).squeeze(1)
    states, actions = starts[:, None], starts.new_empty(len(starts), 0)
    log_p = torch.log(mdp.initial[starts])
    for t in range(T):
        n = states.shape[0]
        if n * A > max_trajectories:
            raise ValueError(f"more than {max_trajectories} trajectories by step {t} of {T}: the MDP is too "
                             "large to enumerate; use trajectory_gradient's messages")
        states, log_p = states.repeat_interleave(A, 0), log_p.repeat_interleave(A)
        actions = torch.cat([actions.repeat_interleave(A, 0), torch.arange(A, device=states.device).repeat(n)[:, None]],
                            1)
        if t + 1 < T:
            probs = mdp.next_probs[states[:, -1], actions[:, -1]]
            rows, slots = torch.nonzero(probs > 0, as_tuple=True)
            if rows.numel() > max_trajectories:
                raise ValueError(f"more than {max_trajectories} trajectories by step {t + 1} of {T}: the MDP is too "
                                 "large to enumerate; use trajectory_gradient's messages")
            nxt = mdp.next_states[states[rows, -1], actions[rows, -1], slots]
            states = torch.cat([states[rows], nxt[:, None]], 1)
            actions, log_p = actions[rows], log_p[rows] + torch.log(probs[rows, slots])
    return Trajectories(states, actions), log_p


# ---------------------------------------------------------------------------- exact gradients
def _demo_table(mdp: TabularMDP, demo_counts: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if demo_counts.ndim != 2 or demo_counts.shape[1] != mdp.n_actions:
        raise ValueError(f"demo_counts must be ({mdp.n_env_states}, {mdp.n_actions}), got {tuple(demo_counts.shape)}")
    return mdp.pad_states(demo_counts).to(like.device, like.dtype)


def causal_gradient(mdp: TabularMDP, reward: torch.Tensor, demo_counts: torch.Tensor, *,
                    initial: torch.Tensor | None = None) -> torch.Tensor:
    """Returns ``(n_env_states, A)`` the causal MaxEnt gradient ``demo_counts - visitation(π_θ, initial)``.

    ``π_θ`` is the soft-optimal policy (temperature 1) of ``reward`` ``(S, A)``; ``initial``
    defaults to ``mdp.initial`` (Ziebart's start-only form). With a
    :class:`~irl.envs.demo_counts.DemoCounts` ``d``, ``causal_gradient(mdp, r, d.counts,
    initial=d.likelihood_mass)`` is :func:`~irl.inverse.maxent_objective.maxent_objective`'s gradient.
    """
    r = reward_table(mdp, torch.as_tensor(reward).detach())
    counts = _demo_table(mdp, demo_counts, r)
    model = visitation(mdp, soft_value_iteration(mdp, r).policy, initial=initial)
    return (counts - model)[: mdp.n_env_states]


def trajectory_visitation(mdp: TabularMDP, reward: torch.Tensor) -> torch.Tensor:
    """Returns ``(S, A)`` expected counts ``E_p[counts(τ)]`` under ``p(τ) ∝ p0 Π P exp(r(τ))``, by messages.

    Backward (``W_T = 0``): ``C_t(s,a) = log Σ_s' P(s'|s,a) exp W_{t+1}(s')``,
    ``Q_t = r + C_t``, ``W_t = logsumexp_a Q_t``. Forward: ``d_0 ∝ p0 exp W_0``, action
    ``exp(Q_t - W_t)``, successor ``P(s'|s,a) exp(W_{t+1}(s') - C_t(s,a))`` (module docstring).
    """
    T = _check_trajectory_model(mdp)
    r = reward_table(mdp, torch.as_tensor(reward).detach())
    log_p = torch.log(mdp.next_probs.to(r.device, r.dtype))  # -inf on padding slots
    ns = mdp.next_states.to(r.device)
    S, A = r.shape
    q, c, w = r.new_empty(T, S, A), r.new_empty(T, S, A), r.new_empty(T + 1, S)
    w[T] = 0.0
    for t in range(T - 1, -1, -1):
        c[t] = torch.logsumexp(log_p + w[t + 1][ns], -1)
        q[t] = r + c[t]
        w[t] = torch.logsumexp(q[t], -1)
    log_d = torch.log(mdp.initial.to(r.device, r.dtype)) + w[0]
    d = torch.exp(log_d - torch.logsumexp(log_d, 0))
    D = r.new_zeros(S, A)
    for t in range(T):
        x = d[:, None] * torch.exp(q[t] - w[t][:, None])
        D += x
        if t + 1 < T:
            moved = x[..., None] * torch.exp(log_p + w[t + 1][ns] - c[t][..., None])
            d = r.new_zeros(S).index_add(0, ns.reshape(-1), moved.reshape(-1))
    return D


def trajectory_gradient(mdp: TabularMDP, reward: torch.Tensor, demo_counts: torch.Tensor, *,
                        by_enumeration: bool = False) -> torch.Tensor:
    """Returns ``(S, A)`` the trajectory-level MaxEnt gradient ``demo_counts - E_p[counts(τ)]``.

    ``E_p`` by :func:`trajectory_visitation`, or with ``by_enumeration`` by weighing every
    trajectory of :func:`enumerate_trajectories` with ``p0 Π P exp(r(τ))`` (tiny MDPs only).
    """
    r = reward_table(mdp, torch.as_tensor(reward).detach())
    counts = _demo_table(mdp, demo_counts, r)
    if not by_enumeration:
        return counts - trajectory_visitation(mdp, r)
    trajs, log_dynamics = enumerate_trajectories(mdp)
    log_w = trajectory_log_weights(trajectory_returns(r, trajs) + log_dynamics, torch.zeros_like(log_dynamics))
    return counts - trajectory_counts(trajs, *r.shape, weights=torch.exp(log_w))


# -------------------------------------------------------------------------- sampled estimates
def gcl_gradient(reward: torch.Tensor, demo_counts: torch.Tensor, samples: Trajectories,
                 log_q: torch.Tensor) -> torch.Tensor:
    """Returns ``(S, A)`` GCL's estimate ``demo_counts - Σ_j w̄_j counts(τ_j)``, ``w̄ = softmax(r(τ) - log q(τ))``.

    Finn, Levine & Abbeel 2016 (eq. 4). ``samples`` are any pool (a sampler's draws, or those
    plus the demos), ``log_q`` ``(J,)`` their (fused) sampling log density's policy part.
    """
    log_w = trajectory_log_weights(trajectory_returns(reward.detach(), samples), log_q)
    return demo_counts - trajectory_counts(samples, *reward.shape, weights=torch.exp(log_w).to(demo_counts.dtype))


def sample_average_gradient(demo_counts: torch.Tensor, samples: Trajectories) -> torch.Tensor:
    """Returns ``(S, A)`` ``demo_counts - mean_j counts(τ_j)``: q's samples taken as if drawn from the model."""
    return demo_counts - trajectory_counts(samples, *demo_counts.shape).to(demo_counts.dtype)


def gan_gcl_gradient(reward: torch.Tensor, demos: Trajectories, samples: Trajectories,
                     sampler: torch.Tensor) -> torch.Tensor:
    """Returns ``(S, A)`` ``-∇_θ`` of GAN-GCL's discriminator loss at its optimal ``log Z`` (an ascent direction).

    Finn, Christiano, Abbeel & Levine 2016: ``D(τ) = exp(r(τ))/Z / (exp(r(τ))/Z + q(τ))``,
    demos labelled 1, ``samples`` 0, trained by the two-expectation logistic loss of
    :func:`~irl.inverse.adversarial.losses.discriminator_loss`; its logit
    ``r(τ) - log Z - log q(τ)`` is :func:`~irl.inverse.adversarial.rewards.airl_logit` of
    ``f = r(τ) - log Z`` at the trajectory level. ``log Z`` minimises the loss for this ``θ``
    (:func:`~irl.inverse.gcl.weights.discriminator_log_partition`). By
    :func:`~irl.inverse.gcl.weights.gan_gcl_log_weights` the result equals
    ``mean_demo counts - Σ_i w̄_i counts(τ_i)`` over demos and samples pooled: GCL with the
    demos in the background batch and the mixture ``½ P̂ + ½ q`` as proposal.

    Away from the MaxEnt optimum it is not the MaxEnt gradient, however many samples: with
    ``E_q[D ∇r] = (Z*/Z) E_p[(1 - D) ∇r]`` (``Z*`` the true partition function) its expectation
    is ``E_demo[(1 - D) ∇r] - (Z*/Z) E_p[(1 - D) ∇r]``, every trajectory's counts scaled by
    ``1 - D``. Where the discriminator can hardly tell demos from samples (``D ≈ ½``) that is
    about half the exact gradient: the right direction, half the length.

    Args:
        reward: ``(S, A)`` θ.
        demos, samples: N demos and M draws of ``sampler``, of one length T.
        sampler: ``(S, A)`` or ``(T, S, A)`` the policy that drew ``samples``; it must give the
            demos' actions a positive probability.
    """
    theta = reward.detach().clone().requires_grad_(True)
    r_demo, r_sample = trajectory_returns(theta, demos), trajectory_returns(theta, samples)
    lq_demo, lq_sample = trajectory_log_probs(sampler, demos), trajectory_log_probs(sampler, samples)
    if not bool(torch.isfinite(lq_demo).all()):
        raise ValueError("the sampler gives some demo a probability of 0: the discriminator's logit is infinite")
    log_z = discriminator_log_partition(torch.cat([r_demo, r_sample]).detach(), torch.cat([lq_demo, lq_sample]),
                                        len(demos), demo_share=0.5)
    loss = discriminator_loss(airl_logit(r_demo - log_z, lq_demo), airl_logit(r_sample - log_z, lq_sample))
    (grad,) = torch.autograd.grad(loss, theta)
    return -grad


# ------------------------------------------------------------------------------------ scores
def _pair(estimate: torch.Tensor, exact: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if estimate.shape != exact.shape:
        raise ValueError(f"estimate and exact must have one shape, got {tuple(estimate.shape)}, {tuple(exact.shape)}")
    e, x = estimate.reshape(-1).double(), exact.reshape(-1).double()
    if float(x.norm()) == 0.0:
        raise ValueError("the exact gradient is 0: cosine and relative error are undefined there")
    return e, x


def cosine(estimate: torch.Tensor, exact: torch.Tensor) -> float:
    """Returns ``<e, x> / (|e| |x|)`` of two gradients of one shape (0 when the estimate is 0)."""
    e, x = _pair(estimate, exact)
    denom = float(e.norm() * x.norm())
    return float(e @ x) / denom if denom > 0 else 0.0


def relative_error(estimate: torch.Tensor, exact: torch.Tensor) -> float:
    """Returns ``|e - x| / |x|`` of two gradients of one shape."""
    e, x = _pair(estimate, exact)
    return float((e - x).norm() / x.norm())
