"""The active-learning loop: cycles, budgets, seeds, and a results record saved to disk.

A run starts from a random labeled set of ``initial_fraction`` of the pool, then alternates
train → score → select → label for ``cycles`` trainings, adding ``step_fraction`` of the pool each
time (paper default: 10% → 40% in steps of 5%, i.e. 7 trainings and 6 selections).  Every cycle
retrains the model from a fresh initialisation seeded by ``(seed, cycle)``, so the same seed gives
the same selections and accuracies.

The record (a JSON file) is rewritten atomically after every finished cycle (temporary file, then
``os.replace``; :mod:`altoolkit.engine.record_io`).  Starting the same command again resumes after the
last finished cycle and ends with exactly the record an uninterrupted run writes.  A run holds an
exclusive lock on its record (``<out>.lock``): a second run on the same file refuses at once.
The weights a next cycle needs (the previous cycle's final model: warm start, TOD) are a sidecar
file written before the record that names it with its SHA-256 (:func:`write_record`,
:func:`read_sidecar`); a resumed run verifies it.  When it is missing or corrupt, a run without
warm start retrains the previous cycle (seeded, so identical); a warm-started run refuses with an
error naming the file (its weights depend on every earlier cycle).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from ..util.progress import tqdm

from ..data import ALDataset, check_dataset_name, load_dataset
from ..training.fresh_model import default_dynamic_weight
from ..training.models import MODEL_REVISION, PRETRAINED_LOADS, build_model, check_model
from ..strategies import SelectionContext
from ..strategies.checks import checked_positions
from ..training.train import TrainConfig, TrainingAdditions
from .record_io import SidecarError, check_output_file, load_sidecar, loads_strict, lock_file, prune_sidecars, save_sidecar, write_json
from .tasks import ACCURACY_LABELS, Task, get_task
from ..util.checks import check_bool, check_choice, check_device, check_float, check_fraction, check_int
from ..util.modules import state_copy
from ..util.seeds import derive_seed, seeded_split
from .run_checks import bind_record, check_record_binding, check_record_values, check_subset_size, recheck_config, recheck_dataset

__all__ = [
    "ALConfig",
    "run_settings",
    "TRAIN_KEYS",
    "PoolPlan",
    "run_active_learning",
    "load_record",
    "load_config_dataset",
    "plan_pool",
    "train_cycle",
    "select_cycle",
    "CycleSelection",
    "budget_schedule",
    "RECORD_FORMAT",
    "write_record",
    "read_sidecar",
    "check_record_indices",
    "MAX_SEED",
    "candidate_subset",
    "ACCURACY_LABELS",
]

RECORD_FORMAT = "altoolkit.al_record/1"
#: Largest seed: numpy seeds (``train_test_split``'s ``random_state``) must be below 2**32.
MAX_SEED = 2**32 - 1

#: Fields added after the record format was fixed; ``to_dict`` leaves them out at their default
#: value, so that records and sweep hashes of configurations that do not use them are unchanged.
_OPTIONAL_DEFAULTS: dict[str, Any] = {
    "initial_size": None,
    "step_size": None,
    "subset_size": None,
    "warm_start": False,
    "eval_every": 0,
    "pretrained_weights": None,
    "pretrained_load": "backbone",
    "batch_split": "fixed",
    "task": "classification",
}


#: TrainConfig's settings that ALConfig takes (and records) as flat keywords; λ is ALConfig's own
#: ``dynamic_weight`` (``None``: the strategy's rule).
TRAIN_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name != "dynamic_weight")

# ``dataclasses.replace(cfg, ...)`` rebuilds a configuration from its init fields; the training
# settings are declared to it as keyword pseudo-fields (InitVar) that it reads back from
# ``cfg.train`` (through the properties set below), so that ``replace(cfg, strategy=...)`` keeps
# them and ``replace(cfg, epochs=3)`` changes one.
_TrainKeywords: Any = dataclasses.make_dataclass(
    "_TrainKeywords",
    [(f.name, dataclasses.InitVar(f.type), field(default=f.default)) for f in dataclasses.fields(TrainConfig) if f.name in TRAIN_KEYS],
    init=False,
)


@dataclass(init=False)
class ALConfig(_TrainKeywords):
    """Configuration of one active-learning run (all fields are written into the record).

    Attributes:
        dataset: dataset name (:func:`altoolkit.data.dataset_names`, including those given to
            :func:`altoolkit.register_dataset`) or import path ``"package.module:function"``.
            With ``run_active_learning(config, dataset=ds)`` it is not used: the record stores
            ``ds.name``.
        strategy: strategy name (``altoolkit strategies`` lists them).
        strategy_options: keyword options of the strategy, e.g. ``{"largest": False}``.
        seed: seeds the initial pool, every model initialisation, training and selection.
        initial_fraction: share of the pool labeled at the start (paper: 0.10).
        step_fraction: share of the pool added per cycle (paper: 0.05).
        cycles: number of trainings; ``cycles - 1`` selections (paper: 7, i.e. 10% → 40%).
        model: model name (:func:`altoolkit.training.models.model_names`, including those given to
            :func:`altoolkit.register_model`) or import path ``"package.module:function"`` of a
            ``function(input_shape, num_classes) -> nn.Module``; the record stores the string.
        train: the training settings, a :class:`~altoolkit.training.train.TrainConfig` (its fields' docs); give
            either ``train=TrainConfig(...)`` or its fields as keywords (``epochs=5, lr=0.1``), not
            both.  Every one reads back flat (``cfg.epochs``); ``train.dynamic_weight`` is the λ
            resolved from ``dynamic_weight``.  ``dataclasses.replace(cfg, epochs=3)`` works.
        dynamic_weight: λ of DISAL Eq. 14.  ``None``: 1.0 for strategies trained with the dynamic
            loss (``disal``, ``disal_no_selection``), 0 for the others; a number applies to all.
        validation_size: number of pool samples held out (seeded) as a labeled validation set,
            never selected or trained on; strategies see it as ``ctx.validation`` (ISAL's
            validation reference set).  0: none.  Budget fractions refer to the rest of the pool.
        score_batch_size: batch size for scoring the pool.
        root, download: where a torchvision dataset lives and whether to download it.
        dataset_options: extra keyword arguments of the dataset loader.
        initial_size, step_size: absolute budgets (labeled samples at the start, samples added per
            cycle) instead of ``initial_fraction``/``step_fraction``; either may be given alone.
            ISAL's CIFAR-10: 1,000 + 1,000; DISAL §4.3's imbalanced CIFAR-10: 2,000 + 1,000;
            DISAL's CIFAR (= xulabs/aitom ``aitom/ml/active_learning/al_gradnorm/config.py``
            ``START = 2 * ADDENDUM``, ``ADDENDUM = 2500``): 5,000 + 2,500.  ``None``: the fractions.
        subset_size: each selection scores only a random subset of this many unlabeled samples,
            drawn with ``derive_seed(seed, cycle, 0x5B)`` (so resuming draws the same subset);
            ``None`` or 0: the whole pool.  The public code shuffles the unlabeled list and scores
            its first SUBSET entries: siyuhuang/TOD ``main_TOD.py`` and ``config/cifar10.py``
            (``SUBSET = 25000``), xulabs/aitom ``al_gradnorm/main.py`` (25,000),
            hyperconnect/TiDAL ``main.py`` (``--subset``, 10,000, as LL4AL); VAAL scores the whole pool.
        warm_start: each cycle after the first starts from the previous cycle's final weights,
            with a fresh SGD optimiser and lr schedule, as siyuhuang/TOD ``main_TOD.py``,
            xulabs/aitom ``al_gradnorm/main.py`` and hyperconnect/TiDAL ``main.py`` (the model is
            built once per trial, the optimiser and MultiStepLR every cycle).  ``False`` (default):
            a fresh initialisation per cycle, as VAAL and ISAL.
        eval_every: evaluate on the test set every this many epochs (and after the last) and
            record the best of them as ``best_epoch_test_acc`` (the best-epoch accuracy DESIGN.md
            attributes to ISAL; note that dragonlzm/ISAL ``classification/pycls/pycls/core/trainer.py``
            sets ``best_err`` from the evaluation after the last epoch only, so its logged
            ``BEST_TOP1_ACC`` is the final-epoch accuracy); 0 (default): only the final epoch
            (``test_acc``).  See :data:`ACCURACY_LABELS`.
        pretrained_weights: path of a torchvision ResNet-18 state dict loaded into
            ``model="resnet18"`` at every initialisation (TOD's Caltech101 setting; see
            :func:`altoolkit.training.models.load_pretrained_backbone`).
        pretrained_load: what is loaded from ``pretrained_weights``
            (:data:`altoolkit.training.models.PRETRAINED_LOADS`): ``"backbone"`` (default, every
            backbone tensor) or ``"tod"`` (conv1..layer3 only, layer4 and the classifier fresh: the
            key filter of siyuhuang/TOD ``main_TOD.py`` against its ``models/imagenet_resnet.py``).
        task: ``"classification"`` (default), ``"segmentation"`` or ``"detection"``
            (:func:`altoolkit.engine.tasks.task_names`): what a label is, the trainer, the metric,
            the strategies (``strategy`` is looked up in the task's table), the dataset loaders of
            shared names (``digit_scenes``), the per-cycle fields and the annotation cost
            (:class:`altoolkit.engine.tasks.Task`; detection records ``labeled_boxes`` and
            ``selected_boxes`` per cycle, budgets stay in images).
            Left out of the record's configuration at its default, so classification hashes are
            those of before.  Settings not given take the task's defaults (:attr:`Task.defaults
            <altoolkit.engine.tasks.Task.defaults>`; segmentation: ``digit_scenes``, ``unet``, batch 4,
            lr 0.1; detection: ``digit_scenes``, ``fcos_small``, batch 8, lr 0.02, weight decay 1e-4),
            then ALConfig's.

    Examples:
        >>> import altoolkit as alt
        >>> cfg = alt.ALConfig(strategy="entropy", model="mlp", cycles=2, epochs=1)
        >>> cfg.effective_dynamic_weight(), alt.ALConfig(strategy="disal").effective_dynamic_weight()
        (0.0, 1.0)
        >>> alt.ALConfig(model="vgg")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: model must be one of mlp, cnn, ...
    """

    dataset: str = "digits"
    strategy: str = "disal"
    strategy_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    initial_fraction: float = 0.10
    step_fraction: float = 0.05
    cycles: int = 7
    model: str = "cnn"
    #: The training settings (:class:`TrainConfig`, which declares and checks them), its λ resolved
    #: from ``dynamic_weight``.  Given as ``train=TrainConfig(...)`` or as the flat keywords
    #: :data:`TRAIN_KEYS`, which also read back (``cfg.epochs`` is ``cfg.train.epochs``).
    train: TrainConfig = field(default_factory=TrainConfig, init=False)
    dynamic_weight: float | None = None
    validation_size: int = 0
    score_batch_size: int = 512
    root: str | None = None
    download: bool = False
    dataset_options: dict[str, Any] = field(default_factory=dict)
    initial_size: int | None = None
    step_size: int | None = None
    subset_size: int | None = None
    warm_start: bool = False
    eval_every: int = 0
    pretrained_weights: str | None = None
    pretrained_load: str = "backbone"
    task: str = "classification"

    def __init__(self, *, train: TrainConfig | None = None, **settings: Any) -> None:
        # a task's own defaults (segmentation: digit_scenes, unet, ...) for the settings not given
        task_defaults = get_task(settings.get("task", "classification")).defaults
        settings = {**{k: v for k, v in task_defaults.items() if train is None or k not in TRAIN_KEYS}, **settings}
        own = {f.name: f for f in dataclasses.fields(ALConfig) if f.init}
        flat = {k: settings.pop(k) for k in TRAIN_KEYS if k in settings}
        unknown = sorted(set(settings) - set(own))
        if unknown:
            raise TypeError(f"ALConfig got an unexpected keyword argument {unknown[0]!r}; allowed: {', '.join(self.keys())}, train")
        for name, f in own.items():
            if name in settings:
                setattr(self, name, settings[name])
            else:
                setattr(self, name, f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
        if train is not None:
            if flat:
                raise ValueError(
                    f"give the training settings either as train=TrainConfig(...) or as keywords, not both; got train= and {', '.join(sorted(flat))}"
                )
            if not isinstance(train, TrainConfig):
                raise TypeError(f"train must be a TrainConfig, got {type(train).__name__}")
        self._check(train, flat)

    def _check(self, train: TrainConfig | None, flat: dict[str, Any]) -> None:
        task = get_task(self.task)
        check_dataset_name(self.dataset, self.task)
        check_choice("strategy", self.strategy, task.strategy_names())
        check_model(self.model)
        self.seed = check_int("seed", self.seed, 0, MAX_SEED)
        device = check_device("device", train.device if train is not None else flat.get("device", TrainConfig.device))
        self.initial_fraction = check_fraction("initial_fraction", self.initial_fraction)
        self.step_fraction = check_fraction("step_fraction", self.step_fraction)
        self.cycles = check_int("cycles", self.cycles, 1)
        if self.initial_size is not None:
            self.initial_size = check_int("initial_size", self.initial_size, 1)
        if self.step_size is not None:
            self.step_size = check_int("step_size", self.step_size, 1)
        if self.subset_size is not None:
            self.subset_size = check_int("subset_size", self.subset_size, 0)
            if self.step_size is not None and 0 < self.subset_size < self.step_size and self.cycles > 1:
                raise ValueError(
                    f"subset_size ({self.subset_size}) must be at least step_size ({self.step_size}): each selection picks step_size samples out of the subset"
                )
        self.warm_start = check_bool("warm_start", self.warm_start)
        self.eval_every = check_int("eval_every", self.eval_every, 0)
        if self.pretrained_weights is not None:
            if not isinstance(self.pretrained_weights, (str, os.PathLike)):
                raise TypeError(f"pretrained_weights must be a file path, got {self.pretrained_weights!r}")
            if self.model != "resnet18":
                raise ValueError(f"pretrained_weights applies to model='resnet18' (torchvision's ResNet-18), got model={self.model!r}")
            self.pretrained_weights = str(self.pretrained_weights)
        check_choice("pretrained_load", self.pretrained_load, tuple(PRETRAINED_LOADS))
        if self.pretrained_load != "backbone" and self.pretrained_weights is None:
            raise ValueError(f"pretrained_load={self.pretrained_load!r} says what to load from pretrained_weights, which is not set")
        final = self.initial_fraction + (self.cycles - 1) * self.step_fraction
        if self.initial_size is None and self.step_size is None and final > 1.0 + 1e-9:
            raise ValueError(
                f"initial_fraction + (cycles - 1) * step_fraction must be at most 1 (the whole pool); "
                f"got {self.initial_fraction} + {self.cycles - 1} * {self.step_fraction} = {final:.3f}"
            )
        self.score_batch_size = check_int("score_batch_size", self.score_batch_size, 1)
        self.validation_size = check_int("validation_size", self.validation_size, 0)
        if self.dynamic_weight is not None:
            self.dynamic_weight = check_float("dynamic_weight (λ)", self.dynamic_weight, 0.0)
        settings = TrainConfig(**{**flat, "device": device}) if train is None else dataclasses.replace(train, device=device)
        if not isinstance(self.strategy_options, dict):
            raise TypeError(f"strategy_options must be a dict, got {type(self.strategy_options).__name__}")
        strat = task.get_strategy(self.strategy, self.strategy_options)  # validates the options
        lam = default_dynamic_weight(strat, self.dynamic_weight)
        if train is not None and train.dynamic_weight not in (0.0, lam):
            raise ValueError(
                f"λ is ALConfig's dynamic_weight (None: the strategy's rule), which gives {lam} here; "
                f"train.dynamic_weight={train.dynamic_weight} disagrees: set ALConfig(dynamic_weight=...) instead"
            )
        self.train = dataclasses.replace(settings, dynamic_weight=lam)
        if getattr(strat, "requires_warm_start", False) and not self.warm_start:
            raise ValueError(
                f"strategy {self.strategy!r} with options {strat.options()} compares with the previous cycle's "
                "checkpoint on the same training trajectory (siyuhuang/TOD main_TOD.py), so it needs "
                "warm_start=True (--warm-start)"
            )
        task.check_config(self)

    def effective_dynamic_weight(self) -> float:
        """λ as trained: ``dynamic_weight``, or the strategy's rule when it is ``None`` (resolved once, into ``train``)."""
        return self.train.dynamic_weight

    def train_config(self) -> TrainConfig:
        """The training settings with the resolved λ (:attr:`train`)."""
        return self.train

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The configuration's keys in the record's order: its own fields, and in place of
        ``train`` its settings (:data:`TRAIN_KEYS`), except ``device``, which the record format
        keeps after ``score_batch_size``."""
        out: list[str] = []
        for f in dataclasses.fields(cls):
            out += [k for k in TRAIN_KEYS if k != "device"] if f.name == "train" else [f.name]
            if f.name == "score_batch_size":
                out.append("device")
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """All settings as flat keys (:meth:`keys`), except the later ones (:data:`_OPTIONAL_DEFAULTS`)
        left at their default: records and sweep hashes keep the format they had before ``train``."""
        d = {k: copy.deepcopy(getattr(self, k)) for k in self.keys()}
        for k, default in _OPTIONAL_DEFAULTS.items():
            if d[k] == default and type(d[k]) is type(default):
                del d[k]
        return d

    def budgets(self, n_pool: int) -> list[int]:
        """Labeled-set size per cycle for a pool of ``n_pool`` samples (fractions or sizes)."""
        return budget_schedule(n_pool, self.initial_fraction, self.step_fraction, self.cycles, initial_size=self.initial_size, step_size=self.step_size)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ALConfig":
        names = set(cls.keys())
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown configuration keys {unknown}; allowed: {sorted(names)}")
        return cls(**d)


def _train_setting(name: str) -> property:
    """``cfg.<name>`` reads (and assigning it re-checks) the setting ``name`` of ``cfg.train``."""

    def get(self: ALConfig) -> Any:
        return getattr(self.train, name)

    def set_(self: ALConfig, value: Any) -> None:
        self.train = dataclasses.replace(self.train, **{name: value})

    return property(get, set_, doc=f"``train.{name}`` (:class:`~altoolkit.training.train.TrainConfig`).")


for _name in TRAIN_KEYS:
    setattr(ALConfig, _name, _train_setting(_name))


def budget_schedule(
    n_pool: int, initial_fraction: float, step_fraction: float, cycles: int, *, initial_size: int | None = None, step_size: int | None = None
) -> list[int]:
    """Labeled-set size at each cycle: ``round((initial + c·step)·n_pool)``, at least 1 and
    strictly increasing, at most ``n_pool``.

    ``initial_size`` / ``step_size`` (absolute numbers of samples) replace the initial share and
    the share per step: the sizes are then ``initial + c·step`` exactly, and a pool too small for
    them is an error naming both."""
    if initial_size is None and step_size is None:
        sizes = []
        for c in range(cycles):
            s = int(round((initial_fraction + c * step_fraction) * n_pool))
            s = min(n_pool, max(1 if not sizes else sizes[-1] + 1, s))
            sizes.append(s)
        if sizes[-1] > n_pool or (len(sizes) > 1 and sizes[-1] <= sizes[-2]):
            raise ValueError(
                f"the pool of {n_pool} samples is too small for {cycles} cycles with initial_fraction={initial_fraction} and step_fraction={step_fraction}"
            )
        return sizes
    first = check_int("initial_size", initial_size, 1) if initial_size is not None else max(1, int(round(initial_fraction * n_pool)))
    step = check_int("step_size", step_size, 1) if step_size is not None else max(1, int(round(step_fraction * n_pool)))
    sizes = [first + c * step for c in range(cycles)]
    if sizes[-1] > n_pool:
        raise ValueError(
            f"the pool of {n_pool} samples is too small for {cycles} cycles of initial_size={first} + "
            f"step_size={step} (the last cycle needs {sizes[-1]} labeled samples)"
        )
    return sizes


def candidate_subset(unlabeled: torch.Tensor, subset_size: int | None, seed: int, cycle: int) -> torch.Tensor:
    """The unlabeled indices a selection scores: all of them when ``subset_size`` is ``None``/0
    or not smaller than the pool, else a uniform random subset of ``subset_size`` drawn with
    ``derive_seed(seed, cycle, 0x5B)``, in increasing order.

    Same distribution as the public code's ``random.shuffle(unlabeled_set); subset =
    unlabeled_set[:SUBSET]`` (siyuhuang/TOD ``main_TOD.py``, hyperconnect/TiDAL ``main.py``,
    xulabs/aitom ``al_gradnorm/main.py``), but a function of ``(seed, cycle)`` alone, so a
    resumed run draws the same subset."""
    n = int(unlabeled.shape[0])
    if not subset_size or subset_size >= n:
        return unlabeled
    rng = np.random.default_rng(derive_seed(seed, cycle, 0x5B))
    pick = np.sort(rng.choice(n, size=int(subset_size), replace=False))
    return unlabeled[torch.from_numpy(pick)]


def load_record(path: str | os.PathLike) -> dict[str, Any]:
    """Read a results record, with a clear error when the file is not one.

    Examples:
        >>> import os, tempfile, altoolkit as alt
        >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
        >>> cfg = alt.ALConfig(strategy="random", model="mlp", cycles=2, epochs=1)
        >>> _ = alt.run_active_learning(cfg, path, dataset=alt.load_digits(seed=0), progress=False)
        >>> [c["n_labeled"] for c in alt.load_record(path)["cycles"]]
        [135, 202]
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ValueError(f"results file {str(p)!r} cannot be read: {exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(
            f"results file {str(p)!r} is not an altoolkit record (binary, not UTF-8 JSON text); choose another --out (nothing was overwritten)"
        ) from None
    try:
        rec = loads_strict(text)
    except ValueError as exc:
        raise ValueError(
            f"results file {str(p)!r} is not valid JSON ({exc}); it may be truncated or not an "
            "altoolkit record. Choose another --out (nothing was overwritten)."
        ) from exc
    if not isinstance(rec, dict) or rec.get("format") != RECORD_FORMAT:
        raise ValueError(f"results file {str(p)!r} is not an altoolkit record (format {RECORD_FORMAT!r}); choose another --out (nothing was overwritten)")
    check_record_values(rec, p)
    return rec


def _environment(device: str = "cpu") -> dict[str, str]:
    """The machine of the run (:func:`altoolkit.engine.machine.describe`)."""
    from .machine import describe

    return describe(device)


def load_config_dataset(config: ALConfig) -> ALDataset:
    """The dataset a configuration names, loaded with its seed, root and options."""
    kwargs = dict(config.dataset_options)
    if config.root is not None:
        kwargs.setdefault("root", config.root)
        kwargs.setdefault("download", config.download)
    return load_dataset(config.dataset, seed=config.seed, task=config.task, **kwargs)


@dataclass
class PoolPlan:
    """How a run splits the pool: held-out validation indices, the indices available for
    labeling, the labeled-set size per cycle, and the initial labeled set (all seeded)."""

    available: np.ndarray
    validation_idx: list[int]
    budgets: list[int]
    initial: list[int]

    def validation(self, dataset: ALDataset) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self.validation_idx:
            return None
        vt = torch.tensor(self.validation_idx, dtype=torch.long)
        return dataset.x_train[vt], dataset.y_train[vt]

    def unlabeled(self, n_pool: int, labeled: torch.Tensor) -> torch.Tensor:
        """Pool indices that are neither labeled nor held out, in increasing order."""
        mask = torch.ones(n_pool, dtype=torch.bool)
        mask[labeled] = False
        if self.validation_idx:
            mask[torch.tensor(self.validation_idx, dtype=torch.long)] = False
        return torch.nonzero(mask).flatten()


def plan_pool(config: ALConfig, n_pool: int) -> PoolPlan:
    """The seeded split of a pool of ``n_pool`` samples for ``config`` (see :class:`PoolPlan`)."""
    if config.validation_size >= n_pool:
        raise ValueError(f"validation_size must be smaller than the pool ({n_pool} samples), got {config.validation_size}")
    validation_idx: list[int] = []
    available = np.arange(n_pool)
    if config.validation_size:
        held_out, rest = seeded_split(n_pool, config.validation_size, config.seed, 0xB2)
        validation_idx, available = held_out.tolist(), rest.numpy()
    sizes = config.budgets(len(available))
    initial = available[seeded_split(len(available), sizes[0], config.seed, 0xA1)[0].numpy()].tolist()
    return PoolPlan(available, validation_idx, sizes, initial)


def _build_cycle_model(config: ALConfig, dataset: ALDataset, seed: int | None):
    return build_model(
        config.model, dataset.input_shape, dataset.num_classes, seed=seed, pretrained_weights=config.pretrained_weights, pretrained_load=config.pretrained_load
    )


def train_cycle(
    config: ALConfig,
    dataset: ALDataset,
    labeled: torch.Tensor,
    cycle: int,
    strategy: TrainingAdditions,
    progress: bool = False,
    init_state: dict[str, torch.Tensor] | None = None,
):
    """Train cycle ``cycle``'s model on ``labeled``, seeded by ``(seed, cycle)``, keeping the
    checkpoints ``strategy`` needs: from a fresh initialisation, or from ``init_state`` (the
    previous cycle's final weights, ``warm_start``) with a fresh optimiser and schedule.  The
    configuration's task trains it (:meth:`altoolkit.engine.tasks.Task.train`).

    With ``config.eval_every > 0`` the test set is evaluated every ``eval_every`` epochs and
    after the last (``result.history['test_acc']`` / ``['test_epoch']``; classification).

    When ``strategy.training_loss()`` is not ``None`` (TOD's ``consistency_weight``), the
    unlabeled pool of this cycle (:meth:`PoolPlan.unlabeled`: neither labeled nor held out) is
    passed to the trainer with it; otherwise training sees the labeled set only."""
    unlabeled = plan_pool(config, dataset.n_train).unlabeled(dataset.n_train, labeled)
    return get_task(config.task).train(config, dataset, labeled, cycle, strategy, progress, init_state, unlabeled)


def run_active_learning(
    config: ALConfig,
    out: str | os.PathLike | None = None,
    *,
    dataset: ALDataset | None = None,
    progress: bool = True,
    on_cycle_end: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) an active-learning experiment and return its record.

    Args:
        config: the :class:`ALConfig`.
        out: JSON path of the record.  When the file exists with the same configuration, the run
            resumes after its last finished cycle; with a different configuration an error is
            raised and the file is left untouched.
        dataset: an already loaded dataset, e.g. from :func:`altoolkit.from_arrays` (otherwise
            ``load_dataset(config.dataset, ...)``); the record's ``config.dataset`` is then
            ``dataset.name``, so no registered name is needed (to rerun such a record with
            :meth:`ALConfig.from_dict`, register the loader under that name).
        progress: tqdm bars for cycles and epochs.
        on_cycle_end: called with each cycle's entry once it is saved.

    Returns:
        The record: ``config``, ``strategy``, ``dataset``, ``initial_labeled``, ``cycles`` (one
        entry per training: ``cycle, n_labeled, test_acc, selected, train_seconds,
        select_seconds, final_train_loss`` and the batch's class balance
        ``selected_class_counts, selected_pseudo_class_counts, selection_class_entropy``, see
        :func:`altoolkit.analysis.selection_balance.selection_diagnostics`; with a batch rule other than
        ``topk``, ``topk_overlap``: the batch's share in the score's own top-k, see
        :attr:`altoolkit.strategies.Strategy.last_selection`), ``finished``, ``environment``,
        ``model_outputs`` (the model's output width) and in ``dataset`` its ``fingerprint``
        (:func:`altoolkit.engine.run_checks.dataset_fingerprint`, verified when the run is resumed);
        while unfinished, ``sidecars`` names the sidecar files it needs (see :func:`write_record`).

    Examples:
        >>> import altoolkit as alt
        >>> cfg = alt.ALConfig(strategy="entropy", model="mlp", cycles=2, epochs=1)
        >>> rec = alt.run_active_learning(cfg, dataset=alt.load_digits(seed=0), progress=False)
        >>> rec["config"]["dataset"], len(rec["cycles"]), len(rec["cycles"][0]["selected"]), rec["finished"]
        ('digits', 2, 67, True)

    Raises:
        FileLockedError: another run holds ``out`` (its pid is in the message).
        ValueError: ``out`` cannot be written (a folder, a special file, an unwritable folder) or
            holds something else than this run's record; ``config.device`` is not available;
            ``config`` or ``dataset`` fail their checks, run again here since they may have
            changed after they were built (:mod:`altoolkit.engine.run_checks`).
        RecordMismatchError: ``out`` holds a record of other data or another model width.
        ModelOutputError: the model does not give finite logits ``(batch, num_classes)`` (checked
            on two samples before training, and at every evaluation).
        StrategyOutputError: the strategy's selection or scores are malformed (nothing is saved).
        TrainingDivergedError: a training diverged (names lr, λ and weight decay).
    """
    if not isinstance(config, ALConfig):
        raise TypeError(f"config must be an ALConfig, got {type(config).__name__}")
    config = recheck_config(config)  # fields may have been set after construction
    if dataset is not None:
        dataset = recheck_dataset(dataset)
    check_device("device", config.device, require_available=True)
    if out is None:
        return _run(config, None, dataset, progress, on_cycle_end)
    out_path = check_output_file(out, "results file (--out)")  # before anything is loaded or trained
    with lock_file(out_path):  # one writer per record, held for the whole run
        return _run(config, out_path, dataset, progress, on_cycle_end)


def write_record(out_path: Path, record: dict[str, Any], sidecars: dict[str, Any] | None = None, cycle: int | None = None) -> None:
    """Write ``record`` to ``out_path`` with its sidecars as one crash-consistent unit.

    ``sidecars`` maps a kind (``"model"``, ``"warm_start"``, ...) to a ``torch.save``-able object
    (a state dict), or to ``None`` to drop that kind.  Order: each sidecar is written first
    (:func:`altoolkit.engine.record_io.save_sidecar`, a file named by its content hash), then the record
    naming them in ``record["sidecars"][kind] = {"file", "sha256", "cycle"}``, then the files no
    longer named are removed.  A kill between any two writes leaves a record whose sidecars exist
    and match.  Read them back with :func:`read_sidecar`.
    """
    refs = dict(record.get("sidecars") or {})
    for kind, obj in (sidecars or {}).items():
        if obj is None:
            refs.pop(kind, None)
        else:
            refs[kind] = save_sidecar(out_path, kind, obj, cycle)
    if refs:
        record["sidecars"] = refs
    else:
        record.pop("sidecars", None)
    write_json(out_path, record)
    prune_sidecars(out_path, refs.values())


def read_sidecar(out_path: Path, record: dict[str, Any], kind: str, cycle: int | None = None) -> Any:
    """The ``kind`` sidecar ``record`` names, hash-verified; :class:`~altoolkit.engine.record_io.SidecarError`
    naming the file when it is missing, corrupt, or (with ``cycle``) from another cycle."""
    ref = (record.get("sidecars") or {}).get(kind)
    if ref is None:
        raise SidecarError(f"record {str(out_path)!r} names no {kind} sidecar (written by an older altoolkit?)", out_path)
    if cycle is not None and ref.get("cycle") != cycle:
        raise SidecarError(
            f"{kind} sidecar {ref.get('file')!r} of {str(out_path)!r} is from cycle {ref.get('cycle')}, the resumed run needs cycle {cycle}", out_path
        )
    return load_sidecar(out_path, ref, kind)


def check_record_indices(record: dict[str, Any], plan: PoolPlan, n_pool: int, n_cycles: int, path: Any) -> None:
    """Refuse a record (hand-edited or damaged) whose pool indices are out of range, repeated,
    held out for validation, or whose cycles do not follow the budgets; the message names the field."""
    where = f"results file {str(path)!r}"
    if record.get("validation_indices", []) != plan.validation_idx:
        raise ValueError(f"{where}: 'validation_indices' differ from this configuration's held-out set")
    cycles = record.get("cycles")
    if not isinstance(cycles, list) or len(cycles) > n_cycles:
        raise ValueError(f"{where}: 'cycles' must be a list of at most {n_cycles} entries")
    held = set(plan.validation_idx)
    seen: dict[int, str] = {}
    lists = [("initial_labeled", record.get("initial_labeled"))]
    for i, e in enumerate(cycles):
        if not isinstance(e, dict) or e.get("cycle") != i:
            raise ValueError(f"{where}: cycles[{i}] must be the entry of cycle {i}")
        lists.append((f"cycles[{i}].selected", e.get("selected")))
        want = plan.budgets[i + 1] - plan.budgets[i] if i + 1 < n_cycles else 0
        if not isinstance(e.get("selected"), list) or len(e["selected"]) != want:
            raise ValueError(f"{where}: cycles[{i}].selected must list {want} pool indices (the budget)")
    for field_name, values in lists:
        for v in values or []:
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < n_pool:
                raise ValueError(f"{where}: {field_name} holds index {v!r}, outside the pool 0..{n_pool - 1}")
            if v in held:
                raise ValueError(f"{where}: {field_name} holds index {v}, which is held out for validation")
            if v in seen:
                raise ValueError(f"{where}: index {v} appears twice ({seen[v]} and {field_name})")
            seen[v] = field_name
    if record.get("finished") != (len(cycles) == n_cycles):
        raise ValueError(f"{where}: 'finished' is {record.get('finished')!r} with {len(cycles)} of {n_cycles} cycles")


def _previous_state(config: ALConfig, dataset: ALDataset, record: dict[str, Any], out_path: Path, strategy) -> dict[str, torch.Tensor]:
    """The final weights of the last finished cycle, from the record's verified "model" sidecar.

    When the sidecar is missing or corrupt, a run without warm start retrains that cycle from its
    seeds (the same seeds give the same model) with a warning naming the file; a warm-started run
    refuses (:class:`~altoolkit.engine.record_io.SidecarError`, naming the file), since its weights
    continue every earlier cycle's."""
    done = len(record["cycles"])
    try:
        state = read_sidecar(out_path, record, "model", cycle=done - 1)
        _build_cycle_model(config, dataset, None).load_state_dict(state)  # the right architecture
        return state
    except (SidecarError, RuntimeError) as exc:
        if config.warm_start:
            raise SidecarError(
                f"{exc}; a warm-started run cannot rebuild cycle {done - 1}'s weights without "
                "the earlier cycles' weights: restore the file or start over with another --out",
                out_path,
            ) from exc
        warnings.warn(f"{exc}; retraining cycle {done - 1}'s model from its seeds to resume", UserWarning, stacklevel=4)
        labeled = list(record["initial_labeled"])
        for entry in record["cycles"][: done - 1]:
            labeled.extend(entry["selected"])
        model = train_cycle(config, dataset, torch.tensor(labeled, dtype=torch.long), done - 1, strategy).model
        return state_copy(model.state_dict())


def run_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """What names a run: its configuration (``ALConfig.to_dict()`` or a record's ``config``) with
    ``root`` left out (``None``) for a dataset read from the original files of its release, whose MD5
    sums torchvision records (:data:`altoolkit.data.checksums.CHECKED_DATASETS`): there the folder is
    only where the files lie, so the records computed on one copy are found from another (a clone of
    the committed ``results/real`` with the data elsewhere).  What guards the data: a sweep reuses
    such a finished record from another folder only when that folder's files match the release's
    MD5 sums (:func:`~altoolkit.engine.sweep.run_sweep`), and a resumed record checks the data's
    fingerprint (:func:`~altoolkit.engine.run_checks.check_record_binding`).  For any other
    dataset (``image_folder``, a registered loader) the folder is the data and stays in."""
    from ..data.checksums import checked_base

    if checked_base(str(settings.get("dataset", ""))) is not None and settings.get("root") is not None:
        return {**settings, "root": None}
    return settings


def _existing_record(out_path: Path | None, config_dict: dict[str, Any]) -> dict[str, Any] | None:
    """The record at ``out_path`` to resume, or ``None`` when there is none; refuses (nothing
    overwritten) a record of another configuration or of another revision of the built-in networks."""
    if out_path is None or not out_path.exists():
        return None
    old = load_record(out_path)
    if not isinstance(old.get("config"), dict) or run_settings(old["config"]) != run_settings(config_dict):
        raise ValueError(
            f"results file {str(out_path)!r} holds a run with a different configuration; "
            "choose another --out, or delete the file to start over (nothing was overwritten)"
        )
    if old.get("model_revision", 1) != MODEL_REVISION:
        raise ValueError(
            f"results file {str(out_path)!r} was computed with the built-in networks of revision "
            f"{old.get('model_revision', 1)} (this altoolkit has revision {MODEL_REVISION}: see "
            "altoolkit.training.models.MODEL_REVISION); choose another --out, or delete the file to start over "
            "(nothing was overwritten)"
        )
    return old


def _check_test_split(dataset: ALDataset) -> None:
    """An ALDataset may have no test split (the labelling project's optional held-out set), but an
    AL run reports test accuracy every cycle: refuse before any training."""
    if dataset.n_test == 0:
        raise ValueError(
            f"the test split of dataset {dataset.name!r} is empty (x_test/y_test have 0 samples); every "
            "cycle would report test accuracy 0.0. Give a non-empty test split"
        )


def _new_record(config: ALConfig, config_dict: dict[str, Any], strategy, dataset: ALDataset, plan: PoolPlan, task: Task) -> dict[str, Any]:
    """The record of a run before its first cycle."""
    record = {
        "format": RECORD_FORMAT,
        "model_revision": MODEL_REVISION,
        "config": config_dict,
        "strategy": {
            "name": strategy.name,
            "options": strategy.options(),
            "dynamic_weight": config.effective_dynamic_weight(),
            "peeks_at_labels": strategy.peeks_at_labels,
        },
        "dataset": {
            "name": dataset.name,
            "n_train": dataset.n_train,
            "n_test": dataset.n_test,
            "num_classes": dataset.num_classes,
            "input_shape": list(dataset.input_shape),
        },
        "budgets": plan.budgets,
        "validation_indices": plan.validation_idx,
        "initial_labeled": plan.initial,
        **task.pool_fields(config, dataset, plan),  # classification: the stopping rules' stop set
        **task.record_fields(),  # what the metric fields mean (classification: "accuracy")
        "cycles": [],
        "finished": False,
        "environment": _environment(config.device),
    }
    if getattr(strategy, "peeks_at_test_data", False):
        record["strategy"]["peeks_at_test_data"] = True
    return record


def _resumable(record: dict[str, Any], config: ALConfig, plan: PoolPlan, n_pool: int, out_path: Path | None) -> dict[str, Any]:
    """``record`` (read from ``out_path``) checked against this run's pool, its stray sidecars removed."""
    if record["initial_labeled"] != plan.initial or record.get("budgets") != plan.budgets:
        raise ValueError(
            f"results file {str(out_path)!r} was made from a different dataset or pool (its initial labeled set does not match); choose another --out"
        )
    check_record_indices(record, plan, n_pool, config.cycles, out_path)
    prune_sidecars(out_path, (record.get("sidecars") or {}).values())  # left by a kill after a write
    return record


def _resumed_weights(
    config: ALConfig, dataset: ALDataset, record: dict[str, Any], out_path: Path | None, strategy, keep_weights: bool
) -> tuple[dict[str, torch.Tensor] | None, Any]:
    """``(previous_state, previous_model)`` a resumed run starts from: the last finished cycle's
    final weights (when the run keeps them) and, for a strategy that compares with the previous
    cycle's model (TOD), that model in eval mode; ``(None, None)`` for a run from the start."""
    previous_state: dict[str, torch.Tensor] | None = None
    previous_model = None
    if record["cycles"] and keep_weights and not record["finished"] and out_path is not None:
        previous_state = _previous_state(config, dataset, record, out_path, strategy)
    if previous_state is not None and strategy.needs_previous_cycle_model:
        previous_model = _build_cycle_model(config, dataset, None)
        previous_model.load_state_dict(previous_state)
        previous_model.eval()
    return previous_state, previous_model


@dataclass
class CycleSelection:
    """One cycle's selection, as the AL loop makes it (:func:`select_cycle`).

    Attributes:
        selected: the selected pool indices, in the strategy's order (``[]`` after the last
            training, which selects nothing).
        seconds: wall-clock seconds of scoring and selecting.
        candidates: the pool indices scored (the unlabeled pool, or its seeded subset).
        scores: the strategy's per-sample scores on ``candidates`` (``None`` for set strategies).
        context: the :class:`~altoolkit.strategies.SelectionContext` of the selection.
        diagnostics: what the strategy reports of its selection
            (:attr:`altoolkit.strategies.Strategy.last_selection`: ``topk_overlap`` of a batch rule
            other than ``topk``), stored in the cycle's record entry.
    """

    selected: list[int] = field(default_factory=list)
    seconds: float = 0.0
    candidates: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    context: SelectionContext | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def n_candidates(self) -> int:
        return 0 if self.candidates is None else int(self.candidates.shape[0])


def select_cycle(
    config: ALConfig, strategy, dataset: ALDataset, plan: PoolPlan, cycle: int, labeled: torch.Tensor, result, previous_model=None, progress: bool = False
) -> CycleSelection:
    """Cycle ``cycle``'s selection as :func:`run_active_learning` makes it: ``strategy`` scores
    the candidates (the unlabeled pool, or its seeded subset :func:`candidate_subset`) with this
    cycle's model ``result`` and picks the next budget's samples (selection seed
    ``derive_seed(seed, cycle, 3)``).  Nothing is selected after the last training."""
    if cycle == config.cycles - 1:
        return CycleSelection()
    candidates = candidate_subset(plan.unlabeled(dataset.n_train, labeled), config.subset_size, config.seed, cycle)
    ctx = SelectionContext(
        dataset=dataset,
        model=result.model,
        labeled=labeled,
        unlabeled=candidates,
        train_result=result,
        previous_cycle_model=previous_model,
        initial_labeled=torch.tensor(plan.initial, dtype=torch.long),
        validation=plan.validation(dataset),
        seed=derive_seed(config.seed, cycle, 3),
        batch_size=config.score_batch_size,
        device=config.device,
        progress=progress,
        extras={"cycle": cycle, "warm_start": config.warm_start},
    )
    t0 = time.perf_counter()
    budget = plan.budgets[cycle + 1] - plan.budgets[cycle]
    scores, pos = strategy.score_and_select(ctx, budget)  # the positions select() gives
    pos = checked_positions(pos, int(candidates.shape[0]), budget, config.strategy)  # before anything is saved
    seconds = time.perf_counter() - t0
    selected = candidates[pos].tolist()
    if len(set(selected)) != len(selected) or set(selected) & set(labeled.tolist()):
        raise RuntimeError(f"strategy {config.strategy!r} returned duplicate or already labeled samples")
    return CycleSelection(selected, seconds, candidates, scores, ctx, dict(getattr(strategy, "last_selection", {})))


def _cycle_entry(
    config: ALConfig,
    task: Task,
    dataset: ALDataset,
    plan: PoolPlan,
    cycle: int,
    labeled: list[int],
    metrics: dict[str, Any],
    result,
    selection: CycleSelection,
    stop: Sequence[int] = (),
) -> dict[str, Any]:
    """The record's entry of one cycle (see :func:`run_active_learning` for its fields): the
    task's annotation cost (when a sample costs other than one image) and metric fields after
    ``fraction_labeled``, its diagnostics after ``final_train_loss`` (classification: the batch's
    class balance and the stopping rules' statistics on ``stop``, the record's stop set,
    :mod:`altoolkit.analysis.stopping`), then what the strategy reports of its selection."""
    n_labeled = len(labeled)
    entry = {
        "cycle": cycle,
        "n_labeled": n_labeled,
        "fraction_labeled": n_labeled / len(plan.available),
        **task.cost_fields(dataset, labeled, selection.selected),
        **metrics,
        "selected": selection.selected,
        "train_seconds": result.seconds,
        "select_seconds": selection.seconds,
        "final_train_loss": result.history["loss"][-1],
        **task.cycle_fields(config, dataset, result.model, result, selection.selected),
        **task.stopping_fields(config, dataset, result.model, list(stop), selection.selected),
        **selection.diagnostics,
    }
    if config.subset_size:
        entry["n_candidates"] = selection.n_candidates
    return entry


def _run(
    config: ALConfig, out_path: Path | None, dataset: ALDataset | None, progress: bool, on_cycle_end: Callable[[dict[str, Any]], None] | None
) -> dict[str, Any]:
    """Open the record (new, or resumed after its last finished cycle), then train, evaluate,
    select and save one cycle after the other."""
    task = get_task(config.task)
    strategy = task.get_strategy(config.strategy, config.strategy_options)
    config_dict = json.loads(json.dumps(config.to_dict()))
    if dataset is not None:
        config_dict["dataset"] = dataset.name  # what ran, not ALConfig's default name
    record = _existing_record(out_path, config_dict)
    if dataset is None:
        dataset = load_config_dataset(config)
    dataset = task.recheck_dataset(dataset)
    _check_test_split(dataset)
    plan = plan_pool(config, dataset.n_train)
    check_subset_size(config.subset_size, plan.budgets)
    width = task.probe_model(config, dataset)  # before any training
    if record is None:
        record = bind_record(_new_record(config, config_dict, strategy, dataset, plan, task), dataset, width)
    else:
        check_record_binding(record, dataset, width, out_path)
        record = _resumable(record, config, plan, dataset.n_train, out_path)
    labeled = list(record["initial_labeled"])
    for entry in record["cycles"]:
        labeled.extend(entry["selected"])
    # The previous cycle's final weights: the next cycle starts from them (warm start) and TOD
    # compares with them.  Kept in memory, and on disk as the record's "model" sidecar (only the
    # last one is kept, and none once the run is finished).
    keep_weights = config.warm_start or strategy.needs_previous_cycle_model
    previous_state, previous_model = _resumed_weights(config, dataset, record, out_path, strategy, keep_weights)
    done = len(record["cycles"])
    cycle_bar = tqdm(range(done, config.cycles), desc=f"{config.strategy} seed {config.seed}", disable=not progress, initial=done, total=config.cycles)
    for c in cycle_bar:
        lab = torch.tensor(labeled, dtype=torch.long)
        if len(labeled) != plan.budgets[c]:
            raise RuntimeError(f"internal error: cycle {c} has {len(labeled)} labels, expected {plan.budgets[c]}")
        init_state = previous_state if config.warm_start and c > 0 else None
        result = train_cycle(config, dataset, lab, c, strategy, progress, init_state=init_state)
        metrics = task.evaluate(result.model, dataset, config)
        selection = select_cycle(config, strategy, dataset, plan, c, lab, result, previous_model, progress)
        entry = _cycle_entry(config, task, dataset, plan, c, labeled, metrics, result, selection, record.get("stop_set", []))
        finished = c == config.cycles - 1
        if keep_weights and not finished:
            previous_state = state_copy(result.model.state_dict())
        record["cycles"].append(entry)
        labeled.extend(selection.selected)
        record["finished"] = finished
        if out_path is not None:
            write_record(out_path, record, {"model": previous_state if keep_weights and not finished else None}, cycle=c)
        previous_model = result.model
        cycle_bar.set_postfix(labeled=len(labeled), **{task.metric: f"{metrics[task.metric]:.3f}"})
        if on_cycle_end is not None:
            on_cycle_end(entry)
    cycle_bar.close()
    return record
