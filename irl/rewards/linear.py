"""Tabular and linear rewards: one value per state(-action), or features times weights."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from irl.envs.tabular import TabularMDP
from irl.rewards.base import RewardModel, check_indices, check_vectors, gather_rows, register_kind

__all__ = ["LinearReward", "TabularReward"]


@register_kind("tabular")
class TabularReward(RewardModel):
    """One free reward per state (``state_only``) or per state-action pair, initialised to 0.

    Parameter ``theta``: ``(n_states,)`` or ``(n_states, n_actions)``. ``forward`` takes
    ``obs`` ``(N,)`` state indices (``n_states`` is the absorbing state, reward 0) and,
    unless ``state_only``, ``act`` ``(N,)`` action indices.
    """

    def __init__(self, n_states: int, n_actions: int, state_only: bool = False) -> None:
        super().__init__()
        if n_states < 1 or n_actions < 1:
            raise ValueError(f"need n_states >= 1 and n_actions >= 1, got {n_states} and {n_actions}")
        self.n_states, self.n_actions, self.state_only = int(n_states), int(n_actions), bool(state_only)
        shape = (self.n_states,) if self.state_only else (self.n_states, self.n_actions)
        self.theta = nn.Parameter(torch.zeros(shape))

    @property
    def uses_action(self) -> bool:
        return not self.state_only

    @property
    def uses_next_state(self) -> bool:
        return False

    def forward(self, obs: torch.Tensor, act: torch.Tensor | None = None,
                next_obs: torch.Tensor | None = None) -> torch.Tensor:
        """Returns ``(N,)`` rewards ``theta[obs]`` or ``theta[obs, act]``."""
        obs = check_indices("obs", obs, self.n_states)
        if self.state_only:
            return gather_rows(self.theta, obs)
        act = check_indices("act", act, self.n_actions - 1, len(obs))
        return gather_rows(self.theta, obs)[torch.arange(len(obs), device=obs.device), act]

    def table(self, mdp: TabularMDP) -> torch.Tensor:
        """Returns ``theta`` as an ``(n_env_states, A)`` table (a state-only one repeated over actions)."""
        S, A = self.check_mdp(mdp)
        if A != self.n_actions:
            raise ValueError(f"TabularReward has {self.n_actions} actions but the MDP has {A}")
        return self.theta[:, None].expand(S, A) if self.state_only else self.theta

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_states": self.n_states, "n_actions": self.n_actions,
                "state_only": self.state_only}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TabularReward:
        return cls(int(spec["n_states"]), int(spec["n_actions"]), bool(spec.get("state_only", False)))


@register_kind("linear")
class LinearReward(RewardModel):
    """A reward linear in features, ``r = φ · w`` with weights ``w`` ``(F,)`` initialised to 0.

    On a feature table (buffer ``features``): ``(S, F)`` state features, ``r(s) = φ(s)·w``,
    or ``(S, A, F)`` state-action features, ``r(s, a) = φ(s, a)·w``; ``forward`` takes
    ``obs`` ``(N,)`` state indices (``S`` is the absorbing state: features 0).
    ``LinearReward.on_observations(obs_dim)``: ``φ`` is the observation, ``obs`` ``(N, obs_dim)``.
    Parameters follow the feature table's dtype (float32 on observations).
    """

    def __init__(self, features: torch.Tensor | None, n_actions: int | None = None, *,
                 obs_dim: int | None = None) -> None:
        super().__init__()
        if (features is None) == (obs_dim is None):
            raise ValueError("give exactly one of features (a table) and obs_dim (use on_observations)")
        self.obs_dim = None if obs_dim is None else int(obs_dim)
        if features is not None:
            features = torch.as_tensor(features)
            if not features.is_floating_point():
                features = features.to(torch.get_default_dtype())
            if features.ndim not in (2, 3):
                raise ValueError(f"features must be (S, F) or (S, A, F), got {tuple(features.shape)}")
            if features.ndim == 3:
                if n_actions is not None and n_actions != features.shape[1]:
                    raise ValueError(f"n_actions={n_actions} but features are {tuple(features.shape)}")
                n_actions = features.shape[1]
            self.register_buffer("features", features.detach().clone())
            self.n_states = features.shape[0]
            n_weights, dtype = features.shape[-1], features.dtype
        else:
            self.features = None
            n_weights, dtype = self.obs_dim, torch.get_default_dtype()
        self.n_actions = None if n_actions is None else int(n_actions)
        self.weights = nn.Parameter(torch.zeros(n_weights, dtype=dtype))

    @classmethod
    def on_observations(cls, obs_dim: int, n_actions: int | None = None) -> LinearReward:
        """Returns a linear reward on raw observation vectors: ``r = obs · w``, ``w`` ``(obs_dim,)``."""
        return cls(None, n_actions, obs_dim=obs_dim)

    @property
    def uses_action(self) -> bool:
        return self.features is not None and self.features.ndim == 3

    @property
    def uses_next_state(self) -> bool:
        return False

    def forward(self, obs: torch.Tensor, act: torch.Tensor | None = None,
                next_obs: torch.Tensor | None = None) -> torch.Tensor:
        """Returns ``(N,)`` rewards ``φ(obs[, act]) · w``."""
        if self.features is None:
            return check_vectors("obs", obs, self.obs_dim, self.weights.dtype) @ self.weights
        obs = check_indices("obs", obs, self.n_states)
        phi = gather_rows(self.features, obs)
        if self.uses_action:
            act = check_indices("act", act, self.n_actions - 1, len(obs))
            phi = phi[torch.arange(len(obs), device=obs.device), act]
        return phi @ self.weights

    def table(self, mdp: TabularMDP) -> torch.Tensor:
        """Returns the ``(n_env_states, A)`` table ``features @ w`` (state features repeated over actions)."""
        S, A = self.check_mdp(mdp)
        r = self.features @ self.weights
        if self.uses_action:
            if A != self.n_actions:
                raise ValueError(f"LinearReward has {self.n_actions} actions but the MDP has {A}")
            return r
        return r[:, None].expand(S, A)

    def spec(self) -> dict[str, Any]:
        if self.features is None:
            return {"kind": self.kind, "obs_dim": self.obs_dim, "n_actions": self.n_actions}
        return {"kind": self.kind, "features_shape": list(self.features.shape), "n_actions": self.n_actions}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LinearReward:
        n_actions = spec.get("n_actions")
        if spec.get("obs_dim") is not None:
            return cls.on_observations(int(spec["obs_dim"]), n_actions)
        shape = [int(d) for d in spec["features_shape"]]
        return cls(torch.zeros(shape), n_actions)  # the feature table itself comes with the weights
