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
