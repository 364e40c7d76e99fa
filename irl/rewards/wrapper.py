"""A gymnasium wrapper that hands an agent the learned reward instead of the environment's."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

from irl.rewards.base import RewardModel

__all__ = ["LearnedRewardWrapper"]


class LearnedRewardWrapper(gymnasium.Wrapper):
    """Replaces the env's reward by ``model(obs, act, next_obs)``; the env's own goes to ``info["true_reward"]``.

    Works with Discrete observations (state indices, for tabular models) and Box
    observations, and with Discrete and Box actions. Each step evaluates the model on
    a batch of one, without gradients. With ``use_terminated`` (default) a model that
    takes a ``terminated`` mask (ShapedReward) gets it, so ``h`` of a terminal state is 0.
    Any RL library that trains on a gymnasium env can then train on the learned reward.
    """

    def __init__(self, env: gymnasium.Env, model: RewardModel, *, use_terminated: bool = True) -> None:
        super().__init__(env)
        for name, space in (("observation", env.observation_space), ("action", env.action_space)):
            if not isinstance(space, (spaces.Discrete, spaces.Box)):
                raise TypeError(f"LearnedRewardWrapper supports Discrete or Box {name} spaces, "
                                f"got {type(space).__name__}")
        self.model = model
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
        extra = {}
        if self.use_terminated and self.model.accepts_terminated:
            extra["terminated"] = torch.tensor([bool(terminated)], device=self.model.device)
        with torch.no_grad():
            r = self.model(self._as_batch(obs, self.observation_space), self._as_batch(action, self.action_space),
                           self._as_batch(next_obs, self.observation_space), **extra)
        return float(r.reshape(-1)[0])

    def _as_batch(self, x: Any, space: spaces.Space) -> torch.Tensor:
        """Returns ``x`` as a batch of one: ``(1,)`` int64 for Discrete, ``(1, *shape)`` float for Box."""
        if isinstance(space, spaces.Discrete):
            return torch.tensor([int(x)], dtype=torch.int64, device=self.model.device)
        arr = np.asarray(x, dtype=np.float64).reshape(1, *space.shape)
        return torch.as_tensor(arr, dtype=self.model.dtype, device=self.model.device)
