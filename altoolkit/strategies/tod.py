"""TOD: temporal output discrepancy (Huang, Xie, Wang, Jiang & Zhang, "Semi-Supervised Active
Learning with Temporal Output Discrepancy", ICCV 2021).

A sample whose prediction changes a lot between two training states is one the model has not
settled on, and its loss is likely high (the paper bounds the loss by the output discrepancy).
The active-learning score compares the current cycle's final model with the previous cycle's
("cyclic output discrepancy"), as in the public code:

    TOD(x) = ½ ‖ softmax(f_now(x)) − softmax(f_prev(x)) ‖²,    largest first.

Both models run in one pass over the pool (:func:`altoolkit.inference.predict_logits`).

Cycle 0 has no previous cycle's model (``ctx.previous_cycle_model is None``): the strategy then
selects at random with ``ctx.seed`` (exactly the ``random`` strategy's choice) and issues a
``UserWarning`` saying so, because a user calling it outside the loop should know the choice
was not TOD's; Python's default warning filter shows it once per session.
"""

from __future__ import annotations

import warnings

import torch

from ..inference import predict_logits
from .base import SelectionContext, Strategy, register_strategy
from .uncertainty import RandomStrategy

__all__ = ["TodStrategy", "output_discrepancy"]


def output_discrepancy(logits_now: torch.Tensor, logits_prev: torch.Tensor) -> torch.Tensor:
    """½ ‖softmax(logits_now) − softmax(logits_prev)‖² per row, ``(N,)`` float32."""
    if logits_now.shape != logits_prev.shape or logits_now.dim() != 2:
        raise ValueError(
            f"logits_now and logits_prev must both have shape (N, C); got {tuple(logits_now.shape)} "
            f"and {tuple(logits_prev.shape)}"
        )
    diff = torch.softmax(logits_now.double(), dim=1) - torch.softmax(logits_prev.double(), dim=1)
    return (0.5 * diff.pow(2).sum(dim=1)).float()


@register_strategy
class TodStrategy(Strategy):
    """TOD (Huang et al. 2021): largest ½‖softmax(f_now) − softmax(f_prev cycle)‖²; random in cycle 0."""

    name = "tod"
    description = "TOD (Huang et al. 2021): largest output change since the previous cycle's model (random in cycle 0)"
    needs_previous_cycle_model = True

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        if ctx.previous_cycle_model is None:
            warnings.warn(
                "tod: no previous cycle's model (cycle 0), so this selection is random (seeded by ctx.seed)",
                UserWarning,
                stacklevel=2,
            )
            return RandomStrategy().score(ctx)
        now, prev = predict_logits(
            [ctx.model, ctx.previous_cycle_model], ctx.pool_x, ctx.dataset.to_input, ctx.batch_size,
            ctx.device, ctx.progress,
        )
        return output_discrepancy(now, prev)
