"""``irl fit`` as a library call: demos → MDP → inverse algorithm → run folder.

The run folder's name is claimed when the fit starts (it stays empty while the fit
runs); the files are assembled in a hidden temporary folder beside it and renamed
into place at the end, so an interrupted or failed fit leaves no folder with files in
it, and concurrent fits never share one (:mod:`irl.runs.folders`). A NaN or inf in a
reward, value, policy or gradient stops the fit with ``NonFiniteError`` before
anything is written. Its files:

- ``config.json``: the demo file, env, horizon (and where it came from)/discount,
  algorithm and its settings, seed.
- ``reward.json`` + ``reward_weights.npz``: the reward model (``irl.rewards.load_reward``).
- ``reward_table.npy``: ``(n_env_states, A)`` float64 learned reward, indexed by the
  env's own states and actions (no absorbing row).
- ``policy.npy``: the policy the algorithm returns, ``(S, A)`` or ``(T, S, A)`` over the
  env's own states.
- ``metrics.json``: recovery metrics against the true reward (when the env has one),
  demo log-likelihood, iterations, convergence and why the fit stopped, wall time.
- ``log.jsonl``: one JSON line per optimiser iteration.
- ``reward.png`` for grid tasks (true vs learned reward); ``margin.png`` for margin methods.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

import irl
from irl._checks import check_finite
from irl._json import to_jsonable
from irl._progress import progress as progress_reporter
from irl.data import Demos, check_in_space, registered_env_id
from irl.envs import TabularMDP, make_env, mdp_for_demos
from irl.inverse.common import EnvTask, Task
from irl.inverse.registry import get_algorithm
from irl.runs.configs import ConfigError, make_config
from irl.runs.folders import (
    atomic_run_dir,
    claim_out_dir,
    claim_run_dir,
    write_status,
)
from irl.runs.resume import (
    DEFAULT_EVERY,
    DEFAULT_SECONDS,
    NONE,
    ResumeError,
    RunCheckpoints,
    check_call,
    check_intervals,
    file_digest,
    open_resume,
    restore_errors,
    resumed_config,
    settle_failed_run,
    stop_on_signals,
)
from irl.runs.tensorboard import RunWriter, log_fit_entry, log_fit_result, summary_writer_class
from irl.solvers.tabular_common import cpu_threads_for


class FitError(ValueError):
    """The fit cannot run as asked (bad option, demos that don't fit the env, ...)."""


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
    """What :func:`run_fit` did: the run folder, its metrics and config, the algorithm's result, and
    notes for the person who ran it (where the horizon came from, why the fit did not converge)."""

    run_dir: Path
    metrics: dict[str, Any]
    config: dict[str, Any]
    result: Any
    notes: list[str]


def check_seed(seed: Any) -> int:
    """``seed`` as an int if it is a non-negative integer; :class:`FitError` otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise FitError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


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
    steps: int | None = None,
    generator: str | None = None,
    transfer: bool = False,
    progress: bool = False,
    tensorboard: str | os.PathLike[str] | None = None,
    runs_root: str | os.PathLike[str] = "runs",
    checkpoint_every: int | None = DEFAULT_EVERY,
    checkpoint_seconds: float | None = DEFAULT_SECONDS,
    _resume: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> FitOutcome:
    """Fit ``algo`` to the demos in ``demos_path`` and write the run folder (see module docstring).

    ``env_id`` (with ``env_kwargs``) replaces the env the demos name; an id from the demo
    file itself must be a registered one without a ``module:`` part. ``progress`` reports
    the iterations on stderr (a bar in a terminal, a line every few seconds otherwise).
    ``steps`` (env steps; bc: cloning steps), ``generator`` and ``transfer`` (re-optimise the
    recovered reward with SAC from scratch) apply to the algorithms that sample the env only.
    ``tensorboard``: a folder for TensorBoard logs, in ``tensorboard/<run folder name>``
    (:mod:`irl.runs.tensorboard` says what is logged).

    A resumable algorithm (``Algorithm.resumable``: deep-maxent, mmp, gail, airl, gcl, gan-gcl,
    iq-learn) checkpoints into the run folder every ``checkpoint_every`` iterations or
    ``checkpoint_seconds`` seconds, whichever comes first (None: not by that measure), and stops
    at the end of an iteration on Ctrl-C or SIGTERM with ``RunInterrupted`` after saving;
    :func:`resume_fit` continues such a folder (:mod:`irl.runs.resume`).

    Raises :class:`FitError` / ``DemoFormatError`` / ``MDPError`` / ``EnvIdError`` /
    ``MemoryLimitError`` on bad input before anything is written, and
    ``NonFiniteError`` when the fit produces a NaN or inf (nothing is written then either).
    """
    from irl.data import load_demos

    seed = check_seed(seed)
    check_intervals(checkpoint_every, checkpoint_seconds, FitError)
    call = {"demos": str(Path(demos_path).resolve()), "algo": algo, "env_id": env_id, "env_kwargs": env_kwargs,
            "seed": seed, "device": device, "algo_kwargs": dict(algo_kwargs or {}), "steps": steps,
            "generator": generator, "transfer": transfer,
            "tensorboard": None if tensorboard is None else str(Path(tensorboard).resolve()),
            "checkpoint_every": checkpoint_every, "checkpoint_seconds": checkpoint_seconds}
    try:
        algorithm = get_algorithm(algo)
    except KeyError as exc:
        raise FitError(str(exc.args[0])) from None
    if device not in ("cpu", "cuda"):
        raise FitError(f"device must be cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise FitError("device cuda: no CUDA device is available")
    demos_path = Path(demos_path)
    demos = load_demos(demos_path, check_env=False)  # checked below against the env the fit uses
    if env_id is None and demos.env_id is None:
        raise FitError("the demo file names no env (its metadata env is null): name one (irl fit --env ID)")
    task = _task(algorithm, demos, env_id, env_kwargs)
    env_from = "demos" if env_id is None else "--env"
    if env_id is None:
        env_id, env_kwargs = str(demos.env_id), demos.env_kwargs
    else:  # the user's --env: fit the demos as if they came from it
        env_kwargs = dict(env_kwargs or {})
        demos = dataclasses.replace(demos, metadata={**demos.metadata, "env": {"id": env_id, "kwargs": env_kwargs}})
    mdp = task if isinstance(task, TabularMDP) else None
    from irl.runs.sampled import sampled_metrics, sampled_options

    algo_kwargs = sampled_options(algorithm, dict(algo_kwargs or {}), steps, generator, transfer)
    config = _make_config(algorithm, mdp, seed=seed, device=device, algo_kwargs=algo_kwargs)
    notes = [] if mdp is None else _horizon_notes(mdp)
    writer_class = None if tensorboard is None else summary_writer_class(FitError)
    run_config = {
        "irl_version": irl.__version__,
        "created": datetime.now().isoformat(timespec="seconds"),
        "run_kind": "fit",
        "demos": str(demos_path.resolve()),
        "demos_sha256": file_digest(demos_path),
        "env": {"id": env_id, "kwargs": env_kwargs},
        "env_from": env_from,
        "algo": algo,
        "seed": seed,
        "device": device,
        "algo_config": to_jsonable(dataclasses.asdict(config)),
        "call": call,
    }
    if mdp is not None:
        run_config.update(horizon=mdp.horizon, horizon_source=mdp.info.get("horizon_source"), discount=mdp.discount)
    restored = None
    if _resume is not None:  # resume_fit: the folder and the config are the run's own
        saved_config, restored = _resume
        if not algorithm.resumable:
            raise FitError(f"--resume: {algo} does not checkpoint, so {out} cannot hold a checkpoint of it")
        run_config = resumed_config(saved_config, run_config["demos_sha256"], demos_path, FitError)
        run_dir, claimed = Path(out), False
    elif out is not None:
        run_dir, claimed = Path(out), claim_out_dir(Path(out))
    else:
        run_dir, claimed = claim_run_dir(Path(runs_root), f"{demos_path.stem}-{algo}-s{seed}"), True
    board = None if writer_class is None else RunWriter(writer_class, Path(tensorboard) / run_dir.name)
    log, earlier = _restored_log(restored, run_dir)
    start = time.perf_counter()
    ckpts = None
    if algorithm.resumable:
        ckpts = RunCheckpoints(run_dir, "fit", run_config,
                               lambda: {"log": log, "seconds": earlier + time.perf_counter() - start},
                               every=checkpoint_every, seconds=checkpoint_seconds, restored=restored)
    try:
        bar = progress_reporter(getattr(config, "max_iters", None), f"fit {algo}", enabled=progress)
        if log:
            bar.update(len(log))

        def callback(entry: dict[str, Any]) -> None:
            log.append(dict(entry))
            bar.update(1)
            shown = {k: f"{entry[k]:.4g}" for k in ("log_likelihood", "margin", "objective", "loss", "mean_return",
                                                     "disc_accuracy") if isinstance(entry.get(k), int | float)}
            bar.set_postfix(refresh=False, **shown)
            if board is not None:
                log_fit_entry(board, algo, entry)

        extra = {} if ckpts is None else {"checkpoint": ckpts.checkpoint}
        with cpu_threads_for(mdp) if mdp is not None else contextlib.nullcontext():
            try:
                with contextlib.nullcontext() if ckpts is None else stop_on_signals(ckpts.checkpoint), \
                        restore_errors(None if ckpts is None else ckpts.checkpoint, run_dir):
                    result = algorithm.fit_function()(task, demos, config=config, callback=callback, **extra)
                if ckpts is not None and ckpts.checkpoint.stop_requested:  # asked to stop in the last iteration
                    raise KeyboardInterrupt
            finally:
                bar.close()
            seconds = earlier + time.perf_counter() - start
            if mdp is not None:
                table = np.asarray(result.reward_table, dtype=np.float64)
                check_finite("learned reward table", table, algo=algo)
                policy = result.policy.detach().to("cpu", torch.float64)
                check_finite("learned policy", policy, algo=algo)
                policy = policy[..., : mdp.n_env_states, :].numpy()
                metrics = evaluate_fit(mdp, demos, table, result.policy.detach().to("cpu", torch.float64))
                policy_rows, plot_mdp = None, mdp
        if mdp is None:  # a sampled algorithm: its policy is a module; returns, and the exact tables if tabular
            policy = result.policy
            table, policy_rows, metrics, plot_mdp = sampled_metrics(
                task, demos, result, config, algo=algo, seed=seed, transfer=transfer, progress=progress, notes=notes)
        metrics.update(
            algo=algo,
            iterations=int(result.iterations),
            converged=bool(result.converged),
            stop_reason=result.stop_reason,
            stop_message=result.stop_message,
            seconds=seconds,
            n_episodes=demos.n_episodes,
            n_steps=demos.n_steps,
        )
        if not result.converged:
            notes.append(f"{algo} {result.stop_message}")
        for name in ("margin", "slack"):  # apprenticeship learning's margins t, MMP's structured slacks ξ
            values = getattr(result, f"{name}s", None)
            if values is not None:
                metrics[f"final_{name}"] = float(values[-1]) if len(values) else None
        run_dir = _write_run_dir(run_dir, run_config, result, table, policy, metrics, result.log or log, plot_mdp,
                                 policy_rows=policy_rows, merge=ckpts is not None and ckpts.written)
        if board is not None:  # after the run folder is in place: "final" values mean a finished run
            log_fit_result(board, algo, metrics, _reward_grid(plot_mdp, table))
    except BaseException as exc:
        settle_failed_run(run_dir, claimed, ckpts, exc)
        raise
    finally:
        if board is not None:
            board.close()
    return FitOutcome(run_dir=run_dir, metrics=metrics, config=run_config, result=result, notes=notes)


def resume_fit(run_dir: str | os.PathLike[str], *, progress: bool = False) -> FitOutcome:
    """Continues the fit in ``run_dir`` (interrupted, failed, or killed while running) from its last checkpoint,
    with the settings in its ``config.json``; the finished folder is the one an uninterrupted run would have
    written (the same numbers on the CPU; ``seconds`` and the timestamps aside). Raises
    :class:`irl.runs.resume.ResumeError` for a folder that cannot be resumed (finished, still running, ...)."""
    config, checkpoint = open_resume(run_dir, "fit")
    call = check_call(config["call"], _CALL_TYPES, Path(run_dir) / "config.json", "fit")
    return run_fit(call.pop("demos"), **call, out=run_dir, progress=progress, _resume=(config, checkpoint))


#: the arguments of :func:`run_fit` that a run's config.json keeps for resuming, and their JSON types
_CALL_TYPES: dict[str, tuple[type, ...]] = {
    "demos": (str,), "algo": (str,), "env_id": (str, NONE), "env_kwargs": (dict, NONE), "seed": (int,),
    "device": (str,), "algo_kwargs": (dict,), "steps": (int, NONE), "generator": (str, NONE), "transfer": (bool,),
    "tensorboard": (str, NONE), "checkpoint_every": (int, NONE), "checkpoint_seconds": (int, float, NONE)}


def _restored_log(restored: dict[str, Any] | None, run_dir: Path) -> tuple[list[dict[str, Any]], float]:
    """The log entries and seconds a checkpoint holds (none, 0 for a fresh run)."""
    if restored is None:
        return [], 0.0
    run = restored["run"]
    if not isinstance(run, dict) or not isinstance(run.get("log"), list) or not all(
            isinstance(e, dict) for e in run["log"]) or not isinstance(run.get("seconds"), int | float):
        raise ResumeError(f"--resume: {run_dir / 'checkpoint.npz'}: its run state lacks the log or the seconds")
    return list(run["log"]), float(run["seconds"])


def _task(algorithm: Any, demos: Demos, env_id: str | None, env_kwargs: dict[str, Any] | None) -> Task:
    """The exact model of the demos' env for a tabular algorithm, the env itself (checked against the
    demos, made once with a trial step) for one that samples it."""
    if algorithm.tabular:
        return mdp_for_demos(demos, env_id=env_id, env_kwargs=env_kwargs)
    if env_id is None:
        env_id, env_kwargs = registered_env_id(demos.env_id, "the demo file's metadata"), demos.env_kwargs
    env = make_env(env_id, env_kwargs, probe=True)
    try:
        for key, space in (("observations", env.observation_space), ("next_observations", env.observation_space),
                           ("actions", env.action_space)):
            check_in_space(key, getattr(demos, key), space)
    finally:
        env.close()
    return EnvTask(env_id, dict(env_kwargs or {}))


def _horizon_notes(mdp: TabularMDP) -> list[str]:
    """A note when the horizon was inferred from the data, or when there is none (a discounted model)."""
    source = str(mdp.info.get("horizon_source", ""))
    if source.startswith("inferred"):
        return [f"horizon {mdp.horizon} {source}"]
    if source.startswith("none"):
        return [f"no horizon ({source.removeprefix('none: ')}): fitting the discounted model, discount "
                f"{mdp.discount}"]
    return []


def evaluate_fit(mdp: TabularMDP, demos: Demos, table: np.ndarray, policy: torch.Tensor | np.ndarray) -> dict[str, Any]:
    """Metrics of a learned ``(n_env_states, A)`` reward table and its policy on ``mdp``.

    Always: demo log-likelihood (total and per step) under ``policy``. With a true
    reward: EPIC, hard and soft regret, value difference, Pearson and Spearman. A
    non-finite table or policy raises ``NonFiniteError``: no metric is computed from it.
    """
    from irl.metrics import demo_log_likelihood, recovery_report

    check_finite("reward table", table)
    check_finite("policy", policy)
    metrics: dict[str, Any] = {}
    ll = demo_log_likelihood(mdp, demos, policy)
    metrics["demo_log_likelihood"] = ll["total"] / demos.n_episodes
    metrics["demo_log_likelihood_per_step"] = ll["per_step"]
    if mdp.reward is not None:
        true = mdp.env_states(mdp.reward) if mdp.absorbing is not None else mdp.reward
        metrics.update({k: float(v) for k, v in recovery_report(mdp, true, table).items()})
    return metrics


def _make_config(algorithm, mdp: TabularMDP | None, *, seed: int, device: str, algo_kwargs: dict[str, Any]) -> Any:
    cls = algorithm.config_class()
    fields = {f.name for f in dataclasses.fields(cls)}
    if "device" not in fields and device != "cpu":
        raise FitError(f"{algorithm.name} runs on the CPU only")
    given: dict[str, Any] = {"seed": seed, "device": device, **dict(algorithm.defaults)}
    if "reward" in fields and "reward" not in given and mdp is not None:
        given["reward"] = default_reward_kind(mdp)
    try:
        return make_config(cls, algo_kwargs, given=given, what=algorithm.name)
    except ConfigError as exc:
        raise FitError(str(exc)) from None


def _write_run_dir(run_dir, run_config, result, table, policy, metrics, log, mdp, *, policy_rows=None,
                   merge=False) -> Path:
    """Write the run folder atomically; returns where it ended up (``run_dir``, or ``run_dir-2`` if
    ``run_dir`` was filled meanwhile). A tabular fit writes ``reward_table.npy`` and ``policy.npy``
    (and the grid plot); a sampled one its policy module (``policy.json`` + weights), its learning
    curve, and on a tabular env ``reward_table.npy`` and ``policy.npy`` (``policy_rows``) too. An
    algorithm without a reward (bc) writes no reward files."""
    from irl.rewards import save_reward

    with atomic_run_dir(run_dir, merge=merge) as staged:
        tmp = staged.path
        (tmp / "config.json").write_text(json.dumps(to_jsonable(run_config), indent=2, sort_keys=True) + "\n")
        write_status(tmp, "done")
        if result.reward_model is not None:
            save_reward(result.reward_model, tmp)
        if table is not None:
            np.save(tmp / "reward_table.npy", table)
        if isinstance(policy, torch.nn.Module):
            from irl.solvers.policy_io import save_policy

            save_policy(policy, tmp)
            if policy_rows is not None:
                np.save(tmp / "policy.npy", policy_rows)
        else:
            np.save(tmp / "policy.npy", policy)
        (tmp / "metrics.json").write_text(json.dumps(to_jsonable(metrics), indent=2, sort_keys=True) + "\n")
        with open(tmp / "log.jsonl", "w") as fh:
            for entry in log:
                fh.write(json.dumps(to_jsonable(entry), sort_keys=True) + "\n")
        curve = getattr(result, "curve", None)
        if curve is not None:
            from irl.runs.train import write_curve

            title = f"{run_config['algo']} on {run_config['env']['id']}"
            write_curve(tmp, curve, metrics.get("eval_return"), title=title)
        grid = _reward_grid(mdp, table)
        if grid is not None:
            from irl.runs.plots import plot_reward_grid

            plot_reward_grid(tmp / "reward.png", *grid, title=run_config["algo"])
        for name, label in (("margins", "margin t"), ("slacks", "structured slack ξ")):
            values = getattr(result, name, None)
            if values is not None and len(values):
                from irl.runs.plots import plot_margins

                plot_margins(tmp / "margin.png", values, title=run_config["algo"], label=label)
    return staged.final


def _reward_grid(mdp: TabularMDP | None, table: np.ndarray | None) -> tuple | None:
    """(grid shape, learned ``(S, A)`` table, true ``(S, A)`` table or None) on a grid task, else None."""
    if mdp is None or mdp.grid_shape is None or table is None:
        return None
    return mdp.grid_shape, table, None if mdp.reward is None else mdp.env_states(mdp.reward).cpu().numpy()
