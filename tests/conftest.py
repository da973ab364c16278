import os

import pytest
import torch

import altoolkit as alt


@pytest.fixture(scope="session")
def digits():
    return alt.load_digits(seed=0)


@pytest.fixture(autouse=True)
def _threads():
    # Tests compare results across runs in one process: keep the thread count fixed.
    torch.set_num_threads(min(2, torch.get_num_threads()))
    yield


@pytest.fixture
def cifar_md5_skipped(monkeypatch):
    # torchvision's CIFAR loader compares every file's MD5 with the real release.  Tiny files in
    # the real format cannot match those digests, so ONLY that check is replaced (by a plain
    # "file exists" check, in torchvision.datasets.cifar alone); the rest of the real code
    # path (pickle reading, reshaping, metadata) runs untouched.
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))
