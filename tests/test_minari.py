"""Demos to and from local Minari datasets: the episode mapping, the round trip, and the errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from irl.cli.main import main
from irl.data import DemoFormatError, Demos, load_demos

DEMOS = Path(__file__).resolve().parent.parent / "demos"


@pytest.fixture
def minari(tmp_path, monkeypatch):
    """The minari module, with its datasets in a fresh folder (never the user's ~/.minari)."""
    module = pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    return module


def test_a_dataset_made_by_minari_maps_onto_our_episodes(minari):
    from minari.data_collector import EpisodeBuffer

    # Two FrozenLake episodes: one ends by termination after 3 steps, one by truncation after 2.
    buffers = [
        EpisodeBuffer(observations=np.array([0, 1, 5, 6]), actions=np.array([2, 1, 2]),
                      rewards=np.array([0.0, 0.0, 1.0]), terminations=np.array([False, False, True]),
                      truncations=np.zeros(3, bool)),
        EpisodeBuffer(observations=np.array([0, 4, 8]), actions=np.array([1, 1]), rewards=np.zeros(2),
                      terminations=np.zeros(2, bool), truncations=np.array([False, True])),
    ]
    with pytest.warns(UserWarning):  # minari asks for an author, a permalink, ...
        minari.create_dataset_from_buffers("test/lake-v0", buffers, env="FrozenLake-v1")
    from irl.data.minari import import_minari

    demos = import_minari("test/lake-v0")
    np.testing.assert_array_equal(demos.observations, [0, 1, 5, 0, 4])
    np.testing.assert_array_equal(demos.next_observations, [1, 5, 6, 4, 8])
    np.testing.assert_array_equal(demos.actions, [2, 1, 2, 1, 1])
    np.testing.assert_array_equal(demos.rewards, [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(demos.terminals, [False, False, True, False, False])
    np.testing.assert_array_equal(demos.timeouts, [False, False, False, False, True])
    np.testing.assert_array_equal(demos.episode_starts, [0, 3])
    assert demos.env_id == "FrozenLake-v1" and demos.env_kwargs == {"map_name": "4x4"}
    assert demos.horizon == 100 and demos.discount is None  # FrozenLake-v1's time limit; no discount
    assert demos.metadata["provenance"]["dataset_id"] == "test/lake-v0"


def test_export_then_import_gives_the_same_demos(minari, tmp_path, capsys):
    source = DEMOS / "cliffwalking.npz"
    assert main(["demos", "export", "--minari", "irl/cliff-v0", "--demos", str(source)]) == 0
    assert "wrote minari dataset irl/cliff-v0" in capsys.readouterr().out
    out = tmp_path / "back.npz"
    assert main(["demos", "import", "--minari", "irl/cliff-v0", "--out", str(out)]) == 0
    before, after = load_demos(source), load_demos(out)
    assert before.terminals.any() and after.n_episodes == before.n_episodes == 100
    for key, array in before.arrays().items():
        np.testing.assert_array_equal(getattr(after, key), array, err_msg=key)
        assert getattr(after, key).dtype == array.dtype or key == "episode_starts", key
    kept = {k: v for k, v in before.metadata.items() if k != "provenance"}
    assert {k: v for k, v in after.metadata.items() if k != "provenance"} == kept
    assert after.metadata["provenance"]["source"] == before.metadata["provenance"]
    assert minari.load_dataset("irl/cliff-v0").total_steps == before.n_steps


def test_demos_without_an_env_export_with_spaces_made_from_the_arrays(minari):
    from irl.data.minari import export_minari, import_minari

    obs = np.arange(8, dtype=np.float32).reshape(4, 2)
    demos = Demos.build(observations=obs[:3], next_observations=obs[1:], actions=np.array([0, 2, 1]),
                        terminals=np.array([False, False, True]), timeouts=np.zeros(3, bool),
                        episode_starts=np.array([0]), metadata={"discount": 0.5})
    dataset = export_minari(demos, "plain-v0")
    assert str(dataset.action_space) == "Discrete(3)" and dataset.observation_space.shape == (2,)
    back = import_minari("plain-v0")
    np.testing.assert_array_equal(back.next_observations, obs[1:])
    assert back.env_id is None and back.discount == 0.5 and back.rewards is None  # as exported


def test_export_refuses_steps_that_do_not_follow_and_an_existing_dataset(minari, tmp_path):
    from irl.data.minari import export_minari

    obs = np.arange(4.0).reshape(4, 1)
    gap = Demos.build(observations=obs[:2], next_observations=obs[2:], actions=np.zeros(2, np.int64),
                      terminals=np.zeros(2, bool), timeouts=np.zeros(2, bool), episode_starts=np.array([0]))
    with pytest.raises(DemoFormatError, match=r"'next_observations'\[0\] differs from 'observations'\[1\]"):
        export_minari(gap, "gap-v0")
    demos = load_demos(DEMOS / "cliffwalking.npz")
    export_minari(demos, "twice-v0")
    with pytest.raises(FileExistsError, match="twice-v0 exists already"):
        export_minari(demos, "twice-v0")


def test_cli_errors_are_one_line(minari, tmp_path, capsys, monkeypatch):
    assert main(["demos", "import", "--minari", "nowhere-v0", "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("irl: error: Dataset nowhere-v0 not found locally") and err.count("\n") == 1
    assert not (tmp_path / "x.npz").exists()
    monkeypatch.setitem(sys.modules, "minari", None)  # as if not installed
    assert main(["demos", "export", "--minari", "a-v0", "--demos", str(DEMOS / "cliffwalking.npz")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'irl-workbench[minari]'" in err and err.count("\n") == 1
