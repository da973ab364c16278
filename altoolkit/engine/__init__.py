"""The active-learning engine: :class:`ALConfig` and the loop (:mod:`.loop`), record files and
their atomic writes (:mod:`.record_io`), sweeps over configurations (:mod:`.sweep`), the machine
description stored in records (:mod:`.machine`) and the
papers' protocol against this toolkit's options, the source of the README's table (:mod:`.protocol`).

May import util, math, data, training, strategies and :mod:`altoolkit.analysis` (the per-cycle
selection diagnostics a record stores); never
the drivers, plotting, labelling or any layer above.
"""

from ..util.lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, __path__)  # alt.engine.<module> imports the module on first access
