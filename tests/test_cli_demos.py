"""``irl --version``, ``irl demos info`` and ``irl demos generate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import irl
from irl.cli.main import main
from irl.data import load_demos

DEMOS = Path(__file__).resolve().parent.parent / "demos"


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and irl.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    text = capsys.readouterr().out
    assert exc.value.code == 0 and all(cmd in text for cmd in ("demos", "fit", "eval"))


def test_info_json(capsys):
    assert main(["demos", "info", str(DEMOS / "cliffwalking.npz"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    demos = load_demos(DEMOS / "cliffwalking.npz")
    assert info["n_steps"] == demos.n_steps and info["n_episodes"] == demos.n_episodes == 100
    assert info["env_id"] == "CliffWalking-v1"
    assert info["return"]["mean"] == pytest.approx(float(demos.episode_returns().mean()))


def test_generate_is_deterministic_and_round_trips(tmp_path, capsys):
    args = ["demos", "generate", "--env", "irl/Gridworld-v0", "--env-kwargs", '{"size": 4}', "--episodes", "5",
            "--seed", "3"]
    assert main([*args, "--out", str(tmp_path / "a.npz")]) == 0
    assert main([*args, "--out", str(tmp_path / "b.npz"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n_episodes"] == 5
    a, b = load_demos(tmp_path / "a.npz"), load_demos(tmp_path / "b.npz")
    for key, value in a.arrays().items():
        np.testing.assert_array_equal(value, b.arrays()[key])
    assert a.env_kwargs == {"size": 4} and a.metadata["provenance"]["seed"] == 3
    assert a.episode_lengths.tolist() == [8] * 5  # the gridworld's horizon 2 * size


@pytest.mark.parametrize("extra, needle", [
    (["--env", "CartPole-v1"], "not tabular"),
    (["--env", "NoSuchEnv-v0"], "NoSuchEnv"),
    (["--env", "irl/Gridworld-v0", "--episodes", "0"], "episodes"),
    (["--env", "irl/Gridworld-v0", "--temperature", "-1"], "temperature"),
    (["--env", "irl/Gridworld-v0", "--env-kwargs", "[1]"], "--env-kwargs"),
])
def test_generate_bad_input(tmp_path, capsys, extra, needle):
    argv = ["demos", "generate", "--episodes", "2", "--out", str(tmp_path / "x.npz")]
    # later flags win in argparse, so `extra` may override --episodes
    code = main(argv + extra)
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err
    assert not (tmp_path / "x.npz").exists()


def test_info_of_a_broken_file(tmp_path, capsys):
    path = tmp_path / "broken.npz"
    np.savez(path, observations=np.zeros(3))
    assert main(["demos", "info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("irl: error:") and len(err.strip().splitlines()) == 1
