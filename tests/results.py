"""Comparing two RunResults in tests."""

import numpy as np


def assert_same_result(a, b):
    """The two RunResults are identical: checkpoints, outputs and every counter,
    bit for bit, with the same population and projection names."""
    np.testing.assert_array_equal(a.checkpoints, b.checkpoints)
    np.testing.assert_array_equal(a.outputs, b.outputs)
    np.testing.assert_array_equal(a.spikes.raw, b.spikes.raw)
    np.testing.assert_array_equal(a.synaptic_ops.raw, b.synaptic_ops.raw)
    assert a.spikes.names == b.spikes.names
    assert a.synaptic_ops.names == b.synaptic_ops.names
