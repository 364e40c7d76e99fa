"""SAC: the math against hand-worked numbers and torch references, bootstrapping through time
limits (not terminations), determinism, the reward seam, discrete SAC, saving policies, and
(slow) Pendulum-v1 within 10,000 steps."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit
from helpers import untimed

from irl.solvers.policy_io import PolicyFormatError, load_policy, save_policy
from irl.solvers.replay import ReplayBuffer
from irl.solvers.sac import (
    SACAgent,
    SACConfig,
    SACPolicy,
    TwinCritic,
    actor_loss,
    adam_step,
    critic_loss,
    discrete_actor_loss,
    discrete_soft_bellman_target,
    soft_bellman_target,
    squashed_gaussian_log_prob,
    temperature_loss,
    train,
)

DTYPES = [torch.float64, torch.float32]


# ------------------------------------------------------------------------------------- tiny envs
class ConstantEnv(gym.Env):
    """One observation, reward 1 every step; terminates after ``terminate_after`` steps, or never."""

    observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, terminate_after=None):
        self.terminate_after = terminate_after
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        terminated = self.terminate_after is not None and self.t >= self.terminate_after
        return np.zeros(1, np.float32), 1.0, terminated, False, {}


class ActionRewardEnv(gym.Env):
    """A one-state task whose reward is the action: ``a`` in [-2, 2] (Box) or ``a == 1`` (Discrete)."""

    observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, discrete=False):
        self.action_space = spaces.Discrete(2) if discrete else spaces.Box(-2.0, 2.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        reward = float(action == 1) if isinstance(self.action_space, spaces.Discrete) else float(action[0])
        return np.zeros(1, np.float32), reward, False, False, {}


def action_env(discrete=False):
    return TimeLimit(ActionRewardEnv(discrete), max_episode_steps=10)


FAST = {"hidden": (32, 32), "batch_size": 64, "learning_starts": 100, "eval_episodes": 2}


# ---------------------------------------------------------------------------------- the math
@pytest.mark.parametrize("dtype", DTYPES)
def test_squashed_gaussian_log_prob_matches_change_of_variables(dtype):
    gen = torch.Generator().manual_seed(0)
    mean = torch.randn(50, 3, generator=gen, dtype=dtype)
    log_std = torch.randn(50, 3, generator=gen, dtype=dtype) * 0.5
    noise = torch.randn(50, 3, generator=gen, dtype=dtype)
    u = mean + log_std.exp() * noise
    normal = torch.distributions.Normal(mean.double(), log_std.double().exp())
    expected = (normal.log_prob(u.double()) - torch.log1p(-torch.tanh(u.double()) ** 2)).sum(-1)
    got = squashed_gaussian_log_prob(noise, log_std, u)
    assert got.dtype == dtype
    torch.testing.assert_close(got.double(), expected, rtol=1e-5 if dtype == torch.float32 else 1e-12,
                               atol=1e-4 if dtype == torch.float32 else 1e-10)


def test_squashed_gaussian_log_prob_stays_finite_where_tanh_saturates():
    u = torch.tensor([[-40.0], [-15.0], [15.0], [40.0]])
    logp = squashed_gaussian_log_prob(torch.zeros_like(u), torch.zeros_like(u), u)
    assert torch.isfinite(logp).all()
    # log(1 - tanh(u)^2) ~ 2 log 2 - 2|u| for large |u|
    expected = -0.5 * math.log(2 * math.pi) - (2 * math.log(2) - 2 * u.abs().squeeze(1))
    torch.testing.assert_close(logp, expected.float(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_bellman_target_by_hand(dtype):
    reward = torch.tensor([1.0, 1.0, -0.5], dtype=dtype)
    next_q = torch.tensor([[2.0, 4.0, 0.0], [3.0, 1.0, 1.0]], dtype=dtype)  # min: 2, 1, 0
    next_log_prob = torch.tensor([0.5, -1.0, 2.0], dtype=dtype)
    terminated = torch.tensor([0.0, 1.0, 0.0], dtype=dtype)
    y = soft_bellman_target(reward, next_q, next_log_prob, terminated, alpha=0.2, gamma=0.9)
    # y0 = 1 + 0.9 (2 - 0.2 * 0.5); y1 terminated: 1; y2 = -0.5 + 0.9 (0 - 0.4)
    torch.testing.assert_close(y, torch.tensor([2.71, 1.0, -0.86], dtype=dtype))


def test_discrete_soft_bellman_target_by_hand():
    reward = torch.tensor([0.0, 2.0], dtype=torch.float64)
    next_q = torch.tensor([[[1.0, 3.0], [0.0, 0.0]], [[2.0, 2.0], [5.0, 5.0]]], dtype=torch.float64)
    probs = torch.tensor([[0.25, 0.75], [0.5, 0.5]], dtype=torch.float64)
    y = discrete_soft_bellman_target(reward, next_q, probs, probs.log(), torch.tensor([0.0, 1.0]),
                                     alpha=0.5, gamma=0.5)
    # state 0: min Q = (1, 2); V = .25 (1 - .5 log .25) + .75 (2 - .5 log .75)
    v0 = 0.25 * (1 - 0.5 * math.log(0.25)) + 0.75 * (2 - 0.5 * math.log(0.75))
    torch.testing.assert_close(y, torch.tensor([0.5 * v0, 2.0], dtype=torch.float64))


def test_losses_by_hand():
    q = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    target = torch.tensor([2.0, 2.0])
    # critic 0: ½ mean(1, 0) = .25; critic 1: ½ mean(1, 4) = 1.25
    torch.testing.assert_close(critic_loss(q, target), torch.tensor(1.5))
    log_prob = torch.tensor([-1.0, 0.5])
    # min Q = (1, 0): mean(0.1 * -1 - 1, 0.1 * .5 - 0)
    torch.testing.assert_close(actor_loss(log_prob, q, 0.1), torch.tensor((-1.1 + 0.05) / 2))
    probs = torch.tensor([[0.5, 0.5]])
    q3 = torch.tensor([[[1.0, 2.0]], [[0.0, 4.0]]])  # min over critics: (0, 2)
    expected = 0.5 * (0.1 * math.log(0.5) - 0.0) + 0.5 * (0.1 * math.log(0.5) - 2.0)
    torch.testing.assert_close(discrete_actor_loss(probs, probs.log(), q3, 0.1), torch.tensor(expected))
    log_alpha = torch.tensor(0.3, requires_grad=True)
    loss = temperature_loss(log_alpha, torch.tensor([-2.0, 0.0]), target_entropy=-1.0)
    torch.testing.assert_close(loss, torch.tensor(-0.3 * (-1.0 - 1.0)))
    loss.backward()  # d/dlog α = -(mean log π + H̄) = 2 > 0: entropy -mean log π = 1 is above H̄ = -1, α falls
    assert log_alpha.grad.item() == pytest.approx(2.0)


def test_shape_checks_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(K, N\)"):
        soft_bellman_target(torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.zeros(3), alpha=1.0, gamma=0.9)
    with pytest.raises(ValueError, match="three"):
        squashed_gaussian_log_prob(torch.zeros(2, 1), torch.zeros(2, 2), torch.zeros(2, 1))


def test_adam_step_matches_torch_adam():
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(20, dtype=torch.float64, generator=gen)
    ref = p0.clone().requires_grad_(True)
    opt = torch.optim.Adam([ref], lr=0.01)
    ours, m, v = p0.clone(), torch.zeros(20, dtype=torch.float64), torch.zeros(20, dtype=torch.float64)
    for step in range(1, 6):
        g = torch.randn(20, dtype=torch.float64, generator=gen)
        ref.grad = g.clone()
        opt.step()
        adam_step(ours, g, m, v, step=step, lr=0.01)
    torch.testing.assert_close(ours, ref.detach(), rtol=1e-12, atol=1e-14)
    # per-parameter rates: a vector of equal rates gives the same numbers
    ours2, m2, v2 = p0.clone(), torch.zeros(20, dtype=torch.float64), torch.zeros(20, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    torch.randn(20, dtype=torch.float64, generator=gen)
    for step in range(1, 6):
        adam_step(ours2, torch.randn(20, dtype=torch.float64, generator=gen), m2, v2, step=step,
                  lr=torch.full((20,), 0.01, dtype=torch.float64))
    torch.testing.assert_close(ours2, ours, rtol=1e-12, atol=1e-14)


def test_twin_critic_is_two_independent_mlps_in_one_pass():
    critic = TwinCritic(5, 3, (8, 8), n_critics=2, generator=torch.Generator().manual_seed(1))
    x = torch.randn(7, 5)
    out = critic(x)
    assert out.shape == (2, 7, 3)
    for k in range(2):
        h = x
        for i, (w, b) in enumerate(critic.layers()):
            h = h @ w[k] + b[k]
            h = torch.relu(h) if i < 2 else h
        torch.testing.assert_close(out[k], h)
    assert not torch.allclose(out[0], out[1])  # initialised independently


# ------------------------------------------------------------------------------- replay buffer
def test_replay_buffer_wraps_around_and_keeps_columns_apart():
    buf = ReplayBuffer(4, obs_dim=2, act_dim=1, generator=torch.Generator().manual_seed(0))
    for i in range(6):
        buf.add(np.array([i, -i]), np.array([0.5 * i]), float(i), np.array([i + 1, -i - 1]), i == 5)
    assert len(buf) == 4
    stored = buf.stored()
    # rows 0, 1 were overwritten by transitions 4, 5
    np.testing.assert_array_equal(stored.obs[:, 0].numpy(), [4, 5, 2, 3])
    np.testing.assert_array_equal(stored.next_obs[:, 1].numpy(), [-5, -6, -3, -4])
    np.testing.assert_array_equal(stored.act[:, 0].numpy(), [2.0, 2.5, 1.0, 1.5])
    np.testing.assert_array_equal(stored.env_reward.numpy(), [4, 5, 2, 3])
    np.testing.assert_array_equal(stored.terminated.numpy(), [0, 1, 0, 0])
    batch = buf.sample(16)
    assert batch.obs.shape == (16, 2) and batch.act.shape == (16, 1) and batch.terminated.shape == (16,)
    assert set(batch.env_reward.tolist()) <= {2.0, 3.0, 4.0, 5.0}


def test_a_staged_buffer_copies_new_rows_before_each_draw():
    # the accelerator path (host staging area, copied to the device before a draw), on the CPU
    buf = ReplayBuffer(5, obs_dim=1, act_dim=1, staged=True, generator=torch.Generator().manual_seed(0))
    assert buf.data.data_ptr() != buf._staging.data_ptr()
    for i in range(3):
        buf.add(np.array([i]), np.array([0.0]), float(i), np.array([i]), False)
    buf.sample(4)
    assert buf.data[:3, 0].tolist() == [0, 1, 2]
    for i in range(3, 9):  # wraps around past the last synced row
        buf.add(np.array([i]), np.array([0.0]), float(i), np.array([i]), False)
    assert buf.stored().obs[:, 0].tolist() == [5, 6, 7, 8, 4]
    for i in range(9, 19):  # two full laps between draws
        buf.add(np.array([i]), np.array([0.0]), float(i), np.array([i]), False)
    buf.sample(1)
    assert buf.data[:, 0].tolist() == [15, 16, 17, 18, 14]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sac_trains_on_cuda():
    result = train(action_env(), total_steps=300, seed=0, device="cuda", **FAST)
    assert np.isfinite(result.eval_return)
    assert next(result.policy.parameters()).device.type == "cuda"


# ------------------------------------------------------------------- truncation vs termination
def _q_estimate(env, **overrides):
    config = {"hidden": (16, 16), "batch_size": 32, "learning_starts": 50, "gamma": 0.9, "tau": 0.2,
              "critic_lr": 1e-2, "actor_lr": 1e-3, "autotune_temperature": False, "init_temperature": 1e-3,
              "eval_episodes": 0, "total_steps": 600}
    result = train(env, seed=0, **{**config, **overrides})
    agent = result.info["agent"]
    with torch.no_grad():
        q = agent.critic(torch.zeros(1, 2)).mean().item()
    return q, agent.buffer.stored().terminated


def test_a_time_limit_bootstraps_a_termination_does_not():
    # Reward 1 forever, cut every 3 steps by a time limit: Q = 1 / (1 - 0.9) = 10.
    q_truncated, flags = _q_estimate(TimeLimit(ConstantEnv(), max_episode_steps=3))
    assert flags.sum().item() == 0  # time-limit ends are not stored as terminations
    assert 9.0 < q_truncated < 11.0
    # Terminating every 3 steps (same observation throughout): Q = 1 + 0.9 (2/3) Q = 2.5.
    q_terminated, flags = _q_estimate(ConstantEnv(terminate_after=3))
    assert flags.sum().item() == 600 // 3
    assert 2.2 < q_terminated < 2.9


# ------------------------------------------------------------------------------- determinism
def test_same_seed_gives_the_same_numbers():
    def run():
        result = train("Pendulum-v1", total_steps=400, seed=3, **FAST)
        return untimed(result.curve), result.eval_return, [p.detach().clone() for p in result.policy.parameters()]

    (curve_a, eval_a, params_a), (curve_b, eval_b, params_b) = run(), run()
    assert curve_a == curve_b
    assert eval_a == eval_b
    for a, b in zip(params_a, params_b):
        assert torch.equal(a, b)
    other = train("Pendulum-v1", total_steps=400, seed=4, **FAST)
    assert untimed(other.curve) != curve_a


def test_training_leaves_torch_threads_and_global_rng_alone():
    threads = torch.get_num_threads()
    state = torch.get_rng_state()
    train(action_env(), total_steps=150, seed=0, **FAST)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), state)


# ------------------------------------------------------------------------------- the reward seam
@pytest.mark.parametrize("discrete", [False, True])
def test_an_inverted_reward_makes_the_policy_do_the_opposite(discrete):
    # env returns over 10 steps lie in [0, 10] (Discrete) or [-20, 20] (Box)
    low, high = (0.0, 10.0) if discrete else (-20.0, 20.0)
    quarter = (high - low) / 4
    plain = train(action_env(discrete), total_steps=600, seed=0, **FAST)
    assert plain.eval_return > high - quarter

    def inverted(obs, act, next_obs):  # the env's reward, negated: Box actions arrive on the env's scale
        return -(act.float() if discrete else act[:, 0])

    flipped = train(action_env(discrete), total_steps=600, seed=0, reward_model=inverted, **FAST)
    assert flipped.eval_return < low + quarter
    # the logged return is the env's (what the inverted reward would call high is low here)
    assert flipped.curve[-1]["true_return"] < low + 2 * quarter < plain.curve[-1]["true_return"]
    assert flipped.curve[0]["true_return"] == pytest.approx(plain.curve[0]["true_return"])  # same random start


def test_reward_models_from_irl_rewards_plug_in():
    from irl.rewards import MLPReward, ShapedReward

    seen = {}

    class Spy(MLPReward):
        def forward(self, obs, act=None, next_obs=None):
            seen.update(obs=obs.shape, act=act.shape, dtype=obs.dtype)
            return super().forward(obs, act, next_obs)

    result = train(action_env(), total_steps=150, seed=0, reward_model=Spy(1, inputs="sa", act_dim=1), **FAST)
    assert seen == {"obs": (64, 1), "act": (64, 1), "dtype": torch.float32}
    assert np.isfinite(result.eval_return)
    shaped = ShapedReward(MLPReward(1, inputs="sa", act_dim=1), MLPReward(1, seed=1), gamma=0.9)
    assert np.isfinite(train(action_env(), total_steps=150, seed=0, reward_model=shaped, **FAST).eval_return)


def test_a_reward_model_with_the_wrong_output_shape_is_refused():
    with pytest.raises(ValueError, match="reward model returned shape"):
        train(action_env(), total_steps=120, seed=0, reward_model=lambda o, a, o2: a, **FAST)


def test_demos_go_into_the_replay_buffer():
    from irl.data import Demos

    episodes = [{"observations": np.zeros((10, 1), np.float32), "actions": np.full((10, 1), 2.0, np.float32),
                 "next_observations": np.zeros((10, 1), np.float32), "rewards": np.full(10, 2.0),
                 "truncated": True}]
    demos = Demos.from_episodes(episodes, check_env=False)
    result = train(action_env(), total_steps=100, seed=0, demos=demos, **{**FAST, "eval_episodes": 0})
    stored = result.info["agent"].buffer.stored()
    assert len(stored.obs) == 110
    np.testing.assert_allclose(stored.act[:10, 0].numpy(), 1.0)  # rescaled to [-1, 1]
    np.testing.assert_allclose(stored.env_reward[:10].numpy(), 2.0)


# ------------------------------------------------------------------------------- discrete SAC
def test_discrete_sac_learns_a_small_gridworld():
    import irl.envs  # noqa: F401
    from irl.envs import TabularMDP
    from irl.solvers import expected_return, hard_value_iteration

    env = gym.make("irl/Gridworld-v0", size=4, slip=0.0)
    mdp = TabularMDP.from_env(env, horizon=env.unwrapped.horizon)
    optimal = float(expected_return(mdp, mdp.reward, hard_value_iteration(mdp, mdp.reward).policy))
    uniform = float(expected_return(mdp, mdp.reward, torch.full((mdp.n_states, mdp.n_actions), 0.2)))
    # Rewards here are 0 or 1 a step, so start from a small temperature (α = 1 would drown them).
    result = train(env, total_steps=1000, seed=0, hidden=(32, 32), batch_size=64, learning_starts=200,
                   init_temperature=0.1, eval_episodes=40)
    assert result.eval_return > uniform + 0.8 * (optimal - uniform)


# ------------------------------------------------------------------------------- saving policies
@pytest.mark.parametrize("discrete", [False, True])
def test_policies_save_and_load_back(tmp_path, discrete):
    env = action_env(discrete)
    policy = SACPolicy({"type": "box", "shape": [1], "low": [-1.0], "high": [1.0]},
                       {"type": "discrete", "n": 2} if discrete else
                       {"type": "box", "shape": [1], "low": [-2.0], "high": [2.0]}, hidden=(8, 8), seed=5)
    save_policy(policy, tmp_path)
    loaded = load_policy(tmp_path)
    assert isinstance(loaded, SACPolicy) and loaded.spec() == policy.spec()
    obs = np.linspace(-1, 1, 7, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(loaded.act(obs, deterministic=True), policy.act(obs, deterministic=True))
    one = loaded.act(obs[0])
    assert env.action_space.contains(one if not discrete else int(one))


def test_loading_a_broken_policy_says_which_file(tmp_path):
    with pytest.raises(PolicyFormatError, match="policy.json: no such file"):
        load_policy(tmp_path)
    policy = SACPolicy({"type": "discrete", "n": 3}, {"type": "discrete", "n": 2}, hidden=(4,))
    save_policy(policy, tmp_path)
    np.savez(tmp_path / "policy_weights.npz", nothing=np.zeros(1))
    with pytest.raises(PolicyFormatError, match="missing array"):
        load_policy(tmp_path)
    (tmp_path / "policy.json").write_text('{"format_version": 1, "spec": {"kind": "nope"}}')
    with pytest.raises(PolicyFormatError, match="unknown policy kind"):
        load_policy(tmp_path)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="batch_size"):
        SACConfig(batch_size=0)
    with pytest.raises(TypeError, match="unknown SACConfig"):
        train(action_env(), total_steps=10, no_such_field=1)


def test_agent_parameters_are_views_of_one_flat_tensor():
    env = action_env()
    agent = SACAgent(env, SACConfig(hidden=(8, 8), batch_size=8), seed=0, capacity=32)
    for i in range(16):
        agent.buffer.add(np.array([i / 16]), agent.random_action()[0], 1.0, np.array([(i + 1) / 16]), False)
    before = agent.policy.net[0].weight.detach().clone()
    target_before = agent.critic_target.weights[0].detach().clone()
    agent.gradient_step()
    assert not torch.equal(agent.policy.net[0].weight, before)  # the flat Adam step reached the module
    assert not torch.equal(agent.critic_target.weights[0], target_before)  # Polyak reached the target
    for p in agent._params:
        assert p.grad.data_ptr() >= agent._flat_grad.data_ptr()  # grads still live in the flat tensor

    # exploring on the CPU runs the policy in numpy on views of the same weights: with zero noise
    # it must give the policy's mode, after updates too
    class ZeroNoise:
        def standard_normal(self, n):
            return np.zeros(n)

    agent.rng = ZeroNoise()
    for obs in (np.array([0.3], np.float32), np.array([-0.7], np.float32)):
        mode = agent.policy.act(obs, deterministic=True) / 2.0  # the env's bounds are ±2
        np.testing.assert_allclose(agent.explore(obs)[0], mode, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------- the slow one
@pytest.mark.slow
def test_pendulum_reaches_minus_250_within_10000_steps():
    result = train("Pendulum-v1", total_steps=10_000, seed=0)
    assert result.eval_return >= -250, result.eval_return
