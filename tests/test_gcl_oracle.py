"""Guided cost learning's importance weights, and the exact-gradient oracle that scores its estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import random_transitions

from irl.data import Demos
from irl.envs import TabularMDP, gridworld_mdp
from irl.envs.demo_counts import demo_counts
from irl.inverse.adversarial.losses import discriminator_loss
from irl.inverse.adversarial.rewards import airl_logit
from irl.inverse.gcl import (
    Trajectories,
    causal_gradient,
    cosine,
    discriminator_log_partition,
    effective_sample_size,
    enumerate_trajectories,
    episode_sums,
    fused_log_density,
    gan_gcl_gradient,
    gan_gcl_log_weights,
    gcl_gradient,
    relative_error,
    sample_average_gradient,
    sample_trajectories,
    tempered_log_weights,
    trajectory_counts,
    trajectory_gradient,
    trajectory_log_probs,
    trajectory_log_weights,
    trajectory_returns,
)
from irl.inverse.maxent_objective import maxent_objective
from irl.solvers import soft_value_iteration, visitation

F64 = torch.float64


# ------------------------------------------------------------------------------------- weights
def test_trajectory_log_weights_three_trajectories_by_hand():
    # returns r(τ) = 1, 2, 0 and sampler densities q(τ) = 1/2, 1/4, 1/4:
    # w = e/(1/2), e²/(1/4), 1/(1/4) = 2e, 4e², 4 = 5.436564, 29.556224, 4; Σw = 38.992788
    # w̄ = 0.139425, 0.757992, 0.102583
    log_r = torch.tensor([1.0, 2.0, 0.0], dtype=F64)
    log_q = torch.log(torch.tensor([0.5, 0.25, 0.25], dtype=F64))
    log_w = trajectory_log_weights(log_r, log_q)
    torch.testing.assert_close(log_w.exp(), torch.tensor([0.139425, 0.757992, 0.102583], dtype=F64), atol=1e-6,
                               rtol=0)
    e = math.e
    assert float(log_w[1]) == pytest.approx(2 + math.log(4) - math.log(2 * e + 4 * e**2 + 4), abs=1e-14)
    # Kish: 1 / Σ w̄² = 1 / (0.139425² + 0.757992² + 0.102583²) = 1 / 0.604515 = 1.654220
    assert float(effective_sample_size(log_w)) == pytest.approx(1.654220, abs=1e-6)
    # the same ESS from the unnormalised weights
    assert float(effective_sample_size(log_r - log_q)) == pytest.approx(1.654220, abs=1e-6)


def test_fused_density_and_effective_sample_size_by_hand():
    # two samplers, two trajectories: q_1 = (0.2, 0.4), q_2 = (0.5, 0.1) → mean (0.35, 0.25)
    log_q_k = torch.log(torch.tensor([[0.2, 0.4], [0.5, 0.1]], dtype=F64))
    torch.testing.assert_close(fused_log_density(log_q_k).exp(), torch.tensor([0.35, 0.25], dtype=F64))
    # proportions (3/4, 1/4): 0.75·0.2 + 0.25·0.5 = 0.275, 0.75·0.4 + 0.25·0.1 = 0.325
    fused = fused_log_density(log_q_k, torch.tensor([0.75, 0.25], dtype=F64)).exp()
    torch.testing.assert_close(fused, torch.tensor([0.275, 0.325], dtype=F64))
    # weights (1, 1, 2): (Σw)²/Σw² = 16/6; J equal weights: J; one weight dominating: 1
    assert float(effective_sample_size(torch.log(torch.tensor([1.0, 1.0, 2.0], dtype=F64)))) == pytest.approx(8 / 3)
    assert float(effective_sample_size(torch.zeros(7, dtype=F64))) == pytest.approx(7.0)
    assert float(effective_sample_size(torch.tensor([0.0, -800.0, -900.0], dtype=F64))) == pytest.approx(1.0)


def test_weights_never_overflow():
    # exp(1000) overflows float64; the weights are a softmax of (1000, 1001, 999): e⁻¹, 1, e⁻² over their sum
    log_r = torch.tensor([1000.0, 1001.0, 999.0], dtype=F64)
    log_w = trajectory_log_weights(log_r, torch.zeros(3, dtype=F64))
    z = math.exp(-1) + 1 + math.exp(-2)
    torch.testing.assert_close(log_w.exp(), torch.tensor([math.exp(-1), 1, math.exp(-2)], dtype=F64) / z)
    assert float(effective_sample_size(torch.tensor([1e4, 1e4], dtype=F64))) == pytest.approx(2.0)
    assert torch.isfinite(fused_log_density(torch.tensor([[-1e4, 0.0], [-2e4, 5.0]], dtype=F64))).all()
    # float32 too
    assert torch.isfinite(trajectory_log_weights(log_r.float(), torch.full((3,), -500.0))).all()


def test_weight_functions_reject_bad_input():
    with pytest.raises(ValueError, match=r"log_q must have log_r's shape \(3,\)"):
        trajectory_log_weights(torch.zeros(3, dtype=F64), torch.zeros(2, dtype=F64))
    with pytest.raises(ValueError, match=r"1-d floating tensor \(J,\)"):
        trajectory_log_weights(torch.zeros(3, 1, dtype=F64), torch.zeros(3, 1, dtype=F64))
    with pytest.raises(ValueError, match="q cannot have drawn it"):
        trajectory_log_weights(torch.zeros(2, dtype=F64), torch.tensor([0.0, -math.inf], dtype=F64))
    with pytest.raises(ValueError, match=r"\(K, J\)"):
        fused_log_density(torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match="proportions must be"):
        fused_log_density(torch.zeros(2, 3, dtype=F64), torch.tensor([0.5, 0.6], dtype=F64))
    with pytest.raises(ValueError, match="NaN"):
        effective_sample_size(torch.tensor([0.0, math.nan], dtype=F64))
    with pytest.raises(ValueError, match="n_demos"):
        gan_gcl_log_weights(torch.zeros(3, dtype=F64), torch.zeros(3, dtype=F64), 3)


def test_tempered_weights_keep_the_effective_sample_size_asked_for():
    """Weights 1, 1, 1, e^10: at β the ESS is (3 + x)² / (3 + x²) with x = e^{10β}; a share of 1/2 asks for
    ESS 2, and (3 + x)² = 2 (3 + x²) has the root x = 3 + √12 above 1."""
    log_w = torch.tensor([0.0, 0.0, 0.0, 10.0], dtype=torch.float64)
    tempered, beta = tempered_log_weights(log_w, 0.5)
    x = 3 + math.sqrt(12)
    assert beta == pytest.approx(math.log(x) / 10, abs=1e-8)
    assert tempered.exp().tolist() == pytest.approx([1 / (3 + x)] * 3 + [x / (3 + x)], abs=1e-8)
    assert float(effective_sample_size(tempered)) == pytest.approx(2.0, abs=1e-6)
    # weights whose ESS is already high enough are left as they are (β = 1): importance sampling unchanged
    mild = torch.tensor([0.0, 0.1, -0.2, 0.3], dtype=torch.float64)
    same, beta = tempered_log_weights(mild, 0.5)
    assert beta == 1.0 and torch.allclose(same, trajectory_log_weights(mild, torch.zeros(4, dtype=torch.float64)))
    # a trajectory of weight 0 stays at 0; the gradient flows to the finite ones
    log_w = torch.tensor([-math.inf, 0.0, 5.0], dtype=torch.float64, requires_grad=True)
    out, _ = tempered_log_weights(log_w, 0.9)
    assert out[0] == -math.inf and torch.isfinite(out[1:]).all()
    out[2].backward()
    assert torch.isfinite(log_w.grad[1:]).all()
    with pytest.raises(ValueError, match="min_ess_share must lie in"):
        tempered_log_weights(mild, 0.0)


def test_episode_sums_by_hand_and_keeps_the_graph():
    # episodes [1, 2], [3], [4, 5, 6] → 3, 3, 15
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=F64, requires_grad=True)
    sums = episode_sums(x, torch.tensor([0, 2, 3]))
    torch.testing.assert_close(sums, torch.tensor([3.0, 3.0, 15.0], dtype=F64))
    sums.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones(6, dtype=F64))
    with pytest.raises(ValueError, match="episode_starts"):
        episode_sums(x, torch.tensor([1, 3]))


# ------------------------------------------------------------------------------- small models
def _random_mdp(seed: int, S: int = 4, A: int = 2, T: int = 4, *, deterministic: bool,
                starts: tuple[int, ...] = (0,)) -> TabularMDP:
    rng = np.random.default_rng(seed)
    P = random_transitions(rng, S, A, deterministic=deterministic)
    initial = np.zeros(S)
    initial[list(starts)] = 1.0 / len(starts)
    return TabularMDP.from_arrays(transitions=P, initial=initial, horizon=T)


def _table(seed: int, S: int, A: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(S, A, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _as_demos(trajs: Trajectories) -> Demos:
    """Full-length episodes as Demos; the last step's next state lies past the horizon and is never
    used, so it repeats the last state."""
    episodes = [{"observations": s.numpy(), "actions": a.numpy(),
                 "next_observations": np.append(s.numpy()[1:], s.numpy()[-1]), "truncated": True}
                for s, a in zip(trajs.states, trajs.actions, strict=True)]
    return Demos.from_episodes(episodes, metadata={"env": None}, check_env=False)


def _literal_log_likelihood(P: torch.Tensor, T: int, r: torch.Tensor, trajs: Trajectories) -> torch.Tensor:
    """``(1/E) Σ_i Σ_t log π_t(a_t|s_t)`` of finite-horizon soft VI written plainly, so autograd runs through it."""
    v, log_pi = torch.zeros(r.shape[0], dtype=r.dtype), [None] * T
    for t in range(T - 1, -1, -1):
        q = r + P @ v
        v = torch.logsumexp(q, -1)
        log_pi[t] = q - v[:, None]
    steps = torch.stack(log_pi)[torch.arange(T), trajs.states, trajs.actions]
    return steps.sum() / len(trajs)


# ----------------------------------------------------------------------------- exact gradients
def test_causal_gradient_equals_autograd_of_the_maxent_objective():
    mdp = _random_mdp(0, S=5, A=3, T=5, deterministic=False, starts=(0, 1))
    g = torch.Generator().manual_seed(0)
    uniform = torch.full((5, 3), 1 / 3, dtype=F64)
    trajs = sample_trajectories(mdp, uniform, 6, generator=g)
    counts = demo_counts(mdp, _as_demos(trajs))
    r = _table(1, 5, 3)
    theta = r.clone().requires_grad_(True)
    literal = _literal_log_likelihood(mdp.dense_transitions(), 5, theta, trajs)
    (autograd,) = torch.autograd.grad(literal, theta)
    evaluation = maxent_objective(mdp, counts, r)
    assert float(evaluation.value) == pytest.approx(float(literal.detach()), abs=1e-12)
    ours = causal_gradient(mdp, r, counts.counts, initial=counts.likelihood_mass)
    torch.testing.assert_close(ours, autograd, atol=1e-12, rtol=0)
    torch.testing.assert_close(evaluation.grad, autograd, atol=1e-12, rtol=0)
    assert autograd.abs().max() > 0.1  # a non-trivial point
    # the demos' counts are the trajectories' counts
    torch.testing.assert_close(counts.counts, trajectory_counts(trajs, 5, 3))


def test_trajectory_level_equals_causal_only_when_nature_has_no_choice():
    r = _table(2, 4, 2, scale=1.5)
    demo = trajectory_counts(Trajectories(torch.tensor([[0, 1, 2, 3]]), torch.tensor([[0, 1, 1, 0]])), 4, 2)
    for seed in (0, 1):
        # deterministic dynamics from one start: every trajectory is an action sequence, the models agree
        det = _random_mdp(seed, deterministic=True)
        enumerated = trajectory_gradient(det, r, demo, by_enumeration=True)
        torch.testing.assert_close(enumerated, causal_gradient(det, r, demo), atol=1e-12, rtol=0)
        torch.testing.assert_close(enumerated, trajectory_gradient(det, r, demo), atol=1e-12, rtol=0)
        # stochastic dynamics: the trajectory-level model also tilts the successors; the messages agree
        # with the enumeration, and the causal gradient differs
        sto = _random_mdp(seed, deterministic=False)
        enumerated = trajectory_gradient(sto, r, demo, by_enumeration=True)
        torch.testing.assert_close(enumerated, trajectory_gradient(sto, r, demo), atol=1e-12, rtol=0)
        assert (enumerated - causal_gradient(sto, r, demo)).abs().max() > 0.05
        # deterministic dynamics but two starts: the trajectory-level model prefers the better start
        two = _random_mdp(seed, deterministic=True, starts=(0, 1))
        enumerated = trajectory_gradient(two, r, demo, by_enumeration=True)
        torch.testing.assert_close(enumerated, trajectory_gradient(two, r, demo), atol=1e-12, rtol=0)
        assert (enumerated - causal_gradient(two, r, demo)).abs().max() > 0.05
    # the enumeration is complete: 1 start x (2 actions x 4 successors)^3 x 2 actions
    trajs, log_p = enumerate_trajectories(_random_mdp(0, deterministic=False))
    assert len(trajs) == 8**3 * 2
    # and its dynamics probabilities sum to 1 for each of the 2^4 action sequences
    assert float(torch.logsumexp(log_p, 0)) == pytest.approx(math.log(2**4), abs=1e-12)


def test_trajectory_functions_by_hand_and_sampling_is_seeded():
    policy = torch.tensor([[0.25, 0.75], [0.5, 0.5]], dtype=F64)
    trajs = Trajectories(torch.tensor([[0, 1, 1]]), torch.tensor([[1, 0, 1]]))
    # log q = log 0.75 + log 0.5 + log 0.5; r = r(0,1) + r(1,0) + r(1,1) = 2 + 3 + 4
    assert float(trajectory_log_probs(policy, trajs)) == pytest.approx(math.log(0.75 * 0.25))
    assert float(trajectory_returns(torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64), trajs)) == 9.0
    torch.testing.assert_close(trajectory_counts(trajs, 2, 2), torch.tensor([[0.0, 1.0], [1.0, 1.0]], dtype=F64))
    mdp = gridworld_mdp(3, slip=0.2, horizon=6, initial="uniform")
    pi = soft_value_iteration(mdp, _table(3, 9, 5)).policy
    a = sample_trajectories(mdp, pi, 50, generator=torch.Generator().manual_seed(7))
    b = sample_trajectories(mdp, pi, 50, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.states, b.states) and torch.equal(a.actions, b.actions)
    # the sampler follows the model: its counts approach the policy's visitation
    many = sample_trajectories(mdp, pi, 20000, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(trajectory_counts(many, 9, 5), visitation(mdp, pi), atol=0.03, rtol=0)


# ---------------------------------------------------------------------------- sampled estimates
def _gridworld_task(seed: int, slip: float = 0.0, n_demos: int = 100):
    """A 5x5 gridworld (corner start, 10 steps), soft-optimal demos of a random reward, and a different θ."""
    mdp = gridworld_mdp(5, slip=slip, horizon=10, initial="corner", reward="random", reward_seed=seed)
    g = torch.Generator().manual_seed(100 + seed)
    demos = sample_trajectories(mdp, soft_value_iteration(mdp, mdp.reward).policy, n_demos, generator=g)
    theta = _table(200 + seed, 25, 5, scale=0.5)
    sampler = 0.7 * soft_value_iteration(mdp, theta).policy + 0.3 / 5  # the current policy, mixed with uniform
    return mdp, demos, trajectory_counts(demos, 25, 5), theta, sampler, g


def test_gcl_with_weights_reaches_the_exact_gradient_and_beats_the_unweighted_estimate():
    for seed in (0, 1):
        mdp, _, demo, theta, sampler, g = _gridworld_task(seed)
        exact = causal_gradient(mdp, theta, demo)
        samples = sample_trajectories(mdp, sampler, 10_000, generator=g)
        weighted = gcl_gradient(theta, demo, samples, trajectory_log_probs(sampler, samples))
        plain = sample_average_gradient(demo, samples)
        assert cosine(weighted, exact) >= 0.9
        # q's own counts point the right way too (the demo term dominates), but are biased in length
        assert cosine(weighted, exact) > cosine(plain, exact)
        assert relative_error(weighted, exact) < 0.5 * relative_error(plain, exact)


def test_gan_gcl_is_importance_sampling_with_the_demos_in_the_background():
    mdp, demos, demo, theta, sampler, g = _gridworld_task(0, slip=0.2, n_demos=30)
    samples = sample_trajectories(mdp, sampler, 200, generator=g)
    pool = demos.cat(samples)
    log_r, log_q = trajectory_returns(theta, pool), trajectory_log_probs(sampler, pool)
    N = len(demos)
    # the discriminator's log Z is stationary: ∂ loss / ∂ log Z = 0
    log_z = discriminator_log_partition(log_r, log_q, N).requires_grad_(True)
    loss = discriminator_loss(airl_logit(log_r[:N] - log_z, log_q[:N]), airl_logit(log_r[N:] - log_z, log_q[N:]))
    (d_log_z,) = torch.autograd.grad(loss, log_z)
    assert abs(float(d_log_z)) < 1e-10
    # the loss's θ-gradient is GCL's estimate over the pool with GAN-GCL's weights
    by_loss = gan_gcl_gradient(theta, demos, samples, sampler)
    by_weights = demo - trajectory_counts(pool, 25, 5, gan_gcl_log_weights(log_r, log_q, N).exp())
    torch.testing.assert_close(by_loss, by_weights, atol=1e-12, rtol=0)
    # pooled loss (every trajectory weighted alike): self-normalised weights against the fused density
    # of the demos' fitted density exp(r)/Ẑ and q, in the proportions N : M
    share = N / len(pool)
    log_w = gan_gcl_log_weights(log_r, log_q, N, demo_share=None)
    log_z_hat = discriminator_log_partition(log_r, log_q, N, demo_share=None) + math.log(share / (1 - share))
    mixture = fused_log_density(torch.stack([log_r - log_z_hat, log_q]), torch.tensor([share, 1 - share], dtype=F64))
    torch.testing.assert_close(log_w, trajectory_log_weights(log_r, mixture), atol=1e-12, rtol=0)
    theta_ = theta.clone().requires_grad_(True)
    logits = trajectory_returns(theta_, pool) - log_z_hat - math.log((1 - share) / share) - log_q
    pooled = torch.nn.functional.softplus(-logits[:N]).sum() + torch.nn.functional.softplus(logits[N:]).sum()
    (grad,) = torch.autograd.grad(pooled / N, theta_)
    torch.testing.assert_close(-grad, demo - trajectory_counts(pool, 25, 5, log_w.exp()), atol=1e-12, rtol=0)


def test_gan_gcl_approaches_the_exact_gradient_as_samples_grow():
    """In direction: its estimate is the MaxEnt gradient with each trajectory's counts scaled by
    1 - D(τ), so cosine rises to near 1 while the length stays off by about the mean of 1 - D."""
    few, many = [], []
    for seed in (0, 1, 2):
        mdp, demos, demo, theta, sampler, g = _gridworld_task(seed)
        exact = causal_gradient(mdp, theta, demo)
        few.append(cosine(gan_gcl_gradient(theta, demos, sample_trajectories(mdp, sampler, 10, generator=g),
                                           sampler), exact))
        many.append(cosine(gan_gcl_gradient(theta, demos, sample_trajectories(mdp, sampler, 10_000, generator=g),
                                            sampler), exact))
    assert min(many) >= 0.98
    assert np.mean(many) > np.mean(few) + 0.02


def test_oracle_rejects_what_it_cannot_model():
    with pytest.raises(ValueError, match=r"\(J, T\) int64"):
        Trajectories(torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2, 4, dtype=torch.int64))
    discounted = gridworld_mdp(2, slip=0.0, horizon=3).replace(discount=0.9)
    with pytest.raises(ValueError, match="no discount"):
        trajectory_gradient(discounted, torch.zeros(4, 5, dtype=F64), torch.zeros(4, 5, dtype=F64))
    mdp = gridworld_mdp(2, slip=0.0, horizon=3)
    with pytest.raises(ValueError, match=r"policy must be \(4, 5\) or \(3, 4, 5\)"):
        sample_trajectories(mdp, torch.full((4, 4), 0.25, dtype=F64), 5, generator=torch.Generator())
    with pytest.raises(ValueError, match="demo_counts must be"):
        causal_gradient(mdp, torch.zeros(4, 5, dtype=F64), torch.zeros(4, dtype=F64))
    with pytest.raises(ValueError, match="too large to enumerate"):
        enumerate_trajectories(gridworld_mdp(3, slip=0.2, horizon=8))


def test_scores_by_hand():
    x = torch.tensor([3.0, 4.0], dtype=F64)
    assert cosine(torch.tensor([4.0, -3.0], dtype=F64), x) == pytest.approx(0.0)
    assert cosine(2 * x, x) == pytest.approx(1.0)
    assert relative_error(torch.tensor([3.0, 0.0], dtype=F64), x) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="one shape"):
        cosine(x, torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match="exact gradient is 0"):
        relative_error(x, torch.zeros(2, dtype=F64))
