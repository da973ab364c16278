"""The two install routes (pip + constraints.txt, conda + environment.yml) list the same packages."""

import re
import tomllib
from pathlib import Path

import pytest

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_and_pyproject_list_the_same_packages():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = {_name(r) for r in py["dependencies"]} | {_name(r) for r in py["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = set(), set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip |= {_name(r) for r in dep["pip"] if not r.startswith(("-", "."))}
        else:
            conda.add(_name(dep))
    conda -= {"python", "pip"}
    assert conda | pip == pyproject
    assert "conda-forge" in env["channels"]


def test_the_version_is_the_same_in_pyproject_the_package_and_the_changelog():
    from altoolkit._version import __version__

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == __version__
    assert f"## {__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_torch_pair_is_pinned_in_one_place():
    pins = [l for l in (ROOT / "constraints.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert sorted(_name(p) for p in pins) == ["torch", "torchvision"]
    assert all("==" in p for p in pins)
    for f in ("pyproject.toml", "environment.yml", "Makefile"):
        text = (ROOT / f).read_text()
        assert not re.search(r"torch(vision)?\s*==", text), f"{f} pins torch; constraints.txt is the one place"
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in (ROOT / "environment.yml").read_text()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make reproduce" in readme


# GUI and heavy optional stacks that `import altoolkit` and the CLI must not load (issue 13, item 2)
_HEAVY = ("matplotlib", "ipywidgets", "torchvision", "sklearn", "PIL", "papermill", "captum")


def _fresh(code: str) -> list[str]:
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code + f"\nimport json, sys; print(json.dumps([m for m in {_HEAVY!r} if m in sys.modules]))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_altoolkit_loads_no_gui_stack_and_no_submodule():
    assert _fresh("import altoolkit") == []
    # the only submodule is the version (a leaf that imports nothing)
    assert _fresh("import altoolkit, sys; assert [m for m in sys.modules if m.startswith('altoolkit.')] == ['altoolkit._version']") == []


@pytest.mark.slow
def test_cli_and_engine_load_no_gui_stack():
    code = (
        "import altoolkit as alt\nfrom altoolkit.cli import main\nmain(['strategies'])\n"
        "alt.ALConfig, alt.run_active_learning, alt.get_strategy, alt.load_digits, alt.train_model\n"
        "import altoolkit.engine.sweep, altoolkit.math.influence, altoolkit.training.inference"
    )
    assert _fresh(code) == []


def test_every_top_level_name_resolves_lazily():
    import altoolkit as alt

    for name in alt.__all__:
        assert getattr(alt, name) is not None, name
    for module in ("plotting.curves", "engine.sweep", "widgets", "labelling.project", "drivers.isal_influence_functions", "training.inference"):
        layer, _, name = module.partition(".")
        assert (getattr(getattr(alt, layer), name) if name else getattr(alt, layer)).__name__ == f"altoolkit.{module}"
    assert alt.strategies.__name__ == "altoolkit.strategies"
    for old in ("plots", "sweep", "labeling", "isal_study", "inference"):  # the 0.1 names are gone (CHANGELOG.md)
        assert not hasattr(alt, old), old
    assert set(alt.__all__) <= set(dir(alt))
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        alt.nope


def test_torch_index_is_passed_to_pip_only_when_set(tmp_path):
    """Issue 28: `make install TORCH_INDEX=...` installs torch and torchvision from that index (e.g.
    PyTorch's CPU-only builds) under the same pins; without it (CI) there is no --index-url at all."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        import pytest

        pytest.skip("make is not installed")
    venv = tmp_path / "venv"  # `make -n` prints the recipe of a venv that does not exist; it runs nothing

    def recipe(*args: str) -> str:
        return subprocess.run(["make", "-n", "install", f"VENV={venv}", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    default = recipe()
    assert "--index-url" not in default and '-c constraints.txt -e ".[dev]"' in default
    cpu = recipe("TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    torch_line = [line for line in cpu.splitlines() if "--index-url" in line]
    assert len(torch_line) == 1 and torch_line[0].endswith("-c constraints.txt --index-url https://download.pytorch.org/whl/cpu torch torchvision")
    assert cpu.index(torch_line[0]) < cpu.index('-e ".[dev]"'), "torch first, so that the rest finds it installed"
