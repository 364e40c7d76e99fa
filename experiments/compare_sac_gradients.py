"""Does SAC's hand-written gradient train GAIL and AIRL as well as autograd's? The same fits, paired by seed.

SAC computes its gradient by hand for Box actions (:mod:`irl.solvers.sac.gradients`); ``SACConfig(autograd=True)``
takes autograd's instead. The two agree to float32 round-off at every step (``tests/test_sac_gradients.py``), but
adversarial training is chaotic: a difference in the last bit can grow into another run. This script fits GAIL and
AIRL (SAC generator with its absorbing state, the defaults) on Pendulum-v1 from the first 10 episodes of
``demos/pendulum-sac-expert.npz`` with each gradient, seed by seed, and reports each fit's final normalised return
``(R - R_random) / (R_demos - R_random)`` (the final policy, 10 deterministic episodes, as
``experiments/bench_adversarial.py`` scores it) and its wall time, one torch thread per fit.

Usage: python experiments/compare_sac_gradients.py [--methods gail airl] [--seeds 0 1 2] [--steps 20000]
           [--gradients hand autograd] [--workers 2] [--out FILE.json] [--write-readme [BLOCK]]

``--write-readme`` writes the table into the block ``compare_sac_gradients`` of experiments/README.md (or into
``compare_sac_gradients-autograd``, where the README keeps autograd's fits alone on more seeds, when named).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

DEMOS, EPISODES, ENV = "demos/pendulum-sac-expert.npz", 10, "Pendulum-v1"
GRADIENTS = {"hand": "by hand", "autograd": "autograd"}
FAILED = 0.8  # a final normalised return below this counts as a failed fit


def fit_one(spec: dict) -> dict:
    """One fit (in its own process): ``spec`` has method, seed, steps and gradient; returns it with the results."""
    import torch

    from irl.data import load_demos
    from irl.inverse.adversarial.fit import AdversarialConfig
    from irl.inverse.adversarial.fit import fit as adversarial_fit
    from irl.inverse.common import EnvTask
    from irl.runs.sampled import return_metrics

    torch.set_num_threads(1)
    demos = load_demos(ROOT / DEMOS).take(EPISODES)
    config = AdversarialConfig(method=spec["method"], generator="sac", steps=spec["steps"], seed=spec["seed"],
                               generator_kwargs={"autograd": spec["gradient"] == "autograd"})
    start = time.perf_counter()
    result = adversarial_fit(EnvTask(ENV, {}), demos, config=config)
    seconds = time.perf_counter() - start
    returns = return_metrics(ENV, {}, demos, result.policy, seed=spec["seed"], episodes=10)
    return {**spec, "final": returns["normalised_return"], "seconds": seconds}


def table(rows: list[dict]) -> str:
    """Per method: each seed's final normalised return with either gradient, their summary and the wall times."""
    import readme_blocks

    lines = []
    for method in dict.fromkeys(r["method"] for r in rows):
        by = {(r["seed"], r["gradient"]): r for r in rows if r["method"] == method}
        seeds = sorted({s for s, _ in by})
        for gradient in GRADIENTS.values():
            runs = [by[(s, gradient)] for s in seeds if (s, gradient) in by]
            if not runs:
                continue
            finals = [r["final"] for r in runs]
            lines.append([method, gradient, str(len(runs)), ", ".join(f"{x:.2f}" for x in finals),
                          f"{statistics.mean(finals):.3f}", f"{statistics.median(finals):.3f}",
                          f"{sum(x < FAILED for x in finals)}", f"{statistics.median(r['seconds'] for r in runs):.1f}"])
    header = ["method", "SAC gradient", "seeds", f"final normalised return (seeds {min(r['seed'] for r in rows)}–"
              f"{max(r['seed'] for r in rows)})", "mean", "median", f"below {FAILED}", "median s"]
    return readme_blocks.markdown_table(header, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["gail", "airl"], choices=["gail", "airl"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per fit")
    parser.add_argument("--gradients", nargs="+", default=list(GRADIENTS), choices=list(GRADIENTS))
    parser.add_argument("--workers", type=int, default=2, help="fits run at once, each in a fresh process")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--write-readme", nargs="?", const="compare_sac_gradients", default=None,
                        choices=["compare_sac_gradients", "compare_sac_gradients-autograd"],
                        help="write the table into this block of experiments/README.md (default compare_sac_gradients: "
                             "both gradients; compare_sac_gradients-autograd: autograd's alone on more seeds)")
    args = parser.parse_args()
    import readme_blocks

    run = readme_blocks.Run()
    specs = [{"method": m, "seed": s, "steps": args.steps, "gradient": g}
             for m in args.methods for s in args.seeds for g in (GRADIENTS[k] for k in args.gradients)]
    rows = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.workers, mp_context=context, max_tasks_per_child=1) as pool:
        for row in pool.map(fit_one, specs):
            rows.append(row)
            print(f"  {row['method']} seed {row['seed']} {row['gradient']}: final {row['final']:.3f} "
                  f"in {row['seconds']:.1f} s", flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    text = table(rows)
    print("\n" + text)
    if args.write_readme:
        readme_blocks.write_block(readme_blocks.EXPERIMENTS_README, args.write_readme,
                                  f"{run.header(torch_threads=1, busy=args.workers)}\n\n{text}")
        print(f"wrote the block {args.write_readme} of experiments/README.md")


if __name__ == "__main__":
    main()
