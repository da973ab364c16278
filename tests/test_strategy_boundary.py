"""Issue 30, item 4 (strategies): what a strategy plug-in returns is checked where altoolkit
receives it, with an error naming the strategy, and a failing selection is never written into
the record: after the fault the record is byte for byte the one written after the last good
cycle, and it resumes once the strategy is fixed.  ``register_strategy`` checks its argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from altoolkit.engine.loop import ALConfig, run_active_learning
from altoolkit.strategies import STRATEGIES, SelectionContext, Strategy, register_strategy
from altoolkit.strategies.checks import StrategyOutputError, check_strategy_class

BUDGET = 67  # digits: 1347 pool samples, 5% per cycle


def _bad_positions(kind: str, n: int, budget: int):
    good = torch.arange(budget)
    return {
        "out_of_range": torch.cat([good[:-1], torch.tensor([n + 5])]),
        "negative": torch.cat([good[:-1], torch.tensor([-1])]),
        "float": good.float(),
        "bool": torch.zeros(n, dtype=torch.bool),
        "too_few": good[:-1],
        "too_many": torch.arange(budget + 1),
        "duplicate": torch.cat([good[:-1], good[:1]]),
        "two_dim": good.reshape(1, -1),
        "list": good.tolist(),
        "numpy_ok": np.arange(budget),
    }[kind]


POSITION_CASES = [
    ("out_of_range", "returned position {n5}, outside 0..{last}"),
    ("negative", "returned position -1, outside 0..{last}"),
    ("float", "returned positions of dtype torch.float32"),
    ("bool", "returned positions of dtype torch.bool"),
    ("too_few", f"returned {BUDGET - 1} positions for a budget of {BUDGET}"),
    ("too_many", f"returned {BUDGET + 1} positions for a budget of {BUDGET}"),
    ("duplicate", "returned position 0 more than once"),
    ("two_dim", f"returned positions of shape (1, {BUDGET})"),
    ("list", "returned its selection as a list"),
]


def _plugin(kind: str, fault_cycle: int):
    """A set-selection strategy that picks the first candidates, except in ``fault_cycle``."""

    class Plugin(Strategy):
        name = "plugin_" + kind
        description = "test plug-in"

        def select(self, ctx: SelectionContext, budget: int):
            if ctx.extras.get("cycle") == fault_cycle:
                return _bad_positions(kind, len(ctx.unlabeled), budget)
            return torch.arange(budget)

    return Plugin


@pytest.mark.parametrize("kind,frag", POSITION_CASES)
def test_bad_selection_is_named_and_never_written(kind, frag, monkeypatch, tmp_path):
    plugin = _plugin(kind, fault_cycle=1)
    check_strategy_class(plugin, Strategy)  # what register_strategy checks
    monkeypatch.setitem(STRATEGIES, plugin.name, plugin)
    cfg = ALConfig(strategy=plugin.name, model="mlp", cycles=3, epochs=1)
    out = tmp_path / "r.json"
    after_cycle: dict[int, bytes] = {}
    with pytest.raises(StrategyOutputError) as info:
        run_active_learning(cfg, out, progress=False, on_cycle_end=lambda e: after_cycle.__setitem__(e["cycle"], out.read_bytes()))
    n = 1347 - 135 - BUDGET  # candidates in cycle 1
    assert frag.format(n5=n + 5, last=n - 1) in str(info.value) and f"strategy {plugin.name!r}" in str(info.value)
    assert info.value.strategy == plugin.name
    assert list(after_cycle) == [0] and out.read_bytes() == after_cycle[0]  # the failing selection is not in the record
    if kind not in ("too_few", "negative", "out_of_range"):
        return  # resuming is shown for the faults that used to break it or reach the record

    class Fixed(plugin):  # the same name, fixed: the record resumes after cycle 0
        def select(self, ctx, budget):
            return torch.arange(budget)

    monkeypatch.setitem(STRATEGIES, plugin.name, Fixed)
    rec = run_active_learning(cfg, out, progress=False)
    assert rec["finished"] and [c["n_labeled"] for c in rec["cycles"]] == cfg.budgets(1347) == [135, 202, 269]


def test_numpy_positions_are_accepted(monkeypatch):
    plugin = _plugin("numpy_ok", fault_cycle=0)
    monkeypatch.setitem(STRATEGIES, plugin.name, plugin)
    rec = run_active_learning(ALConfig(strategy=plugin.name, model="mlp", cycles=2, epochs=1), progress=False)
    assert len(rec["cycles"][0]["selected"]) == BUDGET


SCORE_CASES = [
    ("one_more", lambda n: torch.zeros(n + 1), "returned scores of shape ({n1},) for {n} candidates"),
    ("two_dim", lambda n: torch.zeros(n, 2), "returned scores of shape ({n}, 2)"),
    ("nan", lambda n: torch.full((n,), float("nan")), "returned a non-finite score (nan) for candidate 0"),
    ("complex", lambda n: torch.zeros(n, dtype=torch.complex64), "returned scores of dtype torch.complex64"),
    ("list", lambda n: [0.0] * n, "returned its scores as a list"),
]


@pytest.mark.parametrize("kind,make,frag", SCORE_CASES)
def test_bad_scores_are_named(kind, make, frag, monkeypatch, tmp_path):
    class Scorer(Strategy):
        name = "scorer_" + kind
        description = "test plug-in"

        def score(self, ctx):
            return make(len(ctx.unlabeled))

    check_strategy_class(Scorer, Strategy)
    monkeypatch.setitem(STRATEGIES, Scorer.name, Scorer)
    out = tmp_path / "r.json"
    with pytest.raises(StrategyOutputError) as info:
        run_active_learning(ALConfig(strategy=Scorer.name, model="mlp", cycles=2, epochs=1), out, progress=False)
    n = 1347 - 135
    assert frag.format(n=n, n1=n + 1) in str(info.value) and f"strategy {Scorer.name!r}" in str(info.value)
    assert not out.exists()  # the only cycle that trained failed its selection: nothing saved


class _NoMethods(Strategy):
    name = "no_methods"


class _BadScore(Strategy):
    name = "bad_score"

    def score(self):
        return torch.zeros(1)


class _BadSelect(Strategy):
    name = "bad_select"

    def select(self, ctx):
        return torch.zeros(1)


class _NoName(Strategy):
    def score(self, ctx):
        return torch.zeros(1)


@pytest.mark.parametrize(
    "arg,exc,frag",
    [
        (object, TypeError, "takes a subclass of altoolkit.strategies.Strategy, got 'object'"),
        (Strategy(), TypeError, "got 'Strategy'"),
        ("random", TypeError, "got 'str'"),
        (_NoMethods, TypeError, "defines neither score(self, ctx) nor select(self, ctx, budget)"),
        (_BadScore, TypeError, "score must take (self, ctx); its signature is (self)"),
        (_BadSelect, TypeError, "select must take (self, ctx, budget); its signature is (self, ctx)"),
        (_NoName, ValueError, "must set a non-empty class attribute 'name'"),
    ],
)
def test_register_strategy_checks_its_argument(arg, exc, frag):
    before = dict(STRATEGIES)
    with pytest.raises(exc) as info:
        register_strategy(arg)
    assert frag in str(info.value)
    assert STRATEGIES == before


def test_labelling_project_checks_the_strategy_too(monkeypatch):
    """The labelling project receives a plug-in's selection the same way (checked_positions)."""
    from altoolkit.strategies.checks import checked_positions

    with pytest.raises(StrategyOutputError, match="returned position -3, outside 0..9"):
        checked_positions(torch.tensor([1, -3]), 10, 2, "mine")
    assert checked_positions(np.array([3, 1], dtype=np.int32), 10, 2, "mine").dtype == torch.int64
