"""The policy of policy gradient: an actor (Categorical logits, or a Gaussian) and a critic ``V(s)``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from irl.nets import mlp
from irl.solvers.policies import register_policy
from irl.solvers.spaces import ObsEncoder, box_bounds

__all__ = ["ActorCriticPolicy"]


@register_policy("actor-critic")
class ActorCriticPolicy(nn.Module):
    """An actor (Categorical logits, or a Gaussian mean with a state-independent log std) and a critic
    ``V(s)``, both tanh MLPs with the PPO initialisation, on encoded observations.

    The policy interface (:mod:`irl.solvers.policies`) takes env-form observations and actions; a
    Gaussian action is scored as drawn (the env clips it to its bounds). Training works on encoded
    inputs (``encoder.encode``) and distributions (:meth:`distribution`, :meth:`dist_log_prob`).
    """

    def __init__(self, observation: dict[str, Any], action: dict[str, Any],
                 hidden: tuple[int, ...] = (64, 64), init_log_std: float = -0.5, seed: int = 0) -> None:
        super().__init__()
        self.observation, self.action, self.hidden = observation, action, tuple(hidden)
        self.init_log_std, self.seed = float(init_log_std), int(seed)
        self.encoder = ObsEncoder(observation)
        self.discrete = action["type"] == "discrete"
        self.act_shape: tuple[int, ...] = () if self.discrete else tuple(action["shape"])
        out = int(action["n"]) if self.discrete else int(np.prod(self.act_shape, dtype=np.int64))
        generator = torch.Generator().manual_seed(self.seed)
        self.actor = mlp([self.encoder.dim, *self.hidden, out], seed=generator, activation="tanh",
                         init="orthogonal", out_gain=0.01)
        self.critic = mlp([self.encoder.dim, *self.hidden, 1], seed=generator, activation="tanh",
                          init="orthogonal", out_gain=1.0)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((out,), self.init_log_std))
            low, high = box_bounds(action)
            self.register_buffer("low", low)
            self.register_buffer("high", high)
        self.generator = torch.Generator().manual_seed(self.seed)

    # -- the pieces training uses (encoded inputs)
    def distribution(self, x: torch.Tensor) -> torch.distributions.Distribution:
        """Returns π(·|s) for encoded observations ``(N, dim)``: Categorical, or a diagonal Normal."""
        out = self.actor(x)
        if self.discrete:
            return torch.distributions.Categorical(logits=out, validate_args=False)
        return torch.distributions.Normal(out, self.log_std.exp().expand_as(out), validate_args=False)

    def dist_log_prob(self, dist: torch.distributions.Distribution, actions: torch.Tensor) -> torch.Tensor:
        """Returns ``(N,)`` ``log π(a|s)`` of ``actions`` under ``dist`` (summed over action dimensions)."""
        if self.discrete:
            return dist.log_prob(actions.long().reshape(-1))
        return dist.log_prob(actions.reshape(actions.shape[0], -1).to(dist.mean.dtype)).sum(-1)

    def entropy(self, dist: torch.distributions.Distribution) -> torch.Tensor:
        """Returns ``(N,)`` ``H(π(·|s))``."""
        h = dist.entropy()
        return h if self.discrete else h.sum(-1)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """Returns ``(N,)`` ``V(s)``."""
        return self.critic(x).squeeze(-1)

    def draw(self, dist: torch.distributions.Distribution) -> torch.Tensor:
        """Draws actions ``(N,)`` or ``(N, act_dim)`` from ``dist`` with the policy's own generator."""
        if self.discrete:
            return torch.multinomial(dist.probs, 1, generator=self.generator).squeeze(-1)
        noise = torch.randn(dist.mean.shape, generator=self.generator, dtype=dist.mean.dtype)
        return dist.mean + dist.stddev * noise

    # -- the policy interface (env-form observations and actions)
    def log_prob(self, obs: Any, act: Any) -> torch.Tensor:
        """``(N,)`` ``log π(a|s)`` of env-form actions, with gradients."""
        x, _ = self.encoder.encode(obs)
        a = act if isinstance(act, torch.Tensor) else torch.as_tensor(np.asarray(act))
        return self.dist_log_prob(self.distribution(x), a.reshape(x.shape[0], *self.act_shape))

    def sample(self, obs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(actions, log π(a|s))`` for a batch of observations (Gaussian draws before clipping)."""
        x, _ = self.encoder.encode(obs)
        dist = self.distribution(x)
        a = self.draw(dist)
        return a.reshape(-1, *self.act_shape), self.dist_log_prob(dist, a)

    def mode(self, obs: Any) -> torch.Tensor:
        """The most likely action of each observation (Gaussian: the mean, clipped to the bounds)."""
        x, _ = self.encoder.encode(obs)
        dist = self.distribution(x)
        if self.discrete:
            return dist.probs.argmax(-1)
        return torch.clamp(dist.mean, self.low, self.high).reshape(-1, *self.act_shape)

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """Returns actions for one observation (``()`` int or ``(act_dim,)``) or a batch, within bounds."""
        _, single = self.encoder.encode(obs)
        with torch.no_grad():
            if deterministic:
                a = self.mode(obs)
            else:
                a = self.sample(obs)[0]
                if not self.discrete:
                    a = torch.clamp(a.reshape(a.shape[0], -1), self.low, self.high).reshape(-1, *self.act_shape)
        a = a.numpy()
        return a[0] if single else a

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "observation": self.observation, "action": self.action,
                "hidden": list(self.hidden), "init_log_std": self.init_log_std, "seed": self.seed}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ActorCriticPolicy:
        return cls(spec["observation"], spec["action"], tuple(spec.get("hidden", (64, 64))),
                   float(spec.get("init_log_std", -0.5)), int(spec.get("seed", 0)))
