"""The leaderboard's tables and plots (irl.compare.summary) on hand-built result frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from irl.compare.summary import (
    METRICS,
    aggregate,
    markdown_tables,
    mean_ci,
    peer_verdict,
    plot_curves,
    plot_heatmaps,
)

NAN = float("nan")


def _row(algo, source, seed, *, task="grid", n_demos=10, status="ok", **metrics):
    row = {"task": task, "algo": algo, "source": source, "n_demos": n_demos, "seed": seed,
           "status": status, "error": "" if status == "ok" else "boom", "temperature": 0.5,
           "env_steps": NAN, "run_dir": "", "cell_id": f"{task}-{algo}-{n_demos}-{seed}"}
    row.update({m: metrics.get(m, NAN) for m in METRICS})
    return row


def _frame():
    """maxent best on EPIC (low), deep-maxent best on return (high), the check row beats both but
    must stay plain, bc has no reward metrics, and one deep-maxent seed failed."""
    rows = []
    for seed in range(3):
        rows.append(_row("maxent", "irl", seed, epic=0.10 + 0.01 * seed, regret_hard=0.5,
                         normalised_return=0.80, wall_seconds=2.0))
        rows.append(_row("deep-maxent", "irl", seed, status="failed" if seed == 2 else "ok",
                         epic=0.30 + 0.01 * seed, regret_hard=0.7, normalised_return=0.90, wall_seconds=9.0))
        rows.append(_row("bc", "irl", seed, normalised_return=0.70, wall_seconds=1.0))
        rows.append(_row("true + shaping", "check", seed, epic=0.0, regret_hard=0.0,
                         normalised_return=1.0, wall_seconds=0.1))
    return pd.DataFrame(rows)


def _table_rows(text):
    """{algo: [cells]} of the first markdown table in ``text``, plus its header."""
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    split = [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines]
    return split[0], {cells[0]: cells for cells in split[1:]}


def test_mean_ci_hand_numbers():
    mean, half, n = mean_ci([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert half == pytest.approx(2.4841, abs=1e-4)
    mean, half, n = mean_ci([1.0, None, NAN, 3.0], confidence=0.9)  # NaN/None are dropped
    assert (mean, n) == (2.0, 2)
    assert half == pytest.approx(6.313752, rel=1e-6)  # s = sqrt(2), n = 2


def test_mean_ci_one_and_no_values():
    mean, half, n = mean_ci([4.0, NAN])
    assert (mean, n) == (4.0, 1) and math.isnan(half)
    mean, half, n = mean_ci([NAN, None])
    assert n == 0 and math.isnan(mean) and math.isnan(half)
    assert mean_ci([])[2] == 0


def test_aggregate_counts_failures_and_drops_them_from_means():
    agg = aggregate(_frame())
    assert list(agg["algo"]) == ["maxent", "deep-maxent", "bc", "true + shaping"]  # first-seen order
    deep = agg.set_index("algo").loc["deep-maxent"]
    assert (deep["n_ok"], deep["n_failed"], deep["source"]) == (2, 1, "irl")
    assert deep["epic_mean"] == pytest.approx(0.305)  # the failed seed's 0.32 is ignored
    assert deep["epic_n"] == 2
    bc = agg.set_index("algo").loc["bc"]
    assert bc["epic_n"] == 0 and math.isnan(bc["epic_mean"])
    assert {f"{m}_{s}" for m in METRICS for s in ("mean", "ci", "n")} <= set(agg.columns)


def test_markdown_bolds_best_ranked_row_per_column():
    text = markdown_tables(_frame(), metrics=("epic", "normalised_return", "wall_seconds"))
    assert text.startswith("### grid\n")
    header, rows = _table_rows(text)
    col = {name.split(" (")[0]: i for i, name in enumerate(header)}
    epic, ret, wall = col["EPIC ↓"], col["norm. return ↑"], col["wall s ↓"]
    assert rows["maxent"][epic].startswith("**0.110 ± ")  # lower is better
    assert rows["deep-maxent"][ret].startswith("**0.900")  # higher is better
    assert rows["bc"][wall].startswith("**1.0")
    assert "**" not in rows["deep-maxent"][epic] and "**" not in rows["maxent"][ret]
    # The check row has the best numbers everywhere but is a reference: never bold.
    assert not any("**" in cell for cell in rows["true + shaping"])
    assert rows["true + shaping"][epic] == "0.000 ± 0.000"
    assert rows["bc"][epic] == "n/a"
    assert rows["deep-maxent"][epic].endswith("failed (1 of 3)")
    assert "3 seeds" in text and "95% Student's t" in text


def test_markdown_all_failed_and_missing_cells():
    df = pd.concat([_frame(), pd.DataFrame([_row("maxent", "irl", s, n_demos=100, status="failed")
                                            for s in range(3)])])
    _, rows = _table_rows(markdown_tables(df, metrics=("epic",)))
    assert rows["maxent"][3] == "failed (3 of 3)"  # algorithm, source, 10 demos, 100 demos
    assert rows["bc"][3] == "—"  # bc did not run at 100 demos
    assert "**" not in rows["maxent"][3]


def test_peer_verdict():
    assert peer_verdict(_frame()) == []
    df = pd.concat([_frame(), pd.DataFrame([_row("imitation mce", "peer", s, epic=0.2, wall_seconds=30.0)
                                            for s in range(2)])])
    (line,) = peer_verdict(df)
    assert "maxent" in line and "imitation mce" in line and "ahead by 0.090" in line
    assert "2.0 s vs 30.0 s" in line
    # no EPIC (a continuous task): the normalised return decides, higher is better
    df = pd.concat([_frame(), pd.DataFrame([_row("imitation gail", "peer", s, normalised_return=0.95,
                                                 wall_seconds=60.0) for s in range(2)])])
    (line,) = peer_verdict(df)
    assert "ours (deep-maxent) norm. return 0.900 vs imitation gail 0.950: behind by 0.050" in line


def test_plots_write_pngs(tmp_path):
    df = _frame()
    more = [_row(a, src, s, task="cliff", n_demos=n, epic=0.1 * n ** -0.5 + 0.01 * s, normalised_return=0.5)
            for n in (1, 10, 100) for s in range(2)
            for a, src in (("maxent", "irl"), ("random reward", "check"))]
    df = pd.concat([df, pd.DataFrame(more)], ignore_index=True)
    curves = tmp_path / "curves.png"
    plot_curves(df, curves, metrics=("epic", "regret_hard"))  # cliff has no regret: an "n/a" panel
    assert curves.stat().st_size > 0 and curves.read_bytes()[:4] == b"\x89PNG"
    heat = tmp_path / "heat.png"
    rng = np.random.default_rng(0)
    plot_heatmaps([("grid — maxent", (3, 4), rng.normal(size=12), rng.normal(size=12)),
                   ("cliff — maxent", (4, 12), rng.normal(size=48), np.zeros(48))], heat)
    assert heat.stat().st_size > 0 and heat.read_bytes()[:4] == b"\x89PNG"
