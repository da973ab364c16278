"""Sweeps: configuration hashes, the grid, the cache, resume, failures, and identical records
whatever the backend (serial, joblib, Dask on a LocalCluster bound to 127.0.0.1)."""

import dataclasses
import hashlib
import json
import os

import pytest
import torch

import altoolkit.training.fresh_model as fresh_model
import altoolkit.engine.loop as loop
import altoolkit.engine.sweep as sweep
from altoolkit.cli import main
from altoolkit.engine.loop import ALConfig, run_active_learning
from altoolkit.training.models import MODEL_REVISION
from altoolkit.engine.sweep import SweepError, SweepSpec, config_hash, record_path, run_sweep

TINY = ALConfig(epochs=2, cycles=2)


def _key(record):
    """What must not depend on the backend: selections, accuracies, losses."""
    return [(c["n_labeled"], c["selected"], c["test_acc"], c["final_train_loss"]) for c in record["cycles"]]


@pytest.fixture(scope="module")
def tiny_configs():
    return SweepSpec(TINY, strategies=["disal", "random"], seeds=[0]).configs()


@pytest.fixture(scope="module")
def serial_records(tiny_configs, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    return run_sweep(tiny_configs, out, backend="serial", progress=False)


# ------------------------------------------------------------------------------------------ hashes


def test_config_hash_is_sha256_of_sorted_canonical_json():
    cfg = ALConfig(strategy="random", seed=3, epochs=5)
    text = json.dumps({**cfg.to_dict(), "model_revision": MODEL_REVISION}, sort_keys=True, separators=(",", ":"))
    assert config_hash(cfg) == hashlib.sha256(text.encode()).hexdigest()[: len(config_hash(cfg))]
    assert config_hash(cfg) == config_hash(ALConfig(strategy="random", seed=3, epochs=5))
    assert len(config_hash(cfg)) >= 12 and int(config_hash(cfg), 16) >= 0
    # 1 and 1.0 are the same learning rate, hence the same run.
    assert config_hash(dataclasses.replace(cfg, lr=1)) == config_hash(dataclasses.replace(cfg, lr=1.0))


def test_config_hash_changes_with_every_field():
    base = ALConfig(strategy="disal")
    changed = {
        "dataset": "mnist",
        "strategy": "random",
        "strategy_options": {"largest": False},
        "seed": 1,
        "initial_fraction": 0.2,
        "step_fraction": 0.1,
        "cycles": 3,
        "model": "mlp",
        "epochs": 31,
        "batch_size": 32,
        "lr": 0.01,
        "momentum": 0.5,
        "weight_decay": 0.0,
        "lr_schedule": "cosine",
        "augment": "flip_crop",
        "dynamic_weight": 0.5,
        "validation_size": 10,
        "score_batch_size": 64,
        "device": "cuda",
        "root": "/data",
        "download": True,
        "dataset_options": {"imbalance_ratio": 10},
        "initial_size": 100,
        "step_size": 50,
        "subset_size": 500,
        "warm_start": True,
        "eval_every": 5,
        "batch_split": "even",
        "pretrained_weights": "w.pth",
        "pretrained_load": "tod",
        "task": "segmentation",
    }
    assert set(changed) == set(ALConfig.keys()), "a new ALConfig field needs a case here"
    hashes = {config_hash(base)}
    for name, value in changed.items():
        if name == "strategy_options":
            cfg = dataclasses.replace(base, strategy_options=value)
        elif name == "strategy":
            cfg = dataclasses.replace(base, strategy=value)
        elif name == "pretrained_weights":  # applies to torchvision's ResNet-18 only
            cfg = dataclasses.replace(base, model="resnet18", pretrained_weights=value)
        elif name == "pretrained_load":  # says what pretrained_weights loads
            cfg = dataclasses.replace(base, model="resnet18", pretrained_weights="w.pth", pretrained_load=value)
        else:
            cfg = dataclasses.replace(base, **{name: value})
        h = config_hash(cfg)
        assert h not in hashes, f"changing {name} did not change the hash"
        hashes.add(h)
    # λ=None (strategy default) and λ=1 train alike but are different configurations.
    assert config_hash(dataclasses.replace(base, dynamic_weight=1.0)) != config_hash(base)
    with pytest.raises(TypeError, match="ALConfig"):
        config_hash({"strategy": "disal"})


# -------------------------------------------------------------------------------------------- grid


def test_spec_expands_the_grid_with_lambda_only_for_dynamic_strategies():
    spec = SweepSpec(TINY, strategies=["disal", "random", "disal_no_dynamic"], seeds=[0, 1, 2], datasets=["digits"], lambdas=[None, 0.5, 1])
    configs = spec.configs()
    # disal: 3 λ values; random and disal_no_dynamic: their default only.
    assert len(configs) == len(spec) == (3 + 1 + 1) * 3
    lams = {(c.strategy, c.dynamic_weight) for c in configs}
    assert lams == {("disal", None), ("disal", 0.5), ("disal", 1.0), ("random", None), ("disal_no_dynamic", None)}
    assert {c.seed for c in configs} == {0, 1, 2}
    assert all(c.epochs == 2 and c.cycles == 2 for c in configs)
    assert len({config_hash(c) for c in configs}) == len(configs)

    every = SweepSpec(TINY, strategies=["disal", "random"], seeds=[0], lambdas=[None, 0.5], lambdas_apply_to="all")
    assert {(c.strategy, c.dynamic_weight) for c in every.configs()} == {("disal", None), ("disal", 0.5), ("random", None), ("random", 0.5)}


def test_spec_dataset_overrides_and_bad_input():
    spec = SweepSpec(TINY, strategies=["random"], seeds=[0], datasets=["digits", "mnist"], dataset_overrides={"mnist": {"model": "mlp", "epochs": 3}})
    by_ds = {c.dataset: c for c in spec.configs()}
    assert by_ds["digits"].model == "cnn" and by_ds["mnist"].model == "mlp" and by_ds["mnist"].epochs == 3
    with pytest.raises(ValueError, match="strateg"):
        SweepSpec(TINY, strategies=["nope"])
    with pytest.raises(ValueError, match="seeds"):
        SweepSpec(TINY, strategies=["random"], seeds=[])
    with pytest.raises(ValueError, match="λ"):
        SweepSpec(TINY, strategies=["disal"], lambdas=[-1])
    assert [c.dynamic_weight for c in SweepSpec(TINY, strategies=["disal"], lambdas=0.5).configs()] == [0.5]
    with pytest.raises(ValueError, match="lambdas_apply_to"):
        SweepSpec(TINY, strategies=["disal"], lambdas_apply_to="some")
    with pytest.raises(ValueError, match="dataset_overrides"):
        SweepSpec(TINY, datasets=["digits"], dataset_overrides={"digits": {"seed": 3}})
    with pytest.raises(ValueError, match="backend must be one of"):
        run_sweep(TINY, "unused", backend="threads")
    with pytest.raises(ValueError, match="scheduler"):
        run_sweep(TINY, "unused", backend="joblib", scheduler="tcp://127.0.0.1:1")


# ------------------------------------------------------------------------------- cache and resume


def test_second_sweep_runs_nothing_and_loads_no_dataset(tiny_configs, serial_records, tmp_path, monkeypatch):
    out = tmp_path / "runs"
    threads = torch.get_num_threads()
    first = run_sweep(tiny_configs, out, backend="serial", progress=False)
    assert torch.get_num_threads() == threads  # one thread during the runs, restored after
    assert [_key(r) for r in first] == [_key(r) for r in serial_records]
    files = sorted(out.glob("*.json"))
    assert [f.name for f in files] == sorted(f"{config_hash(c)}.json" for c in tiny_configs)
    assert record_path(out, tiny_configs[0]).exists()
    mtimes = {f: f.stat().st_mtime_ns for f in files}

    def forbidden(*args, **kwargs):
        raise AssertionError("a finished run was run again")

    monkeypatch.setattr(sweep, "run_active_learning", forbidden)
    monkeypatch.setattr(loop, "load_dataset", forbidden)
    again = run_sweep(tiny_configs, out, backend="serial", progress=False)
    assert again == first
    assert {f: f.stat().st_mtime_ns for f in files} == mtimes


def test_interrupted_run_resumes_to_the_uninterrupted_record(serial_records, tiny_configs, tmp_path, monkeypatch):
    cfg = tiny_configs[0]
    path = record_path(tmp_path, cfg)

    class Interrupt(Exception):
        pass

    def stop(entry):
        raise Interrupt

    # The sweep runs each configuration on one thread; float sums depend on the thread count, so
    # the interrupted part must run on one thread too for the records to match bit for bit.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.raises(Interrupt):
            run_active_learning(cfg, out=path, progress=False, on_cycle_end=stop)
    finally:
        torch.set_num_threads(threads)
    partial = json.loads(path.read_text())
    assert not partial["finished"] and len(partial["cycles"]) == 1

    calls = []
    real_train = fresh_model.train_model  # every cycle trains through fresh_model.train_fresh
    monkeypatch.setattr(fresh_model, "train_model", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    (rec,) = run_sweep([cfg], tmp_path, backend="serial", progress=False)
    assert len(calls) == cfg.cycles - 1  # only the missing cycle trained
    assert rec["finished"] and _key(rec) == _key(serial_records[0])


def test_failures_are_reported_without_losing_the_other_runs(tmp_path):
    good = dataclasses.replace(TINY, strategy="random")
    # A dataset that is not on disk fails at run time, not when the configuration is made.
    bad = dataclasses.replace(TINY, strategy="random", dataset="mnist", root=str(tmp_path / "no_data"))
    with pytest.raises(SweepError) as info:
        run_sweep([good, bad], tmp_path, backend="serial", progress=False)
    err = info.value
    assert len(err.failures) == 1 and err.failures[0].config == bad
    assert "mnist / random / seed 0" in str(err) and "DatasetNotFoundError" in str(err)
    assert "1 of 2 runs failed" in str(err)
    assert len(err.records) == 1 and err.records[0]["finished"] and record_path(tmp_path, good).exists()
    with pytest.warns(RuntimeWarning, match="DatasetNotFoundError"):
        assert len(run_sweep([good, bad], tmp_path, backend="serial", progress=False, raise_errors=False)) == 1
    # A file at a run's place that is not a record is reported and left untouched.
    other = dataclasses.replace(good, seed=5)
    record_path(tmp_path, other).write_text("not json")
    with pytest.raises(SweepError, match="not valid JSON"):
        run_sweep([other], tmp_path, backend="serial", progress=False)
    assert record_path(tmp_path, other).read_text() == "not json"


# --------------------------------------------------------------------------------------- backends


@pytest.mark.slow
def test_joblib_gives_the_serial_records(tiny_configs, serial_records, tmp_path):
    recs = run_sweep(tiny_configs, tmp_path, backend="joblib", n_jobs=2, progress=False)
    assert [_key(r) for r in recs] == [_key(r) for r in serial_records]
    assert all(r["environment"]["threads"] == "1" for r in recs)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_records(tiny_configs, serial_records, tmp_path):
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(host="127.0.0.1", n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True)
    try:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        recs = run_sweep(tiny_configs, tmp_path, backend="dask", scheduler=cluster, progress=False)
        assert [_key(r) for r in recs] == [_key(r) for r in serial_records]
        # By address, with a cached folder: nothing is submitted, and the client is closed again.
        with Client(cluster) as client:
            assert all(w.startswith("tcp://127.0.0.1:") for w in client.scheduler_info()["workers"])
        again = run_sweep(tiny_configs, tmp_path, backend="dask", scheduler=cluster.scheduler_address, progress=False)
        assert again == recs
    finally:
        cluster.close()


def test_dask_backend_needs_a_scheduler(tmp_path):
    with pytest.raises(ValueError, match="scheduler"):
        run_sweep(dataclasses.replace(TINY, strategy="random"), tmp_path, backend="dask")


# -------------------------------------------------------------------------------------------- CLI


def test_cli_sweep_then_summarize(tmp_path, capsys):
    out_dir, md = tmp_path / "runs", tmp_path / "RESULTS.md"
    argv = [
        "sweep",
        "--strategies",
        "random",
        "disal_no_selection",
        "--seeds",
        "0",
        "--lams",
        "none",
        "0.5",
        "--epochs",
        "2",
        "--cycles",
        "2",
        "--out-dir",
        str(out_dir),
        "--backend",
        "serial",
        "--no-progress",
        "--summary",
        str(tmp_path / "sweep.md"),
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "3 runs" in text and "disal_no_selection (λ=0.5)" in text
    assert "## digits" in (tmp_path / "sweep.md").read_text()
    assert len(list(out_dir.glob("*.json"))) == 3
    assert main(["summarize", str(out_dir), "--out", str(md), "--title", "CLI check"]) == 0
    doc = md.read_text()
    assert doc.startswith("# CLI check") and "## digits" in doc and "disal_no_selection (λ=0.5)" in doc


def test_cli_sweep_rejects_bad_values(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--strategies", "random", "--lams", "minus", "--out-dir", str(tmp_path)])
    assert "--lams" in capsys.readouterr().err
    assert main(["sweep", "--strategies", "nope", "--out-dir", str(tmp_path), "--no-progress"]) == 2
    assert "strateg" in capsys.readouterr().err
    assert main(["summarize", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_records_of_an_earlier_model_revision_are_not_reused(tmp_path, monkeypatch):
    """A record computed with other built-in networks is neither a cache hit (the hash differs)
    nor resumed (run_active_learning refuses it, naming the revision, and leaves it untouched)."""
    import altoolkit.training.models as models_mod

    cfg = ALConfig(strategy="random", model="mlp", cycles=1, epochs=1)
    h_now = config_hash(cfg)
    with monkeypatch.context() as m:
        m.setattr(models_mod, "MODEL_REVISION", MODEL_REVISION + 1)
        assert config_hash(cfg) != h_now
    assert config_hash(cfg) == h_now
    out = tmp_path / "rec.json"
    rec = run_active_learning(cfg, out=out, progress=False)
    assert rec["model_revision"] == MODEL_REVISION
    old = json.loads(out.read_text())
    old["model_revision"] = MODEL_REVISION - 1
    out.write_text(json.dumps(old))
    before = out.read_text()
    with pytest.raises(ValueError, match="revision"):
        run_active_learning(cfg, out=out, progress=False)
    assert out.read_text() == before


def test_run_warnings_are_reported_once_without_paths(tmp_path, capsys):
    """TOD's cycle-0 fallback warns in every run; the sweep prints it once with the run count (no
    source path), and a cached rerun prints nothing."""
    cfg = ALConfig(strategy="tod", model="mlp", cycles=2, epochs=1)
    run_sweep(SweepSpec(cfg, ["tod"], [0, 1]), tmp_path, backend="serial", progress=False)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("altoolkit sweep:")]
    assert len(lines) == 1 and "2 run(s) warned: UserWarning: tod" in lines[0], err
    assert "/" not in lines[0].split("warned:")[0]
    run_sweep(SweepSpec(cfg, ["tod"], [0, 1]), tmp_path, backend="serial", progress=False)
    assert "altoolkit sweep:" not in capsys.readouterr().err


def test_run_warnings_go_to_a_notes_list_when_given(tmp_path, capsys):
    """Issue 28: a notebook passes notes=[] and shows the expected note as text; nothing reaches
    stderr, so no warning sits in its saved outputs."""
    cfg = ALConfig(strategy="tod", model="mlp", cycles=2, epochs=1)
    notes: list[str] = []
    run_sweep(SweepSpec(cfg, ["tod"], [0, 1]), tmp_path, backend="serial", progress=False, notes=notes)
    assert "altoolkit sweep:" not in capsys.readouterr().err
    assert len(notes) == 1 and notes[0].startswith("2 run(s) warned: UserWarning: tod: no previous cycle's model"), notes
