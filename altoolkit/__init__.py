"""altoolkit: a Jupyter-first toolkit for influence-based active learning.

Quick start::

    import altoolkit as alt
    ds = alt.load_digits(seed=0)
    record = alt.run_active_learning(alt.ALConfig(strategy="disal", epochs=20, cycles=3))

See the notebooks in ``notebooks/`` for the derivations and the papers' figures.
"""

__version__ = "0.1.0"

from .data import (  # noqa: E402
    DATASETS,
    ALDataset,
    CorruptDatasetError,
    DatasetNotFoundError,
    from_arrays,
    from_image_folder,
    imbalanced_subset,
    load_dataset,
    load_digits,
)
from .models import build_model  # noqa: E402
from .train import TrainConfig, TrainResult, evaluate, train_model  # noqa: E402
from .scores import disal_kl, disal_kl_from_logits, entropy, select_top  # noqa: E402
from .strategies import SelectionContext, describe_strategies, get_strategy, strategy_names  # noqa: E402
from .loop import ALConfig, load_record, run_active_learning  # noqa: E402
from . import (  # noqa: E402,F401  (alt.plots.*, alt.sweep.*, ...)
    comparison,
    derivation,
    embedding,
    experiments,
    fluctuation,
    inference,
    influence,
    isal_study,
    labeling,
    labelstore,
    plots,
    plots_maps,
    results,
    summary,
    sweep,
    widgets,
)

__all__ = [
    "ALConfig",
    "ALDataset",
    "CorruptDatasetError",
    "DATASETS",
    "DatasetNotFoundError",
    "from_image_folder",
    "imbalanced_subset",
    "SelectionContext",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "describe_strategies",
    "disal_kl",
    "disal_kl_from_logits",
    "entropy",
    "evaluate",
    "from_arrays",
    "get_strategy",
    "load_dataset",
    "load_digits",
    "load_record",
    "run_active_learning",
    "select_top",
    "strategy_names",
    "train_model",
]
