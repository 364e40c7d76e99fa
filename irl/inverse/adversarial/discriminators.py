"""The discriminators of GAN-style IRL, as reward models with a logit.

- GAIL (Ho & Ermon 2016): ``logit(s, a)``, an MLP on the state (one-hot for a Discrete space)
  and the action; ``D = sigmoid(logit)`` is the probability that a transition is the expert's.
- AIRL (Fu et al. 2018): ``logit = f(s, a, s') − log π(a|s)`` with
  ``f = g(s[, a]) + γ h(s') − h(s)`` (:class:`irl.rewards.ShapedReward`), so that at the optimum
  ``g`` recovers the reward up to a constant and ``h`` the value; ``π`` is the generator's policy.

Both hold one more parameter, the logit of the absorbing state that a termination leads to
(Kostrikov et al. 2019): it is trained on the absorbing samples of both sides and gives the
generator the reward of ending an episode.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from irl.rewards import MLPReward, RewardModel, ShapedReward

__all__ = ["AIRLDiscriminator", "GAILDiscriminator", "reward_net", "to_model"]


def reward_net(observation_space: spaces.Space, action_space: spaces.Space, *, inputs: str,
               hidden: tuple[int, ...], seed: int) -> MLPReward:
    """An :class:`MLPReward` for env-form batches of these spaces: a Discrete observation through a
    one-hot feature table (so the model also has an exact ``table`` on a tabular MDP), a Box one raw."""
    act = {}
    if inputs != "s":
        act = ({"n_actions": int(action_space.n)} if isinstance(action_space, spaces.Discrete)
               else {"act_dim": int(torch.tensor(action_space.shape).prod())})
    if isinstance(observation_space, spaces.Discrete):
        n = int(observation_space.n)
        if "act_dim" in act:
            raise ValueError("a Discrete observation space with a Box action space is not supported")
        return MLPReward(n, hidden, inputs, features=torch.eye(n), seed=seed, **act)
    return MLPReward(int(torch.tensor(observation_space.shape).prod()), hidden, inputs, seed=seed, **act)


class GAILDiscriminator(nn.Module):
    """``logit(s, a)`` and the absorbing state's logit; ``reward_model`` is the logit network."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, hidden: tuple[int, ...],
                 seed: int) -> None:
        super().__init__()
        self.net = reward_net(observation_space, action_space, inputs="sa", hidden=hidden, seed=seed)
        self.absorbing_logit = nn.Parameter(torch.zeros(()))

    def logits(self, obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor,
               log_pi: torch.Tensor | None = None) -> torch.Tensor:
        """``(N,)`` logits of env-form batches (``next_obs``, ``terminated`` and ``log_pi`` unused)."""
        return self.net(obs, act)

    @property
    def reward_model(self) -> RewardModel:
        return self.net


class AIRLDiscriminator(nn.Module):
    """``f(s, a, s') − log π(a|s)`` and the absorbing state's logit; ``reward_model`` is ``g``.

    Args:
        state_only: ``g(s)`` (the paper's choice for rewards that transfer) or ``g(s, a)``.
        gamma: the discount of the shaping ``γ h(s') − h(s)`` (the generator's).
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, hidden: tuple[int, ...],
                 seed: int, *, state_only: bool, gamma: float) -> None:
        super().__init__()
        g = reward_net(observation_space, action_space, inputs="s" if state_only else "sa", hidden=hidden, seed=seed)
        h = reward_net(observation_space, action_space, inputs="s", hidden=hidden, seed=seed + 1)
        self.f = ShapedReward(g, h, gamma)
        self.absorbing_logit = nn.Parameter(torch.zeros(()))

    def logits(self, obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor,
               log_pi: torch.Tensor | None = None) -> torch.Tensor:
        """``(N,)`` logits ``f(s, a, s') − log π(a|s)`` of env-form batches."""
        if log_pi is None:
            raise ValueError("AIRL's logit needs log π(a|s) of the generator's policy")
        return self.f(obs, act, next_obs, terminated) - log_pi

    @property
    def reward_model(self) -> RewardModel:
        return self.f.base


def to_model(x: Any, model: nn.Module) -> torch.Tensor:
    """``x`` as a tensor on the model's device, in its floating dtype (indices stay integer), for env-form
    batches."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    p = next(model.parameters())
    return t.to(p.device, p.dtype) if t.is_floating_point() else t.to(p.device)
