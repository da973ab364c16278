"""Batch rules: how a strategy's per-sample scores become a batch of ``budget`` pool samples.

This module owns the ``batch`` option that every per-sample strategy takes
(``get_strategy("disal", batch="balanced")``, ``altoolkit al --batch balanced``):

- ``"topk"`` (default, what the papers do): the ``budget`` best-ranked samples.
- ``"balanced"``: the budget is split over the model's pseudo-labels (argmax of θ_T on the pool)
  in proportion to how many pool samples carry each pseudo-label (Hamilton's largest-remainder
  method: ``floor(budget·n_c/N)`` each, the remaining seats to the largest fractional parts, ties
  to the smaller class index), each class's seats go to its best-ranked samples, and any seat a
  class cannot fill goes to the best-ranked samples not yet chosen.  No class then gets more
  than ``ceil(budget·n_c/N)`` samples.
- ``"diverse"``: score-weighted k-means++ seeding on penultimate features, as BADGE seeds its
  batch (JordanAsh/badge, ``query_strategies/badge_sampling.py``, ``init_centers``): the first
  point is the one of largest norm, every next point is drawn with probability ∝ D², D the
  distance to the nearest point chosen so far (:func:`kmeans_pp_seeding`, which
  :mod:`altoolkit.strategies.badge` uses too).  BADGE's points are gradient embeddings whose
  norm carries the uncertainty; here each point is the unit-normalised feature ``h/‖h‖`` scaled
  by a weight ``w ∈ (0, 1]`` that falls linearly with the sample's rank under the strategy
  (``w = (N − rank)/N``), so the rule is scale-free for every score (KL, entropy, ISAL's
  negative influences) and the first point is always the top-ranked one: with ``budget = 1``
  ``"diverse"`` selects exactly what ``"topk"`` selects.  Draws come from a generator seeded by
  the selection seed (``ctx.seed``).  What it is, measured against its random-score control
  (``benchmarks/batch_rule_prefilter.py``, digits, 10 seeds): diversity sampling that barely reads
  the score.  With budgets of 1% of the pool only 8% of its picks lie in the score's own top-k
  (DISAL, DISAL w/o D, entropy, margin: 0.08-0.09; 0.01-0.02 for the same rule fed a random score),
  and its largest-class share equals the random-score control's (DISAL 0.24 vs 0.23, paired
  verdict inconclusive); with budgets of 15% of the pool (202 images), 0.34-0.39 against the control's
  0.21-0.25.  The linear weight ``(N − rank)/N`` is too flat to let the score decide: a sample
  ranked in the middle of the pool still weighs 0.5.
- ``"topm"`` (prefilter, then diversify): the ``m = ⌈prefilter · budget⌉`` best-ranked samples
  (capped at the pool) are the candidates, and k-means++ seeding on their unit-normalised
  features ``h/‖h‖`` (BADGE's ``init_centers``, :func:`kmeans_pp_seeding`)
  picks ``budget`` of them, starting from the top-ranked sample; draws are seeded by ``ctx.seed``.
  The score decides which samples may be chosen and diversity decides among them, so at least
  ``max(0, 2 − prefilter)·budget`` of the batch lies in the score's own top-``budget``;
  ``prefilter=1`` is ``"topk"``.  The pre-filter is the first step of Zhdanov 2019, "Diverse
  mini-batch Active Learning" (arXiv:1901.05954: the β·k most informative samples, then k
  clusters); its second step (weighted K-means, the sample nearest each centroid) is replaced
  here by BADGE's k-means++ seeding, the seeding that K-means itself starts from.  ``prefilter``
  (β, a number ≥ 1, default :data:`DEFAULT_PREFILTER`) is an option of the strategy that applies
  to ``batch="topm"`` only.

Every rule but ``"topk"`` reports, per selection, the share of its batch that lies in the
score's own top-``budget`` (:func:`topk_overlap`; ``"topk"`` is 1 by definition).  The control of
a rule is the same rule fed a random score (the ``random`` strategy with ``batch=RULE``, or
``disal_no_selection`` for runs trained with the dynamic loss; see
:mod:`altoolkit.drivers.batch_rule_control`): how much of the batch the score decided is its
overlap minus what the control's batch takes of that same top-k, and a rule whose batch does not
change when its score is replaced by a random one is not selecting by that score.

The rank comes from the strategy's own ``select_from_scores`` (so ``largest=False`` options and
ISAL's most-negative-first are respected): the rules never reinterpret a score's sign.
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = [
    "BATCH_RULES",
    "DEFAULT_BATCH",
    "DEFAULT_PREFILTER",
    "check_batch",
    "check_prefilter",
    "rank_positions",
    "balanced_quotas",
    "select_balanced",
    "select_diverse",
    "prefilter_size",
    "select_topm",
    "topk_overlap",
    "apply_rule",
    "kmeans_pp_seeding",
]

#: Allowed values of the ``batch`` option.
BATCH_RULES: tuple[str, ...] = ("topk", "balanced", "diverse", "topm")
DEFAULT_BATCH = "topk"
#: β of the ``"topm"`` rule when the ``prefilter`` option is not given, chosen by the control
#: (:func:`altoolkit.drivers.batch_rule_control.prefilter_scan`, ``benchmarks/batch_rule_prefilter.py``,
#: digits, 10 seeds, budgets of 1% and of 15% of the pool): the largest β of the grid 1.5, 2, 3, 4, 6,
#: 10, 20 at which, in both regimes and for each of DISAL, DISAL w/o D, entropy and margin, the score
#: still decides at least a quarter of the batch (share of the batch in the score's top-k minus
#: that of the same rule fed a random score: 0.47-0.50 at 1%, 0.26-0.29 at 15%; β = 3 gives
#: 0.11-0.12 at 15%).  At 15% β = 2 cuts DISAL's largest-class share from 0.44 (topk) to 0.24
#: (random score: 0.14); at 1% it does not (0.89 to 0.83; random score 0.22), and no β at which
#: the score decides a quarter of the batch gets DISAL below 0.80: there the collapse lies deep in
#: the score's ranking (its top 20·budget still give 0.38).
DEFAULT_PREFILTER = 2.0


def check_batch(batch: Any, strategy: str = "") -> str:
    """Validate the ``batch`` option; a clear error names the option and the allowed values."""
    if not isinstance(batch, str) or batch not in BATCH_RULES:
        where = f" of strategy {strategy!r}" if strategy else ""
        raise ValueError(f"option 'batch'{where} must be one of {', '.join(BATCH_RULES)}; got {batch!r}")
    return batch


def check_prefilter(prefilter: Any, batch: str, strategy: str = "") -> float | None:
    """Validate the ``prefilter`` option (β of the ``"topm"`` rule): a number ≥ 1, given only
    with ``batch="topm"``.  Returns it as a float (``None`` stays ``None``: the default)."""
    if prefilter is None:
        return None
    where = f" of strategy {strategy!r}" if strategy else ""
    if batch != "topm":
        raise ValueError(f"option 'prefilter'{where} applies to batch='topm' only (allowed batch values: {', '.join(BATCH_RULES)}); got batch={batch!r}")
    if isinstance(prefilter, bool) or not isinstance(prefilter, (int, float)) or not math.isfinite(prefilter) or prefilter < 1:
        raise ValueError(f"option 'prefilter'{where} must be a number in [1, inf) (candidates per batch seat); got {prefilter!r}")
    return float(prefilter)


def _check_budget(budget: Any, n: int) -> None:
    if isinstance(budget, bool) or not isinstance(budget, int) or not (1 <= budget <= n):
        raise ValueError(f"budget must be an integer in [1, {n}] (the pool size), got {budget!r}")


def rank_positions(order: torch.Tensor, n: int) -> torch.Tensor:
    """``rank[i]`` = place of pool position ``i`` in ``order`` (a permutation of ``range(n)``)."""
    order = torch.as_tensor(order, dtype=torch.long)
    if order.shape != (n,) or not torch.equal(torch.sort(order).values, torch.arange(n)):
        raise ValueError(f"order must be a permutation of range({n})")
    rank = torch.empty(n, dtype=torch.long)
    rank[order] = torch.arange(n)
    return rank


def balanced_quotas(counts: torch.Tensor, budget: int) -> torch.Tensor:
    """Seats per class by Hamilton's largest-remainder method: ``budget·n_c/N`` rounded so that
    the seats sum to ``budget``; each class gets ``floor`` or ``ceil`` of its share.

    Args:
        counts: ``(C,)`` non-negative integer counts of the pool per (pseudo-)class.
        budget: number of seats, ``0 <= budget <= counts.sum()``.
    """
    counts = torch.as_tensor(counts, dtype=torch.long)
    total = int(counts.sum())
    if isinstance(budget, bool) or not isinstance(budget, int) or not (0 <= budget <= total):
        raise ValueError(f"budget must be an integer in [0, {total}] (the pool size), got {budget!r}")
    if total == 0:
        return torch.zeros_like(counts)
    exact = counts.double() * budget / total
    seats = torch.floor(exact).long()
    rest = budget - int(seats.sum())
    if rest > 0:
        frac = exact - seats.double()
        # largest fractional part first; ties to the smaller class index (stable sort)
        order = torch.sort(-frac, stable=True).indices
        seats[order[:rest]] += 1
    return seats


def select_balanced(order: torch.Tensor, pseudo_labels: torch.Tensor, budget: int, num_classes: int) -> torch.Tensor:
    """The ``"balanced"`` rule: per-class top-k with :func:`balanced_quotas` of the pool's
    pseudo-label counts, unfilled seats to the best-ranked remaining samples.

    Args:
        order: the strategy's full ranking of the pool (best first), a permutation.
        pseudo_labels: ``(N,)`` predicted class of each pool position.
        budget: batch size.
        num_classes: number of classes.

    Returns:
        positions into the pool, in rank order (best first).
    """
    n = int(pseudo_labels.shape[0])
    rank = rank_positions(order, n)
    pseudo_labels = torch.as_tensor(pseudo_labels, dtype=torch.long)
    quotas = balanced_quotas(torch.bincount(pseudo_labels, minlength=num_classes), budget)
    taken = torch.zeros(n, dtype=torch.bool)
    for c in range(num_classes):
        q = int(quotas[c])
        if q == 0:
            continue
        members = torch.nonzero(pseudo_labels == c).flatten()
        best = members[torch.argsort(rank[members])][:q]
        taken[best] = True
    short = budget - int(taken.sum())
    if short > 0:  # cannot happen with Hamilton quotas (ceil(b·n_c/N) <= n_c), kept for safety
        rest = order[~taken[order]][:short]
        taken[rest] = True
    chosen = torch.nonzero(taken).flatten()
    return chosen[torch.argsort(rank[chosen])]


def select_diverse(order: torch.Tensor, features: torch.Tensor, budget: int, seed: int) -> torch.Tensor:
    """The ``"diverse"`` rule: BADGE's k-means++ seeding on rank-weighted unit features.

    Each pool point becomes ``z_i = w_i · [h_i/‖h_i‖, 1]/√2`` (the constant coordinate keeps
    ‖z_i‖ = w_i even for an all-zero feature vector), ``w_i = (N − rank_i)/N``, and
    :func:`kmeans_pp_seeding` (BADGE's ``init_centers``) picks
    ``budget`` of them: first the largest norm, i.e. the top-ranked sample, then D² draws.

    Args:
        order: the strategy's full ranking of the pool (best first), a permutation.
        features: ``(N, D)`` penultimate features of the pool (``model.embed``).
        budget: batch size, ``1 <= budget <= N``.
        seed: seeds the D² draws.

    Returns:
        positions into the pool, in the order they were chosen (the first is ``order[0]``).
    """
    n = int(features.shape[0])
    _check_budget(budget, n)
    rank = rank_positions(order, n)
    f = features.double().reshape(n, -1)
    unit = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
    z = torch.cat([unit, torch.ones(n, 1, dtype=torch.float64)], dim=1) / 2.0**0.5
    z = z * ((n - rank).double() / n).unsqueeze(1)
    return kmeans_pp_seeding(z, budget, torch.Generator().manual_seed(int(seed)))


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


def prefilter_size(budget: int, n: int, prefilter: float) -> int:
    """``m = min(n, ⌈prefilter · budget⌉)``: how many best-ranked samples ``"topm"`` diversifies
    within (never fewer than ``budget``)."""
    return min(n, max(budget, math.ceil(prefilter * budget - 1e-9)))


def select_topm(order: torch.Tensor, features: torch.Tensor, budget: int, prefilter: float, seed: int) -> torch.Tensor:
    """The ``"topm"`` rule: k-means++ seeding (BADGE's ``init_centers``) among the top
    ``m = ⌈prefilter · budget⌉`` ranked samples, started at the top-ranked one.

    Args:
        order: the strategy's full ranking of the pool (best first), a permutation.
        features: ``(N, D)`` penultimate features of the pool (``model.embed``).
        budget: batch size, ``1 <= budget <= N``.
        prefilter: β ≥ 1, candidates per batch seat (Zhdanov 2019's pre-filter).
        seed: seeds the D² draws.

    Returns:
        positions into the pool, in the order they were chosen (the first is ``order[0]``).
    """
    n = int(features.shape[0])
    _check_budget(budget, n)
    beta = check_prefilter(prefilter, "topm")
    if beta is None:
        raise ValueError("prefilter must be a number in [1, inf), got None")
    rank_positions(order, n)  # validates the permutation
    candidates = torch.as_tensor(order, dtype=torch.long)[: prefilter_size(budget, n, beta)]
    f = features.double().reshape(n, -1)[candidates]
    unit = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
    picked = kmeans_pp_seeding(unit, budget, torch.Generator().manual_seed(int(seed)), first=0)
    return candidates[picked]


def topk_overlap(chosen: torch.Tensor, order: torch.Tensor, budget: int) -> float:
    """Share of the batch ``chosen`` (pool positions) that lies in the score's own top-``budget``
    (``order[:budget]``): 1 for ``"topk"``, about ``budget/N`` for a rule that ignores the score."""
    chosen = torch.as_tensor(chosen, dtype=torch.long).flatten()
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1 or chosen.numel() != budget:
        raise ValueError(f"budget must be the batch size ({chosen.numel()}), got {budget!r}")
    top = torch.as_tensor(order, dtype=torch.long)[:budget]
    return float(torch.isin(chosen, top).sum()) / budget


def apply_rule(
    rule: str,
    order: torch.Tensor,
    budget: int,
    seed: int,
    num_classes: int,
    prefilter: float | None = None,
    pseudo_labels: torch.Tensor | None = None,
    features: torch.Tensor | None = None,
) -> torch.Tensor:
    """The batch of ``rule`` (not ``"topk"``) from the ranking ``order``: ``"balanced"`` reads
    ``pseudo_labels``, ``"diverse"`` and ``"topm"`` read ``features`` (``"topm"`` also
    ``prefilter``, default :data:`DEFAULT_PREFILTER`); ``seed`` seeds the D² draws."""
    rule = check_batch(rule)
    if rule == "topk":
        raise ValueError("apply_rule takes the rules other than 'topk' (topk is the strategy's select_from_scores)")
    if rule == "balanced":
        if pseudo_labels is None:
            raise ValueError("batch rule 'balanced' needs pseudo_labels (the model's argmax on the pool)")
        return select_balanced(order, pseudo_labels, budget, num_classes)
    if features is None:
        raise ValueError(f"batch rule {rule!r} needs features (the model's penultimate features of the pool)")
    if rule == "diverse":
        return select_diverse(order, features, budget, seed)
    return select_topm(order, features, budget, DEFAULT_PREFILTER if prefilter is None else prefilter, seed)
