"""The 0.1 module names and where they live since 0.2, resolved by one import hook.

0.1 was one flat folder (``altoolkit.influence``, ``altoolkit.plots``, ...); 0.2 groups the modules
by layer (``altoolkit.math.influence``, ``altoolkit.plotting.curves``, ...).  :data:`MOVED` maps each
old name to its new module, and :class:`AliasFinder` (installed by ``import altoolkit``) makes
``import altoolkit.influence``, ``from altoolkit.plots import save_figure``, ``alt.isal_study`` and
``python -m altoolkit.course`` give the new module itself (the same object: monkeypatching either
name patches both).  :data:`MOVED_ATTRS` lists the functions that left a module in 0.2 (figures went
to :mod:`altoolkit.plotting`); the old module resolves them on access (PEP 562).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.abc import Loader as _Loader
else:
    _Loader = object  # the protocol is enough at run time; importlib.abc would cost 10 ms of imports

#: 0.1 module name -> 0.2 module, both under ``altoolkit``
MOVED: dict[str, str] = {
    "scores": "math.scores",
    "influence": "math.influence",
    "dynamic": "math.dynamic",
    "stats": "math.stats",
    "models": "training.models",
    "train": "training.train",
    "fresh_model": "training.fresh_model",
    "inference": "training.inference",
    "validation": "util.checks",
    "progress": "util.progress",
    "plugins": "util.plugins",
    "loop": "engine.loop",
    "record_io": "engine.record_io",
    "sweep": "engine.sweep",
    "estimate": "engine.estimate",
    "machine": "engine.machine",
    "derivation": "drivers.tracin_to_kl",
    "experiments": "drivers.dynamic_loss",
    "comparison": "drivers.scoring_and_selection",
    "embedding": "drivers.tsne_selections",
    "fluctuation": "drivers.checkpoint_fluctuation",
    "summary": "drivers.active_learning_benchmark",
    "isal_study": "drivers.isal_influence_functions",
    "collapse_study": "drivers.why_selections_collapse",
    "narrate": "analysis.narrate",
    "selection_balance": "analysis.selection_balance",
    "results": "analysis.results",
    "tables": "analysis.tables",
    "stopping": "analysis.stopping",
    "plots": "plotting.curves",
    "plots_collapse": "plotting.collapse",
    "plots_maps": "plotting.maps",
    "labelstore": "labelling.store",
    "labeling": "labelling.project",
    "widgets": "labelling.widgets",
    "course": "teaching.course",
    "book": "teaching.book",
    "reproduce": "teaching.reproduce",
}

#: 0.2 module -> (module its 0.1 figure functions moved to, their names)
MOVED_ATTRS: dict[str, tuple[str, frozenset[str]]] = {
    "altoolkit.drivers.isal_influence_functions": (
        "altoolkit.plotting.isal",
        frozenset({"plot_upweighting", "plot_lissa_convergence", "plot_score_agreement"}),
    ),
    "altoolkit.drivers.checkpoint_fluctuation": ("altoolkit.plotting.maps", frozenset({"epoch_drawer"})),
    "altoolkit.labelling.project": ("altoolkit.plotting.labelling", frozenset({"plot_history", "plot_batch"})),
}


class _AliasLoader(_Loader):
    """Loads an old name as the already-imported new module (nothing is executed twice)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.spec: Any = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec  # the import system set the alias's spec; keep the module's own

    def get_code(self, fullname: str) -> CodeType:
        """``python -m altoolkit.<old name>`` runs the new module as ``__main__``."""
        return compile(
            f"import runpy\nrunpy.run_module({self.target!r}, run_name='__main__', alter_sys=True)\n", f"<{fullname}: alias of {self.target}>", "exec"
        )


class AliasFinder:  # the meta path finder protocol
    """Finds ``altoolkit.<old name>`` for every old name in :data:`MOVED`."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        package, _, leaf = fullname.rpartition(".")
        if package != "altoolkit" or leaf not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(f"altoolkit.{MOVED[leaf]}"))


def install() -> None:
    """Put :class:`AliasFinder` first on ``sys.meta_path`` (once): first, so that no other finder
    (e.g. an editable install of another checkout) answers an old name with a stale file."""
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())


def moved_attribute(module: str, name: str) -> Any:
    """``module.name`` for a function that moved out of ``module`` (see :data:`MOVED_ATTRS`)."""
    target, names = MOVED_ATTRS.get(module, ("", frozenset()))
    if name not in names:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return getattr(importlib.import_module(target), name)
