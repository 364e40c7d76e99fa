"""The reward models in one place, and ``make_reward`` to build the common kinds for a tabular MDP.

Each kind lives in its own module (``linear``: TabularReward, LinearReward; ``mlp``:
MLPReward; ``shaped``: ShapedReward); importing this module registers them all with
``reward_from_spec``.
"""

from __future__ import annotations

from typing import Any

import torch

from irl.envs.tabular import TabularMDP
from irl.rewards.base import RewardModel, reward_from_spec
from irl.rewards.linear import LinearReward, TabularReward
from irl.rewards.mlp import MLPReward
from irl.rewards.shaped import ShapedReward

__all__ = [
    "KINDS",
    "LinearReward",
    "MLPReward",
    "RewardModel",
    "ShapedReward",
    "TabularReward",
    "make_reward",
    "reward_from_spec",
]

#: the kinds ``make_reward`` builds
KINDS = ("tabular", "tabular-state", "linear", "mlp")


def make_reward(kind: str, mdp: TabularMDP | None = None, *, dtype: torch.dtype | None = None,
                **kwargs: Any) -> RewardModel:
    """Returns a fresh reward model of ``kind`` for ``mdp``, in ``dtype`` (default: the MDP's).

    Kinds: "tabular" (one value per (s, a)), "tabular-state" (one per s), "linear"
    (``φ(s)·w`` or ``φ(s,a)·w`` on ``mdp.features``), "mlp" (an MLPReward on
    ``mdp.features``, ``inputs="s"`` unless given). The absorbing state's row is
    dropped from the features. ``kwargs`` go to the constructor (e.g. ``hidden``,
    ``seed``, ``inputs``, ``activation`` for "mlp").
    """
    if kind not in KINDS:
        raise ValueError(f"unknown reward kind {kind!r}; make_reward builds {', '.join(KINDS)}")
    if mdp is None:
        raise ValueError(f"make_reward({kind!r}) needs the tabular MDP the reward is for")
    S, A = mdp.n_env_states, mdp.n_actions
    if kind in ("tabular", "tabular-state"):
        model: RewardModel = TabularReward(S, A, state_only=kind == "tabular-state", **kwargs)
    else:
        if mdp.features is None:
            raise ValueError(f"make_reward({kind!r}) needs an MDP with features")
        features = mdp.env_states(mdp.features)
        if kind == "linear":
            model = LinearReward(features, A if features.ndim == 2 else None, **kwargs)
        else:
            if features.ndim != 2:
                raise ValueError("make_reward('mlp') needs state features (S, F); this MDP has (S, A, F)")
            kwargs.setdefault("inputs", "s")
            kwargs.setdefault("n_actions", A)
            model = MLPReward(features.shape[1], features=features, **kwargs)
    return model.to(dtype or mdp.dtype)
