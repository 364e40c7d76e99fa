"""Env models: toy-text import, gridworld, objectworld, gymnasium registration."""

import math
import time
import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from irl.envs import (
    GridworldEnv,
    MDPError,
    ObjectworldEnv,
    TabularMDP,
    gridworld_mdp,
    mdp_from_env,
    objectworld_mdp,
)

TOY_TEXT = [
    ("FrozenLake-v1", {"is_slippery": True}),
    ("FrozenLake-v1", {"is_slippery": False}),
    ("FrozenLake8x8-v1", {"is_slippery": True}),
    ("FrozenLake8x8-v1", {"is_slippery": False}),
    ("CliffWalking-v1", {}),
    ("CliffWalkingSlippery-v1", {}),
    ("Taxi-v4", {}),
    ("Taxi-v4", {"is_rainy": True}),
]


def _reference_from_table(P, S, A):
    """Dense (S+1, A, S+1) transitions (last = absorbing) and (S, A) expected reward, by plain loops."""
    D = np.zeros((S + 1, A, S + 1))
    R = np.zeros((S, A))
    for s in range(S):
        for a in range(A):
            for prob, nxt, r, terminated in P[s][a]:
                D[s, a, S if terminated else nxt] += prob
                R[s, a] += prob * r
    D[S, :, S] = 1.0
    return D, R


# ---------------------------------------------------------------- toy text
@pytest.mark.parametrize("env_id, kwargs", TOY_TEXT, ids=[f"{i}-{k}" for i, k in TOY_TEXT])
def test_toy_text_model_matches_the_table(env_id, kwargs):
    env = gymnasium.make(env_id, **kwargs)
    mdp = mdp_from_env(env, discount=0.95)
    u = env.unwrapped
    S, A = u.observation_space.n, u.action_space.n
    D, R = _reference_from_table(u.P, S, A)
    if mdp.absorbing is None:  # nothing terminates: no absorbing state
        assert not D[:S, :, S].any()
        D = D[:S, :, :S]
    else:
        assert mdp.absorbing == S
    np.testing.assert_allclose(mdp.dense_transitions().numpy(), D, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mdp.env_states(mdp.reward).numpy(), R, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mdp.env_states(mdp.initial).numpy(), u.initial_state_distrib, atol=1e-15)
    assert mdp.initial.sum().item() == pytest.approx(1.0)
    np.testing.assert_array_equal(mdp.env_states(mdp.features).numpy(), np.eye(S))
    if mdp.absorbing is not None:
        assert mdp.reward[-1].abs().sum() == 0 and mdp.features[-1].abs().sum() == 0 and mdp.initial[-1] == 0
    assert mdp.horizon == env.spec.max_episode_steps
    assert mdp.discount == 0.95
    assert mdp.info["env_id"] == env_id and mdp.info["env_kwargs"] == env.spec.kwargs


def test_toy_text_grid_shapes_and_horizons():
    assert mdp_from_env("FrozenLake-v1").grid_shape == (4, 4)
    assert mdp_from_env("FrozenLake-v1").horizon == 100
    assert mdp_from_env("FrozenLake8x8-v1").grid_shape == (8, 8)
    assert mdp_from_env("FrozenLake8x8-v1").horizon == 200
    assert mdp_from_env("Taxi-v4").horizon == 200 and mdp_from_env("Taxi-v4").grid_shape is None
    cliff = mdp_from_env("CliffWalking-v1", discount=0.99)
    assert cliff.grid_shape == (4, 12) and cliff.horizon is None and cliff.discount == 0.99
    assert mdp_from_env("CliffWalking-v1", horizon=50).horizon == 50


def test_frozen_lake_slippery_numbers():
    # From the start (0) moving down (1): 1/3 each to 4 (down), 1 (right) and 0 (left, blocked).
    mdp = mdp_from_env("FrozenLake-v1", env_kwargs={"is_slippery": True})
    np.testing.assert_allclose(mdp.dense_transitions()[0, 1, [0, 1, 4]].numpy(), [1 / 3] * 3)
    # Goal (15) reached from 14 moving right w.p. 1/3 (and down, blocked, stays at 14 w.p. 1/3).
    assert mdp.reward[14, 2].item() == pytest.approx(1 / 3)
    assert mdp.dense_transitions()[14, 2, 16].item() == pytest.approx(1 / 3)


def test_cliff_walking_needs_a_horizon_or_discount():
    with pytest.raises(MDPError, match="pass horizon=.*or discount="):
        mdp_from_env("CliffWalking-v1")


def test_fickle_taxi_is_refused():
    with pytest.raises(MDPError, match="fickle_passenger"):
        mdp_from_env("Taxi-v4", env_kwargs={"fickle_passenger": True})


def test_non_tabular_env_is_refused():
    with pytest.raises(MDPError, match="not a tabular env"):
        mdp_from_env("CartPole-v1")
    with pytest.raises(TypeError):
        mdp_from_env(object())


def test_env_without_spec():
    from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv

    env = FrozenLakeEnv(map_name="4x4", is_slippery=True)
    with pytest.raises(MDPError, match="no time limit"):
        mdp_from_env(env)
    mdp = mdp_from_env(env, horizon=10)
    assert mdp.horizon == 10 and mdp.info == {
        "env_class": "gymnasium.envs.toy_text.frozen_lake.FrozenLakeEnv"
    }
    assert mdp.dense_transitions().equal(mdp_from_env("FrozenLake-v1").dense_transitions())


def test_from_env_classmethod_and_overrides():
    env = gymnasium.make("FrozenLake-v1")
    mdp = TabularMDP.from_env(env, horizon=7, features=None, dtype=torch.float32)
    assert mdp.horizon == 7 and mdp.features is None and mdp.dtype == torch.float32


# ---------------------------------------------------------------- gridworld
def _gridworld_reference(size, slip):
    """Dense (S, 5, S) transitions of the gridworld spec, by explicit loops."""
    S = size * size
    P = np.zeros((S, 5, S))
    for row in range(size):
        for col in range(size):
            s = row * size + col
            for a in range(5):
                for move in range(5):
                    p = slip / 5 + (1 - slip) * (move == a)
                    r, c = row, col
                    if move == 1 and row > 0:
                        r -= 1
                    elif move == 2 and row < size - 1:
                        r += 1
                    elif move == 3 and col > 0:
                        c -= 1
                    elif move == 4 and col < size - 1:
                        c += 1
                    P[s, a, r * size + c] += p
    return P


def test_gridworld_model_matches_loop_reference():
    mdp = GridworldEnv(size=4, slip=0.2).tabular_mdp()
    np.testing.assert_allclose(
        mdp.dense_transitions().numpy(), _gridworld_reference(4, 0.2), rtol=0, atol=1e-15
    )
    assert mdp.n_states == 16 and mdp.n_actions == 5 and mdp.absorbing is None
    assert mdp.horizon == 8 and mdp.discount is None and mdp.grid_shape == (4, 4)
    np.testing.assert_allclose(mdp.initial.numpy(), np.full(16, 1 / 16))
    expected_reward = np.zeros((16, 5))
    expected_reward[15] = 1.0
    np.testing.assert_array_equal(mdp.reward.numpy(), expected_reward)
    np.testing.assert_array_equal(mdp.features.numpy(), np.eye(16))
    assert mdp.info == {"env_id": "irl/Gridworld-v0", "env_kwargs": mdp.info["env_kwargs"]}
    assert mdp_from_env(GridworldEnv(size=4, slip=0.2)).dense_transitions().equal(mdp.dense_transitions())


@pytest.mark.parametrize("slip", [0.0, 1.0])
def test_gridworld_extreme_slip(slip):
    mdp = gridworld_mdp(3, slip)
    np.testing.assert_allclose(mdp.dense_transitions().numpy(), _gridworld_reference(3, slip), atol=1e-15)


def test_gridworld_features_and_rewards():
    mdp = gridworld_mdp(4, features="blocks", block_size=2, reward="random", reward_seed=3, initial="corner")
    phi = mdp.features.numpy()
    assert phi.shape == (16, 4)
    assert phi[0, 0] == phi[5, 0] == phi[2, 1] == phi[8, 2] == phi[15, 3] == 1 and phi.sum() == 16
    w = np.random.default_rng(3).standard_normal(4)
    np.testing.assert_allclose(mdp.reward[:, 0].numpy(), phi @ w)
    np.testing.assert_array_equal(mdp.initial.numpy(), np.eye(16)[0])
    custom = np.arange(16.0)
    np.testing.assert_array_equal(gridworld_mdp(4, reward=custom).reward[:, 3].numpy(), custom)
    with pytest.raises(MDPError, match="16 finite floats"):
        gridworld_mdp(4, reward=np.zeros(15))
    assert gridworld_mdp(4, features=None).features is None


def test_gridworld_float32():
    mdp = gridworld_mdp(4, 0.3, dtype=torch.float32)
    assert mdp.next_probs.dtype == mdp.reward.dtype == mdp.features.dtype == torch.float32
    torch.testing.assert_close(mdp.next_probs.sum(-1), torch.ones(16, 5))


def test_gridworld_million_states_is_fast():
    start = time.perf_counter()
    mdp = gridworld_mdp(1024, 0.1, features=None)
    elapsed = time.perf_counter() - start
    assert mdp.n_states == 1024**2 and mdp.n_successors == 5
    assert elapsed < 15.0, f"building a 1024x1024 gridworld took {elapsed:.1f}s"


def _empirical_check(env, mdp, state, n, rng_seed):
    """Step from `state` n times per action; every next-state frequency within 5 sigma of the model."""
    D = mdp.dense_transitions().numpy()
    env.reset(seed=rng_seed)
    for a in range(5):
        counts = np.zeros(mdp.n_states)
        for _ in range(n):
            env.reset(options={"state": state})
            nxt, _, terminated, _, _ = env.step(a)
            assert not terminated
            counts[nxt] += 1
        p = D[state, a]
        sigma = np.sqrt(p * (1 - p) / n)
        assert np.all(np.abs(counts / n - p) <= 5 * sigma + 1e-12), (a, counts / n, p)


def test_gridworld_env_samples_match_the_model():
    env = GridworldEnv(size=4, slip=0.5)
    _empirical_check(env, env.tabular_mdp(), state=5, n=4000, rng_seed=0)  # interior cell
    _empirical_check(env, env.tabular_mdp(), state=0, n=2000, rng_seed=1)  # corner


def test_gridworld_env_initial_states_match_the_model():
    env = GridworldEnv(size=3, initial="uniform")
    env.reset(seed=4)
    n = 9000
    counts = np.bincount([env.reset()[0] for _ in range(n)], minlength=9)
    p = env.tabular_mdp().initial.numpy()
    assert np.all(np.abs(counts / n - p) <= 5 * np.sqrt(p * (1 - p) / n))
    corner = GridworldEnv(size=3, initial="corner")
    assert {corner.reset(seed=i)[0] for i in range(20)} == {0}


def test_gridworld_env_episode():
    env = GridworldEnv(size=3, slip=0.0, horizon=4, initial="corner")
    s, _ = env.reset(seed=0)
    assert s == 0
    rewards, truncs = [], []
    for a in [4, 4, 2, 2]:  # right, right, down, down: 0 -> 1 -> 2 -> 5 -> 8
        s_prev = s
        s, r, terminated, truncated, _ = env.step(a)
        assert r == env.true_reward[s_prev] and not terminated
        rewards.append(r)
        truncs.append(truncated)
    assert s == 8 and truncs == [False, False, False, True] and rewards == [0, 0, 0, 0]
    s, r, *_ = env.step(0)
    assert r == 1.0  # the goal cell's reward is collected on the step taken from it


# ---------------------------------------------------------------- objectworld
def _objectworld_reference(env):
    """Distances, discrete features and reward recomputed from env.objects with plain loops."""
    n, C1 = env.size, env.layout.n_primary
    C = C1 + env.layout.n_secondary
    dist = np.full((n * n, C), n * math.sqrt(2))
    for s in range(n * n):
        row, col = divmod(s, n)
        for orow, ocol, primary, secondary in env.objects:
            d = math.hypot(row - orow, col - ocol)
            dist[s, primary] = min(dist[s, primary], d)
            dist[s, C1 + secondary] = min(dist[s, C1 + secondary], d)
    discrete = np.zeros((n * n, C * n))
    reward = np.zeros(n * n)
    for s in range(n * n):
        for d in range(1, n + 1):
            for c in range(C):
                discrete[s, (d - 1) * C + c] = float(dist[s, c] < d)
        if dist[s, 0] < 3:
            reward[s] = 5.0 if dist[s, 1] < 2 else -5.0
    return dist, discrete, reward


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": 16, "world_seed": 7},
        {"size": 32, "world_seed": 0},
        {"size": 12, "n_primary": 3, "n_secondary": 3, "world_seed": 2},
    ],
)
def test_objectworld_features_and_reward_match_loops(kwargs):
    env = ObjectworldEnv(**kwargs)
    dist, discrete, reward = _objectworld_reference(env)
    np.testing.assert_allclose(env.distances, dist, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(env.features, discrete)
    np.testing.assert_array_equal(env.true_reward, reward)
    mdp = env.tabular_mdp()
    np.testing.assert_array_equal(mdp.features.numpy(), discrete)
    np.testing.assert_array_equal(mdp.reward.numpy(), np.repeat(reward[:, None], 5, axis=1))
    continuous = ObjectworldEnv(features="continuous", **kwargs)
    np.testing.assert_allclose(continuous.tabular_mdp().features.numpy(), dist, rtol=0, atol=1e-12)


def test_objectworld_reward_values_and_density():
    env = ObjectworldEnv(size=64, world_seed=1)
    assert set(np.unique(env.true_reward)) <= {-5.0, 0.0, 5.0}
    assert (env.true_reward == 5).any() and (env.true_reward == -5).any()
    density = len(env.objects) / 64**2
    assert abs(density - 0.05) < 5 * math.sqrt(0.05 * 0.95 / 64**2)
    assert set(env.objects[:, 2]) == {0, 1} and set(env.objects[:, 3]) == {0, 1}
    rows, cols = env.objects[:, 0], env.objects[:, 1]
    assert len(set(zip(rows, cols))) == len(env.objects)  # at most one object per cell
    toolkit = ObjectworldEnv(size=64, world_seed=1, reward_values=(5.0, -10.0))
    assert set(np.unique(toolkit.true_reward)) <= {-10.0, 0.0, 5.0}


def test_objectworld_defaults_and_seeding():
    mdp = objectworld_mdp()
    assert mdp.n_states == 1024 and mdp.n_actions == 5 and mdp.features.shape == (1024, 4 * 32)
    assert mdp.horizon == 64 and mdp.grid_shape == (32, 32)
    np.testing.assert_array_equal(ObjectworldEnv(world_seed=3).objects, ObjectworldEnv(world_seed=3).objects)
    assert not np.array_equal(ObjectworldEnv(world_seed=3).objects, ObjectworldEnv(world_seed=4).objects)
    assert torch.equal(
        objectworld_mdp(world_seed=5).reward, ObjectworldEnv(world_seed=5).tabular_mdp().reward
    )


def test_objectworld_dynamics_are_the_gridworld_with_move_noise():
    ow = objectworld_mdp(6, move_noise=0.3)
    np.testing.assert_allclose(ow.dense_transitions().numpy(), _gridworld_reference(6, 0.3), atol=1e-15)
    # irl_toolkit's determinism 0.7 (others 0.3/4 each) is move_noise 0.375
    toolkit = objectworld_mdp(6, move_noise=0.375).dense_transitions()
    assert toolkit[14, 2, 20].item() == pytest.approx(0.7) and toolkit[14, 2, 8].item() == pytest.approx(
        0.075
    )


def test_objectworld_env_samples_match_the_model():
    env = ObjectworldEnv(size=6, world_seed=0)
    _empirical_check(env, env.tabular_mdp(), state=14, n=3000, rng_seed=2)


# ---------------------------------------------------------------- gymnasium
@pytest.mark.parametrize(
    "env_id, kwargs, cls",
    [
        ("irl/Gridworld-v0", {"size": 8, "slip": 0.2}, GridworldEnv),
        ("irl/Objectworld-v0", {"size": 10}, ObjectworldEnv),
    ],
)
def test_gymnasium_make(env_id, kwargs, cls):
    env = gymnasium.make(env_id, **kwargs)
    assert isinstance(env.unwrapped, cls)
    assert env.observation_space.n == kwargs["size"] ** 2 and env.action_space.n == 5
    s, _ = env.reset(seed=0)
    assert env.observation_space.contains(s)
    mdp = mdp_from_env(env_id, env_kwargs=kwargs)
    assert mdp.dense_transitions().equal(env.unwrapped.tabular_mdp().dense_transitions())
    assert mdp_from_env(gymnasium.make(env_id, max_episode_steps=5, **kwargs)).horizon == 5


def test_registration_is_idempotent():
    import importlib

    import irl.envs

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(irl.envs)
    assert "irl/Gridworld-v0" in gymnasium.registry and "irl/Objectworld-v0" in gymnasium.registry


@pytest.mark.parametrize(
    "env", [GridworldEnv(size=5, slip=0.3), ObjectworldEnv(size=8)], ids=["gridworld", "objectworld"]
)
def test_check_env(env):
    check_env(env, skip_render_check=True)
