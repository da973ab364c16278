"""Tests of altoolkit.data.

The torchvision loaders are exercised on tiny files written in the datasets' real on-disk
formats (CIFAR pickles, MNIST idx, SVHN .mat, Caltech101 and ImageFolder trees of JPEG/PNG
files) and read back through the real torchvision classes.
"""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from altoolkit import data as D
from altoolkit.data import loaders
from altoolkit.data import (
    CorruptDatasetError,
    DatasetNotFoundError,
    from_arrays,
    from_image_folder,
    imbalanced_counts,
    imbalanced_subset,
    load_caltech101,
    load_cifar10,
    load_cifar100,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_svhn,
    stratified_split,
)

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# --------------------------------------------------------------------------- file writers


def write_cifar10(root: Path, per_batch: int = 2, n_test: int = 3, seed: int = 0):
    """CIFAR-10's python layout: five data batches, a test batch and batches.meta, each a
    pickled dict with 'data' (N, 3072) uint8 rows (R plane, G plane, B plane) and 'labels'."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    out = {}
    for split, names in (("train", [f"data_batch_{i}" for i in range(1, 6)]), ("test", ["test_batch"])):
        xs, ys = [], []
        for name in names:
            n = per_batch if split == "train" else n_test
            x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
            y = rng.integers(0, 10, size=n).tolist()
            entry = {"batch_label": name, "labels": y, "data": x.reshape(n, 3072), "filenames": [f"{name}_{i}.png" for i in range(n)]}
            with open(folder / name, "wb") as f:
                pickle.dump(entry, f, protocol=2)
            xs.append(x)
            ys.extend(y)
        out[split] = (np.concatenate(xs), np.array(ys))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR10_NAMES, "num_cases_per_batch": per_batch, "num_vis": 3072}, f)
    return out


def write_cifar100(root: Path, n_train: int = 6, n_test: int = 4, seed: int = 1):
    """CIFAR-100's python layout: 'train', 'test' (with fine and coarse labels) and 'meta'."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        fine = rng.integers(0, 100, size=n).tolist()
        coarse = rng.integers(0, 20, size=n).tolist()
        with open(folder / split, "wb") as f:
            pickle.dump({"data": x.reshape(n, 3072), "fine_labels": fine, "coarse_labels": coarse, "filenames": [f"{i}.png" for i in range(n)]}, f, protocol=2)
        out[split] = (x, np.array(fine))
    names = [f"fine{i:02d}" for i in range(100)]
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": names, "coarse_label_names": [f"c{i}" for i in range(20)]}, f)
    out["names"] = names
    return out


def write_idx(path: Path, arr: np.ndarray) -> None:
    """The idx format of MNIST: 2 zero bytes, type 0x08 (ubyte), ndim, big-endian dims, data."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(header + arr.tobytes())


def write_mnist(root: Path, folder_name: str = "MNIST", n_train: int = 7, n_test: int = 3, seed: int = 2):
    rng = np.random.default_rng(seed)
    raw = root / folder_name / "raw"
    raw.mkdir(parents=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
        out[split] = (x, y)
    return out


def write_svhn(root: Path, n_train: int = 5, n_test: int = 4, seed: int = 3):
    """SVHN's .mat files: X (32, 32, 3, N) uint8 and y (N, 1) with 10 standing for digit 0."""
    import scipy.io

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)
        y[0, 0] = 10  # make sure the 10 -> 0 mapping is exercised
        scipy.io.savemat(str(root / f"{split}_32x32.mat"), {"X": x, "y": y})
        out[split] = (x, y)
    return out


CALTECH_COLORS = {"accordion": (200, 30, 30), "beaver": (30, 200, 30), "camera": (30, 30, 200)}


def write_caltech(root: Path, per_class: int = 5):
    """Caltech101's layout: caltech101/101_ObjectCategories/<class>/image_0001.jpg ..., plus
    BACKGROUND_Google/.  Each class is one solid colour, in JPEGs of varying sizes; the
    second 'beaver' image is grayscale (Caltech101 has some)."""
    cats = root / "caltech101" / "101_ObjectCategories"
    for cls, color in CALTECH_COLORS.items():
        (cats / cls).mkdir(parents=True)
        for i in range(1, per_class + 1):
            size = (20 + 3 * i, 15 + 2 * i)
            if cls == "beaver" and i == 2:
                img = Image.new("L", size, 128)
            else:
                img = Image.new("RGB", size, color)
            img.save(cats / cls / f"image_{i:04d}.jpg", quality=95)
    (cats / "BACKGROUND_Google").mkdir()
    Image.new("RGB", (10, 10), (0, 0, 0)).save(cats / "BACKGROUND_Google" / "image_0001.jpg")
    return cats


@pytest.fixture
def svhn_md5_skipped(monkeypatch):
    # Same as above for SVHN's MD5 check (torchvision.datasets.svhn only).
    import torchvision.datasets.svhn as tv_svhn

    monkeypatch.setattr(tv_svhn, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


def normalised(x_uint8: np.ndarray, mean, std) -> np.ndarray:
    """Independent reference of to_input: x/255, then (x - mean_c) / std_c per channel."""
    x = x_uint8.astype(np.float64) / 255.0
    return (x - np.asarray(mean)[:, None, None]) / np.asarray(std)[:, None, None]


# --------------------------------------------------------------------------- CIFAR


def test_cifar10_reads_the_real_pickle_format(tmp_path, cifar_md5_skipped):
    ref = write_cifar10(tmp_path)
    ds = load_cifar10(root=tmp_path)
    assert ds.name == "cifar10"
    assert ds.x_train.dtype == torch.uint8 and ds.x_train.shape == (10, 3, 32, 32)
    assert ds.x_test.shape == (3, 3, 32, 32) and ds.input_shape == (3, 32, 32)
    np.testing.assert_array_equal(ds.x_train.numpy(), ref["train"][0])
    np.testing.assert_array_equal(ds.y_train.numpy(), ref["train"][1])
    np.testing.assert_array_equal(ds.x_test.numpy(), ref["test"][0])
    np.testing.assert_array_equal(ds.y_test.numpy(), ref["test"][1])
    assert ds.y_train.dtype == torch.int64
    assert ds.num_classes == 10 and ds.class_names == CIFAR10_NAMES
    x = ds.to_input(ds.x_train[:4])
    assert x.dtype == torch.float32
    np.testing.assert_allclose(
        x.numpy(),
        np.stack([normalised(a, loaders.CIFAR10_MEAN, loaders.CIFAR10_STD) for a in ref["train"][0][:4]]),
        atol=1e-5,
    )


def test_cifar100_uses_fine_labels_and_names(tmp_path, cifar_md5_skipped):
    ref = write_cifar100(tmp_path)
    ds = load_cifar100(root=str(tmp_path))
    assert ds.num_classes == 100 and ds.class_names == ref["names"]
    assert ds.x_train.shape == (6, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(ds.x_train.numpy(), ref["train"][0])
    np.testing.assert_array_equal(ds.y_train.numpy(), ref["train"][1])
    np.testing.assert_array_equal(ds.y_test.numpy(), ref["test"][1])
    assert ds.mean == loaders.CIFAR100_MEAN and ds.std == loaders.CIFAR100_STD


def test_cifar_truncated_file_is_named(tmp_path, cifar_md5_skipped):
    write_cifar10(tmp_path)
    bad = tmp_path / "cifar-10-batches-py" / "test_batch"
    bad.write_bytes(bad.read_bytes()[:500])
    with pytest.raises(CorruptDatasetError) as info:
        load_cifar10(root=tmp_path)
    assert info.value.path == bad
    assert str(bad) in str(info.value) and "cannot be read" in str(info.value)
    assert "download=True" in str(info.value)


def test_cifar_batch_with_wrong_label_count_is_named(tmp_path, cifar_md5_skipped):
    write_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    entry = pickle.loads(path.read_bytes(), encoding="latin1")
    entry["labels"] = entry["labels"][:-1]
    path.write_bytes(pickle.dumps(entry))
    with pytest.raises(CorruptDatasetError, match="data_batch_3") as info:
        load_cifar10(root=tmp_path)
    assert "2 images but 1 labels" in str(info.value)


def test_cifar_checksum_failure_names_the_files(tmp_path):
    # No monkeypatch here: the real MD5 check runs and must fail on our tiny files.
    write_cifar10(tmp_path)
    with pytest.raises(CorruptDatasetError) as info:
        load_cifar10(root=tmp_path)
    message = str(info.value)
    assert "MD5" in message
    for name in ("data_batch_1", "data_batch_5", "test_batch", "batches.meta"):
        assert str(tmp_path / "cifar-10-batches-py" / name) in message


def test_failed_download_is_a_not_found_error(tmp_path, monkeypatch):
    from urllib.error import URLError

    import torchvision.datasets.cifar as tv_cifar

    def offline(*args, **kwargs):
        raise URLError("no route to host")

    # Simulates being offline without touching the network.
    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    with pytest.raises(DatasetNotFoundError) as info:
        load_cifar10(root=tmp_path, download=True)
    message = str(info.value)
    assert "could not be downloaded" in message and "no route to host" in message
    assert "cifar-10-batches-py" in message


# --------------------------------------------------------------------------- missing data

MISSING_CASES = [
    (load_cifar10, "CIFAR-10", "cifar-10-batches-py", "data_batch_1"),
    (load_cifar100, "CIFAR-100", "cifar-100-python", "meta"),
    (load_svhn, "SVHN", "", "train_32x32.mat"),
    (load_mnist, "MNIST", "MNIST/raw", "train-images-idx3-ubyte"),
    (load_fashion_mnist, "Fashion-MNIST", "FashionMNIST/raw", "t10k-labels-idx1-ubyte"),
    (load_caltech101, "Caltech101", "caltech101", "101_ObjectCategories"),
]


@pytest.mark.parametrize("loader, title, subdir, entry", MISSING_CASES, ids=[c[1] for c in MISSING_CASES])
def test_missing_dataset_says_where_and_how(tmp_path, loader, title, subdir, entry):
    root = tmp_path / "nothing_here"
    with pytest.raises(DatasetNotFoundError) as info:
        loader(root=root)
    err = info.value
    assert isinstance(err, FileNotFoundError)
    folder = root / subdir if subdir else root
    message = str(err)
    assert title in message
    assert f"looked in {folder}" in message
    assert str(folder / entry) in message  # the layout to create
    assert "download=True" in message
    assert err.folder == folder and entry in err.missing
    assert not root.exists()  # nothing was created while looking


def test_missing_dataset_through_load_dataset(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="SVHN"):
        load_dataset("svhn", root=tmp_path, download=False)


# --------------------------------------------------------------------------- MNIST family


@pytest.mark.parametrize(
    "loader, folder, first_class, mean",
    [
        (load_mnist, "MNIST", "0 - zero", loaders.MNIST_MEAN),
        (load_fashion_mnist, "FashionMNIST", "T-shirt/top", loaders.FASHION_MNIST_MEAN),
    ],
)
def test_mnist_family_reads_idx_files(tmp_path, loader, folder, first_class, mean):
    ref = write_mnist(tmp_path, folder)
    ds = loader(root=tmp_path)
    assert ds.x_train.dtype == torch.uint8 and ds.x_train.shape == (7, 1, 28, 28)
    assert ds.x_test.shape == (3, 1, 28, 28) and ds.input_shape == (1, 28, 28)
    np.testing.assert_array_equal(ds.x_train[:, 0].numpy(), ref["train"][0])
    np.testing.assert_array_equal(ds.y_train.numpy(), ref["train"][1])
    np.testing.assert_array_equal(ds.x_test[:, 0].numpy(), ref["test"][0])
    np.testing.assert_array_equal(ds.y_test.numpy(), ref["test"][1])
    assert ds.num_classes == 10 and ds.class_names[0] == first_class
    assert ds.mean == mean
    np.testing.assert_allclose(ds.to_input(ds.x_test).numpy(), np.stack([normalised(a, ds.mean, ds.std) for a in ref["test"][0][:, None]]), atol=1e-5)


def _gzip_in_place(raw: Path) -> list[Path]:
    """Replace every idx file of ``raw`` by its ``.gz`` archive, as the release ships them."""
    import gzip

    archives = []
    for path in sorted(raw.iterdir()):
        archive = path.with_name(path.name + ".gz")
        archive.write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
        archives.append(archive)
    return archives


def test_mnist_family_unpacks_the_release_archives_offline(tmp_path):
    ref = write_mnist(tmp_path, "FashionMNIST")
    raw = tmp_path / "FashionMNIST" / "raw"
    archives = _gzip_in_place(raw)
    ds = load_fashion_mnist(root=tmp_path)
    np.testing.assert_array_equal(ds.x_train[:, 0].numpy(), ref["train"][0])
    np.testing.assert_array_equal(ds.y_test.numpy(), ref["test"][1])
    assert sorted(p.name for p in raw.iterdir()) == sorted([a.name for a in archives] + [a.stem for a in archives])
    assert all(a.exists() for a in archives)  # kept, so their MD5 can still be checked


def test_mnist_family_truncated_archive_is_named_and_leaves_nothing(tmp_path):
    write_mnist(tmp_path, "FashionMNIST")
    raw = tmp_path / "FashionMNIST" / "raw"
    _gzip_in_place(raw)
    bad = raw / "train-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(CorruptDatasetError, match="cannot be unpacked") as info:
        load_fashion_mnist(root=tmp_path)
    assert info.value.path == bad
    assert not (raw / "train-images-idx3-ubyte").exists()
    assert not list(raw.glob("*.tmp"))


def test_mnist_family_unpacked_files_keep_the_archives_mode(tmp_path):
    write_mnist(tmp_path, "FashionMNIST")
    raw = tmp_path / "FashionMNIST" / "raw"
    for archive in _gzip_in_place(raw):
        archive.chmod(0o644)
    load_fashion_mnist(root=tmp_path)
    assert {(raw / n).stat().st_mode & 0o777 for n in loaders._MNIST_FILES} == {0o644}  # not mkstemp's 0600


def test_mnist_family_archive_with_other_data_names_both_files(tmp_path):
    import gzip

    write_mnist(tmp_path, "FashionMNIST")
    raw = tmp_path / "FashionMNIST" / "raw"
    _gzip_in_place(raw)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"not an idx file"))
    with pytest.raises(CorruptDatasetError, match=r"It was unpacked from .*t10k-images-idx3-ubyte\.gz: delete both") as info:
        load_fashion_mnist(root=tmp_path)
    assert info.value.path == raw / "t10k-images-idx3-ubyte"


def test_mnist_family_download_true_leaves_archives_to_torchvision(tmp_path, monkeypatch):
    """With download=True a damaged archive is torchvision's to check and fetch again, not an error."""
    import torchvision.datasets as tv

    ref = write_mnist(tmp_path, "FashionMNIST")
    raw = tmp_path / "FashionMNIST" / "raw"
    originals = {n: (raw / n).read_bytes() for n in loaders._MNIST_FILES}
    _gzip_in_place(raw)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b truncated")
    fetched = []

    def fake_download(self):  # what torchvision does online: fetch, check, unpack
        fetched.append(True)
        for name, data in originals.items():
            (raw / name).write_bytes(data)

    monkeypatch.setattr(tv.FashionMNIST, "download", fake_download)
    ds = load_fashion_mnist(root=tmp_path, download=True)
    assert fetched and ds.x_train.shape[0] == len(ref["train"][1])


def test_mnist_family_archive_in_a_folder_it_cannot_write_says_so(tmp_path, monkeypatch):
    import tempfile

    write_mnist(tmp_path)
    _gzip_in_place(tmp_path / "MNIST" / "raw")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"cannot unpack it into train-images-idx3-ubyte beside it .*\(gunzip -k\)") as info:
        load_mnist(root=tmp_path)
    assert info.value.errno == 13


def test_mnist_truncated_image_file_is_named(tmp_path):
    write_mnist(tmp_path)
    bad = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:1000])
    with pytest.raises(CorruptDatasetError) as info:
        load_mnist(root=tmp_path)
    assert info.value.path == bad and str(bad) in str(info.value)


def test_mnist_label_count_mismatch_is_named(tmp_path):
    ref = write_mnist(tmp_path)
    labels = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    write_idx(labels, ref["test"][1][:2])
    with pytest.raises(CorruptDatasetError, match="2 labels for 3 images") as info:
        load_mnist(root=tmp_path)
    assert info.value.path == labels


# --------------------------------------------------------------------------- SVHN


def test_svhn_reads_mat_files(tmp_path, svhn_md5_skipped):
    ref = write_svhn(tmp_path)
    ds = load_svhn(root=tmp_path)
    assert ds.x_train.dtype == torch.uint8 and ds.x_train.shape == (5, 3, 32, 32)
    assert ds.x_test.shape == (4, 3, 32, 32)
    x, y = ref["train"]
    np.testing.assert_array_equal(ds.x_train.numpy(), x.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(ds.y_train.numpy(), np.where(y[:, 0] == 10, 0, y[:, 0]))
    assert int(ds.y_train[0]) == 0  # SVHN's label 10 is the digit 0
    np.testing.assert_array_equal(ds.x_test.numpy(), ref["test"][0].transpose(3, 2, 0, 1))
    assert ds.class_names == [str(d) for d in range(10)] and ds.mean == loaders.SVHN_MEAN


def test_svhn_corrupt_mat_is_named(tmp_path, svhn_md5_skipped):
    write_svhn(tmp_path)
    bad = tmp_path / "test_32x32.mat"
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(CorruptDatasetError) as info:
        load_svhn(root=tmp_path)
    assert info.value.path == bad and str(bad) in str(info.value)


# --------------------------------------------------------------------------- Caltech101


def test_caltech101_layout_split_resize_and_grayscale(tmp_path):
    write_caltech(tmp_path, per_class=5)
    ds = load_caltech101(root=tmp_path, image_size=16, test_fraction=0.2, seed=0, progress=False)
    assert ds.class_names == sorted(CALTECH_COLORS)  # BACKGROUND_Google left out
    assert ds.num_classes == 3
    assert ds.x_train.dtype == torch.uint8 and ds.x_train.shape == (12, 3, 16, 16)
    assert ds.x_test.shape == (3, 3, 16, 16)
    assert ds.class_counts("test").tolist() == [1, 1, 1]  # round(0.2 * 5) per class
    assert ds.mean == loaders.IMAGENET_MEAN and ds.std == loaders.IMAGENET_STD
    gray = 0
    for x, y in zip(torch.cat([ds.x_train, ds.x_test]), torch.cat([ds.y_train, ds.y_test])):
        pixel = x.float().mean(dim=(1, 2)).numpy()
        if np.allclose(pixel, 128, atol=3):  # the grayscale beaver, turned into 3 equal channels
            assert ds.class_names[int(y)] == "beaver"
            assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
            gray += 1
        else:
            np.testing.assert_allclose(pixel, CALTECH_COLORS[ds.class_names[int(y)]], atol=4)
    assert gray == 1
    again = load_caltech101(root=tmp_path, image_size=16, test_fraction=0.2, seed=0, progress=False)
    assert torch.equal(again.x_test, ds.x_test) and torch.equal(again.y_train, ds.y_train)
    splits = {
        tuple(load_caltech101(root=tmp_path, image_size=4, test_fraction=0.2, seed=s, progress=False).x_test.float().mean(dim=(1, 2, 3)).round().tolist())
        for s in range(6)
    }
    assert len(splits) > 1  # the split depends on the seed


def test_caltech101_default_split_is_twelve_percent_per_class(tmp_path):
    write_caltech(tmp_path, per_class=25)
    ds = load_caltech101(root=tmp_path, image_size=2, progress=False)
    assert ds.class_counts("test").tolist() == [3, 3, 3]  # round(0.12 * 25)
    assert ds.class_counts("train").tolist() == [22, 22, 22]


def test_caltech101_truncated_jpeg_is_named(tmp_path):
    cats = write_caltech(tmp_path)
    bad = cats / "camera" / "image_0003.jpg"
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(CorruptDatasetError) as info:
        load_caltech101(root=tmp_path, image_size=8, progress=False)
    assert info.value.path == bad and str(bad) in str(info.value)


def test_caltech101_needs_background_folder(tmp_path):
    cats = write_caltech(tmp_path)
    (cats / "BACKGROUND_Google" / "image_0001.jpg").unlink()
    (cats / "BACKGROUND_Google").rmdir()
    with pytest.raises(CorruptDatasetError, match="BACKGROUND_Google"):
        load_caltech101(root=tmp_path, image_size=8, progress=False)


# --------------------------------------------------------------------------- image folder


def write_image_folder(root: Path, counts: dict[str, int], colors: dict[str, tuple[int, int, int]]):
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (10 + i, 7 + 2 * i), colors[cls]).save(root / cls / f"{i}.png")


FOLDER_COLORS = {"cat": (255, 0, 0), "dog": (0, 255, 0), "emu": (10, 20, 250)}


def test_image_folder_split_is_stratified_and_seeded(tmp_path):
    write_image_folder(tmp_path / "imgs", {"cat": 10, "dog": 5, "emu": 4}, FOLDER_COLORS)
    ds = from_image_folder(tmp_path / "imgs", image_size=6, test_fraction=0.2, seed=0, progress=False)
    assert ds.name == "imgs" and ds.class_names == ["cat", "dog", "emu"]
    assert ds.x_train.dtype == torch.uint8 and ds.input_shape == (3, 6, 6)
    assert ds.class_counts("test").tolist() == [2, 1, 1]
    assert ds.class_counts("train").tolist() == [8, 4, 3]
    for x, y in zip(torch.cat([ds.x_train, ds.x_test]), torch.cat([ds.y_train, ds.y_test])):
        color = torch.tensor(FOLDER_COLORS[ds.class_names[int(y)]], dtype=torch.uint8)
        assert torch.equal(x, color.view(3, 1, 1).expand(3, 6, 6))  # PNG: lossless
    # default normalisation: the train split's own per-channel statistics
    pixels = ds.x_train.numpy().astype(np.float64) / 255.0
    np.testing.assert_allclose(ds.mean, pixels.mean(axis=(0, 2, 3)), atol=1e-9)
    np.testing.assert_allclose(ds.std, pixels.std(axis=(0, 2, 3)), atol=1e-9)
    z = ds.to_input(ds.x_train).numpy()
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1.0, atol=1e-4)
    same = from_image_folder(tmp_path / "imgs", image_size=6, test_fraction=0.2, seed=0, progress=False)
    assert torch.equal(same.x_train, ds.x_train) and torch.equal(same.y_test, ds.y_test)


def test_image_folder_separate_test_root_and_grayscale(tmp_path):
    write_image_folder(tmp_path / "train", {"cat": 3, "dog": 2}, FOLDER_COLORS)
    write_image_folder(tmp_path / "test", {"cat": 1, "dog": 2}, FOLDER_COLORS)
    ds = from_image_folder(
        tmp_path / "train", image_size=(4, 5), test_root=tmp_path / "test", channels=1, mean=(0.5,), std=(0.25,), name="pets", progress=False
    )
    assert ds.name == "pets" and ds.input_shape == (1, 4, 5)
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1] and ds.y_test.tolist() == [0, 1, 1]
    red_gray = round(0.299 * 255)  # PIL's ITU-R 601-2 luma of pure red
    assert torch.all(ds.x_train[0] == red_gray)
    np.testing.assert_allclose(ds.to_input(ds.x_train[:1]).numpy(), (red_gray / 255 - 0.5) / 0.25, atol=1e-6)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="one sub-folder per class"):
        from_image_folder(tmp_path / "missing", progress=False)
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no usable images"):
        from_image_folder(tmp_path / "empty", progress=False)
    write_image_folder(tmp_path / "one", {"cat": 3}, FOLDER_COLORS)
    with pytest.raises(ValueError, match="at least 2"):
        from_image_folder(tmp_path / "one", progress=False)
    write_image_folder(tmp_path / "a", {"cat": 3, "dog": 3}, FOLDER_COLORS)
    write_image_folder(tmp_path / "b", {"cat": 1, "emu": 1}, FOLDER_COLORS)
    with pytest.raises(ValueError, match=r"only in root: \['dog'\]; only in test_root: \['emu'\]"):
        from_image_folder(tmp_path / "a", test_root=tmp_path / "b", progress=False)
    with pytest.raises(ValueError, match="channels"):
        from_image_folder(tmp_path / "a", channels=2, progress=False)
    with pytest.raises(ValueError, match="test_fraction"):
        from_image_folder(tmp_path / "a", test_fraction=1.0, progress=False)
    with pytest.raises(ValueError, match="image_size"):
        from_image_folder(tmp_path / "a", image_size=0, progress=False)
    (tmp_path / "a" / "dog" / "0.png").write_bytes(b"not a png at all")
    with pytest.raises(CorruptDatasetError, match="0.png"):
        from_image_folder(tmp_path / "a", progress=False)


def test_image_folder_through_load_dataset(tmp_path):
    write_image_folder(tmp_path / "imgs", {"cat": 10, "dog": 10}, FOLDER_COLORS)
    a = load_dataset("image_folder", seed=3, root=tmp_path / "imgs", image_size=4, progress=False)
    b = from_image_folder(tmp_path / "imgs", image_size=4, seed=3, progress=False)
    assert torch.equal(a.y_test, b.y_test) and torch.equal(a.x_train, b.x_train)
    with pytest.raises(TypeError, match="needs root="):
        load_dataset("image_folder")


# --------------------------------------------------------------------------- digits and splits


def test_digits_split_is_fixed_by_seed_and_stratified():
    a, b, c = load_digits(seed=0), load_digits(seed=0), load_digits(seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)
    assert a.n_train + a.n_test == 1797 and a.input_shape == (1, 8, 8)
    total = a.class_counts("train") + a.class_counts("test")
    from sklearn.datasets import load_digits as sklearn_digits

    np.testing.assert_array_equal(total, np.bincount(sklearn_digits().target))
    # each class is held out in the same proportion (25%) up to one sample of rounding
    assert np.all(np.abs(a.class_counts("test") - 0.25 * total) <= 1)
    assert load_digits(flat=True).input_shape == (64,)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=0)


def test_stratified_split_by_hand():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 3)
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(labels.size)]
    train, test = stratified_split(labels, 0.2, seed=4)
    # round(0.2 * n_c) per class, at least 1: 2, 1, 1
    assert np.bincount(labels[test]).tolist() == [2, 1, 1]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(labels.size))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    again = stratified_split(labels, 0.2, seed=4)
    assert np.array_equal(again[1], test)
    assert len({tuple(stratified_split(labels, 0.2, seed=s)[1]) for s in range(5)}) > 1
    with pytest.raises(ValueError, match="at least 2 samples per class"):
        stratified_split(np.array([0, 0, 1]), 0.5)
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_split(labels, 1.5)


# --------------------------------------------------------------------------- imbalance


def test_imbalanced_counts_match_disal_cifar10_recipe():
    # DISAL Section 4.3, IR = 10: airplane 500, automobile 1,000, ..., truck 5,000.
    assert imbalanced_counts(5000, 10, 10) == [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000]
    assert imbalanced_counts(100, 1, 4) == [100, 100, 100, 100]
    # by hand: low = 100/4 = 25, step (100-25)/2 = 37.5 -> 25, 62.5 -> 63, 100
    assert imbalanced_counts(100, 4, 3) == [25, 63, 100]
    with pytest.raises(ValueError, match="imbalance_ratio"):
        imbalanced_counts(100, 0.5, 3)
    with pytest.raises(ValueError, match="rarest"):
        imbalanced_counts(3, 10, 3)


def cifar_shaped(per_class: int = 5000, n_test: int = 20) -> D.ALDataset:
    """A balanced 10-class pool whose single feature is the sample's own index."""
    y = np.repeat(np.arange(10), per_class)
    y = y[np.random.default_rng(0).permutation(y.size)]
    x = np.arange(y.size, dtype=np.float32)[:, None]
    return from_arrays(x, y, np.zeros((n_test, 1), np.float32), np.arange(n_test) % 10, name="cifar10", class_names=CIFAR10_NAMES)


def test_imbalanced_subset_reproduces_the_paper_counts():
    ds = cifar_shaped()
    ir = imbalanced_subset(ds, 10, seed=0)
    assert ir.name == "cifar10_ir10"
    counts = dict(zip(ir.class_names, ir.class_counts("train").tolist()))
    assert counts == {
        "airplane": 500,
        "automobile": 1000,
        "bird": 1500,
        "cat": 2000,
        "deer": 2500,
        "dog": 3000,
        "frog": 3500,
        "horse": 4000,
        "ship": 4500,
        "truck": 5000,
    }
    assert ir.x_test is ds.x_test and ir.y_test is ds.y_test  # test split untouched
    kept = ir.x_train[:, 0].long()
    assert torch.all(kept[1:] > kept[:-1])  # distinct, in original order
    assert torch.equal(ds.y_train[kept], ir.y_train)  # each kept sample keeps its label
    again = imbalanced_subset(ds, 10, seed=0)
    other = imbalanced_subset(ds, 10, seed=1)
    assert torch.equal(again.x_train, ir.x_train) and not torch.equal(other.x_train, ir.x_train)


def test_imbalanced_subset_order_and_max():
    ds = cifar_shaped(per_class=60)
    rev = imbalanced_subset(ds, 5, max_per_class=50, order=list(reversed(CIFAR10_NAMES)))
    expected = imbalanced_counts(50, 5, 10)[::-1]  # truck rarest now
    assert rev.class_counts("train").tolist() == expected
    by_index = imbalanced_subset(ds, 5, max_per_class=50, order=list(range(9, -1, -1)))
    assert torch.equal(by_index.x_train, rev.x_train)
    assert imbalanced_subset(ds, 1).class_counts("train").tolist() == [60] * 10
    assert imbalanced_subset(ds, 2.5).name == "cifar10_ir2.5"
    numpy_args = imbalanced_subset(ds, np.int64(5), max_per_class=np.int64(50), order=np.arange(10)[::-1])
    assert torch.equal(numpy_args.x_train, rev.x_train)  # numpy scalars are accepted


def test_imbalanced_subset_validation():
    ds = cifar_shaped(per_class=60)
    with pytest.raises(ValueError, match="imbalance_ratio"):
        imbalanced_subset(ds, 0.9)
    with pytest.raises(ValueError, match=r"truck \(needs 100, has 60\)"):
        imbalanced_subset(ds, 10, max_per_class=100)
    with pytest.raises(ValueError, match="exactly once"):
        imbalanced_subset(ds, 10, order=[0, 1, 2])
    with pytest.raises(ValueError, match="not one of"):
        imbalanced_subset(ds, 10, order=["zebra"] + CIFAR10_NAMES[1:])
    with pytest.raises(TypeError, match="ALDataset"):
        imbalanced_subset("cifar10", 10)


def test_load_dataset_imbalance_by_name_and_kwarg():
    ref = imbalanced_subset(load_digits(seed=2), 10, seed=2)
    by_name = load_dataset("digits_ir10", seed=2)
    by_kwarg = load_dataset("digits", seed=2, imbalance_ratio=10)
    assert by_name.name == by_kwarg.name == "digits_ir10"
    for ds in (by_name, by_kwarg):
        assert torch.equal(ds.x_train, ref.x_train) and torch.equal(ds.y_test, ref.y_test)
    counts = by_name.class_counts("train")
    base = load_digits(seed=2).class_counts("train")
    assert counts.tolist() == imbalanced_counts(int(base.min()), 10, 10)
    with pytest.raises(ValueError, match="give one of them"):
        load_dataset("digits_ir10", imbalance_ratio=5)
    with pytest.raises(ValueError, match="need imbalance_ratio"):
        load_dataset("digits", max_per_class=10)


def test_load_dataset_validates_names_and_options():
    with pytest.raises(ValueError) as info:
        load_dataset("cifar11")
    for name in ("digits", "cifar10", "cifar100", "svhn", "caltech101", "mnist", "fashion_mnist"):
        assert name in str(info.value)
    assert set(D.DATASETS) >= {"digits", "cifar10", "cifar100", "svhn", "caltech101", "mnist", "fashion_mnist", "image_folder"}
    with pytest.raises(TypeError, match="unknown option.*colour.*allowed: seed, test_fraction"):
        load_dataset("digits", colour="red")
    with pytest.raises(TypeError, match="string"):
        load_dataset(10)
    # digits is embedded: root/download (passed by the AL loop) are accepted and ignored
    assert torch.equal(load_dataset("digits", root="anywhere", download=False).y_train, load_digits().y_train)


# --------------------------------------------------------------------------- from_arrays


def test_from_arrays_wraps_and_normalises():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6, 2, 3, 3), dtype=np.uint8)
    ds = from_arrays(x, [0, 1, 2, 0, 1, 2], x[:2], [1, 2], mean=(0.5, 0.2), std=(0.1, 0.4))
    assert ds.num_classes == 3 and ds.x_train.dtype == torch.uint8 and ds.y_train.dtype == torch.int64
    np.testing.assert_allclose(ds.to_input(ds.x_train).numpy(), np.stack([normalised(a, (0.5, 0.2), (0.1, 0.4)) for a in x]), atol=1e-5)
    f = from_arrays(np.ones((4, 3), np.float64), np.array([0, 1, 0, 1.0]), np.ones((2, 3)), [0, 1])
    assert f.x_train.dtype == torch.float32 and f.y_train.dtype == torch.int64
    assert torch.equal(f.to_input(f.x_train), f.x_train)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(y_train=[0, 1, 0]), "x_train has 4 samples but y_train has 3"),
        (dict(x_train=np.array([[np.nan, 1.0]] * 4)), "x_train contains NaN"),
        (dict(x_test=np.array([[np.inf, 1.0]] * 2)), "x_test contains NaN or infinite"),
        (dict(y_train=[0, 1, 0.5, 1]), "non-integer"),
        (dict(y_train=[0, 1, np.nan, 1]), "y_train contains NaN"),
        (dict(x_test=np.ones((2, 3))), "must match"),
        (dict(x_train=np.ones(4)), "feature axis"),
        (dict(y_train=np.zeros((4, 1))), "1-D"),
        (dict(x_test=np.ones((2, 2), np.uint8)), "both as uint8 images or both as float"),
        (dict(mean=(0.5, 0.5), std=(0.2, 0.2)), "mean/std only apply to uint8"),
        (dict(y_test=[0, 3], num_classes=3), r"labels outside 0\.\.2"),
        (dict(y_test=[-1, 0]), "labels outside"),
        (dict(x_train=np.ones((0, 2)), y_train=[]), "empty"),
        (dict(num_classes=1), "num_classes"),
    ],
)
def test_from_arrays_rejects_bad_input(change, message):
    args = dict(x_train=np.ones((4, 2)), y_train=[0, 1, 0, 1], x_test=np.ones((2, 2)), y_test=[0, 1])
    args.update(change)
    with pytest.raises((ValueError, TypeError), match=message):
        from_arrays(**args)


def test_from_arrays_rejects_bad_mean_std_and_types():
    x = np.zeros((2, 3, 2, 2), np.uint8)
    with pytest.raises(ValueError, match="mean has 1 values but the inputs have 3 channels"):
        from_arrays(x, [0, 1], x, [0, 1], mean=(0.5,), std=(0.2,))
    with pytest.raises(ValueError, match="std must be positive"):
        from_arrays(x, [0, 1], x, [0, 1], mean=(0.5,) * 3, std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match="together"):
        from_arrays(x, [0, 1], x, [0, 1], mean=(0.5,) * 3)
    with pytest.raises(TypeError, match="numeric"):
        from_arrays(np.array([["a", "b"]] * 2), [0, 1], x, [0, 1])


def test_cifar_inspection_refuses_code_in_pickles(tmp_path):
    """A tampered CIFAR batch that would run code when unpickled is refused, not executed."""
    import pickle

    from altoolkit.data.loaders import _check_cifar_file

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = tmp_path / "data_batch_1"
    bad.write_bytes(pickle.dumps({"data": Evil(), "labels": [0]}))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        _check_cifar_file(bad, "batches.meta", "label_names")
    assert not marker.exists()
