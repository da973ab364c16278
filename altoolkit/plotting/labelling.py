"""Figures of a labelling project (notebook 08): accuracy per cycle and labels per class, and the
images of a batch to label.

The functions read a :class:`altoolkit.labelling.project.LabelingProject` and its
:class:`altoolkit.labelling.store.Batch` through their public methods only (plotting and
labelling sit side by side in the layers and import neither the other)."""

from __future__ import annotations

from typing import Any

from ..util.checks import check_int
from .palette import OKABE_ITO


def plot_history(project: Any, final: tuple[int, float] | None = None):
    """Two panels: held-out accuracy against the number of labels each cycle's model was trained
    on (plus ``final = (n_labels, accuracy)`` when given), and the stored labels per class."""
    import matplotlib.pyplot as plt

    rows = [r for r in project.history() if r["test_acc"] is not None]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.4))
    xs = [r["n_labeled"] for r in rows]
    ys = [100 * r["test_acc"] for r in rows]
    if final is not None and final[1] is not None:
        xs, ys = xs + [final[0]], ys + [100 * final[1]]
    if xs:
        ax1.plot(xs, ys, marker="o", color=OKABE_ITO["blue"])
    else:
        ax1.text(0.5, 0.5, "no trained cycle yet:\nlabel the first batch", ha="center", va="center", transform=ax1.transAxes)
    ax1.set_xlabel("labels the model was trained on")
    ax1.set_ylabel("held-out accuracy (%)")
    ax1.grid(alpha=0.3)
    ax1.set_title(f"{project.strategy.name}: accuracy per cycle")
    counts = project.store.counts()
    ax2.bar(range(len(counts)), list(counts.values()), color=OKABE_ITO["blue"])
    ax2.set_xticks(range(len(counts)), list(counts), rotation=90 if len(counts) > 12 else 0, fontsize=8)
    ax2.set_title(f"stored labels per class ({sum(counts.values())} in all)")
    ax2.set_xlabel("class")
    fig.tight_layout()
    return fig


def plot_batch(project: Any, batch: Any, n: int = 20, cols: int = 10):
    """The first ``n`` images of ``batch`` in the order they are shown, each titled with its rank,
    its score (when the strategy has per-sample scores) and its stored label, if any (never the
    true label: a labelling project does not know it)."""
    import matplotlib.pyplot as plt

    n = min(check_int("n", n, 1), len(batch))
    cols = min(check_int("cols", cols, 1), n)
    rows = -(-n // cols)
    labels, skipped = project.store.labels(), project.store.skipped()
    fig, axes = plt.subplots(rows, cols, figsize=(1.05 * cols + 0.4, 1.35 * rows + 0.5), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.axis("off")
            continue
        item = batch.items[k]
        img = project.item_image(item)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        score = batch.scores[k]
        lines = [f"#{k + 1}" + (f" {score:.2g}" if score is not None else "")]
        lines.append(f"→ {labels[item]}" if item in labels else ("skipped" if item in skipped else "?"))
        ax.set_title("\n".join(lines), fontsize=7)
    fig.suptitle(f"batch {batch.id} (cycle {batch.cycle}, {batch.strategy}): images to label, in order", fontsize=9)
    fig.tight_layout()
    return fig
