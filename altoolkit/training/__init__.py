"""The training layer: model architectures and the model registry, training and evaluation
(:class:`TrainConfig`), a fresh model for (seed, keys), and batched inference.

May import :mod:`altoolkit.util`, :mod:`altoolkit.math` (the dynamic loss) and :mod:`altoolkit.data`.
"""
