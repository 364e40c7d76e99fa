"""SAC's networks: twin critics in one batched pass, and the actor (the policy users get)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from irl.nets import mlp, uniform
from irl.solvers.policies import register_policy
from irl.solvers.sac.losses import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    squashed_gaussian_log_prob,
    squashed_gaussian_log_prob_of,
)
from irl.solvers.spaces import ObsEncoder, SetupError

__all__ = ["SACPolicy", "TwinCritic"]


class TwinCritic(nn.Module):
    """K independent MLP critics evaluated in one batched pass: ``(N, in_dim) -> (K, N, out_dim)``.

    Layer ``l`` of all critics is one ``(K, fan_in, fan_out)`` weight, so each layer is
    one batched matmul (``baddbmm``) for all K critics together.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: tuple[int, ...], n_critics: int = 2,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        generator = generator or torch.Generator().manual_seed(0)
        sizes = [in_dim, *hidden, out_dim]
        self.n_critics = n_critics
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            self.weights.append(nn.Parameter(uniform((n_critics, fan_in, fan_out), fan_in, generator)))
            self.biases.append(nn.Parameter(uniform((n_critics, 1, fan_out), fan_in, generator)))

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Returns the ``(weight, bias)`` pairs of the layers, first to last."""
        return list(zip(self.weights, self.biases))

    def forward(self, x: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]] | None = None
                ) -> torch.Tensor:
        """Returns ``(K, N, out_dim)``; ``layers`` replaces the parameters (e.g. detached aliases of them)."""
        layers = self.layers() if layers is None else layers
        h = x.expand(self.n_critics, *x.shape)
        last = len(layers) - 1
        for i, (w, b) in enumerate(layers):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = torch.relu(h)
        return h


@register_policy("sac")
class SACPolicy(nn.Module):
    """The SAC actor: a tanh-squashed Gaussian over a Box action space, or a categorical over a Discrete one.

    Args:
        observation, action: the spaces as ``space_spec`` describes them (Discrete or Box; a
            Box action space with its finite bounds, ``space_spec(space, bounds=True)``).
        hidden: hidden widths of the MLP.
        seed: the initial weights are a function of the seed alone.

    The policy interface (:mod:`irl.solvers.policies`) takes env-form observations and actions:
    Box actions on the env's scale, so ``log_prob`` is a density per unit of the env's action
    space. Training works inside, on flat network inputs (:meth:`features`) and actions in
    ``[-1, 1]`` (:meth:`rsample`, :meth:`distribution`, :meth:`to_env`).
    """

    def __init__(self, observation: dict[str, Any], action: dict[str, Any], hidden: tuple[int, ...] = (64, 64),
                 seed: int = 0) -> None:
        super().__init__()
        self.observation, self.action = observation, action
        self.hidden, self.seed = tuple(int(h) for h in hidden), int(seed)
        self.encoder = ObsEncoder(observation)
        self.discrete = action["type"] == "discrete"
        if self.discrete:
            self.act_dim, self.act_shape = int(action["n"]), ()
            out = self.act_dim
            self.log_scale = 0.0
        else:
            self.act_shape = tuple(action["shape"])
            bounds = [action.get("low"), action.get("high")]
            if any(b is None or None in b for b in bounds):
                raise SetupError(f"SAC needs a Box action space with finite bounds, got {action}")
            low, high = (torch.tensor(b, dtype=torch.float32) for b in bounds)
            if not (high > low).all():
                raise SetupError(f"SAC needs a Box action space with low < high, got {action}")
            self.act_dim = low.numel()
            out = 2 * self.act_dim
            # a_env = offset + scale * a, with a in [-1, 1]; log π_env = log π_[-1,1] - Σ log scale
            self.register_buffer("scale", (high - low) / 2, persistent=False)
            self.register_buffer("offset", (high + low) / 2, persistent=False)
            self.log_scale = float(torch.log(self.scale).sum())
        self.net = mlp([self.encoder.dim, *self.hidden, out], seed=self.seed)

    # -- the pieces training uses (flat inputs, actions in [-1, 1])
    def linear_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Returns the ``(weight, bias)`` pairs of the MLP's linear layers, first to last."""
        return [(m.weight, m.bias) for m in self.net if isinstance(m, nn.Linear)]

    def _net(self, x: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]] | None) -> torch.Tensor:
        """The MLP on ``x``; with ``layers`` (:meth:`linear_layers`, e.g. kept by a trainer) the same
        computation as plain functions, without the modules' per-call overhead."""
        if layers is None:
            return self.net(x)
        last = len(layers) - 1
        for i, (w, b) in enumerate(layers):
            x = F.linear(x, w, b)
            if i < last:
                x = torch.relu(x)
        return x

    def features(self, flat_obs: torch.Tensor) -> torch.Tensor:
        """Returns network inputs ``(N, dim)`` for flat stored observations ``(N, obs_dim)``."""
        if self.encoder.discrete:
            return F.one_hot(flat_obs[:, 0].long(), self.encoder.dim).to(torch.float32)
        return flat_obs

    def mean_log_std(self, x: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]] | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, log_std)`` ``(N, act_dim)`` of the pre-squash Gaussian (Box only)."""
        mean, log_std = self._net(x, layers).chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def rsample(self, x: torch.Tensor, generator: torch.Generator | None = None,
                layers: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(a, log π(a|s))``: reparameterised actions ``(N, act_dim)`` in ``[-1, 1]`` and ``(N,)`` (Box only)."""
        mean, log_std = self.mean_log_std(x, layers)
        noise = torch.randn(mean.shape, device=mean.device, generator=generator)
        pre_tanh = torch.addcmul(mean, log_std.exp(), noise)
        return torch.tanh(pre_tanh), squashed_gaussian_log_prob(noise, log_std, pre_tanh)

    def distribution(self, x: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]] | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(probs, log_probs)``, each ``(N, n_actions)`` (Discrete only)."""
        log_probs = torch.log_softmax(self._net(x, layers), dim=-1)
        return log_probs.exp(), log_probs

    def to_env(self, a: torch.Tensor) -> torch.Tensor:
        """Returns Box actions ``(N, act_dim)`` in ``[-1, 1]`` mapped onto the env's bounds."""
        return self.offset + self.scale * a

    def to_unit(self, a_env: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`to_env`: env-scale Box actions ``(N, act_dim)`` to ``[-1, 1]``."""
        return (a_env - self.offset) / self.scale

    # -- the policy interface (env-form observations and actions)
    def _inputs(self, obs: Any) -> tuple[torch.Tensor, bool]:
        x, single = self.encoder.encode(obs)
        return x.to(next(self.parameters()).device), single

    def log_prob(self, obs: Any, act: Any) -> torch.Tensor:
        """``(N,)`` ``log π(a|s)`` of env-form actions (Box: per unit of the env's scale), with gradients."""
        x, _ = self._inputs(obs)
        a = act if isinstance(act, torch.Tensor) else torch.as_tensor(np.asarray(act))
        if self.discrete:
            idx = a.reshape(-1, 1).to(device=x.device, dtype=torch.int64)
            return self.distribution(x)[1].gather(1, idx).squeeze(1)
        a = self.to_unit(a.to(device=x.device, dtype=torch.float32).reshape(x.shape[0], self.act_dim))
        mean, log_std = self.mean_log_std(x)
        return squashed_gaussian_log_prob_of(a, mean, log_std) - self.log_scale

    def sample(self, obs: Any, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(actions, log π(a|s))`` for a batch: env-form actions (Box on the env's scale) and ``(N,)``."""
        x, _ = self._inputs(obs)
        if self.discrete:
            probs, log_probs = self.distribution(x)
            a = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
            return a, log_probs.gather(1, a[:, None]).squeeze(1)
        a, log_prob = self.rsample(x, generator)
        return self.to_env(a).reshape(-1, *self.act_shape), log_prob - self.log_scale

    def mode(self, obs: Any) -> torch.Tensor:
        """The most likely action of each observation (Box: ``tanh(mean)`` on the env's scale)."""
        x, _ = self._inputs(obs)
        if self.discrete:
            return self.net(x).argmax(-1)
        return self.to_env(torch.tanh(self.net(x).chunk(2, dim=-1)[0])).reshape(-1, *self.act_shape)

    @torch.no_grad()
    def act(self, obs: Any, deterministic: bool = False, generator: torch.Generator | None = None) -> np.ndarray:
        """Returns the action for one observation (``act_shape``) or a batch (``(N, *act_shape)``).

        Box actions come as float32 within the bounds; Discrete as int64 indices.
        ``deterministic`` takes the mode; otherwise actions are drawn with ``generator``
        (default: torch's global RNG).
        """
        _, single = self.encoder.encode(obs)
        a = self.mode(obs) if deterministic else self.sample(obs, generator)[0]
        out = a.cpu().numpy().astype(np.int64 if self.discrete else np.float32)
        return out[0] if single else out

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "observation": self.observation, "action": self.action,
                "hidden": list(self.hidden), "seed": self.seed}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> SACPolicy:
        return cls(spec["observation"], spec["action"], tuple(spec["hidden"]), int(spec.get("seed", 0)))
