"""Random sampling and the classic uncertainty scores on the model's softmax output."""

from __future__ import annotations

import torch

from ..math import scores
from ..training.inference import predict_proba
from .base import SelectionContext, Strategy, register_strategy

__all__ = ["RandomStrategy", "EntropyStrategy", "MarginStrategy", "LeastConfidenceStrategy"]


@register_strategy
class RandomStrategy(Strategy):
    """Seeded uniform scores (from the selection seed ``ctx.seed``): with the default ``batch="topk"``
    a uniform random sample of the pool; with another batch rule, that rule fed a random score,
    the control that says how much of the rule's batch a real score decides
    (:mod:`altoolkit.drivers.batch_rule_control`)."""

    name = "random"
    description = "uniform random sample of the pool (the baseline every paper compares with); with --batch RULE: RULE's random-score control"

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(ctx.seed))
        return torch.rand(len(ctx.unlabeled), generator=gen)


class _ProbabilityScore(Strategy):
    """Shared body: one softmax pass over the pool, then a function of the probabilities."""

    def _from_probs(self, p: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        p = predict_proba(ctx.model, ctx.pool_x, ctx.dataset.to_input, ctx.batch_size, ctx.device, ctx.progress)
        return self._from_probs(p)


@register_strategy
class EntropyStrategy(_ProbabilityScore):
    name = "entropy"
    description = "largest predictive entropy -Σ p log p (max-entropy uncertainty sampling)"

    def _from_probs(self, p: torch.Tensor) -> torch.Tensor:
        return scores.entropy(p)


@register_strategy
class MarginStrategy(_ProbabilityScore):
    name = "margin"
    description = "smallest gap between the two most probable classes"

    def _from_probs(self, p: torch.Tensor) -> torch.Tensor:
        return scores.margin(p)


@register_strategy
class LeastConfidenceStrategy(_ProbabilityScore):
    name = "least_confidence"
    description = "smallest top-1 probability (1 - max p)"

    def _from_probs(self, p: torch.Tensor) -> torch.Tensor:
        return scores.least_confidence(p)
