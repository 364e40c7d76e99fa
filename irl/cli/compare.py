"""``irl compare``: the reward-recovery leaderboard of a TOML config (see :mod:`irl.compare`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from irl.cli.common import CLIError, print_json

NOTES = """\
the config (TOML; experiments/configs/*.toml are examples):
  name, seeds = [0, 1, ...], demos = [10, 100] (demo episodes per cell), checks = true
  [[tasks]]  name, env, env_kwargs = {...}; tabular: temperature (of the soft-optimal
             demonstrator), discount, max_steps; continuous: expert_steps (an SAC expert
             trained once); steps (env steps of the sampled algorithms there)
  [[algos]]  name (the row), algo (registered name, default: name), kwargs = {...},
             steps, generator, transfer, tasks = [...] (default: every task it can run on)

Each cell (algorithm x task x number of demos x seed) is one `irl fit` run folder under
OUT/runs/; each finished cell is saved at once in OUT/cells/, so rerunning the same
command after a kill runs only the cells that had not finished. Outputs: OUT/results.csv
(and .parquet with pyarrow), OUT/summary.md (mean ± 95% CI over seeds, best in bold),
OUT/curves.png and OUT/heatmaps-TASK.png. Exit status 1 when any cell failed (its row
says why).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare", help="run a reward-recovery leaderboard from a TOML config",
        description="Run every algorithm of a TOML config on every task, number of demos and seed; score "
                    "each recovered reward against the true one; write a table and plots.",
        epilog=NOTES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, type=Path, help="TOML file, e.g. experiments/configs/default.toml")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default: experiments/results/NAME for a config in experiments/configs)")
    p.add_argument("--workers", type=int, default=None, help="parallel cells (default: the number of cores)")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local process pool (default) or Ray tasks (pip install -e '.[ray]')")
    p.add_argument("--address", default=None, help="with --backend ray: the cluster address (default: start one)")
    p.add_argument("--peer-python", default=None,
                   help="python of a venv holding HumanCompatibleAI's imitation: adds its MCE IRL rows "
                        "(tabular tasks) and its GAIL/AIRL rows (Pendulum-v1)")
    p.add_argument("--tensorboard", type=Path, default=None, metavar="DIR",
                   help="also log each cell's metrics to TensorBoard in DIR/<results folder name> as it finishes "
                        "(pip install tensorboard): <task>/<algo>/demos<N>/seed<S>/<metric> at step N; cells "
                        "finished by an earlier run of the grid are not logged again")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from irl.compare.config import load_config
    from irl.compare.harness import run_compare

    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be >= 1, got {args.workers}")
    if args.address is not None and args.backend != "ray":
        raise CLIError("--address needs --backend ray")
    if args.peer_python is not None and not Path(args.peer_python).is_file():
        raise CLIError(f"--peer-python {args.peer_python}: no such file")
    if args.tensorboard is not None:
        from irl.runs.tensorboard import summary_writer_class

        summary_writer_class(CLIError)  # the one-line error when the package is missing, before anything runs
    config = load_config(args.config)
    outcome = run_compare(config, args.out, workers=args.workers, backend=args.backend, address=args.address,
                          peer_python=args.peer_python, progress=not args.quiet, tensorboard=args.tensorboard)
    total = len(outcome.frame)
    print(outcome.summary)
    print(f"\n{total} cells ({outcome.n_run} run now), {outcome.n_failed} failed, {outcome.seconds:.0f} s; "
          f"results in {outcome.out}")
    if args.json:
        print_json({"out": str(outcome.out), "cells": total, "run": outcome.n_run, "failed": outcome.n_failed,
                    "seconds": outcome.seconds})
    if outcome.n_failed:
        print(f"irl: error: {outcome.n_failed} of {total} cells failed (their rows in {outcome.out / 'results.csv'} "
              "say why)", file=sys.stderr)
        return 1
    return 0
