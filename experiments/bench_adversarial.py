"""Benchmark: GAIL and AIRL from 10 demos on CartPole-v1 and Pendulum-v1, side by side with `imitation`.

Each run fits one method to the first 10 episodes of a shipped demo file (the CartPole file is
``demos/cartpole-pg-expert.npz``, the Pendulum file ``demos/pendulum-sac-expert.npz``; both were made
with ``irl train`` + ``irl demos generate --policy``, see demos/README.md) with one CPU thread:

- CartPole-v1 with the PPO generator (``--generator pg``), Pendulum-v1 with SAC; default settings
  otherwise (:class:`irl.inverse.adversarial.fit.AdversarialConfig`).
- Normalised return ``(R − R_random) / (R_demos − R_random)``: ``R_demos`` is the mean return of the
  10 demo episodes, ``R_random`` a uniform policy's over 10 episodes.
- Every ``EVAL_EVERY`` env steps (at the end of the round that reaches them) the generator's policy
  is evaluated deterministically on 10 episodes (env seeds 1000..1009, the env's reward), as the
  `imitation` side is; evaluation time is excluded from the wall times.
- *To 0.9*: the first evaluation that reaches 0.9 normalised; its env steps and the fit's wall
  time then. *Lowest after*: the lowest later evaluation (a collapse shows here).
- *Final*: the final policy over 10 evaluation episodes (``irl fit``'s eval_return).
- *Transfer* (AIRL, Pendulum): SAC from scratch for ``--transfer-steps`` on the recovered ``g(s)``
  alone, scored on the env's reward (``irl fit --transfer``).

Each run is its own subprocess (``--worker``); ``--jobs`` of them run at once.

`imitation` is never a dependency of irl. To put it side by side, give the python of a throwaway
venv that has it; :file:`irl/compare/peers/imitation_adversarial.py` runs there, with imitation's own
example settings:

    python -m venv /tmp/imit && /tmp/imit/bin/pip install torch==2.13.0 imitation
    python experiments/bench_adversarial.py --imitation-python /tmp/imit/bin/python

Usage:
    python experiments/bench_adversarial.py [--envs CartPole-v1 Pendulum-v1] [--methods gail airl]
        [--seeds 0 1 2] [--steps N] [--jobs 2] [--transfer-steps 20000] [--imitation-python PATH]
        [--imitation-steps CartPole-v1=200000 ...] [--imitation-generators ppo sac] [--out results.json]
        [--write-readme]

``--write-readme`` writes the tables into the block ``bench_adversarial`` of experiments/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import readme_blocks

ROOT = Path(__file__).resolve().parent.parent
TASKS = {
    "CartPole-v1": {"demos": "demos/cartpole-pg-expert.npz", "generator": "pg", "steps": 50_000},
    "Pendulum-v1": {"demos": "demos/pendulum-sac-expert.npz", "generator": "sac", "steps": 50_000},
}
N_DEMOS = 10
EVAL_EVERY = {"CartPole-v1": 5000, "Pendulum-v1": 2000}
EVAL_SEED = 1000
THRESHOLD = 0.9
IMITATION_STEPS = {"CartPole-v1": 200_000, "Pendulum-v1": 300_000}
IMITATION_SAC_STEPS = 50_000


# ------------------------------------------------------------------------------------- one run
def threshold_summary(points: list) -> dict:
    """From ``(env steps, seconds, normalised return)`` evaluations: where the first reaches ``THRESHOLD``
    (``steps_to``, ``seconds_to``; None if none does) and the lowest evaluation after it (``lowest_after``)."""
    hit = next((i for i, p in enumerate(points) if p[2] >= THRESHOLD), None)
    if hit is None:
        return {"steps_to": None, "seconds_to": None, "lowest_after": None}
    later = [p[2] for p in points[hit + 1:]]
    return {"steps_to": points[hit][0], "seconds_to": points[hit][1], "lowest_after": min(later) if later else None}


def worker(spec: dict) -> dict:
    """One fit of ours (runs in its own process); returns the row's numbers."""
    import torch

    import irl.inverse.adversarial.fit as adversarial
    from irl.data import load_demos
    from irl.inverse.common import EnvTask
    from irl.runs.sampled import normalised, return_metrics, transfer_metrics
    from irl.solvers.policies import evaluate_policy

    torch.set_num_threads(1)
    env, task = spec["env"], TASKS[spec["env"]]
    demos = load_demos(ROOT / task["demos"]).take(N_DEMOS)
    cfg = adversarial.AdversarialConfig(method=spec["method"], generator=task["generator"], steps=spec["steps"],
                                        seed=spec["seed"])
    agents = []  # the generator, caught as the fit makes it, so that the callback can evaluate its policy
    make_generator = adversarial._generator
    adversarial._generator = lambda *args: agents.append(make_generator(*args)) or agents[-1]
    evaluations, eval_seconds = [], 0.0  # (env steps, fit seconds without evaluations, mean return)

    def evaluate(entry: dict) -> None:
        nonlocal eval_seconds
        if entry["env_steps"] // EVAL_EVERY[env] > (evaluations[-1][0] if evaluations else 0) // EVAL_EVERY[env]:
            start = time.perf_counter()
            value = evaluate_policy(env, agents[0].policy, episodes=10, seed=EVAL_SEED)
            evaluations.append((entry["env_steps"], entry["seconds"] - eval_seconds, value))
            eval_seconds += time.perf_counter() - start

    result = adversarial.fit(EnvTask(env, {}), demos, config=cfg, callback=evaluate)
    returns = return_metrics(env, {}, demos, result.policy, seed=spec["seed"], episodes=10)
    r_random, r_demos = returns["random_return"], returns["demos_return"]
    points = [(s, t, normalised(r, r_random, r_demos)) for s, t, r in evaluations]
    row = {**spec, "lib": "irl", "seconds": result.seconds - eval_seconds, "final": returns["normalised_return"],
           "final_return": returns["eval_return"], "random_return": r_random, "demos_return": r_demos,
           **threshold_summary(points),
           "curve": points}
    if spec["method"] == "airl" and spec["transfer_steps"]:
        row["transfer"] = transfer_metrics(env, {}, result.reward_model, returns, steps=spec["transfer_steps"],
                                           seed=spec["seed"], episodes=10, progress=False
                                           )["transfer_normalised_return"]
    return row


def imitation_run(python: str, spec: dict) -> dict:
    """One run of imitation's trainer in its venv, reduced to the same numbers; ``{"error": ...}`` on failure."""
    cmd = [python, str(ROOT / "irl" / "compare" / "peers" / "imitation_adversarial.py"), "--env", spec["env"],
           "--demos", str(ROOT / TASKS[spec["env"]]["demos"]), "--episodes", str(N_DEMOS), "--method", spec["method"],
           "--generator", spec["generator"], "--steps", str(spec["steps"]), "--seed", str(spec["seed"])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        out = {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    if "error" in out:
        return {**spec, "lib": "imitation", "error": out["error"]}
    r_random, r_demos = spec["random_return"], spec["demos_return"]
    norm = [(s, t, (r - r_random) / (r_demos - r_random)) for s, t, r in out["curve"]]
    return {**spec, "lib": "imitation", "seconds": out["seconds"], "steps_run": out["steps"],
            "final": (out["final_return"] - r_random) / (r_demos - r_random), "final_return": out["final_return"],
            **threshold_summary(norm),
            "version": out.get("imitation_version")}


def run_ours(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench_adversarial: the run {spec} failed: "
                         f"{(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {row['lib']} {row['env']} {row['method']} seed {row['seed']}: final {row['final']:.2f}, "
          f"to 0.9 at {row['steps_to']} steps", file=sys.stderr)
    return row


# ------------------------------------------------------------------------------------- tables
def _median(values: list, missing: str | None = None) -> str:
    """The median of the values that are there, with how many runs had one when not all did, e.g.
    ``12.3 (2/3)``; ``missing`` (default ``never (0/n)``) when none did."""
    got = [v for v in values if v is not None]
    if not got:
        return missing or f"never (0/{len(values)})"
    med = statistics.median(got)
    text = f"{med:,.0f}" if abs(med) >= 100 else f"{med:.2f}" if abs(med) < 10 else f"{med:.1f}"
    return text if len(got) == len(values) else f"{text} ({len(got)}/{len(values)})"


def table(rows: list[dict]) -> str:
    head = ["library", "env", "method", "generator", "seeds", "env steps", "env steps to 0.9", "seconds to 0.9",
            "lowest after", "final normalised (each seed)", "AIRL transfer (each seed)", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["lib"], row["env"], row["method"], row["generator"]), []).append(row)
    for (lib, env, method, generator), group in groups.items():
        ok = [r for r in group if "error" not in r]
        if not ok:
            lines.append(f"| {lib} | {env} | {method} | {generator} | {len(group)} | failed: {group[0]['error']} |"
                         + " |" * (len(head) - 6))
            continue
        finals = ", ".join(f"{r['final']:.2f}" for r in ok)
        transfer = ", ".join(f"{r['transfer']:.2f}" for r in ok if r.get("transfer") is not None) or "—"
        lines.append(f"| {lib} | {env} | {method} | {generator} | {len(ok)} | {ok[0].get('steps_run', ok[0]['steps']):,}"
                     f" | {_median([r['steps_to'] for r in ok])} | {_median([r['seconds_to'] for r in ok])}"
                     f" | {_median([r['lowest_after'] for r in ok], '—')} | {finals} | {transfer}"
                     f" | {_median([r['seconds'] for r in ok])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--methods", nargs="+", default=["gail", "airl"], choices=["gail", "airl"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="env steps per run (default: 50,000)")
    parser.add_argument("--transfer-steps", type=int, default=20_000,
                        help="SAC steps on AIRL's recovered reward, Pendulum only (0: none)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (each on one thread)")
    parser.add_argument("--imitation-python", default=None, help="python of a venv with imitation installed")
    parser.add_argument("--imitation-generators", nargs="+", default=["ppo", "sac"], choices=["ppo", "sac"])
    parser.add_argument("--imitation-seeds", nargs="+", type=int, default=None,
                        help="seeds of the imitation runs (default: --seeds)")
    parser.add_argument("--imitation-steps", nargs="+", default=[], metavar="ENV=STEPS",
                        help=f"env steps of imitation's PPO runs (default {IMITATION_STEPS}; SAC: "
                             f"{IMITATION_SAC_STEPS:,})")
    parser.add_argument("--out", default=None, help="also write every run's numbers to this JSON file")
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    run = readme_blocks.Run()
    specs = [{"env": env, "method": method, "seed": seed, "generator": TASKS[env]["generator"],
              "steps": args.steps or TASKS[env]["steps"],
              "transfer_steps": args.transfer_steps if env == "Pendulum-v1" else 0}
             for env in args.envs for method in args.methods for seed in args.seeds]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(run_ours, specs))
    if args.imitation_python:
        steps = dict(IMITATION_STEPS)
        for item in args.imitation_steps:
            env, _, n = item.partition("=")
            steps[env] = int(n)
        base = {(r["env"], r["seed"]): r for r in rows}
        imit = [{"env": env, "method": method, "seed": seed, "generator": gen,
                 "steps": IMITATION_SAC_STEPS if gen == "sac" else steps[env],
                 "random_return": base[(env, args.seeds[0])]["random_return"],
                 "demos_return": base[(env, args.seeds[0])]["demos_return"]}
                for env in args.envs for gen in args.imitation_generators for method in args.methods
                for seed in (args.imitation_seeds or args.seeds)
                if not (gen == "sac" and env == "CartPole-v1")]  # SB3's SAC takes Box actions only
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            rows += list(pool.map(lambda s: imitation_run(args.imitation_python, s), imit))
    body = table(rows)
    print(body)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    if args.write_readme:
        readme_blocks.write_block(readme_blocks.EXPERIMENTS_README, "bench_adversarial",
                                  f"{run.header(torch_threads=1, busy=args.jobs)}\n\n{body}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
