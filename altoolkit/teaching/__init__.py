"""The notebooks as a course: running them with papermill under a profile (:mod:`.reproduce`),
the nbgrader course (:mod:`.course`, ``python -m altoolkit.teaching.course``) and the offline
book of the executed notebooks (:mod:`.book`, ``python -m altoolkit.teaching.book``).

Imports no other layer at module level (the notebooks import the package themselves).
"""
