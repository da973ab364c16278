"""Notebook 01 (TracIn to the KL score). Numerical checks of the derivation from TracIn to the DISAL KL score (DISAL §3.2, Eq. 2-11, 15).

Each function checks one step of the derivation on a real trained model and returns numbers and
arrays (no plotting); notebook ``01_tracin_to_kl.ipynb`` plots them and asserts the claims.

=====================================  ===========================================================
function                               claim it checks
=====================================  ===========================================================
:func:`taylor_error_vs_step`           Eq. 3-5: ℓ(θ+Δ) − ℓ(θ) = ∇ℓ·Δ + O(‖Δ‖²) for Δ = −η·g
:func:`per_sample_tracin_check`        Eq. 5-6: ℓ_t − ℓ_{t+1} ≈ Σ_n (η/b) ∇ℓ(x')·∇ℓ(x_n)
:func:`accumulated_gradient_check`     Eq. 8-9: Σ∇ℓ(x') = (θ_t − θ_{t+1})/η exactly (full-batch GD)
                                       and I(x_n, D^L) = ∇ℓ(x_n)·(θ_t − θ_{t+1}) ≈ ℓ_t − ℓ_{t+1}
:func:`ce_difference_check`            Eq. 10: ℓ_t − ℓ_{t+1} = yᵀ log(f_{t+1}/f_t) exactly
:func:`kl_substitution_check`          Eq. 11/15: f_tᵀ log(f_{t+1}/f_t) = −KL(f_t‖f_{t+1}) ≤ 0; the
                                       first-order term Σ_y f_y∇log f_y = 0; KL ≈ ½ dᵀF d
:func:`selection_contrast`             what selecting the largest vs the smallest KL picks
=====================================  ===========================================================

Signs.  The paper's Eq. 9 writes ℓ(θ_{t+1}) − ℓ(θ_t) for ∇ℓ(x_n)·(θ_t − θ_{t+1}); a first-order
Taylor step gives ℓ(θ_t) − ℓ(θ_{t+1}) (the loss REDUCTION), as in Eq. 2 and Eq. 5.  Its Eq. 10
writes ℓ_{t+1} − ℓ_t = yᵀ log(f_{t+1}/f_t); with ℓ = −yᵀ log f the right-hand side is
ℓ_t − ℓ_{t+1}.  The two slips cancel, so I(x_n, D^L) ≈ yᵀ log(f_{t+1}/f_t) holds.  Substituting
the prediction f_t for the unknown label y gives f_tᵀ log(f_{t+1}/f_t) = −KL(f_t‖f_{t+1}) ≤ 0.
Its first-order term vanishes (Σ_y f_y ∇log f_y = ∇Σ_y f_y = 0), so the KL is second order:
KL(f_t‖f_{t+1}) ≈ ½ dᵀF d = ½ E_{y~f_t}[(∇log f_y·d)²], d = θ_{t+1} − θ_t, F the Fisher of the
sample.  A large projected gradient |∇log f_y·d| means a LARGE KL: DISAL selects the largest
KL(f_{T-1}‖f_T), i.e. the most NEGATIVE value of Eq. 15 as printed.

Model choice.  The checks use the digits MLP (:func:`prepare_digits_setup`), converted to
float64 after training.  An MLP has no BatchNorm, so (i) the function of θ that the Taylor
expansions are about is the same in training and eval mode apart from dropout, which eval mode
switches off, and (ii) the parameters are the whole state: interpolating θ_t + s·d moves the
model exactly along d (with BatchNorm the running statistics would change between checkpoints
outside the parameter vector).  float64 keeps rounding (~1e-16) far below the O(η²) terms that
are being measured, down to tiny step sizes.  All gradients are taken in eval mode.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jvp

from ..data import ALDataset, load_digits
from ..util.modules import eval_mode
from ..math.influence import _prepare_forward_ad, directional_derivatives, flatten, loss_grad, per_sample_grads
from ..training.models import build_model
from ..math.scores import disal_kl_from_logits, entropy
from ..math.stats import spearman
from ..training.train import TrainConfig, TrainResult, train_model
from ..util.checks import check_float, check_int

__all__ = [
    "DerivationSetup",
    "prepare_digits_setup",
    "taylor_error_vs_step",
    "per_sample_tracin_check",
    "accumulated_gradient_check",
    "ce_difference_check",
    "kl_substitution_check",
    "selection_contrast",
    "pearson",
]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def pearson(a, b) -> float:
    """Pearson correlation of two 1-D arrays."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"pearson needs two arrays of the same length >= 2, got {a.shape} and {b.shape}")
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def _input_fn(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Cast a batch to the dtype of ``model``'s parameters (float64 in the checks)."""
    dtype = next(model.parameters()).dtype
    return lambda t: t.to(dtype)


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.detach() for k, p in model.named_parameters()}


def _losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Per-sample cross-entropy under ``params`` (default: the model's own), eval mode, ``(N,)``."""
    return F.cross_entropy(_logits(model, x, params), y, reduction="none")


def _logits(model: nn.Module, x: torch.Tensor, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    xin = _input_fn(model)(x)
    with eval_mode(model), torch.no_grad():
        if params is None:
            return model(xin)
        buffers = dict(model.named_buffers())
        return functional_call(model, {**params, **buffers}, (xin,))


def _check_xy(x: torch.Tensor, y: torch.Tensor, xname: str, yname: str) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{xname} has {x.shape[0]} samples but {yname} has {y.shape[0]}; they must match")
    if x.shape[0] == 0:
        raise ValueError(f"{xname} is empty")


def _check_same_architecture(model_t: nn.Module, model_t1: nn.Module) -> None:
    a, b = dict(model_t.named_parameters()), dict(model_t1.named_parameters())
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise ValueError("model_t and model_t1 must be the same architecture (same parameter names and shapes)")


# --------------------------------------------------------------------------------------------
# the trained model
# --------------------------------------------------------------------------------------------


@dataclass
class DerivationSetup:
    """A trained digits model and the data the checks run on.

    Attributes:
        dataset: the digits :class:`~altoolkit.data.ALDataset`.
        model: θ_T (after the last epoch), float64, eval mode.
        prev_model: θ_{T-1} (after the epoch before), float64, eval mode.
        x_labeled, y_labeled: the labeled training set (float64 inputs).
        x_pool, y_pool: the rest of the training split: the unlabeled pool of an AL cycle
            (float64 inputs; ``y_pool`` is the oracle, used for analysis only).
        x_test, y_test: held-out samples (float64 inputs).
        train_result: what :func:`~altoolkit.training.train.train_model` returned (float32 model).
    """

    dataset: ALDataset
    model: nn.Module
    prev_model: nn.Module
    x_labeled: torch.Tensor
    y_labeled: torch.Tensor
    x_pool: torch.Tensor
    y_pool: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    train_result: TrainResult


def prepare_digits_setup(
    n_labeled: int = 300,
    epochs: int = 20,
    model: str = "mlp",
    lr: float = 0.05,
    lr_schedule: str = "step",
    seed: int = 0,
    progress: bool = False,
) -> DerivationSetup:
    """Train a digits model on ``n_labeled`` random training images (SGD, momentum 0.9, weight
    decay 5e-4, plain cross-entropy) and return θ_T and θ_{T-1} as float64 copies in eval mode.

    ``model="mlp"`` is the recommended choice (see the module docstring: no BatchNorm).
    """
    n_labeled = check_int("n_labeled", n_labeled, 2)
    epochs = check_int("epochs", epochs, 2)
    ds = load_digits(seed=seed)
    if n_labeled > ds.n_train:
        raise ValueError(f"n_labeled must be at most {ds.n_train} (the digits training split), got {n_labeled}")
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(ds.n_train, generator=gen)
    idx, rest = perm[:n_labeled], perm[n_labeled:]
    x_lab, y_lab = ds.x_train[idx], ds.y_train[idx]
    net = build_model(model, ds.input_shape, ds.num_classes, seed=seed)
    cfg = TrainConfig(epochs=epochs, lr=lr, lr_schedule=lr_schedule)
    res = train_model(net, x_lab, y_lab, cfg, seed=seed, to_input=ds.to_input, progress=progress, desc="train digits")
    last = copy.deepcopy(res.model).double().eval()
    prev = res.prev_model().double().eval()
    return DerivationSetup(
        dataset=ds,
        model=last,
        prev_model=prev,
        x_labeled=x_lab.double(),
        y_labeled=y_lab,
        x_pool=ds.x_train[rest].double(),
        y_pool=ds.y_train[rest],
        x_test=ds.x_test.double(),
        y_test=ds.y_test,
        train_result=res,
    )


# --------------------------------------------------------------------------------------------
# 1. Taylor expansion, Eq. 3-5
# --------------------------------------------------------------------------------------------


def _positive_numbers(name: str, values) -> np.ndarray:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of positive numbers, got {values!r}")
    return np.asarray([check_float(f"each of {name}", v, 0.0, min_inclusive=False) for v in values], dtype=np.float64)


def _loglog_slope(xs: np.ndarray, ys: np.ndarray) -> float:
    ok = (xs > 0) & (ys > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(xs[ok]), np.log(ys[ok]), 1)[0])


def taylor_error_vs_step(
    model: nn.Module,
    x_batch: torch.Tensor,
    y_batch: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    step_sizes: Sequence[float] = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
) -> dict:
    """DISAL Eq. 3-5: the first-order Taylor term predicts the loss change of an SGD step.

    With g = (1/b) Σ_{x_n∈B} ∇ℓ(x_n) the mean mini-batch gradient (Eq. 4: Δ = θ_{t+1} − θ_t = −η·g),
    compare for every test point x' the exact change ℓ(θ+Δ; x') − ℓ(θ; x') with the first-order
    term ∇ℓ(x')·Δ = −η·∇ℓ(x')·g (one jvp over the test set).  The remainder is O(η²), so the
    relative error ‖exact − first‖/‖exact‖ (norms over the test points) shrinks linearly in η.

    Returns:
        dict with ``step_sizes`` (K,), ``exact`` and ``first_order`` (K, N), ``absolute_error``
        ‖exact − first‖₂ (K,), ``relative_error`` (K,), and the log-log slopes
        ``slope_relative`` (≈ 1) and ``slope_absolute`` (≈ 2).
    """
    _check_xy(x_batch, y_batch, "x_batch", "y_batch")
    _check_xy(x_test, y_test, "x_test", "y_test")
    etas = _positive_numbers("step_sizes", step_sizes)
    if etas.size < 2:
        raise ValueError("step_sizes needs at least two positive values")
    ti = _input_fn(model)
    g = loss_grad(model, x_batch, y_batch, "all", "mean", to_input=ti)
    slope0 = directional_derivatives(model, x_test, y_test, g, to_input=ti).double().numpy()  # ∇ℓ(x')·g
    base = _losses(model, x_test, y_test).double().numpy()
    theta = _params(model)
    exact, first = [], []
    for eta in etas:
        moved = {k: theta[k] - eta * g[k] for k in theta}
        exact.append(_losses(model, x_test, y_test, moved).double().numpy() - base)
        first.append(-eta * slope0)
    exact_a, first_a = np.stack(exact), np.stack(first)
    abs_err = np.linalg.norm(exact_a - first_a, axis=1)
    rel_err = abs_err / np.linalg.norm(exact_a, axis=1)
    return {
        "step_sizes": etas,
        "exact": exact_a,
        "first_order": first_a,
        "absolute_error": abs_err,
        "relative_error": rel_err,
        "slope_relative": _loglog_slope(etas, rel_err),
        "slope_absolute": _loglog_slope(etas, abs_err),
    }


# --------------------------------------------------------------------------------------------
# 2. Per-sample TracIn contributions, Eq. 5-6
# --------------------------------------------------------------------------------------------


def per_sample_tracin_check(
    model: nn.Module,
    x_batch: torch.Tensor,
    y_batch: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    lr: float = 0.01,
) -> dict:
    """DISAL Eq. 5-6: split one mini-batch SGD step's loss reduction into per-sample parts.

    θ_{t+1} = θ_t − (η/b) Σ_{x_n∈B} ∇ℓ(x_n) (Eq. 4).  For every test point x', the exact loss
    reduction ℓ(θ_t; x') − ℓ(θ_{t+1}; x') is compared with Σ_n (η/b) ∇ℓ(x')·∇ℓ(x_n), the sum of
    the TracIn contributions of the training samples x_n (per-sample gradients, ``vmap``).

    Returns:
        dict with ``exact`` (N,), ``approx`` (N,), ``contributions`` (N, b) (entry (i, n): the
        share of x_n in the reduction of x'_i), ``correlation`` (Pearson), ``relative_error``
        ‖exact − approx‖/‖exact‖ and ``max_abs_error``.
    """
    _check_xy(x_batch, y_batch, "x_batch", "y_batch")
    _check_xy(x_test, y_test, "x_test", "y_test")
    lr = check_float("lr", lr, 0.0, min_inclusive=False)
    ti = _input_fn(model)
    b = int(x_batch.shape[0])
    # the SGD step, from one batched backward pass (independent of the per-sample gradients)
    g_mean = loss_grad(model, x_batch, y_batch, "all", "mean", to_input=ti)
    theta = _params(model)
    moved = {k: theta[k] - lr * g_mean[k] for k in theta}
    exact = (_losses(model, x_test, y_test) - _losses(model, x_test, y_test, moved)).double().numpy()
    g_train = flatten(per_sample_grads(model, x_batch, y_batch, "all", to_input=ti), batched=True).double()
    g_test = flatten(per_sample_grads(model, x_test, y_test, "all", to_input=ti), batched=True).double()
    contrib = (lr / b) * (g_test @ g_train.T)
    approx = contrib.sum(1).numpy()
    return {
        "exact": exact,
        "approx": approx,
        "contributions": contrib.numpy(),
        "correlation": pearson(exact, approx),
        "relative_error": float(np.linalg.norm(exact - approx) / np.linalg.norm(exact)),
        "max_abs_error": float(np.abs(exact - approx).max()),
    }


# --------------------------------------------------------------------------------------------
# 3. Accumulated gradient, Eq. 8-9
# --------------------------------------------------------------------------------------------


def accumulated_gradient_check(
    model: nn.Module,
    x_labeled: torch.Tensor,
    y_labeled: torch.Tensor,
    lr: float = 1e-4,
) -> dict:
    """DISAL Eq. 8-9 under FULL-BATCH gradient descent on the summed loss, no momentum, no
    weight decay: θ_{t+1} = θ_t − η Σ_{x'∈D^L} ∇ℓ(x').

    1. The accumulated gradient is exactly the parameter change: Σ_{x'}∇ℓ(x') = (θ_t − θ_{t+1})/η.
       The step uses one batched backward pass (:func:`loss_grad`); the sum is recomputed from
       per-sample gradients (``vmap``): ``identity_max_abs_error`` must be at rounding level.
    2. I(x_n, D^L) = η ∇ℓ(x_n)·Σ_{x'}∇ℓ(x') (Eq. 8) = ∇ℓ(x_n)·(θ_t − θ_{t+1}) (Eq. 9, first
       equality; one jvp) ≈ ℓ(θ_t; x_n) − ℓ(θ_{t+1}; x_n), the loss REDUCTION.  The paper's Eq. 9
       writes ℓ(θ_{t+1}) − ℓ(θ_t): ``paper_eq9_rhs`` holds that, which anti-correlates.

    ``lr`` multiplies a SUM over the labeled set, so it must be small (≈ 0.05/N).

    Returns:
        dict with ``identity_max_abs_error``, ``identity_relative_error``, ``influence_eq8`` and
        ``influence`` (the two forms of I, (N,)), ``eq8_eq9_max_abs_error``, ``loss_reduction``
        ℓ_t − ℓ_{t+1} (N,), ``paper_eq9_rhs`` (N,), ``correlation`` (I vs the loss reduction),
        ``correlation_paper_sign`` (I vs the paper's Eq. 9 right-hand side), ``relative_error``.
    """
    _check_xy(x_labeled, y_labeled, "x_labeled", "y_labeled")
    lr = check_float("lr", lr, 0.0, min_inclusive=False)
    ti = _input_fn(model)
    theta = _params(model)
    g_sum = loss_grad(model, x_labeled, y_labeled, "all", "sum", to_input=ti)
    theta_next = {k: theta[k] - lr * g_sum[k] for k in theta}
    delta = {k: theta[k] - theta_next[k] for k in theta}  # θ_t − θ_{t+1}
    per_sample = per_sample_grads(model, x_labeled, y_labeled, "all", to_input=ti)
    g_ps = flatten(per_sample, batched=True).double()
    accumulated = g_ps.sum(0)
    from_step = flatten(delta).double() / lr
    id_err = float((accumulated - from_step).abs().max())
    id_rel = float((accumulated - from_step).norm() / accumulated.norm())
    influence_eq8 = (lr * (g_ps @ accumulated)).numpy()
    influence = directional_derivatives(model, x_labeled, y_labeled, delta, to_input=ti).double().numpy()
    reduction = (_losses(model, x_labeled, y_labeled) - _losses(model, x_labeled, y_labeled, theta_next)).double().numpy()
    return {
        "identity_max_abs_error": id_err,
        "identity_relative_error": id_rel,
        "influence_eq8": influence_eq8,
        "influence": influence,
        "eq8_eq9_max_abs_error": float(np.abs(influence_eq8 - influence).max()),
        "loss_reduction": reduction,
        "paper_eq9_rhs": -reduction,
        "correlation": pearson(influence, reduction),
        "correlation_paper_sign": pearson(influence, -reduction),
        "relative_error": float(np.linalg.norm(influence - reduction) / np.linalg.norm(reduction)),
    }


# --------------------------------------------------------------------------------------------
# 4. CE difference, Eq. 10
# --------------------------------------------------------------------------------------------


def ce_difference_check(model_t: nn.Module, model_t1: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """DISAL Eq. 10 with the correct sign: ℓ_t − ℓ_{t+1} = yᵀ log(f_{t+1}/f_t) for one-hot y.

    The left side is ``F.cross_entropy`` under both models; the right side is the log of the ratio
    of the softmax probabilities of the true class.  The identity is exact (CE = −log f_y), so
    ``max_abs_error`` is rounding only.  ``paper_eq10_lhs`` = ℓ_{t+1} − ℓ_t, what the paper writes.

    Returns:
        dict with ``loss_difference`` (N,), ``log_ratio`` (N,), ``paper_eq10_lhs`` (N,) and
        ``max_abs_error``.
    """
    _check_xy(x, y, "x", "y")
    _check_same_architecture(model_t, model_t1)
    diff = (_losses(model_t, x, y) - _losses(model_t1, x, y)).double()
    f_t = torch.softmax(_logits(model_t, x).double(), dim=1)
    f_t1 = torch.softmax(_logits(model_t1, x).double(), dim=1)
    onehot = F.one_hot(y, f_t.shape[1]).double()
    log_ratio = (onehot * torch.log(f_t1 / f_t)).sum(1)
    return {
        "loss_difference": diff.numpy(),
        "log_ratio": log_ratio.numpy(),
        "paper_eq10_lhs": (-diff).numpy(),
        "max_abs_error": float((diff - log_ratio).abs().max()),
    }


# --------------------------------------------------------------------------------------------
# 5. KL substitution and the Fisher link, Eq. 11 and 15
# --------------------------------------------------------------------------------------------


def kl_substitution_check(
    model_t: nn.Module,
    model_t1: nn.Module,
    x: torch.Tensor,
    scales: Sequence[float] = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625),
) -> dict:
    """DISAL Eq. 11/15: replacing y by f_t turns the score into −KL, a second-order quantity.

    With d = θ_{t+1} − θ_t (all parameters; buffers are taken from ``model_t``):

    1. f_tᵀ log(f_{t+1}/f_t) (Eq. 11/15, from softmax ratios) = −KL(f_t‖f_{t+1}) (from
       log-softmax): ``eq15_max_abs_error``; and it is ≤ 0 (``eq15_max``).
    2. The first-order term vanishes: Σ_y f_y ∇log f_y = ∇ Σ_y f_y = 0.  Checked as a gradient
       vector per sample (per-sample gradient of −Σ_y f_y log f_y(θ) with f held fixed, next to
       the norm of ∇log f_ŷ for the top class) and along d: Σ_y f_y J_y with J_y = ∇log f_y·d.
    3. The second-order term: KL(f_t‖f_{θ_t+s·d}) ≈ ½ s² dᵀF d, ½ dᵀF d = ½ Σ_y f_y J_y², where
       J (N, C) is ONE forward-mode jvp of the log-softmax vector along d.  The ratio
       KL / (½ s² dᵀF d) → 1 as s → 0.
    4. Rank agreement at s = 1 between the KL and ½ dᵀF d, and the projected-gradient magnitude
       E_{y~f_t}|J_y|.

    Returns:
        dict with ``eq15`` (N,), ``kl`` (N,), ``eq15_max_abs_error``, ``eq15_max``,
        ``first_order_grad_norm`` and ``top_class_grad_norm`` (N,), ``first_order_along_d`` and
        ``projected_gradient`` E|J_y| (N,), ``fisher_quadratic`` ½dᵀFd (N,), ``scales`` (S,),
        ``kl_scaled`` (S, N), ``ratio_of_sums`` (S,) = Σ_n KL / Σ_n ½s²dᵀFd,
        ``ratio_median``/``ratio_q05``/``ratio_q95`` (S,) over samples whose quadratic term is
        above 1e-12 (float64 rounding floor), ``spearman_kl_fisher``, ``spearman_kl_projected``,
        ``pearson_kl_fisher``.
    """
    if x.shape[0] < 2:
        raise ValueError("x needs at least two samples")
    _check_same_architecture(model_t, model_t1)
    ss = _positive_numbers("scales", scales)
    ti = _input_fn(model_t)
    theta = _params(model_t)
    d = {k: p.detach() - theta[k] for k, p in model_t1.named_parameters()}
    logits_t = _logits(model_t, x).double()
    logits_t1 = _logits(model_t1, x).double()
    f_t, f_t1 = torch.softmax(logits_t, 1), torch.softmax(logits_t1, 1)
    eq15 = (f_t * torch.log(f_t1 / f_t)).sum(1)
    kl = disal_kl_from_logits(logits_t, logits_t1).double()
    # KL again in float64 without the float32 cast of disal_kl_from_logits
    lp_t = torch.log_softmax(logits_t, 1)
    kl64 = (f_t * (lp_t - torch.log_softmax(logits_t1, 1))).sum(1)

    # first-order term as a gradient vector: grad of -Σ f_y log f_y(θ), f fixed (soft target)
    first_grad = per_sample_grads(model_t, x, f_t.to(logits_t.dtype), "all", to_input=ti)
    first_norm = flatten(first_grad, batched=True).norm(dim=1).double()
    top = f_t.argmax(1)
    top_norm = flatten(per_sample_grads(model_t, x, top, "all", to_input=ti), batched=True).norm(dim=1).double()

    # J_y = ∇log f_y · d for every class: one jvp of the log-softmax vector
    xin = ti(x)
    buffers = {k: b.detach() for k, b in model_t.named_buffers()}
    _prepare_forward_ad()
    with eval_mode(model_t), torch.no_grad():
        _, jac = jvp(
            lambda p: torch.log_softmax(functional_call(model_t, {**p, **buffers}, (xin,)), dim=1),
            (theta,),
            ({k: d[k].to(theta[k].dtype) for k in theta},),
        )
    jac = jac.double()
    first_along_d = (f_t * jac).sum(1)
    projected = (f_t * jac.abs()).sum(1)
    quad = 0.5 * (f_t * jac.pow(2)).sum(1)

    kl_scaled, ratio_sums, r_med, r_lo, r_hi = [], [], [], [], []
    for s in ss:
        moved = {k: theta[k] + s * d[k] for k in theta}
        lp_s = torch.log_softmax(_logits(model_t, x, moved).double(), 1)
        kl_s = (f_t * (lp_t - lp_s)).sum(1)
        pred = (s * s) * quad
        kl_scaled.append(kl_s.numpy())
        ratio_sums.append(float(kl_s.sum() / pred.sum()))
        ok = pred > 1e-12
        r = (kl_s[ok] / pred[ok]).numpy() if ok.any() else np.array([np.nan])
        r_med.append(float(np.median(r)))
        r_lo.append(float(np.quantile(r, 0.05)))
        r_hi.append(float(np.quantile(r, 0.95)))
    return {
        "eq15": eq15.numpy(),
        "kl": kl64.numpy(),
        "eq15_max_abs_error": float((eq15 + kl64).abs().max()),
        "kl_strategy_max_abs_error": float((kl - kl64).abs().max()),
        "eq15_max": float(eq15.max()),
        "first_order_grad_norm": first_norm.numpy(),
        "top_class_grad_norm": top_norm.numpy(),
        "first_order_along_d": first_along_d.numpy(),
        "projected_gradient": projected.numpy(),
        "fisher_quadratic": quad.numpy(),
        "scales": ss,
        "kl_scaled": np.stack(kl_scaled),
        "ratio_of_sums": np.asarray(ratio_sums),
        "ratio_median": np.asarray(r_med),
        "ratio_q05": np.asarray(r_lo),
        "ratio_q95": np.asarray(r_hi),
        "spearman_kl_fisher": spearman(kl64.numpy(), quad.numpy()),
        "spearman_kl_projected": spearman(kl64.numpy(), projected.numpy()),
        "pearson_kl_fisher": pearson(kl64.numpy(), quad.numpy()),
    }


# --------------------------------------------------------------------------------------------
# 6. Largest vs smallest KL
# --------------------------------------------------------------------------------------------


def selection_contrast(
    model_prev: nn.Module,
    model_last: nn.Module,
    x_pool: torch.Tensor,
    y_pool: torch.Tensor,
    k: int,
) -> dict:
    """What DISAL's choice (largest KL(f_{T-1}‖f_T)) picks, against the flipped choice.

    The flipped choice is the smallest KL, which is the LARGEST value of Eq. 15 as printed
    (I = −KL): read literally, "select high I" picks the samples the last epoch did not move.
    For each choice of ``k`` pool samples: mean KL, mean confidence max_y f_T, mean entropy of
    f_T, and the error rate of θ_T on them (with the true labels, for analysis only).

    Returns:
        dict ``{"scores": KL (N,), "largest_kl": {...}, "smallest_kl": {...}, "pool": {...}}``,
        each inner dict with ``indices``, ``kl``, ``confidence``, ``entropy``, ``error_rate``.
    """
    _check_xy(x_pool, y_pool, "x_pool", "y_pool")
    _check_same_architecture(model_prev, model_last)
    k = check_int("k", k, 1, int(x_pool.shape[0]))
    lp, ll = _logits(model_prev, x_pool).double(), _logits(model_last, x_pool).double()
    kl = disal_kl_from_logits(lp, ll).double()
    p_last = torch.softmax(ll, 1)
    conf, ent = p_last.max(1).values, entropy(p_last).double()
    wrong = (ll.argmax(1) != y_pool).double()

    def summary(idx: torch.Tensor) -> dict:
        return {
            "indices": idx.numpy(),
            "kl": float(kl[idx].mean()),
            "confidence": float(conf[idx].mean()),
            "entropy": float(ent[idx].mean()),
            "error_rate": float(wrong[idx].mean()),
        }

    order = torch.argsort(kl, descending=True, stable=True)
    return {
        "scores": kl.numpy(),
        "largest_kl": summary(order[:k]),
        "smallest_kl": summary(order.flip(0)[:k]),
        "pool": summary(torch.arange(x_pool.shape[0])),
    }
