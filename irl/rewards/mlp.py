"""A multilayer-perceptron reward on state features or raw observations."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from irl.nets import ACTIVATIONS, mlp
from irl.rewards.base import RewardModel, check_indices, check_vectors, gather_rows, register_kind

__all__ = ["MLPReward"]

_INPUTS = ("s", "sa", "sas")


@register_kind("mlp")
class MLPReward(RewardModel):
    """An MLP ``r = f(x)`` with ``x`` = φ(s) [+ action] [+ φ(s')] as ``inputs`` is "s", "sa" or "sas".

    Args:
        in_dim: size of one state input: F of the feature table, or the number of
            values of an observation (it is flattened).
        hidden: widths of the hidden layers.
        inputs: "s" (state only), "sa" (state and action), "sas" (state, action, next state).
        n_actions: discrete actions (one-hot encoded); needed for "sa"/"sas" on a feature table.
        act_dim: size of a continuous action (used raw); at most one of n_actions, act_dim.
        features: ``(S, F)`` feature table (a buffer), or None for raw observations.
            With a table ``forward`` takes ``(N,)`` state indices, ``S`` being the
            absorbing state (features 0); parameters follow the table's dtype.
        seed: the initial weights are a function of the seed alone (:func:`irl.nets.mlp`).
        activation: one of relu, tanh, elu, silu, leaky_relu.
    """

    def __init__(self, in_dim: int, hidden: tuple[int, ...] = (64, 64), inputs: str = "s",
                 n_actions: int | None = None, act_dim: int | None = None,
                 features: torch.Tensor | None = None, seed: int = 0, activation: str = "relu") -> None:
        super().__init__()
        if inputs not in _INPUTS:
            raise ValueError(f"inputs must be one of {_INPUTS}, got {inputs!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if n_actions is not None and act_dim is not None:
            raise ValueError("give n_actions (discrete actions) or act_dim (continuous), not both")
        if inputs != "s" and n_actions is None and act_dim is None:
            raise ValueError(f"inputs={inputs!r} needs n_actions (discrete) or act_dim (continuous)")
        if features is not None and act_dim is not None:
            raise ValueError("a model on a feature table has discrete actions: give n_actions, not act_dim")
        self.in_dim, self.hidden, self.inputs = int(in_dim), tuple(int(h) for h in hidden), inputs
        self.n_actions = None if n_actions is None else int(n_actions)
        self.act_dim = None if act_dim is None else int(act_dim)
        self.seed, self.activation = int(seed), activation

        dtype = torch.get_default_dtype()
        if features is not None:
            features = torch.as_tensor(features)
            if features.ndim != 2 or features.shape[1] != self.in_dim:
                raise ValueError(f"features must be (S, {self.in_dim}), got {tuple(features.shape)}")
            dtype = features.dtype if features.is_floating_point() else dtype
            self.register_buffer("features", features.detach().to(dtype).clone())
            self.n_states = features.shape[0]
        else:
            self.features = None

        width = self.in_dim * (2 if inputs == "sas" else 1)
        if inputs != "s":
            width += self.n_actions if self.n_actions is not None else self.act_dim
        self.net = mlp([width, *self.hidden, 1], seed=self.seed, activation=activation, dtype=dtype)

    @property
    def uses_action(self) -> bool:
        return self.inputs != "s"

    @property
    def uses_next_state(self) -> bool:
        return self.inputs == "sas"

    def _state_input(self, name: str, x: torch.Tensor | None, n: int | None) -> torch.Tensor:
        """Returns ``(N, in_dim)``: the feature rows of indices ``x``, or the flattened observations."""
        if self.features is None:
            return check_vectors(name, x, self.in_dim, self.net[0].weight.dtype, n)
        return gather_rows(self.features, check_indices(name, x, self.n_states, n))

    def forward(self, obs: torch.Tensor, act: torch.Tensor | None = None,
                next_obs: torch.Tensor | None = None) -> torch.Tensor:
        """Returns ``(N,)`` rewards; ``obs``/``next_obs`` ``(N,)`` indices or ``(N, *obs_shape)``, ``act``
        ``(N,)`` indices (discrete) or ``(N, act_dim)``."""
        return self.net(self.encode(obs, act, next_obs)).squeeze(-1)

    def encode(self, obs: torch.Tensor, act: torch.Tensor | None = None,
               next_obs: torch.Tensor | None = None) -> torch.Tensor:
        """The network's input ``(N, width)`` for a batch: state features [, one-hot or raw action]
        [, next-state features]; ``self.net`` maps it to ``(N, 1)`` (a gradient penalty needs both)."""
        x = [self._state_input("obs", obs, None)]
        n = x[0].shape[0]
        if self.inputs != "s":
            if self.n_actions is not None:
                act = check_indices("act", act, self.n_actions - 1, n)
                x.append(nn.functional.one_hot(act, self.n_actions).to(x[0].dtype))
            else:
                x.append(check_vectors("act", act, self.act_dim, x[0].dtype, n))
        if self.inputs == "sas":
            x.append(self._state_input("next_obs", next_obs, n))
        return torch.cat(x, dim=1)

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "in_dim": self.in_dim, "hidden": list(self.hidden), "inputs": self.inputs,
            "n_actions": self.n_actions, "act_dim": self.act_dim, "seed": self.seed,
            "activation": self.activation,
            "features_shape": None if self.features is None else list(self.features.shape),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> MLPReward:
        shape = spec.get("features_shape")
        features = None if shape is None else torch.zeros([int(d) for d in shape])
        return cls(int(spec["in_dim"]), tuple(spec["hidden"]), spec["inputs"], spec.get("n_actions"),
                   spec.get("act_dim"), features, int(spec.get("seed", 0)), spec.get("activation", "relu"))
