"""Make demonstrations: roll out the soft-optimal policy of an env's true reward.

The policy comes from :func:`irl.solvers.soft_value_iteration` on the env's exact
tabular model; the rollouts step the real gymnasium env, so the demos carry the
env's own observations, rewards, terminations and time limits.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from irl._progress import progress as progress_reporter
from irl.data import FORMAT_VERSION, Demos
from irl.envs import TabularMDP, env_time_limit, make_env
from irl.envs.for_demos import check_horizon_fits
from irl.solvers import soft_value_iteration

#: the coldest demonstrator: below this, Q/α overflows float64 for rewards of ordinary size
MIN_TEMPERATURE = 1e-6


class GenerateError(ValueError):
    """The requested demonstrations cannot be made as asked (bad option for this env)."""


def check_generate_options(*, episodes: int, seed: int, max_steps: int | None = None,
                           discount: float | None = None, temperature: float | None = None) -> None:
    """Raise :class:`GenerateError` naming the first option out of range (shared by both generators)."""
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise GenerateError(f"episodes must be an integer >= 1, got {episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise GenerateError(f"seed must be a non-negative integer, got {seed!r}")
    if max_steps is not None and max_steps < 1:
        raise GenerateError(f"max_steps must be >= 1, got {max_steps}")
    if discount is not None and not 0.0 < discount <= 1.0:
        raise GenerateError(f"discount must lie in (0, 1], got {discount}")
    if temperature is not None and not (math.isfinite(temperature) and temperature >= MIN_TEMPERATURE):
        raise GenerateError(f"temperature must be a finite number >= {MIN_TEMPERATURE:g} (smaller is closer "
                            f"to optimal), got {temperature}")


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
        seed: seeds the env's resets and the action draws (>= 0).
        temperature: α of the soft-optimal policy (smaller is closer to optimal), finite and
            >= :data:`MIN_TEMPERATURE`.
        discount: the demonstrator's discount; default 1 with a time limit.
        max_steps: episode length (the policy's horizon); default and cap: the env's
            own time limit. Required for envs without one.
    """
    check_generate_options(episodes=episodes, seed=seed, max_steps=max_steps, discount=discount,
                           temperature=temperature)
    env_kwargs = dict(env_kwargs or {})
    env = make_env(env_id, env_kwargs)
    spaces = (env.observation_space, env.action_space)
    if not all(isinstance(space, gym.spaces.Discrete) for space in spaces):
        raise GenerateError(
            f"{env_id} is not tabular (observation space {env.observation_space}, action space "
            f"{env.action_space}); continuous envs need a trained policy"
        )
    own_limit = env_time_limit(env)
    horizon = own_limit if max_steps is None else (max_steps if own_limit is None else min(max_steps, own_limit))
    if horizon is None:
        raise GenerateError(f"{env_id} has no time limit: give max_steps (the episode length)")
    check_horizon_fits(horizon, int(env.observation_space.n) + 1, int(env.action_space.n), hint="lower --max-steps")
    mdp = TabularMDP.from_env(env, horizon=horizon, discount=discount)
    if mdp.reward is None:
        raise GenerateError(f"{env_id} has no known reward to be optimal for")
    solution = soft_value_iteration(mdp, mdp.reward, temperature=temperature)
    policy = solution.policy.cpu().numpy()  # (T, S, A) or (S, A)

    rng = np.random.default_rng(seed)
    obs, acts, next_obs, rews, terms, touts, starts = [], [], [], [], [], [], []
    bar = progress_reporter(episodes, f"generate {env_id}", enabled=progress, unit="episodes")
    for ep in range(episodes):
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
        bar.update(1)
    bar.close()
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
