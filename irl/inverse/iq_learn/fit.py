"""IQ-Learn's fit: minibatch Adam on the IQ loss, offline from the demos or online with a replay buffer.

Each gradient step draws ``batch_size`` demo transitions (online: and as many from the replay buffer of the
policy's own transitions) and takes one Adam step of the Q-network (Box actions: of the critics) on
:func:`~irl.inverse.iq_learn.losses.iq_loss`: the value term and the χ² regulariser average over the demos
offline, over demos and policy samples online, where ``V(s')`` comes from a Polyak-averaged target copy of
the Q-network (``target_tau``); offline no target network is needed, as the objective is concave in Q and its
gradient is taken through ``V(s')`` too. With Box actions the actor then takes one Adam step on SAC's
actor loss ``E_s[α log π(ã|s) − min_k Q_k(s, ã)]`` over the same states (:func:`irl.solvers.sac.actor_loss`).
Online, the policy acts in the env (a Boltzmann draw, or an actor draw) and one env step precedes each
``updates_per_step`` gradient steps once ``learning_starts`` steps are stored.

A fit can resume from a :class:`irl.checkpoint.Checkpoint`; one iteration is one log entry (``log_every``
steps of the loop: gradient steps offline, env steps and their gradient steps online).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from gymnasium import spaces

from irl._checks import NonFiniteError
from irl.checkpoint import Checkpoint, rng_state, set_rng_state
from irl.data import Demos, check_in_space
from irl.inverse.common import EnvTask, InverseResult
from irl.inverse.iq_learn.config import IQLearnConfig
from irl.inverse.iq_learn.losses import inverse_soft_bellman, iq_loss, value_gap
from irl.inverse.iq_learn.soft_q import make_soft_q
from irl.inverse.sampling import fit_on_env
from irl.solvers.agent import EnvStepper
from irl.solvers.replay import ReplayBuffer
from irl.solvers.sac.losses import actor_loss
from irl.solvers.soft_bellman import soft_policy
from irl.solvers.spaces import flat_dim, space_spec, writable
from irl.solvers.training import EpisodeLog

__all__ = ["REWARD_LABEL", "IQLearnResult", "fit"]

REWARD_LABEL = "IQ-Learn r = Q(s, a) − γ V(s')"


@dataclass
class IQLearnResult(InverseResult):
    """An :class:`InverseResult` whose ``reward_model`` is the learned soft Q-function itself.

    Fields (besides the inherited ones):
        reward_label: what ``reward_model`` is (:data:`REWARD_LABEL`).
        curve: online: one record per env episode, as ``irl train`` writes them; offline: None.
    """

    reward_label: str = field(kw_only=True)
    curve: list[dict[str, Any]] | None = field(kw_only=True)


class _Batch(NamedTuple):
    """Encoded transitions: ``x``, ``x2`` ``(N, dim)``; ``act`` ``(N,)`` indices or ``(N, act_dim)`` in [-1, 1];
    ``terminated`` ``(N,)`` 0/1."""

    x: torch.Tensor
    act: torch.Tensor
    x2: torch.Tensor
    terminated: torch.Tensor


def fit(task: EnvTask, demos: Demos, *, config: IQLearnConfig | None = None,
        callback: Callable[[dict[str, Any]], Any] | None = None, checkpoint: Checkpoint | None = None
        ) -> IQLearnResult:
    """Returns the soft Q-function IQ-Learn fits to ``demos`` on ``task``'s env, as policy and reward.

    Args:
        task: the env (offline it only sizes the networks; online the policy acts in it).
        demos: the demonstrations, in the env's spaces (Discrete or Box observations; Discrete or bounded Box
            actions).
        config: the settings (default :class:`IQLearnConfig()`).
        callback: called with each log entry (every ``log_every`` steps): ``iteration`` (steps so far),
            ``loss``, ``q_demo``, ``v_demo`` and ``reward_demo`` (means over the demo minibatches), ``chi2``;
            Box actions add ``actor_loss``; online adds ``env_steps``, ``updates``, ``reward_policy`` and
            ``mean_return`` (the env's reward over the episodes finished since the last entry; None if none).
        checkpoint: resume from its restored state, and save the state after a log entry when due
            (:mod:`irl.checkpoint`): the networks, the optimisers, the draws, the sums since the last entry, the
            log; online also the env's episode, the episode log and the replay buffer.

    Raises ``NonFiniteError`` when the loss becomes NaN or infinite.
    """
    cfg = IQLearnConfig() if config is None else config
    return fit_on_env(task, "iq-learn", cfg.cpu_threads,
                      lambda env, start: _fit(env, demos, cfg, callback, start, checkpoint))


def _fit(env: Any, demos: Demos, cfg: IQLearnConfig, callback: Callable[[dict[str, Any]], Any] | None,
         start: float, checkpoint: Checkpoint | None = None) -> IQLearnResult:
    observation, action = space_spec(env.observation_space), space_spec(env.action_space, bounds=True)
    for key, space in (("observations", env.observation_space), ("next_observations", env.observation_space),
                       ("actions", env.action_space)):
        check_in_space(key, np.asarray(getattr(demos, key)), space)
    model = make_soft_q(observation, action, hidden=cfg.hidden, gamma=cfg.gamma, temperature=cfg.temperature,
                        n_critics=cfg.n_critics, value_samples=cfg.value_samples, seed=cfg.seed).to(cfg.device)
    box = isinstance(env.action_space, spaces.Box)
    critic_params = list(model.q_network.parameters())
    target = copy.deepcopy(model.q_network).requires_grad_(False) if cfg.online and cfg.target_tau else None
    optimizer = torch.optim.Adam(critic_params, lr=cfg.learning_rate)
    actor_optimizer = torch.optim.Adam(model.actor.parameters(), lr=cfg.actor_lr) if box else None
    draws = torch.Generator(device=cfg.device).manual_seed(cfg.seed)  # minibatches, actor and Boltzmann draws
    expert = _encode(model, demos.observations, demos.actions, demos.next_observations, demos.terminals, box)

    stepper = buffer = episodes = None
    if cfg.online:
        episodes = EpisodeLog(None, None, False, desc="iq-learn")
        stepper = EnvStepper(env, seed=cfg.seed, log=episodes)
        act_dim = model.actor.act_dim if box else 1
        buffer = ReplayBuffer(min(cfg.buffer_size, cfg.steps), flat_dim(env.observation_space), act_dim, cfg.device,
                              torch.Generator(device=cfg.device).manual_seed(cfg.seed + 1))

    log: list[dict[str, Any]] = []
    keys = ["loss", "chi2", "q_demo", "v_demo", "reward_demo"] + (["reward_policy"] if cfg.online else []) \
        + (["actor_loss"] if box else [])
    sums: dict[str, float] = {}
    updates = finished = done = 0
    modules = {"model": model, "target": target, "optimizer": optimizer, "actor_optimizer": actor_optimizer,
               "stepper": stepper, "episodes": episodes, "buffer": buffer}
    restored = checkpoint.restored if checkpoint is not None else None
    if restored is not None:
        for name, module in modules.items():
            if module is not None:
                # a copy: an optimiser would update the tensors it is given in place
                module.load_state_dict(copy.deepcopy(restored[name]) if "optimizer" in name else restored[name])
        set_rng_state(draws, restored["draws"])
        if buffer is not None:
            set_rng_state(buffer.generator, restored["buffer_draws"])
        done, sums, updates, finished = restored["step"], dict(restored["sums"]), restored["updates"], \
            restored["finished"]
        log = [dict(entry) for entry in restored["log"]]
        start = time.perf_counter() - restored["seconds"]
    for step in range(done + 1, cfg.steps + 1):
        if cfg.online:
            _act_and_store(model, stepper, buffer, draws, box)
            n_updates = cfg.updates_per_step if len(buffer) >= max(cfg.learning_starts, 1) else 0
        else:
            n_updates = 1
        for _ in range(n_updates):
            policy_batch = _from_buffer(model, buffer.sample(cfg.batch_size), env.observation_space, box) \
                if cfg.online else None
            stats = _update(model, target, optimizer, actor_optimizer, _draw(expert, cfg.batch_size, draws),
                            policy_batch, cfg, draws, iteration=step)
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + value
            updates += 1
        if step % cfg.log_every == 0 or step == cfg.steps:
            count = sums.get("count", 0.0)  # gradient steps since the last entry (online: none before learning_starts)
            entry: dict[str, Any] = {"iteration": step, **{k: sums[k] / count if count else None for k in keys}}
            sums = {}
            if cfg.online:
                returns = [r["true_return"] for r in episodes.curve[finished:]]
                finished = len(episodes.curve)
                entry.update(env_steps=step, updates=updates,
                             mean_return=float(np.mean(returns)) if returns else None)
            log.append(entry)
            if callback is not None:
                callback(entry)
            if checkpoint is not None and checkpoint.due(len(log)):  # one iteration: one log entry
                checkpoint.save(len(log), {
                    **{name: module.state_dict() for name, module in modules.items() if module is not None},
                    "draws": rng_state(draws), "step": step, "sums": sums, "updates": updates, "finished": finished,
                    "log": log, "seconds": time.perf_counter() - start,
                    **({"buffer_draws": rng_state(buffer.generator)} if buffer is not None else {})})

    reward_model = copy.deepcopy(model).cpu().requires_grad_(False)
    what = (f"{cfg.steps} env steps ({updates} gradient steps)" if cfg.online else f"{updates} gradient steps")
    return IQLearnResult(
        reward_model=reward_model, policy=reward_model.policy, log=log, converged=False, iterations=cfg.steps,
        seconds=time.perf_counter() - start, stop_reason="max_steps",
        stop_message=f"ran its {what} (IQ-Learn has no convergence test; raise steps to train longer)",
        config=cfg, reward_label=REWARD_LABEL, curve=episodes.curve if episodes is not None else None)


def _update(model: Any, target: torch.nn.Module | None, optimizer: torch.optim.Optimizer,
            actor_optimizer: torch.optim.Optimizer | None, demo: _Batch, policy: _Batch | None, cfg: IQLearnConfig,
            draws: torch.Generator, *, iteration: int) -> dict[str, float]:
    """One Adam step of the Q-function on the IQ loss (``V(s')`` from ``target`` when given, which then moves
    towards the Q-network), and of the actor on its own loss; returns the step's statistics (``count`` 1)."""
    n = demo.x.shape[0]
    batch = demo if policy is None else _Batch(*(torch.cat([a, b]) for a, b in zip(demo, policy, strict=True)))
    q, v, v2 = model.evaluate(batch.x, batch.act, batch.x2, draws)
    if target is not None:
        with torch.no_grad():
            v2 = model.sampled_value(batch.x2, draws, target)
    reward = inverse_soft_bellman(q, v2, batch.terminated, cfg.gamma)
    loss = iq_loss(reward[..., :n], value_gap(v, v2, batch.terminated, cfg.gamma), reward, cfg.chi2_weight)
    if not torch.isfinite(loss.total):
        raise NonFiniteError(f"iq-learn: the IQ loss is not finite at step {iteration}; lower learning_rate or "
                             "temperature, or set a smaller chi2_weight")
    optimizer.zero_grad(set_to_none=True)
    loss.total.backward()
    optimizer.step()
    if target is not None:
        with torch.no_grad():
            for t, p in zip(target.parameters(), model.q_network.parameters(), strict=True):
                t.lerp_(p, cfg.target_tau)
    stats = {"count": 1.0, "loss": loss.total.item(), "chi2": loss.chi2.item(), "q_demo": q[..., :n].mean().item(),
             "v_demo": v[:n].mean().item(), "reward_demo": reward[..., :n].mean().item()}
    if policy is not None:
        stats["reward_policy"] = reward[..., n:].mean().item()
    if actor_optimizer is not None:
        draws_, log_prob = model.actor.rsample(batch.x, draws)
        alpha = torch.tensor(model.temperature, device=log_prob.device)  # a float α fails in addcmul on CUDA
        a_loss = actor_loss(log_prob, model.critics(batch.x, draws_), alpha)
        if not torch.isfinite(a_loss):
            raise NonFiniteError(f"iq-learn: the actor's loss is not finite at step {iteration}; lower actor_lr")
        actor_optimizer.zero_grad(set_to_none=True)
        a_loss.backward()
        actor_optimizer.step()
        stats["actor_loss"] = a_loss.item()
    return stats


def _encode(model: Any, obs: Any, act: Any, next_obs: Any, terminated: Any, box: bool) -> _Batch:
    """Env-form transitions as an encoded :class:`_Batch` on the model's device."""
    if box:
        a = model.unit_actions(act)
    else:
        a = torch.as_tensor(writable(np.asarray(act))).reshape(-1).to(device=model.device, dtype=torch.int64)
    done = torch.as_tensor(np.asarray(terminated, dtype=np.float32)).to(model.device)
    return _Batch(model.inputs(np.asarray(obs)), a, model.inputs(np.asarray(next_obs)), done)


def _draw(data: _Batch, size: int, draws: torch.Generator) -> _Batch:
    """``size`` rows of ``data`` drawn uniformly with replacement."""
    idx = torch.randint(data.x.shape[0], (size,), device=data.x.device, generator=draws)
    return _Batch(*(t[idx] for t in data))


def _from_buffer(model: Any, rows: Any, observation_space: spaces.Space, box: bool) -> _Batch:
    """A replay batch (flat observations, actions as stored: indices or in [-1, 1]) as an encoded :class:`_Batch`."""
    def env_form(flat: torch.Tensor) -> torch.Tensor:
        if isinstance(observation_space, spaces.Discrete):
            return flat[:, 0].long()
        return flat.reshape(-1, *observation_space.shape)

    act = rows.act if box else rows.act[:, 0].long()
    return _Batch(model.inputs(env_form(rows.obs)), act, model.inputs(env_form(rows.next_obs)), rows.terminated)


@torch.no_grad()
def _act_and_store(model: Any, stepper: EnvStepper, buffer: ReplayBuffer, draws: torch.Generator, box: bool) -> None:
    """One env step with a draw of the current policy; the transition goes to the buffer (observations flat)."""
    obs = np.asarray(stepper.obs)
    x = model.inputs(obs[None])
    if box:
        unit, _ = model.actor.rsample(x, draws)
        stored, env_action = unit[0], model.actor.to_env(unit)[0].reshape(model.actor.act_shape)
    else:
        probs = soft_policy(model.q.net(x), model.temperature)
        a = torch.multinomial(probs, 1, generator=draws)[0, 0]
        stored, env_action = a.reshape(1).float(), int(a)
    next_obs, _, terminated, _ = stepper.step(env_action.cpu().numpy() if box else env_action)
    buffer.add(np.ravel(obs), stored.cpu().numpy(), 0.0, np.ravel(next_obs), terminated)
