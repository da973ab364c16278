"""Notebook 11 (object detection, ISAL §4.2: the cost of a batch is its boxes): what its cells compute.

- :func:`train_detectors`: the same fresh FCOS trained on the same labeled scenes with and without
  DISAL's per-location dynamic loss (the models the AL loop gives DISAL and the others).
- :func:`score_strategies`: every detection strategy scores the same pool and picks a batch: its
  seconds (and per pool image), and what the batch costs in boxes.
- :func:`cost_claims`: ISAL's two claims on records: (1) ISAL needs fewer boxes than random and
  core-set to reach the same AP; (2) the other methods' gains over random, measured against labeled
  images, vanish when the x-axis is labeled boxes.  Three-valued verdicts over seeds
  (:func:`altoolkit.math.stats.compare`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..analysis.annotation_cost import CostCurves, common_cost_range, cost_curves, cost_to_reach, mean_metric_over_cost
from ..analysis.results import learning_curves, paired_comparison
from ..data.detection import DetectionDataset
from ..math import stats
from ..strategies import SelectionContext, get_strategy
from ..training.detection import train_detection_model
from ..training.fresh_model import train_fresh
from ..training.train import TrainConfig, TrainResult

__all__ = ["train_detectors", "StrategyPick", "score_strategies", "CostClaims", "cost_claims"]


def train_detectors(dataset: DetectionDataset, labeled: torch.Tensor, config: TrainConfig, model: str = "fcos_small", seed: int = 0) -> dict[str, TrainResult]:
    """``{"disal": λ = 1, "plain": λ = 0}``: the same fresh detector (seeded by ``seed``) trained on
    the same labeled scenes with and without the per-location dynamic loss, the rest of ``config`` alike."""
    out = {}
    for name, lam in (("disal", 1.0), ("plain", 0.0)):
        cfg = TrainConfig(**{**config.to_dict(), "dynamic_weight": lam})
        out[name] = train_fresh(model, dataset, labeled, cfg, seed, 0, trainer=train_detection_model, progress=False)
    return out


@dataclass
class StrategyPick:
    """What one strategy picked: pool positions (best first), its per-image scores (``None`` for
    core-set), seconds in all and per pool image, and the boxes of the picked images."""

    name: str
    positions: torch.Tensor
    scores: torch.Tensor | None
    seconds: float
    seconds_per_image: float
    boxes: int
    boxes_per_image: float


def score_strategies(
    dataset: DetectionDataset,
    results: Mapping[str, TrainResult],
    labeled: torch.Tensor,
    pool: torch.Tensor,
    strategies: Sequence[str],
    budget: int,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    batch_size: int = 64,
) -> dict[str, StrategyPick]:
    """Each strategy scores ``pool`` and picks ``budget`` scenes, with the model trained with the
    dynamic loss when it trains with it (DISAL), the plain one otherwise."""
    picks = {}
    for name in strategies:
        strat = get_strategy(name, task="detection", **dict((options or {}).get(name, {})))
        res = results["disal" if strat.dynamic_loss else "plain"]
        ctx = SelectionContext(dataset=dataset, model=res.model, labeled=labeled, unlabeled=pool, train_result=res, seed=seed, batch_size=batch_size)
        t0 = time.perf_counter()
        scores, positions = strat.score_and_select(ctx, budget)
        seconds = time.perf_counter() - t0
        counts = dataset.boxes_per_image("train", pool[positions])
        picks[name] = StrategyPick(name, positions, scores, seconds, seconds / len(pool), int(counts.sum()), float(counts.mean()))
    return picks


@dataclass
class CostClaims:
    """ISAL's two claims checked on records.

    Attributes:
        target: the AP every run is asked to reach (``target_share`` of the smallest final mean AP
            of the compared strategies).
        boxes_to_reach: ``{strategy: {seed: boxes}}`` (NaN: not reached).
        fewer_boxes: ``{other: verdict of "other needs more boxes than ISAL"}`` (claim 1).
        box_range: the labeled boxes every run covers, over which claim 2 averages AP.
        gain_images: ``{strategy: verdict of "strategy > random" on the AULC against images}``.
        gain_boxes: ``{strategy: verdict of "strategy > random" on mean AP over box_range}``.
        vanished: strategies whose gain holds against images but not against boxes (claim 2).
    """

    target: float
    boxes_to_reach: dict[str, dict[int, float]]
    fewer_boxes: dict[str, stats.Verdict]
    box_range: tuple[float, float]
    gain_images: dict[str, stats.Verdict]
    gain_boxes: dict[str, stats.Verdict]
    vanished: list[str] = field(default_factory=list)


def _finite(d: Mapping[int, float]) -> dict[int, float]:
    return {s: v for s, v in d.items() if np.isfinite(v)}


def cost_claims(
    records: Sequence[Mapping[str, Any]],
    isal: str = "isal",
    reference: str = "random",
    against: Sequence[str] = ("random", "coreset"),
    target_share: float = 0.9,
) -> CostClaims:
    """ISAL §4.2's claims on finished detection records (one per strategy and seed; see :class:`CostClaims`)."""
    recs = [dict(r) for r in records]
    curves: dict[str, CostCurves] = cost_curves(recs)
    image_curves = learning_curves(recs)
    compared = [isal, *[a for a in against if a in curves]]
    target = target_share * min(float(curves[s].metric[:, -1].mean()) for s in compared)
    reach = {s: cost_to_reach(curves[s], target) for s in curves}
    fewer = {}
    for a in [a for a in against if a in reach]:
        fewer[a] = stats.compare(_finite(reach[a]), _finite(reach[isal]), claim=f"{a} needs more boxes than {isal} to reach AP {target:.3f}")
    lo, hi = common_cost_range(curves.values())
    gains_i, gains_b, vanished = {}, {}, []
    for s in curves:
        if s == reference:
            continue
        gains_i[s] = paired_comparison(image_curves, s, reference)
        claim = f"{s} > {reference} (mean AP over {lo:.0f}-{hi:.0f} boxes)"
        gains_b[s] = stats.compare(mean_metric_over_cost(curves[s], lo, hi), mean_metric_over_cost(curves[reference], lo, hi), claim=claim)
        if gains_i[s].verdict == "holds" and gains_b[s].verdict != "holds":
            vanished.append(s)
    return CostClaims(target, reach, fewer, (lo, hi), gains_i, gains_b, vanished)
