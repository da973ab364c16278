"""altoolkit.drivers.why_selections_collapse: notebook 09's labeled splits, stripped layers, moved
states and its AL measurement (the interventions: tests/test_collapse_interventions.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import altoolkit as alt
from altoolkit.drivers import why_selections_collapse as cs
from altoolkit.training.models import build_model


def test_strip_layers_makes_train_and_eval_mode_equal(digits):
    m = build_model("cnn", digits.input_shape, 10, seed=0)
    x = digits.to_input(digits.x_train[:16])
    cs.strip_layers(m, batchnorm=False, dropout=False)
    assert not any(isinstance(k, (nn.BatchNorm2d, nn.Dropout)) for k in m.modules())
    torch.manual_seed(0)
    assert torch.allclose(m.train()(x), m.eval()(x))
    m2 = cs.strip_layers(build_model("cnn", digits.input_shape, 10, seed=0), batchnorm=False)
    assert any(isinstance(k, nn.Dropout) for k in m2.modules()) and not any(isinstance(k, nn.BatchNorm2d) for k in m2.modules())


def test_labeled_split_is_seeded_and_disjoint():
    a, b = cs.labeled_split(100, 10, 3)
    assert len(a) == 10 and len(b) == 90 and not set(a.tolist()) & set(b.tolist())
    assert torch.equal(a, cs.labeled_split(100, 10, 3)[0]) and not torch.equal(a, cs.labeled_split(100, 10, 4)[0])
    with pytest.raises(ValueError, match="n_labeled"):
        cs.labeled_split(10, 10, 0)


def test_moved_state():
    a = {"w": torch.zeros(2), "b": torch.ones(1), "n": torch.tensor(1)}
    b = {"w": torch.full((2,), 2.0), "b": torch.full((1,), 3.0), "n": torch.tensor(5)}
    m = cs.moved_state(a, b, ["b"])
    assert m["w"].tolist() == [0.0, 0.0] and m["b"].tolist() == [3.0] and a["b"].tolist() == [1.0]
    with pytest.raises(ValueError, match="keys"):
        cs.moved_state(a, b, ["nope"])


def _rec(name, seed, accs, secs, batch=None):
    cycles = [
        {"n_labeled": n, "fraction_labeled": f, "test_acc": a, "train_seconds": s, "select_seconds": 0.0}
        for n, f, a, s in zip([10, 20, 30], [0.1, 0.2, 0.3], accs, secs)
    ]
    return {
        "config": {"strategy": name, "seed": seed, "strategy_options": {} if batch is None else {"batch": batch}},
        "strategy": {"name": name},
        "cycles": cycles,
        "finished": True,
    }


def test_measurement_verdicts_and_seconds_ratio():
    recs = []
    for seed in range(4):
        recs.append(_rec("random", seed, [0.5, 0.6, 0.7], [1.0, 1.0, 1.0]))
        recs.append(_rec("disal", seed, [0.5, 0.7 + 0.01 * seed, 0.8], [2.0, 2.0, 9.0], batch="balanced"))
    v = cs.measurement_verdicts(recs, variants=["disal+balanced"], references=["random"])
    assert v[("disal+balanced", "random")].verdict == "holds" and v[("disal+balanced", "random")].n == 4
    assert cs.seconds_ratio(recs) == {"random": 1.0, "disal+balanced": 2.0}  # the last cycle does not select
    with pytest.raises(ValueError, match="entropy"):
        cs.measurement_verdicts(recs, variants=["disal+balanced"], references=["entropy"])
    recs[0]["finished"] = False  # a verdict over part of a learning curve would compare unlike areas
    with pytest.raises(ValueError, match="not finished"):
        cs.measurement_verdicts(recs, variants=["disal+balanced"], references=["random"])


def test_measurement_configs_cover_rules_and_baselines():
    base = alt.ALConfig(epochs=2, cycles=2)
    cfgs = cs.measurement_configs(base, [0, 1])
    got = {(c.strategy, c.strategy_options.get("batch", "topk"), c.seed) for c in cfgs}
    assert len(cfgs) == 12 and ("disal", "diverse", 1) in got and ("entropy", "topk", 0) in got


def test_mean_share_by_seed():
    y = np.array([0, 0, 1, 1])
    recs = []
    for seed, batches in ((0, [[0, 1], [2, 3]]), (1, [[0, 2], [1]])):
        cycles = [{"cycle": i, "selected": b} for i, b in enumerate(batches)] + [{"cycle": 2, "selected": []}]
        recs.append(
            {
                "config": {"strategy": "disal", "seed": seed, "strategy_options": {}},
                "strategy": {"name": "disal"},
                "dataset": {"num_classes": 2},
                "cycles": cycles,
            }
        )
    assert alt.analysis.selection_balance.mean_share_by_seed(recs, y) == {"disal": {0: 1.0, 1: 0.75}}
