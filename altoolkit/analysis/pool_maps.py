"""t-SNE maps of the pool, aligned with the dataset indices they came from (DISAL Fig. 1 and 6).

Notebooks 04 and 05 map the pool:

- :func:`pool_features`: penultimate features ``model.embed`` (or logits, or the raw inputs) of
  any dataset indices, one batched pass.
- :func:`tsne_2d` / :func:`tsne_pool_map`: a deterministic 2-D t-SNE (``random_state`` = seed,
  PCA initialisation, optional PCA-to-50 step first) returned as a :class:`PoolMap` whose
  coordinates stay aligned with the dataset indices they came from (:func:`positions_in`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Sequence, cast

import numpy as np
import torch
from torch import nn

from ..data import ALDataset
from ..training.inference import predict_logits
from ..util.checks import check_choice, check_float, check_int

__all__ = ["FEATURE_SOURCES", "PoolMap", "positions_in", "pool_features", "tsne_2d", "tsne_pool_map"]

#: What a map can be computed from: penultimate features, logits, or the stored inputs.
FEATURE_SOURCES: tuple[str, ...] = ("embed", "logits", "input")

_TSNE_MIN_ITER = 250  # scikit-learn refuses fewer optimisation steps


def _tsne_iter_keyword() -> str:
    """scikit-learn renamed TSNE's ``n_iter`` to ``max_iter`` in 1.5 (and dropped ``n_iter`` in 1.7)."""
    from sklearn.manifold import TSNE

    return "max_iter" if "max_iter" in inspect.signature(TSNE).parameters else "n_iter"


def _as_index_tensor(name: str, indices: Any, n: int) -> torch.Tensor:
    """Dataset indices as a 1-D long tensor within ``[0, n)``, with a clear error otherwise."""
    t = torch.as_tensor(np.asarray(indices))
    if t.dim() != 1:
        raise ValueError(f"{name} must be a 1-D sequence of dataset indices, got shape {tuple(t.shape)}")
    if t.numel() and (t.is_floating_point() or t.dtype == torch.bool):
        raise TypeError(f"{name} must hold integer dataset indices, got dtype {t.dtype}")
    t = t.long()
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n):
        raise ValueError(f"{name} must be dataset indices in [0, {n - 1}], got values in [{int(t.min())}, {int(t.max())}]")
    return t


def pool_features(
    dataset: ALDataset,
    indices: Sequence[int] | torch.Tensor | None = None,
    model: nn.Module | None = None,
    source: str = "embed",
    batch_size: int = 512,
    device: str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Features of ``dataset.x_train[indices]`` as a float64 ``(N, D)`` array.

    Args:
        dataset: the dataset; ``indices`` refer to its train split (the pool).
        indices: dataset indices (default: the whole train split), in the order of the rows.
        model: the network (needed for ``"embed"`` and ``"logits"``), evaluated in eval mode.
        source: ``"embed"`` (penultimate features ``model.embed``, what DISAL Fig. 6 maps),
            ``"logits"``, or ``"input"`` (the model input ``dataset.to_input(x)``, flattened).
        batch_size, device, progress: batched inference settings.
    """
    check_choice("source", source, FEATURE_SOURCES)
    idx = torch.arange(dataset.n_train) if indices is None else _as_index_tensor("indices", indices, dataset.n_train)
    x = dataset.x_train[idx]
    if source == "input":
        rows = [dataset.to_input(x[s : s + batch_size]).reshape(min(batch_size, len(x) - s), -1) for s in range(0, len(x), batch_size)]
        feats = torch.cat(rows) if rows else torch.empty(0, int(np.prod(dataset.input_shape)))
    else:
        if model is None:
            raise ValueError(f"source={source!r} needs a model; pass model= or use source='input'")
        out = cast(torch.Tensor, predict_logits(model, x, dataset.to_input, batch_size, device, progress, embed=source == "embed"))  # one model: one tensor
        feats = out.reshape(len(idx), -1)
    return feats.double().numpy()


def tsne_2d(
    features: np.ndarray | torch.Tensor,
    seed: int = 0,
    perplexity: float = 30.0,
    max_iter: int = 1000,
    pca_dim: int | None = 50,
    n_threads: int | None = 1,
) -> np.ndarray:
    """2-D t-SNE of ``features`` (rows = samples), deterministic for ``seed``.

    ``sklearn.manifold.TSNE(init="pca", random_state=seed, learning_rate="auto")``; when
    ``pca_dim`` is set and the features have more columns, they are first reduced by PCA to
    ``pca_dim`` dimensions (the usual speed-up that t-SNE's authors recommend; it also removes
    noise directions).  Returns a float64 ``(N, 2)`` array in the order of the rows.  With the
    PCA initialisation the optimisation starts from a deterministic layout, so the map is the same
    for every seed (t-SNE's objective is non-convex: a random start would change it).

    ``n_threads`` caps the OpenMP threads of scikit-learn's Barnes-Hut gradient (``None``: no
    cap).  The default 1 is deliberate: for a pool of a few thousand points the threads mostly
    wait on each other, and on a busy 2-core machine 2 threads measured 8x more CPU time than 1.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = features.detach().cpu().double().numpy() if isinstance(features, torch.Tensor) else np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D (samples, features) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    n = x.shape[0]
    seed = check_int("seed", seed, 0)
    max_iter = check_int("max_iter", max_iter, _TSNE_MIN_ITER)
    if n < 3:
        raise ValueError(f"t-SNE needs at least 3 samples, got {n}")
    perplexity = check_float("perplexity", perplexity, 0.0, n - 1, min_inclusive=False, max_inclusive=False)
    if pca_dim is not None:
        pca_dim = check_int("pca_dim", pca_dim, 2)
        if x.shape[1] > pca_dim and n > pca_dim:
            x = PCA(n_components=pca_dim, svd_solver="full", random_state=seed).fit_transform(x)
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, 1)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed, **{_tsne_iter_keyword(): max_iter})
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        return tsne.fit_transform(x).astype(np.float64)


def positions_in(reference: Sequence[int] | torch.Tensor | np.ndarray, wanted: Sequence[int] | torch.Tensor | np.ndarray) -> np.ndarray:
    """Positions in ``reference`` (distinct dataset indices) of each of ``wanted``; a clear error
    names the indices that ``reference`` does not hold."""
    ref = np.asarray(reference.cpu() if isinstance(reference, torch.Tensor) else reference, dtype=np.int64).reshape(-1)
    w = np.asarray(wanted.cpu() if isinstance(wanted, torch.Tensor) else wanted, dtype=np.int64).reshape(-1)
    order = np.argsort(ref, kind="stable")
    sorted_ref = ref[order]
    if len(np.unique(sorted_ref)) != len(sorted_ref):
        raise ValueError("reference must hold distinct dataset indices")
    at = np.searchsorted(sorted_ref, w)
    found = (at < len(sorted_ref)) & (sorted_ref[np.minimum(at, len(sorted_ref) - 1)] == w) if len(sorted_ref) else np.zeros(len(w), bool)
    if not found.all():
        missing = w[~found].tolist()
        raise ValueError(f"dataset indices {missing[:10]}{'...' if len(missing) > 10 else ''} are not among the {len(ref)} reference samples")
    return order[at]


@dataclass
class PoolMap:
    """A 2-D map of some dataset samples.

    Attributes:
        indices: dataset indices of the mapped samples, ``(N,)``.
        coords: their 2-D coordinates, ``(N, 2)``, row ``i`` for ``indices[i]``.
        labels: their true labels, ``(N,)`` (for colouring; the map itself never sees them).
        source: what the map was computed from (``"embed"``, ``"logits"``, ``"input"``).
    """

    indices: np.ndarray
    coords: np.ndarray
    labels: np.ndarray
    source: str = "embed"

    def __post_init__(self) -> None:
        self.indices = np.asarray(self.indices, dtype=np.int64)
        self.coords = np.asarray(self.coords, dtype=np.float64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.indices)
        if self.coords.shape != (n, 2) or self.labels.shape != (n,):
            raise ValueError(f"a PoolMap needs coords (N, 2) and labels (N,) for N={n} indices; got {self.coords.shape} and {self.labels.shape}")
        if len(np.unique(self.indices)) != n:
            raise ValueError("PoolMap indices must be distinct dataset indices")

    def positions(self, dataset_indices: Sequence[int] | torch.Tensor | np.ndarray) -> np.ndarray:
        """Rows of the map holding ``dataset_indices`` (error if some are not on the map)."""
        return positions_in(self.indices, dataset_indices)

    def coords_of(self, dataset_indices: Sequence[int] | torch.Tensor | np.ndarray) -> np.ndarray:
        """2-D coordinates of ``dataset_indices``, ``(len, 2)``."""
        return self.coords[self.positions(dataset_indices)]


def tsne_pool_map(
    dataset: ALDataset,
    indices: Sequence[int] | torch.Tensor | None = None,
    model: nn.Module | None = None,
    source: str = "embed",
    seed: int = 0,
    perplexity: float = 30.0,
    max_iter: int = 1000,
    pca_dim: int | None = 50,
    batch_size: int = 512,
    device: str = "cpu",
    n_threads: int | None = 1,
) -> PoolMap:
    """t-SNE map of ``dataset.x_train[indices]`` from ``model``'s features (DISAL Fig. 1 and 6).

    See :func:`pool_features` for ``source`` and :func:`tsne_2d` for the t-SNE settings.
    """
    idx = torch.arange(dataset.n_train) if indices is None else _as_index_tensor("indices", indices, dataset.n_train)
    feats = pool_features(dataset, idx, model, source, batch_size, device)
    coords = tsne_2d(feats, seed=seed, perplexity=perplexity, max_iter=max_iter, pca_dim=pca_dim, n_threads=n_threads)
    return PoolMap(idx.numpy(), coords, dataset.y_train[idx].numpy(), source)
