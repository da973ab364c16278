"""Models used in the notebooks and the AL loop.

Every model here has the same small contract, which the strategies rely on:

- ``model(x)`` returns logits ``(B, C)``;
- ``model.embed(x)`` returns the penultimate features ``(B, D)`` (Core-set, BADGE, t-SNE);
- ``model.head`` is the final ``nn.Linear(D, C)`` (last-layer gradients, BADGE).

Sizes: ``mlp`` and ``cnn`` for 8x8 digits (train in seconds on a CPU); ``convnet``, three
conv blocks that halve the resolution each, for 28x28 and 32x32 images on a CPU (the ``real``
profile: Fashion-MNIST, CIFAR-10); ``resnet18_cifar``, the
CIFAR-style ResNet-18 of the AL literature (3x3 stem, stride 1, no max-pool), for 32x32 inputs;
``resnet18`` is torchvision's ImageNet ResNet-18 for 224x224 inputs (Caltech101 in DISAL),
randomly initialised or loaded from a local ImageNet state dict (:func:`load_pretrained_backbone`).
The segmentation task's ``unet`` and ``fcn_resnet50`` (:mod:`.segmentation_models`) share the
names and the registry; their output is per-pixel logits ``(B, C, H, W)``.
"""

from __future__ import annotations

import os
from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

from ..util.checks import check_choice
from ..util.modules import output_layer
from ..util.plugins import Registry
from .segmentation_models import SEGMENTATION_BUILDERS
from .detection_models import DETECTION_BUILDERS

__all__ = [
    "MLP",
    "SmallCNN",
    "ConvNet",
    "ResNet18CIFAR",
    "TorchvisionResNet18",
    "build_model",
    "load_pretrained_backbone",
    "MODELS",
    "MODEL_REGISTRY",
    "RESNET18_IMAGENET_URL",
    "PRETRAINED_LOADS",
    "register_model",
    "model_names",
    "check_model",
    "penultimate_features",
    "forward_with_features",
]

#: Where torchvision's ImageNet ResNet-18 weights come from (the file siyuhuang/TOD
#: ``main_TOD.py`` loads as ``./resnet18-5c106cde.pth``; torchvision's newer ``IMAGENET1K_V1``
#: file ``resnet18-f37072fd.pth`` has the same keys).
RESNET18_IMAGENET_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"

#: What :func:`load_pretrained_backbone` loads from the ImageNet file, by name: the key prefixes
#: of the backbone left at their random initialisation.  ``"backbone"``: every backbone tensor
#: ("ImageNet-pretrained ResNet-18"); ``"tod"``: siyuhuang/TOD ``main_TOD.py``'s Caltech101 load,
#: whose key filter (``{k: v for k, v in pretrained_dict.items() if k in model_dict}``) meets a
#: network (``models/imagenet_resnet.py``) that names its last stage ``layer4_caltech`` and its
#: classifier ``fc_caltech``, so only ``conv1``, ``bn1`` and ``layer1``-``layer3`` are loaded.
PRETRAINED_LOADS: dict[str, tuple[str, ...]] = {"backbone": (), "tod": ("layer4.",)}


#: Revision of the built-in networks' definitions; bumped whenever one of them changes, so that
#: cached run records of the old networks are not mistaken for new ones (it enters
#: :func:`altoolkit.engine.sweep.config_hash` and every record).  1: altoolkit 0.1; 2: SmallCNN width 16;
#: 3: the dynamic loss's gradient formed from a per-epoch target (``EpochDynamicObjective``: the same
#: gradient as the step-by-step form, other rounding, so other floats after many steps).
MODEL_REVISION = 3


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
    """Two 3x3 conv layers (with BatchNorm) and a dense layer, sized for 8x8 digits.

    ``width`` is the first conv layer's channels (the second has twice as many).  It is 16 since
    0.2 (32 before): the second convolution at full 8x8 resolution is almost all of the cost, and
    halving the width made a training step 2.3x faster on a 2-core CPU (12 vs 29 ms per batch of
    64) with the same digits accuracy within the seeds' spread (random, 10% -> 25% -> 40%, seeds
    0-2: 0.90/0.97/0.98 against 0.90/0.98/0.98 at width 32), which is what lets the quick profile
    run the DISAL claims with 10 seeds in 15 minutes.  Pass ``width=32`` for the earlier network.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, hidden: int = 128, dropout: float = 0.2, spatial: int = 8):
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


class ConvNet(nn.Module):
    """Three blocks of 3x3 conv, BatchNorm, ReLU and 2x2 max-pool (``width``, 2·``width``,
    4·``width`` channels), global average pooling, a dense layer with dropout and the head.

    Sized for 28x28 and 32x32 images on two CPU cores: each block works at half the resolution of
    the one before, so the network costs about 2 MMAC per 28x28 image at ``width=16`` (the
    ``cnn`` of the digits, run at 28x28, would cost 4 MMAC in its second convolution alone).
    The ``real`` profile runs it on Fashion-MNIST and CIFAR-10 pools of 10,000 images.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, hidden: int = 128, dropout: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for k in range(3):
            out = width * 2**k
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Dropout(dropout))
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
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))

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

    No weights are downloaded (this toolkit never reaches the internet at run time).  The final
    ``fc`` is exposed as ``head``.  DISAL's Caltech101 settings are those of siyuhuang/TOD
    ``config/caltech101.py``, whose ``main_TOD.py`` starts from ImageNet weights: pass a local copy
    with ``build_model("resnet18", ..., pretrained_weights=PATH)`` (:func:`load_pretrained_backbone`).
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


def load_pretrained_backbone(model: nn.Module, path: str | os.PathLike[str], fresh: tuple[str, ...] = ()) -> nn.Module:
    """Load a local torchvision ResNet-18 state dict (ImageNet weights) into ``model``'s backbone.

    As siyuhuang/TOD ``main_TOD.py`` does for Caltech101 (``torch.load('./resnet18-5c106cde.pth')``,
    keeping the keys the network has): every backbone tensor (convolutions, BatchNorm weights and
    running statistics) is taken from the file; the classifier (``fc.*``, 1000 ImageNet classes)
    is not, so ``model.head`` keeps its fresh initialisation for the dataset's classes.  The file
    is read with ``torch.load(..., weights_only=True)`` (no code is executed).

    ``fresh``: key prefixes left at their random initialisation.  TOD's own network
    (siyuhuang/TOD ``models/imagenet_resnet.py``) names its last stage ``layer4_caltech`` and its
    classifier ``fc_caltech``, so its key filter loads only ``conv1``, ``bn1`` and ``layer1``-``layer3``
    from the ImageNet file: ``fresh=("layer4.",)`` reproduces that; the default loads the whole
    backbone, as "ImageNet-pretrained ResNet-18" reads.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message says where to download it).
        ValueError: the file is not a ResNet-18 state dict (missing keys or wrong shapes).
    """
    import os
    from pathlib import Path

    if not isinstance(model, TorchvisionResNet18):
        raise ValueError(f"pretrained weights apply to model 'resnet18' (TorchvisionResNet18), got {type(model).__name__}")
    p = Path(os.fspath(path)).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"pretrained_weights file {str(p)!r} does not exist. Download torchvision's ImageNet ResNet-18 "
            f"weights on a machine with internet ({RESNET18_IMAGENET_URL}, or "
            "torchvision.models.ResNet18_Weights.IMAGENET1K_V1.get_state_dict()) and pass the local path"
        )
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file, truncated, or a pickle that would run code
        raise ValueError(
            f"pretrained_weights file {str(p)!r} cannot be loaded as a torch state dict ({type(exc).__name__}): it is not a "
            "torch.save file of tensors, or it holds objects that would run code when loaded (refused: weights_only=True)"
        ) from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"pretrained_weights file {str(p)!r} does not hold a state dict (got {type(state).__name__})")
    own = model.backbone.state_dict()
    missing = sorted(k for k in own if k not in state)
    if missing:
        raise ValueError(
            f"pretrained_weights file {str(p)!r} is not a torchvision ResNet-18 state dict: {len(missing)} backbone keys are missing, e.g. {missing[:3]}"
        )
    wrong = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        raise ValueError(
            f"pretrained_weights file {str(p)!r} has tensors of other shapes than this ResNet-18, e.g. {wrong[0]!r}: "
            f"{tuple(state[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)} (3-channel input expected)"
        )
    fresh = tuple(fresh)
    model.backbone.load_state_dict({k: (own[k] if k.startswith(fresh) and fresh else state[k]) for k in own}, strict=True)
    return model


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


_BUILDERS: dict[str, Callable[[tuple[int, ...], int], nn.Module]] = {
    "mlp": lambda shape, c: MLP(_prod(shape), c),
    "cnn": lambda shape, c: SmallCNN(shape[0], c, spatial=min(shape[1:])),
    "convnet": lambda shape, c: ConvNet(shape[0], c),
    "resnet18_cifar": lambda shape, c: ResNet18CIFAR(shape[0], c),
    "resnet18": lambda shape, c: TorchvisionResNet18(shape[0], c),
    **SEGMENTATION_BUILDERS,  # per-pixel logits (B, C, H, W): the segmentation task's models
    **DETECTION_BUILDERS,  # torchvision's FCOS: head outputs per location, the detection task's models
}

#: Names accepted by :func:`build_model`.
MODELS: tuple[str, ...] = tuple(_BUILDERS)


def build_model(
    name: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    seed: int | None = None,
    pretrained_weights: str | None = None,
    pretrained_load: str = "backbone",
) -> nn.Module:
    """Build a model by name (see :data:`MODELS`), initialised deterministically from ``seed``.

    Args:
        name: ``"mlp"``, ``"cnn"``, ``"convnet"``, ``"resnet18_cifar"`` or ``"resnet18"``; or your own model: a name
            given to :func:`register_model`, or an import path ``"package.module:function"``.
        input_shape: shape of one sample, ``(C, H, W)`` (or ``(D,)`` for the MLP).
        num_classes: number of output logits.
        seed: when given, parameters are initialised under ``torch.manual_seed(seed)`` without
            disturbing the global RNG state.
        pretrained_weights: for ``"resnet18"`` only: a local torchvision state dict whose
            backbone weights replace the random ones (:func:`load_pretrained_backbone`).
        pretrained_load: which of them (:data:`PRETRAINED_LOADS`): ``"backbone"`` (all) or
            ``"tod"`` (conv1..layer3, as siyuhuang/TOD ``main_TOD.py``).

    Examples:
        >>> import torch, altoolkit as alt
        >>> net = alt.build_model("cnn", (1, 8, 8), 10, seed=0)
        >>> net(torch.zeros(2, 1, 8, 8)).shape, net.embed(torch.zeros(2, 1, 8, 8)).shape
        (torch.Size([2, 10]), torch.Size([2, 128]))
    """
    if name not in _BUILDERS:  # a registered name or an import path (see register_model)
        if pretrained_weights is not None:
            raise ValueError(f"pretrained_weights applies to model 'resnet18' only, got model {name!r}; a model of your own loads its weights in its factory")
        return _build_user_model(name, input_shape, num_classes, seed)
    if name != "mlp" and len(input_shape) != 3:
        raise ValueError(f"model {name!r} needs image inputs of shape (C, H, W); got input_shape={tuple(input_shape)}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if pretrained_weights is not None and name != "resnet18":
        raise ValueError(f"pretrained_weights applies to model 'resnet18' only, got model {name!r}")
    if seed is None:
        model = _BUILDERS[name](tuple(input_shape), num_classes)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _BUILDERS[name](tuple(input_shape), num_classes)
    if pretrained_weights is not None:
        load_pretrained_backbone(model, pretrained_weights, fresh=PRETRAINED_LOADS[check_choice("pretrained_load", pretrained_load, tuple(PRETRAINED_LOADS))])
    return model


# --------------------------------------------------------------------------- your own model

#: Built-in and registered model names, and "package.module:function" import paths.
MODEL_REGISTRY = Registry("model", _BUILDERS, positional=("input_shape", "num_classes"))


def register_model(name: str, factory: Callable[[tuple[int, ...], int], nn.Module]) -> None:
    """Make ``name`` a model of :func:`build_model`, ``ALConfig(model=name)`` and the labelling project.

    ``factory(input_shape, num_classes)`` returns a fresh ``nn.Module`` whose ``forward`` gives
    logits ``(B, num_classes)``; :func:`build_model` calls it under the seed it is given.  An
    ``embed(x)`` method (penultimate features) and a ``head`` (the final ``nn.Linear``) are
    optional: without them, the strategies that need features (Core-set, BADGE, ``batch="diverse"``,
    t-SNE maps) take the input of the model's last ``nn.Linear`` (:func:`penultimate_features`).

    Instead of registering, ``ALConfig(model="package.module:function")`` names the factory by its
    import path, which also works in the CLI and in sweep workers (see :mod:`altoolkit.util.plugins`).
    Registering a name again replaces the previous factory.

    Examples:
        >>> import altoolkit as alt
        >>> from torch import nn
        >>> alt.register_model("tiny", lambda shape, c: nn.Sequential(nn.Flatten(), nn.Linear(64, c)))
        >>> alt.build_model("tiny", (1, 8, 8), 10, seed=0)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    MODEL_REGISTRY.register(name, factory)


def model_names() -> tuple[str, ...]:
    """Names :func:`build_model` accepts: :data:`MODELS`, then the registered ones.

    >>> model_names()[:2]
    ('mlp', 'cnn')
    """
    return MODEL_REGISTRY.names()


def check_model(spec: str) -> str:
    """Validate a model name or import path without building anything; returns ``spec``.

    >>> check_model("cnn"), check_model("altoolkit.training.models:MLP")
    ('cnn', 'altoolkit.training.models:MLP')
    """
    MODEL_REGISTRY.resolve(spec)
    return spec


def _build_user_model(spec: str, input_shape, num_classes: int, seed: int | None) -> nn.Module:
    factory = MODEL_REGISTRY.resolve(spec)
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        net = factory(tuple(int(s) for s in input_shape), int(num_classes))
    if not isinstance(net, nn.Module):
        raise TypeError(f"model {spec!r}: its factory returned a {type(net).__name__}, not a torch nn.Module")
    return net


def forward_with_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(model(x), features)`` from ONE forward pass: the output and the input of the model's last
    ``nn.Linear`` (:func:`output_layer`), captured by a forward hook.

    For a network that ends with a linear classifier these features are exactly the penultimate
    features (``forward(x) == head(features)``, the contract BADGE relies on; for the built-in
    models they equal ``model.embed(x)``).  Gradients flow through both, so a second head on the
    features can be trained with the model (TOD's ``linear1``, :mod:`altoolkit.strategies.tod`).
    The hook's output is checked against the model's output; a model whose forward does something
    after its last linear layer (or applies it to more than ``(B, D)``) gets an error that says to
    define ``embed()``.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> [t.shape for t in forward_with_features(net, torch.zeros(5, 2, 2))]
    [torch.Size([5, 3]), torch.Size([5, 8])]
    """
    name, layer = output_layer(model)
    seen: dict[str, torch.Tensor] = {}

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        seen["input"], seen["output"] = inputs[0], output

    handle = layer.register_forward_hook(hook)
    try:
        out = model(x)
    finally:
        handle.remove()
    what = f"model {type(model).__name__} has no embed() method and its last nn.Linear ({name!r})"
    if "input" not in seen:
        raise ValueError(f"{what} was not called by forward(); define embed(x) -> (B, D) penultimate features")
    feats, last = seen["input"], seen["output"]
    if feats.dim() != 2 or feats.shape[0] != x.shape[0]:
        raise ValueError(f"{what} received input of shape {tuple(feats.shape)}, not (batch, features); define embed(x) -> (B, D) penultimate features")
    if not (last is out or (isinstance(out, torch.Tensor) and out.shape == last.shape and torch.equal(out, last))):
        raise ValueError(
            f"{what} does not produce the model's output (forward() does more after it); "
            "define embed(x) -> (B, D) penultimate features and head = the final nn.Linear"
        )
    return out, feats


def penultimate_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Penultimate features ``(B, D)`` of ``model`` on the batch ``x``.

    ``model.embed(x)`` when the model defines it.  Otherwise the input of the model's last
    ``nn.Linear`` during ``model(x)``, checked to produce the model's output
    (:func:`forward_with_features`).

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> penultimate_features(net, torch.zeros(5, 2, 2)).shape
    torch.Size([5, 8])
    """
    embed = getattr(model, "embed", None)
    if callable(embed):
        return embed(x)
    return forward_with_features(model, x)[1]
