"""Slides of a notebook, cut from its markers, with speaker notes (``make book``).

A notebook becomes reveal.js slides by nbconvert's ``slide_type`` cell metadata (Jupyter's own
"Slideshow" markers, set in JupyterLab's property inspector).  :func:`slide_version` fills in the
markers a notebook does not set, by a rule that keeps every slide inside a 16:9 projector:

* a ``#``/``##`` heading starts a slide, a ``###`` heading a sub-slide (a cell's own
  ``slideshow.slide_type`` marker always wins);
* a Markdown cell shows its headings, the notebook header's learning goals, display equations and
  tables; its paragraphs and lists go to the **speaker notes** (``slide_type: notes``, shown in
  reveal.js's speaker view, key ``S``), so a slide carries what the audience looks at and the notes
  what the teacher says;
* what a cell shows beyond :data:`SLIDE_BUDGET` (rough line units) moves to a sub-slide titled
  like its slide;
* code is not shown; each figure, rendered table or widget's static picture gets a sub-slide of its
  own, titled like its slide; a cell marked ``skip`` (and every output-less code cell) is left out;
* a Markdown output taller than one slide (notebook 06's results block: 22 verdicts) is cut at its
  paragraphs and list items over as many sub-slides as it needs (:func:`markdown_chunks`), a
  nested list's parent item repeated with "(continued)".
"""

from __future__ import annotations

import copy
import re
from typing import Any

__all__ = ["slide_version", "split_prose", "markdown_chunks", "SLIDE_BUDGET", "slide_template"]

#: Rough height budget of one slide in line units (a heading 1.5, a goal or table row 1, an
#: equation 2.5 per line); 1280x720 slides at the template's font sizes hold about this much.
SLIDE_BUDGET = 13.0
_FIGURE = ("image/png", "image/svg+xml", "image/jpeg")
_TABLE = ("text/html", "text/markdown")


def _blocks(source: str) -> list[str]:
    """Split Markdown into blocks at blank lines; a display equation (``$$ ... $$``, one line or
    several) is a block of its own even inside a paragraph."""
    out: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            out.append("\n".join(buf))
            buf.clear()

    in_math = False
    for line in source.splitlines():
        st = line.strip()
        if in_math:
            buf.append(line)
            if st.endswith("$$"):
                flush()
                in_math = False
        elif st.startswith("$$"):
            flush()
            buf.append(line)
            if len(st) > 2 and st.endswith("$$"):
                flush()
            else:
                in_math = True
        elif not st:
            flush()
        else:
            buf.append(line)
    flush()
    return out


def _kind(block: str) -> str:
    s = block.lstrip()
    if s.startswith("<!--") and s.rstrip().endswith("-->") and "\n" not in s.strip():
        return "comment"
    if s.startswith("#"):
        return "heading"
    if s.startswith("$$"):
        return "math"
    if s.startswith("|"):
        return "table"
    if s.startswith(">") or s.startswith("<!-- course-header"):
        return "header"
    return "prose"


def _height(block: str, kind: str) -> float:
    if kind == "heading":
        return 1.5
    if kind == "math":
        return 2.5 * max(1, block.count("\\\\") + 1)
    if kind == "table":
        return 1.0 * len(block.strip().splitlines())
    return 1.0 * max(1, block.count("\n") + 1)


def _header_parts(block: str) -> tuple[list[str], list[str]]:
    """The notebook header (a blockquote between course-header comments): its learning goals are
    shown, the rest (prerequisites, paper, runtime, references) goes to the notes."""
    lines = [ln for ln in block.splitlines() if not ln.strip().startswith("<!--")]
    text = [re.sub(r"^>\s?", "", ln) for ln in lines]
    goals = [ln for ln in text if ln.startswith("* ") or ln.startswith("**Learning goals**")]
    rest = [ln for ln in text if ln.strip() and ln not in goals]
    return goals, rest


def split_prose(source: str) -> tuple[list[tuple[str, float]], str]:
    """``(shown, notes)`` of a Markdown cell: the shown blocks with their heights (headings,
    learning goals, equations, tables), and the notes (paragraphs and lists, joined)."""
    shown: list[tuple[str, float]] = []
    notes: list[str] = []
    for block in _blocks(source):
        kind = _kind(block)
        if kind == "comment":
            continue
        if kind == "header":
            goals, rest = _header_parts(block)
            if goals:
                shown.append(("\n".join(goals), 1.0 * len(goals)))
            notes.extend(rest)
        elif kind == "prose":
            notes.append(block)
        else:
            shown.append((block, _height(block, kind)))
    return shown, "\n\n".join(notes)


def _cell(kind: str, source: str, slide_type: str) -> Any:
    from nbformat.v4 import new_markdown_cell

    c = new_markdown_cell(source)
    c.metadata["slideshow"] = {"slide_type": slide_type}
    return c


def _shows(out: dict) -> bool:
    data = out.get("data", {})
    return any(k in data for k in _FIGURE + _TABLE)


def _title_of(blocks: list[tuple[str, float]]) -> str | None:
    for b, _ in blocks:
        if b.lstrip().startswith("#"):
            return re.sub(r"^#+\s*", "", b.strip().splitlines()[0])
    return None


class _Deck:
    """Accumulates slide cells, tracking the current slide's title and how full it is."""

    def __init__(self) -> None:
        self.cells: list[Any] = []
        self.title = ""
        self.used = 0.0

    def continuation(self) -> None:
        self.cells.append(_cell("markdown", f"#### {self.title}" if self.title else "", "subslide"))
        self.used = 1.0

    def markdown(self, cell: Any) -> None:
        explicit = cell.metadata.get("slideshow", {}).get("slide_type")
        shown, notes = split_prose(cell.source)
        head = cell.source.lstrip()
        kind = explicit or ("slide" if re.match(r"#{1,2}\s", head) else "subslide" if head.startswith("#") else "-")
        if kind == "skip":
            return
        title = _title_of(shown)
        if title and kind in ("slide", "subslide"):
            self.title, self.used = title, 0.0
        elif kind in ("slide", "subslide"):
            self.used = 0.0
        first = True
        for block, h in shown:
            if self.used + h > SLIDE_BUDGET and self.used > 0:
                self.continuation()
            self.cells.append(_cell("markdown", block, kind if first else "-"))
            self.used += h
            first = False
        if first and kind in ("slide", "subslide"):  # nothing shown: keep the slide break for the notes
            self.cells.append(_cell("markdown", f"#### {self.title}" if self.title else "", kind))
            self.used = 1.0
        if notes.strip():
            self.cells.append(_cell("markdown", notes, "notes"))

    def code(self, cell: Any) -> None:
        """The figures, rendered tables and widget pictures of a code cell (never its source): a
        figure fills a sub-slide of its own; a table or a sentence joins the current sub-slide
        while it fits the budget."""
        explicit = cell.metadata.get("slideshow", {}).get("slide_type")
        if explicit == "skip":
            return
        for out in (o for o in cell.get("outputs", []) if _shows(o)):
            c = copy.deepcopy(cell)
            c.outputs = [out]
            c.source = ""
            c.metadata["slideshow"] = {"slide_type": "-"}
            c.metadata.setdefault("tags", []).append("remove_input")
            h = _output_height(out)
            markdown = out.get("data", {}).get("text/markdown")
            if h > SLIDE_BUDGET and markdown and not any(k in out.get("data", {}) for k in _FIGURE):
                for chunk in markdown_chunks(str(markdown)):
                    part = copy.deepcopy(c)
                    part.outputs = [{**out, "data": {"text/markdown": chunk, "text/plain": chunk}}]
                    self.continuation()
                    self.cells.append(part)
                    self.used = SLIDE_BUDGET
                continue
            if self.used + h > SLIDE_BUDGET or not self.cells or h >= SLIDE_BUDGET:
                self.continuation()
            self.cells.append(c)
            self.used += h


def _output_height(out: dict) -> float:
    """Rough height of an output in line units: a figure or widget picture fills a slide, a table
    counts its rows (at the smaller table font), text its lines of about 100 characters."""
    data = out.get("data", {})
    if any(k in data for k in _FIGURE) or "altoolkit-widget" in str(data.get("text/html", "")):
        return SLIDE_BUDGET
    text = str(data.get("text/html") or data.get("text/markdown") or "")
    rows = text.count("<tr") + text.count("\n|")
    return 1.5 + 0.45 * rows if rows else 1.0 + len(re.sub(r"<[^>]+>", "", text)) / 100


def _line_height(line: str) -> float:
    """Line units of one Markdown line: about 100 characters a line at the slides' font."""
    return 1.0 + len(line.strip()) // 100


def markdown_chunks(markdown: str, budget: float = SLIDE_BUDGET - 1.0) -> list[str]:
    r"""``markdown`` cut into pieces of at most ``budget`` line units each (the sub-slide's title
    takes one), at paragraphs and list items; HTML comments are dropped.  A nested item that
    starts a piece brings its parent item, marked "(continued)", so each piece reads on its own.

    >>> markdown_chunks("intro\n\n- a:\n  - x\n  - y", budget=3)
    ['intro\n\n- a:\n  - x', '- a: (continued)\n  - y']
    """
    lines = [ln for ln in markdown.splitlines() if not ln.strip().startswith("<!--")]
    chunks: list[list[str]] = [[]]
    used, parent = 0.0, None
    for ln in lines:
        if not ln.strip():
            if chunks[-1] and chunks[-1][-1] != "":
                chunks[-1].append("")
            continue
        nested = bool(re.match(r"\s+[-*] ", ln))
        if not nested:
            parent = ln if re.match(r"[-*] ", ln) else None
        h = _line_height(ln)
        if used + h > budget and any(x.strip() for x in chunks[-1]):
            chunks.append([])
            used = 0.0
            if nested and parent is not None:
                chunks[-1].append(parent.rstrip() + " (continued)")
                used += _line_height(parent)
        chunks[-1].append(ln)
        used += h
    return ["\n".join(c).strip("\n") for c in chunks if any(x.strip() for x in c)]


def slide_version(nb: Any) -> Any:
    """A copy of ``nb`` cut into slides with speaker notes (see the module docstring)."""
    deck = _Deck()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            deck.markdown(cell)
        elif cell.cell_type == "code":
            deck.code(cell)
    for k, cell in enumerate(deck.cells):
        cell["id"] = f"slide-cell-{k}"  # one output per sub-slide copies a cell: ids stay unique
    out = copy.deepcopy(nb)
    out.cells = deck.cells
    return out


def slide_template(width: int = 1280, height: int = 720) -> str:
    """The nbconvert template of the slides: reveal.js from the site (no CDN), a ``width`` x
    ``height`` (16:9) canvas scaled to the window, slides laid out from the top (so a slide's height
    can be measured), the notes plugin, and MathJax typesetting each slide as it is shown."""
    return r"""{%- extends 'reveal/index.html.j2' -%}
{%- block html_head_js_jquery -%}{%- endblock html_head_js_jquery -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block footer_js %}
<style>
.reveal { font-size: 26px; }
.reveal .slides section { text-align: left; }
.reveal h1 { font-size: 1.7em; } .reveal h2 { font-size: 1.35em; } .reveal h3 { font-size: 1.15em; }
.reveal h4 { font-size: 0.8em; color: #555; margin-bottom: 0.3em; }
.reveal ul, .reveal ol { display: block; margin-left: 1em; }
.reveal .jp-RenderedImage img, .reveal img { max-height: 560px; max-width: 100%; object-fit: contain; }
.reveal table { font-size: 0.75em; }
.reveal .jp-OutputArea table { font-size: 0.6em; }
.reveal .jp-OutputArea-output pre { font-size: 0.5em; }
.reveal .altoolkit-widget { font-size: 0.6em; }
.reveal .altoolkit-widget img { max-height: 470px; }
</style>
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script src="{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({controls: true, progress: true, hash: true, slideNumber: "c/t", center: false, transition: "none",
                   width: WIDTH, height: HEIGHT, margin: 0.04, plugins: [RevealNotes]});
Reveal.on('slidechanged', function () {
  if (window.MathJax && MathJax.Hub) { MathJax.Hub.Queue(["Typeset", MathJax.Hub, Reveal.getCurrentSlide()]); }
});
</script>
{% endblock footer_js %}
""".replace("WIDTH", str(width)).replace("HEIGHT", str(height))
