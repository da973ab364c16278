"""Figures: the palette rule of every figure (:mod:`.palette`), learning curves (:mod:`.curves`), t-SNE maps and overlaps
(:mod:`.maps`), class collapse (:mod:`.collapse`), notebook 07's (:mod:`.isal`) and a labelling
project's (:mod:`.labelling`).

The only matplotlib user besides :mod:`altoolkit.widgets`.  May import every layer below it (util,
math, data, training, strategies, analysis, engine, drivers); not :mod:`altoolkit.labelling`,
beside it (:mod:`.labelling` reads a project through its methods), nor the widgets, teaching or
the CLI.  Nothing imports it at ``import altoolkit`` time.
"""

from ..util.lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, __path__)  # alt.plotting.<module> imports the module on first access
