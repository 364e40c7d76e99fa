"""The reward-recovery leaderboard: config checks, the grid of cells, the demo cache, the metric's own
check rows, the exact normalised return, failures as rows, resuming, determinism, and the Ray backend."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from irl.cli.main import main
from irl.compare.cells import exact_normalised_return, run_cell
from irl.compare.config import Cell, CompareConfigError, load_config, parse_config
from irl.compare.demos import GENERATOR_VERSION, demo_key, ensure_demos
from irl.compare.harness import run_compare

ROOT = Path(__file__).resolve().parent.parent

TINY = """
name = "tiny"
seeds = [0, 1]
demos = [4, 12]

[[tasks]]
name = "grid4"
env = "irl/Gridworld-v0"
env_kwargs = { size = 4, reward = "random", features = "blocks", block_size = 2 }

[[tasks]]
name = "lake4"
env = "FrozenLake-v1"
temperature = 0.01

[[algos]]
name = "maxent"

[[algos]]
name = "projection"
"""


def tiny(tmp_path: Path, text: str = TINY) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------ the config
@pytest.mark.parametrize("edit, message", [
    ({"colour": 1}, "unknown key 'colour'"),
    ({"seeds": [0, 0]}, "seeds lists a value twice"),
    ({"seeds": [-1]}, "seeds[0] must be an integer >= 0"),
    ({"demos": []}, "demos must be a non-empty list"),
    ({"checks": "yes"}, "checks must be true or false"),
    ({"algos": [{"name": "nope"}]}, "algos[0] (nope): unknown algorithm 'nope'"),
    ({"algos": [{"name": "maxent"}, {"name": "maxent"}]}, "algos: the name 'maxent' is used twice"),
    ({"algos": [{"name": "maxent", "tasks": ["moon"]}]}, "tasks names an unknown task 'moon'"),
    ({"algos": [{"name": "gail", "generator": "ddpg"}]}, "generator must be sac or pg"),
    ({"tasks": [{"name": "a b", "env": "FrozenLake-v1"}]}, "tasks[0].name must be a name"),
    ({"tasks": [{"name": "p", "env": "Pendulum-v1", "expert_steps": 10, "temperature": 1.0}]},
     "temperature is for tabular tasks"),
    ({"tasks": [{"name": "g", "env": "FrozenLake-v1", "temperature": 0}]}, "tasks[0].temperature must be > 0"),
    ({"tasks": [{"name": "g", "env": "FrozenLake-v1", "discount": 1.5}]}, "tasks[0].discount must lie in (0, 1]"),
])
def test_a_bad_config_names_the_key(edit, message):
    raw = {"tasks": [{"name": "g", "env": "FrozenLake-v1"}], "algos": [{"name": "maxent"}], **edit}
    with pytest.raises(CompareConfigError) as info:
        parse_config(raw)
    assert message in str(info.value)


def test_the_cli_refuses_a_bad_config_in_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tiny(tmp_path, TINY.replace('name = "maxent"', 'name = "maxnet"'))
    out = tmp_path / "out"
    assert main(["compare", "--config", str(bad), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown algorithm 'maxnet'" in err[0] and str(bad) in err[0]
    assert not out.exists()
    assert main(["compare", "--config", str(tmp_path / "missing.toml"), "--quiet"]) == 2
    assert "no such config file" in capsys.readouterr().err
    (tmp_path / "broken.toml").write_text("name = [")
    assert main(["compare", "--config", str(tmp_path / "broken.toml"), "--quiet"]) == 2
    assert "not a readable TOML file" in capsys.readouterr().err


def test_the_shipped_configs_parse_and_their_cells_fit_their_tasks():
    for path in sorted((ROOT / "experiments" / "configs").glob("*.toml")):
        config = load_config(path)
        for cell in config.cells():
            if cell.algo is not None:
                from irl.inverse.registry import get_algorithm

                assert cell.task.kind == "tabular" or not get_algorithm(cell.algo.algo).tabular, (path, cell.label)
            if cell.check is not None:
                assert cell.task.kind == "tabular"


def test_cells_cover_the_grid_and_their_ids_follow_every_setting(tmp_path):
    raw = {"seeds": [0, 1], "demos": [5, 10],
           "tasks": [{"name": "g", "env": "FrozenLake-v1"}, {"name": "p", "env": "Pendulum-v1", "expert_steps": 100}],
           "algos": [{"name": "maxent"}, {"name": "bc"}, {"name": "gail", "tasks": ["p"]}]}
    cells = parse_config(raw).cells()
    labels = [(c.task.name, c.label) for c in cells]
    # tabular task: 2 checks + maxent + bc; continuous: bc + gail (maxent is exact, gail is named for p only)
    assert sorted(set(labels)) == sorted({("g", "true + shaping"), ("g", "random reward"), ("g", "maxent"), ("g", "bc"),
                                          ("p", "bc"), ("p", "gail")})
    assert len(cells) == 2 * 2 * (4 + 2)
    ids = [c.cell_id for c in cells]
    assert len(set(ids)) == len(ids)
    changed = parse_config({**raw, "algos": [{"name": "maxent", "kwargs": {"l2": 0.1}}, {"name": "bc"}]}).cells()
    assert {c.cell_id for c in changed if c.label == "maxent"}.isdisjoint(ids)
    assert {c.cell_id for c in changed if c.label == "bc"} <= set(ids)


# ------------------------------------------------------------------------------------------ the demo cache
def test_the_demo_cache_key_covers_what_changes_the_file_and_reuses_it(tmp_path):
    config = load_config(tiny(tmp_path))
    lake = config.tasks[1]
    key = demo_key(lake, 10, 0)
    import dataclasses

    others = [demo_key(lake, 11, 0), demo_key(lake, 10, 1), demo_key(dataclasses.replace(lake, temperature=0.5), 10, 0),
              demo_key(dataclasses.replace(lake, env_kwargs={"map_name": "8x8"}), 10, 0),
              demo_key(dataclasses.replace(lake, discount=0.9), 10, 0),
              demo_key(dataclasses.replace(lake, max_steps=50), 10, 0)]
    assert len({key, *others}) == 1 + len(others)
    monkey_version = pytest.MonkeyPatch()
    monkey_version.setattr("irl.compare.demos.GENERATOR_VERSION", GENERATOR_VERSION + 1)
    assert demo_key(lake, 10, 0) != key
    monkey_version.undo()

    path = ensure_demos(tmp_path / "cache", lake, 10, 0)
    stamp = path.stat().st_mtime_ns
    assert ensure_demos(tmp_path / "cache", lake, 10, 0) == path and path.stat().st_mtime_ns == stamp
    again = ensure_demos(tmp_path / "other", lake, 10, 0)
    a, b = np.load(path, allow_pickle=False), np.load(again, allow_pickle=False)
    for k in ("observations", "actions", "rewards"):
        np.testing.assert_array_equal(a[k], b[k])


# ------------------------------------------------------------------------------------------ the check rows
@pytest.mark.parametrize("task", [0, 1])
@pytest.mark.parametrize("seed", [0, 3])
def test_epic_ignores_potential_shaping_and_sees_a_random_reward(tmp_path, task, seed):
    config = load_config(tiny(tmp_path))
    t = config.tasks[task]
    path = ensure_demos(tmp_path / "demos", t, 6, seed)
    shaped = run_cell(Cell(t, None, 6, seed, check="shaped"), path, tmp_path)
    rand = run_cell(Cell(t, None, 6, seed, check="random"), path, tmp_path)
    assert shaped["status"] == rand["status"] == "ok", (shaped["error"], rand["error"])
    assert shaped["epic"] < 1e-6 and shaped["pearson"] > 1 - 1e-9
    assert rand["epic"] > 0.3
    assert shaped["transfer_normalised_return"] == pytest.approx(1 - shaped["regret_hard"])


def test_the_exact_normalised_return_is_1_for_the_optimum_and_0_for_uniform(tmp_path):
    from irl.data import load_demos
    from irl.envs import mdp_for_demos
    from irl.solvers import expected_return, hard_value_iteration

    config = load_config(tiny(tmp_path))
    mdp = mdp_for_demos(load_demos(ensure_demos(tmp_path, config.tasks[0], 3, 0)))
    S, A = mdp.n_env_states, mdp.n_actions
    best = hard_value_iteration(mdp, mdp.reward).policy[..., :S, :].numpy()
    assert exact_normalised_return(mdp, best) == pytest.approx(1.0)
    assert exact_normalised_return(mdp, np.full((S, A), 1 / A)) == pytest.approx(0.0, abs=1e-12)
    # by hand: a policy that mixes the two half and half has the mean of their returns
    mixed = 0.5 * best + 0.5 / A
    def j(p):
        return float(expected_return(mdp, mdp.reward, torch.as_tensor(p)))

    expected = (j(mixed) - j(np.full((S, A), 1 / A))) / (j(best) - j(np.full((S, A), 1 / A)))
    assert exact_normalised_return(mdp, mixed) == pytest.approx(expected)
    assert 0.0 < expected < 1.0


# ------------------------------------------------------------------------------------------ the harness
def test_a_grid_runs_resumes_and_a_cell_alone_gives_the_same_numbers(tmp_path, capsys):
    config = tiny(tmp_path)
    out = tmp_path / "out"
    assert main(["compare", "--config", str(config), "--out", str(out), "--workers", "2", "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["cells"] == summary["run"] == 2 * 2 * 2 * 4 and summary["failed"] == 0
    frame = pd.read_csv(out / "results.csv")
    assert len(frame) == 32 and set(frame.status) == {"ok"}
    assert set(frame.algo) == {"maxent", "projection", "true + shaping", "random reward"}
    fits = frame[frame.source == "irl"]
    assert fits.run_dir.map(lambda d: (out / d / "metrics.json").is_file()).all()
    assert fits.run_dir.nunique() == len(fits)  # cells never share a run folder
    assert np.isfinite(fits[["epic", "regret_hard", "normalised_return", "transfer_normalised_return"]]).all().all()
    text = (out / "summary.md").read_text()
    assert "### grid4" in text and "### lake4" in text and "**" in text and "± " in text
    assert (out / "curves.png").stat().st_size > 0 and (out / "heatmaps-grid4.png").stat().st_size > 0

    # resume: nothing left to run; the same table
    assert main(["compare", "--config", str(config), "--out", str(out), "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run"] == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), frame)

    # a lost cell (killed in flight: no cell file, a half-written run folder) reruns alone, same numbers
    victim = frame[(frame.algo == "maxent") & (frame.task == "lake4")].iloc[-1]
    (out / "cells" / f"{victim.cell_id}.json").unlink()
    (out / victim.run_dir / "metrics.json").write_text("half")
    again = run_compare(load_config(config), out, workers=1, progress=False)
    assert again.n_run == 1
    rerun = pd.read_csv(out / "results.csv")
    cols = ["epic", "pearson", "regret_hard", "regret_soft", "demo_log_likelihood", "normalised_return"]
    pd.testing.assert_frame_equal(rerun[cols], frame[cols])


def test_the_results_are_also_written_as_parquet(tmp_path):
    pytest.importorskip("pyarrow")  # the parquet extra (.ci/run installs it)
    config = load_config(tiny(tmp_path, TINY.replace("seeds = [0, 1]", "seeds = [0]").replace("[4, 12]", "[4]")))
    frame = run_compare(config, tmp_path / "out", workers=1, progress=False).frame
    numbers = ["n_demos", "seed", "epic", "pearson", "regret_hard", "normalised_return", "wall_seconds"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "results.parquet")[numbers], frame[numbers])


def test_a_failing_cell_is_a_row_that_says_so_and_the_exit_status_is_1(tmp_path, capsys):
    text = TINY.replace('name = "projection"', 'name = "broken"\nalgo = "maxent"\nkwargs = { max_iters = -3 }')
    out = tmp_path / "out"
    code = main(["compare", "--config", str(tiny(tmp_path, text)), "--out", str(out), "--workers", "1", "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert "8 of 32 cells failed" in captured.err and "Traceback" not in captured.err
    frame = pd.read_csv(out / "results.csv")
    broken = frame[frame.algo == "broken"]
    assert len(broken) == 8 and set(broken.status) == {"failed"}
    assert broken.error.str.contains("max_iters").all() and broken.epic.isna().all()
    assert set(frame[frame.algo == "maxent"].status) == {"ok"}
    assert "failed (2 of 2)" in (out / "summary.md").read_text()
    assert not any((out / "runs").glob("*broken*"))  # a failed fit leaves no run folder


def test_a_cell_with_a_nan_metric_fails_instead_of_reporting_it(tmp_path, monkeypatch):
    config = load_config(tiny(tmp_path))
    cell = next(c for c in config.cells() if c.label == "maxent")
    path = ensure_demos(tmp_path / "demos", cell.task, cell.n_demos, cell.seed)

    def explode(*args, **kwargs):
        from irl._checks import NonFiniteError

        raise NonFiniteError("learned reward table holds NaN")

    monkeypatch.setattr("irl.runs.fit.run_fit", explode)
    row = run_cell(cell, path, tmp_path)
    assert row["status"] == "failed" and "NaN" in row["error"] and math.isnan(row["epic"])


@pytest.mark.slow
def test_the_ray_backend_gives_the_rows_of_the_local_pool(tmp_path):
    pytest.importorskip("ray")  # the ray extra (.ci/run installs it)
    config = load_config(tiny(tmp_path, TINY.replace("seeds = [0, 1]", "seeds = [0]")))
    local = run_compare(config, tmp_path / "local", workers=1, progress=False).frame
    # in a fresh interpreter, as a user would: Ray starts a local instance of 2 CPUs and stops it
    code = subprocess.run([sys.executable, "-m", "_irl_launcher", "compare", "--config", str(tmp_path / "tiny.toml"),
                           "--out", str(tmp_path / "ray"), "--backend", "ray", "--workers", "2", "--quiet"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert code.returncode == 0, code.stderr[-2000:]
    remote = pd.read_csv(tmp_path / "ray" / "results.csv")
    cols = ["cell_id", "status", "epic", "regret_hard", "normalised_return", "demo_log_likelihood"]
    pd.testing.assert_frame_equal(remote[cols], local[cols].reset_index(drop=True), check_dtype=False)
