"""What the image tasks' strategies share (:mod:`.segmentation`, :mod:`.detection`): one score per
pool image computed from a batch's per-pixel or per-location outputs, and DISAL with a task's own
per-image reduction of KL(f_{T-1} || f_T) (DISAL Eq. 15; the paper does not say how an image's
pixels or locations are reduced: the mean by default, the max as an ablation)."""

from __future__ import annotations

import functools
from typing import Any, Callable, ClassVar

import torch

from ..math.scores import select_top
from ..training.inference import predict_logits
from .base import SelectionContext, Strategy

__all__ = ["one_score_per_image", "PerImageDisal"]


def one_score_per_image(models: Any, ctx: SelectionContext, combine: Callable[..., torch.Tensor]) -> torch.Tensor:
    """``combine`` over each batch of the unlabeled pool's outputs of ``models`` (one network or the
    two checkpoints, in one loop over the pool): one number per pool image, so scoring holds one
    batch of per-pixel outputs at a time (:func:`~altoolkit.training.inference.predict_logits`)."""
    scores = predict_logits(models, ctx.dataset.x_train, ctx.dataset.to_input, ctx.batch_size, ctx.device, ctx.progress, indices=ctx.unlabeled, combine=combine)
    assert isinstance(scores, torch.Tensor)  # with combine= it returns one tensor
    return scores


class PerImageDisal(Strategy):
    """DISAL on an image task: the per-image reduction (``opts.reduction``) of the task's KL between
    the last two epochs' outputs, the largest first (``opts.largest=False``: the smallest, Eq. 15
    as printed).  A task's subclass sets ``image_kl`` (``(prev, last, reduction=) -> (B,)``) and its
    ``Options``."""

    name = "disal"
    dynamic_loss = True
    image_kl: ClassVar[Callable[..., torch.Tensor]]

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        combine = functools.partial(type(self).image_kl, reduction=self.opts.reduction)  # type: ignore[attr-defined]
        return one_score_per_image([ctx.prev_model(), ctx.model], ctx, combine)

    def select_from_scores(self, scores: torch.Tensor, budget: int) -> torch.Tensor:
        return select_top(scores, budget, largest=self.opts.largest)  # type: ignore[attr-defined]
