"""Second-order MaxEnt: the exact Hessian-vector product and the trust-region Newton fit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from test_maxent import _block_gridworld, _random_demos, _random_mdp

import irl.inverse.maxent as maxent_module
from irl.envs import TabularMDP, gridworld_mdp
from irl.envs.demo_counts import demo_counts
from irl.inverse import maxent
from irl.inverse.maxent_newton import (
    PASSES,
    SecantMetric,
    finite_visitation_tangent,
    steihaug_cg,
    visitation_tangent,
)
from irl.inverse.maxent_objective import maxent_objective
from irl.runs.generate import generate_tabular_demos
from irl.solvers import reward_table, state_visitation

FOOTINGS = {"finite": {"horizon": 6}, "discounted": {"discount": 0.8},
            "finite-discounted": {"horizon": 5, "discount": 0.9}}


def _tangent(mdp, counts, r, u, tol=None):
    """``dD`` along ``u`` at ``r`` on the env's rows (the Hessian of −L times u)."""
    ev = maxent_objective(mdp, counts, r, tol=tol)
    states = state_visitation(mdp, ev.solution.policy, initial=counts.likelihood_mass, tol=tol)
    return visitation_tangent(mdp, ev.solution.policy, states, reward_table(mdp, u), tol=tol)[: mdp.n_env_states]


@pytest.mark.parametrize("footing", sorted(FOOTINGS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hvp_equals_finite_difference_of_the_gradient(footing, seed):
    rng = np.random.default_rng(seed)
    mdp, P = _random_mdp(rng, **FOOTINGS[footing])
    demos = _random_demos(rng, P, {4}, n_episodes=7, max_len=5, start_states=[0, 1, 2, 3])
    counts = demo_counts(mdp, demos)
    r = torch.as_tensor(rng.standard_normal((mdp.n_env_states, mdp.n_actions)))
    u = torch.as_tensor(rng.standard_normal((mdp.n_env_states, mdp.n_actions)))
    eps = 1e-5
    grad = lambda x: maxent_objective(mdp, counts, x, tol=1e-15).grad  # noqa: E731
    fd = (grad(r + eps * u) - grad(r - eps * u)) / (2 * eps)
    hvp = -_tangent(mdp, counts, r, u, tol=1e-15)
    assert fd.abs().max() > 1e-2  # a product that means something
    torch.testing.assert_close(hvp, fd, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("footing", ["finite", "finite-discounted"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_product_from_the_kept_tables_equals_the_general_one(footing, seed):
    """The finite-horizon product Newton takes from the gradient's kept π and d_t equals the general
    one (policy evaluation + visitation), and the finite difference of the gradient."""
    rng = np.random.default_rng(seed)
    mdp, P = _random_mdp(rng, **FOOTINGS[footing])
    counts = demo_counts(mdp, _random_demos(rng, P, {4}, n_episodes=7, max_len=5, start_states=[0, 1, 2, 3]))
    r = torch.as_tensor(rng.standard_normal((mdp.n_env_states, mdp.n_actions)))
    u = reward_table(mdp, torch.as_tensor(rng.standard_normal((mdp.n_env_states, mdp.n_actions))))
    sol = maxent_objective(mdp, counts, r).solution
    assert sol.kept_policy is not None and sol.states is not None
    torch.testing.assert_close(sol.states, state_visitation(mdp, sol.policy, initial=counts.likelihood_mass),
                               rtol=1e-13, atol=1e-13)
    Pa, PTa = mdp.transition_operators(action_major=True)
    fast = finite_visitation_tangent(Pa, PTa, sol.kept_policy, sol.states, u.T.contiguous(), mdp.gamma).T
    torch.testing.assert_close(fast, visitation_tangent(mdp, sol.policy, sol.states, u), rtol=1e-12, atol=1e-12)
    eps = 1e-5
    grad = lambda x: maxent_objective(mdp, counts, x).grad  # noqa: E731
    fd = (grad(r + eps * u[: mdp.n_env_states]) - grad(r - eps * u[: mdp.n_env_states])) / (2 * eps)
    torch.testing.assert_close(-fast[: mdp.n_env_states], fd, atol=1e-8, rtol=1e-6)
    with pytest.raises(ValueError, match="expected direction"):
        finite_visitation_tangent(Pa, PTa, sol.kept_policy, sol.states, u, mdp.gamma)


def _dense_objective(P, initial_mass, gamma, weights_sa, reward):
    """The MaxEnt objective with dense ``P`` ``(S, A, S)`` and plain autograd ops: a reference
    (finite horizon T = ``initial_mass.shape[0]``, absorbing state last, its value 0)."""
    T, S = initial_mass.shape
    r = torch.cat([reward, reward.new_zeros(1, reward.shape[1])])
    v_next, vs = r.new_zeros(S), []
    for _ in range(T):
        v = torch.logsumexp(r + gamma * P @ v_next, dim=-1)
        v = torch.cat([v[:-1], v.new_zeros(1)])  # the absorbing state is worth 0
        vs.insert(0, v)
        v_next = v
    discount = gamma ** torch.arange(T, dtype=r.dtype)
    return (weights_sa * r).sum() - (discount[:, None] * initial_mass * torch.stack(vs)).sum()


@pytest.mark.parametrize("seed", [0, 1])
def test_hvp_equals_the_dense_autograd_hessian(seed):
    rng = np.random.default_rng(seed)
    mdp, P = _random_mdp(rng, horizon=4, discount=0.95)
    demos = _random_demos(rng, P, {4}, n_episodes=6, max_len=4, start_states=[0, 1, 2])
    counts = demo_counts(mdp, demos)
    r = torch.as_tensor(rng.standard_normal((mdp.n_env_states, mdp.n_actions)))
    data = torch.zeros(mdp.n_states, mdp.n_actions, dtype=torch.float64)
    data.index_put_((counts.states, counts.actions), counts.weights, accumulate=True)
    value = lambda x: _dense_objective(  # noqa: E731
        mdp.dense_transitions(), counts.likelihood_mass, mdp.gamma, data, x)
    torch.testing.assert_close(value(r), maxent_objective(mdp, counts, r).value)  # the same objective
    H = torch.autograd.functional.hessian(value, r).reshape(r.numel(), r.numel())
    for i in range(r.numel()):
        u = torch.zeros(r.numel(), dtype=torch.float64)
        u[i] = 1.0
        torch.testing.assert_close(-_tangent(mdp, counts, r, u.view_as(r)).reshape(-1), H @ u, atol=1e-10, rtol=1e-8)
    assert H.abs().max() > 1e-2


def test_hvp_is_the_covariance_of_trajectory_counts_by_enumeration():
    """Deterministic dynamics, mass at the start only: −Hessian = E_{s_0}[Cov(state-action counts | s_0)]
    under the model's trajectory distribution (``V_0(s_0)`` normalises each start), enumerated over
    every start and action sequence."""
    rng = np.random.default_rng(3)
    S, A, T = 4, 2, 3
    P = np.zeros((S, A, S))
    P[np.arange(S)[:, None], np.arange(A)[None, :], rng.integers(0, S, size=(S, A))] = 1.0
    initial = np.array([0.5, 0.3, 0.2, 0.0])
    mdp = TabularMDP.from_arrays(transitions=P, initial=initial, horizon=T)
    counts = demo_counts(mdp, _random_demos(rng, P, set(), n_episodes=5, max_len=T, start_states=[0, 1, 2]))
    starts = torch.zeros(T, S, dtype=torch.float64)
    starts[0] = torch.as_tensor(initial)
    # the objective's Hessian does not depend on the demos' counts, only on the mass the model starts from
    counts = type(counts)(counts.states, counts.actions, counts.timesteps, counts.weights, counts.counts, starts,
                          starts, counts.n_episodes)
    r = torch.as_tensor(rng.standard_normal((S, A)))
    policy = maxent_objective(mdp, counts, r).solution.policy
    cov = torch.zeros(S * A, S * A, dtype=torch.float64)
    for s0 in range(S):
        mean, second = torch.zeros(S * A, dtype=torch.float64), torch.zeros(S * A, S * A, dtype=torch.float64)
        for actions in itertools.product(range(A), repeat=T):
            p, s, n = 1.0, s0, torch.zeros(S * A, dtype=torch.float64)
            for t, a in enumerate(actions):
                p *= float(policy[t, s, a])
                n[s * A + a] += 1.0
                s = int(np.argmax(P[s, a]))
            mean += p * n
            second += p * torch.outer(n, n)
        cov += initial[s0] * (second - torch.outer(mean, mean))
    assert cov.abs().max() > 1e-2
    for i in range(S * A):
        u = torch.zeros(S * A, dtype=torch.float64)
        u[i] = 1.0
        torch.testing.assert_close(_tangent(mdp, counts, r, u.view(S, A)).reshape(-1), cov @ u, atol=1e-12, rtol=1e-10)


def test_steihaug_cg_and_the_secant_metric_on_a_quadratic():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((6, 6))
    H, g = M @ M.T + 0.1 * np.eye(6), rng.standard_normal(6)
    newton = -np.linalg.solve(H, g)
    exact = lambda r: np.linalg.norm(r) < 1e-12  # noqa: E731  (solve to round-off)
    p, Hp, on_boundary, pairs = steihaug_cg(g, lambda v: H @ v, SecantMetric(6), 1e6, exact)
    np.testing.assert_allclose(p, newton, rtol=1e-8)
    np.testing.assert_allclose(Hp, H @ p, rtol=1e-8)
    assert not on_boundary and len(pairs) == 6
    assert all(abs(a @ H @ b) < 1e-8 for (a, _), (b, _) in itertools.combinations(pairs, 2))  # H-conjugate
    metric = SecantMetric(6, pairs)  # conjugate directions spanning the space: B = H
    np.testing.assert_allclose(metric.B, H, rtol=1e-6, atol=1e-6)
    p, _, _, pairs = steihaug_cg(g, lambda v: H @ v, metric, 1e6, exact)  # preconditioned by H itself: one step
    np.testing.assert_allclose(p, newton, rtol=1e-8)
    assert len(pairs) == 1
    radius = 0.1 * np.sqrt(newton @ H @ newton)
    p, _, on_boundary, _ = steihaug_cg(g, lambda v: H @ v, metric, radius, exact)
    assert on_boundary and np.sqrt(p @ H @ p) == pytest.approx(radius) and g @ p < 0
    indefinite = H - 2 * np.linalg.eigvalsh(H)[-1] * np.eye(6)  # negative curvature: go to the boundary
    p, _, on_boundary, _ = steihaug_cg(g, lambda v: indefinite @ v, SecantMetric(6), 2.0, exact)
    assert on_boundary and np.linalg.norm(p) == pytest.approx(2.0)


def _fit_both(mdp, demos, **kw):
    return {opt: maxent.fit(mdp, demos, optimizer=opt, **kw) for opt in ("lbfgs", "newton")}


@pytest.mark.parametrize("reward", ["linear", "tabular-state"])
def test_newton_reaches_the_lbfgs_optimum(reward):
    kw = _block_gridworld(size=8, block_size=2)
    mdp = gridworld_mdp(**kw)
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=30, seed=1)
    fits = _fit_both(mdp, demos, reward=reward, grad_tol=1e-6)
    lbfgs, newton = fits["lbfgs"], fits["newton"]
    assert lbfgs.converged and newton.converged and newton.stop_reason == "grad_tol"
    assert newton.log[-1]["objective"] == pytest.approx(lbfgs.log[-1]["objective"], abs=1e-6)
    # Each within 2e-4 of the optimum (Newton to a gradient of 1e-9; L-BFGS stalls at round-off near
    # 3e-8): a gradient of 1e-6 along the weakest curvature (l2 = 1e-3) leaves about that much.
    optimum = maxent.fit(mdp, demos, reward=reward, optimizer="newton", grad_tol=1e-9)
    assert optimum.converged
    for fit in (lbfgs, newton):
        np.testing.assert_allclose(fit.reward_table, optimum.reward_table, atol=2e-4)
    assert newton.evaluations["hvp"] > 0
    if reward == "tabular-state":  # 64 weights: Newton's products pay off (16 block weights: about even)
        assert newton.passes < lbfgs.passes


def test_newton_on_a_discounted_mdp_with_terminations():
    rng = np.random.default_rng(5)
    mdp, P = _random_mdp(rng, S=6, discount=0.9, terminal=(5,))
    demos = _random_demos(rng, P, {5}, n_episodes=20, max_len=8, start_states=[0, 1, 2])
    fits = _fit_both(mdp, demos, reward="tabular", grad_tol=1e-6)
    assert all(f.converged for f in fits.values())
    np.testing.assert_allclose(fits["newton"].reward_table, fits["lbfgs"].reward_table, atol=1e-4)
    assert fits["newton"].passes < fits["lbfgs"].passes


def test_the_constant_reward_direction_of_each_model():
    from irl.rewards import LinearReward, make_reward

    mdp = gridworld_mdp(**_block_gridworld(size=8, block_size=2))
    blocks = make_reward("linear", mdp, dtype=torch.float64)  # 16 block indicators: they partition the states
    theta = maxent_module._constant_direction(blocks)
    np.testing.assert_allclose(blocks.features.numpy() @ theta, 1.0, atol=1e-12)
    tabular = make_reward("tabular-state", mdp, dtype=torch.float64)
    np.testing.assert_array_equal(maxent_module._constant_direction(tabular), np.ones(mdp.n_env_states))
    rng = np.random.default_rng(0)  # 3 random features of 64 states: no constant in their span
    features = torch.as_tensor(rng.standard_normal((mdp.n_env_states, 3)))
    assert maxent_module._constant_direction(LinearReward(features, mdp.n_actions)) is None


def _newton_spy(monkeypatch) -> dict:
    """Record the ``flat`` and ``scale`` the fit hands to Newton, and every secant metric's base."""
    import irl.inverse.maxent_newton as newton_module

    seen: dict = {"bases": []}
    real_tr, real_metric = maxent_module.trust_region_newton, newton_module.SecantMetric

    def tr(*a, **k):
        seen.update(flat=k["flat"], scale=k["scale"], l2=k["l2"])
        return real_tr(*a, **k)

    class Metric(real_metric):
        def __init__(self, n, pairs=(), base=None):
            seen["bases"].append(base)
            super().__init__(n, pairs, base)

    monkeypatch.setattr(maxent_module, "trust_region_newton", tr)
    monkeypatch.setattr(newton_module, "SecantMetric", Metric)
    return seen


def test_newton_preconditions_exactly_along_the_flat_constant_direction(monkeypatch):
    """Full-length episodes: a constant reward leaves π unchanged, so the Hessian in θ has the exact
    eigenpair (l2, θ₀); the metric's base keeps it, and the fit still lands on L-BFGS's optimum."""
    kw = _block_gridworld(size=8, block_size=2)
    mdp = gridworld_mdp(**kw)
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=30, seed=1)
    counts = demo_counts(mdp, demos)
    r = torch.as_tensor(np.random.default_rng(0).standard_normal((mdp.n_env_states, mdp.n_actions)))
    dD = _tangent(mdp, counts, r, torch.ones_like(r))
    assert dD.abs().max() < 1e-12 and _tangent(mdp, counts, r, r).abs().max() > 1e-2  # flat along 1, not along r
    seen = _newton_spy(monkeypatch)
    newton = maxent.fit(mdp, demos, reward="linear", optimizer="newton", grad_tol=1e-6)
    lbfgs = maxent.fit(mdp, demos, reward="linear", optimizer="lbfgs", grad_tol=1e-6)
    assert newton.converged and seen["bases"] and all(b is not None for b in seen["bases"])
    v0, scale, l2 = seen["flat"] / np.linalg.norm(seen["flat"]), seen["scale"], seen["l2"]
    base_theta = seen["bases"][0] * np.outer(scale, scale)  # the base in θ
    np.testing.assert_allclose(base_theta @ v0, l2 * v0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(base_theta)[0], l2, rtol=1e-9)
    np.testing.assert_allclose(newton.reward_table, lbfgs.reward_table, atol=2e-4)


def test_newton_keeps_the_diagonal_base_where_the_constant_reward_matters(monkeypatch):
    """Episodes that end in a terminal state: a constant reward changes π (it pays for living), the
    one-product check sees it, and the metric keeps the plain diagonal base."""
    rng = np.random.default_rng(5)
    mdp, P = _random_mdp(rng, S=6, discount=0.9, terminal=(5,))
    demos = _random_demos(rng, P, {5}, n_episodes=20, max_len=8, start_states=[0, 1, 2])
    seen = _newton_spy(monkeypatch)
    result = maxent.fit(mdp, demos, reward="tabular", optimizer="newton", grad_tol=1e-6)
    assert seen["flat"] is not None and result.converged
    assert seen["bases"] and all(b is None for b in seen["bases"])


def test_every_pass_is_counted(monkeypatch):
    """``evaluations`` counts the real calls: objective (soft VI + visitation), state sweeps and products."""
    calls = {"objective": 0, "hvp": 0, "states": 0}

    def counting(name, fn, module):
        def wrapped(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        monkeypatch.setattr(module, fn.__name__, wrapped)

    import irl.inverse.maxent_newton as newton_module
    counting("objective", maxent_module.maxent_objective, maxent_module)
    counting("hvp", newton_module.visitation_tangent, newton_module)
    counting("hvp", newton_module.finite_visitation_tangent, newton_module)
    counting("states", newton_module.state_visitation, newton_module)
    kw = _block_gridworld(size=6, block_size=2)
    result = maxent.fit(gridworld_mdp(**kw), generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=10,
                                                                     seed=0), reward="linear")
    assert result.evaluations == {**calls, "policy": 1}
    assert result.passes == pytest.approx(sum(PASSES[k] * n for k, n in result.evaluations.items()))
    assert result.log[-1]["passes"] <= result.passes and calls["hvp"] > 0


def test_optimizer_setting_is_checked_and_listed_in_the_help():
    from irl.cli.help_text import algorithm_settings_help

    with pytest.raises(ValueError, match="optimizer must be one of newton, lbfgs"):
        maxent.MaxEntConfig(optimizer="bfgs")
    text = " ".join(algorithm_settings_help().split())  # unwrapped
    assert 'optimizer = "newton" Linear and tabular rewards: "newton"' in text and '"lbfgs" (L-BFGS)' in text
