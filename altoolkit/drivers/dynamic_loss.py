"""Notebook 02 (the dynamic loss): its experiment drivers (the logic stays out of the notebook).

- :func:`compare_dynamic_weights`: train the same model on the same labeled subset
  (:func:`altoolkit.util.seeds.labeled_subset`) with several dynamic-loss weights λ (DISAL
  Eq. 14) and score the rest of the pool with the DISAL KL.

The notebook's AL runs go through :func:`altoolkit.engine.sweep.run_sweep`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import torch
from ..util.progress import tqdm

from ..data import ALDataset
from ..training.inference import predict_logits
from ..training.fresh_model import train_fresh
from ..math.scores import disal_kl_from_logits
from ..training.train import TrainConfig, TrainResult
from ..util.checks import check_float
from ..util.seeds import labeled_subset

__all__ = ["LambdaRun", "compare_dynamic_weights"]


@dataclass
class LambdaRun:
    """One training at a given λ, and the DISAL scores of the unlabeled rest of the pool."""

    lam: float
    result: TrainResult
    kl_scores: torch.Tensor  # (N_unlabeled,) KL(f_{T-1} || f_T)

    @property
    def final_test_acc(self) -> float:
        return float(self.result.history["test_acc"][-1])


def compare_dynamic_weights(
    dataset: ALDataset,
    lambdas: Sequence[float],
    labeled_fraction: float = 0.2,
    config: TrainConfig | None = None,
    model: str = "cnn",
    seed: int = 0,
    progress: bool = True,
    pretrained_weights: str | None = None,
    pretrained_load: str = "backbone",
) -> dict[float, LambdaRun]:
    """Train once per λ from the same initial weights on the same labeled subset.

    Each run records train loss and test accuracy per epoch; the unlabeled rest of the pool is
    then scored with KL(f_{T-1} || f_T) from the last two epochs (DISAL Eq. 15, largest first).
    ``pretrained_weights`` / ``pretrained_load``: an ImageNet ResNet-18 loaded at initialisation
    (``model="resnet18"``, :func:`altoolkit.training.models.build_model`), as ``ALConfig`` takes them.
    """
    if not lambdas:
        raise ValueError("lambdas must list at least one dynamic-loss weight λ ≥ 0")
    lams = [check_float("lambdas[i]", lam, 0.0) for lam in lambdas]
    base = config or TrainConfig()
    lab, unl = labeled_subset(dataset.n_train, labeled_fraction, seed)
    out: dict[float, LambdaRun] = {}
    for lam in tqdm(lams, desc="λ", disable=not progress, leave=False):
        res = train_fresh(
            model,
            dataset,
            lab,
            replace(base, dynamic_weight=lam),
            seed,
            pretrained_weights=pretrained_weights,
            pretrained_load=pretrained_load,
            eval_data=(dataset.x_test, dataset.y_test),
            track_running_mean=True,
            progress=progress,
            desc=f"λ={lam:g}",
        )
        prev, last = predict_logits([res.prev_model(), res.model], dataset.x_train[unl], dataset.to_input, device=base.device)
        out[lam] = LambdaRun(lam, res, disal_kl_from_logits(prev, last))
    return out
