"""The data layer: datasets behind one small interface.

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
* ``digit_scenes``: embedded scenes of several upscaled digits with per-pixel masks and boxes
  (:mod:`.scenes`, :func:`load_digit_scenes`), for segmentation (and detection), no download.
* ``cityscapes``: Cityscapes' fine masks (19 train ids) through :mod:`torchvision.datasets`
  from ``root`` (:func:`load_cityscapes`); a :class:`SegmentationDataset`.
* detection (:mod:`.detection`, a :class:`DetectionDataset` of boxes and classes): ``digit_scenes``
  under ``task="detection"`` (the scenes' boxes, :func:`load_digit_scene_boxes`), ``voc``
  (:func:`load_voc_detection`) and ``coco`` (:func:`load_coco_detection`, pycocotools) from ``root``.
* numpy arrays or tensors: :func:`from_arrays`.

Any of them can be made class-imbalanced the way DISAL Section 4.3 builds its imbalanced
CIFAR-10 (:func:`imbalanced_subset`, or ``load_dataset("cifar10_ir10", ...)``).

Modules: :mod:`.datasets` (ALDataset, errors, from_arrays, digits, stratified split),
:mod:`.loaders` (torchvision datasets and their file checks), :mod:`.folders` (image folders and
image reading), :mod:`.imbalance` (imbalanced subsets), :mod:`.subsets` (a CPU-sized pool), :mod:`.registry` (datasets by name),
:mod:`.scenes` (the digit-scene generator), :mod:`.segmentation` (SegmentationDataset and its loaders),
:mod:`.detection` (DetectionDataset, BoxTargets and their loaders).
This package re-exports their public names, so ``altoolkit.data.X`` works for each.
May import the layers below it, :mod:`altoolkit.util` and :mod:`altoolkit.math` (it uses util only;
torchvision, PIL and scikit-learn inside the loaders); not :mod:`altoolkit.training`, beside it.
"""

from __future__ import annotations

from .datasets import ALDataset, PoolDataset, CorruptDatasetError, DatasetNotFoundError, from_arrays, load_digits, max_classes, stratified_split
from .loaders import DEFAULT_ROOT, load_caltech101, load_cifar10, load_cifar100, load_fashion_mnist, load_mnist, load_svhn
from .folders import from_image_folder
from .imbalance import imbalanced_counts, imbalanced_subset
from .segmentation import SegmentationDataset, load_cityscapes, load_digit_scenes
from .detection import BoxTargets, DetectionDataset, load_coco_detection, load_digit_scene_boxes, load_voc_detection
from .subsets import pool_subset
from .registry import DATASETS, DATASET_REGISTRY, TASK_DATASETS, check_dataset_name, dataset_names, load_dataset, register_dataset

__all__ = [
    "ALDataset",
    "PoolDataset",
    "BoxTargets",
    "DetectionDataset",
    "TASK_DATASETS",
    "load_coco_detection",
    "load_digit_scene_boxes",
    "load_voc_detection",
    "SegmentationDataset",
    "CorruptDatasetError",
    "DATASETS",
    "DATASET_REGISTRY",
    "DEFAULT_ROOT",
    "DatasetNotFoundError",
    "check_dataset_name",
    "dataset_names",
    "from_arrays",
    "from_image_folder",
    "imbalanced_counts",
    "imbalanced_subset",
    "load_caltech101",
    "load_cityscapes",
    "load_digit_scenes",
    "load_cifar10",
    "load_cifar100",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_svhn",
    "max_classes",
    "pool_subset",
    "register_dataset",
    "stratified_split",
]
