"""Soft/hard value iteration, policy evaluation and visitation against hand-worked
numbers and an independent dense float64 reference written here."""

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from irl.envs.tabular import TabularMDP
from irl.solvers import (
    expected_return,
    hard_value_iteration,
    policy_evaluation,
    soft_value_iteration,
    state_visitation,
    visitation,
)

E = math.e
LOG2 = math.log(2.0)


def two_state(horizon=None, discount=None):
    """States 0, 1; action 0 stays, action 1 switches; deterministic. r(s) = s."""
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[1, 0, 1] = 1.0
    P[0, 1, 1] = P[1, 1, 0] = 1.0
    return TabularMDP.from_arrays(P, [1.0, 0.0], reward=[0.0, 1.0], horizon=horizon, discount=discount)


def random_mdp(rng, S=6, A=3, horizon=None, discount=None, sparsity=0.5):
    P = rng.random((S, A, S)) * (rng.random((S, A, S)) < sparsity)
    P[:, :, 0] += 1e-3  # every row has mass
    P /= P.sum(-1, keepdims=True)
    init = rng.random(S)
    init /= init.sum()
    return TabularMDP.from_arrays(P, init, horizon=horizon, discount=discount), P, init


# --------------------------------------------------------------- hand-worked
def test_soft_vi_two_state_finite_horizon_by_hand():
    res = soft_value_iteration(two_state(horizon=2), torch.tensor([0.0, 1.0], dtype=torch.float64))
    # Last step: Q_1(s, .) = r(s), V_1(s) = r(s) + log 2.
    np.testing.assert_allclose(res.v[1].numpy(), [LOG2, 1 + LOG2], rtol=1e-12)
    # First step: Q_0(0, stay) = log 2, Q_0(0, switch) = 1 + log 2, V_0(0) = log 2 + log(1 + e).
    np.testing.assert_allclose(res.q[0, 0].numpy(), [LOG2, 1 + LOG2], rtol=1e-12)
    np.testing.assert_allclose(res.q[0, 1].numpy(), [2 + LOG2, 1 + LOG2], rtol=1e-12)
    np.testing.assert_allclose(res.v[0].numpy(), [LOG2 + math.log(1 + E), 1 + LOG2 + math.log(1 + E)], rtol=1e-12)
    np.testing.assert_allclose(res.policy[0, 0].numpy(), [1 / (1 + E), E / (1 + E)], rtol=1e-12)
    np.testing.assert_allclose(res.policy[1].numpy(), 0.5, rtol=1e-12)


def test_visitation_two_state_by_hand():
    mdp = two_state(horizon=2)
    res = soft_value_iteration(mdp, torch.tensor([0.0, 1.0], dtype=torch.float64))
    D = visitation(mdp, res.policy).numpy()
    a = 1 / (1 + E)
    b = E / (1 + E)
    expected = np.array([[a + a / 2, b + a / 2], [b / 2, b / 2]])
    np.testing.assert_allclose(D, expected, rtol=1e-12)
    per_step = state_visitation(mdp, res.policy).numpy()
    np.testing.assert_allclose(per_step, [[1, 0], [a, b]], rtol=1e-12)


def test_soft_vi_two_state_discounted_closed_form():
    # V(1) = 1 + V(0) and V(0) = 0.5 V(0) + log(1 + e^0.5), so V(0) = 2 log(1 + e^0.5).
    res = soft_value_iteration(two_state(discount=0.5), np.array([0.0, 1.0]))
    v0 = 2 * math.log(1 + math.exp(0.5))
    assert res.converged
    np.testing.assert_allclose(res.v.numpy(), [v0, 1 + v0], rtol=1e-9)


def test_temperature_scales_like_reward():
    # α-soft VI of r equals α times 1-soft VI of r/α.
    rng = np.random.default_rng(0)
    mdp, _, _ = random_mdp(rng, horizon=5)
    r = torch.tensor(rng.normal(size=(6, 3)))
    a = soft_value_iteration(mdp, r, temperature=0.25)
    b = soft_value_iteration(mdp, r / 0.25, temperature=1.0)
    torch.testing.assert_close(a.v, 0.25 * b.v)
    torch.testing.assert_close(a.policy, b.policy)


# ------------------------------------------------------- dense float64 reference
def dense_soft_vi_finite(P, r, T, alpha, gamma=1.0):
    S, A, _ = P.shape
    V = np.zeros(S)
    Qs, Vs = np.zeros((T, S, A)), np.zeros((T, S))
    for t in reversed(range(T)):
        Q = r + gamma * np.einsum("sat,t->sa", P, V)
        V = alpha * logsumexp(Q / alpha, axis=1)
        Qs[t], Vs[t] = Q, V
    return Qs, Vs


def dense_soft_vi_discounted(P, r, alpha, gamma, iters=5000):
    V = np.zeros(P.shape[0])
    for _ in range(iters):
        Q = r + gamma * np.einsum("sat,t->sa", P, V)
        V = alpha * logsumexp(Q / alpha, axis=1)
    return Q, V


def dense_visitation_finite(P, init, pis, gamma=1.0):
    d, D = init.copy(), np.zeros(pis.shape[1:])
    for t in range(pis.shape[0]):
        x = d[:, None] * pis[t]
        D += gamma**t * x
        d = np.einsum("sa,sat->t", x, P)
    return D


@pytest.mark.parametrize("alpha", [0.5, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_soft_vi_finite_matches_dense_reference(alpha, seed):
    rng = np.random.default_rng(seed)
    mdp, P, init = random_mdp(rng, horizon=7)
    r = rng.normal(size=(6, 3))
    res = soft_value_iteration(mdp, r, temperature=alpha)
    Q, V = dense_soft_vi_finite(P, r, 7, alpha)
    np.testing.assert_allclose(res.q.numpy(), Q, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(res.v.numpy(), V, rtol=1e-10, atol=1e-10)
    pis = np.exp((Q - V[..., None]) / alpha)
    np.testing.assert_allclose(res.policy.numpy(), pis, rtol=1e-10, atol=1e-12)
    D = visitation(mdp, res.policy).numpy()
    np.testing.assert_allclose(D, dense_visitation_finite(P, init, pis), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
@pytest.mark.parametrize("gamma", [0.5, 0.9])
def test_soft_vi_discounted_matches_dense_reference(alpha, gamma):
    rng = np.random.default_rng(3)
    mdp, P, init = random_mdp(rng, discount=gamma)
    r = rng.normal(size=(6, 3))
    res = soft_value_iteration(mdp, r, temperature=alpha)
    Q, V = dense_soft_vi_discounted(P, r, alpha, gamma)
    assert res.converged
    np.testing.assert_allclose(res.v.numpy(), V, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(res.q.numpy(), Q, rtol=1e-8, atol=1e-8)
    pi = np.exp((Q - V[:, None]) / alpha)
    # Discounted visitation solves D_s = init + γ P_π^T D_s exactly.
    P_pi = np.einsum("sa,sat->st", pi, P)
    d = np.linalg.solve(np.eye(6) - gamma * P_pi.T, init)
    D = visitation(mdp, res.policy).numpy()
    np.testing.assert_allclose(D, d[:, None] * pi, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(D.sum(), 1 / (1 - gamma), rtol=1e-9)


def test_finite_horizon_with_discount_matches_reference():
    rng = np.random.default_rng(4)
    mdp, P, init = random_mdp(rng, horizon=6, discount=0.8)
    r = rng.normal(size=(6, 3))
    res = soft_value_iteration(mdp, r)
    Q, V = dense_soft_vi_finite(P, r, 6, 1.0, gamma=0.8)
    np.testing.assert_allclose(res.v.numpy(), V, rtol=1e-10)
    D = visitation(mdp, res.policy).numpy()
    np.testing.assert_allclose(D, dense_visitation_finite(P, init, res.policy.numpy(), gamma=0.8), rtol=1e-10)
    np.testing.assert_allclose(D.sum(), sum(0.8**t for t in range(6)), rtol=1e-12)


# ----------------------------------------------------------- limits and dtypes
@pytest.mark.parametrize("horizon,discount", [(8, None), (None, 0.9)])
def test_temperature_to_zero_approaches_hard_vi(horizon, discount):
    rng = np.random.default_rng(5)
    mdp, _, _ = random_mdp(rng, horizon=horizon, discount=discount)
    r = torch.tensor(rng.normal(size=(6, 3)))
    hard = hard_value_iteration(mdp, r)
    errors = []
    for alpha in [0.1, 0.01, 0.001]:
        soft = soft_value_iteration(mdp, r, temperature=alpha)
        errors.append(float((soft.v - hard.v).abs().max()))
    # Soft values exceed hard ones by at most α log A per step.
    steps = horizon if horizon else 1 / (1 - discount)
    assert errors[-1] <= 0.001 * math.log(3) * steps + 1e-9
    assert errors[0] > errors[1] > errors[2]


def test_hard_vi_matches_dense_and_policy_is_greedy():
    rng = np.random.default_rng(6)
    mdp, P, _ = random_mdp(rng, discount=0.9)
    r = rng.normal(size=(6, 3))
    V = np.zeros(6)
    for _ in range(2000):
        Q = r + 0.9 * np.einsum("sat,t->sa", P, V)
        V = Q.max(1)
    res = hard_value_iteration(mdp, r)
    np.testing.assert_allclose(res.v.numpy(), V, rtol=1e-8)
    np.testing.assert_array_equal(res.policy.numpy().argmax(1), Q.argmax(1))
    # The optimal policy's exact value equals V*.
    pe = policy_evaluation(mdp, r, res.policy)
    np.testing.assert_allclose(pe.v.numpy(), V, rtol=1e-8)


@pytest.mark.parametrize("horizon,discount", [(5, None), (None, 0.7)])
def test_policy_evaluation_matches_monte_carlo_free_reference(horizon, discount):
    rng = np.random.default_rng(7)
    mdp, P, init = random_mdp(rng, horizon=horizon, discount=discount)
    r = rng.normal(size=(6, 3))
    pi = rng.random((6, 3))
    pi /= pi.sum(1, keepdims=True)
    pe = policy_evaluation(mdp, r, torch.tensor(pi))
    if horizon:
        V = np.zeros(6)
        for _ in range(horizon):
            V = (pi * (r + np.einsum("sat,t->sa", P, V))).sum(1)
        np.testing.assert_allclose(pe.v[0].numpy(), V, rtol=1e-12)
    else:
        P_pi = np.einsum("sa,sat->st", pi, P)
        V = np.linalg.solve(np.eye(6) - discount * P_pi, (pi * r).sum(1))
        np.testing.assert_allclose(pe.v.numpy(), V, rtol=1e-10)
    # Expected return = <visitation, reward>.
    D = visitation(mdp, torch.tensor(pi)).numpy()
    np.testing.assert_allclose(float(expected_return(mdp, r, torch.tensor(pi))), (D * r).sum(), rtol=1e-9)


def test_huge_rewards_small_temperature_long_horizon_stay_finite():
    rng = np.random.default_rng(8)
    mdp, _, _ = random_mdp(rng, horizon=10_000)
    r = torch.tensor(rng.normal(size=(6, 3)) * 1000, dtype=torch.float32)
    res = soft_value_iteration(mdp, r, temperature=0.01)
    assert torch.isfinite(res.q).all() and torch.isfinite(res.v).all() and torch.isfinite(res.policy).all()
    D = visitation(mdp, res.policy)
    assert torch.isfinite(D).all()
    assert abs(float(D.sum()) - 10_000) < 1.0  # float32 summation of 10^4 steps
    res_d = soft_value_iteration(mdp.replace(horizon=None, discount=0.99), r, temperature=0.01)
    assert torch.isfinite(res_d.v).all()
    # float64: the policy rows still sum to 1 at |V|/α ~ 1e9
    res64 = soft_value_iteration(mdp, r.double(), temperature=0.01)
    torch.testing.assert_close(res64.policy.sum(-1), torch.ones(10_000, 6, dtype=torch.float64), atol=1e-6, rtol=0)
    assert float(res64.v.abs().max()) / 0.01 > 1e8


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_reward_and_float32_agrees(dtype):
    rng = np.random.default_rng(9)
    mdp, _, _ = random_mdp(rng, horizon=10)
    r64 = torch.tensor(rng.normal(size=(6, 3)))
    res = soft_value_iteration(mdp, r64.to(dtype))
    assert res.q.dtype == dtype and res.policy.dtype == dtype
    ref = soft_value_iteration(mdp, r64)
    torch.testing.assert_close(res.v.double(), ref.v, rtol=1e-5, atol=1e-5)
    D = visitation(mdp, res.policy)
    assert D.dtype == dtype
    assert abs(float(D.sum()) - 10) < 1e-4


def test_numpy_float32_reward_stays_float32():
    mdp = two_state(horizon=3)
    res = soft_value_iteration(mdp, np.array([0.0, 1.0], dtype=np.float32))
    assert res.v.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.cuda
def test_cuda_matches_cpu():
    rng = np.random.default_rng(10)
    mdp, _, _ = random_mdp(rng, horizon=10)
    r = torch.tensor(rng.normal(size=(6, 3)))
    cpu = soft_value_iteration(mdp, r)
    gpu = soft_value_iteration(mdp, r.cuda())
    assert gpu.v.device.type == "cuda"
    torch.testing.assert_close(gpu.v.cpu(), cpu.v)
    torch.testing.assert_close(visitation(mdp, gpu.policy).cpu(), visitation(mdp, cpu.policy))


# -------------------------------------------------------------- terminations
def test_absorbing_state_keeps_mass_and_has_zero_reward():
    # State 1 is terminal: entering it ends the episode.
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = 1.0
    P[0, 1, 1] = 1.0
    P[1, :, 1] = 1.0
    mdp = TabularMDP.from_arrays(P, [1.0, 0.0], reward=[1.0, 5.0], horizon=4, terminal_states=np.array([False, True]))
    assert mdp.n_states == 3 and mdp.absorbing == 2
    res = soft_value_iteration(mdp, np.array([1.0, 5.0]))
    D = visitation(mdp, res.policy)
    assert abs(float(D.sum()) - 4.0) < 1e-12
    # Mass that leaves state 0 by action 1 goes to the absorbing state, never to state 1.
    assert float(D[1].sum()) == 0.0
    assert float(D[2].sum()) > 0
    assert float(res.q[-1, 2].abs().max()) == 0.0


def test_reward_shape_errors_are_clear():
    mdp = two_state(horizon=2)
    with pytest.raises(ValueError, match=r"reward must have shape \(2,\) or \(2, 2\)"):
        soft_value_iteration(mdp, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="temperature"):
        soft_value_iteration(mdp, np.zeros(2), temperature=0.0)


def test_a_small_tabular_solve_runs_on_one_torch_and_one_blas_thread_and_restores_both():
    import threadpoolctl

    from irl.envs import gridworld_mdp
    from irl.solvers.tabular_common import cpu_threads_for

    def blas_threads() -> list[int]:
        return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]

    before_torch, before_blas = torch.get_num_threads(), blas_threads()
    with threadpoolctl.threadpool_limits(2, user_api="blas"), cpu_threads_for(gridworld_mdp(4, features=None)):
        assert torch.get_num_threads() == 1
        assert all(n == 1 for n in blas_threads())
    assert torch.get_num_threads() == before_torch and blas_threads() == before_blas
    with cpu_threads_for(gridworld_mdp(200, features=None)) as ctx:  # 200,000 state-action pairs  # a large MDP keeps the caller's threads
        assert not ctx.active and torch.get_num_threads() == before_torch
