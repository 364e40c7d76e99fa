"""Exact MaxEnt IRL: the objective's gradient, moment matching, reward recovery, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import random_transitions

from irl.data import Demos
from irl.envs import TabularMDP, gridworld_mdp
from irl.envs.demo_counts import demo_counts
from irl.inverse import maxent
from irl.inverse.maxent_objective import literal_log_likelihood, maxent_objective
from irl.metrics import recovery_report
from irl.runs.generate import generate_tabular_demos


def _random_mdp(rng, S=5, A=3, *, horizon=None, discount=None, deterministic=False, terminal=(4,)):
    P = random_transitions(rng, S, A, deterministic=deterministic)
    initial = np.zeros(S)
    initial[: S - 1] = rng.random(S - 1)
    initial /= initial.sum()
    mdp = TabularMDP.from_arrays(
        transitions=P, initial=initial, features=rng.standard_normal((S, 2)), horizon=horizon,
        discount=discount, terminal_states=np.isin(np.arange(S), terminal),
    )
    return mdp, P


def _random_demos(rng, P, terminal, n_episodes, max_len, start_states):
    """Random-action episodes of random length; an episode entering a terminal state terminates."""
    A = P.shape[1]
    episodes = []
    for _ in range(n_episodes):
        s = int(rng.choice(start_states))
        L = int(rng.integers(1, max_len + 1))
        obs, act, nxt = [], [], []
        terminated = False
        for _ in range(L):
            a = int(rng.integers(A))
            s2 = int(rng.choice(len(P), p=P[s, a]))
            obs.append(s), act.append(a), nxt.append(s2)
            s = s2
            if s in terminal:
                terminated = True
                break
        episodes.append({
            "observations": np.array(obs), "actions": np.array(act), "next_observations": np.array(nxt),
            "terminated": terminated, "truncated": not terminated,
        })
    return Demos.from_episodes(episodes, metadata={"env": None}, check_env=False)


@pytest.mark.parametrize("footing", ["finite", "discounted"])
def test_gradient_equals_central_finite_differences(footing):
    rng = np.random.default_rng(0)
    kw = {"horizon": 6} if footing == "finite" else {"discount": 0.8}
    mdp, P = _random_mdp(rng, **kw)
    demos = _random_demos(rng, P, {4}, n_episodes=7, max_len=6, start_states=[0, 1, 2, 3])
    assert demos.terminals.any() and demos.timeouts.any(), "the demos must mix terminations and truncations"
    counts = demo_counts(mdp, demos)
    r = torch.as_tensor(rng.standard_normal((mdp.n_env_states, mdp.n_actions)))
    grad = maxent_objective(mdp, counts, r, tol=1e-15).grad
    eps = 1e-6
    fd = torch.zeros_like(r)
    for s in range(r.shape[0]):
        for a in range(r.shape[1]):
            up, down = r.clone(), r.clone()
            up[s, a] += eps
            down[s, a] -= eps
            value = lambda x: maxent_objective(mdp, counts, x, tol=1e-15).value  # noqa: E731
            fd[s, a] = (value(up) - value(down)) / (2 * eps)
    torch.testing.assert_close(grad, fd, atol=1e-7, rtol=1e-6)
    assert grad.abs().max() > 1e-3  # a non-trivial point


def test_objective_is_the_demo_log_likelihood_for_deterministic_dynamics():
    """With deterministic dynamics and γ = 1, L(r) is exactly Σ log π_t(a_t|s_t) per episode,
    truncated and terminated episodes included — this pins the footing of counts and start mass."""
    rng = np.random.default_rng(1)
    mdp, P = _random_mdp(rng, horizon=5, deterministic=True, terminal=(3,))
    demos = _random_demos(rng, P, {3}, n_episodes=9, max_len=5, start_states=[0, 1, 2])
    counts = demo_counts(mdp, demos)
    r = torch.as_tensor(rng.standard_normal((mdp.n_env_states, mdp.n_actions)))
    ev = maxent_objective(mdp, counts, r)
    literal = literal_log_likelihood(ev.solution, counts)
    torch.testing.assert_close(ev.value, literal, atol=1e-10, rtol=1e-10)
    # and by hand, from the policy table itself
    logp = ev.solution.log_policy
    by_hand = sum(
        float(logp[t, s, a]) for s, a, t in zip(demos.observations, demos.actions, demos.timestep)
    ) / demos.n_episodes
    assert float(ev.value) == pytest.approx(by_hand, abs=1e-10)


def _block_gridworld(**extra):
    kw = dict(size=8, reward="random", features="blocks", block_size=4, reward_seed=0, slip=0.1)
    kw.update(extra)
    return kw


@pytest.mark.parametrize("horizon", [16, None])
def test_linear_fit_matches_moments(horizon):
    kw = _block_gridworld(horizon=horizon) if horizon else _block_gridworld()
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=30, seed=3)
    mdp = gridworld_mdp(**kw)
    if horizon is None:
        mdp = mdp.replace(horizon=None, discount=0.9)
    result = maxent.fit(mdp, demos, reward="linear", l2=0.0, grad_tol=1e-6)
    assert result.converged
    # moment matching: expected feature counts equal the demos' (the gradient in feature space)
    assert result.log[-1]["feature_gap"] < 1e-5
    counts = demo_counts(mdp, demos)
    assert torch.linalg.norm(mdp.features.T @ counts.counts.sum(1)) > 1.0  # so a gap of 1e-5 means something


def test_gridworld_recovery_with_100_and_10_demos():
    kw = _block_gridworld()
    mdp = gridworld_mdp(**kw)
    random_epic = recovery_report(mdp, mdp.reward, np.random.default_rng(1).standard_normal((64, 5)))["epic"]
    assert random_epic > 0.5

    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=100, seed=0)
    result = maxent.fit(mdp, demos, reward="linear")
    report = recovery_report(mdp, mdp.reward, result.reward_table)
    assert result.converged
    assert report["epic"] < 0.1
    assert report["regret_hard"] < 0.05

    few = maxent.fit(mdp, demos.take(10), reward="linear")
    few_report = recovery_report(mdp, mdp.reward, few.reward_table)
    assert few_report["epic"] < 0.5 * random_epic


def test_result_fields_and_log():
    kw = _block_gridworld(size=4, block_size=2)
    mdp = gridworld_mdp(**kw)
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=20, seed=0)
    result = maxent.fit(mdp, demos, reward="tabular", max_iters=5)
    assert result.reward_table.shape == (16, 5) and isinstance(result.reward_table, np.ndarray)
    assert result.policy.shape == (mdp.horizon, 16, 5)
    assert 1 <= len(result.log) <= 6 and result.iterations <= 5
    assert set(result.log[0]) >= {"iteration", "log_likelihood", "grad_norm", "feature_gap", "objective"}
    # the log-likelihood rises from the zero reward (uniform policy)
    assert result.log[-1]["log_likelihood"] > result.log[0]["log_likelihood"]
    torch.testing.assert_close(result.reward_model.table(mdp), torch.as_tensor(result.reward_table))


def test_absorbing_state_from_terminations():
    """CliffWalking terminates at the goal: the absorbing state is not a parameter, yet at the optimum the
    model spends as much time in it as the terminated demos do, and the learned reward leads to the goal."""
    demos = generate_tabular_demos("CliffWalking-v1", episodes=40, seed=0, max_steps=30, temperature=0.3)
    assert demos.terminals.sum() > 20  # most episodes reach the goal and terminate
    mdp = TabularMDP.from_env("CliffWalking-v1", horizon=30)
    assert mdp.absorbing is not None
    result = maxent.fit(mdp, demos, reward="tabular")
    assert result.converged and result.reward_table.shape == (48, 4)  # no row for the absorbing state
    counts = demo_counts(mdp, demos)
    ev = maxent_objective(mdp, counts, torch.as_tensor(result.reward_table))
    absorbing_demo = float(counts.counts[mdp.absorbing].sum())
    absorbing_model = float(ev.visitation[mdp.absorbing].sum())
    assert absorbing_demo > 1.0  # the terminated episodes' remaining steps, padded there
    assert absorbing_model == pytest.approx(absorbing_demo, rel=0.05)
    assert recovery_report(mdp, mdp.env_states(mdp.reward), result.reward_table)["regret_hard"] < 0.05


def test_mlp_fit_is_deterministic_for_a_seed():
    kw = _block_gridworld(size=4, block_size=2)
    mdp = gridworld_mdp(**kw)
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=10, seed=0)
    a = maxent.fit(mdp, demos, reward="mlp", seed=5, max_iters=15, hidden=(8,))
    b = maxent.fit(mdp, demos, reward="mlp", seed=5, max_iters=15, hidden=(8,))
    c = maxent.fit(mdp, demos, reward="mlp", seed=6, max_iters=15, hidden=(8,))
    np.testing.assert_array_equal(a.reward_table, b.reward_table)
    assert not np.array_equal(a.reward_table, c.reward_table)
    assert a.log[-1]["log_likelihood"] > a.log[0]["log_likelihood"]


def test_bad_reward_kind():
    mdp = gridworld_mdp(3)
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs={"size": 3}, episodes=2, seed=0)
    with pytest.raises(ValueError, match="reward must be one of"):
        maxent.fit(mdp, demos, reward="cubic")


@pytest.mark.slow
def test_deep_maxent_beats_linear_on_objectworld():
    """The shipped 32x32 objectworld (discrete features, nonlinear true reward), 64 demos,
    each algorithm with the defaults `irl fit` uses."""
    from pathlib import Path

    from irl.data import load_demos
    from irl.envs import mdp_for_demos
    from irl.inverse.registry import get_algorithm

    demos = load_demos(Path(__file__).resolve().parent.parent / "demos" / "objectworld32.npz")
    assert demos.n_episodes == 64
    mdp = mdp_for_demos(demos)
    reports = {}
    for name in ("maxent", "deep-maxent"):
        algorithm = get_algorithm(name)
        config = algorithm.make_config(**({"reward": "linear"} if name == "maxent" else {}))
        result = algorithm.fit_function()(mdp, demos, config=config)
        reports[name] = recovery_report(mdp, mdp.reward, result.reward_table)
    assert reports["deep-maxent"]["epic"] < reports["maxent"]["epic"] - 0.1
    assert reports["deep-maxent"]["regret_hard"] < reports["maxent"]["regret_hard"]
