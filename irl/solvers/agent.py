"""The generator interface: what adversarial and sample-based IRL drive.

A generator is a forward solver that owns its env, its policy and its data, and is driven in
steps rather than run to the end::

    transitions = agent.collect(n_steps)   # act n steps with the behaviour policy
    agent.update(reward_fn)                # improve the policy on a reward (None: the env's)
    agent.policy.log_prob(obs, act)        # score any action (a discriminator needs it)
    agent.add_demos(transitions)           # let the learner see demonstrations

``reward_fn`` is the one reward seam, ``(obs, act, next_obs, terminated) -> (N,)`` on env-form
batches of torch tensors (:class:`irl.rewards.RewardFn` turns a reward model into one). SAC's ``collect`` fills
its replay buffer and its ``update`` samples from it, relabelling every batch with
``reward_fn``; policy gradient's ``update`` learns from the last collected rollout. A generator that
steps ``n_envs`` copies of its env returns each copy's steps as one block, in time order, the
blocks one after another and of equal length (:meth:`Transitions.blocks` splits them). Both
implement :class:`Generator`; :func:`irl.solvers.training.run_generator` trains either on a
fixed reward, and is what their ``train`` functions are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import gymnasium
import numpy as np
import torch

from irl.solvers.spaces import env_action

__all__ = ["EnvStepper", "Generator", "RewardFunction", "SteppingAgent", "Transitions", "env_rng_state",
           "replay_episode"]

#: ``(obs, act, next_obs, terminated) -> (N,)`` on env-form batches
RewardFunction = Callable[[Any, Any, Any, Any], torch.Tensor]


@dataclass(frozen=True, eq=False)
class Transitions:
    """N env steps in env form (numpy arrays, one row per step).

    Fields:
        observations: ``(N, *obs_shape)`` s_t (Discrete: ``(N,)`` int64 indices).
        actions: ``(N, *act_shape)`` a_t as the behaviour policy drew it (Discrete: indices;
            Box: on the env's scale; a policy-gradient Gaussian's draw before the env clips it).
        next_observations: ``(N, *obs_shape)`` s_{t+1} (the last one before a reset).
        terminated: ``(N,)`` bool: the episode ended by termination at this step.
        truncated: ``(N,)`` bool: the episode was cut here (a time limit or the solver's cap).
        log_probs: ``(N,)`` float ``log π_b(a_t|s_t)`` of the behaviour policy (NaN where unknown, e.g. demos).
        env_rewards: ``(N,)`` float the env's own reward (its true reward under a reward wrapper; NaN
            where unknown).
    """

    observations: np.ndarray
    actions: np.ndarray
    next_observations: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    log_probs: np.ndarray
    env_rewards: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.observations)
        for f in fields(self):
            value = getattr(self, f.name)
            if len(value) != n:
                raise ValueError(f"Transitions.{f.name} has {len(value)} rows, observations {n}")

    def __len__(self) -> int:
        return len(self.observations)

    @classmethod
    def concatenate(cls, parts: Sequence[Transitions]) -> Transitions:
        """The parts' rows in order."""
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def blocks(self, n: int) -> list[Transitions]:
        """The rows cut into ``n`` consecutive parts of equal length (one per env of a vector rollout)."""
        if n < 1 or len(self) % n:
            raise ValueError(f"cannot cut {len(self)} rows into {n} blocks of equal length")
        size = len(self) // n
        return [Transitions(**{f.name: getattr(self, f.name)[i * size:(i + 1) * size] for f in fields(self)})
                for i in range(n)]

    @classmethod
    def from_demos(cls, demos: Any) -> Transitions:
        """Demonstrations (:class:`irl.data.Demos`) as transitions; the behaviour log-probabilities are
        unknown (NaN), and so are the rewards of demos that have none. Every episode's last step is
        terminated or truncated (one that just stops was cut), so episodes can be told apart."""
        n = demos.n_steps
        truncated = np.asarray(demos.timeouts, dtype=bool).copy()
        last = demos.episode_ends - 1
        truncated[last] |= ~np.asarray(demos.terminals, dtype=bool)[last]  # an episode that just stops was cut
        return cls(np.array(demos.observations), np.array(demos.actions), np.array(demos.next_observations),
                   np.array(demos.terminals, dtype=bool), truncated,
                   np.full(n, np.nan), np.full(n, np.nan) if demos.rewards is None else np.array(demos.rewards, float))


class Generator(Protocol):
    """The interface of the module docstring."""

    env: gymnasium.Env
    policy: torch.nn.Module
    steps: int
    stopped: bool
    n_envs: int

    def collect(self, n_steps: int) -> Transitions: ...

    def update(self, reward_fn: RewardFunction | None = None) -> dict[str, float]: ...

    def add_demos(self, transitions: Transitions) -> None: ...

    def export_policy(self) -> torch.nn.Module: ...


class SteppingAgent:
    """What a generator that steps its env through an :class:`EnvStepper` (``self.stepper``), or copies of it
    through a :class:`irl.solvers.vector.VectorEnvStepper`, shares."""

    stepper: Any

    @property
    def steps(self) -> int:
        """Env steps collected so far."""
        return self.stepper.steps

    @property
    def stopped(self) -> bool:
        """True once the episode log's callback asked to stop."""
        return self.stepper.stopped

    @property
    def n_envs(self) -> int:
        """Copies of the env stepped together (1: the env itself)."""
        return self.stepper.n_envs


class EnvStepper:
    """Steps an env for a generator: resets, the solver's own episode cap, true returns, the episode log.

    Args:
        env: the gymnasium env.
        seed: seeds the first reset (later resets continue the env's RNG).
        max_episode_steps: cut episodes after this many steps (None: only the env's own limits).
        log: an :class:`irl.solvers.training.EpisodeLog` (curve, callback, progress), or None.
        extras: called at each episode end for the curve record's extra fields.

    ``stopped`` turns True when the log's callback asks to stop.

    Checkpoints (:meth:`state_dict`) hold the env's state in the middle of an episode by the way to
    replay it: how the episode was reset (the seed of the first reset, else the env's RNG state just
    before the reset) and the env-form actions taken since. :meth:`load_state_dict` resets the same
    way and steps those actions again (:func:`replay_episode`). That needs an env whose state is a
    function of its RNG (``env.unwrapped.np_random``) and of the actions since its reset, as
    gymnasium's classic-control, toy-text and MuJoCo envs and this package's envs are; an env
    that is not (other RNGs, outside state) fails the check of the replayed observation.
    """

    n_envs = 1

    def __init__(self, env: gymnasium.Env, seed: int, max_episode_steps: int | None = None, log: Any = None,
                 extras: Callable[[], dict[str, Any]] | None = None) -> None:
        self.env, self.max_episode_steps, self.log, self.extras = env, max_episode_steps, log, extras
        self.obs, _ = env.reset(seed=seed)
        self.length = 0
        self.steps = 0
        self.stopped = False
        self.episode_returns: list[float] = []
        self._return = 0.0
        self._reset: dict[str, Any] = {"seed": int(seed)}  # how the current episode was reset
        self._actions: list[Any] = []  # the env-form actions since that reset

    def step(self, action: Any) -> tuple[Any, float, bool, bool]:
        """Takes one env step with a policy action; returns ``(next_obs, env_reward, terminated, ended)``,
        where ``ended`` includes truncation by the env or by ``max_episode_steps``; resets after an end."""
        action = env_action(action, self.env.action_space)
        self._actions.append(action if isinstance(action, int) else action.copy())
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        true_reward = float(info.get("true_reward", reward))
        self.steps += 1
        self.length += 1
        self._return += true_reward
        if self.log is not None:
            self.log.step(true_reward)
        ended = bool(terminated or truncated or (self.max_episode_steps is not None
                                                 and self.length >= self.max_episode_steps))
        if ended:
            self.episode_returns.append(self._return)
            self._return = 0.0
            if self.log is not None and not self.log.end_episode(**(self.extras() if self.extras else {})):
                self.stopped = True
            self._reset, self._actions = {"rng": env_rng_state(self.env)}, []
            self.obs, _ = self.env.reset()
            self.length = 0
        else:
            self.obs = next_obs
        return next_obs, float(reward), bool(terminated), ended

    def state_dict(self) -> dict[str, Any]:
        """The stepper as a checkpoint state: counters, returns, the stop flag, the current observation and
        the current episode's reset and actions (the env's state, to replay). The log is its owner's to save."""
        return {"steps": self.steps, "length": self.length, "stopped": self.stopped, "return": self._return,
                "episode_returns": np.asarray(self.episode_returns, dtype=np.float64), "reset": self._reset,
                "actions": np.asarray(self._actions), "obs": np.asarray(self.obs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues from a :meth:`state_dict`: replays the episode in progress on the env (not through the
        log), then restores the counters. ValueError if the env does not come back to the saved observation."""
        actions = [env_action(a, self.env.action_space) for a in state["actions"]]
        self.obs = replay_episode(self.env, state["reset"], actions, state["obs"])
        self._reset, self._actions = state["reset"], actions
        self.steps, self.length, self.stopped = int(state["steps"]), int(state["length"]), bool(state["stopped"])
        self._return = float(state["return"])
        self.episode_returns = [float(r) for r in np.asarray(state["episode_returns"], dtype=np.float64)]


def env_rng_state(env: gymnasium.Env) -> dict[str, Any]:
    """The state of the env's own RNG (``env.unwrapped.np_random``), as its next unseeded reset will find it."""
    return env.unwrapped.np_random.bit_generator.state


def replay_episode(env: gymnasium.Env, reset: dict[str, Any], actions: Sequence[Any], obs: Any) -> Any:
    """Brings ``env`` back to a state in the middle of an episode and returns that state's observation.

    ``reset`` says how the episode began: ``{"seed": s}`` (``env.reset(seed=s)``) or ``{"rng": state}``
    (the env's RNG put in the :func:`env_rng_state` taken just before an unseeded ``env.reset()``);
    then ``env.step`` takes ``actions`` (env form) in turn. This is the saved state when the env is a
    function of its RNG and of the actions since its reset; ``obs``, the observation saved with
    them, checks it (ValueError if the replay ends elsewhere).
    """
    if "seed" in reset:
        current, _ = env.reset(seed=int(reset["seed"]))
    else:
        env.unwrapped.np_random.bit_generator.state = reset["rng"]
        current, _ = env.reset()
    for action in actions:
        current, *_ = env.step(action)
    if not np.array_equal(np.asarray(current), np.asarray(obs)):
        raise ValueError("the env did not come back to the saved observation: the env is not deterministic given "
                         "its seed and actions; it cannot resume mid-episode")
    return current
