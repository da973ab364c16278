"""The version of altoolkit (a leaf module: the package and the engine's machine description read it)."""

__version__ = "0.2.0"
