"""Rerun agreement (issue 25, item 6): two runs' verdicts paired claim by claim; a flip between
holds and contradicted is told apart from a move to or from inconclusive."""

import json

from altoolkit.cli import main
from altoolkit.drivers.rerun_agreement import rerun_agreement
from tests.test_summary import make_record

CLAIMS = ["disal > random", "disal_no_dynamic > random", "disal > disal_no_dynamic"]


def _run(disal_gain: float, no_dynamic_gain: float, seeds: range) -> list[dict]:
    """Records whose AULC differences against random are about the given gains (points), with a
    little seed-to-seed spread so that a gain of 0 is inconclusive."""
    out = []
    for s in seeds:
        wobble = 0.01 * ((s % 3) - 1)
        base = [0.5, 0.6, 0.7]
        out.append(make_record("random", s, base))
        out.append(make_record("disal", s, [a + disal_gain + wobble for a in base]))
        out.append(make_record("disal_no_dynamic", s, [a + no_dynamic_gain - wobble for a in base]))
    return out


def test_flips_and_moves_are_counted_apart():
    first = _run(0.05, 0.0, range(6))  # disal > random holds; no_dynamic > random inconclusive; disal > no_dynamic holds
    second = _run(-0.05, 0.04, range(10, 16))  # contradicted; holds; contradicted
    agreement = rerun_agreement(first, second, claims=CLAIMS)
    changes = {p.claim: p.change for p in agreement.pairs}
    assert changes == {
        "disal > random (AULC)": "flip",
        "disal_no_dynamic > random (AULC)": "from inconclusive",
        "disal > disal_no_dynamic (AULC)": "flip",
    }
    words = "3 claims checked in both runs: 0 same verdict, 2 flipped between holds and contradicted, 0 moved to inconclusive and 1 from it; 0"
    assert agreement.sentence().startswith(words)
    same = rerun_agreement(first, _run(0.05, 0.0, range(20, 26)), claims=CLAIMS)
    assert [p.change for p in same.pairs] == ["same"] * 3 and not same.flips


def test_a_claim_checked_in_one_run_only_or_in_neither():
    from altoolkit.drivers.rerun_agreement import agreement_markdown

    first = _run(0.05, 0.0, range(4))
    second = [r for r in _run(0.05, 0.0, range(4)) if r["config"]["strategy"] != "disal_no_dynamic"]
    agreement = rerun_agreement(first, second, claims=CLAIMS + ["disal > badge"])
    changes = {p.claim: p.change for p in agreement.pairs}
    assert changes["disal > random (AULC)"] == "same" and changes["disal_no_dynamic > random (AULC)"] == "first run only"
    assert changes["disal > badge (AULC)"] == "neither"  # no records of badge in either run
    text = agreement_markdown(agreement)
    assert "1 in the second only" not in text and "(1 in neither, left out of the table)" in text and "disal > badge" not in text


def test_cli_prints_and_writes_the_table(tmp_path, capsys):
    for name, run in (("a", _run(0.05, 0.0, range(4))), ("b", _run(-0.05, 0.0, range(4)))):
        (tmp_path / name).mkdir()
        for i, r in enumerate(run):
            (tmp_path / name / f"{i}.json").write_text(json.dumps(r))
    out = tmp_path / "agreement.md"
    assert main(["agreement", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    written = out.read_text()
    assert "flipped between holds and contradicted" in printed and written.strip().endswith(printed.strip())
    assert written.startswith(f"# Rerun agreement: {tmp_path / 'a'} against {tmp_path / 'b'}")
    assert f"`altoolkit agreement {tmp_path / 'a'} {tmp_path / 'b'}`" in written
    assert "| digits · " in printed and "| flip |" in printed
    (tmp_path / "empty").mkdir()
    assert main(["agreement", str(tmp_path / "a"), str(tmp_path / "empty")]) == 2
    assert "second: no altoolkit records" in capsys.readouterr().err


def _rule_run(margin_counts, margin_gain, seeds):
    """margin + balanced against its random-score control (random + balanced): per-batch class
    counts and accuracies as a notebook-09 run records them."""
    out = []
    for s in seeds:
        wobble = 0.01 * ((s % 3) - 1)
        for strategy, counts, gain in (("margin", margin_counts, margin_gain), ("random", [1, 1, 1], 0.0)):
            r = make_record(strategy, s, [0.5 + gain + wobble, 0.6 + gain, 0.7 + gain], options={"batch": "balanced"})
            r["dataset"] = {"num_classes": 3}
            for c in r["cycles"][:-1]:
                c.update(selected=[0, 1, 2], selected_class_counts=counts, topk_overlap=0.5)
            out.append(r)
    return out


def test_batch_rules_against_their_control_are_paired_too():
    from altoolkit.drivers.rerun_agreement import rule_verdicts

    first = _rule_run([3, 0, 0], 0.05, range(6))  # more one-class than its control, and ahead of it
    second = _rule_run([1, 1, 1], 0.05, range(10, 16))  # as balanced as its control: share no longer holds
    checks = rule_verdicts(first)
    assert {c.split("'s")[0] for _, c in checks} == {"margin+balanced > random+balanced (AULC)", "margin+balanced"}
    assert all(section.endswith(": batch rules against their random-score control") for section, _ in checks)
    changes = {p.claim: p.change for p in rerun_agreement(first, second, claims=["margin > random"]).pairs}
    assert changes["margin+balanced > random+balanced (AULC)"] == "same"
    share = next(k for k in changes if "more one-class" in k)
    assert changes[share] in ("to inconclusive", "flip")
    # a section of top-k runs alone has no batch-rule table, so no rule verdicts
    assert rule_verdicts(_run(0.05, 0.0, range(4))) == {}


def test_a_claim_on_unequal_seed_counts_is_marked():
    from altoolkit.drivers.rerun_agreement import agreement_markdown

    partial = [r for r in _run(0.05, 0.0, range(10, 16)) if not (r["config"]["strategy"] == "disal" and r["config"]["seed"] > 12)]
    agreement = rerun_agreement(_run(0.05, 0.0, range(6)), partial, claims=CLAIMS)
    marked = {p.claim for p in agreement.pairs if p.unequal_seeds}
    assert marked == {"disal > random (AULC)", "disal > disal_no_dynamic (AULC)"}
    assert agreement.sentence().endswith("2 of those checked in both rest on unequal seed counts.")
    assert "| same (unequal seeds) |" in agreement_markdown(agreement)
    assert not any(p.unequal_seeds for p in rerun_agreement(_run(0.05, 0.0, range(6)), _run(0.05, 0.0, range(10, 16)), claims=CLAIMS).pairs)
