"""The training layer: model architectures and the model registry, training and evaluation
(:class:`TrainConfig`), a fresh model for (seed, keys), and batched inference.

What a query strategy changes in training reaches the trainer through interfaces this layer owns
and the strategies implement (:mod:`.train`): :class:`~.train.TrainingAdditions` (the default λ of
DISAL's dynamic loss, the checkpoints to keep, an unsupervised term) and
:class:`~.train.AuxiliaryLoss` (TOD's consistency loss).

May import :mod:`altoolkit.util` and :mod:`altoolkit.math` (the dynamic loss); not
:mod:`altoolkit.data`, beside it, nor the strategies or any layer above (tests/test_layers.py
checks the layers).
"""

from ..util.lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, __path__)  # alt.training.<module> imports the module on first access
