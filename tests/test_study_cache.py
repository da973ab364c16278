"""Notebook 09's study keeps each seed's rows on disk (altoolkit.engine.seed_rows): a rerun reads
finished seeds back, computes only the others, and never reads rows of other data or settings."""

import json

import pytest

import altoolkit as alt
from altoolkit.drivers import why_selections_collapse as ci
from altoolkit.engine.seed_rows import SeedRowCache, dataset_content_key

TINY = ci.Regime("tiny", n_labeled=32, budget=16, epochs=2, batch_size=16)


@pytest.fixture(scope="module")
def small_pool():
    ds = alt.load_digits(seed=0)
    return alt.from_arrays(ds.x_train[:200], ds.y_train[:200], ds.x_test[:100], ds.y_test[:100], num_classes=10, name="digits[:200]")


def _counting(monkeypatch, name):
    calls = []
    real = getattr(ci, name)

    def counted(*args, **kwargs):
        calls.append(args[-1] if name == "_grid_for_seed" else args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(ci, name, counted)
    return calls


def test_interventions_resume_from_cached_seeds(small_pool, tmp_path, monkeypatch):
    first = ci.run_interventions(small_pool, TINY, [0, 1], no_bn_lengths=(1,), progress=False, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("interventions-*.json"))) == 2
    calls = _counting(monkeypatch, "intervention_seed")
    again = ci.run_interventions(small_pool, TINY, [2, 0, 1], no_bn_lengths=(1,), progress=False, cache_dir=tmp_path)
    assert calls == [2]  # seeds 0 and 1 were read back
    assert again[1:] == first and again[0]["seed"] == 2
    # the rows read back equal a fresh computation without the cache
    assert ci.run_interventions(small_pool, TINY, [0, 1], no_bn_lengths=(1,), progress=False) == first


def test_a_change_of_data_regime_or_lengths_computes_afresh(small_pool, tmp_path, monkeypatch):
    ci.run_interventions(small_pool, TINY, [0], no_bn_lengths=(1,), progress=False, cache_dir=tmp_path)
    calls = _counting(monkeypatch, "intervention_seed")
    ci.run_interventions(small_pool, TINY, [0], no_bn_lengths=(1, 2), progress=False, cache_dir=tmp_path)
    other_regime = ci.Regime("tiny", n_labeled=32, budget=8, epochs=2, batch_size=16)
    ci.run_interventions(small_pool, other_regime, [0], no_bn_lengths=(1,), progress=False, cache_dir=tmp_path)
    y = small_pool.y_train.clone()
    y[:5] = (y[:5] + 1) % 10
    relabeled = alt.from_arrays(small_pool.x_train, y, small_pool.x_test, small_pool.y_test, num_classes=10, name="digits[:200]")
    ci.run_interventions(relabeled, TINY, [0], no_bn_lengths=(1,), progress=False, cache_dir=tmp_path)
    assert calls == [0, 0, 0]
    assert len(list(tmp_path.glob("interventions-*.json"))) == 4


def test_undertraining_grid_resumes_per_seed(small_pool, tmp_path, monkeypatch):
    args = (small_pool, [20], [2], [0, 1])
    first = ci.run_undertraining(*args, budget=8, batch_size=8, progress=False, cache_dir=tmp_path)
    calls = _counting(monkeypatch, "_grid_for_seed")
    assert ci.run_undertraining(*args, budget=8, batch_size=8, progress=False, cache_dir=tmp_path) == first
    assert calls == []
    ci.run_undertraining(*args, budget=4, batch_size=8, progress=False, cache_dir=tmp_path)
    assert calls == [0, 1]


def test_a_file_that_is_not_its_seeds_rows_is_an_error_naming_it(tmp_path):
    cache = SeedRowCache(tmp_path, "interventions", {"version": 1})
    path = cache.store(4, [{"seed": 4}])
    data = json.loads(path.read_text())
    data["seed"] = 5
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=str(path.name)):
        cache.load(4)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="delete it"):
        cache.load(4)


def test_rows_with_nan_are_not_stored_and_a_file_is_no_cache_dir(small_pool, tmp_path):
    cache = SeedRowCache(tmp_path, "demo", {})
    assert cache.store(0, [{"x": float("nan")}]) is None and cache.load(0) is None
    not_a_folder = tmp_path / "f.txt"
    not_a_folder.write_text("x")
    with pytest.raises(ValueError, match="cache_dir must be a folder"):
        ci.run_interventions(small_pool, TINY, [0], progress=False, cache_dir=not_a_folder)


def test_content_key_ignores_the_name_and_sees_the_pixels(small_pool):
    renamed = alt.from_arrays(small_pool.x_train, small_pool.y_train, small_pool.x_test, small_pool.y_test, num_classes=10, name="other")
    assert dataset_content_key(renamed) == dataset_content_key(small_pool)
    x = small_pool.x_train.clone()
    x[0] = x[0] + 1
    moved = alt.from_arrays(x, small_pool.y_train, small_pool.x_test, small_pool.y_test, num_classes=10)
    assert dataset_content_key(moved)["sha256"] != dataset_content_key(small_pool)["sha256"]
