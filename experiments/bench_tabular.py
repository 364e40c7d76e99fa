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

Usage: python experiments/bench_tabular.py [--sizes 16 32 48 64 128] [--threads 2]
           [--device cpu cuda] [--imitation-python PATH] [--maxent]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


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

    return {"seconds": time_it(step, repeats)}


def run_imitation(python: str, side: int, repeats: int) -> dict | None:
    cmd = [python, __file__, "--imitation-worker", str(side), "--repeats", str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  imitation failed on {side}x{side}: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 48, 64, 128])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", nargs="+", default=None, help="default: cpu, and cuda when present")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--imitation-python", default=None, help="python of a venv where imitation is installed")
    parser.add_argument("--imitation-max-side", type=int, default=48, help="its dense model is S*A*S floats")
    parser.add_argument("--maxent", action="store_true", help="also time a MaxEnt gradient and fit (32, 48)")
    parser.add_argument("--imitation-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.imitation_worker is not None:
        print(json.dumps(imitation_worker(args.imitation_worker, args.repeats)))
        return

    import torch

    torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"soft VI + visitation, gridworld side x side, H = 2*side, torch {torch.__version__}, threads {args.threads}")
    header = f"{'side':>5} {'states':>8} {'H':>5} {'device':>6} {'dtype':>8} {'ours (s)':>10} {'imitation (s)':>14} {'speed-up':>9}"
    print(header)
    print("-" * len(header))
    for side in args.sizes:
        imit = None
        if args.imitation_python and side <= args.imitation_max_side:
            imit = run_imitation(args.imitation_python, side, max(1, args.repeats // 2))
        for device in devices:
            for dtype in ("float64", "float32"):
                ours = bench_ours(side, dtype, device, args.repeats)
                imit_s = f"{imit['seconds']:.4f}" if imit and device == "cpu" and dtype == "float64" else "-"
                speed = f"{imit['seconds'] / ours['seconds']:.0f}x" if imit_s != "-" else "-"
                print(
                    f"{side:>5} {side * side:>8} {2 * side:>5} {device:>6} {dtype:>8} "
                    f"{ours['seconds']:>10.4f} {imit_s:>14} {speed:>9}",
                    flush=True,
                )
    if args.maxent:
        print("\nexact MaxEnt (linear reward on 4x4-cell block features, 100 demos), float64 CPU")
        for side in (32, 48):
            m = bench_ours_maxent(side, args.repeats)
            print(
                f"  {side}x{side}: gradient {m['gradient_seconds']:.4f} s, full fit {m['fit_seconds']:.2f} s "
                f"({m['fit_iterations']} iterations, converged {m['converged']})",
                flush=True,
            )


if __name__ == "__main__":
    main()
