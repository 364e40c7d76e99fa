"""A gymnasium wrapper that hands an agent the learned reward instead of the environment's."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium
import numpy as np

from irl.rewards.base import RewardModel
from irl.rewards.seam import RewardFn

__all__ = ["LearnedRewardWrapper"]


class LearnedRewardWrapper(gymnasium.Wrapper):
    """Replaces the env's reward by ``model(obs, act, next_obs)``; the env's own goes to ``info["true_reward"]``.

    Works with Discrete observations (state indices, for tabular models) and Box
    observations, and with Discrete and Box actions. Each step evaluates the model on
    a batch of one through :class:`irl.rewards.seam.RewardFn`, without gradients. With
    ``use_terminated`` (default) a model that takes a ``terminated`` mask (ShapedReward)
    gets it, so ``h`` of a terminal state is 0. Any RL library that trains on a gymnasium
    env can then train on the learned reward.
    """

    def __init__(self, env: gymnasium.Env, model: RewardModel, *, use_terminated: bool = True) -> None:
        super().__init__(env)
        self.model = model
        self.reward_fn = RewardFn(model, env.observation_space, env.action_space)
        self.use_terminated = use_terminated
        self._obs: Any = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        next_obs, true_reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        info["true_reward"] = float(true_reward)
        reward = self.learned_reward(self._obs, action, next_obs, terminated)
        self._obs = next_obs
        return next_obs, reward, terminated, truncated, info

    def learned_reward(self, obs: Any, action: Any, next_obs: Any, terminated: bool = False) -> float:
        """Returns the model's reward for one transition, as a Python float."""
        done = bool(terminated) and self.use_terminated
        return float(self.reward_fn(np.asarray(obs)[None], np.asarray(action)[None], np.asarray(next_obs)[None],
                                    np.asarray([done]))[0])
