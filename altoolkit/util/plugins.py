"""Your own models and datasets in the engine: registered names and import paths.

This module owns how a model or dataset *specification* (the string in ``ALConfig(model=...)``,
``ALConfig(dataset=...)``, the CLI's ``--model``/``--dataset``) becomes the callable behind it.
:mod:`altoolkit.training.models` (``register_model``) and :mod:`altoolkit.data` (``register_dataset``)
each keep one :class:`Registry`.  A specification is either

* a **name**: a built-in one, or one given to ``alt.register_model``/``alt.register_dataset`` in
  this process; or
* an **import path** ``"package.module:function"`` (dots after the colon reach attributes, e.g.
  ``"mypkg.nets:Factory.build"``), which every process that can import ``package.module``
  resolves the same way.  The record stores the string, so a record names what ran.

Processes: an import path travels as a string and works in the CLI, in joblib (loky) and Dask
workers alike, as long as the module is importable there (``PYTHONPATH``).  A registered name
lives in the registering process only; :func:`altoolkit.engine.sweep.run_sweep` sends the callables of
the registered names a configuration uses along with its task (:meth:`Registry.entries` and
:meth:`Registry.install`; joblib's loky and Dask pickle them with cloudpickle, so functions defined
in a notebook, lambdas and closures work).  A callable defined in a module that the worker
cannot import does not.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

__all__ = ["Registry", "import_path", "is_import_path"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def is_import_path(spec: object) -> bool:
    """Whether ``spec`` has the form ``"package.module:function"`` (not whether it imports).

    >>> is_import_path("mypkg.nets:build"), is_import_path("cnn")
    (True, False)
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        return False
    module, attr = spec.split(":")
    return bool(module) and bool(attr) and all(p.isidentifier() for p in module.split(".") + attr.split("."))


def import_path(spec: str, parameter: str = "import path") -> Callable[..., Any]:
    """The callable named by ``"package.module:function"``.

    Errors name ``parameter`` and say what is missing: a malformed string, a module that cannot
    be imported (with the import error and a hint about ``PYTHONPATH``), a missing attribute, or
    an attribute that is not callable.

    >>> import_path("math:sqrt")(16.0)
    4.0
    """
    if not is_import_path(spec):
        raise ValueError(f"{parameter} {spec!r} is not an import path; write it as 'package.module:function'")
    module_name, attr = spec.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"{parameter} {spec!r}: cannot import module {module_name!r} ({type(exc).__name__}: {exc}); "
            "put the folder that holds it on PYTHONPATH (for the CLI and sweep workers too)"
        ) from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{parameter} {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{parameter} {spec!r} names a {type(obj).__name__}, not a function or class")
    return obj


class Registry:
    """Names of one kind of thing (``"model"`` or ``"dataset"``) and the callables behind them.

    ``builtin`` is the package's own table (read, never changed); :meth:`register` adds user
    entries, which may not shadow a built-in name.  Registering a name again replaces the
    previous user entry (so re-running a notebook cell works).

    >>> reg = Registry("model", {"mlp": print})
    >>> reg.register("mine", len)
    >>> reg.names(), reg.resolve("mine") is len, reg.resolve("math:floor").__name__
    (('mlp', 'mine'), True, 'floor')
    """

    def __init__(self, kind: str, builtin: Mapping[str, Callable[..., Any]], positional: Sequence[str] | None = None):
        self.kind = kind
        self._builtin = builtin
        self._user: dict[str, Callable[..., Any]] = {}
        #: the arguments a factory receives by position (a model's ``input_shape, num_classes``);
        #: any others come by keyword (a dataset loader's options).  ``None``: not checked.
        self.positional = None if positional is None else tuple(positional)

    def check_signature(self, label: str, factory: Callable[..., Any]) -> None:
        """Refuse (``TypeError`` naming ``label``) a factory that cannot be called as this registry
        calls it: with :attr:`positional` arguments by position and its other arguments by keyword.
        Callables without an inspectable signature (some C functions) pass."""
        if self.positional is None:
            return
        try:
            sig = inspect.signature(factory)
        except (TypeError, ValueError):
            return
        want = f"({', '.join(self.positional)})" if self.positional else "(**options) (keyword arguments only)"
        try:
            sig.bind_partial(*self.positional)
            required = [
                p for p in list(sig.parameters.values())[len(self.positional) :] if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY,)
            ]
            if required:
                raise TypeError(f"parameter {required[0].name!r} can only be given by position")
            if self.positional:
                sig.bind(*self.positional)
        except TypeError as exc:
            raise TypeError(f"{label} must be callable as {want}; its signature is {sig} ({exc})") from None

    def register(self, name: str, factory: Callable[..., Any]) -> None:
        """Make ``name`` resolve to ``factory`` in this process."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"{self.kind} name must be a non-empty string of letters, digits, '_', '.' or '-' that starts "
                f"with a letter or '_' (an import path 'package.module:function' needs no registration); got {name!r}"
            )
        if name in self._builtin:
            raise ValueError(f"{self.kind} name {name!r} is built in; choose another name")
        if not callable(factory):
            raise TypeError(f"the {self.kind} factory registered as {name!r} must be callable, got {type(factory).__name__}")
        self.check_signature(f"the {self.kind} factory registered as {name!r}", factory)
        self._user[name] = factory

    def unregister(self, name: str) -> None:
        """Forget a user entry (built-in names cannot be removed)."""
        if name not in self._user:
            raise KeyError(f"{self.kind} {name!r} is not a registered user {self.kind}")
        del self._user[name]

    def names(self) -> tuple[str, ...]:
        """Built-in names, then registered ones."""
        return tuple(self._builtin) + tuple(n for n in self._user if n not in self._builtin)

    def is_builtin(self, spec: str) -> bool:
        return spec in self._builtin

    def find(self, spec: str) -> Callable[..., Any] | None:
        """The callable for ``spec`` when it is a known name or an import path, else ``None``
        (an import path that does not import raises, with the reason)."""
        if not isinstance(spec, str):
            raise TypeError(f"{self.kind} must be a name or an import path string, got {type(spec).__name__}")
        if spec in self._builtin:
            return self._builtin[spec]
        if spec in self._user:
            return self._user[spec]
        if is_import_path(spec):
            found = import_path(spec, self.kind)
            self.check_signature(f"{self.kind} {spec!r}", found)
            return found
        return None

    def allowed(self) -> str:
        """What a specification may be, for error messages."""
        return f"one of {', '.join(self.names())}, or an import path 'package.module:function'"

    def resolve(self, spec: str) -> Callable[..., Any]:
        """The callable for ``spec``; a ``ValueError`` that lists what is allowed otherwise."""
        found = self.find(spec)
        if found is None:
            raise ValueError(f"{self.kind} must be {self.allowed()}; got {spec!r}")
        return found

    def entries(self, specs: Iterable[str]) -> dict[str, Callable[..., Any]]:
        """The user entries among ``specs`` (what a worker process needs to :meth:`install`)."""
        return {s: self._user[s] for s in specs if isinstance(s, str) and s in self._user}

    def install(self, entries: Mapping[str, Callable[..., Any]]) -> None:
        """Register ``entries`` (from :meth:`entries` of another process) here."""
        for name, factory in entries.items():
            self.register(name, factory)
