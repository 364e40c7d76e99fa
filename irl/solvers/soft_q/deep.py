"""Deep soft (or hard) Q-learning: a Q-network regressed on the soft target of a target network, from
the replay buffer of :mod:`irl.solvers.replay`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from irl.checkpoint import Checkpoint, global_rng_state, rng_state, set_global_rng_state, set_rng_state
from irl.solvers.agent import RewardFunction, env_rng_state, replay_episode
from irl.solvers.replay import ReplayBuffer, TransitionBatch
from irl.solvers.soft_bellman import soft_target, soft_value
from irl.solvers.soft_q.config import SoftQConfig
from irl.solvers.soft_q.policies import QNetworkPolicy, greedy, sample_boltzmann
from irl.solvers.spaces import flat_dim, space_spec
from irl.solvers.training import EpisodeLog, TrainResult

__all__ = ["train_deep"]


def train_deep(env: gymnasium.Env, config: SoftQConfig, reward_fn: RewardFunction | None, seed: int,
               callback: Callable[[dict], Any] | None, progress: bool,
               checkpoint: Checkpoint | None = None) -> TrainResult:
    """Trains a Q-network (Discrete actions); ``reward_fn`` (None: the env's reward) relabels each
    minibatch, times ``config.reward_scale``. Curve records add ``loss`` and, under ε-greedy, ``epsilon``.

    ``checkpoint``: resume from its restored state; save the state after each finished episode when due
    (the networks, the optimiser, the RNGs, the replay buffer, the log, and the env's reset into the next
    episode)."""
    explore, tau = config.explore, config.tau
    A = int(env.action_space.n)
    obs_space = env.observation_space
    policy = QNetworkPolicy(space_spec(obs_space), A, config.hidden, temperature=tau, seed=seed)
    target_net = copy.deepcopy(policy.net).requires_grad_(False)
    optimizer = torch.optim.Adam(policy.net.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    buffer = ReplayBuffer(min(config.buffer_size, config.total_steps), flat_dim(obs_space), 1, "cpu", generator)
    rng = np.random.default_rng(seed)
    cap = config.max_episode_steps
    log = EpisodeLog(config.total_steps, callback, progress, desc="deep soft-q" if config.soft else "dqn")
    obs, _ = env.reset(seed=seed)
    reset: dict[str, Any] = {"seed": seed}  # how the current episode began, to replay it on resume
    episodes, length, losses = 0, 0, []
    restored = checkpoint.restored if checkpoint is not None else None
    if restored is not None:
        policy.net.load_state_dict(restored["net"])
        target_net.load_state_dict(restored["target_net"])
        optimizer.load_state_dict(copy.deepcopy(restored["optimizer"]))  # Adam would step the given tensors
        set_rng_state(generator, restored["generator"])
        set_rng_state(rng, restored["rng"])
        buffer.load_state_dict(restored["buffer"])
        log.load_state_dict(restored["log"])
        set_global_rng_state(restored["global_rng"])
        episodes, reset = int(restored["episodes"]), restored["reset"]
        obs = replay_episode(env, reset, [], restored["obs"])
    epsilon = config.epsilon(episodes)
    while log.steps < config.total_steps:
        with torch.no_grad():
            q_row = policy.net(policy.encoder.encode(obs)[0])[0].tolist()
        if explore == "boltzmann":
            a = sample_boltzmann(q_row, tau, rng)
        else:
            a = int(rng.integers(A)) if rng.random() < epsilon else greedy(q_row, rng)
        next_obs, env_reward, terminated, truncated, info = env.step(a)
        buffer.add(np.ravel(obs), a, env_reward, np.ravel(next_obs), terminated)
        log.step(float(info.get("true_reward", env_reward)))
        length += 1
        step = log.steps
        if step >= config.learning_starts and step % config.train_freq == 0:
            batch = buffer.sample(config.batch_size)
            losses.append(_gradient_step(policy, target_net, optimizer, batch, obs_space, reward_fn, config))
        if step % config.target_update_interval == 0:
            target_net.load_state_dict(policy.net.state_dict())
        if terminated or truncated or (cap is not None and length >= cap):
            episodes += 1
            extra = {"epsilon": epsilon} if explore == "epsilon" else {}
            if losses:
                extra["loss"] = float(np.mean(losses))
                losses.clear()
            if not log.end_episode(**extra) or config.enough(episodes):
                break
            epsilon = config.epsilon(episodes)
            reset = {"rng": env_rng_state(env)}
            obs, _ = env.reset()
            length = 0
            if checkpoint is not None and checkpoint.due(episodes):
                checkpoint.save(episodes, {
                    "net": _copy(policy.net.state_dict()), "target_net": _copy(target_net.state_dict()),
                    "optimizer": copy.deepcopy(optimizer.state_dict()), "generator": rng_state(generator),
                    "rng": rng_state(rng), "buffer": buffer.state_dict(), "log": log.state_dict(),
                    "global_rng": global_rng_state(), "episodes": episodes, "reset": reset, "obs": np.asarray(obs)})
        else:
            obs = next_obs
    return log.finish(policy, env, config.eval_episodes, seed, info={"method": "deep"})


def _copy(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A module's ``state_dict`` with its tensors copied (a checkpoint state must not change as training goes on)."""
    return {k: v.clone() for k, v in tensors.items()}


def _env_obs(flat: torch.Tensor, space: spaces.Space) -> torch.Tensor:
    """Stored flat observations ``(B, obs_dim)`` in env form: ``(B,)`` indices or ``(B, *shape)``."""
    return flat[:, 0].long() if isinstance(space, spaces.Discrete) else flat.reshape(-1, *space.shape)


def _gradient_step(policy: QNetworkPolicy, target_net: nn.Module, optimizer: torch.optim.Optimizer,
                   batch: TransitionBatch, obs_space: spaces.Space, reward_fn: RewardFunction | None,
                   config: SoftQConfig) -> float:
    """One Huber regression of ``Q(s, a)`` on the soft target; returns the loss."""
    obs, next_obs = _env_obs(batch.obs, obs_space), _env_obs(batch.next_obs, obs_space)
    act = batch.act[:, 0].long()
    if reward_fn is None:
        reward = batch.env_reward
    else:  # the reward model is evaluated here, on the minibatch, rather than once per env step
        reward = reward_fn(obs, act, next_obs, batch.terminated.bool()).to(torch.float32)
    reward = reward * config.reward_scale if config.reward_scale != 1.0 else reward
    x, _ = policy.encoder.encode(obs)
    x2, _ = policy.encoder.encode(next_obs)
    with torch.no_grad():
        target = soft_target(reward, soft_value(target_net(x2), config.tau), batch.terminated, config.gamma)
    q_sa = policy.net(x).gather(1, act[:, None]).squeeze(1)
    loss = nn.functional.smooth_l1_loss(q_sa, target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(policy.net.parameters(), config.max_grad_norm)
    optimizer.step()
    return loss.item()
