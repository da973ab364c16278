"""Figures, thin over the rest of the package.  Every function returns the matplotlib Figure."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .results import CurveSummary

__all__ = ["save_figure", "plot_training_curves", "plot_score_histograms", "plot_learning_curves",
           "plot_rank_correlation", "plot_selection_gallery", "plot_class_histograms", "plot_seconds"]


def save_figure(fig: "plt.Figure", figures_dir: str | Path, name: str, dpi: int = 120) -> Path:
    """Save ``fig`` as ``figures_dir/name.png`` (folder created if needed) and return the path."""
    d = Path(figures_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def plot_training_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], title: str = "") -> "plt.Figure":
    """Train loss, dynamic-loss term and test accuracy per epoch, one line per run."""
    keys = [k for k in ("loss", "dynamic_loss", "test_acc") if any(k in h for h in histories.values())]
    names = {"loss": "training loss (CE + λ·KL)", "dynamic_loss": "dynamic loss KL(f̄ || f_θ)", "test_acc": "test accuracy"}
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), squeeze=False)
    for ax, k in zip(axes[0], keys):
        for lab, h in histories.items():
            if k in h:
                ax.plot(h["epoch"], h[k], label=lab)
        ax.set_xlabel("epoch")
        ax.set_title(names[k])
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_score_histograms(scores: Mapping[str, torch.Tensor], xlabel: str = "KL(f_T-1 || f_T)", log: bool = True,
                          bins: int = 40) -> "plt.Figure":
    """Overlaid histograms of per-sample scores (log-spaced bins when ``log``)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    vals = {k: np.asarray(v, dtype=np.float64) for k, v in scores.items()}
    allv = np.concatenate([v[v > 0] if log else v for v in vals.values()])
    if log and allv.size:
        edges = np.logspace(np.log10(allv.min()), np.log10(allv.max()), bins)
        ax.set_xscale("log")
    else:
        edges = bins
    for k, v in vals.items():
        ax.hist(v[v > 0] if log else v, bins=edges, histtype="step", linewidth=1.5, label=k)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pool samples")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_learning_curves(curves: Mapping[str, CurveSummary], title: str = "", percent: bool = True) -> "plt.Figure":
    """Mean test accuracy against labeled share, with a ± std band over seeds."""
    fig, ax = plt.subplots(figsize=(6, 4))
    k = 100.0 if percent else 1.0
    for lab, cs in curves.items():
        x = cs.fraction * 100
        ax.plot(x, cs.mean * k, marker="o", label=f"{lab} (n={len(cs.seeds)})")
        ax.fill_between(x, (cs.mean - cs.std) * k, (cs.mean + cs.std) * k, alpha=0.15)
    ax.set_xlabel("% of pool labeled")
    ax.set_ylabel("test accuracy (%)" if percent else "test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _image(dataset, idx: int) -> np.ndarray:
    """One stored sample as an image array for imshow (H, W) or (H, W, 3), scaled to [0, 1]."""
    x = dataset.x_train[idx]
    img = x.float().numpy()
    if img.ndim == 1:
        side = int(round(img.size ** 0.5))
        img = img.reshape(side, side) if side * side == img.size else img.reshape(1, -1)
    elif img.ndim == 3:
        img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def plot_rank_correlation(names: Sequence[str], rho: np.ndarray, title: str = "Spearman rank correlation of scores") -> "plt.Figure":
    """Heat map of pairwise rank correlations, values written in the cells."""
    n = len(names)
    fig, ax = plt.subplots(figsize=(0.6 * n + 2.5, 0.6 * n + 2))
    im = ax.imshow(rho, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{rho[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(rho[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_selection_gallery(dataset, selections: Mapping[str, Sequence[int]], n: int = 8,
                           scores: Mapping[str, Sequence[float]] | None = None) -> "plt.Figure":
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
                ax.imshow(_image(dataset, idx[c]), cmap="gray_r" if dataset.x_train.dim() <= 3 or dataset.x_train.shape[1] == 1 else None)
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
        ax.bar(range(dataset.num_classes), counts, color="tab:blue")
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
    """Horizontal bar chart of seconds per strategy (log scale)."""
    names = list(seconds)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(names) + 1))
    ax.barh(names, [seconds[n] for n in names], color="tab:gray")
    ax.set_xscale("log")
    ax.set_xlabel("seconds")
    ax.invert_yaxis()
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
