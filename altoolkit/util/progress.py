"""Progress bars of the package: tqdm, switched off for a whole process by the environment.

Every long loop in ``altoolkit`` draws its bar through :func:`tqdm` here.  ``ALTOOLKIT_PROGRESS=0``
(or tqdm's own ``TQDM_DISABLE=1``) turns every bar off whatever a caller passed, which is what
:func:`altoolkit.teaching.reproduce.run_notebooks` sets for the papermill kernels, so that executed
notebooks keep no frozen ``0%| 0/40`` bars in their saved outputs.
"""

from __future__ import annotations

import os
from typing import Any

from tqdm.auto import tqdm as _tqdm

__all__ = ["progress_enabled", "tqdm"]

_OFF = {"0", "false", "no", "off"}


def progress_enabled() -> bool:
    """False when ``ALTOOLKIT_PROGRESS`` is 0/false/no/off or ``TQDM_DISABLE`` is set to a true value."""
    if os.environ.get("ALTOOLKIT_PROGRESS", "1").strip().lower() in _OFF:
        return False
    td = os.environ.get("TQDM_DISABLE", "").strip().lower()
    return not td or td in _OFF


def tqdm(*args: Any, **kwargs: Any):
    """``tqdm.auto.tqdm`` with ``disable=True`` forced when :func:`progress_enabled` is False."""
    if not progress_enabled():
        kwargs["disable"] = True
    return _tqdm(*args, **kwargs)
