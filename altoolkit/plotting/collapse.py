"""Figures of the selection-balance diagnostics and of the collapse study (notebook 09, issue 10),
in the style of :mod:`altoolkit.plotting.curves` (strategy colours, linear axes from 0, returned Figures).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .palette import GREY, STRATEGY_STYLE, bar_styles, strategy_style
from ..analysis.selection_balance import selection_balance_table

__all__ = ["plot_selection_balance", "plot_study_shares", "plot_verdicts", "plot_share_vs_accuracy", "plot_batch_rule_control"]


def plot_selection_balance(
    records: Iterable[Mapping[str, Any]], y_train: Sequence[int] | np.ndarray | None = None, title: str = "class balance of the selected batches"
) -> "plt.Figure":
    """Two panels per strategy label (seeds pooled, :func:`altoolkit.analysis.selection_balance.selection_balance_table`):
    the share of a batch's largest class (mean bar, maximum as a black tick) and its normalised
    class entropy (mean bar, minimum as a black tick)."""
    rows = selection_balance_table(records, y_train)
    if not rows:
        raise ValueError("records must hold at least one AL record with a selected batch")
    names = [r["strategy"] for r in rows]
    styles = bar_styles(names)
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.35 * len(rows) + 1.4), sharey=True)
    y = np.arange(len(rows))
    for ax, mean, extreme, label in (
        (axes[0], "mean_largest_share", "max_largest_share", "largest-class share (| max)"),
        (axes[1], "mean_entropy", "min_entropy", "class entropy / log C (| min)"),
    ):
        bars = ax.barh(y, [r[mean] for r in rows], color=[styles[n]["color"] for n in names], edgecolor="white")
        for bar, n in zip(bars, names):
            bar.set_hatch(styles[n]["hatch"] or None)
        ax.scatter([r[extreme] for r in rows], y, marker="|", s=120, color="black", zorder=3)
        ax.set_xlim(0, 1.02)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_study_shares(
    rows: Sequence[Mapping[str, Any]],
    variants: Sequence[str],
    reference: str = "random",
    title: str = "share of the largest class in the top-k batch",
    highlight: str = "disal",
) -> "plt.Figure":
    """One column per study variant (``share_<variant>`` of a study row, e.g.
    :func:`altoolkit.drivers.why_selections_collapse.intervention_seed`): every seed as a dot, the
    mean as a bar (``highlight`` in DISAL's colour); ``reference`` (a random batch) as a dashed line."""
    missing = [v for v in list(variants) + [reference] if f"share_{v}" not in rows[0]]
    if missing:
        raise ValueError(f"rows have no share for variants {missing}")
    fig, ax = plt.subplots(figsize=(max(5, 0.55 * len(variants) + 1.5), 3.4))
    for i, v in enumerate(variants):
        vals = np.array([r[f"share_{v}"] for r in rows])
        ax.bar(i, vals.mean(), color=STRATEGY_STYLE["disal"]["color"] if v == highlight else "#bbbbbb", edgecolor="black", linewidth=0.5)
        ax.scatter(np.full(len(vals), i) + np.linspace(-0.2, 0.2, len(vals)), vals, s=9, color="black", zorder=3)
    ref = float(np.mean([r[f"share_{reference}"] for r in rows]))
    ax.axhline(ref, color=GREY, linestyle="--", label=f"{reference} batch (mean)")
    ax.set_xticks(range(len(variants)), variants, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("largest-class share")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_verdicts(
    verdicts: Mapping[Any, Any], title: str = "paired differences (95% intervals)", scale: float = 1.0, xlabel: str = "difference"
) -> "plt.Figure":
    """Mean and confidence interval of each :class:`altoolkit.math.stats.Verdict`, coloured by its
    verdict (holds: green, contradicted: red, inconclusive: grey), with 0 marked."""
    colors = {"holds": "#009e73", "contradicted": "#d55e00", "inconclusive": "#7f7f7f"}
    keys = list(verdicts)
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(keys) + 1.2))
    for i, k in enumerate(keys):
        v = verdicts[k]
        c = colors[v.verdict]
        if not np.isnan(v.ci_low):
            ax.plot([v.ci_low * scale, v.ci_high * scale], [i, i], color=c, linewidth=2)
        ax.plot(v.mean * scale, i, "o", color=c)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(keys)), [k if isinstance(k, str) else " > ".join(k) for k in keys], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def plot_share_vs_accuracy(
    rows: Sequence[Mapping[str, Any]], title: str = "largest-class share of the top-k batch against the scoring model's accuracy"
) -> "plt.Figure":
    """One panel per strategy (rows of :func:`altoolkit.drivers.why_selections_collapse.run_undertraining`):
    every (seed, labeled-set size, epochs) point as a dot at the test accuracy of the model that
    scored, the random batch's points as grey crosses in every panel, and a least-squares line per strategy."""
    strategies = list(dict.fromkeys(r["strategy"] for r in rows if r["strategy"] != "random"))
    if not strategies:
        raise ValueError("rows must hold at least one strategy besides random")
    fig, axes = plt.subplots(1, len(strategies), figsize=(2.6 * len(strategies) + 0.6, 2.9), sharey=True, squeeze=False)
    rand = [(r["test_acc"], r["share"]) for r in rows if r["strategy"] == "random"]
    for ax, name in zip(axes[0], strategies):
        pts = np.array([(r["test_acc"], r["share"]) for r in rows if r["strategy"] == name])
        if rand:
            ax.scatter(*np.array(rand).T, s=8, color=GREY, marker="x", label="random")
        color = strategy_style(name)["color"]
        ax.scatter(pts[:, 0], pts[:, 1], s=10, color=color, label=name)
        if np.ptp(pts[:, 0]) > 0:
            slope, icept = np.polyfit(pts[:, 0], pts[:, 1], 1)
            xs = np.linspace(pts[:, 0].min(), pts[:, 0].max(), 2)
            ax.plot(xs, slope * xs + icept, color=color, linewidth=1.5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("test accuracy of the scorer")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("largest-class share")
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_batch_rule_control(rows: Sequence[Any], title: str = "each batch rule against the same rule fed a random score") -> "plt.Figure":
    """Three panels, one line per (strategy, rule) of
    :func:`altoolkit.drivers.batch_rule_control.batch_rule_controls`: the batch's overlap with the
    score's top-k, the largest-class share with the real score (dot) and with the random score
    (cross), and the paired AULC difference score − control with its 95% interval (points)."""
    if not rows:
        raise ValueError("rows must hold at least one (strategy, rule) row of batch_rule_controls")
    labels = [f"{r.strategy} + {r.rule}" for r in rows]
    colors = [strategy_style(r.strategy)["color"] for r in rows]
    y = np.arange(len(rows))
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.3 * len(rows) + 1.6), sharey=True)
    axes[0].barh(y, [r.overlap for r in rows], color=colors)
    axes[0].set_xlim(0, 1.02)
    axes[0].set_xlabel("overlap with the score's top-k")
    axes[1].scatter([r.share for r in rows], y, color=colors, zorder=3, label="score")
    axes[1].scatter([r.control_share for r in rows], y, color=colors, marker="x", zorder=3, label="random score")
    axes[1].set_xlim(0, 1.02)
    axes[1].set_xlabel("largest-class share of a batch")
    axes[1].legend(fontsize=7, loc="lower right")
    for i, r in enumerate(rows):
        v = r.aulc_verdict
        if v is not None and not np.isnan(v.ci_low):
            axes[2].plot([100 * v.ci_low, 100 * v.ci_high], [i, i], color=colors[i], linewidth=2)
        if v is not None:
            axes[2].plot(100 * v.mean, i, "o", color=colors[i])
    axes[2].axvline(0, color="black", linewidth=0.8)
    axes[2].set_xlabel("AULC: score − random score (points)")
    for ax in axes:
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
