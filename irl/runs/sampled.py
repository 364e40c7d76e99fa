"""What ``irl fit`` does differently for the algorithms that sample the env (gail, airl, gcl, gan-gcl, bc,
iq-learn): the flags only they take (:func:`sampled_options`) and what it measures (:func:`sampled_metrics`).

- ``eval_return``: the learned policy's mean return on the env's own reward over
  :data:`irl.runs.train.EVAL_EPISODES` episodes (deterministic actions, as ``irl train`` measures).
- ``normalised_return``: ``(R − R_random) / (R_demos − R_random)``, with ``R_random`` the mean
  return of a uniformly random policy on the same env and episodes, ``R_demos`` the demo file's
  mean episode return. Omitted, with the reason in ``normalised_return_omitted``, when the
  file has no rewards or ``R_demos − R_random`` is too small to divide by.
- ``transfer_return`` (``--transfer``): the recovered reward re-optimised from scratch by SAC,
  and that policy's return on the env's reward (normalised as above).
- On a tabular env (Discrete observations and actions with an exact model), the recovered
  reward evaluated on every state and action (``reward_table``) and the policy's action
  probabilities, so that the recovery metrics are those of a tabular fit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from irl._checks import check_finite
from irl.data import Demos
from irl.envs import TabularMDP
from irl.inverse.common import EnvTask
from irl.runs.fit import FitError, evaluate_fit

__all__ = ["TINY_SPREAD", "UniformPolicy", "normalised", "policy_table", "return_metrics", "reward_table",
           "sampled_metrics", "sampled_options", "tabular_model", "transfer_metrics"]

#: ``R_demos − R_random`` below this (relative to ``max(1, |R_demos|, |R_random|)``) gives no normalised score
TINY_SPREAD = 1e-3


class UniformPolicy:
    """Uniformly random actions of an action space, from its own seeded generator (``act`` as a policy's)."""

    def __init__(self, action_space: spaces.Space, seed: int) -> None:
        self.action_space = action_space
        self.action_space.seed(seed)

    def act(self, obs: Any, deterministic: bool = False) -> Any:
        return self.action_space.sample()


def normalised(value: float, random_return: float, demos_return: float) -> float:
    """``(value − R_random) / (R_demos − R_random)``."""
    return (value - random_return) / (demos_return - random_return)


def return_metrics(env_id: str, env_kwargs: dict[str, Any], demos: Any, policy: Any, *, seed: int,
                   episodes: int) -> dict[str, Any]:
    """``eval_return``, ``random_return``, ``demos_return`` and ``normalised_return`` (or why it is omitted)."""
    from irl.envs import make_env
    from irl.solvers.policies import evaluate_policy

    env = make_env(env_id, env_kwargs)
    try:
        eval_return = evaluate_policy(env, policy, episodes=episodes, seed=seed)
        random_return = evaluate_policy(env, UniformPolicy(env.action_space, seed), episodes=episodes, seed=seed)
    finally:
        env.close()
    metrics: dict[str, Any] = {"eval_return": eval_return, "eval_episodes": episodes, "random_return": random_return}
    if demos.rewards is None:
        metrics["normalised_return_omitted"] = "the demo file has no rewards, so R_demos is unknown"
        return metrics
    demos_return = float(np.mean(demos.episode_returns()))
    metrics["demos_return"] = demos_return
    spread = demos_return - random_return
    if not abs(spread) > TINY_SPREAD * max(1.0, abs(demos_return), abs(random_return)):
        metrics["normalised_return_omitted"] = (f"R_demos − R_random = {spread:.3g} is too small to divide by "
                                                f"(R_demos {demos_return:.4g}, R_random {random_return:.4g})")
        return metrics
    metrics["normalised_return"] = normalised(eval_return, random_return, demos_return)
    return metrics


def transfer_metrics(env_id: str, env_kwargs: dict[str, Any], reward_model: Any, returns: dict[str, Any], *,
                     steps: int, seed: int, episodes: int, progress: bool) -> dict[str, Any]:
    """SAC from scratch on ``reward_model`` for ``steps`` env steps; its return on the env's reward as
    ``transfer_return`` (and ``transfer_normalised_return`` when ``returns`` has a normalised score)."""
    from irl.envs import make_env
    from irl.solvers.sac import SACConfig, train

    env = make_env(env_id, env_kwargs)
    try:
        result = train(env, config=SACConfig(total_steps=steps, eval_episodes=episodes), reward_model=reward_model,
                       seed=seed, progress=progress)
    finally:
        env.close()
    out: dict[str, Any] = {"transfer_return": result.eval_return, "transfer_steps": steps}
    if "normalised_return" in returns:
        out["transfer_normalised_return"] = normalised(result.eval_return, returns["random_return"],
                                                       returns["demos_return"])
    return out


def tabular_model(demos: Any, env_id: str, env_kwargs: dict[str, Any]) -> Any:
    """The exact tabular model of the env when it has Discrete observations and actions, else None."""
    from irl.envs import make_env, mdp_for_demos

    env = make_env(env_id, env_kwargs)
    try:
        discrete = isinstance(env.observation_space, spaces.Discrete) and isinstance(env.action_space,
                                                                                        spaces.Discrete)
    finally:
        env.close()
    return mdp_for_demos(demos, env_id=env_id, env_kwargs=env_kwargs) if discrete else None


def _all_pairs(n_states: int, n_actions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(S·A,)`` state and action indices, state-major."""
    return (torch.arange(n_states).repeat_interleave(n_actions), torch.arange(n_actions).repeat(n_states))


def reward_table(reward_model: Any, mdp: Any) -> np.ndarray:
    """``(n_env_states, A)`` float64 reward of every env state and action. A model on the MDP's states whose
    reward depends on the next state (IQ-Learn's ``Q(s, a) − γ V(s')``) gives its expectation over the successors
    (its ``table``); any other is evaluated with the state itself as next state, not terminated (the recovered
    rewards of gail, airl, gcl use neither)."""
    from irl.rewards import RewardFn

    if getattr(reward_model, "uses_next_state", False) and getattr(reward_model, "n_states", None) is not None:
        with torch.no_grad():
            return reward_model.table(mdp).to("cpu", torch.float64).numpy()
    env_space, act_space = spaces.Discrete(mdp.n_env_states), spaces.Discrete(mdp.n_actions)
    s, a = _all_pairs(mdp.n_env_states, mdp.n_actions)
    with torch.no_grad():
        r = RewardFn(reward_model, env_space, act_space)(s.numpy(), a.numpy(), s.numpy(), np.zeros(len(s), bool))
    return torch.as_tensor(r).to("cpu", torch.float64).reshape(mdp.n_env_states, mdp.n_actions).numpy()


def policy_table(policy: Any, mdp: Any) -> np.ndarray:
    """``(n_env_states, A)`` float64 action probabilities of a sampled policy (from its ``log_prob``)."""
    s, a = _all_pairs(mdp.n_env_states, mdp.n_actions)
    with torch.no_grad():
        log_p = policy.log_prob(s, a).to("cpu", torch.float64).reshape(mdp.n_env_states, mdp.n_actions)
    table = log_p.exp().numpy()
    if not np.allclose(table.sum(1), 1.0, atol=1e-4):
        raise ValueError("the policy's action probabilities do not sum to 1 in every state")
    return table / table.sum(1, keepdims=True)


# ------------------------------------------------------------------- irl fit for the sampled algorithms
def sampled_options(algorithm: Any, algo_kwargs: dict[str, Any], steps: int | None, generator: str | None,
                     transfer: bool) -> dict[str, Any]:
    """``algo_kwargs`` with ``--steps`` and ``--generator`` in; :class:`FitError` where a flag does not apply."""
    given = [flag for flag, value in (("--steps", steps), ("--generator", generator), ("--transfer", transfer))
             if value not in (None, False)]
    if algorithm.tabular and given:
        from irl.inverse.registry import ALGORITHMS

        sampled = ", ".join(a.name for a in ALGORITHMS.values() if not a.tabular)
        raise FitError(f"{', '.join(given)}: only for the algorithms that sample the env ({sampled}); "
                       f"{algorithm.name} is exact on the tabular model (its settings go in --algo-kwargs)")
    fields = {f.name for f in dataclasses.fields(algorithm.config_class())}
    if generator is not None and "generator" not in fields:
        raise FitError(f"--generator: {algorithm.name} has no generator (it is for gail, airl, gcl and gan-gcl)")
    if transfer and algorithm.name == "bc":
        raise FitError("--transfer: bc learns no reward to transfer (it is for gail, airl, gcl and gan-gcl)")
    for flag, key, value in (("--steps", "steps", steps), ("--generator", "generator", generator)):
        if value is None:
            continue
        if key in algo_kwargs:
            raise FitError(f"{flag} and {key} in --algo-kwargs both given: give it once")
        if key == "steps" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise FitError(f"--steps must be an integer >= 1, got {value!r}")
        algo_kwargs[key] = value
    return algo_kwargs


def sampled_metrics(task: EnvTask, demos: Demos, result: Any, config: Any, *, algo: str, seed: int, transfer: bool,
                     progress: bool, notes: list[str]) -> tuple[Any, Any, dict[str, Any], TabularMDP | None]:
    """A sampled fit's metrics (the return metrics above, the recovery metrics, the transfer), and on a tabular env its ``(n_env_states, A)`` reward
    table (None for bc), action probabilities and exact model; all None elsewhere."""
    from irl.envs import MDPError
    from irl.runs.train import EVAL_EPISODES

    for name, param in result.policy.named_parameters():
        check_finite(f"learned policy's {name}", param.detach(), algo=algo)
    metrics = return_metrics(task.env_id, task.env_kwargs, demos, result.policy, seed=seed, episodes=EVAL_EPISODES)
    check_finite("evaluation return", np.array([metrics["eval_return"]]), algo=algo)
    if result.reward_model is None:
        metrics["reward_metrics"] = f"not applicable: {algo} learns no reward"
    else:
        metrics["reward_label"] = getattr(result, "reward_label", "recovered reward")
    table = rows = None
    try:
        mdp = tabular_model(demos, task.env_id, task.env_kwargs)
    except MDPError as exc:
        mdp = None
        notes.append(f"no exact tabular model of {task.env_id} ({exc}): no reward table or recovery metrics")
    if mdp is not None:
        rows = policy_table(result.policy, mdp)
        if result.reward_model is not None:
            table = reward_table(result.reward_model, mdp)
            check_finite("recovered reward table", table, algo=algo)
            metrics.update(evaluate_fit(mdp, demos, table, rows))
        else:
            from irl.metrics import demo_log_likelihood

            ll = demo_log_likelihood(mdp, demos, rows)
            metrics.update(demo_log_likelihood=ll["total"] / demos.n_episodes,
                           demo_log_likelihood_per_step=ll["per_step"])
    if "normalised_return_omitted" in metrics:
        notes.append(f"no normalised return: {metrics['normalised_return_omitted']}")
    if transfer:
        metrics.update(transfer_metrics(task.env_id, task.env_kwargs, result.reward_model, metrics,
                                        steps=config.steps, seed=seed, episodes=EVAL_EPISODES, progress=progress))
        check_finite("transfer return", np.array([metrics["transfer_return"]]), algo=algo)
    return table, rows, metrics, mdp
