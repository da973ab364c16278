"""The gradient math behind TracIn, ISAL and DISAL's derivation.

- Per-sample gradients with ``torch.func`` (``vmap`` over ``grad`` of a ``functional_call``), in
  eval mode, for all parameters, weights only (conv and linear weights: what ISAL's public code
  uses), or the last layer.
- Directional derivatives g(z)·v of each sample's loss along one fixed parameter vector v, for
  a whole batch at once with forward-mode ``torch.func.jvp`` (no per-sample gradients are
  materialised): TracIn against a summed gradient, ISAL's s_test·G(z), Grad-Simi.

Parameter vectors are passed around as ``dict[name, Tensor]`` keyed like
``model.named_parameters()``; :func:`flatten` turns them into one flat vector.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from .inference import batches, eval_mode

__all__ = [
    "ParamSet",
    "select_params",
    "flatten",
    "unflatten_like",
    "per_sample_grads",
    "loss_grad",
    "directional_derivatives",
]

ParamSet = Literal["all", "weights", "last_layer"]
PARAM_SETS: tuple[str, ...] = ("all", "weights", "last_layer")


def select_params(model: nn.Module, which: ParamSet = "all") -> dict[str, torch.Tensor]:
    """Named parameters of ``model`` to differentiate with respect to.

    Args:
        which: ``"all"`` trainable parameters; ``"weights"``: the weights of ``nn.Conv*`` and
            ``nn.Linear`` layers only (no biases, no BatchNorm), as ISAL's public code;
            ``"last_layer"``: the parameters of ``model.head``.
    """
    if which == "all":
        return {n: p for n, p in model.named_parameters() if p.requires_grad}
    if which == "weights":
        out = {}
        for mname, mod in model.named_modules():
            if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) and mod.weight.requires_grad:
                out[f"{mname}.weight" if mname else "weight"] = mod.weight
        return out
    if which == "last_layer":
        if not hasattr(model, "head"):
            raise ValueError("which='last_layer' needs a model with a 'head' attribute (the final nn.Linear)")
        return {f"head.{n}": p for n, p in model.head.named_parameters()}
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
    return {k: torch.cat(v) for k, v in chunks.items()}


def loss_grad(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    which: ParamSet = "all",
    reduction: Literal["sum", "mean"] = "sum",
    batch_size: int = 512,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """Gradient of the summed (or mean) loss over ``(x, target)``, in eval mode, in batches."""
    params = select_params(model, which)
    total = {k: torch.zeros_like(p) for k, p in params.items()}
    n = int(x.shape[0])
    with eval_mode(model):
        for sl in batches(n, batch_size):
            logits = model(to_input(x[sl]).to(device))
            t = target[sl].to(device)
            if t.dtype in (torch.int64, torch.int32):
                loss = F.cross_entropy(logits, t, reduction="sum")
            else:
                loss = -(t * torch.log_softmax(logits, dim=1)).sum()
            gs = torch.autograd.grad(loss, list(params.values()))
            for k, gk in zip(params, gs):
                total[k] += gk.detach()
    if reduction == "mean":
        total = {k: v / max(1, n) for k, v in total.items()}
    return total


def directional_derivatives(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    v: dict[str, torch.Tensor],
    batch_size: int = 256,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    device: str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """g(z)·v for every sample z: the derivative of each sample's loss along ``v``, ``(N,)``.

    Uses forward-mode AD (``torch.func.jvp``) on the per-sample loss vector of a whole batch,
    which costs about two forward passes and never builds per-sample gradients.  ``v`` is keyed
    by parameter names (a subset of the model's parameters; the others are held fixed).
    ``target`` holds class indices or probability vectors; the model is in eval mode.
    """
    names = list(v)
    all_params = dict(model.named_parameters())
    missing = [k for k in names if k not in all_params]
    if missing:
        raise ValueError(f"v has entries for unknown parameters {missing}")
    params = {k: all_params[k].detach() for k in names}
    frozen = {k: p.detach() for k, p in all_params.items() if k not in params}
    buffers = {k: b.detach() for k, b in model.named_buffers()}
    tangents = {k: v[k].to(params[k].dtype).to(params[k].device) for k in names}
    out = []
    with eval_mode(model), torch.no_grad():
        for sl in batches(int(x.shape[0]), batch_size, progress, desc="jvp"):
            xb = to_input(x[sl]).to(device)
            tb = target[sl].to(device)

            def losses(p):
                logits = functional_call(model, {**p, **frozen, **buffers}, (xb,))
                if tb.dtype in (torch.int64, torch.int32):
                    return F.cross_entropy(logits, tb, reduction="none")
                return -(tb * torch.log_softmax(logits, dim=1)).sum(dim=1)

            _, d = jvp(losses, (params,), (tangents,))
            out.append(d.detach().cpu())
    return torch.cat(out) if out else torch.empty(0)
