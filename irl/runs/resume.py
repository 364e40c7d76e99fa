"""Checkpoints of a run folder, and reading one back for ``irl fit --resume`` / ``irl train --resume``.

While a resumable algorithm runs, :class:`RunCheckpoints` hands it an :class:`irl.checkpoint.Checkpoint`
whose saves land in the run folder: the first writes ``status.json`` (running, with the command
that resumes), then ``config.json`` (everything needed to start the run again), then
``checkpoint.npz``; each later one replaces ``checkpoint.npz`` and updates the status, every file
through a rename, so a kill at any moment leaves the previous checkpoint whole. Ctrl-C and
SIGTERM (:func:`stop_on_signals`) ask the algorithm to save at the end of its iteration and stop;
a second one stops at once. :func:`open_resume` reads a folder back and checks that it can go on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from irl._json import to_jsonable
from irl.checkpoint import Checkpoint, CheckpointError, RunInterrupted, read_checkpoint, write_checkpoint
from irl.runs.folders import (
    CHECKPOINT,
    CHECKPOINT_EVERY,
    CHECKPOINT_SECONDS,
    STATUS,
    RunDirError,
    is_alive,
    read_status,
    release_run_dir,
    write_json_atomic,
    write_status,
)

__all__ = ["DEFAULT_EVERY", "DEFAULT_SECONDS", "NONE", "ResumeError", "RunCheckpoints", "check_call", "check_intervals", "file_digest", "open_resume",
           "restore_errors", "resume_command", "resumed_config", "settle_failed_run", "stop_on_signals"]

#: ``type(None)``, for the types of a run's "call" that may be null (:func:`check_call`)
NONE = type(None)
#: checkpoint every this many iterations or seconds, whichever comes first
DEFAULT_EVERY, DEFAULT_SECONDS = CHECKPOINT_EVERY, CHECKPOINT_SECONDS


class ResumeError(ValueError):
    """A run folder cannot be resumed (finished, still running, not a checkpointed run, changed inputs)."""


def resume_command(command: str, run_dir: Path) -> str:
    """The one command that resumes ``run_dir``: ``irl fit --resume DIR`` or ``irl train --resume DIR``."""
    return f"irl {command} --resume {shlex.quote(str(run_dir))}"


def check_intervals(every: Any, seconds: Any, error: type[Exception]) -> None:
    """``error`` unless ``every`` and ``seconds`` are each a positive number or None."""
    for name, value in (("checkpoint_every", every), ("checkpoint_seconds", seconds)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not value > 0):
            raise error(f"{name} must be a positive number or None, got {value!r}")


def check_call(call: Any, types: dict[str, tuple[type, ...]], path: Path, command: str) -> dict[str, Any]:
    """``call`` (a run's ``config.json`` "call": the arguments it started with) as a dict whose keys are exactly
    ``types``' and whose values have those types; :class:`ResumeError` naming the first that does not."""
    if not isinstance(call, dict) or set(call) != set(types):
        raise ResumeError(f"--resume: {path}: its 'call' is not one irl {command} made (keys "
                          f"{', '.join(sorted(types))})")
    for key, kinds in types.items():
        value = call[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "an object",
                     type(None): "null"}
            raise ResumeError(f"--resume: {path}: call.{key} is {json.dumps(value)[:80]}, not "
                              f"{' or '.join(names[k] for k in kinds)}")
    return dict(call)


def resumed_config(saved: dict[str, Any], digest: str | None, demos: Any, error: type[Exception]) -> dict[str, Any]:
    """The run's saved ``config.json`` with this resume's time added to ``resumed``; ``error`` when the demo file
    (``demos``, whose sha256 is now ``digest``) changed since the run started."""
    if saved.get("demos_sha256") != digest:
        raise error(f"--resume: the demo file {demos} changed since the run started (its sha256 differs); resuming "
                    "needs the same file")
    return {**saved, "resumed": [*saved.get("resumed", []), datetime.now().isoformat(timespec="seconds")]}


def file_digest(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes (a resumed run checks its demo file did not change)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RunCheckpoints:
    """The checkpoints of one run folder (module docstring).

    Args:
        run_dir: the claimed run folder.
        command: ``"fit"`` or ``"train"`` (for the resume command).
        run_config: written as ``config.json`` at the first save; it must hold what resuming needs.
        run_state: returns the run layer's own state to save beside the algorithm's (e.g. its log).
        every, seconds: how often to save (:class:`irl.checkpoint.Checkpoint`).
        restored: the checkpoint being resumed (``{"algo", "run", "iteration"}``), or None.
    """

    def __init__(self, run_dir: Path, command: str, run_config: dict[str, Any], run_state: Callable[[], Any], *,
                 every: int | None = DEFAULT_EVERY, seconds: float | None = DEFAULT_SECONDS,
                 restored: dict[str, Any] | None = None) -> None:
        self.run_dir, self.run_config, self.run_state = Path(run_dir), run_config, run_state
        self.resume = resume_command(command, self.run_dir)
        self.written = restored is not None  # the folder holds this run's checkpoint
        self.iteration: int | None = None if restored is None else int(restored["iteration"])
        self.checkpoint = Checkpoint(self._store, restored=None if restored is None else restored["algo"],
                                     every=every, seconds=seconds)
        self.previous: dict[str, Any] | None = None  # a resumed folder's status before this process took it
        if restored is not None:  # taken now: a second --resume, eval, --reward see it running
            self.previous = read_status(self.run_dir)
            write_status(self.run_dir, "running", iteration=self.iteration, resume=self.resume)

    def _store(self, iteration: int, state: dict[str, Any]) -> None:
        if not self.written:
            write_status(self.run_dir, "running", iteration=None, resume=self.resume)
            write_json_atomic(self.run_dir / "config.json", to_jsonable(self.run_config))
            self.written = True
        write_checkpoint(self.run_dir / CHECKPOINT, {"algo": state, "run": self.run_state(), "iteration": iteration,
                                                     "made_by": self.run_config.get("algo")})
        self.iteration = iteration
        write_status(self.run_dir, "running", iteration=iteration, resume=self.resume)

    def mark(self, state: str, error: str | None = None) -> None:
        """Marks the folder ``interrupted`` or ``failed`` (with ``error``) when it holds a checkpoint."""
        if self.written:
            fields: dict[str, Any] = {"iteration": self.iteration, "resume": self.resume}
            if error is not None:
                fields["error"] = error
            write_status(self.run_dir, state, **fields)


@contextlib.contextmanager
def stop_on_signals(checkpoint: Checkpoint) -> Iterator[None]:
    """While the block runs, the first Ctrl-C or SIGTERM asks ``checkpoint`` to save and stop at the end of the
    iteration; a second one raises ``KeyboardInterrupt`` at once. Outside the main thread, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        if checkpoint.stop_requested:
            raise KeyboardInterrupt
        checkpoint.request_stop("terminated" if signum == signal.SIGTERM else "interrupted")

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def restore_errors(checkpoint: Checkpoint | None, run_dir: Path) -> Iterator[None]:
    """Turns an error raised while an algorithm loads its checkpoint (a state that does not fit the run: a
    damaged or edited checkpoint) into one :class:`ResumeError`."""
    try:
        yield
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
        if checkpoint is None or not checkpoint.restoring:
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ResumeError(f"--resume: the checkpoint in {run_dir} does not fit this run "
                          f"({type(exc).__name__}: {text[:200]})") from None


def settle_failed_run(run_dir: Path, claimed: bool, ckpts: RunCheckpoints | None, exc: BaseException) -> None:
    """After a run stopped with ``exc``: a folder holding a checkpoint is marked interrupted (Ctrl-C, SIGTERM)
    or failed (anything else) and ``exc`` gets a note with the command that resumes; a claimed folder with no
    checkpoint is released (removed). A checkpoint that did not load (:class:`ResumeError`) changes nothing."""
    if isinstance(exc, ResumeError):  # the checkpoint did not load: the folder goes back to what it was
        if ckpts is not None and ckpts.previous is not None:
            write_json_atomic(ckpts.run_dir / STATUS, ckpts.previous)
        return
    if ckpts is not None and ckpts.written:
        interrupted = isinstance(exc, RunInterrupted | KeyboardInterrupt | SystemExit)
        try:
            ckpts.mark("interrupted" if interrupted else "failed", None if interrupted else f"{type(exc).__name__}: "
                       f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
        except OSError:
            pass
        at = f"the checkpoint of iteration {ckpts.iteration}" if ckpts.iteration is not None else "its checkpoint"
        exc.add_note(f"{ckpts.run_dir} keeps {at}; resume with: {ckpts.resume}")
    elif claimed:
        release_run_dir(run_dir)


def open_resume(run_dir: str | os.PathLike[str], command: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``config.json`` and the checkpoint of a run folder that ``irl <command> --resume`` can continue.

    Raises :class:`ResumeError` with one line for a folder that is finished, still running,
    was made by the other command, or holds no readable checkpoint.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResumeError(f"--resume {run_dir}: no such run folder")
    try:
        status = read_status(run_dir)
    except RunDirError as exc:
        raise ResumeError(f"--resume: {exc}") from None
    if status is None:
        if (run_dir / "config.json").is_file():
            raise ResumeError(f"--resume {run_dir}: the run is finished (written without checkpoints)")
        raise ResumeError(f"--resume {run_dir}: not a run folder with a checkpoint (no status.json); a run "
                          "interrupted before its first checkpoint leaves nothing to resume")
    state = status["state"]
    if state == "done":
        raise ResumeError(f"--resume {run_dir}: the run is finished; nothing to resume")
    if state == "running" and is_alive(status):
        raise ResumeError(f"--resume {run_dir}: the run is still running (pid {status.get('pid')}); stop it first "
                          "(Ctrl-C or kill -TERM writes a checkpoint)")
    path = run_dir / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResumeError(f"--resume {run_dir}: no config.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ResumeError(f"--resume: {path} cannot be read: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(config, dict) or not isinstance(config.get("call"), dict):
        raise ResumeError(f"--resume: {path} does not say how the run was started (no 'call' object)")
    if config.get("run_kind") != command:
        other = config.get("run_kind")
        raise ResumeError(f"--resume {run_dir}: a run of irl {other}; resume it with irl {other} --resume")
    try:
        checkpoint = read_checkpoint(run_dir / CHECKPOINT)
    except CheckpointError as exc:
        raise ResumeError(f"--resume: {exc}") from None
    if not isinstance(checkpoint.get("algo"), dict) or isinstance(checkpoint.get("iteration"), bool) \
            or not isinstance(checkpoint.get("iteration"), int) or "run" not in checkpoint:
        raise ResumeError(f"--resume: {run_dir / CHECKPOINT} is not a run checkpoint (lacks algo, run or iteration)")
    if checkpoint.get("made_by") != config.get("algo"):
        raise ResumeError(f"--resume: {run_dir / CHECKPOINT} was made by {checkpoint.get('made_by')!r}, but "
                          f"config.json names algorithm {config.get('algo')!r}")
    return config, checkpoint
