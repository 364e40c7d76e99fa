"""Make demonstrations by rolling out a trained policy (how expert demos for continuous tasks are made).

The policy comes from ``irl train`` (a run folder, read with
:func:`irl.solvers.policy_io.load_policy`) or is any module with
``act(obs, deterministic=False)``. The rollouts step the real gymnasium env, so the
demos carry the env's own observations, rewards, terminations and time limits.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from irl._progress import progress as progress_reporter
from irl.data import FORMAT_VERSION, Demos, registered_env_id
from irl.envs import env_time_limit, make_env
from irl.runs.generate import GenerateError, check_generate_options

__all__ = ["rollout_policy_demos"]


def rollout_policy_demos(
    env_id: str | None,
    policy: nn.Module | str | os.PathLike[str],
    *,
    env_kwargs: dict[str, Any] | None = None,
    episodes: int,
    seed: int = 0,
    deterministic: bool = False,
    max_steps: int | None = None,
    discount: float | None = None,
    progress: bool = False,
) -> Demos:
    """Returns ``episodes`` episodes of ``policy`` acting in ``env_id`` as validated Demos.

    Args:
        env_id, env_kwargs: the gymnasium env (``irl/...`` ids included); ``env_id`` None
            takes the env (id and kwargs) that an ``irl train`` run folder trained on, which
            must then be a registered id without a ``module:`` part.
        policy: a policy module, or a directory holding ``policy.json`` (an ``irl train``
            run folder).
        episodes: number of episodes (>= 1).
        seed: seeds the first env reset (later resets continue the env's RNG) and the
            policy's action draws, so the same seed gives the same demos.
        deterministic: take the policy's mode instead of sampling.
        max_steps: episode length cap; default and cap: the env's own time limit.
            Required for envs without one. An episode cut by it is marked a timeout.
        discount: recorded in the metadata; default: ``gamma`` of the run's config.json
            when ``policy`` is a run folder that has one, else None.
        progress: show a progress bar over episodes.
    """
    check_generate_options(episodes=episodes, seed=seed, max_steps=max_steps, discount=discount)
    run_dir = None
    if not isinstance(policy, nn.Module):
        from irl.runs.folders import RunDirError, require_finished
        from irl.solvers.policy_io import PolicyFormatError, load_policy

        run_dir = Path(policy)
        try:
            require_finished(run_dir, "--policy")
            policy = load_policy(run_dir)
        except (PolicyFormatError, RunDirError) as error:
            raise GenerateError(str(error)) from None
        run_config = _run_config(run_dir)
        if discount is None:
            discount = _run_discount(run_config)
        if env_id is None:
            env_id, env_kwargs = _run_env(run_config, run_dir, env_kwargs)
    if env_id is None:
        raise GenerateError("give env_id (only an irl train run folder names its env)")
    env_kwargs = dict(env_kwargs or {})
    env = make_env(env_id, env_kwargs)
    _check_policy_fits(policy, env)
    own_limit = env_time_limit(env)
    horizon = own_limit if max_steps is None else (max_steps if own_limit is None else min(max_steps, own_limit))
    if horizon is None:
        raise GenerateError(f"{env_id} has no time limit: give max_steps (the episode length)")

    episodes_out = []
    with torch.random.fork_rng(devices=_cuda_devices(policy)), torch.no_grad():
        _seed_policy(policy, seed)
        bar = progress_reporter(episodes, f"generate {env_id}", enabled=progress, unit="episodes")
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed if ep == 0 else None)
            steps: dict[str, list[Any]] = {"observations": [], "actions": [], "next_observations": [],
                                           "rewards": []}
            terminated = truncated = False
            while not (terminated or truncated):
                action = policy.act(np.asarray(obs), deterministic=deterministic)
                next_obs, reward, terminated, truncated, _ = env.step(_env_action(action, env.action_space))
                truncated = bool(truncated) or len(steps["rewards"]) + 1 >= horizon
                steps["observations"].append(obs)
                steps["actions"].append(action)
                steps["next_observations"].append(next_obs)
                steps["rewards"].append(float(reward))
                obs = next_obs
            episodes_out.append({key: np.asarray(value) for key, value in steps.items()}
                                | {"terminated": bool(terminated), "truncated": not terminated})
            bar.update(1)
        bar.close()
    env.close()
    metadata = {
        "format_version": FORMAT_VERSION,
        "env": {"id": env_id, "kwargs": env_kwargs},
        "discount": discount,
        "horizon": horizon,
        "provenance": {
            "method": "policy",
            "policy": policy.spec(),
            "run": None if run_dir is None else str(run_dir),
            "deterministic": deterministic,
            "seed": seed,
            "episodes": episodes,
            "command": " ".join(shlex.quote(a) for a in ["irl", *sys.argv[1:]]) if sys.argv else None,
            "torch": torch.__version__,
        },
    }
    json.dumps(metadata)  # fail here, not at save time, if anything is not JSON
    for episode in episodes_out:
        episode["actions"] = _stored_actions(episode["actions"], env.action_space)
        episode["observations"], episode["next_observations"] = (
            _stored_obs(episode[key], env.observation_space) for key in ("observations", "next_observations"))
    return Demos.from_episodes(episodes_out, metadata=metadata)


# ----------------------------------------------------------------------------- helpers
def _run_config(run_dir: Path) -> dict[str, Any]:
    """The ``config.json`` of an ``irl train`` run folder, or {} (a bare policy folder has none)."""
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _run_discount(run_config: dict[str, Any]) -> float | None:
    """The ``gamma`` the run trained with, or None."""
    gamma = (run_config.get("config") or {}).get("gamma")
    if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not 0.0 <= gamma <= 1.0:
        return None
    return float(gamma)


def _run_env(run_config: dict[str, Any], run_dir: Path, env_kwargs: dict[str, Any] | None
             ) -> tuple[str, dict[str, Any]]:
    """The env id the run trained on, and its kwargs (unless ``env_kwargs`` are given)."""
    env = run_config.get("env")
    if not isinstance(env, dict) or not isinstance(env.get("id"), str):
        raise GenerateError(f"{run_dir} names no env (no config.json of an irl train run): give env_id")
    env_id = registered_env_id(env["id"], str(run_dir / "config.json"))
    kwargs = env.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise GenerateError(f"{run_dir / 'config.json'}: env kwargs must be an object")
    return env_id, dict(kwargs) if env_kwargs is None else env_kwargs


def _check_policy_fits(policy: nn.Module, env: gym.Env) -> None:
    """Raises GenerateError unless the policy's spec (if it records one) matches the env's spaces."""
    spec = policy.spec() if hasattr(policy, "spec") else {}
    from irl.solvers.spaces import space_spec

    for key, space in (("observation", env.observation_space), ("action", env.action_space)):
        want = spec.get(key)
        if not isinstance(want, dict):
            continue
        have = space_spec(space)
        if want.get("type") != have["type"] or want.get("n") != have.get("n") or \
                want.get("shape") != have.get("shape"):
            raise GenerateError(f"the policy was trained for {key} space {want}, but {env.spec.id} has "
                                f"{have} (wrong env id or env kwargs?)")


def _cuda_devices(policy: nn.Module) -> list[int]:
    return sorted({t.device.index or 0 for t in policy.parameters() if t.device.type == "cuda"})


def _seed_policy(policy: nn.Module, seed: int) -> None:
    """Seeds whatever a policy draws its actions from: torch's RNG, and its own ``generator`` / ``rng``."""
    torch.manual_seed(seed)
    generator = getattr(policy, "generator", None)
    if isinstance(generator, torch.Generator):
        generator.manual_seed(seed)
    if isinstance(getattr(policy, "rng", None), np.random.Generator):
        policy.rng = np.random.default_rng(seed)


def _env_action(action: np.ndarray, space: spaces.Space) -> Any:
    if isinstance(space, spaces.Discrete):
        return int(action)
    return np.asarray(action, dtype=space.dtype).reshape(space.shape)


def _stored_actions(actions: np.ndarray, space: spaces.Space) -> np.ndarray:
    if isinstance(space, spaces.Discrete):
        return actions.astype(np.int64).reshape(-1)
    return actions.astype(np.float32).reshape(-1, *space.shape)


def _stored_obs(obs: np.ndarray, space: spaces.Space) -> np.ndarray:
    if isinstance(space, spaces.Discrete):
        return obs.astype(np.int64).reshape(-1)
    return obs.reshape(-1, *space.shape)
