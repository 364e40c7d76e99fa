"""``irl fit`` and ``irl eval``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from irl.cli.common import add_checkpoint_arguments, check_resume_alone, parse_json_object, print_json


def _algorithm_lines() -> str:
    from irl.inverse.registry import ALGORITHMS

    return "\n".join(f"  {a.name:<12} {a.description}" for a in ALGORITHMS.values())


FIT_NOTES = """\
the model (exact algorithms): the exact tabular model of the env the demos name. Its
horizon is the metadata's 'horizon', else the env's time limit, else (when every
truncated episode ends at the same step) that step; with none, the discounted model
(discount from the metadata, which must then be < 1). irl fit prints which it used.

sampled algorithms (gail, airl, gcl, gan-gcl, bc, iq-learn) run the env itself, tabular or continuous, and
report the policy's true return (eval_return) and its normalised score
(R - R_random) / (R_demos - R_random); on a tabular env also the recovered reward's
table and recovery metrics. --steps, --generator and --transfer are theirs.
"""


def _epilog() -> str:
    from irl.cli.help_text import algorithm_settings_help

    return FIT_NOTES + "\n" + algorithm_settings_help()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    fit = subparsers.add_parser(
        "fit",
        help="learn the reward behind a demo file",
        description="Learn the reward behind the demonstrations in a demo file and write a run folder "
        "(reward, reward_table.npy, policy, metrics.json, log, plots).\n\nalgorithms:\n" + _algorithm_lines(),
        epilog_factory=_epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("--demos", type=Path, default=None, help="demo .npz file (required unless --resume)")
    fit.add_argument("--algo", default="maxent", metavar=_algo_choices(),
                     help="inverse algorithm (see above and its settings below; default maxent)")
    fit.add_argument("--env", default=None, help="gymnasium id; default: the env in the demos' metadata")
    fit.add_argument("--env-kwargs", default=None, help="JSON object of env arguments (with --env)")
    fit.add_argument("--algo-kwargs", default=None, help="JSON object of algorithm settings")
    fit.add_argument("--out", type=Path, default=None,
                     help="run folder (new, or an empty folder); default runs/<demos>-<algo>-s<seed>-<time>")
    fit.add_argument("--steps", type=int, default=None,
                     help="sampled algorithms only: env steps of the generator (bc: cloning steps; "
                          "iq-learn: gradient steps, or env steps with online)")
    fit.add_argument("--generator", default=None, choices=["sac", "pg"],
                     help="gail, airl, gcl, gan-gcl: the forward solver they train (default sac)")
    fit.add_argument("--transfer", action="store_true",
                     help="gail, airl, gcl, gan-gcl, iq-learn: re-optimise the recovered reward with SAC from scratch "
                     "and report that policy's true return (transfer_return)")
    fit.add_argument("--online", action="store_true",
                     help="iq-learn only: also act in the env and learn from the policy's own transitions "
                     "(default: offline, from the demos alone); --steps are then env steps")
    fit.add_argument("--n-envs", type=int, default=None, metavar="N",
                     help="gail, airl, gcl, gan-gcl with --generator pg: the generator steps N copies of the env "
                          "together (gymnasium.vector); default 1")
    fit.add_argument("--seed", type=int, default=0, help="seed of every random draw, >= 0 (default 0)")
    fit.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the messages run")
    fit.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    fit.add_argument("--quiet", action="store_true", help="no progress report on stderr")
    add_checkpoint_arguments(fit, "deep-maxent, mmp, gail, airl, gcl, gan-gcl and iq-learn checkpoint")
    fit.add_argument("--tensorboard", type=Path, default=None, metavar="DIR",
                     help="also write TensorBoard logs to DIR/<run folder name> (pip install tensorboard): "
                          "<algo>/<field> per log entry (objective, grad_norm, disc_accuracy, mean_return, ...) at "
                          "its env_steps, else its iteration; <algo>/final/<metric> from metrics.json; on a grid "
                          "task the image <algo>/reward (state reward, mean over actions)")
    fit.set_defaults(handler=run_fit)

    ev = subparsers.add_parser(
        "eval", help="recompute the metrics of a finished fit run",
        description="Recompute the metrics of a finished `irl fit` run from its reward_table.npy and policy.npy, "
        "on the exact model of its env and demos (EPIC, regret, correlations, demo log-likelihood).",
    )
    ev.add_argument("--run", type=Path, required=True, help="a run folder written by irl fit")
    ev.add_argument("--env", default=None,
                    help="only for a run made with --env module:Env: the same id again, to allow importing it")
    ev.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ev.set_defaults(handler=run_eval)


def _algo_choices() -> str:
    from irl.inverse.registry import ALGORITHMS

    return "{" + ",".join(ALGORITHMS) + "}"


_SUMMARY_KEYS = (
    "epic", "regret_hard", "regret_soft", "pearson", "spearman", "demo_log_likelihood",
    "eval_return", "normalised_return", "transfer_return", "transfer_normalised_return", "reward_label",
    "reward_metrics", "final_margin", "final_slack", "iterations", "converged", "seconds",
)


def _print_summary(metrics: dict) -> None:
    for key in _SUMMARY_KEYS:
        if key in metrics:
            value = metrics[key]
            text = f"{value:.4g}" if isinstance(value, float) else ("n/a" if value is None else str(value))
            print(f"  {key:<28} {text}")


def run_fit(args: argparse.Namespace) -> int:
    from irl.runs.fit import run_fit as fit

    if args.resume is not None:
        from irl.runs.fit import resume_fit

        check_resume_alone(args)
        return _report_fit(args, resume_fit(args.resume, progress=not args.quiet))
    if args.demos is None:
        from irl.cli.common import CLIError

        raise CLIError("the following arguments are required: --demos (or --resume RUN_DIR)")
    env_kwargs = parse_json_object(args.env_kwargs, "--env-kwargs")
    if args.env_kwargs is not None and args.env is None:
        from irl.cli.common import CLIError

        raise CLIError("--env-kwargs needs --env (the demos' own env comes with its kwargs)")
    algo_kwargs = parse_json_object(args.algo_kwargs, "--algo-kwargs")
    if args.online:
        from irl.cli.common import CLIError

        if args.algo != "iq-learn":
            raise CLIError(f"--online: only for iq-learn ({args.algo} has no offline/online choice)")
        if "online" in algo_kwargs:
            raise CLIError("--online and online in --algo-kwargs both given: give it once")
        algo_kwargs["online"] = True
    if args.n_envs is not None:
        algo_kwargs = _with_n_envs(args, algo_kwargs)
    outcome = fit(
        args.demos,
        algo=args.algo,
        env_id=args.env,
        env_kwargs=env_kwargs if args.env is not None else None,
        out=args.out,
        seed=args.seed,
        device=args.device,
        algo_kwargs=algo_kwargs,
        steps=args.steps,
        generator=args.generator,
        transfer=args.transfer,
        progress=not args.quiet,
        tensorboard=args.tensorboard,
        checkpoint_every=args.checkpoint_every or None,
        checkpoint_seconds=args.checkpoint_seconds or None,
    )
    return _report_fit(args, outcome)


def _report_fit(args: argparse.Namespace, outcome) -> int:
    for note in outcome.notes:
        hint = " (settings go in --algo-kwargs)" if "not converged" in note else ""
        print(f"irl: note: {note}{hint}", file=sys.stderr)
    m = outcome.metrics
    if args.json:
        print_json({"run_dir": str(outcome.run_dir), **m})
    else:
        print(f"{m['algo']} on {outcome.config['env']['id']}: {m['n_episodes']} episodes -> {outcome.run_dir}")
        _print_summary(m)
    return 0


def _with_n_envs(args: argparse.Namespace, algo_kwargs: dict) -> dict:
    """``algo_kwargs`` with ``--n-envs`` in the generator's settings (an unknown --algo is left to fit to report)."""
    from irl.cli.common import CLIError
    from irl.inverse.registry import get_algorithm
    from irl.runs.configs import ConfigError, with_n_envs

    try:
        cls = get_algorithm(args.algo).config_class()
    except KeyError:
        return algo_kwargs
    try:
        return with_n_envs(cls, algo_kwargs, args.n_envs, what=args.algo, generator=args.generator)
    except ConfigError as exc:
        raise CLIError(f"--n-envs: {exc}") from None


def run_eval(args: argparse.Namespace) -> int:
    from irl.runs.evaluate import eval_run

    metrics = eval_run(args.run, env_id=args.env)
    if args.json:
        print_json({"run_dir": str(args.run), **metrics})
    else:
        print(f"{args.run}")
        _print_summary(metrics)
    return 0
