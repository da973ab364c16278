"""The active-learning loop: cycles, budgets, seeds, and a results record saved to disk.

A run starts from a random labeled set of ``initial_fraction`` of the pool, then alternates
train → score → select → label for ``cycles`` trainings, adding ``step_fraction`` of the pool each
time (paper default: 10% → 40% in steps of 5%, i.e. 7 trainings and 6 selections).  Every cycle
retrains the model from a fresh initialisation seeded by ``(seed, cycle)``, so the same seed gives
the same selections and accuracies.

The record (a JSON file) is rewritten atomically after every finished cycle (temporary file, then
``os.replace``).  Starting the same command again resumes after the last finished cycle and ends
with exactly the record an uninterrupted run writes.  When the next cycle needs the last cycle's
weights (warm start, TOD), they are saved beside the record BEFORE the record names them, with
their SHA-256, and checked on resume (:func:`save_sidecar` / :func:`load_sidecar`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from .progress import tqdm

from . import __version__
from .data import ALDataset, check_dataset_name, load_dataset
from .models import MODELS, build_model
from .strategies import SelectionContext, get_strategy, strategy_names
from .train import AUGMENTATIONS, LR_SCHEDULES, TrainConfig, evaluate, train_model
from .validation import check_bool, check_choice, check_float, check_fraction, check_int

__all__ = ["ALConfig", "PoolPlan", "run_active_learning", "load_record", "load_config_dataset", "plan_pool", "train_cycle",
           "budget_schedule", "derive_seed", "candidate_subset", "save_sidecar", "load_sidecar", "RECORD_FORMAT",
           "ACCURACY_LABELS"]

RECORD_FORMAT = "altoolkit.al_record/1"

#: What each accuracy field of a cycle entry means (written into every record as ``accuracy``).
ACCURACY_LABELS: dict[str, str] = {
    "test_acc": "final epoch: test accuracy of the model after the last epoch (as DISAL, TOD and AL-GradNorm report)",
    "best_epoch_test_acc": "best epoch: highest test accuracy over the epochs evaluated with eval_every > 0 (the "
                           "ISAL paper's report as DESIGN.md reads it); it looks at the test set to choose the "
                           "epoch. dragonlzm/ISAL pycls/core/trainer.py logs BEST_TOP1_ACC from the final "
                           "epoch's evaluation only, i.e. test_acc",
}

#: Fields added after the record format was fixed; ``to_dict`` leaves them out at their default
#: value, so that records and sweep hashes of configurations that do not use them are unchanged.
_OPTIONAL_DEFAULTS: dict[str, Any] = {
    "initial_size": None,
    "step_size": None,
    "subset_size": None,
    "warm_start": False,
    "eval_every": 0,
    "pretrained_weights": None,
}


def derive_seed(seed: int, *keys: int) -> int:
    """A 31-bit seed derived from ``seed`` and integer ``keys`` (stable across runs and machines)."""
    ss = np.random.SeedSequence([int(seed)] + [int(k) for k in keys])
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


@dataclass
class ALConfig:
    """Configuration of one active-learning run (all fields are written into the record).

    Attributes:
        dataset: dataset name (see :data:`altoolkit.data.DATASETS`).
        strategy: strategy name (``altoolkit strategies`` lists them).
        strategy_options: keyword options of the strategy, e.g. ``{"largest": False}``.
        seed: seeds the initial pool, every model initialisation, training and selection.
        initial_fraction: share of the pool labeled at the start (paper: 0.10).
        step_fraction: share of the pool added per cycle (paper: 0.05).
        cycles: number of trainings; ``cycles - 1`` selections (paper: 7, i.e. 10% → 40%).
        model: model name (see :data:`altoolkit.models.MODELS`).
        epochs, batch_size, lr, momentum, weight_decay, lr_schedule, augment: training settings.
        dynamic_weight: λ of DISAL Eq. 14.  ``None``: 1.0 for strategies trained with the dynamic
            loss (``disal``, ``disal_no_selection``), 0 for the others; a number applies to all.
        validation_size: number of pool samples held out (seeded) as a labeled validation set,
            never selected or trained on; strategies see it as ``ctx.validation`` (ISAL's
            validation reference set).  0: none.  Budget fractions refer to the rest of the pool.
        score_batch_size: batch size for scoring the pool.
        device: torch device string.
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
            :func:`altoolkit.models.load_pretrained_backbone`).
    """

    dataset: str = "digits"
    strategy: str = "disal"
    strategy_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    initial_fraction: float = 0.10
    step_fraction: float = 0.05
    cycles: int = 7
    model: str = "cnn"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_schedule: str = "step"
    augment: str = "none"
    dynamic_weight: float | None = None
    validation_size: int = 0
    score_batch_size: int = 512
    device: str = "cpu"
    root: str | None = None
    download: bool = False
    dataset_options: dict[str, Any] = field(default_factory=dict)
    initial_size: int | None = None
    step_size: int | None = None
    subset_size: int | None = None
    warm_start: bool = False
    eval_every: int = 0
    pretrained_weights: str | None = None

    def __post_init__(self) -> None:
        check_dataset_name(self.dataset)
        check_choice("strategy", self.strategy, strategy_names())
        check_choice("model", self.model, MODELS)
        self.seed = check_int("seed", self.seed, 0)
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
                raise ValueError(f"subset_size ({self.subset_size}) must be at least step_size ({self.step_size}): "
                                 "each selection picks step_size samples out of the subset")
        self.warm_start = check_bool("warm_start", self.warm_start)
        self.eval_every = check_int("eval_every", self.eval_every, 0)
        if self.pretrained_weights is not None:
            if not isinstance(self.pretrained_weights, (str, os.PathLike)):
                raise TypeError(f"pretrained_weights must be a file path, got {self.pretrained_weights!r}")
            if self.model != "resnet18":
                raise ValueError(f"pretrained_weights applies to model='resnet18' (torchvision's ResNet-18), "
                                 f"got model={self.model!r}")
            self.pretrained_weights = str(self.pretrained_weights)
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
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_choice("augment", self.augment, AUGMENTATIONS)
        if not isinstance(self.strategy_options, dict):
            raise TypeError(f"strategy_options must be a dict, got {type(self.strategy_options).__name__}")
        self.train_config()  # validates epochs, batch_size, lr, momentum, weight_decay
        strat = get_strategy(self.strategy, **self.strategy_options)  # validates the options
        if getattr(strat, "requires_warm_start", False) and not self.warm_start:
            raise ValueError(
                f"strategy {self.strategy!r} with options {strat.options()} compares with the previous cycle's "
                "checkpoint on the same training trajectory (siyuhuang/TOD main_TOD.py), so it needs "
                "warm_start=True (--warm-start)"
            )

    def effective_dynamic_weight(self) -> float:
        if self.dynamic_weight is not None:
            return float(self.dynamic_weight)
        strat = get_strategy(self.strategy, **self.strategy_options)
        return 1.0 if strat.dynamic_loss else 0.0

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            lr_schedule=self.lr_schedule,
            dynamic_weight=self.effective_dynamic_weight() if self.strategy in strategy_names() else 0.0,
            augment=self.augment,
            device=self.device,
        )

    def to_dict(self) -> dict[str, Any]:
        """All fields, except the later ones (:data:`_OPTIONAL_DEFAULTS`) left at their default."""
        d = asdict(self)
        for k, default in _OPTIONAL_DEFAULTS.items():
            if d[k] == default and type(d[k]) is type(default):
                del d[k]
        return d

    def budgets(self, n_pool: int) -> list[int]:
        """Labeled-set size per cycle for a pool of ``n_pool`` samples (fractions or sizes)."""
        return budget_schedule(n_pool, self.initial_fraction, self.step_fraction, self.cycles,
                               initial_size=self.initial_size, step_size=self.step_size)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ALConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown configuration keys {unknown}; allowed: {sorted(names)}")
        return cls(**d)


def budget_schedule(n_pool: int, initial_fraction: float, step_fraction: float, cycles: int, *,
                    initial_size: int | None = None, step_size: int | None = None) -> list[int]:
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
                f"the pool of {n_pool} samples is too small for {cycles} cycles with "
                f"initial_fraction={initial_fraction} and step_fraction={step_fraction}"
            )
        return sizes
    first = check_int("initial_size", initial_size, 1) if initial_size is not None else \
        max(1, int(round(initial_fraction * n_pool)))
    step = check_int("step_size", step_size, 1) if step_size is not None else \
        max(1, int(round(step_fraction * n_pool)))
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


def _atomic_write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_sidecar(path: Path, state: dict[str, torch.Tensor]) -> str:
    """Save a state dict beside a record and return the SHA-256 of the bytes written.

    The one place where sidecars are written: call it BEFORE the record that names the file and
    its hash is written, so that a record never names a sidecar that is not on disk."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buf)
    data = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return hashlib.sha256(data).hexdigest()


def load_sidecar(path: Path, sha256: str) -> dict[str, torch.Tensor]:
    """Load a state dict saved by :func:`save_sidecar`, refusing a missing file or one whose
    SHA-256 differs from the record's (``weights_only=True``)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(
            f"the record names the weights file {str(path)!r}, which cannot be read ({exc}); the run cannot "
            "continue from the weights it needs. Restore the file or start over with another --out"
        ) from exc
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise ValueError(
            f"the weights file {str(path)!r} does not match the record (SHA-256 {got[:12]}..., the record says "
            f"{sha256[:12]}...); it was changed or belongs to another run. Start over with another --out"
        )
    return torch.load(io.BytesIO(data), weights_only=True)


def load_record(path: str | os.PathLike) -> dict[str, Any]:
    """Read a results record, with a clear error when the file is not one."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ValueError(f"results file {str(p)!r} cannot be read: {exc}") from exc
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"results file {str(p)!r} is not valid JSON ({exc}); it may be truncated or not an "
            "altoolkit record. Choose another --out (nothing was overwritten)."
        ) from exc
    if not isinstance(rec, dict) or rec.get("format") != RECORD_FORMAT:
        raise ValueError(
            f"results file {str(p)!r} is not an altoolkit record (format {RECORD_FORMAT!r}); "
            "choose another --out (nothing was overwritten)"
        )
    return rec


def _environment() -> dict[str, str]:
    return {
        "altoolkit": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": str(torch.get_num_threads()),
    }


def load_config_dataset(config: ALConfig) -> ALDataset:
    """The dataset a configuration names, loaded with its seed, root and options."""
    kwargs = dict(config.dataset_options)
    if config.root is not None:
        kwargs.setdefault("root", config.root)
        kwargs.setdefault("download", config.download)
    return load_dataset(config.dataset, seed=config.seed, **kwargs)


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
        raise ValueError(
            f"validation_size must be smaller than the pool ({n_pool} samples), got {config.validation_size}"
        )
    validation_idx: list[int] = []
    available = np.arange(n_pool)
    if config.validation_size:
        vperm = np.random.default_rng(derive_seed(config.seed, 0xB2)).permutation(n_pool)
        validation_idx = np.sort(vperm[: config.validation_size]).tolist()
        available = np.sort(vperm[config.validation_size :])
    sizes = config.budgets(len(available))
    rng = np.random.default_rng(derive_seed(config.seed, 0xA1))
    initial = np.sort(available[rng.permutation(len(available))[: sizes[0]]]).tolist()
    return PoolPlan(available, validation_idx, sizes, initial)


def _build_cycle_model(config: ALConfig, dataset: ALDataset, seed: int | None):
    return build_model(config.model, dataset.input_shape, dataset.num_classes, seed=seed,
                       pretrained_weights=config.pretrained_weights)


def train_cycle(config: ALConfig, dataset: ALDataset, labeled: torch.Tensor, cycle: int, strategy,
                progress: bool = False, init_state: dict[str, torch.Tensor] | None = None):
    """Train cycle ``cycle``'s model on ``labeled``, seeded by ``(seed, cycle)``, keeping the
    checkpoints ``strategy`` needs: from a fresh initialisation, or from ``init_state`` (the
    previous cycle's final weights, ``warm_start``) with a fresh optimiser and schedule.

    With ``config.eval_every > 0`` the test set is evaluated every ``eval_every`` epochs and
    after the last (``result.history['test_acc']`` / ``['test_epoch']``)."""
    tcfg = config.train_config()
    model = _build_cycle_model(config, dataset, derive_seed(config.seed, cycle, 1))
    if init_state is not None:
        model.load_state_dict(init_state)
    return train_model(
        model,
        dataset.x_train[labeled],
        dataset.y_train[labeled],
        tcfg,
        seed=derive_seed(config.seed, cycle, 2),
        to_input=dataset.to_input,
        eval_data=(dataset.x_test, dataset.y_test) if config.eval_every else None,
        eval_every=config.eval_every or 1,
        checkpoint_epochs=strategy.checkpoint_epochs(tcfg.epochs),
        progress=progress,
        desc=f"{config.strategy} cycle {cycle} train",
    )


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
        dataset: an already loaded dataset (otherwise ``load_dataset(config.dataset, ...)``).
        progress: tqdm bars for cycles and epochs.
        on_cycle_end: called with each cycle's entry once it is saved.

    Returns:
        The record: ``config``, ``strategy``, ``dataset``, ``initial_labeled``, ``cycles`` (one
        entry per training: ``cycle, n_labeled, test_acc, selected, train_seconds,
        select_seconds, final_train_loss``), ``finished``, ``environment``.
    """
    if not isinstance(config, ALConfig):
        raise TypeError(f"config must be an ALConfig, got {type(config).__name__}")
    strategy = get_strategy(config.strategy, **config.strategy_options)
    out_path = Path(out) if out is not None else None
    record: dict[str, Any] | None = None
    if out_path is not None and out_path.exists():
        old = load_record(out_path)
        if old.get("config") != json.loads(json.dumps(config.to_dict())):
            raise ValueError(
                f"results file {str(out_path)!r} holds a run with a different configuration; "
                "choose another --out, or delete the file to start over (nothing was overwritten)"
            )
        record = old
    if dataset is None:
        dataset = load_config_dataset(config)
    if dataset.n_test == 0:
        # an ALDataset may have no test split (the labelling project's optional held-out set),
        # but an AL run reports test accuracy every cycle: refuse before any training
        raise ValueError(
            f"the test split of dataset {dataset.name!r} is empty (x_test/y_test have 0 samples); every "
            "cycle would report test accuracy 0.0. Give a non-empty test split"
        )
    n_pool = dataset.n_train
    plan = plan_pool(config, n_pool)
    sizes, initial, validation_idx = plan.budgets, plan.initial, plan.validation_idx
    available = plan.available
    validation = plan.validation(dataset)

    if record is None:
        record = {
            "format": RECORD_FORMAT,
            "config": json.loads(json.dumps(config.to_dict())),
            "strategy": {
                "name": strategy.name,
                "options": strategy.options(),
                "dynamic_weight": config.effective_dynamic_weight(),
                "peeks_at_labels": strategy.peeks_at_labels,
            },
            "dataset": {
                "name": dataset.name,
                "n_train": n_pool,
                "n_test": dataset.n_test,
                "num_classes": dataset.num_classes,
                "input_shape": list(dataset.input_shape),
            },
            "budgets": sizes,
            "validation_indices": validation_idx,
            "initial_labeled": initial,
            "accuracy": dict(ACCURACY_LABELS),
            "cycles": [],
            "finished": False,
            "environment": _environment(),
        }
        if getattr(strategy, "peeks_at_test_data", False):
            record["strategy"]["peeks_at_test_data"] = True
    elif record["initial_labeled"] != initial or record.get("budgets") != sizes:
        raise ValueError(
            f"results file {str(out_path)!r} was made from a different dataset or pool "
            "(its initial labeled set does not match); choose another --out"
        )

    labeled = list(record["initial_labeled"])
    for entry in record["cycles"]:
        labeled.extend(entry["selected"])
    # The previous cycle's final weights: the next cycle starts from them (warm start) and TOD
    # compares with them.  Kept in memory, and on disk as <out>.cycle<c>.pt named in the record
    # (only the last one is kept, and none once the run is finished).
    keep_weights = config.warm_start or strategy.needs_previous_cycle_model
    previous_state: dict[str, torch.Tensor] | None = None
    previous_model = None
    done = len(record["cycles"])
    if done and keep_weights and not record["finished"]:
        ref = record["cycles"][-1].get("final_weights")
        if ref is None or out_path is None:
            raise ValueError(
                f"results file {str(out_path)!r} does not name the weights of cycle {done - 1}, which the next "
                "cycle needs (warm start / previous cycle's model); start over with another --out"
            )
        previous_state = load_sidecar(out_path.with_name(ref["file"]), ref["sha256"])
    if previous_state is not None and strategy.needs_previous_cycle_model:
        previous_model = _build_cycle_model(config, dataset, None)
        previous_model.load_state_dict(previous_state)
        previous_model.eval()

    cycle_bar = tqdm(range(done, config.cycles), desc=f"{config.strategy} seed {config.seed}",
                     disable=not progress, initial=done, total=config.cycles)
    for c in cycle_bar:
        lab = torch.tensor(labeled, dtype=torch.long)
        if len(labeled) != sizes[c]:
            raise RuntimeError(f"internal error: cycle {c} has {len(labeled)} labels, expected {sizes[c]}")
        init_state = previous_state if config.warm_start and c > 0 else None
        result = train_cycle(config, dataset, lab, c, strategy, progress, init_state=init_state)
        acc = evaluate(result.model, dataset.x_test, dataset.y_test, dataset.to_input, device=config.device)
        selected: list[int] = []
        select_seconds = 0.0
        n_candidates = 0
        if c < config.cycles - 1:
            candidates = candidate_subset(plan.unlabeled(n_pool, lab), config.subset_size, config.seed, c)
            n_candidates = int(candidates.shape[0])
            ctx = SelectionContext(
                dataset=dataset,
                model=result.model,
                labeled=lab,
                unlabeled=candidates,
                train_result=result,
                previous_cycle_model=previous_model,
                initial_labeled=torch.tensor(record["initial_labeled"], dtype=torch.long),
                validation=validation,
                seed=derive_seed(config.seed, c, 3),
                batch_size=config.score_batch_size,
                device=config.device,
                progress=progress,
                extras={"cycle": c, "warm_start": config.warm_start},
            )
            t0 = time.perf_counter()
            pos = strategy.select(ctx, sizes[c + 1] - sizes[c])
            select_seconds = time.perf_counter() - t0
            selected = candidates[pos].tolist()
            if len(set(selected)) != len(selected) or set(selected) & set(labeled):
                raise RuntimeError(f"strategy {config.strategy!r} returned duplicate or already labeled samples")
        entry = {
            "cycle": c,
            "n_labeled": len(labeled),
            "fraction_labeled": len(labeled) / len(available),
            "test_acc": acc,
            "selected": selected,
            "train_seconds": result.seconds,
            "select_seconds": select_seconds,
            "final_train_loss": result.history["loss"][-1],
        }
        if config.subset_size:
            entry["n_candidates"] = n_candidates
        if config.eval_every:
            best = max(range(len(result.history["test_acc"])), key=lambda i: result.history["test_acc"][i])
            entry["best_epoch_test_acc"] = result.history["test_acc"][best]
            entry["best_epoch"] = result.history["test_epoch"][best]
        finished = c == config.cycles - 1
        sidecar = None
        if keep_weights and not finished:
            state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
            if out_path is not None:
                sidecar = out_path.with_name(f"{out_path.name}.cycle{c}.pt")
                entry["final_weights"] = {"file": sidecar.name, "sha256": save_sidecar(sidecar, state)}
            previous_state = state
        record["cycles"].append(entry)
        labeled.extend(selected)
        record["finished"] = finished
        if out_path is not None:
            _atomic_write_json(out_path, record)
            for old in out_path.parent.glob(f"{out_path.name}.cycle*.pt"):
                if sidecar is None or old.name != sidecar.name:
                    old.unlink(missing_ok=True)  # only the last cycle's weights are ever needed
        previous_model = result.model
        cycle_bar.set_postfix(labeled=len(labeled), acc=f"{acc:.3f}")
        if on_cycle_end is not None:
            on_cycle_end(entry)
    cycle_bar.close()
    return record
