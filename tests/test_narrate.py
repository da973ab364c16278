"""Generated prose: the words follow the numbers (issue 14: 03's 'closest relative' sentence)."""

import numpy as np
import pytest

from altoolkit.analysis import narrate


def test_correlation_phrase_follows_the_sign_and_size():
    assert narrate.correlation_phrase(0.04).startswith("nearly uncorrelated")
    assert narrate.correlation_phrase(0.9).startswith("strongly correlated")
    assert narrate.correlation_phrase(0.3).startswith("positively correlated")
    assert narrate.correlation_phrase(-0.3).startswith("anti-correlated")
    assert narrate.correlation_phrase(-0.8).startswith("strongly anti-correlated")
    assert "+0.04" in narrate.correlation_phrase(0.04)
    with pytest.raises(ValueError, match="weak"):
        narrate.correlation_phrase(0.5, weak=0.8, strong=0.7)


def test_rank_map_reading_names_the_largest_entry_not_the_oracle():
    names = ["disal", "entropy", "gradnorm", "ce_difference", "margin"]
    rho = np.eye(5)
    sym = {(0, 1): 0.61, (0, 3): 0.04, (1, 2): 0.02, (0, 2): 0.1, (1, 4): 0.95, (0, 4): 0.5, (2, 3): 0, (2, 4): 0, (3, 4): 0, (1, 3): 0}
    for (i, j), v in sym.items():
        rho[i, j] = rho[j, i] = v
    text = narrate.rank_map_reading(names, rho)
    assert "closest to **entropy**" in text
    assert "number 4 of 4" in text and "nearly uncorrelated (ρ = +0.04)" in text
    assert "**AL-GradNorm** and entropy are nearly uncorrelated (ρ = +0.02)" in text
    with pytest.raises(ValueError, match="rho must be"):
        narrate.rank_map_reading(names, np.eye(3))


def test_ratio_and_overlap_readings():
    assert narrate.ratio_phrase(0.4, 0.05).startswith("clearly above")
    assert narrate.ratio_phrase(0.051, 0.05).startswith("close to")
    assert narrate.ratio_phrase(0.01, 0.05).startswith("clearly below")
    assert narrate.compare_phrase(2, 1) == "higher than" and narrate.compare_phrase(1, 1.001) == "about equal to"

    class Curve:
        rates, mean_jaccard, random_jaccard = [0.05, 0.1], [0.3, 0.06], [0.03, 0.05]

    assert "at 10%: Jaccard 0.060 against 0.050" in narrate.overlap_reading({"entropy": Curve()}, 0.1)
