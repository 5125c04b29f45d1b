"""The generic, AVX2 and AVX-512 kernels give bit-identical results (every path
of the load-time dispatch that the CPU has is exercised)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snncore
from netgen import networks, run_settings


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


FLAGS = _cpu_flags()
# what the engine picks with SNNCORE_ISA=auto, widest first
AUTO = "avx512" if {"avx2", "avx512f"} <= FLAGS else "avx2" if "avx2" in FLAGS else "generic"


def _run(engine, net, x, timesteps, encoding, checkpoints, seed):
    n = len(x)
    cps = np.array(sorted(set(checkpoints) | {timesteps}), np.int32)
    out = np.empty((n, len(cps) * engine.output_size), np.float32)
    spikes = np.empty((n, len(cps) * engine.n_populations), np.int64)
    synops = np.empty((n, len(cps) * engine.n_projections), np.int64)
    engine.run(np.ascontiguousarray(x.reshape(n, -1)), timesteps, encoding, 1.0, seed, cps, 0, 1,
               out, spikes, synops)
    return out, spikes, synops


@pytest.mark.parametrize("isa,flag", [("avx2", "avx2"), ("avx512", "avx512f")])
def test_vector_kernels_agree_with_generic_bit_for_bit(isa, flag):
    if flag not in FLAGS:
        pytest.skip(f"this CPU has no {flag}")

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def check(data):
        net, shape = data.draw(networks())
        x, timesteps, encoding, checkpoints, seed, _ = data.draw(run_settings(shape))
        generic, vector = net._build_engine("generic"), net._build_engine(isa)
        assert (generic.isa, vector.isa) == ("generic", isa)
        for a, b in zip(_run(generic, net, x, timesteps, encoding, checkpoints, seed),
                        _run(vector, net, x, timesteps, encoding, checkpoints, seed)):
            np.testing.assert_array_equal(a, b)

    check()


def _tiny():
    b = snncore.NetworkBuilder((2,))
    b.population("out", (2,), kind="accumulate")
    b.identity("w", "input", "out")
    return b


def test_isa_environment_variable(monkeypatch):
    b = _tiny()
    monkeypatch.setenv("SNNCORE_ISA", "generic")
    assert b.build("out").isa == "generic"
    monkeypatch.setenv("SNNCORE_ISA", " AVX2 ")
    if "avx2" in FLAGS:
        assert b.build("out").isa == "avx2"
    monkeypatch.setenv("SNNCORE_ISA", "sse9")
    with pytest.raises(ValueError, match="SNNCORE_ISA"):
        b.build("out").run(np.ones((1, 2), np.float32), 2)
    monkeypatch.delenv("SNNCORE_ISA")
    assert b.build("out").isa == AUTO


@pytest.mark.parametrize("isa,flag", [("avx2", "avx2"), ("avx512", "avx512f")])
def test_kernels_the_cpu_lacks_are_refused_by_name(isa, flag, monkeypatch):
    if flag in FLAGS:
        pytest.skip(f"this CPU has {flag}")
    monkeypatch.setenv("SNNCORE_ISA", isa)
    with pytest.raises(snncore.FormatError, match="has no"):
        _tiny().build("out").run(np.ones((1, 2), np.float32), 2)


def _pooled_window_net(pool, signed, reset, channels, second_input, rng):
    """input (1, 11, 13) -> 3x3 conv -> IF "a" -> pool (stride = window) ->
    relay "p" -> dense -> out. Fed by the input alone, "a" runs ahead under
    analog input; with second_input it also takes a 1x1 conv from another IF
    population, so its pass integrates a constant current and counts its
    spikes for the folded pool step by step. 11 x 13 leaves rows and columns
    outside every window for each pool here."""
    def weights(shape):     # not dyadic: the order of every float sum shows
        return rng.normal(0, 0.4, shape).astype(np.float32)

    H, W = 11, 13
    b = snncore.NetworkBuilder((1, H, W))
    b.population("a", (channels, H, W), kind="if", threshold=0.75, reset=reset, signed=signed,
                 threshold_neg=0.5 if signed else None,
                 bias=rng.normal(0, 0.1, channels).astype(np.float32))
    b.conv2d("c1", "input", "a", weights((channels, 1, 3, 3)), padding=(1, 1))
    if second_input:
        b.population("z", (4, H, W), kind="if", threshold=0.5)
        b.conv2d("cz", "input", "z", weights((4, 1, 3, 3)), padding=(1, 1))
        b.conv2d("za", "z", "a", weights((channels, 4, 1, 1)))
    th, tw = H // pool[0], W // pool[1]
    b.population("p", (channels, th, tw), kind="relay")
    b.avgpool2d("avg", "a", "p", pool, pool, (0, 0))
    b.population("out", (3,), kind="accumulate")
    b.dense("fc", "p", "out", weights((3, channels * th * tw)))
    return b.build("out")


@pytest.mark.parametrize("pool", [(2, 2), (3, 3), (2, 3)])
@pytest.mark.parametrize("signed,reset,channels",
                         [(False, "subtract", 32), (True, "subtract", 16), (True, "zero", 48)])
@pytest.mark.parametrize("second_input", [False, True])
def test_threshold_passes_by_pool_window_agree_across_kernels_and_teams(
        pool, signed, reset, channels, second_input, monkeypatch):
    """The AVX-512 threshold passes go pool window by window where a folded
    pool is the population's only reader (run ahead, or counted step by step):
    windows of 4, 9 and 6 positions (groups of 4 membranes and a remainder),
    rows and columns outside every window, signed and unsigned, both resets,
    one to three vectors of channels. Every kernel set, and teams of 2 and 3
    sharing the image, give the generic build's bits at every step."""
    rng = np.random.default_rng(channels + 10 * pool[0] + pool[1])
    x = rng.uniform(0, 1, (2, 1, 11, 13)).astype(np.float32)
    steps = list(range(1, 20))
    runs = {}
    for isa, flag in (("generic", None), ("avx2", "avx2"), ("avx512", "avx512f")):
        if flag and flag not in FLAGS:
            continue
        monkeypatch.setenv("SNNCORE_ISA", isa)
        net = _pooled_window_net(pool, signed, reset, channels, second_input,
                                 np.random.default_rng(channels))
        assert net.isa == isa
        runs[isa] = net.run(x, 19, checkpoints=steps, threads=1)
        for threads in (2, 3):
            runs[f"{isa}-{threads}"] = net.run(x[:1], 19, checkpoints=steps, threads=threads)
    base = runs["generic"]
    assert base.spikes.raw[:, -1, 1].min() > 0, "the pooled neurons should spike"
    for name, res in runs.items():
        n = len(res.outputs)
        np.testing.assert_array_equal(res.outputs, base.outputs[:n], err_msg=name)
        np.testing.assert_array_equal(res.spikes.raw, base.spikes.raw[:n], err_msg=name)
        np.testing.assert_array_equal(res.synaptic_ops.raw, base.synaptic_ops.raw[:n],
                                      err_msg=name)


@pytest.mark.parametrize("outputs", [10, 24, 48, 120, 250])
def test_dense_blocks_of_every_width_agree_across_kernels_and_teams(outputs, monkeypatch):
    """A dense layer goes over its outputs in whole blocks (128 outputs with
    AVX-512, 64 with AVX2, 32 in the baseline), then one pass each of half,
    quarter and one vector, then 8 outputs and single ones. Widths that leave
    every remainder (10 = 8 + 2, 24, 48, 120 = 64 + 32 + 16 + 8, 250), fed
    spikes of an IF layer, give the generic build's bits under every kernel
    set, on one thread and split over teams of 2 and 3."""
    rng = np.random.default_rng(outputs)
    b = snncore.NetworkBuilder((37,))
    b.population("h", (37,), kind="if", threshold=0.5)
    b.dense("in", "input", "h", rng.normal(0, 0.6, (37, 37)).astype(np.float32))
    b.population("out", (outputs,), kind="accumulate")
    b.dense("fc", "h", "out", rng.normal(0, 0.4, (outputs, 37)).astype(np.float32))
    x = rng.uniform(0, 1, (2, 37)).astype(np.float32)
    runs = {}
    for isa, flag in (("generic", None), ("avx2", "avx2"), ("avx512", "avx512f")):
        if flag and flag not in FLAGS:
            continue
        monkeypatch.setenv("SNNCORE_ISA", isa)
        net = b.build("out")
        assert net.isa == isa
        runs[isa] = net.run(x, 12, checkpoints=[5], threads=1)
        for threads in (2, 3):
            runs[f"{isa}-{threads}"] = net.run(x[:1], 12, checkpoints=[5], threads=threads)
    base = runs["generic"]
    assert base.spikes.raw[:, -1, 1].min() > 0, "the hidden layer should spike"
    for name, res in runs.items():
        n = len(res.outputs)
        np.testing.assert_array_equal(res.outputs, base.outputs[:n], err_msg=name)
        np.testing.assert_array_equal(res.synaptic_ops.raw, base.synaptic_ops.raw[:n],
                                      err_msg=name)


def _conv_of_spikes(channels, through_relay, rng):
    """input (1, 12, 10) -> 3x3 conv -> IF "a" (6 channels) -> 3x3 conv ->
    accumulate "out" (channels, 12, 10). With through_relay, a's spikes reach
    the second conv as a relay's graded events of value 1.0 (a -> identity ->
    relay "r" -> conv), the same events at the same step in the same order."""
    def weights(shape):     # not dyadic: the order of every float sum shows
        return rng.normal(0, 0.4, shape).astype(np.float32)

    b = snncore.NetworkBuilder((1, 12, 10))
    b.population("a", (6, 12, 10), kind="if", threshold=0.6)
    b.conv2d("c1", "input", "a", weights((6, 1, 3, 3)), padding=1)
    source = "a"
    if through_relay:
        b.population("r", (6, 12, 10), kind="relay")
        b.identity("id", "a", "r")
        source = "r"
    b.population("out", (channels, 12, 10), kind="accumulate")
    b.conv2d("c2", source, "out", weights((channels, 6, 3, 3)), padding=1)
    return b.build("out")


@pytest.mark.parametrize("channels", [8, 16, 24, 32, 40, 72, 136])
def test_conv_gathers_for_spikes_give_the_graded_bits(channels, monkeypatch):
    """A conv fed by an unsigned IF population adds its weights without
    multiplying (every spike is +1); fed the same events as graded values of
    1.0 it multiplies. Under every kernel set, for output widths that take the
    four-row gather and every block of the row gather (8 = one vector or a
    half, 16, 24 and 32 the four-row passes of 2 and 4 ymm with AVX2, 40 =
    32 + 8, 72 = 64 + 8, 136 = 2 x 64 + 8), both give the same bits at every
    step, and the generic kernels' bits."""
    rng = np.random.default_rng(channels)
    x = rng.uniform(0, 1, (2, 1, 12, 10)).astype(np.float32)
    steps = list(range(1, 9))
    generic = None
    for isa, flag in (("generic", None), ("avx2", "avx2"), ("avx512", "avx512f")):
        if flag and flag not in FLAGS:
            continue
        monkeypatch.setenv("SNNCORE_ISA", isa)
        spikes, graded = (_conv_of_spikes(channels, relay, np.random.default_rng(channels))
                          for relay in (False, True))
        assert spikes.isa == graded.isa == isa
        a, b = (net.run(x, 8, checkpoints=steps, threads=1) for net in (spikes, graded))
        assert a.spikes.raw[:, -1, 1].min() > 0, "a should spike"
        np.testing.assert_array_equal(a.outputs, b.outputs, err_msg=isa)
        assert np.abs(a.outputs).max() > 0
        generic = a.outputs if generic is None else generic
        np.testing.assert_array_equal(a.outputs, generic, err_msg=f"{isa} against generic")


def _pointwise(channels, stride, padding, signed, as_3x3, rng):
    """input (1, 11, 9) -> 3x3 conv -> IF "a" (5 channels, signed or not) ->
    1x1 conv (stride, padding) -> accumulate "out". With as_3x3 the second conv
    is a 3x3 conv with padding + 1 whose only nonzero tap is the centre: the same
    products, in the same order, among zeros that add nothing."""
    w1 = rng.normal(0, 0.5, (5, 1, 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 0.4, (channels, 5, 1, 1)).astype(np.float32)
    b = snncore.NetworkBuilder((1, 11, 9))
    b.population("a", (5, 11, 9), kind="if", threshold=0.5, signed=signed,
                 threshold_neg=0.5 if signed else None)
    b.conv2d("c1", "input", "a", w1, padding=1)
    if as_3x3:
        w3 = np.zeros((channels, 5, 3, 3), np.float32)
        w3[:, :, 1, 1] = w2[:, :, 0, 0]
        w2, padding = w3, padding + 1
    oh, ow = ((n + 2 * padding - w2.shape[2]) // stride + 1 for n in (11, 9))
    b.population("out", (channels, oh, ow), kind="accumulate")
    b.conv2d("c2", "a", "out", w2, stride=stride, padding=padding)
    return b.build("out")


@pytest.mark.parametrize("channels", [8, 13, 24, 40, 72, 136])   # 13: the one-at-a-time tail
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 0)])
@pytest.mark.parametrize("signed", [False, True])
def test_pointwise_convs_give_the_bits_of_a_centred_3x3(channels, stride, padding, signed,
                                                        monkeypatch):
    """A 1x1 conv goes through the pointwise gathers (no window to walk); the
    same weights as the centre of a 3x3 kernel go through the window gathers.
    Under every kernel set, for output widths that take every block (8, 24 =
    16 + 8, 40 = 32 + 8, 72 = 64 + 8, 136 = 2 x 64 + 8) and the channels left one
    at a time (13 = 8 + 5), strides 1 and 2, and spikes of +1 alone or of both
    signs, both give the same bits at every step."""
    x = np.random.default_rng(channels).uniform(-0.2, 1, (2, 1, 11, 9)).astype(np.float32)
    steps = list(range(1, 7))
    for isa, flag in (("generic", None), ("avx2", "avx2"), ("avx512", "avx512f")):
        if flag and flag not in FLAGS:
            continue
        monkeypatch.setenv("SNNCORE_ISA", isa)
        one, three = (_pointwise(channels, stride, padding, signed, as_3x3,
                                 np.random.default_rng(channels)) for as_3x3 in (False, True))
        assert one.isa == three.isa == isa
        a, b = (net.run(x, 6, checkpoints=steps, threads=1) for net in (one, three))
        assert a.spikes.raw[:, -1, 1].min() > 0, "a should spike"
        np.testing.assert_array_equal(a.outputs, b.outputs, err_msg=isa)
        assert np.abs(a.outputs).max() > 0
