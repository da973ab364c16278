"""Images on disk: your own class folders (:func:`from_image_folder`) and the image reading
shared with Caltech101."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from ..util.progress import tqdm

from ..util.checks import check_bool, check_fraction
from .datasets import ALDataset, CorruptDatasetError, DatasetNotFoundError, _check_int, _check_root, stratified_split

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
                problem = f"{dataset}: image {path} cannot be read ({type(exc).__name__}: {exc}). Replace it with a readable image.{hint}"
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


def _check_links(root: Path) -> None:
    """Refuse symbolic links that would make the same images count twice.

    torchvision's ImageFolder follows links (``os.walk(followlinks=True)``): a link back to an
    ancestor (``cat/loop -> ..``) is walked again and again until the path is too long, so a
    dozen files become hundreds of images, spread over train and test.  Here every folder and file
    is followed once: a link whose target is already part of the walk (a loop, or a second path to
    the same folder or image) raises ``ValueError`` naming the link and its target.  Links to
    folders or files outside the tree that nothing else reaches are fine.  Hidden entries are
    skipped, as when reading."""
    seen: dict[str, str] = {os.path.realpath(root): str(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        kept = []
        for name in sorted(dirnames) + sorted(filenames):
            if name.startswith("."):
                continue
            path = os.path.join(dirpath, name)
            real = os.path.realpath(path)
            if real in seen:
                here = os.path.realpath(dirpath)
                kind = "a loop back to a folder above it" if here == real or here.startswith(real + os.sep) else "a second path to it"
                raise ValueError(
                    f"image folder {str(root)!r}: {path!r} leads to {seen[real]!r} again through a symbolic link ({kind}); "
                    "its images would be read more than once. Remove the link or copy the files"
                )
            seen[real] = path
            if name in dirnames:
                kept.append(name)
        dirnames[:] = kept


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

    _check_links(root)

    class _VisibleImageFolder(ImageFolder):
        """ImageFolder without hidden class folders (``.ipynb_checkpoints``, ``.git``...)."""

        def find_classes(self, directory):
            classes = sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))
            if not classes:
                raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
            return classes, {c: i for i, c in enumerate(classes)}

    def visible_image(path: str) -> bool:
        rel = Path(path).relative_to(root)
        return not any(part.startswith(".") for part in rel.parts) and path.lower().endswith(IMG_EXTENSIONS)

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
        raise ValueError(f"image folder {root} has {len(classes)} class sub-folder ({', '.join(classes)}); a classification dataset needs at least 2")

    def reader(tv):
        from PIL import Image  # not tv.loader: it converts to RGB first, clipping 16-bit images

        return (lambda i: Image.open(tv.samples[i][0])), (lambda i: Path(tv.samples[i][0]))

    labels = np.asarray(train_tv.targets, dtype=np.int64)
    open_train, path_train = reader(train_tv)
    if test_root is None:
        named = [f"{c!r} (folder {str(root / c)!r})" for c in classes]  # a class is named by its folder
        train_idx, test_idx = stratified_split(labels, test_fraction, seed, class_names=named)
        x_train = _read_images(train_idx, open_train, path_train, size, channels, name, progress, f"{name} train")
        x_test = _read_images(test_idx, open_train, path_train, size, channels, name, progress, f"{name} test")
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
        x_train = _read_images(range(len(train_tv)), open_train, path_train, size, channels, name, progress, f"{name} train")
        open_test, path_test = reader(test_tv)
        x_test = _read_images(range(len(test_tv)), open_test, path_test, size, channels, name, progress, f"{name} test")
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
