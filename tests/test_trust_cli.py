"""Every failure is one line, no file makes irl import code, concurrent runs never collide
(issue "Trust", sections 1, 3, 4 and 6)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from irl.cli.main import main
from irl.data import load_demos

ROOT = Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos"


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("irl: error:") and "Traceback" not in err, err
    return lines[0]


def _irl(args, cwd, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "irl.cli.main", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kw)


def _write_demos(path: Path, *, env=..., **meta_changes) -> Path:
    demos = load_demos(DEMOS / "gridworld8.npz")
    metadata = dict(demos.metadata, **meta_changes)
    if env is not ...:
        metadata["env"] = env
    np.savez_compressed(path, **demos.arrays(), metadata=np.array(json.dumps(metadata)))
    return path


# ------------------------------------------------------------------------------ 1. no file imports code
def _marker_module(tmp_path: Path, name: str) -> Path:
    """A module on sys.path that creates ``marker`` when imported (and registers a tabular env)."""
    marker = tmp_path / f"{name}.imported"
    (tmp_path / f"{name}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "import gymnasium\n"
        f"gymnasium.register(id='Marked{name}-v0', entry_point='irl.envs.gridworld:GridworldEnv',"
        " kwargs={'size': 8, 'reward': 'random', 'features': 'blocks', 'block_size': 4})\n"
    )
    return marker


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_demo_file_naming_a_module_never_imports_it(on_path, capsys):
    marker = _marker_module(on_path, "evil_demo_mod")
    bad = _write_demos(on_path / "evil.npz", env={"id": "evil_demo_mod:Markedevil_demo_mod-v0", "kwargs": {}})
    for argv in (["fit", "--demos", str(bad), "--out", str(on_path / "run")], ["demos", "info", str(bad)]):
        code, out, err = _run(capsys, argv)
        assert code == 2 and "evil_demo_mod" in _one_error_line(err) and "import" in err
        assert not marker.exists() and not (on_path / "run").exists()
    unregistered = _write_demos(on_path / "unknown.npz", env={"id": "NotRegistered-v3", "kwargs": {}})
    code, _, err = _run(capsys, ["fit", "--demos", str(unregistered)])
    assert code == 2 and "not registered" in _one_error_line(err)


def test_a_run_config_naming_a_module_never_imports_it(on_path, capsys):
    marker = _marker_module(on_path, "evil_run_mod")
    run = on_path / "run"
    assert main(["fit", "--demos", str(DEMOS / "gridworld8.npz"), "--out", str(run), "--algo-kwargs",
                 '{"max_iters": 2}', "--quiet"]) == 0
    capsys.readouterr()
    config = json.loads((run / "config.json").read_text())
    config["env"]["id"] = "evil_run_mod:Markedevil_run_mod-v0"
    (run / "config.json").write_text(json.dumps(config))
    code, _, err = _run(capsys, ["eval", "--run", str(run)])
    assert code == 2 and "evil_run_mod" in _one_error_line(err)
    # a train run on that reward, and a policy run whose config names the module
    code, _, err = _run(capsys, ["train", "--env", "irl/Gridworld-v0", "--algo", "soft-q", "--steps", "5",
                                 "--reward", str(run), "--out", str(on_path / "t")])
    assert code == 2 and "evil_run_mod" in _one_error_line(err)
    from irl.runs.generate import GenerateError
    from irl.runs.rollout import _run_env

    with pytest.raises(Exception, match="evil_run_mod") as info:
        _run_env({"env": {"id": "evil_run_mod:X-v0", "kwargs": {}}}, run, None)
    assert not isinstance(info.value, GenerateError) or "import" in str(info.value)
    assert not marker.exists()


@pytest.mark.slow
def test_a_run_made_with_a_typed_module_env_is_read_back_only_with_that_env(tmp_path):
    marker = _marker_module(tmp_path, "typed_mod")
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env_id = "typed_mod:Markedtyped_mod-v0"
    demos = _write_demos(tmp_path / "d.npz", env={"id": "irl/Gridworld-v0", "kwargs": {
        "size": 8, "reward": "random", "features": "blocks", "block_size": 4}})
    fit = _irl(["fit", "--demos", str(demos), "--env", env_id, "--out", "run", "--quiet", "--algo-kwargs",
                '{"max_iters": 2}'], cwd=tmp_path, env=env)
    assert fit.returncode == 0, fit.stderr
    assert marker.exists()  # the user typed it: their choice
    marker.unlink()
    refused = _irl(["eval", "--run", "run"], cwd=tmp_path, env=env)
    assert refused.returncode == 2 and "typed_mod" in _one_error_line(refused.stderr)
    assert not marker.exists()
    again = _irl(["eval", "--run", "run", "--env", env_id, "--json"], cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "epic" in json.loads(again.stdout.strip().splitlines()[-1])


@pytest.mark.slow
# ------------------------------------------------------------------------ 3. concurrent runs
def test_four_concurrent_fits_in_one_folder_all_finish(tmp_path):
    args = ["fit", "--demos", str(DEMOS / "gridworld8.npz"), "--quiet", "--json", "--algo-kwargs",
            '{"max_iters": 3}']
    procs = [subprocess.Popen([sys.executable, "-m", "irl.cli.main", *args, "--seed", str(seed)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (0, 0, 1, 1)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    for code, _, err in results:
        assert code == 0, err
    dirs = {json.loads(out.strip().splitlines()[-1])["run_dir"] for _, out, _ in results}
    assert len(dirs) == 4
    for d in dirs:
        assert (tmp_path / d / "metrics.json").is_file()
        assert f"-s{d.split('-s')[-1].split('-')[0]}-" in Path(d).name  # the seed is in the name
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(Path(d).name for d in dirs)


@pytest.mark.slow
def test_two_concurrent_trains_in_one_folder_both_finish(tmp_path):
    args = ["train", "--env", "irl/Gridworld-v0", "--env-kwargs", '{"size": 3}', "--algo", "soft-q", "--steps",
            "30", "--seed", "0", "--quiet", "--json"]
    procs = [subprocess.Popen([sys.executable, "-m", "irl.cli.main", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _, _ in results), results
    dirs = {json.loads(out.strip().splitlines()[-1])["run_dir"] for _, out, _ in results}
    assert len(dirs) == 2 and all((tmp_path / d / "policy.json").is_file() for d in dirs)


def test_a_finished_result_is_never_discarded(tmp_path):
    from irl.runs.folders import atomic_run_dir, claim_run_dir

    run_dir = claim_run_dir(tmp_path, "x")
    with atomic_run_dir(run_dir) as staged:
        (staged.path / "mine.txt").write_text("mine")
        (run_dir / "theirs.txt").write_text("someone else wrote here meanwhile")
    assert staged.final == run_dir.with_name(run_dir.name + "-2")
    assert (staged.final / "mine.txt").read_text() == "mine" and (run_dir / "theirs.txt").is_file()


def test_stale_temporary_folders_of_dead_processes_are_removed(tmp_path):
    from irl.runs.folders import remove_stale_temps

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".run-x.tmp-{dead.pid}-abc"
    live = tmp_path / f".run-y.tmp-{os.getpid()}-def"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    remove_stale_temps(tmp_path)
    assert not stale.exists() and live.exists()


# --------------------------------------------------------------------- signals and pipes
def _start_long_fit(tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "irl.cli.main", "fit", "--demos", str(DEMOS / "objectworld32.npz"), "--algo",
         "deep-maxent", "--algo-kwargs", '{"max_iters": 100000, "plateau_tol": 0}', "--quiet"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("sig, codes, word", [(signal.SIGTERM, (143,), "terminated"),
                                              (signal.SIGINT, (130,), "interrupted")])
def test_sigterm_and_ctrl_c_stop_cleanly_with_a_checkpoint(tmp_path, sig, codes, word):
    """A resumable fit stops at the end of its iteration, saves a checkpoint, marks the folder interrupted and
    prints the one command that resumes it; nothing in the folder looks finished."""
    proc = _start_long_fit(tmp_path)
    deadline = time.monotonic() + 60
    while not (tmp_path / "runs").exists() and time.monotonic() < deadline:  # the run folder is claimed
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(sig)
    rc = proc.wait(timeout=60)
    err = proc.stderr.read().strip().splitlines()
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert rc in codes and len(err) == 2, err
    assert err[0].startswith(f"irl: {word} after iteration ") and err[0].endswith("(checkpoint saved)"), err
    assert err[1].endswith(f"resume with: irl fit --resume runs/{run_dir.name}"), err
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "interrupted" and sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint.npz", "config.json", "status.json"]


@pytest.mark.parametrize("delay", [0.2, 0.4, 0.6, 0.9])
def test_ctrl_c_during_start_up_imports_is_one_line(tmp_path, delay):
    """Through the console script, whose launcher holds Ctrl-C back while irl, torch and scipy load."""
    script = Path(sys.executable).parent / "irl"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "_irl_launcher"]
    proc = subprocess.Popen([*argv, "demos", "info", str(DEMOS / "gridworld8.npz")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=60)
    err = proc.stderr.read()
    assert "Traceback" not in err and rc in (0, 130, -signal.SIGINT), err
    if rc != 0:
        assert err.strip() == "irl: interrupted"


def test_a_closed_pipe_is_not_a_traceback(tmp_path):
    proc = subprocess.Popen(f"{sys.executable} -m irl.cli.main demos info {DEMOS / 'gridworld8.npz'} | head -2",
                            shell=True, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert len(out.splitlines()) == 2 and "Traceback" not in err and "BrokenPipe" not in err, err


# ---------------------------------------------------------------------- 4. one line, exit 2
def _deep_metadata_file(path: Path) -> Path:
    demos = load_demos(DEMOS / "gridworld8.npz")
    text = json.dumps(demos.metadata)[:-1] + ', "deep": ' + "[" * 200_000 + "]" * 200_000 + "}"
    np.savez_compressed(path, **demos.arrays(), metadata=np.array(text))
    return path


def _huge_declared_file(path: Path) -> Path:
    header = {"descr": "<i8", "fortran_order": False, "shape": (10**12,)}
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("observations.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            fh.write(b"\0" * 64)
    return path


FIT_BAD = [
    (lambda t: ["--demos", str(_write_demos(t / "h.npz", horizon="abc"))], "horizon"),
    (lambda t: ["--demos", str(_write_demos(t / "h.npz", horizon=2.5))], "horizon"),
    (lambda t: ["--demos", str(_write_demos(t / "h.npz", horizon=True))], "horizon"),
    (lambda t: ["--demos", str(_write_demos(t / "h.npz", horizon=10**9))], "memory"),
    (lambda t: ["--demos", str(_deep_metadata_file(t / "deep.npz"))], "nested too deeply"),
    (lambda t: ["--demos", str(_huge_declared_file(t / "bomb.npz"))], "(1000000000000,)"),
    (lambda t: ["--demos", str(DEMOS / "gridworld8.npz"), "--env", "irl/Gridworld-v0", "--env-kwargs",
                '{"size": 100000}'], "memory"),
    (lambda t: ["--demos", str(DEMOS / "gridworld8.npz"), "--seed", "-1"], "seed must be"),
    (lambda t: ["--demos", str(DEMOS / "gridworld8.npz"), "--out", str(_a_file(t))], "is a file"),
    (lambda t: ["--demos", str(_csv(t))], "not a zip archive"),
]


def _a_file(tmp: Path) -> Path:
    (tmp / "existing.txt").write_text("mine")
    return tmp / "existing.txt"


def _csv(tmp: Path) -> Path:
    path = tmp / "demos.csv"
    path.write_text("observations,actions\n0,1\n1,2\n")
    return path


@pytest.mark.timeout(60)
@pytest.mark.parametrize("make_args, needle", FIT_BAD)
def test_fit_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, monkeypatch, make_args, needle):
    monkeypatch.chdir(tmp_path)
    args = make_args(tmp_path)
    before = set(tmp_path.iterdir())
    code, out, err = _run(capsys, ["fit", *args, "--quiet"])
    line = _one_error_line(err)
    assert code == 2 and needle in line, line
    assert "pickle" not in line
    assert set(tmp_path.iterdir()) == before


GENERATE_BAD = [
    (["--env-kwargs", '{"sise": 8}'], "sise"),
    (["--temperature", "inf"], "temperature must be"),
    (["--temperature", "1e-300"], "temperature must be"),
    (["--seed", "-1"], "seed must be"),
    (["--max-steps", str(10**9), "--env", "CliffWalking-v1"], "memory"),
]


@pytest.mark.parametrize("extra, needle", GENERATE_BAD)
def test_generate_bad_input_is_one_line(tmp_path, capsys, extra, needle):
    argv = ["demos", "generate", "--env", "irl/Gridworld-v0", "--episodes", "2", "--out", str(tmp_path / "x.npz"),
            "--quiet", *extra]
    code, _, err = _run(capsys, argv)
    assert code == 2 and needle in _one_error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_generate_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "d.npz"
    out.write_bytes(b"keep me")
    argv = ["demos", "generate", "--env", "irl/Gridworld-v0", "--env-kwargs", '{"size": 3}', "--episodes", "2",
            "--out", str(out), "--quiet"]
    code, _, err = _run(capsys, argv)
    assert code == 2 and "--force" in _one_error_line(err) and out.read_bytes() == b"keep me"
    code, _, err = _run(capsys, [*argv, "--force"])
    assert code == 0, err
    assert load_demos(out).n_episodes == 2


TRAIN_BAD = [
    (["--env", "Pendulum-v1", "--algo", "soft-q"], "Discrete actions"),
    (["--env", "Pendulum-v1", "--algo", "sac", "--env-kwargs", '{"g": "x"}'], "fails on its first step"),
    (["--env", "Pendulum-v1", "--algo", "sac", "--seed", "-1"], "seed must be a non-negative integer"),
]


@pytest.mark.parametrize("argv, needle", TRAIN_BAD)
def test_train_bad_input_is_one_line(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, ["train", *argv, "--steps", "50", "--quiet"])
    assert code == 2 and needle in _one_error_line(err)
    assert list(tmp_path.iterdir()) == []


def _fit_run(tmp_path: Path, capsys) -> Path:
    run = tmp_path / "fit"
    assert main(["fit", "--demos", str(DEMOS / "gridworld8.npz"), "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    return run


@pytest.mark.parametrize("policy, needle", [
    (np.full((5, 5), 0.2), "shape"),
    (-np.ones((16, 64, 5)), "negative"),
    (np.zeros((16, 64, 5)), "sums to 0"),
    (np.full((16, 64, 5), np.nan), "non-finite"),
])
def test_eval_of_a_broken_policy_is_one_line(tmp_path, capsys, policy, needle):
    run = _fit_run(tmp_path, capsys)
    np.save(run / "policy.npy", policy)
    code, _, err = _run(capsys, ["eval", "--run", str(run)])
    assert code == 2 and needle in _one_error_line(err)


def test_eval_of_a_train_run_says_eval_takes_a_fit_run(tmp_path, capsys):
    run = tmp_path / "train"
    assert main(["train", "--env", "irl/Gridworld-v0", "--env-kwargs", '{"size": 3}', "--algo", "soft-q",
                 "--steps", "20", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    code, _, err = _run(capsys, ["eval", "--run", str(run)])
    assert code == 2 and "irl train" in _one_error_line(err) and "irl fit" in err


def test_eval_of_a_stationary_policy_and_of_a_good_run(tmp_path, capsys):
    run = _fit_run(tmp_path, capsys)
    code, out, err = _run(capsys, ["eval", "--run", str(run), "--json"])
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["epic"] < 0.1


@pytest.mark.slow
# ------------------------------------------------------------------------ 6. readable output
def test_progress_is_a_line_every_few_seconds_in_a_log_and_quiet_silences_it(tmp_path):
    args = ["fit", "--demos", str(DEMOS / "objectworld32.npz"), "--algo", "deep-maxent", "--algo-kwargs",
            '{"max_iters": 40}', "--out"]
    loud = _irl([*args, "loud"], cwd=tmp_path, env={"IRL_PROGRESS_INTERVAL": "0.2"})
    assert loud.returncode == 0, loud.stderr
    lines = [ln for ln in loud.stderr.splitlines() if ln.startswith("fit deep-maxent:")]
    assert lines and "\r" not in loud.stderr and "/40 it" in lines[0]
    quiet = _irl([*args, "quiet", "--quiet"], cwd=tmp_path, env={"IRL_PROGRESS_INTERVAL": "0.2"})
    assert quiet.returncode == 0 and not [ln for ln in quiet.stderr.splitlines() if ln.startswith("fit ")]


def test_generate_writes_no_carriage_returns_into_a_log(tmp_path):
    res = _irl(["demos", "generate", "--env", "irl/Gridworld-v0", "--env-kwargs", '{"size": 4}', "--episodes",
                "300", "--out", "d.npz"], cwd=tmp_path, env={"IRL_PROGRESS_INTERVAL": "0"})
    assert res.returncode == 0 and "\r" not in res.stderr and "generate irl/Gridworld-v0:" in res.stderr


@pytest.mark.slow
def test_train_writes_progress_lines_not_bars_into_a_log(tmp_path):
    res = _irl(["train", "--env", "irl/Gridworld-v0", "--env-kwargs", '{"size": 3}', "--algo", "soft-q", "--steps",
                "200", "--out", "run"], cwd=tmp_path, env={"IRL_PROGRESS_INTERVAL": "0"})
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stderr and "soft-q: " in res.stderr and "/200 steps" in res.stderr


def test_help_lists_every_algorithm_setting_and_descriptions(capsys):
    from irl.inverse.registry import ALGORITHMS

    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = capsys.readouterr().out
    assert "{" + ",".join(ALGORITHMS) + "}" in text  # --algo shows its choices
    for name, algorithm in ALGORITHMS.items():
        import dataclasses

        for field in dataclasses.fields(algorithm.config_class()):
            assert f"  {field.name} = " in text.split(f"\n{name}: ")[1].split("\n\n")[0], (name, field.name)
    for command, description in ((["eval", "--help"], "Recompute the metrics"),
                                 (["demos", "info", "--help"], "Check a demo file")):
        with pytest.raises(SystemExit):
            main(command)
        assert description in capsys.readouterr().out


def test_demos_info_prints_rounded_numbers_not_dicts(capsys):
    assert main(["demos", "info", str(DEMOS / "pendulum-sac-expert.npz")]) == 0
    out = capsys.readouterr().out
    assert "{" not in out and "'" not in out
    ret = next(ln for ln in out.splitlines() if ln.strip().startswith("return"))
    numbers = re.findall(r"-?\d+\.?\d*", ret)
    significant = [n.lstrip("-").replace(".", "").lstrip("0") for n in numbers]
    assert len(numbers) == 4 and all(len(d) <= 4 for d in significant), ret
