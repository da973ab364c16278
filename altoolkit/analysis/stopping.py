"""When to stop labeling: stopping criteria computed from AL records, and what stopping costs.

An active learner has no test labels, so a rule that says "stop here" may only read what the
learner sees: its own predictions.  Every AL record (from :func:`altoolkit.engine.loop.run_active_learning`)
keeps, per cycle, what three classic rules need (:func:`stopping_diagnostics`):

* ``stop_set_predictions``: the model's predicted class on a fixed *stop set*, a seeded random
  sample of the pool's unlabeled images drawn once at the start of a run (:func:`stop_set`;
  Bloodgood & Vijay-Shanker, "A method for stopping active learning based on stabilizing
  predictions and the need for user-adjustable stopping", CoNLL 2009), no labels needed;
* ``stop_set_entropy``: the mean entropy of the model's predictions on the stop set, divided by
  log(number of classes) (0 = certain, 1 = uniform);
* ``selected_confidence``: the mean top-class probability of the model on the batch it selected.

The rules (each gives the first cycle at which it would stop, or None):

* :func:`stabilizing_predictions` -- Cohen's kappa between the stop-set predictions of consecutive
  cycles; stop when the mean of the last ``window`` kappas reaches ``kappa`` (Bloodgood &
  Vijay-Shanker 2009: kappa 0.99, window 3; small-text's ``KappaAverage`` has the same defaults);
* :func:`overall_uncertainty` -- stop when the mean normalised entropy on the stop set falls below
  ``threshold`` (Zhu, Wang & Hovy, "Multi-criteria-based strategy to stop active learning for data
  annotation", COLING 2008; small-text's ``OverallUncertainty``; baal's ``LowAverageUncertainty``);
* :func:`selected_batch_confidence` -- stop when the model is confident even on the batch its
  strategy chose, the mean top-class probability of that batch reaching ``threshold`` (Zhu et al.'s
  "max-confidence": the learner no longer finds samples it is unsure of).

:func:`stop_points` applies the rules to records, and :func:`stopping_table` says, per strategy and
rule, at how many labels it would have stopped and how much test accuracy that gives up against
the run's last cycle (the test labels are used for this evaluation only, never by a rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .tables import Table

__all__ = [
    "STOP_SET_SIZE",
    "stop_set",
    "stopping_diagnostics",
    "cohen_kappa",
    "kappa_series",
    "stabilizing_predictions",
    "overall_uncertainty",
    "selected_batch_confidence",
    "CRITERIA",
    "criteria",
    "StopPoint",
    "stop_points",
    "stopping_table",
    "has_stopping_fields",
    "signal_curves",
    "records_by_label",
]

#: Size of the stop set (Bloodgood & Vijay-Shanker use a few thousand unlabeled examples of text;
#: 500 images keep a kappa's standard error near 0.01 and cost one forward pass per cycle).
STOP_SET_SIZE = 500
FIELDS = ("stop_set_predictions", "stop_set_entropy", "selected_confidence")


def stop_set(unlabeled: Sequence[int] | np.ndarray, seed: int, size: int = STOP_SET_SIZE) -> list[int]:
    """A seeded random sample of ``size`` indices of ``unlabeled`` (all of them when fewer), sorted."""
    pool = np.asarray(list(unlabeled), dtype=np.int64)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    k = min(int(size), len(pool))
    rng = np.random.default_rng(int(seed))
    return sorted(int(i) for i in rng.choice(pool, size=k, replace=False)) if k else []


def _probabilities(dataset: Any, model: Any, idx: Sequence[int], batch_size: int, device: str) -> np.ndarray:
    import torch

    from ..training.inference import predict_logits

    logits = predict_logits(model, dataset.x_train, dataset.to_input, batch_size, device, indices=torch.as_tensor(list(idx), dtype=torch.long))
    assert isinstance(logits, torch.Tensor)
    return torch.softmax(logits.double(), dim=1).numpy()


def _normalised_entropy(p: np.ndarray) -> np.ndarray:
    c = p.shape[1]
    h = -(p * np.log(np.clip(p, 1e-300, None))).sum(1)
    return h / np.log(c) if c > 1 else np.zeros(len(p))


def stopping_diagnostics(
    dataset: Any, model: Any, stop_idx: Sequence[int], selected: Sequence[int], batch_size: int = 512, device: str = "cpu"
) -> dict[str, Any]:
    """The per-cycle fields of an AL record that the stopping rules read (see the module docstring):
    ``stop_set_predictions`` (list of class indices), ``stop_set_entropy`` and
    ``selected_confidence`` (floats; ``None`` when the cycle selected nothing)."""
    out: dict[str, Any] = {"stop_set_predictions": [], "stop_set_entropy": None, "selected_confidence": None}
    if len(stop_idx):
        p = _probabilities(dataset, model, stop_idx, batch_size, device)
        out["stop_set_predictions"] = [int(c) for c in p.argmax(1)]
        out["stop_set_entropy"] = float(_normalised_entropy(p).mean())
    if len(selected):
        out["selected_confidence"] = float(_probabilities(dataset, model, selected, batch_size, device).max(1).mean())
    return out


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float:
    """Cohen's kappa of two label sequences: (p_o - p_e) / (1 - p_e), with p_o the share of equal
    labels and p_e the agreement expected from the two label frequencies; 1.0 when both give one
    and the same label to everything (p_e = 1).

    >>> cohen_kappa([0, 1, 1, 2], [0, 1, 1, 2])
    1.0
    >>> round(cohen_kappa([0, 0, 1, 1], [0, 1, 0, 1]), 3)
    0.0
    """
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape or x.ndim != 1 or not len(x):
        raise ValueError(f"a and b must be two non-empty label sequences of the same length; got {x.shape} and {y.shape}")
    labels = np.union1d(x, y)
    po = float(np.mean(x == y))
    pe = float(sum(np.mean(x == c) * np.mean(y == c) for c in labels))
    return 1.0 if pe >= 1.0 else (po - pe) / (1.0 - pe)


def has_stopping_fields(record: Mapping[str, Any]) -> bool:
    """Whether every cycle of ``record`` has the fields the rules read (records computed before
    altoolkit recorded them do not)."""
    return bool(record.get("cycles")) and all(all(f in c for f in FIELDS) and c["stop_set_predictions"] for c in record["cycles"])


def kappa_series(record: Mapping[str, Any]) -> list[float]:
    """Kappa between the stop-set predictions of cycles c-1 and c, for c = 1, 2, ..."""
    preds = [c["stop_set_predictions"] for c in record["cycles"]]
    return [cohen_kappa(preds[i - 1], preds[i]) for i in range(1, len(preds))]


def stabilizing_predictions(record: Mapping[str, Any], kappa: float = 0.99, window: int = 3) -> int | None:
    """First cycle whose last ``window`` kappas (:func:`kappa_series`) average at least ``kappa``."""
    ks = kappa_series(record)
    for c in range(window, len(ks) + 1):
        if np.mean(ks[c - window : c]) >= kappa:
            return c  # kappa k_i compares cycles i and i+1, so k_{c-1} ends at cycle c
    return None


def overall_uncertainty(record: Mapping[str, Any], threshold: float = 0.1) -> int | None:
    """First cycle whose mean normalised entropy on the stop set is below ``threshold``."""
    for i, c in enumerate(record["cycles"]):
        if c["stop_set_entropy"] is not None and c["stop_set_entropy"] < threshold:
            return i
    return None


def selected_batch_confidence(record: Mapping[str, Any], threshold: float = 0.9) -> int | None:
    """First cycle whose selected batch has a mean top-class probability of at least ``threshold``."""
    for i, c in enumerate(record["cycles"]):
        if c["selected_confidence"] is not None and c["selected_confidence"] >= threshold:
            return i
    return None


def criteria(kappa: float = 0.99, window: int = 3, entropy: float = 0.1, confidence: float = 0.9) -> dict[str, Callable[[Mapping[str, Any]], int | None]]:
    """The three rules with these parameters, named with them (the names are the table's rows)."""
    if not 0 < kappa <= 1 or window < 1 or not 0 < entropy < 1 or not 0 < confidence <= 1:
        raise ValueError(f"need 0 < kappa <= 1, window >= 1, 0 < entropy < 1, 0 < confidence <= 1; got {kappa}, {window}, {entropy}, {confidence}")
    return {
        f"stabilizing predictions (kappa >= {kappa:g}, window {window})": lambda r: stabilizing_predictions(r, kappa, window),
        f"overall uncertainty (stop-set entropy < {entropy:g})": lambda r: overall_uncertainty(r, entropy),
        f"selected-batch confidence (>= {confidence:g})": lambda r: selected_batch_confidence(r, confidence),
    }


#: The rules with their default parameters.
CRITERIA = criteria()


@dataclass(frozen=True)
class StopPoint:
    """Where one rule stops one run: its cycle (None: never within the run), the labels at that
    cycle, the test accuracy there and at the run's last cycle."""

    criterion: str
    seed: int
    cycle: int | None
    n_labeled: int
    acc_at_stop: float
    final_n_labeled: int
    final_acc: float

    @property
    def stopped(self) -> bool:
        return self.cycle is not None

    @property
    def accuracy_given_up(self) -> float:
        """Final accuracy minus the accuracy where the rule stops (0 when it never stops)."""
        return self.final_acc - self.acc_at_stop

    @property
    def labels_saved(self) -> int:
        return self.final_n_labeled - self.n_labeled


def stop_points(records: Iterable[Mapping[str, Any]], criteria: Mapping[str, Callable[[Mapping[str, Any]], int | None]] | None = None) -> list[StopPoint]:
    """Apply every rule to every finished record that has the stopping fields (others are skipped).
    A rule that never fires stops at the last cycle (the run's budget ran out first)."""
    out = []
    for r in records:
        if not r.get("finished") or not has_stopping_fields(r):
            continue
        cycles = r["cycles"]
        for name, rule in (criteria or CRITERIA).items():
            c = rule(r)
            at = cycles[c] if c is not None else cycles[-1]
            out.append(
                StopPoint(
                    name, int(r["config"]["seed"]), c, int(at["n_labeled"]), float(at["test_acc"]), int(cycles[-1]["n_labeled"]), float(cycles[-1]["test_acc"])
                )
            )
    return out


def stopping_table(
    records_by_label: Mapping[str, Iterable[Mapping[str, Any]]],
    criteria: Mapping[str, Callable[[Mapping[str, Any]], int | None]] | None = None,
) -> Table:
    """Per strategy and rule: how many seeds' runs it stopped before the budget ran out, the mean
    label count at the stop (the last cycle's where it did not stop), and the mean test accuracy
    given up against the last cycle (± std over seeds, in points)."""
    rows = []
    for label, recs in records_by_label.items():
        points = stop_points(recs, criteria)
        for name in criteria or CRITERIA:
            ps = [p for p in points if p.criterion == name]
            if not ps:
                continue
            given = np.array([p.accuracy_given_up for p in ps]) * 100
            spread = f" ± {given.std(ddof=1):.1f}" if len(ps) > 1 else ""
            rows.append(
                [
                    label,
                    name,
                    f"{sum(p.labels_saved > 0 for p in ps)}/{len(ps)}",
                    f"{np.mean([p.n_labeled for p in ps]):.0f} of {ps[0].final_n_labeled}",
                    f"{given.mean():.1f}{spread}",
                ]
            )
    head = ["strategy", "rule", "seeds stopped early", "labels at the stop (mean)", "accuracy given up (points)"]
    return Table(head, rows, caption="where each stopping rule would have stopped, against the run's last cycle", align="llrrr")


def signal_curves(records: Iterable[Mapping[str, Any]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The rules' signals against the labels, mean over the records (seeds) that have them:
    ``{"kappa": (n_labeled[1:], mean kappa), "stop-set entropy": (n_labeled, ...),
    "selected-batch confidence": (n_labeled[:-1], ...)}``."""
    recs = [r for r in records if has_stopping_fields(r)]
    if not recs:
        raise ValueError("no record with the stopping fields (stop_set_predictions, ...); records computed before altoolkit recorded them have none")
    n = np.array([c["n_labeled"] for c in recs[0]["cycles"]])
    kappa = np.mean([kappa_series(r) for r in recs], axis=0)
    entropy = np.mean([[c["stop_set_entropy"] for c in r["cycles"]] for r in recs], axis=0)
    conf = np.mean([[c["selected_confidence"] for c in r["cycles"][:-1]] for r in recs], axis=0)
    return {"kappa": (n[1:], kappa), "stop-set entropy": (n, entropy), "selected-batch confidence": (n[:-1], conf)}


def records_by_label(records: Iterable[Mapping[str, Any]], label: Callable[[Any], str] | None = None) -> dict[str, list[Mapping[str, Any]]]:
    """Records grouped by ``label`` (default: :func:`altoolkit.analysis.results.record_label`), in
    the order their labels first appear."""
    from .results import record_label

    out: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        out.setdefault((label or record_label)(dict(r)), []).append(r)
    return out
