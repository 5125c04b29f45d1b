"""Dense, time-stepped, pure-numpy reference simulator for snncore networks.

This module exists only to test the C engine.  It follows docs/format.md
("Semantics of one run") literally: every population is a dense float32 tensor
of shape (N, C, H, W) (a 1-D population [n] is (N, n, 1, 1)), every step
every population in topological order computes its input current from the
dense event tensors of its sources, and the counters are derived from the
non-zero entries of those event tensors.  Clarity is preferred over speed.

It consumes the *normalised spec* dict (see ``simulate``) and never imports
snncore. Convolution and pooling are scipy's (scipy.signal.correlate with
direct sums, scipy.ndimage.maximum_filter), not loops of its own.
"""

import numpy as np
from scipy import ndimage, signal

__all__ = [
    "simulate",
    "poisson_u24",
    "mix64",
    "conv2d",
    "avgpool2d",
    "maxpool2d",
    "upsample2d",
    "dense",
    "identity",
    "fanout_map",
]

_MASK64 = (1 << 64) - 1
_G = 0x9E3779B97F4A7C15
_PIXEL_MUL = 0xD1B54A32D192ED03
_MIX_M1 = 0xBF58476D1CE4E5B9
_MIX_M2 = 0x94D049BB133111EB


# ---------------------------------------------------------------------------
# Random numbers (poisson encoding)
# ---------------------------------------------------------------------------

def mix64(z):
    """SplitMix64 finaliser.

    Accepts a Python int (exact, returns a Python int in [0, 2**64)) or a
    numpy uint64 array (wrapping arithmetic, returns a uint64 array).
    """
    if isinstance(z, (int, np.integer)) and not isinstance(z, np.ndarray):
        z = int(z) & _MASK64
        z = ((z ^ (z >> 30)) * _MIX_M1) & _MASK64
        z = ((z ^ (z >> 27)) * _MIX_M2) & _MASK64
        return z ^ (z >> 31)
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX_M1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX_M2)
        z = z ^ (z >> np.uint64(31))
    return z


def poisson_u24(seed, image, t, n):
    """The 24-bit uniforms u(seed, image, t, i) for pixels i = 0 .. n-1.

    Returns a uint64 array of shape (n,) with values in [0, 2**24).
    ``image`` is the global image index, ``t`` the 1-based step.
    """
    s_image = mix64((int(seed) + _G * (int(image) + 1)) & _MASK64)
    s_step = mix64((s_image + _G * int(t)) & _MASK64)
    i1 = np.arange(1, int(n) + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(s_step) + np.uint64(_PIXEL_MUL) * i1
    return mix64(z) >> np.uint64(40)


# ---------------------------------------------------------------------------
# Projection ops on dense (N, C, H, W) float32 event tensors
# ---------------------------------------------------------------------------

def _out_size(size, k, s, p, ceil=False):
    """PyTorch's output size; with ceil_mode, a last window starting in the
    right padding is dropped."""
    if not ceil:
        return (size + 2 * p - k) // s + 1
    out = -(-(size + 2 * p - k) // s) + 1
    return out - 1 if (out - 1) * s >= size + p else out


def _padded(ev, kernel, stride, padding, ceil=False, fill=0):
    """(padded, (ho, wo)): ev (N, C, H, W) padded with `fill` on the left by
    `padding` and on the right as far as the windows reach, and the output
    size. Window (oy, ox) is padded[..., oy*sh : oy*sh + kh, ox*sw : ox*sw + kw]."""
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    _, _, h, w = ev.shape
    ho = _out_size(h, kh, sh, ph, ceil)
    wo = _out_size(w, kw, sw, pw, ceil)
    right_h = max(ph, (ho - 1) * sh + kh - h - ph)
    right_w = max(pw, (wo - 1) * sw + kw - w - pw)
    padded = np.pad(ev, ((0, 0), (0, 0), (ph, right_h), (pw, right_w)), constant_values=fill)
    return padded, (ho, wo)


def _window_starts(full, stride, out, offset=(0, 0)):
    """The values of `full` (..., H', W') at the windows' first rows and
    columns (offset by `offset`), (..., ho, wo)."""
    (sh, sw), (ho, wo), (oh, ow) = stride, out, offset
    return full[..., oh::sh, ow::sw][..., :ho, :wo]


def conv2d(ev, weight, stride=(1, 1), padding=(0, 0), groups=1):
    """Cross-correlation as torch.nn.functional.conv2d (zero padding, no bias):
    ev float32 (N, Ci, H, W), weight float32 (Co, Ci / groups, kh, kw); output
    group g (channels g*Co/groups ...) sees input group g alone. Each output
    channel is scipy.signal.correlate's 'valid' correlation of its group's
    channels with its kernel (direct sums, never an FFT)."""
    ev = np.asarray(ev, dtype=np.float32)
    weight = np.asarray(weight, dtype=np.float32)
    co, cig, kh, kw = weight.shape
    assert ev.shape[1] == cig * groups and co % groups == 0, (ev.shape, weight.shape, groups)
    cog = co // groups
    padded, out = _padded(ev, (kh, kw), stride, padding)
    result = np.empty((ev.shape[0], co) + out, dtype=np.float32)
    for o in range(co):
        g = o // cog
        # (N, Cig, Hp, Wp) against (1, Cig, kh, kw): (N, 1, Hp - kh + 1, Wp - kw + 1)
        full = signal.correlate(padded[:, g * cig:(g + 1) * cig], weight[o][None], mode="valid",
                                method="direct")
        result[:, o] = _window_starts(full[:, 0], stride, out)
    return result


def avgpool2d(ev, kernel, stride, padding=(0, 0)):
    """Average pooling with count_include_pad=True: window sum / (kh*kw),
    the sums by scipy.signal.correlate with a window of ones."""
    ev = np.asarray(ev, dtype=np.float32)
    kh, kw = kernel
    padded, out = _padded(ev, kernel, stride, padding)
    ones = np.ones((1, 1, kh, kw), dtype=np.float32)
    total = signal.correlate(padded, ones, mode="valid", method="direct")
    return (_window_starts(total, stride, out) / np.float32(kh * kw)).astype(np.float32)


def maxpool2d(counts, kernel, stride, padding=(0, 0), ceil=False):
    """Largest value of each window of int64 net counts (padding never wins),
    by scipy.ndimage.maximum_filter, whose window of size k at index j starts
    at j - k // 2 (the windows read lie inside the padded array, so its edge
    mode never matters)."""
    kh, kw = kernel
    lowest = np.iinfo(np.int64).min
    padded, out = _padded(counts, kernel, stride, padding, ceil, fill=lowest)
    best = ndimage.maximum_filter(padded, size=(1, 1, kh, kw), mode="nearest")
    return _window_starts(best, stride, out, (kh // 2, kw // 2))


def upsample2d(ev, scale):
    """Nearest-neighbour upsampling: every value repeated sh x sw times."""
    return np.repeat(np.repeat(ev, scale[0], axis=2), scale[1], axis=3)


def dense(ev, weight):
    """W @ flatten_CHW(ev); result shaped (N, out, 1, 1)."""
    ev = np.asarray(ev, dtype=np.float32)
    weight = np.asarray(weight, dtype=np.float32)
    n = ev.shape[0]
    flat = ev.reshape(n, -1)
    assert flat.shape[1] == weight.shape[1], (ev.shape, weight.shape)
    out = (flat @ weight.T).astype(np.float32)
    return out.reshape(n, weight.shape[0], 1, 1)


def identity(ev, gain=None):
    """events * gain[c] (gain None means all ones)."""
    ev = np.asarray(ev, dtype=np.float32)
    if gain is None:
        return ev.copy()
    gain = np.asarray(gain, dtype=np.float32)
    assert gain.shape == (ev.shape[1],), (gain.shape, ev.shape)
    return ev * gain[None, :, None, None]


def _axis_coverage(size, k, s, p, ceil=False):
    """For each source index along one axis: number of output indices whose
    window [o*s - p, o*s - p + k - 1] contains it."""
    out = _out_size(size, k, s, p, ceil)
    cover = np.zeros(size, dtype=np.int64)
    for o in range(out):
        lo = o * s - p
        for pos in range(max(lo, 0), min(lo + k, size)):
            cover[pos] += 1
    return cover


def fanout_map(proj, source_shape, target_shape):
    """Synapses driven by one event at each source neuron: int64 (C, H, W)."""
    c, h, w = source_shape
    op = proj["op"]
    if op in ("conv2d", "avgpool2d", "maxpool2d"):
        kh, kw = proj["kernel"]
        sh, sw = proj["stride"]
        ph, pw = proj["padding"]
        ceil = bool(proj.get("ceil_mode", False))
        cov = np.outer(_axis_coverage(h, kh, sh, ph, ceil), _axis_coverage(w, kw, sw, pw, ceil))
        if op == "conv2d":
            # every output channel of the event's group
            cov = cov * (int(target_shape[0]) // int(proj.get("groups", 1)))
        return np.broadcast_to(cov, (c, h, w)).astype(np.int64)
    if op == "dense":
        return np.full((c, h, w), int(np.prod(target_shape)), dtype=np.int64)
    if op == "identity":
        return np.ones((c, h, w), dtype=np.int64)
    if op == "upsample2d":
        return np.full((c, h, w), int(proj["scale"][0]) * int(proj["scale"][1]), dtype=np.int64)
    raise ValueError("unknown op %r" % (op,))


def _apply(proj, ev):
    op = proj["op"]
    if op == "conv2d":
        return conv2d(ev, proj["weight"], proj["stride"], proj["padding"], proj.get("groups", 1))
    if op == "avgpool2d":
        pooled = avgpool2d(ev, proj["kernel"], proj["stride"], proj["padding"])
        return identity(pooled, proj.get("weight"))
    if op == "dense":
        return dense(ev, proj["weight"])
    if op == "identity":
        return identity(ev, proj.get("weight"))
    if op == "upsample2d":
        return identity(upsample2d(ev, proj["scale"]), proj.get("weight"))
    raise ValueError("unknown op %r" % (op,))


# ---------------------------------------------------------------------------
# Simulation
# ---------------------------------------------------------------------------

def _per_channel(arr, c):
    """(1,) or (C,) array -> float32 (1, C, 1, 1) broadcastable array."""
    arr = np.asarray(arr, dtype=np.float32).reshape(-1)
    if arr.size == 1:
        arr = np.full(c, arr[0], dtype=np.float32)
    assert arr.shape == (c,), (arr.shape, c)
    return arr.reshape(1, c, 1, 1)


def _bias_tensor(bias, shape):
    """Bias (C,) or (C*H*W,) -> float32 tensor broadcastable to (N, C, H, W)."""
    if bias is None:
        return None
    c, h, w = shape
    bias = np.asarray(bias, dtype=np.float32).reshape(-1)
    if bias.size == c:  # per channel (also covers per neuron when H = W = 1)
        return bias.reshape(1, c, 1, 1)
    if bias.size == c * h * w:  # per neuron, CHW order
        return bias.reshape(1, c, h, w)
    raise ValueError("bias of size %d does not fit shape %r" % (bias.size, shape))


def simulate(spec, x, timesteps, encoding="analog", rate=1.0, seed=0,
             checkpoints=None, first_index=0, readout_start=1):
    """Run the network ``spec`` on the batch ``x`` for ``timesteps`` steps.

    x: float32 array (N, C, H, W) or (N, n) matching the input population.
    checkpoints: sorted steps in 1..timesteps (default [timesteps]).

    Returns a dict with
      "output": float32 (N, n_checkpoints, K) decoded output of the output
                population at each checkpoint (K = its size, CHW order);
      "spikes": int64 (N, n_checkpoints, n_populations) cumulative non-zero
                events emitted per population up to each checkpoint;
      "synops": int64 (N, n_checkpoints, n_projections) cumulative synaptic
                operations per projection up to each checkpoint.
    Image n uses the global index first_index + n for the poisson RNG.
    """
    pops = spec["populations"]
    projs = spec["projections"]
    in_idx = int(spec["input"])
    out_idx = int(spec["output"])
    order = [int(p) for p in spec["order"]]
    n_pops, n_projs = len(pops), len(projs)
    timesteps = int(timesteps)
    assert timesteps >= 1
    assert encoding in ("analog", "poisson", "regular"), encoding
    assert order and order[0] == in_idx and sorted(order) == list(range(n_pops))
    assert pops[in_idx]["kind"] == "input"
    assert pops[out_idx]["kind"] in ("if", "accumulate")

    if checkpoints is None:
        checkpoints = [timesteps]
    checkpoints = [int(c) for c in checkpoints]
    assert checkpoints, "need at least one checkpoint"
    assert all(1 <= c <= timesteps for c in checkpoints), checkpoints
    assert all(a < b for a, b in zip(checkpoints, checkpoints[1:])), checkpoints

    shapes = [tuple(int(d) for d in p["shape"]) for p in pops]
    in_shape = shapes[in_idx]
    in_size = int(np.prod(in_shape))
    x = np.asarray(x, dtype=np.float32)
    n_img = x.shape[0]
    x = x.reshape(n_img, in_size)
    x_dense = x.reshape((n_img,) + in_shape)

    incoming = [[] for _ in range(n_pops)]
    for k, pr in enumerate(projs):
        assert 0 <= pr["source"] < n_pops and 0 <= pr["target"] < n_pops
        incoming[int(pr["target"])].append(k)
    fanouts = [fanout_map(pr, shapes[int(pr["source"])], shapes[int(pr["target"])])
               for pr in projs]
    # max pooling: each source's spikes since the run began, and each pool's
    # largest window count so far
    fired = {int(pr["source"]): np.zeros((n_img,) + shapes[int(pr["source"])], np.int64)
             for pr in projs if pr["op"] == "maxpool2d"}
    best = {k: np.zeros((n_img,) + shapes[int(pr["target"])], np.int64)
            for k, pr in enumerate(projs) if pr["op"] == "maxpool2d"}

    # --- per-population state -------------------------------------------
    state = {}
    theta = {}
    theta_n = {}
    net_count = {}
    bias = {}
    pos_count = np.zeros((n_img,) + shapes[out_idx], dtype=np.int64)
    neg_count = np.zeros((n_img,) + shapes[out_idx], dtype=np.int64)
    for p, pop in enumerate(pops):
        c = shapes[p][0]
        kind = pop["kind"]
        if kind in ("if", "relay", "accumulate"):
            bias[p] = _bias_tensor(pop.get("bias"), shapes[p])
        if kind == "if":
            theta[p] = _per_channel(pop["threshold"], c)
            if pop.get("signed", False):
                theta_n[p] = _per_channel(pop["threshold_neg"], c)
            if pop.get("retract", False):      # net spike counts so far, per neuron
                net_count[p] = np.zeros((n_img,) + shapes[p], dtype=np.int64)
            v0 = np.float32(pop.get("v_init", 0.0)) * theta[p]
            state[p] = np.broadcast_to(v0, (n_img,) + shapes[p]).astype(np.float32)
        elif kind == "accumulate":
            state[p] = np.zeros((n_img,) + shapes[p], dtype=np.float32)

    # --- input encoder ---------------------------------------------------
    if encoding in ("poisson", "regular"):
        prob = np.clip(x.astype(np.float64) * float(rate), 0.0, 1.0)  # (N, size)
    if encoding == "poisson":
        threshold24 = prob * float(1 << 24)
    if encoding == "regular":
        prob32 = prob.astype(np.float32)
        phase = np.zeros((n_img, in_size), dtype=np.float32)

    # analog: the current of every projection out of the input is constant,
    # computed once; its synops are counted once (at step 1).
    analog_current = {}

    spikes = np.zeros((n_img, n_pops), dtype=np.int64)
    synops = np.zeros((n_img, n_projs), dtype=np.int64)
    rec_out = np.zeros((n_img, len(checkpoints), int(np.prod(shapes[out_idx]))),
                       dtype=np.float32)
    rec_spk = np.zeros((n_img, len(checkpoints), n_pops), dtype=np.int64)
    rec_syn = np.zeros((n_img, len(checkpoints), n_projs), dtype=np.int64)
    next_cp = 0

    for t in range(1, timesteps + 1):
        events = {}
        if t == readout_start and t > 1:
            # delayed read-out: the output forgets what it gathered so far
            if pops[out_idx]["kind"] == "accumulate":
                state[out_idx] = np.zeros_like(state[out_idx])
            else:
                pos_count = np.zeros_like(pos_count)
                neg_count = np.zeros_like(neg_count)

        # 1. input
        if encoding == "analog":
            events[in_idx] = x_dense
        elif encoding == "poisson":
            sp = np.zeros((n_img, in_size), dtype=np.float32)
            for n in range(n_img):
                u = poisson_u24(seed, first_index + n, t, in_size).astype(np.float64)
                sp[n] = (u < threshold24[n]).astype(np.float32)
            events[in_idx] = sp.reshape((n_img,) + in_shape)
            spikes[:, in_idx] += np.count_nonzero(sp, axis=1)
        else:  # regular
            phase = phase + prob32
            fire = phase >= np.float32(1.0)
            phase = np.where(fire, phase - np.float32(1.0), phase).astype(np.float32)
            sp = fire.astype(np.float32)
            events[in_idx] = sp.reshape((n_img,) + in_shape)
            spikes[:, in_idx] += np.count_nonzero(sp, axis=1)

        # 2. populations in topological order
        for p in order:
            if p == in_idx:
                continue
            kind = pops[p]["kind"]
            current = np.zeros((n_img,) + shapes[p], dtype=np.float32)
            for k in incoming[p]:
                pr = projs[k]
                src = int(pr["source"])
                ev = events[src]
                if pr["op"] == "maxpool2d":
                    pooled = maxpool2d(fired[src], pr["kernel"], pr["stride"], pr["padding"],
                                       bool(pr.get("ceil_mode", False)))
                    term = identity((pooled - best[k]).astype(np.float32), pr.get("weight"))
                    best[k] = pooled
                    synops[:, k] += _synops(ev, fanouts[k])
                elif encoding == "analog" and src == in_idx:
                    if k not in analog_current:
                        analog_current[k] = _apply(pr, ev)
                        synops[:, k] += _synops(ev, fanouts[k])
                    term = analog_current[k]
                else:
                    term = _apply(pr, ev)
                    synops[:, k] += _synops(ev, fanouts[k])
                assert term.shape == current.shape, (pr["name"], term.shape, current.shape)
                current = current + term
            if bias.get(p) is not None:
                current = current + bias[p]

            if kind == "relay":
                events[p] = current
                if p in fired:      # fed by one max pool: one event per change, of its sign
                    fired[p] += np.sign(current).astype(np.int64)
                spikes[:, p] += np.count_nonzero(current.reshape(n_img, -1), axis=1)
            elif kind == "accumulate":
                state[p] = state[p] + current
            elif kind == "if":
                v = state[p] + current
                th = theta[p]
                pos = v >= th
                out = pos.astype(np.float32)
                if pops[p].get("reset", "subtract") == "zero":
                    v = np.where(pos, np.float32(0.0), v)
                else:
                    v = np.where(pos, v - th, v)
                if p in theta_n:
                    thn = theta_n[p]
                    neg = (~pos) & (v <= -thn)
                    if p in net_count:      # retracting: only a spike sent can be taken back
                        neg &= net_count[p] > 0
                    out = out - neg.astype(np.float32)
                    if p in net_count:      # and taking it back restores its theta
                        v = np.where(neg, v + th, v)
                        net_count[p] += out.astype(np.int64)
                    elif pops[p].get("reset", "subtract") == "zero":
                        v = np.where(neg, np.float32(0.0), v)
                    else:
                        v = np.where(neg, v + thn, v)
                else:
                    neg = np.zeros_like(pos)
                state[p] = v.astype(np.float32)
                events[p] = out
                if p in fired:      # net counts: a signed neuron's -1 counts down
                    fired[p] += out.astype(np.int64)
                spikes[:, p] += np.count_nonzero(out.reshape(n_img, -1), axis=1)
                if p == out_idx:
                    pos_count += pos
                    neg_count += neg
            else:
                raise ValueError("population %r: bad kind %r" % (pops[p]["name"], kind))

        # 4. checkpoints
        if next_cp < len(checkpoints) and t == checkpoints[next_cp]:
            tt = np.float32(t - readout_start + 1)
            if t < readout_start:
                dec = np.zeros((n_img,) + shapes[out_idx], dtype=np.float32)
            elif pops[out_idx]["kind"] == "accumulate":
                dec = state[out_idx] / tt
            else:
                dec = (pos_count - neg_count).astype(np.float32) / tt
            rec_out[:, next_cp] = dec.astype(np.float32).reshape(n_img, -1)
            rec_spk[:, next_cp] = spikes
            rec_syn[:, next_cp] = synops
            next_cp += 1

    return {"output": rec_out, "spikes": rec_spk, "synops": rec_syn}


def _synops(ev, fanout):
    """Per image: sum over the non-zero events of the synapses each drives."""
    n = ev.shape[0]
    nz = (ev != 0).reshape(n, -1)
    return nz.astype(np.int64) @ fanout.reshape(-1)
