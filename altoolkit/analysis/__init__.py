"""Reading records and selections: learning curves and paired comparisons (:mod:`.results`,
statistics via :mod:`altoolkit.math.stats`), the class balance of selections
(:mod:`.selection_balance`), t-SNE maps of the pool (:mod:`.pool_maps`), and the sentences that
notebooks print about measured results (:mod:`.narrate`).

Shared by the engine (a record stores the per-cycle selection diagnostics), the drivers and the
CLI, so it sits below the engine.  May import util, math, data, training and strategies; nothing
above (no engine, drivers or plotting).
"""

from ..util.lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, __path__)  # alt.analysis.<module> imports the module on first access
