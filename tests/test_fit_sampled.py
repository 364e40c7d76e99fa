"""``irl fit`` with the sampled algorithms (gail, airl, bc): the flags that apply only to them, the run
folder each writes (reward files or none, curve, tabular tables), the return metrics and when the
normalised score is omitted, ``--transfer``, ``irl eval`` on such runs, and MuJoCo when it is installed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import rollout_demos

from irl.cli.main import main
from irl.data import load_demos, save_demos
from irl.envs import mdp_for_demos

DEMOS = Path(__file__).resolve().parent.parent / "demos"
PENDULUM = str(DEMOS / "pendulum-sac-expert.npz")
GRID = str(DEMOS / "gridworld8.npz")


def fit(capsys, *args: str) -> tuple[int, dict | None, str]:
    """Runs ``irl fit ... --json --quiet``; returns the exit code, the JSON summary (None on failure), stderr."""
    code = main(["fit", *args, "--json", "--quiet"])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return code, (json.loads(lines[-1]) if code == 0 and lines else None), err


# ---------------------------------------------------------------------- flags that do not apply
@pytest.mark.parametrize("flags, message", [
    (["--steps", "100"], "--steps: only for the algorithms that sample the env"),
    (["--generator", "pg"], "--generator: only for the algorithms that sample the env"),
    (["--transfer"], "--transfer: only for the algorithms that sample the env"),
])
def test_an_exact_tabular_algorithm_refuses_the_sampling_flags(tmp_path, capsys, flags, message):
    run = tmp_path / "run"
    code, _, err = fit(capsys, "--demos", GRID, "--algo", "maxent", "--out", str(run), *flags)
    assert code == 2
    assert message in err and "maxent is exact on the tabular model" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not run.exists()


@pytest.mark.parametrize("args, message", [
    (["--algo", "bc", "--generator", "sac"], "--generator: bc has no generator"),
    (["--algo", "bc", "--transfer"], "--transfer: bc learns no reward to transfer"),
    (["--algo", "gail", "--steps", "100", "--algo-kwargs", '{"steps": 200}'],
     "--steps and steps in --algo-kwargs both given"),
    (["--algo", "gail", "--algo-kwargs", '{"disc_lr": -1}'], "disc_lr and absorbing_lr must be > 0"),
])
def test_a_sampled_algorithm_refuses_flags_that_do_not_apply(tmp_path, capsys, args, message):
    run = tmp_path / "run"
    code, _, err = fit(capsys, "--demos", PENDULUM, "--out", str(run), *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not run.exists()


# ---------------------------------------------------------------------------------- bc runs
def test_bc_writes_a_policy_and_no_reward(tmp_path, capsys):
    run = tmp_path / "run"
    code, summary, err = fit(capsys, "--demos", PENDULUM, "--algo", "bc", "--steps", "300", "--out", str(run))
    assert code == 0, err
    files = {p.name for p in run.iterdir()}
    assert {"config.json", "metrics.json", "policy.json", "policy_weights.npz", "log.jsonl"} <= files
    assert not files & {"reward.json", "reward_weights.npz", "reward_table.npy", "reward.png"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["reward_metrics"] == "not applicable: bc learns no reward"
    assert not {"epic", "regret_hard", "pearson"} & set(metrics)
    assert metrics["eval_episodes"] >= 10 and np.isfinite(metrics["eval_return"])
    expected = (metrics["eval_return"] - metrics["random_return"]) / (metrics["demos_return"] - metrics["random_return"])
    assert metrics["normalised_return"] == pytest.approx(expected)
    assert metrics["demos_return"] == pytest.approx(float(load_demos(PENDULUM).rewards.sum()) / 20)
    assert summary["eval_return"] == metrics["eval_return"]


def test_the_normalised_score_is_omitted_with_a_reason_when_the_demos_have_no_rewards(tmp_path, capsys):
    demos = load_demos(PENDULUM)
    plain = tmp_path / "plain.npz"
    save_demos(dataclasses.replace(demos, rewards=None), plain)
    run = tmp_path / "run"
    code, _, err = fit(capsys, "--demos", str(plain), "--algo", "bc", "--steps", "50", "--out", str(run))
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert "normalised_return" not in metrics and "demos_return" not in metrics
    assert "no rewards" in metrics["normalised_return_omitted"]
    assert np.isfinite(metrics["eval_return"])


# ------------------------------------------------------------------------------ gail / airl runs
def test_gail_writes_its_logit_as_a_labelled_reward_a_curve_and_a_transfer(tmp_path, capsys):
    run = tmp_path / "run"
    code, summary, err = fit(capsys, "--demos", PENDULUM, "--algo", "gail", "--steps", "1200", "--transfer",
                             "--out", str(run), "--algo-kwargs", '{"round_steps": 400, "disc_updates": 5}')
    assert code == 0, err
    files = {p.name for p in run.iterdir()}
    assert {"reward.json", "reward_weights.npz", "policy.json", "policy_weights.npz", "curve.csv", "curve.json",
            "learning_curve.png", "metrics.json", "log.jsonl"} <= files
    assert "reward_table.npy" not in files  # Pendulum has no tabular model
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["reward_label"].startswith("GAIL discriminator logit")
    assert metrics["transfer_steps"] == 1200 and np.isfinite(metrics["transfer_return"])
    assert "transfer_normalised_return" in metrics
    curve = json.loads((run / "curve.json").read_text())
    assert len(curve) == 6 and curve[-1]["step"] == 1200  # 200-step episodes
    assert {"true_return", "length", "seconds", "disc_accuracy"} <= set(curve[-1])
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["env_steps"] for e in log] == [400, 800, 1200]
    assert summary["reward_label"] == metrics["reward_label"]
    code = main(["eval", "--run", str(run)])
    err = capsys.readouterr().err
    assert code == 2 and "no reward table" in err and len(err.strip().splitlines()) == 1


def test_airl_on_a_tabular_env_writes_the_exact_tables_and_metrics(tmp_path, capsys):
    """On a tabular env the recovered g is evaluated on every state and action, so the run has the
    same reward_table.npy, policy.npy and recovery metrics as MaxEnt's, and irl eval recomputes them."""
    run = tmp_path / "run"
    code, summary, err = fit(capsys, "--demos", GRID, "--algo", "airl", "--generator", "pg", "--steps", "2000",
                             "--out", str(run), "--algo-kwargs", '{"round_steps": 500, "disc_updates": 10}')
    assert code == 0, err
    mdp = mdp_for_demos(load_demos(GRID))
    table = np.load(run / "reward_table.npy", allow_pickle=False)
    policy = np.load(run / "policy.npy", allow_pickle=False)
    assert table.shape == (mdp.n_env_states, mdp.n_actions) and policy.shape[-1] == mdp.n_actions
    assert np.allclose(table, table[:, :1])  # state-only g
    np.testing.assert_allclose(policy.sum(-1), 1.0, atol=1e-6)
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"epic", "regret_hard", "eval_return", "normalised_return"} <= set(metrics)
    assert metrics["reward_label"].startswith("AIRL g(s)")
    assert (run / "reward.png").is_file()
    assert main(["eval", "--run", str(run), "--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["epic"] == pytest.approx(metrics["epic"])
    assert again["regret_hard"] == pytest.approx(metrics["regret_hard"])


def test_the_same_seed_gives_the_same_run(tmp_path, capsys):
    outs = []
    for name in ("a", "b"):
        code, _, err = fit(capsys, "--demos", PENDULUM, "--algo", "airl", "--generator", "pg", "--steps", "800",
                           "--out", str(tmp_path / name), "--seed", "5",
                           "--algo-kwargs", '{"round_steps": 400, "disc_updates": 5}')
        assert code == 0, err
        outs.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    for key in ("eval_return", "random_return", "normalised_return"):
        assert outs[0][key] == outs[1][key]
    weights = [np.load(tmp_path / name / "reward_weights.npz", allow_pickle=False) for name in ("a", "b")]
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0].files)


# ------------------------------------------------------------------------------------ MuJoCo
def test_gail_runs_on_a_mujoco_task(tmp_path, capsys, monkeypatch):
    """The optional extra ``mujoco`` (gymnasium[mujoco]): HalfCheetah-v5 demos of a random policy, a
    short GAIL fit, the run and its metrics written."""
    pytest.importorskip("mujoco")
    monkeypatch.chdir(tmp_path)  # MuJoCo writes its warnings to MUJOCO_LOG.TXT in the working folder
    demos = rollout_demos("HalfCheetah-v5", lambda obs, rng: rng.uniform(-1, 1, 6).astype(np.float32), 2, 0,
                          env_kwargs={"max_episode_steps": 100})
    path = tmp_path / "cheetah.npz"
    save_demos(demos, path)
    run = tmp_path / "run"
    code, summary, err = fit(capsys, "--demos", str(path), "--algo", "gail", "--steps", "300", "--out", str(run),
                             "--algo-kwargs", '{"round_steps": 300, "disc_updates": 3}')
    assert code == 0, err
    assert np.isfinite(summary["eval_return"]) and summary["random_return"] is not None
    assert (run / "reward_weights.npz").is_file() and (run / "policy_weights.npz").is_file()
