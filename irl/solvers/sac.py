"""Soft actor-critic: Box actions (Haarnoja et al. 2018) and Discrete actions (Christodoulou 2019).

References:
    [H] Haarnoja, Zhou, Hartikainen, Tucker, Ha, Tan, Kumar, Zhu, Gupta, Abbeel, Levine 2018,
        "Soft Actor-Critic Algorithms and Applications", arXiv:1812.05905.
    [C] Christodoulou 2019, "Soft Actor-Critic for Discrete Action Settings", arXiv:1910.07207.

The math (targets, losses, the squashed-Gaussian log-density) is pure functions of
tensors; :class:`SACAgent` holds the networks, the optimizer and the replay buffer and
calls them; :func:`train` runs the environment loop. Each update draws one batch and
takes one gradient step on the sum of the critic, actor and temperature losses: each
loss reaches only its own parameters (the critic is read through detached weights in
the actor loss), so the sum is the three separate SAC steps taken from the same
parameters, in one backward pass.

Rewards: with a ``reward_model`` each sampled batch is relabelled with the model's
reward at update time, so the whole replay follows the reward as it is now; the env's
reward is still logged (``true_return``).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.nn import functional as F

from irl.solvers._rollout import (
    EpisodeLog,
    ObsEncoder,
    SetupError,
    TrainResult,
    make_env,
    register_policy,
    resolve_config,
    space_spec,
)
from irl.solvers.replay import ReplayBuffer, TransitionBatch

__all__ = [
    "SACAgent",
    "SACConfig",
    "SACPolicy",
    "TwinCritic",
    "actor_loss",
    "adam_step",
    "critic_loss",
    "discrete_actor_loss",
    "discrete_soft_bellman_target",
    "soft_bellman_target",
    "squashed_gaussian_log_prob",
    "temperature_loss",
    "train",
]

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG2 = math.log(2.0)


@dataclass(frozen=True)
class SACConfig:
    """Hyperparameters of SAC; defaults follow the hyperparameter table of [H] except where noted."""

    total_steps: int = 10_000
    """env steps of training."""
    hidden: tuple[int, ...] = (64, 64)
    """hidden widths of the actor and of each critic; [H] uses (256, 256), which costs ~5x more per
    update on one CPU thread and is not needed for small tasks (Pendulum-v1 reaches -133 to -179
    in 10,000 steps over seeds 0-4 with (64, 64)). Use (256, 256) for MuJoCo-size tasks."""
    batch_size: int = 256
    """transitions per gradient step."""
    buffer_size: int = 1_000_000
    """replay capacity (only ``min(buffer_size, total_steps + demo steps)`` rows are allocated)."""
    learning_starts: int = 1000
    """env steps of uniformly random actions before the first update."""
    updates_per_step: int = 1
    """gradient steps per env step once learning has started."""
    gamma: float = 0.99
    """discount."""
    tau: float = 0.005
    """Polyak rate of the target critics: ``target <- (1 - tau) target + tau critic``."""
    actor_lr: float = 3e-4
    """Adam learning rate of the policy."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critics."""
    alpha_lr: float = 3e-4
    """Adam learning rate of ``log α``."""
    init_alpha: float = 1.0
    """initial temperature α."""
    autotune_alpha: bool = True
    """tune α towards ``target_entropy`` ([H] sec. 5); False keeps α = ``init_alpha``."""
    target_entropy: float | None = None
    """entropy the tuning aims at; None: ``-|A|`` for Box actions, ``0.98 log n`` for n discrete ones ([C])."""
    eval_episodes: int = 10
    """deterministic episodes of the final evaluation (0 skips it)."""
    device: str = "cpu"
    """torch device of the networks and the replay buffer."""
    cpu_threads: int | None = 1
    """torch CPU threads while training (restored after); None keeps torch's setting. One is
    fastest for these small networks; on a busy 2-core machine, 2 threads trained at 5
    steps/s against 160 with 1 (spinning threads wait on each other; measured)."""

    def __post_init__(self) -> None:
        for name in ("total_steps", "batch_size", "buffer_size", "updates_per_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"SACConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_starts < 0 or self.eval_episodes < 0:
            raise ValueError("SACConfig.learning_starts and eval_episodes must be >= 0")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 < self.tau <= 1.0:
            raise ValueError(f"SACConfig needs gamma in [0, 1] and tau in (0, 1], got {self.gamma}, {self.tau}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ValueError(f"SACConfig.cpu_threads must be >= 1 or None, got {self.cpu_threads}")
        if not self.init_alpha > 0:
            raise ValueError(f"SACConfig.init_alpha must be > 0, got {self.init_alpha}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))


# ------------------------------------------------------------------------------------------ the math
def squashed_gaussian_log_prob(noise: torch.Tensor, log_std: torch.Tensor, pre_tanh: torch.Tensor) -> torch.Tensor:
    """Returns ``(N,)`` log-densities of ``a = tanh(u)``, ``u = mean + exp(log_std) * noise`` ([H] appendix C, eq. 21).

    ``log π(a|s) = Σ_i [log N(u_i; mean_i, std_i) - log(1 - tanh(u_i)^2)]`` with
    ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))``, finite where ``tanh(u)``
    rounds to ±1. All inputs ``(N, D)``.
    """
    if not noise.shape == log_std.shape == pre_tanh.shape or noise.ndim != 2:
        raise ValueError(f"need three (N, D) tensors, got {tuple(noise.shape)}, {tuple(log_std.shape)}, "
                         f"{tuple(pre_tanh.shape)}")
    # Written as few whole-tensor ops (this runs twice per update). softplus with beta=-2 is
    # -softplus(-2u)/2, so  u - 2 softplus(u, beta=-2) = u + softplus(-2u)  and, per dimension,
    # -log π = ½ε² + log σ + ½ log 2π + 2 log 2 - 2 (u + softplus(-2u)).
    u_sp = torch.add(pre_tanh, F.softplus(pre_tanh, beta=-2.0), alpha=-2.0)
    neg = torch.add(torch.add(log_std, noise.square(), alpha=0.5), u_sp, alpha=-2.0).sum(-1)
    return torch.rsub(neg, -noise.shape[1] * (_LOG_SQRT_2PI + 2.0 * _LOG2))


def soft_bellman_target(reward: torch.Tensor, next_q: torch.Tensor, next_log_prob: torch.Tensor,
                        terminated: torch.Tensor, *, alpha: torch.Tensor | float, gamma: float) -> torch.Tensor:
    """Returns ``(N,)`` targets ``y = r + γ (1 - terminated) (min_k Q'_k(s', a') - α log π(a'|s'))``.

    The soft value of ``s'`` ([H] eq. 3) estimated with one ``a' ~ π(·|s')`` and the
    minimum of the K target critics (clipped double Q, Fujimoto et al. 2018), as used by
    the soft Q loss ([H] eq. 5). ``reward``, ``next_log_prob``, ``terminated`` (0/1) ``(N,)``;
    ``next_q`` ``(K, N)``. A step cut by a time limit has ``terminated = 0``: it bootstraps.
    """
    n = reward.shape[0]
    if reward.shape != (n,) or next_log_prob.shape != (n,) or terminated.shape != (n,) or next_q.ndim != 2 \
            or next_q.shape[1] != n:
        raise ValueError(f"need reward, next_log_prob, terminated (N,) and next_q (K, N); got "
                         f"{tuple(reward.shape)}, {tuple(next_log_prob.shape)}, {tuple(terminated.shape)}, "
                         f"{tuple(next_q.shape)}")
    next_v = torch.addcmul(torch.amin(next_q, 0), torch.as_tensor(alpha, dtype=reward.dtype), next_log_prob,
                           value=-1.0)
    return torch.addcmul(reward, torch.rsub(terminated.to(reward.dtype), 1.0), next_v, value=gamma)


def discrete_soft_bellman_target(reward: torch.Tensor, next_q: torch.Tensor, next_probs: torch.Tensor,
                                 next_log_probs: torch.Tensor, terminated: torch.Tensor, *,
                                 alpha: torch.Tensor | float, gamma: float) -> torch.Tensor:
    """Returns ``(N,)`` targets ``y = r + γ (1 - terminated) Σ_a π(a|s') (min_k Q'_k(s', a) - α log π(a|s'))``.

    The soft value of a discrete policy is an exact expectation over actions ([C] sec. 4).
    ``reward``, ``terminated`` ``(N,)``; ``next_q`` ``(K, N, A)``; ``next_probs`` and
    ``next_log_probs`` ``(N, A)``.
    """
    n = reward.shape[0]
    if next_q.ndim != 3 or next_q.shape[1] != n or next_probs.shape != next_q.shape[1:] \
            or next_log_probs.shape != next_probs.shape or terminated.shape != (n,) or reward.shape != (n,):
        raise ValueError(f"need reward, terminated (N,), next_q (K, N, A), next_probs/log_probs (N, A); got "
                         f"{tuple(reward.shape)}, {tuple(terminated.shape)}, {tuple(next_q.shape)}, "
                         f"{tuple(next_probs.shape)}, {tuple(next_log_probs.shape)}")
    soft_q = torch.addcmul(torch.amin(next_q, 0), torch.as_tensor(alpha, dtype=reward.dtype), next_log_probs,
                           value=-1.0)
    next_v = (next_probs * soft_q).sum(-1)
    return torch.addcmul(reward, torch.rsub(terminated.to(reward.dtype), 1.0), next_v, value=gamma)


def critic_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Returns ``Σ_k mean_n ½ (Q_k(s_n, a_n) - y_n)²``, the soft Q loss of each of K critics ([H] eq. 5).

    ``q`` ``(K, N)``, ``target`` ``(N,)`` (no gradient flows into it).
    """
    if q.ndim != 2 or target.shape != q.shape[1:]:
        raise ValueError(f"need q (K, N) and target (N,), got {tuple(q.shape)}, {tuple(target.shape)}")
    return torch.mul(torch.sub(q, target.detach()).square().sum(), 0.5 / q.shape[1])


def actor_loss(log_prob: torch.Tensor, q: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """Returns ``mean_n (α log π(a_n|s_n) - min_k Q_k(s_n, a_n))`` with ``a_n`` reparameterised ([H] eq. 7).

    ``log_prob`` ``(N,)``, ``q`` ``(K, N)``.
    """
    if q.ndim != 2 or log_prob.shape != q.shape[1:]:
        raise ValueError(f"need log_prob (N,) and q (K, N), got {tuple(log_prob.shape)}, {tuple(q.shape)}")
    return torch.addcmul(torch.amin(q, 0).neg(), torch.as_tensor(alpha, dtype=log_prob.dtype), log_prob).mean()


def discrete_actor_loss(probs: torch.Tensor, log_probs: torch.Tensor, q: torch.Tensor,
                        alpha: torch.Tensor | float) -> torch.Tensor:
    """Returns ``mean_n Σ_a π(a|s_n) (α log π(a|s_n) - min_k Q_k(s_n, a))``, exact over actions ([C] sec. 4).

    ``probs``, ``log_probs`` ``(N, A)``; ``q`` ``(K, N, A)`` (no gradient flows into it).
    """
    if probs.shape != log_probs.shape or q.ndim != 3 or q.shape[1:] != probs.shape:
        raise ValueError(f"need probs/log_probs (N, A) and q (K, N, A), got {tuple(probs.shape)}, "
                         f"{tuple(log_probs.shape)}, {tuple(q.shape)}")
    inner = torch.addcmul(torch.amin(q.detach(), 0).neg(), torch.as_tensor(alpha, dtype=probs.dtype), log_probs)
    return (probs * inner).sum(-1).mean()


def temperature_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """Returns ``-log α · mean_n (log π(a_n|s_n) + H̄)``, whose gradient moves the entropy towards H̄ ([H] eq. 18).

    ``log_alpha`` a scalar; ``log_prob`` ``(N,)``: a sampled ``log π(a|s)``, or for a
    discrete policy the exact ``Σ_a π(a|s) log π(a|s)`` ([C] sec. 4). The loss is taken
    in ``log α`` (as common practice) so that α stays positive.
    """
    if log_alpha.ndim != 0 or log_prob.ndim != 1:
        raise ValueError(f"need a scalar log_alpha and log_prob (N,), got {tuple(log_alpha.shape)}, "
                         f"{tuple(log_prob.shape)}")
    return torch.mul(log_alpha, torch.add(log_prob.detach().mean(), target_entropy)).neg()


def adam_step(params: torch.Tensor, grads: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, *,
              step: int, lr: float | torch.Tensor, betas: tuple[float, float] = (0.9, 0.999),
              eps: float = 1e-8) -> None:
    """Updates ``params`` in place by one Adam step (Kingma & Ba 2015, algorithm 1), moments in place too.

    All tensors ``(P,)``; ``lr`` a float or ``(P,)`` per-parameter rates; ``step`` counts
    from 1. With a float ``lr`` these are the numbers ``torch.optim.Adam`` gives.
    """
    if params.ndim != 1 or not params.shape == grads.shape == exp_avg.shape == exp_avg_sq.shape:
        raise ValueError(f"need four (P,) tensors, got {tuple(params.shape)}, {tuple(grads.shape)}, "
                         f"{tuple(exp_avg.shape)}, {tuple(exp_avg_sq.shape)}")
    beta1, beta2 = betas
    exp_avg.lerp_(grads, 1.0 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grads, grads, value=1.0 - beta2)
    denom = (exp_avg_sq.sqrt() / math.sqrt(1.0 - beta2**step)).add_(eps)
    if isinstance(lr, torch.Tensor):
        params.addcmul_(lr, exp_avg / denom, value=-1.0 / (1.0 - beta1**step))
    else:
        params.addcdiv_(exp_avg, denom, value=-lr / (1.0 - beta1**step))


# -------------------------------------------------------------------------------------- networks
def _uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> torch.Tensor:
    """PyTorch's default Linear scale, ``U(±1/sqrt(fan_in))``, from a local generator."""
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(shape).uniform_(-bound, bound, generator=generator)


def _mlp(sizes: list[int], generator: torch.Generator) -> nn.Sequential:
    """Linear/ReLU layers of ``sizes`` (no activation after the last), weights from ``generator`` alone."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        linear = nn.utils.skip_init(nn.Linear, fan_in, fan_out)  # skips the global-RNG init
        with torch.no_grad():
            linear.weight.copy_(_uniform((fan_out, fan_in), fan_in, generator))
            linear.bias.copy_(_uniform((fan_out,), fan_in, generator))
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


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
            self.weights.append(nn.Parameter(_uniform((n_critics, fan_in, fan_out), fan_in, generator)))
            self.biases.append(nn.Parameter(_uniform((n_critics, 1, fan_out), fan_in, generator)))

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

    ``act`` returns actions as the env takes them; the internals (``sample``,
    ``distribution``) work on flat network inputs and on actions in ``[-1, 1]``.
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
            # a_env = offset + scale * a, with a in [-1, 1]
            self.register_buffer("scale", (high - low) / 2, persistent=False)
            self.register_buffer("offset", (high + low) / 2, persistent=False)
        self.net = _mlp([self.encoder.dim, *self.hidden, out], torch.Generator().manual_seed(self.seed))

    # -- the pieces training uses
    def features(self, flat_obs: torch.Tensor) -> torch.Tensor:
        """Returns network inputs ``(N, dim)`` for flat stored observations ``(N, obs_dim)``."""
        if self.encoder.discrete:
            return F.one_hot(flat_obs[:, 0].long(), self.encoder.dim).to(torch.float32)
        return flat_obs

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(a, log π(a|s))``: reparameterised actions ``(N, act_dim)`` in ``[-1, 1]`` and ``(N,)`` (Box only)."""
        mean, log_std = self.net(x).chunk(2, dim=-1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        noise = torch.randn(mean.shape, device=mean.device, generator=generator)
        pre_tanh = torch.addcmul(mean, log_std.exp(), noise)
        return torch.tanh(pre_tanh), squashed_gaussian_log_prob(noise, log_std, pre_tanh)

    def distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(probs, log_probs)``, each ``(N, n_actions)`` (Discrete only)."""
        log_probs = torch.log_softmax(self.net(x), dim=-1)
        return log_probs.exp(), log_probs

    def to_env(self, a: torch.Tensor) -> torch.Tensor:
        """Returns Box actions ``(N, act_dim)`` in ``[-1, 1]`` mapped onto the env's bounds."""
        return self.offset + self.scale * a

    # -- the shared policy interface
    @torch.no_grad()
    def act(self, obs: Any, deterministic: bool = False, generator: torch.Generator | None = None) -> np.ndarray:
        """Returns the action for one observation (``act_shape``) or a batch (``(N, *act_shape)``).

        Box actions come as float32 within the bounds; Discrete as int64 indices.
        ``deterministic`` takes the mode (``tanh(mean)``, or the most likely action);
        otherwise actions are drawn with ``generator`` (default: torch's global RNG).
        """
        device = next(self.parameters()).device
        x, single = self.encoder.encode(obs)
        x = x.to(device)
        if self.discrete:
            if deterministic:
                a = self.net(x).argmax(-1)
            else:
                a = torch.multinomial(self.distribution(x)[0], 1, generator=generator).squeeze(-1)
            out = a.cpu().numpy().astype(np.int64)
        else:
            if deterministic:
                a = torch.tanh(self.net(x).chunk(2, dim=-1)[0])
            else:
                a = self.sample(x, generator)[0]
            out = self.to_env(a).cpu().numpy().astype(np.float32).reshape(-1, *self.act_shape)
        return out[0] if single else out

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "observation": self.observation, "action": self.action,
                "hidden": list(self.hidden), "seed": self.seed}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> SACPolicy:
        return cls(spec["observation"], spec["action"], tuple(spec["hidden"]), int(spec.get("seed", 0)))


# ------------------------------------------------------------------------------------- the learner
def _flat_dim(space: spaces.Space) -> int:
    return 1 if isinstance(space, spaces.Discrete) else int(np.prod(space.shape, dtype=np.int64))


def _flatten(params: list[torch.Tensor]) -> torch.Tensor:
    """Returns one flat tensor holding ``params``, each of which becomes a view of it."""
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    offset = 0
    for p in params:
        p.data = flat[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
    return flat


class SACAgent:
    """Policy, twin critics and their targets, the temperature, Adam, and the replay buffer.

    Args:
        observation_space, action_space: Discrete or Box (Box actions with finite bounds).
        config: the hyperparameters.
        seed: initial weights, exploration and batch draws are functions of it alone.
        reward_model: callable ``(obs, act, next_obs) -> (N,)`` on torch batches (Discrete
            spaces as int64 indices, Box as ``(N, *shape)`` floats, actions on the env's
            scale; ``terminated`` too for a model with ``accepts_terminated``), replacing
            the env's reward in every update; None uses the env's.
        capacity: replay rows to allocate (default ``config.buffer_size``).

    Every trained parameter (critics, policy, ``log α``) is a view of one flat tensor, and
    so is every target-critic parameter, so that Adam and the Polyak average are a few
    operations on whole vectors rather than a few per parameter tensor.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, config: SACConfig, *,
                 seed: int = 0, reward_model: Callable[..., torch.Tensor] | None = None,
                 capacity: int | None = None) -> None:
        for name, space in (("observation", observation_space), ("action", action_space)):
            if not isinstance(space, (spaces.Discrete, spaces.Box)):
                raise SetupError(f"SAC supports Discrete or Box {name} spaces, got {type(space).__name__}")
        self.config = config
        self.observation_space, self.action_space = observation_space, action_space
        self.device = torch.device(config.device)
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.policy = SACPolicy(space_spec(observation_space), space_spec(action_space, bounds=True),
                                config.hidden, seed=seed).to(self.device)
        init = torch.Generator().manual_seed(seed + 1)  # critics: a stream apart from the policy's
        in_dim = self.policy.encoder.dim + (0 if self.discrete else self.policy.act_dim)
        out_dim = self.policy.act_dim if self.discrete else 1
        self.critic = TwinCritic(in_dim, out_dim, config.hidden, generator=init).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(config.init_alpha), device=self.device,
                                      requires_grad=config.autotune_alpha)
        if config.target_entropy is not None:
            self.target_entropy = float(config.target_entropy)
        elif self.discrete:
            self.target_entropy = 0.98 * math.log(self.policy.act_dim)
        else:
            self.target_entropy = -float(self.policy.act_dim)

        groups = [(list(self.critic.parameters()), config.critic_lr),
                  (list(self.policy.parameters()), config.actor_lr)]
        if config.autotune_alpha:
            groups.append(([self.log_alpha], config.alpha_lr))
        self._params = [p for group, _ in groups for p in group]
        self._flat = _flatten(self._params)
        n_critic = sum(p.numel() for p in groups[0][0])
        self._critic_flat = self._flat[:n_critic]
        self._target_flat = _flatten(list(self.critic_target.parameters()))
        rates = {lr for _, lr in groups}
        self._lr: float | torch.Tensor = rates.pop() if len(rates) == 1 else torch.cat(
            [torch.full((sum(p.numel() for p in group),), lr, device=self.device) for group, lr in groups])
        self._exp_avg = torch.zeros_like(self._flat)
        self._exp_avg_sq = torch.zeros_like(self._flat)
        # Each .grad is a view of one flat gradient too: backward accumulates into a defined
        # .grad in place, so after zeroing the flat tensor, backward fills it.
        self._flat_grad = torch.zeros_like(self._flat)
        offset = 0
        for p in self._params:
            p.grad = self._flat_grad[offset:offset + p.numel()].view_as(p)
            offset += p.numel()
        # Detached aliases share storage with the parameters, so they follow every step.
        self._critic_frozen = [(w.detach(), b.detach()) for w, b in self.critic.layers()]

        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.buffer = ReplayBuffer(capacity or config.buffer_size, _flat_dim(observation_space),
                                   1 if self.discrete else self.policy.act_dim, self.device, self.generator)
        self.reward_model = reward_model
        self.updates = 0
        self.last_losses: tuple[torch.Tensor, ...] | None = None
        # On the CPU one action is cheaper in numpy (on views of the weights) than in torch.
        self._numpy_net = None
        if self.device.type == "cpu":
            self._numpy_net = [(m.weight.detach().numpy(), m.bias.detach().numpy())
                               for m in self.policy.net if isinstance(m, nn.Linear)]

    # -- acting
    def random_action(self) -> np.ndarray:
        """Returns a uniformly random action, as stored: ``[-1, 1]^D`` (Box) or ``[index]`` (Discrete)."""
        if self.discrete:
            return np.array([self.rng.integers(self.policy.act_dim)], dtype=np.float32)
        return self.rng.uniform(-1.0, 1.0, self.policy.act_dim).astype(np.float32)

    def explore(self, obs: Any) -> np.ndarray:
        """Returns an action drawn from the policy for one env observation, as stored."""
        if self._numpy_net is None:
            return self._explore_torch(obs)
        layers = self._numpy_net
        if self.policy.encoder.discrete:
            w, b = layers[0]
            h = w[:, int(obs)] + b  # a one-hot input picks a column
        else:
            w, b = layers[0]
            h = w @ np.asarray(obs, dtype=np.float32).reshape(-1) + b
        for w, b in layers[1:]:
            h = w @ np.maximum(h, 0.0) + b
        if self.discrete:
            p = np.exp(h - h.max())
            a = np.searchsorted(np.cumsum(p), self.rng.random() * p.sum(), side="right")
            return np.array([min(a, len(p) - 1)], dtype=np.float32)
        d = self.policy.act_dim
        std = np.exp(np.clip(h[d:], LOG_STD_MIN, LOG_STD_MAX))
        return np.tanh(h[:d] + std * self.rng.standard_normal(d)).astype(np.float32)

    def _explore_torch(self, obs: Any) -> np.ndarray:
        x = torch.from_numpy(np.asarray(obs, dtype=np.float32).reshape(1, -1)).to(self.device)
        with torch.no_grad():
            x = self.policy.features(x)
            if self.discrete:
                a = torch.multinomial(self.policy.distribution(x)[0], 1, generator=self.generator)
            else:
                a = self.policy.sample(x, self.generator)[0]
        return a[0].to(torch.float32).cpu().numpy()

    def env_action(self, stored: np.ndarray) -> Any:
        """Returns a stored action as the env takes it (an int, or a float32 array on the env's bounds)."""
        if self.discrete:
            return int(stored[0])
        low, high = self.action_space.low, self.action_space.high
        return (low + (stored.reshape(self.action_space.shape) + 1.0) * 0.5 * (high - low)).astype(np.float32)

    def export_policy(self) -> SACPolicy:
        """Returns a copy of the policy with its own weights (not views of the agent's flat tensor)."""
        policy = SACPolicy.from_spec(self.policy.spec()).to(self.device)
        policy.load_state_dict(self.policy.state_dict())
        return policy

    # -- learning
    def add_demos(self, demos: Any) -> None:
        """Puts demonstrations (:class:`irl.data.Demos`) in the replay buffer, Box actions rescaled to ``[-1, 1]``."""
        n = demos.n_steps
        if demos.rewards is None and self.reward_model is None:
            raise SetupError("demos without 'rewards' can only be replayed with a reward_model")
        obs = np.asarray(demos.observations, dtype=np.float32).reshape(n, -1)
        next_obs = np.asarray(demos.next_observations, dtype=np.float32).reshape(n, -1)
        act = np.asarray(demos.actions, dtype=np.float32).reshape(n, -1)
        if not self.discrete:
            low = self.action_space.low.reshape(1, -1)
            high = self.action_space.high.reshape(1, -1)
            act = np.clip(2.0 * (act - low) / (high - low) - 1.0, -1.0, 1.0)
        rewards = np.zeros(n) if demos.rewards is None else np.asarray(demos.rewards)
        self.buffer.add_many(obs, act, rewards, next_obs, np.asarray(demos.terminals))

    def learned_reward(self, batch: TransitionBatch) -> torch.Tensor:
        """Returns ``(B,)`` float32 rewards of ``reward_model`` on a batch (inputs as the class docstring says)."""
        model = self.reward_model
        dtype = getattr(model, "dtype", torch.float32)
        dtype = dtype if isinstance(dtype, torch.dtype) and dtype.is_floating_point else torch.float32
        device = getattr(model, "device", self.device)
        n = batch.obs.shape[0]

        def env_form(x: torch.Tensor, space: spaces.Space, scaled: bool = False) -> torch.Tensor:
            if isinstance(space, spaces.Discrete):
                return x[:, 0].long().to(device)
            x = self.policy.to_env(x) if scaled else x
            return x.reshape(n, *space.shape).to(device, dtype)

        extra = {}
        if getattr(model, "accepts_terminated", False):
            extra["terminated"] = batch.terminated.bool().to(device)
        with torch.no_grad():
            r = model(env_form(batch.obs, self.observation_space),
                      env_form(batch.act, self.action_space, scaled=True),
                      env_form(batch.next_obs, self.observation_space), **extra)
        if r.shape != (n,):
            raise ValueError(f"reward_model returned shape {tuple(r.shape)} for a batch of {n}; expected ({n},)")
        return r.to(self.device, torch.float32)

    def losses(self, batch: TransitionBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns the critic, actor and temperature losses on ``batch`` (the last 0 without tuning)."""
        cfg, n = self.config, batch.obs.shape[0]
        reward = batch.env_reward if self.reward_model is None else self.learned_reward(batch)
        alpha = self.log_alpha.detach().exp()
        obs, next_obs = self.policy.features(batch.obs), self.policy.features(batch.next_obs)
        if self.discrete:
            x = torch.cat([obs, next_obs])
            probs, log_probs = self.policy.distribution(x)
            with torch.no_grad():
                target = discrete_soft_bellman_target(
                    reward, self.critic_target(next_obs), probs[n:], log_probs[n:], batch.terminated,
                    alpha=alpha, gamma=cfg.gamma)
            q_all = self.critic(obs)
            q = q_all.gather(2, batch.act.long().expand(q_all.shape[0], n, 1)).squeeze(-1)
            loss_actor = discrete_actor_loss(probs[:n], log_probs[:n], q_all, alpha)
            entropy_term = (probs[:n] * log_probs[:n]).sum(-1)
        else:
            with torch.no_grad():
                next_a, next_log_prob = self.policy.sample(next_obs, self.generator)
                next_q = self.critic_target(torch.cat([next_obs, next_a], 1)).squeeze(-1)
                target = soft_bellman_target(reward, next_q, next_log_prob, batch.terminated,
                                             alpha=alpha, gamma=cfg.gamma)
            a, log_prob = self.policy.sample(obs, self.generator)
            q = self.critic(torch.cat([obs, batch.act], 1)).squeeze(-1)
            q_pi = self.critic(torch.cat([obs, a], 1), self._critic_frozen).squeeze(-1)
            loss_actor = actor_loss(log_prob, q_pi, alpha)
            entropy_term = log_prob
        loss_alpha = (temperature_loss(self.log_alpha, entropy_term, self.target_entropy)
                      if cfg.autotune_alpha else torch.zeros((), device=self.device))
        return critic_loss(q, target), loss_actor, loss_alpha

    def update(self) -> None:
        """Takes one gradient step on a fresh batch, then moves the target critics (Polyak)."""
        loss_critic, loss_actor, loss_alpha = self.losses(self.buffer.sample(self.config.batch_size))
        self._flat_grad.zero_()
        (loss_critic + loss_actor + loss_alpha).backward()
        self.updates += 1
        adam_step(self._flat, self._flat_grad, self._exp_avg, self._exp_avg_sq, step=self.updates, lr=self._lr)
        self._target_flat.lerp_(self._critic_flat, self.config.tau)
        self.last_losses = (loss_critic.detach(), loss_actor.detach(), self.log_alpha.detach())

    def stats(self) -> dict[str, float]:
        """Returns the latest update's critic loss, actor loss and α (empty before the first update)."""
        if self.last_losses is None:
            return {}
        critic, actor, log_alpha = (float(t) for t in self.last_losses)
        return {"critic_loss": critic, "actor_loss": actor, "alpha": math.exp(log_alpha)}


def train(env: gymnasium.Env | str, *, config: SACConfig | None = None,
          reward_model: Callable[..., torch.Tensor] | None = None, demos: Any = None, seed: int = 0,
          callback: Callable[[dict[str, Any]], Any] | None = None, progress: bool = False,
          **overrides: Any) -> TrainResult:
    """Trains SAC on ``env`` for ``total_steps`` env steps and returns the policy, curve and evaluation.

    Args:
        env: a gymnasium env or id (Box or Discrete observations and actions).
        config, overrides: :class:`SACConfig`, fields replaced by keyword.
        reward_model: learn from this reward instead of the env's (see :class:`SACAgent`).
        demos: :class:`irl.data.Demos` put in the replay buffer before training (their
            rewards relabelled by ``reward_model`` when given).
        seed: seeds the env resets, the weights, the exploration and the batches.
        callback: called with each finished episode's curve record; returning False stops.
        progress: show a progress bar.

    ``result.info["agent"]`` is the :class:`SACAgent` (critics, buffer) after training.
    """
    config = resolve_config(SACConfig, config, overrides)
    env = make_env(env)
    with _torch_threads(config.cpu_threads):
        return _train(env, config, reward_model, demos, seed, callback, progress)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _train(env: gymnasium.Env, config: SACConfig, reward_model: Callable[..., torch.Tensor] | None, demos: Any,
           seed: int, callback: Callable[[dict[str, Any]], Any] | None, progress: bool) -> TrainResult:
    n_demo = 0 if demos is None else demos.n_steps
    agent = SACAgent(env.observation_space, env.action_space, config, seed=seed, reward_model=reward_model,
                     capacity=min(config.buffer_size, config.total_steps + n_demo))
    if demos is not None:
        agent.add_demos(demos)
    log = EpisodeLog(config.total_steps, callback, progress, desc="sac")
    buffer, learning_starts = agent.buffer, config.learning_starts
    obs, _ = env.reset(seed=seed)
    for t in range(config.total_steps):
        action = agent.random_action() if t < learning_starts else agent.explore(obs)
        next_obs, reward, terminated, truncated, info = env.step(agent.env_action(action))
        buffer.add(np.ravel(obs), action, reward, np.ravel(next_obs), terminated)
        log.step(float(info["true_reward"]) if "true_reward" in info else float(reward))
        if t + 1 >= learning_starts:
            for _ in range(config.updates_per_step):
                agent.update()
        if terminated or truncated:
            if not log.end_episode(**agent.stats()):
                break
            obs, _ = env.reset()
        else:
            obs = next_obs
    return log.finish(agent.export_policy(), env, config.eval_episodes, seed, info={"agent": agent})
