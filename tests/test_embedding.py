"""t-SNE maps (altoolkit.analysis.pool_maps), selection geometry and the first-cycle rebuild
(altoolkit.drivers.tsne_selections), and their figures (altoolkit.plotting.maps)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from scipy.spatial.distance import pdist  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402

import altoolkit as alt  # noqa: E402
from altoolkit.analysis import pool_maps  # noqa: E402
from altoolkit.drivers import tsne_selections as em  # noqa: E402
from altoolkit.plotting import maps as pm  # noqa: E402


def _blobs(n_per=30, classes=3, dim=20, sep=12.0, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, dim)) * sep
    x = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centers]).astype(np.float32)
    y = np.repeat(np.arange(classes), n_per)
    return x, y


def test_pool_features_match_the_model_directly(digits):
    model = alt.build_model("cnn", digits.input_shape, digits.num_classes, seed=3)
    idx = [17, 3, 400, 5]
    x = digits.to_input(digits.x_train[idx])
    model.eval()
    with torch.no_grad():
        emb, logits = model.embed(x).double().numpy(), model(x).double().numpy()
    np.testing.assert_allclose(pool_maps.pool_features(digits, idx, model, "embed", batch_size=3), emb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pool_maps.pool_features(digits, torch.tensor(idx), model, "logits"), logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pool_maps.pool_features(digits, idx, source="input"), x.reshape(4, -1).double().numpy())
    assert pool_maps.pool_features(digits, None, source="input").shape == (digits.n_train, 64)
    with pytest.raises(ValueError, match="needs a model"):
        pool_maps.pool_features(digits, idx, None, "embed")
    with pytest.raises(ValueError, match="source must be one of"):
        pool_maps.pool_features(digits, idx, model, "pixels")
    with pytest.raises(ValueError, match=r"indices must be dataset indices in \[0,"):
        pool_maps.pool_features(digits, [digits.n_train], model)
    with pytest.raises(TypeError, match="integer dataset indices"):
        pool_maps.pool_features(digits, [0.5, 1.0], model)


def test_tsne_is_deterministic_keeps_clusters_and_applies_pca_first():
    x, y = _blobs()
    a = pool_maps.tsne_2d(x, seed=1, perplexity=15, max_iter=300, pca_dim=5)
    b = pool_maps.tsne_2d(torch.from_numpy(x), seed=1, perplexity=15, max_iter=300, pca_dim=5)
    assert a.shape == (len(x), 2) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    # independent reference: scikit-learn run by hand on the PCA-reduced features
    reduced = PCA(n_components=5, svd_solver="full", random_state=1).fit_transform(x.astype(np.float64))
    ref = TSNE(n_components=2, perplexity=15, init="pca", learning_rate="auto", random_state=1, **{pool_maps._tsne_iter_keyword(): 300}).fit_transform(reduced)
    np.testing.assert_allclose(a, ref, rtol=1e-6, atol=1e-6)
    # well separated clusters stay separated: every point's nearest map neighbour has its class
    d = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (y[d.argmin(1)] == y).all()
    # no PCA when pca_dim is None or not smaller than the feature dimension
    np.testing.assert_array_equal(
        pool_maps.tsne_2d(x, seed=1, perplexity=15, max_iter=300, pca_dim=None), pool_maps.tsne_2d(x, seed=1, perplexity=15, max_iter=300, pca_dim=20)
    )


def test_tsne_rejects_bad_parameters():
    x, _ = _blobs(n_per=5)
    with pytest.raises(ValueError, match="perplexity"):
        pool_maps.tsne_2d(x, perplexity=len(x))
    with pytest.raises(ValueError, match="max_iter"):
        pool_maps.tsne_2d(x, perplexity=3, max_iter=100)
    with pytest.raises(ValueError, match="2-D"):
        pool_maps.tsne_2d(x[0])
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pool_maps.tsne_2d(bad, perplexity=3)
    with pytest.raises(ValueError, match="at least 3 samples"):
        pool_maps.tsne_2d(x[:2])
    with pytest.raises(ValueError, match="pca_dim"):
        pool_maps.tsne_2d(x, perplexity=3, pca_dim=1)


def test_pool_map_rows_stay_aligned_with_dataset_indices():
    x, y = _blobs(n_per=12)
    ds = alt.from_arrays(x, y, x[:6], y[:6])
    idx = np.array([30, 2, 17, 5, 11, 25, 20, 1, 33, 8, 14, 28])
    pmap = pool_maps.tsne_pool_map(ds, idx, source="input", seed=0, perplexity=4, max_iter=250)
    ref = pool_maps.tsne_2d(x[idx], seed=0, perplexity=4, max_iter=250)
    np.testing.assert_array_equal(pmap.indices, idx)
    np.testing.assert_array_equal(pmap.labels, y[idx])
    np.testing.assert_allclose(pmap.coords, ref)
    np.testing.assert_array_equal(pmap.positions([17, 30, 28]), [2, 0, 11])
    np.testing.assert_array_equal(pmap.coords_of(torch.tensor([8, 1])), pmap.coords[[9, 7]])
    with pytest.raises(ValueError, match=r"\[3\] are not among"):
        pmap.positions([17, 3])
    with pytest.raises(ValueError, match="distinct"):
        pool_maps.PoolMap(np.array([1, 1]), np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="coords"):
        pool_maps.PoolMap(np.array([1, 2]), np.zeros((3, 2)), np.zeros(2))


def test_positions_in_against_list_index():
    rng = np.random.default_rng(0)
    ref = rng.permutation(500)[:200]
    wanted = rng.choice(ref, 50, replace=False)
    assert pool_maps.positions_in(ref, wanted).tolist() == [ref.tolist().index(w) for w in wanted]
    assert pool_maps.positions_in(torch.from_numpy(ref), []).tolist() == []


def test_selection_geometry_by_hand():
    # class 0 at x = 0 and 2 (centroid 1), class 1 at x = 10 and 12 (centroid 11)
    feats = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [12.0, 0.0]])
    labels = np.array([0, 0, 1, 1])
    g = em.selection_geometry(feats, labels, [1, 2], boundary_quantile=0.5)
    # d_own = 1 everywhere; nearest other centroid: 11, 9, 9, 11
    assert g.n_selected == 2 and g.classes_covered == 2
    assert g.centroid_distance_ratio == pytest.approx(1.0)
    assert g.boundary_ratio == pytest.approx(1 / 9)
    assert g.pool_boundary_ratio == pytest.approx((2 / 11 + 2 / 9) / 4)
    assert g.boundary_fraction == 1.0 and g.pool_boundary_fraction == 0.5
    # pairwise distances in the pool: 2, 10, 12, 8, 10, 2 (mean 44/6); selected pair: 8
    assert g.spread_ratio == pytest.approx(8 / (44 / 6))
    assert np.isnan(g.class_spread_ratio)  # no class has two selected samples
    g2 = em.selection_geometry(feats, labels, [0, 1])
    assert g2.class_spread_ratio == pytest.approx(1.0) and g2.classes_covered == 1
    rel = em.relative_geometry(g)
    assert set(rel) == set(em.RELATIVE_MEASURES)
    assert rel["boundary_fraction"] == pytest.approx(2.0)
    assert rel["boundary_ratio"] == pytest.approx((1 / 9) / ((2 / 11 + 2 / 9) / 4))


def test_relative_geometry_of_random_selections_is_one_on_average():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(200, 5)) + np.repeat(rng.normal(size=(4, 5)) * 2, 50, axis=0)
    labels = np.repeat(np.arange(4), 50)
    rows = [em.relative_geometry(em.selection_geometry(feats, labels, rng.choice(200, 30, replace=False))) for _ in range(300)]
    for m in em.RELATIVE_MEASURES:
        assert np.mean([r[m] for r in rows]) == pytest.approx(1.0, abs=0.08), m
    # a selection of the pool's most boundary-like samples is all in the boundary zone
    cents = np.stack([feats[labels == c].mean(0) for c in range(4)])
    own = np.linalg.norm(feats - cents[labels], axis=1)
    dist = np.linalg.norm(feats[:, None] - cents[None], axis=2)
    dist[np.arange(200), labels] = np.inf
    ratio_order = np.argsort(-(own / dist.min(1)))
    g = em.selection_geometry(feats, labels, ratio_order[:20], boundary_quantile=0.9)
    assert g.boundary_fraction == 1.0 and g.pool_boundary_fraction == pytest.approx(0.1)


def test_compare_relative_geometry_pairs_seeds():
    a = [{"spread": 1.2, "boundary_fraction": 2.0}, {"spread": 0.8, "boundary_fraction": float("nan")}, {"spread": 1.5, "boundary_fraction": 1.0}]
    b = [{"spread": 1.0, "boundary_fraction": 3.0}, {"spread": 0.9, "boundary_fraction": 1.0}, {"spread": 1.0, "boundary_fraction": 0.5}]
    c = em.compare_relative_geometry(a, b)
    assert c["spread"] == {"mean_a": pytest.approx(3.5 / 3), "mean_b": pytest.approx(2.9 / 3), "a_higher": 2, "n": 3}
    assert c["boundary_fraction"] == {"mean_a": 1.5, "mean_b": 1.75, "a_higher": 1, "n": 2}
    with pytest.raises(ValueError, match="same seeds"):
        em.compare_relative_geometry(a, b[:2])


def test_mean_pairwise_distance_in_blocks_matches_scipy():
    x = np.random.default_rng(2).normal(size=(1500, 3))
    assert em._mean_pairwise_distance(x) == pytest.approx(pdist(x).mean(), rel=1e-10)
    assert np.isnan(em._mean_pairwise_distance(x[:1]))


def test_selection_geometry_rejects_bad_input():
    f, y = np.zeros((4, 2)), np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="distinct row positions"):
        em.selection_geometry(f, y, [0, 0])
    with pytest.raises(ValueError, match="at least one"):
        em.selection_geometry(f, y, [])
    with pytest.raises(ValueError, match="two classes"):
        em.selection_geometry(f, np.zeros(4), [0])
    with pytest.raises(ValueError, match="boundary_quantile"):
        em.selection_geometry(f, y, [0], boundary_quantile=1.0)


def test_geometry_table_lists_every_measure():
    g = em.selection_geometry(np.array([[0.0], [2.0], [10.0], [12.0]]), np.array([0, 0, 1, 1]), [1, 2])
    table = em.geometry_table({"disal": g, "mean": {"n_selected": 2.0, "spread_ratio": 1.5}})
    lines = table.splitlines()
    assert lines[0].startswith("| selection | n_selected | classes_covered |") and len(lines) == 4
    assert lines[2].startswith("| disal | 2 | 2 | 1.000 |")
    assert "| mean | 2.000 |" in lines[3] and "nan" in lines[3]
    with pytest.raises(ValueError):
        em.geometry_table({})


@pytest.mark.parametrize("strategy,validation_size", [("disal", 0), ("entropy", 40), ("coreset", 0)])
def test_first_cycle_reproduces_the_loop(digits, strategy, validation_size):
    cfg = alt.ALConfig(strategy=strategy, cycles=2, epochs=3, seed=5, validation_size=validation_size)
    record = alt.run_active_learning(cfg, dataset=digits, progress=False)
    fc = em.first_cycle(cfg, dataset=digits)
    assert fc.selected.tolist() == record["cycles"][0]["selected"]
    assert fc.test_acc == record["cycles"][0]["test_acc"]
    assert fc.labeled.tolist() == record["initial_labeled"]
    assert fc.result.history["loss"][-1] == record["cycles"][0]["final_train_loss"]
    assert set(fc.unlabeled.tolist()).isdisjoint(record["initial_labeled"] + record["validation_indices"])
    if strategy == "coreset":
        assert fc.scores is None
    else:
        assert fc.scores.shape == (len(fc.unlabeled),)
        top = torch.topk(fc.scores, len(fc.selected)).indices
        assert set(fc.unlabeled[top].tolist()) == set(fc.selected.tolist())
    assert fc.result.model is fc.model and fc.strategy.name == strategy
    # its geometry is computed on the pool it was drawn from, in its own model's features
    g, feats = em.first_cycle_geometry(fc)
    assert feats.shape[0] == len(fc.unlabeled)
    rows = [fc.unlabeled.tolist().index(i) for i in fc.selected.tolist()]
    assert g == em.selection_geometry(feats, digits.y_train[fc.unlabeled].numpy(), rows)


def test_first_cycle_scores_the_loops_candidate_subset(digits):
    """With subset_size the loop scores a seeded subset of the pool; the first cycle scores the same one."""
    cfg = alt.ALConfig(strategy="entropy", cycles=2, epochs=2, seed=5, model="mlp", subset_size=200)
    record = alt.run_active_learning(cfg, dataset=digits, progress=False)
    fc = em.first_cycle(cfg, dataset=digits)
    assert len(fc.unlabeled) == record["cycles"][0]["n_candidates"] == 200
    assert fc.selected.tolist() == record["cycles"][0]["selected"]


def test_first_cycle_rejects_bad_config(digits):
    with pytest.raises(ValueError, match="cycles must be at least 2"):
        em.first_cycle(alt.ALConfig(cycles=1, epochs=1), dataset=digits)
    with pytest.raises(TypeError, match="ALConfig"):
        em.first_cycle({"strategy": "disal"}, dataset=digits)


def test_selection_map_marks_red_blue_and_both():
    x, y = _blobs(n_per=10)
    pmap = pool_maps.PoolMap(np.arange(100, 130), x[:, :2], y)
    fig = pm.plot_selection_map(pmap, {"epoch 10": [100, 101, 102], "epoch 40": [102, 103]}, title="t")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["0", "1", "2", "epoch 10 (n=3)", "epoch 40 (n=2)", "in both (n=1)"]
    marked = {c.get_label(): c for c in ax.collections if "(n=" in c.get_label()}
    np.testing.assert_allclose(marked["epoch 10 (n=3)"].get_offsets(), x[[0, 1], :2])
    np.testing.assert_allclose(marked["epoch 40 (n=2)"].get_offsets(), x[[3], :2])
    np.testing.assert_allclose(marked["in both (n=1)"].get_offsets(), x[[2], :2])
    # selections are drawn in colours no class uses (black crosses, then white squares)
    from matplotlib.colors import to_rgb

    assert tuple(marked["epoch 10 (n=3)"].get_facecolor()[0][:3]) == to_rgb(pm.SELECTION_STYLES[0]["color"]) == (0, 0, 0)
    assert tuple(marked["epoch 40 (n=2)"].get_facecolor()[0][:3]) == to_rgb(pm.SELECTION_STYLES[1]["color"]) == (1, 1, 1)
    class_rgb = {tuple(np.round(c[:3], 6)) for c in pm.class_colors(3)}
    assert not class_rgb & {(0.0, 0.0, 0.0), (1.0, 1.0, 1.0)}
    plt.close(fig)
    with pytest.raises(ValueError, match="not among"):
        pm.plot_selection_map(pmap, {"a": [0]})
    fig = pm.plot_selection_maps({"a": pmap, "b": pmap}, {"a": [100], "b": [101, 129]}, class_names=["x", "y", "z"])
    assert [a.get_title() for a in fig.axes[:2]] == ["a (n=1)", "b (n=2)"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["x", "y", "z"]
    plt.close(fig)
    with pytest.raises(ValueError, match="no map given"):
        pm.plot_selection_maps({"a": pmap}, {"b": [100]})
    with pytest.raises(ValueError, match="class_names"):
        pm.plot_selection_maps(pmap, {"b": [100]}, class_names=["x"])


def test_geometry_bars_show_the_means():
    rel = {"a": [{"spread": 1.0, "boundary_fraction": 2.0}, {"spread": 3.0, "boundary_fraction": 2.0}], "b": [{"spread": 0.5, "boundary_fraction": 1.0}]}
    fig = pm.plot_selection_geometry(rel)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [2.0, 2.0, 0.5, 1.0]
    plt.close(fig)
    with pytest.raises(ValueError):
        pm.plot_selection_geometry({"a": []})
