"""The README's benchmark table is generated from benchmarks/results.json, never typed by hand."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_table():
    spec = importlib.util.spec_from_file_location("readme_table", ROOT / "benchmarks" / "readme_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_benchmark_block_equals_what_results_json_generates():
    rt = _readme_table()
    payload = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    extra = [ROOT / "benchmarks" / n for n in ("paper_shape.json", "gpu_cycle.json", "paper_shape_cuda.json")]
    assert rt.readme_block(ROOT / "README.md") == rt.block(payload, *(json.loads(p.read_text()) if p.exists() else None for p in extra))
    if not extra[1].exists():  # the README says the GPU run has not been run
        assert "**not run yet**" in rt.readme_block(ROOT / "README.md")


def test_results_json_records_the_machine_and_repeated_measurements():
    payload = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    for key in ("cpu_capability", "threads", "cpus", "torch"):
        assert key in payload["machine"]
    for name, r in payload["results"].items():
        assert r["runs"] >= 3, name
        if "goal" in r:
            op, goal = r["goal"].split()
            assert r["meets_goal"] == (r["value"] <= float(goal) if op == "<=" else r["value"] >= float(goal)), name


def test_update_readme_rewrites_only_the_marked_block(tmp_path):
    rt = _readme_table()
    payload = {
        "machine": {"cpu_capability": "AVX2", "cpus": 2, "threads": 2, "torch": "x", "python": "3"},
        "total_seconds": 12.0,
        "results": {"r": {"value": 1.5, "min": 1.4, "max": 1.7, "runs": 3, "goal": "<= 2", "meets_goal": True}},
    }
    res = tmp_path / "results.json"
    res.write_text(json.dumps(payload))
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{rt.START}\nold\n{rt.END}\nafter\n")
    assert rt.update_readme(readme, res)
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n") and "old" not in text
    assert "| `r` | 1.50 | 1.40..1.70 | 3 | ≤ 2 | meets |  |" in text
    assert "95% interval" not in text  # a file without intervals gets no sentence about them
    assert not rt.update_readme(readme, res)  # idempotent


def test_table_shows_the_previous_runs_verdicts_and_whether_they_agree():
    rt = _readme_table()
    base = {"machine": {"cpu_capability": "AVX2", "cpus": 2, "threads": 2, "torch": "x", "python": "3"}, "total_seconds": 1.0}
    results = {
        "a": {"value": 1.5, "min": 1.4, "max": 1.7, "runs": 3, "goal": "<= 2", "meets_goal": True},
        "b": {"value": 9.0, "min": 8.0, "max": 9.5, "runs": 3, "goal": ">= 10", "meets_goal": False},
    }
    results["a"]["verdict"], results["b"]["verdict"] = "meets", "misses"
    previous = {"results": {"a": {"value": 1.6, "verdict": "meets"}, "b": {"value": 11.0, "verdict": "on the line"}}}
    text = rt.render({**base, "results": results, "previous_run": previous, "verdicts_agree_with_previous": {"a": True, "b": False}})
    assert "| `a` | 1.50 | 1.40..1.70 | 3 | ≤ 2 | meets | 1.60 (meets) |" in text
    assert "| `b` | 9.00 | 8.00..9.50 | 3 | ≥ 10 | **misses** | 11.0 (on the line) |" in text
    assert "differ for `b`." in text
    agreeing = rt.render({**base, "results": results, "previous_run": previous, "verdicts_agree_with_previous": {"a": True, "b": True}})
    assert "all agree." in agreeing


def test_rows_with_a_95_interval_show_it_and_older_rows_show_what_they_have():
    rt = _readme_table()
    base = {"machine": {"cpu_capability": "AVX2", "cpus": 2, "threads": 2, "torch": "x", "python": "3"}, "total_seconds": 1.0}
    new = {"value": 1.99, "ci_low": 1.83, "ci_high": 2.14, "interval_label": "95% t, 3 processes", "process_values": [2.03, 2.02, 1.92]}
    old = {"value": 2.01, "min": 1.87, "max": 2.06, "process_values": [2.03, 2.02, 1.92]}
    results = {n: {**r, "runs": 9, "goal": "<= 2", "meets_goal": r["value"] <= 2, "verdict": "on the line"} for n, r in (("new", new), ("old", old))}
    text = rt.render({**base, "results": results})
    assert "| `new` | 1.99 | 1.83..2.14 (95% t, 3 processes) | 9 | ≤ 2 | on the line |  |" in text
    assert "| `old` | 2.01 | 1.92..2.03 (min..max of 3 processes) | 9 | ≤ 2 | on the line |  |" in text
    assert "A row with a 95% interval" in text


def _run_benchmarks():
    spec = importlib.util.spec_from_file_location("run_benchmarks", ROOT / "benchmarks" / "run_benchmarks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_verdicts_agree_compares_three_valued_verdicts_with_the_previous_run():
    rb = _run_benchmarks()
    prev = {"results": {"a": {"verdict": "meets"}, "b": {"verdict": "misses"}}}
    now = {"a": {"verdict": "meets"}, "b": {"verdict": "on the line"}, "c": {"verdict": "meets"}, "d": {}}
    assert rb.verdicts_agree(now, prev) == {"a": True, "b": False, "c": None}
