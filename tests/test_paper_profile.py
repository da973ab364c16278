"""The ``paper`` profile, known to run: its options merge into the notebooks' own, it runs DISAL one
way in notebooks 02 and 06, and every notebook it changes executes end to end on tiny files in the
real on-disk formats (CIFAR-10/100 pickles, SVHN .mat files, Caltech101 JPEG folders, an ImageNet
ResNet-18 state dict) with the paper's networks at their real input sizes.

The notebook runs use ``--profile paper tests/paper_smoke.yaml``: the paper profile with only the
device, seeds, epochs, cycles, budgets and LiSSA depth cut down (that file says what and why).
torchvision's MD5 check of the CIFAR and SVHN files (tiny files cannot match the real digests) is
the only thing replaced, in the test process and, through a ``sitecustomize`` module on the
kernels' ``PYTHONPATH``, in the notebooks' kernels."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from altoolkit.teaching.reproduce import load_profile, merge_profiles, notebook_parameters, run_notebooks

ROOT = Path(__file__).resolve().parents[1]
NB = {p.stem[:2]: p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
SMOKE = ROOT / "tests" / "paper_smoke.yaml"
#: the notebooks whose settings the paper profile changes (01, 08 and 09 stay on digits)
PAPER_NOTEBOOKS = ("02", "03", "04", "05", "06", "07")
DATASETS = ("cifar10", "cifar100", "svhn", "caltech101")

_SITECUSTOMIZE = """\
# written by tests/test_paper_profile.py: torchvision's MD5 check of the CIFAR and SVHN files is
# replaced by "the file exists" (tiny files cannot match the real digests); nothing else changes
import os

import torchvision.datasets.cifar as _cifar
import torchvision.datasets.svhn as _svhn

_cifar.check_integrity = lambda fpath, md5=None: os.path.isfile(fpath)
_svhn.check_integrity = lambda fpath, md5=None: os.path.isfile(fpath)
"""


def _write_cifar(folder: Path, files: dict[str, int], label_key: str, num_classes: int, seed: int) -> None:
    """Pickled dicts with 'data' (N, 3072) uint8 rows and class labels 0..C-1 in turn (every class
    of CIFAR-10 twice: DISAL's imbalanced recipe at ratio 2 keeps 1 or 2 of each)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    first = 0
    for name, n in files.items():
        x = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [(first + i) % num_classes for i in range(n)]
        first = 0 if name.startswith("test") else first + n
        entry = {"batch_label": name, label_key: labels, "data": x, "filenames": [f"{name}_{i}.png" for i in range(n)]}
        if label_key == "fine_labels":
            entry["coarse_labels"] = [i % 20 for i in range(n)]
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)


def write_tiny_datasets(root: Path) -> dict[str, Path]:
    """Tiny CIFAR-10 (20 + 6 images), CIFAR-100 (20 + 6), SVHN (20 + 6) and Caltech101 (3 classes
    of 6 JPEGs of a few sizes, plus BACKGROUND_Google) in torchvision's layouts, and a torchvision
    ResNet-18 state dict (random weights with the ImageNet file's keys and shapes) named as
    siyuhuang/TOD's ``resnet18-5c106cde.pth``."""
    import scipy.io
    import torchvision
    from PIL import Image

    _write_cifar(root / "cifar-10-batches-py", {**{f"data_batch_{i}": 4 for i in range(1, 6)}, "test_batch": 6}, "labels", 10, 0)
    with open(root / "cifar-10-batches-py" / "batches.meta", "wb") as f:
        names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        pickle.dump({"label_names": names, "num_cases_per_batch": 4, "num_vis": 3072}, f)
    _write_cifar(root / "cifar-100-python", {"train": 20, "test": 6}, "fine_labels", 100, 1)
    with open(root / "cifar-100-python" / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"fine{i:02d}" for i in range(100)], "coarse_label_names": [f"c{i}" for i in range(20)]}, f)
    rng = np.random.default_rng(2)
    for split, n in (("train", 20), ("test", 6)):
        y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)  # SVHN stores digit 0 as 10
        scipy.io.savemat(str(root / f"{split}_32x32.mat"), {"X": rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8), "y": y})
    cats = root / "caltech101" / "101_ObjectCategories"
    for c, name in enumerate(("accordion", "beaver", "camera", "BACKGROUND_Google")):
        (cats / name).mkdir(parents=True)
        for i in range(1 if name.startswith("BACKGROUND") else 6):
            pixels = rng.integers(0, 256, size=(30 + 5 * i, 40 + 3 * c, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(cats / name / f"image_{i + 1:04d}.jpg", quality=90)
    weights = root / "resnet18-5c106cde.pth"
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    return {"root": root, "weights": weights}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return write_tiny_datasets(tmp_path_factory.mktemp("paper_data"))


@pytest.fixture
def md5_skipped(monkeypatch, tmp_path):
    """In this process and in the kernels papermill starts from it."""
    import torchvision.datasets.cifar as tv_cifar
    import torchvision.datasets.svhn as tv_svhn

    exists = lambda fpath, md5=None: os.path.isfile(fpath)  # noqa: E731
    monkeypatch.setattr(tv_cifar, "check_integrity", exists)
    monkeypatch.setattr(tv_svhn, "check_integrity", exists)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))


def smoke_profile() -> dict:
    return merge_profiles("paper", str(SMOKE))


def _effective(profile: dict, stem: str, **overrides) -> dict:
    """The parameters notebook ``stem`` runs with: its own, with the profile's merged in."""
    from altoolkit.teaching.reproduce import notebook_defaults

    return {**notebook_defaults(NB[stem]), **notebook_parameters(profile, NB[stem], Path("/tmp"), overrides=overrides)}


# fast checks of the profile ----------------------------------------------------------------------


def test_profiles_merge_mapping_parameters_and_layer(tmp_path):
    """A profile sets what it names: a mapping merges key by key into the notebook's own value,
    anything else replaces it; later profiles and dataset sections layer the same way; --set wins."""
    from altoolkit.teaching.reproduce import merge_parameter, notebook_defaults

    own = notebook_defaults(NB["06"])["STRATEGY_OPTIONS"]
    prof = {"defaults": {}, "notebooks": {"06_active_learning_benchmark": {"STRATEGY_OPTIONS": {"isal": {"reference": "test"}}, "SEEDS": [7]}}}
    p = notebook_parameters(prof, NB["06"], tmp_path)
    assert p["STRATEGY_OPTIONS"] == {**own, "isal": {**own["isal"], "reference": "test"}} and p["SEEDS"] == [7]
    assert merge_parameter({"a": [1, 2]}, {"a": [3]}) == {"a": [3]} and merge_parameter(None, {"a": 1}) == {"a": 1}
    layered = merge_profiles(prof, {"notebooks": {"06_active_learning_benchmark": {"STRATEGY_OPTIONS": {"isal": {"depth": 3}}}}})
    got = notebook_parameters(layered, NB["06"], tmp_path)["STRATEGY_OPTIONS"]["isal"]
    assert got == {**own["isal"], "reference": "test", "depth": 3}
    with_ds = {**prof, "datasets": {"svhn": {"defaults": {"SEED": 3}, "notebooks": {"06_active_learning_benchmark": {"SEEDS": [1]}}}}}
    assert notebook_parameters(with_ds, NB["06"], tmp_path, overrides={"DATASET": "svhn"})["SEEDS"] == [1]
    assert notebook_parameters(with_ds, NB["06"], tmp_path, overrides={"DATASET": "cifar10"})["SEEDS"] == [7]
    assert notebook_parameters(with_ds, NB["06"], tmp_path, overrides={"DATASET": "svhn", "SEEDS": [9]})["SEEDS"] == [9]
    bad = {**prof, "datasets": {"svhn": {"notebooks": {"06_active_learning_benchmark": {"NOPE": 1}}}}}
    with pytest.raises(ValueError, match="NOPE.*datasets.svhn"):
        notebook_parameters(bad, NB["06"], tmp_path, overrides={"DATASET": "svhn"})
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("datasets: {svhn: [1]}\n")
    with pytest.raises(ValueError, match="datasets.svhn must be a mapping"):
        load_profile(str(bad_file))


def test_dataset_options_are_replaced_not_merged(tmp_path):
    """A loader's options belong to its dataset: the paper profile's Cityscapes crop replaces
    notebook 10's scene sizes (merged, Cityscapes' loader got n_train and failed), and a DATASET
    changed with no options of its own drops the notebook's."""
    nb10, nb11 = ROOT / "notebooks" / "10_segmentation.ipynb", ROOT / "notebooks" / "11_detection_cost_in_boxes.ipynb"
    paper = load_profile("paper")
    assert notebook_parameters(paper, nb10, tmp_path)["DATASET_OPTIONS"] == {"crop": 688}
    assert notebook_parameters(paper, nb11, tmp_path)["DATASET_OPTIONS"] == {"image_size": 512}
    empty = {"defaults": {}, "notebooks": {}}
    assert notebook_parameters(empty, nb10, tmp_path, overrides={"DATASET": "cityscapes"})["DATASET_OPTIONS"] == {}
    assert "DATASET_OPTIONS" not in notebook_parameters(empty, nb10, tmp_path)


def test_paper_profile_runs_disal_one_way_in_02_and_06():
    """Notebooks 02 and 06 take the same protocol options, and the paper profile gives both the same
    values on every dataset, so their DISAL runs are the same configurations (shared records)."""
    same = {
        "AL_EPOCHS": "EPOCHS",
        "AL_CYCLES": "CYCLES",
        "AL_INITIAL_FRACTION": "INITIAL_FRACTION",
        "AL_STEP_FRACTION": "STEP_FRACTION",
        "AL_INITIAL_SIZE": "INITIAL_SIZE",
        "AL_STEP_SIZE": "STEP_SIZE",
        "AL_SUBSET_SIZE": "SUBSET_SIZE",
        "AL_WARM_START": "WARM_START",
        **{
            k: k for k in ("DATASET", "DATA_ROOT", "MODEL", "BATCH_SIZE", "LR", "AUGMENT", "DEVICE", "DATASET_OPTIONS", "PRETRAINED_WEIGHTS", "PRETRAINED_LOAD")
        },
    }
    paper = load_profile("paper")
    for ds in DATASETS:
        p02, p06 = _effective(paper, "02", DATASET=ds), _effective(paper, "06", DATASET=ds)
        assert {k: p02[k] for k in same} == {k: p06[v] for k, v in same.items()}, ds
        assert set(p02["AL_STRATEGIES"]) <= set(p06["STRATEGIES"]) | set(p06["CLAIM_STRATEGIES"])
        assert set(p02["AL_SEEDS"]) <= set(p06["CLAIM_SEEDS"])


def test_paper_profile_leaves_digits_notebooks_to_the_test_profile(tmp_path):
    """01, 08 and 09 stay on digits under the paper profile: it sets nothing there that the test
    profile does not set to the same value, so their execution in tests/test_notebooks.py covers them."""
    paper, test = load_profile("paper"), load_profile("test")
    for stem in ("01", "08", "09"):
        named = notebook_parameters(paper, NB[stem], tmp_path)
        p, t = _effective(paper, stem), _effective(test, stem)
        assert p.get("DATASET", "digits") == "digits", stem
        assert all(t[k] == p[k] for k in named), stem


#: what the smoke file may change: sizes, seeds, devices and backends, never a protocol option
SMOKE_MAY_SET = {
    "DEVICE",
    "EPOCHS",
    "AL_EPOCHS",
    "CYCLES",
    "AL_CYCLES",
    "SEEDS",
    "CLAIM_SEEDS",
    "AL_SEEDS",
    "IMBALANCED_SEEDS",
    "EQ15_SEEDS",
    "GEOMETRY_SEEDS",
    "INITIAL_SIZE",
    "STEP_SIZE",
    "SUBSET_SIZE",
    "AL_INITIAL_SIZE",
    "AL_STEP_SIZE",
    "AL_SUBSET_SIZE",
    "IMBALANCED_INITIAL_SIZE",
    "IMBALANCED_STEP_SIZE",
    "IMBALANCE_RATIO",
    "IMBALANCED_STRATEGIES",
    "LABELED_FRACTION",
    "INITIAL_FRACTION",
    "STEP_FRACTION",
    "VALIDATION_SIZE",
    "AL_VALIDATION_SIZE",
    "BUDGET",
    "GALLERY_SIZE",
    "LAMBDAS",
    "RECORD_EPOCHS",
    "RED_BLUE_EPOCHS",
    "SELECTION_RATE",
    "RATES",
    "PERPLEXITY",
    "TSNE_MAX_ITER",
    "PCA_DIM",
    "N_JOBS",
    "BACKEND",
    "SMALL_HIDDEN",
    "UPWEIGHT_CANDIDATES",
    "UPWEIGHT_REFERENCE",
    "LISSA_SCALES",
    "LISSA_DEPTHS",
    "AGREEMENT_SCALES",
    "AGREEMENT_DEPTH",
    "AGREEMENT_REPEATS",
    "AL_K_VALUES",
    "AL_LISSA_DEPTH",
    "AL_LISSA_REPEATS",
    "STRATEGIES",
    "STRATEGY",
    "ALSO_SCORE",
    "COMPARE_DYNAMIC",
    "STRATEGY_OPTIONS",
    "EXPECT_LEARNING",  # notebooks 10 and 11 only: a one-epoch ResNet-50 learns nothing; the run is checked, not its curves
    "DATASET_OPTIONS",  # notebooks 10 and 11 only: the crop / image size (tests/test_paper_profile_tasks.py checks)
    "AL_MODEL",  # notebook 07's ablation only: the ResNet runs its section 4 (and every strategy in notebook 06)
}


def test_smoke_file_cuts_sizes_and_keeps_every_protocol_option():
    """The smoke layer changes sizes only: every other parameter the paper profile sets is kept, and
    in STRATEGY_OPTIONS only LiSSA's depth/repeats and TracIn's checkpoints change."""
    smoke, paper = load_profile(str(SMOKE)), load_profile("paper")
    sections = [smoke["notebooks"], *(s["notebooks"] for s in smoke["datasets"].values())]
    assert not smoke["defaults"] and all(set(s.get(nb) or {}) <= SMOKE_MAY_SET for s in sections for nb in s)
    for ds in DATASETS:
        for stem in PAPER_NOTEBOOKS:
            p, s = _effective(paper, stem, DATASET=ds), _effective(smoke_profile(), stem, DATASET=ds)
            for k in set(p) - SMOKE_MAY_SET - {"FIGURES_DIR"}:
                assert s[k] == p[k], (ds, stem, k)
            for strat, opts in (p.get("STRATEGY_OPTIONS") or {}).items():
                for k, v in opts.items():
                    assert k in ("depth", "repeats", "checkpoints") or s["STRATEGY_OPTIONS"][strat][k] == v, (ds, stem, strat, k)


def test_cli_layers_profiles_and_sets_parameters(capsys):
    """``altoolkit reproduce --profile paper tests/paper_smoke.yaml --set NAME=VALUE`` loads both
    (the run stops at --only, which matches no notebook, before anything executes)."""
    from altoolkit.cli import build_parser, main

    args = build_parser().parse_args(["reproduce", "--profile", "paper", str(SMOKE), "--set", "EPOCHS=2", "--set", "PRETRAINED_WEIGHTS=/w.pth"])
    assert args.profile == ["paper", str(SMOKE)] and dict(args.set) == {"EPOCHS": 2, "PRETRAINED_WEIGHTS": "/w.pth"}
    assert main(["reproduce", "--profile", "paper", str(SMOKE), "--only", "99"]) == 2
    assert "no notebook matches" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--set", "no equals sign"])
    assert exc.value.code == 2 and "--set must look like NAME=VALUE" in capsys.readouterr().err


# the runs ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_records(tmp_path_factory):
    """One record cache for the notebook runs, as `altoolkit reproduce` shares runs/records."""
    return tmp_path_factory.mktemp("paper_records")


def _record_keys(folder: Path) -> dict[str, tuple]:
    out = {}
    for f in folder.glob("*.json"):
        rec = json.loads(f.read_text())
        if isinstance(rec, dict) and "config" in rec:
            c = rec["config"]
            out[f.name] = (c["dataset"], c["strategy"], c["seed"], json.dumps(c["strategy_options"], sort_keys=True), c.get("dynamic_weight"), c["cycles"])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("stem", PAPER_NOTEBOOKS)
def test_paper_profile_notebook_executes(stem, tiny_data, md5_skipped, shared_records, tmp_path):
    """The notebook runs end to end under ``--profile paper tests/paper_smoke.yaml`` on the tiny
    CIFAR-10 files, with the CIFAR ResNet-18 on 3x32x32 inputs and the paper's strategy options."""
    before = _record_keys(shared_records)
    runs = run_notebooks(
        smoke_profile(),
        ROOT / "notebooks",
        tmp_path / "out",
        tmp_path / "figures",
        only=[stem],
        progress=False,
        results_dir=shared_records,
        overrides={"DATASET": "cifar10", "DATA_ROOT": str(tiny_data["root"])},
    )
    assert len(runs) == 1 and runs[0].ok, runs[0].line()
    assert (runs[0].parameters["MODEL"], runs[0].parameters["AUGMENT"], runs[0].parameters["BATCH_SIZE"]) == ("resnet18_cifar", "flip_crop", 128)
    after = _record_keys(shared_records)
    if stem == "06":
        records = [json.loads((shared_records / f).read_text()) for f in after if f not in before]
        tod = [r for r in records if r["config"]["strategy"] == "tod"]
        assert tod and tod[0]["strategy"]["options"] == {"variant": "published", "consistency_weight": 0.02}
        assert tod[0]["config"]["warm_start"] and tod[0]["config"]["subset_size"] == 4
        isal = [r for r in records if r["config"]["strategy"] == "isal"]
        assert isal[0]["strategy"]["options"]["reference"] == "test" and isal[0]["strategy"]["options"]["lissa_order"] == "sequential"
        assert isal[0]["strategy"]["peeks_at_test_data"]
        bald = [r for r in records if r["config"]["strategy"] == "bald"]
        assert bald[0]["strategy"]["options"]["mc_samples"] == 10
        assert {r["dataset"]["name"] for r in records} == {"cifar10", "cifar10_ir2"}
        # notebook 02's DISAL runs (run before, in the same cache) are reused, not run again differently
        from_02 = {k for f, k in before.items() if k[1] in ("disal", "disal_no_dynamic", "random")}
        if from_02:
            assert not from_02 & {k for f, k in after.items() if f not in before}


def _notebook06_config(p: dict, strategy: str):
    """The configuration notebook 06's first code cell builds from its parameters (``base``),
    for one strategy with its STRATEGY_OPTIONS."""
    from altoolkit.engine.loop import ALConfig

    return ALConfig(
        dataset=p["DATASET"], root=p["DATA_ROOT"], model=p["MODEL"], cycles=p["CYCLES"], epochs=p["EPOCHS"],
        initial_fraction=p["INITIAL_FRACTION"], step_fraction=p["STEP_FRACTION"], initial_size=p["INITIAL_SIZE"],
        step_size=p["STEP_SIZE"], subset_size=p["SUBSET_SIZE"] or None, warm_start=p["WARM_START"], batch_size=p["BATCH_SIZE"],
        lr=p["LR"], augment=p["AUGMENT"], device=p["DEVICE"], dataset_options=p["DATASET_OPTIONS"],
        pretrained_weights=p["PRETRAINED_WEIGHTS"], pretrained_load=p["PRETRAINED_LOAD"],
        strategy=strategy, strategy_options=p["STRATEGY_OPTIONS"].get(strategy, {}),
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ("cifar100", "svhn", "caltech101"))
def test_paper_profile_runs_on_each_dataset(dataset, tiny_data, md5_skipped, tmp_path):
    """Notebook 06's configuration under the paper profile's section for ``dataset`` (TOD's
    config/<dataset>.py: its budgets, subset, unsupervised-loss weight; Caltech101's ImageNet
    ResNet-18 at 224x224 loaded as main_TOD.py, lr 0.01, batch 64, flip) runs TOD as published,
    the strategy whose options change with the dataset, for a cycle (training with its
    unsupervised loss, selection, the warm start's weights saved) on the tiny real-format files
    (notebook 06 itself runs every strategy on CIFAR-10 above)."""
    from altoolkit.engine.loop import run_active_learning
    from altoolkit.engine.protocol import TOD_CONFIGS

    over = {"DATASET": dataset, "DATA_ROOT": str(tiny_data["root"])}
    if dataset == "caltech101":
        over["PRETRAINED_WEIGHTS"] = str(tiny_data["weights"])
    p = _effective(smoke_profile(), "06", **over)

    class Stop(Exception):
        pass

    def stop(entry):  # cycle 0 trains, evaluates and selects; cycle 1 would only train again
        raise Stop

    with pytest.raises(Stop):
        run_active_learning(_notebook06_config(p, "tod"), tmp_path / "tod.json", progress=False, on_cycle_end=stop)
    tod = json.loads((tmp_path / "tod.json").read_text())
    assert len(tod["cycles"]) == 1 and tod["budgets"] == [p["INITIAL_SIZE"], p["INITIAL_SIZE"] + p["STEP_SIZE"]]
    assert len(tod["cycles"][0]["selected"]) == p["STEP_SIZE"] and tod["sidecars"]["model"]  # the warm start's weights
    assert tod["dataset"]["input_shape"] == ([3, 224, 224] if dataset == "caltech101" else [3, 32, 32])
    assert tod["cycles"][0]["n_candidates"] == p["SUBSET_SIZE"] and tod["config"]["warm_start"]
    assert tod["strategy"]["options"] == {"variant": "published", "consistency_weight": TOD_CONFIGS[dataset].weight}
    if dataset == "caltech101":
        assert tod["config"]["model"] == "resnet18" and tod["config"]["pretrained_load"] == "tod"
        assert (tod["config"]["lr"], tod["config"]["batch_size"], tod["config"]["augment"]) == (0.01, 64, "flip")


def _script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_gpu_cycle_and_paper_shape_scripts_run_in_their_cpu_smoke_setting(tiny_data, md5_skipped, tmp_path):
    """The GPU benchmark (``bash benchmarks/gpu_cycle.sh``) has not had a GPU yet: its two scripts run
    here on a CPU with tiny sizes, so the GPU run is known to start, time both cycles and write the
    ratio beside DISAL Table 1's 359 s / 299 s; a smoke result is never reported as a measurement."""
    out = tmp_path / "gpu_cycle.json"
    assert _script("gpu_cycle").main(["--root", str(tiny_data["root"]), "--device", "cpu", "--smoke", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["smoke"] and res["paper"] == pytest.approx(359 / 299) and res["shape"]["fraction_of_paper_epochs"] == 1 / 200
    assert res["disal_cycle_over_random_cycle"] == pytest.approx(res["seconds"]["disal"][0]["total"] / res["seconds"]["random"][0]["total"])
    rt = _script("readme_table")
    assert "**not run yet**" in rt.render_gpu_cycle(res)
    real = {**res, "smoke": False, "machine": {**res["machine"], "gpu": "NVIDIA H100"}}
    assert "NVIDIA H100" in rt.render_gpu_cycle(real) and "1.20 (359 s / 299 s)" in rt.render_gpu_cycle(real)
    shape_out = tmp_path / "paper_shape.json"
    args = ["--device", "cpu", "--labeled", "4", "--pool", "4", "--step", "2", "--epochs", "1", "--repeats", "1", "--test-size", "4", "--out", str(shape_out)]
    assert _script("paper_shape").main(args) == 0
    assert json.loads(shape_out.read_text())["shape"]["device"] == "cpu"
    sh = (ROOT / "benchmarks" / "gpu_cycle.sh").read_text()
    assert "gpu_cycle.py --root" in sh and "paper_shape.py --device cuda" in sh and "--readme-only" in sh
