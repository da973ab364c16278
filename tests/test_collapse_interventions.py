"""Notebook 09's intervention study (issue 25, items 1-2): each intervention removes what it says,
the decomposition adds up, rows are deterministic, and the verdicts read the right columns."""

import numpy as np
import pytest
import torch
from torch import nn

import altoolkit as alt
from altoolkit.drivers import why_selections_collapse as ci


@pytest.fixture(scope="module")
def small_pool():
    ds = alt.load_digits(seed=0)
    return alt.from_arrays(ds.x_train[:200], ds.y_train[:200], ds.x_test[:100], ds.y_test[:100], num_classes=10, name="digits[:200]")


TINY = ci.Regime("tiny", n_labeled=32, budget=16, epochs=2, batch_size=16)


def test_exact_batchnorm_statistics_are_the_population_moments():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 2))
    x = torch.randn(50, 3)
    state = ci.exact_batchnorm_state(net, net.state_dict(), x, lambda t: t, batch_size=4096)
    h = net[0](x).detach()
    assert torch.allclose(state["1.running_mean"], h.mean(0), atol=1e-6)
    assert torch.allclose(state["1.running_var"], h.var(0, unbiased=True), atol=1e-5)
    # the weights are the given state's, and the template is left untouched
    assert torch.equal(state["0.weight"], net.state_dict()["0.weight"])
    assert torch.equal(net.state_dict()["1.running_mean"], torch.zeros(4))


def test_shapley_split_adds_up_and_is_symmetric():
    g = torch.Generator().manual_seed(1)
    w, b, full = (torch.rand(30, generator=g) for _ in range(3))
    pw, pb = ci.shapley_split(w, b, full)
    assert torch.allclose(pw + pb, full.double(), atol=1e-12)
    qb, qw = ci.shapley_split(b, w, full)
    assert torch.allclose(pw, qw) and torch.allclose(pb, qb)
    # additive moves: each part gets exactly its own KL
    pw, pb = ci.shapley_split(w, b, w + b)
    assert torch.allclose(pw, w.double(), atol=1e-7) and torch.allclose(pb, b.double(), atol=1e-7)


def test_intervention_rows_move_what_they_say_and_are_deterministic(small_pool, monkeypatch):
    seen = []
    real = ci._kl

    def spy(model, a, b, dataset, idx):
        seen.append((dict(a), dict(b)))
        return real(model, a, b, dataset, idx)

    monkeypatch.setattr(ci, "_kl", spy)
    row = ci.intervention_seed(small_pool, TINY, 3, no_bn_lengths=(1, 2))
    monkeypatch.setattr(ci, "_kl", real)
    assert row == ci.intervention_seed(small_pool, TINY, 3, no_bn_lengths=(1, 2))
    for v in ci.VARIANTS:
        assert 1 / 10 <= row[f"share_{v}"] <= 1
    assert abs(row["shapley_weights_topk"] + row["shapley_buffers_topk"] - 1) < 1e-9
    assert row["no_bn_epochs"] in (TINY.epochs, 2 * TINY.epochs)
    assert all(0 <= row[k] <= 1 for k in ("acc_base", "acc_no_bn_matched", "acc_no_dynamic", "pseudo_share", "top_class_is_worst"))
    assert -1 <= row["picks_error_spearman"] <= 1
    # weights_only: θ_T's parameters with θ_T-1's buffers; buffers_only: the complement
    (prev, weights_only), (_, buffers_only) = seen[0], seen[1]
    buffers = ci._buffer_keys(prev)
    params = [k for k in prev if k not in buffers]
    assert all(torch.equal(weights_only[k], prev[k]) for k in buffers)
    assert any(not torch.equal(weights_only[k], prev[k]) for k in params)
    assert all(torch.equal(buffers_only[k], prev[k]) for k in params)
    assert any(not torch.equal(buffers_only[k], prev[k]) for k in buffers if "running" in k)


def _rows(full, random, **others):
    rows = []
    for s, (f, r) in enumerate(zip(full, random)):
        row = {"seed": s, "share_full": f, "share_random": r, "acc_base": 0.8, "acc_no_bn_matched": 0.8 + 0.01 * (s % 2)}
        row.update({f"share_{k}": v[s] for k, v in others.items()})
        rows.append(row)
    return rows


def test_intervention_verdicts_read_the_paired_columns():
    n = 10
    full = [0.8 + 0.01 * i for i in range(n)]
    random = [0.2 + 0.01 * (i % 3) for i in range(n)]
    same = full  # an intervention that changes nothing
    lower = [0.25 + 0.01 * (i % 2) for i in range(n)]  # one that removes the collapse
    rows = _rows(full, random, weights_only=same, exact_bn_labeled=same, exact_bn_pool=same, no_bn_matched=lower, no_dynamic=same, buffers_only=random)
    v = ci.intervention_verdicts(rows)
    assert v["collapse"].verdict == "holds"
    assert v["lowers:no_bn_matched"].verdict == "holds" and v["remains:no_bn_matched"].verdict == "holds"
    assert v["lowers:weights_only"].verdict == "inconclusive" and v["remains:weights_only"].verdict == "holds"
    assert v["buffers_alone"].verdict == "inconclusive"
    assert all(x.n == n for x in v.values())
    table = ci.intervention_table([{**r, **{f"share_{k}": 0.5 for k in ("entropy", "margin")}} for r in rows])
    assert [t["variant"] for t in table] == list(ci.VARIANTS)


def test_undertraining_point_has_every_strategy_and_the_scoring_accuracy(small_pool):
    rows = ci.undertraining_point(small_pool, 32, 2, 16, 16, seed=0)
    assert [r["strategy"] for r in rows] == list(ci.CURVE_STRATEGIES)
    assert all(0.1 <= r["share"] <= 1 and 0 <= r["test_acc"] <= 1 for r in rows)
    by = {r["strategy"]: r["test_acc"] for r in rows}
    assert by["margin"] == by["entropy"] == by["random"] == by["disal_no_dynamic"]  # one λ = 0 network scores them
    assert rows == ci.undertraining_point(small_pool, 32, 2, 16, 16, seed=0)


def test_undertraining_verdicts_find_a_falling_share():
    rows = []
    for seed in range(6):
        for i, acc in enumerate((0.4, 0.6, 0.8, 0.95)):
            for s, share in (("disal", 0.9 - 0.5 * acc + 0.01 * seed), ("margin", 0.3 + 0.001 * i * seed)):
                rows.append({"seed": seed, "n_labeled": 10 * (i + 1), "epochs": 5, "strategy": s, "test_acc": acc, "share": share})
    v = ci.undertraining_verdicts(rows)
    assert v["falls:disal"].verdict == "holds"
    assert v["falls:margin"].verdict == "contradicted"  # slightly rising with accuracy
    assert v["disal_vs:margin"].verdict == "holds"


def test_confusion_verdicts_and_bad_seeds():
    rows = [{"seed": s, "picks_error_spearman": 0.5 + 0.01 * s, "pseudo_share": 0.9, "share_full": 0.6} for s in range(5)]
    v = ci.confusion_verdicts(rows)
    assert v["picks_follow_errors"].holds and v["pseudo_over_true"].holds
    with pytest.raises(ValueError, match="seeds must be distinct"):
        ci.run_interventions(None, TINY, [1, 1])
    with pytest.raises(ValueError, match="n_labeled must be an integer"):
        ci.Regime("bad", n_labeled=1, budget=1, epochs=3, batch_size=4)
    assert np.isclose(ci.TEN_STEPS.steps_per_epoch, 10) and ci.ONE_STEP.steps_per_epoch == 1


def test_cause_summary_sorts_interventions_by_their_verdicts_in_every_regime():
    from altoolkit.math.stats import Verdict

    def v(label):
        return Verdict(claim="", verdict=label, mean=0.0, ci_low=0.0, ci_high=0.0, n=10, wins=5, losses=5)

    def regime(lowers, remains):
        out = {"collapse": v("holds")}
        for x in ci.INTERVENTIONS:
            out[f"lowers:{x}"], out[f"remains:{x}"] = v(lowers.get(x, "inconclusive")), v(remains.get(x, "holds"))
        return out

    a = regime({"no_dynamic": "holds", "weights_only": "contradicted"}, {})
    b = regime({"no_dynamic": "holds", "weights_only": "holds"}, {"no_bn_matched": "inconclusive"})
    s = ci.cause_summary({"A": a, "B": b})
    assert s.collapse_in == ["A", "B"]
    assert s.supported == ["no_dynamic"]
    assert s.ruled_out == ["exact_bn_labeled", "exact_bn_pool"]
    assert set(s.open) == {"weights_only", "no_bn_matched"} and s.open["weights_only"] == {"A": "contradicted", "B": "holds"}
    text = "\n".join(s.lines())
    assert "the dynamic loss" in text and "supported" in text
    with pytest.raises(ValueError, match="at least one regime"):
        ci.cause_summary({})


def test_a_seed_without_an_accuracy_spread_has_no_slope():
    rows = [
        {"seed": seed, "n_labeled": 10 * (i + 1), "epochs": 5, "strategy": "disal", "test_acc": acc, "share": 0.9 - 0.5 * acc}
        for seed, accs in ((0, (0.4, 0.6, 0.8)), (1, (0.5, 0.5, 0.5)), (2, (0.3, 0.5, 0.9)))
        for i, acc in enumerate(accs)
    ]
    v = ci.undertraining_verdicts(rows)["falls:disal"]
    assert v.n == 2 and v.verdict == "holds"
