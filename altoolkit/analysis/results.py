"""Summaries of AL records: learning curves over seeds and tables.

A record is what :func:`altoolkit.engine.loop.run_active_learning` returns (or :func:`load_record`
reads).  Records are grouped by a label (by default the strategy name, with λ when it was set
explicitly) and summarised per labeled-set size as mean ± std over seeds.  Areas under the curves,
paired differences and verdicts come from :mod:`altoolkit.math.stats` (the one statistics path).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..math import stats
from .tables import Table

__all__ = [
    "ratio_text",
    "CurveSummary",
    "record_label",
    "record_metric",
    "budget_regime",
    "select_records",
    "learning_curves",
    "markdown",
    "markdown_table",
    "curve_table",
    "cycle_seconds",
    "cycle_seconds_by_seed",
    "seconds_ratio",
    "seconds_table",
    "paired_comparison",
    "labels_to_reach",
]


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
        """(S,) area under each seed's learning curve (:func:`altoolkit.math.stats.area_under_curve`)."""
        return stats.area_under_curve(self.fraction, self.acc)

    def per_seed(self, metric: str = "aulc") -> dict[int, float]:
        """``{seed: value}`` of ``metric``: ``"aulc"`` (area under the curve) or ``"final"``
        (accuracy at the last budget), the input of :func:`altoolkit.math.stats.compare`."""
        if metric not in ("aulc", "final"):
            raise ValueError(f"metric must be 'aulc' or 'final', got {metric!r}")
        values = self.aulc if metric == "aulc" else self.acc[:, -1]
        return {int(s): float(v) for s, v in zip(self.seeds, values)}


def record_metric(record: dict[str, Any]) -> str:
    """The cycle entry's key of a record's headline metric: its ``metric`` (a task other than
    classification writes it, e.g. ``"test_miou"``), else ``"test_acc"``.

    >>> record_metric({"cycles": []}), record_metric({"metric": "test_miou"})
    ('test_acc', 'test_miou')
    """
    return str(record.get("metric", "test_acc"))


def budget_regime(record: dict[str, Any]) -> str:
    """``"135 → 539 labels"``: the first and last labeled-set size of a run (its budget regime)."""
    budgets = record.get("budgets") or [c["n_labeled"] for c in record.get("cycles", [])]
    if not budgets:
        raise ValueError("record has neither 'budgets' nor cycles; it is not an altoolkit AL record")
    return f"{budgets[0]} → {budgets[-1]} labels"


def record_label(record: dict[str, Any]) -> str:
    """``strategy`` (plus ``λ=...`` when the run set the dynamic-loss weight explicitly)."""
    cfg = record["config"]
    lab = cfg["strategy"]
    if cfg.get("dynamic_weight") is not None:
        lab += f" (λ={cfg['dynamic_weight']:g})"
    return lab


def learning_curves(records: Iterable[dict[str, Any]], label: Callable[[dict[str, Any]], str] = record_label) -> dict[str, CurveSummary]:
    """Group finished records by ``label`` and stack their metric (seeds × cycles): test accuracy,
    or the record's own metric (:func:`record_metric`, mIoU for segmentation).  A group must not
    mix metrics."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if not r.get("finished"):
            raise ValueError(f"record of {record_label(r)} seed {r['config']['seed']} is not finished")
        groups[label(r)].append(r)
    out = {}
    for lab, recs in groups.items():
        recs = sorted(recs, key=lambda r: r["config"]["seed"])
        sizes = [c["n_labeled"] for c in recs[0]["cycles"]]
        if len({record_metric(r) for r in recs}) > 1:
            raise ValueError(f"records of {lab!r} report different metrics ({sorted({record_metric(r) for r in recs})}); they cannot be averaged")
        for r in recs[1:]:
            if [c["n_labeled"] for c in r["cycles"]] != sizes:
                raise ValueError(f"records of {lab!r} have different budgets; they cannot be averaged")
        out[lab] = CurveSummary(
            label=lab,
            n_labeled=np.array(sizes),
            fraction=np.array([c["fraction_labeled"] for c in recs[0]["cycles"]]),
            acc=np.array([[c[record_metric(r)] for c in r["cycles"]] for r in recs]),
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


def markdown(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table of the column names ``head`` and the rows of cells ``rows`` (the tables
    the notebooks and RESULTS.md print).

    >>> print(markdown(["a", "b"], [["1", "2"]]))
    | a | b |
    |---|---|
    | 1 | 2 |
    """
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def curve_table(curves: dict[str, CurveSummary], percent: bool = True, caption: str = "") -> Table:
    """One row per group, one column per labeled-set size (``n (share)``), ``mean ± std`` test
    accuracy over the seeds (in % when ``percent``); a notebook displays it rendered."""
    if not curves:
        raise ValueError("curves must hold at least one CurveSummary")
    first = next(iter(curves.values()))
    head = ["strategy", "seeds"] + [f"{n} ({f:.0%})" for n, f in zip(first.n_labeled, first.fraction)]
    k = 100.0 if percent else 1.0
    rows = [[lab, str(len(cs.seeds))] + [f"{m * k:.1f} ± {s * k:.1f}" for m, s in zip(cs.mean, cs.std)] for lab, cs in curves.items()]
    return Table(head, rows, caption=caption or ("test accuracy (%), mean ± std over seeds" if percent else "test accuracy, mean ± std over seeds"))


def markdown_table(curves: dict[str, CurveSummary], percent: bool = True) -> str:
    """:func:`curve_table` as a Markdown pipe table (for RESULTS.md; notebooks display the table)."""
    if not curves:
        return "(no records)"
    table = curve_table(curves, percent)
    table.caption = ""
    return table.markdown()


def cycle_seconds_by_seed(records: Iterable[dict[str, Any]], label: Callable[[dict[str, Any]], str] = record_label) -> dict[str, dict[int, float]]:
    """``{group: {seed: mean seconds of a cycle (train + select) over the cycles that select}}``."""
    out: dict[str, dict[int, float]] = defaultdict(dict)
    for r in records:
        cyc = r["cycles"][:-1]
        if cyc:
            out[label(r)][int(r["config"]["seed"])] = float(np.mean([c["train_seconds"] + c["select_seconds"] for c in cyc]))
    return dict(out)


def seconds_ratio(records: Iterable[dict[str, Any]], a: str, b: str, label: Callable[[dict[str, Any]], str] = record_label) -> stats.Verdict:
    """Verdict of "a cycle of ``a`` takes longer than one of ``b``" from the per-seed ratio of their
    mean cycle seconds, on the log scale (the ratio's interval is ``exp`` of the verdict's; read it
    with :func:`ratio_text`).  Seeds pair the runs: same initial pool, same machine share."""
    by_seed = cycle_seconds_by_seed(records, label)
    for name in (a, b):
        if name not in by_seed:
            raise ValueError(f"no records labelled {name!r} with a selecting cycle; available: {sorted(by_seed)}")
    seeds = sorted(set(by_seed[a]) & set(by_seed[b]))
    logs = {s: float(np.log(by_seed[a][s] / by_seed[b][s])) for s in seeds}
    return stats.compare(logs, {s: 0.0 for s in seeds}, claim=f"{a}'s cycle takes longer than {b}'s")


def ratio_text(v: stats.Verdict) -> str:
    """``0.86× [0.80, 0.93]`` from a :func:`seconds_ratio` verdict (geometric mean ratio and interval)."""
    if np.isnan(v.ci_low):
        return f"{np.exp(v.mean):.2f}× [no interval]"
    return f"{np.exp(v.mean):.2f}× [{np.exp(v.ci_low):.2f}, {np.exp(v.ci_high):.2f}]"


def seconds_table(records: Iterable[dict[str, Any]], reference: str = "random", label: Callable[[dict[str, Any]], str] = record_label) -> Table:
    """Seconds per AL cycle (train, select, both; means over the cycles that select) and, per
    strategy, the cycle's ratio to ``reference``'s: the geometric mean of the per-seed ratios with
    its 95% t interval (:func:`seconds_ratio`), fastest first."""
    records = list(records)
    secs = cycle_seconds(records, label)
    by_seed = cycle_seconds_by_seed(records, label)
    rows = []
    for name, (tr, se) in sorted(secs.items(), key=lambda kv: sum(kv[1])):
        if reference in by_seed and name != reference and len(set(by_seed[name]) & set(by_seed[reference])) >= 1:
            ratio = ratio_text(seconds_ratio(records, name, reference, label))
        else:
            ratio = "1" if name == reference else "n/a"
        rows.append([name, f"{tr:.2f}", f"{se:.3f}", f"{tr + se:.2f}", ratio])
    head = ["strategy", "train s", "select s", "cycle s", f"cycle / {reference} [95% interval]"]
    return Table(head, rows, caption="seconds per AL cycle (train + select); the ratio is per seed, then averaged on the log scale", align="lrrrr")


def paired_comparison(curves: dict[str, CurveSummary], a: str, b: str, metric: str = "aulc") -> stats.Verdict:
    """Three-valued verdict of "``a`` > ``b``" on ``metric`` (``"aulc"`` or ``"final"``), seeds
    paired (:func:`altoolkit.math.stats.compare`, 95% t interval); ``.text()`` prints it."""
    for name in (a, b):
        if name not in curves:
            raise ValueError(f"no records labelled {name!r}; available: {sorted(curves)}")
    ca, cb = curves[a], curves[b]
    if not np.array_equal(ca.n_labeled, cb.n_labeled):
        raise ValueError(f"{a!r} and {b!r} were run with different budgets")
    name = "AULC" if metric == "aulc" else "final accuracy"
    return stats.compare(ca.per_seed(metric), cb.per_seed(metric), claim=f"{a} > {b} ({name})")


def select_records(
    records: Iterable[dict[str, Any]],
    dataset: str | None = None,
    strategies: Iterable[str] | None = None,
    explicit_lambda: bool | None = False,
    initial_fraction: float | None = None,
) -> list[dict[str, Any]]:
    """Records of one dataset and some strategies.

    ``explicit_lambda``: ``False`` keeps runs with the strategy's default λ, ``True`` only runs
    that set λ explicitly (a λ sweep), ``None`` both.  ``initial_fraction``: only runs that
    started from this share of the pool (one budget regime); ``None``: any.
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
        if initial_fraction is not None and abs(float(cfg.get("initial_fraction", -1.0)) - initial_fraction) > 1e-12:
            continue
        out.append(r)
    return out
