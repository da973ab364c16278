"""Object-detection data: :class:`DetectionDataset` (a pool of images whose label is a set of boxes
with a class each), the embedded digit scenes' boxes (:func:`load_digit_scene_boxes`, no download),
PASCAL VOC through :class:`torchvision.datasets.VOCDetection` (:func:`load_voc_detection`) and
COCO through :class:`torchvision.datasets.CocoDetection` (:func:`load_coco_detection`, pycocotools).

A label is a :class:`BoxTargets`: for every image a ``(k, 4)`` ``float32`` tensor of boxes
``(x0, y0, x1, y1)`` in pixels (``x1``, ``y1`` exclusive: pixel edges, the convention of
``torchvision.ops`` and of torchvision's detectors) and a ``(k,)`` ``int64`` tensor of classes
``0..num_classes-1``.  ``k`` may be 0 (an image without objects: its annotation costs nothing).
Images are stored as one ``uint8`` tensor ``(N, C, H, W)``, as for the other tasks; the real
loaders scale every image so that its longer side is ``image_size`` and pad it at the bottom and
right (the boxes scaled alike), so that a pool is one tensor and no box moves.

The annotation cost of an image is its number of boxes (ISAL §4.2: "the cost of annotating a set
of images is highly correlated with the number of bboxes instead of the number of images"):
:meth:`BoxTargets.counts`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..util.checks import check_bool, check_int
from .datasets import CorruptDatasetError, DatasetNotFoundError, PoolDataset, _check_root
from .loaders import DEFAULT_ROOT
from .scenes import DigitScenes, digit_scene_splits

__all__ = [
    "BoxTargets",
    "DetectionDataset",
    "load_digit_scene_boxes",
    "load_voc_detection",
    "load_coco_detection",
    "VOC_CLASS_NAMES",
    "DIGIT_CLASS_NAMES",
    "letterbox",
]

#: Detection classes of the digit scenes: the ten digits (class ``d`` is digit ``d``; no background class).
DIGIT_CLASS_NAMES: tuple[str, ...] = tuple(str(d) for d in range(10))

#: The 20 PASCAL VOC classes in the order of dragonlzm/ISAL
#: ``detection/configs/mining_experiments/fcos/fcos_r50_caffe_fpn_1x_voc2012.py`` (``classes``).
VOC_CLASS_NAMES: tuple[str, ...] = (
    "person", "bird", "cat", "cow", "dog", "horse", "sheep", "aeroplane", "bicycle", "boat",
    "bus", "car", "motorbike", "train", "bottle", "chair", "diningtable", "pottedplant", "sofa", "tvmonitor",
)  # fmt: skip


def _as_boxes(b: Any, where: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(b, dtype=np.float32) if not isinstance(b, torch.Tensor) else b)
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{where}: boxes must be real numbers, got dtype {t.dtype}")
    t = t.to(torch.float32)
    if t.numel() == 0:
        return t.reshape(0, 4)
    if t.dim() != 2 or t.shape[1] != 4:
        raise ValueError(f"{where}: boxes must have shape (k, 4) as (x0, y0, x1, y1), got {tuple(t.shape)}")
    return t


def _as_labels(lab: Any, where: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(lab) if not isinstance(lab, torch.Tensor) else lab)
    if t.numel() == 0:
        return torch.zeros(0, dtype=torch.int64)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        if t.is_floating_point() and bool((t == t.round()).all()):
            return t.to(torch.int64).reshape(-1)
        raise TypeError(f"{where}: labels must be integer class indices, got dtype {t.dtype}")
    return t.to(torch.int64).reshape(-1)


class BoxTargets:
    """The boxes and classes of a set of images, indexable like a tensor of labels.

    ``targets[i]`` is image ``i``'s ``{"boxes": (k, 4) float32, "labels": (k,) int64}`` (the
    target format of torchvision's detectors); ``targets[idx]`` with a slice, a list or an integer
    tensor is the :class:`BoxTargets` of those images, so the AL loop and the strategies select
    labels as they do for classification (``dataset.y_train[labeled]``).

    Examples:
        >>> t = BoxTargets([[[0, 0, 4, 4]], []], [[3], []])
        >>> len(t), t.counts().tolist(), t[0]["labels"].tolist()
        (2, [1, 0], [3])
        >>> len(t[[1]])
        1
    """

    def __init__(self, boxes: Sequence[Any], labels: Sequence[Any]):
        if isinstance(boxes, (str, bytes)) or not isinstance(boxes, Sequence) or not isinstance(labels, Sequence):
            raise TypeError("boxes and labels must be sequences with one entry per image")
        if len(boxes) != len(labels):
            raise ValueError(f"boxes has {len(boxes)} images but labels has {len(labels)}; they must match")
        self.boxes: list[torch.Tensor] = [_as_boxes(b, f"image {i}") for i, b in enumerate(boxes)]
        self.labels: list[torch.Tensor] = [_as_labels(lab, f"image {i}") for i, lab in enumerate(labels)]
        for i, (b, lab) in enumerate(zip(self.boxes, self.labels)):
            if b.shape[0] != lab.shape[0]:
                raise ValueError(f"image {i} has {b.shape[0]} boxes but {lab.shape[0]} labels; give one label per box")

    @classmethod
    def _from_tensors(cls, boxes: list[torch.Tensor], labels: list[torch.Tensor]) -> "BoxTargets":
        out = cls.__new__(cls)
        out.boxes, out.labels = boxes, labels
        return out

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def shape(self) -> tuple[int]:
        """``(N,)``: one target per image (what code written for a label tensor reads)."""
        return (len(self.boxes),)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, (int, np.integer)) or (isinstance(idx, torch.Tensor) and idx.dim() == 0 and not idx.dtype == torch.bool):
            i = int(idx)
            return {"boxes": self.boxes[i], "labels": self.labels[i]}
        if isinstance(idx, slice):
            pos = list(range(len(self)))[idx]
        else:
            t = torch.as_tensor(np.asarray(idx) if not isinstance(idx, torch.Tensor) else idx)
            if t.dtype == torch.bool:
                t = torch.nonzero(t).flatten()
            pos = [int(v) for v in t.reshape(-1).tolist()]
        return BoxTargets._from_tensors([self.boxes[i] for i in pos], [self.labels[i] for i in pos])

    def to(self, device: Any) -> "BoxTargets":
        """The same targets on ``device`` (a no-op on the CPU)."""
        if str(device) == "cpu" and all(b.device.type == "cpu" for b in self.boxes):
            return self
        return BoxTargets._from_tensors([b.to(device) for b in self.boxes], [lab.to(device) for lab in self.labels])

    def counts(self) -> np.ndarray:
        """``(N,)`` number of boxes per image: each image's annotation cost (ISAL §4.2)."""
        return np.array([int(b.shape[0]) for b in self.boxes], dtype=np.int64)

    def as_dicts(self) -> list[dict[str, torch.Tensor]]:
        """One ``{"boxes", "labels"}`` dict per image (torchvision's detector targets)."""
        return [self[i] for i in range(len(self))]

    def tobytes(self) -> bytes:
        """The boxes (float32) and classes (int64) of every image with its box count, as bytes (a record's
        fingerprint of its labels hashes them)."""
        parts = []
        for b, lab in zip(self.boxes, self.labels):
            parts += [np.int64(b.shape[0]).tobytes(), b.detach().cpu().numpy().astype("<f4").tobytes(), lab.detach().cpu().numpy().astype("<i8").tobytes()]
        return b"".join(parts)

    def class_counts(self, num_classes: int) -> np.ndarray:
        """Boxes per class over all images."""
        if not self.labels:
            return np.zeros(num_classes, dtype=np.int64)
        return np.bincount(torch.cat(self.labels).numpy(), minlength=num_classes)[:num_classes]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BoxTargets) or len(other) != len(self):
            return False
        return all(torch.equal(a, b) for a, b in zip(self.boxes, other.boxes)) and all(torch.equal(a, b) for a, b in zip(self.labels, other.labels))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BoxTargets({len(self)} images, {int(self.counts().sum())} boxes)"


def check_box_targets(targets: BoxTargets, num_classes: int, height: int, width: int, split: str) -> None:
    """Refuse boxes that are not finite, degenerate (``x1 <= x0`` or ``y1 <= y0``: no area) or
    outside the image ``[0, width] x [0, height]``, and labels outside ``0..num_classes-1``; the
    message names the split, the image and the box.  Images without boxes are allowed."""
    for i, (b, lab) in enumerate(zip(targets.boxes, targets.labels)):
        if b.numel() == 0:
            continue
        where = f"y_{split}[{i}]"
        if not bool(torch.isfinite(b).all()):
            raise ValueError(f"{where} holds a box that is not finite: {b[~torch.isfinite(b).all(1)][0].tolist()}")
        bad = (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
        if bool(bad.any()):
            raise ValueError(
                f"{where} holds a degenerate box {b[bad][0].tolist()} (x0, y0, x1, y1): x1 must exceed x0 and y1 exceed y0; "
                "drop empty boxes before building the dataset"
            )
        out = (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > width) | (b[:, 3] > height)
        if bool(out.any()):
            raise ValueError(
                f"{where} holds box {b[out][0].tolist()} outside the image (0, 0, {width}, {height}); clip boxes to the image "
                "(torchvision.ops.clip_boxes_to_image) before building the dataset"
            )
        if bool(((lab < 0) | (lab >= num_classes)).any()):
            raise ValueError(f"{where} holds class {int(lab[(lab < 0) | (lab >= num_classes)][0])}, outside 0..{num_classes - 1}")


@dataclass
class DetectionDataset(PoolDataset):
    """A pool of images labeled by boxes and classes, and a test split.

    Attributes:
        name: short name, e.g. ``"digit_scenes"``.
        x_train, x_test: images ``(N, C, H, W)`` (``uint8``, converted by :meth:`to_input`, or float).
        y_train, y_test: :class:`BoxTargets` (or anything :class:`BoxTargets` takes as
            ``(boxes, labels)``): boxes in pixels of the stored images.
        num_classes: number of object classes (no background class: torchvision's FCOS scores
            every class with its own sigmoid).
        class_names: one name per class.
        mean, std: per-channel normalisation of ``uint8`` images.
        extras: task data that rides along with the pool (the digit scenes keep their masks here).

    Examples:
        >>> import torch, altoolkit as alt
        >>> x = torch.zeros(2, 1, 16, 16, dtype=torch.uint8)
        >>> y = alt.BoxTargets([[[1, 1, 5, 6]], []], [[2], []])
        >>> alt.DetectionDataset("toy", x, y, x, y, num_classes=3).boxes_per_image().tolist()
        [1, 0]
    """

    name: str
    x_train: torch.Tensor
    y_train: BoxTargets
    x_test: torch.Tensor
    y_test: BoxTargets
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    extras: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.num_classes = check_int("num_classes", self.num_classes, 1)
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"x_{split} must be a torch tensor of images (N, C, H, W)")
            if x.dim() != 4:
                raise ValueError(f"x_{split} must be images (N, C, H, W), got shape {tuple(x.shape)}")
            if x.is_complex() or x.dtype == torch.bool:
                raise TypeError(f"x_{split} must hold real pixel values, got dtype {x.dtype}")
            if not isinstance(y, BoxTargets):
                if isinstance(y, tuple) and len(y) == 2:
                    y = BoxTargets(*y)
                else:
                    raise TypeError(f"y_{split} must be a BoxTargets (boxes and labels per image), got {type(y).__name__}")
                setattr(self, f"y_{split}", y)
            if len(y) != x.shape[0]:
                raise ValueError(f"x_{split} has {x.shape[0]} images but y_{split} has targets for {len(y)}; they must match")
            check_box_targets(y, self.num_classes, int(x.shape[2]), int(x.shape[3]), split)
        self._check_image_fields()

    def boxes_per_image(self, split: str = "train", indices: Any = None) -> np.ndarray:
        """Boxes of each image of ``split`` (optionally of the images ``indices``): their annotation cost."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        y: BoxTargets = getattr(self, f"y_{split}")
        return (y if indices is None else y[indices]).counts()

    def __repr__(self) -> str:
        return (
            f"DetectionDataset(name={self.name!r}, train={self.n_train}, test={self.n_test}, num_classes={self.num_classes}, "
            f"input_shape={self.input_shape}, boxes={int(self.y_train.counts().sum())})"
        )


# --------------------------------------------------------------------------- digit scenes


def _scene_targets(scenes: DigitScenes) -> BoxTargets:
    return BoxTargets(list(scenes.boxes), list(scenes.labels))


def load_digit_scene_boxes(
    seed: int = 0,
    n_train: int = 600,
    n_test: int = 200,
    size: int = 48,
    n_digits: tuple[int, int] = (1, 4),
    digit_size: tuple[int, int] = (14, 20),
    clutter: int = 2,
    noise: float = 0.08,
) -> DetectionDataset:
    """The embedded digit scenes as a detection dataset: the boxes and digits of the scenes that
    :func:`altoolkit.data.segmentation.load_digit_scenes` gives masks for (same arguments, same
    seed: the same images), ten classes, grey ``uint8`` images ``(1, size, size)``, no download.
    A scene holds ``n_digits`` digits (fewer when they do not fit), so its cost in boxes varies.
    The masks ride along in ``extras["train_scenes"]`` / ``["test_scenes"]``.

    Examples:
        >>> import altoolkit as alt
        >>> ds = alt.load_digit_scene_boxes(seed=0, n_train=20, n_test=10)
        >>> ds.input_shape, ds.num_classes, len(ds.y_train)
        ((1, 48, 48), 10, 20)
    """
    train, test = digit_scene_splits(seed, n_train, n_test, size=size, n_digits=tuple(n_digits), digit_size=tuple(digit_size), clutter=clutter, noise=noise)
    mean = float(train.images.mean()) / 255.0
    std = max(1e-3, float(train.images.std()) / 255.0)
    return DetectionDataset(
        name="digit_scenes",
        x_train=torch.from_numpy(train.images).unsqueeze(1).contiguous(),
        y_train=_scene_targets(train),
        x_test=torch.from_numpy(test.images).unsqueeze(1).contiguous(),
        y_test=_scene_targets(test),
        num_classes=len(DIGIT_CLASS_NAMES),
        class_names=list(DIGIT_CLASS_NAMES),
        mean=(mean,),
        std=(std,),
        extras={"train_scenes": train, "test_scenes": test},
    )


# --------------------------------------------------------------------------- real images


def letterbox(image: Any, boxes: np.ndarray, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale a PIL image so that its longer side is ``image_size`` (bilinear), pad it with zeros at
    the bottom and right to ``image_size x image_size``, and scale ``boxes`` (x0, y0, x1, y1) alike.
    Returns ``(uint8 (3, S, S), float32 (k, 4))``; the boxes are clipped to the scaled image."""
    from PIL import Image

    w, h = image.size
    scale = image_size / max(w, h)
    nw, nh = max(1, int(math.floor(w * scale + 0.5))), max(1, int(math.floor(h * scale + 0.5)))
    img = image.convert("RGB")
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    canvas = np.zeros((3, image_size, image_size), dtype=np.uint8)
    canvas[:, :nh, :nw] = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * np.array([nw / w, nh / h, nw / w, nh / h])
    b = np.clip(b, 0.0, [nw, nh, nw, nh])
    return canvas, b.astype(np.float32)


def _keep_boxes(boxes: list[list[float]], labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Boxes with an area after scaling and clipping (a box thinner than a pixel row is dropped)."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    return b[keep], np.asarray(labels, dtype=np.int64).reshape(-1)[keep]


_VOC_PAGE = "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/"


def _voc_missing(folder: Path, missing: list[str], download: bool) -> DatasetNotFoundError:
    head = f"PASCAL VOC ('voc') was not found: looked in {folder} and did not find {', '.join(missing)}."
    if download:
        head += " altoolkit does not download VOC (the server is often unreachable): fetch the archive yourself."
    message = (
        f"{head}\nTo get it, download VOCtrainval_11-May-2012.tar from {_VOC_PAGE} and unpack it into {folder.parent.parent} so "
        f"that this layout exists:\n    {folder / 'JPEGImages' / '<id>.jpg'}\n    {folder / 'Annotations' / '<id>.xml'}\n"
        f"    {folder / 'ImageSets' / 'Main' / 'train.txt'} (and val.txt)"
    )
    return DatasetNotFoundError(message, "voc", folder, missing)


def _voc_objects(annotation: dict, keep_difficult: bool, path: str) -> tuple[list[list[float]], list[int]]:
    objects = annotation.get("annotation", {}).get("object", [])
    if isinstance(objects, dict):
        objects = [objects]
    boxes, labels = [], []
    for obj in objects:
        name = obj.get("name")
        if name not in VOC_CLASS_NAMES:
            raise CorruptDatasetError(f"VOC: {path} names class {name!r}, not one of the 20 VOC classes", "voc", Path(path))
        if not keep_difficult and str(obj.get("difficult", "0")).strip() == "1":
            continue
        try:
            bb = obj["bndbox"]
            xmin, ymin, xmax, ymax = (float(bb[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptDatasetError(f"VOC: {path} has an object without a readable bndbox ({exc})", "voc", Path(path)) from exc
        boxes.append([xmin - 1.0, ymin - 1.0, xmax, ymax])  # 1-based inclusive pixels -> pixel edges
        labels.append(VOC_CLASS_NAMES.index(name))
    return boxes, labels


def _read_voc_split(tv: Any, image_size: int, limit: int | None, keep_difficult: bool) -> tuple[torch.Tensor, BoxTargets]:
    n = len(tv.images) if limit is None else min(limit, len(tv.images))
    if n == 0:
        raise CorruptDatasetError(f"VOC: the image list of {tv.image_set} is empty", "voc")
    xs, bs, ls = [], [], []
    for i in range(n):
        try:
            image, annotation = tv[i]
        except (OSError, ValueError, SyntaxError) as exc:  # ElementTree's ParseError is a SyntaxError
            raise CorruptDatasetError(f"VOC: {tv.images[i]} or {tv.annotations[i]} cannot be read: {exc}", "voc", Path(tv.images[i])) from exc
        boxes, labels = _voc_objects(annotation, keep_difficult, tv.annotations[i])
        canvas, scaled = letterbox(image, np.asarray(boxes, dtype=np.float32).reshape(-1, 4), image_size)
        b, lab = _keep_boxes(scaled.tolist(), labels)
        xs.append(canvas)
        bs.append(b)
        ls.append(lab)
    return torch.from_numpy(np.stack(xs)), BoxTargets(bs, ls)


def load_voc_detection(
    root: str | os.PathLike = DEFAULT_ROOT,
    download: bool = False,
    year: str = "2012",
    image_size: int = 320,
    keep_difficult: bool = False,
    max_train: int | None = None,
    max_test: int | None = None,
) -> DetectionDataset:
    """PASCAL VOC detection through :class:`torchvision.datasets.VOCDetection`: the ``train``
    image set (VOC2012: 5,717 images) is the pool and ``val`` (5,823) the test split, as ISAL §4.2.

    Each image is scaled so that its longer side is ``image_size`` and padded to a square
    (:func:`letterbox`); boxes follow.  VOC's pixel indices are 1-based and inclusive, so a box
    becomes ``(xmin - 1, ymin - 1, xmax, ymax)`` in pixel edges.  Objects marked ``difficult`` are
    dropped unless ``keep_difficult`` (VOC's evaluation ignores them).  Images are read in the
    order of ``ImageSets/Main/<split>.txt``.  Memory: ``3 * image_size**2`` bytes per image.

    Args:
        root: folder holding ``VOCdevkit/VOC<year>/{JPEGImages,Annotations,ImageSets/Main}``.
        download: VOC is not downloaded by altoolkit; ``True`` only changes the error's wording.
        year: ``"2012"`` (ISAL) or another year torchvision knows.
        image_size: side of the square the images are scaled and padded to.
        keep_difficult: keep the objects VOC marks difficult.
        max_train, max_test: read only the first images of each split.

    Raises:
        DatasetNotFoundError: the folders are missing (the message says how to get them).
        CorruptDatasetError: an image or annotation cannot be read, or names an unknown class.
    """
    from torchvision.datasets import VOCDetection

    root = _check_root(root)
    download = check_bool("download", download)
    keep_difficult = check_bool("keep_difficult", keep_difficult)
    image_size = check_int("image_size", image_size, 8)
    limits = [None if v is None else check_int(name, v, 1) for name, v in (("max_train", max_train), ("max_test", max_test))]
    folder = root / "VOCdevkit" / f"VOC{year}"
    needed = ["JPEGImages", "Annotations", "ImageSets/Main/train.txt", "ImageSets/Main/val.txt"]
    missing = [n for n in needed if not (folder / n).exists()]
    if missing:
        raise _voc_missing(folder, missing, download)
    splits = {}
    for split, limit in zip(("train", "val"), limits):
        try:
            tv = VOCDetection(str(root), year=str(year), image_set=split, download=False)
        except (OSError, RuntimeError, ValueError) as exc:
            raise CorruptDatasetError(f"VOC in {folder} could not be listed by torchvision: {type(exc).__name__}: {exc}", "voc", folder) from exc
        splits[split] = _read_voc_split(tv, image_size, limit, keep_difficult)
    return DetectionDataset(
        name="voc",
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["val"][0],
        y_test=splits["val"][1],
        num_classes=len(VOC_CLASS_NAMES),
        class_names=list(VOC_CLASS_NAMES),
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
    )


_COCO_PAGE = "https://cocodataset.org/#download"


def _coco_missing(folder: Path, missing: list[str], download: bool) -> DatasetNotFoundError:
    head = f"COCO ('coco') was not found: looked in {folder} and did not find {', '.join(missing)}."
    if download:
        head += " altoolkit does not download COCO (19 GB): fetch the archives yourself."
    message = (
        f"{head}\nTo get it, download train2017.zip, val2017.zip and annotations_trainval2017.zip from {_COCO_PAGE} "
        f"and unpack them into {folder} so that this layout exists:\n    {folder / 'train2017' / '<id>.jpg'}\n"
        f"    {folder / 'val2017' / '<id>.jpg'}\n    {folder / 'annotations' / 'instances_train2017.json'} (and instances_val2017.json)"
    )
    return DatasetNotFoundError(message, "coco", folder, missing)


def _coco_objects(annotations: list[dict], width: int, height: int, category_index: dict[int, int]) -> tuple[list[list[float]], list[int]]:
    """An image's boxes as dragonlzm/ISAL ``detection/src/utils.py`` ``ISALCocoDataset._parse_ann_info``
    keeps them: no crowd or ``ignore`` boxes, none without overlap with the image, none with
    ``area <= 0``, ``w < 1`` or ``h < 1``; ``[x, y, w, h]`` becomes ``(x, y, x + w, y + h)``."""
    boxes, labels = [], []
    for ann in annotations:
        if ann.get("ignore", False) or ann.get("iscrowd", 0):
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        inter_w = max(0.0, min(x + w, width) - max(x, 0.0))
        inter_h = max(0.0, min(y + h, height) - max(y, 0.0))
        if inter_w * inter_h == 0 or ann.get("area", w * h) <= 0 or w < 1 or h < 1 or ann["category_id"] not in category_index:
            continue
        boxes.append([x, y, x + w, y + h])
        labels.append(category_index[ann["category_id"]])
    return boxes, labels


def _read_coco_split(images_dir: Path, ann_file: Path, image_size: int, limit: int | None, category_index: dict[int, int] | None):
    from torchvision.datasets import CocoDetection

    try:
        tv = CocoDetection(str(images_dir), str(ann_file))
    except (OSError, ValueError, KeyError) as exc:  # json.JSONDecodeError is a ValueError
        raise CorruptDatasetError(f"COCO: {ann_file} cannot be read by pycocotools: {type(exc).__name__}: {exc}", "coco", ann_file) from exc
    if category_index is None:
        category_index = {cid: i for i, cid in enumerate(sorted(tv.coco.getCatIds()))}
    n = len(tv.ids) if limit is None else min(limit, len(tv.ids))
    if n == 0:
        raise CorruptDatasetError(f"COCO: {ann_file} lists no images", "coco", ann_file)
    xs, bs, ls = [], [], []
    for i in range(n):
        try:
            image, annotations = tv[i]
        except OSError as exc:
            info = tv.coco.loadImgs(tv.ids[i])[0]
            raise CorruptDatasetError(f"COCO: {images_dir / info['file_name']} cannot be read: {exc}", "coco", images_dir / info["file_name"]) from exc
        boxes, labels = _coco_objects(annotations, image.size[0], image.size[1], category_index)
        canvas, scaled = letterbox(image, np.asarray(boxes, dtype=np.float32).reshape(-1, 4), image_size)
        b, lab = _keep_boxes(scaled.tolist(), labels)
        xs.append(canvas)
        bs.append(b)
        ls.append(lab)
    names = [tv.coco.cats[cid]["name"] for cid in sorted(category_index, key=category_index.__getitem__)]
    return torch.from_numpy(np.stack(xs)), BoxTargets(bs, ls), category_index, names


def load_coco_detection(
    root: str | os.PathLike = DEFAULT_ROOT,
    download: bool = False,
    image_size: int = 512,
    max_train: int | None = None,
    max_test: int | None = None,
) -> DetectionDataset:
    """COCO 2017 detection through :class:`torchvision.datasets.CocoDetection` (pycocotools):
    ``train2017`` (118k images) is the pool and ``val2017`` (5,000) the test split, as ISAL §4.2.
    The 80 category ids become classes ``0..79`` in increasing id order; boxes are kept as ISAL's
    code keeps them (:func:`_coco_objects`); images without boxes stay (they cost nothing).
    Images are scaled and padded to ``image_size`` (:func:`letterbox`), in the annotation file's order.

    Raises:
        DatasetNotFoundError: the folders or annotation files are missing.
        CorruptDatasetError: an image or the annotation file cannot be read.
    """
    root = _check_root(root)
    download = check_bool("download", download)
    image_size = check_int("image_size", image_size, 8)
    limits = [None if v is None else check_int(name, v, 1) for name, v in (("max_train", max_train), ("max_test", max_test))]
    folder = root / "coco"
    needed = ["train2017", "val2017", "annotations/instances_train2017.json", "annotations/instances_val2017.json"]
    missing = [n for n in needed if not (folder / n).exists()]
    if missing:
        raise _coco_missing(folder, missing, download)
    x_tr, y_tr, index, names = _read_coco_split(folder / "train2017", folder / "annotations/instances_train2017.json", image_size, limits[0], None)
    x_te, y_te, _, _ = _read_coco_split(folder / "val2017", folder / "annotations/instances_val2017.json", image_size, limits[1], index)
    return DetectionDataset(
        name="coco",
        x_train=x_tr,
        y_train=y_tr,
        x_test=x_te,
        y_test=y_te,
        num_classes=len(index),
        class_names=names,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
    )
