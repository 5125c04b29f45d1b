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
                      "threshold_neg": float32 (1,) | (C,) | None, "retract": bool,
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
# The library's table of metadata keys (snn_keys), by owner: both readers walk it.
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
_F32 = np.dtype("<f4")
_INT32 = (-2 ** 31, 2 ** 31 - 1)
_INT64 = (-2 ** 63, 2 ** 63 - 1)
_ARRAY_ROLES = {"populations": ("threshold", "threshold_neg", "bias"), "projections": ("weight",)}
# the JSON type of the string, boolean and integer keys, and its name in messages
_JSON = {"name": (str, "a string"), "choice": (str, "a string"),
         "population": (str, "a population name"), "bool": (bool, "true or false"),
         "int": (int, "an integer")}


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


def _dtype_problem(dtype, expected):
    """Why an array of `dtype` is not one of `expected` (float32 or uint8, as
    little-endian numpy dtypes), or None; the file reader's words too."""
    if dtype.hasobject:
        return "an object array (it would need pickle); only float32 arrays are allowed"
    if dtype.str == expected.str:
        return None
    if expected == _F32 and dtype.str == ">f4":
        return "big-endian float32 is not supported; store arrays as little-endian float32"
    return "dtype %s (%s), expected %s" % (dtype, dtype.str, "float32" if expected == _F32
                                           else "uint8")


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


def _field(row):
    """The spec's key for a row's value."""
    return "readout_start" if row["owner"] == "readout" else row["key"]


class _Reader:
    """Refusals name the item at fault: `where` is its label, `pop` and `proj`
    its index (or -1)."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.index_of = {}
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

    def number(self, key, value):
        if not _is_number(value):
            self.fail("%s must be a number, not %s" % (key, _tname(value)))
        return _float(value)

    def ints(self, key, value, count, bounds):
        """A list of `count` integers, clamped to `bounds`."""
        if (not isinstance(value, (list, tuple)) or len(value) not in count
                or not all(_is_int(v) for v in value)):
            n = " or ".join(str(c) for c in count)
            self.fail("%s must be a list of %s integers" % (key, n))
        return tuple(_clamp(v, bounds) for v in value)

    def keys(self, obj, owner, which):
        """Every key of `obj` applies to kind or op `which`."""
        for key in obj:
            if _applies(owner, key, which):
                continue
            if any(row["key"] == key for row in _ROWS[owner]):
                self.fail("%r does not apply to %s %ss" % (key, which, owner))
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
        if isinstance(a, np.ndarray) and _dtype_problem(a.dtype, _F32):
            self.fail("%s: array %r: %s" % (role, value, _dtype_problem(a.dtype, _F32)))
        if len(a.shape) > 4:
            self.fail("%s: array %r has %d dimensions, at most 4 are allowed"
                      % (role, value, len(a.shape)))
        return a, value

    def threshold(self, key, value):
        """A threshold: a number (an array of one float32) or an array name."""
        if _is_number(value):
            return np.array([_float32(_float(value))], dtype=np.float32), None
        if not isinstance(value, str):
            self.fail("%s must be a number or an array name, not %s" % (key, _tname(value)))
        return self.array(value, key)

    def value(self, row, value):
        """The value of a key given, as its row's type says."""
        key, kind = row["key"], row["type"]
        if kind in _JSON and (not isinstance(value, _JSON[kind][0])
                              or isinstance(value, bool) != (kind == "bool")):
            self.fail("%s must be %s, not %s" % (key, _JSON[kind][1], _tname(value)))
        if kind == "name" and "\x00" in value:
            self.fail("the name holds a NUL character")
        if kind == "choice" and value not in row["choices"]:
            self.fail("unknown %s %r (expected one of %s)"
                      % (key, value, ", ".join(row["choices"])))
        if kind == "population" and value not in self.index_of:
            self.fail("%s %r names no population" % (key, value))
        if kind == "count" and (not _is_int(value) or value < 1):
            self.fail("%s must be an integer >= 1, not %s" % (
                key, value if _is_int(value) else _tname(value)))
        if kind in ("shape", "pair"):
            return self.ints(key, value, (1, 3) if kind == "shape" else (2,),
                             _INT64 if kind == "shape" else _INT32)
        if kind == "array":
            return self.array(value, key)
        if kind == "threshold":
            return self.threshold(key, value)
        if kind in ("float", "double"):
            number = self.number(key, value)
            return _float32(number) if kind == "float" else number
        if kind in ("int", "count"):
            return _clamp(value, _INT32)
        return self.index_of[value] if kind == "population" else value

    def read(self, obj, owner, item):
        """Reads the keys of `owner` from `obj` into the spec dict `item`, as the
        library's table lists them: a population's kind or a projection's op (its
        second row) selects the rows that apply, after which other keys are refused."""
        rows, which = _ROWS[owner], None
        for n, row in enumerate(rows):
            if which is not None and which not in row["applies"]:
                continue
            if row["key"] in obj:
                value = self.value(row, obj[row["key"]])
            elif row["required"]:
                self.fail("required key %r is missing" % (row["key"],))
            else:
                value = _fallback(row, item)
            _store(row, item, value)
            if row["type"] == "name":
                self.at("%s %r" % (owner, value), self.pop, self.proj)
            if n == 1 and owner in ("population", "projection"):
                which = value
                self.keys(obj, owner, which)
        for row in rows:
            if _field(row) not in item:
                _store(row, item, _fallback(row, item, applies=False))
        return item


def _fallback(row, item, applies=True):
    """The value of a key that is absent: its row's default, or another key's
    value; where the row does not apply, zero (as the C reader leaves its field)."""
    kind, fallback = row["type"], row["fallback"] if applies else 0
    if kind == "pair":
        fallback_key = row["fallback_key"] if applies else None
        return item[fallback_key] if fallback_key else (int(fallback),) * 2
    if kind == "choice":
        return row["choices"][int(fallback)]
    if kind in ("array", "threshold"):
        return None, None
    return {"float": float, "double": float, "bool": bool}.get(kind, int)(fallback)


def _store(row, item, value):
    """Puts a row's value into the spec dict `item`: an array as the array (or
    header) and its name, a shape as ndim and (C, H, W)."""
    if row["type"] in ("array", "threshold"):
        item[row["key"]], item[row["key"] + "_key"] = value
    elif row["type"] == "shape":
        item["ndim"], item["shape"] = len(value), value if len(value) == 3 else (value[0], 1, 1)
    else:
        item[_field(row)] = value


# ---------------------------------------------------------------------------
# describe: the reader's rules (the C loader's csrc/loader/describe.c walks the
# same table in the same order)
# ---------------------------------------------------------------------------

def _items(r, raw, owner):
    """The spec dicts of the JSON list of populations or projections."""
    group = []
    for i, obj in enumerate(raw):
        r.at("%s %d" % (owner, i), **{"pop" if owner == "population" else "proj": i})
        if not isinstance(obj, dict):
            r.fail("must be an object, not %s" % (_tname(obj),))
        group.append(r.read(obj, owner, {}))
    return group


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
    spec = {"producer": producer, "version": version, "provenance": copy.deepcopy(provenance),
            "order": None}
    r.at("metadata key 'readout'")
    r.read(readout, "readout", spec)
    r.at("metadata key 'input'")
    in_name = r.typed(inp, "population", str, "a string", required=True)
    r.read(inp, "input", spec)
    pops = _items(r, pops_raw, "population")
    for i, pop in enumerate(pops):
        r.index_of.setdefault(pop["name"], i)      # a duplicate is the check's to report
    r.at("metadata key 'input'")
    spec["input"] = _endpoint(r, in_name, "population")
    r.at("metadata key 'output'")
    spec["output"] = _endpoint(r, output, "output")
    spec["populations"] = pops
    spec["projections"] = _items(r, projs_raw, "projection")
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
            if pop.get("retract"):
                obj["retract"] = True
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
        "uint8_scale": float(spec.get("uint8_scale", DEFAULT_UINT8_SCALE)),
    }
    meta["output"] = names[int(spec["output"])]
    meta["populations"] = pop_objs
    meta["projections"] = proj_objs
    if int(spec.get("readout_start", 1)) > 1:
        meta["readout"] = {"start": int(spec["readout_start"])}
    meta["provenance"] = copy.deepcopy(spec.get("provenance") or {})
    return meta, out.arrays
