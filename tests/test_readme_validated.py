"""The README's "What is validated" table names tests that exist: every entry of its last column
(``test_file::test_name``, a bare ``test_name`` continuing the file named before it in the same
cell, ``*`` as a wildcard, or a bare ``test_file``) matches a test function of that file."""

from __future__ import annotations

import ast
import fnmatch
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rows() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## What is validated", 1)[1].split("\n## ", 1)[0]
    return [ln for ln in section.splitlines() if ln.startswith("| ") and not ln.startswith("| input ")]


@lru_cache(maxsize=None)
def _tests(module: str) -> list[str]:
    tree = ast.parse((ROOT / "tests" / f"{module}.py").read_text())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]


def test_every_named_test_exists():
    rows = _rows()
    assert len(rows) >= 25
    missing = []
    for row in rows:
        cell = row.rstrip(" |").rsplit("|", 1)[1]
        module = None
        for entry in re.findall(r"`([^`]+)`", cell):
            if "::" in entry:
                module, pattern = entry.split("::", 1)
            elif (ROOT / "tests" / f"{entry}.py").exists():
                module, pattern = entry, None
            else:
                pattern = entry
            assert module is not None and (ROOT / "tests" / f"{module}.py").exists(), f"{entry!r} names no test file: {row[:60]}"
            if pattern is not None and not fnmatch.filter(_tests(module), pattern):
                missing.append(f"{module}::{pattern}")
    assert missing == []
