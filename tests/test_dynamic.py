import torch

import altoolkit as alt
from altoolkit.math.dynamic import RunningMeanPredictions, dynamic_kl_loss


def test_running_mean_follows_eq12():
    torch.manual_seed(0)
    rm = RunningMeanPredictions(4, 3)
    seen = []
    for t in range(1, 6):
        p = torch.softmax(torch.randn(4, 3), 1)
        seen.append(p)
        out = rm.update(torch.arange(4), p)
        # Eq. 12: f̄_t = f̄_{t-1}(t-1)/t + f_t/t  ==  mean of the first t predictions
        assert torch.allclose(out, torch.stack(seen).mean(0), atol=1e-6)
    assert rm.count.tolist() == [5, 5, 5, 5]


def test_running_mean_equals_mean_of_recorded_training_predictions(digits):
    """Record every prediction the trainer makes for each labeled sample (a forward hook on the
    model in train mode) and compare the trainer's f̄ with their plain average."""
    x, y = digits.x_train[:70], digits.y_train[:70]
    model = alt.build_model("mlp", digits.input_shape, 10, seed=0)
    recorded = []
    handle = model.register_forward_hook(lambda m, i, o: recorded.append(torch.softmax(o.detach(), 1)) if m.training else None)
    cfg = alt.TrainConfig(epochs=4, batch_size=16, dynamic_weight=1.0)
    res = alt.train_model(model, x, y, cfg, seed=3, progress=False)
    handle.remove()
    # Rebuild which sample each recorded row belongs to from the trainer's seeded permutation.
    gen = torch.Generator().manual_seed(3)
    order = torch.cat([torch.randperm(70, generator=gen) for _ in range(4)])
    preds = torch.cat(recorded)
    assert preds.shape == (4 * 70, 10)
    expected = torch.zeros(70, 10).index_add_(0, order, preds) / 4
    assert torch.allclose(res.running_mean.mean, expected, atol=1e-5)
    assert res.running_mean.count.tolist() == [4] * 70


def test_dynamic_loss_and_gradient_vanish_when_prediction_equals_mean():
    logits = torch.randn(8, 5, requires_grad=True)
    target = torch.softmax(logits.detach(), 1)
    loss = dynamic_kl_loss(target, logits)
    loss.backward()
    assert abs(float(loss.detach())) < 1e-6
    assert logits.grad.abs().max() < 1e-6


def test_dynamic_loss_positive_and_gradient_only_through_logits():
    torch.manual_seed(0)
    logits = torch.randn(8, 5, requires_grad=True)
    mean = torch.softmax(torch.randn(8, 5), 1).requires_grad_(True)
    loss = dynamic_kl_loss(mean, logits)
    loss.backward()
    p = torch.softmax(logits.detach(), 1)
    ref = (mean.detach() * (mean.detach().log() - p.log())).sum(1).mean()
    assert torch.allclose(loss.detach(), ref, atol=1e-6) and float(loss) > 0
    assert mean.grad is None  # f̄ is a constant target
    # d/dlogits KL(m || softmax(z)) = (softmax(z) - m) / B
    assert torch.allclose(logits.grad, (p - mean.detach()) / 8, atol=1e-6)


def test_first_epoch_dynamic_term_is_zero(digits):
    model = alt.build_model("mlp", digits.input_shape, 10, seed=0)
    res = alt.train_model(model, digits.x_train[:64], digits.y_train[:64], alt.TrainConfig(epochs=3, dynamic_weight=1.0), progress=False)
    assert res.history["dynamic_loss"][0] < 1e-7
    assert res.history["dynamic_loss"][2] > 0
