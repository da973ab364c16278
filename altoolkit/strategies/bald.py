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
change.  The score is ≥ 0 (entropy is concave) and is exactly 0 when the passes agree.  Largest
first.

Models without dropout (the ResNets here) would give exactly 0 for every sample, and a top-k of
constant scores is the first k pool indices (on Caltech101, whole classes).  As
hyperconnect/TiDAL does (``models/resnet.py``: ``self.dropout = nn.Dropout(0.5)`` applied to the
pooled features only when ``method == 'BALD'``, then ``self.linear``; ``methods/selection_methods.py``
``predict_prob_dropout_split``: ``n_drop=10`` passes, backbone in eval mode), such a model gets
Dropout(``head_dropout``) on its penultimate features ``model.embed(x)`` before ``model.head`` at
BALD inference only (training is unchanged); the features are computed once per batch and the
T passes differ only in the head's dropout mask.  A model with neither dropout layers nor an
``embed``/``head`` pair is refused, and :class:`BaldStrategy` refuses to select on scores that
are all equal (:class:`ConstantScoresError`) instead of silently taking pool order.
"""

from __future__ import annotations

from dataclasses import dataclass

from contextlib import contextmanager
from typing import Callable, Iterator, cast

import torch
from torch import nn
import torch.nn.functional as F

from ..util.modules import batches
from ..util.checks import check_float, check_int
from .base import SelectionContext, Strategy, StrategyOptions, option, register_strategy

__all__ = [
    "BaldStrategy",
    "BaldOptions",
    "bald_scores",
    "mutual_information",
    "dropout_modules",
    "mc_dropout_mode",
    "ConstantScoresError",
    "TIDAL_HEAD_DROPOUT",
]

#: Dropout rate before the final linear layer at BALD inference in hyperconnect/TiDAL
#: ``models/resnet.py`` (``nn.Dropout(0.5)``; 0.2 in its MNIST variant ``ResNetfm``).
TIDAL_HEAD_DROPOUT = 0.5


class ConstantScoresError(ValueError):
    """Every pool sample got the same score: a top-k would be the pool order, not a selection."""


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
    head_dropout: float | None = None,
) -> torch.Tensor:
    """MC-dropout BALD score of every sample of ``x``, ``(N,)`` float32.

    For each batch, ``mc_samples`` forward passes with dropout on (BatchNorm etc. in eval mode);
    memory holds one batch's ``(T, B, C)`` probabilities at a time.  Deterministic for ``seed``:
    the dropout masks come from a forked RNG seeded with ``seed`` (the global RNG is untouched).

    ``head_dropout``: ``None`` (default) uses the model's own dropout layers, or, for a model
    without any, Dropout(:data:`TIDAL_HEAD_DROPOUT`) on ``model.embed(x)`` before ``model.head``
    (hyperconnect/TiDAL ``models/resnet.py``); a number in (0, 1) always uses that head dropout.
    A model with no dropout layers and no ``embed``/``head`` raises ``ValueError``.
    """
    mc_samples = check_int("mc_samples", mc_samples, 2)
    if head_dropout is not None:
        head_dropout = check_float("head_dropout", head_dropout, 0.0, 1.0, min_inclusive=False, max_inclusive=False)
    elif not dropout_modules(model):
        head_dropout = TIDAL_HEAD_DROPOUT
    if head_dropout is not None and not (hasattr(model, "embed") and isinstance(getattr(model, "head", None), nn.Module)):
        raise ValueError(
            f"bald: {type(model).__name__} has no dropout layers and no embed()/head pair to put dropout before, "
            "so every MC pass would be the same and BALD 0 for every sample; use a model with dropout"
        )
    n = int(x.shape[0])
    dev = torch.device(device)
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    out = []
    saved = [(m, m.training) for m in model.modules()]
    try:
        with torch.random.fork_rng(devices=fork_devices), torch.inference_mode():
            torch.manual_seed(int(seed))
            for sl in batches(n, batch_size, progress, desc="bald"):
                xb = to_input(x[sl]).to(dev)
                if head_dropout is None:
                    with mc_dropout_mode(model):
                        probs = torch.stack([torch.softmax(model(xb).double(), dim=1) for _ in range(mc_samples)])
                else:  # TiDAL: features once in eval mode, dropout only before the final linear layer
                    model.eval()
                    embed, head = cast(Callable[[torch.Tensor], torch.Tensor], model.embed), cast(nn.Module, model.head)
                    feats = embed(xb)
                    probs = torch.stack([torch.softmax(head(F.dropout(feats, head_dropout, training=True)).double(), dim=1) for _ in range(mc_samples)])
                out.append(mutual_information(probs).float().cpu())
    finally:
        for m, mode in saved:  # every submodule's mode as the caller left it
            m.training = mode
    return torch.cat(out) if out else torch.empty(0)


@dataclass(frozen=True)
class BaldOptions(StrategyOptions):
    """The options of :class:`BaldStrategy`."""

    mc_samples: int = option(20, "number T of stochastic forward passes (DBAL uses 20, hyperconnect/TiDAL methods/selection_methods.py 10)", minimum=2)
    head_dropout: float | None = option(
        None,
        "None: the model's dropout layers, or Dropout(0.5) before the final linear layer for a model without any (TiDAL); a rate: always that head dropout",
        minimum=0.0,
        maximum=1.0,
        min_inclusive=False,
        max_inclusive=False,
        recorded="changed",
    )


@register_strategy
class BaldStrategy(Strategy):
    """BALD (Gal et al. 2017): largest MC-dropout mutual information between label and weights.

    A selection on scores that are all equal raises :class:`ConstantScoresError` (it would be the
    pool order, not BALD's choice).
    """

    name = "bald"
    description = "BALD (Gal et al. 2017): largest MC-dropout mutual information H[mean p] - mean H[p]"
    Options = BaldOptions
    opts: BaldOptions

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        return bald_scores(
            ctx.model,
            ctx.pool_x,
            ctx.dataset.to_input,
            mc_samples=self.opts.mc_samples,
            seed=ctx.seed,
            batch_size=ctx.batch_size,
            device=ctx.device,
            progress=ctx.progress,
            head_dropout=self.opts.head_dropout,
        )

    def select_batch(self, ctx: SelectionContext, scores: torch.Tensor, budget: int, inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        if scores.numel() > 1 and bool((scores == scores[0]).all()):
            raise ConstantScoresError(
                f"bald: all {scores.numel()} pool samples have the same score {float(scores[0]):g}, so a top-k would "
                "be the pool order, not a selection; the model's MC passes do not differ (check its dropout, or "
                "set head_dropout)"
            )
        return super().select_batch(ctx, scores, budget, inputs)
