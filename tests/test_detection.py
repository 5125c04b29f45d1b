"""snncore.detection on hand-made cases: grid decoding, NMS, COCO format and mAP,
and the errors for bad input."""

import sys

import numpy as np
import pytest

from snncore.detection import (Detections, GroundTruth, box_iou, coco_ground_truth, decode,
                               detect, evaluate, nms)

ANCHORS = [(8.0, 16.0), (20.0, 10.0)]
K = 3                      # classes
S = 4                      # grid
CANVAS = 32                # stride 8
PER = 5 + K


def empty_head(n=1, fill=-20.0):
    """A head with every objectness far below zero (no box) and zeros elsewhere."""
    h = np.zeros((n, len(ANCHORS) * PER, S, S), np.float32)
    h[:, 4::PER] = fill
    return h


def channel(anchor, field):
    return anchor * PER + field


# -- decoding ----------------------------------------------------------------------------

def test_a_zero_cell_predicts_its_anchor_centred_in_the_cell():
    h = empty_head()
    boxes, obj, probs = decode(h, ANCHORS, K, CANVAS)
    assert boxes.shape == (1, 2 * S * S, 4) and obj.shape == (1, 32) and probs.shape == (1, 32, K)
    # anchor 1, row 2, column 3: centre (3.5 * 8, 2.5 * 8) = (28, 20), size 20 x 10
    i = 1 * S * S + 2 * S + 3
    np.testing.assert_allclose(boxes[0, i], [18, 15, 32, 25])   # x1 = 38 clipped to 32
    np.testing.assert_allclose(probs[0, i], [1 / 3] * 3, rtol=1e-6)


def test_offsets_sizes_objectness_and_classes_decode_as_yolo():
    h = empty_head()
    a, row, col = 0, 1, 2
    h[0, channel(a, 0), row, col] = np.log(3.0)          # sigmoid = 0.75
    h[0, channel(a, 1), row, col] = -np.log(3.0)         # sigmoid = 0.25
    h[0, channel(a, 2), row, col] = np.log(0.5)          # width 8 * 0.5 = 4
    h[0, channel(a, 3), row, col] = np.log(1.5)          # height 16 * 1.5 = 24
    h[0, channel(a, 4), row, col] = 0.0                  # objectness 0.5
    h[0, channel(a, 5) + 1, row, col] = np.log(2.0)      # class logits (0, log 2, 0)
    boxes, obj, probs = decode(h, ANCHORS, K, CANVAS)
    i = a * S * S + row * S + col
    cx, cy = (col + 0.75) * 8, (row + 0.25) * 8        # (22, 10)
    np.testing.assert_allclose(boxes[0, i], [cx - 2, 0, cx + 2, cy + 12], rtol=1e-6)
    assert obj[0, i] == pytest.approx(0.5)
    np.testing.assert_allclose(probs[0, i], [0.25, 0.5, 0.25], rtol=1e-6)


def test_a_flat_head_in_chw_order_decodes_like_the_map():
    h = np.random.default_rng(0).normal(size=(2, len(ANCHORS) * PER, S, S)).astype(np.float32)
    for a, b in zip(decode(h, ANCHORS, K, CANVAS),
                    decode(h.reshape(2, -1), ANCHORS, K, CANVAS, grid=S)):
        np.testing.assert_array_equal(a, b)


def test_huge_sizes_do_not_overflow():
    h = empty_head()
    h[0, channel(0, 2)] = 1e6
    boxes, _, _ = decode(h, ANCHORS, K, CANVAS)
    assert np.all(np.isfinite(boxes)) and boxes.max() <= CANVAS


# -- NMS ----------------------------------------------------------------------------------

def test_box_iou_by_hand():
    a = [[0, 0, 10, 10]]
    b = [[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10], [3, 3, 3, 3]]
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0, 1, 0]])


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]]
    scores = [0.9, 0.8, 0.85, 0.3]
    # box 1 overlaps box 0 by 81/119 = 0.68, box 3 by 0.9
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [0, 2])
    np.testing.assert_array_equal(nms(boxes, scores, 0.7), [0, 2, 1])
    np.testing.assert_array_equal(nms(boxes, scores, 0.95), [0, 2, 1, 3])


def test_nms_breaks_ties_by_index_and_takes_no_boxes():
    np.testing.assert_array_equal(nms([[0, 0, 4, 4], [0, 0, 4, 4]], [0.5, 0.5]), [0])
    assert nms(np.zeros((0, 4)), np.zeros(0)).shape == (0,)


def test_detect_suppresses_within_a_class_only():
    h = empty_head()
    # anchor 0 at cells (1, 1) and (1, 2) and anchor 1 at (1, 1): overlapping boxes
    for a, row, col, cls in ((0, 1, 1, 0), (0, 1, 2, 0), (1, 1, 1, 2)):
        h[0, channel(a, 4), row, col] = 5.0 if (row, col) == (1, 1) else 3.0
        h[0, channel(a, 5) + cls, row, col] = 10.0
    h[0, channel(0, 2), 1, 1:3] = np.log(3.0)            # wide enough to overlap
    (det,) = detect(h, ANCHORS, K, CANVAS, score_threshold=0.5, iou_threshold=0.3)
    assert sorted(det.classes.tolist()) == [0, 2]        # (1, 2) class 0 suppressed by (1, 1)
    assert np.all(np.diff(det.scores) <= 0)
    (det,) = detect(h, ANCHORS, K, CANVAS, score_threshold=0.5, iou_threshold=0.9)
    assert sorted(det.classes.tolist()) == [0, 0, 2]
    (det,) = detect(h, ANCHORS, K, CANVAS, score_threshold=0.5, max_detections=1)
    assert len(det.boxes) == 1


def test_no_box_above_the_threshold_gives_empty_detections():
    (det,) = detect(empty_head(), ANCHORS, K, CANVAS)
    assert det.boxes.shape == (0, 4) and det.scores.shape == (0,) and det.classes.dtype == np.int64


# -- COCO and mAP ---------------------------------------------------------------------------

def gt(boxes, classes):
    return GroundTruth(np.asarray(boxes, np.float32), np.asarray(classes, np.int64))


def dets(boxes, scores, classes):
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4),
                      np.asarray(scores, np.float32), np.asarray(classes, np.int64))


TRUTH = [gt([[2, 2, 12, 12]], [1]), gt([[0, 0, 10, 20], [15, 15, 30, 30]], [0, 2])]


def test_coco_ground_truth_is_coco_shaped():
    d = coco_ground_truth(TRUTH, K, CANVAS)
    assert [i["id"] for i in d["images"]] == [1, 2]
    assert [c["id"] for c in d["categories"]] == [1, 2, 3]
    assert d["annotations"][1] == {"id": 2, "image_id": 2, "category_id": 1,
                                   "bbox": [0.0, 0.0, 10.0, 20.0], "area": 200.0, "iscrowd": 0}


def test_map_of_perfect_partly_shifted_and_missing_detections():
    pytest.importorskip("pycocotools")
    perfect = [dets(t.boxes, [0.9] * len(t.boxes), t.classes) for t in TRUTH]
    assert evaluate(perfect, TRUTH, K, CANVAS) == pytest.approx({"map50": 1.0, "map50_95": 1.0})
    # image 0's box cut to 62% of its height: IoU 0.62 counts at IoU 0.5, 0.55, 0.6 only
    shifted = [dets([[2, 2, 12, 8.2]], [0.9], [1])] + perfect[1:]
    r = evaluate(shifted, TRUTH, K, CANVAS)
    assert r["map50"] == pytest.approx(1.0)
    assert r["map50_95"] == pytest.approx((1 + 1 + 0.3) / 3)     # classes 0 and 2 stay perfect
    # class 2 never detected: its AP is 0, the others 1
    missing = perfect[:1] + [dets(TRUTH[1].boxes[:1], [0.9], [0])]
    assert evaluate(missing, TRUTH, K, CANVAS)["map50"] == pytest.approx(2 / 3)
    nothing = [dets(np.zeros((0, 4)), [], []) for _ in TRUTH]
    assert evaluate(nothing, TRUTH, K, CANVAS) == {"map50": 0.0, "map50_95": 0.0}


def test_a_false_positive_above_the_true_one_lowers_precision():
    pytest.importorskip("pycocotools")
    truth = [gt([[0, 0, 10, 10]], [0]), gt([[0, 0, 10, 10]], [0])]
    found = [dets([[0, 0, 10, 10]], [0.5], [0]), dets([[20, 20, 30, 30], [0, 0, 10, 10]],
                                                      [0.9, 0.4], [0, 0])]
    # ranked: FP (0.9), TP (0.5), TP (0.4): precision 1/2 at recall 1/2 and 2/3 at recall 1
    r = evaluate(found, truth, 1, CANVAS)
    assert r["map50"] == pytest.approx(2 / 3, abs=0.01)


# -- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("head, grid, message", [
    (np.zeros((0, 2 * PER, S, S), np.float32), None, "empty batch"),
    (np.zeros((1, 2 * PER + 1, S, S), np.float32), None, "channels"),
    (np.zeros((1, 2 * PER, S)), None, "shape"),
    (np.zeros((1, 2 * PER * S * S)), 3, "whole number"),
    (np.full((1, 2 * PER, S, S), np.nan), None, "NaN"),
])
def test_bad_heads_are_refused(head, grid, message):
    with pytest.raises(ValueError, match=message):
        decode(head, ANCHORS, K, CANVAS, grid=grid)


@pytest.mark.parametrize("size", [30, (32, 30), 0, "64"])
def test_a_canvas_that_does_not_fit_the_grid_is_refused(size):
    with pytest.raises(ValueError, match="canvas|image_size"):
        decode(empty_head(), ANCHORS, K, size)


def test_bad_anchors_and_classes_are_refused():
    with pytest.raises(ValueError, match="anchors"):
        decode(empty_head(), [(8, 0), (1, 1)], K, CANVAS)
    with pytest.raises(ValueError, match="num_classes"):
        decode(empty_head(), ANCHORS, 0, CANVAS)


@pytest.mark.parametrize("truth, message", [
    ([gt([[0, 0, 5, 5]], [3])], "class label 3 is out of range 0..2"),
    ([gt([[0, 0, 5, 5]], [-1])], "class label -1"),
    ([gt([[5, 0, 0, 5]], [0])], "x1 < x0"),
    ([gt([[0, 0, 40, 5]], [0])], "outside"),
    ([gt([[0, 0, 5, 5]], [0, 1])], "classes of shape"),
    ([], "empty batch"),
])
def test_bad_ground_truth_is_refused(truth, message):
    with pytest.raises(ValueError, match=message):
        coco_ground_truth(truth, K, CANVAS)


def test_evaluate_refuses_mismatched_lists_and_labels_out_of_range():
    with pytest.raises(ValueError, match="1 images of detections but 2"):
        evaluate([dets([], [], [])], TRUTH, K, CANVAS)
    bad = [dets([[0, 0, 4, 4]], [0.5], [K]), dets([], [], [])]
    with pytest.raises(ValueError, match="out of range"):
        evaluate(bad, TRUTH, K, CANVAS)
    with pytest.raises(ValueError, match="no box"):
        evaluate([dets([], [], [])], [gt(np.zeros((0, 4)), [])], K, CANVAS)


def test_without_pycocotools_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    monkeypatch.setitem(sys.modules, "pycocotools.coco", None)
    with pytest.raises(ImportError, match="pip install pycocotools"):
        evaluate([dets([], [], []), dets([], [], [])], TRUTH, K, CANVAS)
