"""What every sampled solver's ``train`` shares: its result, its episode log, its config handling.

Every sampled solver has the same entry point::

    train(env, *, config=None, reward_model=None, demos=None, seed=0, callback=None,
          progress=False, **overrides) -> TrainResult

- ``env``: a gymnasium env or an env id (made with ``gymnasium.make``).
- ``config`` / ``overrides``: the solver's config dataclass; keyword overrides replace its
  fields (an unknown name is a TypeError). Every config has ``total_steps``.
- ``reward_model``: learn from this reward instead of the env's; it goes through the one
  reward seam, :class:`irl.rewards.RewardFn` (env-form batches ``(obs, act, next_obs,
  terminated) -> (N,)``). The curve and ``eval_return`` still report the env's reward.
- ``callback(record)``: called after each finished training episode with its curve record;
  returning ``False`` stops training early.
- ``progress``: report progress over env steps on stderr (:func:`irl._progress.progress`).

SAC and policy gradient train through their generators (:mod:`irl.solvers.agent`):
:func:`run_generator` is their loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import torch
from torch import nn

from irl._progress import progress as progress_reporter
from irl.checkpoint import Checkpoint, global_rng_state, set_global_rng_state
from irl.solvers.policies import evaluate_policy

__all__ = ["EpisodeLog", "TrainResult", "resolve_config", "run_generator", "torch_threads"]


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What a solver's ``train`` returns.

    Fields:
        policy: a policy (:mod:`irl.solvers.policies`); ``policy_from_spec(policy.spec())``
            rebuilds it (then load the weights).
        curve: one dict per finished training episode, with at least ``step`` (env steps so
            far), ``episode`` (1-based), ``true_return`` (the env's reward) and ``length``.
        eval_return: mean true return of ``evaluate_policy`` after training (deterministic, seeded).
        steps: env steps taken in training.
        seconds: wall-clock seconds of training (evaluation excluded).
        steps_per_second: ``steps / seconds``.
        info: solver-specific extras (e.g. the final Q table, the generator).
    """

    policy: nn.Module
    curve: list[dict[str, Any]]
    eval_return: float
    steps: int
    seconds: float
    steps_per_second: float
    info: dict[str, Any] = field(default_factory=dict)


def resolve_config(cls: type, config: Any, overrides: dict[str, Any]) -> Any:
    """Returns ``config`` (default ``cls()``) with ``overrides`` applied; unknown names raise TypeError."""
    config = cls() if config is None else config
    if not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, got {type(config).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown {cls.__name__} field(s) {unknown}; known: {sorted(known)}")
    return dataclasses.replace(config, **overrides) if overrides else config


class EpisodeLog:
    """Accumulates the env's reward per episode, writes curve records, drives the callback and the progress.

    One env: ``step(true_reward)`` after each env step; ``end_episode(**extra)`` when an episode
    ends returns False when the callback asks to stop. Several envs keep their own returns:
    ``add_steps(n)`` after each step of them all, ``episode(true_return, length, **extra)`` per
    episode that ends (False: stop).
    """

    def __init__(self, total_steps: int | None, callback: Callable[[dict], Any] | None, progress: bool,
                 desc: str = "train") -> None:
        self.curve: list[dict[str, Any]] = []
        self.steps = 0
        self._return = 0.0
        self._length = 0
        self.callback = callback
        self.bar = progress_reporter(total_steps, desc, enabled=progress, unit="steps")
        self.start = time.perf_counter()

    def state_dict(self) -> dict[str, Any]:
        """The log as a checkpoint state: the curve so far, the step count, the current episode's partial
        return and length, and the seconds elapsed (so that a resumed log's ``seconds`` continue)."""
        return {"curve": [dict(record) for record in self.curve], "steps": self.steps, "return": self._return,
                "length": self._length, "seconds": time.perf_counter() - self.start}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues from a :meth:`state_dict`: the curve (the same list object, refilled), the counters, the
        clock and the progress report (advanced to the restored step count)."""
        self.curve[:] = [dict(record) for record in state["curve"]]
        advance = int(state["steps"]) - self.steps
        self.steps, self._return, self._length = int(state["steps"]), float(state["return"]), int(state["length"])
        self.start = time.perf_counter() - float(state["seconds"])
        if advance > 0 and not self.bar.disable:
            self.bar.update(advance)

    def step(self, true_reward: float) -> None:
        self.steps += 1
        self._return += true_reward
        self._length += 1
        if not self.bar.disable:
            self.bar.update(1)

    def add_steps(self, n: int) -> None:
        self.steps += n
        if not self.bar.disable:
            self.bar.update(n)

    def end_episode(self, **extra: Any) -> bool:
        true_return, length = self._return, self._length
        self._return, self._length = 0.0, 0
        return self.episode(true_return, length, **extra)

    def episode(self, true_return: float, length: int, **extra: Any) -> bool:
        record = {"step": self.steps, "episode": len(self.curve) + 1, "true_return": true_return,
                  "length": length, "seconds": time.perf_counter() - self.start, **extra}
        self.curve.append(record)
        if not self.bar.disable:
            self.bar.set_postfix(true_return=f"{record['true_return']:.3g}", refresh=False)
        stop = self.callback is not None and self.callback(record) is False
        return not stop

    def finish(self, policy: nn.Module, env: gymnasium.Env, eval_episodes: int, seed: int,
               info: dict[str, Any] | None = None) -> TrainResult:
        """Closes the progress report, evaluates ``policy`` and returns the :class:`TrainResult`."""
        seconds = time.perf_counter() - self.start
        self.bar.close()
        eval_return = (evaluate_policy(env, policy, episodes=eval_episodes, seed=seed) if eval_episodes
                       else math.nan)
        return TrainResult(policy=policy, curve=self.curve, eval_return=eval_return, steps=self.steps,
                           seconds=seconds, steps_per_second=self.steps / max(seconds, 1e-9), info=info or {})


def run_generator(agent: Any, *, total_steps: int, chunk: int, reward_fn: Any, log: EpisodeLog,
                  eval_episodes: int, seed: int, info: dict[str, Any] | None = None,
                  checkpoint: Checkpoint | None = None, per_episode: bool = True) -> TrainResult:
    """Trains a generator on a fixed reward: ``collect(chunk)`` then ``update(reward_fn)`` until
    ``total_steps`` env steps are taken or the callback stops it (then the last chunk is not learned
    from, so the policy returned is the one that earned the last episode).

    ``checkpoint`` (:mod:`irl.checkpoint`): resume from its restored state, and save the state
    ``{"agent", "log", "iteration", "global_rng"}`` after the update that follows each iteration:
    a finished training episode (``per_episode``; the iteration count is the curve's length; with
    ``chunk`` 1 the state is saved at the episode's end), or else one collect and update.
    """
    iteration = 0
    restored = checkpoint.restored if checkpoint is not None else None
    if restored is not None:
        agent.load_state_dict(restored["agent"])
        log.load_state_dict(restored["log"])
        set_global_rng_state(restored["global_rng"])
        iteration = int(restored["iteration"])
    while agent.steps < total_steps and not agent.stopped:
        agent.collect(min(chunk, total_steps - agent.steps))
        if agent.stopped:
            break
        agent.update(reward_fn)
        if per_episode and len(log.curve) == iteration:
            continue
        iteration = len(log.curve) if per_episode else iteration + 1
        if checkpoint is not None and checkpoint.due(iteration):
            checkpoint.save(iteration, {"agent": agent.state_dict(), "log": log.state_dict(), "iteration": iteration,
                                        "global_rng": global_rng_state()})
    return log.finish(agent.export_policy(), agent.env, eval_episodes, seed, info={"agent": agent, **(info or {})})


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Runs the block with ``n`` torch CPU threads (None: as set), then restores the previous count.

    Small networks step faster on one thread than on many (the threads' hand-offs cost more
    than they save), so the sampled solvers default to one.
    """
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
