"""The ``paper`` profile, known to run: its options merge into the notebooks' own, it runs DISAL one
way in notebooks 02 and 06, and every notebook it changes executes end to end on tiny files in the
real on-disk formats (CIFAR-10/100 pickles, SVHN .mat files, Caltech101 JPEG folders, an ImageNet
ResNet-18 state dict) with the paper's networks at their real input sizes.

The notebook runs use ``--profile paper tests/paper_smoke.yaml``: the paper profile with only the
device, seeds, epochs, cycles, budgets and LiSSA depth cut down (that file says what and why).
torchvision's MD5 check of the CIFAR and SVHN files (tiny files cannot match the real digests) is
the only thing replaced, in the test process and, through a ``sitecustomize`` module on the
kernels' ``PYTHONPATH``, in the notebooks' kernels."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from altoolkit.teaching.reproduce import load_profile, merge_profiles, notebook_parameters, run_notebooks

ROOT = Path(__file__).resolve().parents[1]
NB = {p.stem[:2]: p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
SMOKE = ROOT / "tests" / "paper_smoke.yaml"
#: the notebooks whose settings the paper profile changes (01, 08 and 09 stay on digits)
PAPER_NOTEBOOKS = ("02", "03", "04", "05", "06", "07")
DATASETS = ("cifar10", "cifar100", "svhn", "caltech101")

_SITECUSTOMIZE = '''\
# written by tests/test_paper_profile.py: torchvision's MD5 check of the CIFAR and SVHN files is
# replaced by "the file exists" (tiny files cannot match the real digests); nothing else changes
import os

import torchvision.datasets.cifar as _cifar
import torchvision.datasets.svhn as _svhn

_cifar.check_integrity = lambda fpath, md5=None: os.path.isfile(fpath)
_svhn.check_integrity = lambda fpath, md5=None: os.path.isfile(fpath)
'''


def _write_cifar(folder: Path, files: dict[str, int], label_key: str, num_classes: int, seed: int) -> None:
    """Pickled dicts with 'data' (N, 3072) uint8 rows and class labels 0..C-1 in turn (every class
    of CIFAR-10 twice: DISAL's imbalanced recipe at ratio 2 keeps 1 or 2 of each)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    first = 0
    for name, n in files.items():
        x = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [(first + i) % num_classes for i in range(n)]
        first = 0 if name.startswith("test") else first + n
        entry = {"batch_label": name, label_key: labels, "data": x, "filenames": [f"{name}_{i}.png" for i in range(n)]}
        if label_key == "fine_labels":
            entry["coarse_labels"] = [i % 20 for i in range(n)]
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)


def write_tiny_datasets(root: Path) -> dict[str, Path]:
    """Tiny CIFAR-10 (20 + 6 images), CIFAR-100 (20 + 6), SVHN (20 + 6) and Caltech101 (3 classes
    of 6 JPEGs of a few sizes, plus BACKGROUND_Google) in torchvision's layouts, and a torchvision
    ResNet-18 state dict (random weights with the ImageNet file's keys and shapes) named as
    siyuhuang/TOD's ``resnet18-5c106cde.pth``."""
    import scipy.io
    import torchvision
    from PIL import Image

    _write_cifar(root / "cifar-10-batches-py", {**{f"data_batch_{i}": 4 for i in range(1, 6)}, "test_batch": 6}, "labels", 10, 0)
    with open(root / "cifar-10-batches-py" / "batches.meta", "wb") as f:
        names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        pickle.dump({"label_names": names, "num_cases_per_batch": 4, "num_vis": 3072}, f)
    _write_cifar(root / "cifar-100-python", {"train": 20, "test": 6}, "fine_labels", 100, 1)
    with open(root / "cifar-100-python" / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"fine{i:02d}" for i in range(100)], "coarse_label_names": [f"c{i}" for i in range(20)]}, f)
    rng = np.random.default_rng(2)
    for split, n in (("train", 20), ("test", 6)):
        y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)  # SVHN stores digit 0 as 10
        scipy.io.savemat(str(root / f"{split}_32x32.mat"), {"X": rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8), "y": y})
    cats = root / "caltech101" / "101_ObjectCategories"
    for c, name in enumerate(("accordion", "beaver", "camera", "BACKGROUND_Google")):
        (cats / name).mkdir(parents=True)
        for i in range(1 if name.startswith("BACKGROUND") else 6):
            pixels = rng.integers(0, 256, size=(30 + 5 * i, 40 + 3 * c, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(cats / name / f"image_{i + 1:04d}.jpg", quality=90)
    weights = root / "resnet18-5c106cde.pth"
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    return {"root": root, "weights": weights}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return write_tiny_datasets(tmp_path_factory.mktemp("paper_data"))


@pytest.fixture
def md5_skipped(monkeypatch, tmp_path):
    """In this process and in the kernels papermill starts from it."""
    import torchvision.datasets.cifar as tv_cifar
    import torchvision.datasets.svhn as tv_svhn

    exists = lambda fpath, md5=None: os.path.isfile(fpath)  # noqa: E731
    monkeypatch.setattr(tv_cifar, "check_integrity", exists)
    monkeypatch.setattr(tv_svhn, "check_integrity", exists)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))


def smoke_profile() -> dict:
    return merge_profiles("paper", str(SMOKE))
