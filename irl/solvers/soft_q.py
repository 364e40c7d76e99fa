"""Soft Q-learning, tabular and deep (discrete actions), with hard Q-learning as the baseline.

The soft Bellman backup of control as inference (Levine 2018, "Reinforcement Learning
and Control as Probabilistic Inference", Sec. 4.2 (soft Q-learning); Haarnoja et al. 2017,
"Reinforcement Learning with Deep Energy-Based Policies", here with a sum over discrete actions):

    V(s')    = τ log Σ_a' exp(Q(s', a') / τ)              (soft)   or  max_a' Q(s', a')  (hard)
    target   = r + γ (1 - terminated) V(s')
    π(a | s) = exp((Q(s, a) - V(s)) / τ)

Tabular: ``Q(s,a) ← Q(s,a) + α [target - Q(s,a)]``; its fixed point is the Q of
``soft_value_iteration`` (discounted, temperature τ). Deep: a Q-network regressed on
the target computed with a target network, from a preallocated replay buffer.
Truncation by a time limit bootstraps; termination does not.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from irl.solvers._rollout import (
    EpisodeLog,
    ObsEncoder,
    SetupError,
    RewardFunction,
    TrainResult,
    make_env,
    register_policy,
    resolve_config,
    space_spec,
)

__all__ = ["QNetworkPolicy", "SoftQConfig", "TabularQPolicy", "soft_q_target", "soft_value", "train"]


# ------------------------------------------------------------------------------------ the math
def soft_value(q: torch.Tensor, temperature: float) -> torch.Tensor:
    """Returns ``V = τ logsumexp(Q/τ)`` over the last axis, or ``max Q`` when ``temperature == 0``.

    ``q`` ``(..., A)`` -> ``(...)``.
    """
    if q.ndim < 1:
        raise ValueError(f"q must have an action axis, got shape {tuple(q.shape)}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return q.amax(dim=-1)
    return temperature * torch.logsumexp(q / temperature, dim=-1)


def soft_q_target(reward: torch.Tensor, next_q: torch.Tensor, terminated: torch.Tensor, gamma: float,
                  temperature: float) -> torch.Tensor:
    """Returns the (soft) Bellman target ``r + γ (1 - terminated) V(s')`` ``(N,)``.

    Args:
        reward: ``(N,)`` rewards.
        next_q: ``(N, A)`` Q-values of the next states (from the target network).
        terminated: ``(N,)`` bool: the episode ended by termination (no bootstrap).
        gamma: discount.
        temperature: τ of the soft value; 0 gives the hard (Q-learning) target.
    """
    n = reward.shape[0]
    if reward.ndim != 1 or next_q.ndim != 2 or next_q.shape[0] != n or terminated.shape != (n,):
        raise ValueError(f"expected reward (N,), next_q (N, A), terminated (N,); got {tuple(reward.shape)}, "
                         f"{tuple(next_q.shape)}, {tuple(terminated.shape)}")
    live = (~terminated.bool()).to(next_q.dtype)
    return reward.to(next_q.dtype) + gamma * live * soft_value(next_q, temperature)


def _row_value(row: list[float], temperature: float) -> float:
    """``soft_value`` of one row as a list (the tabular inner loop avoids numpy/torch per-call overhead)."""
    m = max(row)
    if temperature == 0:
        return m
    return m + temperature * math.log(sum(math.exp((x - m) / temperature) for x in row))


# ---------------------------------------------------------------------------------- the config
@dataclass(frozen=True)
class SoftQConfig:
    """Soft (or hard) Q-learning; the tabular fields and the deep fields are used by their method only."""

    total_steps: int = 100_000
    """env steps of training."""
    max_episodes: int | None = None
    """stop after this many episodes (whichever of this and ``total_steps`` comes first)."""
    method: str = "auto"
    """"tabular", "deep", or "auto" (tabular when observations and actions are Discrete)."""
    soft: bool = True
    """True: soft backup τ·logsumexp(Q/τ); False: hard Q-learning (max backup)."""
    temperature: float = 1.0
    """τ of the soft backup and of the Boltzmann policy."""
    gamma: float = 0.99
    """discount factor."""
    reward_scale: float = 1.0
    """multiplies the reward learned from (scaling the reward by c is like dividing τ by c)."""
    exploration: str = "auto"
    """"boltzmann" (sample exp((Q-V)/τ)), "epsilon" (ε-greedy), or "auto" (Boltzmann if soft, else ε)."""
    epsilon_start: float = 1.0
    """ε of ε-greedy in the first episode."""
    epsilon_end: float = 0.05
    """floor of ε."""
    epsilon_decay: float = 0.01
    """ε falls linearly by this much per finished episode: ε_k = max(end, start - decay·k)."""
    max_episode_steps: int | None = None
    """truncate training episodes after this many steps (for envs without a time limit)."""
    eval_episodes: int = 10
    """deterministic evaluation episodes after training (0: none)."""
    # tabular
    step_size: float = 0.1
    """tabular: α of the update Q ← Q + α (target - Q)."""
    step_size_power: float = 0.0
    """tabular: α_n = step_size / n(s,a)^power; a power in (0.5, 1] converges on stochastic envs."""
    # deep
    hidden: tuple[int, ...] = (64, 64)
    """deep: hidden widths of the Q-network."""
    learning_rate: float = 1e-3
    """deep: Adam step size."""
    buffer_size: int = 50_000
    """deep: replay buffer capacity (transitions)."""
    batch_size: int = 64
    """deep: minibatch size."""
    learning_starts: int = 1_000
    """deep: env steps before the first gradient step."""
    train_freq: int = 1
    """deep: env steps between gradient steps."""
    target_update_interval: int = 250
    """deep: env steps between copies of the Q-network into the target network."""
    max_grad_norm: float = 10.0
    """deep: gradient-norm clip."""


def _exploration(config: SoftQConfig) -> str:
    explore = config.exploration
    if explore == "auto":
        explore = "boltzmann" if config.soft else "epsilon"
    if explore not in ("boltzmann", "epsilon"):
        raise ValueError(f"exploration must be 'boltzmann', 'epsilon' or 'auto', got {config.exploration!r}")
    if explore == "boltzmann" and not config.soft:
        raise ValueError("Boltzmann exploration needs soft=True (a temperature); use exploration='epsilon'")
    return explore


def _epsilon(config: SoftQConfig, episode: int) -> float:
    return max(config.epsilon_end, config.epsilon_start - config.epsilon_decay * episode)


def _enough(config: SoftQConfig, episodes: int) -> bool:
    return config.max_episodes is not None and episodes >= config.max_episodes


def _sample_boltzmann(q_row: Sequence[float], temperature: float, rng: np.random.Generator) -> int:
    """Draws ``a ~ exp((Q(s, a) - V(s))/τ)`` from one row (a list or 1-d array) with one uniform draw."""
    m = max(q_row)
    weights = [math.exp((x - m) / temperature) for x in q_row]
    u = rng.random() * sum(weights)
    for a, w in enumerate(weights):
        u -= w
        if u < 0:
            return a
    return len(weights) - 1


def _greedy(q_row: Sequence[float], rng: np.random.Generator) -> int:
    """argmax with ties broken at random (Q starts at 0, so a fixed tie-break would bias exploration)."""
    m = max(q_row)
    best = [a for a, x in enumerate(q_row) if x == m]
    return best[0] if len(best) == 1 else best[int(rng.integers(len(best)))]


# --------------------------------------------------------------------------------- the policies
class _QPolicy(nn.Module):
    """Shared ``act``: argmax Q (deterministic), else Boltzmann at ``temperature`` or ε-greedy."""

    def __init__(self, temperature: float, epsilon: float, seed: int) -> None:
        super().__init__()
        self.temperature, self.epsilon, self.seed = float(temperature), float(epsilon), int(seed)
        self.rng = np.random.default_rng(seed)

    def q_values(self, obs: Any) -> tuple[np.ndarray, bool]:
        raise NotImplementedError

    def probs(self, obs: Any) -> np.ndarray:
        """Returns the action distribution ``(A,)`` or ``(N, A)``: exp((Q-V)/τ), or ε-greedy if τ = 0."""
        q, single = self.q_values(obs)
        if self.temperature > 0:
            p = torch.softmax(torch.as_tensor(q) / self.temperature, dim=-1).numpy()
        else:
            p = np.full_like(q, self.epsilon / q.shape[-1])
            p[np.arange(len(q)), q.argmax(-1)] += 1.0 - self.epsilon
        return p[0] if single else p

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """Returns int64 action(s): ``()`` for one observation, ``(N,)`` for a batch."""
        q, single = self.q_values(obs)
        if deterministic:
            a = q.argmax(-1)
        elif self.temperature > 0:
            a = np.array([_sample_boltzmann(row, self.temperature, self.rng) for row in q.tolist()])
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

    def q_values(self, obs: Any) -> tuple[np.ndarray, bool]:
        s = np.asarray(obs, dtype=np.int64)
        return self.q.numpy()[s.reshape(-1)], s.ndim == 0

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_states": self.n_states, "n_actions": self.n_actions,
                "temperature": self.temperature, "epsilon": self.epsilon, "seed": self.seed}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TabularQPolicy:
        return cls(int(spec["n_states"]), int(spec["n_actions"]), float(spec.get("temperature", 1.0)),
                   float(spec.get("epsilon", 0.0)), int(spec.get("seed", 0)))


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int,
        activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Returns Linear/activation layers ``in_dim -> hidden... -> out_dim`` (init from the global RNG)."""
    layers: list[nn.Module] = []
    widths = [in_dim, *hidden]
    for a, b in pairwise(widths):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(widths[-1], out_dim))
    return nn.Sequential(*layers)


@register_policy("q-network")
class QNetworkPolicy(_QPolicy):
    """An MLP ``Q(s, ·)`` on encoded observations (one-hot for Discrete, flat for Box)."""

    def __init__(self, observation: dict[str, Any], n_actions: int, hidden: tuple[int, ...] = (64, 64),
                 temperature: float = 1.0, epsilon: float = 0.0, seed: int = 0) -> None:
        super().__init__(temperature, epsilon, seed)
        self.observation, self.n_actions, self.hidden = observation, int(n_actions), tuple(hidden)
        self.encoder = ObsEncoder(observation)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = mlp(self.encoder.dim, self.hidden, self.n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns ``(N, A)`` Q-values of encoded observations ``(N, dim)``."""
        return self.net(x)

    def q_values(self, obs: Any) -> tuple[np.ndarray, bool]:
        x, single = self.encoder.encode(obs)
        with torch.no_grad():
            return self.net(x).numpy(), single

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "observation": self.observation, "n_actions": self.n_actions,
                "hidden": list(self.hidden), "temperature": self.temperature, "epsilon": self.epsilon,
                "seed": self.seed}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> QNetworkPolicy:
        return cls(spec["observation"], int(spec["n_actions"]), tuple(spec.get("hidden", (64, 64))),
                   float(spec.get("temperature", 1.0)), float(spec.get("epsilon", 0.0)),
                   int(spec.get("seed", 0)))


# ------------------------------------------------------------------------------------ training
def train(env: gymnasium.Env | str, *, config: SoftQConfig | None = None, reward_model: Any = None,
          demos: Any = None, seed: int = 0, callback: Callable[[dict], Any] | None = None,
          progress: bool = False, **overrides: Any) -> TrainResult:
    """Returns a policy trained by soft (or hard) Q-learning on ``env`` for ``reward_model`` (or env reward).

    See ``irl.solvers._rollout`` for the shared arguments. Tabular needs Discrete
    observations and actions; deep needs Discrete actions. ``result.info["q"]`` holds
    the final Q table (tabular). Curve records add ``return`` (the reward learned
    from, scaled) for tabular runs and ``epsilon`` under ε-greedy.
    """
    config = resolve_config(SoftQConfig, config, overrides)
    if demos is not None:
        raise SetupError("soft Q-learning does not use demonstrations (policy_gradient does)")
    if config.soft and not config.temperature > 0:
        raise SetupError(f"soft Q-learning needs temperature > 0, got {config.temperature}")
    env = make_env(env)
    if not isinstance(env.action_space, spaces.Discrete):
        raise SetupError(f"soft Q-learning needs Discrete actions, got {env.action_space}; use SAC")
    method = config.method
    if method == "auto":
        method = "tabular" if isinstance(env.observation_space, spaces.Discrete) else "deep"
    reward_fn = RewardFunction(reward_model, env.observation_space, env.action_space,
                               scale=config.reward_scale)
    if method == "tabular":
        if not isinstance(env.observation_space, spaces.Discrete):
            raise SetupError(f"tabular soft Q-learning needs Discrete observations, "
                            f"got {env.observation_space}")
        return _train_tabular(env, config, reward_fn, seed, callback, progress)
    if method == "deep":
        return _train_deep(env, config, reward_fn, seed, callback, progress)
    raise SetupError(f"method must be 'tabular', 'deep' or 'auto', got {config.method!r}")


def _train_tabular(env: gymnasium.Env, config: SoftQConfig, reward_fn: RewardFunction, seed: int,
                   callback: Callable[[dict], Any] | None, progress: bool) -> TrainResult:
    explore = _exploration(config)
    tau = config.temperature if config.soft else 0.0
    S, A = int(env.observation_space.n), int(env.action_space.n)
    policy = TabularQPolicy(S, A, temperature=tau, epsilon=0.0, seed=seed)
    q = policy.q.numpy()  # shares memory with the buffer: the loop writes into the policy
    counts = np.zeros((S, A), dtype=np.int64)
    rng = np.random.default_rng(seed)
    gamma, step_size, power = config.gamma, config.step_size, config.step_size_power
    cap = config.max_episode_steps
    log = EpisodeLog(config.total_steps, callback, progress, desc="soft-q" if config.soft else "q")
    obs, _ = env.reset(seed=seed)
    s = int(obs)
    episodes, length, learned_return = 0, 0, 0.0
    epsilon = _epsilon(config, 0)
    while log.steps < config.total_steps:
        row = q[s].tolist()
        if explore == "boltzmann":
            a = _sample_boltzmann(row, tau, rng)
        else:
            a = int(rng.integers(A)) if rng.random() < epsilon else _greedy(row, rng)
        next_obs, env_reward, terminated, truncated, info = env.step(a)
        s2 = int(next_obs)
        r = reward_fn.one(s, a, s2, terminated, env_reward)
        log.step(float(info.get("true_reward", env_reward)))
        length += 1
        learned_return += r
        target = r if terminated else r + gamma * _row_value(q[s2].tolist(), tau)
        if power:
            counts[s, a] += 1
            alpha = step_size / counts[s, a] ** power
        else:
            alpha = step_size
        q[s, a] += alpha * (target - row[a])
        if terminated or truncated or (cap is not None and length >= cap):
            episodes += 1
            extra = {"return": learned_return}
            if explore == "epsilon":
                extra["epsilon"] = epsilon
            if not log.end_episode(**extra) or _enough(config, episodes):
                break
            epsilon = _epsilon(config, episodes)
            obs, _ = env.reset()
            s, length, learned_return = int(obs), 0, 0.0
        else:
            s = s2
    return log.finish(policy, env, config.eval_episodes, seed,
                      info={"q": policy.q.clone(), "method": "tabular"})


class ReplayBuffer:
    """A preallocated ring buffer of transitions (numpy; observations stored raw, as the env gives them)."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: np.dtype) -> None:
        self.capacity, self.size, self.pos = int(capacity), 0, 0
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.env_rewards = np.zeros(capacity, dtype=np.float64)
        self.terminated = np.zeros(capacity, dtype=bool)

    def add(self, obs, action: int, env_reward: float, next_obs, terminated: bool) -> None:
        i = self.pos
        self.obs[i], self.actions[i], self.env_rewards[i] = obs, action, env_reward
        self.next_obs[i], self.terminated[i] = next_obs, terminated
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """Returns ``(obs, actions, env_rewards, next_obs, terminated)`` of ``batch_size`` random steps."""
        i = rng.integers(0, self.size, size=batch_size)
        return self.obs[i], self.actions[i], self.env_rewards[i], self.next_obs[i], self.terminated[i]


def _train_deep(env: gymnasium.Env, config: SoftQConfig, reward_fn: RewardFunction, seed: int,
                callback: Callable[[dict], Any] | None, progress: bool) -> TrainResult:
    explore = _exploration(config)
    tau = config.temperature if config.soft else 0.0
    A = int(env.action_space.n)
    obs_space = env.observation_space
    policy = QNetworkPolicy(space_spec(obs_space), A, config.hidden, temperature=tau, seed=seed)
    target_net = copy.deepcopy(policy.net).requires_grad_(False)
    optimizer = torch.optim.Adam(policy.net.parameters(), lr=config.learning_rate)
    encode = policy.encoder.encode
    discrete_obs = isinstance(obs_space, spaces.Discrete)
    buffer = ReplayBuffer(config.buffer_size, () if discrete_obs else tuple(obs_space.shape),
                          np.int64 if discrete_obs else np.float32)
    rng = np.random.default_rng(seed)
    cap = config.max_episode_steps
    log = EpisodeLog(config.total_steps, callback, progress, desc="deep soft-q" if config.soft else "dqn")
    obs, _ = env.reset(seed=seed)
    episodes, length, losses = 0, 0, []
    epsilon = _epsilon(config, 0)
    while log.steps < config.total_steps:
        with torch.no_grad():
            q_row = policy.net(encode(obs)[0])[0].tolist()
        if explore == "boltzmann":
            a = _sample_boltzmann(q_row, tau, rng)
        else:
            a = int(rng.integers(A)) if rng.random() < epsilon else _greedy(q_row, rng)
        next_obs, env_reward, terminated, truncated, info = env.step(a)
        buffer.add(obs, a, env_reward, next_obs, terminated)
        log.step(float(info.get("true_reward", env_reward)))
        length += 1
        step = log.steps
        if step >= config.learning_starts and step % config.train_freq == 0:
            losses.append(_gradient_step(policy, target_net, optimizer, buffer, reward_fn, config, tau, rng))
        if step % config.target_update_interval == 0:
            target_net.load_state_dict(policy.net.state_dict())
        if terminated or truncated or (cap is not None and length >= cap):
            episodes += 1
            extra = {"epsilon": epsilon} if explore == "epsilon" else {}
            if losses:
                extra["loss"] = float(np.mean(losses))
                losses.clear()
            if not log.end_episode(**extra) or _enough(config, episodes):
                break
            epsilon = _epsilon(config, episodes)
            obs, _ = env.reset()
            length = 0
        else:
            obs = next_obs
    return log.finish(policy, env, config.eval_episodes, seed, info={"method": "deep"})


def _gradient_step(policy: QNetworkPolicy, target_net: nn.Module, optimizer: torch.optim.Optimizer,
                   buffer: ReplayBuffer, reward_fn: RewardFunction, config: SoftQConfig, tau: float,
                   rng: np.random.Generator) -> float:
    """One Huber regression of ``Q(s, a)`` on the soft target; returns the loss."""
    obs, act, env_r, next_obs, terminated = buffer.sample(config.batch_size, rng)
    # the reward model is evaluated here, on the minibatch, rather than once per env step
    reward = torch.as_tensor(reward_fn.batch(obs, act, next_obs, terminated, env_r), dtype=torch.float32)
    x, _ = policy.encoder.encode(obs)
    x2, _ = policy.encoder.encode(next_obs)
    with torch.no_grad():
        target = soft_q_target(reward, target_net(x2), torch.as_tensor(terminated), config.gamma, tau)
    q_sa = policy.net(x).gather(1, torch.as_tensor(act)[:, None]).squeeze(1)
    loss = nn.functional.smooth_l1_loss(q_sa, target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(policy.net.parameters(), config.max_grad_norm)
    optimizer.step()
    return loss.item()
