"""Reward-recovery metrics against hand-worked numbers and independent dense loops written here."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from irl.data import Demos
from irl.envs import gridworld_mdp
from irl.envs.demo_counts import demo_counts
from irl.envs.tabular import TabularMDP
from irl.metrics import (
    demo_log_likelihood,
    demo_visitation,
    epic_distance,
    epic_distance_samples,
    feature_expectation_gap,
    recovery_report,
    regret,
    reward_correlations,
    weighted_pearson,
    weighted_spearman,
)
from irl.solvers import hard_value_iteration, soft_value_iteration, visitation

METADATA = {"format_version": 1, "env": None, "discount": None, "provenance": {}}


# ------------------------------------------------------------------ helpers
def random_mdp(seed, S=6, A=3, discount=0.9, horizon=None, terminal=False):
    """A random sparse MDP; with ``terminal``, entering state S-1 ends the episode (absorbing state added)."""
    rng = np.random.default_rng(seed)
    P = rng.random((S, A, S)) * (rng.random((S, A, S)) < 0.6)
    P[:, :, 0] += 1e-2
    P /= P.sum(-1, keepdims=True)
    term = None
    if terminal:
        term = np.zeros(S, dtype=bool)
        term[-1] = True
    return TabularMDP.from_arrays(
        P, np.full(S, 1.0 / S), discount=discount, horizon=horizon, terminal_states=term
    )


def shaped(mdp, reward_sas, phi_env, scale=1.0):
    """``scale * R + γ Φ(s') - Φ(s)`` as ``(S, A, S)`` over all states, with Φ(absorbing) = 0."""
    phi = np.append(phi_env, 0.0) if mdp.absorbing is not None else phi_env
    return scale * reward_sas + mdp.gamma * phi[None, None, :] - phi[:, None, None]


def random_sas(mdp, rng):
    return rng.standard_normal((mdp.n_states, mdp.n_actions, mdp.n_states))


MDPS = [
    pytest.param(dict(discount=0.9), id="discounted"),
    pytest.param(dict(discount=0.9, terminal=True), id="discounted-absorbing"),
    pytest.param(dict(discount=None, horizon=5, terminal=True), id="undiscounted-absorbing"),
    pytest.param(dict(discount=None, horizon=5), id="undiscounted"),
]


def canonical_by_loops(P, R, gamma, absorbing):
    """Def. 4.1 with explicit loops, D_S uniform over env states, D_A uniform. The documented convention
    at an absorbing state: potential Ψ = m + γ c / (1 - γ) (or m + E[R(S, A, absorbing)] for γ = 1),
    0 at the absorbing state."""
    S, A, _ = R.shape
    env = [x for x in range(S) if x != absorbing]
    m = np.zeros(S)
    for x in env:
        m[x] = sum(R[x, a, y] for a in range(A) for y in env) / (A * len(env))
    c = sum(m[x] for x in env) / len(env)
    C = np.zeros_like(R)
    for s in range(S):
        for a in range(A):
            for s2 in range(S):
                if absorbing is None:
                    C[s, a, s2] = R[s, a, s2] + gamma * m[s2] - m[s] - gamma * c
                else:
                    if gamma < 1:
                        k = gamma * c / (1 - gamma)
                    else:
                        k = sum(R[x, a2, absorbing] for x in env for a2 in range(A)) / (A * len(env))
                    psi = lambda x: 0.0 if x == absorbing else m[x] + k  # noqa: E731
                    C[s, a, s2] = R[s, a, s2] + gamma * psi(s2) - psi(s)
    # default coverage: s uniform over env states, a uniform, s' ~ P
    W = np.zeros_like(R)
    for s in env:
        W[s] = P[s] / (len(env) * A)
    return C, W


def pearson_by_hand(x, y, w):
    w = w / w.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    cov = (w * (x - mx) * (y - my)).sum()
    return cov / math.sqrt((w * (x - mx) ** 2).sum() * (w * (y - my) ** 2).sum())


# --------------------------------------------------------------------- EPIC
@pytest.mark.parametrize("kw", MDPS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_epic_zero_for_scaled_and_shaped_reward(kw, seed):
    mdp = random_mdp(seed, **kw)
    rng = np.random.default_rng(100 + seed)
    R = random_sas(mdp, rng)
    R2 = shaped(mdp, R, rng.standard_normal(mdp.n_env_states) * 5, scale=3.7)
    assert epic_distance(mdp, R, R2) < 1e-6
    assert epic_distance(mdp, R, -R) == pytest.approx(1.0, abs=1e-6)
    assert epic_distance(mdp, R, shaped(mdp, R, rng.standard_normal(mdp.n_env_states), scale=-2.0)) > 1 - 1e-6


@pytest.mark.parametrize("kw", MDPS)
def test_epic_zero_for_state_action_reward_and_its_shaped_copy(kw):
    mdp = random_mdp(3, **kw)
    rng = np.random.default_rng(7)
    r_sa = rng.standard_normal((mdp.n_env_states, mdp.n_actions))  # env rows: absorbing row appended as 0
    r_full = np.concatenate([r_sa, np.zeros((mdp.n_states - mdp.n_env_states, mdp.n_actions))])
    r_sas = np.repeat(r_full[:, :, None], mdp.n_states, axis=2)
    R2 = shaped(mdp, r_sas, rng.standard_normal(mdp.n_env_states), 0.5)
    assert epic_distance(mdp, r_sa, R2) < 1e-6
    assert epic_distance(mdp, torch.tensor(r_sa, dtype=torch.float32), R2) < 1e-6  # float32 input is fine
    # a state reward is an (S, A) reward constant over actions
    r_s = rng.standard_normal(mdp.n_env_states)
    assert epic_distance(mdp, r_s, np.repeat(r_s[:, None], mdp.n_actions, 1) * 2.0) < 1e-6


def test_epic_invariance_with_nonuniform_distributions_and_coverage():
    mdp = random_mdp(11, discount=0.95, terminal=True)
    rng = np.random.default_rng(11)
    R = random_sas(mdp, rng)
    R2 = shaped(mdp, R, rng.standard_normal(mdp.n_env_states) * 3, scale=0.2)
    kw = dict(state_dist=rng.random(mdp.n_env_states), action_dist=rng.random(mdp.n_actions))
    assert epic_distance(mdp, R, R2, **kw) < 1e-6
    cov = rng.random((mdp.n_env_states, mdp.n_actions, mdp.n_states))
    assert epic_distance(mdp, R, R2, coverage=cov, **kw) < 1e-6
    with pytest.raises(ValueError, match="absorbing"):  # nothing happens after the end
        epic_distance(mdp, R, R2, coverage=np.ones((mdp.n_states, mdp.n_actions)))
    # D_S and D_A change the canonical reward of unrelated rewards, so the distance moves
    Rb = random_sas(mdp, rng)
    assert epic_distance(mdp, R, Rb, **kw) != pytest.approx(epic_distance(mdp, R, Rb), abs=1e-6)
    with pytest.raises(ValueError, match="absorbing"):
        epic_distance(mdp, R, R2, state_dist=np.ones(mdp.n_states))


def test_metrics_on_float32_mdp():
    mdp = gridworld_mdp(4, slip=0.2, reward="random", dtype=torch.float32)
    r = mdp.reward
    assert epic_distance(mdp, r, 3 * r) < 1e-6
    assert abs(regret(mdp, r, r).normalized) < 1e-9
    assert regret(mdp, r, -r).normalized > 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.cuda
def test_cuda_matches_cpu():
    mdp = gridworld_mdp(4, slip=0.2, reward="random")
    learned = mdp.reward + 0.5 * torch.randn(mdp.reward.shape, generator=torch.Generator().manual_seed(1),
                                             dtype=torch.float64)
    cpu = recovery_report(mdp, mdp.reward, learned)
    gpu = recovery_report(mdp.to("cuda"), mdp.reward.cuda(), learned.cuda())
    for key in cpu:
        assert gpu[key] == pytest.approx(cpu[key], abs=1e-9)


def test_dropping_only_the_terminal_potential_term_would_not_be_invariant():
    """Guards the convention: shaping with Φ(absorbing) = 0 must not move terminating transitions."""
    mdp = random_mdp(4, discount=0.9, terminal=True)
    rng = np.random.default_rng(0)
    R = random_sas(mdp, rng)
    R2 = shaped(mdp, R, np.full(mdp.n_env_states, 10.0))  # a constant potential: only the termination moves
    assert epic_distance(mdp, R, R2) < 1e-6
    assert not np.allclose(R, R2)


@pytest.mark.parametrize("seed", range(5))
def test_epic_unrelated_rewards_far_symmetric_triangle(seed):
    mdp = random_mdp(seed, S=8, A=3, discount=0.95, terminal=seed % 2 == 0)
    rng = np.random.default_rng(seed)
    Ra, Rb, Rc = (random_sas(mdp, rng) for _ in range(3))
    dab, dba = epic_distance(mdp, Ra, Rb), epic_distance(mdp, Rb, Ra)
    assert dab > 0.3
    assert dab == pytest.approx(dba, abs=1e-12)
    dac, dbc = epic_distance(mdp, Ra, Rc), epic_distance(mdp, Rb, Rc)
    assert dac <= dab + dbc + 1e-12
    assert dab <= dac + dbc + 1e-12
    assert dbc <= dab + dac + 1e-12


@pytest.mark.parametrize("kw", MDPS)
def test_epic_matches_dense_loops(kw):
    mdp = random_mdp(5, S=4, A=2, **kw)
    P = mdp.dense_transitions().numpy()
    rng = np.random.default_rng(5)
    Ra, Rb = random_sas(mdp, rng), random_sas(mdp, rng)
    if mdp.absorbing is not None:
        Ra[mdp.absorbing] = Rb[mdp.absorbing] = 0.0
    Ca, W = canonical_by_loops(P, Ra, mdp.gamma, mdp.absorbing)
    Cb, _ = canonical_by_loops(P, Rb, mdp.gamma, mdp.absorbing)
    rho = pearson_by_hand(Ca.ravel(), Cb.ravel(), W.ravel())
    assert epic_distance(mdp, Ra, Rb) == pytest.approx(math.sqrt((1 - rho) / 2), abs=1e-12)
    assert reward_correlations(mdp, Ra, Rb)["pearson"] == pytest.approx(rho, abs=1e-12)
    # an explicit (S, A, S) coverage, and an (S, A) one with s' from the dynamics
    W2 = rng.random(Ra.shape)
    W2[mdp.n_env_states :] = 0.0  # no coverage after the end
    rho2 = pearson_by_hand(Ca.ravel(), Cb.ravel(), W2.ravel())
    assert epic_distance(mdp, Ra, Rb, coverage=W2) == pytest.approx(math.sqrt((1 - rho2) / 2), abs=1e-12)
    sa = rng.random((mdp.n_env_states, mdp.n_actions))
    W3 = np.zeros_like(Ra)
    W3[: mdp.n_env_states] = sa[:, :, None] * P[: mdp.n_env_states]
    rho3 = pearson_by_hand(Ca.ravel(), Cb.ravel(), W3.ravel())
    assert epic_distance(mdp, Ra, Rb, coverage=sa) == pytest.approx(math.sqrt((1 - rho3) / 2), abs=1e-12)


def test_epic_two_state_by_hand():
    # 0 <-> 1 deterministically, one action, γ = 1/2, state rewards r = (0, 1): m = r, c = 1/2, so
    # C(s, ., 1-s) = r(s) + r(1-s)/2 - r(s) - 1/4 = (+1/4, -1/4); r' = (1, 0) gives (-1/4, +1/4): ρ = -1.
    P = np.array([[[0.0, 1.0]], [[1.0, 0.0]]])
    mdp = TabularMDP.from_arrays(P, [0.5, 0.5], discount=0.5)
    assert epic_distance(mdp, [0.0, 1.0], [1.0, 0.0]) == pytest.approx(1.0, abs=1e-12)
    assert epic_distance(mdp, [0.0, 1.0], [0.0, 5.0]) == pytest.approx(0.0, abs=1e-12)
    # with a stay action, r(s, stay) = (2, 0): C(0, stay, 0) = 2 + m(0)/2 - m(0) - c/2,
    # m = (1, 1/2), c = 3/4
    P2 = np.zeros((2, 2, 2))
    P2[0, 0, 1] = P2[1, 0, 0] = P2[0, 1, 0] = P2[1, 1, 1] = 1.0
    mdp2 = TabularMDP.from_arrays(P2, [0.5, 0.5], discount=0.5)
    ra = np.array([[0.0, 2.0], [1.0, 0.0]])
    rb = np.array([[0.0, 0.0], [1.0, 1.0]])
    m_a, c_a, m_b, c_b = np.array([1.0, 0.5]), 0.75, np.array([0.0, 1.0]), 0.5
    trans = [(0, 0, 1), (0, 1, 0), (1, 0, 0), (1, 1, 1)]  # each with coverage weight 1/4
    Ca = np.array([ra[s, a] + 0.5 * m_a[t] - m_a[s] - 0.5 * c_a for s, a, t in trans])
    Cb = np.array([rb[s, a] + 0.5 * m_b[t] - m_b[s] - 0.5 * c_b for s, a, t in trans])
    rho = np.corrcoef(Ca, Cb)[0, 1]
    assert epic_distance(mdp2, ra, rb) == pytest.approx(math.sqrt((1 - rho) / 2), abs=1e-12)


def test_epic_constant_conventions():
    mdp = random_mdp(6, discount=0.9, terminal=True)
    rng = np.random.default_rng(6)
    R = random_sas(mdp, rng)
    zero = np.zeros_like(R)
    shaping_only = shaped(mdp, zero, rng.standard_normal(mdp.n_env_states))
    assert epic_distance(mdp, zero, shaping_only) == 0.0
    assert epic_distance(mdp, R, zero) == pytest.approx(math.sqrt(0.5))
    assert epic_distance(mdp, shaping_only, R) == pytest.approx(math.sqrt(0.5))
    corr = reward_correlations(mdp, R, shaping_only)
    assert corr == {"pearson": 0.0, "spearman": 0.0}
    assert not any(math.isnan(v) for v in reward_correlations(mdp, zero, zero).values())


def test_epic_rejects_dense_reward_without_termination_column():
    mdp = random_mdp(0, discount=0.9, terminal=True)
    with pytest.raises(ValueError, match="absorbing"):
        epic_distance(mdp, np.zeros((mdp.n_env_states, 3, mdp.n_env_states)), np.zeros((mdp.n_env_states, 3)))


@pytest.mark.parametrize("terminal", [False, True])
def test_epic_samples_agree_with_exact(terminal):
    mdp = random_mdp(8, S=6, A=3, discount=0.8, terminal=terminal)
    rng = np.random.default_rng(8)
    Ra, Rb = random_sas(mdp, rng), random_sas(mdp, rng)
    Rb = 0.6 * Ra + 0.8 * Rb  # correlated, so the distance is neither 0 nor near 0.7
    exact = epic_distance(mdp, Ra, Rb)
    n, A, N, M = mdp.n_env_states, mdp.n_actions, 10_000, 500  # sampling error ~0.007
    P = mdp.dense_transitions().numpy()
    s = rng.integers(0, n, N)
    a = rng.integers(0, A, N)
    cum = P[s, a].cumsum(-1)
    s2 = np.minimum((cum < rng.random(N)[:, None]).sum(-1), mdp.n_states - 1)
    terminated = s2 == mdp.absorbing if terminal else None
    xs, us = rng.integers(0, n, M), rng.integers(0, A, M)
    Ra_shaped = shaped(mdp, Ra, rng.standard_normal(n) * 3, scale=2.5)

    def fn_a(o, u, o2):
        return Ra[o, u, o2]

    def fn_b(o, u, o2):
        return torch.as_tensor(Rb[o.numpy(), u.numpy(), o2.numpy()])

    # the Monte-Carlo canonicalisation removes shaping exactly, not just in expectation
    est = epic_distance_samples(fn_a, lambda o, u, o2: Ra_shaped[o, u, o2], s, a, s2, xs, us, mdp.gamma, terminated)
    assert est < 1e-6
    est = epic_distance_samples(
        lambda o, u, o2: torch.as_tensor(Ra[o.numpy(), u.numpy(), o2.numpy()]),
        fn_b,
        *(torch.as_tensor(x) for x in (s, a, s2, xs, us)),
        mdp.gamma,
        terminated,
        chunk_size=3_000,
    )
    assert 0.1 < exact < 0.6
    assert est == pytest.approx(exact, abs=0.03)


def test_weighted_correlations_against_scipy_and_weights():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50)
    y = x + rng.standard_normal(50)
    y[:10] = np.round(y[:10])  # some ties
    x[5:15] = 1.0
    def pearson(x, y, w):
        return weighted_pearson(torch.tensor(x), torch.tensor(y), w, scale_x=1, scale_y=1)

    def spearman(x, y, w):
        return weighted_spearman(torch.tensor(x), torch.tensor(y), w, scale_x=1, scale_y=1)

    w = torch.ones(50, dtype=torch.float64)
    assert spearman(x, y, w) == pytest.approx(spearmanr(x, y)[0], abs=1e-12)
    assert pearson(x, y, w) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    # weight 2 on a point is the same as the point twice
    w2 = w.clone()
    w2[:7] = 2.0
    xd, yd = np.concatenate([x, x[:7]]), np.concatenate([y, y[:7]])
    assert spearman(x, y, w2) == pytest.approx(spearmanr(xd, yd)[0], abs=1e-12)
    assert pearson(x, y, w2) == pytest.approx(np.corrcoef(xd, yd)[0, 1], abs=1e-12)


def test_reward_correlations_spearman_matches_scipy_on_dense_loops():
    # deterministic transitions: the default coverage puts equal weight on each (s, a), so scipy applies
    rng = np.random.default_rng(2)
    S, A = 5, 3
    P = np.zeros((S, A, S))
    P[np.arange(S)[:, None], np.arange(A)[None, :], rng.integers(0, S, (S, A))] = 1.0
    mdp = TabularMDP.from_arrays(P, np.ones(S) / S, discount=0.7)
    Ra, Rb = rng.standard_normal((S, A, S)), rng.standard_normal((S, A, S))
    Rb = np.round(Ra + Rb)  # ties in the reward
    Ca, W = canonical_by_loops(P, Ra, mdp.gamma, None)
    Cb, _ = canonical_by_loops(P, Rb, mdp.gamma, None)
    support = W.ravel() > 0
    ca, cb = Ca.ravel()[support], Cb.ravel()[support]
    corr = reward_correlations(mdp, Ra, Rb)
    assert corr["spearman"] == pytest.approx(spearmanr(ca, cb)[0], abs=1e-9)
    assert corr["pearson"] == pytest.approx(np.corrcoef(ca, cb)[0, 1], abs=1e-12)
    same = reward_correlations(mdp, Ra, shaped(mdp, Ra, rng.standard_normal(S), 2.0))
    assert same == {"pearson": pytest.approx(1.0, abs=1e-12), "spearman": pytest.approx(1.0, abs=1e-12)}


# ------------------------------------------------------------------- regret
@pytest.mark.parametrize("kind", ["hard", "soft"])
@pytest.mark.parametrize("kw", MDPS)
def test_regret_of_true_reward_is_zero(kind, kw):
    mdp = random_mdp(9, **kw)
    r = np.random.default_rng(9).standard_normal((mdp.n_env_states, mdp.n_actions))
    res = regret(mdp, r, r, kind=kind, temperature=0.5)
    assert abs(res.normalized) < 1e-9 and abs(res.value_difference) < 1e-9
    assert res.optimal_return > res.uniform_return


def test_regret_gridworld_negated_zero_and_shifted():
    mdp = gridworld_mdp(5, slip=0.1)  # goal reward, horizon 10, uniform start
    r = mdp.reward
    assert regret(mdp, r, -r).normalized > 0.5
    assert regret(mdp, r, -r, kind="soft").normalized > 0.5
    assert regret(mdp, r, torch.zeros_like(r), kind="soft").normalized == pytest.approx(1.0, abs=1e-9)
    assert regret(mdp, r, torch.zeros_like(r), kind="hard").normalized == pytest.approx(1.0, abs=1e-9)
    noisy = r + 0.3 * torch.randn(r.shape, generator=torch.Generator().manual_seed(0), dtype=r.dtype)
    base = regret(mdp, r, noisy)
    assert 0 < base.normalized < 1
    assert regret(mdp, r, noisy + 5.0).normalized == pytest.approx(base.normalized, abs=1e-12)


def test_hard_regret_unchanged_by_constant_shift_discounted():
    mdp = random_mdp(10, S=10, A=4, discount=0.9)
    rng = np.random.default_rng(10)
    r, learned = rng.standard_normal((10, 4)), rng.standard_normal((10, 4))
    base = regret(mdp, r, learned).normalized
    assert base > 0.05
    assert regret(mdp, r, learned - 3.0).normalized == pytest.approx(base, abs=1e-12)


def test_regret_two_state_by_hand():
    # action 0 stays, 1 switches; γ = 1/2; start in 0; r(s) = s.
    # Optimal: switch then stay, J* = 1/2 / (1 - 1/2) = 1.
    # Uniform: V0 = (V0 + V1)/4, V1 = 1 + (V0 + V1)/4 -> V0 = 1/2. Reward (1, 0): stay in 0 forever, J = 0.
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[1, 0, 1] = P[0, 1, 1] = P[1, 1, 0] = 1.0
    mdp = TabularMDP.from_arrays(P, [1.0, 0.0], discount=0.5)
    res = regret(mdp, [0.0, 1.0], [1.0, 0.0])
    assert res.optimal_return == pytest.approx(1.0, abs=1e-12)
    assert res.uniform_return == pytest.approx(0.5, abs=1e-12)
    assert res.learned_return == pytest.approx(0.0, abs=1e-12)
    assert res.value_difference == pytest.approx(1.0, abs=1e-12)
    assert res.normalized == pytest.approx(2.0, abs=1e-12)  # worse than random, not clipped


def test_regret_all_policies_equal():
    P = np.ones((3, 1, 3)) / 3  # one action: every policy is the same
    mdp = TabularMDP.from_arrays(P, np.ones(3) / 3, discount=0.9)
    res = regret(mdp, [1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    assert res.normalized == 0.0


def test_recovery_report_plain_floats():
    mdp = gridworld_mdp(4, slip=0.2, reward="random")
    rep = recovery_report(mdp, mdp.reward, mdp.reward * 2)
    assert set(rep) == {"epic", "regret_hard", "regret_soft", "value_difference_hard", "pearson", "spearman"}
    assert all(type(v) is float for v in rep.values())
    assert rep["epic"] < 1e-6 and abs(rep["regret_hard"]) < 1e-9 and rep["pearson"] == pytest.approx(1.0)
    assert rep["regret_soft"] < 0  # a scaled-up reward acts greedier than the soft-optimal policy


# ---------------------------------------------------------- demos vs policy
def chain_mdp(discount=None, horizon=5):
    """States 0..3 on a line; action 0 left, 1 right; entering 3 terminates. One-hot features."""
    P = np.zeros((4, 2, 4))
    for s in range(4):
        P[s, 0, max(s - 1, 0)] = 1.0
        P[s, 1, min(s + 1, 3)] = 1.0
    init = [0.5, 0.5, 0.0, 0.0]
    return TabularMDP.from_arrays(P, init, features=np.eye(4), discount=discount, horizon=horizon,
                                  terminal_states=np.array([False, False, False, True]))


def demos_from(episodes):
    """Demos from a list of (states, actions, next_states, terminated)."""
    obs = np.concatenate([e[0] for e in episodes])
    act = np.concatenate([e[1] for e in episodes])
    nxt = np.concatenate([e[2] for e in episodes])
    lengths = [len(e[0]) for e in episodes]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    terminals = np.zeros(len(obs), dtype=bool)
    timeouts = np.zeros(len(obs), dtype=bool)
    for e, end in zip(episodes, np.cumsum(lengths)):
        (terminals if e[3] else timeouts)[end - 1] = True
    return Demos.build(observations=obs, actions=act, next_observations=nxt, terminals=terminals,
                       timeouts=timeouts, episode_starts=starts, rewards=None, metadata=METADATA,
                       check_env=False)


# "always right" from each start state: 0->1->2->3 (3 steps) and 1->2->3 (2 steps), both terminate.
RIGHT_DEMOS = [
    (np.array([0, 1, 2]), np.array([1, 1, 1]), np.array([1, 2, 3]), True),
    (np.array([1, 2]), np.array([1, 1]), np.array([2, 3]), True),
]


@pytest.mark.parametrize("discount", [None, 0.9])
def test_demo_visitation_matches_exact_visitation(discount):
    mdp = chain_mdp(discount=discount)
    demos = demos_from(RIGHT_DEMOS)
    right = np.zeros((5, 2))
    right[:, 1] = 1.0
    right[4] = 0.5  # absorbing state: uniform, as a soft-optimal policy would be there
    D_demo = demo_visitation(mdp, demos)
    D_exact = visitation(mdp, torch.tensor(right))
    np.testing.assert_allclose(D_demo.numpy(), D_exact.numpy(), atol=1e-12)
    g = mdp.gamma
    assert float(D_demo.sum()) == pytest.approx(sum(g**t for t in range(5)), abs=1e-12)
    assert float(D_demo[4].sum()) == pytest.approx(((g**3 + g**4) + (g**2 + g**3 + g**4)) / 2, abs=1e-12)
    assert feature_expectation_gap(mdp, demos, right) < 1e-12
    assert feature_expectation_gap(mdp, demos, right[:4]) < 1e-12  # env-state rows: absorbing row filled in


def test_demo_visitation_infinite_horizon_pads_absorbing_forever():
    mdp = chain_mdp(discount=0.9, horizon=None)
    D = demo_visitation(mdp, demos_from(RIGHT_DEMOS))
    assert float(D.sum()) == pytest.approx(1 / (1 - 0.9), abs=1e-10)


def test_truncated_episode_counts_only_its_steps_and_gap_sees_policy_change():
    mdp = chain_mdp()
    demos = demos_from([(np.array([0, 1]), np.array([1, 0]), np.array([1, 0]), False)])
    D = demo_visitation(mdp, demos)
    assert float(D.sum()) == pytest.approx(2.0)
    assert float(D[0, 1]) == 1.0 and float(D[1, 0]) == 1.0
    left = np.zeros((5, 2))
    left[:, 0] = 1.0
    # policy "always left" from the 50/50 start: states 0/1 then stuck in 0;
    # the demo (one episode) has mu = (1, 1, 0, 0)
    mu_pi = np.array([0.5 + 4.0, 0.5, 0.0, 0.0])
    expected = np.linalg.norm([1, 1, 0, 0] - mu_pi)
    assert feature_expectation_gap(mdp, demos, left) == pytest.approx(expected, abs=1e-12)


def test_demo_checks():
    mdp = chain_mdp(horizon=2)
    with pytest.raises(ValueError, match="horizon"):
        demo_visitation(mdp, demos_from(RIGHT_DEMOS))
    with pytest.raises(ValueError, match="integers"):
        demo_visitation(chain_mdp(), demos_from([(np.array([7]), np.array([1]), np.array([3]), False)]))
    P = np.ones((2, 1, 2)) / 2
    no_absorbing = TabularMDP.from_arrays(P, [1.0, 0.0], horizon=3)
    with pytest.raises(ValueError, match="absorbing"):
        demo_visitation(no_absorbing, demos_from([(np.array([0]), np.array([0]), np.array([1]), True)]))


def test_demo_visitation_is_the_demo_counts_and_takes_column_observations():
    mdp = chain_mdp(discount=0.9)
    demos = demos_from(RIGHT_DEMOS)
    torch.testing.assert_close(demo_visitation(mdp, demos), demo_counts(mdp, demos).counts, rtol=0, atol=0)
    # (N, 1) observations, and integral floats, count as the same state indices
    column = demos_from([(e[0][:, None].astype(float), e[1][:, None], e[2][:, None].astype(float), e[3])
                         for e in RIGHT_DEMOS])
    torch.testing.assert_close(demo_visitation(mdp, column), demo_visitation(mdp, demos), rtol=0, atol=0)
    half = np.full((5, 2), 0.5)
    assert demo_log_likelihood(mdp, column, half) == demo_log_likelihood(mdp, demos, half)
    with pytest.raises(ValueError, match="integers"):
        demo_visitation(mdp, demos_from([(np.array([0.5]), np.array([1]), np.array([1.0]), False)]))


def test_demo_log_likelihood_by_hand():
    mdp = chain_mdp(horizon=3)
    demos = demos_from(RIGHT_DEMOS)  # steps: (0,1), (1,1), (2,1) | (1,1), (2,1)
    pi = np.array([[0.2, 0.8], [0.4, 0.6], [0.5, 0.5], [0.5, 0.5]])
    ll = demo_log_likelihood(mdp, demos, pi)
    total = math.log(0.8) + 2 * math.log(0.6) + 2 * math.log(0.5)
    assert ll["total"] == pytest.approx(total, abs=1e-12)
    assert ll["per_step"] == pytest.approx(total / 5, abs=1e-12)
    # time-indexed: step t of each episode uses pi_t
    pis = np.stack([pi, pi[:, ::-1], np.full((4, 2), 0.25)])
    pis[2, :, 1] = 0.75
    ll_t = demo_log_likelihood(mdp, demos, torch.tensor(pis))
    total_t = math.log(0.8) + math.log(0.4) + math.log(0.75) + math.log(0.6) + math.log(0.5)
    assert ll_t["total"] == pytest.approx(total_t, abs=1e-12)
    with pytest.raises(ValueError, match="timestep"):
        demo_log_likelihood(mdp, demos, pis[:2])
    greedy_left = np.zeros((5, 2))
    greedy_left[:, 0] = 1.0
    assert demo_log_likelihood(mdp, demos, greedy_left)["total"] == -math.inf


def test_demo_log_likelihood_of_soft_policy_prefers_true_reward():
    mdp = chain_mdp(horizon=5)
    demos = demos_from(RIGHT_DEMOS)
    finish = [[0.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]]  # pays for stepping right into the end
    good = soft_value_iteration(mdp, finish).policy
    bad = hard_value_iteration(mdp, [1.0, 0.0, 0.0, 0.0]).policy
    assert demo_log_likelihood(mdp, demos, good)["total"] > demo_log_likelihood(mdp, demos, bad)["total"]


def test_epic_samples_refuses_terminations_without_discount():
    obs = np.array([0, 1])
    with pytest.raises(ValueError, match="gamma < 1"):
        epic_distance_samples(lambda o, u, o2: o * 1.0, lambda o, u, o2: u * 1.0, obs, obs, obs, obs, obs, 1.0,
                              terminated=np.array([False, True]))
