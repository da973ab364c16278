"""Models used in the notebooks and the AL loop.

Every model here has the same small contract, which the strategies rely on:

- ``model(x)`` returns logits ``(B, C)``;
- ``model.embed(x)`` returns the penultimate features ``(B, D)`` (Core-set, BADGE, t-SNE);
- ``model.head`` is the final ``nn.Linear(D, C)`` (last-layer gradients, BADGE).

Sizes: ``mlp`` and ``cnn`` for 8x8 digits (train in seconds on a CPU); ``resnet18_cifar``, the
CIFAR-style ResNet-18 of the AL literature (3x3 stem, stride 1, no max-pool), for 32x32 inputs;
``resnet18`` is torchvision's ImageNet ResNet-18 for 224x224 inputs (Caltech101 in DISAL).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["MLP", "SmallCNN", "ResNet18CIFAR", "TorchvisionResNet18", "build_model", "MODELS"]


class MLP(nn.Module):
    """Two hidden layers with ReLU and dropout; input is flattened."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 128, dropout: float = 0.2):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.head = nn.Linear(hidden, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


class SmallCNN(nn.Module):
    """Two 3x3 conv layers (with BatchNorm) and a dense layer, sized for 8x8 digits."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32, hidden: int = 128,
                 dropout: float = 0.2, spatial: int = 8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(max(1, spatial // 4)),
            nn.Flatten(),
        )
        flat = 2 * width * max(1, spatial // 4) ** 2
        self.fc = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.head = nn.Linear(hidden, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


class _BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18CIFAR(nn.Module):
    """ResNet-18 for 32x32 inputs as used by VAAL/LL4AL/TOD/DISAL: 3x3 stem, stride 1, no max-pool."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, 2, 1)
        self.layer2 = self._make_layer(128, 2, 2)
        self.layer3 = self._make_layer(256, 2, 2)
        self.layer4 = self._make_layer(512, 2, 2)
        self.head = nn.Linear(512, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(_BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


class TorchvisionResNet18(nn.Module):
    """torchvision's ResNet-18 (7x7 stem, max-pool) for 224x224 inputs, randomly initialised.

    No pretrained weights are downloaded: the papers train from scratch, and this machine has
    no internet.  The final ``fc`` is exposed as ``head``.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 101):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None, num_classes=num_classes)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.head = net.fc
        net.fc = nn.Identity()
        self.backbone = net

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


_BUILDERS: dict[str, Callable[[tuple[int, ...], int], nn.Module]] = {
    "mlp": lambda shape, c: MLP(_prod(shape), c),
    "cnn": lambda shape, c: SmallCNN(shape[0], c, spatial=min(shape[1:])),
    "resnet18_cifar": lambda shape, c: ResNet18CIFAR(shape[0], c),
    "resnet18": lambda shape, c: TorchvisionResNet18(shape[0], c),
}

#: Names accepted by :func:`build_model`.
MODELS: tuple[str, ...] = tuple(_BUILDERS)


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int | None = None) -> nn.Module:
    """Build a model by name (see :data:`MODELS`), initialised deterministically from ``seed``.

    Args:
        name: ``"mlp"``, ``"cnn"``, ``"resnet18_cifar"`` or ``"resnet18"``.
        input_shape: shape of one sample, ``(C, H, W)`` (or ``(D,)`` for the MLP).
        num_classes: number of output logits.
        seed: when given, parameters are initialised under ``torch.manual_seed(seed)`` without
            disturbing the global RNG state.
    """
    if name not in _BUILDERS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {name!r}")
    if name != "mlp" and len(input_shape) != 3:
        raise ValueError(
            f"model {name!r} needs image inputs of shape (C, H, W); got input_shape={tuple(input_shape)}"
        )
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if seed is None:
        return _BUILDERS[name](tuple(input_shape), num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _BUILDERS[name](tuple(input_shape), num_classes)
