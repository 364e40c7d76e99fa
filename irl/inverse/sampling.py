"""What the sampled inverse algorithms (GAIL, AIRL, GCL) share: the generator they drive, and the
tail average of a reward network's weights over the last rounds of a game whose reward oscillates."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ["GENERATORS", "TailAverage", "check_sampled_settings", "cloning_actions", "fit_on_env", "make_generator",
           "positive_widths", "transitions_from_state", "transitions_state"]

GENERATORS = ("sac", "pg")


def make_generator(env: Any, kind: str, *, steps: int, round_steps: int, temperature: float | None,
                   absorbing: bool, device: str, seed: int, log: Any, overrides: dict[str, Any]) -> Any:
    """The SAC or PG (PPO) agent an inverse algorithm trains, reporting its episodes to ``log``.

    Args:
        kind: "sac" or "pg".
        steps: env steps in all; round_steps: env steps per round (PG's rollout length).
        temperature: a fixed temperature of the generator's entropy bonus (SAC: no tuning), e.g. 1 for soft
            RL on a MaxEnt reward, 0 (PG) for a reward that already holds ``− log π``; None: the solver's
            own setting (SAC tunes it).
        absorbing: SAC: terminations lead to an absorbing state valued from the reward function.
        overrides: settings of the solver's config that replace these (never total_steps, device or rollout_steps).
    """
    if kind == "sac":
        from irl.solvers.sac import SACAgent, SACConfig

        settings: dict[str, Any] = {"total_steps": steps, "absorbing": absorbing, "device": device}
        if temperature is not None:
            settings.update(autotune_temperature=False, init_temperature=temperature)
        return SACAgent(env, SACConfig(**{**settings, **overrides}), seed=seed, log=log)
    if kind == "pg":
        from irl.solvers.policy_gradient import PGAgent, PGConfig

        settings = {"total_steps": steps, "rollout_steps": round_steps}
        if temperature is not None:
            settings["temperature"] = temperature
        return PGAgent(env, PGConfig(**{**settings, **overrides}), seed=seed, log=log)
    raise ValueError(f"generator must be one of {list(GENERATORS)}, got {kind!r}")


def cloning_actions(kind: str, action_space: Any, actions: Any) -> Any:
    """Demo actions to clone into a generator's policy: for SAC's squashed Gaussian, Box actions moved just
    inside the bounds (its support is open there); unchanged otherwise."""
    from gymnasium import spaces

    if kind != "sac" or not isinstance(action_space, spaces.Box):
        return actions
    low, high = action_space.low, action_space.high
    return np.clip(actions, low + 1e-6 * (high - low), high - 1e-6 * (high - low))


def check_sampled_settings(cfg: Any, counts: tuple[str, ...]) -> None:
    """``ValueError`` naming the setting for the fields every sampled inverse config has (``generator``,
    ``average_from``, ``cpu_threads``, ``seed``, ``generator_kwargs``) and for the integer ``counts`` (>= 1)."""
    if cfg.generator not in GENERATORS:
        raise ValueError(f"generator must be one of {list(GENERATORS)}, got {cfg.generator!r}")
    for name in counts:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not 0 <= cfg.average_from <= 1:
        raise ValueError(f"average_from must lie in [0, 1], got {cfg.average_from}")
    if cfg.cpu_threads is not None and cfg.cpu_threads < 1:
        raise ValueError(f"cpu_threads must be >= 1 or None, got {cfg.cpu_threads}")
    if cfg.seed < 0:
        raise ValueError(f"seed must be >= 0, got {cfg.seed}")
    if not isinstance(cfg.generator_kwargs, dict):
        raise ValueError("generator_kwargs must be an object of the generator's settings")
    for key in ("total_steps", "device", "rollout_steps"):
        if key in cfg.generator_kwargs:
            raise ValueError(f"generator_kwargs must not set {key!r}: it follows steps, device and round_steps")


def positive_widths(name: str, widths: Any) -> tuple[int, ...]:
    """``widths`` as a tuple of ints; ``ValueError`` naming ``name`` when one is < 1."""
    hidden = tuple(int(h) for h in widths)
    if any(h < 1 for h in hidden):
        raise ValueError(f"{name} widths must be >= 1, got {widths}")
    return hidden


class TailAverage:
    """The running mean of a module's weights over the rounds from ``first`` (1-based) on.

    ``update(module)`` once per round; ``result(module)`` is a frozen CPU copy of the mean, or of
    ``module`` itself when no round was averaged.
    """

    def __init__(self, module: torch.nn.Module, rounds: int, average_from: float) -> None:
        self.mean = copy.deepcopy(module).requires_grad_(False)
        self.first = min(rounds, max(1, math.ceil(average_from * rounds)))
        self.round = self.count = 0

    def update(self, module: torch.nn.Module) -> None:
        self.round += 1
        if self.round < self.first:
            return
        self.count += 1
        with torch.no_grad():
            for mean, now in zip(self.mean.parameters(), module.parameters(), strict=True):
                mean.lerp_(now, 1.0 / self.count)

    def result(self, module: torch.nn.Module) -> torch.nn.Module:
        return (self.mean if self.count else copy.deepcopy(module).requires_grad_(False)).cpu()

    def state_dict(self) -> dict[str, Any]:
        """The mean's weights and the rounds counted (for a checkpoint)."""
        return {"mean": self.mean.state_dict(), "round": self.round, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean.load_state_dict(state["mean"])
        self.round, self.count = int(state["round"]), int(state["count"])


def transitions_state(tr: Any) -> dict[str, np.ndarray]:
    """A :class:`~irl.solvers.agent.Transitions` as a dict of its arrays (for a checkpoint)."""
    return {f.name: np.asarray(getattr(tr, f.name)) for f in dataclasses.fields(tr)}


def transitions_from_state(state: dict[str, Any]) -> Any:
    """The :class:`~irl.solvers.agent.Transitions` that :func:`transitions_state` gave."""
    from irl.solvers.agent import Transitions

    return Transitions(**{f.name: np.asarray(state[f.name]) for f in dataclasses.fields(Transitions)})


def fit_on_env(task: Any, name: str, cpu_threads: int | None, fit_env: Callable[[Any, float], Any]) -> Any:
    """``fit_env(env, start)`` on the env of ``task`` (an :class:`~irl.inverse.common.EnvTask`), with
    ``cpu_threads`` torch threads, the env closed afterwards; ``start`` is the ``perf_counter`` at the call.
    The shared entry of the sampled algorithms' ``fit``; ``TypeError`` for a task that is not an env."""
    from irl.envs import make_env
    from irl.inverse.common import EnvTask
    from irl.solvers.training import torch_threads

    if not isinstance(task, EnvTask):
        raise TypeError(f"{name} samples an env: give an EnvTask(env_id, env_kwargs), got {type(task).__name__}")
    start = time.perf_counter()
    env = make_env(task.env_id, task.env_kwargs)
    try:
        with torch_threads(cpu_threads):
            return fit_env(env, start)
    finally:
        env.close()
