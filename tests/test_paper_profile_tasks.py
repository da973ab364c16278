"""The ``paper`` profile's segmentation and detection notebooks, known to run: notebooks 10 and 11
execute end to end under ``--profile paper tests/paper_smoke.yaml`` on tiny Cityscapes and VOC2012
files in their real layouts, with the paper's networks (torchvision's ``fcn_resnet50`` for DRN-D-22,
FCOS with a ResNet-50-FPN), ISAL's and DISAL's options and the 1x schedule; the smoke layer cuts
the image size, seeds, epochs, cycles, budgets and LiSSA's depth, nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from altoolkit.teaching.reproduce import load_profile, merge_profiles, notebook_defaults, notebook_parameters, run_notebooks

ROOT = Path(__file__).resolve().parents[1]
NB10 = ROOT / "notebooks" / "10_segmentation.ipynb"
NB11 = ROOT / "notebooks" / "11_detection_cost_in_boxes.ipynb"
SMOKE = ROOT / "tests" / "paper_smoke.yaml"
#: the loader options the smoke layer may change: the image size, nothing else
SIZE_OPTIONS = {NB10: {"crop"}, NB11: {"image_size"}}
VOC_CLASSES = ("dog", "person", "cat", "car", "bird")


def _write_cityscapes(root: Path, n_train: int = 20, n_val: int = 6, size: tuple[int, int] = (48, 40)) -> None:
    """Cityscapes' layout: leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png and
    gtFine/<split>/<city>/..._gtFine_labelIds.png, label ids 0..33 in blocks (a learnable task)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, city, n in (("train", "aachen", n_train), ("val", "lindau", n_val)):
        img_dir, gt_dir = (root / "cityscapes" / kind / split / city for kind in ("leftImg8bit", "gtFine"))
        img_dir.mkdir(parents=True)
        gt_dir.mkdir(parents=True)
        for k in range(n):
            w, h = size
            ids = np.kron(rng.choice(np.array([7, 8, 11, 21, 24, 26], dtype=np.uint8), size=(h // 8, w // 8)), np.ones((8, 8), np.uint8))
            rgb = np.stack([ids * 9, 255 - ids * 9, rng.integers(0, 256, ids.shape)], -1).astype(np.uint8)
            stem = f"{city}_{k:06d}_000019"
            Image.fromarray(rgb).save(img_dir / f"{stem}_leftImg8bit.png")
            Image.fromarray(ids).save(gt_dir / f"{stem}_gtFine_labelIds.png")


def _write_voc(root: Path, n_train: int = 12, n_val: int = 6, size: tuple[int, int] = (64, 48)) -> None:
    """VOC2012's layout: JPEGImages/*.jpg, Annotations/*.xml (1-based inclusive boxes), ImageSets/Main/{train,val}.txt."""
    from PIL import Image

    rng = np.random.default_rng(0)
    base = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (base / sub).mkdir(parents=True)
    names = {"train": [], "val": []}
    w, h = size
    for i in range(n_train + n_val):
        name = f"2012_{i:06d}"
        names["train" if i < n_train else "val"].append(name)
        img = np.full((h, w, 3), 30, np.uint8)
        objects = ""
        for j in range(1 + i % 3):  # 1-3 boxes: images differ in cost
            x0, y0 = 2 + 20 * j, 4 + int(rng.integers(0, 10))
            x1, y1 = x0 + 16, y0 + 18
            img[y0:y1, x0:x1] = 60 * (1 + j)
            cls = VOC_CLASSES[(i + j) % len(VOC_CLASSES)]
            objects += (
                f"<object><name>{cls}</name><difficult>0</difficult><bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin>"
                f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
            )
        Image.fromarray(img).save(base / "JPEGImages" / f"{name}.jpg")
        size_xml = f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>"
        (base / "Annotations" / f"{name}.xml").write_text(f"<annotation>{size_xml}{objects}</annotation>")
    for split, listed in names.items():
        (base / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(listed) + "\n")


def _smoke() -> dict:
    return merge_profiles("paper", str(SMOKE))


@pytest.mark.parametrize("nb", [NB10, NB11], ids=["10", "11"])
def test_smoke_changes_only_sizes_of_the_task_notebooks(nb):
    """Every parameter the paper profile gives notebooks 10 and 11 is kept by the smoke layer but the
    sizes: the loader's image size, epochs, seeds, cycles, budgets, LiSSA's depth, device, workers."""
    paper = {**notebook_defaults(nb), **notebook_parameters(load_profile("paper"), nb, Path("/tmp"))}
    smoke = {**notebook_defaults(nb), **notebook_parameters(_smoke(), nb, Path("/tmp"))}
    sizes = {"DEVICE", "EPOCHS", "AL_EPOCHS", "BUDGET", "AL_SEEDS", "AL_CYCLES", "AL_INITIAL_SIZE", "AL_STEP_SIZE", "N_JOBS", "FIGURES_DIR", "EXPECT_LEARNING"}
    for k in set(paper) - sizes - {"DATASET_OPTIONS", "STRATEGY_OPTIONS"}:
        assert smoke[k] == paper[k], k
    assert set(smoke["DATASET_OPTIONS"]) == set(paper["DATASET_OPTIONS"]) == SIZE_OPTIONS[nb]
    for strat, opts in paper["STRATEGY_OPTIONS"].items():
        assert all(k in ("depth", "repeats") or smoke["STRATEGY_OPTIONS"][strat][k] == v for k, v in opts.items())


@pytest.mark.slow
@pytest.mark.parametrize("nb", [NB10, NB11], ids=["10", "11"])
def test_paper_profile_task_notebook_executes(nb, tmp_path):
    """Notebook 10 on tiny Cityscapes files (19 train ids, fcn_resnet50) and notebook 11 on tiny
    VOC2012 files (20 classes, FCOS ResNet-50-FPN, mmdet_1x, flips) run end to end."""
    data = tmp_path / "data"
    (_write_cityscapes if nb is NB10 else _write_voc)(data)
    runs = run_notebooks(
        _smoke(), ROOT / "notebooks", tmp_path / "out", tmp_path / "figures", only=[nb.stem[:2]], progress=False,
        results_dir=tmp_path / "records", overrides={"DATA_ROOT": str(data)},
    )  # fmt: skip
    assert len(runs) == 1 and runs[0].ok, runs[0].line()
    p = runs[0].parameters
    expected = ("cityscapes", "fcn_resnet50") if nb is NB10 else ("voc", "fcos_resnet50_fpn")
    assert (p["DATASET"], p["MODEL"]) == expected
