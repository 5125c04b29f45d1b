"""Validation of a network description and its normalised form.

``normalize(meta, arrays)`` checks everything docs/format.md lists under "What
makes a file invalid" that concerns the meaning of the metadata and arrays (the
container itself is checked by ``snncore._npz.read_npz``) and returns the
normalised spec that the rest of snncore consumes.  ``denormalize(spec)`` goes
back to ``(meta, arrays)``, so a network can be written out unchanged.

Normalised spec (a plain dict)::

    {"populations": [{"name", "kind", "shape": (C, H, W), "ndim": 1 | 3,
                      "threshold": float32 (1,) | (C,) | None, "signed": bool,
                      "threshold_neg": float32 (1,) | (C,) | None,
                      "reset": "subtract" | "zero", "v_init": float,
                      "bias": float32 (C,) | (C*H*W,) | None,
                      "bias_key", "threshold_key", "threshold_neg_key": str | None}, ...],
     "projections": [{"name", "op", "source": int, "target": int,
                      "weight": float32 C-contiguous | None, "weight_key": str | None,
                      "kernel": (kh, kw), "stride": (sh, sw), "padding": (ph, pw)}, ...],
     "input": int, "output": int, "order": [int, ...],
     "encoding": str, "rate": float, "uint8_scale": float,
     "producer": str | None, "provenance": dict,
     "readout_start": int}   # delayed read-out hint (1: read every step)
"""

import copy
import heapq
import math

import numpy as np

from . import _limits
from .errors import FormatError

__all__ = ["normalize", "denormalize", "KINDS", "OPS", "RESETS", "ENCODINGS"]

KINDS = ("input", "if", "relay", "accumulate")
OPS = ("conv2d", "avgpool2d", "dense", "identity")
RESETS = ("subtract", "zero")
ENCODINGS = ("analog", "poisson", "regular")

_DEFAULT_ENCODING = "analog"
_DEFAULT_RATE = 1.0
_DEFAULT_UINT8_SCALE = 1.0 / 255.0

_COMMON_POP_KEYS = ("name", "kind", "shape")
_POP_KEYS = {
    "input": frozenset(_COMMON_POP_KEYS),
    "if": frozenset(_COMMON_POP_KEYS + ("threshold", "reset", "v_init", "signed",
                                        "threshold_neg", "bias")),
    "relay": frozenset(_COMMON_POP_KEYS + ("bias",)),
    "accumulate": frozenset(_COMMON_POP_KEYS + ("bias",)),
}
_ALL_POP_KEYS = frozenset().union(*_POP_KEYS.values())

_COMMON_PROJ_KEYS = ("name", "op", "source", "target")
_PROJ_KEYS = {
    "conv2d": frozenset(_COMMON_PROJ_KEYS + ("weight", "stride", "padding")),
    "avgpool2d": frozenset(_COMMON_PROJ_KEYS + ("kernel", "stride", "padding", "weight")),
    "dense": frozenset(_COMMON_PROJ_KEYS + ("weight",)),
    "identity": frozenset(_COMMON_PROJ_KEYS + ("weight",)),
}
_ALL_PROJ_KEYS = frozenset().union(*_PROJ_KEYS.values())

_FINITE_CHUNK = 1 << 22


# ---------------------------------------------------------------------------
# Small type helpers
# ---------------------------------------------------------------------------

def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _is_number(x):
    return _is_int(x) or (isinstance(x, (float, np.floating)) and not isinstance(x, bool))


def _is_list(x):
    return isinstance(x, (list, tuple))


def _tname(x):
    """The JSON-ish name of a value's type, for messages."""
    if isinstance(x, (bool, np.bool_)):
        return "bool"
    if x is None:
        return "null"
    if _is_int(x):
        return "integer"
    if _is_number(x):
        return "number"
    if isinstance(x, str):
        return "string"
    if _is_list(x):
        return "list"
    if isinstance(x, dict):
        return "object"
    return type(x).__name__


def _a(word):
    """'a relay', 'an if', 'an input'."""
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _show(x, limit=60):
    text = repr(x)
    return text if len(text) <= limit else text[:limit] + "..."


def _finite_number(x, where, what):
    """A finite Python float from a JSON number (bool refused)."""
    if not _is_number(x):
        raise FormatError("%s: %s must be a number, not %s" % (where, what, _tname(x)))
    try:
        value = float(x)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise FormatError("%s: %s must be finite, got %s" % (where, what, _show(x)))
    return value


def _all_finite(a):
    flat = a.reshape(-1)
    for start in range(0, flat.size, _FINITE_CHUNK):
        if not np.isfinite(flat[start:start + _FINITE_CHUNK]).all():
            return False
    return True


def _get(obj, key, where, required=True):
    if key not in obj:
        if required:
            raise FormatError("%s: required key %r is missing" % (where, key))
        return None
    return obj[key]


class _Arrays:
    """Looks up and checks referenced arrays once each."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.checked = {}

    def get(self, key, where, role):
        if not isinstance(key, str):
            raise FormatError("%s: %s must be an array name (a string), not %s"
                              % (where, role, _tname(key)))
        if not key or "/" in key:
            raise FormatError("%s: %s names an invalid array %r (empty or containing '/')"
                              % (where, role, key))
        if key.startswith("__"):
            raise FormatError("%s: %s names the reserved array %r (names starting with '__' "
                              "are reserved)" % (where, role, key))
        if key in self.checked:
            return self.checked[key]
        try:
            present = key in self.arrays
        except TypeError:
            present = False
        if not present:
            raise FormatError("%s: %s array %r names no member" % (where, role, key))
        a = self.arrays[key]
        if not isinstance(a, np.ndarray):
            raise FormatError("%s: %s array %r is a %s, not a numpy array"
                              % (where, role, key, type(a).__name__))
        if a.dtype.hasobject:
            raise FormatError("%s: %s array %r is an object array; only float32 is allowed"
                              % (where, role, key))
        if a.dtype.str != "<f4":
            if a.dtype.str == ">f4":
                raise FormatError("%s: %s array %r is big-endian float32; only little-endian "
                                  "float32 is allowed" % (where, role, key))
            raise FormatError("%s: %s array %r has dtype %s, expected float32"
                              % (where, role, key, a.dtype))
        if not _all_finite(a):
            raise FormatError("%s: %s array %r holds NaN or infinity" % (where, role, key))
        a = np.asarray(a, order="C")     # (keeps 0-d arrays 0-d)
        self.checked[key] = a
        return a


def _pair(value, where, what, low):
    """A list of 2 integers, each in low .. MAX_DIM."""
    if not _is_list(value) or len(value) != 2:
        raise FormatError("%s: %s must be a list of 2 integers, got %s"
                          % (where, what, _show(value)))
    out = []
    for i, v in enumerate(value):
        if not _is_int(v):
            raise FormatError("%s: %s[%d] must be an integer, not %s"
                              % (where, what, i, _tname(v)))
        v = int(v)
        if v < low or v > _limits.MAX_DIM:
            raise FormatError("%s: %s must hold integers in %d .. %d, got %s"
                              % (where, what, low, _limits.MAX_DIM, _show(list(value))))
        out.append(v)
    return tuple(out)


def _out_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _fmt_shape(pop):
    return "[%d]" % pop["shape"][0] if pop["ndim"] == 1 else "[%d, %d, %d]" % pop["shape"]


# ---------------------------------------------------------------------------
# Populations
# ---------------------------------------------------------------------------

def _name(obj, where, limit_what):
    name = _get(obj, "name", where)
    if not isinstance(name, str):
        raise FormatError("%s: name must be a string, not %s" % (where, _tname(name)))
    if not name:
        raise FormatError("%s: name must not be empty" % (where,))
    if "\x00" in name:
        raise FormatError("%s: name %r contains a NUL character" % (where, name))
    if len(name) > _limits.MAX_NAME:
        raise FormatError("%s: name of %d characters is longer than the %d allowed for a %s"
                          % (where, len(name), _limits.MAX_NAME, limit_what))
    return name


def _check_keys(obj, where, allowed, every, what, kind):
    for key in obj:
        if key in allowed:
            continue
        if key in every:
            raise FormatError("%s: %r does not apply to %s %s" % (where, key, _a(kind), what))
        raise FormatError("%s: unknown key %s" % (where, _show(key)))


def _shape(value, where):
    if not _is_list(value) or len(value) not in (1, 3):
        raise FormatError("%s: shape must be a list of 1 or 3 integers, got %s"
                          % (where, _show(value)))
    dims = []
    for i, d in enumerate(value):
        if not _is_int(d):
            raise FormatError("%s: shape[%d] must be an integer, not %s" % (where, i, _tname(d)))
        d = int(d)
        if d < 1 or d > _limits.MAX_DIM:
            raise FormatError("%s: shape %s has a dimension outside 1 .. %d"
                              % (where, _show(list(value)), _limits.MAX_DIM))
        dims.append(d)
    n = math.prod(dims)
    if n > _limits.MAX_NEURONS:
        raise FormatError("%s: shape %s holds %d neurons, more than the %d allowed"
                          % (where, _show(list(value)), n, _limits.MAX_NEURONS))
    ndim = len(dims)
    if ndim == 1:
        dims += [1, 1]
    return tuple(dims), ndim


def _threshold(value, where, role, channels, arrays):
    """Normalise a threshold (number or array name) to float32 (1,) or (C,)."""
    if isinstance(value, str):
        a = arrays.get(value, where, role)
        if a.shape not in ((), (1,), (channels,)):
            raise FormatError("%s: %s has shape %s, expected (), (1,) or (%d,)"
                              % (where, role, a.shape, channels))
        t = np.ascontiguousarray(a.reshape(-1))
        if not (t > 0).all():
            raise FormatError("%s: %s must be positive (> 0); array %r holds %s"
                              % (where, role, value, float(t.min())))
        return t, value
    if not _is_number(value):
        raise FormatError("%s: %s must be a number or an array name, not %s"
                          % (where, role, _tname(value)))
    x = _finite_number(value, where, role)
    with np.errstate(over="ignore", under="ignore"):
        f = np.float32(x)
    if not np.isfinite(f):
        raise FormatError("%s: %s %s does not fit in float32" % (where, role, _show(value)))
    if not f > 0:
        raise FormatError("%s: %s must be positive (> 0), got %s" % (where, role, _show(value)))
    return np.array([f], dtype=np.float32), None


def _bias(value, where, shape, ndim, arrays):
    a = arrays.get(value, where, "bias")
    c, h, w = shape
    declared = (c,) if ndim == 1 else shape
    if a.shape == (c,):
        return a, value
    if a.shape == declared:
        return np.ascontiguousarray(a.reshape(-1)), value
    raise FormatError("%s: bias has shape %s, expected (%d,) (per channel) or %s (per neuron)"
                      % (where, a.shape, c, declared))


def _population(index, obj, arrays):
    where = "population %d" % index
    if not isinstance(obj, dict):
        raise FormatError("%s must be an object, not %s" % (where, _tname(obj)))
    name = _name(obj, where, "population")
    where = "population %r" % name
    kind = _get(obj, "kind", where)
    if not isinstance(kind, str):
        raise FormatError("%s: kind must be a string, not %s" % (where, _tname(kind)))
    if kind not in KINDS:
        raise FormatError("%s: unknown kind %s (expected one of %s)"
                          % (where, _show(kind), ", ".join(KINDS)))
    _check_keys(obj, where, _POP_KEYS[kind], _ALL_POP_KEYS, "population", kind)
    shape, ndim = _shape(_get(obj, "shape", where), where)
    channels = shape[0]
    pop = {
        "name": name, "kind": kind, "shape": shape, "ndim": ndim,
        "threshold": None, "signed": False, "threshold_neg": None,
        "reset": "subtract", "v_init": 0.0, "bias": None,
        "bias_key": None, "threshold_key": None, "threshold_neg_key": None,
    }
    if kind == "if":
        pop["threshold"], pop["threshold_key"] = _threshold(
            _get(obj, "threshold", where), where, "threshold", channels, arrays)
        reset = obj.get("reset", "subtract")
        if not isinstance(reset, str):
            raise FormatError("%s: reset must be a string, not %s" % (where, _tname(reset)))
        if reset not in RESETS:
            raise FormatError("%s: unknown reset mode %s (expected subtract or zero)"
                              % (where, _show(reset)))
        pop["reset"] = reset
        v_init = _finite_number(obj.get("v_init", 0.0), where, "v_init")
        if not -1.0 <= v_init <= 1.0:
            raise FormatError("%s: v_init %s is outside [-1, 1]" % (where, _show(v_init)))
        pop["v_init"] = v_init
        signed = obj.get("signed", False)
        if not isinstance(signed, (bool, np.bool_)):
            raise FormatError("%s: signed must be true or false, not %s" % (where, _tname(signed)))
        signed = bool(signed)
        pop["signed"] = signed
        if signed:
            if "threshold_neg" not in obj:
                raise FormatError("%s: signed is true but threshold_neg is missing" % (where,))
            pop["threshold_neg"], pop["threshold_neg_key"] = _threshold(
                obj["threshold_neg"], where, "threshold_neg", channels, arrays)
        elif "threshold_neg" in obj:
            raise FormatError("%s: threshold_neg is given but signed is not true" % (where,))
    if "bias" in obj:
        pop["bias"], pop["bias_key"] = _bias(obj["bias"], where, shape, ndim, arrays)
    return pop


# ---------------------------------------------------------------------------
# Projections
# ---------------------------------------------------------------------------

def _endpoint(obj, key, where, index_of, pops):
    value = _get(obj, key, where)
    if not isinstance(value, str):
        raise FormatError("%s: %s must be a population name (a string), not %s"
                          % (where, key, _tname(value)))
    if value not in index_of:
        raise FormatError("%s: %s %s names no population" % (where, key, _show(value)))
    return index_of[value]


def _projection(index, obj, arrays, pops, index_of):
    where = "projection %d" % index
    if not isinstance(obj, dict):
        raise FormatError("%s must be an object, not %s" % (where, _tname(obj)))
    name = _name(obj, where, "projection")
    where = "projection %r" % name
    op = _get(obj, "op", where)
    if not isinstance(op, str):
        raise FormatError("%s: op must be a string, not %s" % (where, _tname(op)))
    if op not in OPS:
        raise FormatError("%s: unknown op %s (expected one of %s)"
                          % (where, _show(op), ", ".join(OPS)))
    _check_keys(obj, where, _PROJ_KEYS[op], _ALL_PROJ_KEYS, "projection", op)
    s = _endpoint(obj, "source", where, index_of, pops)
    t = _endpoint(obj, "target", where, index_of, pops)
    src, dst = pops[s], pops[t]
    if dst["kind"] == "input":
        raise FormatError("%s: target %r is the input population, which receives no "
                          "projections" % (where, dst["name"]))
    if src["kind"] == "accumulate":
        raise FormatError("%s: source %r is an accumulate population, which has no outgoing "
                          "projections" % (where, src["name"]))
    proj = {"name": name, "op": op, "source": s, "target": t,
            "weight": None, "weight_key": None,
            "kernel": (1, 1), "stride": (1, 1), "padding": (0, 0)}
    sc, sh, sw = src["shape"]

    if op in ("conv2d", "avgpool2d"):
        for role, pop in (("source", src), ("target", dst)):
            if pop["ndim"] != 3:
                raise FormatError("%s: %s needs a 3-D %s, but population %r has shape %s"
                                  % (where, op, role, pop["name"], _fmt_shape(pop)))
        if op == "conv2d":
            key = _get(obj, "weight", where)
            w = arrays.get(key, where, "weight")
            if w.ndim != 4:
                raise FormatError("%s: weight has shape %s, expected (Co, Ci, kh, kw) with "
                                  "Ci = %d" % (where, w.shape, sc))
            co, ci, kh, kw = w.shape
            if ci != sc:
                raise FormatError("%s: weight has shape %s, whose %d input channels do not "
                                  "match the source's %d channels" % (where, w.shape, ci, sc))
            if kh < 1 or kw < 1 or co < 1:
                raise FormatError("%s: weight has shape %s with an empty dimension"
                                  % (where, w.shape))
            if kh > _limits.MAX_DIM or kw > _limits.MAX_DIM:
                raise FormatError("%s: kernel %s is larger than %d"
                                  % (where, (kh, kw), _limits.MAX_DIM))
            kernel = (kh, kw)
            stride = _pair(obj.get("stride", [1, 1]), where, "stride", 1)
            proj["weight"], proj["weight_key"] = w, key
            out_c = co
        else:
            kernel = _pair(_get(obj, "kernel", where), where, "kernel", 1)
            stride = _pair(obj.get("stride", list(kernel)), where, "stride", 1)
            out_c = sc
            _channel_gain(obj, proj, arrays, where, sc)
        padding = _pair(obj.get("padding", [0, 0]), where, "padding", 0)
        if padding[0] >= kernel[0] or padding[1] >= kernel[1]:
            raise FormatError("%s: padding %s must be smaller than the kernel %s"
                              % (where, list(padding), list(kernel)))
        oh = _out_size(sh, kernel[0], stride[0], padding[0])
        ow = _out_size(sw, kernel[1], stride[1], padding[1])
        if oh < 1 or ow < 1:
            raise FormatError("%s: the %s output would be empty (%d, %d): the kernel %s is "
                              "larger than the padded source %s"
                              % (where, op, oh, ow, list(kernel), _fmt_shape(src)))
        expected = (out_c, oh, ow)
        if dst["shape"] != expected:
            raise FormatError("%s: target shape %s does not match the %s output %s"
                              % (where, dst["shape"], op, expected))
        proj["kernel"], proj["stride"], proj["padding"] = kernel, stride, padding
    elif op == "dense":
        key = _get(obj, "weight", where)
        w = arrays.get(key, where, "weight")
        n_in = sc * sh * sw
        if w.ndim != 2 or w.shape[1] != n_in:
            raise FormatError("%s: weight has shape %s, expected (out, %d) for the source %r "
                              "of shape %s" % (where, w.shape, n_in, src["name"],
                                               _fmt_shape(src)))
        if dst["ndim"] != 1:
            raise FormatError("%s: dense needs a 1-D target, but population %r has shape %s"
                              % (where, dst["name"], _fmt_shape(dst)))
        if dst["shape"][0] != w.shape[0]:
            raise FormatError("%s: target shape %s does not match the dense output (%d,) of "
                              "weight %s" % (where, _fmt_shape(dst), w.shape[0], w.shape))
        proj["weight"], proj["weight_key"] = w, key
    else:  # identity
        if dst["shape"] != src["shape"]:
            raise FormatError("%s: identity needs a target of the source's shape %s, but "
                              "population %r has shape %s" % (where, _fmt_shape(src),
                                                              dst["name"], _fmt_shape(dst)))
        _channel_gain(obj, proj, arrays, where, sc)
    return proj


def _channel_gain(obj, proj, arrays, where, channels):
    """The optional per-channel gain of an identity or avgpool2d projection."""
    if "weight" in obj:
        key = obj["weight"]
        w = arrays.get(key, where, "weight")
        if w.shape != (channels,):
            raise FormatError("%s: weight has shape %s, expected (%d,) (one gain per "
                              "channel)" % (where, w.shape, channels))
        proj["weight"], proj["weight_key"] = w, key


# ---------------------------------------------------------------------------
# Graph
# ---------------------------------------------------------------------------

def _topological_order(pops, projs, input_index):
    n = len(pops)
    succ = [[] for _ in range(n)]
    preds = [set() for _ in range(n)]
    indeg = [0] * n
    for pr in projs:
        succ[pr["source"]].append(pr["target"])
        preds[pr["target"]].add(pr["source"])
        indeg[pr["target"]] += 1
    order = [input_index]
    for t in succ[input_index]:
        indeg[t] -= 1
    ready = [i for i in range(n) if i != input_index and indeg[i] == 0]
    heapq.heapify(ready)
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for t in succ[i]:
            indeg[t] -= 1
            if indeg[t] == 0:
                heapq.heappush(ready, t)
    if len(order) == n:
        return order
    # Every population left over has a predecessor that is also left over: walk
    # backwards until a population repeats, which closes a cycle.
    done = set(order)
    left = [i for i in range(n) if i not in done]
    remaining = set(left)
    position = {}
    path = []
    cur = left[0]
    while cur not in position:
        position[cur] = len(path)
        path.append(cur)
        cur = min(p for p in preds[cur] if p in remaining)
    cycle = path[position[cur]:][::-1]
    k = cycle.index(min(cycle))
    cycle = cycle[k:] + cycle[:k]
    names = [pops[i]["name"] for i in cycle + cycle[:1]]
    raise FormatError("the projections form a cycle: %s" % (" -> ".join(names),))


# ---------------------------------------------------------------------------
# normalize
# ---------------------------------------------------------------------------

def _check_header(meta):
    if not isinstance(meta, dict):
        raise FormatError("metadata must be a JSON object, not %s" % (_tname(meta),))
    fmt = _get(meta, "format", "metadata")
    if fmt != "snncore":
        raise FormatError("metadata format is %s, expected 'snncore': not an snncore network"
                          % (_show(fmt),))
    version = _get(meta, "version", "metadata")
    if not _is_int(version):
        raise FormatError("metadata key 'version' must be an integer, not %s" % (_tname(version),))
    version = int(version)
    if version > _limits.FORMAT_VERSION:
        raise FormatError("format version %d is newer than this snncore supports (%d); "
                          "upgrade snncore" % (version, _limits.FORMAT_VERSION))
    if version < 1:
        raise FormatError("format version %d is not valid (versions start at 1)" % (version,))


def _top(meta, key, kinds, what, required=True):
    if key not in meta:
        if required:
            raise FormatError("metadata key %r is missing" % (key,))
        return None
    value = meta[key]
    if not isinstance(value, kinds):
        raise FormatError("metadata key %r must be %s, not %s" % (key, what, _tname(value)))
    return value


def normalize(meta, arrays, *, max_bytes=None):
    """Validate ``(meta, arrays)`` and return the normalised spec.

    ``arrays`` maps array names to numpy arrays (any Mapping, e.g. the dict
    from ``read_npz`` or an ``NpzFile``).  ``max_bytes`` is the memory limit
    (default ``snncore._limits.MAX_BYTES``).  Raises FormatError naming the
    population / projection / key at fault.
    """
    if max_bytes is None:
        max_bytes = _limits.MAX_BYTES
    _check_header(meta)
    producer = _top(meta, "producer", str, "a string", required=False)
    input_obj = _top(meta, "input", dict, "an object")
    output_name = _top(meta, "output", str, "a string")
    pops_raw = _top(meta, "populations", (list, tuple), "a list")
    projs_raw = _top(meta, "projections", (list, tuple), "a list")
    provenance = _top(meta, "provenance", dict, "an object", required=False)
    readout = _top(meta, "readout", dict, "an object", required=False) or {}
    readout_start = readout.get("start", 1)
    if not _is_int(readout_start) or not 1 <= readout_start <= _limits.MAX_TIMESTEPS:
        raise FormatError("metadata key 'readout': start must be an integer in 1..%d, got %s"
                          % (_limits.MAX_TIMESTEPS, _show(readout_start)))

    if not 1 <= len(pops_raw) <= _limits.MAX_POPULATIONS:
        raise FormatError("the network has %d populations; 1 to %d are allowed"
                          % (len(pops_raw), _limits.MAX_POPULATIONS))
    if len(projs_raw) > _limits.MAX_PROJECTIONS:
        raise FormatError("the network has %d projections; at most %d are allowed"
                          % (len(projs_raw), _limits.MAX_PROJECTIONS))

    checked = _Arrays(arrays)
    pops = []
    index_of = {}
    for i, obj in enumerate(pops_raw):
        pop = _population(i, obj, checked)
        if pop["name"] in index_of:
            raise FormatError("population %r: duplicate name (populations %d and %d)"
                              % (pop["name"], index_of[pop["name"]], i))
        index_of[pop["name"]] = i
        pops.append(pop)

    state = 16 * sum(c * h * w for c, h, w in (p["shape"] for p in pops))
    state += 64 * (len(pops_raw) + len(projs_raw))
    if state > max_bytes:
        raise FormatError("the network would need at least %d bytes of per-image state, more "
                          "than the memory limit of %d bytes" % (state, max_bytes))

    inputs = [i for i, p in enumerate(pops) if p["kind"] == "input"]
    if len(inputs) != 1:
        if not inputs:
            raise FormatError("the network has no input population; exactly one is required")
        raise FormatError("the network has %d input populations (%s); exactly one is required"
                          % (len(inputs), ", ".join(repr(pops[i]["name"]) for i in inputs)))
    input_index = inputs[0]
    in_name = _get(input_obj, "population", "metadata key 'input'")
    if not isinstance(in_name, str):
        raise FormatError("metadata key 'input': population must be a string, not %s"
                          % (_tname(in_name),))
    if in_name not in index_of:
        raise FormatError("metadata key 'input': population %s names no population"
                          % (_show(in_name),))
    if index_of[in_name] != input_index:
        raise FormatError("metadata key 'input': population %r is %s population, not the "
                          "input population %r" % (in_name, _a(pops[index_of[in_name]]["kind"]),
                                                   pops[input_index]["name"]))
    encoding = input_obj.get("encoding", _DEFAULT_ENCODING)
    if not isinstance(encoding, str):
        raise FormatError("metadata key 'input': encoding must be a string, not %s"
                          % (_tname(encoding),))
    if encoding not in ENCODINGS:
        raise FormatError("metadata key 'input': unknown encoding %s (expected one of %s)"
                          % (_show(encoding), ", ".join(ENCODINGS)))
    rate = _finite_number(input_obj.get("rate", _DEFAULT_RATE), "metadata key 'input'", "rate")
    if not rate > 0:
        raise FormatError("metadata key 'input': rate must be positive (> 0), got %s"
                          % (_show(rate),))
    scale = _finite_number(input_obj.get("uint8_scale", _DEFAULT_UINT8_SCALE),
                           "metadata key 'input'", "uint8_scale")
    if not scale > 0:
        raise FormatError("metadata key 'input': uint8_scale must be positive (> 0), got %s"
                          % (_show(scale),))

    if output_name not in index_of:
        raise FormatError("metadata key 'output': %s names no population" % (_show(output_name),))
    output_index = index_of[output_name]
    out_kind = pops[output_index]["kind"]
    if out_kind not in ("if", "accumulate"):
        raise FormatError("output population %r is %s population; it must be if or "
                          "accumulate" % (output_name, _a(out_kind)))

    projs = []
    proj_index = {}
    for j, obj in enumerate(projs_raw):
        proj = _projection(j, obj, checked, pops, index_of)
        if proj["name"] in proj_index:
            raise FormatError("projection %r: duplicate name (projections %d and %d)"
                              % (proj["name"], proj_index[proj["name"]], j))
        proj_index[proj["name"]] = j
        projs.append(proj)

    spec = {
        "populations": pops,
        "projections": projs,
        "input": input_index,
        "output": output_index,
        "order": None,
        "encoding": encoding,
        "rate": rate,
        "uint8_scale": scale,
        "producer": producer,
        "provenance": copy.deepcopy(provenance) if provenance is not None else {},
        "readout_start": int(readout_start),
    }
    need = _limits.estimate_bytes(spec)
    if need > max_bytes:
        raise FormatError("the network would need about %d bytes (weights and per-image "
                          "state), more than the memory limit of %d bytes" % (need, max_bytes))
    spec["order"] = _topological_order(pops, projs, input_index)
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
        if pr["op"] == "avgpool2d":
            obj["kernel"] = [int(v) for v in pr["kernel"]]
        if pr["op"] in ("conv2d", "avgpool2d"):
            obj["stride"] = [int(v) for v in pr["stride"]]
            obj["padding"] = [int(v) for v in pr["padding"]]
        proj_objs.append(obj)

    meta = {"format": "snncore", "version": _limits.FORMAT_VERSION}
    if spec.get("producer") is not None:
        meta["producer"] = spec["producer"]
    meta["input"] = {
        "population": names[int(spec["input"])],
        "encoding": spec.get("encoding", _DEFAULT_ENCODING),
        "rate": float(spec.get("rate", _DEFAULT_RATE)),
        "uint8_scale": float(spec.get("uint8_scale", _DEFAULT_UINT8_SCALE)),
    }
    meta["output"] = names[int(spec["output"])]
    meta["populations"] = pop_objs
    meta["projections"] = proj_objs
    if int(spec.get("readout_start", 1)) > 1:
        meta["readout"] = {"start": int(spec["readout_start"])}
    meta["provenance"] = copy.deepcopy(spec.get("provenance") or {})
    return meta, out.arrays
