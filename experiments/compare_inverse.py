"""Compare every registered inverse algorithm on the shipped tabular demo files.

Each (file, algorithm) pair runs exactly what ``irl fit --demos FILE --algo NAME``
runs (default settings, seed 0) into a temporary folder; the table lists the
recovery metrics against the env's true reward, the fit's own time and the wall time
of the whole fit call (load, fit, metrics, run folder; no Python start-up).

``--write-readme`` writes the table into the block ``compare_inverse`` of
experiments/README.md, and the rows of README.md's table (gridworld8: maxent,
max-margin, mmp, projection; cliffwalking: maxent) into its block
``compare_inverse-readme``; it needs the default files and those algorithms.

Usage: python experiments/compare_inverse.py [--files demos/gridworld8.npz ...]
           [--algos maxent mmp ...] [--seed 0] [--csv out.csv] [--write-readme]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import readme_blocks

from irl.envs import MDPError
from irl.inverse.registry import ALGORITHMS
from irl.runs.fit import FitError, run_fit

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["file", "algo", "reward", "epic", "regret_hard", "regret_soft", "pearson", "demo_log_likelihood",
           "iterations", "converged", "seconds", "wall_seconds"]
#: the rows of README.md's table, in its order: (demo file, algorithm)
TOP_README_ROWS = [("gridworld8.npz", "maxent"), ("gridworld8.npz", "max-margin"), ("gridworld8.npz", "mmp"),
                   ("gridworld8.npz", "projection"), ("cliffwalking.npz", "maxent")]
REWARD_LABELS = {"linear": "linear", "tabular": "state-action table"}


def label(row: dict) -> str:
    """``maxent (linear)``, ``maxent (state-action table)``, ``mmp``, ..."""
    if row["algo"] == "maxent" and row.get("reward") in REWARD_LABELS:
        return f"maxent ({REWARD_LABELS[row['reward']]})"
    return row["algo"]


def fmt(x: float | None, decimals: int) -> str:
    if x is None or x != x:
        return "—"
    text = f"{x:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.0000"


def experiments_table(rows: list[dict]) -> str:
    return readme_blocks.markdown_table(
        ["file", "algorithm", "EPIC", "hard regret", "iterations", "converged", "fit time",
         "wall time"],
        [[r["file"], label(r), fmt(r.get("epic"), 3), fmt(r.get("regret_hard"), 4),
          str(r["iterations"]), "yes" if r["converged"] else "no", readme_blocks.seconds(r["seconds"]),
          readme_blocks.seconds(r["wall_seconds"])] for r in rows])


def top_readme_table(rows: list[dict]) -> str:
    by_key = {(r["file"], r["algo"]): r for r in rows}
    return readme_blocks.markdown_table(
        ["demo file", "algorithm", "EPIC", "hard regret", "wall time (2 cores)"],
        [[f"`{f}`", label(r), fmt(r.get("epic"), 3), fmt(r.get("regret_hard"), 4),
          readme_blocks.seconds(r["wall_seconds"])]
         for f, a in TOP_README_ROWS for r in [by_key[(f, a)]]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="+", type=Path, default=sorted((ROOT / "demos").glob("*.npz")),
                        help="demo files (default: every shipped one; non-tabular ones are skipped)")
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS), help="default: every registered one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", type=Path, default=None, help="also write the table as CSV here")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the tables into their generated blocks of experiments/README.md "
                             "and README.md")
    args = parser.parse_args()
    if args.write_readme:
        missing = [f"{f} {a}" for f, a in TOP_README_ROWS
                   if a not in args.algos or f not in {p.name for p in args.files}]
        if missing:
            parser.error(f"--write-readme needs README.md's rows, missing: {', '.join(missing)}")

    run = readme_blocks.Run()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.files:
            for algo in args.algos:
                start = time.perf_counter()
                try:
                    outcome = run_fit(path, algo=algo, seed=args.seed, out=Path(tmp) / f"{path.stem}-{algo}")
                except (FitError, MDPError) as exc:  # a continuous task: the tabular algorithms don't apply
                    print(f"{path.name:<22} {algo:<12} skipped: {exc}", flush=True)
                    continue
                wall = time.perf_counter() - start
                m = outcome.metrics
                rows.append({"file": path.name, **m, "reward": outcome.config["algo_config"].get("reward"),
                             "wall_seconds": wall})
                print(f"{path.name:<22} {algo:<12} epic {m.get('epic', float('nan')):.3f} "
                      f"regret {m.get('regret_hard', float('nan')):.4f}  {m['seconds']:.1f} s "
                      f"(wall {wall:.1f} s)",
                      flush=True)
    print()
    print(experiments_table(rows))
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    if args.write_readme:
        head = run.header(torch_threads=1)  # run_fit's own setting for models this small
        readme_blocks.write_block(readme_blocks.EXPERIMENTS_README, "compare_inverse",
                                  f"{head}\n\n{experiments_table(rows)}")
        readme_blocks.write_block(readme_blocks.TOP_README, "compare_inverse-readme",
                                  f"{head}\n\n{top_readme_table(rows)}")
        print("wrote the blocks compare_inverse (experiments/README.md) and compare_inverse-readme "
              "(README.md)")


if __name__ == "__main__":
    main()
