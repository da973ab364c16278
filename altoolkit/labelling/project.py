"""Human-in-the-loop labelling: train on the labels you gave, pick the next images, repeat.

A :class:`LabelingProject` ties together

* a pool of **unlabeled** images (a folder in any layout, or an array) -- what you label;
* an optional **held-out labeled** set (a folder with one sub-folder per class, or arrays) --
  it names the classes and measures the model's accuracy after every cycle; it is never trained on;
* a :class:`altoolkit.labelling.store.LabelStore` (``labels.sqlite`` in the project folder) that keeps
  every click durably.

One cycle (:meth:`LabelingProject.next_batch`): train a fresh model on the labels in the store
(:func:`altoolkit.training.train.train_model`, with DISAL's dynamic loss for the strategies trained with
it, Eq. 14), score the rest of the pool with the chosen strategy, and save the top-k as the next
batch in the store.  Until the labels cover two classes there is nothing to train, so the first
batch is drawn at random (a "cold start").  A batch stays open until each of its images is
labelled or skipped; asking for the next batch while one is open returns it again, which is how a
restarted kernel resumes exactly where the user stopped.

The pool's true labels are never read: strategies that peek at them (the ``ce_difference``
oracle ablation) are refused.  The digits demo (:func:`write_digits_demo`) writes the embedded
8x8 digits as PNG files, with their true labels in a separate file so that a headless run can
play the user (``altoolkit.widgets.simulate_clicks``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..data import ALDataset, from_arrays, stratified_split
from ..data.datasets import display_image
from ..data.folders import _channel_stats, _check_image_size, _read_images
from .store import Batch, LabelStore
from ..training.fresh_model import default_dynamic_weight, train_fresh
from ..training.models import check_model
from ..engine.record_io import atomic_write
from ..strategies import SelectionContext, get_strategy
from ..strategies.checks import checked_positions, checked_scores
from ..training.train import TrainConfig, TrainResult, evaluate
from ..util.checks import check_bool, check_int
from ..util.seeds import derive_seed

__all__ = [
    "DigitsDemo",
    "IMAGE_EXTENSIONS",
    "LabelingProject",
    "NothingToLabel",
    "list_images",
    "project_folder",
    "write_digits_demo",
]

#: File endings read as images (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class NothingToLabel(RuntimeError):
    """Every image of the pool is labelled or skipped."""


def project_folder(path: str | os.PathLike | None) -> Path:
    """The project folder (created if needed); ``None`` makes a new temporary folder, whose
    labels do not outlive this machine's temporary files: give a path to keep them."""
    if path is None:
        return Path(tempfile.mkdtemp(prefix="altoolkit_labels_"))
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"PROJECT_DIR must be a folder path or None, got {path!r}")
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ValueError(f"project folder {p} exists and is not a folder")
    p.mkdir(parents=True, exist_ok=True)
    return p


def list_images(folder: str | os.PathLike) -> list[str]:
    """Image files under ``folder`` (any depth), as sorted POSIX paths relative to it; these
    relative paths are the items' names in the label store, so labels survive moving the folder."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a folder")
    found = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not found:
        raise ValueError(f"image folder {root} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return found


def _read_folder(root: Path, relpaths: Sequence[str], size, channels: int, progress: bool, what: str) -> torch.Tensor:
    from PIL import Image

    paths = [root / r for r in relpaths]
    return _read_images(range(len(paths)), lambda i: Image.open(paths[i]), lambda i: paths[i], size, channels, what, progress, what)


# --------------------------------------------------------------------------- digits demo


@dataclass(frozen=True)
class DigitsDemo:
    """The digits demo folders and the pool's true labels (the simulated user's answers)."""

    folder: Path
    unlabeled_dir: Path
    heldout_dir: Path
    truth: dict[str, str]  # pool item -> class name
    classes: tuple[str, ...]


def write_digits_demo(folder: str | os.PathLike, seed: int = 0, heldout_fraction: float = 0.25, max_images: int | None = None) -> DigitsDemo:
    """Write scikit-learn's 8x8 digits as grayscale PNGs: ``folder/heldout/<digit>/*.png`` (a
    stratified ``heldout_fraction``), ``folder/unlabeled/*.png`` (the rest, names that do not
    reveal the class) and ``folder/truth.csv`` (the pool's true labels, for simulated clicks).

    Idempotent: a folder already written with the same arguments is reused as it is.
    ``max_images`` keeps a random subset (fixed by ``seed``) for quick runs.
    """
    from PIL import Image
    from sklearn.datasets import load_digits as _sk_load_digits

    seed = check_int("seed", seed, 0)
    if max_images is not None:
        max_images = check_int("max_images", max_images, 20)
    root = Path(folder).expanduser()
    manifest = root / "demo.json"
    params = {"seed": seed, "heldout_fraction": float(heldout_fraction), "max_images": max_images, "format": 1}
    classes = tuple(str(d) for d in range(10))
    unl, held, truth_file = root / "unlabeled", root / "heldout", root / "truth.csv"
    if manifest.exists() and truth_file.exists():
        try:
            same = json.loads(manifest.read_text()) == params
        except json.JSONDecodeError:
            same = False
        if same:
            with open(truth_file, newline="") as f:
                truth = {r["item"]: r["label"] for r in csv.DictReader(f)}
            return DigitsDemo(root, unl, held, truth, classes)
    bunch = _sk_load_digits()
    images = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    y = bunch.target.astype(np.int64)
    keep = np.arange(len(y))
    if max_images is not None and max_images < len(y):
        keep = np.sort(np.random.default_rng(derive_seed(seed, 0xD1)).permutation(len(y))[:max_images])
    pool_pos, held_pos = stratified_split(y[keep], heldout_fraction, seed)
    manifest.unlink(missing_ok=True)
    for sub in (unl, held):
        if sub.exists():
            for p in sub.rglob("*.png"):
                p.unlink()
    truth = {}
    for pos in held_pos:
        i = int(keep[pos])
        d = held / classes[y[i]]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i], mode="L").save(d / f"{i:04d}.png")
    unl.mkdir(parents=True, exist_ok=True)
    for pos in pool_pos:
        i = int(keep[pos])
        name = f"{i:04d}.png"
        Image.fromarray(images[i], mode="L").save(unl / name)
        truth[name] = classes[y[i]]
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["item", "label"])
    w.writerows(sorted(truth.items()))
    atomic_write(truth_file, buf.getvalue())
    manifest.write_text(json.dumps(params))
    return DigitsDemo(root, unl, held, dict(sorted(truth.items())), classes)


# --------------------------------------------------------------------------- the project


class LabelingProject:
    """A pool to label, an optional held-out labeled set, a label store, and how to train and
    select.  Build it with :meth:`from_folders` or :meth:`from_arrays`.

    Args:
        project_dir: folder of the label store (``labels.sqlite``); created if needed.
        items: one name per pool sample (its key in the store), e.g. the image's relative path.
        x_pool: the pool, ``(N, C, H, W)`` ``uint8`` images or float arrays.
        x_heldout, y_heldout: labeled held-out data for the accuracy after each cycle (may be
            ``None``: then no accuracy is measured).
        classes: class names, in the order of the labels ``0..C-1``.
        mean, std: per-channel normalisation of ``uint8`` images (default: the pool's statistics).
        model: model name (:func:`altoolkit.training.models.model_names`, including registered ones) or
            import path ``"package.module:function"`` (see :func:`altoolkit.register_model`).
        strategy, strategy_options: the selection strategy (``altoolkit.strategy_names()``).
        config: training settings (:class:`altoolkit.training.train.TrainConfig`).
        dynamic_weight: λ of the dynamic loss (Eq. 14); ``None``: 1 for strategies trained with it
            (``disal``), 0 otherwise.
        seed: seeds the cold start, model initialisations and training.
        annotator: name stored with each click (default: the OS user).
        progress: show tqdm bars while training.
    """

    def __init__(
        self,
        project_dir: str | os.PathLike | None,
        items: Sequence[str],
        x_pool,
        x_heldout=None,
        y_heldout=None,
        classes: Sequence[str] | None = None,
        *,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        model: str = "cnn",
        strategy: str = "disal",
        strategy_options: Mapping[str, Any] | None = None,
        config: TrainConfig | None = None,
        dynamic_weight: float | None = None,
        seed: int = 0,
        annotator: str | None = None,
        progress: bool = False,
    ):
        self.folder = project_folder(project_dir)
        self.model_name = check_model(model)
        self.strategy_options = dict(strategy_options or {})
        self.strategy = get_strategy(strategy, **self.strategy_options)
        if self.strategy.training_loss() is not None:
            raise ValueError(
                f"strategy {strategy!r} with options {dict(self.strategy_options)} trains with an unsupervised "
                "loss on the pool (e.g. TOD's consistency_weight), which a labelling project does not run; "
                "leave that option at 0 here (it is supported by the AL loop: alt.run_active_learning)"
            )
        if self.strategy.peeks_at_labels:
            raise ValueError(
                f"strategy {strategy!r} reads the pool's true labels (an oracle ablation); a labelling "
                "project has no true labels for its pool. Choose another strategy, e.g. 'disal' or 'entropy'"
            )
        self.seed = check_int("seed", seed, 0)
        self.progress = check_bool("progress", progress)
        if config is not None and not isinstance(config, TrainConfig):
            raise TypeError(f"config must be an altoolkit.TrainConfig, got {type(config).__name__}")
        cfg = config or TrainConfig()
        lam = default_dynamic_weight(self.strategy, dynamic_weight)
        self.config = dataclasses.replace(cfg, dynamic_weight=lam)
        items = [str(i) for i in items]
        if len(set(items)) != len(items):
            raise ValueError("items must be distinct names, one per pool sample")
        self.items = items
        self.position = {item: k for k, item in enumerate(items)}
        if (x_heldout is None) != (y_heldout is None):
            raise ValueError("x_heldout and y_heldout must be given together (or both left as None)")
        pool = torch.as_tensor(np.asarray(x_pool)) if not isinstance(x_pool, torch.Tensor) else x_pool
        if pool.shape[0] != len(items):
            raise ValueError(f"x_pool has {pool.shape[0]} samples but items names {len(items)}")
        if x_heldout is None:
            if classes is None:
                raise ValueError("classes=[...] is needed when no held-out labeled data gives them")
            x_heldout = pool[:0]
            y_heldout = torch.zeros(0, dtype=torch.long)
        if classes is None:
            classes = [str(c) for c in range(int(np.max(np.asarray(y_heldout))) + 1)]
        classes = [str(c) for c in classes]
        if mean is None and pool.dtype == torch.uint8:
            mean, std = _channel_stats(pool)
        # The pool's labels are unknown: y_train holds 0 as a placeholder and is overwritten with the
        # stored labels of the labelled items before any training (see dataset()).
        self.data = from_arrays(
            pool,
            torch.zeros(len(items), dtype=torch.long),
            x_heldout,
            y_heldout,
            num_classes=len(classes),
            name=self.folder.name or "labeling",
            class_names=classes,
            mean=mean,
            std=std,
        )
        self.classes = tuple(self.data.class_names)
        self.store = LabelStore(self.folder, classes=self.classes, annotator=annotator)
        self._previous_model = None
        self.last_result: TrainResult | None = None

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_folders(
        cls,
        project_dir: str | os.PathLike | None,
        image_dir: str | os.PathLike,
        heldout_dir: str | os.PathLike | None = None,
        *,
        image_size: int | tuple[int, int] = 32,
        channels: int = 3,
        classes: Sequence[str] | None = None,
        **kwargs,
    ) -> "LabelingProject":
        """Unlabeled images from ``image_dir`` (any layout; items are their relative paths) and,
        optionally, held-out labeled images from ``heldout_dir`` (one sub-folder per class; the
        sorted sub-folder names are the classes).  Images are converted to RGB (``channels=3``)
        or grayscale (1) and resized to ``image_size``.  Other keyword arguments go to
        :class:`LabelingProject`."""
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
        size = _check_image_size(image_size)
        progress = kwargs.get("progress", False)
        root = Path(image_dir).expanduser()
        items = list_images(root)
        x_pool = _read_folder(root, items, size, channels, progress, "unlabeled images")
        x_held = y_held = None
        if heldout_dir is not None:
            held = Path(heldout_dir).expanduser()
            if not held.is_dir():
                raise FileNotFoundError(
                    f"held-out folder {held} does not exist; it needs one sub-folder per class:\n    {held}/<class_a>/img1.png\n    {held}/<class_b>/img2.png"
                )
            found = sorted(p.name for p in held.iterdir() if p.is_dir() and not p.name.startswith("."))
            if len(found) < 2:
                raise ValueError(f"held-out folder {held} has {len(found)} class sub-folders ({found}); it needs one per class, at least 2")
            if classes is not None and list(classes) != found:
                raise ValueError(f"classes {list(classes)} differ from the held-out sub-folders {found}")
            classes = found
            rel, labels = [], []
            for k, name in enumerate(found):
                files = list_images(held / name)
                rel += [f"{name}/{f}" for f in files]
                labels += [k] * len(files)
            x_held = _read_folder(held, rel, size, channels, progress, "held-out images")
            y_held = torch.tensor(labels, dtype=torch.long)
        return cls(project_dir, items, x_pool, x_held, y_held, classes, **kwargs)

    @classmethod
    def from_arrays(
        cls,
        project_dir: str | os.PathLike | None,
        x_pool,
        x_heldout=None,
        y_heldout=None,
        *,
        class_names: Sequence[str] | None = None,
        item_ids: Sequence[str] | None = None,
        **kwargs,
    ) -> "LabelingProject":
        """A pool given as an array (``(N, D)`` vectors or ``(N, C, H, W)`` images, float or
        ``uint8``); items are named ``"0"``, ``"1"``, ... unless ``item_ids`` are given."""
        n = len(x_pool)
        items = list(item_ids) if item_ids is not None else [str(i) for i in range(n)]
        return cls(project_dir, items, x_pool, x_heldout, y_heldout, class_names, **kwargs)

    # ------------------------------------------------------------------ state

    def __repr__(self) -> str:
        return (
            f"LabelingProject(pool={len(self.items)} images of shape {self.data.input_shape}, "
            f"classes={len(self.classes)}, held-out={self.data.n_test}, "
            f"labels={self.store.num_labels()}, skipped={len(self.store.skipped())}, "
            f"batches={len(self.store.batches())}, strategy={self.strategy.name!r}, "
            f"store={str(self.store.path)!r})"
        )

    def labeled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Pool positions of the labelled items (sorted) and their labels (class indices), from
        the store.  Labels of items that are not in this pool are ignored."""
        index = {c: k for k, c in enumerate(self.classes)}
        pairs = sorted((self.position[i], index[c]) for i, c in self.store.labels().items() if i in self.position)
        pos = torch.tensor([p for p, _ in pairs], dtype=torch.long)
        lab = torch.tensor([c for _, c in pairs], dtype=torch.long)
        return pos, lab

    def unlabeled(self) -> torch.Tensor:
        """Pool positions that are neither labelled nor skipped (the candidates of a selection)."""
        decided = set(self.store.labels()) | self.store.skipped()
        return torch.tensor([k for k, item in enumerate(self.items) if item not in decided], dtype=torch.long)

    def dataset(self) -> ALDataset:
        """The pool as an :class:`ALDataset` whose ``y_train`` holds the stored labels for the
        labelled items (0, a placeholder never read, for the others); the test split is the
        held-out set."""
        pos, lab = self.labeled()
        y = torch.zeros(len(self.items), dtype=torch.long)
        y[pos] = lab
        return dataclasses.replace(self.data, y_train=y)

    def item_image(self, item: str) -> np.ndarray:
        """The item's image scaled to [0, 1]: ``(H, W)`` or ``(H, W, 3)``, for display."""
        if item not in self.position:
            raise KeyError(f"item {item!r} is not in this project's pool")
        return display_image(self.data, self.position[item])

    # ------------------------------------------------------------------ cycles

    def train(self, cycle: int | None = None) -> tuple[TrainResult, float | None]:
        """Train a fresh model on the stored labels; returns the result and the held-out
        accuracy (``None`` without held-out data).  ``cycle`` (default: the number of batches so
        far) seeds the initialisation and the training."""
        pos, lab = self.labeled()
        if len(pos) == 0:
            raise ValueError("no labels in the store yet: label some images first")
        cycle = len(self.store.batches()) if cycle is None else check_int("cycle", cycle, 0)
        ds = self.dataset()
        result = train_fresh(
            self.model_name,
            ds,
            pos,
            self.config,
            self.seed,
            cycle,
            labels=lab,
            checkpoint_epochs=self.strategy.checkpoint_epochs(self.config.epochs),
            progress=self.progress,
            desc=f"cycle {cycle}: train on {len(pos)} labels",
        )
        acc = (
            evaluate(result.model, ds.x_test, ds.y_test, ds.to_input, device=self.config.device, num_classes=ds.num_classes, name=self.model_name)
            if ds.n_test
            else None
        )
        self.last_result = result
        return result, acc

    def next_batch(self, k: int) -> Batch:
        """The batch to label now: the open batch if there is one (resume), otherwise a new one.

        A new batch trains on the stored labels and takes the ``k`` pool images the strategy
        ranks first (cold start: ``k`` random images while the labels cover fewer than two
        classes), and is saved in the store before it is returned.

        Raises:
            NothingToLabel: every pool image is labelled or skipped.
        """
        k = check_int("k (TOP_K)", k, 1)
        open_batch = self.store.open_batch()
        if open_batch is not None:
            return open_batch
        candidates = self.unlabeled()
        if len(candidates) == 0:
            raise NothingToLabel(f"nothing left to label: all {len(self.items)} pool images are labelled or skipped")
        k = min(k, len(candidates))
        cycle = len(self.store.batches())
        pos, lab = self.labeled()
        info: dict[str, Any] = {
            "n_labeled": int(len(pos)),
            "model": self.model_name,
            "epochs": self.config.epochs,
            "dynamic_weight": self.config.dynamic_weight,
            "seed": self.seed,
            "options": self.strategy.options(),
        }
        if len(torch.unique(lab)) < 2:
            order = np.random.default_rng(derive_seed(self.seed, cycle, 0xC0)).permutation(len(candidates))[:k]
            chosen = candidates[torch.from_numpy(order)]
            scores = [None] * k
            name = "random (cold start)"
            info.update(cold_start=True, test_acc=None)
        else:
            t0 = time.perf_counter()
            result, acc = self.train(cycle)
            t1 = time.perf_counter()
            ds = self.dataset()
            ctx = SelectionContext(
                dataset=ds,
                model=result.model,
                labeled=pos,
                unlabeled=candidates,
                train_result=result,
                previous_cycle_model=self._previous_model,
                initial_labeled=self._first_labels(),
                validation=(ds.x_test, ds.y_test) if ds.n_test else None,
                seed=derive_seed(self.seed, cycle, 3),
                device=self.config.device,
                progress=self.progress,
            )
            name = self.strategy.name
            if self.strategy.scores_per_sample():
                all_scores = checked_scores(self.strategy.score(ctx), len(candidates), name)
                sel = checked_positions(self.strategy.select_from_scores(all_scores, k), len(candidates), k, name)
                scores = [float(s) for s in all_scores[sel]]
            else:
                sel = checked_positions(self.strategy.select(ctx, k), len(candidates), k, name)
                scores = [None] * len(sel)
            chosen = candidates[sel]
            self._previous_model = result.model
            info.update(cold_start=False, test_acc=acc, train_seconds=t1 - t0, score_seconds=time.perf_counter() - t1)
        batch, _created = self.store.create_batch([self.items[int(p)] for p in chosen], scores, name, info)
        return batch

    def _first_labels(self) -> torch.Tensor | None:
        """Pool positions labelled from the first batch (ISAL's first labeled set L1)."""
        batches = self.store.batches()
        if not batches:
            return None
        labels = self.store.labels()
        first = [self.position[i] for i in batches[0].items if i in labels and i in self.position]
        return torch.tensor(sorted(first), dtype=torch.long) if first else None

    def history(self) -> list[dict[str, Any]]:
        """One row per batch: cycle, strategy, labels the model was trained on, held-out
        accuracy (``None`` at a cold start), and how many of the batch are labelled/skipped."""
        labels, skipped = self.store.labels(), self.store.skipped()
        rows = []
        for b in self.store.batches():
            rows.append(
                {
                    "cycle": b.cycle,
                    "strategy": b.strategy,
                    "size": len(b),
                    "n_labeled": b.info.get("n_labeled"),
                    "test_acc": b.info.get("test_acc"),
                    "labeled": sum(i in labels for i in b.items),
                    "skipped": sum(i in skipped for i in b.items),
                }
            )
        return rows
