"""The inverse registry's task: a TabularMDP for the exact algorithms, an env (id, kwargs) for the
ones that sample it; results without a tabular model; ``irl fit`` writing either kind of run."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from irl.cli.main import main
from irl.data import load_demos
from irl.inverse import maxent
from irl.inverse.common import EnvTask, InverseResult
from irl.inverse.registry import ALGORITHMS, Algorithm
from irl.rewards import MLPReward
from irl.solvers.agent import Transitions

DEMOS = Path(__file__).resolve().parent.parent / "demos"


def behaviour_cloning(task, demos, *, config, callback=None):
    """A small sample-based algorithm for these tests: behaviour cloning through the PG generator
    (its reward model is an untrained MLP: BC learns a policy, not a reward)."""
    import gymnasium as gym

    from irl.solvers.policy_gradient import PGAgent, PGConfig

    assert isinstance(task, EnvTask)
    start = time.perf_counter()
    env = gym.make(task.env_id, **task.env_kwargs)
    agent = PGAgent(env, PGConfig(hidden=(16,), bc_warmstart_steps=config.steps, bc_learning_rate=0.01),
                    seed=config.seed)
    agent.add_demos(Transitions.from_demos(demos))
    losses = agent.info["bc_losses"]
    log = [{"iteration": i, "loss": loss} for i, loss in enumerate(losses)]
    for entry in log:
        callback(entry)
    obs_dim = int(np.prod(env.observation_space.shape))
    return InverseResult(reward_model=MLPReward(obs_dim, hidden=(4,)), policy=agent.policy, log=log,
                         converged=True, iterations=len(losses), seconds=time.perf_counter() - start,
                         stop_reason="steps", stop_message="ran its steps", config=config)


@dataclass(frozen=True)
class Config:
    """Settings of the test algorithm."""

    steps: int = 30
    """behaviour-cloning steps."""
    seed: int = 0
    """seeds the policy."""


@pytest.fixture
def sampled_algorithm(monkeypatch):
    entry = Algorithm("test-bc", "behaviour cloning (test only)", __name__, "Config", fit="behaviour_cloning",
                      tabular=False)
    monkeypatch.setitem(ALGORITHMS._entries, entry.name, entry)
    return entry


def test_fit_writes_a_sampled_run_without_a_tabular_model(tmp_path, capsys, sampled_algorithm):
    run = tmp_path / "run"
    code = main(["fit", "--demos", str(DEMOS / "pendulum-sac-expert.npz"), "--algo", "test-bc", "--out", str(run),
                 "--json", "--quiet", "--algo-kwargs", '{"steps": 25}'])
    out, err = capsys.readouterr()
    assert code == 0, err
    metrics = json.loads(out.strip().splitlines()[-1])
    assert metrics["iterations"] == 25 and metrics["converged"] is True
    files = {p.name for p in run.iterdir()}
    assert {"config.json", "reward.json", "reward_weights.npz", "policy.json", "policy_weights.npz", "metrics.json",
            "log.jsonl"} <= files
    assert "reward_table.npy" not in files and "horizon" not in json.loads((run / "config.json").read_text())
    from irl.solvers.policy_io import load_policy

    policy = load_policy(run)
    assert policy.act(np.zeros(3, np.float32), deterministic=True).shape == (1,)


def test_a_tabular_algorithm_refuses_an_env_task():
    demos = load_demos(DEMOS / "gridworld8.npz")
    with pytest.raises(TypeError, match="needs the exact tabular model"):
        maxent.fit(EnvTask("irl/Gridworld-v0", demos.env_kwargs), demos)


def test_every_registered_algorithm_says_what_task_it_takes():
    assert all(isinstance(a.tabular, bool) for a in ALGORITHMS.values())
    assert {a.name for a in ALGORITHMS.values() if a.tabular} >= {"maxent", "deep-maxent", "projection",
                                                                  "max-margin", "mmp"}
