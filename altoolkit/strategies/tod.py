"""TOD: temporal output discrepancy (Huang, Wang, Xiong, Huan & Dou, "Semi-Supervised Active
Learning with Temporal Output Discrepancy", ICCV 2021).

A sample whose prediction changes a lot between two training states is one the model has not
settled on, and its loss is likely high (the paper bounds the loss by the output discrepancy).
The active-learning score compares the current cycle's final model with the previous cycle's
("cyclic output discrepancy"), as in the public code (siyuhuang/TOD ``main_TOD.py``,
``get_uncertainty``: both models in eval mode, ``(softmax(f) - softmax(f_cod)).pow(2).sum(1) / 2``):

    TOD(x) = ½ ‖ softmax(f_now(x)) − softmax(f_prev(x)) ‖²,    largest first.

Both models run in one pass over the pool (:func:`altoolkit.training.inference.predict_logits`).

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

TOD's unsupervised training loss (``main_TOD.py --auxiliary TOD``) is the option
``consistency_weight`` (default 0: off, i.e. ``--auxiliary NONE``; the published value is the
``WEIGHT`` of the dataset's ``config/*.py``: 0.02 for CIFAR-10, 0.05 for CIFAR-100, 0.005 for SVHN,
0.1 for Caltech101, :data:`TOD_CONSISTENCY_WEIGHTS`; the ``paper`` profile sets it per dataset).  With it, every training of the run follows
``train_epoch`` of ``main_TOD.py`` (:class:`ConsistencyLoss`): a second linear head on the
penultimate features (``linear1`` of ``models/resnet.py``, giving ``cons_scores``), an EMA teacher
updated after every optimiser step (``update_ema_variables``), and at every step a batch of the
unlabeled pool ``u`` of the labeled batch size (``extra_loader`` uses ``BATCH``), augmented like the
labeled batch (it reads ``data_train``, with the training transform):

    loss = CE + w · ( mse(f(x), g(x)) + mse(f(u), g(u)) + mse(g(x), f_ema(x)) + mse(g(u), f_ema(u)) ),

with ``f`` the model's output (``scores``), ``g`` the second head's (``cons_scores``) and ``f_ema``
the teacher's (``ema_scores``), the model and the teacher both in train mode.  The loop
passes the unlabeled pool to the trainer only for a strategy that asks for it
(:meth:`altoolkit.strategies.Strategy.training_loss`).  Where this differs from ``main_TOD.py``:
the second head and the teacher live for one training (one AL cycle), the teacher starts as a
copy of the model and its step count restarts at 1 each cycle, while ``main_TOD.py`` builds
``ema_model`` once per trial as a separately initialised ResNet-18 and counts ``iters`` over the
trial's cycles; ``main_TOD.py`` draws its cycle-0 unlabeled batch with a ``SubsetSequentialSampler``
and ``next(iter(...))`` (the same first batch at every step of cycle 0), here every step draws a
new uniform batch, as its later cycles' ``SubsetRandomSampler`` does.  Scoring uses the main head
only, as ``get_uncertainty``.
"""

from __future__ import annotations

from dataclasses import dataclass

import copy
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..training.inference import predict_logits
from ..training.models import forward_with_features, output_layer
from ..math.scores import select_top
from ..training.train import AuxiliaryLoss, AuxiliaryRun
from ..util.checks import check_float
from .base import SelectionContext, Strategy, StrategyOptions, option, register_strategy
from .uncertainty import RandomStrategy

__all__ = [
    "TodStrategy",
    "TodOptions",
    "output_discrepancy",
    "freshly_initialised",
    "TOD_VARIANTS",
    "ConsistencyLoss",
    "ConsistencyRun",
    "ema_decay",
    "TOD_CONSISTENCY_WEIGHT",
    "TOD_CONSISTENCY_WEIGHTS",
]

TOD_VARIANTS: tuple[str, ...] = ("cyclic", "published")
#: ``WEIGHT`` of siyuhuang/TOD ``config/cifar10.py``: the published weight of the unsupervised loss.
TOD_CONSISTENCY_WEIGHT = 0.02
#: ``WEIGHT`` of each of siyuhuang/TOD's ``config/<dataset>.py`` (``main_TOD.py --config <dataset>``
#: reads it as the weight of the unsupervised loss): the published value differs per dataset.
TOD_CONSISTENCY_WEIGHTS: dict[str, float] = {"cifar10": 0.02, "cifar100": 0.05, "svhn": 0.005, "caltech101": 0.1}


def output_discrepancy(logits_now: torch.Tensor, logits_prev: torch.Tensor) -> torch.Tensor:
    """½ ‖softmax(logits_now) − softmax(logits_prev)‖² per row, ``(N,)`` float32."""
    if logits_now.shape != logits_prev.shape or logits_now.dim() != 2:
        raise ValueError(f"logits_now and logits_prev must both have shape (N, C); got {tuple(logits_now.shape)} and {tuple(logits_prev.shape)}")
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


def ema_decay(step: int, alpha: float = 0.999) -> float:
    """The teacher's decay after optimiser step ``step`` (1, 2, ...): ``min(1 - 1/(step + 1), alpha)``,
    siyuhuang/TOD ``main_TOD.py`` ``update_ema_variables`` ("use the true average until the
    exponential average is more correct"), called with ``alpha=0.999`` and the step count.

    >>> ema_decay(1), ema_decay(3), ema_decay(10**6)
    (0.5, 0.75, 0.999)
    """
    return min(1.0 - 1.0 / (int(step) + 1), float(alpha))


class ConsistencyRun(AuxiliaryRun):
    """One training's TOD consistency loss: the second head ``head`` (siyuhuang/TOD
    ``models/resnet.py`` ``linear1``), the EMA teacher ``ema`` and the optimiser ``step`` count.

    :meth:`loss` runs, as ``main_TOD.py`` ``train_epoch`` and in its order, the model on the labeled
    batch and on the unlabeled batch (one pass each, both heads on the same features), then the
    teacher on both (in train mode, as ``models['ema'].train()``; no gradient reaches it)."""

    def __init__(self, weight: float, head: nn.Linear, ema: nn.Module, alpha: float = 0.999):
        self.weight, self.head, self.ema, self.alpha = float(weight), head, ema, float(alpha)
        self.step = 0

    def parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())

    def loss(self, model: nn.Module, xb: torch.Tensor, ub: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        scores, feats = forward_with_features(model, xb)
        cons = self.head(feats)
        unl = None
        if ub is not None:
            u_scores, u_feats = forward_with_features(model, ub)
            unl = (u_scores, self.head(u_feats))
        self.ema.train()
        with torch.no_grad():
            ema_scores = self.ema(xb)
            ema_u = self.ema(ub) if ub is not None else None
        res = F.mse_loss(scores, cons)
        consistency = F.mse_loss(cons, ema_scores)
        if unl is not None and ema_u is not None:
            res = res + F.mse_loss(unl[0], unl[1])
            consistency = consistency + F.mse_loss(unl[1], ema_u)
        return scores, self.weight * (res + consistency)

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        """``update_ema_variables(model, ema, 0.999, step)``: every parameter of the teacher becomes
        ``a·ema + (1 − a)·θ`` with ``a = ema_decay(step)`` (buffers such as BatchNorm statistics
        are not averaged, as there)."""
        self.step += 1
        a = ema_decay(self.step, self.alpha)
        for e, p in zip(self.ema.parameters(), model.parameters()):
            e.mul_(a).add_(p.detach(), alpha=1.0 - a)


class ConsistencyLoss(AuxiliaryLoss):
    """TOD's unsupervised loss with weight ``weight`` > 0 (siyuhuang/TOD ``main_TOD.py``
    ``train_epoch`` with ``AUXILIARY == 'TOD'``; ``WEIGHT = 0.02`` in ``config/cifar10.py``).

    :meth:`begin` builds, for one training, the second head ``nn.Linear(D, C)`` on the model's
    penultimate features (the sizes of the model's last linear layer,
    :func:`altoolkit.util.modules.output_layer`), initialised with torch's default under a seed derived
    from the training's seed, and the teacher: a deep copy of the model whose parameters take no
    gradient."""

    def __init__(self, weight: float = TOD_CONSISTENCY_WEIGHT, alpha: float = 0.999):
        self.weight = check_float("consistency_weight", weight, 0.0, min_inclusive=False)
        self.alpha = check_float("alpha", alpha, 0.0, 1.0)

    def begin(self, model: nn.Module, seed: int, device: torch.device) -> ConsistencyRun:
        from ..util.seeds import derive_seed

        _, last = output_layer(model)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, 0x70D))
            head = nn.Linear(last.in_features, last.out_features)
        ema = copy.deepcopy(model)
        for p in ema.parameters():
            p.requires_grad_(False)
        return ConsistencyRun(self.weight, head.to(device), ema.to(device), self.alpha)

    def __repr__(self) -> str:
        return f"ConsistencyLoss(weight={self.weight!r})"


@dataclass(frozen=True)
class TodOptions(StrategyOptions):
    """The options of :class:`TodStrategy` (recorded only when not at their default)."""

    variant: str = option(
        "cyclic",
        "cyclic (random in cycle 0) or published (siyuhuang/TOD main_TOD.py: needs "
        "warm_start; cycle 0 compares with a separately initialised network and takes the "
        "SMALLEST discrepancies)",
        choices=TOD_VARIANTS,
        recorded="changed",
    )
    consistency_weight: float = option(
        0.0,
        "weight of TOD's unsupervised training loss (ConsistencyLoss); 0 trains "
        "with the labeled set only, as main_TOD.py --auxiliary NONE; published: "
        "WEIGHT of config/<dataset>.py (cifar10 0.02, cifar100 0.05, svhn 0.005, caltech101 0.1)",
        minimum=0.0,
        recorded="changed",
    )


@register_strategy
class TodStrategy(Strategy):
    """TOD (Huang et al. 2021): largest ½‖softmax(f_now) − softmax(f_prev cycle)‖²."""

    name = "tod"
    description = (
        "TOD (Huang et al. 2021): largest output change since the previous cycle's model (random in "
        "cycle 0); options variant=cyclic|published, consistency_weight (its unsupervised loss, 0.02 published)"
    )
    needs_previous_cycle_model = True
    Options = TodOptions
    opts: TodOptions

    @property
    def requires_warm_start(self) -> bool:
        """The published variant compares checkpoints of one trajectory: the loop needs warm start."""
        return self.opts.variant == "published"

    def training_loss(self) -> ConsistencyLoss | None:
        """TOD's unsupervised loss when ``consistency_weight`` > 0, else ``None`` (plain training)."""
        return ConsistencyLoss(self.opts.consistency_weight) if self.opts.consistency_weight else None

    def _first_cycle(self, ctx: SelectionContext) -> bool:
        return ctx.previous_cycle_model is None

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        prev = ctx.previous_cycle_model
        if prev is None:
            if self.opts.variant == "cyclic":
                warnings.warn(
                    "tod: no previous cycle's model (cycle 0), so this selection is random (seeded by ctx.seed)",
                    UserWarning,
                    stacklevel=2,
                )
                return RandomStrategy().score(ctx)
            prev = freshly_initialised(ctx.model, ctx.seed)
        now, before = predict_logits(
            [ctx.model, prev],
            ctx.pool_x,
            ctx.dataset.to_input,
            ctx.batch_size,
            ctx.device,
            ctx.progress,
        )
        return output_discrepancy(now, before)

    def select_batch(self, ctx: SelectionContext, scores: torch.Tensor, budget: int, inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        if self.opts.variant == "published" and self._first_cycle(ctx):
            # main_TOD.py, cycle 0: labeled_set += list(torch.tensor(subset)[arg][:ADDENDUM]) (ascending order)
            if self.batch != "topk":
                raise ValueError("tod variant='published' takes the smallest scores in cycle 0 and only batch='topk'")
            return select_top(scores, budget, largest=False)
        return super().select_batch(ctx, scores, budget, inputs)
