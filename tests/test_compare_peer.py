"""The imitation MCE peer of ``irl compare``: the problem file, the worker's contract, the failures.

None of these needs imitation: the real peer run is checked by hand (see the worker's docstring).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from irl.compare.peer import WORKER, PeerError, run_mce_peer, write_problem
from irl.envs import mdp_for_demos
from irl.runs.generate import generate_tabular_demos


@pytest.fixture(scope="module")
def grid():
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs={"size": 4}, episodes=5, seed=0)
    return mdp_for_demos(demos), demos


@pytest.fixture(scope="module")
def lake():
    """FrozenLake 4x4: episodes end by termination, so the model has an absorbing state."""
    demos = generate_tabular_demos("FrozenLake-v1", episodes=8, seed=0, temperature=0.05)
    return mdp_for_demos(demos), demos


def _worker_module():
    spec = importlib.util.spec_from_file_location("imitation_mce_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports numpy only; imitation is imported inside fit()
    return module


def _fake_python(tmp_path: Path, body: str) -> str:
    """An executable standing in for the peer python: it ignores its arguments and runs ``body``."""
    path = tmp_path / "fake-python"
    path.write_text(f"#!{sys.executable}\nimport sys, json\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_write_problem_gridworld(grid, tmp_path):
    mdp, demos = grid
    path = tmp_path / "problem.npz"
    write_problem(path, mdp, demos)
    with np.load(path, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    S, A = mdp.n_states, mdp.n_actions
    assert d["transition"].shape == (S, A, S) and d["transition"].dtype == np.float64
    np.testing.assert_allclose(d["transition"].sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(d["transition"], mdp.dense_transitions().numpy())
    assert d["initial"].shape == (S,) and d["initial"].dtype == np.float64
    assert d["horizon"].shape == () and int(d["horizon"]) == mdp.horizon
    assert 0.0 < float(d["discount"]) <= 1.0 and float(d["discount"]) == mdp.gamma
    assert d["demo_states"].dtype == np.int64 and d["demo_actions"].dtype == np.int64
    np.testing.assert_array_equal(d["demo_states"], demos.observations)
    np.testing.assert_array_equal(d["demo_actions"], demos.actions)
    np.testing.assert_array_equal(d["demo_lengths"], demos.episode_lengths)
    assert d["demo_lengths"].sum() == demos.n_steps
    np.testing.assert_array_equal(d["demo_final_states"], demos.next_observations[demos.episode_ends - 1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["problem.npz"]  # no temp file left behind


def test_write_problem_terminated_episodes_end_in_the_absorbing_state(lake, tmp_path):
    mdp, demos = lake
    assert mdp.absorbing is not None
    write_problem(tmp_path / "p.npz", mdp, demos)
    with np.load(tmp_path / "p.npz") as f:
        finals, P = f["demo_final_states"], f["transition"]
    terminated = demos.terminals[demos.episode_ends - 1]
    assert terminated.any()
    assert (finals[terminated] == mdp.absorbing).all()
    np.testing.assert_array_equal(P[mdp.absorbing, :, mdp.absorbing], 1.0)


def test_write_problem_discounted_model_uses_longest_episode(grid, tmp_path):
    mdp, demos = grid
    write_problem(tmp_path / "p.npz", mdp.replace(horizon=None, discount=0.9), demos)
    with np.load(tmp_path / "p.npz") as f:
        assert int(f["horizon"]) == int(demos.episode_lengths.max())
        assert float(f["discount"]) == 0.9


def test_worker_pads_terminated_episodes_only(lake, tmp_path):
    mdp, demos = lake
    write_problem(tmp_path / "p.npz", mdp, demos)
    worker = _worker_module()
    problem = worker.load_problem(str(tmp_path / "p.npz"))
    pairs, padded = worker.episodes(problem)
    terminated = demos.terminals[demos.episode_ends - 1]
    assert padded == int((terminated & (demos.episode_lengths < mdp.horizon)).sum()) > 0
    for (obs, acts), length, term in zip(pairs, demos.episode_lengths, terminated, strict=True):
        assert len(obs) == len(acts) + 1
        assert len(acts) == (mdp.horizon if term else length)
        if term:
            assert (obs[length:] == mdp.absorbing).all()


def test_worker_without_imitation_reports_one_json_error(grid, tmp_path):
    mdp, demos = grid
    write_problem(tmp_path / "p.npz", mdp, demos)
    done = subprocess.run([sys.executable, str(WORKER), "--problem", str(tmp_path / "p.npz"), "--seed", "0"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 1
    assert "imitation" in json.loads(done.stdout)["error"]


def test_worker_rejects_a_malformed_problem(tmp_path):
    np.savez(tmp_path / "bad.npz", transition=np.ones((3, 2, 3)))
    done = subprocess.run([sys.executable, str(WORKER), "--problem", str(tmp_path / "bad.npz"), "--seed", "0"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "lacks" in json.loads(done.stdout.splitlines()[-1])["error"]


def test_peer_without_imitation_raises_one_line(grid):
    mdp, demos = grid
    with pytest.raises(PeerError) as info:
        run_mce_peer(sys.executable, mdp, demos, seed=0)
    message = str(info.value)
    assert "\n" not in message and "imitation" in message


def test_peer_missing_python_raises(grid, tmp_path):
    mdp, demos = grid
    with pytest.raises(PeerError, match="not found"):
        run_mce_peer(str(tmp_path / "no-such-python"), mdp, demos, seed=0)


def test_peer_result_becomes_a_state_table(grid, tmp_path):
    mdp, demos = grid
    S = mdp.n_states
    body = (f"print('noise on stdout'); print(json.dumps({{'state_reward': [float(i) for i in range({S})], "
            "'seconds': 0.5, 'iterations': 7, 'imitation_version': 'x', 'settings': {'lr': 0.01}}))")
    table, info = run_mce_peer(_fake_python(tmp_path, body), mdp, demos, seed=3)
    assert table.shape == (mdp.n_env_states, mdp.n_actions) and table.dtype == np.float64
    np.testing.assert_array_equal(table, np.repeat(np.arange(mdp.n_env_states, dtype=float)[:, None],
                                                   mdp.n_actions, axis=1))
    assert info == {"seconds": 0.5, "iterations": 7, "imitation_version": "x", "settings": {"lr": 0.01},
                    "absorbing_reward": None}


def test_peer_table_is_relative_to_the_absorbing_state(lake, tmp_path):
    mdp, demos = lake
    S = mdp.n_states
    body = f"print(json.dumps({{'state_reward': [float(i) for i in range({S})]}}))"
    table, info = run_mce_peer(_fake_python(tmp_path, body), mdp, demos, seed=0)
    assert info["absorbing_reward"] == float(mdp.absorbing)
    assert table.shape == (mdp.n_env_states, mdp.n_actions)
    np.testing.assert_array_equal(table[:, 0], np.arange(mdp.n_env_states) - float(mdp.absorbing))


@pytest.mark.parametrize(("body", "match"), [
    ("print(json.dumps({'state_reward': [0.0, 1.0]}))", "2 state rewards"),
    ("print('{\"state_reward\": [' + ', '.join(['NaN'] * {S}) + ']}')", "NaN or inf"),
    ("print('not json'); print('oops', file=sys.stderr)", "no JSON result.*oops"),
    ("print(json.dumps({'error': 'it broke'})); sys.exit(1)", r"exit 1\): it broke"),
    ("print('Traceback\\n  boom', file=sys.stderr); sys.exit(2)", r"exit 2\): boom"),
    ("import time; time.sleep(30)", "timed out"),
])
def test_peer_failures_raise_one_line(grid, tmp_path, body, match):
    mdp, demos = grid
    python = _fake_python(tmp_path, body.replace("{S}", str(mdp.n_states)))
    with pytest.raises(PeerError, match=match) as info:
        run_mce_peer(python, mdp, demos, seed=0, timeout=2)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ imitation's GAIL/AIRL on Pendulum
PENDULUM = Path(__file__).resolve().parent.parent / "demos" / "pendulum-sac-expert.npz"


def _pendulum_config():
    from irl.compare.config import parse_config

    return parse_config({"seeds": [0], "demos": [20],
                         "tasks": [{"name": "pendulum", "env": "Pendulum-v1", "expert_steps": 100, "steps": 3000}],
                         "algos": [{"name": "gail", "steps": 5000}, {"name": "bc"}]})


def test_the_peer_rows_on_pendulum_are_gail_and_airl_with_our_budgets():
    config = _pendulum_config()
    peers = [c for c in config.cells(peer=True) if c.peer is not None]
    assert [(c.label, c.algo.steps, c.algo.generator) for c in peers] == [("imitation gail", 5000, "sac"),
                                                                          ("imitation airl", 3000, "sac")]
    assert all(c.peer is None for c in config.cells())  # without --peer-python, no peer rows


def test_an_adversarial_peer_row_is_normalised_like_ours(tmp_path):
    from irl.compare.cells import run_cell
    from irl.data import load_demos

    cell = next(c for c in _pendulum_config().cells(peer=True) if c.label == "imitation gail")
    demos_return = float(np.mean(load_demos(PENDULUM).episode_returns()))
    body = (f"assert '--method' in sys.argv and sys.argv[sys.argv.index('--method') + 1] == 'gail'\n"
            f"print(json.dumps({{'final_return': {demos_return!r}, 'steps': 5000, 'seconds': 1.0}}))")
    row = run_cell(cell, PENDULUM, tmp_path, peer_python=_fake_python(tmp_path, body))
    assert row["status"] == "ok", row["error"]
    assert row["normalised_return"] == pytest.approx(1.0) and row["env_steps"] == 5000
    assert np.isnan(row["epic"]) and np.isnan(row["transfer_normalised_return"])

    broken = _fake_python(tmp_path, "print(json.dumps({'error': 'no SAC for you'})); sys.exit(1)")
    row = run_cell(cell, PENDULUM, tmp_path, peer_python=broken)
    assert row["status"] == "failed" and row["error"] == "PeerError: imitation gail peer failed (exit 1): no SAC for you"
