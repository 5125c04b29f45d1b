"""The converter on grouped and depthwise convolutions: the MobileNet-style
network of tests/models.py (depthwise 3x3 - BN - ReLU6 - pointwise, twice, the
second depthwise with a channel multiplier of 2) tracks its ANN under the
data-based, per-channel and model-based thresholds; and the per-input-channel
arithmetic of assemble.py (units and bounds) follows PyTorch's grouped weight
layout."""

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import models  # noqa: E402
from snncore.convert import from_torch  # noqa: E402
from snncore.convert.assemble import Assembler, _Pop, _per_weight_column, _term  # noqa: E402

nn = torch.nn


@functools.lru_cache(maxsize=None)
def _ann():
    _, _, x_test, y_test = models.digits()
    pred = models.logits(models.trained("mobile"), x_test).argmax(1)
    return pred, float((pred == y_test).mean())


@functools.lru_cache(maxsize=None)
def _run(norm):
    x_train, _, x_test, y_test = models.digits()
    net = from_torch(models.trained("mobile"), x_train[:500], norm=norm)
    res = net.run(x_test, 512, checkpoints=[64])
    return net, res, y_test


def test_mobile_block_is_a_fair_subject():
    assert _ann()[1] > 0.90


@pytest.mark.parametrize("norm,at_64", [("percentile", 0.97), ("channel", 0.97),
                                        ("model", 0.95)])
def test_mobile_block_tracks_its_ann(norm, at_64):
    """>= 99 % agreement with the ANN at T=512 (as the other digits networks):
    per-layer, per-channel (units per input channel through the depthwise
    layers) and model-based (weight bounds) thresholds."""
    net, res, y_test = _run(norm)
    kinds = {q.name: q.op for q in net.projections}
    groups = [p["groups"] for p in net.describe()["projections"] if p["op"] == "conv2d"]
    assert groups == [1, 16, 1, 24, 1] and "conv2d" in kinds.values()
    ann_pred, ann_acc = _ann()
    agree = (res.predictions == ann_pred).mean()
    assert agree >= 0.99, (norm, agree)
    assert abs((res.predictions == y_test).mean() - ann_acc) <= 0.01
    assert (res.outputs[:, 0].argmax(1) == ann_pred).mean() >= at_64


def test_per_weight_column_follows_pytorchs_grouped_layout():
    """Entry [o, j] is the input channel that weight column j of output o reads,
    as F.conv2d with groups reads it."""
    co, ci, groups = 12, 6, 3
    weight = np.zeros((co, ci // groups, 1, 1))
    per_channel = np.arange(ci) * 10.0
    got = _per_weight_column(per_channel, weight, groups)[:, :, 0, 0]
    for o in range(co):
        for j in range(ci // groups):
            # probe: a one-hot input channel c reaches output o through column j iff c is it
            x = torch.zeros(1, ci, 1, 1)
            w = torch.zeros(co, ci // groups, 1, 1)
            w[o, j] = 1.0
            c = int(got[o, j] / 10)
            x[0, c] = 1.0
            assert torch.nn.functional.conv2d(x, w, groups=groups)[0, o, 0, 0] == 1.0
    assert np.array_equal(_per_weight_column(per_channel, np.zeros((4, 6, 1, 1)), 1)[:, :, 0, 0],
                          np.broadcast_to(per_channel, (4, 6)))


def test_grouped_weights_scale_and_bound_by_their_own_input_channels():
    """A depthwise conv with multiplier 2 after a source whose unit and bound
    differ per channel: output o's weights scale by channel o // 2's unit, and
    its bound sums its own channel's bound."""
    unit, bound = np.array([1.0, 2.0, 4.0]), np.array([0.5, 1.0, 3.0])
    src = _Pop("s", (3, 4, 4), unit, bound)
    weight = np.arange(1, 55, dtype=np.float64).reshape(6, 1, 3, 3) - 20.0
    term = _term("conv2d", src, "c", weight=weight, padding=(1, 1), groups=3)
    scaled = Assembler._projection_weight(None, term)
    for o in range(6):
        np.testing.assert_allclose(scaled[o], weight[o] * unit[o // 2], rtol=1e-6)
    np.testing.assert_allclose(Assembler._term_bound(term),
                               [np.maximum(weight[o], 0).sum() * bound[o // 2] for o in range(6)])
