"""Segmentation networks: ``model(x)`` returns per-pixel logits ``(B, C, H, W)`` at the input's
resolution, ``model.embed(x)`` pooled features ``(B, D)`` (Core-set on segmentation).

* ``unet``: :class:`SmallUNet`, a U-Net-like fully convolutional network sized for 2 CPU cores on
  the 48x48 digit scenes (106k parameters at its default ``width=16``).
* ``fcn_resnet50``: :func:`torchvision.models.segmentation.fcn_resnet50`, the stand-in for
  DRN-D-22 in the ``paper`` profile.  DRN-D-22 (Yu, Koltun & Funkhouser 2017; fyu/drn ``drn.py``
  ``drn_d_22``, the network of VAAL's and DISAL's Cityscapes setting) cannot be assembled from
  torchvision's parts: torchvision's ``BasicBlock`` refuses dilation > 1 (``NotImplementedError``),
  and DRN-D's stem (conv levels instead of max-pooling) and its residual-free last levels have no
  torchvision counterpart.  ``fcn_resnet50`` is the torchvision model closest in design: a dilated
  residual network at output stride 8 (``replace_stride_with_dilation=[False, True, True]``), a
  fully convolutional classifier and bilinear upsampling to the input, as DRNSeg; it is larger
  (ResNet-50 bottlenecks, 33M parameters against DRN-D-22's 16M).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SmallUNet", "TorchvisionFCN", "SEGMENTATION_BUILDERS"]


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SmallUNet(nn.Module):
    """A small U-Net (Ronneberger et al. 2015): three stride-2 encoder stages (widths w, 2w, 4w,
    each two 3x3 conv + BatchNorm + ReLU), a decoder that upsamples bilinearly and fuses the
    encoder's features of the same resolution (concatenation, one 3x3 conv), and a 1x1 classifier on
    those half-resolution features upsampled bilinearly to the input size: the same function as
    upsampling the logits (as DRN's and FCN's heads do; a 1x1 convolution and a bilinear
    interpolation, whose weights sum to one, commute), at w channels instead of C.

    The encoder's first stage works at half resolution, which makes a training step about twice
    as cheap as a full-resolution stage on a CPU; a 48x48 scene's digits (14-20 px) are 7-10
    pixels wide there.  ``embed`` is the global average of the deepest features (4w values).

    ``width=16`` (default): at width 8, trainings on the scenes often stayed at the all-background
    prediction for most of their 30 epochs (test mIoU after 60 labeled scenes, four seeds: 0.10-0.14
    at width 8, 0.12-0.21 at width 16; batch 4, lr 0.1), at about 1.7 times the cost per image.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 16):
        super().__init__()
        w = int(width)
        self.enc1 = nn.Sequential(_conv_bn_relu(in_channels, w, 2), _conv_bn_relu(w, w))
        self.enc2 = nn.Sequential(_conv_bn_relu(w, 2 * w, 2), _conv_bn_relu(2 * w, 2 * w))
        self.enc3 = nn.Sequential(_conv_bn_relu(2 * w, 4 * w, 2), _conv_bn_relu(4 * w, 4 * w))
        self.dec2 = _conv_bn_relu(6 * w, 2 * w)
        self.dec1 = _conv_bn_relu(3 * w, w)
        self.classifier = nn.Conv2d(w, num_classes, 1)

    @staticmethod
    def _up(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc3(self.enc2(self.enc1(x))).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.enc1(x)
        f2 = self.enc2(f1)
        f3 = self.enc3(f2)
        y = self.dec2(torch.cat([self._up(f3, f2), f2], dim=1))
        y = self.dec1(torch.cat([self._up(y, f1), f1], dim=1))
        return self.classifier(self._up(y, x))  # = upsampled logits (both linear, weights sum to 1), on w < C channels


class TorchvisionFCN(nn.Module):
    """:func:`torchvision.models.segmentation.fcn_resnet50` (no auxiliary head, random weights:
    nothing is downloaded) returning the logits tensor; ``embed`` is the global average of the
    backbone's output (2,048 values).  Needs 3-channel input."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        from torchvision.models.segmentation import fcn_resnet50

        if in_channels != 3:
            raise ValueError(f"fcn_resnet50 needs RGB input (3 channels), got {in_channels}")
        self.net = fcn_resnet50(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.backbone(x)["out"].mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]


#: name -> factory(input_shape, num_classes), added to :func:`altoolkit.training.models.build_model`'s names.
SEGMENTATION_BUILDERS = {
    "unet": lambda shape, c: SmallUNet(shape[0], c),
    "fcn_resnet50": lambda shape, c: TorchvisionFCN(shape[0], c),
}
