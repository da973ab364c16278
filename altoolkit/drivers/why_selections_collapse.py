"""Why DISAL's top-k piles onto one class (issue 10, item 2): the root-cause study behind
notebook 09, and the measurement of the batch rules (item 4).

One *study cycle* per seed: a seeded random labeled set of ``n_labeled`` pool samples, a model
trained on it by :func:`altoolkit.training.train.train_model`, and DISAL's score KL(f_{T-1} || f_T) (the
``disal`` strategy, :mod:`altoolkit.strategies.disal`) over the rest of the pool.  The *collapse*
is the share of the largest TRUE class in the top-``budget`` batch (a random batch of the same
size is the reference).  Each hypothesis is an ablation measured on the same seeds, so every
comparison is paired by seed and judged by :func:`altoolkit.math.stats.verdict`:

- ``train_mode_mean``: f̄ (DISAL Eq. 12) is accumulated by the trainer from TRAIN-mode passes
  (dropout, BatchNorm batch statistics); an eval-mode f̄ is tracked beside it (after each epoch,
  ``on_epoch_end``) and the two are compared, and a model without BatchNorm and dropout (train
  mode = eval mode) is trained on the same data;
- ``batchnorm`` / ``dropout``: the same CNN without BatchNorm, without dropout, without both;
- ``lambda`` and ``schedule``: λ of Eq. 14 and the lr schedule, with ‖θ_T − θ_{T-1}‖ and the
  share of the pool's total KL carried by its largest pseudo-class;
- ``last_layer``: KL(f_{T-1} || f') where f' moves ONLY the last layer (``head``: weight and
  bias, or the bias alone) from θ_{T-1} to θ_T and keeps the rest at θ_{T-1}, against the KL of
  the full move (computed, per sample);
- ``averaging``: the KL averaged over the last ``m`` epoch pairs, and the KL between averaged
  weights (SWA: uniform mean of epochs T-m..T-1 vs T-m+1..T), instead of the last two epochs;
- ``subset``: scoring a seeded random candidate subset of the pool (as LL4AL/TiDAL/TOD do)
  instead of all of it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..data import ALDataset
from ..training.inference import predict_logits
from ..util.seeds import derive_seed, seeded_split
from ..training.fresh_model import fresh_network, train_fresh
from ..util.progress import tqdm
from ..math.scores import disal_kl_from_logits, select_top
from ..analysis.results import cycle_seconds, learning_curves, markdown, paired_comparison
from ..analysis.selection_balance import largest_class_share, strategy_label
from ..math.stats import Verdict, compare, spearman, verdict
from ..strategies import SelectionContext, get_strategy
from ..training.train import TrainConfig, TrainResult
from ..util.checks import check_choice, check_float, check_int

__all__ = [
    "StudySetting",
    "LAMBDAS",
    "SCHEDULES",
    "labeled_split",
    "strip_layers",
    "train_study_model",
    "disal_scores",
    "kl_between_states",
    "moved_state",
    "averaged_state",
    "topk_share",
    "class_mass_share",
    "running_mean_gap",
    "study_seed",
    "run_study",
    "hypothesis_verdicts",
    "study_table",
    "measurement_configs",
    "measurement_verdicts",
    "seconds_ratio",
    "split_by_verdict",
]

#: λ values of the ablation (DISAL Table 3 and 0).
LAMBDAS: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0, 2.0)
#: lr schedules of the ablation (:data:`altoolkit.training.train.LR_SCHEDULES`).
SCHEDULES: tuple[str, ...] = ("step", "cosine", "constant")


@dataclass
class StudySetting:
    """One study cycle's settings (defaults: the low-budget digits setting of notebook 09).

    Attributes:
        model: ``"cnn"`` (BatchNorm + dropout) or ``"mlp"`` (dropout).
        n_labeled: size of the seeded random labeled set.
        budget: batch size of a selection (top-``budget`` of the KL).
        epochs, batch_size, lr, lr_schedule, dynamic_weight: training (TrainConfig); λ = 1 is DISAL.
        average_epochs: ``m`` of the averaging ablation (2 <= m < epochs).
        subset_fraction: share of the unlabeled pool scored in the subset ablation.
        lambdas, schedules: the values of the λ and schedule ablations.
    """

    model: str = "cnn"
    n_labeled: int = 27
    budget: int = 27
    epochs: int = 15
    batch_size: int = 64
    lr: float = 0.05
    lr_schedule: str = "step"
    dynamic_weight: float = 1.0
    average_epochs: int = 3
    subset_fraction: float = 0.25
    lambdas: Sequence[float] = LAMBDAS
    schedules: Sequence[str] = SCHEDULES

    def __post_init__(self) -> None:
        check_choice("model", self.model, ("cnn", "mlp"))
        self.n_labeled = check_int("n_labeled", self.n_labeled, 2)
        self.budget = check_int("budget", self.budget, 1)
        self.epochs = check_int("epochs", self.epochs, 3)
        self.average_epochs = check_int("average_epochs", self.average_epochs, 2, self.epochs - 1)
        self.subset_fraction = check_float("subset_fraction", self.subset_fraction, 0.0, 1.0, min_inclusive=False)
        self.lambdas = [check_float("lambdas[i] (λ)", v, 0.0) for v in self.lambdas]
        for s in self.schedules:
            check_choice("schedules[i]", s, SCHEDULES)
        self.train_config()

    def train_config(self, **changes: Any) -> TrainConfig:
        kw = dict(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, lr_schedule=self.lr_schedule, dynamic_weight=self.dynamic_weight)
        kw.update(changes)
        return TrainConfig(**kw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def train_study_model(
    dataset: ALDataset,
    setting: StudySetting,
    labeled: torch.Tensor,
    seed: int,
    *,
    batchnorm: bool = True,
    dropout: bool = True,
    checkpoint_epochs: Sequence[int] = (),
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
    track_running_mean: bool | None = None,
    **train_changes: Any,
) -> TrainResult:
    """Train the setting's model (seeded by ``seed``; the same initial weights for every ablation
    of one seed, up to the stripped layers) on ``labeled`` with
    :func:`altoolkit.training.fresh_model.train_fresh` (keys ``0x09``).
    ``train_changes`` replace TrainConfig fields (``dynamic_weight=0``, ``lr_schedule="cosine"``)."""
    model = fresh_network(setting.model, dataset, seed, 0x09)
    strip_layers(model, batchnorm, dropout)
    return train_fresh(
        model,
        dataset,
        labeled,
        setting.train_config(**train_changes),
        seed,
        0x09,
        checkpoint_epochs=checkpoint_epochs,
        on_epoch_end=on_epoch_end,
        track_running_mean=track_running_mean,
        progress=False,
    )


def disal_scores(dataset: ALDataset, result: TrainResult, labeled: torch.Tensor, unlabeled: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """DISAL's per-sample score KL(f_{T-1} || f_T) on ``unlabeled``, by the ``disal`` strategy."""
    ctx = SelectionContext(dataset=dataset, model=result.model, labeled=labeled, unlabeled=unlabeled, train_result=result, seed=seed)
    return get_strategy("disal").score(ctx)


def _model_with(template: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    m = copy.deepcopy(template)
    m.load_state_dict(state)
    return m.eval()


def kl_between_states(
    template: nn.Module, state_a: Mapping[str, torch.Tensor], state_b: Mapping[str, torch.Tensor], dataset: ALDataset, indices: torch.Tensor
) -> torch.Tensor:
    """KL(f_a(x) || f_b(x)) per sample of ``dataset.x_train[indices]`` for two weight states of
    ``template``'s architecture, in eval mode (as DISAL scores)."""
    return predict_logits(
        [_model_with(template, state_a), _model_with(template, state_b)], dataset.x_train, dataset.to_input, indices=indices, combine=disal_kl_from_logits
    )


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


def averaged_state(states: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Uniform average of weight states (SWA, Izmailov et al. 2018): floating tensors (weights and
    BatchNorm running statistics) are averaged, integer buffers (``num_batches_tracked``) are taken
    from the last state."""
    if not states:
        raise ValueError("states must hold at least one state dict")
    out = {}
    for k, v in states[-1].items():
        out[k] = torch.stack([s[k].double() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else v.clone()
    return out


def _param_distance(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], keys: Iterable[str]) -> float:
    return float(math.sqrt(sum(float(((a[k].double() - b[k].double()) ** 2).sum()) for k in keys)))


def topk_share(scores: torch.Tensor, labels: torch.Tensor, budget: int, num_classes: int) -> float:
    """Share of the largest class (``labels``: true labels of the scored samples) among the
    ``budget`` largest ``scores``."""
    pos = select_top(scores, budget)
    return largest_class_share(np.bincount(labels[pos].numpy(), minlength=num_classes))


def class_mass_share(scores: torch.Tensor, classes: torch.Tensor, num_classes: int) -> float:
    """Share of the total score (e.g. the pool's summed KL) carried by the class with the most:
    1/num_classes-ish when the KL is spread over classes, 1 when one class carries all of it."""
    mass = torch.zeros(num_classes, dtype=torch.float64).index_add_(0, classes.long(), scores.double())
    total = float(mass.sum())
    return float(mass.max()) / total if total > 0 else float("nan")


class _EvalMeanTracker:
    """f̄ of Eq. 12 from EVAL-mode predictions of the labeled set after each epoch (the trainer's
    own f̄ comes from the train-mode passes of the epoch)."""

    def __init__(self, dataset: ALDataset, labeled: torch.Tensor):
        self.dataset, self.labeled, self.mean, self.t = dataset, labeled, None, 0

    def __call__(self, epoch: int, model: nn.Module) -> None:
        p = torch.softmax(predict_logits(model, self.dataset.x_train, self.dataset.to_input, indices=self.labeled), 1)
        self.t += 1
        self.mean = p.double() if self.mean is None else self.mean * (self.t - 1) / self.t + p.double() / self.t


def running_mean_gap(train_mean: torch.Tensor, eval_mean: torch.Tensor, eval_last: torch.Tensor) -> dict[str, float]:
    """How far the trainer's train-mode f̄ is from eval-mode predictions, per labeled sample
    (means over samples): ``kl_train_eval`` = KL(f̄_train || f̄_eval), and the dynamic loss's
    value at θ_T against each target, ``dyn_train`` = KL(f̄_train || f_T) and ``dyn_eval`` =
    KL(f̄_eval || f_T) (``f_T``: eval-mode predictions after the last epoch)."""
    lt, le, lf = (torch.log(t.double().clamp_min(1e-12)) for t in (train_mean, eval_mean, eval_last))
    kl = lambda p, lp, lq: float((p.double() * (lp - lq)).sum(1).mean())  # noqa: E731
    return {"kl_train_eval": kl(train_mean, lt, le), "dyn_train": kl(train_mean, lt, lf), "dyn_eval": kl(eval_mean, le, lf)}


def study_seed(dataset: ALDataset, setting: StudySetting, seed: int) -> dict[str, Any]:
    """Every measurement of the study for one seed (one labeled set); values are floats.

    Keys: ``share_disal``, ``share_random`` (a seeded random batch), ``share_<variant>`` for the
    ablations (``no_bn``, ``no_dropout``, ``plain``, ``lam<λ>``, ``sched_<name>``, ``head_only``,
    ``bias_only``, ``avg_kl``, ``swa``, ``subset``), ``step_norm_<...>`` (‖θ_T − θ_{T-1}‖),
    ``mass_<...>`` (:func:`class_mass_share` over pseudo-labels), ``acc_<...>`` (last-epoch train
    accuracy), ``<part>_explained_mean`` / ``<part>_explained_topk`` (per-sample KL with only
    ``part`` moved / KL of the full move, averaged over the pool / the top-k batch; parts ``head``,
    ``bias``, ``bn_stats``), ``<part>_spearman``, and the f̄ gaps of :func:`running_mean_gap`.
    """
    n_cls = dataset.num_classes
    lab, unl = labeled_split(dataset.n_train, setting.n_labeled, seed)
    if setting.budget > len(unl):
        raise ValueError(f"budget must be at most the unlabeled pool ({len(unl)}), got {setting.budget}")
    y_unl = dataset.y_train[unl]
    out: dict[str, Any] = {"seed": int(seed)}
    m = setting.average_epochs
    last_epochs = list(range(setting.epochs - m, setting.epochs + 1))  # T-m .. T
    tracker = _EvalMeanTracker(dataset, lab)
    base = train_study_model(dataset, setting, lab, seed, checkpoint_epochs=last_epochs, on_epoch_end=tracker, track_running_mean=True)

    def record(key: str, res: TrainResult) -> torch.Tensor:
        # one loop over the pool gives θ_{T-1} and θ_T logits: the KL (as the disal strategy
        # computes it, disal_kl_from_logits) and the pseudo-labels of θ_T
        prev, last_logits = predict_logits([res.prev_model(), res.model], dataset.x_train, dataset.to_input, indices=unl)
        kl = disal_kl_from_logits(prev, last_logits)
        keys = [k for k, _ in res.model.named_parameters()]
        out[f"share_{key}"] = topk_share(kl, y_unl, setting.budget, n_cls)
        out[f"mass_{key}"] = class_mass_share(kl, last_logits.argmax(1), n_cls)
        out[f"step_norm_{key}"] = _param_distance(res.prev_state, res.model.state_dict(), keys)
        out[f"acc_{key}"] = float(res.history["train_acc"][-1])
        return kl

    kl_full = record("disal", base)
    rng = np.random.default_rng(derive_seed(seed, 0x09, 3))
    out["share_random"] = largest_class_share(np.bincount(y_unl[rng.permutation(len(unl))[: setting.budget]].numpy(), minlength=n_cls))
    # f̄ from train-mode passes (the trainer) vs eval-mode predictions
    eval_last = torch.softmax(predict_logits(base.model, dataset.x_train, dataset.to_input, indices=lab), 1)
    out.update(running_mean_gap(base.running_mean.mean, tracker.mean, eval_last))
    # one part of the network moved from θ_{T-1} to θ_T, the rest kept at θ_{T-1}: the last layer
    # (head weight and bias), its bias alone, or only BatchNorm's running statistics (buffers that
    # eval-mode predictions use and every training step moves)
    last_state = base.model.state_dict()
    bn_stats = [k for k in last_state if k.endswith(("running_mean", "running_var"))]
    parts_of = {"head_only": ["head.weight", "head.bias"], "bias_only": ["head.bias"], "bn_stats_only": bn_stats}
    for key, parts in parts_of.items():
        if not parts:
            continue
        kl_part = kl_between_states(base.model, base.prev_state, moved_state(base.prev_state, last_state, parts), dataset, unl)
        out[f"share_{key}"] = topk_share(kl_part, y_unl, setting.budget, n_cls)
        ratio = (kl_part.double() / kl_full.double().clamp_min(1e-30)).numpy()
        name = key.removesuffix("_only")
        out[f"{name}_explained_mean"] = float(ratio.mean())
        out[f"{name}_explained_topk"] = float(ratio[select_top(kl_full, setting.budget).numpy()].mean())
        out[f"{name}_spearman"] = spearman(kl_part, kl_full)
    # averaging over the last m epochs: the mean KL of the m epoch pairs, and KL between SWA weights
    states = [base.checkpoints[e][0] for e in last_epochs]
    pair_kls = [kl_between_states(base.model, a, b, dataset, unl) for a, b in zip(states[:-1], states[1:])]
    out["share_avg_kl"] = topk_share(torch.stack(pair_kls).mean(0), y_unl, setting.budget, n_cls)
    kl_swa = kl_between_states(base.model, averaged_state(states[:-1]), averaged_state(states[1:]), dataset, unl)
    out["share_swa"] = topk_share(kl_swa, y_unl, setting.budget, n_cls)
    # a random candidate subset of the pool scored instead of all of it
    n_sub = max(setting.budget, int(round(setting.subset_fraction * len(unl))))
    sub = np.sort(rng.permutation(len(unl))[:n_sub])
    out["share_subset"] = topk_share(kl_full[sub], y_unl[sub], setting.budget, n_cls)
    # models with / without BatchNorm and dropout (same data, same seeds)
    if setting.model == "cnn":
        record("no_bn", train_study_model(dataset, setting, lab, seed, batchnorm=False))
    record("no_dropout", train_study_model(dataset, setting, lab, seed, dropout=False))
    record("plain", train_study_model(dataset, setting, lab, seed, batchnorm=False, dropout=False))
    # λ and the lr schedule (the setting's own value is the baseline run above, not retrained)
    changes = [(f"lam{v:g}", "dynamic_weight", v) for v in setting.lambdas] + [(f"sched_{v}", "lr_schedule", v) for v in setting.schedules]
    for key, field_name, value in changes:
        if value == getattr(setting, field_name):
            out.update({f"{p}_{key}": out[f"{p}_disal"] for p in ("share", "mass", "step_norm", "acc")})
        else:
            record(key, train_study_model(dataset, setting, lab, seed, **{field_name: value}))
    return out


def run_study(dataset: ALDataset, setting: StudySetting, seeds: Sequence[int], n_jobs: int = 1, progress: bool = True) -> list[dict[str, Any]]:
    """:func:`study_seed` for every seed (one row per seed, in seed order); ``n_jobs > 1`` runs
    seeds in joblib worker processes with one torch thread each (the rows do not depend on it)."""
    seeds = [check_int("seeds[i]", s, 0) for s in seeds]
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be distinct non-negative integers (at least one), got {seeds}")
    n_jobs = check_int("n_jobs", n_jobs, 1)
    if n_jobs == 1:
        return [study_seed(dataset, setting, s) for s in tqdm(seeds, desc="study seeds", disable=not progress)]
    from joblib import Parallel, delayed

    return list(Parallel(n_jobs=n_jobs)(delayed(_study_seed_one_thread)(dataset, setting, s) for s in seeds))


def _study_seed_one_thread(dataset: ALDataset, setting: StudySetting, seed: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    return study_seed(dataset, setting, seed)


def _col(rows: Sequence[Mapping[str, Any]], key: str) -> dict[int, float]:
    return {int(r["seed"]): float(r[key]) for r in rows}


@dataclass(frozen=True)
class HypothesisTest:
    """One paired claim of the study: ``a > b`` (per seed) means the named cause is supported."""

    name: str
    claim: str
    a: str
    b: str


def _tests(setting: StudySetting) -> list[HypothesisTest]:
    t = [
        HypothesisTest("collapse", "DISAL's top-k batch is more one-class than a random batch", "share_disal", "share_random"),
        HypothesisTest("train_mode_mean", "the train-mode f̄ is further from f_T than an eval-mode f̄ (dynamic loss target)", "dyn_train", "dyn_eval"),
        HypothesisTest("train_mode_mean+bn+dropout", "removing BatchNorm and dropout (train mode = eval mode) lowers the share", "share_disal", "share_plain"),
        HypothesisTest("dropout", "removing dropout lowers the share", "share_disal", "share_no_dropout"),
        HypothesisTest("last_layer", "a last-layer shift alone reproduces the collapse (share above random)", "share_head_only", "share_random"),
        HypothesisTest(
            "bn_stats", "BatchNorm's running-statistics move alone reproduces the collapse (share above random)", "share_bn_stats_only", "share_random"
        ),
        HypothesisTest("averaging", "averaging the KL over the last m epoch pairs lowers the share", "share_disal", "share_avg_kl"),
        HypothesisTest("swa", "KL between SWA-averaged weights lowers the share", "share_disal", "share_swa"),
        HypothesisTest("subset", "scoring a random candidate subset lowers the share", "share_disal", "share_subset"),
    ]
    if setting.model != "cnn":
        t = [x for x in t if x.name != "bn_stats"]
    else:
        t.insert(3, HypothesisTest("batchnorm", "removing BatchNorm lowers the share", "share_disal", "share_no_bn"))
    if 0.0 in setting.lambdas and setting.dynamic_weight != 0.0:
        t.append(HypothesisTest("lambda", f"the dynamic loss (λ={setting.dynamic_weight:g}) raises the share over λ=0", "share_disal", "share_lam0"))
    for s in setting.schedules:
        if s != setting.lr_schedule:
            t.append(HypothesisTest(f"schedule_{s}", f"the {setting.lr_schedule} schedule gives a larger share than {s}", "share_disal", f"share_sched_{s}"))
    return t


def hypothesis_verdicts(rows: Sequence[Mapping[str, Any]], setting: StudySetting) -> dict[str, Verdict]:
    """Paired (by seed) verdicts of every claim of the study (:func:`altoolkit.math.stats.compare`),
    plus ``head_explains_half`` and ``bn_stats_explains_half``: "moving only that part gives more
    than half of a top-k sample's KL" (``<part>_explained_topk - 0.5``, :func:`altoolkit.math.stats.verdict`)."""
    out = {t.name: compare(_col(rows, t.a), _col(rows, t.b), t.claim) for t in _tests(setting)}
    for part, what in (("head", "the last-layer move"), ("bn_stats", "the move of BatchNorm's running statistics")):
        if f"{part}_explained_topk" in rows[0]:
            out[f"{part}_explains_half"] = verdict(
                [float(r[f"{part}_explained_topk"]) - 0.5 for r in rows], f"{what} alone gives more than half of a top-k sample's KL"
            )
    return out


def study_table(rows: Sequence[Mapping[str, Any]], setting: StudySetting) -> str:
    """Markdown: one row per variant, mean and min/max over seeds of the top-k batch's largest
    class share, of the KL mass share of the largest pseudo-class and of ‖θ_T − θ_{T-1}‖."""
    variants = (
        ["random", "disal", "no_bn", "no_dropout", "plain"]
        + [f"lam{v:g}" for v in setting.lambdas]
        + [f"sched_{s}" for s in setting.schedules]
        + ["head_only", "bias_only", "bn_stats_only", "avg_kl", "swa", "subset"]
    )
    head = ["variant", "largest-class share of the batch: mean [min, max]", "KL mass of the top pseudo-class", "‖θ_T − θ_T-1‖"]
    cell = lambda k: f"{np.mean([r[k] for r in rows]):.3g}" if k in rows[0] else ""  # noqa: E731
    lines = []
    for v in variants:
        if f"share_{v}" not in rows[0]:
            continue
        s = np.array([r[f"share_{v}"] for r in rows])
        lines.append([v, f"{s.mean():.2f} [{s.min():.2f}, {s.max():.2f}]", cell("mass_" + v), cell("step_norm_" + v)])
    return markdown(head, lines)


# ---- item 4: DISAL with each batch rule against random, entropy and DISAL w/o D ----------------


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


def split_by_verdict(verdicts: Mapping[Any, Verdict]) -> dict[str, list[Any]]:
    """The keys of ``verdicts`` grouped by outcome: ``{"holds": [...], "contradicted": [...],
    "inconclusive": [...]}`` (keys in their original order)."""
    out: dict[str, list[Any]] = {"holds": [], "contradicted": [], "inconclusive": []}
    for k, v in verdicts.items():
        out[v.verdict].append(k)
    return out
