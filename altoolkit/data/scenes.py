"""Embedded digit scenes: small canvases holding a varying number of upscaled scikit-learn digits,
with per-pixel masks (segmentation) and boxes + labels (detection) of the SAME scenes, no download.

One seeded generator (:func:`generate_scenes`) draws every scene; the segmentation dataset
(:func:`altoolkit.data.segmentation.load_digit_scenes`) and a detection dataset read its masks and
boxes, so a seed gives the same images to both tasks.

How a scene is drawn (all in numpy float64 from one ``numpy.random.Generator``, then quantised to
``uint8``, so the bytes are the same on every machine; ``tests/test_scenes.py`` pins a checksum):

1. a background: a random linear intensity ramp (0 to ``ramp`` across the canvas, random direction);
2. ``k`` digits, ``k`` uniform in ``n_digits`` (inclusive), drawn from the split's share of the 1,797
   scikit-learn digits; each 8x8 glyph (0..16 scaled to [0, 1]) is resized bilinearly to a side
   uniform in ``digit_size`` pixels, given a contrast uniform in [0.55, 1], and placed at a
   uniform position whose box does not intersect an earlier digit's (up to 50 tries; a digit
   that finds no place is left out, so ``k`` is an upper bound);
3. ``clutter`` fragments: a random 3x3 to 5x5 patch of another digit glyph, resized like a digit
   and pasted anywhere that does not touch a digit's box: strokes that look like parts of digits
   but are background, so that "bright pixel" is not the answer;
4. Gaussian pixel noise (std ``noise``), clipped to [0, 1], quantised to 0..255.

The mask of a digit is its glyph's pixels above ``MASK_THRESHOLD`` of the glyph's range (class
``1 + digit``; 0 is background); its box is the tight box ``(x0, y0, x1, y1)`` around those pixels
(``x1``, ``y1`` exclusive: pixel edges, the convention of ``torchvision.ops``), its label the digit.
Digits never overlap, so masks and boxes describe the same objects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..util.checks import check_float, check_int

__all__ = ["DigitScenes", "generate_scenes", "digit_scene_splits", "MASK_THRESHOLD", "SCENE_CLASS_NAMES", "glyph_resize"]

#: A glyph pixel belongs to its digit's mask when its value is above this share of the glyph's maximum.
MASK_THRESHOLD = 0.2
#: Segmentation classes of the scenes: background, then the ten digits (class ``1 + d`` is digit ``d``).
SCENE_CLASS_NAMES: tuple[str, ...] = ("background",) + tuple(str(d) for d in range(10))
_PLACEMENT_TRIES = 50


@dataclass
class DigitScenes:
    """A set of scenes: images, masks, boxes and labels of the same objects.

    Attributes:
        images: ``(N, H, W)`` ``uint8`` grey images.
        masks: ``(N, H, W)`` ``uint8``: 0 background, ``1 + d`` a pixel of digit ``d``.
        boxes: one ``(k_i, 4)`` ``float32`` array per scene, ``(x0, y0, x1, y1)`` in pixels
            (``x1``, ``y1`` exclusive), tight around each digit's mask.
        labels: one ``(k_i,)`` ``int64`` array per scene: the digit (0..9) of each box.
        sources: one ``(k_i,)`` array per scene: the index in ``sklearn.datasets.load_digits``
            of each digit's glyph.
    """

    images: np.ndarray
    masks: np.ndarray
    boxes: list[np.ndarray]
    labels: list[np.ndarray]
    sources: list[np.ndarray]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def boxes_per_scene(self) -> np.ndarray:
        """``(N,)`` number of digits (boxes) in each scene: a detection sample's annotation cost."""
        return np.array([len(b) for b in self.boxes], dtype=np.int64)

    def checksum(self) -> str:
        """SHA-256 over images, masks, boxes and labels (the pinned fingerprint of a seed)."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(np.ascontiguousarray(self.masks).tobytes())
        for b, lab in zip(self.boxes, self.labels):
            h.update(np.ascontiguousarray(b, dtype=np.float32).tobytes())
            h.update(np.ascontiguousarray(lab, dtype=np.int64).tobytes())
        return h.hexdigest()


def glyph_resize(glyph: np.ndarray, side: int) -> np.ndarray:
    """Bilinear resize of a square glyph to ``side x side`` (half-pixel centres, edges clamped),
    in float64 numpy only, so the result is the same on every machine.

    >>> glyph_resize(np.eye(2), 4).shape
    (4, 4)
    """
    n = glyph.shape[0]
    pos = (np.arange(side, dtype=np.float64) + 0.5) * (n / side) - 0.5
    pos = np.clip(pos, 0.0, n - 1.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    w = pos - lo
    rows = glyph[lo, :] * (1.0 - w)[:, None] + glyph[hi, :] * w[:, None]
    return rows[:, lo] * (1.0 - w)[None, :] + rows[:, hi] * w[None, :]


def _free(box: tuple[int, int, int, int], taken: list[tuple[int, int, int, int]], gap: int = 1) -> bool:
    """Whether ``box`` (x0, y0, x1, y1) stays ``gap`` pixels clear of every box in ``taken``."""
    x0, y0, x1, y1 = box
    return all(x1 + gap <= a0 or a1 + gap <= x0 or y1 + gap <= b0 or b1 + gap <= y0 for a0, b0, a1, b1 in taken)


def _place(rng: np.random.Generator, size: int, side: int, taken: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int] | None:
    for _ in range(_PLACEMENT_TRIES):
        x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, size=2))
        box = (x0, y0, x0 + side, y0 + side)
        if _free(box, taken):
            return box
    return None


def _one_scene(rng, glyphs, digits, pool, size, n_digits, digit_size, clutter, noise, ramp):
    """One scene: (image float64 in [0, 1], mask uint8, boxes, labels, sources)."""
    angle = rng.uniform(0.0, 2.0 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / max(1, size - 1)
    canvas = ramp * (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5) + 0.5)
    mask = np.zeros((size, size), dtype=np.uint8)
    slots: list[tuple[int, int, int, int]] = []
    boxes, labels, sources = [], [], []
    for _ in range(int(rng.integers(n_digits[0], n_digits[1] + 1))):
        src = int(pool[rng.integers(0, len(pool))])
        side = int(rng.integers(digit_size[0], digit_size[1] + 1))
        contrast = rng.uniform(0.55, 1.0)
        slot = _place(rng, size, side, slots)
        if slot is None:
            continue
        slots.append(slot)
        x0, y0, x1, y1 = slot
        glyph = glyph_resize(glyphs[src], side)
        on = glyph > MASK_THRESHOLD * glyph.max()
        region = canvas[y0:y1, x0:x1]
        np.maximum(region, contrast * glyph, out=region)
        mask[y0:y1, x0:x1][on] = 1 + int(digits[src])
        ys, xs = np.nonzero(on)
        boxes.append([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1])
        labels.append(int(digits[src]))
        sources.append(src)
    for _ in range(clutter):
        src = int(pool[rng.integers(0, len(pool))])
        ph, pw = (int(v) for v in rng.integers(3, 6, size=2))
        r0, c0 = int(rng.integers(0, 9 - ph)), int(rng.integers(0, 9 - pw))
        patch = glyphs[src][r0 : r0 + ph, c0 : c0 + pw]
        side = int(rng.integers(digit_size[0], digit_size[1] + 1)) * max(ph, pw) // 8
        frag = glyph_resize(np.pad(patch, ((0, max(ph, pw) - ph), (0, max(ph, pw) - pw))), max(3, side))
        slot = _place(rng, size, frag.shape[0], slots)
        if slot is None:
            continue
        x0, y0, x1, y1 = slot
        region = canvas[y0:y1, x0:x1]
        np.maximum(region, rng.uniform(0.55, 1.0) * frag, out=region)
    image = np.clip(canvas + rng.normal(0.0, noise, size=(size, size)), 0.0, 1.0)
    return (
        image,
        mask,
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(labels, dtype=np.int64),
        np.asarray(sources, dtype=np.int64),
    )


def generate_scenes(
    n: int,
    seed: int,
    pool: np.ndarray | None = None,
    *,
    size: int = 48,
    n_digits: tuple[int, int] = (1, 4),
    digit_size: tuple[int, int] = (14, 20),
    clutter: int = 2,
    noise: float = 0.08,
    ramp: float = 0.25,
) -> DigitScenes:
    """``n`` scenes drawn from ``numpy.random.default_rng(seed)`` (see the module docstring).

    Args:
        n: number of scenes.
        seed: the generator's seed; the same arguments give the same bytes.
        pool: indices into ``sklearn.datasets.load_digits()`` the digits are drawn from
            (default: all 1,797).
        size: side of the square canvas in pixels.
        n_digits: fewest and most digits tried per scene (inclusive; a digit that finds no free
            place is left out).
        digit_size: smallest and largest side of a digit in pixels (inclusive).
        clutter: digit fragments pasted as background per scene.
        noise: std of the Gaussian pixel noise (image in [0, 1]).
        ramp: height of the background intensity ramp.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    size = check_int("size", size, 8)
    d_lo, d_hi = (check_int("n_digits", int(v), 1) for v in n_digits)
    if d_lo > d_hi:
        raise ValueError(f"n_digits must be (fewest, most) with fewest <= most, got {tuple(n_digits)}")
    clutter = check_int("clutter", clutter, 0)
    noise = check_float("noise", noise, 0.0)
    ramp = check_float("ramp", ramp, 0.0, 1.0)
    lo, hi = (check_int("digit_size", int(v), 4, size) for v in digit_size)
    if lo > hi:
        raise ValueError(f"digit_size must be (smallest, largest) with smallest <= largest, got {tuple(digit_size)}")
    bunch = _sk_load_digits()
    glyphs = bunch.images.astype(np.float64) / 16.0
    digits = bunch.target.astype(np.int64)
    pool = np.arange(len(digits)) if pool is None else np.asarray(pool, dtype=np.int64)
    if pool.size == 0 or pool.min() < 0 or pool.max() >= len(digits):
        raise ValueError(f"pool must hold indices into the {len(digits)} scikit-learn digits")
    rng = np.random.default_rng(seed)
    parts = [_one_scene(rng, glyphs, digits, pool, size, (d_lo, d_hi), (lo, hi), clutter, noise, ramp) for _ in range(n)]
    images = np.stack([np.floor(p[0] * 255.0 + 0.5).astype(np.uint8) for p in parts])
    return DigitScenes(
        images=images,
        masks=np.stack([p[1] for p in parts]),
        boxes=[p[2] for p in parts],
        labels=[p[3] for p in parts],
        sources=[p[4] for p in parts],
    )


def digit_scene_splits(seed: int = 0, n_train: int = 600, n_test: int = 200, test_fraction: float = 0.25, **scene_options) -> tuple[DigitScenes, DigitScenes]:
    """Train and test scenes for a seed: the 1,797 digits are split (stratified, fixed by ``seed``,
    :func:`altoolkit.data.datasets.stratified_split`) so that test scenes hold digits never seen in
    training, then each split's scenes are drawn with its own derived seed.

    ``scene_options`` go to :func:`generate_scenes` (``size``, ``n_digits``, ``digit_size``,
    ``clutter``, ``noise``, ``ramp``).
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    from .datasets import stratified_split

    seed = check_int("seed", seed, 0)
    train_idx, test_idx = stratified_split(_sk_load_digits().target, test_fraction, seed)
    ss = np.random.SeedSequence([seed, 0x5CE2E])
    train_seed, test_seed = (int(s) for s in ss.generate_state(2, dtype=np.uint32))
    train = generate_scenes(check_int("n_train", n_train, 1), train_seed, train_idx, **scene_options)
    test = generate_scenes(check_int("n_test", n_test, 1), test_seed, test_idx, **scene_options)
    return train, test
