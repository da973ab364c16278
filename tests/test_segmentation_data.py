"""Segmentation data: the embedded digit scenes (seeded, pinned by a checksum, masks and boxes of the
same digits), SegmentationDataset's checks, and Cityscapes read through torchvision from tiny files
written here in the real folder layout."""

import numpy as np
import pytest
import torch

import altoolkit as alt
from altoolkit.data import CorruptDatasetError, DatasetNotFoundError, SegmentationDataset, load_cityscapes, load_dataset
from altoolkit.data.scenes import MASK_THRESHOLD, digit_scene_splits, generate_scenes, glyph_resize
from altoolkit.data.segmentation import IGNORE_INDEX, cityscapes_train_ids

# sha256 of images, masks, boxes and labels of generate_scenes(n=12, seed=0) with the defaults
SCENES_SEED0_SHA256 = "03b6a4e6b4b49b8b95eb248b2b331588285969b1d16206abaaf768cc9a4d8658"


def test_scenes_checksum_is_pinned_for_a_seed():
    scenes = generate_scenes(12, seed=0)
    assert scenes.checksum() == SCENES_SEED0_SHA256


def test_scenes_are_deterministic_and_seeded():
    a, b, c = generate_scenes(6, seed=3), generate_scenes(6, seed=3), generate_scenes(6, seed=4)
    assert a.checksum() == b.checksum() != c.checksum()
    assert a.images.dtype == np.uint8 and a.images.shape == (6, 48, 48) and a.masks.shape == (6, 48, 48)


def test_masks_and_boxes_describe_the_same_digits():
    scenes = generate_scenes(30, seed=1)
    counts = scenes.boxes_per_scene()
    assert counts.min() >= 1 and counts.max() <= 4 and len(set(counts.tolist())) > 1  # cost varies per scene
    for mask, boxes, labels in zip(scenes.masks, scenes.boxes, scenes.labels):
        covered = np.zeros_like(mask, dtype=bool)
        for (x0, y0, x1, y1), digit in zip(boxes.astype(int), labels):
            inside = mask[y0:y1, x0:x1]
            assert (inside == 1 + digit).any()
            # tight: every edge row/column of the box holds a pixel of that digit
            on = inside == 1 + digit
            assert on[0].any() and on[-1].any() and on[:, 0].any() and on[:, -1].any()
            covered[y0:y1, x0:x1] |= on
        assert np.array_equal(covered, mask > 0)  # no mask pixel outside the boxes
        for i in range(len(boxes)):  # digits never overlap
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_mask_is_the_thresholded_glyph():
    from sklearn.datasets import load_digits

    scenes = generate_scenes(5, seed=2, clutter=0, noise=0.0)
    glyphs = load_digits().images / 16.0
    for mask, boxes, labels, sources in zip(scenes.masks, scenes.boxes, scenes.labels, scenes.sources):
        for box, digit, src in zip(boxes.astype(int), labels, sources):
            region = mask[box[1] : box[3], box[0] : box[2]] == 1 + digit
            assert region.sum() > 0
            side = max(box[2] - box[0], box[3] - box[1])
            # the placed glyph's side is between 14 and 20; its thresholded pixel count matches one of them
            counts = [int((glyph_resize(glyphs[src], s) > MASK_THRESHOLD * glyph_resize(glyphs[src], s).max()).sum()) for s in range(14, 21)]
            assert int(region.sum()) in counts and side <= 20


def test_glyph_resize_is_bilinear_with_half_pixel_centres():
    g = np.array([[0.0, 1.0], [2.0, 3.0]])
    ref = torch.nn.functional.interpolate(torch.tensor(g)[None, None], size=(5, 5), mode="bilinear", align_corners=False)[0, 0].numpy()
    assert np.allclose(glyph_resize(g, 5), ref)


def test_train_and_test_scenes_use_disjoint_digits():
    train, test = digit_scene_splits(0, n_train=40, n_test=20)
    seen = set(np.concatenate(train.sources).tolist())
    assert seen and not seen & set(np.concatenate(test.sources).tolist())


def test_load_digit_scenes_is_a_segmentation_dataset():
    ds = load_dataset("digit_scenes", seed=0, root="ignored", download=False, n_train=20, n_test=10)
    assert isinstance(ds, SegmentationDataset) and ds.num_classes == 11 and ds.class_names[0] == "background"
    assert ds.x_train.dtype == torch.uint8 and ds.y_train.dtype == torch.uint8 and ds.input_shape == (1, 48, 48)
    assert ds.to_input(ds.x_train[:2]).dtype == torch.float32
    assert ds.pixel_class_counts().sum() == 20 * 48 * 48
    assert len(ds.extras["train_scenes"]) == 20  # the same scenes' boxes, for detection


@pytest.mark.parametrize(
    "change, message",
    [
        ({"y_train": torch.zeros(4, 8, 7, dtype=torch.uint8)}, "masks"),
        ({"y_train": torch.full((4, 8, 8), 5, dtype=torch.uint8)}, "holds value 5"),
        ({"y_train": torch.zeros(4, 8, 8)}, "integer"),
        ({"num_classes": 256}, "num_classes"),
        ({"ignore_index": 1}, "ignore_index"),
        ({"class_names": ["a"]}, "class_names"),
    ],
)
def test_segmentation_dataset_rejects_bad_input(change, message):
    x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    kw = dict(
        name="toy", x_train=x, y_train=torch.zeros(4, 8, 8, dtype=torch.uint8), x_test=x[:2], y_test=torch.zeros(2, 8, 8, dtype=torch.uint8), num_classes=3
    )
    kw.update(change)
    with pytest.raises((ValueError, TypeError), match=message):
        SegmentationDataset(**kw)


def test_segmentation_dataset_accepts_the_ignore_value():
    x = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    y = torch.full((2, 4, 4), IGNORE_INDEX, dtype=torch.uint8)
    assert SegmentationDataset("toy", x, y, x, y, num_classes=3).pixel_class_counts().sum() == 0


# --------------------------------------------------------------------------- Cityscapes


def write_cityscapes(root, cities=None, size=(40, 24)):
    """Tiny Cityscapes files in the real layout: leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    and gtFine/<split>/<city>/..._gtFine_labelIds.png (label ids 0..33)."""
    from PIL import Image

    cities = cities or {"train": {"aachen": 2, "bremen": 1}, "val": {"lindau": 1}}
    rng = np.random.default_rng(0)
    written = {}
    for split, per_city in cities.items():
        for city, n in per_city.items():
            for k in range(n):
                stem = f"{city}_{k:06d}_000019"
                img_dir = root / "cityscapes" / "leftImg8bit" / split / city
                gt_dir = root / "cityscapes" / "gtFine" / split / city
                img_dir.mkdir(parents=True, exist_ok=True)
                gt_dir.mkdir(parents=True, exist_ok=True)
                w, h = size
                rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
                ids = rng.choice(np.array([0, 7, 8, 11, 24, 26, 33], dtype=np.uint8), size=(h, w))
                Image.fromarray(rgb).save(img_dir / f"{stem}_leftImg8bit.png")
                Image.fromarray(ids).save(gt_dir / f"{stem}_gtFine_labelIds.png")
                written[(split, stem)] = (rgb, ids)
    return written


def test_cityscapes_train_ids_follow_torchvision():
    table = cityscapes_train_ids()
    assert table[7] == 0 and table[8] == 1 and table[26] == 13 and table[33] == 18  # road, sidewalk, car, bicycle
    assert table[0] == IGNORE_INDEX and table[1] == IGNORE_INDEX and (table < 19).sum() == 19


def test_cityscapes_reads_the_real_layout_in_sorted_order(tmp_path):
    written = write_cityscapes(tmp_path)
    ds = load_cityscapes(root=tmp_path, crop=None)
    assert ds.n_train == 3 and ds.n_test == 1 and ds.num_classes == 19 and ds.input_shape == (3, 24, 40)
    rgb, ids = written[("train", "aachen_000000_000019")]  # sorted: aachen_0, aachen_1, bremen_0
    assert torch.equal(ds.x_train[0], torch.from_numpy(rgb).permute(2, 0, 1))
    assert torch.equal(ds.y_train[0], torch.from_numpy(cityscapes_train_ids()[ids]))
    rgb_b, _ = written[("train", "bremen_000000_000019")]
    assert torch.equal(ds.x_train[2], torch.from_numpy(rgb_b).permute(2, 0, 1))
    assert set(ds.y_train.unique().tolist()) <= {0, 1, 2, 11, 13, 18, IGNORE_INDEX}


def test_cityscapes_centre_crop_and_scale(tmp_path):
    written = write_cityscapes(tmp_path)
    rgb, ids = written[("train", "aachen_000000_000019")]
    ds = load_cityscapes(root=tmp_path, crop=16)
    assert ds.input_shape == (3, 16, 16)
    left, top = 12, 4  # round((40 - 16) / 2), round((24 - 16) / 2)
    assert torch.equal(ds.x_train[0], torch.from_numpy(rgb[top : top + 16, left : left + 16]).permute(2, 0, 1))
    small = load_cityscapes(root=tmp_path, scale=0.5, crop=None, max_train=1, max_test=1)
    assert small.input_shape == (3, 12, 20) and small.n_train == 1
    # masks are resized by nearest neighbour: every value is still a train id or ignore
    assert set(small.y_train.unique().tolist()) <= set(cityscapes_train_ids().tolist())


def test_cityscapes_missing_is_the_same_clear_error(tmp_path):
    root = tmp_path / "nothing_here"
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("cityscapes", root=root, download=False)
    err = info.value
    message = str(err)
    assert isinstance(err, FileNotFoundError) and err.dataset == "cityscapes"
    assert f"looked in {root / 'cityscapes'}" in message and "leftImg8bit" in message and "gtFine_labelIds.png" in message
    assert "cityscapes-dataset.com" in message and "leftImg8bit/train" in err.missing
    assert not root.exists()
    with pytest.raises(DatasetNotFoundError, match="cannot be downloaded automatically"):
        load_cityscapes(root=root, download=True)


def test_cityscapes_missing_label_file_is_named(tmp_path):
    write_cityscapes(tmp_path)
    victim = tmp_path / "cityscapes" / "gtFine" / "train" / "bremen" / "bremen_000000_000019_gtFine_labelIds.png"
    victim.unlink()
    with pytest.raises(CorruptDatasetError, match="bremen_000000_000019_gtFine_labelIds.png"):
        load_cityscapes(root=tmp_path, crop=None)


def test_cityscapes_truncated_image_is_named(tmp_path):
    write_cityscapes(tmp_path)
    victim = tmp_path / "cityscapes" / "leftImg8bit" / "val" / "lindau" / "lindau_000000_000019_leftImg8bit.png"
    victim.write_bytes(victim.read_bytes()[:40])
    with pytest.raises(CorruptDatasetError, match="lindau_000000_000019_leftImg8bit.png"):
        load_cityscapes(root=tmp_path, crop=None)


def test_cityscapes_crop_larger_than_the_image_is_refused(tmp_path):
    write_cityscapes(tmp_path)
    with pytest.raises(ValueError, match="crop"):
        load_cityscapes(root=tmp_path, crop=688)


def test_top_level_exports():
    assert alt.load_digit_scenes is alt.data.load_digit_scenes and alt.SegmentationDataset is SegmentationDataset
