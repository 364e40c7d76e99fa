"""IQ-Learn's soft Q-functions, which are at once its imitation policy and its recovered reward.

- :class:`DiscreteSoftQ` (reward kind ``"iq-learn-discrete"``): soft Q-learning's Q-network over Discrete
  actions (:class:`irl.solvers.soft_q.QNetworkPolicy`), whose Boltzmann policy ``exp((Q − V)/α)`` is the
  imitation policy; ``V = α logsumexp(Q/α)`` (:func:`irl.solvers.soft_bellman.soft_value`).
- :class:`ContinuousSoftQ` (``"iq-learn-continuous"``): K critics ``Q_k(s, a)`` (SAC's :class:`TwinCritic`)
  and SAC's squashed-Gaussian actor π (:class:`SACPolicy`), the imitation policy;
  ``V(s) = E_{a~π}[min_k Q_k(s, a) − α log π(a|s)]``. Actions enter the critics in ``[-1, 1]``.

As reward models (:class:`irl.rewards.RewardModel`) both give ``r(s, a, s') = Q(s, a) − γ (1 − terminated)
V(s')`` (:func:`~irl.inverse.iq_learn.losses.inverse_soft_bellman`); on a tabular MDP ``table(mdp)`` is its
expectation over the successors, ``Q(s, a) − γ Σ_s' P(s'|s, a) V(s')``, the absorbing state worth 0. The
continuous value is estimated with ``value_samples`` fixed actor draws, so the reward is a deterministic
function of the transition. The kinds register with :func:`irl.rewards.load_reward` when this module is
imported (``import irl.inverse.iq_learn``).

For training, :meth:`evaluate` gives ``(Q(s, a), V(s), V(s'))`` of encoded minibatches with gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from irl.inverse.iq_learn.losses import inverse_soft_bellman
from irl.rewards.base import RewardModel, register_kind
from irl.rewards.seam import writable
from irl.solvers.policies import policy_from_spec
from irl.solvers.sac.losses import squashed_gaussian_log_prob
from irl.solvers.sac.networks import SACPolicy, TwinCritic
from irl.solvers.soft_bellman import soft_value
from irl.solvers.soft_q.policies import QNetworkPolicy

__all__ = ["ContinuousSoftQ", "DiscreteSoftQ"]


class _SoftQReward(RewardModel):
    """What both soft Q-functions share: the reward ``Q(s, a) − γ V(s')`` of env-form batches.

    Subclasses set ``policy``, ``encoder``, ``gamma``, ``temperature``, ``n_states`` (Discrete observations:
    their number, so that ``table`` applies; Box: None) and give :meth:`q_of` and :meth:`value_of`.
    """

    accepts_terminated = True
    encoder: Any
    gamma: float
    temperature: float

    @property
    def uses_action(self) -> bool:
        return True

    @property
    def uses_next_state(self) -> bool:
        return True

    def inputs(self, obs: Any) -> torch.Tensor:
        """Network inputs ``(N, dim)`` of env-form observations (one-hot for Discrete), on the model's device, in
        its dtype."""
        x, _ = self.encoder.encode(obs)
        return x.to(device=self.device, dtype=self.dtype)

    def q_of(self, x: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """``(N,)`` Q of encoded observations and env-form actions (the critics' minimum)."""
        raise NotImplementedError

    def value_of(self, x: torch.Tensor) -> torch.Tensor:
        """``(N,)`` soft values of encoded observations (deterministic)."""
        raise NotImplementedError

    def forward(self, obs: torch.Tensor, act: torch.Tensor | None = None, next_obs: torch.Tensor | None = None,
                terminated: torch.Tensor | None = None) -> torch.Tensor:
        """Returns ``(N,)`` rewards ``Q(s, a) − γ (1 − terminated) V(s')``; ``obs``/``next_obs`` ``(N,)`` indices
        (index ``n_states``: the absorbing state, worth 0) or ``(N, *obs_shape)``, ``act`` env-form actions,
        ``terminated`` ``(N,)`` bool or 0/1 (None: no termination)."""
        if act is None or next_obs is None:
            raise ValueError("IQ-Learn's reward Q(s, a) − γ V(s') needs the action and the next observation")
        n = next_obs.shape[0]
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        if terminated is not None:
            if terminated.reshape(-1).shape != (n,):
                raise ValueError(f"terminated must be ({n},), got {tuple(terminated.shape)}")
            done = terminated.reshape(-1).to(device=self.device, dtype=torch.bool)
        if self.n_states is not None:
            next_obs = next_obs.to(self.device)
            absorbing = next_obs >= self.n_states
            next_obs = torch.where(absorbing, torch.zeros_like(next_obs), next_obs)
            done = done | absorbing
        q = self.q_of(self.inputs(obs), act)
        return inverse_soft_bellman(q, self.value_of(self.inputs(next_obs)), done, self.gamma)


@register_kind("iq-learn-discrete")
class DiscreteSoftQ(_SoftQReward):
    """A Q-network over Discrete actions (a :class:`QNetworkPolicy` at temperature α) and its reward.

    Args:
        q: the Q-network; its ``temperature`` is α, and it is the imitation policy.
        gamma: the discount of the reward ``Q(s, a) − γ V(s')``.
    """

    def __init__(self, q: QNetworkPolicy, gamma: float) -> None:
        super().__init__()
        if not isinstance(q, QNetworkPolicy) or not q.temperature > 0:
            raise ValueError("DiscreteSoftQ needs a QNetworkPolicy with temperature > 0")
        self.q, self.gamma, self.temperature = q, float(gamma), q.temperature
        self.encoder = q.encoder
        self.n_states = int(q.observation["n"]) if q.observation["type"] == "discrete" else None

    @property
    def policy(self) -> QNetworkPolicy:
        """The imitation policy, ``exp((Q(s, a) − V(s))/α)``."""
        return self.q

    def evaluate(self, x: torch.Tensor, act: torch.Tensor, x2: torch.Tensor, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(Q(s, a) (1, N), V(s) (N,), V(s') (N,))`` of encoded ``x``, ``x2`` ``(N, dim)`` and action indices
        ``(N,)``, with gradients (``generator`` unused: nothing is drawn)."""
        n = x.shape[0]
        q_all = self.q.net(torch.cat([x, x2]))
        v = soft_value(q_all, self.temperature)
        return q_all[:n].gather(1, act.reshape(-1, 1)).T, v[:n], v[n:]

    @property
    def q_network(self) -> nn.Module:
        """The network the IQ loss trains: ``(N, dim) -> (N, A)``."""
        return self.q.net

    def sampled_value(self, x: torch.Tensor, generator: torch.Generator | None, network: nn.Module) -> torch.Tensor:
        """``(N,)`` ``V(s)`` of encoded ``x`` under ``network`` in place of the Q-network (a target copy)."""
        return soft_value(network(x), self.temperature)

    def q_of(self, x: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(act).reshape(-1, 1).to(device=x.device, dtype=torch.int64)
        return self.q.net(x).gather(1, idx).squeeze(1)

    def value_of(self, x: torch.Tensor) -> torch.Tensor:
        return soft_value(self.q.net(x), self.temperature)

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "gamma": self.gamma, "q": self.q.spec()}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> DiscreteSoftQ:
        q = policy_from_spec(spec["q"])
        if not isinstance(q, QNetworkPolicy):
            raise ValueError(f"the 'q' of an iq-learn-discrete reward must be a q-network, got {spec['q']['kind']!r}")
        return cls(q, float(spec["gamma"]))


@register_kind("iq-learn-continuous")
class ContinuousSoftQ(_SoftQReward):
    """K critics ``Q_k(s, a)`` and SAC's actor over a bounded Box action space, and their reward.

    Args:
        actor: the squashed-Gaussian :class:`SACPolicy` (the imitation policy).
        hidden: hidden widths of each critic; n_critics: K.
        gamma: the discount of the reward; temperature: α of the soft value.
        value_samples: M, the fixed standard-normal draws (a buffer) with which :meth:`value_of` averages
            ``min_k Q_k(s, ã_m) − α log π(ã_m|s)``, ``ã_m = tanh(μ(s) + σ(s) ε_m)``.
        seed: seeds the critics' initial weights and the M draws.
    """

    def __init__(self, actor: SACPolicy, hidden: tuple[int, ...], n_critics: int, gamma: float,
                 temperature: float, value_samples: int, seed: int) -> None:
        super().__init__()
        if not isinstance(actor, SACPolicy) or actor.discrete:
            raise ValueError("ContinuousSoftQ needs SAC's actor over a Box action space")
        self.actor, self.hidden, self.n_critics = actor, tuple(int(h) for h in hidden), int(n_critics)
        self.gamma, self.temperature, self.seed = float(gamma), float(temperature), int(seed)
        self.encoder = actor.encoder
        self.n_states = int(actor.observation["n"]) if actor.observation["type"] == "discrete" else None
        draws = torch.Generator().manual_seed(self.seed)
        self.critic = TwinCritic(self.encoder.dim + actor.act_dim, 1, self.hidden, self.n_critics, generator=draws)
        self.register_buffer("noise", torch.randn((int(value_samples), actor.act_dim), generator=draws))

    @property
    def policy(self) -> SACPolicy:
        """The imitation policy, the actor."""
        return self.actor

    def critics(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``(K, N)`` Q of encoded observations ``(N, dim)`` and actions in ``[-1, 1]`` ``(N, act_dim)``."""
        return self.critic(torch.cat([x, a], dim=1)).squeeze(-1)

    def unit_actions(self, act: Any) -> torch.Tensor:
        """Env-scale Box actions as ``(N, act_dim)`` in ``[-1, 1]`` (clipped to the bounds first)."""
        a = act if isinstance(act, torch.Tensor) else torch.as_tensor(writable(np.asarray(act)))
        a = a.to(device=self.device, dtype=torch.float32).reshape(-1, self.actor.act_dim)
        return self.actor.to_unit(a).clamp(-1.0, 1.0)

    def evaluate(self, x: torch.Tensor, act: torch.Tensor, x2: torch.Tensor, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(Q_k(s, a) (K, N), V(s) (N,), V(s') (N,))`` of encoded ``x``, ``x2`` ``(N, dim)`` and actions in
        ``[-1, 1]`` ``(N, act_dim)``: each value from one actor draw (with ``generator``), with gradients into the
        critics only (the actor has its own objective)."""
        n = x.shape[0]
        states = torch.cat([x, x2])
        with torch.no_grad():
            draws, log_prob = self.actor.rsample(states, generator)
        q = self.critics(torch.cat([x, states]), torch.cat([act, draws]))
        v = q[:, n:].amin(0) - self.temperature * log_prob
        return q[:, :n], v[:n], v[n:]

    @property
    def q_network(self) -> nn.Module:
        """The network the IQ loss trains: the critics."""
        return self.critic

    def sampled_value(self, x: torch.Tensor, generator: torch.Generator | None, network: nn.Module) -> torch.Tensor:
        """``(N,)`` ``V(s)`` of encoded ``x`` from one actor draw, under ``network`` in place of the critics (a
        target copy); no gradient into the actor."""
        with torch.no_grad():
            draws, log_prob = self.actor.rsample(x, generator)
        return network(torch.cat([x, draws], dim=1)).squeeze(-1).amin(0) - self.temperature * log_prob

    def q_of(self, x: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.critics(x, self.unit_actions(act)).amin(0)

    def value_of(self, x: torch.Tensor) -> torch.Tensor:
        m, (n, d) = self.noise.shape[0], (x.shape[0], self.actor.act_dim)
        mean, log_std = self.actor.mean_log_std(x)
        noise = self.noise[:, None, :].expand(m, n, d).reshape(m * n, d)
        log_std = log_std.expand(m, n, d).reshape(m * n, d)
        pre_tanh = torch.addcmul(mean.expand(m, n, d).reshape(m * n, d), log_std.exp(), noise)
        log_prob = squashed_gaussian_log_prob(noise, log_std, pre_tanh)
        q = self.critics(x.expand(m, *x.shape).reshape(m * n, -1), torch.tanh(pre_tanh)).amin(0)
        return (q - self.temperature * log_prob).reshape(m, n).mean(0)

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "actor": self.actor.spec(), "hidden": list(self.hidden),
                "n_critics": self.n_critics, "gamma": self.gamma, "temperature": self.temperature,
                "value_samples": int(self.noise.shape[0]), "seed": self.seed}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ContinuousSoftQ:
        actor = policy_from_spec(spec["actor"])
        if not isinstance(actor, SACPolicy):
            raise ValueError(f"the 'actor' of an iq-learn-continuous reward must be a sac policy, got "
                             f"{spec['actor']['kind']!r}")
        return cls(actor, tuple(spec["hidden"]), int(spec["n_critics"]), float(spec["gamma"]),
                   float(spec["temperature"]), int(spec["value_samples"]), int(spec.get("seed", 0)))


def make_soft_q(observation: dict[str, Any], action: dict[str, Any], *, hidden: tuple[int, ...], gamma: float,
                temperature: float, n_critics: int, value_samples: int, seed: int) -> nn.Module:
    """The untrained soft Q-function for these spaces (``space_spec`` dicts, the action's with its bounds)."""
    if action["type"] == "discrete":
        return DiscreteSoftQ(QNetworkPolicy(observation, int(action["n"]), hidden, temperature=temperature,
                                            seed=seed), gamma)
    actor = SACPolicy(observation, action, hidden, seed=seed)
    return ContinuousSoftQ(actor, hidden, n_critics, gamma, temperature, value_samples, seed + 1)
