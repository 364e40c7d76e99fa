"""Run a leaderboard grid on a local process pool or a Ray cluster, resumably, and write its outputs.

The results folder (``--out``; default ``experiments/results/<name>/`` beside a config kept in
``experiments/configs/``, else ``results/<name>/``)::

    cells/<cell_id>.json    one finished cell each, written atomically as it comes back
    invocations.jsonl       one line per run of the grid: when, how long, how many cells it ran
    demos/, experts/        the demo cache (:mod:`irl.compare.demos`)
    runs/<cell_id>/         each fit's run folder (cells never share one)
    results.csv             every cell of the config (and results.parquet when pyarrow is present)
    summary.md              mean ± 95% CI per task and number of demos, best per column in bold
    curves.png, heatmaps.png

With ``tensorboard``, this process also logs each cell's metrics as it comes back, in
``<tensorboard>/<results folder name>`` (:func:`irl.runs.tensorboard.log_cell`); cells finished by an
earlier run of the grid are not logged again.

Resuming: a cell whose ``cells/<cell_id>.json`` exists is not run again, so a killed run loses at
most the cells in flight. The cell id hashes the cell's settings, so changing an algorithm's
settings in the config reruns its cells. Every cell seeds its own draws: run alone, it gives the
same numbers as in the grid.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from irl._files import write_atomic
from irl.compare.cells import COLUMNS, METRIC_COLUMNS, run_cell
from irl.compare.config import Cell, CompareConfig
from irl.compare.demos import demo_stats, ensure_demos

__all__ = ["CompareOutcome", "default_out", "run_compare"]

BACKENDS = ("local", "ray")


@dataclasses.dataclass
class CompareOutcome:
    out: Path
    frame: Any  # pandas.DataFrame, one row per cell
    n_run: int  # cells run now (the rest came from the folder)
    n_failed: int
    seconds: float
    summary: str


def default_out(config: CompareConfig) -> Path:
    """``experiments/results/<name>`` for a config in ``experiments/configs/``, else ``results/<name>``."""
    if config.source is not None:
        where = Path(config.source).resolve().parent
        if where.name == "configs":
            return where.parent / "results" / config.name
    return Path("results") / config.name


def run_compare(config: CompareConfig, out: str | os.PathLike[str] | None = None, *, workers: int | None = None,
                backend: str = "local", address: str | None = None, peer_python: str | None = None,
                progress: bool = True, tensorboard: str | os.PathLike[str] | None = None) -> CompareOutcome:
    """Run every cell of ``config`` not finished yet in ``out``, then write the tables and plots; with
    ``tensorboard`` (a folder), log each cell's metrics there as it finishes (module docstring)."""
    import pandas as pd

    from irl.runs.tensorboard import RunWriter, log_cell, summary_writer_class

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    writer_class = None if tensorboard is None else summary_writer_class(ValueError)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    start = time.perf_counter()
    out = Path(out) if out is not None else default_out(config)
    (out / "cells").mkdir(parents=True, exist_ok=True)
    cells = config.cells(peer=peer_python is not None)
    demos = _prepare_demos(config, out, progress)
    done = {c.cell_id for c in cells if (out / "cells" / f"{c.cell_id}.json").exists()}
    pending = [c for c in cells if c.cell_id not in done]
    jobs = [(c, demos[(c.task.name, c.n_demos, c.seed)], out, peer_python) for c in pending]
    report = _reporter(len(pending), len(done), progress)
    execute = _run_ray if backend == "ray" else _run_local
    board = None if writer_class is None else RunWriter(writer_class, Path(tensorboard) / out.resolve().name)
    try:
        for row in execute(jobs, workers, address):
            write_atomic(out / "cells" / f"{row['cell_id']}.json",
                         lambda fh, row=row: fh.write((json.dumps(_plain(row), sort_keys=True) + "\n").encode()))
            if board is not None:
                log_cell(board, row["task"], row["algo"], row["n_demos"], row["seed"],
                         {k: row[k] for k in METRIC_COLUMNS})
            report(row)
    finally:
        report(None)
        if board is not None:
            board.close()
    rows = [json.loads((out / "cells" / f"{c.cell_id}.json").read_text()) for c in cells]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    summary = write_outputs(frame, out, config, demos)
    n_failed = int((frame["status"] != "ok").sum())
    seconds = time.perf_counter() - start
    log = {"finished": datetime.now().isoformat(timespec="seconds"), "seconds": round(seconds, 1),
           "cells_run": len(pending), "cells": len(cells), "workers": workers, "backend": backend,
           "load_at_end": round(os.getloadavg()[0], 1)}  # 1-minute load average: how busy the machine was
    with open(out / "invocations.jsonl", "a") as fh:  # one line per run of the grid: its time survives resuming
        fh.write(json.dumps(log) + "\n")
    return CompareOutcome(out, frame, len(pending), n_failed, seconds, summary)


def _prepare_demos(config: CompareConfig, out: Path, progress: bool) -> dict[tuple[str, int, int], Path]:
    """Every demo file of the grid, made in this process before any cell runs (cached)."""
    paths = {}
    for task in config.tasks:
        for n in config.demos:
            for seed in config.seeds:
                if progress:
                    print(f"demos: {task.name}, {n} episodes, seed {seed}", file=sys.stderr, flush=True)
                paths[(task.name, n, seed)] = ensure_demos(out / "demos", task, n, seed, progress=progress)
    return paths


def _one(job: tuple[Cell, Path, Path, str | None]) -> dict[str, Any]:
    cell, demo_path, out, peer_python = job
    return run_cell(cell, demo_path, out, peer_python=peer_python)


def _run_local(jobs: list, workers: int, address: str | None) -> Iterator[dict[str, Any]]:
    """The cells on a process pool of ``workers`` (inline when 1), yielding rows as they finish."""
    if address is not None:
        raise ValueError("--address is for --backend ray")
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield _one(job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_one, job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _run_ray(jobs: list, workers: int, address: str | None) -> Iterator[dict[str, Any]]:
    """The cells as Ray tasks (one CPU and one torch thread each) on the cluster at ``address``, or on a
    local Ray instance of ``workers`` CPUs started here; rows stream back as tasks finish."""
    try:
        import ray
    except ImportError:
        raise ValueError("--backend ray needs Ray: pip install -e '.[ray]'") from None
    started = not ray.is_initialized()
    if started:
        if address is not None:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_one)
        pending = [task.remote(job) for job in jobs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    finally:
        if started:
            ray.shutdown()


def _reporter(total: int, skipped: int, enabled: bool) -> Callable[[dict[str, Any] | None], None]:
    """A bar over cells in a terminal, else a line per finished cell; ``None`` closes it."""
    if not enabled:
        return lambda row: None
    if skipped:
        print(f"{skipped} cells already finished in this folder; running {total}", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, desc="cells", unit="cell", file=sys.stderr)

        def update(row: dict[str, Any] | None) -> None:
            if row is None:
                bar.close()
            else:
                bar.update(1)
                bar.set_postfix_str(f"{row['task']} {row['algo']} {row['status']}", refresh=False)
        return update
    count = [0]

    def line(row: dict[str, Any] | None) -> None:
        if row is None:
            return
        count[0] += 1
        what = (f"epic {row['epic']:.3f}" if _finite(row.get("epic")) else
                f"norm. return {row['normalised_return']:.3f}" if _finite(row.get("normalised_return")) else
                row["error"] or "no score")
        print(f"[{count[0]}/{total}] {row['task']} {row['algo']} n={row['n_demos']} seed={row['seed']}: "
              f"{row['status']}, {what}, {row['wall_seconds']:.1f} s", file=sys.stderr, flush=True)
    return line


def write_outputs(frame: Any, out: Path, config: CompareConfig, demos: dict[tuple[str, int, int], Path]) -> str:
    """results.csv (+ parquet), summary.md, curves.png and heatmaps-TASK.png; returns the summary's markdown.
    ``demos`` maps (task, n_demos, seed) to the demo file."""
    from irl.compare import summary as S

    write_atomic(out / "results.csv", lambda fh: fh.write(frame.to_csv(index=False).encode()))
    try:
        import pyarrow  # noqa: F401

        write_atomic(out / "results.parquet", lambda fh: frame.to_parquet(fh, index=False))
    except ImportError:
        pass
    stats = {key: demo_stats(path) for key, path in demos.items()}
    text = demos_table(config, stats) + "\n\n" + S.markdown_tables(frame)
    verdict = S.peer_verdict(frame)
    if verdict:
        text += "\n\n" + "\n".join(f"- {line}" for line in verdict)
    write_atomic(out / "summary.md", lambda fh: fh.write((text + "\n").encode()))
    S.plot_curves(frame, out / "curves.png")
    for task in config.tasks:
        panels = heatmap_panels(frame, out, config, task.name, demos)
        if panels:
            S.plot_heatmaps(panels, out / f"heatmaps-{task.name}.png")
    return text


def demos_table(config: CompareConfig, stats: dict) -> str:
    """One line per task: env, demonstrator, mean demo return and the share of episodes that terminated."""
    lines = ["| task | env | demonstrator | demo return (mean) | episodes ending in a terminal state |",
             "|---|---|---|---|---|"]
    for task in config.tasks:
        mine = [s for (name, _, _), s in stats.items() if name == task.name]
        ret = sum(s["demo_return"] for s in mine) / len(mine)
        term = sum(s["demo_terminated"] for s in mine) / len(mine)
        who = (f"soft-optimal, temperature {task.temperature:g}" if task.kind == "tabular"
               else f"SAC expert, {task.expert_steps} steps")
        kwargs = ", ".join(f"{k}={v}" for k, v in task.env_kwargs.items())
        lines.append(f"| {task.name} | `{task.env}`{f' ({kwargs})' if kwargs else ''} | {who} | {ret:.3g} | "
                     f"{100 * term:.0f} % |")
    return "\n".join(lines)


def heatmap_panels(frame: Any, out: Path, config: CompareConfig, task: str, demos: dict) -> list:
    """Learned vs true state reward (mean over actions) of each algorithm on a grid task (an env with a
    ``grid_shape``): the first seed, the most demos. Empty for other tasks."""
    import numpy as np

    from irl.data import load_demos
    from irl.envs import mdp_for_demos

    rows = frame[(frame.task == task) & (frame.status == "ok") & (frame.run_dir.fillna("") != "")]
    rows = rows[(rows.n_demos == max(config.demos)) & (rows.seed == min(config.seeds))]
    panels, mdp = [], None
    for _, r in rows.iterrows():
        table_path = out / r.run_dir / "reward_table.npy"
        if not table_path.exists():  # bc: no reward
            continue
        if mdp is None:
            mdp = mdp_for_demos(load_demos(demos[(task, int(r.n_demos), int(r.seed))]))
            if mdp.grid_shape is None or mdp.reward is None:
                return []
            true = np.asarray(mdp.env_states(mdp.reward) if mdp.absorbing is not None else mdp.reward, dtype=float)
            true = true.mean(axis=1) if true.ndim == 2 else true
        learned = np.load(table_path, allow_pickle=False).mean(axis=1)
        panels.append((f"{task} — {r.algo}", tuple(mdp.grid_shape), true, learned))
    return panels


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe: NaN → null (read back as NaN by pandas)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
