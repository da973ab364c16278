"""Reading records: learning curves and paired comparisons (:mod:`.results`, statistics via
:mod:`altoolkit.math.stats`), the class balance of selections (:mod:`.selection_balance`), and the
sentences that notebooks print about measured results (:mod:`.narrate`).

Shared by the drivers and the CLI.  May import util, math and training (inference); nothing above (no engine, drivers or plotting).
"""
