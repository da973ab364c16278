"""Figures: the palette rule of every figure (:mod:`.palette`), learning curves (:mod:`.curves`), t-SNE maps and overlaps
(:mod:`.maps`), class collapse (:mod:`.collapse`), notebook 07's (:mod:`.isal`) and a labelling
project's (:mod:`.labelling`).

The only matplotlib user besides :mod:`altoolkit.labelling.widgets`.  May import any layer but the
CLI and teaching; nothing imports it at ``import altoolkit`` time.
"""
