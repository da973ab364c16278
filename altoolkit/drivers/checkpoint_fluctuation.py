"""Notebook 05 (checkpoint fluctuation): how much a selection depends on WHEN in training it is made (DISAL Fig. 1).

DISAL Fig. 1 marks the samples one AL method selects (10% selection rate) at epoch 10 and at
epoch 100 of the same training run and observes that "subsets selected from different
checkpoints tend to exhibit significant fluctuation"; this is the paper's motivation for a score
that looks at the training dynamics rather than at one checkpoint.  Here:

- :func:`train_checkpoint_run` trains ONE model on a random labeled set and keeps the weights
  after every recorded epoch e and after e−1 (θ_0 = the initial weights), plus whatever
  checkpoints the strategies replay (TracIn).
- :meth:`CheckpointRun.context` builds the :class:`SelectionContext` "as if training had
  stopped after epoch e": ``model`` = θ_e, ``train_result.prev_state`` = θ_{e−1} (so the DISAL
  score is KL(f_{θ_{e−1}} || f_{θ_e}), Eq. 15), the history up to e, and TracIn's checkpoints up
  to e.  :func:`checkpoint_scores` / :func:`checkpoint_selections` apply a strategy at each
  recorded epoch.
- :func:`jaccard_matrix` compares the epochs' subsets; :func:`overlap_vs_rate` scores once per
  epoch and takes the top-k at several selection rates (no retraining), next to the exact
  expected Jaccard of two independent uniform random subsets (:func:`expected_random_jaccard`).
- the ``draw(epoch) -> Figure`` callback for an epoch slider is
  :func:`altoolkit.plotting.maps.epoch_drawer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from ..util.progress import tqdm

from ..data import ALDataset
from ..training.fresh_model import default_dynamic_weight, fresh_network, train_fresh
from ..util.modules import state_copy
from ..util.seeds import derive_seed, labeled_subset
from ..strategies import SelectionContext, Strategy, get_strategy
from ..training.train import TrainConfig, TrainResult
from ..util.checks import check_float, check_fraction, check_int

__all__ = [
    "CheckpointRun",
    "train_checkpoint_run",
    "checkpoint_scores",
    "checkpoint_selections",
    "budget_for_rate",
    "jaccard",
    "jaccard_matrix",
    "mean_offdiagonal",
    "expected_random_jaccard",
    "OverlapCurve",
    "overlap_vs_rate",
]


def _strategy(strategy: str | Strategy, options: Mapping[str, Any] | None = None) -> Strategy:
    if isinstance(strategy, Strategy):
        if options:
            raise ValueError("options can only be given with a strategy name, not with a Strategy instance")
        return strategy
    if not isinstance(strategy, str):
        raise TypeError(f"strategy must be a strategy name or a Strategy, got {type(strategy).__name__}")
    return get_strategy(strategy, **dict(options or {}))


@dataclass
class CheckpointRun:
    """One training run with the weights kept at the recorded epochs (and the epochs before them).

    Attributes:
        dataset: the dataset; ``labeled``/``unlabeled`` are indices into its train split.
        labeled: dataset indices the model was trained on.
        unlabeled: dataset indices of the pool that selections are drawn from.
        result: the :class:`TrainResult` of the run (θ_T, history, kept checkpoints).
        initial_state: θ_0, the weights before the first epoch (DISAL's θ_{e−1} for e = 1).
        epochs: the recorded epochs, ascending.
        config: the training settings used (``config.dynamic_weight`` is the λ trained with).
        seed: seed of the labeled split, initial weights and training.
        batch_size, device: scoring settings.
    """

    dataset: ALDataset
    labeled: torch.Tensor
    unlabeled: torch.Tensor
    result: TrainResult
    initial_state: dict[str, torch.Tensor]
    epochs: list[int]
    config: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    batch_size: int = 512
    device: str = "cpu"

    def state(self, epoch: int) -> dict[str, torch.Tensor]:
        """The weights after ``epoch`` (0: the initial weights)."""
        if epoch == 0:
            return self.initial_state
        if epoch not in self.result.checkpoints:
            raise ValueError(f"epoch {epoch} was not kept; kept epochs: {[0] + sorted(self.result.checkpoints)}")
        return self.result.checkpoints[epoch][0]

    def model_at(self, epoch: int) -> nn.Module:
        """A copy of the model with the weights θ_epoch, in eval mode."""
        return self.result.model_from_state(self.state(epoch))

    def train_view(self, epoch: int, strategy: str | Strategy | None = None) -> TrainResult:
        """A :class:`TrainResult` as if training had stopped after ``epoch``: ``model`` = θ_e,
        ``prev_state`` = θ_{e−1}, the history of epochs 1..e, and the checkpoints ``strategy``
        replays for an ``e``-epoch run (TracIn), all taken from this run."""
        self._check_recorded(epoch)
        strat = None if strategy is None else _strategy(strategy)
        wanted = strat.checkpoint_epochs(epoch) if strat is not None else []
        missing = [t for t in wanted if t not in self.result.checkpoints]
        if missing:
            raise ValueError(f"strategy {strat.name!r} replays epochs {missing} that this run did not keep; pass it in strategies= of train_checkpoint_run")
        return TrainResult(
            model=self.model_at(epoch),
            prev_state=self.state(epoch - 1),
            history={k: list(v[:epoch]) for k, v in self.result.history.items()},
            running_mean=None,
            checkpoints={t: self.result.checkpoints[t] for t in wanted},
            seconds=0.0,
        )

    def context(self, epoch: int, strategy: str | Strategy | None = None) -> SelectionContext:
        """The :class:`SelectionContext` of a selection made after ``epoch`` (see :meth:`train_view`);
        its seed ``derive_seed(seed, epoch, 3)`` differs per epoch (random selection stays random)."""
        view = self.train_view(epoch, strategy)
        return SelectionContext(
            dataset=self.dataset,
            model=view.model,
            labeled=self.labeled,
            unlabeled=self.unlabeled,
            train_result=view,
            initial_labeled=self.labeled,
            seed=derive_seed(self.seed, epoch, 3),
            batch_size=self.batch_size,
            device=self.device,
        )

    def test_accuracy(self) -> dict[int, float]:
        """Test accuracy after each recorded epoch (when the run was evaluated)."""
        acc = self.result.history.get("test_acc")
        if not acc:
            raise ValueError("this run was trained without evaluation data (evaluate=False)")
        return {e: float(acc[e - 1]) for e in self.epochs}

    def _check_recorded(self, epoch: int) -> None:
        if epoch not in self.epochs:
            raise ValueError(f"epoch must be one of the recorded epochs {self.epochs}, got {epoch!r}")


def train_checkpoint_run(
    dataset: ALDataset,
    epochs: Iterable[int],
    labeled_fraction: float = 0.10,
    config: TrainConfig | None = None,
    model: str = "cnn",
    seed: int = 0,
    strategies: Sequence[str | Strategy] = (),
    dynamic_weight: float | None = None,
    evaluate: bool = True,
    batch_size: int = 512,
    progress: bool = True,
) -> CheckpointRun:
    """Train one model on a random ``labeled_fraction`` of the pool, keeping θ_e and θ_{e−1} for
    every recorded epoch e.

    Args:
        dataset: the dataset (pool = its train split).
        epochs: the epochs (1-based) after which selections will be made.
        labeled_fraction: share of the pool in the labeled set (seeded by ``seed``, as
            :func:`altoolkit.util.seeds.labeled_subset`).
        config: training settings; default ``TrainConfig(epochs=max(epochs))``.  Its
            ``epochs`` must reach the last recorded epoch.
        model: model name.
        seed: seeds the labeled split, the initial weights (``derive_seed(seed, 1)``) and training
            (``derive_seed(seed, 2)``), as :func:`altoolkit.training.fresh_model.train_fresh`.
        strategies: the strategies that will be applied (their replayed checkpoints, e.g.
            TracIn's, are kept too); the first one also sets λ when ``dynamic_weight`` is None.
        dynamic_weight: λ of DISAL Eq. 14; ``None``: 1 if the first strategy trains with the
            dynamic loss (``disal``), else ``config.dynamic_weight``.
        evaluate: record test accuracy after every epoch.
        batch_size: scoring batch size of later selections.
        progress: tqdm bar over epochs.
    """
    rec = sorted({check_int("epochs[i]", e, 1) for e in epochs})
    if not rec:
        raise ValueError("epochs must list at least one epoch (1-based) at which to select")
    cfg = config or TrainConfig(epochs=rec[-1])
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(cfg).__name__}")
    if rec[-1] > cfg.epochs:
        raise ValueError(f"epochs must be at most config.epochs = {cfg.epochs}, got {rec[-1]}")
    strats = [_strategy(s) for s in strategies]
    if dynamic_weight is not None:
        check_float("dynamic_weight (λ)", dynamic_weight, 0.0)
    cfg = replace(cfg, dynamic_weight=default_dynamic_weight(strats[0] if strats else None, dynamic_weight, otherwise=cfg.dynamic_weight))
    keep = set(rec) | {e - 1 for e in rec if e > 1}
    for s in strats:
        for e in rec:
            keep.update(s.checkpoint_epochs(e))
    lab, unl = labeled_subset(dataset.n_train, labeled_fraction, seed)
    net = fresh_network(model, dataset, seed)
    initial = state_copy(net.state_dict())
    result = train_fresh(
        net,
        dataset,
        lab,
        cfg,
        seed,
        eval_data=(dataset.x_test, dataset.y_test) if evaluate else None,
        checkpoint_epochs=sorted(keep),
        progress=progress,
        desc="checkpoint run",
    )
    return CheckpointRun(dataset, lab, unl, result, initial, rec, cfg, seed, check_int("batch_size", batch_size, 1), cfg.device)


def budget_for_rate(rate: float, pool_size: int) -> int:
    """Samples selected at a selection ``rate`` (share of the unlabeled pool): ``round(rate·n)``, ≥ 1."""
    rate = check_fraction("rate", rate)
    return max(1, int(round(rate * pool_size)))


def checkpoint_scores(
    run: CheckpointRun,
    strategy: str | Strategy,
    options: Mapping[str, Any] | None = None,
    epochs: Iterable[int] | None = None,
    progress: bool = False,
) -> dict[int, torch.Tensor]:
    """Per-sample scores of ``strategy`` on ``run.unlabeled`` at each recorded epoch (larger =
    label first, as :meth:`Strategy.score`).  Set-selection strategies (Core-set, BADGE) have no
    per-sample scores: use :func:`checkpoint_selections`."""
    strat = _strategy(strategy, options)
    if not strat.scores_per_sample():
        raise ValueError(f"strategy {strat.name!r} selects a set jointly and has no per-sample scores; use checkpoint_selections")
    eps = run.epochs if epochs is None else list(epochs)
    return {e: strat.score(run.context(e, strat)).detach().cpu() for e in tqdm(eps, desc=f"{strat.name} per epoch", disable=not progress, leave=False)}


def checkpoint_selections(
    run: CheckpointRun,
    strategy: str | Strategy,
    rate: float | None = None,
    budget: int | None = None,
    options: Mapping[str, Any] | None = None,
    epochs: Iterable[int] | None = None,
    progress: bool = False,
) -> dict[int, torch.Tensor]:
    """``{epoch: dataset indices}`` that ``strategy`` selects at each recorded epoch.

    Give either ``rate`` (share of the unlabeled pool, DISAL Fig. 1 uses 10%) or ``budget``.
    """
    if (rate is None) == (budget is None):
        raise ValueError("give exactly one of rate= (share of the unlabeled pool) or budget= (number of samples)")
    n = len(run.unlabeled)
    k = budget_for_rate(rate, n) if rate is not None else check_int("budget", budget, 1, n)
    strat = _strategy(strategy, options)
    eps = run.epochs if epochs is None else list(epochs)
    out = {}
    for e in tqdm(eps, desc=f"{strat.name} per epoch", disable=not progress, leave=False):
        pos = strat.select(run.context(e, strat), k)
        out[e] = run.unlabeled[pos]
    return out


def jaccard(a: Iterable[int], b: Iterable[int]) -> float:
    """|A ∩ B| / |A ∪ B| of two sets of indices (1 when both are empty)."""
    sa, sb = {int(i) for i in a}, {int(i) for i in b}
    union = len(sa | sb)
    return 1.0 if union == 0 else len(sa & sb) / union


def _as_index_lists(subsets: Mapping[Any, Any] | Sequence[Any]) -> list[np.ndarray]:
    items = list(subsets.values()) if isinstance(subsets, Mapping) else list(subsets)
    if not items:
        raise ValueError("subsets must hold at least one subset")
    out = []
    for s in items:
        arr = np.asarray(s.cpu() if isinstance(s, torch.Tensor) else s)
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise TypeError("each subset must be a 1-D sequence of integer indices")
        out.append(np.unique(arr.astype(np.int64)))
    return out


def jaccard_matrix(subsets: Mapping[Any, Any] | Sequence[Any]) -> np.ndarray:
    """(E, E) Jaccard overlaps between subsets (a mapping ``{epoch: indices}`` in its order, or a
    sequence).  Computed from an indicator matrix: intersections = A·Aᵀ, unions = |a|+|b|−∩."""
    sets = _as_index_lists(subsets)
    universe = np.unique(np.concatenate(sets)) if any(len(s) for s in sets) else np.empty(0, np.int64)
    ind = np.zeros((len(sets), len(universe)), dtype=np.float64)
    for r, s in enumerate(sets):
        ind[r, np.searchsorted(universe, s)] = 1.0
    inter = ind @ ind.T
    sizes = ind.sum(1)
    union = sizes[:, None] + sizes[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 1.0)
    return m


def mean_offdiagonal(matrix: np.ndarray) -> float:
    """Mean of the off-diagonal entries of a square matrix (NaN for a 1x1 matrix)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square, got shape {m.shape}")
    e = m.shape[0]
    if e < 2:
        return float("nan")
    return float((m.sum() - np.trace(m)) / (e * (e - 1)))


def expected_random_jaccard(pool_size: int, k: int) -> float:
    """Expected Jaccard overlap of two independent uniform random k-subsets of an n-pool.

    The intersection size i is hypergeometric, P(i) = C(k,i)·C(n−k,k−i)/C(n,k), and the
    Jaccard is i / (2k − i); summed exactly.  About r/(2 − r) for a rate r = k/n.
    """
    from scipy.stats import hypergeom

    n = check_int("pool_size", pool_size, 1)
    k = check_int("k", k, 1, n)
    i = np.arange(max(0, 2 * k - n), k + 1)
    p = hypergeom(n, k, k).pmf(i)
    return float(np.sum(p * i / (2 * k - i)))


@dataclass
class OverlapCurve:
    """Mean pairwise Jaccard between the recorded epochs' subsets, per selection rate.

    Attributes:
        epochs: the epochs compared.
        rates: selection rates (share of the unlabeled pool).
        sizes: subset size k at each rate.
        mean_jaccard: mean off-diagonal Jaccard at each rate.
        min_jaccard, max_jaccard: the smallest / largest pairwise Jaccard at each rate.
        random_jaccard: exact expectation for independent uniform random subsets of size k.
        matrices: ``{rate: (E, E) Jaccard matrix}``.
        subsets: ``{rate: {epoch: positions into the unlabeled pool}}``.
    """

    epochs: list[int]
    rates: np.ndarray
    sizes: np.ndarray
    mean_jaccard: np.ndarray
    min_jaccard: np.ndarray
    max_jaccard: np.ndarray
    random_jaccard: np.ndarray
    matrices: dict[float, np.ndarray] = field(default_factory=dict)
    subsets: dict[float, dict[int, torch.Tensor]] = field(default_factory=dict)


def overlap_vs_rate(
    scores: Mapping[int, torch.Tensor],
    rates: Sequence[float] = (0.01, 0.02, 0.05, 0.10, 0.20),
    strategy: str | Strategy | None = None,
) -> OverlapCurve:
    """How much the epochs' selections overlap as the selection rate varies (no retraining).

    ``scores`` are one score vector per epoch over the same pool (:func:`checkpoint_scores`); at
    each rate the top-k of each epoch are taken with ``strategy.select_from_scores`` (default:
    the largest scores) and compared pairwise with the Jaccard index.
    """
    if not isinstance(scores, Mapping) or len(scores) < 2:
        raise ValueError("scores must map at least two epochs to score vectors")
    lens = {int(v.numel()) for v in scores.values()}
    if len(lens) != 1:
        raise ValueError(f"every epoch's scores must cover the same pool; got lengths {sorted(lens)}")
    n = lens.pop()
    rates_arr = np.array([check_fraction("rates[i]", r) for r in rates], dtype=np.float64)
    if rates_arr.size == 0:
        raise ValueError("rates must list at least one selection rate in (0, 1)")
    strat = _strategy(strategy) if strategy is not None else None
    epochs = list(scores)
    sizes, means, mins, maxs, rand = [], [], [], [], []
    matrices, subsets = {}, {}
    for r in rates_arr:
        k = budget_for_rate(float(r), n)
        if strat is not None:
            sel = {e: strat.select_from_scores(scores[e], k) for e in epochs}
        else:
            sel = {e: torch.topk(scores[e].double(), k).indices for e in epochs}
        m = jaccard_matrix(sel)
        off = m[~np.eye(len(epochs), dtype=bool)]
        sizes.append(k)
        means.append(off.mean())
        mins.append(off.min())
        maxs.append(off.max())
        rand.append(expected_random_jaccard(n, k))
        matrices[float(r)] = m
        subsets[float(r)] = sel
    return OverlapCurve(epochs, rates_arr, np.array(sizes), np.array(means), np.array(mins), np.array(maxs), np.array(rand), matrices, subsets)
