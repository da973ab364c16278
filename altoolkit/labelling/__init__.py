"""Labelling your own data (notebook 08): the label store on disk (:mod:`.store`), the labelling
project that trains and selects (:mod:`.project`), and the JupyterLab widgets (:mod:`.widgets`,
the only ipywidgets user in altoolkit).

May import util, data, training, strategies and :mod:`altoolkit.engine.record_io`.
"""
