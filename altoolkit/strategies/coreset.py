"""Core-set selection by k-center greedy (Sener & Savarese, "Active Learning for Convolutional
Neural Networks: A Core-Set Approach", ICLR 2018).

The paper bounds the core-set loss by the covering radius δ of the labeled set (Theorem 1) and
picks the new points to minimise it, max_i min_{j ∈ s} Δ(x_i, x_j) (Eq. 3), a k-center problem.
The greedy algorithm (Algorithm 1) repeatedly adds the point farthest from every current
centre; its covering radius is at most twice the optimum (Gonzalez 1985).  The distance is the
Euclidean distance between the model's penultimate features (``model.embed``); the labeled set
is the initial set of centres.  (The paper's robust MIP refinement is not implemented.)
"""

from __future__ import annotations

import torch

from ..training.inference import predict_logits
from .base import SelectionContext, Strategy, register_strategy

__all__ = ["CoresetStrategy", "k_center_greedy", "covering_radius"]

_BLOCK_FLOATS = 1 << 24  # entries of one (N, block) distance matrix (64 MB in float32)


def _min_sq_dist_to(features: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """min_j ‖features_i − centres_j‖² for every i, ``(N,)`` float64, centres taken in blocks so
    memory stays at about :data:`_BLOCK_FLOATS` entries."""
    n = features.shape[0]
    best = torch.full((n,), float("inf"), dtype=torch.float64)
    block = max(1, _BLOCK_FLOATS // max(1, n))
    for s in range(0, centres.shape[0], block):
        d = torch.cdist(features, centres[s : s + block], compute_mode="use_mm_for_euclid_dist")
        best = torch.minimum(best, d.double().pow(2).min(dim=1).values)
    return best


def covering_radius(features: torch.Tensor, centre_idx: torch.Tensor) -> float:
    """max_i min_{j ∈ centres} ‖x_i − x_j‖: the radius δ of Sener & Savarese's Eq. 3."""
    feats = torch.as_tensor(features).double()
    idx = torch.as_tensor(centre_idx, dtype=torch.long)
    if idx.numel() == 0:
        raise ValueError("centre_idx must name at least one centre")
    return float(_min_sq_dist_to(feats, feats[idx]).max().sqrt())


def k_center_greedy(
    features: torch.Tensor,
    centres: torch.Tensor | None,
    budget: int,
) -> torch.Tensor:
    """Greedy k-center (Sener & Savarese 2018, Algorithm 1): ``budget`` indices into ``features``.

    Args:
        features: ``(N, D)`` points to choose from.
        centres: the initial centres, either a boolean mask ``(N,)`` over ``features`` (those
            points are centres and are never returned), a float tensor ``(M, D)`` of centre
            coordinates (the labeled set's features), or ``None`` / an empty tensor for none.
        budget: number of points to add, in ``[1, number of candidates]``.

    Returns:
        ``(budget,)`` int64 indices into ``features``, in the order they were picked.  Each pick
        is the candidate whose distance to its nearest centre is largest (ties: lowest index);
        with no initial centres the first pick is the point nearest the mean of ``features``.
        Deterministic.  The covering radius of the result (with the initial centres) is at most
        twice the optimum over all choices of ``budget`` points.
    """
    if not isinstance(features, torch.Tensor) or features.dim() != 2 or not features.is_floating_point():
        raise ValueError("features must be a float tensor of shape (N, D)")
    n = int(features.shape[0])
    feats = features.detach().cpu()
    available = torch.ones(n, dtype=torch.bool)
    min_d2: torch.Tensor | None = None
    if centres is not None and centres.numel() > 0:
        centres = centres.detach().cpu()
        if centres.dtype == torch.bool:
            if centres.shape != (n,):
                raise ValueError(f"a centre mask must have shape ({n},) like features; got {tuple(centres.shape)}")
            available = ~centres
            if bool(centres.any()):
                min_d2 = _min_sq_dist_to(feats, feats[centres])
        else:
            if centres.dim() != 2 or centres.shape[1] != feats.shape[1]:
                raise ValueError(f"centres must be a boolean mask ({n},) or a float tensor (M, {feats.shape[1]}); got shape {tuple(centres.shape)}")
            min_d2 = _min_sq_dist_to(feats, centres.to(feats.dtype))
    n_cand = int(available.sum())
    if isinstance(budget, bool) or not isinstance(budget, int) or not (1 <= budget <= n_cand):
        raise ValueError(f"budget must be an integer in [1, {n_cand}] (the number of candidates), got {budget!r}")

    sq_norms = feats.double().pow(2).sum(dim=1)

    def sq_dist_to(j: int) -> torch.Tensor:
        # ‖x_i − x_j‖² = ‖x_i‖² + ‖x_j‖² − 2 x_i·x_j: one matrix-vector product, no (N, D) temporary
        return (sq_norms + sq_norms[j] - 2.0 * (feats @ feats[j]).double()).clamp_min(0.0)

    chosen: list[int] = []
    if min_d2 is None:
        mean = feats.double().mean(dim=0)
        first = int(torch.argmin(sq_norms - 2.0 * (feats.double() @ mean)))  # nearest to the mean
        chosen.append(first)
        min_d2 = sq_dist_to(first)
        available[first] = False
    while len(chosen) < budget:
        key = torch.where(available, min_d2, torch.full_like(min_d2, -1.0))
        j = int(torch.argmax(key))  # first maximum: ties broken by index
        chosen.append(j)
        available[j] = False
        min_d2 = torch.minimum(min_d2, sq_dist_to(j))
    return torch.tensor(chosen, dtype=torch.long)


@register_strategy
class CoresetStrategy(Strategy):
    """Core-set (Sener & Savarese 2018): k-center greedy on penultimate features, labeled set as
    the initial centres.  Picks a set jointly, so it overrides :meth:`select` (no per-sample score)."""

    name = "coreset"
    description = "Core-set (Sener & Savarese 2018): k-center greedy on penultimate features from the labeled set"

    def select(self, ctx: SelectionContext, budget: int) -> torch.Tensor:
        n_lab = int(ctx.labeled.numel())
        x = torch.cat([ctx.labeled_x, ctx.pool_x])  # one pass over labeled + pool
        feats = predict_logits(ctx.model, x, ctx.dataset.to_input, ctx.batch_size, ctx.device, ctx.progress, embed=True)
        return k_center_greedy(feats[n_lab:], feats[:n_lab], budget)
