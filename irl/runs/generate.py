"""Make demonstrations: roll out the soft-optimal policy of an env's true reward.

The policy comes from :func:`irl.solvers.soft_value_iteration` on the env's exact
tabular model; the rollouts step the real gymnasium env, so the demos carry the
env's own observations, rewards, terminations and time limits.
"""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from irl.data import FORMAT_VERSION, Demos
from irl.envs import TabularMDP
from irl.solvers import soft_value_iteration


class GenerateError(ValueError):
    """The requested demonstrations cannot be made as asked (bad option for this env)."""


def generate_tabular_demos(
    env_id: str,
    *,
    env_kwargs: dict[str, Any] | None = None,
    episodes: int,
    seed: int = 0,
    temperature: float = 1.0,
    discount: float | None = None,
    max_steps: int | None = None,
    progress: bool = False,
) -> Demos:
    """Roll out the soft-optimal policy of a tabular env's true reward for ``episodes`` episodes.

    Args:
        env_id, env_kwargs: the gymnasium env (toy-text or ``irl/...``).
        episodes: number of episodes (>= 1).
        seed: seeds the env's resets and the action draws.
        temperature: α of the soft-optimal policy (smaller is closer to optimal).
        discount: the demonstrator's discount; default 1 with a time limit.
        max_steps: episode length (the policy's horizon); default and cap: the env's
            own time limit. Required for envs without one.
    """
    if episodes < 1:
        raise GenerateError(f"--episodes must be >= 1, got {episodes}")
    if not temperature > 0:
        raise GenerateError(f"--temperature must be > 0, got {temperature}")
    if discount is not None and not 0.0 < discount <= 1.0:
        raise GenerateError(f"--discount must lie in (0, 1], got {discount}")
    if max_steps is not None and max_steps < 1:
        raise GenerateError(f"--max-steps must be >= 1, got {max_steps}")
    env_kwargs = dict(env_kwargs or {})
    env = gym.make(env_id, **env_kwargs)
    if not isinstance(env.observation_space, gym.spaces.Discrete) or not isinstance(env.action_space, gym.spaces.Discrete):
        raise GenerateError(
            f"{env_id} is not tabular (observation space {env.observation_space}, action space "
            f"{env.action_space}); continuous envs need a trained policy"
        )
    own_limit = env_time_limit(env)
    horizon = own_limit if max_steps is None else (max_steps if own_limit is None else min(max_steps, own_limit))
    if horizon is None:
        raise GenerateError(f"{env_id} has no time limit: give --max-steps")
    mdp = TabularMDP.from_env(env, horizon=horizon, discount=discount)
    if mdp.reward is None:
        raise GenerateError(f"{env_id} has no known reward to be optimal for")
    solution = soft_value_iteration(mdp, mdp.reward, temperature=temperature)
    policy = solution.policy.cpu().numpy()  # (T, S, A) or (S, A)

    rng = np.random.default_rng(seed)
    obs, acts, next_obs, rews, terms, touts, starts = [], [], [], [], [], [], []
    for ep in tqdm(range(episodes), desc="episodes", disable=not progress, leave=False):
        s, _ = env.reset(seed=seed if ep == 0 else None)
        starts.append(len(obs))
        t = 0
        while True:
            p = policy[t] if policy.ndim == 3 else policy
            a = int(rng.choice(p.shape[-1], p=p[int(s)] / p[int(s)].sum()))
            s2, r, terminated, truncated, _ = env.step(a)
            t += 1
            truncated = bool(truncated) or (horizon is not None and t >= horizon)
            obs.append(int(s))
            acts.append(a)
            next_obs.append(int(s2))
            rews.append(float(r))
            terms.append(bool(terminated))
            touts.append(bool(truncated) and not terminated)
            if terminated or truncated:
                break
            s = s2
    env.close()
    metadata = {
        "format_version": FORMAT_VERSION,
        "env": {"id": env_id, "kwargs": env_kwargs},
        "discount": discount if discount is not None else 1.0,
        "horizon": horizon,
        "provenance": {
            "method": "soft-optimal",
            "temperature": temperature,
            "seed": seed,
            "episodes": episodes,
            "command": " ".join(shlex.quote(a) for a in ["irl", *sys.argv[1:]]) if sys.argv else None,
            "torch": torch.__version__,
        },
    }
    json.dumps(metadata)  # fail here, not at save time, if anything is not JSON
    return Demos.build(
        observations=np.asarray(obs, dtype=np.int64),
        actions=np.asarray(acts, dtype=np.int64),
        next_observations=np.asarray(next_obs, dtype=np.int64),
        rewards=np.asarray(rews, dtype=np.float64),
        terminals=np.asarray(terms, dtype=bool),
        timeouts=np.asarray(touts, dtype=bool),
        episode_starts=np.asarray(starts, dtype=np.int64),
        metadata=metadata,
    )


def env_time_limit(env: gym.Env) -> int | None:
    """The episode length the env enforces itself: its TimeLimit, or our tabular envs' horizon."""
    limit = env.spec.max_episode_steps if env.spec is not None else None
    own = getattr(env.unwrapped, "horizon", None)
    candidates = [h for h in (limit, own) if isinstance(h, int) and h > 0]
    return min(candidates) if candidates else None
