"""Notebook 08 in a real browser: JupyterLab + headless Chromium (Playwright).

The test starts JupyterLab on 127.0.0.1 with a token, on a temporary root folder holding a copy of
notebook 08 with ``SIMULATE_CLICKS = False`` (so the labelling widget waits for a person) and a
fresh ``PROJECT_DIR``; opens the notebook in headless Chromium, runs all cells from the Run menu,
clicks a class button in the rendered widget, and checks with Python's sqlite3 that the label is in
the store.  A screenshot is saved in the test's temporary folder (its path is printed).

What it needs: a Chromium on the PATH (``tools/install_browser.sh`` installs Debian's ``chromium``
when run as root) and the ``playwright`` Python package (it drives the system Chromium; no
``playwright install`` download).  Where no browser can be found or installed, the test is
skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "08_label_your_own_data.ipynb"
INSTALLER = ROOT / "tools" / "install_browser.sh"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TOP_K = 5


def _find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _have_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def _skip(reason: str):
    print(f"\nSKIPPING the browser test: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of a Chromium executable, installed by tools/install_browser.sh if needed."""
    browser = _find_browser()
    if browser is None or not _have_playwright():
        try:
            run = subprocess.run(["bash", str(INSTALLER), sys.executable], capture_output=True, text=True, timeout=1800)
            print(run.stdout, run.stderr)
        except (OSError, subprocess.TimeoutExpired) as exc:
            print(f"{INSTALLER} did not finish: {exc}")
        browser = _find_browser()
        if browser is None:
            _skip(
                "no Chromium browser found on the PATH and tools/install_browser.sh could not install one "
                "(it needs root and apt-get: apt-get install chromium chromium-driver)"
            )
        if not _have_playwright():
            _skip(f"the playwright Python package is not installed and could not be installed (pip install playwright into {sys.executable})")
    return browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


class _Lab:
    def __init__(self, url: str, token: str, proc: subprocess.Popen, log: Path):
        self.url, self.token, self.proc, self.log = url, token, proc, log

    def api(self, path: str):
        return _get_json(f"{self.url}{path}?token={self.token}")

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


_EXPLORERS = [
    "import altoolkit as alt\nimport matplotlib.pyplot as plt",
    """calls = {calls!r}
def draw(epoch):
    with open(calls, "a") as f:
        f.write(f"{{epoch}}\\n")
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, epoch])
    ax.set_title(f"epoch {{epoch}}")
    return fig
epochs = alt.widgets.epoch_explorer(draw, [1, 2, 3], value=1)
epochs""",
    """data = alt.load_digits(seed=0)
small = alt.from_arrays(data.x_train[:300], data.y_train[:300], data.x_test[:100], data.y_test[:100])
ctx = alt.drivers.scoring_and_selection.prepare_comparison(small, 0.1, 0.05, alt.TrainConfig(epochs=2), model="mlp", progress=False)
outcomes = alt.drivers.scoring_and_selection.compare_strategies(ctx, ["entropy"], 6, progress=False)
picker = alt.widgets.strategy_picker(ctx, outcomes, names=["entropy", "margin"], n=4)
picker""",
    'print("explorers ready")',
]


def _write_explorers_notebook(path: Path, calls: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [new_code_cell(src.format(calls=str(calls)) if "{calls" in src else src) for src in _EXPLORERS]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, rooted at a folder holding notebook 08 prepared for a
    person (SIMULATE_CLICKS False) and a small explorers notebook; always shut down afterwards."""
    import papermill

    tmp_path = tmp_path_factory.mktemp("browser")
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    project = tmp_path / "project"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(root / "notebooks" / NOTEBOOK.name),
        prepare_only=True,
        progress_bar=False,
        parameters={
            "PROJECT_DIR": str(project),
            "SIMULATE_CLICKS": False,
            "TOP_K": TOP_K,
            "FIGURES_DIR": str(tmp_path / "figures"),
            "ANNOTATOR": "browser-test",
        },
    )
    calls = tmp_path / "epoch_draw_calls.txt"
    _write_explorers_notebook(root / "notebooks" / "explorers.ipynb", calls)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
    ):
        env[var] = str(tmp_path / "jupyter" / sub)
    notification = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True}))
    # Every cell stays in the page: JupyterLab 4's default windowing leaves cells that are scrolled
    # out of view (the labelling widget, once Run All has scrolled to the exercises at the end of
    # notebook 08) without rendered outputs, so the test could not read the widget it clicks.
    tracker = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    log = tmp_path / "jupyterlab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(log, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    server = _Lab(f"http://127.0.0.1:{port}", token, proc, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {proc.returncode}:\n{server.log_tail()}")
            try:
                server.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer on port {port} within 90 s:\n{server.log_tail()}")
                time.sleep(0.5)
        server.project = project
        server.calls = calls
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def page(chromium, lab, tmp_path, request):
    """A headless Chromium page; a screenshot is saved (and its path printed) at the end."""
    from playwright.sync_api import sync_playwright

    shot = tmp_path / f"{request.node.name}.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            pg.set_default_timeout(60_000)
            try:
                yield pg
            finally:
                pg.screenshot(path=str(shot))
                print(f"\nscreenshot: {shot}")
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000


def _open_and_run_all(page, lab, notebook: str, last_output: str) -> None:
    """Open ``notebooks/<notebook>``, wait for its kernel, run all cells from the Run menu and
    wait until an output contains ``last_output`` (printed by the last cell)."""
    workspace = Path(notebook).stem  # a workspace of its own: no tabs restored from another test
    page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/notebooks/{notebook}?token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
    deadline = time.monotonic() + 90  # this notebook's kernel is up, idle and connected to the page

    def ready() -> bool:
        return any(
            s["path"] == f"notebooks/{notebook}" and s["kernel"]["execution_state"] == "idle" and s["kernel"]["connections"] for s in lab.api("/api/sessions")
        )

    while not ready():
        assert time.monotonic() < deadline, f"the kernel of {notebook} did not start:\n{lab.log_tail()}"
        time.sleep(0.5)
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    # The last cell prints ``last_output`` only if every cell before it ran without error; "Run All"
    # stops at the first error, whose traceback then appears instead.
    done = f".jp-OutputArea-output:has-text('{last_output}')"
    failed = ".jp-OutputArea-output:has-text('Traceback (most recent call last)')"
    try:
        page.wait_for_selector(f"{done}, {failed}", timeout=120_000)
    except Exception as exc:
        raise AssertionError(f"{notebook} did not finish within 120 s in JupyterLab:\n{lab.log_tail()}") from exc
    if page.locator(failed).count():
        text = "\n".join(page.locator(failed).all_inner_texts())[-3000:]
        raise AssertionError(f"{notebook} failed in JupyterLab:\n{text}")


def _stored_labels(store: Path) -> list[tuple[str, str, str]]:
    if not store.exists():
        return []
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("SELECT item, label, annotator FROM state WHERE status = 'labeled'").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        con.close()


@pytest.mark.slow
def test_clicking_a_label_button_in_jupyterlab_reaches_the_store(lab, page):
    store = lab.project / "labels.sqlite"
    _open_and_run_all(page, lab, NOTEBOOK.name, "label store checks passed")
    page.locator(".altoolkit-labeling").scroll_into_view_if_needed()
    buttons = page.locator(".altoolkit-label-button")
    buttons.first.wait_for(state="visible")
    assert buttons.count() == 10, "one button per digit class"
    assert _stored_labels(store) == [], "nothing is labelled before the click"
    item = page.locator(".altoolkit-item-id").inner_text().strip()
    assert re.fullmatch(r"\d{4}\.png", item), item
    button = buttons.filter(has_text=re.compile(r"^\s*3\s*$"))
    button.scroll_into_view_if_needed()
    button.click()
    deadline = time.monotonic() + 30
    while not _stored_labels(store):
        assert time.monotonic() < deadline, f"the click did not reach {store}:\n{lab.log_tail()}"
        time.sleep(0.2)
    assert _stored_labels(store) == [(item, "3", "browser-test")]
    page.wait_for_function("() => [...document.querySelectorAll('.altoolkit-status')].some(e => e.innerText.includes('1 labels in the store'))")
    assert page.locator(".altoolkit-item-id").inner_text().strip() != item, "the widget moves on to the next image"


@pytest.mark.slow
def test_explorers_respond_in_jupyterlab(lab, page):
    _open_and_run_all(page, lab, "explorers.ipynb", "explorers ready")
    assert lab.calls.read_text().split() == ["1"], "building the explorer draws the initial epoch once"
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    page.keyboard.press("ArrowRight")  # a released move: the slider does not update continuously
    page.wait_for_function("() => [...document.querySelectorAll('.widget-html')].some(e => e.innerText.trim() === 'epoch 2')")
    assert lab.calls.read_text().split() == ["1", "2"]
    page.locator(".widget-dropdown select").first.select_option("margin")
    page.wait_for_function("() => [...document.querySelectorAll('.widget-html')].some(e => e.innerText.includes('not computed yet'))")
    page.locator("button", has_text="score & select").click()
    page.wait_for_function("() => [...document.querySelectorAll('.widget-html')].some(e => e.innerText.startsWith('margin: 6 selected'))")
