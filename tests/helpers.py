"""Shared by the tests: demos of a hand-written policy rolled out in a gymnasium env, random transition
arrays, curves without their wall times, a package made to look uninstalled, and a fit interrupted as it
wrote its first checkpoint."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from irl.data import Demos


def rollout_demos(env_id: str, act: Callable[[Any, np.random.Generator], Any], episodes: int, seed: int, *,
                  env_kwargs: dict | None = None, dtypes: tuple = (np.float32, np.float32)) -> Demos:
    """``episodes`` episodes of ``act(obs, rng)`` in ``gym.make(env_id, **env_kwargs)``, episode ``e`` reset with
    seed ``seed + e``, the env's rewards kept. ``dtypes`` are the observations' and the actions'."""
    env_kwargs = dict(env_kwargs or {})
    rng = np.random.default_rng(seed)
    env = gym.make(env_id, **env_kwargs)
    out = []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        rows: dict[str, list] = {"observations": [], "actions": [], "next_observations": [], "rewards": []}
        while True:
            action = act(obs, rng)
            nxt, reward, terminated, truncated, _ = env.step(action)
            for key, value in zip(rows, (obs, action, nxt, reward), strict=True):
                rows[key].append(value)
            if terminated or truncated:
                break
            obs = nxt
        obs_dtype, act_dtype = dtypes
        out.append({"observations": np.asarray(rows["observations"], obs_dtype),
                    "actions": np.asarray(rows["actions"], act_dtype),
                    "next_observations": np.asarray(rows["next_observations"], obs_dtype),
                    "rewards": np.asarray(rows["rewards"], np.float32),
                    "terminated": terminated, "truncated": truncated and not terminated})
    env.close()
    return Demos.from_episodes(out, metadata={"env": {"id": env_id, "kwargs": env_kwargs}})


def untimed(curve: list[dict]) -> list[dict]:
    """The curve records without their wall time (the one field a seed does not fix)."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in curve]


def random_transitions(rng: np.random.Generator, S: int, A: int, *, deterministic: bool) -> np.ndarray:
    """Dense ``(S, A, S)`` transitions: one random successor per pair, or peaked random rows."""
    if deterministic:
        P = np.zeros((S, A, S))
        P[np.arange(S)[:, None], np.arange(A)[None, :], rng.integers(0, S, size=(S, A))] = 1.0
        return P
    P = rng.random((S, A, S)) ** 3
    return P / P.sum(-1, keepdims=True)


def hide_package(monkeypatch: Any, package: str) -> None:
    """Makes every ``import package`` (and of its submodules) raise ImportError, as if it were not installed."""
    real_import = builtins.__import__

    def guarded(name, *args, **kwargs):
        if name == package or name.startswith(package + "."):
            raise ImportError(f"No module named {package!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guarded)


def fit_interrupted_at_first_checkpoint(out: Any, demos: Any, **kwargs: Any) -> Any:
    """``run_fit(demos, out=out, **kwargs)`` asked to stop (as Ctrl-C does) while it writes its first checkpoint:
    it raises RunInterrupted once that checkpoint is written. Returns the RunInterrupted."""
    import pytest

    from irl.checkpoint import RunInterrupted
    from irl.runs.fit import run_fit
    from irl.runs.resume import RunCheckpoints

    store = RunCheckpoints._store

    def store_then_stop(self, iteration, state):
        store(self, iteration, state)
        self.checkpoint.request_stop()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RunCheckpoints, "_store", store_then_stop)
        with pytest.raises(RunInterrupted) as info:
            run_fit(demos, out=out, **kwargs)
    return info.value
