"""Class-imbalanced subsets the way DISAL Section 4.3 builds its imbalanced CIFAR-10."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..util.checks import check_float
from .datasets import ALDataset, _check_int, _plain_number


# --------------------------------------------------------------------------- imbalance


def imbalanced_counts(max_per_class: int, imbalance_ratio: float, num_classes: int) -> list[int]:
    """Samples kept per class rank in DISAL's imbalanced recipe (Section 4.3).

    The counts are linearly spaced from ``max_per_class / imbalance_ratio`` (rank 0, the
    rarest class) to ``max_per_class`` (the last rank), rounded half up:
    ``n_r = max/IR + (max - max/IR) * r / (C - 1)``.  CIFAR-10 with IR 10 and 5,000 per class
    gives airplane 500, automobile 1,000, ..., truck 5,000, the paper's numbers.
    """
    max_per_class = _check_int("max_per_class", max_per_class, minimum=1)
    ratio = check_float("imbalance_ratio", _plain_number(imbalance_ratio), minimum=1.0)
    num_classes = _check_int("num_classes", num_classes, minimum=2)
    low = max_per_class / ratio
    counts = [int(math.floor(low + (max_per_class - low) * r / (num_classes - 1) + 0.5)) for r in range(num_classes)]
    if counts[0] < 1:
        raise ValueError(
            f"imbalance_ratio {ratio:g} with max_per_class {max_per_class} leaves the rarest "
            f"class {low:.3g} samples; lower imbalance_ratio or raise max_per_class so that "
            "max_per_class / imbalance_ratio >= 0.5"
        )
    return counts


def imbalanced_subset(
    ds: ALDataset,
    imbalance_ratio: float,
    max_per_class: int | None = None,
    seed: int = 0,
    order: Sequence[int | str] | None = None,
) -> ALDataset:
    """A class-imbalanced copy of ``ds``'s train split, as DISAL Section 4.3 builds its
    imbalanced CIFAR-10 (IR = 10: airplane 500, automobile 1,000, ..., truck 5,000).

    The class of rank ``r`` in ``order`` keeps ``imbalanced_counts(max_per_class,
    imbalance_ratio, C)[r]`` of its train samples, drawn at random (fixed by ``seed``) and kept
    in their original order.  The test split is left untouched.

    Args:
        ds: the (balanced) dataset.
        imbalance_ratio: ``IR = n_max / n_min``, at least 1 (1 = balanced at ``max_per_class``).
        max_per_class: samples kept by the most frequent class; default: the size of the
            smallest train class (5,000 for CIFAR-10).
        seed: which samples are kept.
        order: classes (indices or names) from rarest to most frequent; default ``0..C-1``
            (the paper's order: airplane, automobile, ..., truck).

    Returns:
        A new :class:`ALDataset` named ``f"{ds.name}_ir{IR:g}"``, e.g. ``"cifar10_ir10"``.

    Examples:
        >>> import altoolkit as alt
        >>> ds = alt.imbalanced_subset(alt.load_digits(seed=0), 10, max_per_class=50)
        >>> ds.name, int(ds.class_counts().max()), int(ds.class_counts().min())
        ('digits_ir10', 50, 5)
    """
    if not isinstance(ds, ALDataset):
        raise TypeError(f"ds must be an ALDataset, got {type(ds).__name__}")
    ratio = check_float("imbalance_ratio", _plain_number(imbalance_ratio), minimum=1.0)
    seed = _check_int("seed", seed, minimum=0)
    available = ds.class_counts("train")
    c = ds.num_classes
    if max_per_class is None:
        max_per_class = int(available.min())
        if max_per_class < 1:
            empty = [ds.class_names[k] for k in np.flatnonzero(available == 0)]
            raise ValueError(
                f"class(es) {empty} have no train samples; an imbalanced subset keeps samples "
                "of every class, so each class needs at least max_per_class / imbalance_ratio"
            )
    max_per_class = _check_int("max_per_class", max_per_class, minimum=1)
    if order is None:
        ranked = list(range(c))
    else:
        ranked = []
        for item in order:
            if isinstance(item, str):
                if item not in ds.class_names:
                    raise ValueError(f"order names class {item!r}, which is not one of {ds.class_names}")
                ranked.append(ds.class_names.index(item))
            else:
                ranked.append(_check_int("order entries", item, minimum=0, maximum=c - 1))
        if sorted(ranked) != list(range(c)):
            raise ValueError(f"order must list every one of the {c} classes exactly once (rarest first), got {list(order)}")
    counts = imbalanced_counts(max_per_class, ratio, c)
    keep_per_class = {cls: counts[r] for r, cls in enumerate(ranked)}
    short = [f"{ds.class_names[k]} (needs {keep_per_class[k]}, has {int(available[k])})" for k in range(c) if keep_per_class[k] > available[k]]
    if short:
        raise ValueError(
            f"imbalance_ratio {ratio:g} with max_per_class {max_per_class} asks for more "
            f"samples than some classes have: {', '.join(short)}; lower max_per_class"
        )
    return class_subset(ds, [keep_per_class[k] for k in range(c)], seed, f"{ds.name}_ir{ratio:g}")


def class_subset(ds: ALDataset, per_class: list[int], seed: int, name: str) -> ALDataset:
    """``ds`` with a train split of ``per_class[c]`` samples of each class ``c``, drawn without
    replacement by ``numpy.random.default_rng(seed)`` class by class (classes with 0 seats draw
    nothing) and kept in their original order; the test split is unchanged.  The imbalanced
    subsets and the CPU-sized pools (:mod:`altoolkit.data.subsets`) both cut the pool this way."""
    rng = np.random.default_rng(seed)
    y = ds.y_train.numpy()
    kept = [rng.choice(np.flatnonzero(y == k), n, replace=False) for k, n in enumerate(per_class) if n]
    idx = torch.from_numpy(np.sort(np.concatenate(kept)))
    return ALDataset(
        name=name,
        x_train=ds.x_train[idx].clone(),
        y_train=ds.y_train[idx].clone(),
        x_test=ds.x_test,
        y_test=ds.y_test,
        num_classes=ds.num_classes,
        class_names=list(ds.class_names),
        mean=ds.mean,
        std=ds.std,
    )
