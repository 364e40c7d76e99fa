"""Checkpoints and resuming: the checkpoint format, run-folder states, and a real SIGKILL then ``--resume``.

The kill tests start ``irl fit`` / ``irl train`` in a subprocess, wait for a checkpoint in its
``status.json``, kill it with SIGKILL, resume it, and compare every file with an uninterrupted
run of the same settings: bit for bit, the wall-clock ``seconds`` fields aside.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import fit_interrupted_at_first_checkpoint

from irl.checkpoint import (
    Checkpoint,
    CheckpointError,
    RunInterrupted,
    global_rng_state,
    pack,
    read_checkpoint,
    rng_state,
    set_global_rng_state,
    set_rng_state,
    unpack,
    write_checkpoint,
)
from irl.cli.main import main

DEMOS = Path(__file__).resolve().parent.parent / "demos"
GRID = DEMOS / "gridworld8.npz"
CARTPOLE = DEMOS / "cartpole-pg-expert.npz"


# --------------------------------------------------------------------- the format
def test_pack_round_trips_every_leaf_bit_for_bit(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    net(torch.randn(5, 3)).pow(2).sum().backward()
    opt.step()
    gen = np.random.default_rng(7)
    state = {
        "net": net.state_dict(), "opt": opt.state_dict(), "numpy": rng_state(gen), "global": global_rng_state(),
        "torch_gen": rng_state(torch.Generator().manual_seed(3)),
        "floats": [0.1, -0.0, math.inf, math.nan, 1e-310], "ints": {1: "a", (2, 3): [True, None]},
        "arrays": (np.arange(6, dtype=np.int32).reshape(2, 3), np.array([1 + 2j]), np.zeros((0, 4), bool)),
        "tensors": [torch.tensor([1.5], dtype=torch.float64), torch.arange(3, dtype=torch.int64),
                    torch.ones(2, dtype=torch.float16)],
        "__private": "ok",
    }
    write_checkpoint(tmp_path / "c.npz", state)
    back = read_checkpoint(tmp_path / "c.npz")
    assert back["ints"] == {1: "a", (2, 3): [True, None]} and back["__private"] == "ok"
    assert [repr(x) for x in back["floats"]] == [repr(x) for x in state["floats"]]
    for a, b in zip(state["arrays"], back["arrays"], strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    for a, b in zip(state["tensors"], back["tensors"], strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)
    opt2 = torch.optim.Adam(net.parameters(), lr=0.5)
    opt2.load_state_dict(back["opt"])
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    gen2 = np.random.default_rng(0)
    set_rng_state(gen2, back["numpy"])
    assert gen2.random() == gen.random()
    torch_gen = torch.Generator()
    set_rng_state(torch_gen, back["torch_gen"])
    assert torch.equal(torch.rand(3, generator=torch_gen), torch.rand(3, generator=torch.Generator().manual_seed(3)))
    expected = (torch.rand(2), np.random.random(), __import__("random").random())
    set_global_rng_state(back["global"])
    assert (torch.rand(2), np.random.random(), __import__("random").random())[1:] == expected[1:]


def test_what_cannot_be_stored_or_read_is_one_error(tmp_path):
    with pytest.raises(CheckpointError, match=r"state\.x: a set cannot be stored"):
        pack({"x": {1, 2}})
    with pytest.raises(CheckpointError, match="array dtype object"):
        pack({"x": np.array([object()])})
    (tmp_path / "text.npz").write_text("not a zip")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    np.savez(tmp_path / "notree.npz", a=np.zeros(2))
    np.savez(tmp_path / "pickled.npz", __tree__=np.array([{"a": 1}], dtype=object))
    arrays = pack({"w": np.zeros(2)})
    np.savez(tmp_path / "missing.npz", __tree__=arrays["__tree__"])
    np.savez(tmp_path / "garbled.npz", __tree__=np.frombuffer(b"{not json", dtype=np.uint8))
    for name in ("text.npz", "plain.npy", "notree.npz", "pickled.npz", "missing.npz", "garbled.npz", "absent.npz"):
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(tmp_path / name)
        assert str(tmp_path / name) in str(info.value) and "\n" not in str(info.value)
    assert unpack(pack({"a": []})) == {"a": []}


def test_due_counts_iterations_and_seconds_and_a_stop_request():
    now = [0.0]
    saved = []
    ckpt = Checkpoint(lambda it, st: saved.append(it), every=10, seconds=60.0, clock=lambda: now[0])
    assert [i for i in range(1, 31) if ckpt.due(i)] == [10, 20, 30]
    ckpt.save(10, {})
    assert not ckpt.due(19) and ckpt.due(20)
    now[0] = 61.0
    assert ckpt.due(11)  # by time
    ckpt.save(11, {})
    assert not ckpt.due(12)
    ckpt.request_stop("terminated")
    assert ckpt.due(12)
    with pytest.raises(RunInterrupted, match="terminated after iteration 12") as info:
        ckpt.save(12, {})
    assert saved == [10, 11, 12] and info.value.reason == "terminated"
    none = Checkpoint(every=None, seconds=None)
    assert not any(none.due(i) for i in range(1, 1000))
    restored = Checkpoint(restored={"a": 1})
    assert not restored.restoring and restored.restored == {"a": 1} and restored.restoring
    restored.due(1)
    assert not restored.restoring


# --------------------------------------------------------------------- kill and resume, for real
def _irl(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "irl.cli.main", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _kill_after_checkpoint(proc: subprocess.Popen, run_dir: Path, at_least: int) -> dict:
    """SIGKILL ``proc`` once ``run_dir/status.json`` reports a checkpoint of iteration >= ``at_least``."""
    deadline = time.monotonic() + 120
    status: dict = {}
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            status = json.loads((run_dir / "status.json").read_text())
        except (OSError, ValueError):
            status = {}
        if (status.get("iteration") or 0) >= at_least:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "running" and status["iteration"] >= at_least, status
    return status


def _strip_seconds(value):
    if isinstance(value, dict):
        return {k: _strip_seconds(v) for k, v in value.items() if k not in ("seconds", "steps_per_second")}
    if isinstance(value, list):
        return [_strip_seconds(v) for v in value]
    return value


def _assert_same_run(ref: Path, resumed: Path) -> None:
    """Every file of two finished run folders is the same: arrays bit for bit, JSON apart from seconds."""
    ref_files = sorted(p.name for p in ref.iterdir())
    assert ref_files == sorted(p.name for p in resumed.iterdir())
    assert "checkpoint.npz" not in ref_files and "status.json" in ref_files
    for name in ref_files:
        a, b = ref / name, resumed / name
        if name.endswith(".npy"):
            assert np.array_equal(np.load(a), np.load(b)), name
        elif name.endswith(".npz"):
            with np.load(a) as x, np.load(b) as y:
                assert x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files), name
        elif name == "log.jsonl":
            lines = [[json.loads(line) for line in p.read_text().splitlines()] for p in (a, b)]
            assert _strip_seconds(lines[0]) == _strip_seconds(lines[1])
        elif name in ("metrics.json", "curve.json", "reward.json", "policy.json"):
            assert _strip_seconds(json.loads(a.read_text())) == _strip_seconds(json.loads(b.read_text())), name
    assert json.loads((resumed / "status.json").read_text())["state"] == "done"


@pytest.mark.slow
def test_a_tabular_fit_killed_and_resumed_ends_bit_identical(tmp_path):
    """deep-maxent (Adam on an MLP reward, exact gradients) on the 8x8 gridworld."""
    args = ["fit", "--demos", str(GRID), "--algo", "deep-maxent", "--algo-kwargs",
            '{"max_iters": 400, "plateau_tol": 0}', "--quiet", "--checkpoint-every", "10"]
    assert main([*args, "--out", str(tmp_path / "ref")]) == 0
    proc = _irl(*args, "--out", "killed", cwd=tmp_path)
    _kill_after_checkpoint(proc, tmp_path / "killed", at_least=10)
    assert sorted(p.name for p in (tmp_path / "killed").iterdir()) == ["checkpoint.npz", "config.json",
                                                                       "status.json"]
    assert main(["eval", "--run", str(tmp_path / "killed")]) == 2  # not finished: not read
    resumed = subprocess.run([sys.executable, "-m", "irl.cli.main", "fit", "--resume", "killed", "--quiet"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_run(tmp_path / "ref", tmp_path / "killed")
    config = json.loads((tmp_path / "killed" / "config.json").read_text())
    assert len(config["resumed"]) == 1 and main(["eval", "--run", str(tmp_path / "killed")]) == 0


@pytest.mark.slow
def test_a_sampled_fit_killed_and_resumed_ends_bit_identical(tmp_path):
    """gail with its SAC generator on one CartPole env: weights, replay buffer, RNGs and the env mid-episode."""
    args = ["fit", "--demos", str(CARTPOLE), "--algo", "gail", "--steps", "3000", "--algo-kwargs",
            '{"round_steps": 100, "disc_updates": 5, "disc_batch_size": 64, "disc_hidden": [32], '
            '"generator_kwargs": {"hidden": [32, 32], "learning_starts": 200, "batch_size": 64}}',
            "--quiet", "--checkpoint-every", "3"]
    assert main([*args, "--out", str(tmp_path / "ref")]) == 0
    proc = _irl(*args, "--out", "killed", cwd=tmp_path)
    _kill_after_checkpoint(proc, tmp_path / "killed", at_least=3)
    resumed = subprocess.run([sys.executable, "-m", "irl.cli.main", "fit", "--resume", "killed", "--quiet"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_run(tmp_path / "ref", tmp_path / "killed")


@pytest.mark.slow
def test_sac_training_killed_and_resumed_ends_bit_identical(tmp_path):
    args = ["train", "--env", "Pendulum-v1", "--algo", "sac", "--steps", "2000", "--algo-kwargs",
            '{"hidden": [32, 32], "learning_starts": 200, "eval_episodes": 2}', "--quiet", "--checkpoint-every", "2"]
    assert main([*args, "--out", str(tmp_path / "ref")]) == 0
    proc = _irl(*args, "--out", "killed", cwd=tmp_path)
    _kill_after_checkpoint(proc, tmp_path / "killed", at_least=2)
    resumed = subprocess.run([sys.executable, "-m", "irl.cli.main", "train", "--resume", "killed", "--quiet"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_run(tmp_path / "ref", tmp_path / "killed")


# --------------------------------------------------------------------- states and errors
FAST = {"max_iters": 30, "plateau_tol": 0}


def _fit_interrupted(out: Path, demos: Path = GRID) -> None:
    """A deep-maxent fit asked to stop while it writes its first checkpoint, at iteration 5."""
    stopped = fit_interrupted_at_first_checkpoint(out, demos, algo="deep-maxent", algo_kwargs=FAST, checkpoint_every=5)
    assert stopped.iteration == 5
    assert any("resume with: irl fit --resume" in note for note in stopped.__notes__)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    from irl.runs.fit import run_fit

    root = tmp_path_factory.mktemp("states")
    run_fit(GRID, algo="deep-maxent", algo_kwargs=FAST, out=root / "ref", checkpoint_every=5)
    _fit_interrupted(root / "interrupted")
    return {"ref": root / "ref", "interrupted": root / "interrupted"}


def _copy(runs: dict[str, Path], name: str, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(runs[name], tmp_path / name))


def test_an_interrupted_fit_keeps_its_checkpoint_and_resumes_to_the_same_numbers(runs, tmp_path, capsys):
    run = _copy(runs, "interrupted", tmp_path)
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "interrupted" and status["iteration"] == 5
    assert status["resume"] == f"irl fit --resume {runs['interrupted']}"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.npz", "config.json", "status.json"]
    assert main(["fit", "--resume", str(run), "--quiet"]) == 0
    _assert_same_run(runs["ref"], run)


@pytest.mark.parametrize("reader", ["eval", "reward", "policy"])
def test_readers_accept_only_finished_runs(runs, tmp_path, capsys, reader):
    run = runs["interrupted"]
    argv = {"eval": ["eval", "--run", str(run)],
            "reward": ["train", "--env", "irl/Gridworld-v0", "--env-kwargs", '{"size": 8}', "--algo", "soft-q",
                       "--steps", "10", "--reward", str(run), "--out", str(tmp_path / "t")],
            "policy": ["demos", "generate", "--env", "irl/Gridworld-v0", "--policy", str(run), "--episodes", "1",
                       "--out", str(tmp_path / "d.npz")]}[reader]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a finished run (interrupted after iteration 5)" in err[0], err
    assert f"resume it with: irl fit --resume {run}" in err[0]
    assert not (tmp_path / "t").exists() and not (tmp_path / "d.npz").exists()


def _resume_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("irl: error: "), err
    return err[0]


def test_resume_refuses_what_it_cannot_continue(runs, tmp_path, capsys):
    run = _copy(runs, "interrupted", tmp_path)
    assert "drop --algo, --seed" in _resume_error(["fit", "--resume", str(run), "--algo", "mmp", "--seed", "3"],
                                                  capsys)
    assert "a run of irl fit; resume it with irl fit --resume" in _resume_error(["train", "--resume", str(run)],
                                                                                 capsys)
    assert "the run is finished" in _resume_error(["fit", "--resume", str(runs["ref"])], capsys)
    assert "no such run folder" in _resume_error(["fit", "--resume", str(tmp_path / "nope")], capsys)
    (tmp_path / "empty").mkdir()
    assert "no status.json" in _resume_error(["fit", "--resume", str(tmp_path / "empty")], capsys)
    assert "--demos (or --resume RUN_DIR)" in _resume_error(["fit"], capsys)

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        status = json.loads((run / "status.json").read_text())
        (run / "status.json").write_text(json.dumps({**status, "state": "running", "pid": sleeper.pid}))
        assert f"still running (pid {sleeper.pid})" in _resume_error(["fit", "--resume", str(run)], capsys)
        assert "still running" in _resume_error(["eval", "--run", str(run)], capsys)
    finally:
        sleeper.kill()
        sleeper.wait()
    (run / "status.json").write_text(json.dumps({**status, "state": "paused"}))
    assert "'state' must be one of" in _resume_error(["fit", "--resume", str(run)], capsys)
    (run / "status.json").write_text(json.dumps(status))

    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "call": {**config["call"], "seed": "x"}}))
    assert 'call.seed is "x", not an integer' in _resume_error(["fit", "--resume", str(run)], capsys)
    (run / "config.json").write_text(json.dumps({**config, "algo": "mmp"}))
    assert "was made by 'deep-maxent', but config.json names algorithm 'mmp'" in _resume_error(
        ["fit", "--resume", str(run)], capsys)
    (run / "config.json").write_text(json.dumps(config))

    (run / "checkpoint.npz").write_bytes((run / "checkpoint.npz").read_bytes()[:100])
    assert "cannot be read as a checkpoint" in _resume_error(["fit", "--resume", str(run)], capsys)


def test_a_checkpoint_that_does_not_fit_the_run_is_one_error(runs, tmp_path, capsys):
    run = _copy(runs, "interrupted", tmp_path)
    state = read_checkpoint(run / "checkpoint.npz")

    def shrink(x):  # every weight loses a row: load_state_dict cannot take it
        if isinstance(x, dict):
            return {k: shrink(v) for k, v in x.items()}
        if isinstance(x, list):
            return [shrink(v) for v in x]
        if isinstance(x, torch.Tensor) and x.ndim == 2:
            return x[1:]
        return x

    write_checkpoint(run / "checkpoint.npz", shrink(state))
    err = _resume_error(["fit", "--resume", str(run), "--quiet"], capsys)
    assert "does not fit this run" in err
    assert json.loads((run / "status.json").read_text())["state"] == "interrupted"  # as it was


def test_resume_needs_the_same_demo_file(tmp_path, capsys):
    demos = tmp_path / "grid.npz"
    demos.write_bytes(GRID.read_bytes())
    _fit_interrupted(tmp_path / "run", demos)
    with np.load(demos) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["actions"] = arrays["actions"][::-1].copy()
    np.savez(demos, **arrays)
    assert "changed since the run started" in _resume_error(["fit", "--resume", str(tmp_path / "run")], capsys)


def test_a_run_that_fails_after_a_checkpoint_is_marked_failed(tmp_path, capsys):
    """A NaN after the first checkpoint: the folder keeps it, status failed with the error, and the message
    says where the checkpoint is instead of "nothing was written"."""
    from irl._checks import NonFiniteError
    from irl.runs.fit import run_fit
    from irl.runs.resume import RunCheckpoints

    store = RunCheckpoints._store

    def store_then_fail(self, iteration, state):
        store(self, iteration, state)
        raise NonFiniteError("learned reward table holds NaN")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RunCheckpoints, "_store", store_then_fail)
        with pytest.raises(NonFiniteError) as info:
            run_fit(GRID, algo="deep-maxent", algo_kwargs=FAST, out=tmp_path / "run", checkpoint_every=5)
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "failed" and "NonFiniteError" in status["error"]
    assert "keeps the checkpoint of iteration 5" in info.value.__notes__[0]


def test_a_run_interrupted_before_its_first_checkpoint_leaves_nothing(tmp_path):
    """A KeyboardInterrupt that is not the checkpoint's stop (a second Ctrl-C) at iteration 3 of a run that would
    first save at iteration 5: the claimed folder is removed."""
    import irl.runs.fit as fit_module

    class Reporter:
        calls = 0

        def update(self, n=1):
            Reporter.calls += 1
            if Reporter.calls == 3:
                raise KeyboardInterrupt

        def set_postfix(self, **values):
            pass

        def close(self):
            pass

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fit_module, "progress_reporter", lambda *a, **k: Reporter())
        with pytest.raises(KeyboardInterrupt):
            fit_module.run_fit(GRID, algo="deep-maxent", algo_kwargs=FAST, out=tmp_path / "run", checkpoint_every=5)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_sigterm_stops_training_with_a_checkpoint_that_resumes_to_the_end(tmp_path):
    """irl train: SIGTERM once the run folder exists; the episode in progress ends, the checkpoint is written,
    the exit code is 143 and stderr names the resume command; --resume then trains the remaining steps."""
    args = ["train", "--env", "CartPole-v1", "--algo", "sac", "--steps", "3000", "--algo-kwargs",
            '{"hidden": [32, 32], "learning_starts": 100, "eval_episodes": 2}', "--quiet", "--out", "run"]
    proc = _irl(*args, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not (tmp_path / "run").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143
    err = proc.stderr.read().strip().splitlines()
    assert err[0].startswith("irl: terminated after iteration ") and err[-1].endswith(
        "resume with: irl train --resume run"), err
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "interrupted" and status["resume"] == "irl train --resume run"
    resumed = subprocess.run([sys.executable, "-m", "irl.cli.main", "train", "--resume", "run", "--json",
                              "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["steps"] == 3000
    assert json.loads((tmp_path / "run" / "status.json").read_text())["state"] == "done"
