"""The leaderboard's demo files: made once per (task, number of episodes, seed), cached by content hash.

Tabular tasks: the soft-optimal policy of the true reward at the task's temperature
(:func:`irl.runs.generate.generate_tabular_demos`). Continuous tasks: an SAC expert trained by
``irl train`` for ``expert_steps`` (seed 0, one per task, cached as a run folder under
``experts/``), then rolled out with sampled actions.

The cache key hashes everything that changes the file: env id and kwargs, temperature,
discount, max_steps, episodes, seed, the expert's steps, and :data:`GENERATOR_VERSION` (bump it
when the generators change what they write). A file is written atomically, so a killed run
leaves either no file or a whole one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from irl.compare.config import TaskSpec

__all__ = ["GENERATOR_VERSION", "demo_key", "ensure_demos"]

#: part of every cache key: bump when the demo generators change their output
GENERATOR_VERSION = 1
#: the SAC expert of a continuous task is trained with this seed (one expert per task)
EXPERT_SEED = 0


def demo_key(task: TaskSpec, episodes: int, seed: int) -> str:
    """A short hash of everything that determines the demo file."""
    what = {"env": task.env, "env_kwargs": task.env_kwargs, "temperature": task.temperature,
            "discount": task.discount, "max_steps": task.max_steps, "expert_steps": task.expert_steps,
            "expert_seed": EXPERT_SEED if task.kind == "continuous" else None, "episodes": episodes,
            "seed": seed, "version": GENERATOR_VERSION}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:12]


def demo_path(cache: Path, task: TaskSpec, episodes: int, seed: int) -> Path:
    return Path(cache) / f"{task.name}-n{episodes}-s{seed}-{demo_key(task, episodes, seed)}.npz"


def ensure_demos(cache: str | Path, task: TaskSpec, episodes: int, seed: int, *, progress: bool = False) -> Path:
    """The cached demo file for (task, episodes, seed), made now if it is not there yet."""
    from irl.data import save_demos

    cache = Path(cache)
    path = demo_path(cache, task, episodes, seed)
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    if task.kind == "tabular":
        from irl.runs.generate import generate_tabular_demos

        demos = generate_tabular_demos(task.env, env_kwargs=task.env_kwargs, episodes=episodes, seed=seed,
                                       temperature=task.temperature, discount=task.discount,
                                       max_steps=task.max_steps)
    else:
        from irl.runs.rollout import rollout_policy_demos

        expert = _expert(cache.parent / "experts", task, progress)
        demos = rollout_policy_demos(task.env, expert, env_kwargs=task.env_kwargs, episodes=episodes, seed=seed,
                                     max_steps=task.max_steps, discount=task.discount)
    save_demos(demos, path)
    return path


def _expert(root: Path, task: TaskSpec, progress: bool) -> Path:
    """The SAC expert's run folder for a continuous task, trained now if it is not cached."""
    from irl.runs.train import run_train

    key = hashlib.sha256(json.dumps({"env": task.env, "env_kwargs": task.env_kwargs, "steps": task.expert_steps,
                                     "seed": EXPERT_SEED, "version": GENERATOR_VERSION}, sort_keys=True,
                                    default=str).encode()).hexdigest()[:12]
    run_dir = root / f"{task.name}-sac-{key}"
    if (run_dir / "policy.json").exists():
        return run_dir
    root.mkdir(parents=True, exist_ok=True)
    outcome = run_train(task.env, "sac", steps=int(task.expert_steps), env_kwargs=dict(task.env_kwargs),
                        seed=EXPERT_SEED, out=run_dir, progress=progress)
    return outcome.run_dir


def demo_stats(path: Path) -> dict[str, Any]:
    """Mean return and the share of episodes that ended by termination (reached a terminal state)."""
    import numpy as np

    from irl.data import load_demos

    demos = load_demos(path, check_env=False)
    ends = demos.episode_ends - 1
    return {"demo_return": float(np.mean(demos.episode_returns())),
            "demo_terminated": float(np.mean(np.asarray(demos.terminals)[ends]))}
