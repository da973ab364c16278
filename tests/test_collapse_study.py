"""altoolkit.drivers.why_selections_collapse: the pieces of notebook 09's root-cause study and its measurement."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import altoolkit as alt
from altoolkit.drivers import why_selections_collapse as cs
from altoolkit.training.models import build_model
from altoolkit.math.scores import disal_kl_from_logits

TINY = dict(n_labeled=20, budget=10, epochs=4, average_epochs=2, lambdas=(0.0, 1.0), schedules=("step", "constant"))


@pytest.fixture(scope="module")
def small():
    """240 digits for the pool, 60 for the test split: the study's many pool passes stay cheap."""
    d = alt.load_digits(seed=0)
    return alt.from_arrays(d.x_train[:240], d.y_train[:240], d.x_test[:60], d.y_test[:60], num_classes=10, name="digits240")


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


def test_moved_and_averaged_states():
    a = {"w": torch.zeros(2), "b": torch.ones(1), "n": torch.tensor(1)}
    b = {"w": torch.full((2,), 2.0), "b": torch.full((1,), 3.0), "n": torch.tensor(5)}
    m = cs.moved_state(a, b, ["b"])
    assert m["w"].tolist() == [0.0, 0.0] and m["b"].tolist() == [3.0] and a["b"].tolist() == [1.0]
    avg = cs.averaged_state([a, b])
    assert avg["w"].tolist() == [1.0, 1.0] and avg["b"].tolist() == [2.0] and int(avg["n"]) == 5
    with pytest.raises(ValueError, match="keys"):
        cs.moved_state(a, b, ["nope"])


def test_moving_everything_gives_the_full_kl_and_moving_nothing_gives_zero(small):
    digits = small
    setting = cs.StudySetting(**TINY)
    lab, unl = cs.labeled_split(digits.n_train, 20, 0)
    res = cs.train_study_model(digits, setting, lab, 0)
    full = cs.disal_scores(digits, res, lab, unl)
    last = res.model.state_dict()
    moved_all = cs.moved_state(res.prev_state, last, list(last))
    assert torch.allclose(cs.kl_between_states(res.model, res.prev_state, moved_all, digits, unl), full, atol=1e-6)
    assert float(cs.kl_between_states(res.model, res.prev_state, res.prev_state, digits, unl).abs().max()) == 0.0
    # the strategy's score is the KL of the two checkpoints' logits
    prev, now = alt.training.inference.predict_logits([res.prev_model(), res.model], digits.x_train, digits.to_input, indices=unl)
    assert torch.allclose(full, disal_kl_from_logits(prev, now))


def test_topk_share_and_class_mass_by_hand():
    scores = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    labels = torch.tensor([1, 1, 0, 1, 0])
    assert cs.topk_share(scores, labels, 2, 2) == 1.0
    assert cs.topk_share(scores, labels, 3, 2) == pytest.approx(2 / 3)
    assert cs.class_mass_share(scores, labels, 2) == pytest.approx(11 / 15)


def test_running_mean_gap_is_zero_for_equal_means():
    p = torch.softmax(torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), 1)
    g = cs.running_mean_gap(p, p, p)
    assert g == pytest.approx({"kl_train_eval": 0.0, "dyn_train": 0.0, "dyn_eval": 0.0}, abs=1e-12)
    q = torch.softmax(torch.randn(6, 3, generator=torch.Generator().manual_seed(1)), 1)
    assert cs.running_mean_gap(p, q, q)["dyn_eval"] == pytest.approx(0.0, abs=1e-12)
    assert cs.running_mean_gap(p, q, q)["kl_train_eval"] > 0


@pytest.fixture(scope="module")
def rows(small):
    return cs.run_study(small, cs.StudySetting(**TINY), [0, 1], progress=False)


def test_study_rows_hold_every_measurement_in_range(rows):
    r = rows[0]
    for key in (
        "share_disal",
        "share_random",
        "share_no_bn",
        "share_no_dropout",
        "share_plain",
        "share_lam0",
        "share_lam1",
        "share_sched_constant",
        "share_head_only",
        "share_bias_only",
        "share_bn_stats_only",
        "share_avg_kl",
        "share_swa",
        "share_subset",
    ):
        assert 0.1 - 1e-9 <= r[key] <= 1.0, key  # 10 classes, budget 10
    assert r["share_lam1"] == r["share_disal"] and r["share_sched_step"] == r["share_disal"]
    assert r["step_norm_disal"] > 0 and 0 < r["mass_disal"] <= 1
    assert np.isfinite(r["head_explained_topk"]) and r["head_explained_topk"] >= 0
    assert r["kl_train_eval"] >= 0 and r["dyn_train"] >= 0 and r["dyn_eval"] >= 0
    assert [x["seed"] for x in rows] == [0, 1]


def test_study_is_deterministic(rows, small):
    again = cs.study_seed(small, cs.StudySetting(**TINY), 1)
    assert again == rows[1]


def test_verdicts_and_table(rows):
    setting = cs.StudySetting(**TINY)
    v = cs.hypothesis_verdicts(rows, setting)
    assert {
        "collapse",
        "batchnorm",
        "dropout",
        "last_layer",
        "bn_stats",
        "lambda",
        "schedule_constant",
        "averaging",
        "swa",
        "subset",
        "head_explains_half",
        "bn_stats_explains_half",
    } <= set(v)
    assert all(x.verdict in alt.math.stats.VERDICTS and x.n == 2 for x in v.values())
    d = [rows[0]["share_disal"] - rows[0]["share_random"], rows[1]["share_disal"] - rows[1]["share_random"]]
    assert v["collapse"].mean == pytest.approx(np.mean(d))
    table = cs.study_table(rows, setting)
    assert "| disal |" in table and "| bn_stats_only |" in table and "| lam0 |" in table


def test_setting_rejects_bad_values():
    with pytest.raises(ValueError, match="average_epochs"):
        cs.StudySetting(epochs=4, average_epochs=4)
    with pytest.raises(ValueError, match="schedules"):
        cs.StudySetting(schedules=("step", "warmup"))
    with pytest.raises(ValueError, match="model"):
        cs.StudySetting(model="resnet18")


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


def test_plots_of_the_study(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from altoolkit.plotting import collapse as plots_collapse

    rows = [{"seed": s, "share_disal": 0.9, "share_random": 0.2 + 0.01 * s, "share_no_bn": 0.5} for s in range(3)]
    fig = plots_collapse.plot_study_shares(rows, ["disal", "no_bn"])
    assert len(fig.axes[0].patches) == 2
    with pytest.raises(ValueError, match="lam0"):
        plots_collapse.plot_study_shares(rows, ["lam0"])
    v = {"a": alt.math.stats.verdict([0.1, 0.2, 0.15], "a"), ("x", "y"): alt.math.stats.verdict([-0.1, 0.2], "b")}
    fig = plots_collapse.plot_verdicts(v)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "x > y"]
    recs = [_rec("random", 0, [0.5, 0.6, 0.7], [1, 1, 1])]
    for c, sel in zip(recs[0]["cycles"], ([0, 1], [2], [])):
        c["selected"], c["cycle"] = sel, 0
    recs[0]["dataset"] = {"num_classes": 2}
    fig = plots_collapse.plot_selection_balance(recs, np.array([0, 0, 1]))
    assert len(fig.axes) == 2
    alt.plotting.curves.save_figure(fig, tmp_path, "balance")
    assert (tmp_path / "balance.png").exists()


def test_mean_share_by_seed_and_split_by_verdict():
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
    v = {"a": alt.math.stats.verdict([1.0, 1.1]), "b": alt.math.stats.verdict([-1.0, -1.1]), "c": alt.math.stats.verdict([1.0, -1.0])}
    assert cs.split_by_verdict(v) == {"holds": ["a"], "contradicted": ["b"], "inconclusive": ["c"]}
