"""Influence-based strategies: TracIn (checkpoint replay) and ISAL (UUIC, LiSSA s_test).

References used here, independent of the code under test:
- TracIn: captum's ``TracInCP`` (test-only dependency), one instance per checkpoint with that
  checkpoint's pseudo-labels as the "training" labels and the labeled set as the "test" side.
- ISAL: per-sample gradients (``vmap(grad)``) dotted with s_test computed from the exact Hessian
  (``exact_inverse_hvp``) on a tiny model where full-batch LiSSA has converged.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn

import altoolkit as alt
from altoolkit.math.influence import exact_inverse_hvp, flatten, per_sample_grads, select_params
from altoolkit.training.models import MLP
from altoolkit.strategies import SelectionContext, get_strategy
from altoolkit.strategies.isal import expected_gradient_targets, reference_set
from altoolkit.strategies.tracin import evenly_spaced_epochs

N_LAB, N_POOL = 60, 50


@pytest.fixture(scope="module")
def digits():
    return alt.load_digits(seed=0)


@pytest.fixture(scope="module")
def trained(digits):
    """A tiny MLP (dropout 0.2, so eval mode matters) trained on 60 digits, with checkpoints."""
    torch.manual_seed(0)
    model = MLP(64, 10, hidden=16, dropout=0.2)
    strat = get_strategy("tracin", checkpoints=3)
    lab = torch.arange(N_LAB)
    cfg = alt.TrainConfig(epochs=9, batch_size=16, lr=0.1)
    res = alt.train_model(
        model,
        digits.x_train[lab],
        digits.y_train[lab],
        cfg,
        seed=0,
        to_input=digits.to_input,
        checkpoint_epochs=strat.checkpoint_epochs(cfg.epochs),
        progress=False,
    )
    res.model.eval()
    return res


def _ctx(ds, res, **kw) -> SelectionContext:
    return SelectionContext(
        dataset=ds, model=res.model, labeled=torch.arange(N_LAB), unlabeled=torch.arange(N_LAB, N_LAB + N_POOL), train_result=res, batch_size=32, **kw
    )


def _grads(model, x, target, ds, which="weights") -> torch.Tensor:
    """(N, P) per-sample gradients, float64."""
    return flatten(per_sample_grads(model, x, target, which=which, to_input=ds.to_input), batched=True).double()


# ----------------------------------------------------------------------------------------- TracIn


def test_evenly_spaced_epochs():
    assert evenly_spaced_epochs(30, 5) == [6, 12, 18, 24, 30]
    assert evenly_spaced_epochs(10, 1) == [10]
    assert evenly_spaced_epochs(3, 5) == [1, 2, 3]
    assert evenly_spaced_epochs(7, 3) == [3, 5, 7]
    assert get_strategy("tracin", checkpoints=4).checkpoint_epochs(8) == [2, 4, 6, 8]
    with pytest.raises(ValueError, match="checkpoints"):
        evenly_spaced_epochs(10, 0)


@pytest.mark.parametrize("which", ["all", "last_layer", "weights"])
def test_tracin_strategy_equals_captum_tracincp(digits, trained, which, tmp_path):
    from captum.influence import TracInCP
    from torch.utils.data import TensorDataset

    ctx = _ctx(digits, trained)
    ours = get_strategy("tracin", checkpoints=3, which=which).score(ctx)

    net = MLP(64, 10, hidden=16, dropout=0.2)
    if which == "weights":
        # captum differentiates w.r.t. every model.parameters(): turn the biases into buffers so
        # that only the linear weights remain parameters (state dicts still load by name).
        for mod in net.modules():
            if isinstance(mod, nn.Linear):
                bias = mod.bias.detach().clone()
                del mod.bias
                mod.register_buffer("bias", bias)
        assert [n for n, _ in net.named_parameters()] == list(select_params(trained.model, "weights"))

    def load(model, path):
        ck = torch.load(path, weights_only=True)
        model.load_state_dict(ck["state"])
        model.eval()  # captum does not switch to eval mode: dropout would be on
        return ck["learning_rate"]

    x_pool = digits.to_input(ctx.pool_x)
    test = (digits.to_input(ctx.labeled_x), ctx.labeled_y)
    ref = torch.zeros(N_POOL, dtype=torch.float64)
    assert sorted(trained.checkpoints) == [3, 6, 9]
    for epoch, (state, lr) in trained.checkpoints.items():
        path = tmp_path / f"ck{epoch}.pt"
        torch.save({"state": state, "learning_rate": lr}, path)
        load(net, path)
        with torch.no_grad():
            pseudo = net(x_pool).argmax(1)  # this checkpoint's top-1 prediction
        tracin = TracInCP(
            net,
            TensorDataset(x_pool, pseudo),
            [str(path)],
            checkpoints_load_func=load,
            loss_fn=nn.CrossEntropyLoss(reduction="none"),
            batch_size=N_POOL,
            layers=["head"] if which == "last_layer" else None,
            sample_wise_grads_per_batch=False,
        )
        ref += tracin.influence(test).double().sum(0)  # (n_test, n_train) summed over the labeled set
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_tracin_select_direction_and_missing_checkpoints(digits, trained):
    ctx = _ctx(digits, trained)
    s = get_strategy("tracin", checkpoints=3).score(ctx)
    assert torch.equal(get_strategy("tracin", checkpoints=3).select(ctx, 5), torch.argsort(-s)[:5])
    assert torch.equal(get_strategy("tracin", checkpoints=3, largest=False).select(ctx, 5), torch.argsort(s)[:5])
    assert torch.equal(get_strategy("tracin", largest=False).select_from_scores(s, 5), torch.argsort(s)[:5])
    no_ck = SelectionContext(dataset=digits, model=trained.model, labeled=torch.arange(N_LAB), unlabeled=torch.arange(N_LAB, N_LAB + N_POOL))
    with pytest.raises(ValueError, match="checkpoint"):
        get_strategy("tracin").score(no_ck)
    with pytest.raises(ValueError, match="which"):
        get_strategy("tracin", which="biases")


# ------------------------------------------------------------------------------------------- ISAL


def test_isal_equals_exact_inverse_hessian_brute_force(digits, trained):
    """Full-batch LiSSA with damping 0.5, scale 10 multiplies the error by 0.5 − λ/10 per step
    along each eigenvector of H; the mean Hessian of this model has eigenvalues in about [-1, 5],
    so after 150 steps LiSSA sits at its fixed point s_test = scale·(H + damping·scale·I)⁻¹ v,
    which the exact Hessian gives directly."""
    ctx = _ctx(digits, trained)
    damping, scale = 0.5, 10.0
    strat = get_strategy("isal", damping=damping, scale=scale, depth=150, repeats=1, lissa_batch_size=10_000)
    got = strat.influence(ctx)

    model = trained.model
    v = {k: t.sum(0) for k, t in per_sample_grads(model, ctx.labeled_x, ctx.labeled_y, "weights", to_input=digits.to_input).items()}
    s_exact = exact_inverse_hvp(model, ctx.labeled_x, ctx.labeled_y, v, damping=damping * scale, to_input=digits.to_input)
    s_test = scale * flatten(s_exact).double()
    with torch.no_grad():
        pseudo = model(digits.to_input(ctx.pool_x)).argmax(1)
    brute = -(_grads(model, ctx.pool_x, pseudo, digits) @ s_test) / N_LAB  # ISAL Eq. 4 with /n
    torch.testing.assert_close(got, brute, rtol=1e-4, atol=1e-4 * float(brute.abs().max()))
    # score() is −I (larger first) and select() takes the most negative I
    torch.testing.assert_close(strat.score(ctx), -brute, rtol=1e-4, atol=1e-4 * float(brute.abs().max()))
    assert torch.equal(strat.select(ctx, 7), torch.argsort(got)[:7])
    flipped = get_strategy("isal", damping=damping, scale=scale, depth=150, repeats=1, lissa_batch_size=10_000, most_negative=False)
    assert torch.equal(flipped.select(ctx, 7), torch.argsort(-got)[:7])
    assert torch.equal(flipped.select_from_scores(-got, 7), torch.argsort(-got)[:7])  # what comparison tools call
    assert got.min() < 0 < got.max(), "a trained model should have both helpful and harmful pool samples"


@pytest.mark.parametrize("reference", ["labeled", "initial", "validation"])
def test_grad_simi_is_minus_v_dot_g_over_n(digits, trained, reference):
    val_idx = torch.arange(200, 240)
    init_idx = torch.arange(20)
    ctx = _ctx(digits, trained, initial_labeled=init_idx, validation=(digits.x_train[val_idx], digits.y_train[val_idx]))
    ref_idx = {"labeled": torch.arange(N_LAB), "initial": init_idx, "validation": val_idx}[reference]
    model = trained.model
    v = _grads(model, digits.x_train[ref_idx], digits.y_train[ref_idx], digits).sum(0)
    with torch.no_grad():
        pseudo = model(digits.to_input(ctx.pool_x)).argmax(1)
    expect = -(_grads(model, ctx.pool_x, pseudo, digits) @ v) / N_LAB
    got = get_strategy("isal", grad_simi=True, reference=reference).influence(ctx)
    torch.testing.assert_close(got, expect, rtol=1e-4, atol=1e-5 * float(expect.abs().max()))


def test_expected_gradient_k1_is_the_pseudo_label_gradient_and_k2_the_weighted_sum(digits, trained):
    model, x = trained.model, digits.x_train[N_LAB : N_LAB + 20]
    with torch.no_grad():
        logits = model(digits.to_input(x))
    p = torch.softmax(logits.double(), 1)
    top = torch.topk(p, 2, dim=1)
    g = {c: _grads(model, x, torch.full((20,), c), digits) for c in range(10)}  # ∇ℓ(z, c) for every class
    g_of = lambda cls: torch.stack([g[int(c)][i] for i, c in enumerate(cls)])  # noqa: E731

    t1 = expected_gradient_targets(logits, 1)
    assert torch.equal(t1, top.indices[:, 0])
    t1_soft = expected_gradient_targets(logits, 1, "posterior")  # Eq. 3 literally: p_1·∇ℓ(z, ŷ)
    torch.testing.assert_close(_grads(model, x, t1_soft, digits), top.values[:, :1] * g_of(top.indices[:, 0]), rtol=1e-4, atol=1e-6)
    w = top.values / top.values.sum(1, keepdim=True)
    t2 = expected_gradient_targets(logits, 2)
    assert torch.allclose(t2.double().sum(1), torch.ones(20, dtype=torch.float64), atol=1e-6)
    expect2 = w[:, :1] * g_of(top.indices[:, 0]) + w[:, 1:] * g_of(top.indices[:, 1])
    torch.testing.assert_close(_grads(model, x, t2, digits), expect2, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="k_classes"):
        expected_gradient_targets(logits, 11)

    # ... and the strategy uses exactly that G: Grad-Simi with K=2 is −v·G₂/n
    ctx = _ctx(digits, trained)
    ctx.unlabeled = torch.arange(N_LAB, N_LAB + 20)
    v = _grads(model, ctx.labeled_x, ctx.labeled_y, digits).sum(0)
    got = get_strategy("isal", grad_simi=True, k_classes=2).influence(ctx)
    torch.testing.assert_close(got, -(expect2 @ v) / N_LAB, rtol=1e-4, atol=1e-5 * float(got.abs().max()))
    # K = C: the expectation of ∇ℓ(z, c) under the model's own prediction vanishes exactly
    kc = get_strategy("isal", grad_simi=True, k_classes=10).influence(ctx)
    assert float(kc.abs().max()) < 1e-5 * float(got.abs().max())
    k1 = get_strategy("isal", grad_simi=True, k_classes=1).influence(ctx)
    torch.testing.assert_close(k1, -(g_of(top.indices[:, 0]) @ v) / N_LAB, rtol=1e-4, atol=1e-5 * float(k1.abs().max()))


def test_isal_reference_errors_and_options(digits, trained):
    ctx = _ctx(digits, trained)
    with pytest.raises(ValueError, match=r"ALConfig\(validation_size=N\) / --validation-size N"):
        get_strategy("isal", reference="validation").score(ctx)
    with pytest.raises(ValueError, match="initial_labeled"):
        reference_set(ctx, "initial")
    with pytest.raises(ValueError, match="k_classes must be at most the number of classes"):
        get_strategy("isal", k_classes=11, grad_simi=True).score(ctx)
    for bad in [
        dict(reference="train"),
        dict(k_weighting="mean"),
        dict(which="biases"),
        dict(scale=0),
        dict(damping=1.0),
        dict(depth=0),
        dict(k_classes=0),
        dict(grad_simi=1),
    ]:
        with pytest.raises((ValueError, TypeError), match=next(iter(bad))):
            get_strategy("isal", **bad)


def test_isal_lissa_is_seeded(digits, trained):
    ctx = _ctx(digits, trained, seed=3)
    strat = get_strategy("isal", depth=20, repeats=2)
    a, b = strat.influence(ctx), strat.influence(ctx)
    assert torch.equal(a, b)
    ctx.seed = 4
    assert not torch.equal(a, strat.influence(ctx)), "another seed should draw other LiSSA mini-batches"


# ----------------------------------------------------------------------------------------- AL loop

_LOOP_CASES = {
    "tracin": ("tracin", {"checkpoints": 2}, 0),
    "isal": ("isal", {"depth": 20, "repeats": 2}, 0),
    "isal_validation_k2": ("isal", {"depth": 20, "repeats": 1, "reference": "validation", "k_classes": 2}, 100),
    "grad_simi_initial": ("isal", {"grad_simi": True, "reference": "initial"}, 0),
}


@pytest.mark.parametrize("case", list(_LOOP_CASES))
def test_strategy_runs_in_the_al_loop_deterministically(case, digits):
    name, options, validation_size = _LOOP_CASES[case]
    cfg = alt.ALConfig(
        strategy=name, strategy_options=options, model="mlp", epochs=3, cycles=2, initial_fraction=0.1, step_fraction=0.05, validation_size=validation_size
    )
    rec = alt.run_active_learning(cfg, dataset=digits, progress=False)
    rec2 = alt.run_active_learning(cfg, dataset=digits, progress=False)
    sel = rec["cycles"][0]["selected"]
    assert len(sel) == rec["budgets"][1] - rec["budgets"][0]
    assert len(set(sel)) == len(sel)
    assert not set(rec["initial_labeled"]) & set(sel)
    assert not set(rec["validation_indices"]) & set(sel)
    assert all(0 <= i < digits.n_train for i in sel)
    assert sel == rec2["cycles"][0]["selected"]
    assert rec["strategy"]["options"] == get_strategy(name, **options).options()


def test_al_loop_without_validation_set_names_the_option(digits):
    cfg = alt.ALConfig(strategy="isal", strategy_options={"reference": "validation", "grad_simi": True}, model="mlp", epochs=2, cycles=2)
    with pytest.raises(ValueError, match="validation_size"):
        alt.run_active_learning(cfg, dataset=digits, progress=False)


# ------------------------------------------------------------------- isal_study (notebook 07)

from altoolkit.drivers import isal_influence_functions as isal_study  # noqa: E402
from altoolkit.analysis.results import CurveSummary  # noqa: E402


def _subset(digits, trained) -> "isal_study.TrainedSubset":
    return isal_study.TrainedSubset(digits, trained, torch.arange(N_LAB), torch.arange(N_LAB, N_LAB + 300))


def test_spearman_is_the_stats_module_one():
    from altoolkit.math import stats

    assert isal_study.spearman is stats.spearman  # one rank correlation in the package
    assert stats.spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)  # 1 − 6·2/(3·8)


def test_lissa_convergence_against_exact_inverse(digits, trained):
    sub = _subset(digits, trained)
    conv = isal_study.lissa_convergence(sub, scales=[10.0, 1e4], depths=[5, 150], damping=0.5, batch_size=N_LAB)
    x, y = sub.dataset.x_train[sub.labeled], sub.dataset.y_train[sub.labeled]
    v = {k: t.sum(0) for k, t in per_sample_grads(sub.model, x, y, "weights", to_input=digits.to_input).items()}
    vf = flatten(v).double()
    for i, s in enumerate([10.0, 1e4]):
        exact = flatten(exact_inverse_hvp(sub.model, x, y, v, damping=0.5 * s, to_input=digits.to_input)).double()
        cos = float(exact @ vf / (exact.norm() * vf.norm()))
        assert conv.fixed_point_cos_to_v[i] == pytest.approx(cos, abs=1e-5)
    # full batch, damping 0.5: converged after 150 steps, not after 5
    assert conv.rel_error[0, 1] < 1e-4 < conv.rel_error[0, 0]
    assert conv.diverged() == []
    assert conv.fixed_point_cos_to_v[1] > conv.fixed_point_cos_to_v[0]  # a larger ridge is more Grad-Simi-like
    assert conv.filter(10.0, np.array([0.0]))[0] == pytest.approx(1.0)
    assert conv.eigenvalues.shape == (conv.n_params,)


def test_isal_vs_grad_simi_ratio_is_the_truncated_series(digits, trained):
    agree = isal_study.isal_vs_grad_simi(_subset(digits, trained), scales=[1e4], budget=10, depth=20, repeats=1)
    assert agree.spearman[0] > 0.999 and agree.top_overlap[0] >= 0.9
    series = (1 - 0.99**21) / 0.01  # h_0 = v, then 20 steps: s_test ≈ Σ_{k≤20} 0.99^k · v when H/scale is negligible
    assert agree.slope[0] == pytest.approx(series, rel=0.02)


def test_upweighting_check_matches_retraining(digits, trained):
    check = isal_study.upweighting_check(_subset(digits, trained), n_candidates=3, n_reference=50)
    assert check.n_labeled == N_LAB
    np.testing.assert_allclose(check.predicted, check.actual, rtol=0.05, atol=0.05 * np.abs(check.actual).max())


def test_ablation_variants_and_run_variants_checks():
    v = isal_study.ablation_variants([1, 2], lissa={"depth": 7})
    assert list(v) == ["ISAL", "Grad-Simi", "ISAL K=2", "ISAL_v2 (L1)", "ISAL_v3 (Li)", "random"]
    assert v["ISAL"] == ("isal", {"reference": "validation", "depth": 7})
    assert v["Grad-Simi"][1] == {"reference": "validation", "grad_simi": True}
    assert v["ISAL K=2"][1]["k_classes"] == 2 and v["ISAL_v2 (L1)"][1]["reference"] == "initial"
    with pytest.raises(ValueError, match="lissa accepts"):
        isal_study.ablation_variants([1], lissa={"scael": 1.0})
    with pytest.raises(ValueError, match="validation_size"):
        isal_study.run_variants(alt.ALConfig(strategy="random"), v, [0], progress=False)


def test_ordering_claims_verdicts():
    def curve(label, acc):
        return CurveSummary(label, np.array([10, 20]), np.array([0.1, 0.2]), np.array(acc), [0, 1, 2])

    curves = {
        "a": curve("a", [[0.5, 0.9], [0.5, 0.8], [0.5, 0.7]]),
        "b": curve("b", [[0.5, 0.8], [0.5, 0.7], [0.5, 0.6]]),
        "c": curve("c", [[0.5, 0.95], [0.5, 0.7], [0.5, 0.6]]),
    }
    ab, ba, ac = isal_study.ordering_claims(curves, [("a", "b"), ("b", "a"), ("a", "c")])
    # a − b is +5 points of AULC on every seed: the interval is [+5, +5], above 0
    assert ab.verdict == "holds" and ab.holds and ab.wins == 3 and "3/3 wins" in ab.line()
    assert ba.verdict == "contradicted" and ba.claim == "b > a (AULC)"
    assert ac.verdict == "inconclusive" and (ac.wins, ac.n) == (2, 3) and "95% t interval, 3 seeds" in ac.text()
    final = isal_study.ordering_claims(curves, [("a", "b")], metric="final")[0]
    assert final.verdict == "holds" and final.mean == pytest.approx(0.1)
