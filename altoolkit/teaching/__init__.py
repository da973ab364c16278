"""The notebooks as a course: running them with papermill under a profile (:mod:`.reproduce`),
the nbgrader course, its references and the student and instructor versions (:mod:`.course`,
``python -m altoolkit.teaching.course``), the probe that runs every exercise against trivial
answers (:mod:`.exercises`), and the offline book of the executed notebooks in two editions
(:mod:`.book`, ``python -m altoolkit.teaching.book``) with slides of every notebook (:mod:`.slides`).

Imports no other layer (the notebooks import the package themselves); may import any layer below
the widgets, and :mod:`altoolkit.cli` imports it.
"""

from ..util.lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, __path__)  # alt.teaching.<module> imports the module on first access
