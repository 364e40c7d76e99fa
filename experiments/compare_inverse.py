"""Compare every registered inverse algorithm on the shipped tabular demo files.

Each (file, algorithm) pair runs exactly what ``irl fit --demos FILE --algo NAME``
runs (default settings, seed 0) into a temporary folder; the table lists the
recovery metrics against the env's true reward and the wall time.

Usage: python experiments/compare_inverse.py [--files demos/gridworld8.npz ...]
           [--algos maxent mmp ...] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from irl.inverse.registry import ALGORITHMS
from irl.runs.fit import FitError, run_fit

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["file", "algo", "epic", "regret_hard", "regret_soft", "pearson", "demo_log_likelihood", "iterations",
           "converged", "seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="+", type=Path, default=sorted((ROOT / "demos").glob("*.npz")),
                        help="demo files (default: every shipped one; non-tabular ones are skipped)")
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.files:
            for algo in args.algos:
                try:
                    outcome = run_fit(path, algo=algo, seed=args.seed, out=Path(tmp) / f"{path.stem}-{algo}")
                except FitError as exc:  # e.g. a continuous task: the tabular algorithms don't apply
                    print(f"{path.name:<22} {algo:<12} skipped: {exc}", flush=True)
                    continue
                rows.append({"file": path.name, **outcome.metrics})
                m = outcome.metrics
                print(f"{path.name:<22} {algo:<12} epic {m.get('epic', float('nan')):.3f} "
                      f"regret {m.get('regret_hard', float('nan')):.4f}  {m['seconds']:.1f} s", flush=True)
    table = pd.DataFrame(rows)[COLUMNS]
    print()
    print(table.to_markdown(index=False, floatfmt=".4g") if _has_tabulate() else table.to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
