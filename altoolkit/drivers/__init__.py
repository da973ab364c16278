"""One module per notebook, named after it: the computations behind each notebook's cells.

01 :mod:`.tracin_to_kl`, 02 :mod:`.dynamic_loss`, 03 :mod:`.scoring_and_selection`,
04 :mod:`.tsne_selections`, 05 :mod:`.checkpoint_fluctuation`, 06 :mod:`.active_learning_benchmark`,
07 :mod:`.isal_influence_functions`, 09 :mod:`.why_selections_collapse` and its batch-rule
section :mod:`.batch_rule_control` (08 is driven by :mod:`altoolkit.labelling`); two runs' verdicts
compared claim by claim: :mod:`.rerun_agreement` (``altoolkit agreement``).  A module is
imported on first access: ``alt.drivers.batch_rule_control``.

May import every layer below (util, math, data, training, strategies, analysis, engine); figures live
in :mod:`altoolkit.plotting`.  What two notebooks compute alike lives in those layers, not here.
"""

from ..util.lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, __path__)  # alt.drivers.<module> imports the module on first access
