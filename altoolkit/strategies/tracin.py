"""TracIn as an active-learning score: checkpoint replay against the labeled set.

TracIn-CP (Pruthi et al. 2020) estimates how much a gradient step on a sample z lowers the
loss of a reference set R by replaying the training checkpoints θ_t:

    score(z) = Σ_t η_t · ∇ℓ(z; θ_t) · Σ_{z'∈R} ∇ℓ(z'; θ_t)          (DISAL Eq. 6-8, summed over t)

For active learning the pool sample has no label, so ℓ(z; θ_t) uses the top-1 prediction of
the checkpoint θ_t itself as a pseudo-label; the reference set R is the labeled set with its
true labels.  Per checkpoint the summed reference gradient is one vector v_t, and the pool's
scores are directional derivatives ∇ℓ(z; θ_t)·v_t (forward-mode jvp), computed by
:func:`altoolkit.math.influence.tracin_scores`; no per-sample gradient is built.

Which end is selected.  A positive score means a (pseudo-labelled) SGD step on z would lower
the labeled-set loss to first order: z is a "proponent" that pulls the model the same way as
the data it already fits.  We label the LARGEST (most positive) scores first, i.e. the pool
samples whose pseudo-labelled gradients agree most with the labeled-set gradient, the
direction in which TracIn calls a sample most helpful.  ``largest=False`` selects the most
negative scores (opponents) instead, so that the two choices can be compared.

Checkpoints.  The trainer keeps the weights after the epochs returned by
:meth:`TracInStrategy.checkpoint_epochs`: ``checkpoints`` evenly spaced epochs, always
including the last one, each with the learning rate used during that epoch (η_t).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..math.influence import PARAM_SETS, tracin_scores
from ..math.scores import select_top
from ..util.checks import check_int
from .base import SelectionContext, Strategy, StrategyOptions, option, register_strategy

__all__ = ["TracInStrategy", "TracInOptions", "evenly_spaced_epochs"]


def evenly_spaced_epochs(epochs: int, count: int) -> list[int]:
    """``count`` epochs (1-based) spread evenly over ``1..epochs``, always ending with ``epochs``.

    Epoch k·epochs/count rounded up, for k = 1..count (duplicates removed when
    ``count > epochs``, which then gives every epoch).  E.g. ``(30, 5) -> [6, 12, 18, 24, 30]``.
    """
    epochs = check_int("epochs", epochs, 1)
    count = check_int("checkpoints", count, 1)
    return sorted({-(-k * epochs // count) for k in range(1, count + 1)})


@dataclass(frozen=True)
class TracInOptions(StrategyOptions):
    """The options of :class:`TracInStrategy`."""

    checkpoints: int = option(5, "number of evenly spaced epochs to replay (the last epoch is always one of them)", minimum=1)
    which: str = option(
        "all",
        "parameters whose gradients are used: all, weights (conv and linear weights) or last_layer (model.head, the cheap TracIn variant)",
        choices=PARAM_SETS,
    )
    largest: bool = option(True, "select the most positive scores; False selects the most negative")


@register_strategy
class TracInStrategy(Strategy):
    """TracIn-CP of each pool sample (checkpoint pseudo-labels) on the labeled set, largest first."""

    name = "tracin"
    description = "TracIn-CP: pool (pseudo-labels) vs summed labeled-set gradient over checkpoints, largest first"
    Options = TracInOptions
    opts: TracInOptions

    def checkpoint_epochs(self, epochs: int) -> list[int]:
        return evenly_spaced_epochs(epochs, self.opts.checkpoints)

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        """TracIn score per pool sample, float64 (larger = more helpful = label first)."""
        result = ctx.train_result
        if result is None or not getattr(result, "checkpoints", None):
            raise ValueError(
                "the tracin strategy replays training checkpoints: pass the TrainResult of "
                "altoolkit.training.train.train_model(..., checkpoint_epochs=strategy.checkpoint_epochs(epochs)) "
                "as SelectionContext.train_result (run_active_learning does this)"
            )
        return tracin_scores(
            ctx.model,
            result.checkpoints,
            ctx.pool_x,
            None,  # pseudo-labels: each checkpoint's own top-1 prediction
            ctx.labeled_x,
            ctx.labeled_y,
            which=self.opts.which,
            to_input=ctx.dataset.to_input,
            batch_size=ctx.batch_size,
            device=ctx.device,
            progress=ctx.progress,
        )

    def select_from_scores(self, scores: torch.Tensor, budget: int) -> torch.Tensor:
        # largest=False selects the most negative TracIn scores (opponents) instead
        return select_top(scores, budget, largest=self.opts.largest)
