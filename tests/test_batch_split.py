"""How an epoch is cut into batches (``TrainConfig.batch_split``) and notebook 06's study of it
(``batch_split_study``)."""

import pytest
import torch

import altoolkit as alt
from altoolkit.drivers.active_learning_benchmark import batch_split_study
from altoolkit.engine.sweep import config_hash
from altoolkit.training.fresh_model import train_fresh
from altoolkit.training.train import epoch_batches


@pytest.mark.parametrize("n", [1, 3, 63, 64, 65, 67, 127, 128, 129, 1000])
@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_both_cuts_cover_every_sample_once_in_as_many_batches(n, batch_size):
    fixed, even = epoch_batches(n, batch_size, "fixed"), epoch_batches(n, batch_size, "even")
    for bounds in (fixed, even):
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))  # contiguous, no overlap
    assert len(fixed) == len(even) == -(-n // batch_size)
    assert all(b - a == batch_size for a, b in fixed[:-1])  # DataLoader's cut: full batches, then the rest
    sizes = [b - a for a, b in even]
    assert max(sizes) - min(sizes) <= 1 and max(sizes) <= batch_size
    if n % batch_size == 0 or n <= batch_size:
        assert fixed == even


def test_epoch_batches_refuses_bad_input():
    with pytest.raises(ValueError, match="batch_split"):
        epoch_batches(10, 4, "drop")
    with pytest.raises(ValueError, match="batch_size"):
        epoch_batches(10, 0)


def test_even_cut_trains_identically_where_the_batches_agree_and_differently_otherwise(digits):
    def weights(n, split):
        cfg = alt.TrainConfig(epochs=2, batch_size=32, batch_split=split)
        return train_fresh("mlp", digits, torch.arange(n), cfg, 0, 1, progress=False).model.head.weight

    assert torch.equal(weights(64, "fixed"), weights(64, "even"))
    assert not torch.equal(weights(65, "fixed"), weights(65, "even"))


def test_the_dynamic_loss_trains_with_an_even_cut(digits):
    cfg = alt.TrainConfig(epochs=3, batch_size=32, batch_split="even", dynamic_weight=1.0)
    res = train_fresh("mlp", digits, torch.arange(70), cfg, 0, 1, progress=False)
    assert res.running_mean is not None and all(torch.isfinite(torch.tensor(res.history["dynamic_loss"])))


def test_batch_split_keeps_the_hashes_of_runs_that_do_not_set_it():
    base = alt.ALConfig(strategy="random")
    assert "batch_split" not in base.to_dict()
    assert config_hash(alt.ALConfig(strategy="random", batch_split="fixed")) == config_hash(base)
    even = alt.ALConfig(strategy="random", batch_split="even")
    assert even.train.batch_split == "even" and even.to_dict()["batch_split"] == "even"
    assert config_hash(even) != config_hash(base)


def test_the_cli_takes_batch_split():
    from altoolkit.cli import build_parser

    args = build_parser().parse_args(["al", "--strategy", "random", "--batch-split", "even", "--out", "x.json"])
    assert args.batch_split == "even"


def test_batch_split_study_pairs_the_two_cuts(digits):
    study = batch_split_study(digits, [32, 33], [0, 1, 2], model="mlp", epochs=2, batch_size=32, progress=False)
    assert study.sizes == [32, 33] and study.last_batch(33) == 1 and study.last_batch(32) == 32
    assert study.same_batches(32) and not study.same_batches(33)
    assert study.max_gap_where_same() == 0.0  # one batch of 32 either way: the same training
    assert set(study.accuracy) == {"fixed", "even"} and all(len(study.accuracy[s][33]) == 3 for s in study.accuracy)
    assert study.verdict(33).n == 3 and study.verdict(33).verdict in ("holds", "contradicted", "inconclusive")
    table = study.table()
    assert "same batches" in table and "even > fixed" in table
    again = batch_split_study(digits, [33], [1], model="mlp", epochs=2, batch_size=32, progress=False)
    assert again.accuracy["even"][33][1] == study.accuracy["even"][33][1]  # deterministic per (seed, size)


def test_batch_split_study_loads_a_named_dataset_per_seed_and_refuses_bad_input(digits):
    study = batch_split_study("digits", [40], [0], model="mlp", epochs=1, batch_size=32, progress=False)
    assert 0.0 <= study.accuracy["fixed"][40][0] <= 1.0
    with pytest.raises(TypeError, match="dataset"):
        batch_split_study(object(), [40], [0])
    with pytest.raises(ValueError, match="sizes"):
        batch_split_study(digits, [0], [0])
    with pytest.raises(ValueError, match="sizes and seeds"):
        batch_split_study(digits, [40], [])


def test_plot_batch_split_study(digits):
    study = batch_split_study(digits, [32, 33], [0, 1], model="mlp", epochs=1, batch_size=32, progress=False)
    fig = alt.plotting.curves.plot_batch_split_study({"mlp": study})
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="studies"):
        alt.plotting.curves.plot_batch_split_study({})


def test_same_batches_follows_the_cut_itself():
    """13 samples at batch 7 are 7 + 6 under both cuts: a remainder that is not small is not a difference."""
    from altoolkit.drivers.active_learning_benchmark import BatchSplitStudy

    study = BatchSplitStudy([], [], 7, {})
    assert study.same_batches(13) and study.same_batches(14) and study.same_batches(5)
    assert not study.same_batches(15) and study.last_batch(15) == 1
