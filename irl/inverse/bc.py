"""Behaviour cloning as an inverse algorithm: a policy fitted to the demos, and no reward.

Maximum likelihood of the demonstrated actions (:func:`irl.solvers.cloning.clone_behavior`)
under policy gradient's actor (a Categorical, or a Gaussian with a state-independent std) or
SAC's actor (a categorical, or a tanh-squashed Gaussian inside the action bounds), built for
the env's spaces. Nothing is sampled from the env: it is made only to read its spaces. BC
learns no reward, so the result's ``reward_model`` is None.

``converged`` means the held-out loss (on ``validation_fraction`` of the demo episodes) stopped
improving for ``patience`` checks before ``steps`` steps; the weights kept are those of the
lowest held-out loss either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from irl.data import Demos, check_in_space
from irl.envs import make_env
from irl.inverse.common import EnvTask, InverseResult
from irl.solvers.cloning import CloningResult, clone_behavior
from irl.solvers.spaces import space_spec
from irl.solvers.training import torch_threads

__all__ = ["POLICY_KINDS", "BCConfig", "BCResult", "fit"]

#: the policies BC can fit
POLICY_KINDS = ("actor-critic", "sac")


@dataclass(frozen=True)
class BCConfig:
    """Settings of behaviour cloning; the CLI builds one from ``--algo-kwargs``."""

    policy: str = "actor-critic"
    """"actor-critic" (policy gradient's: Categorical, or Gaussian with a state-independent std) or
    "sac" (SAC's: categorical, or tanh-squashed Gaussian; needs finite action bounds)."""
    hidden: tuple[int, ...] = (64, 64)
    """hidden widths of the policy's MLP (() on one-hot states: a table of logits)."""
    steps: int = 5000
    """Adam steps at most."""
    learning_rate: float = 3e-3
    """Adam step size."""
    batch_size: int = 256
    """demo steps per Adam step (drawn with replacement from the training split)."""
    validation_fraction: float = 0.1
    """share of the demo episodes held out to measure the loss on (0: no validation, no early stop)."""
    validate_every: int = 10
    """Adam steps between checks of the held-out loss."""
    patience: int = 50
    """checks without a new lowest held-out loss before stopping early."""
    seed: int = 0
    """seeds the initial weights, the validation split and the minibatches."""
    cpu_threads: int | None = 1
    """torch CPU threads while fitting (restored after); None keeps torch's setting. One is fastest for
    these small networks, above all on a busy machine."""

    @property
    def max_iters(self) -> int:
        """Adam steps at most (the progress report counts them)."""
        return self.steps

    def __post_init__(self) -> None:
        if self.policy not in POLICY_KINDS:
            raise ValueError(f"BCConfig.policy must be one of {list(POLICY_KINDS)}, got {self.policy!r}")
        for name in ("steps", "batch_size", "validate_every", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"BCConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"BCConfig.learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"BCConfig.validation_fraction must lie in [0, 1), got {self.validation_fraction}")
        if self.seed < 0:
            raise ValueError(f"BCConfig.seed must be >= 0, got {self.seed}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ValueError(f"BCConfig.cpu_threads must be >= 1 or None, got {self.cpu_threads}")
        hidden = tuple(int(h) for h in self.hidden)
        if any(h < 1 for h in hidden):
            raise ValueError(f"BCConfig.hidden widths must be >= 1, got {self.hidden}")
        object.__setattr__(self, "hidden", hidden)


@dataclass
class BCResult(InverseResult):
    """An :class:`InverseResult` (``reward_model`` None) with the cloning's own record.

    Fields (besides the inherited ones):
        cloning: the losses, the held-out checks and the step whose weights were kept.
    """

    cloning: CloningResult = field(kw_only=True)


def fit(task: EnvTask, demos: Demos, *, config: BCConfig | None = None,
        callback: Callable[[dict[str, float]], Any] | None = None) -> BCResult:
    """Returns a policy fitted to ``demos`` by behaviour cloning, on ``task``'s spaces.

    Args:
        task: the env (its spaces size the policy; it is never stepped).
        demos: the demonstrations; their observations and actions must lie in the env's spaces.
        config: the settings (default :class:`BCConfig()`).
        callback: called with each step's log entry: ``iteration``, ``loss`` (the minibatch's
            ``-mean log π(a|s)``) and, on the steps with a check, ``validation_loss``.
    """
    config = BCConfig() if config is None else config
    if not isinstance(task, EnvTask):
        raise TypeError(f"bc builds its policy for an env's spaces: give an EnvTask(env_id, env_kwargs), "
                        f"got {type(task).__name__}")
    start = time.perf_counter()
    env = make_env(task.env_id, task.env_kwargs)
    try:
        observation_space, action_space = env.observation_space, env.action_space
    finally:
        env.close()
    _check_demos_fit(demos, observation_space, action_space, config.policy)
    policy, params = _make_policy(config, observation_space, action_space)
    log: list[dict[str, float]] = []

    def on_step(entry: dict[str, float]) -> None:
        log.append({"iteration": entry["step"], **{k: v for k, v in entry.items() if k != "step"}})
        if callback is not None:
            callback(log[-1])

    with torch_threads(config.cpu_threads):
        cloning = clone_behavior(
            policy, demos.observations, demos.actions, steps=config.steps, rng=np.random.default_rng(config.seed),
            params=params, learning_rate=config.learning_rate, batch_size=config.batch_size,
            validation_fraction=config.validation_fraction, episode_starts=demos.episode_starts,
            validate_every=config.validate_every, patience=config.patience, on_step=on_step)
    taken = len(cloning.train_losses)
    if cloning.stopped_early:
        reason = "early_stop"
        message = (f"stopped early after {taken} steps: the held-out loss had not improved for {config.patience} "
                   f"checks; kept the weights of step {cloning.best_step} (held-out loss "
                   f"{min(cloning.validation_losses):.4g})")
    elif cloning.validation_losses:
        reason = "max_steps"
        message = (f"ran all {taken} steps before the held-out loss stalled for {config.patience} checks; kept the "
                   f"weights of step {cloning.best_step} (held-out loss {min(cloning.validation_losses):.4g}); "
                   "raise steps to let it converge")
    else:
        reason = "max_steps"
        message = f"ran all {taken} steps (validation_fraction=0: no held-out loss, no early stopping)"
    return BCResult(reward_model=None, policy=policy, log=log, converged=cloning.stopped_early, iterations=taken,
                    seconds=time.perf_counter() - start, stop_reason=reason, stop_message=message, config=config,
                    cloning=cloning)


def _make_policy(config: BCConfig, observation_space: spaces.Space, action_space: spaces.Space
                 ) -> tuple[torch.nn.Module, list[torch.nn.Parameter]]:
    """The untrained policy of ``config.policy`` for the spaces, and the parameters BC trains."""
    observation, action = space_spec(observation_space), space_spec(action_space, bounds=True)
    if config.policy == "sac":
        from irl.solvers.sac.networks import SACPolicy

        policy = SACPolicy(observation, action, config.hidden, config.seed)
        return policy, list(policy.parameters())
    from irl.solvers.policy_gradient.demos import actor_parameters
    from irl.solvers.policy_gradient.policy import ActorCriticPolicy

    policy = ActorCriticPolicy(observation, action, config.hidden, seed=config.seed)
    return policy, actor_parameters(policy)  # the critic models no behaviour: it stays as initialised


def _check_demos_fit(demos: Demos, observation_space: spaces.Space, action_space: spaces.Space, kind: str) -> None:
    """Raises ``DemoFormatError`` when the demos' observations or actions do not fit the env's spaces, and
    ``ValueError`` when a squashed Gaussian ("sac") could not produce the demos' Box actions."""
    check_in_space("observations", np.asarray(demos.observations), observation_space)
    check_in_space("actions", np.asarray(demos.actions), action_space)
    if kind == "sac" and isinstance(action_space, spaces.Box):
        act = np.asarray(demos.actions, dtype=np.float64)
        low, high = np.broadcast_to(action_space.low, act.shape[1:]), np.broadcast_to(action_space.high, act.shape[1:])
        slack = 1e-6 * (high - low)
        outside = np.any((act < low - slack) | (act > high + slack), axis=tuple(range(1, act.ndim)))
        if outside.any():
            raise ValueError(f"policy 'sac' acts inside the action bounds [{low.min()}, {high.max()}], but "
                             f"{int(outside.sum())} demo actions lie outside them (first at step "
                             f"{int(np.flatnonzero(outside)[0])}): use policy 'actor-critic'")
