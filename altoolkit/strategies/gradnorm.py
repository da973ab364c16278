"""AL-GradNorm (Wang, Li, Yang & Xu, "Boosting Active Learning via Improving Test Performance",
AAAI 2022): label the samples whose loss has the largest gradient norm.

The paper's influence-function argument says that unlabeled samples of larger gradient norm
help the test loss more.  Since the label is unknown, the loss is replaced by either

- ``"expected_loss"`` (expected-gradnorm): L(x) = Σ_c p_c(x) · CE(x, c), or
- ``"entropy"`` (entropy-gradnorm): L(x) = H[p(x)] = −Σ_c p_c(x) log p_c(x),

and the score is the sum over parameter tensors θ_k of ‖∂L(x)/∂θ_k‖₂ (per tensor, then summed,
exactly as the public code's ``compute_gradnorm``), computed per sample in eval mode.

Whether p is detached.  The public code computes ``posterior = softmax(scores)`` from the same
forward pass and does NOT detach it, so the gradient flows through p_c as well as through CE.
We do the same, for two reasons: (1) it is what produced the paper's numbers; (2) with p
detached the score is identically zero: ∂CE(x, c)/∂z = p − e_c, so Σ_c p_c (p − e_c) = 0 at the
logits z and hence for every parameter (the expected gradient under the model's own prediction
vanishes, see DESIGN.md).  A consequence worth knowing: because CE(x, c) = −log p_c,
Σ_c p_c·CE(x, c) IS the entropy, so the two schemes are the same function and give the same
scores up to rounding.  Both are kept, computed by their own formulas, so the paper's two
variants can be named and compared.

Per-sample gradients come from :func:`altoolkit.math.influence.per_sample_grads` with a custom loss,
over chunks of the pool so that memory holds one chunk of gradients at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Callable

import torch
from torch import nn

from ..math.influence import per_sample_grads, select_params
from ..util.modules import batches
from ..util.checks import check_choice
from .base import SelectionContext, Strategy, StrategyOptions, option, register_strategy

__all__ = ["GradNormStrategy", "GradNormOptions", "gradnorm_scores", "expected_loss", "entropy_loss", "GRADNORM_SCHEMES"]

GRADNORM_SCHEMES: tuple[str, ...] = ("expected_loss", "entropy")
_GRAD_FLOATS_PER_CHUNK = 1 << 27  # per-sample gradient entries held at once (512 MB in float32)


def expected_loss(logits: torch.Tensor, _target: torch.Tensor | None = None) -> torch.Tensor:
    """Σ_c p_c · CE(logits, c) for one sample, p = softmax(logits) NOT detached (public code)."""
    p = torch.softmax(logits, dim=-1)
    ce_per_class = -torch.log_softmax(logits, dim=-1)  # CE(logits, c) for every c
    return (p * ce_per_class).sum()


def entropy_loss(logits: torch.Tensor, _target: torch.Tensor | None = None) -> torch.Tensor:
    """H[p] = −Σ_c p_c log p_c for one sample (``Categorical(probs=p).entropy()`` in the public code)."""
    p = torch.softmax(logits, dim=-1)
    return -torch.special.xlogy(p, p).sum()


_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "expected_loss": expected_loss,
    "entropy": entropy_loss,
}


def gradnorm_scores(
    model: nn.Module,
    x: torch.Tensor,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    scheme: str = "expected_loss",
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """Σ_k ‖∂L(x)/∂θ_k‖₂ over all trainable parameter tensors θ_k, per sample, ``(N,)``.

    ``L`` is chosen by ``scheme`` (see the module docstring).  Eval mode (no dropout, BatchNorm
    running statistics).  The pool is processed in chunks of at most ``batch_size`` samples,
    fewer for large models, so at most about 2**27 gradient entries are held at once.
    """
    check_choice("scheme", scheme, GRADNORM_SCHEMES)
    loss_fn = _LOSSES[scheme]
    n = int(x.shape[0])
    n_params = sum(p.numel() for p in select_params(model, "all").values())
    chunk = max(1, min(int(batch_size), _GRAD_FLOATS_PER_CHUNK // max(1, n_params)))
    dummy = torch.zeros(n, dtype=torch.long)  # the losses ignore the target
    out = []
    for sl in batches(n, chunk, progress, desc="gradnorm"):
        g = per_sample_grads(model, x[sl], dummy[sl], which="all", loss_fn=loss_fn, batch_size=chunk, to_input=to_input, device=device)
        norms = torch.stack([t.reshape(t.shape[0], -1).norm(dim=1) for t in g.values()], dim=1)
        out.append(norms.sum(dim=1).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


@dataclass(frozen=True)
class GradNormOptions(StrategyOptions):
    """The option of :class:`GradNormStrategy`."""

    scheme: str = option("expected_loss", "expected_loss or entropy: the same function, see the module docstring", choices=GRADNORM_SCHEMES)


@register_strategy
class GradNormStrategy(Strategy):
    """AL-GradNorm (Wang et al. 2022): largest per-sample gradient norm of the expected loss or
    of the entropy."""

    name = "gradnorm"
    description = "AL-GradNorm (Wang et al. 2022): largest gradient norm of the expected loss (or entropy)"
    Options = GradNormOptions
    opts: GradNormOptions

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        return gradnorm_scores(ctx.model, ctx.pool_x, ctx.dataset.to_input, self.opts.scheme, ctx.batch_size, ctx.device, ctx.progress)
