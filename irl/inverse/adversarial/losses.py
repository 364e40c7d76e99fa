"""How the discriminator of GAN-style IRL is trained, as pure functions of tensors.

[G] Goodfellow et al. 2014, "Generative Adversarial Nets", NeurIPS (prop. 1: the optimal D).
[H] Ho & Ermon 2016, "Generative Adversarial Imitation Learning", NeurIPS (eq. 17).
[W] Gulrajani, Ahmed, Arjovsky, Dumoulin, Courville 2017, "Improved Training of Wasserstein
    GANs", NeurIPS (alg. 1: the gradient penalty).
[K] Kostrikov, Agrawal, Dwibedi, Levine, Tompson 2019, "Discriminator-Actor-Critic", ICLR
    (sec. 4.3: the penalty on a GAIL discriminator).

The discriminator ``D = sigmoid(logit)`` tells expert samples (label 1) from the policy's
(label 0). Its optimum is the density ratio ``D* = p_E / (p_E + p_π)`` [G], the quantity the
rewards of :mod:`irl.inverse.adversarial.rewards` are built from. Kept apart from those rewards,
as Acme keeps ``ail/losses.py`` apart from ``ail/rewards.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

__all__ = ["discriminator_accuracy", "discriminator_loss", "gradient_penalty"]


def discriminator_loss(expert_logits: torch.Tensor, policy_logits: torch.Tensor, *,
                       label_smoothing: float = 0.0) -> torch.Tensor:
    """Returns the logistic loss ``mean_n BCE(e_n, 1 - ε) + mean_m BCE(p_m, ε)`` of a discriminator (0-d).

    ``BCE(l, y) = -y log σ(l) - (1 - y) log(1 - σ(l)) = softplus(l) - y l``, finite for any
    logit. Minimised over ``D = σ(l)`` pointwise it gives ``D* = p_E / (p_E + p_π)`` [G]; the
    two means weigh the two sides equally whatever N and M are. At all logits 0 it is ``2 log 2``.

    Label smoothing is **two-sided**: expert targets are ``1 - ε`` and policy targets ``ε``.
    Then ``D* = ε + (1 - 2ε) p_E / (p_E + p_π)``, still monotone in the ratio, and the logit
    stays within ``±log((1 - ε) / ε)``, so every reward made from it is bounded on both sides
    (one-sided smoothing would bound it only from above).

    Args:
        expert_logits: ``(N,)`` logits on expert samples.
        policy_logits: ``(M,)`` logits on the policy's samples.
        label_smoothing: ε in ``[0, 0.5)``.
    """
    if expert_logits.ndim != 1 or policy_logits.ndim != 1 or not expert_logits.numel() \
            or not policy_logits.numel():
        raise ValueError(f"need non-empty expert_logits (N,) and policy_logits (M,), got "
                         f"{tuple(expert_logits.shape)}, {tuple(policy_logits.shape)}")
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    eps = label_smoothing
    expert = (F.softplus(expert_logits) - (1.0 - eps) * expert_logits).mean()
    policy = (F.softplus(policy_logits) - eps * policy_logits).mean()
    return expert + policy


def gradient_penalty(logit_fn: Callable[[torch.Tensor], torch.Tensor], expert_inputs: torch.Tensor,
                     policy_inputs: torch.Tensor, *, generator: torch.Generator,
                     target: float = 1.0) -> torch.Tensor:
    """Returns ``mean_n (‖∇_x logit(x̂_n)‖₂ - target)²`` at ``x̂_n = u_n e_n + (1 - u_n) p_n`` (0-d).

    The penalty of [W] (alg. 1) that [K] (sec. 4.3) puts on a GAIL discriminator: it keeps the
    logit's slope near ``target`` between the two sample sets, so the discriminator cannot
    saturate and the reward it hands on stays informative. ``u_n ~ U(0, 1)``, one per row, drawn
    with ``generator`` (on its own device, then moved to the inputs'). The inputs are data: no
    gradient flows back into them, only into ``logit_fn``'s parameters (``create_graph=True``,
    so the penalty can be added to :func:`discriminator_loss` and minimised). Weight it
    (``λ = 10`` in [W] and [K]) where it is added.

    Args:
        logit_fn: maps ``(N, D)`` inputs to ``(N,)`` logits, row by row.
        expert_inputs: ``(N, D)`` expert samples (e.g. ``[s, a]`` concatenated).
        policy_inputs: ``(N, D)`` the policy's samples, paired with the expert rows.
        generator: draws the interpolation weights.
        target: the gradient norm the penalty pulls towards.
    """
    if expert_inputs.ndim != 2 or expert_inputs.shape != policy_inputs.shape or not expert_inputs.shape[0]:
        raise ValueError(f"need expert_inputs and policy_inputs of one shape (N, D), N > 0, got "
                         f"{tuple(expert_inputs.shape)}, {tuple(policy_inputs.shape)}")
    n = expert_inputs.shape[0]
    u = torch.rand((n, 1), generator=generator, device=generator.device, dtype=expert_inputs.dtype)
    u = u.to(expert_inputs.device)
    mixed = torch.lerp(policy_inputs.detach(), expert_inputs.detach(), u).requires_grad_(True)
    logits = logit_fn(mixed)
    if logits.shape != (n,):
        raise ValueError(f"logit_fn must map (N, D) inputs to (N,) logits, got {tuple(logits.shape)} for N={n}")
    (grad,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
    return (torch.linalg.vector_norm(grad, dim=1) - target).square().mean()


def discriminator_accuracy(expert_logits: torch.Tensor, policy_logits: torch.Tensor) -> float:
    """Returns the fraction of all ``N + M`` samples that the discriminator classifies right at logit 0.

    An expert sample is right when its logit is > 0, a policy sample when < 0; a logit of
    exactly 0 (``D = ½``, no decision) counts half, so a discriminator that knows nothing
    scores ½. Pooled over both sides, not averaged per side. ``expert_logits`` ``(N,)``,
    ``policy_logits`` ``(M,)``.
    """
    if expert_logits.ndim != 1 or policy_logits.ndim != 1 or not expert_logits.numel() + policy_logits.numel():
        raise ValueError(f"need expert_logits (N,) and policy_logits (M,), not both empty, got "
                         f"{tuple(expert_logits.shape)}, {tuple(policy_logits.shape)}")
    with torch.no_grad():
        right = (expert_logits > 0).sum() + (policy_logits < 0).sum()
        undecided = (expert_logits == 0).sum() + (policy_logits == 0).sum()
        return (right.item() + 0.5 * undecided.item()) / (expert_logits.numel() + policy_logits.numel())
