"""Soft actor-critic: Box actions (Haarnoja et al. 2018) and Discrete actions (Christodoulou 2019).

- :mod:`~irl.solvers.sac.config`: :class:`SACConfig`;
- :mod:`~irl.solvers.sac.losses`: the math, as pure functions of tensors;
- :mod:`~irl.solvers.sac.networks`: the twin critics and the policy (:class:`SACPolicy`);
- :mod:`~irl.solvers.sac.agent`: :class:`SACAgent`, the generator (collect / update);
- :func:`train`: the agent trained on a fixed reward (the env's, or a reward model's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import torch

from irl.checkpoint import Checkpoint
from irl.rewards.seam import RewardFn
from irl.solvers.agent import Transitions
from irl.solvers.policies import make_env
from irl.solvers.sac.agent import SACAgent
from irl.solvers.sac.config import SACConfig
from irl.solvers.sac.losses import (
    actor_loss,
    adam_step,
    critic_loss,
    discrete_actor_loss,
    discrete_soft_bellman_target,
    soft_bellman_target,
    squashed_gaussian_log_prob,
    squashed_gaussian_log_prob_of,
    temperature_loss,
)
from irl.solvers.sac.networks import SACPolicy, TwinCritic
from irl.solvers.spaces import SetupError
from irl.solvers.training import EpisodeLog, TrainResult, resolve_config, run_generator, torch_threads

__all__ = [
    "SACAgent",
    "SACConfig",
    "SACPolicy",
    "TwinCritic",
    "actor_loss",
    "adam_step",
    "critic_loss",
    "discrete_actor_loss",
    "discrete_soft_bellman_target",
    "soft_bellman_target",
    "squashed_gaussian_log_prob",
    "squashed_gaussian_log_prob_of",
    "temperature_loss",
    "train",
]


def train(env: gymnasium.Env | str, *, config: SACConfig | None = None,
          reward_model: Callable[..., torch.Tensor] | None = None, demos: Any = None, seed: int = 0,
          callback: Callable[[dict[str, Any]], Any] | None = None, progress: bool = False,
          checkpoint: Checkpoint | None = None, **overrides: Any) -> TrainResult:
    """Trains SAC on ``env`` for ``total_steps`` env steps and returns the policy, curve and evaluation.

    Args:
        env: a gymnasium env or id (Box or Discrete observations and actions).
        config, overrides: :class:`SACConfig`, fields replaced by keyword.
        reward_model: learn from this reward instead of the env's (through :class:`irl.rewards.RewardFn`).
        demos: :class:`irl.data.Demos` put in the replay buffer before training (their rewards
            relabelled by ``reward_model`` when given; without one they need rewards).
        seed: seeds the env resets, the weights, the exploration and the batches.
        callback: called with each finished episode's curve record; returning False stops.
        progress: report progress on stderr.
        checkpoint: resume from its restored state and save the state after each finished episode when
            due (:func:`irl.solvers.training.run_generator`); a resumed run ends bit-identical on the CPU.

    ``result.info["agent"]`` is the :class:`SACAgent` (critics, buffer) after training.
    """
    config = resolve_config(SACConfig, config, overrides)
    env = make_env(env)
    if demos is not None and demos.rewards is None and reward_model is None:
        raise SetupError("demos without 'rewards' can only be replayed with a reward_model")
    with torch_threads(config.cpu_threads):
        log = EpisodeLog(config.total_steps, callback, progress, desc="sac")
        n_demo = 0 if demos is None else demos.n_steps
        agent = SACAgent(env, config, seed=seed, capacity=min(config.buffer_size, config.total_steps + n_demo),
                         log=log)
        reward_fn = None if reward_model is None else RewardFn(reward_model, env.observation_space, env.action_space)
        if demos is not None:
            agent.add_demos(Transitions.from_demos(demos))
        return run_generator(agent, total_steps=config.total_steps, chunk=1, reward_fn=reward_fn, log=log,
                             eval_episodes=config.eval_episodes, seed=seed, checkpoint=checkpoint)
