"""Labelling your own data (notebook 08): the label store on disk (:mod:`.store`) and the
labelling project that trains and selects (:mod:`.project`); its buttons live in
:mod:`altoolkit.widgets`, its figures in :mod:`altoolkit.plotting.labelling`.

May import every layer below it (util, math, data, training, strategies, analysis, engine,
drivers); not :mod:`altoolkit.plotting`, beside it, nor the widgets above.
"""

from ..util.lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, __path__)  # alt.labelling.<module> imports the module on first access
