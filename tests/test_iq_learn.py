"""IQ-Learn: the inverse soft Bellman step and the IQ loss worked by hand on two states, the recovered reward's
table (an expectation over successors, and the reward whose soft-optimal Q is the learned Q), recovery on
gridworlds beside exact MaxEnt, CartPole from 1 and 10 demos, the online variant, seeds, guards and the seams."""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import random_transitions

import irl.envs  # noqa: F401  (registers irl/Gridworld-v0)
from irl._checks import NonFiniteError
from irl.cli.main import main
from irl.data import Demos, load_demos, save_demos
from irl.envs import TabularMDP
from irl.inverse.common import EnvTask
from irl.inverse.iq_learn import (
    REWARD_LABEL,
    ContinuousSoftQ,
    DiscreteSoftQ,
    IQLearnConfig,
    fit,
    inverse_soft_bellman,
    iq_loss,
    make_soft_q,
    value_gap,
)
from irl.inverse.registry import get_algorithm
from irl.rewards import RewardFn, load_reward, save_reward
from irl.runs.fit import FitError, run_fit
from irl.runs.generate import generate_tabular_demos
from irl.runs.sampled import reward_table
from irl.solvers import soft_value_iteration
from irl.solvers.policy_io import load_policy, save_policy
from irl.solvers.soft_q import QNetworkPolicy
from irl.solvers.spaces import space_spec

DEMOS = Path(__file__).resolve().parent.parent / "demos"
LN2, LN3, LN5 = math.log(2), math.log(3), math.log(5)


def table_q(q: np.ndarray, gamma: float, temperature: float = 1.0) -> DiscreteSoftQ:
    """A DiscreteSoftQ whose Q-network is exactly the table ``q`` (S, A): no hidden layer, one-hot states."""
    S, A = q.shape
    net = QNetworkPolicy({"type": "discrete", "n": S}, A, (), temperature=temperature).double()
    with torch.no_grad():
        net.net[0].weight.copy_(torch.as_tensor(q.T))
        net.net[0].bias.zero_()
    return DiscreteSoftQ(net, gamma)


# ------------------------------------------------------------------------------ the math, by hand
# Two states, two actions, α = 1, γ = 0.5, Q = [[0, ln 3], [ln 3, ln 5]]:
#   V(0) = log(e^0 + e^ln3) = ln 4,  V(1) = log(3 + 5) = ln 8.
# Three demo transitions (s, a, s', terminated):
#   (0, 1, 1, no):  r = ln 3 − 0.5 ln 8 = ln 3 − 1.5 ln 2 =  0.0588915,  V(s) − γV(s') = ln 4 − 1.5 ln 2 = 0.5 ln 2
#   (1, 0, 0, yes): r = ln 3 − 0          = ln 3           =  1.0986123,  V(s) − 0      = 3 ln 2
#   (1, 1, 0, no):  r = ln 5 − 0.5 ln 4 = ln 2.5           =  0.9162907,  V(s) − γV(s') = ln 8 − ln 2 = 2 ln 2
# (the second is a termination: no bootstrap; the third a truncation: it bootstraps).
# χ² weight c = 0.5, offline (ρ and the regulariser are the demos):
#   −E[r] = −2.0737945 / 3 = −0.6912648;  E[V(s) − γV(s')] = 5.5 ln 2 / 3 = 1.2707699;
#   E[r²] / (4c) = (0.0034682 + 1.2069490 + 0.8395887) / 3 / 2 = 0.3416676;  −J = 0.9211726.
# Offline the V(s') terms cancel: −E[r] + E[V(s) − γV(s')] = E[V(s) − Q(s, a)]
#   = (ln 4 − ln 3 + ln 8 − ln 3 + ln 8 − ln 5) / 3 = 0.5795050.
Q2 = np.array([[0.0, LN3], [LN3, LN5]])
OBS, ACT, NEXT, TERM = np.array([0, 1, 1]), np.array([1, 0, 1]), np.array([1, 0, 0]), np.array([False, True, False])
R_BY_HAND = np.array([LN3 - 1.5 * LN2, LN3, LN5 - LN2])
GAP_BY_HAND = np.array([0.5 * LN2, 3 * LN2, 2 * LN2])


def test_the_inverse_soft_bellman_step_and_the_iq_loss_by_hand_on_two_states():
    model = table_q(Q2, gamma=0.5)
    x, x2 = model.inputs(OBS), model.inputs(NEXT)
    q, v, v2 = model.evaluate(x, torch.as_tensor(ACT), x2)
    assert q.shape == (1, 3)
    np.testing.assert_allclose(q[0].detach(), [LN3, LN3, LN5], atol=1e-12)
    np.testing.assert_allclose(v.detach(), [math.log(4), math.log(8), math.log(8)], atol=1e-12)
    np.testing.assert_allclose(v2.detach(), [math.log(8), math.log(4), math.log(4)], atol=1e-12)

    term = torch.as_tensor(TERM)
    r = inverse_soft_bellman(q, v2, term, 0.5)
    gap = value_gap(v, v2, term, 0.5)
    np.testing.assert_allclose(r[0].detach(), R_BY_HAND, atol=1e-12)
    np.testing.assert_allclose(r[0].detach(), [0.0588915, 1.0986123, 0.9162907], atol=1e-7)
    np.testing.assert_allclose(gap.detach(), GAP_BY_HAND, atol=1e-12)

    loss = iq_loss(r, gap, r, chi2_weight=0.5)
    assert loss.total.item() == pytest.approx(0.9211726, abs=1e-7)
    assert loss.demo_reward.item() == pytest.approx(0.6912648, abs=1e-7)
    assert loss.value.item() == pytest.approx(1.2707699, abs=1e-7)
    assert loss.chi2.item() == pytest.approx(0.3416676, abs=1e-7)
    no_reg = iq_loss(r, gap, r, chi2_weight=None)
    assert no_reg.total.item() == pytest.approx(0.5795050, abs=1e-7)  # E[V(s) − Q(s, a)]: soft BC
    assert no_reg.chi2.item() == 0.0

    # the same rewards through the reward seam, in env form, with the termination passed on
    seam = RewardFn(model, gym.spaces.Discrete(2), gym.spaces.Discrete(2))
    np.testing.assert_allclose(seam(OBS, ACT, NEXT, TERM).numpy(), R_BY_HAND, atol=1e-12)
    np.testing.assert_allclose(seam(OBS, ACT, NEXT, np.zeros(3, bool)).numpy()[1], LN3 - 0.5 * math.log(4),
                               atol=1e-12)  # not terminated: it bootstraps


def test_the_loss_checks_its_shapes_and_weight():
    r, gap = torch.zeros(2, 3), torch.zeros(3)
    with pytest.raises(ValueError, match="chi2_weight"):
        iq_loss(r, gap, r, chi2_weight=0.0)
    with pytest.raises(ValueError, match="gap"):
        iq_loss(r, torch.zeros(3, 1), r, chi2_weight=1.0)
    with pytest.raises(ValueError, match="next_value"):
        inverse_soft_bellman(torch.zeros(3), torch.zeros(2), torch.zeros(2), 0.9)


# ------------------------------------------------------------------------------ the reward's table
def test_the_reward_table_is_the_expectation_over_successors_with_the_absorbing_state_worth_0():
    # states 0, 1 and a terminal state 2 (entering it ends the episode: the absorbing state, V = 0);
    # Q(2, ·) = (0, 0), V(2) = ln 2 (never used: state 2 is never entered). γ = 0.5, α = 1.
    P = np.zeros((3, 2, 3))
    P[0, 0, 0] = 1.0
    P[0, 1] = [0.25, 0.75, 0.0]
    P[1, 0, 2] = 1.0
    P[1, 1] = [0.5, 0.0, 0.5]
    P[2, :, 0] = 1.0
    mdp = TabularMDP.from_arrays(P, np.array([1.0, 0, 0]), discount=0.5, terminal_states=np.array([0, 0, 1], bool))
    q = np.vstack([Q2, [0.0, 0.0]])
    model = table_q(q, gamma=0.5)
    expected = np.array([
        [0 - 0.5 * 2 * LN2, LN3 - 0.5 * (0.25 * 2 * LN2 + 0.75 * 3 * LN2)],  # −ln 2,  ln 3 − 1.375 ln 2
        [LN3, LN5 - 0.5 * (0.5 * 2 * LN2)],                                   # ln 3 (terminates), ln 5 − 0.5 ln 2
        [-LN2, -LN2],
    ])
    np.testing.assert_allclose(reward_table(model, mdp), expected, atol=1e-12)
    # and it is the reward whose soft-optimal Q (discounted, α = 1) is the learned Q again
    back = soft_value_iteration(mdp, mdp.pad_states(torch.as_tensor(expected)), temperature=1.0)
    np.testing.assert_allclose(back.q[:3].numpy(), q, atol=1e-9)


def test_soft_value_iteration_of_the_recovered_reward_gives_back_the_learned_q():
    """The inverse soft Bellman operator inverts the soft Bellman backup: for any Q-network (here a random
    one, α = 0.7, γ = 0.9) on a stochastic MDP with a terminal state, the soft-optimal Q of ``table(mdp)``
    is that network's Q."""
    rng = np.random.default_rng(3)
    S, A = 6, 3
    terminal = np.zeros(S, bool)
    terminal[5] = True
    mdp = TabularMDP.from_arrays(random_transitions(rng, S, A, deterministic=False), np.full(S, 1 / S),
                                 discount=0.9, terminal_states=terminal)
    model = make_soft_q(space_spec(gym.spaces.Discrete(S)), space_spec(gym.spaces.Discrete(A)), hidden=(8,),
                        gamma=0.9, temperature=0.7, n_critics=1, value_samples=1, seed=4).double()
    with torch.no_grad():
        q = model.q.net(model.inputs(np.arange(S))).numpy()
        table = model.table(mdp)
    assert np.ptp(q) > 0.1  # not trivially flat
    back = soft_value_iteration(mdp, mdp.pad_states(table), temperature=0.7)
    np.testing.assert_allclose(back.q[:S].numpy(), q, atol=1e-8)


# ------------------------------------------------------------------------------ recovery on gridworlds
def grid_demos(tmp_path: Path, slip: float, seed: int) -> Path:
    """50 demos of a near-optimal (temperature 0.3) demonstrator on a 5x5 random-reward gridworld, horizon 20."""
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs={"size": 5, "slip": slip, "reward": "random",
                                                                   "horizon": 20},
                                   episodes=50, seed=seed, temperature=0.3)
    path = tmp_path / f"grid-{slip}-{seed}.npz"
    save_demos(demos, path)
    return path


@pytest.mark.parametrize("seed", [0, 1])
def test_on_a_deterministic_gridworld_the_recovered_rewards_optimal_policy_is_optimal(tmp_path, seed):
    """Measured (2000 steps): hard regret 0.005 (seed 0), 0.001 (seed 1); exact MaxEnt 0.009, 0.003."""
    out = run_fit(grid_demos(tmp_path, 0.0, seed), algo="iq-learn", out=tmp_path / "iq", seed=seed, steps=2000)
    m = out.metrics
    assert m["regret_hard"] <= 0.05
    assert m["epic"] < 0.6  # measured 0.43, 0.48 (a random reward: about 0.7)
    assert m["reward_label"] == REWARD_LABEL
    assert (tmp_path / "iq" / "reward_table.npy").is_file() and (tmp_path / "iq" / "policy.json").is_file()


def test_on_a_slippery_gridworld_it_recovers_about_as_well_as_exact_maxent(tmp_path):
    """slip 0.1, seed 0. Measured: IQ-Learn EPIC 0.457, hard regret 0.024; exact MaxEnt 0.363, 0.005."""
    path = grid_demos(tmp_path, 0.1, 0)
    iq = run_fit(path, algo="iq-learn", out=tmp_path / "iq", seed=0, steps=2000).metrics
    maxent = run_fit(path, algo="maxent", out=tmp_path / "maxent", seed=0).metrics
    print(f"iq-learn EPIC {iq['epic']:.3f} regret {iq['regret_hard']:.3f}; "
          f"maxent EPIC {maxent['epic']:.3f} regret {maxent['regret_hard']:.3f}")
    assert iq["regret_hard"] <= 0.06
    assert iq["epic"] <= maxent["epic"] + 0.15


# ------------------------------------------------------------------------------ CartPole offline
@pytest.mark.slow
@pytest.mark.parametrize("episodes", [1, 10])
def test_cartpole_offline_from_one_and_ten_demos_reaches_the_experts_return(tmp_path, episodes):
    """The shipped expert (return 500), offline, 3000 gradient steps. Measured: 500 with 1 and 10 demos on
    seeds 0–4, about 5 s each on 2 busy cores."""
    path = tmp_path / "cartpole.npz"
    save_demos(load_demos(DEMOS / "cartpole-pg-expert.npz").take(episodes), path)
    m = run_fit(path, algo="iq-learn", out=tmp_path / "run", seed=0, steps=3000).metrics
    assert m["eval_return"] >= 475
    assert m["normalised_return"] >= 0.9


# ------------------------------------------------------------------------------ Pendulum
@pytest.mark.slow
def test_pendulum_offline_from_ten_demos_reaches_the_experts_return(tmp_path):
    """The first 10 episodes of the shipped SAC expert (mean return -155), offline, 10000 gradient steps.
    Measured: return -152, normalised 1.00, in 24 s on 2 busy cores (1 demo offline: 0.15)."""
    path = tmp_path / "pendulum.npz"
    save_demos(load_demos(DEMOS / "pendulum-sac-expert.npz").take(10), path)
    m = run_fit(path, algo="iq-learn", out=tmp_path / "run", seed=0, steps=10_000).metrics
    assert m["normalised_return"] >= 0.9


@pytest.mark.slow
def test_pendulum_online_from_one_demo_reaches_ninety_percent_of_the_expert(tmp_path):
    """The first episode of the shipped SAC expert (return -123), online, 15000 env steps. Measured:
    normalised 0.924 (return -207), seed 1: 0.936, in 54 s on 2 busy cores."""
    path = tmp_path / "pendulum.npz"
    save_demos(load_demos(DEMOS / "pendulum-sac-expert.npz").take(1), path)
    m = run_fit(path, algo="iq-learn", out=tmp_path / "run", seed=0, steps=15_000,
                algo_kwargs={"online": True}).metrics
    assert m["normalised_return"] >= 0.85


# ------------------------------------------------------------------------------ online, continuous
def test_the_online_variant_acts_logs_and_keeps_a_curve(tmp_path):
    path = grid_demos(tmp_path, 0.0, 0)
    config = IQLearnConfig(online=True, steps=600, learning_starts=200, log_every=100, batch_size=32)
    entries = []
    result = fit(EnvTask("irl/Gridworld-v0", {"size": 5, "slip": 0.0, "reward": "random", "horizon": 20}),
                 load_demos(path), config=config, callback=entries.append)
    assert entries == result.log and [e["iteration"] for e in entries] == [100, 200, 300, 400, 500, 600]
    assert entries[0]["loss"] is None and entries[-1]["updates"] == 401  # learning starts at 200 stored steps
    assert all(e["env_steps"] == e["iteration"] for e in entries)
    assert result.curve and len(result.curve) == 30 and result.curve[-1]["step"] == 600  # 20-step episodes
    assert all(math.isfinite(e["reward_policy"]) for e in entries[2:])


def test_pendulum_offline_trains_an_actor_and_a_reward_that_round_trips(tmp_path):
    demos = load_demos(DEMOS / "pendulum-sac-expert.npz").take(2)
    result = fit(EnvTask("Pendulum-v1"), demos, config=IQLearnConfig(steps=60, log_every=20))
    model = result.reward_model
    assert isinstance(model, ContinuousSoftQ) and result.policy is model.actor
    assert [e["iteration"] for e in result.log] == [20, 40, 60] and "actor_loss" in result.log[0]
    seam = RewardFn(model, gym.make("Pendulum-v1").observation_space, gym.spaces.Box(-2, 2, (1,)))
    r = seam(demos.observations[:5], demos.actions[:5], demos.next_observations[:5], np.zeros(5, bool))
    assert torch.equal(r, seam(demos.observations[:5], demos.actions[:5], demos.next_observations[:5],
                               np.zeros(5, bool)))  # the value's draws are fixed: a deterministic reward
    save_reward(model, tmp_path / "reward")
    save_policy(result.policy, tmp_path / "policy")
    again = RewardFn(load_reward(tmp_path / "reward"), seam.observation_space, seam.action_space)
    assert torch.equal(r, again(demos.observations[:5], demos.actions[:5], demos.next_observations[:5],
                                np.zeros(5, bool)))
    obs = demos.observations[:5]
    np.testing.assert_array_equal(load_policy(tmp_path / "policy").act(obs, deterministic=True),
                                  result.policy.act(obs, deterministic=True))


# ------------------------------------------------------------------------------ seeds and guards
def test_the_same_seed_gives_the_same_log_and_metrics(tmp_path):
    path = grid_demos(tmp_path, 0.1, 2)
    runs = [run_fit(path, algo="iq-learn", out=tmp_path / name, seed=7, steps=300) for name in ("a", "b")]
    assert runs[0].result.log == runs[1].result.log and len(runs[0].result.log) == 3
    same = {k: v for k, v in runs[0].metrics.items() if k != "seconds"}
    assert same == {k: v for k, v in runs[1].metrics.items() if k != "seconds"}
    other = run_fit(path, algo="iq-learn", out=tmp_path / "c", seed=8, steps=300)
    assert other.result.log != runs[0].result.log
    online = IQLearnConfig(online=True, steps=300, learning_starts=100, seed=3)
    task = EnvTask("irl/Gridworld-v0", {"size": 5, "slip": 0.1, "reward": "random", "horizon": 20})
    logs = [fit(task, load_demos(path), config=online).log for _ in range(2)]
    assert logs[0] == logs[1]


def test_a_non_finite_loss_stops_the_fit():
    """Observations of 1e30 overflow the Q-network's first layer in float32: the loss is inf or NaN."""
    huge = [{"observations": np.full((5, 3), 1e30, np.float32), "actions": np.zeros((5, 1), np.float32),
             "next_observations": np.full((5, 3), 1e30, np.float32), "truncated": True}]
    demos = Demos.from_episodes(huge, check_env=False)
    with pytest.raises(NonFiniteError, match="iq-learn: the IQ loss is not finite at step 1"):
        fit(EnvTask("Pendulum-v1"), demos, config=IQLearnConfig(steps=5))


@pytest.mark.parametrize("bad, message", [
    ({"steps": 0}, "steps must be an integer >= 1"),
    ({"temperature": 0.0}, "temperature must be a finite number > 0"),
    ({"chi2_weight": -1.0}, "chi2_weight must be a finite number > 0"),
    ({"gamma": 1.0}, r"gamma must lie in \[0, 1\)"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0"),
    ({"hidden": (0,)}, "hidden widths must be >= 1"),
    ({"online": "yes"}, "online must be true or false"),
    ({"learning_starts": -1}, "learning_starts must be an integer >= 0"),
    ({"target_tau": 1.5}, r"target_tau must lie in \(0, 1\] or be None"),
])
def test_config_refuses_bad_settings_in_one_line(bad, message):
    with pytest.raises(ValueError, match=f"IQLearnConfig.{message}"):
        IQLearnConfig(**bad)


def test_irl_fit_reports_a_bad_setting_in_one_line_and_writes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["fit", "--demos", str(DEMOS / "cartpole-pg-expert.npz"), "--algo", "iq-learn", "--out", str(run),
                 "--algo-kwargs", '{"temperature": -1}', "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and not run.exists()
    assert "IQLearnConfig.temperature must be a finite number > 0" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    with pytest.raises(FitError, match="--generator: iq-learn has no generator"):
        run_fit(DEMOS / "cartpole-pg-expert.npz", algo="iq-learn", out=tmp_path / "x", generator="sac")


# ------------------------------------------------------------------------------ the seams
def test_iq_learn_is_registered_as_a_sampled_algorithm_and_listed_by_irl_fit_help(capsys):
    algorithm = get_algorithm("iq-learn")
    assert algorithm.tabular is False and algorithm.fit_function() is fit
    assert algorithm.make_config(steps=3).steps == 3
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    assert "iq-learn     inverse soft-Q learning" in capsys.readouterr().out
    with pytest.raises(TypeError, match="EnvTask"):
        fit(object(), None)


def test_a_discrete_reward_round_trips_through_its_files(tmp_path):
    model = table_q(Q2, gamma=0.5)
    save_reward(model, tmp_path)
    loaded = load_reward(tmp_path)
    assert isinstance(loaded, DiscreteSoftQ) and loaded.spec() == model.spec()
    batch = (torch.as_tensor(OBS), torch.as_tensor(ACT), torch.as_tensor(NEXT), torch.as_tensor(TERM))
    with torch.no_grad():
        assert torch.equal(loaded(*batch), model(*batch))


def test_the_online_flag_is_for_iq_learn_only_and_sets_online(tmp_path, capsys):
    path = grid_demos(tmp_path, 0.0, 0)
    code = main(["fit", "--demos", str(path), "--algo", "maxent", "--online", "--quiet"])
    assert code == 2 and "--online: only for iq-learn" in capsys.readouterr().err
    code = main(["fit", "--demos", str(path), "--algo", "iq-learn", "--online", "--algo-kwargs", '{"online": true}',
                 "--quiet"])
    assert code == 2 and "--online and online in --algo-kwargs both given" in capsys.readouterr().err
    run = tmp_path / "online"
    code = main(["fit", "--demos", str(path), "--algo", "iq-learn", "--online", "--steps", "300", "--out", str(run),
                 "--algo-kwargs", '{"learning_starts": 100, "log_every": 100}', "--quiet"])
    assert code == 0, capsys.readouterr().err
    import json

    config = json.loads((run / "config.json").read_text())["algo_config"]
    assert config["online"] is True and config["steps"] == 300
