"""altoolkit: a Jupyter-first toolkit for influence-based active learning.

Quick start::

    import altoolkit as alt
    ds = alt.load_digits(seed=0)
    record = alt.run_active_learning(alt.ALConfig(strategy="disal", epochs=20, cycles=3))

Your own model and dataset (see :mod:`altoolkit.util.plugins`)::

    alt.register_model("mynet", lambda input_shape, num_classes: MyNet(num_classes))
    ds = alt.from_arrays(x_train, y_train, x_test, y_test, name="mine")
    record = alt.run_active_learning(alt.ALConfig(model="mynet", strategy="coreset"), dataset=ds)
    # in any process (CLI, sweep workers): ALConfig(model="mypkg.nets:build", dataset="mypkg.data:load")

See the notebooks in ``notebooks/`` for the derivations and the papers' figures.

The package is layered.  Each layer imports only the layers listed before it, never one beside
or after it (tests/test_layers.py reads every import, also those inside functions, and fails on
an upward import or a circle); each subpackage's ``__init__`` says what it may import:

1. :mod:`altoolkit.util`: argument checks, progress bars, registries, seeds, module helpers
   (imports nothing of altoolkit);
2. :mod:`altoolkit.math`: scores, influence functions, TracIn, the dynamic loss, statistics;
3. :mod:`altoolkit.data`: datasets, and beside it :mod:`altoolkit.training`: models, training,
   inference, and the interface through which strategies change training;
4. :mod:`altoolkit.strategies`: the query strategies;
5. :mod:`altoolkit.analysis`: reading records and selections (curves, class balance, t-SNE maps,
   narration), below the engine, which stores its per-cycle selection diagnostics;
6. :mod:`altoolkit.engine`: the active-learning loop, its records, sweeps, run-time estimates;
7. :mod:`altoolkit.drivers`: one module per notebook, named after it;
8. :mod:`altoolkit.plotting` (the only matplotlib user besides the widgets) and, beside it,
   :mod:`altoolkit.labelling` (the label store and the labelling project);
9. the user interfaces: :mod:`altoolkit.widgets` (the notebooks' ipywidgets, the only
   ipywidgets user), :mod:`altoolkit.teaching` (running the notebooks, the nbgrader course, the
   offline book) and, on top, :mod:`altoolkit.cli` (the command line).

This module owns the top-level API and nothing else.  It imports lazily (PEP 562): ``import
altoolkit`` loads no submodule but :mod:`altoolkit._version`; ``alt.NAME`` imports the module
that defines ``NAME`` on first access, and ``alt.plotting`` (or any other layer) imports that
layer.  So the CLI and Dask workers never load matplotlib or ipywidgets unless a plot or a widget
is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

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
    "load_digit_scenes": "data",
    "SegmentationDataset": "data",
    "BoxTargets": "data",
    "DetectionDataset": "data",
    "load_digit_scene_boxes": "data",
    "register_dataset": "data",
    "build_model": "training.models",
    "register_model": "training.models",
    "TrainConfig": "training.train",
    "TrainResult": "training.train",
    "evaluate": "training.train",
    "train_model": "training.train",
    "disal_kl": "math.scores",
    "disal_kl_from_logits": "math.scores",
    "entropy": "math.scores",
    "select_top": "math.scores",
    "SelectionContext": "strategies",
    "describe_strategies": "strategies",
    "get_strategy": "strategies",
    "strategy_names": "strategies",
    "ALConfig": "engine.loop",
    "load_record": "engine.loop",
    "run_active_learning": "engine.loop",
}

# the layers (subpackages), the widgets and the CLI
_LAYERS = frozenset(
    {
        "analysis",
        "cli",
        "data",
        "drivers",
        "engine",
        "labelling",
        "math",
        "plotting",
        "strategies",
        "teaching",
        "training",
        "util",
        "widgets",
    }
)

__all__ = sorted(_ATTRS)


def __getattr__(name: str) -> Any:
    if name in _ATTRS:
        value = getattr(importlib.import_module(f".{_ATTRS[name]}", __name__), name)
        globals()[name] = value  # later accesses skip __getattr__
        return value
    if name in _LAYERS:
        return importlib.import_module(f".{name}", __name__)  # the import binds it in globals()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ATTRS) | _LAYERS)


if TYPE_CHECKING:  # static tools see the eager API
    from . import (  # noqa: F401
        analysis,
        cli,
        data,
        drivers,
        engine,
        labelling,
        math,
        plotting,
        strategies,
        teaching,
        training,
        util,
        widgets,
    )
    from .data import (  # noqa: F401
        DATASETS,
        ALDataset,
        CorruptDatasetError,
        DatasetNotFoundError,
        from_arrays,
        from_image_folder,
        imbalanced_subset,
        load_dataset,
        load_digits,
        load_digit_scenes,
        register_dataset,
        SegmentationDataset,
        BoxTargets,
        DetectionDataset,
        load_digit_scene_boxes,
    )
    from .engine.loop import ALConfig, load_record, run_active_learning  # noqa: F401
    from .math.scores import disal_kl, disal_kl_from_logits, entropy, select_top  # noqa: F401
    from .strategies import SelectionContext, describe_strategies, get_strategy, strategy_names  # noqa: F401
    from .training.models import build_model, register_model  # noqa: F401
    from .training.train import TrainConfig, TrainResult, evaluate, train_model  # noqa: F401
