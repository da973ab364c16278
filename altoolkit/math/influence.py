"""The gradient math behind TracIn, ISAL and DISAL's derivation.

Which paper equation each function serves:

- :func:`per_sample_grads` (``vmap(grad(functional_call))``, eval mode): the per-sample
  gradients ∇ℓ(z; θ) of TracIn (Pruthi et al. 2020) and of DISAL Eq. 5-8, for all parameters,
  weights only (conv and linear weights: what ISAL's public code uses), or the last layer.
- :func:`loss_grad`: the summed gradient Σ_{z'∈R} ∇ℓ(z'; θ) of a reference set: DISAL Eq. 7-8
  (the "accumulated gradient"), ISAL Eq. 2's ∇_θ l(R, θ̂), TracIn's reference term.
- :func:`directional_derivatives` (forward-mode ``torch.func.jvp``): g(z)·v for a whole batch and
  one fixed vector v, without materialising per-sample gradients: TracIn against a summed
  gradient (DISAL Eq. 8), ISAL Eq. 4 (−s_test·G(z')), Grad-Simi.
- :func:`hvp`: exact Hessian-vector products H·v of the summed or mean loss (double backward),
  the building block of LiSSA.
- :func:`lissa_inverse_hvp`: ISAL's stochastic estimate of s_test = H⁻¹∇l(R) (ISAL Eq. 2-4,
  Agarwal et al.'s LiSSA, as in ISAL's public code, see its docstring for the scaling).
- :func:`exact_hessian`, :func:`exact_inverse_hvp`: the full Hessian of the mean loss and
  (H + λI)⁻¹v for small models, to check LiSSA.
- :func:`tracin_scores`, :func:`tracin_pairwise`, :func:`tracin_self_scores`: TracIn-CP
  (Pruthi et al. 2020, Eq. 6-8 of DISAL summed over checkpoints):
  score(z) = Σ_t η_t ∇ℓ(z; θ_t)·Σ_{z'∈ref} ∇ℓ(z'; θ_t).

Parameter vectors are passed around as ``dict[name, Tensor]`` keyed like
``model.named_parameters()``; :func:`flatten` turns them into one flat vector.  Every gradient
here is taken with the model in eval mode (no dropout, BatchNorm running statistics), and the
caller's model is never modified.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, Callable, Literal, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp, vmap
from ..util.progress import tqdm

from ..util.modules import batches, eval_mode, output_layer
from ..util.checks import check_bool, check_choice, check_float, check_int

__all__ = [
    "PARAM_SETS",
    "ParamSet",
    "select_params",
    "flatten",
    "unflatten_like",
    "per_sample_grads",
    "loss_grad",
    "directional_derivatives",
    "gradient_dots",
    "hvp",
    "lissa_inverse_hvp",
    "LISSA_ORDERS",
    "exact_hessian",
    "exact_inverse_hvp",
    "MAX_EXACT_HESSIAN_PARAMS",
    "Checkpoints",
    "tracin_scores",
    "tracin_pairwise",
    "tracin_self_scores",
]

ParamSet = Literal["all", "weights", "last_layer"]
PARAM_SETS: tuple[str, ...] = ("all", "weights", "last_layer")
#: How :func:`lissa_inverse_hvp` draws its mini-batches: at random, or the rows in order (ISAL's code).
LISSA_ORDERS: tuple[str, ...] = ("random", "sequential")


def select_params(model: nn.Module, which: ParamSet | Sequence[str] = "all") -> dict[str, torch.Tensor]:
    """Named parameters of ``model`` to differentiate with respect to.

    Args:
        which: ``"all"`` trainable parameters; ``"weights"``: the weights of ``nn.Conv*`` and
            ``nn.Linear`` layers only (no biases, no BatchNorm), as ISAL's public code;
            ``"last_layer"``: the parameters of ``model.head``; or a sequence of parameter names
            (e.g. ISAL's detection kernels, :data:`altoolkit.training.detection_models.HEAD_LAST_LAYERS`).
    """
    if isinstance(which, (list, tuple)):
        named = dict(model.named_parameters())
        unknown = [n for n in which if n not in named]
        if unknown or not which:
            raise ValueError(f"which names parameters the model does not have: {unknown or 'none given'}")
        return {n: named[n] for n in which}
    if which == "all":
        return {n: p for n, p in model.named_parameters() if p.requires_grad}
    if which == "weights":
        out = {}
        for mname, mod in model.named_modules():
            if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) and mod.weight.requires_grad:
                out[f"{mname}.weight" if mname else "weight"] = mod.weight
        return out
    if which == "last_layer":
        name, head = output_layer(model)  # model.head, or the last nn.Linear of a model without one
        return {f"{name}.{n}": p for n, p in head.named_parameters()}
    raise ValueError(f"which must be one of {', '.join(PARAM_SETS)}; got {which!r}")


def flatten(tensors: dict[str, torch.Tensor], batched: bool = False) -> torch.Tensor:
    """Concatenate a dict of tensors into one vector (``(P,)``), or ``(B, P)`` when ``batched``."""
    if batched:
        return torch.cat([t.reshape(t.shape[0], -1) for t in tensors.values()], dim=1)
    return torch.cat([t.reshape(-1) for t in tensors.values()])


def unflatten_like(vec: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Split a flat vector back into tensors shaped like ``like``."""
    out, i = {}, 0
    for k, t in like.items():
        n = t.numel()
        out[k] = vec[i : i + n].view_as(t)
        i += n
    if i != vec.numel():
        raise ValueError(f"vector has {vec.numel()} entries but the parameters have {i}")
    return out


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_JVP_READY = False


def _prepare_forward_ad() -> None:
    """Run one tiny jvp so that torch loads its forward-mode decompositions now, with the
    ``torch.jit.script is deprecated`` FutureWarning that torch itself raises then silenced
    (it is about torch internals, not about this code, and would clutter every notebook)."""
    global _JVP_READY
    if not _JVP_READY:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
            jvp(lambda t: t * 2.0, (torch.zeros(1),), (torch.ones(1),))
        _JVP_READY = True


def _ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for one sample; ``target`` is a class index or a probability vector."""
    if target.dtype in (torch.int64, torch.int32):
        return F.cross_entropy(logits.unsqueeze(0), target.unsqueeze(0))
    return -(target * torch.log_softmax(logits, dim=-1)).sum()


def _functional_parts(model: nn.Module, which: ParamSet):
    params = {k: v.detach() for k, v in select_params(model, which).items()}
    frozen = {k: v.detach() for k, v in model.named_parameters() if k not in params}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    return params, frozen, buffers


def per_sample_grads(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    which: ParamSet = "all",
    loss_fn: LossFn = _ce,
    batch_size: int = 256,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """Gradient of each sample's loss, ``{name: (N, *param.shape)}``, in eval mode.

    ``target`` holds class indices ``(N,)`` or probability vectors ``(N, C)`` (soft targets:
    the loss is −Σ_c t_c log p_c).  Computed with ``vmap(grad(functional_call))`` in batches.
    """
    if x.shape[0] != target.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but target has {target.shape[0]}; they must match")
    params, frozen, buffers = _functional_parts(model, which)

    def sample_loss(p, xi, ti):
        out = functional_call(model, {**p, **frozen, **buffers}, (xi.unsqueeze(0),))
        return loss_fn(out[0], ti)

    g = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    chunks: dict[str, list[torch.Tensor]] = {k: [] for k in params}
    with eval_mode(model):
        for sl in batches(int(x.shape[0]), batch_size):
            res = g(params, to_input(x[sl]).to(device), target[sl].to(device))
            for k in params:
                chunks[k].append(res[k].detach())
    return {k: v[0] if len(v) == 1 else torch.cat(v) for k, v in chunks.items()}


def loss_grad(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    which: ParamSet | Sequence[str] = "all",
    reduction: Literal["sum", "mean"] = "sum",
    batch_size: int = 512,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    device: str = "cpu",
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Gradient of the summed (or mean) loss over ``(x, target)``, in eval mode, in batches.

    ``loss(logits, targets)`` is a batch's loss summed over its samples (default: the
    cross-entropy, :func:`_summed_loss`; segmentation passes
    :func:`altoolkit.math.segmentation.image_ce_loss`, each image's mean over its pixels)."""
    batch_loss = _summed_loss if loss is None else loss
    params = select_params(model, which)
    total = {k: torch.zeros_like(p) for k, p in params.items()}
    n = int(x.shape[0])
    with eval_mode(model):
        for sl in batches(n, batch_size):
            logits = model(to_input(x[sl]).to(device))
            gs = torch.autograd.grad(batch_loss(logits, target[sl].to(device)), list(params.values()))
            for k, gk in zip(params, gs):
                total[k] += gk.detach()
    if reduction == "mean":
        total = {k: v / max(1, n) for k, v in total.items()}
    return total


def directional_derivatives(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | Callable[[torch.Tensor], torch.Tensor],
    v: dict[str, torch.Tensor],
    batch_size: int = 256,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    device: str = "cpu",
    progress: bool = False,
    derivative: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """g(z)·v for every sample z: the derivative of each sample's loss along ``v``, ``(N,)``.

    One forward-mode pass (``torch.func.jvp``) per batch gives the logits f(z) and their
    derivative along v, ḟ(z) = J_f(z)·v, at about the cost of two forward passes; no per-sample
    gradient is built.  The cross-entropy's derivative then follows in closed form (in float64):

        d/dε ℓ(f + εḟ, t) = Σ_c (p_c·Σ_k t_k − t_c) ḟ_c,   p = softmax(f),

    (for a class index y: Σ_c p_c ḟ_c − ḟ_y).  ``target`` holds class indices ``(N,)`` or
    probability rows ``(N, C)``, or is a function of a batch's logits returning either: then
    the targets come from the same forward pass (TracIn's and ISAL's pseudo-labels), so the
    pool is not run through the model a second time.  ``v`` is keyed by parameter names (a
    subset of the model's parameters; the others are held fixed).  The model is in eval mode.
    ``derivative(f, ḟ, targets)`` maps a batch's logits, tangents and targets to each sample's
    loss derivative (default: the cross-entropy's, above; segmentation passes
    :func:`altoolkit.math.segmentation.image_ce_directional`; detection, whose model returns a
    dict of head outputs, the chain rule through the detector's per-image loss,
    :func:`altoolkit.math.detection.loss_directional`).
    """
    along = _ce_directional if derivative is None else derivative
    names = list(v)
    all_params = dict(model.named_parameters())
    missing = [k for k in names if k not in all_params]
    if missing:
        raise ValueError(f"v has entries for unknown parameters {missing}")
    n = int(x.shape[0])
    if not callable(target) and _n_targets(target) != n:
        raise ValueError(f"x has {n} samples but target has {_n_targets(target)}; they must match")
    params = {k: all_params[k].detach() for k in names}
    frozen = {k: p.detach() for k, p in all_params.items() if k not in params}
    buffers = {k: b.detach() for k, b in model.named_buffers()}
    tangents = {k: v[k].to(params[k].dtype).to(params[k].device) for k in names}
    _prepare_forward_ad()
    out = torch.empty(0)  # (N,) in the logits' dtype, allocated at the first batch
    with eval_mode(model), torch.no_grad():
        for sl in batches(n, batch_size, progress, desc="jvp"):
            xb = to_input(x[sl]).to(device)

            def logits_of(p):
                return functional_call(model, {**p, **frozen, **buffers}, (xb,))

            f, df = jvp(logits_of, (params,), (tangents,))
            tb = target(f) if callable(target) else target[sl]
            ref = f if isinstance(f, torch.Tensor) else next(iter(f.values()))  # a detector's outputs are a dict
            if sl.start == 0:
                out = torch.empty(n, dtype=ref.dtype)
            out[sl] = along(f, df, tb.to(ref.device) if hasattr(tb, "to") else tb).to("cpu", ref.dtype)
    return out


def gradient_dots(
    model: nn.Module,
    x: torch.Tensor,
    target: Any,
    v: Mapping[str, torch.Tensor],
    sample_losses: Callable[[Any, Any], torch.Tensor],
    batch_size: int = 64,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    device: str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """g(z)·v for every sample z by reverse mode, ``(N,)`` float64: for each sample a forward pass
    of its own (a batch of one: a backward pass from a loss on a slice of a batch would walk the
    whole batch) and the gradient of its loss with respect to the parameters named by ``v`` (only
    the part of the graph that leads to them is walked back), dotted with ``v``.

    The same quantity as :func:`directional_derivatives` (forward mode), for models whose loss
    is not a closed form of their output: a detector, whose per-image loss
    (``sample_losses(outputs, targets) -> (B,)``, e.g. FCOS's) matches anchors to boxes; through
    only the last layers (ISAL's detection parameters) the backward pass of one image costs less
    than a forward-mode pass through the loss's many small operations.  ``target`` holds the
    samples' targets (indexable by a slice, with ``.to``) or is a function of a batch's outputs
    returning them (pseudo-labels from the same forward pass).  Eval mode.
    """
    names = list(v)
    all_params = dict(model.named_parameters())
    missing = [k for k in names if k not in all_params]
    if missing:
        raise ValueError(f"v has entries for unknown parameters {missing}")
    n = int(x.shape[0])
    if not callable(target) and _n_targets(target) != n:
        raise ValueError(f"x has {n} samples but target has {_n_targets(target)}; they must match")
    frozen = {k: p.detach() for k, p in all_params.items() if k not in names}
    buffers = {k: b.detach() for k, b in model.named_buffers()}
    leaves = {k: all_params[k].detach().requires_grad_(True) for k in names}
    vec = [v[k].to(leaves[k].device, leaves[k].dtype) for k in names]
    out = torch.zeros(n, dtype=torch.float64)
    with eval_mode(model), torch.enable_grad():
        for sl in batches(n, batch_size, progress, desc="gradients"):
            for i in range(sl.start, sl.stop):
                outputs = functional_call(model, {**leaves, **frozen, **buffers}, (to_input(x[i : i + 1]).to(device),))
                with torch.no_grad():
                    detached = {k: t.detach() for k, t in outputs.items()} if isinstance(outputs, dict) else outputs.detach()
                    tb = target(detached) if callable(target) else target[i : i + 1]
                loss = sample_losses(outputs, tb.to(device) if hasattr(tb, "to") else tb).sum()
                gs = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True, materialize_grads=True)
                out[i] = float(sum((g.double() * w.double()).sum() for g, w in zip(gs, vec)))
    return out


def _ce_directional(f: torch.Tensor, df: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Derivative of the per-sample cross-entropy along the logit tangents ``df``, float64."""
    f64, df64 = f.double(), df.double()
    p = torch.softmax(f64, dim=1)
    if t.dtype in (torch.int64, torch.int32):
        return (p * df64).sum(1) - df64.gather(1, t.long().unsqueeze(1)).squeeze(1)
    t64 = t.double()
    return (p * df64).sum(1) * t64.sum(1) - (t64 * df64).sum(1)


# --------------------------------------------------------------------------------------------
# Hessian-vector products, LiSSA and exact inverse-HVPs (ISAL Eq. 1-4)
# --------------------------------------------------------------------------------------------

#: Largest number of selected parameters for which :func:`exact_hessian` builds the P×P matrix.
MAX_EXACT_HESSIAN_PARAMS: int = 20_000

ToInput = Callable[[torch.Tensor], torch.Tensor]


def _summed_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Σ over the batch of the cross-entropy; ``target`` holds class indices or probability rows."""
    if target.dtype in (torch.int64, torch.int32):
        return F.cross_entropy(logits, target, reduction="sum")
    return -(target * torch.log_softmax(logits, dim=1)).sum()


def _n_targets(target: object) -> int:
    """Samples in ``target``: a tensor's first axis, or the length of a per-sample label container
    (the detection task's :class:`~altoolkit.data.BoxTargets`: indexable by a tensor, with ``.to``)."""
    return int(target.shape[0]) if isinstance(target, torch.Tensor) else len(target)  # type: ignore[arg-type]


def _check_xy(x: torch.Tensor, target: torch.Tensor, xname: str = "x", tname: str = "target") -> int:
    if not isinstance(x, torch.Tensor) or not (isinstance(target, torch.Tensor) or (hasattr(target, "__len__") and hasattr(target, "to"))):
        raise TypeError(f"{xname} must be a torch tensor and {tname} a tensor or a per-sample label container (BoxTargets)")
    if x.shape[0] != _n_targets(target):
        raise ValueError(f"{xname} has {x.shape[0]} samples but {tname} has {_n_targets(target)}; they must match")
    if x.shape[0] == 0:
        raise ValueError(f"{xname} is empty: at least one sample is needed")
    return int(x.shape[0])


def _resolve_names(model: nn.Module, v: Mapping[str, torch.Tensor], which: ParamSet | None) -> list[str]:
    """Parameter names to differentiate with respect to: the keys of ``v`` (``which=None``), or
    the set ``which`` names, which must then be exactly the keys of ``v``."""
    if not isinstance(v, Mapping) or not v:
        raise TypeError("v must be a non-empty dict {parameter name: tensor} (see select_params / loss_grad)")
    all_params = dict(model.named_parameters())
    if which is None:
        names = list(v)
        missing = [k for k in names if k not in all_params]
        if missing:
            raise ValueError(f"v has entries for unknown parameters {missing}; keys must come from model.named_parameters()")
    else:
        names = list(select_params(model, which))
        if set(names) != set(v):
            raise ValueError(
                f"v must hold exactly the parameters selected by which={which!r}; "
                f"missing {sorted(set(names) - set(v))}, unexpected {sorted(set(v) - set(names))}"
            )
    for k in names:
        if tuple(v[k].shape) != tuple(all_params[k].shape):
            raise ValueError(f"v[{k!r}] has shape {tuple(v[k].shape)} but the parameter has {tuple(all_params[k].shape)}")
    return names


def _split_params(model: nn.Module, names: Sequence[str]):
    all_params = dict(model.named_parameters())
    params = {k: all_params[k].detach() for k in names}
    frozen = {k: p.detach() for k, p in all_params.items() if k not in params}
    buffers = {k: b.detach() for k, b in model.named_buffers()}
    return params, frozen, buffers


def _batch_hvp_fn(model: nn.Module, names: Sequence[str], loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None):
    """``f(xb, tb, vec) -> H_b·vec`` with H_b the Hessian of the SUMMED loss over the batch.

    Double backward (Pearlmutter's trick: the gradient of g·vec, g = ∇ℓ built with
    ``create_graph=True``) on detached leaf copies of the parameters fed through
    ``functional_call``; on a CPU this is several times faster per call than
    ``torch.func.jvp(grad(...))`` for small batches (what LiSSA does).  Call it in eval mode.
    ``loss(logits, targets)`` is the summed loss of a batch (default :func:`_summed_loss`)."""
    batch_loss = _summed_loss if loss is None else loss
    params, frozen, buffers = _split_params(model, names)
    leaves = {k: t.detach().requires_grad_(True) for k, t in params.items()}
    leaf_list = list(leaves.values())

    def batch_hvp(xb: torch.Tensor, tb: torch.Tensor, vec: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.enable_grad():
            total = batch_loss(functional_call(model, {**leaves, **frozen, **buffers}, (xb,)), tb)
            gs = torch.autograd.grad(total, leaf_list, create_graph=True, materialize_grads=True)
            dot = sum((g * vec[k]).sum() for g, k in zip(gs, leaves))
            if not dot.requires_grad:  # the loss is linear in these parameters: H = 0
                return {k: torch.zeros_like(t) for k, t in leaves.items()}
            hv = torch.autograd.grad(dot, leaf_list, materialize_grads=True)
        return {k: t.detach() for k, t in zip(leaves, hv)}

    return batch_hvp, params


def _as_param_dict(v: Mapping[str, torch.Tensor], params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v[k].detach().to(device=p.device, dtype=p.dtype) for k, p in params.items()}


def hvp(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    v: Mapping[str, torch.Tensor],
    which: ParamSet | None = None,
    reduction: Literal["sum", "mean"] = "sum",
    batch_size: int = 256,
    to_input: ToInput = lambda t: t.float(),
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """Hessian-vector product H·v of the summed (or mean) cross-entropy over ``(x, target)``.

    H = ∇²_θ Σ_i ℓ(z_i; θ) (divided by N for ``reduction="mean"``), with respect to the
    parameters named by the keys of ``v`` (``which=None``) or selected by ``which`` (then ``v``
    must hold exactly those).  Double backward (∇(∇ℓ·v), exact, no finite differences), in eval
    mode, accumulated over batches of ``batch_size``; the Hessian is never built.
    This is the inner step of LiSSA (ISAL's s_test, ISAL Eq. 2-4).
    """
    n = _check_xy(x, target)
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be one of sum, mean; got {reduction!r}")
    names = _resolve_names(model, v, which)
    with eval_mode(model):
        batch_hvp, params = _batch_hvp_fn(model, names)
        vec = _as_param_dict(v, params)
        total = {k: torch.zeros_like(p) for k, p in params.items()}
        for sl in batches(n, batch_size):
            hv = batch_hvp(to_input(x[sl]).to(device), target[sl].to(device), vec)
            for k in total:
                total[k] += hv[k]
    if reduction == "mean":
        total = {k: t / n for k, t in total.items()}
    return total


def lissa_inverse_hvp(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    v: Mapping[str, torch.Tensor],
    *,
    which: ParamSet | None = None,
    damping: float = 0.01,
    scale: float | Mapping[str, float] = 1e4,
    depth: int = 250,
    repeats: int = 4,
    batch_size: int = 1,
    seed: int = 0,
    divide_by_scale: bool = False,
    to_input: ToInput = lambda t: t.float(),
    device: str = "cpu",
    progress: bool = False,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    order: str = "random",
) -> dict[str, torch.Tensor]:
    """LiSSA estimate of an inverse-Hessian-vector product, exactly as ISAL's public code.

    ISAL (Eq. 2-4) needs s_test = H⁻¹ ∇l(R) with H the Hessian of the mean training loss over
    the labeled set ``(x, target)``.  Starting from h₀ = v, each of ``depth`` steps draws a
    random mini-batch B of ``batch_size`` labeled samples (ISAL: 1) and updates

        h ← v + (1 − damping)·h − H_B·h / scale,

    H_B the Hessian of the MEAN loss over B.  ``repeats`` independent runs are averaged.  As in
    ISAL's code, the result is NOT divided by ``scale`` unless ``divide_by_scale=True``.

    What it estimates.  E[H_B] = H and h_k is independent of the batch drawn at step k+1, so the
    mean iterate follows the deterministic recursion h ← v + (1 − damping)h − Hh/scale.  Its
    fixed point h* satisfies h* = v + (1 − damping)h* − Hh*/scale, i.e.
    (damping·I + H/scale)·h* = v, hence

        h* = (damping·I + H/scale)⁻¹ v = scale·(H + damping·scale·I)⁻¹ v.

    The default (no division) therefore returns scale·(H + damping·scale·I)⁻¹v, and
    ``divide_by_scale=True`` the textbook (H + damping·scale·I)⁻¹v: a ridge of damping·scale.
    The recursion contracts when every eigenvalue λ of H satisfies
    −damping·scale < λ < (2 − damping)·scale (so scale must exceed about λ_max/2), and after
    ``depth`` steps the error along an eigenvector has shrunk by (1 − damping − λ/scale)^depth.
    With ISAL's defaults (damping 0.01, scale 1e4: a ridge of 100) and ‖H‖ ≪ 100, h ≈ Σ_k 0.99^k v
    ≈ 92·v after 250 steps: s_test is then close to a multiple of v (Grad-Simi, ISAL's ablation).

    Args:
        model: the trained network (not modified; used in eval mode).
        x, target: the labeled set the Hessian averages over (class indices or soft targets).
        v: ``{parameter name: tensor}``, e.g. ``loss_grad(model, x_ref, y_ref, "weights")``.
        which: ``None`` (differentiate w.r.t. the keys of ``v``) or a parameter set whose names
            must equal the keys of ``v``.
        damping, scale, depth, repeats, batch_size: LiSSA settings (ISAL: 0.01, 1e4, 250, 4, 1).
            ``scale`` may be a ``{parameter name: scale}`` mapping, one per tensor of ``v``: ISAL's
            detection code divides each parameter's block by its own scale (dragonlzm/ISAL
            ``detection/src/utils.py`` ``multi_gpu_s_test``: 100, 8000 and 5000 for FCOS's
            classification, regression and centre-ness kernels); each block then estimates
            its own scale_k·(H + damping·scale_k·I)⁻¹v where H is block-diagonal.
        seed: seeds the ``torch.Generator`` that draws the mini-batches.
        divide_by_scale: divide the result by ``scale`` (textbook LiSSA).
        order: how the mini-batches are drawn.  ``"random"`` (default): a fresh random batch at
            every step.  ``"sequential"``: the rows of ``x`` in their order, repeat ``r`` reading
            rows ``r·depth·batch_size`` onwards (wrapping round at the end), as dragonlzm/ISAL
            ``classification/src/utils.py`` ``s_test`` walks the unshuffled test loader of the
            labeled file (``construct_test_loader``: ``shuffle=False``) in chunks of ``img_num``
            steps, so its 4 × 250 steps read the first 1,000 labeled images once each, which are
            its initial set (the labeled file lists the initial set first, then each query).
            ISAL's loop stops when the file ends (fewer chunks when it holds fewer than
            ``repeats·depth`` images); here the rows wrap round instead.
        progress: show a tqdm bar over the ``repeats × depth`` steps.
        loss: a batch's summed loss ``loss(logits, targets)`` whose Hessian is inverted (default:
            the cross-entropy; segmentation: each image's mean pixel cross-entropy).

    Returns:
        ``{name: tensor}`` shaped like ``v``.

    Raises:
        FloatingPointError: when the recursion diverges (increase ``scale``).
    """
    n = _check_xy(x, target)
    damping = check_float("damping", damping, 0.0, 1.0, max_inclusive=False)
    depth = check_int("depth", depth, 1)
    repeats = check_int("repeats", repeats, 1)
    batch_size = check_int("batch_size", batch_size, 1, n)
    seed = check_int("seed", seed)
    divide_by_scale = check_bool("divide_by_scale", divide_by_scale)
    check_choice("order", order, LISSA_ORDERS)
    names = _resolve_names(model, v, which)
    scales = _lissa_scales(scale, names)
    gen = torch.Generator().manual_seed(seed)
    with eval_mode(model):
        batch_hvp, params = _batch_hvp_fn(model, names, loss)
        vec = _as_param_dict(v, params)
        estimate = {k: torch.zeros_like(t) for k, t in vec.items()}
        bar = tqdm(total=repeats * depth, desc="LiSSA", disable=not progress, leave=False)
        for r in range(repeats):
            h = {k: t.clone() for k, t in vec.items()}
            for k in range(depth):
                if batch_size >= n:
                    idx = torch.arange(n)
                elif order == "sequential":
                    idx = (torch.arange(batch_size) + (r * depth + k) * batch_size) % n
                else:
                    idx = torch.randperm(n, generator=gen)[:batch_size]
                hv = batch_hvp(to_input(x[idx]).to(device), target[idx].to(device), h)
                h = {k: vec[k] + (1.0 - damping) * h[k] - hv[k] / (len(idx) * scales[k]) for k in h}
                bar.update(1)
            # A contracting recursion keeps ‖h‖ ≲ min(depth, 1/damping)·‖v‖ in the mean; a diverging
            # one can stay finite (e.g. 1e32) for a while, so check the size as well.
            v_norm = float(torch.sqrt(sum((t.double() ** 2).sum() for t in vec.values())))
            h_norm = float(torch.sqrt(sum((t.double() ** 2).sum() for t in h.values())))
            bound = 1e4 * v_norm * min(depth, 1.0 / damping if damping > 0 else depth)
            if not all(torch.isfinite(t).all() for t in h.values()) or (v_norm > 0 and h_norm > bound):
                bar.close()
                raise FloatingPointError(
                    f"LiSSA diverged in repeat {r} (scale={scale}, damping={damping:g}): the Hessian has "
                    f"eigenvalues outside (-damping*scale, (2-damping)*scale); increase scale"
                )
            for k in estimate:
                estimate[k] += h[k]
        bar.close()
    return {k: t / (repeats * (scales[k] if divide_by_scale else 1.0)) for k, t in estimate.items()}


def _lissa_scales(scale: float | Mapping[str, float], names: Sequence[str]) -> dict[str, float]:
    """One LiSSA scale per parameter name: a number for all, or a mapping that names each of them."""
    if isinstance(scale, Mapping):
        missing = [k for k in names if k not in scale]
        if missing:
            raise ValueError(f"scale must give a scale for every parameter of v; missing {missing}")
        return {k: check_float(f"scale[{k!r}]", scale[k], 0.0, min_inclusive=False) for k in names}
    one = check_float("scale", scale, 0.0, min_inclusive=False)
    return {k: one for k in names}


def _exact_hessian_names(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    names: Sequence[str],
    reduction: str,
    batch_size: int,
    to_input: ToInput,
    device: str,
    chunk_size: int = 256,
) -> torch.Tensor:
    n = _check_xy(x, target)
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be one of sum, mean; got {reduction!r}")
    with eval_mode(model):
        params, frozen, buffers = _split_params(model, names)
        p_count = sum(t.numel() for t in params.values())
        if p_count > MAX_EXACT_HESSIAN_PARAMS:
            raise ValueError(
                f"the exact Hessian would be {p_count}x{p_count}: more than MAX_EXACT_HESSIAN_PARAMS="
                f"{MAX_EXACT_HESSIAN_PARAMS} parameters. Select fewer parameters (which='last_layer'), use a "
                "smaller model, or use lissa_inverse_hvp"
            )
        _prepare_forward_ad()
        flat0 = flatten(params)
        hess = torch.zeros(p_count, p_count, dtype=flat0.dtype, device=flat0.device)
        eye = torch.eye(p_count, dtype=flat0.dtype, device=flat0.device)
        for sl in batches(n, batch_size):
            xb, tb = to_input(x[sl]).to(device), target[sl].to(device)

            def loss(flat):
                p = unflatten_like(flat, params)
                return _summed_loss(functional_call(model, {**p, **frozen, **buffers}, (xb,)), tb)

            g = grad(loss)

            def column(t):
                return jvp(g, (flat0,), (t,))[1]

            for s in range(0, p_count, chunk_size):
                hess[s : s + chunk_size] += vmap(column)(eye[s : s + chunk_size]).detach()
    if reduction == "mean":
        hess /= n
    return 0.5 * (hess + hess.T)


def exact_hessian(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    which: ParamSet = "all",
    reduction: Literal["sum", "mean"] = "mean",
    batch_size: int = 256,
    to_input: ToInput = lambda t: t.float(),
    device: str = "cpu",
) -> torch.Tensor:
    """The full ``(P, P)`` Hessian of the mean (or summed) loss over ``(x, target)``, in eval mode.

    Rows are ordered like ``flatten(select_params(model, which))``.  Built one block of rows at
    a time as H·e_i (forward-over-reverse, ``vmap`` over basis vectors), so memory is the P×P
    matrix plus one block.  Only for small models: P must not exceed
    :data:`MAX_EXACT_HESSIAN_PARAMS` (20,000).  For checking :func:`hvp` and LiSSA.
    """
    names = list(select_params(model, which))
    return _exact_hessian_names(model, x, target, names, reduction, batch_size, to_input, device)


def exact_inverse_hvp(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    v: Mapping[str, torch.Tensor],
    damping: float = 0.0,
    which: ParamSet | None = None,
    batch_size: int = 256,
    to_input: ToInput = lambda t: t.float(),
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """(H + damping·I)⁻¹ v with H the exact Hessian of the MEAN loss over ``(x, target)``.

    ``damping`` here is the ridge added to H itself (LiSSA's ``damping`` is in other units:
    :func:`lissa_inverse_hvp` with ``damping=d, scale=s`` estimates
    ``s * exact_inverse_hvp(..., damping=d*s)``, or ``exact_inverse_hvp(..., damping=d*s)`` with
    ``divide_by_scale=True``).  The linear system is solved in float64.  Small models only (see
    :func:`exact_hessian`); for checking LiSSA (ISAL Eq. 2).
    """
    damping = check_float("damping", damping, 0.0)
    names = _resolve_names(model, v, which)
    hess = _exact_hessian_names(model, x, target, names, "mean", batch_size, to_input, device)
    params = _split_params(model, names)[0]
    rhs = flatten(_as_param_dict(v, params)).double()
    system = hess.double() + damping * torch.eye(hess.shape[0], dtype=torch.float64, device=hess.device)
    try:
        sol = torch.linalg.solve(system, rhs)
    except RuntimeError as err:  # singular matrix
        raise ValueError(f"H + damping·I is singular (damping={damping:g}); use a positive damping") from err
    return unflatten_like(sol.to(hess.dtype), params)


# --------------------------------------------------------------------------------------------
# TracIn (Pruthi et al. 2020; DISAL Eq. 6-8 summed over checkpoints)
# --------------------------------------------------------------------------------------------

#: ``[(state_dict, learning_rate), ...]`` or ``TrainResult.checkpoints`` (``{epoch: (state, lr)}``).
Checkpoints = Sequence[tuple[Mapping[str, torch.Tensor], float]] | Mapping[int, tuple[Mapping[str, torch.Tensor], float]]


def _checkpoint_list(checkpoints: Checkpoints) -> list[tuple[Mapping[str, torch.Tensor], float]]:
    if isinstance(checkpoints, Mapping):
        items = [checkpoints[k] for k in sorted(checkpoints)]
    elif isinstance(checkpoints, Sequence):
        items = list(checkpoints)
    else:
        raise TypeError("checkpoints must be a list of (state_dict, learning_rate) pairs or {epoch: (state_dict, lr)}")
    if not items:
        raise ValueError("checkpoints is empty: TracIn needs at least one (state_dict, learning_rate) pair")
    out = []
    for i, item in enumerate(items):
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], Mapping)):
            raise TypeError(f"checkpoints[{i}] must be a (state_dict, learning_rate) pair, got {type(item).__name__}")
        out.append((item[0], check_float(f"learning rate of checkpoints[{i}]", item[1], 0.0)))
    return out


def _checkpoint_models(model: nn.Module, checkpoints: Checkpoints, device: str, progress: bool):
    """Yield ``(copy of model with θ_t loaded, η_t)``; one deepcopy, reloaded per checkpoint."""
    items = _checkpoint_list(checkpoints)
    work = copy.deepcopy(model).to(device)
    for state, lr in tqdm(items, desc="TracIn checkpoints", disable=not progress, leave=False):
        work.load_state_dict(state)
        work.eval()
        yield work, lr


def _labels_or_pseudo(m: nn.Module, x: torch.Tensor, y: torch.Tensor | None, to_input: ToInput, batch_size: int, device: str) -> torch.Tensor:
    if y is not None:
        return y
    out = []
    with eval_mode(m), torch.inference_mode():
        for sl in batches(int(x.shape[0]), batch_size):
            out.append(m(to_input(x[sl]).to(device)).argmax(1).cpu())
    return torch.cat(out)


def _top1(logits: torch.Tensor) -> torch.Tensor:
    """Each row's most probable class: the checkpoint's own pseudo-label (TracIn for AL)."""
    return logits.argmax(1)


def tracin_scores(
    model: nn.Module,
    checkpoints: Checkpoints,
    x_pool: torch.Tensor,
    y_pool: torch.Tensor | None,
    x_ref: torch.Tensor,
    y_ref: torch.Tensor,
    *,
    which: ParamSet = "all",
    to_input: ToInput = lambda t: t.float(),
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """TracIn-CP influence of each pool sample on a whole reference set, ``(N_pool,)`` float64.

        score(z) = Σ_t η_t · ∇ℓ(z; θ_t) · Σ_{z'∈ref} ∇ℓ(z'; θ_t)

    (Pruthi et al. 2020; DISAL Eq. 8 at each checkpoint).  Per checkpoint, v_t = Σ_{z'∈ref}
    ∇ℓ(z'; θ_t) is one summed gradient (:func:`loss_grad`) and the pool's scores are the
    directional derivatives ∇ℓ(z; θ_t)·v_t (:func:`directional_derivatives`, forward-mode jvp):
    no per-sample gradient is ever built.  Equals ``tracin_pairwise(...).sum(1)``.

    Args:
        model: a template module; each checkpoint's state dict is loaded into a deepcopy of it
            (the caller's model is not touched).  All gradients in eval mode.
        checkpoints: ``[(state_dict, η_t), ...]`` or ``TrainResult.checkpoints``.
        x_pool, y_pool: samples to score and their labels (class indices or probability rows);
            ``y_pool=None`` uses each checkpoint's own top-1 prediction as pseudo-label (AL).
        x_ref, y_ref: the reference set with its true labels (e.g. the labeled set).
        which: ``"all"``, ``"weights"`` or ``"last_layer"`` (see :func:`select_params`).

    Positive scores: a gradient step on z would lower the reference loss (proponents).
    """
    _check_xy(x_pool, x_pool if y_pool is None else y_pool, "x_pool", "y_pool")
    _check_xy(x_ref, y_ref, "x_ref", "y_ref")
    total = torch.zeros(int(x_pool.shape[0]), dtype=torch.float64)
    for m, lr in _checkpoint_models(model, checkpoints, device, progress):
        v = loss_grad(m, x_ref, y_ref, which, "sum", batch_size, to_input, device)
        # pseudo-labels (y_pool=None) come from the jvp's own forward pass: one pass over the pool
        yp = _top1 if y_pool is None else y_pool
        total += lr * directional_derivatives(m, x_pool, yp, v, batch_size, to_input, device).double()
    return total


def tracin_pairwise(
    model: nn.Module,
    checkpoints: Checkpoints,
    x_pool: torch.Tensor,
    y_pool: torch.Tensor | None,
    x_ref: torch.Tensor,
    y_ref: torch.Tensor,
    *,
    which: ParamSet = "all",
    to_input: ToInput = lambda t: t.float(),
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """The full TracIn matrix, ``(N_pool, N_ref)`` float64: entry (i, j) is
    Σ_t η_t ∇ℓ(z_i; θ_t)·∇ℓ(z'_j; θ_t) (DISAL Eq. 6 summed over checkpoints).

    Built from per-sample gradients (:func:`per_sample_grads`), so it needs
    (N_pool + N_ref)·P numbers per checkpoint: for checking :func:`tracin_scores` (its row sums)
    and for small demonstrations.  Arguments as in :func:`tracin_scores`.
    """
    _check_xy(x_pool, x_pool if y_pool is None else y_pool, "x_pool", "y_pool")
    _check_xy(x_ref, y_ref, "x_ref", "y_ref")
    total = torch.zeros(int(x_pool.shape[0]), int(x_ref.shape[0]), dtype=torch.float64)
    for m, lr in _checkpoint_models(model, checkpoints, device, progress):
        yp = _labels_or_pseudo(m, x_pool, y_pool, to_input, batch_size, device)
        kw = dict(which=which, batch_size=batch_size, to_input=to_input, device=device)
        g_pool = flatten(per_sample_grads(m, x_pool, yp, **kw), batched=True).double().cpu()
        g_ref = flatten(per_sample_grads(m, x_ref, y_ref, **kw), batched=True).double().cpu()
        total += lr * (g_pool @ g_ref.T)
    return total


def tracin_self_scores(
    model: nn.Module,
    checkpoints: Checkpoints,
    x: torch.Tensor,
    y: torch.Tensor | None,
    *,
    which: ParamSet = "all",
    to_input: ToInput = lambda t: t.float(),
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """TracIn self-influence Σ_t η_t ‖∇ℓ(z; θ_t)‖², ``(N,)`` float64 (Pruthi et al. 2020, §3.3:
    large values flag mislabeled or unusual samples).  Per-sample gradients are computed one
    batch at a time and reduced to norms at once, so memory does not grow with N.
    ``y=None`` uses each checkpoint's top-1 prediction.  Arguments as in :func:`tracin_scores`."""
    n = _check_xy(x, x if y is None else y, "x", "y")
    total = torch.zeros(n, dtype=torch.float64)
    for m, lr in _checkpoint_models(model, checkpoints, device, progress):
        yy = _labels_or_pseudo(m, x, y, to_input, batch_size, device)
        for sl in batches(n, batch_size):
            g = per_sample_grads(m, x[sl], yy[sl], which=which, batch_size=batch_size, to_input=to_input, device=device)
            total[sl] += lr * sum(t.reshape(t.shape[0], -1).double().pow(2).sum(1).cpu() for t in g.values())
    return total
