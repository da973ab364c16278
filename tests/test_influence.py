"""Tests of altoolkit.math.influence against independent references (loops, brute-force Hessians)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from altoolkit.math import influence as inf
from altoolkit.training.models import MLP, SmallCNN

DOUBLE = lambda t: t.double()  # noqa: E731


class LogReg(nn.Module):
    """Multinomial logistic regression: a model that is only a Linear head (convex loss)."""

    def __init__(self, d: int, c: int):
        super().__init__()
        self.head = nn.Linear(d, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.flatten(1))


def _tiny_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    m = SmallCNN(1, 3, width=2, hidden=5, spatial=4).double()
    # non-trivial BatchNorm statistics, so eval mode matters
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


def _tiny_mlp(seed: int = 0, d: int = 6, c: int = 3, hidden: int = 5) -> nn.Module:
    torch.manual_seed(seed)
    return MLP(d, c, hidden=hidden).double().eval()


def _data(n: int, shape: tuple[int, ...], c: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g, dtype=torch.float64), torch.randint(0, c, (n,), generator=g)


def _loop_grads(model, x, target, which):
    """Reference: one backward pass per sample, model in eval mode."""
    params = inf.select_params(model, which)
    model.eval()
    rows = []
    for i in range(x.shape[0]):
        logits = model(x[i : i + 1])
        t = target[i : i + 1]
        loss = F.cross_entropy(logits, t) if t.dtype == torch.int64 else -(t * torch.log_softmax(logits, 1)).sum()
        rows.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(params.values()))]))
    return torch.stack(rows)


def _flat_loss_fn(model, x, y, names, reduction="mean"):
    """Loss as a function of a flat parameter vector (reference for Hessians)."""
    params = {k: p.detach() for k, p in model.named_parameters() if k in names}
    others = {k: p.detach() for k, p in model.named_parameters() if k not in names}
    buffers = dict(model.named_buffers())

    def f(flat):
        p, i = {}, 0
        for k, t in params.items():
            p[k] = flat[i : i + t.numel()].view_as(t)
            i += t.numel()
        out = torch.func.functional_call(model, {**p, **others, **buffers}, (x,))
        return F.cross_entropy(out, y, reduction=reduction)

    return f, inf.flatten(params)


def _reference_hessian(model, x, y, which="all", reduction="mean"):
    names = list(inf.select_params(model, which))
    f, flat = _flat_loss_fn(model.eval(), x, y, names, reduction)
    return torch.autograd.functional.hessian(f, flat)


def _train_logreg(d=5, c=3, n=60, seed=0):
    x, y = _data(n, (d,), c, seed)
    torch.manual_seed(seed)
    m = LogReg(d, c).double()
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    for _ in range(40):
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    return m.eval(), x, y


# ------------------------------------------------------------------ per-sample gradients


@pytest.mark.parametrize("which", ["all", "weights", "last_layer"])
def test_per_sample_grads_match_loop(which):
    model = _tiny_cnn()
    x, y = _data(7, (1, 4, 4), 3)
    got = inf.flatten(inf.per_sample_grads(model, x, y, which, batch_size=3, to_input=DOUBLE), batched=True)
    assert torch.allclose(got, _loop_grads(model, x, y, which), atol=1e-12)
    soft = torch.softmax(torch.randn(7, 3, dtype=torch.float64), 1)
    got_soft = inf.flatten(inf.per_sample_grads(model, x, soft, which, to_input=DOUBLE), batched=True)
    assert torch.allclose(got_soft, _loop_grads(model, x, soft, which), atol=1e-12)


def test_weights_selection_is_conv_and_linear_weights_only():
    names = set(inf.select_params(_tiny_cnn(), "weights"))
    assert names == {"features.0.weight", "features.3.weight", "fc.0.weight", "head.weight"}


def test_per_sample_grads_restore_training_mode():
    model = _tiny_cnn().train()
    x, y = _data(3, (1, 4, 4), 3)
    inf.per_sample_grads(model, x, y, to_input=DOUBLE)
    assert model.training


@pytest.mark.parametrize("which", ["all", "last_layer"])
def test_directional_derivatives_equal_per_sample_grads_times_v(which):
    model = _tiny_cnn(1)
    x, y = _data(9, (1, 4, 4), 3, seed=1)
    params = inf.select_params(model, which)
    g = torch.Generator().manual_seed(3)
    v = {k: torch.randn(p.shape, generator=g, dtype=torch.float64) for k, p in params.items()}
    ref = inf.flatten(inf.per_sample_grads(model, x, y, which, to_input=DOUBLE), batched=True) @ inf.flatten(v)
    got = inf.directional_derivatives(model, x, y, v, batch_size=4, to_input=DOUBLE)
    assert torch.allclose(got, ref, atol=1e-12)


# ------------------------------------------------------------------ Hessians


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_hvp_equals_brute_force_hessian_times_v(reduction):
    model = _tiny_mlp()
    x, y = _data(11, (6,), 3)
    href = _reference_hessian(model, x, y, "all", reduction)
    params = inf.select_params(model, "all")
    v = inf.unflatten_like(torch.randn(href.shape[0], dtype=torch.float64), params)
    got = inf.hvp(model, x, y, v, which="all", reduction=reduction, batch_size=4, to_input=DOUBLE)
    assert torch.allclose(inf.flatten(got), href @ inf.flatten(v), atol=1e-10)


def test_hvp_on_a_subset_and_exact_hessian():
    model = _tiny_mlp(2)
    x, y = _data(8, (6,), 3, seed=2)
    href = _reference_hessian(model, x, y, "last_layer")
    h = inf.exact_hessian(model, x, y, "last_layer", batch_size=3, to_input=DOUBLE)
    assert torch.allclose(h, href, atol=1e-12)
    params = inf.select_params(model, "last_layer")
    v = inf.unflatten_like(torch.linspace(-1, 1, href.shape[0], dtype=torch.float64), params)
    got = inf.hvp(model, x, y, v, reduction="mean", to_input=DOUBLE)  # which inferred from v's keys
    assert torch.allclose(inf.flatten(got), href @ inf.flatten(v), atol=1e-12)


def test_hvp_rejects_v_that_does_not_match_which():
    model = _tiny_mlp()
    x, y = _data(4, (6,), 3)
    v = {k: torch.zeros_like(p) for k, p in inf.select_params(model, "last_layer").items()}
    with pytest.raises(ValueError, match="which='all'"):
        inf.hvp(model, x, y, v, which="all", to_input=DOUBLE)
    with pytest.raises(ValueError, match="unknown parameters"):
        inf.hvp(model, x, y, {"nope": torch.zeros(3)}, to_input=DOUBLE)


def test_exact_hessian_refuses_large_models():
    model = MLP(64, 10, hidden=128).double()  # 26k parameters
    x, y = _data(2, (64,), 10)
    with pytest.raises(ValueError, match="20000"):
        inf.exact_hessian(model, x, y, "all", to_input=DOUBLE)


def test_exact_inverse_hvp_solves_the_damped_system():
    model, x, y = _train_logreg()
    href = _reference_hessian(model, x, y)
    v = inf.loss_grad(model, x[:10], y[:10], to_input=DOUBLE)
    sol = inf.flatten(inf.exact_inverse_hvp(model, x, y, v, damping=0.3, to_input=DOUBLE))
    assert torch.allclose((href + 0.3 * torch.eye(href.shape[0], dtype=torch.float64)) @ sol, inf.flatten(v), atol=1e-10)


# ------------------------------------------------------------------ LiSSA


def test_lissa_full_batch_converges_to_scaled_damped_inverse():
    """Default (ISAL code): scale·(H + damping·scale·I)⁻¹v; divide_by_scale: (H + damping·scale·I)⁻¹v."""
    model, x, y = _train_logreg()
    v = inf.loss_grad(model, x[:10], y[:10], to_input=DOUBLE)
    damping, scale = 0.2, 2.0
    exact = inf.flatten(inf.exact_inverse_hvp(model, x, y, v, damping=damping * scale, to_input=DOUBLE))
    kw = dict(damping=damping, scale=scale, depth=120, repeats=1, batch_size=x.shape[0], to_input=DOUBLE)
    default = inf.flatten(inf.lissa_inverse_hvp(model, x, y, v, **kw))
    textbook = inf.flatten(inf.lissa_inverse_hvp(model, x, y, v, divide_by_scale=True, **kw))
    assert ((default - scale * exact).norm() / (scale * exact).norm()) < 1e-2
    assert ((textbook - exact).norm() / exact.norm()) < 1e-2
    assert torch.allclose(default, scale * textbook, rtol=1e-12)


def test_lissa_recursion_is_isal_truncated_series():
    """h_0 = v, h_k = v + (1 − d)h_{k−1} − H h_{k−1}/s  ⇒  h_K = Σ_{j=0}^{K} A^j v, A = (1 − d)I − H/s."""
    model, x, y = _train_logreg(seed=1)
    v = inf.loss_grad(model, x[:7], y[:7], to_input=DOUBLE)
    h = _reference_hessian(model, x, y)
    d, s, depth = 0.01, 1e4, 30
    a = (1 - d) * torch.eye(h.shape[0], dtype=torch.float64) - h / s
    term, series = inf.flatten(v).clone(), inf.flatten(v).clone()
    for _ in range(depth):
        term = a @ term
        series = series + term
    got = inf.lissa_inverse_hvp(model, x, y, v, damping=d, scale=s, depth=depth, repeats=3, batch_size=x.shape[0], to_input=DOUBLE)
    assert torch.allclose(inf.flatten(got), series, rtol=1e-10, atol=1e-12)


def test_lissa_stochastic_minibatches_estimate_the_inverse():
    model, x, y = _train_logreg()
    v = inf.loss_grad(model, x[:10], y[:10], to_input=DOUBLE)
    exact = inf.flatten(inf.exact_inverse_hvp(model, x, y, v, damping=1.0, to_input=DOUBLE))
    got = inf.flatten(
        inf.lissa_inverse_hvp(model, x, y, v, damping=0.2, scale=5.0, depth=60, repeats=8, batch_size=5, divide_by_scale=True, seed=3, to_input=DOUBLE)
    )
    assert ((got - exact).norm() / exact.norm()) < 0.06


def test_lissa_is_deterministic_given_seed_and_checks_arguments():
    model, x, y = _train_logreg()
    v = inf.loss_grad(model, x[:5], y[:5], to_input=DOUBLE)
    kw = dict(damping=0.1, scale=10.0, depth=20, repeats=2, batch_size=1, to_input=DOUBLE)
    a = inf.flatten(inf.lissa_inverse_hvp(model, x, y, v, seed=1, **kw))
    b = inf.flatten(inf.lissa_inverse_hvp(model, x, y, v, seed=1, **kw))
    c = inf.flatten(inf.lissa_inverse_hvp(model, x, y, v, seed=2, **kw))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="batch_size"):
        inf.lissa_inverse_hvp(model, x, y, v, damping=0.1, batch_size=x.shape[0] + 1, to_input=DOUBLE)
    with pytest.raises(ValueError, match="damping"):
        inf.lissa_inverse_hvp(model, x, y, v, damping=1.5, to_input=DOUBLE)
    with pytest.raises(FloatingPointError, match="increase scale"):
        inf.lissa_inverse_hvp(model, x, y, v, damping=0.01, scale=1e-3, depth=200, repeats=1, batch_size=x.shape[0], to_input=DOUBLE)


# ------------------------------------------------------------------ TracIn


def _checkpoints(model, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        state = {k: v + 0.3 * torch.randn(v.shape, generator=g, dtype=v.dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
        out.append((state, 0.1 / (i + 1)))
    return out


def _tracin_loop(model, checkpoints, xp, yp, xr, yr, which):
    total = torch.zeros(xp.shape[0], xr.shape[0], dtype=torch.float64)
    for state, lr in checkpoints:
        m = copy.deepcopy(model)
        m.load_state_dict(state)
        gp = _loop_grads(m, xp, yp, which)
        gr = _loop_grads(m, xr, yr, which)
        total += lr * gp @ gr.T
    return total


@pytest.mark.parametrize("which", ["all", "weights"])
def test_tracin_pairwise_matches_loop_and_scores_are_row_sums(which):
    model = _tiny_cnn()
    ckpts = _checkpoints(model)
    xp, yp = _data(6, (1, 4, 4), 3, seed=4)
    xr, yr = _data(5, (1, 4, 4), 3, seed=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pair = inf.tracin_pairwise(model, ckpts, xp, yp, xr, yr, which=which, to_input=DOUBLE, batch_size=4)
    assert torch.allclose(pair, _tracin_loop(model, ckpts, xp, yp, xr, yr, which), atol=1e-12)
    scores = inf.tracin_scores(model, ckpts, xp, yp, xr, yr, which=which, to_input=DOUBLE, batch_size=4)
    assert scores.shape == (6,) and torch.allclose(scores, pair.sum(1), atol=1e-12)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # caller's model untouched


def test_tracin_pseudo_labels_and_self_scores():
    model = _tiny_mlp(3)
    ckpts = _checkpoints(model, 3, seed=1)
    xp, _ = _data(7, (6,), 3, seed=6)
    xr, yr = _data(4, (6,), 3, seed=7)
    pseudo = inf.tracin_scores(model, ckpts, xp, None, xr, yr, to_input=DOUBLE)
    # reference: per checkpoint, the pool's top-1 label under that checkpoint's weights
    ref = torch.zeros(7, dtype=torch.float64)
    for state, lr in ckpts:
        m = copy.deepcopy(model)
        m.load_state_dict(state)
        yhat = m(xp).argmax(1)
        ref += lr * (_loop_grads(m, xp, yhat, "all") @ _loop_grads(m, xr, yr, "all").sum(0))
    assert torch.allclose(pseudo, ref, atol=1e-12)
    yp = torch.randint(0, 3, (7,))
    self_scores = inf.tracin_self_scores(model, ckpts, xp, yp, to_input=DOUBLE, batch_size=3)
    assert torch.allclose(self_scores, inf.tracin_pairwise(model, ckpts, xp, yp, xp, yp, to_input=DOUBLE).diagonal(), atol=1e-12)


def test_tracin_accepts_train_result_checkpoints():
    from altoolkit.training.train import TrainConfig, train_model

    x, y = _data(24, (6,), 3, seed=8)
    torch.manual_seed(0)
    res = train_model(MLP(6, 3, hidden=5), x.float(), y, TrainConfig(epochs=3, batch_size=8), checkpoint_epochs=[1, 3], progress=False)
    as_dict = inf.tracin_scores(res.model, res.checkpoints, x[:5], y[:5], x[5:], y[5:])
    as_list = inf.tracin_scores(res.model, [res.checkpoints[1], res.checkpoints[3]], x[:5], y[:5], x[5:], y[5:])
    assert torch.equal(as_dict, as_list)
    with pytest.raises(ValueError, match="checkpoints is empty"):
        inf.tracin_scores(res.model, [], x[:5], y[:5], x[5:], y[5:])
    with pytest.raises(ValueError, match="x_ref has 19 samples but y_ref has 3"):
        inf.tracin_scores(res.model, res.checkpoints, x[:5], y[:5], x[5:], y[:3])


def test_lissa_reports_a_finite_divergence():
    """A scale far below the Hessian's largest eigenvalue makes the recursion blow up; it must be
    reported even before the iterates overflow to inf."""
    import altoolkit as alt
    from altoolkit.math.influence import lissa_inverse_hvp, loss_grad

    data = alt.load_digits(seed=0)
    model = alt.build_model("mlp", data.input_shape, 10, seed=0).eval()
    x, y = data.x_train[:64], data.y_train[:64]
    v = loss_grad(model, x, y, "last_layer")
    with pytest.raises(FloatingPointError, match="LiSSA diverged"):
        lissa_inverse_hvp(model, x, y, v, damping=0.0, scale=1e-3, depth=40, repeats=1, batch_size=64)


# ------------------------------------------------------------------ directional derivatives: fused targets


def _loss_jvp_reference(model, x, target, v):
    """The previous implementation: jvp of the per-sample cross-entropy vector itself."""
    params = {k: p.detach() for k, p in model.named_parameters() if k in v}
    frozen = {k: p.detach() for k, p in model.named_parameters() if k not in v}
    buffers = dict(model.named_buffers())

    def losses(p):
        logits = torch.func.functional_call(model, {**p, **frozen, **buffers}, (x,))
        if target.dtype == torch.int64:
            return F.cross_entropy(logits, target, reduction="none")
        return -(target * torch.log_softmax(logits, 1)).sum(1)

    with torch.no_grad():
        return torch.func.jvp(losses, (params,), ({k: v[k] for k in params},))[1]


def test_directional_derivatives_soft_and_callable_targets_equal_per_sample_grads_times_v():
    model = _tiny_cnn(2)
    x, _ = _data(10, (1, 4, 4), 3, seed=2)
    params = inf.select_params(model, "all")
    g = torch.Generator().manual_seed(4)
    v = {k: torch.randn(p.shape, generator=g, dtype=torch.float64) for k, p in params.items()}
    soft = torch.softmax(torch.randn(10, 3, generator=g, dtype=torch.float64), 1) * 0.7  # rows sum to 0.7
    ref = _loop_grads(model, x, soft, "all") @ inf.flatten(v)
    assert torch.allclose(inf.directional_derivatives(model, x, soft, v, batch_size=3, to_input=DOUBLE), ref, atol=1e-12)
    with torch.no_grad():
        top1 = model(x).argmax(1)
    ref_top1 = _loop_grads(model, x, top1, "all") @ inf.flatten(v)
    got = inf.directional_derivatives(model, x, lambda logits: logits.argmax(1), v, batch_size=4, to_input=DOUBLE)
    assert got.dtype == torch.float64 and torch.allclose(got, ref_top1, atol=1e-12)


def test_directional_derivatives_float32_equal_the_loss_jvp_path():
    """Speed change (logit jvp + closed-form CE derivative) keeps the float32 scores of the
    previous path (jvp of the loss vector) to float32 rounding on a digits-sized CNN."""
    torch.manual_seed(0)
    model = SmallCNN(1, 10).eval()
    x = torch.randn(64, 1, 8, 8)
    y = torch.randint(0, 10, (64,))
    g = torch.Generator().manual_seed(1)
    v = {k: torch.randn(p.shape, generator=g) for k, p in model.named_parameters()}
    old = _loss_jvp_reference(model, x, y, v)
    new = inf.directional_derivatives(model, x, y, v, batch_size=32)
    assert new.dtype == torch.float32
    assert float((new - old).abs().max() / old.abs().max()) < 1e-5
