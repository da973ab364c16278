"""Experiments behind notebook 07 (ISAL: influence functions for active learning).

Each function measures one claim and returns numbers (no plotting):

=====================================  ===========================================================
function                               what it measures
=====================================  ===========================================================
:func:`train_on_subset`                a model trained on a random labeled share of the pool
:func:`upweighting_check`              ISAL Eq. 2 / Koh & Liang: −∇l(R)ᵀH⁻¹∇l(z)/n predicts the
                                       change of the reference loss when z joins the n labeled
                                       samples (checked by retraining a convex last layer)
:func:`lissa_convergence`              LiSSA (batch 1, ISAL's recursion) against the exact
                                       fixed point scale·(H + damping·scale·I)⁻¹v, per depth and
                                       scale; how close s_test is to a multiple of v
:func:`isal_vs_grad_simi`              rank correlation of ISAL and Grad-Simi scores on a
                                       trained model (ISAL Table 2's two scores)
:func:`ablation_variants`,             ISAL Tables 1-3 as small AL runs: K of the expected
:func:`run_variants`,                  gradient, ISAL vs Grad-Simi, reference set
:func:`variant_curves`,                (validation / L1 / Li) and random
:func:`ordering_claims`
=====================================  ===========================================================

The AL runs go through :func:`altoolkit.engine.sweep.run_sweep` (cached, parallel); the tables reuse
:func:`altoolkit.analysis.results.learning_curves`; rank correlations and verdicts come from
:mod:`altoolkit.math.stats` (via :func:`altoolkit.analysis.results.paired_comparison`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import ALDataset
from ..training.inference import predict_logits
from ..math.influence import exact_hessian, flatten, lissa_inverse_hvp, loss_grad, per_sample_grads
from ..engine.loop import ALConfig
from ..training.fresh_model import train_fresh
from ..training.models import MLP
from ..analysis.results import CurveSummary, learning_curves, paired_comparison
from ..math.stats import Verdict, spearman
from ..math.scores import select_top
from ..strategies import SelectionContext, get_strategy
from ..training.train import TrainConfig, TrainResult
from ..util.checks import check_float, check_int
from ..util.seeds import derive_seed, labeled_subset

__all__ = [
    "TrainedSubset",
    "train_on_subset",
    "UpweightingCheck",
    "upweighting_check",
    "LissaConvergence",
    "lissa_convergence",
    "ScoreAgreement",
    "isal_vs_grad_simi",
    "ablation_variants",
    "run_variants",
    "variant_curves",
    "ordering_claims",
]


# --------------------------------------------------------------------------------- set-up


@dataclass
class TrainedSubset:
    """A model trained on ``labeled`` (dataset indices); ``unlabeled`` is the rest of the pool."""

    dataset: ALDataset
    result: TrainResult
    labeled: torch.Tensor
    unlabeled: torch.Tensor

    @property
    def model(self) -> nn.Module:
        return self.result.model

    def context(self, seed: int = 0, batch_size: int = 512, **kw: Any) -> SelectionContext:
        """A :class:`SelectionContext` for scoring the unlabeled rest with any strategy."""
        return SelectionContext(
            dataset=self.dataset,
            model=self.model,
            labeled=self.labeled,
            unlabeled=self.unlabeled,
            train_result=self.result,
            initial_labeled=self.labeled,
            seed=seed,
            batch_size=batch_size,
            **kw,
        )


def train_on_subset(
    dataset: ALDataset,
    labeled_fraction: float = 0.2,
    model: str | nn.Module = "cnn",
    config: TrainConfig | None = None,
    seed: int = 0,
    progress: bool = False,
) -> TrainedSubset:
    """Train ``model`` (a name for :func:`altoolkit.training.models.build_model`, or a module) on a random
    ``labeled_fraction`` of the pool (:func:`altoolkit.util.seeds.labeled_subset`)."""
    lab, unl = labeled_subset(dataset.n_train, labeled_fraction, seed)
    res = train_fresh(model, dataset, lab, config or TrainConfig(), seed, progress=progress)
    res.model.eval()
    return TrainedSubset(dataset, res, lab, unl)


#: Side of the images the small MLP reads: larger images (CIFAR's 32x32) are average-pooled to it.
SMALL_MLP_SIDE = 8


def small_mlp(dataset: ALDataset, hidden: int = 16, seed: int = 0) -> nn.Module:
    """A small MLP (dropout 0.2) whose conv/linear weights are few enough for the exact Hessian.

    Images larger than :data:`SMALL_MLP_SIDE` on a side are first average-pooled to that side
    (``nn.AdaptiveAvgPool2d``, no parameters): on CIFAR's 3x32x32 the MLP then has 3,488 weights
    at ``hidden=16`` instead of 49,568, which no exact Hessian (at most
    :data:`altoolkit.math.influence.MAX_EXACT_HESSIAN_PARAMS`) could hold; 8x8 digits are read
    as they are (1,440 weights)."""
    shape = tuple(dataset.input_shape)
    pooled = len(shape) == 3 and max(shape[1:]) > SMALL_MLP_SIDE
    n_in = shape[0] * SMALL_MLP_SIDE**2 if pooled else int(np.prod(shape))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, 1))
        model = MLP(n_in, dataset.num_classes, hidden=check_int("hidden", hidden, 1))
    if pooled:
        model.body = nn.Sequential(nn.AdaptiveAvgPool2d(SMALL_MLP_SIDE), *model.body)
    return model


# ------------------------------------------------------------------- Koh & Liang up-weighting


@dataclass
class UpweightingCheck:
    """Predicted vs retrained change of the reference loss when a candidate joins the labeled set.

    ``predicted[i]`` = −∇L(R)ᵀ(H + ridge·I)⁻¹∇ℓ(z_i)/n (ISAL Eq. 2 with the 1/n of adding one
    sample to n), ``actual[i]`` = [L(R; θ̂_{+ε}) − L(R; θ̂_{−ε})]/(2ε)/n from two retrainings with
    z_i up-weighted by ±ε, L(R) the SUMMED reference loss.  Negative = z_i lowers the reference loss.
    """

    predicted: np.ndarray
    actual: np.ndarray
    ridge: float
    eps: float
    n_labeled: int

    @property
    def pearson(self) -> float:
        return float(np.corrcoef(self.predicted, self.actual)[0, 1])

    @property
    def max_relative_error(self) -> float:
        return float(np.max(np.abs(self.predicted - self.actual)) / np.max(np.abs(self.actual)))


def _fit_head(head: nn.Linear, feats: torch.Tensor, y: torch.Tensor, ridge: float, extra: tuple[torch.Tensor, torch.Tensor, float] | None = None) -> None:
    """Minimise mean CE + (ridge/2)‖θ‖² (+ ε·ℓ(z)) over the head's parameters with L-BFGS (float64)."""
    opt = torch.optim.LBFGS(
        head.parameters(), lr=1.0, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14, history_size=50, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(feats), y) + 0.5 * ridge * sum((p**2).sum() for p in head.parameters())
        if extra is not None:
            fz, yz, eps = extra
            loss = loss + eps * F.cross_entropy(head(fz), yz, reduction="sum")
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)


def upweighting_check(
    trained: TrainedSubset,
    n_candidates: int = 12,
    n_reference: int = 200,
    ridge: float = 1e-2,
    eps: float = 1e-3,
    seed: int = 0,
) -> UpweightingCheck:
    """Check ISAL Eq. 1-2 (Koh & Liang's influence function) against retraining.

    The network's penultimate features are frozen and its last layer is refitted as an
    L2-regularised multinomial logistic regression (strictly convex, so θ̂ is unique and the
    influence function is exact to first order in ε).  The reference set R is ``n_reference``
    pool samples with their true labels; candidates are other pool samples with the refitted
    head's top-1 pseudo-label (as UUIC).  Everything in float64.
    """
    n_candidates = check_int("n_candidates", n_candidates, 1)
    n_reference = check_int("n_reference", n_reference, 1)
    ridge = check_float("ridge", ridge, 0.0, min_inclusive=False)
    eps = check_float("eps", eps, 0.0, min_inclusive=False)
    ds, model = trained.dataset, trained.model
    if n_reference + n_candidates > len(trained.unlabeled):
        raise ValueError(f"n_reference + n_candidates must be at most the unlabeled pool ({len(trained.unlabeled)})")
    perm = trained.unlabeled[torch.randperm(len(trained.unlabeled), generator=torch.Generator().manual_seed(seed))]
    ref_idx, cand_idx = perm[:n_reference], perm[n_reference : n_reference + n_candidates]
    emb = lambda idx: predict_logits(model, ds.x_train[idx], ds.to_input, embed=True).double()  # noqa: E731
    f_lab, f_ref, f_cand = emb(trained.labeled), emb(ref_idx), emb(cand_idx)
    y_lab, y_ref = ds.y_train[trained.labeled], ds.y_train[ref_idx]
    n = int(f_lab.shape[0])

    head = nn.Linear(f_lab.shape[1], ds.num_classes).double()
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    _fit_head(head, f_lab, y_lab, ridge)
    with torch.no_grad():
        y_cand = head(f_cand).argmax(1)

    # predicted: −∇L(R)ᵀ (H + ridge·I)⁻¹ ∇ℓ(z) / n, H the Hessian of the mean CE on the labeled set
    ident = lambda t: t  # noqa: E731
    v = loss_grad(head, f_ref, y_ref, "all", "sum", to_input=ident)
    hess = exact_hessian(head, f_lab, y_lab, "all", "mean", to_input=ident).double()
    hess += ridge * torch.eye(hess.shape[0], dtype=torch.float64)
    s_test = torch.linalg.solve(hess, flatten(v).double())
    g = flatten(per_sample_grads(head, f_cand, y_cand, "all", to_input=ident), batched=True).double()
    predicted = -(g @ s_test) / n

    # actual: central difference of the summed reference loss over retrainings with z up-weighted by ±ε
    actual = torch.zeros(n_candidates, dtype=torch.float64)
    for i in range(n_candidates):
        losses = []
        for sign in (1.0, -1.0):
            h = copy.deepcopy(head)
            _fit_head(h, f_lab, y_lab, ridge, extra=(f_cand[i : i + 1], y_cand[i : i + 1], sign * eps))
            with torch.no_grad():
                losses.append(float(F.cross_entropy(h(f_ref), y_ref, reduction="sum")))
        actual[i] = (losses[0] - losses[1]) / (2 * eps) / n
    return UpweightingCheck(predicted.numpy(), actual.numpy(), ridge, eps, n)


# ------------------------------------------------------------------------------- LiSSA


@dataclass
class LissaConvergence:
    """LiSSA estimates against the exact fixed point, per scale (rows) and depth (columns).

    Attributes:
        rel_error: ‖ĥ/scale − (H + damping·scale·I)⁻¹v‖ / ‖(H + damping·scale·I)⁻¹v‖ (NaN: diverged).
        cos_to_v: cosine between the LiSSA estimate and v (1 = a multiple of v: Grad-Simi).
        fixed_point_cos_to_v: the same cosine for the exact fixed point, per scale.
        eigenvalues: spectrum of H (mean loss over the labeled set, selected parameters).
        n_params: number of parameters (the length of v).
    """

    scales: list[float]
    depths: list[int]
    damping: float
    batch_size: int
    repeats: int
    rel_error: np.ndarray
    cos_to_v: np.ndarray
    fixed_point_cos_to_v: np.ndarray
    eigenvalues: np.ndarray
    n_params: int

    def diverged(self) -> list[float]:
        """Scales at which the batch-``batch_size`` recursion blew up (non-finite or ≥ 1e3 error)."""
        return [s for s, row in zip(self.scales, self.rel_error) if not np.all(np.isfinite(row)) or np.any(row >= 1e3)]

    def filter(self, scale: float, lam: np.ndarray) -> np.ndarray:
        """The fixed point's gain along an eigenvector of eigenvalue λ, relative to λ = 0:
        (damping·scale) / (λ + damping·scale).  Flat (≈ 1) means s_test ∝ v."""
        r = self.damping * scale
        return r / (np.asarray(lam) + r)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def lissa_convergence(
    trained: TrainedSubset,
    scales: Sequence[float] = (3.0, 30.0, 300.0, 1e4),
    depths: Sequence[int] = (1, 3, 10, 30, 100, 250, 1000),
    damping: float = 0.01,
    batch_size: int = 1,
    repeats: int = 1,
    which: str = "weights",
    seed: int = 0,
) -> LissaConvergence:
    """Run ISAL's LiSSA (batch ``batch_size`` over the labeled set, no division by scale) for each
    scale and depth, with v = Σ∇ℓ over the labeled set, and compare with the exact fixed point
    scale·(H + damping·scale·I)⁻¹v from the full Hessian (small models only: see
    :data:`altoolkit.math.influence.MAX_EXACT_HESSIAN_PARAMS`).  Each depth is a separate run from the
    same seed, so a longer run extends a shorter one."""
    scales = [check_float("scales[i]", s, 0.0, min_inclusive=False) for s in scales]
    depths = sorted({check_int("depths[i]", d, 1) for d in depths})
    if not scales or not depths:
        raise ValueError("scales and depths must each list at least one value")
    ds, model = trained.dataset, trained.model
    x, y = ds.x_train[trained.labeled], ds.y_train[trained.labeled]
    v = loss_grad(model, x, y, which, "sum", to_input=ds.to_input)
    vf = flatten(v).double()
    hess = exact_hessian(model, x, y, which, "mean", to_input=ds.to_input).double()
    lam, q = torch.linalg.eigh(hess)
    qv = q.T @ vf
    rel = np.full((len(scales), len(depths)), np.nan)
    cosv = np.full_like(rel, np.nan)
    fp_cos = np.zeros(len(scales))
    for i, s in enumerate(scales):
        exact = q @ (qv / (lam + damping * s))  # (H + damping·scale·I)⁻¹ v
        fp_cos[i] = _cos(exact, vf)
        for j, d in enumerate(depths):
            try:
                est = flatten(
                    lissa_inverse_hvp(
                        model,
                        x,
                        y,
                        v,
                        damping=damping,
                        scale=s,
                        depth=d,
                        repeats=repeats,
                        batch_size=batch_size,
                        seed=seed,
                        divide_by_scale=True,
                        to_input=ds.to_input,
                    )
                ).double()
            except FloatingPointError:
                break  # diverged: deeper runs diverge too (NaN left in place)
            if not torch.isfinite(est).all():
                break
            rel[i, j] = float((est - exact).norm() / exact.norm())
            cosv[i, j] = _cos(est, vf)
    return LissaConvergence(list(scales), list(depths), float(damping), int(batch_size), int(repeats), rel, cosv, fp_cos, lam.numpy(), int(vf.numel()))


# ------------------------------------------------------------------- ISAL vs Grad-Simi


@dataclass
class ScoreAgreement:
    """ISAL (one row per LiSSA scale) against Grad-Simi on the same pool."""

    scales: list[float]
    spearman: list[float]  # rank correlation of ISAL and Grad-Simi values
    top_overlap: list[float]  # share of the top-``budget`` selections both make
    cos_s_test_v: list[float]  # cosine between s_test and v
    slope: list[float]  # least-squares ratio ISAL / Grad-Simi (s_test ≈ slope·v)
    budget: int
    isal: dict[float, torch.Tensor]  # ISAL values I(z) per scale
    grad_simi: torch.Tensor  # Grad-Simi values −v·G(z)/n


def isal_vs_grad_simi(
    trained: TrainedSubset,
    scales: Sequence[float] = (1e4,),
    budget: int = 60,
    reference: str = "labeled",
    depth: int = 250,
    repeats: int = 4,
    damping: float = 0.01,
    seed: int = 0,
    progress: bool = False,
) -> ScoreAgreement:
    """Score the unlabeled pool with ISAL (for each LiSSA ``scale``) and with Grad-Simi, both by
    the ``isal`` strategy itself, and measure how much they agree."""
    ctx = trained.context(seed=seed, progress=progress)
    gs = get_strategy("isal", reference=reference, grad_simi=True)
    v = gs.s_test(ctx)  # Grad-Simi's "s_test" is v itself
    gs_vals = gs.influence(ctx, v)
    top_gs = set(select_top(-gs_vals, budget).tolist())
    rho, overlap, cos, slope, vals = [], [], [], [], {}
    g = gs_vals.double()
    for s in scales:
        st = get_strategy("isal", reference=reference, depth=depth, repeats=repeats, damping=damping, scale=s)
        s_test = st.s_test(ctx)
        vals[s] = st.influence(ctx, s_test)
        rho.append(spearman(vals[s], gs_vals))
        overlap.append(len(top_gs & set(select_top(-vals[s], budget).tolist())) / budget)
        cos.append(_cos(flatten(s_test).double(), flatten(v).double()))
        slope.append(float((vals[s].double() @ g) / (g @ g)))
    return ScoreAgreement(list(scales), rho, overlap, cos, slope, budget, vals, gs_vals)


# ----------------------------------------------------------------------- AL ablations


def ablation_variants(
    k_values: Iterable[int] = (1, 2, 3),
    lissa: dict[str, Any] | None = None,
    include_random: bool = True,
    k_weighting: str = "posterior",
) -> dict[str, tuple[str, dict[str, Any]]]:
    """The runs behind ISAL Tables 1-3: ``{label: (strategy, options)}``.

    "ISAL" uses the validation reference set and K = 1 (the paper's main setting, shared by all
    three tables: ISAL's default run, dragonlzm/ISAL ``calc_influence_funtion``, the unweighted
    pseudo-label gradient); "ISAL K=k" changes K (Table 1) with the weights ``k_weighting``
    (default ``"posterior"``: the unnormalised softmax of dragonlzm/ISAL
    ``classification/src/utils.py`` ``calc_influence_funtion_expectation``; ``"renormalized"``
    makes them sum to one); "Grad-Simi" drops H⁻¹ (Table 2);
    "ISAL_v2 (L1)" / "ISAL_v3 (Li)" use the first / current labeled set as reference (Table 3).
    ``lissa`` holds LiSSA options (depth, repeats, damping, scale) applied to every ISAL run.
    The validation runs need ``ALConfig(validation_size=N)`` in the base configuration.
    """
    lissa = dict(lissa or {})
    unknown = set(lissa) - {"depth", "repeats", "damping", "scale", "lissa_batch_size", "lissa_order"}
    if unknown:
        raise ValueError(f"lissa accepts depth, repeats, damping, scale, lissa_batch_size, lissa_order; got {sorted(unknown)}")
    if lissa.get("lissa_order") == "random":  # the default: left out, so the runs' records keep their hashes
        del lissa["lissa_order"]
    ks = [check_int("k_values[i]", k, 1) for k in k_values]
    out: dict[str, tuple[str, dict[str, Any]]] = {"ISAL": ("isal", {"reference": "validation", **lissa})}
    out["Grad-Simi"] = ("isal", {"reference": "validation", "grad_simi": True})
    for k in ks:
        if k != 1:
            out[f"ISAL K={k}"] = ("isal", {"reference": "validation", "k_classes": k, "k_weighting": k_weighting, **lissa})
    out["ISAL_v2 (L1)"] = ("isal", {"reference": "initial", **lissa})
    out["ISAL_v3 (Li)"] = ("isal", {"reference": "labeled", **lissa})
    if include_random:
        out["random"] = ("random", {})
    for strategy, options in out.values():
        get_strategy(strategy, **options)  # validate now, not after an hour of runs
    return out


def run_variants(
    base: ALConfig,
    variants: dict[str, tuple[str, dict[str, Any]]],
    seeds: Iterable[int],
    out_dir: str | Path | None = None,
    progress: bool = True,
    backend: str = "serial",
    n_jobs: int = 1,
) -> dict[str, list[dict[str, Any]]]:
    """One AL run per variant and seed, ``{label: records}`` (records in the order of ``seeds``).

    The runs go through :func:`altoolkit.engine.sweep.run_sweep` (``backend``/``n_jobs`` as there: the
    variants and seeds run in parallel with ``backend="joblib", n_jobs=2``).  With ``out_dir`` the
    records are kept there under their configuration hash, so finished runs are read back instead
    of recomputed (the cache notebook 06 uses); without it they go to a temporary folder.
    """
    if base.validation_size == 0 and any(o.get("reference") == "validation" for _, o in variants.values()):
        raise ValueError(
            "variants with reference='validation' need a held-out validation set: "
            "set ALConfig(validation_size=N) / --validation-size N in the base configuration"
        )
    seeds = list(seeds)
    if not seeds or not variants:
        raise ValueError("variants and seeds must each name at least one value")
    import contextlib
    import tempfile

    from ..engine.sweep import run_sweep

    configs = [replace(base, strategy=strategy, strategy_options=dict(options), seed=seed) for strategy, options in variants.values() for seed in seeds]
    folder = contextlib.nullcontext(str(out_dir)) if out_dir is not None else tempfile.TemporaryDirectory(prefix="altoolkit-variants-")
    with folder as records_dir:
        records = run_sweep(configs, records_dir, backend=backend, n_jobs=n_jobs, progress=progress)
    return {label: records[i * len(seeds) : (i + 1) * len(seeds)] for i, label in enumerate(variants)}


def variant_curves(runs: dict[str, list[dict[str, Any]]], labels: Sequence[str] | None = None) -> dict[str, CurveSummary]:
    """Learning curves (mean ± std over seeds) of the variants ``labels`` (all by default), in order."""
    labels = list(runs) if labels is None else list(labels)
    missing = [lab for lab in labels if lab not in runs]
    if missing:
        raise ValueError(f"no runs for {missing}; available: {list(runs)}")
    out: dict[str, CurveSummary] = {}
    for lab in labels:
        out.update(learning_curves(runs[lab], label=lambda _r, _lab=lab: _lab))
    return out


def ordering_claims(curves: dict[str, CurveSummary], pairs: Sequence[tuple[str, str]], metric: str = "aulc") -> list[Verdict]:
    """Three-valued verdict of each paper ordering ``a > b`` on ``metric`` (seeds paired,
    :func:`altoolkit.analysis.results.paired_comparison`, i.e. :func:`altoolkit.math.stats.compare`)."""
    return [paired_comparison(curves, a, b, metric) for a, b in pairs]
