"""Delayed read-out (readout_start) and the avgpool2d gain, through the Python API."""

import io

import numpy as np
import pytest

import snncore
from npzfile import read_npz
from snncore._npz import write_npz


def _net(readout_start=1):
    b = snncore.NetworkBuilder((2, 2, 2))
    b.population("out", (2, 1, 1), kind="accumulate", bias=np.array([0.0, 1.0], np.float32))
    b.avgpool2d("pool", "input", "out", 2, gain=np.array([2.0, 0.25], np.float32))
    return b.build("out", readout_start=readout_start)


X = np.array([[[[1, 1], [1, 1]], [[0.5, 0.5], [0.5, 0.5]]]], np.float32)


def test_pool_gain_scales_each_channel():
    np.testing.assert_array_equal(_net().run(X, 4).output, [[2.0, 1.125]])


def test_delayed_readout_zero_before_and_mean_after():
    res = _net().run(X, 6, checkpoints=[1, 2, 3, 6], readout_start=3)
    np.testing.assert_array_equal(res.outputs[0, :, 0], [0, 0, 2, 2])
    assert res.readout_start == 3


def test_file_hint_is_the_default_and_round_trips():
    net = _net(readout_start=4)
    assert net.readout_start == 4
    buf = io.BytesIO()
    net.save(buf)
    buf.seek(0)
    meta, _ = read_npz(io.BytesIO(buf.getvalue()))
    assert meta["readout"] == {"start": 4}
    loaded = snncore.load(io.BytesIO(buf.getvalue()))
    assert loaded.readout_start == 4
    res = loaded.run(X, 8, checkpoints=[3, 4])
    np.testing.assert_array_equal(res.outputs[0, :, 0], [0, 2, 2])
    # a run shorter than the hint reads out its last step only
    assert loaded.run(X, 2).readout_start == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3", True])
def test_bad_readout_hint_in_file(bad):
    meta, arrays = _net()._to_file()
    meta["readout"] = {"start": bad}
    buf = io.BytesIO()
    write_npz(buf, meta, arrays)
    with pytest.raises(snncore.FormatError, match="readout"):
        snncore.load(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize("bad, error", [(0, ValueError), (9, ValueError), (2.0, TypeError)])
def test_bad_readout_start_in_run(bad, error):
    with pytest.raises(error, match="readout_start"):
        _net().run(X, 8, readout_start=bad)


def test_pool_gain_wrong_shape_is_refused():
    meta, arrays = _net()._to_file()
    arrays["pool.weight"] = np.ones(3, np.float32)
    with pytest.raises(snncore.FormatError, match="pool.*one gain per channel"):
        snncore.Network(meta, arrays)
