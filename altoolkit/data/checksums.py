"""Which files a run read, and whether they are the original release: the MD5 sums torchvision
records for each dataset, checked against the files under ``root``.

The ``real`` profile's results (``figures/RESULTS-real.md``) name the files they were computed
from with these checks, so a reader can tell whether a rerun used the same data.  torchvision
records the MD5 of the *archives* of the MNIST family (``*-idx?-ubyte.gz``) and of every CIFAR
batch file; for the MNIST family the uncompressed idx file that torchvision reads is also checked
to be the content of its verified archive (a file that is not is reported, not trusted).  Where
:data:`RELEASE_CONTENT_MD5` records the release's content (Fashion-MNIST), a repackaged archive or
an uncompressed file without its archive is checked against that instead.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RELEASE_CONTENT_MD5", "FileCheck", "dataset_file_checks", "data_files_markdown", "CHECKED_DATASETS", "checked_base", "original_files_mismatch"]

#: Datasets whose files can be checked (torchvision records their MD5 sums).
CHECKED_DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist", "cifar10", "cifar100")


def checked_base(name: str) -> str | None:
    """The dataset of :data:`CHECKED_DATASETS` that ``name`` reads (an ``_ir<ratio>`` suffix or a
    ``[pool=N]`` decoration, as a run's record names its data, is ignored), or ``None``."""
    base = name.split("[", 1)[0].split("_ir", 1)[0]
    return base if base in CHECKED_DATASETS else None


_MISMATCH_CACHE: dict[tuple[str, str], str | None] = {}


def original_files_mismatch(name: str, root: str | os.PathLike) -> str | None:
    """``None`` when every file of dataset ``name`` under ``root`` is the release's (its MD5 is
    torchvision's sum, or its content's is :data:`RELEASE_CONTENT_MD5`'s), else a sentence naming
    the first file that is not (or is missing).  Computed once per
    dataset and folder in a process (a sweep asks for every cached record)."""
    base = checked_base(name)
    if base is None:
        raise ValueError(f"dataset must be one of {', '.join(CHECKED_DATASETS)} to check its files against torchvision's MD5 sums, got {name!r}")
    key = (base, str(Path(root).resolve()))
    if key not in _MISMATCH_CACHE:
        bad = [c for c in dataset_file_checks(base, root) if not c.ok]
        _MISMATCH_CACHE[key] = None if not bad else _mismatch_sentence(bad[0])
    return _MISMATCH_CACHE[key]


@dataclass(frozen=True)
class FileCheck:
    """One file: its path relative to ``root``, its MD5, the MD5 it is checked against (``None``
    where there is none), and whether it is the release's.  ``expected`` is torchvision's sum for
    an archive or a CIFAR batch; for an uncompressed idx file it is the MD5 of its archive's content
    or of the release's content (:data:`RELEASE_CONTENT_MD5`), and ``note`` says which.  A
    repackaged archive is ``ok`` although its MD5 is not ``expected``: its note says why."""

    path: str
    md5: str | None
    expected: str | None
    ok: bool
    note: str = ""


def _mismatch_sentence(check: FileCheck) -> str:
    found = f"{check.path} has MD5 {check.md5 or 'none (missing)'}"
    return f"{found}, the release's is {check.expected}" if check.expected else f"{found} ({check.note})"


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _gunzip_md5(path: Path) -> str:
    h = hashlib.md5()
    with gzip.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: What reading a damaged or foreign ``.gz`` file raises (truncated, bad header, bad deflate data).
GZIP_ERRORS: tuple[type[BaseException], ...] = (gzip.BadGzipFile, EOFError, zlib.error)

#: MD5 of the *content* of each archive of a release, where we computed it from archives whose own
#: MD5 equals torchvision's (``torchvision.datasets.FashionMNIST.resources``, checked 2026-12-07).
#: With it, a repackaged archive (Debian's ``dataset-fashion-mnist`` strips the gzip header's file
#: name and time, so the archive's MD5 differs) or the uncompressed files alone are still checked to
#: be the release's data.  MNIST's are not recorded: its archives are checked as torchvision does.
RELEASE_CONTENT_MD5: dict[str, dict[str, str]] = {
    "FashionMNIST": {
        "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}


def _content_md5(archive: Path) -> str | None:
    """MD5 of an archive's content, or ``None`` when it is not a whole gzip file."""
    try:
        return _gunzip_md5(archive)
    except GZIP_ERRORS:
        return None


def _archive_check(rel: str, archive: Path, digest: str, content_digest: str | None) -> tuple[FileCheck, str | None]:
    """The check of one archive, and its content's MD5 when it was computed."""
    got = _md5(archive)
    if got == digest or content_digest is None:
        return FileCheck(rel, got, digest, got == digest), None
    content = _content_md5(archive)
    if content == content_digest:
        note = "not the release's archive bytes (gzip header), but its content is the release's"
        return FileCheck(rel, got, digest, True, note), content
    return FileCheck(rel, got, digest, False), content


def _idx_check(rel: str, mine: str, name: str, archive_content: str | None, release_content: str | None) -> FileCheck:
    """An uncompressed idx file beside its archive: checked against the archive's content, or,
    where the archive cannot be read, against the release's content when that is recorded."""
    if archive_content is not None:
        return FileCheck(rel, mine, archive_content, mine == archive_content, f"content of {name}")
    if release_content is not None:
        return FileCheck(rel, mine, release_content, mine == release_content, f"{name} damaged: checked against the release content's MD5")
    return FileCheck(rel, mine, None, False, f"{name} damaged: cannot be checked")


def _mnist_like(root: Path, folder: str, resources: list[tuple[str, str]]) -> list[FileCheck]:
    raw = root / folder / "raw"
    contents = RELEASE_CONTENT_MD5.get(folder, {})
    out = []
    for name, digest in resources:
        archive, plain = raw / name, raw / name.removesuffix(".gz")
        rel = lambda p: p.relative_to(root).as_posix()  # noqa: E731
        content_digest = contents.get(name)
        if archive.exists():
            check, content = _archive_check(rel(archive), archive, digest, content_digest)
            out.append(check)
            if plain.exists():
                out.append(_idx_check(rel(plain), _md5(plain), name, content or _content_md5(archive), content_digest))
        elif plain.exists() and content_digest is not None:
            mine = _md5(plain)
            ok = mine == content_digest
            note = f"{name} absent: checked against the release content's MD5" if ok else f"{name} absent; not the release's content"
            out.append(FileCheck(rel(plain), mine, content_digest, ok, note))
        else:
            out.append(FileCheck(rel(archive), None, digest, False, "missing"))
            if plain.exists():
                out.append(FileCheck(rel(plain), _md5(plain), None, False, f"{name} missing: cannot be checked"))
    return out


def _cifar(root: Path, cls) -> list[FileCheck]:
    folder = root / cls.base_folder
    files = [(n, m) for n, m in cls.train_list + cls.test_list] + [(cls.meta["filename"], cls.meta["md5"])]
    out = []
    for name, digest in files:
        path = folder / name
        got = _md5(path) if path.exists() else None
        out.append(FileCheck(path.relative_to(root).as_posix(), got, digest, got == digest, "" if got else "missing"))
    return out


def dataset_file_checks(name: str, root: str | os.PathLike) -> list[FileCheck]:
    """The MD5 checks of dataset ``name``'s files under ``root`` (see the module docstring).

    Args:
        name: one of :data:`CHECKED_DATASETS` (an ``_ir<ratio>`` suffix or ``[pool=N]`` is ignored).
        root: the folder given as ``--root``.

    Raises:
        ValueError: a dataset torchvision records no sums for.
    """
    import torchvision.datasets as tv

    base = checked_base(name) or name
    root = Path(root)
    if base in ("mnist", "fashion_mnist"):
        cls = tv.MNIST if base == "mnist" else tv.FashionMNIST
        return _mnist_like(root, cls.__name__, list(cls.resources))
    if base in ("cifar10", "cifar100"):
        return _cifar(root, tv.CIFAR10 if base == "cifar10" else tv.CIFAR100)
    raise ValueError(f"dataset must be one of {', '.join(CHECKED_DATASETS)} to check its files against torchvision's MD5 sums, got {name!r}")


def data_files_markdown(names: list[str] | tuple[str, ...], root: str | os.PathLike) -> str:
    """A Markdown section naming every file the datasets ``names`` were read from under ``root``,
    with its MD5 and whether it matches torchvision's recorded sum (the provenance block of
    ``figures/RESULTS-real.md``).  Datasets without recorded sums are listed as such."""
    lines = [
        "## Data files",
        "",
        f"Read from `--root` ({Path(root).name or root}); MD5 sums checked against the ones torchvision records (`altoolkit.data.checksums`):",
        "",
    ]
    for name in sorted(set(names)):
        base = checked_base(name)
        if base is None:
            lines += [f"- `{name}`: torchvision records no checksums for it; its files are not verified.", ""]
            continue
        checks = dataset_file_checks(base, root)
        verdict = "all files match" if all(c.ok for c in checks) else "**some files do not match**"
        lines += [f"### {base}: {verdict}", "", "| file | MD5 | expected | ok |", "|---|---|---|---|"]
        for c in checks:
            note = f" ({c.note})" if c.note else ""
            lines.append(f"| `{c.path}`{note} | `{c.md5 or '-'}` | `{c.expected or '-'}` | {'yes' if c.ok else 'NO'} |")
        lines.append("")
    return "\n".join(lines)
