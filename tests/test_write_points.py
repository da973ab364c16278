"""Issue 12 finding 1: a record and its sidecars are one crash-consistent unit.

A kill between any two writes is simulated deterministically: :data:`altoolkit.engine.record_io._FAULT_HOOK`
raises at the k-th write point (every ``atomic_write`` has one just before and one just after its
``os.replace``), for every k, for every strategy that keeps sidecar state (``needs_previous_cycle_model``).
The resumed run must end with exactly the uninterrupted record, and at every kill the record on
disk must name sidecars that exist and verify.  A missing or corrupt sidecar is retrained (with a
warning naming the file), never replaced by a random choice.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from altoolkit.engine import record_io
from altoolkit.data import from_arrays
from altoolkit.engine.loop import ALConfig, load_record, read_sidecar, run_active_learning
from altoolkit.strategies import STRATEGIES

SIDECAR_STRATEGIES = sorted(n for n, c in STRATEGIES.items() if c.needs_previous_cycle_model)
TIMING = {"train_seconds", "select_seconds"}


class SimulatedKill(BaseException):
    """Stands for SIGKILL: a BaseException nothing in the package catches."""


@pytest.fixture(scope="module")
def data():
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    return from_arrays(x[:240], d.target[:240], x[240:320], d.target[240:320], name="digits240")


def _cfg(strategy):
    return ALConfig(dataset="digits", strategy=strategy, model="mlp", cycles=3, epochs=2, seed=5, initial_fraction=0.2, step_fraction=0.1)


def _strip(rec):
    rec = json.loads(json.dumps(rec))
    rec.pop("environment", None)
    for c in rec["cycles"]:
        for k in TIMING:
            c.pop(k, None)
    return rec


def _run(cfg, out, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TOD's cycle-0 random choice
        return run_active_learning(cfg, out, dataset=data, progress=False)


def _check_unit(out):
    """The record on disk (if any) is complete JSON and every sidecar it names verifies."""
    if not out.exists():
        return
    rec = load_record(out)
    for kind in rec.get("sidecars", {}):
        read_sidecar(out, rec, kind)


def test_sidecar_strategies_exist():
    assert "tod" in SIDECAR_STRATEGIES


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """Per strategy: the uninterrupted record and the labels of its write points."""
    out = {}
    for strategy in SIDECAR_STRATEGIES:
        points: list[str] = []
        record_io._FAULT_HOOK = points.append
        try:
            rec = _run(_cfg(strategy), tmp_path_factory.mktemp(strategy) / "ref.json", data)
        finally:
            record_io._FAULT_HOOK = None
        out[strategy] = (_strip(rec), points)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("strategy", SIDECAR_STRATEGIES)
def test_kill_at_every_write_point_resumes_to_the_same_record(strategy, data, reference, tmp_path, monkeypatch):
    cfg = _cfg(strategy)
    ref, points = reference[strategy]
    assert ref["finished"] and len(ref["cycles"]) == 3
    # per cycle: sidecar before/after replace, record before/after replace (the last: record only)
    assert any("model" in p for p in points) and len(points) >= 10, points

    for k in range(len(points)):
        out = tmp_path / f"k{k}" / "r.json"
        calls = {"n": 0}

        def hook(label, k=k):
            if calls["n"] == k:
                raise SimulatedKill(label)
            calls["n"] += 1

        monkeypatch.setattr(record_io, "_FAULT_HOOK", hook)
        with pytest.raises(SimulatedKill):
            _run(cfg, out, data)
        monkeypatch.setattr(record_io, "_FAULT_HOOK", None)
        _check_unit(out)
        assert not list(out.parent.glob("*.tmp")), "a temporary file outlived its write"
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # no sidecar may need retraining
            warnings.filterwarnings("ignore", message="tod: no previous")
            resumed = run_active_learning(cfg, out, dataset=data, progress=False)
        assert _strip(resumed) == ref, f"kill at write point {k} ({points[k]}) changed the record"
        assert sorted(p.name for p in out.parent.iterdir()) == ["r.json"]  # sidecars pruned at the end


def _interrupted(strategy, data, out, monkeypatch, after_cycles=1):
    """A run stopped right after ``after_cycles`` records were written."""
    calls = {"n": 0}

    def hook(label):
        if label == f"after-replace {out.name}":
            calls["n"] += 1
            if calls["n"] == after_cycles:
                raise SimulatedKill(label)

    monkeypatch.setattr(record_io, "_FAULT_HOOK", hook)
    with pytest.raises(SimulatedKill):
        _run(_cfg(strategy), out, data)
    monkeypatch.setattr(record_io, "_FAULT_HOOK", None)
    rec = load_record(out)
    return rec, out.with_name(rec["sidecars"]["model"]["file"])


@pytest.mark.parametrize("damage", ["missing", "corrupt", "truncated", "foreign", "reference"])
@pytest.mark.parametrize("strategy", SIDECAR_STRATEGIES)
def test_missing_or_corrupt_sidecar_is_retrained_not_random(strategy, damage, data, reference, tmp_path, monkeypatch):
    ref = reference[strategy][0]
    out = tmp_path / "r.json"
    rec, side = _interrupted(strategy, data, out, monkeypatch)
    if damage == "missing":
        side.unlink()
    elif damage == "corrupt":
        raw = bytearray(side.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        side.write_bytes(bytes(raw))
    elif damage == "truncated":
        side.write_bytes(side.read_bytes()[:100])
    elif damage == "foreign":
        side.write_bytes(b"not a torch file")
    else:  # a hand-edited record whose reference names another file
        rec["sidecars"]["model"]["sha256"] = "0" * 64
        out.write_text(json.dumps(rec))
    with pytest.warns(UserWarning, match=r"retraining cycle 0") as w:
        resumed = run_active_learning(_cfg(strategy), out, dataset=data, progress=False)
    assert any(side.name in str(x.message) for x in w), [str(x.message) for x in w]
    assert _strip(resumed) == ref


def test_load_sidecar_errors_name_the_file(tmp_path):
    import torch

    rp = tmp_path / "r.json"
    ref = record_io.save_sidecar(rp, "model", {"w": torch.ones(2)}, cycle=0)
    side = tmp_path / ref["file"]
    assert record_io.load_sidecar(rp, ref, "model")["w"].tolist() == [1.0, 1.0]
    side.write_bytes(b"x" + side.read_bytes()[1:])
    with pytest.raises(record_io.SidecarError, match=side.name):
        record_io.load_sidecar(rp, ref, "model")
    side.unlink()
    with pytest.raises(record_io.SidecarError, match=side.name):
        record_io.load_sidecar(rp, ref, "model")
    with pytest.raises(record_io.SidecarError, match="not one this record may use"):
        record_io.load_sidecar(rp, {**ref, "file": "../etc/passwd"}, "model")


def test_prune_removes_unnamed_sidecars_and_killed_temporaries_only(tmp_path):
    rp = tmp_path / "r.json"
    names = [
        "r.json",
        "r.json.model.0123456789abcdef.pt",
        "r.json.model.fedcba9876543210.pt",
        "r.json.abcd_123.tmp",
        "r.json.model.0123456789abcdef.pt.zz9_abcd.tmp",
        "r.json.bak",
        "r.json.bak.abcdefgh.tmp",
        "other.json.model.0123456789abcdef.pt",
        "r.json.lock",
    ]
    for n in names:
        (tmp_path / n).write_text("x")
    removed = record_io.prune_sidecars(rp, ["r.json.model.0123456789abcdef.pt"])
    assert sorted(p.name for p in removed) == ["r.json.abcd_123.tmp", "r.json.model.0123456789abcdef.pt.zz9_abcd.tmp", "r.json.model.fedcba9876543210.pt"]
