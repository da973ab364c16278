"""Summary numbers on hand-built records, checked against hand computations and scipy; the
claims section when a claim holds and when it does not; RESULTS.md's sections."""

import json
import statistics

import numpy as np
import pytest
from scipy.stats import ttest_rel

from altoolkit.loop import RECORD_FORMAT
from altoolkit.results import area_under_curve, labels_to_reach
from altoolkit.summary import (
    Claim,
    check_claim,
    summarize,
    summarize_folder,
    write_results_markdown,
)

SIZES = [100, 150, 200]
FRACTIONS = [0.10, 0.15, 0.20]


def make_record(strategy, seed, accs, lam=None, effective_lam=None, finished=True, dataset="digits", epochs=30,
                train_s=1.0, select_s=0.1, options=None):
    if effective_lam is None:
        effective_lam = lam if lam is not None else (1.0 if strategy in ("disal", "disal_no_selection") else 0.0)
    return {
        "format": RECORD_FORMAT,
        "config": {"dataset": dataset, "strategy": strategy, "strategy_options": options or {}, "seed": seed,
                   "initial_fraction": 0.1, "step_fraction": 0.05, "cycles": len(accs), "model": "cnn",
                   "epochs": epochs, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4,
                   "lr_schedule": "step", "augment": "none", "dynamic_weight": lam, "validation_size": 0,
                   "score_batch_size": 512, "device": "cpu", "root": None, "download": False, "dataset_options": {}},
        "strategy": {"name": strategy, "options": {}, "dynamic_weight": effective_lam, "peeks_at_labels": False},
        "cycles": [{"cycle": i, "n_labeled": n, "fraction_labeled": f, "test_acc": a, "selected": [],
                    "train_seconds": train_s, "select_seconds": select_s if i < len(accs) - 1 else 0.0,
                    "final_train_loss": 0.1}
                   for i, (n, f, a) in enumerate(zip(SIZES, FRACTIONS, accs))],
        "finished": finished,
    }


RANDOM = {0: [0.50, 0.70, 0.80], 1: [0.52, 0.68, 0.78], 2: [0.48, 0.72, 0.82]}
DISAL = {0: [0.60, 0.75, 0.90], 1: [0.55, 0.74, 0.86], 2: [0.50, 0.76, 0.85]}  # ahead of random on every seed
NO_DYN = {0: [0.50, 0.69, 0.79], 1: [0.52, 0.70, 0.77], 2: [0.47, 0.70, 0.80]}  # never reaches random's final


@pytest.fixture
def records():
    out = []
    for name, table in (("random", RANDOM), ("disal", DISAL), ("disal_no_dynamic", NO_DYN)):
        out += [make_record(name, seed, accs, train_s=2.0 if name == "disal" else 1.0) for seed, accs in table.items()]
    return out


def hand_aulc(accs):
    # Trapezoid over the fraction, divided by the fraction range (0.10).
    return ((accs[0] + accs[1]) / 2 * 0.05 + (accs[1] + accs[2]) / 2 * 0.05) / 0.10


def test_area_under_curve_and_labels_to_reach_by_hand():
    assert area_under_curve(FRACTIONS, [0.5, 0.7, 0.8]) == pytest.approx(0.675)
    assert area_under_curve(FRACTIONS, [0.4, 0.4, 0.4]) == pytest.approx(0.4)
    np.testing.assert_allclose(area_under_curve(FRACTIONS, np.array([[0.5, 0.7, 0.8], [0.6, 0.75, 0.9]])),
                               [0.675, hand_aulc([0.6, 0.75, 0.9])])
    assert area_under_curve([0.3], [0.9]) == pytest.approx(0.9)
    # Linear between 150 (0.75) and 200 (0.90): 0.80 is a third of the way.
    assert labels_to_reach(SIZES, [0.60, 0.75, 0.90], 0.80) == pytest.approx(150 + 50 / 3)
    assert labels_to_reach(SIZES, [0.85, 0.75, 0.90], 0.80) == 100
    assert labels_to_reach(SIZES, [0.60, 0.75, 0.79], 0.80) is None
    with pytest.raises(ValueError, match="increasing"):
        area_under_curve([0.2, 0.1], [0.5, 0.6])


def test_summary_numbers_match_hand_computations(records):
    s = summarize(records)
    ds = s.datasets["digits"]
    assert list(ds.strategies) == ["random", "disal", "disal_no_dynamic"]  # reference first
    d = ds.strategies["disal"]
    assert d.seeds == [0, 1, 2]
    np.testing.assert_allclose(d.curve.mean, np.mean([DISAL[s] for s in (0, 1, 2)], axis=0))
    for k in range(3):
        assert d.curve.std[k] == pytest.approx(statistics.stdev([DISAL[s][k] for s in (0, 1, 2)]))  # ddof=1
    np.testing.assert_allclose(d.aulc, [hand_aulc(DISAL[s]) for s in (0, 1, 2)])
    assert d.aulc_std == pytest.approx(statistics.stdev([hand_aulc(DISAL[s]) for s in (0, 1, 2)]))

    # ISAL's measure: random's final mean is 0.80; disal's mean curve is (0.55, 0.75, 0.8700).
    target = np.mean([RANDOM[s][-1] for s in (0, 1, 2)])
    mean = np.mean([DISAL[s] for s in (0, 1, 2)], axis=0)
    reach = 150 + (target - mean[1]) / (mean[2] - mean[1]) * 50
    assert d.labels_to_reach_reference == pytest.approx(reach)
    assert d.labels_saved == pytest.approx(200 - reach)
    assert ds.strategies["disal_no_dynamic"].labels_to_reach_reference is None
    assert ds.strategies["disal_no_dynamic"].labels_saved is None

    # Paired comparison against scipy's paired t-test on the per-seed AULCs and final accuracies.
    c = ds.comparisons["disal"]
    a = [hand_aulc(DISAL[s]) for s in (0, 1, 2)]
    b = [hand_aulc(RANDOM[s]) for s in (0, 1, 2)]
    diff = np.subtract(a, b)
    assert c.mean("aulc") == pytest.approx(diff.mean()) and c.std("aulc") == pytest.approx(statistics.stdev(diff))
    assert c.p_value("aulc") == pytest.approx(ttest_rel(a, b).pvalue)
    fa, fb = [DISAL[s][-1] for s in (0, 1, 2)], [RANDOM[s][-1] for s in (0, 1, 2)]
    assert c.mean("final") == pytest.approx(np.mean(np.subtract(fa, fb)))
    assert c.p_value("final") == pytest.approx(ttest_rel(fa, fb).pvalue)
    assert c.wins("aulc") == 3 and ds.comparisons["disal_no_dynamic"].wins("aulc") == sum(
        hand_aulc(NO_DYN[s]) > hand_aulc(RANDOM[s]) for s in (0, 1, 2))

    # Seconds per cycle: cycles that end with a selection.
    assert d.train_seconds == pytest.approx(2.0) and d.select_seconds == pytest.approx(0.1)


def test_paired_comparison_uses_matched_seeds_only(records):
    extra = records + [make_record("disal", 7, [0.9, 0.9, 0.9])]
    ds = summarize(extra).datasets["digits"]
    assert ds.strategies["disal"].seeds == [0, 1, 2, 7]
    assert ds.comparisons["disal"].seeds == [0, 1, 2]
    single = summarize([make_record("random", 0, RANDOM[0]), make_record("disal", 0, DISAL[0])]).datasets["digits"]
    assert single.comparisons["disal"].p_value() is None and single.comparisons["disal"].std() == 0.0


def test_claims_hold_and_fail_from_the_numbers(records):
    ds = summarize(records).datasets["digits"]
    holds = check_claim(ds, Claim.parse(("disal", ">", "random")))
    assert holds.status == "holds" and holds.holds
    fails = check_claim(ds, Claim.parse("disal_no_dynamic > random"))
    assert fails.status == "does not hold" and fails.holds is False
    diff = np.mean([hand_aulc(NO_DYN[s]) - hand_aulc(RANDOM[s]) for s in (0, 1, 2)])
    assert f"{100 * diff:+.2f}" in fails.numbers()
    reverse = check_claim(ds, Claim.parse("random < disal : final"))
    assert reverse.status == "holds" and "3/3" in reverse.numbers()
    missing = check_claim(ds, Claim.parse("isal > random"))
    assert missing.status == "cannot be checked" and "isal" in missing.reason and missing.holds is None
    with pytest.raises(ValueError, match="operator"):
        Claim("disal", ">=", "random")
    with pytest.raises(ValueError, match="metric"):
        Claim.parse(("disal", ">", "random", "auc"))


def test_results_markdown_renders_every_section(records, tmp_path):
    lam = [make_record("disal", s, [a - 0.01 for a in DISAL[s]], lam=0.5) for s in (0, 1, 2)]
    same = [make_record("disal", s, DISAL[s], lam=1.0) for s in (0, 1, 2)]  # the default λ: no Table 3 claim
    unfinished = make_record("random", 9, RANDOM[0][:2], finished=False)
    path = write_results_markdown(records + lam + same + [unfinished], tmp_path / "out" / "RESULTS.md",
                                  title="Digits check", notes="Hand-built records.")
    text = path.read_text()
    for heading in ("# Digits check", "## Claims at a glance", "## digits", "### Test accuracy (%)",
                    "### Area under the learning curve", "### Seconds per cycle", "### Claims of the papers"):
        assert heading in text, heading
    assert "Hand-built records." in text and "1 unfinished run" in text and "little power" in text
    assert "| disal (λ=0.5) | 3 |" in text
    # The accuracy table shows mean ± std in percent with the number of seeds.
    m = np.mean([DISAL[s][0] for s in (0, 1, 2)]) * 100
    sd = statistics.stdev([DISAL[s][0] for s in (0, 1, 2)]) * 100
    assert f"| disal | 3 | {m:.1f} ± {sd:.1f} |" in text
    # Claims: one that holds, one that does not, one that cannot be checked; λ=0.5 is checked, λ=1 is not.
    assert "**disal > random (AULC)** (DISAL Fig. 3 and Table 2): **holds**" in text
    assert "**disal_no_dynamic > random (AULC)** (DISAL Table 2: the KL score alone beats random): **does not hold**" in text
    assert "**disal > disal_no_selection (AULC)**" in text and "no records of disal_no_selection" in text
    assert "disal > disal (λ=0.5)" in text and "disal > disal (λ=1)" not in text
    assert "**isal > random (AULC)** (ISAL Fig. 3: ISAL needs fewer labels than random): **cannot be checked**: no records of isal" in text
    assert "not reached" in text and "do **not** hold" in text
    # Only the claims given, when a list is given.
    only = write_results_markdown(records, tmp_path / "only.md", claims=["disal > random"]).read_text()
    assert "disal > random" in only and "disal_no_dynamic > random" not in only


def test_missing_reference_is_said(tmp_path):
    recs = [make_record("disal", s, DISAL[s]) for s in (0, 1)]
    text = write_results_markdown(recs, tmp_path / "R.md").read_text()
    assert "**Missing:** no finished records of `random`" in text
    assert "cannot be checked" in text and "isal > random (AULC)" in text.split("Not checked (neither side was run):")[1]
    ds = summarize(recs).datasets["digits"]
    assert not ds.has_reference and ds.strategies["disal"].labels_saved is None and not ds.comparisons


def test_records_of_different_experiments_are_not_mixed(records):
    other = make_record("random", 5, RANDOM[0], epochs=5)
    with pytest.raises(ValueError, match="epochs"):
        summarize(records + [other])
    with pytest.raises(ValueError, match="two records of random seed 0"):
        summarize(records + [make_record("random", 0, RANDOM[0])])
    # Another dataset is another section.
    s = summarize(records + [make_record("random", 0, RANDOM[0], dataset="mnist", epochs=5)])
    assert sorted(s.datasets) == ["digits", "mnist"]


def test_summarize_folder_skips_non_records_with_a_warning(records, tmp_path):
    for i, r in enumerate(records[:3]):
        (tmp_path / f"r{i}.json").write_text(json.dumps(r))
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "r0.json.model.pt").write_bytes(b"\0")
    with pytest.warns(UserWarning) as caught:
        loaded = summarize_folder(tmp_path)
    assert loaded == records[:3]
    assert {str(w.message).split(":")[0] for w in caught} == {"skipping notes.json", "skipping broken.json"}
    with pytest.raises(ValueError, match="not a folder"):
        summarize_folder(tmp_path / "nope")
