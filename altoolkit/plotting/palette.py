"""The palette rule of every altoolkit figure: a hue per strategy family, a marker and line style per
member or variant, colour-blind safe, at most :data:`MAX_HUES` hues on one axes.

* **Hues** are the Okabe-Ito colours (Okabe & Ito, "Color Universal Design", 2008; the palette
  matplotlib ships as ``"tableau-colorblind10"`` is another choice, this one is the usual reference
  for colour-vision deficiency), one per family of strategies (:data:`FAMILIES`): DISAL and its
  ablations vermillion, the uncertainty scores blue, the set-based ones bluish green, the
  gradient/influence scores reddish purple, TOD orange, random grey.
* **Members** of a family keep a fixed marker and line style (:data:`STRATEGY_STYLE`), so a strategy
  looks the same in every figure.
* **Variants** of a strategy (``"disal (λ=0.5)"``, ``"disal+balanced"``, ``"ISAL K=2"``,
  ``"Grad-Simi"``) keep the family's hue; :func:`series_styles` gives each one a marker and line
  style that no other series of the same hue on the same axes has, so no two series of one axes
  share colour and marker.
* Series that are no strategy (``"λ=0.1"``, ``"fixed"``, ``"scale 1e4"``) get the Okabe-Ito hues in
  order of appearance, each with its own marker.
* Bars have no marker: :func:`series_styles` gives the members of one hue different hatches.

Matplotlib is not imported here; the plotting modules read these dictionaries.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

__all__ = [
    "OKABE_ITO",
    "FAMILIES",
    "STRATEGY_STYLE",
    "MAX_HUES",
    "parse_label",
    "strategy_style",
    "series_styles",
    "bar_styles",
]

#: Okabe-Ito colours (black left out: it is the colour of reference lines and selection markers).
OKABE_ITO: dict[str, str] = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish green": "#009E73",
    "reddish purple": "#CC79A7",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "yellow": "#F0E442",
}
GREY = "#6E6E6E"
#: Family -> (hue, members in order).  Every registered strategy belongs to exactly one family.
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "baseline": (GREY, ("random",)),
    "disal": (OKABE_ITO["vermillion"], ("disal", "disal_no_dynamic", "disal_no_selection", "ce_difference")),
    "uncertainty": (OKABE_ITO["blue"], ("entropy", "margin", "least_confidence", "bald")),
    "set-based": (OKABE_ITO["bluish green"], ("coreset", "badge")),
    "gradient": (OKABE_ITO["reddish purple"], ("tracin", "isal", "gradnorm")),
    "temporal": (OKABE_ITO["orange"], ("tod",)),
}
#: At most this many hues on one axes (the Okabe-Ito colours plus grey).
MAX_HUES = 7
#: Markers and line styles, in the order members and variants take them.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p", "8", "d", "H")
LINESTYLES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)))
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo")
_MEMBER_MARKERS = {
    "random": "o",
    "disal": "o",
    "disal_no_dynamic": "s",
    "disal_no_selection": "^",
    "ce_difference": "D",
    "entropy": "s",
    "margin": "D",
    "least_confidence": "^",
    "bald": "v",
    "coreset": ">",
    "badge": "h",
    "tracin": "d",
    "isal": "H",
    "gradnorm": "p",
    "tod": "8",
}


def _member_style(name: str) -> dict[str, Any]:
    for family, (hue, members) in FAMILIES.items():
        if name in members:
            i = members.index(name)
            return {"color": hue, "marker": _MEMBER_MARKERS[name], "linestyle": LINESTYLES[i], "hatch": HATCHES[i], "family": family}
    raise KeyError(name)


#: Fixed colour, marker, line style and hatch of each strategy (its family's hue).
STRATEGY_STYLE: dict[str, dict[str, Any]] = {n: _member_style(n) for _, (_, members) in FAMILIES.items() for n in members}
#: Labels of ablations named differently from their strategy: label (lower case) -> strategy.
ALIASES = {"grad-simi": "isal", "grad_simi": "isal"}
_COUNT = re.compile(r"\s*\(n=\d+\)\s*$")


def parse_label(label: str) -> tuple[str | None, str]:
    """``(strategy, variant)`` of a series label, ``strategy`` None when the label names none.

    ``"disal"`` -> ("disal", ""); ``"disal (λ=0.5) (n=10)"`` -> ("disal", "(λ=0.5)");
    ``"disal+balanced"`` -> ("disal", "+balanced"); ``"ISAL_v2 (L1)"`` -> ("isal", "_v2 (L1)");
    ``"Grad-Simi"`` -> ("isal", "grad-simi"); ``"disal_no_dynamic"`` -> ("disal_no_dynamic", "");
    ``"λ=0.1"`` -> (None, "λ=0.1").  The longest strategy name that starts the label wins, and it must
    end at a non-word character or at ``_v<digit>`` (ISAL's reference-set variants)."""
    text = _COUNT.sub("", str(label)).strip()
    low = text.lower()
    if low in ALIASES:
        return ALIASES[low], low
    for name in sorted(STRATEGY_STYLE, key=len, reverse=True):
        if low.startswith(name):
            rest = text[len(name) :]
            if not rest or not (rest[0].isalnum() or rest[0] == "_") or re.match(r"_v\d", rest):
                return name, rest.strip()
    return None, text


def strategy_style(label: str) -> dict[str, Any]:
    """Colour, marker, line style and hatch of one label on its own (a strategy's fixed style; a
    variant keeps the hue with the first free variant marker).  Figures with several series call
    :func:`series_styles`, which keeps the series of one axes apart."""
    return series_styles([label])[str(label)]


def series_styles(labels: Iterable[str]) -> dict[str, dict[str, Any]]:
    """One style per label for the series of one axes: ``{label: {color, marker, linestyle, hatch}}``.

    Strategies and their variants take their family's hue; a plain strategy takes its own marker and
    line style; a variant takes the first marker its hue does not yet use on this axes, with a
    dashed/dotted line style; labels that name no strategy take the next unused Okabe-Ito hue.
    Within one hue, no two labels share a marker or a hatch.  More than :data:`MAX_HUES` hues raise
    ValueError (draw small multiples instead)."""
    labels = list(dict.fromkeys(str(lab) for lab in labels))
    parsed = {lab: parse_label(lab) for lab in labels}
    used_markers: dict[str, set[str]] = {}
    used_hatches: dict[str, set[str]] = {}
    used_lines: dict[str, list[Any]] = {}
    out: dict[str, dict[str, Any]] = {}
    # plain strategies first: they own their fixed marker on every axes
    for lab in labels:
        name, variant = parsed[lab]
        if name is not None and not variant:
            st = dict(STRATEGY_STYLE[name])
            used_markers.setdefault(st["color"], set()).add(st["marker"])
            used_hatches.setdefault(st["color"], set()).add(st["hatch"])
            used_lines.setdefault(st["color"], []).append(st["linestyle"])
            out[lab] = st
    spare = [c for c in OKABE_ITO.values() if c not in {st["color"] for st in STRATEGY_STYLE.values() if _family_present(st, parsed)}]
    others = 0
    for lab in labels:
        if lab in out:
            continue
        name, variant = parsed[lab]
        if name is not None:
            hue, family = STRATEGY_STYLE[name]["color"], STRATEGY_STYLE[name]["family"]
            marker = next(m for m in MARKERS if m not in used_markers.setdefault(hue, set()))
        else:
            if not spare:
                raise ValueError(f"more than {MAX_HUES} hues on one axes: {labels}; draw small multiples")
            hue, family = spare.pop(0), None
            marker = MARKERS[others % len(MARKERS)]  # a marker of its own too, for readers who do not see the hue
            others += 1
        hatch = next((h for h in HATCHES if h not in used_hatches.setdefault(hue, set())), HATCHES[-1])
        used_markers.setdefault(hue, set()).add(marker)
        used_hatches[hue].add(hatch)
        taken = used_lines.setdefault(hue, [])
        linestyle = "-" if name is None else next((ls for ls in LINESTYLES[1:] if ls not in taken), LINESTYLES[1 + len(taken) % (len(LINESTYLES) - 1)])
        taken.append(linestyle)
        out[lab] = {"color": hue, "marker": marker, "linestyle": linestyle, "hatch": hatch, "family": family}
    hues = {st["color"] for st in out.values()}
    if len(hues) > MAX_HUES:
        raise ValueError(f"{len(hues)} hues on one axes (at most {MAX_HUES}): {labels}; draw small multiples")
    return {lab: out[lab] for lab in labels}


def _family_present(style: dict[str, Any], parsed: dict[str, tuple[str | None, str]]) -> bool:
    """Whether a strategy family with this style's hue has a series among ``parsed``."""
    return any(name is not None and STRATEGY_STYLE[name]["color"] == style["color"] for name, _ in parsed.values())


def bar_styles(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Colour and hatch of one bar per label (bars have no marker): :func:`series_styles`, whose
    hatches tell the members of one family apart, or each label's own style where the labels need
    more than :data:`MAX_HUES` hues."""
    names = list(names)
    try:
        return series_styles(names)
    except ValueError:
        return {n: strategy_style(n) for n in names}
