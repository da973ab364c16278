"""Learning curves against the annotation cost instead of the number of labeled samples.

A task whose samples cost something else than one image (detection: boxes, ISAL §4.2) records
per cycle what its labeled set cost (``labeled_<unit>``, :meth:`altoolkit.engine.tasks.Task.cost_fields`).
Budgets are in images, so every strategy of one seed labels the same number of images, but not the
same number of boxes: each seed's curve has its own x-values.  This module reads them
(:func:`cost_curves`) and compares strategies at equal cost: the cost to reach a metric value
(:func:`cost_to_reach`, linear between cycles as :func:`altoolkit.analysis.results.labels_to_reach`)
and the mean metric over a common range of costs (:func:`mean_metric_over_cost`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from .results import labels_to_reach, record_label, record_metric

__all__ = ["CostCurves", "cost_curves", "cost_to_reach", "mean_metric_over_cost", "common_cost_range"]


@dataclass
class CostCurves:
    """One strategy's runs: ``seeds`` (S,), ``n_labeled`` (K,) images per cycle, ``cost`` (S, K)
    the labeled set's cost per seed and cycle, ``metric`` (S, K), in ``unit`` (e.g. boxes)."""

    seeds: np.ndarray
    n_labeled: np.ndarray
    cost: np.ndarray
    metric: np.ndarray
    unit: str
    metric_name: str


def cost_curves(records: Iterable[dict[str, Any]], label: Callable[[dict[str, Any]], str] = record_label) -> dict[str, CostCurves]:
    """Finished records grouped by ``label``, each group's cost and metric per seed and cycle.

    Raises:
        ValueError: a record carries no cost per cycle (its task costs one per image), or a group
            mixes units, metrics or budgets.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r.get("finished"):
            groups.setdefault(label(r), []).append(r)
    out = {}
    for lab, recs in groups.items():
        units = {r.get("cost_unit") for r in recs}
        if len(units) != 1 or None in units:
            given = sorted(map(str, units))
            raise ValueError(f"records of {lab!r} carry no annotation cost per cycle (cost_unit {given}); only tasks not costed in images record it")
        unit = units.pop()
        metrics = {record_metric(r) for r in recs}
        sizes = {tuple(c["n_labeled"] for c in r["cycles"]) for r in recs}
        if len(metrics) != 1 or len(sizes) != 1:
            raise ValueError(f"records of {lab!r} mix metrics or budgets; they cannot be stacked")
        recs = sorted(recs, key=lambda r: r["config"]["seed"])
        metric = metrics.pop()
        out[lab] = CostCurves(
            seeds=np.array([r["config"]["seed"] for r in recs]),
            n_labeled=np.array(sizes.pop()),
            cost=np.array([[c[f"labeled_{unit}"] for c in r["cycles"]] for r in recs], dtype=float),
            metric=np.array([[c[metric] for c in r["cycles"]] for r in recs], dtype=float),
            unit=str(unit),
            metric_name=metric,
        )
    return out


def cost_to_reach(curves: CostCurves, target: float) -> dict[int, float]:
    """``{seed: cost}`` at which each seed's curve first reaches ``target`` (linear between
    cycles); NaN where it never does."""
    out = {}
    for s, cost, metric in zip(curves.seeds, curves.cost, curves.metric):
        reached = labels_to_reach(cost, metric, target)
        out[int(s)] = float("nan") if reached is None else float(reached)
    return out


def common_cost_range(curves: Iterable[CostCurves]) -> tuple[float, float]:
    """``(lo, hi)``: the costs every run of every curve covers (the largest first cost, the
    smallest last cost); ``lo >= hi`` when they do not overlap."""
    cs = list(curves)
    return float(max(c.cost[:, 0].max() for c in cs)), float(min(c.cost[:, -1].min() for c in cs))


def mean_metric_over_cost(curves: CostCurves, lo: float, hi: float, points: int = 101) -> dict[int, float]:
    """``{seed: mean metric over costs in [lo, hi]}``, each seed's curve interpolated linearly in
    its own costs (the area under the metric-vs-cost curve divided by the range: the AULC with
    cost on the x-axis)."""
    if not hi > lo:
        raise ValueError(f"the cost range must be non-empty, got [{lo}, {hi}]")
    grid = np.linspace(lo, hi, points)
    return {int(s): float(np.interp(grid, cost, metric).mean()) for s, cost, metric in zip(curves.seeds, curves.cost, curves.metric)}
