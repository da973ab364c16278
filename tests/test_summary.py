"""Summary numbers on hand-built records, checked against hand computations and scipy; the
claims section when a claim holds and when it does not; RESULTS.md's sections."""

import json
import re
import statistics

import numpy as np
import pytest
from scipy.stats import t as student_t
from scipy.stats import ttest_rel

from altoolkit.engine.loop import RECORD_FORMAT
from altoolkit.analysis.results import labels_to_reach
from altoolkit.math.stats import area_under_curve
from altoolkit.drivers.active_learning_benchmark import (
    BLOCK_END,
    BLOCK_START,
    SECONDS_END,
    SECONDS_START,
    Claim,
    check_claim,
    extract_block,
    strip_seconds,
    summarize,
    summarize_folder,
    update_readme,
    write_results_markdown,
)

SIZES = [100, 150, 200]
FRACTIONS = [0.10, 0.15, 0.20]
KEY = "digits · 100 → 200 labels"  # a section: dataset and budget regime


def make_record(strategy, seed, accs, lam=None, effective_lam=None, finished=True, dataset="digits", epochs=30, train_s=1.0, select_s=0.1, options=None):
    if effective_lam is None:
        effective_lam = lam if lam is not None else (1.0 if strategy in ("disal", "disal_no_selection") else 0.0)
    return {
        "format": RECORD_FORMAT,
        "config": {
            "dataset": dataset,
            "strategy": strategy,
            "strategy_options": options or {},
            "seed": seed,
            "initial_fraction": 0.1,
            "step_fraction": 0.05,
            "cycles": len(accs),
            "model": "cnn",
            "epochs": epochs,
            "batch_size": 64,
            "lr": 0.05,
            "momentum": 0.9,
            "weight_decay": 5e-4,
            "lr_schedule": "step",
            "augment": "none",
            "dynamic_weight": lam,
            "validation_size": 0,
            "score_batch_size": 512,
            "device": "cpu",
            "root": None,
            "download": False,
            "dataset_options": {},
        },
        "strategy": {"name": strategy, "options": {}, "dynamic_weight": effective_lam, "peeks_at_labels": False},
        "cycles": [
            {
                "cycle": i,
                "n_labeled": n,
                "fraction_labeled": f,
                "test_acc": a,
                "selected": [],
                "train_seconds": train_s,
                "select_seconds": select_s if i < len(accs) - 1 else 0.0,
                "final_train_loss": 0.1,
            }
            for i, (n, f, a) in enumerate(zip(SIZES, FRACTIONS, accs))
        ],
        "budgets": SIZES,
        "finished": finished,
        "environment": {"torch": "2.x", "numpy": "2.y", "cpu_capability": "AVX2", "threads": "1", "device": "cpu"},
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
    np.testing.assert_allclose(area_under_curve(FRACTIONS, np.array([[0.5, 0.7, 0.8], [0.6, 0.75, 0.9]])), [0.675, hand_aulc([0.6, 0.75, 0.9])])
    assert area_under_curve([0.3], [0.9]) == pytest.approx(0.9)
    # Linear between 150 (0.75) and 200 (0.90): 0.80 is a third of the way.
    assert labels_to_reach(SIZES, [0.60, 0.75, 0.90], 0.80) == pytest.approx(150 + 50 / 3)
    assert labels_to_reach(SIZES, [0.85, 0.75, 0.90], 0.80) == 100
    assert labels_to_reach(SIZES, [0.60, 0.75, 0.79], 0.80) is None
    with pytest.raises(ValueError, match="increasing"):
        area_under_curve([0.2, 0.1], [0.5, 0.6])


def test_summary_numbers_match_hand_computations(records):
    s = summarize(records)
    ds = s.datasets[KEY]
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

    # Paired comparison: stats.compare's t interval, checked against scipy's paired t-test (the 95%
    # interval excludes 0 exactly when the two-sided p < 0.05).
    c = ds.comparisons["disal"]["aulc"]
    a = [hand_aulc(DISAL[s]) for s in (0, 1, 2)]
    b = [hand_aulc(RANDOM[s]) for s in (0, 1, 2)]
    diff = np.subtract(a, b)
    assert c.mean == pytest.approx(diff.mean()) and c.n == 3
    half = student_t.ppf(0.975, 2) * statistics.stdev(diff) / np.sqrt(3)
    assert (c.ci_low, c.ci_high) == pytest.approx((diff.mean() - half, diff.mean() + half))
    assert ttest_rel(a, b).pvalue < 0.05 and c.verdict == "holds"
    fa, fb = [DISAL[s][-1] for s in (0, 1, 2)], [RANDOM[s][-1] for s in (0, 1, 2)]
    cf = ds.comparisons["disal"]["final"]
    assert cf.mean == pytest.approx(np.mean(np.subtract(fa, fb)))
    assert ttest_rel(fa, fb).pvalue > 0.05 and cf.verdict == "inconclusive"
    assert c.wins == 3 and ds.comparisons["disal_no_dynamic"]["aulc"].wins == sum(hand_aulc(NO_DYN[s]) > hand_aulc(RANDOM[s]) for s in (0, 1, 2))

    # Seconds per cycle: cycles that end with a selection.
    assert d.train_seconds == pytest.approx(2.0) and d.select_seconds == pytest.approx(0.1)


def test_paired_comparison_uses_matched_seeds_only(records):
    extra = records + [make_record("disal", 7, [0.9, 0.9, 0.9])]
    ds = summarize(extra).datasets[KEY]
    assert ds.strategies["disal"].seeds == [0, 1, 2, 7]
    assert ds.comparisons["disal"]["aulc"].n == 3  # seed 7 has no random partner
    single = summarize([make_record("random", 0, RANDOM[0]), make_record("disal", 0, DISAL[0])]).datasets[KEY]
    one = single.comparisons["disal"]["aulc"]
    assert one.n == 1 and one.verdict == "inconclusive" and "no interval" in one.text()


def test_claims_hold_and_fail_from_the_numbers(records):
    ds = summarize(records).datasets[KEY]
    holds = check_claim(ds, Claim.parse(("disal", ">", "random")))
    assert holds.status == "holds" and holds.holds
    unsure = check_claim(ds, Claim.parse("disal_no_dynamic > random"))
    assert unsure.status == "inconclusive" and unsure.holds is False
    diff = np.mean([hand_aulc(NO_DYN[s]) - hand_aulc(RANDOM[s]) for s in (0, 1, 2)])
    assert f"{100 * diff:+.2f} [" in unsure.numbers() and "95% t interval, 3 seeds" in unsure.numbers()
    against = check_claim(ds, Claim.parse("random > disal"))
    assert against.status == "contradicted" and "0/3 wins" in against.numbers()
    reverse = check_claim(ds, Claim.parse("random < disal"))  # checked as disal > random
    assert reverse.status == "holds" and "3/3 wins" in reverse.numbers()
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
    path = write_results_markdown(records + lam + same + [unfinished], tmp_path / "out" / "RESULTS.md", title="Digits check", notes="Hand-built records.")
    text = path.read_text()
    for heading in (
        "# Digits check",
        "## Verdicts",
        "## Machine",
        f"## {KEY}",
        "### Test accuracy (%)",
        "### Area under the learning curve",
        "### Seconds per cycle",
        "### Claims of the papers",
    ):
        assert heading in text, heading
    assert "Hand-built records." in text and "1 unfinished run" in text and "95% Student t interval" in text
    assert "| disal (λ=0.5) | 3 |" in text
    # The accuracy table shows mean ± std in percent with the number of seeds.
    m = np.mean([DISAL[s][0] for s in (0, 1, 2)]) * 100
    sd = statistics.stdev([DISAL[s][0] for s in (0, 1, 2)]) * 100
    assert f"| disal | 3 | {m:.1f} ± {sd:.1f} |" in text
    # Claims: one that holds, one inconclusive, one that cannot be checked; λ=0.5 is checked, λ=1 is not.
    assert "**disal > random (AULC)** (DISAL Fig. 3 and Table 2): **holds**: +5.50 [" in text
    assert "**disal_no_dynamic > random (AULC)** (DISAL Table 2: the KL score alone beats random): **inconclusive**" in text
    assert "**disal > disal_no_selection (AULC)**" in text and "no records of disal_no_selection" in text
    assert "disal > disal (λ=0.5)" in text and "disal > disal (λ=1)" not in text
    assert "**isal > random (AULC)** (ISAL Fig. 3: ISAL needs fewer labels than random): **cannot be checked**: no records of isal" in text
    assert "not reached" in text
    # Every verdict is one of the three words; none of the old two-valued wording is left.
    assert "does not hold" not in text and "p (paired t" not in text
    # The block: verdict counts, every checked claim with interval, seeds and wins; the machine.
    block = extract_block(text)
    assert block.startswith(BLOCK_START) and block.endswith(BLOCK_END)
    assert "Of 4 checked claims in these runs: 3 hold, 0 contradicted, 1 inconclusive" in block
    assert "disal > random (AULC): **holds**, +5.50 [" in block and "3/3 wins" in block
    assert "| 2.x | 2.y | AVX2 | 1 |" in text.replace("| ? ", "")
    assert "Exact floats differ across CPUs" in text and "verdicts" in text
    # Only the claims given, when a list is given.
    only = write_results_markdown(records, tmp_path / "only.md", claims=["disal > random"]).read_text()
    assert "disal > random" in only and "disal_no_dynamic > random" not in only


def test_missing_reference_is_said(tmp_path):
    recs = [make_record("disal", s, DISAL[s]) for s in (0, 1)]
    text = write_results_markdown(recs, tmp_path / "R.md").read_text()
    assert "**Missing:** no finished records of `random`" in text
    assert "cannot be checked" in text and "isal > random (AULC)" in text.split("Not checked (neither side was run):")[1]
    ds = summarize(recs).datasets[KEY]
    assert not ds.has_reference and ds.strategies["disal"].labels_saved is None and not ds.comparisons


def test_records_of_different_experiments_are_not_mixed(records):
    other = make_record("random", 5, RANDOM[0], epochs=5)
    with pytest.raises(ValueError, match="epochs"):
        summarize(records + [other])
    with pytest.raises(ValueError, match="two records of random seed 0"):
        summarize(records + [make_record("random", 0, RANDOM[0])])
    # Another dataset is another section.
    s = summarize(records + [make_record("random", 0, RANDOM[0], dataset="mnist", epochs=5)])
    assert sorted(s.datasets) == [KEY, "mnist · 100 → 200 labels"]


@pytest.mark.parametrize(
    "name,text,frag",
    [
        ("notes.json", '{"hello": 1}', "not an altoolkit record"),
        ("broken.json", "{", "not valid JSON"),
        ("r9.json", None, "cycles[0].test_acc is 37.5"),
    ],
)
def test_summarize_folder_stops_at_a_file_that_is_not_a_record(name, text, frag, records, tmp_path):
    """As the README says: a junk .json (or a record with a percentage for an accuracy) stops the
    summary with an error naming it, instead of a summary that silently leaves it out."""
    for i, r in enumerate(records[:3]):
        (tmp_path / f"r{i}.json").write_text(json.dumps(r))
    (tmp_path / "r0.json.model.pt").write_bytes(b"\0")  # a record's sidecar is not read
    assert summarize_folder(tmp_path) == records[:3]
    if text is None:
        bad = json.loads(json.dumps(records[0]))
        bad["cycles"][0]["test_acc"] = 37.5
        text = json.dumps(bad)
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=re.escape(frag)) as info:
        summarize_folder(tmp_path)
    assert name in str(info.value)
    with pytest.raises(ValueError, match="not a folder"):
        summarize_folder(tmp_path / "nope")


def test_readme_block_is_replaced_and_seconds_lines_are_marked(records, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nBefore.\n\n{BLOCK_START}\nold numbers\n{BLOCK_END}\n\nAfter.\n")
    path = write_results_markdown(records, tmp_path / "RESULTS.md", readme=readme)
    text, new = path.read_text(), readme.read_text()
    assert extract_block(new) == extract_block(text) and "old numbers" not in new
    assert new.startswith("# Title\n\nBefore.\n\n") and new.endswith(f"{BLOCK_END}\n\nAfter.\n")
    assert update_readme(readme, extract_block(text)) is False  # unchanged: nothing written
    # Seconds are between the markers; changing only the seconds changes only those lines.
    assert SECONDS_START in text and SECONDS_END in text
    slower = [dict(r, cycles=[dict(c, train_seconds=c["train_seconds"] * 3) for c in r["cycles"]]) for r in records]
    other = write_results_markdown(slower, tmp_path / "R2.md").read_text()
    assert other != text and strip_seconds(other) == strip_seconds(text)
    with pytest.raises(ValueError, match="no results block"):
        extract_block("no markers")


def test_readme_block_is_the_committed_results_block():
    """No number copied by hand: the README's results block is RESULTS.md's, as notebook 06 writes
    both (`make reproduce`); every verdict in it is one of the three words."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    results = (root / "figures" / "RESULTS.md").read_text(encoding="utf-8")
    assert BLOCK_START in results, "figures/RESULTS.md has no results block: run `make reproduce` (notebook 06 writes it and the README's)"
    block = extract_block(results)
    assert extract_block((root / "README.md").read_text(encoding="utf-8")) == block
    assert "95% t interval" in block and "does not hold" not in results
    words = [line.split("**")[1] for line in block.splitlines() if line.startswith("  - ")]
    assert words and set(words) <= {"holds", "contradicted", "inconclusive"}


def test_results_markdown_shows_the_class_balance_of_selected_batches(records, tmp_path):
    """Issue 10: RESULTS.md has a selection-balance table per section, from the records' class counts."""
    for r in records:
        one_class = r["config"]["strategy"] == "disal"
        for c in r["cycles"][:-1]:
            c["selected"] = list(range(10))
            c["selected_class_counts"] = [10, 0, 0, 0] if one_class else [3, 2, 3, 2]
        r["dataset"] = {"name": "digits", "num_classes": 4}
    text = write_results_markdown(records, tmp_path / "RESULTS.md").read_text()
    section = text[text.index("### Selection balance") : text.index("### Claims of the papers")]
    assert "| disal | 3 | 6 | 0.00 | 0.00 | 1.00 | 1.00 |" in section
    assert "| random | 3 | 6 |" in section
    # Records without class counts (older ones) are said, not shown as zeros.
    for r in records:
        for c in r["cycles"]:
            c.pop("selected_class_counts", None)
    old = write_results_markdown(records, tmp_path / "OLD.md").read_text()
    assert "carry no per-batch class counts" in old


def test_a_claim_finds_a_strategy_run_with_options_and_refuses_ambiguity(tmp_path):
    """Issue 25 item 4: "isal > random" finds ISAL's records when the profile ran it with options
    (notebook 06 shortens its LiSSA), names the label it used, and refuses to guess between two."""
    from altoolkit.drivers.active_learning_benchmark import Claim, check_claim, claim_label, summarize

    records = [make_record("random", s, RANDOM[s]) for s in (0, 1, 2)]
    records += [make_record("isal", s, DISAL[s], options={"depth": 100, "repeats": 2}) for s in (0, 1, 2)]
    ds = next(iter(summarize(records).datasets.values()))
    assert claim_label(ds, "isal") == "isal [depth=100, repeats=2]" and claim_label(ds, "random") == "random"
    check = check_claim(ds, Claim("isal", ">", "random"))
    assert check.status == "holds" and "isal as isal [depth=100, repeats=2]" in check.numbers()
    other = [make_record("isal", s, DISAL[s], options={"depth": 50, "repeats": 1}) for s in (0, 1, 2)]
    ds = next(iter(summarize(records + other).datasets.values()))
    check = check_claim(ds, Claim("isal", ">", "random"))
    assert check.status == "cannot be checked" and "several option sets of isal" in check.reason
    assert check_claim(ds, Claim("isal [depth=50, repeats=1]", ">", "random")).status == "holds"


def test_coverage_names_every_section_its_seeds_and_the_expected_dataset_without_records(records, tmp_path):
    from altoolkit.cli import main
    from altoolkit.drivers.active_learning_benchmark import coverage_markdown

    unfinished = make_record("random", 7, [0.5, 0.6, 0.7], finished=False)
    text = coverage_markdown(records + [unfinished, make_record("disal", 3, [0.5, 0.6, 0.7])], expected=["digits", "cifar10"])
    lines = text.splitlines()
    assert lines[0] == "Coverage of these records:"
    digits = [line for line in lines if line.startswith("| digits ·")]
    assert len(digits) == 1 and "| 10 | 1 | disal_no_dynamic 3, random 3, disal 4 |" in digits[0]
    assert lines[-1] == "| cifar10 | 0 | 0 | no records: not run yet |"
    folder = tmp_path / "recs"
    folder.mkdir()
    for i, r in enumerate(records):
        (folder / f"{i}.json").write_text(json.dumps(r))
    assert main(["summarize", str(folder), "--out", str(tmp_path / "R.md"), "--expect", "cifar10"]) == 0
    head = (tmp_path / "R.md").read_text().split("## Verdicts")[0]
    assert "Coverage of these records:" in head and "| cifar10 | 0 | 0 | no records: not run yet |" in head
