"""The algorithm settings help of ``irl fit`` and the run-folder plots (rendered with Agg)."""

import dataclasses
import math

import numpy as np
import pytest

from irl.cli.help_text import algorithm_settings_help
from irl.inverse.registry import ALGORITHMS
from irl.runs import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def algorithm_block(text, name):
    """The lines of ``text`` from ``name``'s heading to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}: "))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[start:end])


# ------------------------------------------------------------------ help text
def test_settings_help_lists_every_algorithm_and_field():
    text = algorithm_settings_help()
    for algo in ALGORITHMS.values():
        block = algorithm_block(text, algo.name)
        assert algo.description.split()[0] in block
        for field in dataclasses.fields(algo.config_class()):
            assert f"  {field.name} = " in block, (algo.name, field.name)
    assert """--algo-kwargs '{"max_iters": 200, "l2": 0.01}'""" in text.splitlines()[-1]


def test_settings_help_uses_registry_defaults_and_flags():
    deep = algorithm_block(algorithm_settings_help(), "deep-maxent")
    assert '  reward = "mlp"' in deep
    assert "  max_iters = 300 " in deep
    assert "  seed = (from --seed)" in deep and "  device = (from --device)" in deep
    maxent = algorithm_block(algorithm_settings_help(), "maxent")
    assert "  max_iters = 500 " in maxent
    assert "one-hot (toy-text) features" in " ".join(maxent.split())


def test_settings_help_reads_inherited_field_docs():
    projection = " ".join(algorithm_block(algorithm_settings_help(), "projection").split())
    # epsilon and solver are declared on ApprenticeshipConfig, not ProjectionConfig
    assert "epsilon = 0.05 Stop when the margin t" in projection
    assert 'solver = "CLARABEL" cvxpy solver for the max-margin program' in projection
    # only the first sentence of a multi-sentence doc (MaxEntConfig.lr)
    assert "Adam learning rate (MLP only)." in algorithm_settings_help()
    assert "With 300 steps" not in algorithm_settings_help()


def test_settings_help_line_width():
    assert max(len(line) for line in algorithm_settings_help().splitlines()) <= 110


# ------------------------------------------------------------------ plots
def labelled_yticks(fig, ax):
    """The non-empty y tick labels (major and minor) inside the view limits after drawing."""
    fig.canvas.draw()
    low, high = sorted(ax.get_ylim())
    ticks = [*zip(ax.yaxis.get_majorticklocs(), ax.yaxis.get_majorticklabels()),
             *zip(ax.yaxis.get_minorticklocs(), ax.yaxis.get_minorticklabels())]
    return [label.get_text() for loc, label in ticks if low <= loc <= high and label.get_text().strip()]


@pytest.mark.parametrize("margins", [
    [0.5, 0.3, 0.2, 0.1, 0.05, 0.02],  # within ~one decade
    [0.3, 0.29, 0.28],  # within a factor 1.1
    [0.25, 0.25],  # constant
    [5.0, 0.4, 0.03, 1e-3, 2e-5],  # across decades
    [1e3, 1e-9],  # many decades
    [0.4, 0.1, 0.0],  # with a zero
    [0.4, -0.01],  # negative (max-margin: expert inside the hull)
    [0.3],
])
def test_margin_plot_has_labelled_ticks(margins, tmp_path):
    fig = plots._margins_figure(margins, title="projection")
    assert len(labelled_yticks(fig, fig.axes[0])) >= 2
    plots._save(fig, tmp_path / "margin.png")
    assert (tmp_path / "margin.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("grid_shape", [(8, 8), (4, 12)])
@pytest.mark.parametrize("with_true", [False, True])
def test_reward_grid_colorbars_and_titles(grid_shape, with_true, tmp_path):
    rng = np.random.default_rng(0)
    learned, true = rng.normal(size=(2, grid_shape[0] * grid_shape[1], 4))
    fig = plots.reward_grid_figure(grid_shape, learned, true if with_true else None, title="maxent")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == (2 if with_true else 1)
    (suptitle,) = [t for t in fig.texts if t.get_text() == "maxent"]
    for ax in image_axes:
        colorbar = ax.images[0].colorbar.ax
        assert abs(colorbar.get_window_extent().height - ax.get_window_extent().height) <= 2
        assert not suptitle.get_window_extent(renderer).overlaps(ax.title.get_window_extent(renderer))
    plots._save(fig, tmp_path / "reward.png")
    assert (tmp_path / "reward.png").read_bytes().startswith(PNG_MAGIC)


def test_plot_reward_grid_writes_png(tmp_path):
    plots.plot_reward_grid(tmp_path / "reward.png", (4, 12), np.zeros((48, 4)), title="constant reward")
    assert (tmp_path / "reward.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("curve, eval_return", [
    ([{"step": 10 * i, "true_return": None if i % 7 == 3 else -float(i)} for i in range(40)], -3.5),
    ([], None),
    ([{"step": 5, "true_return": 1.0}], math.nan),
])
def test_plot_learning_curve_writes_png(curve, eval_return, tmp_path):
    path = tmp_path / "learning_curve.png"
    plots.plot_learning_curve(path, curve, eval_return, title="sac")
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert [p.name for p in tmp_path.iterdir()] == ["learning_curve.png"]  # no temporary left behind
