"""Issue 30, item 1 and the file-naming findings: no command writes over what it reads, and a file
that cannot be written or read is named.

Each command whose output path equals one of its inputs refuses before any work, with one error
line naming both paths, and leaves the input byte for byte as it was: ``summarize --out`` into the
records folder, ``sweep --summary`` onto a record of its own ``--out-dir``, ``export_csv`` onto the
label store, ``reproduce --output-dir`` onto the notebooks folder.  A full disk while writing a
record and unreadable ``--pretrained-weights`` give errors naming the file."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from altoolkit.cli import main
from altoolkit.engine import record_io
from altoolkit.engine.loop import ALConfig, run_active_learning
from altoolkit.engine.record_io import OutputIsInputError, WriteError
from altoolkit.engine.sweep import config_hash

RUN = ["--strategies", "random", "--model", "mlp", "--cycles", "2", "--epochs", "1", "--backend", "serial", "--no-progress"]


def _cli(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err, [ln for ln in err.splitlines() if "error:" in ln]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """A finished one-run sweep: ``(folder, its record's path)``."""
    out = tmp_path_factory.mktemp("sw") / "sw"
    assert main(["sweep", *RUN, "--out-dir", str(out)]) == 0
    cfg = ALConfig(strategy="random", model="mlp", cycles=2, epochs=1)
    path = out / f"{config_hash(cfg)}.json"
    assert path.exists()
    return out, path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("target", ["{record}", "{folder}/new.json", "{record}.lock", "{record}.model.0123456789abcdef.pt", "{folder}/../sw/{name}"])
def test_summarize_out_onto_the_records_folder_is_refused(target, sweep_dir, tmp_path, capsys):
    folder, record = sweep_dir
    work = tmp_path / "sw"
    shutil.copytree(folder, work)
    out = target.format(record=work / record.name, folder=work, name=record.name)
    before = _snapshot(work)
    code, err, lines = _cli(["summarize", str(work), "--out", out], capsys)
    assert code == 2 and len(lines) == 1, err
    assert "--out" in lines[0] and str(work) in lines[0] and "would replace" in lines[0]
    assert _snapshot(work) == before  # the record (and everything else there) untouched


def test_summarize_out_beside_the_records_is_allowed(sweep_dir, tmp_path, capsys):
    """The control: a Markdown file of another name in the same folder is written."""
    folder, _ = sweep_dir
    work = tmp_path / "sw"
    shutil.copytree(folder, work)
    assert main(["summarize", str(work), "--out", str(work / "RESULTS.md")]) == 0
    assert (work / "RESULTS.md").read_text().startswith("# Results")


@pytest.mark.parametrize("existing", [True, False])
def test_sweep_summary_onto_its_own_record_is_refused_before_any_run(existing, sweep_dir, tmp_path, capsys):
    """``--summary sw/<hash>.json`` used to overwrite a finished record of the sweep; when the
    record does not exist yet, the sweep would write it and then the summary over it."""
    folder, record = sweep_dir
    work = tmp_path / "sw"
    if existing:
        shutil.copytree(folder, work)
    before = _snapshot(work) if existing else {}
    code, err, lines = _cli(["sweep", *RUN, "--out-dir", str(work), "--summary", str(work / record.name)], capsys)
    assert code == 2 and len(lines) == 1 and "--summary" in lines[0] and "--out-dir" in lines[0], err
    assert (_snapshot(work) if work.exists() else {}) == before  # nothing ran, nothing written


def test_labelstore_export_csv_onto_its_own_file_is_refused(tmp_path):
    from altoolkit.labelling.store import LabelStore

    path = tmp_path / "p" / "labels.sqlite"
    store = LabelStore(path, ["cat", "dog"])
    store.label("a.png", "cat")
    store.label("b.png", "dog")
    for target in (path, tmp_path / "p" / "." / "labels.sqlite", Path(str(path) + "-wal")):
        with pytest.raises(OutputIsInputError, match="this label store's file") as info:
            store.export_csv(target)
        assert str(path) in str(info.value)
    store.close()
    with LabelStore(path) as again:  # every label is still there
        assert again.labels() == {"a.png": "cat", "b.png": "dog"}


def test_labelstore_export_csv_through_a_symlink_to_the_store_is_refused(tmp_path):
    from altoolkit.labelling.store import LabelStore

    path = tmp_path / "labels.sqlite"
    with LabelStore(path, ["cat", "dog"]) as store:
        store.label("a.png", "cat")
        os.symlink(path, tmp_path / "link.csv")
        with pytest.raises(OutputIsInputError, match="link.csv"):
            store.export_csv(tmp_path / "link.csv")
    with LabelStore(path) as again:
        assert again.labels() == {"a.png": "cat"}


def _notebooks(folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True)
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": None}]}
    nb.update(metadata={}, nbformat=4, nbformat_minor=5)
    (folder / "01_x.ipynb").write_text(json.dumps(nb))
    return _snapshot(folder)


@pytest.mark.parametrize(
    "flag,value",
    [("--output-dir", "{nb}"), ("--output-dir", "{nb}/."), ("--output-dir", "{nb}/../nb"), ("--figures-dir", "{nb}")],
)
def test_reproduce_into_the_notebooks_folder_is_refused(flag, value, tmp_path, capsys):
    nb = tmp_path / "nb"
    before = _notebooks(nb)
    argv = ["reproduce", "--profile", "test", "--notebooks-dir", str(nb), "--results-dir", str(tmp_path / "rec"), "--no-progress"]
    argv += ["--figures-dir", str(tmp_path / "fig")] if flag != "--figures-dir" else ["--output-dir", str(tmp_path / "out")]
    code, err, lines = _cli(argv + [flag, value.format(nb=nb)], capsys)
    assert code == 2 and len(lines) == 1 and flag in lines[0] and "--notebooks-dir" in lines[0] and str(nb) in lines[0], err
    assert _snapshot(nb) == before


# ------------------------------------------------------------------ files that cannot be written or read


def test_full_disk_while_writing_the_record_names_it_and_keeps_the_last_one(tmp_path, monkeypatch):
    """The write of cycle 1 fails with ENOSPC: the error names the record and the record on disk
    is still the one written after cycle 0 (byte for byte), with no temporary file left."""
    out = tmp_path / "r.json"
    cfg = ALConfig(strategy="random", model="mlp", cycles=3, epochs=1)
    saved: list[bytes] = []
    real_fsync = os.fsync

    def fill_disk_after_cycle_0(entry):
        saved.append(out.read_bytes())
        if entry["cycle"] == 0:

            def no_space(fd):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(record_io.os, "fsync", no_space)

    with pytest.raises(WriteError, match=r"cannot write '.*r\.json' \(No space left on device\)"):
        run_active_learning(cfg, out, progress=False, on_cycle_end=fill_disk_after_cycle_0)
    monkeypatch.setattr(record_io.os, "fsync", real_fsync)
    assert out.read_bytes() == saved[0]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_cli_full_disk_is_one_line_naming_the_record(tmp_path, capsys, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(record_io.os, "fsync", no_space)
    out = tmp_path / "r.json"
    code, err, lines = _cli(["al", "--strategy", "random", "--model", "mlp", "--cycles", "2", "--epochs", "1", "--out", str(out), "--no-progress"], capsys)
    assert code == 2 and len(lines) == 1 and str(out) in lines[0] and "No space left on device" in lines[0], err
    assert not out.exists()


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
@pytest.mark.parametrize("content", ["random", "pickle"])
def test_pretrained_weights_that_are_not_a_state_dict_name_the_file(content, tmp_path, capsys):
    import pickle

    weights = tmp_path / "w.pt"
    if content == "random":
        weights.write_bytes(os.urandom(4096))
    else:
        weights.write_bytes(pickle.dumps(_Evil()))
    out = tmp_path / "r.json"
    argv = ["al", "--dataset", "digits", "--model", "resnet18", "--pretrained-weights", str(weights), "--strategy", "random", "--cycles", "2"]
    code, err, lines = _cli(argv + ["--epochs", "1", "--out", str(out), "--no-progress"], capsys)
    assert code == 2 and len(lines) == 1, err
    assert str(weights) in lines[0] and "cannot be loaded as a torch state dict" in lines[0] and "weights_only" in lines[0]
    assert "should-not-run" not in capsys.readouterr().out and not out.exists()
