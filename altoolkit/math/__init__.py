"""The math layer: DISAL's KL score and the uncertainty scores, influence functions (LiSSA, exact
Hessian), TracIn, the dynamic loss, and the statistics (AULC, paired differences, intervals,
verdicts, rank correlations: :mod:`.stats` is the one statistics path).

May import :mod:`altoolkit.util` only (batching and the output layer come from
:mod:`altoolkit.util.modules`); nothing of data, training or any layer above.
"""

from ..util.lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, __path__)  # alt.math.<module> imports the module on first access
