"""Detection data: BoxTargets, DetectionDataset's checks (boxes outside the image, degenerate or not
finite, bad classes; images without boxes allowed), the digit scenes' boxes under task=detection,
and the VOC and COCO loaders on tiny files written in the real layouts (missing: the same clear
DatasetNotFoundError as the other datasets)."""

import json

import numpy as np
import pytest
import torch

import altoolkit as alt
from altoolkit.data import BoxTargets, DetectionDataset, load_coco_detection, load_voc_detection
from altoolkit.data.datasets import CorruptDatasetError, DatasetNotFoundError

SCENES = {"n_train": 12, "n_test": 6}


def _images(n, size=16):
    return torch.zeros(n, 1, size, size, dtype=torch.uint8)


def test_box_targets_index_like_a_label_tensor():
    t = BoxTargets([[[0, 0, 4, 4], [5, 5, 9, 9]], [], [[1, 2, 3, 4]]], [[3, 1], [], [0]])
    assert len(t) == 3 and t.shape == (3,) and t.counts().tolist() == [2, 0, 1]
    assert t[0]["labels"].tolist() == [3, 1] and t[1]["boxes"].shape == (0, 4)
    sub = t[torch.tensor([2, 0])]
    assert isinstance(sub, BoxTargets) and sub.counts().tolist() == [1, 2] and sub[0]["labels"].tolist() == [0]
    assert t[1:].counts().tolist() == [0, 1] and t[[0]] == t[:1] and t.to("cpu") is t
    assert t.class_counts(4).tolist() == [1, 1, 0, 1]
    with pytest.raises(ValueError, match="image 0 has 1 boxes but 2 labels"):
        BoxTargets([[[0, 0, 1, 1]]], [[1, 2]])
    with pytest.raises(ValueError, match=r"boxes must have shape \(k, 4\)"):
        BoxTargets([[[0, 0, 1]]], [[1]])
    with pytest.raises(TypeError, match="labels must be integer class indices"):
        BoxTargets([[[0, 0, 1, 1]]], [[0.5]])


@pytest.mark.parametrize(
    "box, label, message",
    [
        ([0, 0, 20, 4], 0, "outside the image"),
        ([-1, 0, 4, 4], 0, "outside the image"),
        ([3, 3, 3, 8], 0, "degenerate box"),
        ([5, 5, 2, 8], 0, "degenerate box"),
        ([0, 0, float("nan"), 4], 0, "not finite"),
        ([0, 0, 4, 4], 7, "class 7, outside 0..2"),
        ([0, 0, 4, 4], -1, "class -1"),
    ],
)
def test_bad_boxes_are_refused_with_the_image_named(box, label, message):
    bad = BoxTargets([[], [box]], [[], [label]])
    good = BoxTargets([[], []], [[], []])
    with pytest.raises(ValueError, match=message) as err:
        DetectionDataset("toy", _images(2), bad, _images(2), good, num_classes=3)
    assert "y_train[1]" in str(err.value)


def test_images_without_boxes_are_allowed_and_cost_nothing():
    y = BoxTargets([[], [[1, 1, 5, 6]]], [[], [2]])
    ds = DetectionDataset("toy", _images(2), y, _images(2), y, num_classes=3)
    assert ds.boxes_per_image().tolist() == [0, 1] and ds.boxes_per_image("test", [1]).tolist() == [1]
    with pytest.raises(ValueError, match="x_train has 3 images but y_train has targets for 2"):
        DetectionDataset("toy", _images(3), y, _images(2), y, num_classes=3)
    with pytest.raises(TypeError, match="y_train must be a BoxTargets"):
        DetectionDataset("toy", _images(2), torch.zeros(2), _images(2), y, num_classes=3)


def test_digit_scene_boxes_are_the_segmentation_scenes():
    det = alt.load_dataset("digit_scenes", task="detection", seed=0, **SCENES)
    seg = alt.load_dataset("digit_scenes", seed=0, **SCENES)
    assert isinstance(det, DetectionDataset) and det.num_classes == 10 and det.class_names[3] == "3"
    assert torch.equal(det.x_train, seg.x_train) and torch.equal(det.x_test, seg.x_test)
    counts = det.boxes_per_image()
    assert counts.min() >= 1 and len(set(counts.tolist())) > 1, "every scene has a digit and the cost varies"
    for i in range(len(det.y_train)):
        for (x0, y0, x1, y1), d in zip(det.y_train[i]["boxes"].int().tolist(), det.y_train[i]["labels"].tolist()):
            assert bool((seg.y_train[i, y0:y1, x0:x1] == 1 + d).any()), "each box holds its digit's mask"
    assert alt.data.check_dataset_name("voc") == "voc"


def _voc_xml(objects):
    body = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for n, b, d in objects
    )
    return f"<annotation><size><width>40</width><height>20</height><depth>3</depth></size>{body}</annotation>"


def _write_voc(root):
    from PIL import Image

    base = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (base / sub).mkdir(parents=True)
    objects = {
        "a": [("dog", (1, 1, 20, 10), 0), ("person", (21, 2, 40, 20), 0)],
        "b": [("cat", (5, 5, 15, 15), 1)],  # difficult only: no box kept
        "c": [("car", (11, 1, 30, 20), 0)],
    }
    for name, objs in objects.items():
        Image.new("RGB", (40, 20), (100, 50, 25)).save(base / "JPEGImages" / f"{name}.jpg")
        (base / "Annotations" / f"{name}.xml").write_text(_voc_xml(objs))
    (base / "ImageSets/Main/train.txt").write_text("a\nb\n")
    (base / "ImageSets/Main/val.txt").write_text("c\n")


def test_voc_loader_reads_the_real_layout(tmp_path):
    _write_voc(tmp_path)
    ds = load_voc_detection(tmp_path, image_size=20)
    assert isinstance(ds, DetectionDataset) and ds.x_train.shape == (2, 3, 20, 20) and ds.num_classes == 20
    assert ds.boxes_per_image().tolist() == [2, 0] and ds.boxes_per_image("test").tolist() == [1]
    first = ds.y_train[0]
    names = [ds.class_names[c] for c in first["labels"].tolist()]
    assert names == ["dog", "person"]
    # 1-based inclusive (1, 1, 20, 10) -> pixel edges (0, 0, 20, 10), then scaled by 20/40
    np.testing.assert_allclose(first["boxes"][0].numpy(), [0, 0, 10, 5])
    assert int(ds.x_train[0, :, 10:].sum()) == 0, "the padding below the scaled 40x20 image is zero"
    kept = load_voc_detection(tmp_path, image_size=20, keep_difficult=True)
    assert kept.boxes_per_image().tolist() == [2, 1]
    assert alt.load_dataset("voc", task="detection", root=tmp_path, image_size=20).n_train == 2


def test_coco_loader_reads_the_real_layout(tmp_path):
    from PIL import Image

    base = tmp_path / "coco"
    for sub in ("train2017", "val2017", "annotations"):
        (base / sub).mkdir(parents=True)
    cats = [{"id": 3, "name": "car"}, {"id": 1, "name": "person"}]

    def write(split, images, anns):
        for im in images:
            Image.new("RGB", (im["width"], im["height"]), (10, 20, 30)).save(base / split / im["file_name"])
        doc = {"images": images, "annotations": anns, "categories": cats}
        (base / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))

    images = [{"id": 7, "file_name": "7.jpg", "width": 32, "height": 16}, {"id": 9, "file_name": "9.jpg", "width": 16, "height": 16}]
    anns = [
        {"id": 1, "image_id": 7, "category_id": 3, "bbox": [2, 2, 10, 8], "area": 80, "iscrowd": 0},
        {"id": 2, "image_id": 7, "category_id": 1, "bbox": [4, 4, 6, 6], "area": 36, "iscrowd": 1},  # crowd: dropped
        {"id": 3, "image_id": 7, "category_id": 1, "bbox": [4, 4, 0.5, 6], "area": 3, "iscrowd": 0},  # w < 1: dropped
    ]
    write("train2017", images, anns)
    write("val2017", images[:1], anns[:1])
    ds = load_coco_detection(tmp_path, image_size=16)
    assert ds.class_names == ["person", "car"] and ds.num_classes == 2
    assert ds.boxes_per_image().tolist() == [1, 0], "image 9 has no box and stays in the pool at no cost"
    np.testing.assert_allclose(ds.y_train[0]["boxes"][0].numpy(), [1, 1, 6, 5])  # scaled by 16/32
    assert ds.y_train[0]["labels"].tolist() == [1]


@pytest.mark.parametrize("loader, name", [(load_voc_detection, "voc"), (load_coco_detection, "coco")])
def test_missing_dataset_is_the_usual_clear_error(tmp_path, loader, name):
    with pytest.raises(DatasetNotFoundError) as err:
        loader(tmp_path)
    assert err.value.dataset == name and "did not find" in str(err.value) and "download" in str(err.value)


def test_corrupt_voc_annotation_is_named(tmp_path):
    _write_voc(tmp_path)
    (tmp_path / "VOCdevkit/VOC2012/Annotations/a.xml").write_text("<annotation><object>")
    with pytest.raises(CorruptDatasetError, match="a.xml"):
        load_voc_detection(tmp_path, image_size=20)
