"""Notebook 11's figures: scenes with true and predicted boxes, what each strategy selects and its
cost in boxes, and AP against labeled images and against labeled boxes."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .palette import series_styles

__all__ = ["plot_detections", "plot_selected_boxes", "plot_cost_curves"]

TRUE_COLOUR = "#ffd200"
PREDICTED_COLOUR = "#ff3b3b"


def _image(dataset: Any, i: int) -> np.ndarray:
    x = dataset.x_train[i].float().numpy()
    return x[0] if x.shape[0] == 1 else np.transpose(x, (1, 2, 0)) / 255.0


def _draw(ax: Any, boxes: Any, labels: Any, colour: str, scores: Any = None, names: Sequence[str] = ()) -> None:
    for k, ((x0, y0, x1, y1), c) in enumerate(zip(np.asarray(boxes).tolist(), np.asarray(labels).tolist())):
        ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, color=colour, lw=0.8))
        text = names[c] if names else str(c)
        if scores is not None:
            text += f" {float(scores[k]):.2f}"
        ax.text(x0 - 0.5, y0 - 1.0, text, color=colour, fontsize=5, va="bottom")


def plot_detections(
    dataset: Any, indices: Sequence[int], detections: Sequence[Mapping[str, Any]] | None = None, min_score: float = 0.3, title: str = ""
) -> "plt.Figure":
    """Scenes ``indices`` of the pool with their true boxes (yellow) and, when given, the detections
    with score >= ``min_score`` (red, with their scores)."""
    n = len(indices)
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n + 0.4, 2.0), squeeze=False)
    for c, i in enumerate(indices):
        ax = axes[0][c]
        ax.imshow(_image(dataset, i), cmap="gray")
        t = dataset.y_train[i]
        _draw(ax, t["boxes"], t["labels"], TRUE_COLOUR)
        if detections is not None:
            d = detections[c]
            keep = np.asarray(d["scores"]) >= min_score
            _draw(ax, np.asarray(d["boxes"])[keep], np.asarray(d["labels"])[keep], PREDICTED_COLOUR, np.asarray(d["scores"])[keep])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{len(t['labels'])} boxes", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_selected_boxes(dataset: Any, selections: Mapping[str, Sequence[int]], n: int = 6, notes: Mapping[str, str] | None = None) -> "plt.Figure":
    """One row per strategy: its first ``n`` picks (dataset indices) with their true boxes."""
    rows = len(selections)
    fig, axes = plt.subplots(rows, n, figsize=(1.3 * n + 1.2, 1.35 * rows + 0.3), squeeze=False)
    for r, (name, idx) in enumerate(selections.items()):
        for c in range(n):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(idx):
                ax.imshow(_image(dataset, int(idx[c])), cmap="gray")
                t = dataset.y_train[int(idx[c])]
                _draw(ax, t["boxes"], t["labels"], TRUE_COLOUR)
        note = (notes or {}).get(name, "")
        axes[r][0].set_ylabel(f"{name}\n{note}" if note else name, fontsize=7)
    fig.tight_layout()
    return fig


def plot_cost_curves(image_curves: Mapping[str, Any], box_curves: Mapping[str, Any], title: str = "", metric: str = "test AP") -> "plt.Figure":
    """Two panels: the metric against labeled images (mean ± std over seeds, the budgets) and
    against labeled boxes (every seed's run as a thin line, the mean cost and metric per cycle as
    markers): ISAL §4.2's two x-axes."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.4))
    styles = series_styles(list(dict.fromkeys([*image_curves, *box_curves])))
    line = {name: {k: st[k] for k in ("color", "marker", "linestyle")} for name, st in styles.items()}
    for name, c in image_curves.items():
        mean, std = c.acc.mean(0), c.acc.std(0, ddof=1) if c.acc.shape[0] > 1 else np.zeros(c.acc.shape[1])
        left.plot(c.n_labeled, mean, ms=3, label=name, **line[name])
        left.fill_between(c.n_labeled, mean - std, mean + std, alpha=0.15, color=line[name]["color"])
    for name, c in box_curves.items():
        for cost, m in zip(c.cost, c.metric):
            right.plot(cost, m, lw=0.6, alpha=0.35, color=line[name]["color"])
        right.plot(c.cost.mean(0), c.metric.mean(0), ms=3, label=name, **line[name])
    left.set_xlabel("labeled images")
    right.set_xlabel("labeled boxes (the annotation cost)")
    for ax in (left, right):
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    right.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
