"""Progress of long loops: a bar in a terminal, a plain line every few seconds in a log file.

``tqdm`` writes carriage-return bars, which turn a log file into one long line.
:func:`progress` picks: a ``tqdm`` bar when stderr is a terminal, otherwise a
line such as ``fit maxent: 120/500 it (24%), 12 s, loglik=-3.2`` every
``interval`` seconds (as Stable-Baselines3 and CleanRL log; ``IRL_PROGRESS_INTERVAL``
sets the default), and nothing when ``enabled`` is False (``--quiet``).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

#: seconds between two progress lines when stderr is not a terminal (``IRL_PROGRESS_INTERVAL`` overrides)
LINE_INTERVAL = 5.0


def _default_interval() -> float:
    try:
        return max(0.0, float(os.environ.get("IRL_PROGRESS_INTERVAL", LINE_INTERVAL)))
    except ValueError:
        return LINE_INTERVAL


class _Silent:
    disable = True

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        pass

    def close(self) -> None:
        pass


class LineProgress:
    """A progress report for a log: one line per ``interval`` seconds (and one at the end if any was printed)."""

    disable = False

    def __init__(self, total: int | None, desc: str, unit: str, stream: TextIO, interval: float) -> None:
        self.total, self.desc, self.unit, self.stream, self.interval = total, desc, unit, stream, interval
        self.n = 0
        self.start = self.last = time.monotonic()
        self.postfix: dict[str, Any] = {}
        self.printed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._line(now)

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self.postfix = values

    def close(self) -> None:
        if self.printed:
            self._line(time.monotonic(), done=True)
        self.printed = False

    def _line(self, now: float, done: bool = False) -> None:
        elapsed = now - self.start
        if self.total:
            head = f"{self.n}/{self.total} {self.unit} ({100.0 * self.n / self.total:.0f}%)"
        else:
            head = f"{self.n} {self.unit}"
        parts = [f"{self.desc}: {head}", f"{elapsed:.0f} s"]
        if not done and self.total and 0 < self.n < self.total:
            parts.append(f"~{elapsed * (self.total - self.n) / self.n:.0f} s left")
        parts += [f"{k}={v}" for k, v in self.postfix.items()]
        try:
            self.stream.write(", ".join(parts) + ("" if not done else ", done") + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not stop the work
            pass
        self.printed = True


def progress(
    total: int | None,
    desc: str,
    *,
    enabled: bool = True,
    unit: str = "it",
    stream: TextIO | None = None,
    interval: float | None = None,
) -> Any:
    """A progress reporter with ``update(n)``, ``set_postfix(**values)`` and ``close()``.

    Args:
        total: expected number of updates (None if unknown).
        desc: what is progressing, e.g. ``"fit maxent"``.
        enabled: False gives a reporter that prints nothing.
        unit: unit of one update.
        stream: where to write (default ``sys.stderr``).
        interval: seconds between lines when ``stream`` is not a terminal (default :data:`LINE_INTERVAL`,
            or ``IRL_PROGRESS_INTERVAL``).
    """
    if not enabled:
        return _Silent()
    stream = sys.stderr if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, leave=False, file=stream)
    return LineProgress(total, desc, unit, stream, _default_interval() if interval is None else interval)
