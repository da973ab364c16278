"""Datasets by name: the built-in loaders, :func:`register_dataset`, import paths
``"package.module:function"`` and the ``_ir<ratio>`` imbalance suffix."""

from __future__ import annotations

import inspect
import re
from typing import Callable


from ..util.plugins import Registry
from .datasets import ALDataset, PoolDataset, load_digits
from .folders import from_image_folder
from .imbalance import imbalanced_subset
from .subsets import pool_subset
from .loaders import load_caltech101, load_cifar10, load_cifar100, load_fashion_mnist, load_mnist, load_svhn
from .segmentation import load_cityscapes, load_digit_scenes
from .detection import load_coco_detection, load_digit_scene_boxes, load_voc_detection

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
    "digit_scenes": load_digit_scenes,
    "cityscapes": load_cityscapes,
    "voc": load_voc_detection,
    "coco": load_coco_detection,
}

#: Names that stand for another loader under a task: the embedded ``digit_scenes`` give masks
#: (segmentation) by default and their boxes under ``task="detection"`` (the same images).
TASK_DATASETS: dict[str, dict[str, Callable[..., PoolDataset]]] = {
    "detection": {"digit_scenes": load_digit_scene_boxes},
}

#: Datasets built in memory from scikit-learn's digits: ``root``/``download`` do not apply.
EMBEDDED: tuple[str, ...] = ("digits", "digit_scenes")

#: Names accepted by :func:`load_dataset` (each may carry an ``_ir<ratio>`` suffix).
DATASETS: tuple[str, ...] = tuple(_LOADERS)

#: Built-in and registered dataset names, and "package.module:function" import paths.
DATASET_REGISTRY = Registry("dataset", _LOADERS, positional=())

_IMBALANCED_NAME = re.compile(r"^(?P<base>.+?)_ir(?P<ratio>\d+(?:\.\d+)?)$")


def _find_loader(name: str, task: str | None = None) -> tuple[str, float | None, Callable[..., ALDataset]]:
    """``(base, ratio from an _ir suffix or None, loader)`` for a dataset name or import path
    (``task``'s own loader first, :data:`TASK_DATASETS`)."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {name!r}")
    own = TASK_DATASETS.get(task or "", {})
    if name in own:
        return name, None, own[name]
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


def check_dataset_name(name: str, task: str | None = None) -> str:
    """Validate a dataset name as :func:`load_dataset` reads it (no data is loaded; an import
    path's module is imported)."""
    _find_loader(name, task)
    return name


def register_dataset(name: str, loader: Callable[..., ALDataset]) -> None:
    """Make ``name`` a dataset of :func:`load_dataset`, ``ALConfig(dataset=name)`` and sweeps.

    ``loader(**options)`` returns an :class:`ALDataset`; it receives ``seed=`` when it has a
    ``seed`` parameter, and the ``dataset_options``/``root``/``download`` it declares.  The
    ``_ir<ratio>`` suffix works for it as for the built-in names.  Instead of registering,
    ``ALConfig(dataset="package.module:function")`` names the loader by its import path, which
    also works in the CLI and in sweep workers (see :mod:`altoolkit.util.plugins`).  To run on a
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


def load_dataset(name: str, seed: int = 0, task: str | None = None, **kwargs) -> ALDataset:
    """Load a dataset by name (see :func:`dataset_names`) or import path ``"package.module:function"``.

    ``seed`` goes to loaders whose split is random (``digits``, ``caltech101``,
    ``image_folder``) and to the imbalanced subsampling; the other keyword arguments go to the
    loader (e.g. ``root=``, ``download=``, ``image_size=``).  ``digits`` is embedded, so
    ``root``/``download`` are accepted and ignored for it.  ``task`` picks a task's own loader
    for a shared name (:data:`TASK_DATASETS`: ``digit_scenes`` with ``task="detection"`` gives boxes).

    Class imbalance (DISAL Section 4.3): pass ``imbalance_ratio=10`` (with optional
    ``max_per_class=`` and ``imbalance_order=``), or use a name such as ``"cifar10_ir10"``;
    see :func:`imbalanced_subset`.  A CPU-sized pool: ``pool_size=10_000`` (with optional
    ``pool_seed=``) keeps a fixed class-stratified subset of the train split
    (:func:`altoolkit.data.subsets.pool_subset`), applied before any imbalance.

    Examples:
        >>> import altoolkit as alt
        >>> alt.load_dataset("digits", seed=0)
        ALDataset(name='digits', train=1347, test=450, num_classes=10, input_shape=(1, 8, 8))
        >>> alt.load_dataset("digits_ir10").name
        'digits_ir10'
    """
    base, from_name, loader = _find_loader(name, task)
    ratio = kwargs.pop("imbalance_ratio", None)
    if from_name is not None:
        if ratio is not None and float(ratio) != from_name:
            raise ValueError(f"dataset {name!r} already says imbalance ratio {from_name:g}, but imbalance_ratio={ratio!r} was also given; give one of them")
        ratio = from_name
    max_per_class = kwargs.pop("max_per_class", None)
    order = kwargs.pop("imbalance_order", None)
    pool_size = kwargs.pop("pool_size", None)
    pool_seed = kwargs.pop("pool_seed", 0)
    if pool_size is None and pool_seed != 0:
        raise ValueError("pool_seed needs pool_size (the number of train samples kept in the pool)")
    if ratio is None and (max_per_class is not None or order is not None):
        raise ValueError("max_per_class and imbalance_order need imbalance_ratio (or an _ir name)")
    if base in EMBEDDED:
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
        allowed = [p for p in params if p != "seed"] + ["imbalance_ratio", "max_per_class", "imbalance_order", "pool_size", "pool_seed"]
        raise TypeError(f"load_dataset({base!r}) got unknown option(s) {', '.join(unknown)}; allowed: seed, {', '.join(allowed)}")
    needed = [p for p, v in params.items() if v.default is inspect.Parameter.empty and p not in kwargs and p not in variadic]
    if needed:
        raise TypeError(f"load_dataset({base!r}) needs {', '.join(f'{p}=...' for p in needed)}")
    ds = loader(**kwargs)
    if not isinstance(ds, PoolDataset):
        raise TypeError(
            f"dataset {base!r}: its loader returned a {type(ds).__name__}, not an altoolkit dataset "
            "(build one with altoolkit.from_arrays, altoolkit.SegmentationDataset for masks or altoolkit.DetectionDataset for boxes)"
        )
    if pool_size is not None:
        ds = pool_subset(ds, pool_size, pool_seed)
    if ratio is not None:
        ds = imbalanced_subset(ds, ratio, max_per_class=max_per_class, seed=seed, order=order)
    return ds
