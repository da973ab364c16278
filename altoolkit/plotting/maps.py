"""Figures of selections on t-SNE maps and of their overlap (DISAL Fig. 1 and Fig. 6).

Thin over :mod:`altoolkit.drivers.tsne_selections` and :mod:`altoolkit.drivers.checkpoint_fluctuation`; every function returns
the matplotlib Figure (save it with :func:`altoolkit.plotting.curves.save_figure`); strategies keep the
palette rule of :mod:`altoolkit.plotting.palette`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..drivers.checkpoint_fluctuation import jaccard
from .palette import GREY, series_styles

if TYPE_CHECKING:
    import torch

__all__ = [
    "SELECTION_STYLES",
    "SELECTION_COLORS",
    "class_colors",
    "plot_selection_map",
    "plot_selection_maps",
    "plot_jaccard_matrix",
    "epoch_drawer",
    "plot_overlap_vs_rate",
    "plot_selection_geometry",
]

#: Marker styles of the 1st, 2nd, ... selection on a map.  Classes are faint filled dots in tab10
#: colours, so selections use shapes and colours no class uses: black crosses, then white squares
#: with a black edge, ...; samples in both of two selections are black stars.
SELECTION_STYLES: tuple[dict[str, str], ...] = (
    {"color": "black", "marker": "X", "edgecolors": "white"},
    {"color": "white", "marker": "s", "edgecolors": "black"},
    {"color": "yellow", "marker": "D", "edgecolors": "black"},
    {"color": "black", "marker": "+", "edgecolors": "black"},
    {"color": "white", "marker": "^", "edgecolors": "black"},
    {"color": "lime", "marker": "v", "edgecolors": "black"},
)
#: The colours of :data:`SELECTION_STYLES` (kept for callers that pass ``colors=``).
SELECTION_COLORS: tuple[str, ...] = tuple(s["color"] for s in SELECTION_STYLES)
_BOTH_STYLE = {"color": "black", "marker": "*", "edgecolors": "white"}


def class_colors(num_classes: int) -> list:
    """One colour per class (tab10 up to 10 classes, tab20 up to 20, then a spaced colormap)."""
    if num_classes <= 10:
        cmap = plt.get_cmap("tab10")
    elif num_classes <= 20:
        cmap = plt.get_cmap("tab20")
    else:
        cmap = plt.get_cmap("gist_ncar")
        return [cmap(i / num_classes) for i in range(num_classes)]
    return [cmap(i) for i in range(num_classes)]


def _names_for(labels: np.ndarray, class_names: Sequence[str] | None) -> list[str]:
    k = int(labels.max()) + 1 if labels.size else 0
    if class_names is None:
        return [str(c) for c in range(k)]
    if len(class_names) < k:
        raise ValueError(f"class_names has {len(class_names)} names but the labels go up to {k - 1}")
    return list(class_names)


def _draw_map(
    ax, pool_map, selections: Mapping[str, Any], class_names, colors, faint_alpha: float, point_size: float, marker_size: float, show_overlap: bool
) -> tuple[list, list]:
    """Draw the pool (faint, per class) and the selections; return (class handles, selection handles)."""
    labels = pool_map.labels
    names = _names_for(labels, class_names)
    cols = class_colors(len(names))
    class_handles = []
    for c in np.unique(labels):
        m = labels == c
        class_handles.append(
            ax.scatter(pool_map.coords[m, 0], pool_map.coords[m, 1], s=point_size, color=cols[c], alpha=faint_alpha, linewidths=0, label=names[c])
        )
    sels = {k: np.asarray(v.cpu() if hasattr(v, "cpu") else v, dtype=np.int64).reshape(-1) for k, v in selections.items()}
    both = set()
    if show_overlap and len(sels) == 2:
        a, b = (set(v.tolist()) for v in sels.values())
        both = a & b
    handles = []
    for j, (name, idx) in enumerate(sels.items()):
        st = dict(SELECTION_STYLES[j % len(SELECTION_STYLES)])
        if colors is not SELECTION_COLORS:
            st["color"] = colors[j % len(colors)]
        own = np.array([i for i in idx if i not in both], dtype=np.int64)
        xy = pool_map.coords_of(own) if own.size else np.empty((0, 2))
        edge = st["edgecolors"] if st["marker"] != "+" else None
        handles.append(
            ax.scatter(
                xy[:, 0],
                xy[:, 1],
                s=marker_size * 1.6,
                c=st["color"],
                marker=st["marker"],
                edgecolors=edge,
                linewidths=0.6 if st["marker"] != "+" else 1.2,
                label=f"{name} (n={len(idx)})",
                zorder=3,
            )
        )
    if both:
        xy = pool_map.coords_of(sorted(both))
        handles.append(
            ax.scatter(
                xy[:, 0],
                xy[:, 1],
                s=marker_size * 2.4,
                c=_BOTH_STYLE["color"],
                marker=_BOTH_STYLE["marker"],
                edgecolors=_BOTH_STYLE["edgecolors"],
                linewidths=0.4,
                label=f"in both (n={len(both)})",
                zorder=4,
            )
        )
    ax.set_xticks([])
    ax.set_yticks([])
    return class_handles, handles


def plot_selection_map(
    pool_map: Any,
    selections: Mapping[str, Sequence[int]],
    class_names: Sequence[str] | None = None,
    title: str = "",
    colors: Sequence[str] = SELECTION_COLORS,
    faint_alpha: float = 0.25,
    show_overlap: bool = True,
    figsize: tuple[float, float] = (7.5, 6.0),
) -> "plt.Figure":
    """A t-SNE map of the pool in faint class colours with selections marked on top.

    ``pool_map`` is an :class:`altoolkit.analysis.pool_maps.PoolMap`; ``selections`` maps a legend label
    to dataset indices (all must be on the map).  DISAL Fig. 1 draws the two selections in red and
    blue; here they are black crosses and black-edged white squares (:data:`SELECTION_STYLES`), which
    no class colour can be confused with; with exactly two selections and ``show_overlap``, samples
    in both are black stars.
    One legend at the right: the classes, then the selections.
    """
    fig, ax = plt.subplots(figsize=figsize)
    class_handles, sel_handles = _draw_map(ax, pool_map, selections, class_names, colors, faint_alpha, 8, 22, show_overlap)
    leg = ax.legend(handles=class_handles + sel_handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="class / selection", frameon=False)
    for h in leg.legend_handles[: len(class_handles)]:
        h.set_alpha(0.8)
        h.set_sizes([30])
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_selection_maps(
    maps: Any,
    selections: Mapping[str, Sequence[int]],
    class_names: Sequence[str] | None = None,
    cols: int = 3,
    color: str = "black",
    faint_alpha: float = 0.25,
    panel_size: float = 3.6,
    suptitle: str = "",
) -> "plt.Figure":
    """Small multiples: one panel per selection, each as black crosses on its map (a colour and
    marker no class uses).

    ``maps`` is either one :class:`~altoolkit.analysis.pool_maps.PoolMap` shared by all panels (e.g. the
    epochs of one run, DISAL Fig. 1) or a mapping with one map per selection name (each
    strategy's own model, DISAL Fig. 6).  One class legend for the whole figure.
    """
    names = list(selections)
    if not names:
        raise ValueError("selections must name at least one selection")
    per = maps if isinstance(maps, Mapping) else {n: maps for n in names}
    missing = [n for n in names if n not in per]
    if missing:
        raise ValueError(f"no map given for selections {missing}")
    cols = max(1, min(cols, len(names)))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size * cols + 1.2, panel_size * rows), squeeze=False)
    class_handles = []
    for k, name in enumerate(names):
        ax = axes[k // cols][k % cols]
        handles, _ = _draw_map(
            ax, per[name], {name: selections[name]}, class_names, SELECTION_COLORS if color == "black" else (color,), faint_alpha, 4, 12, False
        )
        class_handles = class_handles or handles
        ax.set_title(f"{name} (n={len(selections[name])})", fontsize=9)
    for k in range(len(names), rows * cols):
        axes[k // cols][k % cols].axis("off")
    leg = fig.legend(handles=class_handles, loc="center right", fontsize=8, title="class", frameon=False)
    for h in leg.legend_handles:
        h.set_alpha(0.8)
        h.set_sizes([30])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0, 1 - 1.0 / (panel_size * cols + 1.2), 1))
    return fig


def plot_jaccard_matrix(
    labels: Sequence[Any], matrix: np.ndarray, title: str = "Jaccard overlap of selected subsets", axis_label: str = "epoch"
) -> "plt.Figure":
    """Heat map of pairwise Jaccard overlaps (0 = disjoint, 1 = identical), values in the cells."""
    m = np.asarray(matrix, dtype=np.float64)
    n = len(labels)
    if m.shape != (n, n):
        raise ValueError(f"matrix must be ({n}, {n}) for {n} labels, got {m.shape}")
    fig, ax = plt.subplots(figsize=(0.55 * n + 2.8, 0.55 * n + 2.2))
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(n), [str(v) for v in labels])
    ax.set_yticks(range(n), [str(v) for v in labels])
    ax.set_xlabel(axis_label)
    ax.set_ylabel(axis_label)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7, color="black" if m[i, j] > 0.6 else "white")
    fig.colorbar(im, ax=ax, shrink=0.8, label="Jaccard |A∩B| / |A∪B|")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_overlap_vs_rate(curves: Mapping[str, Any], title: str = "overlap of the epochs' subsets vs selection rate") -> "plt.Figure":
    """Mean pairwise Jaccard between epochs (band: min..max pair) against the selection rate,
    one line per strategy, and the exact expectation for independent random subsets (dashed)."""
    if not curves:
        raise ValueError("curves must hold at least one OverlapCurve")
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    styles = series_styles(curves)
    for name, cv in curves.items():
        x = cv.rates * 100
        st = styles[name]
        (line,) = ax.plot(x, cv.mean_jaccard, marker=st["marker"], color=st["color"], linestyle=st["linestyle"], label=f"{name}: mean over epoch pairs")
        ax.fill_between(x, cv.min_jaccard, cv.max_jaccard, color=line.get_color(), alpha=0.15)
    first = next(iter(curves.values()))
    ax.plot(first.rates * 100, first.random_jaccard, "k--", label="independent random subsets")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xticks(first.rates * 100, [f"{r * 100:g}%" for r in first.rates])
    ax.minorticks_off()
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("selection rate (% of the unlabeled pool)")
    ax.set_ylabel("Jaccard overlap between epochs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_selection_geometry(
    relative: Mapping[str, Sequence[Mapping[str, float]]], title: str = "first-cycle selections relative to random (= 1)"
) -> "plt.Figure":
    """Grouped bars of relative selection measures (:func:`altoolkit.drivers.tsne_selections.relative_geometry`),
    mean over seeds with ± std error bars, one group per measure, one bar per strategy; the dashed
    line at 1 is what a uniformly random selection gets in expectation."""
    names = list(relative)
    if not names or not all(len(relative[n]) for n in names):
        raise ValueError("relative must map each strategy to at least one dict of relative measures")
    measures = list(relative[names[0]][0])
    fig, ax = plt.subplots(figsize=(1.5 * len(measures) + 2.5, 3.8))
    width = 0.8 / len(names)
    styles = series_styles(names)
    for j, name in enumerate(names):
        vals = np.array([[d[m] for m in measures] for d in relative[name]], dtype=np.float64)
        mean = np.nanmean(vals, axis=0)
        std = np.nanstd(vals, axis=0) if len(vals) > 1 else None
        ax.bar(
            np.arange(len(measures)) + (j - (len(names) - 1) / 2) * width,
            mean,
            width,
            yerr=std,
            capsize=2,
            color=styles[name]["color"],
            hatch=styles[name]["hatch"] or None,
            edgecolor="white",
            label=f"{name} (n={len(vals)} seeds)",
        )
    ax.axhline(1.0, color=GREY, ls="--", lw=1, label="random selection")
    ax.set_xticks(range(len(measures)), [m.replace("_", "\n") for m in measures], fontsize=8)
    ax.set_ylabel("selection / random")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def epoch_drawer(
    pool_map: Any,
    subsets: Mapping[int, Sequence[int] | torch.Tensor],
    class_names: Sequence[str] | None = None,
    reference_epoch: int | None = None,
    title: str = "selection after epoch {epoch}",
) -> Callable[[int], Any]:
    """A ``draw(epoch) -> matplotlib Figure`` callback for an epoch slider (ipywidgets).

    Each call draws ``pool_map`` (an :class:`altoolkit.analysis.pool_maps.PoolMap`) with the subset of that
    epoch in red and, when ``reference_epoch`` is given, the reference epoch's subset in blue
    (samples in both in purple), as in DISAL Fig. 1; the Jaccard overlap with the reference is in
    the title.  The figure of the previous call is closed, so a slider does not pile up figures.
    ``subsets`` holds dataset indices per epoch (:func:`checkpoint_selections`).
    """
    if not subsets:
        raise ValueError("subsets must map at least one epoch to its selected dataset indices")
    if reference_epoch is not None and reference_epoch not in subsets:
        raise ValueError(f"reference_epoch must be one of {sorted(subsets)}, got {reference_epoch!r}")
    pool_map.positions(np.concatenate([np.asarray(s) for s in subsets.values()]))  # all on the map
    last: list[Any] = []

    def draw(epoch: int) -> Any:
        if epoch not in subsets:
            raise ValueError(f"epoch must be one of {sorted(subsets)}, got {epoch!r}")
        for f in last:
            plt.close(f)
        last.clear()
        sel = {f"epoch {epoch}": subsets[epoch]}
        head = title.format(epoch=epoch)
        if reference_epoch is not None and reference_epoch != epoch:
            sel[f"epoch {reference_epoch}"] = subsets[reference_epoch]
            head += f" (Jaccard with epoch {reference_epoch}: {jaccard(subsets[epoch], subsets[reference_epoch]):.2f})"
        fig = plot_selection_map(pool_map, sel, class_names=class_names, title=head)
        last.append(fig)
        return fig

    return draw
