"""Seeds derived from a run's seed, and the seeded splits built on them, written once for every layer.

Every experiment of the package derives the seeds of its parts (the initial weights, the training
order, a split, a selection) from the run's ``seed`` and a few integer ``keys``, so the same
``(seed, keys)`` gives the same numbers on every run and machine and two parts never share a
stream by accident: ``derive_seed(seed, cycle, 1)`` initialises a cycle's weights,
``derive_seed(seed, cycle, 2)`` seeds its training (see
:func:`altoolkit.training.fresh_model.train_fresh`).  :func:`seeded_split` cuts a pool in two
(the labeled and the unlabeled samples, the held-out and the rest), :func:`labeled_subset` by a
share of the pool.
"""

from __future__ import annotations

import numpy as np
import torch

from .checks import check_fraction, check_int

__all__ = ["derive_seed", "seeded_split", "labeled_subset"]


def derive_seed(seed: int, *keys: int) -> int:
    """A 31-bit seed derived from ``seed`` and integer ``keys`` (stable across runs and machines).

    >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(0, 2)
    True
    """
    ss = np.random.SeedSequence([int(seed)] + [int(k) for k in keys])
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


def seeded_split(n: int, k: int, seed: int, *keys: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``range(n)`` cut in two at random: the first ``k`` of a permutation drawn by numpy's
    ``default_rng(derive_seed(seed, *keys))`` and the other ``n - k``, each sorted.

    >>> a, b = seeded_split(6, 2, 0, 7)
    >>> len(a), len(b), sorted(a.tolist() + b.tolist()), torch.equal(a, seeded_split(6, 2, 0, 7)[0])
    (2, 4, [0, 1, 2, 3, 4, 5], True)
    """
    n = check_int("n", n, 0)
    k = check_int("k", k, 0, n)
    perm = np.random.default_rng(derive_seed(seed, *keys)).permutation(n)
    return torch.from_numpy(np.sort(perm[:k])), torch.from_numpy(np.sort(perm[k:]))


def labeled_subset(n_pool: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random labeled subset of ``fraction`` of the pool (at least one sample) and the
    unlabeled rest, both sorted (:func:`seeded_split` with the key ``0xA1``).

    >>> lab, unl = labeled_subset(100, 0.1, seed=0)
    >>> len(lab), len(unl)
    (10, 90)
    """
    check_fraction("labeled_fraction", fraction)
    k = max(1, int(round(fraction * n_pool)))
    return seeded_split(n_pool, k, seed, 0xA1)
