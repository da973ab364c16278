"""DISAL (dynamic influence scoring) and its ablations.

Score (DISAL Eq. 15, sign as explained in :mod:`altoolkit.math.scores`): KL( f_{T-1}(x) || f_T(x) )
between the model after the second-to-last and the last epoch, largest first.  The two forward
passes share one loop over the pool (:func:`altoolkit.training.inference.predict_logits`).

- ``disal``: KL score, trained with the dynamic loss (λ = 1 unless set).
- ``disal_no_dynamic`` ("DISAL w/o D", Table 2): KL score, plain cross-entropy training.
- ``disal_no_selection`` ("DISAL w/o S", Table 2): dynamic-loss training, random selection.
- ``ce_difference`` (Fig. 7): CE(θ_T) − CE(θ_{T-1}) with the pool's TRUE labels (Eq. 10).
  It peeks at labels an active learner does not have: an oracle ablation, not a strategy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..training.inference import predict_logits
from ..math.scores import disal_kl_from_logits, select_top
from .base import SelectionContext, Strategy, StrategyOptions, option, register_strategy
from .uncertainty import RandomStrategy

__all__ = ["DisalStrategy", "DisalOptions", "DisalNoDynamicStrategy", "DisalNoSelectionStrategy", "CEDifferenceStrategy", "checkpoint_logits"]


def checkpoint_logits(ctx: SelectionContext) -> tuple[torch.Tensor, torch.Tensor]:
    """Pool logits under θ_{T-1} and θ_T, from one loop over the pool (gathered batch by batch:
    the pool is not copied)."""
    prev, last = predict_logits(
        [ctx.prev_model(), ctx.model],
        ctx.dataset.x_train,
        ctx.dataset.to_input,
        ctx.batch_size,
        ctx.device,
        ctx.progress,
        indices=ctx.unlabeled,
    )
    return prev, last


@dataclass(frozen=True)
class DisalOptions(StrategyOptions):
    """The option of :class:`DisalStrategy` and its variants."""

    largest: bool = option(
        True, "select the largest KL (Eq. 15 with the sign of altoolkit.math.scores); False selects the smallest, i.e. the largest value of Eq. 15 as printed"
    )


@register_strategy
class DisalStrategy(Strategy):
    """DISAL: the largest KL(f_{T-1} || f_T) between the last two epochs' outputs."""

    name = "disal"
    description = "DISAL: largest KL(f_T-1 || f_T) between the last two epochs, trained with the dynamic loss"
    dynamic_loss = True
    Options = DisalOptions
    opts: DisalOptions

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        # the KL is computed batch by batch: the pool's logits are never stored (N floats, not 2·N·C)
        return predict_logits(
            [ctx.prev_model(), ctx.model],
            ctx.dataset.x_train,
            ctx.dataset.to_input,
            ctx.batch_size,
            ctx.device,
            ctx.progress,
            indices=ctx.unlabeled,
            combine=disal_kl_from_logits,
        )

    def select_from_scores(self, scores: torch.Tensor, budget: int) -> torch.Tensor:
        # largest=False selects the SMALLEST KL, i.e. the largest value of Eq. 15 as printed.
        return select_top(scores, budget, largest=self.opts.largest)


@register_strategy
class DisalNoDynamicStrategy(DisalStrategy):
    name = "disal_no_dynamic"
    description = "DISAL w/o D (Table 2): the KL score on a model trained without the dynamic loss"
    dynamic_loss = False


@register_strategy
class DisalNoSelectionStrategy(RandomStrategy):
    name = "disal_no_selection"
    description = "DISAL w/o S (Table 2): trained with the dynamic loss, random selection"
    dynamic_loss = True


@register_strategy
class CEDifferenceStrategy(DisalStrategy):
    name = "ce_difference"
    description = "ORACLE ablation (Fig. 7): CE loss change between the last two epochs using TRUE pool labels"
    peeks_at_labels = True

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        prev, last = checkpoint_logits(ctx)
        y = ctx.dataset.y_train[ctx.unlabeled]
        # Eq. 10: ℓ(θ_T) − ℓ(θ_{T-1}) = −yᵀ log(f_T/f_{T-1}).  By Eq. 8-9 (correct signs) the
        # influence on the labeled-set loss is proportional to ℓ(θ_{T-1}) − ℓ(θ_T): the samples
        # whose loss dropped most have gradients most aligned with the update.  Largest drop first.
        ce_prev = F.cross_entropy(prev, y, reduction="none")
        ce_last = F.cross_entropy(last, y, reduction="none")
        return ce_prev - ce_last
