"""Forward messages: totals, injected mass, and agreement with rollouts of the real gymnasium env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from irl.envs import TabularMDP, gridworld_mdp
from irl.solvers import feature_expectations, soft_value_iteration, state_visitation, visitation


@pytest.mark.parametrize("horizon, discount, total", [(7, None, 7.0), (7, 0.9, (1 - 0.9**7) / 0.1),
                                                       (None, 0.9, 10.0), (None, 0.5, 2.0)])
def test_totals(horizon, discount, total):
    mdp = gridworld_mdp(4, slip=0.2, reward="random", features=None).replace(horizon=horizon, discount=discount)
    pi = soft_value_iteration(mdp, mdp.reward).policy
    D = visitation(mdp, pi)
    assert D.shape == (16, 5) and (D >= 0).all()
    assert float(D.sum()) == pytest.approx(total, rel=1e-9)


def test_totals_with_terminations_keep_the_absorbing_mass():
    mdp = TabularMDP.from_env("CliffWalking-v1", horizon=50)
    pi = soft_value_iteration(mdp, mdp.reward, temperature=0.5).policy
    D = visitation(mdp, pi)
    assert float(D.sum()) == pytest.approx(50.0, rel=1e-12)
    assert float(D[mdp.absorbing].sum()) > 10.0  # the walker reaches the goal and stays absorbed


def test_per_step_state_visitation_sums_to_one_each_step():
    mdp = gridworld_mdp(3, slip=0.3, reward="random", features=None)
    pi = soft_value_iteration(mdp, mdp.reward).policy
    d = state_visitation(mdp, pi)
    assert d.shape == (mdp.horizon, 9)
    torch.testing.assert_close(d.sum(1), torch.ones(mdp.horizon, dtype=d.dtype))
    torch.testing.assert_close(d.sum(0), visitation(mdp, pi).sum(1))


def test_injected_mass_is_linear():
    """(T, S) injections: visitation is linear in the injected mass, so a start at t=0 minus
    the same walker's mass removed at t=k leaves exactly the first k steps."""
    mdp = gridworld_mdp(3, slip=0.0, reward="random", features=None, initial="uniform")
    T = mdp.horizon
    pi = soft_value_iteration(mdp, mdp.reward).policy
    inj = torch.zeros(T, 9, dtype=torch.float64)
    inj[0, 4] = 1.0
    full = visitation(mdp, pi, initial=inj)
    d = state_visitation(mdp, pi, initial=inj)
    k = 3
    cut = inj.clone()
    cut[k] -= d[k]  # remove the walker's whole mass at step k
    partial = visitation(mdp, pi, initial=cut)
    assert float(partial.sum()) == pytest.approx(k, abs=1e-12)
    assert float(full.sum()) == pytest.approx(T, abs=1e-12)
    assert (partial >= -1e-12).all()


def test_matches_monte_carlo_rollouts_of_the_gymnasium_env():
    kw = {"size": 4, "slip": 0.3, "reward": "random", "features": None, "horizon": 6}
    mdp = gridworld_mdp(**kw)
    sol = soft_value_iteration(mdp, mdp.reward, temperature=0.7)
    D = visitation(mdp, sol.policy).numpy()
    policy = sol.policy.numpy()
    env = gym.make("irl/Gridworld-v0", **kw)
    rng = np.random.default_rng(0)
    n = 4000
    counts = np.zeros_like(D)
    s, _ = env.reset(seed=0)
    for _ in range(n):
        s, _ = env.reset()
        for t in range(kw["horizon"]):
            a = rng.choice(5, p=policy[t, s])
            counts[s, a] += 1
            s, _, terminated, truncated, _ = env.step(a)
            assert not terminated
    estimate = counts / n
    # per-entry sampling error: the count of (s, a) per episode is bounded by the horizon
    per_episode_var = np.maximum(D * kw["horizon"] - D**2, 1e-6)
    z = np.abs(estimate - D) / np.sqrt(per_episode_var / n)
    assert z.max() < 5.0, z.max()
    assert estimate.sum() == pytest.approx(kw["horizon"])


def test_feature_expectations_state_and_state_action_features_agree():
    rng = np.random.default_rng(0)
    phi = torch.as_tensor(rng.random((6, 3)))
    D = torch.as_tensor(rng.random((6, 4)))
    expected = np.einsum("sa,sf->f", D.numpy(), phi.numpy())
    np.testing.assert_allclose(feature_expectations(phi, D).numpy(), expected, rtol=1e-12)
    phi_sa = phi[:, None, :].expand(6, 4, 3)
    np.testing.assert_allclose(feature_expectations(phi_sa, D).numpy(), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="visitation"):
        feature_expectations(phi, D[:5])
