import pytest
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
    assert torch.allclose(loss.detach(), ref, atol=1e-6) and float(loss.detach()) > 0
    assert mean.grad is None  # f̄ is a constant target
    # d/dlogits KL(m || softmax(z)) = (softmax(z) - m) / B
    assert torch.allclose(logits.grad, (p - mean.detach()) / 8, atol=1e-6)


def test_first_epoch_dynamic_term_is_zero(digits):
    model = alt.build_model("mlp", digits.input_shape, 10, seed=0)
    res = alt.train_model(model, digits.x_train[:64], digits.y_train[:64], alt.TrainConfig(epochs=3, dynamic_weight=1.0), progress=False)
    assert res.history["dynamic_loss"][0] < 1e-7
    assert res.history["dynamic_loss"][2] > 0


def _step_by_step_gradients(logits_per_epoch, y, lam):
    """The reference: Eq. 12 updated per batch and CE + λ·KL(f̄_(t) || f_θt) through autograd."""
    import torch.nn.functional as F

    rm = RunningMeanPredictions(y.shape[0], logits_per_epoch[0].shape[1])
    grads = []
    for logits in logits_per_epoch:
        z = logits.clone().requires_grad_(True)
        log_p = F.log_softmax(z, 1)
        mean = rm.update(torch.arange(y.shape[0]), log_p.detach().exp())
        (F.nll_loss(log_p, y) + lam * dynamic_kl_loss(mean, z)).backward()
        grads.append(z.grad)
    return grads, rm


def test_epoch_objective_has_the_gradient_of_the_step_by_step_loss():
    from altoolkit.math.dynamic import EpochDynamicObjective

    torch.manual_seed(0)
    n, k, lam = 12, 5, 0.7
    y = torch.randint(0, k, (n,))
    epochs = [torch.randn(n, k) * 2 for _ in range(4)]
    ref, rm = _step_by_step_gradients(epochs, y, lam)
    obj = EpochDynamicObjective(y, k, lam)
    for e, logits in enumerate(epochs):
        z = logits.clone().requires_grad_(True)
        obj.step_loss(torch.arange(n), z).backward()
        ce, dyn, correct = obj.end_epoch()
        assert torch.allclose(z.grad, ref[e], atol=1e-6), (e, (z.grad - ref[e]).abs().max())
        assert correct == int((logits.argmax(1) == y).sum())
        assert ce == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-6)
        assert (dyn == 0.0) if e == 0 else dyn > 0
    assert torch.allclose(obj.running.mean, rm.mean, atol=1e-6) and torch.equal(obj.running.count, rm.count)


def test_epoch_objective_in_batches_and_with_lambda_zero():
    from altoolkit.math.dynamic import EpochDynamicObjective

    torch.manual_seed(1)
    n, k = 10, 3
    y = torch.randint(0, k, (n,))
    for lam in (0.0, 1.0):
        obj = EpochDynamicObjective(y, k, lam)
        epochs = [torch.randn(n, k), torch.randn(n, k)]
        ref, _ = _step_by_step_gradients(epochs, y, lam)
        for e, logits in enumerate(epochs):
            grad = torch.zeros(n, k)
            for part in (torch.tensor([7, 2, 9, 0]), torch.tensor([1, 3, 4, 5, 6, 8])):  # batches of a permutation
                z = logits[part].clone().requires_grad_(True)
                obj.step_loss(part, z).backward()
                grad[part] = z.grad * len(part) / n  # batch mean -> mean over the epoch
            obj.end_epoch()
            assert torch.allclose(grad, ref[e], atol=1e-6)


def test_epoch_objective_refuses_an_epoch_that_skipped_samples():
    from altoolkit.math.dynamic import EpochDynamicObjective

    obj = EpochDynamicObjective(torch.tensor([0, 1, 0]), 2, 1.0)
    obj.step_loss(torch.tensor([0, 1]), torch.randn(2, 2, requires_grad=True))
    with pytest.raises(RuntimeError, match="1 labeled samples were not visited"):
        obj.end_epoch()


def test_trainer_matches_the_step_by_step_dynamic_loss(digits):
    """Same weights after training (to rounding) as a loop that evaluates Eq. 12-14 per step."""
    import copy

    import torch.nn.functional as F

    x, y = digits.x_train[:70], digits.y_train[:70]
    model = alt.build_model("mlp", digits.input_shape, 10, seed=0)
    ref_model = copy.deepcopy(model)
    cfg = alt.TrainConfig(epochs=3, batch_size=16, dynamic_weight=1.0)
    for m in (model, ref_model):  # no dropout, so both loops see the same function
        for mod in m.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.p = 0.0
    res = alt.train_model(model, x, y, cfg, seed=3, progress=False)
    gen = torch.Generator().manual_seed(3)
    opt = torch.optim.SGD(ref_model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: res.history["lr"][min(e, 2)] / cfg.lr)
    rm = RunningMeanPredictions(70, 10)
    to_input = digits.to_input
    dyn_logged = []
    for _ in range(3):
        ref_model.train()
        perm = torch.randperm(70, generator=gen)
        total = 0.0
        for s in range(0, 70, 16):
            idx = perm[s : s + 16]
            log_p = F.log_softmax(ref_model(to_input(x[idx])), 1)
            mean = rm.update(idx, log_p.detach().exp())
            dyn = F.kl_div(log_p, mean, reduction="batchmean")
            loss = F.nll_loss(log_p, y[idx]) + dyn
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(dyn.detach()) * len(idx)
        sched.step()
        dyn_logged.append(total / 70)
    for (name, a), b in zip(model.state_dict().items(), ref_model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert res.history["dynamic_loss"] == pytest.approx(dyn_logged, abs=1e-6)
    assert torch.allclose(res.running_mean.mean, rm.mean, atol=1e-5)


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0, 3.0])
def test_gradient_gap_to_step_by_step_is_rounding(lam):
    assert alt.math.dynamic.gradient_gap_to_step_by_step(n=32, num_classes=4, epochs=4, dynamic_weight=lam, seed=2) < 1e-6
