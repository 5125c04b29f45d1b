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

Channel views. A channel concatenation, slice or permutation (DenseNet's
growing concat, SqueezeNet's Fire, GoogLeNet's Inception, ShuffleNet's split
and shuffle) is a `_View`: each channel names a channel of another value, and
nothing is copied in the engine. Per-channel ops act on each part with their
parameters sliced (thresholds, BatchNorm scale and shift); spatial per-channel
ops (average pooling) act on each whole part; a conv or a Linear after a
flatten reads every part through its own projection, its weight split by input
channel. Only the network's output must be one population.
"""

from dataclasses import replace

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
    """A 3-D population, or a _View of populations, seen flattened in CHW
    order (only a dense projection can read it)."""

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


class _View:
    """A (C, H, W) value made of channels of other values, without copies:
    channel c is channel index[c] of parts[part[c]]. Parts are _Pop or _Lin
    values of shape (C_k, H, W); part and index are int64 arrays (C,)."""

    def __init__(self, parts, part, index, shape):
        self.parts = list(parts)
        self.part = np.asarray(part, np.int64)
        self.index = np.asarray(index, np.int64)
        self.shape = tuple(shape)


# per-channel ops with no per-channel parameters: on a view they act on each
# whole part, and the view's channel map is kept as it is
_SPATIAL_OPS = ("avgpool2d", "maxpool2d", "upsample2d")


def _as_view(value):
    """The value as a _View (a plain value is one part in order)."""
    if isinstance(value, _View):
        return value
    c = value.shape[0]
    return _View([value], np.zeros(c, np.int64), np.arange(c), value.shape)


def _make_view(parts, part, index, shape):
    """A _View of the parts that the channels use (the same object once), or
    the part itself when the view is all of one part in order."""
    ids, kept, renumber = {}, [], np.empty(len(parts), np.int64)
    for k, value in enumerate(parts):
        if id(value) not in ids:
            ids[id(value)] = len(kept)
            kept.append(value)
        renumber[k] = ids[id(value)]
    part = renumber[np.asarray(part, np.int64)]
    used = sorted(set(part.tolist()))
    kept = [kept[k] for k in used]
    part = np.searchsorted(used, part)
    index = np.asarray(index, np.int64)
    if len(kept) == 1 and len(index) == kept[0].shape[0] and \
            np.array_equal(index, np.arange(len(index))):
        return kept[0]
    return _View(kept, part, index, (len(index),) + tuple(shape[1:]))


def _concat(values):
    """Channel concatenation of (C_i, H, W) values."""
    views = [_as_view(v) for v in values]
    parts, part, offset = [], [], 0
    for view in views:
        parts.extend(view.parts)
        part.append(view.part + offset)
        offset += len(view.parts)
    index = np.concatenate([view.index for view in views])
    return _make_view(parts, np.concatenate(part), index, values[0].shape)


def _select(value, channels):
    """Channel c of the result is channel channels[c] of `value`."""
    view = _as_view(value)
    return _make_view(view.parts, view.part[channels], view.index[channels], view.shape)


def _from_pieces(pieces, shape):
    """The view whose channel order[j] is channel j of value, for each
    (value, order) of `pieces` (the orders cover the channels once)."""
    c = shape[0]
    part, index = np.empty(c, np.int64), np.empty(c, np.int64)
    for k, (_, order) in enumerate(pieces):
        part[order] = k
        index[order] = np.arange(len(order))
    return _make_view([v for v, _ in pieces], part, index, shape)


def _as_conv_term(term, channels):
    """A one-to-one term (identity or average pooling, with its gain) of a
    `channels`-channel source as the equal conv2d term, whose output channels
    can be chosen and moved."""
    if term["op"] == "conv2d":
        return term
    kh, kw = term["kernel"]
    gain = np.ones(channels) if term["gain"] is None else term["gain"]
    weight = np.zeros((channels, channels, kh, kw))
    diagonal = np.arange(channels)
    # the engine's pooling divides by the whole window, padding counted as zeros
    weight[diagonal, diagonal] = (gain / (kh * kw))[:, None, None]
    return dict(term, op="conv2d", weight=weight, gain=None)


def _remap_rows(lin, take, put, total):
    """The _Lin with `total` output channels whose channel put[j] is channel
    take[j] of `lin` (the others zero): a piece of a value chosen, or placed in
    a wider one. Every term becomes a conv2d term."""
    terms = []
    for term in lin.terms:
        t = _as_conv_term(term, lin.shape[0])
        weight = np.zeros((total,) + t["weight"].shape[1:])
        weight[put] = t["weight"][take]
        terms.append(dict(t, weight=weight))
    bias = None
    if lin.bias is not None:
        bias = np.zeros(total)
        bias[put] = lin.bias[take]
    return _Lin(lin.name, terms, bias, (total,) + lin.shape[1:])


def _split_columns(weight, view, k):
    """The columns (axis 1, input channels) of `weight` that read part k of
    `view`, as a weight on all of that part's channels (zero for those the
    view does not use; summed for one it uses twice)."""
    positions = np.flatnonzero(view.part == k)
    columns = np.moveaxis(weight, 1, 0)
    out = np.zeros((view.parts[k].shape[0],) + columns.shape[1:])
    np.add.at(out, view.index[positions], columns[positions])
    return np.moveaxis(out, 0, 1)


def _term(op, src, name, weight=None, gain=None, kernel=(1, 1), stride=(1, 1), padding=(0, 0),
          scale=(1, 1), groups=1):
    return {"op": op, "src": src, "name": name, "weight": weight, "gain": gain,
            "kernel": tuple(kernel), "stride": tuple(stride), "padding": tuple(padding),
            "scale": tuple(scale), "groups": int(groups)}


def _column_channels(weight, groups):
    """int64 (Co, Ci / groups): the input channel that weight column j of output
    o reads, (o // (Co / groups)) * (Ci / groups) + j (PyTorch's grouped
    layout; groups = 1: channel j)."""
    co, cig = weight.shape[:2]
    group = np.arange(co) // (co // groups)                     # (Co,) group of each output
    return group[:, None] * cig + np.arange(cig)[None, :]


def _per_weight_column(per_channel, weight, groups):
    """A per-input-channel value (Ci,) laid out as a conv weight's columns:
    (Co, Ci / groups, 1, 1)."""
    return np.asarray(per_channel)[_column_channels(weight, groups)][:, :, None, None]


def _ungrouped(weight, groups):
    """A grouped conv weight (Co, Ci / groups, kh, kw) as the equal ordinary
    one (Co, Ci, kh, kw), zero outside each output's group."""
    if groups == 1:
        return weight
    co, cig = weight.shape[:2]
    full = np.zeros((co, cig * groups) + weight.shape[2:], weight.dtype)
    full[np.arange(co)[:, None], _column_channels(weight, groups)] = weight
    return full


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
    reset, v_init, retract, readout, encoding
        As in `from_torch`.
    model_norm : bool
        Diehl's model-based thresholds: the largest possible input per step.
    input_bound : float
        Largest input value (model-based normalisation).
    bias_delta : dict node name -> (C,), optional
        Added to the bias of an activation's population (bias calibration).
    output_affine : (scale, shift), ndarray (C,) float64 each, optional
        An accumulating read-out's channel c becomes scale[c] * its value +
        shift[c] (the output calibration of a map read-out).
    probe : str, optional
        Stop at this activation and make it the output: kind 'accumulate'
        (its current is read, for Spike-Norm) or 'if' (its rates are read,
        for bias calibration), as `probe_kind` says.
    """

    def __init__(self, graph, thresholds, reset="subtract", v_init=0.0, readout="membrane",
                 encoding="analog", model_norm=False, input_bound=1.0, bias_delta=None,
                 probe=None, probe_kind="accumulate", output_affine=None, retract=False):
        self.graph = graph
        self.thresholds = thresholds
        self.reset = reset
        self.v_init = v_init
        self.retract = retract
        self.readout = readout
        self.model_norm = model_norm
        self.input_bound = float(input_bound)
        self.bias_delta = bias_delta or {}
        self.output_affine = output_affine
        self.probe = probe
        self.probe_kind = probe_kind
        in_shape = graph.nodes[graph.input].shape
        self.builder = NetworkBuilder(in_shape, input_name=graph.input, encoding=encoding)
        self.used_names = {graph.input}
        self.proj_names = set()
        self.chosen = {}        # activation -> lambda actually used (model norm fills it)
        self.capped = {}        # clipped ReLU -> largest lambda before its clip capped it
        self.kinds = {}         # population name -> kind
        self.pooled = set()     # the relays of max pools
        # population of part k of an activation's channels -> {"of": activation,
        # "channels": its channels}, recorded in the provenance (analysis pairs them)
        self.channel_parts = {}

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

    def pieces(self, view, where):
        """(value, order) for each part of `view`: view channel order[j] is
        channel j of value. A part the view uses whole (in any order) is kept
        as it is; one it uses in part, or twice, is cut to those channels (by
        conv projections that pick them)."""
        out = []
        for k, value in enumerate(view.parts):
            positions = np.flatnonzero(view.part == k)
            channels = view.index[positions]
            if len(channels) == value.shape[0] and len(np.unique(channels)) == len(channels):
                order = np.empty(len(channels), np.int64)
                order[channels] = positions
                out.append((value, order))
            else:
                cut = _remap_rows(self.as_lin(value, where), channels,
                                  np.arange(len(channels)), len(channels))
                out.append((cut, positions))
        return out

    def gather(self, view, name, where):
        """One _Lin for all of `view`'s channels, each part placed by conv
        projections: for a probe, which must read one population."""
        c = view.shape[0]
        terms, bias = [], None
        for value, order in self.pieces(view, where):
            placed = _remap_rows(self.as_lin(value, where), np.arange(len(order)), order, c)
            terms.extend(placed.terms)
            bias = _sum_bias(bias, placed.bias)
        return _Lin(name, terms, bias, view.shape)

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

    def population(self, name, kind, lin, threshold=None, signed_alpha=None, piece=None):
        """Declare a population fed by `lin`; returns its _Pop. `name` is the
        graph node it stands for (bias_delta is keyed by it). `piece` (k,
        channels) makes it part k of that node's channel view, standing for
        its channels `channels` (int64 (C_k,)): named '<name>.part<k>', with
        bias_delta sliced to them."""
        key = name
        name = self._unique(name if piece is None else f"{name}.part{piece[0]}",
                            self.used_names)
        if piece is not None:
            self.channel_parts[name] = {"of": key, "channels": [int(c) for c in piece[1]]}
        self.kinds[name] = kind
        c = lin.shape[0]
        bias = lin.bias
        if key in self.bias_delta:
            delta = self.bias_delta[key]
            delta = delta if piece is None else delta[piece[1]]
            bias = (np.zeros(c) if bias is None else bias) + delta
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
            neg = None
            if signed_alpha is not None:
                neg = theta / signed_alpha
            elif self.retract:
                # taken back half a spike past the half-threshold start's rounding
                # point: a hysteresis of 1.5 spikes, so a neuron near a boundary
                # does not fire and retract in turns
                neg = theta / 2
                kwargs["retract"] = True
            if neg is not None:
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
        elif term["op"] == "upsample2d":
            self.builder.upsample2d(name, src.name, target, term["scale"], gain=w)
        else:
            self.builder.identity(name, src.name, target, gain=w)

    # -- the walk ----------------------------------------------------------------

    def _threshold(self, node, lins):
        """lambda of an activation fed by `lins` (one _Lin, or one per part of
        a channel view), at most its clip c for a clipped ReLU (an IF neuron's
        rate saturates at its threshold: min(lambda, c) computes the clip)."""
        clip = node.params.get("clip")
        if self.model_norm:
            lam = max(float(self._bound(lin).max()) for lin in lins)
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
        inputs = [vals[i] for i in node.inputs]
        x = inputs[0] if inputs else None
        if op == "cat":
            return _concat(inputs)
        if op == "channels":
            return _select(x, p["index"])
        if op == "add":
            return self._add(node, inputs)
        if op in _SPATIAL_OPS and isinstance(x, _View):
            # each whole part pooled (as a node of the part's channels): the channel
            # map stays as it is
            pooled = [self._node_value(replace(node, shape=part.shape[:1] + node.shape[1:]),
                                       {node.inputs[0]: part}) for part in x.parts]
            return _make_view(pooled, x.part, x.index, node.shape)
        if op == "conv2d":
            groups = p.get("groups", 1)
            if not isinstance(x, _View):
                return _Lin(node.name, [_term("conv2d", self.as_pop(x, where), node.name,
                                              weight=p["weight"].astype(np.float64),
                                              stride=p["stride"], padding=p["padding"],
                                              groups=groups)], _bias(p), node.shape)
            # a view's parts are read through their own projections, whose weights
            # are the columns of the whole conv's, so a grouped conv becomes an
            # ordinary one here (ShuffleNet's downsampling branch: three layers)
            view = _as_view(x)
            weight = _ungrouped(p["weight"].astype(np.float64), groups)
            terms = [_term("conv2d", self.as_pop(part, where), node.name,
                           weight=_split_columns(weight, view, k),
                           stride=p["stride"], padding=p["padding"])
                     for k, part in enumerate(view.parts)]
            return _Lin(node.name, terms, _bias(p), node.shape)
        if op == "linear":
            return self._linear(node, x)
        if op == "avgpool2d":
            src = self.as_pop(x, where)
            return _Lin(node.name, [_term("avgpool2d", src, node.name, kernel=p["kernel"],
                                          stride=p["stride"], padding=p["padding"])], None,
                        node.shape)
        if op == "maxpool2d":
            return self._max_pool(node, self._spiking_source(x, where))
        if op == "upsample2d":
            return _Lin(node.name, [_term("upsample2d", self.as_pop(x, where), node.name,
                                          scale=p["scale"])], None, node.shape)
        if op == "affine":
            scale = p["scale"].astype(np.float64)
            shift = p["shift"].astype(np.float64)
            if isinstance(x, _View):
                return _from_pieces([(self._affine(v, scale[o], shift[o], node), o)
                                     for v, o in self.pieces(x, where)], node.shape)
            return self._affine(x, scale, shift, node)
        if op == "flatten":
            if isinstance(x, _View):      # a Linear reads each part (as a population)
                return _Flat(_make_view([self.as_pop(v, where) for v in x.parts], x.part,
                                        x.index, x.shape), node.shape)
            return _Flat(self.as_pop(x, where), node.shape)
        if op in ("relu", "leaky_relu"):
            return self._activation(node, x)
        if isinstance(x, _View):
            raise ConversionError(f"{where}: {op} of a concatenated or channel-sliced feature "
                                  "map is not supported")
        raise AssertionError(op)

    def _affine(self, value, scale, shift, node):
        """value * scale + shift per channel (scale, shift: (C,) float64)."""
        lin = self.as_lin(value, node.origin)
        bias = shift if lin.bias is None else lin.bias * scale + shift
        return _Lin(node.name, [_scale_term(t, scale) for t in lin.terms], bias, lin.shape)

    def _add(self, node, inputs):
        """The sum of the inputs, channel by channel. With channel views, the
        channels whose inputs come from the same parts are summed together:
        one _Lin per such group, a view of the groups."""
        views = [_as_view(v) for v in inputs]
        keys = np.stack([view.part for view in views], axis=1)
        groups, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        pieces = []
        for g, key in enumerate(groups):
            positions = np.flatnonzero(inverse == g)
            terms, bias = [], None
            for view, k in zip(views, key):
                lin = self.as_lin(view.parts[k], node.origin)
                channels = view.index[positions]
                if not np.array_equal(channels, np.arange(lin.shape[0])):
                    lin = _remap_rows(lin, channels, np.arange(len(channels)), len(channels))
                terms.extend(lin.terms)
                bias = _sum_bias(bias, lin.bias)
            pieces.append((_Lin(node.name, terms, bias, (len(positions),) + node.shape[1:]),
                           positions))
        return _from_pieces(pieces, node.shape)

    def _linear(self, node, x):
        """A Linear on a vector, or on a flattened map (CHW order) whose
        channels may be a view: one dense projection per part, from the
        weight's columns for that part's channels."""
        p = node.params
        weight = p["weight"].astype(np.float64)
        if not isinstance(x, _Flat):
            src = self.as_pop(x, node.origin)
            return _Lin(node.name, [_term("dense", src, node.name, weight=weight)], _bias(p),
                        node.shape)
        view = _as_view(x.pop)
        c = view.shape[0]
        blocks = weight.reshape(weight.shape[0], c, -1)       # (out, C, H*W)
        terms = [_term("dense", part, node.name,
                       weight=_split_columns(blocks, view, k).reshape(weight.shape[0], -1))
                 for k, part in enumerate(view.parts)]
        return _Lin(node.name, terms, _bias(p), node.shape)

    def _activation(self, node, x):
        """The IF population of a ReLU, clipped ReLU or leaky ReLU; over a
        channel view, one per part, with the threshold sliced to its channels
        (a probed activation gathers the parts into one population)."""
        where = node.origin
        alpha = node.params.get("alpha") if node.op == "leaky_relu" else None
        if isinstance(x, _View) and self.probe == node.name:
            x = self.gather(x, node.name, where)
        if not isinstance(x, _View):
            lin = self.as_lin(x, where)
            if self.probe == node.name and self.probe_kind == "accumulate":
                return self.population(node.name, "accumulate", lin)
            return self.population(node.name, "if", lin, self._threshold(node, [lin]), alpha)
        pieces = [(self.as_lin(v, where), o) for v, o in self.pieces(x, where)]
        theta = np.broadcast_to(np.asarray(self._threshold(node, [lin for lin, _ in pieces]),
                                           np.float64), (node.shape[0],))
        pops = [(self.population(node.name, "if", lin, theta[order], alpha, piece=(k, order)),
                 order) for k, (lin, order) in enumerate(pieces)]
        return _from_pieces(pops, node.shape)

    def _spiking_source(self, value, where):
        """The population a max pool reads: an IF population (signed for a
        leaky ReLU: the pool follows its net counts), or a max pool's relay (the
        capture refused max pooling anywhere else)."""
        if not (isinstance(value, _Pop) and
                (self.kinds.get(value.name) == "if" or value.name in self.pooled)):
            raise ConversionError(f"{where}: max pooling reads no ReLU's spikes")
        return value

    def _max_pool(self, node, src):
        """A relay fed by a maxpool2d of `src`. Its events are src's spikes
        passed on (one per change of a window's largest net count, of value 1 or
        -1), so it keeps src's unit, and a max pool may read it in turn."""
        p = node.params
        name = self._unique(node.name, self.used_names)
        self.kinds[name] = "relay"
        self.pooled.add(name)
        self.builder.population(name, node.shape, kind="relay")
        self.builder.maxpool2d(self._unique(node.name, self.proj_names), src.name, name,
                               p["kernel"], p["stride"], p["padding"], p["ceil_mode"])
        return _Pop(name, node.shape, src.unit, src.bound)

    def _output(self, value):
        graph = self.graph
        out = graph.nodes[graph.output]
        if isinstance(value, _Flat):
            value = value.pop
        if isinstance(value, _View):
            raise ConversionError(
                f"{out.origin}: the network's output is a concatenation or channel "
                f"selection of {len(value.parts)} separately computed parts, and snncore reads "
                "the output from one population; end the network with a layer that reads "
                "them all (a Linear or a conv)")
        if isinstance(value, _Pop) and self.readout == "spikes" and \
                self.kinds.get(value.name) == "if":
            return value.name
        lin = self.as_lin(value, out.origin)
        if self.readout == "spikes":
            lam = self.thresholds.get("__output__")
            if lam is None:
                raise ConversionError("a spiking read-out needs an output threshold")
            return self.population("output", "if", lin, lam).name
        if self.output_affine is not None:
            lin = _affine(lin, *self.output_affine)
        return self.population("output", "accumulate", lin).name

    def build(self, provenance=None, readout_start=1):
        """The network; its provenance gains "channel_parts" when an activation's
        channels went to several populations."""
        vals = {}
        for node in self.graph.nodes.values():
            vals[node.name] = self._node_value(node, vals)
            if node.name == self.probe:
                return self.builder.build(vals[node.name].name, provenance=provenance)
        output = self._output(vals[self.graph.output])
        if self.channel_parts:
            provenance = dict(provenance or {}, channel_parts=self.channel_parts)
        return self.builder.build(output, provenance=provenance, readout_start=readout_start)


def _affine(lin, scale, shift):
    """The _Lin whose output channel c is scale[c] * lin's + shift[c]."""
    bias = shift if lin.bias is None else scale * lin.bias + shift
    return _Lin(lin.name, [_scale_term(t, scale) for t in lin.terms], bias, lin.shape)


def _sum_bias(a, b):
    """The sum of two biases, either of which may be None (no bias)."""
    if a is None or b is None:
        return b if a is None else a
    return a + b


def _bias(params):
    b = params.get("bias")
    return None if b is None else b.astype(np.float64)
