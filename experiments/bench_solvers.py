"""Benchmark: our SAC against Stable-Baselines3's on Pendulum-v1, side by side; our PPO on 1, 4 and 8 envs.

Each run trains for ``--steps`` env steps (default 10,000) with one CPU thread and
then evaluates the deterministic policy on 10 episodes (env seeds 1000..1009, the
env's reward), both libraries through the same evaluation loop. Both use the same
hyperparameters: batch 256, Adam 3e-4, γ 0.99, τ 0.005, one gradient step per env
step after 1,000 random steps, α tuned from 1 towards entropy -|A|, for each network
width in ``--archs`` (64x64 is our default; 256x256 is SB3's and the paper's).

Every run is its own subprocess (``--worker``), and the libraries alternate run by
run, so that a change in machine load hits both alike. The table gives medians over
seeds, the steps per second of training (wall clock and process CPU time; the CPU
figure is the steadier one on a shared machine) and the load average seen.

PPO (``irl.solvers.policy_gradient`` with its defaults: rollouts of 256 env steps over all envs,
4 epochs of minibatches of 64) trains for ``--ppo-steps`` env steps on each env of ``--ppo-envs``
with each number of envs in ``--n-envs`` (``gymnasium.vector``, "sync": the envs step in turn in
one process; ``--vector async`` adds a worker process per env), one torch thread, each run its
own subprocess; the table gives its env steps per second (wall and CPU of the main process) and
the deterministic evaluation return (10 episodes).

Stable-Baselines3 is never a dependency of irl (it is the ``bench`` extra):

    pip install -e '.[bench]'      # or: pip install stable-baselines3
    python experiments/bench_solvers.py [--solvers sac ppo] [--steps 10000] [--seeds 0 1 2]
        [--archs 64 256] [--libs ours sb3] [--device cpu|cuda] [--ppo-steps 20000]
        [--ppo-envs CartPole-v1 Pendulum-v1] [--n-envs 1 4 8] [--vector sync async]
        [--out results.json] [--write-readme]

``--write-readme`` writes the tables into the block ``bench_solvers`` of experiments/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import readme_blocks

ENV_ID = "Pendulum-v1"
EVAL_SEED = 1000
EVAL_EPISODES = 10
SHARED = {"batch_size": 256, "learning_rate": 3e-4, "gamma": 0.99, "tau": 0.005, "learning_starts": 1000}


# ------------------------------------------------------------------------------------ workers
def run_ours(steps: int, arch: int, seed: int, device: str) -> tuple[object, float, float]:
    from irl.solvers import sac

    config = sac.SACConfig(total_steps=steps, hidden=(arch, arch), batch_size=SHARED["batch_size"],
                           actor_lr=SHARED["learning_rate"], critic_lr=SHARED["learning_rate"],
                           temperature_lr=SHARED["learning_rate"], gamma=SHARED["gamma"], tau=SHARED["tau"],
                           learning_starts=SHARED["learning_starts"], eval_episodes=0, device=device)
    wall, cpu = time.perf_counter(), time.process_time()
    result = sac.train(ENV_ID, config=config, seed=seed)
    return result.policy, time.perf_counter() - wall, time.process_time() - cpu


def run_sb3(steps: int, arch: int, seed: int, device: str) -> tuple[object, float, float]:
    from stable_baselines3 import SAC
    from stable_baselines3.common.logger import Logger

    model = SAC("MlpPolicy", ENV_ID, seed=seed, device=device, buffer_size=1_000_000, train_freq=1,
                gradient_steps=1, ent_coef="auto", target_entropy="auto", policy_kwargs={"net_arch": [arch, arch]},
                **SHARED)
    model.set_logger(Logger(folder=None, output_formats=[]))  # SB3's default makes an empty /tmp/SB3-<time> per run
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps)
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu

    class Policy:  # the evaluation loop's interface
        def act(self, obs, deterministic=False):
            return model.predict(obs, deterministic=deterministic)[0]

    return Policy(), seconds, cpu_seconds


def run_ppo(spec: dict) -> dict:
    from irl.solvers import evaluate_policy
    from irl.solvers import policy_gradient as pg

    wall, cpu = time.perf_counter(), time.process_time()
    result = pg.train(spec["env"], total_steps=spec["steps"], n_envs=spec["n_envs"], vector_env=spec["vector"],
                      seed=spec["seed"], eval_episodes=0)
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    eval_return = evaluate_policy(spec["env"], result.policy, episodes=EVAL_EPISODES, seed=EVAL_SEED)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "steps_per_second": result.steps / seconds,
            "cpu_steps_per_second": result.steps / cpu_seconds, "eval_return": eval_return, "steps": result.steps}


def worker(spec: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from irl.solvers import evaluate_policy

    if spec["solver"] == "ppo":
        load_before = os.getloadavg()[0]
        out = run_ppo(spec)
        return {**spec, **out, "load": (load_before + os.getloadavg()[0]) / 2, "version": f"torch {torch.__version__}"}

    if spec["lib"] == "sb3":
        import stable_baselines3

        version = f"Stable-Baselines3 {stable_baselines3.__version__}"
    else:
        version = f"torch {torch.__version__}"
    load_before = os.getloadavg()[0]
    run = run_ours if spec["lib"] == "ours" else run_sb3
    policy, seconds, cpu_seconds = run(spec["steps"], spec["arch"], spec["seed"], spec["device"])
    eval_return = evaluate_policy(ENV_ID, policy, episodes=EVAL_EPISODES, seed=EVAL_SEED)
    return {**spec, "seconds": seconds, "cpu_seconds": cpu_seconds, "steps_per_second": spec["steps"] / seconds,
            "cpu_steps_per_second": spec["steps"] / cpu_seconds, "eval_return": eval_return,
            "load": (load_before + os.getloadavg()[0]) / 2, "version": version}


# ------------------------------------------------------------------------------------- driver
def launch(spec: dict) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: list[dict], device: str) -> str:
    rows = [("| library | net | steps/s (wall) | steps/s (CPU) | × SB3 (wall / CPU) | eval return: median (min) "
             "| runs | load avg |"),
            "|---|---|---|---|---|---|---|---|"]
    by_key: dict[tuple[str, int], list[dict]] = {}
    for r in results:
        by_key.setdefault((r["lib"], r["arch"]), []).append(r)
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("steps_per_second", "cpu_steps_per_second",
                                                                "eval_return", "load")}
           for k, v in by_key.items()}
    for (lib, arch), m in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0] != "ours")):
        runs = by_key[(lib, arch)]
        base = med.get(("sb3", arch))
        ratio = (f"{m['steps_per_second'] / base['steps_per_second']:.2f} / "
                 f"{m['cpu_steps_per_second'] / base['cpu_steps_per_second']:.2f}") if base and lib != "sb3" else "1"
        name = "irl (ours)" if lib == "ours" else "Stable-Baselines3"
        rows.append(f"| {name} | {arch}x{arch} | {m['steps_per_second']:.0f} | {m['cpu_steps_per_second']:.0f} | "
                    f"{ratio} | {m['eval_return']:.0f} ({min(r['eval_return'] for r in runs):.0f}) | {len(runs)} | "
                    f"{m['load']:.1f} |")
    versions = sorted({r["version"] for r in results})
    return "\n".join(rows) + (f"\n\n{ENV_ID}, {results[0]['steps']:,} env steps per run, device {device}, one torch "
                              f"thread; medians over seeds; {', '.join(versions)}.")


def ppo_table(results: list[dict]) -> str:
    rows = ["| env | envs | vector | steps/s (wall) | steps/s (CPU) | × 1 env (wall) | eval return: median (min) "
            "| runs | load avg |",
            "|---|---|---|---|---|---|---|---|---|"]
    by_key: dict[tuple[str, int, str], list[dict]] = {}
    for r in results:
        by_key.setdefault((r["env"], r["n_envs"], r["vector"]), []).append(r)
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("steps_per_second", "cpu_steps_per_second",
                                                                "eval_return", "load")}
           for k, v in by_key.items()}
    for (env, n, vector), m in sorted(med.items(), key=lambda kv: (kv[0][0], kv[0][1] > 1, kv[0][2], kv[0][1])):
        one = med.get((env, 1, vector)) or med.get((env, 1, "sync"))
        ratio = f"{m['steps_per_second'] / one['steps_per_second']:.2f}" if one else "–"
        rows.append(f"| {env} | {n} | {vector if n > 1 else '–'} | {m['steps_per_second']:.0f} | "
                    f"{m['cpu_steps_per_second']:.0f} | {ratio} | {m['eval_return']:.0f} "
                    f"({min(r['eval_return'] for r in by_key[(env, n, vector)]):.0f}) | "
                    f"{len(by_key[(env, n, vector)])} | {m['load']:.1f} |")
    return "\n".join(rows) + (f"\n\nPPO (irl.solvers.policy_gradient, default settings), {results[0]['steps']:,} "
                              f"env steps per run, one torch thread, {os.cpu_count()} CPU cores; CPU steps/s count "
                              f"the main process only (async workers run apart); medians over seeds.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--solvers", nargs="+", default=["sac", "ppo"], choices=["sac", "ppo"])
    parser.add_argument("--steps", type=int, default=10_000, help="SAC: env steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--archs", type=int, nargs="+", default=[64, 256], help="hidden width of both layers")
    parser.add_argument("--libs", nargs="+", default=["ours", "sb3"], choices=["ours", "sb3"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--ppo-steps", type=int, default=20_000, help="PPO: env steps per run")
    parser.add_argument("--ppo-envs", nargs="+", default=["CartPole-v1", "Pendulum-v1"], help="PPO: env ids")
    parser.add_argument("--n-envs", type=int, nargs="+", default=[1, 4, 8], help="PPO: numbers of envs")
    parser.add_argument("--vector", nargs="+", default=["sync"], choices=["sync", "async"],
                        help="PPO: how several envs step")
    parser.add_argument("--ppo-seeds", type=int, nargs="+", default=[0], help="PPO: seeds")
    parser.add_argument("--out", default=None, help="also write every run as JSON here")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the table into its generated block of experiments/README.md")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if "sac" in args.solvers and "sb3" in args.libs:
        try:
            import stable_baselines3  # noqa: F401
        except ImportError:
            parser.error("Stable-Baselines3 is not installed: pip install stable-baselines3 (or --libs ours)")
    run = readme_blocks.Run()
    results: list[dict] = []

    def record(r: dict, label: str) -> None:
        results.append(r)
        print(f"{label}: {r['steps_per_second']:.0f} steps/s wall, {r['cpu_steps_per_second']:.0f} CPU, "
              f"eval {r['eval_return']:.0f}, load {r['load']:.1f}", file=sys.stderr, flush=True)
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(results, fh, indent=1)

    if "sac" in args.solvers:
        for arch in args.archs:
            for seed in args.seeds:
                for lib in args.libs:  # alternate, so that load changes hit both libraries
                    spec = {"solver": "sac", "lib": lib, "arch": arch, "seed": seed, "steps": args.steps,
                            "device": args.device}
                    record(launch(spec), f"{lib:>4} {arch}x{arch} seed {seed}")
    if "ppo" in args.solvers:
        for env_id in args.ppo_envs:
            for seed in args.ppo_seeds:
                for vector in args.vector:
                    for n in args.n_envs:  # one after another, so that load changes hit every count alike
                        if n == 1 and vector != args.vector[0]:
                            continue  # one env is no vector env
                        spec = {"solver": "ppo", "env": env_id, "n_envs": n, "vector": vector, "seed": seed,
                                "steps": args.ppo_steps}
                        record(launch(spec), f"ppo {env_id} {n} env(s) {vector} seed {seed}")
    sac_results = [r for r in results if r["solver"] == "sac"]
    ppo_results = [r for r in results if r["solver"] == "ppo"]
    body = "\n\n".join(([table(sac_results, args.device)] if sac_results else [])
                        + ([ppo_table(ppo_results)] if ppo_results else []))
    print(body)
    if args.write_readme:
        readme_blocks.write_block(readme_blocks.EXPERIMENTS_README, "bench_solvers",
                                  f"{run.header(torch_threads=1)}\n\n{body}")
        print("wrote the block bench_solvers of experiments/README.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
