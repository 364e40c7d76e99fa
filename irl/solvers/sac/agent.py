"""SAC as a generator: :class:`SACAgent` collects into its replay buffer and updates from it.

Each update draws one batch and takes one gradient step on the sum of the critic, actor and
temperature losses: each loss reaches only its own parameters (the critic is read through
detached weights in the actor loss), so the sum is the three separate SAC steps taken from
the same parameters, in one backward pass. With Box actions that gradient is written out by
hand (:mod:`irl.solvers.sac.gradients`, equal to autograd's up to round-off; ``SACConfig.autograd``
takes autograd's instead); Discrete actions take it from autograd. With a ``reward_fn``
every sampled batch is relabelled with the reward as it is now, so the whole replay follows a
changing reward.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

from irl.checkpoint import rng_state, set_rng_state
from irl.solvers.agent import EnvStepper, RewardFunction, SteppingAgent, Transitions
from irl.solvers.replay import ReplayBuffer, TransitionBatch
from irl.solvers.sac.config import SACConfig
from irl.solvers.sac.gradients import box_sac_gradients
from irl.solvers.sac.losses import (
    _LOG2,
    actor_loss,
    adam_step,
    critic_loss,
    discrete_actor_loss,
    discrete_soft_bellman_target,
    soft_bellman_target,
    temperature_loss,
)
from irl.solvers.sac.networks import SACPolicy, TwinCritic
from irl.solvers.sac.numpy_actor import numpy_explore, numpy_layers
from irl.solvers.soft_bellman import policy_soft_value, soft_target
from irl.solvers.spaces import SetupError, flat_dim, space_spec

__all__ = ["SACAgent"]


def _flatten(params: list[torch.Tensor]) -> torch.Tensor:
    """Returns one flat tensor holding ``params``, each of which becomes a view of it."""
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    offset = 0
    for p in params:
        p.data = flat[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
    return flat


class SACAgent(SteppingAgent):
    """Policy, twin critics and their targets, the temperature, Adam, the replay buffer and the env.

    Args:
        env: a gymnasium env with Discrete or Box spaces (Box actions with finite bounds).
        config: the hyperparameters.
        seed: initial weights, exploration, batch draws and the first env reset are functions of it.
        capacity: replay rows to allocate (default ``config.buffer_size``).
        log: an :class:`irl.solvers.training.EpisodeLog` to report episodes to, or None.

    A generator (:mod:`irl.solvers.agent`): ``collect(n)`` takes n env steps (uniformly random
    actions for the first ``learning_starts``), ``update(reward_fn)`` takes ``updates_per_step``
    gradient steps per step collected since the last update (from ``learning_starts`` on).

    Every trained parameter (critics, policy, ``log α``) is a view of one flat tensor, and so is
    every target-critic parameter, so that Adam and the Polyak average are a few operations on
    whole vectors rather than a few per parameter tensor.
    """

    def __init__(self, env: gymnasium.Env, config: SACConfig, *, seed: int = 0, capacity: int | None = None,
                 log: Any = None) -> None:
        observation_space, action_space = env.observation_space, env.action_space
        for name, space in (("observation", observation_space), ("action", action_space)):
            if not isinstance(space, (spaces.Discrete, spaces.Box)):
                raise SetupError(f"SAC supports Discrete or Box {name} spaces, got {type(space).__name__}")
        self.env, self.config = env, config
        self.observation_space, self.action_space = observation_space, action_space
        self.device = torch.device(config.device)
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.policy = SACPolicy(space_spec(observation_space), space_spec(action_space, bounds=True),
                                config.hidden, seed=seed).to(self.device)
        init = torch.Generator().manual_seed(seed + 1)  # critics: a stream apart from the policy's
        self.absorbing = config.absorbing  # then stored observations carry one more column: 1 = absorbing
        self.obs_dim = flat_dim(observation_space)
        in_dim = self.policy.encoder.dim + int(self.absorbing) + (0 if self.discrete else self.policy.act_dim)
        out_dim = self.policy.act_dim if self.discrete else 1
        self.critic = TwinCritic(in_dim, out_dim, config.hidden, generator=init).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(config.init_temperature), device=self.device,
                                      requires_grad=config.autotune_temperature)
        if config.target_entropy is not None:
            self.target_entropy = float(config.target_entropy)
        elif self.discrete:
            self.target_entropy = 0.98 * math.log(self.policy.act_dim)
        else:
            self.target_entropy = -float(self.policy.act_dim)
        self._setup_adam()
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.buffer = ReplayBuffer(capacity or config.buffer_size, self.obs_dim + int(self.absorbing),
                                   1 if self.discrete else self.policy.act_dim, self.device, self.generator)
        self.updates = 0
        self.pending = 0  # gradient steps owed for the steps collected since the last update
        self.demos_without_rewards = False
        self.last_losses: tuple[torch.Tensor, ...] | None = None
        # On the CPU one action is cheaper in numpy (on views of the weights) than in torch.
        self._numpy_net = numpy_layers(self.policy.net) if self.device.type == "cpu" else None
        self.stepper = EnvStepper(env, seed, log=log, extras=self.stats)

    def _setup_adam(self) -> None:
        cfg = self.config
        groups = [(list(self.critic.parameters()), cfg.critic_lr), (list(self.policy.parameters()), cfg.actor_lr)]
        if cfg.autotune_temperature:
            groups.append(([self.log_alpha], cfg.temperature_lr))
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
        self.bind_grads()
        # Detached aliases share storage with the parameters, so they follow every step.
        self._critic_frozen = [(w.detach(), b.detach()) for w, b in self.critic.layers()]
        # The layer lists kept once: listing them from the modules at each call costs more than small layers run.
        self._actor_layers = self.policy.linear_layers()
        self._critic_layers = self.critic.layers()
        self._target_layers = self.critic_target.layers()
        # Box actions take their gradients by hand (irl.solvers.sac.gradients) unless config.autograd, written
        # into views of the flat gradient laid out as the layers: critic, actor, log α.
        self._by_hand = not self.discrete and not cfg.autograd
        layers = [*self._critic_layers, *self._actor_layers]
        params = [p for pair in layers for p in pair] + ([self.log_alpha] if cfg.autotune_temperature else [])
        self._grads = [self._flat_grad[p.storage_offset():p.storage_offset() + p.numel()].view_as(p) for p in params]
        self._actor_frozen = [(w.detach(), b.detach()) for w, b in self._actor_layers]

    def bind_grads(self) -> None:
        """Makes every parameter's ``.grad`` a view of the one flat gradient again (after an outside
        optimiser, e.g. a behaviour-cloning warm start, set them to None or to tensors of its own)."""
        offset = 0
        for p in self._params:
            p.grad = self._flat_grad[offset:offset + p.numel()].view_as(p)
            offset += p.numel()

    # -- the generator interface
    def collect(self, n_steps: int) -> Transitions:
        """Takes ``n_steps`` env steps, stores them in the replay buffer and returns them in env form."""
        rows: dict[str, list] = {k: [] for k in ("obs", "act", "next", "term", "trunc", "logp", "rew")}
        for _ in range(n_steps):
            obs = self.stepper.obs
            if self.stepper.steps < self.config.learning_starts:
                stored, log_prob = self.random_action()
            else:
                stored, log_prob = self.explore(obs)
            action = self.env_action(stored)
            next_obs, reward, terminated, ended = self.stepper.step(action)
            self._store(np.ravel(obs), stored, reward, np.ravel(next_obs), terminated)
            if self.stepper.steps >= self.config.learning_starts:
                self.pending += self.config.updates_per_step
            for key, value in zip(rows, (obs, action, next_obs, terminated, ended and not terminated, log_prob,
                                         reward)):
                rows[key].append(value)
            if self.stepper.stopped:
                break
        return Transitions(np.asarray(rows["obs"]), np.asarray(rows["act"]), np.asarray(rows["next"]),
                           np.asarray(rows["term"], dtype=bool), np.asarray(rows["trunc"], dtype=bool),
                           np.asarray(rows["logp"], dtype=np.float64), np.asarray(rows["rew"], dtype=np.float64))

    def update(self, reward_fn: RewardFunction | None = None) -> dict[str, float]:
        """Takes the gradient steps owed (``updates_per_step`` per step collected since the last update,
        from ``learning_starts`` on), each on a fresh batch; ``reward_fn`` relabels every batch."""
        if reward_fn is None and self.demos_without_rewards:
            raise SetupError("demos without rewards are in the replay buffer: update needs a reward_fn")
        for _ in range(self.pending):
            self.gradient_step(reward_fn)
        self.pending = 0
        return self.stats()

    def add_demos(self, transitions: Transitions) -> None:
        """Puts demonstrations in the replay buffer, Box actions rescaled to ``[-1, 1]``. Demos whose
        ``env_rewards`` are NaN (unknown) can only be learned from with a ``reward_fn``."""
        n = len(transitions)
        obs = np.asarray(transitions.observations, dtype=np.float32).reshape(n, -1)
        next_obs = np.asarray(transitions.next_observations, dtype=np.float32).reshape(n, -1)
        act = np.asarray(transitions.actions, dtype=np.float32).reshape(n, -1)
        if not self.discrete:
            low = self.action_space.low.reshape(1, -1)
            high = self.action_space.high.reshape(1, -1)
            act = np.clip(2.0 * (act - low) / (high - low) - 1.0, -1.0, 1.0)
        rewards = np.asarray(transitions.env_rewards, dtype=np.float64)
        if np.isnan(rewards).any():
            self.demos_without_rewards = True
            rewards = np.nan_to_num(rewards)
        if not self.absorbing:
            self.buffer.add_many(obs, act, rewards, next_obs, np.asarray(transitions.terminated))
            return
        for i in range(n):
            self._store(obs[i], act[i], rewards[i], next_obs[i], bool(transitions.terminated[i]))

    def _store(self, obs: np.ndarray, act: np.ndarray, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        """One transition into the buffer; with ``absorbing``, a termination becomes a step into the absorbing
        state plus the absorbing state's own step (DAC)."""
        if not self.absorbing:
            self.buffer.add(obs, act, reward, next_obs, terminated)
            return
        absorbing = np.zeros(self.obs_dim + 1, np.float32)
        absorbing[-1] = 1.0
        self.buffer.add(np.append(obs, 0.0), act, reward, absorbing if terminated else np.append(next_obs, 0.0), False)
        if terminated:
            self.buffer.add(absorbing, np.zeros_like(act), 0.0, absorbing, False)

    def export_policy(self) -> SACPolicy:
        """Returns a copy of the policy with its own weights (not views of the agent's flat tensor)."""
        policy = SACPolicy.from_spec(self.policy.spec()).to(self.device)
        policy.load_state_dict(self.policy.state_dict())
        return policy

    # -- acting: actions as stored (Box in [-1, 1], Discrete as [index]) and their log π in env units
    def random_action(self) -> tuple[np.ndarray, float]:
        """A uniformly random action, and its log-probability (Box: density on the env's scale)."""
        if self.discrete:
            return np.array([self.rng.integers(self.policy.act_dim)], dtype=np.float32), -math.log(self.policy.act_dim)
        a = self.rng.uniform(-1.0, 1.0, self.policy.act_dim).astype(np.float32)
        return a, -self.policy.act_dim * _LOG2 - self.policy.log_scale

    def explore(self, obs: Any) -> tuple[np.ndarray, float]:
        """An action drawn from the policy for one env observation, and its log π (env units)."""
        if self._numpy_net is None:
            return self._explore_torch(obs)
        a, log_prob = numpy_explore(self._numpy_net, obs, one_hot_input=self.policy.encoder.discrete,
                                    discrete=self.discrete, act_dim=self.policy.act_dim, rng=self.rng)
        return a, log_prob if self.discrete else log_prob - self.policy.log_scale

    def _explore_torch(self, obs: Any) -> tuple[np.ndarray, float]:
        x = torch.from_numpy(np.asarray(obs, dtype=np.float32).reshape(1, -1)).to(self.device)
        with torch.no_grad():
            x = self.policy.features(x)
            if self.discrete:
                probs, log_probs = self.policy.distribution(x)
                a = torch.multinomial(probs, 1, generator=self.generator)[0]
                return a.to(torch.float32).cpu().numpy(), float(log_probs[0, a[0]])
            a, log_prob = self.policy.rsample(x, self.generator)
        return a[0].cpu().numpy(), float(log_prob[0]) - self.policy.log_scale

    def env_action(self, stored: np.ndarray) -> Any:
        """Returns a stored action as the env takes it (an int, or a float32 array on the env's bounds)."""
        if self.discrete:
            return int(stored[0])
        low, high = self.action_space.low, self.action_space.high
        return (low + (stored.reshape(self.action_space.shape) + 1.0) * 0.5 * (high - low)).astype(np.float32)

    # -- learning
    def relabel(self, batch: TransitionBatch, reward_fn: RewardFunction) -> torch.Tensor:
        """``(B,)`` float32 rewards of ``reward_fn`` on a stored batch, passed in env form."""
        n = batch.obs.shape[0]

        def env_form(x: torch.Tensor, space: spaces.Space) -> torch.Tensor:
            return x[:, 0].long() if isinstance(space, spaces.Discrete) else x.reshape(n, *space.shape)

        act = batch.act if self.discrete else self.policy.to_env(batch.act)
        r = reward_fn(env_form(batch.obs, self.observation_space), env_form(act, self.action_space),
                      env_form(batch.next_obs, self.observation_space), batch.terminated.bool())
        return r.to(self.device, torch.float32)

    def losses(self, batch: TransitionBatch, reward_fn: RewardFunction | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns the critic, actor and temperature losses on ``batch`` (the last 0 without tuning)."""
        if self.absorbing:
            return self._absorbing_losses(batch, reward_fn)
        cfg, n = self.config, batch.obs.shape[0]
        reward = batch.env_reward if reward_fn is None else self.relabel(batch, reward_fn)
        alpha = self.log_alpha.detach().exp()
        obs, next_obs = self.policy.features(batch.obs), self.policy.features(batch.next_obs)
        if self.discrete:
            x = torch.cat([obs, next_obs])
            probs, log_probs = self.policy.distribution(x, self._actor_layers)
            with torch.no_grad():
                target = discrete_soft_bellman_target(
                    reward, self.critic_target(next_obs, self._target_layers), probs[n:], log_probs[n:],
                    batch.terminated, alpha=alpha, gamma=cfg.gamma)
            q_all = self.critic(obs, self._critic_layers)
            q = q_all.gather(2, batch.act.long().expand(q_all.shape[0], n, 1)).squeeze(-1)
            loss_actor = discrete_actor_loss(probs[:n], log_probs[:n], q_all, alpha)
            entropy_term = (probs[:n] * log_probs[:n]).sum(-1)
        else:
            with torch.no_grad():
                next_a, next_log_prob = self.policy.rsample(next_obs, self.generator, self._actor_layers)
                next_q = self.critic_target(torch.cat([next_obs, next_a], 1), self._target_layers).squeeze(-1)
                target = soft_bellman_target(reward, next_q, next_log_prob, batch.terminated,
                                             alpha=alpha, gamma=cfg.gamma)
            a, log_prob = self.policy.rsample(obs, self.generator, self._actor_layers)
            q = self.critic(torch.cat([obs, batch.act], 1), self._critic_layers).squeeze(-1)
            q_pi = self.critic(torch.cat([obs, a], 1), self._critic_frozen).squeeze(-1)
            loss_actor = actor_loss(log_prob, q_pi, alpha)
            entropy_term = log_prob
        loss_alpha = (temperature_loss(self.log_alpha, entropy_term, self.target_entropy)
                      if cfg.autotune_temperature else torch.zeros((), device=self.device))
        return critic_loss(q, target), loss_actor, loss_alpha

    @torch.no_grad()
    def _box_gradients(self, batch: TransitionBatch, reward_fn: RewardFunction | None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The losses of :meth:`losses` (Box actions), their gradient written into the
        flat gradient by hand (:func:`irl.solvers.sac.gradients.box_sac_gradients`); the same noise draws."""
        n, d = batch.act.shape
        if self.absorbing:
            reward, obs, next_obs, flags = self._absorbing_inputs(batch, reward_fn)
            kept = int((flags[0] < 0.5).sum())
        else:
            reward = batch.env_reward if reward_fn is None else self.relabel(batch, reward_fn)
            obs, next_obs, flags, kept = self.policy.features(batch.obs), self.policy.features(batch.next_obs), None, n
        noise = torch.cat([torch.randn((rows, d), device=self.device, generator=self.generator) for rows in (n, kept)])
        return box_sac_gradients(self._actor_frozen, self._critic_frozen, self._target_layers, obs, batch.act, reward,
                                 next_obs, batch.terminated, noise, self.log_alpha.detach(), gamma=self.config.gamma,
                                 target_entropy=self.target_entropy, grads=self._grads, absorbing=flags)

    def _absorbing_inputs(self, batch: TransitionBatch, reward_fn: RewardFunction | None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """With an absorbing state: the rewards ``(N,)`` (``reward_fn.absorbing_reward`` on absorbing rows),
        the network inputs of s and s' ``(N, F)`` (0 on absorbing rows) and their flags ``(N, 1)`` (1 = absorbing)."""
        d = self.obs_dim
        flag, next_flag = batch.obs[:, d:], batch.next_obs[:, d:]
        if reward_fn is None:
            reward = batch.env_reward
        else:
            inner = batch._replace(obs=batch.obs[:, :d], next_obs=batch.next_obs[:, :d],
                                   terminated=(next_flag[:, 0] > 0.5).float())
            reward = self.relabel(inner, reward_fn)
            absorbing_reward = float(getattr(reward_fn, "absorbing_reward", 0.0))
            reward = torch.where(flag[:, 0] > 0.5, torch.full_like(reward, absorbing_reward), reward)
        obs = self.policy.features(batch.obs[:, :d]) * (1.0 - flag)
        next_obs = self.policy.features(batch.next_obs[:, :d]) * (1.0 - next_flag)
        return reward, obs, next_obs, (flag, next_flag)

    def _absorbing_losses(self, batch: TransitionBatch, reward_fn: RewardFunction | None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`losses` with an absorbing state (``config.absorbing``): rows whose last observation column
        is 1 are absorbing. The critics see that column; the absorbing state's value is
        ``Q(absorbing, 0)``, learned from ``reward_fn.absorbing_reward`` with no entropy bonus; the actor
        and the temperature ignore absorbing rows (no choice made there matters)."""
        cfg = self.config
        reward, obs, next_obs, (flag, next_flag) = self._absorbing_inputs(batch, reward_fn)
        is_abs, next_abs = flag[:, 0] > 0.5, next_flag[:, 0] > 0.5
        alpha = self.log_alpha.detach().exp()
        absorbing_in = torch.zeros(1, obs.shape[1] + 1, device=self.device)
        absorbing_in[0, -1] = 1.0
        keep = ~is_abs
        if self.discrete:
            x = torch.cat([obs, next_obs])
            n = obs.shape[0]
            probs, log_probs = self.policy.distribution(x, self._actor_layers)
            with torch.no_grad():
                next_q = torch.amin(self.critic_target(torch.cat([next_obs, next_flag], 1), self._target_layers), 0)
                next_v = policy_soft_value(next_q, probs[n:], log_probs[n:], alpha)
                abs_v = torch.amin(self.critic_target(absorbing_in, self._target_layers), 0)[0, 0]
                target = soft_target(reward, torch.where(next_abs, abs_v, next_v), batch.terminated, cfg.gamma)
            q_all = self.critic(torch.cat([obs, flag], 1), self._critic_layers)
            q = q_all.gather(2, batch.act.long().expand(q_all.shape[0], n, 1)).squeeze(-1)
            loss_actor = discrete_actor_loss(probs[:n][keep], log_probs[:n][keep], q_all[:, keep], alpha)
            entropy_term = (probs[:n] * log_probs[:n]).sum(-1)[keep]
        else:
            zero_a = torch.zeros(1, self.policy.act_dim, device=self.device)
            with torch.no_grad():
                next_a, next_log_prob = self.policy.rsample(next_obs, self.generator, self._actor_layers)
                next_in = torch.cat([next_obs, next_flag, next_a], 1)
                next_q = self.critic_target(next_in, self._target_layers).squeeze(-1)
                next_v = torch.addcmul(torch.amin(next_q, 0), alpha, next_log_prob, value=-1.0)
                abs_in = torch.cat([absorbing_in, zero_a], 1)
                abs_v = torch.amin(self.critic_target(abs_in, self._target_layers), 0)[0, 0]
                target = soft_target(reward, torch.where(next_abs, abs_v, next_v), batch.terminated, cfg.gamma)
            a, log_prob = self.policy.rsample(obs[keep], self.generator, self._actor_layers)
            q = self.critic(torch.cat([obs, flag, batch.act], 1), self._critic_layers).squeeze(-1)
            q_pi = self.critic(torch.cat([obs[keep], flag[keep], a], 1), self._critic_frozen).squeeze(-1)
            loss_actor = actor_loss(log_prob, q_pi, alpha)
            entropy_term = log_prob
        loss_alpha = (temperature_loss(self.log_alpha, entropy_term, self.target_entropy)
                      if cfg.autotune_temperature else torch.zeros((), device=self.device))
        return critic_loss(q, target), loss_actor, loss_alpha

    def gradient_step(self, reward_fn: RewardFunction | None = None) -> None:
        """One gradient step on a fresh batch, then the target critics move (Polyak)."""
        batch = self.buffer.sample(self.config.batch_size)
        if self._by_hand:
            loss_critic, loss_actor, _ = self._box_gradients(batch, reward_fn)
        else:
            loss_critic, loss_actor, loss_alpha = self.losses(batch, reward_fn)
            self._flat_grad.zero_()
            (loss_critic + loss_actor + loss_alpha).backward()
        self.updates += 1
        adam_step(self._flat, self._flat_grad, self._exp_avg, self._exp_avg_sq, step=self.updates, lr=self._lr)
        self._target_flat.lerp_(self._critic_flat, self.config.tau)
        self.last_losses = (loss_critic.detach(), loss_actor.detach(), self.log_alpha.detach())

    # -- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The agent as a checkpoint state: the flat parameters and Adam moments, the target critics,
        ``log α``, the counters, the RNGs, the replay buffer and the env stepper (not the episode log,
        which its owner saves); tensors are copies."""
        return {"flat": self._flat.clone(), "exp_avg": self._exp_avg.clone(), "exp_avg_sq": self._exp_avg_sq.clone(),
                "target_flat": self._target_flat.clone(), "log_alpha": self.log_alpha.detach().clone(),
                "updates": self.updates, "pending": self.pending, "generator": rng_state(self.generator),
                "rng": rng_state(self.rng), "buffer": self.buffer.state_dict(), "stepper": self.stepper.state_dict(),
                "demos_without_rewards": self.demos_without_rewards,
                "last_losses": None if self.last_losses is None else list(self.last_losses)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues from a :meth:`state_dict` of an agent built the same way. Tensors are copied in place,
        so every parameter stays a view of the flat tensors; the stepper replays its episode in progress."""
        with torch.no_grad():
            for name in ("_flat", "_exp_avg", "_exp_avg_sq", "_target_flat"):
                getattr(self, name).copy_(state[name.lstrip("_")])
            self.log_alpha.copy_(state["log_alpha"])
        self.updates, self.pending = int(state["updates"]), int(state["pending"])
        set_rng_state(self.generator, state["generator"])
        set_rng_state(self.rng, state["rng"])
        self.buffer.load_state_dict(state["buffer"])
        self.stepper.load_state_dict(state["stepper"])
        self.demos_without_rewards = bool(state["demos_without_rewards"])
        losses = state["last_losses"]
        self.last_losses = None if losses is None else tuple(t.to(self.device) for t in losses)

    def stats(self) -> dict[str, float]:
        """The latest update's critic loss, actor loss and temperature α (empty before the first update)."""
        if self.last_losses is None:
            return {}
        critic, actor, log_alpha = (float(t) for t in self.last_losses)
        return {"critic_loss": critic, "actor_loss": actor, "temperature": math.exp(log_alpha)}
