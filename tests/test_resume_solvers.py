"""Checkpoint and resume of the forward solvers: a run resumed from a state saved in its middle ends
bit-identical to the uninterrupted run (SAC, policy gradient with one env, soft Q-learning tabular and
deep), and the pieces they are made of round-trip (replay buffer, env stepper mid-episode, episode log).
Policy gradient with several envs resumes on fresh episodes (documented as not bit-identical)."""

import random

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import irl.envs  # noqa: F401  (registers irl/Gridworld-v0)
from irl.checkpoint import Checkpoint, pack, unpack
from irl.solvers import policy_gradient, sac, soft_q
from irl.solvers.agent import EnvStepper
from irl.solvers.replay import ReplayBuffer
from irl.solvers.training import EpisodeLog


def _runs(train, make_env, every, pick=None, **kwargs):
    """Run A (saving every ``every`` iterations), a plain run, and run B resumed from one of A's states
    (the middle one, or ``pick(saved)``) with the global RNGs scrambled; returns ``(a, plain, b, saved, it)``."""
    saved = []
    a = train(make_env(), seed=3, checkpoint=Checkpoint(lambda it, st: saved.append((it, unpack(pack(st)))),
                                                        every=every, seconds=None), **kwargs)
    plain = train(make_env(), seed=3, **kwargs)
    assert len(saved) >= 2, "the run should save more than once"
    it, state = saved[len(saved) // 2] if pick is None else pick(saved)
    before = pack(state)
    torch.manual_seed(12345)
    np.random.seed(1)
    random.seed(7)
    b = train(make_env(), seed=3, checkpoint=Checkpoint(restored=state, every=every, seconds=None), **kwargs)
    after = pack(state)  # resuming leaves the state it read alone (it can be read again)
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    return a, plain, b, saved, it


def _without_seconds(curve):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in curve]


def _assert_same_result(x, y):
    sx, sy = x.policy.state_dict(), y.policy.state_dict()
    assert sx.keys() == sy.keys()
    for k in sx:
        assert torch.equal(sx[k], sy[k]), k
    assert _without_seconds(x.curve) == _without_seconds(y.curve)
    assert x.steps == y.steps
    assert np.array_equal(np.asarray(x.eval_return), np.asarray(y.eval_return), equal_nan=True)


# ------------------------------------------------------------------------------------------------ pieces
@pytest.mark.parametrize("staged", [False, True])
def test_replay_buffer_round_trip_after_wrapping(staged):
    rng = np.random.default_rng(0)
    a = ReplayBuffer(5, 2, 1, generator=torch.Generator().manual_seed(1), staged=staged)
    for _ in range(7):
        a.add(rng.normal(size=2), rng.normal(size=1), rng.normal(), rng.normal(size=2), rng.random() < 0.5)
    state = unpack(pack({"buffer": a.state_dict()}))["buffer"]
    assert state["rows"].shape == (5, a.width)
    b = ReplayBuffer(5, 2, 1, generator=torch.Generator().manual_seed(1), staged=staged)
    b.load_state_dict(state)
    assert len(b) == 5
    assert all(torch.equal(x, y) for x, y in zip(a.stored(), b.stored()))
    assert all(torch.equal(x, y) for x, y in zip(a.sample(8), b.sample(8)))
    row = (np.ones(2), np.ones(1), 1.0, np.ones(2), True)
    a.add(*row)
    b.add(*row)  # the next row to write came back too
    assert all(torch.equal(x, y) for x, y in zip(a.stored(), b.stored()))


def test_replay_buffer_saves_only_filled_rows_and_checks_the_fit():
    a = ReplayBuffer(100, 3, 1)
    a.add(np.zeros(3), np.zeros(1), 0.0, np.zeros(3), False)
    assert a.state_dict()["rows"].shape == (1, a.width)
    with pytest.raises(ValueError, match="does not fit"):
        ReplayBuffer(100, 4, 1).load_state_dict(a.state_dict())


def test_env_stepper_resumes_mid_episode_by_replay():
    log = EpisodeLog(None, None, False)
    a = EnvStepper(gym.make("Pendulum-v1"), seed=5, max_episode_steps=30, log=log)
    actions = np.random.default_rng(0).uniform(-2, 2, (50, 1)).astype(np.float32)
    for act in actions[:43]:  # one episode of 30 and 13 steps into the next
        a.step(act)
    state = unpack(pack({"stepper": a.state_dict(), "log": log.state_dict()}))
    assert a.length == 13 and len(state["stepper"]["actions"]) == 13
    log_b = EpisodeLog(None, None, False)
    b = EnvStepper(gym.make("Pendulum-v1"), seed=99, max_episode_steps=30, log=log_b)
    b.load_state_dict(state["stepper"])
    log_b.load_state_dict(state["log"])
    assert np.array_equal(a.obs, b.obs)
    assert log_b.steps == 43 and _without_seconds(log_b.curve) == _without_seconds(log.curve)
    for act in actions[43:]:
        out_a, out_b = a.step(act), b.step(act)
        assert np.array_equal(out_a[0], out_b[0]) and out_a[1:] == out_b[1:]
    assert a.steps == b.steps == 50 and a.episode_returns == b.episode_returns
    assert _without_seconds(log.curve) == _without_seconds(log_b.curve)


class _LeakyEnv(gym.Env):
    """Its state is not a function of its RNG and actions: a counter survives resets."""

    observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = spaces.Discrete(2)
    count = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        _LeakyEnv.count += 1
        return np.array([_LeakyEnv.count], np.float32), {}

    def step(self, action):
        return np.array([_LeakyEnv.count], np.float32), 0.0, False, False, {}


def test_env_stepper_refuses_an_env_that_does_not_replay():
    a = EnvStepper(_LeakyEnv(), seed=0)
    a.step(1)
    with pytest.raises(ValueError, match="not deterministic given its seed and actions"):
        EnvStepper(_LeakyEnv(), seed=0).load_state_dict(a.state_dict())


def test_episode_log_continues_seconds_and_steps():
    log = EpisodeLog(None, None, False)
    log.step(1.0)
    log.end_episode()
    log.step(2.0)
    state = log.state_dict()
    state["seconds"] = 100.0
    resumed = EpisodeLog(None, None, False)
    curve = resumed.curve
    resumed.load_state_dict(state)
    assert resumed.curve is curve and resumed.curve == log.curve
    resumed.step(3.0)
    resumed.end_episode()
    assert resumed.curve[-1]["true_return"] == 5.0 and resumed.curve[-1]["length"] == 2
    assert resumed.curve[-1]["step"] == 3 and resumed.curve[-1]["seconds"] >= 100.0


# ------------------------------------------------------------------------------------------------ solvers
def test_sac_pendulum_resumes_bit_identical():
    kwargs = dict(total_steps=600, learning_starts=100, batch_size=16, hidden=(16, 16), eval_episodes=1)
    a, plain, b, saved, it = _runs(sac.train, lambda: gym.make("Pendulum-v1"), 1, **kwargs)
    assert [i for i, _ in saved] == [1, 2, 3] and it == 2
    for x in (plain, b):
        _assert_same_result(a, x)
    agents = [r.info["agent"] for r in (a, b)]
    assert torch.equal(agents[0]._flat, agents[1]._flat) and torch.equal(agents[0]._exp_avg_sq, agents[1]._exp_avg_sq)
    assert torch.equal(agents[0]._target_flat, agents[1]._target_flat)
    assert all(torch.equal(x, y) for x, y in zip(agents[0].buffer.stored(), agents[1].buffer.stored()))
    assert agents[0].updates == agents[1].updates == 501  # steps 100 to 600


def test_sac_discrete_cartpole_resumes_bit_identical():
    kwargs = dict(total_steps=400, learning_starts=50, batch_size=16, hidden=(16,), eval_episodes=1)
    a, plain, b, saved, it = _runs(sac.train, lambda: gym.make("CartPole-v1"), 3, **kwargs)
    for x in (plain, b):
        _assert_same_result(a, x)
    assert len(a.curve) > it


def test_policy_gradient_resumes_mid_episode_bit_identical():
    kwargs = dict(total_steps=640, rollout_steps=64, minibatch_size=32, epochs=2, hidden=(16,), eval_episodes=1)
    a, plain, b, saved, it = _runs(policy_gradient.train, lambda: gym.make("CartPole-v1"), 2, **kwargs)
    assert [i for i, _ in saved] == [2, 4, 6, 8, 10]
    state = dict(saved)[it]
    assert len(state["agent"]["stepper"]["actions"]) > 0, "the state should be saved in the middle of an episode"
    for x in (plain, b):
        _assert_same_result(a, x)
    assert a.info["updates"] == b.info["updates"] == 10


def test_policy_gradient_with_two_envs_resumes_on_fresh_episodes():
    kwargs = dict(total_steps=512, rollout_steps=64, minibatch_size=32, epochs=1, hidden=(16,), eval_episodes=0,
                  n_envs=2)
    a, _, b, saved, it = _runs(policy_gradient.train, lambda: gym.make("CartPole-v1"), 2, **kwargs)
    state = dict(saved)[it]
    n_before = len(state["log"]["curve"])
    assert b.steps == a.steps == 512 and b.info["updates"] == a.info["updates"] == 8
    assert _without_seconds(b.curve[:n_before]) == _without_seconds(a.curve[:n_before])
    assert b.curve[-1]["step"] <= 512
    # the same resume twice gives the same run
    c = policy_gradient.train(gym.make("CartPole-v1"), seed=3, checkpoint=Checkpoint(restored=state), **kwargs)
    _assert_same_result(b, c)


def test_tabular_soft_q_resumes_bit_identical():
    kwargs = dict(total_steps=1500, eval_episodes=2, exploration="epsilon", soft=False, epsilon_decay=0.02)
    a, plain, b, saved, it = _runs(soft_q.train, lambda: gym.make("FrozenLake-v1"), 10, **kwargs)
    for x in (plain, b):
        _assert_same_result(a, x)
        assert torch.equal(a.info["q"], x.info["q"])


def test_tabular_soft_q_on_gridworld_resumes_bit_identical():
    kwargs = dict(total_steps=1500, eval_episodes=1, temperature=0.5, max_episode_steps=20)
    make = lambda: gym.make("irl/Gridworld-v0", size=3, slip=0.2)  # noqa: E731
    a, plain, b, saved, it = _runs(soft_q.train, make, 10, **kwargs)
    for x in (plain, b):
        _assert_same_result(a, x)
        assert torch.equal(a.info["q"], x.info["q"])


def test_deep_soft_q_resumes_bit_identical():
    kwargs = dict(total_steps=500, learning_starts=64, batch_size=16, hidden=(16,), target_update_interval=50,
                  eval_episodes=1)
    a, plain, b, saved, it = _runs(soft_q.train, lambda: gym.make("CartPole-v1"), 4, **kwargs)
    for x in (plain, b):
        _assert_same_result(a, x)
