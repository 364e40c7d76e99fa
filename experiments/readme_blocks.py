"""Generated blocks in markdown files: a figure in a README is written by the script that measures it.

A block is the text between two marker lines::

    <!-- begin generated: NAME -->
    ...
    <!-- end generated: NAME -->

:func:`write_block` replaces that text (the markers stay) and nothing else. The body
starts with the line :func:`header` makes: the command that wrote it, the date, how long
it ran and on what machine. The experiments scripts call these with ``--write-readme``.
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS_README = ROOT / "experiments" / "README.md"
TOP_README = ROOT / "README.md"
BEGIN = "<!-- begin generated: {} -->"
END = "<!-- end generated: {} -->"
MARKER = re.compile(r"^<!-- (begin|end) generated: (\S+) -->$")


class BlockError(ValueError):
    """The markers of a block are missing, duplicated or out of order."""


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the lines between the markers of block ``name`` replaced by ``body``."""
    lines = text.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN.format(name)]
    ends = [i for i, line in enumerate(lines) if line.strip() == END.format(name)]
    if len(begins) != 1 or len(ends) != 1:
        raise BlockError(f"block {name!r}: expected one begin and one end marker line, "
                         f"found {len(begins)} and {len(ends)}")
    if ends[0] < begins[0]:
        raise BlockError(f"block {name!r}: the end marker comes before the begin marker")
    body = body.strip("\n") + "\n"
    return "".join(lines[: begins[0] + 1]) + body + "".join(lines[ends[0]:])


def write_block(path: str | os.PathLike[str], name: str, body: str) -> None:
    """Replaces block ``name`` of the markdown file ``path`` with ``body``, atomically."""
    path = Path(path)
    text = replace_block(path.read_text(encoding="utf-8"), name, body)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Block:
    name: str
    begin: int  # line index (0-based) of the begin marker
    end: int  # line index of the end marker
    body: list[str]


def blocks(text: str) -> Iterator[Block]:
    """Every block of ``text`` in order; :class:`BlockError` on unpaired or nested markers."""
    lines = text.splitlines()
    open_name, open_at = None, -1
    for i, line in enumerate(lines):
        m = MARKER.match(line.strip())
        if not m:
            continue
        kind, name = m.groups()
        if kind == "begin":
            if open_name is not None:
                raise BlockError(f"line {i + 1}: block {name!r} begins inside block {open_name!r}")
            open_name, open_at = name, i
        else:
            if open_name != name:
                raise BlockError(f"line {i + 1}: end of block {name!r} without its begin")
            yield Block(name, open_at, i, lines[open_at + 1: i])
            open_name = None
    if open_name is not None:
        raise BlockError(f"block {open_name!r} is never closed")


# ------------------------------------------------------------------------------------ provenance
def command_line(argv: list[str] | None = None) -> str:
    """``python experiments/SCRIPT.py ARGS`` as the script was run (script path relative to the repo)."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        argv[0] = script.relative_to(ROOT).as_posix()
    except ValueError:
        pass
    return "python " + shlex.join(argv)


@dataclass
class Run:
    """When a script started and how loaded the machine was then; :meth:`header` closes it."""

    command: str = field(default_factory=command_line)
    started: float = field(default_factory=time.perf_counter)
    load_start: float = field(default_factory=lambda: os.getloadavg()[0])

    def header(self, torch_threads: int | str, busy: int = 1, today: datetime.date | None = None) -> str:
        """The first line of a block: command, date, duration, cores, threads, other load.

        ``busy`` is how many processes of this run kept a core busy; the load of other
        work is estimated from the 1-minute load average at the start (others only) and
        now (others + ``busy``).
        """
        return header(self.command, seconds=time.perf_counter() - self.started, torch_threads=torch_threads,
                      other_load=max(0.0, (self.load_start + os.getloadavg()[0] - busy) / 2), today=today)


def header(command: str, *, seconds: float, torch_threads: int | str, other_load: float,
           cores: int | None = None, today: datetime.date | None = None) -> str:
    cores = os.cpu_count() if cores is None else cores
    today = datetime.date.today() if today is None else today
    threads = f"{torch_threads} torch thread{'' if torch_threads == 1 else 's'}"
    shared = ("the machine was shared with other work" if other_load >= 0.5
              else "nothing else was running")
    return (f"Written by `{command}` on {today.isoformat()} in {duration(seconds)} "
            f"({cores} CPU cores, {threads}; load of other work about {other_load:.1f} runnable processes: "
            f"{shared}).")


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def seconds(x: float) -> str:
    """A wall time for a table: ``0.4 s``, ``12 s``, ``2.1 min``."""
    if x < 0.1:
        return f"{x:.2f} s"
    if x < 10:
        return f"{x:.1f} s"
    if x < 120:
        return f"{x:.0f} s"
    return f"{x / 60:.1f} min"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table; ``|`` in a cell is escaped."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(r) for r in rows)])
