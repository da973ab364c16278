"""Utilities every layer may use: argument checks (:mod:`.checks`: bad input gives a clear error
naming the parameter), tqdm progress bars (:mod:`.progress`), and the registries behind "your own
model/dataset" (:mod:`.plugins`).

Imports nothing else of altoolkit.
"""
