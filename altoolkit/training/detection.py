"""Training and evaluating detectors: torchvision FCOS's own loss (:meth:`FCOSDetector.losses
<altoolkit.training.detection_models.FCOSDetector.losses>`), optionally plus DISAL's dynamic loss
per location (:class:`altoolkit.math.detection.LocationDynamicTerm`), and COCO AP by pycocotools.

:func:`train_detection_model` is :func:`altoolkit.training.train.train_model` with boxes in the
place of a class label: the same :class:`~altoolkit.training.train.TrainConfig` (SGD with
momentum and weight decay, lr schedule, epoch cut into batches by
:func:`~altoolkit.training.train.epoch_batches`), the same seeding (shuffling and flips from a
generator seeded by ``seed``, the caller's RNG state untouched) and the same
:class:`~altoolkit.training.train.TrainResult` (θ_T, θ_{T-1}, checkpoints), so every strategy that
reads a TrainResult reads this one.  ``augment="flip"`` flips an image and its boxes horizontally
with probability 1/2 (mmdetection's ``RandomFlip(flip_ratio=0.5)`` of ISAL's training pipeline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..math.detection import LocationDynamicTerm, coco_average_precision
from ..util.modules import batches, eval_mode, state_copy
from ..util.progress import tqdm
from .detection_models import is_detector
from .train import TrainConfig, TrainingDivergedError, TrainResult, _make_scheduler, epoch_batches

__all__ = ["DetectionScores", "train_detection_model", "predict_detections", "evaluate_detection", "DetectorOutputError"]

#: Augmentations the detection trainer takes (boxes follow a flip; a crop would cut boxes).
DETECTION_AUGMENTATIONS = ("none", "flip")


class DetectorOutputError(ValueError):
    """A model of the detection task does not behave as a detector (no ``losses``/``detections``,
    or a non-finite loss or score before any update)."""


@dataclass
class DetectionScores:
    """COCO AP@[.50:.95], AP50 and AP75, AP per class (``None``: no test box of that class), the
    mean number of detections per test image, and the detections themselves."""

    ap: float
    ap50: float
    ap75: float
    ap_per_class: list[float | None]
    detections_per_image: float
    detections: list[dict[str, torch.Tensor]]


def _check_detector(model: nn.Module) -> None:
    if not is_detector(model):
        raise DetectorOutputError(
            f"the detection task needs a detector (methods losses, image_losses, detections, embed), got a {type(model).__name__}; "
            "use model='fcos_small' or 'fcos_resnet50_fpn' (altoolkit.training.detection_models.FCOSDetector wraps any torchvision FCOS)"
        )


@torch.inference_mode()
def predict_detections(
    model: Any, x: torch.Tensor, to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(), batch_size: int = 64, device: str = "cpu"
) -> list[dict[str, torch.Tensor]]:
    """Per image ``{"boxes", "scores", "labels"}`` (CPU tensors), in eval mode (the mode is restored)."""
    _check_detector(model)
    out: list[dict[str, torch.Tensor]] = []
    with eval_mode(model):
        for sl in batches(int(x.shape[0]), batch_size):
            for d in model.detections(model(to_input(x[sl]).to(device))):
                if not bool(torch.isfinite(d["scores"]).all()) or not bool(torch.isfinite(d["boxes"]).all()):
                    raise DetectorOutputError(f"model {type(model).__name__} returned non-finite detections; training diverged (lower lr)")
                out.append({k: v.detach().cpu() for k, v in d.items()})
    return out


def evaluate_detection(
    model: nn.Module,
    x: torch.Tensor,
    y: Any,
    num_classes: int,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    batch_size: int = 64,
    device: str = "cpu",
) -> DetectionScores:
    """COCO AP of ``model`` on images ``x`` with targets ``y`` (:class:`~altoolkit.data.BoxTargets`),
    by :func:`altoolkit.math.detection.coco_average_precision`.  A detector that returns nothing
    scores AP 0."""
    dets = predict_detections(model, x, to_input, batch_size, device)
    targets = y.as_dicts() if hasattr(y, "as_dicts") else list(y)
    ap = coco_average_precision(dets, targets, num_classes)
    per_image = sum(int(d["scores"].numel()) for d in dets) / max(1, len(dets))
    return DetectionScores(ap["ap"], ap["ap50"], ap["ap75"], ap["ap_per_class"], per_image, dets)


def _flip(xb: torch.Tensor, targets: list[dict[str, torch.Tensor]], gen: torch.Generator) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Flip each image and its boxes horizontally with probability 1/2 (x0' = W − x1, x1' = W − x0)."""
    flip = torch.rand(xb.shape[0], generator=gen) < 0.5
    if not bool(flip.any()):
        return xb, targets
    w = float(xb.shape[-1])
    xb = torch.where(flip.to(xb.device)[:, None, None, None], xb.flip(-1), xb)
    out = []
    for t, f in zip(targets, flip.tolist()):
        b = t["boxes"]
        out.append({"boxes": torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], dim=1) if f else b, "labels": t["labels"]})
    return xb, out


def _train_epoch(model, x, y, dynamic, opt, perm, epoch, lr_now, cfg, to_input, device, gen) -> dict[str, float]:
    """One epoch over the labeled images in the order ``perm``; returns the epoch's mean losses."""
    model.train()
    sums = {"classification": 0.0, "bbox_regression": 0.0, "bbox_ctrness": 0.0}
    steps = 0
    for s, stop in epoch_batches(int(x.shape[0]), cfg.batch_size, cfg.batch_split):
        idx = perm[s:stop]
        xb, tb = to_input(x[idx]).to(device), [{k: v.to(device) for k, v in t.items()} for t in y[idx].as_dicts()]
        if cfg.augment == "flip":
            xb, tb = _flip(xb, tb, gen)
        out = model(xb)
        parts = model.losses(out, tb)
        dyn = dynamic.step_loss(idx, out["cls_logits"])
        loss = sum(parts.values()) + dyn
        if not bool(torch.isfinite(loss.detach())):
            raise TrainingDivergedError(cfg.dynamic_weight, lr_now, epoch, float(loss.detach()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
        for k, v in parts.items():
            sums[k] += float(v.detach())
    return {k: v / max(1, steps) for k, v in sums.items()}


def _check_training(model: nn.Module, x: torch.Tensor, y: Any, cfg: TrainConfig, checkpoint_epochs: Sequence[int]) -> None:
    _check_detector(model)
    if cfg.augment not in DETECTION_AUGMENTATIONS:
        raise ValueError(f"augment must be one of {', '.join(DETECTION_AUGMENTATIONS)} for detection (a crop would cut boxes), got {cfg.augment!r}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be images (N, C, H, W), got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if not hasattr(y, "as_dicts") or len(y) != x.shape[0]:
        raise ValueError(f"y must be a BoxTargets with one entry per image ({x.shape[0]}), got {type(y).__name__}")
    if x.shape[0] == 0:
        raise ValueError("the labeled set is empty: training needs at least one labeled image")
    bad = [e for e in checkpoint_epochs if not (isinstance(e, int) and 1 <= e <= cfg.epochs)]
    if bad:
        raise ValueError(f"checkpoint_epochs must be integers in [1, {cfg.epochs}], got {bad}")


def train_detection_model(
    model: nn.Module,
    x: torch.Tensor,
    y: Any,
    config: TrainConfig | None = None,
    *,
    seed: int = 0,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    checkpoint_epochs: Sequence[int] = (),
    progress: bool = True,
    desc: str = "train",
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
) -> TrainResult:
    """Train the detector ``model`` in place on images ``x`` with boxes ``y``; return a :class:`TrainResult`.

    The loss of a batch is torchvision FCOS's (focal + GIoU + centre-ness, each divided by the
    batch's foreground locations) plus λ·(DISAL's dynamic loss per location,
    :class:`~altoolkit.math.detection.LocationDynamicTerm`) with λ = ``config.dynamic_weight``.
    ``history`` holds per epoch ``epoch, lr``, the three FCOS terms ``classification,
    bbox_regression, bbox_ctrness`` (means over the epoch's steps), ``dynamic_loss`` (the mean
    KL(f̄_t || q) per location) and ``loss`` (their sum with λ·dynamic_loss).  Images without boxes
    train as background everywhere.

    Raises:
        TrainingDivergedError: the loss became NaN/inf (names λ, lr and the epoch).
        DetectorOutputError: ``model`` is not a detector.
        ValueError: shapes that do not match, an augmentation other than ``none``/``flip``.
    """
    cfg = config or TrainConfig()
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(cfg).__name__}")
    _check_training(model, x, y, cfg, checkpoint_epochs)
    n = int(x.shape[0])
    device = torch.device(cfg.device)
    model.to(device)
    keys = ("epoch", "lr", "loss", "classification", "bbox_regression", "bbox_ctrness", "dynamic_loss")
    history: dict[str, list[float]] = {k: [] for k in keys}
    checkpoints: dict[int, tuple[dict[str, torch.Tensor], float]] = {}
    dynamic = LocationDynamicTerm(n, cfg.dynamic_weight)
    prev_state = state_copy(model.state_dict())
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)  # shuffling and flips
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        sched = _make_scheduler(opt, cfg)
        bar = tqdm(range(1, cfg.epochs + 1), desc=desc, disable=not progress, leave=False)
        for epoch in bar:
            if epoch == cfg.epochs:
                prev_state = state_copy(model.state_dict())  # θ_{T-1}
            lr_now = opt.param_groups[0]["lr"]
            means = _train_epoch(model, x, y, dynamic, opt, torch.randperm(n, generator=gen), epoch, lr_now, cfg, to_input, device, gen)
            kl = dynamic.end_epoch()
            if sched is not None:
                sched.step()
            total = sum(means.values()) + cfg.dynamic_weight * kl
            for key, value in [("epoch", epoch), ("lr", lr_now), ("loss", total), *means.items(), ("dynamic_loss", kl)]:
                history[key].append(float(value))
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}")
            if epoch in checkpoint_epochs:
                checkpoints[epoch] = (state_copy(model.state_dict()), lr_now)
            if on_epoch_end is not None:
                on_epoch_end(epoch, model)
        bar.close()
    model.eval()
    return TrainResult(model, prev_state, history, checkpoints=checkpoints, seconds=time.perf_counter() - t0)
