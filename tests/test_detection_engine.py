"""The detection task in the engine: ALConfig(task="detection"), the record (AP, AP50, boxes per
cycle: the annotation cost), resume after an interruption (after a SIGKILL: tests/test_resume.py),
joblib sweeps, summarize, the README's CLI command, and the hardening cases: a model that is no
detector, a detector that returns nothing, images without boxes in the pool, no test box."""

import dataclasses

import pytest
import torch

import altoolkit as alt
from altoolkit.cli import main
from altoolkit.engine.loop import ALConfig, load_record, run_active_learning
from altoolkit.engine.sweep import run_sweep
from altoolkit.engine.tasks import get_task
from interrupt_helpers import interrupt_then_resume

SCENES = {"n_train": 30, "n_test": 10, "size": 32, "digit_size": [10, 14]}
TINY = ALConfig(task="detection", dataset_options=SCENES, epochs=2, cycles=3, initial_size=6, step_size=6, batch_size=4, score_batch_size=8)
FAST_ISAL = {"depth": 3, "repeats": 1, "score_threshold": 0.05}


def _key(record):
    return [(c["n_labeled"], c["labeled_boxes"], c["selected"], c["test_ap"], c["final_train_loss"]) for c in record["cycles"]]


@pytest.fixture(scope="module")
def serial_records(tmp_path_factory):
    base = dataclasses.replace(TINY, strategy="isal", strategy_options=FAST_ISAL)
    configs = [base, dataclasses.replace(TINY, strategy="random")]
    return configs, run_sweep(configs, tmp_path_factory.mktemp("serial"), backend="serial", progress=False)


def test_task_defaults_and_refusals():
    cfg = ALConfig(task="detection")
    assert (cfg.dataset, cfg.model, cfg.batch_size, cfg.lr, cfg.weight_decay) == ("digit_scenes", "fcos_small", 8, 0.02, 1e-4)
    task = get_task("detection")
    assert task.metric == "test_ap" and task.cost_unit == "boxes"
    with pytest.raises(ValueError, match="augment='flip_crop' is not supported with task='detection'"):
        ALConfig(task="detection", augment="flip_crop")
    with pytest.raises(ValueError, match="warm_start=True is not supported"):
        ALConfig(task="detection", warm_start=True)
    with pytest.raises(ValueError, match="batch='balanced' is not supported"):
        ALConfig(task="detection", strategy="entropy", strategy_options={"batch": "balanced"})
    with pytest.raises(ValueError, match="strategy must be one of .*isal"):
        ALConfig(task="detection", strategy="badge")


def test_record_carries_ap_and_boxes_per_cycle(serial_records):
    _, (isal, random) = serial_records
    ds = alt.load_dataset("digit_scenes", task="detection", seed=0, **SCENES)
    assert isal["metric"] == "test_ap" and isal["cost_unit"] == "boxes" and "test_ap50" in isal["accuracy"]
    assert [c["n_labeled"] for c in isal["cycles"]] == [6, 12, 18], "budgets are in images"
    labeled = list(isal["initial_labeled"])
    for c in isal["cycles"]:
        assert c["labeled_boxes"] == float(ds.boxes_per_image("train", labeled).sum()), "the labeled set's cost in boxes"
        assert c["selected_boxes"] == float(ds.boxes_per_image("train", c["selected"]).sum()) if c["selected"] else c["selected_boxes"] == 0.0
        assert 0.0 <= c["test_ap"] <= 1.0 and 0.0 <= c["test_ap50"] <= 1.0 and len(c["test_ap_per_class"]) == 10
        labeled += c["selected"]
    assert sum(isal["cycles"][0]["selected_box_class_counts"]) == isal["cycles"][0]["selected_boxes"]
    assert isal["strategy"]["options"]["score_threshold"] == 0.05 and random["strategy"]["dynamic_weight"] == 0.0


def test_interrupted_run_resumes_to_the_uninterrupted_record(serial_records, tmp_path):
    configs, records = serial_records
    cfg = configs[0]
    rec = interrupt_then_resume(cfg, tmp_path)
    assert rec["finished"] and _key(rec) == _key(records[0])


def test_joblib_gives_the_serial_records(serial_records, tmp_path):
    configs, records = serial_records
    recs = run_sweep(configs, tmp_path, backend="joblib", n_jobs=2, progress=False)
    assert [_key(r) for r in recs] == [_key(r) for r in records]


def test_summarize_reads_ap(serial_records, tmp_path, capsys):
    from altoolkit.analysis.results import learning_curves

    configs, records = serial_records
    curves = learning_curves(records)
    assert curves["random"].acc[0].tolist() == [c["test_ap"] for c in records[1]["cycles"]]
    folder = tmp_path / "recs"
    run_sweep(configs, folder, backend="serial", progress=False)
    assert main(["summarize", str(folder), "--out", str(tmp_path / "R.md")]) == 0
    assert "Test COCO AP@[.50:.95] (%)" in (tmp_path / "R.md").read_text()


def test_cli_al_runs_the_readme_command(tmp_path, capsys, monkeypatch):
    # `altoolkit al --task detection --dataset digit_scenes --strategy isal`, on fewer scenes
    import altoolkit.data.registry as registry

    small = lambda seed=0: alt.load_digit_scene_boxes(seed=seed, **SCENES)  # noqa: E731
    monkeypatch.setitem(registry.TASK_DATASETS["detection"], "digit_scenes", small)
    out = tmp_path / "det.json"
    argv = ["al", "--task", "detection", "--dataset", "digit_scenes", "--strategy", "isal", "--out", str(out)]
    argv += ["--epochs", "1", "--cycles", "2", "--initial-size", "6", "--step-size", "6", "--batch-size", "4", "--no-progress"]
    argv += [f"--strategy-option={k}={v}" for k, v in FAST_ISAL.items()]
    assert main(argv) == 0
    assert "test ap" in capsys.readouterr().out and load_record(out)["config"]["model"] == "fcos_small"
    assert main(argv) == 0  # the finished record is read back, nothing retrained
    assert main(["al", "--task", "detection", "--dataset", "digits", "--strategy", "random", "--out", str(tmp_path / "x.json"), "--no-progress"]) == 2
    assert "needs a DetectionDataset" in capsys.readouterr().err


def test_a_model_that_is_no_detector_is_named():
    cfg = dataclasses.replace(TINY, model="unet", strategy="random")
    with pytest.raises(ValueError, match="needs a detector"):
        run_active_learning(cfg, progress=False)


class _Silent(torch.nn.Module):
    """Wraps a detector whose detections are always empty (a detector that returns nothing)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)

    def losses(self, outputs, targets):
        return self.inner.losses(outputs, targets)

    def image_losses(self, outputs, targets):
        return self.inner.image_losses(outputs, targets)

    def embed(self, x):
        return self.inner.embed(x)

    def detections(self, outputs, score_thresh=None):
        return [{k: v[:0] for k, v in d.items()} for d in self.inner.detections(outputs)]


def silent_fcos(shape, num_classes):
    return _Silent(alt.build_model("fcos_small", shape, num_classes))


@pytest.mark.parametrize("strategy", ["entropy", "isal"])
def test_a_detector_that_returns_nothing_scores_ap_zero(strategy):
    alt.register_model("silent_fcos_t27", silent_fcos)
    cfg = dataclasses.replace(TINY, model="silent_fcos_t27", strategy=strategy, cycles=2, strategy_options=FAST_ISAL if strategy == "isal" else {})
    rec = run_active_learning(cfg, progress=False)
    assert [c["test_ap"] for c in rec["cycles"]] == [0.0, 0.0] and rec["cycles"][0]["test_detections_per_image"] == 0.0
    assert len(rec["cycles"][0]["selected"]) == 6, "without detections every image scores alike and the batch is still filled"


def test_pool_images_without_boxes_cost_nothing_and_a_boxless_test_split_is_refused():
    ds = alt.load_digit_scene_boxes(seed=0, **SCENES)
    empty = [torch.zeros(0, 4)] * 10
    y = alt.BoxTargets(empty + ds.y_train.boxes[10:], [torch.zeros(0, dtype=torch.long)] * 10 + ds.y_train.labels[10:])
    ds2 = alt.DetectionDataset("holes", ds.x_train, y, ds.x_test, ds.y_test, 10)
    rec = run_active_learning(dataclasses.replace(TINY, strategy="random", cycles=2), dataset=ds2, progress=False)
    first = rec["cycles"][0]
    assert first["labeled_boxes"] == float(y[rec["initial_labeled"]].counts().sum())
    no_boxes = alt.BoxTargets([torch.zeros(0, 4)] * 10, [torch.zeros(0, dtype=torch.long)] * 10)
    nobox = alt.DetectionDataset("nobox", ds.x_train, ds.y_train, ds.x_test, no_boxes, 10)
    with pytest.raises(ValueError, match="holds no box: average precision is undefined"):
        run_active_learning(dataclasses.replace(TINY, strategy="random"), dataset=nobox, progress=False)
