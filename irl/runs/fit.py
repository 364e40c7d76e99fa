"""``irl fit`` as a library call: demos → MDP → inverse algorithm → run folder.

The run folder is assembled in a hidden temporary folder next to its final place
and renamed into place at the end, so an interrupted or failed fit leaves nothing
behind (and a finished one is complete). Its files:

- ``config.json``: the demo file, env, horizon/discount, algorithm and its settings, seed.
- ``reward.json`` + ``reward_weights.npz``: the reward model (``irl.rewards.load_reward``).
- ``reward_table.npy``: ``(n_env_states, A)`` float64 learned reward, indexed by the
  env's own states and actions (no absorbing row).
- ``policy.npy``: the soft-optimal policy of the learned reward, ``(S, A)`` or ``(T, S, A)``
  over the env's own states.
- ``metrics.json``: recovery metrics against the true reward (when the env has one),
  demo log-likelihood, iterations, convergence, wall time.
- ``log.jsonl``: one JSON line per optimiser iteration.
- ``reward.png`` for grid tasks (true vs learned reward); ``margin.png`` for margin methods.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import irl
from irl.data import Demos, check_in_space
from irl.envs import TabularMDP
from irl.inverse.registry import get_algorithm
from irl.runs.folders import atomic_run_dir, new_run_dir
from irl.runs.generate import env_time_limit
from irl.solvers.tabular_common import cpu_threads_for


class FitError(ValueError):
    """The fit cannot run as asked (bad option, demos that don't fit the env, ...)."""


def mdp_for_demos(
    demos: Demos, *, env_id: str | None = None, env_kwargs: dict[str, Any] | None = None
) -> tuple[TabularMDP, str, dict[str, Any]]:
    """The exact tabular model of the env the demos came from (or ``env_id`` when given).

    Horizon: the demos' metadata ``horizon``, else the env's time limit (else none,
    which needs a discount < 1). Discount: the metadata's ``discount`` (1 means an
    undiscounted finite horizon). Returns ``(mdp, env_id, env_kwargs)``.
    """
    if env_id is None:
        if demos.env_id is None:
            raise FitError("the demo file names no env (metadata env is null): give --env")
        env_id, env_kwargs = demos.env_id, dict(demos.env_kwargs or {}) if env_kwargs is None else env_kwargs
    env_kwargs = dict(env_kwargs or {})
    try:
        env = gym.make(env_id, **env_kwargs)
    except gym.error.Error as exc:
        raise FitError(f"cannot make env {env_id!r}: {exc}") from None
    except TypeError as exc:
        raise FitError(f"bad --env-kwargs for {env_id}: {exc}") from None
    try:
        if not isinstance(env.observation_space, gym.spaces.Discrete) or not isinstance(
            env.action_space, gym.spaces.Discrete
        ):
            raise FitError(
                f"{env_id} is not tabular (observations {env.observation_space}, actions {env.action_space}); "
                "the tabular algorithms need discrete states and actions"
            )
        # the env the fit uses (possibly --env): check the demos against its spaces
        check_in_space("observations", demos.observations, env.observation_space)
        check_in_space("next_observations", demos.next_observations, env.observation_space)
        check_in_space("actions", demos.actions, env.action_space)
        meta = demos.metadata
        horizon = meta.get("horizon", "auto")
        discount = meta.get("discount")
        if discount is not None and float(discount) >= 1.0:
            discount = None
        if horizon is None and discount is None:
            raise FitError("the demos' metadata gives neither a horizon nor a discount < 1")
        mdp = TabularMDP.from_env(env, horizon=horizon, discount=discount)
        caps = [h for h in (env_time_limit(env), mdp.horizon) if h is not None]
    finally:
        env.close()
    if caps and int(demos.episode_lengths.max()) > min(caps):
        i = int(np.argmax(demos.episode_lengths))
        raise FitError(
            f"demo episode {i} has {int(demos.episode_lengths[i])} steps, more than the horizon "
            f"(time limit) {min(caps)} of {env_id}"
        )
    return mdp, env_id, env_kwargs


def default_reward_kind(mdp: TabularMDP) -> str:
    """``"linear"`` when the MDP has informative features, ``"tabular"`` (state-action) otherwise.

    One-hot state features (the toy-text default) make a linear reward a state-only
    table, which cannot express a penalty that belongs to a move (stepping off a
    cliff); a state-action table can, so it is the default there.
    """
    if mdp.features is None:
        return "tabular"
    phi = mdp.env_states(mdp.features).to("cpu", torch.float64)
    if phi.ndim == 2 and phi.shape[1] == phi.shape[0]:
        is_one_hot = bool(((phi == 0) | (phi == 1)).all()) and bool((phi.sum(1) == 1).all())
        if is_one_hot and bool((phi.sum(0) == 1).all()):
            return "tabular"
    return "linear"


@dataclasses.dataclass
class FitOutcome:
    """What :func:`run_fit` did: the run folder, its metrics and the algorithm's result."""

    run_dir: Path
    metrics: dict[str, Any]
    config: dict[str, Any]
    result: Any


def run_fit(
    demos_path: str | os.PathLike[str],
    *,
    algo: str = "maxent",
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    device: str = "cpu",
    algo_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
    runs_root: str | os.PathLike[str] = "runs",
) -> FitOutcome:
    """Fit ``algo`` to the demos in ``demos_path`` and write the run folder (see module docstring).

    Raises :class:`FitError` / ``DemoFormatError`` / ``MDPError`` on bad input, before
    anything is written.
    """
    from irl.data import load_demos

    try:
        algorithm = get_algorithm(algo)
    except KeyError as exc:
        raise FitError(str(exc.args[0])) from None
    demos_path = Path(demos_path)
    demos = load_demos(demos_path, check_env=False)  # mdp_for_demos checks them against the env it uses
    mdp, env_id, env_kwargs = mdp_for_demos(demos, env_id=env_id, env_kwargs=env_kwargs)
    if device not in ("cpu", "cuda"):
        raise FitError(f"--device must be cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise FitError("--device cuda: no CUDA device is available")

    config = _make_config(algorithm, mdp, seed=seed, device=device, algo_kwargs=algo_kwargs or {})
    run_dir = Path(out) if out is not None else new_run_dir(Path(runs_root), f"{demos_path.stem}-{algo}")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise FitError(f"--out {run_dir} exists and is not empty")

    bar = _progress_bar(progress, getattr(config, "max_iters", None), algo)
    log: list[dict[str, Any]] = []

    def callback(entry: dict[str, Any]) -> None:
        log.append(dict(entry))
        if bar is not None:
            bar.update(1)
            if "log_likelihood" in entry:
                bar.set_postfix(loglik=f"{entry['log_likelihood']:.4g}", grad=f"{entry.get('grad_norm', float('nan')):.2g}")

    start = time.perf_counter()
    with cpu_threads_for(mdp):
        try:
            result = algorithm.fit_function()(mdp, demos, config=config, callback=callback)
        finally:
            if bar is not None:
                bar.close()
        seconds = time.perf_counter() - start

        table = np.asarray(result.reward_table, dtype=np.float64)
        policy = result.policy.detach().to("cpu", torch.float64)
        policy_env = policy[..., : mdp.n_env_states, :].numpy()
        metrics = evaluate_fit(mdp, demos, table, policy)
    metrics.update(
        algo=algo,
        iterations=int(result.iterations),
        converged=bool(result.converged),
        seconds=seconds,
        n_episodes=demos.n_episodes,
        n_steps=demos.n_steps,
    )
    if getattr(result, "margins", None) is not None:
        metrics["final_margin"] = float(result.margins[-1]) if len(result.margins) else None
    run_config = {
        "irl_version": irl.__version__,
        "created": datetime.now().isoformat(timespec="seconds"),
        "demos": str(demos_path.resolve()),
        "env": {"id": env_id, "kwargs": env_kwargs},
        "horizon": mdp.horizon,
        "discount": mdp.discount,
        "algo": algo,
        "seed": seed,
        "device": device,
        "algo_config": _jsonable_config(config),
    }
    _write_run_dir(run_dir, run_config, result, table, policy_env, metrics, result.log or log, mdp)
    return FitOutcome(run_dir=run_dir, metrics=metrics, config=run_config, result=result)


def evaluate_fit(mdp: TabularMDP, demos: Demos, table: np.ndarray, policy: torch.Tensor | np.ndarray) -> dict[str, Any]:
    """Metrics of a learned ``(n_env_states, A)`` reward table and its policy on ``mdp``.

    Always: demo log-likelihood (total and per step) under ``policy``. With a true
    reward: EPIC, hard and soft regret, value difference, Pearson and Spearman.
    """
    from irl.metrics import demo_log_likelihood, recovery_report

    metrics: dict[str, Any] = {}
    ll = demo_log_likelihood(mdp, demos, policy)
    metrics["demo_log_likelihood"] = ll["total"] / demos.n_episodes
    metrics["demo_log_likelihood_per_step"] = ll["per_step"]
    if mdp.reward is not None:
        true = mdp.env_states(mdp.reward) if mdp.absorbing is not None else mdp.reward
        metrics.update({k: float(v) for k, v in recovery_report(mdp, true, table).items()})
    return metrics


def _make_config(algorithm, mdp: TabularMDP, *, seed: int, device: str, algo_kwargs: dict[str, Any]) -> Any:
    cls = algorithm.config_class()
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(algo_kwargs) - fields)
    if unknown:
        raise FitError(f"--algo-kwargs: unknown setting(s) {unknown} for {algorithm.name}; known: {sorted(fields)}")
    values: dict[str, Any] = {}
    if "seed" in fields:
        values["seed"] = seed
    if "device" in fields:
        values["device"] = device
    elif device != "cpu":
        raise FitError(f"--algo {algorithm.name} runs on the CPU only")
    if "reward" in fields and "reward" not in dict(algorithm.defaults):
        values["reward"] = default_reward_kind(mdp)
    values.update(algo_kwargs)
    try:
        return algorithm.make_config(**values)
    except (TypeError, ValueError) as exc:
        raise FitError(f"--algo-kwargs: {exc}") from None


def _jsonable_config(config: Any) -> dict[str, Any]:
    from irl.cli.common import to_jsonable

    return to_jsonable(dataclasses.asdict(config))


def _progress_bar(progress: bool, total: int | None, algo: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"fit {algo}", unit="it", leave=False)


def _write_run_dir(run_dir, run_config, result, table, policy_env, metrics, log, mdp) -> None:
    from irl.cli.common import to_jsonable
    from irl.rewards import save_reward

    with atomic_run_dir(run_dir) as tmp:
        (tmp / "config.json").write_text(json.dumps(run_config, indent=2, sort_keys=True) + "\n")
        save_reward(result.reward_model, tmp)
        np.save(tmp / "reward_table.npy", table)
        np.save(tmp / "policy.npy", policy_env)
        (tmp / "metrics.json").write_text(json.dumps(to_jsonable(metrics), indent=2, sort_keys=True) + "\n")
        with open(tmp / "log.jsonl", "w") as fh:
            for entry in log:
                fh.write(json.dumps(to_jsonable(entry), sort_keys=True) + "\n")
        if mdp.grid_shape is not None:
            from irl.runs.plots import plot_reward_grid

            true = None if mdp.reward is None else mdp.env_states(mdp.reward).cpu().numpy()
            plot_reward_grid(tmp / "reward.png", mdp.grid_shape, table, true, title=run_config["algo"])
        margins = getattr(result, "margins", None)
        if margins is not None and len(margins):
            from irl.runs.plots import plot_margins

            plot_margins(tmp / "margin.png", margins, title=run_config["algo"])


def load_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of a run folder; :class:`FitError` if it is not one."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        raise FitError(f"{run_dir} is not a run folder (no config.json)")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FitError(f"{path} is not valid JSON: {exc.msg}") from None
    for key in ("demos", "env", "algo"):
        if key not in config:
            raise FitError(f"{path} lacks key {key!r}")
    return config


def eval_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Recompute the metrics of a finished run from its ``reward_table.npy`` and ``policy.npy``."""
    from irl.data import load_demos

    run_dir = Path(run_dir)
    config = load_run(run_dir)
    demos = load_demos(config["demos"], check_env=False)
    env = config["env"] or {}
    mdp, _, _ = mdp_for_demos(demos, env_id=env.get("id"), env_kwargs=env.get("kwargs"))
    table = _load_array(run_dir / "reward_table.npy", (mdp.n_env_states, mdp.n_actions))
    policy = _load_array(run_dir / "policy.npy", None)
    with cpu_threads_for(mdp):
        metrics = evaluate_fit(mdp, demos, table, policy)
    metrics["algo"] = config["algo"]
    return metrics


def _load_array(path: Path, shape: tuple[int, ...] | None) -> np.ndarray:
    if not path.is_file():
        raise FitError(f"{path.parent} lacks {path.name}")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise FitError(f"{path} cannot be read: {exc}") from None
    if shape is not None and arr.shape != shape:
        raise FitError(f"{path} has shape {arr.shape}, expected {shape}")
    if not np.isfinite(arr).all():
        raise FitError(f"{path} holds non-finite values")
    return arr

