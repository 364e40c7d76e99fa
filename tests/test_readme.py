"""README.md's own examples, verbatim: they must run and produce what the README claims.

The Python blocks run in order in one namespace (the second uses the first's ``mdp``);
the command-line walkthrough runs line by line in a scratch folder that holds the shipped
``demos/``, with the one placeholder (``runs/<name>``) filled in from the run it made.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _commands(block: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, trailing comments kept (the shell drops them)."""
    return [ln.strip() for ln in block.replace("\\\n", " ").splitlines() if ln.strip()]


def _irl(command: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run one README command line (its comment dropped, as the shell does), plus ``extra`` flags."""
    argv = shlex.split(command, comments=True)
    assert argv[0] == "irl", command
    return subprocess.run([sys.executable, "-m", "irl.cli.main", *argv[1:], *extra], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "IRL_PROGRESS_INTERVAL": "60"})


@pytest.fixture
def scratch(tmp_path):
    (tmp_path / "demos").symlink_to(ROOT / "demos")
    return tmp_path


def test_the_library_example_runs_verbatim_and_recovers_the_reward(monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in _blocks("python"):
            exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102  (our own README)
    lines = out.getvalue().splitlines()
    assert lines[0] == "True (64, 5)"
    report = eval(lines[1], {})  # noqa: S307  (a dict of floats printed by the example)
    assert report["epic"] < 0.05 and report["regret_hard"] < 0.01
    assert float(namespace["D"].sum()) == pytest.approx(namespace["mdp"].horizon)
    assert lines[2] == "torch.Size([200])" and namespace["agent"].updates == 101  # steps 100..200


def test_the_library_example_refuses_a_model_of_another_env():
    from irl.data import load_demos
    from irl.envs import MDPError, gridworld_mdp
    from irl.inverse import apprenticeship, maxent, mmp

    demos = load_demos(ROOT / "demos" / "gridworld8.npz")
    for fit in (maxent.fit, apprenticeship.fit, mmp.fit):
        with pytest.raises(MDPError, match="differs from the demos'.*reward.*mdp_for_demos"):
            fit(gridworld_mdp(8, slip=0.1), demos)


@pytest.mark.slow
def test_the_set_up_command_fits_the_shipped_demo_file(scratch):
    setup = next(c for b in _blocks("bash") for c in _commands(b) if c.startswith("pip install"))
    fit = setup.split("&&")[1].strip()
    res = _irl(fit, scratch, "--json")
    assert res.returncode == 0, res.stderr
    metrics = json.loads(res.stdout.strip().splitlines()[-1])
    assert metrics["converged"] and metrics["epic"] < 0.05


def _walkthrough() -> list[str]:
    block = next(b for b in _blocks("bash") if b.lstrip().startswith("irl demos info"))
    return _commands(block)


@pytest.mark.slow
def test_the_command_line_walkthrough_runs_verbatim(scratch):
    runs: dict[str, str] = {}
    for command in _walkthrough():
        if " train " in command or "<train run>" in command:
            continue  # minutes of SAC: see the slow test below
        command = command.replace("runs/<name>", runs.get("maxent", "runs/<name>"))
        res = _irl(command, scratch, *(["--json"] if command.startswith("irl fit --demos") else []))
        assert res.returncode == 0, (command, res.stderr)
        if command.startswith("irl fit --demos"):
            metrics = json.loads(res.stdout.strip().splitlines()[-1])
            runs[metrics["algo"]] = metrics["run_dir"]
            assert metrics["epic"] < 0.1, (command, metrics["epic"])  # "pin down well"
            assert Path(metrics["run_dir"]).name.startswith(f"my_demos-{metrics['algo']}-s0-")
    assert set(runs) == {"maxent", "mmp"}


@pytest.mark.slow
def test_the_train_and_policy_demo_lines_run_verbatim(scratch):
    train = next(c for c in _walkthrough() if c.startswith("irl train"))
    res = _irl(train, scratch, "--json")
    assert res.returncode == 0, res.stderr
    run = json.loads(res.stdout.strip().splitlines()[-1])["run_dir"]
    generate = next(c for c in _walkthrough() if "<train run>" in c).replace("runs/<train run>", run)
    res = _irl(generate, scratch)
    assert res.returncode == 0, res.stderr
    from irl.data import load_demos

    assert load_demos(scratch / "expert.npz").n_episodes == 20


@pytest.mark.slow
def test_the_sampled_algorithm_examples_run_verbatim(scratch):
    """GAIL reaches CartPole's 500, AIRL's --transfer writes the transferred return, bc writes no reward."""
    block = next(b for b in _blocks("bash") if b.lstrip().startswith("irl fit --demos demos/cartpole"))
    gail, airl, bc = _commands(block)
    summaries = {}
    for command in (gail, airl, bc):
        res = _irl(command, scratch, "--json", "--quiet")
        assert res.returncode == 0, (command, res.stderr)
        summaries[shlex.split(command)[shlex.split(command).index("--algo") + 1]] = json.loads(
            res.stdout.strip().splitlines()[-1])
    assert summaries["gail"]["eval_return"] == 500
    airl = summaries["airl"]
    assert airl["reward_label"].startswith("AIRL g(s)") and airl["transfer_steps"] == 10_000
    assert {"transfer_return", "transfer_normalised_return", "normalised_return"} <= set(airl)
    bc = summaries["bc"]
    assert bc["reward_metrics"] == "not applicable: bc learns no reward"
    assert not (Path(bc["run_dir"]) if Path(bc["run_dir"]).is_absolute() else scratch / bc["run_dir"]
                ).joinpath("reward.json").exists()


def test_the_compare_example_runs_verbatim(scratch):
    """The leaderboard line: every cell runs, the table and the files it names are written."""
    (scratch / "experiments").mkdir()
    (scratch / "experiments" / "configs").symlink_to(ROOT / "experiments" / "configs")
    block = next(b for b in _blocks("bash") if b.lstrip().startswith("irl compare"))
    (command,) = _commands(block)
    res = _irl(command, scratch, "--quiet")
    assert res.returncode == 0, res.stderr
    out = scratch / "results" / "quick"
    for name in ("results.csv", "summary.md", "curves.png", "heatmaps-gridworld8.png"):
        assert (out / name).is_file(), name
    import pandas as pd

    frame = pd.read_csv(out / "results.csv")
    assert len(frame) == 2 * 2 * 3 * 5 and set(frame.status) == {"ok"}
    assert frame[frame.algo == "true + shaping"].epic.max() < 1e-6
    assert "### gridworld8" in res.stdout and "**" in res.stdout


@pytest.mark.slow
def test_the_gcl_example_runs_verbatim_and_is_within_0_05_epic_of_maxent(scratch):
    block = next(b for b in _blocks("bash") if "--algo gcl" in b)
    generate, maxent, gcl = _commands(block)
    assert _irl(generate, scratch).returncode == 0
    epic = {}
    for command in (maxent, gcl):
        res = _irl(command, scratch, "--json", "--quiet")
        assert res.returncode == 0, (command, res.stderr)
        metrics = json.loads(res.stdout.strip().splitlines()[-1])
        epic[metrics["algo"]] = metrics["epic"]
    assert epic["gcl"] <= epic["maxent"] + 0.05, epic


def test_the_iq_learn_example_runs_verbatim_and_reaches_the_experts_return(scratch):
    block = next(b for b in _blocks("bash") if "--algo iq-learn" in b)
    (command,) = _commands(block)
    res = _irl(command, scratch, "--json", "--quiet")
    assert res.returncode == 0, res.stderr
    metrics = json.loads(res.stdout.strip().splitlines()[-1])
    assert metrics["eval_return"] >= 475 and metrics["reward_label"].startswith("IQ-Learn")


# -- "Bring your own demos", "Use a learned reward in Stable-Baselines3" (blocks fenced ```py) --------
def _section(title: str) -> str:
    """The text of the README section ``## title``, up to the next ``## `` heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start: end if end != -1 else None]


def _py_block(title: str) -> str:
    blocks = re.findall(r"```py\n(.*?)```", _section(title), flags=re.S)
    assert len(blocks) == 1, title
    return blocks[0]


def _run_block(block: str, cwd: Path, monkeypatch) -> list[str]:
    monkeypatch.chdir(cwd)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102  (our own README)
    return out.getvalue().splitlines()


def test_the_bring_your_own_demos_example_runs_verbatim(scratch, monkeypatch):
    lines = _run_block(_py_block("Bring your own demos"), scratch, monkeypatch)
    assert lines == ["Demos(n_steps=5, n_episodes=2, env_id='FrozenLake-v1', observation_shape=(), "
                     "action_shape=(), rewards=yes)"]
    from irl.data import load_demos

    demos = load_demos(scratch / "my_demos.npz")
    assert demos.terminals.tolist() == [False, False, False, False, True] and demos.timeouts[2]


def test_the_demo_errors_table_is_what_the_loader_prints_now():
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import demo_errors
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    block = README.split("<!-- begin generated: demo-errors -->\n", 1)[1].split("<!-- end generated", 1)[0]
    table = block.split("\n\n", 1)[1].strip()  # after the line that says which command wrote it
    assert table == demo_errors.table(demo_errors.messages())


@pytest.mark.slow
def test_the_stable_baselines3_example_runs_verbatim_and_beats_uniform_actions(scratch, monkeypatch):
    pytest.importorskip("stable_baselines3")
    import torch

    torch.set_num_threads(1)
    monkeypatch.setenv("SB3_LOGDIR", str(scratch / "sb3"))  # SB3's logger folder, else a new one in /tmp per run
    (line,) = _run_block(_py_block("Use a learned reward in Stable-Baselines3"), scratch, monkeypatch)
    found = re.fullmatch(r"true return: PPO on the learned reward (\S+), uniform actions (\S+), the demos (\S+)",
                         line)
    assert found, line
    trained, uniform, demos = map(float, found.groups())
    assert trained > uniform + 2 and trained > 0.8 * demos, line


@pytest.mark.slow
def test_the_resume_example_runs_verbatim(scratch):
    """The first line, interrupted by Ctrl-C (SIGINT) once its run folder exists, prints the resume command;
    the second line finishes the run."""
    import signal
    import time

    first, second = _commands(next(b for b in _blocks("bash") if "--resume" in b))
    argv = shlex.split(first, comments=True)
    proc = subprocess.Popen([sys.executable, "-m", "irl.cli.main", *argv[1:], "--quiet"], cwd=scratch,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (scratch / "runs" / "deep").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    err = proc.stderr.read()
    assert err.strip().splitlines()[-1].endswith("resume with: irl fit --resume runs/deep"), err
    assert json.loads((scratch / "runs" / "deep" / "status.json").read_text())["state"] == "interrupted"
    done = _irl(second, scratch, "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads((scratch / "runs" / "deep" / "status.json").read_text())["state"] == "done"
    assert json.loads((scratch / "runs" / "deep" / "metrics.json").read_text())["iterations"] == 300
