"""The checks a run makes when it starts, and what binds a record to its data and model.

Inputs are validated where they enter (``ALConfig``, ``ALDataset``, ``from_arrays``, the
registries) and again here, where they can have changed since: an ``ALConfig`` or a dataset is
an ordinary mutable object, so ``cfg.cycles = 0`` or ``ds.y_test[0] = 77`` after construction
would otherwise reach the loop unchecked (an ``IndexError`` deep inside, a label that is scored).

A record is bound to what it was computed on: :func:`bind_record` stores a fingerprint of the
dataset (the shapes and dtype of both splits, the class names, a SHA-256 of the labels, and a
sample of the inputs: the sum and the sum of squares of 16 train and 8 test samples at fixed,
evenly spaced positions) and the model's output width.  A resumed run verifies them
(:func:`check_record_binding`) and refuses, naming the file, a record of other data or another
model.  The sample is compared with a relative tolerance of 1e-5, since float sums may differ in
their last bits between machines; labels and shapes are compared exactly.
"""

from __future__ import annotations

import copy
import hashlib
import math
import numbers
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import ALDataset, PoolDataset
from ..training.models import build_model
from ..training.output_checks import ModelOutputError, check_finite_output, check_logits

__all__ = [
    "RecordMismatchError",
    "recheck_config",
    "recheck_dataset",
    "check_subset_size",
    "probe_model",
    "dataset_fingerprint",
    "bind_record",
    "check_record_binding",
    "check_record_values",
]

#: Samples of each split whose sums enter the fingerprint.
SAMPLE_ROWS = {"train": 16, "test": 8}
_TOLERANCE = 1e-5


class RecordMismatchError(ValueError):
    """A record on disk was computed on other data, with another model or another configuration
    than the run that would resume or reuse it.  Attribute ``path``: the record's file."""

    def __init__(self, message: str, path: Any):
        super().__init__(message)
        self.path = Path(path) if path is not None else None


def _again(exc: Exception, what: str) -> Exception:
    """``exc`` (a ValueError/TypeError of a check) with a note that the check ran again at the
    start of the run; other exception types are returned unchanged."""
    if type(exc) in (ValueError, TypeError):
        return type(exc)(f"{what}: {exc} (checked again when the run starts: it changed after it was built)")
    return exc


def recheck_config(config: Any) -> Any:
    """An ``ALConfig`` checked again: rebuilt from its settings (:meth:`ALConfig.to_dict`), so
    every field is validated as at construction (``cfg.cycles = 0`` set afterwards is refused,
    naming ``cycles``).  Returns the rebuilt configuration."""
    try:
        return type(config).from_dict(config.to_dict())
    except (ValueError, TypeError) as exc:
        raise _again(exc, "ALConfig") from None


def recheck_dataset(dataset: Any) -> Any:
    """``dataset`` validated again (a shallow copy that its class checks as at construction:
    :class:`ALDataset` the label range, ``num_classes`` bound, shapes, finite real inputs; the
    other tasks' datasets their masks or boxes); ``TypeError`` when it is not an altoolkit dataset
    at all (``run_active_learning(cfg, dataset=(1, 2))``)."""
    if not isinstance(dataset, PoolDataset) or not hasattr(type(dataset), "__post_init__"):
        raise TypeError(
            f"dataset must be an altoolkit ALDataset (from altoolkit.from_arrays, load_dataset or a loader of your own), got {type(dataset).__name__}"
        )
    checked = copy.copy(dataset)
    try:
        type(checked).__post_init__(checked)  # type: ignore[attr-defined]
    except (ValueError, TypeError) as exc:
        raise _again(exc, f"dataset {dataset.name!r}") from None
    return checked


def check_subset_size(subset_size: int | None, budgets: list[int]) -> None:
    """A candidate subset must hold at least the samples each selection picks (the budgets are
    known once the pool's size is: ``ALConfig`` checks it against ``step_size`` only)."""
    if not subset_size or len(budgets) < 2:
        return
    step = max(b - a for a, b in zip(budgets, budgets[1:]))
    if subset_size < step:
        raise ValueError(
            f"subset_size (--subset-size) is {subset_size}, fewer than the {step} samples a selection picks "
            f"(labeled-set sizes {budgets}); each selection picks its batch out of the subset: give at least {step}, or 0 for the whole pool"
        )


def probe_model(model: str, dataset: ALDataset, device: str = "cpu", pretrained_weights: str | None = None, per_sample: bool = True) -> int:
    """Build ``model`` for ``dataset`` and run it on two training samples (eval mode, no
    gradient, its own seed: nothing of the run's random streams is drawn), before any training.

    Returns the output width.  Raises :class:`~altoolkit.training.output_checks.ModelOutputError`
    naming the model when it cannot take the dataset's inputs (a flat input to a CNN), returns
    something other than logits ``(batch, num_classes)`` (a tuple, 100 outputs for 10 classes), or
    already gives non-finite values untrained.  ``per_sample=False``: logits per pixel
    ``(batch, num_classes, ...)`` are expected (:func:`~altoolkit.training.output_checks.check_logits`)."""
    net = build_model(model, dataset.input_shape, dataset.num_classes, seed=0, pretrained_weights=pretrained_weights)
    n = min(2, dataset.n_train)
    xb = dataset.to_input(dataset.x_train[:n]).to(device)
    where = f"two samples of dataset {dataset.name!r} (inputs of shape {tuple(xb.shape)}), before training"
    net.to(device).eval()
    try:
        with torch.inference_mode():
            out = net(xb)
    except Exception as exc:
        raise ModelOutputError(f"model {model!r} cannot take the inputs of {where}: {type(exc).__name__}: {exc}", model) from exc
    check_logits(out, model, n, dataset.num_classes, where, per_sample=per_sample)
    check_finite_output(out, model, where, hint=": the untrained model already gives them, so no setting of lr, λ or weight decay is the cause")
    return int(out.shape[1])


def _sample_sums(x: torch.Tensor, rows: int) -> list[list[float]]:
    n = int(x.shape[0])
    if n == 0:
        return []
    picks = sorted({int(i) for i in np.linspace(0, n - 1, num=min(rows, n))})
    out = []
    for i in picks:
        v = x[i].detach().double().flatten()
        out.append([float(f"{float(v.sum()):.9g}"), float(f"{float((v * v).sum()):.9g}")])
    return out


def dataset_fingerprint(dataset: ALDataset) -> dict[str, Any]:
    """What a record stores of its dataset (see the module docstring)."""
    h = hashlib.sha256()
    for y in (dataset.y_train, dataset.y_test):
        if isinstance(y, torch.Tensor):  # class indices or masks
            h.update(y.detach().cpu().numpy().astype("<i8").tobytes())
        else:  # a task's label container (detection's BoxTargets) gives its own bytes
            h.update(y.tobytes())
    return {
        "x_train_shape": list(dataset.x_train.shape),
        "x_test_shape": list(dataset.x_test.shape),
        "dtype": str(dataset.x_train.dtype).replace("torch.", ""),
        "class_names": list(dataset.class_names),
        "labels_sha256": h.hexdigest(),
        "train_sample_sums": _sample_sums(dataset.x_train, SAMPLE_ROWS["train"]),
        "test_sample_sums": _sample_sums(dataset.x_test, SAMPLE_ROWS["test"]),
    }


def bind_record(record: dict[str, Any], dataset: ALDataset, output_width: int | None) -> dict[str, Any]:
    """Add the dataset's fingerprint (``record["dataset"]["fingerprint"]``) and the model's output
    width (``record["model_outputs"]``; not for a task whose outputs have no single width) to a new record."""
    record["dataset"]["fingerprint"] = dataset_fingerprint(dataset)
    if output_width is not None:
        record["model_outputs"] = int(output_width)
    return record


def _sums_differ(stored: Any, now: list[list[float]]) -> bool:
    if not isinstance(stored, list) or len(stored) != len(now):
        return True
    for a, b in zip(stored, now):
        if not (isinstance(a, list) and len(a) == 2 and all(isinstance(v, numbers.Real) for v in a)):
            return True
        scale = math.sqrt(abs(b[1])) * 10 + 1e-9  # the sum's rounding is relative to the values' size
        if not math.isclose(a[0], b[0], rel_tol=_TOLERANCE, abs_tol=_TOLERANCE * scale) or not math.isclose(a[1], b[1], rel_tol=_TOLERANCE, abs_tol=1e-12):
            return True
    return False


def _differences(record: dict[str, Any], dataset: ALDataset, output_width: int | None) -> list[str]:
    block = record.get("dataset")
    stored: dict[str, Any] = block if isinstance(block, dict) else {}
    now = {"n_train": dataset.n_train, "n_test": dataset.n_test, "num_classes": dataset.num_classes, "input_shape": list(dataset.input_shape)}
    diffs = [f"{k} {stored[k]!r} in the record, {v!r} now" for k, v in now.items() if k in stored and stored[k] != v]
    fp = stored.get("fingerprint")
    if fp is not None:
        current = dataset_fingerprint(dataset)
        if not isinstance(fp, dict):
            diffs.append("its dataset fingerprint is not a mapping")
            fp = {}
        for k in ("x_train_shape", "x_test_shape", "dtype", "class_names"):
            if k in fp and fp[k] != current[k]:
                diffs.append(f"{k} {fp[k]!r} in the record, {current[k]!r} now")
        if fp.get("labels_sha256") != current["labels_sha256"]:
            diffs.append("the labels differ (their SHA-256)")
        if _sums_differ(fp.get("train_sample_sums"), current["train_sample_sums"]) or _sums_differ(fp.get("test_sample_sums"), current["test_sample_sums"]):
            diffs.append("the inputs differ (a sample of 24 inputs)")
    width = record.get("model_outputs")
    if width is not None and width != output_width:
        diffs.append(f"the model gave {width!r} outputs per sample in the record, {output_width} now")
    return diffs


def check_record_binding(record: dict[str, Any], dataset: ALDataset, output_width: int | None, path: Any) -> None:
    """Refuse to resume ``record`` (read from ``path``) on a dataset or model other than the one it
    was computed with: its dataset block (sizes, classes, input shape), its fingerprint and its
    model output width are compared with this run's.  Records written before fingerprints existed
    are compared on their dataset block alone.  Raises :class:`RecordMismatchError` naming the file
    and every difference; nothing is written."""
    diffs = _differences(record, dataset, output_width)
    if diffs:
        raise RecordMismatchError(
            f"results file {str(path)!r} was computed on other data or with another model than this run's dataset "
            f"{dataset.name!r} and model: {'; '.join(diffs)}. Resuming would mix the two; choose another --out, or "
            "restore the data (nothing was overwritten)",
            path,
        )


def _real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def check_record_values(record: dict[str, Any], path: Any) -> None:
    """The values of a record's cycle entries a reader relies on: accuracies are numbers in
    [0, 1] (a hand-edited ``"abc"`` or ``37.5`` is refused, not summarised or resumed), sizes are
    positive integers, losses and seconds are numbers (seconds ≥ 0).  ``ValueError`` naming the
    file and the field; the structure itself (lists, indices) is checked where it is used."""
    cycles = record.get("cycles")
    if not isinstance(cycles, list):
        return
    where = f"results file {str(path)!r}"
    for i, e in enumerate(cycles):
        if not isinstance(e, dict):
            continue
        for key in ("test_acc", "best_epoch_test_acc", "fraction_labeled"):
            if key in e and not (_real(e[key]) and 0.0 <= float(e[key]) <= 1.0):
                raise ValueError(f"{where}: cycles[{i}].{key} is {e[key]!r}; it must be a number in [0, 1] (a share, not a percentage)")
        if "n_labeled" in e and (isinstance(e["n_labeled"], bool) or not isinstance(e["n_labeled"], int) or e["n_labeled"] < 1):
            raise ValueError(f"{where}: cycles[{i}].n_labeled is {e['n_labeled']!r}; it must be a positive integer")
        for key in ("train_seconds", "select_seconds"):
            if key in e and not (_real(e[key]) and float(e[key]) >= 0.0):
                raise ValueError(f"{where}: cycles[{i}].{key} is {e[key]!r}; it must be a number of seconds ≥ 0")
        if "final_train_loss" in e and not _real(e["final_train_loss"]):
            raise ValueError(f"{where}: cycles[{i}].final_train_loss is {e['final_train_loss']!r}; it must be a finite number")
