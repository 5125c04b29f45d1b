"""Reading a converted object detector: YOLO grid heads into boxes, non-maximum
suppression, and mAP with the COCO tools.

A converted detector's output population is its head's pre-activations (the
accumulated membrane divided by t: `RunResult.outputs`), the same numbers the
ANN's last convolution computes. Everything non-linear that turns them into
boxes (sigmoid, exp, softmax, thresholds, NMS) happens here, in numpy, for the
ANN's output and the SNN's alike.

Head layout (YOLOv2 / Tiny-YOLO): a map of shape (N, A * (5 + K), S_h, S_w) for
A anchors and K classes. For anchor a, channels ``a * (5 + K) + j`` hold, for
j = 0..4, ``tx, ty, tw, th, objectness`` and, for j >= 5, the K class logits. A
cell (row i, column j) of an image of H x W pixels, stride ``H / S_h``,
predicts the box centred at ``((j + sigmoid(tx)) * stride_w, (i + sigmoid(ty)) *
stride_h)`` of size ``(anchor_w * exp(tw), anchor_h * exp(th))`` pixels, with
score ``sigmoid(objectness) * softmax(class logits)[k]`` for class k.

Boxes are ``(x0, y0, x1, y1)`` in pixels, float32; class labels are integers
0..K-1. mAP needs pycocotools (``pip install 'snncore[detection]'``), imported
only by `evaluate`.

>>> res = net.run(x, timesteps=32, checkpoints=[8, 16, 32])         # doctest: +SKIP
>>> head = res.outputs[:, -1].reshape((len(x),) + net.output_shape)  # doctest: +SKIP
>>> dets = detect(head, anchors, num_classes=10, image_size=64)      # doctest: +SKIP
>>> evaluate(dets, ground_truth, num_classes=10, image_size=64)      # doctest: +SKIP
{'map50': 0.91, 'map50_95': 0.62}
"""

import contextlib
import io
import numbers
from typing import NamedTuple

import numpy as np

__all__ = ["Detections", "GroundTruth", "decode", "detect", "nms", "box_iou",
           "coco_ground_truth", "coco_detections", "evaluate", "PYCOCOTOOLS_MISSING"]

# The fields of one anchor's block of channels before the class logits.
BOX_FIELDS = ("tx", "ty", "tw", "th", "objectness")
# tw and th are clipped to this before exp(): a noisy early read-out of a
# spiking network must not overflow to an infinite box.
MAX_LOG_SCALE = 8.0

PYCOCOTOOLS_MISSING = ("mAP is computed with pycocotools' COCOeval, which is not installed "
                       "({err}). Install it with `pip install pycocotools` (or "
                       "`pip install 'snncore[detection]'`).")


class Detections(NamedTuple):
    """The detections of one image.

    boxes : ndarray (M, 4) float32, (x0, y0, x1, y1) in pixels
    scores : ndarray (M,) float32 in [0, 1], decreasing
    classes : ndarray (M,) int64 in 0..K-1
    """
    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


class GroundTruth(NamedTuple):
    """The annotated objects of one image.

    boxes : ndarray (M, 4) float, (x0, y0, x1, y1) in pixels
    classes : ndarray (M,) int64 in 0..K-1
    """
    boxes: np.ndarray
    classes: np.ndarray


# -- checks --------------------------------------------------------------------------

def _image_hw(image_size):
    """(H, W) from an int or a pair of positive integers."""
    pair = (image_size, image_size) if isinstance(image_size, numbers.Integral) else image_size
    try:
        h, w = pair
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be an integer or a pair (H, W), got {image_size!r}")
    for v in (h, w):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"image_size must hold positive integers, got {image_size!r}")
    return int(h), int(w)


def _check_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
            or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return int(num_classes)


def _check_anchors(anchors):
    """anchors as float64 (A, 2) of positive (width, height) in pixels."""
    a = np.asarray(anchors, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2 or len(a) == 0:
        raise ValueError(f"anchors must be a list of (width, height) pairs, shape (A, 2); got "
                         f"shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError("anchors must be positive, finite widths and heights in pixels")
    return a


def _check_head(head, anchors, num_classes, image_hw, grid):
    """head as float64 (N, A, 5 + K, S_h, S_w), and the strides (h, w) in pixels."""
    h = np.asarray(head)
    if h.ndim == 2 and grid is not None:
        gh, gw = _image_hw(grid)
        if h.shape[1] % (gh * gw):
            raise ValueError(f"a flat head of {h.shape[1]} values per image is not a whole "
                             f"number of {gh}x{gw} maps")
        h = h.reshape(len(h), -1, gh, gw)
    if h.ndim != 4:
        raise ValueError(f"head must be (N, A*(5+K), S_h, S_w), or (N, A*(5+K)*S_h*S_w) with "
                         f"grid=, got shape {h.shape}")
    if h.shape[0] == 0:
        raise ValueError("empty batch: the head holds no images")
    if not np.issubdtype(h.dtype, np.floating):
        raise TypeError(f"head must hold floats, not {h.dtype}")
    n_anchors, per_anchor = len(anchors), len(BOX_FIELDS) + num_classes
    if h.shape[1] != n_anchors * per_anchor:
        raise ValueError(f"head has {h.shape[1]} channels; {n_anchors} anchors x (5 + "
                         f"{num_classes} classes) need {n_anchors * per_anchor}")
    if not np.all(np.isfinite(h)):
        raise ValueError("head holds NaN or infinite values")
    sh, sw = h.shape[2:]
    if image_hw[0] % sh or image_hw[1] % sw:
        raise ValueError(f"canvas of {image_hw[0]}x{image_hw[1]} pixels is not a whole number "
                         f"of cells of the {sh}x{sw} grid; the head was made for another "
                         "canvas size")
    h = h.astype(np.float64).reshape(len(h), n_anchors, per_anchor, sh, sw)
    return h, (image_hw[0] // sh, image_hw[1] // sw)


def _check_boxes(boxes, where):
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{where}: boxes must be (M, 4) as (x0, y0, x1, y1), got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError(f"{where}: boxes hold NaN or infinite values")
    if np.any(b[:, 2] < b[:, 0]) or np.any(b[:, 3] < b[:, 1]):
        raise ValueError(f"{where}: a box has x1 < x0 or y1 < y0; boxes are (x0, y0, x1, y1)")
    return b


def _check_labels(classes, count, num_classes, where):
    c = np.asarray(classes)
    if c.shape != (count,):
        raise ValueError(f"{where}: {count} boxes but classes of shape {c.shape}")
    if count and not np.issubdtype(c.dtype, np.integer):
        raise TypeError(f"{where}: classes must be integers, not {c.dtype}")
    c = c.astype(np.int64)
    if count and (c.min() < 0 or c.max() >= num_classes):
        bad = int(c[(c < 0) | (c >= num_classes)][0])
        raise ValueError(f"{where}: class label {bad} is out of range 0..{num_classes - 1}")
    return c


# -- decoding --------------------------------------------------------------------------

def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))     # the same function, never overflows


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def decode(head, anchors, num_classes, image_size, grid=None):
    """Every cell's and anchor's box, objectness and class probabilities.

    Parameters
    ----------
    head : ndarray (N, A*(5+K), S_h, S_w), float; or (N, A*(5+K)*S_h*S_w) with grid=
        The head's pre-activations (the ANN's last conv, or `RunResult.outputs`
        at one checkpoint; flat outputs are in CHW order).
    anchors : array-like (A, 2)
        Anchor (width, height) in pixels, in the head's anchor order.
    num_classes : int
    image_size : int or (H, W)
        The canvas the head was computed on; must be a whole number of cells.
    grid : int or (S_h, S_w), optional
        The grid of a flat head.

    Returns
    -------
    boxes : ndarray (N, A*S_h*S_w, 4), float32, (x0, y0, x1, y1) clipped to the image
    objectness : ndarray (N, A*S_h*S_w), float32 in (0, 1)
    class_probs : ndarray (N, A*S_h*S_w, K), float32, each row summing to 1
        Boxes are ordered by anchor, then row, then column.

    Raises
    ------
    ValueError
        Wrong head shape or channel count for the anchors and classes, an
        empty batch, non-finite values, or a canvas that is not a whole number
        of cells of the head's grid.
    """
    k = _check_classes(num_classes)
    a = _check_anchors(anchors)
    hw = _image_hw(image_size)
    h, (stride_h, stride_w) = _check_head(head, a, k, hw, grid)
    n, n_anchors, _, sh, sw = h.shape
    rows = np.arange(sh, dtype=np.float64)[:, None]
    cols = np.arange(sw, dtype=np.float64)[None, :]
    cx = (cols + _sigmoid(h[:, :, 0])) * stride_w
    cy = (rows + _sigmoid(h[:, :, 1])) * stride_h
    bw = a[None, :, 0, None, None] * np.exp(np.clip(h[:, :, 2], -MAX_LOG_SCALE, MAX_LOG_SCALE))
    bh = a[None, :, 1, None, None] * np.exp(np.clip(h[:, :, 3], -MAX_LOG_SCALE, MAX_LOG_SCALE))
    boxes = np.stack([np.clip(cx - bw / 2, 0, hw[1]), np.clip(cy - bh / 2, 0, hw[0]),
                      np.clip(cx + bw / 2, 0, hw[1]), np.clip(cy + bh / 2, 0, hw[0])], axis=-1)
    objectness = _sigmoid(h[:, :, 4])
    probs = _softmax(h[:, :, 5:], axis=2)                        # (N, A, K, S_h, S_w)
    count = n_anchors * sh * sw
    return (boxes.reshape(n, count, 4).astype(np.float32),
            objectness.reshape(n, count).astype(np.float32),
            probs.transpose(0, 1, 3, 4, 2).reshape(n, count, k).astype(np.float32))


def box_iou(a, b):
    """Intersection over union of every box of `a` with every box of `b`.

    a : (M, 4), b : (P, 4) as (x0, y0, x1, y1). Returns float64 (M, P); a pair
    of empty boxes has IoU 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes, scores, iou_threshold=0.5):
    """Greedy non-maximum suppression: the indices of the boxes kept.

    Boxes are visited by decreasing score (ties: lower index first); a box is
    dropped when its IoU with a box already kept is greater than
    `iou_threshold`.

    boxes : (M, 4) (x0, y0, x1, y1); scores : (M,).
    Returns int64 (M_kept,), by decreasing score.
    """
    b = _check_boxes(boxes, "nms")
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (len(b),):
        raise ValueError(f"nms: {len(b)} boxes but scores of shape {s.shape}")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold!r}")
    order = np.argsort(-s, kind="stable")
    iou = box_iou(b[order], b[order])
    alive = np.ones(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if alive[i]:
            keep.append(order[i])
            alive[i + 1:] &= iou[i, i + 1:] <= iou_threshold
    return np.asarray(keep, dtype=np.int64)


def detect(head, anchors, num_classes, image_size, score_threshold=0.01, iou_threshold=0.5,
           max_detections=100, grid=None):
    """Decoded, thresholded, class-wise non-maximum-suppressed detections.

    Each box is scored for each class (objectness x class probability); pairs
    above `score_threshold` go through NMS class by class; the
    `max_detections` best remain (COCO's evaluation reads at most 100 per
    image). Parameters as `decode`.

    Returns
    -------
    list of Detections, one per image, by decreasing score.
    """
    boxes, objectness, probs = decode(head, anchors, num_classes, image_size, grid)
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold!r}")
    if isinstance(max_detections, bool) or not isinstance(max_detections, numbers.Integral) \
            or max_detections < 1:
        raise ValueError(f"max_detections must be a positive integer, got {max_detections!r}")
    return [_detect_one(b, o[:, None] * p, score_threshold, iou_threshold, max_detections)
            for b, o, p in zip(boxes, objectness, probs)]


def _detect_one(boxes, class_scores, score_threshold, iou_threshold, max_detections):
    """Detections of one image from boxes (B, 4) and scores per class (B, K)."""
    kept_boxes, kept_scores, kept_classes = [], [], []
    for c in range(class_scores.shape[1]):
        idx = np.flatnonzero(class_scores[:, c] > score_threshold)
        if len(idx) == 0:
            continue
        keep = idx[nms(boxes[idx], class_scores[idx, c], iou_threshold)]
        kept_boxes.append(boxes[keep])
        kept_scores.append(class_scores[keep, c])
        kept_classes.append(np.full(len(keep), c, dtype=np.int64))
    if not kept_boxes:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros(0, np.int64))
    boxes = np.concatenate(kept_boxes)
    scores = np.concatenate(kept_scores)
    classes = np.concatenate(kept_classes)
    best = np.argsort(-scores, kind="stable")[:max_detections]
    return Detections(boxes[best].astype(np.float32), scores[best].astype(np.float32),
                      classes[best])


# -- COCO format and mAP -----------------------------------------------------------------

def _xywh(boxes):
    """(M, 4) x0, y0, x1, y1 -> list of [x, y, w, h] floats (COCO's bbox)."""
    b = np.asarray(boxes, dtype=np.float64)
    return [[float(x0), float(y0), float(x1 - x0), float(y1 - y0)] for x0, y0, x1, y1 in b]


def coco_ground_truth(ground_truth, num_classes, image_size):
    """The annotations in COCO's format, as a dict ready for pycocotools' COCO.

    Image ids are 1..N in the list's order, category ids 1..K for classes
    0..K-1 (named "class k").

    Raises ValueError for an empty list, labels out of 0..K-1, malformed boxes
    or boxes outside the canvas."""
    k = _check_classes(num_classes)
    h, w = _image_hw(image_size)
    if len(ground_truth) == 0:
        raise ValueError("empty batch: no ground-truth images")
    images, annotations = [], []
    for i, gt in enumerate(ground_truth):
        where = f"ground truth of image {i}"
        boxes = _check_boxes(gt.boxes, where)
        classes = _check_labels(gt.classes, len(boxes), k, where)
        if len(boxes) and (boxes.min() < 0 or np.any(boxes[:, [2, 3]] > [w, h])):
            raise ValueError(f"{where}: a box lies outside the {h}x{w} canvas")
        images.append({"id": i + 1, "width": w, "height": h})
        for box, c in zip(_xywh(boxes), classes):
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "category_id": int(c) + 1, "bbox": box,
                                "area": box[2] * box[3], "iscrowd": 0})
    categories = [{"id": c + 1, "name": f"class {c}"} for c in range(k)]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_detections(detections, num_classes):
    """Detections as COCO's result list: dicts of image_id (1..N), category_id
    (1..K), bbox [x, y, w, h] and score."""
    k = _check_classes(num_classes)
    out = []
    for i, det in enumerate(detections):
        where = f"detections of image {i}"
        boxes = _check_boxes(det.boxes, where)
        classes = _check_labels(det.classes, len(boxes), k, where)
        scores = np.asarray(det.scores, dtype=np.float64)
        if scores.shape != (len(boxes),):
            raise ValueError(f"{where}: {len(boxes)} boxes but scores of shape {scores.shape}")
        for box, c, s in zip(_xywh(boxes), classes, scores):
            out.append({"image_id": i + 1, "category_id": int(c) + 1, "bbox": box,
                        "score": float(s)})
    return out


def _pycocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as e:
        raise ImportError(PYCOCOTOOLS_MISSING.format(err=e)) from e
    return COCO, COCOeval


def evaluate(detections, ground_truth, num_classes, image_size):
    """mAP at IoU 0.5 and averaged over IoU 0.5:0.95, by pycocotools' COCOeval.

    Parameters
    ----------
    detections : list of Detections, one per image
    ground_truth : list of GroundTruth, one per image, in the same order
    num_classes : int
    image_size : int or (H, W)

    Returns
    -------
    dict with "map50" and "map50_95", floats in [0, 1] (COCOeval's stats[1]
    and stats[0]: area "all", at most 100 detections per image). With no
    detection at all both are 0.

    Raises
    ------
    ValueError
        An empty batch, a different number of images in the two lists,
        no ground-truth box at all, labels out of range or malformed boxes.
    ImportError
        pycocotools is not installed (the message says how to install it).
    """
    if len(detections) != len(ground_truth):
        raise ValueError(f"{len(detections)} images of detections but {len(ground_truth)} of "
                         "ground truth")
    gt_dict = coco_ground_truth(ground_truth, num_classes, image_size)
    if not gt_dict["annotations"]:
        raise ValueError("the ground truth holds no box: mAP is undefined")
    results = coco_detections(detections, num_classes)
    COCO, COCOeval = _pycocotools()
    if not results:
        return {"map50": 0.0, "map50_95": 0.0}
    # pycocotools prints its progress and summary table; the numbers are in stats
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # -1 marks a category without ground truth; stats already skip those
    return {"map50": max(0.0, float(ev.stats[1])), "map50_95": max(0.0, float(ev.stats[0]))}
