"""The machine a run was computed on: library versions, the CPU's vector instruction set, thread
counts and the device.  Written into every AL record (``record["environment"]``) and into
``RESULTS.md``.

Exact floats differ across CPUs (the instruction set picks different kernels and summation
orders), so two records from different machines are compared by their verdicts
(:mod:`altoolkit.math.stats`), not by their numbers; this description says which machine made which.
"""

from __future__ import annotations

import platform

__all__ = ["describe", "MACHINE_FIELDS"]

#: The fields of :func:`describe`, in the order RESULTS.md prints them.
MACHINE_FIELDS: tuple[str, ...] = (
    "altoolkit",
    "python",
    "torch",
    "numpy",
    "cpu_capability",
    "threads",
    "interop_threads",
    "device",
)


def describe(device: str = "cpu") -> dict[str, str]:
    """Versions, ``torch.backends.cpu.get_cpu_capability()`` (e.g. ``AVX512``), intra- and
    inter-op thread counts, and ``device`` (the torch device string of the run), as strings.

    >>> sorted(describe()) == sorted(MACHINE_FIELDS)
    True
    """
    import numpy as np
    import torch

    from .._version import __version__

    try:
        capability = str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # an older torch without the query
        capability = "unknown"
    return {
        "altoolkit": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpu_capability": capability,
        "threads": str(torch.get_num_threads()),
        "interop_threads": str(torch.get_num_interop_threads()),
        "device": str(device),
    }
