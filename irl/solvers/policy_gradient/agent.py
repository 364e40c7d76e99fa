"""Policy gradient as a generator: :class:`PGAgent` collects a rollout and updates on it.

With ``n_envs`` > 1 the rollout comes from that many copies of the env stepped together
(:mod:`irl.solvers.vector`); each copy's steps form one stream whose GAE sum stops where the
rollout cuts it (and bootstraps there, as at any cut that is not a termination).

Each update: GAE advantages of the *soft* reward ``r + α H(π(·|s))`` (so an action is also
credited with the entropy of the states it leads to), then ``epochs`` passes of minibatch
steps on the (PPO-clipped) surrogate, the entropy bonus, the critic's squared error and the
demonstration terms the config switches on (see :mod:`irl.solvers.policy_gradient`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import fields
from typing import Any

import gymnasium
import numpy as np
import torch
from torch import nn

from irl.checkpoint import rng_state, set_rng_state
from irl.solvers.agent import EnvStepper, RewardFunction, SteppingAgent, Transitions
from irl.solvers.policy_gradient.config import PGConfig
from irl.solvers.policy_gradient.demos import DemoBatch, behavior_clone
from irl.solvers.policy_gradient.losses import gae_advantages, per_decision_weights, policy_gradient_loss
from irl.solvers.policy_gradient.policy import ActorCriticPolicy
from irl.solvers.spaces import SetupError, space_spec
from irl.solvers.vector import VectorEnvStepper

__all__ = ["PGAgent"]


class PGAgent(SteppingAgent):
    """The actor-critic, its optimizer, the last rollout, the demonstrations and the env.

    Args:
        env: a gymnasium env with Discrete or Box spaces (with ``config.n_envs`` > 1 it is copied and
            the copies are stepped; the env itself is not).
        config: the settings.
        seed: initial weights, action draws, minibatch orders and the first env reset (copy ``i``: seed + i).
        log: an :class:`irl.solvers.training.EpisodeLog` to report episodes to, or None.

    A generator (:mod:`irl.solvers.agent`): ``collect(n)`` takes a rollout of n steps (it replaces
    the last one), ``update(reward_fn)`` learns from it; ``add_demos`` must come before the first
    collect when the config's demonstration terms are on (it runs the behaviour cloning they need).
    ``close()`` closes the env copies of ``n_envs`` > 1.
    """

    def __init__(self, env: gymnasium.Env, config: PGConfig, *, seed: int = 0, log: Any = None) -> None:
        self.env, self.config = env, config
        self.policy = ActorCriticPolicy(space_spec(env.observation_space), space_spec(env.action_space, bounds=True),
                                        config.hidden, config.init_log_std, seed)
        self.rng = np.random.default_rng(seed)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate)
        self.updates = 0
        self.demo: DemoBatch | None = None
        self.behavior: ActorCriticPolicy | None = None
        self.info: dict[str, Any] = {}
        self.rollout: Transitions | None = None
        self._entropies = np.zeros(0, dtype=np.float32)
        self._chain_ends = np.zeros(0, dtype=bool)
        if not self.policy.discrete:
            self._low = self.policy.low.numpy().reshape(self.policy.act_shape)
            self._high = self.policy.high.numpy().reshape(self.policy.act_shape)
        if config.n_envs == 1:
            self.stepper: EnvStepper | VectorEnvStepper = EnvStepper(env, seed, config.max_episode_steps, log,
                                                                      extras=self._episode_extras)
        else:
            self.stepper = VectorEnvStepper(env, config.n_envs, seed, config.vector_env, config.max_episode_steps,
                                            log, extras=self._episode_extras)

    def _episode_extras(self) -> dict[str, Any]:
        return {"update": self.updates}

    def add_demos(self, transitions: Transitions) -> None:
        """Keeps the demos for the demo terms; runs the behaviour-cloning warm start and fits the behaviour
        model of the importance weights when the config asks for them."""
        cfg = self.config
        self.demo = DemoBatch(transitions, self.policy)
        if cfg.bc_warmstart_steps > 0:
            self.info["bc_losses"] = behavior_clone(self.policy, self.demo, cfg.bc_warmstart_steps,
                                                    cfg.bc_learning_rate, cfg.bc_batch_size, self.rng)
        if cfg.demo_is and cfg.demo_behavior == "bc":
            self.behavior = copy.deepcopy(self.policy)
            if cfg.bc_warmstart_steps < cfg.bc_steps:
                behavior_clone(self.behavior, self.demo, cfg.bc_steps - cfg.bc_warmstart_steps,
                               cfg.bc_learning_rate, cfg.bc_batch_size, self.rng)
            self.behavior.requires_grad_(False)

    def collect(self, n_steps: int) -> Transitions:
        """Takes a rollout of ``n_steps`` env steps (fewer if the episode log asks to stop) and keeps it.

        With ``n_envs`` copies each takes ⌈n_steps / n_envs⌉ steps (so up to ``n_envs - 1`` more than
        asked); the rows are copy by copy, each copy's in time order (:meth:`Transitions.blocks`).
        """
        draw, one = _Drawer(self.policy, self.rng), self.n_envs == 1
        rows: dict[str, list] = {k: [] for k in ("obs", "act", "next", "term", "ended", "logp", "rew", "ent")}
        for _ in range(math.ceil(n_steps / self.n_envs)):
            obs = self.stepper.obs
            action, log_prob, entropy = draw(obs) if one else draw.batch(obs)
            env_act = action if self.policy.discrete else np.clip(action, self._low, self._high)
            step = self.stepper.step(env_act)
            values = (obs, action, *step, log_prob, entropy)
            for key, value in zip(("obs", "act", "next", "rew", "term", "ended", "logp", "ent"), values):
                rows[key].append(np.asarray(value)[None] if one else value)  # one env: a batch of one
            if self.stepper.stopped:
                break

        def flat(key: str, dtype: Any = None) -> np.ndarray:
            """``(T, E, ...)`` rows to ``(E·T, ...)``, copy by copy."""
            x = np.stack(rows[key]).swapaxes(0, 1)
            return np.ascontiguousarray(x.reshape(-1, *x.shape[2:]), dtype=dtype)

        ended = np.stack(rows["ended"]).astype(bool)
        terminated = np.stack(rows["term"]).astype(bool)
        chain_ends = ended.copy()
        chain_ends[-1] = True  # the rollout cuts every copy's stream
        self.rollout = Transitions(flat("obs"), flat("act"), flat("next"), terminated.T.reshape(-1),
                                   (ended & ~terminated).T.reshape(-1), flat("logp", np.float32), flat("rew"))
        self._entropies = flat("ent", np.float32)
        self._chain_ends = chain_ends.T.reshape(-1)
        return self.rollout

    def close(self) -> None:
        """Closes the env copies (``n_envs`` > 1); the env given to the agent is its owner's to close."""
        if isinstance(self.stepper, VectorEnvStepper):
            self.stepper.close()

    def update(self, reward_fn: RewardFunction | None = None) -> dict[str, float]:
        """One update from the last rollout: ``epochs`` passes of minibatch gradient steps."""
        if self.rollout is None or len(self.rollout) == 0:
            raise RuntimeError("collect a rollout before update")
        cfg, policy, roll = self.config, self.policy, self.rollout
        if (cfg.demo_is or cfg.demo_bc_coef > 0 or cfg.bc_warmstart_steps > 0) and self.demo is None:
            raise SetupError("the demo terms (demo_is, demo_bc_coef, bc_warmstart_steps) need demos: add_demos first")
        steps = len(roll)
        x, _ = policy.encoder.encode(roll.observations)
        next_x, _ = policy.encoder.encode(roll.next_observations)
        actions = torch.as_tensor(roll.actions)
        terminated, chain_ends = torch.as_tensor(roll.terminated), torch.as_tensor(self._chain_ends)
        rewards = _rewards(roll, reward_fn)
        adv, returns = self._soft_advantages(x, next_x, rewards, torch.as_tensor(self._entropies), terminated,
                                             chain_ends)
        old_log_probs = torch.as_tensor(roll.log_probs)

        demo, demo_adv, demo_w = self.demo, None, None
        if cfg.demo_is:
            with torch.no_grad():
                dist = policy.distribution(demo.x)
                log_pi = policy.dist_log_prob(dist, demo.actions)
                log_q = (self.behavior.dist_log_prob(self.behavior.distribution(demo.x), demo.actions)
                         if self.behavior is not None else torch.zeros_like(log_pi))
                demo_w = per_decision_weights(log_pi, log_q, demo.episode_starts, cfg.demo_is_clip)
            demo_adv, _ = self._soft_advantages(demo.x, demo.next_x, _rewards(demo.transitions, reward_fn),
                                                policy.entropy(dist).detach(), demo.terminated, demo.chain_ends)
        if cfg.normalize_advantages:
            # one scale for on-policy and demo advantages, so neither term drowns the other
            both = adv if demo_adv is None else torch.cat([adv, demo_adv])
            mean, std = both.mean(), both.std() if both.numel() > 1 else both.new_ones(())
            adv = (adv - mean) / (std + 1e-8)
            if demo_adv is not None:
                demo_adv = (demo_adv - mean) / (std + 1e-8)
        bc_weight = cfg.demo_bc_coef * cfg.demo_bc_decay ** self.updates

        mb = cfg.minibatch_size or steps
        for _ in range(cfg.epochs):
            order = torch.as_tensor(self.rng.permutation(steps))
            for start in range(0, steps, mb):
                i = order[start:start + mb]
                dist = policy.distribution(x[i])
                loss = policy_gradient_loss(policy.dist_log_prob(dist, actions[i]), adv[i], old_log_probs[i],
                                            cfg.clip_range)
                loss = loss - cfg.temperature * policy.entropy(dist).mean()
                loss = loss + cfg.value_coef * (policy.value(x[i]) - returns[i]).pow(2).mean()
                if demo is not None and (cfg.demo_is or bc_weight > 0):
                    demo_log_prob = policy.dist_log_prob(policy.distribution(demo.x), demo.actions)
                    if cfg.demo_is:
                        loss = loss + cfg.demo_is_coef * policy_gradient_loss(demo_log_prob, demo_adv, weights=demo_w)
                    if bc_weight > 0:
                        loss = loss - bc_weight * demo_log_prob.mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
        self.updates += 1
        return {"update": self.updates}

    # -- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The agent as a checkpoint state: the policy's weights, the optimiser, the update count, the RNGs,
        the last rollout and the env stepper (not the episode log, which its owner saves; nor the demos and
        the behaviour model, which ``add_demos`` rebuilds); tensors are copies."""
        roll = self.rollout
        return {"policy": {k: v.clone() for k, v in self.policy.state_dict().items()},
                "optimizer": copy.deepcopy(self.optimizer.state_dict()), "updates": self.updates,
                "rng": rng_state(self.rng), "generator": rng_state(self.policy.generator),
                "rollout": None if roll is None else {f.name: getattr(roll, f.name) for f in fields(roll)},
                "entropies": self._entropies, "chain_ends": self._chain_ends, "stepper": self.stepper.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues from a :meth:`state_dict` of an agent built the same way (and given the same demos). One
        env: its episode in progress is replayed; ``n_envs`` > 1: every copy starts a fresh episode
        (:class:`irl.solvers.vector.VectorEnvStepper`), so that resume is not bit-identical."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))  # Adam would step the given tensors
        self.updates = int(state["updates"])
        set_rng_state(self.rng, state["rng"])
        set_rng_state(self.policy.generator, state["generator"])
        roll = state["rollout"]
        self.rollout = None if roll is None else Transitions(**roll)
        self._entropies = np.asarray(state["entropies"], dtype=np.float32)
        self._chain_ends = np.asarray(state["chain_ends"], dtype=bool)
        self.stepper.load_state_dict(state["stepper"])

    def export_policy(self) -> ActorCriticPolicy:
        """The policy itself (its weights change with further updates)."""
        return self.policy

    def _soft_advantages(self, x: torch.Tensor, next_x: torch.Tensor, rewards: torch.Tensor, entropies: torch.Tensor,
                         terminated: torch.Tensor, chain_ends: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(advantages, value targets)`` of the soft reward ``r + α H`` (no gradient)."""
        cfg = self.config
        with torch.no_grad():
            values, next_values = self.policy.value(x), self.policy.value(next_x)
            adv = gae_advantages(rewards + cfg.temperature * entropies, values, next_values, terminated, chain_ends,
                                 cfg.gamma, cfg.gae_lambda)
        return adv, adv + values


def _rewards(transitions: Transitions, reward_fn: RewardFunction | None) -> torch.Tensor:
    """``(N,)`` float32 rewards to learn from: ``reward_fn``'s, or the env's own."""
    if reward_fn is None:
        if np.isnan(transitions.env_rewards).any():
            raise SetupError("demo_is needs demo rewards: pass a reward function or demos with rewards")
        return torch.as_tensor(transitions.env_rewards, dtype=torch.float32)
    batch = (torch.as_tensor(x) for x in (transitions.observations, transitions.actions,
                                          transitions.next_observations, transitions.terminated))
    return reward_fn(*batch).detach().to("cpu", torch.float32).reshape(-1)


class _Drawer:
    """Draws the training actions of a rollout (per env step, or per step of all envs with :meth:`batch`),
    with the actor copied to numpy for the rollout.

    The weights do not change during a rollout, and on tiny inputs a numpy matmul costs a
    fraction of a torch call (``experiments/bench_solver_internals.py``). Returns
    ``(action, log π(a|s), H(π(·|s)))`` (float64 math); tested against the torch actor.
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

    def batch(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(actions (E, *act_shape), log π (E,), H (E,))`` for observations ``(E, *obs_shape)``: the draws
        that E calls of the one-observation form make, from the same random numbers in the same order."""
        w0, b0 = self.layers[0]
        n = len(obs)
        if self.policy.encoder.discrete:
            h = self.first_t[np.asarray(obs, dtype=np.int64).reshape(n)] + b0
        else:
            h = np.asarray(obs, dtype=np.float64).reshape(n, -1) @ w0.T + b0
        for w, b in self.layers[1:]:
            h = np.tanh(h) @ w.T + b
        if self.policy.discrete:
            z = h - h.max(1, keepdims=True)
            p = np.exp(z)
            total = p.sum(1, keepdims=True)
            log_p = z - np.log(total)
            p /= total
            # searchsorted(cumsum, u, side="right") row by row: the count of partial sums <= u
            u = self.rng.random(n)[:, None]
            a = np.minimum((np.cumsum(p, 1) <= u).sum(1), p.shape[1] - 1)
            return a, log_p[np.arange(n), a], -(p * log_p).sum(1)
        noise = self.rng.standard_normal(h.shape)
        a = h + self.std * noise
        return (a.reshape(n, *self.policy.act_shape), -0.5 * (noise**2).sum(1) - self.log_norm,
                np.full(n, self.entropy))

