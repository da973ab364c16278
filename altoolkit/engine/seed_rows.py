"""Per-seed results of a study kept on disk, so that a long study resumes where it stopped.

An AL run is cached by :mod:`.sweep` (one record per configuration, resumed after its last cycle).
A study that is not an AL run (notebook 09's interventions and its under-training grid: several
trainings per seed, about 40 minutes on real images) keeps one file per seed instead:
``<folder>/<kind>-<digest>.json`` holding ``{"kind", "key", "seed", "rows"}``, written atomically
(:func:`.record_io.write_json`) as soon as the seed is done.  The digest is a SHA-256 of the kind,
the key (everything the rows depend on besides the seed: the data's content, the regime, the
version of the computation) and the seed, so a change of any of them computes afresh and never
reads a stale row.  A file whose content disagrees with its name raises ``ValueError`` naming it.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import torch

from ..data import ALDataset
from .record_io import find_non_finite, loads_strict, write_json
from .sweep import _canonical

__all__ = ["key_digest", "dataset_content_key", "SeedRowCache", "StudyFile", "read_study_folder"]


def _tensor_bytes(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().numpy().tobytes()


def dataset_content_key(dataset: ALDataset) -> dict[str, Any]:
    """What a study's rows depend on of the data: a SHA-256 of both splits' inputs and labels
    (bytes, so equal on every machine), their shapes and dtype, the class count and the input
    normalisation.  The data folder is not part of it: the same files elsewhere give the same key."""
    h = hashlib.sha256()
    for t in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(_tensor_bytes(t))
    return {
        "sha256": h.hexdigest(),
        "n_train": int(dataset.n_train),
        "num_classes": int(dataset.num_classes),
        "mean": list(dataset.mean) if dataset.mean is not None else None,
        "std": list(dataset.std) if dataset.std is not None else None,
    }


def key_digest(obj: Any) -> str:
    """Hex SHA-256 of ``obj``'s JSON with sorted keys (a file's name, a study's heading)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _normalised(obj: Any) -> Any:
    """The key as the file stores it: one canonical JSON form (``1.0`` → ``1``, tuples become lists;
    :func:`.sweep._canonical`, as a run's hash does); a value JSON cannot hold raises ``TypeError``."""
    return json.loads(json.dumps(_canonical(obj), sort_keys=True))


@dataclass(frozen=True)
class SeedRowCache:
    """The files of one study (``kind``, e.g. ``"interventions"``) with one ``key`` in ``folder``.

    Examples:
        >>> import tempfile
        >>> cache = SeedRowCache(tempfile.mkdtemp(), "demo", {"version": 1})
        >>> cache.load(3) is None
        True
        >>> _ = cache.store(3, [{"seed": 3, "share": 0.5}])
        >>> cache.load(3)
        [{'seed': 3, 'share': 0.5}]
    """

    folder: str | Path
    kind: str
    key: Mapping[str, Any] = field(default_factory=dict)
    label: Mapping[str, Any] = field(default_factory=dict)  # stored beside the rows, not part of the name

    def path(self, seed: int) -> Path:
        digest = key_digest({"kind": self.kind, "key": _normalised(self.key), "seed": int(seed)})
        return Path(self.folder) / f"{self.kind}-{digest[:16]}.json"

    def load(self, seed: int) -> Any | None:
        """The stored rows of ``seed``, or None when that seed has not been computed with this key."""
        path = self.path(seed)
        if not path.is_file():
            return None
        try:
            obj = loads_strict(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{str(path)!r} is not a readable study file ({exc}); delete it to compute seed {seed} again") from exc
        expected = {"kind": self.kind, "key": _normalised(self.key), "seed": int(seed)}
        if not isinstance(obj, dict) or {k: obj.get(k) for k in expected} != expected or "rows" not in obj:
            raise ValueError(f"{str(path)!r} does not hold the {self.kind} rows of seed {seed} that its name stands for; delete it to compute them again")
        return obj["rows"]

    def store(self, seed: int, rows: Any) -> Path | None:
        """Write ``rows`` of ``seed`` atomically; rows with a NaN or infinity are not stored (strict
        JSON), so that seed is computed again next time.  Returns the path, or None."""
        bad = find_non_finite(rows)
        if bad is not None:
            why = f"{self.kind} rows of seed {seed} hold a non-finite number ({bad})"
            warnings.warn(f"{why}: not stored, so that seed is computed again next time", stacklevel=2)
            return None
        obj = {"kind": self.kind, "key": _normalised(self.key), "seed": int(seed), "label": _normalised(self.label), "rows": rows}
        return write_json(self.path(seed), obj, what=f"{self.kind} rows")


class StudyFile(NamedTuple):
    """One file of a study folder: its kind, key, seed and rows (:func:`read_study_folder`)."""

    kind: str
    key: dict[str, Any]
    seed: int
    rows: Any
    label: dict[str, Any]


def read_study_folder(folder: str | Path) -> list[StudyFile]:
    """Every study file in ``folder`` (``<kind>-<digest>.json``), checked against its name; an
    absent folder holds none.  A file that is not a study file raises ``ValueError`` naming it."""
    out = []
    for path in sorted(Path(folder).glob("*-*.json")) if Path(folder).is_dir() else ():
        try:
            obj = loads_strict(path.read_text(encoding="utf-8"))
            kind, key, seed = obj["kind"], obj["key"], obj["seed"]
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{str(path)!r} is not a study file ({type(exc).__name__}: {exc}); move it out of {str(folder)!r}") from exc
        label = obj.get("label", {})
        valid = isinstance(kind, str) and isinstance(key, dict) and isinstance(seed, int) and isinstance(label, dict) and "rows" in obj
        if not valid or SeedRowCache(folder, kind, key).path(seed).name != path.name:
            raise ValueError(f"{str(path)!r} does not hold what its name stands for (kind, key and seed give another name); move it out of {str(folder)!r}")
        out.append(StudyFile(kind, key, seed, obj["rows"], label))
    return out
