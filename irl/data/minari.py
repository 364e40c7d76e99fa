"""Demonstrations to and from local Minari datasets (the optional ``minari`` extra).

A Minari episode of T steps holds T+1 observations (the last is where the episode ended),
T actions, rewards, terminations and truncations. Ours are flat over all steps, so episode
i maps onto steps ``episode_starts[i]`` to ``episode_starts[i+1]``: ``observations`` are the
first T observations, ``next_observations`` the last T, and ``terminals`` / ``timeouts`` are
the episode's last termination / truncation flags (Minari stops an episode at its first one).

The env spec Minari records gives the metadata's ``env`` (id and kwargs) and ``horizon`` (its
time limit). An exported dataset also keeps our whole metadata (discount, provenance) and whether
there were rewards under the dataset metadata keys ``irl_metadata`` and ``irl_has_rewards``, so
exporting and importing again loses nothing.
Datasets are found where Minari looks: ``MINARI_DATASETS_PATH``, else ``~/.minari/datasets``.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np

from irl._memory import check_fits
from irl.data.demos import Demos
from irl.data.env_check import registered_env_id
from irl.data.validation import DemoFormatError, validate_metadata

__all__ = ["MinariMissingError", "export_minari", "import_minari"]

METADATA_KEY = "irl_metadata"
"""The Minari dataset metadata key that holds our metadata, as a JSON string."""
REWARDS_KEY = "irl_has_rewards"
"""The Minari dataset metadata key that says if the exported demos had rewards (Minari's are zeros if not)."""


class MinariMissingError(ImportError):
    """The ``minari`` package (with h5py) is not installed."""


def _minari() -> Any:
    try:
        import minari
    except ImportError as error:
        raise MinariMissingError(f"Minari datasets need the minari package ({error}); "
                                 "install it with: pip install 'irl-workbench[minari]'") from None
    return minari


def _env_metadata(env_spec: Any) -> tuple[dict[str, Any] | None, int | None]:
    """Returns (env, horizon) for the metadata from a gymnasium EnvSpec (or None)."""
    if env_spec is None:
        return None, None
    kwargs = dict(env_spec.kwargs or {})
    try:
        json.dumps(kwargs, allow_nan=False)
    except (TypeError, ValueError):
        kwargs = {}  # e.g. a callable argument: the id alone still names the env
    return {"id": env_spec.id, "kwargs": kwargs}, env_spec.max_episode_steps


def import_minari(dataset_id: str, *, check_env: bool = True) -> Demos:
    """Returns the episodes of the local Minari dataset ``dataset_id`` as Demos.

    Raises MinariMissingError without minari, FileNotFoundError if the dataset is not
    local, and DemoFormatError if its observations or actions are not flat arrays or break
    the format. With ``check_env``, the data must fit the spaces of the env it names.
    """
    minari = _minari()
    dataset = minari.load_dataset(dataset_id)
    source = f"minari dataset {dataset_id}"
    n_steps = int(dataset.total_steps)
    obs_bytes = int(np.prod(dataset.observation_space.shape or (1,))) * 8
    act_bytes = int(np.prod(dataset.action_space.shape or (1,))) * 8
    check_fits(3 * n_steps * (2 * obs_bytes + act_bytes + 11), f"importing {source} ({n_steps} steps)")

    episodes = [_episode(episode, source) for episode in dataset.iterate_episodes()]
    if dataset.storage.metadata.get(REWARDS_KEY) is False:  # exported by us from demos without rewards
        for episode in episodes:
            del episode["rewards"]

    stored = dataset.storage.metadata.get(METADATA_KEY)
    try:
        if stored is not None:
            metadata = validate_metadata(_parse_json(stored), require_version=True)
        else:
            env, horizon = _env_metadata(dataset.env_spec)
            metadata = {"env": env, "discount": None, **({"horizon": horizon} if horizon is not None else {})}
        metadata["provenance"] = {"how": "minari import", "dataset_id": dataset_id,
                                  "minari_version": str(dataset.minari_version),
                                  "source": metadata.get("provenance", {})}
        return Demos.from_episodes(episodes, metadata=metadata, check_env=check_env)
    except DemoFormatError as error:
        raise error.with_source(source) from None


def _episode(episode: Any, source: str) -> dict[str, Any]:
    """Returns one Minari EpisodeData as an episode for ``Demos.from_episodes``."""
    obs, actions = episode.observations, episode.actions
    for key, value in (("observations", obs), ("actions", actions)):
        if not isinstance(value, np.ndarray):
            raise DemoFormatError(f"episode {episode.id} has {key} of type {type(value).__name__}; "
                                  "only flat array spaces can be imported", source=source)
    steps = len(episode.rewards)
    if len(obs) != steps + 1:
        raise DemoFormatError(f"episode {episode.id} has {len(obs)} observations for {steps} steps; "
                              "Minari stores one more observation than steps", source=source)
    return {"observations": obs[:-1], "next_observations": obs[1:], "actions": actions,
            "rewards": np.asarray(episode.rewards, dtype=np.float64),
            "terminated": bool(steps and episode.terminations[-1]),
            "truncated": bool(steps and episode.truncations[-1])}


def _parse_json(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError) as error:
        raise DemoFormatError(f"dataset metadata {METADATA_KEY!r} is not valid JSON: {error}") from None


def _spaces(demos: Demos) -> tuple[Any, Any]:
    """Returns (observation_space, action_space) when no env is named: unbounded boxes, or Discrete."""
    from gymnasium import spaces

    obs = spaces.Box(-np.inf, np.inf, shape=demos.observation_shape, dtype=demos.observations.dtype)
    if demos.actions.ndim == 1 and demos.actions.dtype.kind in "iu" and demos.actions.min() >= 0:
        return obs, spaces.Discrete(int(demos.actions.max()) + 1)
    return obs, spaces.Box(-np.inf, np.inf, shape=demos.action_shape, dtype=demos.actions.dtype)


def export_minari(demos: Demos, dataset_id: str) -> Any:
    """Writes ``demos`` as the new local Minari dataset ``dataset_id``; returns the MinariDataset.

    Within each episode, ``next_observations[t]`` must equal ``observations[t+1]`` (Minari
    stores each observation once). Raises FileExistsError if the dataset exists.
    """
    minari = _minari()
    from minari.data_collector import EpisodeBuffer

    source = f"minari dataset {dataset_id}"
    if dataset_id in minari.list_local_datasets():
        raise FileExistsError(f"{source} exists already; Minari datasets are never overwritten")
    rewards = demos.rewards if demos.rewards is not None else np.zeros(demos.n_steps)
    # Minari stores each observation once: s_{t+1} of a step must be s_t of the next one.
    follows = np.ones(demos.n_steps, dtype=bool)
    same = demos.next_observations[:-1] == demos.observations[1:]
    follows[:-1] = same.reshape(demos.n_steps - 1, -1).all(axis=1)
    follows[demos.episode_ends - 1] = True
    if not follows.all():
        t = int(np.argmin(follows))
        raise DemoFormatError(f"'next_observations'[{t}] differs from 'observations'[{t + 1}] in the same "
                              "episode; Minari stores each observation once", source=source)
    buffers = []
    for i, (start, end) in enumerate(zip(demos.episode_starts, demos.episode_ends, strict=True)):
        steps = slice(int(start), int(end))
        last = demos.next_observations[int(end) - 1:int(end)]
        buffers.append(EpisodeBuffer(
            id=i, observations=np.concatenate([demos.observations[steps], last]),
            actions=np.asarray(demos.actions[steps]), rewards=np.asarray(rewards[steps], dtype=np.float64),
            terminations=np.asarray(demos.terminals[steps]), truncations=np.asarray(demos.timeouts[steps])))
    env_args: dict[str, Any] = {}
    if demos.env_id is not None:
        import dataclasses

        import gymnasium

        spec = gymnasium.spec(registered_env_id(demos.env_id, "the demos' metadata"))
        env_args["env"] = dataclasses.replace(spec, kwargs={**spec.kwargs, **demos.env_kwargs})
    else:
        env_args["observation_space"], env_args["action_space"] = _spaces(demos)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # minari's advice to name an author, a permalink, ...
        dataset = minari.create_dataset_from_buffers(
            dataset_id, buffers, algorithm_name=str(demos.metadata["provenance"].get("how", "irl")),
            description="exported by irl demos export", **env_args)
    dataset.storage.update_metadata({METADATA_KEY: json.dumps(demos.metadata),
                                     REWARDS_KEY: demos.rewards is not None})
    return dataset
