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
