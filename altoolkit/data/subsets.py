"""A CPU-sized pool: a fixed, class-stratified subset of a dataset's train split.

Real image sets are larger than two CPU cores can run an active-learning benchmark on at ten seeds
per strategy (Fashion-MNIST: 60,000 train images; CIFAR-10: 50,000).  The ``real`` profile runs
on a pool of 10,000 of them, drawn once, class by class in the proportions of the full train split,
by a seed of its own (``pool_seed``) so that every run seed and every strategy sees the same pool;
the test split stays whole.  ``load_dataset(name, pool_size=10_000)`` (and
``ALConfig(dataset_options={"pool_size": 10_000})``) applies it.
"""

from __future__ import annotations

import numpy as np

from ..util.checks import check_int
from .datasets import ALDataset
from .imbalance import class_subset

__all__ = ["pool_subset"]


def pool_subset(ds: ALDataset, pool_size: int, pool_seed: int = 0) -> ALDataset:
    """``ds`` with its train split (the pool) cut to ``pool_size`` samples, stratified by class.

    Class ``c`` keeps ``floor(pool_size·n_c/N)`` samples plus one of the remaining seats when its
    fractional part is among the largest (Hamilton's largest-remainder method, ties to the smaller
    class index), drawn at random with ``numpy.random.default_rng(pool_seed)``; the kept samples
    stay in their original order.  The test split is unchanged.

    Args:
        ds: the full dataset.
        pool_size: samples kept in the pool, ``num_classes <= pool_size <= ds.n_train``.
        pool_seed: seeds the draw (independent of a run's seed: every run shares the pool).

    Returns:
        A new :class:`ALDataset` named ``f"{ds.name}[pool={pool_size}]"``, e.g.
        ``"fashion_mnist[pool=10000]"``.

    Examples:
        >>> import altoolkit as alt
        >>> small = pool_subset(alt.load_digits(seed=0), 500)
        >>> small.n_train, small.name, small.n_test
        (500, 'digits[pool=500]', 450)
    """
    if not isinstance(ds, ALDataset):
        raise TypeError(f"ds must be an ALDataset, got {type(ds).__name__}")
    pool_size = check_int("pool_size", pool_size, ds.num_classes, ds.n_train)
    pool_seed = check_int("pool_seed", pool_seed, 0)
    y = ds.y_train.numpy()
    counts = np.bincount(y, minlength=ds.num_classes)
    exact = counts * pool_size / counts.sum()
    seats = np.floor(exact).astype(np.int64)
    rest = pool_size - int(seats.sum())
    seats[np.argsort(-(exact - seats), kind="stable")[:rest]] += 1
    return class_subset(ds, [int(n) for n in seats], pool_seed, f"{ds.name}[pool={pool_size}]")
