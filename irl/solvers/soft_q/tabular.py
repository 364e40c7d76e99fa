"""Tabular soft (or hard) Q-learning: ``Q(s,a) ← Q(s,a) + α [r + γ (1 - terminated) V(s') - Q(s,a)]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np

from irl.checkpoint import Checkpoint, global_rng_state, rng_state, set_global_rng_state, set_rng_state
from irl.solvers.agent import env_rng_state, replay_episode
from irl.solvers.soft_bellman import soft_value_of_row
from irl.solvers.soft_q.config import SoftQConfig
from irl.solvers.soft_q.policies import TabularQPolicy, greedy, sample_boltzmann
from irl.solvers.training import EpisodeLog, TrainResult

__all__ = ["train_tabular"]


def train_tabular(env: gymnasium.Env, config: SoftQConfig, reward: Callable[[int, int, int, bool, float], float],
                  seed: int, callback: Callable[[dict], Any] | None, progress: bool,
                  checkpoint: Checkpoint | None = None) -> TrainResult:
    """Trains a Q table on Discrete observations and actions; ``reward(s, a, s', terminated, env_reward)``
    gives the reward learned from. Curve records add ``return`` (that reward's sum) and, under
    ε-greedy, ``epsilon``. ``result.info["q"]`` is the final table.

    ``checkpoint``: resume from its restored state; save the state after each finished episode when due
    (the table, the visit counts, the RNGs, the log, and the env's reset into the next episode)."""
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
    reset: dict[str, Any] = {"seed": seed}  # how the current episode began, to replay it on resume
    s = int(obs)
    episodes, length, learned_return = 0, 0, 0.0
    restored = checkpoint.restored if checkpoint is not None else None
    if restored is not None:
        q[...] = np.asarray(restored["q"], dtype=np.float64)
        counts[...] = np.asarray(restored["counts"], dtype=np.int64)
        set_rng_state(rng, restored["rng"])
        log.load_state_dict(restored["log"])
        set_global_rng_state(restored["global_rng"])
        episodes, reset = int(restored["episodes"]), restored["reset"]
        s = int(replay_episode(env, reset, [], restored["obs"]))
    epsilon = config.epsilon(episodes)
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
            reset = {"rng": env_rng_state(env)}
            obs, _ = env.reset()
            s, length, learned_return = int(obs), 0, 0.0
            if checkpoint is not None and checkpoint.due(episodes):
                checkpoint.save(episodes, {"q": q.copy(), "counts": counts.copy(), "rng": rng_state(rng),
                                           "log": log.state_dict(), "global_rng": global_rng_state(),
                                           "episodes": episodes, "reset": reset, "obs": np.asarray(s)})
        else:
            s = s2
    return log.finish(policy, env, config.eval_episodes, seed, info={"q": policy.q.clone(), "method": "tabular"})
