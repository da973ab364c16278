"""The pieces of the ``real`` profile (issue 25, item 5): a CPU-sized pool cut from a real image
set, and the CPU-sized network for 28x28 / 32x32 images."""

import numpy as np
import pytest
import torch

import altoolkit as alt
from altoolkit.data.subsets import pool_subset


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
