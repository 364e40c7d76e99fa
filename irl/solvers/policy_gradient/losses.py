"""The math of entropy-regularised policy gradient, as pure functions of tensors: GAE, per-decision
importance weights (Precup et al. 2000) and the (PPO-clipped) surrogate loss."""

from __future__ import annotations

import math

import torch

__all__ = ["gae_advantages", "per_decision_weights", "policy_gradient_loss"]


def gae_advantages(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
                   terminated: torch.Tensor, chain_ends: torch.Tensor, gamma: float,
                   lam: float) -> torch.Tensor:
    """Returns GAE(γ, λ) advantages ``(T,)`` (Schulman et al. 2016) of one stream of steps.

    ``δ_t = r_t + γ (1 - terminated_t) V(s_{t+1}) - V(s_t)`` and
    ``A_t = δ_t + γλ (1 - end_t) A_{t+1}``.

    Args:
        rewards, values, next_values: ``(T,)``; ``next_values`` is ``V`` of the step's own next
            observation (the last one before a reset, so truncation bootstraps).
        terminated: ``(T,)`` bool: no bootstrap past this step.
        chain_ends: ``(T,)`` bool: the episode (or the stream) ends here; the sum stops.
    """
    T = rewards.shape[0]
    for name, x in (("values", values), ("next_values", next_values), ("terminated", terminated),
                    ("chain_ends", chain_ends)):
        if x.shape != (T,):
            raise ValueError(f"{name} must have shape ({T},), got {tuple(x.shape)}")
    live = (~terminated.bool()).to(values.dtype)
    deltas = rewards + gamma * live * next_values - values
    carry = (~chain_ends.bool()).to(values.dtype) * gamma * lam
    adv = torch.empty_like(deltas)
    acc = deltas.new_zeros(())
    for t in range(T - 1, -1, -1):
        acc = deltas[t] + carry[t] * acc
        adv[t] = acc
    return adv


def per_decision_weights(log_pi: torch.Tensor, log_q: torch.Tensor, episode_starts: torch.Tensor,
                         clip: float) -> torch.Tensor:
    """Returns self-normalised per-decision importance weights ``(N,)`` of demo steps (no gradient).

    ``w_t = min(clip, Π_{t' ≤ t} π(a_t'|s_t') / q(a_t'|s_t'))`` within each episode, then
    divided by their mean so they average 1.

    Args:
        log_pi: ``(N,)`` ``log π_θ(a_t|s_t)`` of the demo steps, flat over episodes.
        log_q: ``(N,)`` ``log q(a_t|s_t)`` under the behaviour model (0 for the Dirac assumption).
        episode_starts: ``(E,)`` int index of each episode's first step (starts at 0).
        clip: the largest weight before normalisation.
    """
    n = log_pi.shape[0]
    if log_q.shape != (n,) or episode_starts.ndim != 1:
        raise ValueError(f"log_pi, log_q must be (N,), episode_starts (E,); got {tuple(log_pi.shape)}, "
                         f"{tuple(log_q.shape)}, {tuple(episode_starts.shape)}")
    with torch.no_grad():
        log_ratio = (log_pi - log_q).double()
        cum = torch.cumsum(log_ratio, 0)
        # subtract the running sum at each episode's start so the product restarts there
        lengths = torch.diff(torch.cat([episode_starts.long(), torch.tensor([n])]))
        before = torch.cat([cum.new_zeros(1), cum])[episode_starts.long()]
        log_w = cum - torch.repeat_interleave(before, lengths)
        w = torch.exp(torch.clamp(log_w, max=math.log(clip)))
        return (w / w.mean()).to(log_pi.dtype)


def policy_gradient_loss(log_prob: torch.Tensor, advantages: torch.Tensor,
                         old_log_prob: torch.Tensor | None = None, clip_range: float | None = None,
                         weights: torch.Tensor | None = None) -> torch.Tensor:
    """Returns the surrogate loss ``-mean(w · log π(a|s) · Â)`` or PPO's clipped one (Schulman 2017, eq. 7).

    Args:
        log_prob: ``(N,)`` ``log π_θ(a|s)`` (with gradient).
        advantages: ``(N,)`` (no gradient).
        old_log_prob: ``(N,)`` ``log π_old(a|s)``; needed with ``clip_range``.
        clip_range: PPO's ε, or None for the plain gradient.
        weights: ``(N,)`` per-sample weights (importance weights of demo steps), default 1.
    """
    if advantages.shape != log_prob.shape or log_prob.ndim != 1:
        raise ValueError(f"log_prob and advantages must both be (N,), got {tuple(log_prob.shape)}, "
                         f"{tuple(advantages.shape)}")
    if clip_range is None:
        objective = log_prob * advantages
    else:
        if old_log_prob is None:
            raise ValueError("PPO clipping needs old_log_prob")
        ratio = torch.exp(log_prob - old_log_prob)
        clipped = torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
        objective = torch.minimum(ratio * advantages, clipped * advantages)
    if weights is not None:
        objective = weights * objective
    return -objective.mean()
