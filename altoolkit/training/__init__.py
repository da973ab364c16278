"""The training layer: model architectures and the model registry, training and evaluation
(:class:`TrainConfig`), a fresh model for (seed, keys), and batched inference.

May import :mod:`altoolkit.util`, :mod:`altoolkit.math` (the dynamic loss), :mod:`altoolkit.data`
and, lazily, the strategy names (the default-λ rule); tests/test_layers.py checks the layers.
"""
