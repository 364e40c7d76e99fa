"""Demos: the one in-memory type for demonstrations (flat arrays over all steps of all episodes)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from irl.data.env_check import validate_against_env
from irl.data.validation import DemoFormatError, validate_arrays, validate_metadata

_ARRAY_FIELDS = ("observations", "actions", "next_observations", "terminals", "timeouts", "episode_starts",
                 "rewards")


def _read_only(key: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as error:  # e.g. a ragged nested list
        raise DemoFormatError(f"'{key}' cannot be made into an array: {error}") from None
    # A read-only view, so the arrays of a frozen Demos cannot be changed through it.
    view = array.view()
    view.setflags(write=False)
    return view


@dataclass(frozen=True, eq=False)
class Demos:
    """Demonstrations: N steps in E episodes, stored flat; always valid (checked on construction).

    Constructing one checks the arrays and metadata (see ``validate_arrays``) and raises
    DemoFormatError if they are invalid; :meth:`build` also checks them against the env.
    The arrays are read-only views.
    """

    observations: np.ndarray
    """(N, *obs_shape) numeric: the state s_t at each step."""
    actions: np.ndarray
    """(N, *act_shape) integer or float: the action a_t taken at each step."""
    next_observations: np.ndarray
    """(N, *obs_shape), same dtype as observations: the state s_{t+1} the step led to."""
    terminals: np.ndarray
    """(N,) bool: the episode ended here by termination (only an episode's last step may be True)."""
    timeouts: np.ndarray
    """(N,) bool: the episode ended here by a time limit (only an episode's last step may be True)."""
    episode_starts: np.ndarray
    """(E,) integer: index of each episode's first step; starts at 0, strictly increasing."""
    rewards: np.ndarray | None = None
    """(N,) float or None: the true reward r_t, if known."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Parsed metadata: format_version, env ({"id", "kwargs"} or None), discount, provenance, extras."""

    def __post_init__(self) -> None:
        arrays = {key: getattr(self, key) for key in _ARRAY_FIELDS}
        if arrays["rewards"] is None:
            del arrays["rewards"]
        arrays = {key: _read_only(key, value) for key, value in arrays.items()}
        validate_arrays(**arrays)
        for key, array in arrays.items():
            object.__setattr__(self, key, array)  # frozen: __post_init__ is the one place that may set
        metadata = {} if self.metadata is None else self.metadata
        object.__setattr__(self, "metadata", validate_metadata(metadata))

    @classmethod
    def build(
        cls,
        *,
        observations: Any,
        actions: Any,
        next_observations: Any,
        terminals: Any,
        timeouts: Any,
        episode_starts: Any,
        rewards: Any = None,
        metadata: Mapping[str, Any] | None = None,
        check_env: bool = True,
    ) -> Demos:
        """Returns validated Demos; with check_env, also checks them against the env the metadata names."""
        demos = cls(observations=observations, actions=actions, next_observations=next_observations,
                    terminals=terminals, timeouts=timeouts, episode_starts=episode_starts,
                    rewards=rewards, metadata=dict(metadata or {}))
        if check_env:
            demos.check_env()
        return demos

    @classmethod
    def from_episodes(
        cls,
        episodes: Sequence[Mapping[str, Any]],
        *,
        metadata: Mapping[str, Any] | None = None,
        check_env: bool = True,
    ) -> Demos:
        """Returns Demos joining episodes given one by one.

        Each episode is a mapping with ``observations`` (T, *obs_shape), ``actions`` (T, *act_shape),
        ``next_observations`` (T, *obs_shape), optional ``rewards`` (T,), and bools ``terminated``
        and ``truncated`` saying how its last step ended (both default to False).
        """
        if len(episodes) == 0:
            raise DemoFormatError("from_episodes needs at least one episode")
        allowed = {"observations", "actions", "next_observations", "rewards", "terminated", "truncated"}
        has_rewards = "rewards" in episodes[0]
        lengths = []
        for i, episode in enumerate(episodes):
            unknown = sorted(set(episode) - allowed)
            if unknown:
                raise DemoFormatError(f"episode {i} has unknown keys {unknown}")
            missing = sorted({"observations", "actions", "next_observations"} - set(episode))
            if missing:
                raise DemoFormatError(f"episode {i} lacks keys {missing}")
            if ("rewards" in episode) != has_rewards:
                raise DemoFormatError(f"episode {i} {'lacks' if has_rewards else 'has'} 'rewards', "
                                      "unlike episode 0; give rewards for all episodes or none")
            lengths.append(len(episode["observations"]))
            if lengths[-1] == 0:
                raise DemoFormatError(f"episode {i} has no steps")
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        ends = starts + np.asarray(lengths)
        terminals = np.zeros(ends[-1], dtype=bool)
        timeouts = np.zeros(ends[-1], dtype=bool)
        terminals[ends - 1] = [bool(ep.get("terminated", False)) for ep in episodes]
        timeouts[ends - 1] = [bool(ep.get("truncated", False)) for ep in episodes]

        def joined(key: str) -> np.ndarray:
            try:
                return np.concatenate([np.asarray(ep[key]) for ep in episodes])
            except ValueError as error:
                raise DemoFormatError(f"episodes' '{key}' cannot be joined: {error}") from None

        return cls.build(observations=joined("observations"), actions=joined("actions"),
                         next_observations=joined("next_observations"), terminals=terminals,
                         timeouts=timeouts, episode_starts=starts,
                         rewards=joined("rewards") if has_rewards else None, metadata=metadata,
                         check_env=check_env)

    def check_env(self) -> None:
        """Returns None if the demos fit the env named in the metadata (if any); raises otherwise."""
        if self.env_id is not None:
            validate_against_env(observations=self.observations, actions=self.actions,
                                 next_observations=self.next_observations, env_id=self.env_id,
                                 env_kwargs=self.env_kwargs)

    def arrays(self) -> dict[str, np.ndarray]:
        """Returns the arrays by file key (without ``rewards`` when absent, without metadata)."""
        arrays = {key: getattr(self, key) for key in _ARRAY_FIELDS}
        if self.rewards is None:
            del arrays["rewards"]
        return arrays

    # -- sizes and indexing ---------------------------------------------------------------------

    @property
    def n_steps(self) -> int:
        """Returns N, the number of steps over all episodes."""
        return len(self.observations)

    @property
    def n_episodes(self) -> int:
        """Returns E, the number of episodes."""
        return len(self.episode_starts)

    def __len__(self) -> int:
        return self.n_episodes

    @property
    def episode_ends(self) -> np.ndarray:
        """Returns (E,) int64: one past the index of each episode's last step."""
        return np.append(self.episode_starts[1:], self.n_steps).astype(np.int64)

    @property
    def episode_lengths(self) -> np.ndarray:
        """Returns (E,) int64: the number of steps in each episode."""
        return self.episode_ends - self.episode_starts.astype(np.int64)

    @property
    def episode_index(self) -> np.ndarray:
        """Returns (N,) int64: the episode each step belongs to."""
        return np.repeat(np.arange(self.n_episodes, dtype=np.int64), self.episode_lengths)

    @property
    def timestep(self) -> np.ndarray:
        """Returns (N,) int64: each step's index within its episode."""
        starts = np.repeat(self.episode_starts.astype(np.int64), self.episode_lengths)
        return np.arange(self.n_steps, dtype=np.int64) - starts

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Returns obs_shape, the shape of one observation."""
        return tuple(self.observations.shape[1:])

    @property
    def action_shape(self) -> tuple[int, ...]:
        """Returns act_shape, the shape of one action."""
        return tuple(self.actions.shape[1:])

    def _steps(self, start: int, stop: int, episode_starts: np.ndarray, metadata: dict[str, Any]) -> Demos:
        return Demos(
            observations=self.observations[start:stop], actions=self.actions[start:stop],
            next_observations=self.next_observations[start:stop], terminals=self.terminals[start:stop],
            timeouts=self.timeouts[start:stop], episode_starts=episode_starts,
            rewards=None if self.rewards is None else self.rewards[start:stop], metadata=metadata)

    def episode(self, i: int) -> Demos:
        """Returns the i-th episode (negative i counts from the end) as Demos of one episode."""
        if not -self.n_episodes <= i < self.n_episodes:
            raise IndexError(f"episode {i} out of range for {self.n_episodes} episodes")
        i %= self.n_episodes
        start, stop = int(self.episode_starts[i]), int(self.episode_ends[i])
        return self._steps(start, stop, np.zeros(1, dtype=self.episode_starts.dtype), self.metadata)

    def __iter__(self) -> Iterator[Demos]:
        return (self.episode(i) for i in range(self.n_episodes))

    def take(self, k: int) -> Demos:
        """Returns the first k episodes (1 <= k <= E); provenance records the cut."""
        if not 1 <= k <= self.n_episodes:
            raise ValueError(f"take needs 1 <= k <= {self.n_episodes} episodes, got k = {k}")
        metadata = dict(self.metadata, provenance={"how": "take", "n_episodes": k, "of": self.n_episodes,
                                                   "source": self.metadata["provenance"]})
        return self._steps(0, int(self.episode_ends[k - 1]), self.episode_starts[:k], metadata)

    @classmethod
    def concatenate(cls, parts: Sequence[Demos]) -> Demos:
        """Returns the parts joined in order; metadata from the first, provenance lists every part's.

        Raises DemoFormatError unless all parts share observation and action shapes and dtypes,
        env (id and kwargs), discount, and all have rewards or none do.
        """
        if len(parts) == 0:
            raise DemoFormatError("concatenate needs at least one Demos")
        first = parts[0]
        for i, part in enumerate(parts[1:], start=1):
            for what, mine, theirs in (
                ("observation shape", part.observation_shape, first.observation_shape),
                ("observation dtype", part.observations.dtype, first.observations.dtype),
                ("action shape", part.action_shape, first.action_shape),
                ("action dtype", part.actions.dtype, first.actions.dtype),
                ("env id", part.env_id, first.env_id),
                ("env kwargs", part.env_kwargs, first.env_kwargs),
                ("discount", part.discount, first.discount),
                ("has rewards", part.rewards is not None, first.rewards is not None),
            ):
                if mine != theirs:
                    raise DemoFormatError(f"cannot concatenate: part {i} has {what} {mine!r}, "
                                          f"part 0 has {theirs!r}")
        offsets = np.cumsum([0] + [part.n_steps for part in parts[:-1]])
        metadata = dict(first.metadata, provenance={"how": "concatenate",
                                                    "parts": [p.metadata["provenance"] for p in parts]})

        def joined(key: str) -> np.ndarray:
            return np.concatenate([getattr(part, key) for part in parts])

        return cls(
            observations=joined("observations"), actions=joined("actions"),
            next_observations=joined("next_observations"), terminals=joined("terminals"),
            timeouts=joined("timeouts"),
            episode_starts=np.concatenate([part.episode_starts.astype(np.int64) + offset
                                           for part, offset in zip(parts, offsets, strict=True)]),
            rewards=None if first.rewards is None else joined("rewards"), metadata=metadata)

    # -- rewards and metadata ---------------------------------------------------------------------

    def episode_returns(self) -> np.ndarray:
        """Returns (E,) float64: the undiscounted sum of rewards in each episode."""
        if self.rewards is None:
            raise ValueError("these demos have no 'rewards', so episode returns are unknown")
        return np.add.reduceat(self.rewards.astype(np.float64), self.episode_starts.astype(np.int64))

    @property
    def env_id(self) -> str | None:
        """Returns the gymnasium id of the env the demos came from, or None if not recorded."""
        env = self.metadata["env"]
        return None if env is None else env["id"]

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """Returns a copy of the kwargs to ``gymnasium.make`` the env with ({} if no env recorded)."""
        env = self.metadata["env"]
        return {} if env is None else dict(env["kwargs"])

    @property
    def discount(self) -> float | None:
        """Returns the discount the demos were made with, or None if not recorded."""
        discount = self.metadata["discount"]
        return None if discount is None else float(discount)

    @property
    def horizon(self) -> int | None:
        """Returns the episode horizon the demos were made with, or None if not recorded."""
        return self.metadata.get("horizon")

    def summary(self) -> dict[str, Any]:
        """Returns a JSON-serialisable dict of sizes, episode lengths, returns, env and shapes."""
        lengths = self.episode_lengths
        summary: dict[str, Any] = {
            "n_steps": self.n_steps,
            "n_episodes": self.n_episodes,
            "episode_length": {"min": int(lengths.min()), "mean": float(lengths.mean()),
                               "max": int(lengths.max())},
            "n_terminated": int(self.terminals.sum()),
            "n_truncated": int(self.timeouts.sum()),
            "return": None,
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "discount": self.discount,
            "horizon": self.horizon,
            "observation_shape": list(self.observation_shape),
            "observation_dtype": str(self.observations.dtype),
            "action_shape": list(self.action_shape),
            "action_dtype": str(self.actions.dtype),
            "format_version": self.metadata["format_version"],
        }
        if self.rewards is not None:
            returns = self.episode_returns()
            # std over episodes with ddof=0: the spread of these demos, not an estimate of a population's.
            summary["return"] = {"mean": float(returns.mean()), "std": float(returns.std()),
                                 "min": float(returns.min()), "max": float(returns.max())}
        return summary

    def __repr__(self) -> str:
        return (f"Demos(n_steps={self.n_steps}, n_episodes={self.n_episodes}, env_id={self.env_id!r}, "
                f"observation_shape={self.observation_shape}, action_shape={self.action_shape}, "
                f"rewards={'yes' if self.rewards is not None else 'no'})")
