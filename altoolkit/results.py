"""Summaries of AL records: learning curves over seeds and tables.

A record is what :func:`altoolkit.loop.run_active_learning` returns (or :func:`load_record`
reads).  Records are grouped by a label (by default the strategy name, with λ when it was set
explicitly) and summarised per labeled-set size as mean ± std over seeds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

__all__ = [
    "CurveSummary",
    "PairedComparison",
    "record_label",
    "select_records",
    "learning_curves",
    "markdown_table",
    "cycle_seconds",
    "paired_comparison",
    "area_under_curve",
    "labels_to_reach",
]


def area_under_curve(fraction: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Area under the learning curve (AULC) over the labeled fraction, normalised to [0, 1].

    Trapezoid rule over ``fraction`` divided by the fraction range ``fraction[-1] - fraction[0]``,
    so a curve at constant accuracy ``a`` has AULC ``a``.  ``acc`` is ``(..., K)`` (e.g. seeds ×
    budgets); the result drops the last axis.  With a single budget the AULC is that accuracy.
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


def labels_to_reach(n_labeled: np.ndarray, acc: np.ndarray, target: float) -> float | None:
    """Smallest number of labels at which the curve ``acc(n_labeled)`` reaches ``target``.

    ISAL's measure (Sec. 4.1): the curve is linear between budgets, so the crossing inside a
    segment is interpolated.  ``None`` when the curve never reaches ``target``.
    """
    n = np.asarray(n_labeled, dtype=float)
    a = np.asarray(acc, dtype=float)
    if n.ndim != 1 or a.shape != n.shape or len(n) == 0:
        raise ValueError(f"n_labeled and acc must be 1-D of the same length; got {n.shape} and {a.shape}")
    if a[0] >= target:
        return float(n[0])
    for i in range(1, len(n)):
        if a[i] >= target:
            return float(n[i - 1] + (target - a[i - 1]) / (a[i] - a[i - 1]) * (n[i] - n[i - 1]))
    return None


@dataclass
class CurveSummary:
    """Accuracy per labeled-set size for one group of records (one per seed)."""

    label: str
    n_labeled: np.ndarray  # (K,)
    fraction: np.ndarray  # (K,)
    acc: np.ndarray  # (S, K): one row per seed
    seeds: list[int]

    @property
    def mean(self) -> np.ndarray:
        return self.acc.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        # Sample std over seeds (ddof=1); 0 for a single seed.
        return self.acc.std(axis=0, ddof=1) if self.acc.shape[0] > 1 else np.zeros(self.acc.shape[1])

    @property
    def aulc(self) -> np.ndarray:
        """(S,) area under each seed's learning curve (see :func:`area_under_curve`)."""
        return area_under_curve(self.fraction, self.acc)


def record_label(record: dict[str, Any]) -> str:
    """``strategy`` (plus ``λ=...`` when the run set the dynamic-loss weight explicitly)."""
    cfg = record["config"]
    lab = cfg["strategy"]
    if cfg.get("dynamic_weight") is not None:
        lab += f" (λ={cfg['dynamic_weight']:g})"
    return lab


def learning_curves(
    records: Iterable[dict[str, Any]], label: Callable[[dict[str, Any]], str] = record_label
) -> dict[str, CurveSummary]:
    """Group finished records by ``label`` and stack their accuracies (seeds × cycles)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if not r.get("finished"):
            raise ValueError(f"record of {record_label(r)} seed {r['config']['seed']} is not finished")
        groups[label(r)].append(r)
    out = {}
    for lab, recs in groups.items():
        recs = sorted(recs, key=lambda r: r["config"]["seed"])
        sizes = [c["n_labeled"] for c in recs[0]["cycles"]]
        for r in recs[1:]:
            if [c["n_labeled"] for c in r["cycles"]] != sizes:
                raise ValueError(f"records of {lab!r} have different budgets; they cannot be averaged")
        out[lab] = CurveSummary(
            label=lab,
            n_labeled=np.array(sizes),
            fraction=np.array([c["fraction_labeled"] for c in recs[0]["cycles"]]),
            acc=np.array([[c["test_acc"] for c in r["cycles"]] for r in recs]),
            seeds=[r["config"]["seed"] for r in recs],
        )
    return out


def cycle_seconds(records: Iterable[dict[str, Any]], label: Callable[[dict[str, Any]], str] = record_label) -> dict[str, tuple[float, float]]:
    """Mean (train seconds, select seconds) per cycle for each group (cycles with a selection)."""
    acc: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in records:
        for c in r["cycles"][:-1]:
            acc[label(r)].append((c["train_seconds"], c["select_seconds"]))
    return {k: (float(np.mean([a for a, _ in v])), float(np.mean([b for _, b in v]))) for k, v in acc.items()}


def markdown_table(curves: dict[str, CurveSummary], percent: bool = True) -> str:
    """A markdown table: one row per group, one column per labeled-set size, ``mean ± std``."""
    if not curves:
        return "(no records)"
    first = next(iter(curves.values()))
    head = ["strategy", "seeds"] + [f"{n} ({f:.0%})" for n, f in zip(first.n_labeled, first.fraction)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    k = 100.0 if percent else 1.0
    for lab, cs in curves.items():
        cells = [f"{m * k:.1f} ± {s * k:.1f}" for m, s in zip(cs.mean, cs.std)]
        lines.append("| " + " | ".join([lab, str(len(cs.seeds))] + cells) + " |")
    return "\n".join(lines)


@dataclass
class PairedComparison:
    """``a`` minus ``b`` per seed (seeds matched), for final accuracy and the mean accuracy over
    all budgets (the normalised area under the learning curve)."""

    a: str
    b: str
    seeds: list[int]
    final_diff: np.ndarray  # (S,)
    area_diff: np.ndarray  # (S,)

    @property
    def wins(self) -> int:
        """Seeds where ``a`` has the larger area under the learning curve."""
        return int((self.area_diff > 0).sum())

    def sentence(self) -> str:
        f, a = self.final_diff * 100, self.area_diff * 100
        return (
            f"{self.a} − {self.b} over {len(self.seeds)} seeds: final accuracy {f.mean():+.2f} ± "
            f"{f.std(ddof=1) if len(f) > 1 else 0.0:.2f} points, mean accuracy over budgets {a.mean():+.2f} ± "
            f"{a.std(ddof=1) if len(a) > 1 else 0.0:.2f} points; {self.a} ahead on {self.wins}/{len(self.seeds)} seeds"
        )


def paired_comparison(curves: dict[str, CurveSummary], a: str, b: str) -> PairedComparison:
    """Compare groups ``a`` and ``b`` seed by seed (only the seeds both have)."""
    for name in (a, b):
        if name not in curves:
            raise ValueError(f"no records labelled {name!r}; available: {sorted(curves)}")
    ca, cb = curves[a], curves[b]
    if not np.array_equal(ca.n_labeled, cb.n_labeled):
        raise ValueError(f"{a!r} and {b!r} were run with different budgets")
    common = sorted(set(ca.seeds) & set(cb.seeds))
    if not common:
        raise ValueError(f"{a!r} and {b!r} share no seed; a paired comparison needs matched seeds")
    ia = [ca.seeds.index(s) for s in common]
    ib = [cb.seeds.index(s) for s in common]
    da = ca.acc[ia] - cb.acc[ib]
    return PairedComparison(a, b, common, da[:, -1], da.mean(axis=1))


def select_records(
    records: Iterable[dict[str, Any]],
    dataset: str | None = None,
    strategies: Iterable[str] | None = None,
    explicit_lambda: bool | None = False,
) -> list[dict[str, Any]]:
    """Records of one dataset and some strategies.

    ``explicit_lambda``: ``False`` keeps runs with the strategy's default λ, ``True`` only runs
    that set λ explicitly (a λ sweep), ``None`` both.
    """
    names = None if strategies is None else set(strategies)
    out = []
    for r in records:
        cfg = r["config"]
        if dataset is not None and cfg["dataset"] != dataset:
            continue
        if names is not None and cfg["strategy"] not in names:
            continue
        if explicit_lambda is not None and (cfg.get("dynamic_weight") is not None) != explicit_lambda:
            continue
        out.append(r)
    return out
