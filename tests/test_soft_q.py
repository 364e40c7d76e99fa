"""Soft Q-learning: the target against numbers worked by hand, the tabular learner against soft
value iteration, the reward seam, seeds, and the shared solver interface."""

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import untimed

import irl.envs  # noqa: F401  (registers irl/Gridworld-v0)
from irl.envs import gridworld_mdp, mdp_from_env
from irl.rewards import TabularReward
from irl.solvers import hard_value_iteration, soft_value_iteration
from irl.solvers.policies import evaluate_policy, policy_from_spec
from irl.solvers.soft_bellman import soft_target, soft_value
from irl.solvers.soft_q import SoftQConfig, train
from irl.solvers.training import TrainResult


def soft_q_target(reward, next_q, terminated, gamma, temperature):
    """The soft Q-learning target, ``r + γ (1 - terminated) V(s')``, from the shared soft Bellman functions."""
    return soft_target(reward, soft_value(next_q, temperature), terminated, gamma)

UNIFORM = dict(exploration="epsilon", epsilon_start=1.0, epsilon_end=1.0, eval_episodes=0)


# ---------------------------------------------------------------------------------- the math
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soft_target_by_hand(dtype):
    next_q = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0], [5.0, -2.0]], dtype=dtype)
    reward = torch.tensor([1.0, 0.0, 2.0], dtype=dtype)
    terminated = torch.tensor([False, False, True])
    # V = 1 * log(e^0 + e^log3) = log 4; V = 0.5 * log(2 e^2) = 1 + 0.5 log 2
    want = torch.tensor([1.0 + 0.9 * math.log(4.0), 0.9 * (1.0 + 0.5 * math.log(2.0)), 2.0], dtype=dtype)
    temps = torch.tensor([1.0, 0.5, 1.0])
    for i in range(3):
        got = soft_q_target(reward[i:i + 1], next_q[i:i + 1], terminated[i:i + 1], 0.9, float(temps[i]))
        assert got.dtype == dtype
        torch.testing.assert_close(got, want[i:i + 1])
    hard = soft_q_target(reward, next_q, terminated, 0.9, 0.0)
    torch.testing.assert_close(hard, torch.tensor([1.0 + 0.9 * math.log(3.0), 0.9, 2.0], dtype=dtype))


def test_soft_value_approaches_max_and_checks_shapes():
    q = torch.tensor([[1.0, 3.0, 2.0]], dtype=torch.float64)
    assert abs(float(soft_value(q, 1e-3)[0]) - 3.0) < 1e-6
    assert float(soft_value(q, 1.0)[0]) > 3.0  # the entropy bonus
    with pytest.raises(ValueError):
        soft_q_target(torch.zeros(2), torch.zeros(3, 2), torch.zeros(2, dtype=torch.bool), 0.9, 1.0)


# --------------------------------------------------------------- tabular = soft value iteration
def test_tabular_soft_q_equals_soft_vi_on_deterministic_gridworld():
    gamma, tau = 0.9, 0.5
    mdp = gridworld_mdp(3, 0.0)
    ref = soft_value_iteration(mdp.replace(horizon=None, discount=gamma), mdp.reward, temperature=tau).q
    # deterministic dynamics: α = 1 makes each update an exact backup; uniform behaviour visits all (s, a)
    res = train(gym.make("irl/Gridworld-v0", size=3, slip=0.0), total_steps=20_000, gamma=gamma,
                temperature=tau, step_size=1.0, seed=3, **UNIFORM)
    np.testing.assert_allclose(res.info["q"].numpy(), ref.numpy(), atol=1e-6)


def test_tabular_soft_q_converges_to_soft_vi_on_slippery_gridworld():
    gamma, tau = 0.7, 0.5
    mdp = gridworld_mdp(3, 0.1)
    ref = soft_value_iteration(mdp.replace(horizon=None, discount=gamma), mdp.reward, temperature=tau).q
    # stochastic dynamics: Robbins-Monro step sizes α = 1 / n(s,a)^0.6
    res = train(gym.make("irl/Gridworld-v0", size=3, slip=0.1), total_steps=30_000, gamma=gamma,
                temperature=tau, step_size=1.0, step_size_power=0.6, seed=0, **UNIFORM)
    assert float(ref.abs().max()) > 4.0
    np.testing.assert_allclose(res.info["q"].numpy(), ref.numpy(), atol=0.1)


def test_tabular_does_not_bootstrap_through_termination():
    # FrozenLake's holes and goal terminate: its exact model sends them to the absorbing state (value 0)
    gamma, tau = 0.9, 0.5
    mdp = mdp_from_env("FrozenLake-v1", env_kwargs={"is_slippery": False}, horizon=None, discount=gamma)
    ref = soft_value_iteration(mdp, mdp.reward, temperature=tau).q[: mdp.n_env_states]
    res = train(gym.make("FrozenLake-v1", is_slippery=False), total_steps=30_000, gamma=gamma,
                temperature=tau, step_size=1.0, **UNIFORM)
    np.testing.assert_allclose(res.info["q"].numpy(), ref.numpy(), atol=1e-3)


def test_hard_q_learning_equals_hard_vi():
    gamma = 0.9
    mdp = mdp_from_env("FrozenLake-v1", env_kwargs={"is_slippery": False}, horizon=None, discount=gamma)
    ref = hard_value_iteration(mdp, mdp.reward).q[: mdp.n_env_states]
    res = train(gym.make("FrozenLake-v1", is_slippery=False), total_steps=15_000, gamma=gamma, soft=False,
                step_size=1.0, **UNIFORM)
    np.testing.assert_allclose(res.info["q"].numpy(), ref.numpy(), atol=1e-6)


def test_boltzmann_policy_is_exp_q_minus_v():
    res = train(gym.make("irl/Gridworld-v0", size=3, slip=0.0), total_steps=500, temperature=0.5,
                eval_episodes=0)
    q = res.info["q"]
    v = soft_value(q, 0.5)
    np.testing.assert_allclose(res.policy.probs(np.arange(9)), torch.exp((q - v[:, None]) / 0.5).numpy(),
                               rtol=1e-6)


# ----------------------------------------------------------------------------- the reward seam
def test_reward_model_that_inverts_the_task_inverts_the_policy():
    env_kwargs = dict(size=3, slip=0.0)
    true_r = gridworld_mdp(3, 0.0).reward[:, 0].float()
    inverted = TabularReward(9, 5, state_only=True)
    with torch.no_grad():
        inverted.theta.copy_(-true_r)
    # uniform behaviour (Q-learning is off-policy): the test is about which reward is learned, not exploration
    common = dict(UNIFORM, total_steps=6_000, gamma=0.9, temperature=0.1, step_size=1.0, seed=0,
                  eval_episodes=10)
    normal = train(gym.make("irl/Gridworld-v0", **env_kwargs), **common)
    flipped = train(gym.make("irl/Gridworld-v0", **env_kwargs), reward_model=inverted, **common)
    goal, stay_on_goal = 8, {0, 2, 4}  # stay, down and right all keep the bottom-right cell
    assert normal.policy.act(np.int64(goal), deterministic=True) in stay_on_goal
    assert flipped.policy.act(np.int64(goal), deterministic=True) not in stay_on_goal
    assert normal.eval_return >= 2.0
    assert flipped.eval_return <= 0.2  # only a start on the goal earns anything
    # the curve reports the env's reward; "return" is the reward learned from
    for record in flipped.curve:
        assert record["true_return"] >= 0
        assert record["return"] == pytest.approx(-record["true_return"])


def test_plain_callable_reward_model_is_called_on_index_batches():
    seen = []

    def reward(obs, act, next_obs):
        seen.append((obs.dtype, act.dtype, next_obs.dtype, obs.shape))
        return torch.zeros(obs.shape[0])

    res = train(gym.make("irl/Gridworld-v0", size=3), reward_model=reward, total_steps=50, eval_episodes=1)
    assert seen and all(s == (torch.int64, torch.int64, torch.int64, (1,)) for s in seen)
    assert all(r["return"] == 0 for r in res.curve)


# ----------------------------------------------------------------------- seeds and the interface
def test_same_seed_same_numbers():
    kw = dict(total_steps=2_000, temperature=0.5, eval_episodes=2)
    a = train("irl/Gridworld-v0", seed=5, **kw)
    b = train("irl/Gridworld-v0", seed=5, **kw)
    c = train("irl/Gridworld-v0", seed=6, **kw)
    assert untimed(a.curve) == untimed(b.curve) and torch.equal(a.info["q"], b.info["q"]) and a.eval_return == b.eval_return
    assert not torch.equal(a.info["q"], c.info["q"])


def test_deep_soft_q_smoke_seeded_and_rebuilt_from_spec():
    kw = dict(method="deep", total_steps=300, learning_starts=100, hidden=(16,), eval_episodes=2, seed=1)
    a = train("irl/Gridworld-v0", **kw)
    b = train("irl/Gridworld-v0", **kw)
    assert untimed(a.curve) == untimed(b.curve) and a.eval_return == b.eval_return
    for pa, pb in zip(a.policy.parameters(), b.policy.parameters(), strict=True):
        assert torch.equal(pa, pb)
    spec = json.loads(json.dumps(a.policy.spec()))
    rebuilt = policy_from_spec(spec)
    rebuilt.load_state_dict(a.policy.state_dict())
    obs = np.arange(64)
    np.testing.assert_array_equal(rebuilt.act(obs, deterministic=True), a.policy.act(obs, deterministic=True))
    assert rebuilt.act(np.int64(3)).shape == ()


def test_train_result_fields_callback_and_config():
    records = []

    def callback(record):
        records.append(record)
        return len(records) < 3  # stop after the third episode

    res = train("irl/Gridworld-v0", config=SoftQConfig(total_steps=10_000), callback=callback, progress=True,
                eval_episodes=3)
    assert isinstance(res, TrainResult)
    assert len(res.curve) == 3 and records == res.curve
    assert [r["episode"] for r in res.curve] == [1, 2, 3]
    assert res.steps == res.curve[-1]["step"] == 3 * 16  # the 8x8 gridworld's horizon is 16
    assert res.seconds > 0 and res.steps_per_second > 0
    assert res.eval_return == evaluate_policy("irl/Gridworld-v0", res.policy, episodes=3, seed=0)
    spec = json.loads(json.dumps(res.policy.spec()))
    assert spec["kind"] == "tabular-q"
    rebuilt = policy_from_spec(spec)
    rebuilt.load_state_dict(res.policy.state_dict())
    assert torch.equal(rebuilt.q, res.policy.q)
    with pytest.raises(TypeError, match="unknown SoftQConfig"):
        train("irl/Gridworld-v0", total_stepz=10)
    with pytest.raises(TypeError, match="Discrete actions"):
        train("Pendulum-v1", total_steps=10)


def test_evaluate_policy_caps_episodes_without_time_limit():
    class Loop:
        def act(self, obs, deterministic=False):
            return np.int64(0)  # "up" forever: CliffWalking never ends

    assert evaluate_policy("CliffWalking-v1", Loop(), episodes=2, max_episode_steps=50) == -50.0


@pytest.mark.slow
def test_deep_soft_q_matches_soft_vi_on_gridworld():
    gamma, tau = 0.8, 0.5
    mdp = gridworld_mdp(3, 0.0)
    ref = soft_value_iteration(mdp.replace(horizon=None, discount=gamma), mdp.reward, temperature=tau).q
    res = train(gym.make("irl/Gridworld-v0", size=3, slip=0.0), method="deep", total_steps=3_000, gamma=gamma,
                temperature=tau, learning_starts=200, target_update_interval=100, hidden=(32,), **UNIFORM)
    q = res.policy.q_values(np.arange(9))[0]
    np.testing.assert_allclose(q, ref.numpy(), atol=0.1 * float(ref.abs().max()))


@pytest.mark.slow
def test_deep_soft_q_solves_cartpole():
    res = train("CartPole-v1", method="deep", total_steps=20_000, temperature=0.1, gamma=0.99, seed=0)
    assert res.eval_return >= 150
