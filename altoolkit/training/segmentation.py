"""Training and evaluating segmentation networks: per-pixel cross-entropy plus DISAL's dynamic loss
per pixel (:class:`altoolkit.math.segmentation.PixelDynamicObjective`), and mIoU.

:func:`train_segmentation_model` is :func:`altoolkit.training.train.train_model` with a mask in
the place of a class label: the same :class:`~altoolkit.training.train.TrainConfig` (SGD with
momentum and weight decay, lr schedule, epoch cut into batches by
:func:`~altoolkit.training.train.epoch_batches`), the same seeding (shuffling from a generator
seeded by ``seed``, the caller's RNG state untouched) and the same
:class:`~altoolkit.training.train.TrainResult` (θ_T, θ_{T-1}, checkpoints), so every strategy that
reads a TrainResult reads this one.  DISAL §4.2 trains "without the application of data
augmentation": ``augment`` must be ``"none"``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..math.segmentation import PixelDynamicObjective, confusion_matrix, iou_per_class, mean_iou, pixel_accuracy
from ..util.checks import check_int
from ..util.progress import tqdm
from .inference import batches, eval_mode
from ..util.modules import state_copy
from .train import TrainConfig, TrainingDivergedError, TrainResult, _make_scheduler, epoch_batches

__all__ = ["SegmentationScores", "train_segmentation_model", "evaluate_segmentation", "predict_masks"]


@dataclass
class SegmentationScores:
    """mIoU over the classes present, IoU per class (NaN: a class neither in the masks nor in the
    predictions), pixel accuracy and the confusion matrix (rows true, columns predicted)."""

    miou: float
    iou_per_class: list[float]
    pixel_accuracy: float
    confusion: np.ndarray


@torch.inference_mode()
def predict_masks(
    model: nn.Module, x: torch.Tensor, to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(), batch_size: int = 64, device: str = "cpu"
) -> torch.Tensor:
    """``(N, H, W)`` the predicted class of every pixel (``uint8`` for up to 256 classes), in eval mode."""
    out: torch.Tensor | None = None
    with eval_mode(model):
        for sl in batches(int(x.shape[0]), batch_size):
            pred = model(to_input(x[sl]).to(device)).argmax(dim=1).cpu()
            if out is None:
                out = torch.empty((x.shape[0], *pred.shape[1:]), dtype=torch.uint8 if model_classes_fit(pred) else torch.long)
            out[sl] = pred.to(out.dtype)
    return out if out is not None else torch.empty(0, dtype=torch.uint8)


def model_classes_fit(pred: torch.Tensor) -> bool:
    return bool(pred.numel() == 0 or int(pred.max()) < 256)


@torch.inference_mode()
def evaluate_segmentation(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    ignore_index: int = 255,
    batch_size: int = 64,
    device: str = "cpu",
) -> SegmentationScores:
    """mIoU of ``model`` on images ``x`` with masks ``y``: one confusion matrix over all their
    pixels (:func:`altoolkit.math.segmentation.confusion_matrix`, as fyu/drn ``segment.py``
    accumulates ``fast_hist`` over the validation set), in eval mode (the mode is restored)."""
    cm = torch.zeros((num_classes, num_classes), dtype=torch.long)
    with eval_mode(model):
        for sl in batches(int(x.shape[0]), batch_size):
            pred = model(to_input(x[sl]).to(device)).argmax(dim=1).cpu()
            cm += confusion_matrix(pred, y[sl], num_classes, ignore_index)
    m = cm.numpy()
    return SegmentationScores(mean_iou(m), [float(v) for v in iou_per_class(m)], pixel_accuracy(m), m)


def _check_masks(x: torch.Tensor, y: torch.Tensor, num_classes: int, ignore_index: int) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("x and y must be torch tensors (images and masks)")
    if x.dim() != 4 or y.dim() != 3 or x.shape[0] != y.shape[0] or tuple(x.shape[2:]) != tuple(y.shape[1:]):
        raise ValueError(f"x must be images (N, C, H, W) and y masks (N, H, W) of the same N, H, W; got x {tuple(x.shape)}, y {tuple(y.shape)}")
    if x.shape[0] == 0:
        raise ValueError("the labeled set is empty: training needs at least one labeled image")
    bad = (y.long() != ignore_index) & ((y.long() < 0) | (y.long() >= num_classes))
    if bool(bad.any()):
        raise ValueError(f"y holds value {int(y.long()[bad][0])}, neither a class 0..{num_classes - 1} nor ignore_index {ignore_index}")


def _check_output(logits: torch.Tensor, x: torch.Tensor, num_classes: int) -> None:
    """A segmentation model's output is per-pixel logits ``(B, num_classes, H, W)`` at the input's size."""
    want = (num_classes, *x.shape[2:])
    if not isinstance(logits, torch.Tensor) or logits.dim() != 4 or tuple(logits.shape[1:]) != want:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"a segmentation model must return per-pixel logits (batch, {num_classes}, {x.shape[2]}, {x.shape[3]}); this one returned {got}. "
            "Use model='unet' (or 'fcn_resnet50'), or a model of your own with that output"
        )


def _train_epoch(model, x, objective, opt, perm, epoch, lr_now, cfg, to_input, device, num_classes) -> None:
    """One epoch over the labeled images in the order ``perm``, cut as ``cfg.batch_split`` says."""
    model.train()
    for s, stop in epoch_batches(int(x.shape[0]), cfg.batch_size, cfg.batch_split):
        idx = perm[s:stop]
        logits = model(to_input(x[idx]).to(device))
        if epoch == 1 and s == 0:
            _check_output(logits, x, num_classes)
        loss = objective.step_loss(idx, logits)
        if not bool(torch.isfinite(loss.detach())):
            raise TrainingDivergedError(cfg.dynamic_weight, lr_now, epoch, float(loss.detach()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def train_segmentation_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig | None = None,
    *,
    num_classes: int,
    seed: int = 0,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    ignore_index: int = 255,
    checkpoint_epochs: Sequence[int] = (),
    progress: bool = True,
    desc: str = "train",
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place on images ``x`` and masks ``y``; return a :class:`TrainResult`.

    The loss of a batch is the mean over its labeled pixels of CE + λ·KL(f̄_(t) || f_θ) (DISAL
    Eq. 12-14 per pixel, λ = ``config.dynamic_weight``;
    :class:`~altoolkit.math.segmentation.PixelDynamicObjective`).  ``history`` holds per epoch
    ``epoch, lr, loss, ce_loss, dynamic_loss`` and ``train_acc`` (the pixel accuracy of the epoch's
    predictions).

    Raises:
        TrainingDivergedError: the loss became NaN/inf (names λ, lr and the epoch).
        ValueError: shapes that do not match, mask values that are no class, ``augment`` other
            than ``"none"``.
    """
    cfg = config or TrainConfig()
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(cfg).__name__}")
    if cfg.augment != "none":
        raise ValueError(f"augment must be 'none' for segmentation (DISAL §4.2 trains without augmentation), got {cfg.augment!r}")
    num_classes = check_int("num_classes", num_classes, 2)
    _check_masks(x, y, num_classes, ignore_index)
    bad = [e for e in checkpoint_epochs if not (isinstance(e, int) and 1 <= e <= cfg.epochs)]
    if bad:
        raise ValueError(f"checkpoint_epochs must be integers in [1, {cfg.epochs}], got {bad}")
    n = int(x.shape[0])
    device = torch.device(cfg.device)
    model.to(device)
    history: dict[str, list[float]] = {k: [] for k in ("epoch", "lr", "loss", "ce_loss", "dynamic_loss", "train_acc")}
    checkpoints: dict[int, tuple[dict[str, torch.Tensor], float]] = {}
    objective = PixelDynamicObjective(y, num_classes, cfg.dynamic_weight, ignore_index, device)
    prev_state = state_copy(model.state_dict())
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout masks, if the model has any
        gen = torch.Generator().manual_seed(seed)  # shuffling
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        sched = _make_scheduler(opt, cfg)
        bar = tqdm(range(1, cfg.epochs + 1), desc=desc, disable=not progress, leave=False)
        for epoch in bar:
            if epoch == cfg.epochs:
                prev_state = state_copy(model.state_dict())  # θ_{T-1}
            lr_now = opt.param_groups[0]["lr"]
            _train_epoch(model, x, objective, opt, torch.randperm(n, generator=gen), epoch, lr_now, cfg, to_input, device, num_classes)
            ce, kl, acc = objective.end_epoch()
            if sched is not None:
                sched.step()
            for key, value in zip(history, (epoch, lr_now, ce + cfg.dynamic_weight * kl, ce, kl, acc)):
                history[key].append(value)
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}")
            if epoch in checkpoint_epochs:
                checkpoints[epoch] = (state_copy(model.state_dict()), lr_now)
            if on_epoch_end is not None:
                on_epoch_end(epoch, model)
        bar.close()
    model.eval()
    return TrainResult(model, prev_state, history, checkpoints=checkpoints, seconds=time.perf_counter() - t0)
