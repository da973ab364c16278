"""The segmentation rows of the README's protocol table (:data:`altoolkit.engine.protocol.PROTOCOL`):
each test pins what the toolkit and the ``paper`` profile's notebook 10 do to DISAL §4.2 and to the
DRN code (fyu/drn) that VAAL's and DISAL's Cityscapes setting runs, as the row cites them."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import torch

import altoolkit as alt
from altoolkit.teaching.reproduce import load_profile, notebook_defaults, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
NB10 = ROOT / "notebooks" / "10_segmentation.ipynb"


def _paper() -> dict:
    return {**notebook_defaults(NB10), **notebook_parameters(load_profile("paper"), NB10, Path("/tmp"))}


def test_segmentation_data_is_cityscapes_train_val():
    """DISAL §4.2: Cityscapes, "2,975 training and 500 validation images ... only the standard
    training and validation sets", 19 categories; fyu/drn segment.py SegList reads the train ids
    (labelIds mapped to 19 classes, 255 ignored).  The paper profile's notebook 10 reads it."""
    from altoolkit.data import segmentation

    src = inspect.getsource(segmentation.load_cityscapes)
    assert 'zip(("train", "val"), limits)' in src and 'mode="fine"' in src and 'target_type="semantic"' in src
    ids = segmentation.cityscapes_train_ids()
    assert sorted(set(ids.tolist()) - {255}) == list(range(19)), "labelIds map onto the 19 train ids, the rest to 255"
    assert len(segmentation.CITYSCAPES_CLASS_NAMES) == 19
    assert _paper()["DATASET"] == "cityscapes"


def test_segmentation_network_is_a_dilated_stride_8_stand_in():
    """DISAL §4.2 uses DRN-D-22 (fyu/drn drn.py drn_d_22): a dilated residual network at output
    stride 8.  torchvision has no DRN; the paper profile's fcn_resnet50 is torchvision's dilated
    ResNet at output stride 8 with a fully convolutional head, upsampled to the input."""
    assert _paper()["MODEL"] == "fcn_resnet50"
    net = alt.build_model("fcn_resnet50", (3, 64, 64), 19, seed=0)
    body = net.net.backbone
    strides = [m.stride[0] for m in (body.conv1, body.layer2[0].conv2, body.layer3[0].conv2, body.layer4[0].conv2)]
    assert strides == [2, 2, 1, 1], "layer3 and layer4 dilate instead of striding: output stride 8"
    assert body.layer4[0].conv2.dilation == (2, 2)
    with torch.no_grad():
        out = net.eval()(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 19, 64, 64), "logits per pixel at the input's resolution"


def test_segmentation_input_is_a_688_crop_without_augmentation():
    """DISAL §4.2: "We crop the input images to a resolution of 688 x 688 pixels without the
    application of data augmentation"."""
    p = _paper()
    assert p["DATASET_OPTIONS"] == {"crop": 688}
    assert p.get("AUGMENT", "none") in ("none", None)
    assert inspect.signature(alt.data.segmentation.load_cityscapes).parameters["crop"].default == 688


def test_segmentation_budgets_are_ten_to_forty_percent():
    """DISAL §4.2: "In each AL iteration, 10% images are selectively sampled for the labeled
    training set until reaching the budget of 40%": trainings at 10, 20, 30 and 40%."""
    p = _paper()
    start, step, cycles = p["AL_INITIAL_FRACTION"], p["AL_STEP_FRACTION"], p["AL_CYCLES"]
    shares = [round(start + step * c, 6) for c in range(cycles)]
    assert shares == [0.1, 0.2, 0.3, 0.4]
    assert p["BUDGET"] == 297, "10% of Cityscapes' 2,975 train images"


def _drn_miou(preds: list[np.ndarray], labels: list[np.ndarray], n: int) -> tuple[np.ndarray, float]:
    # fyu/drn segment.py: hist += fast_hist(pred.flatten(), label.flatten(), n) per image, then
    # ious = per_class_iu(hist) * 100 and round(np.nanmean(ious), 2) (here without the x100).
    def fast_hist(pred, label, n):
        k = (label >= 0) & (label < n)
        return np.bincount(n * label[k].astype(int) + pred[k], minlength=n**2).reshape(n, n)

    hist = np.zeros((n, n))
    for p, t in zip(preds, labels):
        hist += fast_hist(p.flatten(), t.flatten(), n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ious = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    return ious, float(np.nanmean(ious))


def test_segmentation_metric_is_drns_accumulated_miou():
    """fyu/drn segment.py fast_hist and per_class_iu: one confusion matrix over the test split
    (255 and other values outside 0..n-1 skipped), IoU per class, nanmean over classes that occur;
    DISAL §4.2 reports this mIoU."""
    g = torch.Generator().manual_seed(0)
    n = 6
    preds = [torch.randint(0, n - 1, (9, 11), generator=g) for _ in range(4)]  # class 5 never predicted
    labels = [torch.randint(0, n - 1, (9, 11), generator=g) for _ in range(4)]  # ... nor present
    labels[1][0, :5] = 255
    cm = sum(alt.math.segmentation.confusion_matrix(p, t, n) for p, t in zip(preds, labels))
    ious, miou = _drn_miou([p.numpy() for p in preds], [t.numpy() for t in labels], n)
    np.testing.assert_allclose(alt.math.segmentation.iou_per_class(cm), ious, equal_nan=True)
    assert np.isnan(ious[5])
    assert abs(alt.math.segmentation.mean_iou(cm) - miou) < 1e-12


def test_disal_on_segmentation_scores_the_mean_pixel_kl():
    """DISAL §4.2 applies DISAL unchanged to segmentation; Eq. 15's KL(f_{T-1} || f_T) is taken per
    pixel and, as the paper does not say how, reduced per image by its mean (default)."""
    strat = alt.get_strategy("disal", task="segmentation")
    assert strat.opts.reduction == "mean"
    g = torch.Generator().manual_seed(1)
    prev, last = torch.randn(3, 4, 5, 6, generator=g), torch.randn(3, 4, 5, 6, generator=g)
    p, q = prev.softmax(1), last.softmax(1)
    direct = (p * (p.log() - q.log())).sum(1).mean((1, 2))
    torch.testing.assert_close(alt.math.segmentation.image_kl_scores(prev, last), direct, rtol=1e-5, atol=1e-6)
