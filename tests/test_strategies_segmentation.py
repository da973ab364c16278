"""The segmentation strategies and trainer against independent references on tiny inputs:
DISAL's and entropy's per-image scores against numpy loops over pixels, Grad-Simi against per-image
autograd gradients, ISAL against the exact inverse Hessian of the per-image pixel loss, core-set
against k-center greedy on the pooled features; the trainer's seeding, history and checks."""

import numpy as np
import pytest
import torch
from torch import nn

import altoolkit as alt
from altoolkit.math.influence import flatten, select_params
from altoolkit.math.segmentation import image_ce_loss
from altoolkit.strategies import SelectionContext, get_strategy
from altoolkit.strategies.coreset import k_center_greedy
from altoolkit.training.segmentation import evaluate_segmentation, train_segmentation_model
from altoolkit.training.segmentation_models import SmallUNet

N_LAB, N_POOL = 8, 10


@pytest.fixture(scope="module")
def scenes():
    return alt.load_digit_scenes(seed=0, n_train=N_LAB + N_POOL, n_test=6, size=24, digit_size=(8, 12))


@pytest.fixture(scope="module")
def trained(scenes):
    torch.manual_seed(0)
    net = SmallUNet(1, scenes.num_classes, width=4)
    lab = torch.arange(N_LAB)
    cfg = alt.TrainConfig(epochs=3, batch_size=4, lr=0.1, dynamic_weight=1.0)
    return train_segmentation_model(
        net, scenes.x_train[lab], scenes.y_train[lab], cfg, num_classes=scenes.num_classes, seed=0, to_input=scenes.to_input, progress=False
    )


def _ctx(ds, res, model=None, **kw) -> SelectionContext:
    return SelectionContext(
        dataset=ds, model=model or res.model, labeled=torch.arange(N_LAB), unlabeled=torch.arange(N_LAB, N_LAB + N_POOL), train_result=res, batch_size=4, **kw
    )


def _softmax_np(model, ds, idx):
    with torch.no_grad():
        z = model.eval()(ds.to_input(ds.x_train[idx])).double().numpy()
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("reduction", ["mean", "max"])
def test_disal_score_is_the_reduced_pixel_kl(scenes, trained, reduction):
    pool = torch.arange(N_LAB, N_LAB + N_POOL)
    p, q = _softmax_np(trained.prev_model(), scenes, pool), _softmax_np(trained.model, scenes, pool)
    kl = (p * (np.log(p) - np.log(q))).sum(axis=1)  # (N, H, W), pixel by pixel
    ref = kl.reshape(N_POOL, -1).mean(1) if reduction == "mean" else kl.reshape(N_POOL, -1).max(1)
    strat = get_strategy("disal", task="segmentation", reduction=reduction)
    got = strat.score(_ctx(scenes, trained))
    assert got.shape == (N_POOL,) and np.allclose(got.numpy(), ref, rtol=1e-4, atol=1e-7)
    assert torch.equal(strat.select(_ctx(scenes, trained), 3), torch.as_tensor(np.argsort(-ref, kind="stable")[:3]))
    smallest = get_strategy("disal", task="segmentation", reduction=reduction, largest=False).select(_ctx(scenes, trained), 3)
    assert torch.equal(smallest, torch.as_tensor(np.argsort(ref, kind="stable")[:3]))
    w_o_d = get_strategy("disal_no_dynamic", task="segmentation", reduction=reduction)
    assert torch.allclose(w_o_d.score(_ctx(scenes, trained)), got) and not w_o_d.dynamic_loss


@pytest.mark.parametrize("reduction", ["mean", "max"])
def test_entropy_score_is_the_reduced_pixel_entropy(scenes, trained, reduction):
    p = _softmax_np(trained.model, scenes, torch.arange(N_LAB, N_LAB + N_POOL))
    ent = -(p * np.log(p)).sum(axis=1).reshape(N_POOL, -1)
    ref = ent.mean(1) if reduction == "mean" else ent.max(1)
    got = get_strategy("entropy", task="segmentation", reduction=reduction).score(_ctx(scenes, trained))
    assert np.allclose(got.numpy(), ref, rtol=1e-4, atol=1e-7)


def _image_grads(model, ds, idx, masks):
    """(len(idx), P): the gradient of each image's mean pixel CE against ``masks``, by autograd, one image at a time."""
    params = select_params(model, "weights")
    rows = []
    model.eval()
    for k, i in enumerate(idx.tolist()):
        loss = image_ce_loss(model(ds.to_input(ds.x_train[i : i + 1])), masks[k : k + 1])
        rows.append(flatten(dict(zip(params, torch.autograd.grad(loss, list(params.values()))))).double())
    return torch.stack(rows)


def test_grad_simi_is_minus_v_dot_pseudo_label_gradient_over_n(scenes, trained):
    model = trained.model
    lab, pool = torch.arange(N_LAB), torch.arange(N_LAB, N_LAB + N_POOL)
    v = _image_grads(model, scenes, lab, scenes.y_train[lab].long()).sum(0)
    with torch.no_grad():
        pseudo = model(scenes.to_input(scenes.x_train[pool])).argmax(1)  # UUIC: the top-1 class of every pixel
    expect = -(_image_grads(model, scenes, pool, pseudo) @ v) / N_LAB
    strat = get_strategy("isal", task="segmentation", grad_simi=True)
    got = strat.influence(_ctx(scenes, trained))
    torch.testing.assert_close(got, expect, rtol=1e-4, atol=1e-6 * float(expect.abs().max()))
    assert torch.equal(strat.select(_ctx(scenes, trained), 4), torch.argsort(got)[:4])  # the most negative I first


class _TinyFCN(nn.Module):
    """Two convolutions without biases or BatchNorm: few enough weights for an exact Hessian."""

    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.b = nn.Conv2d(2, c, 1, bias=False)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


def test_isal_equals_the_exact_inverse_hessian_of_the_image_loss(scenes):
    """Full-batch LiSSA with damping 0.5 and scale 10 converges to s = scale·(H + damping·scale·I)⁻¹v
    (H the Hessian of the mean per-image loss over the labeled images), which the exact Hessian gives."""
    torch.manual_seed(1)
    model = _TinyFCN(scenes.num_classes).eval()
    lab, pool = torch.arange(N_LAB), torch.arange(N_LAB, N_LAB + N_POOL)
    params = select_params(model, "weights")
    names, shapes = list(params), [p.shape for p in params.values()]
    x_lab, y_lab = scenes.to_input(scenes.x_train[lab]), scenes.y_train[lab].long()

    def mean_loss(flat):
        chunks, i = {}, 0
        for n, s in zip(names, shapes):
            chunks[n] = flat[i : i + s.numel()].view(s)
            i += s.numel()
        return image_ce_loss(torch.func.functional_call(model, chunks, (x_lab,)), y_lab) / N_LAB

    flat0 = flatten({k: p.detach() for k, p in params.items()})
    hess = torch.autograd.functional.hessian(mean_loss, flat0).double()
    v = _image_grads(model, scenes, lab, y_lab).sum(0)
    damping, scale = 0.5, 10.0
    s_exact = scale * torch.linalg.solve(hess + damping * scale * torch.eye(len(v), dtype=torch.float64), v)
    with torch.no_grad():
        pseudo = model(scenes.to_input(scenes.x_train[pool])).argmax(1)
    brute = -(_image_grads(model, scenes, pool, pseudo) @ s_exact) / N_LAB
    res = alt.TrainResult(model=model, prev_state=model.state_dict(), history={})
    strat = get_strategy("isal", task="segmentation", damping=damping, scale=scale, depth=150, repeats=1, lissa_batch_size=1000)
    got = strat.influence(_ctx(scenes, res, model=model))
    torch.testing.assert_close(got, brute, rtol=1e-4, atol=1e-4 * float(brute.abs().max()))


def test_coreset_is_k_center_greedy_on_pooled_features(scenes, trained):
    model = trained.model
    with torch.no_grad():
        feats = model.embed(scenes.to_input(scenes.x_train[: N_LAB + N_POOL]))
    assert feats.shape == (N_LAB + N_POOL, 16)  # width 4 -> 4w pooled channels
    ref = k_center_greedy(feats[N_LAB:], feats[:N_LAB], 4)
    assert torch.equal(get_strategy("coreset", task="segmentation").select(_ctx(scenes, trained), 4), ref)


def test_random_and_disal_without_selection_are_seeded(scenes, trained):
    a = get_strategy("random", task="segmentation").select(_ctx(scenes, trained, seed=3), 4)
    b = get_strategy("disal_no_selection", task="segmentation").select(_ctx(scenes, trained, seed=3), 4)
    assert torch.equal(a, b) and get_strategy("disal_no_selection", task="segmentation").dynamic_loss


# ------------------------------------------------------------------------------------ the trainer


def test_training_is_seeded_and_logs_the_dynamic_loss(scenes, trained):
    torch.manual_seed(0)
    net = SmallUNet(1, scenes.num_classes, width=4)
    lab = torch.arange(N_LAB)
    cfg = alt.TrainConfig(epochs=3, batch_size=4, lr=0.1, dynamic_weight=1.0)
    again = train_segmentation_model(
        net, scenes.x_train[lab], scenes.y_train[lab], cfg, num_classes=scenes.num_classes, seed=0, to_input=scenes.to_input, progress=False
    )
    assert all(torch.equal(a, b) for a, b in zip(again.model.state_dict().values(), trained.model.state_dict().values()))
    h = trained.history
    assert abs(h["dynamic_loss"][0]) < 1e-9 and h["dynamic_loss"][-1] > 1e-6  # epoch 1: f̄ is this epoch's own prediction
    assert h["loss"][-1] == pytest.approx(h["ce_loss"][-1] + h["dynamic_loss"][-1])
    assert not any(torch.equal(a, b) for a, b in zip(trained.prev_state.values(), trained.model.state_dict().values()) if a.is_floating_point())
    plain = train_segmentation_model(
        SmallUNet(1, scenes.num_classes, width=4),
        scenes.x_train[lab],
        scenes.y_train[lab],
        alt.TrainConfig(epochs=2, batch_size=4),
        num_classes=11,
        seed=0,
        progress=False,
    )
    assert plain.history["dynamic_loss"] == [0.0, 0.0]


def test_evaluation_is_the_confusion_matrix_of_the_predictions(scenes, trained):
    sc = evaluate_segmentation(trained.model, scenes.x_test, scenes.y_test, scenes.num_classes, scenes.to_input, batch_size=4)
    with torch.no_grad():
        pred = trained.model(scenes.to_input(scenes.x_test)).argmax(1)
    t = scenes.y_test.long()
    cm = np.zeros((11, 11), dtype=int)
    np.add.at(cm, (t.reshape(-1).numpy(), pred.reshape(-1).numpy()), 1)
    assert np.array_equal(sc.confusion, cm)
    assert sc.pixel_accuracy == pytest.approx(float((pred == t).float().mean()))


def test_trainer_refuses_augmentation_and_bad_masks(scenes):
    net = SmallUNet(1, 11, width=4)
    x, y = scenes.x_train[:4], scenes.y_train[:4]
    with pytest.raises(ValueError, match="augment must be 'none'"):
        train_segmentation_model(net, x, y, alt.TrainConfig(augment="flip"), num_classes=11)
    with pytest.raises(ValueError, match="holds value 11"):
        train_segmentation_model(net, x, torch.full_like(y, 11), alt.TrainConfig(epochs=1), num_classes=11)
    with pytest.raises(ValueError, match="masks"):
        train_segmentation_model(net, x, y[:, :4], alt.TrainConfig(epochs=1), num_classes=11)
    diverge = alt.TrainConfig(epochs=3, lr=1e12, batch_size=2)
    with pytest.raises(alt.training.train.TrainingDivergedError, match="lr=1e"):
        train_segmentation_model(_TinyFCN(11), x, y, diverge, num_classes=11, to_input=scenes.to_input, progress=False)


def test_scoring_holds_one_batch_of_pixels_and_keeps_one_score_per_image(scenes, trained, monkeypatch):
    """DISAL's and entropy's per-pixel outputs exist one scoring batch at a time; what is kept is one
    number per pool image (the memory of scoring does not grow with the pool beyond that)."""
    import altoolkit.strategies.segmentation as seg

    seen = []
    for name in ("image_kl_scores", "image_entropy_scores"):
        real = getattr(seg, name)

        def spy(*tensors, _real=real, **kw):
            seen.append(int(tensors[0].shape[0]))
            return _real(*tensors, **kw)

        monkeypatch.setattr(seg, name, spy)
        if name == "image_kl_scores":  # DISAL holds its reduction as a class attribute (strategies.per_image)
            monkeypatch.setattr(seg.SegmentationDisalStrategy, "image_kl", staticmethod(spy))
    ctx = _ctx(scenes, trained)  # batch_size 4, a pool of 10 images
    for name in ("disal", "entropy"):
        scores = get_strategy(name, task="segmentation").score(ctx)
        assert scores.shape == (N_POOL,) and scores.dtype == torch.float32
    assert seen == [4, 4, 2, 4, 4, 2]
