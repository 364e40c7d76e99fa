"""experiments/bench_tabular.py's MaxEnt part: the Newton fit over other demo draws, and how the table reports it."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import bench_tabular  # noqa: E402


def test_newton_over_seeds_fits_each_draw_and_the_table_lists_them():
    runs = bench_tabular.newton_over_seeds(8, [0, 1])  # 8×8, 4 block features: a fraction of a second each
    assert [r["seed"] for r in runs] == [0, 1] and all(r["converged"] and r["passes_counted"] > 0 for r in runs)
    assert runs[0]["epic"] != runs[1]["epic"]  # two draws of the demos, two fits
    fit = {"fit_seconds": 1.0, "pass_seconds": 0.01, "passes_timed": 100.0, "passes_counted": 90.0,
           "evaluations": {"objective": 10, "hvp": 80}, "iterations": 9, "epic": 0.3, "converged": True}
    results = [{"side": 8, "fits": {"newton": fit}, "seeds": runs}]
    text = bench_tabular.maxent_table(results, [])
    counted = ", ".join(f"{r['passes_counted']:.0f}" for r in runs)
    assert f"drawn with seeds 0, 1 (the fits above use seed 0), passes counted: 8×8: {counted} (mean" in text
    assert "2 of 2 converged" in text
    assert "drawn with seeds" not in bench_tabular.maxent_table([{**results[0], "seeds": []}], [])
