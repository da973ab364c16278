"""Notebook 04 (t-SNE of the selections): the geometry of a selection in feature space (DISAL Fig. 6).

DISAL Fig. 6 shows t-SNE embeddings (van der Maaten & Hinton 2008) of CIFAR-10 computed with
"the model trained on these AL strategies", with the samples selected in the first AL cycle
marked, and reads from them that DISAL "selects samples with a broader distribution,
particularly at class boundaries" than DISAL w/o D.  The maps themselves come from
:mod:`altoolkit.analysis.pool_maps` (:func:`~altoolkit.analysis.pool_maps.tsne_pool_map`); this
module puts numbers on the reading:

- :func:`selection_geometry`: scale-free measures of where a selection lies in feature space
  (distance to its class centroid, closeness to another class's centroid, spread), each
  normalised so that a uniformly random selection scores 1 (or the quantile's tail share).
- :func:`first_cycle`: trains the cycle-0 model exactly as :func:`altoolkit.engine.loop.run_active_learning`
  does (same seeds, same initial pool) and returns the model with the strategy's first selection,
  so the figure uses each strategy's own first-cycle model, as the paper does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..analysis.pool_maps import pool_features, positions_in
from ..analysis.results import markdown
from ..data import ALDataset
from ..engine.loop import ALConfig, load_config_dataset, plan_pool, select_cycle, train_cycle

from ..strategies import SelectionContext, Strategy, get_strategy
from ..training.train import TrainResult, evaluate
from ..util.checks import check_float

__all__ = [
    "SelectionGeometry",
    "selection_geometry",
    "geometry_table",
    "RELATIVE_MEASURES",
    "relative_geometry",
    "compare_relative_geometry",
    "first_cycle_geometry",
    "FirstCycle",
    "first_cycle",
]

# --------------------------------------------------------------------------- selection geometry


@dataclass
class SelectionGeometry:
    """Where a selection lies in a feature space, relative to the pool it was drawn from.

    Every ``*_ratio`` is normalised so that a uniformly random selection has expectation 1, so
    models with different feature scales can be compared.

    Attributes:
        n_selected: size of the selection.
        classes_covered: number of (true) classes present in the selection.
        centroid_distance_ratio: mean over selected x of ‖φ(x) − μ_y‖ / (mean of the same over
            pool samples of class y); > 1: the selection lies farther out in its classes.
        boundary_ratio: mean over selected x of ‖φ(x) − μ_y‖ / min_{c≠y} ‖φ(x) − μ_c‖ (own-class
            over nearest other-class centroid distance: near or above 1 = at a class boundary).
        pool_boundary_ratio: the same mean over the whole pool (what random selection gets).
        boundary_fraction: share of the selection whose boundary ratio is in the pool's top
            ``1 − boundary_quantile`` (the pool's boundary zone).
        pool_boundary_fraction: the same share in the pool (≈ 1 − quantile; random's value).
        spread_ratio: mean pairwise distance within the selection / within the pool.
        class_spread_ratio: per class with ≥ 2 selected, mean pairwise distance among the
            selected of that class / among the pool of that class, averaged over those classes
            ("a broader distribution of each class"); NaN when no class has 2 selected.
    """

    n_selected: int
    classes_covered: int
    centroid_distance_ratio: float
    boundary_ratio: float
    pool_boundary_ratio: float
    boundary_fraction: float
    pool_boundary_fraction: float
    spread_ratio: float
    class_spread_ratio: float

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def _mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over the unordered pairs of rows of ``x`` (NaN if < 2 rows)."""
    n = len(x)
    if n < 2:
        return float("nan")
    t = torch.from_numpy(np.ascontiguousarray(x))
    total = 0.0
    for s in range(0, n, 1024):  # blocks keep memory at 1024 x N
        d = torch.cdist(t[s : s + 1024], t)
        total += float(d.sum())
    return total / (n * (n - 1))


def selection_geometry(
    features: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    selected: Sequence[int] | np.ndarray | torch.Tensor,
    boundary_quantile: float = 0.9,
) -> SelectionGeometry:
    """Measures of where the rows ``selected`` of ``features`` lie, relative to all rows.

    ``features`` and ``labels`` describe the reference pool (usually the unlabeled pool the
    selection was drawn from, in one model's feature space; labels are the TRUE labels, used
    for analysis only); ``selected`` are positions (rows) into it.  Class centroids μ_c are the
    pool means per class.  See :class:`SelectionGeometry` for the measures and their baselines.
    """
    x = features.detach().cpu().double().numpy() if isinstance(features, torch.Tensor) else np.asarray(features, dtype=np.float64)
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(np.int64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"features must be (N, D) and labels (N,); got {x.shape} and {y.shape}")
    sel = np.asarray(selected.cpu() if isinstance(selected, torch.Tensor) else selected, dtype=np.int64).reshape(-1)
    n = x.shape[0]
    if sel.size == 0:
        raise ValueError("selected must name at least one row")
    if sel.min() < 0 or sel.max() >= n or len(np.unique(sel)) != sel.size:
        raise ValueError(f"selected must be distinct row positions in [0, {n - 1}]")
    boundary_quantile = check_float("boundary_quantile", boundary_quantile, 0.0, 1.0, min_inclusive=False, max_inclusive=False)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("selection_geometry needs at least two classes in labels (for class boundaries)")
    centroids = np.stack([x[y == c].mean(0) for c in classes])
    dist = torch.cdist(torch.from_numpy(x), torch.from_numpy(centroids)).numpy()  # (N, K)
    own_col = np.searchsorted(classes, y)
    d_own = dist[np.arange(n), own_col]
    other = dist.copy()
    other[np.arange(n), own_col] = np.inf
    d_other = other.min(1)
    ratio = d_own / np.maximum(d_other, 1e-300)
    class_mean_own = np.array([d_own[y == c].mean() for c in classes])
    norm_own = d_own / np.maximum(class_mean_own[own_col], 1e-300)
    threshold = np.quantile(ratio, boundary_quantile)
    in_zone = ratio >= threshold
    pool_spread = _mean_pairwise_distance(x)
    class_ratios = []
    for c in classes:
        sc = sel[y[sel] == c]
        if len(sc) >= 2:
            class_ratios.append(_mean_pairwise_distance(x[sc]) / _mean_pairwise_distance(x[y == c]))
    return SelectionGeometry(
        n_selected=int(sel.size),
        classes_covered=int(len(np.unique(y[sel]))),
        centroid_distance_ratio=float(norm_own[sel].mean()),
        boundary_ratio=float(ratio[sel].mean()),
        pool_boundary_ratio=float(ratio.mean()),
        boundary_fraction=float(in_zone[sel].mean()),
        pool_boundary_fraction=float(in_zone.mean()),
        spread_ratio=float(_mean_pairwise_distance(x[sel]) / pool_spread) if sel.size >= 2 else float("nan"),
        class_spread_ratio=float(np.mean(class_ratios)) if class_ratios else float("nan"),
    )


#: The measures of :func:`relative_geometry`, each 1 in expectation for a uniformly random selection.
RELATIVE_MEASURES: tuple[str, ...] = ("centroid_distance", "boundary_ratio", "boundary_fraction", "spread", "class_spread")


def relative_geometry(geometry: SelectionGeometry) -> dict[str, float]:
    """The measures of ``geometry`` divided by their expectation under uniformly random selection
    from the same pool, so 1 = like random, > 1 = more (farther out, nearer a boundary, broader)."""
    g = geometry
    return {
        "centroid_distance": g.centroid_distance_ratio,
        "boundary_ratio": g.boundary_ratio / g.pool_boundary_ratio,
        "boundary_fraction": g.boundary_fraction / g.pool_boundary_fraction,
        "spread": g.spread_ratio,
        "class_spread": g.class_spread_ratio,
    }


def compare_relative_geometry(a: Sequence[Mapping[str, float]], b: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Paired comparison of two strategies' :func:`relative_geometry` over the same seeds.

    Returns, per measure, ``mean_a``, ``mean_b``, ``a_higher`` (number of seeds where a > b) and
    ``n`` (seeds where both are defined).  Seeds are paired by position.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"a and b must hold one dict per seed, the same seeds; got {len(a)} and {len(b)}")
    out = {}
    for m in a[0]:
        va = np.array([float(r[m]) for r in a])
        vb = np.array([float(r[m]) for r in b])
        ok = np.isfinite(va) & np.isfinite(vb)
        out[m] = {
            "mean_a": float(va[ok].mean()) if ok.any() else float("nan"),
            "mean_b": float(vb[ok].mean()) if ok.any() else float("nan"),
            "a_higher": int((va[ok] > vb[ok]).sum()),
            "n": int(ok.sum()),
        }
    return out


def geometry_table(rows: Mapping[str, SelectionGeometry | Mapping[str, float]], digits: int = 3) -> str:
    """A markdown table, one row per name, one column per measure of :class:`SelectionGeometry`
    (values may also be dicts, e.g. means over seeds)."""
    if not rows:
        raise ValueError("rows must name at least one selection")
    dicts = {k: (v.as_dict() if isinstance(v, SelectionGeometry) else dict(v)) for k, v in rows.items()}
    cols = list(next(iter(dicts.values())))
    rows = []
    for name, d in dicts.items():
        cells = [name]
        for c in cols:
            v = d.get(c, float("nan"))
            cells.append(str(v) if isinstance(v, (int, np.integer)) else f"{float(v):.{digits}f}")
        rows.append(cells)
    return markdown(["selection", *cols], rows)


# --------------------------------------------------------------------------- first AL cycle


@dataclass
class FirstCycle:
    """The cycle-0 state of an AL run, rebuilt exactly as :func:`run_active_learning` makes it.

    Attributes:
        config: the run's :class:`ALConfig`.
        dataset: the dataset it ran on.
        strategy: the strategy instance.
        result: the cycle-0 :class:`TrainResult` (``result.model`` is θ_T of cycle 0).
        labeled: dataset indices of the initial labeled set.
        unlabeled: dataset indices of the pool the first selection was drawn from.
        selected: dataset indices selected in the first cycle (the record's ``cycles[0]["selected"]``).
        scores: the strategy's per-sample scores on ``unlabeled`` (``None`` for set strategies).
        test_acc: test accuracy of the cycle-0 model.
        context: the :class:`SelectionContext` the selection was made in.
    """

    config: ALConfig
    dataset: ALDataset
    strategy: Strategy
    result: TrainResult
    labeled: torch.Tensor
    unlabeled: torch.Tensor
    selected: torch.Tensor
    scores: torch.Tensor | None
    test_acc: float
    context: SelectionContext
    select_seconds: float = 0.0

    @property
    def model(self) -> nn.Module:
        return self.result.model


def first_cycle(config: ALConfig, dataset: ALDataset | None = None, progress: bool = False) -> FirstCycle:
    """Train the cycle-0 model and make the first selection exactly as the AL loop does.

    Runs :func:`altoolkit.engine.loop.run_active_learning`'s steps for cycle 0: the same dataset (loaded with
    ``config.seed``), validation hold-out, budget schedule and initial pool
    (:func:`~altoolkit.engine.loop.plan_pool`), model seed ``derive_seed(seed, 0, 1)``, training
    seed ``derive_seed(seed, 0, 2)`` and checkpoints (:func:`~altoolkit.engine.loop.train_cycle`),
    candidates and selection seed ``derive_seed(seed, 0, 3)``
    (:func:`~altoolkit.engine.loop.select_cycle`); ``config.cycles`` must be at least 2 (a selection
    happens between cycle 0 and cycle 1).  The selection therefore equals the loop record's
    ``cycles[0]["selected"]`` (the tests check this), and the trained model is the one the
    strategy used, which is what DISAL Fig. 6 maps.
    """
    if not isinstance(config, ALConfig):
        raise TypeError(f"config must be an ALConfig, got {type(config).__name__}")
    if config.cycles < 2:
        raise ValueError(f"config.cycles must be at least 2 for a first selection, got {config.cycles}")
    strategy = get_strategy(config.strategy, **config.strategy_options)
    if dataset is None:
        dataset = load_config_dataset(config)
    plan = plan_pool(config, dataset.n_train)
    lab = torch.tensor(plan.initial, dtype=torch.long)
    result = train_cycle(config, dataset, lab, 0, strategy, progress)
    acc = evaluate(result.model, dataset.x_test, dataset.y_test, dataset.to_input, device=config.device)
    sel = select_cycle(config, strategy, dataset, plan, 0, lab, result, progress=progress)
    selected = torch.tensor(sel.selected, dtype=torch.long)
    return FirstCycle(config, dataset, strategy, result, lab, sel.candidates, selected, sel.scores, acc, sel.context, sel.seconds)


def first_cycle_geometry(cycle: FirstCycle, source: str = "embed", boundary_quantile: float = 0.9) -> tuple[SelectionGeometry, np.ndarray]:
    """:func:`selection_geometry` of a first-cycle selection in its own model's feature space,
    relative to the pool it was drawn from (``cycle.unlabeled``).  Also returns the pool
    features ``(N, D)`` (rows in the order of ``cycle.unlabeled``)."""
    feats = pool_features(cycle.dataset, cycle.unlabeled, cycle.model, source, cycle.config.score_batch_size, cycle.config.device)
    pos = positions_in(cycle.unlabeled, cycle.selected)
    labels = cycle.dataset.y_train[cycle.unlabeled].numpy()
    return selection_geometry(feats, labels, pos, boundary_quantile), feats
