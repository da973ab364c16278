"""Per-sample scores computed from predicted probabilities, and top-k selection.

The DISAL score (DISAL paper, Eq. 15) is written there as

    I(x) = f_{T-1}(x)ᵀ · log( f_T(x) / f_{T-1}(x) ) = −KL( f_{T-1}(x) || f_T(x) ),

which is never positive.  Because Σ_y f_y ∇log f_y = 0, the first-order term of the KL between
the two checkpoints vanishes and

    KL( f_{T-1} || f_T ) ≈ ½ dᵀ F(x) d = ½ E_{y~f_{T-1}} [ (∇log f_y(x) · d)² ],   d = θ_T − θ_{T-1},

with F the Fisher information of the sample.  "A higher projected gradient along the accumulated
optimisation direction" therefore means a LARGER KL, and the toolkit selects the samples with
the largest ``disal_kl`` by default.  ``select_top(..., largest=False)`` flips the choice, so a
user can see what selecting the other end does.
"""

from __future__ import annotations

import torch

__all__ = [
    "check_probabilities",
    "disal_kl",
    "disal_kl_from_logits",
    "entropy",
    "least_confidence",
    "margin",
    "select_top",
]


def check_probabilities(name: str, p: torch.Tensor, atol: float = 1e-4) -> torch.Tensor:
    """Check that ``p`` is an ``(N, C)`` float tensor of probabilities: finite, non-negative,
    rows summing to 1 within ``atol``.  Returns ``p`` as float64 for stable arithmetic."""
    if not isinstance(p, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, C), got {type(p).__name__}")
    if p.dim() != 2:
        raise ValueError(f"{name} must have shape (N, C), got shape {tuple(p.shape)}")
    if not p.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {p.dtype}")
    if torch.isnan(p).any():
        raise ValueError(f"{name} contains NaN; probabilities must be finite numbers in [0, 1]")
    if (p < 0).any() or (p > 1 + atol).any():
        raise ValueError(f"{name} has values outside [0, 1]; pass probabilities, not logits")
    sums = p.sum(dim=1)
    if p.shape[0] and not torch.allclose(sums, torch.ones_like(sums), atol=atol):
        worst = float((sums - 1).abs().max())
        raise ValueError(f"{name} rows must sum to 1 (within {atol}); the worst row is off by {worst:.3g}. Apply softmax to logits first.")
    return p.double()


def disal_kl(p_prev: torch.Tensor, p_last: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """KL( p_prev || p_last ) per sample: the DISAL score (Eq. 15 with its sign flipped).

    Args:
        p_prev: ``(N, C)`` probabilities under θ_{T-1} (the second-to-last epoch).
        p_last: ``(N, C)`` probabilities under θ_T (the last epoch).
        eps: floor for ``p_last`` inside the log, so a zero in ``p_last`` where ``p_prev > 0``
            gives a large finite score instead of ``inf``.  Zeros in ``p_prev`` contribute 0
            (the convention 0·log 0 = 0).

    Returns:
        ``(N,)`` float32 tensor, ≥ 0; larger means a larger projected gradient (select first).

    Examples:
        >>> import torch, altoolkit as alt
        >>> p = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
        >>> float(alt.disal_kl(p, p).abs().max()) < 1e-6, bool(alt.disal_kl(p, p.flip(1))[1] > 0)
        (True, True)
    """
    p = check_probabilities("p_prev", p_prev)
    q = check_probabilities("p_last", p_last)
    if p.shape != q.shape:
        raise ValueError(f"p_prev has shape {tuple(p.shape)} but p_last has {tuple(q.shape)}; they must match")
    kl = torch.xlogy(p, p) - torch.xlogy(p, q.clamp_min(eps))
    return kl.sum(dim=1).clamp_min(0.0).float()


def disal_kl_from_logits(logits_prev: torch.Tensor, logits_last: torch.Tensor) -> torch.Tensor:
    """KL( softmax(logits_prev) || softmax(logits_last) ) per sample, from logits (exact, no eps).

    This is what the strategies use: log-softmax keeps tiny probabilities accurate.

    Examples:
        >>> import torch, altoolkit as alt
        >>> a, b = torch.randn(4, 3), torch.randn(4, 3)
        >>> torch.allclose(alt.disal_kl_from_logits(a, b), alt.disal_kl(a.softmax(1), b.softmax(1)), atol=1e-5)
        True
    """
    if logits_prev.shape != logits_last.shape:
        raise ValueError(f"logits_prev has shape {tuple(logits_prev.shape)} but logits_last has {tuple(logits_last.shape)}; they must match")
    lp = torch.log_softmax(logits_prev.double(), dim=1)
    lq = torch.log_softmax(logits_last.double(), dim=1)
    return (lp.exp() * (lp - lq)).sum(dim=1).clamp_min(0.0).float()


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Predictive entropy −Σ_c p_c log p_c per sample (0·log 0 = 0).

    Examples:
        >>> import torch, altoolkit as alt
        >>> alt.entropy(torch.tensor([[0.5, 0.5], [0.25, 0.75]]))
        tensor([0.6931, 0.5623])
    """
    p = check_probabilities("p", p)
    return (-torch.xlogy(p, p).sum(dim=1)).float()


def least_confidence(p: torch.Tensor) -> torch.Tensor:
    """1 − max_c p_c per sample (larger = less confident)."""
    p = check_probabilities("p", p)
    return (1.0 - p.max(dim=1).values).float()


def margin(p: torch.Tensor) -> torch.Tensor:
    """Negative gap between the two largest probabilities (larger = smaller margin)."""
    p = check_probabilities("p", p)
    top2 = p.topk(2, dim=1).values
    return (-(top2[:, 0] - top2[:, 1])).float()


def select_top(scores: torch.Tensor, k: int, largest: bool = True) -> torch.Tensor:
    """Positions of the ``k`` largest (or smallest) scores, ties broken by position.

    Deterministic: equal scores are taken in index order, so the same scores always give the
    same selection.  NaN scores are rejected.

    Examples:
        >>> import torch, altoolkit as alt
        >>> alt.select_top(torch.tensor([0.1, 0.9, 0.5]), 2)
        tensor([1, 2])
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() != 1:
        raise ValueError("scores must be a 1-D tensor with one score per pool sample")
    n = scores.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not (1 <= k <= n):
        raise ValueError(f"k (the budget) must be an integer in [1, {n}] (the pool size), got {k!r}")
    if torch.isnan(scores).any():
        raise ValueError("scores contain NaN; cannot rank the pool")
    key = -scores.double() if largest else scores.double()
    order = torch.sort(key, stable=True).indices
    return order[:k]
