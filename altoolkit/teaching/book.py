"""The offline site of the executed notebooks, in two editions, with slides of every notebook.

This module owns ``make book``.  The builder is nbconvert (already a dependency).  From one folder
of executed notebooks it writes ``<site>/student/`` and ``<site>/instructor/`` (and a landing
``<site>/index.html``); each edition is a complete site to hand out on its own:

* ``index.html``: the course outline (titles, goals, prerequisites, paper sections, measured
  runtimes from the same ``RUNTIMES.md`` as the notebook headers, links to page and slides), a
  search box that works offline (``search_index.js``, built from the pages' sections) and the
  references;
* ``notebooks/NN_name.html``: one page per notebook, titled by its first heading, with links to the
  outline, the previous and next notebook and its slides;
* ``slides/NN_name.slides.html``: reveal.js slides cut by :func:`altoolkit.teaching.slides.slide_version`
  (speaker notes in reveal.js's speaker view, key ``S``).

The **student edition** shows each notebook as nbgrader's release does (solutions replaced by the
stub, hidden tests removed: :func:`altoolkit.teaching.course.student_version`); the **instructor
edition** shows the solutions and hidden tests without nbgrader's marker lines.  Both hide
papermill's injected-parameters cell; the student edition also hides the parameters cell.  Outputs
are kept.  A widget output shows its static picture (the ``text/html``/``image/png`` the widget
saves beside its live view); a widget without one stops the build.

The build refuses (RuntimeError) a page that shows an nbgrader marker, an absolute path of the build
machine, or that would fetch anything from another machine: MathJax 2.7 comes from the
``jupyter-server-mathjax`` pip package, reveal.js from ``sphinx-revealjs``, both copied into the
edition's ``_static``; nbconvert's CDN URLs (require.js, mermaid, jQuery, the widget manager) are
emptied and their tags removed (:func:`external_urls` lists any URL a page would still fetch).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "build_book",
    "BookResult",
    "Edition",
    "EDITIONS",
    "external_urls",
    "page_problems",
    "prepare_page",
    "notebook_title",
    "mathjax_dir",
    "reveal_dir",
]

EDITIONS: tuple[str, ...] = ("student", "instructor")
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLUMBING_TAGS = {"injected-parameters"}


def mathjax_dir() -> Path:
    """The MathJax 2.7 folder shipped by the ``jupyter-server-mathjax`` package."""
    try:
        import jupyter_server_mathjax
    except ImportError as exc:
        raise RuntimeError("the site needs a local MathJax: pip install jupyter-server-mathjax (listed in pyproject.toml)") from exc
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def reveal_dir() -> Path:
    """The reveal.js folder (``dist/``, ``plugin/``) bundled in the ``sphinx-revealjs`` package."""
    try:
        import sphinx_revealjs
    except ImportError as exc:
        raise RuntimeError("the slides need a local reveal.js: pip install sphinx-revealjs (listed in pyproject.toml)") from exc
    return Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"


_FETCH = re.compile(r"""<(?:script|img|link|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)["']""", re.I)
#: bodies of scripts that run (not JSON/MathJax config blocks), and URLs quoted in them (a URL a script builds)
_SCRIPT = re.compile(r"<script(?![^>]*type=\"(?:application/(?:vnd|json)|text/x-mathjax))[^>]*>(.*?)</script>", re.S)
_QUOTED_URL = re.compile(r"""["'`]((?:https?:)?//[^"'`\s]+)""")
_IMPORT = re.compile(r"""import\(\s*["']((?:https?:)?//[^"']+)["']""")


def external_urls(page: str) -> list[str]:
    """URLs that a page would fetch from another machine: ``src``/``href`` of script, img, link,
    iframe and source tags, dynamic ``import("...")``, and URLs quoted inside scripts that run.  Links the reader may click (``<a>``)
    and URLs inside comments are not fetches and are not listed."""
    text = re.sub(r"<!--.*?-->", "", page, flags=re.S)
    in_scripts = [u for body in _SCRIPT.findall(text) for u in _QUOTED_URL.findall(body)]
    return sorted(set(_FETCH.findall(text)) | set(_IMPORT.findall(text)) | set(in_scripts))


_MATHJAX_FONTS = (
    '<script type="text/x-mathjax-config">MathJax.Hub.Config({menuSettings: {assistiveMML: false}, '
    '"HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", webFont: "STIX-Web", imageFont: null, '
    "linebreaks: {automatic: true}}, SVG: {linebreaks: {automatic: true}}});"
    "</script>\n"
)


def _clean(page: str) -> str:
    page = re.sub(r'<script src=""></script>\s*', "", page)
    # the mermaid loader is a module script that imports from a URL even when emptied: drop it
    page = re.sub(r'<script type="module">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*?</script>\s*', "", page, flags=re.S)
    # widget state needs the html-manager from a CDN; the outputs' static pictures show instead
    page = re.sub(r"<script>(?:(?!</script>).)*?addWidgetsRenderer(?:(?!</script>).)*?</script>\s*", "", page, flags=re.S)
    # jupyter-server-mathjax ships the STIX-Web fonts only (no TeX fontdata, no TeX otf fonts for the hidden
    # assistive MathML): use STIX-Web and switch the assistive MathML off, configured before MathJax loads;
    # long equations break at operators instead of running off the right edge
    page = re.sub(r'<script[^>]*src="[^"]*_static/mathjax/MathJax\.js', lambda m: _MATHJAX_FONTS + m.group(0), page, count=1)
    return page


def _common(exporter, mathjax_url: str) -> None:
    exporter.mathjax_url = mathjax_url
    exporter.require_js_url = ""
    exporter.mermaid_js_url = ""
    exporter.mermaid_layout_elk_js_url = ""
    exporter.jupyter_widgets_base_url = ""
    exporter.widget_renderer_url = ""
    if hasattr(exporter, "jquery_url"):
        exporter.jquery_url = ""


# ----------------------------------------------------------------------------- one page


def notebook_title(nb: Any, fallback: str = "") -> str:
    """The text of the notebook's first Markdown heading (``fallback`` when it has none)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return re.sub(r"[*_`]", "", m.group(1)).strip()
    return fallback


def _static_widgets(nb: Any, name: str) -> None:
    """Drop the live widget view of every output that saved a static picture beside it; refuse an
    output that has none (it would show blank); drop the widget state (nothing can render it)."""
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                if not ({"text/html", "image/png"} & set(data)):
                    raise RuntimeError(f"{name}: code cell {i + 1} shows a widget with no static picture (text/html or image/png); it would be blank")
                del data[WIDGET_VIEW]
    nb.metadata.pop("widgets", None)


def prepare_page(nb: Any, edition: str, name: str = "notebook") -> Any:
    """The notebook as an edition shows it (a copy): the student or instructor version
    (:mod:`altoolkit.teaching.course`), papermill's injected cell removed (and the parameters
    cell in the student edition), widgets as their static pictures, ``metadata.title`` set."""
    from .course import instructor_version, student_version

    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {edition!r}")
    nb = student_version(nb) if edition == "student" else instructor_version(nb)
    hidden = PLUMBING_TAGS | ({"parameters"} if edition == "student" else set())
    nb.cells = [c for c in nb.cells if not hidden & set(c.metadata.get("tags", []))]
    _static_widgets(nb, name)
    nb.metadata["title"] = notebook_title(nb, name)
    return nb


def _text_of(page: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


_ABS = re.compile(r"(?<![\w.~/])/(?:home|tmp|work|root|Users|usr|var|opt|private|mnt)/[\w.-]+")


def page_problems(page: str, build_paths: Iterable[str] = ()) -> list[str]:
    """What a page must not show: an nbgrader marker, an absolute path of the build machine (one of
    ``build_paths``, or any ``/home/...``-like path in its text), a fetch from another machine."""
    from .course import MARKERS

    text = _text_of(page)
    problems = [f"nbgrader marker {m!r}" for m in MARKERS if m in text]
    for p in sorted({str(p) for p in build_paths if p and len(str(p)) > 4}):
        if p in page:
            problems.append(f"absolute path of the build machine {p!r}")
    problems += [f"absolute path {m.group(0)!r}" for m in _ABS.finditer(text)][:3]
    problems += [f"fetches {u}" for u in external_urls(page)]
    return problems


# ----------------------------------------------------------------------------- navigation and search

_CSS = """<style>
.altoolkit-nav { font: 14px/1.4 system-ui, sans-serif; display: flex; flex-wrap: wrap; gap: .4em 1.2em; align-items: center;
  padding: .5em 1em; background: #f3f5f7; border-bottom: 1px solid #d0d7de; }
.altoolkit-nav form { margin-left: auto; } .altoolkit-nav input { font-size: 14px; width: 14em; }
.altoolkit-nav .edition { color: #6e6e6e; }
.MathJax_Display, .MathJax_SVG_Display { overflow-x: auto; overflow-y: hidden; max-width: 100%; }
.altoolkit-table { border-collapse: collapse; margin: .5em 0; } .altoolkit-table caption { text-align: left; caption-side: top; color: #444; }
.altoolkit-table td, .altoolkit-table th { border: 1px solid #ccc; padding: .2em .5em; }
</style>
"""


def _nav(stem: str, order: list[str], titles: dict[str, str], edition: str, has_slides: bool) -> str:
    i = order.index(stem)
    links = ['<a href="../index.html">Course outline</a>']
    if i > 0:
        links.append(f'<a rel="prev" href="{order[i - 1]}.html">← {html.escape(titles[order[i - 1]])}</a>')
    if i + 1 < len(order):
        links.append(f'<a rel="next" href="{order[i + 1]}.html">{html.escape(titles[order[i + 1]])} →</a>')
    if has_slides:
        links.append(f'<a href="../slides/{stem}.slides.html">slides</a>')
    form = (
        '<form action="../index.html" method="get" role="search">'
        '<input type="search" name="q" placeholder="Search the course" aria-label="Search the course"></form>'
    )
    return f'<nav class="altoolkit-nav">{" ".join(links)}<span class="edition">{edition} edition</span>{form}</nav>'


def _decorate(page: str, nav: str) -> str:
    page = page.replace("</head>", _CSS + "</head>", 1)
    page = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + "\n" + nav, page, count=1)
    return page.replace("</body>", nav + "\n</body>", 1)


class _Sections(HTMLParser):
    """Collects (heading id, heading text, text below it) of a page's h1-h3 sections."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[list[str]] = [["", "", ""]]
        self._in_heading = False
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "nav"):
            self._skip += 1
        elif tag in ("h1", "h2", "h3") and dict(attrs).get("id"):
            self.sections.append([dict(attrs)["id"] or "", "", ""])
            self._in_heading = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "nav"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("h1", "h2", "h3"):
            self._in_heading = False

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.sections[-1][1 if self._in_heading else 2] += data


def _search_entries(page: str, url: str, title: str) -> list[dict[str, str]]:
    parser = _Sections()
    parser.feed(page)
    out = []
    for anchor, heading, text in parser.sections:
        heading = heading.replace("¶", "").strip()
        text = re.sub(r"\s+", " ", re.sub(r"\\([A-Za-z]+)", r"\1", text).replace("$", "")).strip()  # TeX read as words
        if heading or text:
            out.append({"page": title, "url": url + (f"#{anchor}" if anchor else ""), "heading": heading or title, "text": text[:4000]})
    return out


_SEARCH_JS = r"""
function altoolkitSearch(q) {
  var out = document.getElementById('search-results'); out.innerHTML = '';
  var terms = q.toLowerCase().split(/\s+/).filter(function (t) { return t.length > 0; });
  if (!terms.length) { return; }
  var hits = ALTOOLKIT_SEARCH.filter(function (s) {
    var t = (s.heading + ' ' + s.text).toLowerCase();
    return terms.every(function (w) { return t.indexOf(w) >= 0; });
  });
  var head = document.createElement('p');
  head.textContent = hits.length + ' section(s) match "' + q + '"';
  out.appendChild(head);
  var list = document.createElement('ol');
  hits.slice(0, 30).forEach(function (s) {
    var li = document.createElement('li'), a = document.createElement('a');
    a.href = s.url; a.textContent = s.page + ' — ' + s.heading; li.appendChild(a);
    var i = s.text.toLowerCase().indexOf(terms[0]);
    var snip = document.createElement('div'); snip.className = 'snippet';
    snip.textContent = (i > 40 ? '…' : '') + s.text.substring(Math.max(0, i - 40), i + 160) + '…';
    li.appendChild(snip); list.appendChild(li);
  });
  out.appendChild(list);
}
window.addEventListener('DOMContentLoaded', function () {
  var q = new URLSearchParams(window.location.search).get('q') || '';
  var box = document.getElementById('search-box'); box.value = q;
  box.addEventListener('input', function () { altoolkitSearch(box.value); });
  altoolkitSearch(q);
});
"""


# ----------------------------------------------------------------------------- the index


def _outline_rows(stems: list[str], titles: dict[str, str], slides: list[str], runtimes: tuple[str, dict[str, float]]) -> str:
    from .course import COURSE, _duration

    entries = {e.stem: e for e in COURSE}
    rows = []
    for stem in stems:
        e = entries.get(stem)
        link = f'<a href="notebooks/{stem}.html">{html.escape(titles[stem])}</a>'
        link += f' · <a href="slides/{stem}.slides.html">slides</a>' if stem in slides else ""
        goals = "<ul>" + "".join(f"<li>{html.escape(g)}</li>" for g in e.goals) + "</ul>" if e else "(not in the course outline)"
        before = ", ".join(e.before) if e and e.before else "-"
        paper = html.escape(e.sections) if e else ""
        time = _duration(runtimes[1][stem]) if stem in runtimes[1] else "not measured"
        rows.append(f"<tr><td>{link}</td><td>{goals}</td><td>{before}</td><td>{paper}</td><td>{time}</td></tr>")
    return "\n".join(rows)


def _index_page(stems: list[str], titles: dict[str, str], slides: list[str], runtimes: tuple[str, dict[str, float]], edition: str) -> str:
    from nbconvert.filters.markdown import markdown2html

    from .course import render_references

    source = f"<p>Times: {html.escape(runtimes[0])}.</p>" if runtimes[0] else ""
    note = {
        "student": "Student edition: the exercises show their checks, not their solutions.",
        "instructor": "Instructor edition: with the exercises' solutions and hidden tests. Hand out the student edition (<code>../student/</code>).",
    }[edition]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>altoolkit course: outline</title>\n'
        "<style>body{font-family:system-ui,sans-serif;max-width:76em;margin:2em auto;padding:0 1em;line-height:1.45}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.35em .6em;vertical-align:top;text-align:left}"
        "td ul{margin:0;padding-left:1.1em}#search-box{font-size:1.05em;width:24em}.snippet{color:#555;font-size:.9em}</style>\n"
        '<script src="search_index.js"></script>\n<script>' + _SEARCH_JS + "</script>\n"
        f"</head><body>\n<h1>altoolkit: influence-based active learning, a course</h1>\n<p>{note}</p>\n"
        '<form role="search" onsubmit="return false"><label>Search the course (offline): '
        '<input id="search-box" type="search" name="q" placeholder="e.g. LiSSA, kappa, dynamic loss"></label></form>\n'
        '<div id="search-results"></div>\n<h2>Course outline</h2>\n'
        "<table><thead><tr><th>notebook</th><th>learning goals</th><th>before</th><th>paper</th><th>time</th></tr></thead>\n<tbody>\n"
        + _outline_rows(stems, titles, slides, runtimes)
        + f"\n</tbody></table>\n{source}\n<h2>References</h2>\n"
        + markdown2html(render_references())
        + "\n</body></html>\n"
    )


# ----------------------------------------------------------------------------- the build


@dataclass
class Edition:
    """One edition of the site (paths relative to its folder)."""

    name: str
    site: Path
    pages: list[str] = field(default_factory=list)
    slides: list[str] = field(default_factory=list)


@dataclass
class BookResult:
    """What :func:`build_book` wrote: the site folder and its editions."""

    site: Path
    editions: dict[str, Edition] = field(default_factory=dict)


def _exporters(tdir: str):
    from nbconvert import HTMLExporter, SlidesExporter

    from .slides import slide_template

    page = HTMLExporter(template_name="lab")
    _common(page, f"../_static/mathjax/MathJax.js?config={MATHJAX_CONFIG}")
    tpl = Path(tdir) / "altoolkit_slides.html.j2"
    tpl.write_text(slide_template())
    slides = SlidesExporter(
        template_name="reveal", template_file=str(tpl), extra_template_basedirs=[tdir], reveal_url_prefix="../_static/reveal.js", reveal_theme="white"
    )
    _common(slides, f"../_static/mathjax/MathJax.js?config={MATHJAX_CONFIG}")
    slides.exclude_input_prompt = slides.exclude_output_prompt = True  # no "Out[11]:" beside a figure
    from traitlets.config import Config

    slides.register_preprocessor(_remove_input_preprocessor(Config()), enabled=True)
    return page, slides


def _remove_input_preprocessor(config):
    from nbconvert.preprocessors import TagRemovePreprocessor

    return TagRemovePreprocessor(config=config, remove_input_tags={"remove_input"}, enabled=True)


def _write(path: Path, page: str, build_paths: list[str]) -> None:
    problems = page_problems(page, build_paths)
    if problems:
        raise RuntimeError(f"{path.parent.name}/{path.name} would show {problems[:5]}")
    path.write_text(page, encoding="utf-8")


def _build_edition(edition: str, notebooks: dict[str, Any], site: Path, slide_stems: list[str], runtimes, build_paths: list[str], exporters) -> Edition:
    from .slides import slide_version

    page_exp, slide_exp = exporters
    ed = Edition(edition, site)
    (site / "notebooks").mkdir(parents=True)
    shutil.copytree(mathjax_dir(), site / "_static" / "mathjax")
    order = list(notebooks)
    prepared = {s: prepare_page(nb, edition, s) for s, nb in notebooks.items()}
    titles = {s: nb.metadata["title"] for s, nb in prepared.items()}
    search: list[dict[str, str]] = []
    for stem, nb in prepared.items():
        body, _ = page_exp.from_notebook_node(nb)
        body = _decorate(_clean(body), _nav(stem, order, titles, edition, stem in slide_stems))
        _write(site / "notebooks" / f"{stem}.html", body, build_paths)
        ed.pages.append(f"notebooks/{stem}.html")
        search += _search_entries(body, f"notebooks/{stem}.html", titles[stem])
    if slide_stems:
        shutil.copytree(reveal_dir(), site / "_static" / "reveal.js", ignore=shutil.ignore_patterns("*.map", "*.esm.js"))
        (site / "slides").mkdir()
    for stem in slide_stems:
        body, _ = slide_exp.from_notebook_node(slide_version(prepared[stem]))
        _write(site / "slides" / f"{stem}.slides.html", _clean(body), build_paths)
        ed.slides.append(f"slides/{stem}.slides.html")
    (site / "search_index.js").write_text("var ALTOOLKIT_SEARCH = " + json.dumps(search, ensure_ascii=False) + ";\n", encoding="utf-8")
    _write(site / "index.html", _index_page(order, titles, slide_stems, runtimes, edition), build_paths)
    ed.pages.insert(0, "index.html")
    return ed


def _landing(editions: dict[str, Edition]) -> str:
    links = "".join(f'<li><a href="{name}/index.html">{name} edition</a></li>' for name in editions)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>altoolkit course</title></head>'
        '<body style="font-family:system-ui,sans-serif;max-width:50em;margin:2em auto"><h1>altoolkit course</h1>'
        f"<p>Two editions of the same executed notebooks; hand out the student one.</p><ul>{links}</ul></body></html>\n"
    )


def _build_paths(*paths: Path) -> list[str]:
    """Absolute paths of the build machine a page must not show (the folders of this build, the
    home folder, the temporary folder, the Python installation)."""
    candidates = [*(p.resolve() for p in paths), Path.cwd(), Path.home(), Path(tempfile.gettempdir()), Path(sys.prefix)]
    return sorted({str(p) for p in candidates if len(p.parts) > 2 or str(p) in (str(Path.home()),)})


def build_book(
    executed_dir: str | Path,
    site_dir: str | Path,
    notebooks: list[str] | None = None,
    slides: Iterable[str] | None = None,
    runtimes_file: str | Path | None = None,
    editions: Iterable[str] = EDITIONS,
) -> BookResult:
    """Build the offline site from a folder of executed notebooks (e.g. ``runs/quick``).

    Args:
        executed_dir: folder with executed ``NN_name.ipynb`` files (``altoolkit reproduce`` output).
        site_dir: output folder (replaced): ``index.html`` and one folder per edition.
        notebooks: stems to include; default every ``*.ipynb`` in ``executed_dir``.
        slides: stems also rendered as slides; default every notebook.
        runtimes_file: the ``RUNTIMES.md`` whose times the outline shows; it should be the one the
            notebook headers were generated from (``course/RUNTIMES.md``, which ``make book`` passes);
            None: no times.
        editions: which editions to build (``"student"``, ``"instructor"``).

    Raises ValueError for a missing folder or notebook, RuntimeError when a page would show an
    nbgrader marker or a machine path, a widget has no static picture, or a page would fetch from
    the network.
    """
    import nbformat

    src = Path(executed_dir)
    if not src.is_dir():
        raise ValueError(f"executed_dir {str(src)!r} is not a folder; run `altoolkit reproduce` first")
    stems = list(notebooks) if notebooks is not None else sorted(p.stem for p in src.glob("*.ipynb"))
    if not stems:
        raise ValueError(f"no executed notebooks in {str(src)!r}")
    missing = [s for s in stems if not (src / f"{s}.ipynb").is_file()]
    if missing:
        raise ValueError(f"notebooks {missing} not found in {str(src)!r}")
    eds = list(editions)
    if not eds or set(eds) - set(EDITIONS):
        raise ValueError(f"editions must be a non-empty subset of {EDITIONS}, got {eds}")
    from .course import read_runtimes

    runtimes = read_runtimes(runtimes_file) if runtimes_file is not None else ("", {})
    loaded = {s: nbformat.read(src / f"{s}.ipynb", as_version=4) for s in stems}
    slide_stems = [s for s in (stems if slides is None else slides) if s in loaded]
    site = Path(site_dir)
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    build_paths = _build_paths(src, site)
    result = BookResult(site)
    with tempfile.TemporaryDirectory() as tdir:
        exporters = _exporters(tdir)
        for ed in eds:
            result.editions[ed] = _build_edition(ed, loaded, site / ed, slide_stems, runtimes, build_paths, exporters)
    (site / "index.html").write_text(_landing(result.editions), encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m altoolkit.teaching.book [--executed DIR] [--out DIR] [--runtimes FILE]``: build
    the student and instructor editions of the offline site."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m altoolkit.teaching.book", description=main.__doc__)
    ap.add_argument("--executed", default="runs/quick", help="executed notebooks (default: runs/quick)")
    ap.add_argument("--out", default="runs/book", help="site folder (default: runs/book)")
    ap.add_argument("--runtimes", default="course/RUNTIMES.md", help="runtimes the outline shows, as the notebook headers do (default: course/RUNTIMES.md)")
    ap.add_argument("--edition", choices=EDITIONS, action="append", help="build only this edition (repeatable; default: both)")
    args = ap.parse_args(argv)
    try:
        runtimes = args.runtimes if os.path.isfile(args.runtimes) else None
        res = build_book(args.executed, args.out, runtimes_file=runtimes, editions=args.edition or EDITIONS)
    except (ValueError, RuntimeError) as exc:
        print(f"altoolkit.teaching.book: error: {exc}", file=sys.stderr)
        return 2
    for ed in res.editions.values():
        print(f"{ed.name} edition: {ed.site / 'index.html'} ({len(ed.pages)} pages, {len(ed.slides)} slide decks)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
