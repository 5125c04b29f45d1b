"""Round trips of the .npz network format (docs/format.md)."""

import io
import json
import zipfile

import numpy as np
import pytest

import snncore
from snncore import _limits
from npzfile import read_npz
from snncore._npz import write_npz
from snncore._spec import denormalize, normalize


def make_network():
    """A small valid network using every kind and every op.

    input [2,6,6] -conv2d-> conv1 (if, per-channel threshold, bias)
          -avgpool2d-> pool1 (relay, per-neuron bias)
          -identity(gain)-> sig (signed if, zero reset)
    sig -identity-> res (relay) <-identity- pool1       (a residual junction)
    res -dense-> fc (if [5], threshold array of shape ())
    fc -dense-> out (accumulate [3], bias) <-dense- res
    """
    rng = np.random.default_rng(1)

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    arrays = {
        "conv1.weight": f32(4, 2, 3, 3),
        "conv1.threshold": np.array([1.0, 0.5, 2.0, 0.25], np.float32),
        "conv1.bias": f32(4),
        "pool1.bias": f32(4, 3, 3),
        "sig.gain": np.array([1.0, -1.0, 0.5, 2.0], np.float32),
        "sig.threshold_neg": np.array([0.5, 0.5, 1.0, 1.0], np.float32),
        "fc.weight": f32(5, 36),
        "fc.threshold": np.array(0.75, np.float32),
        "out.weight": f32(3, 5),
        "out.skip": f32(3, 36),
        "out.bias": f32(3),
        "extra.unreferenced": f32(2, 2),
    }
    meta = {
        "format": "snncore",
        "version": 1,
        "producer": "test",
        "input": {"population": "input", "encoding": "poisson", "rate": 0.5,
                  "uint8_scale": 0.00392156862745098},
        "output": "out",
        "populations": [
            {"name": "input", "kind": "input", "shape": [2, 6, 6]},
            {"name": "conv1", "kind": "if", "shape": [4, 6, 6],
             "threshold": "conv1.threshold", "reset": "subtract", "v_init": 0.5,
             "bias": "conv1.bias"},
            {"name": "pool1", "kind": "relay", "shape": [4, 3, 3], "bias": "pool1.bias"},
            {"name": "sig", "kind": "if", "shape": [4, 3, 3], "threshold": 1.0,
             "signed": True, "threshold_neg": "sig.threshold_neg", "reset": "zero"},
            {"name": "res", "kind": "relay", "shape": [4, 3, 3]},
            {"name": "fc", "kind": "if", "shape": [5], "threshold": "fc.threshold",
             "v_init": -1},
            {"name": "out", "kind": "accumulate", "shape": [3], "bias": "out.bias"},
        ],
        "projections": [
            {"name": "conv1", "op": "conv2d", "source": "input", "target": "conv1",
             "weight": "conv1.weight", "stride": [1, 1], "padding": [1, 1]},
            {"name": "pool1", "op": "avgpool2d", "source": "conv1", "target": "pool1",
             "kernel": [2, 2]},
            {"name": "gain", "op": "identity", "source": "pool1", "target": "sig",
             "weight": "sig.gain"},
            {"name": "res_a", "op": "identity", "source": "sig", "target": "res"},
            {"name": "res_b", "op": "identity", "source": "pool1", "target": "res"},
            {"name": "fc", "op": "dense", "source": "res", "target": "fc",
             "weight": "fc.weight"},
            {"name": "out", "op": "dense", "source": "fc", "target": "out",
             "weight": "out.weight"},
            {"name": "skip", "op": "dense", "source": "res", "target": "out",
             "weight": "out.skip"},
        ],
        "provenance": {"norm": "percentile", "percentile": 99.9, "nested": {"a": [1, 2]}},
        "some_future_hint": {"ignored": True},
    }
    return meta, arrays


def assert_spec_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if key in ("populations", "projections"):
            assert len(a[key]) == len(b[key])
            for x, y in zip(a[key], b[key]):
                assert x.keys() == y.keys()
                for k in x:
                    if isinstance(x[k], np.ndarray) or isinstance(y[k], np.ndarray):
                        assert isinstance(x[k], np.ndarray) and isinstance(y[k], np.ndarray), k
                        assert x[k].dtype == y[k].dtype == np.float32, k
                        assert x[k].shape == y[k].shape, k
                        assert np.array_equal(x[k], y[k]), k
                    else:
                        assert x[k] == y[k], (k, x[k], y[k])
                        assert type(x[k]) is type(y[k]), k
        else:
            assert a[key] == b[key], key


def load_bytes(data):
    return normalize(*read_npz(io.BytesIO(data)))


@pytest.mark.parametrize("compressed", [False, True])
def test_round_trip_file(tmp_path, compressed):
    meta, arrays = make_network()
    path = tmp_path / "net.npz"
    write_npz(path, meta, arrays, compressed=compressed)

    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert infos[0].filename == "__snncore__.npy"
        want = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
        assert all(i.compress_type == want for i in infos)

    meta2, arrays2 = read_npz(path)
    assert meta2 == meta
    assert arrays2.keys() == arrays.keys()
    for k in arrays:
        assert arrays2[k].dtype == np.float32 and arrays2[k].flags.c_contiguous
        assert arrays2[k].shape == arrays[k].shape
        assert np.array_equal(arrays2[k], arrays[k])

    # numpy reads it without pickle
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == set(arrays) | {"__snncore__"}
        assert json.loads(npz["__snncore__"].tobytes().decode("utf-8")) == meta
        for k in arrays:
            assert np.array_equal(npz[k], arrays[k])

    assert_spec_equal(normalize(meta2, arrays2), normalize(meta, arrays))
    # str path and an open file work too
    assert read_npz(str(path))[0] == meta
    with open(path, "rb") as f:
        assert read_npz(f)[0] == meta


@pytest.mark.parametrize("compressed", [False, True])
def test_round_trip_file_object(compressed):
    meta, arrays = make_network()
    buf = io.BytesIO()
    write_npz(buf, meta, arrays, compressed=compressed)
    spec = load_bytes(buf.getvalue())
    assert_spec_equal(spec, normalize(meta, arrays))


def test_output_is_deterministic():
    meta, arrays = make_network()
    a, b = io.BytesIO(), io.BytesIO()
    write_npz(a, meta, arrays)
    write_npz(b, meta, arrays)
    assert a.getvalue() == b.getvalue()


def test_normalized_structure():
    meta, arrays = make_network()
    spec = normalize(meta, arrays)
    pops = {p["name"]: p for p in spec["populations"]}
    projs = {p["name"]: p for p in spec["projections"]}
    names = [p["name"] for p in spec["populations"]]

    assert spec["input"] == 0 and spec["output"] == names.index("out")
    assert spec["order"][0] == spec["input"]
    assert sorted(spec["order"]) == list(range(len(names)))
    assert spec["encoding"] == "poisson" and spec["rate"] == 0.5
    assert spec["uint8_scale"] == pytest.approx(1 / 255)
    assert spec["producer"] == "test"
    assert spec["provenance"] == meta["provenance"]
    assert spec["provenance"] is not meta["provenance"]

    inp = pops["input"]
    assert inp["shape"] == (2, 6, 6) and inp["ndim"] == 3
    assert inp["threshold"] is None and inp["bias"] is None and inp["reset"] == "subtract"
    assert inp["v_init"] == 0.0 and inp["signed"] is False

    c1 = pops["conv1"]
    assert c1["threshold"].shape == (4,)
    assert c1["bias"].shape == (4,)
    assert c1["v_init"] == 0.5 and c1["reset"] == "subtract"

    p1 = pops["pool1"]
    assert p1["bias"].shape == arrays["pool1.bias"].shape      # as the file gives it
    assert np.array_equal(p1["bias"], arrays["pool1.bias"])
    assert p1["threshold"] is None

    sig = pops["sig"]
    assert sig["signed"] is True and sig["reset"] == "zero"
    assert sig["threshold"].shape == (1,)
    assert sig["threshold"].dtype == np.float32
    assert sig["threshold_neg"].shape == (4,)

    fc = pops["fc"]
    assert fc["shape"] == (5, 1, 1) and fc["ndim"] == 1
    assert fc["threshold"].shape == (1,)
    assert fc["v_init"] == -1.0 and type(fc["v_init"]) is float

    assert all(type(d) is int for p in spec["populations"] for d in p["shape"])

    conv = projs["conv1"]
    assert conv["kernel"] == (3, 3) and conv["stride"] == (1, 1) and conv["padding"] == (1, 1)
    assert conv["weight"].flags.c_contiguous
    pool = projs["pool1"]
    assert pool["kernel"] == (2, 2) and pool["stride"] == (2, 2) and pool["padding"] == (0, 0)
    assert pool["weight"] is None
    assert projs["res_a"]["weight"] is None
    assert projs["gain"]["weight"].shape == (4,)
    dense = projs["fc"]
    assert dense["kernel"] == (0, 0) and dense["stride"] == (0, 0) and dense["padding"] == (0, 0)
    assert dense["source"] == names.index("res") and dense["target"] == names.index("fc")


def test_denormalize_round_trip():
    meta, arrays = make_network()
    spec = normalize(meta, arrays)
    meta2, arrays2 = denormalize(spec)
    assert_spec_equal(normalize(meta2, arrays2), spec)
    # the array names are kept
    assert meta2["populations"][1]["threshold"] == "conv1.threshold"
    assert meta2["populations"][3]["threshold"] == 1.0
    assert arrays2["pool1.bias"].shape == (4, 3, 3)
    assert "extra.unreferenced" not in arrays2
    # and through a file
    buf = io.BytesIO()
    write_npz(buf, meta2, arrays2, compressed=True)
    assert_spec_equal(load_bytes(buf.getvalue()), spec)


def test_denormalize_names_arrays_after_their_items():
    meta, arrays = make_network()
    meta2, arrays2 = denormalize(normalize(meta, arrays))
    assert meta2["populations"][1]["threshold"] == "conv1.threshold"
    assert meta2["populations"][5]["threshold"] == 0.75   # a single value becomes a number
    assert meta2["projections"][2]["weight"] == "gain.weight"
    assert set(arrays2) == {v for item in meta2["populations"] + meta2["projections"]
                            for v in item.values() if isinstance(v, str) and v in arrays2}


def test_minimal_network_defaults():
    meta = {"format": "snncore", "version": 1, "input": {"population": "x"},
            "output": "y",
            "populations": [{"name": "x", "kind": "input", "shape": [3]},
                            {"name": "y", "kind": "accumulate", "shape": [2]}],
            "projections": [{"name": "y", "op": "dense", "source": "x", "target": "y",
                             "weight": "w"}]}
    arrays = {"w": np.ones((2, 3), np.float32)}
    spec = normalize(meta, arrays)
    assert spec["encoding"] == "analog" and spec["rate"] == 1.0
    assert spec["uint8_scale"] == 1 / 255
    assert spec["producer"] is None and spec["provenance"] == {}
    assert spec["order"] == [0, 1]
    assert_spec_equal(normalize(*denormalize(spec)), spec)


def test_topological_order_is_deterministic():
    # file order is not topological; the input is not first in the file
    meta = {"format": "snncore", "version": 1, "input": {"population": "in"}, "output": "b",
            "populations": [
                {"name": "b", "kind": "if", "shape": [2], "threshold": 1},
                {"name": "a", "kind": "relay", "shape": [2]},
                {"name": "lonely", "kind": "relay", "shape": [2], "bias": "bias"},
                {"name": "in", "kind": "input", "shape": [2]},
                {"name": "c", "kind": "relay", "shape": [2]},
            ],
            "projections": [
                {"name": "p1", "op": "identity", "source": "a", "target": "b"},
                {"name": "p2", "op": "identity", "source": "in", "target": "c"},
                {"name": "p3", "op": "identity", "source": "c", "target": "a"},
                {"name": "p4", "op": "identity", "source": "in", "target": "a"},
                {"name": "p5", "op": "identity", "source": "lonely", "target": "b"},
            ]}
    spec = normalize(meta, {"bias": np.ones(2, np.float32)})
    names = [spec["populations"][i]["name"] for i in spec["order"]]
    assert names == ["in", "lonely", "c", "a", "b"]


def test_fortran_order_member_and_numpy_savez(tmp_path):
    # a file written by numpy.savez itself, with a Fortran-order weight
    meta = {"format": "snncore", "version": 1, "input": {"population": "x"}, "output": "y",
            "populations": [{"name": "x", "kind": "input", "shape": [3]},
                            {"name": "y", "kind": "if", "shape": [2], "threshold": 0.5}],
            "projections": [{"name": "y", "op": "dense", "source": "x", "target": "y",
                             "weight": "w"}]}
    w = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    raw = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    path = tmp_path / "n.npz"
    with open(path, "wb") as f:
        np.savez(f, __snncore__=raw, w=w)
    weight = snncore.load(path)._spec["projections"][0]["weight"]
    assert weight.flags.c_contiguous
    np.testing.assert_array_equal(weight, w)
    with open(path, "wb") as f:
        np.savez_compressed(f, __snncore__=raw, w=w)
    np.testing.assert_array_equal(snncore.load(path)._spec["projections"][0]["weight"], w)


def test_zero_d_and_empty_members_read():
    meta = {"format": "snncore", "version": 1}
    buf = io.BytesIO()
    write_npz(buf, meta, {"s": np.float32(2.5), "e": np.zeros((0, 3), np.float32)})
    meta2, arrays = read_npz(io.BytesIO(buf.getvalue()))
    assert meta2 == meta
    assert arrays["s"].shape == () and arrays["s"] == 2.5
    assert arrays["e"].shape == (0, 3)


def test_limits_constants():
    assert _limits.MAX_DIM == 2 ** 24
    assert _limits.MAX_NEURONS == 2 ** 28
    assert _limits.MAX_POPULATIONS == 4096
    assert _limits.MAX_PROJECTIONS == 16384
    assert _limits.MAX_META_BYTES == 16 * 2 ** 20
    assert _limits.MAX_BYTES == 8 * 2 ** 30
    assert _limits.MAX_NAME == 200
    assert _limits.FORMAT_VERSION == 1

