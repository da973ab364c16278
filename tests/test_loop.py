import json

import pytest

import altoolkit as alt
from altoolkit.engine.loop import budget_schedule

SMALL = dict(epochs=3, cycles=3, batch_size=32)


def test_budget_schedule_follows_the_paper():
    assert budget_schedule(1000, 0.1, 0.05, 7) == [100, 150, 200, 250, 300, 350, 400]


def test_same_seed_same_selections(digits):
    a = alt.run_active_learning(alt.ALConfig(strategy="disal", seed=4, **SMALL), dataset=digits, progress=False)
    b = alt.run_active_learning(alt.ALConfig(strategy="disal", seed=4, **SMALL), dataset=digits, progress=False)
    assert [c["selected"] for c in a["cycles"]] == [c["selected"] for c in b["cycles"]]
    assert [c["test_acc"] for c in a["cycles"]] == [c["test_acc"] for c in b["cycles"]]
    c = alt.run_active_learning(alt.ALConfig(strategy="disal", seed=5, **SMALL), dataset=digits, progress=False)
    assert c["initial_labeled"] != a["initial_labeled"]


def test_record_contents(digits, tmp_path):
    out = tmp_path / "r.json"
    rec = alt.run_active_learning(alt.ALConfig(strategy="entropy", **SMALL), out=out, dataset=digits, progress=False)
    assert json.loads(out.read_text()) == json.loads(json.dumps(rec))
    assert rec["finished"] and rec["config"]["strategy"] == "entropy"
    n = digits.n_train
    assert [c["n_labeled"] for c in rec["cycles"]] == [round(0.10 * n), round(0.15 * n), round(0.20 * n)]
    labeled = set(rec["initial_labeled"])
    for c in rec["cycles"][:-1]:
        sel = c["selected"]
        assert len(sel) == len(set(sel)) and not labeled & set(sel)
        assert c["train_seconds"] > 0 and c["select_seconds"] >= 0 and 0 <= c["test_acc"] <= 1
        labeled |= set(sel)
    assert rec["cycles"][-1]["selected"] == []


def test_resume_skips_finished_cycles(digits, tmp_path):
    out = tmp_path / "r.json"
    full = alt.run_active_learning(alt.ALConfig(strategy="disal", **SMALL), dataset=digits, progress=False)
    partial = alt.run_active_learning(alt.ALConfig(strategy="disal", **{**SMALL, "cycles": 2}), out=tmp_path / "p.json", dataset=digits, progress=False)
    # Fake an interrupted run: the first cycle of the full run only.
    rec = json.loads(json.dumps(full))
    rec["cycles"] = rec["cycles"][:1]
    rec["finished"] = False
    out.write_text(json.dumps(rec))
    seen = []
    resumed = alt.run_active_learning(alt.ALConfig(strategy="disal", **SMALL), out=out, dataset=digits, progress=False, on_cycle_end=seen.append)
    assert [e["cycle"] for e in seen] == [1, 2]
    assert [c["selected"] for c in resumed["cycles"]] == [c["selected"] for c in full["cycles"]]
    assert [c["test_acc"] for c in resumed["cycles"]] == [c["test_acc"] for c in full["cycles"]]
    assert partial["cycles"][0]["selected"] == full["cycles"][0]["selected"]


def test_existing_record_with_other_config_is_not_overwritten(digits, tmp_path):
    out = tmp_path / "r.json"
    alt.run_active_learning(alt.ALConfig(strategy="random", **SMALL), out=out, dataset=digits, progress=False)
    before = out.read_text()
    with pytest.raises(ValueError, match="different configuration"):
        alt.run_active_learning(alt.ALConfig(strategy="entropy", **SMALL), out=out, dataset=digits, progress=False)
    assert out.read_text() == before
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "altoolkit.al_rec')
    with pytest.raises(ValueError, match="not valid JSON"):
        alt.run_active_learning(alt.ALConfig(**SMALL), out=bad, dataset=digits, progress=False)
    assert bad.read_text() == '{"format": "altoolkit.al_rec'


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"strategy": "magic"}, "strategy must be one of random, entropy"),
        ({"dataset": "imagenet"}, "dataset must be one of digits"),
        ({"model": "vgg"}, "model must be one of mlp, cnn"),
        ({"initial_fraction": 0}, "initial_fraction must be in"),
        ({"step_fraction": 1.5}, "step_fraction must be in"),
        ({"cycles": 0}, "cycles must be an integer in \\[1, inf\\]"),
        ({"cycles": 20, "step_fraction": 0.1}, "must be at most 1"),
        ({"dynamic_weight": -1}, "dynamic_weight \\(λ\\) must be in"),
        ({"strategy": "disal", "strategy_options": {"largest": "yes"}}, "largest must be True or False"),
        ({"strategy": "random", "strategy_options": {"k": 3}}, "takes no options"),
    ],
)
def test_config_validation_names_parameter(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        alt.ALConfig(**kwargs)


def test_dynamic_weight_defaults_follow_strategy():
    assert alt.ALConfig(strategy="disal").effective_dynamic_weight() == 1.0
    assert alt.ALConfig(strategy="disal_no_selection").effective_dynamic_weight() == 1.0
    assert alt.ALConfig(strategy="disal_no_dynamic").effective_dynamic_weight() == 0.0
    assert alt.ALConfig(strategy="random").effective_dynamic_weight() == 0.0
    assert alt.ALConfig(strategy="disal", dynamic_weight=0.5).train_config().dynamic_weight == 0.5


def test_disal_flip_selects_the_other_end(digits):
    a = alt.run_active_learning(alt.ALConfig(strategy="disal", **{**SMALL, "cycles": 2}), dataset=digits, progress=False)
    b = alt.run_active_learning(alt.ALConfig(strategy="disal", strategy_options={"largest": False}, **{**SMALL, "cycles": 2}), dataset=digits, progress=False)
    assert not set(a["cycles"][0]["selected"]) & set(b["cycles"][0]["selected"])


def test_validation_set_is_held_out(digits):
    rec = alt.run_active_learning(alt.ALConfig(strategy="entropy", validation_size=100, **SMALL), dataset=digits, progress=False)
    val = set(rec["validation_indices"])
    assert len(val) == 100
    used = set(rec["initial_labeled"]).union(*[set(c["selected"]) for c in rec["cycles"]])
    assert not val & used
    assert rec["budgets"][0] == round(0.1 * (digits.n_train - 100))
    with pytest.raises(ValueError, match="validation_size must be smaller than the pool"):
        alt.run_active_learning(alt.ALConfig(validation_size=digits.n_train, **SMALL), dataset=digits, progress=False)
