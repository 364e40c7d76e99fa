"""``irl fit`` and ``irl eval``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from irl.cli.common import parse_json_object, print_json


def _algorithm_lines() -> str:
    from irl.inverse.registry import ALGORITHMS

    return "\n".join(f"  {a.name:<12} {a.description}" for a in ALGORITHMS.values())


FIT_DEFAULTS = """\
defaults:
  --algo maxent; its reward is linear in the env's features when they are
  informative (our gridworld's blocks, objectworld's distances), and a
  state-action table when the features are one-hot states (toy-text envs), so a
  penalty that belongs to a move (stepping off a cliff) can be learned.
  deep-maxent: an MLP (64, 64) on the features, 300 Adam steps at lr 1e-3 (longer
  runs overfit objectworld). MaxEnt rewards are fitted in float64 with an L2 penalty
  1e-3; the horizon and discount come from the demos' metadata, else the env's time
  limit. projection / max-margin / mmp learn a linear reward in the features. Change any algorithm setting with --algo-kwargs, e.g.
  '{"l2": 0.01, "max_iters": 200, "reward": "tabular-state"}'.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    fit = subparsers.add_parser(
        "fit",
        help="learn the reward behind a demo file",
        description="Learn the reward behind the demonstrations in a demo file and write a run folder "
        "(reward, reward_table.npy, policy, metrics.json, log, plots).\n\nalgorithms:\n" + _algorithm_lines(),
        epilog=FIT_DEFAULTS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("--demos", type=Path, required=True, help="demo .npz file")
    fit.add_argument("--algo", default="maxent", help="inverse algorithm (see above; default maxent)")
    fit.add_argument("--env", default=None, help="gymnasium id; default: the env in the demos' metadata")
    fit.add_argument("--env-kwargs", default=None, help="JSON object of env arguments (with --env)")
    fit.add_argument("--algo-kwargs", default=None, help="JSON object of algorithm settings")
    fit.add_argument("--out", type=Path, default=None, help="run folder; default runs/<demos>-<algo>-<time>")
    fit.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    fit.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the messages run")
    fit.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    fit.set_defaults(handler=run_fit)

    ev = subparsers.add_parser("eval", help="recompute the metrics of a finished run")
    ev.add_argument("--run", type=Path, required=True, help="a run folder written by irl fit")
    ev.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ev.set_defaults(handler=run_eval)


_SUMMARY_KEYS = (
    "epic", "regret_hard", "regret_soft", "pearson", "spearman", "demo_log_likelihood",
    "final_margin", "iterations", "converged", "seconds",
)


def _print_summary(metrics: dict) -> None:
    for key in _SUMMARY_KEYS:
        if key in metrics:
            value = metrics[key]
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            print(f"  {key:<22} {text}")


def run_fit(args: argparse.Namespace) -> int:
    from irl.runs.fit import run_fit as fit

    env_kwargs = parse_json_object(args.env_kwargs, "--env-kwargs")
    if args.env_kwargs is not None and args.env is None:
        from irl.cli.common import CLIError

        raise CLIError("--env-kwargs needs --env (the demos' own env comes with its kwargs)")
    outcome = fit(
        args.demos,
        algo=args.algo,
        env_id=args.env,
        env_kwargs=env_kwargs if args.env is not None else None,
        out=args.out,
        seed=args.seed,
        device=args.device,
        algo_kwargs=parse_json_object(args.algo_kwargs, "--algo-kwargs"),
        progress=sys.stderr.isatty(),
    )
    m = outcome.metrics
    if args.json:
        print_json({"run_dir": str(outcome.run_dir), **m})
    else:
        print(f"{args.algo} on {outcome.config['env']['id']}: {m['n_episodes']} episodes -> {outcome.run_dir}")
        _print_summary(m)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from irl.runs.fit import eval_run

    metrics = eval_run(args.run)
    if args.json:
        print_json({"run_dir": str(args.run), **metrics})
    else:
        print(f"{args.run}")
        _print_summary(metrics)
    return 0
