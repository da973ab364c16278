"""Detection math and strategies, each against an independent reference on tiny inputs: COCO AP
by pycocotools on hand-made cases, the per-location Bernoulli KL and its reductions against a
numpy loop, the detections' entropy, pseudo-boxes, DISAL's per-location dynamic loss against its
step-by-step form, the directional derivative through FCOS's loss against per-image autograd
gradients, LiSSA with ISAL's per-kernel scales against an exact solve, and every strategy's
score against a direct computation."""

import math

import numpy as np
import pytest
import torch

import altoolkit as alt
from altoolkit.math.detection import (
    LocationDynamicTerm,
    coco_average_precision,
    detection_entropy,
    location_kl,
    loss_directional,
    pseudo_targets,
    reduce_locations,
)
from altoolkit.math.influence import directional_derivatives, gradient_dots, lissa_inverse_hvp, loss_grad
from altoolkit.strategies import SelectionContext, get_strategy
from altoolkit.strategies.coreset import k_center_greedy
from altoolkit.training.detection import train_detection_model
from altoolkit.training.detection_models import HEAD_LAST_LAYERS

SCENES = {"n_train": 40, "n_test": 10, "size": 32, "digit_size": [10, 14]}


def _t(boxes, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels, dtype=torch.int64)}


def _d(boxes, scores, labels):
    return {**_t(boxes, labels), "scores": torch.tensor(scores, dtype=torch.float32)}


def test_coco_ap_on_hand_made_cases():
    gt = [_t([[0, 0, 10, 10]], [0])]
    assert coco_average_precision([_d([[0, 0, 10, 10]], [0.9], [0])], gt, 2)["ap"] == pytest.approx(1.0)
    # IoU 0.7 (a 10x10 box against one shifted to 10x7 inside it): matched at thresholds .50-.70, 5 of 10
    r = coco_average_precision([_d([[0, 0, 10, 7]], [0.9], [0])], gt, 2)
    assert r["ap50"] == pytest.approx(1.0) and r["ap"] == pytest.approx(0.5) and r["ap75"] == pytest.approx(0.0)
    # two boxes, a false positive ranked between the two hits: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1;
    # 101-point interpolation: 51 points at 1, 50 at 2/3
    gt2 = [_t([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 1])]
    dets = [_d([[0, 0, 10, 10], [40, 40, 45, 45], [20, 20, 30, 30]], [0.9, 0.8, 0.7], [1, 1, 1])]
    r = coco_average_precision(dets, gt2, 2)
    assert r["ap"] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert r["ap_per_class"][0] is None and r["ap_per_class"][1] == pytest.approx(r["ap"])
    # a wrong class finds nothing; no detection at all is AP 0, not an error
    assert coco_average_precision([_d([[0, 0, 10, 10]], [0.9], [1])], gt, 2)["ap"] == pytest.approx(0.0)
    assert coco_average_precision([_d([], [], [])], gt, 2)["ap"] == 0.0
    with pytest.raises(ValueError, match="no box"):
        coco_average_precision([_d([], [], [])], [_t([], [])], 2)


def test_location_kl_and_reductions_against_a_loop():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 5, 3, generator=gen), torch.randn(2, 5, 3, generator=gen)
    kl = location_kl(a, b)
    ref = np.zeros((2, 5))
    for i in range(2):
        for j in range(5):
            for c in range(3):
                p, q = 1 / (1 + math.exp(-float(a[i, j, c]))), 1 / (1 + math.exp(-float(b[i, j, c])))
                ref[i, j] += p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
    np.testing.assert_allclose(kl.numpy(), ref, rtol=1e-10)
    assert float(location_kl(a, a).abs().max()) < 1e-12 and bool((kl >= 0).all())
    np.testing.assert_allclose(reduce_locations(kl, "mean").numpy(), ref.mean(1), rtol=1e-10)
    np.testing.assert_allclose(reduce_locations(kl, "max").numpy(), ref.max(1), rtol=1e-10)
    with pytest.raises(ValueError, match="reduction must be one of mean, max"):
        reduce_locations(kl, "sum")


def test_detection_entropy_and_pseudo_targets():
    dets = [_d([[0, 0, 4, 4], [1, 1, 5, 5]], [0.5, 0.9], [0, 2]), _d([], [], [])]
    h = lambda s: -(s * math.log(s) + (1 - s) * math.log(1 - s))  # noqa: E731
    assert detection_entropy(dets, "max").tolist() == pytest.approx([h(0.5), 0.0])
    assert detection_entropy(dets, "mean").tolist() == pytest.approx([(h(0.5) + h(0.9)) / 2, 0.0])
    kept = pseudo_targets(dets, 0.6)
    assert kept[0]["labels"].tolist() == [2] and kept[1]["boxes"].shape == (0, 4)
    assert pseudo_targets(dets, 0.5)[0]["labels"].tolist() == [0, 2], "a score equal to the threshold is kept (ISAL: skip score < thresh)"


def test_dynamic_term_gradient_equals_the_step_by_step_form():
    gen = torch.Generator().manual_seed(1)
    lam, n = 0.7, 3
    term = LocationDynamicTerm(n, lam)
    idx = torch.arange(n)
    history = []
    for epoch in range(3):
        z = torch.randn(n, 4, 2, generator=gen, dtype=torch.float32).requires_grad_(True)
        mean_before = None if term.mean is None else term.mean.clone()
        loss = term.step_loss(idx, z)
        q = torch.sigmoid(z.detach())
        # step by step: f̄_t = f̄_{t-1}·c/(c+1) + q/(c+1), loss λ·KL(f̄_t || σ(z)) with f̄_t fixed, mean over locations
        c = epoch
        fbar = q if mean_before is None else mean_before * c / (c + 1) + q / (c + 1)
        sig = torch.sigmoid(z)
        kl = (fbar * (fbar.clamp_min(1e-12).log() - sig.log()) + (1 - fbar) * ((1 - fbar).clamp_min(1e-12).log() - (1 - sig).log())).sum(2).mean()
        (g_ref,) = torch.autograd.grad(lam * kl, z)
        if epoch == 0:
            assert float(loss) == 0.0  # the running mean is this epoch's own prediction
        else:
            (g,) = torch.autograd.grad(loss, z)
            assert float((g - g_ref).abs().max()) < 1e-6
        history.append(term.end_epoch())
    assert history[0] == pytest.approx(0.0, abs=1e-9) and all(v >= 0 for v in history)


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    ds = alt.load_dataset("digit_scenes", task="detection", seed=0, **SCENES)
    net = alt.build_model("fcos_small", ds.input_shape, ds.num_classes, seed=0)
    lab, unl = torch.arange(16), torch.arange(16, 40)
    cfg = alt.TrainConfig(epochs=6, batch_size=4, lr=0.02, weight_decay=1e-4, dynamic_weight=1.0)
    res = train_detection_model(net, ds.x_train[lab], ds.y_train[lab], cfg, seed=0, to_input=ds.to_input, progress=False)
    return ds, res, lab, unl


def _ctx(trained, **kw):
    ds, res, lab, unl = trained
    return SelectionContext(dataset=ds, model=res.model, labeled=lab, unlabeled=unl, train_result=res, seed=0, batch_size=8, **kw)


def test_chain_rule_directional_derivative_equals_per_image_gradients(trained):
    ds, res, lab, _ = trained
    model = res.model
    gen = torch.Generator().manual_seed(3)
    v = {k: torch.randn(p.shape, generator=gen) for k, p in model.named_parameters() if k in HEAD_LAST_LAYERS}
    x, y = ds.x_train[lab], ds.y_train[lab]
    fast = directional_derivatives(model, x, y, v, 5, ds.to_input, derivative=loss_directional(model.image_losses))
    direct = gradient_dots(model, x, y, v, model.image_losses, 5, ds.to_input)
    # an independent reference: each image's loss and its own autograd gradient, batch of one
    ref = []
    params = dict(model.named_parameters())
    model.eval()
    for i in range(len(lab)):
        loss = model.image_losses(model(ds.to_input(x[i : i + 1])), y[i : i + 1]).sum()
        gs = torch.autograd.grad(loss, [params[k] for k in v])
        ref.append(sum(float((g.double() * v[k].double()).sum()) for g, k in zip(gs, v)))
    np.testing.assert_allclose(fast.numpy(), ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(direct.numpy(), ref, rtol=1e-6, atol=1e-8)


def test_lissa_with_per_kernel_scales_estimates_each_block(trained):
    from altoolkit.math.influence import _batch_hvp_fn

    ds, res, lab, _ = trained
    model = res.model
    names = list(HEAD_LAST_LAYERS)
    loss = lambda out, t: model.image_losses(out, t).sum()  # noqa: E731
    x, y = ds.x_train[lab[:2]], ds.y_train[lab[:2]]
    v = loss_grad(model, x, y, names, "sum", 2, ds.to_input, loss=loss)
    scales = dict(zip(names, (20.0, 400.0, 100.0)))
    est = lissa_inverse_hvp(model, x, y, v, damping=0.4, scale=scales, depth=30, repeats=1, batch_size=2, to_input=ds.to_input, loss=loss)
    # full-batch steps: the fixed point h solves d·h + D⁻¹·H·h = v, D = the scale of each parameter's block,
    # H the Hessian of the mean loss (an exact double-backward product, no Hessian built)
    model.eval()
    batch_hvp, _ = _batch_hvp_fn(model, names, loss)
    hv = batch_hvp(ds.to_input(x), y, est)

    def rel_residual(scale_of):
        r = {k: 0.4 * est[k] + hv[k] / (2 * scale_of[k]) - v[k] for k in names}
        return float(torch.sqrt(sum((t.double() ** 2).sum() for t in r.values())) / torch.sqrt(sum((t.double() ** 2).sum() for t in v.values())))

    assert rel_residual(scales) < 1e-4
    assert rel_residual(dict.fromkeys(names, 100.0)) > 100 * rel_residual(scales), "each block is solved with its own scale"
    with pytest.raises(ValueError, match="missing"):
        lissa_inverse_hvp(model, x, y, v, scale={names[0]: 1.0}, depth=1, to_input=ds.to_input, loss=loss)


def test_isal_and_grad_simi_scores_against_per_image_gradients(trained):
    # A pseudo-box is the box some location predicts, where the GIoU loss has a kink (min/max of
    # equal coordinates): its gradient there depends on float rounding, which differs between a
    # batch's forward pass and an image's own.  The reference takes each image alone, so does the score here.
    ds, res, lab, unl = trained
    ctx = _ctx(trained)
    ctx.batch_size = 1
    model = res.model
    for name in ("grad_simi", "isal"):
        strat = get_strategy(name, task="detection", score_threshold=0.2, depth=5, repeats=1)
        s_test = strat.s_test(ctx)
        influence = strat.influence(ctx, s_test)
        dets = alt.training.detection.predict_detections(model, ds.x_train[unl], ds.to_input, batch_size=1)
        pseudo = pseudo_targets(dets, 0.2)
        has = torch.tensor([len(p["labels"]) > 0 for p in pseudo])
        assert bool(has.any()) and bool(torch.isnan(influence[~has]).all()) and bool(torch.isfinite(influence[has]).all())
        boxes = alt.BoxTargets([p["boxes"] for p in pseudo], [p["labels"] for p in pseudo])
        direct = gradient_dots(model, ds.x_train[unl], boxes, s_test, model.image_losses, 4, ds.to_input)
        ref = -direct[has] / int(has.sum())
        np.testing.assert_allclose(influence[has].numpy(), ref.numpy(), rtol=1e-4, atol=1e-9)
        scores = strat.score(ctx)
        pos = strat.select_from_scores(scores, len(unl))
        assert has[pos[: int(has.sum())]].all(), "images without a pseudo-box come after every scored one"
    v = get_strategy("grad_simi", task="detection").s_test(ctx)
    # v is the sum of the labeled images' gradients (eval mode) with respect to FCOS's last kernels
    params = dict(model.named_parameters())
    total = {k: torch.zeros_like(params[k]) for k in HEAD_LAST_LAYERS}
    for i in lab.tolist():
        loss = model.image_losses(model(ds.to_input(ds.x_train[i : i + 1])), ds.y_train[i : i + 1]).sum()
        for k, g in zip(HEAD_LAST_LAYERS, torch.autograd.grad(loss, [params[k] for k in HEAD_LAST_LAYERS])):
            total[k] += g
    assert list(v) == list(HEAD_LAST_LAYERS)
    assert all(float((v[k] - total[k]).abs().max()) < 1e-5 * float(total[k].abs().max()) for k in v)


def test_disal_entropy_and_coreset_against_direct_computations(trained):
    ds, res, lab, unl = trained
    ctx = _ctx(trained)
    model, prev = res.model, res.prev_model()
    x = ds.to_input(ds.x_train[unl])
    with torch.no_grad():
        kl = location_kl(prev(x)["cls_logits"], model(x)["cls_logits"])
        dets = model.detections(model(x))
    for reduction in ("mean", "max"):
        score = get_strategy("disal", task="detection", reduction=reduction).score(ctx)
        np.testing.assert_allclose(score.numpy(), reduce_locations(kl, reduction).numpy(), rtol=1e-5)
        ent = get_strategy("entropy", task="detection", reduction=reduction).score(ctx)
        np.testing.assert_allclose(ent.numpy(), detection_entropy(dets, reduction).numpy(), rtol=1e-5)
    assert get_strategy("disal", task="detection").dynamic_loss and not get_strategy("disal_no_dynamic", task="detection").dynamic_loss
    with torch.no_grad():
        feats = model.embed(ds.to_input(torch.cat([ds.x_train[lab], ds.x_train[unl]])))
    picked = get_strategy("coreset", task="detection").select(ctx, 5)
    assert picked.tolist() == k_center_greedy(feats[len(lab) :], feats[: len(lab)], 5).tolist()
    rnd = get_strategy("random", task="detection").select(ctx, 5)
    assert len(set(rnd.tolist())) == 5


def test_detection_strategy_table():
    names = set(alt.strategy_names("detection"))
    assert names == {"random", "disal_no_selection", "coreset", "entropy", "disal", "disal_no_dynamic", "isal", "grad_simi"}
    opts = get_strategy("isal", task="detection").options()
    assert opts["score_threshold"] == 0.5 and opts["which"] == "head_last" and opts["scale"] is None
    assert get_strategy("grad_simi", task="detection").options()["grad_simi"] is True
    assert get_strategy("isal", task="detection", reference="test").peeks_at_labels
    with pytest.raises(ValueError, match="score_threshold"):
        get_strategy("isal", task="detection", score_threshold=1.5)


def test_a_detector_is_still_copyable_after_a_forward_mode_pass():
    import copy

    from torch.func import functional_call, jvp

    model = alt.build_model("fcos_small", (1, 32, 32), 10, seed=0).eval()
    params = {k: v.detach() for k, v in model.named_parameters()}
    jvp(lambda p: functional_call(model, p, (torch.zeros(2, 1, 32, 32),)), (params,), ({k: torch.ones_like(v) for k, v in params.items()},))
    copy.deepcopy(model)  # DISAL's θ_{T-1} model after ISAL scored with the same detector
