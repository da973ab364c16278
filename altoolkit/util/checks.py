"""Small argument checks shared by every public entry point.

Each check raises ``ValueError`` (or ``TypeError``) with a message that names the parameter and
says what is allowed, so that a student sees at once what to change.
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable

__all__ = [
    "check_int",
    "check_float",
    "check_fraction",
    "check_choice",
    "check_bool",
    "check_device",
]


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as ``int`` if it is an integer within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {value!r}")
    lo = "-inf" if minimum is None else minimum
    hi = "inf" if maximum is None else maximum
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value}")
    return int(value)


def check_float(
    name: str,
    value,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """Return ``value`` as a finite ``float`` within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    lb = "(" if not min_inclusive else "["
    rb = ")" if not max_inclusive else "]"
    allowed = f"{lb}{'-inf' if minimum is None else minimum}, {'inf' if maximum is None else maximum}{rb}"
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number in {allowed}, got {value}")
    if minimum is not None and (value < minimum or (not min_inclusive and value == minimum)):
        raise ValueError(f"{name} must be in {allowed}, got {value}")
    if maximum is not None and (value > maximum or (not max_inclusive and value == maximum)):
        raise ValueError(f"{name} must be in {allowed}, got {value}")
    return value


def check_fraction(name: str, value) -> float:
    """A number strictly between 0 and 1."""
    return check_float(name, value, 0.0, 1.0, min_inclusive=False, max_inclusive=False)


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """``value`` must be one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_device(name: str, value, require_available: bool = False) -> str:
    """A torch device string (``cpu``, ``cuda``, ``cuda:1``, ``mps``); with ``require_available``
    the device must also exist on this machine (checked before any training starts)."""
    import torch

    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{name} must be a torch device string such as 'cpu', 'cuda' or 'cuda:0', got {value!r}")
    try:
        dev = torch.device(value)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"{name} must be a torch device such as 'cpu', 'cuda', 'cuda:0' or 'mps'; got {value!r}") from None
    if require_available and dev.type != "cpu":
        if dev.type == "cuda":
            n = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if n == 0:
                raise ValueError(f"{name} {value!r} asks for CUDA, but no CUDA device is available on this machine; use 'cpu'")
            if dev.index is not None and dev.index >= n:
                raise ValueError(f"{name} {value!r}: this machine has {n} CUDA device(s), numbered 0..{n - 1}")
        elif dev.type == "mps":
            if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
                raise ValueError(f"{name} {value!r} asks for Apple MPS, which is not available on this machine; use 'cpu'")
        else:
            raise ValueError(f"{name} {value!r}: device type {dev.type!r} is not supported; use 'cpu', 'cuda' or 'mps'")
    return value
