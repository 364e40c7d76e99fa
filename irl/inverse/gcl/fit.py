"""Guided cost learning (Finn, Levine & Abbeel 2016) and its GAN form (Finn, Christiano, Abbeel &
Levine 2016) on a generator (SAC or policy gradient).

Trajectory-level MaxEnt IRL: ``p(τ) ∝ exp r(τ)`` over the env's trajectories, ``r(τ) = Σ_t r_θ(s_t, a_t)``.
Its log-likelihood gradient needs ``E_p[∇r]``; GCL estimates it by importance sampling from the
generator's own trajectories. Each round:

1. the generator collects ``round_steps`` env steps; its complete episodes join a background pool
   of the last ``policy_window`` rounds, each with a frozen copy of the policy that drew it;
2. the reward takes ``reward_updates`` Adam steps on minibatches of demo and background
   trajectories:

   - "gcl": the loss ``− mean_demo r(τ) + logsumexp_j (r(τ_j) − log q(τ_j))`` whose gradient is
     ``E_demo[∇r] − Σ_j w̄_j ∇r(τ_j)``, ``w̄`` the self-normalised weights
     (:func:`~irl.inverse.gcl.weights.trajectory_log_weights`) and ``q`` the fused density of every
     policy in the window (:func:`~irl.inverse.gcl.weights.fused_log_density`). With
     ``demos_in_background`` the demo minibatch is in the background too, its density taken as the
     same fused density, so the objective stays bounded below;
   - "gan-gcl": the logistic loss of the trajectory discriminator ``D = exp(r − log Z) / (exp(r − log Z) + q)``
     (demos 1, samples 0) with ``log Z`` learned alongside — AIRL's discriminator
     (:func:`~irl.inverse.adversarial.rewards.airl_logit`) on whole trajectories;

3. the generator improves on ``r_θ`` (its own entropy setting by default; at temperature 1, MaxEnt's
   own policy model, with ``soft_generator``): the importance weights correct for whichever sampler.

The effective sample size of the weights is logged every round. The recovered reward is the tail
average of ``r_θ``'s weights (as for AIRL). Trajectories are complete episodes; SAC's first
``learning_starts`` steps (uniform random actions) are not used as samples.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from irl._checks import NonFiniteError
from irl.checkpoint import Checkpoint, global_rng_state, rng_state, set_global_rng_state, set_rng_state
from irl.inverse.adversarial.discriminators import reward_net, to_model
from irl.inverse.adversarial.losses import discriminator_loss
from irl.inverse.adversarial.rewards import airl_logit
from irl.inverse.common import EnvTask, InverseResult
from irl.inverse.gcl.weights import (
    effective_sample_size,
    episode_sums,
    fused_log_density,
    tempered_log_weights,
    trajectory_log_weights,
)
from irl.inverse.sampling import (
    TailAverage,
    check_sampled_settings,
    cloning_actions,
    fit_on_env,
    make_generator,
    positive_widths,
    transitions_from_state,
    transitions_state,
)
from irl.rewards import RewardFn
from irl.solvers.agent import Transitions
from irl.solvers.cloning import clone_behavior
from irl.solvers.training import EpisodeLog

__all__ = ["GCLConfig", "GCLResult", "METHODS", "fit"]

METHODS = ("gcl", "gan-gcl")


@dataclass(frozen=True)
class GCLConfig:
    """Settings of guided cost learning; ``irl fit --algo gcl | gan-gcl`` sets ``method``."""

    method: str = "gcl"
    """"gcl" (importance-weighted MaxEnt gradient) or "gan-gcl" (the trajectory discriminator)."""
    generator: str = "sac"
    """the forward solver: "sac" or "pg" (``irl fit --generator``)."""
    steps: int = 20_000
    """env steps of the generator in all (``irl fit --steps``)."""
    round_steps: int = 1000
    """env steps collected per round (for "pg" also its rollout length)."""
    reward_updates: int = 20
    """Adam steps of the reward per round."""
    reward_lr: float = 1e-3
    """Adam learning rate of the reward."""
    reward_hidden: tuple[int, ...] = (64, 64)
    """hidden widths of the reward network."""
    weight_decay: float = 1e-4
    """L2 penalty on the reward network's weights (Adam's weight_decay)."""
    soft_generator: bool = False
    """the generator maximises r_θ plus entropy at temperature exactly 1 (MaxEnt's own policy); False: its
    own temperature (SAC tunes it), a sharper sampler: the weights correct for any sampler."""
    state_only: bool = True
    """a state-only reward r(s) rather than r(s, a)."""
    demo_batch: int = 16
    """demo trajectories per reward step (all of them when there are fewer)."""
    sample_batch: int = 32
    """background trajectories per reward step (all of the pool when it holds fewer)."""
    policy_window: int = 5
    """rounds whose trajectories and policies form the background pool and its fused density."""
    min_ess_share: float | None = None
    """"gcl": temper the importance weights (``w^β``, the largest ``β ≤ 1`` that keeps an effective sample
    size of this share of the batch; :func:`~irl.inverse.gcl.weights.tempered_log_weights`): a biased but far
    less noisy gradient when a few trajectories would carry all the weight. None: the weights unchanged."""
    segment_steps: int | None = None
    """cut every trajectory (demos and samples) into pieces of this many steps (the last piece of an episode
    may be shorter) and treat each piece as a trajectory; None: whole episodes. The log-weights' spread grows
    with a trajectory's length, so on long episodes (Pendulum's 200 steps) a few samples carry all the
    weight; pieces keep the effective sample size up at the price of a bias: a piece's MaxEnt density
    ``exp r(piece)`` ignores what follows it."""
    demos_in_background: bool = True
    """"gcl": the demo minibatch is in the background batch too, the demos' density fitted by behaviour
    cloning and mixed into the fused density (keeps the objective bounded)."""
    bc_steps: int = 2000
    """behaviour-cloning steps of the demos' density (``demos_in_background``)."""
    average_from: float = 0.5
    """the recovered reward is the mean of its weights over the rounds after this share of all rounds."""
    generator_kwargs: dict[str, Any] = field(default_factory=dict)
    """settings of the generator's config (SACConfig or PGConfig)."""
    seed: int = 0
    """seeds the generator, the reward and the minibatches."""
    device: str = "cpu"
    """torch device of the generator (SAC) and of the reward."""
    cpu_threads: int | None = 1
    """torch CPU threads while fitting (None: leave torch's setting)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        check_sampled_settings(self, ("steps", "round_steps", "reward_updates", "demo_batch", "sample_batch",
                                      "policy_window", "bc_steps"))
        if self.segment_steps is not None and (isinstance(self.segment_steps, bool)
                                               or not isinstance(self.segment_steps, int) or self.segment_steps < 1):
            raise ValueError(f"segment_steps must be an integer >= 1 or None, got {self.segment_steps!r}")
        if self.min_ess_share is not None and not 0.0 < self.min_ess_share <= 1.0:
            raise ValueError(f"min_ess_share must lie in (0, 1] or be None, got {self.min_ess_share}")
        if not self.reward_lr > 0 or not self.weight_decay >= 0:
            raise ValueError(f"reward_lr must be > 0 and weight_decay >= 0, got {self.reward_lr}, {self.weight_decay}")
        object.__setattr__(self, "reward_hidden", positive_widths("reward_hidden", self.reward_hidden))

    @property
    def max_iters(self) -> int:
        """Rounds in all (the progress report counts them)."""
        return math.ceil(self.steps / self.round_steps)


@dataclass
class GCLResult(InverseResult):
    """An :class:`InverseResult` plus ``curve`` (the generator's episodes, as ``irl train`` writes
    them), ``reward_label`` and the ``generator`` agent."""

    curve: list[dict[str, Any]] = field(kw_only=True)
    reward_label: str = field(kw_only=True)
    generator: Any = field(kw_only=True)


@dataclass
class _Batch:
    """Trajectories as flat steps: ``obs`` ``(N, ...)``, ``act``, ``starts`` ``(E,)`` episode starts."""

    obs: torch.Tensor
    act: torch.Tensor
    starts: torch.Tensor


def fit(task: EnvTask, demos: Any, *, config: GCLConfig | None = None,
        callback: Callable[[dict[str, Any]], Any] | None = None, checkpoint: Checkpoint | None = None) -> GCLResult:
    """Fits GCL or GAN-GCL (``config.method``) to ``demos`` on the env of ``task``; see the module docstring.

    ``callback`` gets one entry per round: ``iteration``, ``env_steps``, ``loss``, ``ess`` (effective
    sample size of the last step's weights, "gcl"), ``mean_return`` (the env's reward over the
    episodes the round finished, None if none), ``seconds``. ``checkpoint`` saves the whole state at the
    end of a round when due (:mod:`irl.checkpoint`), one iteration per round; given one with a
    ``restored`` state, the fit resumes from it.
    """
    cfg = config or GCLConfig()
    return fit_on_env(task, cfg.method, cfg.cpu_threads,
                      lambda env, start: _fit(env, demos, cfg, callback, start, checkpoint))


def _fit(env: Any, demos: Any, cfg: GCLConfig, callback: Callable[[dict[str, Any]], Any] | None,
         start: float, checkpoint: Checkpoint | None) -> GCLResult:
    rng = np.random.default_rng(cfg.seed)
    episodes = EpisodeLog(None, None, False, desc=cfg.method)
    agent = make_generator(env, cfg.generator, steps=cfg.steps, round_steps=cfg.round_steps,
                           temperature=1.0 if cfg.soft_generator else None, absorbing=False, device=cfg.device, seed=cfg.seed, log=episodes,
                           overrides=cfg.generator_kwargs)
    reward = reward_net(env.observation_space, env.action_space, inputs="s" if cfg.state_only else "sa",
                        hidden=cfg.reward_hidden, seed=cfg.seed).to(cfg.device)
    log_z = torch.zeros((), device=cfg.device, requires_grad=True)  # GAN-GCL's partition function
    params = list(reward.parameters()) + ([log_z] if cfg.method == "gan-gcl" else [])
    optimizer = torch.optim.Adam(params, lr=cfg.reward_lr, weight_decay=cfg.weight_decay)
    demo_steps = Transitions.from_demos(demos)
    expert = _segments(_trajectories(demo_steps, complete_only=False), cfg.segment_steps)
    if not expert:
        raise ValueError("the demos hold no episode")
    restored = checkpoint.restored if checkpoint is not None else None
    demo_density = None
    if cfg.method == "gcl" and cfg.demos_in_background:  # a resumed run loads the fitted density instead
        demo_density = _demo_density(agent, demo_steps, cfg, None if restored is not None else rng)
    average = TailAverage(reward, cfg.max_iters, cfg.average_from)
    random_steps = int(getattr(agent.config, "learning_starts", 0))
    pool: list[tuple[list[Transitions], torch.nn.Module]] = []  # per round: its episodes, its policy
    log: list[dict[str, Any]] = []
    first_is_start = [True] * agent.n_envs  # each env's first step of the round begins an episode
    if restored is not None:
        pool, first_is_start = _restore(restored, rng, reward, log_z, optimizer, demo_density, average, log,
                                        episodes, agent)
        start = time.perf_counter() - float(restored["seconds"])  # the clock goes on
    while agent.steps < cfg.steps and not agent.stopped:
        before, episodes_before = agent.steps, len(episodes.curve)
        policy = copy.deepcopy(agent.export_policy()).requires_grad_(False)  # the policy that draws this round
        fresh = agent.collect(min(cfg.round_steps, cfg.steps - agent.steps))
        blocks = fresh.blocks(agent.n_envs)  # one per env, each in time order
        if before >= random_steps:
            drawn = _segments([t for block, start in zip(blocks, first_is_start, strict=True)
                               for t in _trajectories(block, complete_only=True, first_is_start=start)],
                              cfg.segment_steps)
            if drawn:
                pool = (pool + [(drawn, policy)])[-cfg.policy_window:]
        first_is_start = [bool(block.terminated[-1] or block.truncated[-1]) for block in blocks]
        losses, ess = [], float("nan")
        if pool:
            for _ in range(cfg.reward_updates):
                loss, ess = _reward_step(reward, log_z, optimizer, expert, pool, demo_density, cfg, rng)
                losses.append(loss)
            if not all(math.isfinite(x) for x in losses):
                raise NonFiniteError(f"{cfg.method}: the reward's loss became NaN or inf in round {len(log)}; "
                                     "lower reward_lr")
        average.update(reward)
        agent.update(RewardFn(reward, env.observation_space, env.action_space))
        finished = [r["true_return"] for r in episodes.curve[episodes_before:]]
        entry = {"iteration": len(log), "env_steps": agent.steps, "loss": float(np.mean(losses)) if losses else None,
                 "ess": ess, "mean_return": float(np.mean(finished)) if finished else None,
                 "seconds": time.perf_counter() - start}
        log.append(entry)
        if callback is not None:
            callback(entry)
        if checkpoint is not None and checkpoint.due(len(log)):
            checkpoint.save(len(log), {
                "seconds": time.perf_counter() - start, "rng": rng_state(rng), "global_rng": global_rng_state(),
                "reward": reward.state_dict(), "log_z": log_z.detach(), "optimizer": optimizer.state_dict(),
                "demo_density": None if demo_density is None else demo_density.state_dict(),
                "average": average.state_dict(), "first_is_start": first_is_start, "log": log,
                "pool": [{"trajectories": [transitions_state(t) for t in drawn], "policy": policy.state_dict()}
                         for drawn, policy in pool],
                "episodes": episodes.state_dict(), "agent": agent.state_dict()})
    label = "GCL r(s)" if cfg.state_only else "GCL r(s, a)"
    return GCLResult(
        reward_model=average.result(reward), policy=agent.export_policy(), log=log, converged=False,
        iterations=len(log), seconds=time.perf_counter() - start, stop_reason="max_steps",
        stop_message=f"ran its {agent.steps} env steps (guided cost learning has no convergence test)",
        config=cfg, curve=episodes.curve, reward_label=f"{label}, the MaxEnt reward ({cfg.method})", generator=agent)


def _restore(saved: dict[str, Any], rng: np.random.Generator, reward: torch.nn.Module, log_z: torch.Tensor,
             optimizer: torch.optim.Optimizer, demo_density: torch.nn.Module | None, average: TailAverage,
             log: list[dict[str, Any]], episodes: EpisodeLog, agent: Any
             ) -> tuple[list[tuple[list[Transitions], torch.nn.Module]], list[bool]]:
    """Loads a checkpoint's state (see the ``save`` in :func:`_fit`) into the fit's objects; returns the
    background pool and whether each env's next step begins an episode (with several envs, not bit-identical
    to the uninterrupted run: their episodes in progress are not resumed)."""
    reward.load_state_dict(saved["reward"])
    with torch.no_grad():
        log_z.copy_(saved["log_z"])
    optimizer.load_state_dict(copy.deepcopy(saved["optimizer"]))  # Adam would update the given tensors in place
    if demo_density is not None:
        demo_density.load_state_dict(saved["demo_density"])
    average.load_state_dict(saved["average"])
    agent.load_state_dict(saved["agent"])
    episodes.load_state_dict(saved["episodes"])
    log.extend(saved["log"])
    pool = []
    for part in saved["pool"]:
        policy = copy.deepcopy(agent.export_policy()).requires_grad_(False)
        policy.load_state_dict(part["policy"])
        pool.append(([transitions_from_state(t) for t in part["trajectories"]], policy))
    set_rng_state(rng, saved["rng"])
    set_global_rng_state(saved["global_rng"])
    if agent.n_envs > 1:  # a resumed vector stepper starts every copy on a fresh episode (PGAgent.load_state_dict)
        return pool, [True] * agent.n_envs
    return pool, [bool(x) for x in saved["first_is_start"]]


def _trajectories(tr: Transitions, *, complete_only: bool, first_is_start: bool = True) -> list[Transitions]:
    """``tr`` cut into its episodes; with ``complete_only`` the cut-off pieces of a round (the first one
    when ``first_is_start`` is False, an episode begun in the round before, and the last one when it is
    still running) are dropped."""
    ends = np.flatnonzero(np.asarray(tr.terminated) | np.asarray(tr.truncated))
    cuts = [0, *(ends + 1).tolist()]
    if not complete_only and cuts[-1] < len(tr):
        cuts.append(len(tr))
    pieces = [_rows(tr, a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]
    if complete_only and pieces and not first_is_start:
        pieces = pieces[1:]
    return pieces


def _segments(trajs: list[Transitions], length: int | None) -> list[Transitions]:
    """Each trajectory cut into pieces of ``length`` steps (the last may be shorter); ``trajs`` if None."""
    if length is None:
        return trajs
    return [_rows(t, a, min(a + length, len(t))) for t in trajs for a in range(0, len(t), length)]


def _rows(tr: Transitions, a: int, b: int) -> Transitions:
    return Transitions(**{name: getattr(tr, name)[a:b] for name in tr.__dataclass_fields__})


def _flatten(trajs: list[Transitions], model: torch.nn.Module) -> _Batch:
    lengths = [len(t) for t in trajs]
    starts = torch.as_tensor(np.cumsum([0, *lengths[:-1]]), dtype=torch.long)
    obs = to_model(np.concatenate([t.observations for t in trajs]), model)
    act = to_model(np.concatenate([t.actions for t in trajs]), model)
    return _Batch(obs, act, starts)


def _returns(reward: torch.nn.Module, batch: _Batch) -> torch.Tensor:
    """``(E,)`` r(τ) of each trajectory, differentiable in the reward's parameters."""
    per_step = reward(batch.obs, batch.act).reshape(-1)
    return episode_sums(per_step, batch.starts.to(per_step.device))


def _fused_log_q(batch: _Batch, policies: list[torch.nn.Module], like: torch.Tensor,
                 proportions: list[float] | None = None) -> torch.Tensor:
    """``(E,)`` log of the fused density ``Σ_k α_k q_k(τ)`` of ``policies`` (action part only; ``α``
    uniform unless ``proportions`` is given), in ``like``'s dtype."""
    with torch.no_grad():
        per_policy = torch.stack([episode_sums(p.log_prob(batch.obs, batch.act).to(like.device, torch.float64)
                                               .reshape(-1), batch.starts.to(like.device)) for p in policies])
        alpha = None if proportions is None else torch.tensor(proportions, dtype=torch.float64)
        return fused_log_density(per_policy, alpha).to(like.dtype)


def _demo_density(agent: Any, expert: Transitions, cfg: GCLConfig, rng: np.random.Generator | None
                  ) -> torch.nn.Module:
    """A copy of the generator's policy fitted to the demos by behaviour cloning: the demos' density
    (None for ``rng``: not fitted, for a resumed run to load its weights into)."""
    from irl.solvers.policy_gradient.demos import actor_parameters

    policy = copy.deepcopy(agent.export_policy())  # PG exports its live policy: clone a copy
    if rng is None:
        return policy.requires_grad_(False)
    params = actor_parameters(policy) if cfg.generator == "pg" else None
    clone_behavior(policy, expert.observations, cloning_actions(cfg.generator, agent.env.action_space, expert.actions),
                   steps=cfg.bc_steps, rng=rng, params=params, validation_fraction=0.0)
    return policy.requires_grad_(False)


def _pick(items: list, k: int, rng: np.random.Generator) -> list:
    if len(items) <= k:
        return list(items)
    return [items[i] for i in rng.choice(len(items), size=k, replace=False)]


def _reward_step(reward: torch.nn.Module, log_z: torch.Tensor, optimizer: torch.optim.Optimizer,
                 expert: list[Transitions], pool: list, demo_density: torch.nn.Module | None, cfg: GCLConfig,
                 rng: np.random.Generator) -> tuple[float, float]:
    """One Adam step of the reward (and GAN-GCL's log Z); returns the loss and the weights' ESS."""
    policies = [policy for _, policy in pool]
    samples = _pick([t for drawn, _ in pool for t in drawn], cfg.sample_batch, rng)
    demo_trajs = _pick(expert, cfg.demo_batch, rng)
    demo, back = _flatten(demo_trajs, reward), _flatten(samples, reward)
    r_demo, r_back = _returns(reward, demo), _returns(reward, back)
    if cfg.method == "gcl":
        if demo_density is not None:  # the batch is a mixture of demos and the window's samples
            share = len(demo_trajs) / (len(demo_trajs) + len(samples))
            mixture, alpha = [demo_density, *policies], [share] + [(1 - share) / len(policies)] * len(policies)
            log_r = torch.cat([r_demo, r_back])
            log_q = torch.cat([_fused_log_q(demo, mixture, r_demo, alpha), _fused_log_q(back, mixture, r_back, alpha)])
        else:
            log_r, log_q = r_back, _fused_log_q(back, policies, r_back)
        log_w = log_r - log_q
        loss = -r_demo.mean() + torch.logsumexp(log_w, 0) - math.log(len(log_w))
        if cfg.min_ess_share is not None:  # the same value; the gradient −E_demo[∇r] + Σ w̄ ∇r, w̄ tempered
            w_bar = tempered_log_weights(log_w.detach(), cfg.min_ess_share)[0].exp()
            surrogate = -r_demo.mean() + (w_bar * log_r).sum()
            loss = surrogate + (loss - surrogate).detach()
        with torch.no_grad():
            ess = float(effective_sample_size(trajectory_log_weights(log_r.detach(), log_q)))
    else:
        q_demo, q_back = _fused_log_q(demo, policies, r_demo), _fused_log_q(back, policies, r_back)
        loss = discriminator_loss(airl_logit(r_demo - log_z, q_demo), airl_logit(r_back - log_z, q_back))
        ess = float("nan")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach()), ess
