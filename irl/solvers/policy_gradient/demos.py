"""Demonstrations for policy gradient: the demos as tensors, and behaviour cloning."""

from __future__ import annotations

import numpy as np
import torch

from irl.solvers.agent import Transitions
from irl.solvers.cloning import clone_behavior
from irl.solvers.policy_gradient.policy import ActorCriticPolicy

__all__ = ["DemoBatch", "actor_parameters", "behavior_clone"]


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


def actor_parameters(policy: ActorCriticPolicy) -> list[torch.nn.Parameter]:
    """The parameters of π itself: the actor's and, for a Gaussian, ``log_std`` (not the critic's)."""
    return list(policy.actor.parameters()) + ([] if policy.discrete else [policy.log_std])


def behavior_clone(policy: ActorCriticPolicy, demo: DemoBatch, steps: int, lr: float, batch_size: int,
                   rng: np.random.Generator) -> list[float]:
    """Fits the actor to the demos by maximum likelihood for ``steps`` Adam steps; returns the losses.

    :func:`irl.solvers.cloning.clone_behavior` on :func:`actor_parameters`, without a validation
    split (the warm start and the behaviour model use every demo step).
    """
    return clone_behavior(policy, demo.transitions.observations, demo.actions, steps=steps, rng=rng,
                          params=actor_parameters(policy), learning_rate=lr, batch_size=batch_size,
                          validation_fraction=0.0).train_losses
