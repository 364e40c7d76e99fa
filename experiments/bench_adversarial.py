"""Benchmark: GAIL, AIRL, BC and IQ-Learn from 1 and 10 demos on CartPole-v1 and Pendulum-v1, beside `imitation`.

Each run fits one method to the first n episodes (``--demos``, default 1 and 10) of a shipped demo file
(``demos/cartpole-pg-expert.npz``, ``demos/pendulum-sac-expert.npz``; both made with ``irl train`` +
``irl demos generate --policy``, see demos/README.md) with one CPU thread, default settings otherwise:

- GAIL and AIRL: CartPole-v1 with the PPO generator (``--generator pg``), Pendulum-v1 with SAC
  (:class:`irl.inverse.adversarial.fit.AdversarialConfig`); budget 50,000 env steps on CartPole, 20,000
  on Pendulum (both pass 0.9 by about 10,000).
- BC (:class:`irl.inverse.bc.BCConfig`): at most 5,000 gradient steps, early stopping on held-out
  episodes (none held out from a single demo).
- IQ-Learn (:class:`irl.inverse.iq_learn.config.IQLearnConfig`): ``iq-learn`` offline (demos only;
  5,000 gradient steps on CartPole, 10,000 on Pendulum) and ``iq-learn-online`` (20,000 env steps).
- Normalised return ``(R − R_random) / (R_demos − R_random)``: ``R_demos`` is the mean return of the
  n demo episodes, ``R_random`` a uniform policy's over 10 episodes.
- Every ``EVAL_EVERY`` env steps (online methods: GAIL, AIRL, online IQ-Learn) or gradient steps
  (offline: BC, offline IQ-Learn) the live policy is evaluated deterministically on 10 episodes (env
  seeds 1000..1009, the env's reward), as the `imitation` side is; evaluation time is excluded from
  the wall times.
- *To 0.9*: the first evaluation that reaches 0.9 normalised: its env steps (0 for the offline
  methods, which never act in the env), its gradient steps (*updates*; BC and IQ-Learn) and the fit's
  wall time then. *Lowest after*: the lowest later evaluation (a collapse shows here).
- *Final*: the final policy over 10 evaluation episodes (``irl fit``'s eval_return).
- *Transfer* (AIRL, Pendulum): SAC from scratch for ``--transfer-steps`` on the recovered ``g(s)``
  alone, scored on the env's reward (``irl fit --transfer``).

Each run is its own subprocess (``--worker``); ``--jobs`` of them run at once. A run that fails is a
row with its error.

`imitation` is never a dependency of irl. To put GAIL and AIRL side by side with it (10 demos), give
the python of a throwaway venv that has it; :file:`irl/compare/peers/imitation_adversarial.py` runs
there, with imitation's own example settings:

    python -m venv /tmp/imit && /tmp/imit/bin/pip install torch==2.13.0 imitation
    python experiments/bench_adversarial.py --imitation-python /tmp/imit/bin/python

Its runs take half an hour; ``--imitation-rows FILE.json`` takes them from an earlier run's ``--out``.

Usage:
    python experiments/bench_adversarial.py [--envs CartPole-v1 Pendulum-v1] [--methods gail airl bc ...]
        [--demos 1 10] [--seeds 0 1 2] [--steps Pendulum-v1:iq-learn=10000 ...] [--jobs 2]
        [--transfer-steps 20000] [--imitation-python PATH | --imitation-rows FILE.json] [--cache DIR]
        [--imitation-steps CartPole-v1=200000 ...] [--imitation-generators ppo sac] [--out results.json]
        [--write-readme]

``--write-readme`` writes the table into the block ``bench_adversarial`` of experiments/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
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
    "CartPole-v1": {"demos": "demos/cartpole-pg-expert.npz", "generator": "pg"},
    "Pendulum-v1": {"demos": "demos/pendulum-sac-expert.npz", "generator": "sac"},
}
METHODS = ("gail", "airl", "bc", "iq-learn", "iq-learn-online")
ONLINE = ("gail", "airl", "iq-learn-online")  # these act in the env; bc and offline iq-learn learn from demos alone
#: the default budget of each method: env steps (online) or gradient steps (offline)
STEPS = {("CartPole-v1", "gail"): 50_000, ("CartPole-v1", "airl"): 50_000, ("Pendulum-v1", "gail"): 20_000,
         ("Pendulum-v1", "airl"): 20_000, ("CartPole-v1", "bc"): 5000, ("Pendulum-v1", "bc"): 5000,
         ("CartPole-v1", "iq-learn"): 5000, ("Pendulum-v1", "iq-learn"): 10_000,
         ("CartPole-v1", "iq-learn-online"): 20_000, ("Pendulum-v1", "iq-learn-online"): 20_000}
#: evaluate every so many env steps (online methods) or gradient steps (offline ones)
EVAL_EVERY = {("CartPole-v1", "online"): 5000, ("Pendulum-v1", "online"): 2000,
              ("CartPole-v1", "offline"): 500, ("Pendulum-v1", "offline"): 2000}
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


def _fit_with_evaluations(spec: dict, demos) -> tuple[object, list, float]:
    """Fits ``spec["method"]`` to ``demos``, evaluating the live policy on the way; returns the result, the
    evaluations ``(env steps, updates, fit seconds without evaluations, mean return)`` and the evaluation seconds.

    The policy is caught as the fit makes it (the adversarial generator, IQ-Learn's soft Q-model, BC's policy),
    so that the callback can act with it; evaluation time is excluded from the fit's seconds."""
    import importlib

    import irl.inverse.adversarial.fit as adversarial
    import irl.inverse.bc as bc
    from irl.inverse.common import EnvTask
    from irl.inverse.iq_learn.config import IQLearnConfig
    from irl.solvers.policies import evaluate_policy

    iq_fit = importlib.import_module("irl.inverse.iq_learn.fit")  # the package's `fit` attribute is the function
    env, method, steps = spec["env"], spec["method"], spec["steps"]
    caught: list = []  # the object whose .policy acts (adversarial, IQ-Learn) or the policy itself (BC)
    if method in ("gail", "airl"):
        cfg = adversarial.AdversarialConfig(method=method, generator=TASKS[env]["generator"], steps=steps,
                                            seed=spec["seed"])
        module, name, fit = adversarial, "_generator", adversarial.fit
    elif method.startswith("iq-learn"):
        cfg = IQLearnConfig(online=method == "iq-learn-online", steps=steps, seed=spec["seed"])
        module, name, fit = iq_fit, "make_soft_q", iq_fit.fit
    else:
        cfg = bc.BCConfig(steps=steps, seed=spec["seed"], validation_fraction=0.1 if len(demos.episode_starts) > 1
                          else 0.0)
        module, name, fit = bc, "_make_policy", bc.fit
    make = getattr(module, name)
    setattr(module, name, lambda *args, **kwargs: caught.append(make(*args, **kwargs)) or caught[-1])
    every = EVAL_EVERY[(env, "online" if method in ONLINE else "offline")]
    evaluations, eval_seconds, start = [], 0.0, time.perf_counter()

    def evaluate(entry: dict) -> None:
        nonlocal eval_seconds
        env_steps = entry.get("env_steps", 0) if method in ONLINE else 0
        count = env_steps if method in ONLINE else entry["iteration"]  # what the evaluations are spaced by
        last = (evaluations[-1][0] if method in ONLINE else evaluations[-1][1]) if evaluations else 0
        if count // every > last // every:
            t0 = time.perf_counter()
            actor = caught[0][0] if method == "bc" else caught[0].policy
            value = evaluate_policy(env, actor, episodes=10, seed=EVAL_SEED)
            updates = entry.get("updates", entry["iteration"]) if method not in ("gail", "airl") else None
            evaluations.append((env_steps, updates, t0 - start - eval_seconds, value))
            eval_seconds += time.perf_counter() - t0

    try:
        result = fit(EnvTask(env, {}), demos, config=cfg, callback=evaluate)
    finally:
        setattr(module, name, make)
    return result, evaluations, eval_seconds


def worker(spec: dict) -> dict:
    """One fit of ours (runs in its own process); returns the row's numbers."""
    import torch

    from irl.data import load_demos
    from irl.runs.sampled import normalised, return_metrics, transfer_metrics

    torch.set_num_threads(1)
    env = spec["env"]
    demos = load_demos(ROOT / TASKS[env]["demos"]).take(spec["demos"])
    result, evaluations, eval_seconds = _fit_with_evaluations(spec, demos)
    returns = return_metrics(env, {}, demos, result.policy, seed=spec["seed"], episodes=10)
    r_random, r_demos = returns["random_return"], returns["demos_return"]
    points = [(s, t, normalised(r, r_random, r_demos)) for s, _, t, r in evaluations]
    updates_to = threshold_summary([(u, t, normalised(r, r_random, r_demos)) for _, u, t, r in evaluations])["steps_to"]
    row = {**spec, "lib": "irl", "seconds": result.seconds - eval_seconds, "final": returns["normalised_return"],
           "final_return": returns["eval_return"], "random_return": r_random, "demos_return": r_demos,
           **threshold_summary(points), "updates_to": updates_to if spec["method"] not in ("gail", "airl") else None,
           "curve": points}
    if spec["method"] == "airl" and spec["transfer_steps"]:
        row["transfer"] = transfer_metrics(env, {}, result.reward_model, returns, steps=spec["transfer_steps"],
                                           seed=spec["seed"], episodes=10, progress=False
                                           )["transfer_normalised_return"]
    return row


def imitation_run(python: str, spec: dict) -> dict:
    """One run of imitation's trainer in its venv, reduced to the same numbers; ``{"error": ...}`` on failure."""
    cmd = [python, str(ROOT / "irl" / "compare" / "peers" / "imitation_adversarial.py"), "--env", spec["env"],
           "--demos", str(ROOT / TASKS[spec["env"]]["demos"]), "--episodes", str(spec["demos"]), "--method", spec["method"],
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


def run_ours(spec: dict, cache: Path | None = None) -> dict:
    """One of our runs in a subprocess; a run that fails becomes a row with its error's last line. With a
    ``cache`` folder a finished run's row is kept there, and a rerun of the same spec reads it back."""
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    if cache is not None and (cache / f"{key}.json").exists():
        return json.loads((cache / f"{key}.json").read_text())
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True)
    if proc.returncode != 0:
        error = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"  irl {spec['env']} {spec['demos']} demos {spec['method']} seed {spec['seed']}: FAILED: {error}",
              file=sys.stderr)
        return {**spec, "lib": "irl", "error": error}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  irl {row['env']} {row['demos']} demos {row['method']} seed {row['seed']}: final {row['final']:.2f}, "
          f"to 0.9 at {row['steps_to']} env steps, {row['updates_to']} updates", file=sys.stderr)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        (cache / f"{key}.tmp").write_text(json.dumps(row))
        (cache / f"{key}.tmp").replace(cache / f"{key}.json")
    return row


# ------------------------------------------------------------------------------------- tables
def _median(values: list, missing: str | None = None) -> str:
    """The median of the values that are there, with how many runs had one when not all did, e.g.
    ``12.3 (2/3)``; ``missing`` (default ``never (0/n)``) when none did."""
    got = [v for v in values if v is not None]
    if not got:
        return missing or f"never (0/{len(values)})"
    med = statistics.median(got)
    text = f"{med:,.0f}" if abs(med) >= 100 or med == int(med) and all(isinstance(v, int) for v in got) else f"{med:.2f}" if abs(med) < 10 else f"{med:.1f}"
    return text if len(got) == len(values) else f"{text} ({len(got)}/{len(values)})"


def _budget(row: dict) -> str:
    if row["lib"] == "imitation":
        return f"{row['steps_run']:,} env steps"
    return f"{row['steps']:,} " + ("env steps" if row["method"] in ONLINE else "updates")


def table(rows: list[dict]) -> str:
    transfers = any(r.get("transfer") is not None for r in rows)  # the column only when some run had one
    head = ["library", "env", "demos", "method", "generator / data", "seeds", "budget", "env steps to 0.9",
            "updates to 0.9", "seconds to 0.9", "lowest after", "final normalised (each seed)",
            *(["AIRL transfer (each seed)"] if transfers else []), "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        kind = row["generator"] if row["method"] in ("gail", "airl") else \
            "demos + env" if row["method"] in ONLINE else "demos only"
        groups.setdefault((row["lib"], row["env"], row.get("demos", 10), row["method"], kind), []).append(row)
    for (lib, env, n_demos, method, kind), group in groups.items():
        ok = [r for r in group if "error" not in r]
        if not ok:
            lines.append(f"| {lib} | {env} | {n_demos} | {method} | {kind} | {len(group)} | failed: {group[0]['error']} |"
                         + " |" * (len(head) - 7))
            continue
        finals = ", ".join(f"{r['final']:.2f}" for r in ok)
        transfer = ", ".join(f"{r['transfer']:.2f}" for r in ok if r.get("transfer") is not None) or "—"
        updates = _median([r["updates_to"] for r in ok]) if method not in ("gail", "airl") else "—"
        lines.append(f"| {lib} | {env} | {n_demos} | {method} | {kind} | {len(ok)} | {_budget(ok[0])}"
                     f" | {_median([r['steps_to'] for r in ok])} | {updates} | {_median([r['seconds_to'] for r in ok])}"
                     f" | {_median([r['lowest_after'] for r in ok], '—')} | {finals}{f' | {transfer}' if transfers else ''}"
                     f" | {_median([r['seconds'] for r in ok])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--demos", nargs="+", type=int, default=[1, 10], help="demo episodes per fit (the first n)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", nargs="+", default=[], metavar="ENV:METHOD=N",
                        help="budgets other than the defaults: env steps (online methods) or gradient steps "
                             "(offline), e.g. Pendulum-v1:iq-learn=10000")
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
    parser.add_argument("--imitation-rows", default=None, metavar="FILE.json",
                        help="take imitation's rows from an earlier run's --out file instead of running them")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="keep each finished run's row here; a rerun skips the runs already there")
    parser.add_argument("--out", default=None, help="also write every run's numbers to this JSON file")
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    run = readme_blocks.Run()
    steps = dict(STEPS)
    for item in args.steps:
        key, _, n = item.partition("=")
        env, _, method = key.partition(":")
        if (env, method) not in steps or not n.isdigit():
            parser.error(f"--steps {item}: expected ENV:METHOD=N with ENV in {list(TASKS)}, METHOD in {list(METHODS)}")
        steps[(env, method)] = int(n)
    specs = [{"env": env, "demos": n_demos, "method": method, "seed": seed, "generator": TASKS[env]["generator"],
              "steps": steps[(env, method)], "transfer_steps": args.transfer_steps if env == "Pendulum-v1" else 0}
             for env in args.envs for n_demos in args.demos for method in args.methods for seed in args.seeds]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(lambda spec: run_ours(spec, args.cache), specs))
    if args.imitation_rows:
        rows += [r for r in json.loads(Path(args.imitation_rows).read_text())
                 if r["lib"] == "imitation" and r["env"] in args.envs and r["method"] in args.methods]
    elif args.imitation_python:
        imitation_steps = dict(IMITATION_STEPS)
        for item in args.imitation_steps:
            env, _, n = item.partition("=")
            imitation_steps[env] = int(n)
        base = {(r["env"], r["seed"]): r for r in rows if r["demos"] == 10 and "error" not in r}
        imit = [{"env": env, "demos": 10, "method": method, "seed": seed, "generator": gen,
                 "steps": IMITATION_SAC_STEPS if gen == "sac" else imitation_steps[env],
                 "random_return": base[(env, args.seeds[0])]["random_return"],
                 "demos_return": base[(env, args.seeds[0])]["demos_return"]}
                for env in args.envs for gen in args.imitation_generators for method in args.methods
                if method in ("gail", "airl")
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
