"""The torchvision datasets (CIFAR-10/100, SVHN, MNIST, Fashion-MNIST, Caltech101) read from a
local root, with the file checks that turn a missing or damaged file into a clear error."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..util.checks import check_bool, check_fraction
from .datasets import ALDataset, CorruptDatasetError, DatasetNotFoundError, _check_int, _check_root, stratified_split
from .folders import _check_image_size, _read_images

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


# --------------------------------------------------------------------------- torchvision


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
    gzipped: bool = False  # the release ships each file as <file>.gz (the MNIST family)

    def folder(self, root: Path) -> Path:
        return root / self.subdir if self.subdir else root

    def missing(self, root: Path) -> list[str]:
        folder = self.folder(root)
        return [f for f in self.files if not (folder / f).exists()]

    def not_found(self, root: Path, missing: Sequence[str], download_error: BaseException | None = None):
        folder = self.folder(root)
        layout = "\n".join(f"    {folder / f}" for f in (self.layout or self.files))
        if download_error is None:
            head = f"{self.title} ({self.key!r}) was not found: looked in {folder} and did not find {', '.join(missing)}."
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
    archive = path.with_name(path.name + ".gz")
    remove = f"It was unpacked from {archive}: delete both" if source.gzipped and archive.exists() else "Delete it"
    return CorruptDatasetError(
        f"{source.title} ({source.key!r}): {path} cannot be read (corrupt, truncated or not "
        f"in the expected format): {problem}. "
        f"{remove} and fetch it again (download=True, or {source.manual}).",
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
    if missing and source.gzipped and not download:  # with download=True torchvision checks, refetches and unpacks
        _unpack_local_archives(source, root, missing)
        missing = source.missing(root)
    if missing and not download:
        raise source.not_found(root, missing)
    try:
        return build(download)
    except MemoryError:
        raise
    except Exception as exc:
        raise _diagnose(source, root, exc, download, check_file, md5) from exc


def _unpack_local_archives(source: _Source, root: Path, missing: Sequence[str]) -> None:
    """Unpack ``<file>.gz`` found beside each missing file, offline, as torchvision's
    ``download=True`` does after fetching (``torchvision.datasets.mnist.MNIST.download``
    extracts every archive into ``raw/``): a user who copies the release's archives into the
    folder needs no ``gunzip``.  Each file appears whole or not at all (temporary file, then
    ``os.replace``); an archive that is not a whole gzip file is a :class:`CorruptDatasetError`
    naming it, and nothing is left behind.  The archives are kept (``altoolkit summarize``
    checks their MD5 against torchvision's sums)."""
    folder = source.folder(root)
    for name in missing:
        archive = folder / f"{name}.gz"
        if archive.is_file():
            _gunzip_whole(source, archive, folder / name)


def _gunzip_whole(source: _Source, archive: Path, target: Path) -> None:
    import gzip
    import shutil
    import tempfile

    from .checksums import GZIP_ERRORS

    def cannot_write(exc: OSError) -> OSError:
        return type(exc)(
            exc.errno,
            f"{source.title} ({source.key!r}): found {archive} but cannot unpack it into {target.name} beside it "
            f"({exc.strerror or exc}); make {target.parent} writable, or unpack it yourself (gunzip -k) where you can write and pass that folder as root",
        )

    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise cannot_write(exc) from exc
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(archive, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)
        shutil.copymode(archive, tmp)  # as gunzip -k: mkstemp's 0600 would hide the data from a shared group
        os.replace(tmp, target)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, GZIP_ERRORS):
            raise _corrupt(source, archive, f"it cannot be unpacked ({type(exc).__module__}.{type(exc).__name__}: {exc})") from exc
        if isinstance(exc, OSError):
            raise cannot_write(exc) from exc
        raise


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
        f"{source.title} ({source.key!r}) in {folder} could not be loaded by torchvision: {type(exc).__name__}: {exc}",
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
        tv = _load_torchvision(source, root, download, lambda d, t=train: cls(str(root), train=t, download=d), check, md5)
        if len(tv.data) != len(tv.targets):  # torchvision does not check this
            raise _diagnose(source, root, ValueError("images and labels differ in number"), False, check, None)
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
        manual="download train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/ and put them directly in root",
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
        manual=(
            f"download the four .gz files from {mirror} and put them (or their uncompressed content) "
            f"in root/{cls.__name__}/raw/; archives are unpacked there on first use"
        ),
        gzipped=True,
    )
    splits = {}
    for split, train in (("train", True), ("test", False)):
        tv = _load_torchvision(
            source,
            root,
            download,
            lambda d, t=train: cls(str(root), train=t, download=d),
            _check_idx_file,
        )
        prefix = "train" if train else "t10k"
        if tv.data.dim() != 3 or tuple(tv.data.shape[1:]) != (28, 28):
            raise _corrupt(source, source.folder(root) / f"{prefix}-images-idx3-ubyte", f"images must be 28x28, found shape {tuple(tv.data.shape)}")
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
            raise _corrupt(source, source.folder(root) / f"{prefix}-labels-idx1-ubyte", f"label {int(y.max())} is not a class (0..{len(classes) - 1})")
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
        root: folder holding ``MNIST/raw/`` with the four idx files
            (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), or the release's ``.gz``
            archives of them, which are unpacked beside themselves on first use.
        download: fetch and unpack them when missing; needs internet.

    Raises:
        DatasetNotFoundError, CorruptDatasetError: as :func:`load_cifar10`; also a damaged archive.
        OSError: an archive in a folder where its content cannot be written (same errno).
    """
    return _load_mnist_like("mnist", root, download)


def load_fashion_mnist(root: str | os.PathLike = DEFAULT_ROOT, download: bool = False) -> ALDataset:
    """Fashion-MNIST through :class:`torchvision.datasets.FashionMNIST`: 60,000 train and
    10,000 test ``uint8`` images ``(1, 28, 28)``, 10 clothing classes.

    Args:
        root: folder holding ``FashionMNIST/raw/`` with the four idx files (same names as
            MNIST's) or their ``.gz`` archives, as :func:`load_mnist`.
        download: fetch and unpack them when missing; needs internet.

    Raises:
        DatasetNotFoundError, CorruptDatasetError, OSError: as :func:`load_mnist`.
    """
    return _load_mnist_like("fashion_mnist", root, download)


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


def _read_center_cropped(
    indices, open_image, path_of, resize_to: int, size: tuple[int, int], progress: bool, desc: str, hint: str, chunk: int = 512
) -> torch.Tensor:
    """``Resize((resize_to, resize_to))`` then ``CenterCrop(size)`` (torchvision's offsets),
    read in chunks so that only one chunk is held at the larger size."""
    h, w = size
    top, left = int(round((resize_to - h) / 2.0)), int(round((resize_to - w) / 2.0))
    out = torch.empty((len(indices), 3, h, w), dtype=torch.uint8)
    for s in range(0, len(indices), chunk):
        part = _read_images(indices[s : s + chunk], open_image, path_of, (resize_to, resize_to), 3, "caltech101", progress, desc, hint)
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

    hint = " torchvision's Caltech101 expects each class folder to hold only image_0001.jpg, image_0002.jpg, ... numbered without gaps."
    labels = np.asarray(tv.y, dtype=np.int64)
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    if resize_to is None:
        x_train = _read_images(train_idx, open_image, path_of, size, 3, "caltech101", progress, "Caltech101 train", hint)
        x_test = _read_images(test_idx, open_image, path_of, size, 3, "caltech101", progress, "Caltech101 test", hint)
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
