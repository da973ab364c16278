"""Issue 30, item 2: a record is bound to its data and model.

A record stores a fingerprint of its dataset (shapes, dtype, class names, a SHA-256 of the labels,
sums of a sample of the inputs) and the model's output width.  Resuming on other data, or with a
record whose model width differs, is refused with an error naming the file, and the file is left
byte for byte as it was; a sweep refuses a finished ``<hash>.json`` whose stored configuration is
another run's."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from altoolkit.data import ALDataset
from altoolkit.engine.loop import ALConfig, run_active_learning
from altoolkit.engine.run_checks import RecordMismatchError, dataset_fingerprint
from altoolkit.engine.sweep import SweepError, SweepSpec, config_hash, run_sweep

CFG = ALConfig(strategy="random", model="mlp", cycles=3, epochs=1, initial_size=60, step_size=30)
TIMING = {"train_seconds", "select_seconds"}


class _Stop(Exception):
    pass


def _stop(entry):
    raise _Stop


def _mine(digits, **changes) -> ALDataset:
    """The digits under the name 'mine' (a dataset of the user's), with ``changes``."""
    fields = dict(name="mine", x_train=digits.x_train.clone(), y_train=digits.y_train.clone(), x_test=digits.x_test.clone(), y_test=digits.y_test.clone())
    fields.update(num_classes=10, class_names=list(digits.class_names))
    fields.update(changes)
    return ALDataset(**fields)


def _changed(digits, how):
    if how == "fewer_classes_and_test_images":  # the case: 10 -> 5 classes, 450 -> 100 test images
        keep, keep_test = digits.y_train < 5, torch.nonzero(digits.y_test < 5).flatten()[:100]
        return _mine(
            digits,
            x_train=digits.x_train[keep],
            y_train=digits.y_train[keep],
            x_test=digits.x_test[keep_test],
            y_test=digits.y_test[keep_test],
            num_classes=5,
            class_names=[str(c) for c in range(5)],
        )
    if how == "labels_permuted":
        return _mine(digits, y_train=digits.y_train[torch.randperm(digits.n_train, generator=torch.Generator().manual_seed(0))])
    if how == "one_test_label":
        y = digits.y_test.clone()
        y[0] = (y[0] + 1) % 10
        return _mine(digits, y_test=y)
    if how == "inputs_rescaled":
        return _mine(digits, x_train=digits.x_train * 2)
    if how == "one_input_changed":
        x = digits.x_train.clone()
        x[0] += 1.0  # sample 0 is one of the fingerprint's rows
        return _mine(digits, x_train=x)
    if how == "class_names":
        return _mine(digits, class_names=[f"digit {c}" for c in range(10)])
    raise AssertionError(how)


@pytest.fixture(scope="module")
def partial(digits, tmp_path_factory):
    """A record of 'mine' interrupted after cycle 0, and the uninterrupted record."""
    folder = tmp_path_factory.mktemp("bind")
    full = run_active_learning(CFG, folder / "full.json", dataset=_mine(digits), progress=False)
    with pytest.raises(_Stop):
        run_active_learning(CFG, folder / "partial.json", dataset=_mine(digits), progress=False, on_cycle_end=_stop)
    return folder / "partial.json", full


def _strip(rec):
    rec = json.loads(json.dumps(rec))
    rec.pop("environment", None)
    for c in rec["cycles"]:
        for k in TIMING:
            c.pop(k)
    return rec


def test_record_stores_the_fingerprint_and_the_model_width(partial, digits):
    path, full = partial
    assert full["dataset"]["fingerprint"] == dataset_fingerprint(_mine(digits))
    assert full["model_outputs"] == 10
    fp = full["dataset"]["fingerprint"]
    assert fp["x_train_shape"] == [1347, 1, 8, 8] and len(fp["labels_sha256"]) == 64 and len(fp["train_sample_sums"]) == 16


@pytest.mark.parametrize(
    "how,frag",
    [
        ("fewer_classes_and_test_images", "num_classes 10 in the record, 5 now"),
        ("labels_permuted", "the labels differ"),
        ("one_test_label", "the labels differ"),
        ("inputs_rescaled", "the inputs differ"),
        ("one_input_changed", "the inputs differ"),
        ("class_names", "class_names"),
    ],
)
def test_resume_on_changed_data_is_refused_and_the_record_kept(how, frag, partial, digits, tmp_path):
    src, _ = partial
    out = tmp_path / "r.json"
    shutil.copy(src, out)
    before = out.read_bytes()
    with pytest.raises(RecordMismatchError, match=frag) as info:
        run_active_learning(CFG, out, dataset=_changed(digits, how), progress=False)
    assert str(out) in str(info.value) and info.value.path == out
    assert out.read_bytes() == before


def test_resume_on_the_same_data_gives_the_uninterrupted_record(partial, digits, tmp_path):
    """The control: an equal dataset (a fresh copy) resumes, to the record of an uninterrupted run."""
    src, full = partial
    out = tmp_path / "r.json"
    shutil.copy(src, out)
    rec = run_active_learning(CFG, out, dataset=_mine(digits), progress=False)
    assert rec["finished"] and _strip(rec) == _strip(full)


def test_record_of_an_older_altoolkit_is_checked_on_its_dataset_block(partial, digits, tmp_path):
    """Records written before fingerprints: resumed on the same data, refused on data of another shape."""
    src, full = partial
    old = json.loads(src.read_text())
    del old["dataset"]["fingerprint"], old["model_outputs"]
    out = tmp_path / "r.json"
    out.write_text(json.dumps(old))
    before = out.read_bytes()
    with pytest.raises(RecordMismatchError, match="n_test 450 in the record, 100 now"):
        run_active_learning(CFG, out, dataset=_changed(digits, "fewer_classes_and_test_images"), progress=False)
    assert out.read_bytes() == before
    assert run_active_learning(CFG, out, dataset=_mine(digits), progress=False)["finished"]


def test_resume_with_another_model_width_is_refused(partial, digits, tmp_path):
    src, _ = partial
    rec = json.loads(src.read_text())
    rec["model_outputs"] = 7
    out = tmp_path / "r.json"
    out.write_text(json.dumps(rec))
    before = out.read_bytes()
    with pytest.raises(RecordMismatchError, match="the model gave 7 outputs per sample in the record, 10 now"):
        run_active_learning(CFG, out, dataset=_mine(digits), progress=False)
    assert out.read_bytes() == before


def test_cli_resume_on_changed_data_is_one_line(tmp_path, capsys, monkeypatch):
    """The same through the CLI, with a registered loader whose data change between the two runs."""
    import altoolkit as alt
    from altoolkit.cli import main

    state = {"n_test": 450}

    def loader(seed=0):
        ds = alt.load_digits(seed=seed)
        return dataclasses.replace(ds, name="changing", x_test=ds.x_test[: state["n_test"]], y_test=ds.y_test[: state["n_test"]])

    monkeypatch.setattr(alt.data.DATASET_REGISTRY, "_user", dict(alt.data.DATASET_REGISTRY._user))  # registered for this test only
    alt.register_dataset("changing", loader)
    out = tmp_path / "r.json"
    argv = ["al", "--dataset", "changing", "--strategy", "random", "--model", "mlp", "--cycles", "3", "--epochs", "1", "--out", str(out), "--no-progress"]
    from altoolkit.engine import loop

    real = loop.write_record
    calls = []

    def write_once(*args, **kwargs):  # a run killed after its first cycle
        calls.append(1)
        real(*args, **kwargs)
        if len(calls) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "write_record", write_once)
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    monkeypatch.setattr(loop, "write_record", real)
    before = out.read_bytes()
    state["n_test"] = 100
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1 and str(out) in lines[0] and "n_test 450 in the record, 100 now" in lines[0], err
    assert out.read_bytes() == before


# ------------------------------------------------------------------ sweeps


SWEEP = ALConfig(strategy="random", model="mlp", cycles=2, epochs=1)


@pytest.mark.parametrize("finished", [True, False])
def test_sweep_refuses_a_record_of_another_run_under_its_name(finished, tmp_path):
    """Seed 7's record copied into seed 0's file: reported as that run's failure naming the file,
    never returned as seed 0's result; the file is left as it was."""
    spec = SweepSpec(SWEEP, seeds=[0, 7])
    records = run_sweep(spec, tmp_path, backend="serial", progress=False)
    assert [r["config"]["seed"] for r in records] == [0, 7]
    c0, c7 = spec.configs()
    f0, f7 = tmp_path / f"{config_hash(c0)}.json", tmp_path / f"{config_hash(c7)}.json"
    impostor = json.loads(f7.read_text())
    if not finished:
        impostor["cycles"], impostor["finished"] = impostor["cycles"][:1], False
    f0.write_text(json.dumps(impostor))
    before = f0.read_bytes()
    with pytest.raises(SweepError) as info:
        run_sweep(spec, tmp_path, backend="serial", progress=False)
    (failure,) = info.value.failures
    assert failure.path == f0 and f0.name in failure.line()
    assert "of another configuration (seed 7" in failure.error and f"says {config_hash(c0)}" in failure.error
    assert [r["config"]["seed"] for r in info.value.records] == [7]
    assert f0.read_bytes() == before
