"""Notebook 02 (the dynamic loss): its experiment drivers (the logic stays out of the notebook).

- :func:`compare_dynamic_weights`: train the same model on the same labeled subset with several
  dynamic-loss weights λ (DISAL Eq. 14) and score the rest of the pool with the DISAL KL.
- :func:`run_many`: several AL runs (strategies × seeds), each optionally saved/resumed on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from ..util.progress import tqdm

from ..data import ALDataset
from ..training.inference import predict_logits
from ..engine.loop import ALConfig, derive_seed, run_active_learning
from ..training.fresh_model import train_fresh
from ..math.scores import disal_kl_from_logits
from ..training.train import TrainConfig, TrainResult
from ..util.checks import check_float, check_fraction

__all__ = ["LambdaRun", "compare_dynamic_weights", "run_many", "labeled_subset"]


@dataclass
class LambdaRun:
    """One training at a given λ, and the DISAL scores of the unlabeled rest of the pool."""

    lam: float
    result: TrainResult
    kl_scores: torch.Tensor  # (N_unlabeled,) KL(f_{T-1} || f_T)

    @property
    def final_test_acc(self) -> float:
        return float(self.result.history["test_acc"][-1])


def labeled_subset(n_pool: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random labeled subset of ``fraction`` of the pool and the unlabeled rest (sorted)."""
    check_fraction("labeled_fraction", fraction)
    k = max(1, int(round(fraction * n_pool)))
    perm = np.random.default_rng(derive_seed(seed, 0xA1)).permutation(n_pool)
    return torch.from_numpy(np.sort(perm[:k])), torch.from_numpy(np.sort(perm[k:]))


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


def run_many(
    base: ALConfig,
    strategies: Iterable[str],
    seeds: Iterable[int],
    out_dir: str | Path | None = None,
    dataset: ALDataset | None = None,
    progress: bool = True,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Run ``base`` for every strategy × seed and return the records.

    With ``out_dir``, each record is saved as ``{strategy}_seed{seed}.json`` and a finished or
    interrupted run is resumed instead of recomputed.  ``overrides`` replace fields of ``base``.
    A dataset given here is reused across runs (it must be the one ``base`` names, split by the
    same seed); otherwise each run loads its own with its seed.
    """
    runs = [(s, seed) for s in strategies for seed in seeds]
    if not runs:
        raise ValueError("strategies and seeds must each name at least one value")
    records = []
    for strategy, seed in tqdm(runs, desc="runs", disable=not progress):
        cfg = replace(base, strategy=strategy, seed=seed, **overrides)
        out = Path(out_dir) / f"{strategy}_seed{seed}.json" if out_dir is not None else None
        records.append(run_active_learning(cfg, out=out, dataset=dataset, progress=False))
    return records
