"""Soft Q-learning, tabular and deep (discrete actions), with hard Q-learning as the baseline.

The soft Bellman backup of control as inference (Levine 2018, "Reinforcement Learning
and Control as Probabilistic Inference", Sec. 4.2 (soft Q-learning); Haarnoja et al. 2017,
"Reinforcement Learning with Deep Energy-Based Policies", here with a sum over discrete actions):

    V(s')    = τ log Σ_a' exp(Q(s', a') / τ)              (soft)   or  max_a' Q(s', a')  (hard)
    target   = r + γ (1 - terminated) V(s')
    π(a | s) = exp((Q(s, a) - V(s)) / τ)

Tabular: ``Q(s,a) ← Q(s,a) + α [target - Q(s,a)]``; its fixed point is the Q of
``soft_value_iteration`` (discounted, temperature τ). Deep: a Q-network regressed on
the target computed with a target network, from a preallocated replay buffer.
Truncation by a time limit bootstraps; termination does not. The backups are
:mod:`irl.solvers.soft_bellman`'s; the modules: :mod:`~.config`, :mod:`~.policies`,
:mod:`~.tabular` and :mod:`~.deep`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
from gymnasium import spaces

from irl.checkpoint import Checkpoint
from irl.rewards.seam import RewardFn
from irl.solvers.policies import make_env
from irl.solvers.soft_q.config import SoftQConfig
from irl.solvers.soft_q.deep import train_deep
from irl.solvers.soft_q.policies import QNetworkPolicy, TabularQPolicy
from irl.solvers.soft_q.tabular import train_tabular
from irl.solvers.spaces import SetupError
from irl.solvers.training import TrainResult, resolve_config

__all__ = ["QNetworkPolicy", "SoftQConfig", "TabularQPolicy", "train"]


def train(env: gymnasium.Env | str, *, config: SoftQConfig | None = None, reward_model: Any = None,
          demos: Any = None, seed: int = 0, callback: Callable[[dict], Any] | None = None,
          progress: bool = False, checkpoint: Checkpoint | None = None, **overrides: Any) -> TrainResult:
    """Returns a policy trained by soft (or hard) Q-learning on ``env`` for ``reward_model`` (or the env's reward).

    See :mod:`irl.solvers.training` for the shared arguments. Tabular needs Discrete
    observations and actions; deep needs Discrete actions. ``result.info["q"]`` holds the
    final Q table (tabular). Curve records add ``return`` (the reward learned from, scaled)
    for tabular runs, ``loss`` for deep ones, and ``epsilon`` under ε-greedy. ``checkpoint``
    (:mod:`irl.checkpoint`) resumes from its restored state and saves the state after each finished
    training episode when due; a resumed run ends bit-identical on the CPU.
    """
    config = resolve_config(SoftQConfig, config, overrides)
    if demos is not None:
        raise SetupError("soft Q-learning does not use demonstrations (policy_gradient does)")
    env = make_env(env)
    if not isinstance(env.action_space, spaces.Discrete):
        raise SetupError(f"soft Q-learning needs Discrete actions, got {env.action_space}; use SAC")
    method = config.method
    if method == "auto":
        method = "tabular" if isinstance(env.observation_space, spaces.Discrete) else "deep"
    reward_fn = None if reward_model is None else RewardFn(reward_model, env.observation_space, env.action_space)
    scale = config.reward_scale
    if method == "tabular":
        if not isinstance(env.observation_space, spaces.Discrete):
            raise SetupError(f"tabular soft Q-learning needs Discrete observations, got {env.observation_space}")

        def reward(s: int, a: int, s2: int, terminated: bool, env_reward: float) -> float:
            r = float(env_reward) if reward_fn is None else reward_fn.one(s, a, s2, terminated)
            return r * scale

        return train_tabular(env, config, reward, seed, callback, progress, checkpoint)
    return train_deep(env, config, reward_fn, seed, callback, progress, checkpoint)
