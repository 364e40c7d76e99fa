"""Entropy-regularised policy gradient (advantage actor-critic, GAE, optional PPO clip), with demonstrations.

Objective: the ELBO of control as inference (Levine 2018, Sec. 4.1), ``Σ_t E[r_t + α H(π(·|s_t))]``.
Its gradient is estimated as ``E[∇log π(a_t|s_t) Â_t] + α E[∇H(π(·|s_t))]``, with ``Â`` the
GAE (Schulman et al. 2016) of the *soft* reward ``r_t + α H(π(·|s_t))``, so that an action is
also credited with the entropy of the states it leads to. Discrete actions use a
Categorical, continuous ones a Gaussian with a state-independent log std. The defaults
clip the ratio as PPO does (4 epochs of minibatches of 64 per rollout of 256 steps);
``clip_range=None, epochs=1, minibatch_size=None`` gives the plain A2C step.

Demonstrations enter as three independent terms (each a loss added to the PG loss):

(a) ``demo_is``: demo trajectories as extra samples of the gradient, weighted by per-decision
    importance ratios ``w_t = Π_{t' ≤ t} π_θ(a_t'|s_t') / q(a_t'|s_t')`` (Precup et al.
    2000), clipped at ``demo_is_clip`` and self-normalised over the demo steps. ``q`` is a
    behaviour-cloned model of the demonstrator (``demo_behavior="bc"``) or the Dirac
    assumption ``q = 1`` ("dirac").
(b) ``demo_bc_coef`` (λ0) > 0: the hybrid objective ``J(θ) + λ_k Σ_demo log π_θ(a|s)`` with the
    DAPG schedule ``λ_k = λ0 · λ1^k`` (Rajeswaran et al. 2018, "Learning Complex Dexterous
    Manipulation with Deep RL and Demonstrations"), k the update index; the sum is taken as
    a mean over demo steps so λ does not scale with the number of demos.
(c) ``bc_warmstart_steps`` > 0: behaviour cloning (maximum likelihood on the demos) before RL.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
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
    box_bounds,
    make_env,
    register_policy,
    resolve_config,
    space_spec,
)

__all__ = ["ActorCriticPolicy", "PGConfig", "behavior_clone", "gae_advantages", "per_decision_weights",
           "policy_gradient_loss", "train"]


# ------------------------------------------------------------------------------------ the math
def gae_advantages(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
                   terminated: torch.Tensor, chain_ends: torch.Tensor, gamma: float,
                   lam: float) -> torch.Tensor:
    """Returns GAE(γ, λ) advantages ``(T,)`` (Schulman et al. 2016) of one stream of steps.

    ``δ_t = r_t + γ (1 - terminated_t) V(s_{t+1}) - V(s_t)`` and
    ``A_t = δ_t + γλ (1 - end_t) A_{t+1}``.

    Args:
        rewards, values, next_values: ``(T,)``; ``next_values`` is ``V`` of the step's own next
            observation (the last one before a reset, so truncation bootstraps).
        terminated: ``(T,)`` bool: no bootstrap past this step.
        chain_ends: ``(T,)`` bool: the episode (or the stream) ends here; the sum stops.
    """
    T = rewards.shape[0]
    for name, x in (("values", values), ("next_values", next_values), ("terminated", terminated),
                    ("chain_ends", chain_ends)):
        if x.shape != (T,):
            raise ValueError(f"{name} must have shape ({T},), got {tuple(x.shape)}")
    live = (~terminated.bool()).to(values.dtype)
    deltas = rewards + gamma * live * next_values - values
    carry = (~chain_ends.bool()).to(values.dtype) * gamma * lam
    adv = torch.empty_like(deltas)
    acc = deltas.new_zeros(())
    for t in range(T - 1, -1, -1):
        acc = deltas[t] + carry[t] * acc
        adv[t] = acc
    return adv


def per_decision_weights(log_pi: torch.Tensor, log_q: torch.Tensor, episode_starts: torch.Tensor,
                         clip: float) -> torch.Tensor:
    """Returns self-normalised per-decision importance weights ``(N,)`` of demo steps (no gradient).

    ``w_t = min(clip, Π_{t' ≤ t} π(a_t'|s_t') / q(a_t'|s_t'))`` within each episode, then
    divided by their mean so they average 1.

    Args:
        log_pi: ``(N,)`` ``log π_θ(a_t|s_t)`` of the demo steps, flat over episodes.
        log_q: ``(N,)`` ``log q(a_t|s_t)`` under the behaviour model (0 for the Dirac assumption).
        episode_starts: ``(E,)`` int index of each episode's first step (starts at 0).
        clip: the largest weight before normalisation.
    """
    n = log_pi.shape[0]
    if log_q.shape != (n,) or episode_starts.ndim != 1:
        raise ValueError(f"log_pi, log_q must be (N,), episode_starts (E,); got {tuple(log_pi.shape)}, "
                         f"{tuple(log_q.shape)}, {tuple(episode_starts.shape)}")
    with torch.no_grad():
        log_ratio = (log_pi - log_q).double()
        cum = torch.cumsum(log_ratio, 0)
        # subtract the running sum at each episode's start so the product restarts there
        lengths = torch.diff(torch.cat([episode_starts.long(), torch.tensor([n])]))
        before = torch.cat([cum.new_zeros(1), cum])[episode_starts.long()]
        log_w = cum - torch.repeat_interleave(before, lengths)
        w = torch.exp(torch.clamp(log_w, max=math.log(clip)))
        return (w / w.mean()).to(log_pi.dtype)


def policy_gradient_loss(log_prob: torch.Tensor, advantages: torch.Tensor,
                         old_log_prob: torch.Tensor | None = None, clip_range: float | None = None,
                         weights: torch.Tensor | None = None) -> torch.Tensor:
    """Returns the surrogate loss ``-mean(w · log π(a|s) · Â)`` or PPO's clipped one (Schulman 2017, eq. 7).

    Args:
        log_prob: ``(N,)`` ``log π_θ(a|s)`` (with gradient).
        advantages: ``(N,)`` (no gradient).
        old_log_prob: ``(N,)`` ``log π_old(a|s)``; needed with ``clip_range``.
        clip_range: PPO's ε, or None for the plain gradient.
        weights: ``(N,)`` per-sample weights (importance weights of demo steps), default 1.
    """
    if advantages.shape != log_prob.shape or log_prob.ndim != 1:
        raise ValueError(f"log_prob and advantages must both be (N,), got {tuple(log_prob.shape)}, "
                         f"{tuple(advantages.shape)}")
    if clip_range is None:
        objective = log_prob * advantages
    else:
        if old_log_prob is None:
            raise ValueError("PPO clipping needs old_log_prob")
        ratio = torch.exp(log_prob - old_log_prob)
        clipped = torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
        objective = torch.minimum(ratio * advantages, clipped * advantages)
    if weights is not None:
        objective = weights * objective
    return -objective.mean()


# ---------------------------------------------------------------------------------- the config
@dataclass(frozen=True)
class PGConfig:
    """Entropy-regularised actor-critic; the ``demo_*``/``bc_*`` fields switch the demonstration terms."""

    total_steps: int = 100_000
    """env steps of training."""
    rollout_steps: int = 256
    """env steps collected per update."""
    gamma: float = 0.99
    """discount factor."""
    gae_lambda: float = 0.95
    """λ of GAE."""
    learning_rate: float = 1e-3
    """Adam step size (actor and critic)."""
    hidden: tuple[int, ...] = (64, 64)
    """hidden widths of the actor and of the critic (tanh)."""
    entropy_coef: float = 0.01
    """α: weight of the entropy in the ELBO Σ E[r + α H(π)] (added to the reward and to the loss)."""
    value_coef: float = 0.5
    """weight of the critic's squared error."""
    clip_range: float | None = 0.2
    """PPO's clip ε; None: the plain (A2C) gradient (then use epochs=1, minibatch_size=None)."""
    epochs: int = 4
    """passes over each rollout."""
    minibatch_size: int | None = 64
    """steps per gradient step; None: the whole rollout."""
    max_grad_norm: float = 0.5
    """gradient-norm clip."""
    normalize_advantages: bool = True
    """standardise advantages per update."""
    init_log_std: float = -0.5
    """continuous actions: initial log std of the Gaussian."""
    max_episode_steps: int | None = None
    """truncate training episodes after this many steps (for envs without a time limit)."""
    eval_episodes: int = 10
    """deterministic evaluation episodes after training (0: none)."""
    # (a) importance-sampled demos
    demo_is: bool = False
    """(a) add the demo trajectories to the gradient with per-decision importance weights."""
    demo_is_coef: float = 1.0
    """(a) weight of the demo term relative to the on-policy term."""
    demo_behavior: str = "bc"
    """(a) q of the ratio π/q: "bc" (a behaviour-cloned model of the demonstrator) or "dirac" (q = 1)."""
    demo_is_clip: float = 10.0
    """(a) clip of a per-decision weight before self-normalisation."""
    # (b) DAPG hybrid objective
    demo_bc_coef: float = 0.0
    """(b) λ0 of the term λ0·λ1^k mean_demo log π(a|s); 0 switches it off."""
    demo_bc_decay: float = 0.95
    """(b) λ1, the per-update decay of that term."""
    # (c) behaviour-cloning warm start (also fits the "bc" behaviour model of (a))
    bc_warmstart_steps: int = 0
    """(c) gradient steps of behaviour cloning before RL; 0 switches it off."""
    bc_steps: int = 500
    """gradient steps to fit the behaviour model q of (a)."""
    bc_learning_rate: float = 1e-3
    """Adam step size of behaviour cloning."""
    bc_batch_size: int = 256
    """demo steps per behaviour-cloning gradient step."""


# --------------------------------------------------------------------------------- the policy
def _mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int, out_gain: float) -> nn.Sequential:
    """tanh MLP, orthogonal init (√2 hidden, ``out_gain`` output), zero biases: the usual PPO init."""
    layers: list[nn.Module] = []
    widths = [in_dim, *hidden]
    for a, b in pairwise(widths):
        layer = nn.Linear(a, b)
        nn.init.orthogonal_(layer.weight, math.sqrt(2))
        nn.init.zeros_(layer.bias)
        layers += [layer, nn.Tanh()]
    out = nn.Linear(widths[-1], out_dim)
    nn.init.orthogonal_(out.weight, out_gain)
    nn.init.zeros_(out.bias)
    return nn.Sequential(*layers, out)


@register_policy("actor-critic")
class ActorCriticPolicy(nn.Module):
    """An actor (Categorical logits, or Gaussian mean and log std) and a critic ``V(s)`` on encoded obs."""

    def __init__(self, observation: dict[str, Any], action: dict[str, Any],
                 hidden: tuple[int, ...] = (64, 64), init_log_std: float = -0.5, seed: int = 0) -> None:
        super().__init__()
        self.observation, self.action, self.hidden = observation, action, tuple(hidden)
        self.init_log_std, self.seed = float(init_log_std), int(seed)
        self.encoder = ObsEncoder(observation)
        self.discrete = action["type"] == "discrete"
        self.act_shape: tuple[int, ...] = () if self.discrete else tuple(action["shape"])
        out = int(action["n"]) if self.discrete else int(np.prod(self.act_shape, dtype=np.int64))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.actor = _mlp(self.encoder.dim, self.hidden, out, 0.01)
            self.critic = _mlp(self.encoder.dim, self.hidden, 1, 1.0)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((out,), self.init_log_std))
            low, high = box_bounds(action)
            self.register_buffer("low", low)
            self.register_buffer("high", high)
        self.generator = torch.Generator().manual_seed(seed)

    def distribution(self, x: torch.Tensor) -> torch.distributions.Distribution:
        """Returns π(·|s) for encoded observations ``(N, dim)``: Categorical, or a diagonal Normal."""
        out = self.actor(x)
        if self.discrete:
            return torch.distributions.Categorical(logits=out, validate_args=False)
        return torch.distributions.Normal(out, self.log_std.exp().expand_as(out), validate_args=False)

    def log_prob(self, dist: torch.distributions.Distribution, actions: torch.Tensor) -> torch.Tensor:
        """Returns ``(N,)`` ``log π(a|s)`` (summed over action dimensions)."""
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

    def sample(self, dist: torch.distributions.Distribution) -> torch.Tensor:
        """Draws actions ``(N,)`` or ``(N, act_dim)`` with the policy's own generator."""
        if self.discrete:
            return torch.multinomial(dist.probs, 1, generator=self.generator).squeeze(-1)
        noise = torch.randn(dist.mean.shape, generator=self.generator, dtype=dist.mean.dtype)
        return dist.mean + dist.stddev * noise

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """Returns actions for one observation (``()`` int or ``(act_dim,)``) or a batch, within bounds."""
        x, single = self.encoder.encode(obs)
        with torch.no_grad():
            dist = self.distribution(x)
            if deterministic:
                a = dist.probs.argmax(-1) if self.discrete else dist.mean
            else:
                a = self.sample(dist)
            if not self.discrete:
                a = torch.clamp(a, self.low, self.high).reshape(-1, *self.act_shape)
        a = a.numpy()
        return a[0] if single else a

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "observation": self.observation, "action": self.action,
                "hidden": list(self.hidden), "init_log_std": self.init_log_std, "seed": self.seed}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ActorCriticPolicy:
        return cls(spec["observation"], spec["action"], tuple(spec.get("hidden", (64, 64))),
                   float(spec.get("init_log_std", -0.5)), int(spec.get("seed", 0)))


# ----------------------------------------------------------------------------- demonstrations
class _DemoBatch:
    """The demos as tensors for the demo terms: encoded observations, actions, rewards, episode layout."""

    def __init__(self, demos: Any, policy: ActorCriticPolicy, reward_fn: RewardFunction) -> None:
        self.x, _ = policy.encoder.encode(np.asarray(demos.observations))
        self.next_x, _ = policy.encoder.encode(np.asarray(demos.next_observations))
        act = np.asarray(demos.actions)
        self.actions = torch.as_tensor(act.astype(np.int64) if policy.discrete else act.astype(np.float32))
        self.terminated = torch.as_tensor(np.array(demos.terminals, dtype=bool))
        self.chain_ends = torch.zeros_like(self.terminated)
        self.chain_ends[torch.as_tensor(demos.episode_ends - 1)] = True
        self.episode_starts = torch.as_tensor(np.array(demos.episode_starts, dtype=np.int64))
        self.n = self.x.shape[0]
        self.rewards: torch.Tensor | None = None
        if reward_fn.learned or demos.rewards is not None:
            env_r = np.zeros(self.n) if demos.rewards is None else np.asarray(demos.rewards)
            r = reward_fn.batch(np.asarray(demos.observations), act, np.asarray(demos.next_observations),
                                np.asarray(demos.terminals), env_r)
            self.rewards = torch.as_tensor(r, dtype=torch.float32)


def behavior_clone(policy: ActorCriticPolicy, demo: _DemoBatch, steps: int, lr: float, batch_size: int,
                   rng: np.random.Generator) -> list[float]:
    """Fits the actor to the demos by maximum likelihood for ``steps`` Adam steps; returns the losses."""
    params = list(policy.actor.parameters()) + ([] if policy.discrete else [policy.log_std])
    optimizer = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        i = torch.as_tensor(rng.integers(0, demo.n, size=min(batch_size, demo.n)))
        loss = -policy.log_prob(policy.distribution(demo.x[i]), demo.actions[i]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# ------------------------------------------------------------------------------------ training
class _Rollout:
    """Preallocated storage of one rollout of ``n`` steps (raw observations, for the reward model)."""

    def __init__(self, n: int, obs_space: spaces.Space, act_shape: tuple[int, ...],
                 discrete_act: bool) -> None:
        discrete_obs = isinstance(obs_space, spaces.Discrete)
        obs_shape = () if discrete_obs else tuple(obs_space.shape)
        obs_dtype = np.int64 if discrete_obs else np.float32
        self.obs = np.zeros((n, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((n, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((n, *act_shape), dtype=np.int64 if discrete_act else np.float32)
        self.env_rewards = np.zeros(n)
        self.log_probs = np.zeros(n, dtype=np.float32)
        self.entropies = np.zeros(n, dtype=np.float32)
        self.terminated = np.zeros(n, dtype=bool)
        self.chain_ends = np.zeros(n, dtype=bool)


def train(env: gymnasium.Env | str, *, config: PGConfig | None = None, reward_model: Any = None,
          demos: Any = None, seed: int = 0, callback: Callable[[dict], Any] | None = None,
          progress: bool = False, **overrides: Any) -> TrainResult:
    """Returns a policy trained by entropy-regularised actor-critic with the demo terms the config turns on.

    See ``irl.solvers._rollout`` for the shared arguments. ``demos`` (an ``irl.data.Demos``)
    is needed by any demo term; term (a) also needs demo rewards: the reward model's, or
    ``demos.rewards`` when there is no model. Curve records add ``update`` (updates so far).
    ``result.info`` holds ``bc_losses`` (warm start) and ``updates``.
    """
    config = resolve_config(PGConfig, config, overrides)
    uses_demos = config.demo_is or config.demo_bc_coef > 0 or config.bc_warmstart_steps > 0
    if uses_demos and demos is None:
        raise SetupError("the demo terms (demo_is, demo_bc_coef, bc_warmstart_steps) need demos")
    if config.demo_behavior not in ("bc", "dirac"):
        raise SetupError(f"demo_behavior must be 'bc' or 'dirac', got {config.demo_behavior!r}")
    env = make_env(env)
    policy = ActorCriticPolicy(space_spec(env.observation_space), space_spec(env.action_space, bounds=True),
                               config.hidden, config.init_log_std, seed)
    reward_fn = RewardFunction(reward_model, env.observation_space, env.action_space)
    rng = np.random.default_rng(seed)
    info: dict[str, Any] = {}

    demo = _DemoBatch(demos, policy, reward_fn) if uses_demos else None
    behavior = None
    if config.bc_warmstart_steps > 0:
        info["bc_losses"] = behavior_clone(policy, demo, config.bc_warmstart_steps, config.bc_learning_rate,
                                           config.bc_batch_size, rng)
    if config.demo_is:
        if demo.rewards is None:
            raise SetupError("demo_is needs demo rewards: pass a reward_model or demos with rewards")
        if config.demo_behavior == "bc":
            behavior = copy.deepcopy(policy)
            if config.bc_warmstart_steps < config.bc_steps:
                behavior_clone(behavior, demo, config.bc_steps - config.bc_warmstart_steps,
                               config.bc_learning_rate, config.bc_batch_size, rng)
            behavior.requires_grad_(False)

    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
    n = config.rollout_steps
    buf = _Rollout(n, env.observation_space, policy.act_shape, policy.discrete)
    log = EpisodeLog(config.total_steps, callback, progress, desc="pg")
    if not policy.discrete:
        low = policy.low.numpy().reshape(policy.act_shape)
        high = policy.high.numpy().reshape(policy.act_shape)
    obs, _ = env.reset(seed=seed)
    length, updates, stop = 0, 0, False
    while log.steps < config.total_steps and not stop:
        steps = min(n, config.total_steps - log.steps)
        draw = _Drawer(policy, rng)
        for t in range(steps):
            action, buf.log_probs[t], buf.entropies[t] = draw(obs)
            env_action = int(action) if policy.discrete else np.clip(action, low, high)
            next_obs, env_reward, terminated, truncated, step_info = env.step(env_action)
            length += 1
            ended = terminated or truncated or (config.max_episode_steps is not None
                                                and length >= config.max_episode_steps)
            buf.obs[t], buf.actions[t], buf.next_obs[t] = obs, action, next_obs
            buf.env_rewards[t], buf.terminated[t] = env_reward, terminated
            buf.chain_ends[t] = ended or t == steps - 1
            log.step(float(step_info.get("true_reward", env_reward)))
            if ended:
                if not log.end_episode(update=updates):
                    stop = True  # the policy that earned the last episode is the one returned
                    break
                obs, _ = env.reset()
                length = 0
            else:
                obs = next_obs
        if not stop:
            _update(policy, optimizer, buf, steps, reward_fn, demo, behavior, config, updates, rng)
            updates += 1
    info["updates"] = updates
    return log.finish(policy, env, config.eval_episodes, seed, info=info)


class _Drawer:
    """Draws one training action per env step, with the actor copied to numpy for the rollout.

    The weights do not change during a rollout, and on tiny inputs a numpy matmul costs a
    fraction of a torch call. Returns ``(action, log π(a|s), H(π(·|s)))`` (float64 math).
    """

    def __init__(self, policy: ActorCriticPolicy, rng: np.random.Generator) -> None:
        self.policy, self.rng = policy, rng
        linears = [m for m in policy.actor if isinstance(m, nn.Linear)]
        self.layers = [(m.weight.detach().double().numpy().copy(), m.bias.detach().double().numpy().copy())
                       for m in linears]
        self.first_t = self.layers[0][0].T.copy()  # (in, out): row s is the first layer on one-hot s
        if not policy.discrete:
            log_std = policy.log_std.detach().double()
            self.std = log_std.exp().numpy()
            self.log_norm = float((log_std + 0.5 * math.log(2 * math.pi)).sum())
            self.entropy = float((log_std + 0.5 * math.log(2 * math.pi * math.e)).sum())

    def actor_out(self, obs: Any) -> np.ndarray:
        """The actor's output (logits or mean) for one observation, as the torch actor computes it."""
        w0, b0 = self.layers[0]
        if self.policy.encoder.discrete:
            h = self.first_t[int(obs)] + b0
        else:
            h = w0 @ np.asarray(obs, dtype=np.float64).reshape(-1) + b0
        for w, b in self.layers[1:]:
            h = w @ np.tanh(h) + b
        return h

    def __call__(self, obs: Any) -> tuple[np.ndarray, float, float]:
        out = self.actor_out(obs)
        if self.policy.discrete:
            z = out - out.max()
            p = np.exp(z)
            total = p.sum()
            log_p = z - math.log(total)
            p /= total
            a = min(int(np.searchsorted(np.cumsum(p), self.rng.random(), side="right")), len(p) - 1)
            return np.int64(a), float(log_p[a]), float(-(p * log_p).sum())
        noise = self.rng.standard_normal(out.shape)
        a = out + self.std * noise
        return a.reshape(self.policy.act_shape), float(-0.5 * (noise**2).sum() - self.log_norm), self.entropy


def _soft_advantages(policy: ActorCriticPolicy, x: torch.Tensor, next_x: torch.Tensor, rewards: torch.Tensor,
                     entropies: torch.Tensor, terminated: torch.Tensor, chain_ends: torch.Tensor,
                     config: PGConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns ``(advantages, value targets)`` of the soft reward ``r + α H`` (no gradient)."""
    with torch.no_grad():
        values, next_values = policy.value(x), policy.value(next_x)
        soft_r = rewards + config.entropy_coef * entropies
        adv = gae_advantages(soft_r, values, next_values, terminated, chain_ends, config.gamma,
                             config.gae_lambda)
    return adv, adv + values


def _update(policy: ActorCriticPolicy, optimizer: torch.optim.Optimizer, buf: _Rollout, steps: int,
            reward_fn: RewardFunction, demo: _DemoBatch | None, behavior: ActorCriticPolicy | None,
            config: PGConfig, k: int, rng: np.random.Generator) -> None:
    """One update from the first ``steps`` steps of ``buf``: ``epochs`` passes of minibatch gradient steps."""
    s = slice(0, steps)
    x, _ = policy.encoder.encode(buf.obs[s])
    next_x, _ = policy.encoder.encode(buf.next_obs[s])
    actions = torch.as_tensor(buf.actions[s])
    terminated, chain_ends = torch.as_tensor(buf.terminated[s]), torch.as_tensor(buf.chain_ends[s])
    rewards = reward_fn.batch(buf.obs[s], buf.actions[s], buf.next_obs[s], buf.terminated[s],
                              buf.env_rewards[s])
    rewards = torch.as_tensor(rewards, dtype=torch.float32)
    adv, returns = _soft_advantages(policy, x, next_x, rewards, torch.as_tensor(buf.entropies[s]), terminated,
                                    chain_ends, config)
    old_log_probs = torch.as_tensor(buf.log_probs[s])

    demo_adv = demo_w = None
    if config.demo_is:
        with torch.no_grad():
            dist = policy.distribution(demo.x)
            log_pi = policy.log_prob(dist, demo.actions)
            log_q = (behavior.log_prob(behavior.distribution(demo.x), demo.actions) if behavior is not None
                     else torch.zeros_like(log_pi))
            demo_w = per_decision_weights(log_pi, log_q, demo.episode_starts, config.demo_is_clip)
        demo_entropy = policy.entropy(dist).detach()
        demo_adv, _ = _soft_advantages(policy, demo.x, demo.next_x, demo.rewards, demo_entropy,
                                       demo.terminated, demo.chain_ends, config)
    if config.normalize_advantages:
        # one scale for on-policy and demo advantages, so neither term drowns the other
        both = adv if demo_adv is None else torch.cat([adv, demo_adv])
        mean, std = both.mean(), both.std() if both.numel() > 1 else both.new_ones(())
        adv = (adv - mean) / (std + 1e-8)
        if demo_adv is not None:
            demo_adv = (demo_adv - mean) / (std + 1e-8)
    bc_weight = config.demo_bc_coef * config.demo_bc_decay ** k

    mb = config.minibatch_size or steps
    for _ in range(config.epochs):
        order = torch.as_tensor(rng.permutation(steps))
        for start in range(0, steps, mb):
            i = order[start:start + mb]
            dist = policy.distribution(x[i])
            log_prob = policy.log_prob(dist, actions[i])
            loss = policy_gradient_loss(log_prob, adv[i], old_log_probs[i], config.clip_range)
            loss = loss - config.entropy_coef * policy.entropy(dist).mean()
            loss = loss + config.value_coef * (policy.value(x[i]) - returns[i]).pow(2).mean()
            if demo is not None and (config.demo_is or bc_weight > 0):
                demo_dist = policy.distribution(demo.x)
                demo_log_prob = policy.log_prob(demo_dist, demo.actions)
                if config.demo_is:
                    is_loss = policy_gradient_loss(demo_log_prob, demo_adv, weights=demo_w)
                    loss = loss + config.demo_is_coef * is_loss
                if bc_weight > 0:
                    loss = loss - bc_weight * demo_log_prob.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
