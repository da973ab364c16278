"""The math of segmentation against independent references: mIoU against scikit-learn's
``jaccard_score`` and a per-class loop, the per-pixel scores and their per-image reductions against
numpy loops, the per-pixel dynamic loss against the step-by-step form of DISAL Eq. 12-14, and the
per-image pseudo-label loss derivative against autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from altoolkit.math.segmentation import (
    PixelDynamicObjective,
    confusion_matrix,
    image_ce_directional,
    image_ce_loss,
    image_entropy_scores,
    image_kl_scores,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
    pixel_dynamic_gradient_gap,
    pixel_entropy,
    pixel_kl,
    reduce_pixels,
)

IGNORE = 255


def _random_masks(seed, n=5, c=6, h=7, w=9, absent=(4,)):
    rng = np.random.default_rng(seed)
    classes = [k for k in range(c) if k not in absent]
    target = rng.choice(classes, size=(n, h, w))
    pred = rng.choice(classes + [5], size=(n, h, w))  # class 5 appears in predictions only when absent from targets
    target[rng.random(target.shape) < 0.1] = IGNORE
    return torch.from_numpy(pred), torch.from_numpy(target)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_miou_matches_sklearn_jaccard_over_present_classes(seed):
    from sklearn.metrics import jaccard_score

    c = 6
    pred, target = _random_masks(seed, c=c)
    cm = confusion_matrix(pred, target, c, IGNORE)
    keep = target.reshape(-1) != IGNORE
    t, p = target.reshape(-1)[keep].numpy(), pred.reshape(-1)[keep].numpy()
    present = sorted(set(t.tolist()) | set(p.tolist()))
    ref = jaccard_score(t, p, labels=present, average=None, zero_division=0)
    ious = iou_per_class(cm)
    assert np.allclose(ious[present], ref)
    absent = [k for k in range(c) if k not in present]
    assert absent and np.isnan(ious[absent]).all()  # class 4: neither in targets nor predictions
    assert mean_iou(cm) == pytest.approx(float(np.mean(ref)))
    assert pixel_accuracy(cm) == pytest.approx(float((t == p).mean()))


def test_confusion_matrix_by_hand_and_accumulates():
    pred = torch.tensor([[0, 1, 2], [2, 2, 1]])
    target = torch.tensor([[0, 1, 1], [2, IGNORE, 1]])
    cm = confusion_matrix(pred, target, 3, IGNORE)
    loop = np.zeros((3, 3), dtype=int)
    for t, p in zip(target.reshape(-1).tolist(), pred.reshape(-1).tolist()):
        if t != IGNORE:
            loop[t, p] += 1
    assert cm.tolist() == loop.tolist()
    both = confusion_matrix(pred[:1], target[:1], 3, IGNORE) + confusion_matrix(pred[1:], target[1:], 3, IGNORE)
    assert torch.equal(both, cm)
    # class 1: TP 2 (both pixels 1→1), FN 1 (1→2), FP 0 → 2/3; class 2: TP 1, FP 1 → 1/2
    assert iou_per_class(cm).round(4).tolist() == [1.0, round(2 / 3, 4), 0.5]
    with pytest.raises(ValueError, match="outside the classes"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3)


def _np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_pixel_scores_and_reductions_match_numpy_loops():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3, 4, 5, 6, generator=gen) * 2
    b = a + torch.randn(3, 4, 5, 6, generator=gen)
    pa, pb = _np_softmax(a.double().numpy()), _np_softmax(b.double().numpy())
    kl = np.zeros((3, 5, 6))
    ent = np.zeros((3, 5, 6))
    for i in range(3):
        for y in range(5):
            for x in range(6):
                p, q = pa[i, :, y, x], pb[i, :, y, x]
                kl[i, y, x] = sum(p[k] * np.log(p[k] / q[k]) for k in range(4))
                ent[i, y, x] = -sum(p[k] * np.log(p[k]) for k in range(4))
    assert np.allclose(pixel_kl(a, b).numpy(), kl, atol=1e-5)
    assert np.allclose(pixel_entropy(a).numpy(), ent, atol=1e-5)
    assert np.allclose(image_kl_scores(a, b, "mean").numpy(), kl.reshape(3, -1).mean(1), atol=1e-5)
    assert np.allclose(image_kl_scores(a, b, "max").numpy(), kl.reshape(3, -1).max(1), atol=1e-5)
    assert np.allclose(image_entropy_scores(a).numpy(), ent.reshape(3, -1).mean(1), atol=1e-5)
    # the mean ranks as the sum: the KL of the images' product distributions
    assert np.array_equal(np.argsort(image_kl_scores(a, b).numpy()), np.argsort(kl.reshape(3, -1).sum(1)))


def test_mean_and_max_reductions_pick_different_images():
    """Image 0: one pixel whose prediction flipped (a large KL there, nothing elsewhere); image 1: a
    moderate change at every pixel.  The mean (the image's KL) ranks image 1 first, the max image 0."""
    prev = torch.zeros(2, 3, 4, 4)
    last = prev.clone()
    last[0, 0, 0, 0] = 8.0  # one pixel of image 0 becomes confident
    last[1, 0] = 2.0  # every pixel of image 1 shifts, less than that one pixel
    mean, top = image_kl_scores(prev, last, "mean"), image_kl_scores(prev, last, "max")
    assert int(mean.argmax()) == 1 and int(top.argmax()) == 0
    with pytest.raises(ValueError, match="reduction must be one of mean, max"):
        reduce_pixels(mean.view(2, 1), "sum")


@pytest.mark.parametrize("lam, epochs", [(1.0, 4), (0.0, 3), (3.0, 6)])
def test_pixel_dynamic_objective_gradient_equals_step_by_step(lam, epochs):
    assert pixel_dynamic_gradient_gap(dynamic_weight=lam, epochs=epochs) < 1e-6


def test_pixel_dynamic_objective_running_mean_is_eq12():
    """f̄ after three epochs is the plain average of each pixel's three predictions; the logged KL
    is KL(f̄_(t) || p_t) over the labeled pixels."""
    gen = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (2, 4, 4), generator=gen)
    y[0, 0, 0] = IGNORE
    obj = PixelDynamicObjective(y, 3, 1.0, IGNORE)
    probs = []
    for _ in range(3):
        z = torch.randn(2, 3, 4, 4, generator=gen)
        probs.append(z.softmax(1))
        obj.step_loss(torch.tensor([1]), z[1:])
        obj.step_loss(torch.tensor([0]), z[:1])
        ce, kl, acc = obj.end_epoch()
    avg = torch.stack(probs).mean(0)
    assert obj.mean is not None and torch.allclose(obj.mean, avg, atol=1e-6)
    valid = y != IGNORE
    ref_kl = ((avg * (avg.log() - probs[-1].log())).sum(1) * valid).sum() / valid.sum()
    ref_ce = F.nll_loss(probs[-1].log(), y, ignore_index=IGNORE)
    assert kl == pytest.approx(float(ref_kl), rel=1e-5) and ce == pytest.approx(float(ref_ce), rel=1e-5)
    assert 0.0 <= acc <= 1.0


def test_pixel_dynamic_objective_refuses_a_second_visit_and_a_missed_image():
    obj = PixelDynamicObjective(torch.zeros(2, 2, 2, dtype=torch.long), 3, 1.0)
    obj.step_loss(torch.tensor([0]), torch.zeros(1, 3, 2, 2))
    with pytest.raises(RuntimeError, match="visited twice"):
        obj.step_loss(torch.tensor([0]), torch.zeros(1, 3, 2, 2))
    with pytest.raises(RuntimeError, match="not visited"):
        obj.end_epoch()
    assert PixelDynamicObjective(torch.zeros(2, 2, 2, dtype=torch.long), 3, 0.0).mean is None  # λ = 0 keeps no f̄


def test_image_loss_and_its_directional_derivative_match_autograd():
    gen = torch.Generator().manual_seed(2)
    f = torch.randn(3, 4, 5, 5, generator=gen, dtype=torch.float64)
    df = torch.randn(3, 4, 5, 5, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 4, (3, 5, 5), generator=gen)
    t[0, :2] = IGNORE
    t[2] = IGNORE  # an image without labeled pixels contributes 0
    per_image = []
    for i in range(3):
        valid = t[i] != IGNORE
        per_image.append(F.cross_entropy(f[i : i + 1], t[i : i + 1], ignore_index=IGNORE, reduction="sum") / valid.sum().clamp_min(1))
    assert float(image_ce_loss(f, t, IGNORE)) == pytest.approx(float(sum(per_image)))
    expect = []
    for i in range(3):  # d/dε of image i's loss at f + ε·df, by autograd
        eps = torch.zeros((), dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(image_ce_loss(f[i : i + 1] + eps * df[i : i + 1], t[i : i + 1], IGNORE), eps)
        expect.append(float(g))
    assert torch.allclose(image_ce_directional(f, df, t, IGNORE), torch.tensor(expect, dtype=torch.float64), atol=1e-10)
    assert float(image_ce_directional(f, df, t, IGNORE)[2]) == 0.0
