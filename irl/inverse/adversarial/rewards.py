"""What the generator of GAN-style IRL learns from, as functions of the discriminator's logit.

[H] Ho & Ermon 2016, "Generative Adversarial Imitation Learning", NeurIPS (alg. 1).
[F] Fu, Luo, Levine 2018, "Learning Robust Rewards with Adversarial Inverse Reinforcement
    Learning", ICLR (sec. 4–5, alg. 1).
[K] Kostrikov, Agrawal, Dwibedi, Levine, Tompson 2019, "Discriminator-Actor-Critic", ICLR
    (sec. 4.1: the survival and termination bias of fixed-sign rewards).
[D] Ghasemipour, Zemel, Gu 2019, "A Divergence Minimization Perspective on Imitation
    Learning Methods", CoRL (sec. 4: which divergence each reward form minimises).

``D = σ(logit)`` is the discriminator's probability that a sample is the expert's, trained by
:mod:`irl.inverse.adversarial.losses`. Every function here is elementwise on tensors of any
shape (a batch ``(N,)``, or an ``(S, A)`` table) and keeps autograd's graph; a reward handed to
a solver is data, so compute it under ``torch.no_grad()``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["GAIL_REWARDS", "airl_logit", "airl_policy_reward", "gail_reward"]

GAIL_REWARDS = ("positive", "negative", "logit")


def gail_reward(logits: torch.Tensor, kind: str = "positive") -> torch.Tensor:
    """Returns GAIL's reward of each logit, in one of three forms, same shape as ``logits``.

    ``"positive"``: ``-log(1 - D) = softplus(logit) ≥ 0``, the generator's term of the GAN
    objective as [H] (alg. 1) minimises it. Every step earns a bonus, so it carries a
    *survival bias* [K]: the policy prefers longer episodes, right where the expert survives
    (locomotion), wrong where it ends the episode by reaching a goal. ``"negative"``:
    ``log D = -softplus(-logit) ≤ 0``, the "non-saturating" form; every step costs, so it
    carries a *termination bias*: the policy prefers ending early. ``"logit"``:
    ``log D - log(1 - D) = logit`` (= positive + negative), no fixed sign; at the optimal
    ``D`` its mean under the policy is ``-KL(ρ_π ‖ ρ_E)`` [D], and it is AIRL's policy reward
    too. None of the three is free of bias at episode ends unless terminal states are handled
    (an absorbing state, [K] sec. 4.2); that is the generator's job, not this function's.
    """
    if not logits.is_floating_point():
        raise ValueError(f"logits must be a floating-point tensor, got {logits.dtype}")
    if kind == "positive":
        return F.softplus(logits)
    if kind == "negative":
        return -F.softplus(-logits)
    if kind == "logit":
        return logits
    raise ValueError(f"unknown GAIL reward kind {kind!r}; choose one of {', '.join(GAIL_REWARDS)}")


def airl_logit(f: torch.Tensor, log_pi: torch.Tensor) -> torch.Tensor:
    """Returns the logit ``f - log π(a|s)`` of AIRL's discriminator ``D = exp f / (exp f + π(a|s))`` [F] (eq. 5).

    ``σ(f - log π) = exp f / (exp f + π)``, so this is the logit that
    :func:`~irl.inverse.adversarial.losses.discriminator_loss` trains. At the game's optimum
    (``π = π_E``, ``D = ½``) ``f* = log π_E(a|s)``, the expert's soft advantage ([F] sec. 5),
    and with ``f = g(s) + γ h(s') - h(s)`` its ``g`` recovers the reward up to a constant.
    ``π`` is the generator's current policy, evaluated here, not trained: ``log_pi``
    enters detached, so a discriminator step sends no gradient into the policy.
    ``f`` and ``log_pi`` have one shape, e.g. ``(N,)``.
    """
    if f.shape != log_pi.shape:
        raise ValueError(f"f and log_pi must have one shape, got {tuple(f.shape)}, {tuple(log_pi.shape)}")
    return f - log_pi.detach()


def airl_policy_reward(f: torch.Tensor, log_pi: torch.Tensor) -> torch.Tensor:
    """Returns AIRL's policy reward ``log D - log(1 - D) = f - log π(a|s)`` [F] (alg. 1), same shape as ``f``.

    Its mean under the policy is ``E_π[f] + H(π)``: the generator solves entropy-regularised
    RL on ``f`` (temperature 1). With ``f = log π_E(a|s)`` (the optimum above) that mean is
    ``-KL(π(·|s) ‖ π_E(·|s))`` in each state: ≤ 0, and 0 only at ``π = π_E``. No fixed sign
    per step, hence neither the survival nor the termination bias of GAIL's
    one-signed forms. A generator that adds its own entropy bonus (SAC's ``α``) counts the
    entropy twice unless it accounts for this. ``f`` and ``log_pi`` have one shape.
    """
    return airl_logit(f, log_pi)
