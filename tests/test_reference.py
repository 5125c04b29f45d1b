"""Tests of the numpy reference simulator (tests/reference.py) against
hand-derived facts.  numpy + pytest only; does not import snncore."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402


# ---------------------------------------------------------------------------
# helpers to build normalised spec dicts by hand
# ---------------------------------------------------------------------------

def f32(a):
    return np.asarray(a, dtype=np.float32)


def pop(name, kind, shape, threshold=None, signed=False, threshold_neg=None,
        reset="subtract", v_init=0.0, bias=None):
    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    if ndim == 1:
        shape = (shape[0], 1, 1)
    if threshold is not None:
        threshold = f32(threshold).reshape(-1)
    if threshold_neg is not None:
        threshold_neg = f32(threshold_neg).reshape(-1)
    return {"name": name, "kind": kind, "shape": shape, "ndim": ndim,
            "threshold": threshold, "signed": bool(signed),
            "threshold_neg": threshold_neg, "reset": reset,
            "v_init": float(v_init),
            "bias": None if bias is None else f32(bias).reshape(-1)}


def proj(name, op, source, target, weight=None, kernel=None, stride=(1, 1),
         padding=(0, 0)):
    if weight is not None:
        weight = f32(weight)
    if op == "conv2d":
        kernel = tuple(weight.shape[2:])
    if op == "avgpool2d" and stride is None:
        stride = kernel
    if kernel is None:
        kernel = (1, 1)
    return {"name": name, "op": op, "source": source, "target": target,
            "weight": weight, "kernel": tuple(kernel), "stride": tuple(stride),
            "padding": tuple(padding)}


def net(pops, projs, output=None, order=None):
    names = [p["name"] for p in pops]
    idx = {n: i for i, n in enumerate(names)}
    resolved = []
    for pr in projs:
        pr = dict(pr)
        pr["source"] = idx[pr["source"]] if isinstance(pr["source"], str) else pr["source"]
        pr["target"] = idx[pr["target"]] if isinstance(pr["target"], str) else pr["target"]
        resolved.append(pr)
    inp = [i for i, p in enumerate(pops) if p["kind"] == "input"]
    assert len(inp) == 1
    if output is None:
        output = len(pops) - 1
    elif isinstance(output, str):
        output = idx[output]
    if order is None:
        order = list(range(len(pops)))
    return {"populations": pops, "projections": resolved, "input": inp[0],
            "output": output, "order": order}


def one_neuron_if(theta=1.0, reset="subtract", v_init=0.0, signed=False,
                  theta_n=None, n=1):
    return net([pop("in", "input", (n,)),
                pop("if", "if", (n,), threshold=theta, reset=reset,
                    v_init=v_init, signed=signed, threshold_neg=theta_n)],
               [proj("p", "identity", "in", "if")])


# ---------------------------------------------------------------------------
# direct-loop versions of the ops (deliberately naive)
# ---------------------------------------------------------------------------

def loop_conv2d(x, w, stride, padding):
    n, ci, h, wd = x.shape
    co, ci2, kh, kw = w.shape
    assert ci == ci2
    sh, sw = stride
    ph, pw = padding
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, co, ho, wo), dtype=np.float64)
    for b in range(n):
        for o in range(co):
            for oy in range(ho):
                for ox in range(wo):
                    acc = 0.0
                    for c in range(ci):
                        for i in range(kh):
                            for j in range(kw):
                                y = oy * sh - ph + i
                                xx = ox * sw - pw + j
                                if 0 <= y < h and 0 <= xx < wd:
                                    acc += float(x[b, c, y, xx]) * float(w[o, c, i, j])
                    out[b, o, oy, ox] = acc
    return out


def loop_avgpool(x, kernel, stride, padding):
    n, c, h, wd = x.shape
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, c, ho, wo), dtype=np.float64)
    for b in range(n):
        for ch in range(c):
            for oy in range(ho):
                for ox in range(wo):
                    acc = 0.0
                    for i in range(kh):
                        for j in range(kw):
                            y = oy * sh - ph + i
                            xx = ox * sw - pw + j
                            if 0 <= y < h and 0 <= xx < wd:
                                acc += float(x[b, ch, y, xx])
                    out[b, ch, oy, ox] = acc / (kh * kw)
    return out


def run_op_once(op_pop_shape, in_shape, projection, x):
    """input -> projection -> accumulate; analog, T=1, so output = op(x)."""
    spec = net([pop("in", "input", in_shape), pop("out", "accumulate", op_pop_shape)],
               [projection])
    return ref.simulate(spec, x, 1)["output"][:, 0]


# ---------------------------------------------------------------------------
# single IF neuron
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("z", [0.125, 0.25, 0.375, 0.5, 0.625, 0.875, 1.0, 1.5])
@pytest.mark.parametrize("T", [1, 7, 64])
def test_if_subtract_matches_floor(z, T):
    spec = one_neuron_if(theta=1.0, reset="subtract")
    r = ref.simulate(spec, f32([[z]]), T)
    # V(t) = t*z - spikes*theta, at most one spike per step
    expected = min(int(np.floor(T * z / 1.0)), T)
    assert r["spikes"][0, 0, 1] == expected
    assert r["spikes"][0, 0, 0] == 0          # analog input counts no events
    assert r["synops"][0, 0, 0] == 1          # analog input current counted once
    assert r["output"][0, 0, 0] == np.float32(expected) / np.float32(T)


def test_if_subtract_with_threshold_and_v_init():
    # theta = 2, z = 0.75, v_init = 0.5 -> V(0) = 1: spikes = floor((1 + 0.75 T)/2)
    spec = one_neuron_if(theta=2.0, v_init=0.5)
    T = 42
    r = ref.simulate(spec, f32([[0.75]]), T)
    assert r["spikes"][0, 0, 1] == int(np.floor((1.0 + 0.75 * T) / 2.0)) == 16
    # without the initial charge it would be floor(31.5 / 2) = 15
    r0 = ref.simulate(one_neuron_if(theta=2.0), f32([[0.75]]), T)
    assert r0["spikes"][0, 0, 1] == 15
    # per-channel thresholds: V(0) = v_init * theta[c]
    spec = net([pop("in", "input", (2, 1, 1)),
                pop("o", "if", (2, 1, 1), threshold=[1.0, 4.0], v_init=0.5)],
               [proj("p", "identity", "in", "o")])
    r = ref.simulate(spec, f32([[1.0, 1.0]]), 6)
    # ch0: V(0) = 0.5; 1.5 -> fire -> 0.5 every step: 6 spikes
    # ch1: V(0) = 2; V = 4 at t = 2 -> fire -> 0, V = 4 again at t = 6: 2 spikes
    # (with V(0) = 0.5 * theta[0] it would be 1 spike)
    assert r["output"][0, 0].tolist() == [np.float32(1.0), np.float32(2 / 6)]


@pytest.mark.parametrize("z", [0.375, 0.3125, 0.625, 0.4375])
def test_if_reset_zero_undercounts(z):
    T = 64
    sub = ref.simulate(one_neuron_if(reset="subtract"), f32([[z]]), T)["spikes"][0, 0, 1]
    zero = ref.simulate(one_neuron_if(reset="zero"), f32([[z]]), T)["spikes"][0, 0, 1]
    # reset to zero: every ceil(theta/z) steps exactly, the surplus is lost
    period = int(np.ceil(1.0 / z))
    assert zero == T // period
    assert sub == int(np.floor(T * z))
    assert zero < sub


def test_if_reset_zero_exact_when_z_divides_theta():
    T = 64
    for z in (0.25, 0.5, 0.125):
        sub = ref.simulate(one_neuron_if(reset="subtract"), f32([[z]]), T)["spikes"][0, 0, 1]
        zero = ref.simulate(one_neuron_if(reset="zero"), f32([[z]]), T)["spikes"][0, 0, 1]
        assert sub == zero == int(T * z)


def test_unsigned_if_ignores_negative_input():
    r = ref.simulate(one_neuron_if(), f32([[-0.5]]), 50)
    assert r["spikes"][0, 0, 1] == 0
    assert r["output"][0, 0, 0] == 0.0


# ---------------------------------------------------------------------------
# signed neuron = leaky ReLU
# ---------------------------------------------------------------------------

def test_signed_neuron_is_leaky_relu():
    alpha = 0.1
    zs = [0.5, 0.2, -0.2, -0.5, -1.0]
    spec = net([pop("in", "input", (1,)),
                pop("if", "if", (1,), threshold=1.0, signed=True,
                    threshold_neg=1.0 / alpha)],
               [proj("p", "dense", "in", "if", weight=[[1.0]])])
    x = f32(zs).reshape(-1, 1)
    T = 10000
    r = ref.simulate(spec, x, T)
    rates = r["output"][:, 0, 0]
    expected = [z if z > 0 else alpha * z for z in zs]
    np.testing.assert_allclose(rates, expected, atol=1e-3)
    # negative inputs emit negative spikes only; all counted as events
    assert np.all(rates[2:] < 0)
    np.testing.assert_array_equal(r["spikes"][:, 0, 1],
                                  np.round(np.abs(rates) * T).astype(np.int64))


def test_signed_reset_zero_negative():
    spec = net([pop("in", "input", (1,)),
                pop("if", "if", (1,), threshold=1.0, signed=True,
                    threshold_neg=2.0, reset="zero")],
               [proj("p", "identity", "in", "if")])
    # -0.75 per step, theta_n = 2: V = -.75, -1.5, -2.25 -> fire, reset 0; period 3
    r = ref.simulate(spec, f32([[-0.75]]), 30)
    assert r["output"][0, 0, 0] == np.float32(-10.0 / 30.0)


# ---------------------------------------------------------------------------
# ops against direct loops
# ---------------------------------------------------------------------------

def test_conv2d_matches_loop():
    rng = np.random.default_rng(1)
    for _ in range(12):
        ci, co = rng.integers(1, 4), rng.integers(1, 4)
        h, w = rng.integers(4, 10), rng.integers(4, 10)
        kh, kw = rng.integers(1, 5), rng.integers(1, 5)
        kh, kw = min(kh, h), min(kw, w)
        sh, sw = rng.integers(1, 4), rng.integers(1, 4)
        ph, pw = rng.integers(0, kh), rng.integers(0, kw)
        weight = rng.standard_normal((co, ci, kh, kw)).astype(np.float32)
        x = rng.standard_normal((2, ci, h, w)).astype(np.float32)
        expected = loop_conv2d(x, weight, (sh, sw), (ph, pw))
        out_shape = expected.shape[1:]
        got = run_op_once(out_shape, (ci, h, w),
                          proj("c", "conv2d", "in", "out", weight=weight,
                               stride=(sh, sw), padding=(ph, pw)), x)
        np.testing.assert_allclose(got, expected.reshape(2, -1), rtol=1e-5, atol=1e-5)
        # the op function on its own as well
        np.testing.assert_allclose(ref.conv2d(x, weight, (sh, sw), (ph, pw)), expected,
                                   rtol=1e-5, atol=1e-5)


def test_conv2d_is_cross_correlation():
    # a kernel with a single 1 at (0, 1) picks x[y, x+1] (no flip)
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    w = np.zeros((1, 1, 2, 2), dtype=np.float32)
    w[0, 0, 0, 1] = 1.0
    out = ref.conv2d(x, w)
    np.testing.assert_array_equal(out[0, 0], x[0, 0, :3, 1:4])


def test_avgpool2d_matches_loop():
    rng = np.random.default_rng(2)
    for _ in range(12):
        c = rng.integers(1, 4)
        h, w = rng.integers(3, 10), rng.integers(3, 10)
        kh, kw = rng.integers(1, 4), rng.integers(1, 4)
        sh, sw = rng.integers(1, 4), rng.integers(1, 4)
        ph, pw = rng.integers(0, kh), rng.integers(0, kw)
        x = rng.standard_normal((3, c, h, w)).astype(np.float32)
        expected = loop_avgpool(x, (kh, kw), (sh, sw), (ph, pw))
        got = run_op_once(expected.shape[1:], (c, h, w),
                          proj("a", "avgpool2d", "in", "out", kernel=(kh, kw),
                               stride=(sh, sw), padding=(ph, pw)), x)
        np.testing.assert_allclose(got, expected.reshape(3, -1), rtol=1e-5, atol=1e-5)


def test_avgpool_counts_padding_as_zero():
    x = np.ones((1, 1, 2, 2), dtype=np.float32)
    out = ref.avgpool2d(x, (2, 2), (2, 2), (1, 1))
    # every 2x2 window with padding 1 sees exactly one real cell
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 0.25, dtype=np.float32))


def test_dense_matches_loop_chw_flatten():
    rng = np.random.default_rng(3)
    c, h, w, out = 3, 4, 5, 7
    weight = rng.standard_normal((out, c * h * w)).astype(np.float32)
    x = rng.standard_normal((2, c, h, w)).astype(np.float32)
    expected = np.zeros((2, out))
    for b in range(2):
        for o in range(out):
            for ch in range(c):
                for y in range(h):
                    for xx in range(w):
                        expected[b, o] += weight[o, ch * h * w + y * w + xx] * x[b, ch, y, xx]
    got = run_op_once((out,), (c, h, w), proj("d", "dense", "in", "out", weight=weight), x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # a (N, n) input is accepted as the flattened CHW image
    got2 = run_op_once((out,), (c, h, w), proj("d", "dense", "in", "out", weight=weight),
                       x.reshape(2, -1))
    np.testing.assert_array_equal(got, got2)


def test_identity_gain_per_channel_and_default():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    gain = f32([2.0, -0.5, 0.0])
    got = run_op_once((3, 4, 5), (3, 4, 5), proj("i", "identity", "in", "out", weight=gain), x)
    expected = np.empty_like(x)
    for ch in range(3):
        expected[:, ch] = x[:, ch] * gain[ch]
    np.testing.assert_array_equal(got, expected.reshape(2, -1))
    got = run_op_once((3, 4, 5), (3, 4, 5), proj("i", "identity", "in", "out"), x)
    np.testing.assert_array_equal(got, x.reshape(2, -1))


def test_bias_per_channel_and_per_neuron():
    c, h, w = 2, 2, 3
    pc = f32([0.5, -1.0])
    pn = np.arange(c * h * w, dtype=np.float32) / 8
    x = np.zeros((1, c, h, w), dtype=np.float32)
    for b, expected in ((pc, np.repeat(pc, h * w)), (pn, pn)):
        spec = net([pop("in", "input", (c, h, w)),
                    pop("out", "accumulate", (c, h, w), bias=b)],
                   [proj("i", "identity", "in", "out")])
        r = ref.simulate(spec, x, 4)
        np.testing.assert_array_equal(r["output"][0, 0], expected)


# ---------------------------------------------------------------------------
# synop counting
# ---------------------------------------------------------------------------

def _single_event_conv_synops(pos, stride, padding, co=2, size=5, T=3,
                              encoding="analog"):
    x = np.zeros((1, 1, size, size), dtype=np.float32)
    x[0, 0, pos[0], pos[1]] = 1.0
    w = np.ones((co, 1, 3, 3), dtype=np.float32)
    ho = (size + 2 * padding - 3) // stride + 1
    spec = net([pop("in", "input", (1, size, size)),
                pop("out", "accumulate", (co, ho, ho))],
               [proj("c", "conv2d", "in", "out", weight=w, stride=(stride, stride),
                     padding=(padding, padding))])
    return ref.simulate(spec, x, T, encoding=encoding)["synops"][0, 0, 0]


def test_synops_corner_vs_centre():
    # 5x5, 3x3 kernel, padding 1, stride 1, Co = 2
    assert _single_event_conv_synops((0, 0), 1, 1) == 2 * 4   # 2x2 windows
    assert _single_event_conv_synops((0, 2), 1, 1) == 2 * 6   # edge: 2x3
    assert _single_event_conv_synops((2, 2), 1, 1) == 2 * 9   # centre: 3x3
    # no padding: corner is in one window only, centre in all 9
    assert _single_event_conv_synops((0, 0), 1, 0) == 2 * 1
    assert _single_event_conv_synops((2, 2), 1, 0) == 2 * 9
    # stride 2, padding 1 (outputs at rows -1..1, 1..3, 3..5)
    assert _single_event_conv_synops((0, 0), 2, 1) == 2 * 1
    assert _single_event_conv_synops((1, 1), 2, 1) == 2 * 4
    assert _single_event_conv_synops((2, 2), 2, 1) == 2 * 1
    assert _single_event_conv_synops((1, 2), 2, 1) == 2 * 2


def test_synops_every_step_for_spikes():
    # poisson with p = 1 spikes every step: synops counted T times
    T = 5
    assert _single_event_conv_synops((0, 0), 1, 1, T=T, encoding="poisson") == 2 * 4 * T
    assert _single_event_conv_synops((2, 2), 1, 1, T=T, encoding="regular") == 2 * 9 * T


def test_synops_avgpool_dense_identity():
    # 1x5x5 input, avgpool 2x2 stride 2: row/col 4 is in no window
    x = np.zeros((3, 1, 5, 5), dtype=np.float32)
    x[0, 0, 1, 1] = 1.0
    x[1, 0, 4, 2] = 1.0
    x[2, 0, 0, 0] = x[2, 0, 3, 3] = 1.0
    spec = net([pop("in", "input", (1, 5, 5)),
                pop("pool", "accumulate", (1, 2, 2)),
                pop("fc", "accumulate", (7,)),
                pop("id", "accumulate", (1, 5, 5))],
               [proj("a", "avgpool2d", "in", "pool", kernel=(2, 2), stride=(2, 2)),
                proj("d", "dense", "in", "fc", weight=np.ones((7, 25))),
                proj("i", "identity", "in", "id")], output="fc")
    r = ref.simulate(spec, x, 1, encoding="regular", rate=1.0)
    np.testing.assert_array_equal(r["synops"][:, 0, 0], [1, 0, 2])
    np.testing.assert_array_equal(r["synops"][:, 0, 1], [7, 7, 14])
    np.testing.assert_array_equal(r["synops"][:, 0, 2], [1, 1, 2])
    np.testing.assert_array_equal(r["spikes"][:, 0, 0], [1, 1, 2])
    # overlapping 3x3 stride 1 pooling, padding 1: centre in 9 windows
    y = np.zeros((1, 1, 5, 5), dtype=np.float32)
    y[0, 0, 2, 2] = 1.0
    spec = net([pop("in", "input", (1, 5, 5)), pop("pool", "accumulate", (1, 5, 5))],
               [proj("a", "avgpool2d", "in", "pool", kernel=(3, 3), stride=(1, 1),
                     padding=(1, 1))])
    assert ref.simulate(spec, y, 4, encoding="regular")["synops"][0, 0, 0] == 9 * 4
    assert ref.simulate(spec, y, 4, encoding="analog")["synops"][0, 0, 0] == 9


# ---------------------------------------------------------------------------
# poisson encoding
# ---------------------------------------------------------------------------

def _input_counter_net(n):
    return net([pop("in", "input", (n,)), pop("acc", "accumulate", (n,))],
               [proj("i", "identity", "in", "acc")])


def test_poisson_u24_known_answer():
    # mix(G) is SplitMix64's first output from state 0
    assert ref.mix64(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF
    # vectorised matches a scalar Python-int computation
    M = (1 << 64) - 1
    G = 0x9E3779B97F4A7C15
    seed, image, t = 12345, 7, 3
    s_img = ref.mix64((seed + G * (image + 1)) & M)
    s_stp = ref.mix64((s_img + G * t) & M)
    want = [ref.mix64((s_stp + 0xD1B54A32D192ED03 * (i + 1)) & M) >> 40 for i in range(50)]
    got = ref.poisson_u24(seed, image, t, 50)
    assert got.dtype == np.uint64
    assert [int(v) for v in got] == want
    assert all(0 <= v < (1 << 24) for v in want)


def test_poisson_strict_comparison_at_boundary():
    # p * 2^24 == u24 exactly does not spike; one ulp of 2^-24 more does
    seed, n = 11, 6
    u = ref.poisson_u24(seed, 0, 1, n).astype(np.float64)
    x = (u / 2.0 ** 24).astype(np.float32)
    assert np.array_equal(x.astype(np.float64) * 2 ** 24, u)  # exact in float32
    x[1::2] = ((u[1::2] + 1) / 2.0 ** 24).astype(np.float32)
    r = ref.simulate(_input_counter_net(n), x.reshape(1, -1), 1, encoding="poisson",
                     seed=seed)
    np.testing.assert_array_equal(r["output"][0, 0], [0, 1, 0, 1, 0, 1])


def test_poisson_frequency():
    p = f32([0.0, 0.1, 0.5, 0.9, 1.0, 0.25])
    T = 20000
    r = ref.simulate(_input_counter_net(p.size), p.reshape(1, -1), T, encoding="poisson",
                     seed=3)
    freq = r["output"][0, 0]
    np.testing.assert_allclose(freq, p, atol=0.015)
    assert freq[0] == 0.0 and freq[4] == 1.0
    assert r["spikes"][0, 0, 0] == int(round(float(np.sum(freq)) * T))


def test_poisson_rate_scales_and_clips():
    x = f32([[0.2, 0.8, 3.0, -1.0]])
    T = 20000
    freq = ref.simulate(_input_counter_net(4), x, T, encoding="poisson",
                        rate=0.5)["output"][0, 0]
    np.testing.assert_allclose(freq, [0.1, 0.4, 1.0, 0.0], atol=0.015)
    assert freq[2] == 1.0 and freq[3] == 0.0


def test_poisson_determinism_and_image_index():
    x = np.full((3, 40), 0.5, dtype=np.float32)
    spec = _input_counter_net(40)
    cps = list(range(1, 21))
    a = ref.simulate(spec, x, 20, encoding="poisson", seed=9, checkpoints=cps)
    b = ref.simulate(spec, x, 20, encoding="poisson", seed=9, checkpoints=cps)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    # same pixels in different images see different random numbers
    assert not np.array_equal(a["output"][0], a["output"][1])
    assert not np.array_equal(a["output"][1], a["output"][2])
    # a different seed differs
    c = ref.simulate(spec, x, 20, encoding="poisson", seed=10, checkpoints=cps)
    assert not np.array_equal(a["output"], c["output"])
    # image index, not batch position, picks the stream
    d = ref.simulate(spec, x[:1], 20, encoding="poisson", seed=9, first_index=2,
                     checkpoints=cps)
    np.testing.assert_array_equal(d["output"][0], a["output"][2])


def _small_conv_net():
    rng = np.random.default_rng(5)
    w1 = (rng.integers(-4, 5, size=(4, 2, 3, 3)) / 8).astype(np.float32)
    w2 = (rng.integers(-4, 5, size=(5, 4 * 3 * 3)) / 8).astype(np.float32)
    return net([pop("in", "input", (2, 6, 6)),
                pop("c1", "if", (4, 6, 6), threshold=[1.0, 0.5, 1.0, 0.75],
                    bias=[0.125, 0.0, -0.125, 0.25]),
                pop("p1", "relay", (4, 3, 3)),
                pop("fc", "accumulate", (5,), bias=np.arange(5) / 16)],
               [proj("c1", "conv2d", "in", "c1", weight=w1, padding=(1, 1)),
                proj("p1", "avgpool2d", "c1", "p1", kernel=(2, 2), stride=(2, 2)),
                proj("fc", "dense", "p1", "fc", weight=w2)])


def test_first_index_splits_batch():
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 1, size=(4, 2, 6, 6)).astype(np.float32)
    spec = _small_conv_net()
    cps = [3, 10, 16]
    whole = ref.simulate(spec, x, 16, encoding="poisson", seed=1, checkpoints=cps)
    h1 = ref.simulate(spec, x[:1], 16, encoding="poisson", seed=1, checkpoints=cps)
    h2 = ref.simulate(spec, x[1:], 16, encoding="poisson", seed=1, checkpoints=cps,
                      first_index=1)
    for k in whole:
        np.testing.assert_array_equal(np.concatenate([h1[k], h2[k]]), whole[k])
    # and a wrong first_index does not reproduce it
    bad = ref.simulate(spec, x[1:], 16, encoding="poisson", seed=1, checkpoints=cps)
    assert not np.array_equal(bad["spikes"], whole["spikes"][1:])


# ---------------------------------------------------------------------------
# regular encoding
# ---------------------------------------------------------------------------

def test_regular_every_fourth_step():
    T = 16
    cps = list(range(1, T + 1))
    r = ref.simulate(_input_counter_net(1), f32([[0.25]]), T, encoding="regular",
                     checkpoints=cps)
    counts = r["spikes"][0, :, 0]
    np.testing.assert_array_equal(counts, [t // 4 for t in cps])
    # the spikes themselves: increments at t = 4, 8, 12, 16
    steps = [t for t in cps if counts[t - 1] - (counts[t - 2] if t > 1 else 0) == 1]
    assert steps == [4, 8, 12, 16]
    # x = 0.5 with rate 0.5 is the same p
    r2 = ref.simulate(_input_counter_net(1), f32([[0.5]]), T, encoding="regular",
                      rate=0.5, checkpoints=cps)
    np.testing.assert_array_equal(r2["spikes"], r["spikes"])


def test_regular_p_one_and_zero():
    r = ref.simulate(_input_counter_net(3), f32([[1.0, 0.0, 2.0]]), 10, encoding="regular")
    np.testing.assert_array_equal(r["output"][0, 0], [1.0, 0.0, 1.0])


# ---------------------------------------------------------------------------
# relay and junction
# ---------------------------------------------------------------------------

def test_relay_passes_graded_values():
    # spiking layer A (2x2, two neurons spike every step) -> avgpool relay -> IF B
    spec = net([pop("in", "input", (1, 2, 2)),
                pop("A", "if", (1, 2, 2), threshold=1.0),
                pop("R", "relay", (1, 1, 1)),
                pop("B", "if", (1, 1, 1), threshold=1.0),
                pop("out", "accumulate", (1, 1, 1))],
               [proj("a", "identity", "in", "A"),
                proj("r", "avgpool2d", "A", "R", kernel=(2, 2), stride=(2, 2)),
                proj("b", "identity", "R", "B"),
                proj("o", "identity", "R", "out")], output="out")
    x = f32([[1.0, 1.0, 0.0, 0.0]]).reshape(1, 1, 2, 2)
    T = 12
    r = ref.simulate(spec, x, T)
    # the relay emits 2/4 = 0.5 every step (graded, not a unit spike)
    assert r["output"][0, 0, 0] == 0.5
    spikes = r["spikes"][0, 0]
    assert spikes[1] == 2 * T      # A
    assert spikes[2] == T          # R: one graded event per step
    assert spikes[3] == T // 2     # B integrates 0.5 per step
    syn = r["synops"][0, 0]
    assert syn[1] == 2 * T         # two A events, one window each
    assert syn[2] == T and syn[3] == T


def test_junction_adds_currents():
    rng = np.random.default_rng(7)
    w1 = (rng.integers(-8, 9, size=(4, 6)) / 16).astype(np.float32)
    w2 = (rng.integers(-8, 9, size=(4, 6)) / 16).astype(np.float32)
    b = f32([0.5, 0.0, -0.25, 0.125])
    x = (rng.integers(-8, 9, size=(2, 6)) / 8).astype(np.float32)
    spec = net([pop("in", "input", (6,)), pop("out", "accumulate", (4,), bias=b)],
               [proj("d1", "dense", "in", "out", weight=w1),
                proj("d2", "dense", "in", "out", weight=w2)])
    r = ref.simulate(spec, x, 3)
    np.testing.assert_array_equal(r["output"][:, 0], x @ (w1 + w2).T + b)
    nnz = np.count_nonzero(x, axis=1)
    np.testing.assert_array_equal(r["synops"][:, 0], np.stack([4 * nnz, 4 * nnz], 1))
    # residual junction of two spiking paths into an IF population
    spec = net([pop("in", "input", (1,)),
                pop("a", "if", (1,), threshold=1.0),
                pop("b", "if", (1,), threshold=1.0),
                pop("j", "if", (1,), threshold=1.0),
                pop("out", "accumulate", (1,))],
               [proj("pa", "identity", "in", "a"),
                proj("pb", "identity", "in", "b", weight=[0.5]),
                proj("ja", "identity", "a", "j", weight=[0.25]),
                proj("jb", "identity", "b", "j", weight=[0.5]),
                proj("o", "identity", "j", "out")])
    # a spikes every step (0.25), b every other step (0.25 avg): j gets 0.5/step
    r = ref.simulate(spec, f32([[1.0]]), 16)
    assert r["spikes"][0, 0, 3] == 8
    assert r["output"][0, 0, 0] == 0.5


# ---------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["analog", "poisson", "regular"])
def test_checkpoints_equal_shorter_runs(encoding):
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 1, size=(2, 2, 6, 6)).astype(np.float32)
    spec = _small_conv_net()
    T = 24
    cps = [1, 5, 16, 24]
    full = ref.simulate(spec, x, T, encoding=encoding, seed=4, checkpoints=cps)
    assert full["output"].shape == (2, 4, 5) and full["output"].dtype == np.float32
    assert full["spikes"].shape == (2, 4, 4) and full["spikes"].dtype == np.int64
    assert full["synops"].shape == (2, 4, 3) and full["synops"].dtype == np.int64
    for k, t in enumerate(cps):
        short = ref.simulate(spec, x, t, encoding=encoding, seed=4)
        np.testing.assert_array_equal(full["output"][:, k], short["output"][:, 0])
        np.testing.assert_array_equal(full["spikes"][:, k], short["spikes"][:, 0])
        np.testing.assert_array_equal(full["synops"][:, k], short["synops"][:, 0])
    # counters are cumulative
    assert np.all(np.diff(full["spikes"], axis=1) >= 0)
    assert np.all(np.diff(full["synops"], axis=1) >= 0)


def test_if_output_readout_signed():
    # output population of kind if: (pos - neg)/t at each checkpoint
    spec = net([pop("in", "input", (2,)),
                pop("o", "if", (2,), threshold=1.0, signed=True, threshold_neg=1.0)],
               [proj("p", "identity", "in", "o")])
    r = ref.simulate(spec, f32([[0.5, -0.5]]), 8, checkpoints=[1, 2, 3, 8])
    np.testing.assert_array_equal(r["output"][0, :, 0], f32([0, 0.5, 1 / 3, 0.5]))
    np.testing.assert_array_equal(r["output"][0, :, 1], -f32([0, 0.5, 1 / 3, 0.5]))


def test_deep_network_runs_with_all_outputs():
    """A conv-conv-pool-dense stack under poisson input: shapes and activity."""
    rng = np.random.default_rng(9)
    w1 = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    w2 = (rng.standard_normal((8, 8, 3, 3)) * 0.2).astype(np.float32)
    w3 = (rng.standard_normal((10, 8 * 6 * 6)) * 0.1).astype(np.float32)
    spec = net([pop("in", "input", (3, 12, 12)),
                pop("c1", "if", (8, 12, 12), threshold=1.0),
                pop("c2", "if", (8, 12, 12), threshold=1.0),
                pop("p", "relay", (8, 6, 6)),
                pop("fc", "accumulate", (10,))],
               [proj("c1", "conv2d", "in", "c1", weight=w1, padding=(1, 1)),
                proj("c2", "conv2d", "c1", "c2", weight=w2, padding=(1, 1)),
                proj("p", "avgpool2d", "c2", "p", kernel=(2, 2), stride=(2, 2)),
                proj("fc", "dense", "p", "fc", weight=w3)])
    x = rng.uniform(0, 1, size=(4, 3, 12, 12)).astype(np.float32)
    out = ref.simulate(spec, x, 64, encoding="poisson", checkpoints=[16, 32, 64])
    assert out["output"].shape == (4, 3, 10)
    assert out["spikes"].shape == (4, 3, 5) and (out["spikes"][:, -1, 1] > 0).all()
    assert (np.diff(out["synops"], axis=1) >= 0).all()
