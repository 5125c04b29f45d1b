"""Random small networks for property tests (hypothesis strategies).

Every weight, threshold, bias and input is a small multiple of a power of two
(dyadic), so float32 sums are exact in any order and the event-driven engine
must agree with the dense reference bit for bit (docs/format.md, "Float
order"). Average pools use windows of area 1, 2 or 4 for the same reason.
"""

import numpy as np
from hypothesis import strategies as st

import snncore


def dyadic(draw, shape, lo=-8, hi=8, denom=8):
    """float32 array of integers in lo..hi divided by denom. Arrays of more than
    64 values come from a drawn seed (hypothesis draws each small one value by
    value, which would be slow for the wide layers)."""
    n = int(np.prod(shape)) if shape else 1
    if n > 64:
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
        ints = rng.integers(lo, hi, size=n, endpoint=True)
    else:
        ints = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))
    return (np.array(ints, dtype=np.float32) / np.float32(denom)).reshape(shape)


# Output channels of a conv: mostly few, sometimes enough to fill the engine's
# vector blocks (4, 8 or 16 lanes in the threshold pass, which AVX-512 takes
# only for multiples of 16; 32 or 64 channels in a conv gather) with or without
# a remainder, so the vector paths and their tails are exercised.
CONV_CHANNELS = [1, 2, 3, 4, 1, 2, 3, 4, 9, 16, 17, 32, 37, 48, 70]


THRESHOLDS = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]


def _neuron(draw, b, name, shape, allow_accumulate=False):
    """Declare a population of a random kind with random neuron parameters;
    returns 'spikes' for an 'if' population, signed or not (a maxpool2d may read it),
    'plain relay' for a relay without bias, else ''."""
    kinds = ["if", "if", "relay"] + (["accumulate"] if allow_accumulate else [])
    kind = draw(st.sampled_from(kinds))
    c = shape[0]
    bias = None
    if draw(st.booleans()):
        per_neuron = draw(st.booleans())
        bias = dyadic(draw, tuple(shape) if per_neuron else (c,), -4, 4, 16)
    if kind != "if":
        b.population(name, shape, kind=kind, bias=bias)
        return "plain relay" if kind == "relay" and bias is None else ""
    if draw(st.booleans()):
        theta = np.array(draw(st.lists(st.sampled_from(THRESHOLDS), min_size=c, max_size=c)),
                         dtype=np.float32)
    else:
        theta = draw(st.sampled_from(THRESHOLDS))
    signed = draw(st.integers(0, 3)) == 0
    reset = draw(st.sampled_from(["subtract", "zero"]))
    # a retracting neuron is a signed one with reset subtract; half of those retract
    retract = signed and reset == "subtract" and draw(st.booleans())
    b.population(
        name, shape, kind="if", threshold=theta, reset=reset,
        v_init=draw(st.sampled_from([0.0, 0.5, -0.25, 1.0])),
        bias=bias, signed=signed,
        threshold_neg=draw(st.sampled_from([0.5, 1.0, 4.0, 8.0])) if signed else None,
        retract=retract)
    return "spikes"


@st.composite
def networks(draw, max_layers=4):
    """(Network, input_shape): a random chain of conv (a third of them grouped or
    depthwise where the source has channels to split)/pool/dense/identity layers
    with occasional junctions (a second projection into a population); max
    pools follow unsigned 'if' populations."""
    vector_input = draw(st.integers(0, 4)) == 0
    if vector_input:
        shape = (draw(st.integers(1, 12)),)
    else:
        shape = (draw(st.integers(1, 3)), draw(st.integers(2, 8)), draw(st.integers(2, 8)))
    b = snncore.NetworkBuilder(shape)
    layers = [("input", shape)]
    poolable = False        # whether the last layer may feed a maxpool2d
    n_layers = draw(st.integers(1, max_layers))
    for k in range(n_layers):
        src, src_shape = layers[-1]
        name = f"p{k}"
        ops = ["dense", "identity"] if len(src_shape) == 1 else ["conv2d", "conv2d", "avgpool2d",
                                                                 "dense", "identity",
                                                                 "upsample2d"]
        if poolable and len(src_shape) == 3:
            ops += ["maxpool2d", "maxpool2d"]
        op = draw(st.sampled_from(ops))
        if op == "conv2d":
            c, h, w = src_shape
            kh, kw = draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w)))
            sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
            ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
            co = draw(st.sampled_from(CONV_CHANNELS))
            groups = 1
            if c > 1 and draw(st.integers(0, 2)) == 0:
                # grouped or depthwise (groups = c), channel multiplier 1 to 3
                groups = draw(st.sampled_from([g for g in range(2, c + 1) if c % g == 0]))
                co = groups * draw(st.integers(1, 3))
            weight = dyadic(draw, (co, c // groups, kh, kw))
            out = snncore.conv2d_shape(src_shape, weight.shape, (sh, sw), (ph, pw))
            made = _neuron(draw, b, name, out)
            b.conv2d(f"j{k}", src, name, weight, stride=(sh, sw), padding=(ph, pw),
                     groups=groups)
        elif op == "avgpool2d":
            c, h, w = src_shape
            kh, kw = draw(st.integers(1, min(2, h))), draw(st.integers(1, min(2, w)))
            stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            pad = (draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1)))
            out = snncore.avgpool2d_shape(src_shape, (kh, kw), stride, pad)
            made = _neuron(draw, b, name, out)
            gain = dyadic(draw, (c,), 1, 8, 4) if draw(st.booleans()) else None
            b.avgpool2d(f"j{k}", src, name, (kh, kw), stride, pad, gain=gain)
        elif op == "maxpool2d":
            c, h, w = src_shape
            kh, kw = draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w)))
            stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            pad = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
            ceil = draw(st.booleans())
            out = snncore.maxpool2d_shape(src_shape, (kh, kw), stride, pad, ceil)
            made = _neuron(draw, b, name, out)
            gain = dyadic(draw, (c,), 1, 8, 4) if draw(st.booleans()) else None
            b.maxpool2d(f"j{k}", src, name, (kh, kw), stride, pad, ceil, gain=gain)
        elif op == "upsample2d":
            scale = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
            out = snncore.upsample2d_shape(src_shape, scale)
            made = _neuron(draw, b, name, out)
            gain = dyadic(draw, (src_shape[0],), 1, 8, 4) if draw(st.booleans()) else None
            b.upsample2d(f"j{k}", src, name, scale, gain=gain)
        elif op == "dense":
            n_out = draw(st.integers(1, 8))
            out = (n_out,)
            made = _neuron(draw, b, name, out)
            b.dense(f"j{k}", src, name, dyadic(draw, (n_out, int(np.prod(src_shape)))))
        else:
            out = src_shape
            made = _neuron(draw, b, name, out)
            gain = dyadic(draw, (out[0],), 1, 8, 4) if draw(st.booleans()) else None
            b.identity(f"j{k}", src, name, gain)
        # a maxpool2d reads spikes, or the events of a relay fed by a maxpool2d alone
        poolable = made == "spikes" or (op == "maxpool2d" and made == "plain relay")
        # a junction: a second path from an earlier population of a compatible shape
        earlier = [(n, s) for n, s in layers[:-1] if s == out or
                   (len(s) == 3 and len(out) == 3 and s[1:] == out[1:])]
        if earlier and draw(st.booleans()):
            poolable = poolable and made == "spikes"
            skip, skip_shape = draw(st.sampled_from(earlier))
            if skip_shape == out and draw(st.booleans()):
                b.identity(f"skip{k}", skip, name)
            elif len(out) == 3:
                b.conv2d(f"skip{k}", skip, name, dyadic(draw, (out[0], skip_shape[0], 1, 1)))
            else:
                b.identity(f"skip{k}", skip, name)
        layers.append((name, out))

    last, last_shape = layers[-1]
    if draw(st.booleans()):
        k_out = draw(st.integers(1, 5))
        b.population("out", (k_out,), kind="accumulate",
                     bias=dyadic(draw, (k_out,), -4, 4, 16) if draw(st.booleans()) else None)
        b.dense("readout", last, "out", dyadic(draw, (k_out, int(np.prod(last_shape)))))
    else:
        b.population("out", last_shape, kind="if", threshold=draw(st.sampled_from(THRESHOLDS)),
                     reset=draw(st.sampled_from(["subtract", "zero"])))
        b.identity("readout", last, "out")
    return b.build(output="out"), shape


@st.composite
def run_settings(draw, shape, encodings=("analog", "poisson", "regular")):
    """(x, timesteps, encoding, checkpoints, seed, readout_start)."""
    encoding = draw(st.sampled_from(encodings))
    n = draw(st.integers(1, 3))
    lo = -8 if encoding == "analog" else 0
    x = dyadic(draw, (n,) + tuple(shape), lo, 8, 8)
    timesteps = draw(st.integers(1, 24))
    checkpoints = sorted(set(draw(st.lists(st.integers(1, timesteps), max_size=4))) | {timesteps})
    seed = draw(st.integers(0, 2 ** 64 - 1))
    readout_start = draw(st.integers(1, timesteps)) if draw(st.integers(0, 3)) == 0 else 1
    return x, timesteps, encoding, checkpoints, seed, readout_start
