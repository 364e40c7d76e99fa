"""Plots of a run folder (matplotlib, Agg backend; written atomically)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from irl._files import write_atomic


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike[str]) -> None:
    """Writes ``fig`` as a PNG atomically, then closes it."""
    write_atomic(Path(path), lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
    _figure().close(fig)


def plot_reward_grid(
    path: str | os.PathLike[str],
    grid_shape: tuple[int, int],
    learned: np.ndarray,
    true: np.ndarray | None = None,
    *,
    title: str = "",
) -> None:
    """Heat-maps of the state reward (mean over actions) on the grid: true (if known) and learned.

    ``learned`` and ``true`` are ``(S, A)`` tables over the env's ``S = rows * cols`` cells,
    row-major. Each panel has its own colour scale (rewards are only defined up to
    scale and shift).
    """
    _save(reward_grid_figure(grid_shape, learned, true, title=title), path)


def reward_grid_figure(grid_shape: tuple[int, int], learned: np.ndarray, true: np.ndarray | None, *,
                       title: str):
    """The figure :func:`plot_reward_grid` saves (also TensorBoard's reward image), open and unsaved."""
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    plt = _figure()
    panels = [("learned", learned)] if true is None else [("true", true), ("learned", learned)]
    rows, cols = grid_shape
    # Height follows the grid's aspect (capped), so wide grids (CliffWalking 4x12) leave no gap.
    height = 1.0 + 3.2 * min(rows / cols, 1.5)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), height), squeeze=False)
    for ax, (name, table) in zip(axes[0], panels):
        grid = np.asarray(table, dtype=np.float64).mean(axis=-1).reshape(grid_shape)
        im = ax.imshow(grid, cmap="viridis")
        ax.set_title(f"{name} reward (mean over actions)")
        ax.set_xticks([])
        ax.set_yticks([])
        # A divider axes keeps the colour bar exactly as tall as the image.
        fig.colorbar(im, cax=make_axes_locatable(ax).append_axes("right", size="5%", pad=0.08))
    if title:
        fig.suptitle(title)
    fig.tight_layout()  # makes room for the suptitle above the panel titles
    return fig


def plot_margins(path: str | os.PathLike[str], margins: Sequence[float], *, title: str = "",
                 label: str = "margin t") -> None:
    """The margin per iteration of a margin method, ``label`` on the y axis (log if all are > 0, else linear)."""
    _save(_margins_figure(margins, title=title, label=label), path)


def _margins_figure(margins: Sequence[float], *, title: str, label: str = "margin t"):
    from matplotlib import ticker

    plt = _figure()
    values = np.asarray(margins, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(np.arange(len(values)), values, marker="o", ms=3)
    ax.set_xlabel("iteration")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_ylabel(label)
    if values.size and np.all(np.isfinite(values) & (values > 0)):
        # Log axis with limits on the 1-2-5 ladder, so at least two labelled ticks show
        # even when the margins stay within one decade (or are all equal).
        low, high = _ladder_bounds(values.min(), values.max())
        ax.set_yscale("log")
        ax.set_ylim(low / 1.1, high * 1.1)
        subs = (1.0, 2.0, 5.0) if high / low <= 1e3 else (1.0,)
        ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def _ladder_bounds(lo: float, hi: float) -> tuple[float, float]:
    """``(low, high)`` on the 1-2-5 ladder: the largest ``≤ lo``, then the smallest ``> low`` and ``≥ hi``."""
    ladder = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2)
              for m in (1, 2, 5)]
    low = max(v for v in ladder if v <= lo * (1 + 1e-9))
    return low, min(v for v in ladder if v > low and v >= hi * (1 - 1e-9))


def plot_learning_curve(path: str | os.PathLike[str], curve: Sequence[dict[str, Any]],
                        eval_return: float | None, *, title: str = "") -> None:
    """The true return per training episode against env steps, a running mean, and the evaluation return.

    ``curve`` holds one record per episode with ``step`` and ``true_return`` (``None`` when unknown).
    """
    _save(_learning_curve_figure(curve, eval_return, title=title), path)


def _learning_curve_figure(curve: Sequence[dict[str, Any]], eval_return: float | None, *, title: str):
    plt = _figure()
    steps = np.array([r["step"] for r in curve], dtype=float)
    returns = np.array([np.nan if r["true_return"] is None else r["true_return"] for r in curve],
                       dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(steps, returns, ".", alpha=0.4, label="episode return")
    if len(returns) >= 5:
        k = max(5, len(returns) // 20)
        smooth = np.convolve(returns, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], smooth, "-", label=f"mean of {k}")
    if eval_return is not None and math.isfinite(eval_return):
        ax.axhline(eval_return, color="k", linestyle="--", linewidth=1, label=f"eval {eval_return:.4g}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("true return")
    ax.set_title(title)
    ax.legend(loc="best")
    return fig
