"""The active-learning engine: :class:`ALConfig` and the loop (:mod:`.loop`), record files and
their atomic writes (:mod:`.record_io`), sweeps over configurations (:mod:`.sweep`), the machine
description stored in records (:mod:`.machine`) and run-time estimates (:mod:`.estimate`).

May import util, math, data, training, strategies and :mod:`altoolkit.analysis.selection_balance`
(the per-cycle diagnostics a record stores); never plotting or labelling.
"""
