"""bench/rounds.py: the alternating rounds that the peer and kernel-set
comparisons (and the speed suite's ratios) are timed in."""

import numpy as np
import pytest

import rounds


def _recorder(log, name):
    def run(xs):
        log.append((name, len(xs)))
    return run


def test_alternate_reverses_the_order_every_other_round():
    log = []
    x = np.zeros((4, 3), np.float32)
    rates = rounds.alternate({"a": _recorder(log, "a"), "b": _recorder(log, "b")}, x, 2, 3)
    # calls of 2 images: a a b b | b b a a | a a b b
    assert [name for name, _ in log] == list("aabbbbaaaabb")
    assert all(n == 2 for _, n in log)
    assert sorted(rates) == ["a", "b"] and all(len(v) == 3 and min(v) > 0
                                               for v in rates.values())


def test_alternate_takes_images_per_side():
    log = []
    x = {"a": np.zeros((5, 3), np.float32), "b": np.zeros((2, 3), np.float32)}
    rounds.alternate({"a": _recorder(log, "a"), "b": _recorder(log, "b")}, x, 1, 2)
    assert [name for name, _ in log] == list("aaaaabb") + list("bbaaaaa")


def test_ratio_summary_is_per_round():
    assert rounds.ratio_summary([10.0, 30.0, 20.0], [1.0, 2.0, 4.0]) == pytest.approx(
        (10.0, 5.0, 15.0))
