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
    monkeypatch.setattr(ci, "intervention_seed", lambda dataset, regime, seed, no_bn_lengths: {"seed": seed})  # the key is under test
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
    with pytest.warns(UserWarning, match=r"seed 0 hold a non-finite number \(\[0\]\.x\)"):
        assert cache.store(0, [{"x": float("nan")}]) is None
    assert cache.load(0) is None
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


def _synthetic_rows(folder, seeds, collapse: float):
    """Intervention rows whose DISAL share exceeds random's by about ``collapse`` (every
    intervention at DISAL's share), written as notebook 09 writes them."""
    key = {
        "version": ci.STUDY_ROWS_VERSION,
        "dataset": {"sha256": "ab" * 32, "n_train": 200, "num_classes": 10, "mean": None, "std": None},
        "regime": TINY.to_dict(),
        "no_bn_lengths": [1],
    }
    cache = SeedRowCache(folder, "interventions", key, label={"dataset": "digits[:200]", "study": "tiny"})
    for s in seeds:
        wobble = 0.01 * ((s % 3) - 1)
        row = {"seed": s, "share_random": 0.2 + wobble, "acc_base": 0.5, "acc_no_bn_matched": 0.5 + wobble}
        row.update({f"share_{v}": 0.2 + collapse for v in ci.VARIANTS if v != "random"})
        row.update({"picks_error_spearman": 0.1 + wobble, "pseudo_share": 0.3 + collapse})
        cache.store(s, row)


def test_study_verdicts_are_recomputed_from_the_files_and_paired_between_runs(tmp_path):
    from altoolkit.drivers.rerun_agreement import study_agreement

    _synthetic_rows(tmp_path / "a", range(6), 0.5)
    _synthetic_rows(tmp_path / "b", range(10, 16), -0.1)
    verdicts = ci.study_verdicts(tmp_path / "a")
    (section,) = verdicts
    assert section.startswith("09 interventions, tiny: 32 labels, batch 16, 2 epochs, top-16 (digits[:200], 200 pool images, key ")
    assert verdicts[section]["collapse"].verdict == "holds" and verdicts[section]["collapse"].n == 6
    changes = {p.claim.split(":")[0]: p.change for p in study_agreement(tmp_path / "a", tmp_path / "b").pairs}
    assert changes["collapse"] == "flip" and changes["picks_follow_errors"] == "same"
    assert study_agreement(tmp_path / "a", tmp_path / "none").count("first run only") == len(verdicts[section])


def test_study_verdicts_of_a_real_computation_match_the_rows(small_pool, tmp_path):
    rows = ci.run_interventions(small_pool, TINY, [0, 1, 2], no_bn_lengths=(1,), progress=False, cache_dir=tmp_path)
    curve = ci.run_undertraining(small_pool, [20], [2, 4], [0, 1], budget=8, batch_size=8, progress=False, cache_dir=tmp_path)
    got = ci.study_verdicts(tmp_path)
    inter = next(v for k, v in got.items() if k.startswith("09 interventions"))
    grid = next(v for k, v in got.items() if k.startswith("09 under-training grid: sizes [20], epochs [2, 4], top-8"))
    same = lambda a, b: {k: repr(v) for k, v in a.items()} == {k: repr(v) for k, v in b.items()}  # noqa: E731 (a NaN interval is not == itself)
    assert same(inter, {**ci.intervention_verdicts(rows), **ci.confusion_verdicts(rows)})
    assert same(grid, ci.undertraining_verdicts(curve))


def test_a_stray_file_in_a_study_folder_is_named(tmp_path):
    _synthetic_rows(tmp_path, [0], 0.5)
    (path,) = tmp_path.glob("*.json")
    path.rename(tmp_path / "interventions-0000000000000000.json")
    with pytest.raises(ValueError, match="interventions-0000000000000000.json"):
        ci.study_verdicts(tmp_path)


def test_cli_agreement_adds_the_study_when_a_run_has_one(tmp_path, capsys):
    from altoolkit.cli import main
    from tests.test_rerun_agreement import _run

    for name, collapse in (("a", 0.5), ("b", -0.1)):
        (tmp_path / name).mkdir()
        for i, r in enumerate(_run(0.05, 0.0, range(4))):
            (tmp_path / name / f"{i}.json").write_text(json.dumps(r))
        _synthetic_rows(tmp_path / name / "study", range(6), collapse)
    assert main(["agreement", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    printed = capsys.readouterr().out
    assert "## Notebook 09's study" in printed and "collapse: DISAL's top-k batch is more one-class than a random batch" in printed
    assert printed.split("## Notebook 09's study")[1].count("| flip |") >= 1


def test_the_key_is_canonical_and_a_renamed_regime_reuses_its_rows(small_pool, tmp_path, monkeypatch):
    import numpy as np

    ci.run_interventions(small_pool, TINY, [0], no_bn_lengths=(1,), progress=False, cache_dir=tmp_path)
    calls = _counting(monkeypatch, "intervention_seed")
    same = ci.Regime("renamed", n_labeled=np.int64(32), budget=16.0, epochs=2, batch_size=16, lr=0.05, dynamic_weight=1)
    assert same.n_labeled == 32 and type(same.n_labeled) is int and type(same.dynamic_weight) is float
    ci.run_interventions(small_pool, same, [0], no_bn_lengths=(1,), progress=False, cache_dir=tmp_path)
    assert calls == []
    monkeypatch.setattr(ci, "MODEL_REVISION", ci.MODEL_REVISION + 1)  # another network revision: computed afresh
    ci.run_interventions(small_pool, same, [0], no_bn_lengths=(1,), progress=False, cache_dir=tmp_path)
    assert calls == [0]


def test_studies_with_different_keys_never_share_a_section(tmp_path):
    _synthetic_rows(tmp_path, range(3), 0.5)
    key = json.loads(next(tmp_path.glob("*.json")).read_text())["key"]
    key["no_bn_lengths"] = [1, 2]
    other = SeedRowCache(tmp_path, "interventions", key, label={"dataset": "digits[:200]", "study": "tiny"})
    for s in range(3):
        other.store(s, json.loads(next(tmp_path.glob("*.json")).read_text())["rows"] | {"seed": s})
    sections = list(ci.study_verdicts(tmp_path))
    assert len(sections) == 2 and sections[0].rsplit("key ", 1)[1] != sections[1].rsplit("key ", 1)[1]
