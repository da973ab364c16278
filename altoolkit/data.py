"""Datasets behind one small interface.

Every loader returns an :class:`ALDataset`: the train split (the active-learning pool), the
test split, the number of classes and the input shape.  Inputs are stored as tensors so that a
whole pool can be scored in batches without a DataLoader; image datasets are kept as ``uint8``
``(N, C, H, W)`` and turned into normalised ``float32`` batch by batch by
:meth:`ALDataset.to_input`, so a pool of 50,000 CIFAR images costs 150 MB, not 600 MB.

Sources:

* ``digits``: scikit-learn's ``load_digits`` (1,797 8x8 images), embedded, no download.
* ``cifar10``, ``cifar100``, ``svhn``, ``mnist``, ``fashion_mnist``, ``caltech101``: read
  through :mod:`torchvision.datasets` from ``root``; ``download=True`` fetches them (needs
  internet).  Offline, a missing dataset raises :class:`DatasetNotFoundError`, which says where
  it looked and how to get the files; a damaged file raises :class:`CorruptDatasetError`,
  which names the file.
* ``image_folder``: your own images, one sub-folder per class (:func:`from_image_folder`).
* numpy arrays or tensors: :func:`from_arrays`.

Any of them can be made class-imbalanced the way DISAL Section 4.3 builds its imbalanced
CIFAR-10 (:func:`imbalanced_subset`, or ``load_dataset("cifar10_ir10", ...)``).
"""

from __future__ import annotations

import inspect
import math
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from .progress import tqdm

from .plugins import Registry
from .validation import check_bool, check_float, check_fraction, check_int

__all__ = [
    "ALDataset",
    "CorruptDatasetError",
    "DATASETS",
    "DATASET_REGISTRY",
    "DatasetNotFoundError",
    "DEFAULT_ROOT",
    "from_arrays",
    "from_image_folder",
    "imbalanced_counts",
    "imbalanced_subset",
    "load_caltech101",
    "load_cifar10",
    "load_cifar100",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_svhn",
    "dataset_names",
    "register_dataset",
    "stratified_split",
]

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


#: Folder that the torchvision loaders read from when no ``root`` is given.
DEFAULT_ROOT = "data"

# Per-channel mean and std of the train split in [0, 1] (the usual published values).
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
SVHN_MEAN, SVHN_STD = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MNIST_MEAN, FASHION_MNIST_STD = (0.2860,), (0.3530,)
# Caltech101 is used at 224x224 with ResNet-18, the ImageNet recipe: ImageNet statistics.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


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


@dataclass
class ALDataset:
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
                raise ValueError(
                    f"x_{split} must have a sample axis and at least one feature axis, "
                    f"got shape {tuple(x.shape)}"
                )
            if y.dim() != 1:
                raise ValueError(f"y_{split} must be 1-D, got shape {tuple(y.shape)}")
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
                raise ValueError(
                    f"y_{split} holds label {bad}, outside 0..{self.num_classes - 1} "
                    f"(min {int(y.min())}, max {int(y.max())})"
                )
        if not self.class_names:
            self.class_names = [str(c) for c in range(self.num_classes)]
        self.class_names = [str(c) for c in self.class_names]
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"class_names has {len(self.class_names)} names for {self.num_classes} classes"
            )
        if (self.mean is None) != (self.std is None):
            raise ValueError("mean and std must be given together (or both left as None)")
        if self.mean is not None:
            channels = int(self.x_train.shape[1])
            self.mean = tuple(float(m) for m in self.mean)
            self.std = tuple(float(s) for s in self.std)
            for label, values in (("mean", self.mean), ("std", self.std)):
                if len(values) != channels:
                    raise ValueError(
                        f"{label} has {len(values)} values but the inputs have {channels} "
                        "channels (axis 1); give one value per channel"
                    )
                if not all(math.isfinite(v) for v in values):
                    raise ValueError(f"{label} must be finite, got {values}")
            if any(s <= 0 for s in self.std):
                raise ValueError(f"std must be positive, got {self.std}")

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


# --------------------------------------------------------------------------- splits


def stratified_split(
    labels, test_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into train and test, class by class, fixed by ``seed``.

    Class ``c`` with ``n_c`` samples sends ``round(test_fraction * n_c)`` of them (at least 1,
    at most ``n_c - 1``) to the test split, picked at random; so every class appears in both
    splits in (nearly) the same proportion.  Returns sorted ``(train_idx, test_idx)``.
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
            raise ValueError(
                f"class {c} has {idx.size} sample; a stratified train/test split needs at "
                "least 2 samples per class"
            )
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


# --------------------------------------------------------------------------- user arrays


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
        if y.is_floating_point():
            if not torch.isfinite(y).all():
                raise ValueError(f"{k} contains NaN or infinite values")
            if not torch.all(y == y.round()):
                raise ValueError(f"{k} must hold integer class labels, got non-integer values")
        ys[k] = y.long()
    for k, x in xs.items():
        if x.dim() < 2:
            raise ValueError(
                f"{k} must have a sample axis and at least one feature axis, got shape "
                f"{tuple(x.shape)}"
            )
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise ValueError(f"{k} contains NaN or infinite values")
        if x.dtype not in (torch.uint8, torch.float32):
            xs[k] = x.float()
    for k in ("x_train", "x_test"):
        y = ys["y" + k[1:]]
        if xs[k].shape[0] != y.shape[0]:
            raise ValueError(
                f"{k} has {xs[k].shape[0]} samples but y{k[1:]} has {y.shape[0]} labels; "
                "they must have the same length"
            )
    if xs["x_train"].shape[0] == 0:
        raise ValueError("x_train is empty; the pool needs at least one sample")
    if xs["x_train"].dtype != xs["x_test"].dtype:
        raise ValueError(
            f"x_train is {xs['x_train'].dtype} but x_test is {xs['x_test'].dtype}; give both "
            "as uint8 images or both as float arrays"
        )
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
            raise ValueError(
                f"num_classes is {num_classes}, more than the limit {limit} = "
                f"max({MAX_CLASSES_FLOOR}, number of samples)"
            )
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


# --------------------------------------------------------------------------- torchvision


def _check_root(root) -> Path:
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (str or pathlib.Path), got {root!r}")
    return Path(root).expanduser()


@dataclass(frozen=True)
class _Source:
    """Where a torchvision dataset keeps its files and how a user gets them."""

    key: str  # name in DATASETS
    title: str  # human name
    subdir: str  # folder under root holding the files ("" = root itself)
    files: tuple[str, ...]  # required entries of that folder
    origin: str  # what download=True fetches, from where
    manual: str  # how to place the files without download=True
    layout: tuple[str, ...] = ()  # layout lines to show, relative to folder (default: files)

    def folder(self, root: Path) -> Path:
        return root / self.subdir if self.subdir else root

    def missing(self, root: Path) -> list[str]:
        folder = self.folder(root)
        return [f for f in self.files if not (folder / f).exists()]

    def not_found(self, root: Path, missing: Sequence[str], download_error: BaseException | None = None):
        folder = self.folder(root)
        layout = "\n".join(f"    {folder / f}" for f in (self.layout or self.files))
        if download_error is None:
            head = (
                f"{self.title} ({self.key!r}) was not found: looked in {folder} and did not "
                f"find {', '.join(missing)}."
            )
        else:
            head = (
                f"{self.title} ({self.key!r}) could not be downloaded into {folder} "
                f"({type(download_error).__name__}: {download_error}); still missing there: "
                f"{', '.join(missing)}."
            )
        message = (
            f"{head}\nTo get it, either\n"
            f"  * call again with download=True on a machine with internet access "
            f"(torchvision fetches {self.origin} into {root}), or\n"
            f"  * {self.manual} so that this layout exists:\n{layout}"
        )
        return DatasetNotFoundError(message, self.key, folder, missing)


def _corrupt(source: _Source, path: Path, problem: str) -> CorruptDatasetError:
    return CorruptDatasetError(
        f"{source.title} ({source.key!r}): {path} cannot be read (corrupt, truncated or not "
        f"in the expected format): {problem}. "
        f"Delete it and fetch it again (download=True, or {source.manual}).",
        source.key,
        path,
    )


def _load_torchvision(
    source: _Source,
    root: Path,
    download: bool,
    build: Callable[[bool], object],
    check_file: Callable[[Path], None],
    md5: dict[str, str] | None = None,
):
    """Build a torchvision dataset object, turning every failure into a clear error.

    ``build(download)`` constructs the torchvision object; ``check_file(path)`` reads one file
    on its own and raises when it is unreadable (used only to find the culprit after a
    failure); ``md5`` maps file names to torchvision's checksums, where it has them.
    """
    download = check_bool("download", download)
    missing = source.missing(root)
    if missing and not download:
        raise source.not_found(root, missing)
    try:
        return build(download)
    except MemoryError:
        raise
    except Exception as exc:
        raise _diagnose(source, root, exc, download, check_file, md5) from exc


def _diagnose(source, root, exc, download, check_file, md5) -> Exception:
    """Explain why torchvision failed: missing files, an unreadable file, a checksum."""
    missing = source.missing(root)
    if missing:
        return source.not_found(root, missing, download_error=exc if download else None)
    folder = source.folder(root)
    for name in source.files:
        path = folder / name
        if path.exists():
            try:
                check_file(path)
            except MemoryError:
                raise
            except Exception as problem:
                return _corrupt(source, path, f"{type(problem).__name__}: {problem}")
    if md5:
        from torchvision.datasets.utils import check_integrity

        bad = [name for name, digest in md5.items() if not check_integrity(str(folder / name), digest)]
        if bad:
            paths = ", ".join(str(folder / b) for b in bad)
            return CorruptDatasetError(
                f"{source.title} ({source.key!r}): {paths} failed torchvision's MD5 check "
                "(an incomplete download, a damaged copy, or files from another release). "
                f"Delete them and fetch them again (download=True, or {source.manual}).",
                source.key,
                folder / bad[0],
            )
    return CorruptDatasetError(
        f"{source.title} ({source.key!r}) in {folder} could not be loaded by torchvision: "
        f"{type(exc).__name__}: {exc}",
        source.key,
        None,
    )


# CIFAR ----------------------------------------------------------------------


def _cifar_source(key: str, cls) -> _Source:
    files = tuple(f for f, _ in cls.train_list + cls.test_list) + (cls.meta["filename"],)
    return _Source(
        key=key,
        title={"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}[key],
        subdir=cls.base_folder,
        files=files,
        origin=cls.url,
        manual=f"download {cls.filename} from {cls.url} and unpack it inside root",
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles CIFAR's python batches (dicts of lists, bytes and numpy arrays) and refuses
    every other global, so that inspecting an untrusted file cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a CIFAR batch")


def _check_cifar_file(path: Path, meta_name: str, meta_key: str) -> None:
    with open(path, "rb") as f:
        entry = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    if not isinstance(entry, dict):
        raise ValueError(f"expected a pickled dict, found {type(entry).__name__}")
    if path.name == meta_name:
        if meta_key not in entry:
            raise ValueError(f"the metadata has no {meta_key!r} entry")
        return
    if "data" not in entry or not ("labels" in entry or "fine_labels" in entry):
        raise ValueError("a CIFAR batch needs 'data' and 'labels' (or 'fine_labels') entries")
    data = np.asarray(entry["data"])
    labels = entry.get("labels", entry.get("fine_labels"))
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"'data' must have shape (N, 3072), found {data.shape}")
    if len(labels) != data.shape[0]:
        raise ValueError(f"{data.shape[0]} images but {len(labels)} labels")


def _load_cifar(key: str, root, download: bool, mean, std) -> ALDataset:
    from torchvision.datasets import CIFAR10, CIFAR100

    cls = CIFAR10 if key == "cifar10" else CIFAR100
    root = _check_root(root)
    source = _cifar_source(key, cls)
    md5 = {f: m for f, m in cls.train_list + cls.test_list}
    md5[cls.meta["filename"]] = cls.meta["md5"]

    def check(path: Path) -> None:
        _check_cifar_file(path, cls.meta["filename"], cls.meta["key"])

    splits = {}
    for split, train in (("train", True), ("test", False)):
        tv = _load_torchvision(
            source, root, download, lambda d, t=train: cls(str(root), train=t, download=d), check, md5
        )
        if len(tv.data) != len(tv.targets):  # torchvision does not check this
            raise _diagnose(source, root, ValueError("images and labels differ in number"),
                            False, check, None)
        x = torch.from_numpy(np.ascontiguousarray(tv.data.transpose(0, 3, 1, 2)))
        splits[split] = (x, torch.as_tensor(np.asarray(tv.targets, dtype=np.int64)))
        classes = list(tv.classes)
        download = False  # the first split fetched everything
    return ALDataset(
        name=key,
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["test"][0],
        y_test=splits["test"][1],
        num_classes=len(classes),
        class_names=classes,
        mean=mean,
        std=std,
    )


def load_cifar10(root: str | os.PathLike = DEFAULT_ROOT, download: bool = False) -> ALDataset:
    """CIFAR-10 through :class:`torchvision.datasets.CIFAR10`: 50,000 train and 10,000 test
    ``uint8`` images ``(3, 32, 32)``, 10 classes (DISAL Section 4.1).

    Args:
        root: folder holding ``cifar-10-batches-py/`` (``data_batch_1``..``data_batch_5``,
            ``test_batch``, ``batches.meta``).
        download: fetch the archive (about 163 MB) when it is missing; needs internet.

    Raises:
        DatasetNotFoundError: the files are missing (the message says how to get them).
        CorruptDatasetError: a file is truncated or damaged (the message names it).
    """
    return _load_cifar("cifar10", root, download, CIFAR10_MEAN, CIFAR10_STD)


def load_cifar100(root: str | os.PathLike = DEFAULT_ROOT, download: bool = False) -> ALDataset:
    """CIFAR-100 through :class:`torchvision.datasets.CIFAR100`: 50,000 train and 10,000 test
    ``uint8`` images ``(3, 32, 32)``, 100 fine classes (DISAL Section 4.1).

    Args:
        root: folder holding ``cifar-100-python/`` (``train``, ``test``, ``meta``).
        download: fetch the archive (about 161 MB) when it is missing; needs internet.

    Raises:
        DatasetNotFoundError, CorruptDatasetError: as :func:`load_cifar10`.
    """
    return _load_cifar("cifar100", root, download, CIFAR100_MEAN, CIFAR100_STD)


# SVHN -----------------------------------------------------------------------


def _check_svhn_file(path: Path) -> None:
    import scipy.io as sio

    mat = sio.loadmat(str(path))
    if "X" not in mat or "y" not in mat:
        raise ValueError("an SVHN .mat file needs 'X' and 'y' variables")
    x, y = mat["X"], mat["y"]
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise ValueError(f"'X' must have shape (32, 32, 3, N), found {x.shape}")
    if y.size != x.shape[3]:
        raise ValueError(f"{x.shape[3]} images but {y.size} labels")


def load_svhn(root: str | os.PathLike = DEFAULT_ROOT, download: bool = False) -> ALDataset:
    """SVHN through :class:`torchvision.datasets.SVHN`: 73,257 train and 26,032 test ``uint8``
    images ``(3, 32, 32)``, digits 0-9 (the ``extra`` split is not used, as in DISAL 4.1).
    torchvision maps SVHN's label 10 to digit 0.

    Args:
        root: folder holding ``train_32x32.mat`` and ``test_32x32.mat`` directly.
        download: fetch both files (about 182 MB + 64 MB) when missing; needs internet.

    Raises:
        DatasetNotFoundError, CorruptDatasetError: as :func:`load_cifar10`.
    """
    from torchvision.datasets import SVHN

    root = _check_root(root)
    lists = SVHN.split_list
    source = _Source(
        key="svhn",
        title="SVHN",
        subdir="",
        files=(lists["train"][1], lists["test"][1]),
        origin=f"{lists['train'][0]} and {lists['test'][0]}",
        manual="download train_32x32.mat and test_32x32.mat from "
        "http://ufldl.stanford.edu/housenumbers/ and put them directly in root",
    )
    splits = {}
    for split in ("train", "test"):
        tv = _load_torchvision(
            source,
            root,
            download,
            lambda d, s=split: SVHN(str(root), split=s, download=d),
            _check_svhn_file,
            {lists[split][1]: lists[split][2]},
        )
        if len(tv.data) != len(tv.labels):
            raise _corrupt(source, root / lists[split][1], "images and labels differ in number")
        splits[split] = (
            torch.from_numpy(np.ascontiguousarray(tv.data)),
            torch.as_tensor(np.asarray(tv.labels, dtype=np.int64)),
        )
    return ALDataset(
        name="svhn",
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["test"][0],
        y_test=splits["test"][1],
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        mean=SVHN_MEAN,
        std=SVHN_STD,
    )


# MNIST and Fashion-MNIST ----------------------------------------------------------

_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _check_idx_file(path: Path) -> None:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    if "images" in path.name:
        x = read_image_file(str(path))
        if tuple(x.shape[1:]) != (28, 28):
            raise ValueError(f"images must be 28x28, found {tuple(x.shape[1:])}")
    else:
        read_label_file(str(path))


def _load_mnist_like(key: str, root, download: bool) -> ALDataset:
    from torchvision.datasets import MNIST, FashionMNIST

    cls, title, mean, std = {
        "mnist": (MNIST, "MNIST", MNIST_MEAN, MNIST_STD),
        "fashion_mnist": (FashionMNIST, "Fashion-MNIST", FASHION_MNIST_MEAN, FASHION_MNIST_STD),
    }[key]
    root = _check_root(root)
    mirror = cls.mirrors[0]
    source = _Source(
        key=key,
        title=title,
        subdir=f"{cls.__name__}/raw",
        files=_MNIST_FILES,
        origin=f"the four .gz files from {mirror}",
        manual=f"download the four .gz files from {mirror}, unzip them (gunzip) and put the "
        f"uncompressed files in root/{cls.__name__}/raw/",
    )
    splits = {}
    for split, train in (("train", True), ("test", False)):
        tv = _load_torchvision(
            source, root, download, lambda d, t=train: cls(str(root), train=t, download=d),
            _check_idx_file,
        )
        prefix = "train" if train else "t10k"
        if tv.data.dim() != 3 or tuple(tv.data.shape[1:]) != (28, 28):
            raise _corrupt(source, source.folder(root) / f"{prefix}-images-idx3-ubyte",
                           f"images must be 28x28, found shape {tuple(tv.data.shape)}")
        if len(tv.data) != len(tv.targets):
            raise _corrupt(
                source,
                source.folder(root) / f"{prefix}-labels-idx1-ubyte",
                f"{len(tv.targets)} labels for {len(tv.data)} images in {prefix}-images-idx3-ubyte",
            )
        splits[split] = (tv.data.unsqueeze(1).contiguous(), tv.targets.long())
        classes = list(tv.classes)
        download = False
    for split, (_, y) in splits.items():
        if y.numel() and int(y.max()) >= len(classes):
            prefix = "train" if split == "train" else "t10k"
            raise _corrupt(source, source.folder(root) / f"{prefix}-labels-idx1-ubyte",
                           f"label {int(y.max())} is not a class (0..{len(classes) - 1})")
    return ALDataset(
        name=key,
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["test"][0],
        y_test=splits["test"][1],
        num_classes=len(classes),
        class_names=classes,
        mean=mean,
        std=std,
    )


def load_mnist(root: str | os.PathLike = DEFAULT_ROOT, download: bool = False) -> ALDataset:
    """MNIST through :class:`torchvision.datasets.MNIST`: 60,000 train and 10,000 test
    ``uint8`` images ``(1, 28, 28)``, 10 classes.

    Args:
        root: folder holding ``MNIST/raw/`` with the four uncompressed idx files
            (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``).
        download: fetch and unpack them when missing; needs internet.

    Raises:
        DatasetNotFoundError, CorruptDatasetError: as :func:`load_cifar10`.
    """
    return _load_mnist_like("mnist", root, download)


def load_fashion_mnist(root: str | os.PathLike = DEFAULT_ROOT, download: bool = False) -> ALDataset:
    """Fashion-MNIST through :class:`torchvision.datasets.FashionMNIST`: 60,000 train and
    10,000 test ``uint8`` images ``(1, 28, 28)``, 10 clothing classes.

    Args:
        root: folder holding ``FashionMNIST/raw/`` with the four uncompressed idx files (same
            names as MNIST's).
        download: fetch and unpack them when missing; needs internet.

    Raises:
        DatasetNotFoundError, CorruptDatasetError: as :func:`load_cifar10`.
    """
    return _load_mnist_like("fashion_mnist", root, download)


# Images on disk: Caltech101 and user image folders ---------------------------------


def _check_image_size(image_size) -> tuple[int, int]:
    if isinstance(image_size, (tuple, list)):
        if len(image_size) != 2:
            raise ValueError(f"image_size must be an int or a (height, width) pair, got {image_size!r}")
        h = _check_int("image_size[0]", image_size[0], minimum=1)
        w = _check_int("image_size[1]", image_size[1], minimum=1)
        return h, w
    size = _check_int("image_size", image_size, minimum=1)
    return size, size


def _to_mode(img, mode: str):
    """Convert a PIL image to ``"RGB"`` or ``"L"`` keeping its data: 16-bit and 32-bit integer
    grayscale (modes ``I;16*``, ``I``) are scaled from 0..65535 to 0..255 (Pillow's own
    ``convert`` clips them, saturating most pixels), float (``F``) images from their 0..1 or
    0..255 range; palette (``P``, ``PA``) and alpha modes go through RGBA so transparency
    becomes colour, not garbage."""
    from PIL import Image

    if img.mode.startswith("I") or img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            top = 1.0 if arr.size and np.nanmax(arr) <= 1.0 else 255.0
        else:
            top = 65535.0 if (img.mode.startswith("I;16") or (arr.size and arr.max() > 255)) else 255.0
        arr = np.clip(np.nan_to_num(arr) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, "L")
    elif img.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa"):
        img = img.convert("RGBA").convert("RGB")
    return img.convert(mode)


def _read_images(
    indices: Sequence[int],
    open_image: Callable[[int], object],
    path_of: Callable[[int], Path],
    size: tuple[int, int],
    channels: int,
    dataset: str,
    progress: bool,
    desc: str,
    hint: str = "",
) -> torch.Tensor:
    """Read, convert (RGB or grayscale) and resize images into one ``uint8`` tensor
    ``(len(indices), channels, H, W)``; an unreadable file raises :class:`CorruptDatasetError`
    naming it."""
    from PIL import Image

    h, w = size
    mode = "RGB" if channels == 3 else "L"
    out = torch.empty((len(indices), channels, h, w), dtype=torch.uint8)
    for row, i in enumerate(tqdm(indices, desc=desc, disable=not progress, leave=False)):
        try:
            img = open_image(int(i))
            with img:
                img.load()
                resized = _to_mode(img, mode).resize((w, h), Image.BILINEAR)
            arr = np.asarray(resized, dtype=np.uint8)
        except MemoryError:
            raise
        except Exception as exc:
            path = path_of(int(i))
            if isinstance(exc, FileNotFoundError):
                problem = f"{dataset}: image {path} is missing.{hint}"
            else:
                problem = (
                    f"{dataset}: image {path} cannot be read ({type(exc).__name__}: {exc}). "
                    f"Replace it with a readable image.{hint}"
                )
            raise CorruptDatasetError(problem, dataset, path) from exc
        if arr.ndim == 2:
            arr = arr[:, :, None]
        out[row] = torch.from_numpy(np.array(arr.transpose(2, 0, 1), copy=True))
    return out


def _channel_stats(x: torch.Tensor, chunk: int = 1024) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of ``uint8`` images scaled to [0, 1] (std 1 for a constant
    channel, so that normalising never divides by zero)."""
    c = x.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for s in range(0, x.shape[0], chunk):
        xb = x[s : s + chunk].double().div_(255.0).transpose(0, 1).reshape(c, -1)
        total += xb.sum(dim=1)
        total_sq += (xb * xb).sum(dim=1)
    count = x.shape[0] * x[0, 0].numel()
    mean = total / count
    var = (total_sq / count - mean * mean).clamp_min(0.0)
    std = torch.where(var > 1e-12, var.sqrt(), torch.ones_like(var))
    return tuple(mean.tolist()), tuple(std.tolist())


_CALTECH_PAGE = "https://data.caltech.edu/records/mzrjq-6wc02"
_CALTECH_SOURCE = _Source(
    key="caltech101",
    title="Caltech101",
    subdir="caltech101",
    files=("101_ObjectCategories",),
    origin=f"caltech-101.zip (about 131 MB) from {_CALTECH_PAGE}",
    manual=f"download caltech-101.zip from {_CALTECH_PAGE}, unpack it and the "
    "101_ObjectCategories.tar.gz inside it, and move the folder 101_ObjectCategories/ (one "
    "sub-folder per class holding image_0001.jpg, image_0002.jpg, ..., and BACKGROUND_Google/) "
    "into root/caltech101/",
    layout=(
        "101_ObjectCategories/<class_name>/image_0001.jpg (image_0002.jpg, ...)",
        "101_ObjectCategories/BACKGROUND_Google/",
    ),
)


def _check_caltech_folder(path: Path) -> None:
    if not path.is_dir():
        raise ValueError("it must be a folder with one sub-folder per class")
    entries = sorted(os.listdir(path))
    if "BACKGROUND_Google" not in entries:
        raise ValueError(
            "the sub-folder BACKGROUND_Google/ is missing; torchvision's Caltech101 expects it "
            "(and leaves it out as 'not a real class'): create it, empty if you like"
        )
    for e in entries:
        if not (path / e).is_dir():
            raise ValueError(f"{path / e} is not a folder; only class folders may live here")


def _read_center_cropped(indices, open_image, path_of, resize_to: int, size: tuple[int, int], progress: bool,
                         desc: str, hint: str, chunk: int = 512) -> torch.Tensor:
    """``Resize((resize_to, resize_to))`` then ``CenterCrop(size)`` (torchvision's offsets),
    read in chunks so that only one chunk is held at the larger size."""
    h, w = size
    top, left = int(round((resize_to - h) / 2.0)), int(round((resize_to - w) / 2.0))
    out = torch.empty((len(indices), 3, h, w), dtype=torch.uint8)
    for s in range(0, len(indices), chunk):
        part = _read_images(indices[s : s + chunk], open_image, path_of, (resize_to, resize_to), 3, "caltech101",
                            progress, desc, hint)
        out[s : s + len(part)] = part[:, :, top : top + h, left : left + w]
    return out


def load_caltech101(
    root: str | os.PathLike = DEFAULT_ROOT,
    download: bool = False,
    image_size: int | tuple[int, int] = 224,
    test_fraction: float = 0.12,
    seed: int = 0,
    progress: bool = True,
    resize_to: int | None = None,
) -> ALDataset:
    """Caltech101 through :class:`torchvision.datasets.Caltech101`: 101 object classes
    (``BACKGROUND_Google`` left out by torchvision; 8,677 images), RGB ``uint8`` images
    resized to ``image_size`` x ``image_size`` (grayscale images are converted to RGB).

    Caltech101 has no official split.  DISAL Section 4.1 uses 8,046 train / 1,098 test images,
    i.e. 12% held out: here a stratified split (:func:`stratified_split`) sends
    ``round(test_fraction * n_c)`` images of each class to the test split, fixed by ``seed``.
    Inputs are normalised with the ImageNet mean/std (the 224x224 ResNet-18 recipe).

    Memory: ``8,677 * 3 * image_size**2`` bytes, 1.3 GB at 224; use e.g. ``image_size=64``
    for a quick CPU run.

    Args:
        root: folder holding ``caltech101/101_ObjectCategories/<class>/image_0001.jpg``...
        download: fetch and unpack the archive when missing; needs internet.
        image_size: side of the square images (or a ``(height, width)`` pair).
        test_fraction: share of each class held out for testing, in (0, 1).
        seed: seed of the split.
        progress: show a tqdm bar while the images are read.
        resize_to: DISAL's/TOD's recipe: each image is resized to ``resize_to`` x ``resize_to``
            and then center-cropped to ``image_size`` (siyuhuang/TOD ``main_TOD.py``, Caltech101:
            ``T.Resize((256, 256)), T.CenterCrop(224)``, then ``T.RandomHorizontalFlip()`` for
            training, which is ``ALConfig(augment="flip")`` here).  ``None`` (default): a plain
            resize to ``image_size``.  TOD normalises with mean 0.502, std 1.0; this loader keeps
            the ImageNet statistics that ImageNet-pretrained weights expect.

    Raises:
        DatasetNotFoundError: the folder is missing (the message says how to get it).
        CorruptDatasetError: an image cannot be read, or the layout is not torchvision's.
    """
    from torchvision.datasets import Caltech101

    root = _check_root(root)
    size = _check_image_size(image_size)
    test_fraction = check_fraction("test_fraction", test_fraction)
    seed = _check_int("seed", seed, minimum=0)
    progress = check_bool("progress", progress)
    source = _CALTECH_SOURCE
    tv = _load_torchvision(
        source,
        root,
        download,
        lambda d: Caltech101(str(root), target_type="category", download=d),
        _check_caltech_folder,
    )
    folder = source.folder(root) / "101_ObjectCategories"

    def path_of(i: int) -> Path:
        return folder / tv.categories[tv.y[i]] / f"image_{tv.index[i]:04d}.jpg"

    def open_image(i: int):
        img, target = tv[i]
        return img

    hint = (
        " torchvision's Caltech101 expects each class folder to hold only image_0001.jpg, "
        "image_0002.jpg, ... numbered without gaps."
    )
    labels = np.asarray(tv.y, dtype=np.int64)
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    if resize_to is None:
        x_train = _read_images(train_idx, open_image, path_of, size, 3, "caltech101", progress,
                               "Caltech101 train", hint)
        x_test = _read_images(test_idx, open_image, path_of, size, 3, "caltech101", progress,
                              "Caltech101 test", hint)
    else:
        resize_to = _check_int("resize_to", resize_to, minimum=max(size))
        x_train = _read_center_cropped(train_idx, open_image, path_of, resize_to, size, progress, "Caltech101 train", hint)
        x_test = _read_center_cropped(test_idx, open_image, path_of, resize_to, size, progress, "Caltech101 test", hint)
    return ALDataset(
        name="caltech101",
        x_train=x_train,
        y_train=torch.from_numpy(labels[train_idx]),
        x_test=x_test,
        y_test=torch.from_numpy(labels[test_idx]),
        num_classes=len(tv.categories),
        class_names=list(tv.categories),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )


def _image_folder(root: Path, what: str):
    """torchvision's ImageFolder over ``root``, with errors that explain the layout."""
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS

    layout = (
        f"Expected one sub-folder per class, each holding images ({', '.join(IMG_EXTENSIONS)}):\n"
        f"    {root}/<class_a>/img1.png\n    {root}/<class_b>/img2.jpg\n    ..."
    )
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"image folder ({what}) not found: {root} does not exist or is not a folder.\n{layout}",
            "image_folder",
            root,
            [str(root)],
        )
    class _VisibleImageFolder(ImageFolder):
        """ImageFolder without hidden class folders (``.ipynb_checkpoints``, ``.git``...)."""

        def find_classes(self, directory):
            classes = sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))
            if not classes:
                raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
            return classes, {c: i for i, c in enumerate(classes)}

    def visible_image(path: str) -> bool:
        rel = Path(path).relative_to(root)
        return (not any(part.startswith(".") for part in rel.parts)
                and path.lower().endswith(IMG_EXTENSIONS))

    try:
        return _VisibleImageFolder(str(root), is_valid_file=visible_image)
    except FileNotFoundError as exc:
        raise DatasetNotFoundError(
            f"image folder ({what}) {root} holds no usable images: {exc}\n{layout}",
            "image_folder",
            root,
        ) from exc


def from_image_folder(
    root: str | os.PathLike,
    image_size: int | tuple[int, int] = 32,
    test_root: str | os.PathLike | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    channels: int = 3,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    name: str | None = None,
    progress: bool = True,
) -> ALDataset:
    """Your own images, one sub-folder per class (:class:`torchvision.datasets.ImageFolder`
    semantics: classes are the sorted sub-folder names, labels ``0..C-1`` in that order).

    Every image is converted to RGB (``channels=3``) or grayscale (``channels=1``) and resized
    to ``image_size``, whatever its own size and mode; the result is stored as ``uint8``.
    16-bit grayscale PNGs are scaled to 8 bits (not clipped), palette and alpha images go
    through RGBA.  Hidden folders and files (names starting with ``.``, e.g.
    ``.ipynb_checkpoints``) are skipped at every level.  Without ``test_root`` the images are
    split by :func:`stratified_split` (``test_fraction`` of each class, fixed by ``seed``);
    with it, ``test_root`` must have the same class sub-folders and becomes the test split.

    Args:
        root: the folder of class sub-folders (the pool, plus the test split if no test_root).
        image_size: side of the square images, or a ``(height, width)`` pair.
        test_root: optional separate folder of test images with the same class sub-folders.
        test_fraction: share of each class held out when ``test_root`` is not given.
        seed: seed of the split.
        channels: 3 (RGB) or 1 (grayscale).
        mean, std: per-channel normalisation for :meth:`ALDataset.to_input`; by default the
            train split's own per-channel statistics.
        name: dataset name (default: the folder's name).
        progress: show a tqdm bar while the images are read.

    Examples:
        >>> import tempfile, numpy as np, altoolkit as alt
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for c in ("cat", "dog"):
        ...     (root / c).mkdir()
        ...     for i in range(5):
        ...         Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / c / f"{i}.png")
        >>> ds = alt.from_image_folder(root, image_size=8, test_fraction=0.2)
        >>> ds.class_names, ds.input_shape, ds.n_train + ds.n_test
        (['cat', 'dog'], (3, 8, 8), 10)
    """
    root = _check_root(root)
    size = _check_image_size(image_size)
    seed = _check_int("seed", seed, minimum=0)
    progress = check_bool("progress", progress)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    if name is None:
        name = root.resolve().name or "image_folder"
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    if test_root is None:
        test_fraction = check_fraction("test_fraction", test_fraction)
    train_tv = _image_folder(root, "train" if test_root is not None else "train and test")
    classes = list(train_tv.classes)
    if len(classes) < 2:
        raise ValueError(
            f"image folder {root} has {len(classes)} class sub-folder ({', '.join(classes)}); "
            "a classification dataset needs at least 2"
        )

    def reader(tv):
        from PIL import Image  # not tv.loader: it converts to RGB first, clipping 16-bit images

        return (lambda i: Image.open(tv.samples[i][0])), (lambda i: Path(tv.samples[i][0]))

    labels = np.asarray(train_tv.targets, dtype=np.int64)
    open_train, path_train = reader(train_tv)
    if test_root is None:
        train_idx, test_idx = stratified_split(labels, test_fraction, seed)
        x_train = _read_images(train_idx, open_train, path_train, size, channels, name,
                               progress, f"{name} train")
        x_test = _read_images(test_idx, open_train, path_train, size, channels, name,
                              progress, f"{name} test")
        y_train, y_test = labels[train_idx], labels[test_idx]
    else:
        test_tv = _image_folder(_check_root(test_root), "test")
        if list(test_tv.classes) != classes:
            only_train = sorted(set(classes) - set(test_tv.classes))
            only_test = sorted(set(test_tv.classes) - set(classes))
            raise ValueError(
                f"test_root {test_root} must have the same class sub-folders as root {root}; "
                f"only in root: {only_train or 'none'}; only in test_root: {only_test or 'none'}"
            )
        x_train = _read_images(range(len(train_tv)), open_train, path_train, size, channels,
                               name, progress, f"{name} train")
        open_test, path_test = reader(test_tv)
        x_test = _read_images(range(len(test_tv)), open_test, path_test, size, channels, name,
                              progress, f"{name} test")
        y_train, y_test = labels, np.asarray(test_tv.targets, dtype=np.int64)
    if (mean is None) != (std is None):
        raise ValueError("mean and std must be given together (or both left as None)")
    if mean is None:
        mean, std = _channel_stats(x_train)
    return ALDataset(
        name=name,
        x_train=x_train,
        y_train=torch.from_numpy(y_train),
        x_test=x_test,
        y_test=torch.from_numpy(y_test),
        num_classes=len(classes),
        class_names=classes,
        mean=tuple(mean),
        std=tuple(std),
    )


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
    counts = [
        int(math.floor(low + (max_per_class - low) * r / (num_classes - 1) + 0.5))
        for r in range(num_classes)
    ]
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
                    raise ValueError(
                        f"order names class {item!r}, which is not one of {ds.class_names}"
                    )
                ranked.append(ds.class_names.index(item))
            else:
                ranked.append(_check_int("order entries", item, minimum=0, maximum=c - 1))
        if sorted(ranked) != list(range(c)):
            raise ValueError(
                f"order must list every one of the {c} classes exactly once (rarest first), "
                f"got {list(order)}"
            )
    counts = imbalanced_counts(max_per_class, ratio, c)
    keep_per_class = {cls: counts[r] for r, cls in enumerate(ranked)}
    short = [
        f"{ds.class_names[k]} (needs {keep_per_class[k]}, has {int(available[k])})"
        for k in range(c)
        if keep_per_class[k] > available[k]
    ]
    if short:
        raise ValueError(
            f"imbalance_ratio {ratio:g} with max_per_class {max_per_class} asks for more "
            f"samples than some classes have: {', '.join(short)}; lower max_per_class"
        )
    rng = np.random.default_rng(seed)
    y = ds.y_train.numpy()
    kept = [rng.choice(np.flatnonzero(y == k), keep_per_class[k], replace=False) for k in range(c)]
    idx = torch.from_numpy(np.sort(np.concatenate(kept)))
    return ALDataset(
        name=f"{ds.name}_ir{ratio:g}",
        x_train=ds.x_train[idx].clone(),
        y_train=ds.y_train[idx].clone(),
        x_test=ds.x_test,
        y_test=ds.y_test,
        num_classes=c,
        class_names=list(ds.class_names),
        mean=ds.mean,
        std=ds.std,
    )


# --------------------------------------------------------------------------- by name

_LOADERS: dict[str, Callable[..., ALDataset]] = {
    "digits": load_digits,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "svhn": load_svhn,
    "caltech101": load_caltech101,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "image_folder": from_image_folder,
}

#: Names accepted by :func:`load_dataset` (each may carry an ``_ir<ratio>`` suffix).
DATASETS: tuple[str, ...] = tuple(_LOADERS)

#: Built-in and registered dataset names, and "package.module:function" import paths.
DATASET_REGISTRY = Registry("dataset", _LOADERS)

_IMBALANCED_NAME = re.compile(r"^(?P<base>.+?)_ir(?P<ratio>\d+(?:\.\d+)?)$")


def _find_loader(name: str) -> tuple[str, float | None, Callable[..., ALDataset]]:
    """``(base, ratio from an _ir suffix or None, loader)`` for a dataset name or import path."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {name!r}")
    loader = DATASET_REGISTRY.find(name)
    if loader is not None:
        return name, None, loader
    match = _IMBALANCED_NAME.match(name)
    if match:
        loader = DATASET_REGISTRY.find(match.group("base"))
        if loader is not None:
            return match.group("base"), float(match.group("ratio")), loader
    raise ValueError(
        f"dataset must be one of {', '.join(DATASET_REGISTRY.names())} (optionally with an imbalance "
        f"suffix such as '_ir10'), or an import path 'package.module:function'; got {name!r}"
    )


def check_dataset_name(name: str) -> str:
    """Validate a dataset name as :func:`load_dataset` reads it (no data is loaded; an import
    path's module is imported)."""
    _find_loader(name)
    return name


def register_dataset(name: str, loader: Callable[..., ALDataset]) -> None:
    """Make ``name`` a dataset of :func:`load_dataset`, ``ALConfig(dataset=name)`` and sweeps.

    ``loader(**options)`` returns an :class:`ALDataset`; it receives ``seed=`` when it has a
    ``seed`` parameter, and the ``dataset_options``/``root``/``download`` it declares.  The
    ``_ir<ratio>`` suffix works for it as for the built-in names.  Instead of registering,
    ``ALConfig(dataset="package.module:function")`` names the loader by its import path, which
    also works in the CLI and in sweep workers (see :mod:`altoolkit.plugins`).  To run on a
    dataset you already hold, ``run_active_learning(config, dataset=ds)`` needs no name at all:
    the record stores ``ds.name``.

    Examples:
        >>> import altoolkit as alt
        >>> alt.register_dataset("digits_small", lambda seed=0: alt.imbalanced_subset(
        ...     alt.load_digits(seed=seed), 1, max_per_class=20, seed=seed))
        >>> alt.load_dataset("digits_small").n_train <= 200
        True
    """
    DATASET_REGISTRY.register(name, loader)


def dataset_names() -> tuple[str, ...]:
    """Names :func:`load_dataset` accepts: :data:`DATASETS`, then the registered ones.

    >>> dataset_names()[:len(DATASETS)] == DATASETS
    True
    """
    return DATASET_REGISTRY.names()


def load_dataset(name: str, seed: int = 0, **kwargs) -> ALDataset:
    """Load a dataset by name (see :func:`dataset_names`) or import path ``"package.module:function"``.

    ``seed`` goes to loaders whose split is random (``digits``, ``caltech101``,
    ``image_folder``) and to the imbalanced subsampling; the other keyword arguments go to the
    loader (e.g. ``root=``, ``download=``, ``image_size=``).  ``digits`` is embedded, so
    ``root``/``download`` are accepted and ignored for it.

    Class imbalance (DISAL Section 4.3): pass ``imbalance_ratio=10`` (with optional
    ``max_per_class=`` and ``imbalance_order=``), or use a name such as ``"cifar10_ir10"``;
    see :func:`imbalanced_subset`.

    Examples:
        >>> import altoolkit as alt
        >>> alt.load_dataset("digits", seed=0)
        ALDataset(name='digits', train=1347, test=450, num_classes=10, input_shape=(1, 8, 8))
        >>> alt.load_dataset("digits_ir10").name
        'digits_ir10'
    """
    base, from_name, loader = _find_loader(name)
    ratio = kwargs.pop("imbalance_ratio", None)
    if from_name is not None:
        if ratio is not None and float(ratio) != from_name:
            raise ValueError(
                f"dataset {name!r} already says imbalance ratio {from_name:g}, but "
                f"imbalance_ratio={ratio!r} was also given; give one of them"
            )
        ratio = from_name
    max_per_class = kwargs.pop("max_per_class", None)
    order = kwargs.pop("imbalance_order", None)
    if ratio is None and (max_per_class is not None or order is not None):
        raise ValueError("max_per_class and imbalance_order need imbalance_ratio (or an _ir name)")
    if base == "digits":
        kwargs.pop("root", None)
        kwargs.pop("download", None)
    if base == "image_folder" and not kwargs.get("download"):
        kwargs.pop("download", None)  # the CLI always passes it; a local folder has nothing to download
    params = inspect.signature(loader).parameters
    if "seed" in params:
        kwargs["seed"] = seed
    variadic = {p for p, v in params.items() if v.kind in (v.VAR_POSITIONAL, v.VAR_KEYWORD)}
    unknown = [] if any(params[p].kind == params[p].VAR_KEYWORD for p in variadic) else sorted(set(kwargs) - set(params))
    if unknown:
        allowed = [p for p in params if p != "seed"] + ["imbalance_ratio", "max_per_class",
                                                        "imbalance_order"]
        raise TypeError(
            f"load_dataset({base!r}) got unknown option(s) {', '.join(unknown)}; "
            f"allowed: seed, {', '.join(allowed)}"
        )
    needed = [p for p, v in params.items() if v.default is inspect.Parameter.empty and p not in kwargs and p not in variadic]
    if needed:
        raise TypeError(f"load_dataset({base!r}) needs {', '.join(f'{p}=...' for p in needed)}")
    ds = loader(**kwargs)
    if not isinstance(ds, ALDataset):
        raise TypeError(f"dataset {base!r}: its loader returned a {type(ds).__name__}, not an altoolkit ALDataset "
                        "(build one with altoolkit.from_arrays)")
    if ratio is not None:
        ds = imbalanced_subset(ds, ratio, max_per_class=max_per_class, seed=seed, order=order)
    return ds
