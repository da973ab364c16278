"""Bad-input table (issue 12, findings 3-7): each input gives the exact error class and a
message fragment naming the parameter or value; the CLI ends in one ``error:`` line, exit 2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from altoolkit.cli import main
from altoolkit.data import ALDataset, from_arrays, from_image_folder, load_dataset, max_classes
from altoolkit.train import TrainConfig, TrainingDivergedError, train_model

X = np.zeros((20, 4), dtype=np.float32)
Y = np.arange(20) % 2
XT = np.zeros((6, 4), dtype=np.float32)
YT = np.arange(6) % 2


def _y(value, n=20):
    y = (np.arange(n) % 2).astype(np.int64)
    y[0] = value
    return y


LABEL_CASES = [(v, ValueError, frag) for v, frag in [
    (10**9, "label 1000000000"), (10**6, "label 1000000"), (1001, "label 1001"), (5000, "label 5000"),
    (-1, "label -1"), (-(10**9), "label -1000000000"), (2**40, "label 1099511627776"),
]]


@pytest.mark.parametrize("value,exc,frag", LABEL_CASES)
def test_from_arrays_stray_label_refused(value, exc, frag):
    with pytest.raises(exc, match=frag):
        from_arrays(X, _y(value), XT, YT)


@pytest.mark.parametrize("value", [10**9, 10**6, 1001, -1, -5])
def test_from_arrays_stray_test_label_refused(value):
    with pytest.raises(ValueError, match=f"label {value}"):
        from_arrays(X, Y, XT, _y(value, 6))


@pytest.mark.parametrize("num_classes,exc,frag", [
    (10**9, ValueError, "limit"), (1001, ValueError, "limit"), (1, ValueError, "num_classes"),
    (0, ValueError, "num_classes"), (-3, ValueError, "num_classes"), (2.5, TypeError, "num_classes"),
    ("3", TypeError, "num_classes"), (True, TypeError, "num_classes"),
])
def test_from_arrays_num_classes_bounds(num_classes, exc, frag):
    with pytest.raises(exc, match=frag):
        from_arrays(X, Y, XT, YT, num_classes=num_classes)


@pytest.mark.parametrize("value", [2, 3, 7, 100])
def test_label_above_given_num_classes(value):
    with pytest.raises(ValueError, match=f"label {value}"):
        from_arrays(X, _y(value), XT, YT, num_classes=2)


def test_inferred_classes_up_to_limit_accepted():
    ds = from_arrays(X, _y(999), XT, YT)
    assert ds.num_classes == 1000 == max_classes(26)


BAD_ARRAYS = [
    (dict(x_train=np.full((20, 4), np.nan, np.float32)), ValueError, "x_train contains NaN"),
    (dict(x_test=np.full((6, 4), np.inf, np.float32)), ValueError, "x_test contains NaN"),
    (dict(y_train=np.full(20, 0.5)), ValueError, "integer class labels"),
    (dict(y_train=np.full(20, np.nan)), ValueError, "NaN"),
    (dict(y_test=np.full(6, 1.5)), ValueError, "integer class labels"),
    (dict(y_train=np.zeros(19, np.int64)), ValueError, "same length"),
    (dict(y_test=np.zeros(5, np.int64)), ValueError, "same length"),
    (dict(x_train=np.zeros(20)), ValueError, "feature axis"),
    (dict(y_train=np.zeros((20, 1), np.int64)), ValueError, "1-D"),
    (dict(x_train=np.array(["a"] * 20)), TypeError, "numeric"),
    (dict(y_train=np.array([None] * 20)), TypeError, "numeric"),
    (dict(x_test=np.zeros((6, 5), np.float32)), ValueError, "shape"),
    (dict(x_test=np.zeros((6, 4), np.uint8)), ValueError, "uint8"),
    (dict(x_train=np.zeros((0, 4), np.float32), y_train=np.zeros(0, np.int64)), ValueError, "empty"),
]


@pytest.mark.parametrize("override,exc,frag", BAD_ARRAYS)
def test_from_arrays_bad_arrays(override, exc, frag):
    kw = dict(x_train=X, y_train=Y, x_test=XT, y_test=YT)
    kw.update(override)
    with pytest.raises(exc, match=frag):
        from_arrays(**kw)


def test_empty_test_split_is_refused_by_the_loop_before_training(tmp_path):
    """A dataset may lack a test split (the labelling project's optional held-out set), but an AL
    run would report 0.0 every cycle: refused before training, and no record is written."""
    from altoolkit.loop import ALConfig, run_active_learning

    ds = ALDataset("d", torch.zeros(40, 2), torch.tensor([0, 1] * 20), torch.zeros(0, 2),
                   torch.zeros(0, dtype=torch.long), 2)
    cfg = ALConfig(dataset="digits", strategy="random", model="mlp", cycles=2, epochs=1)
    with pytest.raises(ValueError, match="test split of dataset 'd' is empty"):
        run_active_learning(cfg, tmp_path / "r.json", dataset=ds, progress=False)
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("n", [10**9, 10**7, 5000])
def test_aldataset_num_classes_bound(n):
    with pytest.raises(ValueError, match="limit"):
        ALDataset("d", torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]), torch.zeros(2, 2),
                  torch.tensor([0, 1]), n)


# ------------------------------------------------------------------ train_model


def _model():
    torch.manual_seed(0)
    return nn.Linear(4, 3)


XS = torch.randn(12, 4)
YS = torch.arange(12) % 3


@pytest.mark.parametrize("x,y,exc,frag", [
    (torch.full((12, 4), float("nan")), YS, ValueError, "NaN"),
    (torch.full((12, 4), float("inf")), YS, ValueError, "NaN or infinite"),
    (XS, YS.float(), TypeError, "integer class labels"),
    (XS, YS.double() + 0.5, TypeError, "integer class labels"),
    (XS, YS.bool(), TypeError, "integer class labels"),
    (XS, torch.full((12,), 3), ValueError, "label 3"),
    (XS, torch.full((12,), 10**6), ValueError, "label 1000000"),
    (XS, torch.full((12,), -1), ValueError, "label -1"),
    (XS, YS[:11], ValueError, "must match"),
    (XS[:0], YS[:0], ValueError, "empty"),
    (XS.tolist(), YS, TypeError, "torch tensor"),
    (XS, YS.tolist(), TypeError, "torch tensor"),
    (XS.numpy().astype(object), YS, TypeError, "numeric"),
    (XS, YS.reshape(12, 1), ValueError, "1-D"),
])
def test_train_model_validates(x, y, exc, frag):
    with pytest.raises(exc, match=frag):
        train_model(_model(), x, y, TrainConfig(epochs=1), progress=False)


def test_train_model_converts_numpy():
    res = train_model(_model(), XS.numpy(), YS.numpy(), TrainConfig(epochs=1), progress=False)
    assert res.history["epoch"] == [1]


@pytest.mark.parametrize("lr,lam", [(1e6, 0.0), (1e8, 0.0), (1e30, 0.0), (0.05, 1e30), (0.05, 1e300), (1e6, 1.0)])
def test_divergence_is_an_error(lr, lam):
    x = torch.randn(64, 4) * 10
    y = torch.arange(64) % 3
    with pytest.raises(TrainingDivergedError) as info:
        train_model(_model(), x, y, TrainConfig(epochs=20, lr=lr, dynamic_weight=lam, batch_size=8), progress=False)
    msg = str(info.value)
    assert "lr=" in msg and "λ" in msg and "epoch" in msg
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("field,value,exc", [
    ("epochs", 0, ValueError), ("epochs", 1.5, TypeError), ("batch_size", 0, ValueError),
    ("lr", 0.0, ValueError), ("lr", -1.0, ValueError), ("lr", float("nan"), ValueError),
    ("lr", float("inf"), ValueError), ("momentum", 1.0, ValueError), ("momentum", -0.1, ValueError),
    ("weight_decay", -1.0, ValueError), ("lr_schedule", "linear", ValueError), ("augment", "rotate", ValueError),
    ("dynamic_weight", -1.0, ValueError), ("dynamic_weight", float("nan"), ValueError),
    ("dynamic_weight", float("inf"), ValueError), ("lr", "0.1", TypeError),
])
def test_train_config_bounds(field, value, exc):
    with pytest.raises(exc, match=field.split("_")[0]):
        TrainConfig(**{field: value})


# ------------------------------------------------------------------ image folders


def _png(path, mode, size=(8, 8), value=None):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        arr = np.full(size, 40000 if value is None else value, dtype=np.uint16)
        Image.fromarray(arr).save(path)  # a 16-bit grayscale PNG
    elif mode == "P":
        img = Image.new("P", size)
        img.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
        img.paste(1, (0, 0, size[0], size[1]))
        img.save(path)
    else:
        Image.new(mode, size, color=value if value is not None else 128).save(path)


def test_16bit_png_scaled_not_saturated(tmp_path):
    for c, v in (("a", 40000), ("b", 10000)):
        for i in range(3):
            _png(tmp_path / c / f"{i}.png", "I;16", value=v)
    ds = from_image_folder(tmp_path, image_size=8, channels=1, test_fraction=0.34, progress=False)
    vals = {int(ds.x_train[ds.y_train == k].float().mean().round()) for k in (0, 1)}
    assert vals == {round(40000 / 65535 * 255), round(10000 / 65535 * 255)}


def test_palette_png_converted_to_rgb(tmp_path):
    for c in ("a", "b"):
        for i in range(3):
            _png(tmp_path / c / f"{i}.png", "P")
    ds = from_image_folder(tmp_path, image_size=8, test_fraction=0.34, progress=False)
    assert ds.x_train[0, :, 0, 0].tolist() == [200, 100, 50]


def test_hidden_folders_and_files_skipped(tmp_path):
    for c in ("a", "b"):
        for i in range(3):
            _png(tmp_path / c / f"{i}.png", "RGB")
        _png(tmp_path / c / ".ipynb_checkpoints" / "x.png", "RGB")
        _png(tmp_path / c / ".hidden.png", "RGB")
    _png(tmp_path / ".ipynb_checkpoints" / "0.png", "RGB")
    ds = from_image_folder(tmp_path, image_size=8, test_fraction=0.34, progress=False)
    assert ds.class_names == ["a", "b"] and ds.n_train + ds.n_test == 6


def test_mixed_sizes_and_modes_resized(tmp_path):
    for c, mode in (("a", "L"), ("b", "RGBA")):
        for i, size in enumerate([(5, 7), (16, 9), (8, 8)]):
            _png(tmp_path / c / f"{i}.png", mode, size=size)
    ds = from_image_folder(tmp_path, image_size=(6, 4), test_fraction=0.34, progress=False)
    assert tuple(ds.x_train.shape[1:]) == (3, 6, 4)


def test_image_folder_via_load_dataset_with_download_flag(tmp_path):
    for c in ("a", "b"):
        for i in range(3):
            _png(tmp_path / c / f"{i}.png", "RGB")
    ds = load_dataset("image_folder", root=str(tmp_path), download=False, image_size=8, progress=False,
                      test_fraction=0.34)
    assert ds.num_classes == 2


# ------------------------------------------------------------------ CLI: one error line, exit 2


def _cli(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    return code, err, lines


@pytest.mark.parametrize("argv,frag", [
    (["al", "--dataset", "nosuch", "--out", "{tmp}/r.json"], "dataset"),
    (["al", "--strategy", "nosuch", "--out", "{tmp}/r.json"], "strategy"),
    (["al", "--model", "nosuch", "--out", "{tmp}/r.json"], "model"),
    (["al", "--lam", "-1", "--out", "{tmp}/r.json"], "λ"),
    (["al", "--lam", "nan", "--out", "{tmp}/r.json"], "λ"),
    (["al", "--seed", "-1", "--out", "{tmp}/r.json"], "seed"),
    (["al", "--epochs", "0", "--out", "{tmp}/r.json"], "epochs"),
    (["al", "--lr", "-0.1", "--out", "{tmp}/r.json"], "lr"),
    (["al", "--cycles", "0", "--out", "{tmp}/r.json"], "cycles"),
    (["al", "--initial-fraction", "2", "--out", "{tmp}/r.json"], "initial_fraction"),
    (["al", "--dataset", "cifar10", "--root", "{tmp}/none", "--out", "{tmp}/r.json"], "cifar10"),
    (["al", "--dataset", "image_folder", "--root", "{tmp}/none", "--out", "{tmp}/r.json"], "image folder"),
    (["summarize", "{tmp}/empty"], "no altoolkit records"),
])
def test_cli_one_error_line(argv, frag, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + (["--no-progress"] if argv[0] == "al" else [])
    code, err, lines = _cli(argv, capsys)
    assert code == 2 and len(lines) == 1 and frag in lines[0], err
    assert "Traceback" not in err


def test_cli_debug_shows_traceback(tmp_path):
    with pytest.raises(ValueError):
        main(["--debug", "al", "--dataset", "nosuch", "--out", str(tmp_path / "r.json")])
