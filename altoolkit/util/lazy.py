"""Submodules imported on first attribute access (PEP 562), so that ``import altoolkit as alt``
followed by ``alt.plotting.curves.save_figure`` works in a notebook while ``import altoolkit``
and each layer's ``__init__`` stay light (nothing heavy loads before it is used)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Callable, Iterable

__all__ = ["lazy_submodules"]


def lazy_submodules(package: str, path: Iterable[str]) -> tuple[Callable[[str], ModuleType], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package ``package`` (its ``__path__`` is ``path``), whose
    submodules import on first access: ``__getattr__, __dir__ = lazy_submodules(__name__, __path__)``.

    >>> import altoolkit.util as util
    >>> getattr_, dir_ = lazy_submodules(util.__name__, util.__path__)
    >>> getattr_("checks").__name__, "seeds" in dir_()
    ('altoolkit.util.checks', True)
    """
    submodules = frozenset(m.name for m in pkgutil.iter_modules(list(path)))

    def __getattr__(name: str) -> ModuleType:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")  # the import binds it in the package
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | submodules)

    return __getattr__, __dir__
