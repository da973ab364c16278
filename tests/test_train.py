import pytest
import torch

import altoolkit as alt


def _train(digits, seed=0, **cfg):
    model = alt.build_model("cnn", digits.input_shape, 10, seed=1)
    config = alt.TrainConfig(**{"epochs": 3, "batch_size": 32, **cfg})
    return alt.train_model(model, digits.x_train[:128], digits.y_train[:128], config, seed=seed, checkpoint_epochs=[1, 2], progress=False)


def test_training_is_deterministic_for_a_seed(digits):
    a, b = _train(digits, dynamic_weight=1.0), _train(digits, dynamic_weight=1.0)
    for k in a.model.state_dict():
        assert torch.equal(a.model.state_dict()[k], b.model.state_dict()[k]), k
    assert a.history["loss"] == b.history["loss"]
    c = _train(digits, seed=5, dynamic_weight=1.0)
    assert c.history["loss"] != a.history["loss"]


def test_prev_state_is_the_second_to_last_epoch(digits):
    res = _train(digits)
    ck2 = res.checkpoints[2][0]
    for k, v in res.prev_state.items():
        assert torch.equal(v, ck2[k]), k
    assert any(not torch.equal(v, res.model.state_dict()[k]) for k, v in res.prev_state.items())


def test_training_learns_digits(digits):
    model = alt.build_model("cnn", digits.input_shape, 10, seed=0)
    res = alt.train_model(
        model, digits.x_train[:400], digits.y_train[:400], alt.TrainConfig(epochs=15), eval_data=(digits.x_test, digits.y_test), progress=False
    )
    assert res.history["test_acc"][-1] > 0.85
    assert res.history["lr"][0] == pytest.approx(0.05) and res.history["lr"][-1] == pytest.approx(0.005)


def test_global_rng_untouched(digits):
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    _train(digits)
    assert torch.equal(torch.rand(3), before)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs must be an integer in \\[1, inf\\]"),
        ({"dynamic_weight": -0.5}, "dynamic_weight \\(λ\\) must be in"),
        ({"dynamic_weight": float("nan")}, "dynamic_weight \\(λ\\) must be a finite number"),
        ({"lr": 0}, "lr must be in"),
        ({"lr_schedule": "linear"}, "lr_schedule must be one of step, cosine, constant"),
        ({"momentum": 1.0}, "momentum must be in"),
    ],
)
def test_train_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        alt.TrainConfig(**kwargs)


def test_models_forward_and_embed():
    for name, shape in [("mlp", (1, 8, 8)), ("cnn", (1, 8, 8)), ("resnet18_cifar", (3, 32, 32)), ("resnet18", (3, 64, 64))]:
        m = alt.build_model(name, shape, 7, seed=0).eval()
        x = torch.randn(2, *shape)
        with torch.no_grad():
            assert m(x).shape == (2, 7)
            assert torch.allclose(m.head(m.embed(x)), m(x), atol=1e-5)
    with pytest.raises(ValueError, match="model must be one of"):
        alt.build_model("vgg", (1, 8, 8), 10)
    a = alt.build_model("cnn", (1, 8, 8), 10, seed=3)
    b = alt.build_model("cnn", (1, 8, 8), 10, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
