"""Does SAC's hand-written gradient train GAIL and AIRL as well as autograd's? The same fits, paired by seed.

SAC computes its gradient by hand for Box actions (:mod:`irl.solvers.sac.gradients`); ``SACConfig(autograd=True)``
takes autograd's instead. The two agree to float32 round-off at every step (``tests/test_sac_gradients.py``), but
adversarial training is chaotic: a difference in the last bit can grow into another run. This script fits GAIL and
AIRL (SAC generator with its absorbing state, the defaults) on Pendulum-v1 from the first 10 episodes of
``demos/pendulum-sac-expert.npz``, and (``--methods sac``) trains SAC alone on the env's reward (no absorbing state:
the path of GCL's generator and ``irl train --algo sac``), with each gradient, seed by seed, and reports each
fit's final normalised return
``(R - R_random) / (R_demos - R_random)`` (the final policy, 10 deterministic episodes, as
``experiments/bench_adversarial.py`` scores it) and its wall time, one torch thread per fit.

Usage: python experiments/compare_sac_gradients.py [--methods gail airl sac] [--seeds 0 1 2] [--steps 20000]
           [--gradients hand autograd] [--workers 2] [--out FILE.json] [--cache FILE.jsonl] [--write-readme]

``--cache`` keeps every finished fit as a line of JSON: a fit already there (same method, seed, steps and gradient)
is read back instead of run again, so a grid can grow seed by seed, or go on after an interruption. The block's
header then says how many fits were read back.

``--write-readme`` writes the table into the block ``compare_sac_gradients`` of experiments/README.md. Under the table,
for the seeds run with both gradients: how many pairs fell below 0.8 with both, with one only, and McNemar's exact
test on the one-sided pairs.
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
    autograd = spec["gradient"] == "autograd"
    start = time.perf_counter()
    if spec["method"] == "sac":  # SAC alone on the env's reward: no demos, no absorbing state
        from irl.solvers import sac

        result = sac.train(ENV, total_steps=spec["steps"], seed=spec["seed"], autograd=autograd, cpu_threads=1)
    else:
        config = AdversarialConfig(method=spec["method"], generator="sac", steps=spec["steps"], seed=spec["seed"],
                                   generator_kwargs={"autograd": autograd})
        result = adversarial_fit(EnvTask(ENV, {}), demos, config=config)
    seconds = time.perf_counter() - start
    returns = return_metrics(ENV, {}, demos, result.policy, seed=spec["seed"], episodes=10)
    return {**spec, "final": returns["normalised_return"], "seconds": seconds}


def key(spec: dict) -> tuple:
    """What identifies a fit: method, seed, env steps and gradient."""
    return spec["method"], spec["seed"], spec["steps"], spec["gradient"]


def read_cache(path: Path | None) -> dict[tuple, dict]:
    """The fits a ``--cache`` file holds, by :func:`key` (the last line wins); none if no file."""
    if path is None or not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {key(row): row for row in rows}


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
    return readme_blocks.markdown_table(header, lines) + paired_summary(rows)


def paired_summary(rows: list[dict]) -> str:
    """Per method, over the seeds run with both gradients: how many pairs fell below :data:`FAILED` with both, with
    the hand-written gradient only and with autograd only, and McNemar's exact two-sided p on the one-sided pairs
    (under "no difference" each such pair is as likely to be either; empty if no seed has both)."""
    from scipy.stats import binomtest

    lines, everything = [], []
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for method in methods + (["all methods"] if len(methods) > 1 else []):
        if method == "all methods":
            pairs = everything
        else:
            by = {(r["seed"], r["gradient"]): r["final"] < FAILED for r in rows if r["method"] == method}
            pairs = [(by[(s, GRADIENTS["hand"])], by[(s, GRADIENTS["autograd"])]) for s, g in by
                     if g == GRADIENTS["hand"] and (s, GRADIENTS["autograd"]) in by]
            everything += pairs
        if not pairs:
            continue
        hand_only, autograd_only = sum(h and not a for h, a in pairs), sum(a and not h for h, a in pairs)
        p = binomtest(hand_only, hand_only + autograd_only).pvalue if hand_only + autograd_only else 1.0
        lines.append(f"- {method}, {len(pairs)} pairs run with both gradients: below {FAILED} with both "
                     f"{sum(h and a for h, a in pairs)}, by hand only {hand_only}, autograd only {autograd_only} "
                     f"(McNemar's exact p = {p:.2f})")
    return "\n\n" + "\n".join(lines) if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["gail", "airl"], choices=["gail", "airl", "sac"],
                        help="sac: SAC alone on the env's reward (the generator of GCL, and `irl train --algo sac`)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per fit")
    parser.add_argument("--gradients", nargs="+", default=list(GRADIENTS), choices=list(GRADIENTS))
    parser.add_argument("--workers", type=int, default=2, help="fits run at once, each in a fresh process")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--cache", type=Path, default=None,
                        help="JSON lines of finished fits: read back the ones asked for again, append the new ones")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the table into the block compare_sac_gradients of experiments/README.md")
    args = parser.parse_args()
    import readme_blocks

    run = readme_blocks.Run()
    specs = [{"method": m, "seed": s, "steps": args.steps, "gradient": g}
             for m in args.methods for s in args.seeds for g in (GRADIENTS[k] for k in args.gradients)]
    cached = read_cache(args.cache)
    rows = [cached[key(spec)] for spec in specs if key(spec) in cached]
    todo = [spec for spec in specs if key(spec) not in cached]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.workers, mp_context=context, max_tasks_per_child=1) as pool:
        for row in pool.map(fit_one, todo):
            rows.append(row)
            if args.cache:
                with open(args.cache, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
            print(f"  {row['method']} seed {row['seed']} {row['gradient']}: final {row['final']:.3f} "
                  f"in {row['seconds']:.1f} s", flush=True)
    rows.sort(key=lambda r: (args.methods.index(r["method"]), r["seed"], r["gradient"] != GRADIENTS["hand"]))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    text = table(rows)
    print("\n" + text)
    if args.write_readme:
        reused = f"\n\n{len(specs) - len(todo)} of the {len(specs)} fits were read back from the cache (run " \
                 "earlier by this script, at the same settings); the wall time above is the rest's." if \
            len(todo) < len(specs) else ""
        readme_blocks.write_block(readme_blocks.EXPERIMENTS_README, "compare_sac_gradients",
                                  f"{run.header(torch_threads=1, busy=args.workers)}{reused}\n\n{text}")
        print("wrote the block compare_sac_gradients of experiments/README.md")


if __name__ == "__main__":
    main()
