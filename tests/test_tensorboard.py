"""``--tensorboard DIR`` on ``irl fit`` and ``irl compare``: the event files read back with TensorBoard's own
reader hold the tags and steps :mod:`irl.runs.tensorboard` promises, a failed fit logs no final values and
leaves no run folder, and a missing tensorboard package is one line that writes nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import hide_package

from irl.cli.main import main

pytest.importorskip("tensorboard")  # the tensorboard extra (.ci/run installs it)

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

GRID = str(Path(__file__).resolve().parent.parent / "demos" / "gridworld8.npz")

TINY_COMPARE = """
name = "tb"
seeds = [0, 1]
demos = [4]

[[tasks]]
name = "grid4"
env = "irl/Gridworld-v0"
env_kwargs = { size = 4, reward = "random", features = "blocks", block_size = 2 }

[[algos]]
name = "maxent"
"""


def events(folder: Path) -> EventAccumulator:
    """Every scalar and image written to ``folder``."""
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def series(acc: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def fit(capsys, *argv: str) -> tuple[int, str]:
    code = main(["fit", *argv, "--quiet"])
    return code, capsys.readouterr().err


def test_fit_logs_each_entry_the_final_metrics_and_the_reward_heat_map(tmp_path, capsys):
    code, err = fit(capsys, "--demos", GRID, "--algo", "maxent", "--out", str(tmp_path / "run"),
                    "--tensorboard", str(tmp_path / "tb"))
    assert code == 0, err
    acc = events(tmp_path / "tb" / "run")  # DIR/<run folder name>
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    logged = [e for e in log if e["iteration"] in {step for step, _ in series(acc, "maxent/objective")}]
    assert len(logged) >= len(log) - 1  # L-BFGS's final point may be one the callback never saw
    for field in ("objective", "log_likelihood", "grad_norm", "feature_gap"):
        points = series(acc, f"maxent/{field}")
        assert [s for s, _ in points] == list(range(len(points))), "the step of a tabular fit is its iteration"
        assert all(math.isfinite(v) for _, v in points)
        assert [v for _, v in points] == pytest.approx([e[field] for e in logged], rel=1e-6)
    assert "maxent/iteration" not in acc.Tags()["scalars"]  # the step itself is not a value

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    last = series(acc, "maxent/objective")[-1][0]
    for key in ("epic", "regret_hard", "regret_soft", "pearson", "demo_log_likelihood", "iterations"):
        assert series(acc, f"maxent/final/{key}") == [(last, pytest.approx(metrics[key], rel=1e-6))]
    assert "maxent/final/converged" not in acc.Tags()["scalars"]  # a bool is not a scalar
    image = acc.Images("maxent/reward")
    assert len(image) == 1 and image[0].step == last and image[0].width > image[0].height > 100
    assert image[0].encoded_image_string.startswith(b"\x89PNG")


def test_a_sampled_fit_logs_its_fields_at_its_env_steps(tmp_path, capsys):
    code, err = fit(capsys, "--demos", GRID, "--algo", "gail", "--generator", "pg", "--steps", "400",
                    "--algo-kwargs", '{"round_steps": 200, "disc_updates": 2}', "--out", str(tmp_path / "run"),
                    "--tensorboard", str(tmp_path / "tb"))
    assert code == 0, err
    acc = events(tmp_path / "tb" / "run")
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [e["env_steps"] for e in log] == [200, 400]
    for field in ("disc_loss", "disc_accuracy", "mean_return", "iteration"):
        assert series(acc, f"gail/{field}") == [(e["env_steps"], pytest.approx(e[field], rel=1e-6)) for e in log]
    assert "gail/env_steps" not in acc.Tags()["scalars"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("eval_return", "normalised_return", "epic"):
        assert series(acc, f"gail/final/{key}") == [(400, pytest.approx(metrics[key], rel=1e-6))]
    assert [i.step for i in acc.Images("gail/reward")] == [400]


def test_a_fit_that_fails_logs_no_final_values_and_leaves_no_run_folder(tmp_path, capsys, monkeypatch):
    from irl._checks import NonFiniteError

    def fail(*args, **kwargs):
        raise NonFiniteError("learned reward table holds NaN")

    monkeypatch.setattr("irl.runs.fit.evaluate_fit", fail)  # after the iterations, before the run folder
    code, err = fit(capsys, "--demos", GRID, "--out", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb"))
    assert code == 1 and "NaN" in err
    assert not (tmp_path / "run").exists()
    tags = events(tmp_path / "tb" / "run").Tags()
    assert "maxent/objective" in tags["scalars"]  # what was logged until the failure stays, to look at
    assert not [t for t in tags["scalars"] if "/final/" in t] and not tags["images"]


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])  # inline, a process pool
def test_compare_logs_one_series_per_cell_from_the_parent_process(tmp_path, capsys, workers):
    config = tmp_path / "tb.toml"
    config.write_text(TINY_COMPARE)
    out = tmp_path / "results"
    argv = ["compare", "--config", str(config), "--out", str(out), "--workers", str(workers), "--quiet",
            "--tensorboard", str(tmp_path / "tb")]
    assert main(argv) == 0, capsys.readouterr().err
    import pandas as pd

    frame = pd.read_csv(out / "results.csv")
    assert set(frame.algo) == {"maxent", "true + shaping", "random reward"} and len(frame) == 6
    board = tmp_path / "tb" / "results"
    assert len(list(board.glob("events.out.tfevents.*"))) == 1  # one writer: the parent's, not the workers'
    acc = events(board)
    for row in frame.itertuples():
        algo = {"true + shaping": "true_shaping", "random reward": "random_reward"}.get(row.algo, row.algo)
        for metric in ("epic", "regret_hard", "normalised_return", "wall_seconds"):
            assert series(acc, f"grid4/{algo}/demos4/seed{row.seed}/{metric}") == [
                (4, pytest.approx(getattr(row, metric), rel=1e-6))]
    metrics = frame[["epic", "pearson", "regret_hard", "regret_soft", "demo_log_likelihood", "normalised_return",
                     "transfer_normalised_return", "env_steps", "wall_seconds"]].to_numpy(dtype=float)
    assert len(acc.Tags()["scalars"]) == int(np.isfinite(metrics).sum())  # every finite metric of every cell


def test_a_missing_tensorboard_package_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    hide_package(monkeypatch, "tensorboard")
    config = tmp_path / "tb.toml"
    config.write_text(TINY_COMPARE)
    for argv in (["fit", "--demos", GRID, "--out", str(tmp_path / "run")],
                 ["compare", "--config", str(config), "--out", str(tmp_path / "results")]):
        assert main([*argv, "--quiet", "--tensorboard", str(tmp_path / "tb")]) == 2
        err = capsys.readouterr().err
        assert err.strip() == "irl: error: TensorBoard logs need the tensorboard package: pip install tensorboard"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tb.toml"]
