"""The offline site (``make book``): two editions built from two small executed notebooks that hold
what the real ones hold (math, a figure, a widget output with its static picture, papermill's
injected cell with an absolute path, nbgrader solution and hidden-test cells), then opened in
headless Chromium with every request recorded.

The notebooks are made here with their outputs, so no kernel is started; the build is the real one
(:func:`altoolkit.teaching.book.build_book`: nbconvert, local MathJax, local reveal.js).  The browser
comes from ``tests/test_browser.py``'s fixture (system Chromium, installed by
``tools/install_browser.sh``); without one the browser tests skip.  ``tests/test_notebooks.py``
runs the same browser checks on the site of the real notebooks it executes.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from test_browser import CHROMIUM_ARGS, chromium  # noqa: F401  (the fixture is reused)

SOLUTION = "secret_answer = 42"
HIDDEN = "assert hidden_check_passes"
INJECTED = "/tmp/build-machine/figures"
SLIDE_VIEWPORT = (1280, 720)  # the slides' 16:9 canvas


def _png() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _grader(cell, grade_id: str, **flags):
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "locked": False, "schema_version": 3, "solution": False, "grade": False, "task": False, **flags}
    return cell


def _notebook(path, title: str, widget_fallback: bool = True, extra_md: str = "", printed: str = ""):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    png = _png()
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0}, "text/plain": "Explorer(...)"}
    if widget_fallback:
        widget["text/html"] = '<div class="altoolkit-widget">static picture of the slider <input type="range" disabled></div>'
    cells = [
        new_markdown_cell(
            f"# {title}\n\n<!-- course-header: x -->\n> **Learning goals**\n>\n> * read a tiny notebook\n<!-- /course-header -->\n\n"
            "Inline $\\mathrm{KL}(f_{T-1}\\|f_T)$ at $x'$ and $\\mathcal L$.\n\n$$\\tfrac12 d^\\top F d$$\n\nA paragraph the teacher says aloud."
        ),
        new_code_cell("import altoolkit as alt"),
        new_code_cell('FIGURES_DIR = "../runs/scratch/figures"  # where figures go', metadata={"tags": ["parameters"]}),
        new_code_cell(f'# Parameters\nFIGURES_DIR = "{INJECTED}"\n', metadata={"tags": ["injected-parameters"]}),
        new_code_cell(
            "plot()",
            outputs=[new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})]
            + ([new_output("stream", name="stdout", text=printed)] if printed else []),
            execution_count=1,
        ),
        new_markdown_cell("## Second section\n\nMore math: $\\sum_y f_y \\nabla \\log f_y = 0$, and the word kappaword to search for." + extra_md),
        new_code_cell("explorer", outputs=[new_output("display_data", data=widget)], execution_count=2),
        _grader(new_markdown_cell("## Exercises\n\n**Exercise 1.** Set `secret_answer`."), "ex_md", locked=True),
        _grader(new_code_cell(f"### BEGIN SOLUTION\n{SOLUTION}\n### END SOLUTION"), "ex", solution=True),
        _grader(
            new_code_cell(f"assert secret_answer is not None, 'hint: set it'\n### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS"),
            "ex_test",
            grade=True,
            locked=True,
            points=1,
        ),
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
    _notebook(root / "executed" / "01_tracin_to_kl.ipynb", "01 · A tiny notebook")
    _notebook(root / "executed" / "02_dynamic_loss.ipynb", "02 · Another one")
    (root / "RUNTIMES.md").write_text("profile: test\n| notebook | status | seconds |\n|---|---|---:|\n| 01_tracin_to_kl | ok | 12 |\n")
    return build_book(root / "executed", root / "site", runtimes_file=root / "RUNTIMES.md")


def _read(site, edition: str, rel: str) -> str:
    return (site.site / edition / rel).read_text()


def _text(page: str) -> str:
    """What a reader sees of a page: its text without tags (code is split into highlighted spans)."""
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)))


def test_two_editions_with_pages_slides_and_no_cdn(site):
    from altoolkit.teaching.book import external_urls

    assert set(site.editions) == {"student", "instructor"}
    for name, ed in site.editions.items():
        assert ed.pages == ["index.html", "notebooks/01_tracin_to_kl.html", "notebooks/02_dynamic_loss.html"]
        assert ed.slides == ["slides/01_tracin_to_kl.slides.html", "slides/02_dynamic_loss.slides.html"]
        for rel in ed.pages + ed.slides:
            text = _read(site, name, rel)
            assert not external_urls(text), rel
            assert "cdnjs" not in text and "unpkg" not in text, rel
        assert (ed.site / "_static" / "mathjax" / "MathJax.js").is_file() and (ed.site / "_static" / "reveal.js" / "dist" / "reveal.js").is_file()
    assert "student/index.html" in (site.site / "index.html").read_text()


def test_student_edition_shows_no_solution_hidden_test_injected_cell_or_parameters(site):
    page = _text(_read(site, "student", "notebooks/01_tracin_to_kl.html"))
    for gone in (SOLUTION, HIDDEN, "BEGIN SOLUTION", "BEGIN HIDDEN TESTS", INJECTED, "../runs/scratch/figures"):
        assert gone not in page, gone
    assert "raise NotImplementedError()" in page and "hint: set it" in page, "the stub and the visible check stay"


def test_instructor_edition_shows_solutions_without_markers(site):
    page = _text(_read(site, "instructor", "notebooks/01_tracin_to_kl.html"))
    assert SOLUTION in page and HIDDEN in page and "hidden tests (the autograder" in page
    assert "BEGIN SOLUTION" not in page and "BEGIN HIDDEN TESTS" not in page and INJECTED not in page
    assert "../runs/scratch/figures" in page, "the instructor edition keeps the parameters cell"


def test_pages_have_titles_navigation_search_and_static_widgets(site):
    first = _read(site, "student", "notebooks/01_tracin_to_kl.html")
    second = _read(site, "student", "notebooks/02_dynamic_loss.html")
    assert "<title>01 · A tiny notebook</title>" in first
    assert 'rel="next" href="02_dynamic_loss.html"' in first and 'rel="prev" href="01_tracin_to_kl.html"' in second
    assert 'href="../index.html"' in first and 'href="../slides/01_tracin_to_kl.slides.html"' in first
    assert "static picture of the slider" in first and "widget-view+json" not in first
    index = _read(site, "student", "index.html")
    assert "derive DISAL&#x27;s KL score" in index and "12 s" in index and "References" in index, "outline with goals, times, references"
    search = (site.editions["student"].site / "search_index.js").read_text()
    entries = json.loads(search.split("=", 1)[1].rstrip(";\n"))
    assert any(e["heading"] == "Second section" and "kappaword" in e["text"] and e["url"].startswith("notebooks/01") for e in entries)


def test_slides_have_speaker_notes_and_no_code(site):
    deck = _read(site, "student", "slides/01_tracin_to_kl.slides.html")
    assert '<aside class="notes">' in deck and "A paragraph the teacher says aloud" in deck
    assert "plot()" not in deck and "import altoolkit" not in deck, "code stays out of the slides"
    assert "width: 1280" in deck and "height: 720" in deck


def test_the_build_refuses_markers_paths_and_blank_widgets(tmp_path):
    from altoolkit.teaching.book import build_book, page_problems

    for name, kwargs, message in [
        ("marker", {"printed": "### END SOLUTION\n"}, "nbgrader marker"),
        ("path", {"extra_md": "\n\nThe file is /home/someone/notes.txt."}, "absolute path"),
        ("widget", {"widget_fallback": False}, "no static picture"),
    ]:
        (tmp_path / name).mkdir()
        _notebook(tmp_path / name / "01_x.ipynb", "01 · x", **kwargs)
        with pytest.raises(RuntimeError, match=message):
            build_book(tmp_path / name, tmp_path / f"site_{name}", editions=["student"])
    assert page_problems("<p>ok</p>", ["/work/build"]) == []
    assert page_problems("<p>/work/build/x</p>", ["/work/build"])


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


# ----------------------------------------------------------------------------- in a browser


def check_student_site(site_dir, chromium_path, screenshots=None) -> dict:  # noqa: F811
    """Open every page and slide deck of a student edition offline in Chromium and check what a
    reader sees: MathJax typeset without errors, images loaded, no nbgrader marker, solution stub
    or machine path in the visible text, the title, navigation, a working offline search, and every
    slide no taller than the 16:9 canvas.  Returns {deck: [slide heights]}; fails on a request
    that leaves the machine or a missing local file.  Used here and by tests/test_notebooks.py."""
    from playwright.sync_api import sync_playwright

    from altoolkit.teaching.course import MARKERS

    requests: list[str] = []
    failed: list[str] = []
    heights: dict[str, list[float]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def record(route):
                requests.append(route.request.url)
                route.continue_() if route.request.url.startswith(("file://", "data:")) else route.abort()

            page.route("**/*", record)
            page.on("requestfailed", lambda r: failed.append(r.url) if "NOT_FOUND" in (r.failure or "") else None)
            pages = sorted((site_dir / "notebooks").glob("*.html"))
            for p in pages:
                page.goto(p.as_uri())
                _typeset(page, p.name)
                text = page.inner_text("body")
                assert not [m for m in MARKERS if m in text], f"{p.name} shows an nbgrader marker"
                assert "/tmp/" not in text and "/home/" not in text and "/work/" not in text, f"{p.name} shows a machine path"
                assert page.title() and page.title() != "Notebook", p.name
                assert page.locator("nav.altoolkit-nav a[href='../index.html']").count() == 2, p.name
                images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
                assert all(ok and w > 0 for ok, w in images), f"{p.name}: images {images}"
                if screenshots is not None:
                    page.screenshot(path=str(screenshots / f"{p.stem}.png"), full_page=False)
            page.goto((site_dir / "index.html").as_uri() + "?q=the")
            page.wait_for_selector("#search-results li a")
            assert page.locator("#search-results li a").count() > 0, "offline search found nothing for 'the'"
            for deck in sorted((site_dir / "slides").glob("*.slides.html")):
                heights[deck.name] = _slide_heights(page, deck, screenshots)
        finally:
            browser.close()
    assert not failed, f"local files missing: {failed}"
    outside = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert not outside, f"requests left the machine: {outside}"
    return heights


def _typeset(page, name: str) -> None:
    page.wait_for_function("window.MathJax && MathJax.isReady === true", timeout=120_000)
    page.evaluate("window.__typeset = false; MathJax.Hub.Queue(function () { window.__typeset = true; })")
    page.wait_for_function("window.__typeset === true", timeout=120_000)
    assert page.evaluate("document.querySelectorAll('.MathJax_Error, merror').length") == 0, f"{name}: MathJax error"


def _slide_heights(page, deck, screenshots) -> list[float]:
    """Show every slide of ``deck`` and measure its content height in the slides' own pixels."""
    page.set_viewport_size({"width": SLIDE_VIEWPORT[0], "height": SLIDE_VIEWPORT[1]})
    page.goto(deck.as_uri())
    page.wait_for_function("typeof Reveal !== 'undefined' && Reveal.isReady()", timeout=60_000)
    indices = page.evaluate("Reveal.getSlides().map(s => Reveal.getIndices(s))")
    heights = []
    for k, ix in enumerate(indices):
        page.evaluate(f"Reveal.slide({ix['h']}, {ix.get('v') or 0})")
        _typeset(page, deck.name)
        h = page.evaluate("Reveal.getCurrentSlide().scrollHeight")
        heights.append(h)
        if screenshots is not None and (h > SLIDE_VIEWPORT[1] or k < 2):
            page.screenshot(path=str(screenshots / f"{deck.stem}-{ix['h']}-{ix.get('v') or 0}.png"))
    notes = page.evaluate("Reveal.getSlides().filter(s => s.querySelector('aside.notes')).length")
    assert notes > 0, f"{deck.name}: no speaker notes"
    tall = [(i, h) for i, h in zip(indices, heights) if h > SLIDE_VIEWPORT[1]]
    assert not tall, f"{deck.name}: slides taller than the {SLIDE_VIEWPORT[0]}x{SLIDE_VIEWPORT[1]} canvas: {tall}"
    page.set_viewport_size({"width": 1280, "height": 900})
    return heights


@pytest.mark.slow
def test_student_edition_in_chromium(site, chromium, tmp_path):  # noqa: F811
    heights = check_student_site(site.editions["student"].site, chromium, tmp_path)
    assert set(heights) == {"01_tracin_to_kl.slides.html", "02_dynamic_loss.slides.html"}
    assert all(heights.values())


def test_slides_show_headings_equations_and_tables_and_put_prose_in_the_notes():
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from altoolkit.teaching.slides import SLIDE_BUDGET, slide_version, split_prose

    shown, notes = split_prose("## A section\n\nSome prose with $x$.\n\n$$a = b$$\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n* a list item")
    assert [b.splitlines()[0] for b, _ in shown] == ["## A section", "$$a = b$$", "| a | b |"]
    assert notes == "Some prose with $x$.\n\n* a list item"
    many = "\n\n".join(f"$$x_{i} = {i}$$" for i in range(int(SLIDE_BUDGET)))  # more equations than one slide holds
    cells = [
        new_markdown_cell("## Long\n\n" + many),
        new_code_cell("fig", outputs=[new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"})] * 2),
        new_markdown_cell("### Marked by hand", metadata={"slideshow": {"slide_type": "skip"}}),
        new_code_cell("x = 1"),
    ]
    deck = slide_version(new_notebook(cells=cells))
    kinds = [c.metadata["slideshow"]["slide_type"] for c in deck.cells]
    assert kinds[0] == "slide" and kinds.count("subslide") >= 3, "long equations continue on a sub-slide; each figure gets one"
    assert not any("Marked by hand" in c.source for c in deck.cells), "a cell's own skip marker wins"
    assert all(c.cell_type == "markdown" or (c.outputs and "remove_input" in c.metadata["tags"]) for c in deck.cells), "code shows only outputs"
    assert len({c["id"] for c in deck.cells}) == len(deck.cells)
    nbformat.validate(deck)


def test_a_markdown_output_taller_than_a_slide_is_cut_over_sub_slides():
    """Notebook 06's results block (22 verdicts in three nested lists) was one 778 px sub-slide in
    a 720 px canvas: it is cut at its items, every piece within the budget, nothing lost, a nested
    item's parent repeated."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from altoolkit.teaching.slides import SLIDE_BUDGET, _line_height, markdown_chunks, slide_version

    groups = [
        f"- **regime {g}**:\n" + "\n".join(f"  - claim {g}.{k} (AULC): **contradicted**, -2.0 [-3.0, -1.0] (95% t interval, 10 seeds)" for k in range(8))
        for g in range(3)
    ]
    block = "<!-- results:start -->\n\nOf 24 checked claims:\n\n" + "\n".join(groups) + "\n\n<!-- results:end -->"
    pieces = markdown_chunks(block)
    assert len(pieces) > 1 and all(sum(_line_height(ln) for ln in p.splitlines() if ln.strip()) <= SLIDE_BUDGET - 1 for p in pieces)
    kept = [ln for p in pieces for ln in p.splitlines() if ln.strip() and not ln.endswith("(continued)")]
    assert kept == [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("<!--")]
    assert all(p.startswith(("Of 24", "- **regime")) for p in pieces), "a piece that starts inside a list names its parent"
    out = new_output("display_data", data={"text/markdown": block, "text/plain": block})
    deck = slide_version(new_notebook(cells=[new_markdown_cell("## Results"), new_code_cell("show()", outputs=[out])]))
    shown = [c for c in deck.cells if c.cell_type == "code"]
    assert [c.outputs[0]["data"]["text/markdown"] for c in shown] == pieces
