"""Run folders shared by ``irl fit`` and ``irl train``: a name claimed atomically, an atomic write.

A run folder is claimed when the run starts (``os.mkdir`` either creates it or fails,
so concurrent runs never share a name) and stays empty while the work runs. The
files are written into a hidden temporary folder beside it, which replaces the empty
folder in one rename at the end. So a folder with files in it is always a finished
run; a failed or interrupted run removes its claim and its temporary folder, and a
temporary folder left by a killed process is removed by the next run in that place.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

_TMP = re.compile(r"^\..+\.tmp-(\d+)-[^/]*$")
#: folders this process created to hold run folders (removed again if a failed run leaves them empty)
_CREATED: set[Path] = set()


class RunDirError(ValueError):
    """The run folder cannot be used (exists and is not empty, is a file, cannot be created)."""


def claim_run_dir(root: Path, name: str) -> Path:
    """Create and return a new empty folder ``root/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... if taken).

    Characters unsafe in a file name become ``-``. The folder is created with ``os.mkdir``,
    which fails if another process got there first; then the next suffix is tried.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    if not root.exists():
        root.mkdir(parents=True, exist_ok=True)
        _CREATED.add(root.resolve())
    base = f"{safe}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    for k in range(1, 10_000):
        run_dir = root / (base if k == 1 else f"{base}-{k}")
        try:
            os.mkdir(run_dir)
        except FileExistsError:
            continue
        return run_dir
    raise RunDirError(f"no free run folder name {base}-N under {root}")


def claim_out_dir(path: Path) -> bool:
    """Claim a run folder the user named: create it, or accept it if it is an empty folder.

    Returns True when this call created it (so a failed run removes it again). Raises
    :class:`RunDirError` if it is a file or a folder with anything in it.
    """
    if path.exists() and not path.is_dir():
        raise RunDirError(f"run folder {path} is a file; give a folder path")
    if path.is_dir():
        if any(path.iterdir()):
            raise RunDirError(f"run folder {path} exists and is not empty")
        return False
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True)
        _CREATED.update(p.resolve() for p in missing[1:])
    except FileExistsError:
        return claim_out_dir(path)
    except OSError as exc:
        raise RunDirError(f"run folder {path} cannot be created: {exc.strerror}") from None
    return True


def release_run_dir(run_dir: Path) -> None:
    """Remove a claimed run folder if it is still empty (the run failed before writing it), and the
    folders above it that the claim created, if they are empty too."""
    for folder in (run_dir, *run_dir.parents):
        if folder is not run_dir and folder.resolve() not in _CREATED:
            break
        try:
            folder.rmdir()
        except OSError:
            break
        _CREATED.discard(folder.resolve())


class StagedRun:
    """The temporary folder a run writes into (``path``), and where it ended up (``final``) once renamed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.final: Path | None = None


@contextmanager
def atomic_run_dir(run_dir: Path) -> Iterator[StagedRun]:
    """Yield a :class:`StagedRun` whose hidden ``path`` lies beside ``run_dir``; on success it is renamed.

    ``run_dir`` must be absent or an empty folder (claimed by :func:`claim_run_dir` or
    :func:`claim_out_dir`); the rename replaces it atomically. A finished result is never
    discarded: if ``run_dir`` holds files by then, ``run_dir-2`` (``-3``, ...) is used, and
    ``final`` says which. On any error or interruption the temporary folder is removed.
    """
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(run_dir.parent)
    staged = StagedRun(Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.tmp-{os.getpid()}-", dir=run_dir.parent)))
    try:
        os.chmod(staged.path, 0o755)  # mkdtemp makes the folder private
        yield staged
        staged.final = _rename_onto(staged.path, run_dir)
    except BaseException:
        shutil.rmtree(staged.path, ignore_errors=True)
        raise


def _rename_onto(tmp: Path, run_dir: Path) -> Path:
    target = run_dir
    for k in range(2, 10_000):
        try:
            os.replace(tmp, target)  # replaces an empty folder atomically; fails on a non-empty one
            return target
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
            target = run_dir.with_name(f"{run_dir.name}-{k}")
    raise RunDirError(f"no free folder name for the result beside {run_dir}")


def remove_stale_temps(parent: Path) -> None:
    """Remove temporary run folders in ``parent`` whose process is gone (killed during a final write)."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _TMP.match(entry.name)
        if match and entry.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
