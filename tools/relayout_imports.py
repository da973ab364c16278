"""Rewrite a module's 0.1 imports (flat ``altoolkit/``) to the 0.2 layout, in place.

For merging work written against 0.1 into 0.2: ``python tools/relayout_imports.py FILE...`` (files
under ``altoolkit/`` at their 0.2 place).  A relative import that resolves at the file's 0.2 place
is kept; one that does not is read at the file's 0.1 place (``altoolkit/`` or
``altoolkit/strategies/``) and pointed at the 0.2 module that :data:`altoolkit._aliases.MOVED`
names.  Absolute ``altoolkit.<old>`` imports become ``altoolkit.<new>``.  Prints each changed line.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from altoolkit._aliases import MOVED  # noqa: E402

_FROM = re.compile(r"^(\s*)from (\.+)([\w.]*) import (.*)$")
_ABSOLUTE = re.compile(r"\baltoolkit\.(" + "|".join(sorted(MOVED, key=len, reverse=True)) + r")\b")


def _new_name(absolute: str) -> str:
    parts = absolute.split(".")
    if len(parts) > 1 and parts[1] in MOVED:
        parts[1:2] = MOVED[parts[1]].split(".")
    return ".".join(parts)


def _exists(absolute: str) -> bool:
    return (ROOT / Path(*absolute.split("."))).with_suffix(".py").exists() or (ROOT / Path(*absolute.split("."))).is_dir()


def _relative(target: str, package: str) -> str:
    t, p = target.split("."), package.split(".")
    common = 0
    while common < min(len(t), len(p)) and t[common] == p[common]:
        common += 1
    return "." * (len(p) - common + 1) + ".".join(t[common:])


def rewrite(path: Path, module: str | None = None) -> list[str]:
    """Rewrite ``path`` (the 0.2 module ``module``; by default read from its place under the
    repository) in place; returns the new lines that differ."""
    module = module or ".".join(path.resolve().relative_to(ROOT).with_suffix("").parts)
    package = module.removesuffix(".__init__") if module.endswith(".__init__") else module.rsplit(".", 1)[0]
    old_package = "altoolkit.strategies" if package == "altoolkit.strategies" else "altoolkit"
    lines, changed = path.read_text().split("\n"), []
    for n, line in enumerate(lines):
        m = _FROM.match(line)
        if m:
            indent, dots, name, rest = m.groups()
            if name:  # from .module import names
                if _exists(importlib.util.resolve_name(dots + name, package)):
                    continue
                target = _new_name(importlib.util.resolve_name(dots + name, old_package))
                new = f"{indent}from {_relative(target, package)} import {rest}"
            else:  # from . import module (one 0.1 module)
                base = importlib.util.resolve_name(dots, package)
                leaf, _, alias = rest.split("#")[0].strip().partition(" as ")
                if _exists(f"{base}.{leaf}") or leaf not in MOVED:
                    continue
                target, _, new_leaf = _new_name(f"{importlib.util.resolve_name(dots, old_package)}.{leaf}").rpartition(".")
                alias = alias or leaf
                new = f"{indent}from {_relative(target, package)} import {new_leaf}" + ("" if alias == new_leaf else f" as {alias}")
        elif line.lstrip().startswith(("import altoolkit.", "from altoolkit.")):
            new = _ABSOLUTE.sub(lambda a: "altoolkit." + MOVED[a.group(1)], line)
        else:
            continue
        if new != line:
            lines[n] = new
            changed.append(new)
    path.write_text("\n".join(lines))
    return changed


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        for line in rewrite(Path(arg)):
            print(f"{arg}: {line.strip()}")
