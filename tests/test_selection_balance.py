"""altoolkit.analysis.selection_balance: batch class counts, entropy, largest share, the balance table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from altoolkit.analysis.selection_balance import (
    class_counts,
    largest_class_share,
    normalised_class_entropy,
    record_batch_balance,
    selection_balance_markdown,
    selection_balance_table,
)


def test_hand_values():
    assert class_counts([0, 2, 2, 1, 2], 4) == [1, 1, 3, 0]
    assert normalised_class_entropy([5, 5, 5, 5]) == pytest.approx(1.0)
    assert normalised_class_entropy([7, 0, 0]) == 0.0
    # two equal classes out of four: log 2 / log 4 = 0.5
    assert normalised_class_entropy([3, 3, 0, 0]) == pytest.approx(0.5)
    assert largest_class_share([1, 1, 3, 0]) == pytest.approx(0.6)
    assert math.isnan(normalised_class_entropy([0, 0]))
    with pytest.raises(ValueError, match="labels"):
        class_counts([0, 5], 3)


def _rec(name, selected_batches, counts=None, opts=None):
    cycles = [{"cycle": i, "selected": s, **({} if counts is None else {"selected_class_counts": counts[i]})} for i, s in enumerate(selected_batches)] + [
        {"cycle": len(selected_batches), "selected": []}
    ]
    return {"config": {"strategy": name, "strategy_options": opts or {}}, "strategy": {"name": name}, "dataset": {"num_classes": 2}, "cycles": cycles}


def test_table_from_indices_and_from_counts_agree():
    y = np.array([0, 0, 0, 1, 1, 1])
    a = _rec("disal", [[0, 1, 2, 3], [4, 5]])  # shares 0.75, 1.0
    b = _rec("disal", [[0, 3], [0, 1]])  # shares 0.5, 1.0
    c = _rec("disal", [[0, 1, 2, 3]], counts=[[3, 1]], opts={"batch": "balanced"})
    rows = selection_balance_table([a, b, c], y)
    assert [r["strategy"] for r in rows] == ["disal", "disal+balanced"]
    r = rows[0]
    assert r["runs"] == 2 and r["batches"] == 4
    assert r["mean_largest_share"] == pytest.approx((0.75 + 1 + 0.5 + 1) / 4)
    assert r["max_largest_share"] == 1.0 and r["min_entropy"] == 0.0
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)
    assert r["mean_entropy"] == pytest.approx((h + 0 + 1 + 0) / 4)
    assert rows[1]["mean_largest_share"] == pytest.approx(0.75)
    assert record_batch_balance(c)[0]["counts"] == [3, 1]  # stored counts need no labels
    with pytest.raises(ValueError, match="y_train"):
        record_batch_balance(a)
    md = selection_balance_markdown([a, b, c], y)
    assert "| disal+balanced | 1 | 1 | " in md and md.count("\n") == 3
    assert "| disal | 2 | 4 | 0.45 | 0.00 | 0.81 | 1.00 |" in md


def test_loop_records_selection_diagnostics(digits):
    import altoolkit as alt
    from altoolkit.training.models import build_model
    from altoolkit.analysis.selection_balance import selection_diagnostics

    rec = alt.run_active_learning(alt.ALConfig(strategy="entropy", epochs=2, cycles=2, batch_size=32), dataset=digits, progress=False)
    first, last = rec["cycles"]
    y = digits.y_train.numpy()
    assert first["selected_class_counts"] == class_counts(y[first["selected"]], 10)
    assert sum(first["selected_pseudo_class_counts"]) == len(first["selected"])
    assert first["selection_class_entropy"] == pytest.approx(normalised_class_entropy(first["selected_class_counts"]))
    assert 0.0 <= first["selection_class_entropy"] <= 1.0
    assert last["selected_class_counts"] == [0] * 10 and last["selection_class_entropy"] is None
    # pseudo counts are the argmax of the model that selected: a model predicting one class
    model = build_model("mlp", digits.input_shape, 10, seed=0)
    with __import__("torch").no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(__import__("torch").arange(10.0))
    d = selection_diagnostics(digits, model, [0, 5, 7])
    assert d["selected_pseudo_class_counts"] == [0] * 9 + [3]
    assert d["selected_class_counts"] == class_counts(y[[0, 5, 7]], 10)
