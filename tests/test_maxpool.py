"""maxpool2d, the spiking max pool: its meaning on hand-made spike trains, and
the engine against the reference simulator, across kernel sets and teams, on a
network with real-valued weights (the property tests of netgen use dyadic ones)."""

import numpy as np
import pytest

import reference
import snncore
from snncore._core import E_GRAPH, E_INVALID_ARG, E_SHAPE
from snncore.errors import FormatError


def _bias_net(rates, kernel, stride=None, padding=0, ceil_mode=False, gain=None):
    """An if population of one channel, H x W = rates.shape, whose neurons fire at
    `rates` (thresholds 1, constant bias currents; the input is not connected;
    signed neurons where a rate is negative) -maxpool2d-> out (accumulate): out
    reads the pooled spikes per step."""
    rates = np.asarray(rates, np.float32)
    shape = (1,) + rates.shape
    b = snncore.NetworkBuilder((1, 1, 1))
    signed = {"signed": True, "threshold_neg": 1.0} if (rates < 0).any() else {}
    b.population("src", shape, threshold=1.0, bias=rates.reshape(shape), **signed)
    out = snncore.maxpool2d_shape(shape, kernel, stride, padding, ceil_mode)
    b.population("out", out, kind="accumulate")
    b.maxpool2d("pool", "src", "out", kernel, stride, padding, ceil_mode, gain=gain)
    return b.build("out")


def test_output_counts_follow_the_largest_count_of_each_window():
    # rates 1/2, 1/4, 3/4, 1/8 in a row; windows of 2 with stride 1
    net = _bias_net([[0.5, 0.25, 0.75, 0.125]], (1, 2), stride=1)
    res = net.run(np.zeros((1, 1, 1, 1), np.float32), timesteps=64, checkpoints=[8, 64])
    # the largest count of each window, per step: max of the rates (exact here:
    # every rate is a multiple of 1/8)
    np.testing.assert_array_equal(res.outputs[0, -1], [0.5, 0.75, 0.75])
    np.testing.assert_array_equal(res.outputs[0, 0], [0.5, 0.75, 0.75])


def test_signed_counts_pool_to_the_largest_net_count():
    # a window of negative rates passes the least negative one on, as spikes of -1
    net = _bias_net([[0.5, -0.25, -0.75, -0.125]], (1, 2), stride=1)
    res = net.run(np.zeros((1, 1, 1, 1), np.float32), timesteps=64, checkpoints=[8, 64])
    np.testing.assert_array_equal(res.outputs[0, -1], [0.5, -0.25, -0.125])
    np.testing.assert_array_equal(res.outputs[0, 0], [0.5, -0.25, -0.125])


def _falling_net(quiet_neighbour):
    """A signed neuron s whose net count goes 0, -1 (step 2), 0 (step 4), then up
    by one every 4 steps (a periodic kick of 3 from an IF population `a` against
    a bias of -0.5), pooled alone or with a neighbour that never fires."""
    w = 2 if quiet_neighbour else 1
    b = snncore.NetworkBuilder((1, 1, 1))
    b.population("a", (1, 1, w), threshold=1.0, bias=np.array([[[0.25] + [0.0] * (w - 1)]],
                                                                 np.float32))
    b.population("s", (1, 1, w), threshold=1.0, signed=True, threshold_neg=1.0,
                 bias=np.array([[[-0.5] + [0.0] * (w - 1)]], np.float32))
    b.identity("kick", "a", "s", np.array([3.0], np.float32))
    b.population("out", (1, 1, 1), kind="accumulate")
    b.maxpool2d("pool", "s", "out", (1, w))
    return b.build("out")


@pytest.mark.parametrize("quiet_neighbour", [False, True])
def test_largest_count_falls_and_rises_with_a_signed_neuron(quiet_neighbour):
    net = _falling_net(quiet_neighbour)
    x = np.zeros((1, 1, 1, 1), np.float32)
    steps = list(range(1, 13))
    res = net.run(x, 12, checkpoints=steps)
    count = [0, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 2]     # s's net count after each step
    pooled = np.maximum(count, 0) if quiet_neighbour else np.array(count)
    # the pool delivers the changes of the largest count, so the accumulated
    # output (decoded as membrane / t) is that count itself
    np.testing.assert_allclose(res.outputs[0, :, 0] * steps, pooled, atol=1e-5)
    ref = reference.simulate(net._spec, x, 12, checkpoints=steps)
    np.testing.assert_array_equal(res.spikes.raw, ref["spikes"])
    np.testing.assert_array_equal(res.synaptic_ops.raw, ref["synops"])


def test_gain_scales_each_channel_and_padding_never_wins():
    b = snncore.NetworkBuilder((1, 1, 1))
    b.population("src", (2, 2, 2), threshold=1.0,
                 bias=np.array([0.5, 0.25], np.float32))        # per channel
    b.population("out", (2, 2, 2), kind="accumulate")
    b.maxpool2d("pool", "src", "out", 3, stride=1, padding=1, gain=np.array([2.0, 0.5], np.float32))
    net = b.build("out")
    res = net.run(np.zeros((1, 1, 1, 1), np.float32), timesteps=32)
    np.testing.assert_array_equal(res.outputs[0, -1].reshape(2, 4), [[1.0] * 4, [0.125] * 4])


def test_ceil_mode_adds_the_partial_last_window():
    rates = np.array([[0.25, 0.5, 0.75, 1.0, 0.125]], np.float32)   # 1 x 5
    floor = _bias_net(rates, (1, 2), stride=2)
    ceil = _bias_net(rates, (1, 2), stride=2, ceil_mode=True)
    x = np.zeros((1, 1, 1, 1), np.float32)
    assert floor.populations[-1].shape == (1, 1, 2)
    assert ceil.populations[-1].shape == (1, 1, 3)
    np.testing.assert_array_equal(floor.run(x, 16).outputs[0, -1], [0.5, 1.0])
    np.testing.assert_array_equal(ceil.run(x, 16).outputs[0, -1], [0.5, 1.0, 0.125])


def _stem(rng, channels=20, size=15, signed=False):
    """A torchvision-like stem with real-valued weights: conv-IF-maxpool(3, 2, 1)
    into a relay, a ceil-mode maxpool beside it, both into an IF junction; with
    `signed`, the conv's neurons are signed (a leaky-ReLU detector's layout) and
    the pooled relay feeds a nested max pool."""
    b = snncore.NetworkBuilder((3, size, size))
    neg = {"signed": True, "threshold_neg": rng.uniform(0.5, 1.5, channels).astype(np.float32)}
    b.population("c", (channels, size, size),
                 threshold=rng.uniform(0.5, 1.5, channels).astype(np.float32),
                 **(neg if signed else {}))
    b.conv2d("c", "input", "c", rng.normal(0, 0.4, (channels, 3, 3, 3)).astype(np.float32),
             padding=1)
    half = snncore.maxpool2d_shape((channels, size, size), 3, 2, 1)
    b.population("m", half, kind="relay")
    b.maxpool2d("m", "c", "m", 3, 2, 1,
                gain=rng.uniform(0.5, 2.0, channels).astype(np.float32))
    b.population("n", snncore.maxpool2d_shape((channels, size, size), 2, 2, 0, True),
                 kind="relay")
    b.maxpool2d("n", "c", "n", 2, 2, 0, ceil_mode=True)
    b.population("h", (8,) + half[1:], threshold=1.0)
    b.conv2d("hm", "m", "h", rng.normal(0, 0.2, (8, channels, 3, 3)).astype(np.float32),
             padding=1)
    b.conv2d("hn", "n", "h", rng.normal(0, 0.2, (8, channels, 1, 1)).astype(np.float32))
    if signed:
        b.population("mm", half, kind="relay")
        b.maxpool2d("mm", "m", "mm", 3, 1, 1)
        b.conv2d("hmm", "mm", "h", rng.normal(0, 0.2, (8, channels, 1, 1)).astype(np.float32))
    b.population("out", (5,), kind="accumulate")
    b.dense("out", "h", "out", rng.normal(0, 0.1, (5, 8 * half[1] * half[2])).astype(np.float32))
    return b.build("out")


# Channel counts that take every block of the pool kernel under each kernel set
# (4, 2, 1 and half vectors, and single channels; scatter_kernels.h). The
# reference's convolutions sum in scipy's order, not the engine's, which can move
# a spike of a wide conv by one: the widest net is held to the generic kernels.
CHANNELS = [20, 40, 91]


@pytest.mark.parametrize("channels", CHANNELS[:2])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("encoding", ["analog", "poisson"])
def test_stem_matches_reference(encoding, signed, channels):
    rng = np.random.default_rng(3)
    net = _stem(rng, channels=channels, signed=signed)
    x = rng.uniform(0, 1, (2, 3, 15, 15)).astype(np.float32)
    res = net.run(x, 24, encoding=encoding, checkpoints=[5, 24], seed=9, threads=1)
    ref = reference.simulate(net._spec, x, 24, encoding=encoding, seed=9, checkpoints=[5, 24])
    np.testing.assert_array_equal(res.spikes.raw, ref["spikes"])
    np.testing.assert_array_equal(res.synaptic_ops.raw, ref["synops"])
    np.testing.assert_allclose(res.outputs, ref["output"], rtol=1e-5, atol=1e-5)
    assert res.spikes.raw[:, -1, 2:4].min() > 0       # the pools passed spikes on


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("signed", [False, True])
def test_stem_bits_do_not_depend_on_kernels_or_teams(tmp_path, monkeypatch, signed, channels):
    rng = np.random.default_rng(4)
    _stem(rng, channels=channels, signed=signed).save(tmp_path / "stem.npz")
    x = rng.uniform(0, 1, (3, 3, 15, 15)).astype(np.float32)
    monkeypatch.setenv("SNNCORE_ISA", "generic")
    base = snncore.load(tmp_path / "stem.npz").run(x, 20, threads=1)
    for isa in snncore._core.ISAS[1:]:
        monkeypatch.setenv("SNNCORE_ISA", isa)
        net = snncore.load(tmp_path / "stem.npz")
        try:
            assert net.isa == isa
        except FormatError as e:            # this CPU lacks the kernel set
            assert "requested, but this CPU" in str(e)
            continue
        for threads in (1, 2, 3):
            other = net.run(x, 20, threads=threads, team="always")
            assert other.outputs.tobytes() == base.outputs.tobytes(), (isa, threads)
            np.testing.assert_array_equal(other.synaptic_ops.raw, base.synaptic_ops.raw)


def test_sources_that_do_not_spike_in_counts_are_refused():
    for bias in (None, np.float32(0.5)):     # a relay fed by no pool; a pool's relay with a bias
        b = snncore.NetworkBuilder((1, 4, 4))
        b.population("src", (1, 4, 4), kind="relay", bias=bias)
        b.identity("feed", "input", "src")
        b.population("out", (1, 2, 2), kind="accumulate")
        b.maxpool2d("pool", "src", "out", 2)
        with pytest.raises(FormatError, match="maxpool2d pools spike counts") as e:
            b.build("out")
        assert e.value.status == E_GRAPH and e.value.projection == 1


@pytest.mark.parametrize("gain", [0.0, -1.0])
def test_gains_that_would_flip_or_drop_the_counts_are_refused(gain):
    b = snncore.NetworkBuilder((1, 4, 4))
    b.population("src", (2, 4, 4))
    b.conv2d("feed", "input", "src", np.ones((2, 1, 1, 1), np.float32))
    b.population("out", (2, 2, 2), kind="accumulate")
    b.maxpool2d("pool", "src", "out", 2, gain=np.array([1.0, gain], np.float32))
    with pytest.raises(FormatError, match=r"weight must be > 0, found .* at index 1") as e:
        b.build("out")
    assert e.value.projection == 1


def test_target_shape_follows_ceil_mode():
    b = snncore.NetworkBuilder((1, 5, 5))
    b.population("src", (1, 5, 5))
    b.identity("feed", "input", "src")
    b.population("out", (1, 2, 2), kind="accumulate")
    b.maxpool2d("pool", "src", "out", 2, ceil_mode=True)
    with pytest.raises(FormatError, match=r"not the maxpool2d output \(1, 3, 3\)") as e:
        b.build("out")
    assert e.value.status == E_SHAPE


def test_only_maxpool_takes_ceil_mode():
    b = snncore.NetworkBuilder((1, 4, 4))
    b.population("out", (1, 2, 2), kind="accumulate")
    b.avgpool2d("pool", "input", "out", 2)
    spec = b.build("out")._spec
    spec["projections"][0]["ceil_mode"] = True
    with pytest.raises(snncore._core.CoreError, match="avgpool2d takes no ceil_mode") as e:
        snncore._core.check(spec)
    assert e.value.status == E_INVALID_ARG


def test_round_trip_keeps_ceil_mode(tmp_path):
    net = _stem(np.random.default_rng(5))
    net.save(tmp_path / "stem.npz")
    again = snncore.load(tmp_path / "stem.npz")
    modes = [q.get("ceil_mode", False) for q in again._spec["projections"]]
    assert modes == [False, False, True, False, False, False]
    x = np.random.default_rng(6).uniform(0, 1, (1, 3, 15, 15)).astype(np.float32)
    assert again.run(x, 8).outputs.tobytes() == net.run(x, 8).outputs.tobytes()
