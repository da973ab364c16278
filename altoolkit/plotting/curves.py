"""Figures, thin over the rest of the package, in one style.

Every series takes its colour, marker and line style from the palette rule of
:mod:`altoolkit.plotting.palette` (a hue per strategy family, a marker and line style per member or
variant, no two series of one axes alike), more than :data:`MAX_CURVES_PER_AXIS` curves become
small multiples, seconds are drawn on linear axes from 0, and :func:`save_figure` writes PNGs at
150 dpi without volatile metadata, so a rerun writes the same bytes.  Every ``plot_*`` function returns the matplotlib Figure; ``save_figure``
returns None, so a cell that ends with it prints nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..analysis.results import CurveSummary
from ..analysis.stopping import signal_curves, stop_points
from ..drivers.active_learning_benchmark import BatchSplitStudy
from ..data.datasets import display_image
from .palette import GREY, STRATEGY_STYLE, bar_styles, series_styles, strategy_style

__all__ = [
    "STRATEGY_STYLE",
    "MAX_CURVES_PER_AXIS",
    "strategy_style",
    "save_figure",
    "plot_training_curves",
    "plot_score_histograms",
    "plot_learning_curves",
    "plot_rank_correlation",
    "plot_selection_gallery",
    "plot_class_histograms",
    "plot_seconds",
    "plot_batch_split_study",
    "plot_stopping",
]


#: More curves than this on one axis are drawn as small multiples (one highlighted per panel).
MAX_CURVES_PER_AXIS = 6

_PNG_METADATA = {"Software": None}


def save_figure(fig: "plt.Figure", figures_dir: str | Path | None, name: str, dpi: int = 150) -> None:
    """Save ``fig`` as ``figures_dir/name.png`` (folder created if needed); returns None so that a
    cell ending with it prints nothing.  ``figures_dir=None`` saves nothing (an interactive run
    that was not asked to write figures).  PNGs are written without the ``Software`` tag and
    without a timestamp, so the same figure saved twice gives identical bytes."""
    if dpi < 150:
        raise ValueError(f"dpi must be >= 150 for readable figures; got {dpi}")
    if figures_dir is None:
        return None
    d = Path(figures_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata=_PNG_METADATA)
    return None


def plot_training_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], title: str = "") -> "plt.Figure":
    """Train loss, dynamic-loss term and test accuracy per epoch, one line per run."""
    keys = [k for k in ("loss", "dynamic_loss", "test_acc") if any(k in h for h in histories.values())]
    names = {"loss": "training loss (CE + λ·KL)", "dynamic_loss": "dynamic loss KL(f̄ || f_θ)", "test_acc": "test accuracy"}
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), squeeze=False)
    styles = series_styles(histories)
    for ax, k in zip(axes[0], keys):
        for lab, h in histories.items():
            if k in h:
                st = styles[lab]
                ax.plot(
                    h["epoch"],
                    h[k],
                    label=lab,
                    color=st["color"],
                    linestyle=st["linestyle"],
                    marker=st["marker"],
                    markevery=_markevery(len(h[k])),
                    markersize=4,
                )
        ax.set_xlabel("epoch")
        ax.set_title(names[k])
        ax.grid(alpha=0.3)
        if k == "test_acc":
            lo, hi = _zoomed_range([h for h in histories.values() if k in h], k)
            if lo is not None:
                ax.set_ylim(lo, hi)
                ax.set_title(f"{names[k]} (y zoomed to the last 3/4 of training)", fontsize=9)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _markevery(n: int, marks: int = 8) -> int:
    """Every how many points a marker goes on a curve of ``n`` points (about ``marks`` markers)."""
    return max(1, n // marks)


def _zoomed_range(histories: Sequence[Mapping[str, Sequence[float]]], key: str) -> tuple[float | None, float | None]:
    """y-limits covering ``key`` over the last three quarters of every history (padded by 10 %),
    so that the differences between runs fill the panel instead of the first epochs' climb."""
    tails = []
    for h in histories:
        v = np.asarray(h[key], dtype=np.float64)
        if v.size >= 4:
            tails.append(v[v.size // 4 :])
    if not tails:
        return None, None
    t = np.concatenate(tails)
    t = t[np.isfinite(t)]
    if not t.size:
        return None, None
    lo, hi = float(t.min()), float(t.max())
    pad = max(0.1 * (hi - lo), 0.005)
    return lo - pad, hi + pad


def plot_score_histograms(scores: Mapping[str, torch.Tensor], xlabel: str = "KL(f_T-1 || f_T)", log: bool = True, bins: int = 40) -> "plt.Figure":
    """Overlaid histograms of per-sample scores (log-spaced bins when ``log``)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    vals = {k: np.asarray(v, dtype=np.float64) for k, v in scores.items()}
    allv = np.concatenate([v[v > 0] if log else v for v in vals.values()])
    if log and allv.size:
        edges = np.logspace(np.log10(allv.min()), np.log10(allv.max()), bins)
        ax.set_xscale("log")
    else:
        edges = bins
    styles = series_styles(vals)
    for k, v in vals.items():
        st = styles[k]
        ax.hist(v[v > 0] if log else v, bins=edges, histtype="step", linewidth=1.5, label=k, color=st["color"], linestyle=st["linestyle"])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pool samples")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _draw_curve(ax, lab: str, cs: CurveSummary, k: float, highlight: bool = True, style: Mapping[str, Any] | None = None) -> None:
    x = cs.fraction * 100
    st = style or strategy_style(lab)
    if highlight:
        ax.plot(x, cs.mean * k, marker=st["marker"], color=st["color"], linestyle=st["linestyle"], markersize=5, label=f"{lab} (n={len(cs.seeds)})")
        # a light band edged in the curve's own line style: overlapping bands of one hue stay apart
        lo, hi = (cs.mean - cs.std) * k, (cs.mean + cs.std) * k
        ax.fill_between(x, lo, hi, color=st["color"], alpha=0.10, linewidth=0)
        for edge in (lo, hi):
            ax.plot(x, edge, color=st["color"], linestyle=st["linestyle"], linewidth=0.6, alpha=0.6, label="_band")
    else:
        ax.plot(x, cs.mean * k, color="#c8c8c8", linewidth=1.0, zorder=1)


def plot_learning_curves(
    curves: Mapping[str, CurveSummary], title: str = "", percent: bool = True, max_per_axis: int = MAX_CURVES_PER_AXIS, metric: str = "test accuracy"
) -> "plt.Figure":
    """Mean test accuracy (or ``metric``, e.g. ``"test mIoU"``) against labeled share, with a ± std
    band over seeds, in each strategy's fixed style (:func:`strategy_style`).  With more than
    ``max_per_axis`` curves the figure becomes small multiples: one panel per curve, highlighted
    over all the others in light grey, with shared axes so panels compare at a glance."""
    if not curves:
        raise ValueError("curves must hold at least one CurveSummary")
    k = 100.0 if percent else 1.0
    ylabel = f"{metric} (%)" if percent else metric
    names = list(curves)
    if len(names) <= max_per_axis:
        fig, ax = plt.subplots(figsize=(6, 4))
        styles = series_styles(names)
        for lab in names:
            _draw_curve(ax, lab, curves[lab], k, style=styles[lab])
        ax.set_xlabel("% of pool labeled")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if title:
            ax.set_title(title)
        fig.tight_layout()
        return fig
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.4 * rows + 0.4), squeeze=False, sharex=True, sharey=True)
    for j, lab in enumerate(names):
        ax = axes[j // cols][j % cols]
        for other in names:
            if other != lab:
                _draw_curve(ax, other, curves[other], k, highlight=False)
        _draw_curve(ax, lab, curves[lab], k)
        ax.set_title(f"{lab} (n={len(curves[lab].seeds)})", fontsize=9, color=strategy_style(lab)["color"])
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for j in range(len(names), rows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.supxlabel("% of pool labeled (grey: the other curves)", fontsize=9)
    fig.supylabel(ylabel, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_rank_correlation(names: Sequence[str], rho: np.ndarray, title: str = "Spearman rank correlation of scores") -> "plt.Figure":
    """Heat map of pairwise rank correlations, values written in the cells."""
    n = len(names)
    fig, ax = plt.subplots(figsize=(0.6 * n + 2.5, 0.6 * n + 2))
    im = ax.imshow(rho, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{rho[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white" if abs(rho[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_selection_gallery(dataset, selections: Mapping[str, Sequence[int]], n: int = 8, scores: Mapping[str, Sequence[float]] | None = None) -> "plt.Figure":
    """One row per strategy: its first ``n`` selected pool samples (dataset indices), with the
    true label (and the score when given) above each image."""
    rows = list(selections)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n + 1.5, 1.25 * len(rows) + 0.3), squeeze=False)
    for r, name in enumerate(rows):
        idx = list(selections[name])[:n]
        for c in range(n):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(idx):
                ax.imshow(display_image(dataset, idx[c]), cmap="gray_r" if dataset.x_train.dim() <= 3 or dataset.x_train.shape[1] == 1 else None)
                lab = dataset.class_names[int(dataset.y_train[idx[c]])]
                extra = f"\n{scores[name][c]:.2g}" if scores is not None and name in scores else ""
                ax.set_title(f"{lab}{extra}", fontsize=7)
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def plot_class_histograms(dataset, selections: Mapping[str, Sequence[int]]) -> "plt.Figure":
    """Class counts of each strategy's selection, one small panel per strategy."""
    names = list(selections)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), squeeze=False, sharey=True)
    for k, name in enumerate(names):
        ax = axes[k // cols][k % cols]
        counts = np.bincount(dataset.y_train[list(selections[name])].numpy(), minlength=dataset.num_classes)
        ax.bar(range(dataset.num_classes), counts, color=strategy_style(name)["color"])  # one series per panel
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(dataset.num_classes))
        ax.tick_params(labelsize=7)
    for k in range(len(names), rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.supxlabel("class")
    fig.supylabel("selected")
    fig.tight_layout()
    return fig


def plot_seconds(seconds: Mapping[str, float], title: str = "scoring + selection time") -> "plt.Figure":
    """Horizontal bar chart of seconds per strategy on a linear axis from 0 (bars in each
    strategy's colour, the value written at the end of each bar)."""
    names = list(seconds)
    vals = [float(seconds[n]) for n in names]
    if any(v < 0 for v in vals):
        raise ValueError(f"seconds must be >= 0; got {dict(zip(names, vals))}")
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(names) + 1))
    styles = bar_styles(names)
    bars = ax.barh(names, vals, color=[styles[n]["color"] for n in names], edgecolor="white")
    for bar, n in zip(bars, names):
        bar.set_hatch(styles[n]["hatch"] or None)
    top = max(vals) if vals else 1.0
    for i, v in enumerate(vals):
        ax.text(v + 0.01 * top, i, f"{v:.2g} s", va="center", fontsize=7)
    ax.set_xlim(0, top * 1.15 if top > 0 else 1.0)
    ax.set_xlabel("seconds")
    ax.invert_yaxis()
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def plot_batch_split_study(studies: Mapping[str, BatchSplitStudy], title: str = "") -> "plt.Figure":
    """One panel per network (``{name: study}``): mean test accuracy ± std over seeds against the
    labeled-set size (one evenly spaced slot per size), with the epoch cut into batches as ``DataLoader`` cuts it ("fixed") and into
    batches of even size ("even"); each tick names the last batch under "fixed"."""
    if not studies:
        raise ValueError("studies must hold at least one BatchSplitStudy")
    fig, axes = plt.subplots(1, len(studies), figsize=(4.6 * len(studies), 3.6), squeeze=False, sharey=True)
    styles = {split: {k: st[k] for k in ("color", "marker", "linestyle")} for split, st in series_styles(["fixed", "even"]).items()}
    for ax, (name, st) in zip(axes[0], studies.items()):
        x = np.arange(len(st.sizes))  # one slot per size: 65, 67 and 70 would overlap on a linear axis
        for split, style in styles.items():
            acc = np.array([[st.accuracy[split][n][s] for s in st.seeds] for n in st.sizes]) * 100
            mean, std = acc.mean(1), acc.std(1, ddof=1) if acc.shape[1] > 1 else np.zeros(len(x))
            ax.plot(x, mean, label=f"{split} (n={len(st.seeds)} seeds)", markersize=5, **style)
            ax.fill_between(x, mean - std, mean + std, color=style["color"], alpha=0.15, linewidth=0)
        ax.set_xticks(x, [f"{n}\n(last {st.last_batch(n)})" for n in st.sizes], fontsize=8)
        ax.set_xlabel(f"labeled samples (last batch under fixed, batch {st.batch_size})", fontsize=9)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("test accuracy (%)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


_STOP_MARKERS = ("v", "^", "D", "P", "X")


def plot_stopping(
    curves: Mapping[str, CurveSummary],
    records_by_label: Mapping[str, Sequence[Mapping[str, Any]]],
    criteria: Mapping[str, Any],
    thresholds: Mapping[str, float] | None = None,
    title: str = "",
) -> "plt.Figure":
    """Stopping rules beside the learning curves: (a) mean test accuracy against labels with, per
    strategy and rule, an open marker (the rule's shape, the strategy's colour) at the mean label
    count where the rule stops and the mean accuracy there (over the seeds whose run it stops);
    (b-d) the rules' signals (kappa of consecutive cycles, stop-set entropy, selected-batch
    confidence), mean over seeds, with the thresholds (``{"kappa": 0.99, "stop-set
    entropy": 0.1, "selected-batch confidence": 0.9}``) as dashed grey lines when given."""
    if not curves:
        raise ValueError("curves must hold at least one CurveSummary")
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), gridspec_kw={"width_ratios": [1.5, 1, 1, 1]})
    styles = series_styles(curves)
    ax = axes[0]
    for lab, cs in curves.items():
        st = styles[lab]
        ax.plot(
            cs.n_labeled, cs.mean * 100, color=st["color"], marker=st["marker"], linestyle=st["linestyle"], markersize=5, label=f"{lab} (n={len(cs.seeds)})"
        )
    for k, name in enumerate(criteria):
        m = _STOP_MARKERS[k % len(_STOP_MARKERS)]
        ax.plot([], [], linestyle="none", marker=m, markersize=8, markerfacecolor="white", markeredgecolor="black", label=f"stop: {name}")
        for lab, recs in records_by_label.items():
            pts = [p for p in stop_points(recs, {name: criteria[name]}) if p.stopped]
            if pts:  # the rule's shape, edged in the strategy's colour
                x, y = np.mean([p.n_labeled for p in pts]), np.mean([p.acc_at_stop for p in pts]) * 100
                st = styles.get(lab) or series_styles([lab])[lab]
                ax.plot(
                    [x], [y], linestyle="none", marker=m, markersize=9, markerfacecolor="white", markeredgewidth=1.6, markeredgecolor=st["color"], label="_stop"
                )
    ax.set_xlabel("labeled samples")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("(a) learning curves; open markers: where each rule stops", fontsize=9)
    ax.legend(fontsize=7)
    for ax, key in zip(axes[1:], ("kappa", "stop-set entropy", "selected-batch confidence")):
        for lab, recs in records_by_label.items():
            x, y = signal_curves(recs)[key]
            st = styles.get(lab) or series_styles([lab])[lab]
            ax.plot(x, y, color=st["color"], marker=st["marker"], linestyle=st["linestyle"], markersize=5, label=lab)
        if thresholds and key in thresholds:
            ax.axhline(thresholds[key], color=GREY, linestyle="--", linewidth=1, label="_threshold")
        ax.set_xlabel("labeled samples")
        ax.set_title(
            {
                "kappa": "(b) kappa of consecutive cycles' stop-set predictions",
                "stop-set entropy": "(c) mean stop-set entropy / log C",
                "selected-batch confidence": "(d) mean confidence on the selected batch",
            }[key],
            fontsize=9,
        )
    for ax in axes:
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
