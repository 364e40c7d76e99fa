"""experiments/bench_adversarial.py end to end on tiny budgets: the offline methods' rows and the table."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_rows_for_offline_methods(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "bench_adversarial.py"), "--envs", "CartPole-v1", "--demos", "1",
         "--methods", "bc", "iq-learn", "--seeds", "0", "--steps", "CartPole-v1:bc=500", "CartPole-v1:iq-learn=500",
         "--out", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())
    assert [(r["method"], r["demos"], r["steps"]) for r in rows] == [("bc", 1, 500), ("iq-learn", 1, 500)]
    for row in rows:
        assert "error" not in row
        assert math.isfinite(row["final"]) and math.isfinite(row["seconds"]) and row["seconds"] > 0
        # offline: evaluated every 500 gradient steps, never an env step
        assert [p[0] for p in row["curve"]] == [0]
        assert row["steps_to"] in (0, None) and (row["updates_to"] is None) == (row["steps_to"] is None)
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("| library | env | demos | method |")
    assert "| irl | CartPole-v1 | 1 | bc | demos only | 1 | 500 updates |" in proc.stdout
    assert "| irl | CartPole-v1 | 1 | iq-learn | demos only | 1 | 500 updates |" in proc.stdout


def test_bench_rejects_a_bad_budget(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench_adversarial.py"), "--steps",
                           "CartPole-v1:nope=5"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "--steps CartPole-v1:nope=5: expected ENV:METHOD=N" in proc.stderr
