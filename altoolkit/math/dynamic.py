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

The trainer does not evaluate Eq. 13-14 step by step: :class:`EpochDynamicObjective` gives every
step the same gradient from a target formed once per epoch, at the cost of a cross-entropy (see
its docstring for the derivation); :func:`dynamic_kl_loss` and :meth:`RunningMeanPredictions.update`
are the step-by-step form, kept as the reference the tests compare it with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["RunningMeanPredictions", "EpochDynamicObjective", "dynamic_kl_loss", "dynamic_kl_from_log_probs", "gradient_gap_to_step_by_step"]


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
        self._visits: int | None = 0  # every sample's count while they are all equal (fold_epoch), else None

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
        self._visits = None
        t = self.count.index_select(0, index) + 1
        old = self.mean.index_select(0, index)
        # f̄_t = f̄_{t-1}·(t-1)/t + f_t/t, written as the incremental update f̄ + (f_t − f̄)/t.
        new = old.add_((probs - old).div_(t.unsqueeze(1).to(self.mean.dtype)))
        self.mean.index_copy_(0, index, new)
        self.count.index_copy_(0, index, t)
        return new

    @property
    def visits(self) -> int | None:
        """Every sample's visit count while they are all equal (only :meth:`fold_epoch` was used), else None."""
        return self._visits

    @torch.no_grad()
    def fold_epoch(self, probs: torch.Tensor) -> None:
        """Eq. 12 for every sample at once: fold ``probs`` ``(n_samples, C)``, the prediction each
        sample received during this epoch, into the running mean (each count grows by one)."""
        probs = probs.detach().to(self.mean.dtype).cpu()
        if probs.shape != self.mean.shape:
            raise ValueError(f"probs must have shape {tuple(self.mean.shape)}, got {tuple(probs.shape)}")
        self.count += 1
        if self._visits is not None:  # one count for all: f̄ + (f_t − f̄)/t as one lerp
            self._visits += 1
            self.mean.lerp_(probs, 1.0 / self._visits)
        else:
            self.mean.add_((probs - self.mean).div_(self.count.unsqueeze(1).to(self.mean.dtype)))

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


class EpochDynamicObjective:
    """L_overall = L_CE + λ·KL(f̄_(t) || f_θt) (Eq. 12-14) for one training run, at the cost of a
    cross-entropy per step.

    Within epoch t a sample x_n with c = t-1 earlier visits gets f̄_(t) = (c·f̄_(t-1) + p)/(c+1),
    where p = f_θt(x_n) is this very step's prediction, taken as a constant (detached).  Per
    sample, with the one-hot label e_y and z the logits,

        L = -log p_y + λ·Σ_k f̄_(t),k (log f̄_(t),k - log p_k)
          = -Σ_k A_k log p_k  -  (λ/(c+1))·Σ_k p̂_k log p_k  +  (terms without z),
        A = e_y + λ·c/(c+1)·f̄_(t-1),  p̂ = p detached.

    The middle term's gradient, (λ/(c+1))·(p - p̂)·Σ_k p̂_k, is zero because p̂ = p: a
    prediction's cross-entropy against itself is at its minimum.  So every step's gradient is
    that of -Σ_k A_k log p_k, i.e. (Σ_k A_k)·p - A (divided by the batch size), with A known at
    the start of the epoch.  :meth:`step_loss` returns that surrogate (same gradient, not the
    same value); ``step_loss`` records each sample's log p of the epoch and :meth:`end_epoch` computes the
    logged CE, KL and training accuracy over the whole labeled set, then folds f̄ (Eq. 12).

    Equal to the step-by-step form (``dynamic_kl_loss`` on ``RunningMeanPredictions.update``)
    up to float rounding (tests/test_dynamic.py compares gradients and a training run); it
    replaces about a dozen small tensor operations per step (index, update, KL and their
    backward: 0.35 ms per step on a 2-core CPU, 6% of a small-CNN step) with three.

    Assumes every sample is visited exactly once per epoch (the trainer's permutation), which
    :meth:`end_epoch` checks.
    """

    def __init__(self, y: torch.Tensor, num_classes: int, dynamic_weight: float, device: torch.device | str = "cpu"):
        self.y = y.detach().to(torch.long).cpu()
        self.lam = float(dynamic_weight)
        self.device = torch.device(device)
        n = int(self.y.shape[0])
        self.running = RunningMeanPredictions(n, num_classes)
        self._y_dev = self.y.to(self.device)
        self._onehot = F.one_hot(self._y_dev, num_classes).to(torch.float32)
        # epoch 1: f̄_(0) is not used (c = 0), so A = e_y
        self._target: torch.Tensor | None = self._onehot if self.lam > 0 else None
        # this epoch's log p of every sample; NaN marks a sample not visited yet
        self._log_p = torch.full((n, num_classes), float("nan"), device=self.device)

    def step_loss(self, index: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """The loss to backpropagate for the samples ``index`` (positions in the labeled set):
        -mean_n Σ_k A_nk log p_nk (its gradient is Eq. 14's; with λ = 0 it is the CE itself)."""
        log_p = F.log_softmax(logits, dim=1)
        if self.device.type != "cpu":
            index = index.to(self.device)
        self._log_p.index_copy_(0, index, log_p.detach())
        if self._target is None:  # λ = 0: train on the cross-entropy, only record f̄
            return F.nll_loss(log_p, self._y_dev.index_select(0, index))
        return (self._target.index_select(0, index) * log_p).sum().div(-logits.shape[0])

    @torch.no_grad()
    def end_epoch(self) -> tuple[float, float, int]:
        """Fold this epoch's predictions into f̄ (Eq. 12), form the next epoch's target, and return
        the epoch's mean cross-entropy, mean KL(f̄_(t) || f_θt) (Eq. 13, each sample against its own
        prediction of this epoch) and the number of correctly classified samples."""
        log_p = self._log_p.cpu()
        self.running.fold_epoch(log_p.exp())
        mean = self.running.mean
        stats = torch.stack([F.nll_loss(log_p, self.y), F.kl_div(log_p, mean, reduction="batchmean"), (log_p.argmax(1) == self.y).sum()]).tolist()
        if stats[0] != stats[0]:  # NaN: a row of log p was never written
            missing = int(log_p.isnan().any(1).sum())
            raise RuntimeError(f"{missing} labeled samples were not visited this epoch; the dynamic loss needs each sample once per epoch")
        if self._target is not None:  # A = e_y + λ·c/(c+1)·f̄ for the next epoch, c = visits so far
            c = self.running.visits or 0
            # a tensor product, not add's alpha: a huge λ must reach the trainer's divergence check
            self._target = mean.to(self.device).mul(self.lam * c / (c + 1)).add_(self._onehot)
        self._log_p.fill_(float("nan"))
        return float(stats[0]), float(stats[1]), int(stats[2])


def gradient_gap_to_step_by_step(n: int = 64, num_classes: int = 10, epochs: int = 5, dynamic_weight: float = 1.0, seed: int = 0) -> float:
    """Largest absolute difference between the logits' gradients of the two forms of Eq. 14, over
    ``epochs`` epochs of random logits (the labeled set as one batch, seeded):

    - step by step: f̄ updated with this step's prediction (:meth:`RunningMeanPredictions.update`),
      then CE + λ·KL(f̄_(t) || f_θt) through autograd (:func:`dynamic_kl_loss`);
    - the trainer's :class:`EpochDynamicObjective`: -Σ A log p with A formed at the epoch's start.

    A float-rounding gap (about 1e-8) confirms the derivation in :class:`EpochDynamicObjective`.
    """
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, num_classes, (n,), generator=gen)
    reference = RunningMeanPredictions(n, num_classes)
    objective = EpochDynamicObjective(y, num_classes, dynamic_weight)
    gap = 0.0
    for _ in range(epochs):
        logits = torch.randn(n, num_classes, generator=gen) * 2
        z_ref = logits.clone().requires_grad_(True)
        log_p = F.log_softmax(z_ref, dim=1)
        mean = reference.update(torch.arange(n), log_p.detach().exp())
        (F.nll_loss(log_p, y) + dynamic_weight * dynamic_kl_loss(mean, z_ref)).backward()
        z = logits.clone().requires_grad_(True)
        objective.step_loss(torch.arange(n), z).backward()
        objective.end_epoch()
        assert z.grad is not None and z_ref.grad is not None
        gap = max(gap, float((z.grad - z_ref.grad).abs().max()))
    return gap
