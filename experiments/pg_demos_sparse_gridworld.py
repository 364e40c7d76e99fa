"""Policy gradient with and without demonstrations on a sparse-reward gridworld (issue 4, section 3).

Task: ``irl/Gridworld-v0`` with size 6, no slip, start in the top-left corner, +1 per step on
the bottom-right cell, 15 steps per episode (the goal is 10 moves away; optimal return 5).
Demos: 5 episodes of the (near-)optimal policy (soft VI, τ = 0.01). Learners: PPO-clipped
entropy-regularised actor-critic (PGConfig defaults) without demos, and with each demo term:
(a) importance-sampled demo trajectories (q = behaviour-cloned demonstrator), (b) the DAPG
term λ0·λ1^k Σ log π(a|s), (b)+(c) DAPG with a behaviour-cloning warm start.
"Solved" = the mean true return of the last 10 training episodes reaches 4.

``--write-readme`` writes the table (and the sentence that reads it) into the block
``pg_demos_sparse_gridworld`` of experiments/README.md.

Usage: python experiments/pg_demos_sparse_gridworld.py [--seeds 3] [--steps 50000]
           [--demo-steps 8000] [--out FIGURE] [--write-readme]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import readme_blocks

TASK = dict(size=6, slip=0.0, initial="corner", horizon=15)
SOLVED = 4.0
FIGURE = Path(__file__).parent / "figures" / "pg_demos_sparse_gridworld.png"
VARIANTS = {
    "no demos": {},
    "(a) IS demos, q = BC": dict(demo_is=True, demo_behavior="bc"),
    "(b) DAPG term": dict(demo_bc_coef=1.0),
    "(b)+(c) DAPG + BC warm start": dict(demo_bc_coef=1.0, bc_warmstart_steps=200),
}
README_LABELS = {
    "no demos": "no demos",
    "(a) IS demos, q = BC": "(a) importance-sampled demos, q = behaviour-cloned",
    "(b) DAPG term": "(b) DAPG term λ0·λ1^k Σ log π(a|s)",
    "(b)+(c) DAPG + BC warm start": "(b) + (c) DAPG with a behaviour-cloning warm start",
}


def solved_at(curve: list[dict], window: int = 10) -> int | None:
    """The env step at which the trailing mean of ``window`` training returns first reaches SOLVED."""
    returns = np.array([r["true_return"] for r in curve])
    steps = np.array([r["step"] for r in curve])
    if len(returns) < window:
        return None
    mean = np.convolve(returns, np.ones(window) / window, mode="valid")
    hit = np.flatnonzero(mean >= SOLVED)
    return int(steps[window - 1 + hit[0]]) if len(hit) else None


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each index (fewer at the start)."""
    c = np.cumsum(np.insert(x, 0, 0.0))
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50_000, help="env steps without demos")
    parser.add_argument("--demo-steps", type=int, default=8_000, help="env steps with demos")
    parser.add_argument("--out", type=Path, default=FIGURE)
    parser.add_argument("--write-readme", action="store_true",
                        help="write the table into its generated block of experiments/README.md")
    args = parser.parse_args()
    run = readme_blocks.Run()

    import gymnasium as gym
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    import irl.envs  # noqa: F401
    from irl.runs.generate import generate_tabular_demos
    from irl.solvers.policy_gradient import train

    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=TASK, episodes=5, temperature=0.01, seed=0)
    results: dict[str, list] = {name: [] for name in VARIANTS}
    for name, terms in VARIANTS.items():
        for seed in range(args.seeds):
            start = time.perf_counter()
            result = train(gym.make("irl/Gridworld-v0", **TASK), demos=demos if terms else None, seed=seed,
                           total_steps=args.demo_steps if terms else args.steps, **terms)
            results[name].append((result, solved_at(result.curve), time.perf_counter() - start))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = dict(zip(VARIANTS, ["tab:gray", "tab:orange", "tab:blue", "tab:green"], strict=True))
    for name, runs in results.items():
        for i, (result, _, _) in enumerate(runs):
            steps = [r["step"] for r in result.curve]
            returns = trailing_mean(np.array([r["true_return"] for r in result.curve]), 10)
            ax.plot(steps, returns, color=colors[name], alpha=0.8, lw=2 if not VARIANTS[name] else 1,
                    label=name if i == 0 else None, zorder=3 if not VARIANTS[name] else 2)
    ax.axhline(SOLVED, color="k", ls=":", lw=1, label="solved (4 of 5)")
    ax.set_xscale("log")
    ax.set_xlabel("env steps (log)")
    ax.set_ylabel("true return per training episode (mean of last 10)")
    ax.set_title(f"PG on a sparse 6x6 gridworld, 5 demo episodes ({args.seeds} seeds each)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)

    print(f"{'variant':32s} {'steps to solve (per seed)':>30s} {'greedy return':>14s} {'seconds':>8s}")
    for name, runs in results.items():
        budget = args.demo_steps if VARIANTS[name] else args.steps
        solved = ", ".join(str(s) if s is not None else f">{budget}" for _, s, _ in runs)
        print(f"{name:32s} {solved:>30s} {np.mean([r.eval_return for r, _, _ in runs]):14.2f} "
              f"{np.mean([sec for _, _, sec in runs]):8.1f}")
    print(f"figure: {args.out}")
    body = readme_table(results, args)
    print()
    print(body)
    if args.write_readme:
        readme_blocks.write_block(readme_blocks.EXPERIMENTS_README, "pg_demos_sparse_gridworld",
                                  f"{run.header(torch_threads=1)}\n\n{body}")
        print("wrote the block pg_demos_sparse_gridworld of experiments/README.md")


def readme_table(results: dict[str, list], args: argparse.Namespace) -> str:
    """The markdown table, and a sentence comparing the learners, from this run's results."""
    seeds = ", ".join(str(s) for s in range(args.seeds))
    rows = []
    for name, runs in results.items():
        budget = args.demo_steps if VARIANTS[name] else args.steps
        solved = [s for _, s, _ in runs]
        if all(s is None for s in solved):
            steps = f"not solved in {budget:,} (×{len(runs)})"
        else:
            steps = ", ".join(str(s) if s is not None else f"not solved in {budget}" for s in solved)
        greedy = ", ".join(f"{r.eval_return:g}" for r, _, _ in runs)
        wall = readme_blocks.seconds(np.mean([t for _, _, t in runs]))
        rows.append([README_LABELS[name], steps, greedy, wall])
    table = readme_blocks.markdown_table(
        ["learner", f"env steps to solve (seeds {seeds})", "greedy return (per seed)", "wall time per run"],
        rows)

    plain = results["no demos"]
    episodes = [r["true_return"] for result, _, _ in plain for r in result.curve]
    rewarded = sum(x > 0 for x in episodes)
    text = (f"Without demos, {rewarded:,} of the {len(episodes):,} training episodes "
            f"({args.steps:,} env steps per seed) earned any reward.")
    with_demos = [s for name, runs in results.items() if VARIANTS[name] for _, s, _ in runs]
    if all(s is not None for s in with_demos):
        worst = max(with_demos)
        text += f" With demos, every learner solved the task on every seed within {worst:,} env steps"
        if all(s is None for _, s, _ in plain):
            text += (f", ≥ {args.steps // worst}× fewer than the {args.steps:,} in which plain PG "
                     "did not solve it")
        text += "."
    else:
        text += " Not every learner with demos solved the task on every seed (see the table)."
    return f"{table}\n\n{text}"


if __name__ == "__main__":
    main()
