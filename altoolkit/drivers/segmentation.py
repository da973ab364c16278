"""Notebook 10 (semantic segmentation, DISAL §4.2): what its cells compute.

- :func:`train_with_and_without_dynamic_loss`: DISAL's per-pixel dynamic loss (λ = 1) against
  plain per-pixel cross-entropy (λ = 0, "w/o D"), same labeled scenes, same initial weights.
- :func:`pixel_kl_maps`: the per-pixel KL(f_{T-1} || f_T) of some pool images (where the
  prediction moved during the last epoch), before it is reduced to one score per image.
- :func:`score_strategies`: every segmentation strategy scores the same pool with the same models
  and picks a batch; its time, the digits (boxes) and pixel classes of what it picked.
- :func:`reduction_agreement`: DISAL's mean against its max reduction on one pool.
- :func:`first_selection_gap`: the paired difference at the first budget after a selection, the
  point where §4.2 reports DISAL weaker than the others.
- :func:`cycle_time_ratios`: seconds per AL cycle of each strategy as a ratio to random's, per
  seed, with a 95% t interval (:mod:`altoolkit.math.stats`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..analysis.results import CurveSummary
from ..analysis.selection_balance import normalised_class_entropy
from ..data.segmentation import SegmentationDataset
from ..math import stats
from ..math.segmentation import pixel_kl
from ..strategies import SelectionContext, get_strategy
from ..training.fresh_model import train_fresh
from ..training.inference import predict_logits
from ..training.segmentation import train_segmentation_model
from ..training.train import TrainConfig, TrainResult
from ..util.seeds import derive_seed

__all__ = [
    "labeled_split",
    "train_with_and_without_dynamic_loss",
    "pixel_kl_maps",
    "StrategyPick",
    "score_strategies",
    "reduction_agreement",
    "kl_share_on_digits",
    "first_selection_gap",
    "cycle_time_ratios",
    "TimeRatio",
]


def labeled_split(dataset: SegmentationDataset, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(labeled, pool)``: a seeded random ``fraction`` of the scenes and the rest, both sorted."""
    n = dataset.n_train
    k = max(1, int(round(fraction * n)))
    perm = np.random.default_rng(derive_seed(seed, 0xA1)).permutation(n)
    return torch.as_tensor(np.sort(perm[:k])), torch.as_tensor(np.sort(perm[k:]))


def train_with_and_without_dynamic_loss(
    dataset: SegmentationDataset, labeled: torch.Tensor, config: TrainConfig, model: str = "unet", seed: int = 0, progress: bool = False
) -> dict[str, TrainResult]:
    """``{"disal": λ = 1, "disal_no_dynamic": λ = 0}``: the same fresh network (seeded by ``seed``)
    trained on the same labeled scenes, the rest of ``config`` alike."""
    trainer = functools.partial(train_segmentation_model, num_classes=dataset.num_classes, ignore_index=dataset.ignore_index)
    out = {}
    for name, lam in (("disal", 1.0), ("disal_no_dynamic", 0.0)):
        cfg = TrainConfig(**{**config.to_dict(), "dynamic_weight": lam})
        out[name] = train_fresh(model, dataset, labeled, cfg, seed, 0, trainer=trainer, progress=progress, desc=f"{name} train")
    return out


def pixel_kl_maps(result: TrainResult, dataset: SegmentationDataset, indices: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """``(len(indices), H, W)``: KL(f_{T-1} || f_T) at every pixel of the scenes ``indices``."""
    out = predict_logits([result.prev_model(), result.model], dataset.x_train, dataset.to_input, batch_size, indices=indices, combine=pixel_kl)
    assert isinstance(out, torch.Tensor)
    return out


@dataclass
class StrategyPick:
    """What one strategy picked from the pool: pool positions (best first), its per-image scores
    (``None`` for core-set, which picks a set), seconds, and what the batch holds."""

    name: str
    positions: torch.Tensor
    scores: torch.Tensor | None
    seconds: float
    digits_per_image: float
    pixel_class_entropy: float


def score_strategies(
    dataset: SegmentationDataset,
    results: Mapping[str, TrainResult],
    labeled: torch.Tensor,
    pool: torch.Tensor,
    strategies: Sequence[str],
    budget: int,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    batch_size: int = 64,
) -> dict[str, StrategyPick]:
    """Each strategy scores ``pool`` and picks ``budget`` scenes: ``disal`` on the model trained with
    the dynamic loss, every other strategy on the one trained without it (the models the AL loop
    would give them).  The digit count of a picked scene is its number of boxes (its detection cost)."""
    scenes = dataset.extras.get("train_scenes")
    picks = {}
    for name in strategies:
        strat = get_strategy(name, task="segmentation", **dict((options or {}).get(name, {})))
        res = results["disal" if strat.dynamic_loss else "disal_no_dynamic"]
        ctx = SelectionContext(dataset=dataset, model=res.model, labeled=labeled, unlabeled=pool, train_result=res, seed=seed, batch_size=batch_size)
        t0 = time.perf_counter()
        scores, positions = strat.score_and_select(ctx, budget)
        seconds = time.perf_counter() - t0
        chosen = pool[positions]
        counts = dataset.pixel_class_counts("train", chosen)
        digits = float(np.mean([len(scenes.boxes[i]) for i in chosen.tolist()])) if scenes is not None else float("nan")
        picks[name] = StrategyPick(name, positions, scores, seconds, digits, normalised_class_entropy(counts[1:].tolist()))
    return picks


def reduction_agreement(maps: torch.Tensor, budget: int) -> dict[str, float]:
    """DISAL's two reductions of per-pixel KL maps ``(N, H, W)`` of one pool: the Spearman correlation
    of the mean and max scores and the share of the top-``budget`` images they have in common."""
    from ..math.scores import select_top
    from ..math.segmentation import reduce_pixels

    mean, top = reduce_pixels(maps, "mean"), reduce_pixels(maps, "max")
    common = set(select_top(mean, budget).tolist()) & set(select_top(top, budget).tolist())
    return {"spearman": stats.spearman(mean.numpy(), top.numpy()), "top_overlap": len(common) / budget}


def kl_share_on_digits(maps: torch.Tensor, masks: torch.Tensor) -> float:
    """The share of the summed per-pixel KL that lies on digit pixels (mask > 0) of the scenes."""
    total = float(maps.double().sum())
    return float(maps.double()[masks > 0].sum()) / total if total > 0 else float("nan")


def first_selection_gap(curves: Mapping[str, CurveSummary], a: str, b: str) -> stats.Verdict:
    """ "``a`` > ``b``" at the second budget of the curves, the first one trained after a selection
    (the point of DISAL §4.2's remark), seeds paired, three-valued (:func:`altoolkit.math.stats.compare`)."""
    ca, cb = curves[a], curves[b]
    if len(ca.n_labeled) < 2 or not np.array_equal(ca.n_labeled, cb.n_labeled):
        raise ValueError(f"{a!r} and {b!r} need the same budgets, at least two of them")
    pick = {lab: {int(s): float(v) for s, v in zip(c.seeds, c.acc[:, 1])} for lab, c in ((a, ca), (b, cb))}
    return stats.compare(pick[a], pick[b], claim=f"{a} > {b} at {int(ca.n_labeled[1])} labeled images (first selection)")


@dataclass
class TimeRatio:
    """Seconds per cycle of a strategy over the reference's, per seed: their mean, its 95% t
    interval, the number of seeds, and the verdict of "the ratio is below ``limit``"."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    below_limit: stats.Verdict


def cycle_time_ratios(records: Sequence[Mapping[str, Any]], reference: str = "random", limit: float = 1.10) -> dict[str, TimeRatio]:
    """Seconds of an AL cycle (training + selection, cycles that select) of each strategy divided by
    ``reference``'s on the same seed, with the verdict of "below ``limit``" (issue: DISAL ≤ 1.10×)."""
    per: dict[str, dict[int, float]] = {}
    for r in records:
        cycles = r["cycles"][:-1]
        if cycles:
            seconds = float(np.mean([c["train_seconds"] + c["select_seconds"] for c in cycles]))
            per.setdefault(r["config"]["strategy"], {})[int(r["config"]["seed"])] = seconds
    if reference not in per:
        raise ValueError(f"no records of {reference!r}: the ratios need it")
    out = {}
    for name, by_seed in per.items():
        ratios = np.array([by_seed[s] / per[reference][s] for s in sorted(by_seed) if s in per[reference]])
        lo, hi = stats.confidence_interval(ratios)
        below = stats.verdict(limit - ratios, claim=f"{name} cycle < {limit:g} x {reference}")
        out[name] = TimeRatio(float(ratios.mean()), lo, hi, len(ratios), below)
    return out
