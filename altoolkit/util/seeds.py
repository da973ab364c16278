"""Seeds derived from a run's seed, written once for every layer.

Every experiment of the package derives the seeds of its parts (the initial weights, the training
order, a split, a selection) from the run's ``seed`` and a few integer ``keys``, so the same
``(seed, keys)`` gives the same numbers on every run and machine and two parts never share a
stream by accident: ``derive_seed(seed, cycle, 1)`` initialises a cycle's weights,
``derive_seed(seed, cycle, 2)`` seeds its training (see
:func:`altoolkit.training.fresh_model.train_fresh`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["derive_seed", "seeded_permutation"]


def derive_seed(seed: int, *keys: int) -> int:
    """A 31-bit seed derived from ``seed`` and integer ``keys`` (stable across runs and machines).

    >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(0, 2)
    True
    """
    ss = np.random.SeedSequence([int(seed)] + [int(k) for k in keys])
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


def seeded_permutation(n: int, seed: int, *keys: int) -> np.ndarray:
    """A permutation of ``range(n)`` drawn by numpy's ``default_rng(derive_seed(seed, *keys))``:
    the shuffled order behind the seeded splits and subsets of the notebooks.

    >>> seeded_permutation(5, 0, 7).tolist() == seeded_permutation(5, 0, 7).tolist()
    True
    >>> sorted(seeded_permutation(5, 0, 7).tolist())
    [0, 1, 2, 3, 4]
    """
    return np.random.default_rng(derive_seed(seed, *keys)).permutation(n)
