"""Labelling your own data (notebook 08): the label store on disk (:mod:`.store`), the labelling
project that trains and selects (:mod:`.project`), and the JupyterLab widgets (:mod:`.widgets`,
the only ipywidgets user in altoolkit).

The store and the project import the layers below the engine and :mod:`altoolkit.engine`; the
widgets, the user interface of the notebooks, may also call the drivers and the plots.
"""
