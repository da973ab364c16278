"""Functions a reader can hold: no function of the engine or the training layer is longer than
``LIMIT`` lines (its signature and body, read from the source; the docstring is not counted)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "altoolkit"
LIMIT = 60
CHECKED = ("engine", "training")


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` (decorators excluded) to the function's last line, less its docstring's."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def long_functions(source: str, name: str) -> list[str]:
    tree = ast.parse(source, name)
    return [
        f"{name}:{node.lineno} {node.name} has {code_lines(node)} lines"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and code_lines(node) > LIMIT
    ]


def test_the_check_sees_a_long_function_and_ignores_the_docstring():
    body = "".join(f"    x{i} = {i}\n" for i in range(LIMIT))
    doc = '    """' + "\n".join(["a docstring line"] * 40) + '"""\n'
    assert long_functions(f"def short():\n{doc}{body[: -len('    x59 = 59')]}\n", "m.py") == []
    assert long_functions(f"def short():\n{doc}{body}", "m.py") == ["m.py:1 short has 61 lines"]
    assert long_functions(f"class A:\n    def f(self):\n{body}".replace("\n    x", "\n        x"), "m.py") == ["m.py:2 f has 61 lines"]


def test_no_function_of_the_engine_or_training_is_longer_than_the_limit():
    wrong = []
    for layer in CHECKED:
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            wrong += long_functions(path.read_text(), path.relative_to(PACKAGE).as_posix())
    assert wrong == []
