"""The segmentation task (DISAL §4.2): a label is a per-pixel class mask, the model outputs
per-pixel logits, training minimises the per-pixel cross-entropy plus DISAL's per-pixel dynamic
loss (:func:`altoolkit.training.segmentation.train_segmentation_model`), the metric is mIoU over
the classes present with the IoU of every class stored, a score is reduced per image by the
task's strategies (``TASK_STRATEGIES["segmentation"]``), and a sample costs one image.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from ..analysis.selection_balance import normalised_class_entropy
from ..data.segmentation import SegmentationDataset
from ..training.segmentation import evaluate_segmentation, predict_masks, train_segmentation_model
from .run_checks import probe_model
from .tasks import Task, train_fresh_supervised

__all__ = ["SegmentationTask", "MIOU_LABELS"]

#: What each metric field of a segmentation cycle entry means (the record's ``accuracy``).
MIOU_LABELS: dict[str, str] = {
    "test_miou": "final epoch: mean IoU over the classes present in the test masks or predictions (fyu/drn "
    "segment.py: one confusion matrix over the test split, np.nanmean of per_class_iu)",
    "test_iou_per_class": "final epoch: IoU of every class (null: neither in the masks nor in the predictions)",
    "test_pixel_accuracy": "final epoch: share of the labeled test pixels predicted right",
}


class SegmentationTask(Task):
    """Semantic segmentation (DISAL §4.2): masks, mIoU, per-pixel dynamic loss, one image per sample."""

    name = "segmentation"
    label = "a class mask (H, W) with an ignore value"
    output = "per-pixel logits (C, H, W)"
    metric = "test_miou"
    metric_name = "test mIoU over the classes present"
    dataset_type = SegmentationDataset
    #: the embedded scenes and the small U-Net, trained as measured for them (README: the scenes)
    defaults = {"dataset": "digit_scenes", "model": "unet", "batch_size": 4, "lr": 0.1}

    def check_config(self, config) -> None:
        refused = {
            "augment": (config.augment, "none", "DISAL §4.2 trains without augmentation; masks are not augmented"),
            "eval_every": (config.eval_every, 0, "the per-epoch evaluation reports accuracy, a classification metric"),
            "pretrained_weights": (config.pretrained_weights, None, "it loads torchvision's classification ResNet-18"),
            "warm_start": (config.warm_start, False, "segmentation retrains from a fresh initialisation every cycle (VAAL's setting)"),
        }
        for name, (value, allowed, why) in refused.items():
            if value != allowed:
                raise ValueError(f"{name}={value!r} is not supported with task='segmentation' (use {allowed!r}): {why}")

    def probe_model(self, config, dataset) -> int | None:
        """The model must give per-pixel logits ``(batch, num_classes, H, W)`` (checked before any training)."""
        return probe_model(config.model, dataset, config.device, config.pretrained_weights, per_sample=False)

    def record_fields(self) -> dict[str, Any]:
        return {"metric": self.metric, "accuracy": dict(MIOU_LABELS)}

    def train(self, config, dataset, labeled, cycle, strategy, progress, init_state, unlabeled):
        trainer = functools.partial(train_segmentation_model, num_classes=dataset.num_classes, ignore_index=dataset.ignore_index)
        return train_fresh_supervised("segmentation", trainer, config, dataset, labeled, cycle, strategy, progress, init_state)

    def evaluate(self, model, dataset, config) -> dict[str, Any]:
        scores = evaluate_segmentation(
            model, dataset.x_test, dataset.y_test, dataset.num_classes, dataset.to_input, dataset.ignore_index, config.score_batch_size, config.device
        )
        iou = [None if v != v else v for v in scores.iou_per_class]  # NaN (class absent) is null in JSON
        return {"test_miou": scores.miou, "test_iou_per_class": iou, "test_pixel_accuracy": scores.pixel_accuracy}

    def cycle_fields(self, config, dataset, model, result, selected) -> dict[str, Any]:
        """The labeled pixels per class of the selected images (true masks and the selecting model's
        prediction) and the normalised entropy of the true counts (None for an empty batch)."""
        c = int(dataset.num_classes)
        if len(selected) == 0:
            return {"selected_pixel_class_counts": [0] * c, "selected_pseudo_pixel_class_counts": [0] * c, "selection_class_entropy": None}
        idx = torch.as_tensor(list(selected), dtype=torch.long)
        counts = [int(v) for v in dataset.pixel_class_counts("train", idx)]
        pred = predict_masks(model, dataset.x_train[idx], dataset.to_input, config.score_batch_size, config.device)
        pseudo = [int(v) for v in np.bincount(pred.reshape(-1).long().numpy(), minlength=c)[:c]]
        return {
            "selected_pixel_class_counts": counts,
            "selected_pseudo_pixel_class_counts": pseudo,
            "selection_class_entropy": normalised_class_entropy(counts),
        }
