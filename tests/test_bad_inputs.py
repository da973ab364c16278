"""Bad-input table (issue 12, findings 2-7): each input gives the exact error class and a
message fragment naming the parameter, value or file; the CLI ends in one ``error:`` line, exit 2,
before any training, and leaves the files it was given untouched.  Findings 1 and 8 (sidecars,
orphan workers) are in ``test_write_points.py`` and ``test_sweep_orphans.py``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from altoolkit.cli import main
from altoolkit.data import ALDataset, from_arrays, from_image_folder, load_dataset, max_classes
from altoolkit.engine.record_io import FileLockedError, check_output_file, lock_file, write_json
from altoolkit.training.train import TrainConfig, TrainingDivergedError, train_model

X = np.zeros((20, 4), dtype=np.float32)
Y = np.arange(20) % 2
XT = np.zeros((6, 4), dtype=np.float32)
YT = np.arange(6) % 2


def _y(value, n=20):
    y = (np.arange(n) % 2).astype(np.int64)
    y[0] = value
    return y


LABEL_CASES = [
    (v, ValueError, frag)
    for v, frag in [
        (10**9, "label 1000000000"),
        (10**6, "label 1000000"),
        (1001, "label 1001"),
        (5000, "label 5000"),
        (-1, "label -1"),
        (-(10**9), "label -1000000000"),
        (2**40, "label 1099511627776"),
    ]
]


@pytest.mark.parametrize("value,exc,frag", LABEL_CASES)
def test_from_arrays_stray_label_refused(value, exc, frag):
    with pytest.raises(exc, match=frag):
        from_arrays(X, _y(value), XT, YT)


@pytest.mark.parametrize("value", [10**9, 10**6, 1001, -1, -5])
def test_from_arrays_stray_test_label_refused(value):
    with pytest.raises(ValueError, match=f"label {value}"):
        from_arrays(X, Y, XT, _y(value, 6))


@pytest.mark.parametrize(
    "num_classes,exc,frag",
    [
        (10**9, ValueError, "limit"),
        (1001, ValueError, "limit"),
        (1, ValueError, "num_classes"),
        (0, ValueError, "num_classes"),
        (-3, ValueError, "num_classes"),
        (2.5, TypeError, "num_classes"),
        ("3", TypeError, "num_classes"),
        (True, TypeError, "num_classes"),
    ],
)
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
    from altoolkit.engine.loop import ALConfig, run_active_learning

    ds = ALDataset("d", torch.zeros(40, 2), torch.tensor([0, 1] * 20), torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), 2)
    cfg = ALConfig(dataset="digits", strategy="random", model="mlp", cycles=2, epochs=1)
    with pytest.raises(ValueError, match="test split of dataset 'd' is empty"):
        run_active_learning(cfg, tmp_path / "r.json", dataset=ds, progress=False)
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("n", [10**9, 10**7, 5000])
def test_aldataset_num_classes_bound(n):
    with pytest.raises(ValueError, match="limit"):
        ALDataset("d", torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]), torch.zeros(2, 2), torch.tensor([0, 1]), n)


# ------------------------------------------------------------------ train_model


def _model():
    torch.manual_seed(0)
    return nn.Linear(4, 3)


XS = torch.randn(12, 4)
YS = torch.arange(12) % 3


@pytest.mark.parametrize(
    "x,y,exc,frag",
    [
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
    ],
)
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


@pytest.mark.parametrize(
    "field,value,exc",
    [
        ("epochs", 0, ValueError),
        ("epochs", 1.5, TypeError),
        ("batch_size", 0, ValueError),
        ("lr", 0.0, ValueError),
        ("lr", -1.0, ValueError),
        ("lr", float("nan"), ValueError),
        ("lr", float("inf"), ValueError),
        ("momentum", 1.0, ValueError),
        ("momentum", -0.1, ValueError),
        ("weight_decay", -1.0, ValueError),
        ("lr_schedule", "linear", ValueError),
        ("augment", "rotate", ValueError),
        ("batch_split", "drop_last", ValueError),
        ("dynamic_weight", -1.0, ValueError),
        ("dynamic_weight", float("nan"), ValueError),
        ("dynamic_weight", float("inf"), ValueError),
        ("lr", "0.1", TypeError),
    ],
)
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
    ds = load_dataset("image_folder", root=str(tmp_path), download=False, image_size=8, progress=False, test_fraction=0.34)
    assert ds.num_classes == 2


# ------------------------------------------------------------------ CLI: one error line, exit 2


def _cli(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    return code, err, lines


@pytest.mark.parametrize(
    "argv,frag",
    [
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
        (["summarize", "{tmp}/empty", "--expect", "cifar11"], "--expect must be one of"),
        (["summarize", "{tmp}/empty", "--root", "{tmp}/none"], "--root"),
    ],
)
def test_cli_one_error_line(argv, frag, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + (["--no-progress"] if argv[0] == "al" else [])
    code, err, lines = _cli(argv, capsys)
    assert code == 2 and len(lines) == 1 and frag in lines[0], err
    assert "Traceback" not in err


def test_cli_debug_shows_traceback(tmp_path):
    with pytest.raises(ValueError):
        main(["--debug", "al", "--dataset", "nosuch", "--out", str(tmp_path / "r.json")])


# ------------------------------------------------------------------ CLI: devices, seeds, output paths
# (issue 12 finding 7: each of these was a traceback, an unclear message, or found after training)


def _special(tmp, kind):
    """Output paths that cannot hold a record."""
    if kind == "fifo":
        p = tmp / "pipe.json"
        os.mkfifo(p)
        return str(p)
    if kind == "dir":
        (tmp / "adir").mkdir()
        return str(tmp / "adir")
    if kind == "binary":
        (tmp / "bin.json").write_bytes(bytes(range(256)) * 4)
        return str(tmp / "bin.json")
    if kind == "list":
        (tmp / "list.json").write_text("[1, 2]")
        return str(tmp / "list.json")
    if kind == "truncated":
        (tmp / "trunc.json").write_text('{"format": "altoolkit.al_record/1", "cy')
        return str(tmp / "trunc.json")
    if kind == "nan":
        (tmp / "nan.json").write_text('{"format": "altoolkit.al_record/1", "x": NaN}')
        return str(tmp / "nan.json")
    if kind == "empty":
        (tmp / "empty.json").write_text("")
        return str(tmp / "empty.json")
    return kind  # a fixed path


NO_CUDA = not torch.cuda.is_available()

CLI_RUN_CASES = [
    (["--device", "banana"], "device must be a torch device"),
    (["--device", ""], "device"),
    (["--device", "cuda:abc"], "device must be a torch device"),
    pytest.param(["--device", "cuda"], "no CUDA device", marks=pytest.mark.skipif(not NO_CUDA, reason="CUDA present")),
    pytest.param(["--device", "cuda:3"], "CUDA", marks=pytest.mark.skipif(not NO_CUDA, reason="CUDA present")),
    (["--device", "xla"], "not supported"),
    (["--seed", "4294967296"], "seed must be an integer in [0, 4294967295]"),
    (["--seed", str(2**40)], "seed must be an integer in [0, 4294967295]"),
    (["--seed", "-5"], "seed"),
    (["--out", "/dev/null"], "not a regular file"),
    (["--out", "fifo"], "not a regular file"),
    (["--out", "dir"], "is a folder"),
    (["--out", "/proc/altoolkit_r.json"], "cannot write to folder '/proc'"),
    (["--out", "/proc/self/nope/r.json"], "/proc/self/nope/r.json"),
    (["--out", "binary"], "binary, not UTF-8"),
    (["--out", "list"], "not an altoolkit record"),
    (["--out", "truncated"], "not valid JSON"),
    (["--out", "nan"], "NaN"),
    (["--out", "empty"], "not valid JSON"),
    (["--validation-size", "100000"], "validation_size"),
    (["--batch-size", "0"], "batch_size"),
    (["--step-fraction", "0"], "step_fraction"),
    (["--momentum", "1"], "momentum"),
    (["--lr-schedule", "nope"], "lr_schedule"),
    (["--augment", "nope"], "augment"),
    (["--batch-split", "drop"], "batch_split"),
    (["--weight-decay", "-1"], "weight_decay"),
    (["--strategy", "isal", "--strategy-option", "nosuch=1"], "nosuch"),
]


@pytest.mark.parametrize("extra,frag", CLI_RUN_CASES)
def test_cli_run_inputs_refused_before_training(extra, frag, tmp_path, capsys):
    extra = list(extra)
    if "--out" in extra:
        i = extra.index("--out") + 1
        extra[i] = _special(tmp_path, extra[i])
    else:
        extra += ["--out", str(tmp_path / "r.json")]
    argv = ["al", "--strategy", "random", "--model", "mlp", "--cycles", "2", "--epochs", "1", "--no-progress"]
    code, err, lines = _cli(argv + extra, capsys)
    assert code == 2 and len(lines) == 1 and frag in lines[0], err
    assert "Traceback" not in err and "record:" not in capsys.readouterr().out
    assert not (tmp_path / "r.json").exists()  # nothing trained, nothing written


def test_cli_out_in_use_names_the_holder_pid(tmp_path, capsys):
    """Finding 2: a second run on the same --out refuses at once, naming the file and the pid."""
    out = tmp_path / "r.json"
    holder = _hold_lock(out)
    try:
        argv = ["al", "--strategy", "random", "--seed", "1", "--out", str(out), "--no-progress"]
        code, err, lines = _cli(argv, capsys)
        assert code == 2 and len(lines) == 1, err
        assert f"pid {holder.pid}" in lines[0] and "r.json" in lines[0]
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()


# ------------------------------------------------------------------ locks


def _hold_lock(path, ready_timeout=60.0):
    """A subprocess holding the lock of ``path`` (its pid is written once it holds it)."""
    code = "import sys, time; from altoolkit.engine.record_io import lock_file; lock_file(sys.argv[1]); print('held', flush=True); time.sleep(600)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_held_by_this_process_refused(tmp_path):
    from altoolkit.engine.loop import ALConfig, run_active_learning

    out = tmp_path / "r.json"
    with lock_file(out):
        with pytest.raises(FileLockedError, match=f"pid {os.getpid()}"):
            run_active_learning(ALConfig(strategy="random", cycles=2, epochs=1), out, progress=False)
    assert not out.exists() and not (tmp_path / "r.json.lock").exists()


@pytest.mark.slow
def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    out = tmp_path / "r.json"
    holder = _hold_lock(out)
    with pytest.raises(FileLockedError, match=f"pid {holder.pid}") as info:
        lock_file(out)
    assert info.value.pid == holder.pid and info.value.path == out
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / "r.json.lock").read_text().strip() == str(holder.pid)  # left behind by the kill
    with lock_file(out) as lk:
        assert lk.held and (tmp_path / "r.json.lock").read_text().strip() == str(os.getpid())
    assert not (tmp_path / "r.json.lock").exists()


@pytest.mark.parametrize("content", [b"", b"garbage", b"99999999\n", b"\xff\xfe"])
def test_leftover_lock_file_without_a_holder_is_taken_over(content, tmp_path):
    (tmp_path / "r.json.lock").write_bytes(content)
    with lock_file(tmp_path / "r.json") as lk:
        assert lk.held


def test_lock_unwritable_folder_names_the_lock_file():
    with pytest.raises(ValueError, match="lock file '/proc/x.json.lock'"):
        lock_file("/proc/x.json")


# ------------------------------------------------------------------ strict JSON records (finding 4)


@pytest.mark.parametrize(
    "obj,field",
    [
        ({"cycles": [{"test_acc": float("nan")}]}, "cycles[0].test_acc"),
        ({"cycles": [{"a": 1.0}, {"final_train_loss": float("inf")}]}, "cycles[1].final_train_loss"),
        ({"config": {"lr": float("-inf")}}, "config.lr"),
        ({"x": [[1.0, float("nan")]]}, "x[0][1]"),
        ({"strategy": {"dynamic_weight": float("nan")}}, "strategy.dynamic_weight"),
    ],
)
def test_records_are_strict_json(obj, field, tmp_path):
    with pytest.raises(ValueError, match=re.escape(field)):
        write_json(tmp_path / "r.json", obj)
    assert not (tmp_path / "r.json").exists()


def test_cli_divergence_is_one_error_line_and_no_record(tmp_path, capsys):
    """--lam 1e30 used to train to NaN, report accuracy 0.1 and write NaN into the record."""
    out = tmp_path / "r.json"
    code, err, lines = _cli(
        ["al", "--strategy", "disal", "--lam", "1e30", "--model", "mlp", "--cycles", "2", "--epochs", "2", "--out", str(out), "--no-progress"], capsys
    )
    assert code == 2 and len(lines) == 1 and "λ" in lines[0] and "lr=" in lines[0], err
    assert not out.exists()


# ------------------------------------------------------------------ hand-edited records (finding 7)


@pytest.fixture(scope="module")
def small_record(tmp_path_factory):
    from altoolkit.engine.loop import ALConfig, run_active_learning

    out = tmp_path_factory.mktemp("rec") / "r.json"
    cfg = ALConfig(strategy="random", model="mlp", cycles=3, epochs=1, seed=2)
    run_active_learning(cfg, out, progress=False)
    rec = json.loads(out.read_text())
    rec["cycles"] = rec["cycles"][:2]
    rec["finished"] = False
    return cfg, rec


def _edit(rec, how):
    r = json.loads(json.dumps(rec))
    sel = r["cycles"][0]["selected"]
    if how == "out_of_range":
        sel[0] = 10**6
    elif how == "negative":
        sel[0] = -1
    elif how == "duplicate_in_cycle":
        sel[1] = sel[0]
    elif how == "duplicate_of_initial":
        sel[0] = r["initial_labeled"][0]
    elif how == "duplicate_across_cycles":
        r["cycles"][1]["selected"][0] = sel[0]
    elif how == "float_index":
        sel[0] = 1.5
    elif how == "string_index":
        sel[0] = "7"
    elif how == "too_few":
        sel.pop()
    elif how == "cycle_number":
        r["cycles"][1]["cycle"] = 5
    elif how == "finished_flag":
        r["finished"] = True
    elif how == "validation_indices":
        r["validation_indices"] = [5]
    elif how == "cycles_not_a_list":
        r["cycles"] = {"0": r["cycles"][0]}
    elif how == "too_many_cycles":
        r["cycles"] = r["cycles"] + [dict(r["cycles"][1], cycle=2)] * 2
    elif how == "test_acc_text":
        r["cycles"][0]["test_acc"] = "abc"
    elif how == "test_acc_percent":
        r["cycles"][0]["test_acc"] = 37.5
    elif how == "n_labeled_text":
        r["cycles"][1]["n_labeled"] = "many"
    return r


@pytest.mark.parametrize(
    "how,frag",
    [
        ("out_of_range", "index 1000000, outside the pool"),
        ("negative", "index -1, outside the pool"),
        ("duplicate_in_cycle", "appears twice"),
        ("duplicate_of_initial", "appears twice (initial_labeled"),
        ("duplicate_across_cycles", "appears twice (cycles[0].selected and cycles[1].selected)"),
        ("float_index", "index 1.5"),
        ("string_index", "index '7'"),
        ("too_few", "cycles[0].selected must list"),
        ("cycle_number", "cycles[1] must be the entry of cycle 1"),
        ("finished_flag", "'finished' is True"),
        ("too_many_cycles", "at most 3 entries"),
        ("validation_indices", "'validation_indices' differ"),
        ("cycles_not_a_list", "'cycles' must be a list"),
        ("test_acc_text", "cycles[0].test_acc is 'abc'; it must be a number in [0, 1]"),
        ("test_acc_percent", "cycles[0].test_acc is 37.5; it must be a number in [0, 1]"),
        ("n_labeled_text", "cycles[1].n_labeled is 'many'"),
    ],
)
def test_cli_hand_edited_record_refused(how, frag, small_record, tmp_path, capsys):
    cfg, rec = small_record
    out = tmp_path / "r.json"
    out.write_text(json.dumps(_edit(rec, how)))
    before = out.read_bytes()
    argv = ["al", "--strategy", "random", "--model", "mlp", "--cycles", "3", "--epochs", "1", "--seed", "2", "--out", str(out), "--no-progress"]
    code, err, lines = _cli(argv, capsys)
    assert code == 2 and len(lines) == 1 and frag in lines[0] and "r.json" in lines[0], err
    assert out.read_bytes() == before  # left untouched


def test_cli_resumes_an_unedited_record(small_record, tmp_path, capsys):
    """The control of the table above: the same record, not edited, resumes to its end."""
    cfg, rec = small_record
    out = tmp_path / "r.json"
    out.write_text(json.dumps(rec))
    argv = ["al", "--strategy", "random", "--model", "mlp", "--cycles", "3", "--epochs", "1", "--seed", "2", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert json.loads(out.read_text())["finished"]


# ------------------------------------------------------------------ sweep, summarize, reproduce


def test_cli_sweep_out_dir_is_a_file(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    code, err, lines = _cli(["sweep", "--strategies", "random", "--out-dir", str(tmp_path / "afile"), "--no-progress"], capsys)
    assert code == 2 and len(lines) == 1 and "--out-dir" in lines[0] and "is a file" in lines[0], err
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize(
    "argv,frag",
    [
        (["sweep", "--strategies", "random", "--out-dir", "{tmp}/sw", "--summary", "{tmp}/adir"], "--summary"),
        (["sweep", "--strategies", "random", "--out-dir", "{tmp}/sw", "--summary", "/dev/null"], "not a regular file"),
        (["sweep", "--strategies", "random", "--out-dir", "{tmp}/sw", "--device", "banana"], "device"),
        (["sweep", "--strategies", "random", "--out-dir", "{tmp}/sw", "--seeds", "4294967296"], "seed"),
        (["summarize", "{tmp}/adir", "--out", "{tmp}/adir"], "is a folder"),
        (["summarize", "{tmp}/adir", "--out", "/dev/null"], "not a regular file"),
        (["reproduce", "--profile", "{tmp}/list_defaults.yaml"], "'defaults' must be a mapping"),
        (["reproduce", "--profile", "{tmp}/str_defaults.yaml"], "'defaults' must be a mapping"),
        (["reproduce", "--profile", "{tmp}/list_notebook.yaml"], "notebooks.01_x must be a mapping"),
        (["reproduce", "--profile", "{tmp}/missing.yaml"], "does not exist"),
    ],
)
def test_cli_other_commands_one_error_line(argv, frag, tmp_path, capsys):
    (tmp_path / "adir").mkdir()
    (tmp_path / "list_defaults.yaml").write_text("defaults: [SEED, 0]\nnotebooks: {}\n")
    (tmp_path / "str_defaults.yaml").write_text("defaults: SEED\nnotebooks: {}\n")
    (tmp_path / "list_notebook.yaml").write_text("defaults: {}\nnotebooks:\n  01_x: [1, 2]\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + (["--no-progress"] if argv[0] != "summarize" else [])
    code, err, lines = _cli(argv, capsys)
    assert code == 2 and len(lines) == 1 and frag in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "sw").exists() or not list((tmp_path / "sw").glob("*.json"))


def test_run_sweep_out_dir_is_a_file(tmp_path):
    from altoolkit.engine.loop import ALConfig
    from altoolkit.engine.sweep import run_sweep

    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        run_sweep([ALConfig(strategy="random")], tmp_path / "f", backend="serial", progress=False)


@pytest.mark.parametrize(
    "text,frag",
    [
        ("defaults: [1, 2]\n", "'defaults' must be a mapping"),
        ("defaults: 3\n", "'defaults' must be a mapping"),
        ("notebooks:\n  01: [1]\n", "notebooks.1 must be a mapping"),
        ("notebooks: [1]\n", "'notebooks' mapping"),
        ("- 1\n", "must be a mapping"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_load_profile_shapes(text, frag, tmp_path):
    from altoolkit.teaching.reproduce import load_profile

    p = tmp_path / "p.yaml"
    p.write_text(text)
    with pytest.raises(ValueError, match=re.escape(frag)):
        load_profile(str(p))


def test_cli_corrupt_dataset_is_one_line(tmp_path, capsys):
    """A CorruptDatasetError (a 51-line traceback before) ends in one line naming the file."""
    from torchvision.datasets import CIFAR10

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, _ in CIFAR10.train_list + CIFAR10.test_list + [(CIFAR10.meta["filename"], None)]:
        (folder / name).write_bytes(b"not a pickle")
    code, err, lines = _cli(["al", "--dataset", "cifar10", "--root", str(tmp_path), "--out", str(tmp_path / "r.json"), "--no-progress"], capsys)
    assert code == 2 and len(lines) == 1 and "cifar-10-batches-py" in lines[0] and "cannot be read" in lines[0], err
    assert "Traceback" not in err


def test_cli_image_folder_runs(tmp_path, capsys):
    """Finding 5: ``--dataset image_folder --root DIR`` works from the CLI."""
    for c in ("a", "b"):
        for i in range(10):
            _png(tmp_path / "imgs" / c / f"{i}.png", "RGB", value=(40 * i, 0, 200 if c == "a" else 0))
    out = tmp_path / "r.json"
    code = main(
        [
            "al",
            "--dataset",
            "image_folder",
            "--root",
            str(tmp_path / "imgs"),
            "--strategy",
            "random",
            "--model",
            "mlp",
            "--cycles",
            "2",
            "--epochs",
            "1",
            "--initial-fraction",
            "0.3",
            "--step-fraction",
            "0.2",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rec = json.loads(out.read_text())
    assert rec["dataset"]["num_classes"] == 2 and rec["finished"]


# ------------------------------------------------------------------ API: devices, seeds, output paths


@pytest.mark.parametrize(
    "value,exc,frag",
    [
        ("banana", ValueError, "device must be a torch device"),
        ("", TypeError, "device"),
        (0, TypeError, "device"),
        (None, TypeError, "device"),
        ("cuda:x", ValueError, "device must be a torch device"),
    ],
)
def test_alconfig_device(value, exc, frag):
    from altoolkit.engine.loop import ALConfig

    with pytest.raises(exc, match=frag):
        ALConfig(device=value)


@pytest.mark.parametrize("value,exc", [(2**32, ValueError), (2**63, ValueError), (-1, ValueError), (1.5, TypeError), ("3", TypeError), (True, TypeError)])
def test_alconfig_seed_bounds(value, exc):
    from altoolkit.engine.loop import ALConfig

    with pytest.raises(exc, match="seed"):
        ALConfig(seed=value)


def test_alconfig_largest_seed_accepted():
    from altoolkit.engine.loop import MAX_SEED, ALConfig

    assert ALConfig(seed=MAX_SEED).seed == 2**32 - 1


@pytest.mark.parametrize(
    "kind,frag",
    [
        ("dir", "is a folder"),
        ("fifo", "not a regular file"),
        ("/dev/null", "not a regular file"),
        ("/proc/x.csv", "cannot write to folder"),
        ("/sys/x.csv", "cannot write to folder"),
    ],
)
def test_check_output_file(kind, frag, tmp_path):
    with pytest.raises(ValueError, match=frag):
        check_output_file(_special(tmp_path, kind), "out")


# ------------------------------------------------------------------ label stores (finding 7)


def _store(tmp_path):
    from altoolkit.labelling.store import LabelStore

    s = LabelStore(tmp_path / "labels.sqlite", ["cat", "dog"])
    s.label("a.png", "cat")
    s.create_batch(["b.png", "c.png"], [0.5, 0.25], strategy="random", info={"n": 1})
    s.close()
    return tmp_path / "labels.sqlite"


@pytest.mark.parametrize(
    "sql,frag",
    [
        ("UPDATE meta SET value = 'not json' WHERE key = 'classes'", "'classes' must be a JSON list"),
        ("UPDATE meta SET value = '{\"a\": 1}' WHERE key = 'classes'", "'classes' must be a JSON list"),
        ("UPDATE meta SET value = '[1, 2]' WHERE key = 'classes'", "'classes' must be a JSON list"),
        ("UPDATE meta SET value = '[]' WHERE key = 'classes'", "'classes' must be a JSON list"),
        ("DELETE FROM meta WHERE key = 'classes'", "'classes' must be a JSON list"),
    ],
)
def test_labelstore_metadata_not_json(sql, frag, tmp_path):
    import sqlite3

    from altoolkit.labelling.store import LabelStore, LabelStoreError

    p = _store(tmp_path)
    with sqlite3.connect(p) as c:
        c.execute(sql)
    with pytest.raises(LabelStoreError, match=frag) as info:
        LabelStore(p)
    assert info.value.path == p and str(p) in str(info.value)


@pytest.mark.parametrize("info_text", ["not json", "[1, 2]", "3", "{"])
def test_labelstore_batch_info_not_json(info_text, tmp_path):
    import sqlite3

    from altoolkit.labelling.store import LabelStore, LabelStoreError

    p = _store(tmp_path)
    with sqlite3.connect(p) as c:
        c.execute("UPDATE batches SET info = ?", (info_text,))
    with LabelStore(p) as s:
        with pytest.raises(LabelStoreError, match="batch 1's info must be a JSON object"):
            s.batches()


@pytest.mark.parametrize(
    "kind,frag",
    [
        ("dir", "export_csv path .* is a folder"),
        ("fifo", "not a regular file"),
        ("/dev/null", "not a regular file"),
        ("/proc/labels.csv", "cannot write to folder"),
    ],
)
def test_labelstore_export_csv_bad_path(kind, frag, tmp_path):
    from altoolkit.labelling.store import LabelStore

    p = _store(tmp_path)
    target = _special(tmp_path, kind)
    with LabelStore(p) as s:
        with pytest.raises(ValueError, match=frag):
            s.export_csv(target)
        out = s.export_csv(tmp_path / "ok.csv")
    assert out.read_text().splitlines()[1].startswith("a.png,cat,")


# ------------------------------------------------------------------ issue 30, item 5: values as given, data shapes


@pytest.mark.parametrize(
    "y,frag",
    [
        (np.array([0, 1] * 9 + [1, 1e20]), "y_train holds label 1e+20"),
        (np.array([0, 1] * 9 + [1, 2**63 + 5], dtype=np.uint64), "y_train holds label 9223372036854775813"),
        (np.array([0, 1] * 9 + [1, -1e20]), "y_train holds label -1e+20"),
        (torch.tensor([0, 1] * 9 + [1, 1e20], dtype=torch.float64), "y_train holds label 1e+20"),
    ],
)
def test_huge_labels_are_named_as_given(y, frag):
    """A label 1e20 or a uint64 2**63 + 5 used to be reported as a negative number (int64 wraps)."""
    with pytest.raises(ValueError, match=re.escape(frag)):
        from_arrays(X, y, XT, YT)
    with pytest.raises(ValueError, match=re.escape(frag)):
        ALDataset("d", torch.zeros(20, 4), torch.as_tensor(y), torch.zeros(6, 4), torch.tensor(YT), 2)


def test_uint64_label_in_train_model_is_named_as_given():
    y = torch.from_numpy(np.array([0, 1] * 5 + [1, 2**63 + 5], dtype=np.uint64))
    with pytest.raises(ValueError, match="label 9223372036854775813"):
        train_model(_model(), XS, y, TrainConfig(epochs=1), progress=False)


@pytest.mark.parametrize(
    "x,exc,frag",
    [
        (np.zeros((20, 4), dtype=np.complex64) + 1j, TypeError, "x_train holds complex values"),
        (np.zeros((20, 0), dtype=np.float32), ValueError, "x_train has samples of shape (0,), with no values"),
        (np.zeros((20, 3, 0, 2), dtype=np.float32), ValueError, "x_train has samples of shape (3, 0, 2), with no values"),
    ],
)
def test_complex_or_zero_width_inputs_refused(x, exc, frag):
    """Complex inputs lost their imaginary part (only torch warned); zero features were accepted."""
    xt = np.zeros((6,) + x.shape[1:], dtype=x.dtype)
    with pytest.raises(exc, match=re.escape(frag)):
        from_arrays(x, Y, xt, YT)
    with pytest.raises(exc, match=re.escape(frag)):
        ALDataset("d", torch.from_numpy(x), torch.tensor(Y), torch.from_numpy(xt), torch.tensor(YT), 2)
    with pytest.raises(exc, match=re.escape(frag.replace("x_train", "x"))):
        train_model(_model(), torch.from_numpy(x), torch.tensor(Y), TrainConfig(epochs=1), progress=False)


def test_aldataset_refuses_nan_inputs():
    with pytest.raises(ValueError, match="x_test contains NaN or infinite values"):
        ALDataset("d", torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]), torch.full((2, 2), float("nan")), torch.tensor([0, 1]), 2)


def _classes(root, counts):
    for c, n in counts.items():
        for i in range(n):
            _png(root / c / f"{i}.png", "RGB", value=(30 * i, 0, 0))


@pytest.mark.parametrize(
    "link,target,frag",
    [
        ("cat/loop", "..", "a loop back to a folder above it"),
        ("cat/self", ".", "a loop back to a folder above it"),
        ("cat/dogs", "../dog", "a second path to it"),
        ("cat/x.png", "../dog/0.png", "a second path to it"),
    ],
)
def test_symlinks_that_read_images_twice_are_refused(link, target, frag, tmp_path):
    """``cat/loop -> ..`` used to read 492 images from 12 files, spread over train and test."""
    root = tmp_path / "imgs"
    _classes(root, {"cat": 6, "dog": 6})
    os.symlink(target, root / link)
    with pytest.raises(ValueError, match=re.escape(frag)) as info:
        from_image_folder(root, image_size=8, progress=False)
    assert str(root / link) in str(info.value)


def test_symlink_to_a_folder_outside_is_followed_once(tmp_path):
    """The control: a class folder that is a link to images elsewhere is read, once."""
    root = tmp_path / "imgs"
    _classes(root, {"cat": 6})
    _classes(tmp_path / "elsewhere", {"dog": 6})
    os.symlink(tmp_path / "elsewhere" / "dog", root / "dog")
    ds = from_image_folder(root, image_size=8, progress=False)
    assert ds.class_names == ["cat", "dog"] and ds.n_train + ds.n_test == 12


def test_one_image_class_is_named_by_its_folder(tmp_path):
    root = tmp_path / "imgs"
    _classes(root, {"cat": 6, "dog": 6, "bird": 1})
    with pytest.raises(ValueError, match=re.escape(f"class 'bird' (folder {str(root / 'bird')!r}) has 1 sample")):
        from_image_folder(root, image_size=8, progress=False)


@pytest.mark.parametrize("augment", ["flip_crop", "flip"])
def test_augmentation_on_flat_data_is_refused_not_skipped(augment, tmp_path):
    """``--augment flip_crop`` on vectors was skipped while the record said flip_crop."""
    with pytest.raises(ValueError, match=f"augment={augment!r} flips"):
        train_model(_model(), XS, YS, TrainConfig(epochs=1, augment=augment), progress=False)
    from altoolkit.engine.loop import ALConfig, run_active_learning

    cfg = ALConfig(strategy="random", model="mlp", cycles=2, epochs=1, augment=augment, dataset_options={"flat": True})
    with pytest.raises(ValueError, match=re.escape("the inputs have shape (135, 64)")):
        run_active_learning(cfg, tmp_path / "r.json", progress=False)
    assert not (tmp_path / "r.json").exists()


def test_cli_subset_smaller_than_the_budget_is_refused_before_training(tmp_path, capsys):
    """``--subset-size 10`` failed after training with a message about ``k``."""
    out = tmp_path / "r.json"
    argv = ["al", "--strategy", "entropy", "--model", "mlp", "--cycles", "2", "--epochs", "1", "--subset-size", "10", "--out", str(out), "--no-progress"]
    code, err, lines = _cli(argv, capsys)
    assert code == 2 and len(lines) == 1 and "--subset-size" in lines[0] and "fewer than the 67 samples a selection picks" in lines[0], err
    assert not out.exists()


@pytest.mark.parametrize(
    "field,value,exc,frag",
    [
        ("cycles", 0, ValueError, "cycles must be an integer in [1, inf], got 0"),
        ("seed", -1, ValueError, "seed must be an integer in [0, 4294967295]"),
        ("strategy", "nosuch", ValueError, "strategy must be one of"),
        ("initial_fraction", 1.5, ValueError, "initial_fraction"),
        ("strategy_options", {"nosuch": 1}, ValueError, "takes no options ['nosuch']"),
    ],
)
def test_config_changed_after_construction_is_checked_when_the_run_starts(field, value, exc, frag, tmp_path):
    """``cfg.cycles = 0`` set after construction failed deep inside (IndexError)."""
    from altoolkit.engine.loop import ALConfig, run_active_learning

    cfg = ALConfig(strategy="random", model="mlp", cycles=2, epochs=1)
    setattr(cfg, field, value)
    with pytest.raises(exc, match=re.escape(frag)) as info:
        run_active_learning(cfg, tmp_path / "r.json", progress=False)
    assert "checked again when the run starts" in str(info.value)
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    "change,frag",
    [
        (lambda ds: setattr(ds, "num_classes", 10**9), "num_classes is 1000000000, more than the limit"),
        (lambda ds: ds.y_test.__setitem__(0, 77), "y_test holds label 77, outside 0..9"),
        (lambda ds: ds.y_train.__setitem__(3, -2), "y_train holds label -2"),
        (lambda ds: ds.x_train.__setitem__(0, float("nan")), "x_train contains NaN"),
        (lambda ds: setattr(ds, "class_names", ["a"]), "class_names has 1 names for 10 classes"),
    ],
)
def test_dataset_changed_after_construction_is_checked_when_the_run_starts(change, frag, tmp_path):
    """``ds.num_classes = 10**9`` tried a 512 GB allocation; a test label set to 77 was scored."""
    from altoolkit.engine.loop import ALConfig, run_active_learning

    ds = load_dataset("digits")
    change(ds)
    cfg = ALConfig(strategy="random", model="mlp", cycles=2, epochs=1)
    with pytest.raises(ValueError, match=re.escape(frag)) as info:
        run_active_learning(cfg, tmp_path / "r.json", dataset=ds, progress=False)
    assert "dataset 'digits'" in str(info.value) and "checked again when the run starts" in str(info.value)
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("dataset", [(1, 2), "digits", None.__class__])
def test_run_with_a_dataset_that_is_not_one(dataset, tmp_path):
    from altoolkit.engine.loop import ALConfig, run_active_learning

    with pytest.raises(TypeError, match="dataset must be an altoolkit ALDataset"):
        run_active_learning(ALConfig(strategy="random", model="mlp", cycles=2, epochs=1), tmp_path / "r.json", dataset=dataset, progress=False)
    assert not (tmp_path / "r.json").exists()


def test_labelstore_create_batch_with_its_own_defaults(tmp_path):
    """``create_batch(items)`` with the default strategy was refused by its own check."""
    from altoolkit.labelling.store import LabelStore

    with LabelStore(tmp_path / "l.sqlite", ["cat", "dog"]) as s:
        batch, created = s.create_batch(["a.png", "b.png"])
        assert created and batch.strategy == "manual"


@pytest.mark.parametrize(
    "info,frag", [({"s": {1, 2}}, "info must hold JSON values only"), ([1, 2], "info must be a dict"), ({"f": object()}, "info must hold")]
)
def test_labelstore_create_batch_info_not_json_names_info(info, frag, tmp_path):
    from altoolkit.labelling.store import LabelStore

    with LabelStore(tmp_path / "l.sqlite", ["cat", "dog"]) as s:
        with pytest.raises(TypeError, match=frag):
            s.create_batch(["a.png"], info=info)
        assert s.batches() == []  # nothing saved
