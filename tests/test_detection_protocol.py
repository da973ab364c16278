"""The detection rows of the README's protocol table (:data:`altoolkit.engine.protocol.PROTOCOL`):
each test pins what the toolkit and the ``paper`` profile's notebook 11 do to ISAL §4.2 and
dragonlzm/ISAL's detection code, as the row cites them."""

from __future__ import annotations

from pathlib import Path

import torch

import altoolkit as alt
from altoolkit.teaching.reproduce import load_profile, notebook_defaults, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
NB11 = ROOT / "notebooks" / "11_detection_cost_in_boxes.ipynb"


def _paper() -> dict:
    return {**notebook_defaults(NB11), **notebook_parameters(load_profile("paper"), NB11, Path("/tmp"))}


def test_detection_data_is_voc_train_val_and_coco_2017(tmp_path):
    """ISAL §4.2: "we use the trainset as the unlabeled dataset and use the validation set to
    evaluate": VOC2012 train / val and COCO train2017 / val2017; the paper profile runs VOC."""
    import inspect

    from altoolkit.data import detection

    voc, coco = inspect.getsource(detection.load_voc_detection), inspect.getsource(detection.load_coco_detection)
    assert 'zip(("train", "val"), limits)' in voc and 'year: str = "2012"' in voc
    assert "train2017" in coco and "val2017" in coco and "instances_val2017.json" in coco
    assert _paper()["DATASET"] == "voc" and alt.data.check_dataset_name("coco", "detection") == "coco"


def test_detection_network_is_torchvision_fcos_resnet50_fpn():
    """dragonlzm/ISAL detection/configs/mining_experiments/fcos/fcos_r50_caffe_fpn_1x_coco.py (its
    _base_ is mmdetection's fcos_r50_caffe_fpn_4x4_1x_coco.py) and ISAL §4.2: FCOS, ResNet-50, FPN."""
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.backbone_utils import BackboneWithFPN

    assert _paper()["MODEL"] == "fcos_resnet50_fpn"
    net = alt.build_model("fcos_resnet50_fpn", (3, 64, 64), 20, seed=0)
    assert isinstance(net.fcos, FCOS) and isinstance(net.fcos.backbone, BackboneWithFPN)
    assert sum(1 for m in net.fcos.backbone.body.modules() if type(m).__name__ == "Bottleneck") == 16, "ResNet-50: 3 + 4 + 6 + 3 bottlenecks"


def test_detection_training_is_the_1x_schedule():
    """ISAL §4.2: 12 epochs, batch 8, lr 0.01, ×0.1 after epochs 8 and 11, momentum 0.9, weight
    decay 1e-4; dragonlzm/ISAL detection/configs/mining_experiments/fcos/fcos_r50_caffe_fpn_1x_coco.py
    sets optimizer lr=0.01 and a RandomFlip(flip_ratio=0.5) in its train_pipeline."""
    p = _paper()
    assert (p["EPOCHS"], p["BATCH_SIZE"], p["LR"], p["WEIGHT_DECAY"], p["AUGMENT"], p["LR_SCHEDULE"]) == (12, 8, 0.01, 0.0001, "flip", "mmdet_1x")
    from altoolkit.training.train import _make_scheduler

    net = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    sched = _make_scheduler(opt, alt.TrainConfig(epochs=12, lr=0.01, lr_schedule="mmdet_1x"))
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert [round(v, 8) for v in lrs] == [0.01] * 8 + [0.001] * 3 + [0.0001], "epochs 9-11 at x0.1, epoch 12 at x0.01"


def test_detection_budgets_are_images():
    """ISAL §4.2: VOC 500 images + 500 per step, 10 steps (dragonlzm/ISAL detection/dist_run_isal.sh
    INIT_IMG_NUM and IMG_NUM count images; its COCO run: 5,000 + 1,000)."""
    p = _paper()
    assert (p["AL_INITIAL_SIZE"], p["AL_STEP_SIZE"], p["AL_CYCLES"]) == (500, 500, 11)
    cfg = alt.ALConfig(task="detection", initial_size=500, step_size=500, cycles=11)
    assert cfg.budgets(5717) == [500 + 500 * i for i in range(11)]


def test_detection_cost_is_the_ground_truth_boxes():
    """ISAL §4.2: "the cost of annotating a set of images is highly correlated with the number of
    bboxes": a detection cycle records the boxes of its labeled set and of its selection."""
    from altoolkit.engine.tasks import get_task

    ds = alt.load_digit_scene_boxes(seed=0, n_train=12, n_test=4)
    task = get_task("detection")
    fields = task.cost_fields(ds, [0, 1, 2], [3])
    assert fields == {"labeled_boxes": float(ds.boxes_per_image("train", [0, 1, 2]).sum()), "selected_boxes": float(ds.boxes_per_image("train", [3]).sum())}
    assert get_task("classification").cost_fields(ds, [0], [1]) == {}, "tasks costed in images record nothing"


def test_isal_detection_is_the_detection_code():
    """dragonlzm/ISAL detection/src/utils.py multi_gpu_s_test (damping 0.01, scale [100, 8000,
    5000] for FCOS's kernels) and multi_gpu_cal_influence (−Σ grad·s_test / len(dataset));
    detection/src/test_calc_influ.py noised-score-thresh 0.5 and its parameters (the weights of
    bbox_head.conv_cls, conv_reg, conv_centerness); detection/src/mining/methods/mining_algorithm.py
    pseudo_label keeps scores ≥ the threshold and leaves images without one out."""
    from altoolkit.strategies.detection import ISAL_DETECTION_SCALES
    from altoolkit.training.detection_models import HEAD_LAST_LAYERS, head_last_names

    s = alt.get_strategy("isal", task="detection")
    o = s.options()
    assert (o["score_threshold"], o["which"], o["scale"], o["damping"], o["depth"], o["repeats"]) == (0.5, "head_last", None, 0.01, 1000, 4)
    assert ISAL_DETECTION_SCALES == (100.0, 8000.0, 5000.0)
    net = alt.build_model("fcos_small", (1, 32, 32), 10, seed=0)
    names = head_last_names(net)
    assert names == HEAD_LAST_LAYERS and all(n.endswith(".weight") for n in names)
    assert s._scales(names) == dict(zip(names, ISAL_DETECTION_SCALES))
    assert _paper()["STRATEGY_OPTIONS"]["isal"] == {"depth": 1000, "repeats": 4}
