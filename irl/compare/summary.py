"""Tables and plots of the reward-recovery leaderboard (`irl compare`).

Input is the per-cell DataFrame of a comparison grid: one row per (algo, task, n_demos, seed)
with ``status`` ("ok"/"failed"), ``source`` ("irl", "peer" or "check") and the metric columns
named in :data:`METRICS` (NaN where a metric does not apply). Everything here is a pure
function of that frame; the plots go to PNG through matplotlib's Agg backend, written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from irl.runs.plots import _figure as _plt
from irl.runs.plots import _save

#: metric column -> (header label, lower_is_better, decimals), in table order.
METRICS: dict[str, tuple[str, bool, int]] = {
    "epic": ("EPIC ↓", True, 3),
    "pearson": ("Pearson ↑", False, 3),
    "regret_hard": ("regret (hard) ↓", True, 3),
    "regret_soft": ("regret (soft) ↓", True, 3),
    "demo_log_likelihood": ("demo log-lik ↑", False, 2),
    "normalised_return": ("norm. return ↑", False, 3),
    "transfer_normalised_return": ("transfer norm. return ↑", False, 3),
    "wall_seconds": ("wall s ↓", True, 1),
}

#: sources that compete for bold; "check" rows (true reward + shaping, random reward) are references.
RANKED_SOURCES = ("irl", "peer")


def mean_ci(values: Iterable[float | None], confidence: float = 0.95) -> tuple[float, float, int]:
    """``(mean, half-width, n)`` of the Student's t interval over the finite ``values``.

    The half-width is ``t.ppf((1 + confidence) / 2, n - 1) * s / sqrt(n)`` with ``s`` the sample
    standard deviation; it is NaN when ``n == 1``, and the mean is NaN too when ``n == 0``.
    ``None`` counts as NaN.
    """
    from scipy import stats

    x = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(x[0]), math.nan, 1
    half = stats.t.ppf((1.0 + confidence) / 2.0, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return float(x.mean()), float(half), n


def _first_seen(values: Iterable) -> list:
    return list(dict.fromkeys(values))


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, n_demos, algo): ``<m>_mean``, ``<m>_ci``, ``<m>_n`` per metric of
    :data:`METRICS`, plus ``n_ok``, ``n_failed`` and ``source``.

    Only rows with status "ok" enter the means; every other status counts as failed. Tasks and
    algorithms keep the order in which they first appear in ``df``; n_demos ascend.
    """
    algo_rank = {a: i for i, a in enumerate(_first_seen(df["algo"]))}
    task_rank = {t: i for i, t in enumerate(_first_seen(df["task"]))}
    records = []
    for (task, n_demos, algo), group in df.groupby(["task", "n_demos", "algo"], sort=False):
        ok = group[group["status"] == "ok"]
        rec = {"task": task, "n_demos": int(n_demos), "algo": algo, "source": group["source"].iloc[0],
               "n_ok": len(ok), "n_failed": len(group) - len(ok)}
        for m in METRICS:
            col = ok.get(m, ())
            rec[f"{m}_mean"], rec[f"{m}_ci"], rec[f"{m}_n"] = mean_ci(col)
        records.append(rec)
    out = pd.DataFrame.from_records(records)
    if out.empty:
        return out
    key = [(task_rank[t], n, algo_rank[a]) for t, n, a in zip(out["task"], out["n_demos"], out["algo"])]
    return out.iloc[sorted(range(len(out)), key=key.__getitem__)].reset_index(drop=True)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(r) for r in rows)])


def _cell(rec: pd.Series | None, metric: str, bold: bool) -> str:
    """``mean ± ci`` (bold if asked), ``n/a`` without a value, with the failure count appended."""
    if rec is None:
        return "—"
    decimals = METRICS[metric][2]
    mean, ci = rec[f"{metric}_mean"], rec[f"{metric}_ci"]
    total = rec["n_ok"] + rec["n_failed"]
    failed = f"failed ({rec['n_failed']} of {total})"
    if rec["n_ok"] == 0:
        return failed
    if math.isfinite(mean):
        text = f"{mean:.{decimals}f}" + (f" ± {ci:.{decimals}f}" if math.isfinite(ci) else "")
        text = f"**{text}**" if bold else text
    else:
        text = "n/a"
    return f"{text}, {failed}" if rec["n_failed"] else text


def _best(means: pd.Series, lower_is_better: bool) -> set[int]:
    """Index labels holding the best finite mean (all of them on a tie)."""
    finite = means[np.isfinite(means.astype(float))]
    if finite.empty:
        return set()
    target = finite.min() if lower_is_better else finite.max()
    return set(finite.index[finite == target])


def markdown_tables(df: pd.DataFrame, metrics: Sequence[str] = (
        "epic", "regret_hard", "normalised_return", "transfer_normalised_return", "wall_seconds")) -> str:
    """One markdown table per task: rows = algorithms, columns = each n_demos × each metric.

    A cell reads ``mean ± ci`` (95% Student's t over seeds), ``n/a`` when the algorithm has no
    value for the metric, ``failed (k of n)`` (appended) when seeds failed, and ``—`` when the
    algorithm did not run at that number of demos. The best "irl"/"peer" mean per column is bold;
    "check" rows are never bold.
    """
    agg = aggregate(df)
    blocks = []
    for task in _first_seen(agg["task"]) if not agg.empty else ():
        rows = agg[agg["task"] == task]
        ns = sorted(rows["n_demos"].unique())
        algos = _first_seen(rows["algo"])
        header = ["algorithm", "source"] + [f"{METRICS[m][0]} ({n} demo{'s' if n != 1 else ''})"
                                            for n in ns for m in metrics]
        lookup = {(r["n_demos"], r["algo"]): r for _, r in rows.iterrows()}
        bold: dict[tuple[int, str], set] = {}
        for n in ns:
            ranked = rows[(rows["n_demos"] == n) & rows["source"].isin(RANKED_SOURCES) & (rows["n_ok"] > 0)]
            for m in metrics:
                bold[(n, m)] = set(ranked.loc[list(_best(ranked[f"{m}_mean"], METRICS[m][1])), "algo"])
        body = []
        for algo in algos:
            source = next(r["source"] for (n, a), r in lookup.items() if a == algo)
            body.append([algo, source] + [_cell(lookup.get((n, algo)), m, algo in bold[(n, m)])
                                          for n in ns for m in metrics])
        task_df = df[df["task"] == task]
        per_cell = task_df.groupby(["n_demos", "algo"])["seed"].nunique()
        lo, hi = int(per_cell.min()), int(per_cell.max())
        n_seeds = f"{hi} seed{'s' if hi != 1 else ''}" if lo == hi else f"{lo}–{hi} seeds"
        temps = pd.to_numeric(task_df.get("temperature", pd.Series(dtype=float)), errors="coerce").dropna()
        temp = f" Demonstrator temperature {temps.iloc[0]:g}." if temps.nunique() == 1 else ""
        note = (f"_{n_seeds} per cell; ± is the half-width of the 95% "
                f"Student's t interval over seeds; **bold** = best irl/peer method per column (check rows "
                f"are references, never bold); — = not run.{temp}_")
        blocks.append(f"### {task}\n\n{_markdown_table(header, body)}\n\n{note}")
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def peer_verdict(df: pd.DataFrame) -> list[str]:
    """Per (task, n_demos) where a "peer" row ran ok: our best "irl" method against it.

    The score is mean EPIC (lower is better) where the peer has one, else the mean normalised
    return (higher is better; e.g. GAIL on a continuous task). Each line says "ahead"/"behind"
    and by how much, with the mean wall seconds of both. Empty without peer rows.
    """
    if "source" not in df or not (df["source"] == "peer").any():
        return []
    agg = aggregate(df)
    lines = []
    for peer in agg[(agg["source"] == "peer") & (agg["n_ok"] > 0)].itertuples():
        where = f"{peer.task}, {peer.n_demos} demos"
        metric = "epic" if math.isfinite(peer.epic_mean) else "normalised_return"
        label, lower, decimals = METRICS[metric]
        ours = agg[(agg["task"] == peer.task) & (agg["n_demos"] == peer.n_demos) & (agg["source"] == "irl")]
        ours = ours[np.isfinite(ours[f"{metric}_mean"].astype(float))]
        theirs = getattr(peer, f"{metric}_mean")
        if ours.empty or not math.isfinite(theirs):
            lines.append(f"{where}: no EPIC or normalised return to compare with {peer.algo}.")
            continue
        best = ours.loc[ours[f"{metric}_mean"].idxmin() if lower else ours[f"{metric}_mean"].idxmax()]
        gap = theirs - best[f"{metric}_mean"]
        ahead = gap > 0 if lower else gap < 0
        verdict = "level" if gap == 0 else f"{'ahead' if ahead else 'behind'} by {abs(gap):.{decimals}f}"
        name = label.rstrip(" ↑↓")
        lines.append(f"{where}: ours ({best['algo']}) {name} {best[f'{metric}_mean']:.{decimals}f} vs {peer.algo} "
                     f"{theirs:.{decimals}f}: {verdict}; wall "
                     f"{best['wall_seconds_mean']:.1f} s vs {peer.wall_seconds_mean:.1f} s.")
    return lines


def _empty(ax, text: str = "n/a") -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.5")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_curves(df: pd.DataFrame, path: str | os.PathLike[str],
                metrics: Sequence[str] = ("epic", "regret_hard")) -> None:
    """Mean ± 95% CI of each metric against the number of demos: a row per metric, a column per task.

    x is log-scaled with more than 2 distinct n_demos in a task, else categorical; one line per
    algorithm (check rows dashed, grey), small horizontal offsets keep the error bars apart.
    """
    plt = _plt()
    agg = aggregate(df)
    tasks = _first_seen(agg["task"]) if not agg.empty else ["(no rows)"]
    algos = _first_seen(agg["algo"]) if not agg.empty else []
    palette = plt.get_cmap("tab10")
    checks = [a for a in algos if (agg.loc[agg["algo"] == a, "source"] == "check").any()]
    ranked = [a for a in algos if a not in checks]
    colours = {a: (palette(i % 10), "-") for i, a in enumerate(ranked)}
    colours.update({a: (("0.3", "0.55", "0.75")[i % 3], "--") for i, a in enumerate(checks)})
    fig, axes = plt.subplots(len(metrics), len(tasks), figsize=(4.2 * len(tasks), 3.2 * len(metrics)),
                             squeeze=False)
    handles: dict[str, object] = {}
    for j, task in enumerate(tasks):
        rows = agg[agg["task"] == task] if not agg.empty else agg
        ns = sorted(rows["n_demos"].unique()) if not rows.empty else []
        log_x = len(ns) > 2
        for i, m in enumerate(metrics):
            ax = axes[i, j]
            ax.set_title(task if i == 0 else "")
            ax.set_ylabel(METRICS[m][0] if j == 0 else "")
            if rows.empty or not np.isfinite(rows[f"{m}_mean"].astype(float)).any():
                _empty(ax)
                continue
            finite = rows[np.isfinite(rows[f"{m}_mean"].astype(float))]
            present = [a for a in algos if (finite["algo"] == a).any()]
            for a, algo in enumerate(present):
                sub = finite[finite["algo"] == algo]
                shift = (a - (len(present) - 1) / 2) * (0.02 if log_x else 0.05)  # keeps error bars apart
                xs = [n * 10 ** shift if log_x else ns.index(n) + shift for n in sub["n_demos"]]
                colour, style = colours[algo]
                handles[algo] = ax.errorbar(xs, sub[f"{m}_mean"], yerr=sub[f"{m}_ci"].fillna(0.0),
                                            color=colour, linestyle=style, marker="o", ms=4, capsize=3,
                                            label=algo)
            if log_x:
                ax.set_xscale("log")
                ax.set_xticks(ns, [str(n) for n in ns])
                ax.minorticks_off()
            else:
                ax.set_xticks(range(len(ns)), [str(n) for n in ns])
                ax.set_xlim(-0.5, len(ns) - 0.5)
            ax.grid(alpha=0.3)
            if i == len(metrics) - 1:
                ax.set_xlabel("number of demos")
    fig.tight_layout()
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.0, 0.5))
    _save(fig, path)


def plot_heatmaps(panels: Sequence[tuple[str, tuple[int, int], np.ndarray, np.ndarray]],
                  path: str | os.PathLike[str]) -> None:
    """True and learned state reward side by side, one row per ``(title, grid_shape, true, learned)``.

    The learned reward is min-max scaled to [0, 1] (rewards are defined only up to scale and
    shift); each image has its own colour bar.
    """
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    plt = _plt()
    heights = [1.0 + 3.2 * min(shape[0] / shape[1], 1.5) for _, shape, _, _ in panels] or [1.5]
    fig, axes = plt.subplots(len(heights), 2, figsize=(8.4, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    if not panels:
        _empty(axes[0, 0], "no panels")
        _empty(axes[0, 1], "no panels")
    for row, (title, shape, true, learned) in zip(axes, panels):
        learned = np.asarray(learned, dtype=np.float64).reshape(shape)
        span = np.nanmax(learned) - np.nanmin(learned)
        scaled = (learned - np.nanmin(learned)) / span if span > 0 else np.zeros_like(learned)
        images = [(f"{title}: true", np.asarray(true, dtype=np.float64).reshape(shape)),
                  (f"{title}: learned (min-max scaled)", scaled)]
        for ax, (name, grid) in zip(row, images):
            im = ax.imshow(grid, cmap="viridis")
            ax.set_title(name, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, cax=make_axes_locatable(ax).append_axes("right", size="5%", pad=0.08))
    fig.tight_layout()
    _save(fig, path)
