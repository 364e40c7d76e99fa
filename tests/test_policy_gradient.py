"""Policy gradient with demonstrations: GAE, importance weights and the PPO loss against numbers
worked by hand; demos make a sparse-reward gridworld solvable; the reward seam; seeds; specs."""

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import untimed

import irl.envs  # noqa: F401  (registers irl/Gridworld-v0)
from irl.data import Demos
from irl.envs import gridworld_mdp
from irl.rewards import TabularReward
from irl.runs.generate import generate_tabular_demos
from irl.solvers.policies import policy_from_spec
from irl.solvers.policy_gradient import (
    PGConfig,
    gae_advantages,
    per_decision_weights,
    policy_gradient_loss,
    train,
)

# The sparse task: start in the top-left corner of a 6x6 grid, +1 per step on the bottom-right
# cell, 15 steps. The goal is 10 moves away; a uniform policy practically never gets there.
SPARSE = dict(size=6, slip=0.0, initial="corner", horizon=15)
SOLVED = 4.0  # the optimal return is 5 (five steps on the goal)


@pytest.fixture(scope="module")
def sparse_demos():
    return generate_tabular_demos("irl/Gridworld-v0", env_kwargs=SPARSE, episodes=5, temperature=0.01, seed=0)


def solved_by_training_returns(record_list, window=10):
    returns = [r["true_return"] for r in record_list]
    return len(returns) >= window and np.mean(returns[-window:]) >= SOLVED


def stop_when_solved(curve):
    def callback(record):
        curve.append(record)
        return not solved_by_training_returns(curve)

    return callback


# ---------------------------------------------------------------------------------- the math
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gae_by_hand(dtype):
    def t(*x):
        return torch.tensor(x, dtype=dtype)

    def b(*x):
        return torch.tensor(x, dtype=torch.bool)

    rewards, values, next_values = t(1.0, 2.0, 3.0), t(0.5, 1.0, 1.5), t(1.0, 1.5, 9.0)
    # δ = [1 + .9 - .5, 2 + .9*1.5 - 1, 3 - 1.5] = [1.4, 2.35, 1.5]; γλ = 0.72
    terminated_at_end = gae_advantages(rewards, values, next_values, b(0, 0, 1), b(0, 0, 1), 0.9, 0.8)
    torch.testing.assert_close(terminated_at_end, t(1.4 + 0.72 * (2.35 + 0.72 * 1.5), 2.35 + 0.72 * 1.5, 1.5))
    # a truncation after step 1 cuts the sum; the last step bootstraps from V = 9
    truncated = gae_advantages(rewards, values, next_values, b(0, 0, 0), b(0, 1, 1), 0.9, 0.8)
    torch.testing.assert_close(truncated, t(1.4 + 0.72 * 2.35, 2.35, 3 + 0.9 * 9 - 1.5))
    # λ = 1, γ = 1: the return-to-go minus V
    mc = gae_advantages(rewards, values, next_values, b(0, 0, 1), b(0, 0, 1), 1.0, 1.0)
    torch.testing.assert_close(mc, t(6.0, 5.0, 3.0) - values)


def test_per_decision_weights_by_hand():
    log_pi = torch.log(torch.tensor([0.4, 0.6, 0.25], dtype=torch.float64))
    log_q = torch.log(torch.tensor([0.2, 0.2, 0.5], dtype=torch.float64))
    # ratios [2, 3, 0.5]; episodes [0, 1] and [2]: products [2, 6 -> clip 5] and [0.5]; mean 2.5
    w = per_decision_weights(log_pi, log_q, torch.tensor([0, 2]), clip=5.0)
    torch.testing.assert_close(w, torch.tensor([0.8, 2.0, 0.2], dtype=torch.float64))
    assert not w.requires_grad


def test_ppo_loss_by_hand_and_its_gradient():
    old = torch.zeros(2)
    log_prob = torch.full((2,), math.log(1.5), requires_grad=True)
    adv = torch.tensor([1.0, -1.0])
    loss = policy_gradient_loss(log_prob, adv, old, clip_range=0.2)
    # ratio 1.5: min(1.5, 1.2) * 1 = 1.2 (clipped, no gradient); min(-1.5, -1.2) = -1.5 (gradient)
    assert loss.item() == pytest.approx(-(1.2 - 1.5) / 2)
    loss.backward()
    torch.testing.assert_close(log_prob.grad, torch.tensor([0.0, 1.5 / 2]))
    plain = policy_gradient_loss(torch.tensor([0.1, 0.2]), torch.tensor([2.0, 3.0]),
                                 weights=torch.tensor([1.0, 2.0]))
    assert float(plain) == pytest.approx(-(0.1 * 2 + 2 * 0.2 * 3) / 2)


# --------------------------------------------------------------------------- demos, sparse task
def test_demos_solve_a_sparse_task_that_pg_alone_does_not(sparse_demos):
    budget = 2_000
    with_curve: list = []
    with_demos = train(gym.make("irl/Gridworld-v0", **SPARSE), demos=sparse_demos, total_steps=budget,
                       bc_warmstart_steps=200, demo_bc_coef=1.0, callback=stop_when_solved(with_curve),
                       seed=0)
    without = train(gym.make("irl/Gridworld-v0", **SPARSE), total_steps=budget, seed=0)
    assert solved_by_training_returns(with_demos.curve)
    assert with_demos.eval_return >= SOLVED
    assert with_demos.steps <= budget // 4  # solved early: the callback stopped it
    assert without.steps == budget
    assert without.eval_return == 0.0
    assert max(r["true_return"] for r in without.curve) < SOLVED


@pytest.mark.slow
@pytest.mark.parametrize("terms", [
    dict(bc_warmstart_steps=200),
    dict(demo_bc_coef=1.0),
    dict(demo_is=True, demo_behavior="bc"),
    dict(demo_is=True, demo_behavior="dirac"),
], ids=["bc-warmstart", "dapg-term", "is-bc", "is-dirac"])
def test_each_demo_term_alone_solves_the_sparse_task(sparse_demos, terms):
    result = train(gym.make("irl/Gridworld-v0", **SPARSE), demos=sparse_demos, total_steps=8_000, seed=0,
                   **terms)
    assert result.eval_return >= SOLVED


def test_demo_terms_need_demos_and_is_needs_rewards(sparse_demos):
    with pytest.raises(ValueError, match="need demos"):
        train("irl/Gridworld-v0", demo_bc_coef=1.0, total_steps=10)
    no_rewards = Demos.build(**{k: v for k, v in sparse_demos.arrays().items() if k != "rewards"},
                             metadata=sparse_demos.metadata)
    with pytest.raises(ValueError, match="demo rewards"):
        train(gym.make("irl/Gridworld-v0", **SPARSE), demos=no_rewards, demo_is=True, total_steps=10)


# ----------------------------------------------------------------------------- the reward seam
def test_reward_model_that_inverts_the_task_inverts_the_policy():
    env_kwargs = dict(size=3, slip=0.0)  # uniform start, 6 steps, +1 per step on the bottom-right cell
    true_r = gridworld_mdp(3, 0.0).reward[:, 0].float()
    inverted = TabularReward(9, 5, state_only=True)
    with torch.no_grad():
        inverted.theta.copy_(-true_r)
    normal = train(gym.make("irl/Gridworld-v0", **env_kwargs), total_steps=2_000, seed=0)
    flipped = train(gym.make("irl/Gridworld-v0", **env_kwargs), reward_model=inverted, total_steps=2_000,
                    seed=0)
    assert normal.eval_return >= 2.5
    assert flipped.eval_return <= 0.2  # only a start on the goal earns anything
    stay_on_goal = {0, 2, 4}
    assert int(normal.policy.act(np.int64(8), deterministic=True)) in stay_on_goal
    assert int(flipped.policy.act(np.int64(8), deterministic=True)) not in stay_on_goal
    # the curve logs the env's reward, which the flipped learner drives down
    assert all(r["true_return"] >= 0 for r in flipped.curve)
    flipped_returns = [r["true_return"] for r in flipped.curve]
    assert np.mean(flipped_returns[-20:]) < np.mean(flipped_returns[:20])


# ----------------------------------------------------------------------- seeds and the interface
def test_same_seed_same_numbers(sparse_demos):
    kw = dict(demos=sparse_demos, total_steps=300, demo_is=True, demo_bc_coef=0.5, bc_warmstart_steps=20,
              bc_steps=30, eval_episodes=2)
    a = train(gym.make("irl/Gridworld-v0", **SPARSE), seed=3, **kw)
    b = train(gym.make("irl/Gridworld-v0", **SPARSE), seed=3, **kw)
    c = train(gym.make("irl/Gridworld-v0", **SPARSE), seed=4, **kw)
    assert untimed(a.curve) == untimed(b.curve) and a.eval_return == b.eval_return
    def same(p, q):
        pairs = zip(p.state_dict().values(), q.state_dict().values(), strict=True)
        return all(torch.equal(x, y) for x, y in pairs)

    assert same(a.policy, b.policy) and not same(a.policy, c.policy)


def test_continuous_actions_with_demo_terms_and_spec_roundtrip():
    env = gym.make("Pendulum-v1")
    rng = np.random.default_rng(0)
    episodes = []
    for _ in range(2):
        obs, _ = env.reset(seed=int(rng.integers(1000)))
        steps = {"observations": [], "actions": [], "next_observations": [], "rewards": []}
        for _ in range(20):
            a = rng.uniform(-2, 2, size=1).astype(np.float32)
            nxt, r, *_ = env.step(a)
            for key, value in zip(steps, (obs, a, nxt, r), strict=True):
                steps[key].append(value)
            obs = nxt
        episodes.append({k: np.asarray(v) for k, v in steps.items()} | {"truncated": True})
    demos = Demos.from_episodes(episodes, metadata={"env": {"id": "Pendulum-v1"}})
    config = PGConfig(total_steps=300, rollout_steps=128, demo_is=True, demo_bc_coef=0.5,
                      bc_warmstart_steps=10,                       bc_steps=20, eval_episodes=1)
    result = train("Pendulum-v1", config=config, demos=demos, seed=0)
    assert result.steps == 300 and len(result.curve) == 1 and np.isfinite(result.eval_return)
    policy = result.policy
    single = policy.act(np.zeros(3, dtype=np.float32))
    batch = policy.act(np.zeros((4, 3), dtype=np.float32), deterministic=True)
    assert single.shape == (1,) and batch.shape == (4, 1)
    far = policy.act(np.full((64, 3), 50.0, dtype=np.float32))
    assert np.all(far <= 2.0) and np.all(far >= -2.0)
    spec = json.loads(json.dumps(policy.spec()))
    assert spec["kind"] == "actor-critic"
    rebuilt = policy_from_spec(spec)
    rebuilt.load_state_dict(policy.state_dict())
    np.testing.assert_array_equal(rebuilt.act(np.ones((5, 3), np.float32), deterministic=True),
                                  policy.act(np.ones((5, 3), np.float32), deterministic=True))


def test_plain_a2c_update_is_one_adam_step_on_the_a2c_loss():
    """clip_range=None, epochs=1, minibatch_size=None: one update is one Adam step on
    -mean(log π(a|s) Â) - α mean H + c mean (V - R)², with Â the GAE of the soft reward (worked here
    from the pure functions, on a copy of the policy)."""
    import copy

    from irl.solvers.policy_gradient import PGAgent, gae_advantages

    config = PGConfig(clip_range=None, epochs=1, minibatch_size=None, rollout_steps=64, normalize_advantages=False)
    agent = PGAgent(gym.make("CartPole-v1"), config, seed=0)
    roll = agent.collect(64)
    twin = copy.deepcopy(agent.policy)
    optimizer = torch.optim.Adam(twin.parameters(), lr=config.learning_rate)
    x, _ = twin.encoder.encode(roll.observations)
    next_x, _ = twin.encoder.encode(roll.next_observations)
    dist = twin.distribution(x)
    entropy = twin.entropy(dist)
    with torch.no_grad():
        soft_r = torch.as_tensor(roll.env_rewards, dtype=torch.float32) + config.temperature * entropy
        ends = torch.as_tensor(roll.terminated | roll.truncated)
        ends[-1] = True
        values = twin.value(x)
        adv = gae_advantages(soft_r, values, twin.value(next_x), torch.as_tensor(roll.terminated), ends,
                             config.gamma, config.gae_lambda)
    loss = (-(twin.dist_log_prob(dist, torch.as_tensor(roll.actions)) * adv).mean()
            - config.temperature * entropy.mean()
            + config.value_coef * (twin.value(x) - (adv + values)).pow(2).mean())
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(twin.parameters(), config.max_grad_norm)
    optimizer.step()
    before = [p.detach().clone() for p in agent.policy.parameters()]
    agent.update()
    for ours, by_hand in zip(agent.policy.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(ours, by_hand, rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(p, b) for p, b in zip(agent.policy.parameters(), before))  # it did move
