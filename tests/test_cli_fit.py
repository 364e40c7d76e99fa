"""``irl fit`` / ``irl eval`` end to end, and every bad-input path: exit 2, one line, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from irl.cli.main import main
from irl.data import load_demos, save_demos
from irl.rewards import load_reward

DEMOS = Path(__file__).resolve().parent.parent / "demos"
# A few iterations are enough to check the plumbing on the larger files.
QUICK = {"gridworld8.npz": None, "cliffwalking.npz": '{"max_iters": 15}', "objectworld32.npz": '{"max_iters": 5}'}


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", sorted(QUICK))
def test_fit_and_eval_every_shipped_demo_file(tmp_path, capsys, name):
    run = tmp_path / "run"
    argv = ["fit", "--demos", str(DEMOS / name), "--out", str(run), "--json"]
    if QUICK[name]:
        argv += ["--algo-kwargs", QUICK[name]]
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert {"epic", "regret_hard", "regret_soft", "pearson", "spearman", "demo_log_likelihood", "iterations",
            "converged", "seconds"} <= set(summary)
    assert 0.0 <= summary["epic"] <= 1.0
    files = {p.name for p in run.iterdir()}
    assert {"config.json", "reward.json", "reward_weights.npz", "reward_table.npy", "policy.npy", "metrics.json",
            "log.jsonl", "reward.png"} <= files
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary folder is left behind"
    demos = load_demos(DEMOS / name)
    config = json.loads((run / "config.json").read_text())
    n_states = {"gridworld8.npz": 64, "cliffwalking.npz": 48, "objectworld32.npz": 1024}[name]
    table = np.load(run / "reward_table.npy", allow_pickle=False)
    assert table.shape == (n_states, 4 if name == "cliffwalking.npz" else 5)
    assert config["env"]["id"] == demos.env_id
    # the saved reward model rebuilds the same table
    from irl.envs import mdp_for_demos

    mdp = mdp_for_demos(demos)
    np.testing.assert_allclose(load_reward(run).double().table(mdp).detach().numpy(), table, atol=1e-12)

    code, out, err = _run(capsys, ["eval", "--run", str(run), "--json"])
    assert code == 0, err
    again = json.loads(out.strip().splitlines()[-1])
    for key in ("epic", "regret_hard", "pearson", "demo_log_likelihood"):
        assert again[key] == pytest.approx(summary[key], rel=1e-9, abs=1e-12)


def test_default_reward_kinds(tmp_path, capsys):
    for name, kind in [("gridworld8.npz", "linear"), ("cliffwalking.npz", "tabular")]:
        run = tmp_path / name
        code, _, err = _run(capsys, ["fit", "--demos", str(DEMOS / name), "--out", str(run),
                                     "--algo-kwargs", '{"max_iters": 2}'])
        assert code == 0, err
        assert json.loads((run / "config.json").read_text())["algo_config"]["reward"] == kind


def test_gridworld_fit_recovers_the_reward(tmp_path, capsys):
    code, out, _ = _run(capsys, ["fit", "--demos", str(DEMOS / "gridworld8.npz"), "--out", str(tmp_path / "r"),
                                 "--json"])
    assert code == 0
    m = json.loads(out.strip().splitlines()[-1])
    assert m["converged"] and m["epic"] < 0.1 and m["regret_hard"] < 0.05


def test_default_run_folder_under_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(capsys, ["fit", "--demos", str(DEMOS / "gridworld8.npz"), "--algo-kwargs",
                                 '{"max_iters": 2}', "--json"])
    assert code == 0
    run_dir = Path(json.loads(out.strip().splitlines()[-1])["run_dir"])
    assert run_dir.parent == Path("runs") and run_dir.name.startswith("gridworld8-maxent-")
    assert (tmp_path / run_dir / "metrics.json").is_file()


def test_fit_help_lists_algorithms_and_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    from irl.inverse.registry import ALGORITHMS

    for name in ALGORITHMS:
        assert name in text
    assert "state-action" in text and "linear" in text


def _bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.npz"
    path.write_bytes(b"this is not a zip file")
    return path


def _out_of_space_demos(tmp_path: Path) -> Path:
    demos = load_demos(DEMOS / "gridworld8.npz")
    arrays = demos.arrays()
    arrays["observations"] = arrays["observations"].copy()
    arrays["observations"][3] = 64  # one past the last cell
    path = tmp_path / "oob.npz"
    np.savez_compressed(path, **arrays, metadata=np.array(json.dumps(demos.metadata)))
    return path


def _no_env_demos(tmp_path: Path) -> Path:
    demos = load_demos(DEMOS / "gridworld8.npz")
    path = tmp_path / "noenv.npz"
    from dataclasses import replace

    save_demos(replace(demos, metadata={**demos.metadata, "env": None}), path)
    return path


BAD = [
    (lambda tmp: ["--demos", str(tmp / "missing.npz")], "missing.npz"),
    (lambda tmp: ["--demos", str(_bad_file(tmp))], "bad.npz"),
    (lambda tmp: ["--demos", str(_out_of_space_demos(tmp))], "observations"),
    (lambda tmp: ["--demos", str(_no_env_demos(tmp))], "--env"),
    (lambda tmp: ["--demos", str(DEMOS / "gridworld8.npz"), "--env", "NoSuchEnv-v9"], "NoSuchEnv-v9"),
    (lambda tmp: ["--demos", str(DEMOS / "gridworld8.npz"), "--env", "CartPole-v1"], "not tabular"),
    (lambda tmp: ["--demos", str(DEMOS / "gridworld8.npz"), "--env", "irl/Gridworld-v0", "--env-kwargs",
                  '{"size": 4}'], "observations"),
    (lambda tmp: ["--demos", str(DEMOS / "gridworld8.npz"), "--env-kwargs", "{nope"], "--env-kwargs"),
    (lambda tmp: ["--demos", str(DEMOS / "gridworld8.npz"), "--algo", "telepathy"], "telepathy"),
    (lambda tmp: ["--demos", str(DEMOS / "gridworld8.npz"), "--algo-kwargs", '{"warp": 9}'], "warp"),
    (lambda tmp: ["--demos", str(DEMOS / "gridworld8.npz"), "--algo-kwargs", '{"reward": "cubic"}'], "cubic"),
    (lambda tmp: ["--demos", str(DEMOS / "cliffwalking.npz"), "--env", "CliffWalking-v1", "--env-kwargs",
                  '{"max_episode_steps": 5}'], "horizon"),
]


@pytest.mark.parametrize("make_args, needle", BAD)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, make_args, needle):
    out_dir = tmp_path / "out"
    args = make_args(tmp_path)
    before = set(tmp_path.iterdir())
    code, out, err = _run(capsys, ["fit", *args, "--out", str(out_dir)])
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip() and "it/s" not in ln and "%|" not in ln]
    assert len(lines) == 1 and lines[0].startswith("irl: error:"), err
    assert needle in lines[0]
    assert "Traceback" not in err
    assert not out_dir.exists()
    assert set(tmp_path.iterdir()) == before


def test_eval_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    code, _, err = _run(capsys, ["eval", "--run", str(tmp_path)])
    assert code == 2 and "not a run folder" in err


def test_fit_refuses_a_non_empty_out(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = _run(capsys, ["fit", "--demos", str(DEMOS / "gridworld8.npz"), "--out", str(tmp_path)])
    assert code == 2 and "not empty" in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
