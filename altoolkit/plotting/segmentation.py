"""Notebook 10's figures: scenes with their masks and boxes, what each strategy selects (the
scenes, not only numbers), where DISAL's per-pixel KL lies, and the time per cycle against random."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap

from .curves import strategy_style

__all__ = ["mask_colormap", "plot_scenes", "plot_selected_scenes", "plot_kl_maps", "plot_time_ratios"]


def mask_colormap(num_classes: int) -> ListedColormap:
    """Background black, each class its own colour of ``tab20`` (masks are drawn with it)."""
    colours = [(0.0, 0.0, 0.0, 1.0)] + [plt.get_cmap("tab20")(2 * (k % 10) + k // 10) for k in range(num_classes - 1)]
    return ListedColormap(colours)


def _image(dataset: Any, i: int) -> np.ndarray:
    x = dataset.x_train[i].float().numpy()
    return x[0] if x.shape[0] == 1 else np.transpose(x, (1, 2, 0)) / 255.0


def _boxes(ax: Any, dataset: Any, i: int) -> None:
    scenes = dataset.extras.get("train_scenes")
    if scenes is None:
        return
    for (x0, y0, x1, y1), digit in zip(scenes.boxes[i], scenes.labels[i]):
        ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, color="#ffd200", lw=0.8))
        ax.text(x0 - 0.5, y0 - 1.0, str(int(digit)), color="#ffd200", fontsize=6, va="bottom")


def plot_scenes(dataset: Any, indices: Sequence[int], title: str = "") -> "plt.Figure":
    """Two rows: scenes (with their boxes and digits, when the dataset keeps them) and their masks."""
    n = len(indices)
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n + 0.4, 3.4), squeeze=False)
    cmap = mask_colormap(dataset.num_classes)
    for c, i in enumerate(indices):
        axes[0][c].imshow(_image(dataset, i), cmap="gray")
        _boxes(axes[0][c], dataset, i)
        axes[1][c].imshow(dataset.y_train[i].numpy(), cmap=cmap, vmin=0, vmax=dataset.num_classes - 1, interpolation="nearest")
        for r in (0, 1):
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
    axes[0][0].set_ylabel("scene", fontsize=8)
    axes[1][0].set_ylabel("mask", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_selected_scenes(dataset: Any, selections: Mapping[str, Sequence[int]], n: int = 6, notes: Mapping[str, str] | None = None) -> "plt.Figure":
    """One row per strategy: its first ``n`` picks (dataset indices), each scene with its true mask
    drawn over it and its boxes; ``notes`` (per strategy) go under the row's name."""
    rows = list(selections)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n + 1.8, 1.35 * len(rows) + 0.2), squeeze=False)
    cmap = mask_colormap(dataset.num_classes)
    for r, name in enumerate(rows):
        idx = list(selections[name])[:n]
        for c in range(n):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(idx):
                ax.axis("off")
                continue
            ax.imshow(_image(dataset, idx[c]), cmap="gray")
            mask = dataset.y_train[idx[c]].numpy().astype(float)
            ax.imshow(np.ma.masked_where(mask == 0, mask), cmap=cmap, vmin=0, vmax=dataset.num_classes - 1, alpha=0.55, interpolation="nearest")
            _boxes(ax, dataset, idx[c])
        label = name + (f"\n{notes[name]}" if notes and name in notes else "")
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7, color=strategy_style(name)["color"])
    fig.tight_layout()
    return fig


def plot_kl_maps(dataset: Any, indices: Sequence[int], maps: torch.Tensor, title: str = "KL(f_T-1 || f_T) per pixel") -> "plt.Figure":
    """Scenes (top) and their per-pixel KL between the last two epochs (bottom, one colour scale)."""
    n = len(indices)
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n + 1.2, 3.4), squeeze=False)
    vmax = float(maps.max()) if maps.numel() else 1.0
    im = None
    for c, i in enumerate(indices):
        axes[0][c].imshow(_image(dataset, i), cmap="gray")
        im = axes[1][c].imshow(maps[c].numpy(), cmap="magma", vmin=0.0, vmax=vmax)
        axes[1][c].set_title(f"mean {float(maps[c].mean()):.2g}\nmax {float(maps[c].max()):.2g}", fontsize=6)
        for r in (0, 1):
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
    if im is not None:
        fig.colorbar(im, ax=axes[1].tolist(), fraction=0.02)
    fig.suptitle(title, fontsize=9)
    return fig


def plot_time_ratios(ratios: Mapping[str, Any], limit: float = 1.10, reference: str = "random") -> "plt.Figure":
    """Seconds per cycle over ``reference``'s (mean over seeds and its 95% interval), a line at 1 and at ``limit``."""
    names = list(ratios)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 1.6, 3.0))
    for k, name in enumerate(names):
        r = ratios[name]
        err = None if np.isnan(r.ci_low) else [[r.mean - r.ci_low], [r.ci_high - r.mean]]
        ax.bar(k, r.mean, color=strategy_style(name)["color"], yerr=err, capsize=3)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(limit, color="k", lw=0.8, ls="--", label=f"{limit:g} x {reference}")
    ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
    ax.set_ylim(0, None)
    ax.set_ylabel(f"seconds per cycle / {reference}'s")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
