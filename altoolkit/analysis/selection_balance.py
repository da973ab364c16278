"""Class balance of selected batches (issue 10, item 1): counts, normalised entropy, largest share,
and the per-strategy "selection balance" table built from AL records.

The loop stores, per cycle, ``selected_class_counts`` (true labels of the batch),
``selected_pseudo_class_counts`` (the model's argmax) and ``selection_class_entropy``; the
functions here compute them and rebuild them from a record's ``selected`` indices and the
dataset's labels when a record predates those fields.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Iterable, Sequence

import numpy as np

from .results import markdown

__all__ = [
    "class_counts",
    "normalised_class_entropy",
    "largest_class_share",
    "batch_balance",
    "selection_diagnostics",
    "record_batch_balance",
    "strategy_label",
    "selection_balance_table",
    "selection_balance_markdown",
    "mean_share_by_seed",
]


def class_counts(labels: Sequence[int] | np.ndarray, num_classes: int) -> list[int]:
    """How many of ``labels`` fall in each class ``0..num_classes-1``."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}]; got values from {y.min()} to {y.max()}")
    return np.bincount(y, minlength=num_classes).astype(int).tolist()


def normalised_class_entropy(counts: Sequence[int]) -> float:
    """Entropy of the class distribution ``counts`` divided by log(num_classes): 1 for a batch
    spread evenly over all classes, 0 for a batch of one class.  ``nan`` for an empty batch."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size < 2 or (c < 0).any():
        raise ValueError("counts must be a 1-D sequence of at least 2 non-negative class counts")
    total = c.sum()
    if total == 0:
        return float("nan")
    p = c[c > 0] / total
    return float(max(0.0, -(p * np.log(p)).sum() / math.log(c.size)))  # a one-class batch gives 0.0, not -0.0


def largest_class_share(counts: Sequence[int]) -> float:
    """Share of the batch taken by its most frequent class (1/num_classes .. 1); ``nan`` if empty."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size < 1 or (c < 0).any():
        raise ValueError("counts must be a 1-D sequence of non-negative class counts")
    total = c.sum()
    return float(c.max() / total) if total > 0 else float("nan")


def batch_balance(labels: Sequence[int] | np.ndarray, num_classes: int) -> dict[str, Any]:
    """``{"counts", "entropy", "largest_share"}`` of one batch's labels."""
    counts = class_counts(labels, num_classes)
    return {"counts": counts, "entropy": normalised_class_entropy(counts), "largest_share": largest_class_share(counts)}


def selection_diagnostics(dataset: Any, model: Any, selected: Sequence[int], batch_size: int = 512, device: str = "cpu") -> dict[str, Any]:
    """The three per-cycle fields of an AL record for the batch ``selected`` (dataset indices):

    - ``selected_class_counts``: counts of the TRUE labels ``dataset.y_train[selected]`` (the loop
      simulates the oracle, so it has them);
    - ``selected_pseudo_class_counts``: counts of ``model``'s argmax on the selected samples
      (``model`` is the one that selected them, θ_T of the cycle);
    - ``selection_class_entropy``: :func:`normalised_class_entropy` of the true counts, in [0, 1];
      ``None`` for an empty batch (the last cycle selects nothing; JSON has no NaN).
    """
    import torch

    from ..training.inference import predict_logits

    c = int(dataset.num_classes)
    if len(selected) == 0:
        return {"selected_class_counts": [0] * c, "selected_pseudo_class_counts": [0] * c, "selection_class_entropy": None}
    idx = torch.as_tensor(list(selected), dtype=torch.long)
    counts = class_counts(dataset.y_train[idx].numpy(), c)
    logits = predict_logits(model, dataset.x_train, dataset.to_input, batch_size, device, indices=idx)
    assert isinstance(logits, torch.Tensor)  # predict_logits without embed= returns one tensor
    pseudo = class_counts(logits.argmax(1).numpy(), c)
    return {"selected_class_counts": counts, "selected_pseudo_class_counts": pseudo, "selection_class_entropy": normalised_class_entropy(counts)}


def record_batch_balance(record: Mapping[str, Any], y_train: Sequence[int] | np.ndarray | None = None) -> list[dict[str, Any]]:
    """Balance of every selected batch of an AL record (cycles with a non-empty selection).

    Uses each cycle's ``selected_class_counts`` when present, else the true labels
    ``y_train[selected]`` (``y_train`` is then required: the dataset's training labels).
    """
    num_classes = int(record["dataset"]["num_classes"])
    y = None if y_train is None else np.asarray(y_train)
    out = []
    for entry in record["cycles"]:
        if not entry.get("selected"):
            continue
        counts = entry.get("selected_class_counts")
        if counts is None:
            if y is None:
                raise ValueError(
                    "this record has no 'selected_class_counts'; pass y_train (the dataset's training labels) to compute them from the 'selected' indices"
                )
            counts = class_counts(y[np.asarray(entry["selected"], dtype=np.int64)], num_classes)
        out.append({"cycle": entry["cycle"], "counts": list(counts), "entropy": normalised_class_entropy(counts), "largest_share": largest_class_share(counts)})
    return out


def strategy_label(record: Mapping[str, Any]) -> str:
    """Label of a record's strategy in the figures' convention: ``name``, ``name+RULE`` when the
    batch rule is not the default ``topk`` (``disal+balanced``), then `` (λ=...)`` when λ was set
    explicitly and `` (key=value, ...)`` for other non-default options."""
    cfg = record.get("config", {})
    name = record.get("strategy", {}).get("name") or cfg.get("strategy", "?")
    opts = dict(cfg.get("strategy_options") or {})
    batch = opts.pop("batch", "topk")
    label = name if batch == "topk" else f"{name}+{batch}"
    if cfg.get("dynamic_weight") is not None:
        label += f" (λ={cfg['dynamic_weight']:g})"
    if opts:
        label += " (" + ", ".join(f"{k}={v}" for k, v in sorted(opts.items())) + ")"
    return label


def selection_balance_table(records: Iterable[Mapping[str, Any]], y_train: Sequence[int] | np.ndarray | None = None) -> list[dict[str, Any]]:
    """The "selection balance" table: one row per strategy label (name plus its options), over all
    selected batches of all its records (seeds pooled): ``strategy, runs, batches,
    mean_entropy, min_entropy, mean_largest_share, max_largest_share``.  Rows keep the order in
    which strategies first appear."""
    rows: dict[str, dict[str, Any]] = {}
    for rec in records:
        label = strategy_label(rec)
        row = rows.setdefault(label, {"strategy": label, "runs": 0, "_e": [], "_s": []})
        row["runs"] += 1
        for b in record_batch_balance(rec, y_train):
            row["_e"].append(b["entropy"])
            row["_s"].append(b["largest_share"])
    out = []
    for row in rows.values():
        e, s = np.asarray(row.pop("_e")), np.asarray(row.pop("_s"))
        row.update(
            batches=int(e.size),
            mean_entropy=float(e.mean()) if e.size else float("nan"),
            min_entropy=float(e.min()) if e.size else float("nan"),
            mean_largest_share=float(s.mean()) if s.size else float("nan"),
            max_largest_share=float(s.max()) if s.size else float("nan"),
        )
        out.append(row)
    return out


def selection_balance_markdown(records: Iterable[dict[str, Any]], y_train: Sequence[int] | np.ndarray | None = None) -> str:
    """The "selection balance" table of AL ``records`` as Markdown (one row per strategy label,
    seeds pooled; see :func:`selection_balance_table`): mean and minimum normalised class entropy
    of a selected batch, mean and maximum share of its largest class."""
    head = ["strategy", "runs", "batches", "mean class entropy", "min class entropy", "mean largest-class share", "max largest-class share"]
    cells = ("strategy", "runs", "batches", "mean_entropy", "min_entropy", "mean_largest_share", "max_largest_share")
    rows = [[f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cells] for r in selection_balance_table(records, y_train)]
    return markdown(head, rows)


def mean_share_by_seed(records: Iterable[Mapping[str, Any]], y_train: Sequence[int] | np.ndarray | None = None) -> dict[str, dict[int, float]]:
    """``{strategy label: {seed: mean largest-class share of the run's selected batches}}``, the
    per-seed quantity a paired verdict on the collapse of AL runs compares (notebooks 06 and 09)."""
    out: dict[str, dict[int, float]] = {}
    for r in records:
        shares = [b["largest_share"] for b in record_batch_balance(dict(r), y_train)]
        if shares:
            out.setdefault(strategy_label(dict(r)), {})[int(r["config"]["seed"])] = float(np.mean(shares))
    return out
