"""Checkpoint and resume of the iterative inverse algorithms (deep MaxEnt, MMP, IQ-Learn offline and online): a
run resumed from a state saved mid-run ends with the numbers of the uninterrupted run, bit for bit, and a run
that saves checkpoints gives the numbers of one that does not."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from irl.checkpoint import Checkpoint, pack, unpack
from irl.data import load_demos
from irl.envs import gridworld_mdp
from irl.inverse import maxent, mmp
from irl.inverse.common import EnvTask
from irl.inverse.iq_learn import IQLearnConfig
from irl.inverse.iq_learn import fit as iq_fit
from irl.inverse.registry import ALGORITHMS
from irl.runs.generate import generate_tabular_demos

DEMOS = Path(__file__).resolve().parent.parent / "demos"
GRID = {"size": 4, "reward": "random", "features": "blocks", "block_size": 2, "reward_seed": 0, "slip": 0.1}


# ------------------------------------------------------------------------------ helpers
def recording(every: int) -> tuple[Checkpoint, list[tuple[int, dict[str, Any]]]]:
    """A checkpoint every ``every`` iterations that keeps each saved state as a file would give it back."""
    saved: list[tuple[int, dict[str, Any]]] = []
    return Checkpoint(lambda it, state: saved.append((it, unpack(pack(state)))), every=every, seconds=None), saved


def resumed(run, saved: list[tuple[int, dict[str, Any]]]) -> tuple[int, Any]:
    """``run(checkpoint)`` resumed from the middle one of the ``saved`` states, the global RNGs scrambled first."""
    iteration, state = saved[len(saved) // 2]
    torch.manual_seed(12345)
    np.random.seed(1)
    return iteration, run(Checkpoint(restored=state, every=None, seconds=None))


def assert_same(a: Any, b: Any, where: str = "result") -> None:
    """``a`` and ``b`` equal bit for bit (NaN equal to NaN), ``seconds`` fields excepted."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            if f.name != "seconds":
                assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, torch.nn.Module):
        assert_same(a.state_dict(), b.state_dict(), where)
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            if k != "seconds":
                assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def check_resume(run, every: int, at_least: int = 3) -> dict[str, Any]:
    """Runs ``run(checkpoint)`` plain, saving every ``every`` iterations, and resumed mid-run: all the same.
    Returns the state resumed from."""
    plain = run(None)
    checkpoint, saved = recording(every)
    first = run(checkpoint)
    assert len(saved) >= at_least and [it for it, _ in saved] == [every * (i + 1) for i in range(len(saved))]
    assert_same(plain, first)
    iteration, second = resumed(run, saved)
    assert 0 < iteration < first.iterations
    assert_same(first, second)
    return dict(saved)[iteration]


# ------------------------------------------------------------------------------ the registry
def test_the_registry_names_the_resumable_algorithms():
    resumable = {name for name in ALGORITHMS.names() if ALGORITHMS.get(name).resumable}
    assert resumable == {"deep-maxent", "mmp", "iq-learn", "gail", "airl", "gcl", "gan-gcl"}


# ------------------------------------------------------------------------------ tabular
@pytest.fixture(scope="module")
def grid():
    return gridworld_mdp(**GRID), generate_tabular_demos("irl/Gridworld-v0", env_kwargs=GRID, episodes=10, seed=0)


@pytest.mark.parametrize("footing", ["finite", "discounted"])
def test_deep_maxent_resumes_bit_for_bit(grid, footing):
    """Discounted, each evaluation's value iteration starts from the last one's values: they are saved too."""
    mdp, demos = grid
    if footing == "discounted":
        mdp = mdp.replace(horizon=None, discount=0.9)
    config = maxent.MaxEntConfig(reward="mlp", hidden=(8,), max_iters=24, lr=0.01, seed=3)
    check_resume(lambda checkpoint: maxent.fit(mdp, demos, config=config, checkpoint=checkpoint), every=4)


def test_deep_maxent_resumes_its_plateau_test(grid):
    """The plateau test looks back over the log: a resumed run stops where the uninterrupted one did."""
    mdp, demos = grid
    config = maxent.MaxEntConfig(reward="mlp", hidden=(8,), max_iters=200, lr=0.01, plateau_steps=5,
                                 plateau_tol=1e-3)
    plain = maxent.fit(mdp, demos, config=config)
    assert plain.stop_reason == "plateau" and plain.iterations < 200
    check_resume(lambda checkpoint: maxent.fit(mdp, demos, config=config, checkpoint=checkpoint), every=2)


def test_a_resume_from_the_last_step_returns_the_finished_fit(grid):
    mdp, demos = grid
    config = maxent.MaxEntConfig(reward="mlp", hidden=(8,), max_iters=6)
    checkpoint, saved = recording(3)
    first = maxent.fit(mdp, demos, config=config, checkpoint=checkpoint)
    assert saved[-1][0] == 6
    assert_same(first, maxent.fit(mdp, demos, config=config, checkpoint=Checkpoint(restored=saved[-1][1])))


def test_linear_maxent_ignores_a_checkpoint(grid):
    mdp, demos = grid
    checkpoint = Checkpoint(every=1, seconds=None)
    result = maxent.fit(mdp, demos, reward="linear", checkpoint=checkpoint)
    assert checkpoint.saves == 0
    assert_same(result, maxent.fit(mdp, demos, reward="linear"))


def test_mmp_resumes_bit_for_bit(grid):
    mdp, demos = grid
    config = mmp.MMPConfig(max_iters=30, patience=8, tol=1e-3)
    check_resume(lambda checkpoint: mmp.fit(mdp, demos, config=config, checkpoint=checkpoint), every=5)


# ------------------------------------------------------------------------------ IQ-Learn
@pytest.fixture(scope="module")
def cartpole():
    return load_demos(DEMOS / "cartpole-pg-expert.npz").take(2)


def test_iq_learn_offline_resumes_bit_for_bit(cartpole):
    """One iteration is one log entry (log_every steps); the last, shorter block too."""
    config = IQLearnConfig(steps=120, log_every=25, batch_size=32, hidden=(16,), seed=2)
    check_resume(lambda checkpoint: iq_fit(EnvTask("CartPole-v1"), cartpole, config=config, checkpoint=checkpoint),
                 every=1)


def test_iq_learn_offline_on_box_actions_resumes_bit_for_bit():
    """The actor, its optimiser and the critics."""
    demos = load_demos(DEMOS / "pendulum-sac-expert.npz").take(1)
    config = IQLearnConfig(steps=40, log_every=10, batch_size=16, hidden=(16,), n_critics=2, value_samples=4)
    check_resume(lambda checkpoint: iq_fit(EnvTask("Pendulum-v1"), demos, config=config, checkpoint=checkpoint),
                 every=1)


def test_iq_learn_online_resumes_bit_for_bit_mid_episode(cartpole):
    """CartPole's episodes outlast the checkpoints' spacing: the env is restored inside an episode, and the
    replay buffer, its draws, the target network and the episode log with it."""
    config = IQLearnConfig(online=True, steps=300, learning_starts=100, log_every=30, batch_size=16, hidden=(16,),
                           seed=1)
    state = check_resume(lambda checkpoint: iq_fit(EnvTask("CartPole-v1"), cartpole, config=config,
                                                   checkpoint=checkpoint), every=2)
    assert state["step"] == 180 and len(state["stepper"]["actions"]) > 0 and state["buffer"]["size"] == 180


def test_iq_learn_online_on_box_actions_resumes_bit_for_bit():
    """Pendulum online: the actor's draws act, and the env comes back inside its 200-step episode."""
    demos = load_demos(DEMOS / "pendulum-sac-expert.npz").take(1)
    config = IQLearnConfig(online=True, steps=80, learning_starts=20, log_every=10, batch_size=16, hidden=(16,),
                           value_samples=4)
    state = check_resume(lambda checkpoint: iq_fit(EnvTask("Pendulum-v1"), demos, config=config,
                                                   checkpoint=checkpoint), every=2)
    assert len(state["stepper"]["actions"]) == state["step"]
