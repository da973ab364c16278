"""Runtime estimates: arithmetic on the measured constants, rounding, and no estimate for a model
without a constant."""

import math

import pytest

from altoolkit.engine import estimate


def test_training_and_tsne_estimates_scale_with_units():
    one = estimate.training_seconds(100, 10, "cnn")
    assert one == pytest.approx(100 * 10 * estimate.TRAIN_SECONDS_PER_SAMPLE_EPOCH[("cnn", False)])
    assert estimate.training_seconds(200, 10, "cnn") == pytest.approx(2 * one)
    assert estimate.tsne_seconds(1000, 250) == pytest.approx(1000 * 250 * estimate.TSNE_SECONDS_PER_SAMPLE_ITER)
    assert math.isnan(estimate.training_seconds(10, 1, "resnet18_cifar"))
    with pytest.raises(ValueError, match="n_samples"):
        estimate.training_seconds(-1, 1)


def test_say_rounds_up_and_names_the_cores(capsys):
    assert "about 2 min on 2 cores" in estimate.say(61, "x")
    assert "about 10 s" in estimate.say(1, "x")
    assert "no estimate" in estimate.say(float("nan"), "x")
    assert capsys.readouterr().out.count("\n") == 3
