"""The policies of Q-learning: a Q table and a Q-network, acting greedily, by Boltzmann, or ε-greedily."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from irl.nets import mlp
from irl.solvers.policies import register_policy
from irl.solvers.soft_bellman import log_soft_policy
from irl.solvers.spaces import ObsEncoder

__all__ = ["QNetworkPolicy", "TabularQPolicy", "greedy", "sample_boltzmann"]


def sample_boltzmann(q_row: Sequence[float], temperature: float, rng: np.random.Generator) -> int:
    """Draws ``a ~ exp((Q(s, a) - V(s))/τ)`` from one row (a list or 1-d array) with one uniform draw."""
    m = max(q_row)
    weights = [math.exp((x - m) / temperature) for x in q_row]
    u = rng.random() * sum(weights)
    for a, w in enumerate(weights):
        u -= w
        if u < 0:
            return a
    return len(weights) - 1


def greedy(q_row: Sequence[float], rng: np.random.Generator) -> int:
    """argmax with ties broken at random (Q starts at 0, so a fixed tie-break would bias exploration)."""
    m = max(q_row)
    best = [a for a, x in enumerate(q_row) if x == m]
    return best[0] if len(best) == 1 else best[int(rng.integers(len(best)))]


class _QPolicy(nn.Module):
    """The policy of a Q function: Boltzmann ``exp((Q - V)/τ)`` at ``temperature`` > 0, else ε-greedy.

    Subclasses give ``action_values(obs) -> ((N, A) tensor, single)``. ``act`` draws with a numpy generator
    (one uniform per step, as the learners do); ``sample`` with a torch one.
    """

    def __init__(self, temperature: float, epsilon: float, seed: int) -> None:
        super().__init__()
        self.temperature, self.epsilon, self.seed = float(temperature), float(epsilon), int(seed)
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    def action_values(self, obs: Any) -> tuple[torch.Tensor, bool]:
        raise NotImplementedError

    def q_values(self, obs: Any) -> tuple[np.ndarray, bool]:
        """``(Q (N, A) as numpy, was_single)`` without gradients."""
        with torch.no_grad():
            q, single = self.action_values(obs)
        return q.numpy(), single

    def _log_probs(self, q: torch.Tensor) -> torch.Tensor:
        """``(N, A)`` log-probabilities of every action."""
        if self.temperature > 0:
            return log_soft_policy(q, self.temperature)
        n = q.shape[-1]
        p = torch.full_like(q, self.epsilon / n)
        p.scatter_add_(-1, q.argmax(-1, keepdim=True), torch.full_like(q[:, :1], 1.0 - self.epsilon))
        return torch.log(p)

    def probs(self, obs: Any) -> np.ndarray:
        """Returns the action distribution ``(A,)`` or ``(N, A)``: exp((Q-V)/τ), or ε-greedy if τ = 0."""
        q, single = self.action_values(obs)
        with torch.no_grad():
            p = self._log_probs(q).exp().numpy()
        return p[0] if single else p

    def log_prob(self, obs: Any, act: Any) -> torch.Tensor:
        """``(N,)`` ``log π(a|s)`` of action indices (with gradients for a Q-network)."""
        q, _ = self.action_values(obs)
        a = act if isinstance(act, torch.Tensor) else torch.as_tensor(np.asarray(act))
        return self._log_probs(q).gather(1, a.reshape(-1, 1).long()).squeeze(1)

    def sample(self, obs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(actions (N,), log π(a|s) (N,))`` drawn with the policy's torch generator."""
        q, _ = self.action_values(obs)
        log_probs = self._log_probs(q)
        a = torch.multinomial(log_probs.exp(), 1, generator=self.generator)
        return a.squeeze(1), log_probs.gather(1, a).squeeze(1)

    def mode(self, obs: Any) -> torch.Tensor:
        """The greedy action of each observation."""
        return self.action_values(obs)[0].argmax(-1)

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """Returns int64 action(s): ``()`` for one observation, ``(N,)`` for a batch."""
        q, single = self.q_values(obs)
        if deterministic:
            a = q.argmax(-1)
        elif self.temperature > 0:
            a = np.array([sample_boltzmann(row, self.temperature, self.rng) for row in q.tolist()])
        else:
            explore = self.rng.random(len(q)) < self.epsilon
            a = np.where(explore, self.rng.integers(q.shape[-1], size=len(q)), q.argmax(-1))
        a = a.astype(np.int64)
        return a[0] if single else a


@register_policy("tabular-q")
class TabularQPolicy(_QPolicy):
    """A Q table ``(S, A)`` (buffer ``q``, float64) acting greedily, by Boltzmann, or ε-greedily."""

    def __init__(self, n_states: int, n_actions: int, temperature: float = 1.0, epsilon: float = 0.0,
                 seed: int = 0) -> None:
        super().__init__(temperature, epsilon, seed)
        self.n_states, self.n_actions = int(n_states), int(n_actions)
        self.register_buffer("q", torch.zeros(self.n_states, self.n_actions, dtype=torch.float64))

    def action_values(self, obs: Any) -> tuple[torch.Tensor, bool]:
        s = torch.as_tensor(np.asarray(obs) if not isinstance(obs, torch.Tensor) else obs).long()
        return self.q[s.reshape(-1)], s.ndim == 0

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_states": self.n_states, "n_actions": self.n_actions,
                "temperature": self.temperature, "epsilon": self.epsilon, "seed": self.seed}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TabularQPolicy:
        return cls(int(spec["n_states"]), int(spec["n_actions"]), float(spec.get("temperature", 1.0)),
                   float(spec.get("epsilon", 0.0)), int(spec.get("seed", 0)))


@register_policy("q-network")
class QNetworkPolicy(_QPolicy):
    """An MLP ``Q(s, ·)`` on encoded observations (one-hot for Discrete, flat for Box)."""

    def __init__(self, observation: dict[str, Any], n_actions: int, hidden: tuple[int, ...] = (64, 64),
                 temperature: float = 1.0, epsilon: float = 0.0, seed: int = 0) -> None:
        super().__init__(temperature, epsilon, seed)
        self.observation, self.n_actions, self.hidden = observation, int(n_actions), tuple(hidden)
        self.encoder = ObsEncoder(observation)
        self.net = mlp([self.encoder.dim, *self.hidden, self.n_actions], seed=self.seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns ``(N, A)`` Q-values of encoded observations ``(N, dim)``."""
        return self.net(x)

    def action_values(self, obs: Any) -> tuple[torch.Tensor, bool]:
        x, single = self.encoder.encode(obs)
        return self.net(x), single

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "observation": self.observation, "n_actions": self.n_actions,
                "hidden": list(self.hidden), "temperature": self.temperature, "epsilon": self.epsilon,
                "seed": self.seed}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> QNetworkPolicy:
        return cls(spec["observation"], int(spec["n_actions"]), tuple(spec.get("hidden", (64, 64))),
                   float(spec.get("temperature", 1.0)), float(spec.get("epsilon", 0.0)),
                   int(spec.get("seed", 0)))
