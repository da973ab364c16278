"""The layers of altoolkit/ (see altoolkit/__init__.py and each subpackage's __init__): which layer
imports which, read from the source (every import statement, also those inside functions and
under ``TYPE_CHECKING``, and ``importlib.import_module`` of a literal name), and who imports the
GUI stack.  A layer imports only the layers of lower levels, and no circle exists, neither
between layers nor between modules."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "altoolkit"
# The intended DAG, lowest first: a layer may import the layers of lower levels only (never one of
# its own level but itself).  A layer is a subpackage or a top-level module of altoolkit/.
LEVELS: list[set[str]] = [
    {"util", "_version"},
    {"math"},
    {"data", "training"},
    {"strategies"},
    {"analysis"},  # below the engine: a record stores the per-cycle selection diagnostics it computes
    {"engine"},
    {"drivers"},
    {"plotting", "labelling"},
    {"widgets", "teaching"},
    {"cli"},
    {"__main__"},
    {"__init__"},  # the top-level API: imports every layer (lazily), none imports it
]
LEVEL = {layer: k for k, layers in enumerate(LEVELS) for layer in layers}
ALLOWED = {layer: {other for other, j in LEVEL.items() if j < k} for layer, k in LEVEL.items()}
GUI = {"matplotlib": ("plotting/", "widgets.py"), "ipywidgets": ("widgets.py",)}


def _module_name(path: Path) -> str:
    parts = ["altoolkit", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> str:
    """``altoolkit.engine.loop`` -> ``engine``; ``altoolkit`` -> ``__init__`` (the top-level API)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path, source: str | None = None) -> list[tuple[str, int]]:
    """Every ``(imported name, line)`` in ``path`` (or in ``source`` read as if at ``path``),
    absolute (``altoolkit.engine.loop``, ``torch``); ``from X import a`` gives ``X.a`` when that is
    a module of altoolkit, else ``X``."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            found += [(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base, node.lineno) for a in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, node.lineno))
    return found


def module_graph() -> dict[str, set[str]]:
    """altoolkit module -> the altoolkit modules it imports (itself excluded)."""
    graph = {}
    for module, path in MODULES.items():
        targets = {name for name, _ in imports(path) if name.split(".")[0] == "altoolkit"}
        graph[module] = {t for t in targets if t != module and t in MODULES}
        unknown = sorted(t for t in targets if t not in MODULES)
        assert unknown == [], f"{module} imports {unknown}, which are no modules of altoolkit"
    return graph


def layer_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """layer -> the other layers its modules import."""
    layers: dict[str, set[str]] = {}
    for module, targets in graph.items():
        layers.setdefault(_layer(module), set()).update(_layer(t) for t in targets if _layer(t) != _layer(module))
    return layers


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` with more than one node (Tarjan), each
    sorted: every circle of the graph lies inside one of them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``"<module> imports <module>"`` for each import of a layer that is not below the importer's."""
    wrong = []
    for module, targets in sorted(graph.items()):
        layer = _layer(module)
        assert layer in LEVEL, f"{MODULES[module]}: a module outside the layers; add its layer to LEVELS"
        wrong += [f"{module} imports {t}" for t in sorted(targets) if _layer(t) != layer and _layer(t) not in ALLOWED[layer]]
    return wrong


def test_the_checks_see_a_circle_and_an_upward_import():
    """The checks themselves: a synthetic graph with a circle, and a lazy import inside a function."""
    graph = {
        "altoolkit.math.a": {"altoolkit.util.b"},
        "altoolkit.util.b": {"altoolkit.util.c"},
        "altoolkit.util.c": {"altoolkit.math.a"},
        "altoolkit.engine.d": {"altoolkit.math.a"},
    }
    assert circles(graph) == [["altoolkit.math.a", "altoolkit.util.b", "altoolkit.util.c"]]
    assert circles(layer_graph(graph)) == [["math", "util"]]
    assert upward_imports(graph) == ["altoolkit.util.c imports altoolkit.math.a"]
    del graph["altoolkit.util.c"]
    assert circles(graph) == [] and upward_imports(graph) == []


def test_imports_are_read_inside_functions_too():
    source = (
        "import torch\n\ndef f():\n    from ..drivers import tsne_selections\n"
        "    import importlib\n    return importlib.import_module('altoolkit.plotting.curves')\n"
    )
    found = [name for name, _ in imports(PACKAGE / "engine" / "sweep.py", source)]  # as if there
    assert found == ["torch", "altoolkit.drivers.tsne_selections", "importlib", "altoolkit.plotting.curves"]
    graph = {"altoolkit.engine.sweep": {"altoolkit.drivers.tsne_selections"}, "altoolkit.drivers.tsne_selections": {"altoolkit.engine.loop"}}
    assert upward_imports(graph) == ["altoolkit.engine.sweep imports altoolkit.drivers.tsne_selections"]


def test_each_layer_imports_only_the_layers_below_it():
    assert upward_imports(module_graph()) == []


def test_no_circle_between_layers_or_modules():
    graph = module_graph()
    assert circles(layer_graph(graph)) == []
    assert circles(graph) == []


@pytest.mark.parametrize("layer", sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()))
def test_every_layer_has_a_level_and_a_docstring_saying_what_it_may_import(layer):
    assert layer in LEVEL, f"altoolkit/{layer}: add it to LEVELS"
    doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text())) or ""
    assert re.search(r"[Mm]ay import|[Ii]mports? (nothing|no other)", doc), f"altoolkit/{layer}/__init__.py: say what the layer may import"


def test_the_package_docstring_lists_the_layers_in_their_order():
    doc = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text())) or ""
    named = [m for m in dict.fromkeys(re.findall(r":mod:`altoolkit\.(\w+)`", doc)) if m in LEVEL and m != "_version"]
    assert sorted(named, key=LEVEL.__getitem__) == named
    assert set(named) == set(LEVEL) - {"_version", "__main__", "__init__"}


def test_only_plotting_and_the_widgets_import_the_gui_stack():
    wrong = []
    for path in MODULES.values():
        rel = path.relative_to(PACKAGE).as_posix()
        for name, line in imports(path):
            top = name.split(".")[0]
            if top in GUI and not rel.startswith(GUI[top]):
                wrong.append(f"{rel}:{line} imports {name}")
    assert wrong == []
