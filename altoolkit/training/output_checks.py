"""What a model returns, checked where altoolkit receives it.

A model (built in, registered with :func:`altoolkit.register_model`, or an import path) must map a
batch ``(B, *input_shape)`` to logits ``(B, num_classes)``: one floating-point tensor, finite.
Every evaluation (:func:`altoolkit.training.train.evaluate`, the trainer's first step and its
check after the last one, :func:`altoolkit.training.inference.predict_logits`) goes through
:func:`check_logits`, so a model that returns a tuple, the wrong number of outputs or NaN is
reported by its name instead of by torch (or not at all: argmax of NaN logits is class 0, and a
wrong width still gives an accuracy).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["ModelOutputError", "model_label", "check_batch_output", "check_logits", "check_finite_output", "magnitude"]


class ModelOutputError(ValueError):
    """A model's output is not logits of shape ``(batch, num_classes)``, or not finite.

    Attribute ``model``: the model's name as the message gives it."""

    def __init__(self, message: str, model: str):
        super().__init__(message)
        self.model = model


def model_label(model: nn.Module, name: str | None = None) -> str:
    """How messages name a model: ``name`` (the spec the user gave, ``"cnn"``,
    ``"mypkg.nets:build"``) when known, else its class name."""
    return name if name else type(model).__name__


def magnitude(t: torch.Tensor) -> str:
    """The largest finite absolute value of ``t`` (``"1e+30"``), or ``"nan"``/``"inf"``."""
    if t.numel() == 0 or not t.is_floating_point():
        return "0" if t.numel() == 0 else f"{int(t.abs().max()):d}"
    if bool(torch.isnan(t).any()):
        return "nan"
    return f"{float(t.detach().abs().max()):.3g}"


def check_batch_output(out: Any, model: str, batch: int, where: str = "a batch", want: str = "(batch, ...)") -> torch.Tensor:
    """``out`` if it is one floating-point tensor with ``batch`` rows (whatever its other axes: a
    task may predict per pixel); otherwise a :class:`ModelOutputError` naming ``model``."""
    if isinstance(out, (tuple, list, dict)):
        raise ModelOutputError(
            f"model {model!r} returned a {type(out).__name__} of {len(out)} items on {where}, not a logits tensor of shape {want}; "
            "its forward() must return the logits alone",
            model,
        )
    if not isinstance(out, torch.Tensor):
        raise ModelOutputError(f"model {model!r} returned a {type(out).__name__} on {where}, not a logits tensor of shape {want}", model)
    if out.dim() < 1 or int(out.shape[0]) != batch:
        raise ModelOutputError(f"model {model!r} returned a tensor of shape {tuple(out.shape)} on {where}; {want} is expected", model)
    if not out.is_floating_point():
        raise ModelOutputError(f"model {model!r} returned {out.dtype} values on {where}; logits must be floating point", model)
    return out


def check_logits(out: Any, model: str, batch: int, num_classes: int | None = None, where: str = "a batch", per_sample: bool = True) -> torch.Tensor:
    """``out`` if it is a floating tensor of shape ``(batch, num_classes)``; otherwise a
    :class:`ModelOutputError` naming ``model``, what it returned and what is expected.  Finiteness
    is checked separately (:func:`check_finite_output`), since its message depends on the context.
    ``per_sample=False`` accepts further axes after the class axis (``(batch, num_classes, H, W)``:
    a prediction per pixel); the classes are always axis 1, as torch's cross-entropy reads them."""
    want = f"({batch}, {num_classes if num_classes is not None else 'num_classes'}{'' if per_sample else ', ...'})"
    out = check_batch_output(out, model, batch, where, want)
    if (per_sample and out.dim() != 2) or out.dim() < 2:
        raise ModelOutputError(f"model {model!r} returned a tensor of shape {tuple(out.shape)} on {where}; logits of shape {want} are expected", model)
    if num_classes is not None and int(out.shape[1]) != num_classes:
        raise ModelOutputError(
            f"model {model!r} gives {int(out.shape[1])} outputs per sample, but the dataset has {num_classes} classes; "
            f"build it with num_classes={num_classes} outputs (a factory receives num_classes as its second argument)",
            model,
        )
    return out


def check_finite_output(out: torch.Tensor, model: str, where: str = "a batch", hint: str = "") -> torch.Tensor:
    """``out`` if every value is finite, else a :class:`ModelOutputError` naming ``model``."""
    if not bool(torch.isfinite(out).all()):
        raise ModelOutputError(f"model {model!r} gives non-finite outputs (NaN or infinity) on {where}{hint}", model)
    return out
