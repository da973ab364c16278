"""The offline site (``make book``): a small site built from a notebook with math and a figure,
opened in headless Chromium with every request recorded.

The notebook is made here with its outputs (a matplotlib PNG, a Markdown display), so no kernel is
started; the site build is the real one (:func:`altoolkit.teaching.book.build_book`, nbconvert + local
MathJax + local reveal.js).  The browser comes from ``tests/test_browser.py``'s fixture (system
Chromium, installed by ``tools/install_browser.sh``); without one the browser test skips.
"""

from __future__ import annotations

import base64
import io

import pytest
from test_browser import CHROMIUM_ARGS, chromium  # noqa: F401  (the fixture is reused)


def _notebook(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    png = base64.b64encode(buf.getvalue()).decode()
    cells = [
        new_markdown_cell("# 01 · A tiny notebook\n\nInline $\\mathrm{KL}(f_{T-1}\\|f_T)$ at $x'$, $\\mathcal L$ and\n\n$$\\tfrac12 d^\\top F d$$"),
        new_code_cell(
            "plot()",
            outputs=[new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})],
            execution_count=1,
        ),
        new_markdown_cell("## Second slide\n\nMore math: $\\sum_y f_y \\nabla \\log f_y = 0$."),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    # saved widget state makes nbconvert add the widget manager's script (from a CDN unless removed)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2, "version_minor": 0}}
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from altoolkit.teaching.book import build_book

    root = tmp_path_factory.mktemp("book")
    (root / "executed").mkdir()
    _notebook(root / "executed" / "01_tracin_to_kl.ipynb")
    return build_book(root / "executed", root / "site")


def test_site_has_pages_slides_and_no_cdn(site):
    from altoolkit.teaching.book import external_urls

    assert site.pages == ["index.html", "notebooks/01_tracin_to_kl.html"]
    assert site.slides == ["slides/01_tracin_to_kl.slides.html"]
    for rel in site.pages + site.slides:
        text = (site.site / rel).read_text()
        assert not external_urls(text), rel
        assert "cdnjs" not in text and "unpkg" not in text, rel
    assert (site.site / "_static" / "mathjax" / "MathJax.js").is_file()
    assert (site.site / "_static" / "reveal.js" / "dist" / "reveal.js").is_file()
    assert "Course outline" in (site.site / "index.html").read_text()


def test_external_urls_finds_fetches_not_links():
    from altoolkit.teaching.book import external_urls

    page = (
        '<script src="https://cdn.example/x.js"></script><a href="https://example.org">a link</a>'
        '<!-- <img src="https://in.comment/y.png"> --><script>import("//cdn.example/m.mjs")</script>'
    )
    assert external_urls(page) == ["//cdn.example/m.mjs", "https://cdn.example/x.js"]


def test_build_book_refuses_a_missing_folder(tmp_path):
    from altoolkit.teaching.book import build_book

    with pytest.raises(ValueError, match="executed_dir"):
        build_book(tmp_path / "nope", tmp_path / "site")


@pytest.mark.slow
def test_site_renders_offline_in_chromium(site, chromium):  # noqa: F811
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()

            def record(route):
                requests.append(route.request.url)
                if route.request.url.startswith(("file://", "data:")):
                    route.continue_()
                else:
                    route.abort()

            page.route("**/*", record)
            failed: list[str] = []  # a missing local file (e.g. a MathJax font) is a broken site too
            page.on("requestfailed", lambda r: failed.append(r.url) if "NOT_FOUND" in (r.failure or "") else None)
            for rel in ("notebooks/01_tracin_to_kl.html", "slides/01_tracin_to_kl.slides.html"):
                page.goto((site.site / rel).as_uri())
                # MathJax 2 runs its queue in order: this callback runs once the page is typeset
                page.wait_for_function("window.MathJax && MathJax.isReady === true", timeout=60_000)
                page.evaluate("MathJax.Hub.Queue(function () { window.__typeset = true; })")
                page.wait_for_function("window.__typeset === true", timeout=60_000)
                assert page.evaluate("document.querySelectorAll('.MathJax, .MathJax_Display').length") >= 2, rel
                assert page.evaluate("document.querySelectorAll('.MathJax_Error, merror').length") == 0, rel
                images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
                assert images and all(ok and w > 0 for ok, w in images), f"{rel}: images {images}"
            assert page.evaluate("typeof Reveal !== 'undefined' && Reveal.isReady()"), "reveal.js did not start"
            page.goto((site.site / "index.html").as_uri())
            assert page.locator("a[href='slides/01_tracin_to_kl.slides.html']").count() == 1
        finally:
            browser.close()
    assert not failed, f"local files missing: {failed}"
    outside = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert not outside, f"requests left the machine: {outside}"
    assert any("mathjax" in u.lower() for u in requests), "MathJax was not loaded from the site"
