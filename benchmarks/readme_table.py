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


def two_valued(r: dict) -> str | None:
    """The verdict of a result written before verdicts had three values (``meets_goal`` only)."""
    return None if r.get("meets_goal") is None else ("meets" if r["meets_goal"] else "misses")


def interval_cell(r: dict) -> str:
    """``lo..hi (kind)``: the 95% interval of a result written with one (``ci_low``, ``ci_high``,
    ``interval_label``); for a results file written before, what it has: min..max of the processes'
    medians, or its ``min``..``max`` as that file printed it."""
    if r.get("ci_low") is not None:
        return f"{_fmt(r['ci_low'])}..{_fmt(r['ci_high'])} ({r.get('interval_label', '95%')})"
    pv = r.get("process_values")
    if pv:
        return f"{_fmt(min(pv))}..{_fmt(max(pv))} (min..max of {len(pv)} processes)"
    return f"{_fmt(r.get('min'))}..{_fmt(r.get('max'))}" if r.get("min") is not None else ""


def _verdict(verdict: str | None) -> str:
    return "" if verdict is None else "**misses**" if verdict == "misses" else verdict


def render(payload: dict) -> str:
    """Markdown (without the markers) for a results.json payload."""
    m = payload["machine"]
    lines = [
        f"Machine: {m.get('cpu_capability', '?')} CPU, {m.get('cpus', '?')} cores, {m.get('threads', '?')} torch threads, "
        f"torch {m.get('torch', '?')}, Python {m.get('python', '?')}; the run took "
        f"{_fmt(payload.get('total_seconds'))} s ({payload.get('rounds', '?')} rounds, largest pool "
        f"{payload.get('max_pool', 0):,}; load average {_fmt(m.get('load_average_at_start'))} at the start).",
        "",
        "| measure | value | interval | rounds | goal | verdict | previous run |",
        "|---|---|---|---|---|---|---|",
    ]
    prev = (payload.get("previous_run") or {}).get("results", {})
    for name, r in payload["results"].items():
        label = f"`{name}`" + (f" ({r['label']})" if r.get("label") else "")
        interval = interval_cell(r)
        goal = r.get("goal", "").replace("<=", "≤").replace(">=", "≥")
        p = prev.get(name, {})
        before = "" if p.get("value") is None else _fmt(p["value"]) + (f" ({_verdict(p['verdict'])})" if p.get("verdict") else "")
        lines.append(
            f"| {label} | {_fmt(r.get('value'))} | {interval} | {r.get('runs', '')} | {goal} | {_verdict(r.get('verdict', two_valued(r)))} | {before} |"
        )
    if any(r.get("ci_low") is not None for r in payload["results"].values()):
        lines += [
            "",
            "A row with a 95% interval: its value is the mean of the replicates its interval names (a process: "
            "the median of its rounds), the centre of a Student t interval (memory: the Theil-Sen slope and its "
            "interval); its verdict is meets / misses when the interval lies on the goal's side / the other "
            "side, on the line when it straddles the goal.",
        ]
    agree = payload.get("verdicts_agree_with_previous") or {}
    if any(v is not None for v in agree.values()):
        differ = [n for n, v in agree.items() if v is False]
        lines += [
            "",
            "Verdicts of this run and the run before it on this machine: "
            + ("all agree." if not differ else "differ for " + ", ".join(f"`{n}`" for n in differ) + "."),
        ]
    if payload.get("not_run"):
        lines += ["", "Not measured in this run: " + ", ".join(f"`{n}`" for n in payload["not_run"]) + "."]
    notes = [(n, r["note"]) for n, r in payload["results"].items() if r.get("note")]
    if notes:
        lines.append("")
        lines += [f"- `{n}`: {note}" for n, note in notes]
    return "\n".join(lines) + "\n"


def render_paper_shape(shape: dict) -> str:
    """One paragraph for ``benchmarks/paper_shape.json`` (DISAL's cycle cost at the papers' shape)."""
    sh, m = shape["shape"], shape["machine"]
    lo, hi = shape["spread"]
    where = m["gpu"] if m.get("gpu") else f"CPU, {m.get('threads', '?')} threads"
    pairs = ", ".join(_fmt(r) for r in shape["pair_ratios"])
    return (
        f"Paper shape (`benchmarks/paper_shape.py`, {where}, torch {m.get('torch', '?')}): one AL cycle of the "
        f"CIFAR ResNet-18 on {sh['labeled']:,} labeled 32x32 inputs, {sh['epochs']} epoch(s), batch "
        f"{sh['batch_size']}, {sh['augment']}, pool {sh['pool']:,}, step {sh['step']:,}: "
        f"`disal_cycle_over_random_cycle` {_fmt(shape['disal_cycle_over_random_cycle'])} (median of "
        f"{len(shape['pair_ratios'])} interleaved pairs: {pairs}; range {_fmt(lo)}..{_fmt(hi)}); "
        f"DISAL Table 1 on an RTX 3090 Ti: {_fmt(shape['paper'])}.\n"
    )


def render_gpu_cycle(gpu_cycle: dict | None, paper_shape_cuda: dict | None = None) -> str:
    """One paragraph for ``benchmarks/gpu_cycle.json`` (``bash benchmarks/gpu_cycle.sh``): the
    CIFAR-10 protocol's DISAL and random cycles on a GPU, or that this has not been run yet."""
    if gpu_cycle is None or gpu_cycle.get("smoke"):
        return (
            "GPU run (`bash benchmarks/gpu_cycle.sh DATA_ROOT [EPOCHS]`: one random and one DISAL cycle of the "
            "CIFAR-10 protocol on the real files, CIFAR ResNet-18, 5,000 labeled, 200 epochs or the stated "
            "fraction, 2,500 selected from a subset of 25,000): **not run yet**; no GPU machine has been "
            "available to this project so far. Its CPU smoke setting is run by the tests.\n"
        )
    sh, m = gpu_cycle["shape"], gpu_cycle["machine"]
    pairs = ", ".join(_fmt(r) for r in gpu_cycle["pair_ratios"])
    line = (
        f"GPU run (`bash benchmarks/gpu_cycle.sh`, {m.get('gpu') or sh['device']}, torch {m.get('torch', '?')}): one cycle of "
        f"the CIFAR-10 protocol, CIFAR ResNet-18 on {sh['labeled']:,} labeled, {sh['epochs']} of the paper's 200 epochs "
        f"({sh['fraction_of_paper_epochs']:.0%}), {sh['step']:,} selected from {sh['subset']:,}: "
        f"`disal_cycle_over_random_cycle` {_fmt(gpu_cycle['disal_cycle_over_random_cycle'])} ({len(gpu_cycle['pair_ratios'])} "
        f"pair(s): {pairs}); DISAL Table 1 on an RTX 3090 Ti: {_fmt(gpu_cycle['paper'])} (359 s / 299 s).\n"
    )
    if paper_shape_cuda is not None:
        line += "\n" + render_paper_shape(paper_shape_cuda)
    return line


def block(payload: dict, paper_shape: dict | None = None, gpu_cycle: dict | None = None, paper_shape_cuda: dict | None = None) -> str:
    extra = "" if paper_shape is None else "\n" + render_paper_shape(paper_shape)
    extra += "\n" + render_gpu_cycle(gpu_cycle, paper_shape_cuda)
    return f"{START}\n{render(payload)}{extra}{END}"


def _json_next_to(results: Path, name: str) -> dict | None:
    path = results.parent / name
    return json.loads(path.read_text()) if path.exists() else None


def _paper_shape_next_to(results: Path) -> dict | None:
    return _json_next_to(results, "paper_shape.json")


def update_readme(readme: Path, results: Path) -> bool:
    """Replace the marked block of ``readme`` with the table of ``results``; True if it changed."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    extra = [_json_next_to(results, n) for n in ("paper_shape.json", "gpu_cycle.json", "paper_shape_cuda.json")]
    new = head + block(json.loads(results.read_text()), *extra) + tail
    if new != text:
        readme.write_text(new)
    return new != text


def readme_block(readme: Path) -> str:
    """The marked block currently in ``readme`` (markers included)."""
    text = readme.read_text()
    return START + text.split(START, 1)[1].split(END, 1)[0] + END
