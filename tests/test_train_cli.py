"""``irl train`` (through its own parser) and rolling a trained policy out into demos."""

import argparse
import json

import numpy as np
import pytest
from helpers import hide_package, untimed

from irl.cli import train as train_cli
from irl.cli.common import CLIError
from irl.runs.generate import GenerateError
from irl.runs.rollout import rollout_policy_demos
from irl.runs.train import TrainError
from irl.solvers.policy_io import load_policy

TINY_SAC = '{"hidden": [16, 16], "learning_starts": 100, "batch_size": 32, "eval_episodes": 2}'
RUN_FILES = {"status.json", "config.json", "policy.json", "policy_weights.npz", "metrics.json", "curve.json",
             "curve.csv", "learning_curve.png"}


def irl_train(*argv):
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", *argv])
    return args.handler(args)


def last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory):
    """A tiny SAC run on Pendulum-v1, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("runs") / "pendulum"
    irl_train("--env", "Pendulum-v1", "--algo", "sac", "--steps", "300", "--seed", "1", "--out", str(out),
              "--algo-kwargs", TINY_SAC)
    return out


def test_train_writes_a_complete_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert irl_train("--env", "Pendulum-v1", "--algo", "sac", "--steps", "300", "--out", str(out), "--json",
                     "--algo-kwargs", TINY_SAC) == 0
    summary = last_json(capsys)
    assert {"eval_return", "steps_per_second", "steps", "run_dir"} <= set(summary)
    assert summary["steps"] == 300 and summary["run_dir"] == str(out)
    assert {p.name for p in out.iterdir()} == RUN_FILES
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["eval_return"] == summary["eval_return"] and metrics["steps"] == 300
    config = json.loads((out / "config.json").read_text())
    assert config["env"] == {"id": "Pendulum-v1", "kwargs": {}}
    assert config["config"]["hidden"] == [16, 16] and config["config"]["total_steps"] == 300
    curve = json.loads((out / "curve.json").read_text())
    assert [r["step"] for r in curve] == [200]  # one finished 200-step episode
    assert (out / "curve.csv").read_text().splitlines()[0].startswith("step,episode,true_return,length")
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    policy = load_policy(out)
    assert policy.act(np.zeros(3, np.float32), deterministic=True).shape == (1,)


def test_the_run_is_repeatable(sac_run, tmp_path):
    again = tmp_path / "again"
    irl_train("--env", "Pendulum-v1", "--algo", "sac", "--steps", "300", "--seed", "1", "--out", str(again),
              "--algo-kwargs", TINY_SAC)
    curves = [json.loads((run / "curve.json").read_text()) for run in (again, sac_run)]
    assert untimed(curves[0]) == untimed(curves[1])
    assert json.loads((again / "metrics.json").read_text())["eval_return"] == \
        json.loads((sac_run / "metrics.json").read_text())["eval_return"]


@pytest.mark.parametrize("argv, message", [
    (["--env-kwargs", "{bad"], "--env-kwargs is not valid JSON"),
    (["--algo-kwargs", '{"no_such": 1}'], "unknown setting"),
    (["--algo-kwargs", '{"batch_size": 0}'], "batch_size must be >= 1"),
    (["--steps", "0"], "steps must be an integer >= 1"),
    (["--env", "NoSuchEnv-v9"], "cannot make env 'NoSuchEnv-v9'"),
    (["--env-kwargs", '{"no_such_kwarg": 1}'], "env kwargs .* do not fit Pendulum-v1"),
    (["--reward", "/nonexistent/run"], "reward"),
    (["--demos", "/nonexistent/demos.npz"], "demos"),
])
def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path, argv, message):
    base = {"--env": "Pendulum-v1", "--algo": "sac", "--steps": "50", "--out": str(tmp_path / "run")}
    for flag, value in zip(argv[::2], argv[1::2]):
        base[flag] = value
    with pytest.raises((CLIError, TrainError), match=message):
        irl_train(*[x for pair in base.items() for x in pair])
    assert list(tmp_path.iterdir()) == []


def test_cuda_without_a_device_and_missing_tensorboard_are_clear_errors(tmp_path, monkeypatch):
    import torch

    base = ["--env", "Pendulum-v1", "--algo", "sac", "--steps", "50", "--out", str(tmp_path / "run")]
    if not torch.cuda.is_available():
        with pytest.raises(TrainError, match="no CUDA device"):
            irl_train(*base, "--device", "cuda")
    hide_package(monkeypatch, "tensorboard")
    with pytest.raises(TrainError, match="pip install tensorboard"):
        irl_train(*base, "--tensorboard", str(tmp_path / "tb"))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_run_folder_is_not_overwritten(sac_run):
    from irl.runs.folders import RunDirError

    with pytest.raises(RunDirError, match="exists and is not empty"):
        irl_train("--env", "Pendulum-v1", "--algo", "sac", "--steps", "50", "--out", str(sac_run))


def test_train_on_a_saved_reward(tmp_path, capsys):
    from irl.rewards import MLPReward, save_reward

    save_reward(MLPReward(3, inputs="sa", act_dim=1, seed=2), tmp_path / "fit")
    out = tmp_path / "run"
    irl_train("--env", "Pendulum-v1", "--algo", "sac", "--steps", "250", "--out", str(out), "--json",
              "--reward", str(tmp_path / "fit"), "--algo-kwargs", TINY_SAC)
    config = json.loads((out / "config.json").read_text())
    assert config["reward"] == str((tmp_path / "fit").resolve())
    assert np.isfinite(last_json(capsys)["eval_return"])  # still the env's reward
    # a reward built for another env is refused before anything is written
    save_reward(MLPReward(5, inputs="s"), tmp_path / "other")
    with pytest.raises(TrainError, match="does not fit Pendulum-v1"):
        irl_train("--env", "Pendulum-v1", "--algo", "sac", "--steps", "50", "--out", str(tmp_path / "bad"),
                  "--reward", str(tmp_path / "other"))
    assert not (tmp_path / "bad").exists()


def test_rollout_a_trained_policy_into_demos(sac_run, tmp_path):
    from irl.data import load_demos, save_demos

    demos = rollout_policy_demos("Pendulum-v1", sac_run, episodes=3, seed=7)
    assert demos.n_episodes == 3 and demos.n_steps == 600
    assert demos.timeouts.sum() == 3 and demos.terminals.sum() == 0
    assert demos.actions.dtype == np.float32 and demos.actions.shape == (600, 1)
    assert np.abs(demos.actions).max() <= 2.0
    assert demos.env_id == "Pendulum-v1" and demos.discount == 0.99  # the run's gamma
    assert demos.metadata["provenance"]["method"] == "policy"
    # the same seed gives the same demos; the file round-trips
    again = rollout_policy_demos("Pendulum-v1", sac_run, episodes=3, seed=7)
    np.testing.assert_array_equal(again.actions, demos.actions)
    other = rollout_policy_demos("Pendulum-v1", sac_run, episodes=3, seed=8)
    assert not np.array_equal(other.actions, demos.actions)
    path = save_demos(demos, tmp_path / "pendulum.npz")
    np.testing.assert_array_equal(load_demos(path).observations, demos.observations)
    # deterministic rollouts of a capped length
    short = rollout_policy_demos("Pendulum-v1", load_policy(sac_run), episodes=2, seed=0, deterministic=True,
                                 max_steps=50)
    assert short.n_steps == 100 and short.timeouts.sum() == 2 and short.discount is None
    # a run folder names its env: no env_id needed
    named = rollout_policy_demos(None, sac_run, episodes=1, seed=7)
    assert named.env_id == "Pendulum-v1"
    np.testing.assert_array_equal(named.actions, demos.actions[:200])
    with pytest.raises(GenerateError, match="give env_id"):
        rollout_policy_demos(None, load_policy(sac_run), episodes=1)


def test_rollout_refuses_a_policy_for_another_env(sac_run):
    with pytest.raises(GenerateError, match="trained for observation space"):
        rollout_policy_demos("CartPole-v1", sac_run, episodes=1)
    with pytest.raises(GenerateError, match="episodes must be"):
        rollout_policy_demos("Pendulum-v1", sac_run, episodes=0)
    with pytest.raises(GenerateError, match="policy.json"):
        rollout_policy_demos("Pendulum-v1", sac_run / "nope", episodes=1)


def test_train_with_demos_of_a_discrete_task(tmp_path, capsys):
    out = tmp_path / "cartpole"
    irl_train("--env", "CartPole-v1", "--algo", "sac", "--steps", "150", "--out", str(out),
              "--algo-kwargs", TINY_SAC)
    demos = rollout_policy_demos("CartPole-v1", out, episodes=2, seed=0)
    assert demos.actions.dtype == np.int64 and set(np.unique(demos.actions)) <= {0, 1}
    from irl.data import save_demos

    path = save_demos(demos, tmp_path / "cartpole.npz")
    irl_train("--env", "CartPole-v1", "--algo", "sac", "--steps", "150", "--out", str(tmp_path / "with-demos"),
              "--demos", str(path), "--json", "--algo-kwargs", TINY_SAC)
    assert last_json(capsys)["steps"] == 150
    with pytest.raises(TrainError, match="come from CartPole-v1, not Pendulum-v1"):
        irl_train("--env", "Pendulum-v1", "--algo", "sac", "--steps", "50", "--demos", str(path),
                  "--out", str(tmp_path / "bad"))


def test_tensorboard_logs(tmp_path):
    pytest.importorskip("tensorboard")
    irl_train("--env", "Pendulum-v1", "--algo", "sac", "--steps", "250", "--out", str(tmp_path / "run"),
              "--tensorboard", str(tmp_path / "tb"), "--algo-kwargs", TINY_SAC)
    events = list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    assert events and events[0].parent.name == "run"


@pytest.mark.parametrize("algo, module, env, kwargs", [
    ("soft-q", "irl.solvers.soft_q", "FrozenLake-v1", '{"eval_episodes": 2}'),
    ("pg", "irl.solvers.policy_gradient", "CartPole-v1", '{"rollout_steps": 64, "eval_episodes": 2}'),
])
def test_the_other_solvers_train_through_the_same_command(tmp_path, capsys, algo, module, env, kwargs):
    pytest.importorskip(module)
    out = tmp_path / algo
    irl_train("--env", env, "--algo", algo, "--steps", "256", "--out", str(out), "--json", "--algo-kwargs", kwargs)
    assert last_json(capsys)["steps"] == 256
    assert {p.name for p in out.iterdir()} == RUN_FILES
    policy = load_policy(out)
    assert policy.spec()["kind"] != "sac"
    demos = rollout_policy_demos(env, out, episodes=2, seed=0)
    assert demos.n_episodes == 2
    with pytest.raises(TrainError, match="runs on the CPU only|no CUDA device"):
        irl_train("--env", env, "--algo", algo, "--steps", "10", "--out", str(tmp_path / "gpu"),
                  "--device", "cuda")


def test_irl_train_then_demos_generate_policy_through_main(sac_run, tmp_path, capsys):
    """The registered `irl` command: `irl demos generate --policy RUN` equals the library rollout."""
    from irl.cli.main import main
    from irl.data import load_demos

    out = tmp_path / "pend.npz"
    code = main(["demos", "generate", "--policy", str(sac_run), "--env", "Pendulum-v1", "--episodes", "2",
                 "--seed", "7", "--out", str(out), "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n_episodes"] == 2
    expected = rollout_policy_demos("Pendulum-v1", sac_run, episodes=2, seed=7)
    got = load_demos(out)
    np.testing.assert_array_equal(got.actions, expected.actions)
    np.testing.assert_array_equal(got.observations, expected.observations)
    assert main(["demos", "generate", "--policy", str(tmp_path / "nope"), "--env", "Pendulum-v1",
                 "--episodes", "1", "--out", str(tmp_path / "x.npz")]) == 2
    assert "nope" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()
    with pytest.raises(SystemExit) as exc:  # argparse rejects an unknown --algo with exit code 2
        main(["train", "--env", "Pendulum-v1", "--algo", "telepathy", "--steps", "10"])
    assert exc.value.code == 2
