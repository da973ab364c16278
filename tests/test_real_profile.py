"""The pieces of the ``real`` profile (issue 25, item 5): a CPU-sized pool cut from a real image
set, and the CPU-sized network for 28x28 / 32x32 images."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import altoolkit as alt
from altoolkit.data.subsets import pool_subset

ROOT = Path(__file__).resolve().parents[1]


def test_pool_subset_is_stratified_fixed_and_keeps_the_test_split(digits):
    small = pool_subset(digits, 300, pool_seed=0)
    full = np.asarray(digits.class_counts())
    kept = np.asarray(small.class_counts())
    assert small.n_train == 300 and kept.sum() == 300
    # every class within one seat of its exact share (largest remainder)
    assert np.all(np.abs(kept - full * 300 / full.sum()) < 1)
    again = pool_subset(digits, 300, pool_seed=0)
    assert torch.equal(small.x_train, again.x_train) and torch.equal(small.y_train, again.y_train)
    other = pool_subset(digits, 300, pool_seed=1)
    assert not torch.equal(small.x_train, other.x_train)
    assert small.x_test is digits.x_test and small.name == "digits[pool=300]"
    # the kept samples are samples of the pool with their own labels
    rows = {tuple(x.flatten().tolist()): int(y) for x, y in zip(digits.x_train, digits.y_train)}
    assert all(rows[tuple(x.flatten().tolist())] == int(y) for x, y in zip(small.x_train, small.y_train))


def test_pool_size_through_load_dataset_and_config():
    ds = alt.load_dataset("digits", pool_size=400, pool_seed=2)
    assert ds.n_train == 400 and ds.name == "digits[pool=400]"
    cfg = alt.ALConfig(strategy="random", cycles=2, epochs=1, dataset_options={"pool_size": 400})
    rec = alt.run_active_learning(cfg, progress=False)
    assert rec["dataset"]["name"] == "digits[pool=400]" and rec["dataset"]["n_train"] == 400
    assert rec["budgets"] == [40, 60] and max(rec["initial_labeled"] + rec["cycles"][0]["selected"]) < 400


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"pool_size": 5}, ValueError, "pool_size must be an integer in [10, 1347]"),
        ({"pool_size": 10**6}, ValueError, "pool_size must be an integer in [10, 1347]"),
        ({"pool_size": 1.5}, TypeError, "pool_size must be an integer"),
        ({"pool_size": 100, "pool_seed": -1}, ValueError, "pool_seed must be an integer in [0, inf]"),
        ({"pool_seed": 3}, ValueError, "pool_seed needs pool_size"),
    ],
)
def test_pool_size_bad_values_name_the_option(kwargs, error, fragment):
    with pytest.raises(error, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        alt.load_dataset("digits", **kwargs)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_convnet_keeps_the_model_contract(shape):
    net = alt.build_model("convnet", shape, 10, seed=0).eval()
    x = torch.randn(4, *shape)
    assert net(x).shape == (4, 10)
    assert net.embed(x).shape == (4, 128)
    assert torch.allclose(net.head(net.embed(x)), net(x))
    again = alt.build_model("convnet", shape, 10, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))


def _write_idx_gz(raw, name, payload: bytes):
    import gzip

    raw.mkdir(parents=True, exist_ok=True)
    with gzip.open(raw / f"{name}.gz", "wb") as f:
        f.write(payload)
    (raw / name).write_bytes(payload)


def test_file_checks_verify_archives_and_the_idx_files_they_hold(tmp_path, monkeypatch):
    import hashlib

    import torchvision.datasets as tv

    from altoolkit.data.checksums import dataset_file_checks

    raw = tmp_path / "FashionMNIST" / "raw"
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    for i, n in enumerate(names):
        _write_idx_gz(raw, n, bytes([i]) * 64)
    sums = [(f"{n}.gz", hashlib.md5((raw / f"{n}.gz").read_bytes()).hexdigest()) for n in names]
    # the real release's sums: the tiny files fail them, by name
    checks = dataset_file_checks("fashion_mnist", tmp_path)
    assert [c.path for c in checks if not c.ok] == [f"FashionMNIST/raw/{n}.gz" for n in names]
    assert all(c.ok and c.note.startswith("content of") for c in checks if not c.path.endswith(".gz"))
    # with these files' own sums recorded, everything verifies; a changed idx file is caught
    monkeypatch.setattr(tv.FashionMNIST, "resources", sums)
    assert all(c.ok for c in dataset_file_checks("fashion_mnist[pool=10]", tmp_path))
    (raw / names[0]).write_bytes(b"\x09" * 64)
    bad = [c.path for c in dataset_file_checks("fashion_mnist", tmp_path) if not c.ok]
    assert bad == [f"FashionMNIST/raw/{names[0]}"]
    (raw / f"{names[1]}.gz").unlink()
    # without its archive, the idx file is checked against the release's content (which it is not)
    lone = [c for c in dataset_file_checks("fashion_mnist", tmp_path) if names[1] in c.path]
    assert [(c.path, c.ok) for c in lone] == [(f"FashionMNIST/raw/{names[1]}", False)] and "not the release's content" in lone[0].note
    # where no release content is recorded (MNIST), it cannot be checked and the archive is missing
    from altoolkit.data import checksums

    monkeypatch.delitem(checksums.RELEASE_CONTENT_MD5, "FashionMNIST")
    missing = [c for c in dataset_file_checks("fashion_mnist", tmp_path) if c.note.startswith(f"{names[1]}.gz missing") or c.note == "missing"]
    assert [c.path for c in missing] == [f"FashionMNIST/raw/{names[1]}.gz", f"FashionMNIST/raw/{names[1]}"]


def test_file_checks_accept_the_release_content_in_a_repackaged_archive_or_alone(tmp_path, monkeypatch):
    """Debian's dataset-fashion-mnist strips the gzip header's name and time: the archive's MD5
    differs from torchvision's, its content is the release's; likewise idx files without archives."""
    import gzip
    import hashlib

    import torchvision.datasets as tv

    from altoolkit.data import checksums

    raw = tmp_path / "FashionMNIST" / "raw"
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    payloads = {n: bytes([i + 1]) * 80 for i, n in enumerate(names)}
    for n in names:
        _write_idx_gz(raw, n, payloads[n])
    release = [(f"{n}.gz", hashlib.md5((raw / f"{n}.gz").read_bytes()).hexdigest()) for n in names]
    monkeypatch.setattr(tv.FashionMNIST, "resources", release)
    monkeypatch.setitem(checksums.RELEASE_CONTENT_MD5, "FashionMNIST", {f"{n}.gz": hashlib.md5(payloads[n]).hexdigest() for n in names})
    # repackaged: same content, another header (mtime 0, no file name) -> ok, said so
    (raw / f"{names[0]}.gz").write_bytes(gzip.compress(payloads[names[0]], mtime=0))
    checks = {c.path: c for c in checksums.dataset_file_checks("fashion_mnist", tmp_path)}
    first = checks[f"FashionMNIST/raw/{names[0]}.gz"]
    assert first.ok and first.md5 != first.expected and "content is the release's" in first.note
    assert all(c.ok for c in checks.values())
    # another content in a repackaged archive is not the release's
    (raw / f"{names[0]}.gz").write_bytes(gzip.compress(b"\x07" * 80, mtime=0))
    bad = [c.path for c in checksums.dataset_file_checks("fashion_mnist", tmp_path) if not c.ok]
    assert bad == [f"FashionMNIST/raw/{names[0]}.gz", f"FashionMNIST/raw/{names[0]}"]
    # a damaged archive is reported, not a crash; the idx file beside it is checked against the release's content
    (raw / f"{names[0]}.gz").write_bytes(b"\x1f\x8b\x08 not gzip")
    checks = {c.path: c for c in checksums.dataset_file_checks("fashion_mnist", tmp_path)}
    assert not checks[f"FashionMNIST/raw/{names[0]}.gz"].ok
    idx = checks[f"FashionMNIST/raw/{names[0]}"]
    assert idx.ok and idx.expected == hashlib.md5(payloads[names[0]]).hexdigest() and "damaged" in idx.note
    # idx files alone: checked against the release content's MD5; a changed one names its archive missing
    for n in names:
        (raw / f"{n}.gz").unlink()
    checks = checksums.dataset_file_checks("fashion_mnist", tmp_path)
    assert all(c.ok and "absent: checked against the release content" in c.note for c in checks) and len(checks) == 4
    assert checksums.original_files_mismatch("fashion_mnist", tmp_path) is None
    (raw / names[2]).write_bytes(b"\x00" * 80)
    bad = [c for c in checksums.dataset_file_checks("fashion_mnist", tmp_path) if not c.ok]
    assert [c.path for c in bad] == [f"FashionMNIST/raw/{names[2]}"]
    monkeypatch.setattr(checksums, "_MISMATCH_CACHE", {})  # the answer is cached per process and folder
    sentence = checksums.original_files_mismatch("fashion_mnist", tmp_path)
    assert sentence.startswith(f"FashionMNIST/raw/{names[2]} has MD5 ") and "the release's is" in sentence


_DEV_FASHION_RAW = Path(__file__).resolve().parents[1] / "data" / "FashionMNIST" / "raw"


@pytest.mark.skipif(not _DEV_FASHION_RAW.is_dir(), reason="needs the release's files under data/ (git-ignored)")
def test_recorded_release_content_md5_is_the_content_of_the_release_archives():
    """RELEASE_CONTENT_MD5 against the real files, where a developer has them: each archive that
    matches torchvision's sum must unpack to the recorded content."""
    import torchvision.datasets as tv

    from altoolkit.data import checksums

    raw = _DEV_FASHION_RAW
    checked = 0
    for name, digest in tv.FashionMNIST.resources:
        if (raw / name).exists() and checksums._md5(raw / name) == digest:
            assert checksums._gunzip_md5(raw / name) == checksums.RELEASE_CONTENT_MD5["FashionMNIST"][name]
            checked += 1
    assert checked, "no archive under data/FashionMNIST/raw matches torchvision's sums"


def test_recorded_release_content_is_fashion_mnist_s_four_files():
    import torchvision.datasets as tv

    from altoolkit.data.checksums import RELEASE_CONTENT_MD5

    assert set(RELEASE_CONTENT_MD5) == {"FashionMNIST"}
    assert set(RELEASE_CONTENT_MD5["FashionMNIST"]) == {name for name, _ in tv.FashionMNIST.resources}


def test_file_checks_of_cifar_and_of_an_unchecked_dataset(tmp_path):
    from altoolkit.data.checksums import dataset_file_checks

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"not the release")
    checks = {c.path: c for c in dataset_file_checks("cifar10", tmp_path)}
    assert len(checks) == 7 and not checks["cifar-10-batches-py/data_batch_1"].ok
    assert checks["cifar-10-batches-py/test_batch"].note == "missing"
    with pytest.raises(ValueError, match="dataset must be one of mnist, fashion_mnist, cifar10, cifar100"):
        dataset_file_checks("digits", tmp_path)


def test_real_profile_pipeline_on_tiny_real_format_files(tmp_path, capsys):
    """The real profile's path end to end on tiny Fashion-MNIST files in torchvision's layout: a
    pooled run of the ConvNet (records), then `altoolkit summarize --root` names every data file
    with its MD5 against torchvision's (the tiny files cannot match: the section says so)."""
    import gzip

    from altoolkit.cli import main
    from tests.test_data import write_mnist

    rng = np.random.default_rng(0)
    write_mnist(tmp_path / "data", "FashionMNIST", n_train=60, n_test=20)
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    for f in list(raw.iterdir()):
        with gzip.open(f"{f}.gz", "wb") as out:
            out.write(f.read_bytes())
    # every class present in the pool (a stratified pool cuts per class)
    y = np.arange(60) % 10
    rng.shuffle(y)
    (raw / "train-labels-idx1-ubyte").write_bytes((raw / "train-labels-idx1-ubyte").read_bytes()[:8] + y.astype(np.uint8).tobytes())
    records = tmp_path / "records"
    argv = [
        "al",
        "--dataset",
        "fashion_mnist",
        "--root",
        str(tmp_path / "data"),
        "--model",
        "convnet",
        "--strategy",
        "random",
        "--cycles",
        "2",
        "--epochs",
        "1",
        "--initial-fraction",
        "0.25",
        "--step-fraction",
        "0.25",
        "--no-progress",
        "--out",
        str(records / "r.json"),
        "--dataset-option",
        "pool_size=40",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    out = tmp_path / "RESULTS-real.md"
    assert main(["summarize", str(records), "--out", str(out), "--root", str(tmp_path / "data")]) == 0, capsys.readouterr().err
    text = out.read_text()
    assert "## Data files" in text and "### fashion_mnist: **some files do not match**" in text
    assert "`FashionMNIST/raw/train-images-idx3-ubyte.gz`" in text and "8d4fb7e6c68d591d4c3dfef9ec88bf0d" in text


@pytest.mark.slow
def test_real_profile_notebooks_execute_on_tiny_fashion_mnist_files(tmp_path):
    """Notebooks 06 and 09 under ``--profile real tests/real_smoke.yaml`` on tiny Fashion-MNIST files
    in torchvision's layout: the ConvNet on 1x28x28 inputs, the stratified pool, every claimed
    strategy, both regimes and the batch rules, so a missing option or a shape mismatch of the real
    profile is caught on a CPU in the test command."""
    from altoolkit.teaching.reproduce import run_notebooks
    from tests.test_data import write_mnist

    root = tmp_path / "data"
    write_mnist(root, "FashionMNIST", n_train=300, n_test=60)
    raw = root / "FashionMNIST" / "raw"
    y = (np.arange(300) % 10).astype(np.uint8)
    np.random.default_rng(1).shuffle(y)
    (raw / "train-labels-idx1-ubyte").write_bytes((raw / "train-labels-idx1-ubyte").read_bytes()[:8] + y.tobytes())
    smoke = Path(__file__).with_name("real_smoke.yaml")
    runs = run_notebooks(
        ["real", str(smoke)],
        ROOT / "notebooks",
        tmp_path / "out",
        tmp_path / "figures",
        only=["06", "09"],
        progress=False,
        results_dir=tmp_path / "records",
        overrides={"DATASET": "fashion_mnist", "DATA_ROOT": str(root)},
    )
    assert [r.ok for r in runs] == [True, True], [r.line() for r in runs]
    assert all(r.parameters["MODEL"] == "convnet" and r.parameters["DATASET_OPTIONS"] == {"pool_size": 200} for r in runs)
    records = [json.loads(p.read_text()) for p in (tmp_path / "records").glob("*.json")]
    assert {r["dataset"]["name"] for r in records} == {"fashion_mnist[pool=200]"}
    assert {r["config"]["strategy"] for r in records} >= {"random", "entropy", "margin", "badge", "coreset", "isal", "disal", "disal_no_dynamic"}
    # notebook 09's batch rules reach both summaries: its block in the notebooks' RESULTS.md, and the
    # low-budget section of RESULTS-real.md (notebook 09's AL runs share notebook 06's low regime)
    assert "<!-- batch-rules:start" in (tmp_path / "figures" / "RESULTS.md").read_text()
    from altoolkit.cli import main

    out = tmp_path / "RESULTS-real.md"
    assert main(["summarize", str(tmp_path / "records"), "--out", str(out), "--expect", "fashion_mnist", "--expect", "cifar10"]) == 0
    text = out.read_text()
    assert "### Batch rules against their random-score control" in text and "| disal | topm β=" in text
    assert "| cifar10 | 0 | 0 | no records: not run yet |" in text


def test_records_of_checked_datasets_are_found_from_another_copy_of_the_files(tmp_path, monkeypatch):
    """The folder of a release's original files is not part of a run's name: records computed on one
    copy (the committed results/real) are reused from a clone with the data elsewhere, when the
    files there match the release's MD5 sums; files that do not (here: tiny test files) get the
    record refused by name, untouched.  For an image folder, the folder is the data and names the run."""
    import dataclasses
    import shutil

    import altoolkit as alt
    from altoolkit.data import checksums
    from altoolkit.engine import sweep
    from tests.test_data import write_mnist

    write_mnist(tmp_path / "a", "FashionMNIST", n_train=60, n_test=20)
    raw = tmp_path / "a" / "FashionMNIST" / "raw"
    y = (np.arange(60) % 10).astype(np.uint8)
    (raw / "train-labels-idx1-ubyte").write_bytes((raw / "train-labels-idx1-ubyte").read_bytes()[:8] + y.tobytes())
    cfg = alt.ALConfig(dataset="fashion_mnist", root=str(tmp_path / "a"), model="mlp", strategy="random", cycles=2, epochs=1)
    cfg = dataclasses.replace(cfg, initial_fraction=0.25, step_fraction=0.25)
    first = sweep.run_sweep([cfg], tmp_path / "records")
    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))
    moved = dataclasses.replace(cfg, root=str(tmp_path / "b"))
    assert sweep.config_hash(moved) == sweep.config_hash(cfg)
    record_file = sweep.record_path(tmp_path / "records", cfg)
    before = record_file.read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("the finished record was not reused")

    monkeypatch.setattr(sweep, "run_active_learning", no_training)
    with pytest.raises(sweep.SweepError, match=r"computed on the original fashion_mnist files .* are not those \(FashionMNIST/raw/"):
        sweep.run_sweep([moved], tmp_path / "records")
    assert record_file.read_bytes() == before
    monkeypatch.setattr(checksums, "original_files_mismatch", lambda name, root: None)  # as if b held the original files
    again = sweep.run_sweep([moved], tmp_path / "records")
    assert [r["cycles"] for r in again] == [r["cycles"] for r in first]
    folder = alt.ALConfig(dataset="image_folder", root=str(tmp_path / "a"))
    assert sweep.config_hash(folder) != sweep.config_hash(dataclasses.replace(folder, root=str(tmp_path / "b")))
    named = {"dataset": "fashion_mnist[pool=200]", "root": "/x"}  # a record written from a dataset object names it so
    assert alt.engine.loop.run_settings(named)["root"] is None
