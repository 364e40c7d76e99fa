"""Run folders shared by ``irl fit`` and ``irl train``: a name claimed atomically, an atomic write, a status.

A run folder is claimed when the run starts (``os.mkdir`` either creates it or fails,
so concurrent runs never share a name) and stays empty while the work runs, until the
run's first checkpoint. The result's files are written into a hidden temporary folder
beside it, which replaces the empty folder in one rename at the end. A failed or
interrupted run that never checkpointed removes its claim and its temporary folder, and
a temporary folder left by a killed process is removed by the next run in that place.

``status.json`` says what a folder holds: ``{"state": ..., "pid", "iteration", "resume", "updated"}``
with state

- ``running``: checkpointed at least once (``checkpoint.npz``, ``config.json``), still working, or
  killed (its ``pid`` is gone): ``irl fit --resume`` / ``irl train --resume`` continues it;
- ``interrupted``: stopped by Ctrl-C or SIGTERM after writing a checkpoint; resumable;
- ``failed``: stopped by an error after a checkpoint (``error`` says which); resumable;
- ``done``: finished; only then do ``irl eval``, ``--reward RUN`` and ``--policy RUN`` read it.

A finished run written in one rename holds ``status.json`` (done) from the start; one that
checkpointed gets its result files moved in one by one, ``status.json`` turning ``done`` last.
A folder with no ``status.json`` was written by a version without checkpoints, in one rename,
so it is a finished run too.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

#: checkpoint every this many iterations or this many seconds, whichever comes first (here, with no heavy
#: import, so that the CLI's parser can show them before torch loads)
CHECKPOINT_EVERY = 100
CHECKPOINT_SECONDS = 60.0
STATUS = "status.json"
CHECKPOINT = "checkpoint.npz"
STATES = ("running", "interrupted", "failed", "done")
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
def atomic_run_dir(run_dir: Path, *, merge: bool = False) -> Iterator[StagedRun]:
    """Yield a :class:`StagedRun` whose hidden ``path`` lies beside ``run_dir``; on success it is renamed.

    ``run_dir`` must be absent or an empty folder (claimed by :func:`claim_run_dir` or
    :func:`claim_out_dir`); the rename replaces it atomically. A finished result is never
    discarded: if ``run_dir`` holds files by then, ``run_dir-2`` (``-3``, ...) is used, and
    ``final`` says which. On any error or interruption the temporary folder is removed.

    ``merge``: ``run_dir`` holds this run's checkpoint; the staged files are moved into it one by
    one, ``status.json`` last, then the checkpoint is removed.
    """
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(run_dir.parent)
    staged = StagedRun(Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.tmp-{os.getpid()}-", dir=run_dir.parent)))
    try:
        os.chmod(staged.path, 0o755)  # mkdtemp makes the folder private
        yield staged
        staged.final = _merge_into(staged.path, run_dir) if merge else _rename_onto(staged.path, run_dir)
    except BaseException:
        shutil.rmtree(staged.path, ignore_errors=True)
        raise


def _merge_into(tmp: Path, run_dir: Path) -> Path:
    """Moves the files of ``tmp`` into ``run_dir`` (``status.json`` last), removes the checkpoint and ``tmp``."""
    names = sorted(p.name for p in tmp.iterdir())
    for name in [n for n in names if n != STATUS] + [n for n in names if n == STATUS]:
        target = run_dir / name
        if target.is_dir() and not (tmp / name).is_dir():
            shutil.rmtree(target)
        os.replace(tmp / name, target)
    (run_dir / CHECKPOINT).unlink(missing_ok=True)
    tmp.rmdir()
    return run_dir


# -- status.json
def write_status(run_dir: Path, state: str, **fields: Any) -> dict[str, Any]:
    """Writes ``run_dir/status.json`` atomically: ``state`` (one of :data:`STATES`), this process's pid,
    the time, and ``fields``; returns what it wrote."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}, got {state!r}")
    status = {"state": state, "pid": os.getpid(), "updated": datetime.now().isoformat(timespec="seconds"), **fields}
    write_json_atomic(run_dir / STATUS, status)
    return status


def write_json_atomic(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON at ``path``, through a temporary file renamed over it."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """The ``status.json`` of ``run_dir`` (None when it has none); :class:`RunDirError` if unreadable."""
    path = Path(run_dir) / STATUS
    if not path.exists():
        return None
    try:
        status = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RunDirError(f"{path} cannot be read: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(status, dict) or status.get("state") not in STATES:
        raise RunDirError(f"{path}: 'state' must be one of {', '.join(STATES)}")
    return status


def is_alive(status: dict[str, Any]) -> bool:
    """Whether the process a ``running`` status names is still alive (on this machine)."""
    pid = status.get("pid")
    return isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 and pid != os.getpid() and _alive(pid)


def require_finished(run_dir: Path, what: str) -> None:
    """:class:`RunDirError` unless ``run_dir`` is a finished run (status done, or no status: see the module
    docstring). ``what`` names the option that read it (``irl eval --run``, ``--reward``, ...)."""
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    if status is None or status["state"] == "done":
        return
    state = status["state"]
    if state == "running" and not is_alive(status):
        state = "killed while running"
    elif state == "running":
        state = f"still running (pid {status.get('pid')})"
    iteration = status.get("iteration")
    at = f" after iteration {iteration}" if isinstance(iteration, int) else ""
    resume = status.get("resume")
    hint = f"; resume it with: {resume}" if isinstance(resume, str) and "running (pid" not in state else ""
    raise RunDirError(f"{what} {run_dir}: not a finished run ({state}{at}){hint}")


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
