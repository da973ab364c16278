"""The per-image reductions and the metric of the detection task.

FCOS (torchvision's, Tian et al. 2019) predicts at every location ℓ of its feature levels a
score per class through its own sigmoid (a focal-loss classifier, no background class), a box
and a centre-ness.  Its class output at ℓ is therefore a product of K independent Bernoulli
distributions, not a softmax; what DISAL and the uncertainty baseline need is reduced from that:

- :func:`location_kl`: DISAL's KL(f_{T-1} || f_T) at every location.  The KL of two products of
  independent Bernoullis is the sum over classes of the Bernoulli KLs,
  Σ_c [p_c log(p_c/q_c) + (1 − p_c) log((1 − p_c)/(1 − q_c))], p = σ(z_{T-1}), q = σ(z_T),
  computed from the logits with ``logsigmoid`` (no log of 0).
- :func:`reduce_locations`: one score per image, the **mean** over its locations (the KL of the
  image's product distribution over all locations divided by their number: the same ranking as
  the sum for images of one size, as the segmentation task reduces pixels) or the **max** (the
  most unstable location, the ablation).
- :func:`detection_entropy`: the uncertainty baseline, the binary entropy of each detection's
  score −s log s − (1 − s) log(1 − s) reduced per image by its max (dragonlzm/ISAL
  ``detection/src/mining/methods/hitl_mining_algorithm.py`` ``MaxEntropyMiningAlgorithm.value``:
  a 1-D confidence vector becomes ``[1 − s, s]``, the image's value is the max) or mean; an
  image without detections scores 0 (nothing uncertain was detected).
- :func:`pseudo_targets`: UUIC's pseudo-ground-truth for detection (ISAL Algorithm 1, lines 5-7:
  "Filter the predicted bboxes with a given threshold, select the remaining bboxes as P"): the
  detections with score ≥ ``score_threshold`` (dragonlzm/ISAL
  ``detection/src/mining/methods/mining_algorithm.py`` ``load_pseudo_label_bbox`` skips
  ``score < score_thresh``; ``noised_score_thresh`` defaults to 0.5 in ``test_calc_influ.py``).
- :func:`coco_average_precision`: COCO-style AP (IoU 0.50:0.95) and AP50 by pycocotools'
  ``COCOeval``, the metric of ISAL §4.2 (VOC is reported as its AP50, "mAP").
- :class:`LocationDynamicTerm`: DISAL's dynamic loss (Eq. 12-14) per location and class with a
  Bernoulli in place of the softmax (see its docstring).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..util.checks import check_choice, check_float

__all__ = [
    "LOCATION_REDUCTIONS",
    "location_kl",
    "reduce_locations",
    "location_kl_scores",
    "binary_entropy",
    "detection_entropy",
    "pseudo_targets",
    "coco_average_precision",
    "LocationDynamicTerm",
    "detections_to_numpy",
    "loss_directional",
]

#: Per-image reductions of a per-location score.
LOCATION_REDUCTIONS: tuple[str, ...] = ("mean", "max")


def location_kl(logits_prev: torch.Tensor, logits_now: torch.Tensor) -> torch.Tensor:
    """``(B, L)``: Σ_c KL(Bernoulli(σ(z_prev)) || Bernoulli(σ(z_now))) at every location, from
    class logits ``(B, L, K)`` (float64 inside; never negative)."""
    if logits_prev.shape != logits_now.shape or logits_prev.dim() != 3:
        raise ValueError(f"logits must both be (B, L, K), got {tuple(logits_prev.shape)} and {tuple(logits_now.shape)}")
    a, b = logits_prev.double(), logits_now.double()
    p = torch.sigmoid(a)
    kl = p * (F.logsigmoid(a) - F.logsigmoid(b)) + (1.0 - p) * (F.logsigmoid(-a) - F.logsigmoid(-b))
    return kl.sum(dim=2).clamp_min(0.0)


def reduce_locations(values: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``(B,)``: the mean or max of ``(B, L)`` per-location values over each image's locations."""
    check_choice("reduction", reduction, LOCATION_REDUCTIONS)
    flat = values.reshape(values.shape[0], -1)
    return flat.mean(dim=1) if reduction == "mean" else flat.max(dim=1).values


def location_kl_scores(out_prev: Mapping[str, torch.Tensor], out_now: Mapping[str, torch.Tensor], reduction: str = "mean") -> torch.Tensor:
    """DISAL's per-image score from two detector outputs (``"cls_logits"`` ``(B, L, K)`` each)."""
    return reduce_locations(location_kl(out_prev["cls_logits"], out_now["cls_logits"]), reduction).float()


def binary_entropy(s: torch.Tensor) -> torch.Tensor:
    """−s log s − (1 − s) log(1 − s), elementwise (0 at s = 0 and s = 1)."""
    s = s.double().clamp(0.0, 1.0)
    return -(torch.xlogy(s, s) + torch.xlogy(1.0 - s, 1.0 - s))


def detection_entropy(detections: Sequence[Mapping[str, torch.Tensor]], reduction: str = "max") -> torch.Tensor:
    """``(B,)``: the max (or mean) binary entropy of the scores of each image's detections; 0 for
    an image without detections."""
    check_choice("reduction", reduction, LOCATION_REDUCTIONS)
    out = torch.zeros(len(detections), dtype=torch.float64)
    for i, d in enumerate(detections):
        h = binary_entropy(d["scores"])
        if h.numel():
            out[i] = h.max() if reduction == "max" else h.mean()
    return out


def pseudo_targets(detections: Sequence[Mapping[str, torch.Tensor]], score_threshold: float = 0.5) -> list[dict[str, torch.Tensor]]:
    """UUIC's pseudo-ground-truth: per image the detected boxes and classes with score ≥
    ``score_threshold`` (possibly none)."""
    score_threshold = check_float("score_threshold", score_threshold, 0.0, 1.0)
    out = []
    for d in detections:
        keep = d["scores"] >= score_threshold
        out.append({"boxes": d["boxes"][keep].detach(), "labels": d["labels"][keep].detach().long()})
    return out


def _coco_json(targets: Sequence[Mapping[str, torch.Tensor]], num_classes: int) -> dict[str, Any]:
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i, t in enumerate(targets):
        images.append({"id": i + 1})
        for box, label in zip(t["boxes"].tolist(), t["labels"].tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(label) + 1, "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": 0}
            )
    return {"images": images, "annotations": annotations, "categories": [{"id": c + 1} for c in range(num_classes)]}


def coco_average_precision(detections: Sequence[Mapping[str, torch.Tensor]], targets: Sequence[Mapping[str, torch.Tensor]], num_classes: int) -> dict[str, Any]:
    """COCO AP of ``detections`` (per image ``{"boxes", "scores", "labels"}``) against ``targets``
    (per image ``{"boxes", "labels"}``), by pycocotools' ``COCOeval`` (``iouType="bbox"``,
    100 detections per image, all areas): ``{"ap": AP@[.50:.95], "ap50", "ap75",
    "ap_per_class": AP@[.50:.95] of each class (``None`` for a class without ground-truth boxes)}``.
    Boxes are ``(x0, y0, x1, y1)`` in pixel edges, given to COCO as ``[x0, y0, x1 - x0, y1 - y0]``.
    With no detection at all every AP is 0.

    Raises:
        ValueError: the targets hold no box (AP is undefined), or the lengths differ.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(detections) != len(targets):
        raise ValueError(f"{len(detections)} images of detections but {len(targets)} of targets; they must match")
    gt_json = _coco_json(targets, num_classes)
    if not gt_json["annotations"]:
        raise ValueError("the targets hold no box: average precision is undefined (evaluate on images with objects)")
    results = []
    for i, d in enumerate(detections):
        for box, score, label in zip(d["boxes"].tolist(), d["scores"].tolist(), d["labels"].tolist()):
            xywh = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
            results.append({"image_id": i + 1, "category_id": int(label) + 1, "bbox": xywh, "score": float(score)})
    has_gt = {a["category_id"] - 1 for a in gt_json["annotations"]}
    if not results:
        return {"ap": 0.0, "ap50": 0.0, "ap75": 0.0, "ap_per_class": [0.0 if c in has_gt else None for c in range(num_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        gt = COCO()
        gt.dataset = gt_json
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"][:, :, :, 0, -1]  # (IoU thresholds, recall points, classes), all areas, 100 dets
    per_class: list[float | None] = []
    for c in range(num_classes):
        p = precision[:, :, c]
        per_class.append(float(p[p > -1].mean()) if c in has_gt and (p > -1).any() else None)
    return {"ap": float(max(ev.stats[0], 0.0)), "ap50": float(max(ev.stats[1], 0.0)), "ap75": float(max(ev.stats[2], 0.0)), "ap_per_class": per_class}


class LocationDynamicTerm:
    """DISAL's dynamic loss (Eq. 12-14) at every location and class of a detector whose classes
    are independent sigmoids (FCOS), the task-agnostic extension DISAL claims.

    With a Bernoulli per class in place of the softmax, each location of each labeled image keeps
    a running mean f̄ of its class probabilities q = σ(z), updated once per epoch from the step
    that visits the image (Eq. 12: f̄_t = f̄_{t-1}·c/(c+1) + q_t/(c+1), c = epochs done), and the
    added loss is λ·KL(f̄_t || q) with f̄_t held fixed.  Its gradient in the logits is
    λ·(q − f̄_t) = λ·c/(c+1)·(q − f̄_{t-1}): that of λ·c/(c+1)·BCE(z, f̄_{t-1}) (this step's own
    prediction inside f̄_t contributes no gradient, as in the classification derivation).  A step
    therefore costs one binary cross-entropy against the stored f̄_{t-1}.  Reduction: the sum over
    classes, the mean over the batch's locations.  Memory: ``(n, L, K)`` floats (5.8 kB per
    48x48 scene with ``fcos_small``).
    """

    def __init__(self, n: int, dynamic_weight: float):
        self.n, self.lam = int(n), check_float("dynamic_weight (λ)", dynamic_weight, 0.0)
        self.mean: torch.Tensor | None = None  # (n, L, K), allocated at the first step
        self.epochs_done = 0
        self._visited = torch.zeros(self.n, dtype=torch.bool)
        self._kl_sum, self._locations = 0.0, 0

    def step_loss(self, index: torch.Tensor, cls_logits: torch.Tensor) -> torch.Tensor:
        """λ·c/(c+1)·BCE(z, f̄_{t-1}) for the images ``index`` (positions in the labeled set); 0 in
        the first epoch and with λ = 0.  Folds this step's probabilities into f̄."""
        index = index.cpu()
        if bool(self._visited[index].any()):
            raise RuntimeError("an image was visited twice in one epoch; the dynamic loss needs each labeled image once per epoch")
        self._visited[index] = True
        if self.lam == 0:
            return cls_logits.new_zeros(())
        if self.mean is None:
            self.mean = torch.zeros((self.n, *cls_logits.shape[1:]), dtype=torch.float32)
        c = self.epochs_done
        prev = self.mean.index_select(0, index).to(cls_logits.device)
        loss = cls_logits.new_zeros(())
        if c > 0:
            bce = F.binary_cross_entropy_with_logits(cls_logits, prev, reduction="none")
            loss = (self.lam * c / (c + 1)) * bce.sum(dim=2).mean()
        with torch.no_grad():
            new = prev.lerp(torch.sigmoid(cls_logits.detach()).float(), 1.0 / (c + 1))
            self.mean.index_copy_(0, index, new.cpu())
            kl = F.binary_cross_entropy_with_logits(cls_logits.detach().double(), new.double(), reduction="none") - binary_entropy(new)
            self._kl_sum += float(kl.sum(dim=2).sum())
            self._locations += int(kl.shape[0] * kl.shape[1])
        return loss

    def end_epoch(self) -> float:
        """Close the epoch (every labeled image must have been visited); returns the mean KL(f̄_t || q) per location."""
        if self.lam > 0 and not bool(self._visited.all()):
            raise RuntimeError(f"{int((~self._visited).sum())} labeled images were not visited this epoch")
        kl = self._kl_sum / max(1, self._locations)
        self.epochs_done += 1
        self._visited.zero_()
        self._kl_sum, self._locations = 0.0, 0
        return kl


def detections_to_numpy(detections: Sequence[Mapping[str, torch.Tensor]]) -> list[dict[str, np.ndarray]]:
    """Detections as numpy arrays (for plotting and records)."""
    return [{k: v.detach().cpu().numpy() for k, v in d.items()} for d in detections]


def loss_directional(image_losses: Callable[[Any, Any], torch.Tensor]) -> Callable[[Any, Any, Any], torch.Tensor]:
    """``derivative(f, ḟ, targets)`` for :func:`altoolkit.math.influence.directional_derivatives`
    when the model's output ``f`` is a detector's dict of head outputs: each image's loss
    derivative along ``v`` by the chain rule, d/dε ℓ_i(f + εḟ) = ⟨∂ℓ_i/∂f_i, ḟ_i⟩.  The network's
    tangent ḟ comes from the forward-mode pass; ∂ℓ_i/∂f_i from ONE reverse pass through
    ``image_losses(outputs, targets) -> (B,)`` (each image's loss reads only its own outputs, so
    the gradient of their sum holds every image's own gradient), not through the network.
    Float64 result."""

    def along(f: Any, df: Any, targets: Any) -> torch.Tensor:
        with torch.enable_grad():
            leaves = {k: t.detach().requires_grad_(k != "anchors") for k, t in f.items()}
            losses = image_losses(leaves, targets)
            keys = [k for k in leaves if k != "anchors"]
            grads = torch.autograd.grad(losses.sum(), [leaves[k] for k in keys], allow_unused=True, materialize_grads=True)
        out = torch.zeros(int(losses.shape[0]), dtype=torch.float64, device=losses.device)
        for k, g in zip(keys, grads):
            out += (g.double() * df[k].double()).reshape(g.shape[0], -1).sum(dim=1)
        return out

    return along
