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
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "compare_sac_gradients.py"), "--methods", "gail", "--seeds", "0",
         "1", "--steps", "1200", "--out", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())
    assert sorted((r["seed"], r["gradient"]) for r in rows) == [(0, "autograd"), (0, "by hand"), (1, "autograd"),
                                                                (1, "by hand")]
    assert all(math.isfinite(r["final"]) and r["seconds"] > 0 for r in rows)
    table = proc.stdout.split("\n\n")[-1]
    finals = {g: [r["final"] for r in sorted(rows, key=lambda r: r["seed"]) if r["gradient"] == g]
              for g in ("by hand", "autograd")}
    for gradient, values in finals.items():
        line = next(x for x in table.splitlines() if x.startswith(f"| gail | {gradient} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[2] == "2" and cells[3] == ", ".join(f"{v:.2f}" for v in values)
        assert cells[6] == str(sum(v < 0.8 for v in values))
