"""The detection task of bench/detection_study.py: Fashion-MNIST items on cluttered canvases.

Each canvas is a CANVAS x CANVAS grey image holding 1 to 4 Fashion-MNIST items,
each resized to a random size (SCALE pixels per side of its 28x28 frame, the
aspect ratio varied by up to ASPECT) and placed at a random position; two
items may overlap up to MAX_OVERLAP IoU of their boxes. Behind them lie
CLUTTER fragments: random crops of other items, dimmed, so that the detector
must tell whole items from pieces of them. Boxes are the tight boxes of the
resized items' visible pixels; classes are their Fashion-MNIST labels.

Training canvases use only the training split's items (as objects and as
clutter), test canvases only the test split's. Canvas i of a split is drawn
from its own random generator, seeded by (seed, split, i): the first n canvases
are the same whatever the count asked for, and the same on every machine.

    python bench/detection_data.py             # write (or find) the cache, print a summary

The arrays are cached as .npz under $SNNCORE_BENCH_CACHE (default
bench/.cache, which git ignores): about 45 MB for the default sizes; they are
regenerated when missing (about a minute).
"""

import hashlib
import json
import os
import sys
from typing import NamedTuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CANVAS = 64
NUM_CLASSES = 10
CLASS_NAMES = ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
               "sneaker", "bag", "boot")
OBJECTS = (1, 4)              # objects per canvas, inclusive
SCALE = (16, 40)              # side of an item's 28x28 frame on the canvas, pixels
ASPECT = 1.25                 # width / height of the frame varies in [1/ASPECT, ASPECT]
MAX_OVERLAP = 0.3             # largest IoU between two objects' boxes
CLUTTER = (4, 10)             # fragments per canvas, inclusive
FRAGMENT = (5, 12)            # side of a fragment, pixels
FRAGMENT_DIM = (0.25, 0.6)    # a fragment's brightness, fraction of the original
VISIBLE = 32                  # a pixel >= this (of 255) belongs to the item's box
PLACEMENT_TRIES = 50
SIZES = {"train": 10_000, "test": 2_000}
SEED = 2020
SPLIT_CODES = {"train": 0, "test": 1}

CACHE_DIR = os.environ.get("SNNCORE_BENCH_CACHE", os.path.join(HERE, ".cache"))


class Canvases(NamedTuple):
    """A set of canvases and their annotations.

    images : uint8 (N, 1, H, W)
    boxes : float32 (M, 4), (x0, y0, x1, y1) in pixels, every object of every canvas
    classes : int64 (M,) in 0..9
    offsets : int64 (N + 1,): canvas i owns boxes[offsets[i]:offsets[i + 1]]
    """
    images: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    offsets: np.ndarray

    def __len__(self):
        return len(self.images)

    def ground_truth(self, count=None):
        """snncore.detection.GroundTruth of the first `count` canvases (all by default)."""
        from snncore.detection import GroundTruth

        n = len(self) if count is None else count
        return [GroundTruth(self.boxes[a:b], self.classes[a:b])
                for a, b in zip(self.offsets[:n], self.offsets[1:n + 1])]

    def head(self, count):
        """The first `count` canvases (views)."""
        return Canvases(self.images[:count], self.boxes[:self.offsets[count]],
                        self.classes[:self.offsets[count]], self.offsets[:count + 1])

    def floats(self):
        """The images as float32 in [0, 1], (N, 1, H, W)."""
        return self.images.astype(np.float32) / 255


# -- one canvas ------------------------------------------------------------------------

def _interp_matrix(n_out, n_in):
    """(n_out, n_in) linear interpolation weights, pixel centres aligned as
    PyTorch's align_corners=False; rows sum to 1."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


def resize(item, height, width):
    """A 2-D image resized bilinearly to (height, width), float64."""
    return _interp_matrix(height, item.shape[0]) @ item @ _interp_matrix(width, item.shape[1]).T


def _tight_box(patch):
    """(x0, y0, x1, y1) of the pixels >= VISIBLE in `patch`, or None if there are none
    (x1, y1 exclusive: the box covers whole pixels)."""
    rows = np.flatnonzero((patch >= VISIBLE).any(axis=1))
    cols = np.flatnonzero((patch >= VISIBLE).any(axis=0))
    if len(rows) == 0:
        return None
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float64)


def _iou(box, boxes):
    from snncore.detection import box_iou

    return box_iou(box[None], np.asarray(boxes).reshape(-1, 4))[0] if len(boxes) else np.zeros(0)


def _paste(canvas, patch, y, x):
    """canvas[y:, x:] = max(canvas, patch) over the patch's extent (in place)."""
    h, w = patch.shape
    np.maximum(canvas[y:y + h, x:x + w], patch, out=canvas[y:y + h, x:x + w])


def _add_clutter(canvas, items, rng):
    size = canvas.shape[0]
    for _ in range(rng.integers(CLUTTER[0], CLUTTER[1] + 1)):
        item = items[rng.integers(len(items))].astype(np.float64)
        fh, fw = rng.integers(FRAGMENT[0], FRAGMENT[1] + 1, size=2)
        y0, x0 = rng.integers(0, 28 - fh + 1), rng.integers(0, 28 - fw + 1)
        fragment = item[y0:y0 + fh, x0:x0 + fw] * rng.uniform(*FRAGMENT_DIM)
        _paste(canvas, fragment, rng.integers(0, size - fh + 1), rng.integers(0, size - fw + 1))


def _place_object(canvas, item, boxes, rng):
    """Resize `item`, find a place overlapping the objects in `boxes` by at most
    MAX_OVERLAP, paste it; its box, or None when no place was found."""
    size = canvas.shape[0]
    for _ in range(PLACEMENT_TRIES):
        side = rng.uniform(*SCALE)
        aspect = np.exp(rng.uniform(-np.log(ASPECT), np.log(ASPECT)))
        h = int(np.clip(round(side / np.sqrt(aspect)), 8, size))
        w = int(np.clip(round(side * np.sqrt(aspect)), 8, size))
        patch = resize(item.astype(np.float64), h, w)
        box = _tight_box(patch)
        if box is None:
            return None
        y, x = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        box = box + [x, y, x, y]
        if np.all(_iou(box, boxes) <= MAX_OVERLAP):
            _paste(canvas, patch, y, x)
            return box
    return None


def make_canvas(items, labels, rng, size=CANVAS):
    """One canvas: (uint8 (size, size), float32 boxes (M, 4), int64 classes (M,))."""
    canvas = np.zeros((size, size))
    _add_clutter(canvas, items, rng)
    boxes, classes = [], []
    for _ in range(rng.integers(OBJECTS[0], OBJECTS[1] + 1)):
        k = rng.integers(len(items))
        box = _place_object(canvas, items[k], boxes, rng)
        if box is not None:
            boxes.append(box)
            classes.append(int(labels[k]))
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return (image, np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            np.asarray(classes, dtype=np.int64))


def _check_source(items, labels, size):
    items = np.asarray(items)
    if items.ndim == 4 and items.shape[1] == 1:
        items = items[:, 0]
    if items.ndim != 3 or items.shape[1:] != (28, 28) or items.dtype != np.uint8:
        raise ValueError(f"items must be uint8 (N, 28, 28) or (N, 1, 28, 28) images, got "
                         f"{items.dtype} {items.shape}")
    if len(items) == 0:
        raise ValueError("empty batch: no items to place on the canvases")
    labels = np.asarray(labels)
    if labels.shape != (len(items),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape ({len(items)},), got {labels.dtype} "
                         f"{labels.shape}")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        bad = labels[(labels < 0) | (labels >= NUM_CLASSES)][0]
        raise ValueError(f"label {bad} is out of range 0..{NUM_CLASSES - 1}")
    largest = int(np.ceil(SCALE[1] * np.sqrt(ASPECT)))
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < largest \
            or size % 8:
        raise ValueError(f"canvas size must be a multiple of 8 (the detector's stride) of at "
                         f"least {largest} pixels (the largest object), got {size!r}")
    return items, labels


def make_canvases(items, labels, count, seed=SEED, split="train", size=CANVAS):
    """`count` canvases from the items (uint8 (N, 28, 28) or (N, 1, 28, 28)) and
    their labels (int, 0..9); canvas i is drawn from a generator seeded by
    (seed, split, i). Returns Canvases.

    Raises ValueError for an empty item set, labels out of range, a canvas
    size that is not a multiple of 8 or too small for the objects, or a
    count below 1."""
    items, labels = _check_source(items, labels, size)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    images = np.zeros((count, 1, size, size), dtype=np.uint8)
    boxes, classes, offsets = [], [], [0]
    for i in range(count):
        rng = np.random.default_rng([seed, SPLIT_CODES[split], i])
        images[i, 0], b, c = make_canvas(items, labels, rng, size)
        boxes.append(b)
        classes.append(c)
        offsets.append(offsets[-1] + len(b))
    return Canvases(images, np.concatenate(boxes), np.concatenate(classes),
                    np.asarray(offsets, dtype=np.int64))


# -- the cached data set ------------------------------------------------------------------

def settings():
    """Every constant that shapes the data (the cache key)."""
    return {"canvas": CANVAS, "objects": OBJECTS, "scale": SCALE, "aspect": ASPECT,
            "max_overlap": MAX_OVERLAP, "clutter": CLUTTER, "fragment": FRAGMENT,
            "fragment_dim": FRAGMENT_DIM, "visible": VISIBLE, "tries": PLACEMENT_TRIES,
            "seed": SEED, "version": 1}


def cache_path(split, count):
    key = hashlib.sha256(json.dumps([settings(), split, count]).encode()).hexdigest()[:12]
    return os.path.join(CACHE_DIR, f"detection_{split}_{count}_{key}.npz")


def load(split, count=None, log=None):
    """The cached canvases of `split` ('train' or 'test'; SIZES[split] of them by
    default), generated from Fashion-MNIST and written to the cache when missing.

    Raises FileNotFoundError (saying how to install it) without Fashion-MNIST."""
    from datasets import fashion_mnist

    if split not in SIZES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    count = SIZES[split] if count is None else count
    path = cache_path(split, count)
    if os.path.exists(path):
        with np.load(path) as f:
            return Canvases(f["images"], f["boxes"], f["classes"], f["offsets"])
    items, labels = fashion_mnist(split)
    if log:
        log(f"detection data: generating {count:,} {split} canvases -> {path}")
    data = make_canvases(items, labels, count, SEED, split)
    os.makedirs(CACHE_DIR, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **data._asdict())
    os.replace(tmp, path)
    return data


def summary(data):
    """A dict describing a set of canvases (counts, box sizes)."""
    per = np.diff(data.offsets)
    wh = data.boxes[:, 2:] - data.boxes[:, :2]
    return {"canvases": len(data), "objects": int(len(data.boxes)),
            "objects_per_canvas": {int(k): int((per == k).sum()) for k in np.unique(per)},
            "box_side_px": [float(wh.min()), float(np.median(wh)), float(wh.max())],
            "class_counts": np.bincount(data.classes, minlength=NUM_CLASSES).tolist()}


def main():
    for split in SIZES:
        data = load(split, log=print)
        print(split, json.dumps(summary(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
