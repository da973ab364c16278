"""The math of semantic segmentation: the metric (confusion matrix, per-class IoU, mIoU), the
per-pixel scores and their per-image reductions, DISAL's dynamic loss per pixel, and the
per-image pseudo-label loss that ISAL's UUIC needs on pixels.

**Metric.**  As fyu/drn ``segment.py`` (the DRN code of VAAL's and DISAL's segmentation setting):
a confusion matrix accumulated over the whole evaluation set (``fast_hist``: rows true class,
columns predicted, pixels labeled :data:`~altoolkit.data.segmentation.IGNORE_INDEX` skipped), the IoU of
class c = TP / (TP + FP + FN) (``per_class_iu``), and mIoU = the mean over the classes present,
i.e. those whose union TP + FP + FN is not zero (``np.nanmean`` of ``per_class_iu``).

**Per-image reduction of a per-pixel score.**  A segmentation network's output for an image is a
product of independent per-pixel categorical distributions, and the KL between two product
distributions is the sum of the per-pixel KLs:

    KL( Π_i f_{T-1}(x)_i || Π_i f_T(x)_i ) = Σ_i KL( f_{T-1}(x)_i || f_T(x)_i ).

DISAL's score of an image (Eq. 15 with the sign of :mod:`altoolkit.math.scores`) is therefore the
sum over its pixels, and the Fisher argument carries over (the image's Fisher information is the
sum of its pixels').  Images of one dataset have the same size, so the sum ranks like the mean;
``reduction="mean"`` (the default) divides by the number of pixels so that scores of different
image sizes are comparable.  ``"max"`` (the most unstable pixel) is the alternative the tests and
notebook 10 set against it.  The same reductions apply to the per-pixel entropy (the mean pixel
entropy of an image, the usual uncertainty baseline for segmentation).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "PIXEL_REDUCTIONS",
    "confusion_matrix",
    "iou_per_class",
    "mean_iou",
    "pixel_accuracy",
    "pixel_entropy",
    "pixel_kl",
    "reduce_pixels",
    "image_kl_scores",
    "image_entropy_scores",
    "PixelDynamicObjective",
    "pixel_dynamic_gradient_gap",
    "image_ce_loss",
    "image_ce_directional",
    "pseudo_label_masks",
]

#: How a per-pixel score becomes one score per image.
PIXEL_REDUCTIONS: tuple[str, ...] = ("mean", "max")


def _check_masks(name: str, t: torch.Tensor) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or t.is_floating_point():
        raise TypeError(f"{name} must be an integer tensor of class indices")
    return t.reshape(-1).long()


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """``(C, C)`` int64 counts: row = true class, column = predicted class, over every pixel whose
    target is a class (``ignore_index`` and any value outside ``0..C-1`` are skipped, as fyu/drn
    ``segment.py`` ``fast_hist``).  Add the matrices of several batches to accumulate.

    >>> confusion_matrix(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 255]]), 2).tolist()
    [[1, 1], [0, 1]]
    """
    p, t = _check_masks("pred", pred), _check_masks("target", target)
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same number of pixels, got {p.numel()} and {t.numel()}")
    keep = (t >= 0) & (t < num_classes) & (t != ignore_index)
    if bool(((p[keep] < 0) | (p[keep] >= num_classes)).any()):
        raise ValueError(f"pred holds a value outside the classes 0..{num_classes - 1}")
    return torch.bincount(num_classes * t[keep] + p[keep], minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_per_class(cm: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(C,)`` float64: TP / (TP + FP + FN) per class from a confusion matrix (fyu/drn
    ``per_class_iu``); NaN for a class that is neither in the targets nor in the predictions.

    >>> iou_per_class(np.array([[2, 1], [0, 0]])).round(3).tolist()
    [0.667, 0.0]
    """
    m = np.asarray(cm, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"cm must be a square (C, C) confusion matrix, got shape {m.shape}")
    tp = np.diag(m)
    union = m.sum(axis=0) + m.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1.0), np.nan)


def mean_iou(cm: torch.Tensor | np.ndarray) -> float:
    """mIoU over the classes present (``np.nanmean`` of :func:`iou_per_class`, as fyu/drn); NaN
    only for an empty matrix.

    >>> mean_iou(np.array([[2, 1, 0], [0, 0, 0], [0, 0, 0]]))
    0.3333333333333333
    """
    ious = iou_per_class(cm)
    return float(np.nanmean(ious)) if np.isfinite(ious).any() else float("nan")


def pixel_accuracy(cm: torch.Tensor | np.ndarray) -> float:
    """Share of the counted pixels whose class is predicted right."""
    m = np.asarray(cm, dtype=np.float64)
    return float(np.trace(m) / m.sum()) if m.sum() > 0 else float("nan")


def _check_logits(name: str, logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 4 or not logits.is_floating_point():
        raise ValueError(f"{name} must be float logits of shape (N, C, H, W), got {getattr(logits, 'shape', type(logits).__name__)}")


def pixel_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``(N, H, W)`` predictive entropy −Σ_c p_c log p_c of every pixel (float64 inside)."""
    _check_logits("logits", logits)
    lp = torch.log_softmax(logits.double(), dim=1)
    return -(lp.exp() * lp).sum(dim=1).float()


def pixel_kl(logits_prev: torch.Tensor, logits_last: torch.Tensor) -> torch.Tensor:
    """``(N, H, W)`` KL( softmax(prev) || softmax(last) ) of every pixel: DISAL's score (Eq. 15,
    sign of :mod:`altoolkit.math.scores`) per pixel, from logits (float64 inside, ≥ 0)."""
    _check_logits("logits_prev", logits_prev)
    if logits_prev.shape != logits_last.shape:
        raise ValueError(f"logits_prev has shape {tuple(logits_prev.shape)} but logits_last has {tuple(logits_last.shape)}; they must match")
    lp = torch.log_softmax(logits_prev.double(), dim=1)
    lq = torch.log_softmax(logits_last.double(), dim=1)
    return (lp.exp() * (lp - lq)).sum(dim=1).clamp_min(0.0).float()


def reduce_pixels(scores: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``(N,)`` one score per image from per-pixel scores ``(N, H, W)``: their ``"mean"`` (ranks as
    the sum, see the module docstring) or their ``"max"``.

    >>> reduce_pixels(torch.tensor([[[0.0, 4.0]], [[1.0, 2.0]]]), "mean").tolist(), reduce_pixels(torch.tensor([[[0.0, 4.0]], [[1.0, 2.0]]]), "max").tolist()
    ([2.0, 1.5], [4.0, 2.0])
    """
    if reduction not in PIXEL_REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(PIXEL_REDUCTIONS)}; got {reduction!r}")
    if not isinstance(scores, torch.Tensor) or scores.dim() < 2:
        raise ValueError("scores must be a tensor (N, H, W) of per-pixel scores")
    flat = scores.reshape(scores.shape[0], -1)
    return flat.mean(dim=1) if reduction == "mean" else flat.max(dim=1).values


def image_kl_scores(logits_prev: torch.Tensor, logits_last: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``(N,)`` DISAL's image score: the per-pixel KL(f_{T-1} || f_T) reduced per image."""
    return reduce_pixels(pixel_kl(logits_prev, logits_last), reduction)


def image_entropy_scores(logits: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``(N,)`` the per-pixel entropy reduced per image (``"mean"``: mean pixel entropy)."""
    return reduce_pixels(pixel_entropy(logits), reduction)


class PixelDynamicObjective:
    """DISAL's objective L_CE + λ·KL(f̄_(t) || f_θt) (Eq. 12-14) applied to every labeled pixel, at
    the cost of a cross-entropy per step: :class:`altoolkit.math.dynamic.EpochDynamicObjective`
    with a pixel in the place of a sample.

    Each pixel of each labeled image keeps its running mean f̄ (Eq. 12, one update per epoch, from
    the prediction of the step that visits the image).  The loss of a batch is the mean over its
    labeled pixels of CE + λ·KL; its gradient equals that of −Σ_k A_k log p_k with
    A = e_y + λ·c/(c+1)·f̄_(t-1) (c = epochs done), because the term of this step's own prediction
    has zero gradient (the derivation of ``EpochDynamicObjective``).  So a step costs a
    cross-entropy against A.  Pixels labeled ``ignore_index`` get no loss (A = 0); f̄ is kept for
    every pixel.  :func:`pixel_dynamic_gradient_gap` checks the gradients against the step-by-step
    form.

    Memory: f̄ is ``(n, C, H, W)`` floats in ``dtype`` (20 MB for 200 scenes of 48x48 with 11
    classes in float32; Cityscapes at 688x688 with 19 classes needs 36 MB per image in float32,
    ``dtype=torch.float16`` halves it).
    """

    def __init__(
        self,
        y: torch.Tensor,
        num_classes: int,
        dynamic_weight: float,
        ignore_index: int = 255,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        if y.dim() != 3:
            raise ValueError(f"y must be masks (n, H, W), got shape {tuple(y.shape)}")
        self.y = y.detach().long().cpu()
        self.num_classes, self.lam, self.ignore_index = int(num_classes), float(dynamic_weight), int(ignore_index)
        self.device = torch.device(device)
        n, h, w = self.y.shape
        # f̄ only when it is trained on (λ > 0); with λ = 0 this is the per-pixel cross-entropy
        self.mean: torch.Tensor | None = torch.zeros((n, self.num_classes, h, w), dtype=dtype) if self.lam > 0 else None
        self.epochs_done = 0
        self._visited = torch.zeros(n, dtype=torch.bool)
        self._sums = {"ce": 0.0, "kl": 0.0, "correct": 0, "pixels": 0}

    def step_loss(self, index: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """The loss to backpropagate for the images ``index`` (positions in the labeled set):
        −Σ A log p over the batch's labeled pixels divided by their number, written as the
        pixels' cross-entropy plus λ·c/(c+1)·(−Σ f̄_(t-1) log p) (same gradient as Eq. 14)."""
        index = index.cpu()
        log_p = F.log_softmax(logits, dim=1)
        yb = self.y.index_select(0, index).to(logits.device)
        valid = yb != self.ignore_index
        n_valid = valid.sum().clamp_min(1)
        ce_sum = F.nll_loss(log_p, yb, ignore_index=self.ignore_index, reduction="sum")
        loss = ce_sum / n_valid
        c = self.epochs_done
        if self.mean is not None and c > 0:
            prev = self.mean.index_select(0, index).to(logits.device, torch.float32)
            loss = loss - (self.lam * c / (c + 1)) * (prev * log_p).sum(dim=1).mul(valid).sum() / n_valid
        self._fold(index, log_p.detach(), yb, valid, int(n_valid), float(ce_sum.detach()))
        return loss

    @torch.no_grad()
    def _fold(self, index: torch.Tensor, log_p: torch.Tensor, yb: torch.Tensor, valid: torch.Tensor, n_valid: int, ce_sum: float) -> None:
        if bool(self._visited[index].any()):
            raise RuntimeError("an image was visited twice in one epoch; the dynamic loss needs each labeled image once per epoch")
        self._visited[index] = True
        self._sums["ce"] += ce_sum
        if self.mean is not None:
            c = self.epochs_done
            old = self.mean.index_select(0, index).to(log_p.device, torch.float32)
            new = old.lerp_(log_p.exp(), 1.0 / (c + 1))  # Eq. 12: f̄_t = f̄_{t-1}·c/(c+1) + f_t/(c+1)
            self.mean.index_copy_(0, index, new.to(self.mean.dtype).cpu())
            # KL(f̄_t || p) for the log; f̄_t > 0 wherever p > 0, the floor only guards log(0)
            self._sums["kl"] += float(((new * (new.clamp_min(1e-30).log() - log_p)).sum(dim=1) * valid).sum())
        top = log_p.max(dim=1).values
        self._sums["correct"] += int(((log_p.gather(1, yb.clamp(0, self.num_classes - 1).unsqueeze(1)).squeeze(1) >= top) & valid).sum())
        self._sums["pixels"] += n_valid

    def end_epoch(self) -> tuple[float, float, float]:
        """Close the epoch; return its mean CE and mean KL(f̄_(t) || f_θt) over the labeled pixels
        and the pixel accuracy of its predictions (each image's prediction when it was visited);
        the KL is 0 when λ = 0 (f̄ is not kept then)."""
        if not bool(self._visited.all()):
            missing = int((~self._visited).sum())
            raise RuntimeError(f"{missing} labeled images were not visited this epoch; the dynamic loss needs each image once per epoch")
        pixels = max(1, self._sums["pixels"])
        out = (self._sums["ce"] / pixels, self._sums["kl"] / pixels, self._sums["correct"] / pixels)
        self.epochs_done += 1
        self._visited.zero_()
        self._sums = {"ce": 0.0, "kl": 0.0, "correct": 0, "pixels": 0}
        return out


def pixel_dynamic_gradient_gap(
    n: int = 4, num_classes: int = 5, size: int = 6, epochs: int = 4, dynamic_weight: float = 1.0, seed: int = 0, ignore_index: int = 255
) -> float:
    """Largest absolute difference between the logits' gradients of :class:`PixelDynamicObjective`
    and the step-by-step form of Eq. 12-14 per pixel (f̄ updated with this step's prediction, then
    the mean over labeled pixels of CE + λ·KL(f̄_(t) || p) through autograd, f̄ a constant), over
    ``epochs`` epochs of random logits, with a few pixels labeled ``ignore_index``."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, num_classes, (n, size, size), generator=gen)
    y[torch.rand(y.shape, generator=gen) < 0.15] = ignore_index
    valid = y != ignore_index
    objective = PixelDynamicObjective(y, num_classes, dynamic_weight, ignore_index)
    mean = torch.zeros(n, num_classes, size, size, dtype=torch.float64)
    gap = 0.0
    for t in range(1, epochs + 1):
        logits = torch.randn(n, num_classes, size, size, generator=gen, dtype=torch.float64) * 2
        z_ref = logits.clone().requires_grad_(True)
        log_p = F.log_softmax(z_ref, dim=1)
        mean = mean * (t - 1) / t + log_p.detach().exp() / t
        ce = F.nll_loss(log_p, y, ignore_index=ignore_index, reduction="sum")
        kl = (F.kl_div(log_p, mean, reduction="none").sum(dim=1) * valid).sum()
        ((ce + dynamic_weight * kl) / valid.sum()).backward()
        z = logits.float().clone().requires_grad_(True)
        objective.step_loss(torch.arange(n), z).backward()
        objective.end_epoch()
        assert z.grad is not None and z_ref.grad is not None
        gap = max(gap, float((z.grad.double() - z_ref.grad).abs().max()))
    return gap


def image_ce_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """Σ over the images of each image's loss, the mean CE over its labeled pixels (an image with
    no labeled pixel adds 0): the per-image loss whose gradient ISAL's UUIC takes (ISAL §3.3,
    Algorithm 1 with a pseudo-label per pixel), summed as ISAL's reference gradient sums samples."""
    per_pixel = F.cross_entropy(logits, target.long(), ignore_index=ignore_index, reduction="none")
    valid = (target != ignore_index).to(per_pixel.dtype)
    dims = tuple(range(1, per_pixel.dim()))
    return (per_pixel.sum(dim=dims) / valid.sum(dim=dims).clamp_min(1.0)).sum()


def image_ce_directional(f: torch.Tensor, df: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """``(N,)`` derivative of each image's loss (:func:`image_ce_loss`) along the logit tangents
    ``df`` (``torch.func.jvp``'s output): the mean over its labeled pixels of Σ_c (p_c − t_c)·ḟ_c,
    float64.  ISAL's s_test·G(z) and Grad-Simi's v·G(z) for an image, without its gradient."""
    f64, df64 = f.double(), df.double()
    p = torch.softmax(f64, dim=1)
    t = target.long()
    valid = t != ignore_index
    picked = df64.gather(1, t.clamp(0, f.shape[1] - 1).unsqueeze(1)).squeeze(1)
    per_pixel = ((p * df64).sum(dim=1) - picked) * valid
    dims = tuple(range(1, per_pixel.dim()))
    return per_pixel.sum(dim=dims) / valid.sum(dim=dims).clamp_min(1)


def pseudo_label_masks(logits: torch.Tensor) -> torch.Tensor:
    """``(N, H, W)`` the model's own top-1 class per pixel: UUIC's pseudo-label (ISAL Algorithm 1,
    K = 1) of an unlabeled image."""
    _check_logits("logits", logits)
    return logits.argmax(dim=1)
