"""ISAL: Influence Selection for Active Learning (Liu et al., ICCV 2021), with its UUIC score.

The influence of up-weighting a sample z on the loss of a reference set R (ISAL Eq. 1-2,
Koh & Liang 2017) is

    I(z, R) = −∇_θ l(R, θ̂)ᵀ H_θ̂⁻¹ ∇_θ l(z, θ̂),

H the Hessian of the mean training loss.  An unlabeled z has no label, so UUIC (ISAL §3.3,
Algorithm 1) replaces ∇l(z) by an expected gradient G_z computed from the model's own
prediction (Eq. 3), giving Eq. 4: I(z, R) = −s_testᵀ G_z with s_test = H⁻¹∇l(R).  "The more
negative I(z, R) is, the more positive influence on model performance z can provide": ISAL
labels the MOST NEGATIVE values first.

What this module computes, as DESIGN.md describes ISAL's public code:

- reference gradient v = Σ_{z'∈R} ∇ℓ(z'; θ̂), the SUM of per-sample gradients with true labels,
  model in eval mode (:func:`altoolkit.math.influence.loss_grad`);
- parameters: conv and linear weights only (``which="weights"``: no biases, no BatchNorm);
- s_test by LiSSA (:func:`altoolkit.math.influence.lissa_inverse_hvp`): h ← v + (1 − damping)·h −
  H_b·h/scale with mini-batches of ONE labeled sample (drawn at random, or with
  ``lissa_order="sequential"`` the labeled set in its order, the initial set first, as ISAL's
  ``s_test`` reads its unshuffled labeled file), depth 250, 4 repeats averaged,
  damping 0.01, scale 1e4, and no final division by scale, so s_test estimates
  scale·(H + damping·scale·I)⁻¹ v.  With damping·scale = 100 and ‖H‖ ≪ 100 that is close to a
  multiple of v (≈ 92·v after 250 steps): ISAL is then nearly Grad-Simi (notebook 07 measures it);
- the value per pool sample is I(z) = −s_test·G(z) / n, n = number of labeled samples (adding z
  to the n labeled samples is an up-weighting by ε = 1/n), and s_test·G(z) is a directional
  derivative computed for the whole pool by forward-mode jvp
  (:func:`altoolkit.math.influence.directional_derivatives`), without per-sample gradients.

Sign convention of the strategy.  :meth:`IsalStrategy.influence` returns I(z) with ISAL's sign
(select the most negative); :meth:`IsalStrategy.score` returns −I(z) = s_test·G(z)/n, so that,
as for every strategy in the toolkit, a LARGER score is labeled first.  ``most_negative=False``
flips the selection (the most positive I: samples predicted to hurt the reference loss).

Ablations (ISAL §4.4):

- ``grad_simi=True`` (Table 2, "Grad Simi"): s_test = v, no H⁻¹: I(z) = −v·G(z)/n.
- ``k_classes=K`` (Table 1): G_z = Σ_{i=1..K} w_i ∇ℓ(z, label_i) over the K most probable
  classes.  Eq. 3 weights by the posterior pred_i and the text says the weights "average" the
  gradients; with ``k_weighting="renormalized"`` (default) w_i = p_i / Σ_{j≤K} p_j, so the
  weights sum to one and K = 1 is exactly Algorithm 1's pseudo-label gradient (the paper's
  best and default setting).  ``k_weighting="posterior"`` takes Eq. 3 literally (w_i = p_i); at
  K = 1 that scales each sample's score by its confidence p_1, which changes the ranking.
  The weights are constants (no gradient flows through p), so G_z is the gradient of the
  soft-target cross-entropy −Σ_i w_i log p_{label_i}(z).  At K = C (all classes) both
  weightings give G_z = Σ_c p_c ∇ℓ(z, c) = −∇Σ_c p_c = 0 exactly: every score is zero, and the
  gradients of the top classes cancel more and more as K grows (ISAL's explanation of Table 1).
  ``k_weighting="posterior"`` is what the public code does for K > 1: dragonlzm/ISAL
  ``classification/src/utils.py`` ``calc_influence_funtion_expectation`` sums
  ``loss_fun(preds, onehot(label)) * softmax(preds)[label]`` over the ``topk_idx`` most probable
  labels (the unnormalised softmax, detached); notebook 07's K ablation
  (:func:`altoolkit.drivers.isal_influence_functions.ablation_variants`) uses it.  ISAL's default
  run (``run_isal.sh`` → ``test_calc_influ.py``) calls ``calc_influence_funtion``: the gradient
  under the top-1 pseudo-label, unweighted, which is K = 1 with the default ``"renormalized"``
  (``"posterior"`` at K = 1 would multiply each score by p_1).  The default therefore stays
  ``"renormalized"``: with K = 1 it is ISAL as run.
- ``reference`` (Table 3, names in :data:`TABLE3_NAMES`): ``"test"`` (the paper's ISAL as run:
  §4.1 "we use the test set as reference set"; dragonlzm/ISAL
  ``classification/src/test_calc_val_grad.py`` sums the per-image gradients of the TEST loader,
  batch size 1, model in eval mode, parameters with ``len(p.size()) != 1``), ``"validation"`` (the
  same with a held-out labeled validation set V instead, as §4.4.3 describes ISAL), ``"initial"``
  (ISAL_v2: the first labeled set L1) or ``"labeled"`` (ISAL_v3: the current labeled set Li).
  ``"test"`` looks at the test set's labels, on which accuracy is then reported: like the
  CE-difference oracle it is flagged (``peeks_at_labels`` and ``peeks_at_test_data`` in the
  record).  The default stays ``"labeled"`` (no extra annotation, every loop configuration); the
  ``paper`` profile uses ``"test"``; the validation set must be requested from the loop with
  ``ALConfig(validation_size=N)``.
- Scale: the public code divides by the number of images scored (``len(test_loader.dataset)``,
  the unlabeled pool) where this module divides by the labeled-set size; a positive constant
  per selection, so the ranking is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..math.influence import LISSA_ORDERS, PARAM_SETS, directional_derivatives, lissa_inverse_hvp, loss_grad
from ..math.scores import select_top
from ..util.checks import check_bool, check_choice, check_int
from .base import SelectionContext, Strategy, StrategyOptions, option, register_strategy

__all__ = [
    "IsalStrategy",
    "IsalOptions",
    "REFERENCE_SETS",
    "TABLE3_NAMES",
    "K_WEIGHTINGS",
    "expected_gradient_targets",
    "reference_set",
    "isal_s_test",
    "isal_influence",
]

REFERENCE_SETS: tuple[str, ...] = ("labeled", "initial", "validation", "test")

#: ISAL Table 3's name of each reference set ("ISAL" ran with the test set, §4.1).
TABLE3_NAMES: dict[str, str] = {
    "test": "ISAL (test set, as run: §4.1)",
    "validation": "ISAL (held-out validation set V, §4.4.3)",
    "initial": "ISAL_v2 (first labeled set L1)",
    "labeled": "ISAL_v3 (current labeled set Li)",
}
K_WEIGHTINGS: tuple[str, ...] = ("renormalized", "posterior")

ToInput = Callable[[torch.Tensor], torch.Tensor]


def expected_gradient_targets(logits: torch.Tensor, k_classes: int = 1, weighting: str = "renormalized") -> torch.Tensor:
    """Targets whose cross-entropy gradient is UUIC's expected gradient G_z (ISAL Eq. 3).

    Returns the top-1 class indices ``(N,)`` for ``k_classes=1`` with renormalised weights
    (Algorithm 1's pseudo-label), otherwise ``(N, C)`` rows with weight w_i on each of the K most
    probable classes and 0 elsewhere: the gradient of −Σ_c t_c log p_c(z) is Σ_i w_i ∇ℓ(z, label_i).

    Args:
        logits: ``(N, C)`` model outputs on the pool.
        k_classes: K, the number of most probable classes (1 ≤ K ≤ C).
        weighting: ``"renormalized"`` (w_i = p_i / Σ_{top K} p_j) or ``"posterior"`` (w_i = p_i, Eq. 3 as printed).
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ValueError("logits must be a 2-D tensor (N samples, C classes)")
    num_classes = int(logits.shape[1])
    k = check_int("k_classes", k_classes, 1, num_classes)
    check_choice("k_weighting", weighting, K_WEIGHTINGS)
    if k == 1 and weighting == "renormalized":
        return logits.argmax(dim=1)
    p = torch.softmax(logits.double(), dim=1)
    top = torch.topk(p, k, dim=1)
    w = top.values
    if weighting == "renormalized":
        w = w / w.sum(dim=1, keepdim=True)
    return torch.zeros_like(p).scatter_(1, top.indices, w).to(logits.dtype)


def reference_set(ctx: SelectionContext, reference: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference set R = (x, true labels) named by ``reference`` (see :data:`REFERENCE_SETS`)."""
    check_choice("reference", reference, REFERENCE_SETS)
    if reference == "labeled":
        return ctx.labeled_x, ctx.labeled_y
    if reference == "test":
        if ctx.dataset.n_test == 0:
            raise ValueError(
                "reference='test' (ISAL as run, dragonlzm/ISAL test_calc_val_grad.py) needs a test split, "
                "but the dataset has none; use reference='validation', 'initial' or 'labeled'"
            )
        return ctx.dataset.x_test, ctx.dataset.y_test
    if reference == "initial":
        if ctx.initial_labeled is None:
            raise ValueError(
                "reference='initial' (ISAL_v2) needs the first labeled set L1, but "
                "SelectionContext.initial_labeled is None; run_active_learning sets it, or pass "
                "SelectionContext(initial_labeled=<dataset indices>), or use reference='labeled'"
            )
        idx = torch.as_tensor(ctx.initial_labeled, dtype=torch.long)
        return ctx.dataset.x_train[idx], ctx.dataset.y_train[idx]
    if ctx.validation is None:
        raise ValueError(
            "reference='validation' (ISAL's held-out reference set V) needs a validation set, but "
            "SelectionContext.validation is None. Set ALConfig(validation_size=N) / --validation-size N "
            "so that the AL loop holds out N labeled pool samples and passes them as ctx.validation "
            "(or build SelectionContext(validation=(x, y)) yourself), or use reference='labeled' / 'initial'"
        )
    x, y = ctx.validation
    if x.shape[0] == 0 or x.shape[0] != y.shape[0]:
        raise ValueError(f"ctx.validation must be a non-empty (x, y) pair of equal length, got {x.shape[0]} and {y.shape[0]}")
    return x, y


def isal_s_test(
    model: nn.Module,
    x_labeled: torch.Tensor,
    y_labeled: torch.Tensor,
    v: Mapping[str, torch.Tensor],
    *,
    grad_simi: bool = False,
    damping: float = 0.01,
    scale: float = 1e4,
    depth: int = 250,
    repeats: int = 4,
    batch_size: int = 1,
    seed: int = 0,
    to_input: ToInput = lambda t: t.float(),
    device: str = "cpu",
    progress: bool = False,
    order: str = "random",
) -> dict[str, torch.Tensor]:
    """s_test of ISAL Eq. 4: LiSSA's estimate of scale·(H + damping·scale·I)⁻¹ v over the labeled
    set (no division by scale, as the public code), or ``v`` itself for Grad-Simi.

    ``batch_size`` is capped at the labeled-set size (ISAL: 1); ``order`` is LiSSA's
    (:func:`altoolkit.math.influence.lissa_inverse_hvp`): ``"sequential"`` reads ``x_labeled`` in
    its order, as ISAL's code reads its labeled file.
    """
    if check_bool("grad_simi", grad_simi):
        return {k: t.detach().clone() for k, t in v.items()}
    return lissa_inverse_hvp(
        model,
        x_labeled,
        y_labeled,
        dict(v),
        damping=damping,
        scale=scale,
        depth=depth,
        repeats=repeats,
        batch_size=min(int(batch_size), int(x_labeled.shape[0])),
        seed=seed,
        divide_by_scale=False,
        to_input=to_input,
        device=device,
        progress=progress,
        order=order,
    )


def isal_influence(
    model: nn.Module,
    x_pool: torch.Tensor,
    s_test: Mapping[str, torch.Tensor],
    n_labeled: int,
    *,
    k_classes: int = 1,
    k_weighting: str = "renormalized",
    to_input: ToInput = lambda t: t.float(),
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """I(z, R) = −s_test·G(z) / n for every pool sample, ``(N,)`` float64, ISAL's sign
    (the most negative is the most helpful).

    G(z) is the expected gradient of :func:`expected_gradient_targets` under the model's own
    prediction (eval mode); s_test·G(z) is a forward-mode directional derivative.
    """
    n_labeled = check_int("n_labeled", n_labeled, 1)
    check_choice("k_weighting", k_weighting, K_WEIGHTINGS)

    def targets(logits: torch.Tensor) -> torch.Tensor:  # from the jvp's own forward pass
        return expected_gradient_targets(logits, k_classes, k_weighting)

    d = directional_derivatives(model, x_pool, targets, dict(s_test), batch_size, to_input, device, progress)
    return -d.double() / n_labeled


@dataclass(frozen=True)
class IsalOptions(StrategyOptions):
    """The options of :class:`IsalStrategy` (ISAL §4.4's ablations and LiSSA's settings)."""

    reference: str = option(
        "labeled",
        "reference set R: labeled (ISAL_v3), initial (ISAL_v2), validation (needs "
        "ALConfig(validation_size=N)) or test (the paper's ISAL as run, dragonlzm/ISAL "
        "test_calc_val_grad.py; flagged as looking at test labels)",
        choices=REFERENCE_SETS,
    )
    grad_simi: bool = option(False, "Grad-Simi ablation (s_test = v, no inverse Hessian)")
    k_classes: int = option(1, "K of the expected gradient (Eq. 3); 1 = top-1 pseudo-label (the paper's best)", minimum=1)
    k_weighting: str = option(
        "renormalized",
        "renormalized (weights sum to one) or posterior (Eq. 3 literally and the "
        "public code's calc_influence_funtion_expectation: unnormalised softmax weights)",
        choices=K_WEIGHTINGS,
    )
    which: str = option("weights", "parameters: weights (conv and linear weights, the public code), all or last_layer", choices=PARAM_SETS)
    depth: int = option(250, "LiSSA recursion depth (ISAL: 250)", minimum=1)
    repeats: int = option(4, "LiSSA repeats averaged (ISAL: 4)", minimum=1)
    damping: float = option(0.01, "LiSSA damping (ISAL: 0.01)", minimum=0.0, maximum=1.0, max_inclusive=False)
    scale: float = option(1e4, "LiSSA scale (ISAL: 1e4)", minimum=0.0, min_inclusive=False)
    lissa_batch_size: int = option(1, "labeled samples per LiSSA step (ISAL: 1; capped at the labeled-set size)", minimum=1)
    lissa_order: str = option(
        "random",
        "LiSSA's labeled samples: random (a new draw each step) or sequential (the labeled set in its "
        "order, the initial set first: dragonlzm/ISAL utils.py s_test over the unshuffled labeled file)",
        choices=LISSA_ORDERS,
        recorded="changed",
    )
    most_negative: bool = option(True, "select the most negative I (ISAL); False selects the most positive")


@register_strategy
class IsalStrategy(Strategy):
    """ISAL / UUIC (Liu et al. 2021): label the pool samples with the most negative
    I(z, R) = −s_test·G(z)/n (see the module docstring for every option)."""

    name = "isal"
    description = "ISAL (Liu et al. 2021): most negative influence -s_test·G(z)/n, s_test by LiSSA, pseudo-label gradients"
    Options = IsalOptions
    opts: IsalOptions

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.opts.reference == "test":  # the test set's labels choose what is labeled: an oracle, flag it
            self.peeks_at_labels = True
            self.peeks_at_test_data = True

    def s_test(self, ctx: SelectionContext) -> dict[str, torch.Tensor]:
        """v = Σ_{z'∈R} ∇ℓ(z') (true labels), then s_test (LiSSA over the labeled set, or v)."""
        x_ref, y_ref = reference_set(ctx, self.opts.reference)
        to_input = ctx.dataset.to_input
        v = loss_grad(ctx.model, x_ref, y_ref, self.opts.which, "sum", ctx.batch_size, to_input, ctx.device)
        return isal_s_test(
            ctx.model,
            ctx.labeled_x,
            ctx.labeled_y,
            v,
            grad_simi=self.opts.grad_simi,
            damping=self.opts.damping,
            scale=self.opts.scale,
            depth=self.opts.depth,
            repeats=self.opts.repeats,
            batch_size=self.opts.lissa_batch_size,
            seed=ctx.seed,
            to_input=to_input,
            device=ctx.device,
            progress=ctx.progress,
            order=self.opts.lissa_order,
        )

    def influence(self, ctx: SelectionContext, s_test: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """I(z, R) per pool sample with ISAL's sign: the most negative is labeled first.

        ``s_test`` (from :meth:`s_test`) may be passed to reuse one LiSSA estimate."""
        if self.opts.k_classes > ctx.dataset.num_classes:
            raise ValueError(f"k_classes must be at most the number of classes ({ctx.dataset.num_classes}), got {self.opts.k_classes}")
        return isal_influence(
            ctx.model,
            ctx.pool_x,
            self.s_test(ctx) if s_test is None else s_test,
            len(ctx.labeled),
            k_classes=self.opts.k_classes,
            k_weighting=self.opts.k_weighting,
            to_input=ctx.dataset.to_input,
            batch_size=ctx.batch_size,
            device=ctx.device,
            progress=ctx.progress,
        )

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        """−I(z, R) = s_test·G(z)/n: larger = more helpful = label first (ISAL's most negative I)."""
        return -self.influence(ctx)

    def select_from_scores(self, scores: torch.Tensor, budget: int) -> torch.Tensor:
        # scores are −I: the largest are ISAL's most negative I (most_negative=False flips it)
        return select_top(scores, budget, largest=self.opts.most_negative)
