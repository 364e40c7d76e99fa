"""``irl train``: parse the flags, call :func:`irl.runs.train.run_train`, print the summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from irl.cli.common import add_checkpoint_arguments, check_resume_alone, parse_json_object, print_json

_DEFAULTS = """\
defaults: each solver's config dataclass (irl.solvers.sac.SACConfig, soft_q.SoftQConfig,
policy_gradient.PGConfig); change any field with --algo-kwargs, e.g. for sac
'{"hidden": [256, 256], "learning_starts": 5000}'. --reward: the env's reward is still
what the curve and the evaluation report. --demos: sac puts them in its replay buffer,
pg uses them as its config says (demo_is, demo_bc_coef, bc_warmstart_steps).
"""


def _solver_lines() -> str:
    from irl.solvers.registry import SOLVERS

    return "\n".join(f"  {s.name:<8} {s.description}" for s in SOLVERS.values())


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from irl.solvers.registry import SOLVERS

    train = subparsers.add_parser(
        "train",
        help="train a policy for an env's reward (or a learned one) and write a run folder",
        description="Train a forward solver on a gymnasium env and write a run folder: the policy,\n"
        "config.json, metrics.json (the deterministic evaluation return over 10 episodes of the\n"
        "env's reward), and the learning curve as JSON, CSV and PNG.\n\nsolvers:\n" + _solver_lines(),
        epilog=_DEFAULTS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--env", default=None, metavar="ID",
                       help="gymnasium id, e.g. Pendulum-v1, CartPole-v1, irl/Gridworld-v0")
    train.add_argument("--algo", default=None, choices=SOLVERS.names(), help="forward solver")
    train.add_argument("--env-kwargs", default=None, metavar="JSON", help="JSON object of env arguments")
    train.add_argument("--algo-kwargs", default=None, metavar="JSON",
                       help="JSON object of config fields, e.g. '{\"gamma\": 0.98}'")
    train.add_argument("--reward", type=Path, default=None, metavar="RUN_DIR",
                       help="learn this reward instead of the env's: a folder with reward.json (from irl fit)")
    train.add_argument("--demos", type=Path, default=None, metavar="FILE", help="demo .npz file for the solver")
    train.add_argument("--steps", type=int, default=None, metavar="N", help="env steps of training")
    train.add_argument("--seed", type=int, default=0, metavar="S",
                       help="seed of every random draw, >= 0 (default 0)")
    train.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="run folder (new, or an empty folder); default runs/train-<env>-<algo>-s<seed>-<time>")
    train.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device (sac only)")
    train.add_argument("--n-envs", type=int, default=None, metavar="N",
                       help="pg only: step N copies of the env together (gymnasium.vector, in turn in this process; "
                            "async with --algo-kwargs '{\"vector_env\": \"async\"}'); default 1")
    train.add_argument("--tensorboard", type=Path, default=None, metavar="DIR",
                       help="also write TensorBoard logs to DIR/<run folder name>")
    train.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    train.add_argument("--quiet", action="store_true", help="no progress report on stderr")
    add_checkpoint_arguments(train, "training checkpoints (sac, soft-q: per finished episode; pg: per rollout)")
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from irl.runs.train import run_train as train

    if args.resume is not None:
        from irl.runs.train import resume_train

        check_resume_alone(args)
        return _report(args, resume_train(args.resume, progress=not args.quiet))
    missing = [flag for flag, value in (("--env", args.env), ("--algo", args.algo), ("--steps", args.steps))
               if value is None]
    if missing:
        from irl.cli.common import CLIError

        raise CLIError(f"the following arguments are required: {', '.join(missing)} (or --resume RUN_DIR)")
    algo_kwargs = parse_json_object(args.algo_kwargs, "--algo-kwargs")
    if args.n_envs is not None:
        from irl.cli.common import CLIError
        from irl.runs.configs import ConfigError, with_n_envs
        from irl.solvers.registry import get_solver

        try:
            algo_kwargs = with_n_envs(get_solver(args.algo).config_class(), algo_kwargs, args.n_envs, what=args.algo)
        except ConfigError as exc:
            raise CLIError(f"--n-envs: {exc}") from None
    outcome = train(
        args.env, args.algo, steps=args.steps, env_kwargs=parse_json_object(args.env_kwargs, "--env-kwargs"),
        algo_kwargs=algo_kwargs, reward=args.reward, demos=args.demos,
        seed=args.seed, out=args.out, device=args.device, tensorboard=args.tensorboard, progress=not args.quiet,
        checkpoint_every=args.checkpoint_every or None, checkpoint_seconds=args.checkpoint_seconds or None,
    )
    return _report(args, outcome)


def _report(args: argparse.Namespace, outcome) -> int:
    m, result, config = outcome.metrics, outcome.result, outcome.config
    algo, env = config["algo"], config["env"]["id"]
    if args.json:
        print_json({"run_dir": str(outcome.run_dir), "algo": algo, "env": env, "seed": config["seed"], **m})
    else:
        print(f"{algo} on {env}: {result.steps} steps in {result.seconds:.1f} s "
              f"({result.steps_per_second:.0f} steps/s) -> {outcome.run_dir}")
        print(f"  eval return {result.eval_return:.4g} (deterministic, {m['eval_episodes']} episodes)")
    return 0
