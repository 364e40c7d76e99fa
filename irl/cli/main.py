"""``irl``: one command with subcommands.

Every failure the user can fix ends with one line ``irl: error: ...`` and exit code 2;
a numerical failure (a NaN or inf, memory) with one line and exit code 1; Ctrl-C with
exit code 130 and SIGTERM with 143, after the run in progress has removed its
temporary files. A traceback means a bug in irl. The console script
(``_irl_launcher``) holds Ctrl-C back while this module loads, and :func:`main` while
torch loads, so an interrupt during start-up is one line too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator

from irl import __version__


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so every ``finally`` and cleanup runs."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


def build_parser() -> argparse.ArgumentParser:
    from irl.cli import compare, demos, fit, train
    from irl.cli.common import LazyEpilogParser

    parser = LazyEpilogParser(
        prog="irl",
        description="Inverse reinforcement learning workbench: learn the reward behind demonstrations.",
    )
    parser.add_argument("--version", action="version", version=f"irl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=LazyEpilogParser)
    demos.add_parser(sub)
    fit.add_parser(sub)
    train.add_parser(sub)
    compare.add_parser(sub)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input rather than a bug in irl (exit code 2)."""
    import gymnasium

    from irl._memory import MemoryLimitError
    from irl.cli.common import CLIError
    from irl.compare.config import CompareConfigError
    from irl.data import DemoFormatError, EnvIdError
    from irl.envs import EnvError, MDPError
    from irl.rewards import RewardFormatError
    from irl.runs.configs import ConfigError
    from irl.runs.fit import FitError
    from irl.runs.folders import RunDirError
    from irl.runs.generate import GenerateError
    from irl.runs.resume import ResumeError
    from irl.runs.train import TrainError
    from irl.solvers.policy_io import PolicyFormatError

    return (
        CLIError, DemoFormatError, EnvIdError, EnvError, MDPError, GenerateError, FitError, RewardFormatError,
        PolicyFormatError, RunDirError, ResumeError, TrainError, ConfigError, CompareConfigError, MemoryLimitError,
        gymnasium.error.Error,
        FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError,
    )


def _print_notes(exc: BaseException) -> None:
    """The notes a run added to its exception (where its checkpoint is, the command that resumes it)."""
    for note in getattr(exc, "__notes__", ()):
        print(f"irl: {note}", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        return _main(argv)
    except _Terminated as exc:
        print("irl: terminated", file=sys.stderr)
        _print_notes(exc)
        return 143
    except KeyboardInterrupt as exc:
        print("irl: interrupted", file=sys.stderr)
        _print_notes(exc)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `irl demos info FILE | head -2`): stop quietly, as cat or grep do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _held_interrupts() -> Iterator[None]:
    """Hold Ctrl-C back while C extensions load (an interrupt inside one can abort the interpreter),
    then raise it as KeyboardInterrupt."""
    if not _main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt


def _main(argv: list[str] | None) -> int:
    with _held_interrupts():  # the parser lists solvers and algorithms (torch); every command needs these too
        parser = build_parser()
        import irl.data  # noqa: F401  (numpy, gymnasium)
        import irl.envs  # noqa: F401  (torch, scipy)
    args = parser.parse_args(argv)
    from irl._checks import NonFiniteError
    from irl.checkpoint import RunInterrupted

    user_errors = _user_errors()
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except RunInterrupted as exc:  # Ctrl-C or SIGTERM, honoured at the end of an iteration after a checkpoint
        print(f"irl: {exc}", file=sys.stderr)
        _print_notes(exc)
        return 143 if exc.reason == "terminated" else 130
    except user_errors as exc:
        print(f"irl: error: {_one_line(exc)}", file=sys.stderr)
        _print_notes(exc)
        return 2
    except NonFiniteError as exc:
        kept = bool(getattr(exc, "__notes__", None))  # a run folder kept its last checkpoint
        print(f"irl: error: {_one_line(exc)}{'' if kept else '; nothing was written'}", file=sys.stderr)
        _print_notes(exc)
        return 1
    except (MemoryError, RecursionError) as exc:
        what = "out of memory" if isinstance(exc, MemoryError) else "input nested too deeply"
        kept = bool(getattr(exc, "__notes__", None))
        print(f"irl: error: {what} ({_one_line(exc)}){'' if kept else '; nothing was written'}", file=sys.stderr)
        _print_notes(exc)
        return 1


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
