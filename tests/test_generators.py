"""The generator interface: SAC and policy gradient driven through the same code, their behaviour
log-probabilities against their policies' ``log_prob``, the squashed Gaussian's density against
sampling, and the one reward seam."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from irl.data import Demos
from irl.rewards import RewardFn, TabularReward
from irl.solvers.agent import Transitions
from irl.solvers.policy_gradient import PGAgent, PGConfig
from irl.solvers.sac import SACAgent, SACConfig, SACPolicy
from irl.solvers.spaces import SetupError


class StepEnv(gym.Env):
    """Reward = the action (Box in [-2, 2] or Discrete {0, 1}); 10 steps per episode, obs uniform in [-1, 1]."""

    def __init__(self, discrete: bool = False) -> None:
        self.observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = spaces.Discrete(2) if discrete else spaces.Box(-2.0, 2.0, (1,), np.float32)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, 2).astype(np.float32), {}

    def step(self, action):
        self.t += 1
        reward = float(action) if isinstance(self.action_space, spaces.Discrete) else float(np.asarray(action)[0])
        obs = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return obs, reward, False, self.t >= 10, {}


def make_sac(env):
    return SACAgent(env, SACConfig(hidden=(16, 16), batch_size=32, learning_starts=20), seed=0)


def make_pg(env):
    return PGAgent(env, PGConfig(hidden=(16, 16), minibatch_size=16, epochs=2), seed=0)


GENERATORS = [make_sac, make_pg]


def drive(agent, reward_fn, rounds: int = 3, n: int = 40) -> list[Transitions]:
    """What an adversarial learner does, in the smallest form: collect, then update on a reward."""
    batches = []
    for _ in range(rounds):
        batches.append(agent.collect(n))
        agent.update(reward_fn)
    return batches


@pytest.mark.parametrize("make", GENERATORS, ids=["sac", "pg"])
@pytest.mark.parametrize("discrete", [False, True])
def test_both_generators_collect_env_form_transitions_with_their_behaviour_log_probs(make, discrete):
    env = StepEnv(discrete)
    agent = make(env)
    seen = []

    def reward_fn(obs, act, next_obs, terminated):
        seen.append((tuple(obs.shape), tuple(act.shape), act.dtype, terminated.dtype))
        return torch.zeros(obs.shape[0])

    batches = drive(agent, reward_fn)
    assert agent.steps == 120 and seen, "update must call the reward function"
    for tr in batches:
        assert len(tr) == 40 and tr.observations.shape == (40, 2) and tr.next_observations.shape == (40, 2)
        assert tr.actions.shape == ((40,) if discrete else (40, 1))
        assert tr.truncated.sum() == 4 and not tr.terminated.any()  # 10-step episodes, cut by the time limit
        assert np.isfinite(tr.log_probs).all() and np.isfinite(tr.env_rewards).all()
    obs_shape, act_shape, act_dtype, term_dtype = seen[-1]
    assert obs_shape[1:] == (2,) and term_dtype == torch.bool
    assert act_shape[1:] == (() if discrete else (1,)) and (act_dtype == torch.int64) == discrete
    # the behaviour log-probabilities are the policy's own, for the policy that acted (the last batch
    # was collected by the policy before the last update: compare on a fresh one)
    fresh = agent.collect(30)
    with torch.no_grad():
        logp = agent.policy.log_prob(fresh.observations, fresh.actions).double().numpy()
    np.testing.assert_allclose(fresh.log_probs, logp, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("make", GENERATORS, ids=["sac", "pg"])
def test_the_reward_function_decides_what_either_generator_learns(make):
    """Both generators, the same code, two rewards: the env's (reward = action) and its negation."""
    def negated(obs, act, next_obs, terminated):
        return -torch.as_tensor(act, dtype=torch.float32).reshape(-1)

    def mean_action(agent):
        with torch.no_grad():
            return float(agent.policy.mode(np.zeros((64, 2), np.float32)).float().mean())

    plain, flipped = make(StepEnv()), make(StepEnv())
    drive(plain, None, rounds=12, n=100)
    drive(flipped, negated, rounds=12, n=100)
    assert mean_action(plain) > 0.5 and mean_action(flipped) < -0.5


def test_sac_update_owes_one_gradient_step_per_collected_step_after_learning_starts():
    agent = make_sac(StepEnv())
    agent.collect(15)
    assert agent.update() == {} and agent.updates == 0  # before learning_starts: nothing owed
    agent.collect(10)
    agent.update()
    assert agent.updates == 6  # steps 20..25 collected at or after learning_starts
    agent.config = SACConfig(hidden=(16, 16), batch_size=32, learning_starts=20, updates_per_step=2)
    agent.collect(3)
    agent.update()
    assert agent.updates == 12


def test_demos_without_rewards_need_a_reward_function():
    env = StepEnv()
    episodes = [{"observations": np.zeros((5, 2), np.float32), "actions": np.ones((5, 1), np.float32),
                 "next_observations": np.zeros((5, 2), np.float32), "truncated": True}]
    demos = Demos.from_episodes(episodes, check_env=False)
    agent = make_sac(env)
    agent.add_demos(Transitions.from_demos(demos))
    assert len(agent.buffer) == 5
    agent.collect(25)
    with pytest.raises(SetupError, match="reward_fn"):
        agent.update()
    agent.update(lambda o, a, o2, t: torch.ones(o.shape[0]))
    assert agent.updates > 0


def test_pg_add_demos_runs_behaviour_cloning_when_asked():
    env = StepEnv(discrete=True)
    agent = PGAgent(env, PGConfig(hidden=(16,), bc_warmstart_steps=50, bc_learning_rate=0.01), seed=0)
    obs = np.random.default_rng(0).uniform(-1, 1, (40, 2)).astype(np.float32)
    demos = Transitions(obs, np.ones(40, np.int64), obs, np.zeros(40, bool), np.r_[np.zeros(39, bool), True],
                        np.full(40, np.nan), np.full(40, np.nan))
    agent.add_demos(demos)
    losses = agent.info["bc_losses"]
    assert len(losses) == 50 and losses[-1] < losses[0]
    with torch.no_grad():
        assert float(agent.policy.log_prob(obs, np.ones(40, np.int64)).exp().mean()) > 0.8


# ------------------------------------------------------------------------- the policies' log_prob
def _sac_box_policy(seed: int = 3) -> SACPolicy:
    return SACPolicy({"type": "box", "shape": [2]}, {"type": "box", "shape": [1], "low": [-2.0], "high": [3.0]},
                     hidden=(8,), seed=seed)


def test_squashed_gaussian_log_prob_agrees_with_sampling():
    """For a 1-d squashed Gaussian on [-2, 3]: the density integrates to 1, ``sample``'s log-probs equal
    ``log_prob`` of the samples, and the distribution of the samples matches the density's CDF."""
    policy = _sac_box_policy()
    obs = np.full((1, 2), 0.4, np.float32)
    with torch.no_grad():
        grid = torch.linspace(-2.0, 3.0, 20_001)[1:-1, None]
        density = policy.log_prob(np.repeat(obs, len(grid), 0), grid).double().exp()
        step = 5.0 / 20_000
        assert float(density.sum() * step) == pytest.approx(1.0, abs=2e-3)
        gen = torch.Generator().manual_seed(0)
        a, logp = policy.sample(np.repeat(obs, 20_000, 0), gen)
        np.testing.assert_allclose(logp.numpy(), policy.log_prob(np.repeat(obs, 20_000, 0), a).numpy(),
                                   rtol=1e-4, atol=1e-4)
    cdf = np.cumsum(density.numpy()) * step
    empirical = np.searchsorted(np.sort(a[:, 0].numpy()), grid[:, 0].numpy()) / 20_000
    assert np.abs(cdf - empirical).max() < 0.015  # Kolmogorov-Smirnov distance, n = 20,000


def test_log_prob_clamps_actions_on_the_bounds_and_has_gradients():
    policy = _sac_box_policy()
    obs = np.zeros((3, 2), np.float32)
    logp = policy.log_prob(obs, torch.tensor([[-2.0], [3.0], [0.5]]))
    assert torch.isfinite(logp).all()
    logp.sum().backward()
    assert all(p.grad is not None for p in policy.parameters())


@pytest.mark.parametrize("make", GENERATORS, ids=["sac", "pg"])
def test_every_policy_has_sample_mode_and_log_prob(make):
    for discrete in (False, True):
        agent = make(StepEnv(discrete))
        obs = np.random.default_rng(1).uniform(-1, 1, (6, 2)).astype(np.float32)
        with torch.no_grad():
            a, logp = agent.policy.sample(obs)
            np.testing.assert_allclose(logp.numpy(), agent.policy.log_prob(obs, a).numpy(), rtol=1e-5, atol=1e-5)
            mode = agent.policy.mode(obs)
        assert a.shape == mode.shape == ((6,) if discrete else (6, 1))
        np.testing.assert_array_equal(agent.policy.act(obs, deterministic=True), mode.numpy())


def test_q_policies_score_their_boltzmann_actions():
    from irl.solvers.soft_q import TabularQPolicy

    policy = TabularQPolicy(3, 2, temperature=0.5)
    policy.q.copy_(torch.tensor([[0.0, 1.0], [2.0, 2.0], [-1.0, 0.0]], dtype=torch.float64))
    logp = policy.log_prob(np.array([0, 1]), np.array([1, 0]))
    expected = [1.0 / 0.5 - math.log(1 + math.exp(2.0)), math.log(0.5)]
    np.testing.assert_allclose(logp.numpy(), expected, atol=1e-12)


# ---------------------------------------------------------------------------------- the reward seam
def test_one_reward_seam_for_solvers_wrapper_and_cli():
    """The same model, through RewardFn, gives the same rewards to a batch, to the wrapper and as a table."""
    from irl.rewards import LearnedRewardWrapper

    model = TabularReward(4, 2)
    with torch.no_grad():
        model.theta.copy_(torch.arange(8, dtype=torch.float32).reshape(4, 2))
    obs_space, act_space = spaces.Discrete(4), spaces.Discrete(2)
    fn = RewardFn(model, obs_space, act_space)
    r = fn(np.array([0, 3]), np.array([1, 0]), np.array([1, 2]), np.array([False, True]))
    np.testing.assert_allclose(r.numpy(), [1.0, 6.0])
    assert fn.table is not None and fn.table[3, 1] == 7.0 and fn.one(2, 1, 0, False) == 5.0
    import irl.envs  # noqa: F401

    env = LearnedRewardWrapper(gym.make("irl/Gridworld-v0", size=2, slip=0.0), TabularReward(4, 5))
    env.reset(seed=0)
    assert env.step(1)[1] == 0.0
    with pytest.raises(ValueError, match="reward model returned shape"):
        RewardFn(lambda o, a, o2: torch.zeros(3), spaces.Box(-1, 1, (2,)), act_space)(
            np.zeros((2, 2)), np.zeros(2), np.zeros((2, 2)), np.zeros(2, bool))


@pytest.mark.parametrize("discrete", [False, True])
def test_the_numpy_rollout_actor_computes_what_the_torch_actor_does(discrete):
    """PG draws rollout actions from a numpy copy of its actor (experiments/bench_solver_internals.py)."""
    from irl.solvers.policy_gradient.agent import _Drawer

    agent = make_pg(StepEnv(discrete))
    drawer = _Drawer(agent.policy, np.random.default_rng(0))
    obs = np.random.default_rng(2).uniform(-1, 1, (5, 2)).astype(np.float32)
    with torch.no_grad():
        expected = agent.policy.actor(agent.policy.encoder.encode(obs)[0]).double().numpy()
    np.testing.assert_allclose(np.stack([drawer.actor_out(o) for o in obs]), expected, rtol=1e-5, atol=1e-6)
