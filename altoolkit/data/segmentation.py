"""Semantic-segmentation data: :class:`SegmentationDataset` (a pool of images whose label is a
per-pixel class mask), the embedded digit scenes (:func:`load_digit_scenes`, no download) and
Cityscapes read through :class:`torchvision.datasets.Cityscapes` (:func:`load_cityscapes`).

A mask is stored as ``uint8`` ``(N, H, W)`` (class ``0..num_classes-1``, :data:`IGNORE_INDEX` for
pixels without a label: Cityscapes' void classes), so a pool costs one byte per pixel.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..util.checks import check_bool, check_float, check_int
from .datasets import CorruptDatasetError, DatasetNotFoundError, PoolDataset, _check_root
from .loaders import DEFAULT_ROOT
from .scenes import SCENE_CLASS_NAMES, DigitScenes, digit_scene_splits

__all__ = [
    "SegmentationDataset",
    "IGNORE_INDEX",
    "load_digit_scenes",
    "load_cityscapes",
    "CITYSCAPES_CLASS_NAMES",
    "CITYSCAPES_MEAN",
    "CITYSCAPES_STD",
    "cityscapes_train_ids",
]

#: Mask value of a pixel without a label (not trained on, not counted by the metric).
IGNORE_INDEX = 255

# Cityscapes channel statistics in [0, 1]: fyu/drn datasets/cityscapes/info.json (the DRN code that
# VAAL's and DISAL's segmentation setting runs).
CITYSCAPES_MEAN = (0.29010095242892997, 0.32808144844279574, 0.28696394422942517)
CITYSCAPES_STD = (0.1829540508368939, 0.18656561047509476, 0.18447508988480435)


@dataclass
class SegmentationDataset(PoolDataset):
    """A pool of images labeled by per-pixel class masks, and a test split.

    Attributes:
        name: short name, e.g. ``"digit_scenes"``.
        x_train, x_test: images ``(N, C, H, W)`` (``uint8``, converted by :meth:`to_input`, or float).
        y_train, y_test: masks ``(N, H, W)`` ``uint8``: classes ``0..num_classes-1`` and
            ``ignore_index`` for unlabeled pixels.
        num_classes: number of classes (at most 255).
        class_names: one name per class.
        mean, std: per-channel normalisation of ``uint8`` images (as :class:`~altoolkit.data.ALDataset`).
        ignore_index: the mask value of unlabeled pixels (:data:`IGNORE_INDEX`).
        extras: task data that rides along with the pool (the digit scenes keep their boxes here).

    Examples:
        >>> import torch, altoolkit as alt
        >>> x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
        >>> y = torch.zeros(4, 8, 8, dtype=torch.uint8)
        >>> alt.SegmentationDataset("toy", x, y, x[:2], y[:2], num_classes=3).input_shape
        (1, 8, 8)
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
    ignore_index: int = IGNORE_INDEX
    extras: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.num_classes = check_int("num_classes", self.num_classes, 2, 255)
        self.ignore_index = check_int("ignore_index", self.ignore_index, 0, 255)
        if self.ignore_index < self.num_classes:
            raise ValueError(f"ignore_index ({self.ignore_index}) must not be a class (0..{self.num_classes - 1})")
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise TypeError(f"x_{split} and y_{split} must be torch tensors")
            if x.dim() != 4:
                raise ValueError(f"x_{split} must be images (N, C, H, W), got shape {tuple(x.shape)}")
            if y.dim() != 3 or tuple(y.shape) != (x.shape[0], *x.shape[2:]):
                raise ValueError(f"y_{split} must be masks (N, H, W) matching x_{split} {tuple(x.shape)}, got shape {tuple(y.shape)}")
            if y.is_floating_point() or y.dtype == torch.bool:
                raise TypeError(f"y_{split} must hold integer class indices, got dtype {y.dtype}")
            if y.numel():
                bad = (y != self.ignore_index) & ((y < 0) | (y >= self.num_classes))
                if bool(bad.any()):
                    raise ValueError(f"y_{split} holds value {int(y[bad][0])}, neither a class 0..{self.num_classes - 1} nor ignore_index {self.ignore_index}")
            if y.dtype != torch.uint8:
                setattr(self, f"y_{split}", y.to(torch.uint8))
        self._check_image_fields()

    def pixel_class_counts(self, split: str = "train", indices: torch.Tensor | None = None) -> np.ndarray:
        """Labeled pixels per class in ``split`` (optionally of the images ``indices``)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        y = getattr(self, f"y_{split}")
        if indices is not None:
            y = y[torch.as_tensor(indices, dtype=torch.long)]
        flat = y.reshape(-1).long()
        return np.bincount(flat[flat != self.ignore_index].numpy(), minlength=self.num_classes)

    def __repr__(self) -> str:
        return (
            f"SegmentationDataset(name={self.name!r}, train={self.n_train}, test={self.n_test}, num_classes={self.num_classes}, input_shape={self.input_shape})"
        )


# --------------------------------------------------------------------------- digit scenes


def _scenes_tensors(scenes: DigitScenes) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(scenes.images).unsqueeze(1).contiguous(), torch.from_numpy(scenes.masks)


def load_digit_scenes(
    seed: int = 0,
    n_train: int = 600,
    n_test: int = 200,
    size: int = 48,
    n_digits: tuple[int, int] = (1, 4),
    digit_size: tuple[int, int] = (14, 20),
    clutter: int = 2,
    noise: float = 0.08,
) -> SegmentationDataset:
    """The embedded digit scenes as a segmentation dataset: 11 classes (background and the ten
    digits), grey ``uint8`` images ``(1, size, size)``, no download.

    Test scenes are drawn from digits held out of the training scenes (stratified, fixed by
    ``seed``; :func:`altoolkit.data.scenes.digit_scene_splits`).  The scenes' boxes and labels
    (the same objects, for detection) are kept in ``extras["train_scenes"]`` / ``["test_scenes"]``.

    Args:
        seed: seeds the digit split and every scene.
        n_train, n_test: scenes in the pool and in the test split.
        size: canvas side in pixels.
        n_digits: fewest and most digits per scene (fewer when they do not fit).
        digit_size: smallest and largest side of a digit in pixels.
        clutter: background fragments of digits per scene.
        noise: std of the pixel noise (image in [0, 1]).

    Examples:
        >>> import altoolkit as alt
        >>> ds = alt.load_digit_scenes(seed=0, n_train=20, n_test=10)
        >>> ds.input_shape, ds.num_classes, ds.y_train.shape
        ((1, 48, 48), 11, torch.Size([20, 48, 48]))
    """
    train, test = digit_scene_splits(seed, n_train, n_test, size=size, n_digits=tuple(n_digits), digit_size=tuple(digit_size), clutter=clutter, noise=noise)
    x_train, y_train = _scenes_tensors(train)
    x_test, y_test = _scenes_tensors(test)
    mean = float(train.images.mean()) / 255.0
    std = max(1e-3, float(train.images.std()) / 255.0)
    return SegmentationDataset(
        name="digit_scenes",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=len(SCENE_CLASS_NAMES),
        class_names=list(SCENE_CLASS_NAMES),
        mean=(mean,),
        std=(std,),
        extras={"train_scenes": train, "test_scenes": test},
    )


# --------------------------------------------------------------------------- Cityscapes

_CITYSCAPES_PAGE = "https://www.cityscapes-dataset.com/downloads/"


def cityscapes_train_ids() -> np.ndarray:
    """Lookup table ``(256,)`` from Cityscapes label ids (``*_gtFine_labelIds.png``) to the 19
    train ids, :data:`IGNORE_INDEX` elsewhere: ``torchvision.datasets.Cityscapes.classes``'
    ``train_id`` column (its 255 and -1 become :data:`IGNORE_INDEX`)."""
    from torchvision.datasets import Cityscapes

    table = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for c in Cityscapes.classes:
        if 0 <= c.id < 256 and 0 <= c.train_id < 255:
            table[c.id] = c.train_id
    return table


#: The 19 evaluated Cityscapes classes, in train-id order.
CITYSCAPES_CLASS_NAMES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation", "terrain",
    "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)  # fmt: skip


def _cityscapes_missing(root: Path, folder: Path, missing: list[str], download: bool) -> DatasetNotFoundError:
    head = f"Cityscapes ('cityscapes') was not found: looked in {folder} and did not find {', '.join(missing)}."
    if download:
        head += " Cityscapes cannot be downloaded automatically: its files need a (free) account."
    message = (
        f"{head}\nTo get it, register at {_CITYSCAPES_PAGE}, download leftImg8bit_trainvaltest.zip and "
        f"gtFine_trainvaltest.zip, and unpack both into {folder} so that this layout exists:\n"
        f"    {folder / 'leftImg8bit' / 'train' / '<city>' / '<city>_<seq>_<frame>_leftImg8bit.png'}\n"
        f"    {folder / 'gtFine' / 'train' / '<city>' / '<city>_<seq>_<frame>_gtFine_labelIds.png'}\n"
        f"    (and the same under val/)"
    )
    return DatasetNotFoundError(message, "cityscapes", folder, missing)


def _crop_box(width: int, height: int, crop: int | None) -> tuple[int, int, int, int]:
    """Centre crop of side ``crop`` (torchvision ``CenterCrop``'s offsets), or the whole image."""
    if crop is None:
        return 0, 0, width, height
    if crop > min(width, height):
        raise ValueError(f"crop ({crop}) must be at most the image's shorter side after scaling ({min(width, height)})")
    left, top = int(round((width - crop) / 2.0)), int(round((height - crop) / 2.0))
    return left, top, left + crop, top + crop


def _read_cityscapes_split(tv, scale: float, crop: int | None, limit: int | None, table: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image

    pairs = sorted(zip(tv.images, (t[0] for t in tv.targets)))[:limit]
    if not pairs:
        raise CorruptDatasetError(f"Cityscapes: no images under {tv.images_dir}", "cityscapes", Path(tv.images_dir))
    xs, ys = [], []
    for image_path, target_path in pairs:
        try:
            with Image.open(image_path) as im:
                img = im.convert("RGB")
            with Image.open(target_path) as tm:
                target = tm.copy()
        except FileNotFoundError as exc:
            raise CorruptDatasetError(f"Cityscapes: {image_path} has no label file {target_path}", "cityscapes", Path(target_path)) from exc
        except OSError as exc:
            raise CorruptDatasetError(f"Cityscapes: {image_path} or {target_path} cannot be read: {exc}", "cityscapes", Path(image_path)) from exc
        if img.size != target.size:
            raise CorruptDatasetError(f"Cityscapes: {image_path} is {img.size} but its labels {target.size}", "cityscapes", Path(target_path))
        w, h = (max(1, int(math.floor(v * scale + 0.5))) for v in img.size)
        if (w, h) != img.size:
            img = img.resize((w, h), Image.Resampling.BILINEAR)
            target = target.resize((w, h), Image.Resampling.NEAREST)  # labels are never interpolated
        box = _crop_box(w, h, crop)
        xs.append(np.asarray(img.crop(box), dtype=np.uint8).transpose(2, 0, 1))
        ys.append(table[np.asarray(target.crop(box), dtype=np.uint8)])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def load_cityscapes(
    root: str | os.PathLike = DEFAULT_ROOT,
    download: bool = False,
    scale: float = 1.0,
    crop: int | None = 688,
    max_train: int | None = None,
    max_test: int | None = None,
) -> SegmentationDataset:
    """Cityscapes (fine annotations) through :class:`torchvision.datasets.Cityscapes`: the 2,975
    ``train`` images are the pool, the 500 ``val`` images the test split (DISAL §4.2: "only the
    standard training and validation sets"), masks mapped to the 19 train ids
    (:func:`cityscapes_train_ids`; the other classes are :data:`IGNORE_INDEX`).

    DISAL §4.2 crops the inputs to 688 x 688 "without the application of data augmentation"; the
    position of the crop is not said, so it is the centre (deterministic).  ``scale`` first
    resizes each image (bilinear; masks nearest) for CPU-sized runs, e.g. ``scale=0.25, crop=160``.
    Images are read in sorted file order, so the pool's order is the same on every machine.

    Memory: ``3 + 1`` bytes per pixel: 5.6 GB for the full train split at 688 x 688.

    Args:
        root: folder holding ``cityscapes/leftImg8bit/{train,val}/<city>/*_leftImg8bit.png`` and
            ``cityscapes/gtFine/{train,val}/<city>/*_gtFine_labelIds.png``.
        download: Cityscapes needs an account; ``True`` only changes the error's wording.
        scale: resize factor applied before cropping (``(0, 1]``).
        crop: side of the centre crop after scaling; ``None`` keeps the whole image.
        max_train, max_test: read only the first images of each split (sorted order).

    Raises:
        DatasetNotFoundError: the folders are missing (the message says how to get them).
        CorruptDatasetError: an image or mask cannot be read or their sizes differ.
    """
    from torchvision.datasets import Cityscapes

    root = _check_root(root)
    download = check_bool("download", download)
    scale = check_float("scale", scale, 0.0, 1.0, min_inclusive=False)
    crop = None if crop is None else check_int("crop", crop, 1)
    limits = [None if v is None else check_int(name, v, 1) for name, v in (("max_train", max_train), ("max_test", max_test))]
    folder = root / "cityscapes"
    needed = [f"{kind}/{split}" for kind in ("leftImg8bit", "gtFine") for split in ("train", "val")]
    missing = [n for n in needed if not (folder / n).is_dir()]
    if missing:
        raise _cityscapes_missing(root, folder, missing, download)
    table = cityscapes_train_ids()
    splits = {}
    for split, limit in zip(("train", "val"), limits):
        try:
            tv = Cityscapes(str(folder), split=split, mode="fine", target_type="semantic")
        except (OSError, RuntimeError) as exc:
            raise CorruptDatasetError(f"Cityscapes in {folder} could not be listed by torchvision: {type(exc).__name__}: {exc}", "cityscapes", folder) from exc
        splits[split] = _read_cityscapes_split(tv, scale, crop, limit, table)
    return SegmentationDataset(
        name="cityscapes",
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["val"][0],
        y_test=splits["val"][1],
        num_classes=len(CITYSCAPES_CLASS_NAMES),
        class_names=list(CITYSCAPES_CLASS_NAMES),
        mean=CITYSCAPES_MEAN,
        std=CITYSCAPES_STD,
    )
