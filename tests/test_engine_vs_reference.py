"""The C engine against the dense numpy reference (tests/reference.py), on
random small networks with dyadic values: outputs, spike counts and synaptic
operation counts must agree exactly, at every checkpoint, for all three
encoders."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference
from netgen import networks, run_settings


def _compare(net, x, timesteps, encoding, checkpoints, seed, first_index=0, readout_start=1):
    res = net.run(x, timesteps, encoding=encoding, checkpoints=checkpoints, seed=seed,
                  first_index=first_index, threads=1, readout_start=readout_start)
    ref = reference.simulate(net._spec, x, timesteps, encoding=encoding, seed=seed,
                             checkpoints=list(res.checkpoints), first_index=first_index,
                             readout_start=readout_start)
    np.testing.assert_allclose(res.outputs, ref["output"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(res.spikes.raw, ref["spikes"])
    np.testing.assert_array_equal(res.synaptic_ops.raw, ref["synops"])
    return res, ref


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(data=st.data())
def test_engine_matches_reference(data):
    net, shape = data.draw(networks())
    x, timesteps, encoding, checkpoints, seed, readout_start = data.draw(run_settings(shape))
    res, ref = _compare(net, x, timesteps, encoding, checkpoints, seed,
                        readout_start=readout_start)
    # exact agreement is expected with dyadic values, not merely within tolerance
    np.testing.assert_array_equal(res.outputs, ref["output"])


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_first_index_offsets_the_poisson_streams(data):
    net, shape = data.draw(networks(max_layers=2))
    x, timesteps, _, checkpoints, seed, _ = data.draw(run_settings(shape, ("poisson",)))
    _compare(net, x, timesteps, "poisson", checkpoints, seed, first_index=17)


def test_reference_and_engine_disagree_on_a_changed_network():
    """The comparison is able to fail: a one-ulp threshold change that the
    engine sees and the reference does not must show up."""
    import snncore
    b = snncore.NetworkBuilder((1,))
    b.population("h", (1,), threshold=1.0)
    b.dense("w", "input", "h", np.array([[0.25]], np.float32))
    b.population("out", (1,), kind="accumulate")
    b.dense("r", "h", "out", np.array([[1.0]], np.float32))
    net = b.build("out")
    spec = dict(net._spec)
    spec["populations"] = [dict(p) for p in spec["populations"]]
    spec["populations"][1]["threshold"] = np.array([1.125], np.float32)
    x = np.ones((1, 1), np.float32)
    res = net.run(x, 16)
    ref = reference.simulate(spec, x, 16)
    assert not np.array_equal(res.outputs, ref["output"])
