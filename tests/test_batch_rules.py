"""The ``batch`` option of per-sample strategies (altoolkit.strategies.batch_rules, base.py)."""

from __future__ import annotations

import math

import pytest
import torch

import altoolkit as alt
from altoolkit.training.models import build_model
from altoolkit.strategies import SelectionContext, get_strategy, strategies_taking_batch
from altoolkit.strategies.batch_rules import balanced_quotas, select_balanced, select_diverse
from altoolkit.math.scores import select_top


def test_quotas_largest_remainder_hand_example():
    # shares 10*[5,3,2]/10 = [5,3,2]; 7*[5,3,2]/10 = [3.5, 2.1, 1.4] -> floors [3,2,1], 1 seat to 0.5
    assert balanced_quotas(torch.tensor([5, 3, 2]), 10).tolist() == [5, 3, 2]
    assert balanced_quotas(torch.tensor([5, 3, 2]), 7).tolist() == [4, 2, 1]
    assert balanced_quotas(torch.tensor([0, 4, 4]), 3).tolist() == [0, 2, 1]  # tie -> smaller index
    with pytest.raises(ValueError, match="budget"):
        balanced_quotas(torch.tensor([1, 1]), 3)


@pytest.mark.parametrize("seed", range(20))
def test_balanced_never_exceeds_a_share_by_more_than_one(seed):
    g = torch.Generator().manual_seed(seed)
    n, c = int(torch.randint(20, 200, (1,), generator=g)), int(torch.randint(2, 8, (1,), generator=g))
    pseudo = torch.multinomial(torch.rand(c, generator=g) + 0.05, n, replacement=True, generator=g)
    scores = torch.rand(n, generator=g) ** 4
    scores[pseudo == 0] += 10.0  # top-k would take class 0 only
    budget = int(torch.randint(1, n, (1,), generator=g))
    order = select_top(scores, n)
    pos = select_balanced(order, pseudo, budget, c)
    assert len(pos) == budget == len(set(pos.tolist()))
    counts = torch.bincount(pseudo, minlength=c)
    got = torch.bincount(pseudo[pos], minlength=c)
    share = counts.double() * budget / n
    assert (got.double() <= share + 1.0 - 1e-12).all() and (got.double() >= share - 1.0 + 1e-12).all()
    # within each class the best-ranked samples are taken
    for k in range(c):
        members = torch.nonzero(pseudo == k).flatten()
        best = members[torch.argsort(-scores[members], stable=True)][: int(got[k])]
        assert set(best.tolist()) == set(pos[pseudo[pos] == k].tolist())


def test_diverse_budget_one_is_topk_and_deterministic_and_spread():
    g = torch.Generator().manual_seed(0)
    feats = torch.cat([torch.randn(50, 4, generator=g) + 8 * torch.eye(4)[0], torch.randn(50, 4, generator=g) + 8 * torch.eye(4)[1]])
    scores = torch.rand(100, generator=g)
    scores[:50] += 1.0  # every top-10 sample lies in cluster 0
    order = select_top(scores, 100)
    for s in range(5):
        assert select_diverse(order, feats, 1, seed=s).tolist() == [int(order[0])]
    a, b = select_diverse(order, feats, 10, seed=3), select_diverse(order, feats, 10, seed=3)
    assert torch.equal(a, b) and len(set(a.tolist())) == 10
    assert int(a[0]) == int(order[0])
    assert (a >= 50).sum() >= 1  # top-k takes none of cluster 1


def test_bad_batch_values_are_clear_errors():
    with pytest.raises(ValueError, match=r"option 'batch'.*topk, balanced, diverse.*'nope'"):
        get_strategy("disal", batch="nope")
    with pytest.raises(ValueError, match="batch"):
        get_strategy("coreset", batch="balanced")
    with pytest.raises(ValueError, match="batch"):
        alt.ALConfig(strategy="entropy", strategy_options={"batch": 3})


def test_which_strategies_take_batch_and_options_record_it():
    takes = set(strategies_taking_batch())
    assert {"disal", "disal_no_dynamic", "entropy", "margin", "tracin", "isal", "gradnorm", "tod"} <= takes
    assert not {"coreset", "badge"} & takes
    assert get_strategy("disal").options() == {"largest": True}  # default recorded as before
    assert get_strategy("disal", batch="balanced").options() == {"largest": True, "batch": "balanced"}
    assert get_strategy("entropy", batch="diverse").options() == {"batch": "diverse"}
    assert get_strategy("tracin", checkpoints=3, batch="diverse").options()["checkpoints"] == 3


@pytest.fixture(scope="module")
def ctx():
    ds = alt.load_digits(seed=0)
    model = build_model("cnn", ds.input_shape, ds.num_classes, seed=0).eval()
    lab = torch.arange(0, 100)
    unl = torch.arange(100, ds.n_train)
    return SelectionContext(dataset=ds, model=model, labeled=lab, unlabeled=unl, seed=5, batch_size=128)


@pytest.mark.parametrize("rule", ["topk", "balanced", "diverse"])
def test_rules_through_a_strategy(ctx, rule):
    strat = get_strategy("entropy", batch=rule)
    scores, pos = strat.score_and_select(ctx, 40)
    assert torch.equal(pos, strat.select(ctx, 40))  # select and score_and_select agree, seeded
    assert len(set(pos.tolist())) == 40
    if rule == "topk":
        assert torch.equal(pos, select_top(scores, 40))
    if rule == "balanced":
        pseudo = alt.training.inference.predict_logits(ctx.model, ctx.pool_x, ctx.dataset.to_input).argmax(1)
        counts = torch.bincount(pseudo, minlength=10).double()
        got = torch.bincount(pseudo[pos], minlength=10).double()
        assert (got <= counts * 40 / len(pseudo) + 1).all()
    if rule == "diverse":
        assert torch.equal(strat.select(ctx, 1), select_top(scores, 1))


def test_direction_of_the_strategy_is_respected(ctx):
    # largest=False ranks the smallest KL first; balanced must take the per-class smallest
    ctx2 = SelectionContext(**{**ctx.__dict__})
    s_small = get_strategy("margin", batch="balanced")
    pos = s_small.select(ctx2, 20)
    scores = s_small.score(ctx2)
    pseudo = alt.training.inference.predict_logits(ctx.model, ctx.pool_x, ctx.dataset.to_input).argmax(1)
    for k in pseudo[pos].unique().tolist():
        chosen = pos[pseudo[pos] == k]
        others = torch.nonzero(pseudo == k).flatten()
        others = others[~torch.isin(others, chosen)]
        if len(others):
            assert scores[chosen].min() >= scores[others].max() - 1e-7


def test_cli_batch_flag_runs_and_is_recorded(tmp_path):
    from altoolkit.cli import main

    out = tmp_path / "r.json"
    rc = main(["al", "--strategy", "entropy", "--batch", "balanced", "--cycles", "2", "--epochs", "1", "--out", str(out), "--no-progress"])
    assert rc == 0
    rec = alt.load_record(out) if hasattr(alt, "load_record") else __import__("json").loads(out.read_text())
    assert rec["config"]["strategy_options"] == {"batch": "balanced"}
    assert rec["strategy"]["options"] == {"batch": "balanced"}
    assert len(rec["cycles"][0]["selected"]) > 0
    assert not math.isnan(rec["cycles"][0]["test_acc"])


def test_cli_strategies_marks_exactly_the_strategies_taking_batch(capsys, tmp_path):
    from altoolkit.cli import main

    assert main(["strategies"]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = {ln.split()[0] for ln in lines if ln.rstrip().endswith("[--batch]")}
    assert marked == set(strategies_taking_batch())
    for name in ("disal", "disal_no_dynamic", "entropy", "margin", "tracin", "isal", "gradnorm", "tod"):
        assert name in marked
    assert main(["al", "--strategy", "coreset", "--batch", "balanced", "--out", str(tmp_path / "r.json")]) == 2
    assert not (tmp_path / "r.json").exists()
