"""altoolkit: a Jupyter-first toolkit for influence-based active learning.

Quick start::

    import altoolkit as alt
    ds = alt.load_digits(seed=0)
    record = alt.run_active_learning(alt.ALConfig(strategy="disal", epochs=20, cycles=3))

Your own model and dataset (see :mod:`altoolkit.plugins`)::

    alt.register_model("mynet", lambda input_shape, num_classes: MyNet(num_classes))
    ds = alt.from_arrays(x_train, y_train, x_test, y_test, name="mine")
    record = alt.run_active_learning(alt.ALConfig(model="mynet", strategy="coreset"), dataset=ds)
    # in any process (CLI, sweep workers): ALConfig(model="mypkg.nets:build", dataset="mypkg.data:load")

See the notebooks in ``notebooks/`` for the derivations and the papers' figures.

This module owns the top-level API and nothing else.  It imports lazily (PEP 562): ``import
altoolkit`` loads no submodule; ``alt.NAME`` imports the module that defines ``NAME`` on first
access, and ``alt.plots`` (or any other submodule) imports that submodule.  So the CLI and Dask
workers never load matplotlib or ipywidgets unless a plot or a widget is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# top-level name -> submodule that defines it
_ATTRS: dict[str, str] = {
    "DATASETS": "data",
    "ALDataset": "data",
    "CorruptDatasetError": "data",
    "DatasetNotFoundError": "data",
    "from_arrays": "data",
    "from_image_folder": "data",
    "imbalanced_subset": "data",
    "load_dataset": "data",
    "load_digits": "data",
    "register_dataset": "data",
    "build_model": "models",
    "register_model": "models",
    "TrainConfig": "train",
    "TrainResult": "train",
    "evaluate": "train",
    "train_model": "train",
    "disal_kl": "scores",
    "disal_kl_from_logits": "scores",
    "entropy": "scores",
    "select_top": "scores",
    "SelectionContext": "strategies",
    "describe_strategies": "strategies",
    "get_strategy": "strategies",
    "strategy_names": "strategies",
    "ALConfig": "loop",
    "load_record": "loop",
    "run_active_learning": "loop",
}

# submodules reachable as ``alt.<name>`` (imported on first access)
_SUBMODULES = frozenset({
    "book", "cli", "collapse_study", "comparison", "course", "data", "derivation", "dynamic", "embedding",
    "estimate", "experiments", "fluctuation", "fresh_model", "inference", "influence", "isal_study",
    "labeling", "labelstore", "loop", "machine", "models", "narrate", "plots", "plots_collapse", "plots_maps",
    "plugins", "record_io", "reproduce", "results", "scores", "selection_balance", "stats", "strategies",
    "summary", "sweep", "train", "validation", "widgets",
})

__all__ = sorted(_ATTRS)


def __getattr__(name: str) -> Any:
    if name in _ATTRS:
        value = getattr(importlib.import_module(f".{_ATTRS[name]}", __name__), name)
        globals()[name] = value  # later accesses skip __getattr__
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)  # the import binds it in globals()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ATTRS) | _SUBMODULES)


if TYPE_CHECKING:  # static tools see the eager API
    from . import (  # noqa: F401
        cli, collapse_study, comparison, data, derivation, dynamic, embedding, experiments, fluctuation,
        fresh_model, inference, influence, isal_study, labeling, labelstore, loop, machine, models, plots,
        plots_collapse, plots_maps, plugins, record_io, reproduce, results, scores, selection_balance,
        stats, strategies, summary, sweep, train, validation, widgets,
    )
    from .data import (  # noqa: F401
        DATASETS, ALDataset, CorruptDatasetError, DatasetNotFoundError, from_arrays, from_image_folder,
        imbalanced_subset, load_dataset, load_digits, register_dataset,
    )
    from .loop import ALConfig, load_record, run_active_learning  # noqa: F401
    from .models import build_model, register_model  # noqa: F401
    from .scores import disal_kl, disal_kl_from_logits, entropy, select_top  # noqa: F401
    from .strategies import SelectionContext, describe_strategies, get_strategy, strategy_names  # noqa: F401
    from .train import TrainConfig, TrainResult, evaluate, train_model  # noqa: F401
