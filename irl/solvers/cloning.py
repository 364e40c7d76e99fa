"""Behaviour cloning: maximum likelihood of demonstrated actions under any policy with ``log_prob``.

The loss is ``L(θ) = -(1/N) Σ_i log π_θ(a_i|s_i)`` over demo steps: the cross-entropy from the
demonstrator's empirical action distribution to π_θ, so a policy that can represent any
per-state distribution (a table of logits on one-hot states) is fitted, at the optimum, to the
demos' action frequencies in each state. Minimised by Adam on minibatches; a held-out split
of the demos (whole episodes where the caller gives them) measures the same loss on data the
fit does not see, and training stops once that loss has stopped falling, keeping the best
weights (early stopping: overfitting the demos shows as a rising held-out loss).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from irl.rewards.seam import writable

__all__ = ["CloningResult", "clone_behavior"]


@dataclass(frozen=True)
class CloningResult:
    """What :func:`clone_behavior` did.

    Fields:
        train_losses: ``(steps taken,)`` the minibatch loss of each Adam step (before the step).
        validation_losses: the held-out loss at each check (empty without validation).
        validation_steps: the Adam steps taken before each check (the first check, 0, is the
            initial weights').
        best_step: the Adam steps taken when the kept weights were current (with validation,
            those of the lowest held-out loss; without, all of them).
        stopped_early: True when the held-out loss failed to improve for ``patience`` checks.
    """

    train_losses: list[float]
    validation_losses: list[float]
    validation_steps: list[int]
    best_step: int
    stopped_early: bool


def clone_behavior(
    policy: torch.nn.Module,
    observations: Any,
    actions: Any,
    *,
    steps: int,
    rng: np.random.Generator,
    params: Iterable[torch.nn.Parameter] | None = None,
    learning_rate: float = 1e-3,
    batch_size: int = 256,
    validation_fraction: float = 0.1,
    episode_starts: Any = None,
    validate_every: int = 10,
    patience: int = 10,
    on_step: Callable[[dict[str, float]], Any] | None = None,
) -> CloningResult:
    """Fits ``policy`` to demonstrations by maximum likelihood; returns the losses and where it stopped.

    Args:
        policy: any module with ``log_prob(obs, act) -> (B,)`` on env-form batches, with gradients.
        observations: ``(N, *obs_shape)`` env-form s_i (Discrete: ``(N,)`` int indices), numpy or torch.
        actions: ``(N, *act_shape)`` env-form a_i (Discrete: ``(N,)`` int indices), numpy or torch.
        steps: Adam steps at most (0: none).
        rng: draws the validation split, then the minibatches (in that order).
        params: the parameters to train (default: all of ``policy``'s); the others are left alone.
        learning_rate, batch_size: Adam's step size; steps per minibatch, drawn uniformly with
            replacement from the training split (``min(batch_size, n_train)`` of them).
        validation_fraction: in ``[0, 1)``, the share held out: whole episodes when
            ``episode_starts`` names at least two, steps otherwise (at least one held out and one
            kept). 0 disables validation and early stopping; then the rng draws only minibatches.
        episode_starts: ``(E,)`` index of each episode's first step, increasing from 0, or None.
        validate_every: Adam steps between checks of the held-out loss (also checked before the
            first step and after the last).
        patience: checks without a new lowest held-out loss before stopping; the parameters in
            ``params`` then get back their values at the lowest one (also when all steps ran).
        on_step: called after each Adam step with ``{"step", "loss"}`` and, on the steps with a
            check, ``"validation_loss"``.
    """
    obs = observations if isinstance(observations, torch.Tensor) else torch.as_tensor(writable(np.asarray(observations)))
    act = actions if isinstance(actions, torch.Tensor) else torch.as_tensor(writable(np.asarray(actions)))
    if obs.ndim == 0 or act.ndim == 0 or act.shape[0] != obs.shape[0] or obs.shape[0] < 1:
        raise ValueError(f"need observations (N, ...) and actions (N, ...) with N >= 1, got {tuple(obs.shape)} "
                         f"and {tuple(act.shape)}")
    n = obs.shape[0]
    if steps < 0 or batch_size < 1 or validate_every < 1 or patience < 1 or not learning_rate > 0:
        raise ValueError(f"need steps >= 0, batch_size, validate_every, patience >= 1 and learning_rate > 0; got "
                         f"{steps}, {batch_size}, {validate_every}, {patience}, {learning_rate}")
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must lie in [0, 1), got {validation_fraction}")
    params = list(policy.parameters() if params is None else params)
    if not params:
        raise ValueError("no parameters to train")
    train_idx, val_idx = _split(n, episode_starts, validation_fraction, rng)
    validating = val_idx is not None
    optimizer = torch.optim.Adam(params, lr=learning_rate)

    def loss_on(i: torch.Tensor) -> torch.Tensor:
        log_prob = policy.log_prob(obs[i], act[i])
        if log_prob.shape != (len(i),):
            raise ValueError(f"policy.log_prob must return ({len(i)},), got {tuple(log_prob.shape)}")
        return -log_prob.mean()

    train_losses: list[float] = []
    val_losses: list[float] = []
    val_steps: list[int] = []
    best, best_step, since_best, stopped_early = float("inf"), steps, 0, False
    saved: list[torch.Tensor] = []

    def check(step: int) -> float:
        nonlocal best, best_step, since_best
        with torch.no_grad():
            loss = float(loss_on(val_idx))
        val_losses.append(loss)
        val_steps.append(step)
        if loss < best:
            best, best_step, since_best = loss, step, 0
            saved[:] = [p.detach().clone() for p in params]
        else:
            since_best += 1
        return loss

    if validating:
        check(0)
    n_train = len(train_idx)
    for step in range(1, steps + 1):
        i = train_idx[torch.as_tensor(rng.integers(0, n_train, size=min(batch_size, n_train)))]
        loss = loss_on(i)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        train_losses.append(loss.item())
        entry = {"step": step, "loss": train_losses[-1]}
        if validating and (step % validate_every == 0 or step == steps):
            entry["validation_loss"] = check(step)
            stopped_early = since_best >= patience
        if on_step is not None:
            on_step(entry)
        if stopped_early:
            break
    if validating:
        with torch.no_grad():
            for p, value in zip(params, saved, strict=True):
                p.copy_(value)
    return CloningResult(train_losses, val_losses, val_steps, best_step, stopped_early)


def _split(n: int, episode_starts: Any, fraction: float, rng: np.random.Generator
           ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(train indices, held-out indices or None)``: whole episodes held out when there are two or more."""
    if fraction == 0.0:
        return torch.arange(n), None
    held = np.zeros(n, dtype=bool)
    starts = None if episode_starts is None else np.asarray(episode_starts, dtype=np.int64).reshape(-1)
    if starts is not None and len(starts) >= 2:
        if starts[0] != 0 or np.any(np.diff(starts) <= 0) or starts[-1] >= n:
            raise ValueError(f"episode_starts must increase from 0 and stay below {n}")
        episode = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
        k = min(len(starts) - 1, max(1, round(fraction * len(starts))))
        held[np.isin(episode, rng.choice(len(starts), size=k, replace=False))] = True
    else:
        if n < 2:
            raise ValueError("a validation split needs at least 2 demo steps: set validation_fraction=0")
        held[rng.permutation(n)[:min(n - 1, max(1, round(fraction * n)))]] = True
    return torch.as_tensor(np.flatnonzero(~held)), torch.as_tensor(np.flatnonzero(held))
