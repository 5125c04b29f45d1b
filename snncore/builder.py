"""Making a `Network` by hand from numpy arrays (the converter uses this too)."""

import numbers

import numpy as np

from . import _core
from ._spec import DEFAULT_UINT8_SCALE, KINDS, RESETS
from .network import Network

__all__ = ["NetworkBuilder", "conv2d_shape", "avgpool2d_shape", "maxpool2d_shape",
           "upsample2d_shape"]


def _pair(v, what):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return [int(v), int(v)]
    v = list(v)
    if len(v) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {v!r}")
    return [int(a) for a in v]


def _window_shape(channels, input_shape, kernel, stride, padding, ceil_mode=False):
    """(channels, OH, OW) of a window op on a (C, H, W) input (the format's
    rule, snn_window_out); ValueError when the kernel does not fit."""
    _, h, w = input_shape
    kernel = _pair(kernel, "kernel")
    stride = _pair(kernel if stride is None else stride, "stride")
    padding = _pair(padding, "padding")
    out = [_core.window_out(n, k, s, p, ceil_mode)
           for n, k, s, p in zip((h, w), kernel, stride, padding)]
    if min(out) < 1:
        raise ValueError(f"kernel {tuple(kernel)} with stride {tuple(stride)} and padding "
                         f"{tuple(padding)} does not fit an input of {(h, w)}")
    return (int(channels), out[0], out[1])


def conv2d_shape(input_shape, weight_shape, stride=1, padding=0):
    """Output shape (Co, OH, OW) of a conv2d on a (Ci, H, W) input with an
    OIHW weight of `weight_shape`."""
    return _window_shape(weight_shape[0], input_shape, weight_shape[2:], stride, padding)


def avgpool2d_shape(input_shape, kernel, stride=None, padding=0):
    """Output shape (C, OH, OW) of an average pool on a (C, H, W) input."""
    return _window_shape(input_shape[0], input_shape, kernel, stride, padding)


def maxpool2d_shape(input_shape, kernel, stride=None, padding=0, ceil_mode=False):
    """Output shape (C, OH, OW) of a max pool on a (C, H, W) input, with
    PyTorch's ceil_mode."""
    return _window_shape(input_shape[0], input_shape, kernel, stride, padding, ceil_mode)


def upsample2d_shape(input_shape, scale):
    """Output shape (C, H * sh, W * sw) of nearest upsampling of a (C, H, W) input
    by the integer factors `scale` (an int or a pair)."""
    c, h, w = input_shape
    sh, sw = _pair(scale, "scale")
    return (c, h * sh, w * sw)


class NetworkBuilder:
    """Collects populations and projections, then builds a validated `Network`.

    Parameters
    ----------
    input_shape : tuple of int
        (C, H, W) or (N,).
    input_name : str
    encoding, rate, uint8_scale
        The file's input hints (docs/format.md).

    Examples
    --------
    >>> import numpy as np, snncore
    >>> b = snncore.NetworkBuilder((4,))
    >>> b.population("hidden", (3,), threshold=1.0)
    'hidden'
    >>> b.dense("fc1", "input", "hidden", np.full((3, 4), 0.25, np.float32))
    'fc1'
    >>> b.population("out", (2,), kind="accumulate")
    'out'
    >>> b.dense("fc2", "hidden", "out", np.ones((2, 3), np.float32))
    'fc2'
    >>> net = b.build(output="out")
    >>> net.run(np.ones((1, 4), np.float32), timesteps=8).output
    array([[3., 3.]], dtype=float32)
    """

    def __init__(self, input_shape, input_name="input", encoding="analog", rate=1.0,
                 uint8_scale=DEFAULT_UINT8_SCALE):
        self._pops = []
        self._projs = []
        self._arrays = {}
        self._shapes = {}
        self._input = {"population": input_name, "encoding": encoding, "rate": float(rate),
                       "uint8_scale": float(uint8_scale)}
        self._add_population({"name": input_name, "kind": "input",
                              "shape": [int(d) for d in input_shape]})

    def shape(self, name):
        """The shape a population was declared with."""
        return self._shapes[name]

    def _add_population(self, obj):
        if obj["name"] in self._shapes:
            raise ValueError(f"population {obj['name']!r} already exists")
        self._shapes[obj["name"]] = tuple(obj["shape"])
        self._pops.append(obj)
        return obj["name"]

    def _array(self, key, value):
        self._arrays[key] = np.ascontiguousarray(value, dtype=np.float32)
        return key

    def _threshold(self, key, value):
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        return self._array(key, value)

    def population(self, name, shape, kind="if", threshold=1.0, reset="subtract", v_init=0.0,
                   bias=None, signed=False, threshold_neg=None, retract=False):
        """Declare a population.

        Parameters
        ----------
        name : str
        shape : tuple of int
            (C, H, W) or (N,).
        kind : {'if', 'relay', 'accumulate'}
        threshold : float or ndarray of shape (C,), float32
            IF only. theta > 0.
        reset : {'subtract', 'zero'}
            IF only.
        v_init : float
            IF only: initial membrane as a fraction of threshold, in [-1, 1].
        bias : ndarray of shape (C,) or shape, optional
            Current added every step.
        signed : bool
            IF only: a signed neuron that also fires -1 at V <= -threshold_neg.
        threshold_neg : float or ndarray of shape (C,), optional
            Required when signed.
        retract : bool
            Signed only (and reset 'subtract'): a retracting neuron, whose -1 takes
            back an earlier spike. It fires -1 only while its net spike count is
            positive, and adds `threshold` back (not threshold_neg), so its net
            count never goes below zero: a ReLU whose early excess is undone.

        Returns
        -------
        str
            The name, for chaining into projections.
        """
        if kind not in KINDS or kind == "input":
            raise ValueError(f"kind must be one of if, relay, accumulate; got {kind!r}")
        if name in self._shapes:
            raise ValueError(f"population {name!r} already exists")
        obj = {"name": name, "kind": kind, "shape": [int(d) for d in shape]}
        if kind == "if":
            if reset not in RESETS:
                raise ValueError(f"reset must be 'subtract' or 'zero', got {reset!r}")
            obj.update(threshold=self._threshold(f"{name}.threshold", threshold), reset=reset,
                       v_init=float(v_init))
            if signed:
                if threshold_neg is None:
                    raise ValueError(f"population {name!r}: a signed population needs threshold_neg")
                obj.update(signed=True,
                           threshold_neg=self._threshold(f"{name}.threshold_neg", threshold_neg))
            if retract:
                if not signed:
                    raise ValueError(f"population {name!r}: a retracting population must be "
                                     "signed (its threshold_neg is the retraction level)")
                if reset != "subtract":
                    raise ValueError(f"population {name!r}: a retracting population needs "
                                     "reset 'subtract'")
                obj["retract"] = True
        elif signed or threshold_neg is not None or retract:
            raise ValueError(f"population {name!r}: only IF populations can be signed")
        if bias is not None:
            obj["bias"] = self._array(f"{name}.bias", bias)
        return self._add_population(obj)

    def _new_projection(self, name):
        if any(p["name"] == name for p in self._projs):
            raise ValueError(f"projection {name!r} already exists")

    def _add_projection(self, obj):
        self._projs.append(obj)
        return obj["name"]

    def conv2d(self, name, source, target, weight, stride=1, padding=0, groups=1):
        """A convolution; `weight` is OIHW float32 (Co, Ci / groups, kh, kw), as in
        PyTorch. With `groups` G > 1 the channels split into G groups, output
        group g fed by input group g alone (G = Ci: depthwise); G divides Ci and Co."""
        self._new_projection(name)
        obj = {"name": name, "op": "conv2d", "source": source, "target": target,
               "weight": self._array(f"{name}.weight", weight),
               "stride": _pair(stride, "stride"), "padding": _pair(padding, "padding")}
        if not (isinstance(groups, numbers.Integral) and not isinstance(groups, bool)):
            raise ValueError(f"groups must be an int, got {groups!r}")
        if groups != 1:
            obj["groups"] = int(groups)     # omitted when 1: the files of ordinary convs unchanged
        return self._add_projection(obj)

    def avgpool2d(self, name, source, target, kernel, stride=None, padding=0, gain=None):
        """Average pooling (divides by the window size; padded cells count as
        zeros), with an optional gain per channel (C,)."""
        self._new_projection(name)
        obj = {"name": name, "op": "avgpool2d", "source": source, "target": target,
               "kernel": _pair(kernel, "kernel"),
               "stride": _pair(kernel if stride is None else stride, "stride"),
               "padding": _pair(padding, "padding")}
        if gain is not None:
            obj["weight"] = self._array(f"{name}.weight", gain)
        return self._add_projection(obj)

    def maxpool2d(self, name, source, target, kernel, stride=None, padding=0, ceil_mode=False,
                  gain=None):
        """Max pooling of spike counts (docs/format.md): `source` must be an
        unsigned 'if' population; each step a target neuron receives gain[c]
        when the largest spike count in its window grows. Padded cells never
        count; `ceil_mode` rounds the output size up as PyTorch does."""
        self._new_projection(name)
        obj = {"name": name, "op": "maxpool2d", "source": source, "target": target,
               "kernel": _pair(kernel, "kernel"),
               "stride": _pair(kernel if stride is None else stride, "stride"),
               "padding": _pair(padding, "padding")}
        if ceil_mode:
            obj["ceil_mode"] = True
        if gain is not None:
            obj["weight"] = self._array(f"{name}.weight", gain)
        return self._add_projection(obj)

    def upsample2d(self, name, source, target, scale, gain=None):
        """Nearest-neighbour upsampling by integer factors `scale` (an int or a
        pair (sh, sw)): each source position's events reach its sh x sw target
        positions, times an optional gain per channel (C,)."""
        self._new_projection(name)
        obj = {"name": name, "op": "upsample2d", "source": source, "target": target,
               "scale": _pair(scale, "scale")}
        if gain is not None:
            obj["weight"] = self._array(f"{name}.weight", gain)
        return self._add_projection(obj)

    def dense(self, name, source, target, weight):
        """A fully connected projection; `weight` is (out, in) with `in` the
        source flattened in CHW order, as a PyTorch Linear after Flatten."""
        self._new_projection(name)
        return self._add_projection({
            "name": name, "op": "dense", "source": source, "target": target,
            "weight": self._array(f"{name}.weight", weight)})

    def identity(self, name, source, target, gain=None):
        """One-to-one connections, with an optional gain per channel (C,)."""
        self._new_projection(name)
        obj = {"name": name, "op": "identity", "source": source, "target": target}
        if gain is not None:
            obj["weight"] = self._array(f"{name}.weight", gain)
        return self._add_projection(obj)

    def build(self, output, provenance=None, readout_start=1):
        """Validate everything and return the `Network`.

        Parameters
        ----------
        output : str
            The read-out population (kind 'if' or 'accumulate').
        provenance : dict, optional
            JSON-serialisable facts about how the network was made.
        readout_start : int
            The file's delayed read-out hint (1: read out every step).

        Raises
        ------
        FormatError
        """
        meta = {"format": "snncore", "version": 1, "input": dict(self._input), "output": output,
                "populations": [dict(p) for p in self._pops],
                "projections": [dict(q) for q in self._projs],
                "provenance": dict(provenance or {})}
        if readout_start != 1:
            meta["readout"] = {"start": readout_start}
        return Network(meta, dict(self._arrays))
