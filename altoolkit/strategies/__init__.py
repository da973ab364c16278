"""Selection strategies: one module per family, one registry.

``get_strategy(name, **options)`` builds one; ``describe_strategies()`` lists them and
``describe_options(name)`` a strategy's options (each declared once, in its ``Options`` dataclass).
A strategy changes training only through :class:`altoolkit.training.train.TrainingAdditions`.
Each task has its table (``TASK_STRATEGIES``; ``get_strategy(name, task="segmentation")``):
:mod:`.segmentation` holds the segmentation task's, :mod:`.detection` the detection task's; :mod:`.per_image`
what the two share (one score per pool image, DISAL with a per-image reduction).

May import util, math, data and training; nothing of analysis, the engine or any layer above.
"""

from .base import (
    STRATEGIES,
    TASK_STRATEGIES,
    SelectionContext,
    Strategy,
    StrategyOptions,
    describe_options,
    describe_strategies,
    get_strategy,
    option,
    register_strategy,
    strategy_names,
    strategies_taking_batch,
)
from .batch_rules import BATCH_RULES
from . import uncertainty, disal, bald, coreset, badge, gradnorm, tod, tracin, isal  # noqa: F401  (registers the strategies)
from . import segmentation  # noqa: F401,E402  (the segmentation task's strategies, TASK_STRATEGIES["segmentation"])
from . import detection  # noqa: F401,E402  (the detection task's strategies, TASK_STRATEGIES["detection"])

__all__ = [
    "STRATEGIES",
    "TASK_STRATEGIES",
    "SelectionContext",
    "Strategy",
    "StrategyOptions",
    "describe_options",
    "describe_strategies",
    "get_strategy",
    "option",
    "register_strategy",
    "strategy_names",
    "strategies_taking_batch",
    "BATCH_RULES",
]
