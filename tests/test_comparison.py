import numpy as np
import pytest
import torch

import altoolkit as alt
from altoolkit.drivers.scoring_and_selection import StrategyOutcome, compare_strategies, prepare_comparison, rank_correlations


@pytest.fixture(scope="module")
def ctx(digits):
    return prepare_comparison(digits, 0.1, 0.05, alt.TrainConfig(epochs=3), seed=0, validation_size=50, progress=False)


def test_context_is_a_second_cycle(ctx, digits):
    assert ctx.previous_cycle_model is not None and ctx.validation[0].shape[0] == 50
    lab, unl = set(ctx.labeled.tolist()), set(ctx.unlabeled.tolist())
    assert set(ctx.initial_labeled.tolist()) < lab and not lab & unl
    assert len(lab) + len(unl) + 50 == digits.n_train


def test_compare_strategies_selects_like_the_strategy(ctx):
    out = compare_strategies(ctx, ["entropy", "coreset", "disal"], 20, {"disal": {"largest": False}}, progress=False)
    assert out["coreset"].scores is None and out["entropy"].scores is not None
    for name in ("entropy", "coreset"):
        direct = alt.get_strategy(name).select(ctx, 20)
        assert out[name].selected.tolist() == direct.tolist()
    flipped = alt.get_strategy("disal", largest=False).select(ctx, 20)
    assert out["disal"].selected.tolist() == flipped.tolist()
    assert all(o.seconds >= 0 for o in out.values())
    with pytest.raises(ValueError, match="budget must be an integer"):
        compare_strategies(ctx, ["entropy"], 0, progress=False)


def test_rank_correlations_orient_scores_by_selection():
    s = torch.arange(100, dtype=torch.float64)
    a = StrategyOutcome("a", torch.arange(90, 100), 0.0, s)  # selects the largest scores
    b = StrategyOutcome("b", torch.arange(90, 100), 0.0, -s)  # same picks, scored the other way (smallest first)
    c = StrategyOutcome("c", torch.arange(0, 10), 0.0, s)  # picks the other end of the pool
    names, rho = rank_correlations({"a": a, "b": b, "c": c})
    assert names == ["a", "b", "c"]
    assert np.allclose(rho, [[1, 1, -1], [1, 1, -1], [-1, -1, 1]])
