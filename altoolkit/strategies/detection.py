"""The detection task's strategies (``TASK_STRATEGIES["detection"]``): one score per IMAGE from a
detector's per-location outputs or its detections, reduced as :mod:`altoolkit.math.detection`
explains.  The model is a detector (:class:`altoolkit.training.detection_models.FCOSDetector`).

- ``random``, ``disal_no_selection`` (DISAL w/o S: the per-location dynamic loss, random
  selection) and ``coreset`` (k-center greedy on ``model.embed``: the backbone's last feature map
  averaged over its locations) are the classification classes: they never look at a label.
- ``entropy``: the uncertainty baseline, the max (or mean) binary entropy of the scores of an
  image's detections (dragonlzm/ISAL ``MaxEntropyMiningAlgorithm``).
- ``disal``: KL(f_{T-1} || f_T) of the class outputs between the last two epochs, a sum of
  Bernoulli KLs per location, reduced per image by the mean over locations (``"max"``: the
  ablation); trained with the per-location dynamic loss.  ``disal_no_dynamic``: the same score,
  plain FCOS loss (DISAL w/o D).
- ``isal``: ISAL with UUIC on pseudo-boxes (Algorithm 1, "Task is Object Detection"): an
  unlabeled image's pseudo-ground-truth is its detections with score ≥ ``score_threshold``, G(z)
  the gradient of the image's FCOS loss against them, and I(z) = −s_test·G(z)/n (n: the images
  scored), s_test by LiSSA over the labeled images' FCOS loss, per parameter block with ISAL's
  scales, from the reference gradient v = Σ_{images in R} ∇(FCOS loss), model in eval mode, with
  respect to FCOS's last convolution kernels (dragonlzm/ISAL ``detection/src/utils.py``:
  ``multi_gpu_calculate_grad`` for v, ``multi_gpu_s_test`` for s_test, ``multi_gpu_cal_influence``
  for I; the parameters in ``detection/src/test_calc_influ.py``).  An image without a pseudo-box
  is not scored by ISAL's code (``mining/mining_algorithm.py`` ``pseudo_label`` leaves it out,
  ``gt_mining_algorithm.py`` ``GTLossAlgorithm.mining`` draws from such images only when the
  scored ones do not fill the budget): here it is ranked after every scored image.
  ``grad_simi``: the same with s_test = v (ISAL's Grad-Simi ablation).  A pseudo-box is exactly
  the box some location predicts, where FCOS's GIoU loss has a kink (the min/max of equal
  coordinates): the gradient there is one of its subgradients, chosen by float rounding, so an
  image's score can move with the batch it is scored in (ISAL's code has the same kink).

s_test·G(z) is a directional derivative by the chain rule: the network's tangent along s_test
from one forward-mode pass per batch (:func:`altoolkit.math.influence.directional_derivatives`)
dotted with each image's loss gradient in the head outputs, from one reverse pass through FCOS's
loss (:func:`altoolkit.math.detection.loss_directional`); no per-image parameter gradient is
built.  The tests check it against per-image gradients (:func:`altoolkit.math.influence.gradient_dots`).
Scoring keeps one number per image, so memory does not grow with the pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, cast

import torch

from ..math.detection import LOCATION_REDUCTIONS, detection_entropy, location_kl_scores, loss_directional, pseudo_targets
from ..math.influence import directional_derivatives, lissa_inverse_hvp, loss_grad, select_params
from ..training.detection_models import head_last_names
from .base import SelectionContext, Strategy, StrategyOptions, option, register_strategy
from .per_image import PerImageDisal, one_score_per_image
from .coreset import CoresetStrategy
from .disal import DisalNoSelectionStrategy
from .isal import REFERENCE_SETS, reference_set
from .uncertainty import RandomStrategy

__all__ = [
    "DetectionEntropyStrategy",
    "DetectionDisalStrategy",
    "DetectionDisalNoDynamicStrategy",
    "DetectionIsalStrategy",
    "DetectionGradSimiStrategy",
    "DETECTION_PARAM_SETS",
    "ISAL_DETECTION_SCALES",
]

TASK = "detection"

for _shared in (RandomStrategy, DisalNoSelectionStrategy, CoresetStrategy):
    register_strategy(_shared, task=TASK)

#: Parameter sets of ISAL on a detector: ``head_last`` (FCOS's three last kernels, ISAL's code),
#: ``weights`` (every conv weight) or ``all``.
DETECTION_PARAM_SETS: tuple[str, ...] = ("head_last", "weights", "all")

#: ISAL's LiSSA scale per FCOS kernel (dragonlzm/ISAL ``detection/src/utils.py`` ``multi_gpu_s_test``:
#: ``scale = [100.0, 8000.0, 5000.0]`` for classification, regression, centre-ness).
ISAL_DETECTION_SCALES: tuple[float, ...] = (100.0, 8000.0, 5000.0)


@dataclass(frozen=True)
class DetectionEntropyOptions(StrategyOptions):
    reduction: str = option("max", "per-image reduction of the detections' entropies: max (ISAL's code) or mean", choices=LOCATION_REDUCTIONS)


@register_strategy(task=TASK)
class DetectionEntropyStrategy(Strategy):
    """The largest max (or mean) binary entropy of an image's detection scores."""

    name = "entropy"
    description = "largest max binary entropy of the image's detection scores (reduction=mean: their mean); 0 without detections"
    Options = DetectionEntropyOptions
    opts: DetectionEntropyOptions

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        model: Any = ctx.model

        def combine(out: Mapping[str, torch.Tensor]) -> torch.Tensor:
            return detection_entropy(model.detections(out), self.opts.reduction).float()

        return one_score_per_image(model, ctx, combine)


@dataclass(frozen=True)
class DetectionDisalOptions(StrategyOptions):
    reduction: str = option("mean", "per-image reduction of the per-location KL: mean (the image's KL per location) or max", choices=LOCATION_REDUCTIONS)
    largest: bool = option(True, "select the largest KL; False selects the smallest (Eq. 15 as printed)")


@register_strategy(task=TASK)
class DetectionDisalStrategy(PerImageDisal):
    """DISAL on detection: the largest per-image reduction of Σ_c KL(f_{T-1} || f_T) per location."""

    description = "DISAL: largest per-location class-output KL(f_T-1 || f_T) averaged over the image, trained with the per-location dynamic loss"
    Options = DetectionDisalOptions
    opts: DetectionDisalOptions
    image_kl = staticmethod(location_kl_scores)


@register_strategy(task=TASK)
class DetectionDisalNoDynamicStrategy(DetectionDisalStrategy):
    name = "disal_no_dynamic"
    description = "DISAL w/o D: the per-image location KL score on a detector trained without the dynamic loss"
    dynamic_loss = False


@dataclass(frozen=True)
class DetectionIsalOptions(StrategyOptions):
    reference: str = option("labeled", "reference set R: labeled (ISAL_v3), initial, validation or test (ISAL's code; flagged)", choices=REFERENCE_SETS)
    grad_simi: bool = option(False, "Grad-Simi ablation (s_test = v, no inverse Hessian)")
    which: str = option("head_last", "parameters: head_last (FCOS's last cls/reg/centre-ness kernels, ISAL), weights or all", choices=DETECTION_PARAM_SETS)
    score_threshold: float = option(0.5, "pseudo-boxes: detections with score >= this (ISAL's noised_score_thresh)", minimum=0.0, maximum=1.0)
    depth: int = option(1000, "LiSSA recursion depth (ISAL's dist_run_isal.sh: S_TEST_IMG_NUM=1000 images per GPU)", minimum=1)
    repeats: int = option(4, "LiSSA repeats averaged (ISAL: one per GPU, 4 GPUs)", minimum=1)
    damping: float = option(0.01, "LiSSA damping (ISAL: 0.01)", minimum=0.0, maximum=1.0, max_inclusive=False)
    scale: float | None = option(None, "LiSSA scale; None: ISAL's 100 / 8000 / 5000 per kernel with head_last, 1e4 otherwise", minimum=0.0, min_inclusive=False)
    lissa_batch_size: int = option(1, "labeled images per LiSSA step (ISAL: 1)", minimum=1)
    most_negative: bool = option(True, "select the most negative I (ISAL); False the most positive")


@register_strategy(task=TASK)
class DetectionIsalStrategy(Strategy):
    """ISAL / UUIC on pseudo-boxes: the most negative I(z) = −s_test·G(z)/n, G(z) the gradient of
    the image's FCOS loss against its own detections above ``score_threshold``."""

    name = "isal"
    description = "ISAL (UUIC on pseudo-boxes): most negative -s_test·G(z)/n, G the gradient of the image's FCOS loss against its detections >= threshold"
    Options = DetectionIsalOptions
    opts: DetectionIsalOptions

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.opts.reference == "test":  # the test set's boxes choose what is labeled: flagged like an oracle
            vars(self).update(peeks_at_labels=True, peeks_at_test_data=True)

    def _params(self, model: torch.nn.Module) -> tuple[str, ...]:
        which = self.opts.which
        return head_last_names(model) if which == "head_last" else tuple(select_params(model, "weights" if which == "weights" else "all"))

    def _scales(self, names: tuple[str, ...]) -> float | dict[str, float]:
        if self.opts.scale is not None:
            return float(self.opts.scale)
        if self.opts.which == "head_last":
            return dict(zip(names, ISAL_DETECTION_SCALES))
        return 1e4

    def s_test(self, ctx: SelectionContext) -> dict[str, torch.Tensor]:
        """v = Σ_{images in R} ∇(FCOS loss, true boxes), eval mode; then LiSSA over the labeled images (or v)."""
        model, names = ctx.model, self._params(ctx.model)
        loss = _summed_image_losses(model)
        x_ref, y_ref = reference_set(ctx, self.opts.reference)
        v = loss_grad(model, x_ref, y_ref, names, "sum", ctx.batch_size, ctx.dataset.to_input, ctx.device, loss=loss)
        if self.opts.grad_simi:
            return v
        return lissa_inverse_hvp(
            model,
            ctx.labeled_x,
            ctx.labeled_y,
            v,
            damping=self.opts.damping,
            scale=self._scales(names),
            depth=self.opts.depth,
            repeats=self.opts.repeats,
            batch_size=min(self.opts.lissa_batch_size, int(ctx.labeled.numel())),
            seed=ctx.seed,
            to_input=ctx.dataset.to_input,
            device=ctx.device,
            progress=ctx.progress,
            loss=loss,
        )

    def influence(self, ctx: SelectionContext, s_test: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """I(z, R) per pool image with ISAL's sign (the most negative is labeled first), float64;
        NaN for an image without a pseudo-box (not scored)."""
        model: Any = ctx.model
        boxes_per_image: list[int] = []

        def pseudo(outputs: Mapping[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
            targets = pseudo_targets(model.detections(outputs, self.opts.score_threshold), self.opts.score_threshold)
            boxes_per_image.extend(int(t["labels"].numel()) for t in targets)
            return targets

        d = directional_derivatives(
            model,
            ctx.pool_x,
            cast(Any, pseudo),  # UUIC's pseudo-boxes from the jvp's own forward pass
            dict(self.s_test(ctx) if s_test is None else s_test),
            ctx.batch_size,
            ctx.dataset.to_input,
            ctx.device,
            ctx.progress,
            derivative=loss_directional(model.image_losses),
        ).double()
        scored = torch.tensor(boxes_per_image, dtype=torch.long) > 0
        influence = -d / max(1, int(scored.sum()))  # ISAL's code divides by the images it scores
        influence[~scored] = float("nan")
        return influence

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        """−I(z, R) (ISAL: the most negative I first), or +I with ``most_negative=False``: larger =
        label first.  An image without a pseudo-box gets a finite score below every scored image's
        (the smallest score minus 1), so it comes after them in either direction."""
        influence = self.influence(ctx)
        score = -influence if self.opts.most_negative else influence.clone()
        scored = ~torch.isnan(score)
        floor = float(score[scored].min()) - 1.0 if bool(scored.any()) else 0.0
        return torch.where(scored, score, torch.full_like(score, floor))


@dataclass(frozen=True)
class DetectionGradSimiOptions(DetectionIsalOptions):
    grad_simi: bool = option(True, "Grad-Simi: s_test = v (True for this strategy)")


@register_strategy(task=TASK)
class DetectionGradSimiStrategy(DetectionIsalStrategy):
    """Grad-Simi (ISAL §4.4.2): ISAL without the inverse Hessian, −v·G(z)."""

    name = "grad_simi"
    description = "Grad-Simi (ISAL §4.4.2): most negative -v·G(z)/n, ISAL without the inverse Hessian"
    Options = DetectionGradSimiOptions


def _summed_image_losses(model: torch.nn.Module):
    """``loss(outputs, targets)``: the sum over a batch of each image's FCOS loss (as a batch of one)."""

    def loss(outputs: Mapping[str, torch.Tensor], targets: Any) -> torch.Tensor:
        return cast(Any, model).image_losses(outputs, targets).sum()

    return loss
