"""Figures, thin over the rest of the package.  Every function returns the matplotlib Figure."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .results import CurveSummary

__all__ = ["save_figure", "plot_training_curves", "plot_score_histograms", "plot_learning_curves"]


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
