"""The 0.1 module names (altoolkit/_aliases.py): every old name is the new module itself, deep
imports and ``python -m`` work, and every ``alt.<module>.<name>`` the notebooks call resolves."""

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import altoolkit as alt
from altoolkit._aliases import MOVED, MOVED_ATTRS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_name_is_the_new_module(old):
    new = importlib.import_module(f"altoolkit.{MOVED[old]}")
    assert importlib.import_module(f"altoolkit.{old}") is new
    assert getattr(alt, old) is new
    assert new.__spec__.name == new.__name__ == f"altoolkit.{MOVED[old]}"  # the alias did not rename it
    assert Path(new.__file__).is_relative_to(ROOT / "altoolkit")


def test_deep_imports_and_patching_through_an_old_name(monkeypatch):
    from altoolkit.influence import tracin_scores
    from altoolkit.math.influence import tracin_scores as new

    assert tracin_scores is new
    import altoolkit.labelstore as old_store

    monkeypatch.setattr(old_store, "STORE_FORMAT", "patched")
    assert importlib.import_module("altoolkit.labelling.store").STORE_FORMAT == "patched"


def test_new_names_are_not_aliased():
    assert not set(MOVED) & {"data", "strategies", "cli", "math", "engine"}
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("altoolkit.nope")


def test_every_call_of_the_notebooks_resolves():
    calls = set()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            calls |= set(re.findall(r"\balt\.(\w+)\.(\w+)", "".join(cell["source"])))
    assert len(calls) > 100
    for module, name in sorted(calls):
        assert getattr(getattr(alt, module), name) is not None, f"alt.{module}.{name}"


def test_moved_figures_resolve_from_the_old_module():
    for module, (target, names) in MOVED_ATTRS.items():
        old, new = importlib.import_module(module), importlib.import_module(target)
        for name in names:
            assert getattr(old, name) is getattr(new, name)
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            old.nope


def test_data_keeps_every_0_1_name():
    import altoolkit.data as D
    from altoolkit.data import loaders, registry

    assert D._check_cifar_file is loaders._check_cifar_file and D.CIFAR10_MEAN == loaders.CIFAR10_MEAN
    assert D._IMBALANCED_NAME is registry._IMBALANCED_NAME
    for name in D.__all__:
        assert getattr(D, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        D.nope


@pytest.mark.parametrize("old,new", [("course", "teaching.course"), ("book", "teaching.book")])
def test_python_m_old_name_runs_the_new_module(old, new):
    out = subprocess.run([sys.executable, "-m", f"altoolkit.{old}", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"python -m altoolkit.{new}" in out.stdout


def test_relayout_tool_rewrites_0_1_imports_only(tmp_path):
    """tools/relayout_imports.py (for merging 0.1 work): old imports at the file's 0.2 place are
    pointed at the new modules; imports that already resolve and strings stay."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import relayout_imports as tool
    finally:
        sys.path.remove(str(ROOT / "tools"))
    module = tmp_path / "loop.py"
    module.write_text(
        "from .train import TrainConfig\nfrom ..data import ALDataset\nfrom . import stats\n"
        "from .record_io import atomic_write\nimport altoolkit.influence as inf\nFORMAT = 'altoolkit.labelstore'\n"
    )
    assert len(tool.rewrite(module, "altoolkit.engine.loop")) == 3
    assert module.read_text() == (
        "from ..training.train import TrainConfig\nfrom ..data import ALDataset\nfrom ..math import stats\n"
        "from .record_io import atomic_write\nimport altoolkit.math.influence as inf\nFORMAT = 'altoolkit.labelstore'\n"
    )
