"""The object-detection task (ISAL §4.2-4.3): a label is a set of boxes with a class each, the model
is a detector (torchvision FCOS, :mod:`altoolkit.training.detection_models`) trained with FCOS's
own loss (plus DISAL's per-location dynamic loss for ``disal``), the metric is COCO AP
(pycocotools) with AP50 and AP75 beside it, a score is reduced per image by the task's strategies
(``TASK_STRATEGIES["detection"]``), and **a sample costs its number of ground-truth boxes**.

Budgets are given in images, as ISAL selects them (``initial_size``/``step_size`` or the
fractions); every cycle entry records what the labeled set and the selection cost in boxes
(``labeled_boxes``, ``selected_boxes``: :meth:`altoolkit.engine.tasks.Task.cost_fields`), so a
curve can be drawn against images and against boxes (:mod:`altoolkit.analysis.annotation_cost`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..analysis.selection_balance import normalised_class_entropy
from ..data.detection import DetectionDataset
from ..training.detection import DETECTION_AUGMENTATIONS, DetectorOutputError, evaluate_detection, train_detection_model
from ..training.detection_models import is_detector
from ..training.models import build_model
from .tasks import Task, train_fresh_supervised

__all__ = ["DetectionTask", "AP_LABELS"]

#: What each metric field of a detection cycle entry means (the record's ``accuracy``).
AP_LABELS: dict[str, str] = {
    "test_ap": "final epoch: COCO AP@[.50:.95] on the test split (pycocotools COCOeval, 100 detections per image, all areas), ISAL §4.2's metric on COCO",
    "test_ap50": "final epoch: AP at IoU 0.5 (ISAL §4.2's VOC 'mAP')",
    "test_ap75": "final epoch: AP at IoU 0.75",
    "test_ap_per_class": "final epoch: AP@[.50:.95] of every class (null: no test box of that class)",
    "test_detections_per_image": "final epoch: mean number of detections per test image (0: the detector returned nothing, AP 0)",
}


class DetectionTask(Task):
    """Object detection (ISAL §4.2): boxes, COCO AP, FCOS's loss, one box = one unit of cost."""

    name = "detection"
    label = "boxes (k, 4) and their classes (k,), k >= 0"
    output = "per-location class logits, boxes and centre-ness (FCOS), then detections"
    metric = "test_ap"
    metric_name = "test COCO AP@[.50:.95]"
    cost_unit = "boxes"
    dataset_type = DetectionDataset
    #: the embedded scenes and the small FCOS, trained as measured for them (notebook 11)
    defaults = {"dataset": "digit_scenes", "model": "fcos_small", "batch_size": 8, "lr": 0.02, "weight_decay": 1e-4}

    def check_config(self, config) -> None:
        refused = {
            "eval_every": (config.eval_every, 0, "the per-epoch evaluation reports accuracy, a classification metric"),
            "pretrained_weights": (config.pretrained_weights, None, "it loads torchvision's classification ResNet-18"),
            "warm_start": (config.warm_start, False, "ISAL retrains the detector from its initialisation every cycle"),
        }
        for name, (value, allowed, why) in refused.items():
            if value != allowed:
                raise ValueError(f"{name}={value!r} is not supported with task='detection' (use {allowed!r}): {why}")
        if config.augment not in DETECTION_AUGMENTATIONS:
            raise ValueError(
                f"augment={config.augment!r} is not supported with task='detection': use one of {', '.join(DETECTION_AUGMENTATIONS)} (a crop would cut boxes)"
            )
        batch = config.strategy_options.get("batch")
        if batch not in (None, "topk"):
            raise ValueError(f"batch={batch!r} is not supported with task='detection': the batch rules read class predictions per image; use batch='topk'")

    def check_dataset(self, dataset: Any) -> None:
        super().check_dataset(dataset)
        if int(dataset.y_test.counts().sum()) == 0:
            raise ValueError(f"the test split of dataset {dataset.name!r} holds no box: average precision is undefined; give test images with objects")

    def probe_model(self, config, dataset) -> int | None:
        """The model must be a detector (:func:`altoolkit.training.detection_models.is_detector`) whose
        untrained outputs on two training images are finite; refused before any training, naming it.
        A detector's outputs have no single width: ``None``."""
        net = build_model(config.model, dataset.input_shape, dataset.num_classes, seed=0)
        if not is_detector(net):
            raise DetectorOutputError(
                f"model {config.model!r} is no detector (the detection task needs a detector: methods losses, image_losses, detections, embed); "
                "use model='fcos_small' or 'fcos_resnet50_fpn' (altoolkit.training.detection_models.FCOSDetector wraps any torchvision FCOS)"
            )
        xb = dataset.to_input(dataset.x_train[: min(2, dataset.n_train)]).to(config.device)
        with torch.inference_mode():
            out = net.to(config.device).eval()(xb)
        bad = [k for k, v in out.items() if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:
            raise DetectorOutputError(f"model {config.model!r} gives non-finite {', '.join(bad)} untrained, on two images of dataset {dataset.name!r}")
        return None

    def record_fields(self) -> dict[str, Any]:
        return {"metric": self.metric, "cost_unit": self.cost_unit, "accuracy": dict(AP_LABELS)}

    def train(self, config, dataset, labeled, cycle, strategy, progress, init_state, unlabeled):
        trainer = train_detection_model
        return train_fresh_supervised("detection", trainer, config, dataset, labeled, cycle, strategy, progress, init_state)

    def evaluate(self, model, dataset, config) -> dict[str, Any]:
        s = evaluate_detection(model, dataset.x_test, dataset.y_test, dataset.num_classes, dataset.to_input, config.score_batch_size, config.device)
        return {
            "test_ap": s.ap,
            "test_ap50": s.ap50,
            "test_ap75": s.ap75,
            "test_ap_per_class": s.ap_per_class,
            "test_detections_per_image": s.detections_per_image,
        }

    def cycle_fields(self, config, dataset, model, result, selected) -> dict[str, Any]:
        """The boxes per class of the selected images and the normalised entropy of those counts
        (None for an empty batch or one without boxes)."""
        c = int(dataset.num_classes)
        if len(selected) == 0:
            return {"selected_box_class_counts": [0] * c, "selection_class_entropy": None}
        counts = [int(v) for v in dataset.y_train[torch.as_tensor(list(selected), dtype=torch.long)].class_counts(c)]
        return {"selected_box_class_counts": counts, "selection_class_entropy": normalised_class_entropy(counts) if sum(counts) else None}

    def annotation_cost(self, dataset: Any, indices: Any) -> float:
        """The number of ground-truth boxes of the pool images ``indices`` (ISAL §4.2)."""
        if len(indices) == 0:
            return 0.0
        return float(np.sum(dataset.y_train[torch.as_tensor(list(indices), dtype=torch.long)].counts()))
