"""Memory guards: refuse work whose estimated size cannot fit, before allocating it.

A demo file that declares a 10¹²-element array, a horizon of 10⁹ steps or a
gridworld of 10¹⁰ cells must end with one clear line, not a ``MemoryError`` (or
the machine swapping). :func:`check_fits` compares an estimate in bytes with
:func:`memory_limit`: the memory available now, or ``IRL_MEMORY_LIMIT`` (bytes,
or a number with a K/M/G/T suffix) when that is set.
"""

from __future__ import annotations

import os

_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class MemoryLimitError(ValueError):
    """The estimated memory of a request exceeds what is available (message says how much of each)."""


def _parse_bytes(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    suffix = t[-1] if t and t[-1] in _SUFFIXES else ""
    number = t[: len(t) - len(suffix)] if suffix else t
    try:
        value = float(number) * _SUFFIXES[suffix]
    except ValueError:
        raise MemoryLimitError(f"IRL_MEMORY_LIMIT={text!r} is not a size (e.g. 4G, 512M, 1000000)") from None
    if not value > 0:
        raise MemoryLimitError(f"IRL_MEMORY_LIMIT={text!r} must be positive")
    return int(value)


def available_memory() -> int:
    """Bytes of memory available now: MemAvailable of /proc/meminfo, else free physical pages."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**63 - 1  # unknown: do not refuse


def memory_limit() -> int:
    """The byte budget that :func:`check_fits` enforces (``IRL_MEMORY_LIMIT`` or :func:`available_memory`)."""
    text = os.environ.get("IRL_MEMORY_LIMIT")
    return _parse_bytes(text) if text else available_memory()


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human string (``"1.5 GiB"``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"


def check_fits(nbytes: float, what: str, *, hint: str = "", limit: int | None = None) -> None:
    """Raise :class:`MemoryLimitError` when ``nbytes`` (an estimate) exceeds ``limit`` (default
    :func:`memory_limit`).

    ``what`` names the request, e.g. ``"a finite-horizon solve of 10⁹ steps x 48 states x 4 actions"``.
    """
    limit = memory_limit() if limit is None else limit
    if nbytes > limit:
        tail = f"; {hint}" if hint else ""
        raise MemoryLimitError(
            f"{what} needs about {format_bytes(nbytes)}, more than the {format_bytes(limit)} of memory "
            f"available{tail}"
        )
