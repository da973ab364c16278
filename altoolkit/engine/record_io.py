"""Record I/O: atomic writes, strict JSON, one writer per file, and content-addressed sidecars.

Every file the toolkit writes for a user (AL records, sidecar model states, CSV exports, the demo
truth file) goes through :func:`atomic_write`: a temporary file in the same folder, ``fsync``,
then ``os.replace``, so a reader (or a resumed run) sees either the old file or the new one, never
half of one.

* :func:`dumps_strict` / :func:`write_json`: JSON with ``allow_nan=False``; a NaN or infinity is
  refused with an error naming the field (``cycles[2].test_acc``), because ``NaN`` is not JSON
  and other tools reject it.
* :class:`FileLock` / :func:`lock_file`: an exclusive ``fcntl.flock`` on ``<file>.lock`` held for
  a run.  A second writer refuses at once with :class:`FileLockedError` naming the file and the
  holder's pid.  The kernel drops the lock when its process dies (even by SIGKILL), so the lock
  file of a dead process is taken over by the next run without any timeout guess.  Local file
  systems only (``flock`` is not reliable over NFS).
* :func:`save_sidecar` / :func:`load_sidecar`: the ONE pair every sidecar of a record uses (TOD's
  previous-cycle model, warm-start weights, ...).  A sidecar is written first, under a name that
  contains its content hash (``<record>.<kind>.<sha256[:16]>.pt``); the record written after it
  holds ``{"file", "sha256", "cycle"}``; :func:`load_sidecar` verifies the hash and raises
  :class:`SidecarError` naming the file when it is missing or corrupt; :func:`prune_sidecars`
  removes the files no record points to.  A kill between the two writes leaves the record
  pointing at the previous, still present sidecar: record and sidecars change as one unit.

Write points: :func:`atomic_write` calls :func:`_write_point` just before and just after its
``os.replace``.  Tests set :data:`_FAULT_HOOK` to raise there, which simulates a kill between any
two writes deterministically (``tests/test_write_points.py``).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import math
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = [
    "FileLock",
    "FileLockedError",
    "SidecarError",
    "WriteError",
    "same_path",
    "atomic_write",
    "OutputIsInputError",
    "check_output_file",
    "check_output_not_input",
    "check_output_outside_records",
    "dumps_strict",
    "find_non_finite",
    "load_sidecar",
    "lock_file",
    "prune_sidecars",
    "save_sidecar",
    "write_json",
]

#: Test hook: called with a label at every write point (see the module docstring).
_FAULT_HOOK: Callable[[str], None] | None = None


def _write_point(label: str) -> None:
    if _FAULT_HOOK is not None:
        _FAULT_HOOK(label)


# ----------------------------------------------------------------------------- output paths


def check_output_file(path: str | os.PathLike, name: str = "path") -> Path:
    """Check that ``path`` can be (re)written as a regular file before any work starts.

    Refused with ``ValueError`` naming ``name`` and the path: a folder, a special file (device,
    FIFO, socket, ``/dev/null``), or a parent folder that cannot be created or written to.
    The parent folder is created when missing.
    """
    p = Path(path).expanduser()
    if p.exists() or p.is_symlink():
        try:
            st = p.stat()
        except OSError as exc:
            raise ValueError(f"{name} {str(p)!r} cannot be used: {exc.strerror or exc}") from exc
        if stat.S_ISDIR(st.st_mode):
            raise ValueError(f"{name} {str(p)!r} is a folder; give a file name inside it instead")
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{name} {str(p)!r} is not a regular file (a device, pipe or socket); give a file path")
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{name} {str(p)!r}: its folder cannot be created ({exc.strerror or exc})") from exc
    if not parent.is_dir():
        raise ValueError(f"{name} {str(p)!r}: {str(parent)!r} is not a folder")
    try:  # a real probe: permission bits, read-only mounts and pseudo file systems all show here
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{name} {str(p)!r}: cannot write to folder {str(parent)!r} ({exc.strerror or exc})") from exc
    return p


class OutputIsInputError(ValueError):
    """An output path names a file (or folder) the same command reads: writing would replace it.

    Attributes: ``output`` and ``input`` (the two paths, as given)."""

    def __init__(self, message: str, output: Path, source: Path):
        super().__init__(message)
        self.output, self.input = output, source


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file or folder: the same inode when both exist
    (hard links, symbolic links, ``..``), else the same resolved path."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:  # pragma: no cover - unreadable: fall back to the names
        pass
    return os.path.realpath(pa) == os.path.realpath(pb)


def check_output_not_input(out: str | os.PathLike, out_name: str, inputs: Any) -> None:
    """Refuse, before any work, an output path that is one of the command's ``inputs``.

    ``inputs``: ``(path, description)`` pairs (``("nb", "the notebooks folder (--notebooks-dir)")``).
    Raises :class:`OutputIsInputError` naming both paths; nothing is written."""
    for path, what in inputs:
        if same_path(out, path):
            raise OutputIsInputError(
                f"{out_name} {str(out)!r} is {what} {str(path)!r}, which this command reads: writing there would replace it; "
                "choose another path (nothing was written)",
                Path(out),
                Path(path),
            )


def check_output_outside_records(out: str | os.PathLike, out_name: str, folder: str | os.PathLike, folder_name: str) -> None:
    """Refuse an output file that is one of the files of the record folder ``folder``: a record
    (``*.json``: a summary of the folder reads every one of them, and a sweep writes them) or one
    of a record's own files (``<record>.json.*``: sidecars, locks, temporary writes).  Other names
    in that folder (``RESULTS.md``) are allowed.  Raises :class:`OutputIsInputError` naming both."""
    import fnmatch

    p = Path(out).expanduser()
    if not same_path(p.parent, folder):
        return
    name = p.name
    if fnmatch.fnmatch(name, "*.json") or fnmatch.fnmatch(name, "*.json.*"):
        raise OutputIsInputError(
            f"{out_name} {str(out)!r} is a record file of {folder_name} {str(folder)!r} (its *.json records and their "
            "sidecar and lock files are read by this command): writing there would replace one; choose another path "
            "(nothing was written)",
            p,
            Path(folder),
        )


# ----------------------------------------------------------------------------- atomic writes


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - not every platform opens folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


class WriteError(OSError):
    """Writing a file failed (a full disk, a quota, a read-only file system); the message names
    the file and says that the previous version, if any, is unchanged.  Attribute ``path``."""

    def __init__(self, path: Path, cause: OSError):
        self.path = path
        reason = cause.strerror or str(cause)
        super().__init__(f"cannot write {str(path)!r} ({reason}); the file was not replaced (any previous version is unchanged)")
        self.errno = cause.errno

    def __str__(self) -> str:  # OSError would print "[Errno n] ..." with errno set
        return str(self.args[0])


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Replace ``path`` by ``data`` atomically (temporary file in the same folder, fsync,
    ``os.replace``, fsync of the folder).  Text is written as UTF-8.  Returns the path."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{str(p)!r} is a folder; give a file name inside it instead")
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as exc:
        raise WriteError(p, exc) from exc
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)  # mkstemp's 0600 would hide records from a shared group
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        _write_point(f"before-replace {p.name}")
        os.replace(tmp, p)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # a full disk, a quota, a file system gone read-only
            raise WriteError(p, exc) from exc
        raise
    _fsync_dir(p.parent)
    _write_point(f"after-replace {p.name}")
    return p


# ----------------------------------------------------------------------------- strict JSON


def find_non_finite(obj: Any, where: str = "") -> str | None:
    """Path of the first NaN or infinite float in ``obj`` (``"cycles[2].test_acc"``), or None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (where or "<value>")
    if isinstance(obj, dict):
        for k, v in obj.items():
            found = find_non_finite(v, f"{where}.{k}" if where else str(k))
            if found:
                return found
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            found = find_non_finite(v, f"{where}[{i}]")
            if found:
                return found
    return None


def dumps_strict(obj: Any, what: str = "record", **kwargs: Any) -> str:
    """``json.dumps(obj, allow_nan=False)``; a NaN/infinity raises ``ValueError`` naming its field."""
    bad = find_non_finite(obj)
    if bad is not None:
        raise ValueError(f"{what} field {bad} is not a finite number; records are strict JSON (no NaN or Infinity), nothing was written")
    return json.dumps(obj, allow_nan=False, **kwargs)


def write_json(path: str | os.PathLike, obj: Any, what: str = "record") -> Path:
    """Atomically write ``obj`` as strict JSON (indent 1)."""
    return atomic_write(path, dumps_strict(obj, what=f"{what} {str(path)!r}", indent=1))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses ``NaN``/``Infinity`` (raises ``ValueError``)."""
    return json.loads(text, parse_constant=_refuse_constant)


# ----------------------------------------------------------------------------- locks


class FileLockedError(RuntimeError):
    """Another process (or another run in this process) holds the lock of ``path``."""

    def __init__(self, path: Path, pid: int | None):
        self.path = path
        self.pid = pid
        who = f"pid {pid}" if pid is not None else "a process that has not written its pid yet"
        super().__init__(
            f"{str(path)!r} is in use by another run ({who}, lock file {str(_lock_path(path))!r}); wait for it to finish or stop it, or choose another file"
        )


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


class FileLock:
    """Exclusive lock of ``path`` through ``<path>.lock`` (``fcntl.flock``), for ``with``.

    Refuses at once (no waiting) with :class:`FileLockedError` naming the holder's pid.  The
    lock file is removed on release; a lock file left by a killed process holds no ``flock`` and
    is taken over.  Taking over is race-free: after locking, the lock file must still be the one
    at ``<path>.lock`` (same inode), otherwise it was released and removed meanwhile and the
    lock is taken again.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.lock_path = _lock_path(self.path)
        self._fd: int | None = None

    def acquire(self) -> "FileLock":
        if self._fd is not None:
            raise RuntimeError(f"the lock of {str(self.path)!r} is already held by this object")
        while True:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise ValueError(f"cannot create the lock file {str(self.lock_path)!r} ({exc.strerror or exc}); is the folder writable?") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                pid = _read_pid(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise FileLockedError(self.path, pid) from None
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # released and unlinked between our open and flock: take the new file
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
            self._fd = fd
            return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.unlink(self.lock_path)  # while still locked: no one can take a file being removed
        except FileNotFoundError:  # pragma: no cover
            pass
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "FileLock":
        return self if self.held else self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def lock_file(path: str | os.PathLike) -> FileLock:
    """Acquire and return the exclusive lock of ``path`` (use as ``with lock_file(p): ...``)."""
    return FileLock(path).acquire()


# ----------------------------------------------------------------------------- sidecars


class SidecarError(ValueError):
    """A sidecar named by a record is missing, corrupt, or does not match its recorded hash."""

    def __init__(self, message: str, path: Path):
        super().__init__(message)
        self.path = path


def _sidecar_prefix(record_path: Path, kind: str) -> str:
    return f"{record_path.name}.{kind}."


def _check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not kind.replace("_", "").isalnum():
        raise ValueError(f"sidecar kind must be a name of letters, digits and '_', got {kind!r}")
    return kind


def save_sidecar(record_path: str | os.PathLike, kind: str, obj: Any, cycle: int | None = None) -> dict[str, Any]:
    """Write ``obj`` (a state dict or other ``torch.save``-able object of tensors) next to a record.

    The file is ``<record>.<kind>.<sha256[:16]>.pt``, written atomically BEFORE the record; put
    the returned reference ``{"file", "sha256", "cycle"}`` into the record (e.g.
    ``record["sidecars"][kind]``) and write the record; then call :func:`prune_sidecars`.
    """
    import torch

    rp = Path(record_path)
    _check_kind(kind)
    buf = io.BytesIO()
    torch.save(obj, buf)
    raw = buf.getvalue()
    digest = hashlib.sha256(raw).hexdigest()
    name = f"{_sidecar_prefix(rp, kind)}{digest[:16]}.pt"
    atomic_write(rp.with_name(name), raw)
    return {"file": name, "sha256": digest, "cycle": cycle}


def load_sidecar(record_path: str | os.PathLike, ref: Any, kind: str = "sidecar") -> Any:
    """Load the sidecar a record points to (``ref`` from :func:`save_sidecar`), verifying its hash.

    Raises :class:`SidecarError` naming the file when the reference is malformed, the file is
    missing or unreadable, its SHA-256 differs from the recorded one, or it does not unpickle as
    tensors (``torch.load(weights_only=True)``, so a foreign file runs no code).
    """
    import torch

    rp = Path(record_path)
    if not (isinstance(ref, dict) and isinstance(ref.get("file"), str) and isinstance(ref.get("sha256"), str)):
        raise SidecarError(f"record {str(rp)!r}: its {kind} sidecar reference {ref!r} is malformed", rp)
    name = ref["file"]
    if Path(name).name != name or not name.startswith(_sidecar_prefix(rp, _check_kind(kind))):
        raise SidecarError(f"record {str(rp)!r}: its {kind} sidecar name {name!r} is not one this record may use", rp)
    p = rp.with_name(name)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SidecarError(f"{kind} sidecar {str(p)!r} named by {str(rp)!r} cannot be read ({exc.strerror or exc})", p) from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != ref["sha256"]:
        raise SidecarError(
            f"{kind} sidecar {str(p)!r} is corrupt: its SHA-256 {digest[:16]}… differs from the {ref['sha256'][:16]}… recorded in {str(rp)!r}", p
        )
    try:
        return torch.load(io.BytesIO(raw), weights_only=True)
    except Exception as exc:
        raise SidecarError(f"{kind} sidecar {str(p)!r} cannot be loaded: {type(exc).__name__}: {exc}", p) from exc


def prune_sidecars(record_path: str | os.PathLike, keep: Any = ()) -> list[Path]:
    """Remove the sidecar files of ``record_path`` (every kind) whose names are not in ``keep``
    (names or references), and temporary files of killed writes of the record or its sidecars.
    Call it after the record is written, holding the record's lock.  Returns the removed paths."""
    rp = Path(record_path)
    names = {k["file"] if isinstance(k, dict) else str(k) for k in keep}
    removed = []
    sidecar = re.escape(rp.name) + r"\.[A-Za-z0-9_]+\.[0-9a-f]{16}\.pt"
    pattern = re.compile(sidecar)
    # temporary files of a write that was killed (mkstemp adds 8 characters of [a-z0-9_])
    leftover = re.compile(rf"(?:{re.escape(rp.name)}|{sidecar})\.[a-z0-9_]{{8}}\.tmp")
    for f in rp.parent.iterdir() if rp.parent.is_dir() else ():
        n = f.name
        if (pattern.fullmatch(n) and n not in names) or leftover.fullmatch(n):
            try:
                f.unlink()
                removed.append(f)
            except FileNotFoundError:  # pragma: no cover
                pass
    return removed
