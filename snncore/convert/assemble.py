"""From a captured graph and chosen thresholds to a spiking `Network`.

Units. Every population's output has a *unit* per channel: the ANN value that
one unit of it stands for. The input's unit is 1 (pixel values); an IF
population's unit is its threshold lambda (a spike stands for lambda of ANN
activation); relays and accumulators carry ANN values (unit 1). Each
projection multiplies its weights by its source's unit, per input channel, so
every population receives its current in ANN units whatever feeds it. That is
how the paths that meet at a residual junction are balanced (Sengupta et al.
2019): the identity shortcut carries the source's lambda as its gain and the
residual path carries it in its weights, so both arrive in the junction's
units. With thresholds in ANN units, an IF neuron fires at rate
clip(z, 0, lambda) / lambda for a constant current z, the rate-coded ReLU.

Linear steps between activations that cannot be a single projection (a conv
after an average pool, a residual add feeding a pool, ...) go through *relay*
populations, which pass each step's current on unchanged.
"""

import numpy as np

from ..builder import NetworkBuilder
from .errors import ConversionError

__all__ = ["Assembler"]


class _Pop:
    """A value held by a population."""

    def __init__(self, name, shape, unit, bound):
        self.name = name
        self.shape = tuple(shape)
        self.unit = np.asarray(unit, np.float64)      # (C,)
        self.bound = np.asarray(bound, np.float64)    # (C,) largest value per step (model norm)


class _Flat:
    """A 3-D population seen flattened (only a dense projection can read it)."""

    def __init__(self, pop, shape):
        self.pop = pop
        self.shape = tuple(shape)


class _Lin:
    """A linear combination of projections from populations, plus a bias: the
    current that a population would receive."""

    def __init__(self, name, terms, bias, shape):
        self.name = name
        self.terms = terms      # list of dicts: op, src (_Pop), weight, gain, kernel, stride,
                                # padding, groups
        self.bias = bias        # (C,) float64 or None
        self.shape = tuple(shape)


def _term(op, src, name, weight=None, gain=None, kernel=(1, 1), stride=(1, 1), padding=(0, 0),
          groups=1):
    return {"op": op, "src": src, "name": name, "weight": weight, "gain": gain,
            "kernel": tuple(kernel), "stride": tuple(stride), "padding": tuple(padding),
            "groups": int(groups)}


def _per_weight_column(per_channel, weight, groups):
    """A per-input-channel value (Ci,) laid out as a conv weight's columns:
    (Co, Ci / groups, 1, 1), entry [o, j] for input channel
    (o // (Co / groups)) * (Ci / groups) + j, the one weight column j of output
    o reads (PyTorch's grouped layout; groups = 1: channel j)."""
    co, cig = weight.shape[:2]
    group = np.arange(co) // (co // groups)                     # (Co,) group of each output
    channel = group[:, None] * cig + np.arange(cig)[None, :]    # (Co, Ci / groups)
    return np.asarray(per_channel)[channel][:, :, None, None]


def _scale_term(term, scale):
    """The term with its output channel c multiplied by scale[c]."""
    t = dict(term)
    if t["op"] == "conv2d":
        t["weight"] = t["weight"] * scale[:, None, None, None]
    elif t["op"] == "dense":
        t["weight"] = t["weight"] * scale[:, None]
    else:
        t["gain"] = scale if t["gain"] is None else t["gain"] * scale
    return t


class Assembler:
    """Builds the spiking network for a Graph.

    Parameters
    ----------
    graph : Graph
    thresholds : dict node name -> ndarray (1,) or (C,)
        lambda for each activation ('__output__' for a spiking read-out);
        ignored for norm='model', which derives them from the weights.
    reset, v_init, readout, encoding
        As in `from_torch`.
    model_norm : bool
        Diehl's model-based thresholds: the largest possible input per step.
    input_bound : float
        Largest input value (model-based normalisation).
    bias_delta : dict node name -> (C,), optional
        Added to the bias of an activation's population (bias calibration).
    probe : str, optional
        Stop at this activation and make it the output: kind 'accumulate'
        (its current is read, for Spike-Norm) or 'if' (its rates are read,
        for bias calibration), as `probe_kind` says.
    """

    def __init__(self, graph, thresholds, reset="subtract", v_init=0.0, readout="membrane",
                 encoding="analog", model_norm=False, input_bound=1.0, bias_delta=None,
                 probe=None, probe_kind="accumulate"):
        self.graph = graph
        self.thresholds = thresholds
        self.reset = reset
        self.v_init = v_init
        self.readout = readout
        self.model_norm = model_norm
        self.input_bound = float(input_bound)
        self.bias_delta = bias_delta or {}
        self.probe = probe
        self.probe_kind = probe_kind
        in_shape = graph.nodes[graph.input].shape
        self.builder = NetworkBuilder(in_shape, input_name=graph.input, encoding=encoding)
        self.used_names = {graph.input}
        self.proj_names = set()
        self.chosen = {}        # activation -> lambda actually used (model norm fills it)
        self.capped = {}        # clipped ReLU -> largest lambda before its clip capped it
        self.kinds = {}         # population name -> kind

    # -- naming --------------------------------------------------------------

    def _unique(self, base, taken):
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        return name

    # -- values ----------------------------------------------------------------

    def as_lin(self, value, where):
        if isinstance(value, _Lin):
            return value
        if isinstance(value, _Pop):
            return _Lin(value.name, [_term("identity", value, f"{value.name}_id")], None,
                        value.shape)
        raise ConversionError(f"{where}: a flattened feature map can only feed a Linear layer")

    def as_pop(self, value, where):
        if isinstance(value, _Pop):
            return value
        if isinstance(value, _Lin):
            return self.population(value.name, "relay", value)
        raise ConversionError(f"{where}: a flattened feature map can only feed a Linear layer")

    # -- populations -------------------------------------------------------------

    def _projection_weight(self, term):
        """The term's weight or gain in the target's current units (float32)."""
        src, op = term["src"], term["op"]
        unit = src.unit
        if op == "conv2d":
            return (term["weight"] * _per_weight_column(unit, term["weight"], term["groups"])
                    ).astype(np.float32)
        if op == "dense":
            per_input = unit if len(src.shape) == 1 else np.repeat(unit, src.shape[1] * src.shape[2])
            return (term["weight"] * per_input[None, :]).astype(np.float32)
        gain = unit if term["gain"] is None else term["gain"] * unit
        return None if np.all(gain == 1.0) else gain.astype(np.float32)

    @staticmethod
    def _term_bound(term):
        """(C_out,) the largest positive input per step the term can deliver."""
        src, op, w = term["src"], term["op"], term["weight"]
        if op == "conv2d":
            bound = _per_weight_column(src.bound, w, term["groups"])
            return (np.maximum(w, 0) * bound).sum(axis=(1, 2, 3))
        if op == "dense":
            b = src.bound if len(src.shape) == 1 else np.repeat(src.bound,
                                                                 src.shape[1] * src.shape[2])
            return (np.maximum(w, 0) * b[None, :]).sum(axis=1)
        gain = np.ones_like(src.bound) if term["gain"] is None else term["gain"]
        return np.maximum(gain, 0) * src.bound

    def _bound(self, lin):
        total = sum(self._term_bound(t) for t in lin.terms)
        if lin.bias is not None:
            total = total + np.maximum(lin.bias, 0)
        return np.asarray(total, np.float64)

    def population(self, name, kind, lin, threshold=None, signed_alpha=None):
        """Declare a population fed by `lin`; returns its _Pop. `name` is the
        graph node it stands for (bias_delta is keyed by it)."""
        key = name
        name = self._unique(name, self.used_names)
        self.kinds[name] = kind
        c = lin.shape[0]
        bias = lin.bias
        if key in self.bias_delta:
            bias = (np.zeros(c) if bias is None else bias) + self.bias_delta[key]
        kwargs = {}
        if bias is not None and np.any(bias != 0):
            kwargs["bias"] = np.asarray(bias, np.float32)
        if kind == "if":
            theta = np.broadcast_to(np.asarray(threshold, np.float64), (c,)).copy()
            if not np.all(np.isfinite(theta)) or np.any(theta <= 0):
                raise ConversionError(f"{name}: threshold {theta} is not positive and finite")
            scalar = np.all(theta == theta[0])
            kwargs.update(threshold=float(np.float32(theta[0])) if scalar else theta.astype(np.float32),
                          reset=self.reset, v_init=self.v_init)
            if signed_alpha is not None:
                neg = theta / signed_alpha
                kwargs.update(signed=True, threshold_neg=float(np.float32(neg[0])) if scalar
                              else neg.astype(np.float32))
            unit, bound = np.float32(theta).astype(np.float64), theta
        else:
            unit, bound = np.ones(c), self._bound(lin)
        self.builder.population(name, lin.shape, kind=kind, **kwargs)
        for term in lin.terms:
            self._connect(term, name)
        return _Pop(name, lin.shape, unit, bound)

    def _connect(self, term, target):
        src = term["src"]
        name = self._unique(term["name"], self.proj_names)
        w = self._projection_weight(term)
        if term["op"] == "conv2d":
            self.builder.conv2d(name, src.name, target, w, term["stride"], term["padding"],
                                term["groups"])
        elif term["op"] == "dense":
            self.builder.dense(name, src.name, target, w)
        elif term["op"] == "avgpool2d":
            self.builder.avgpool2d(name, src.name, target, term["kernel"], term["stride"],
                                   term["padding"], gain=w)
        else:
            self.builder.identity(name, src.name, target, gain=w)

    # -- the walk ----------------------------------------------------------------

    def _threshold(self, node, lin):
        """lambda of an activation, at most its clip c for a clipped ReLU (an IF
        neuron's rate saturates at its threshold: min(lambda, c) computes the clip)."""
        clip = node.params.get("clip")
        if self.model_norm:
            lam = float(self._bound(lin).max())
            if lam <= 0:
                lam = 1.0
            if clip is not None and lam > clip:
                self.capped[node.name] = lam
                lam = clip
            self.chosen[node.name] = np.array([lam])
            return np.array([lam])
        if node.name not in self.thresholds:
            raise ConversionError(f"{node.origin}: no threshold was computed for this layer")
        theta = self.thresholds[node.name]
        if clip is not None:
            theta = np.minimum(np.asarray(theta, np.float64), clip)
        return theta

    def _node_value(self, node, vals):
        op, p = node.op, node.params
        where = node.origin
        if op == "input":
            c = node.shape[0]
            return _Pop(node.name, node.shape, np.ones(c), np.full(c, self.input_bound))
        x = vals[node.inputs[0]] if node.inputs else None
        if op == "conv2d":
            src = self.as_pop(x, where)
            return _Lin(node.name, [_term("conv2d", src, node.name, weight=p["weight"].astype(
                np.float64), stride=p["stride"], padding=p["padding"], groups=p["groups"])],
                _bias(p), node.shape)
        if op == "linear":
            src = x.pop if isinstance(x, _Flat) else self.as_pop(x, where)
            return _Lin(node.name, [_term("dense", src, node.name,
                                          weight=p["weight"].astype(np.float64))], _bias(p),
                        node.shape)
        if op == "avgpool2d":
            src = self.as_pop(x, where)
            return _Lin(node.name, [_term("avgpool2d", src, node.name, kernel=p["kernel"],
                                          stride=p["stride"], padding=p["padding"])], None,
                        node.shape)
        if op == "affine":
            lin = self.as_lin(x, where)
            scale = p["scale"].astype(np.float64)
            shift = p["shift"].astype(np.float64)
            bias = shift if lin.bias is None else lin.bias * scale + shift
            return _Lin(node.name, [_scale_term(t, scale) for t in lin.terms], bias, node.shape)
        if op == "add":
            terms, bias = [], None
            for i in node.inputs:
                lin = self.as_lin(vals[i], where)
                terms.extend(lin.terms)
                if lin.bias is not None:
                    bias = lin.bias if bias is None else bias + lin.bias
            return _Lin(node.name, terms, bias, node.shape)
        if op == "flatten":
            return _Flat(self.as_pop(x, where), node.shape)
        if op in ("relu", "leaky_relu"):
            lin = self.as_lin(x, where)
            alpha = p.get("alpha") if op == "leaky_relu" else None
            if self.probe == node.name and self.probe_kind == "accumulate":
                return self.population(node.name, "accumulate", lin)
            return self.population(node.name, "if", lin, self._threshold(node, lin), alpha)
        raise AssertionError(op)

    def _output(self, value):
        graph = self.graph
        out = graph.nodes[graph.output]
        if isinstance(value, _Flat):
            value = value.pop
        if isinstance(value, _Pop) and self.readout == "spikes" and \
                self.kinds.get(value.name) == "if":
            return value.name
        lin = self.as_lin(value, out.origin)
        if self.readout == "spikes":
            lam = self.thresholds.get("__output__")
            if lam is None:
                raise ConversionError("a spiking read-out needs an output threshold")
            return self.population("output", "if", lin, lam).name
        return self.population("output", "accumulate", lin).name

    def build(self, provenance=None, readout_start=1):
        vals = {}
        for node in self.graph.nodes.values():
            vals[node.name] = self._node_value(node, vals)
            if node.name == self.probe:
                return self.builder.build(vals[node.name].name, provenance=provenance)
        output = self._output(vals[self.graph.output])
        return self.builder.build(output, provenance=provenance, readout_start=readout_start)


def _bias(params):
    b = params.get("bias")
    return None if b is None else b.astype(np.float64)
