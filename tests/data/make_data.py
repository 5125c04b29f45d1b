"""Builds the stored networks, inputs, expected runner outputs and the loader corpus
in tests/data. Deterministic: running it again rewrites the same bytes.

    python tests/data/make_data.py        (from the repository root, snncore installed)

What it writes (the Python tests and the C tests share all of it):

- ``<net>.npz`` and ``<net>.x.npy``: six tiny networks that between them use every
  kind, every op (grouped and depthwise convolutions too), both resets, per-channel and per-neuron biases and thresholds,
  signed neurons, a junction, v_init, a delayed read-out hint, accumulate and IF
  read-outs, uint8 images, a deflated file, Fortran-ordered arrays and numpy's own
  zip64 member headers. Weights, thresholds, biases and inputs are dyadic (small
  multiples of a power of two), so every sum is exact in any order.
- ``golden/cases.txt`` and ``golden/<case>.csv``: runs of those networks by
  ``Network.run``, printed as ``snnrun --csv`` prints them; csrc/tests/golden.sh
  compares the C runner's output with them byte for byte, with no Python.
- ``corpus/*.npz`` and ``corpus.tsv``: valid and broken files for the loaders (one
  per refusal of docs/format.md, truncations, bit flips, ...), the seed corpus of
  the C fuzzer. ``corpus.tsv`` gives, for each file, whether the library's loader
  accepts it (``ok``) or refuses it (``refuse``), and for a refusal its status and
  the item at fault (``-``: none).
"""

import copy
import io
import json
import os
import struct
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

import snncore
from snncore.errors import FormatError
from snncore._npz import write_npz

HERE = Path(__file__).resolve().parent
DATE = (1980, 1, 1, 0, 0, 0)


def dyadic(rng, shape, lo, hi, denom):
    """float32 array of integers in lo..hi divided by denom (a power of two)."""
    return (rng.integers(lo, hi + 1, size=shape).astype(np.float32) / np.float32(denom))


# ---------------------------------------------------------------------------
# The stored networks
# ---------------------------------------------------------------------------

def conv_pool_dense():
    """input [2,6,5] -conv2d (kernel 2x3, stride 1x2, padding 1)-> c1 (if, per-channel
    thresholds and bias, v_init 0.5) -avgpool2d (2x2, padding 1)-> p1 (relay)
    -dense-> out (accumulate, per-neuron bias)."""
    rng = np.random.default_rng(11)
    b = snncore.NetworkBuilder((2, 6, 5))
    b.population("c1", (3, 7, 3), threshold=np.array([0.5, 1.0, 0.75], np.float32),
                 reset="subtract", v_init=0.5, bias=np.array([0.125, 0.0, -0.0625], np.float32))
    b.conv2d("c1", "input", "c1", dyadic(rng, (3, 2, 2, 3), -4, 8, 16), stride=(1, 2),
             padding=(1, 1))
    b.population("p1", (3, 4, 2), kind="relay")
    b.avgpool2d("p1", "c1", "p1", 2, padding=1)
    b.population("out", (4,), kind="accumulate", bias=dyadic(rng, (4,), -2, 2, 8))
    b.dense("out", "p1", "out", dyadic(rng, (4, 24), -8, 8, 16))
    return b.build("out", provenance={"norm": "max", "note": "tests/data/make_data.py"})


def signed_zero():
    """input [8] -dense-> h (signed if, per-channel thresholds, reset zero, v_init
    -0.25, bias) -identity (gain)-> out (signed if read-out: net spike counts)."""
    rng = np.random.default_rng(12)
    b = snncore.NetworkBuilder((8,), encoding="regular")
    b.population("h", (6,), threshold=np.array([0.5, 0.75, 1.0, 0.5, 0.25, 1.0], np.float32),
                 reset="zero", v_init=-0.25, bias=dyadic(rng, (6,), -2, 2, 16),
                 signed=True, threshold_neg=0.5)
    b.dense("h", "input", "h", dyadic(rng, (6, 8), -8, 8, 8))
    b.population("out", (6,), threshold=0.5, signed=True,
                 threshold_neg=np.array([0.5, 1.0, 0.5, 1.0, 0.5, 1.0], np.float32))
    b.identity("gain", "h", "out", gain=np.array([1, -1, 0.5, 2, -0.5, 1], np.float32))
    return b.build("out")


def junction():
    """input [2,4,4] -conv2d-> a (if, per-neuron bias) -conv2d-> b (if) <-identity
    (gain)- a (a residual junction), b -avgpool2d (gain)-> p (relay) -dense-> out."""
    rng = np.random.default_rng(13)
    b = snncore.NetworkBuilder((2, 4, 4))
    b.population("a", (4, 4, 4), threshold=1.0, bias=dyadic(rng, (4, 4, 4), -2, 2, 16))
    b.conv2d("a", "input", "a", dyadic(rng, (4, 2, 3, 3), -4, 8, 16), padding=1)
    b.population("b", (4, 4, 4), threshold=np.array([1.0, 0.5, 1.0, 0.75], np.float32))
    b.conv2d("ab", "a", "b", dyadic(rng, (4, 4, 3, 3), -4, 6, 16), padding=1)
    b.identity("skip", "a", "b", gain=np.array([0.5, 1.0, 0.25, 1.0], np.float32))
    b.population("p", (4, 2, 2), kind="relay")
    b.avgpool2d("p", "b", "p", 2, gain=np.array([1.0, 2.0, 0.5, 1.0], np.float32))
    b.population("out", (3,), kind="accumulate")
    b.dense("out", "p", "out", dyadic(rng, (3, 16), -8, 8, 16))
    return b.build("out", provenance={"norm": "percentile", "percentile": 99.9,
                                      "nested": {"list": [1, 2.5, None, True, "é"]}})


def uint8_readout():
    """uint8 images [1,6,6] scaled by 1/16 -conv2d (stride 2)-> c (if, per-channel
    thresholds, reset zero) -dense-> out (if read-out), read out from step 3."""
    rng = np.random.default_rng(14)
    b = snncore.NetworkBuilder((1, 6, 6), rate=0.5, uint8_scale=1.0 / 16)
    b.population("c", (2, 2, 2), threshold=np.array([0.5, 1.0], np.float32), reset="zero")
    b.conv2d("c", "input", "c", dyadic(rng, (2, 1, 3, 3), -2, 6, 8), stride=2)
    b.population("out", (3,), threshold=0.5)
    b.dense("out", "c", "out", dyadic(rng, (3, 8), -4, 8, 8))
    return b.build("out", readout_start=3)


def relay_fortran_arrays():
    """input [2,4,4] -avgpool2d (2x1)-> pool (relay fed by the input) -identity-> s
    (if) -dense-> out (accumulate); written by numpy-style code with Fortran-ordered
    arrays and zip64 local headers (as numpy.savez writes them)."""
    rng = np.random.default_rng(15)
    b = snncore.NetworkBuilder((2, 4, 4))
    b.population("pool", (2, 2, 4), kind="relay", bias=dyadic(rng, (2, 2, 4), -1, 1, 16))
    b.avgpool2d("pool", "input", "pool", (2, 1))
    b.population("s", (2, 2, 4), threshold=0.5)
    b.identity("s", "pool", "s")
    b.population("out", (3,), kind="accumulate", bias=dyadic(rng, (3,), -2, 2, 8))
    b.dense("out", "s", "out", dyadic(rng, (3, 16), -8, 8, 16))
    return b.build("out")


def maxpool_upsample():
    """input [2,9,9] -conv2d (3x3, padding 1)-> c (if) -maxpool2d (3x3, stride 2,
    padding 1, gain)-> m (relay) and -maxpool2d (2x2, stride 2, ceil_mode)-> n (relay);
    m and n -conv2d-> h (if, a junction), and m -upsample2d (x2, gain)-> u (relay)
    -conv2d (2x2, stride 2)-> h; h -dense-> out (accumulate): torchvision's stem, a
    ceil-mode pool (SqueezeNet's) and a detection neck's upsampling."""
    rng = np.random.default_rng(16)
    b = snncore.NetworkBuilder((2, 9, 9))
    b.population("c", (4, 9, 9), threshold=np.array([0.5, 1.0, 0.75, 0.25], np.float32))
    b.conv2d("c", "input", "c", dyadic(rng, (4, 2, 3, 3), -4, 8, 16), padding=1)
    b.population("m", (4, 5, 5), kind="relay")
    b.maxpool2d("m", "c", "m", 3, stride=2, padding=1, gain=dyadic(rng, (4,), 1, 8, 4))
    b.population("n", (4, 5, 5), kind="relay")
    b.maxpool2d("n", "c", "n", 2, stride=2, ceil_mode=True)
    b.population("h", (3, 5, 5), threshold=0.5)
    b.conv2d("hm", "m", "h", dyadic(rng, (3, 4, 3, 3), -4, 8, 16), padding=1)
    b.conv2d("hn", "n", "h", dyadic(rng, (3, 4, 1, 1), -4, 8, 16))
    b.population("u", (4, 10, 10), kind="relay")
    b.upsample2d("u", "m", "u", 2, gain=dyadic(rng, (4,), 1, 8, 4))
    b.conv2d("hu", "u", "h", dyadic(rng, (3, 4, 2, 2), -4, 8, 16), stride=2)
    b.population("out", (3,), kind="accumulate")
    b.dense("out", "h", "out", dyadic(rng, (3, 75), -8, 8, 16))
    return b.build("out")


def grouped():
    """input [4,6,6] -depthwise conv2d (3x3, padding 1, groups 4, channel multiplier
    2)-> a (if) -grouped conv2d (3x3, stride 2, padding 1, groups 2)-> b (if, reset
    zero) -dense-> out (accumulate)."""
    rng = np.random.default_rng(16)
    b = snncore.NetworkBuilder((4, 6, 6))
    b.population("a", (8, 6, 6), threshold=0.5, bias=dyadic(rng, (8,), -2, 2, 16))
    b.conv2d("dw", "input", "a", dyadic(rng, (8, 1, 3, 3), -4, 8, 8), padding=1, groups=4)
    b.population("b", (4, 3, 3), threshold=np.array([0.5, 1.0, 0.75, 0.5], np.float32),
                 reset="zero")
    b.conv2d("g2", "a", "b", dyadic(rng, (4, 4, 3, 3), -4, 8, 16), stride=2, padding=1,
             groups=2)
    b.population("out", (3,), kind="accumulate")
    b.dense("out", "b", "out", dyadic(rng, (3, 36), -8, 8, 16))
    return b.build("out")


def signed_maxpool():
    """input [2,8,8] -conv2d (3x3, padding 1)-> s (signed if: a leaky ReLU's
    neurons, per-channel thresholds) -maxpool2d (2x2, gain)-> m (relay) -maxpool2d
    (2x2, stride 1, padding 1)-> mm (relay, nested) -conv2d (1x1)-> out
    (accumulate [5,5,5]): Spiking-YOLO's conv-leaky ReLU-maxpool and a grid head."""
    rng = np.random.default_rng(17)
    b = snncore.NetworkBuilder((2, 8, 8))
    b.population("s", (4, 8, 8), threshold=np.array([0.5, 1.0, 0.75, 0.25], np.float32),
                 signed=True, threshold_neg=np.array([2.5, 5.0, 3.75, 1.25], np.float32),
                 bias=dyadic(rng, (4,), -2, 1, 16))
    b.conv2d("s", "input", "s", dyadic(rng, (4, 2, 3, 3), -8, 6, 16), padding=1)
    b.population("m", (4, 4, 4), kind="relay")
    b.maxpool2d("m", "s", "m", 2, gain=dyadic(rng, (4,), 1, 8, 4))
    b.population("mm", (4, 5, 5), kind="relay")
    b.maxpool2d("mm", "m", "mm", 2, stride=1, padding=1)
    b.population("out", (5, 5, 5), kind="accumulate")
    b.conv2d("head", "mm", "out", dyadic(rng, (5, 4, 1, 1), -8, 8, 8))
    return b.build("out")


def retracting():
    """input [2,6,6] -conv2d (3x3, padding 1)-> r (retracting if, 16 channels, half
    start, per-channel thresholds, bias) -conv2d (3x3, stride 2, padding 1)-> r2
    (retracting if, 32 channels) -dense-> out (accumulate [4]): a converted ReLU net
    with retract=True, wide enough that every kernel set takes its vector paths."""
    rng = np.random.default_rng(18)
    b = snncore.NetworkBuilder((2, 6, 6))
    theta = dyadic(rng, (16,), 2, 8, 4)
    b.population("r", (16, 6, 6), threshold=theta, v_init=0.5, signed=True,
                 threshold_neg=theta / 2, retract=True, bias=dyadic(rng, (16,), -2, 2, 16))
    b.conv2d("r", "input", "r", dyadic(rng, (16, 2, 3, 3), -8, 8, 8), padding=1)
    b.population("r2", (32, 3, 3), threshold=1.0, v_init=0.5, signed=True, threshold_neg=0.5,
                 retract=True)
    b.conv2d("r2", "r", "r2", dyadic(rng, (32, 16, 3, 3), -4, 4, 16), stride=2, padding=1)
    b.population("out", (4,), kind="accumulate")
    b.dense("out", "r2", "out", dyadic(rng, (4, 288), -8, 8, 16))
    return b.build("out")


def save_numpy_style(net, path):
    """Members as numpy.savez writes them (zip64 local headers), arrays of 2 or more
    dimensions in Fortran order."""
    meta, arrays = net._to_file()
    raw = json.dumps(meta).encode("utf-8")
    members = [("__snncore__", np.frombuffer(raw, np.uint8))]
    members += [(k, np.asfortranarray(v)) for k, v in arrays.items()]
    with open(path, "wb") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key, arr in members:
                info = zipfile.ZipInfo(key + ".npy", date_time=DATE)
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, arr, allow_pickle=False)


NETS = {
    # name: (builder, how it is written)
    "conv_pool_dense": (conv_pool_dense, "stored"),
    "signed_zero": (signed_zero, "stored"),
    "junction": (junction, "deflated"),
    "uint8_readout": (uint8_readout, "stored"),
    "relay_fortran": (relay_fortran_arrays, "numpy"),
    "maxpool_upsample": (maxpool_upsample, "deflated"),
    # named to sort last: make_inputs seeds each network's images by its place in
    # sorted(NETS), so a later name leaves the other networks' files unchanged
    "zz_groups": (grouped, "stored"),
    "zz_signed_maxpool": (signed_maxpool, "deflated"),
    "zzz_retract": (retracting, "stored"),
}


def make_inputs(name, net):
    rng = np.random.default_rng(100 + sorted(NETS).index(name))
    shape = (3,) + net.input_shape
    if name == "uint8_readout":
        return rng.integers(0, 17, size=shape).astype(np.uint8)   # x/16 in [0, 1]
    return dyadic(rng, shape, 0, 8, 8)


# (case, net, encoding, timesteps, checkpoints, extra snnrun arguments, run() keywords)
CASES = []
for _net in sorted(NETS):
    for _enc in ("analog", "regular", "poisson"):
        CASES.append((f"{_net}.{_enc}", _net, _enc, 16, (4, 9, 16), ["--seed", "7"], {"seed": 7}))
CASES.append(("uint8_readout.readout1", "uint8_readout", "analog", 12, (2, 5), ["--readout-start", "1"],
              {"readout_start": 1}))
CASES.append(("junction.rate", "junction", "regular", 10, (), ["--rate", "0.5"], {"rate": 0.5}))


def golden_csv(net, x, encoding, timesteps, checkpoints, kwargs):
    """What `snnrun NET X --csv` prints for this run (floats as %.9g: exact for float32)."""
    res = net.run(x, timesteps, encoding=encoding, checkpoints=list(checkpoints) or None,
                  threads=1, **kwargs)
    out = res.outputs
    spikes, synops = res.spikes.raw, res.synaptic_ops.raw
    n, n_cp, k = out.shape
    header = (["image", "t", "prediction"] + ["y%d" % i for i in range(k)]
              + ["spikes%d" % i for i in range(spikes.shape[2])]
              + ["synops%d" % i for i in range(synops.shape[2])])
    lines = [",".join(header)]
    for i in range(n):
        for c in range(n_cp):
            row = [str(i), str(int(res.checkpoints[c])), str(int(np.argmax(out[i, c])))]
            row += ["%.9g" % float(v) for v in out[i, c]]
            row += [str(int(v)) for v in spikes[i, c]]
            row += [str(int(v)) for v in synops[i, c]]
            lines.append(",".join(row))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# The loader corpus
# ---------------------------------------------------------------------------

def base_network():
    """input [2,4,4] -conv-> c1 (if) -pool-> p1 (relay) -dense-> out (accumulate [3]),
    plus a signed if population fed by an identity projection."""
    arrays = {
        "c1.weight": np.full((3, 2, 3, 3), 0.125, np.float32),
        "c1.threshold": np.array([1.0, 0.5, 2.0], np.float32),
        "c1.bias": np.array([0.0, 0.25, -0.25], np.float32),
        "out.weight": np.full((3, 12), 0.5, np.float32),
        "out.bias": np.zeros(3, np.float32),
        "s.gain": np.ones(3, np.float32),
    }
    meta = {
        "format": "snncore", "version": 1, "producer": "tests/data/make_data.py",
        "input": {"population": "input", "encoding": "analog", "rate": 1.0,
                  "uint8_scale": 0.00392156862745098},
        "output": "out",
        "populations": [
            {"name": "input", "kind": "input", "shape": [2, 4, 4]},
            {"name": "c1", "kind": "if", "shape": [3, 4, 4], "threshold": "c1.threshold",
             "reset": "subtract", "v_init": 0.0, "bias": "c1.bias"},
            {"name": "p1", "kind": "relay", "shape": [3, 2, 2]},
            {"name": "s", "kind": "if", "shape": [3, 2, 2], "threshold": 1.0,
             "signed": True, "threshold_neg": 0.5},
            {"name": "out", "kind": "accumulate", "shape": [3], "bias": "out.bias"},
        ],
        "projections": [
            {"name": "c1", "op": "conv2d", "source": "input", "target": "c1",
             "weight": "c1.weight", "stride": [1, 1], "padding": [1, 1]},
            {"name": "p1", "op": "avgpool2d", "source": "c1", "target": "p1",
             "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]},
            {"name": "s", "op": "identity", "source": "p1", "target": "s", "weight": "s.gain"},
            {"name": "out", "op": "dense", "source": "p1", "target": "out",
             "weight": "out.weight"},
        ],
        "provenance": {"norm": "max"},
    }
    return meta, arrays


def npy_bytes(arr, allow_pickle=False, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=allow_pickle)
    return buf.getvalue()


def raw_npy(descr, shape, data, fortran=False, major=1):
    """A .npy file with a hand-written header."""
    header = "{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (descr, fortran, shape)
    fmt = "<H" if major == 1 else "<I"
    pre = 8 + struct.calcsize(fmt)
    pad = 64 - (pre + len(header) + 1) % 64
    header = (header + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY" + bytes([major, 0]) + struct.pack(fmt, len(header)) + header + data


def make_zip(members, compression=zipfile.ZIP_STORED, comment=b"", zip64=False):
    """members: list of (member name, bytes); fixed dates, so the bytes are reproducible."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression, allowZip64=True) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=DATE)
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=zip64) as out:
                out.write(data)
        zf.comment = comment
    return buf.getvalue()


def meta_text(meta):
    return json.dumps(meta).encode("utf-8")


def members_of(meta, arrays, raw_meta=None, extra=()):
    members = [("__snncore__.npy", npy_bytes(np.frombuffer(
        raw_meta if raw_meta is not None else meta_text(meta), np.uint8)))]
    members += [(k + ".npy", npy_bytes(v)) for k, v in arrays.items()]
    return members + list(extra)


def file_of(meta, arrays, compressed=False):
    buf = io.BytesIO()
    write_npz(buf, meta, arrays, compressed=compressed)
    return buf.getvalue()


def pop(meta, name):
    return next(p for p in meta["populations"] if p["name"] == name)


def proj(meta, name):
    return next(p for p in meta["projections"] if p["name"] == name)


def edited(edit):
    """A file of the base network after edit(meta, arrays)."""
    meta, arrays = base_network()
    meta, arrays = copy.deepcopy(meta), {k: v.copy() for k, v in arrays.items()}
    result = edit(meta, arrays)
    if result is not None:
        return result
    return make_zip(members_of(meta, arrays))


def raw_meta_file(text):
    meta, arrays = base_network()
    return make_zip(members_of(meta, arrays, raw_meta=text))


def set_in(path, value):
    def edit(meta, arrays):
        obj = meta
        for k in path[:-1]:
            obj = obj[k] if not isinstance(k, tuple) else (pop(meta, k[1]) if k[0] == "pop"
                                                           else proj(meta, k[1]))
        if value is DELETE:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value
    return edit


DELETE = object()


def P(name):
    return ("pop", name)


def J(name):
    return ("proj", name)


def corpus_cases():
    """(file name, bytes) of each corpus file."""
    meta, arrays = base_network()
    stored = file_of(meta, arrays)
    deflated = file_of(meta, arrays, compressed=True)
    cases = []

    def add(name, data):
        cases.append((name, data))

    # valid files
    add("ok_stored.npz", stored)
    add("ok_deflated.npz", deflated)
    add("ok_zip64_headers.npz", make_zip(members_of(meta, arrays), zip64=True))
    add("ok_npy_version2.npz", make_zip(
        [(n, npy_bytes(np.load(io.BytesIO(d)), version=(2, 0))) for n, d in members_of(meta, arrays)]))
    add("ok_archive_comment.npz", make_zip(members_of(meta, arrays), comment=b"a comment"))

    def threshold_0d(m, a):
        a["c1.threshold"] = np.array(0.75, np.float32)
    add("ok_threshold_0d.npz", edited(threshold_0d))

    def unreferenced(m, a):
        a["extra.unused"] = np.full((2, 2), np.nan, np.float32)   # not referenced: not checked
    add("ok_unreferenced_nan.npz", edited(unreferenced))

    def unicode_names(m, a):
        for p in m["populations"]:
            if p["name"] == "c1":
                p["name"] = "couche_é"
        for q in m["projections"]:
            if q["target"] == "c1":
                q["target"] = "couche_é"
            if q["source"] == "c1":
                q["source"] = "couche_é"
        a["poids_é"] = a.pop("c1.weight")
        proj(m, "c1")["weight"] = "poids_é"
    add("ok_unicode_names.npz", edited(unicode_names))

    def hints(m, a):
        m["input"]["a_new_hint"] = [1, 2]
        m["a_new_top_level_key"] = {"x": 1}
        m["readout"] = {"start": 4, "later": True}
    add("ok_unknown_hints.npz", edited(hints))

    def fortran(m, a):
        return make_zip([("__snncore__.npy", npy_bytes(np.frombuffer(meta_text(m), np.uint8)))]
                        + [(k + ".npy", npy_bytes(np.asfortranarray(v))) for k, v in a.items()])
    add("ok_fortran_arrays.npz", edited(fortran))

    def long_unicode_name(m, a):
        p = pop(m, "p1")
        p["name"] = "\u00e9" * 200                   # 200 characters, 400 bytes of UTF-8
        for q in m["projections"]:
            for end in ("source", "target"):
                if q[end] == "p1":
                    q[end] = p["name"]
    add("ok_name_200_characters.npz", edited(long_unicode_name))
    add("ok_tiny_number.npz", raw_meta_file(
        meta_text(meta).replace(b'"v_init": 0.0', b'"v_init": 1e-999')))

    def cp437_name():
        # a member name in the zip's default code page (no UTF-8 flag): b"\x82" is "é"
        m, a = base_network()
        m = copy.deepcopy(m)
        proj(m, "out")["weight"] = "\u00e9"
        data = bytearray(make_zip(members_of(m, {("Z" if k == "out.weight" else k): v
                                                 for k, v in a.items()})))
        at = data.find(b"Z.npy")
        while at >= 0:
            data[at] = 0x82
            at = data.find(b"Z.npy", at + 1)
        return bytes(data)
    add("ok_cp437_member_name.npz", cp437_name())

    class _Unseekable(io.RawIOBase):
        def __init__(self):
            self.buf = io.BytesIO()

        def writable(self):
            return True

        def write(self, b):
            return self.buf.write(b)

    def data_descriptors():
        out = _Unseekable()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, body in members_of(meta, arrays):
                zf.writestr(zipfile.ZipInfo(name, date_time=DATE), body)
        return out.buf.getvalue()
    add("ok_data_descriptors.npz", data_descriptors())

    # what the strict JSON, .npy and zip parsers refuse although Python's own
    # libraries read it (docs/format.md), and metadata nested too deeply
    add("strict_nul_in_provenance.npz", edited(set_in(["provenance", "note"], "a\x00b")))
    add("strict_lone_surrogate.npz", raw_meta_file(
        meta_text(meta).replace(b'"producer": "tests/data/make_data.py"', b'"producer": "\\ud800"')))
    add("strict_big_int_provenance.npz", edited(set_in(["provenance", "n"], 10 ** 30)))
    for depth in (100, 600):
        deep = meta_text(meta).replace(b'"norm": "max"', b'"deep": ' + b"[" * depth + b"]" * depth)
        add("metadata_nested_%d.npz" % depth, raw_meta_file(deep))

    def descr_f4(m, a):
        body = np.ascontiguousarray(a.pop("out.bias")).tobytes()
        return make_zip(members_of(m, a, extra=[("out.bias.npy", raw_npy("f4", (3,), body))]))
    add("strict_descr_spelling.npz", edited(descr_f4))

    def unicode_path_field():
        # an Info-ZIP Unicode path extra field naming the member "out.weight.npy" although
        # its name is "z.npy": Python's zipfile ignores the field, libzip uses it
        import zlib
        m, a = base_network()
        a = dict(a)
        a["z"] = a.pop("out.weight")
        proj(m, "out")["weight"] = "z"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, body in members_of(m, a):
                info = zipfile.ZipInfo(name, date_time=DATE)
                if name == "z.npy":
                    alias = b"out.weight.npy"
                    field = struct.pack("<BI", 1, zlib.crc32(name.encode())) + alias
                    info.extra = struct.pack("<HH", 0x7075, len(field)) + field
                zf.writestr(info, body)
        return buf.getvalue()
    add("strict_unicode_path_field.npz", unicode_path_field())

    # the container
    add("empty.npz", b"")
    add("random_bytes.npz", np.random.default_rng(0).bytes(2048))
    add("text.npz", b"this is not a network\n")
    for k, frac in enumerate((0.1, 0.3, 0.5, 0.7, 0.9, 0.99)):
        add("truncated_stored_%d.npz" % k, stored[:int(len(stored) * frac)])
        add("truncated_deflated_%d.npz" % k, deflated[:int(len(deflated) * frac)])
    rng = np.random.default_rng(5)
    for k in range(16):
        for label, data in (("stored", stored), ("deflated", deflated)):
            d = bytearray(data)
            pos = int(rng.integers(0, len(d)))
            d[pos] ^= 1 << int(rng.integers(0, 8))
            # Python reads only the central directory's copy of a member's dates and
            # CRC; the C loader also wants the local header to agree (libzip's
            # consistency check), so a flip there may be refused by C alone.
            add("bitflip_%s_%02d.npz" % (label, k), bytes(d))
    add("no_metadata.npz", make_zip([(k + ".npy", npy_bytes(v)) for k, v in arrays.items()]))
    add("metadata_not_json.npz", raw_meta_file(b"{not json"))
    add("metadata_not_utf8.npz", raw_meta_file(b'{"format": "snn\xffcore"}'))
    add("metadata_json_array.npz", raw_meta_file(b"[1, 2, 3]"))
    add("metadata_nan.npz", raw_meta_file(meta_text(meta).replace(b'"v_init": 0.0', b'"v_init": NaN')))
    add("metadata_huge_float.npz", raw_meta_file(
        meta_text(meta).replace(b'"v_init": 0.0', b'"v_init": 1e999')))
    add("metadata_duplicate_key.npz", raw_meta_file(
        meta_text(meta).replace(b'"v_init": 0.0', b'"v_init": 0.0, "v_init": 0.5')))
    add("metadata_deeply_nested.npz", raw_meta_file(b"[" * 3000))
    add("metadata_duplicate_escaped_key.npz", raw_meta_file(
        meta_text(meta).replace(b'"v_init": 0.0', b'"v_init": 0.0, "v_\\u0069nit": 0.5')))
    add("metadata_formfeed.npz", raw_meta_file(b"\x0c" + meta_text(meta)))
    add("metadata_bom.npz", raw_meta_file(b"\xef\xbb\xbf" + meta_text(meta)))
    add("name_201_characters.npz", edited(set_in([P("p1"), "name"], "\u00e9" * 201)))
    add("metadata_trailing_text.npz", raw_meta_file(meta_text(meta) + b" x"))
    add("metadata_control_char.npz", raw_meta_file(
        meta_text(meta).replace(b'"max"', b'"m\x01x"')))
    add("metadata_int32.npz", make_zip(
        [("__snncore__.npy", npy_bytes(np.frombuffer(meta_text(meta), np.uint8).astype(np.int32)))]
        + [(k + ".npy", npy_bytes(v)) for k, v in arrays.items()]))
    add("metadata_2d.npz", make_zip(
        [("__snncore__.npy", npy_bytes(np.frombuffer(meta_text(meta), np.uint8)[None]))]
        + [(k + ".npy", npy_bytes(v)) for k, v in arrays.items()]))

    def replace_member(name, body):
        def edit(m, a):
            del a[name[:-4]]
            return make_zip(members_of(m, a, extra=[(name, body)]))
        return edit
    add("member_float64.npz", edited(replace_member(
        "c1.weight.npy", npy_bytes(np.full((3, 2, 3, 3), 0.125, np.float64)))))
    add("member_int32.npz", edited(replace_member("out.bias.npy", npy_bytes(np.zeros(3, np.int32)))))
    add("member_big_endian.npz", edited(replace_member(
        "out.bias.npy", npy_bytes(np.zeros(3, ">f4")))))
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = "a", "b"
    add("member_object_pickle.npz", edited(replace_member(
        "out.bias.npy", npy_bytes(obj, allow_pickle=True))))

    def extra_member(name, body):
        def edit(m, a):
            return make_zip(members_of(m, a, extra=[(name, body)]))
        return edit
    add("npy_huge_shape.npz", edited(extra_member("big.npy", raw_npy("<f4", (2 ** 40,), b"\0" * 16))))
    add("npy_shape_overflow.npz", edited(extra_member(
        "big.npy", raw_npy("<f4", (2 ** 31, 2 ** 31, 2 ** 31), b"\0" * 16))))
    add("npy_declares_less.npz", edited(extra_member("x.npy", raw_npy("<f4", (2,), b"\0" * 16))))
    add("npy_broken_header.npz", edited(extra_member(
        "x.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': <f4'}\n")))
    add("npy_bad_magic.npz", edited(extra_member("x.npy", b"PK hello")))
    add("npy_version3.npz", edited(extra_member(
        "x.npy", b"\x93NUMPY\x03\x00" + raw_npy("<f4", (1,), b"\0" * 4)[8:])))
    add("npy_header_too_long.npz", edited(extra_member(
        "x.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 2 ** 31) + b" " * 64)))
    add("npy_header_truncated.npz", edited(extra_member("x.npy", b"\x93NUMPY\x01\x00\x40\x00{'de")))
    add("npy_data_truncated.npz", edited(extra_member(
        "x.npy", raw_npy("<f4", (8,), b"\0" * 16))))
    add("npy_extra_key.npz", edited(extra_member("x.npy", raw_npy("<f4", (1,), b"\0" * 4).replace(
        b"'shape': (1,), }", b"'shape': (1,), 'x': 1}"))))
    add("member_not_npy.npz", edited(extra_member("notes.txt", b"hi")))
    add("member_with_slash.npz", edited(extra_member("dir/x.npy", npy_bytes(np.zeros(2, np.float32)))))
    add("member_empty_name.npz", edited(extra_member(".npy", npy_bytes(np.zeros(1, np.float32)))))
    add("member_reserved_name.npz", edited(extra_member(
        "__other__.npy", npy_bytes(np.zeros(2, np.float32)))))
    add("member_duplicate.npz", edited(extra_member(
        "out.bias.npy", npy_bytes(np.zeros(3, np.float32)))))
    add("member_bzip2.npz", make_zip(members_of(meta, arrays), compression=zipfile.ZIP_BZIP2))
    add("member_lzma.npz", make_zip(members_of(meta, arrays), compression=zipfile.ZIP_LZMA))

    def encrypted():
        data = bytearray(stored)
        for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = data.find(sig)
            while at >= 0:
                data[at + flag_at] |= 1
                at = data.find(sig, at + 4)
        return bytes(data)
    add("member_encrypted.npz", encrypted())

    def impossible_ratio():
        data = bytearray(make_zip([("__snncore__.npy", npy_bytes(np.frombuffer(meta_text(meta),
                                                                                np.uint8))),
                                   ("z.npy", npy_bytes(np.zeros(1000, np.float32)))],
                                  compression=zipfile.ZIP_DEFLATED))
        cd = data.rfind(b"PK\x01\x02")
        struct.pack_into("<I", data, cd + 24, 0xFFFFFFF0)
        return bytes(data)
    add("deflate_ratio_impossible.npz", impossible_ratio())

    # the metadata header and top level
    add("version_2.npz", edited(set_in(["version"], 2)))
    add("version_string.npz", edited(set_in(["version"], "1")))
    add("version_float.npz", edited(set_in(["version"], 1.0)))
    add("version_bool.npz", edited(set_in(["version"], True)))
    add("version_0.npz", edited(set_in(["version"], 0)))
    add("version_missing.npz", edited(set_in(["version"], DELETE)))
    add("format_wrong.npz", edited(set_in(["format"], "keras")))
    add("populations_not_list.npz", edited(set_in(["populations"], {"input": {}})))
    add("output_missing.npz", edited(set_in(["output"], DELETE)))
    add("no_populations.npz", edited(set_in(["populations"], [])))
    add("producer_not_string.npz", edited(set_in(["producer"], 3)))
    add("provenance_not_object.npz", edited(set_in(["provenance"], [1])))
    add("readout_start_0.npz", edited(set_in(["readout"], {"start": 0})))
    add("readout_not_object.npz", edited(set_in(["readout"], 3)))

    # populations
    def drop_array(name):
        def edit(m, a):
            del a[name]
        return edit
    add("array_missing.npz", edited(drop_array("c1.weight")))

    def set_array(name, value):
        def edit(m, a):
            a[name] = value
        return edit
    add("conv_weight_shape.npz", edited(set_array("c1.weight", np.zeros((3, 5, 3, 3), np.float32))))
    add("conv_weight_rank.npz", edited(set_array("c1.weight", np.zeros((3, 2, 9), np.float32))))
    add("conv_weight_empty.npz", edited(set_array("c1.weight", np.zeros((0, 2, 3, 3), np.float32))))
    add("dense_weight_shape.npz", edited(set_array("out.weight", np.zeros((3, 13), np.float32))))
    add("dense_output_mismatch.npz", edited(set_array("out.weight", np.zeros((4, 12), np.float32))))
    w = np.full((3, 2, 3, 3), 0.125, np.float32)
    w[0, 0, 0, 0] = np.nan
    add("nan_weight.npz", edited(set_array("c1.weight", w)))
    add("inf_bias.npz", edited(set_array("out.bias", np.array([0, np.inf, 0], np.float32))))
    add("threshold_zero.npz", edited(set_in([P("s"), "threshold"], 0)))
    add("threshold_array_negative.npz", edited(set_array(
        "c1.threshold", np.array([1.0, -0.5, 2.0], np.float32))))
    add("threshold_neg_negative.npz", edited(set_in([P("s"), "threshold_neg"], -1.0)))
    add("threshold_float32_overflow.npz", edited(set_in([P("s"), "threshold"], 1e39)))
    add("threshold_float32_underflow.npz", edited(set_in([P("s"), "threshold"], 1e-50)))
    add("threshold_shape.npz", edited(set_array("c1.threshold", np.ones(2, np.float32))))
    add("threshold_missing.npz", edited(set_in([P("c1"), "threshold"], DELETE)))
    add("threshold_bool.npz", edited(set_in([P("s"), "threshold"], True)))
    add("bias_shape.npz", edited(set_array("c1.bias", np.zeros((3, 4), np.float32))))
    add("bias_number.npz", edited(set_in([P("c1"), "bias"], 0.5)))
    add("array_reference_reserved.npz", edited(set_in([P("c1"), "bias"], "__snncore__")))
    add("array_reference_slash.npz", edited(set_in([P("c1"), "bias"], "a/b")))
    add("unknown_op.npz", edited(set_in([J("out"), "op"], "matmul")))
    add("unknown_kind.npz", edited(set_in([P("p1"), "kind"], "lif")))
    add("unknown_reset.npz", edited(set_in([P("c1"), "reset"], "half")))
    add("unknown_encoding.npz", edited(set_in(["input", "encoding"], "latency")))
    add("unknown_population_key.npz", edited(set_in([P("c1"), "thresold"], 1.0)))
    add("unknown_projection_key.npz", edited(set_in([J("c1"), "dilation"], [1, 1])))
    add("key_not_for_kind.npz", edited(set_in([P("p1"), "threshold"], 1.0)))
    add("bias_on_input.npz", edited(set_in([P("input"), "bias"], "out.bias")))
    add("stride_on_dense.npz", edited(set_in([J("out"), "stride"], [1, 1])))
    add("kernel_on_conv.npz", edited(set_in([J("c1"), "kernel"], [3, 3])))
    add("shape_bool.npz", edited(set_in([P("input"), "shape"], [True, 4, 4])))
    add("shape_float.npz", edited(set_in([P("p1"), "shape"], [3, 2.0, 2])))
    add("shape_rank.npz", edited(set_in([P("p1"), "shape"], [3, 4])))
    add("shape_dim_zero.npz", edited(set_in([P("p1"), "shape"], [3, 0, 2])))
    add("shape_dim_too_large.npz", edited(set_in([P("out"), "shape"], [2 ** 24 + 1])))
    add("population_2_40_neurons.npz", edited(set_in([P("p1"), "shape"], [2 ** 14, 2 ** 13, 2 ** 13])))

    def state_too_big(m, a):
        for k in range(3):
            m["populations"].append({"name": "big%d" % k, "kind": "relay", "shape": [2 ** 12, 2 ** 8, 2 ** 8]})
    add("state_over_memory_limit.npz", edited(state_too_big))
    add("name_too_long.npz", edited(set_in([P("p1"), "name"], "p" * 201)))
    add("name_empty.npz", edited(set_in([J("out"), "name"], "")))
    add("name_with_nul.npz", edited(set_in([P("p1"), "name"], "p\x00")))
    add("name_not_string.npz", edited(set_in([P("p1"), "name"], 7)))

    def pop_not_object(m, a):
        m["populations"][2] = ["p1", "relay"]
    add("population_not_object.npz", edited(pop_not_object))
    add("duplicate_population.npz", edited(set_in([P("s"), "name"], "p1")))
    add("duplicate_projection.npz", edited(set_in([J("s"), "name"], "out")))
    add("signed_without_threshold_neg.npz", edited(set_in([P("s"), "threshold_neg"], DELETE)))
    add("threshold_neg_without_signed.npz", edited(set_in([P("s"), "signed"], DELETE)))
    add("signed_not_bool.npz", edited(set_in([P("s"), "signed"], 1)))
    add("ok_retract.npz", edited(set_in([P("s"), "retract"], True)))
    add("retract_not_bool.npz", edited(set_in([P("s"), "retract"], 1)))
    add("retract_without_signed.npz", edited(set_in([P("c1"), "retract"], True)))
    add("retract_on_relay.npz", edited(set_in([P("p1"), "retract"], True)))

    def retract_reset_zero(m, a):
        pop(m, "s").update(retract=True, reset="zero")
    add("retract_reset_zero.npz", edited(retract_reset_zero))
    add("v_init_out_of_range.npz", edited(set_in([P("c1"), "v_init"], 2)))
    add("v_init_string.npz", edited(set_in([P("c1"), "v_init"], "0")))

    # the input, the output and the graph
    add("rate_zero.npz", edited(set_in(["input", "rate"], 0)))
    add("rate_null.npz", edited(set_in(["input", "rate"], None)))
    add("uint8_scale_negative.npz", edited(set_in(["input", "uint8_scale"], -1.0)))

    def two_inputs(m, a):
        m["populations"].append({"name": "input2", "kind": "input", "shape": [3]})
    add("two_inputs.npz", edited(two_inputs))
    add("no_input.npz", edited(set_in([P("input"), "kind"], "relay")))
    add("input_wrong_population.npz", edited(set_in(["input", "population"], "c1")))
    add("input_no_population.npz", edited(set_in(["input", "population"], "nope")))
    add("input_population_missing.npz", edited(set_in(["input", "population"], DELETE)))

    def into_input(m, a):
        m["populations"].append({"name": "r", "kind": "relay", "shape": [2, 4, 4]})
        m["projections"].append({"name": "back", "op": "identity", "source": "r", "target": "input"})
    add("projection_into_input.npz", edited(into_input))
    add("output_relay.npz", edited(set_in(["output"], "p1")))
    add("output_no_population.npz", edited(set_in(["output"], "fc9")))

    def accumulate_source(m, a):
        m["populations"].append({"name": "after", "kind": "accumulate", "shape": [3]})
        m["projections"].append({"name": "more", "op": "identity", "source": "out", "target": "after"})
    add("accumulate_with_outgoing.npz", edited(accumulate_source))

    def loop(m, a):
        m["projections"].append({"name": "loop", "op": "identity", "source": "s", "target": "p1"})
    add("cycle.npz", edited(loop))

    def self_loop(m, a):
        m["projections"].append({"name": "self", "op": "identity", "source": "s", "target": "s"})
    add("cycle_self.npz", edited(self_loop))

    def long_cycle(m, a):
        m["populations"] += [{"name": "a", "kind": "relay", "shape": [3, 4, 4]},
                             {"name": "b", "kind": "relay", "shape": [3, 4, 4]}]
        m["projections"] += [
            {"name": "c1a", "op": "identity", "source": "c1", "target": "a"},
            {"name": "ab", "op": "identity", "source": "a", "target": "b"},
            {"name": "bc1", "op": "identity", "source": "b", "target": "c1"},
        ]
    add("cycle_long.npz", edited(long_cycle))
    add("dangling_source.npz", edited(set_in([J("out"), "source"], "foo")))
    add("dangling_target.npz", edited(set_in([J("out"), "target"], "bar")))
    add("conv_target_mismatch.npz", edited(set_in([J("c1"), "padding"], [0, 0])))
    add("pool_target_mismatch.npz", edited(set_in([J("p1"), "stride"], [1, 1])))

    def conv_empty(m, a):
        a["c1.weight"] = np.zeros((3, 2, 7, 7), np.float32)
        proj(m, "c1")["padding"] = [1, 1]
    add("conv_output_empty.npz", edited(conv_empty))
    add("dense_into_3d.npz", edited(set_in([P("out"), "shape"], [3, 1, 1])))
    add("conv_from_1d.npz", edited(set_in([P("input"), "shape"], [32])))
    add("identity_shape_mismatch.npz", edited(set_in([P("s"), "shape"], [3, 2, 3])))
    add("identity_weight_shape.npz", edited(set_array("s.gain", np.ones(12, np.float32))))
    add("pool_gain_shape.npz", edited(set_in([J("p1"), "weight"], "out.weight")))
    add("padding_not_smaller.npz", edited(set_in([J("p1"), "padding"], [2, 0])))
    add("padding_negative.npz", edited(set_in([J("c1"), "padding"], [-1, 1])))
    add("stride_zero.npz", edited(set_in([J("p1"), "stride"], [0, 2])))
    add("stride_bool.npz", edited(set_in([J("p1"), "stride"], [2, True])))
    add("kernel_not_pair.npz", edited(set_in([J("p1"), "kernel"], 2)))
    add("kernel_missing.npz", edited(set_in([J("p1"), "kernel"], DELETE)))
    add("projection_not_object.npz", edited(set_in(["projections", 1], 5)))

    # max pooling: p1 as a maxpool2d of c1 (an unsigned if population)
    def as_maxpool(**keys):
        def edit(m, a):
            proj(m, "p1")["op"] = "maxpool2d"
            for k, v in keys.items():
                if v is DELETE:
                    del proj(m, "p1")[k]
                else:
                    proj(m, "p1")[k] = v
        return edit
    add("ok_maxpool.npz", edited(as_maxpool()))
    add("ok_maxpool_ceil.npz", edited(as_maxpool(kernel=[3, 3], stride=[3, 3], padding=[0, 0],
                                                 ceil_mode=True)))
    add("ok_maxpool_default_stride.npz", edited(as_maxpool(stride=DELETE, ceil_mode=False)))
    add("maxpool_ceil_target_mismatch.npz", edited(as_maxpool(kernel=[3, 3], stride=[3, 3],
                                                              ceil_mode=False)))
    add("maxpool_ceil_not_bool.npz", edited(as_maxpool(ceil_mode=1)))
    add("maxpool_gain_shape.npz", edited(as_maxpool(weight="out.weight")))

    def maxpool_of_relay(nested):
        def edit(m, a):
            if nested:          # p1 a relay fed by one maxpool2d alone
                as_maxpool()(m, a)
            m["populations"].append({"name": "q", "kind": "relay", "shape": [3, 1, 1]})
            m["projections"].append({"name": "q", "op": "maxpool2d", "source": "p1",
                                     "target": "q", "kernel": [2, 2]})
        return edit
    add("ok_maxpool_nested.npz", edited(maxpool_of_relay(True)))
    add("maxpool_from_relay.npz", edited(maxpool_of_relay(False)))

    def maxpool_of_signed(m, a):
        m["populations"].append({"name": "q", "kind": "relay", "shape": [3, 1, 1]})
        m["projections"].append({"name": "q", "op": "maxpool2d", "source": "s", "target": "q",
                                 "kernel": [2, 2]})
    add("ok_maxpool_signed.npz", edited(maxpool_of_signed))

    def maxpool_gain(value):
        def edit(m, a):
            as_maxpool(weight="p1.gain")(m, a)
            a["p1.gain"] = np.array([1.0, value, 2.0], np.float32)
        return edit
    add("maxpool_gain_negative.npz", edited(maxpool_gain(-1.0)))
    add("maxpool_gain_zero.npz", edited(maxpool_gain(0.0)))
    add("avgpool_ceil_mode.npz", edited(set_in([J("p1"), "ceil_mode"], True)))

    # upsampling: u (relay [3, 8, 4]) fed by p1 ([3, 2, 2]) scaled (4, 2)
    def with_upsample(shape=(3, 8, 4), **keys):
        def edit(m, a):
            m["populations"].append({"name": "u", "kind": "relay", "shape": list(shape)})
            obj = {"name": "u", "op": "upsample2d", "source": "p1", "target": "u",
                   "scale": [4, 2]}
            for k, v in keys.items():
                if v is DELETE:
                    del obj[k]
                else:
                    obj[k] = v
            m["projections"].append(obj)
        return edit
    add("ok_upsample.npz", edited(with_upsample(weight="s.gain")))
    add("upsample_target_mismatch.npz", edited(with_upsample((3, 4, 8))))
    add("upsample_scale_zero.npz", edited(with_upsample(scale=[0, 2])))
    add("upsample_scale_missing.npz", edited(with_upsample(scale=DELETE)))
    add("upsample_scale_not_pair.npz", edited(with_upsample(scale=4)))
    add("upsample_takes_no_kernel.npz", edited(with_upsample(kernel=[2, 2])))
    add("scale_on_a_pool.npz", edited(set_in([J("p1"), "scale"], [2, 2])))

    # conv2d's groups: c1 is 2 -> 3 channels; a depthwise conv c1 -> dw adds 3 -> 3
    def depthwise(weight_shape, groups):
        def edit(m, a):
            m["populations"].append({"name": "dw", "kind": "relay", "shape": [3, 4, 4]})
            m["projections"].append({"name": "dw", "op": "conv2d", "source": "c1",
                                     "target": "dw", "weight": "dw.weight", "padding": [1, 1],
                                     "groups": groups})
            a["dw.weight"] = np.full(weight_shape, 0.25, np.float32)
        return edit
    add("ok_groups_depthwise.npz", edited(depthwise((3, 1, 3, 3), 3)))
    add("ok_groups_one.npz", edited(set_in([J("c1"), "groups"], 1)))
    add("groups_weight_shape.npz", edited(depthwise((3, 3, 3, 3), 3)))
    add("groups_not_dividing.npz", edited(set_in([J("c1"), "groups"], 2)))
    add("groups_zero.npz", edited(set_in([J("c1"), "groups"], 0)))
    add("groups_negative.npz", edited(set_in([J("c1"), "groups"], -3)))
    add("groups_string.npz", edited(set_in([J("c1"), "groups"], "2")))
    add("groups_bool.npz", edited(set_in([J("c1"), "groups"], True)))
    add("groups_float.npz", edited(set_in([J("c1"), "groups"], 1.0)))
    add("groups_huge.npz", edited(set_in([J("c1"), "groups"], 2 ** 40)))
    add("groups_on_dense.npz", edited(set_in([J("out"), "groups"], 1)))
    return cases


def outcome(data):
    """(verdict, status, item, message): ok, or refuse (FormatError: its status and
    the item at fault); anything else is a bug, and propagates."""
    try:
        snncore.load(io.BytesIO(data))
    except FormatError as e:
        item = ("population %d" % e.population if e.population >= 0 else
                "projection %d" % e.projection if e.projection >= 0 else "-")
        return "refuse", str(e.status), item, str(e)
    return "ok", "-", "-", ""


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


def main():
    nets = {}
    for name, (build, how) in sorted(NETS.items()):
        net = build()
        nets[name] = net
        path = HERE / (name + ".npz")
        if how == "numpy":
            save_numpy_style(net, path)
        else:
            net.save(path, compressed=(how == "deflated"))
        x = make_inputs(name, net)
        buf = io.BytesIO()
        np.save(buf, x)
        write(HERE / (name + ".x.npy"), buf.getvalue())
        again = snncore.load(path)           # the file reads back as the network
        assert again.populations == net.populations

    # image files of other layouts (valid) and broken ones, for the runners' checks
    net = nets["conv_pool_dense"]
    x = np.load(HERE / "conv_pool_dense.x.npy")
    inputs = {
        "single.npy": x[0],                                   # one image, no batch axis
        "flat.npy": x.reshape(len(x), -1),                    # (N, size)
        "fortran.npy": np.asfortranarray(x),                  # Fortran order
        "negative.npy": x - np.float32(0.5),                  # fine for analog only
        "float64.npy": x.astype(np.float64),
        "nan.npy": np.where(x == x.max(), np.float32(np.nan), x),
        "empty.npy": x[:0],
        "wrong_shape.npy": x[:, :, :, :4],
        "int32.npy": (x * 8).astype(np.int32),
    }
    for name, arr in inputs.items():
        buf = io.BytesIO()
        np.save(buf, arr)
        write(HERE / "inputs" / name, buf.getvalue())
    assert net.input_shape == x.shape[1:]

    lines = ["# case network input arguments... (snnrun NET INPUT ARGS --csv must print <case>.csv)"]
    for case, name, enc, T, cps, extra, kwargs in CASES:
        net = snncore.load(HERE / (name + ".npz"))
        x = np.load(HERE / (name + ".x.npy"))
        write(HERE / "golden" / (case + ".csv"), golden_csv(net, x, enc, T, cps, kwargs))
        args = ["--encoding", enc, "--timesteps", str(T)]
        if cps:
            args += ["--checkpoints", ",".join(map(str, cps))]
        lines.append(" ".join([case, name + ".npz", name + ".x.npy"] + args + extra))
    write(HERE / "golden" / "cases.txt", "\n".join(lines) + "\n")

    corpus = HERE / "corpus"
    corpus.mkdir(exist_ok=True)
    for old in corpus.glob("*.npz"):
        old.unlink()
    # seeds of the fuzz target's structured forms (csrc/tests/fuzz_load.c): metadata
    # JSON and a c1.weight member for the base network's fixed arrays
    for old in list(corpus.glob("*.json")) + list(corpus.glob("*.npy")):
        old.unlink()
    base, base_arrays = base_network()
    write(corpus / "seed_meta.json", json.dumps(base))
    variant = copy.deepcopy(base)
    variant["readout"] = {"start": 2}
    variant["populations"][1].update(reset="zero", v_init=-0.5)
    variant["projections"][1].update(stride=[1, 1], padding=[1, 1])
    variant["populations"][2]["shape"] = [3, 5, 5]
    write(corpus / "seed_meta_variant.json", json.dumps(variant, indent=1))
    write(corpus / "seed_weight.npy", npy_bytes(base_arrays["c1.weight"]))
    write(corpus / "seed_weight_fortran.npy", npy_bytes(np.asfortranarray(base_arrays["c1.weight"])))

    rows = ["# file\tverdict\tstatus (snn_status) and item at fault of the refusals (- : none)"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # zipfile warns when it writes a duplicate name
        cases = corpus_cases()
    for name, data in cases:
        write(corpus / name, data)
        verdict, status, item, message = outcome(data)
        if name.startswith("ok_") and verdict == "refuse":
            sys.exit("make_data: %s should load: %s" % (name, message))
        if not name.startswith(("ok_", "bitflip_")) and verdict == "ok":
            sys.exit("make_data: %s should be refused" % (name,))
        rows.append("\t".join([name, verdict, status, item]))
    write(HERE / "corpus.tsv", "\n".join(rows) + "\n")
    print("wrote %d networks, %d golden runs, %d corpus files in %s"
          % (len(NETS), len(CASES), len(rows) - 1, os.path.relpath(HERE)))


if __name__ == "__main__":
    main()
