"""Figures of the selection-balance diagnostics and of the collapse study (notebook 09, issue 10),
in the style of :mod:`altoolkit.plotting.curves` (strategy colours, linear axes from 0, returned Figures).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .palette import GREY, STRATEGY_STYLE, bar_styles
from ..analysis.selection_balance import selection_balance_table

__all__ = ["plot_selection_balance", "plot_study_shares", "plot_verdicts"]


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
    rows: Sequence[Mapping[str, Any]], variants: Sequence[str], reference: str = "random", title: str = "share of the largest class in the top-k batch"
) -> "plt.Figure":
    """One column per study variant (``share_<variant>`` of :func:`altoolkit.drivers.why_selections_collapse.study_seed`):
    every seed as a dot, the mean as a bar; ``reference`` (a random batch) as a dashed line."""
    missing = [v for v in list(variants) + [reference] if f"share_{v}" not in rows[0]]
    if missing:
        raise ValueError(f"rows have no share for variants {missing}")
    fig, ax = plt.subplots(figsize=(max(5, 0.55 * len(variants) + 1.5), 3.4))
    for i, v in enumerate(variants):
        vals = np.array([r[f"share_{v}"] for r in rows])
        ax.bar(i, vals.mean(), color=STRATEGY_STYLE["disal"]["color"] if v == "disal" else "#bbbbbb", edgecolor="black", linewidth=0.5)
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
