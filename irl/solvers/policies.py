"""The policy interface every solver's policy implements, the registry that rebuilds one from its spec,
and :func:`evaluate_policy`.

A policy is an ``nn.Module`` with

- ``act(obs, deterministic=False) -> np.ndarray``: one observation or a batch, actions in env form;
- ``sample(obs) -> (actions, log_probs)`` and ``mode(obs) -> actions``: batches in env form (tensors);
- ``log_prob(obs, act) -> (N,)``: the log-density (Box) or log-probability (Discrete) of
  env-form actions, with gradients: what adversarial IRL's discriminators and importance
  weights need;
- ``spec() -> dict`` (JSON, with ``"kind"``) and a ``from_spec`` classmethod.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import gymnasium
import numpy as np
import torch
from torch import nn

from irl._registry import Registry
from irl.solvers.spaces import env_action

__all__ = ["DEFAULT_EVAL_STEP_CAP", "POLICIES", "Policy", "evaluate_policy", "make_env", "policy_from_spec",
           "register_policy"]

#: episode cap of :func:`evaluate_policy` for envs without a time limit
DEFAULT_EVAL_STEP_CAP = 1000

#: policy kind → class; the solver packages register theirs on import
POLICIES: Registry[type] = Registry("policy kind")
_SOLVER_PACKAGES = ("soft_q", "policy_gradient", "sac")


class Policy(Protocol):
    """The interface of the module docstring (for type hints; the classes do not inherit it)."""

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray: ...

    def sample(self, obs: Any) -> tuple[torch.Tensor, torch.Tensor]: ...

    def mode(self, obs: Any) -> torch.Tensor: ...

    def log_prob(self, obs: Any, act: Any) -> torch.Tensor: ...

    def spec(self) -> dict[str, Any]: ...


def register_policy(kind: str):
    """Class decorator: ``policy_from_spec({"kind": kind, ...})`` rebuilds with that class's ``from_spec``."""
    return POLICIES.decorator(kind)


def policy_from_spec(spec: dict[str, Any]) -> nn.Module:
    """Returns a freshly built policy for ``spec`` (initial weights; load the saved state dict after)."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"a policy spec must be a dict with a 'kind' key, got {spec!r}")
    if spec["kind"] not in POLICIES:
        for package in _SOLVER_PACKAGES:  # they register their kinds on import
            importlib.import_module(f"irl.solvers.{package}")
    try:
        cls = POLICIES.get(spec["kind"])
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    return cls.from_spec(spec)


def make_env(env: gymnasium.Env | str) -> gymnasium.Env:
    """Returns ``env`` itself, or ``gymnasium.make(env)`` for an id."""
    if isinstance(env, str):
        return gymnasium.make(env)
    if not isinstance(env, gymnasium.Env):
        raise TypeError(f"env must be a gymnasium env or an env id, got {type(env).__name__}")
    return env


def time_limit(env: gymnasium.Env) -> int | None:
    """The env's ``max_episode_steps`` (its TimeLimit), or None."""
    spec = env.spec or env.unwrapped.spec
    return None if spec is None else spec.max_episode_steps


def evaluate_policy(env: gymnasium.Env | str, policy: Any, episodes: int = 10, seed: int = 0, *,
                    max_episode_steps: int | None = None) -> float:
    """Returns the mean true return of ``policy.act(obs, deterministic=True)`` over ``episodes`` episodes.

    Episode ``i`` starts from ``env.reset(seed=seed + i)``. The env's own reward is
    counted (``info["true_reward"]`` when the env wears a ``LearnedRewardWrapper``).
    Episodes stop at termination, truncation, or after ``max_episode_steps`` (default:
    the env's time limit, else :data:`DEFAULT_EVAL_STEP_CAP`), so a policy that loops
    forever in an env without a time limit still gets a (poor) finite score.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = make_env(env)
    cap = max_episode_steps or time_limit(env) or DEFAULT_EVAL_STEP_CAP
    returns = []
    with torch.no_grad():
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            total = 0.0
            for _ in range(cap):
                action = env_action(policy.act(np.asarray(obs), deterministic=True), env.action_space)
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(info.get("true_reward", reward))
                if terminated or truncated:
                    break
            returns.append(total)
    return float(np.mean(returns))
