"""Malformed network files and descriptions are refused with FormatError.

One test per case of docs/format.md, "What makes a file invalid", plus fuzzing:
whatever the damage, the loader raises FormatError and nothing else.
"""

import copy
import io
import json
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mutations import OPS, mutate

import snncore
import snncore._limits
from snncore._core import E_GRAPH, E_LIMIT, E_SHAPE
from snncore.errors import FormatError
from snncore._npz import write_npz
from snncore._spec import denormalize, normalize


# ---------------------------------------------------------------------------
# A valid network and helpers
# ---------------------------------------------------------------------------

def network():
    """input [2,4,4] -conv-> c1 (if) -pool-> p1 (relay) -dense-> out (accumulate [3])
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
        "format": "snncore",
        "version": 1,
        "producer": "tests",
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
            {"name": "s", "op": "identity", "source": "p1", "target": "s",
             "weight": "s.gain"},
            {"name": "out", "op": "dense", "source": "p1", "target": "out",
             "weight": "out.weight"},
        ],
        "provenance": {"norm": "max"},
    }
    return meta, arrays


def pop(meta, name):
    return next(p for p in meta["populations"] if p["name"] == name)


def proj(meta, name):
    return next(p for p in meta["projections"] if p["name"] == name)


def file_bytes(meta=None, arrays=None, compressed=False):
    if meta is None:
        meta, arrays = network()
    buf = io.BytesIO()
    write_npz(buf, meta, arrays, compressed=compressed)
    return buf.getvalue()


def load(data):
    return snncore.load(io.BytesIO(data))._spec


def npy(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def raw_npy(descr, shape, data, fortran=False):
    """A .npy file with a hand-written header (version 1.0)."""
    header = "{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (descr, fortran, shape)
    pad = 64 - (10 + len(header) + 1) % 64
    header = (header + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def meta_npy(meta):
    return npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def make_zip(members, compression=zipfile.ZIP_STORED):
    """members: list of (member name, bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def with_members(meta, arrays, extra=(), raw_meta=None):
    """A zip of the metadata and arrays plus extra raw (name, bytes) members."""
    members = [("__snncore__.npy", raw_meta if raw_meta is not None else meta_npy(meta))]
    members += [(k + ".npy", npy(v)) for k, v in arrays.items()]
    members += list(extra)
    return make_zip(members)


def refuse(fragment, meta=None, arrays=None, data=None):
    """Assert that loading fails with FormatError mentioning `fragment`."""
    if data is None:
        data = file_bytes(meta, arrays)
    with pytest.raises(FormatError) as info:
        load(data)
    assert fragment in str(info.value), str(info.value)
    return str(info.value)


def refuse_meta(fragment, meta, arrays):
    """Like refuse, but calls normalize directly as well as through a file."""
    with pytest.raises(FormatError) as info:
        normalize(meta, arrays)
    assert fragment in str(info.value), str(info.value)
    refuse(fragment, meta, arrays)
    return str(info.value)


def test_valid_network_loads():
    spec = load(file_bytes())
    assert spec["order"] == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------------------
# The container
# ---------------------------------------------------------------------------

def test_truncated_file():
    data = file_bytes()
    refuse("zip archive", data=data[: len(data) // 2])


def test_truncated_compressed_file():
    data = file_bytes(compressed=True)
    refuse("zip archive", data=data[: len(data) // 2])


def test_random_bytes():
    refuse("not a zip archive", data=np.random.default_rng(0).bytes(4096))


def test_text_file(tmp_path):
    path = tmp_path / "net.npz"
    path.write_text("this is not a network\n")
    with pytest.raises(FormatError, match="not a zip archive"):
        snncore.load(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(FormatError, match="not a zip archive"):
        snncore.load(path)


def test_missing_path_is_not_a_format_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        snncore.load(tmp_path / "nope.npz")


def test_missing_metadata_member():
    _, arrays = network()
    data = make_zip([(k + ".npy", npy(v)) for k, v in arrays.items()])
    refuse("member '__snncore__.npy': missing; this is not an snncore network file", data=data)


def test_metadata_not_json():
    meta, arrays = network()
    raw = npy(np.frombuffer(b"{not json", np.uint8))
    refuse("not valid JSON", data=with_members(meta, arrays, raw_meta=raw))


def test_metadata_not_utf8():
    meta, arrays = network()
    raw = npy(np.frombuffer(b'{"format": "snn\xffcore"}', np.uint8))
    refuse('metadata: not valid JSON (unable to decode byte 0xff near \'"snn\'', data=with_members(meta, arrays, raw_meta=raw))


def test_metadata_json_array():
    meta, arrays = network()
    raw = npy(np.frombuffer(b"[1, 2, 3]", np.uint8))
    refuse('metadata: not a JSON object', data=with_members(meta, arrays, raw_meta=raw))


def test_metadata_nan_constant():
    meta, arrays = network()
    text = json.dumps(meta).replace('"v_init": 0.0', '"v_init": NaN')
    raw = npy(np.frombuffer(text.encode(), np.uint8))
    refuse("metadata: not valid JSON (invalid token near 'NaN'", data=with_members(meta, arrays, raw_meta=raw))


def test_metadata_huge_float():
    meta, arrays = network()
    text = json.dumps(meta).replace('"v_init": 0.0', '"v_init": 1e999')
    raw = npy(np.frombuffer(text.encode(), np.uint8))
    refuse("metadata: not valid JSON (real number overflow near '1e999'", data=with_members(meta, arrays, raw_meta=raw))


def test_metadata_duplicate_key():
    meta, arrays = network()
    text = json.dumps(meta).replace('"v_init": 0.0', '"v_init": 0.0, "v_init": 0.5')
    raw = npy(np.frombuffer(text.encode(), np.uint8))
    refuse('metadata: not valid JSON (duplicate object key near \'"v_init"\'', data=with_members(meta, arrays, raw_meta=raw))


def test_metadata_wrong_dtype():
    meta, arrays = network()
    raw = npy(np.frombuffer(json.dumps(meta).encode(), np.uint8).astype(np.int32))
    refuse("expected uint8", data=with_members(meta, arrays, raw_meta=raw))


def test_metadata_too_large():
    meta, arrays = network()
    meta["provenance"] = {"notes": "x" * snncore._limits.MAX_META_BYTES}
    raw = npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))
    refuse("more than the %d bytes of metadata allowed" % snncore._limits.MAX_META_BYTES,
           data=with_members(meta, arrays, raw_meta=raw))


def test_deeply_nested_json():
    meta, arrays = network()
    raw = npy(np.frombuffer(b"[" * 100000, np.uint8))
    refuse("metadata: not valid JSON (maximum parsing depth reached near '['", data=with_members(meta, arrays, raw_meta=raw))


def test_deeply_nested_json_object():
    meta, arrays = network()
    raw = npy(np.frombuffer(b'{"a":' * 100000, np.uint8))
    refuse("not valid JSON", data=with_members(meta, arrays, raw_meta=raw))


def test_float64_member():
    meta, arrays = network()
    del arrays["c1.weight"]
    extra = [("c1.weight.npy", npy(np.full((3, 2, 3, 3), 0.125, np.float64)))]
    refuse("member 'c1.weight.npy': dtype '<f8', expected '<f4'",
           data=with_members(meta, arrays, extra))


def test_int32_member():
    meta, arrays = network()
    del arrays["out.bias"]
    extra = [("out.bias.npy", npy(np.zeros(3, np.int32)))]
    msg = refuse("member 'out.bias.npy': dtype '<i4', expected '<f4'", data=with_members(meta, arrays, extra))
    assert "out.bias.npy" in msg


def test_big_endian_member():
    meta, arrays = network()
    del arrays["out.bias"]
    extra = [("out.bias.npy", npy(np.zeros(3, ">f4")))]
    refuse("big-endian", data=with_members(meta, arrays, extra))


def test_arrays_in_memory_are_written_as_float32():
    """normalize writes its arrays as a file does (little-endian float32)."""
    meta, arrays = network()
    arrays["out.bias"] = np.array([1.0, 2.0, 3.0], ">f4")
    arrays["out.weight"] = arrays["out.weight"].astype(np.float64)
    spec = normalize(meta, arrays)
    out = next(q for q in spec["projections"] if q["name"] == "out")
    assert out["weight"].dtype == np.float32 and spec["populations"][4]["bias"].tolist() == [1, 2, 3]


def test_huge_shape_in_npy_header():
    meta, arrays = network()
    extra = [("big.npy", raw_npy("<f4", (2 ** 40,), b"\0" * 16))]
    data = with_members(meta, arrays, extra)
    tracemalloc.start()
    try:
        with pytest.raises(FormatError) as info:
            snncore.load(io.BytesIO(data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2 ** 20
    assert "member 'big.npy': the .npy header declares a shape" in str(info.value)


def test_npy_header_declares_less_than_member_holds():
    meta, arrays = network()
    extra = [("x.npy", raw_npy("<f4", (2,), b"\0" * 16))]
    refuse("member 'x.npy': the .npy header declares a shape whose data size is not the member's", data=with_members(meta, arrays, extra))


def test_broken_npy_header():
    meta, arrays = network()
    extra = [("x.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': <f4'}\n")]
    refuse("broken .npy header", data=with_members(meta, arrays, extra))


def test_not_npy_member():
    meta, arrays = network()
    extra = [("x.npy", b"PK hello")]
    refuse("bad magic", data=with_members(meta, arrays, extra))


def test_npy_header_too_long():
    meta, arrays = network()
    header = b"\x93NUMPY\x02\x00" + struct.pack("<I", 2 ** 31) + b" " * 64
    refuse("member 'x.npy': a .npy header of 2147483648 bytes, more than the 10000 allowed", data=with_members(meta, arrays, [("x.npy", header)]))


def test_member_not_ending_in_npy():
    meta, arrays = network()
    refuse("not a .npy member", data=with_members(meta, arrays, [("notes.txt", b"hi")]))


def test_reserved_member_name():
    meta, arrays = network()
    extra = [("__other__.npy", npy(np.zeros(2, np.float32)))]
    refuse("names starting with '__' are reserved", data=with_members(meta, arrays, extra))


_UNPICKLED = []


def _record_unpickle(tag):
    _UNPICKLED.append(tag)
    return tag


class _Evil:
    def __reduce__(self):
        return (_record_unpickle, ("unpickled!",))


def test_object_member_is_never_unpickled():
    meta, arrays = network()
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = _Evil(), _Evil()
    payload = npy(obj, allow_pickle=True)
    # sanity: the payload really would run code if unpickled
    np.load(io.BytesIO(payload), allow_pickle=True)
    assert _UNPICKLED
    _UNPICKLED.clear()
    del arrays["out.bias"]
    with pytest.raises(FormatError) as info:
        load(with_members(meta, arrays, [("out.bias.npy", payload)]))
    assert "object array" in str(info.value) and "out.bias.npy" in str(info.value)
    assert _UNPICKLED == []


def test_object_array_passed_to_normalize():
    meta, arrays = network()
    arrays["out.bias"] = np.array([1.0, None, 2.0], dtype=object)
    with pytest.raises(FormatError, match="dtype object cannot be written as float32"):
        normalize(meta, arrays)


def test_member_name_with_slash():
    meta, arrays = network()
    extra = [("dir/x.npy", npy(np.zeros(2, np.float32)))]
    refuse("'/'", data=with_members(meta, arrays, extra))


def test_empty_array_name():
    meta, arrays = network()
    refuse("member '.npy': empty array name",
           data=with_members(meta, arrays, [(".npy", npy(np.zeros(1, np.float32)))]))


def test_duplicate_member():
    meta, arrays = network()
    extra = [("out.bias.npy", npy(np.zeros(3, np.float32)))]
    with pytest.warns(UserWarning):  # zipfile warns when writing a duplicate name
        data = with_members(meta, arrays, extra)
    refuse('archive: not a zip archive, or a truncated or damaged one (File already exists)', data=data)


def test_impossible_deflate_ratio():
    meta, _ = network()
    # make the central directory claim a huge uncompressed size for a deflated member
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__snncore__.npy", meta_npy(meta))
        zf.writestr("z.npy", npy(np.zeros(1000, np.float32)))
    data = bytearray(buf.getvalue())
    cd = data.rfind(b"PK\x01\x02")            # the last central directory entry (z.npy)
    struct.pack_into("<I", data, cd + 24, 0xFFFFFFF0)   # uncompressed size
    with pytest.raises(FormatError, match="Zip archive inconsistent"):
        snncore.load(io.BytesIO(bytes(data)))


# ---------------------------------------------------------------------------
# The metadata header
# ---------------------------------------------------------------------------

def test_future_version():
    meta, arrays = network()
    meta["version"] = 2
    msg = refuse_meta('metadata: format version 2 is newer than this snncore supports; upgrade snncore', meta, arrays)
    assert "upgrade snncore" in msg


def test_future_version_checked_before_members():
    meta, arrays = network()
    meta["version"] = 7
    # a newer writer might use members this reader does not understand
    extra = [("new.npy", npy(np.zeros(3, np.float16)))]
    refuse("format version 7 is newer", data=with_members(meta, arrays, extra))


def test_version_missing():
    meta, arrays = network()
    del meta["version"]
    refuse_meta("metadata key 'version': missing", meta, arrays)


def test_version_not_integer():
    meta, arrays = network()
    meta["version"] = "1"
    refuse_meta("metadata key 'version': must be an integer from 1 to this snncore's format version", meta, arrays)


def test_version_zero():
    meta, arrays = network()
    meta["version"] = 0
    refuse_meta("metadata key 'version': must be an integer from 1 to this snncore's format version", meta, arrays)


def test_wrong_format_name():
    meta, arrays = network()
    meta["format"] = "keras"
    refuse_meta('metadata key \'format\': must be "snncore"', meta, arrays)


def test_populations_not_a_list():
    meta, arrays = network()
    meta["populations"] = {"input": {}}
    refuse_meta("metadata key 'populations': must be a list", meta, arrays)


def test_missing_top_level_key():
    meta, arrays = network()
    del meta["output"]
    refuse_meta("metadata key 'output': missing", meta, arrays)


def test_no_populations():
    meta, arrays = network()
    meta["populations"] = []
    refuse_meta("metadata key 'input': 'population' names no population 'input'", meta, arrays)


def test_too_many_projections():
    meta, arrays = network()
    n = snncore._limits.MAX_PROJECTIONS + 1
    meta["populations"].append({"name": "r", "kind": "relay", "shape": [2, 4, 4]})
    meta["projections"] += [{"name": "i%d" % k, "op": "identity", "source": "input",
                             "target": "r"} for k in range(n - 4)]
    with pytest.raises(FormatError) as info:
        normalize(meta, arrays)
    assert info.value.status == E_LIMIT and "%d projections" % n in str(info.value)


def test_producer_not_string():
    meta, arrays = network()
    meta["producer"] = 3
    refuse_meta("metadata key 'producer': must be a string", meta, arrays)


def test_provenance_not_object():
    meta, arrays = network()
    meta["provenance"] = [1]
    refuse_meta("metadata key 'provenance': must be an object", meta, arrays)


# ---------------------------------------------------------------------------
# Populations
# ---------------------------------------------------------------------------

def test_missing_array():
    meta, arrays = network()
    del arrays["c1.weight"]
    refuse_meta("projection 'c1': 'weight' names no array 'c1.weight'", meta, arrays)


def test_wrong_conv_weight_shape():
    meta, arrays = network()
    arrays["c1.weight"] = np.zeros((3, 5, 3, 3), np.float32)
    refuse_meta("projection 'c1': weight has shape (3, 5, 3, 3)", meta, arrays)


def test_conv_weight_wrong_rank():
    meta, arrays = network()
    arrays["c1.weight"] = np.zeros((3, 2, 9), np.float32)
    refuse_meta("projection 'c1': weight has shape (3, 2, 9), expected (out channels, in channels, kh, kw)", meta, arrays)


def test_wrong_dense_weight_shape():
    meta, arrays = network()
    arrays["out.weight"] = np.zeros((3, 13), np.float32)
    refuse_meta("projection 'out': weight has shape (3, 13), expected (3, 12) (target size, source size)", meta, arrays)


def test_dense_output_size_mismatch():
    meta, arrays = network()
    arrays["out.weight"] = np.zeros((4, 12), np.float32)
    refuse_meta("projection 'out': weight has shape (4, 12), expected (3, 12) (target size, source size)", meta, arrays)


def test_nan_weights():
    meta, arrays = network()
    arrays["c1.weight"][0, 0, 0, 0] = np.nan
    refuse_meta("projection 'c1': weight holds NaN or infinity (at index 0)", meta, arrays)


def test_inf_bias():
    meta, arrays = network()
    arrays["out.bias"][1] = np.inf
    refuse_meta("population 'out': bias holds NaN or infinity (at index 1)", meta, arrays)


def test_zero_threshold():
    meta, arrays = network()
    pop(meta, "s")["threshold"] = 0
    refuse_meta("population 's': threshold must be > 0, found 0 at index 0", meta, arrays)


def test_negative_threshold_array():
    meta, arrays = network()
    arrays["c1.threshold"][1] = -0.5
    refuse_meta("population 'c1': threshold must be > 0, found -0.5 at index 1", meta, arrays)


def test_negative_threshold_neg():
    meta, arrays = network()
    pop(meta, "s")["threshold_neg"] = -1.0
    refuse_meta("population 's': threshold_neg must be > 0, found -1 at index 0", meta, arrays)


def test_threshold_too_large_for_float32():
    meta, arrays = network()
    pop(meta, "s")["threshold"] = 1e39
    refuse_meta("population 's': threshold holds NaN or infinity (at index 0)", meta, arrays)


def test_threshold_wrong_shape():
    meta, arrays = network()
    arrays["c1.threshold"] = np.ones(2, np.float32)
    refuse_meta("population 'c1': threshold has shape (2,), expected (1,) or (3,)",
                meta, arrays)


def test_threshold_missing():
    meta, arrays = network()
    del pop(meta, "c1")["threshold"]
    refuse_meta("population 'c1': threshold is missing", meta, arrays)


def test_bias_wrong_shape():
    meta, arrays = network()
    arrays["c1.bias"] = np.zeros((3, 4), np.float32)
    refuse_meta("population 'c1': bias has shape (3, 4)", meta, arrays)


def test_bias_as_number():
    meta, arrays = network()
    pop(meta, "c1")["bias"] = 0.5
    refuse_meta("population 'c1': 'bias' must be an array name", meta, arrays)


def test_reserved_array_name_reference():
    meta, arrays = network()
    pop(meta, "c1")["bias"] = "__snncore__"
    refuse_meta("population 'c1': 'bias': '__snncore__' is not a valid array name", meta, arrays)


def test_unknown_op():
    meta, arrays = network()
    proj(meta, "out")["op"] = "matmul"
    refuse_meta("projection 'out': unknown op 'matmul'", meta, arrays)


def test_unknown_kind():
    meta, arrays = network()
    pop(meta, "p1")["kind"] = "lif"
    refuse_meta("population 'p1': unknown kind 'lif'", meta, arrays)


def test_unknown_reset():
    meta, arrays = network()
    pop(meta, "c1")["reset"] = "half"
    refuse_meta("population 'c1': unknown reset 'half'", meta, arrays)


def test_unknown_encoding():
    meta, arrays = network()
    meta["input"]["encoding"] = "latency"
    refuse_meta("unknown encoding 'latency'", meta, arrays)


def test_unknown_population_key():
    meta, arrays = network()
    c1 = pop(meta, "c1")
    c1["thresold"] = c1.pop("threshold")
    refuse_meta("population 'c1': unknown key 'thresold'", meta, arrays)


def test_unknown_projection_key():
    meta, arrays = network()
    proj(meta, "c1")["dilation"] = [1, 1]
    refuse_meta("projection 'c1': unknown key 'dilation'", meta, arrays)


def test_parameter_not_for_kind():
    meta, arrays = network()
    pop(meta, "p1")["threshold"] = 1.0
    refuse_meta("population 'p1': 'threshold' does not apply to relay populations",
                meta, arrays)


def test_parameter_on_input():
    meta, arrays = network()
    pop(meta, "input")["bias"] = "out.bias"
    refuse_meta("population 'input': 'bias' does not apply to input populations", meta, arrays)


def test_parameter_not_for_op():
    meta, arrays = network()
    proj(meta, "out")["stride"] = [1, 1]
    refuse_meta("projection 'out': 'stride' does not apply to dense projections",
                meta, arrays)


def test_bool_where_int_expected():
    meta, arrays = network()
    pop(meta, "input")["shape"] = [True, 4, 4]
    refuse_meta("population 'input': 'shape' must be a list of 1 or 3 integers", meta, arrays)


def test_bool_stride():
    meta, arrays = network()
    proj(meta, "p1")["stride"] = [2, True]
    refuse_meta("projection 'p1': 'stride' must be a list of 2 integers", meta, arrays)


def test_bool_version():
    meta, arrays = network()
    meta["version"] = True
    refuse_meta("metadata key 'version': must be an integer from 1 to this snncore's format version", meta, arrays)


def test_float_shape():
    meta, arrays = network()
    pop(meta, "p1")["shape"] = [3, 2.0, 2]
    refuse_meta("population 'p1': 'shape' must be a list of 1 or 3 integers", meta, arrays)


def test_shape_wrong_rank():
    meta, arrays = network()
    pop(meta, "p1")["shape"] = [3, 4]
    refuse_meta("population 'p1': 'shape' must be a list of 1 or 3 integers", meta, arrays)


def test_dimension_zero():
    meta, arrays = network()
    pop(meta, "p1")["shape"] = [3, 0, 2]
    refuse_meta("population 'p1': a dimension of the shape is outside 1..16777216", meta, arrays)


def test_dimension_too_large():
    meta, arrays = network()
    pop(meta, "out")["shape"] = [2 ** 24 + 1]
    refuse_meta("outside 1..16777216", meta, arrays)


def test_population_of_2_40_neurons():
    meta, arrays = network()
    pop(meta, "p1")["shape"] = [2 ** 14, 2 ** 13, 2 ** 13]
    data = file_bytes(meta, arrays)
    assert len(data) < 10000
    tracemalloc.start()
    try:
        with pytest.raises(FormatError) as info:
            load(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2 ** 20
    assert "population 'p1'" in str(info.value)
    assert "population 'p1': more than 268435456 neurons" in str(info.value)


def test_total_state_over_memory_limit():
    # each population is legal, together they are not
    meta, arrays = network()
    with pytest.raises(FormatError) as info:
        normalize(meta, arrays, max_bytes=1000)
    assert info.value.status == E_LIMIT and info.value.population == -1
    assert "more than the limit of 1000" in str(info.value)


def test_weights_over_memory_limit():
    """The bound is exact at its edge: the smallest limit that admits the network
    admits it, one byte less refuses it, naming the bytes needed."""
    meta, arrays = network()
    lo, hi = 1, 1 << 30         # refused at lo, accepted at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            normalize(meta, arrays, max_bytes=mid)
            hi = mid
        except FormatError:
            lo = mid
    normalize(meta, arrays, max_bytes=hi)
    with pytest.raises(FormatError) as info:
        normalize(meta, arrays, max_bytes=hi - 1)
    assert info.value.status == E_LIMIT and "up to %d bytes" % hi in str(info.value)
    # the weights count: without the dense weight (a smaller target) less is needed
    meta2, arrays2 = network()
    arrays2["out.weight"] = np.zeros((3, 12), np.float32)
    normalize(meta2, arrays2, max_bytes=hi)


def rename_population(meta, old, new):
    pop(meta, old)["name"] = new
    for q in meta["projections"]:
        for end in ("source", "target"):
            if q[end] == old:
                q[end] = new


def test_name_too_long():
    meta, arrays = network()
    rename_population(meta, "p1", "p" * 201)
    msg = refuse_meta("the name has 201 characters, more than the 200 allowed", meta, arrays)
    assert msg.startswith("population '%s...': " % ("p" * 61))      # names shown shortened
    rename_population(meta, "p" * 201, "\u00e9" * 200)     # characters, not bytes
    normalize(meta, arrays)


def test_empty_name():
    meta, arrays = network()
    proj(meta, "out")["name"] = ""
    refuse_meta('projection 3: the name is empty', meta, arrays)


def test_population_not_object():
    meta, arrays = network()
    meta["populations"][2] = ["p1", "relay"]
    refuse_meta('population 2: must be a JSON object', meta, arrays)


def test_duplicate_population_names():
    meta, arrays = network()
    rename_population(meta, "s", "p1")
    with pytest.raises(FormatError) as info:
        normalize(meta, arrays)
    assert (info.value.status, info.value.population) == (E_GRAPH, 3)
    assert "population 'p1': a second population of this name" in str(info.value)


def test_duplicate_projection_names():
    meta, arrays = network()
    proj(meta, "s")["name"] = "out"
    refuse_meta("projection 'out': a second projection of this name", meta, arrays)


def test_signed_without_threshold_neg():
    meta, arrays = network()
    del pop(meta, "s")["threshold_neg"]
    refuse_meta("population 's': threshold_neg is missing", meta, arrays)


def test_threshold_neg_without_signed():
    meta, arrays = network()
    del pop(meta, "s")["signed"]
    refuse_meta("population 's': threshold_neg is given but the population is not signed", meta, arrays)


def test_signed_not_bool():
    meta, arrays = network()
    pop(meta, "s")["signed"] = 1
    refuse_meta("population 's': 'signed' must be true or false", meta, arrays)


def test_v_init_out_of_range():
    meta, arrays = network()
    pop(meta, "c1")["v_init"] = 2.0
    refuse_meta("population 'c1': v_init must be in [-1, 1], found 2", meta, arrays)


# ---------------------------------------------------------------------------
# The input, the output and the graph
# ---------------------------------------------------------------------------

def test_rate_zero():
    meta, arrays = network()
    meta["input"]["rate"] = 0
    refuse_meta('hints: rate must be finite and > 0, found 0', meta, arrays)


def test_uint8_scale_negative():
    meta, arrays = network()
    meta["input"]["uint8_scale"] = -1.0
    refuse_meta('uint8_scale must be finite and > 0, found -1', meta, arrays)


def test_two_input_populations():
    meta, arrays = network()
    meta["populations"].append({"name": "input2", "kind": "input", "shape": [3]})
    refuse_meta("population 'input2': a second input population: a network has exactly one", meta, arrays)


def test_no_input_population():
    meta, arrays = network()
    pop(meta, "input")["kind"] = "relay"
    refuse_meta("no input population", meta, arrays)


def test_input_names_wrong_population():
    meta, arrays = network()
    meta["input"]["population"] = "c1"
    refuse_meta('input 1 is not the input population', meta, arrays)


def test_input_names_no_population():
    meta, arrays = network()
    meta["input"]["population"] = "nope"
    refuse_meta("metadata key 'input': 'population' names no population 'nope'", meta, arrays)


def test_projection_into_input():
    meta, arrays = network()
    meta["populations"].append({"name": "r", "kind": "relay", "shape": [2, 4, 4]})
    meta["projections"].append({"name": "back", "op": "identity", "source": "r",
                                "target": "input"})
    msg = refuse_meta("projection 'back': a projection may not target the input population",
                      meta, arrays)
    assert msg


def test_output_is_relay():
    meta, arrays = network()
    meta["output"] = "p1"
    refuse_meta("population 'p1': the output population must be if or accumulate, not relay",
                meta, arrays)


def test_output_names_no_population():
    meta, arrays = network()
    meta["output"] = "fc9"
    refuse_meta("metadata key 'output': names no population 'fc9'", meta, arrays)


def test_accumulate_with_outgoing_projection():
    meta, arrays = network()
    meta["populations"].append({"name": "after", "kind": "accumulate", "shape": [3]})
    meta["projections"].append({"name": "more", "op": "identity", "source": "out",
                                "target": "after"})
    refuse_meta("projection 'more': an accumulate population emits nothing", meta, arrays)


def test_cycle():
    meta, arrays = network()
    # s -> p1 closes the loop p1 -> s -> p1
    meta["projections"].append({"name": "loop", "op": "identity", "source": "s",
                                "target": "p1"})
    refuse_meta("population 'p1': the projections form a cycle: p1 -> s -> p1", meta, arrays)


def test_self_loop():
    meta, arrays = network()
    meta["projections"].append({"name": "self", "op": "identity", "source": "s",
                                "target": "s"})
    refuse_meta("population 's': the projections form a cycle: s -> s", meta, arrays)


def test_long_cycle_downstream_of_the_input():
    meta, arrays = network()
    meta["populations"] += [{"name": "a", "kind": "relay", "shape": [3, 4, 4]},
                            {"name": "b", "kind": "relay", "shape": [3, 4, 4]}]
    meta["projections"] += [
        {"name": "c1a", "op": "identity", "source": "c1", "target": "a"},
        {"name": "ab", "op": "identity", "source": "a", "target": "b"},
        {"name": "bc1", "op": "identity", "source": "b", "target": "c1"},
    ]
    refuse_meta("population 'c1': the projections form a cycle: c1 -> a -> b -> c1", meta, arrays)


def test_dangling_source():
    meta, arrays = network()
    proj(meta, "out")["source"] = "foo"
    refuse_meta("projection 'out': 'source' names no population 'foo'", meta, arrays)


def test_dangling_target():
    meta, arrays = network()
    proj(meta, "out")["target"] = "bar"
    refuse_meta("projection 'out': 'target' names no population 'bar'", meta, arrays)


def test_conv_target_shape_mismatch():
    meta, arrays = network()
    proj(meta, "c1")["padding"] = [0, 0]
    refuse_meta("projection 'c1': the target's shape (3, 4, 4) is not the conv2d output "
                "(3, 2, 2)", meta, arrays)


def test_pool_target_shape_mismatch():
    meta, arrays = network()
    proj(meta, "p1")["stride"] = [1, 1]
    refuse_meta("projection 'p1': the target's shape (3, 2, 2) is not the avgpool2d output (3, 3, 3)", meta, arrays)


def test_conv_output_empty():
    meta, arrays = network()
    arrays["c1.weight"] = np.zeros((3, 2, 7, 7), np.float32)
    proj(meta, "c1")["padding"] = [1, 1]
    refuse_meta("projection 'c1': kernel (7, 7) does not fit the padded source (4, 4)", meta, arrays)


def test_dense_into_3d_target():
    meta, arrays = network()
    pop(meta, "out")["shape"] = [3, 1, 1]
    refuse_meta("projection 'out': dense needs a 1-D target", meta, arrays)


def test_conv_from_1d_source():
    meta, arrays = network()
    pop(meta, "input")["shape"] = [32]
    refuse_meta("projection 'c1': weight has shape (3, 2, 3, 3), but the source has 32 channels", meta, arrays)


def test_identity_shape_mismatch():
    meta, arrays = network()
    pop(meta, "s")["shape"] = [3, 2, 3]
    refuse_meta("identity needs a target of the source's shape", meta, arrays)


def test_identity_weight_shape():
    meta, arrays = network()
    arrays["s.gain"] = np.ones(12, np.float32)
    refuse_meta("expected (3,) (one gain per channel)", meta, arrays)


def test_padding_not_smaller_than_kernel():
    meta, arrays = network()
    proj(meta, "p1")["padding"] = [2, 0]
    refuse_meta("projection 'p1': padding (2, 0) must be in 0..kernel-1",
                meta, arrays)


def test_negative_padding():
    meta, arrays = network()
    proj(meta, "c1")["padding"] = [-1, 1]
    refuse_meta("projection 'c1': padding (-1, 1) must be in 0..kernel-1", meta, arrays)


def test_stride_zero():
    meta, arrays = network()
    proj(meta, "p1")["stride"] = [0, 2]
    refuse_meta("projection 'p1': stride (0, 2) must be in 1..16777216", meta, arrays)


def test_kernel_not_a_pair():
    meta, arrays = network()
    proj(meta, "p1")["kernel"] = 2
    refuse_meta("projection 'p1': 'kernel' must be a list of 2 integers", meta, arrays)


def test_kernel_missing():
    meta, arrays = network()
    del proj(meta, "p1")["kernel"]
    refuse_meta("projection 'p1': kernel (0, 0) must be in 1..16777216", meta, arrays)


# ---------------------------------------------------------------------------
# Fuzzing: only FormatError, ever
# ---------------------------------------------------------------------------

_VALID_STORED = file_bytes()
_VALID_DEFLATED = file_bytes(compressed=True)




def _load_only_format_errors(data):
    try:
        spec = load(data)
    except FormatError:
        return None
    return spec


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([_VALID_STORED, _VALID_DEFLATED]), OPS)
def test_fuzz_archive_bytes(data, ops):
    _load_only_format_errors(mutate(data, ops))


def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


_MEMBERS = _members(_VALID_STORED)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_MEMBERS) - 1), OPS, st.booleans(),
       st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_fuzz_member_bytes(which, ops, header_only, compression):
    # damage inside a member, in a well-formed zip (valid CRCs): reaches the .npy/JSON parsers
    members = list(_MEMBERS)
    name, body = members[which]
    if header_only:
        ops = [(k, p % 128, v) for k, p, v in ops]
    members[which] = (name, mutate(body, ops))
    _load_only_format_errors(make_zip(members, compression))


_JSON_LEAVES = (st.none() | st.booleans() | st.integers() | st.integers(-3, 40)
                | st.floats(allow_nan=False, allow_infinity=False)
                | st.sampled_from([0, 1, 2, -1, 2 ** 24, 2 ** 24 + 1, 2 ** 28, 2 ** 40,
                                   10 ** 400, 1e308, 1e-320, 0.5, -0.0])
                | st.text(max_size=8)
                | st.sampled_from(["input", "c1", "p1", "s", "out", "c1.weight", "out.bias",
                                   "s.gain", "if", "relay", "accumulate", "input", "conv2d",
                                   "dense", "identity", "avgpool2d", "zero", "poisson",
                                   "snncore", "__snncore__", "a/b", ""]))
_JSON = st.recursive(_JSON_LEAVES,
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(
                         st.sampled_from(["name", "kind", "shape", "threshold", "op", "x",
                                          "weight", "source", "target", "bias"]) | st.text(
                             max_size=5), c, max_size=4),
                     max_leaves=12)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


_META, _ARRAYS = network()
_META_PATHS = list(_paths(_META))


def _replace(meta, path, value, delete):
    if not path:
        return value
    meta = copy.deepcopy(meta)
    parent = meta
    for k in path[:-1]:
        parent = parent[k]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return meta


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_META_PATHS), _JSON, st.booleans()),
                min_size=1, max_size=3))
def test_fuzz_metadata_values(edits):
    meta = _META
    for path, value, delete in edits:
        try:
            meta = _replace(meta, path, value, delete)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier edit removed or replaced this path
    arrays = {k: v.copy() for k, v in _ARRAYS.items()}
    try:
        spec = normalize(meta, arrays)
    except FormatError:
        return
    # accepted: then it round-trips exactly
    again = normalize(*denormalize(spec))
    assert again["order"] == spec["order"]
    assert [p["name"] for p in again["populations"]] == [p["name"] for p in spec["populations"]]
    if isinstance(meta, dict):
        try:
            data = file_bytes(meta, arrays)
        except FormatError:
            return  # e.g. not writable as JSON
        load(data)


def test_name_with_nul_character_is_refused():
    import snncore
    b = snncore.NetworkBuilder((2,))
    b.population("bad\x00name", (2,), kind="accumulate")
    b.identity("w", "input", "bad\x00name")
    with pytest.raises(snncore.FormatError, match="NUL"):
        b.build("bad\x00name")


@pytest.mark.parametrize("depth, ok", [(64, True), (65, False), (600, False)])
def test_json_nesting_limit(depth, ok):
    meta, arrays = network()
    # the top object is level 1, provenance level 2, and the innermost scalar `depth`
    nested = 1
    for _ in range(depth - 3):
        nested = [nested]
    meta["provenance"] = {"x": nested}
    data = with_members(meta, arrays)
    if ok:
        assert load(data)["provenance"] == {"x": nested}
    else:
        refuse("metadata: nested more than %d deep" % snncore._limits.MAX_JSON_DEPTH, data=data)


# ---------------------------------------------------------------------------
# A compressed bomb: refused from its header
# ---------------------------------------------------------------------------

BOMB = Path(__file__).resolve().parent / "bomb" / "shape_mismatch.npz"


_BOMB_RUN = """
import resource, sys, time
import snncore
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.process_time()
try:
    snncore.load(sys.argv[1])
except snncore.FormatError as e:
    print(e.status, e.projection, time.process_time() - t0,
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0)
"""


def test_compressed_bomb_is_refused_from_its_header():
    """w.npy inflates to 2 GiB (csrc/tests/make_bomb.py) and declares a shape the
    metadata contradicts: refused with the check's status from its header, in
    well under half a second of CPU time (inflating it would take seconds) and
    well under 64 MB more memory (the process's peak, so C's allocations count)."""
    out = subprocess.run([sys.executable, "-c", _BOMB_RUN, str(BOMB)], capture_output=True,
                         text=True, check=True).stdout.split()
    status, projection, cpu, rss_kib = int(out[0]), int(out[1]), float(out[2]), int(out[3])
    assert (status, projection) == (E_SHAPE, 0)
    assert cpu < 0.5
    assert rss_kib < 64 * 1024


@pytest.mark.parametrize("shape, status", [((0, 2 ** 70), FormatError.FORMAT),
                                           ((0, 2 ** 61), E_SHAPE)])
def test_empty_array_with_a_huge_dimension(shape, status):
    """A header may declare no data with a dimension beyond any int64 product: the
    reader refuses dimensions over 2^62 (as the C reader), the check the rest."""
    meta, arrays = network()
    del arrays["out.weight"]
    data = with_members(meta, arrays, [("out.weight.npy", raw_npy("<f4", shape, b""))])
    with pytest.raises(FormatError) as info:
        snncore.load(io.BytesIO(data))
    assert info.value.status == status, str(info.value)


def test_load_takes_a_memory_bound():
    data = file_bytes()
    snncore.load(io.BytesIO(data))
    with pytest.raises(FormatError) as info:
        snncore.load(io.BytesIO(data), max_bytes=1000)
    assert info.value.status == E_LIMIT
