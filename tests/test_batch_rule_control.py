"""The topm batch rule, the overlap with the score's top-k, the random-score control, and the
driver that reads them from records (altoolkit.drivers.batch_rule_control, issue 25 item 3)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

import altoolkit as alt
from altoolkit.drivers import batch_rule_control as brc
from altoolkit.math.scores import select_top
from altoolkit.math.stats import compare
from altoolkit.strategies import SelectionContext, get_strategy
from altoolkit.strategies.batch_rules import BATCH_RULES, DEFAULT_PREFILTER, apply_rule, prefilter_size, select_topm, topk_overlap
from altoolkit.training.models import build_model


# ---- the rule against an independent reference -------------------------------------------------


def _d2_law(points: np.ndarray, chosen: list[int], candidates: list[int]) -> dict[int, float]:
    """Exact probability of each next pick under D² sampling, by hand (numpy, not the toolkit)."""
    d2 = {j: min(float(((points[j] - points[c]) ** 2).sum()) for c in chosen) for j in candidates if j not in chosen}
    total = sum(d2.values())
    return {j: v / total for j, v in d2.items()}


def test_topm_second_pick_follows_the_d2_law_within_the_top_m():
    # 6 pool points; scores rank them 5, 4, 3, 2, 1, 0; β = 2 and budget 2 -> candidates = ranks 0..3
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8], [0.8, -0.6], [0.0, -1.0]], dtype=torch.float64)
    scores = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    order = select_top(scores, 6)
    cand = order[:4].tolist()  # [5, 4, 3, 2]
    unit = (feats / feats.norm(dim=1, keepdim=True)).numpy()
    law = _d2_law(unit, [5], cand)
    counts = {j: 0 for j in law}
    n = 3000
    for seed in range(n):
        pick = select_topm(order, feats, 2, 2.0, seed).tolist()
        assert pick[0] == 5 and pick[1] in law  # first the top-scored, then a top-m candidate
        counts[pick[1]] += 1
    for j, p in law.items():  # binomial standard error at n = 3000 is below 0.01
        assert abs(counts[j] / n - p) < 0.03, (j, counts[j] / n, p)


@pytest.mark.parametrize("seed", range(8))
def test_topm_picks_only_from_the_top_m_and_prefilter_one_is_topk(seed):
    g = torch.Generator().manual_seed(seed)
    n, budget = 40, int(torch.randint(1, 10, (1,), generator=g))
    feats = torch.randn(n, 5, generator=g)
    scores = torch.rand(n, generator=g)
    order = select_top(scores, n)
    for beta in (1.0, 1.5, 2.0, 3.7, 100.0):
        m = prefilter_size(budget, n, beta)
        assert m == min(n, max(budget, int(np.ceil(beta * budget - 1e-9))))
        pos = select_topm(order, feats, budget, beta, seed)
        brute_top_m = set(sorted(range(n), key=lambda i: (-float(scores[i]), i))[:m])
        assert len(set(pos.tolist())) == budget and set(pos.tolist()) <= brute_top_m
        assert int(pos[0]) == int(order[0])
        assert topk_overlap(pos, order, budget) >= max(1, 2 * budget - m) / budget - 1e-12  # the bound of the docstring
    assert set(select_topm(order, feats, budget, 1.0, seed).tolist()) == set(order[:budget].tolist())
    assert torch.equal(select_topm(order, feats, budget, 2.0, seed), select_topm(order, feats, budget, 2.0, seed))


def test_topk_overlap_by_hand():
    order = torch.tensor([4, 2, 0, 1, 3])
    assert topk_overlap(torch.tensor([2, 4, 1]), order, 3) == pytest.approx(2 / 3)  # top-3 = {4, 2, 0}
    assert topk_overlap(torch.tensor([1, 3]), order, 2) == 0.0
    with pytest.raises(ValueError, match="budget"):
        topk_overlap(torch.tensor([1, 3]), order, 3)


def test_apply_rule_names_what_is_missing():
    order = torch.arange(5)
    with pytest.raises(ValueError, match="pseudo_labels"):
        apply_rule("balanced", order, 2, 0, 3)
    with pytest.raises(ValueError, match="features"):
        apply_rule("topm", order, 2, 0, 3)
    with pytest.raises(ValueError, match="option 'batch'.*topm"):
        apply_rule("nope", order, 2, 0, 3)


# ---- options: clear errors, recorded values -------------------------------------------------------


def test_prefilter_option_is_validated_and_recorded():
    s = get_strategy("disal", batch="topm")
    assert s.prefilter == DEFAULT_PREFILTER and s.options() == {"largest": True, "batch": "topm", "prefilter": DEFAULT_PREFILTER}
    assert get_strategy("entropy", batch="topm", prefilter=3).options() == {"batch": "topm", "prefilter": 3.0}
    assert get_strategy("entropy", batch="balanced").prefilter is None
    with pytest.raises(
        ValueError,
        match=r"option 'prefilter' of strategy 'margin' applies to batch='topm' only \(allowed batch values: topk, balanced, diverse, topm\); got batch='topk'",
    ):
        get_strategy("margin", prefilter=2)
    with pytest.raises(ValueError, match=r"option 'prefilter'.*batch='topm' only.*got batch='diverse'"):
        get_strategy("margin", batch="diverse", prefilter=2)
    for bad in (0.5, 0, float("nan"), float("inf"), "2", True):
        with pytest.raises(ValueError, match=r"option 'prefilter'.*\[1, inf\)"):
            get_strategy("entropy", batch="topm", prefilter=bad)
    with pytest.raises(ValueError, match="takes no option 'prefilter'"):
        get_strategy("badge", prefilter=2)
    with pytest.raises(ValueError, match="prefilter"):
        alt.ALConfig(strategy="entropy", strategy_options={"batch": "topm", "prefilter": 0.9})
    assert "topm" in BATCH_RULES


# ---- through a strategy: last_selection ----------------------------------------------------------


@pytest.fixture(scope="module")
def ctx():
    ds = alt.load_digits(seed=0)
    model = build_model("cnn", ds.input_shape, ds.num_classes, seed=0).eval()
    return SelectionContext(dataset=ds, model=model, labeled=torch.arange(0, 100), unlabeled=torch.arange(100, ds.n_train), seed=7, batch_size=256)


@pytest.mark.parametrize("rule", BATCH_RULES)
def test_last_selection_is_the_brute_force_overlap(ctx, rule):
    strat = get_strategy("margin", batch=rule)
    scores, pos = strat.score_and_select(ctx, 30)
    top = set(sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))[:30])
    if rule == "topk":
        assert strat.last_selection == {}
    else:
        assert strat.last_selection == {"topk_overlap": pytest.approx(len(set(pos.tolist()) & top) / 30)}
    assert torch.equal(pos, strat.select(ctx, 30))  # seeded: the same batch twice


def test_random_score_control_is_seeded_uniform_and_topk_is_random_sampling(ctx):
    rand = get_strategy("random")
    a, b = rand.score(ctx), rand.score(ctx)
    other = rand.score(SelectionContext(**{**ctx.__dict__, "seed": 8}))
    assert torch.equal(a, b) and not torch.equal(a, other)
    assert float(a.min()) >= 0.0 and float(a.max()) < 1.0 and a.shape == (len(ctx.unlabeled),)
    # top-k of i.i.d. uniform scores: every pool position equally likely to be picked
    hits = torch.zeros(len(ctx.unlabeled))
    for s in range(300):
        hits[get_strategy("random").select(SelectionContext(**{**ctx.__dict__, "seed": s}), 50)] += 1
    p = 50 / len(ctx.unlabeled)
    binomial_sd = (300 * p * (1 - p)) ** 0.5  # what independent uniform draws give per position
    assert int(hits.sum()) == 300 * 50 and 0.85 < float(hits.std()) / binomial_sd < 1.15
    assert get_strategy("disal_no_selection", batch="topm").select(ctx, 20).tolist() == get_strategy("random", batch="topm").select(ctx, 20).tolist()


# ---- the record field: only for rules other than topk --------------------------------------------


@pytest.mark.parametrize("options", [{}, {"batch": "topk"}, {"batch": "topm", "prefilter": 2.5}, {"batch": "balanced"}])
def test_record_carries_topk_overlap_only_for_rules_other_than_topk(options):
    cfg = alt.ALConfig(strategy="entropy", strategy_options=options, model="mlp", cycles=3, epochs=1, initial_fraction=0.05, step_fraction=0.05)
    rec = alt.run_active_learning(cfg, dataset=alt.load_digits(seed=0), progress=False)
    picking, last = rec["cycles"][:-1], rec["cycles"][-1]
    assert "topk_overlap" not in last
    if options.get("batch", "topk") == "topk":
        assert not any("topk_overlap" in c for c in rec["cycles"])
    else:
        assert all(0.0 < c["topk_overlap"] <= 1.0 for c in picking)
        assert rec["strategy"]["options"]["batch"] == options["batch"]
    if options.get("batch") == "topm":
        assert rec["strategy"]["options"]["prefilter"] == 2.5


# ---- the control's configuration -------------------------------------------------------------------


def test_control_config_keeps_everything_but_the_score():
    base = alt.ALConfig(model="mlp", cycles=2, epochs=1, seed=3)
    disal = dataclasses.replace(base, strategy="disal", strategy_options={"largest": True, "batch": "topm", "prefilter": 3.0})
    c = brc.control_config(disal)
    assert (c.strategy, c.strategy_options, c.dynamic_weight, c.seed, c.effective_dynamic_weight()) == (
        "disal_no_selection",
        {"batch": "topm", "prefilter": 3.0},
        None,
        3,
        1.0,
    )
    c = brc.control_config(dataclasses.replace(base, strategy="entropy", strategy_options={"batch": "balanced"}))
    assert (c.strategy, c.strategy_options, c.dynamic_weight) == ("random", {"batch": "balanced"}, None)
    c = brc.control_config(dataclasses.replace(base, strategy="disal", dynamic_weight=0.5))
    assert (c.strategy, c.dynamic_weight, c.effective_dynamic_weight()) == ("disal_no_selection", 0.5, 0.5)
    c = brc.control_config(dataclasses.replace(base, strategy="margin", dynamic_weight=0.0))
    assert (c.strategy, c.dynamic_weight) == ("random", None)
    with pytest.raises(ValueError, match="training loss"):
        brc.control_config(dataclasses.replace(base, strategy="tod", strategy_options={"consistency_weight": 0.02}, warm_start=True))
    with pytest.raises(ValueError, match="jointly"):
        brc.control_config(dataclasses.replace(base, strategy="coreset"))


def test_rule_configs_cover_every_strategy_rule_and_control_once():
    base = alt.ALConfig(model="mlp", cycles=2, epochs=1)
    cfgs = brc.rule_configs(base, [0, 1], strategies=("disal", "entropy", "margin"), rules=("topk", "balanced", "topm"), prefilter=3.0)
    got = {(c.strategy, c.strategy_options.get("batch", "topk"), c.seed) for c in cfgs}
    assert len(got) == len(cfgs)  # no configuration twice
    for name, rule, seed in itertools.product(("disal", "entropy", "margin", "random", "disal_no_selection"), ("topk", "balanced", "topm"), (0, 1)):
        assert (name, rule, seed) in got
    assert len(cfgs) == 5 * 3 * 2  # entropy and margin share their control (random)
    assert all(c.strategy_options.get("prefilter") == 3.0 for c in cfgs if c.strategy_options.get("batch") == "topm")
    assert all(c.strategy_options == {} for c in cfgs if c.strategy_options.get("batch", "topk") == "topk")


# ---- the driver on synthetic records -------------------------------------------------------------


def _record(strategy: str, options: dict, seed: int, accs: list[float], counts: list[list[int]], overlaps: list[float] | None) -> dict:
    cfg = alt.ALConfig(strategy=strategy, strategy_options=options, seed=seed, model="mlp", cycles=len(accs), epochs=1)
    cycles = []
    for i, acc in enumerate(accs):
        entry = {"cycle": i, "fraction_labeled": 0.1 * (i + 1), "test_acc": acc, "selected": [1, 2, 3] if i < len(accs) - 1 else []}
        if i < len(accs) - 1:
            entry["selected_class_counts"] = counts[i]
            if overlaps is not None:
                entry["topk_overlap"] = overlaps[i]
        cycles.append(entry)
    return {"config": cfg.to_dict(), "strategy": {"name": strategy}, "dataset": {"num_classes": 3}, "cycles": cycles, "finished": True}


def test_driver_table_and_verdicts_on_synthetic_records():
    recs = []
    score_aulc, ctrl_aulc, score_share, ctrl_share = {}, {}, {}, {}
    for seed in range(4):
        a = [0.5, 0.6 + 0.01 * seed, 0.7]
        b = [0.5, 0.55, 0.6 + 0.02 * seed]
        recs.append(_record("entropy", {"batch": "topm", "prefilter": 2.0}, seed, a, [[3, 0, 0], [2, 1, 0]], [1.0, 0.5]))
        recs.append(_record("random", {"batch": "topm", "prefilter": 2.0}, seed, b, [[1, 1, 1], [2, 1, 0]], [0.0, 0.5]))
        score_aulc[seed] = float(alt.math.stats.area_under_curve([0.1, 0.2, 0.3], a))
        ctrl_aulc[seed] = float(alt.math.stats.area_under_curve([0.1, 0.2, 0.3], b))
        score_share[seed], ctrl_share[seed] = (1.0 + 2 / 3) / 2, (1 / 3 + 2 / 3) / 2
    recs.append(_record("margin", {"batch": "diverse"}, 0, [0.5, 0.6, 0.7], [[1, 1, 1], [1, 1, 1]], None))  # predates the field, no control
    rows = brc.batch_rule_controls(recs)
    assert [(r.strategy, r.rule) for r in rows] == [("entropy", "topm β=2"), ("margin", "diverse")]
    r = rows[0]
    assert (r.control, r.seeds) == ("random+topm β=2", 4)
    assert r.overlap == pytest.approx(0.75) and r.control_overlap == pytest.approx(0.25)
    assert r.share == pytest.approx(5 / 6) and r.control_share == pytest.approx(0.5)
    assert r.aulc == pytest.approx(np.mean(list(score_aulc.values())))
    expected = compare(score_aulc, ctrl_aulc, "x")
    assert (r.aulc_verdict.verdict, r.aulc_verdict.mean, r.aulc_verdict.ci_low) == (
        expected.verdict,
        pytest.approx(expected.mean),
        pytest.approx(expected.ci_low),
    )
    assert r.share_verdict.mean == pytest.approx(5 / 6 - 0.5) and r.share_verdict.n == 4
    m = rows[1]
    assert np.isnan(m.overlap) and m.aulc_verdict is None and m.share_verdict is None
    md = brc.batch_rule_markdown(rows)
    assert md.count("\n") == 3 and "| entropy | topm β=2 | 4 | 0.75 | 0.83 |" in md and "no paired seeds" in md


def test_results_markdown_has_the_section_only_with_batch_rules(tmp_path):
    from altoolkit.drivers.active_learning_benchmark import _batch_rule_text

    recs = [_record("entropy", {}, s, [0.5, 0.6], [[1, 1, 1]], None) for s in range(2)]
    assert _batch_rule_text(recs) == []
    recs += [_record("entropy", {"batch": "balanced"}, s, [0.5, 0.7], [[1, 1, 1]], [0.5]) for s in range(2)]
    recs += [_record("random", {"batch": "balanced"}, s, [0.5, 0.6], [[1, 1, 1]], [0.0]) for s in range(2)]
    text = "\n".join(_batch_rule_text(recs))
    assert "### Batch rules against their random-score control" in text
    assert "| entropy | balanced | 2 | 0.50 |" in text and "| entropy | topk | 2 | 1.00 |" in text


def test_plot_batch_rule_control_draws_one_line_per_row():
    pytest.importorskip("matplotlib")
    from altoolkit.plotting.collapse import plot_batch_rule_control

    recs = []
    for seed in range(3):
        recs.append(_record("entropy", {"batch": "balanced"}, seed, [0.5, 0.6 + 0.01 * seed], [[2, 1, 0]], [0.5]))
        recs.append(_record("random", {"batch": "balanced"}, seed, [0.5, 0.55], [[1, 1, 1]], [0.0]))
    fig = plot_batch_rule_control(brc.batch_rule_controls(recs))
    assert len(fig.axes) == 3 and [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["entropy + balanced"]
    with pytest.raises(ValueError, match="rows"):
        plot_batch_rule_control([])


# ---- the β scan -----------------------------------------------------------------------------------


def test_prefilter_summary_by_hand():
    rows = []
    for seed in range(3):
        for n_lab, ov, share in ((10, 0.5, 0.8), (20, 0.3, 0.6)):
            rows.append(
                {
                    "seed": seed,
                    "n_labeled": n_lab,
                    "budget": 5,
                    "strategy": "disal",
                    "rule": "topm β=2",
                    "overlap": ov,
                    "control_overlap": 0.1,
                    "share": share + 0.01 * seed,
                    "control_share": 0.3,
                }
            )
    (s,) = brc.prefilter_summary(rows)
    assert (s["seeds"], s["overlap"], s["control_overlap"]) == (3, pytest.approx(0.4), pytest.approx(0.1))
    assert s["decided"] == pytest.approx(0.3) and s["share"] == pytest.approx(0.71)
    assert s["share_verdict"].verdict == "holds" and s["share_verdict"].mean == pytest.approx(0.41)
    assert "| disal | topm β=2 | 3 | 0.40 | 0.10 | 0.30 | 0.71 | 0.30 | holds" in brc.prefilter_markdown([s])


def test_prefilter_scan_runs_every_rule_with_both_scores():
    base = alt.ALConfig(model="mlp", epochs=1, initial_fraction=0.05, step_fraction=0.05, cycles=2)
    rows = brc.prefilter_scan(alt.load_digits(seed=0), base, [0], prefilters=(2.0, 4.0), strategies=("entropy",), progress=False)
    assert [r["rule"] for r in rows] == ["topk", "balanced", "diverse", "topm β=2", "topm β=4"]
    assert rows[0]["overlap"] == 1.0 and all(0.0 <= r[k] <= 1.0 for r in rows for k in ("overlap", "control_overlap", "share", "control_share"))
    sizes = base.budgets(1347)  # the digits pool: one selection, at the first labeled-set size
    assert {(r["n_labeled"], r["budget"]) for r in rows} == {(sizes[0], sizes[1] - sizes[0])}


def test_the_driver_is_reachable_from_the_one_import_line():
    assert alt.drivers.batch_rule_control.rule_label({"batch": "topm", "prefilter": 2}) == "topm β=2"
    assert brc.rule_configs(alt.ALConfig(model="mlp"), [0], strategies=("entropy",), rules=("topm",))[0].strategy_options == {
        "batch": "topm",
        "prefilter": DEFAULT_PREFILTER,
    }
    with pytest.raises(AttributeError, match="nope"):
        alt.drivers.nope


def test_records_of_two_settings_are_refused_by_name():
    recs = [_record("entropy", {"batch": "balanced"}, s, [0.5, 0.7], [[1, 1, 1]], [0.5]) for s in range(2)]
    other = _record("entropy", {"batch": "balanced"}, 0, [0.5, 0.7], [[1, 1, 1]], [0.5])
    other["config"]["epochs"] = 7
    with pytest.raises(ValueError, match=r"entropy \+ balanced under more than one setting \(they differ in epochs\)"):
        brc.batch_rule_controls(recs + [other])
    from altoolkit.drivers.active_learning_benchmark import _batch_rule_text

    assert "Not shown: the records hold entropy + balanced" in "\n".join(_batch_rule_text(recs + [other]))


def test_cli_runs_topm_with_its_prefilter_and_lists_the_control(tmp_path, capsys):
    import json

    from altoolkit.cli import main

    out = tmp_path / "r.json"
    argv = ["al", "--strategy", "margin", "--batch", "topm", "--prefilter", "3", "--model", "mlp", "--cycles", "2", "--epochs", "1"]
    assert main(argv + ["--out", str(out), "--no-progress"]) == 0
    rec = json.loads(out.read_text())
    assert rec["config"]["strategy_options"] == {"batch": "topm", "prefilter": 3.0}
    assert 0.0 < rec["cycles"][0]["topk_overlap"] <= 1.0
    assert main(["strategies"]) == 0
    listing = capsys.readouterr().out
    assert "RULE's random-score control" in listing and "topk|balanced|diverse|topm" in listing


def test_notebook_09_block_in_results_md_survives_a_rewrite(tmp_path):
    from altoolkit.drivers import active_learning_benchmark as alb
    from tests.test_summary import make_record

    def ruled(strategy, options, seed, accs, overlap):
        r = make_record(strategy, seed, accs, options=options)
        r["dataset"] = {"num_classes": 3}
        for c in r["cycles"][:-1]:
            c["selected"], c["selected_class_counts"], c["topk_overlap"] = [1, 2, 3], [2, 1, 0], overlap
        return r

    plain = [make_record("random", s, [0.5, 0.6, 0.7]) for s in range(2)]
    rules = [ruled("entropy", {"batch": "balanced"}, s, [0.5, 0.7, 0.8], 0.5) for s in range(2)]
    rules += [ruled("random", {"batch": "balanced"}, s, [0.5, 0.6, 0.7], 0.0) for s in range(2)]
    path = tmp_path / "RESULTS.md"
    with pytest.raises(ValueError, match="records: no finished run selects with a batch rule"):
        alb.write_batch_rule_block(path, plain)
    assert not path.exists()  # nothing written on a refusal
    alb.write_results_markdown(plain, path, title="t")
    alb.write_batch_rule_block(path, rules)
    text = path.read_text()
    assert text.startswith("# t") and text.count(alb.RULES_START) == 1
    assert "## Batch rules against their random-score control: digits" in text and "| entropy | balanced | 2 | 0.50 |" in text
    alb.write_batch_rule_block(path, rules[:1] + rules[2:3])  # a second write replaces the block
    assert path.read_text().count(alb.RULES_START) == 1 and "from 2 finished runs" in path.read_text()
    alb.write_results_markdown(plain, path, title="t2", keep_batch_rules=True)  # notebook 06 rewrites the file: the block stays
    again = path.read_text()
    assert again.startswith("# t2") and again.count(alb.RULES_START) == 1 and "from 2 finished runs" in again
    alb.write_results_markdown(plain, path, title="t3")  # any other summary: only what its records give
    assert alb.RULES_START not in path.read_text()
    path.write_text("# t\n\n" + alb.RULES_START + "\ncut off here\n")  # a truncated file
    with pytest.raises(ValueError, match="its batch-rule block is broken"):
        alb.write_batch_rule_block(path, rules)
    with pytest.raises(ValueError, match="its batch-rule block is broken"):
        alb.write_results_markdown(plain, path, title="t4", keep_batch_rules=True)
    assert path.read_text().endswith("cut off here\n")  # nothing written over it
