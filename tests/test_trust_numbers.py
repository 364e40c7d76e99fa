"""A fit never reports a number it did not compute (issue "Trust", section 2).

- The regression file ``tests/data/cliffwalking-slippery-nan.npz`` (truncated episodes,
  no ``horizon`` in its metadata) fits with a small regret, with and without ``horizon``,
  and so do three freshly generated files like it.
- MaxEnt's objective is the demos' discounted log-likelihood, so its gradient equals
  finite differences and its value is ≤ 0 on such data.
- A NaN or inf anywhere stops the fit: one line, exit code 1, no run folder.
- ``converged`` means each algorithm's own stopping test was met, and ``irl fit`` says
  which cap was hit otherwise.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from irl._checks import NonFiniteError
from irl.cli.main import main
from irl.data import Demos, load_demos
from irl.envs import mdp_for_demos, mdp_from_env
from irl.envs.demo_counts import demo_counts
from irl.inverse import maxent
from irl.inverse.maxent_objective import maxent_objective
from irl.metrics import recovery_report
from irl.runs.fit import evaluate_fit
from irl.solvers import soft_value_iteration

DATA = Path(__file__).resolve().parent / "data"
DEMOS = Path(__file__).resolve().parent.parent / "demos"
FIXTURE = DATA / "cliffwalking-slippery-nan.npz"


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.strip()]


def _with_horizon(demos: Demos, horizon: int | None) -> Demos:
    if horizon is None:
        return demos
    return replace(demos, metadata={**demos.metadata, "horizon": horizon})


# ------------------------------------------------------------------------- data like the fixture
def _goal_seeking_expert(mdp) -> np.ndarray:
    """The fixture's demonstrator: dense soft value iteration (temperature 1, γ = 0.99) on the exact
    model in which the goal's absorbing state keeps its entropy bonus, so the expert heads for the goal
    (irl's own convention values the absorbing state at 0, and its soft-optimal walker avoids the goal)."""
    P, r = mdp.dense_transitions().numpy(), mdp.reward.numpy()
    v = np.zeros(mdp.n_states)
    for _ in range(3000):
        q = r + 0.99 * P @ v
        v = np.logaddexp.reduce(q, axis=1)
    return np.exp(q - v[:, None])


def cliffwalking_demos(seed: int, *, episodes: int = 200, cut: int = 100, varied_cuts: bool = False) -> Demos:
    """Episodes of CliffWalkingSlippery-v1 cut at ``cut`` steps (or at random lengths), no horizon recorded."""
    env = gym.make("CliffWalkingSlippery-v1")
    policy = _goal_seeking_expert(mdp_from_env(env, horizon=None, discount=0.99))
    rng = np.random.default_rng(seed)
    out = []
    for e in range(episodes):
        s, _ = env.reset(seed=seed if e == 0 else None)
        length = int(rng.integers(20, cut + 1)) if varied_cuts else cut
        steps: dict[str, list] = {"observations": [], "actions": [], "next_observations": [], "rewards": []}
        terminated = False
        for _ in range(length):
            a = int(rng.choice(4, p=policy[s]))
            s2, r, terminated, _, _ = env.step(a)
            for key, value in zip(steps, (s, a, s2, float(r))):
                steps[key].append(value)
            s = s2
            if terminated:
                break
        out.append({k: np.asarray(v) for k, v in steps.items()} | {"terminated": terminated,
                                                                    "truncated": not terminated})
    env.close()
    return Demos.from_episodes(out, metadata={"env": {"id": "CliffWalkingSlippery-v1", "kwargs": {}},
                                              "discount": 0.99})


def _fit_regret(demos: Demos, **kw) -> tuple[float, maxent.MaxEntResult, object]:
    mdp = mdp_for_demos(demos)
    result = maxent.fit(mdp, demos, reward="tabular", **kw)
    assert np.isfinite(result.reward_table).all()
    report = recovery_report(mdp, mdp.env_states(mdp.reward), result.reward_table)
    return report["regret_hard"], result, mdp


# ---------------------------------------------------------------------------------- the fixture
def test_fixture_fits_from_the_command_line_with_the_horizon_inferred(tmp_path, capsys):
    code, out, err = _run(capsys, ["fit", "--demos", str(FIXTURE), "--out", str(tmp_path / "run"), "--json",
                                   "--quiet"])
    assert code == 0, err
    metrics = json.loads(out.strip().splitlines()[-1])
    assert metrics["converged"] and metrics["regret_hard"] <= 0.01
    assert all(math.isfinite(metrics[k]) for k in ("epic", "pearson", "regret_hard", "demo_log_likelihood"))
    assert "horizon 100 inferred" in err and "70 truncated episodes end at step 100" in err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["horizon"] == 100 and config["horizon_source"].startswith("inferred")
    assert np.isfinite(np.load(tmp_path / "run" / "reward_table.npy")).all()


@pytest.mark.parametrize("horizon", [None, 100])
def test_fixture_regret_with_and_without_horizon(horizon):
    demos = _with_horizon(load_demos(FIXTURE), horizon)
    regret, result, mdp = _fit_regret(demos)
    assert mdp.horizon == 100
    assert result.converged and regret <= 0.01


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("horizon", [None, 100])
def test_generated_files_like_the_fixture_fit(seed, horizon):
    demos = _with_horizon(cliffwalking_demos(seed), horizon)
    assert demos.timeouts.any() and demos.terminals.any()
    regret, result, mdp = _fit_regret(demos)
    assert mdp.horizon == 100
    assert mdp.info["horizon_source"].startswith("the metadata's horizon" if horizon else "inferred")
    assert result.converged and regret <= 0.01


@pytest.mark.slow
def test_cuts_at_different_steps_fit_the_discounted_model_without_nan():
    """No single cut length and no time limit: the discounted model, finite and with a small regret."""
    demos = cliffwalking_demos(1, varied_cuts=True)
    regret, result, mdp = _fit_regret(demos, max_iters=100)
    assert mdp.horizon is None and mdp.info["horizon_source"].startswith("none")
    assert regret <= 0.01
    assert all(entry["objective"] <= 0 for entry in result.log)  # a log-likelihood


def test_fixture_gradient_equals_finite_differences_and_the_objective_is_a_log_likelihood():
    """On the fixture's own episodes (truncated and terminated, stochastic dynamics), for the discounted
    model (no horizon) and for the horizon the fit infers: directional finite differences."""
    demos = load_demos(FIXTURE)
    demos = Demos.concatenate([demos.episode(i) for i in range(0, 200, 10)])  # 20 episodes, both endings
    assert demos.timeouts.any() and demos.terminals.any()
    rng = np.random.default_rng(0)
    for horizon in (None, 100):
        mdp = mdp_for_demos(replace(demos, metadata={**demos.metadata, "horizon": horizon}))
        counts = demo_counts(mdp, demos)
        r = torch.as_tensor(rng.standard_normal((mdp.n_env_states, mdp.n_actions)))
        ev = maxent_objective(mdp, counts, r, tol=1e-13)
        assert float(ev.value) <= 0.0
        for _ in range(4):
            d = torch.as_tensor(rng.standard_normal(r.shape))
            eps = 1e-5
            up = maxent_objective(mdp, counts, r + eps * d, tol=1e-13).value
            down = maxent_objective(mdp, counts, r - eps * d, tol=1e-13).value
            fd = float(up - down) / (2 * eps)
            assert float((ev.grad * d).sum()) == pytest.approx(fd, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("horizon", [None, 7])
def test_objective_is_the_discounted_demo_log_likelihood_with_stochastic_dynamics(horizon):
    """L(r) = (1/E) Σ_i Σ_t γ^t log π_t(a_t | s_t), by hand, for terminated, truncated and full episodes."""
    rng = np.random.default_rng(3)
    S, A = 6, 3
    P = rng.random((S, A, S)) ** 2
    P /= P.sum(-1, keepdims=True)
    from irl.envs import TabularMDP

    mdp = TabularMDP.from_arrays(P, np.full(S, 1.0 / S), discount=0.9, horizon=horizon,
                                 terminal_states=np.isin(np.arange(S), [5]))
    episodes = []
    for _ in range(12):
        s, steps, terminated = int(rng.integers(0, 5)), [], False
        for _ in range(int(rng.integers(1, 8))):
            a = int(rng.integers(A))
            s2 = int(rng.choice(S, p=P[s, a]))
            steps.append((s, a, s2))
            s = s2
            if s == 5:
                terminated = True
                break
        o, a_, n = (np.array(x) for x in zip(*steps))
        episodes.append({"observations": o, "actions": a_, "next_observations": n, "terminated": terminated,
                         "truncated": not terminated})
    demos = Demos.from_episodes(episodes, metadata={"env": None}, check_env=False)
    r = torch.as_tensor(rng.standard_normal((mdp.n_env_states, A)))
    ev = maxent_objective(mdp, demo_counts(mdp, demos), r)
    logp = soft_value_iteration(mdp, r).log_policy
    by_hand = 0.0
    for s, a, t in zip(demos.observations, demos.actions, demos.timestep):
        by_hand += 0.9**t * float(logp[t, s, a] if horizon else logp[s, a])
    assert float(ev.value) == pytest.approx(by_hand / demos.n_episodes, abs=1e-9)


# ---------------------------------------------------------------------------- non-finite numbers
def test_a_nan_stops_the_fit_with_one_line_exit_1_and_no_run_folder(tmp_path, capsys, monkeypatch):
    from irl.inverse import maxent as module

    real = module.maxent_objective
    calls = {"n": 0}

    def nan_on_the_third_call(*args, **kwargs):
        ev = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            return type(ev)(ev.value, ev.grad * float("nan"), ev.solution, ev.visitation)
        return ev

    monkeypatch.setattr(module, "maxent_objective", nan_on_the_third_call)
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, ["fit", "--demos", str(DEMOS / "gridworld8.npz"), "--quiet"])
    assert code == 1
    lines = _error_lines(err)
    assert len(lines) == 1 and "gradient is not finite (NaN) at iteration" in lines[0], err
    assert "Traceback" not in err and out == ""
    runs = tmp_path / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []


def test_value_iteration_stops_at_the_first_non_finite_value():
    mdp = mdp_from_env("CliffWalkingSlippery-v1", horizon=None, discount=0.99)
    with pytest.raises(NonFiniteError, match="reward given to value iteration"):
        soft_value_iteration(mdp, torch.full((mdp.n_env_states, 4), float("nan")))
    huge = torch.full((mdp.n_env_states, 4), 3e38, dtype=torch.float32)  # finite, but V overflows float32
    with pytest.raises(NonFiniteError, match="at backup 2$"):
        soft_value_iteration(mdp.to(dtype=torch.float32), huge)
    with pytest.raises(NonFiniteError, match="value V"):
        soft_value_iteration(mdp.replace(horizon=50).to(dtype=torch.float32), huge)


def test_metrics_are_never_computed_from_a_non_finite_table():
    demos = load_demos(DEMOS / "gridworld8.npz")
    mdp = mdp_for_demos(demos)
    table = np.zeros((mdp.n_env_states, mdp.n_actions))
    table[3, 1] = np.nan
    policy = torch.full((mdp.horizon, mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=torch.float64)
    with pytest.raises(NonFiniteError, match="reward table"):
        evaluate_fit(mdp, demos, table, policy)


# ---------------------------------------------------------------------------------- converged
def test_deep_maxent_converges_on_a_fit_it_gets_right():
    demos = load_demos(DEMOS / "gridworld8.npz")
    mdp = mdp_for_demos(demos)
    result = maxent.fit(mdp, demos, reward="mlp", max_iters=300)
    assert result.converged and result.stop_reason == "plateau" and result.iterations < 300
    assert recovery_report(mdp, mdp.reward, result.reward_table)["epic"] < 0.05


@pytest.mark.parametrize("algo, kwargs, cap", [
    ("maxent", '{"max_iters": 3}', "max_iters=3 Newton iterations"),
    ("deep-maxent", '{"max_iters": 4}', "max_iters=4 Adam steps"),
    ("projection", '{"max_iters": 2, "epsilon": 1e-9}', "max_iters=2"),
    ("max-margin", '{"max_iters": 2, "epsilon": 1e-9}', "max_iters=2"),
    ("mmp", '{"max_iters": 3}', "max_iters=3"),
])
def test_a_fit_that_hits_its_cap_says_which_and_what_to_raise(tmp_path, capsys, algo, kwargs, cap):
    code, out, err = _run(capsys, ["fit", "--demos", str(DEMOS / "objectworld32.npz"), "--algo", algo,
                                   "--algo-kwargs", kwargs, "--out", str(tmp_path / "run"), "--json", "--quiet"])
    assert code == 0, err
    metrics = json.loads(out.strip().splitlines()[-1])
    assert metrics["converged"] is False and metrics["stop_reason"] in ("max_iters", "stalled")
    note = [ln for ln in err.splitlines() if ln.startswith("irl: note:")]
    assert len(note) == 1 and "not converged" in note[0] and "raise" in note[0]
    if metrics["stop_reason"] == "max_iters":
        assert cap in note[0]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["stop_message"] in note[0]
