"""A network's description (a spec), read from a file or from ``(meta, arrays)``
in memory, and written back.

There is one reader and one judge of what a network file means: the C library's
loader (csrc/loader, through the binding) reads the archive, the metadata's
syntax and types and the arrays' headers, and ``snn_net_check`` judges the
description before any array's data is read (docs/architecture.md). Networks
made in memory take the same path: ``normalize(meta, arrays)`` writes them as a
file in memory and reads that. ``denormalize(spec)`` goes back to
``(meta, arrays)``.

A spec is a plain dict::

    {"populations": [{"name", "kind", "shape": (C, H, W), "ndim": 1 | 3,
                      "threshold": float32 (1,) | (C,) | None, "signed": bool,
                      "threshold_neg": float32 (1,) | (C,) | None, "retract": bool,
                      "reset": "subtract" | "zero", "v_init": float,
                      "bias": float32 (C,) | the population's shape | None}, ...],
     "projections": [{"name", "op", "source": int, "target": int,
                      "weight": float32 C-contiguous | None,
                      "kernel": (kh, kw), "stride": (sh, sw), "padding": (ph, pw),
                      "ceil_mode": bool, "scale": (sh, sw),
                      "groups": int}, ...],      # conv2d: >= 1 (1: ordinary); others: 0
     "input": int, "output": int, "order": [int, ...],
     "encoding": str, "rate": float, "uint8_scale": float,
     "producer": str | None, "provenance": dict, "version": int,   # the file's format version
     "readout_start": int}   # delayed read-out hint (1: read every step)
"""

import copy
import io
import os

import numpy as np

from . import _core, _limits
from ._npz import write_npz
from .errors import FormatError

__all__ = ["read", "normalize", "denormalize", "KINDS", "OPS", "WINDOWED", "POOLS",
           "RESETS", "ENCODINGS", "DEFAULT_UINT8_SCALE"]

KINDS = _core.KINDS
OPS = _core.OPS
RESETS = _core.RESETS
ENCODINGS = _core.ENCODINGS
# The library's table of metadata keys (snn_keys), by owner.
_ROWS = {owner: tuple(row for row in _core.KEYS if row["owner"] == owner)
         for owner in ("population", "projection", "input", "readout")}


def _applies(owner, key, which):
    return any(row["key"] == key and which in row["applies"] for row in _ROWS[owner])


# the ops with a window (kernel, stride and padding keys), and among them the pools
# (whose file gives the kernel, and whose stride defaults to it)
WINDOWED = tuple(op for op in OPS if _applies("projection", "padding", op))
POOLS = tuple(op for op in WINDOWED if _applies("projection", "kernel", op))

DEFAULT_UINT8_SCALE = next(row["fallback"] for row in _ROWS["input"]
                            if row["key"] == "uint8_scale")


def _format_error(e):
    """The FormatError of a CoreError: the library's message, status and item."""
    return FormatError(str(e), e.status, e.population, e.projection)


def read(source, *, max_bytes=None):
    """The spec of a network file: `source` is a path (str, bytes or
    os.PathLike), a binary file object, or the file's bytes (bytearray or
    memoryview). Raises FormatError, or OSError when the path cannot be read."""
    try:
        if isinstance(source, (str, bytes, os.PathLike)):
            with open(source, "rb"):    # OSError as Python words it (missing, a directory)
                pass
            return _core.read_file(source, max_bytes or 0)
        data = source if isinstance(source, (bytearray, memoryview)) else source.read()
        return _core.read_memory(memoryview(data).cast("B"), max_bytes or 0)
    except _core.CoreError as e:
        if e.status == _core.E_IO:
            raise OSError(str(e)) from None
        raise _format_error(e) from None


def normalize(meta, arrays, *, max_bytes=None):
    """The spec of ``(meta, arrays)`` held in memory: written as a network file
    in memory (arrays as float32) and read back, so that it meets the rules a
    file meets. ``max_bytes`` is the memory bound (default
    ``snncore.limits()["max_bytes"]``). Raises FormatError naming the key,
    population or projection at fault."""
    buf = io.BytesIO()
    write_npz(buf, meta, arrays)
    return read(buf.getbuffer(), max_bytes=max_bytes)


# ---------------------------------------------------------------------------
# denormalize
# ---------------------------------------------------------------------------

class _ArrayWriter:
    def __init__(self):
        self.arrays = {}

    def put(self, key, value):
        """The name under which `value` is written: `key`, or `key.1`, ... when
        another array has that name (an equal array shares it)."""
        value = np.asarray(value, dtype=np.float32, order="C")
        base, n = key, 1
        while key in self.arrays:
            old = self.arrays[key]
            if old.shape == value.shape and np.array_equal(old, value):
                return key
            key = "%s.%d" % (base, n)
            n += 1
        self.arrays[key] = value
        return key


def denormalize(spec):
    """Rebuild ``(meta, arrays)`` from a normalised spec.

    Arrays are named ``<population>.threshold`` / ``.threshold_neg`` /
    ``.bias`` and ``<projection>.weight``; a single threshold becomes a JSON
    number.  ``normalize(*denormalize(spec))`` equals ``spec``.
    """
    pops = spec["populations"]
    names = [p["name"] for p in pops]
    out = _ArrayWriter()

    def threshold(pop, role):
        t = np.asarray(pop[role], dtype=np.float32).reshape(-1)
        if t.size == 1:
            return float(t[0])
        return out.put("%s.%s" % (pop["name"], role), t)

    pop_objs = []
    for pop in pops:
        c, h, w = (int(d) for d in pop["shape"])
        ndim = int(pop.get("ndim", 3))
        obj = {"name": pop["name"], "kind": pop["kind"],
               "shape": [c] if ndim == 1 else [c, h, w]}
        if pop["kind"] == "if":
            obj["threshold"] = threshold(pop, "threshold")
            obj["reset"] = pop.get("reset", "subtract")
            obj["v_init"] = float(pop.get("v_init", 0.0))
            if pop.get("signed"):
                obj["signed"] = True
                obj["threshold_neg"] = threshold(pop, "threshold_neg")
            if pop.get("retract"):
                obj["retract"] = True
        if pop.get("bias") is not None:
            b = np.asarray(pop["bias"], dtype=np.float32).reshape(-1)
            if b.size != c:
                b = b.reshape((c,) if ndim == 1 else (c, h, w))
            obj["bias"] = out.put("%s.bias" % pop["name"], b)
        pop_objs.append(obj)

    proj_objs = []
    for pr in spec["projections"]:
        obj = {"name": pr["name"], "op": pr["op"],
               "source": names[int(pr["source"])], "target": names[int(pr["target"])]}
        if pr.get("weight") is not None:
            obj["weight"] = out.put("%s.weight" % pr["name"], pr["weight"])
        if pr["op"] in POOLS:
            obj["kernel"] = [int(v) for v in pr["kernel"]]
        if pr["op"] in WINDOWED:
            obj["stride"] = [int(v) for v in pr["stride"]]
            obj["padding"] = [int(v) for v in pr["padding"]]
        if pr.get("ceil_mode"):
            obj["ceil_mode"] = True
        if pr["op"] == "upsample2d":
            obj["scale"] = [int(v) for v in pr["scale"]]
        if pr["op"] == "conv2d" and int(pr.get("groups", 1)) > 1:
            obj["groups"] = int(pr["groups"])      # omitted when 1: older files unchanged
        proj_objs.append(obj)

    meta = {"format": "snncore", "version": _limits.FORMAT_VERSION}
    if spec.get("producer") is not None:
        meta["producer"] = spec["producer"]
    meta["input"] = {
        "population": names[int(spec["input"])],
        "encoding": spec.get("encoding", "analog"),
        "rate": float(spec.get("rate", 1.0)),
        "uint8_scale": float(spec.get("uint8_scale", DEFAULT_UINT8_SCALE)),
    }
    meta["output"] = names[int(spec["output"])]
    meta["populations"] = pop_objs
    meta["projections"] = proj_objs
    if int(spec.get("readout_start", 1)) > 1:
        meta["readout"] = {"start": int(spec["readout_start"])}
    meta["provenance"] = copy.deepcopy(spec.get("provenance") or {})
    return meta, out.arrays
