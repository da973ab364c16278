import os

import pytest

# Under pytest-xdist (`make test` runs the suite on every core) each worker computes with ONE thread,
# and so do the processes it starts (notebook kernels, CLI and sweep subprocesses inherit this
# environment): two workers with two threads each would fight over two cores.  Set before torch is
# imported so that its thread pools start at that size.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKERS > 1:
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = "1"

import torch  # noqa: E402

import altoolkit as alt  # noqa: E402

THREADS = 1 if WORKERS > 1 else min(2, torch.get_num_threads())


@pytest.fixture(scope="session")
def digits():
    return alt.load_digits(seed=0)


@pytest.fixture(autouse=True)
def _threads():
    # Tests compare results across runs in one process: keep the thread count fixed.
    torch.set_num_threads(THREADS)
    yield


@pytest.fixture
def cifar_md5_skipped(monkeypatch):
    # torchvision's CIFAR loader compares every file's MD5 with the real release.  Tiny files in
    # the real format cannot match those digests, so ONLY that check is replaced (by a plain
    # "file exists" check, in torchvision.datasets.cifar alone); the rest of the real code
    # path (pickle reading, reshaping, metadata) runs untouched.
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))
