"""The math of soft actor-critic, as pure functions of tensors.

[H] Haarnoja, Zhou, Hartikainen, Tucker, Ha, Tan, Kumar, Zhu, Gupta, Abbeel, Levine 2018,
    "Soft Actor-Critic Algorithms and Applications", arXiv:1812.05905.
[C] Christodoulou 2019, "Soft Actor-Critic for Discrete Action Settings", arXiv:1910.07207.

The squashed-Gaussian log-density, the soft Bellman targets (built on
:mod:`irl.solvers.soft_bellman`), the critic, actor and temperature losses, and one Adam
step on a flat parameter vector.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from irl.solvers.soft_bellman import policy_soft_value, soft_target

__all__ = ["LOG_STD_MAX", "LOG_STD_MIN", "actor_loss", "adam_step", "critic_loss", "discrete_actor_loss",
           "discrete_soft_bellman_target", "soft_bellman_target", "squashed_gaussian_log_prob",
           "squashed_gaussian_log_prob_of", "temperature_loss"]

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG2 = math.log(2.0)


def squashed_gaussian_log_prob(noise: torch.Tensor, log_std: torch.Tensor, pre_tanh: torch.Tensor) -> torch.Tensor:
    """Returns ``(N,)`` log-densities of ``a = tanh(u)``, ``u = mean + exp(log_std) * noise`` ([H] appendix C, eq. 21).

    ``log π(a|s) = Σ_i [log N(u_i; mean_i, std_i) - log(1 - tanh(u_i)^2)]`` with
    ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))``, finite where ``tanh(u)``
    rounds to ±1. All inputs ``(N, D)``.
    """
    if not noise.shape == log_std.shape == pre_tanh.shape or noise.ndim != 2:
        raise ValueError(f"need three (N, D) tensors, got {tuple(noise.shape)}, {tuple(log_std.shape)}, "
                         f"{tuple(pre_tanh.shape)}")
    # Written as few whole-tensor ops (this runs twice per update). softplus with beta=-2 is
    # -softplus(-2u)/2, so  u - 2 softplus(u, beta=-2) = u + softplus(-2u)  and, per dimension,
    # -log π = ½ε² + log σ + ½ log 2π + 2 log 2 - 2 (u + softplus(-2u)).
    u_sp = torch.add(pre_tanh, F.softplus(pre_tanh, beta=-2.0), alpha=-2.0)
    neg = torch.add(torch.add(log_std, noise.square(), alpha=0.5), u_sp, alpha=-2.0).sum(-1)
    return torch.rsub(neg, -noise.shape[1] * (_LOG_SQRT_2PI + 2.0 * _LOG2))


def squashed_gaussian_log_prob_of(action: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Returns ``(N,)`` ``log π(a|s)`` of given actions ``a`` in ``(-1, 1)^D`` under ``tanh(N(mean, exp(log_std)²))``.

    ``u = atanh(a)`` with ``a`` clamped to ``±(1 - 1e-6)`` first (a sampled action can round to
    ±1 in float32); then the Gaussian log-density of ``u`` minus ``Σ_i log(1 - a_i²)``. All
    inputs ``(N, D)``. Agrees with :func:`squashed_gaussian_log_prob` on the actions it samples.
    """
    if not action.shape == mean.shape == log_std.shape or action.ndim != 2:
        raise ValueError(f"need three (N, D) tensors, got {tuple(action.shape)}, {tuple(mean.shape)}, "
                         f"{tuple(log_std.shape)}")
    u = torch.atanh(action.clamp(-1.0 + 1e-6, 1.0 - 1e-6))
    noise = (u - mean) * torch.exp(-log_std)
    return squashed_gaussian_log_prob(noise, log_std, u)


def soft_bellman_target(reward: torch.Tensor, next_q: torch.Tensor, next_log_prob: torch.Tensor,
                        terminated: torch.Tensor, *, alpha: torch.Tensor | float, gamma: float) -> torch.Tensor:
    """Returns ``(N,)`` targets ``y = r + γ (1 - terminated) (min_k Q'_k(s', a') - α log π(a'|s'))``.

    The soft value of ``s'`` ([H] eq. 3) estimated with one ``a' ~ π(·|s')`` and the
    minimum of the K target critics (clipped double Q, Fujimoto et al. 2018), as used by
    the soft Q loss ([H] eq. 5). ``reward``, ``next_log_prob``, ``terminated`` (0/1) ``(N,)``;
    ``next_q`` ``(K, N)``. A step cut by a time limit has ``terminated = 0``: it bootstraps.
    """
    n = reward.shape[0]
    if reward.shape != (n,) or next_log_prob.shape != (n,) or terminated.shape != (n,) or next_q.ndim != 2 \
            or next_q.shape[1] != n:
        raise ValueError(f"need reward, next_log_prob, terminated (N,) and next_q (K, N); got "
                         f"{tuple(reward.shape)}, {tuple(next_log_prob.shape)}, {tuple(terminated.shape)}, "
                         f"{tuple(next_q.shape)}")
    next_v = torch.addcmul(torch.amin(next_q, 0), torch.as_tensor(alpha, dtype=reward.dtype), next_log_prob,
                           value=-1.0)
    return soft_target(reward, next_v, terminated, gamma)


def discrete_soft_bellman_target(reward: torch.Tensor, next_q: torch.Tensor, next_probs: torch.Tensor,
                                 next_log_probs: torch.Tensor, terminated: torch.Tensor, *,
                                 alpha: torch.Tensor | float, gamma: float) -> torch.Tensor:
    """Returns ``(N,)`` targets ``y = r + γ (1 - terminated) Σ_a π(a|s') (min_k Q'_k(s', a) - α log π(a|s'))``.

    The soft value of a discrete policy is an exact expectation over actions ([C] sec. 4):
    :func:`irl.solvers.soft_bellman.policy_soft_value` of the minimum target critic.
    ``reward``, ``terminated`` ``(N,)``; ``next_q`` ``(K, N, A)``; ``next_probs`` and
    ``next_log_probs`` ``(N, A)``.
    """
    n = reward.shape[0]
    if next_q.ndim != 3 or next_q.shape[1] != n or next_probs.shape != next_q.shape[1:] \
            or next_log_probs.shape != next_probs.shape or terminated.shape != (n,) or reward.shape != (n,):
        raise ValueError(f"need reward, terminated (N,), next_q (K, N, A), next_probs/log_probs (N, A); got "
                         f"{tuple(reward.shape)}, {tuple(terminated.shape)}, {tuple(next_q.shape)}, "
                         f"{tuple(next_probs.shape)}, {tuple(next_log_probs.shape)}")
    next_v = policy_soft_value(torch.amin(next_q, 0), next_probs, next_log_probs, alpha)
    return soft_target(reward, next_v, terminated, gamma)


def critic_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Returns ``Σ_k mean_n ½ (Q_k(s_n, a_n) - y_n)²``, the soft Q loss of each of K critics ([H] eq. 5).

    ``q`` ``(K, N)``, ``target`` ``(N,)`` (no gradient flows into it).
    """
    if q.ndim != 2 or target.shape != q.shape[1:]:
        raise ValueError(f"need q (K, N) and target (N,), got {tuple(q.shape)}, {tuple(target.shape)}")
    return torch.mul(torch.sub(q, target.detach()).square().sum(), 0.5 / q.shape[1])


def actor_loss(log_prob: torch.Tensor, q: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """Returns ``mean_n (α log π(a_n|s_n) - min_k Q_k(s_n, a_n))`` with ``a_n`` reparameterised ([H] eq. 7).

    ``log_prob`` ``(N,)``, ``q`` ``(K, N)``.
    """
    if q.ndim != 2 or log_prob.shape != q.shape[1:]:
        raise ValueError(f"need log_prob (N,) and q (K, N), got {tuple(log_prob.shape)}, {tuple(q.shape)}")
    return torch.addcmul(torch.amin(q, 0).neg(), torch.as_tensor(alpha, dtype=log_prob.dtype), log_prob).mean()


def discrete_actor_loss(probs: torch.Tensor, log_probs: torch.Tensor, q: torch.Tensor,
                        alpha: torch.Tensor | float) -> torch.Tensor:
    """Returns ``mean_n Σ_a π(a|s_n) (α log π(a|s_n) - min_k Q_k(s_n, a))``, exact over actions ([C] sec. 4).

    ``probs``, ``log_probs`` ``(N, A)``; ``q`` ``(K, N, A)`` (no gradient flows into it).
    """
    if probs.shape != log_probs.shape or q.ndim != 3 or q.shape[1:] != probs.shape:
        raise ValueError(f"need probs/log_probs (N, A) and q (K, N, A), got {tuple(probs.shape)}, "
                         f"{tuple(log_probs.shape)}, {tuple(q.shape)}")
    inner = torch.addcmul(torch.amin(q.detach(), 0).neg(), torch.as_tensor(alpha, dtype=probs.dtype), log_probs)
    return (probs * inner).sum(-1).mean()


def temperature_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """Returns ``-log α · mean_n (log π(a_n|s_n) + H̄)``, whose gradient moves the entropy towards H̄ ([H] eq. 18).

    ``log_alpha`` a scalar; ``log_prob`` ``(N,)``: a sampled ``log π(a|s)``, or for a
    discrete policy the exact ``Σ_a π(a|s) log π(a|s)`` ([C] sec. 4). The loss is taken
    in ``log α`` (as common practice) so that α stays positive.
    """
    if log_alpha.ndim != 0 or log_prob.ndim != 1:
        raise ValueError(f"need a scalar log_alpha and log_prob (N,), got {tuple(log_alpha.shape)}, "
                         f"{tuple(log_prob.shape)}")
    return torch.mul(log_alpha, torch.add(log_prob.detach().mean(), target_entropy)).neg()


def adam_step(params: torch.Tensor, grads: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, *,
              step: int, lr: float | torch.Tensor, betas: tuple[float, float] = (0.9, 0.999),
              eps: float = 1e-8) -> None:
    """Updates ``params`` in place by one Adam step (Kingma & Ba 2015, algorithm 1), moments in place too.

    All tensors ``(P,)``; ``lr`` a float or ``(P,)`` per-parameter rates; ``step`` counts
    from 1. With a float ``lr`` these are the numbers ``torch.optim.Adam`` gives.
    """
    if params.ndim != 1 or not params.shape == grads.shape == exp_avg.shape == exp_avg_sq.shape:
        raise ValueError(f"need four (P,) tensors, got {tuple(params.shape)}, {tuple(grads.shape)}, "
                         f"{tuple(exp_avg.shape)}, {tuple(exp_avg_sq.shape)}")
    beta1, beta2 = betas
    exp_avg.lerp_(grads, 1.0 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grads, grads, value=1.0 - beta2)
    denom = (exp_avg_sq.sqrt() / math.sqrt(1.0 - beta2**step)).add_(eps)
    if isinstance(lr, torch.Tensor):
        params.addcmul_(lr, exp_avg / denom, value=-1.0 / (1.0 - beta1**step))
    else:
        params.addcdiv_(exp_avg, denom, value=-lr / (1.0 - beta1**step))


