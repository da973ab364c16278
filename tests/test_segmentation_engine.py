"""The segmentation task in the engine: ALConfig(task=...), the loop and its record (mIoU, per-class
IoU, pixel counts), resume after an interruption, sweeps (serial, joblib, Dask), summarize, the CLI,
and the errors a wrong dataset or model gets."""

import dataclasses

import pytest

import altoolkit as alt
from altoolkit.cli import main
from altoolkit.engine.loop import ALConfig, load_record, run_active_learning
from altoolkit.engine.sweep import SweepSpec, config_hash, record_path, run_sweep
from altoolkit.engine.tasks import Task, get_task, register_task, task_names
from interrupt_helpers import interrupt_then_resume

SCENES = {"n_train": 24, "n_test": 8, "size": 32, "digit_size": [10, 14]}
TINY = ALConfig(task="segmentation", dataset_options=SCENES, epochs=2, cycles=3, initial_fraction=0.25, step_fraction=0.25, batch_size=4, score_batch_size=8)


def _key(record):
    return [(c["n_labeled"], c["selected"], c["test_miou"], c["final_train_loss"]) for c in record["cycles"]]


@pytest.fixture(scope="module")
def serial_records(tmp_path_factory):
    configs = SweepSpec(TINY, strategies=["disal", "random"], seeds=[0]).configs()
    return configs, run_sweep(configs, tmp_path_factory.mktemp("serial"), backend="serial", progress=False)


def test_task_defaults_and_hash_stay_out_of_classification():
    cfg = ALConfig(task="segmentation")
    assert (cfg.dataset, cfg.model, cfg.batch_size, cfg.lr) == ("digit_scenes", "unet", 4, 0.1)
    assert cfg.to_dict()["task"] == "segmentation"
    assert "task" not in ALConfig().to_dict() and ALConfig().model == "cnn"
    assert config_hash(ALConfig(task="classification")) == config_hash(ALConfig())
    assert ALConfig.from_dict(cfg.to_dict()) == cfg
    assert set(task_names()) >= {"classification", "segmentation"} and get_task("segmentation").metric == "test_miou"
    with pytest.raises(ValueError, match="task must be one of classification, segmentation"):
        ALConfig(task="pose")
    with pytest.raises(ValueError, match="strategy must be one of .*badge"):  # a classification strategy
        ALConfig(task="segmentation", strategy="badge")
    with pytest.raises(ValueError, match="augment='flip' is not supported with task='segmentation'"):
        ALConfig(task="segmentation", augment="flip")


def test_record_carries_miou_per_class_iou_and_pixel_counts(serial_records):
    _, (disal, random) = serial_records
    assert disal["metric"] == "test_miou" and "test_miou" in disal["accuracy"] and disal["config"]["task"] == "segmentation"
    assert disal["strategy"]["dynamic_weight"] == 1.0 and random["strategy"]["dynamic_weight"] == 0.0
    assert [c["n_labeled"] for c in disal["cycles"]] == [6, 12, 18]
    for c in disal["cycles"]:
        iou = [v for v in c["test_iou_per_class"] if v is not None]
        assert len(c["test_iou_per_class"]) == 11 and 0.0 <= c["test_miou"] <= 1.0
        assert c["test_miou"] == pytest.approx(sum(iou) / len(iou))
    first = disal["cycles"][0]
    assert len(first["selected"]) == 6 and sum(first["selected_pixel_class_counts"]) == 6 * 32 * 32
    ds = alt.load_dataset("digit_scenes", seed=0, **SCENES)
    assert first["selected_pixel_class_counts"] == ds.pixel_class_counts("train", first["selected"]).tolist()
    assert disal["cycles"][-1]["selection_class_entropy"] is None


def test_interrupted_run_resumes_to_the_uninterrupted_record(serial_records, tmp_path):
    configs, records = serial_records
    cfg = configs[0]
    rec = interrupt_then_resume(cfg, tmp_path)
    assert rec["finished"] and _key(rec) == _key(records[0])
    with pytest.raises(ValueError, match="different configuration"):
        run_active_learning(dataclasses.replace(cfg, epochs=3), out=record_path(tmp_path, cfg), progress=False)


def test_joblib_gives_the_serial_records(serial_records, tmp_path):
    configs, records = serial_records
    recs = run_sweep(configs, tmp_path, backend="joblib", n_jobs=2, progress=False)
    assert [_key(r) for r in recs] == [_key(r) for r in records]


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_records(serial_records, tmp_path):
    from dask.distributed import LocalCluster

    configs, records = serial_records
    cluster = LocalCluster(host="127.0.0.1", n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True)
    try:
        recs = run_sweep(configs, tmp_path, backend="dask", scheduler=cluster, progress=False)
        assert [_key(r) for r in recs] == [_key(r) for r in records]
    finally:
        cluster.close()


def test_summarize_reads_miou(serial_records, tmp_path):
    from altoolkit.analysis.results import learning_curves
    from altoolkit.drivers.active_learning_benchmark import write_results_markdown

    _, records = serial_records
    curves = learning_curves(records)
    assert curves["random"].acc[0].tolist() == [c["test_miou"] for c in records[1]["cycles"]]
    doc = write_results_markdown(records, tmp_path / "R.md", claims=["disal > random"]).read_text()
    assert "Test mIoU over the classes present (%)" in doc and "selected_pixel_class_counts" in doc
    mixed = records[:1] + [dict(records[1], metric="test_acc", cycles=[dict(c, test_acc=0.5) for c in records[1]["cycles"]])]
    with pytest.raises(ValueError, match="different metrics"):
        learning_curves(mixed, label=lambda r: "one group")


def test_cli_lists_the_tasks_strategies(capsys):
    assert main(["strategies", "--task", "segmentation"]) == 0
    listing = capsys.readouterr().out
    assert "mean per-pixel entropy" in listing and "badge" not in listing and "reduction='mean'" in listing
    assert main(["strategies"]) == 0 and "badge" in capsys.readouterr().out


def test_cli_al_runs_the_readme_command(tmp_path, capsys, monkeypatch):
    # `altoolkit al --task segmentation --dataset digit_scenes --strategy disal`, on fewer scenes
    import altoolkit.data.registry as registry

    small = lambda seed=0: alt.load_digit_scenes(seed=seed, **SCENES)  # noqa: E731
    monkeypatch.setitem(registry._LOADERS, "digit_scenes", small)
    out = tmp_path / "seg.json"
    argv = ["al", "--task", "segmentation", "--dataset", "digit_scenes", "--strategy", "disal", "--out", str(out)]
    argv += ["--epochs", "1", "--cycles", "2", "--initial-fraction", "0.25", "--step-fraction", "0.25", "--batch-size", "4", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "test miou" in text and load_record(out)["config"]["model"] == "unet"
    assert main(argv) == 0  # the finished record is read back, nothing retrained
    assert main(["al", "--task", "segmentation", "--dataset", "digits", "--strategy", "random", "--out", str(tmp_path / "x.json"), "--no-progress"]) == 2
    assert "needs a SegmentationDataset" in capsys.readouterr().err


def test_wrong_model_output_is_named(tmp_path):
    cfg = dataclasses.replace(TINY, model="cnn", strategy="random")
    with pytest.raises(ValueError, match="per-pixel logits"):
        run_active_learning(cfg, progress=False)


def test_own_task_plugs_in():
    @register_task
    class Counting(Task):
        name = "counting_t26"

    assert "counting_t26" in task_names() and isinstance(get_task("counting_t26"), Counting)
    with pytest.raises(ValueError, match="built in"):
        register_task(type("C", (Task,), {"name": "segmentation"}))
