"""ALDataset, the data errors, from_arrays, load_digits and stratified_split: the one interface
every loader returns (see :mod:`altoolkit.data` for the sources)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..util.checks import check_bool, check_fraction, check_int


def _check_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """:func:`check_int` that also takes numpy/torch integer scalars (e.g. ``counts.min()``)."""
    if isinstance(value, (np.integer, torch.Tensor)) and not isinstance(value, bool):
        if isinstance(value, torch.Tensor) and (value.numel() != 1 or value.is_floating_point()):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    return check_int(name, value, minimum, maximum)


def _plain_number(value):
    """numpy scalars as Python numbers, so that the checks accept them."""
    return value.item() if isinstance(value, np.generic) else value


def label_as_given(value) -> str:
    """A label value as the user wrote it: an integer exactly (``9223372036854775813`` for a
    uint64 ``2**63 + 5``), a float as Python prints it (``1e+20``), never a wrapped int64."""
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return str(int(v)) if math.isfinite(v) and v.is_integer() and abs(v) < 2**53 else repr(v)
    return str(int(value))


def label_extremes(name: str, y: torch.Tensor) -> tuple[str, str] | None:
    """``(min, max)`` of the labels ``y`` as given (:func:`label_as_given`), before any conversion
    to int64; ``None`` when ``y`` is empty.  Float labels must be finite whole numbers and integer
    labels must fit int64 (a uint64 above 2**63 - 1 would wrap to a negative number)."""
    if y.numel() == 0:
        return None
    if y.is_complex():
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    arr = y.detach().cpu().numpy()
    lo, hi = arr.min(), arr.max()
    if y.is_floating_point():
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels, got non-integer values")
    if int(hi) > 2**62 or (y.is_floating_point() and float(hi) >= 2**53):
        raise ValueError(f"{name} holds label {label_as_given(hi)}: labels must be in 0..num_classes-1")
    if int(lo) < -(2**62) or (y.is_floating_point() and float(lo) <= -(2**53)):
        raise ValueError(f"{name} holds label {label_as_given(lo)}: labels must be in 0..num_classes-1")
    return label_as_given(lo), label_as_given(hi)


def check_inputs(name: str, x: torch.Tensor) -> None:
    """Stored inputs: real numbers (a complex tensor would lose its imaginary part in
    ``to_input``), at least one value per sample, finite when floating point."""
    if x.is_complex():
        raise TypeError(f"{name} holds complex values ({x.dtype}); give real numbers (the imaginary part would be dropped)")
    if x.dim() >= 2 and math.prod(x.shape[1:]) == 0:
        raise ValueError(f"{name} has samples of shape {tuple(x.shape[1:])}, with no values; each sample needs at least one feature")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


def _check_root(root) -> Path:
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (str or pathlib.Path), got {root!r}")
    return Path(root).expanduser()


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not under ``root`` (and were not, or could not be, downloaded).

    Attributes: ``dataset`` (its name), ``folder`` (where it looked), ``missing`` (what it
    did not find).

    Examples:
        >>> import tempfile, altoolkit as alt
        >>> try:
        ...     alt.load_dataset("mnist", root=tempfile.mkdtemp())
        ... except alt.DatasetNotFoundError as exc:
        ...     print(exc.dataset, isinstance(exc, FileNotFoundError))
        mnist True
    """

    def __init__(self, message: str, dataset: str, folder: Path, missing: Sequence[str] = ()):
        super().__init__(message)
        self.dataset = dataset
        self.folder = Path(folder)
        self.missing = tuple(missing)

    def __str__(self) -> str:  # FileNotFoundError would print "(errno) None" otherwise
        return str(self.args[0])


class CorruptDatasetError(RuntimeError):
    """A dataset file exists but cannot be read (truncated, damaged, wrong format).

    Attributes: ``dataset`` (its name) and ``path`` (the offending file).

    Examples:
        >>> import altoolkit as alt
        >>> err = alt.CorruptDatasetError("data_batch_1 is truncated", "cifar10")
        >>> isinstance(err, RuntimeError), err.dataset
        (True, 'cifar10')
    """

    def __init__(self, message: str, dataset: str, path: Path | None = None):
        super().__init__(message)
        self.dataset = dataset
        self.path = Path(path) if path is not None else None


#: ``num_classes`` (given or inferred as ``max(y) + 1``) may be at most
#: ``max(MAX_CLASSES_FLOOR, number of samples)``: a stray label such as 10**9 is refused before
#: anything of that size is allocated.
MAX_CLASSES_FLOOR = 1000


def max_classes(n_samples: int) -> int:
    """The largest ``num_classes`` accepted for ``n_samples`` samples (train + test)."""
    return max(MAX_CLASSES_FLOOR, int(n_samples))


class PoolDataset:
    """What the datasets of every task share (:class:`ALDataset` for classification,
    :class:`~altoolkit.data.segmentation.SegmentationDataset` for segmentation): a pool
    ``x_train`` with its oracle labels ``y_train``, a test split, ``num_classes``, and the
    conversion of stored batches to model input (:meth:`to_input`).  What a label is belongs to
    the subclass (a class index, a mask, boxes).
    """

    name: str
    x_train: torch.Tensor
    x_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    class_names: list[str]

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

    def _check_image_fields(self) -> None:
        """What the image tasks' datasets (segmentation, detection) check alike once their labels
        are: the splits' image shapes agree, the pool is not empty, one name per class (defaults
        0..C-1), ``mean``/``std`` given together with one value per channel."""
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(f"x_train images have shape {tuple(self.x_train.shape[1:])} but x_test {tuple(self.x_test.shape[1:])}; they must match")
        if self.x_train.shape[0] == 0:
            raise ValueError("x_train is empty; the pool needs at least one image")
        names: list[str] = [str(c) for c in getattr(self, "class_names", [])] or [str(c) for c in range(self.num_classes)]
        if len(names) != self.num_classes:
            raise ValueError(f"class_names has {len(names)} names for {self.num_classes} classes")
        self.class_names = names
        if (self.mean is None) != (self.std is None):
            raise ValueError("mean and std must be given together (or both left as None)")
        if self.mean is not None and self.std is not None:
            self.mean, self.std = tuple(float(m) for m in self.mean), tuple(float(s) for s in self.std)
            if len(self.mean) != self.x_train.shape[1] or len(self.std) != self.x_train.shape[1]:
                raise ValueError(f"mean and std need one value per channel ({self.x_train.shape[1]})")

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


@dataclass
class ALDataset(PoolDataset):
    """A labeled pool (``train``) and a held-out ``test`` split.

    Attributes:
        name: short name, e.g. ``"digits"``.
        x_train, y_train: the pool the active learner draws from (``y_train`` is the oracle).
        x_test, y_test: held-out evaluation data.
        num_classes: number of classes ``C``; labels are ``0..C-1``.
        class_names: one readable name per class.
        mean, std: per-channel normalisation applied by :meth:`to_input` to ``uint8`` images
            (one value per entry of axis 1 of ``x``).

    Examples:
        >>> import torch, altoolkit as alt
        >>> ds = alt.ALDataset("toy", torch.rand(6, 2), torch.tensor([0, 1] * 3), torch.rand(2, 2), torch.tensor([0, 1]), 2)
        >>> ds.input_shape, ds.n_train, ds.class_counts().tolist()
        ((2,), 6, [3, 3])
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
            if x.dim() < 2:
                raise ValueError(f"x_{split} must have a sample axis and at least one feature axis, got shape {tuple(x.shape)}")
            if y.dim() != 1:
                raise ValueError(f"y_{split} must be 1-D, got shape {tuple(y.shape)}")
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"x_{split} has {x.shape[0]} samples but y_{split} has {y.shape[0]}; they must have the same length")
            check_inputs(f"x_{split}", x)
            label_extremes(f"y_{split}", y)  # refuses what int64 would change (1e20, 2**63 + 5, 0.5)
            if y.dtype != torch.int64:
                setattr(self, f"y_{split}", y.long())
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"x_train samples have shape {tuple(self.x_train.shape[1:])} but x_test samples have shape {tuple(self.x_test.shape[1:])}; they must match"
            )
        self.num_classes = _check_int("num_classes", self.num_classes)
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        limit = max_classes(int(self.y_train.shape[0]) + int(self.y_test.shape[0]))
        if self.num_classes > limit:
            raise ValueError(
                f"num_classes is {self.num_classes}, more than the limit {limit} for "
                f"{self.y_train.shape[0] + self.y_test.shape[0]} samples (max({MAX_CLASSES_FLOOR}, "
                "number of samples)); a label range far beyond the data is almost always a stray label"
            )
        if self.y_train.shape[0] == 0:
            raise ValueError("y_train is empty; the pool needs at least one sample")
        for split in ("train", "test"):
            y = getattr(self, f"y_{split}")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
                raise ValueError(f"y_{split} holds label {bad}, outside 0..{self.num_classes - 1} (min {int(y.min())}, max {int(y.max())})")
        if not self.class_names:
            self.class_names = [str(c) for c in range(self.num_classes)]
        self.class_names = [str(c) for c in self.class_names]
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"class_names has {len(self.class_names)} names for {self.num_classes} classes")
        if (self.mean is None) != (self.std is None):
            raise ValueError("mean and std must be given together (or both left as None)")
        if self.mean is not None:
            channels = int(self.x_train.shape[1])
            self.mean = tuple(float(m) for m in self.mean)
            self.std = tuple(float(s) for s in self.std)
            for label, values in (("mean", self.mean), ("std", self.std)):
                if len(values) != channels:
                    raise ValueError(f"{label} has {len(values)} values but the inputs have {channels} channels (axis 1); give one value per channel")
                if not all(math.isfinite(v) for v in values):
                    raise ValueError(f"{label} must be finite, got {values}")
            if any(s <= 0 for s in self.std):
                raise ValueError(f"std must be positive, got {self.std}")

    def class_counts(self, split: str = "train") -> np.ndarray:
        """Number of samples per class in ``split`` (``"train"`` or ``"test"``)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        y = getattr(self, f"y_{split}")
        return np.bincount(y.numpy(), minlength=self.num_classes)

    def __repr__(self) -> str:
        return f"ALDataset(name={self.name!r}, train={self.n_train}, test={self.n_test}, num_classes={self.num_classes}, input_shape={self.input_shape})"


# --------------------------------------------------------------------------- splits


def stratified_split(labels, test_fraction: float, seed: int = 0, class_names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into train and test, class by class, fixed by ``seed``.

    Class ``c`` with ``n_c`` samples sends ``round(test_fraction * n_c)`` of them (at least 1,
    at most ``n_c - 1``) to the test split, picked at random; so every class appears in both
    splits in (nearly) the same proportion.  Returns sorted ``(train_idx, test_idx)``.
    ``class_names`` (one per label, as errors should print them) name a class in errors (an
    image folder's sub-folder).
    """
    test_fraction = check_fraction("test_fraction", test_fraction)
    seed = _check_int("seed", seed, minimum=0)
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if idx.size < 2:
            label = f"class {class_names[int(c)]}" if class_names is not None else f"class {c}"
            raise ValueError(f"{label} has {idx.size} sample; a stratified train/test split needs at least 2 samples per class")
        n_test = min(max(int(math.floor(test_fraction * idx.size + 0.5)), 1), idx.size - 1)
        idx = rng.permutation(idx)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


# --------------------------------------------------------------------------- digits


def load_digits(seed: int = 0, test_fraction: float = 0.25, flat: bool = False) -> ALDataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), embedded, no download.

    The train/test split is stratified and fixed by ``seed``.  Pixels (0..16) are scaled to
    [0, 1] and standardised with the train split's global mean and std.

    Args:
        seed: seed of the stratified split.
        test_fraction: share of the images held out for testing, in (0, 1).
        flat: return ``(N, 64)`` vectors instead of ``(N, 1, 8, 8)`` images.

    Examples:
        >>> import altoolkit as alt
        >>> alt.load_digits(seed=0).input_shape, alt.load_digits(seed=0, flat=True).input_shape
        ((1, 8, 8), (64,))
    """
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    seed = _check_int("seed", seed, minimum=0)
    test_fraction = check_fraction("test_fraction", test_fraction)
    flat = check_bool("flat", flat)
    bunch = _sk_load_digits()
    x = bunch.data.astype(np.float32) / 16.0
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
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


# --------------------------------------------------------------------------- user arrays


def display_image(dataset: ALDataset, idx: int) -> np.ndarray:
    """One stored training sample as an image array for imshow (H, W) or (H, W, 3), scaled to [0, 1]."""
    x = dataset.x_train[idx]
    img = x.float().numpy()
    if img.ndim == 1:
        side = int(round(img.size**0.5))
        img = img.reshape(side, side) if side * side == img.size else img.reshape(1, -1)
    elif img.ndim == 3:
        img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def _as_tensor(name: str, a) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu()
    try:
        arr = np.asarray(a)
    except Exception as exc:  # pragma: no cover - numpy raises many kinds
        raise TypeError(f"{name} must be an array or tensor, got {type(a).__name__}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array or tensor, got dtype {arr.dtype}")
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

    ``x`` may be ``(N, D)`` vectors or ``(N, C, H, W)`` images, float or ``uint8`` (both splits
    the same kind); ``y`` holds integer labels ``0..num_classes-1`` (``num_classes`` defaults
    to ``max(y) + 1``).  ``num_classes`` may be at most ``max(1000, number of samples)``
    (:func:`max_classes`): a stray label such as 10**9 is refused, naming it, before anything
    is allocated.  The test split must not be empty.  ``mean``/``std`` (one value per channel) normalise ``uint8`` images
    in :meth:`ALDataset.to_input`; float inputs are used as they are.

    Examples:
        >>> import numpy as np, altoolkit as alt
        >>> rng = np.random.default_rng(0)
        >>> alt.from_arrays(rng.normal(size=(40, 5)), np.arange(40) % 2, rng.normal(size=(10, 5)), np.arange(10) % 2, name="toy")
        ALDataset(name='toy', train=40, test=10, num_classes=2, input_shape=(5,))
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    xs = {k: _as_tensor(k, v) for k, v in (("x_train", x_train), ("x_test", x_test))}
    ys = {k: _as_tensor(k, v) for k, v in (("y_train", y_train), ("y_test", y_test))}
    for k, y in ys.items():
        if y.dim() != 1:
            raise ValueError(f"{k} must be a 1-D array of integer labels, got shape {tuple(y.shape)}")
        label_extremes(k, y)  # before int64 conversion: 1e20 and 2**63 + 5 are named as given
        if y.is_floating_point():
            if not torch.isfinite(y).all():
                raise ValueError(f"{k} contains NaN or infinite values")
            if not torch.all(y == y.round()):
                raise ValueError(f"{k} must hold integer class labels, got non-integer values")
        ys[k] = y.long()
    for k, x in xs.items():
        if x.dim() < 2:
            raise ValueError(f"{k} must have a sample axis and at least one feature axis, got shape {tuple(x.shape)}")
        check_inputs(k, x)
        if x.dtype not in (torch.uint8, torch.float32):
            xs[k] = x.float()
    for k in ("x_train", "x_test"):
        y = ys["y" + k[1:]]
        if xs[k].shape[0] != y.shape[0]:
            raise ValueError(f"{k} has {xs[k].shape[0]} samples but y{k[1:]} has {y.shape[0]} labels; they must have the same length")
    if xs["x_train"].shape[0] == 0:
        raise ValueError("x_train is empty; the pool needs at least one sample")
    if xs["x_train"].dtype != xs["x_test"].dtype:
        raise ValueError(f"x_train is {xs['x_train'].dtype} but x_test is {xs['x_test'].dtype}; give both as uint8 images or both as float arrays")
    if (mean is not None or std is not None) and xs["x_train"].dtype != torch.uint8:
        raise ValueError(
            "mean/std only apply to uint8 images (to_input scales them to [0, 1] and then "
            "normalises); float inputs are used as they are, so normalise them yourself"
        )
    labels = torch.cat([ys["y_train"], ys["y_test"]])
    limit = max_classes(labels.numel())
    if labels.numel():
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0:
            raise ValueError(f"found label {lo}: labels outside 0..num_classes-1 (labels must be >= 0)")
    if num_classes is None:
        if labels.numel() and hi + 1 > limit:
            raise ValueError(
                f"label {hi} would make {hi + 1} classes (num_classes = max(y) + 1), more than the "
                f"limit {limit} = max({MAX_CLASSES_FLOOR}, number of samples); fix the stray label "
                "or pass num_classes"
            )
        num_classes = (hi + 1) if labels.numel() else 2
    else:
        num_classes = _check_int("num_classes", num_classes, minimum=2)
        if num_classes > limit:
            raise ValueError(f"num_classes is {num_classes}, more than the limit {limit} = max({MAX_CLASSES_FLOOR}, number of samples)")
        if labels.numel() and hi >= num_classes:
            raise ValueError(f"found label {hi}: labels outside 0..{num_classes - 1} (num_classes={num_classes})")
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
