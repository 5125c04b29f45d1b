"""The library's loader on a corpus of valid and broken files, from Python and C.

tests/data/corpus/*.npz (written by tests/data/make_data.py, also the seed corpus of
the C fuzzer) lists in tests/data/corpus.tsv whether the loader accepts or refuses
each file, and for a refusal its status (snn_status) and the item at fault. Python
reads files through the C loader compiled into snncore._core; here:

- ``snncore.load`` gives exactly those verdicts, and never raises anything but
  FormatError;
- libsnncore as meson builds it (through ctypes, as an embedding program calls it)
  gives the same verdicts, statuses and items, so the two builds cannot drift;
- hypothesis mutates the corpus and the metadata: still only FormatError, and the
  same verdict, status and item from both builds.

The C library is found through SNNCORE_LIB (./dev sets it to build-c/libsnncore.so)
or at build-c/libsnncore.so; the C half is skipped without it.
"""

import copy
import ctypes
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mutations import OPS, mutate

import snncore
from snncore.errors import FormatError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
CORPUS = DATA / "corpus"


def _manifest():
    rows = []
    for line in (DATA / "corpus.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            rows.append(tuple(line.split("\t")))
    return rows


ROWS = _manifest()


def _item(population, projection):
    return ("population %d" % population if population >= 0 else
            "projection %d" % projection if projection >= 0 else "-")


def python_verdict(data):
    """(verdict, status, item, message): ('ok', '-', '-', '') or ('refuse', the
    status, the item at fault, the message); anything but FormatError propagates."""
    try:
        snncore.load(io.BytesIO(data))
    except FormatError as e:
        return "refuse", str(e.status), _item(e.population, e.projection), str(e)
    return "ok", "-", "-", ""


# ---------------------------------------------------------------------------
# The C loader through ctypes
# ---------------------------------------------------------------------------

class _Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("population", ctypes.c_int32),
                ("projection", ctypes.c_int32), ("message", ctypes.c_char * 256)]


def _load_library():
    path = Path(os.environ.get("SNNCORE_LIB") or ROOT / "build-c" / "libsnncore.so")
    if not path.is_file():
        return None, path
    lib = ctypes.CDLL(str(path))
    lib.snn_file_read_memory.restype = ctypes.c_void_p
    lib.snn_file_read_memory.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                         ctypes.POINTER(_Error)]
    lib.snn_file_free.restype = None
    lib.snn_file_free.argtypes = [ctypes.c_void_p]
    lib.snn_has_loader.restype = ctypes.c_int
    if not lib.snn_has_loader():
        return None, path
    return lib, path


LIB, LIB_PATH = _load_library()
needs_c = pytest.mark.skipif(
    LIB is None, reason=f"libsnncore with the loader is not built ({LIB_PATH}): run ./dev test, or "
                        f"`meson setup build-c && meson compile -C build-c`")

SNN_E_NOMEM = snncore._core.E_NOMEM


def c_verdict(data):
    """As python_verdict, from the C loader."""
    err = _Error()
    handle = LIB.snn_file_read_memory(data, len(data), None, ctypes.byref(err))
    if handle:
        LIB.snn_file_free(handle)
        return "ok", "-", "-", ""
    assert err.status not in (0, SNN_E_NOMEM), (err.status, err.message)
    return ("refuse", str(err.status), _item(err.population, err.projection),
            err.message.decode("utf-8", "replace"))


# ---------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,verdict,status,item", ROWS, ids=[r[0] for r in ROWS])
def test_python_on_the_corpus(name, verdict, status, item):
    got = python_verdict((CORPUS / name).read_bytes())
    assert got[:3] == (verdict, status, item), got[3]


@needs_c
@pytest.mark.parametrize("name,verdict,status,item", ROWS, ids=[r[0] for r in ROWS])
def test_c_library_on_the_corpus(name, verdict, status, item):
    got = c_verdict((CORPUS / name).read_bytes())
    assert got[:3] == (verdict, status, item), got[3]


def test_the_corpus_covers_every_refusal():
    names = {r[0] for r in ROWS}
    assert len(ROWS) >= 150
    assert sum(r[1] == "ok" for r in ROWS) >= 10
    assert {r[0] for r in ROWS if r[0].startswith("strict_")} and all(
        r[1] == "refuse" for r in ROWS if r[0].startswith("strict_"))
    for must in ("cycle.npz", "nan_weight.npz", "member_object_pickle.npz", "version_2.npz",
                 "npy_huge_shape.npz", "truncated_deflated_3.npz", "member_encrypted.npz"):
        assert must in names
    on_disk = {p.name for p in CORPUS.glob("*.npz")}
    assert on_disk == names, "corpus.tsv and tests/data/corpus disagree: rerun make_data.py"


# ---------------------------------------------------------------------------
# Fuzzing
# ---------------------------------------------------------------------------

_SEEDS = [(CORPUS / r[0]).read_bytes() for r in ROWS
          if r[0].startswith("ok_") or r[0].startswith("member_")]
_SEEDS += [(DATA / f"{n}.npz").read_bytes() for n in ("junction", "conv_pool_dense")]




def _agree(data):
    """Only FormatError, and the same verdict, status and item from both builds."""
    py = python_verdict(data)
    if LIB is not None:
        c = c_verdict(data)
        assert py[:3] == c[:3], f"Python: {py}; C: {c}"


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SEEDS), OPS)
def test_fuzz_damaged_archives(data, ops):
    _agree(mutate(data, ops))


def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def _zip(members, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, body in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), body)
    return buf.getvalue()


_BASE = _members((CORPUS / "ok_stored.npz").read_bytes())


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_BASE) - 1), OPS, st.booleans(),
       st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_fuzz_member_bytes(which, ops, header_only, compression):
    """Damage inside one member of a well-formed archive (valid CRCs): it reaches the
    .npy and JSON parsers."""
    members = list(_BASE)
    name, body = members[which]
    if header_only:
        ops = [(k, p % 128, v) for k, p, v in ops]
    members[which] = (name, mutate(body, ops))
    _agree(_zip(members, compression))


_META = json.loads(np.load(io.BytesIO(dict(_BASE)["__snncore__.npy"])).tobytes())
_ARRAY_MEMBERS = [(n, b) for n, b in _BASE if n != "__snncore__.npy"]

_LEAVES = (st.none() | st.booleans() | st.integers(-3, 40) | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False)
           | st.sampled_from([0, 1, 2, -1, 2 ** 24, 2 ** 24 + 1, 2 ** 28, 2 ** 40, 1e39, 1e-50,
                              0.5, -0.0, 1.0])
           | st.text(max_size=6)
           | st.sampled_from(["input", "c1", "p1", "s", "out", "c1.weight", "out.bias", "s.gain",
                              "c1.threshold", "if", "relay", "accumulate", "conv2d", "dense",
                              "identity", "avgpool2d", "zero", "subtract", "poisson", "regular",
                              "snncore", "__snncore__", "a/b", ""]))
_JSON = st.recursive(_LEAVES, lambda c: st.lists(c, max_size=4) | st.dictionaries(
    st.sampled_from(["name", "kind", "shape", "threshold", "op", "weight", "source", "target",
                     "bias", "kernel", "stride", "padding", "signed", "threshold_neg", "start",
                     "reset", "v_init"]) | st.text(max_size=4), c, max_size=4), max_leaves=10)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


_META_PATHS = list(_paths(_META)) + [("readout",), ("readout", "start"), ("input", "uint8_scale")]


def _edit(meta, path, value, delete):
    if not path:
        return value
    parent = meta
    for k in path[:-1]:
        parent = parent[k]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return meta


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_META_PATHS), _JSON, st.booleans()), min_size=1,
                max_size=3))
def test_fuzz_metadata(edits):
    """Edited metadata in a well-formed archive."""
    meta = copy.deepcopy(_META)
    for path, value, delete in edits:
        try:
            meta = _edit(meta, path, value, delete)
        except (KeyError, IndexError, TypeError):
            pass        # an earlier edit removed or replaced this path
    try:
        text = json.dumps(meta).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        return
    data = _zip([("__snncore__.npy", _npy(text))] + _ARRAY_MEMBERS)
    _agree(data)


def _npy(raw):
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(raw, np.uint8))
    return buf.getvalue()
