"""The notebooks as a course: running them with papermill under a profile (:mod:`.reproduce`),
the nbgrader course (:mod:`.course`, ``python -m altoolkit.teaching.course``) and the offline
book of the executed notebooks (:mod:`.book`, ``python -m altoolkit.teaching.book``).

Imports no other layer (the notebooks import the package themselves); may import any layer below
the widgets, and :mod:`altoolkit.cli` imports it.
"""

from ..util.lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, __path__)  # alt.teaching.<module> imports the module on first access
