"""The default λ and "train a fresh model for (seed, keys)", written once.

Every experiment in the package (the AL loop's cycles, the labelling project, the notebooks'
second-cycle comparison, λ sweeps, the ISAL study) trains a model from a fresh initialisation
on a labeled subset.  They all derive two seeds from the run's ``seed`` and a few integer
``keys`` (e.g. the cycle) with :func:`altoolkit.util.seeds.derive_seed`: ``derive_seed(seed,
*keys, 1)`` initialises the weights and ``derive_seed(seed, *keys, 2)`` seeds training (shuffling, dropout, augmentation), so the same
``(seed, keys)`` gives the same model bit for bit.  :func:`train_fresh` is that recipe
(:func:`fresh_network` its first half, for a caller that changes the network before training).

:func:`default_dynamic_weight` is the one λ rule (DISAL Eq. 14): a λ given explicitly is used;
otherwise strategies trained with the dynamic loss (``dynamic_loss`` of
:class:`~altoolkit.training.train.TrainingAdditions`: ``disal``, ``disal_no_selection``) get 1.0 and
the others plain cross-entropy (0).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ..util.seeds import derive_seed
from .models import build_model
from .train import TrainingAdditions, train_model

__all__ = ["default_dynamic_weight", "fresh_network", "train_fresh"]


def default_dynamic_weight(strategy: TrainingAdditions | None, dynamic_weight: float | None = None, otherwise: float = 0.0) -> float:
    """λ of DISAL Eq. 14 for a run of ``strategy``.

    Args:
        strategy: the run's strategy (:class:`~altoolkit.training.train.TrainingAdditions`: any
            object with ``dynamic_loss``, e.g. a :class:`altoolkit.strategies.Strategy`), or ``None``.
        dynamic_weight: an explicit λ; when not ``None`` it is returned as a float.
        otherwise: λ for strategies not trained with the dynamic loss (default 0: plain CE).

    >>> import altoolkit as alt
    >>> disal, entropy = alt.get_strategy("disal"), alt.get_strategy("entropy")
    >>> default_dynamic_weight(disal), default_dynamic_weight(entropy), default_dynamic_weight(entropy, 0.5)
    (1.0, 0.0, 0.5)
    """
    if dynamic_weight is not None:
        return float(dynamic_weight)
    return 1.0 if getattr(strategy, "dynamic_loss", False) else float(otherwise)


def fresh_network(model: str, dataset: Any, seed: int, *keys: int, pretrained_weights: str | None = None, pretrained_load: str = "backbone") -> nn.Module:
    """``model`` built for ``dataset`` and initialised from ``derive_seed(seed, *keys, 1)``: the
    network :func:`train_fresh` trains, for a caller that changes it first (strips layers, keeps
    its initial weights) and then passes it to :func:`train_fresh`.

    >>> import altoolkit as alt
    >>> ds = alt.load_digits(seed=0)
    >>> a, b = fresh_network("mlp", ds, 0, 3), fresh_network("mlp", ds, 0, 3)
    >>> torch.equal(a.head.weight, b.head.weight)
    True
    """
    seed = derive_seed(seed, *keys, 1)
    return build_model(model, dataset.input_shape, dataset.num_classes, seed=seed, pretrained_weights=pretrained_weights, pretrained_load=pretrained_load)


def train_fresh(
    model: str | nn.Module,
    dataset: Any,
    indices: torch.Tensor,
    config: Any,
    seed: int,
    *keys: int,
    labels: torch.Tensor | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
    pretrained_weights: str | None = None,
    pretrained_load: str = "backbone",
    trainer: Callable[..., Any] | None = None,
    **train_kwargs: Any,
) -> Any:
    """Build ``model`` freshly initialised from ``derive_seed(seed, *keys, 1)`` (:func:`fresh_network`)
    and train it on ``dataset.x_train[indices]`` with ``derive_seed(seed, *keys, 2)``.

    Args:
        model: a model name or import path (:func:`altoolkit.training.models.build_model`), or a
            network already built (e.g. by :func:`fresh_network`), trained in place from its
            current weights.
        dataset: the :class:`~altoolkit.data.ALDataset` (its ``to_input`` converts batches).
        indices: pool positions of the labeled samples.
        config: the :class:`~altoolkit.training.train.TrainConfig`.
        seed, keys: the run's seed and the integers that tell this training apart (e.g. the cycle).
        labels: the labels to train on (default ``dataset.y_train[indices]``).
        init_state: weights to start from instead of the fresh initialisation (a warm start:
            the previous cycle's final state dict); the training seed is unchanged.
        pretrained_weights: a local torchvision state dict loaded at initialisation
            (:func:`altoolkit.training.models.build_model`), the tensors ``pretrained_load`` names.
        trainer: the training function, called as ``trainer(net, x, y, config, seed=, to_input=,
            **train_kwargs)`` (default :func:`~altoolkit.training.train.train_model`, which also gets
            ``num_classes`` and ``model_name``; the segmentation task passes
            :func:`~altoolkit.training.segmentation.train_segmentation_model`, detection
            :func:`~altoolkit.training.detection.train_detection_model`).
        train_kwargs: passed to the trainer (``checkpoint_epochs``, ``eval_data``, ``progress``, ``desc``, ...).

    Returns the :class:`~altoolkit.training.train.TrainResult`.

    >>> import altoolkit as alt
    >>> ds = alt.load_digits(seed=0)
    >>> idx = torch.arange(100)
    >>> a = train_fresh("mlp", ds, idx, alt.TrainConfig(epochs=1), 0, 3)
    >>> b = train_fresh(fresh_network("mlp", ds, 0, 3), ds, idx, alt.TrainConfig(epochs=1), 0, 3)
    >>> torch.equal(a.model.head.weight, b.model.head.weight)
    True
    """
    if isinstance(model, nn.Module) and pretrained_weights is not None:
        raise ValueError("pretrained_weights is loaded when train_fresh builds the network; pass it to fresh_network instead")
    if isinstance(model, nn.Module):
        net = model
    else:
        net = fresh_network(model, dataset, seed, *keys, pretrained_weights=pretrained_weights, pretrained_load=pretrained_load)
    if init_state is not None:
        net.load_state_dict(init_state)
    y = dataset.y_train[indices] if labels is None else labels
    if trainer is not None:
        return trainer(net, dataset.x_train[indices], y, config, seed=derive_seed(seed, *keys, 2), to_input=dataset.to_input, **train_kwargs)
    train_kwargs.setdefault("num_classes", dataset.num_classes)
    train_kwargs.setdefault("model_name", model)
    return train_model(net, dataset.x_train[indices], y, config, seed=derive_seed(seed, *keys, 2), to_input=dataset.to_input, **train_kwargs)
