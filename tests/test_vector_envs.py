"""Policy gradient on several copies of its env (``n_envs``, gymnasium.vector): one env keeps the numbers
of the single-env code, a vector of one steps as the env itself, transitions at episode ends are right
(no reset observation as a successor; a time limit bootstraps, a termination does not), the same seed
gives the same numbers (sync and async alike), the batched action draws are the one-at-a-time ones,
GCL cuts a vector rollout into whole episodes, and ``--n-envs`` on the command line."""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from irl.cli import train as train_cli
from irl.cli.main import main
from irl.data import save_demos
from irl.inverse.common import EnvTask
from irl.inverse.gcl import fit as gcl_module
from irl.inverse.gcl.fit import GCLConfig
from irl.runs.generate import generate_tabular_demos
from irl.solvers import policy_gradient as pg
from irl.solvers.agent import EnvStepper, Transitions
from irl.solvers.policy_gradient import PGAgent, PGConfig
from irl.solvers.policy_gradient.agent import _Drawer
from irl.solvers.vector import VectorEnvStepper


class Counter(gym.Env):
    """obs = (t, k): step t of episode k (k = the reset seed, then one more per reset); reward 1.
    Odd episodes terminate at t = 3, even ones run on (cut by a time limit)."""

    observation_space = spaces.Box(0.0, 1e6, (2,), np.float32)

    def __init__(self, discrete: bool = True) -> None:
        self.action_space = spaces.Discrete(2) if discrete else spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.t, self.k = 0, -1

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.k = 0, (seed if seed is not None else self.k + 1)
        return np.array([self.t, self.k], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t, self.k], np.float32), 1.0, self.k % 2 == 1 and self.t == 3, False, {}


def params_of(policy: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in policy.parameters()]


# ------------------------------------------------------------------------------ one env: unchanged
def test_one_env_keeps_the_numbers_of_the_single_env_code():
    """Numbers of ``pg.train`` before vector envs existed (commit 757e463, this seed and these settings):
    CartPole's episode lengths are integers and must match exactly; the weights to float32 rounding."""
    torch.set_num_threads(1)
    result = pg.train("CartPole-v1", total_steps=1024, rollout_steps=256, seed=3, eval_episodes=2)
    assert [r["length"] for r in result.curve] == [
        13, 14, 20, 14, 12, 15, 17, 42, 35, 16, 15, 16, 17, 14, 17, 37, 13, 11, 32, 14, 17, 23, 17, 21, 29, 15, 21,
        75, 62, 10, 22, 31, 42, 28, 125, 32, 12, 28, 29]
    assert result.eval_return == 67.0 and result.steps == 1024
    weight_sum = float(sum(p.detach().double().sum() for p in result.policy.parameters()))
    assert weight_sum == pytest.approx(-4.088723622568068, rel=1e-5)


@pytest.mark.parametrize("own_limit, cap", [(6, None), (None, 4)], ids=["env's time limit", "solver's cap"])
def test_a_vector_of_one_steps_as_the_env_itself(own_limit, cap):
    def make():
        return Counter() if own_limit is None else gym.wrappers.TimeLimit(Counter(), own_limit)

    rng = np.random.default_rng(0)
    single = EnvStepper(make(), seed=7, max_episode_steps=cap)
    vector = VectorEnvStepper(make(), 1, seed=7, max_episode_steps=cap)
    try:
        for _ in range(40):
            action = int(rng.integers(2))
            np.testing.assert_array_equal(vector.obs[0], single.obs)
            a = single.step(action)
            b = vector.step(np.array([action]))
            np.testing.assert_array_equal(b[0][0], a[0])
            assert (b[1][0], bool(b[2][0]), bool(b[3][0])) == a[1:]
        assert vector.episode_returns == single.episode_returns and len(single.episode_returns) >= 8
        assert vector.steps == single.steps == 40
    finally:
        vector.close()


# ------------------------------------------------------------------------------- episode boundaries
@pytest.mark.parametrize("n_envs", [1, 3])
def test_transitions_at_episode_ends_hold_the_last_observation_and_the_right_flags(n_envs):
    agent = PGAgent(Counter(), PGConfig(n_envs=n_envs, max_episode_steps=5, hidden=(8,)), seed=10)
    try:
        tr = agent.collect(60)
        blocks = tr.blocks(n_envs)
        assert len(tr) == 60 and agent.steps == 60
        for e, block in enumerate(blocks):
            obs, nxt = block.observations, block.next_observations
            np.testing.assert_array_equal(obs[0], [0, 10 + e])  # copy e is seeded with seed + e
            np.testing.assert_array_equal(nxt[:, 0], obs[:, 0] + 1)  # never a reset observation (t = 0)
            np.testing.assert_array_equal(nxt[:, 1], obs[:, 1])
            odd = obs[:, 1] % 2 == 1
            np.testing.assert_array_equal(block.terminated, odd & (nxt[:, 0] == 3))
            np.testing.assert_array_equal(block.truncated, ~odd & (nxt[:, 0] == 5))
            ended = block.terminated | block.truncated
            assert block.terminated.any() and block.truncated.any()
            np.testing.assert_array_equal(obs[1:][~ended[:-1]], nxt[:-1][~ended[:-1]])  # the stream goes on
            np.testing.assert_array_equal(obs[1:][ended[:-1]][:, 0], 0)  # a new episode starts after an end
        chain_ends = agent._chain_ends.reshape(n_envs, -1)
        np.testing.assert_array_equal(chain_ends[:, :-1], (tr.terminated | tr.truncated).reshape(n_envs, -1)[:, :-1])
        assert chain_ends[:, -1].all()  # the rollout cuts each copy's stream
        # returns per copy: each episode that ended earned 1 per step
        assert sorted(agent.stepper.episode_returns) == sorted(
            float(len(t)) for b in blocks for t in _ended_episodes(b))
    finally:
        agent.close()


def _ended_episodes(block: Transitions) -> list[np.ndarray]:
    """The observations of each episode of one copy's stream that ended within it (the first starts with it)."""
    ends = np.flatnonzero(block.terminated | block.truncated)
    cuts = [0, *(ends + 1).tolist()]
    return [block.observations[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


@pytest.mark.parametrize("n_envs", [1, 4])
def test_a_time_limit_bootstraps_and_a_termination_does_not(n_envs):
    """With V ≡ c, reward 0 and no entropy bonus, δ = (γ - 1) c after a step cut by the time limit (or by
    the rollout) and δ = -c at a termination; with γ = λ = 1 the advantage sums δ to the end of its
    episode: -c where that episode terminates within the rollout, 0 where it is cut."""
    c, gamma = 2.0, 0.9
    config = PGConfig(n_envs=n_envs, max_episode_steps=5, hidden=(8,), temperature=0.0, gamma=gamma, gae_lambda=0.0)
    agent = PGAgent(Counter(), config, seed=11)
    try:
        with torch.no_grad():
            agent.policy.critic[-1].weight.zero_()
            agent.policy.critic[-1].bias.fill_(c)
        tr = agent.collect(40)
        encode = agent.policy.encoder.encode
        x, next_x = encode(tr.observations)[0], encode(tr.next_observations)[0]
        zeros = torch.zeros(len(tr))
        terminated, ends = torch.as_tensor(tr.terminated), torch.as_tensor(agent._chain_ends)
        adv, _ = agent._soft_advantages(x, next_x, zeros, zeros, terminated, ends)
        expected = np.where(tr.terminated, -c, (gamma - 1) * c)
        np.testing.assert_allclose(adv.numpy(), expected, rtol=1e-6)
        agent.config = PGConfig(n_envs=n_envs, hidden=(8,), temperature=0.0, gamma=1.0, gae_lambda=1.0)
        adv, _ = agent._soft_advantages(x, next_x, zeros, zeros, terminated, ends)
        terminates = np.zeros(len(tr), bool)  # the step's episode terminates within the rollout
        for t in range(len(tr) - 1, -1, -1):
            terminates[t] = tr.terminated[t] or (not ends[t] and terminates[t + 1])
        np.testing.assert_allclose(adv.numpy(), np.where(terminates, -c, 0.0), atol=1e-6)
        assert terminates.any() and not terminates.all()
    finally:
        agent.close()


def test_a_rollout_takes_the_same_number_of_steps_in_every_copy():
    agent = PGAgent(Counter(discrete=False), PGConfig(n_envs=4, max_episode_steps=5, hidden=(8,)), seed=0)
    try:
        tr = agent.collect(10)  # ⌈10 / 4⌉ = 3 steps of each copy
        assert len(tr) == 12 and agent.steps == 12 and tr.actions.shape == (12, 1)
        with pytest.raises(ValueError, match="cannot cut 12 rows into 5 blocks"):
            tr.blocks(5)
    finally:
        agent.close()


# ------------------------------------------------------------------------------------ determinism
def test_the_same_seed_gives_the_same_numbers_sync_or_async():
    def run(seed, mode):
        result = pg.train("CartPole-v1", total_steps=768, rollout_steps=256, n_envs=4, vector_env=mode, seed=seed,
                          eval_episodes=1)
        return [(r["step"], r["true_return"]) for r in result.curve], params_of(result.policy)

    (curve_a, weights_a), (curve_b, weights_b), (curve_c, _) = run(5, "sync"), run(5, "async"), run(6, "sync")
    assert curve_a == curve_b and len(curve_a) > 10
    assert all(torch.equal(x, y) for x, y in zip(weights_a, weights_b, strict=True))
    assert curve_a != curve_c
    assert [s for s, _ in curve_a] == sorted(s for s, _ in curve_a) and all(s % 4 == 0 for s, _ in curve_a)


@pytest.mark.parametrize("discrete", [True, False])
def test_batched_draws_are_the_one_at_a_time_draws(discrete):
    agent = PGAgent(Counter(discrete), PGConfig(hidden=(16, 16)), seed=0)
    obs = np.random.default_rng(1).uniform(0, 5, (6, 2)).astype(np.float32)
    one, batch = _Drawer(agent.policy, np.random.default_rng(3)), _Drawer(agent.policy, np.random.default_rng(3))
    draws = [one(o) for o in obs]
    actions, log_probs, entropies = batch.batch(obs)
    np.testing.assert_allclose(actions, np.stack([d[0] for d in draws]), rtol=1e-12)
    np.testing.assert_allclose(log_probs, [d[1] for d in draws], rtol=1e-12)
    np.testing.assert_allclose(entropies, [d[2] for d in draws], rtol=1e-12)
    assert one.rng.random() == batch.rng.random()  # the same random numbers were used up


def test_config_refuses_bad_vector_settings():
    for kwargs, message in (({"n_envs": 0}, "n_envs must be >= 1"), ({"n_envs": 2.0}, "n_envs must be an integer"),
                            ({"n_envs": True}, "n_envs must be an integer"),
                            ({"vector_env": "threads"}, "vector_env must be 'sync' or 'async'")):
        with pytest.raises(ValueError, match=message):
            PGConfig(**kwargs)


@pytest.mark.slow
def test_four_envs_learn_cartpole():
    torch.set_num_threads(1)
    result = pg.train("CartPole-v1", total_steps=20_000, n_envs=4, seed=0, eval_episodes=5)
    assert result.eval_return >= 400


# ------------------------------------------------------------------------------ GCL on a vector rollout
def grid_demos():
    kwargs = {"size": 3, "slip": 0.0, "reward": "random", "reward_seed": 0, "horizon": 20}
    return generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kwargs, episodes=20, seed=0, discount=1.0)


def test_gcl_draws_whole_episodes_from_each_copy(monkeypatch):
    demos = grid_demos()
    pools = []
    step = gcl_module._reward_step

    def spy(reward, log_z, optimizer, expert, pool, *args):
        pools.append(pool)
        return step(reward, log_z, optimizer, expert, pool, *args)

    monkeypatch.setattr(gcl_module, "_reward_step", spy)
    result = gcl_module.fit(EnvTask("irl/Gridworld-v0", demos.env_kwargs), demos,
                            config=GCLConfig(generator="pg", steps=600, round_steps=200, reward_updates=1,
                                             demos_in_background=False, generator_kwargs={"n_envs": 3}))
    assert result.generator.n_envs == 3 and pools
    episodes = [t for drawn, _ in pools[-1] for t in drawn]
    assert episodes
    for t in episodes:  # each a whole episode of one copy: one stream, ended at its last step only
        np.testing.assert_array_equal(t.observations[1:], t.next_observations[:-1])
        ended = t.terminated | t.truncated
        assert ended[-1] and not ended[:-1].any()


# --------------------------------------------------------------------------------------- the CLI
def irl_train(*argv):
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", *argv])
    return args.handler(args)


def test_irl_train_n_envs(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--env", "CartPole-v1", "--algo", "pg", "--steps", "512", "--n-envs", "4", "--out", str(out),
                 "--quiet", "--algo-kwargs", '{"eval_episodes": 1}'])
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["config"]["n_envs"] == 4
    assert json.loads((out / "metrics.json").read_text())["steps"] == 512
    for argv, message in ((["--algo", "sac", "--n-envs", "2"], "--n-envs: sac steps one env"),
                          (["--algo", "pg", "--n-envs", "0"], "--n-envs: the number of envs must be an integer >= 1"),
                          (["--algo", "pg", "--n-envs", "2", "--algo-kwargs", '{"n_envs": 2}'], "given twice")):
        bad = tmp_path / "bad"
        code = main(["train", "--env", "CartPole-v1", "--steps", "10", "--out", str(bad), *argv])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err and not bad.exists()


def test_irl_train_help_names_n_envs(capsys):
    with pytest.raises(SystemExit):
        irl_train("--help")
    assert "--n-envs N" in capsys.readouterr().out


def test_irl_fit_n_envs_goes_to_a_pg_generator(tmp_path, capsys):
    path = tmp_path / "grid.npz"
    save_demos(grid_demos(), path)
    run = tmp_path / "run"
    code = main(["fit", "--demos", str(path), "--algo", "gail", "--generator", "pg", "--n-envs", "2", "--steps",
                 "400", "--out", str(run), "--json", "--quiet", "--algo-kwargs", '{"round_steps": 200}'])
    assert code == 0, capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["algo_config"]["generator_kwargs"] == {"n_envs": 2}
    for argv, message in ((["--algo", "gail"], "--n-envs: gail's generator sac steps one env"),
                          (["--algo", "bc"], "--n-envs: bc steps one env"),
                          (["--algo", "maxent"], "--n-envs: maxent steps one env")):
        bad = tmp_path / "bad"
        code = main(["fit", "--demos", str(path), "--n-envs", "2", "--out", str(bad), *argv])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err and not bad.exists()
