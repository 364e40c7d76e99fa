"""Behaviour cloning: the maximum-likelihood optimum on a tabular task (the demos' action frequencies),
near-expert Pendulum from the shipped demos with both policy kinds, early stopping that keeps the best
weights, and PG's warm start through the shared function giving the numbers of its old loop."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import rollout_demos
from torch import nn

import irl.envs  # noqa: F401  (registers irl/Gridworld-v0)
from irl.data import DemoFormatError, Demos, load_demos
from irl.inverse.bc import BCConfig, fit
from irl.inverse.common import EnvTask
from irl.inverse.registry import get_algorithm
from irl.solvers.agent import Transitions
from irl.solvers.cloning import _split, clone_behavior
from irl.solvers.policies import evaluate_policy
from irl.solvers.policy_gradient import ActorCriticPolicy, DemoBatch, behavior_clone
from irl.solvers.spaces import space_spec

DEMOS = Path(__file__).resolve().parent.parent / "demos"
GRID = EnvTask("irl/Gridworld-v0", {"size": 3})
S, A = 9, 4


def known_policy_demos(pi: np.ndarray, episodes: int, seed: int) -> Demos:
    """Demos of the stationary stochastic policy ``pi`` (S, A) on the 3x3 gridworld."""
    return rollout_demos(GRID.env_id, lambda s, rng: int(rng.choice(A, p=pi[s])), episodes, seed,
                         env_kwargs=GRID.env_kwargs, dtypes=(np.int64, np.int64))


# ------------------------------------------------------------------------- the optimum, by counting
def test_bc_on_a_tabular_task_matches_the_demos_action_frequencies():
    """With one-hot states and no hidden layer the actor is a table of logits, so the maximum-likelihood
    policy is exactly the demos' action frequencies in each state; BC must land on them (to the jitter of
    its with-replacement minibatches), and they are within sampling noise of the known demonstrator."""
    pi = np.random.default_rng(0).dirichlet(np.ones(A), size=S)
    demos = known_policy_demos(pi, episodes=400, seed=0)
    counts = np.zeros((S, A))
    np.add.at(counts, (demos.observations, demos.actions), 1)
    visits = counts.sum(1)
    assert visits.min() >= 100  # every state is visited often: the frequencies pin the optimum down
    frequencies = counts / visits[:, None]

    config = BCConfig(hidden=(), steps=2000, learning_rate=0.005, batch_size=4096, validation_fraction=0.0)
    result = fit(GRID, demos, config=config)
    with torch.no_grad():
        learned = result.policy.log_prob(np.repeat(np.arange(S), A), np.tile(np.arange(A), S)).exp()
    learned = learned.numpy().reshape(S, A)

    assert np.abs(learned - frequencies).max() < 0.02  # measured: 0.006
    assert np.abs(learned - pi).max() < 0.02 + 4 * np.sqrt(0.25 / visits.min())
    assert np.abs(learned - np.full((S, A), 1 / A)).max() > 0.3  # not trivially uniform
    assert result.reward_model is None and not result.converged and result.iterations == 2000
    assert result.stop_reason == "max_steps" and "ran all 2000 steps" in result.stop_message


# --------------------------------------------------------------------------------- continuous
@pytest.mark.parametrize("kind, steps", [("sac", 1000), ("actor-critic", 1500)])
def test_bc_on_pendulum_demos_gets_near_expert_returns(kind, steps):
    """The shipped SAC expert (mean return -154) from 20 episodes: the held-out loss falls and the
    deterministic clone's return is far above a uniform policy's (measured: -1249 on these seeds)."""
    demos = load_demos(DEMOS / "pendulum-sac-expert.npz")
    entries = []
    result = fit(EnvTask("Pendulum-v1"), demos, config=BCConfig(policy=kind, steps=steps), callback=entries.append)
    cloning = result.cloning
    assert entries == result.log and len(entries) == result.iterations
    assert min(cloning.validation_losses) < cloning.validation_losses[0] - 0.4
    assert np.mean(cloning.train_losses[-50:]) < np.mean(cloning.train_losses[:50]) - 0.4
    assert sum("validation_loss" in e for e in entries) == len(cloning.validation_losses) - 1  # not the initial one
    returns = evaluate_policy("Pendulum-v1", result.policy, episodes=10, seed=100)
    assert returns > -300  # measured: sac -164, actor-critic -200; uniform -1249, the demos -154


# ------------------------------------------------------------------------------ early stopping
class Coin(nn.Module):
    """A state-independent choice between actions 0 and 1: ``P(a=1) = sigmoid(logit)``."""

    def __init__(self) -> None:
        super().__init__()
        self.logit = nn.Parameter(torch.zeros(()))

    def log_prob(self, obs, act):
        a = torch.as_tensor(act).float()
        return a * nn.functional.logsigmoid(self.logit) + (1 - a) * nn.functional.logsigmoid(-self.logit)


def test_early_stopping_keeps_the_weights_of_the_lowest_held_out_loss():
    """Training episode: 90% ones; held-out episode: 60% ones. From P(1) = 0.5 the held-out loss falls
    until P(1) passes 0.6, then rises as training pushes on to 0.9: BC must stop and keep the best."""
    starts = np.array([0, 100])
    train, held = _split(200, starts, 0.5, np.random.default_rng(7))  # the split clone_behavior will draw
    acts = np.zeros(200, np.int64)
    acts[train[:90].numpy()] = 1
    acts[held[:60].numpy()] = 1
    coin = Coin()
    result = clone_behavior(coin, np.zeros(200), acts, steps=2000, rng=np.random.default_rng(7), learning_rate=0.01,
                            batch_size=50, validation_fraction=0.5, episode_starts=starts, validate_every=5,
                            patience=10)
    losses = result.validation_losses
    assert result.stopped_early and len(result.train_losses) < 2000
    best = int(np.argmin(losses))
    assert 0 < best < len(losses) - 10 and losses[-1] > losses[best] + 0.01  # it fell, then rose
    assert result.best_step == result.validation_steps[best]
    with torch.no_grad():
        kept = -coin.log_prob(None, acts[held.numpy()]).mean().item()
    assert kept == losses[best]  # the weights are those of the lowest held-out loss, exactly
    assert abs(torch.sigmoid(coin.logit).item() - 0.6) < 0.03


def test_the_split_holds_out_whole_episodes_or_steps():
    starts = np.arange(0, 100, 10)
    train, held = _split(100, starts, 0.3, np.random.default_rng(0))
    assert len(held) == 30 and len(train) == 70 and set(held.tolist()).isdisjoint(train.tolist())
    assert len(set(held.numpy() // 10)) == 3  # three whole episodes
    train, held = _split(5, None, 0.1, np.random.default_rng(0))
    assert len(held) == 1 and len(train) == 4  # at least one step held out
    train, held = _split(5, None, 0.0, np.random.default_rng(0))
    assert held is None and train.tolist() == list(range(5))


# ------------------------------------------------------------------------------- PG's warm start
def test_pg_warm_start_through_the_shared_function_gives_the_old_loops_numbers():
    """``behavior_clone`` (validation off) against PG's former loop, copied here: same losses, same weights."""
    obs = np.random.default_rng(0).normal(size=(70, 3)).astype(np.float32)
    acts = np.random.default_rng(1).uniform(-2, 2, size=(70, 1)).astype(np.float32)
    transitions = Transitions(obs, acts, obs, np.zeros(70, bool), np.r_[np.zeros(69, bool), True],
                              np.full(70, np.nan), np.full(70, np.nan))
    spec = (space_spec(gym.spaces.Box(-np.inf, np.inf, (3,))), space_spec(gym.spaces.Box(-2, 2, (1,)), bounds=True))
    new, old = ActorCriticPolicy(*spec, seed=5), ActorCriticPolicy(*spec, seed=5)
    losses = behavior_clone(new, DemoBatch(transitions, new), 40, 1e-2, 32, np.random.default_rng(3))

    demo, rng = DemoBatch(transitions, old), np.random.default_rng(3)
    optimizer = torch.optim.Adam(list(old.actor.parameters()) + [old.log_std], lr=1e-2)
    old_losses = []
    for _ in range(40):
        i = torch.as_tensor(rng.integers(0, demo.n, size=min(32, demo.n)))
        loss = -old.dist_log_prob(old.distribution(demo.x[i]), demo.actions[i]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        old_losses.append(loss.item())

    assert losses == old_losses and losses[-1] < losses[0]
    for (name, a), b in zip(new.state_dict().items(), old.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


# ------------------------------------------------------------------------------------ the seams
def test_bc_is_registered_as_a_sampled_algorithm():
    algorithm = get_algorithm("bc")
    assert algorithm.tabular is False and algorithm.fit_function() is fit
    assert algorithm.make_config(steps=3).steps == 3


@pytest.mark.parametrize("bad", [{"policy": "ppo"}, {"steps": 0}, {"validation_fraction": 1.0},
                                 {"learning_rate": 0.0}, {"hidden": (0,)}, {"patience": 0}])
def test_config_refuses_bad_settings(bad):
    with pytest.raises(ValueError, match="BCConfig"):
        BCConfig(**bad)


def test_demos_that_do_not_fit_the_env_are_refused():
    demos = known_policy_demos(np.full((S, A), 1 / A), episodes=3, seed=0)
    with pytest.raises(DemoFormatError, match="observations"):
        fit(EnvTask("irl/Gridworld-v0", {"size": 2}), demos, config=BCConfig(steps=1))
    wide = [{"observations": np.zeros((5, 3), np.float32), "actions": np.full((5, 1), 2.5, np.float32),
             "next_observations": np.zeros((5, 3), np.float32), "truncated": True}]
    wide = Demos.from_episodes(wide, check_env=False)
    with pytest.raises(ValueError, match="outside"):
        fit(EnvTask("Pendulum-v1"), wide, config=BCConfig(policy="sac", steps=1))
    result = fit(EnvTask("Pendulum-v1"), wide, config=BCConfig(steps=3, validation_fraction=0.0))
    assert result.iterations == 3  # a Gaussian can score actions outside the bounds
    with pytest.raises(TypeError, match="EnvTask"):
        fit(object(), demos)
