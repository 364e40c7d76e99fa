"""The reward-recovery leaderboard: ``irl compare`` on a config, and its table in experiments/README.md.

A thin wrapper over :func:`irl.compare.harness.run_compare` (the same as ``irl compare --config
...``). With ``--write-readme`` the summary (demonstrators, one table per task, the peer's verdict
when it ran) goes into the block ``reward_recovery-<config name>`` of experiments/README.md, headed
by this command, the date and the wall time; the plots are copied to experiments/figures/.

Usage: python experiments/reward_recovery.py --config experiments/configs/default.toml
           [--out DIR] [--workers N] [--backend local|ray] [--address ADDR]
           [--peer-python /tmp/imit/bin/python] [--fresh] [--write-readme]

``--fresh`` deletes the results folder first, so every cell runs and the wall time in the header
is the whole grid's (without it, finished cells are reused and the header says how many ran).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import readme_blocks

from irl.compare.config import CompareConfigError, load_config
from irl.compare.harness import default_out, run_compare

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "experiments" / "figures"
#: config name → its block in experiments/README.md
README_BLOCKS = {"default": "reward_recovery-default", "sampled": "reward_recovery-sampled"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "experiments" / "configs" / "default.toml")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--backend", choices=["local", "ray"], default="local")
    parser.add_argument("--address", default=None)
    parser.add_argument("--peer-python", default=None)
    parser.add_argument("--fresh", action="store_true", help="delete the results folder first")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the summary into experiments/README.md and the plots into experiments/figures/")
    args = parser.parse_args()
    try:
        config = load_config(args.config)
    except CompareConfigError as exc:
        parser.error(str(exc))
    if args.write_readme and config.name not in README_BLOCKS:
        parser.error(f"--write-readme: experiments/README.md has a block for the configs "
                     f"{', '.join(README_BLOCKS)} only, not {config.name!r}")
    out = args.out if args.out is not None else default_out(config)
    if args.fresh and out.exists():
        shutil.rmtree(out)
    run = readme_blocks.Run()
    outcome = run_compare(config, out, workers=args.workers, backend=args.backend, address=args.address,
                          peer_python=args.peer_python)
    print(outcome.summary)
    total = len(outcome.frame)
    print(f"\n{total} cells ({outcome.n_run} run now), {outcome.n_failed} failed, "
          f"{readme_blocks.duration(outcome.seconds)}; results in {outcome.out}")
    if args.write_readme:
        workers = args.workers or os.cpu_count()
        head = run.header(torch_threads=1, busy=workers)
        reused = "" if outcome.n_run == total else f" ({total - outcome.n_run} reused from an earlier run in the " \
                                                   "same folder)"
        figures = []
        for png in sorted(outcome.out.glob("*.png")):
            target = FIGURES / f"reward_recovery-{config.name}-{png.name}"
            shutil.copyfile(png, target)
            figures.append(f"![{png.stem}](figures/{target.name})")
        runs = [json.loads(line) for line in (outcome.out / "invocations.jsonl").read_text().splitlines()]
        ran = [r for r in runs if r["cells_run"]]
        history = "; ".join(f"{r['finished'][:10]}: {r['cells_run']} cells in {readme_blocks.duration(r['seconds'])} "
                            f"on {r['workers']} workers"
                            + (f" (load average {r['load_at_end']} at the end)" if "load_at_end" in r else "")
                            for r in ran)
        cell_time = readme_blocks.duration(float(outcome.frame.wall_seconds.sum()))
        body = (f"{head} {total} cells, {outcome.n_failed} failed{reused}. "
                f"{f'The runs that computed them: {history}. ' if history else ''}"
                f"The cells' own wall times add up to {cell_time}.\n\n"
                f"{outcome.summary.strip()}\n\n" + "\n\n".join(figures))
        block = README_BLOCKS[config.name]
        readme_blocks.write_block(readme_blocks.EXPERIMENTS_README, block, body)
        print(f"wrote the block {block} of experiments/README.md")
    return 1 if outcome.n_failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: the finished cells are kept; rerun the same command (without --fresh) to go on",
              file=sys.stderr)
        sys.exit(130)
