"""``irl eval``: read a finished ``irl fit`` run folder back and recompute its metrics.

:func:`load_run` checks the folder (finished, a fit and not a train run, an env id that names no
module unless the user typed it); :func:`eval_run` rebuilds the exact model of its env and demos
and scores its ``reward_table.npy`` and ``policy.npy`` with :func:`irl.runs.fit.evaluate_fit`.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from irl.data import registered_env_id
from irl.envs import mdp_for_demos
from irl.runs.fit import FitError, evaluate_fit
from irl.runs.folders import require_finished
from irl.solvers.tabular_common import cpu_threads_for

__all__ = ["eval_run", "load_run"]


def load_run(run_dir: str | os.PathLike[str], *, env_id: str | None = None) -> dict[str, Any]:
    """The ``config.json`` of an ``irl fit`` run folder; :class:`FitError` if it is not one.

    The env id it names must be a registered one without a ``module:`` part, unless it is
    exactly ``env_id`` (what the user typed as ``--env``): a run made with ``--env
    module:Env`` is read back only when the user names that env again.
    """
    run_dir = Path(run_dir)
    require_finished(run_dir, "irl eval --run")
    path = run_dir / "config.json"
    if not path.is_file():
        raise FitError(f"{run_dir} is not a run folder (no config.json)")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise FitError(f"{path} is not valid JSON: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(config, dict):
        raise FitError(f"{path} is not a JSON object")
    if "steps" in config:
        raise FitError(f"{run_dir} is a run of irl train; irl eval takes a run folder of irl fit (a train run's "
                       "metrics.json already holds the policy's evaluation return)")
    for key in ("demos", "env", "algo"):
        if key not in config:
            raise FitError(f"{path} lacks key {key!r}")
    env = config["env"]
    if not isinstance(env, dict) or not isinstance(env.get("id"), str) or not isinstance(env.get("kwargs", {}), dict):
        raise FitError(f"{path}: 'env' must be an object with 'id' and 'kwargs'")
    if env.get("id") != env_id:
        registered_env_id(env.get("id"), str(path))
    if not isinstance(config["demos"], str):
        raise FitError(f"{path}: 'demos' must be the path of the demo file")
    return config


def eval_run(run_dir: str | os.PathLike[str], *, env_id: str | None = None) -> dict[str, Any]:
    """Recompute the metrics of a finished run from its ``reward_table.npy`` and ``policy.npy``.

    ``env_id`` is what the user typed as ``--env`` (see :func:`load_run`); it must match the run's.
    """
    from irl.data import load_demos

    run_dir = Path(run_dir)
    config = load_run(run_dir, env_id=env_id)
    env = config["env"]
    if env_id is not None and env_id != env["id"]:
        raise FitError(f"env {env_id}: the run was made on {env['id']}")
    if not (run_dir / "reward_table.npy").is_file() and (run_dir / "policy.json").is_file():
        raise FitError(f"{run_dir} is a run of {config['algo']} with no reward table (one is written on a tabular "
                       "env, for an algorithm that learns a reward); irl eval recomputes the exact metrics from it, "
                       "and the run's metrics.json already holds its evaluation return")
    demos = load_demos(config["demos"], check_env=False)
    mdp = mdp_for_demos(demos, env_id=env["id"], env_kwargs=env.get("kwargs") or {})
    S, A = mdp.n_env_states, mdp.n_actions
    table = _load_array(run_dir / "reward_table.npy", [(S, A)])
    shapes = [(S, A)] + ([(mdp.horizon, S, A)] if mdp.horizon is not None else [])
    policy = _load_array(run_dir / "policy.npy", shapes)
    _check_policy_rows(run_dir / "policy.npy", policy)
    with cpu_threads_for(mdp):
        metrics = evaluate_fit(mdp, demos, table, mdp.pad_states(policy) if policy.ndim == 2 else policy)
    metrics["algo"] = config["algo"]
    return metrics


def _load_array(path: Path, shapes: list[tuple[int, ...]]) -> np.ndarray:
    if not path.is_file():
        raise FitError(f"{path.parent} lacks {path.name}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, RuntimeError, zipfile.BadZipFile) as exc:  # a .npy starting "PK" is a zip
        raise FitError(f"{path} cannot be read as a .npy array: {exc}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise FitError(f"{path} must hold a numeric array")
    if arr.shape not in shapes:
        raise FitError(f"{path} has shape {arr.shape}, expected {' or '.join(str(s) for s in shapes)}")
    if not np.isfinite(arr).all():
        raise FitError(f"{path} holds non-finite values")
    return arr.astype(np.float64)


def _check_policy_rows(path: Path, policy: np.ndarray) -> None:
    """Every row of a policy is a distribution over actions: entries >= 0 that sum to 1."""
    negative = policy < 0
    if negative.any():
        idx = tuple(int(i) for i in np.argwhere(negative)[0])
        raise FitError(f"{path}{list(idx)} = {policy[idx]:.3g} is negative; a policy's rows are distributions")
    sums = policy.sum(-1)
    bad = np.abs(sums - 1.0) > 1e-6
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise FitError(f"{path}: row {list(idx)} sums to {sums[idx]:.6g}, not 1; a policy's rows are distributions")
