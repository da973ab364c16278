"""Detectors: torchvision's FCOS (:class:`torchvision.models.detection.FCOS`, Tian et al. 2019, the
detector of ISAL §4.2), wrapped so that the AL code can reach its parts.

:class:`FCOSDetector` holds a torchvision ``FCOS`` (``self.fcos``) and splits its ``forward`` into
the pieces the strategies need, all from torchvision's own code:

* ``forward(x)`` (a batch of images ``(B, C, H, W)``, already normalised): the head's outputs
  ``{"cls_logits": (B, L, K), "bbox_regression": (B, L, 4), "bbox_ctrness": (B, L, 1),
  "anchors": (B, L, 4)}`` over the ``L`` locations of every feature level (torchvision's
  ``FCOS.forward`` up to the head, without its ``GeneralizedRCNNTransform``: the datasets store
  images of one size, normalised by ``dataset.to_input``, so there is nothing to resize);
* :meth:`FCOSDetector.losses` / :meth:`FCOSDetector.image_losses`: ``FCOS.compute_loss`` (the
  focal classification loss, the GIoU box loss and the centre-ness BCE, each divided by the
  number of foreground locations) over the batch, or per image;
* :meth:`FCOSDetector.detections`: ``FCOS.postprocess_detections`` (score threshold, top-k, NMS);
* :meth:`FCOSDetector.embed`: the backbone's last feature map averaged over its locations
  (core-set's features).

Models (:data:`DETECTION_BUILDERS`, names of :func:`altoolkit.training.models.build_model`):

* ``fcos_small``: a small CNN backbone sized for 2 CPU cores on the 48x48 digit scenes (two
  stride-2 stages of conv + BatchNorm + ReLU, widths 16 and 32: one feature map at stride 4) and
  FCOS's head with 2 convolutions per branch (torchvision's default is 4) of 32 channels; one
  feature level with anchor size 8, so every object is assigned to it (``FCOS.compute_loss``
  bounds a level by 4 and 8 times its anchor size; the first level starts at 0 and the last
  one has no upper bound).
* ``fcos_resnet50_fpn``: :func:`torchvision.models.detection.fcos_resnet50_fpn` (ResNet-50-FPN,
  P3-P7, 4 convolutions per branch), the detector of ISAL §4.2, with random weights (nothing is
  downloaded; ISAL's mmdetection config starts from an ImageNet-pretrained ResNet-50).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

__all__ = ["FCOSDetector", "SmallBackbone", "DETECTION_BUILDERS", "HEAD_LAST_LAYERS", "head_last_names", "is_detector"]

#: ISAL's parameters for influence: "the parameters in FCOS's last convolution layer, which
#: contains three kernels used to generate the final prediction of classification, regression,
#: and centerness score" (ISAL §4.2; dragonlzm/ISAL ``detection/src/test_calc_influ.py``: the
#: weights of ``bbox_head.conv_cls``, ``conv_reg`` and ``conv_centerness``, biases excluded).
#: Their names in torchvision's FCOS head, in that order.
HEAD_LAST_LAYERS: tuple[str, ...] = (
    "fcos.head.classification_head.cls_logits.weight",
    "fcos.head.regression_head.bbox_reg.weight",
    "fcos.head.regression_head.bbox_ctrness.weight",
)


def head_last_names(model: nn.Module) -> tuple[str, ...]:
    """The names in ``model`` of FCOS's three last kernels (:data:`HEAD_LAST_LAYERS`, found by their
    suffix after ``fcos.``, so a detector wrapped in another module still finds them), in that order."""
    named = [n for n, _ in model.named_parameters()]
    out = []
    for full in HEAD_LAST_LAYERS:
        suffix = full.split("fcos.", 1)[1]
        hits = [n for n in named if n == suffix or n.endswith("." + suffix)]
        if len(hits) != 1:
            raise ValueError(
                f"the model has {len(hits)} parameters named like FCOS's {suffix!r}; ISAL's which='head_last' needs torchvision's "
                "FCOS head (altoolkit.training.detection_models.FCOSDetector): use which='weights' or 'all' for another detector"
            )
        out.append(hits[0])
    return tuple(out)


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SmallBackbone(nn.Module):
    """Two stride-2 stages (each two 3x3 conv + BatchNorm + ReLU) of widths ``width`` and
    ``2 * width``: one feature map at stride 4 with ``out_channels = 2 * width`` (what
    torchvision's ``FCOS`` asks of a backbone)."""

    def __init__(self, in_channels: int, width: int = 16):
        super().__init__()
        w = int(width)
        self.body = nn.Sequential(_conv_bn_relu(in_channels, w, 2), _conv_bn_relu(w, w, 1), _conv_bn_relu(w, 2 * w, 2), _conv_bn_relu(2 * w, 2 * w, 1))
        self.out_channels = 2 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class FCOSDetector(nn.Module):
    """A torchvision ``FCOS`` (``self.fcos``) split into head outputs, losses and detections (see
    the module docstring).  ``image_size`` is ``(H, W)`` of the stored images."""

    is_detector = True
    fcos: Any  # torchvision's FCOS (typed loosely: its parts are reached by name)

    def __init__(self, fcos: nn.Module, image_size: tuple[int, int]):
        super().__init__()
        self.fcos = fcos
        self.image_size = (int(image_size[0]), int(image_size[1]))

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.fcos.backbone(x)
        return [feats] if isinstance(feats, torch.Tensor) else list(feats.values())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        from torchvision.models.detection.image_list import ImageList

        if x.dim() != 4:
            raise ValueError(f"a detector takes a batch of images (B, C, H, W), got shape {tuple(x.shape)}")
        feats = self._features(x)
        out = dict(self.fcos.head(feats))
        images = ImageList(x, [tuple(x.shape[-2:])] * x.shape[0])
        generator = self.fcos.anchor_generator
        cached = generator.cell_anchors  # AnchorGenerator re-assigns them on every call: inside a
        try:  # torch.func transform they would be stored wrapped, and the module could not be copied
            anchors = generator(images, feats)
        finally:
            generator.cell_anchors = cached
        out["anchors"] = torch.stack(anchors)
        self._levels = [int(f.shape[2] * f.shape[3]) for f in feats]  # locations per level (not an output)
        return out

    def levels(self, x_shape: Sequence[int] | None = None) -> list[int]:
        """Locations per feature level of the last forward pass (for an input of ``x_shape``
        when given: one dummy forward on zeros)."""
        if x_shape is not None:
            with torch.no_grad():
                self.forward(torch.zeros((1, *x_shape[-3:]), device=next(self.parameters()).device))
        return list(self._levels)

    @staticmethod
    def _targets(targets: Any, device: Any) -> list[dict[str, torch.Tensor]]:
        dicts = targets.as_dicts() if hasattr(targets, "as_dicts") else list(targets)
        return [{"boxes": t["boxes"].to(device), "labels": t["labels"].to(device)} for t in dicts]

    def losses(self, outputs: dict[str, torch.Tensor], targets: Any) -> dict[str, torch.Tensor]:
        """``FCOS.compute_loss`` of a batch: ``{"classification", "bbox_regression",
        "bbox_ctrness"}``, each summed over the batch's foreground locations and divided by their
        number (torchvision's training loss)."""
        head = {k: v for k, v in outputs.items() if k != "anchors"}
        anchors = list(outputs["anchors"])
        return self.fcos.compute_loss(self._targets(targets, anchors[0].device), head, anchors, self._levels)

    def image_losses(self, outputs: dict[str, torch.Tensor], targets: Any) -> torch.Tensor:
        """``(B,)``: each image's FCOS loss, the sum of its three terms (dragonlzm/ISAL
        ``detection/src/utils.py`` ``multi_gpu_calculate_grad``: ``torch.sum`` over the loss dict),
        computed as if the image were a batch of one (ISAL's loaders give one image per step)."""
        tl = self._targets(targets, outputs["cls_logits"].device)
        per: list[torch.Tensor] = []
        for i in range(int(outputs["cls_logits"].shape[0])):
            one = {k: v[i : i + 1] for k, v in outputs.items()}
            per.append(torch.stack(list(self.losses(one, [tl[i]]).values())).sum())
        return torch.stack(per) if per else outputs["cls_logits"].new_zeros(0)

    def detections(self, outputs: dict[str, torch.Tensor], score_thresh: float | None = None) -> list[dict[str, torch.Tensor]]:
        """``FCOS.postprocess_detections``: per image ``{"boxes", "scores", "labels"}`` above
        ``fcos.score_thresh`` (or ``score_thresh`` when given and higher), at most
        ``fcos.detections_per_img`` after NMS, clipped to the image.  A higher threshold keeps the
        same detections above it (NMS only lets a box suppress lower-scored ones) and is faster."""
        split = {k: list(v.split(self._levels, dim=1)) for k, v in outputs.items() if k != "anchors"}
        anchors = [list(a.split(self._levels)) for a in outputs["anchors"]]
        default = self.fcos.score_thresh
        try:
            if score_thresh is not None:
                self.fcos.score_thresh = max(float(default), float(score_thresh))
            return self.fcos.postprocess_detections(split, anchors, [self.image_size] * len(anchors))
        finally:
            self.fcos.score_thresh = default

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's last feature map averaged over its locations, ``(B, D)``."""
        return self._features(x)[-1].mean(dim=(2, 3))


def is_detector(model: Any) -> bool:
    """Whether ``model`` has the interface of :class:`FCOSDetector` (a detector of the detection task)."""
    return all(callable(getattr(model, m, None)) for m in ("losses", "image_losses", "detections", "embed"))


def fcos_small(input_shape: tuple[int, ...], num_classes: int, width: int = 16) -> FCOSDetector:
    """``fcos_small`` (see the module docstring): FCOS with :class:`SmallBackbone` and a 2-conv head."""
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.fcos import FCOSHead

    backbone = SmallBackbone(input_shape[0], width)
    head = FCOSHead(backbone.out_channels, 1, num_classes, num_convs=2)
    anchors = AnchorGenerator(((8,),), ((1.0,),))
    side = int(max(input_shape[1:]))
    fcos = FCOS(backbone, num_classes, min_size=side, max_size=side, image_mean=[0.0] * input_shape[0], image_std=[1.0] * input_shape[0],
                anchor_generator=anchors, head=head, score_thresh=0.05, detections_per_img=50)  # fmt: skip
    return FCOSDetector(fcos, (int(input_shape[1]), int(input_shape[2])))


def fcos_resnet50_fpn(input_shape: tuple[int, ...], num_classes: int) -> FCOSDetector:
    """``fcos_resnet50_fpn``: torchvision's ResNet-50-FPN FCOS (random weights), ISAL §4.2's detector.
    Its score threshold is torchvision's evaluation setting for COCO AP (0.05), not its 0.2 default."""
    from torchvision.models.detection import fcos_resnet50_fpn as tv_fcos

    if input_shape[0] != 3:
        raise ValueError(f"fcos_resnet50_fpn needs RGB input (3 channels), got {input_shape[0]}")
    fcos = tv_fcos(weights=None, weights_backbone=None, num_classes=num_classes, score_thresh=0.05)
    return FCOSDetector(fcos, (int(input_shape[1]), int(input_shape[2])))


#: name -> factory(input_shape, num_classes), added to :func:`altoolkit.training.models.build_model`'s names.
DETECTION_BUILDERS = {
    "fcos_small": lambda shape, c: fcos_small(shape, c),
    "fcos_resnet50_fpn": lambda shape, c: fcos_resnet50_fpn(shape, c),
}
