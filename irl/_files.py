"""Atomic file writes shared by every layer (demo files, rewards, policies, run folders)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomic(path: str | os.PathLike[str], write: Callable[[Any], Any]) -> Path:
    """Write ``path`` through ``write(binary file)`` into a temp file beside it, then rename.

    A reader sees the old file or the complete new one, never a half-written one; on
    any error the temp file is removed and the old file is untouched. ``write`` gets an
    open file, so ``numpy.savez`` does not append ``.npz`` to the temp name.
    """
    path = Path(path)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as tmp:
        tmp_path = Path(tmp.name)
        try:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        except BaseException:
            tmp.close()
            tmp_path.unlink(missing_ok=True)
            raise
    try:
        os.chmod(tmp_path, 0o644)  # NamedTemporaryFile makes the file private (0600)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path
