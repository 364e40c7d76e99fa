"""Benchmark: the exact backward + forward messages (one MaxEnt gradient's worth of work).

One soft value iteration + one state-action visitation on slippery gridworlds
(5 actions: stay/up/down/left/right; with probability 0.1 the move is replaced by
one of the 5 drawn uniformly; off-grid moves stay put), horizon H = 2 * side, a
random state-action reward. float64 and float32 on the CPU, and CUDA when present.

`imitation` (HumanCompatibleAI) is never a dependency of irl: to compare, install it
in a throwaway venv and pass its python, e.g.

    python -m venv /tmp/imit && /tmp/imit/bin/pip install torch==2.13.0 imitation
    python experiments/bench_tabular.py --imitation-python /tmp/imit/bin/python

The imitation side runs in a subprocess (``--imitation-worker``) on the same MDP,
rebuilt there with plain numpy as the dense ``(S, A, S)`` model imitation needs.

``--write-readme`` writes the table into the block ``bench_tabular-messages`` of
experiments/README.md, and with ``--maxent`` the MaxEnt table into ``bench_tabular-maxent``.

Usage: python experiments/bench_tabular.py [--sizes 16 32 48 64 128] [--threads 2]
           [--device cpu cuda] [--repeats 5] [--imitation-python PATH]
           [--imitation-max-side 48] [--maxent] [--write-readme]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import readme_blocks


def dense_gridworld(side: int, slip: float = 0.1):
    """``(S, A, S)`` transitions of the benchmark gridworld, numpy only (for imitation)."""
    import numpy as np

    S = side * side
    s = np.arange(S)
    row, col = np.divmod(s, side)
    moves = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]
    dest = np.stack([np.clip(row + dr, 0, side - 1) * side + np.clip(col + dc, 0, side - 1) for dr, dc in moves], 1)
    P = np.zeros((S, 5, S))
    for a in range(5):
        for m in range(5):
            p = (1 - slip if a == m else 0.0) + slip / 5
            np.add.at(P, (s, a, dest[:, m]), p)
    return P


def bench_reward(side: int, seed: int = 0):
    """A random state reward ``(S,)``: imitation's MCE IRL takes state rewards only."""
    import numpy as np

    return np.random.default_rng(seed).normal(size=side * side)


def time_it(fn, repeats: int, sync=lambda: None) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ------------------------------------------------------------------ ours
def bench_ours(side: int, dtype_name: str, device: str, repeats: int) -> dict:
    import torch

    from irl.envs import gridworld_mdp
    from irl.solvers import soft_value_iteration, visitation

    dtype = {"float64": torch.float64, "float32": torch.float32}[dtype_name]
    mdp = gridworld_mdp(side, 0.1, features=None, horizon=2 * side, dtype=dtype).to(device)
    r = torch.as_tensor(bench_reward(side), dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        res = soft_value_iteration(mdp, r)
        return visitation(mdp, res.policy)

    D = step()
    return {"seconds": time_it(step, repeats, sync), "mass": float(D.sum())}


def bench_ours_maxent(side: int, repeats: int) -> dict:
    """One exact MaxEnt gradient (backward + forward pass + the demo terms) and one full
    L-BFGS fit of a linear reward on block features, from 100 soft-optimal demos."""
    import torch

    from irl.envs import gridworld_mdp
    from irl.envs.demo_counts import demo_counts
    from irl.inverse import maxent
    from irl.inverse.maxent_objective import maxent_objective
    from irl.runs.generate import generate_tabular_demos

    kw = {"size": side, "reward": "random", "features": "blocks", "block_size": 4}
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=100, seed=0)
    mdp = gridworld_mdp(**kw)
    counts = demo_counts(mdp, demos)
    reward = torch.zeros(mdp.n_env_states, mdp.n_actions, dtype=torch.float64)
    grad_s = time_it(lambda: maxent_objective(mdp, counts, reward).grad, repeats)
    t0 = time.perf_counter()
    result = maxent.fit(mdp, demos, reward="linear", seed=0)
    fit_s = time.perf_counter() - t0
    return {"gradient_seconds": grad_s, "fit_seconds": fit_s, "fit_iterations": result.iterations,
            "converged": result.converged}


# -------------------------------------------------------------- imitation
def imitation_worker(side: int, repeats: int) -> dict:
    """Runs inside the imitation venv: mce_partition_fh + mce_occupancy_measures."""
    import types

    import numpy as np
    from imitation.algorithms.mce_irl import mce_occupancy_measures, mce_partition_fh

    P = dense_gridworld(side)
    S = side * side
    env = types.SimpleNamespace(
        transition_matrix=P,
        reward_matrix=bench_reward(side),
        horizon=2 * side,
        state_dim=S,
        action_dim=5,
        obs_dim=S,
        initial_state_dist=np.full(S, 1.0 / S),
    )

    def step():
        _, _, pi = mce_partition_fh(env, reward=env.reward_matrix)
        _, om = mce_occupancy_measures(env, pi=pi)
        return om

    import imitation

    return {"seconds": time_it(step, repeats), "version": imitation.__version__}


def run_imitation(python: str, side: int, repeats: int) -> dict:
    """imitation's time on ``side``, or ``{"error": why}`` when its worker failed."""
    cmd = [python, __file__, "--imitation-worker", str(side), "--repeats", str(repeats)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        return {"error": str(exc)}
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
        print(f"  imitation failed on {side}x{side}: {why}", file=sys.stderr)
        return {"error": why}
    return json.loads(out.stdout.strip().splitlines()[-1])


def sig3(x: float) -> str:
    """Three significant digits, trailing zeros kept: ``0.0140``, ``4.00``, ``141``."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:#.3g}"


def messages_table(results: list[dict], devices: list[str], args: argparse.Namespace) -> str:
    """The markdown table of the soft VI + visitation timings, and the notes that go with it."""
    cols = [(device, dtype) for device in devices for dtype in ("float64", "float32")]
    header = ["side", "states", "H", *(f"ours {'' if d == 'cpu' else d + ' '}{t} (s)" for d, t in cols),
              "imitation (s)", "speed-up (imitation / ours float64)"]
    rows = []
    for r in results:
        imit = r["imitation"]
        if imit is None:
            peer, speed = "—", "—"
        elif "error" in imit:
            peer, speed = "failed", "—"
        else:
            peer = sig3(imit["seconds"])
            speed = f"{imit['seconds'] / r['ours'][('cpu', 'float64')]:.0f}×"
        rows.append([str(r["side"]), str(r["side"] ** 2), str(2 * r["side"]),
                     *(sig3(r["ours"][c]) for c in cols), peer, speed])
    notes = []
    measured = [r["imitation"] for r in results if r["imitation"] and "seconds" in r["imitation"]]
    if not args.imitation_python:
        notes.append("imitation: not measured (no `--imitation-python` given).")
    else:
        if measured:
            notes.append(f"imitation {measured[0]['version']}: `mce_partition_fh` + `mce_occupancy_measures` "
                         f"on the same MDP as its dense S×A×S model, median of {max(1, args.repeats // 2)}.")
        skipped = [r["side"] for r in results if r["imitation"] is None]
        if skipped:
            mb = 8 * skipped[0] ** 4 * 5 / 1e6
            size = f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb:.0f} MB"
            notes.append(f"imitation was not run above side {args.imitation_max_side} "
                         f"(`--imitation-max-side`): its dense model at side {skipped[0]} alone is {size} "
                         "of float64.")
        failed = [f"{r['side']} ({r['imitation']['error']})" for r in results
                  if r["imitation"] and "error" in r["imitation"]]
        if failed:
            notes.append(f"imitation failed on side {', '.join(failed)}.")
    if "cuda" not in devices:
        why = "no CUDA device on this machine" if args.device is None else "`--device` did not ask for it"
        notes.append(f"CUDA: not measured ({why}).")
    return readme_blocks.markdown_table(header, rows) + "\n\n" + " ".join(notes)


def maxent_table(results: list[dict], messages: list[dict]) -> str:
    """The markdown table of the MaxEnt timings, and how they compare with the issues' goals."""
    table = readme_blocks.markdown_table(
        ["side", "states", "one exact gradient (s)", "full L-BFGS fit (s)", "iterations", "converged"],
        [[str(m["side"]), str(m["side"] ** 2), sig3(m["gradient_seconds"]), sig3(m["fit_seconds"]),
          str(m["fit_iterations"]), "yes" if m["converged"] else "no"] for m in results])
    goals = []
    at48 = [r for r in messages if r["side"] == 48 and r["imitation"] and "seconds" in r["imitation"]]
    if at48:
        speed = at48[0]["imitation"]["seconds"] / at48[0]["ours"][("cpu", "float64")]
        goals.append(f"≥ 100× imitation on 48×48 soft VI + visitation: {speed:.0f}×, "
                     f"{'met' if speed >= 100 else 'not met'}")
    fit48 = [m for m in results if m["side"] == 48]
    if fit48:
        goals.append(f"a 48×48 fit in seconds: {readme_blocks.seconds(fit48[0]['fit_seconds'])}")
    if not goals:
        return table
    return f"{table}\n\nThe issues' goals, as measured in this run: {'; '.join(goals)}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 48, 64, 128])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", nargs="+", default=None, help="default: cpu, and cuda when present")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--imitation-python", default=None, help="python of a venv where imitation is installed")
    parser.add_argument("--imitation-max-side", type=int, default=48, help="its dense model is S*A*S floats")
    parser.add_argument("--maxent", action="store_true", help="also time a MaxEnt gradient and fit (32, 48)")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the table(s) into their generated blocks of experiments/README.md")
    parser.add_argument("--imitation-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.imitation_worker is not None:
        print(json.dumps(imitation_worker(args.imitation_worker, args.repeats)))
        return

    import torch

    run = readme_blocks.Run()
    torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"soft VI + visitation, gridworld side x side, H = 2*side, torch {torch.__version__}, threads {args.threads}")
    header = f"{'side':>5} {'states':>8} {'H':>5} {'device':>6} {'dtype':>8} {'ours (s)':>10} {'imitation (s)':>14} {'speed-up':>9}"
    print(header)
    print("-" * len(header))
    results = []
    for side in args.sizes:
        imit = None
        if args.imitation_python and side <= args.imitation_max_side:
            imit = run_imitation(args.imitation_python, side, max(1, args.repeats // 2))
        ours = {}
        for device in devices:
            for dtype in ("float64", "float32"):
                ours[(device, dtype)] = bench_ours(side, dtype, device, args.repeats)["seconds"]
                shown = imit and "seconds" in imit and device == "cpu" and dtype == "float64"
                imit_s = f"{imit['seconds']:.4f}" if shown else "-"
                speed = f"{imit['seconds'] / ours[(device, dtype)]:.0f}x" if shown else "-"
                print(
                    f"{side:>5} {side * side:>8} {2 * side:>5} {device:>6} {dtype:>8} "
                    f"{ours[(device, dtype)]:>10.4f} {imit_s:>14} {speed:>9}",
                    flush=True,
                )
        results.append({"side": side, "ours": ours, "imitation": imit})
    maxent_results = []
    if args.maxent:
        print("\nexact MaxEnt (linear reward on 4x4-cell block features, 100 demos), float64 CPU")
        for side in (32, 48):
            m = bench_ours_maxent(side, args.repeats)
            maxent_results.append({"side": side, **m})
            print(
                f"  {side}x{side}: gradient {m['gradient_seconds']:.4f} s, full fit {m['fit_seconds']:.2f} s "
                f"({m['fit_iterations']} iterations, converged {m['converged']})",
                flush=True,
            )
    body = messages_table(results, devices, args)
    print()
    print(body)
    if maxent_results:
        print()
        print(maxent_table(maxent_results, results))
    if args.write_readme:
        head = run.header(torch_threads=args.threads)
        readme_blocks.write_block(readme_blocks.EXPERIMENTS_README, "bench_tabular-messages",
                                  f"{head}\n\n{body}")
        print("wrote the block bench_tabular-messages of experiments/README.md")
        if maxent_results:
            readme_blocks.write_block(readme_blocks.EXPERIMENTS_README, "bench_tabular-maxent",
                                      f"{head}\n\n{maxent_table(maxent_results, results)}")
            print("wrote the block bench_tabular-maxent of experiments/README.md")


if __name__ == "__main__":
    main()
