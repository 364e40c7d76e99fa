"""GAIL and AIRL end to end: settings refused in one line, the absorbing state's value handed to a PPO
generator by hand, the same seed giving the same numbers, a NaN loss stopping the fit; and (slow)
expert CartPole from 10 demos, AIRL recovering a tabular reward, and the DAC failure mode avoided."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from helpers import rollout_demos

import irl.envs  # noqa: F401  (registers irl/Gridworld-v0)
from irl._checks import NonFiniteError
from irl.data import Demos, load_demos, save_demos
from irl.envs import mdp_for_demos
from irl.inverse.adversarial import fit as adversarial
from irl.inverse.adversarial.discriminators import GAILDiscriminator
from irl.inverse.adversarial.fit import AdversarialConfig, DiscriminatorReward, fit
from irl.inverse.common import EnvTask
from irl.metrics import epic_distance
from irl.runs.fit import run_fit
from irl.runs.generate import generate_tabular_demos
from irl.solvers.policies import evaluate_policy

DEMOS = Path(__file__).resolve().parent.parent / "demos"
CARTPOLE = DEMOS / "cartpole-pg-expert.npz"


# ------------------------------------------------------------------------------------ settings
@pytest.mark.parametrize("kwargs, message", [
    ({"method": "gan"}, "method must be one of"),
    ({"generator": "ddpg"}, "generator must be one of"),
    ({"steps": 0}, "steps must be an integer >= 1"),
    ({"disc_batch_size": 1}, "disc_batch_size must be >= 2"),
    ({"absorbing_lr": 0.0}, "absorbing_lr must be > 0"),
    ({"average_from": 1.5}, "average_from must lie in [0, 1]"),
    ({"label_smoothing": 0.5}, "label_smoothing must lie in [0, 0.5)"),
    ({"gail_reward": "exp"}, "gail_reward must be one of"),
    ({"generator_kwargs": {"total_steps": 5}}, "must not set 'total_steps'"),
])
def test_bad_settings_are_refused_naming_the_setting(kwargs, message):
    with pytest.raises(ValueError) as err:
        AdversarialConfig(**kwargs)
    assert message in str(err.value)


def test_rounds_count_the_env_steps():
    assert AdversarialConfig(steps=2500, round_steps=1000).max_iters == 3


# ------------------------------------------------------------------ the absorbing state, by hand
def test_a_return_that_ends_at_a_termination_gets_the_absorbing_states_value():
    """For a generator that ends its return at a termination, a terminating transition earns
    ``γ r_abs / (1 − γ)`` more: the value of staying in the absorbing state for ever."""
    obs_space, act_space = spaces.Box(-1.0, 1.0, (2,), np.float32), spaces.Discrete(2)
    disc = GAILDiscriminator(obs_space, act_space, (8,), seed=0)
    with torch.no_grad():
        disc.absorbing_logit.fill_(-2.0)
    obs = torch.zeros(3, 2)
    act = torch.tensor([0, 1, 0])
    terminated = torch.tensor([False, True, False])
    plain = DiscriminatorReward(disc, "gail", "logit", policy=None)
    ended = DiscriminatorReward(disc, "gail", "logit", policy=None, terminal_discount=0.9)
    assert plain.absorbing_reward == pytest.approx(-2.0)
    base, bonus = plain(obs, act, obs, terminated), ended(obs, act, obs, terminated)
    np.testing.assert_allclose((bonus - base).numpy(), [0.0, 0.9 * -2.0 / 0.1, 0.0], rtol=1e-6)
    # the GAIL reward of the absorbing state goes through the same transform as any logit: -log(1 - D)
    positive = DiscriminatorReward(disc, "gail", "positive", policy=None)
    assert positive.absorbing_reward == pytest.approx(-np.log(1 - 1 / (1 + np.exp(2.0))), rel=1e-6)
    # at γ = 1 the absorbing state's value is unbounded: nothing is added rather than inf
    assert DiscriminatorReward(disc, "gail", "logit", policy=None, terminal_discount=1.0).terminal_bonus == 0.0


# --------------------------------------------------------------------- determinism, NaN guard
def _short_cartpole(**kwargs):
    demos = load_demos(CARTPOLE)
    cfg = AdversarialConfig(generator="pg", steps=1000, round_steps=500, disc_updates=5, **kwargs)
    return fit(EnvTask("CartPole-v1", {}), demos, config=cfg)


@pytest.mark.parametrize("method", ["gail", "airl"])
def test_the_same_seed_gives_the_same_numbers(method):
    a, b = _short_cartpole(method=method, seed=3), _short_cartpole(method=method, seed=3)
    c = _short_cartpole(method=method, seed=4)
    assert [e["disc_loss"] for e in a.log] == [e["disc_loss"] for e in b.log]
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    act = torch.zeros(16, dtype=torch.int64)
    with torch.no_grad():
        ra, rb, rc = (r.reward_model(x, act, x) for r in (a, b, c))
    assert torch.equal(ra, rb)
    assert not torch.equal(ra, rc)
    assert a.reward_label.startswith("AIRL g(s)" if method == "airl" else "GAIL discriminator logit")


def test_a_nan_discriminator_loss_stops_the_fit_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(adversarial, "discriminator_loss", lambda *a, **k: torch.tensor(float("nan"),
                                                                                          requires_grad=True))
    with pytest.raises(NonFiniteError, match="discriminator's loss became NaN"):
        _short_cartpole(method="gail")


# ---------------------------------------------------------------------- CartPole from 10 demos
@pytest.mark.slow
@pytest.mark.parametrize("method", ["gail", "airl"])
def test_expert_cartpole_from_ten_demos(method):
    """The PPO generator reaches the expert's 500 (≥ 475 over 20 evaluation episodes) from the shipped
    10 demos in 30k env steps; AIRL gets there only because terminations lead to the absorbing state."""
    demos = load_demos(CARTPOLE)
    assert len(demos.episode_starts) == 10
    result = fit(EnvTask("CartPole-v1", {}), demos,
                 config=AdversarialConfig(method=method, generator="pg", steps=30_000, seed=0))
    assert evaluate_policy("CartPole-v1", result.policy, episodes=20, seed=123) >= 475


# ----------------------------------------------------------- AIRL recovers a tabular reward
@pytest.mark.slow
@pytest.mark.parametrize("reward_seed", [0, 2])
def test_airl_recovers_a_stochastic_gridworlds_reward(tmp_path, reward_seed):
    """State-only AIRL on a 5x5 gridworld with 20% slip and a random reward: the greedy policy of the
    recovered g is near-optimal under the true reward (hard regret ≤ 0.05) and g is much closer to the
    true reward than a random reward is (EPIC at most half of a random reward's)."""
    env_kwargs = {"size": 5, "slip": 0.2, "reward": "random", "reward_seed": reward_seed, "horizon": 30}
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=env_kwargs, episodes=100, seed=reward_seed,
                                   discount=0.99)
    path = tmp_path / "grid.npz"
    save_demos(demos, path)
    out = run_fit(path, algo="airl", steps=20_000, generator="sac", algo_kwargs={"policy_window": 2000},
                  out=tmp_path / "run", seed=0)
    mdp = mdp_for_demos(demos)
    rng = np.random.default_rng(0)
    random_epic = np.mean([epic_distance(mdp, mdp.env_states(mdp.reward),
                                         rng.standard_normal((mdp.n_env_states, mdp.n_actions)))
                           for _ in range(5)])
    assert out.metrics["regret_hard"] <= 0.05
    assert out.metrics["epic"] <= 0.5 * random_epic
    assert (tmp_path / "run" / "reward_table.npy").is_file()


# ---------------------------------------------------------------------- the DAC failure mode
class PitCorridor(gym.Env):
    """A line from a pit (x < 0: the episode terminates) to a wall at x = 1; start at x = 0.1, one step
    moves by 0.2·a for a in [-1, 1]. The env's reward is 1 per step alive."""

    def __init__(self) -> None:
        self.observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.x = 0.1

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = 0.1
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x = min(1.0, self.x + 0.2 * float(np.clip(action[0], -1.0, 1.0)))
        return np.array([self.x], np.float32), 1.0, self.x < 0, False, {}


PIT = "irl_test/PitCorridor-v0"
if PIT not in gym.registry:
    gym.register(PIT, entry_point=PitCorridor, max_episode_steps=20)


def pit_demos(episodes: int, seed: int) -> Demos:
    """The expert walks right (a in [0.5, 1]) and never falls: every episode runs its 20 steps."""
    return rollout_demos(PIT, lambda obs, rng: np.array([0.5 + 0.5 * rng.random()], np.float32), episodes, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_an_early_ending_is_not_imitated_by_dying_early(seed):
    """GAIL's ``log D`` reward is negative everywhere, so a generator that counts a termination as the end
    of its return does best by jumping into the pit at once (the control run shows it does). With the
    absorbing state (DAC) ending the episode is worth what the demos' endings are worth, and they never
    end: the SAC generator walks the corridor for all 20 steps."""
    demos = pit_demos(20, seed)
    lengths = {}
    for absorbing in (True, False):
        cfg = AdversarialConfig(method="gail", gail_reward="negative", steps=4000, round_steps=500,
                                absorbing=absorbing, seed=seed)
        result = fit(EnvTask(PIT, {}), demos, config=cfg)
        lengths[absorbing] = np.mean([r["length"] for r in result.curve[-10:]])
        if absorbing:
            assert evaluate_policy(PIT, result.policy, episodes=10, seed=0) == 20
    assert lengths[True] == 20
    assert lengths[False] <= 5, lengths  # the failure mode is real on this task
