"""experiments/bench_tabular.py's MaxEnt part: both optimisers over other demo draws, and how the table reports them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import bench_tabular  # noqa: E402


def _row(seed: int, newton_epic: float, lbfgs_epic: float, between: float, **apart) -> dict:
    fit = {"passes_counted": 50.0 + seed, "iterations": 5, "loss": 10.0, "converged": True}
    row = {"seed": seed, "epic_between": between, "newton": {**fit, "epic": newton_epic},
           "lbfgs": {**fit, "passes_counted": 80.0, "epic": lbfgs_epic}}
    for optimizer, (loss, curvature) in apart.items():
        row[optimizer].update(loss=loss, smallest_curvature=curvature)
    return row


def test_optimisers_over_seeds_fits_each_draw_with_both_optimisers_and_the_table_lists_them():
    runs = bench_tabular.optimisers_over_seeds(8, [0, 1])  # 8×8, 4 block features: a fraction of a second each
    assert [r["seed"] for r in runs] == [0, 1]
    for r in runs:
        for optimizer in ("newton", "lbfgs"):
            assert r[optimizer]["converged"] and r[optimizer]["passes_counted"] > 0
        # One basin here: the two optimisers agree, and no curvature was computed.
        assert r["epic_between"] < 0.01 and "smallest_curvature" not in r["newton"]
        assert abs(r["newton"]["loss"] - r["lbfgs"]["loss"]) < 1e-6
    assert runs[0]["newton"]["epic"] != runs[1]["newton"]["epic"]  # two draws of the demos, two fits
    fit = {"fit_seconds": 1.0, "pass_seconds": 0.01, "passes_timed": 100.0, "passes_counted": 90.0,
           "evaluations": {"objective": 10, "hvp": 80}, "iterations": 9, "epic": 0.3, "converged": True}
    results = [{"side": 8, "fits": {"newton": fit}, "seeds": runs}]
    text = bench_tabular.maxent_table(results, [])
    counted = ", ".join(f"{r['newton']['passes_counted']:.0f}" for r in runs)
    assert f"drawn with seeds 0, 1 (the fits above use seed 0). Newton's passes counted: 8×8: {counted} (mean" in text
    epics = ", ".join(f"{r['newton']['epic']:.3f} / {r['lbfgs']['epic']:.3f}" for r in runs)
    assert f"EPIC, Newton / L-BFGS: 8×8: {epics} (4 of 4 fits converged)" in text
    assert "within 0.01 EPIC of each other" in text
    assert "drawn with seeds" not in bench_tabular.maxent_table([{**results[0], "seeds": []}], [])


def test_seeds_note_names_the_draws_where_the_optimisers_end_apart():
    together = _row(0, 0.330, 0.331, 0.002)
    apart = _row(2, 0.341, 0.328, 0.066, newton=(132.7866, 1e-3), lbfgs=(132.7891, 9.6e-4))
    saddle = _row(3, 0.38, 0.40, 0.05, newton=(5.0, 1e-3), lbfgs=(5.1, -2e-3))
    text = bench_tabular.seeds_note([{"side": 48, "seeds": [together, apart, saddle]}])
    assert "more than 0.01 EPIC apart on 2 of 3 draws" in text
    assert ("48×48 seed 2: 0.066 EPIC apart, both strict local minima (smallest Hessian eigenvalue 0.001 for "
            "Newton, 0.00096 for L-BFGS); Newton's penalised loss is the lower, by 0.0025") in text
    assert "48×48 seed 3: 0.050 EPIC apart, not both minima" in text
    assert "seed 0:" not in text and "within 0.01 EPIC of each other" not in text


def test_smallest_curvature_matches_finite_differences_of_the_gradient():
    from irl.envs.demo_counts import demo_counts
    from irl.inverse import maxent
    from irl.inverse.maxent_objective import maxent_objective

    mdp, demos = bench_tabular.block_problem(8, 0)
    result = maxent.fit(mdp, demos, reward="linear", seed=0, optimizer="lbfgs")
    counts, l2 = demo_counts(mdp, demos), result.config.l2
    phi = result.reward_model.features.to(torch.float64)
    theta = result.reward_model.weights.detach().to(torch.float64)

    def grad(w: torch.Tensor) -> np.ndarray:  # of −L + l2/2 ‖w‖², in the weights
        table = (phi @ w)[:, None].expand(-1, mdp.n_actions)
        return (-(phi.T @ maxent_objective(mdp, counts, table).grad.sum(1)) + l2 * w).numpy()

    eps = 1e-5
    H = np.stack([(grad(theta + eps * e) - grad(theta - eps * e)) / (2 * eps)
                  for e in torch.eye(theta.numel(), dtype=torch.float64)], 1)
    expected = np.linalg.eigvalsh((H + H.T) / 2)[0]
    assert abs(bench_tabular.smallest_curvature(mdp, counts, result) - expected) <= 1e-6 * max(1.0, abs(expected))
