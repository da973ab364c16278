"""Stopping criteria (issue 28, altoolkit.analysis.stopping): the record fields the AL loop writes,
Cohen's kappa, the three rules on records built by hand, and the table of stop points."""

from __future__ import annotations

import numpy as np
import pytest

from altoolkit.analysis import stopping


def _record(preds, entropy, confidence, acc, seed=0, n0=10, step=10):
    cycles = [
        {
            "n_labeled": n0 + step * i,
            "test_acc": a,
            "stop_set_predictions": p,
            "stop_set_entropy": e,
            "selected_confidence": c,
        }
        for i, (p, e, c, a) in enumerate(zip(preds, entropy, confidence, acc))
    ]
    return {"config": {"seed": seed}, "finished": True, "cycles": cycles}


def test_cohen_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 300)
    b = np.where(rng.random(300) < 0.7, a, rng.integers(0, 5, 300))
    assert stopping.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert stopping.cohen_kappa([2, 2, 2], [2, 2, 2]) == 1.0
    with pytest.raises(ValueError, match="same length"):
        stopping.cohen_kappa([1, 2], [1])


def test_rules_stop_where_their_signal_crosses():
    base = [0, 1, 2, 3] * 25
    noisy = [(i * 7) % 4 for i in range(100)]
    preds = [noisy, base, base, base, base]  # kappas: low, 1, 1, 1
    r = _record(preds, [0.5, 0.3, 0.15, 0.08, 0.05], [0.4, 0.6, 0.92, 0.95, None], [0.5, 0.6, 0.7, 0.75, 0.76])
    assert stopping.kappa_series(r)[1:] == [1.0, 1.0, 1.0]
    assert stopping.stabilizing_predictions(r, kappa=0.99, window=3) == 4
    assert stopping.stabilizing_predictions(r, kappa=0.99, window=2) == 3
    assert stopping.overall_uncertainty(r, 0.1) == 3
    assert stopping.selected_batch_confidence(r, 0.9) == 2
    assert stopping.selected_batch_confidence(r, 0.99) is None
    points = {p.criterion: p for p in stopping.stop_points([r], stopping.criteria(window=2))}
    p = points["overall uncertainty (stop-set entropy < 0.1)"]
    assert (p.cycle, p.n_labeled, p.labels_saved) == (3, 40, 10) and p.accuracy_given_up == pytest.approx(0.01)
    never = points["selected-batch confidence (>= 0.9)"]
    assert never.cycle == 2
    table = stopping.stopping_table({"disal": [r, _record(preds, [0.5] * 5, [0.1] * 5, [0.5, 0.6, 0.7, 0.75, 0.8], seed=1)]}, stopping.criteria(window=2))
    rows = {row[1]: row for row in table.rows}
    assert rows["overall uncertainty (stop-set entropy < 0.1)"][2] == "1/2", "the second run never gets certain enough"
    with pytest.raises(ValueError, match="kappa"):
        stopping.criteria(kappa=1.5)


def test_records_without_the_fields_are_skipped():
    old = {"config": {"seed": 0}, "finished": True, "cycles": [{"n_labeled": 10, "test_acc": 0.5}]}
    assert not stopping.has_stopping_fields(old) and stopping.stop_points([old]) == []


def test_the_loop_records_a_fixed_stop_set_and_the_fields():
    import altoolkit as alt

    data = alt.load_digits(seed=0)
    cfg = alt.ALConfig(strategy="entropy", model="mlp", cycles=3, epochs=2, seed=0)
    rec = alt.run_active_learning(cfg, dataset=data, progress=False)
    assert len(rec["stop_set"]) == stopping.STOP_SET_SIZE and not set(rec["stop_set"]) & set(rec["initial_labeled"])
    assert stopping.has_stopping_fields(rec)
    assert all(len(c["stop_set_predictions"]) == stopping.STOP_SET_SIZE for c in rec["cycles"])
    assert all(0 <= c["stop_set_entropy"] <= 1 for c in rec["cycles"])
    assert [c["selected_confidence"] is None for c in rec["cycles"]] == [False, False, True]
    again = alt.run_active_learning(cfg, dataset=data, progress=False)
    assert again["stop_set"] == rec["stop_set"] and again["cycles"][1]["stop_set_predictions"] == rec["cycles"][1]["stop_set_predictions"]
    assert len(stopping.stop_points([rec])) == len(stopping.CRITERIA)
