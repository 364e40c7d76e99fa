"""Feature-matching IRL: apprenticeship learning (projection, max-margin) and maximum margin planning.

The pure pieces against numbers worked by hand; the fits on small gridworlds whose true
reward is linear in the features (``features="blocks"``): feature gap, monotone margins,
regret, the MMP margin checked by brute force over every action sequence, and
degenerate inputs.
"""

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from irl.data import Demos
from irl.envs import gridworld_mdp
from irl.envs.demo_counts import demo_counts
from irl.envs.gridworld import grid_successors
from irl.inverse import apprenticeship, mmp
from irl.inverse.apprenticeship import ApprenticeshipConfig, projection_update
from irl.inverse.feature_matching import mixture_policy
from irl.inverse.feature_qp import closest_mixture, max_margin_direction
from irl.inverse.registry import ALGORITHMS, get_algorithm
from irl.metrics import regret
from irl.runs.generate import generate_tabular_demos
from irl.solvers import feature_expectations, hard_value_iteration, visitation

METADATA = {"format_version": 1, "env": None, "discount": None, "provenance": {}}
VARIANTS = ["projection", "max-margin"]
EPS = 0.05


# ------------------------------------------------------------------ helpers
def projection(**settings):
    return ApprenticeshipConfig(variant="projection", **settings)


def max_margin(**settings):
    return ApprenticeshipConfig(variant="max-margin", **settings)


def path_demos(size, paths):
    """Demos on a ``size`` grid from ``[(start_state, [actions...]), ...]``, each truncated at its end."""
    succ = grid_successors(size)
    obs, act, nxt, starts, timeouts = [], [], [], [], []
    for start, actions in paths:
        starts.append(len(obs))
        s = start
        for a in actions:
            obs.append(s)
            act.append(a)
            s = int(succ[s, a])
            nxt.append(s)
            timeouts.append(False)
        timeouts[-1] = True
    return Demos.build(
        observations=np.array(obs), actions=np.array(act), next_observations=np.array(nxt),
        terminals=np.zeros(len(obs), bool), timeouts=np.array(timeouts), episode_starts=np.array(starts),
        metadata=METADATA, check_env=False,
    )


def grid_kwargs(size=5, slip=0.0):
    return {"size": size, "slip": slip, "reward": "random", "features": "blocks"}


@pytest.fixture(scope="module")
def grid():
    """5x5 deterministic grid, 9 block features, a linear random reward; 30 near-greedy demos."""
    kw = grid_kwargs()
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=30, seed=0, temperature=0.1)
    return gridworld_mdp(**kw), demos


@pytest.fixture(scope="module")
def fits(grid):
    mdp, demos = grid
    return {v: apprenticeship.fit(mdp, demos, config=ApprenticeshipConfig(v, epsilon=EPS, max_iters=100))
            for v in VARIANTS}


# ------------------------------------------------------------- pure math
def test_max_margin_direction_by_hand():
    # The hull of (-1, 0) and (1, 0) is the segment on the x axis: μ_E = (0, 2) is 2 above it.
    w, t = max_margin_direction(np.array([0.0, 2.0]), np.array([[-1.0, 0.0], [1.0, 0.0]]))
    assert t == pytest.approx(2.0, abs=1e-6)
    np.testing.assert_allclose(w, [0.0, 1.0], atol=1e-6)
    # One policy: w points from it to μ_E, t is the distance.
    w, t = max_margin_direction(np.array([3.0, 4.0]), np.zeros((1, 2)))
    assert t == pytest.approx(5.0, abs=1e-6)
    np.testing.assert_allclose(w, [0.6, 0.8], atol=1e-6)
    # Inside the hull: no direction separates μ_E, t = 0.
    _, t = max_margin_direction(np.zeros(2), np.array([[-1.0, -1.0], [1.0, -1.0], [0.0, 1.0]]))
    assert abs(t) < 1e-6
    with pytest.raises(ValueError, match="expert must be"):
        max_margin_direction(np.zeros(2), np.zeros((1, 3)))


def test_projection_update_by_hand():
    # Projection of (1, 1) onto the segment (0, 0) -> (2, 0) is (1, 0).
    np.testing.assert_allclose(projection_update([1.0, 1.0], [0.0, 0.0], [2.0, 0.0]), [1.0, 0.0])
    # Beyond the segment's end: clipped to the end point, (1, 0), not the line's (3, 0).
    np.testing.assert_allclose(projection_update([3.0, 1.0], [0.0, 0.0], [1.0, 0.0]), [1.0, 0.0])
    # Pointing away: stays put, so ‖μ_E − μ̄‖ cannot grow.
    np.testing.assert_allclose(projection_update([1.0, 1.0], [0.0, 0.0], [-1.0, 0.0]), [0.0, 0.0])
    # A new point equal to the mean: nothing to project on.
    np.testing.assert_allclose(projection_update([1.0, 1.0], [0.5, 0.0], [0.5, 0.0]), [0.5, 0.0])


def test_closest_mixture_by_hand():
    lam, gap = closest_mixture(np.array([0.0, 1.0]), np.array([[-1.0, 0.0], [1.0, 0.0]]))
    np.testing.assert_allclose(lam, [0.5, 0.5], atol=1e-6)
    assert gap == pytest.approx(1.0, abs=1e-6)
    lam, gap = closest_mixture(np.array([0.25, 0.0]), np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]]))
    np.testing.assert_allclose(lam, [0.75, 0.25, 0.0], atol=1e-6)
    assert gap < 1e-6
    lam, gap = closest_mixture(np.array([1.0, 1.0]), np.array([[1.0, 0.0]]))
    assert lam.tolist() == [1.0] and gap == 1.0


@pytest.mark.parametrize("discounted", [False, True])
def test_mixture_policy_visits_as_the_mixture_does(discounted):
    mdp = gridworld_mdp(3, 0.3, reward="random", features="onehot")
    if discounted:
        mdp = mdp.replace(horizon=None, discount=0.8)
    rng = np.random.default_rng(0)
    shape = (mdp.n_states, 5) if discounted else (mdp.horizon, mdp.n_states, 5)
    policies = [torch.as_tensor(rng.dirichlet(np.ones(5), size=shape[:-1])) for _ in range(3)]
    policies[1] = policies[1] * 0 + torch.eye(5, dtype=torch.float64)[1]  # a deterministic one too
    weights = np.array([0.2, 0.5, 0.3])
    mixed = mixture_policy(mdp, policies, weights, mdp.initial)
    assert mixed.shape == shape
    expected = sum(w * visitation(mdp, p) for w, p in zip(weights, policies))
    torch.testing.assert_close(visitation(mdp, mixed), expected, rtol=1e-10, atol=1e-12)
    # A single policy is its own mixture.
    torch.testing.assert_close(mixture_policy(mdp, policies[:1], np.ones(1), mdp.initial), policies[0])


# -------------------------------------------------- apprenticeship learning
@pytest.mark.parametrize("variant", VARIANTS)
def test_final_mixture_is_within_epsilon_of_the_expert(fits, variant):
    res = fits[variant]
    assert res.converged and res.stop_reason == "margin"
    assert res.margins[-1] <= EPS
    assert res.mixture_gap <= EPS + 1e-7
    assert res.mixture.min() >= 0 and res.mixture.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(
        np.linalg.norm(res.expert_features - res.mixture @ res.feature_expectations), res.mixture_gap,
        atol=1e-9,
    )
    assert res.iterations == len(res.margins) == len(res.policies) == len(res.log)
    assert res.feature_expectations.shape == (res.iterations, 9)


def test_feature_expectations_of_found_policies_are_exact(grid, fits):
    mdp, demos = grid
    res = fits["max-margin"]
    counts = demo_counts(mdp, demos)
    for policy, mu in zip(res.policies, res.feature_expectations):
        D = visitation(mdp, policy, initial=counts.start_mass)
        np.testing.assert_allclose(mu, (D.sum(-1) @ mdp.features).numpy(), rtol=1e-10)
    expert = (counts.counts.sum(-1) @ mdp.features).numpy()
    np.testing.assert_allclose(res.expert_features, expert, rtol=1e-12)


def test_max_margin_final_margin_is_the_distance_to_the_hull(fits):
    # The max-margin t is the distance from μ_E to the hull of the μ's it was given: the
    # mixture QP over the same policies must find the same number.
    res = fits["max-margin"]
    assert res.margins[-1] == pytest.approx(res.mixture_gap, abs=1e-5)


@pytest.mark.parametrize("slip", [0.0, 0.2])
def test_projection_margin_never_increases(slip):
    kw = grid_kwargs(4, slip)
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=20, seed=1)
    res = apprenticeship.fit(gridworld_mdp(**kw), demos, config=projection(epsilon=1e-3, max_iters=40))
    assert len(res.margins) > 3
    assert np.all(np.diff(res.margins) <= 1e-12)
    # The projection's μ̄ is a mixture of the policies, so the best mixture is at least as close.
    assert res.mixture_gap <= res.margins[-1] + 1e-7


@pytest.mark.parametrize("variant", VARIANTS)
def test_learned_reward_has_low_regret(grid, fits, variant):
    mdp, _ = grid
    res = fits[variant]
    assert res.reward_table.shape == (25, 5)
    assert np.linalg.norm(res.w) == pytest.approx(1.0)
    assert regret(mdp, mdp.reward, res.reward_table).normalized < 0.1
    # A reward that ignores the demos does much worse: the threshold means something here.
    assert regret(mdp, mdp.reward, -mdp.reward).normalized > 1.0


def test_learned_reward_model_matches_w(grid, fits):
    mdp, _ = grid
    res = fits["projection"]
    np.testing.assert_allclose(res.reward_model.weights.detach().numpy(), res.w)
    table = (mdp.features @ torch.as_tensor(res.w)).numpy()[:, None].repeat(5, 1)
    np.testing.assert_allclose(res.reward_table, table)


@pytest.mark.parametrize("variant", VARIANTS)
def test_policy_is_the_mixture_and_matches_the_expert(grid, fits, variant):
    mdp, demos = grid
    res = fits[variant]
    assert res.policy.shape == (mdp.horizon, 25, 5)
    counts = demo_counts(mdp, demos)  # full-length demos: the start mass is the start distribution
    mu = feature_expectations(mdp.features, visitation(mdp, res.policy, initial=counts.start_mass)).numpy()
    np.testing.assert_allclose(mu, res.mixture @ res.feature_expectations, atol=1e-9)
    assert np.linalg.norm(mu - res.expert_features) <= EPS + 1e-7


@pytest.mark.parametrize("variant", VARIANTS)
def test_same_seed_same_run(grid, variant):
    mdp, demos = grid
    cfg = ApprenticeshipConfig(variant=variant, epsilon=0.2, max_iters=8, initial_policy="random", seed=3)
    a, b = apprenticeship.fit(mdp, demos, config=cfg), apprenticeship.fit(mdp, demos, config=cfg)
    assert a.margins == b.margins
    np.testing.assert_array_equal(a.feature_expectations, b.feature_expectations)
    other = apprenticeship.fit(mdp, demos, config=dataclasses.replace(cfg, seed=4))
    assert not np.array_equal(other.feature_expectations[0], a.feature_expectations[0])


# ------------------------------------------------------- degenerate inputs
@pytest.mark.parametrize("variant", VARIANTS)
def test_epsilon_met_at_iteration_zero(grid, variant):
    mdp, demos = grid
    res = apprenticeship.fit(mdp, demos, config=ApprenticeshipConfig(variant=variant, epsilon=1e6))
    assert res.converged and res.iterations == 1 and len(res.policies) == 1
    assert res.mixture.tolist() == [1.0]
    assert res.mixture_gap == pytest.approx(res.margins[0], abs=1e-5)
    assert np.isfinite(res.reward_table).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_constant_features_match_at_once_with_a_zero_reward(variant):
    # Every policy has the same feature expectations (the total mass): nothing to separate.
    mdp = gridworld_mdp(4, 0.0, reward="random", features="blocks")
    mdp = mdp.replace(features=torch.ones(16, 1, dtype=torch.float64))
    demos = path_demos(4, [(0, [4, 4, 2, 2, 0, 0, 0, 0])])
    res = apprenticeship.fit(mdp, demos, config=ApprenticeshipConfig(variant=variant))
    assert res.converged and res.iterations == 1
    assert abs(res.margins[0]) < 1e-6
    np.testing.assert_array_equal(res.w, [0.0])
    np.testing.assert_array_equal(res.reward_table, np.zeros((16, 5)))
    res = mmp.fit(mdp, demos, max_iters=5)
    assert abs(res.w[0]) < 1e-12  # round-off only: every plan has the same features


def test_duplicated_features_scale_the_projection_margins(grid):
    # φ' = [φ, φ]: every w' = [w, w], the same greedy policies, margins times √2.
    mdp, demos = grid
    twice = mdp.replace(features=torch.cat([mdp.features, mdp.features], dim=1))
    cfg = projection(epsilon=EPS, max_iters=8)
    a, b = apprenticeship.fit(mdp, demos, config=cfg), apprenticeship.fit(twice, demos, config=cfg)
    np.testing.assert_allclose(b.margins, np.sqrt(2) * np.array(a.margins), rtol=1e-9)
    for p, q in zip(a.policies, b.policies):
        torch.testing.assert_close(p, q)
    np.testing.assert_allclose(b.reward_table, np.sqrt(2) * a.reward_table, rtol=1e-9, atol=1e-12)


def test_duplicated_features_max_margin_still_matches(grid):
    mdp, demos = grid
    twice = mdp.replace(features=torch.cat([mdp.features, mdp.features], dim=1))
    res = apprenticeship.fit(twice, demos, config=max_margin(epsilon=EPS * math.sqrt(2)))
    assert res.converged and res.mixture_gap <= EPS * math.sqrt(2) + 1e-7
    np.testing.assert_allclose(res.w[:9], res.w[9:], atol=1e-4)  # the norm splits evenly


def test_single_demo_on_a_deterministic_grid_is_matched():
    # One path is a vertex of the set of reachable feature expectations. Max-margin lands on it;
    # projection zig-zags towards it (its t falls slowly) but its mixture of policies matches it.
    mdp = gridworld_mdp(4, 0.0, reward="random", features="blocks")
    demos = path_demos(4, [(5, [4, 2, 2, 0, 0, 3, 1, 4])])
    res = apprenticeship.fit(mdp, demos, config=max_margin(epsilon=EPS))
    assert res.converged and res.mixture_gap <= EPS + 1e-7
    res = apprenticeship.fit(mdp, demos, config=projection(epsilon=EPS, max_iters=20))
    assert res.stop_reason == "max_iters" and not res.converged
    assert np.all(np.diff(res.margins) <= 1e-12)
    assert res.mixture_gap <= EPS


@pytest.mark.parametrize("variant", VARIANTS)
def test_single_demo_on_a_slippery_grid_ends_cleanly(variant):
    kw = grid_kwargs(4, 0.3)
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=1, seed=2)
    cfg = ApprenticeshipConfig(variant=variant, epsilon=1e-3, max_iters=30)
    res = apprenticeship.fit(gridworld_mdp(**kw), demos, config=cfg)
    assert res.stop_reason in ("margin", "stalled", "max_iters")
    assert res.converged == (res.stop_reason == "margin")
    assert np.isfinite(res.margins).all() and np.isfinite(res.reward_table).all()
    assert res.mixture.min() >= 0 and res.mixture.sum() == pytest.approx(1.0)


def test_unreachable_expert_stalls():
    # Demos that teleport between opposite corners: no policy of the grid reaches their features.
    # Max-margin stops as soon as a new policy no longer helps; its t is then the distance from
    # μ_E to every reachable μ (the last w separates them all), which projection cannot beat.
    mdp = gridworld_mdp(4, 0.0, reward="random", features="blocks")
    teleport = Demos.build(
        observations=np.array([0, 15, 0, 15, 0, 15, 0, 15]), actions=np.zeros(8, int),
        next_observations=np.array([15, 0, 15, 0, 15, 0, 15, 0]), terminals=np.zeros(8, bool),
        timeouts=np.eye(8, dtype=bool)[-1], episode_starts=np.array([0]), metadata=METADATA, check_env=False,
    )
    res = apprenticeship.fit(mdp, teleport, config=max_margin(epsilon=1e-3, max_iters=200))
    assert res.stop_reason == "stalled" and not res.converged
    assert res.iterations < 30
    distance = res.margins[-1]
    assert distance > 0.5 and res.mixture_gap == pytest.approx(distance, abs=1e-5)
    res = apprenticeship.fit(mdp, teleport, config=projection(epsilon=1e-3, max_iters=30))
    assert not res.converged and res.stop_reason in ("stalled", "max_iters")
    assert res.mixture_gap >= distance - 1e-5
    assert np.all(np.diff(res.margins) <= 1e-12) and res.margins[-1] >= distance - 1e-5


def test_mdp_without_features_is_a_clear_error():
    mdp = gridworld_mdp(3, 0.0, features=None)
    demos = path_demos(3, [(0, [4, 2])])
    with pytest.raises(ValueError, match="needs an MDP with features"):
        apprenticeship.fit(mdp, demos)
    with pytest.raises(ValueError, match="needs an MDP with features"):
        mmp.fit(mdp, demos)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("epsilon", -1.0, "epsilon"),
        ("max_iters", 0, "max_iters"),
        ("temperature", -0.5, "temperature"),
        ("initial_policy", "expert", "initial_policy"),
        ("reward_choice", "best", "reward_choice"),
        ("dtype", "float16", "dtype"),
        ("solver", "NOPE", "solver"),
        ("variant", "both", "variant"),
    ],
)
def test_bad_apprenticeship_config_is_a_clear_error(grid, field, value, match):
    mdp, demos = grid
    with pytest.raises(ValueError, match=match):
        apprenticeship.fit(mdp, demos, config=max_margin(), **{field: value})


def test_variant_is_a_validated_field_of_one_frozen_config():
    assert ApprenticeshipConfig().variant == "projection"
    with pytest.raises(ValueError, match="variant must be one of projection, max-margin"):
        ApprenticeshipConfig(variant="both")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ApprenticeshipConfig().variant = "max-margin"


def test_soft_policies_run(grid):
    mdp, demos = grid
    res = apprenticeship.fit(mdp, demos, config=projection(epsilon=EPS, max_iters=10, temperature=0.05))
    assert np.all(np.diff(res.margins) <= 1e-12)
    torch.testing.assert_close(res.policy.sum(-1), torch.ones(mdp.horizon, 25, dtype=torch.float64))


def test_float32_matches_float64(grid):
    mdp, demos = grid
    a = apprenticeship.fit(mdp, demos, config=max_margin(epsilon=0.5, max_iters=3))
    b = apprenticeship.fit(mdp, demos, config=max_margin(epsilon=0.5, max_iters=3, dtype="float32"))
    np.testing.assert_allclose(b.margins, a.margins, rtol=1e-4)


# ------------------------------------------------------ maximum margin planning
def test_action_loss_by_hand():
    counts = torch.tensor([[2.0, 0.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    loss = mmp.action_loss(counts, margin=2.0)
    expected = [[0.0, 2.0, 2.0], [1.5, 0.5, 2.0], [2.0, 2.0, 2.0]]
    np.testing.assert_allclose(loss.numpy(), expected)


def test_project_to_ball():
    w = torch.tensor([3.0, 4.0])
    torch.testing.assert_close(mmp.project_to_ball(w, 1.0), torch.tensor([0.6, 0.8]))
    torch.testing.assert_close(mmp.project_to_ball(w, 10.0), w)


def test_mmp_subgradient_matches_finite_differences():
    # Away from ties the loss-augmented plan is locally constant and c(w) is smooth: the
    # subgradient must be its gradient.
    kw = grid_kwargs(4, 0.2)
    mdp = gridworld_mdp(**kw)
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=10, seed=0)
    counts = demo_counts(mdp, demos)
    loss = mmp.action_loss(counts.counts)
    phi = mdp.features
    l2 = 0.3

    def objective(w):
        r = (phi @ w)[:, None] + loss
        D = visitation(mdp, hard_value_iteration(mdp, r).policy, initial=counts.start_mass)
        mu_plan = feature_expectations(phi, D)
        mu_demo = feature_expectations(phi, counts.counts)
        return mmp.mmp_objective(w, mu_demo, mu_plan, (r * D).sum(), (r * counts.counts).sum(), l2)

    w = torch.as_tensor(np.random.default_rng(0).standard_normal(phi.shape[1]))
    value, _, grad = objective(w)
    h = 1e-6
    basis = torch.eye(len(w), dtype=w.dtype)
    numeric = [(objective(w + h * e)[0] - objective(w - h * e)[0]) / (2 * h) for e in basis]
    np.testing.assert_allclose(np.array([float(x) for x in numeric]), grad.numpy(), rtol=1e-5, atol=1e-7)


def test_mmp_demonstrated_path_beats_every_alternative_by_its_loss():
    # 3x3 deterministic grid, horizon 6, one-hot state-action features: every one of the 5^6
    # action sequences from the demo's start must score at most the demo's score minus its loss.
    size, A = 3, 5
    mdp = gridworld_mdp(size, 0.0, reward="goal", features="onehot", initial="corner")
    S = mdp.n_states
    mdp = mdp.replace(features=torch.eye(S * A, dtype=torch.float64).reshape(S, A, S * A))
    demo_actions = [4, 4, 2, 2, 0, 0]
    res = mmp.fit(mdp, path_demos(size, [(0, demo_actions)]), l2=0.01, step_size=1.0, max_iters=100)
    r = res.reward_table
    loss = res.loss
    assert min(res.slacks) < 1e-9

    succ = grid_successors(size)
    seqs = np.array(list(itertools.product(range(A), repeat=mdp.horizon)))
    states = np.zeros(len(seqs), dtype=int)
    score = np.zeros(len(seqs))
    seq_loss = np.zeros(len(seqs))
    for t in range(mdp.horizon):
        score += r[states, seqs[:, t]]
        seq_loss += loss[states, seqs[:, t]]
        states = succ[states, seqs[:, t]]
    demo = int(np.flatnonzero((seqs == demo_actions).all(1))[0])
    assert seq_loss[demo] == 0.0
    others = np.arange(len(seqs)) != demo
    assert np.all(score[demo] - score[others] >= seq_loss[others] - 1e-6)
    # ... so the greedy policy of the learned reward walks the demonstrated path.
    s = 0
    for t, a in enumerate(demo_actions):
        assert int(res.policy[t, s].argmax()) == a and res.policy[t, s, a] == 1.0
        s = succ[s, a]


def test_mmp_learned_reward_has_low_regret(grid):
    mdp, demos = grid
    res = mmp.fit(mdp, demos, max_iters=100)
    assert regret(mdp, mdp.reward, res.reward_table).normalized < 0.1
    assert res.objectives[0] > min(res.objectives)
    best = int(np.argmin(res.objectives))
    np.testing.assert_allclose(res.w, res.weights[best])
    assert res.iterations == len(res.slacks) == len(res.objectives) == len(res.log)


@pytest.mark.parametrize(
    "field, value",
    [("l2", -1.0), ("margin", -1.0), ("step_size", 0.0), ("max_iters", 0), ("tol", -1.0), ("patience", 0),
     ("dtype", "half")],
)
def test_bad_mmp_config_is_a_clear_error(grid, field, value):
    mdp, demos = grid
    with pytest.raises(ValueError, match=field):
        mmp.fit(mdp, demos, **{field: value})


# ------------------------------------------------------------------ registry
@pytest.mark.parametrize(
    "name, config_class",
    [("projection", ApprenticeshipConfig), ("max-margin", ApprenticeshipConfig), ("mmp", mmp.MMPConfig)],
)
def test_registry_fits_with_the_common_signature(grid, name, config_class):
    mdp, demos = grid
    algo = get_algorithm(name)
    cfg = algo.make_config(max_iters=3, seed=1)
    assert type(cfg) is config_class
    if config_class is ApprenticeshipConfig:
        assert cfg.variant == name
    entries = []
    res = algo.fit_function()(mdp, demos, config=cfg, callback=entries.append)
    per_iteration = res.slacks if name == "mmp" else res.margins
    assert entries == res.log and len(per_iteration) == res.iterations
    assert res.reward_table.shape == (mdp.n_env_states, mdp.n_actions)
    for attr in ("reward_model", "policy", "converged", "seconds", "config"):
        assert hasattr(res, attr)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_registered_config_is_frozen_and_validated_on_construction(name):
    algo = get_algorithm(name)
    budget = "max_iters" if algo.tabular else "steps"  # the sampled algorithms count env (or cloning) steps
    cfg = algo.make_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cfg, budget, 1)
    with pytest.raises(ValueError, match=budget):
        algo.make_config(**{budget: 0})


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(grid):
    mdp, demos = grid
    a = apprenticeship.fit(mdp, demos, config=max_margin(epsilon=0.5, max_iters=3))
    b = apprenticeship.fit(mdp, demos, config=max_margin(epsilon=0.5, max_iters=3, device="cuda"))
    np.testing.assert_allclose(b.margins, a.margins, rtol=1e-8)
    c = mmp.fit(mdp, demos, max_iters=5)
    d = mmp.fit(mdp, demos, max_iters=5, device="cuda")
    np.testing.assert_allclose(d.objectives, c.objectives, rtol=1e-8)
