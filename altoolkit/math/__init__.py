"""The math layer: DISAL's KL score and the uncertainty scores, influence functions (LiSSA, exact
Hessian), TracIn, the dynamic loss, and the statistics (AULC, paired differences, intervals,
verdicts, rank correlations: :mod:`.stats` is the one statistics path).

May import :mod:`altoolkit.util` and the model helpers of :mod:`altoolkit.training` (batching, the
output layer); nothing of the engine, the drivers, plotting or labelling.
"""
