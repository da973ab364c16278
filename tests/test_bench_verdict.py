"""A benchmark's verdict: stats.verdict of the replicates' margins to the goal (processes as the unit)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from altoolkit.math import stats

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rb():
    spec = importlib.util.spec_from_file_location("run_benchmarks", ROOT / "benchmarks" / "run_benchmarks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _judged(rb, out: dict, op: str, goal: float) -> tuple[dict, str]:
    out = rb.with_interval(out)
    return out, rb.verdict(out, op, goal)


def test_processes_are_the_replicates_and_the_value_is_their_mean(rb):
    out, v = _judged(rb, {**rb.ratio([1.9, 1.95, 1.85, 1.88], [1.0] * 4), "process_values": [1.90, 1.92, 1.91]}, "<=", 2.0)
    assert out["value"] == pytest.approx(1.91)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx(stats.confidence_interval([1.90, 1.92, 1.91]))
    assert out["ci_low"] < 1.91 < out["ci_high"] < 2.0 and v == "meets"
    assert out["median_of_rounds"] == pytest.approx(1.89) and out["ratios"] == pytest.approx([1.9, 1.95, 1.85, 1.88])
    assert "3 fresh processes" in out["interval_kind"] and out["interval_label"] == "95% t, 3 processes"


@pytest.mark.parametrize(
    ("values", "op", "goal", "expected"),
    [
        ([2.10, 2.12, 2.11], "<=", 2.0, "misses"),
        ([1.95, 2.05, 2.00], "<=", 2.0, "on the line"),
        ([12.0, 12.5, 11.8], ">=", 10.0, "meets"),
        ([4.1, 4.3, 4.5], ">=", 10.0, "misses"),
        ([9.4, 11.1, 9.5], ">=", 10.0, "on the line"),
    ],
)
def test_three_values_for_both_directions(rb, values, op, goal, expected):
    assert _judged(rb, {"process_values": values, "ratios": values}, op, goal)[1] == expected


def test_min_max_of_three_outside_the_goal_is_not_enough_to_miss(rb):
    """Run 3's processes of disal_scoring_over_inference (2.005, 2.016, 2.066) all lie above the goal
    2, which the old min..max rule called a miss; their t interval of the mean straddles 2."""
    out, v = _judged(rb, {"process_values": [2.005, 2.016, 2.066]}, "<=", 2.0)
    assert out["ci_low"] < 2.0 < out["ci_high"] and v == "on the line"


def test_one_process_falls_back_to_its_rounds_and_says_so(rb):
    out, v = _judged(rb, {**rb.ratio([1.50, 1.52, 1.51], [1.0, 1.0, 1.0]), "process_values": [1.51]}, "<=", 2.0)
    assert out["value"] == pytest.approx(1.51) and v == "meets"
    assert "ONE process" in out["interval_kind"] and out["interval_label"] == "95% t, 3 rounds, 1 process"
    thr, _ = _judged(rb, rb.spread([200.0, 210.0, 205.0]), ">=", 100.0)  # a throughput: its rounds as per_round
    assert thr["value"] == pytest.approx(205.0) and thr["ci_low"] < 205.0 < thr["ci_high"]


def test_fresh_interpreter_rounds_are_replicates(rb):
    out, v = _judged(rb, {**rb.ratio([0.02, 0.021, 0.019, 0.02, 0.022], [1.0] * 5), "rounds_are_fresh_processes": True}, "<=", 1.2)
    assert v == "meets" and out["interval_label"] == "95% t, 5 fresh interpreter pairs"


def test_a_result_with_its_own_interval_is_judged_on_it(rb):
    mem = {"value": 4.0, "min": -18.3, "max": 20.0, "ci_low": -18.3, "ci_high": 20.0, "interval_kind": "95% Theil-Sen ...", "runs": 9}
    assert rb.with_interval(mem) == mem
    assert rb.verdict(mem, "<=", 40.0) == "meets"
    assert rb.verdict(mem, "<=", 10.0) == "on the line"
    assert rb.verdict(mem, "<=", -20.0) == "misses"


def test_bad_input_names_what_is_allowed(rb):
    with pytest.raises(ValueError, match="op must be"):
        rb.verdict({"process_values": [1.0, 2.0]}, "<", 2.0)
    with pytest.raises(ValueError, match="replicates"):
        rb.verdict({"value": 1.0}, "<=", 2.0)


def test_pooled_processes_take_each_process_median_and_rejudge_the_pool(rb, tmp_path, monkeypatch):
    """The parent keeps each child's median of rounds as its process value and drops the child's
    own interval and verdict (over its rounds) so that the pooled result is judged anew."""
    children = iter([[1.0, 1.1, 1.2], [1.3, 1.4, 1.5], [0.9, 1.0, 1.05]])

    def fake_run(cmd, **_):
        rounds = next(children)
        out = {**rb.with_interval({**rb.ratio(rounds, [1.0] * 3), "extra_seconds": sum(rounds), "label": "x"}), "verdict": "meets"}
        Path(cmd[cmd.index("--out") + 1]).write_text(rb.json.dumps({"results": {"r": out}}))

    monkeypatch.setattr(rb.subprocess, "run", fake_run)
    merged = rb.with_interval(rb.spread_over_the_run(["r"], 3, 3, tmp_path)["r"][0])
    assert merged["process_values"] == pytest.approx([1.1, 1.4, 1.0])
    assert merged["value"] == pytest.approx(3.5 / 3) and merged["interval_label"] == "95% t, 3 processes"
    assert merged["runs"] == 9 and merged["median_of_rounds"] == pytest.approx(1.1)
    assert merged["extra_seconds"] == pytest.approx(3.3) and "verdict" not in merged


def test_main_records_value_interval_and_verdict(rb, tmp_path, monkeypatch):
    monkeypatch.setitem(rb.BENCHES, "fake", lambda data, rounds, **_: rb.ratio([1.50, 1.52, 1.51, 1.49][:rounds], [1.0] * rounds))
    monkeypatch.setitem(rb.GOALS, "fake", ("<=", 2.0))
    monkeypatch.setattr(rb.alt, "load_digits", lambda seed: None)
    out = tmp_path / "results.json"
    assert rb.main(["--only", "fake", "--out", str(out), "--no-readme", "--processes", "1"]) == 0
    r = rb.json.loads(out.read_text())["results"]["fake"]
    assert r["verdict"] == "meets" and r["meets_goal"] and r["goal"] == "<= 2"
    assert r["ci_low"] < r["value"] < r["ci_high"] < 2.0 and "ONE process" in r["interval_kind"]


def test_quick_ratios_take_their_processes_in_turns(rb, tmp_path, monkeypatch):
    """Process i of every quick ratio runs before process i+1 of any, so each ratio's replicates
    span the whole run (back-to-back processes shared one minute's machine state)."""
    order = []

    def fake_process(name, index, rounds, tmpdir):
        order.append((name, index))
        return rb.with_interval(rb.ratio([1.0 + index / 10] * rounds, [1.0] * rounds))

    monkeypatch.setattr(rb, "in_process", fake_process)
    pooled = rb.spread_over_the_run(["a", "b"], 3, 3, tmp_path)
    assert order == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert pooled["a"][0]["process_values"] == pytest.approx([1.0, 1.1, 1.2]) and pooled["b"][1] >= 0
