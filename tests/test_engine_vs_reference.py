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


@pytest.mark.parametrize("channels,width", [(64, 45), (70, 33), (16, 70)])
def test_wide_rows_and_channel_blocks_match_reference(channels, width):
    """Output rows wider than the conv gather's chunk of 32 pixels, channel
    counts that fill its register blocks (64) with and without a remainder, a
    stride-2 conv after it and a 2x2 pool folded into the threshold pass."""
    import snncore

    rng = np.random.default_rng(channels + width)

    def dyadic_array(shape, denom=8):
        return (rng.integers(-8, 8, size=shape, endpoint=True) / denom).astype(np.float32)

    b = snncore.NetworkBuilder((2, 6, width))
    b.population("a", (channels, 6, width), kind="if", threshold=1.0, v_init=0.5)
    b.conv2d("c1", "input", "a", dyadic_array((channels, 2, 3, 3)), padding=(1, 1))
    b.population("p", (channels, 3, width // 2), kind="relay")
    b.avgpool2d("avg", "a", "p", (2, 2), (2, 2), (0, 0))
    shape = snncore.conv2d_shape((channels, 3, width // 2), (5, channels, 3, 3), (2, 2), (1, 1))
    b.population("b", shape, kind="if", threshold=0.5, reset="zero")
    b.conv2d("c2", "p", "b", dyadic_array((5, channels, 3, 3), 16), stride=(2, 2), padding=(1, 1))
    b.population("out", (4,), kind="accumulate")
    b.dense("fc", "b", "out", dyadic_array((4, int(np.prod(shape)))))
    net = b.build("out")
    x = (rng.integers(0, 8, size=(2, 2, 6, width)) / 8).astype(np.float32)
    for encoding in ("analog", "poisson"):
        res, ref = _compare(net, x, 12, encoding, [3, 12], seed=5)
        np.testing.assert_array_equal(res.outputs, ref["output"])
        assert res.spikes.raw[:, -1, 1].min() > 0 and res.spikes.raw[:, -1, 3].min() > 0


@pytest.mark.parametrize("signed,reset,channels",
                         [(False, "subtract", 32), (True, "subtract", 16), (True, "zero", 20),
                          (False, "zero", 3)])
def test_population_running_ahead_matches_reference_at_every_step(signed, reset, channels):
    """A population fed by the analog input alone and read by its folded pool
    alone runs blocks of steps at once (the engine's snn_ahead): counters read
    at every step, inside and across blocks, T not a multiple of the block,
    signed and unsigned, both resets, vector blocks and scalar channels, on one
    thread and on a team of two sharing the image."""
    import snncore

    rng = np.random.default_rng(channels)
    b = snncore.NetworkBuilder((1, 8, 10))
    b.population("a", (channels, 8, 10), kind="if", threshold=0.75, reset=reset,
                 signed=signed, threshold_neg=0.5 if signed else None,
                 bias=(rng.integers(-4, 4, size=channels) / 16).astype(np.float32))
    b.conv2d("c1", "input", "a",
             (rng.integers(-8, 8, size=(channels, 1, 3, 3)) / 8).astype(np.float32),
             padding=(1, 1))
    b.population("p", (channels, 4, 5), kind="relay")
    b.avgpool2d("avg", "a", "p", (2, 2), (2, 2), (0, 0))
    b.population("out", (3,), kind="accumulate")
    b.dense("fc", "p", "out", (rng.integers(-8, 8, size=(3, channels * 20)) / 8).astype(np.float32))
    net = b.build("out")
    x = (rng.integers(0, 8, size=(3, 1, 8, 10)) / 8).astype(np.float32)
    steps = list(range(1, 20))
    res, ref = _compare(net, x, 19, "analog", steps, seed=0)
    assert res.spikes.raw[:, -1, 1].min() > 0
    team = net.run(x[:1], 19, encoding="analog", checkpoints=steps, threads=2)
    np.testing.assert_array_equal(team.outputs, ref["output"][:1])
    np.testing.assert_array_equal(team.spikes.raw, ref["spikes"][:1])
    np.testing.assert_array_equal(team.synaptic_ops.raw, ref["synops"][:1])


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("channels", [72, 120, 24])
@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_four_row_conv_gather_matches_reference_alone_and_in_teams(threads, channels, isa,
                                                                    monkeypatch):
    """A stride-1 3x3 conv goes four output rows at a time where all their
    kernel rows are inside the image (the engine's gather_quad: blocks of 64,
    then 32 and 16 output channels with AVX-512, of 16 with AVX2 in convs of at
    most 32), the border rows and the last channels row by row. With 72
    channels (64 plus 8), 120 (64, 32, 16 and 8) and 24 (16 plus 8), one image
    on 1, 2 and 3 threads (bands of 12, 6 and 4 rows) gives the reference's
    bits under every kernel set the CPU has."""
    import snncore

    monkeypatch.setenv("SNNCORE_ISA", isa)
    rng = np.random.default_rng(threads)
    b = snncore.NetworkBuilder((3, 12, 9))
    b.population("a", (channels, 12, 9), kind="if", threshold=0.75, v_init=0.25)
    b.conv2d("c1", "input", "a",
             (rng.integers(-8, 8, size=(channels, 3, 3, 3)) / 8).astype(np.float32),
             padding=(1, 1))
    b.population("h", (channels, 12, 9), kind="if", threshold=1.0)
    b.conv2d("c2", "a", "h",
             (rng.integers(-8, 8, size=(channels, channels, 3, 3)) / 16).astype(np.float32),
             padding=(1, 1))
    b.population("out", (4,), kind="accumulate")
    b.dense("fc", "h", "out",
            (rng.integers(-8, 8, size=(4, channels * 12 * 9)) / 8).astype(np.float32))
    net = b.build("out")
    try:
        assert net.isa == isa
    except snncore.FormatError as e:    # the kernels this CPU lacks are refused by name
        assert "has no" in str(e)
        pytest.skip(f"this CPU has no {isa} kernels")
    x = (rng.integers(0, 8, size=(1, 3, 12, 9)) / 8).astype(np.float32)
    res = net.run(x, 10, encoding="analog", checkpoints=[3, 10], threads=threads)
    ref = reference.simulate(net._spec, x, 10, encoding="analog", checkpoints=[3, 10])
    np.testing.assert_array_equal(res.outputs, ref["output"])
    np.testing.assert_array_equal(res.spikes.raw, ref["spikes"])
    np.testing.assert_array_equal(res.synaptic_ops.raw, ref["synops"])
    assert res.spikes.raw[0, -1, 1] > 0 and res.spikes.raw[0, -1, 2] > 0
