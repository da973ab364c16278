"""The active-learning engine: :class:`ALConfig` and the loop (:mod:`.loop`), record files and
their atomic writes (:mod:`.record_io`), sweeps over configurations (:mod:`.sweep`), the machine
description stored in records (:mod:`.machine`), run-time estimates (:mod:`.estimate`) and the
papers' protocol against this toolkit's options, the source of the README's table (:mod:`.protocol`).

May import util, math, data, training, strategies and :mod:`altoolkit.analysis` (the per-cycle
selection diagnostics a record stores); never plotting or labelling (only :func:`.estimate.measure`,
a calibration run, times the t-SNE of :mod:`altoolkit.drivers.tsne_selections`).
"""
