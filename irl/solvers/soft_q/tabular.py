"""Tabular soft (or hard) Q-learning: ``Q(s,a) ← Q(s,a) + α [r + γ (1 - terminated) V(s') - Q(s,a)]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np

from irl.solvers.soft_bellman import soft_value_of_row
from irl.solvers.soft_q.config import SoftQConfig
from irl.solvers.soft_q.policies import TabularQPolicy, greedy, sample_boltzmann
from irl.solvers.training import EpisodeLog, TrainResult

__all__ = ["train_tabular"]


def train_tabular(env: gymnasium.Env, config: SoftQConfig, reward: Callable[[int, int, int, bool, float], float],
                  seed: int, callback: Callable[[dict], Any] | None, progress: bool) -> TrainResult:
    """Trains a Q table on Discrete observations and actions; ``reward(s, a, s', terminated, env_reward)``
    gives the reward learned from. Curve records add ``return`` (that reward's sum) and, under
    ε-greedy, ``epsilon``. ``result.info["q"]`` is the final table."""
    explore, tau = config.explore, config.tau
    S, A = int(env.observation_space.n), int(env.action_space.n)
    policy = TabularQPolicy(S, A, temperature=tau, epsilon=0.0, seed=seed)
    q = policy.q.numpy()  # shares memory with the buffer: the loop writes into the policy
    counts = np.zeros((S, A), dtype=np.int64)
    rng = np.random.default_rng(seed)
    gamma, step_size, power = config.gamma, config.step_size, config.step_size_power
    cap = config.max_episode_steps
    log = EpisodeLog(config.total_steps, callback, progress, desc="soft-q" if config.soft else "q")
    obs, _ = env.reset(seed=seed)
    s = int(obs)
    episodes, length, learned_return = 0, 0, 0.0
    epsilon = config.epsilon(0)
    while log.steps < config.total_steps:
        row = q[s].tolist()
        if explore == "boltzmann":
            a = sample_boltzmann(row, tau, rng)
        else:
            a = int(rng.integers(A)) if rng.random() < epsilon else greedy(row, rng)
        next_obs, env_reward, terminated, truncated, info = env.step(a)
        s2 = int(next_obs)
        r = reward(s, a, s2, terminated, env_reward)
        log.step(float(info.get("true_reward", env_reward)))
        length += 1
        learned_return += r
        target = r if terminated else r + gamma * soft_value_of_row(q[s2].tolist(), tau)
        if power:
            counts[s, a] += 1
            alpha = step_size / counts[s, a] ** power
        else:
            alpha = step_size
        q[s, a] += alpha * (target - row[a])
        if terminated or truncated or (cap is not None and length >= cap):
            episodes += 1
            extra = {"return": learned_return}
            if explore == "epsilon":
                extra["epsilon"] = epsilon
            if not log.end_episode(**extra) or config.enough(episodes):
                break
            epsilon = config.epsilon(episodes)
            obs, _ = env.reset()
            s, length, learned_return = int(obs), 0, 0.0
        else:
            s = s2
    return log.finish(policy, env, config.eval_episodes, seed, info={"q": policy.q.clone(), "method": "tabular"})
