"""Utilities every layer may use: argument checks (:mod:`.checks`: bad input gives a clear error
naming the parameter), tqdm progress bars (:mod:`.progress`), the registries behind "your own
model/dataset" (:mod:`.plugins`), the seeds derived from a run's seed (:mod:`.seeds`), helpers on
torch modules and batches (:mod:`.modules`) and lazily imported submodules (:mod:`.lazy`).

The lowest layer: imports nothing else of altoolkit.
"""

from .lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, __path__)  # alt.util.<module> imports the module on first access
