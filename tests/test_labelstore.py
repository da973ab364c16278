"""The SQLite label store: clicks, undo, durability across processes, concurrent writers, errors."""

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import altoolkit.labelling.store

from altoolkit.labelling.store import SCHEMA_VERSION, STORE_FILENAME, LabelStore, LabelStoreError

CLASSES = ["cat", "dog", "bird"]


@pytest.fixture
def store(tmp_path):
    s = LabelStore(tmp_path, classes=CLASSES, annotator="ann")
    yield s
    s.close()


def test_new_store_is_a_wal_file_in_the_project_folder(tmp_path, store):
    assert store.path == tmp_path / STORE_FILENAME and store.path.exists()
    assert store.journal_mode == "wal"
    raw = sqlite3.connect(store.path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    meta = dict(raw.execute("SELECT key, value FROM meta"))
    raw.close()
    assert meta["format"] == "altoolkit.labelstore" and int(meta["schema_version"]) == SCHEMA_VERSION == store.schema_version
    assert store.classes == tuple(CLASSES)
    with LabelStore(store.path) as again:  # classes are read back from the file
        assert again.classes == tuple(CLASSES)
    with LabelStore(tmp_path / "fresh", classes=CLASSES) as fresh:  # a new path without suffix is a folder
        assert fresh.path == tmp_path / "fresh" / STORE_FILENAME


def test_label_skip_relabel_and_reads(store):
    store.label("a.png", "cat")
    store.label("b.png", "dog")
    store.skip("c.png")
    store.label("a.png", "bird")  # relabel: replaces, both clicks stay in the log
    assert store.labels() == {"b.png": "dog", "a.png": "bird"}
    assert store.skipped() == {"c.png"}
    assert store.status("a.png") == "labeled" and store.status("c.png") == "skipped" and store.status("zz") is None
    assert store.counts() == {"cat": 0, "dog": 1, "bird": 1}
    assert store.num_labels() == 2
    assert [(e.item, e.action, e.label) for e in store.events()] == [
        ("a.png", "label", "cat"),
        ("b.png", "label", "dog"),
        ("c.png", "skip", None),
        ("a.png", "label", "bird"),
    ]
    assert store.verify() == {"events": 4, "labels": 2, "skipped": 1, "undos": 0, "batches": 0}


def test_undo_walks_back_through_this_annotators_clicks(store):
    other = LabelStore(store.path, annotator="bob")
    store.label("x", "cat")
    store.label("x", "dog")
    other.label("y", "bird")
    store.skip("z")
    assert store.undo().item == "z" and store.status("z") is None
    ev = store.undo()  # the relabel: x falls back to its previous label, not to undecided
    assert (ev.item, ev.label) == ("x", "dog") and store.labels()["x"] == "cat"
    assert store.undo().label == "cat" and store.status("x") is None
    assert store.undo() is None  # nothing of "ann" left; bob's label untouched
    assert store.labels() == {"y": "bird"}
    assert other.undo().item == "y" and store.labels() == {}
    assert store.verify()["undos"] == 4
    other.close()


def test_only_if_pending_refuses_decided_items(store):
    assert store.label("x", "cat", only_if_pending=True) is not None
    assert store.label("x", "dog", only_if_pending=True) is None
    assert store.skip("x", only_if_pending=True) is None
    assert store.labels() == {"x": "cat"} and len(store.events()) == 1


def test_batches_open_until_every_item_is_decided(store):
    b, created = store.create_batch(["a", "b", "c"], [0.5, None, float("nan")], "disal", {"n_labeled": 7})
    assert created and b.cycle == 0 and b.items == ("a", "b", "c") and b.scores == (0.5, None, None)
    assert b.info == {"n_labeled": 7}
    again, created2 = store.create_batch(["q"], strategy="random")  # one is still open: returned instead
    assert not created2 and again == b
    store.label("a", "cat", batch=b)
    store.skip("b", batch=b.id)
    assert store.pending(b) == ["c"] and store.open_batch() == b
    store.label("c", "dog", batch=b)
    assert store.open_batch() is None
    b2, created3 = store.create_batch(["d"], strategy="random")
    assert created3 and b2.cycle == 1 and [x.id for x in store.batches()] == [b.id, b2.id]
    assert {e.batch for e in store.events()} == {b.id}
    with pytest.raises(ValueError, match="does not exist"):
        store.label("e", "cat", batch=999)


def test_export_csv(tmp_path, store):
    store.label("b", "dog")
    store.label("a", "cat")
    store.skip("c")
    rows = list(csv.DictReader(open(store.export_csv(tmp_path / "out" / "labels.csv"))))
    assert [(r["item"], r["label"], r["annotator"]) for r in rows] == [("b", "dog", "ann"), ("a", "cat", "ann")]
    assert all(r["labeled_at"].endswith("Z") for r in rows)
    rows = list(csv.DictReader(open(store.export_csv(tmp_path / "all.csv", include_skipped=True))))
    assert [(r["item"], r["label"]) for r in rows] == [("b", "dog"), ("a", "cat"), ("c", "")]
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_the_log_is_append_only_and_verify_catches_a_tampered_state(store):
    store.label("a", "cat")
    raw = sqlite3.connect(store.path)
    for sql in ("UPDATE events SET label = 'dog'", "DELETE FROM events"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(sql)
    raw.execute("UPDATE state SET label = 'dog' WHERE item = 'a'")
    raw.commit()
    raw.close()
    with pytest.raises(LabelStoreError, match="does not match the event log"):
        store.verify()


def test_bad_input_errors(tmp_path, store):
    with pytest.raises(ValueError, match=r"unknown class 'horse'.*\['cat', 'dog', 'bird'\]"):
        store.label("a", "horse")
    with pytest.raises(TypeError, match="item must be a non-empty string"):
        store.label("", "cat")
    with pytest.raises(TypeError, match="item"):
        store.skip(3)
    with pytest.raises(ValueError, match="differ from the classes this label store was created with"):
        LabelStore(store.path, classes=["dog", "cat", "bird"])
    with pytest.raises(ValueError, match="needs classes"):
        LabelStore(tmp_path / "new")
    with pytest.raises(FileNotFoundError, match="no label store"):
        LabelStore(tmp_path / "missing.sqlite", classes=CLASSES, create=False)
    with pytest.raises(ValueError, match="distinct"):
        LabelStore(tmp_path / "dup.sqlite", classes=["a", "a"])
    with pytest.raises(ValueError, match="at least 2"):
        LabelStore(tmp_path / "one.sqlite", classes=["a"])
    with pytest.raises(ValueError, match="timeout"):
        LabelStore(store.path, timeout=0)
    with pytest.raises(ValueError, match="twice"):
        store.create_batch(["a", "a"], strategy="x")
    store.close()
    with pytest.raises(ValueError, match="closed"):
        store.labels()


def test_files_that_are_not_label_stores_are_refused_clearly(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("these are my notes")
    with pytest.raises(LabelStoreError, match="not a SQLite database") as info:
        LabelStore(text)
    assert info.value.path == text
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE measurements (x REAL)")
    con.commit()
    con.close()
    with pytest.raises(LabelStoreError, match="SQLite database but not an altoolkit label store.*measurements"):
        LabelStore(other, classes=CLASSES)
    newer = tmp_path / "newer.sqlite"
    LabelStore(newer, classes=CLASSES).close()
    con = sqlite3.connect(newer)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    with pytest.raises(LabelStoreError, match=f"schema version {SCHEMA_VERSION + 1}.*newer altoolkit"):
        LabelStore(newer)


def test_a_damaged_store_is_refused_clearly(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path, classes=CLASSES) as s:
        for i in range(250):
            s.label(f"item-{i:05d}-{'x' * 250}", CLASSES[i % 3])
    assert not (tmp_path / "labels.sqlite-wal").exists() or (tmp_path / "labels.sqlite-wal").stat().st_size == 0
    size = path.stat().st_size
    assert size > 40_000
    with open(path, "r+b") as f:  # garble pages in the middle (the header stays valid)
        f.seek(size // 3)
        f.write(b"\xff\x00garbage" * 2000)
    with pytest.raises(LabelStoreError, match="damaged"):
        LabelStore(path)


# --------------------------------------------------------------------------- processes
# The child processes load labelstore.py on its own (it only needs the standard library), so that
# they start in a fraction of a second instead of importing torch with the package.

_PRELUDE = textwrap.dedent(f"""
    import importlib.util, json, sys, time
    spec = importlib.util.spec_from_file_location("labelstore", {altoolkit.labelling.store.__file__!r})
    labelstore = importlib.util.module_from_spec(spec)
    sys.modules["labelstore"] = labelstore
    spec.loader.exec_module(labelstore)
    LabelStore = labelstore.LabelStore
""")

_LABELS_FOREVER = """
store = LabelStore(sys.argv[1], annotator="child")
i = 0
while True:
    store.label(f"item{i}", ["cat", "dog", "bird"][i % 3])
    print(i, flush=True)  # printed only after the commit returned
    i += 1
"""

_RANDOM_CLICKS = """
import random
path, name, seed, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rng = random.Random(seed)
s = LabelStore(path, annotator=name, timeout=60)
while not __import__("os").path.exists(start):
    time.sleep(0.01)
mine = []
for _ in range(150):
    r = rng.random()
    item = f"it{rng.randrange(25)}"
    if r < 0.6:
        mine.append(["label", s.label(item, rng.choice(["cat", "dog", "bird"]))])
    elif r < 0.8:
        mine.append(["skip", s.skip(item)])
    else:
        ev = s.undo()
        if ev is not None:
            mine.append(["undo", ev.seq])
print(json.dumps(mine))
"""

_RACE = """
path, name, start = sys.argv[1], sys.argv[2], sys.argv[4]
s = LabelStore(path, annotator=name, timeout=60)
while not __import__("os").path.exists(start):
    time.sleep(0.01)
print(json.dumps([i for i in range(60) if s.label(f"race{i}", "cat", only_if_pending=True) is not None]))
"""


def _child(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _PRELUDE + script, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run_together(tmp_path: Path, script: str, names=("alice", "bob")) -> dict:
    """Start one child per name, release them at the same moment, collect their JSON output."""
    path = tmp_path / "labels.sqlite"
    LabelStore(path, classes=CLASSES).close()
    start = tmp_path / "go"
    children = {n: _child(script, path, n, k + 1, start) for k, n in enumerate(names)}
    time.sleep(0.3)
    start.touch()
    results = {}
    for n, c in children.items():
        out, err = c.communicate(timeout=120)
        assert c.returncode == 0, err
        results[n] = json.loads(out)
    return results


@pytest.mark.slow
def test_every_click_survives_a_killed_process(tmp_path):
    """A kernel that dies (SIGKILL, no clean-up) keeps every click that had returned."""
    path = tmp_path / "labels.sqlite"
    LabelStore(path, classes=CLASSES).close()
    child = _child(_LABELS_FOREVER, path)
    try:
        acknowledged = -1
        while acknowledged < 30:
            line = child.stdout.readline()
            assert line, f"the child process stopped early: {child.stderr.read()}"
            acknowledged = int(line)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    with LabelStore(path) as after:
        labels = after.labels()
        report = after.verify()
    # every acknowledged click is there; at most a few more were committed before the kill
    assert {f"item{i}" for i in range(acknowledged + 1)} <= set(labels)
    assert len(labels) == report["events"] and len(labels) <= acknowledged + 1 + 3
    assert all(labels[f"item{i}"] == CLASSES[i % 3] for i in range(acknowledged + 1))


@pytest.mark.slow
def test_two_people_labelling_at_once_lose_and_duplicate_nothing(tmp_path):
    results = _run_together(tmp_path, _RANDOM_CLICKS)
    with LabelStore(tmp_path / "labels.sqlite") as s:
        report = s.verify()  # integrity check + the state table equals a replay of the log
        events = s.events()
    by_seq = {e.seq: e for e in events}
    for name, mine in results.items():
        theirs = [e for e in events if e.annotator == name]
        assert len(theirs) == len(mine), f"{name}: {len(mine)} committed clicks, {len(theirs)} in the log"
        assert [e.seq for e in theirs if e.action != "undo"] == [seq for kind, seq in mine if kind != "undo"]
        undone = [seq for kind, seq in mine if kind == "undo"]
        assert sorted(e.target for e in theirs if e.action == "undo") == sorted(undone)
        assert {by_seq[t].annotator for t in undone} <= {name}, "undo must only take back the person's own clicks"
    assert report["events"] == len(events) == sum(len(m) for m in results.values())
    assert min(len(m) for m in results.values()) > 100


@pytest.mark.slow
def test_racing_for_the_same_items_labels_each_exactly_once(tmp_path):
    results = _run_together(tmp_path, _RACE)
    won = results["alice"] + results["bob"]
    assert sorted(won) == list(range(60)), "each item is won by exactly one of the two"
    with LabelStore(tmp_path / "labels.sqlite") as s:
        assert len(s.events()) == 60 and s.num_labels() == 60
        s.verify()
