"""The lean MaxEnt pass (irl.solvers.messages) against the float64 reference: soft value iteration + visitation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from helpers import random_transitions

from irl._checks import NonFiniteError
from irl.data import Demos
from irl.envs import TabularMDP, gridworld_mdp
from irl.envs.demo_counts import demo_counts
from irl.inverse.maxent_objective import literal_log_likelihood, maxent_objective
from irl.solvers import LeanSolution, ValueResult, messages, soft_messages, soft_value_iteration, visitation
from irl.solvers.messages import finite_soft_values, finite_visitation

TERMINAL = 7  # the random MDPs' terminal state (an absorbing state is added after it)


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    """max |x − ref| ÷ max |ref|, in float64."""
    return float((x.cpu().double() - ref).abs().max() / ref.abs().max())


def random_mdp(seed: int, footing: str, deterministic: bool, S: int = 9, A: int = 3) -> TabularMDP:
    """A random MDP whose state ``TERMINAL`` ends an episode; ``info["P"]`` holds its ``(S, A, S)`` dynamics."""
    rng = np.random.default_rng(seed)
    P = random_transitions(rng, S, A, deterministic=deterministic)
    initial = rng.random(S)
    initial[TERMINAL] = 0.0
    kw = {"finite": {"horizon": 30}, "finite-discounted": {"horizon": 25, "discount": 0.95},
          "discounted": {"discount": 0.9}}[footing]
    mdp = TabularMDP.from_arrays(transitions=P, initial=initial / initial.sum(),
                                 terminal_states=np.arange(S) == TERMINAL, **kw)
    return mdp.replace(info={"P": P})


def random_demos(mdp: TabularMDP, seed: int, n_episodes: int = 12, max_len: int = 20) -> Demos:
    """Random-action episodes of random length; one that enters the terminal state terminates."""
    rng = np.random.default_rng(seed)
    P = mdp.info["P"]
    episodes = []
    for _ in range(n_episodes):
        s, obs, act, nxt, terminated = int(rng.integers(TERMINAL)), [], [], [], False
        for _ in range(int(rng.integers(1, max_len + 1))):
            a = int(rng.integers(mdp.n_actions))
            s2 = int(rng.choice(len(P), p=P[s, a]))
            obs.append(s), act.append(a), nxt.append(s2)
            s, terminated = s2, s2 == TERMINAL
            if terminated:
                break
        episodes.append({"observations": np.array(obs), "actions": np.array(act), "next_observations": np.array(nxt),
                         "terminated": terminated, "truncated": not terminated})
    return Demos.from_episodes(episodes, metadata={"env": None}, check_env=False)


def reference(mdp: TabularMDP, r: torch.Tensor, counts) -> dict[str, torch.Tensor]:
    """The float64 CPU path the lean pass replaces: soft value iteration, then visitation."""
    sol = soft_value_iteration(mdp, r, tol=1e-14)
    D = visitation(mdp, sol.policy, initial=counts.likelihood_mass, tol=1e-14)
    logp = sol.log_policy[counts.timesteps, counts.states, counts.actions] if sol.v.ndim == 2 else \
        sol.log_policy[counts.states, counts.actions]
    return {"v": sol.v, "policy": sol.policy, "visitation": D, "grad": (counts.counts - D)[: mdp.n_env_states],
            "value": (counts.weights * logp).sum()}


CASES = [(seed, footing, det) for seed in range(3) for footing in ("finite", "finite-discounted", "discounted")
         for det in (True, False)]


@pytest.mark.parametrize("seed,footing,deterministic", CASES)
def test_lean_pass_matches_the_float64_reference(seed, footing, deterministic):
    mdp = random_mdp(seed, footing, deterministic)
    counts = demo_counts(mdp, random_demos(mdp, seed))
    assert counts.likelihood_mass.ndim == (2 if mdp.horizon else 1)
    r = torch.as_tensor(2.0 * np.random.default_rng(seed + 100).standard_normal((mdp.n_env_states, 3)))
    ref = reference(mdp, r, counts)
    assert ref["grad"].abs().max() > 1e-2 and ref["visitation"][mdp.absorbing].sum() > 0  # not a trivial point
    for dtype, bound in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
        # float32's own round-off is ~6e-8: a discounted solve must be asked for better than its default 1e-5
        tol = 1e-7 if dtype == torch.float32 else 1e-14
        ev = maxent_objective(mdp.to(dtype=dtype), counts, r.to(dtype), tol=tol)
        assert isinstance(ev.solution, LeanSolution if mdp.horizon else ValueResult)
        got = {"v": ev.solution.v, "policy": ev.solution.policy, "visitation": ev.visitation, "grad": ev.grad,
               "value": ev.value}
        for name, x in got.items():
            assert x.dtype == dtype
            assert rel_err(x, ref[name]) <= bound, (name, dtype, rel_err(x, ref[name]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lean_pass_on_a_slippery_gridworld_with_a_long_horizon(dtype):
    """|V| reaches ~330 here: float32 V stored as is puts π 8e-5 from float64 (the reference float32 path)."""
    mdp = gridworld_mdp(16, 0.1, features=None, horizon=128)
    r = torch.as_tensor(np.random.default_rng(3).normal(size=(256, 5)))
    ref = soft_value_iteration(mdp, r)
    D_ref = visitation(mdp, ref.policy)
    sol, D = soft_messages(mdp.to(dtype=dtype), r.to(dtype))
    bound = 1e-5 if dtype == torch.float32 else 1e-12
    for x, want in ((sol.v, ref.v), (sol.policy, ref.policy), (D, D_ref)):
        assert rel_err(x, want) <= bound
    assert float(D.sum()) == pytest.approx(128, rel=1e-5)


def test_lean_solution_reads_like_value_iteration_and_builds_its_tables_only_when_asked():
    mdp = random_mdp(0, "finite", deterministic=False)
    counts = demo_counts(mdp, random_demos(mdp, 0))
    r = torch.as_tensor(np.random.default_rng(1).standard_normal((mdp.n_env_states, 3)))
    full = soft_value_iteration(mdp, r)
    ev = maxent_objective(mdp, counts, r)
    lean = ev.solution
    built = ("_frame_q", "policy", "v")
    assert not any(k in lean.__dict__ for k in built)  # the gradient built no Q table, nor V, nor π (T, S, A)
    literal = literal_log_likelihood(lean, counts)
    assert not any(k in lean.__dict__ for k in built)  # nor did the log-likelihood of the demo steps
    torch.testing.assert_close(literal, literal_log_likelihood(full, counts), rtol=1e-12, atol=1e-12)
    assert (lean.iterations, lean.converged, lean.temperature) == (30, True, 1.0)
    for name in ("v", "q", "policy", "log_policy"):
        torch.testing.assert_close(getattr(lean, name), getattr(full, name), rtol=1e-12, atol=1e-12)
    t, s, a = counts.timesteps, counts.states, counts.actions
    torch.testing.assert_close(lean.log_policy_at(s, a, t), full.log_policy_at(s, a, t), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="timesteps"):
        lean.log_policy_at(s, a)


def test_the_passes_take_sparse_or_dense_operators_and_mdps_built_either_way():
    rng = np.random.default_rng(4)
    S, A, T = 6, 2, 12
    P = random_transitions(rng, S, A, deterministic=False)
    P[P < 0.1] = 0.0
    P /= P.sum(-1, keepdims=True)
    dense_mdp = TabularMDP.from_arrays(transitions=P, initial=np.full(S, 1 / S), horizon=T)
    sparse_mdp = TabularMDP.from_arrays(transitions=sp.csr_matrix(P.reshape(S * A, S)), initial=np.full(S, 1 / S),
                                        horizon=T)
    r = torch.as_tensor(rng.standard_normal((S, A)))
    ref = soft_value_iteration(dense_mdp, r)
    D_ref = visitation(dense_mdp, ref.policy)
    for mdp in (dense_mdp, sparse_mdp):
        sol, D = soft_messages(mdp, r)
        torch.testing.assert_close(sol.v, ref.v, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(D, D_ref, rtol=1e-12, atol=1e-12)
    Pd = torch.as_tensor(P).transpose(0, 1).reshape(A * S, S)  # a plain dense operator works too (action-major)
    kw = {"gamma": 1.0, "temperature": 1.0, "absorbing": None}
    rT = r.T.contiguous()
    for keep in (False, True):
        u, c, policy = finite_soft_values(rT, Pd, T, keep_policy=keep, **kw)
        assert (policy is not None) == keep
        torch.testing.assert_close(u + c[:, None], ref.v, rtol=1e-12, atol=1e-12)
        D = finite_visitation(rT, Pd, Pd.T.contiguous(), u, c, dense_mdp.initial, policy=policy, **kw)
        torch.testing.assert_close(D.T, D_ref, rtol=1e-12, atol=1e-12)


def test_the_passes_check_their_shapes():
    r = torch.zeros(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"P must have shape \(8, 4\)"):
        finite_soft_values(r, torch.zeros(4, 4, dtype=torch.float64), 3, gamma=1.0)
    with pytest.raises(ValueError, match="expected r"):
        finite_visitation(r, torch.zeros(8, 4), torch.zeros(4, 8), torch.zeros(3, 4), torch.zeros(3), torch.zeros(5),
                          gamma=1.0)
    with pytest.raises(ValueError, match="policy"):
        finite_visitation(r, torch.zeros(8, 4), torch.zeros(4, 8), torch.zeros(3, 4), torch.zeros(3), torch.zeros(4),
                          gamma=1.0, policy=torch.zeros(3, 4, 2))


@pytest.mark.parametrize("footing", ["finite", "finite-discounted"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_kept_policy_and_the_rebuilt_one_give_the_same_pass(monkeypatch, footing, dtype):
    """Within the budget the forward pass reuses the backward's π; over it, it rebuilds π from V in chunks
    (chunks of 1, 3 and the default, so that a horizon of 30 or 25 ends in a partial chunk)."""
    mdp = random_mdp(11, footing, deterministic=False).to(dtype=dtype)
    counts = demo_counts(mdp, random_demos(mdp, 11))
    r = torch.as_tensor(np.random.default_rng(12).standard_normal((mdp.n_env_states, 3)), dtype=dtype)
    assert messages.policy_fits(mdp.horizon, mdp.n_states, mdp.n_actions, dtype)
    kept = maxent_objective(mdp, counts, r)
    monkeypatch.setattr(messages, "POLICY_BUDGET", 0)
    assert not messages.policy_fits(mdp.horizon, mdp.n_states, mdp.n_actions, dtype)
    bound = 1e-6 if dtype == torch.float32 else 1e-13
    for chunk in (1, 3, messages.CHUNK):
        monkeypatch.setattr(messages, "CHUNK", chunk)
        rebuilt = maxent_objective(mdp, counts, r)
        assert rel_err(rebuilt.visitation, kept.visitation.double()) <= bound
        assert rel_err(rebuilt.grad, kept.grad.double()) <= bound
        assert torch.equal(rebuilt.solution.u, kept.solution.u)  # the backward pass is the same either way


def test_the_policy_budget_counts_the_table_bytes():
    assert messages.policy_fits(96, 48 * 48, 5, torch.float64)  # 8.8 MB: the CPU benchmark's gradient keeps π
    assert not messages.policy_fits(1024, 1024 * 1024, 5, torch.float32)  # 21 GB: the GPU one rebuilds it
    T = messages.POLICY_BUDGET // (8 * 4 * 5)
    assert messages.policy_fits(T, 4, 5, torch.float64) and not messages.policy_fits(T + 1, 4, 5, torch.float64)


# ---------------------------------------------------------------- warm start
def test_a_warm_start_reaches_the_same_fixed_point_in_fewer_backups():
    mdp = gridworld_mdp(6, 0.1, features=None).replace(horizon=None, discount=0.95)
    rng = np.random.default_rng(5)
    r = torch.as_tensor(rng.normal(size=(36, 5)))
    nearby = r + 0.01 * torch.as_tensor(rng.normal(size=(36, 5)))
    previous = soft_value_iteration(mdp, r)
    cold = soft_value_iteration(mdp, nearby)
    warm = soft_value_iteration(mdp, nearby, v_init=previous.v)
    assert warm.converged and cold.converged
    # the error starts ~200x smaller and shrinks by γ a backup: log(200)/log(1/0.95) ≈ 100 backups saved
    assert warm.iterations < 0.8 * cold.iterations, (warm.iterations, cold.iterations)
    torch.testing.assert_close(warm.v, cold.v, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(warm.policy, cold.policy, rtol=1e-9, atol=1e-9)
    # starting at the fixed point itself: one backup confirms it
    assert soft_value_iteration(mdp, nearby, v_init=cold.v).iterations == 1


def test_maxent_objective_hands_its_values_on_as_the_next_warm_start():
    mdp = random_mdp(2, "discounted", deterministic=False)
    counts = demo_counts(mdp, random_demos(mdp, 2))
    r = torch.as_tensor(np.random.default_rng(6).standard_normal((mdp.n_env_states, 3)))
    first = maxent_objective(mdp, counts, r)
    assert first.warm_start is first.solution.v and first.warm_start.shape == (mdp.n_states,)
    step = r + 1e-3
    cold = maxent_objective(mdp, counts, step)
    warm = maxent_objective(mdp, counts, step, v_init=first.warm_start)
    assert warm.solution.iterations < cold.solution.iterations
    torch.testing.assert_close(warm.grad, cold.grad, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(warm.value, cold.value, rtol=1e-8, atol=1e-8)
    finite = random_mdp(2, "finite", deterministic=False)
    assert maxent_objective(finite, demo_counts(finite, random_demos(finite, 2)), r).warm_start is None


def test_a_bad_warm_start_is_one_clear_error():
    discounted = gridworld_mdp(3, features=None).replace(horizon=None, discount=0.9)
    r = torch.zeros(9, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"v_init must have shape \(9,\), got \(8,\)"):
        soft_value_iteration(discounted, r, v_init=torch.zeros(8))
    with pytest.raises(ValueError, match="v_init applies to an infinite horizon only"):
        soft_value_iteration(discounted.replace(horizon=5), r, v_init=torch.zeros(9))
    with pytest.raises(ValueError, match="v_init applies to an infinite horizon only"):
        soft_messages(discounted.replace(horizon=5), r, v_init=torch.zeros(9))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NaN start is refused, not iterated
        with pytest.raises(NonFiniteError, match="v_init of value iteration is not finite"):
            soft_value_iteration(discounted, r, v_init=torch.full((9,), float("nan")))


# ------------------------------------------------------------- fused steps
@pytest.mark.slow
def test_compiled_steps_match_the_plain_ones_on_the_cpu():
    """torch.compile of the per-step functions (CPU inductor here; the same code fuses on a GPU)."""
    mdp = gridworld_mdp(5, 0.1, features=None, horizon=10)
    r = torch.as_tensor(np.random.default_rng(7).normal(size=(25, 5)))
    for dtype, bound in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        m = mdp.to(dtype=dtype)
        plain_sol, plain_D = soft_messages(m, r.to(dtype))
        fused_sol, fused_D = soft_messages(m, r.to(dtype), fused=True)
        assert rel_err(fused_sol.v, plain_sol.v.double()) <= bound
        assert rel_err(fused_D, plain_D.double()) <= bound


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.cuda
@pytest.mark.parametrize("fused", [False, True])
def test_cuda_float32_matches_the_float64_cpu_reference(fused):
    mdp = gridworld_mdp(16, 0.1, features=None, horizon=64)
    r = torch.as_tensor(np.random.default_rng(8).normal(size=(256, 5)))
    ref = soft_value_iteration(mdp, r)
    D_ref = visitation(mdp, ref.policy)
    for dtype in (torch.float32, torch.float64):
        sol, D = soft_messages(mdp.to("cuda", dtype), r.to("cuda", dtype), fused=fused)
        assert D.device.type == "cuda"
        bound = 1e-5 if dtype == torch.float32 else 1e-12
        for x, want in ((sol.v, ref.v), (sol.policy, ref.policy), (D, D_ref)):
            assert rel_err(x, want) <= bound
