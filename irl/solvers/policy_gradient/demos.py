"""Demonstrations for policy gradient: the demos as tensors, and behaviour cloning."""

from __future__ import annotations

import numpy as np
import torch

from irl.solvers.agent import Transitions
from irl.solvers.policy_gradient.policy import ActorCriticPolicy

__all__ = ["DemoBatch", "behavior_clone"]


class DemoBatch:
    """Demo transitions as the demo terms use them: encoded observations, actions, episode layout.

    Episodes are the runs of steps between ``terminated`` or ``truncated`` ends (the last step
    always ends one). ``env_rewards`` holds the demos' own rewards (NaN where unknown).
    """

    def __init__(self, transitions: Transitions, policy: ActorCriticPolicy) -> None:
        self.transitions = transitions
        self.x, _ = policy.encoder.encode(np.asarray(transitions.observations))
        self.next_x, _ = policy.encoder.encode(np.asarray(transitions.next_observations))
        act = np.asarray(transitions.actions)
        self.actions = torch.as_tensor(act.astype(np.int64) if policy.discrete else act.astype(np.float32))
        self.terminated = torch.as_tensor(np.asarray(transitions.terminated, dtype=bool))
        ends = np.asarray(transitions.terminated, dtype=bool) | np.asarray(transitions.truncated, dtype=bool)
        ends[-1] = True
        self.chain_ends = torch.as_tensor(ends)
        self.episode_starts = torch.as_tensor(np.flatnonzero(np.concatenate([[True], ends[:-1]])).astype(np.int64))
        self.n = self.x.shape[0]
        self.env_rewards = np.asarray(transitions.env_rewards, dtype=np.float64)


def behavior_clone(policy: ActorCriticPolicy, demo: DemoBatch, steps: int, lr: float, batch_size: int,
                   rng: np.random.Generator) -> list[float]:
    """Fits the actor to the demos by maximum likelihood for ``steps`` Adam steps; returns the losses."""
    params = list(policy.actor.parameters()) + ([] if policy.discrete else [policy.log_std])
    optimizer = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        i = torch.as_tensor(rng.integers(0, demo.n, size=min(batch_size, demo.n)))
        loss = -policy.dist_log_prob(policy.distribution(demo.x[i]), demo.actions[i]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
