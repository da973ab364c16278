"""DISAL's dynamic loss (DISAL paper, Eq. 12-14).

An "iteration" t in DISAL is an epoch: every labeled sample is visited once.  For each labeled
sample x_n the toolkit keeps the running mean of its predicted class probabilities

    f̄_(t)(x_n) = f̄_(t-1)(x_n) · (t-1)/t + f_θt(x_n) · 1/t          (Eq. 12)

updated once per epoch, when the sample's mini-batch is visited, from the prediction of that
same forward pass (so tracking costs no extra forward pass).  The dynamic loss is

    L_dynamic = KL( f̄_(t)(x_n) || f_θt(x_n) )                      (Eq. 13)

with the gradient flowing through f_θ only (f̄ is a constant target), and the training objective
is L_overall = L_CE + λ · L_dynamic (Eq. 14), λ = 1 by default (DISAL Table 3).

TiDAL (Kye et al. 2023) keeps the same running mean but trains a separate module on it; DISAL
feeds it back into the task model, which is what this module implements.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["RunningMeanPredictions", "dynamic_kl_loss", "dynamic_kl_from_log_probs"]


class RunningMeanPredictions:
    """Per-sample running mean of predicted probabilities, Eq. 12.

    Each sample has its own visit count ``t``, so the mean is exact even if a sample were
    visited a different number of times than another (e.g. with ``drop_last``).

    Args:
        n_samples: number of labeled samples tracked (indexed ``0..n_samples-1``).
        num_classes: number of classes.
    """

    def __init__(self, n_samples: int, num_classes: int):
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.mean = torch.zeros(n_samples, num_classes)
        self.count = torch.zeros(n_samples, dtype=torch.long)

    @torch.no_grad()
    def update(self, index: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """Fold this visit's probabilities into the running mean and return f̄_(t) for ``index``.

        Args:
            index: ``(B,)`` positions of the samples in the labeled set.
            probs: ``(B, C)`` predicted probabilities f_θt(x_n) (detached inside).
        """
        probs = probs.detach().to(self.mean.dtype).cpu()
        index = index.cpu()
        if probs.shape != (index.shape[0], self.mean.shape[1]):
            raise ValueError(f"probs must have shape ({index.shape[0]}, {self.mean.shape[1]}), got {tuple(probs.shape)}")
        t = self.count.index_select(0, index) + 1
        old = self.mean.index_select(0, index)
        # f̄_t = f̄_{t-1}·(t-1)/t + f_t/t, written as the incremental update f̄ + (f_t − f̄)/t.
        new = old.add_((probs - old).div_(t.unsqueeze(1).to(self.mean.dtype)))
        self.mean.index_copy_(0, index, new)
        self.count.index_copy_(0, index, t)
        return new

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean.clone(), "count": self.count.clone()}


def dynamic_kl_loss(mean_probs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL( f̄ || softmax(logits) ) averaged over the batch (Eq. 13), gradient through logits only.

    ``mean_probs`` is treated as a constant target (detached).  Terms with f̄ = 0 contribute 0.
    """
    if mean_probs.shape != logits.shape:
        raise ValueError(f"mean_probs has shape {tuple(mean_probs.shape)} but logits has {tuple(logits.shape)}; they must match")
    return dynamic_kl_from_log_probs(mean_probs, F.log_softmax(logits, dim=1))


def dynamic_kl_from_log_probs(mean_probs: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
    """:func:`dynamic_kl_loss` from log-probabilities the caller already has (the trainer shares
    one ``log_softmax`` between the cross-entropy and this term)."""
    target = mean_probs.detach().to(log_probs.device, log_probs.dtype)
    return F.kl_div(log_probs, target, reduction="batchmean")
