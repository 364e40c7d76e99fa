"""GAIL and AIRL on a generator (SAC or policy gradient), with the discriminator trained in between.

Each round: the generator collects ``round_steps`` env steps; the discriminator takes
``disc_updates`` minibatch steps on demo transitions (label 1) against the generator's recent
transitions (label 0, the last ``policy_window``); then the generator updates on the
discriminator's reward (:mod:`irl.inverse.adversarial.rewards`), SAC relabelling every replayed
batch with the discriminator as it is then.

Terminations (DAC, Kostrikov et al. 2019): a termination leads to an absorbing state whose
logit is one more parameter of the discriminator, trained on the absorbing samples of both sides
(each terminated transition also stands for one visit of it). The SAC generator values that
state from its reward (``SACConfig.absorbing``), so ending an episode pays exactly what the
discriminator says the demos' endings are worth: neither GAIL's survival bias nor the
termination bias leaks in. The PPO generator ends its return at a termination, so its reward for a
terminating transition also holds the absorbing state's discounted value ``γ r_abs / (1 − γ)``.

What the generator maximises: GAIL's ``gail_reward`` of the logit. AIRL's policy reward is
``f − log π(a|s)``, soft RL on ``f`` at temperature 1: the PPO generator gets exactly that
(plus its own ``temperature`` entropy bonus), the SAC generator gets ``f`` and supplies the
``− log π`` itself as its entropy bonus, so AIRL runs SAC at a fixed temperature 1 unless
``generator_kwargs`` says otherwise.

Box actions enter the discriminator (and AIRL's ``log π``) clipped to the action bounds, as the
env executes them, so a Gaussian's out-of-bounds draws do not tell the generator apart.

The recovered reward (``result.reward_model``) is AIRL's ``g``; GAIL's is its discriminator logit
(``reward_label`` says which: the logit explains the final policy, it is not meant to transfer).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from irl._checks import NonFiniteError
from irl.checkpoint import Checkpoint, global_rng_state, rng_state, set_global_rng_state, set_rng_state
from irl.inverse.adversarial.discriminators import AIRLDiscriminator, GAILDiscriminator, to_model
from irl.inverse.adversarial.losses import discriminator_accuracy, discriminator_loss, gradient_penalty
from irl.inverse.adversarial.rewards import GAIL_REWARDS, airl_policy_reward, gail_reward
from irl.inverse.common import EnvTask, InverseResult
from irl.inverse.sampling import (
    GENERATORS,
    TailAverage,
    check_sampled_settings,
    cloning_actions,
    fit_on_env,
    make_generator,
    positive_widths,
    transitions_from_state,
    transitions_state,
)
from irl.solvers.agent import Transitions
from irl.solvers.cloning import clone_behavior
from irl.solvers.training import EpisodeLog

__all__ = ["GENERATORS", "METHODS", "AdversarialConfig", "AdversarialResult", "DiscriminatorReward", "fit"]

METHODS = ("gail", "airl")


@dataclass(frozen=True)
class AdversarialConfig:
    """Settings of GAIL and AIRL; ``irl fit --algo gail | airl`` sets ``method``."""

    method: str = "gail"
    """"gail" (Ho & Ermon 2016) or "airl" (Fu et al. 2018)."""
    generator: str = "sac"
    """the forward solver the discriminator trains: "sac" or "pg" (policy gradient, PPO); ``irl fit --generator``."""
    steps: int = 20_000
    """env steps of the generator in all (``irl fit --steps``)."""
    round_steps: int = 1000
    """env steps collected per round (for "pg" also its rollout length)."""
    disc_updates: int = 100
    """discriminator minibatch steps per round."""
    disc_batch_size: int = 256
    """transitions per discriminator step, half demos and half the generator's."""
    disc_lr: float = 3e-4
    """Adam learning rate of the discriminator."""
    absorbing_lr: float = 0.03
    """Adam learning rate of the absorbing state's logit: one number, seen by the few terminations in each
    batch; at ``disc_lr`` it lags behind the networks and the generator learns to end episodes early."""
    disc_hidden: tuple[int, ...] = (64, 64)
    """hidden widths of the discriminator's networks."""
    policy_window: int = 10_000
    """the discriminator's negatives are drawn from the generator's last this many transitions."""
    gradient_penalty: float = 1.0
    """GAIL only: weight of the gradient penalty ``(‖∇ logit‖ − 1)²`` between demo and generator inputs (0: off)."""
    label_smoothing: float = 0.0
    """two-sided label smoothing of the discriminator's targets, in [0, 0.5)."""
    average_from: float = 0.5
    """the recovered reward's weights are the mean of the reward network's weights over the rounds after this
    share of all rounds (tail averaging: the game's reward oscillates from round to round); 1: the last round's."""
    gail_reward: str = "positive"
    """GAIL only: the generator's reward, "positive" -log(1 - D), "negative" log D, or "logit"."""
    state_only: bool = True
    """AIRL only: a state-only reward g(s) (transfers across dynamics) rather than g(s, a)."""
    bc_warmstart_steps: int = 0
    """behaviour-cloning steps on the demos before training (0: none)."""
    demos_in_buffer: bool = False
    """SAC only: also put the demos in the generator's replay buffer (relabelled like its own data)."""
    absorbing: bool = True
    """terminations lead to an absorbing state valued from its learned reward (module docstring)."""
    generator_kwargs: dict[str, Any] = field(default_factory=dict)
    """settings of the generator's config (SACConfig or PGConfig), e.g. {"hidden": [256, 256]}."""
    seed: int = 0
    """seeds the generator, the discriminator and the minibatches."""
    device: str = "cpu"
    """torch device of the generator (SAC) and of the discriminator."""
    cpu_threads: int | None = 1
    """torch CPU threads while fitting (None: leave torch's setting); small networks run fastest on one."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        if self.gail_reward not in GAIL_REWARDS:
            raise ValueError(f"gail_reward must be one of {list(GAIL_REWARDS)}, got {self.gail_reward!r}")
        check_sampled_settings(self, ("steps", "round_steps", "disc_updates", "disc_batch_size", "policy_window"))
        if self.disc_batch_size < 2:
            raise ValueError(f"disc_batch_size must be >= 2 (half demos, half generator), got {self.disc_batch_size}")
        if not self.disc_lr > 0 or not self.absorbing_lr > 0:
            raise ValueError(f"disc_lr and absorbing_lr must be > 0, got {self.disc_lr}, {self.absorbing_lr}")
        if not self.gradient_penalty >= 0:
            raise ValueError(f"gradient_penalty must be >= 0, got {self.gradient_penalty}")
        if not 0 <= self.label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must lie in [0, 0.5), got {self.label_smoothing}")
        if self.bc_warmstart_steps < 0:
            raise ValueError(f"bc_warmstart_steps must be >= 0, got {self.bc_warmstart_steps}")
        object.__setattr__(self, "disc_hidden", positive_widths("disc_hidden", self.disc_hidden))

    @property
    def max_iters(self) -> int:
        """Rounds in all (the progress report counts them)."""
        return math.ceil(self.steps / self.round_steps)


@dataclass
class AdversarialResult(InverseResult):
    """An :class:`InverseResult` plus the generator's own record.

    Fields (besides the inherited ones):
        curve: one record per generator episode, as ``irl train`` writes them (``step``,
            ``episode``, ``true_return``, ``length``, ``seconds``, the generator's stats) with the
            discriminator's latest ``disc_accuracy``.
        reward_label: what ``reward_model`` is ("AIRL g(s)", "GAIL discriminator logit", ...).
        discriminator: the trained discriminator (with the absorbing state's logit).
        generator: the generator agent itself.
    """

    curve: list[dict[str, Any]] = field(kw_only=True)
    reward_label: str = field(kw_only=True)
    discriminator: torch.nn.Module = field(kw_only=True)
    generator: Any = field(kw_only=True)


class DiscriminatorReward:
    """The generator's reward from the discriminator as it is now: a reward function of env-form batches
    (:data:`irl.solvers.agent.RewardFunction`), with the absorbing state's reward as ``absorbing_reward``.

    Args:
        discriminator: a :class:`GAILDiscriminator` or :class:`AIRLDiscriminator`.
        method: "gail" or "airl".
        kind: GAIL's reward form (:func:`gail_reward`).
        policy: the generator's policy (AIRL's ``log π``).
        generator_entropy: AIRL only: the generator adds ``− log π`` itself (SAC), so the reward is ``f``.
        low, high: Box action bounds to clip actions to, or None.
        terminal_discount: for a generator that ends the return at a termination (PPO): each terminating
            transition also earns the absorbing state's discounted value ``γ r_abs / (1 − γ)``, as if the
            episode went on in it; None adds nothing (SAC values the absorbing state itself).
    """

    def __init__(self, discriminator: torch.nn.Module, method: str, kind: str, policy: torch.nn.Module,
                 generator_entropy: bool = False, low: Any = None, high: Any = None,
                 terminal_discount: float | None = None) -> None:
        self.discriminator, self.method, self.kind, self.policy = discriminator, method, kind, policy
        self.generator_entropy, self.low, self.high = generator_entropy, low, high
        with torch.no_grad():  # no choice is made in the absorbing state: log π there is 0
            logit = discriminator.absorbing_logit.detach().reshape(1)
            self.absorbing_reward = float(logit[0] if method == "airl" else gail_reward(logit, kind)[0])
        gamma = terminal_discount  # at γ = 1 the absorbing state's value is unbounded: then nothing is added
        self.terminal_bonus = 0.0 if gamma is None or gamma >= 1 else gamma * self.absorbing_reward / (1.0 - gamma)

    def __call__(self, obs: Any, act: Any, next_obs: Any, terminated: Any) -> torch.Tensor:
        d = self.discriminator
        obs, next_obs = to_model(obs, d), to_model(next_obs, d)
        act = _clip(to_model(act, d), self.low, self.high)
        terminated = torch.as_tensor(terminated).to(device=obs.device, dtype=torch.bool)
        with torch.no_grad():
            if self.method == "gail":
                reward = gail_reward(d.logits(obs, act, next_obs, terminated), self.kind)
            else:
                reward = d.f(obs, act, next_obs, terminated)
                if not self.generator_entropy:
                    reward = airl_policy_reward(reward, self.policy.log_prob(obs, act).to(reward))
            if self.terminal_bonus:
                reward = reward + self.terminal_bonus * terminated.to(reward)
            return reward


def fit(task: EnvTask, demos: Any, *, config: AdversarialConfig | None = None,
        callback: Callable[[dict[str, Any]], Any] | None = None,
        checkpoint: Checkpoint | None = None) -> AdversarialResult:
    """Fits GAIL or AIRL (``config.method``) to ``demos`` on the env of ``task``; see the module docstring.

    Args:
        task: the env to sample (:class:`EnvTask`).
        demos: the demonstrations (:class:`irl.data.Demos`), in the env's spaces.
        config: the settings (default ``AdversarialConfig()``).
        callback: called with one log entry per round: ``iteration``, ``env_steps``, ``disc_loss``,
            ``disc_accuracy``, ``mean_return`` (the env's reward over the episodes the round
            finished, None if none), ``seconds``.
        checkpoint: saves the whole state at the end of a round when due (:mod:`irl.checkpoint`), one
            iteration per round; a run given one with a ``restored`` state resumes from it.
    """
    cfg = config or AdversarialConfig()
    return fit_on_env(task, cfg.method, cfg.cpu_threads,
                      lambda env, start: _fit(env, demos, cfg, callback, start, checkpoint))


def _fit(env: Any, demos: Any, cfg: AdversarialConfig, callback: Callable[[dict[str, Any]], Any] | None,
         start: float, checkpoint: Checkpoint | None) -> AdversarialResult:
    rng = np.random.default_rng(cfg.seed)
    penalty_draws = torch.Generator().manual_seed(cfg.seed)
    state = {"accuracy": float("nan")}
    episodes = EpisodeLog(None, None, False, desc=cfg.method)
    agent = _generator(env, cfg, episodes, state)
    discriminator = _discriminator(env, cfg, agent).to(cfg.device)
    absorbing = [discriminator.absorbing_logit]
    rest = [p for p in discriminator.parameters() if p is not discriminator.absorbing_logit]
    optimizer = torch.optim.Adam([{"params": rest}, {"params": absorbing, "lr": cfg.absorbing_lr}], lr=cfg.disc_lr)
    bounds = _bounds(env.action_space)
    expert = Transitions.from_demos(demos)
    restored = checkpoint.restored if checkpoint is not None else None
    if cfg.bc_warmstart_steps and restored is None:  # a resumed generator holds its warm start already
        _warm_start(agent, expert, cfg, rng)
    if cfg.demos_in_buffer and cfg.generator == "sac":
        agent.add_demos(dataclasses.replace(expert, env_rewards=np.full(len(expert), np.nan)))

    average = TailAverage(discriminator.reward_model, cfg.max_iters, cfg.average_from)
    window: Transitions | None = None
    log: list[dict[str, Any]] = []
    if restored is not None:
        window = _restore(restored, rng, penalty_draws, state, discriminator, optimizer, average, log, episodes, agent)
        start = time.perf_counter() - float(restored["seconds"])  # the clock goes on
    while agent.steps < cfg.steps and not agent.stopped:
        episodes_before = len(episodes.curve)
        fresh = agent.collect(min(cfg.round_steps, cfg.steps - agent.steps))
        window = fresh if window is None else _tail(Transitions.concatenate([window, fresh]), cfg.policy_window)
        losses, accuracies = [], []
        for _ in range(cfg.disc_updates):
            loss, accuracy = _discriminator_step(discriminator, optimizer, expert, window, agent.policy, cfg, rng,
                                                 penalty_draws, bounds)
            losses.append(loss)
            accuracies.append(accuracy)
        if not all(math.isfinite(x) for x in losses):
            raise NonFiniteError(f"{cfg.method}: the discriminator's loss became NaN or inf in round {len(log)}; "
                                 "lower disc_lr or raise gradient_penalty")
        state["accuracy"] = float(np.mean(accuracies))
        average.update(discriminator.reward_model)
        terminal_discount = agent.config.gamma if cfg.absorbing and cfg.generator == "pg" else None
        agent.update(DiscriminatorReward(discriminator, cfg.method, cfg.gail_reward, agent.policy,
                                         generator_entropy=cfg.generator == "sac", low=bounds[0], high=bounds[1],
                                         terminal_discount=terminal_discount))
        finished = [r["true_return"] for r in episodes.curve[episodes_before:]]
        entry = {"iteration": len(log), "env_steps": agent.steps, "disc_loss": float(np.mean(losses)),
                 "disc_accuracy": state["accuracy"], "mean_return": float(np.mean(finished)) if finished else None,
                 "seconds": time.perf_counter() - start}
        log.append(entry)
        if callback is not None:
            callback(entry)
        if checkpoint is not None and checkpoint.due(len(log)):
            checkpoint.save(len(log), {
                "seconds": time.perf_counter() - start, "rng": rng_state(rng),
                "penalty_draws": rng_state(penalty_draws), "global_rng": global_rng_state(),
                "accuracy": state["accuracy"], "discriminator": discriminator.state_dict(),
                "optimizer": optimizer.state_dict(), "average": average.state_dict(),
                "window": transitions_state(window), "log": log, "episodes": episodes.state_dict(),
                "agent": agent.state_dict()})
    reward_model = average.result(discriminator.reward_model)
    if cfg.method == "airl":
        label = "AIRL g(s), the reward without shaping" if cfg.state_only else "AIRL g(s, a), the reward without shaping"
    else:
        label = "GAIL discriminator logit (explains the final policy; not meant to transfer)"
    return AdversarialResult(
        reward_model=reward_model, policy=agent.export_policy(), log=log, converged=False, iterations=len(log),
        seconds=time.perf_counter() - start, stop_reason="max_steps",
        stop_message=f"ran its {agent.steps} env steps (adversarial training has no convergence test)",
        config=cfg, curve=episodes.curve, reward_label=label, discriminator=discriminator, generator=agent)


def _restore(saved: dict[str, Any], rng: np.random.Generator, penalty_draws: torch.Generator,
             state: dict[str, float], discriminator: torch.nn.Module, optimizer: torch.optim.Optimizer,
             average: TailAverage, log: list[dict[str, Any]], episodes: EpisodeLog, agent: Any) -> Transitions:
    """Loads a checkpoint's state (see the ``save`` in :func:`_fit`) into the fit's objects and returns the
    generator's window of recent transitions."""
    discriminator.load_state_dict(saved["discriminator"])
    optimizer.load_state_dict(copy.deepcopy(saved["optimizer"]))  # Adam would update the given tensors in place
    average.load_state_dict(saved["average"])
    agent.load_state_dict(saved["agent"])
    episodes.load_state_dict(saved["episodes"])
    log.extend(saved["log"])
    state["accuracy"] = float(saved["accuracy"])
    set_rng_state(rng, saved["rng"])
    set_rng_state(penalty_draws, saved["penalty_draws"])
    set_global_rng_state(saved["global_rng"])
    return transitions_from_state(saved["window"])


def _generator(env: Any, cfg: AdversarialConfig, log: EpisodeLog, state: dict[str, float]) -> Any:
    """The SAC or PG generator, reporting each episode (with the discriminator's accuracy) to ``log``."""
    # AIRL: soft RL on f at temperature 1; on PG its reward f − log π already holds the entropy bonus
    temperature = None if cfg.method == "gail" else 0.0 if cfg.generator == "pg" else 1.0
    agent = make_generator(env, cfg.generator, steps=cfg.steps, round_steps=cfg.round_steps, temperature=temperature,
                           absorbing=cfg.absorbing, device=cfg.device, seed=cfg.seed, log=log,
                           overrides=cfg.generator_kwargs)
    stats = agent.stepper.extras
    agent.stepper.extras = lambda: {**(stats() if stats else {}), "disc_accuracy": state["accuracy"]}
    return agent


def _discriminator(env: Any, cfg: AdversarialConfig, agent: Any) -> torch.nn.Module:
    if cfg.method == "gail":
        return GAILDiscriminator(env.observation_space, env.action_space, cfg.disc_hidden, cfg.seed)
    return AIRLDiscriminator(env.observation_space, env.action_space, cfg.disc_hidden, cfg.seed,
                             state_only=cfg.state_only, gamma=agent.config.gamma)


def _warm_start(agent: Any, expert: Transitions, cfg: AdversarialConfig, rng: np.random.Generator) -> None:
    """Behaviour cloning of the generator's policy on the demos (the actor only, for PPO)."""
    from irl.solvers.policy_gradient.demos import actor_parameters

    params = actor_parameters(agent.policy) if cfg.generator == "pg" else None
    actions = cloning_actions(cfg.generator, agent.env.action_space, expert.actions)
    clone_behavior(agent.policy, expert.observations, actions, steps=cfg.bc_warmstart_steps, rng=rng,
                   params=params, validation_fraction=0.0)
    if cfg.generator == "sac":
        agent.bind_grads()  # the cloning's Adam replaced the .grad views of SAC's flat gradient


def _bounds(space: spaces.Space) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if isinstance(space, spaces.Box):
        return torch.as_tensor(space.low, dtype=torch.float32), torch.as_tensor(space.high, dtype=torch.float32)
    return None, None


def _clip(act: torch.Tensor, low: torch.Tensor | None, high: torch.Tensor | None) -> torch.Tensor:
    if low is None or not act.is_floating_point():
        return act
    return torch.clamp(act, low.to(act), high.to(act))


def _tail(tr: Transitions, n: int) -> Transitions:
    """The last ``n`` rows of ``tr``."""
    if len(tr) <= n:
        return tr
    return Transitions(**{f.name: getattr(tr, f.name)[-n:] for f in dataclasses.fields(tr)})


def _batch(tr: Transitions, size: int, rng: np.random.Generator, model: torch.nn.Module, bounds: tuple
           ) -> tuple[dict[str, torch.Tensor], int]:
    """A minibatch of ``size`` draws from ``tr`` and its absorbing state, where each termination also stands
    for one visit of the absorbing state (DAC). Returns the real rows as model tensors and how many
    absorbing samples were drawn."""
    n_abs = int(tr.terminated.sum())
    idx = rng.integers(0, len(tr) + n_abs, size=size)
    real = idx[idx < len(tr)]
    batch = {key: to_model(np.asarray(getattr(tr, name))[real], model) for key, name in
             (("obs", "observations"), ("act", "actions"), ("next_obs", "next_observations"))}
    batch["act"] = _clip(batch["act"], *bounds)
    batch["terminated"] = torch.as_tensor(tr.terminated[real], device=batch["obs"].device)
    return batch, len(idx) - len(real)


def _logits(discriminator: torch.nn.Module, batch: dict[str, torch.Tensor], n_abs: int, policy: torch.nn.Module,
            method: str) -> torch.Tensor:
    """``(B,)`` logits of a minibatch's real rows, then of its absorbing samples."""
    log_pi = None
    if method == "airl":
        with torch.no_grad():
            log_pi = policy.log_prob(batch["obs"], batch["act"]).to(discriminator.absorbing_logit)
    logits = discriminator.logits(batch["obs"], batch["act"], batch["next_obs"], batch["terminated"], log_pi)
    return torch.cat([logits, discriminator.absorbing_logit.expand(n_abs)])


def _discriminator_step(discriminator: torch.nn.Module, optimizer: torch.optim.Optimizer, expert: Transitions,
                        window: Transitions, policy: torch.nn.Module, cfg: AdversarialConfig,
                        rng: np.random.Generator, penalty_draws: torch.Generator, bounds: tuple) -> tuple[float, float]:
    """One Adam step of the discriminator on half a batch of demos and half of the generator's; returns the
    loss and the accuracy before the step."""
    half = cfg.disc_batch_size // 2
    (e_batch, e_abs), (p_batch, p_abs) = (_batch(tr, half, rng, discriminator, bounds) for tr in (expert, window))
    e_logits = _logits(discriminator, e_batch, e_abs, policy, cfg.method)
    p_logits = _logits(discriminator, p_batch, p_abs, policy, cfg.method)
    loss = discriminator_loss(e_logits, p_logits, label_smoothing=cfg.label_smoothing)
    if cfg.method == "gail" and cfg.gradient_penalty > 0:
        net = discriminator.net
        e_in, p_in = net.encode(e_batch["obs"], e_batch["act"]), net.encode(p_batch["obs"], p_batch["act"])
        m = min(len(e_in), len(p_in))
        if m:
            loss = loss + cfg.gradient_penalty * gradient_penalty(lambda x: net.net(x).squeeze(-1), e_in[:m],
                                                                  p_in[:m], generator=penalty_draws)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach()), discriminator_accuracy(e_logits.detach(), p_logits.detach())
