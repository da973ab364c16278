"""Tables that notebooks display: rendered HTML in JupyterLab and in the book, aligned text elsewhere.

A notebook that ``print``\\ s a Markdown table leaves pipe text in its saved output (``| a | b |``,
``|---|``), and so does the site built from it.  :class:`Table` keeps the cells and renders them:
``_repr_html_`` (what JupyterLab and nbconvert show), ``_repr_markdown_`` and, for a terminal or a
``text/plain`` reader, aligned columns without pipes.  :func:`show` displays a :class:`Table`, a
Markdown pipe table (parsed into a :class:`Table`), a list of verdicts (:func:`verdict_table`) or a
Markdown text (rendered), so a cell never prints markup.

:func:`verdict_table` turns :class:`altoolkit.math.stats.Verdict` objects into one row per claim.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

__all__ = ["Table", "show", "verdict_table", "is_pipe_table", "PIPE_TABLE"]

#: A Markdown pipe table: a header row followed by a ``|---|`` delimiter row.
PIPE_TABLE = re.compile(r"^\s*\|.*\|\s*\n\s*\|(?:\s*:?-{2,}:?\s*\|)+\s*$", re.M)
_NUMBER = re.compile(r"^[+\-−]?[\d.,]+(?:\s*(?:%|s|×|x))?(?:\s*±\s*[\d.,]+)?$")


def is_pipe_table(text: str) -> bool:
    """Whether ``text`` holds a Markdown pipe table (header row and ``|---|`` row)."""
    return bool(PIPE_TABLE.search(text))


def _md_inline(text: str) -> str:
    """HTML of a cell's inline Markdown: ``**bold**``, ``*italic*`` and ```code```; the rest escaped."""
    out = html.escape(str(text))
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", out)


def _plain(text: str) -> str:
    return re.sub(r"\*\*([^*]+)\*\*|`([^`]+)`", lambda m: m.group(1) or m.group(2), str(text))


@dataclass
class Table:
    """Rows of cells under a header, with an optional caption above and notes below.

    ``align`` has one letter per column, ``"l"``, ``"r"`` or ``"c"``; by default columns whose cells
    are all numbers (``12.3``, ``+1.2``, ``45 ± 2``, ``0.86×``) are right-aligned."""

    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""
    align: str | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.header = [str(h) for h in self.header]
        self.rows = [[("" if c is None else str(c)) for c in row] for row in self.rows]
        n = len(self.header)
        bad = [i for i, row in enumerate(self.rows) if len(row) != n]
        if bad:
            raise ValueError(f"every row needs {n} cells (one per header column); rows {bad} do not have that many")
        if self.align is None:
            self.align = "".join("r" if self.rows and all(_NUMBER.match(_plain(r[j]).strip()) for r in self.rows if r[j]) else "l" for j in range(n))
        if len(self.align) != n or set(self.align) - set("lrc"):
            raise ValueError(f"align must have one of 'l', 'r', 'c' per column ({n}), got {self.align!r}")

    @classmethod
    def from_markdown(cls, text: str, caption: str = "") -> "Table":
        """Parse the first pipe table of ``text``; lines before it become the caption (unless one
        is given) and lines after it the notes."""
        lines = text.strip("\n").splitlines()
        start = next(
            (i for i in range(len(lines) - 1) if lines[i].strip().startswith("|") and re.match(r"^\s*\|(?:\s*:?-{2,}:?\s*\|)+\s*$", lines[i + 1])), None
        )
        if start is None:
            raise ValueError("text holds no Markdown pipe table (a '| a | b |' row followed by a '|---|---|' row)")
        end = start + 2
        while end < len(lines) and lines[end].strip().startswith("|"):
            end += 1
        cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in [lines[start]] + lines[start + 2 : end]]
        align = "".join(
            "c" if d.strip().startswith(":") and d.strip().endswith(":") else "r" if d.strip().endswith(":") else "l"
            for d in lines[start + 1].strip().strip("|").split("|")
        )
        explicit = ":" in lines[start + 1]
        head = caption or " ".join(line.strip() for line in lines[:start] if line.strip())
        notes = [line.strip() for line in lines[end:] if line.strip()]
        return cls(cells[0], cells[1:], caption=head, align=align if explicit else None, notes=notes)

    def markdown(self) -> str:
        """The table as Markdown (caption and notes as paragraphs)."""
        assert self.align is not None
        delim = {"l": "---", "r": "---:", "c": ":---:"}
        lines = ["| " + " | ".join(self.header) + " |", "|" + "|".join(delim[a] for a in self.align) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        parts = ([self.caption, ""] if self.caption else []) + lines + ([""] + self.notes if self.notes else [])
        return "\n".join(parts)

    def html(self) -> str:
        """The table as an HTML fragment (class ``altoolkit-table``)."""
        assert self.align is not None
        style = {"l": "left", "r": "right", "c": "center"}
        head = "".join(f'<th style="text-align:{style[a]}">{_md_inline(h)}</th>' for h, a in zip(self.header, self.align))
        body = "".join(
            "<tr>" + "".join(f'<td style="text-align:{style[a]}">{_md_inline(c)}</td>' for c, a in zip(row, self.align)) + "</tr>" for row in self.rows
        )
        cap = f"<caption>{_md_inline(self.caption)}</caption>" if self.caption else ""
        notes = "".join(f"<p>{_md_inline(n)}</p>" for n in self.notes)
        return f'<table class="altoolkit-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}'

    def text(self) -> str:
        """Aligned plain-text columns (no pipes, no markup)."""
        assert self.align is not None
        grid = [[_plain(c) for c in self.header]] + [[_plain(c) for c in row] for row in self.rows]
        widths = [max(len(r[j]) for r in grid) for j in range(len(self.header))]

        def fmt(row: list[str]) -> str:
            return "  ".join(c.rjust(w) if a == "r" else c.center(w) if a == "c" else c.ljust(w) for c, w, a in zip(row, widths, self.align or "")).rstrip()

        lines = [fmt(grid[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in grid[1:]]
        return "\n".join(([_plain(self.caption)] if self.caption else []) + lines + [_plain(n) for n in self.notes])

    def _repr_html_(self) -> str:
        return self.html()

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        return self.text()


def verdict_table(verdicts: Iterable[Any], scale: float = 100.0, digits: int = 2, unit: str = "points", caption: str = "") -> Table:
    """One row per :class:`altoolkit.math.stats.Verdict`: the claim, its verdict (bold), the mean
    paired difference with its interval (times ``scale``, in ``unit``), seeds and wins."""
    rows = []
    for v in verdicts:
        kind = "t" if v.method == "t" else f"bootstrap (seed {v.bootstrap_seed})"
        rows.append(
            [
                v.claim,
                f"**{v.verdict}**",
                v.interval_text(scale, digits),
                f"{v.confidence:.0%} {kind}",
                str(v.n),
                f"{v.wins}/{v.n}",
            ]
        )
    return Table(["claim", "verdict", f"mean difference [interval] ({unit})", "interval", "seeds", "wins"], rows, caption=caption, align="llrlrr")


def show(obj: Any, caption: str = "") -> None:
    """Display ``obj`` rendered: a :class:`Table`; a string holding a Markdown pipe table (shown
    as a :class:`Table`, the text around it as caption and notes); other Markdown text (rendered);
    or verdicts (:func:`verdict_table`).  Outside IPython the plain text is printed.  Returns None,
    so a cell that ends with it echoes nothing."""
    if isinstance(obj, str):
        shown: Any = Table.from_markdown(obj, caption) if is_pipe_table(obj) else _Markdown(obj)
    elif isinstance(obj, Table):
        shown = obj
    else:
        shown = verdict_table(list(obj), caption=caption)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with the notebook dependencies
        print(repr(shown))
        return
    if get_ipython() is None:
        print(repr(shown))
    else:
        display(shown)


class _Markdown:
    """Markdown text that renders in a notebook; its plain text has no markup."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return _plain(re.sub(r"<!--.*?-->\n?", "", self.text, flags=re.S))
