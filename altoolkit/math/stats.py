"""The one statistics path of altoolkit: areas under learning curves, paired differences per
seed, confidence intervals, rank correlation and three-valued verdicts.

Every table, claim and sentence that compares strategies goes through this module, so a number
printed by ``altoolkit summarize``, a notebook or the README is computed one way only.

Definitions (documented once, here):

* **AULC** (area under the learning curve): trapezoid rule over the labeled *fraction*, divided
  by the fraction range, so a curve at constant accuracy ``a`` has AULC ``a`` (in [0, 1]).
* **Paired difference**: ``a - b`` per seed, for the seeds both groups ran. A seed fixes the
  initial pool and the model initialisation, so the pairs share everything but the strategy.
* **Verdict** of a claim "A > B": the 95% confidence interval of the mean paired difference.
  *holds* when the interval lies above 0, *contradicted* when it lies below 0, *inconclusive*
  otherwise (it contains 0, or there are fewer than 2 seeds). The default interval is Student's
  t (``mean ± t_{0.975, n-1} · s / sqrt(n)``); ``method="bootstrap"`` uses a percentile
  bootstrap of the mean with a recorded seed.

Exact floats differ across CPUs (summation order, vector width); verdicts with their intervals
are what to compare between machines, never single numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np

__all__ = [
    "VERDICTS",
    "Verdict",
    "area_under_curve",
    "paired_differences",
    "confidence_interval",
    "verdict",
    "compare",
    "spearman",
]

VERDICTS = ("holds", "contradicted", "inconclusive")
IntervalMethod = Literal["t", "bootstrap"]


def area_under_curve(fraction: Sequence[float] | np.ndarray, acc: Sequence[float] | np.ndarray) -> np.ndarray:
    """Area under the learning curve over the labeled fraction, normalised to [0, 1].

    ``acc`` is ``(..., K)`` (e.g. seeds × budgets) with ``K = len(fraction)``; the result drops
    the last axis. With a single budget the AULC is that accuracy.

    Examples
    --------
    >>> float(area_under_curve([0.1, 0.2, 0.4], [0.5, 0.5, 0.5]))
    0.5
    >>> float(area_under_curve([0.0, 1.0], [0.0, 1.0]))
    0.5
    """
    f = np.asarray(fraction, dtype=float)
    a = np.asarray(acc, dtype=float)
    if f.ndim != 1 or a.shape[-1:] != f.shape or len(f) == 0:
        raise ValueError(f"fraction must be 1-D with one entry per budget (the last axis of acc); got {f.shape} and {a.shape}")
    if len(f) == 1:
        return a[..., 0]
    width = np.diff(f)
    if np.any(width <= 0):
        raise ValueError(f"fraction must be strictly increasing, got {f.tolist()}")
    return ((a[..., 1:] + a[..., :-1]) / 2 * width).sum(axis=-1) / (f[-1] - f[0])


def paired_differences(a: Mapping[int, float], b: Mapping[int, float]) -> tuple[list[int], np.ndarray]:
    """``a[s] - b[s]`` for every seed ``s`` that both mappings have, in seed order.

    >>> paired_differences({0: 0.9, 1: 0.8, 2: 0.7}, {1: 0.75, 2: 0.7, 3: 0.1})
    ([1, 2], array([0.05, 0.  ]))
    """
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError(f"the two groups share no seed (a: {sorted(a)}, b: {sorted(b)}); a paired comparison needs matched seeds")
    return seeds, np.array([float(a[s]) - float(b[s]) for s in seeds])


def confidence_interval(
    diffs: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    method: IntervalMethod = "t",
    bootstrap_seed: int = 0,
    n_bootstrap: int = 10_000,
) -> tuple[float, float]:
    """Two-sided confidence interval of the mean of ``diffs``.

    ``method="t"``: Student's t interval. ``method="bootstrap"``: percentile bootstrap of the
    mean, ``n_bootstrap`` resamples drawn with ``numpy.random.default_rng(bootstrap_seed)``.
    Fewer than 2 values give ``(nan, nan)``: no interval, so no verdict either way.

    >>> lo, hi = confidence_interval([1.0, 2.0, 3.0])
    >>> round(lo, 3), round(hi, 3)
    (-0.484, 4.484)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    if method not in ("t", "bootstrap"):
        raise ValueError(f"method must be 't' or 'bootstrap', got {method!r}")
    d = np.asarray(diffs, dtype=float).ravel()
    if not np.all(np.isfinite(d)):
        raise ValueError("diffs must be finite numbers (a NaN or inf difference has no interval)")
    n = len(d)
    if n < 2:
        return float("nan"), float("nan")
    mean = float(d.mean())
    if method == "t":
        from scipy import stats as _st

        half = float(_st.t.ppf(0.5 + confidence / 2, n - 1)) * float(d.std(ddof=1)) / np.sqrt(n)
        return float(mean - half), float(mean + half)
    rng = np.random.default_rng(bootstrap_seed)
    means = d[rng.integers(0, n, size=(n_bootstrap, n))].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))


@dataclass(frozen=True)
class Verdict:
    """The outcome of a claim "A > B" on paired differences ``A - B`` (one per seed)."""

    claim: str
    verdict: str  # one of VERDICTS
    mean: float
    ci_low: float
    ci_high: float
    n: int  # seeds
    wins: int  # seeds with a positive difference
    losses: int  # seeds with a negative difference
    method: str = "t"
    confidence: float = 0.95
    bootstrap_seed: int | None = None

    @property
    def holds(self) -> bool:
        return self.verdict == "holds"

    def interval_text(self, scale: float = 100.0, digits: int = 2) -> str:
        """``+0.82 [+0.10, +1.54]`` (``scale=100`` turns accuracies into points)."""
        if np.isnan(self.ci_low):
            return f"{self.mean * scale:+.{digits}f} [no interval]"
        return f"{self.mean * scale:+.{digits}f} [{self.ci_low * scale:+.{digits}f}, {self.ci_high * scale:+.{digits}f}]"

    def text(self, scale: float = 100.0, digits: int = 2) -> str:
        """One line: verdict, mean and interval, the interval's kind, seeds and wins."""
        kind = "t" if self.method == "t" else f"bootstrap, seed {self.bootstrap_seed}"
        return f"{self.verdict}: {self.interval_text(scale, digits)} ({self.confidence:.0%} {kind} interval, {self.n} seeds, {self.wins}/{self.n} wins)"

    def line(self, scale: float = 100.0, digits: int = 2) -> str:
        """``claim: verdict: mean [interval] (...)``, the claim named first."""
        return f"{self.claim}: {self.text(scale, digits)}" if self.claim else self.text(scale, digits)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(
    diffs: Sequence[float] | np.ndarray,
    claim: str = "",
    confidence: float = 0.95,
    method: IntervalMethod = "t",
    bootstrap_seed: int = 0,
) -> Verdict:
    """Three-valued verdict of "the mean of ``diffs`` is above 0".

    >>> verdict([0.01, 0.02, 0.015, 0.012], "A > B").verdict
    'holds'
    >>> verdict([-0.01, -0.02, -0.015], "A > B").verdict
    'contradicted'
    >>> verdict([0.01, -0.02, 0.015], "A > B").verdict
    'inconclusive'
    """
    d = np.asarray(diffs, dtype=float).ravel()
    lo, hi = confidence_interval(d, confidence, method, bootstrap_seed)
    if np.isnan(lo):
        label = "inconclusive"
    elif lo > 0:
        label = "holds"
    elif hi < 0:
        label = "contradicted"
    else:
        label = "inconclusive"
    return Verdict(
        claim=claim,
        verdict=label,
        mean=float(d.mean()) if len(d) else float("nan"),
        ci_low=lo,
        ci_high=hi,
        n=len(d),
        wins=int((d > 0).sum()),
        losses=int((d < 0).sum()),
        method=method,
        confidence=confidence,
        bootstrap_seed=bootstrap_seed if method == "bootstrap" else None,
    )


def compare(
    a: Mapping[int, float],
    b: Mapping[int, float],
    claim: str = "",
    confidence: float = 0.95,
    method: IntervalMethod = "t",
    bootstrap_seed: int = 0,
) -> Verdict:
    """Verdict of "A > B" from per-seed values of A and B, paired by seed."""
    _, d = paired_differences(a, b)
    return verdict(d, claim, confidence, method, bootstrap_seed)


def spearman(a: Sequence[float] | np.ndarray | Any, b: Sequence[float] | np.ndarray | Any) -> float:
    """Spearman rank correlation (scipy's ``spearmanr``: ties get their average rank).

    Accepts sequences, numpy arrays or torch tensors. Constant input has no rank correlation
    and gives ``nan``.

    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40])
    1.0
    >>> spearman([1, 2, 3, 4], [4, 3, 2, 1])
    -1.0
    """
    from scipy.stats import spearmanr

    x = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a, dtype=float).ravel()
    y = np.asarray(b.detach().cpu() if hasattr(b, "detach") else b, dtype=float).ravel()
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"spearman needs two 1-D sequences of the same length (at least 2); got {len(x)} and {len(y)}")
    if np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(spearmanr(x, y).statistic)
