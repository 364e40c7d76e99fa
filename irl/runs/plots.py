"""Plots of a run folder (matplotlib, Agg backend; written atomically)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from irl._files import write_atomic


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))


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
    plt = _figure()
    panels = [("learned", learned)] if true is None else [("true", true), ("learned", learned)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for ax, (name, table) in zip(axes[0], panels):
        grid = np.asarray(table, dtype=np.float64).mean(axis=-1).reshape(grid_shape)
        im = ax.imshow(grid, cmap="viridis")
        ax.set_title(f"{name} reward (mean over actions)")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title:
        fig.suptitle(title)
    _save(fig, Path(path))
    plt.close(fig)


def plot_margins(path: str | os.PathLike[str], margins: Sequence[float], *, title: str = "") -> None:
    """The margin ``t`` per iteration of a max-margin method."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(np.arange(len(margins)), np.asarray(margins, dtype=np.float64), marker="o", ms=3)
    ax.set_xlabel("iteration")
    ax.set_ylabel("margin t")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    _save(fig, Path(path))
    plt.close(fig)
