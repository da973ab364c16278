"""The layers of altoolkit/ (see each subpackage's __init__): which layer imports which, read from
the source (static, so lazy imports inside functions count too), and who imports the GUI stack."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "altoolkit"
BELOW_ENGINE = {"util", "math", "data", "training", "strategies"}
UI = {"cli", "teaching", "__main__"}
# layer -> the layers it may import (besides itself, altoolkit/__init__ and _aliases)
ALLOWED = {
    "util": set(),
    "data": {"util"},
    "math": {"util", "training"},  # batching and the output layer of training.inference/models
    "training": {"util", "math", "data", "strategies"},  # strategies: the default-λ rule reads their names
    "strategies": {"util", "math", "data", "training"},
    "analysis": {"util", "math", "training"},
    "engine": BELOW_ENGINE | {"analysis"},
    "drivers": BELOW_ENGINE | {"analysis", "engine"},
    "plotting": BELOW_ENGINE | {"analysis", "engine", "drivers", "labelling"},
    "labelling": BELOW_ENGINE | {"analysis", "engine", "drivers", "plotting"},
    "teaching": set(),
}
# module -> layers it may import beyond its layer's (each a lazy import, explained)
EXCEPTIONS = {
    "engine/estimate.py": {"drivers"},  # measure() times the t-SNE of drivers.tsne_selections
}
GUI = {"matplotlib": ("plotting/", "labelling/widgets.py"), "ipywidgets": ("labelling/widgets.py",)}


def _imports(path: Path):
    """(altoolkit layer, or None) and top-level external package of every import in ``path``."""
    package = ["altoolkit", *path.relative_to(PACKAGE).parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            target = package[: len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
            names = [target[1]] if len(target) > 1 else [a.name for a in node.names]
            yield from ((n, None) for n in names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            yield (parts[1], None) if parts[0] == "altoolkit" and len(parts) > 1 else (None, parts[0])
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                yield (parts[1], None) if parts[0] == "altoolkit" and len(parts) > 1 else (None, parts[0])


def test_each_layer_imports_only_the_layers_below_it():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        layer = rel.split("/")[0]
        if layer not in ALLOWED:
            assert layer.removesuffix(".py") in UI | {"__init__", "_aliases"}, f"{rel}: a module outside the layers"
            continue
        allowed = ALLOWED[layer] | EXCEPTIONS.get(rel, set()) | {layer, "_aliases", "__version__"}
        wrong += [f"{rel} imports altoolkit.{name}" for name, _ in _imports(path) if name and name not in allowed]
    assert wrong == []


def test_only_plotting_and_the_widgets_import_the_gui_stack():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for _, external in _imports(path):
            if external in GUI and not rel.startswith(GUI[external]):
                wrong.append(f"{rel} imports {external}")
    assert wrong == []
