"""What the AL loop asks of a task, and the classification task (today's behaviour).

A task decides what a label is (a class index, a per-pixel mask, boxes), the model's output per
sample, the training loss (its trainer), the evaluation metric, the per-sample reduction a score
needs (its strategies, ``TASK_STRATEGIES[task]``) and the annotation cost of a sample.  The loop
(:mod:`.loop`), records, resume, sweeps and ``summarize`` only talk to :class:`Task`; a new task is
a :class:`Task` subclass in its own module plus its modules in the layers below (data, math,
training, strategies), registered here by name (:func:`register_task`, or a line in
:data:`_BUILTIN`).

Built in: ``classification`` (:class:`ClassificationTask`), ``segmentation``
(:class:`altoolkit.engine.segmentation.SegmentationTask`) and ``detection``
(:class:`altoolkit.engine.detection.DetectionTask`, whose samples cost their boxes).
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from ..analysis.selection_balance import selection_diagnostics
from ..analysis.stopping import stop_set, stopping_diagnostics
from ..data import ALDataset, PoolDataset
from ..strategies import Strategy, describe_strategies, get_strategy, strategy_names
from ..training.fresh_model import train_fresh
from ..training.train import TrainResult, evaluate
from ..util.checks import check_choice
from ..util.seeds import derive_seed
from .run_checks import probe_model, recheck_dataset

#: What the methods take as ``config``: an :class:`altoolkit.engine.loop.ALConfig` (loop imports
#: this module, so the name is not imported back here).
ALConfig = Any

__all__ = [
    "Task",
    "ClassificationTask",
    "TASK_NAMES",
    "get_task",
    "register_task",
    "task_names",
    "ACCURACY_LABELS",
    "fresh_cycle_training",
    "train_fresh_supervised",
]

#: What each accuracy field of a classification cycle entry means (written into every record as ``accuracy``).
ACCURACY_LABELS: dict[str, str] = {
    "test_acc": "final epoch: test accuracy of the model after the last epoch (as DISAL, TOD and AL-GradNorm report)",
    "best_epoch_test_acc": "best epoch: highest test accuracy over the epochs evaluated with eval_every > 0 (the "
    "ISAL paper's report as DESIGN.md reads it); it looks at the test set to choose the "
    "epoch. dragonlzm/ISAL pycls/core/trainer.py logs BEST_TOP1_ACC from the final "
    "epoch's evaluation only, i.e. test_acc",
}


class Task:
    """The small interface between the AL loop and a task.  Subclasses set the class attributes
    and implement :meth:`train`, :meth:`evaluate` and :meth:`cycle_fields`.

    Class attributes:
        name: registry name (``ALConfig(task=...)``, ``altoolkit al --task``).
        label: what a label is, in words (the README's task table).
        output: the model's output per sample, in words.
        metric: the cycle entry's key of the headline metric (learning curves, ``summarize``).
        metric_name: that metric in words.
        cost_unit: what :meth:`annotation_cost` counts (``"images"``; detection: ``"boxes"``).
        dataset_type: the dataset class its loaders return.
        defaults: :class:`~altoolkit.engine.loop.ALConfig` settings this task uses when they are not
            given (``ALConfig(task=...)``, ``altoolkit al --task``); classification: none.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    output: ClassVar[str] = ""
    metric: ClassVar[str] = ""
    metric_name: ClassVar[str] = ""
    cost_unit: ClassVar[str] = "images"
    dataset_type: ClassVar[type] = PoolDataset
    defaults: ClassVar[dict[str, Any]] = {}

    # ------------------------------------------------------------------ strategies

    def strategy_names(self) -> list[str]:
        """The strategies of this task (``TASK_STRATEGIES[name]``)."""
        return strategy_names(self.name)

    def describe_strategies(self) -> list[tuple[str, str]]:
        return describe_strategies(self.name)

    def get_strategy(self, name: str, options: dict[str, Any]) -> Strategy:
        """This task's strategy ``name`` built with ``options`` (checked)."""
        return get_strategy(name, task=self.name, **options)

    # ------------------------------------------------------------------ checks

    def check_config(self, config: ALConfig) -> None:
        """Refuse settings the task does not support, naming the parameter (default: none)."""

    def check_dataset(self, dataset: Any) -> None:
        """Refuse a dataset of another task, naming what this task needs."""
        if not isinstance(dataset, self.dataset_type):
            raise TypeError(
                f"task {self.name!r} needs a {self.dataset_type.__name__} ({self.label} per sample), but dataset "
                f"{getattr(dataset, 'name', '?')!r} is a {type(dataset).__name__}; choose a {self.name} dataset or another --task"
            )

    def recheck_dataset(self, dataset: Any) -> Any:
        """``dataset`` checked again when a run starts (it may have changed since it was built:
        :func:`altoolkit.engine.run_checks.recheck_dataset`) and refused when it is of another task."""
        checked = recheck_dataset(dataset)
        self.check_dataset(checked)
        return checked

    def probe_model(self, config: ALConfig, dataset: Any) -> int | None:
        """Run the configuration's model on two training samples before any training and refuse
        one that cannot serve this task, naming it; returns the output width a record is bound to
        (``None``: the task's outputs have no single width).  Default: logits per sample
        (:func:`altoolkit.engine.run_checks.probe_model`)."""
        return probe_model(config.model, dataset, config.device, config.pretrained_weights)

    # ------------------------------------------------------------------ record

    def record_fields(self) -> dict[str, Any]:
        """Top-level fields of a new record that describe the task's metric."""
        return {"accuracy": dict(ACCURACY_LABELS)}

    def pool_fields(self, config: ALConfig, dataset: Any, plan: Any) -> dict[str, Any]:
        """Top-level fields of a new record that depend on the pool (default: none)."""
        return {}

    def stopping_fields(self, config: ALConfig, dataset: Any, model: nn.Module, stop: Sequence[int], selected: Sequence[int]) -> dict[str, Any]:
        """A cycle entry's statistics for the stopping rules, on the record's stop set ``stop``
        (default: none; classification: :func:`altoolkit.analysis.stopping.stopping_diagnostics`)."""
        return {}

    # ------------------------------------------------------------------ a cycle

    def train(
        self,
        config: ALConfig,
        dataset: Any,
        labeled: torch.Tensor,
        cycle: int,
        strategy: Strategy,
        progress: bool,
        init_state: dict[str, torch.Tensor] | None,
        unlabeled: torch.Tensor,
    ) -> TrainResult:
        """Cycle ``cycle``'s model trained on ``labeled`` (seeded by ``(config.seed, cycle)``)."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, dataset: Any, config: ALConfig) -> dict[str, Any]:
        """The metric fields of a cycle entry (``metric`` among them), on the test split."""
        raise NotImplementedError

    def cycle_fields(self, config: ALConfig, dataset: Any, model: nn.Module, result: TrainResult, selected: Sequence[int]) -> dict[str, Any]:
        """The per-cycle diagnostics a record keeps after ``final_train_loss`` (what was selected)."""
        return {}

    def annotation_cost(self, dataset: Any, indices: Sequence[int]) -> float:
        """What labeling the pool samples ``indices`` costs, in :attr:`cost_unit` (default: one per image)."""
        return float(len(indices))

    def cost_fields(self, dataset: Any, labeled: Sequence[int], selected: Sequence[int]) -> dict[str, Any]:
        """The annotation cost a cycle entry records after ``fraction_labeled``, when a sample costs
        something else than one image (:attr:`cost_unit` other than ``"images"``):
        ``labeled_<unit>`` (the labeled set the cycle trained on) and ``selected_<unit>`` (the
        batch it selects).  Budgets stay in images (``n_labeled``); curves against the cost read
        these (:mod:`altoolkit.analysis.annotation_cost`).  Tasks costed in images record nothing
        here, so their records are those of before."""
        if self.cost_unit == "images":
            return {}
        unit = self.cost_unit
        return {f"labeled_{unit}": self.annotation_cost(dataset, labeled), f"selected_{unit}": self.annotation_cost(dataset, selected)}

    def describe(self) -> dict[str, str]:
        """The task in words (the README's table)."""
        return {"task": self.name, "label": self.label, "output": self.output, "metric": self.metric_name, "cost": self.cost_unit}


class ClassificationTask(Task):
    """One class label per image: :func:`altoolkit.training.train.train_model` (cross-entropy plus
    DISAL's dynamic loss), test accuracy, and the class balance of every selected batch."""

    name = "classification"
    label = "a class index"
    output = "logits (C,)"
    metric = "test_acc"
    metric_name = "test accuracy (final epoch)"
    dataset_type = ALDataset

    def train(self, config, dataset, labeled, cycle, strategy, progress, init_state, unlabeled):
        unsupervised: dict[str, Any] = {}
        auxiliary = strategy.training_loss()
        if auxiliary is not None:  # TOD's consistency loss: the unlabeled pool of this cycle
            unsupervised = {"auxiliary": auxiliary, "unlabeled_x": dataset.x_train[unlabeled]}
        return fresh_cycle_training(
            config,
            dataset,
            labeled,
            cycle,
            strategy,
            progress,
            init_state,
            pretrained_weights=config.pretrained_weights,
            pretrained_load=config.pretrained_load,
            eval_data=(dataset.x_test, dataset.y_test) if config.eval_every else None,
            eval_every=config.eval_every or 1,
            **unsupervised,
        )

    def evaluate(self, model, dataset, config):
        acc = evaluate(model, dataset.x_test, dataset.y_test, dataset.to_input, device=config.device, num_classes=dataset.num_classes, name=config.model)
        return {"test_acc": acc}

    def pool_fields(self, config, dataset, plan):
        # a fixed sample of the unlabeled pool whose predictions the stopping rules compare
        # across cycles (altoolkit.analysis.stopping); drawn with its own seed: no other draw moves
        pool = plan.unlabeled(dataset.n_train, torch.tensor(plan.initial, dtype=torch.long)).tolist()
        return {"stop_set": stop_set(pool, derive_seed(config.seed, 0, 9))}

    def stopping_fields(self, config, dataset, model, stop, selected):
        return stopping_diagnostics(dataset, model, list(stop), selected, config.score_batch_size, config.device)

    def cycle_fields(self, config, dataset, model, result, selected):
        fields = selection_diagnostics(dataset, model, selected, config.score_batch_size, config.device)
        if config.eval_every:
            best = max(range(len(result.history["test_acc"])), key=lambda i: result.history["test_acc"][i])
            fields["best_epoch_test_acc"] = result.history["test_acc"][best]
            fields["best_epoch"] = result.history["test_epoch"][best]
        return fields


#: Built-in tasks: name -> "module:class" (imported on first use, so classification never loads another task's code).
_BUILTIN: dict[str, str] = {
    "classification": "altoolkit.engine.tasks:ClassificationTask",
    "segmentation": "altoolkit.engine.segmentation:SegmentationTask",
    "detection": "altoolkit.engine.detection:DetectionTask",
}
_REGISTERED: dict[str, type[Task]] = {}

#: Names of the built-in tasks.
TASK_NAMES: tuple[str, ...] = tuple(_BUILTIN)


def task_names() -> tuple[str, ...]:
    """The built-in task names, then the registered ones."""
    return TASK_NAMES + tuple(n for n in _REGISTERED if n not in _BUILTIN)


def register_task(cls: type[Task]) -> type[Task]:
    """Make ``cls`` (a :class:`Task` subclass) the task ``cls.name`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Task)) or not cls.name:
        raise TypeError("register_task needs a Task subclass with a non-empty name")
    if cls.name in _BUILTIN:
        raise ValueError(f"task name {cls.name!r} is built in; choose another name")
    _REGISTERED[cls.name] = cls
    return cls


def get_task(name: str) -> Task:
    """The task ``name`` (see :func:`task_names`).

    >>> get_task("classification").metric
    'test_acc'
    """
    check_choice("task", name, task_names())
    if name in _REGISTERED:
        return _REGISTERED[name]()
    module, cls = _BUILTIN[name].split(":")
    return getattr(importlib.import_module(module), cls)()


def fresh_cycle_training(config: Any, dataset: Any, labeled: Any, cycle: int, strategy: Any, progress: bool, init_state: Any, **options: Any) -> Any:
    """The one training of a cycle, for every task: :func:`~altoolkit.training.fresh_model.train_fresh`
    on the labeled set with the run's model, training settings and seed, the strategy's checkpoint
    epochs (DISAL's last two) and the task's own ``options`` (its trainer, the evaluation data,
    pretrained weights, TOD's unsupervised loss)."""
    tcfg = config.train_config()
    return train_fresh(
        config.model,
        dataset,
        labeled,
        tcfg,
        config.seed,
        cycle,
        init_state=init_state,
        checkpoint_epochs=strategy.checkpoint_epochs(tcfg.epochs),
        progress=progress,
        desc=f"{config.strategy} cycle {cycle} train",
        **options,
    )


def train_fresh_supervised(task: str, trainer: Any, config: Any, dataset: Any, labeled: Any, cycle: int, strategy: Any, progress: bool, init_state: Any) -> Any:
    """A cycle's training for a task whose trainer takes labels only (segmentation, detection):
    :func:`fresh_cycle_training` with ``trainer``; a strategy that adds an unsupervised loss (TOD's)
    is refused by name, as that trainer cannot take it."""
    if strategy.training_loss() is not None:
        raise ValueError(f"strategy {strategy.name!r} adds an unsupervised training loss, which the {task} trainer does not take")
    return fresh_cycle_training(config, dataset, labeled, cycle, strategy, progress, init_state, trainer=trainer)
