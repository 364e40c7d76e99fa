"""experiments/compare_sac_gradients.py end to end on a tiny budget: both gradients, paired by seed, and the table."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_both_gradients_run_the_same_fit_and_fill_the_table(tmp_path: Path) -> None:
    out, cache = tmp_path / "rows.json", tmp_path / "cache.jsonl"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "compare_sac_gradients.py"), "--methods", "gail", "sac", "--seeds",
         "0", "1", "--steps", "1200", "--out", str(out), "--cache", str(cache)], capture_output=True, text=True,
        cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())
    assert sorted(map(json.dumps, rows)) == sorted(cache.read_text().splitlines())  # every fit kept as it finished
    assert sorted((r["method"], r["seed"], r["gradient"]) for r in rows) == [
        (m, s, g) for m in ("gail", "sac") for s in (0, 1) for g in ("autograd", "by hand")]
    assert "| sac | by hand | 2 |" in proc.stdout and "- all methods, 4 pairs" in proc.stdout
    rows = [r for r in rows if r["method"] == "gail"]
    assert all(math.isfinite(r["final"]) and r["seconds"] > 0 for r in rows)
    table = next(chunk for chunk in proc.stdout.split("\n\n") if chunk.startswith("| method"))
    finals = {g: [r["final"] for r in sorted(rows, key=lambda r: r["seed"]) if r["gradient"] == g]
              for g in ("by hand", "autograd")}
    for gradient, values in finals.items():
        line = next(x for x in table.splitlines() if x.startswith(f"| gail | {gradient} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[2] == "2" and cells[3] == ", ".join(f"{v:.2f}" for v in values)
        assert cells[6] == str(sum(v < 0.8 for v in values))
    hand, auto = ([v < 0.8 for v in finals[g]] for g in ("by hand", "autograd"))
    assert (f"- gail, 2 pairs run with both gradients: below 0.8 with both {sum(h and a for h, a in zip(hand, auto))}, "
            f"by hand only {sum(h and not a for h, a in zip(hand, auto))}, autograd only "
            f"{sum(a and not h for h, a in zip(hand, auto))} (McNemar's exact p = ") in proc.stdout


def test_fits_in_the_cache_are_read_back_not_run(tmp_path: Path) -> None:
    """Every fit asked for is in the cache: none runs (each would take seconds), the table is theirs, in order."""
    cache, out = tmp_path / "cache.jsonl", tmp_path / "rows.json"
    cached = [{"method": m, "seed": s, "steps": 50, "gradient": g, "final": f, "seconds": 1.0}
              for m, s, g, f in [("airl", 3, "autograd", 0.25), ("gail", 3, "by hand", 0.5), ("airl", 3, "by hand", 0.75),
                                 ("gail", 3, "autograd", 1.0), ("gail", 4, "by hand", 0.1)]]
    cache.write_text("".join(json.dumps(r) + "\n" for r in cached))
    before = cache.read_text()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "compare_sac_gradients.py"), "--seeds", "3", "--steps", "50",
         "--out", str(out), "--cache", str(cache)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert cache.read_text() == before and " in " not in proc.stdout.split("\n\n")[0]  # nothing ran
    rows = json.loads(out.read_text())
    assert [(r["method"], r["gradient"], r["final"]) for r in rows] == [
        ("gail", "by hand", 0.5), ("gail", "autograd", 1.0), ("airl", "by hand", 0.75), ("airl", "autograd", 0.25)]
    assert "| airl | by hand | 1 | 0.75 |" in proc.stdout


def test_the_paired_summary_counts_one_sided_failures_and_tests_them():
    sys.path.insert(0, str(ROOT / "experiments"))
    import compare_sac_gradients as script

    def row(method, seed, gradient, final):
        return {"method": method, "seed": seed, "steps": 1, "gradient": gradient, "final": final, "seconds": 1.0}

    rows = [row("gail", s, "by hand", 0.5 if s < 6 else 1.0) for s in range(10)]  # by hand fails on seeds 0-5
    rows += [row("gail", s, "autograd", 0.5 if s == 0 else 1.0) for s in range(10)]  # autograd on seed 0 only
    rows += [row("airl", 0, "by hand", 0.1), row("airl", 1, "autograd", 0.1)]  # airl: no seed has both
    text = script.paired_summary(rows)
    # gail: both fail on seed 0; by hand alone on 1-5; McNemar: 5 of 5 one-sided pairs, p = 2 / 2**5
    assert "- gail, 10 pairs run with both gradients: below 0.8 with both 1, by hand only 5, autograd only 0 " \
           "(McNemar's exact p = 0.06)" in text
    assert "airl" not in text.replace("all methods", "")
    assert "- all methods, 10 pairs" in text
    assert script.paired_summary([row("gail", 0, "by hand", 0.1)]) == ""
