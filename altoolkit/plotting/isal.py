"""Figures of notebook 07 (ISAL's influence functions): up-weighting check, LiSSA convergence and
ISAL against Grad-Simi (the data come from :mod:`altoolkit.drivers.isal_influence_functions`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..drivers.isal_influence_functions import LissaConvergence, ScoreAgreement, UpweightingCheck
from .palette import series_styles


def plot_upweighting(check: UpweightingCheck) -> "plt.Figure":
    """Predicted (influence function) against retrained change of the reference loss."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.scatter(check.actual, check.predicted, s=22)
    lo = float(min(check.actual.min(), check.predicted.min()))
    hi = float(max(check.actual.max(), check.predicted.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("retrained: dL(R)/dε / n  (central difference)")
    ax.set_ylabel("predicted: −∇L(R)ᵀ(H+λI)⁻¹∇ℓ(z) / n")
    ax.set_title(f"up-weighting one pool sample (Pearson {check.pearson:.5f})", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_lissa_convergence(conv: LissaConvergence) -> "plt.Figure":
    """(a) relative error to the exact fixed point vs depth, (b) cosine of the estimate with v vs
    depth, (c) the fixed point's gain per Hessian eigenvalue, over the spectrum of H."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    cap = 1e3
    styles = series_styles(f"scale {s:g}" for s in conv.scales)
    for i, s in enumerate(conv.scales):
        st = styles[f"scale {s:g}"]
        lab = f"scale {s:g} (ridge {conv.damping * s:g})"
        err = conv.rel_error[i]
        blown = ~np.isfinite(err) | (err >= cap)
        if blown.any():
            lab += ": diverges"
        (line,) = axes[0].plot(conv.depths, np.where(blown, cap, err), marker=st["marker"], color=st["color"], label=lab)
        if blown.any():
            axes[0].plot(np.asarray(conv.depths)[blown], np.full(blown.sum(), cap), "x", color=line.get_color(), ms=9, label="_diverged")
        axes[1].plot(conv.depths, np.where(blown, np.nan, conv.cos_to_v[i]), marker=st["marker"], color=st["color"], label=lab)
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("LiSSA depth (steps)")
    axes[0].set_ylabel("relative error to scale·(H + damping·scale·I)⁻¹v")
    axes[0].set_ylim(top=cap * 2)
    axes[0].set_title(f"(a) convergence, batch {conv.batch_size}, {conv.repeats} repeat(s)", fontsize=9)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("LiSSA depth (steps)")
    axes[1].set_ylabel("cos(s_test, v)")
    axes[1].set_title("(b) how parallel s_test is to v (1 = Grad-Simi)", fontsize=9)
    lam = np.linspace(min(conv.eigenvalues.min(), 0.0), conv.eigenvalues.max(), 200)
    ax = axes[2]
    for s in conv.scales:
        r = conv.damping * s
        ok = lam + r > 0
        st = styles[f"scale {s:g}"]
        ax.plot(lam[ok], conv.filter(s, lam[ok]), label=f"scale {s:g}", color=st["color"], marker=st["marker"], markevery=25)
    ax.set_ylim(0, 1.5)
    ax.set_xlabel("eigenvalue λ of H")
    ax.set_ylabel("gain r/(λ + r), r = damping·scale")
    ax.set_title("(c) fixed point's gain per eigen-direction", fontsize=9)
    ax2 = ax.twinx()
    ax2.hist(conv.eigenvalues, bins=60, color="grey", alpha=0.3)
    ax2.set_yscale("log")
    ax2.set_ylabel("eigenvalues of H (count)")
    for a in axes:
        a.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_score_agreement(agreement: ScoreAgreement) -> "plt.Figure":
    """ISAL values against Grad-Simi values on the same pool, one panel per LiSSA scale."""
    k = len(agreement.scales)
    fig, axes = plt.subplots(1, k, figsize=(4.2 * k, 3.8), squeeze=False)
    gs = agreement.grad_simi.numpy()
    for ax, s, rho in zip(axes[0], agreement.scales, agreement.spearman):
        ax.scatter(gs, agreement.isal[s].numpy(), s=6, alpha=0.6)
        ax.set_xlabel("Grad-Simi: −v·G(z)/n")
        ax.set_ylabel("ISAL: −s_test·G(z)/n")
        ax.set_title(f"scale {s:g}: Spearman {rho:.5f}", fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
