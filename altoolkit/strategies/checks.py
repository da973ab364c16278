"""What a strategy returns, checked where altoolkit receives it.

A strategy, built in or a plug-in (:func:`altoolkit.strategies.register_strategy`), hands back
positions into ``ctx.unlabeled`` (:meth:`Strategy.select`) and, for per-sample strategies, one
score per candidate (:meth:`Strategy.score`).  Torch would take nearly anything as an index:
negative positions wrap around, floats and too many positions fail later with an ``IndexError``,
and too few are written into the record before the next cycle notices.  :func:`checked_positions`
and :func:`checked_scores` refuse them at the boundary, naming the strategy, before anything is
saved.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

__all__ = ["StrategyOutputError", "checked_positions", "checked_scores", "check_strategy_class"]


class StrategyOutputError(ValueError):
    """A strategy returned positions or scores that are not what its interface promises.

    Attribute ``strategy``: its name."""

    def __init__(self, message: str, strategy: str):
        super().__init__(message)
        self.strategy = strategy


def _as_tensor(value: Any, strategy: str, what: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise StrategyOutputError(f"strategy {strategy!r} returned {what} as an object array; numbers are expected", strategy)
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise StrategyOutputError(f"strategy {strategy!r} returned {what} as a {type(value).__name__}; a 1-D torch tensor is expected", strategy)
    return value


def checked_positions(positions: Any, n_candidates: int, budget: int, strategy: str) -> torch.Tensor:
    """``positions`` as a 1-D int64 tensor, after checking that they are ``budget`` distinct
    integers in ``0..n_candidates - 1`` (positions into ``ctx.unlabeled``).

    Raises :class:`StrategyOutputError` naming ``strategy`` and the first fault: a type other than
    a tensor or numpy array, a shape other than ``(budget,)``, a float or bool dtype, a position
    out of range (negative ones included: they would wrap around), a position given twice."""
    pos = _as_tensor(positions, strategy, "its selection")
    if pos.dtype == torch.bool or pos.is_floating_point() or pos.is_complex():
        raise StrategyOutputError(f"strategy {strategy!r} returned positions of dtype {pos.dtype}; integer positions into ctx.unlabeled are expected", strategy)
    if pos.dim() != 1:
        raise StrategyOutputError(
            f"strategy {strategy!r} returned positions of shape {tuple(pos.shape)}; a 1-D tensor of {budget} positions is expected", strategy
        )
    if int(pos.numel()) != budget:
        raise StrategyOutputError(
            f"strategy {strategy!r} returned {int(pos.numel())} positions for a budget of {budget}; it must return exactly {budget}", strategy
        )
    if budget == 0:
        return pos.long()
    lo, hi = int(pos.min()), int(pos.max())
    if lo < 0 or hi >= n_candidates:
        bad = lo if lo < 0 else hi
        raise StrategyOutputError(
            f"strategy {strategy!r} returned position {bad}, outside 0..{n_candidates - 1} (positions index the "
            f"{n_candidates} candidates of ctx.unlabeled; negative positions are not allowed)",
            strategy,
        )
    uniq, counts = torch.unique(pos, return_counts=True)
    if int(uniq.numel()) != budget:
        raise StrategyOutputError(
            f"strategy {strategy!r} returned position {int(uniq[counts > 1][0])} more than once; the {budget} positions must differ", strategy
        )
    return pos.long()


def checked_scores(scores: Any, n_candidates: int, strategy: str) -> torch.Tensor:
    """``scores`` if it is a 1-D real tensor of one finite score per candidate; else
    :class:`StrategyOutputError` naming ``strategy``."""
    s = _as_tensor(scores, strategy, "its scores")
    if s.dim() != 1 or int(s.shape[0]) != n_candidates:
        raise StrategyOutputError(
            f"strategy {strategy!r} returned scores of shape {tuple(s.shape)} for {n_candidates} candidates; "
            f"one score per candidate ({n_candidates},) is expected",
            strategy,
        )
    if s.is_complex() or s.dtype == torch.bool:
        raise StrategyOutputError(f"strategy {strategy!r} returned scores of dtype {s.dtype}; real numbers are expected", strategy)
    if s.is_floating_point() and not bool(torch.isfinite(s).all()):
        k = int((~torch.isfinite(s)).nonzero()[0])
        raise StrategyOutputError(f"strategy {strategy!r} returned a non-finite score ({float(s[k])}) for candidate {k}; scores must be finite", strategy)
    return s


def _accepts(method: Any, n: int) -> bool:
    """Whether ``method`` (a function defined in a class) can be called with ``self`` and ``n``
    positional arguments."""
    try:
        sig = inspect.signature(method)
    except (TypeError, ValueError):  # pragma: no cover - C functions
        return True
    try:
        sig.bind(*([None] * (n + 1)))
    except TypeError:
        return False
    return True


def check_strategy_class(klass: Any, base: Any) -> None:
    """What :func:`~altoolkit.strategies.register_strategy` accepts: a subclass of ``base``
    (:class:`~altoolkit.strategies.Strategy`) with a non-empty ``name`` that defines
    ``score(ctx)`` or ``select(ctx, budget)`` with those signatures; ``TypeError`` or
    ``ValueError`` naming the argument otherwise."""
    if not isinstance(klass, type) or not issubclass(klass, base):
        what = klass.__name__ if isinstance(klass, type) else type(klass).__name__
        raise TypeError(f"register_strategy takes a subclass of altoolkit.strategies.Strategy, got {what!r}")
    cls: Any = klass
    if not isinstance(cls.name, str) or not cls.name or cls.name != cls.name.strip():
        raise ValueError(f"{cls.__name__} must set a non-empty class attribute 'name' (a string), got {cls.name!r}")
    score, select = cls.score is not base.score, cls.select is not base.select
    if not (score or select):
        raise TypeError(f"strategy class {cls.__name__} ({cls.name!r}) defines neither score(self, ctx) nor select(self, ctx, budget)")
    if score and not _accepts(cls.score, 1):
        raise TypeError(f"strategy class {cls.__name__} ({cls.name!r}): score must take (self, ctx); its signature is {inspect.signature(cls.score)}")
    if select and not _accepts(cls.select, 2):
        raise TypeError(f"strategy class {cls.__name__} ({cls.name!r}): select must take (self, ctx, budget); its signature is {inspect.signature(cls.select)}")
