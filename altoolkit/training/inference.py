"""Batched inference over a pool, several models in one pass over the data.

The DISAL score needs the pool's predictions under θ_{T-1} and θ_T: two forward passes and
nothing more.  :func:`predict_logits` does both in one loop (each batch is loaded and converted
once, then fed to every model), under ``torch.inference_mode()``, so memory holds one batch of
activations at a time plus the (N, C) outputs, whatever the pool size (see
:func:`predict_logits` on why the outputs are preallocated).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn
from .models import penultimate_features
from .detection_models import is_detector
from .output_checks import ModelOutputError, check_batch_output, check_finite_output
from ..util.modules import batches, eval_mode

__all__ = ["predict_logits", "predict_proba"]


def predict_logits(
    models: nn.Module | Sequence[nn.Module],
    x: torch.Tensor,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    batch_size: int = 512,
    device: str = "cpu",
    progress: bool = False,
    embed: bool = False,
    indices: torch.Tensor | None = None,
    combine: Callable[..., torch.Tensor] | None = None,
) -> torch.Tensor | list[torch.Tensor]:
    """Logits (or, with ``embed=True``, penultimate features) of every model on ``x``.

    Penultimate features are ``model.embed(x)``, or for a model without ``embed()`` the input of
    its last ``nn.Linear`` (:func:`altoolkit.training.models.penultimate_features`).

    One loop over ``x``: each batch is converted once by ``to_input`` and passed through all
    models.  Models are evaluated in eval mode; their modes are restored afterwards.

    ``indices`` (optional) scores only the rows ``x[indices]``, gathering one batch at a time,
    so the pool is never copied as a whole (``x`` may be the full training set).

    ``combine`` (optional) maps each batch's outputs (one tensor per model, in order) to one
    row-wise result, e.g. a per-sample score; only that result is kept and returned, so a score
    over a pool of N samples stores N numbers, not N x C per model.

    Memory: one batch of activations plus the outputs, written into tensors allocated once
    (``(N, C)`` each).  Collecting per-batch outputs in a list and concatenating them instead
    interleaves small long-lived blocks with each batch's large freed activations; glibc's
    malloc then cannot reuse or trim that heap and RSS grew by several MB per batch
    (intermittently 150-300 MB on a 10k-20k pool: the spike of the benchmarks' issue).

    Returns a tensor for a single model, a list of tensors (one per model) for a sequence.
    """
    single = isinstance(models, nn.Module)
    ms = [models] if single else list(models)
    n = int(x.shape[0] if indices is None else indices.shape[0])
    outs: list[torch.Tensor | None] = [None] * (1 if combine is not None else len(ms))

    def store(k: int, sl: slice, ob: torch.Tensor) -> None:
        if outs[k] is None:
            outs[k] = torch.empty((n, *ob.shape[1:]), dtype=torch.float32)
        outs[k][sl] = ob  # type: ignore[index]

    with eval_mode(*ms), torch.inference_mode():
        for sl in batches(n, batch_size, progress):
            xb = to_input(x[sl] if indices is None else x[indices[sl]]).to(device)
            obs = [_checked(m, penultimate_features(m, xb) if embed else m(xb), embed, sl) for m in ms]
            if combine is not None:
                store(0, sl, combine(*obs))
            else:
                for k, ob in enumerate(obs):
                    store(k, sl, ob)
            del xb, obs
    res = [o if o is not None else torch.empty(0) for o in outs]
    return res[0] if single or combine is not None else res


def _checked(model: nn.Module, out: Any, embed: bool, sl: slice) -> Any:
    """A batch's output checked (:mod:`altoolkit.training.output_checks`): logits ``(B, C)``, or
    features, finite; a detector's dict of head outputs (:func:`altoolkit.training.detection_models.is_detector`)
    tensor by tensor; the error names the model's class."""
    name = type(model).__name__
    where = f"pool samples {sl.start}..{sl.stop - 1}"
    if not embed and isinstance(out, dict) and is_detector(model):
        return {k: check_finite_output(check_batch_output(v, name, sl.stop - sl.start, where), name, where) for k, v in out.items()}
    if not embed:
        out = check_batch_output(out, name, sl.stop - sl.start, where)
    elif not isinstance(out, torch.Tensor):
        raise ModelOutputError(
            f"model {name!r} gave penultimate features of type {type(out).__name__} on {where}; a tensor (batch, features) is expected", name
        )
    return check_finite_output(out, name, where)


def predict_proba(
    model: nn.Module,
    x: torch.Tensor,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    batch_size: int = 512,
    device: str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """Softmax probabilities of ``model`` on ``x``, ``(N, C)``."""
    return torch.softmax(predict_logits(model, x, to_input, batch_size, device, progress), dim=1)
