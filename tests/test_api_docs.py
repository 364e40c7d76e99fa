"""The API reference (README.md, "API reference") builds from the docstrings with no warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_pdoc_builds_the_api_reference_without_warnings(tmp_path):
    pytest.importorskip("pdoc")
    command = [sys.executable, "-W", "always", "-m", "pdoc", "irl", "--docformat", "restructuredtext",
               "-o", str(tmp_path)]
    res = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr[-5000:]
    page = (tmp_path / "irl" / "data.html").read_text(encoding="utf-8")
    assert "load_demos" in page and "DemoFormatError" in page
    assert (tmp_path / "irl" / "inverse" / "maxent.html").is_file()
