"""irl.rewards: reward models (tabular, linear, MLP, shaped), their files, and a gymnasium wrapper.

Every model is a ``torch.nn.Module`` with ``forward(obs, act, next_obs) -> (N,)``,
``table(mdp) -> (n_env_states, A)`` (differentiable, for exact tabular algorithms),
``spec()`` (JSON to rebuild it), and ``uses_action`` / ``uses_next_state``.
:class:`RewardFn` is the one seam between a model and whatever learns from it (env-form
batches ``(obs, act, next_obs, terminated) -> (N,)``). This layer imports ``irl.envs`` only.
"""

from irl.rewards.base import RewardFormatError, RewardModel
from irl.rewards.io import load_reward, save_reward
from irl.rewards.models import (
    LinearReward,
    MLPReward,
    ShapedReward,
    TabularReward,
    make_reward,
    reward_from_spec,
)
from irl.rewards.seam import RewardFn
from irl.rewards.shaped import shaping_table
from irl.rewards.wrapper import LearnedRewardWrapper

__all__ = [
    "LearnedRewardWrapper",
    "LinearReward",
    "MLPReward",
    "RewardFn",
    "RewardFormatError",
    "RewardModel",
    "ShapedReward",
    "TabularReward",
    "load_reward",
    "make_reward",
    "reward_from_spec",
    "save_reward",
    "shaping_table",
]
