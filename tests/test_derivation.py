"""Each step of the TracIn → KL derivation (altoolkit.drivers.tracin_to_kl) holds on a tiny digits setting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from altoolkit.drivers import tracin_to_kl as der


@pytest.fixture(scope="module")
def setup():
    return der.prepare_digits_setup(n_labeled=80, epochs=8, seed=0)


def test_setup_is_float64_eval_and_two_distinct_epochs(setup):
    assert next(setup.model.parameters()).dtype == torch.float64
    assert not setup.model.training and not setup.prev_model.training
    d = sum((p - q).abs().sum() for p, q in zip(setup.model.parameters(), setup.prev_model.parameters()))
    assert float(d.detach()) > 0
    assert setup.x_labeled.shape[0] == 80
    assert setup.x_pool.shape[0] + 80 == setup.dataset.n_train


def test_correlation_helpers_match_numpy_and_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    b[:10] = b[0]  # ties
    assert der.pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    # rank correlations come from the one statistics module (scipy's spearmanr, average ties)
    from altoolkit.math import stats as al_stats

    assert der.spearman is al_stats.spearman
    assert der.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)


def test_taylor_remainder_is_second_order(setup):
    res = der.taylor_error_vs_step(
        setup.model, setup.x_labeled[:32], setup.y_labeled[:32], setup.x_test[:40], setup.y_test[:40], step_sizes=[0.3, 0.1, 0.03, 0.01, 0.003, 0.001]
    )
    assert 0.8 < res["slope_relative"] < 1.2, res["relative_error"]
    assert 1.8 < res["slope_absolute"] < 2.2
    assert res["relative_error"][-1] < 1e-2
    assert np.all(np.diff(res["relative_error"]) < 0)
    # first-order term is linear in the step: −η ∇ℓ·g
    assert np.allclose(res["first_order"][0] / 0.3, res["first_order"][-1] / 0.001)


def test_per_sample_tracin_sums_to_the_loss_reduction(setup):
    res = der.per_sample_tracin_check(setup.model, setup.x_labeled[:16], setup.y_labeled[:16], setup.x_test[:30], setup.y_test[:30], lr=0.003)
    assert res["contributions"].shape == (30, 16)
    assert np.allclose(res["contributions"].sum(1), res["approx"])
    assert res["correlation"] > 0.999
    assert res["relative_error"] < 0.02


def test_accumulated_gradient_identity_and_correct_sign(setup):
    res = der.accumulated_gradient_check(setup.model, setup.x_labeled, setup.y_labeled, lr=0.05 / 80)
    assert res["identity_relative_error"] < 1e-10
    assert res["eq8_eq9_max_abs_error"] < 1e-12
    assert res["correlation"] > 0.99
    assert res["correlation_paper_sign"] < -0.99  # the paper's Eq. 9 sign anti-correlates
    assert np.allclose(res["paper_eq9_rhs"], -res["loss_reduction"])


def test_ce_difference_is_exact(setup):
    res = der.ce_difference_check(setup.prev_model, setup.model, setup.x_test, setup.y_test)
    assert res["max_abs_error"] < 1e-6
    assert np.abs(res["loss_difference"]).max() > 1e-4  # the two epochs really differ
    assert np.allclose(res["paper_eq10_lhs"], -res["log_ratio"])


def test_kl_substitution_sign_first_order_and_fisher(setup):
    res = der.kl_substitution_check(setup.prev_model, setup.model, setup.x_test[:60], scales=[1.0, 0.25, 0.0625, 0.015625])
    assert res["eq15_max_abs_error"] < 1e-12
    assert res["eq15_max"] <= 1e-15 and np.all(res["kl"] >= -1e-15)
    assert np.all(res["first_order_grad_norm"] < 1e-10 * (1 + res["top_class_grad_norm"]))
    assert np.abs(res["first_order_along_d"]).max() < 1e-10 * max(1.0, res["projected_gradient"].max())
    err = np.abs(res["ratio_of_sums"] - 1)
    assert err[-1] < 0.01 and err[-1] <= err[0]
    assert res["spearman_kl_fisher"] > 0.95
    assert res["spearman_kl_projected"] > 0.8
    # the KL at scale 1 is the KL between the two checkpoints
    assert np.allclose(res["kl_scaled"][0], res["kl"], atol=1e-12)


def test_selection_contrast(setup):
    res = der.selection_contrast(setup.prev_model, setup.model, setup.x_pool, setup.y_pool, k=20)
    hi, lo = res["largest_kl"], res["smallest_kl"]
    assert set(hi["indices"]).isdisjoint(lo["indices"])
    assert hi["kl"] > res["pool"]["kl"] > lo["kl"]
    assert np.isclose(hi["kl"], np.sort(res["scores"])[-20:].mean(), rtol=1e-6)


def test_bad_inputs_are_named(setup):
    with pytest.raises(ValueError, match="x_test has 5 samples but y_test has 4"):
        der.per_sample_tracin_check(setup.model, setup.x_labeled[:4], setup.y_labeled[:4], setup.x_test[:5], setup.y_test[:4])
    with pytest.raises(ValueError, match="lr"):
        der.accumulated_gradient_check(setup.model, setup.x_labeled, setup.y_labeled, lr=0.0)
    with pytest.raises(TypeError, match="step_sizes must be a list"):
        der.taylor_error_vs_step(setup.model, setup.x_labeled[:4], setup.y_labeled[:4], setup.x_test[:4], setup.y_test[:4], step_sizes="[0.1, 0.01]")
    with pytest.raises(ValueError, match="n_labeled"):
        der.prepare_digits_setup(n_labeled=10**6)
