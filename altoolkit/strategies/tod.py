"""TOD: temporal output discrepancy (Huang, Wang, Xiong, Huan & Dou, "Semi-Supervised Active
Learning with Temporal Output Discrepancy", ICCV 2021).

A sample whose prediction changes a lot between two training states is one the model has not
settled on, and its loss is likely high (the paper bounds the loss by the output discrepancy).
The active-learning score compares the current cycle's final model with the previous cycle's
("cyclic output discrepancy"), as in the public code (siyuhuang/TOD ``main_TOD.py``,
``get_uncertainty``: both models in eval mode, ``(softmax(f) - softmax(f_cod)).pow(2).sum(1) / 2``):

    TOD(x) = ½ ‖ softmax(f_now(x)) − softmax(f_prev(x)) ‖²,    largest first.

Both models run in one pass over the pool (:func:`altoolkit.inference.predict_logits`).

Two variants (option ``variant``):

- ``"cyclic"`` (default, unchanged from earlier versions): compare with whatever model the
  previous cycle trained.  Without ``warm_start`` that is an independently initialised network,
  not the same trajectory.  Cycle 0 has no previous cycle's model
  (``ctx.previous_cycle_model is None``): the strategy then selects at random with ``ctx.seed``
  (exactly the ``random`` strategy's choice) and issues a ``UserWarning`` saying so.
- ``"published"``: ``main_TOD.py`` as published.  The backbone is built once per trial and each
  cycle continues training it, so the previous cycle's checkpoint lies on the same trajectory:
  the AL loop refuses this variant without ``warm_start=True``.  In cycle 0 ``models['cod']`` is
  a SEPARATELY initialised ResNet-18 that is never trained (``cod_model = resnet.ResNet18(...)``,
  loaded from a checkpoint only ``if cycle > 0``), and the selection takes the SMALLEST
  discrepancies (``labeled_set += ...[arg][:ADDENDUM]`` for cycle 0, ``[-ADDENDUM:]`` after).
  Here the cycle-0 comparator is a copy of the model's architecture whose every layer is
  re-initialised (``reset_parameters``, BatchNorm statistics reset) under ``ctx.seed``, in eval
  mode like ``cod_model``.

Not implemented: TOD's unsupervised training loss (``--auxiliary TOD``, ``WEIGHT = 0.02`` in
``config/cifar10.py``).  It needs a second linear head on every network (``linear1`` /
``added_fc``), an EMA teacher updated after every step (``update_ema_variables``, α = 0.999) and
an unlabeled batch in every training step; the strategy only selects, so this is a change of the
model and the trainer, left out (``main_TOD.py --auxiliary NONE`` is the variant reproduced).
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from ..inference import predict_logits
from ..scores import select_top
from ..validation import check_choice
from .base import SelectionContext, Strategy, register_strategy
from .uncertainty import RandomStrategy

__all__ = ["TodStrategy", "output_discrepancy", "freshly_initialised", "TOD_VARIANTS"]

TOD_VARIANTS: tuple[str, ...] = ("cyclic", "published")


def output_discrepancy(logits_now: torch.Tensor, logits_prev: torch.Tensor) -> torch.Tensor:
    """½ ‖softmax(logits_now) − softmax(logits_prev)‖² per row, ``(N,)`` float32."""
    if logits_now.shape != logits_prev.shape or logits_now.dim() != 2:
        raise ValueError(
            f"logits_now and logits_prev must both have shape (N, C); got {tuple(logits_now.shape)} "
            f"and {tuple(logits_prev.shape)}"
        )
    diff = torch.softmax(logits_now.double(), dim=1) - torch.softmax(logits_prev.double(), dim=1)
    return (0.5 * diff.pow(2).sum(dim=1)).float()


def freshly_initialised(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every layer re-initialised under ``seed`` (``reset_parameters``,
    which also resets BatchNorm's running statistics), in eval mode: TOD's untrained ``cod_model``
    of cycle 0.  The global RNG state is left untouched."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for m in fresh.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()
    return fresh.eval()


@register_strategy
class TodStrategy(Strategy):
    """TOD (Huang et al. 2021): largest ½‖softmax(f_now) − softmax(f_prev cycle)‖².

    Options:
        variant: ``"cyclic"`` (default; random in cycle 0) or ``"published"`` (siyuhuang/TOD
            ``main_TOD.py``: needs ``warm_start``; cycle 0 compares with a separately initialised
            network and takes the SMALLEST discrepancies).
    """

    name = "tod"
    description = "TOD (Huang et al. 2021): largest output change since the previous cycle's model (random in cycle 0)"
    needs_previous_cycle_model = True

    def __init__(self, variant: str = "cyclic"):
        self.variant = check_choice("variant", variant, TOD_VARIANTS)

    @property
    def requires_warm_start(self) -> bool:
        """The published variant compares checkpoints of one trajectory: the loop needs warm start."""
        return self.variant == "published"

    def options(self) -> dict:
        return {} if self.variant == "cyclic" else {"variant": self.variant}

    def _first_cycle(self, ctx: SelectionContext) -> bool:
        return ctx.previous_cycle_model is None

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        prev = ctx.previous_cycle_model
        if prev is None:
            if self.variant == "cyclic":
                warnings.warn(
                    "tod: no previous cycle's model (cycle 0), so this selection is random (seeded by ctx.seed)",
                    UserWarning,
                    stacklevel=2,
                )
                return RandomStrategy().score(ctx)
            prev = freshly_initialised(ctx.model, ctx.seed)
        now, before = predict_logits(
            [ctx.model, prev], ctx.pool_x, ctx.dataset.to_input, ctx.batch_size, ctx.device, ctx.progress,
        )
        return output_discrepancy(now, before)

    def select_batch(self, ctx: SelectionContext, scores: torch.Tensor, budget: int) -> torch.Tensor:
        if self.variant == "published" and self._first_cycle(ctx):
            # main_TOD.py, cycle 0: labeled_set += list(torch.tensor(subset)[arg][:ADDENDUM]) (ascending order)
            if self.batch != "topk":
                raise ValueError("tod variant='published' takes the smallest scores in cycle 0 and only batch='topk'")
            return select_top(scores, budget, largest=False)
        return super().select_batch(ctx, scores, budget)
