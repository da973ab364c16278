"""Exercises that fail trivial answers: the probe that shows it.

An exercise is an nbgrader solution cell (``### BEGIN SOLUTION``) and the graded cell of checks
after it (visible asserts with hints, then ``### BEGIN HIDDEN TESTS``).  A check that only asks for
a number in [0, 1] gives full marks to ``0``; this module runs every exercise's checks, visible and
hidden, against answers a student could write without doing the exercise:

* ``zeros`` -- the answer's shape filled with zeros (an empty set, ``""``, ``{key: 0}``, a function
  returning zeros of its real output's shape);
* ``constant`` -- the same filled with one constant (``1``, ``"a"``, the first indices ``0..k-1``);
* ``identity`` -- the input returned unchanged (a function returning its first argument; for a
  value, the expression the exercise's metadata names, e.g. the scores it should select from);
* ``wrong sign`` -- the answer negated (``-x``, ``-f(z)``), or for a selection or a choice the
  opposite one named in the metadata (the smallest scores instead of the largest).

The kinds a value's type does not give are read from the solution cell's metadata,
``{"altoolkit": {"trivial": {"identity": "<expression>", "wrong sign": "<expression>"}}}``,
evaluated in the notebook's namespace after the solution ran; a multiple-choice answer (a set of
letters) names its options (``{"altoolkit": {"options": "abcde"}}``): identity is every option,
wrong sign the complement of the answer.

:func:`probe_cell` is the source of a cell that a test appends to an executed notebook; it prints
one JSON line (``ALTOOLKIT-PROBE {...}``) with, per exercise and kind, whether the checks passed.
:func:`check_probe` turns that line into problems: a trivial answer that passes, a trivial answer
equal to the solution, a missing kind, or a solution that fails its own checks.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, Callable

__all__ = ["KINDS", "exercises", "trivial_answers", "probe", "probe_cell", "check_probe", "PROBE_TAG"]

KINDS = ("zeros", "constant", "identity", "wrong sign")
PROBE_TAG = "ALTOOLKIT-PROBE"
_HIDDEN = re.compile(r"^\s*### (BEGIN|END) HIDDEN TESTS\s*$", re.M)


def _meta(cell: Any) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _defined_names(source: str) -> list[str]:
    """Names a solution defines at top level (assignments and ``def``), in order."""
    body = "\n".join(line for line in source.splitlines() if not line.strip().startswith("###"))
    names: list[str] = []
    for node in ast.parse(body).body:
        targets = [node.name] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                targets += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
        names += [n for n in targets if n not in names]
    return names


def exercises(nb: Any) -> list[dict[str, Any]]:
    """Each exercise of a notebook (an nbformat node or its JSON dict): ``{"id", "answer" (the
    names its solution defines and the checks read), "test" (the graded cell's source, hidden tests
    included, their marker lines removed), "trivial", "options"}``."""
    cells = nb["cells"]
    out = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code" or not _meta(cell).get("solution"):
            continue
        test = next((c for c in cells[i + 1 :] if c["cell_type"] == "code" and _meta(c).get("grade")), None)
        if test is None:
            raise ValueError(f"solution cell {_meta(cell).get('grade_id')!r} has no graded cell after it")
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        checks = "".join(test["source"]) if isinstance(test["source"], list) else test["source"]
        tree = ast.parse(_HIDDEN.sub("", checks))
        read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        written = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        answer = [n for n in _defined_names(src) if n in read and n not in written]
        extra = cell.get("metadata", {}).get("altoolkit", {})
        out.append(
            {
                "id": _meta(cell)["grade_id"],
                "answer": answer,
                "test": _HIDDEN.sub("", checks),
                "trivial": extra.get("trivial", {}),
                "options": extra.get("options"),
            }
        )
    return out


def _fill(value: Any, const: Any) -> Any:
    """``value``'s shape filled with ``const`` (0 or 1): numbers, arrays, tensors, lists, tuples,
    sets, dicts and strings; None where the type has no such filling."""
    if isinstance(value, bool):
        return bool(const)
    if isinstance(value, (int, float)):
        return type(value)(const)
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy array or torch tensor
        return value * 0 + const
    if isinstance(value, str):
        return "a" if const else ""
    if isinstance(value, dict):
        return {k: _fill(v, const) for k, v in value.items()}
    if isinstance(value, set):
        return {x for x in range(len(value))} if const else set()
    if isinstance(value, (list, tuple)):
        return type(value)(range(len(value))) if const and all(isinstance(x, int) for x in value) else type(value)(_fill(x, const) for x in value)
    return None


def _negate(value: Any) -> Any:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or (hasattr(value, "shape") and hasattr(value, "dtype")):
        return -value
    if isinstance(value, dict) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):
        return {k: -v for k, v in value.items()}
    return None


def _function_answers(fn: Callable) -> dict[str, Any]:
    return {
        "zeros": lambda *a, **k: _fill(fn(*a, **k), 0),
        "constant": lambda *a, **k: _fill(fn(*a, **k), 1),
        "identity": lambda *a, **k: a[0] if a else None,
        "wrong sign": lambda *a, **k: _negate(fn(*a, **k)),
    }


def trivial_answers(real: dict[str, Any], spec: dict[str, Any], namespace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{kind: {name: trivial value}}`` for the answer ``real`` (``{name: value}`` after the
    solution ran); kinds that neither the type nor the metadata give are left out."""
    out: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
    for name, value in real.items():
        if callable(value) and not isinstance(value, type):
            for kind, fn in _function_answers(value).items():
                out[kind][name] = fn
            continue
        if spec.get("options") and isinstance(value, set):
            opts = set(spec["options"])
            auto = {"zeros": set(), "constant": {sorted(opts)[0]}, "identity": set(opts), "wrong sign": opts - value}
        else:
            auto = {"zeros": _fill(value, 0), "constant": _fill(value, 1), "wrong sign": _negate(value)}
        for kind, v in auto.items():
            if v is not None:
                out[kind][name] = v
    for kind, expr in spec.get("trivial", {}).items():
        value = eval(expr, dict(namespace))  # noqa: S307  (an expression the notebook's author wrote in its metadata)
        out[kind] = {name: value for name in real} if len(real) == 1 else dict(value)
    return {k: v for k, v in out.items() if len(v) == len(real)}


def _same(a: Any, b: Any) -> bool:
    try:
        import numpy as np

        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))) if hasattr(a, "shape") else bool(a == b)
    except Exception:
        return False


def _run_checks(test: str, namespace: dict[str, Any], values: dict[str, Any]) -> str:
    ns = dict(namespace)
    ns.update(values)
    try:
        exec(compile(test, "<exercise checks>", "exec"), ns)  # noqa: S102  (the notebook's own graded cell)
    except Exception as exc:  # a failed assert, or an error a wrong answer causes
        return type(exc).__name__
    return "passed"


def probe(namespace: dict[str, Any], specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run each exercise's checks on its solution and on each trivial answer, in copies of
    ``namespace`` (the notebook's globals after every cell ran)."""
    results = []
    for spec in specs:
        missing = [n for n in spec["answer"] if n not in namespace]
        if missing or not spec["answer"]:
            results.append({"exercise": spec["id"], "answer": "solution", "outcome": f"no answer names {missing or spec['answer']}"})
            continue
        real = {n: namespace[n] for n in spec["answer"]}
        results.append({"exercise": spec["id"], "answer": "solution", "outcome": _run_checks(spec["test"], namespace, real)})
        for kind, values in trivial_answers(real, spec, namespace).items():
            same = not any(callable(v) for v in real.values()) and all(_same(values[n], real[n]) for n in real)
            outcome = "equals the solution" if same else _run_checks(spec["test"], namespace, values)
            results.append({"exercise": spec["id"], "answer": kind, "outcome": outcome})
    return results


def probe_cell(nb: Any) -> str:
    """Source of a code cell that runs :func:`probe` on every exercise of ``nb`` and prints the
    result as one ``ALTOOLKIT-PROBE`` JSON line."""
    specs = exercises(nb)
    return f"import json as _json\nfrom altoolkit.teaching.exercises import probe as _probe\nprint({PROBE_TAG!r}, _json.dumps(_probe(globals(), {specs!r})))"


def check_probe(output: str) -> list[str]:
    """Problems in a probe's printed line: a solution that fails its checks, a trivial answer that
    passes them or equals the solution, a kind that was not tried."""
    line = next((ln for ln in output.splitlines() if ln.startswith(PROBE_TAG)), None)
    if line is None:
        return [f"no {PROBE_TAG} line in the output"]
    results = json.loads(line[len(PROBE_TAG) :])
    problems = []
    by_ex: dict[str, dict[str, str]] = {}
    for r in results:
        by_ex.setdefault(r["exercise"], {})[r["answer"]] = r["outcome"]
    for ex, outcomes in by_ex.items():
        if outcomes.get("solution") != "passed":
            problems.append(f"{ex}: the solution does not pass its own checks ({outcomes.get('solution')})")
        for kind in KINDS:
            got = outcomes.get(kind)
            if got is None:
                problems.append(f"{ex}: no {kind!r} answer was tried (give one in the solution cell's metadata)")
            elif got in ("passed", "equals the solution"):
                problems.append(f"{ex}: the {kind!r} answer {got}")
    return problems
