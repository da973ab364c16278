"""Notebook 03 (scoring and selection). All strategies on the same trained model: scores, selections, timings, agreement.

:func:`prepare_comparison` builds a realistic second-cycle situation on a dataset: a first model
trained on a random labeled set L0 (the "previous cycle", which TOD needs), a random batch added,
and the current model trained on L1 with the checkpoints TracIn replays and the dynamic loss that
DISAL trains with.  :func:`compare_strategies` then scores and selects with every strategy on that
one model, timing each; :func:`rank_correlations` measures how much their rankings agree.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from ..util.progress import tqdm

from ..data import ALDataset
from ..util.seeds import derive_seed, labeled_subset, seeded_split
from ..training.fresh_model import train_fresh
from ..strategies import SelectionContext, get_strategy
from ..training.train import TrainConfig, evaluate
from ..util.checks import check_fraction, check_int

__all__ = ["StrategyOutcome", "prepare_comparison", "compare_strategies", "rank_correlations", "checkpoint_epochs_for"]


@dataclass
class StrategyOutcome:
    """What one strategy did on the shared model."""

    name: str
    selected: torch.Tensor  # positions into ctx.unlabeled
    seconds: float
    scores: torch.Tensor | None = None  # None for set-selection strategies (Core-set, BADGE)
    peeks_at_labels: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def prepare_comparison(
    dataset: ALDataset,
    labeled_fraction: float = 0.10,
    step_fraction: float = 0.05,
    config: TrainConfig | None = None,
    model: str = "cnn",
    seed: int = 0,
    checkpoint_epochs: Iterable[int] = (),
    validation_size: int = 0,
    progress: bool = True,
) -> SelectionContext:
    """A second-cycle selection context shared by all strategies.

    The previous-cycle model is trained on a random ``labeled_fraction`` of the pool; then a random
    ``step_fraction`` is added and the current model is trained on the union (with
    ``config.dynamic_weight``, and keeping ``checkpoint_epochs`` for TracIn).  ``validation_size``
    samples are held out as ISAL's validation reference set.
    """
    check_fraction("step_fraction", step_fraction)
    validation_size = check_int("validation_size", validation_size, 0, dataset.n_train - 2)
    cfg = config or TrainConfig()
    val_idx, rest = seeded_split(dataset.n_train, validation_size, seed, 0xB2)  # as the AL loop holds out its validation set
    l0_pos, other = labeled_subset(len(rest), labeled_fraction, seed)
    l0 = rest[l0_pos]
    k = min(len(other), max(1, int(round(step_fraction * len(rest)))))
    add = other[seeded_split(len(other), k, seed, 7)[0]]
    l1 = torch.sort(torch.cat([l0, rest[add]])).values
    prev = train_fresh(model, dataset, l0, cfg, seed, 0, progress=progress, desc="previous-cycle model")
    cur = train_fresh(model, dataset, l1, cfg, seed, 1, checkpoint_epochs=sorted(set(checkpoint_epochs)), progress=progress, desc="current model")
    mask = torch.ones(dataset.n_train, dtype=torch.bool)
    mask[l1] = False
    mask[val_idx] = False
    return SelectionContext(
        dataset=dataset,
        model=cur.model,
        labeled=l1,
        unlabeled=torch.nonzero(mask).flatten(),
        train_result=cur,
        previous_cycle_model=prev.model,
        initial_labeled=l0,
        validation=(dataset.x_train[val_idx], dataset.y_train[val_idx]) if validation_size else None,
        seed=derive_seed(seed, 1, 3),
        device=cfg.device,
        progress=False,
        extras={"test_acc": evaluate(cur.model, dataset.x_test, dataset.y_test, dataset.to_input, device=cfg.device)},
    )


def compare_strategies(
    ctx: SelectionContext,
    names: Iterable[str],
    budget: int,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = True,
) -> dict[str, StrategyOutcome]:
    """Score (when the strategy has per-sample scores) and select ``budget`` samples with each
    strategy on the same context, timing each (scoring + selection, one call each)."""
    names = list(names)
    options = dict(options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"options given for strategies that are not compared: {unknown}")
    budget = check_int("budget", budget, 1, len(ctx.unlabeled))
    out: dict[str, StrategyOutcome] = {}
    for name in tqdm(names, desc="strategies", disable=not progress):
        strat = get_strategy(name, **options.get(name, {}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. TOD's cycle-0 notice
            t0 = time.perf_counter()
            scores, selected = strat.score_and_select(ctx, budget)
            seconds = time.perf_counter() - t0
        out[name] = StrategyOutcome(name, selected, seconds, scores, strat.peeks_at_labels, strat.options())
    return out


def rank_correlations(outcomes: Mapping[str, StrategyOutcome]) -> tuple[list[str], np.ndarray]:
    """Spearman rank correlation (:func:`altoolkit.math.stats.spearman`) between the per-sample scores
    of every pair of strategies (oriented so that +1 means "rank the pool the same way for
    selection"); ``nan`` where a strategy's scores are constant."""
    from ..math.stats import spearman

    named = [(n, o) for n, o in outcomes.items() if o.scores is not None]
    if len(named) < 2:
        raise ValueError("rank correlations need at least two strategies with per-sample scores")
    names = [n for n, _ in named]
    cols = []
    for n, o in named:
        s = o.scores.double().numpy()
        # orient: the selected samples must sit at the top of the ranking
        top = o.selected.numpy()
        if len(top) and np.median(s[top]) < np.median(s):
            s = -s
        cols.append(s)
    rho = np.eye(len(cols))
    for i in range(len(cols)):
        for j in range(i + 1, len(cols)):
            rho[i, j] = rho[j, i] = spearman(cols[i], cols[j])
    return names, rho


def checkpoint_epochs_for(names: Iterable[str], options: Mapping[str, Mapping[str, Any]] | None, epochs: int) -> list[int]:
    """The union of the epochs the given strategies need checkpointed (TracIn replays them)."""
    options = options or {}
    need: set[int] = set()
    for n in names:
        need.update(get_strategy(n, **options.get(n, {})).checkpoint_epochs(epochs))
    return sorted(need)
