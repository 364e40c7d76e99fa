"""TensorBoard logs of ``irl train``, ``irl fit`` and ``irl compare`` (the optional ``tensorboard`` package).

Each command logs to a folder of its own, apart from the run (or results) folder, so a failed run
never leaves a folder that looks finished: ``DIR/<run folder name>`` for train and fit,
``DIR/<results folder name>`` for compare. The writer opens at the first value, so a command that
fails before it has anything to log leaves nothing in ``DIR``; a fit that fails midway leaves the
values logged until then, never the final ones. Only finite real numbers are written (not bools,
None, NaN or ±inf: ``metrics.json`` keeps those).

Tags and steps:

- train: ``train/<field>`` for each training episode's record at its env step; ``eval/return`` at the end.
- fit: ``<algo>/<field>`` for each numeric field of each log entry, named as the algorithm logs it
  (``objective``, ``grad_norm``, ``log_likelihood``, ``margin``, ``disc_accuracy``, ``mean_return``, ...).
  The step is the entry's ``env_steps`` when it carries one (gail, airl, gcl, gan-gcl, online
  iq-learn), else its ``iteration``; the field used as the step is not written as a value. At the end,
  at the last step: ``<algo>/final/<metric>`` for each numeric value of ``metrics.json`` (epic,
  regret_hard, eval_return, ...) and, for a grid task, the image ``<algo>/reward``: the true (when
  known) and the learned state reward, the mean over actions, as in ``reward.png``.
- compare: ``<task>/<algo>/demos<N>/seed<S>/<metric>``, one point per finished cell and metric at step
  ``N``, written by the parent process as each cell's row comes back (local pool and Ray alike).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MISSING", "RunWriter", "entry_step", "finite_numbers", "log_cell", "log_fit_entry", "log_fit_result",
           "summary_writer_class"]

MISSING = "TensorBoard logs need the tensorboard package: pip install tensorboard"


def summary_writer_class(error: type[Exception]) -> type:
    """torch's ``SummaryWriter``; raises ``error(MISSING)`` when the tensorboard package is not installed."""
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise error(MISSING) from None
    return SummaryWriter


def finite_numbers(record: Mapping[str, Any], skip: Iterable[str] = ()) -> dict[str, float]:
    """The fields of ``record`` (less ``skip``) that are finite real numbers, as floats."""
    skip = set(skip)
    return {key: float(value) for key, value in record.items()
            if key not in skip and isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
            and math.isfinite(value)}


class RunWriter:
    """A ``SummaryWriter`` on ``log_dir``, opened at the first value written; remembers the last step."""

    def __init__(self, writer_class: type, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self.last_step = 0
        self._writer_class = writer_class
        self._writer: Any = None

    def _open(self) -> Any:
        if self._writer is None:
            self._writer = self._writer_class(log_dir=str(self.log_dir))
        return self._writer

    def scalars(self, prefix: str, record: Mapping[str, Any], step: int, *, skip: Iterable[str] = ()) -> None:
        """Each finite number in ``record`` (less ``skip``) as the scalar ``prefix/<field>`` at ``step``."""
        values = finite_numbers(record, skip)
        if values:
            writer = self._open()
            for key, value in values.items():
                writer.add_scalar(f"{prefix}/{key}", value, step)
        self.last_step = step

    def figure(self, tag: str, figure: Any, step: int) -> None:
        """A matplotlib figure as the image ``tag`` at ``step`` (the figure is closed)."""
        self._open().add_figure(tag, figure, global_step=step, close=True)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def entry_step(entry: Mapping[str, Any]) -> tuple[str, int]:
    """The field that is the x axis of a fit's log entry and its value: ``env_steps`` when the entry
    carries it, else ``iteration``."""
    key = "env_steps" if isinstance(entry.get("env_steps"), numbers.Real) else "iteration"
    return key, int(entry[key])


def log_fit_entry(board: RunWriter, algo: str, entry: Mapping[str, Any]) -> None:
    """One log entry of a fit as ``<algo>/<field>`` scalars (module docstring)."""
    key, step = entry_step(entry)
    board.scalars(algo, entry, step, skip=(key,))


def log_fit_result(board: RunWriter, algo: str, metrics: Mapping[str, Any],
                   grid: tuple[tuple[int, int], np.ndarray, np.ndarray | None] | None = None) -> None:
    """A finished fit's metrics as ``<algo>/final/<metric>`` and, with ``grid`` = (grid shape, learned
    ``(S, A)`` table, true ``(S, A)`` table or None), the reward heat-map ``<algo>/reward``, at the last step."""
    step = board.last_step
    board.scalars(f"{algo}/final", metrics, step)
    if grid is not None:
        from irl.runs.plots import reward_grid_figure

        shape, learned, true = grid
        board.figure(f"{algo}/reward", reward_grid_figure(shape, learned, true, title=algo), step)


def log_cell(board: RunWriter, task: str, algo: str, n_demos: int, seed: int, metrics: Mapping[str, Any]) -> None:
    """A finished leaderboard cell's metrics as ``<task>/<algo>/demos<N>/seed<S>/<metric>`` at step ``N``."""
    prefix = "/".join(_tag_part(part) for part in (task, algo, f"demos{n_demos}", f"seed{seed}"))
    board.scalars(prefix, metrics, int(n_demos))


def _tag_part(text: str) -> str:
    """``text`` with every run of characters TensorBoard does not keep in a tag made one ``_``."""
    return re.sub(r"[^-\w.]+", "_", str(text))
