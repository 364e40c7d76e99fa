"""What the sampled forward solvers (soft_q, sac, policy_gradient) share.

Every sampled solver has the same entry point::

    train(env, *, config=None, reward_model=None, demos=None, seed=0, callback=None,
          progress=False, **overrides) -> TrainResult

- ``env``: a gymnasium env or an env id (made with ``gymnasium.make``).
- ``config`` / ``overrides``: the solver's config dataclass; keyword overrides replace
  its fields (an unknown name is a TypeError). Every config has ``total_steps``.
- ``reward_model``: a callable on torch batches ``(obs, act, next_obs) -> (N,)``
  (see :class:`RewardFunction` for the tensors it gets). When given, the env's reward
  is ignored for learning; the curve and ``eval_return`` still report the env's.
- ``callback(record)``: called after each finished training episode with its curve
  record; returning ``False`` stops training early.
- ``progress``: report progress over env steps on stderr (a bar in a terminal, a line
  every few seconds otherwise; :func:`irl._progress.progress`).

This module holds the result type, :func:`evaluate_policy`, the reward seam, the
episode log, observation encoding and the registry that rebuilds a policy from its spec.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from irl._progress import progress as progress_reporter

__all__ = [
    "EpisodeLog",
    "ObsEncoder",
    "RewardFunction",
    "TrainResult",
    "evaluate_policy",
    "make_env",
    "policy_from_spec",
    "register_policy",
    "resolve_config",
    "space_spec",
]

#: episode cap of :func:`evaluate_policy` for envs without a time limit
DEFAULT_EVAL_STEP_CAP = 1000


class SetupError(TypeError, ValueError):
    """A solver cannot run as asked on this env, config or data; raised before the first env step.

    A ``TypeError`` (wrong kind of space) and a ``ValueError`` (wrong setting), so callers of
    either kind catch it; the CLI reports it as bad input.
    """


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What a solver's ``train`` returns.

    Fields:
        policy: an ``nn.Module`` with ``act(obs, deterministic=False) -> np.ndarray`` (one
            observation or a batch), ``spec() -> dict`` (JSON-able, with ``"kind"``) and a
            ``from_spec`` classmethod; ``policy_from_spec(spec)`` rebuilds it (then load weights).
        curve: one dict per finished training episode, with at least ``step`` (env steps so
            far), ``episode`` (1-based), ``true_return`` (the env's reward) and ``length``.
        eval_return: mean true return of ``evaluate_policy`` after training (deterministic, seeded).
        steps: env steps taken in training.
        seconds: wall-clock seconds of training (evaluation excluded).
        steps_per_second: ``steps / seconds``.
        info: solver-specific extras (e.g. the final Q table).
    """

    policy: nn.Module
    curve: list[dict[str, Any]]
    eval_return: float
    steps: int
    seconds: float
    steps_per_second: float
    info: dict[str, Any] = field(default_factory=dict)


def make_env(env: gymnasium.Env | str) -> gymnasium.Env:
    """Returns ``env`` itself, or ``gymnasium.make(env)`` for an id (our ``irl/...`` ids registered)."""
    if isinstance(env, str):
        import irl.envs  # noqa: F401  (registers irl/Gridworld-v0 and irl/Objectworld-v0)

        return gymnasium.make(env)
    if not isinstance(env, gymnasium.Env):
        raise TypeError(f"env must be a gymnasium env or an env id, got {type(env).__name__}")
    return env


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


def time_limit(env: gymnasium.Env) -> int | None:
    """The env's ``max_episode_steps`` (its TimeLimit), or None."""
    spec = env.spec or env.unwrapped.spec
    return None if spec is None else spec.max_episode_steps


def env_action(action: np.ndarray, space: spaces.Space) -> Any:
    """One policy action as the env wants it: an int for Discrete, a float32 array for Box."""
    if isinstance(space, spaces.Discrete):
        return int(action)
    return np.asarray(action, dtype=np.float32).reshape(space.shape)


def evaluate_policy(env: gymnasium.Env | str, policy: Any, episodes: int = 10, seed: int = 0, *,
                    max_episode_steps: int | None = None) -> float:
    """Returns the mean true return of ``policy.act(obs, deterministic=True)`` over ``episodes`` episodes.

    Episode ``i`` starts from ``env.reset(seed=seed + i)``. The env's own reward is
    counted (``info["true_reward"]`` when the env wears a ``LearnedRewardWrapper``).
    Episodes stop at termination, truncation, or after ``max_episode_steps`` (default:
    the env's time limit, else ``DEFAULT_EVAL_STEP_CAP``), so a policy that loops
    forever in an env without a time limit still gets a (poor) finite score.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = make_env(env)
    cap = max_episode_steps or time_limit(env) or DEFAULT_EVAL_STEP_CAP
    returns = []
    with torch.no_grad():
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            total = 0.0
            for _ in range(cap):
                action = env_action(policy.act(np.asarray(obs), deterministic=True), env.action_space)
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(info.get("true_reward", reward))
                if terminated or truncated:
                    break
            returns.append(total)
    return float(np.mean(returns))


# ------------------------------------------------------------------------------- the reward seam
def _as_tensor(x: np.ndarray, space: spaces.Space, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A batch ``(N, ...)`` as the reward models take it: int64 ``(N,)`` indices or float ``(N, *shape)``."""
    if isinstance(space, spaces.Discrete):
        return torch.as_tensor(_writable(np.asarray(x, dtype=np.int64).reshape(-1)), device=device)
    return torch.as_tensor(_writable(np.asarray(x)), device=device).to(dtype)


def _writable(x: np.ndarray) -> np.ndarray:
    """``x``, or a copy when it is read-only (torch warns on read-only arrays, e.g. the views of Demos)."""
    return x if x.flags.writeable else x.copy()


class RewardFunction:
    """The reward a solver learns from: a reward model on numpy batches, or the env's reward.

    ``reward_model(obs, act, next_obs)`` gets torch batches: Discrete spaces as ``(N,)``
    int64 indices, Box spaces as ``(N, *shape)`` floats in the model's dtype (float32 for
    a plain callable), on the model's device; a model with ``accepts_terminated`` also
    gets ``terminated`` ``(N,)`` bool. It is called without gradients.

    On Discrete observations and actions, a model that declares
    ``uses_next_state = False`` is tabulated once over all ``(s, a)`` (``table``), so a
    tabular learner looks its reward up instead of calling the model every step.
    """

    def __init__(self, reward_model: Callable[..., torch.Tensor] | None, observation_space: spaces.Space,
                 action_space: spaces.Space, *, scale: float = 1.0) -> None:
        self.model = reward_model
        self.observation_space, self.action_space = observation_space, action_space
        self.scale = float(scale)
        self.dtype = getattr(reward_model, "dtype", torch.float32)
        if not isinstance(self.dtype, torch.dtype) or not self.dtype.is_floating_point:
            self.dtype = torch.float32
        self.device = getattr(reward_model, "device", torch.device("cpu"))
        self.table = self._tabulate()

    @property
    def learned(self) -> bool:
        """Whether a reward model replaces the env's reward."""
        return self.model is not None

    def _tabulate(self) -> np.ndarray | None:
        if self.model is None or getattr(self.model, "uses_next_state", True):
            return None
        if not (isinstance(self.observation_space, spaces.Discrete)
                and isinstance(self.action_space, spaces.Discrete)):
            return None
        S, A = int(self.observation_space.n), int(self.action_space.n)
        if S * A > 1_000_000:
            return None
        s = np.repeat(np.arange(S), A)
        a = np.tile(np.arange(A), S)
        return self._call(s, a, s, np.zeros(S * A, dtype=bool)).reshape(S, A)

    def _call(self, obs, act, next_obs, terminated) -> np.ndarray:
        o = _as_tensor(obs, self.observation_space, self.dtype, self.device)
        a = _as_tensor(act, self.action_space, self.dtype, self.device)
        o2 = _as_tensor(next_obs, self.observation_space, self.dtype, self.device)
        extra = {}
        if getattr(self.model, "accepts_terminated", False):
            extra["terminated"] = torch.as_tensor(np.asarray(terminated, dtype=bool).reshape(-1),
                                                  device=self.device)
        with torch.no_grad():
            r = self.model(o, a, o2, **extra)
        r = r.detach().to("cpu", torch.float64).numpy().reshape(-1)
        if r.shape[0] != o.shape[0]:
            raise ValueError(f"reward_model returned {r.shape[0]} rewards for a batch of {o.shape[0]}")
        return r

    def batch(self, obs: np.ndarray, act: np.ndarray, next_obs: np.ndarray, terminated: np.ndarray,
              env_reward: np.ndarray) -> np.ndarray:
        """Returns ``(N,)`` float64 rewards to learn from: the model's, or ``env_reward``; times ``scale``."""
        if self.model is None:
            r = np.array(env_reward, dtype=np.float64).reshape(-1)  # a copy: callers may get read-only views
        elif self.table is not None:
            s, a = np.asarray(obs, dtype=np.int64).reshape(-1), np.asarray(act, dtype=np.int64).reshape(-1)
            r = self.table[s, a]
        else:
            r = self._call(obs, act, next_obs, terminated)
        return r * self.scale if self.scale != 1.0 else r

    def one(self, obs: Any, act: Any, next_obs: Any, terminated: bool, env_reward: float) -> float:
        """Returns the reward of one transition as a float (fast path for tabular learners)."""
        if self.model is None:
            return float(env_reward) * self.scale
        if self.table is not None:
            return float(self.table[int(obs), int(act)]) * self.scale
        return float(self.batch(np.asarray(obs)[None], np.asarray(act)[None], np.asarray(next_obs)[None],
                                np.asarray([terminated]), np.zeros(1))[0])


# ------------------------------------------------------------------------------- the episode log
class EpisodeLog:
    """Accumulates the env's reward per episode, writes curve records, drives the callback and the bar.

    ``step(true_reward)`` after each env step; ``end_episode(**extra)`` when an episode ends
    returns False when the callback asks to stop.
    """

    def __init__(self, total_steps: int, callback: Callable[[dict], Any] | None, progress: bool,
                 desc: str = "train") -> None:
        self.curve: list[dict[str, Any]] = []
        self.steps = 0
        self._return = 0.0
        self._length = 0
        self.callback = callback
        self.bar = progress_reporter(total_steps, desc, enabled=progress, unit="steps")
        self.start = time.perf_counter()

    def step(self, true_reward: float) -> None:
        self.steps += 1
        self._return += true_reward
        self._length += 1
        if not self.bar.disable:
            self.bar.update(1)

    def end_episode(self, **extra: Any) -> bool:
        record = {"step": self.steps, "episode": len(self.curve) + 1, "true_return": self._return,
                  "length": self._length, **extra}
        self.curve.append(record)
        self._return, self._length = 0.0, 0
        if not self.bar.disable:
            self.bar.set_postfix(true_return=f"{record['true_return']:.3g}", refresh=False)
        stop = self.callback is not None and self.callback(record) is False
        return not stop

    def finish(self, policy: nn.Module, env: gymnasium.Env, eval_episodes: int, seed: int,
               info: dict[str, Any] | None = None) -> TrainResult:
        """Closes the bar, evaluates ``policy`` and returns the :class:`TrainResult`."""
        seconds = time.perf_counter() - self.start
        self.bar.close()
        eval_return = (evaluate_policy(env, policy, episodes=eval_episodes, seed=seed) if eval_episodes
                       else math.nan)
        return TrainResult(policy=policy, curve=self.curve, eval_return=eval_return, steps=self.steps,
                           seconds=seconds, steps_per_second=self.steps / max(seconds, 1e-9), info=info or {})


# ----------------------------------------------------------------------------- observation encoding
def space_spec(space: spaces.Space, *, bounds: bool = False) -> dict[str, Any]:
    """Strict-JSON description of a Discrete or Box space; ``bounds`` adds a Box's low/high (None: none)."""
    if isinstance(space, spaces.Discrete):
        return {"type": "discrete", "n": int(space.n)}
    if isinstance(space, spaces.Box):
        spec: dict[str, Any] = {"type": "box", "shape": list(space.shape)}
        if bounds:
            for key, values in (("low", space.low), ("high", space.high)):
                flat = np.asarray(values, dtype=np.float64).reshape(-1)
                spec[key] = [float(v) if np.isfinite(v) else None for v in flat]
        return spec
    raise SetupError(f"only Discrete and Box spaces are supported, got {type(space).__name__}")


def box_bounds(spec: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(low, high)`` float32 tensors of a Box spec from ``space_spec(..., bounds=True)`` (None: ∓inf)."""
    low = [-math.inf if v is None else v for v in spec["low"]]
    high = [math.inf if v is None else v for v in spec["high"]]
    return torch.tensor(low, dtype=torch.float32), torch.tensor(high, dtype=torch.float32)


class ObsEncoder:
    """Turns observations into float network inputs: one-hot for Discrete, flattened for Box.

    ``encode(obs)`` takes one observation or a batch (numpy or torch) and returns
    ``(tensor (N, dim), was_single)``.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.discrete = spec["type"] == "discrete"
        self.shape: tuple[int, ...] = () if self.discrete else tuple(spec["shape"])
        self.dim = int(spec["n"]) if self.discrete else int(np.prod(self.shape, dtype=np.int64))

    def encode(self, obs: Any, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, bool]:
        x = obs if isinstance(obs, torch.Tensor) else torch.as_tensor(_writable(np.asarray(obs)))
        single = x.ndim == len(self.shape)
        if single:
            x = x.unsqueeze(0)
        if self.discrete:
            return nn.functional.one_hot(x.long().reshape(-1), self.dim).to(dtype), single
        return x.reshape(x.shape[0], self.dim).to(dtype), single


# --------------------------------------------------------------------------------- policy registry
_POLICY_KINDS: dict[str, type] = {}


def register_policy(kind: str) -> Callable[[type], type]:
    """Class decorator: ``policy_from_spec({"kind": kind, ...})`` rebuilds with that class's ``from_spec``."""

    def decorate(cls: type) -> type:
        cls.kind = kind
        _POLICY_KINDS[kind] = cls
        return cls

    return decorate


def policy_from_spec(spec: dict[str, Any]) -> nn.Module:
    """Returns a freshly built policy for ``spec`` (initial weights; load the saved state dict after)."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"a policy spec must be a dict with a 'kind' key, got {spec!r}")
    if spec["kind"] not in _POLICY_KINDS:
        # the solver modules register their kinds on import
        for module in ("soft_q", "policy_gradient", "sac"):
            try:
                importlib.import_module(f"irl.solvers.{module}")
            except ModuleNotFoundError as error:
                if error.name != f"irl.solvers.{module}":
                    raise
    cls = _POLICY_KINDS.get(spec["kind"])
    if cls is None:
        raise ValueError(f"unknown policy kind {spec['kind']!r} (known: {', '.join(sorted(_POLICY_KINDS))})")
    return cls.from_spec(spec)
