"""Datasets behind one small interface.

Every loader returns an :class:`ALDataset`: the train split (the active-learning pool), the
test split, the number of classes and the input shape.  Inputs are stored as tensors so that a
whole pool can be scored in batches without a DataLoader; image datasets are kept as ``uint8``
and turned into normalised ``float32`` batch by batch by :meth:`ALDataset.to_input`, so a pool
of 50,000 CIFAR images costs 150 MB, not 600 MB.

The embedded default is scikit-learn's ``load_digits`` (1,797 8x8 images, ships with
scikit-learn, no download).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

__all__ = ["ALDataset", "load_digits", "from_arrays", "load_dataset", "DATASETS"]


@dataclass
class ALDataset:
    """A labeled pool (``train``) and a held-out ``test`` split.

    Attributes:
        name: short name, e.g. ``"digits"``.
        x_train, y_train: the pool the active learner draws from (``y_train`` is the oracle).
        x_test, y_test: held-out evaluation data.
        num_classes: number of classes ``C``; labels are ``0..C-1``.
        class_names: one readable name per class.
        mean, std: per-channel normalisation applied by :meth:`to_input` to ``uint8`` images.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise TypeError(f"x_{split} and y_{split} must be torch tensors")
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"x_{split} has {x.shape[0]} samples but y_{split} has {y.shape[0]}; "
                    "they must have the same length"
                )
            if y.dtype != torch.int64:
                setattr(self, f"y_{split}", y.long())
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"x_train samples have shape {tuple(self.x_train.shape[1:])} but x_test samples "
                f"have shape {tuple(self.x_test.shape[1:])}; they must match"
            )
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        for split in ("train", "test"):
            y = getattr(self, f"y_{split}")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(
                    f"y_{split} holds labels outside 0..{self.num_classes - 1} "
                    f"(min {int(y.min())}, max {int(y.max())})"
                )
        if not self.class_names:
            self.class_names = [str(c) for c in range(self.num_classes)]
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"class_names has {len(self.class_names)} names for {self.num_classes} classes"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(1, 8, 8)`` for digits or ``(3, 32, 32)`` for CIFAR."""
        return tuple(self.x_train.shape[1:])

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    def to_input(self, x: torch.Tensor) -> torch.Tensor:
        """Turn a stored batch into model input: ``uint8`` images are scaled to [0, 1] and
        normalised with ``mean``/``std``; float batches are returned as they are."""
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
            if self.mean is not None and self.std is not None:
                shape = (1, -1) + (1,) * (x.dim() - 2)
                mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
                std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
                x = (x - mean) / std
            return x
        return x.float() if x.dtype != torch.float32 else x

    def class_counts(self, split: str = "train") -> np.ndarray:
        """Number of samples per class in ``split`` (``"train"`` or ``"test"``)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        y = getattr(self, f"y_{split}")
        return np.bincount(y.numpy(), minlength=self.num_classes)

    def __repr__(self) -> str:
        return (
            f"ALDataset(name={self.name!r}, train={self.n_train}, test={self.n_test}, "
            f"num_classes={self.num_classes}, input_shape={self.input_shape})"
        )


def _check_fraction(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 < float(value) < 1.0):
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")


def load_digits(seed: int = 0, test_fraction: float = 0.25, flat: bool = False) -> ALDataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), embedded, no download.

    The train/test split is stratified and fixed by ``seed``.  Pixels (0..16) are scaled to
    [0, 1] and standardised with the train split's global mean and std.

    Args:
        seed: seed of the stratified split.
        test_fraction: share of the images held out for testing, in (0, 1).
        flat: return ``(N, 64)`` vectors instead of ``(N, 1, 8, 8)`` images.
    """
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    _check_fraction("test_fraction", test_fraction)
    bunch = _sk_load_digits()
    x = bunch.data.astype(np.float32) / 16.0
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    mu, sd = float(x_tr.mean()), float(x_tr.std())
    x_tr = (x_tr - mu) / sd
    x_te = (x_te - mu) / sd
    shape = (-1, 64) if flat else (-1, 1, 8, 8)
    return ALDataset(
        name="digits",
        x_train=torch.from_numpy(x_tr).reshape(shape).contiguous(),
        y_train=torch.from_numpy(y_tr),
        x_test=torch.from_numpy(x_te).reshape(shape).contiguous(),
        y_test=torch.from_numpy(y_te),
        num_classes=10,
        class_names=[str(d) for d in range(10)],
    )


def _as_tensor(name: str, a) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu()
    try:
        arr = np.asarray(a)
    except Exception as exc:  # pragma: no cover - numpy raises many kinds
        raise TypeError(f"{name} must be an array or tensor, got {type(a).__name__}") from exc
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array or tensor, got an object array")
    return torch.from_numpy(np.ascontiguousarray(arr))


def from_arrays(
    x_train,
    y_train,
    x_test,
    y_test,
    num_classes: int | None = None,
    name: str = "arrays",
    class_names: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> ALDataset:
    """Wrap user data (numpy arrays or tensors) as an :class:`ALDataset`.

    ``x`` may be ``(N, D)`` vectors or ``(N, C, H, W)`` images, float or ``uint8``; ``y`` holds
    integer labels ``0..num_classes-1`` (``num_classes`` defaults to ``max(y) + 1``).
    """
    xs = {k: _as_tensor(k, v) for k, v in (("x_train", x_train), ("x_test", x_test))}
    ys = {k: _as_tensor(k, v) for k, v in (("y_train", y_train), ("y_test", y_test))}
    for k, y in ys.items():
        if y.dim() != 1:
            raise ValueError(f"{k} must be a 1-D array of integer labels, got shape {tuple(y.shape)}")
        if y.is_floating_point():
            if not torch.all(y == y.round()):
                raise ValueError(f"{k} must hold integer class labels, got non-integer values")
        ys[k] = y.long()
    for k, x in xs.items():
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise ValueError(f"{k} contains NaN or infinite values")
        if x.dim() < 2:
            raise ValueError(f"{k} must have a sample axis and at least one feature axis")
        if x.dtype not in (torch.uint8, torch.float32):
            xs[k] = x.float()
    if num_classes is None:
        num_classes = int(max(ys["y_train"].max(), ys["y_test"].max())) + 1
    return ALDataset(
        name=name,
        x_train=xs["x_train"],
        y_train=ys["y_train"],
        x_test=xs["x_test"],
        y_test=ys["y_test"],
        num_classes=int(num_classes),
        class_names=list(class_names) if class_names else [],
        mean=tuple(mean) if mean is not None else None,
        std=tuple(std) if std is not None else None,
    )


#: Names accepted by :func:`load_dataset`.
DATASETS: tuple[str, ...] = ("digits",)


def load_dataset(name: str, seed: int = 0, **kwargs) -> ALDataset:
    """Load a dataset by name (see :data:`DATASETS`)."""
    if name == "digits":
        return load_digits(seed=seed, **kwargs)
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r}")
