"""Run folders shared by ``irl fit`` and ``irl train``: a fresh name, and an atomic write."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path


def new_run_dir(root: Path, name: str) -> Path:
    """``root/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... if taken); characters unsafe in a
    file name become ``-``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    base = root / f"{safe}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    run_dir, k = base, 1
    while run_dir.exists():
        k += 1
        run_dir = base.with_name(f"{base.name}-{k}")
    return run_dir


@contextmanager
def atomic_run_dir(run_dir: Path) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``run_dir``; on success rename it to ``run_dir``.

    On any error the temporary folder is removed and ``run_dir`` is untouched, so an
    interrupted or failed run leaves nothing behind. An existing *empty* ``run_dir`` (one
    the user made) is replaced; callers refuse a non-empty one before starting.
    """
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes the folder private
        yield tmp
        if run_dir.exists():
            run_dir.rmdir()
        os.replace(tmp, run_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
