"""Runtime estimates that long notebook cells print before they start ("about N min on 2 cores").

This module owns the measured per-unit time constants and the arithmetic on them; no estimate is
typed into a notebook.  The constants were measured with :func:`measure` (``python -m
altoolkit.engine.estimate``) on the project's 2-core CPU machine, on the embedded 8x8 digits with the
package's trainer (batch 64) on 2026-12-03, the mean of two runs of ``measure()`` (medians of 3
repeats each) taken while about 17 other processes shared the 2 cores (load average 16-20), so they
are on the slow side for an idle machine:

* seconds per (training sample x epoch), per model, without and with the dynamic loss;
* seconds per (pool sample x t-SNE iteration) of :func:`altoolkit.analysis.pool_maps.tsne_pool_map`.

An estimate is the sum of units x constants, rounded up to whole minutes (or to 10 s below a
minute); it covers training and t-SNE, the dominant costs, not scoring.
"""

from __future__ import annotations

import math
import os
import time

__all__ = [
    "TRAIN_SECONDS_PER_SAMPLE_EPOCH",
    "TSNE_SECONDS_PER_SAMPLE_ITER",
    "MEASURED_ON",
    "training_seconds",
    "tsne_seconds",
    "say",
    "measure",
]

#: measured by ``python -m altoolkit.engine.estimate`` (see :func:`measure`); keys: (model, dynamic loss on)
TRAIN_SECONDS_PER_SAMPLE_EPOCH: dict[tuple[str, bool], float] = {
    ("cnn", False): 0.018,
    ("cnn", True): 0.013,
    ("mlp", False): 0.0032,
    ("mlp", True): 0.0028,
}
#: t-SNE (PCA to 50, exact gradient on the digits pool) seconds per pool sample per iteration
TSNE_SECONDS_PER_SAMPLE_ITER: float = 4.8e-05
#: where the constants come from (printed with every estimate)
MEASURED_ON = "2 cores"


def training_seconds(n_samples: int, epochs: int, model: str = "cnn", dynamic: bool = False) -> float:
    """Estimated seconds to train ``model`` on ``n_samples`` digits for ``epochs`` epochs; ``nan``
    for a model without a measured constant (:func:`say` then prints that there is no estimate)."""
    key = (model, bool(dynamic))
    if key not in TRAIN_SECONDS_PER_SAMPLE_EPOCH:
        return float("nan")
    if n_samples < 0 or epochs < 0:
        raise ValueError(f"n_samples and epochs must be >= 0, got {n_samples} and {epochs}")
    return n_samples * epochs * TRAIN_SECONDS_PER_SAMPLE_EPOCH[key]


def tsne_seconds(n_samples: int, iterations: int) -> float:
    """Estimated seconds of one t-SNE map of ``n_samples`` points for ``iterations`` steps."""
    if n_samples < 0 or iterations < 0:
        raise ValueError(f"n_samples and iterations must be >= 0, got {n_samples} and {iterations}")
    return n_samples * iterations * TSNE_SECONDS_PER_SAMPLE_ITER


def _rounded(seconds: float) -> str:
    if seconds < 60:
        return f"{max(10, 10 * math.ceil(seconds / 10)):.0f} s"
    return f"{math.ceil(seconds / 60):.0f} min"


def say(seconds: float, what: str) -> str:
    """Print and return ``"<what>: about N min on 2 cores (training and t-SNE only)"``."""
    if not math.isfinite(seconds):
        text = f"{what}: no estimate (no measured speed for this model; constants exist for the digits cnn and mlp)"
    else:
        text = f"{what}: about {_rounded(seconds)} on {MEASURED_ON} (estimate from the measured digits training/t-SNE speed)"
    print(text)
    return text


def measure(repeats: int = 3) -> dict:
    """Measure the constants on this machine (the median of ``repeats`` runs of each)."""
    import numpy as np
    import torch

    from ..data import load_dataset
    from ..analysis.pool_maps import tsne_pool_map
    from ..training.models import build_model
    from ..training.train import TrainConfig, train_model

    data = load_dataset("digits", seed=0)
    n, epochs = 400, 5
    x, y = data.x_train[:n], data.y_train[:n]
    out: dict = {"cores": os.cpu_count()}
    for model in ("cnn", "mlp"):
        for dynamic in (False, True):
            times = []
            for r in range(repeats):
                net = build_model(model, tuple(data.x_train.shape[1:]), data.num_classes, seed=r)
                t0 = time.perf_counter()
                train_model(
                    net,
                    x,
                    y,
                    TrainConfig(epochs=epochs, dynamic_weight=1.0 if dynamic else 0.0),
                    seed=r,
                    progress=False,
                )
                times.append((time.perf_counter() - t0) / (n * epochs))
            out[f"train {model} dynamic={dynamic}"] = float(np.median(times))
    times = []
    pool = torch.arange(800)
    for r in range(repeats):
        t0 = time.perf_counter()
        tsne_pool_map(data, pool, None, source="input", seed=r, max_iter=250)
        times.append((time.perf_counter() - t0) / (800 * 250))
    out["tsne per sample-iteration"] = float(np.median(times))
    return out


if __name__ == "__main__":
    for k, v in measure().items():
        print(f"{k:<32} {v:.3g}")
