"""``irl train`` as a library call: env + forward solver (+ a learned reward, demos) → run folder.

Every input is checked before anything is written (the env takes one trial step, a reward
model one transition, demos are checked against the env's spaces). The run folder's name is
claimed when training starts and filled in one rename at the end (:mod:`irl.runs.folders`).
Its files:

- ``config.json``: env, algorithm and its settings, seed, steps, reward and demo sources.
- ``policy.json`` + ``policy_weights.npz``: the trained policy (``irl.solvers.policy_io.load_policy``).
- ``metrics.json``: ``eval_return`` (deterministic policy, the env's reward), steps, seconds,
  steps per second, training episodes.
- ``curve.json`` / ``curve.csv``: one record per training episode (step, episode, true_return, ...).
- ``learning_curve.png``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

import irl
from irl._json import to_jsonable
from irl.runs.configs import make_config
from irl.runs.folders import (
    RunDirError,
    atomic_run_dir,
    claim_out_dir,
    claim_run_dir,
    require_finished,
    write_status,
)
from irl.runs.resume import (
    DEFAULT_EVERY,
    DEFAULT_SECONDS,
    NONE,
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
from irl.runs.tensorboard import RunWriter, summary_writer_class

__all__ = ["EVAL_EPISODES", "TrainError", "TrainOutcome", "resume_train", "run_train", "write_curve"]

EVAL_EPISODES = 10


class TrainError(ValueError):
    """The training cannot run as asked (a bad setting, a reward or demos that do not fit the env, ...)."""


@dataclasses.dataclass
class TrainOutcome:
    """What :func:`run_train` did: the run folder, its metrics and config, and the solver's result."""

    run_dir: Path
    metrics: dict[str, Any]
    config: dict[str, Any]
    result: Any


def run_train(
    env_id: str,
    algo: str,
    *,
    steps: int,
    env_kwargs: dict[str, Any] | None = None,
    algo_kwargs: dict[str, Any] | None = None,
    reward: str | os.PathLike[str] | None = None,
    demos: str | os.PathLike[str] | None = None,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    tensorboard: str | os.PathLike[str] | None = None,
    progress: bool = False,
    runs_root: str | os.PathLike[str] = "runs",
    checkpoint_every: int | None = DEFAULT_EVERY,
    checkpoint_seconds: float | None = DEFAULT_SECONDS,
    _resume: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> TrainOutcome:
    """Train solver ``algo`` on ``env_id`` for ``steps`` env steps and write the run folder (module docstring).

    ``reward`` is a folder holding a saved reward model (an ``irl fit`` run) to learn instead of
    the env's reward; ``demos`` a demo file for the solver; ``tensorboard`` a folder for
    TensorBoard logs (one subfolder per run). Training checkpoints into the run folder every
    ``checkpoint_every`` iterations (sac, soft-q: finished episodes; pg: rollouts) or
    ``checkpoint_seconds`` seconds, and stops after a checkpoint on Ctrl-C or SIGTERM;
    :func:`resume_train` continues it (:mod:`irl.runs.resume`). Raises :class:`TrainError` (and the env's own
    errors) on bad input, before anything is written.
    """
    from irl.envs import EnvError, make_env
    from irl.solvers import SetupError
    from irl.solvers.registry import get_solver

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise TrainError(f"steps must be an integer >= 1, got {steps!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise TrainError(f"seed must be a non-negative integer, got {seed!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainError("device cuda: no CUDA device is available")
    check_intervals(checkpoint_every, checkpoint_seconds, TrainError)
    call = {"env_id": env_id, "algo": algo, "steps": steps, "env_kwargs": env_kwargs, "algo_kwargs": algo_kwargs,
            "reward": None if reward is None else str(Path(reward).resolve()),
            "demos": None if demos is None else str(Path(demos).resolve()), "seed": seed, "device": device,
            "tensorboard": None if tensorboard is None else str(Path(tensorboard).resolve()),
            "checkpoint_every": checkpoint_every, "checkpoint_seconds": checkpoint_seconds}
    try:
        solver = get_solver(algo)
    except KeyError as exc:
        raise TrainError(exc.args[0]) from None
    config = _config(solver, steps, device, dict(algo_kwargs or {}))
    env_kwargs = dict(env_kwargs or {})
    try:
        env = make_env(env_id, env_kwargs, probe=True)  # kwargs that only break the dynamics fail now
    except EnvError as exc:
        raise TrainError(str(exc)) from None
    try:
        reward_model = None if reward is None else _load_reward(Path(reward), env, env_id)
        demo_set = None if demos is None else _load_demos(Path(demos), env_id, env)
        if demo_set is not None and demo_set.rewards is None and reward_model is None and algo == "sac":
            raise TrainError(f"demos {demos} have no rewards: sac can only replay them with a reward model")
        writer_class = None if tensorboard is None else summary_writer_class(TrainError)
    except BaseException:
        env.close()
        raise
    run_config = {
        "irl_version": irl.__version__,
        "created": datetime.now().isoformat(timespec="seconds"),
        "run_kind": "train",
        "command": " ".join(shlex.quote(a) for a in ["irl", *sys.argv[1:]]) if sys.argv else None,
        "env": {"id": env_id, "kwargs": env_kwargs},
        "algo": algo,
        "steps": steps,
        "seed": seed,
        "device": device,
        "reward": call["reward"],
        "demos": call["demos"],
        "demos_sha256": None if demos is None else file_digest(demos),
        "config": to_jsonable(dataclasses.asdict(config)),
        "torch": torch.__version__,
        "call": call,
    }
    restored = None
    if _resume is not None:  # resume_train: the folder and the config are the run's own
        saved_config, restored = _resume
        try:
            run_config = resumed_config(saved_config, run_config["demos_sha256"], demos, TrainError)
        except TrainError:
            env.close()
            raise
        run_dir, claimed = Path(out), False
    elif out is not None:
        run_dir, claimed = Path(out), claim_out_dir(Path(out))
    else:
        run_dir, claimed = claim_run_dir(Path(runs_root), f"train-{env_id}-{algo}-s{seed}"), True

    board = None if writer_class is None else RunWriter(writer_class, Path(tensorboard) / run_dir.name)

    def callback(record: dict[str, Any]) -> None:
        board.scalars("train", record, record["step"], skip=("step", "episode"))

    ckpts = RunCheckpoints(run_dir, "train", run_config, dict, every=checkpoint_every, seconds=checkpoint_seconds,
                           restored=restored)
    try:
        try:
            with stop_on_signals(ckpts.checkpoint), restore_errors(ckpts.checkpoint, run_dir):
                result = solver.train_function()(env, config=config, reward_model=reward_model, demos=demo_set,
                                                 seed=seed, callback=callback if writer_class is not None else None,
                                                 progress=progress, checkpoint=ckpts.checkpoint)
            if ckpts.checkpoint.stop_requested:  # asked to stop in the last episode: stop before the evaluation
                raise KeyboardInterrupt
        except SetupError as exc:  # raised before the first env step: the env or settings do not fit the solver
            raise TrainError(f"{algo} on {env_id}: {exc}") from None
        finally:
            env.close()
        if board is not None:
            board.scalars("eval", {"return": result.eval_return}, result.steps)
            board.scalars("train", {"steps_per_second": result.steps_per_second}, result.steps)
        metrics = _metrics(config, result)
        run_dir = _write_run_dir(run_dir, run_config, result, metrics, title=f"{algo} on {env_id} (seed {seed})",
                                 merge=ckpts.written)
    except BaseException as exc:
        settle_failed_run(run_dir, claimed, ckpts, exc)
        raise
    finally:
        if board is not None:
            board.close()
    return TrainOutcome(run_dir=run_dir, metrics=metrics, config=run_config, result=result)


def resume_train(run_dir: str | os.PathLike[str], *, progress: bool = False) -> TrainOutcome:
    """Continues the training in ``run_dir`` from its last checkpoint with the settings in its ``config.json``
    (as :func:`irl.runs.fit.resume_fit` does for a fit); :class:`irl.runs.resume.ResumeError` when it cannot."""
    config, checkpoint = open_resume(run_dir, "train")
    call = check_call(config["call"], _CALL_TYPES, Path(run_dir) / "config.json", "train")
    return run_train(call.pop("env_id"), call.pop("algo"), **call, out=run_dir, progress=progress,
                     _resume=(config, checkpoint))


#: the arguments of :func:`run_train` that a run's config.json keeps for resuming, and their JSON types
_CALL_TYPES: dict[str, tuple[type, ...]] = {
    "env_id": (str,), "algo": (str,), "steps": (int,), "env_kwargs": (dict, NONE), "algo_kwargs": (dict, NONE),
    "reward": (str, NONE), "demos": (str, NONE), "seed": (int,), "device": (str,), "tensorboard": (str, NONE),
    "checkpoint_every": (int, NONE), "checkpoint_seconds": (int, float, NONE)}


def _config(solver: Any, steps: int, device: str, algo_kwargs: dict[str, Any]) -> Any:
    from irl.runs.configs import ConfigError

    cls = solver.config_class()
    fields = {f.name for f in dataclasses.fields(cls)}
    if "total_steps" in algo_kwargs:
        raise TrainError("give the number of steps as steps, not as total_steps in the settings")
    if "device" not in fields and device != "cpu":
        raise TrainError(f"{solver.name} runs on the CPU only")
    try:
        return make_config(cls, algo_kwargs, given={"total_steps": steps, "device": device}, what=solver.name)
    except ConfigError as exc:
        raise TrainError(str(exc)) from None


def _metrics(config: Any, result: Any) -> dict[str, Any]:
    returns = [r["true_return"] for r in result.curve]
    return {
        "eval_return": result.eval_return,
        "eval_episodes": getattr(config, "eval_episodes", EVAL_EPISODES),
        "steps": result.steps,
        "seconds": result.seconds,
        "steps_per_second": result.steps_per_second,
        "episodes": len(result.curve),
        "final_train_return": sum(returns[-10:]) / len(returns[-10:]) if returns else None,
    }


def _load_reward(path: Path, env: Any, env_id: str) -> Any:
    """The reward model in ``path``, after checking it takes one transition of ``env``
    (through :class:`irl.rewards.RewardFn`, as training will). A fit run made with a
    ``module:Env`` id is read back only for that same env id."""
    import irl.inverse.iq_learn  # noqa: F401  (registers its reward kinds, Q − γV, with irl.rewards)
    from irl.rewards import RewardFn, RewardFormatError, load_reward

    try:
        require_finished(path, "--reward")
    except RunDirError as exc:
        raise TrainError(str(exc)) from None
    run_env = _run_env_id(path / "config.json")
    if run_env is not None and ":" in run_env and run_env != env_id:
        raise TrainError(f"reward {path} was fitted on env {run_env}, which imports a module; it is read back "
                         f"only when that same env id is given")
    try:
        model = load_reward(path)
    except RewardFormatError as exc:
        raise TrainError(f"reward: {exc}") from None
    obs, _ = env.reset(seed=0)
    act = env.action_space.sample()
    try:
        RewardFn(model, env.observation_space, env.action_space)(
            np.asarray(obs)[None], np.asarray(act)[None], np.asarray(obs)[None], np.zeros(1, dtype=bool))
    except (ValueError, TypeError, RuntimeError, IndexError) as exc:
        raise TrainError(f"reward {path} does not fit {env.spec.id}: {exc}") from None
    return model


def _run_env_id(config_path: Path) -> str | None:
    """The env id a run's ``config.json`` names, or None (no config, or not readable)."""
    try:
        env = json.loads(config_path.read_text()).get("env")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return env.get("id") if isinstance(env, dict) and isinstance(env.get("id"), str) else None


def _load_demos(path: Path, env_id: str, env: Any) -> Any:
    """The demos in ``path``, checked against the spaces of ``env`` (the one training uses)."""
    from irl.data import DemoFormatError, check_in_space, load_demos

    try:
        demos = load_demos(path, check_env=False)
        if demos.env_id is not None and demos.env_id != env_id:
            raise TrainError(f"demos {path} come from {demos.env_id}, not {env_id}")
        check_in_space("observations", demos.observations, env.observation_space)
        check_in_space("next_observations", demos.next_observations, env.observation_space)
        check_in_space("actions", demos.actions, env.action_space)
    except DemoFormatError as exc:
        raise TrainError(f"demos {path}: {exc}") from None
    return demos


def _write_run_dir(run_dir: Path, run_config: dict[str, Any], result: Any, metrics: dict[str, Any],
                   *, title: str, merge: bool = False) -> Path:
    """Write the run folder atomically; returns where it ended up (``run_dir`` unless filled meanwhile).
    ``merge``: the folder holds this run's checkpoint (:func:`irl.runs.folders.atomic_run_dir`)."""
    from irl.solvers.policy_io import save_policy

    with atomic_run_dir(run_dir, merge=merge) as staged:
        tmp = staged.path
        (tmp / "config.json").write_text(json.dumps(to_jsonable(run_config), indent=2, sort_keys=True) + "\n")
        write_status(tmp, "done")
        save_policy(result.policy, tmp)
        (tmp / "metrics.json").write_text(json.dumps(to_jsonable(metrics), indent=2, sort_keys=True) + "\n")
        write_curve(tmp, result.curve, result.eval_return, title=title)
    return staged.final


def write_curve(folder: Path, curve: list[dict[str, Any]], eval_return: float | None, *, title: str) -> None:
    """``curve.json``, ``curve.csv`` and ``learning_curve.png`` of one record per training episode."""
    from irl.runs.plots import plot_learning_curve

    records = to_jsonable(curve)
    (folder / "curve.json").write_text(json.dumps(records) + "\n")
    _write_csv(folder / "curve.csv", records)
    plot_learning_curve(folder / "learning_curve.png", records, eval_return, title=title)


def _write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for record in records:
        columns += [key for key in record if key not in columns]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns or ["step", "episode", "true_return"])
        writer.writeheader()
        writer.writerows(records)
