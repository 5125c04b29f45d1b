"""The detection study's parts in seconds (no timing kept): the canvas generator is
deterministic and refuses bad input; the study runs end to end on a few canvases
with the committed detector and report.py renders its section."""

import json
import os

import numpy as np
import pytest

import detection_data

ITEMS_SEED = 5
# the one row the smoke run converts: the cheapest (no LTB, no bias calibration)
SMOKE_ROW = "channel-wise, signed (Spiking-YOLO)"


def synthetic_items(n=20):
    """uint8 (n, 28, 28) blobs standing in for Fashion-MNIST items, labels 0..9."""
    rng = np.random.default_rng(ITEMS_SEED)
    items = np.zeros((n, 28, 28), np.uint8)
    for img in items:
        h, w = rng.integers(8, 26, size=2)
        y, x = rng.integers(0, 28 - h + 1), rng.integers(0, 28 - w + 1)
        img[y:y + h, x:x + w] = rng.integers(60, 256)
    return items, np.arange(n) % detection_data.NUM_CLASSES


def test_the_generator_is_deterministic():
    items, labels = synthetic_items()
    a = detection_data.make_canvases(items, labels, 12, seed=3)
    b = detection_data.make_canvases(items, labels, 12, seed=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    # canvas i depends on (seed, split, i) only: a shorter run is a prefix
    head = detection_data.make_canvases(items, labels, 5, seed=3)
    for x, y in zip(head, a.head(5)):
        np.testing.assert_array_equal(x, y)
    other = detection_data.make_canvases(items, labels, 12, seed=4)
    assert not np.array_equal(other.images, a.images)
    test_split = detection_data.make_canvases(items, labels, 12, seed=3, split="test")
    assert not np.array_equal(test_split.images, a.images)


def test_canvases_hold_one_to_four_boxed_objects():
    items, labels = synthetic_items()
    c = detection_data.make_canvases(items, labels, 30, seed=0)
    per = np.diff(c.offsets)
    assert c.images.shape == (30, 1, 64, 64) and c.images.dtype == np.uint8
    assert per.min() >= 1 and per.max() <= detection_data.OBJECTS[1]
    assert c.boxes.min() >= 0 and c.boxes.max() <= 64
    assert np.all(c.boxes[:, 2:] > c.boxes[:, :2])
    assert set(c.classes.tolist()) <= set(range(10))
    assert len(c.ground_truth()) == 30 and len(c.ground_truth(3)) == 3


@pytest.mark.parametrize("change, message", [
    (dict(size=60), "multiple of 8"),
    (dict(size=40), "at least"),
    (dict(items=np.zeros((0, 28, 28), np.uint8), labels=np.zeros(0, np.int64)), "empty batch"),
    (dict(labels=np.full(20, 10)), "label 10 is out of range 0..9"),
    (dict(labels=np.full(20, -1)), "label -1"),
    (dict(items=np.zeros((20, 32, 32), np.uint8)), "28, 28"),
    (dict(count=0), "count"),
])
def test_bad_input_gets_a_clear_error(change, message):
    items, labels = synthetic_items()
    args = dict(items=items, labels=labels, count=4, size=64)
    args.update(change)
    with pytest.raises(ValueError, match=message):
        detection_data.make_canvases(args["items"], args["labels"], args["count"],
                                     size=args["size"])


def test_the_study_runs_end_to_end_on_a_few_canvases(fmnist_train, fmnist_test, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("pycocotools")
    pytest.importorskip("matplotlib")
    import detection_model
    import detection_study
    import report

    if detection_model.load() is None:
        pytest.skip("no trained detector: run python bench/detection_model.py")
    to_uint8 = lambda x: np.rint(x * 255).astype(np.uint8)     # noqa: E731 - fixtures are floats
    train = detection_data.make_canvases(to_uint8(fmnist_train[0][:200]), fmnist_train[1][:200],
                                         16, split="train")
    test = detection_data.make_canvases(to_uint8(fmnist_test[0][:200]), fmnist_test[1][:200],
                                        8, split="test")
    out, png = tmp_path / "detection.json", tmp_path / "grid.png"
    doc = detection_study.study(images=8, max_t=16, spikingjelly=False, out=str(out),
                                grid_png=str(png), data=(train, test),
                                only=[SMOKE_ROW], log=lambda *a: None)
    assert json.loads(out.read_text())["rows"][0]["checkpoints"] == [4, 8, 16]
    assert os.path.getsize(png) > 0
    row = doc["rows"][0]
    assert all(0 <= v <= 1 for v in row["map50"] + row["map50_95"])
    data = report.Data()
    data.single["detection"] = doc
    text = "\n".join(report.detection_section(data, None))
    assert SMOKE_ROW in text and "T to 98%" in text
