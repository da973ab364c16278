"""Issue 30, items 3 and 4 (models): every evaluation checks its outputs, the divergence message
names what can cause it, and a model plug-in that misbehaves is named.

A model that returns a tuple, 100 outputs for 10 classes, NaN before any update, or cannot take
the dataset's inputs is refused before training with a :class:`ModelOutputError` naming it; a
training whose last step blows the weights up is a :class:`TrainingDivergedError` naming lr, λ
and weight decay, never an accuracy of 0.1 in a record."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import altoolkit as alt
from altoolkit.cli import main
from altoolkit.engine.loop import ALConfig, run_active_learning
from altoolkit.training.inference import predict_logits
from altoolkit.training.models import MODEL_REGISTRY
from altoolkit.training.output_checks import ModelOutputError
from altoolkit.training.train import TrainConfig, TrainingDivergedError, evaluate, train_model


@pytest.fixture
def models(monkeypatch):
    """``register_model`` for this test only."""
    monkeypatch.setattr(MODEL_REGISTRY, "_user", dict(MODEL_REGISTRY._user))
    return alt.register_model


class _Tuple(nn.Module):
    def __init__(self, shape, c):
        super().__init__()
        self.fc = nn.Linear(int(torch.tensor(shape).prod()), c)

    def forward(self, x):
        out = self.fc(x.flatten(1))
        return out, out.detach()


class _Wide(nn.Module):
    def __init__(self, shape, c, width=100):
        super().__init__()
        self.fc = nn.Linear(int(torch.tensor(shape).prod()), width)

    def forward(self, x):
        return self.fc(x.flatten(1))


class _NaN(_Wide):
    def forward(self, x):
        return super().forward(x) * float("nan")


class _Conv(nn.Module):
    def __init__(self, shape, c):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.LazyLinear(c)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


class _Ints(_Wide):
    def forward(self, x):
        return super().forward(x).long()


PLUGIN_MODELS = [
    ("tuple_model", _Tuple, {}, "returned a tuple of 2 items"),
    ("wide_model", _Wide, {}, "gives 100 outputs per sample, but the dataset has 10 classes"),
    ("nan_model", lambda s, c: _NaN(s, c, c), {}, "non-finite outputs (NaN or infinity) on two samples of dataset 'digits'"),
    ("int_model", lambda s, c: _Ints(s, c, c), {}, "returned torch.int64 values"),
    ("conv_model", _Conv, {"dataset_options": {"flat": True}}, "cannot take the inputs of two samples of dataset 'digits' (inputs of shape (2, 64))"),
]


@pytest.mark.parametrize("name,factory,extra,frag", PLUGIN_MODELS)
def test_misbehaving_model_is_named_before_training(name, factory, extra, frag, models, tmp_path):
    models(name, factory)
    out = tmp_path / "r.json"
    cfg = ALConfig(strategy="random", model=name, cycles=2, epochs=1, **extra)
    with pytest.raises(ModelOutputError, match=re.escape(frag)) as info:
        run_active_learning(cfg, out, progress=False)
    assert f"model {name!r}" in str(info.value) and info.value.model == name
    assert not out.exists()


def test_builtin_cnn_on_flat_inputs_is_refused_by_name(tmp_path):
    cfg = ALConfig(strategy="random", model="cnn", cycles=2, epochs=1, dataset_options={"flat": True})
    with pytest.raises(ValueError, match=r"model 'cnn' needs image inputs of shape \(C, H, W\); got input_shape=\(64,\)"):
        run_active_learning(cfg, tmp_path / "r.json", progress=False)


def test_cli_wide_model_is_one_line(models, tmp_path, capsys):
    models("wide_cli", _Wide)
    out = tmp_path / "r.json"
    code = main(["al", "--strategy", "random", "--model", "wide_cli", "--cycles", "2", "--epochs", "1", "--out", str(out), "--no-progress"])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert code == 2 and len(lines) == 1 and "model 'wide_cli' gives 100 outputs" in lines[0] and not out.exists()


@pytest.mark.parametrize(
    "factory,frag",
    [
        (lambda: None, r"must be callable as \(input_shape, num_classes\); its signature is \(\)"),
        (lambda shape: None, r"its signature is \(shape\)"),
        (lambda shape, c, depth: None, "missing a required argument: 'depth'"),
    ],
)
def test_register_model_checks_the_signature(factory, frag, models):
    with pytest.raises(TypeError, match=frag):
        models("m0", factory)
    assert "m0" not in MODEL_REGISTRY.names()


@pytest.mark.parametrize("factory,exc,frag", [(None, TypeError, "must be callable"), (lambda x, /: None, TypeError, "can only be given by position")])
def test_register_dataset_checks_its_argument(factory, exc, frag, monkeypatch):
    monkeypatch.setattr(alt.data.DATASET_REGISTRY, "_user", dict(alt.data.DATASET_REGISTRY._user))
    with pytest.raises(exc, match=frag):
        alt.register_dataset("d0", factory)


def test_model_import_path_checks_the_signature():
    with pytest.raises(TypeError, match=r"model 'math:pi'|names a float"):
        ALConfig(model="math:pi")
    with pytest.raises(TypeError, match="model 'os:getcwd' must be callable as"):
        ALConfig(model="os:getcwd")


# ------------------------------------------------------------------ every evaluation checks its outputs


def _linear(width=3):
    torch.manual_seed(0)
    return nn.Linear(4, width)


X = torch.randn(12, 4)
Y = torch.arange(12) % 3


@pytest.mark.parametrize(
    "model,kwargs,frag",
    [
        (_NaN((4,), 3, 3), {}, "model '_NaN' gives non-finite outputs"),
        (_linear(), {"num_classes": 5, "name": "mine"}, "model 'mine' gives 3 outputs per sample, but the dataset has 5 classes"),
        (_Tuple((4,), 3), {}, "returned a tuple"),
    ],
)
def test_evaluate_checks_the_outputs(model, kwargs, frag):
    with pytest.raises(ModelOutputError, match=frag):
        evaluate(model, X, Y, **kwargs)


def test_predict_logits_checks_the_outputs():
    with pytest.raises(ModelOutputError, match=r"model '_NaN' gives non-finite outputs \(NaN or infinity\) on pool samples 0..11"):
        predict_logits(_NaN((4,), 3, 3), X)
    with pytest.raises(ModelOutputError, match="returned a tuple"):
        predict_logits(_Tuple((4,), 3), X)


def test_train_model_checks_the_width_at_the_first_step():
    with pytest.raises(ModelOutputError, match="model 'Linear' gives 3 outputs per sample, but the dataset has 4 classes"):
        train_model(_linear(), X, Y, TrainConfig(epochs=1), num_classes=4, progress=False)


# ------------------------------------------------------------------ divergence names its cause


DIVERGENCE = [
    # (x scale, config, model, fragments)
    (1.0, dict(lr=1e30, batch_size=2000, epochs=1), None, ["the output of the trained model", "lr=1e+30", "weight decay=0.0005", "lr=1e+30 is far above"]),
    (1.0, dict(weight_decay=1e30, epochs=3, batch_size=8), None, ["weight decay=1e+30", "lower lr, λ or weight decay", "weight decay=1e+30 is far above"]),
    (1.0, dict(lr=1e6, epochs=20, batch_size=8), None, ["lr=1e+06", "lower lr, λ or weight decay"]),
    (1e30, dict(epochs=3, batch_size=8), None, ["the untrained model's loss on the first batch was already", "inputs up to |x| = ", "standardise the inputs"]),
    (1.0, dict(epochs=1), "nan", ["the untrained model 'NaNNet' already gives non-finite outputs on the first batch", "not lr, λ or weight decay"]),
    (float("nan"), dict(epochs=1), None, ["the inputs of this batch are not finite after conversion"]),
]


class NaNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x) * float("nan")


@pytest.mark.parametrize("scale,settings,model,frags", DIVERGENCE)
def test_divergence_message_names_the_cause(scale, settings, model, frags):
    torch.manual_seed(0)
    net = NaNNet() if model == "nan" else nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    x = torch.randn(64, 4)
    to_input = (lambda t: t.float() * scale) if scale != 1.0 else (lambda t: t.float())
    with pytest.raises(TrainingDivergedError) as info:
        train_model(net, x, torch.arange(64) % 3, TrainConfig(**settings), to_input=to_input, progress=False)
    msg = str(info.value)
    assert "lr=" in msg and "λ (dynamic_weight)=" in msg and "weight decay=" in msg and "epoch" in msg, msg
    for frag in frags:
        assert frag in msg, msg


def test_cli_last_step_blowing_up_is_an_error_not_an_accuracy(tmp_path, capsys):
    """``--batch-size 2000 --lr 1e30``: one optimiser step per cycle, which sends the weights to
    values whose logits are NaN; it used to exit 0 with accuracy 0.1 (every prediction class 0)."""
    out = tmp_path / "r.json"
    argv = ["al", "--strategy", "random", "--model", "mlp", "--cycles", "2", "--epochs", "1", "--batch-size", "2000", "--lr", "1e30"]
    code = main(argv + ["--out", str(out), "--no-progress"])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert code == 2 and len(lines) == 1, lines
    assert "training diverged" in lines[0] and "lr=1e+30" in lines[0] and "λ" in lines[0] and "weight decay" in lines[0]
    assert not out.exists()


def test_cli_weight_decay_divergence_names_weight_decay(tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["al", "--strategy", "random", "--model", "mlp", "--cycles", "2", "--epochs", "3", "--weight-decay", "1e30"]
    assert main(argv + ["--out", str(out), "--no-progress"]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(lines) == 1 and "weight decay=1e+30" in lines[0] and not out.exists()
