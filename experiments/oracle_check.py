"""How good are guided cost learning's sampled gradients? Each against the exact MaxEnt gradient (issue 12, sec. 2).

Two 5x5 gridworlds (start in the top-left cell, 10 steps, the state reward ``random`` with
``reward_seed=1``): deterministic (slip 0) and stochastic (slip 0.2). The demos are 100 episodes of
the soft-optimal policy of that reward, made by the repo's generator. The gradient is taken with
respect to a reward table θ ``(25, 5)`` that is *not* the demonstrator's (``0.5 N(0, 1)``, seed
``--theta-seed``), so it is far from 0. The sampling policy q is the soft-optimal policy of θ mixed
with the uniform one (``--uniform-mix`` 0.3), as a policy one improvement behind would be.

Estimates of ``E_demo[counts] - E_model[counts]`` from J trajectories of q (all share the demo
term; :mod:`irl.inverse.gcl.oracle`):

- **GCL, weights**: self-normalised importance weights ``exp r(τ) / q(τ)``;
- **sample average**: q's samples taken as if drawn from the model (no weights);
- **GCL, demos in background**: the demos join the samples, weighed against the fused density
  ``(N P̂ + J q) / (N + J)`` with the demos' density fitted by the current reward, ``P̂ = exp r / Ẑ``
  (GAN-GCL's weights with the loss summed over the pooled batch);
- **GAN-GCL**: ``-∇θ`` of the discriminator loss ``D = exp(r)/Z / (exp(r)/Z + q)``, demos 1, samples
  0, two equally weighted expectations, at the loss-optimal ``log Z``.

GAN-GCL's discriminator weighs each trajectory's counts by ``1 - D(τ)``; here ``D ≈ ½`` on demos
and samples alike, so its estimate points the right way at about half the length (its relative
error stays near 0.5 however large J is). The demos-in-background estimate equals it when J = N and
tends to GCL's as the demos become a small part of the pool.

Exact gradients: **causal** MaxEnt (soft value iteration + visitation, what ``irl fit --algo
maxent`` optimises, start-only form) and **trajectory-level** MaxEnt (messages with optimistic
dynamics). On the deterministic task they coincide; on the stochastic one the table says which
each estimate approaches. Mean ± std over ``--seeds`` seeds of the sampler (the demos are fixed).

``--write-readme`` writes the tables into the block ``oracle_check`` of experiments/README.md.

Usage: python experiments/oracle_check.py [--samples 10 100 1000 10000] [--seeds 5] [--demos 100]
           [--theta-seed 123] [--uniform-mix 0.3] [--out FIGURE] [--write-readme]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import readme_blocks
import torch

from irl.envs import mdp_for_demos
from irl.envs.demo_counts import demo_counts
from irl.inverse.gcl import (
    Trajectories,
    causal_gradient,
    cosine,
    effective_sample_size,
    gan_gcl_gradient,
    gan_gcl_log_weights,
    gcl_gradient,
    relative_error,
    sample_average_gradient,
    sample_trajectories,
    trajectory_counts,
    trajectory_gradient,
    trajectory_log_probs,
    trajectory_log_weights,
    trajectory_returns,
)
from irl.runs.generate import generate_tabular_demos
from irl.solvers import soft_value_iteration

FIGURE = Path(__file__).parent / "figures" / "oracle_check.png"
TASKS = {"deterministic (slip 0)": 0.0, "stochastic (slip 0.2)": 0.2}
ESTIMATES = ("GCL, weights", "sample average", "GCL, demos in background", "GAN-GCL")
EXACT = ("trajectory", "causal")
COLORS = dict(zip(ESTIMATES, ["tab:blue", "tab:gray", "tab:green", "tab:red"], strict=True))


def task(slip: float, n_demos: int, theta_seed: int, uniform_mix: float) -> dict:
    """The model, demos (as trajectories and counts), θ, the sampler and both exact gradients of one gridworld."""
    kwargs = {"size": 5, "slip": slip, "reward": "random", "reward_seed": 1, "horizon": 10, "initial": "corner"}
    demos = generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kwargs, episodes=n_demos, seed=0)
    mdp = mdp_for_demos(demos)
    T, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    if not (demos.episode_lengths == T).all():
        raise RuntimeError("the gridworld's episodes all run the full horizon; these did not")
    trajs = Trajectories(torch.tensor(demos.observations.reshape(-1, T), dtype=torch.int64),
                         torch.tensor(demos.actions.reshape(-1, T), dtype=torch.int64))
    counts = demo_counts(mdp, demos).counts
    torch.testing.assert_close(counts, trajectory_counts(trajs, S, A))  # one footing for both
    theta = 0.5 * torch.randn(S, A, dtype=torch.float64, generator=torch.Generator().manual_seed(theta_seed))
    sampler = (1 - uniform_mix) * soft_value_iteration(mdp, theta).policy + uniform_mix / A
    exact = {"causal": causal_gradient(mdp, theta, counts), "trajectory": trajectory_gradient(mdp, theta, counts)}
    return {"mdp": mdp, "demos": trajs, "counts": counts, "theta": theta, "sampler": sampler, "exact": exact}


def estimates(t: dict, samples: Trajectories) -> tuple[dict[str, torch.Tensor], float]:
    """Every estimate of the gradient from ``samples``, and the effective sample size of GCL's weights."""
    theta, counts, sampler, demos = t["theta"], t["counts"], t["sampler"], t["demos"]
    log_q = trajectory_log_probs(sampler, samples)
    pool = demos.cat(samples)
    pooled = gan_gcl_log_weights(trajectory_returns(theta, pool), trajectory_log_probs(sampler, pool), len(demos),
                                 demo_share=None)
    out = {
        "GCL, weights": gcl_gradient(theta, counts, samples, log_q),
        "sample average": sample_average_gradient(counts, samples),
        "GCL, demos in background": counts - trajectory_counts(pool, *theta.shape, weights=pooled.exp()),
        "GAN-GCL": gan_gcl_gradient(theta, demos, samples, sampler),
    }
    ess = float(effective_sample_size(trajectory_log_weights(trajectory_returns(theta, samples), log_q)))
    return out, ess


def measure(t: dict, sizes: list[int], seeds: int) -> dict:
    """``scores[estimate][exact]["cosine" | "relative"]`` ``(len(sizes), seeds)`` and ESS ``(len(sizes), seeds)``."""
    scores = {e: {x: {"cosine": np.zeros((len(sizes), seeds)), "relative": np.zeros((len(sizes), seeds))}
                  for x in EXACT} for e in ESTIMATES}
    ess = np.zeros((len(sizes), seeds))
    for seed in range(seeds):
        g = torch.Generator().manual_seed(seed)
        for i, J in enumerate(sizes):
            found, ess[i, seed] = estimates(t, sample_trajectories(t["mdp"], t["sampler"], J, generator=g))
            for e, grad in found.items():
                for x in EXACT:
                    scores[e][x]["cosine"][i, seed] = cosine(grad, t["exact"][x])
                    scores[e][x]["relative"][i, seed] = relative_error(grad, t["exact"][x])
    return {"scores": scores, "ess": ess}


def pm(x: np.ndarray, digits: int = 3) -> str:
    return f"{x.mean():.{digits}f} ± {x.std():.{digits}f}"


def table(name: str, t: dict, m: dict, sizes: list[int]) -> str:
    """A markdown table of one task: per estimate and J, cosine and relative error against each exact gradient."""
    both = "causal" if t["exact"]["causal"].sub(t["exact"]["trajectory"]).norm() > 1e-9 else None
    head = ["estimate", "J", "cosine", "relative error"]
    if both:
        head = ["estimate", "J", "cosine (trajectory)", "rel. error (trajectory)", "cosine (causal)",
                "rel. error (causal)"]
    rows = []
    for e in ESTIMATES:
        s = m["scores"][e]
        for i, J in enumerate(sizes):
            row = [e, str(J), pm(s["trajectory"]["cosine"][i]), pm(s["trajectory"]["relative"][i])]
            if both:
                row += [pm(s["causal"]["cosine"][i]), pm(s["causal"]["relative"][i])]
            rows.append(row)
    ess = ", ".join(f"{pm(m['ess'][i], 0)} of {J}" for i, J in enumerate(sizes))
    lines = [f"**{name}**: |exact gradient| = {float(t['exact']['trajectory'].norm()):.3f}"]
    if both:
        lines[0] += (f"; trajectory-level vs causal: cosine {cosine(t['exact']['causal'], t['exact']['trajectory']):.3f}, "
                     f"relative difference {relative_error(t['exact']['causal'], t['exact']['trajectory']):.3f}")
    else:
        lines[0] += " (trajectory-level and causal coincide)"
    lines += [f"effective sample size of GCL's weights: {ess}.", "", readme_blocks.markdown_table(head, rows)]
    if both:
        lines += ["", f"At J = {sizes[-1]}, relative error to the trajectory-level / causal gradient: "
                  + "; ".join(approaches(e, m["scores"][e], len(sizes) - 1) for e in ESTIMATES) + "."]
    return "\n".join(lines)


def approaches(name: str, scores: dict, last: int) -> str:
    """``name: 0.03 / 0.14 (the trajectory-level one)``: the exact gradient an estimate ends within 0.1 of, if any."""
    err = {x: float(scores[x]["relative"][last].mean()) for x in EXACT}
    near = min(err, key=err.get)
    verdict = f"the {near}-level one" if near == "trajectory" else f"the {near} one"
    if err[near] >= 0.1:
        verdict = "neither: biased"
    return f"{name} {err['trajectory']:.3f} / {err['causal']:.3f} ({verdict})"


def plot(results: dict, sizes: list[int], path: Path) -> None:
    """Cosine (top) and relative error (bottom) against J, one column per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(5.5 * len(results), 7.5), sharex=True, squeeze=False)
    for col, (name, (t, m)) in enumerate(results.items()):
        differ = float(t["exact"]["causal"].sub(t["exact"]["trajectory"]).norm()) > 1e-9
        for k, e in enumerate(ESTIMATES):
            x_at = np.asarray(sizes, dtype=float) * 1.06 ** (k - 1.5)  # spread the markers of one J apart
            for x, style in (("trajectory", "-"), ("causal", ":")):
                if x == "causal" and not differ:
                    continue
                for row, metric in enumerate(("cosine", "relative")):
                    v = m["scores"][e][x][metric]
                    axes[row, col].errorbar(x_at, v.mean(1), yerr=v.std(1), fmt="o" + style, color=COLORS[e],
                                            capsize=3, markersize=4, label=e if x == "trajectory" else None,
                                            alpha=1.0 if x == "trajectory" else 0.5)
        axes[0, col].set_title(name + ("\n(solid: vs trajectory-level, dotted: vs causal)" if differ else ""))
        axes[1, col].set_yscale("log")
        axes[1, col].set_xlabel("sampled trajectories J")
        for ax in axes[:, col]:
            ax.set_xscale("log")
            ax.grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel("cosine with the exact gradient")
    axes[1, 0].set_ylabel("relative error |est - exact| / |exact|")
    axes[1, 0].legend(loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the sampler (0..seeds-1)")
    parser.add_argument("--demos", type=int, default=100, help="demo episodes")
    parser.add_argument("--theta-seed", type=int, default=123, help="seed of the reward table θ")
    parser.add_argument("--uniform-mix", type=float, default=0.3, help="weight of the uniform policy in q")
    parser.add_argument("--out", type=Path, default=FIGURE)
    parser.add_argument("--write-readme", action="store_true",
                        help="write the tables into the block oracle_check of experiments/README.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = readme_blocks.Run()
    results, bodies = {}, []
    for name, slip in TASKS.items():
        start = time.perf_counter()
        t = task(slip, args.demos, args.theta_seed, args.uniform_mix)
        m = measure(t, args.samples, args.seeds)
        results[name] = (t, m)
        bodies.append(table(name, t, m, args.samples))
        print(f"{bodies[-1]}\n({time.perf_counter() - start:.1f} s)\n", flush=True)
    plot(results, args.samples, args.out)
    print(f"figure: {args.out}")
    if args.write_readme:
        readme_blocks.write_block(readme_blocks.EXPERIMENTS_README, "oracle_check",
                                  run.header(torch_threads=1) + "\n\n" + "\n\n".join(bodies))
        print("wrote the block oracle_check of experiments/README.md")


if __name__ == "__main__":
    main()
