"""The one statistics path: AULC, paired differences, intervals, verdicts, Spearman."""

import numpy as np
import pytest
from scipy import stats as st

from altoolkit.math import stats


def test_aulc_constant_curve_is_its_accuracy_and_trapezoid_otherwise():
    assert stats.area_under_curve([0.1, 0.15, 0.4], [0.7, 0.7, 0.7]) == pytest.approx(0.7)
    # trapezoid: (0.5+0.7)/2*0.1 + (0.7+0.9)/2*0.2 over 0.3
    assert stats.area_under_curve([0.1, 0.2, 0.4], [0.5, 0.7, 0.9]) == pytest.approx((0.06 + 0.16) / 0.3)
    assert stats.area_under_curve([0.1, 0.2], np.array([[0.5, 0.7], [0.1, 0.3]])).shape == (2,)
    with pytest.raises(ValueError, match="strictly increasing"):
        stats.area_under_curve([0.2, 0.1], [0.5, 0.5])


def test_t_interval_matches_scipy():
    d = np.array([0.3, -0.1, 0.5, 0.2, 0.4, 0.1])
    lo, hi = stats.confidence_interval(d)
    ref = st.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=st.sem(d))
    assert (lo, hi) == pytest.approx(ref)


def test_bootstrap_is_seeded_and_close_to_t_for_many_seeds():
    rng = np.random.default_rng(1)
    d = rng.normal(0.5, 1.0, size=200)
    a = stats.confidence_interval(d, method="bootstrap", bootstrap_seed=3)
    b = stats.confidence_interval(d, method="bootstrap", bootstrap_seed=3)
    assert a == b
    t = stats.confidence_interval(d)
    assert a == pytest.approx(t, abs=0.05)


@pytest.mark.parametrize(
    "diffs, expected",
    [
        ([0.01, 0.02, 0.015, 0.012], "holds"),
        ([-0.01, -0.02, -0.015], "contradicted"),
        ([0.01, -0.02, 0.015], "inconclusive"),
        ([0.05], "inconclusive"),  # one seed: no interval
        ([0.0, 0.0, 0.0], "inconclusive"),  # interval [0, 0] is not above 0
        ([0.02, 0.02, 0.02], "holds"),  # identical positive differences: interval [0.02, 0.02]
    ],
)
def test_three_valued_verdicts(diffs, expected):
    v = stats.verdict(diffs, "A > B")
    assert v.verdict == expected
    assert v.verdict in stats.VERDICTS
    assert v.n == len(diffs)
    assert expected in v.text()


def test_verdict_text_names_interval_seeds_and_wins():
    v = stats.verdict([0.01, 0.03, -0.01, 0.02], "A > B")
    t = v.text()
    assert "4 seeds" in t and "3/4 wins" in t and "95% t interval" in t
    vb = stats.verdict([0.01, 0.03, -0.01, 0.02], "A > B", method="bootstrap", bootstrap_seed=7)
    assert "bootstrap, seed 7" in vb.text() and vb.bootstrap_seed == 7


def test_compare_pairs_by_seed():
    v = stats.compare({0: 0.9, 1: 0.8, 2: 0.85, 5: 0.1}, {0: 0.8, 1: 0.7, 2: 0.8, 9: 0.9}, "A > B")
    assert v.n == 3 and v.wins == 3
    with pytest.raises(ValueError, match="share no seed"):
        stats.compare({0: 1.0}, {1: 1.0})


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="confidence"):
        stats.confidence_interval([1, 2], confidence=95)
    with pytest.raises(ValueError, match="method"):
        stats.confidence_interval([1, 2], method="z")
    with pytest.raises(ValueError, match="finite"):
        stats.confidence_interval([1, float("nan")])


def test_spearman_is_scipys_with_average_ties():
    a = [1, 2, 2, 3, 5, 4]
    b = [2, 1, 3, 3, 6, 5]
    assert stats.spearman(a, b) == pytest.approx(st.spearmanr(a, b).statistic)
    assert np.isnan(stats.spearman([1, 1, 1], [1, 2, 3]))
    import torch

    assert stats.spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 2.0, 1.0])) == -1.0
