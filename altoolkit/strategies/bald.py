"""BALD with MC dropout (Houlsby et al. 2011; Gal, Islam & Ghahramani, "Deep Bayesian Active
Learning with Image Data", ICML 2017).

The mutual information between a sample's label and the weights,

    BALD(x) = I[y; θ | x] = H[ E_θ p(y|x,θ) ] − E_θ H[ p(y|x,θ) ],

is estimated with T stochastic forward passes in which the dropout masks play the role of
weight samples (Gal et al. 2017, Eq. 4 with the MC estimate of Sec. 3): with p_t the softmax of
pass t and p̄ = (1/T) Σ_t p_t,

    BALD(x) ≈ H[p̄] − (1/T) Σ_t H[p_t].

Only the dropout layers are switched to train mode; everything else (BatchNorm above all) stays
in eval mode, so the passes differ only by their dropout masks and no running statistics
change.  The score is ≥ 0 (entropy is concave) and is exactly 0 when the passes agree, e.g. for
a model without dropout.  Largest first.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from ..inference import batches
from ..validation import check_int
from .base import SelectionContext, Strategy, register_strategy

__all__ = ["BaldStrategy", "bald_scores", "mutual_information", "dropout_modules", "mc_dropout_mode"]

#: The layer types whose randomness MC dropout samples.
DROPOUT_TYPES: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


def dropout_modules(model: nn.Module) -> list[nn.Module]:
    """The dropout layers of ``model`` (any of :data:`DROPOUT_TYPES`)."""
    return [m for m in model.modules() if isinstance(m, DROPOUT_TYPES)]


@contextmanager
def mc_dropout_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for every layer except dropout, which is put in train mode.

    Every submodule's ``training`` flag is restored on exit (mixed modes included)."""
    saved = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        for m in dropout_modules(model):
            m.train()
        yield
    finally:
        for m, mode in saved:
            m.training = mode


def _entropy_rows(p: torch.Tensor) -> torch.Tensor:
    """−Σ_c p_c log p_c along the last dimension (0·log 0 = 0)."""
    return -torch.xlogy(p, p).sum(dim=-1)


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """BALD from MC samples: ``probs`` of shape ``(T, N, C)`` → ``(N,)`` float64.

    H[p̄] − mean_t H[p_t], evaluated around the first pass (p̄ = p_1 + mean_t (p_t − p_1), and
    likewise for the entropies) so that identical passes give exactly 0 rather than rounding
    noise; tiny negative rounding is clamped to 0.
    """
    if probs.dim() != 3:
        raise ValueError(f"probs must have shape (T, N, C) (MC samples, pool, classes); got {tuple(probs.shape)}")
    p = probs.double()
    p_mean = p[0] + (p - p[0]).mean(dim=0)
    h = _entropy_rows(p)  # (T, N)
    mean_h_minus_h0 = (h - h[0]).mean(dim=0)
    return ((_entropy_rows(p_mean) - h[0]) - mean_h_minus_h0).clamp_min(0.0)


def bald_scores(
    model: nn.Module,
    x: torch.Tensor,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    mc_samples: int = 20,
    seed: int = 0,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """MC-dropout BALD score of every sample of ``x``, ``(N,)`` float32.

    For each batch, ``mc_samples`` forward passes with dropout on (BatchNorm etc. in eval mode);
    memory holds one batch's ``(T, B, C)`` probabilities at a time.  Deterministic for ``seed``:
    the dropout masks come from a forked RNG seeded with ``seed`` (the global RNG is untouched).
    A model without dropout layers gives all zeros (with a warning).
    """
    mc_samples = check_int("mc_samples", mc_samples, 2)
    n = int(x.shape[0])
    if not dropout_modules(model):
        warnings.warn(
            "bald: the model has no dropout layers, so every MC pass is the same and BALD is 0 for "
            "every sample (the selection falls back to pool order); use a model with dropout",
            UserWarning,
            stacklevel=2,
        )
        return torch.zeros(n)
    dev = torch.device(device)
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    out = []
    with torch.random.fork_rng(devices=fork_devices), mc_dropout_mode(model), torch.inference_mode():
        torch.manual_seed(int(seed))
        for sl in batches(n, batch_size, progress, desc="bald"):
            xb = to_input(x[sl]).to(dev)
            probs = torch.stack([torch.softmax(model(xb).double(), dim=1) for _ in range(mc_samples)])
            out.append(mutual_information(probs).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


@register_strategy
class BaldStrategy(Strategy):
    """BALD (Gal et al. 2017): largest MC-dropout mutual information between label and weights.

    Options:
        mc_samples: number T of stochastic forward passes (≥ 2; DBAL uses 20).
    """

    name = "bald"
    description = "BALD (Gal et al. 2017): largest MC-dropout mutual information H[mean p] - mean H[p]"

    def __init__(self, mc_samples: int = 20):
        self.mc_samples = check_int("mc_samples", mc_samples, 2)

    def options(self) -> dict:
        return {"mc_samples": self.mc_samples}

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        return bald_scores(
            ctx.model,
            ctx.pool_x,
            ctx.dataset.to_input,
            mc_samples=self.mc_samples,
            seed=ctx.seed,
            batch_size=ctx.batch_size,
            device=ctx.device,
            progress=ctx.progress,
        )
