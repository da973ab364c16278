"""Execute every notebook with papermill and the small ``test`` profile.

Notebooks are committed without outputs; this checks that each one runs end to end headless,
that its assert cells hold, and that it writes its figures.
"""

import json
import os
from pathlib import Path

import pytest

from altoolkit.teaching.reproduce import load_profile, run_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_are_committed_clean():
    assert NOTEBOOKS, "no notebooks found"
    for nb_path in NOTEBOOKS:
        nb = json.loads(nb_path.read_text())
        assert nb["metadata"]["kernelspec"]["name"] == "python3", nb_path.name
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), f"{nb_path.name} has outputs"
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{nb_path.name} needs exactly one cell tagged 'parameters'"
        assert "".join(code[0]["source"]).startswith("import altoolkit as alt"), f"{nb_path.name}: first code cell imports the package"
        for line in "".join(tagged[0]["source"]).splitlines():
            if line.strip():
                assert "#" in line, f"{nb_path.name}: parameter line without a comment: {line!r}"
        assert "sys.path" not in json.dumps(nb), f"{nb_path.name} touches sys.path"
        # papermill must be able to read every parameter (quotes in a comment can defeat its parser)
        import re

        import papermill as pm

        names = [m.group(1) for m in (re.match(r"(\w+)\s*=", l) for l in "".join(tagged[0]["source"]).splitlines()) if m]
        unread = sorted(set(names) - set(pm.inspect_notebook(str(nb_path))))
        assert not unread, f"{nb_path.name}: papermill cannot parse parameters {unread}"


#: stem -> executed notebook of test_notebook_executes, for the site built at the end of this module
EXECUTED: dict[str, Path] = {}


def _with_probe(nb_path: Path, folder: Path) -> Path:
    """A copy of the notebook in ``folder`` with a last cell that runs every exercise's checks
    against trivial answers (altoolkit.teaching.exercises)."""
    import nbformat
    from nbformat.v4 import new_code_cell

    from altoolkit.teaching.exercises import probe_cell

    nb = nbformat.read(nb_path, as_version=4)
    cell = new_code_cell(probe_cell(nb))
    cell.metadata["tags"] = ["altoolkit-probe"]
    nb.cells.append(cell)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / nb_path.name)
    return folder


def _take_probe(executed: Path) -> list[str]:
    """Remove the probe cell from the executed notebook and return the problems it reports."""
    import nbformat

    from altoolkit.teaching.exercises import check_probe

    nb = nbformat.read(executed, as_version=4)
    probe = nb.cells.pop()
    assert "altoolkit-probe" in probe.metadata.get("tags", [])
    nbformat.write(nb, executed)
    return check_probe("".join(o.get("text", "") for o in probe.get("outputs", [])))


#: The notebook runs and the site built from them share one pytest-xdist worker (``make test`` runs
#: ``--dist loadgroup``): the book test reads the executed copies this module's runs left in EXECUTED.
NOTEBOOK_GROUP = pytest.mark.xdist_group("notebooks")


@NOTEBOOK_GROUP
def test_the_notebook_group_reaches_one_worker(request):
    """Under ``--dist loadgroup`` pytest-xdist marks a grouped test's id with its group; without it
    (pytest 9.2 with pytest-xdist 3.8) the notebook runs split over workers and the book test skips."""
    if os.environ.get("PYTEST_XDIST_WORKER") and request.config.getoption("dist", "no") == "no" and request.config.getvalue("loadgroup"):
        assert request.node.nodeid.endswith("@notebooks"), f"xdist's group did not reach the test id: {request.node.nodeid}"


@pytest.mark.slow
@NOTEBOOK_GROUP
@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(nb_path, tmp_path):
    """Each notebook runs headless with the test profile, writes its figures, leaves clean outputs,
    and every exercise's checks pass its solution and fail zeros, a constant, the input returned
    unchanged and the wrong sign (issue 28)."""
    figs = tmp_path / "figures"
    folder = _with_probe(nb_path, tmp_path / "notebooks")
    runs = run_notebooks(load_profile("test"), folder, tmp_path / "out", figs, only=[nb_path.stem], progress=False, results_dir=tmp_path / "records")
    assert len(runs) == 1
    assert runs[0].ok, runs[0].line()
    trivial = _take_probe(Path(runs[0].output))
    prefix = nb_path.stem.split("_", 1)[0]
    assert list(figs.glob(f"{prefix}_*.png")), f"{nb_path.name} wrote no figure named {prefix}_*.png"
    if prefix not in OUTPUTS_NOT_YET_CLEAN:
        from altoolkit.teaching.course import output_problems

        assert output_problems(runs[0].output) == [], f"{nb_path.name}: unclean saved outputs"
    assert trivial == [], f"{nb_path.name}: exercises and trivial answers: {trivial}"
    EXECUTED[nb_path.stem] = Path(runs[0].output)


#: notebooks whose saved outputs are not yet clean (none since the sweep reports its runs' warnings once)
OUTPUTS_NOT_YET_CLEAN: set[str] = set()


def test_failing_notebook_is_reported_and_others_still_run(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    for name, body in [("01_bad", "raise RuntimeError('boom')"), ("02_good", "x = 1")]:
        nb = new_notebook(cells=[new_code_cell("A = 1", metadata={"tags": ["parameters"]}), new_code_cell(body)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, nbdir / f"{name}.ipynb")
    runs = run_notebooks({"defaults": {}, "notebooks": {}}, nbdir, tmp_path / "out", tmp_path / "figs", progress=False)
    assert [r.ok for r in runs] == [False, True]
    assert runs[0].failed_cell == 2 and "RuntimeError: boom" in runs[0].error
    assert "01_bad" in runs[0].line() and "cell 2" in runs[0].line()


def test_profiles_only_set_declared_parameters(tmp_path):
    from altoolkit.teaching.reproduce import notebook_parameters

    from altoolkit.teaching.reproduce import PROFILES

    assert "full" in PROFILES
    for profile in PROFILES:
        prof = load_profile(profile)
        for stem in prof["notebooks"]:
            path = ROOT / "notebooks" / f"{stem}.ipynb"
            assert path.exists(), f"{profile}: unknown notebook {stem}"
            params = notebook_parameters(prof, path, tmp_path)  # raises on undeclared names
            assert params["FIGURES_DIR"] == str(tmp_path.resolve())


def test_dataset_and_root_override_only_declaring_notebooks(tmp_path):
    from altoolkit.teaching.reproduce import notebook_parameters

    prof = load_profile("quick")
    over = {"DATASET": "cifar10", "DATA_ROOT": "/data"}
    p06 = notebook_parameters(prof, ROOT / "notebooks" / "06_active_learning_benchmark.ipynb", tmp_path, tmp_path, over)
    assert p06["DATASET"] == "cifar10" and p06["DATA_ROOT"] == "/data" and p06["RESULTS_DIR"] == str(tmp_path.resolve())
    p01 = notebook_parameters(prof, ROOT / "notebooks" / "01_tracin_to_kl.ipynb", tmp_path, tmp_path, over)
    assert "DATASET" not in p01


def test_reproduce_rejects_an_unknown_dataset(capsys):
    from altoolkit.cli import main

    assert main(["reproduce", "--dataset", "imagenet", "--only", "01"]) == 2
    assert "dataset must be one of" in capsys.readouterr().err


def test_quick_profile_gives_the_disal_claims_ten_seeds_and_full_twenty():
    """Issue 9: verdicts need seeds. quick: >= 10 seeds for the strategies of the DISAL claims (and
    notebook 02's runs, which notebook 06 reuses); full: >= 20 seeds of every strategy, on digits,
    its imbalanced pool and the low-budget regime."""
    import papermill as pm

    nb06 = ROOT / "notebooks" / "06_active_learning_benchmark.ipynb"
    defaults = {k: eval(v["default"]) for k, v in pm.inspect_notebook(str(nb06)).items()}
    quick = {**defaults, **load_profile("quick")["notebooks"]["06_active_learning_benchmark"]}
    from altoolkit.drivers.active_learning_benchmark import DEFAULT_CLAIMS

    # every strategy named in a claim, baselines included, runs the claims' seeds (issue 25 item 4)
    claims = {side for c in DEFAULT_CLAIMS for side in (c.a, c.b)}
    assert {"entropy", "margin", "badge", "coreset", "isal"} <= claims
    assert claims <= set(quick["CLAIM_STRATEGIES"]) and len(quick["CLAIM_SEEDS"]) >= 10
    # the low-budget regime (1% -> 6%) runs DISAL against random, w/o D, margin and entropy with the
    # claims' seeds; the 10% -> 40% regime carries every claimed strategy
    assert quick["LAMBDAS"] and quick["LOW_CYCLES"] >= 2
    assert {"random", "disal", "disal_no_dynamic", "entropy", "margin"} <= set(quick["LOW_STRATEGIES"])
    assert len(load_profile("quick")["notebooks"]["02_dynamic_loss"]["AL_SEEDS"]) >= 10
    full = {**defaults, **load_profile("full")["notebooks"]["06_active_learning_benchmark"]}
    every = set(full["STRATEGIES"]) | claims
    assert len(full["SEEDS"]) >= 20 and len(full["CLAIM_SEEDS"]) >= 20
    assert every <= set(full["IMBALANCED_STRATEGIES"]) and every <= set(full["LOW_STRATEGIES"])
    assert full["IMBALANCE_RATIO"] and full["LOW_CYCLES"] >= 2
    assert len(full["IMBALANCED_SEEDS"]) >= 20 and len(full["EQ15_SEEDS"]) >= 20


def test_reproduce_log_has_no_kernel_noise(tmp_path, capfd):
    """Issue 28: the reproduce log is one line per notebook. The kernel talks over IPC (no "running
    over TCP without encryption" warning) and its own stdout/stderr (jupyter_client interrupts every
    kernel before shutting it down: "KeyboardInterrupt caught in kernel") go to a file beside the
    executed notebook; the cells' outputs are unaffected."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    for name in ("01_a", "02_b"):
        nb = new_notebook(cells=[new_code_cell("A = 1", metadata={"tags": ["parameters"]}), new_code_cell("print('cell output', A)")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, nbdir / f"{name}.ipynb")
    runs = run_notebooks({"defaults": {}, "notebooks": {}}, nbdir, tmp_path / "out", tmp_path / "figs", progress=False)
    assert [r.ok for r in runs] == [True, True]
    out, err = capfd.readouterr()
    log = out + err
    assert "without encryption" not in log and "KeyboardInterrupt" not in log and "WARNING" not in log, log
    assert [line.split()[:2] for line in out.splitlines()] == [["ok", "01_a"], ["ok", "02_b"]]
    executed = nbformat.read(tmp_path / "out" / "02_b.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "cell output 1\n"
    assert (tmp_path / "out" / "01_a.kernel.log").is_file()


@pytest.mark.slow
@NOTEBOOK_GROUP
def test_book_of_the_executed_notebooks_in_chromium(tmp_path_factory):
    """Issue 28: the site of the notebooks executed above (both editions, slides of every notebook),
    and the student edition opened in Chromium: every page and slide deck (tests/test_book.py's
    check_student_site). Runs after the notebooks of this module; skips when not all of them ran
    (a -k selection)."""
    missing = sorted({p.stem for p in NOTEBOOKS} - set(EXECUTED))
    if missing:
        pytest.skip(f"needs every notebook executed in this session; missing {missing}")
    import shutil

    from test_book import check_student_site
    from test_browser import _find_browser, _have_playwright

    from altoolkit.teaching.book import build_book

    root = tmp_path_factory.mktemp("real_book")
    executed = root / "executed"
    executed.mkdir()
    for path in EXECUTED.values():
        shutil.copy2(path, executed / path.name)
    site = build_book(executed, root / "site", runtimes_file=ROOT / "course" / "RUNTIMES.md")
    assert set(site.editions) == {"student", "instructor"}
    for ed in site.editions.values():
        assert len(ed.pages) == len(NOTEBOOKS) + 1 and len(ed.slides) == len(NOTEBOOKS)
    browser = _find_browser()
    if browser is None or not _have_playwright():
        pytest.skip("no Chromium or playwright (tools/install_browser.sh)")
    shots = root / "screenshots"
    shots.mkdir()
    heights = check_student_site(site.editions["student"].site, browser, shots)
    print(f"\nslide heights (px of 720): { {k: max(v) for k, v in heights.items()} }; screenshots in {shots}")
