"""Prose generated from computed values, so that a notebook's sentences cannot contradict its numbers.

This module owns the words the notebooks use for a number or a direction ("anti-correlated",
"above the random baseline", "closest relative"): each function takes the values a cell computed
and returns the sentence, with the numbers in it.  ``show`` displays a sentence or a Markdown table
as rendered Markdown (``IPython.display.Markdown``) instead of raw ``|---|`` text.

Thresholds are parameters with the defaults named in each docstring; a sentence always carries the
value it is about, so a reader can judge the word against the number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "show",
    "correlation_phrase",
    "ratio_phrase",
    "compare_phrase",
    "rank_map_reading",
    "class_spread_reading",
    "overlap_reading",
    "geometry_reading",
    "cost_reading",
]


def show(text: str) -> None:
    """Display ``text`` (a sentence or a Markdown table) as rendered Markdown in a notebook; print it
    outside IPython.  Returns None, so nothing else is echoed by the cell."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebook extras
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))


def _check_threshold(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def correlation_phrase(rho: float, weak: float = 0.1, strong: float = 0.7) -> str:
    """Words for a rank correlation: ``|ρ| < weak`` "nearly uncorrelated", ``ρ >= strong``
    "strongly correlated", ``0 < ρ < strong`` "positively correlated", and the mirror images with
    "anti-correlated".  The value follows in parentheses, e.g. ``"nearly uncorrelated (ρ = +0.04)"``."""
    weak, strong = _check_threshold("weak", weak), _check_threshold("strong", strong)
    if weak > strong:
        raise ValueError(f"weak ({weak}) must not exceed strong ({strong})")
    r = float(rho)
    if not np.isfinite(r):
        return f"not comparable (ρ = {r})"
    if abs(r) < weak:
        word = "nearly uncorrelated"
    elif r >= strong:
        word = "strongly correlated"
    elif r > 0:
        word = "positively correlated"
    elif r <= -strong:
        word = "strongly anti-correlated"
    else:
        word = "anti-correlated"
    return f"{word} (ρ = {r:+.2f})"


def ratio_phrase(value: float, reference: float, near: float = 0.25, clear: float = 2.0) -> str:
    """Where ``value`` lies against ``reference`` (> 0): "clearly above" (ratio >= ``clear``),
    "above" (>= 1 + ``near``), "close to" (within ``near`` of a ratio of 1), "below", or "clearly
    below" (<= 1 / ``clear``), with the ratio, e.g. ``"clearly above (8.1× the reference)"``."""
    if not reference > 0:
        raise ValueError(f"reference must be positive, got {reference!r}")
    if not clear > 1 + near:
        raise ValueError(f"clear ({clear}) must exceed 1 + near ({1 + near})")
    q = float(value) / float(reference)
    if q >= clear:
        word = "clearly above"
    elif q >= 1 + near:
        word = "above"
    elif q > 1 / (1 + near):
        word = "close to"
    elif q > 1 / clear:
        word = "below"
    else:
        word = "clearly below"
    return f"{word} ({q:.2f}× the reference)"


def compare_phrase(a: float, b: float, rel_tol: float = 0.01) -> str:
    """ "higher than", "lower than" or "about equal to" (within ``rel_tol`` of the larger magnitude)."""
    a, b = float(a), float(b)
    if abs(a - b) <= rel_tol * max(abs(a), abs(b), 1e-300):
        return "about equal to"
    return "higher than" if a > b else "lower than"


_UNCERTAINTY = ("entropy", "margin", "least_confidence")


def rank_map_reading(names: Sequence[str], rho: np.ndarray) -> str:
    """Sentences that read a Spearman matrix (notebook 03's heat map) from its entries: how closely
    entropy, margin and least-confidence agree, how AL-GradNorm relates to entropy, and which score
    is DISAL's closest relative (the largest ρ in DISAL's row) with the CE-difference oracle's rank."""
    names = list(names)
    rho = np.asarray(rho, dtype=float)
    if rho.shape != (len(names), len(names)):
        raise ValueError(f"rho must be a {len(names)}x{len(names)} matrix for {len(names)} names, got shape {rho.shape}")
    ix = {n: i for i, n in enumerate(names)}
    out: list[str] = []
    trio = [n for n in _UNCERTAINTY if n in ix]
    if len(trio) >= 2:
        pairs = [rho[ix[a], ix[b]] for k, a in enumerate(trio) for b in trio[k + 1 :]]
        lo, hi = min(pairs), max(pairs)
        out.append(f"**{', '.join(trio)}** agree with pairwise ρ from {lo:+.2f} to {hi:+.2f}: at the weakest pair they are {correlation_phrase(lo)}.")
    if "gradnorm" in ix and "entropy" in ix:
        r = rho[ix["gradnorm"], ix["entropy"]]
        out.append(f"**AL-GradNorm** and entropy are {correlation_phrase(r)}.")
    if "disal" in ix and len(names) > 1:
        row = [(rho[ix["disal"], ix[n]], n) for n in names if n != "disal"]
        row.sort(key=lambda t: -t[0])
        best_r, best = row[0]
        out.append(f"**DISAL's KL score** is closest to **{best}**: {correlation_phrase(best_r)}.")
        if "ce_difference" in ix and best != "ce_difference":
            rank = [n for _, n in row].index("ce_difference") + 1
            r = rho[ix["disal"], ix["ce_difference"]]
            out.append(
                f"The CE-difference oracle (same two checkpoints, true labels) is only number {rank} of {len(row)} in DISAL's row: {correlation_phrase(r)}."
            )
    return " ".join(out) if out else "No pair of the named strategies to read."


def class_spread_reading(spread: Mapping[str, float], groups: Mapping[str, Sequence[str]]) -> str:
    """Compare the mean normalised class entropy (1 = spread evenly over the classes) of groups of
    selections, e.g. ``{"uncertainty scores": [...], "set-based and random": [...]}``; the group
    names present in ``spread`` are used, the others ignored."""
    means = {}
    for g, members in groups.items():
        vals = [float(spread[m]) for m in members if m in spread and np.isfinite(spread[m])]
        if vals:
            means[g] = (float(np.mean(vals)), [m for m in members if m in spread])
    if len(means) < 2:
        return "Fewer than two groups of strategies to compare."
    parts = [f"{g} ({', '.join(ms)}): mean class entropy {v:.2f}" for g, (v, ms) in means.items()]
    order = sorted(means, key=lambda g: -means[g][0])
    return "; ".join(parts) + f". The most evenly spread group is **{order[0]}**, the least **{order[-1]}** (1 = every class equally often, 0 = one class)."


def overlap_reading(curves: Mapping[str, Any], rate: float) -> str:
    """For each :class:`altoolkit.drivers.checkpoint_fluctuation.OverlapCurve`, where its mean Jaccard between epochs
    lies against independent random subsets at the rate closest to ``rate``."""
    out = []
    for name, cv in curves.items():
        rates = np.asarray(cv.rates, dtype=float)
        i = int(np.argmin(np.abs(rates - rate)))
        j, r0 = float(cv.mean_jaccard[i]), float(cv.random_jaccard[i])
        out.append(f"**{name}** at {rates[i]:.0%}: Jaccard {j:.3f} against {r0:.3f} for random subsets, {ratio_phrase(j, r0)}")
    return "; ".join(out) + "." if out else "No curve to read."


def _listing(means: Mapping[str, Mapping[str, float]], names: Sequence[str]) -> str:
    return ", ".join(f"{s} {means[s]['spread']:.2f}" for s in names)


def geometry_reading(means: Mapping[str, Mapping[str, float]], score_based: Sequence[str] = ("disal", "disal_no_dynamic", "entropy")) -> str:
    """Read notebook 04's relative geometry (1 = like random selection): entropy's boundary measures,
    and which score-based selections are more or less spread than random."""
    out = []
    if "entropy" in means:
        e = means["entropy"]
        out.append(f"Entropy's `boundary_ratio` is {e['boundary_ratio']:.2f} and its `boundary_fraction` {e['boundary_fraction']:.2f} (1 = like random).")
    less = [s for s in score_based if s in means and means[s]["spread"] < 1]
    more = [s for s in score_based if s in means and means[s]["spread"] >= 1]
    if less:
        out.append(f"Less spread than random (`spread` < 1): {_listing(means, less)}.")
    if more:
        out.append(f"As spread as random or more: {_listing(means, more)}.")
    return " ".join(out)


def cost_reading(v: Any, a: str, b: str) -> str:
    """The sentence for :func:`altoolkit.analysis.results.seconds_ratio` (``a`` against ``b``): the
    geometric mean ratio of their cycle seconds with its interval, and the direction only where the
    interval says it: "longer" (interval above 1), "shorter" (below 1), otherwise "no difference
    shown"."""
    from .results import ratio_text

    word = {"holds": f"longer than {b}'s", "contradicted": f"shorter than {b}'s"}.get(v.verdict, f"no difference from {b}'s shown")
    if np.isnan(v.ci_low):
        return f"A {a} cycle took {ratio_text(v)} the time of a {b} cycle ({v.n} seed): one seed gives no interval, so no direction is stated."
    return f"A {a} cycle took {ratio_text(v)} the time of a {b} cycle ({v.confidence:.0%} t interval of the per-seed ratio, {v.n} seeds): **{word}**."
