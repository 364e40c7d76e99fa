"""Guided cost learning end to end: settings refused in one line, the same seed giving the same numbers,
``irl fit --algo gcl`` on a tabular env writing the exact tables, a NaN loss stopping the fit, and
(slow) GCL within 0.05 EPIC of exact MaxEnt on deterministic gridworlds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import irl.envs  # noqa: F401  (registers irl/Gridworld-v0)
from irl._checks import NonFiniteError
from irl.cli.main import main
from irl.data import save_demos
from irl.inverse.common import EnvTask
from irl.inverse.gcl import fit as gcl_module
from irl.inverse.gcl.fit import GCLConfig, _segments, _trajectories, fit
from irl.runs.fit import run_fit
from irl.runs.generate import generate_tabular_demos
from irl.solvers.agent import Transitions


def grid_demos(reward_seed: int, size: int = 5):
    kwargs = {"size": size, "slip": 0.0, "reward": "random", "reward_seed": reward_seed, "horizon": 20}
    return generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kwargs, episodes=100, seed=reward_seed,
                                  discount=1.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "gail"}, "method must be one of"),
    ({"generator": "ddpg"}, "generator must be one of"),
    ({"sample_batch": 0}, "sample_batch must be an integer >= 1"),
    ({"reward_lr": 0.0}, "reward_lr must be > 0"),
    ({"generator_kwargs": {"device": "cpu"}}, "must not set 'device'"),
    ({"segment_steps": 0}, "segment_steps must be an integer >= 1 or None"),
    ({"segment_steps": 2.5}, "segment_steps must be an integer >= 1 or None"),
])
def test_bad_settings_are_refused_naming_the_setting(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GCLConfig(**kwargs)


def test_a_round_is_cut_into_its_complete_episodes():
    """The piece before the first episode end belongs to an episode begun in the round before unless the
    round began one; the piece after the last end is still running and is dropped."""
    n = 7
    ended = np.array([0, 1, 0, 0, 1, 0, 0], bool)
    tr = Transitions(observations=np.arange(n), actions=np.zeros(n, np.int64), next_observations=np.arange(1, n + 1),
                     terminated=np.zeros(n, bool), truncated=ended, log_probs=np.zeros(n), env_rewards=np.zeros(n))
    assert [t.observations.tolist() for t in _trajectories(tr, complete_only=True)] == [[0, 1], [2, 3, 4]]
    assert [t.observations.tolist() for t in _trajectories(tr, complete_only=True, first_is_start=False)] == \
        [[2, 3, 4]]
    assert [len(t) for t in _trajectories(tr, complete_only=False)] == [2, 3, 2]


def test_segments_cut_each_episode_into_pieces_of_the_given_length():
    n = 7
    tr = Transitions(observations=np.arange(n), actions=np.zeros(n, np.int64), next_observations=np.arange(1, n + 1),
                     terminated=np.zeros(n, bool), truncated=np.array([0, 0, 0, 0, 1, 0, 1], bool),
                     log_probs=np.zeros(n), env_rewards=np.zeros(n))
    episodes = _trajectories(tr, complete_only=True)
    assert [t.observations.tolist() for t in _segments(episodes, 2)] == [[0, 1], [2, 3], [4], [5, 6]]
    assert [t.observations.tolist() for t in _segments(episodes, 5)] == [[0, 1, 2, 3, 4], [5, 6]]
    assert _segments(episodes, None) is episodes


@pytest.mark.parametrize("method", ["gcl", "gan-gcl"])
def test_the_same_seed_gives_the_same_numbers(method):
    demos = grid_demos(0, size=3)
    task = EnvTask("irl/Gridworld-v0", demos.env_kwargs)

    def run(seed):
        return fit(task, demos, config=GCLConfig(method=method, generator="pg", steps=600, round_steps=200,
                                                 reward_updates=3, seed=seed))

    a, b, c = run(1), run(1), run(2)
    assert [e["loss"] for e in a.log] == [e["loss"] for e in b.log]
    x = torch.arange(9)
    with torch.no_grad():
        ra, rb, rc = (r.reward_model(x, torch.zeros(9, dtype=torch.long)) for r in (a, b, c))
    assert torch.equal(ra, rb) and not torch.equal(ra, rc)
    if method == "gcl":
        assert all(1.0 <= e["ess"] <= 16 + 32 for e in a.log if e["loss"] is not None)


def test_a_nan_loss_stops_the_fit_with_a_clear_error(monkeypatch):
    demos = grid_demos(0, size=3)
    monkeypatch.setattr(gcl_module, "_reward_step", lambda *a, **k: (float("nan"), float("nan")))
    with pytest.raises(NonFiniteError, match="reward's loss became NaN"):
        fit(EnvTask("irl/Gridworld-v0", demos.env_kwargs), demos,
            config=GCLConfig(generator="pg", steps=400, round_steps=200))


def test_irl_fit_gcl_on_a_tabular_env_writes_the_exact_tables(tmp_path, capsys):
    path = tmp_path / "grid.npz"
    save_demos(grid_demos(0, size=3), path)
    run = tmp_path / "run"
    code = main(["fit", "--demos", str(path), "--algo", "gcl", "--generator", "pg", "--steps", "600", "--out", str(run),
                 "--json", "--quiet", "--algo-kwargs", '{"round_steps": 200, "reward_updates": 3}'])
    out, err = capsys.readouterr()
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"epic", "regret_hard", "eval_return", "normalised_return"} <= set(metrics)
    assert metrics["reward_label"].startswith("GCL r(s)")
    assert np.load(run / "reward_table.npy", allow_pickle=False).shape == (9, 5)
    assert json.loads(out.strip().splitlines()[-1])["algo"] == "gcl"


@pytest.mark.slow
@pytest.mark.parametrize("reward_seed", [0, 1])
def test_gcl_is_within_0_05_epic_of_exact_maxent_on_a_deterministic_gridworld(tmp_path, reward_seed):
    """With deterministic dynamics trajectory-level MaxEnt (what GCL's weights estimate) and causal MaxEnt
    coincide, so GCL estimates exact MaxEnt's objective: its reward must be about as close to the truth."""
    path = tmp_path / "grid.npz"
    save_demos(grid_demos(reward_seed), path)
    exact = run_fit(path, algo="maxent", out=tmp_path / "maxent", seed=0).metrics
    sampled = run_fit(path, algo="gcl", steps=10_000, out=tmp_path / "gcl", seed=0).metrics
    assert sampled["epic"] <= exact["epic"] + 0.05
    assert sampled["regret_hard"] <= 0.05
