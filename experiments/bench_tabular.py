"""Benchmark: the exact backward + forward messages (one MaxEnt gradient's worth of work).

One soft value iteration + one state-action visitation on slippery gridworlds
(5 actions: stay/up/down/left/right; with probability 0.1 the move is replaced by
one of the 5 drawn uniformly; off-grid moves stay put), horizon H = 2 * side or
``--horizon``, a random state reward. float64 and float32 on the CPU, and CUDA when present.
Each pass is done four ways in the same run (:func:`bench_passes`): the reference (soft value
iteration + visitation, keeping Q, V, π of every step), the lean pass MaxEnt's gradient uses
(:func:`irl.solvers.soft_messages`: V, and π while it fits ``POLICY_BUDGET``), the same with
compiled steps (CUDA only), and a plain-torch yardstick loop written here; with seconds and
memory for each. The GPU rows of issue 15:

    python experiments/bench_tabular.py --device cuda --sizes 256 512 1024 --horizon 1024

`imitation` (HumanCompatibleAI) is never a dependency of irl: to compare, install it
in a throwaway venv and pass its python, e.g.

    python -m venv /tmp/imit && /tmp/imit/bin/pip install torch==2.13.0 imitation
    python experiments/bench_tabular.py --imitation-python /tmp/imit/bin/python

The imitation side runs in a subprocess (``--imitation-worker``) on the same MDP,
rebuilt there with plain numpy as the dense ``(S, A, S)`` model imitation needs.

``--write-readme`` writes the table into the block ``bench_tabular-messages`` of
experiments/README.md, and with ``--maxent`` the MaxEnt table into ``bench_tabular-maxent``.

Usage: python experiments/bench_tabular.py [--sizes 16 32 48 64 128] [--horizon H] [--threads 2]
           [--device cpu cuda] [--repeats 5] [--imitation-python PATH]
           [--imitation-max-side 48] [--maxent] [--maxent-seeds 0 1 2 3 4] [--write-readme]
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
def yardstick_pass(next_states, next_probs, r, initial, horizon: int):
    """The plain-torch anchor, written here and not imported from irl: store V, gather successors,
    logsumexp backwards; recompute Q, exp and index_add forwards. Returns the kept V and D ``(S, A)``."""
    import torch

    S, A, K = next_states.shape
    flat = next_states.reshape(-1)
    V = r.new_zeros(horizon + 1, S)
    for t in range(horizon - 1, -1, -1):
        V[t] = torch.logsumexp(r + (next_probs * V[t + 1][next_states]).sum(-1), dim=-1)
    D = r.new_zeros(S, A)
    d = initial
    for t in range(horizon):
        x = torch.exp(r + (next_probs * V[t + 1][next_states]).sum(-1) - V[t].unsqueeze(-1)) * d.unsqueeze(-1)
        D += x
        d = r.new_zeros(S).index_add_(0, flat, (x.unsqueeze(-1) * next_probs).reshape(-1))
    return V, D


def run_measured(fn, device: str, kept) -> tuple[int, object]:
    """``(bytes, fn())``. Bytes: on CUDA the peak allocated while ``fn`` runs above what was allocated
    before it; on the CPU the bytes of the tensors the pass keeps, ``kept(fn())`` (torch has no CPU
    peak counter, and the process's peak RSS cannot be reset between passes)."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        out = fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before, out
    out = fn()
    return sum(t.numel() * t.element_size() for t in kept(out)), out


def bench_passes(side: int, horizon: int, dtype_name: str, device: str, repeats: int) -> dict:
    """One backward + forward pass three (on CUDA four) ways on the same MDP and reward: the reference
    (soft value iteration + visitation, keeping Q, V, π), the lean pass that MaxEnt's gradient uses
    (V, and π within its budget), the same compiled (CUDA only), and the plain-torch yardstick.
    Seconds, memory, mass."""
    import torch

    from irl.envs import gridworld_mdp
    from irl.solvers import soft_messages, soft_value_iteration, visitation

    dtype = {"float64": torch.float64, "float32": torch.float32}[dtype_name]
    mdp = gridworld_mdp(side, 0.1, features=None, horizon=horizon, dtype=dtype).to(device)
    r = torch.as_tensor(bench_reward(side), dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    r_sa = r[:, None].expand(-1, 5).contiguous()
    ns, probs, initial = mdp.next_states, mdp.next_probs, mdp.initial

    def reference():
        res = soft_value_iteration(mdp, r)
        return res, visitation(mdp, res.policy)

    ways = {
        "reference": (reference, lambda out: (out[0].q, out[0].v, out[0].policy, out[1])),
        "lean": (lambda: soft_messages(mdp, r),
                 lambda out: [t for t in (out[0].u, out[0].c, out[0].kept_policy, out[0].states, out[1]) if t is not None]),
        "yardstick": (lambda: yardstick_pass(ns, probs, r_sa, initial, horizon), lambda out: out),
    }
    if device == "cuda":
        ways["lean compiled"] = (lambda: soft_messages(mdp, r, fused=True), ways["lean"][1])
    # the yardstick of exactness: the lean pass in float64 (equal to the float64 reference to ~1e-12,
    # tests/test_messages.py), which fits in memory where the reference's (T, S, A) tables may not
    mdp64 = mdp.to(dtype=torch.float64)
    D64 = soft_messages(mdp64, r.double())[1]
    del mdp64
    out = {}
    for name, (fn, kept) in ways.items():
        seconds = time_it(fn, repeats, sync)  # its first, untimed call also compiles
        memory, (_, D) = run_measured(fn, device, kept)
        diff = float((D.double() - D64).abs().max() / D64.abs().max())
        out[name] = {"seconds": seconds, "memory": memory, "mass": float(D.sum()), "diff": diff}
        del D
    return out


def block_problem(side: int, seed: int):
    """The MaxEnt benchmark's problem: the ``side``×``side`` gridworld with a random reward and 4×4-cell block
    features, and 100 soft-optimal demos drawn with ``seed``; returns (mdp, demos)."""
    from irl.envs import gridworld_mdp
    from irl.runs.generate import generate_tabular_demos

    kw = {"size": side, "reward": "random", "features": "blocks", "block_size": 4}
    return gridworld_mdp(**kw), generate_tabular_demos("irl/Gridworld-v0", env_kwargs=kw, episodes=100, seed=seed)


def penalised_loss(mdp, counts, result) -> float:
    """The objective a MaxEnt fit minimises, −L + ``l2/2 ‖θ‖²``, at its final reward, from the demos' ``counts``
    (:func:`irl.envs.demo_counts.demo_counts`): evaluated afresh, so fits by different optimisers compare on the
    same footing."""
    import torch

    from irl.inverse.maxent_objective import maxent_objective

    table = torch.as_tensor(result.reward_table, dtype=torch.float64)
    likelihood = float(maxent_objective(mdp, counts, table).value)
    params = [p.detach() for p in result.reward_model.parameters() if p.requires_grad]
    return -likelihood + 0.5 * result.config.l2 * float(sum((p.double() ** 2).sum() for p in params))


def smallest_curvature(mdp, counts, result) -> float:
    """The smallest eigenvalue of the penalised loss's Hessian in the weights at a linear fit's final reward (state
    features ``Φ`` ``(S, F)``): ``Φᵀ (∂D/∂r) Φ + l2 I``, built column by column from F exact Hessian-vector products
    (:func:`irl.inverse.maxent_newton.visitation_tangent`), ``counts`` the demos' as in :func:`penalised_loss`.
    Positive: the fit ended at a strict local minimum."""
    import numpy as np
    import torch

    from irl.inverse.maxent_newton import visitation_tangent
    from irl.inverse.maxent_objective import maxent_objective
    from irl.solvers import reward_table, state_visitation

    policy = maxent_objective(mdp, counts, torch.as_tensor(result.reward_table, dtype=torch.float64)).solution.policy
    states = state_visitation(mdp, policy, initial=counts.likelihood_mass)
    phi = result.reward_model.features.to(torch.float64)
    columns = []
    for i in range(phi.shape[1]):
        u = reward_table(mdp, phi[:, i, None].expand(-1, mdp.n_actions).contiguous())
        columns.append(phi.T @ visitation_tangent(mdp, policy, states, u)[: mdp.n_env_states].sum(1))
    H = torch.stack(columns, 1).numpy()
    return float(np.linalg.eigvalsh((H + H.T) / 2)[0] + result.config.l2)


def optimisers_over_seeds(side: int, seeds: list[int]) -> list[dict]:
    """The fits of :func:`bench_ours_maxent`, Newton and L-BFGS, on the 100 demos drawn with each of ``seeds``: per
    draw Newton's counted passes and iterations, each optimiser's EPIC, penalised loss (:func:`penalised_loss`) and
    convergence, and the EPIC between the two rewards. Each draw takes its own path through the trust region; and
    with stochastic dynamics the likelihood need not be concave, so the two may end in different local optima."""
    from irl.envs.demo_counts import demo_counts
    from irl.inverse import maxent
    from irl.metrics import epic_distance

    out = []
    for seed in seeds:
        mdp, demos = block_problem(side, seed)
        counts = demo_counts(mdp, demos)
        row: dict = {"seed": seed}
        fits = {o: maxent.fit(mdp, demos, reward="linear", seed=0, optimizer=o) for o in ("newton", "lbfgs")}
        row["epic_between"] = epic_distance(mdp, fits["newton"].reward_table, fits["lbfgs"].reward_table)
        for optimizer, result in fits.items():
            row[optimizer] = {"passes_counted": result.passes, "iterations": result.iterations,
                              "epic": epic_distance(mdp, mdp.reward, result.reward_table),
                              "loss": penalised_loss(mdp, counts, result), "converged": result.converged}
            if row["epic_between"] > 0.01:  # apart: is each end a local minimum?
                row[optimizer]["smallest_curvature"] = smallest_curvature(mdp, counts, result)
        out.append(row)
    return out


def bench_ours_maxent(side: int, repeats: int) -> dict:
    """One exact MaxEnt pass (soft VI + visitation + the demo terms) and full fits of a linear
    reward on 4×4-cell block features from 100 soft-optimal demos, with L-BFGS and with Newton.

    Each fit's passes are its wall time ÷ one pass's time, the pass timed just before the fit on
    the same thread count (``cpu_threads_for``, as the fit runs); ``passes_counted`` is the fit's
    own count of its evaluations in passes, which does not depend on the machine's load.
    """
    import torch

    from irl.envs.demo_counts import demo_counts
    from irl.inverse import maxent
    from irl.inverse.maxent_objective import maxent_objective
    from irl.metrics import epic_distance
    from irl.solvers.tabular_common import cpu_threads_for

    mdp, demos = block_problem(side, 0)
    counts = demo_counts(mdp, demos)
    reward = torch.zeros(mdp.n_env_states, mdp.n_actions, dtype=torch.float64)
    fits = {}
    for optimizer in ("lbfgs", "newton"):
        with cpu_threads_for(mdp):
            pass_s = time_it(lambda: maxent_objective(mdp, counts, reward).grad, repeats)
        t0 = time.perf_counter()
        result = maxent.fit(mdp, demos, reward="linear", seed=0, optimizer=optimizer)
        fit_s = time.perf_counter() - t0
        fits[optimizer] = {
            "fit_seconds": fit_s, "pass_seconds": pass_s, "passes_timed": fit_s / pass_s,
            "passes_counted": result.passes, "evaluations": result.evaluations, "iterations": result.iterations,
            "epic": epic_distance(mdp, mdp.reward, result.reward_table), "converged": result.converged,
        }
    default = fits[maxent.MaxEntConfig().optimizer]
    return {"gradient_seconds": default["pass_seconds"], "fit_seconds": default["fit_seconds"],
            "fit_iterations": default["iterations"], "converged": default["converged"], "fits": fits}


# -------------------------------------------------------------- imitation
def imitation_worker(side: int, horizon: int, repeats: int) -> dict:
    """Runs inside the imitation venv: mce_partition_fh + mce_occupancy_measures."""
    import types

    import numpy as np
    from imitation.algorithms.mce_irl import mce_occupancy_measures, mce_partition_fh

    P = dense_gridworld(side)
    S = side * side
    env = types.SimpleNamespace(
        transition_matrix=P,
        reward_matrix=bench_reward(side),
        horizon=horizon,
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


def run_imitation(python: str, side: int, horizon: int, repeats: int) -> dict:
    """imitation's time on ``side``, or ``{"error": why}`` when its worker failed."""
    cmd = [python, __file__, "--imitation-worker", str(side), "--horizon", str(horizon), "--repeats", str(repeats)]
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
        rows.append([str(r["side"]), str(r["side"] ** 2), str(r["horizon"]),
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
    notes.insert(0, "ours: the lean pass of MaxEnt's gradient (`irl.solvers.soft_messages`), median of "
                    f"{args.repeats}.")
    return readme_blocks.markdown_table(header, rows) + "\n\n" + " ".join(notes)


def mib(n: int) -> str:
    return sig3(n / 2**20)


PASS_WAYS = ("reference", "lean", "lean compiled", "yardstick")


def passes_table(results: list[dict]) -> str:
    """The markdown table of one pass done each way: seconds and memory, and the notes that go with it."""
    header = ["side", "states", "H", "device", "dtype", *(f"{w} (s)" for w in PASS_WAYS),
              *(f"{w} (MiB)" for w in PASS_WAYS if w != "lean compiled"), "lean / yardstick time"]
    rows = []
    for r in results:
        for (device, dtype), ways in r["passes"].items():
            cell = lambda w, k, f: f(ways[w][k]) if w in ways else "—"  # noqa: E731
            rows.append([str(r["side"]), str(r["side"] ** 2), str(r["horizon"]), device, dtype,
                         *(cell(w, "seconds", sig3) for w in PASS_WAYS),
                         *(cell(w, "memory", mib) for w in PASS_WAYS if w != "lean compiled"),
                         f"{ways['lean']['seconds'] / ways['yardstick']['seconds']:.2f}"])
    worst = max(w["diff"] for r in results for ways in r["passes"].values() for w in ways.values())
    notes = ("One backward + forward pass (one MaxEnt gradient's messages) on the slippery gridworld, each "
             "way on the same MDP and reward in the same run: reference = `soft_value_iteration` + "
             "`visitation` (keeps Q, V and π of every step); lean = `soft_messages` (what MaxEnt's gradient "
             "runs: keeps V, and π and the per-step state masses while π fits its 256 MiB budget, "
             "`irl.solvers.messages.POLICY_BUDGET`, else rebuilds π from V in chunks of 8 steps); lean "
             "compiled = the same with `fused=True` (`torch.compile`d steps, CUDA only); yardstick = a "
             "plain-torch loop written in the benchmark (gather successors, logsumexp, index_add; keeps V). Memory: on CUDA the peak allocated during the pass above what "
             "was allocated before it; on the CPU the bytes of the tensors the pass keeps (its result). "
             "D error: max |D − D₆₄| ÷ max |D₆₄| against the float64 lean pass on the same device (itself "
             f"within ~1e-12 of the float64 reference); the largest here, float32 rows included: {worst:.1e}.")
    return readme_blocks.markdown_table(header, rows) + "\n\n" + notes


def maxent_table(results: list[dict], messages: list[dict]) -> str:
    """The markdown table of the MaxEnt fits (L-BFGS and Newton side by side), and how they
    compare with the issues' goals."""
    names = {"lbfgs": "L-BFGS", "newton": "Newton (trust region)"}
    rows = []
    for m in results:
        for optimizer, f in m["fits"].items():
            counted = ", ".join(f"{n} {k}" for k, n in f["evaluations"].items() if n)
            rows.append([str(m["side"]), str(m["side"] ** 2), names[optimizer], sig3(f["fit_seconds"]),
                         sig3(f["pass_seconds"]), sig3(f["passes_timed"]), f"{sig3(f['passes_counted'])} ({counted})",
                         str(f["iterations"]), f"{f['epic']:.3f}", "yes" if f["converged"] else "no"])
    table = readme_blocks.markdown_table(
        ["side", "states", "optimiser", "fit (s)", "one pass (s)", "passes (fit ÷ pass)",
         "passes counted (evaluations)", "iterations", "EPIC", "converged"], rows)
    goals = []
    at48 = [r for r in messages if r["side"] == 48 and r["imitation"] and "seconds" in r["imitation"]]
    if at48:
        speed = at48[0]["imitation"]["seconds"] / at48[0]["ours"][("cpu", "float64")]
        goals.append(f"≥ 100× imitation on 48×48 soft VI + visitation: {speed:.0f}×, "
                     f"{'met' if speed >= 100 else 'not met'}")
    fit48 = [m["fits"] for m in results if m["side"] == 48]
    if fit48:
        newton, lbfgs = fit48[0]["newton"], fit48[0]["lbfgs"]
        gap = abs(newton["epic"] - lbfgs["epic"])
        met = newton["passes_timed"] <= 100 and gap <= 0.01
        goals.append(f"a 48×48 fit in ≤ 100 passes with EPIC within 0.01 of L-BFGS: Newton "
                     f"{newton['passes_timed']:.0f} passes ({newton['passes_counted']:.0f} counted, L-BFGS "
                     f"{lbfgs['passes_timed']:.0f} / {lbfgs['passes_counted']:.0f}), EPIC {newton['epic']:.3f} vs "
                     f"{lbfgs['epic']:.3f}: {'met' if met else 'not met'}")
    notes = ("One pass = soft value iteration + visitation + the demo terms, timed just before each fit on the "
             "fit's thread count; passes counted = the fit's own evaluations in passes (objective 1, soft VI "
             "alone 1, Hessian-vector product 1, policy table + state sweep 1), independent of the machine's load.")
    spread = [m for m in results if m.get("seeds")]
    if spread:
        notes += "\n\n" + seeds_note(spread)
    if not goals:
        return f"{table}\n\n{notes}"
    return f"{table}\n\n{notes}\n\nThe issues' goals, as measured in this run: {'; '.join(goals)}."


def seeds_note(spread: list[dict]) -> str:
    """The paragraph on the fits over several demo draws (:func:`optimisers_over_seeds`): Newton's counted passes,
    both optimisers' EPIC, and the draws where the two ended apart (> 0.01 EPIC between their rewards)."""
    seeds = ", ".join(str(r["seed"]) for r in spread[0]["seeds"])
    passes, epics, apart = [], [], []
    for m in spread:
        runs, size = m["seeds"], f"{m['side']}×{m['side']}"
        counted = [r["newton"]["passes_counted"] for r in runs]
        converged = sum(r[o]["converged"] for r in runs for o in ("newton", "lbfgs"))
        passes.append(f"{size}: {', '.join(f'{c:.0f}' for c in counted)} (mean {statistics.mean(counted):.0f})")
        pairs = ", ".join(f"{r['newton']['epic']:.3f} / {r['lbfgs']['epic']:.3f}" for r in runs)
        epics.append(f"{size}: {pairs} ({converged} of {2 * len(runs)} fits converged)")
        for r in runs:
            if r["epic_between"] > 0.01:
                n, b = r["newton"], r["lbfgs"]
                lower = "Newton" if n["loss"] < b["loss"] else "L-BFGS"
                kind = ("both strict local minima" if min(n["smallest_curvature"], b["smallest_curvature"]) > 0
                        else "not both minima")
                apart.append(f"{size} seed {r['seed']}: {r['epic_between']:.3f} EPIC apart, {kind} (smallest Hessian "
                             f"eigenvalue {n['smallest_curvature']:.2g} for Newton, {b['smallest_curvature']:.2g} for "
                             f"L-BFGS); {lower}'s penalised loss is the lower, by {abs(n['loss'] - b['loss']):.2g}")
    text = (f"The same two fits on the demos drawn with seeds {seeds} (the fits above use seed 0). Newton's passes "
            f"counted: {'; '.join(passes)}; each draw takes its own path through the trust region. EPIC, Newton / "
            f"L-BFGS: {'; '.join(epics)}.")
    if not apart:
        return text + " On every draw the two rewards are within 0.01 EPIC of each other."
    draws = sum(len(m["seeds"]) for m in spread)
    return (text + f" The two optimisers' rewards end more than 0.01 EPIC apart on {len(apart)} of {draws} draws: "
            f"{'; '.join(apart)}. With the slippery grid's stochastic dynamics the likelihood need not be concave; "
            "where both ends are minima, each optimiser found its own.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 48, 64, 128])
    parser.add_argument("--horizon", type=int, default=None, help="steps H of every size (default 2*side)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", nargs="+", default=None, choices=["cpu", "cuda"],
                        help="default: cpu, and cuda when present")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--imitation-python", default=None, help="python of a venv where imitation is installed")
    parser.add_argument("--imitation-max-side", type=int, default=48, help="its dense model is S*A*S floats")
    parser.add_argument("--maxent", action="store_true", help="also time a MaxEnt gradient and fit (32, 48)")
    parser.add_argument("--maxent-seeds", type=int, nargs="*", default=[],
                        help="with --maxent: also fit with Newton and L-BFGS on these demo draws and report "
                             "Newton's counted passes and both optimisers' EPIC per draw")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the table(s) into their generated blocks of experiments/README.md")
    parser.add_argument("--imitation-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.horizon is not None and args.horizon < 1:
        parser.error(f"--horizon must be >= 1, got {args.horizon}")

    if args.imitation_worker is not None:
        horizon = args.horizon or 2 * args.imitation_worker
        print(json.dumps(imitation_worker(args.imitation_worker, horizon, args.repeats)))
        return

    import torch

    if args.device and "cuda" in args.device and not torch.cuda.is_available():
        parser.error(f"--device cuda: no CUDA device is available to torch {torch.__version__} on this machine")
    run = readme_blocks.Run()
    torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    h_text = f"H = {args.horizon}" if args.horizon else "H = 2*side"
    print(f"one backward + forward pass, gridworld side x side, {h_text}, torch {torch.__version__}, "
          f"threads {args.threads}")
    header = (f"{'side':>5} {'H':>5} {'device':>6} {'dtype':>8} {'way':>13} {'seconds':>9} "
              f"{'MiB':>9} {'D error':>9} {'imitation (s)':>14} {'speed-up':>9}")
    print(header)
    print("-" * len(header))
    results = []
    for side in args.sizes:
        horizon = args.horizon or 2 * side
        imit = None
        if args.imitation_python and side <= args.imitation_max_side:
            imit = run_imitation(args.imitation_python, side, horizon, max(1, args.repeats // 2))
        ours, passes = {}, {}
        for device in devices:
            for dtype in ("float64", "float32"):
                ways = passes[(device, dtype)] = bench_passes(side, horizon, dtype, device, args.repeats)
                ours[(device, dtype)] = ways["lean"]["seconds"]
                for way, m in ways.items():
                    shown = way == "lean" and imit and "seconds" in imit and device == "cpu" and dtype == "float64"
                    imit_s = f"{imit['seconds']:.4f}" if shown else "-"
                    speed = f"{imit['seconds'] / m['seconds']:.0f}x" if shown else "-"
                    print(f"{side:>5} {horizon:>5} {device:>6} {dtype:>8} {way:>13} {m['seconds']:>9.4f} "
                          f"{m['memory'] / 2**20:>9.1f} {m['diff']:>9.1e} {imit_s:>14} {speed:>9}", flush=True)
        results.append({"side": side, "horizon": horizon, "ours": ours, "passes": passes, "imitation": imit})
    maxent_results = []
    if args.maxent:
        print("\nexact MaxEnt (linear reward on 4x4-cell block features, 100 demos), float64 CPU")
        for side in (32, 48):
            m = bench_ours_maxent(side, args.repeats)
            maxent_results.append({"side": side, **m, "seeds": optimisers_over_seeds(side, args.maxent_seeds)})
            print(
                f"  {side}x{side}: gradient {m['gradient_seconds']:.4f} s, full fit {m['fit_seconds']:.2f} s "
                f"({m['fit_iterations']} iterations, converged {m['converged']})",
                flush=True,
            )
    body = messages_table(results, devices, args) + "\n\n" + passes_table(results)
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
