"""``irl train``: train a forward solver (SAC, soft Q-learning, policy gradient) and write a run folder.

The run folder's name is claimed when the run starts (it stays empty while training) and
the files are assembled in a hidden temporary folder beside it, renamed into place at the
end, so a failed or interrupted run leaves no folder with files in it, and concurrent runs
never share one (:mod:`irl.runs.folders`).
Its files:

- ``config.json``: env, algorithm and its settings, seed, steps, reward and demo sources.
- ``policy.json`` + ``policy_weights.npz``: the trained policy (``irl.solvers.policy_io.load_policy``).
- ``metrics.json``: ``eval_return`` (deterministic policy, 10 episodes, the env's reward),
  steps, seconds, steps per second, training episodes.
- ``curve.json`` / ``curve.csv``: one record per training episode (step, episode, true_return, ...).
- ``learning_curve.png``.

Every input is checked before anything is written; bad input raises CLIError.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from irl.cli.common import CLIError, parse_json_object, print_json, to_jsonable
from irl.runs.folders import atomic_run_dir, claim_out_dir, claim_run_dir, release_run_dir

#: ``--algo`` name -> (module with ``train``, its config class)
ALGOS = {
    "sac": ("irl.solvers.sac", "SACConfig"),
    "soft-q": ("irl.solvers.soft_q", "SoftQConfig"),
    "pg": ("irl.solvers.policy_gradient", "PGConfig"),
}
EVAL_EPISODES = 10

_DEFAULTS = """\
defaults: each algorithm's config dataclass (irl.solvers.sac.SACConfig, soft_q.SoftQConfig,
policy_gradient.PGConfig); change any field with --algo-kwargs, e.g. for sac
'{"hidden": [256, 256], "learning_starts": 5000}'. --reward: the env's reward is still
what the curve and the evaluation report. --demos: sac puts them in its replay buffer,
pg uses them as its config says (demo_is, demo_bc_coef, bc_warmstart_steps).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a policy for an env's reward (or a learned one) and write a run folder",
        description="Train a forward solver on a gymnasium env and write a run folder: the policy,\n"
        "config.json, metrics.json (the deterministic evaluation return over 10 episodes of the\n"
        "env's reward), and the learning curve as JSON, CSV and PNG.",
        epilog=_DEFAULTS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--env", required=True, metavar="ID",
                       help="gymnasium id, e.g. Pendulum-v1, CartPole-v1, irl/Gridworld-v0")
    train.add_argument("--algo", required=True, choices=sorted(ALGOS), help="forward solver")
    train.add_argument("--env-kwargs", default=None, metavar="JSON", help="JSON object of env arguments")
    train.add_argument("--algo-kwargs", default=None, metavar="JSON",
                       help="JSON object of config fields, e.g. '{\"gamma\": 0.98}'")
    train.add_argument("--reward", type=Path, default=None, metavar="RUN_DIR",
                       help="learn this reward instead of the env's: a folder with reward.json (from irl fit)")
    train.add_argument("--demos", type=Path, default=None, metavar="FILE", help="demo .npz file for the solver")
    train.add_argument("--steps", type=int, required=True, metavar="N", help="env steps of training")
    train.add_argument("--seed", type=int, default=0, metavar="S",
                       help="seed of every random draw, >= 0 (default 0)")
    train.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="run folder (new, or an empty folder); default runs/train-<env>-<algo>-s<seed>-<time>")
    train.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device (sac only)")
    train.add_argument("--tensorboard", type=Path, default=None, metavar="DIR",
                       help="also write TensorBoard logs to DIR/<run folder name>")
    train.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    train.add_argument("--quiet", action="store_true", help="no progress report on stderr")
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    import importlib

    import torch

    from irl.solvers import SetupError

    # ---- check every input before anything is written
    if args.steps < 1:
        raise CLIError(f"--steps must be >= 1, got {args.steps}")
    if args.seed < 0:
        raise CLIError(f"--seed must be a non-negative integer, got {args.seed}")
    env_kwargs = parse_json_object(args.env_kwargs, "--env-kwargs")
    algo_kwargs = parse_json_object(args.algo_kwargs, "--algo-kwargs")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise CLIError("--device cuda: no CUDA device is available")
    module_name, config_name = ALGOS[args.algo]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CLIError(f"--algo {args.algo} is not available in this install ({exc})") from None
    config = _make_config(getattr(module, config_name), args, algo_kwargs)
    env = _make_env(args.env, env_kwargs)
    try:
        reward_model = None if args.reward is None else _load_reward(args.reward, env, args.env)
        demos = None if args.demos is None else _load_demos(args.demos, args.env, env)
        if demos is not None and demos.rewards is None and reward_model is None and args.algo == "sac":
            raise CLIError(f"--demos {args.demos} have no rewards: sac can only replay them with --reward")
        writer_class = None if args.tensorboard is None else _summary_writer_class()
    except BaseException:
        env.close()
        raise
    if args.out is not None:
        run_dir, claimed = args.out, claim_out_dir(args.out)
    else:
        run_dir, claimed = claim_run_dir(Path("runs"), f"train-{args.env}-{args.algo}-s{args.seed}"), True

    # ---- train
    writers: list[Any] = []  # the TensorBoard writer, made at the first record (nothing is written before)

    def callback(record: dict[str, Any]) -> None:
        if not writers:
            writers.append(writer_class(log_dir=str(args.tensorboard / run_dir.name)))
        for key, value in record.items():
            if key not in ("step", "episode") and isinstance(value, int | float) and not isinstance(value, bool):
                writers[0].add_scalar(f"train/{key}", value, record["step"])

    try:
        try:
            result = module.train(env, config=config, reward_model=reward_model, demos=demos, seed=args.seed,
                                  callback=callback if writer_class is not None else None, progress=not args.quiet)
        except SetupError as exc:  # raised before the first env step: the env or settings do not fit the solver
            raise CLIError(f"--algo {args.algo} on {args.env}: {exc}") from None
        finally:
            env.close()
        if writers:
            writers[0].add_scalar("eval/return", result.eval_return, result.steps)
            writers[0].add_scalar("train/steps_per_second", result.steps_per_second, result.steps)
        run_dir = _finish(args, config, env_kwargs, result, run_dir)
    except BaseException:
        if claimed:
            release_run_dir(run_dir)
        raise
    finally:
        for writer in writers:
            writer.close()
    return 0


def _finish(args: argparse.Namespace, config: Any, env_kwargs: dict[str, Any], result: Any, run_dir: Path) -> Path:
    """Write the run folder and print the summary; returns where the folder ended up."""
    import torch

    # ---- write the run folder
    returns = [r["true_return"] for r in result.curve]
    metrics = {
        "eval_return": result.eval_return,
        "eval_episodes": getattr(config, "eval_episodes", EVAL_EPISODES),
        "steps": result.steps,
        "seconds": result.seconds,
        "steps_per_second": result.steps_per_second,
        "episodes": len(result.curve),
        "final_train_return": sum(returns[-10:]) / len(returns[-10:]) if returns else None,
    }
    run_config = {
        "irl_version": _irl_version(),
        "created": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(["irl", *sys.argv[1:]]) if sys.argv else None,
        "env": {"id": args.env, "kwargs": env_kwargs},
        "algo": args.algo,
        "steps": args.steps,
        "seed": args.seed,
        "device": args.device,
        "reward": None if args.reward is None else str(args.reward.resolve()),
        "demos": None if args.demos is None else str(args.demos.resolve()),
        "config": to_jsonable(dataclasses.asdict(config)),
        "torch": torch.__version__,
    }
    run_dir = _write_run_dir(run_dir, run_config, result, metrics, title=f"{args.algo} on {args.env} (seed {args.seed})")

    if args.json:
        print_json({"run_dir": str(run_dir), "algo": args.algo, "env": args.env, "seed": args.seed, **metrics})
    else:
        print(f"{args.algo} on {args.env}: {result.steps} steps in {result.seconds:.1f} s "
              f"({result.steps_per_second:.0f} steps/s) -> {run_dir}")
        print(f"  eval return {result.eval_return:.4g} (deterministic, {metrics['eval_episodes']} episodes)")
    return run_dir


# ------------------------------------------------------------------------------- input checks
def _make_config(cls: type, args: argparse.Namespace, algo_kwargs: dict[str, Any]) -> Any:
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(algo_kwargs) - fields)
    if unknown:
        raise CLIError(f"--algo-kwargs: unknown setting(s) {unknown} for {args.algo}; known: {sorted(fields)}")
    if "total_steps" in algo_kwargs:
        raise CLIError("--algo-kwargs: give the number of steps with --steps, not total_steps")
    values: dict[str, Any] = {"total_steps": args.steps}
    if "device" in fields:
        values["device"] = args.device
    elif args.device != "cpu":
        raise CLIError(f"--algo {args.algo} runs on the CPU only")
    values.update(algo_kwargs)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"--algo-kwargs: {exc}") from None


def _make_env(env_id: str, env_kwargs: dict[str, Any]) -> Any:
    """The env, after one trial step, so kwargs that only break the dynamics fail now, not mid-training."""
    from irl.envs import EnvError, make_env

    try:
        return make_env(env_id, env_kwargs, probe=True)
    except EnvError as exc:
        raise CLIError(str(exc)) from None


def _load_reward(path: Path, env: Any, env_id: str) -> Any:
    """The reward model in ``path``, after checking it takes one transition of ``env``.

    A fit run made with ``--env module:Env`` is read back only for that same ``--env``.
    """
    import numpy as np
    import torch
    from gymnasium import spaces

    from irl.rewards import RewardFormatError, load_reward

    run_env = _run_env_id(path / "config.json")
    if run_env is not None and ":" in run_env and run_env != env_id:
        raise CLIError(f"--reward {path} was fitted on --env {run_env}, which imports a module; it is read back "
                       f"only with that same --env")
    try:
        model = load_reward(path)
    except RewardFormatError as exc:
        raise CLIError(f"--reward: {exc}") from None

    def batch(x: Any, space: Any) -> torch.Tensor:
        if isinstance(space, spaces.Discrete):
            return torch.tensor([int(x)], dtype=torch.int64)
        return torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(1, *space.shape), dtype=model.dtype)

    obs, _ = env.reset(seed=0)
    act = env.action_space.sample()
    extra = {"terminated": torch.zeros(1, dtype=torch.bool)} if model.accepts_terminated else {}
    try:
        with torch.no_grad():
            r = model(batch(obs, env.observation_space), batch(act, env.action_space),
                      batch(obs, env.observation_space), **extra)
        if tuple(r.shape) != (1,):
            raise ValueError(f"it returned shape {tuple(r.shape)} for one transition")
    except (ValueError, TypeError, RuntimeError, IndexError) as exc:
        raise CLIError(f"--reward {path} does not fit {env.spec.id}: {exc}") from None
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
            raise CLIError(f"--demos {path} come from {demos.env_id}, not {env_id}")
        check_in_space("observations", demos.observations, env.observation_space)
        check_in_space("next_observations", demos.next_observations, env.observation_space)
        check_in_space("actions", demos.actions, env.action_space)
    except DemoFormatError as exc:
        raise CLIError(f"--demos {path}: {exc}") from None
    return demos


def _summary_writer_class() -> type:
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise CLIError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter


def _irl_version() -> str:
    import irl

    return irl.__version__


# ------------------------------------------------------------------------------- the run folder
def _write_run_dir(run_dir: Path, run_config: dict[str, Any], result: Any, metrics: dict[str, Any],
                   *, title: str) -> Path:
    """Write the run folder atomically; returns where it ended up (``run_dir`` unless filled meanwhile)."""
    from irl.runs.plots import plot_learning_curve
    from irl.solvers.policy_io import save_policy

    with atomic_run_dir(run_dir) as staged:
        tmp = staged.path
        (tmp / "config.json").write_text(json.dumps(to_jsonable(run_config), indent=2, sort_keys=True) + "\n")
        save_policy(result.policy, tmp)
        (tmp / "metrics.json").write_text(json.dumps(to_jsonable(metrics), indent=2, sort_keys=True) + "\n")
        curve = to_jsonable(result.curve)
        (tmp / "curve.json").write_text(json.dumps(curve) + "\n")
        _write_csv(tmp / "curve.csv", curve)
        plot_learning_curve(tmp / "learning_curve.png", curve, result.eval_return, title=title)
    return staged.final


def _write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for record in records:
        columns += [key for key in record if key not in columns]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns or ["step", "episode", "true_return"])
        writer.writeheader()
        writer.writerows(records)
