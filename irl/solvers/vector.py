"""Several copies of one env stepped together (``gymnasium.vector``), for the on-policy generators.

:class:`VectorEnvStepper` does for ``n_envs`` copies what :class:`irl.solvers.agent.EnvStepper`
does for one env: seeded resets, the solver's episode cap, true returns per copy, the episode log.

Autoreset: the vector env is built with gymnasium's *same-step* mode (``AutoresetMode.SAME_STEP``,
gymnasium >= 1.1). A step that ends an episode then returns the next episode's first observation,
and the observation the episode ended in comes in ``info["final_obs"]``; :meth:`VectorEnvStepper.step`
hands back the latter as the step's ``next_obs``, so a reset observation is never the successor of
a transition, and every env step is a transition (the default *next-step* mode spends one step of
each copy per episode on a reset that is no transition at all).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from irl.solvers.spaces import SetupError

__all__ = ["VECTOR_MODES", "VectorEnvStepper", "make_vector_env"]

VECTOR_MODES = ("sync", "async")


def _copy_env(env: gymnasium.Env, max_episode_steps: int | None) -> gymnasium.Env:
    """A fresh deep copy of ``env`` (wrappers and all), cut after ``max_episode_steps`` when given."""
    env = copy.deepcopy(env)
    return env if max_episode_steps is None else gymnasium.wrappers.TimeLimit(env, max_episode_steps)


def make_vector_env(env: gymnasium.Env, n_envs: int, mode: str = "sync",
                    max_episode_steps: int | None = None) -> gymnasium.vector.VectorEnv:
    """``n_envs`` deep copies of ``env`` as one same-step-autoreset vector env ("sync": stepped in
    turn in this process; "async": one worker process each); ``env`` itself is left alone."""
    if mode not in VECTOR_MODES:
        raise SetupError(f"vector env mode must be one of {list(VECTOR_MODES)}, got {mode!r}")
    autoreset = getattr(gymnasium.vector, "AutoresetMode", None)
    if autoreset is None:
        raise SetupError(f"several envs need gymnasium >= 1.1 (same-step autoreset); this is {gymnasium.__version__}")
    for name, space in (("observation", env.observation_space), ("action", env.action_space)):
        if not isinstance(space, (spaces.Discrete, spaces.Box)):
            raise SetupError(f"several envs need Discrete or Box {name} spaces, got {type(space).__name__}")
    factories = [functools.partial(_copy_env, env, max_episode_steps)] * n_envs
    cls = gymnasium.vector.SyncVectorEnv if mode == "sync" else gymnasium.vector.AsyncVectorEnv
    vec = cls(factories, autoreset_mode=autoreset.SAME_STEP)
    if vec.metadata.get("autoreset_mode") != autoreset.SAME_STEP:  # what step() below relies on
        vec.close()
        raise SetupError(f"the vector env autoresets in mode {vec.metadata.get('autoreset_mode')}, not same-step")
    return vec


class VectorEnvStepper:
    """Steps ``n_envs`` copies of an env together for a generator.

    Args:
        env: the env to copy (it is not stepped itself).
        n_envs: the number of copies.
        seed: copy ``i`` is first reset with ``seed + i`` (later resets continue its RNG).
        mode: "sync" or "async" (:func:`make_vector_env`).
        max_episode_steps: cut episodes after this many steps (None: only the env's own limits).
        log: an :class:`irl.solvers.training.EpisodeLog` (curve, callback, progress), or None.
        extras: called at each episode end for the curve record's extra fields.

    ``obs`` holds the current observation of every copy ``(n_envs, *obs_shape)``; ``steps`` counts
    env steps over all copies; ``stopped`` turns True when the log's callback asks to stop.

    A checkpoint (:meth:`state_dict`) holds the counters and the finished episodes' returns, not the
    copies' episodes in progress: :meth:`load_state_dict` starts every copy on a fresh episode, seeded
    from ``seed`` and the restored step count. A resumed run is therefore not bit-identical to an
    uninterrupted one: the partial episodes at the checkpoint are dropped (their steps still count
    in ``steps``, their returns are never logged) and the episodes after it differ.
    """

    def __init__(self, env: gymnasium.Env, n_envs: int, seed: int, mode: str = "sync",
                 max_episode_steps: int | None = None, log: Any = None,
                 extras: Callable[[], dict[str, Any]] | None = None) -> None:
        self.n_envs, self.seed, self.log, self.extras = int(n_envs), int(seed), log, extras
        self.envs = make_vector_env(env, self.n_envs, mode, max_episode_steps)
        self.discrete_actions = isinstance(env.action_space, spaces.Discrete)
        self.act_shape = env.action_space.shape
        self.obs, _ = self.envs.reset(seed=[seed + i for i in range(self.n_envs)])
        self.steps = 0
        self.stopped = False
        self.episode_returns: list[float] = []
        self._returns = np.zeros(self.n_envs)
        self._lengths = np.zeros(self.n_envs, dtype=np.int64)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Steps every copy with its policy action ``(n_envs, *act_shape)``; returns ``(next_obs, env_reward,
        terminated, ended)``, each with a leading ``n_envs`` axis, where ``next_obs`` is the observation the
        step reached (the last one of an episode that ended, not the next episode's first) and ``ended``
        includes truncation; ended copies start their next episode (``obs``)."""
        if self.discrete_actions:
            actions = np.asarray(actions, dtype=np.int64).reshape(self.n_envs)
        else:
            actions = np.asarray(actions, dtype=np.float32).reshape(self.n_envs, *self.act_shape)
        obs, reward, terminated, truncated, info = self.envs.step(actions)
        reward = np.asarray(reward, dtype=np.float64)
        true_reward = np.where(info["_true_reward"], info["true_reward"], reward) if "true_reward" in info else reward
        self.steps += self.n_envs
        self._returns += true_reward
        self._lengths += 1
        if self.log is not None:
            self.log.add_steps(self.n_envs)
        ended = np.logical_or(terminated, truncated)
        next_obs = obs.copy()
        for i in np.flatnonzero(ended):
            next_obs[i] = info["final_obs"][i]
            self.episode_returns.append(float(self._returns[i]))
            if self.log is not None and not self.log.episode(float(self._returns[i]), int(self._lengths[i]),
                                                             **(self.extras() if self.extras else {})):
                self.stopped = True
            self._returns[i], self._lengths[i] = 0.0, 0
        self.obs = obs
        return next_obs, reward, np.asarray(terminated, dtype=bool), ended

    def state_dict(self) -> dict[str, Any]:
        """The stepper as a checkpoint state: the step count, the stop flag and the finished episodes' returns
        (the episodes in progress are not kept; see the class docstring)."""
        return {"steps": self.steps, "stopped": self.stopped,
                "episode_returns": np.asarray(self.episode_returns, dtype=np.float64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues from a :meth:`state_dict` with every copy on a fresh episode, copy ``i`` reset with the
        ``i``-th seed that ``SeedSequence([seed, steps])`` gives (the same seeds at each resume from it)."""
        self.steps, self.stopped = int(state["steps"]), bool(state["stopped"])
        self.episode_returns = [float(r) for r in np.asarray(state["episode_returns"], dtype=np.float64)]
        seeds = np.random.SeedSequence([self.seed % 2**64, self.steps]).generate_state(self.n_envs)
        self.obs, _ = self.envs.reset(seed=[int(s) for s in seeds])
        self._returns[:] = 0.0
        self._lengths[:] = 0

    def close(self) -> None:
        """Closes the copies (the worker processes of "async")."""
        self.envs.close()
