"""Tests for irl.data: the Demos type, the .npz format, its validation and env checks."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irl.data import FORMAT_VERSION, DemoFormatError, Demos, load_demos, save_demos

# Three episodes of lengths 3, 2, 2 over 7 steps: the first terminates, the last times out.
STARTS = np.array([0, 3, 5], dtype=np.int64)


def valid_arrays() -> dict[str, np.ndarray]:
    """Returns the arrays of a valid file (2-D float observations, 1-D float actions, no env)."""
    obs = np.arange(14, dtype=np.float32).reshape(7, 2)
    return {
        "observations": obs,
        "actions": np.linspace(-1, 1, 7).reshape(7, 1),
        "next_observations": obs + 100,
        "rewards": np.array([1.0, 2.0, 3.0, 0.5, -0.5, 4.0, 0.0]),
        "terminals": np.array([0, 0, 1, 0, 0, 0, 0], dtype=bool),
        "timeouts": np.array([0, 0, 0, 0, 0, 0, 1], dtype=bool),
        "episode_starts": STARTS.copy(),
        "metadata": np.array(json.dumps({"format_version": 1, "env": None, "discount": 0.9,
                                         "provenance": {"how": "hand", "seed": 3}})),
    }


def write(path: Path, arrays: dict[str, Any]) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def make_demos(**overrides: Any) -> Demos:
    arrays = valid_arrays()
    arrays["metadata"] = json.loads(str(arrays["metadata"]))
    arrays.update(overrides)
    return Demos.build(**arrays)


def assert_same(a: Demos, b: Demos) -> None:
    for key in ("observations", "actions", "next_observations", "rewards", "terminals", "timeouts",
                "episode_starts"):
        x, y = getattr(a, key), getattr(b, key)
        if x is None or y is None:
            assert x is None and y is None, key
            continue
        assert x.dtype == y.dtype, key
        assert x.shape == y.shape, key
        np.testing.assert_array_equal(x, y, err_msg=key)
    assert a.metadata == b.metadata


def with_metadata(**changes: Any) -> dict[str, Any]:
    metadata = {"format_version": 1, "env": None, "discount": 0.9, "provenance": {}}
    metadata.update(changes)
    return metadata


# -- round trip ------------------------------------------------------------------------------------


def test_round_trip_keeps_dtypes_shapes_values_and_metadata(tmp_path: Path) -> None:
    demos = make_demos(observations=np.arange(14, dtype=np.uint8).reshape(7, 2),
                       next_observations=np.arange(14, dtype=np.uint8).reshape(7, 2) + 1,
                       episode_starts=STARTS.astype(np.int32))
    path = save_demos(demos, tmp_path / "demos.npz")
    loaded = load_demos(path)
    assert_same(demos, loaded)
    assert loaded.observations.dtype == np.uint8
    assert loaded.actions.dtype == np.float64
    assert loaded.episode_starts.dtype == np.int32
    assert loaded.metadata == {"format_version": 1, "env": None, "discount": 0.9,
                               "provenance": {"how": "hand", "seed": 3}}
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(valid_arrays())


def test_round_trip_without_rewards_and_without_npz_suffix(tmp_path: Path) -> None:
    demos = make_demos(rewards=None)
    path = save_demos(demos, tmp_path / "demos.data")
    assert path == tmp_path / "demos.data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demos.data"]
    loaded = load_demos(path)
    assert loaded.rewards is None
    assert_same(demos, loaded)
    with np.load(path, allow_pickle=False) as npz:
        assert "rewards" not in npz.files


def test_loading_a_file_written_by_hand(tmp_path: Path) -> None:
    demos = load_demos(write(tmp_path / "d.npz", valid_arrays()))
    assert demos.n_steps == 7 and demos.n_episodes == 3
    assert demos.discount == 0.9 and demos.env_id is None and demos.env_kwargs == {}
    assert demos.metadata["provenance"] == {"how": "hand", "seed": 3}


def test_extra_metadata_keys_are_preserved(tmp_path: Path) -> None:
    demos = make_demos(metadata=with_metadata(notes="by hand", extra={"a": [1, 2]}))
    loaded = load_demos(save_demos(demos, tmp_path / "d.npz"))
    assert loaded.metadata["notes"] == "by hand"
    assert loaded.metadata["extra"] == {"a": [1, 2]}


# -- every validation error of load_demos ------------------------------------------------------------


def _set(key: str, value: Any):
    def corrupt(arrays: dict[str, Any]) -> None:
        arrays[key] = value
    return corrupt


def _drop(key: str):
    def corrupt(arrays: dict[str, Any]) -> None:
        del arrays[key]
    return corrupt


def _poke(key: str, index: Any, value: Any):
    def corrupt(arrays: dict[str, Any]) -> None:
        arrays[key] = arrays[key].copy()
        arrays[key][index] = value
    return corrupt


def _meta(text: str):
    return _set("metadata", np.array(text))


def _meta_obj(**changes: Any):
    return _meta(json.dumps(with_metadata(**changes)))


def _empty(arrays: dict[str, Any]) -> None:
    for key in ("observations", "actions", "next_observations", "rewards", "terminals", "timeouts"):
        arrays[key] = arrays[key][:0]


BAD_FILES = [
    # (id, corruption, substrings the message must contain)
    *[(f"missing-{key}", _drop(key), [f"missing required key(s) '{key}'"])
      for key in ("observations", "actions", "next_observations", "terminals", "timeouts",
                  "episode_starts", "metadata")],
    ("unknown-key", _set("reward", np.zeros(7)), ["unknown key(s) 'reward'"]),
    ("obs-strings", _set("observations", np.array(["a"] * 7)), ["'observations' must hold numbers", "<U1"]),
    ("next-obs-complex", _set("next_observations", np.zeros((7, 2), np.complex64)),
     ["'next_observations' must hold numbers"]),
    ("actions-bool", _set("actions", np.ones((7, 1), bool)),
     ["'actions' must hold integers or floats", "bool"]),
    ("terminals-int", _set("terminals", np.zeros(7, np.int8)), ["'terminals' must hold bools", "int8"]),
    ("timeouts-float", _set("timeouts", np.zeros(7)), ["'timeouts' must hold bools", "float64"]),
    ("starts-float", _set("episode_starts", STARTS.astype(float)), ["'episode_starts' must hold integers"]),
    ("rewards-int", _set("rewards", np.zeros(7, np.int64)), ["'rewards' must hold floats", "int64"]),
    ("obs-0d", _set("observations", np.array(1.0)), ["'observations' must have a leading step axis"]),
    ("rewards-2d", _set("rewards", np.zeros((7, 1))), ["'rewards' must be 1-D", "(7, 1)"]),
    ("actions-short", _set("actions", np.zeros((6, 1))), ["'actions' has 6 steps but 'observations' has 7"]),
    ("rewards-long", _set("rewards", np.zeros(8)), ["'rewards' has 8 steps but 'observations' has 7"]),
    ("timeouts-short", _set("timeouts", np.zeros(5, bool)),
     ["'timeouts' has 5 steps but 'observations' has 7"]),
    ("next-obs-shape", _set("next_observations", np.zeros((7, 3), np.float32)),
     ["'next_observations' has shape (7, 3) but 'observations' has shape (7, 2)"]),
    ("next-obs-dtype", _set("next_observations", np.zeros((7, 2), np.float64)),
     ["'next_observations' has dtype float64 but 'observations' has dtype float32"]),
    ("no-steps", _empty, ["at least one step"]),
    ("starts-2d", _set("episode_starts", STARTS.reshape(3, 1)), ["'episode_starts' must be 1-D", "(3, 1)"]),
    ("starts-empty", _set("episode_starts", STARTS[:0]), ["'episode_starts' is empty"]),
    ("starts-not-at-0", _set("episode_starts", np.array([1, 3, 5])), ["'episode_starts'[0] = 1"]),
    ("starts-not-increasing", _set("episode_starts", np.array([0, 5, 3])),
     ["'episode_starts'[2] = 3 is not greater than episode_starts[1] = 5"]),
    ("starts-repeated", _set("episode_starts", np.array([0, 3, 3])),
     ["'episode_starts'[2] = 3 is not greater than episode_starts[1] = 3"]),
    ("starts-unsigned-decreasing", _set("episode_starts", np.array([0, 5, 3], np.uint32)),
     ["'episode_starts'[2] = 3 is not greater than episode_starts[1] = 5"]),
    ("starts-out-of-range", _set("episode_starts", np.array([0, 3, 7])),
     ["'episode_starts'[2] = 7 is out of range for 7 steps"]),
    ("terminal-mid-episode", _poke("terminals", 1, True),
     ["'terminals'[1] is True", "episode 0 ends at step 2"]),
    ("timeout-mid-episode", _poke("timeouts", 5, True),
     ["'timeouts'[5] is True", "episode 2 ends at step 6"]),
    ("obs-nan", _poke("observations", (4, 1), np.nan), ["'observations'[4, 1] = nan is not finite"]),
    ("next-obs-inf", _poke("next_observations", (6, 0), np.inf), ["'next_observations'[6, 0] = inf"]),
    ("actions-nan", _poke("actions", (5, 0), np.nan), ["'actions'[5, 0] = nan"]),
    ("rewards-inf", _poke("rewards", 2, -np.inf), ["'rewards'[2] = -inf is not finite"]),
    ("metadata-1d", _set("metadata", np.array(["{}"])), ["'metadata' must be a 0-d string array", "(1,)"]),
    ("metadata-number", _set("metadata", np.array(1.0)), ["'metadata' must be a 0-d string array"]),
    ("metadata-not-json", _meta("{format_version: 1"), ["'metadata' is not valid JSON"]),
    ("metadata-nan-constant", _meta('{"format_version": 1, "discount": NaN}'),
     ["'metadata' is not valid JSON"]),
    ("metadata-list", _meta("[1, 2]"), ["'metadata' must be a JSON object", "list"]),
    ("metadata-no-version", _meta('{"env": null}'), ["'metadata' has no 'format_version'"]),
    ("metadata-version-2", _meta_obj(format_version=2), ["unknown format_version 2", "known: 1"]),
    ("metadata-version-str", _meta_obj(format_version="1"), ["unknown format_version '1'"]),
    ("metadata-version-float", _meta_obj(format_version=1.5), ["unknown format_version 1.5"]),
    ("env-string", _meta_obj(env="FrozenLake-v1"), ["env must be null or an object", "str"]),
    ("env-no-id", _meta_obj(env={"kwargs": {}}), ["env must have a non-empty string 'id'", "None"]),
    ("env-id-number", _meta_obj(env={"id": 5}), ["env must have a non-empty string 'id'", "5"]),
    ("env-kwargs-list", _meta_obj(env={"id": "FrozenLake-v1", "kwargs": [1]}),
     ["env kwargs must be an object"]),
    ("discount-above-1", _meta_obj(discount=1.5), ["discount must be null or a number in [0, 1]", "1.5"]),
    ("discount-negative", _meta_obj(discount=-0.1), ["discount", "-0.1"]),
    ("discount-bool", _meta_obj(discount=True), ["discount", "True"]),
    ("discount-string", _meta_obj(discount="0.9"), ["discount", "'0.9'"]),
    ("provenance-list", _meta_obj(provenance=["cli"]), ["provenance must be an object", "list"]),
]


@pytest.mark.parametrize("corrupt, expected", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_load_rejects_invalid_file(tmp_path: Path, corrupt, expected: list[str]) -> None:
    arrays = valid_arrays()
    corrupt(arrays)
    path = write(tmp_path / "bad.npz", arrays)
    with pytest.raises(DemoFormatError) as info:
        load_demos(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message


def test_the_valid_file_itself_loads(tmp_path: Path) -> None:
    # The control for the parametrized failures above: without a corruption, loading succeeds.
    load_demos(write(tmp_path / "good.npz", valid_arrays()))


BUILD_CASES = [c for c in BAD_FILES if c[0].startswith(
    ("obs-", "actions-", "starts-", "terminal-", "rewards-", "next-obs-", "no-steps", "discount-", "env-"))]


@pytest.mark.parametrize("corrupt, expected", [c[1:] for c in BUILD_CASES], ids=[c[0] for c in BUILD_CASES])
def test_build_rejects_what_load_rejects(corrupt, expected: list[str]) -> None:
    arrays = valid_arrays()
    corrupt(arrays)
    arrays["metadata"] = json.loads(str(arrays["metadata"]))
    with pytest.raises(DemoFormatError) as info:
        Demos.build(**arrays)
    assert str(info.value).startswith("demos: ")
    for part in expected:
        assert part in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DemoFormatError, match="no such file"):
        load_demos(tmp_path / "nope.npz")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DemoFormatError, match="not a readable .npz archive"):
        load_demos(tmp_path)


def test_text_file_is_not_npz(tmp_path: Path) -> None:
    path = tmp_path / "demos.npz"
    path.write_text("observations,actions\n1,2\n")
    with pytest.raises(DemoFormatError, match="not a readable .npz archive"):
        load_demos(path)


def test_npy_file_is_not_npz(tmp_path: Path) -> None:
    path = tmp_path / "demos.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(DemoFormatError, match="single .npy array"):
        load_demos(path)


def test_truncated_archive(tmp_path: Path) -> None:
    path = write(tmp_path / "demos.npz", valid_arrays())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DemoFormatError):
        load_demos(path)


# -- pickles never run -----------------------------------------------------------------------------


class _Payload:
    """Unpickling this makes a directory: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("key", ["observations", "metadata", "extra"])
def test_object_array_is_rejected_and_never_unpickled(tmp_path: Path, key: str) -> None:
    marker = tmp_path / "code-ran"
    arrays = valid_arrays()
    arrays[key] = np.array([_Payload(marker)], dtype=object)
    path = write(tmp_path / "evil.npz", arrays)  # np.savez pickles object arrays
    with pytest.raises(DemoFormatError) as info:
        load_demos(path)
    if key != "extra":  # an unknown key is refused before it is read
        assert f"'{key}' holds Python objects" in str(info.value)
    assert not marker.exists()
    # Control: the same file does run code when pickles are allowed, so the check above can fail.
    with np.load(path, allow_pickle=True) as npz:
        npz[key]
    assert marker.exists()


def test_plain_pickle_file_is_rejected_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(DemoFormatError, match="not a readable .npz archive"):
        load_demos(path)
    assert not marker.exists()
    pickle.loads(path.read_bytes())
    assert marker.exists()


# -- atomic saving -----------------------------------------------------------------------------------


def test_save_leaves_only_the_file(tmp_path: Path) -> None:
    save_demos(make_demos(), tmp_path / "a.npz")
    save_demos(make_demos(rewards=None), tmp_path / "a.npz")  # overwrite
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]
    assert load_demos(tmp_path / "a.npz").rewards is None
    assert (os.stat(tmp_path / "a.npz").st_mode & 0o777) == 0o644


def test_save_refuses_demos_changed_into_invalid_and_writes_nothing(tmp_path: Path) -> None:
    observations = np.zeros((7, 2), np.float32)
    demos = make_demos(observations=observations, next_observations=observations.copy())
    observations[3, 1] = np.nan  # Demos holds a view, so its data changed under it
    with pytest.raises(DemoFormatError, match=r"'observations'\[3, 1\] = nan"):
        save_demos(demos, tmp_path / "sub" / "a.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_failing_midway_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch) -> None:
    path = save_demos(make_demos(), tmp_path / "a.npz")
    before = path.read_bytes()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        save_demos(make_demos(rewards=None), path)
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]
    assert path.read_bytes() == before


def test_save_needs_demos(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        save_demos(valid_arrays(), tmp_path / "a.npz")  # type: ignore[arg-type]


# -- the Demos type --------------------------------------------------------------------------------


def test_sizes_and_indices() -> None:
    demos = make_demos()
    assert (demos.n_steps, demos.n_episodes, len(demos)) == (7, 3, 3)
    np.testing.assert_array_equal(demos.episode_lengths, [3, 2, 2])
    np.testing.assert_array_equal(demos.episode_ends, [3, 5, 7])
    np.testing.assert_array_equal(demos.episode_index, [0, 0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(demos.timestep, [0, 1, 2, 0, 1, 0, 1])
    assert demos.observation_shape == (2,) and demos.action_shape == (1,)


def test_episode_returns() -> None:
    np.testing.assert_array_equal(make_demos().episode_returns(), [6.0, 0.0, 4.0])
    with pytest.raises(ValueError, match="no 'rewards'"):
        make_demos(rewards=None).episode_returns()


def test_episodes_and_iteration() -> None:
    demos = make_demos()
    episodes = list(demos)
    assert [e.n_steps for e in episodes] == [3, 2, 2]
    second = demos.episode(1)
    np.testing.assert_array_equal(second.observations, demos.observations[3:5])
    np.testing.assert_array_equal(second.rewards, [0.5, -0.5])
    np.testing.assert_array_equal(second.episode_starts, [0])
    assert second.metadata == demos.metadata
    np.testing.assert_array_equal(demos.episode(-1).timeouts, [False, True])
    np.testing.assert_array_equal(episodes[0].terminals, [False, False, True])
    with pytest.raises(IndexError):
        demos.episode(3)


def test_take() -> None:
    demos = make_demos()
    first_two = demos.take(2)
    assert first_two.n_steps == 5
    np.testing.assert_array_equal(first_two.episode_starts, [0, 3])
    np.testing.assert_array_equal(first_two.actions, demos.actions[:5])
    assert first_two.metadata["provenance"] == {"how": "take", "n_episodes": 2, "of": 3,
                                                "source": {"how": "hand", "seed": 3}}
    assert_same(demos.take(3), Demos.build(**{**demos.arrays(), "metadata": demos.take(3).metadata}))
    for k in (0, 4, -1):
        with pytest.raises(ValueError, match="1 <= k <= 3"):
            demos.take(k)


def test_concatenate() -> None:
    a, b = make_demos(), make_demos().take(2)
    joined = Demos.concatenate([a, b])
    assert (joined.n_steps, joined.n_episodes) == (12, 5)
    np.testing.assert_array_equal(joined.episode_starts, [0, 3, 5, 7, 10])
    np.testing.assert_array_equal(joined.observations[7:], a.observations[:5])
    np.testing.assert_array_equal(joined.episode_returns(), [6.0, 0.0, 4.0, 6.0, 0.0])
    assert joined.metadata["provenance"] == {"how": "concatenate",
                                             "parts": [a.metadata["provenance"], b.metadata["provenance"]]}
    assert joined.discount == 0.9


@pytest.mark.parametrize("other, what", [
    (dict(observations=np.zeros((7, 3), np.float32), next_observations=np.zeros((7, 3), np.float32)),
     "observation shape"),
    (dict(actions=np.zeros((7, 2))), "action shape"),
    (dict(actions=np.zeros((7, 1), np.int64)), "action dtype"),
    (dict(rewards=None), "has rewards"),
    (dict(metadata=with_metadata(env={"id": "CartPole-v1"})), "env id"),
    (dict(metadata=with_metadata(discount=0.5)), "discount"),
])
def test_concatenate_refuses_mismatches(other: dict[str, Any], what: str) -> None:
    overrides = {**other, "metadata": other.get("metadata", with_metadata())}
    different = Demos.build(**{**make_demos().arrays(), **overrides}, check_env=False)
    with pytest.raises(DemoFormatError, match=f"part 1 has {what}"):
        Demos.concatenate([make_demos(metadata=with_metadata()), different])


def test_arrays_are_read_only() -> None:
    demos = make_demos()
    with pytest.raises(ValueError):
        demos.observations[0, 0] = 5.0
    with pytest.raises(AttributeError):
        demos.rewards = None  # type: ignore[misc]


def test_summary_is_exact_and_json_serialisable() -> None:
    summary = make_demos().summary()
    assert summary == {
        "n_steps": 7, "n_episodes": 3,
        "episode_length": {"min": 2, "mean": 7 / 3, "max": 3},
        "n_terminated": 1, "n_truncated": 1,
        "return": {"mean": 10 / 3, "std": float(np.std([6.0, 0.0, 4.0])), "min": 0.0, "max": 6.0},
        "env_id": None, "env_kwargs": {}, "discount": 0.9, "horizon": None,
        "observation_shape": [2], "observation_dtype": "float32",
        "action_shape": [1], "action_dtype": "float64", "format_version": 1,
    }
    json.dumps(summary)
    assert make_demos(rewards=None).summary()["return"] is None


def test_build_fills_metadata_defaults() -> None:
    demos = make_demos(metadata=None)
    assert demos.metadata == {"format_version": FORMAT_VERSION, "env": None, "discount": None,
                              "provenance": {}}
    assert demos.discount is None and demos.env_id is None


def test_build_refuses_metadata_that_is_not_json() -> None:
    with pytest.raises(DemoFormatError, match="not JSON-serialisable"):
        make_demos(metadata=with_metadata(provenance={"policy": object()}))


def test_from_episodes() -> None:
    demos = make_demos()
    episodes = [{"observations": e.observations, "actions": e.actions,
                 "next_observations": e.next_observations, "rewards": e.rewards,
                 "terminated": bool(e.terminals[-1]), "truncated": bool(e.timeouts[-1])} for e in demos]
    assert_same(Demos.from_episodes(episodes, metadata=demos.metadata), demos)
    del episodes[1]["rewards"]
    with pytest.raises(DemoFormatError, match="episode 1 lacks 'rewards'"):
        Demos.from_episodes(episodes)


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(1, 5), min_size=1, max_size=6), seed=st.integers(0, 2**16))
def test_episode_structure_survives_a_round_trip(tmp_path_factory, lengths: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    episodes = [{"observations": rng.integers(0, 16, n), "actions": rng.integers(0, 4, n),
                 "next_observations": rng.integers(0, 16, n), "rewards": rng.normal(size=n),
                 "terminated": bool(rng.integers(2)), "truncated": bool(rng.integers(2))} for n in lengths]
    demos = Demos.from_episodes(episodes, metadata={"env": {"id": "FrozenLake-v1"}})
    loaded = load_demos(save_demos(demos, tmp_path_factory.mktemp("d") / "d.npz"))
    assert_same(demos, loaded)
    np.testing.assert_array_equal(loaded.episode_lengths, lengths)
    np.testing.assert_allclose(loaded.episode_returns(), [e["rewards"].sum() for e in episodes])
    for i, episode in enumerate(loaded):
        np.testing.assert_array_equal(episode.actions, episodes[i]["actions"])
        assert episode.terminals[-1] == episodes[i]["terminated"]
    np.testing.assert_array_equal(loaded.timestep, np.concatenate([np.arange(n) for n in lengths]))


# -- checks against the env -------------------------------------------------------------------------

FROZEN_LAKE = {"id": "FrozenLake-v1", "kwargs": {"is_slippery": False}}


def frozen_lake_arrays(**changes: Any) -> dict[str, np.ndarray]:
    arrays = valid_arrays()
    arrays.update(observations=np.array([0, 1, 2, 0, 4, 8, 9]),
                  next_observations=np.array([1, 2, 6, 4, 8, 9, 13]),
                  actions=np.array([2, 2, 1, 1, 1, 2, 1]),
                  metadata=np.array(json.dumps(with_metadata(env=FROZEN_LAKE))))
    arrays.update(changes)
    return arrays


def test_frozen_lake_demos_load(tmp_path: Path) -> None:
    demos = load_demos(write(tmp_path / "d.npz", frozen_lake_arrays()))
    assert demos.env_id == "FrozenLake-v1" and demos.env_kwargs == {"is_slippery": False}


@pytest.mark.parametrize("key, index, value, expected", [
    ("observations", 4, 16, "'observations'[4] = 16 is outside the env's space Discrete(16)"),
    ("next_observations", 2, -1, "'next_observations'[2] = -1 is outside"),
    ("actions", 6, 4, "'actions'[6] = 4 is outside the env's space Discrete(4)"),
])
def test_out_of_space_values_are_named(tmp_path: Path, key: str, index: int, value: int,
                                       expected: str) -> None:
    arrays = frozen_lake_arrays()
    arrays[key] = arrays[key].copy()
    arrays[key][index] = value
    path = write(tmp_path / "d.npz", arrays)
    with pytest.raises(DemoFormatError) as info:
        load_demos(path)
    assert expected in str(info.value)
    assert load_demos(path, check_env=False).n_steps == 7  # the format itself is fine


def test_discrete_space_needs_integers(tmp_path: Path) -> None:
    arrays = frozen_lake_arrays(actions=np.array([2.0, 2, 1, 1, 1, 2, 1]))
    with pytest.raises(DemoFormatError, match="'actions' must hold integers for the env's space Discrete"):
        load_demos(write(tmp_path / "d.npz", arrays))


def test_discrete_space_needs_scalar_steps(tmp_path: Path) -> None:
    arrays = frozen_lake_arrays(actions=np.array([2, 2, 1, 1, 1, 2, 1]).reshape(7, 1))
    with pytest.raises(DemoFormatError, match=r"'actions' has per-step shape \(1,\)"):
        load_demos(write(tmp_path / "d.npz", arrays))


def test_unknown_env_id(tmp_path: Path) -> None:
    arrays = frozen_lake_arrays(metadata=np.array(json.dumps(with_metadata(env={"id": "NoSuchEnv-v0"}))))
    path = write(tmp_path / "d.npz", arrays)
    with pytest.raises(DemoFormatError, match="'NoSuchEnv-v0', which is not registered with gymnasium"):
        load_demos(path)
    assert load_demos(path, check_env=False).env_id == "NoSuchEnv-v0"


def test_env_that_cannot_be_made(tmp_path: Path) -> None:
    env = {"id": "FrozenLake-v1", "kwargs": {"no_such_argument": 1}}
    arrays = frozen_lake_arrays(metadata=np.array(json.dumps(with_metadata(env=env))))
    with pytest.raises(DemoFormatError, match="could not make env 'FrozenLake-v1'"):
        load_demos(write(tmp_path / "d.npz", arrays))


def test_box_space_shape_is_checked(tmp_path: Path) -> None:
    # CartPole: Box observations of shape (4,), Discrete(2) actions.
    cartpole = with_metadata(env={"id": "CartPole-v1"})
    box = np.zeros((7, 4), np.float32)
    good = make_demos(observations=box, next_observations=box.copy(),
                      actions=np.zeros(7, np.int64), metadata=cartpole)
    assert good.env_id == "CartPole-v1"
    with pytest.raises(DemoFormatError, match=r"'observations' has per-step shape \(2,\).*shape \(4,\)"):
        make_demos(actions=np.zeros(7, np.int64), metadata=cartpole)


def test_build_checks_the_env_unless_told_not_to() -> None:
    bad = dict(observations=np.array([0, 1, 2, 0, 4, 8, 99]), next_observations=np.arange(7),
               actions=np.zeros(7, np.int64), metadata=with_metadata(env=FROZEN_LAKE))
    with pytest.raises(DemoFormatError, match=r"'observations'\[6\] = 99"):
        make_demos(**bad)
    assert make_demos(**bad, check_env=False).n_steps == 7
