"""An offline static site of the executed notebooks, and reveal.js slides of notebook 01.

This module owns ``make book``.  The builder is nbconvert (already a dependency): each executed
notebook becomes one HTML page (JupyterLab's look), the course outline becomes ``index.html``, and
notebook 01 (the derivation) becomes reveal.js slides.  Nothing is loaded from the network:

* MathJax 2.7 comes from the ``jupyter-server-mathjax`` pip package and is copied to
  ``_static/mathjax``; pages point at it with a relative URL.
* reveal.js comes from the ``sphinx-revealjs`` pip package (its bundled ``_static/revealjs``) and
  is copied to ``_static/reveal.js``; the slide template loads it with plain ``<script>`` tags
  (nbconvert's own reveal template needs require.js and jQuery from a CDN).
* nbconvert's CDN URLs (require.js, mermaid, jQuery) are emptied and their empty tags removed;
  :func:`external_urls` lists any URL a page would still fetch, and the build refuses to finish
  when one is left.

Figures are the notebooks' own PNG outputs, embedded in the pages; widgets show their static
fallback (the figure the explorer cells draw; ``text/plain`` otherwise).
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["build_book", "BookResult", "external_urls", "mathjax_dir", "reveal_dir", "SLIDE_NOTEBOOKS"]

SLIDE_NOTEBOOKS: tuple[str, ...] = ("01_tracin_to_kl",)
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"

_SLIDES_TEMPLATE = r"""{%- extends 'reveal/index.html.j2' -%}
{%- block html_head_js_jquery -%}{%- endblock html_head_js_jquery -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block footer_js %}
<style>.reveal .slides > section, .reveal .slides > section > section {height: 95vh; overflow-y: auto;}</style>
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script src="{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({controls: true, progress: true, history: true, slideNumber: true,
                   plugins: [RevealNotes], width: "100%", height: "100%"});
Reveal.on('slidechanged', function () {
  if (window.MathJax && MathJax.Hub) { MathJax.Hub.Queue(["Typeset", MathJax.Hub, Reveal.getCurrentSlide()]); }
});
</script>
{% endblock footer_js %}
"""


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


def _clean(page: str) -> str:
    page = re.sub(r'<script src=""></script>\s*', "", page)
    # the mermaid loader is a module script that imports from a URL even when emptied: drop it
    page = re.sub(r'<script type="module">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*?</script>\s*', "", page, flags=re.S)
    # widget state needs the html-manager from a CDN; without it the outputs' static fallbacks show
    page = re.sub(r"<script>(?:(?!</script>).)*?addWidgetsRenderer(?:(?!</script>).)*?</script>\s*", "", page, flags=re.S)
    # jupyter-server-mathjax ships the STIX-Web fonts only (no TeX fontdata, no TeX otf fonts for the hidden
    # assistive MathML): use STIX-Web and switch the assistive MathML off, configured before MathJax loads
    page = re.sub(r'<script[^>]*src="[^"]*_static/mathjax/MathJax\.js', lambda m: _MATHJAX_FONTS + m.group(0), page, count=1)
    return page


_MATHJAX_FONTS = (
    '<script type="text/x-mathjax-config">MathJax.Hub.Config({menuSettings: {assistiveMML: false}, '
    '"HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", webFont: "STIX-Web", imageFont: null}});'
    "</script>\n"
)


def _common(exporter, mathjax_url: str) -> None:
    exporter.mathjax_url = mathjax_url
    exporter.require_js_url = ""
    exporter.mermaid_js_url = ""
    exporter.mermaid_layout_elk_js_url = ""
    exporter.jupyter_widgets_base_url = ""
    exporter.widget_renderer_url = ""
    if hasattr(exporter, "jquery_url"):
        exporter.jquery_url = ""


def _slide_types(nb):
    """A copy of ``nb`` with slide metadata: a new slide at each heading, a sub-slide for each
    output with a figure, the rest continues the current slide."""
    import copy

    nb = copy.deepcopy(nb)
    for c in nb.cells:
        kind = "-"
        if c.cell_type == "markdown" and c.source.lstrip().startswith("#"):
            kind = "slide"
        elif c.cell_type == "code" and any("image/png" in o.get("data", {}) for o in c.get("outputs", [])):
            kind = "subslide"
        c.metadata.setdefault("slideshow", {})["slide_type"] = kind
    return nb


@dataclass
class BookResult:
    """What :func:`build_book` wrote (paths relative to the site folder)."""

    site: Path
    pages: list[str] = field(default_factory=list)
    slides: list[str] = field(default_factory=list)


def _outline_page(notebooks: list[str], slides: list[str], runtimes) -> str:
    from nbconvert.filters.markdown import markdown2html

    from .course import COURSE, render_outline

    rows = []
    known = {e.stem for e in COURSE}
    for stem in notebooks:
        link = f'<a href="notebooks/{stem}.html">{html.escape(stem)}</a>'
        extra = f' · <a href="slides/{stem}.slides.html">slides</a>' if stem in slides else ""
        rows.append(f"<li>{link}{extra}{'' if stem in known else ' (not in the course outline)'}</li>")
    outline = markdown2html(render_outline(runtimes))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>altoolkit course</title>\n'
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .5em;vertical-align:top}</style>"
        "</head><body>\n<h1>altoolkit: influence-based active learning, a course</h1>\n"
        "<h2>Pages</h2>\n<ul>\n" + "\n".join(rows) + "\n</ul>\n<h2>Course outline</h2>\n" + outline + "\n</body></html>\n"
    )


def build_book(
    executed_dir: str | Path,
    site_dir: str | Path,
    notebooks: list[str] | None = None,
    slides: tuple[str, ...] | list[str] = SLIDE_NOTEBOOKS,
    runtimes_file: str | Path | None = None,
) -> BookResult:
    """Build the offline site from a folder of executed notebooks (e.g. ``runs/quick``).

    Args:
        executed_dir: folder with executed ``NN_name.ipynb`` files (``altoolkit reproduce`` output).
        site_dir: output folder (replaced).
        notebooks: stems to include; default every ``*.ipynb`` in ``executed_dir``.
        slides: stems also rendered as reveal.js slides (when present).
        runtimes_file: a RUNTIMES.md for the outline's times; default ``executed_dir/RUNTIMES.md``
            when it exists, else none.

    Raises ValueError for a missing folder or notebook, RuntimeError when a page would still
    fetch something from the network.
    """
    import nbformat
    from nbconvert import HTMLExporter, SlidesExporter

    src = Path(executed_dir)
    if not src.is_dir():
        raise ValueError(f"executed_dir {str(src)!r} is not a folder; run `altoolkit reproduce` first")
    stems = list(notebooks) if notebooks is not None else sorted(p.stem for p in src.glob("*.ipynb"))
    if not stems:
        raise ValueError(f"no executed notebooks in {str(src)!r}")
    for s in stems:
        if not (src / f"{s}.ipynb").is_file():
            raise ValueError(f"notebook {s!r} not found in {str(src)!r}")
    site = Path(site_dir)
    if site.exists():
        shutil.rmtree(site)
    (site / "notebooks").mkdir(parents=True)
    static = site / "_static"
    shutil.copytree(mathjax_dir(), static / "mathjax")
    result = BookResult(site)

    html_exp = HTMLExporter(template_name="lab")
    _common(html_exp, f"../_static/mathjax/MathJax.js?config={MATHJAX_CONFIG}")
    for s in stems:
        nb = nbformat.read(src / f"{s}.ipynb", as_version=4)
        body, _ = html_exp.from_notebook_node(nb)
        body = _clean(body)
        _refuse_external(body, f"notebooks/{s}.html")
        (site / "notebooks" / f"{s}.html").write_text(body, encoding="utf-8")
        result.pages.append(f"notebooks/{s}.html")

    wanted = [s for s in slides if s in stems]
    if wanted:
        shutil.copytree(reveal_dir(), static / "reveal.js", ignore=shutil.ignore_patterns("*.map", "*.esm.js"))
        (site / "slides").mkdir()
        with tempfile.TemporaryDirectory() as tdir:
            tpl = Path(tdir) / "altoolkit_slides.html.j2"
            tpl.write_text(_SLIDES_TEMPLATE)
            sl_exp = SlidesExporter(
                template_name="reveal",
                template_file=str(tpl),
                extra_template_basedirs=[tdir],
                reveal_url_prefix="../_static/reveal.js",
                reveal_theme="white",
            )
            _common(sl_exp, f"../_static/mathjax/MathJax.js?config={MATHJAX_CONFIG}")
            for s in wanted:
                nb = _slide_types(nbformat.read(src / f"{s}.ipynb", as_version=4))
                body, _ = sl_exp.from_notebook_node(nb)
                body = _clean(body)
                _refuse_external(body, f"slides/{s}.slides.html")
                (site / "slides" / f"{s}.slides.html").write_text(body, encoding="utf-8")
                result.slides.append(f"slides/{s}.slides.html")

    from .course import read_runtimes

    rt_path = Path(runtimes_file) if runtimes_file is not None else src / "RUNTIMES.md"
    runtimes = read_runtimes(rt_path) if rt_path.is_file() else ("", {})
    index = _outline_page(stems, wanted, runtimes)
    _refuse_external(index, "index.html")
    (site / "index.html").write_text(index, encoding="utf-8")
    result.pages.insert(0, "index.html")
    return result


def _refuse_external(page: str, name: str) -> None:
    urls = external_urls(page)
    if urls:
        raise RuntimeError(f"{name} would fetch from the network: {urls[:5]}")


def main(argv: list[str] | None = None) -> int:
    """``python -m altoolkit.teaching.book [--executed DIR] [--out DIR]``: build the offline site."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m altoolkit.teaching.book", description=main.__doc__)
    ap.add_argument("--executed", default="runs/quick", help="executed notebooks (default: runs/quick)")
    ap.add_argument("--out", default="runs/book", help="site folder (default: runs/book)")
    args = ap.parse_args(argv)
    try:
        res = build_book(args.executed, args.out)
    except (ValueError, RuntimeError) as exc:
        print(f"altoolkit.teaching.book: error: {exc}", file=sys.stderr)
        return 2
    print(f"site: {res.site / 'index.html'} ({len(res.pages)} pages, slides: {', '.join(res.slides) or 'none'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
