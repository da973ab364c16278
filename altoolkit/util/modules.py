"""Helpers on torch modules and batches that the math, training and strategy layers share.

* :func:`eval_mode`: models in eval mode for a block, each one's mode restored afterwards;
* :func:`batches`: the slices of a batched loop over a pool, with an optional progress bar;
* :func:`output_layer`: a model's final ``nn.Linear`` (last-layer gradients, penultimate features);
* :func:`state_copy`: a copy of a state dict that training does not change.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch import nn

from .progress import tqdm

__all__ = ["eval_mode", "batches", "output_layer", "state_copy"]


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Put ``models`` in eval mode and restore each one's previous mode afterwards."""
    modes = [m.training for m in models]
    try:
        for m in models:
            m.eval()
        yield
    finally:
        for m, mode in zip(models, modes):
            m.train(mode)


def batches(n: int, batch_size: int, progress: bool = False, desc: str = "score") -> Iterator[slice]:
    """Slices ``[s, s+batch_size)`` covering ``range(n)``, with an optional tqdm bar."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    starts = range(0, n, batch_size)
    for s in tqdm(starts, desc=desc, disable=not progress, leave=False):
        yield slice(s, min(n, s + batch_size))


def output_layer(model: nn.Module) -> tuple[str, nn.Linear]:
    """The model's final linear layer and its name in ``model.named_modules()``.

    ``model.head`` when it is an ``nn.Linear`` (the contract of the built-in models), otherwise
    the last ``nn.Linear`` registered in the model.
    :func:`altoolkit.training.models.penultimate_features` checks that this layer's output is the
    model's output; use it for last-layer gradients (BADGE, TracIn's and ISAL's ``"last_layer"``).

    >>> from torch import nn
    >>> output_layer(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)))[0]
    '2'
    """
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        return "head", head
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ValueError(
            f"model {type(model).__name__} has no embed() method, no 'head' and no nn.Linear layer, so its "
            "penultimate features and last layer are unknown; define embed(x) -> (B, D) features and "
            "head = the final nn.Linear"
        )
    return found[-1]


def state_copy(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached copy of ``state`` (e.g. ``model.state_dict()``): the weights as they are now,
    kept while the model trains on.

    >>> net = nn.Linear(2, 1)
    >>> kept = state_copy(net.state_dict())
    >>> _ = net.weight.data.add_(1.0)
    >>> bool((net.weight == kept["weight"] + 1.0).all())
    True
    """
    return {k: v.detach().clone() for k, v in state.items()}
