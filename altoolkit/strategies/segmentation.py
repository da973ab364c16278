"""The segmentation task's strategies (``TASK_STRATEGIES["segmentation"]``): one score per IMAGE
from per-pixel quantities, reduced as :mod:`altoolkit.math.segmentation` explains.

- ``random``, ``disal_no_selection`` (DISAL w/o S: dynamic loss, random selection) and
  ``coreset`` (k-center greedy on ``model.embed``, the pooled features of a segmentation network)
  are the classification classes: they never look at a label's shape.
- ``entropy``: the mean per-pixel entropy of an image (``reduction="max"``: its largest).
- ``disal``: KL(f_{T-1} || f_T) per pixel between the last two epochs, reduced per image by its
  mean (= the KL of the image's product distribution divided by its pixel count; ``"max"`` is the
  ablation), largest first; trained with the per-pixel dynamic loss.  ``disal_no_dynamic``: the
  same score, plain per-pixel cross-entropy training (DISAL w/o D).
- ``isal``: ISAL's UUIC on pixels (ISAL §3.3, Algorithm 1 with K = 1): an unlabeled image's
  pseudo-label is the model's top-1 class at every pixel, its gradient G(z) that of the image's
  mean pixel cross-entropy against it, and I(z) = −s_test·G(z)/n with s_test by LiSSA over the
  labeled images' loss (the same per-image loss) or, with ``grad_simi=True``, the reference
  gradient v itself (Grad-Simi).  s_test·G(z) is a forward-mode directional derivative
  (:func:`altoolkit.math.influence.directional_derivatives` with
  :func:`~altoolkit.math.segmentation.image_ce_directional`): no per-image gradient is built.

Scoring holds one batch of per-pixel outputs at a time and keeps one number per image
(:func:`altoolkit.training.inference.predict_logits` with ``combine``), so memory does not grow
with the pool beyond one reduced score per image.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping, cast

import torch

from ..math.influence import PARAM_SETS, ParamSet, directional_derivatives, lissa_inverse_hvp, loss_grad
from ..math.scores import select_top
from ..math.segmentation import PIXEL_REDUCTIONS, image_ce_directional, image_ce_loss, image_entropy_scores, image_kl_scores, pseudo_label_masks
from .base import SelectionContext, Strategy, StrategyOptions, option, register_strategy
from .per_image import PerImageDisal, one_score_per_image
from .coreset import CoresetStrategy
from .disal import DisalNoSelectionStrategy
from .isal import REFERENCE_SETS, reference_set
from .uncertainty import RandomStrategy

__all__ = [
    "SegmentationEntropyStrategy",
    "SegmentationDisalStrategy",
    "SegmentationDisalNoDynamicStrategy",
    "SegmentationIsalStrategy",
    "PixelReductionOptions",
    "SegmentationDisalOptions",
    "SegmentationIsalOptions",
]

TASK = "segmentation"

for _shared in (RandomStrategy, DisalNoSelectionStrategy, CoresetStrategy):
    register_strategy(_shared, task=TASK)


def _ignore_index(ctx: SelectionContext) -> int:
    return int(getattr(ctx.dataset, "ignore_index", 255))


@dataclass(frozen=True)
class PixelReductionOptions(StrategyOptions):
    reduction: str = option("mean", "per-image reduction of the per-pixel score: mean (as the image's sum) or max", choices=PIXEL_REDUCTIONS)


@register_strategy(task=TASK)
class SegmentationEntropyStrategy(Strategy):
    """The largest mean per-pixel predictive entropy of an image."""

    name = "entropy"
    description = "largest mean per-pixel entropy -Σ p log p of an image (reduction=max: its largest pixel)"
    Options = PixelReductionOptions
    opts: PixelReductionOptions

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        combine = functools.partial(image_entropy_scores, reduction=self.opts.reduction)
        return one_score_per_image(ctx.model, ctx, combine)


@dataclass(frozen=True)
class SegmentationDisalOptions(StrategyOptions):
    reduction: str = option("mean", "per-image reduction of the per-pixel KL: mean (the image's KL per pixel) or max", choices=PIXEL_REDUCTIONS)
    largest: bool = option(True, "select the largest KL; False selects the smallest (Eq. 15 as printed)")


@register_strategy(task=TASK)
class SegmentationDisalStrategy(PerImageDisal):
    """DISAL on segmentation: the largest per-image reduction of KL(f_{T-1} || f_T) per pixel."""

    description = "DISAL: largest per-pixel KL(f_T-1 || f_T) averaged over the image, trained with the per-pixel dynamic loss"
    Options = SegmentationDisalOptions
    opts: SegmentationDisalOptions
    image_kl = staticmethod(image_kl_scores)


@register_strategy(task=TASK)
class SegmentationDisalNoDynamicStrategy(SegmentationDisalStrategy):
    name = "disal_no_dynamic"
    description = "DISAL w/o D: the per-image KL score on a model trained without the dynamic loss"
    dynamic_loss = False


@dataclass(frozen=True)
class SegmentationIsalOptions(StrategyOptions):
    reference: str = option("labeled", "reference set R: labeled (ISAL_v3), initial (ISAL_v2), validation or test (flagged)", choices=REFERENCE_SETS)
    grad_simi: bool = option(False, "Grad-Simi ablation (s_test = v, no inverse Hessian)")
    which: str = option("weights", "parameters: weights (conv and linear weights, ISAL's code), all or last_layer", choices=PARAM_SETS)
    depth: int = option(250, "LiSSA recursion depth (ISAL: 250)", minimum=1)
    repeats: int = option(4, "LiSSA repeats averaged (ISAL: 4)", minimum=1)
    damping: float = option(0.01, "LiSSA damping (ISAL: 0.01)", minimum=0.0, maximum=1.0, max_inclusive=False)
    scale: float = option(1e4, "LiSSA scale (ISAL: 1e4)", minimum=0.0, min_inclusive=False)
    lissa_batch_size: int = option(1, "labeled images per LiSSA step (ISAL: 1)", minimum=1)
    most_negative: bool = option(True, "select the most negative I (ISAL); False the most positive")


@register_strategy(task=TASK)
class SegmentationIsalStrategy(Strategy):
    """ISAL / UUIC on pixels: the most negative I(z) = −s_test·G(z)/n, G(z) the gradient of the
    image's mean pixel cross-entropy against its own top-1 prediction at every pixel."""

    name = "isal"
    description = "ISAL (UUIC per pixel): most negative -s_test·G(z)/n, G the gradient of the image's mean pixel CE against its top-1 masks"
    Options = SegmentationIsalOptions
    opts: SegmentationIsalOptions

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.opts.reference == "test":  # the test set's labels choose what is labeled: flagged like an oracle
            vars(self).update(peeks_at_labels=True, peeks_at_test_data=True)  # instance flags over the class's

    def _loss(self, ctx: SelectionContext):
        return functools.partial(image_ce_loss, ignore_index=_ignore_index(ctx))

    def s_test(self, ctx: SelectionContext) -> dict[str, torch.Tensor]:
        """v = Σ_{images in R} ∇(mean pixel CE, true masks), then LiSSA over the labeled images (or v)."""
        x_ref, y_ref = reference_set(ctx, self.opts.reference)
        to_input = ctx.dataset.to_input
        v = loss_grad(ctx.model, x_ref, y_ref, cast(ParamSet, self.opts.which), "sum", ctx.batch_size, to_input, ctx.device, loss=self._loss(ctx))
        if self.opts.grad_simi:
            return v
        return lissa_inverse_hvp(
            ctx.model,
            ctx.labeled_x,
            ctx.labeled_y,
            v,
            damping=self.opts.damping,
            scale=self.opts.scale,
            depth=self.opts.depth,
            repeats=self.opts.repeats,
            batch_size=min(self.opts.lissa_batch_size, int(ctx.labeled.numel())),
            seed=ctx.seed,
            to_input=to_input,
            device=ctx.device,
            progress=ctx.progress,
            loss=self._loss(ctx),
        )

    def influence(self, ctx: SelectionContext, s_test: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """I(z, R) per pool image with ISAL's sign (the most negative is labeled first), float64."""
        along = functools.partial(image_ce_directional, ignore_index=_ignore_index(ctx))
        d = directional_derivatives(
            ctx.model,
            ctx.pool_x,
            pseudo_label_masks,  # UUIC's pseudo-labels from the jvp's own forward pass
            dict(self.s_test(ctx) if s_test is None else s_test),
            ctx.batch_size,
            ctx.dataset.to_input,
            ctx.device,
            ctx.progress,
            derivative=along,
        )
        return -d.double() / int(ctx.labeled.numel())

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        """−I(z, R): larger = more helpful = label first."""
        return -self.influence(ctx)

    def select_from_scores(self, scores: torch.Tensor, budget: int) -> torch.Tensor:
        return select_top(scores, budget, largest=self.opts.most_negative)
