"""A durable label store for human-in-the-loop labelling: one SQLite file per project.

Every click (label, skip, undo) is one short SQLite transaction that is committed before the
call returns, so a kernel restart, a crash or a reboot loses nothing that was clicked, and a
click is never stored twice.  Two people (two kernels, two processes) may label the same store at
the same time:

* the file is in WAL mode (readers never block the writer) with a busy timeout, and every write
  is a ``BEGIN IMMEDIATE`` transaction, so writers queue instead of failing or interleaving;
* ``synchronous=FULL``: a committed click survives a power cut, not only a crashed process.

Design: an append-only event log plus a state table derived from it, both written in the same
transaction.

* ``events`` (append-only: triggers refuse UPDATE and DELETE) holds every click:
  ``label`` (item, class), ``skip`` (item) and ``undo`` (which earlier event it cancels; an event
  can be undone at most once, a unique index enforces it even under concurrency).
* ``state`` holds one row per decided item (``labeled`` with its class, or ``skipped``): the
  latest label/skip event of that item that has not been undone.  A primary key on the item makes
  a duplicated label impossible.  :meth:`LabelStore.verify` replays the log in Python and checks
  that the state table is exactly what the log says.
* ``batches`` / ``batch_items``: the top-k images chosen for each labelling cycle, so that a
  restarted session resumes the same batch (same images, same order) where the user stopped.
* ``meta``: format name, schema version, the class names (fixed when the store is created).

WAL needs a local file system (it uses shared memory); do not put a store on a network share.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import math
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

__all__ = [
    "Batch",
    "Event",
    "LabelStore",
    "LabelStoreError",
    "SCHEMA_VERSION",
    "STORE_FILENAME",
    "STORE_FORMAT",
]

#: Name of the store file inside a project folder.
STORE_FILENAME = "labels.sqlite"
#: Value of the ``format`` key in the ``meta`` table.
STORE_FORMAT = "altoolkit.labelstore"
#: Schema written by this version of altoolkit (stores with a higher version are refused).
SCHEMA_VERSION = 1

_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    cycle    INTEGER NOT NULL UNIQUE,
    strategy TEXT NOT NULL,
    created  REAL NOT NULL,
    info     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch    INTEGER NOT NULL REFERENCES batches(id),
    position INTEGER NOT NULL,
    item     TEXT NOT NULL,
    score    REAL,
    PRIMARY KEY (batch, position),
    UNIQUE (batch, item)
);
CREATE TABLE IF NOT EXISTS events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    item      TEXT NOT NULL,
    action    TEXT NOT NULL CHECK (action IN ('label', 'skip', 'undo')),
    label     TEXT,
    target    INTEGER REFERENCES events(seq),
    annotator TEXT NOT NULL,
    batch     INTEGER REFERENCES batches(id),
    created   REAL NOT NULL,
    CHECK ((action = 'label') = (label IS NOT NULL)),
    CHECK ((action = 'undo') = (target IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS events_by_item ON events(item, seq);
CREATE INDEX IF NOT EXISTS events_by_annotator ON events(annotator, seq);
CREATE UNIQUE INDEX IF NOT EXISTS events_undone_once ON events(target) WHERE action = 'undo';
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TABLE IF NOT EXISTS state (
    item      TEXT PRIMARY KEY,
    status    TEXT NOT NULL CHECK (status IN ('labeled', 'skipped')),
    label     TEXT,
    event     INTEGER NOT NULL REFERENCES events(seq),
    annotator TEXT NOT NULL,
    updated   REAL NOT NULL,
    CHECK ((status = 'labeled') = (label IS NOT NULL))
);
"""

_EFFECTIVE = """
SELECT seq, action, label, annotator, created FROM events AS e
WHERE e.item = ? AND e.action IN ('label', 'skip')
  AND NOT EXISTS (SELECT 1 FROM events AS u WHERE u.action = 'undo' AND u.target = e.seq)
ORDER BY e.seq DESC LIMIT 1
"""


class LabelStoreError(RuntimeError):
    """The file is not a usable label store: not SQLite, another SQLite database, damaged, or
    written by a newer altoolkit.  ``path`` names the file."""

    def __init__(self, message: str, path: str | os.PathLike):
        super().__init__(message)
        self.path = Path(path)


@dataclass(frozen=True)
class Event:
    """One row of the append-only log."""

    seq: int
    item: str
    action: str  # "label", "skip" or "undo"
    label: str | None
    target: int | None  # the event an undo cancels
    annotator: str
    batch: int | None
    created: float  # unix time


@dataclass(frozen=True)
class Batch:
    """The images chosen for one labelling cycle, in the order they are shown.

    ``scores[i]`` is the strategy's score of ``items[i]`` (``None`` for strategies that select a
    set without per-sample scores); ``info`` holds what the cycle recorded (number of labels the
    model was trained on, its held-out accuracy, seconds, ...).
    """

    id: int
    cycle: int
    strategy: str
    items: tuple[str, ...]
    scores: tuple[float | None, ...]
    created: float
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)


def _default_annotator() -> str:
    try:
        return getpass.getuser() or "anonymous"
    except Exception:  # no user name on this system (some containers)
        return "anonymous"


def _check_text(name: str, value) -> str:
    if not isinstance(value, str) or not value or value != value.strip():
        raise TypeError(f"{name} must be a non-empty string without surrounding spaces, got {value!r}")
    return value


class LabelStore:
    """Labels of one project in one SQLite file (see the module docstring for the design).

    Args:
        path: the store file, or a project folder (then ``folder/labels.sqlite`` is used; a path
            that does not exist yet and has no file suffix is taken as a folder).
        classes: the class names.  Required to create a new store; for an existing store they
            may be omitted, and if given must equal the stored ones (same names, same order).
        annotator: name recorded with every click of this object (default: the OS user name).
        create: create the file when it does not exist (``False``: raise ``FileNotFoundError``).
        timeout: seconds a write waits for another writer before giving up (SQLite busy timeout).

    Raises:
        LabelStoreError: the file exists but is not an altoolkit label store, is damaged, or has a
            newer schema.
        ValueError: ``classes`` differ from the stored ones, or are missing for a new store.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        classes: Sequence[str] | None = None,
        *,
        annotator: str | None = None,
        create: bool = True,
        timeout: float = 30.0,
    ):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file or folder path (str or pathlib.Path), got {path!r}")
        p = Path(path).expanduser()
        if p.is_dir() or (not p.exists() and not p.suffix):  # a project folder (new if it has no suffix)
            p = p / STORE_FILENAME
        self.path = p
        self.annotator = _check_text("annotator", annotator if annotator is not None else _default_annotator())
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if classes is not None:
            classes = self._check_classes(classes)
        exists = p.exists() and p.stat().st_size > 0
        if not exists:
            if not create:
                raise FileNotFoundError(f"no label store at {p} (pass create=True to start one)")
            if classes is None:
                raise ValueError(f"creating a new label store at {p} needs classes=[...] (the class names, in the order the model uses them)")
            p.parent.mkdir(parents=True, exist_ok=True)
        else:
            self._check_magic(p)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(str(p), timeout=float(timeout), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise LabelStoreError(f"cannot open the label store {p}: {exc}", p) from exc
        try:
            self._configure(float(timeout))
            self.classes = self._init_or_check(classes)
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ opening

    @staticmethod
    def _check_classes(classes) -> tuple[str, ...]:
        if isinstance(classes, str) or not isinstance(classes, Sequence):
            raise TypeError(f"classes must be a list of class names, got {classes!r}")
        names = tuple(classes)
        for c in names:
            _check_text("each class name", c)
        if len(names) < 2:
            raise ValueError(f"classes must name at least 2 classes, got {list(names)}")
        if len(set(names)) != len(names):
            dup = sorted({c for c in names if names.count(c) > 1})
            raise ValueError(f"classes must be distinct; repeated: {dup}")
        return names

    @staticmethod
    def _check_magic(p: Path) -> None:
        try:
            with open(p, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except IsADirectoryError as exc:  # pragma: no cover - is_dir handled above
            raise LabelStoreError(f"{p} is a folder, not a label store file", p) from exc
        if head != _SQLITE_MAGIC:
            raise LabelStoreError(
                f"{p} is not an altoolkit label store: it is not a SQLite database (it starts with "
                f"{head[:16]!r}). Point the project at another folder, or move this file away.",
                p,
            )

    def _configure(self, timeout: float) -> None:
        c = self._conn
        try:
            c.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            c.execute("PRAGMA synchronous = FULL")
            c.execute("PRAGMA foreign_keys = ON")
            ok = c.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise LabelStoreError(
                f"the label store {self.path} is damaged or not a database ({exc}). Restore it from "
                "a backup, or start a new store and re-import the labels from a CSV export.",
                self.path,
            ) from exc
        if ok != "ok":
            raise LabelStoreError(
                f"the label store {self.path} is damaged (SQLite quick_check: {ok}). Restore it "
                "from a backup, or start a new store and re-import the labels from a CSV export.",
                self.path,
            )
        self.journal_mode = str(mode).lower()

    def _init_or_check(self, classes: tuple[str, ...] | None) -> tuple[str, ...]:
        with self._transaction() as c:
            tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            tables.discard("sqlite_sequence")
            if not tables:
                if classes is None:
                    raise ValueError(f"the label store {self.path} is empty; opening it needs classes=[...]")
                c.executescript_in_tx(_SCHEMA)
                now = repr(time.time())
                c.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("format", STORE_FORMAT), ("schema_version", str(SCHEMA_VERSION)), ("classes", json.dumps(list(classes))), ("created", now)],
                )
                return classes
            meta = {}
            if "meta" in tables:
                meta = dict(c.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("format") != STORE_FORMAT:
                raise LabelStoreError(
                    f"{self.path} is a SQLite database but not an altoolkit label store (tables: "
                    f"{', '.join(sorted(tables))}). Point the project at another folder.",
                    self.path,
                )
            try:
                version = int(meta.get("schema_version", ""))
            except ValueError as exc:
                raise LabelStoreError(f"the label store {self.path} has an unreadable schema_version {meta.get('schema_version')!r}", self.path) from exc
            if version > SCHEMA_VERSION:
                raise LabelStoreError(
                    f"the label store {self.path} has schema version {version}, written by a newer "
                    f"altoolkit; this version reads up to {SCHEMA_VERSION}. Upgrade altoolkit.",
                    self.path,
                )
            missing = {"events", "state", "batches", "batch_items"} - tables
            if missing:
                raise LabelStoreError(f"the label store {self.path} is incomplete (missing tables: {', '.join(sorted(missing))})", self.path)
            stored = self._stored_classes(meta.get("classes"))
            if classes is not None and classes != stored:
                raise ValueError(
                    f"classes {list(classes)} differ from the classes this label store was "
                    f"created with, {list(stored)} ({self.path}); use the same class names in "
                    "the same order, or another project folder"
                )
            return stored

    def _stored_classes(self, text: Any) -> tuple[str, ...]:
        """The class names in the ``meta`` table; a value that is not a JSON list of names (a
        hand-edited or damaged store) raises :class:`LabelStoreError` naming the file."""
        try:
            value = json.loads(text)
        except (TypeError, ValueError):
            value = None
        if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
            raise LabelStoreError(
                f"the label store {self.path} has unreadable metadata: 'classes' must be a JSON list of class names, got {text!r}. Restore it from a backup.",
                self.path,
            )
        return tuple(value)

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _transaction(self) -> Iterator["_Tx"]:
        """One ``BEGIN IMMEDIATE`` write transaction: committed on success, rolled back on error."""
        with self._lock:
            self._ensure_open()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise LabelStoreError(f"the label store {self.path} stayed locked by another writer: {exc}", self.path) from exc
            try:
                yield _Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            self._ensure_open()
            return self._conn.execute(sql, params).fetchall()

    def _ensure_open(self) -> None:
        if self._conn is None:
            raise ValueError(f"the label store {self.path} is closed")

    def close(self) -> None:
        """Close the connection (the data is already on disk)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "LabelStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._conn is None:
            return f"LabelStore({str(self.path)!r}, closed)"
        return (
            f"LabelStore({str(self.path)!r}, classes={len(self.classes)}, "
            f"labels={self.num_labels()}, skipped={len(self.skipped())}, "
            f"batches={len(self.batches())})"
        )

    @property
    def schema_version(self) -> int:
        return int(self._read("SELECT value FROM meta WHERE key = 'schema_version'")[0][0])

    # ------------------------------------------------------------------ clicks

    def _check_item(self, item) -> str:
        return _check_text("item", item)

    def _check_label(self, label) -> str:
        if label not in self.classes:
            raise ValueError(f"unknown class {label!r}; the classes of this store are {list(self.classes)}")
        return label

    def _check_batch(self, c: "_Tx", batch) -> int | None:
        if batch is None:
            return None
        if isinstance(batch, Batch):
            batch = batch.id
        if isinstance(batch, bool) or not isinstance(batch, int):
            raise TypeError(f"batch must be a Batch, a batch id or None, got {batch!r}")
        if c.execute("SELECT 1 FROM batches WHERE id = ?", (batch,)).fetchone() is None:
            raise ValueError(f"batch {batch} does not exist in {self.path}")
        return batch

    @staticmethod
    def _refresh_state(c: "_Tx", item: str) -> None:
        """Set the item's state row from the log: its latest label/skip that is not undone."""
        row = c.execute(_EFFECTIVE, (item,)).fetchone()
        if row is None:
            c.execute("DELETE FROM state WHERE item = ?", (item,))
            return
        seq, action, label, annotator, created = row
        c.execute(
            "INSERT INTO state (item, status, label, event, annotator, updated) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(item) DO UPDATE SET status = excluded.status, label = excluded.label, "
            "event = excluded.event, annotator = excluded.annotator, updated = excluded.updated",
            (item, "labeled" if action == "label" else "skipped", label, seq, annotator, created),
        )

    def _decide(self, item: str, action: str, label: str | None, batch, only_if_pending: bool) -> int | None:
        with self._transaction() as c:
            batch_id = self._check_batch(c, batch)
            if only_if_pending and c.execute("SELECT 1 FROM state WHERE item = ?", (item,)).fetchone():
                return None
            cur = c.execute(
                "INSERT INTO events (item, action, label, annotator, batch, created) VALUES (?, ?, ?, ?, ?, ?)",
                (item, action, label, self.annotator, batch_id, time.time()),
            )
            self._refresh_state(c, item)
            return int(cur.lastrowid)

    def label(self, item: str, label: str, batch: Batch | int | None = None, only_if_pending: bool = False) -> int | None:
        """Record that ``item`` is of class ``label``; committed before returning.

        Labelling an item again replaces its label (both clicks stay in the log).  With
        ``only_if_pending=True`` nothing is written when the item already has a label or was
        skipped (someone else was faster); the check and the write are one transaction.

        Returns the event number, or ``None`` when ``only_if_pending`` stopped the write.
        """
        return self._decide(self._check_item(item), "label", self._check_label(label), batch, only_if_pending)

    def skip(self, item: str, batch: Batch | int | None = None, only_if_pending: bool = False) -> int | None:
        """Record that ``item`` is skipped (not labelled, and not offered again until undone)."""
        return self._decide(self._check_item(item), "skip", None, batch, only_if_pending)

    def undo(self, annotator: str | None = None) -> Event | None:
        """Cancel the latest label or skip of ``annotator`` (default: this store's annotator)
        that is not undone yet, and return that event; ``None`` when there is nothing to undo.

        Undo is an event too (the log stays append-only); the item falls back to its previous
        label or skip, or becomes undecided.  Repeated undos walk further back."""
        who = _check_text("annotator", annotator if annotator is not None else self.annotator)
        with self._transaction() as c:
            row = c.execute(
                "SELECT seq, item, action, label, target, annotator, batch, created FROM events AS e "
                "WHERE e.annotator = ? AND e.action IN ('label', 'skip') AND NOT EXISTS "
                "(SELECT 1 FROM events AS u WHERE u.action = 'undo' AND u.target = e.seq) "
                "ORDER BY e.seq DESC LIMIT 1",
                (who,),
            ).fetchone()
            if row is None:
                return None
            undone = Event(*row)
            c.execute(
                "INSERT INTO events (item, action, target, annotator, batch, created) VALUES (?, 'undo', ?, ?, ?, ?)",
                (undone.item, undone.seq, self.annotator, undone.batch, time.time()),
            )
            self._refresh_state(c, undone.item)
            return undone

    # ------------------------------------------------------------------ reading

    def labels(self) -> dict[str, str]:
        """Current labels: ``{item: class name}`` (skipped and undone items are not included)."""
        return dict(self._read("SELECT item, label FROM state WHERE status = 'labeled' ORDER BY event"))

    def num_labels(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM state WHERE status = 'labeled'")[0][0])

    def skipped(self) -> set[str]:
        """Items currently skipped."""
        return {r[0] for r in self._read("SELECT item FROM state WHERE status = 'skipped'")}

    def status(self, item: str) -> str | None:
        """``"labeled"``, ``"skipped"`` or ``None`` (undecided)."""
        rows = self._read("SELECT status FROM state WHERE item = ?", (self._check_item(item),))
        return rows[0][0] if rows else None

    def counts(self) -> dict[str, int]:
        """Number of current labels per class (every class listed, zeros included)."""
        out = {c: 0 for c in self.classes}
        for label, n in self._read("SELECT label, COUNT(*) FROM state WHERE status = 'labeled' GROUP BY label"):
            out[label] = int(n)
        return out

    def events(self, since: int = 0) -> list[Event]:
        """The log, oldest first (events with ``seq > since``)."""
        rows = self._read("SELECT seq, item, action, label, target, annotator, batch, created FROM events WHERE seq > ? ORDER BY seq", (int(since),))
        return [Event(*r) for r in rows]

    # ------------------------------------------------------------------ batches

    def _batch_from_row(self, row: tuple) -> Batch:
        bid, cycle, strategy, created, info = row
        items = self._read("SELECT item, score FROM batch_items WHERE batch = ? ORDER BY position", (bid,))
        try:
            meta = json.loads(info)
        except (TypeError, ValueError):
            meta = None
        if not isinstance(meta, dict):
            raise LabelStoreError(f"the label store {self.path} has unreadable metadata: batch {bid}'s info must be a JSON object, got {info!r}", self.path)
        return Batch(int(bid), int(cycle), strategy, tuple(i for i, _ in items), tuple(s for _, s in items), float(created), meta)

    def batches(self) -> list[Batch]:
        """Every labelling batch, oldest first."""
        rows = self._read("SELECT id, cycle, strategy, created, info FROM batches ORDER BY id")
        return [self._batch_from_row(r) for r in rows]

    def pending(self, batch: Batch) -> list[str]:
        """Items of ``batch`` that are neither labelled nor skipped, in the batch's order."""
        if not isinstance(batch, Batch):
            raise TypeError(f"batch must be a Batch, got {type(batch).__name__}")
        rows = self._read(
            "SELECT b.item FROM batch_items AS b LEFT JOIN state AS s ON s.item = b.item WHERE b.batch = ? AND s.item IS NULL ORDER BY b.position", (batch.id,)
        )
        return [r[0] for r in rows]

    def open_batch(self) -> Batch | None:
        """The latest batch if some of its items are still undecided, else ``None``."""
        rows = self._read("SELECT id, cycle, strategy, created, info FROM batches ORDER BY id DESC LIMIT 1")
        if not rows:
            return None
        batch = self._batch_from_row(rows[0])
        return batch if self.pending(batch) else None

    def create_batch(
        self,
        items: Sequence[str],
        scores: Sequence[float | None] | None = None,
        strategy: str = "manual",
        info: dict[str, Any] | None = None,
    ) -> tuple[Batch, bool]:
        """Save the next cycle's batch, unless another session saved one that is still open.

        ``strategy`` names what chose the items (default ``"manual"``: picked by hand); ``info``
        is a JSON object of anything else worth keeping with the batch (checked before writing).

        Checked and written in one transaction, so two sessions that finish training at the same
        time end up labelling the same batch.  Returns ``(batch, created)``; ``created`` is False
        when an open batch already existed (it is returned instead and ``items`` are dropped).
        """
        items = [self._check_item(i) for i in items]
        if not items:
            raise ValueError("a batch needs at least one item")
        if len(set(items)) != len(items):
            raise ValueError("a batch must not list an item twice")
        if scores is None:
            scores = [None] * len(items)
        scores = list(scores)
        if len(scores) != len(items):
            raise ValueError(f"scores has {len(scores)} values for {len(items)} items")
        clean = []
        for s in scores:
            if s is not None:
                s = float(s)
                if math.isnan(s):
                    s = None
            clean.append(s)
        strategy = _check_text("strategy", strategy)
        if info is not None and not isinstance(info, dict):
            raise TypeError(f"info must be a dict (a JSON object), got {type(info).__name__}")
        try:
            info_text = json.dumps(info or {}, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"info must hold JSON values only (str, numbers, bools, None, lists and dicts of them): {exc}; nothing was saved") from None
        with self._transaction() as c:
            last = c.execute("SELECT id, cycle, strategy, created, info FROM batches ORDER BY id DESC LIMIT 1").fetchone()
            if last is not None:
                open_items = c.execute(
                    "SELECT COUNT(*) FROM batch_items AS b LEFT JOIN state AS s ON s.item = b.item WHERE b.batch = ? AND s.item IS NULL", (last[0],)
                ).fetchone()[0]
                if open_items:
                    existing = last
                else:
                    existing = None
            else:
                existing = None
            if existing is None:
                cycle = 0 if last is None else int(last[1]) + 1
                cur = c.execute("INSERT INTO batches (cycle, strategy, created, info) VALUES (?, ?, ?, ?)", (cycle, strategy, time.time(), info_text))
                bid = int(cur.lastrowid)
                c.executemany(
                    "INSERT INTO batch_items (batch, position, item, score) VALUES (?, ?, ?, ?)",
                    [(bid, k, it, s) for k, (it, s) in enumerate(zip(items, clean))],
                )
        if existing is not None:
            return self._batch_from_row(existing), False
        return self._batch_from_row(self._read("SELECT id, cycle, strategy, created, info FROM batches WHERE id = ?", (bid,))[0]), True

    # ------------------------------------------------------------------ checks and export

    def verify(self) -> dict[str, int]:
        """Check the store: SQLite integrity, and that the state table is exactly what replaying
        the event log gives (latest not-undone label/skip per item).  Returns counts; raises
        :class:`LabelStoreError` on any mismatch."""
        ok = self._read("PRAGMA integrity_check")[0][0]
        if ok != "ok":
            raise LabelStoreError(f"the label store {self.path} failed SQLite's integrity check: {ok}", self.path)
        events = self.events()
        undone = {e.target for e in events if e.action == "undo"}
        if len(undone) != sum(e.action == "undo" for e in events):
            raise LabelStoreError(f"{self.path}: an event was undone twice", self.path)
        by_seq = {e.seq: e for e in events}
        for t in undone:
            if t not in by_seq or by_seq[t].action == "undo":
                raise LabelStoreError(f"{self.path}: undo of event {t}, which is not a label or skip", self.path)
        expected: dict[str, tuple[str, str | None, int]] = {}
        for e in events:  # oldest first: the last effective event wins
            if e.action in ("label", "skip") and e.seq not in undone:
                expected[e.item] = ("labeled" if e.action == "label" else "skipped", e.label, e.seq)
        rows = self._read("SELECT item, status, label, event FROM state")
        actual = {item: (status, label, event) for item, status, label, event in rows}
        if len(actual) != len(rows):  # pragma: no cover - the primary key forbids it
            raise LabelStoreError(f"{self.path}: an item has two state rows", self.path)
        if actual != expected:
            diff = sorted(set(actual.items()) ^ set(expected.items()))[:5]
            raise LabelStoreError(f"{self.path}: the state table does not match the event log, e.g. {diff}", self.path)
        unknown = {lab for s, lab, _ in actual.values() if s == "labeled"} - set(self.classes)
        if unknown:
            raise LabelStoreError(f"{self.path}: labels outside the classes: {sorted(unknown)}", self.path)
        return {
            "events": len(events),
            "labels": sum(s == "labeled" for s, _, _ in actual.values()),
            "skipped": sum(s == "skipped" for s, _, _ in actual.values()),
            "undos": len(undone),
            "batches": int(self._read("SELECT COUNT(*) FROM batches")[0][0]),
        }

    def export_csv(self, path: str | os.PathLike, include_skipped: bool = False) -> Path:
        """Write the current labels as CSV (``item,label,annotator,labeled_at``; ``labeled_at`` is
        UTC ISO 8601), oldest first.  Skipped items are added with an empty label when
        ``include_skipped``.  The file is replaced atomically.  Returns the path."""
        if not isinstance(include_skipped, bool):
            raise TypeError(f"include_skipped must be True or False, got {include_skipped!r}")
        from ..engine.record_io import atomic_write, check_output_file, check_output_not_input  # here: this module also loads on its own

        own = [(self.path.with_name(self.path.name + suffix), "this label store's file") for suffix in ("", "-wal", "-shm", "-journal")]
        check_output_not_input(path, "export_csv path", own)  # the store itself: all labels would be gone
        out = check_output_file(path, "export_csv path")  # a folder or device is refused by name
        statuses = ("labeled", "skipped") if include_skipped else ("labeled",)
        rows = self._read(f"SELECT item, label, annotator, updated FROM state WHERE status IN ({','.join('?' * len(statuses))}) ORDER BY event", statuses)
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(["item", "label", "annotator", "labeled_at"])
        for item, label, annotator, updated in rows:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(updated))
            w.writerow([item, label or "", annotator, stamp])
        return atomic_write(out, buf.getvalue())


class _Tx:
    """The connection inside a transaction (``executescript`` would commit, so it is split)."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()):
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows):
        return self._conn.executemany(sql, rows)

    def executescript_in_tx(self, script: str) -> None:
        # Statements of the schema, one by one, inside the open transaction (triggers contain ';').
        buf = ""
        for line in script.splitlines(keepends=True):
            buf += line
            if sqlite3.complete_statement(buf):
                self._conn.execute(buf)
                buf = ""
        if buf.strip():  # pragma: no cover - the schema is complete
            raise ValueError(f"incomplete SQL statement in the schema: {buf!r}")
