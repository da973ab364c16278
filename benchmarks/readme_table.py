"""The README's benchmark table, generated from ``benchmarks/results.json`` (no torch import).

``run_benchmarks.py`` writes the block between the markers below after every run, and
``python benchmarks/run_benchmarks.py --readme-only`` rewrites it from the committed JSON;
``tests/test_bench_readme.py`` checks that the README's block equals what the JSON generates.
"""

from __future__ import annotations

import json
from pathlib import Path

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


def _fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def render(payload: dict) -> str:
    """Markdown (without the markers) for a results.json payload."""
    m = payload["machine"]
    lines = [
        f"Machine: {m.get('cpu_capability', '?')} CPU, {m.get('cpus', '?')} cores, {m.get('threads', '?')} torch threads, "
        f"torch {m.get('torch', '?')}, Python {m.get('python', '?')}; the run took "
        f"{_fmt(payload.get('total_seconds'))} s ({payload.get('rounds', '?')} rounds, largest pool "
        f"{payload.get('max_pool', 0):,}; load average {_fmt(m.get('load_average_at_start'))} at the start).",
        "",
        "| measure | median | spread (min..max) | runs | goal | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in payload["results"].items():
        label = f"`{name}`" + (f" ({r['label']})" if r.get("label") else "")
        spread = f"{_fmt(r.get('min'))}..{_fmt(r.get('max'))}" if r.get("min") is not None else ""
        goal = r.get("goal", "").replace("<=", "≤").replace(">=", "≥")
        verdict = "" if "meets_goal" not in r else ("meets" if r["meets_goal"] else "**misses**")
        lines.append(f"| {label} | {_fmt(r.get('value'))} | {spread} | {r.get('runs', '')} | {goal} | {verdict} |")
    if payload.get("not_run"):
        lines += ["", "Not measured in this run: " + ", ".join(f"`{n}`" for n in payload["not_run"]) + "."]
    notes = [(n, r["note"]) for n, r in payload["results"].items() if r.get("note")]
    if notes:
        lines.append("")
        lines += [f"- `{n}`: {note}" for n, note in notes]
    return "\n".join(lines) + "\n"


def block(payload: dict) -> str:
    return f"{START}\n{render(payload)}{END}"


def update_readme(readme: Path, results: Path) -> bool:
    """Replace the marked block of ``readme`` with the table of ``results``; True if it changed."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + block(json.loads(results.read_text())) + tail
    if new != text:
        readme.write_text(new)
    return new != text


def readme_block(readme: Path) -> str:
    """The marked block currently in ``readme`` (markers included)."""
    text = readme.read_text()
    return START + text.split(START, 1)[1].split(END, 1)[0] + END
