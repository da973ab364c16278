"""BADGE: Batch Active learning by Diverse Gradient Embeddings (Ash et al., ICLR 2020).

Gradient embedding (Ash et al. 2020, Eq. 1): the gradient of the cross-entropy under the model's
own top-1 label ŷ = argmax_c p_c with respect to the last layer's weight W (``model.head``):

    g(x) = ∂ CE(W h(x), ŷ) / ∂W = (p(x) − e_ŷ) ⊗ h(x),      shape C·D, block c = (p_c − [c = ŷ])·h,

with h(x) the penultimate features (``model.embed``).  The public code builds the same vector
with the opposite sign ((e_ŷ − p) ⊗ h) and without the bias; the sign changes no distance, so
the selection is the same.  ``include_bias=True`` appends ∂CE/∂b = p − e_ŷ.

The batch is then chosen by k-means++ seeding on these embeddings (Arthur & Vassilvitskii 2007),
as in the public code: the first point is the one with the largest embedding norm, every next
one is drawn with probability proportional to its squared distance D² to the nearest point
chosen so far.  Large norms favour uncertain samples, D² sampling favours diverse ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Callable

import torch
from torch import nn

from ..training.inference import predict_logits
from ..training.models import output_layer
from ..util.checks import check_bool
from .base import SelectionContext, Strategy, StrategyOptions, option, register_strategy

__all__ = ["BadgeStrategy", "BadgeOptions", "badge_embeddings", "kmeans_pp_seeding"]


def badge_embeddings(
    model: nn.Module,
    x: torch.Tensor,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    batch_size: int = 512,
    device: str = "cpu",
    progress: bool = False,
    include_bias: bool = False,
) -> torch.Tensor:
    """Gradient embeddings (p − onehot(ŷ)) ⊗ h of every sample, ``(N, C·D)`` (``+ C`` with bias).

    One pass over ``x`` for the features h; the logits are ``model.head(h)`` (the model contract:
    ``forward(x) == head(embed(x))``).  The layout matches ``head.weight.grad.flatten()``
    (row c holds class c's block), then the bias, like
    ``flatten(per_sample_grads(model, x, ŷ, which="last_layer"))``.
    """
    check_bool("include_bias", include_bias)
    h = predict_logits(model, x, to_input, batch_size, device, progress, embed=True)
    head = output_layer(model)[1]  # model.head, or the last nn.Linear of a model without one
    with torch.inference_mode():
        w = head.weight.detach().float().cpu()
        logits = h @ w.T
        if head.bias is not None:
            logits = logits + head.bias.detach().float().cpu()
    p = torch.softmax(logits, dim=1)
    resid = p.clone()
    resid[torch.arange(p.shape[0]), p.argmax(dim=1)] -= 1.0  # p − e_ŷ
    emb = (resid[:, :, None] * h[:, None, :]).reshape(h.shape[0], -1)
    if include_bias:
        emb = torch.cat([emb, resid], dim=1)
    return emb


def kmeans_pp_seeding(emb: torch.Tensor, k: int, generator: torch.Generator, first: int | None = None) -> torch.Tensor:
    """k-means++ seeding as in BADGE's public code: ``k`` distinct row indices of ``emb``.

    First the row with the largest norm (or the row ``first`` when given: the ``"topm"`` batch
    rule starts from the top-scored sample), then D² sampling: each next row is drawn with
    probability ∝ its squared distance to the nearest row chosen so far (chosen rows have
    distance 0 and are never drawn again).  If every remaining row coincides with a chosen one,
    the next is drawn uniformly from the rows not yet chosen.  Deterministic for a generator
    state; uses only ``generator`` (never the global RNG).
    """
    if not isinstance(emb, torch.Tensor) or emb.dim() != 2 or not emb.is_floating_point():
        raise ValueError("emb must be a float tensor of shape (N, D)")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    n = int(emb.shape[0])
    if isinstance(k, bool) or not isinstance(k, int) or not (1 <= k <= n):
        raise ValueError(f"k must be an integer in [1, {n}] (the number of rows), got {k!r}")
    e = emb.detach().cpu()
    sq_norms = e.double().pow(2).sum(dim=1)

    def sq_dist_to(j: int) -> torch.Tensor:
        # ‖e_i − e_j‖² = ‖e_i‖² + ‖e_j‖² − 2 e_i·e_j: one matrix-vector product, no (N, D) temporary
        return (sq_norms + sq_norms[j] - 2.0 * (e @ e[j]).double()).clamp_min(0.0)

    if first is None:
        first = int(torch.argmax(sq_norms))
    elif isinstance(first, bool) or not isinstance(first, int) or not (0 <= first < n):
        raise ValueError(f"first must be a row index in [0, {n - 1}] or None, got {first!r}")
    chosen = [first]
    taken = torch.zeros(n, dtype=torch.bool)
    taken[first] = True
    d2 = sq_dist_to(first)
    while len(chosen) < k:
        w = torch.where(taken, torch.zeros_like(d2), d2)
        if float(w.sum()) > 0.0:
            j = int(torch.multinomial(w, 1, generator=generator))
        else:
            free = torch.nonzero(~taken).flatten()
            j = int(free[torch.randint(len(free), (1,), generator=generator)])
        chosen.append(j)
        taken[j] = True
        d2 = torch.minimum(d2, sq_dist_to(j))
    return torch.tensor(chosen, dtype=torch.long)


@dataclass(frozen=True)
class BadgeOptions(StrategyOptions):
    """The option of :class:`BadgeStrategy`."""

    include_bias: bool = option(False, "append the bias gradient p − e_ŷ to the embedding (the public code does not)")


@register_strategy
class BadgeStrategy(Strategy):
    """BADGE (Ash et al. 2020): k-means++ seeding on last-layer gradient embeddings."""

    name = "badge"
    description = "BADGE (Ash et al. 2020): k-means++ seeding on last-layer gradient embeddings (p - onehot) x h"
    Options = BadgeOptions
    opts: BadgeOptions

    def select(self, ctx: SelectionContext, budget: int) -> torch.Tensor:
        emb = badge_embeddings(
            ctx.model,
            ctx.pool_x,
            ctx.dataset.to_input,
            ctx.batch_size,
            ctx.device,
            ctx.progress,
            include_bias=self.opts.include_bias,
        )
        gen = torch.Generator().manual_seed(int(ctx.seed))
        return kmeans_pp_seeding(emb, budget, gen)
