import math

import pytest
import torch

from altoolkit.math.scores import disal_kl, disal_kl_from_logits, entropy, least_confidence, margin, select_top


def test_disal_kl_equals_hand_computed_value():
    p = torch.tensor([[0.5, 0.25, 0.25], [0.9, 0.1, 0.0]])
    q = torch.tensor([[0.25, 0.5, 0.25], [0.8, 0.1, 0.1]])
    # KL(p||q) = Σ p log(p/q), worked by hand
    row0 = 0.5 * math.log(0.5 / 0.25) + 0.25 * math.log(0.25 / 0.5) + 0.25 * math.log(1.0)
    row1 = 0.9 * math.log(0.9 / 0.8) + 0.1 * math.log(1.0) + 0.0
    got = disal_kl(p, q)
    assert got.tolist() == pytest.approx([row0, row1], abs=1e-7)


def test_disal_kl_is_minus_eq15_and_nonnegative():
    torch.manual_seed(0)
    p = torch.softmax(torch.randn(50, 7), 1)
    q = torch.softmax(torch.randn(50, 7), 1)
    eq15 = (p * torch.log(q / p)).sum(1)  # the paper's Eq. 15 as printed
    assert torch.allclose(disal_kl(p, q), -eq15, atol=1e-6)
    assert (disal_kl(p, q) >= 0).all()
    assert torch.allclose(disal_kl(p, p), torch.zeros(50), atol=1e-7)


def test_disal_kl_safe_with_zero_probabilities():
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    q = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5]])
    kl = disal_kl(p, q)
    assert torch.isfinite(kl).all()
    assert kl[0] == 0 and kl[2] == 0
    assert kl[1] > 20  # p puts mass where q has none: very large, finite


def test_disal_kl_from_logits_matches_probabilities():
    torch.manual_seed(1)
    a, b = torch.randn(20, 5), torch.randn(20, 5)
    assert torch.allclose(disal_kl_from_logits(a, b), disal_kl(torch.softmax(a, 1), torch.softmax(b, 1)), atol=1e-6)


@pytest.mark.parametrize(
    "p, q, match",
    [
        (torch.tensor([[0.5, float("nan")]]), torch.tensor([[0.5, 0.5]]), "p_prev contains NaN"),
        (torch.tensor([[0.7, 0.7]]), torch.tensor([[0.5, 0.5]]), "p_prev rows must sum to 1"),
        (torch.tensor([[0.5, 0.5]]), torch.tensor([[1.5, -0.5]]), "p_last has values outside"),
        (torch.tensor([[0.5, 0.5]]), torch.tensor([[0.2, 0.3, 0.5]]), "must match"),
        (torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.5]), "shape \\(N, C\\)"),
    ],
)
def test_disal_kl_rejects_bad_input(p, q, match):
    with pytest.raises(ValueError, match=match):
        disal_kl(p, q)


def test_uncertainty_scores():
    p = torch.tensor([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.6, 0.3, 0.1]])
    ent = entropy(p)
    assert ent[0] == 0 and ent[1] == pytest.approx(math.log(3), abs=1e-6)
    assert least_confidence(p).tolist() == pytest.approx([0.0, 2 / 3, 0.4], abs=1e-6)
    assert margin(p).tolist() == pytest.approx([-1.0, 0.0, -0.3], abs=1e-6)


def test_select_top_largest_smallest_and_ties():
    s = torch.tensor([0.1, 0.5, 0.5, 0.9, 0.0])
    assert select_top(s, 2).tolist() == [3, 1]  # tie between 1 and 2 broken by index
    assert select_top(s, 2, largest=False).tolist() == [4, 0]
    with pytest.raises(ValueError, match="k \\(the budget\\) must be an integer in \\[1, 5\\]"):
        select_top(s, 6)
    with pytest.raises(ValueError, match="budget"):
        select_top(s, 0)
    with pytest.raises(ValueError, match="NaN"):
        select_top(torch.tensor([0.1, float("nan")]), 1)
