"""Why DISAL's top-k piles onto one class, tested by interventions (issue 25, items 1-2): the
computations behind notebook 09 (its batch-rule section is :mod:`.batch_rule_control`).

A *cause* is shown by an intervention: remove the suspected cause, keep everything else, and see
whether the collapse goes away, paired over seeds, in more than one regime.  That a part of the
network moved alone "reproduces" the collapse singles out no cause (every partial move of the
review of 0.2's notebook 09 did), so this module measures, per seed and on the SAME labeled set,
initial weights and training stream:

- ``full``: DISAL's score KL(f_{T-1} || f_T) between the last two epochs (eval mode, as the
  ``disal`` strategy scores);
- ``weights_only``: θ_T's parameters with θ_{T-1}'s BatchNorm buffers (running mean and
  variance) in both checkpoints, so only the weights move: removes the buffer move;
- ``buffers_only``: θ_{T-1}'s parameters with θ_T's buffers (the complement; reported, but it
  removes the weight move, which is not a cause under test);
- ``exact_bn_labeled`` / ``exact_bn_pool``: both checkpoints' BatchNorm statistics recomputed
  exactly on the labeled set / on the unlabeled pool ("precise BN", Wu & Johnson 2021,
  *Rethinking "Batch" in BatchNorm*, §3: population statistics instead of the EMA), so stale or
  noisy running statistics are removed;
- ``no_bn_matched``: the same network without BatchNorm, trained from the same seed for the
  regime's epochs × 1, 2 or 4 (same schedule shape), the length whose test accuracy is closest to
  the BatchNorm network's (so a difference is not one of under-training); removes BatchNorm;
- ``no_dynamic``: the same network trained without the dynamic loss (λ = 0, DISAL w/o D).

The *collapse* of a batch is the share of its largest TRUE class among the top-``budget`` samples
(random batch, entropy and margin on the same model as references).  Each claim is a paired
verdict over seeds (:func:`altoolkit.math.stats.compare`).  The only "how much of the KL" figure
is a decomposition that adds up: the two-player Shapley split of each sample's KL between the
weight move and the buffer move (:func:`shapley_split`), whose two parts sum to the full KL exactly.

The under-training account (item 2) is tested by :func:`undertraining_point`: the largest-class
share of the top-k batch of DISAL, DISAL w/o D, TOD, margin and entropy against the test accuracy
of the model that scored, over a grid of labeled-set sizes and epochs.  :func:`measurement_configs`
and :func:`measurement_verdicts` are the AL runs of DISAL with each batch rule against the
baselines (notebook 09's sections 1 and 5).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, cast

import numpy as np
import torch
from torch import nn

from ..analysis.results import cycle_seconds, learning_curves, paired_comparison
from ..analysis.selection_balance import largest_class_share, strategy_label
from ..data import ALDataset
from ..engine.seed_rows import SeedRowCache, StudyFile, dataset_content_key, key_digest, read_study_folder
from ..math.scores import disal_kl_from_logits, entropy, margin, select_top
from ..math.stats import Verdict, compare, spearman, verdict
from ..strategies.tod import output_discrepancy
from ..util.seeds import derive_seed, seeded_split
from ..training.inference import predict_logits
from ..training.models import MODEL_REVISION, build_model
from ..training.train import TrainConfig, TrainResult, evaluate, train_model
from ..util.checks import check_int
from ..util.progress import tqdm

__all__ = [
    "labeled_split",
    "strip_layers",
    "moved_state",
    "Regime",
    "ONE_STEP",
    "TEN_STEPS",
    "INTERVENTIONS",
    "exact_batchnorm_state",
    "shapley_split",
    "intervention_seed",
    "run_interventions",
    "intervention_verdicts",
    "intervention_table",
    "undertraining_point",
    "run_undertraining",
    "undertraining_verdicts",
    "confusion_verdicts",
    "CauseSummary",
    "cause_summary",
    "study_verdicts",
    "measurement_configs",
    "measurement_verdicts",
    "seconds_ratio",
]


@dataclass(frozen=True)
class Regime:
    """One training regime of the study: a seeded random labeled set of ``n_labeled`` pool samples,
    trained ``epochs`` epochs with SGD (``batch_size``, ``lr``, step schedule, DISAL's λ), and a
    selection of ``budget`` samples."""

    name: str
    n_labeled: int
    budget: int
    epochs: int
    batch_size: int
    lr: float = 0.05
    model: str = "cnn"
    dynamic_weight: float = 1.0

    def __post_init__(self) -> None:
        for name, low in (("n_labeled", 2), ("budget", 1), ("epochs", 2), ("batch_size", 1)):
            object.__setattr__(self, name, check_int(name, getattr(self, name), low))  # np.int64 or 32.0 → 32
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "dynamic_weight", float(self.dynamic_weight))
        self.train_config()

    @property
    def steps_per_epoch(self) -> int:
        """SGD steps in one epoch (the last batch holds the remainder, as a DataLoader cuts it)."""
        return math.ceil(self.n_labeled / self.batch_size)

    def train_config(self, **changes: Any) -> TrainConfig:
        kw: dict[str, Any] = dict(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, dynamic_weight=self.dynamic_weight)
        kw.update(changes)
        return TrainConfig(**kw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: 0.2's notebook 09 setting: 27 labels at batch 64, one SGD step per epoch (the review's "atypical regime").
ONE_STEP = Regime("one step per epoch", n_labeled=27, budget=27, epochs=15, batch_size=64)
#: A trained regime: 320 labels at batch 32, ten SGD steps per epoch.
TEN_STEPS = Regime("ten steps per epoch", n_labeled=320, budget=32, epochs=20, batch_size=32)

#: The interventions, each removing one suspected cause (see the module docstring).
INTERVENTIONS: tuple[str, ...] = ("weights_only", "exact_bn_labeled", "exact_bn_pool", "no_bn_matched", "no_dynamic")
#: Everything :func:`intervention_seed` scores: the full move, the interventions, the complement and references.
VARIANTS: tuple[str, ...] = ("full", *INTERVENTIONS, "buffers_only", "entropy", "margin", "random")


def labeled_split(n_pool: int, n_labeled: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random labeled indices and the rest (the unlabeled pool), both sorted
    (:func:`altoolkit.util.seeds.seeded_split`, key ``0x09``)."""
    if not 1 <= n_labeled < n_pool:
        raise ValueError(f"n_labeled must be in [1, {n_pool - 1}] (smaller than the pool), got {n_labeled}")
    return seeded_split(n_pool, n_labeled, seed, 0x09)


def strip_layers(model: nn.Module, batchnorm: bool = True, dropout: bool = True) -> nn.Module:
    """``model`` with its BatchNorm layers (``batchnorm=False``) and/or Dropout layers
    (``dropout=False``) replaced by ``nn.Identity`` (in place; returned for chaining).  Without
    both, train-mode and eval-mode forward passes are the same function."""
    for name, child in list(model.named_children()):
        if (not batchnorm and isinstance(child, nn.modules.batchnorm._BatchNorm)) or (not dropout and isinstance(child, nn.Dropout)):
            setattr(model, name, nn.Identity())
        else:
            strip_layers(child, batchnorm, dropout)
    return model


def moved_state(start: Mapping[str, torch.Tensor], end: Mapping[str, torch.Tensor], keys: Iterable[str]) -> dict[str, torch.Tensor]:
    """``start`` with the entries ``keys`` taken from ``end`` (e.g. only the last layer moved)."""
    keys = list(keys)
    missing = [k for k in keys if k not in start or k not in end]
    if missing:
        raise ValueError(f"keys {missing} are not in both states; available: {sorted(start)}")
    out = {k: v.clone() for k, v in start.items()}
    for k in keys:
        out[k] = end[k].clone()
    return out


def _buffer_keys(state: Mapping[str, torch.Tensor]) -> list[str]:
    return [k for k in state if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]


def exact_batchnorm_state(model: nn.Module, state: Mapping[str, torch.Tensor], x: torch.Tensor, to_input, batch_size: int = 4096) -> dict[str, torch.Tensor]:
    """``state`` with every BatchNorm layer's running mean and variance replaced by the exact
    statistics of ``x`` under ``state``'s own weights ("precise BN", Wu & Johnson 2021, §3).

    The layers are reset and run with ``momentum=None`` (PyTorch's cumulative average) in train
    mode, everything else in eval mode (dropout off), without gradients; with ``len(x) <=
    batch_size`` one batch gives the exact mean and unbiased variance of each layer's input.
    """
    net = copy.deepcopy(model)
    net.load_state_dict(state)
    net.eval()
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    with torch.no_grad():
        for start in range(0, int(x.shape[0]), batch_size):
            net(to_input(x[start : start + batch_size]))
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def shapley_split(kl_weights: torch.Tensor, kl_buffers: torch.Tensor, kl_full: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-player Shapley split of each sample's KL between the weight move and the buffer move.

    With v(∅) = 0 (no move, no divergence), v({w}) = ``kl_weights``, v({b}) = ``kl_buffers`` and
    v({w, b}) = ``kl_full``: φ_w = ½(v(w) + v(wb) − v(b)), φ_b = ½(v(b) + v(wb) − v(w)), so
    φ_w + φ_b = ``kl_full`` for every sample (the decomposition adds up; a part may be negative
    when the two moves interact).
    """
    phi_w = 0.5 * (kl_weights.double() + kl_full.double() - kl_buffers.double())
    return phi_w, kl_full.double() - phi_w


def _share(scores: torch.Tensor, labels: torch.Tensor, budget: int, num_classes: int) -> float:
    pos = select_top(scores, budget)
    return largest_class_share(np.bincount(labels[pos].numpy(), minlength=num_classes).tolist())


def _train(dataset: ALDataset, regime: Regime, labeled: torch.Tensor, seed: int, batchnorm: bool = True, **changes: Any) -> TrainResult:
    """The regime's network (BatchNorm stripped when asked), initialised by ``seed`` the same way for
    every variant, trained on ``labeled`` with the regime's settings and ``changes``."""
    model = strip_layers(build_model(regime.model, dataset.input_shape, dataset.num_classes, seed=derive_seed(seed, 0x25, 1)), batchnorm=batchnorm)
    return train_model(
        model,
        dataset.x_train[labeled],
        dataset.y_train[labeled],
        regime.train_config(**changes),
        seed=derive_seed(seed, 0x25, 2),
        to_input=dataset.to_input,
        progress=False,
    )


def _pair_kl(prev: nn.Module, last: nn.Module, dataset: ALDataset, idx: torch.Tensor) -> torch.Tensor:
    """KL(f_prev || f_last) per pool sample ``idx``, in one loop over the pool (as ``disal`` scores)."""
    return cast(torch.Tensor, predict_logits([prev, last], dataset.x_train, dataset.to_input, indices=idx, combine=disal_kl_from_logits))


def _kl(model: nn.Module, a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], dataset: ALDataset, idx: torch.Tensor) -> torch.Tensor:
    ma, mb = copy.deepcopy(model), copy.deepcopy(model)
    ma.load_state_dict(a)
    mb.load_state_dict(b)
    return _pair_kl(ma, mb, dataset, idx)


def _matched_no_bn(dataset: ALDataset, regime: Regime, lab: torch.Tensor, seed: int, target: float, lengths: Sequence[int]) -> tuple[TrainResult, int, float]:
    """The BatchNorm-free network trained for ``regime.epochs × m`` epochs, ``m`` in ``lengths``,
    whose test accuracy is closest to ``target`` (ties: the shorter); returns it, its epochs and accuracy."""
    best: tuple[float, TrainResult, int, float] | None = None
    for m in lengths:
        res = _train(dataset, regime, lab, seed, batchnorm=False, epochs=regime.epochs * m)
        acc = evaluate(res.model, dataset.x_test, dataset.y_test, dataset.to_input)
        if best is None or abs(acc - target) < best[0]:
            best = (abs(acc - target), res, regime.epochs * m, acc)
    assert best is not None
    return best[1], best[2], best[3]


def _confusion(dataset: ALDataset, logits: torch.Tensor, y: torch.Tensor, picked: torch.Tensor) -> dict[str, float]:
    """How the top-k batch relates to the model's mistakes on the pool: the Spearman correlation of
    the batch's per-class counts with the per-class error rate, the share of the batch's largest
    PREDICTED class, and whether the batch's largest true class is the model's worst class."""
    c = dataset.num_classes
    pred = logits.argmax(1)
    counts = np.bincount(y.numpy(), minlength=c).astype(float)
    wrong = np.bincount(y[pred != y].numpy(), minlength=c).astype(float)
    error = np.where(counts > 0, wrong / np.maximum(counts, 1), 0.0)
    picks = np.bincount(y[picked].numpy(), minlength=c).astype(float)
    return {
        "picks_error_spearman": spearman(picks, error) if picks.std() > 0 and error.std() > 0 else 0.0,
        "pseudo_share": largest_class_share(np.bincount(pred[picked].numpy(), minlength=c).tolist()),
        "top_class_is_worst": float(int(picks.argmax()) == int(error.argmax())),
    }


def intervention_seed(dataset: ALDataset, regime: Regime, seed: int, no_bn_lengths: Sequence[int] = (1, 2, 4)) -> dict[str, Any]:
    """Every variant of :data:`VARIANTS` for one seed: ``share_<variant>`` (largest true class of
    the top-``budget`` batch), test accuracies ``acc_base``, ``acc_no_bn_matched``,
    ``acc_no_dynamic``, ``no_bn_epochs``, the Shapley parts of the top-k's KL
    (``shapley_weights_topk`` + ``shapley_buffers_topk`` = 1) and the batch's relation to the
    model's mistakes (:func:`_confusion`)."""
    n_cls = dataset.num_classes
    lab, unl = labeled_split(dataset.n_train, regime.n_labeled, seed)
    if regime.budget > len(unl):
        raise ValueError(f"budget must be at most the unlabeled pool ({len(unl)}), got {regime.budget}")
    y = dataset.y_train[unl]
    base = _train(dataset, regime, lab, seed)
    prev, last = dict(base.prev_state), {k: v.detach().clone() for k, v in base.model.state_dict().items()}
    buffers = _buffer_keys(last)
    prev_logits, last_logits = predict_logits([base.prev_model(), base.model], dataset.x_train, dataset.to_input, indices=unl)
    kl = {"full": disal_kl_from_logits(prev_logits, last_logits)}
    kl["weights_only"] = _kl(base.model, prev, moved_state(last, prev, buffers), dataset, unl)
    kl["buffers_only"] = _kl(base.model, prev, moved_state(prev, last, buffers), dataset, unl)
    for name, x in (("exact_bn_labeled", dataset.x_train[lab]), ("exact_bn_pool", dataset.x_train[unl])):
        a, b = (exact_batchnorm_state(base.model, s, x, dataset.to_input) for s in (prev, last))
        kl[name] = _kl(base.model, a, b, dataset, unl)
    out: dict[str, Any] = {"seed": int(seed), "acc_base": evaluate(base.model, dataset.x_test, dataset.y_test, dataset.to_input)}
    no_bn, out["no_bn_epochs"], out["acc_no_bn_matched"] = _matched_no_bn(dataset, regime, lab, seed, out["acc_base"], no_bn_lengths)
    kl["no_bn_matched"] = _pair_kl(no_bn.prev_model(), no_bn.model, dataset, unl)
    wo_d = _train(dataset, regime, lab, seed, dynamic_weight=0.0)
    out["acc_no_dynamic"] = evaluate(wo_d.model, dataset.x_test, dataset.y_test, dataset.to_input)
    kl["no_dynamic"] = _pair_kl(wo_d.prev_model(), wo_d.model, dataset, unl)
    p_last = torch.softmax(last_logits.double(), 1)
    kl["entropy"], kl["margin"] = entropy(p_last), margin(p_last)
    kl["random"] = torch.rand(len(unl), generator=torch.Generator().manual_seed(derive_seed(seed, 0x25, 3)))
    out.update({f"share_{v}": _share(kl[v], y, regime.budget, n_cls) for v in VARIANTS})
    top = select_top(kl["full"], regime.budget)
    phi_w, phi_b = shapley_split(kl["weights_only"], kl["buffers_only"], kl["full"])
    total = float(kl["full"][top].double().sum())
    out["shapley_weights_topk"], out["shapley_buffers_topk"] = float(phi_w[top].sum()) / total, float(phi_b[top].sum()) / total
    out["kl_full_topk_mean"] = float(kl["full"][top].mean())
    out.update(_confusion(dataset, last_logits, y, top))
    return out


def run_interventions(
    dataset: ALDataset,
    regime: Regime,
    seeds: Sequence[int],
    n_jobs: int = 1,
    progress: bool = True,
    no_bn_lengths: Sequence[int] = (1, 2, 4),
    cache_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """:func:`intervention_seed` for every seed (rows in seed order); ``n_jobs > 1`` runs seeds in
    joblib worker processes with one torch thread each (the shares and accuracies do not depend on
    it; the KL sums behind ``shapley_*_topk`` and ``kl_full_topk_mean`` may differ in the 8th digit).

    With ``cache_dir`` every seed's row is written there when it is done and read back by a later
    call with the same data, regime and lengths (:class:`altoolkit.engine.seed_rows.SeedRowCache`),
    so an interrupted study resumes after its last finished seed."""
    seeds = _check_seeds(seeds)
    lengths = tuple(check_int("no_bn_lengths[i]", m, 1) for m in no_bn_lengths)
    if not lengths:
        raise ValueError("no_bn_lengths must hold at least one multiple of the regime's epochs, e.g. (1, 2, 4)")
    key = {"regime": {k: v for k, v in regime.to_dict().items() if k != "name"}, "no_bn_lengths": list(lengths)}
    cache = _study_cache(cache_dir, "interventions", dataset, key, label=regime.name)
    return _map_seeds(_intervention_seed_with, (dataset, regime, lengths), seeds, n_jobs, progress, f"interventions ({regime.name})", cache)


def _intervention_seed_with(dataset: ALDataset, regime: Regime, lengths: tuple[int, ...], seed: int) -> dict[str, Any]:
    return intervention_seed(dataset, regime, seed, no_bn_lengths=lengths)


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = [check_int("seeds[i]", s, 0) for s in seeds]
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be distinct non-negative integers (at least one), got {seeds}")
    return seeds


#: Version of the computations behind :func:`run_interventions` and :func:`run_undertraining`, part
#: of their cache key: raise it when a change alters their rows, so cached rows are not reused.
STUDY_ROWS_VERSION = 1


def _study_cache(cache_dir: str | Path | None, kind: str, dataset: ALDataset, key: Mapping[str, Any], label: str) -> SeedRowCache | None:
    """The cache of one study: its key holds everything the rows depend on besides the seed (the
    data's content, the settings, this module's :data:`STUDY_ROWS_VERSION` and the built-in networks'
    :data:`~altoolkit.training.models.MODEL_REVISION`, as a run's hash does); the names of the data
    and the regime are stored beside it, unhashed (a renamed regime reuses its rows)."""
    if cache_dir is None:
        return None
    if Path(cache_dir).exists() and not Path(cache_dir).is_dir():
        raise ValueError(f"cache_dir must be a folder (or None), got the file {str(cache_dir)!r}")
    full = {"version": STUDY_ROWS_VERSION, "model_revision": MODEL_REVISION, "dataset": dataset_content_key(dataset), **key}
    return SeedRowCache(cache_dir, kind, full, label={"dataset": dataset.name, "study": label})


def _map_seeds(fn, args: tuple, seeds: Sequence[int], n_jobs: int, progress: bool, desc: str, cache: SeedRowCache | None = None) -> list[Any]:
    """``fn(*args, seed)`` for every seed, in seed order; seeds found in ``cache`` are read, the
    others computed (in ``n_jobs`` worker processes) and stored there as each finishes."""
    n_jobs = check_int("n_jobs", n_jobs, 1)
    done = {s: cache.load(s) for s in seeds} if cache is not None else {}
    todo = [s for s in seeds if done.get(s) is None]
    if len(todo) < len(seeds):
        desc = f"{desc}, {len(seeds) - len(todo)} of {len(seeds)} seeds cached"
    if n_jobs == 1:
        fresh = [_computed(fn, args, s, cache) for s in tqdm(todo, desc=desc, disable=not progress)]
    else:
        from joblib import Parallel, delayed

        fresh = list(Parallel(n_jobs=n_jobs)(delayed(_one_thread)(fn, args, s, cache) for s in todo))
    done.update(zip(todo, fresh))
    return [done[s] for s in seeds]


def _computed(fn, args: tuple, seed: int, cache: SeedRowCache | None) -> Any:
    rows = fn(*args, seed)
    if cache is not None:
        cache.store(seed, rows)
    return rows


def _one_thread(fn, args: tuple, seed: int, cache: SeedRowCache | None = None) -> Any:
    torch.set_num_threads(1)
    return _computed(fn, args, seed, cache)


def _col(rows: Iterable[Mapping[str, Any]], key: str) -> dict[int, float]:
    return {int(r["seed"]): float(r[key]) for r in rows}


#: What each intervention removes (the claim "removing it lowers the share" tests it as a cause).
REMOVES: dict[str, str] = {
    "weights_only": "the move of BatchNorm's running statistics",
    "exact_bn_labeled": "stale running statistics (exact statistics of the labeled set in both checkpoints)",
    "exact_bn_pool": "stale running statistics (exact statistics of the pool in both checkpoints)",
    "no_bn_matched": "BatchNorm (a network without it, trained to the same test accuracy)",
    "no_dynamic": "the dynamic loss (λ = 0)",
}


def intervention_verdicts(rows: Sequence[Mapping[str, Any]]) -> dict[str, Verdict]:
    """Paired verdicts over seeds: ``collapse`` (DISAL's batch is more one-class than a random
    batch); for every intervention X, ``lowers:X`` ("removing [its cause] lowers the share":
    share_full − share_X > 0) and ``remains:X`` (the collapse remains: share_X − share_random > 0);
    ``buffers_alone`` (the buffer move alone gives a share above random); and ``matched_accuracy``
    (the matched BatchNorm-free network's accuracy minus the BatchNorm network's, for the record)."""
    out = {"collapse": compare(_col(rows, "share_full"), _col(rows, "share_random"), "DISAL's top-k batch is more one-class than a random batch")}
    full, random = _col(rows, "share_full"), _col(rows, "share_random")
    for x in INTERVENTIONS:
        mine = _col(rows, f"share_{x}")
        out[f"lowers:{x}"] = compare(full, mine, f"removing {REMOVES[x]} lowers the largest-class share")
        out[f"remains:{x}"] = compare(mine, random, f"without {REMOVES[x]} the batch is still more one-class than random")
    out["buffers_alone"] = compare(_col(rows, "share_buffers_only"), random, "the buffer move alone gives a batch more one-class than random")
    accuracy_claim = "the BatchNorm-free network is more accurate than the BatchNorm one"
    out["matched_accuracy"] = compare(_col(rows, "acc_no_bn_matched"), _col(rows, "acc_base"), accuracy_claim)
    return out


def intervention_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant: mean, min and max over seeds of the largest-class share (rows for a
    table renderer or ``print``)."""
    table = []
    for v in VARIANTS:
        s = np.array([r[f"share_{v}"] for r in rows])
        table.append({"variant": v, "share": float(s.mean()), "min": float(s.min()), "max": float(s.max())})
    return table


# --------------------------------------------------------------------------- item 2: under-training

#: Strategies of the under-training curve (TOD as its cyclic variant without the unsupervised loss).
CURVE_STRATEGIES: tuple[str, ...] = ("disal", "disal_no_dynamic", "tod", "margin", "entropy", "random")


def undertraining_point(dataset: ALDataset, n_labeled: int, epochs: int, budget: int, batch_size: int, seed: int, lr: float = 0.05) -> list[dict[str, Any]]:
    """One grid point (``n_labeled`` labels, ``epochs`` epochs) of the accuracy-share curve, one
    row per strategy of :data:`CURVE_STRATEGIES` with the test accuracy of the model that scored.

    DISAL scores with a λ = 1 network; DISAL w/o D, margin, entropy and random with the λ = 0
    network trained on the same labeled set from the same initial weights; TOD (siyuhuang/TOD
    ``main_TOD.py``: the output discrepancy ½‖softmax(f_now) − softmax(f_prev)‖² against the
    previous cycle's model on the same trajectory) with a network trained ``epochs`` epochs on
    the first half of the labeled set (the previous cycle) and then, warm-started, ``epochs``
    epochs on all of it.
    """
    regime = Regime("curve", n_labeled=n_labeled, budget=budget, epochs=epochs, batch_size=batch_size, lr=lr)
    lab, unl = labeled_split(dataset.n_train, n_labeled, seed)
    y, n_cls = dataset.y_train[unl], dataset.num_classes
    disal = _train(dataset, regime, lab, seed)
    plain = _train(dataset, regime, lab, seed, dynamic_weight=0.0)
    first = _train(dataset, replace(regime, n_labeled=max(2, n_labeled // 2)), lab[: max(2, n_labeled // 2)], seed, dynamic_weight=0.0)
    warm = copy.deepcopy(first.model).train()
    config = regime.train_config(dynamic_weight=0.0)
    now = train_model(warm, dataset.x_train[lab], dataset.y_train[lab], config, seed=derive_seed(seed, 0x25, 4), to_input=dataset.to_input, progress=False)
    kl_d = _pair_kl(disal.prev_model(), disal.model, dataset, unl)
    prev_p, last_p = predict_logits([plain.prev_model(), plain.model], dataset.x_train, dataset.to_input, indices=unl)
    tod_now, tod_prev = predict_logits([now.model, first.model], dataset.x_train, dataset.to_input, indices=unl)
    p = torch.softmax(last_p.double(), 1)
    scores = {
        "disal": kl_d,
        "disal_no_dynamic": disal_kl_from_logits(prev_p, last_p),
        "tod": output_discrepancy(tod_now, tod_prev),
        "margin": margin(p),
        "entropy": entropy(p),
        "random": torch.rand(len(unl), generator=torch.Generator().manual_seed(derive_seed(seed, 0x25, 5))),
    }
    acc = {m: evaluate(r.model, dataset.x_test, dataset.y_test, dataset.to_input) for m, r in (("disal", disal), ("plain", plain), ("tod", now))}
    scorer = {"disal": "disal", "tod": "tod"}
    return [
        {
            "seed": int(seed),
            "n_labeled": int(n_labeled),
            "epochs": int(epochs),
            "strategy": s,
            "test_acc": acc[scorer.get(s, "plain")],
            "share": _share(scores[s], y, budget, n_cls),
        }
        for s in CURVE_STRATEGIES
    ]


def run_undertraining(
    dataset: ALDataset,
    sizes: Sequence[int],
    epochs: Sequence[int],
    seeds: Sequence[int],
    budget: int,
    batch_size: int,
    n_jobs: int = 1,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """:func:`undertraining_point` over the grid ``sizes × epochs`` for every seed (flat rows);
    ``cache_dir`` keeps each seed's rows as :func:`run_interventions` does."""
    seeds = _check_seeds(seeds)
    grid = [(int(n), int(e)) for n in sizes for e in epochs]
    key = {"grid": grid, "budget": check_int("budget", budget, 1), "batch_size": check_int("batch_size", batch_size, 1)}
    cache = _study_cache(cache_dir, "undertraining", dataset, key, label="under-training grid")
    per_seed = _map_seeds(_grid_for_seed, (dataset, grid, budget, batch_size), seeds, n_jobs, progress, "under-training grid", cache)
    return [row for rows in per_seed for row in rows]


def _grid_for_seed(dataset: ALDataset, grid: Sequence[tuple[int, int]], budget: int, batch_size: int, seed: int) -> list[dict[str, Any]]:
    return [row for n, e in grid for row in undertraining_point(dataset, n, e, budget, batch_size, seed)]


def _slope(acc: Sequence[float], share: Sequence[float]) -> float:
    a, s = np.asarray(acc, float), np.asarray(share, float)
    return float(np.polyfit(a, s, 1)[0]) if np.ptp(a) > 0 else float("nan")


def undertraining_verdicts(rows: Sequence[Mapping[str, Any]]) -> dict[str, Verdict]:
    """Per strategy, ``falls:<s>``: "the share falls as the scoring model's test accuracy rises"
    (per seed, the least-squares slope of share on accuracy over the grid; the claim holds when
    the mean slope's interval lies below 0, so the verdict is on −slope; a seed whose models all
    reached the same accuracy has no slope and is left out); and, for every other
    strategy s, ``disal_vs:<s>``: "DISAL's batches are more one-class than s's at the same
    labeled-set size and epochs" (per seed, the mean over grid points of the share difference)."""
    strategies = sorted({r["strategy"] for r in rows}, key=CURVE_STRATEGIES.index)
    seeds = sorted({int(r["seed"]) for r in rows})
    out: dict[str, Verdict] = {}
    for s in strategies:
        mine = [r for r in rows if r["strategy"] == s]
        slopes = [_slope([r["test_acc"] for r in mine if r["seed"] == k], [r["share"] for r in mine if r["seed"] == k]) for k in seeds]
        # a seed whose grid gave one accuracy throughout has no slope: it is left out (the verdict's n says how many remain)
        claim = f"{s}: the batch's largest-class share falls as the scoring model's accuracy rises"
        out[f"falls:{s}"] = verdict([-x for x in slopes if np.isfinite(x)], claim)
    key = {(r["strategy"], int(r["seed"]), r["n_labeled"], r["epochs"]): r["share"] for r in rows}
    for s in strategies:
        if s == "disal":
            continue
        diffs = {k: float(np.mean([v - key[(s, k, n, e)] for (m, kk, n, e), v in key.items() if m == "disal" and kk == k])) for k in seeds}
        out[f"disal_vs:{s}"] = verdict(list(diffs.values()), f"DISAL's batches are more one-class than {s}'s at the same budget and epochs")
    return out


def confusion_verdicts(rows: Sequence[Mapping[str, Any]]) -> dict[str, Verdict]:
    """From :func:`intervention_seed` rows: ``picks_follow_errors`` ("the top-k batch's classes
    follow the model's per-class error rate": mean Spearman > 0) and ``pseudo_over_true`` ("the
    batch is more one-class in the model's predicted classes than in the true ones")."""
    return {
        "picks_follow_errors": verdict(
            [r["picks_error_spearman"] for r in rows], "the top-k batch's classes follow the model's per-class error rate (Spearman > 0)"
        ),
        "pseudo_over_true": verdict(
            [r["pseudo_share"] - r["share_full"] for r in rows], "the top-k batch is more one-class in predicted classes than in true classes"
        ),
    }


@dataclass(frozen=True)
class CauseSummary:
    """What the interventions support, over every regime studied (:func:`cause_summary`).

    Attributes:
        collapse_in: regimes where DISAL's batch is more one-class than a random batch (holds).
        supported: interventions whose removal lowers the share in EVERY regime (``lowers`` holds
            everywhere): causes the interventions support.
        ruled_out: interventions after which the collapse remains in every regime (``remains``
            holds) and whose removal lowers the share in none (``lowers`` does not hold anywhere):
            the collapse does not need them.
        open: the rest (regime-dependent or inconclusive), with the verdict per regime.
    """

    collapse_in: list[str]
    supported: list[str]
    ruled_out: list[str]
    open: dict[str, dict[str, str]]

    def lines(self) -> list[str]:
        """Sentences generated from the verdicts (nothing typed by hand)."""
        out = [f"the collapse (top-k share above a random batch's) holds in: {', '.join(self.collapse_in) or 'no regime'}"]
        out.append("supported as a cause (removing it lowers the share in every regime): " + (", ".join(REMOVES[x] for x in self.supported) or "none"))
        out.append("ruled out (the collapse remains without it, in every regime): " + (", ".join(REMOVES[x] for x in self.ruled_out) or "none"))
        for x, per in self.open.items():
            out.append(f"open: {REMOVES[x]}: " + "; ".join(f"{regime}: lowers {v}" for regime, v in per.items()))
        return out


def cause_summary(verdicts_by_regime: Mapping[str, Mapping[str, Verdict]]) -> CauseSummary:
    """Sort the interventions by what their verdicts say in every regime (see :class:`CauseSummary`)."""
    if not verdicts_by_regime:
        raise ValueError("verdicts_by_regime must hold the verdicts of at least one regime")
    regimes = list(verdicts_by_regime)
    supported, ruled_out, open_ = [], [], {}
    for x in INTERVENTIONS:
        lowers = {r: verdicts_by_regime[r][f"lowers:{x}"].verdict for r in regimes}
        remains = [verdicts_by_regime[r][f"remains:{x}"].verdict for r in regimes]
        if all(v == "holds" for v in lowers.values()):
            supported.append(x)
        elif all(v == "holds" for v in remains) and all(v != "holds" for v in lowers.values()):
            ruled_out.append(x)
        else:
            open_[x] = lowers
    collapse_in = [r for r in regimes if verdicts_by_regime[r]["collapse"].holds]
    return CauseSummary(collapse_in, supported, ruled_out, open_)


def _study_section(kind: str, key: Mapping[str, Any], label: Mapping[str, Any]) -> str:
    """A heading that names the study, its data and its settings, ending in a digest of the whole
    key, so two studies with different keys never share a heading."""
    digest = key_digest(key)[:8]
    data = f"{label.get('dataset', 'data')}, {key['dataset']['n_train']} pool images, key {digest}"
    if kind == "interventions":
        r = key["regime"]
        return f"09 interventions, {label.get('study', '')}: {r['n_labeled']} labels, batch {r['batch_size']}, {r['epochs']} epochs, top-{r['budget']} ({data})"
    sizes = sorted({n for n, _ in key["grid"]})
    epochs = sorted({e for _, e in key["grid"]})
    return f"09 under-training grid: sizes {sizes}, epochs {epochs}, top-{key['budget']} ({data})"


def study_verdicts(folder: str | Path) -> dict[str, dict[str, Verdict]]:
    """Every verdict of notebook 09's study computed again from the per-seed files a run left in
    ``folder`` (its ``RESULTS_DIR/study``; :class:`~altoolkit.engine.seed_rows.SeedRowCache`):
    ``{section: {name: verdict}}``, one section per regime of the interventions
    (:func:`intervention_verdicts` and :func:`confusion_verdicts`) and per under-training grid
    (:func:`undertraining_verdicts`), over EVERY seed stored with that key (a folder that two runs
    with different seed lists shared pools both); files of another version are left out."""
    groups: dict[tuple[str, str], list[StudyFile]] = {}
    for f in read_study_folder(folder):
        if f.key.get("version") == STUDY_ROWS_VERSION and f.kind in ("interventions", "undertraining"):
            groups.setdefault((f.kind, key_digest(f.key)), []).append(f)
    out: dict[str, dict[str, Verdict]] = {}
    for (kind, _), files in groups.items():
        rows = [f.rows for f in sorted(files, key=lambda f: f.seed)]
        if kind == "interventions":
            verdicts = {**intervention_verdicts(rows), **confusion_verdicts(rows)}
        else:
            verdicts = undertraining_verdicts([row for seed_rows in rows for row in seed_rows])
        out[_study_section(kind, files[0].key, files[0].label)] = verdicts
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------- sections 1 and 5: AL runs


def measurement_configs(
    base: Any,
    seeds: Sequence[int],
    rules: Sequence[str] = ("topk", "balanced", "diverse"),
    baselines: Sequence[str] = ("random", "entropy", "disal_no_dynamic"),
) -> list[Any]:
    """The AL configurations of the measurement: ``baselines`` and DISAL with each batch rule, for
    every seed, on top of ``base`` (an :class:`altoolkit.engine.loop.ALConfig`), for
    :func:`altoolkit.engine.sweep.run_sweep`."""
    from ..engine.sweep import SweepSpec

    specs = [SweepSpec(base, list(baselines), seeds)]
    for rule in rules:
        opts = {} if rule == "topk" else {"disal": {"batch": rule}}  # topk: the plain disal run (shared cache)
        specs.append(SweepSpec(base, ["disal"], seeds, strategy_options=opts))
    return [c for spec in specs for c in spec.configs()]


def measurement_verdicts(
    records: Iterable[Mapping[str, Any]],
    variants: Sequence[str] = ("disal", "disal+balanced", "disal+diverse"),
    references: Sequence[str] = ("random", "entropy", "disal_no_dynamic"),
) -> dict[tuple[str, str], Verdict]:
    """``{(variant, reference): Verdict}`` of "variant's AULC > reference's", paired by seed
    (:func:`altoolkit.analysis.results.paired_comparison` of the runs' learning curves)."""
    curves = learning_curves([dict(r) for r in records], label=strategy_label)
    return {(v, r): paired_comparison(curves, v, r, "aulc") for v in variants for r in references}


def seconds_ratio(records: Iterable[Mapping[str, Any]], reference: str = "random") -> dict[str, float]:
    """Seconds per AL cycle (train + select, over the cycles that select,
    :func:`altoolkit.analysis.results.cycle_seconds`) of each strategy label, as a ratio to
    ``reference``'s in the same records."""
    secs = {k: train + select for k, (train, select) in cycle_seconds([dict(r) for r in records], label=strategy_label).items()}
    if reference not in secs:
        raise ValueError(f"reference {reference!r} has no records; available: {sorted(secs)}")
    return {k: v / secs[reference] for k, v in secs.items()}
