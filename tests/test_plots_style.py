"""The figure style of altoolkit.plotting.curves / maps: fixed strategy styles, small multiples,
linear seconds axes, selection markers unlike any class, byte-identical PNGs, quiet returns."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from altoolkit.plotting import curves as plots  # noqa: E402
from altoolkit.plotting import maps as plots_maps  # noqa: E402
from altoolkit.util.progress import progress_enabled, tqdm  # noqa: E402
from altoolkit.analysis.results import CurveSummary  # noqa: E402
from altoolkit.strategies import strategy_names  # noqa: E402


def _curve(offset: float) -> CurveSummary:
    frac = np.array([0.1, 0.2, 0.3])
    acc = np.stack([0.5 + offset + frac, 0.52 + offset + frac])
    return CurveSummary(label="x", n_labeled=np.array([10, 20, 30]), fraction=frac, acc=acc, seeds=[0, 1])


def test_every_strategy_has_a_fixed_style_and_variants_keep_its_colour():
    names = strategy_names()
    assert set(names) <= set(plots.STRATEGY_STYLE), set(names) - set(plots.STRATEGY_STYLE)
    styles = [(plots.STRATEGY_STYLE[n]["color"], plots.STRATEGY_STYLE[n]["marker"]) for n in names]
    assert len(set(styles)) == len(styles), "two strategies share colour and marker"
    base, var = plots.strategy_style("disal"), plots.strategy_style("disal+balanced (n=3)")
    assert var["color"] == base["color"] and var["linestyle"] != "-"
    assert plots.strategy_style("λ=0.5") == plots.strategy_style("λ=0.5")


def test_learning_curves_use_fixed_colours_and_small_multiples_beyond_six():
    few = {"disal": _curve(0), "entropy": _curve(0.01)}
    fig = plots.plot_learning_curves(few)
    lines = {ln.get_label().split(" (")[0]: ln.get_color() for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")}
    assert lines == {n: plots.STRATEGY_STYLE[n]["color"] for n in few}
    plt.close(fig)
    many = {n: _curve(0.01 * i) for i, n in enumerate(strategy_names()[:8])}
    fig = plots.plot_learning_curves(many)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.lines]
    assert len(panels) == 8
    plt.close(fig)


def test_seconds_axis_is_linear_from_zero():
    fig = plots.plot_seconds({"disal": 2.7, "random": 1.3})
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and ax.get_xlim()[0] == 0
    plt.close(fig)
    with pytest.raises(ValueError, match="seconds"):
        plots.plot_seconds({"disal": -1.0})


def test_selection_markers_are_not_class_colours():
    classes = {matplotlib.colors.to_hex(c) for c in plots_maps.class_colors(10)}
    for st in plots_maps.SELECTION_STYLES:
        assert matplotlib.colors.to_hex(st["color"]) not in classes


def test_save_figure_is_byte_identical_quiet_and_150_dpi(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert plots.save_figure(fig, tmp_path / "a", "f") is None
    first = (tmp_path / "a" / "f.png").read_bytes()
    plots.save_figure(fig, tmp_path / "b", "f")
    assert first == (tmp_path / "b" / "f.png").read_bytes()
    assert b"matplotlib" not in first.lower(), "PNG still names the software version"
    from PIL import Image

    dpi = Image.open(tmp_path / "a" / "f.png").info["dpi"]
    assert round(dpi[0]) >= 150
    assert plots.save_figure(fig, None, "f") is None
    with pytest.raises(ValueError, match="dpi"):
        plots.save_figure(fig, tmp_path, "g", dpi=72)
    plt.close(fig)


def test_progress_env_switches_every_bar_off(monkeypatch):
    monkeypatch.setenv("ALTOOLKIT_PROGRESS", "0")
    assert not progress_enabled()
    assert tqdm(range(3), disable=False).disable
    monkeypatch.setenv("ALTOOLKIT_PROGRESS", "1")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert not progress_enabled()
    monkeypatch.delenv("TQDM_DISABLE")
    assert progress_enabled()
    assert not tqdm(range(3), disable=False).disable
