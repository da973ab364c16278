"""Checkpoint fluctuation (DISAL Fig. 1): per-epoch selections, Jaccard overlaps, overlap vs rate."""

import itertools
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import altoolkit as alt  # noqa: E402
from altoolkit.drivers import checkpoint_fluctuation as fl  # noqa: E402
from altoolkit.plotting import maps as pm  # noqa: E402
from altoolkit.analysis.pool_maps import PoolMap  # noqa: E402
from altoolkit.util.seeds import derive_seed  # noqa: E402
from altoolkit.strategies import SelectionContext, get_strategy  # noqa: E402
from altoolkit.strategies.tracin import evenly_spaced_epochs  # noqa: E402


@pytest.fixture(scope="module")
def small():
    """Three overlapping Gaussian classes in 10-D: predictions stay uncertain for a while."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 10)) * 1.5
    y = np.repeat(np.arange(3), 50)
    x = (centers[y] + rng.normal(size=(150, 10))).astype(np.float32)
    yt = np.repeat(np.arange(3), 10)
    xt = (centers[yt] + rng.normal(size=(30, 10))).astype(np.float32)
    return alt.from_arrays(x, y, xt, yt)


CFG = alt.TrainConfig(epochs=6, batch_size=16, lr=0.05, lr_schedule="constant")


def test_selection_at_epoch_e_equals_training_stopped_at_e(small):
    """θ_e and θ_{e-1} of the long run equal the last two epochs of a run of e epochs (constant lr),
    so the DISAL score at a checkpoint is exactly DISAL on the shorter training."""
    run = fl.train_checkpoint_run(small, [1, 3, 6], 0.3, CFG, model="mlp", seed=4, strategies=["disal"], progress=False)
    assert run.result.history["dynamic_loss"][1] > 0, "disal as first strategy trains with the dynamic loss"
    assert run.config.dynamic_weight == 1.0 and run.config.epochs == 6
    kl = fl.checkpoint_scores(run, "disal")
    ent = fl.checkpoint_scores(run, "entropy")
    for e in (1, 3, 6):
        net = alt.build_model("mlp", small.input_shape, 3, seed=derive_seed(4, 1))
        ref = alt.train_model(
            net, small.x_train[run.labeled], small.y_train[run.labeled], replace(CFG, epochs=e, dynamic_weight=1.0), seed=derive_seed(4, 2), progress=False
        )
        ctx = SelectionContext(small, ref.model, run.labeled, run.unlabeled, train_result=ref)
        torch.testing.assert_close(kl[e], get_strategy("disal").score(ctx), rtol=1e-5, atol=1e-7)
        with torch.no_grad():
            p = torch.softmax(ref.model(small.x_train[run.unlabeled]), 1)
        torch.testing.assert_close(ent[e], -(p * p.log()).sum(1), rtol=1e-5, atol=1e-6)
    # θ_0 for epoch 1 is the initial weights
    init = alt.build_model("mlp", small.input_shape, 3, seed=derive_seed(4, 1)).state_dict()
    view = run.train_view(1)
    assert all(torch.equal(view.prev_state[k], init[k]) for k in init)
    assert view.history["epoch"] == [1] and run.train_view(3).history["epoch"] == [1, 2, 3]
    assert set(run.test_accuracy()) == {1, 3, 6}
    assert len(run.labeled) == 45 and len(run.unlabeled) == 105


def test_selections_are_the_top_of_the_scores_and_random_differs_per_epoch(small):
    run = fl.train_checkpoint_run(small, [2, 4], 0.3, CFG, model="mlp", seed=1, progress=False)
    assert run.result.history["dynamic_loss"] == [0.0] * 6 and run.config.dynamic_weight == 0.0
    sel = fl.checkpoint_selections(run, "margin", rate=0.1)
    scores = fl.checkpoint_scores(run, "margin")
    for e in (2, 4):
        assert len(sel[e]) == round(0.1 * 105) == 10
        assert set(sel[e].tolist()) == set(run.unlabeled[torch.topk(scores[e], 10).indices].tolist())
    rnd = fl.checkpoint_selections(run, "random", budget=20)
    assert set(rnd[2].tolist()) != set(rnd[4].tolist())
    assert torch.equal(rnd[2], fl.checkpoint_selections(run, "random", budget=20)[2])
    core = fl.checkpoint_selections(run, "coreset", budget=5, epochs=[4])
    assert list(core) == [4] and set(core[4].tolist()) <= set(run.unlabeled.tolist())
    with pytest.raises(ValueError, match="no per-sample scores"):
        fl.checkpoint_scores(run, "coreset")
    with pytest.raises(ValueError, match="exactly one of rate"):
        fl.checkpoint_selections(run, "margin", rate=0.1, budget=3)
    with pytest.raises(ValueError, match="rate"):
        fl.checkpoint_selections(run, "margin", rate=1.5)
    with pytest.raises(ValueError, match="recorded epochs"):
        run.context(3)
    with pytest.raises(ValueError, match="was not kept"):
        run.state(5)
    with pytest.raises(ValueError, match="options can only be given"):
        fl.checkpoint_scores(run, get_strategy("disal"), options={"largest": False})


def test_tracin_replays_the_checkpoints_of_a_shorter_run(small):
    tr = get_strategy("tracin", checkpoints=2)
    run = fl.train_checkpoint_run(small, [4, 6], 0.3, CFG, model="mlp", seed=2, strategies=[tr], progress=False)
    assert sorted(run.train_view(4, tr).checkpoints) == evenly_spaced_epochs(4, 2) == [2, 4]
    assert sorted(run.train_view(6, tr).checkpoints) == [3, 6]
    assert set(fl.checkpoint_scores(run, tr)) == {4, 6}
    bare = fl.train_checkpoint_run(small, [4], 0.3, CFG, model="mlp", seed=2, evaluate=False, progress=False)
    with pytest.raises(ValueError, match="strategies="):
        bare.context(4, tr)
    with pytest.raises(ValueError, match="without evaluation"):
        bare.test_accuracy()


def test_train_checkpoint_run_rejects_bad_input(small):
    with pytest.raises(ValueError, match="at most config.epochs"):
        fl.train_checkpoint_run(small, [7], config=CFG, model="mlp", progress=False)
    with pytest.raises(ValueError, match="at least one epoch"):
        fl.train_checkpoint_run(small, [], model="mlp", progress=False)
    with pytest.raises(ValueError, match=r"epochs\[i\]"):
        fl.train_checkpoint_run(small, [0, 2], model="mlp", progress=False)
    with pytest.raises(ValueError, match="dynamic_weight"):
        fl.train_checkpoint_run(small, [2], model="mlp", dynamic_weight=-1.0, progress=False)
    with pytest.raises(TypeError, match="strategy name"):
        fl.train_checkpoint_run(small, [2], model="mlp", strategies=[3], progress=False)


def test_jaccard_matrix_matches_python_sets():
    rng = np.random.default_rng(3)
    subsets = {e: rng.choice(40, size=rng.integers(1, 15), replace=True) for e in range(6)}
    subsets[6] = np.array([], dtype=np.int64)
    subsets[7] = torch.tensor([1, 2, 3])
    m = fl.jaccard_matrix(subsets)
    keys = list(subsets)
    for i, j in itertools.product(range(len(keys)), repeat=2):
        a, b = set(np.asarray(subsets[keys[i]]).tolist()), set(np.asarray(subsets[keys[j]]).tolist())
        ref = 1.0 if not (a | b) else len(a & b) / len(a | b)
        assert m[i, j] == pytest.approx(ref) == fl.jaccard(subsets[keys[i]], subsets[keys[j]])
    assert np.allclose(m, m.T) and np.allclose(np.diag(m), 1.0)
    assert fl.mean_offdiagonal(np.array([[1, 0.2], [0.4, 1]])) == pytest.approx(0.3)
    assert np.isnan(fl.mean_offdiagonal(np.ones((1, 1))))
    with pytest.raises(ValueError, match="square"):
        fl.mean_offdiagonal(np.ones((2, 3)))
    with pytest.raises(TypeError, match="integer indices"):
        fl.jaccard_matrix([[0.5, 1.5]])
    with pytest.raises(ValueError, match="at least one subset"):
        fl.jaccard_matrix({})


def test_expected_random_jaccard_by_enumeration_and_simulation():
    n, k = 7, 3
    subs = list(itertools.combinations(range(n), k))
    brute = np.mean([len(set(a) & set(b)) / len(set(a) | set(b)) for a in subs for b in subs])
    assert fl.expected_random_jaccard(n, k) == pytest.approx(brute, rel=1e-12)
    assert fl.expected_random_jaccard(5, 5) == 1.0
    rng = np.random.default_rng(0)
    sim = np.mean([fl.jaccard(rng.choice(1000, 100, replace=False), rng.choice(1000, 100, replace=False)) for _ in range(2000)])
    assert fl.expected_random_jaccard(1000, 100) == pytest.approx(sim, abs=0.003)
    assert fl.expected_random_jaccard(1000, 100) == pytest.approx(0.1 / 1.9, abs=0.002)
    with pytest.raises(ValueError, match="k must be"):
        fl.expected_random_jaccard(10, 11)


def test_overlap_vs_rate_against_manual_top_k():
    gen = torch.Generator().manual_seed(0)
    base = torch.rand(200, generator=gen)
    scores = {5: base + 0.3 * torch.rand(200, generator=gen), 10: base + 0.3 * torch.rand(200, generator=gen), 20: torch.rand(200, generator=gen)}
    rates = [0.05, 0.1, 0.25]
    cv = fl.overlap_vs_rate(scores, rates)
    assert cv.epochs == [5, 10, 20] and cv.sizes.tolist() == [10, 20, 50]
    for r, k, mean, lo, hi, rnd in zip(rates, cv.sizes, cv.mean_jaccard, cv.min_jaccard, cv.max_jaccard, cv.random_jaccard):
        tops = [set(np.argsort(-s.numpy())[:k].tolist()) for s in scores.values()]
        pairs = [len(a & b) / len(a | b) for a, b in itertools.combinations(tops, 2)]
        assert mean == pytest.approx(np.mean(pairs)) and lo == pytest.approx(min(pairs)) and hi == pytest.approx(max(pairs))
        assert rnd == pytest.approx(fl.expected_random_jaccard(200, k))
        assert cv.matrices[r].shape == (3, 3)
    # the correlated epochs 5 and 10 overlap more than either does with the unrelated epoch 20
    m = cv.matrices[0.25]
    assert m[0, 1] > max(m[0, 2], m[1, 2])
    # identical scores: identical subsets at every rate
    same = fl.overlap_vs_rate({1: base, 2: base.clone()}, rates)
    assert np.allclose(same.mean_jaccard, 1.0)
    # the strategy's own rule: DISAL with largest=False takes the SMALLEST scores
    low = fl.overlap_vs_rate(scores, [0.1], strategy=get_strategy("disal", largest=False))
    tops = {e: set(np.argsort(s.numpy())[:20].tolist()) for e, s in scores.items()}
    assert set(low.subsets[0.1][5].tolist()) == tops[5]
    with pytest.raises(ValueError, match="same pool"):
        fl.overlap_vs_rate({1: base, 2: base[:10]})
    with pytest.raises(ValueError, match="at least two epochs"):
        fl.overlap_vs_rate({1: base})
    with pytest.raises(ValueError, match="at least one selection rate"):
        fl.overlap_vs_rate(scores, [])
    with pytest.raises(ValueError, match=r"rates\[i\]"):
        fl.overlap_vs_rate(scores, [0.0])
    fig = pm.plot_overlap_vs_rate({"a": cv, "b": same})
    assert len(fig.axes[0].get_lines()) == 4  # two strategies, the random baseline, the line at 1
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), cv.mean_jaccard)
    plt.close(fig)
    with pytest.raises(ValueError):
        pm.plot_overlap_vs_rate({})


def test_epoch_drawer_draws_each_epoch_and_closes_the_last_figure():
    rng = np.random.default_rng(0)
    pmap = PoolMap(np.arange(50), rng.normal(size=(50, 2)), np.arange(50) % 3)
    subsets = {5: torch.tensor([1, 2, 3, 4]), 10: torch.tensor([3, 4, 5, 6]), 40: torch.tensor([7])}
    draw = pm.epoch_drawer(pmap, subsets, ["a", "b", "c"], reference_epoch=5)
    plt.close("all")
    f10 = draw(10)
    assert "epoch 10" in f10.axes[0].get_title() and "Jaccard with epoch 5: 0.33" in f10.axes[0].get_title()
    labels = [t.get_text() for t in f10.axes[0].get_legend().get_texts()]
    assert labels == ["a", "b", "c", "epoch 10 (n=4)", "epoch 5 (n=4)", "in both (n=2)"]
    f5 = draw(5)
    assert len(plt.get_fignums()) == 1 and plt.figure(f5.number) is f5  # f10 was closed
    assert "Jaccard" not in f5.axes[0].get_title()
    plt.close(f5)
    with pytest.raises(ValueError, match="epoch must be one of"):
        draw(7)
    with pytest.raises(ValueError, match="reference_epoch"):
        pm.epoch_drawer(pmap, subsets, reference_epoch=3)
    with pytest.raises(ValueError, match="not among"):
        pm.epoch_drawer(pmap, {1: [99]})
    fig = pm.plot_jaccard_matrix([5, 10, 40], fl.jaccard_matrix(subsets))
    assert fig.axes[0].images[0].get_array()[0, 1] == pytest.approx(2 / 6)
    plt.close(fig)
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        pm.plot_jaccard_matrix([1, 2], np.ones((3, 3)))
