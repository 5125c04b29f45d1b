"""A network file's metadata turned into a network description (a spec), and back.

Reading has two stages (docs/architecture.md). This module is the Python
reader's second half: ``describe(meta, arrays)`` checks the metadata's syntax and
types (required keys, their JSON types, the keys each kind and op may have,
names that items refer to) and returns a spec. Everything about the meaning
(shapes and their arithmetic, the graph, thresholds, sizes) is checked once, by
the C library's ``snn_net_check``: ``check(spec)``. ``normalize`` does both for
arrays in memory; ``denormalize(spec)`` goes back to ``(meta, arrays)``.

A spec is a plain dict::

    {"populations": [{"name", "kind", "shape": (C, H, W), "ndim": 1 | 3,
                      "threshold": float32 (1,) | (C,) | None, "signed": bool,
                      "threshold_neg": float32 (1,) | (C,) | None,
                      "reset": "subtract" | "zero", "v_init": float,
                      "bias": float32 (C,) | the population's shape | None,
                      "bias_key", "threshold_key", "threshold_neg_key": str | None}, ...],
     "projections": [{"name", "op", "source": int, "target": int,
                      "weight": float32 C-contiguous | None, "weight_key": str | None,
                      "kernel": (kh, kw), "stride": (sh, sw), "padding": (ph, pw),
                      "groups": int}, ...],      # conv2d: >= 1 (1: ordinary); others: 0
     "input": int, "output": int, "order": [int, ...],
     "encoding": str, "rate": float, "uint8_scale": float,
     "producer": str | None, "provenance": dict, "version": int,   # the file's format version
     "readout_start": int}   # delayed read-out hint (1: read every step)

Before ``check``, an array may be a reader's header (anything with ``.shape``)
whose data is not read yet, and keeps the shape its file gave it.
"""

import copy
import math

import numpy as np

from . import _core, _limits
from .errors import FormatError

__all__ = ["describe", "check", "fill", "normalize", "denormalize", "KINDS", "OPS", "WINDOWED",
           "POOLS", "RESETS",
           "ENCODINGS"]

KINDS = _core.KINDS
OPS = _core.OPS
RESETS = _core.RESETS
ENCODINGS = _core.ENCODINGS
# the ops with a window (kernel, stride and padding keys), and among them the pools
# (whose file gives the kernel, and whose stride defaults to it)
WINDOWED = tuple(op for op in OPS if "padding" in _core.OP_KEYS[op])
POOLS = tuple(op for op in WINDOWED if "kernel" in _core.OP_KEYS[op])

_DEFAULT_UINT8_SCALE = 1.0 / 255.0
_ALL_POP_KEYS = frozenset(k for keys in _core.KIND_KEYS.values() for k in keys)
_ALL_PROJ_KEYS = frozenset(k for keys in _core.OP_KEYS.values() for k in keys)
_INT32 = (-2 ** 31, 2 ** 31 - 1)
_INT64 = (-2 ** 63, 2 ** 63 - 1)
_ARRAY_ROLES = {"populations": ("threshold", "threshold_neg", "bias"), "projections": ("weight",)}


# ---------------------------------------------------------------------------
# JSON types
# ---------------------------------------------------------------------------

def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _is_number(x):
    return _is_int(x) or (isinstance(x, (float, np.floating)) and not isinstance(x, bool))


def _tname(x):
    """The JSON name of a value's type, for messages."""
    if isinstance(x, (bool, np.bool_)):
        return "a boolean"
    if x is None:
        return "null"
    if _is_number(x):
        return "a number"
    if isinstance(x, str):
        return "a string"
    if isinstance(x, (list, tuple)):
        return "a list"
    if isinstance(x, dict):
        return "an object"
    return "a " + type(x).__name__


def _clamp(value, bounds):
    return max(bounds[0], min(bounds[1], int(value)))


def _float32(x):
    """float32(x) as a Python float: IEEE rounding, infinity beyond the range (the
    check then refuses it), as the C reader converts."""
    with np.errstate(over="ignore", under="ignore"):
        return float(np.float32(x))


def _float(x):
    """A JSON number as a Python float (out of range: infinity, for the check)."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


class _Reader:
    """Refusals name the item at fault: `where` is its label, `pop` and `proj`
    its index (or -1)."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.where, self.pop, self.proj = "metadata", -1, -1

    def at(self, where, pop=-1, proj=-1):
        self.where, self.pop, self.proj = where, pop, proj

    def fail(self, text):
        raise FormatError("%s: %s" % (self.where, text), FormatError.FORMAT, self.pop, self.proj)

    def typed(self, obj, key, kinds, what, default=None, required=False):
        if key not in obj:
            if required:
                self.fail("required key %r is missing" % (key,))
            return default
        value = obj[key]
        if not isinstance(value, kinds) or isinstance(value, bool) != (kinds is bool):
            self.fail("%s must be %s, not %s" % (key, what, _tname(value)))
        return value

    def number(self, obj, key, default):
        value = obj.get(key, default)
        if not _is_number(value):
            self.fail("%s must be a number, not %s" % (key, _tname(value)))
        return _float(value)

    def name(self, obj):
        name = self.typed(obj, "name", str, "a string", required=True)
        if "\x00" in name:
            self.fail("the name holds a NUL character")
        return name

    def ints(self, obj, key, count, default, bounds):
        """A list of `count` integers (clamped to `bounds`), or the default."""
        if key not in obj:
            return default
        value = obj[key]
        if (not isinstance(value, (list, tuple)) or len(value) not in count
                or not all(_is_int(v) for v in value)):
            n = " or ".join(str(c) for c in count)
            self.fail("%s must be a list of %s integers" % (key, n))
        return tuple(_clamp(v, bounds) for v in value)

    def groups(self, obj, op):
        """conv2d's channel groups: an integer >= 1 (default 1; clamped to int32);
        0 for other ops. 0 and below are the reader's to refuse, since the
        description's 0 means "absent" (snn.h)."""
        if op != "conv2d":
            return 0
        value = obj.get("groups", 1)
        if not _is_int(value) or value < 1:
            self.fail("groups must be an integer >= 1, not %s" % (
                value if _is_int(value) else _tname(value),))
        return _clamp(value, _INT32)

    def keys(self, obj, allowed, every, what):
        for key in obj:
            if key in allowed:
                continue
            if key in every:
                self.fail("%r does not apply to %s" % (key, what))
            self.fail("unknown key %r" % (key,))

    def array(self, value, role):
        """An array reference: (array or header, name)."""
        if not isinstance(value, str):
            self.fail("%s must be an array name, not %s" % (role, _tname(value)))
        if not value or "/" in value or value.startswith("__"):
            self.fail("%s names an invalid array %r (empty, holding '/', or starting with "
                      "'__')" % (role, value))
        if value not in self.arrays:
            self.fail("%s: array %r names no member" % (role, value))
        a = self.arrays[value]
        if not isinstance(a, np.ndarray) and not isinstance(getattr(a, "shape", None), tuple):
            self.fail("%s: array %r is a %s, not a numpy array" % (role, value, type(a).__name__))
        if isinstance(a, np.ndarray) and a.dtype.str != "<f4":
            if a.dtype.hasobject:
                self.fail("%s: array %r is an object array; only float32 is allowed"
                          % (role, value))
            if a.dtype.str == ">f4":
                self.fail("%s: array %r is big-endian float32; only little-endian float32 is "
                          "allowed" % (role, value))
            self.fail("%s: array %r has dtype %s, expected float32" % (role, value, a.dtype))
        if len(a.shape) > 4:
            self.fail("%s: array %r has %d dimensions, at most 4 are allowed"
                      % (role, value, len(a.shape)))
        return a, value

    def threshold(self, obj, key):
        """A threshold: a number (an array of one float32) or an array name."""
        if key not in obj:
            return None, None
        value = obj[key]
        if _is_number(value):
            return np.array([_float32(_float(value))], dtype=np.float32), None
        if not isinstance(value, str):
            self.fail("%s must be a number or an array name, not %s" % (key, _tname(value)))
        return self.array(value, key)


# ---------------------------------------------------------------------------
# describe: the reader's rules (the C loader's csrc/loader/describe.c keeps the
# same rules in the same order)
# ---------------------------------------------------------------------------

def _population(r, i, obj):
    r.at("population %d" % i, pop=i)
    if not isinstance(obj, dict):
        r.fail("must be an object, not %s" % (_tname(obj),))
    name = r.name(obj)
    r.at("population %r" % (name,), pop=i)
    kind = r.typed(obj, "kind", str, "a string", required=True)
    if kind not in KINDS:
        r.fail("unknown kind %r (expected one of %s)" % (kind, ", ".join(KINDS)))
    r.keys(obj, _core.KIND_KEYS[kind], _ALL_POP_KEYS, "%s populations" % kind)
    shape = r.ints(obj, "shape", (1, 3), None, _INT64)
    if shape is None:
        r.fail("required key 'shape' is missing")
    pop = {"name": name, "kind": kind, "ndim": len(shape),
           "shape": tuple(shape) if len(shape) == 3 else (shape[0], 1, 1)}
    pop["threshold"], pop["threshold_key"] = r.threshold(obj, "threshold")
    reset = r.typed(obj, "reset", str, "a string", "subtract")
    if reset not in RESETS:
        r.fail("unknown reset mode %r (expected one of %s)" % (reset, ", ".join(RESETS)))
    pop["reset"] = reset
    pop["v_init"] = _float32(r.number(obj, "v_init", 0.0))
    pop["signed"] = bool(r.typed(obj, "signed", bool, "true or false", False))
    pop["threshold_neg"], pop["threshold_neg_key"] = r.threshold(obj, "threshold_neg")
    pop["bias"], pop["bias_key"] = r.array(obj["bias"], "bias") if "bias" in obj else (None, None)
    return pop


def _projection(r, j, obj, index_of):
    r.at("projection %d" % j, proj=j)
    if not isinstance(obj, dict):
        r.fail("must be an object, not %s" % (_tname(obj),))
    name = r.name(obj)
    r.at("projection %r" % (name,), proj=j)
    op = r.typed(obj, "op", str, "a string", required=True)
    if op not in OPS:
        r.fail("unknown op %r (expected one of %s)" % (op, ", ".join(OPS)))
    r.keys(obj, _core.OP_KEYS[op], _ALL_PROJ_KEYS, "%s projections" % op)
    proj = {"name": name, "op": op}
    for end in ("source", "target"):
        ref = r.typed(obj, end, str, "a population name", required=True)
        if ref not in index_of:
            r.fail("%s %r names no population" % (end, ref))
        proj[end] = index_of[ref]
    proj["weight"], proj["weight_key"] = (r.array(obj["weight"], "weight") if "weight" in obj
                                          else (None, None))
    zero = (0, 0)
    proj["kernel"] = r.ints(obj, "kernel", (2,), zero, _INT32)
    proj["stride"] = r.ints(obj, "stride", (2,), (proj["kernel"] if op in POOLS else (1, 1))
                            if op in WINDOWED else zero, _INT32)
    proj["padding"] = r.ints(obj, "padding", (2,), zero, _INT32)
    proj["ceil_mode"] = bool(r.typed(obj, "ceil_mode", bool, "true or false", False))
    proj["scale"] = r.ints(obj, "scale", (2,), zero, _INT32)
    proj["groups"] = r.groups(obj, op)
    return proj


def _endpoint(r, value, key):
    """input.population and output: the index of the population named."""
    if value not in r.index_of:
        r.fail("%s %r names no population" % (key, value))
    return r.index_of[value]


def describe(meta, arrays):
    """The spec of ``(meta, arrays)``, checked for syntax and types only.

    Parameters
    ----------
    meta : dict
        The decoded ``__snncore__`` metadata.
    arrays : mapping of str to ndarray or header
        The arrays the metadata may name: float32 ndarrays, or headers (any
        object with ``.shape``) of arrays not read yet.

    Raises
    ------
    FormatError
        With status ``FormatError.FORMAT`` and the item at fault.
    """
    r = _Reader(arrays)
    if not isinstance(meta, dict):
        r.fail("must be a JSON object, not %s" % (_tname(meta),))
    if meta.get("format") != "snncore":
        r.fail("format is %r, expected 'snncore': not an snncore network" % (meta.get("format"),))
    version = r.typed(meta, "version", int, "an integer", required=True)
    if version > _limits.FORMAT_VERSION:
        r.fail("format version %d is newer than this snncore supports (%d); upgrade snncore"
               % (version, _limits.FORMAT_VERSION))
    if version < 1:
        r.fail("format version %d is not valid (versions start at 1)" % (version,))
    producer = r.typed(meta, "producer", str, "a string")
    inp = r.typed(meta, "input", dict, "an object", required=True)
    output = r.typed(meta, "output", str, "a string", required=True)
    pops_raw = r.typed(meta, "populations", (list, tuple), "a list", required=True)
    projs_raw = r.typed(meta, "projections", (list, tuple), "a list", required=True)
    provenance = r.typed(meta, "provenance", dict, "an object", {})
    readout = r.typed(meta, "readout", dict, "an object", {})
    r.at("metadata key 'readout'")
    start = r.typed(readout, "start", int, "an integer", 1)
    r.at("metadata key 'input'")
    in_name = r.typed(inp, "population", str, "a string", required=True)
    encoding = r.typed(inp, "encoding", str, "a string", "analog")
    if encoding not in ENCODINGS:
        r.fail("unknown encoding %r (expected one of %s)" % (encoding, ", ".join(ENCODINGS)))
    spec = {"encoding": encoding, "rate": r.number(inp, "rate", 1.0),
            "uint8_scale": r.number(inp, "uint8_scale", _DEFAULT_UINT8_SCALE),
            "readout_start": _clamp(start, _INT32), "producer": producer, "version": version,
            "provenance": copy.deepcopy(provenance), "order": None}

    pops = [_population(r, i, obj) for i, obj in enumerate(pops_raw)]
    r.index_of = {}
    for i, pop in enumerate(pops):
        r.index_of.setdefault(pop["name"], i)      # a duplicate is the check's to report
    r.at("metadata key 'input'")
    spec["input"] = _endpoint(r, in_name, "population")
    r.at("metadata key 'output'")
    spec["output"] = _endpoint(r, output, "output")
    spec["populations"] = pops
    spec["projections"] = [_projection(r, j, obj, r.index_of) for j, obj in enumerate(projs_raw)]
    return spec


# ---------------------------------------------------------------------------
# check and normalise
# ---------------------------------------------------------------------------

def check(spec, max_bytes=None):
    """The C library's check of a spec (snn_net_check): arrays not read yet are
    checked by shape, the others by value too. Sets ``spec["order"]``.

    Raises
    ------
    FormatError
        With the check's status and the item at fault.
    """
    try:
        spec["order"] = [int(i) for i in _core.check(spec, max_bytes or 0)]
    except _core.CoreError as e:
        raise FormatError(str(e), e.status, e.population, e.projection) from None


def fill(spec, read):
    """Replace every array not read yet by ``read(name)``."""
    for group, roles in _ARRAY_ROLES.items():
        for item in spec[group]:
            for role in roles:
                if item[role] is not None and not isinstance(item[role], np.ndarray):
                    item[role] = read(item[role + "_key"])


def _normalise_arrays(spec):
    """After the check: thresholds flat, a conv2d's kernel its weight's."""
    for pop in spec["populations"]:
        for role in ("threshold", "threshold_neg"):
            if pop[role] is not None:
                pop[role] = np.ascontiguousarray(pop[role].reshape(-1))
    for proj in spec["projections"]:
        if proj["op"] == "conv2d":
            proj["kernel"] = tuple(int(k) for k in proj["weight"].shape[2:])
        if proj["weight"] is not None and proj["weight"].ndim == 0:
            proj["weight"] = proj["weight"].reshape(1)


def normalize(meta, arrays, *, max_bytes=None):
    """Read and check ``(meta, arrays)`` held in memory; return the normalised spec.

    ``max_bytes`` is the memory bound (default ``snncore.limits()["max_bytes"]``).
    Raises FormatError naming the key, population or projection at fault.
    """
    spec = describe(meta, arrays)
    check(spec, max_bytes)
    _normalise_arrays(spec)
    return spec


def normalize_unread(spec, read, *, max_bytes=None):
    """Check a spec whose arrays are headers, read them, check their values;
    return the normalised spec."""
    check(spec, max_bytes)
    fill(spec, read)
    check(spec, max_bytes)
    _normalise_arrays(spec)
    return spec


# ---------------------------------------------------------------------------
# denormalize
# ---------------------------------------------------------------------------

class _ArrayWriter:
    def __init__(self):
        self.arrays = {}

    def put(self, key, default, value):
        value = np.asarray(value, dtype=np.float32, order="C")
        key = key if key is not None else default
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

    Array names come from the ``*_key`` fields when set, else
    ``<population>.threshold`` / ``.threshold_neg`` / ``.bias`` and
    ``<projection>.weight``; a single threshold without a key becomes a JSON
    number.  ``normalize(*denormalize(spec))`` equals ``spec``.
    """
    pops = spec["populations"]
    names = [p["name"] for p in pops]
    out = _ArrayWriter()

    def threshold(pop, role):
        t = np.asarray(pop[role], dtype=np.float32).reshape(-1)
        key = pop.get(role + "_key")
        if key is None and t.size == 1:
            return float(t[0])
        return out.put(key, "%s.%s" % (pop["name"], role), t)

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
        if pop.get("bias") is not None:
            b = np.asarray(pop["bias"], dtype=np.float32).reshape(-1)
            if b.size != c:
                b = b.reshape((c,) if ndim == 1 else (c, h, w))
            obj["bias"] = out.put(pop.get("bias_key"), "%s.bias" % pop["name"], b)
        pop_objs.append(obj)

    proj_objs = []
    for pr in spec["projections"]:
        obj = {"name": pr["name"], "op": pr["op"],
               "source": names[int(pr["source"])], "target": names[int(pr["target"])]}
        if pr.get("weight") is not None:
            obj["weight"] = out.put(pr.get("weight_key"), "%s.weight" % pr["name"], pr["weight"])
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
        "uint8_scale": float(spec.get("uint8_scale", _DEFAULT_UINT8_SCALE)),
    }
    meta["output"] = names[int(spec["output"])]
    meta["populations"] = pop_objs
    meta["projections"] = proj_objs
    if int(spec.get("readout_start", 1)) > 1:
        meta["readout"] = {"start": int(spec["readout_start"])}
    meta["provenance"] = copy.deepcopy(spec.get("provenance") or {})
    return meta, out.arrays
