"""Export to and import from NIR, the Neuromorphic Intermediate Representation
(the PyPI package ``nir``, 1.0.0 to 1.0.4: the versions sinabs reads).

``to_nir(net)`` turns a `Network` into a ``nir.NIRGraph``; ``from_nir(graph)``
turns a NIR graph (or a NIR file) back into a `Network`. Where the mapping is
exact, ``from_nir(to_nir(net))`` runs bit-identically to ``net``. docs/nir.md
says which parts are exact, which are not, and why.

The mapping, in one table (populations are NIR nodes with state, projections
are NIR nodes that compute; NIR edges carry values unchanged and several edges
into one node add up):

=================================  ==============================================
snncore                            NIR
=================================  ==============================================
``input`` population               ``Input``
``if`` population                  ``IF`` (``r`` = 1, ``v_threshold`` per neuron)
``accumulate`` population          ``I`` (``r`` = 1)
``relay`` population               no node: the edges of the projections into it
                                   go straight to the nodes that read it
``conv2d``                         ``Conv2d`` (``groups`` kept)
``dense``                          ``Affine`` (after a ``Flatten`` from a 3-D source)
``avgpool2d``                      ``AvgPool2d``, then ``Scale`` if it has a gain
``identity``                       ``Scale`` (ones without a gain)
a population's bias                the bias of one ``Conv2d`` or ``Affine`` into it
=================================  ==============================================

``maxpool2d`` and ``upsample2d`` have no NIR node and are refused. What NIR's
``IF`` cannot say (an initial membrane, reset to zero, signed neurons) is
refused too, unless ``approximate=True`` asks to drop it, with a warning and a
note in the node's metadata.
"""

import dataclasses
import json
import os
import warnings

import numpy as np

from ._spec import denormalize
from .builder import avgpool2d_shape, conv2d_shape
from .network import Network

__all__ = ["to_nir", "from_nir", "NIRExportError", "NIRImportError", "NIRExportWarning"]

# The graph metadata key under which snncore keeps what is not dynamics (names,
# file order, run hints), so that its own exports come back with their names.
_META_KEY = "snncore"

# What the export means by a NIR graph, for the graph's metadata: NIR fixes the
# nodes' equations in continuous time and leaves the step rule to the simulator.
SEMANTICS = ("discrete time, one step per time unit: an IF neuron does V += r * I, then "
             "fires one spike when V >= v_threshold and subtracts v_threshold; an I node "
             "does V += r * I; every edge has zero delay; the input is the image, presented "
             "every step (analog encoding); snncore decodes an I output as V(t) / t and an "
             "IF output as spikes / t")


class NIRExportError(ValueError):
    """A network holds something NIR cannot express. ``item`` names the
    population or projection at fault."""

    def __init__(self, message, item=None):
        super().__init__(message)
        self.item = item


class NIRImportError(ValueError):
    """A NIR graph holds something snncore cannot run. ``node`` names the NIR
    node at fault (or is None)."""

    def __init__(self, message, node=None):
        super().__init__(message)
        self.node = node


class NIRExportWarning(UserWarning):
    """``to_nir(..., approximate=True)`` dropped something NIR cannot say."""


def _import_nir():
    try:
        import nir
    except ImportError:
        # pyproject's `nir` extra pins the versions (docs/nir.md, "Which nir")
        raise ImportError("snncore.nir needs the nir package: pip install 'snncore[nir]'") \
            from None
    return nir


def _if_resets_to_value(nir):
    """True when the installed nir's IF resets to ``v_reset`` (nir >= 1.0.5)
    rather than by subtraction (nir <= 1.0.4)."""
    return "v_reset" in {f.name for f in dataclasses.fields(nir.IF)}


def _has_metadata(cls):
    return "metadata" in {f.name for f in dataclasses.fields(cls)}


# -- export -----------------------------------------------------------------------------

def to_nir(net, approximate=False):
    """Export a network as a NIR graph.

    Parameters
    ----------
    net : Network
    approximate : bool
        False (the default): refuse what NIR cannot express exactly. True:
        drop an initial membrane, a reset to zero or a signed neuron's
        negative spikes, with a `NIRExportWarning` naming the population and
        a note in its node's metadata (``snncore_dropped``).

    Returns
    -------
    nir.NIRGraph
        Nodes named after the populations and projections (a projection
        that shares its name with a population gets ``.<op>`` appended);
        one ``Output`` node, ``output``. Arrays are float32. The graph's
        metadata keeps the names, the file order and the run hints, so that
        `from_nir` gives the same network back.

    Raises
    ------
    NIRExportError
        A max pool, an upsampling, a bias that no conv or dense projection
        into its population can carry, a relay with no input, or (unless
        ``approximate``) an initial membrane, a reset to zero or a signed
        population. The message names the population or projection.
    ImportError
        The nir package is missing.
    """
    if not isinstance(net, Network):
        raise TypeError(f"to_nir takes an snncore.Network, not {type(net).__name__}")
    return _Exporter(_import_nir(), net, approximate).graph()


class _Exporter:
    """One export: the spec's populations and projections become nodes and edges."""

    def __init__(self, nir, net, approximate):
        self.nir = nir
        self.spec = net._spec
        self.approximate = approximate
        self.pops = self.spec["populations"]
        self.projs = self.spec["projections"]
        self.incoming = {i: [] for i in range(len(self.pops))}
        for j, q in enumerate(self.projs):
            self.incoming[q["target"]].append(j)
        self.nodes = {}
        self.edges = []
        self.node_keys = set()
        self.pop_key = {}
        self.proj_nodes = {}        # projection index -> (first, main, last) node keys
        self.bias_carrier = {}      # projection index -> bias (float32) it carries

    def _key(self, name):
        """A node name: no '/' (HDF5 would make it a path), unique."""
        base = name.replace("/", "|")
        key, n = base, 1
        while key in self.node_keys:
            n += 1
            key = f"{base}~{n}"
        self.node_keys.add(key)
        return key

    def _shape(self, pop):
        c, h, w = (int(d) for d in pop["shape"])
        return (c,) if pop["ndim"] == 1 else (c, h, w)

    def graph(self):
        for pop in self.pops:
            self.pop_key[pop["name"]] = self._key(pop["name"])
        for i, pop in enumerate(self.pops):
            self._population(i, pop)
        for j, q in enumerate(self.projs):
            self._projection(j, q)
        for j, q in enumerate(self.projs):
            self._connect(j, q)
        out = self.pops[self.spec["output"]]
        out_key = self._key("output")
        self.nodes[out_key] = self.nir.Output(np.array(self._shape(out)))
        self.edges.append((self.pop_key[out["name"]], out_key))
        return self.nir.NIRGraph(nodes=self.nodes, edges=self.edges,
                                 metadata={_META_KEY: json.dumps(self._names()),
                                           "snncore_semantics": SEMANTICS})

    # populations

    def _population(self, i, pop):
        kind, name, shape = pop["kind"], pop["name"], self._shape(pop)
        key = self.pop_key[name]
        if pop["bias"] is not None:
            self._place_bias(i, pop)
        if kind == "input":
            self.nodes[key] = self.nir.Input(np.array(shape))
        elif kind == "accumulate":
            self.nodes[key] = self.nir.I(r=np.ones(shape, np.float32))
        elif kind == "if":
            self.nodes[key] = self._if_node(pop, shape)
        elif not self.incoming[i]:
            raise NIRExportError(f"population {name!r}: a relay with no projection into it "
                                 "has no NIR equivalent (its value would be its bias alone)",
                                 name)

    def _if_node(self, pop, shape):
        name = pop["name"]
        dropped = []
        if pop["v_init"] != 0:
            dropped.append(self._inexact(name, f"its initial membrane (v_init = {pop['v_init']:g} "
                                               "of the threshold): NIR's IF starts at 0"))
        to_value = _if_resets_to_value(self.nir)
        if (pop["reset"] == "zero") != to_value:
            rule = "resets to v_reset" if to_value else "resets by subtraction"
            dropped.append(self._inexact(name, f"its reset {pop['reset']!r}: the IF of the "
                                               f"installed nir {rule}"))
        if pop["signed"]:
            dropped.append(self._inexact(name, "its negative spikes (a signed or retracting neuron): NIR's IF "
                                               "fires only positive spikes"))
        theta = np.asarray(pop["threshold"], np.float32).reshape(-1)
        v_threshold = np.ascontiguousarray(np.broadcast_to(
            theta.reshape((-1,) + (1,) * (len(shape) - 1)), shape), np.float32)
        kwargs = {"r": np.ones(shape, np.float32), "v_threshold": v_threshold}
        if to_value:
            kwargs["v_reset"] = np.zeros(shape, np.float32)
        if dropped:
            kwargs["metadata"] = {"snncore_dropped": "; ".join(dropped)}
        return self.nir.IF(**kwargs)

    def _inexact(self, name, what):
        if not self.approximate:
            raise NIRExportError(f"population {name!r}: NIR cannot express {what}; "
                                 "to_nir(..., approximate=True) drops it", name)
        warnings.warn(f"to_nir: population {name!r}: dropped {what}", NIRExportWarning,
                      stacklevel=4)
        return what

    def _place_bias(self, i, pop):
        """Give the population's bias to its first conv2d or dense projection (NIR's
        IF has no bias; a Conv2d's is per channel, an Affine's per neuron)."""
        name, bias = pop["name"], np.asarray(pop["bias"], np.float32)
        c, h, w = (int(d) for d in pop["shape"])
        if bias.size != c:
            per_channel = bias.reshape(c, h * w)
            if not np.all(per_channel == per_channel[:, :1]):
                raise NIRExportError(f"population {name!r}: a bias that varies within a channel "
                                     "has no NIR equivalent (a Conv2d's bias is per channel)",
                                     name)
            bias = np.ascontiguousarray(per_channel[:, 0])
        for j in self.incoming[i]:
            if self.projs[j]["op"] in ("conv2d", "dense"):
                self.bias_carrier[j] = bias.reshape(-1)
                return
        raise NIRExportError(f"population {name!r}: NIR cannot express its bias, since no "
                             "conv2d or dense projection into it can carry it (NIR's neurons "
                             "and pools have no bias)", name)

    # projections

    def _projection(self, j, q):
        op, name = q["op"], q["name"]
        if op in ("maxpool2d", "upsample2d"):
            what = "spiking max pooling" if op == "maxpool2d" else "upsampling"
            hint = " (convert with maxpool='avg')" if op == "maxpool2d" else ""
            raise NIRExportError(f"projection {name!r}: NIR 1.0 has no node for {what}{hint}",
                                 name)
        key = self._key(name if name not in self.pop_key else f"{name}.{op}")
        src, dst = self.pops[q["source"]], self.pops[q["target"]]
        bias = self.bias_carrier.get(j)
        first = key
        if op == "conv2d":
            co = q["weight"].shape[0]
            self.nodes[key] = self.nir.Conv2d(
                input_shape=tuple(int(d) for d in src["shape"][1:]),
                weight=np.asarray(q["weight"], np.float32),
                stride=tuple(int(s) for s in q["stride"]),
                padding=tuple(int(p) for p in q["padding"]),
                dilation=(1, 1), groups=int(q["groups"]),
                bias=np.zeros(co, np.float32) if bias is None else bias)
        elif op == "dense":
            w = np.asarray(q["weight"], np.float32)
            if src["ndim"] == 3:
                first = self._key(f"{key}.flatten")
                self.nodes[first] = self.nir.Flatten(np.array(self._shape(src)), 0, -1)
                self.edges.append((first, key))
            self.nodes[key] = self.nir.Affine(
                weight=w, bias=np.zeros(w.shape[0], np.float32) if bias is None else bias)
        elif op == "avgpool2d":
            self.nodes[key] = self.nir.AvgPool2d(
                kernel_size=np.array(q["kernel"]), stride=np.array(q["stride"]),
                padding=np.array(q["padding"]))
            if q["weight"] is not None:
                gain_key = self._key(f"{key}.gain")
                self.nodes[gain_key] = self._scale(q["weight"], self._shape(dst))
                self.edges.append((key, gain_key))
                self.proj_nodes[j] = (first, key, gain_key)
                return
        else:   # identity
            self.nodes[key] = self._scale(q["weight"], self._shape(dst))
        self.proj_nodes[j] = (first, key, key)

    def _scale(self, gain, shape):
        """A Scale node of a gain per channel (C,) or None (ones), per neuron."""
        gain = np.ones(shape[0], np.float32) if gain is None else np.asarray(gain, np.float32)
        return self.nir.Scale(np.ascontiguousarray(np.broadcast_to(
            gain.reshape((-1,) + (1,) * (len(shape) - 1)), shape), np.float32))

    def _outputs(self, i):
        """The nodes whose values make population i's events: its own node, or
        for a relay, the last nodes of the projections into it (their sum)."""
        pop = self.pops[i]
        if pop["kind"] != "relay":
            return [self.pop_key[pop["name"]]]
        return [self.proj_nodes[j][2] for j in self.incoming[i]]

    def _connect(self, j, q):
        first, _, last = self.proj_nodes[j]
        for src in self._outputs(q["source"]):
            self.edges.append((src, first))
        target = self.pops[q["target"]]
        if target["kind"] != "relay":
            self.edges.append((last, self.pop_key[target["name"]]))

    def _names(self):
        """What from_nir needs to give the network back as it was, beyond the
        dynamics: names, file order and the run hints."""
        spec = self.spec
        relays = [[p["name"], [self.projs[j]["name"] for j in self.incoming[i]]]
                  for i, p in enumerate(self.pops) if p["kind"] == "relay"]
        meta, _ = denormalize(spec)
        return {"populations": {self.pop_key[p["name"]]: p["name"] for p in self.pops},
                "projections": {self.proj_nodes[j][1]: q["name"] for j, q in enumerate(self.projs)},
                "relays": relays,
                "population_order": [p["name"] for p in self.pops],
                "projection_order": [q["name"] for q in self.projs],
                "input": meta["input"], "readout": meta.get("readout", {}),
                "provenance": meta.get("provenance", {})}


# -- import -----------------------------------------------------------------------------

def from_nir(graph, dt=1.0):
    """Import a NIR graph as a network.

    Parameters
    ----------
    graph : nir.NIRGraph, or str or os.PathLike
        A graph, or a NIR file (HDF5, as ``nir.write`` writes it).
    dt : float
        The step, in the graph's time unit: an IF or I node integrates
        ``V += dt * r * I`` each step. 1 (the default) fits sinabs and
        snncore's own exports (``r`` = 1); a graph written with ``r = 1/dt``
        (SpikingJelly, Norse) wants its ``dt``. The factor becomes the
        threshold's divisor, exact when ``dt * r`` is 1.

    Returns
    -------
    Network
        Populations for the Input, IF and I nodes; a relay population wherever
        a value is summed or pooled between two computing nodes; a projection
        per computing node (per target when it feeds several). A graph that
        snncore exported comes back with its names, order and run hints.

    Raises
    ------
    NIRImportError
        A node snncore cannot run (leaky neurons, delays, 1-d convolutions,
        dilation, nested graphs, a threshold or gain that varies within a
        channel, a cycle, ...); the message names the node.
    FormatError
        The network the graph describes is invalid (shapes that do not fit).
    """
    nir = _import_nir()
    if isinstance(graph, (str, os.PathLike)):
        graph = nir.read(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"from_nir takes a nir.NIRGraph or a path, not {type(graph).__name__}")
    dt = float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
    return _Importer(nir, graph, dt).network()


def _classify(nir):
    """NIR node class -> what it becomes in snncore."""
    return [(nir.Input, "input"), (nir.Output, "output"), (nir.IF, "if"), (nir.I, "accumulate"),
            (nir.Conv2d, "op"), (nir.Affine, "op"), (nir.Linear, "op"), (nir.AvgPool2d, "op"),
            (nir.SumPool2d, "op"), (nir.Scale, "op"), (nir.Flatten, "flatten")]


_LEAKY = ("LIF", "LI", "CubaLIF")
_POPS = ("input", "if", "accumulate")


def _pair(value, what, key):
    v = np.asarray(value).reshape(-1)
    if v.size == 1:
        v = np.repeat(v, 2)
    if v.size != 2 or not np.all(v == np.round(v)):
        raise NIRImportError(f"NIR node {key!r}: {what} {value!r} is not an int or a pair of ints",
                             key)
    return [int(a) for a in v]


def _per_channel(values, what, key):
    """(C,) float32 of an array of shape (C, ...) constant within each channel."""
    v = np.asarray(values, np.float32)
    if v.ndim == 0:
        return v.reshape(1)
    flat = v.reshape(v.shape[0], -1)
    if not np.all(flat == flat[:, :1]):
        raise NIRImportError(f"NIR node {key!r}: its {what} varies within a channel; snncore "
                             "takes one value per channel", key)
    return np.ascontiguousarray(flat[:, 0])


class _Importer:
    """One import: NIR nodes become populations, relays and projections."""

    def __init__(self, nir, graph, dt):
        self.nir = nir
        self.dt = dt
        self.nodes = dict(graph.nodes)
        self.edges = [(str(a), str(b)) for a, b in graph.edges]
        self.names = self._saved_names(graph)
        self.kind = {key: self._kind(key, node) for key, node in self.nodes.items()}
        for a, b in self.edges:
            for end in (a, b):
                if end not in self.nodes:
                    raise NIRImportError(f"NIR edge {a!r} -> {b!r}: no node {end!r}", end)
        self.gain = {}              # pool node -> fused Scale's values
        self._fuse_pool_gains()
        self.preds = {k: [a for a, b in self.edges if b == k] for k in self.nodes}
        self.succs = {k: [b for a, b in self.edges if a == k] for k in self.nodes}
        self.order = self._topological()
        self.shape = {}
        self.pops = {}              # population name -> format object
        self.pop_of = {}            # population node key -> population name
        self.relays = {}            # tuple of source node keys -> relay name
        self.projs = []             # format objects, in creation order
        self.arrays = {}
        self.bias = {}              # population name -> float32 bias summed so far
        self.uses = {}              # op node -> projections made of it

    @staticmethod
    def _saved_names(graph):
        meta = getattr(graph, "metadata", None) or {}
        text = meta.get(_META_KEY)
        if isinstance(text, bytes):
            text = text.decode("utf8")
        try:
            return json.loads(text) if isinstance(text, str) else {}
        except ValueError:
            return {}

    def _kind(self, key, node):
        for cls, kind in _classify(self.nir):
            if type(node) is cls:
                return kind
        name = type(node).__name__
        if name in _LEAKY:
            why = "snncore's neurons do not leak (it runs IF and I nodes)"
        elif name == "NIRGraph":
            why = "nested graphs are not supported; flatten the graph first"
        else:
            why = "snncore has no equivalent"
        raise NIRImportError(f"NIR node {key!r} is a {name}: {why}", key)

    def _fuse_pool_gains(self):
        """A pool whose one reader is a Scale that reads only it becomes one
        pooling projection with a gain (how to_nir writes a pool's gain)."""
        for key in list(self.nodes):
            node = self.nodes.get(key)
            if not isinstance(node, (self.nir.AvgPool2d, self.nir.SumPool2d)):
                continue
            succs = [b for a, b in self.edges if a == key]
            if len(succs) != 1 or not isinstance(self.nodes[succs[0]], self.nir.Scale):
                continue
            scale = succs[0]
            if [a for a, b in self.edges if b == scale] != [key] \
                    or scale in self.names.get("projections", {}):
                continue        # (snncore's export names an identity's Scale: not a gain)
            self.gain[key] = np.asarray(self.nodes[scale].scale, np.float32)
            self.edges = [(key if a == scale else a, b) for a, b in self.edges if b != scale]
            del self.nodes[scale], self.kind[scale]

    def _topological(self):
        """Node keys, every node after its sources (ties in node order)."""
        pending = {k: len(self.preds[k]) for k in self.nodes}
        ready = [k for k in self.nodes if pending[k] == 0]
        order = []
        while ready:
            k = ready.pop(0)
            order.append(k)
            for b in self.succs[k]:
                pending[b] -= 1
                if pending[b] == 0:
                    ready.append(b)
        if len(order) != len(self.nodes):
            stuck = next(k for k in self.nodes if k not in order)
            raise NIRImportError(f"the NIR graph has a cycle through node {stuck!r}; snncore "
                                 "runs feed-forward graphs (zero-delay edges only)", stuck)
        return order

    def _only(self, kind):
        keys = [k for k in self.order if self.kind[k] == kind]
        if len(keys) != 1:
            raise NIRImportError(f"the NIR graph has {len(keys)} {kind.capitalize()} nodes; "
                                 "snncore runs graphs of one input and one output")
        return keys[0]

    # shapes

    def _node_shape(self, key):
        if key in self.shape:
            return self.shape[key]
        node, kind = self.nodes[key], self.kind[key]
        if kind == "input":
            shape = tuple(int(d) for d in np.asarray(node.input_type["input"]).reshape(-1))
        elif kind == "if":
            shape = np.asarray(node.v_threshold).shape
        elif kind == "accumulate":
            shape = np.asarray(node.r).shape
        elif kind == "flatten":
            shape = (int(np.prod(self._input_shape(key))),)
        else:
            shape = self._op_shape(key, node, self._input_shape(key))
        if len(shape) not in (1, 3):
            raise NIRImportError(f"NIR node {key!r}: shape {shape} is neither (N,) nor "
                                 "(C, H, W)", key)
        self.shape[key] = tuple(int(d) for d in shape)
        return self.shape[key]

    def _input_shape(self, key):
        shapes = {self._node_shape(p) for p in self.preds[key]}
        if len(shapes) != 1:
            raise NIRImportError(f"NIR node {key!r}: its inputs have the shapes "
                                 f"{sorted(shapes)}; they must share one", key)
        return shapes.pop()

    def _op_shape(self, key, node, src):
        nir = self.nir
        if isinstance(node, (nir.Affine, nir.Linear)):
            w = np.asarray(node.weight)
            if w.ndim != 2 or w.shape[1] != int(np.prod(src)):
                raise NIRImportError(f"NIR node {key!r}: weight {w.shape} does not take an "
                                     f"input of {int(np.prod(src))} values", key)
            return (w.shape[0],)
        if isinstance(node, nir.Scale):
            return src
        if len(src) != 3:
            raise NIRImportError(f"NIR node {key!r}: a 2-d op needs a (C, H, W) input, "
                                 f"got {src}", key)
        q = self._op(key, node, src)
        if q["op"] == "conv2d":
            return conv2d_shape(src, np.asarray(node.weight).shape, q["stride"], q["padding"])
        return avgpool2d_shape(src, q["kernel"], q["stride"], q["padding"])

    # ops

    def _op(self, key, node, src):
        """The format's projection fields for op node `key` (no names), and its
        weight array; the shape of its input is `src`."""
        nir = self.nir
        if isinstance(node, nir.Conv2d):
            w = np.asarray(node.weight, np.float32)
            if _pair(node.dilation, "dilation", key) != [1, 1]:
                raise NIRImportError(f"NIR node {key!r}: a dilated convolution (dilation "
                                     f"{node.dilation}) has no snncore equivalent", key)
            stride = _pair(node.stride, "stride", key)
            padding = self._padding(key, node.padding, w.shape[2:], stride)
            q = {"op": "conv2d", "weight": w, "stride": stride, "padding": padding}
            groups = int(np.asarray(node.groups).reshape(-1)[0])
            if groups != 1:
                q["groups"] = groups
            return q
        if isinstance(node, (nir.Affine, nir.Linear)):
            return {"op": "dense", "weight": np.asarray(node.weight, np.float32)}
        if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            kernel = _pair(node.kernel_size, "kernel_size", key)
            q = {"op": "avgpool2d", "kernel": kernel,
                 "stride": _pair(node.stride, "stride", key),
                 "padding": _pair(node.padding, "padding", key)}
            gain = None
            if key in self.gain:
                gain = _per_channel(self.gain[key], "scale", key)
            if isinstance(node, nir.SumPool2d):    # a sum is the average times the window
                area = np.float32(kernel[0] * kernel[1])
                gain = np.full(src[0], area, np.float32) if gain is None else gain * area
            if gain is not None:
                q["weight"] = np.broadcast_to(gain, (src[0],)).astype(np.float32)
            return q
        gain = _per_channel(node.scale, "scale", key)      # Scale: identity with a gain
        q = {"op": "identity"}
        if not np.all(gain == 1):
            q["weight"] = np.broadcast_to(gain, (src[0],)).astype(np.float32)
        return q

    def _padding(self, key, padding, kernel, stride):
        if isinstance(padding, bytes):
            padding = padding.decode("utf8")
        if isinstance(padding, str):
            if padding == "valid":
                return [0, 0]
            if padding == "same" and stride == [1, 1] and all(k % 2 == 1 for k in kernel):
                return [(k - 1) // 2 for k in kernel]
            raise NIRImportError(f"NIR node {key!r}: padding {padding!r} with kernel "
                                 f"{tuple(kernel)} and stride {tuple(stride)} has no snncore "
                                 "equivalent (symmetric padding only)", key)
        return _pair(padding, "padding", key)

    def _op_bias(self, key):
        bias = getattr(self.nodes[key], "bias", None)
        if bias is None:
            return None
        bias = np.asarray(bias, np.float32).reshape(-1)
        return bias if np.any(bias != 0) else None

    # populations and projections

    def network(self):
        self.input = self._only("input")
        output = self._only("output")
        for key in self.order:
            if self.kind[key] in _POPS:
                self._population(key)
        for key in self.order:
            if self.kind[key] in ("if", "accumulate"):
                for src in self.preds[key]:
                    self._term(src, self.pop_of[key], self._node_shape(key))
        out_name = self._output(output)
        meta, arrays = self._meta(out_name)
        return Network(meta, arrays)

    def _name(self, key, role):
        return self.names.get(role, {}).get(key, key)

    def _population(self, key):
        node, kind = self.nodes[key], self.kind[key]
        shape = self._node_shape(key)
        name = self._name(key, "populations")
        obj = {"name": name, "kind": kind, "shape": list(shape)}
        if kind == "if":
            obj.update(self._if_fields(key, node, shape))
        elif kind == "accumulate":
            gain = np.asarray(node.r, np.float64) * self.dt
            if not np.allclose(gain, 1.0, rtol=1e-6, atol=0):
                raise NIRImportError(f"NIR node {key!r}: an I node with dt * r != 1 has no "
                                     "snncore equivalent (an accumulate population has no "
                                     "gain; fold r into the weights before it)", key)
        self.pops[name] = obj
        self.pop_of[key] = name

    def _if_fields(self, key, node, shape):
        theta = np.asarray(node.v_threshold, np.float32).reshape(shape)
        gain = np.broadcast_to(np.asarray(node.r, np.float64) * self.dt, shape)
        if not np.allclose(gain, 1.0, rtol=1e-6, atol=0):
            if np.any(gain <= 0) or not np.all(np.isfinite(gain)):
                raise NIRImportError(f"NIR node {key!r}: dt * r must be > 0 and finite", key)
            theta = (theta / gain).astype(np.float32)   # V += g I, V >= t  <=>  V/g += I, V/g >= t/g
        theta = _per_channel(theta, "v_threshold / (dt r)", key)
        fields = {"threshold": float(theta[0]) if np.all(theta == theta[0])
                  else self._array(f"{self._name(key, 'populations')}.threshold", theta)}
        if _if_resets_to_value(self.nir):
            v_reset = np.asarray(getattr(node, "v_reset", 0.0))
            if np.any(v_reset != 0):
                raise NIRImportError(f"NIR node {key!r}: an IF that resets to a value other "
                                     "than 0 has no snncore equivalent", key)
            fields["reset"] = "zero"
        else:
            fields["reset"] = "subtract"
        return fields

    def _array(self, name, value):
        base, n = name, 1
        while name in self.arrays:
            n += 1
            name = f"{base}~{n}"
        self.arrays[name] = np.ascontiguousarray(value, np.float32)
        return name

    def _term(self, src, target, target_shape):
        """Projections for the edge src -> population `target`."""
        kind = self.kind[src]
        if kind in _POPS:
            self._projection(f"{self.pop_of[src]}->{target}", {"op": "identity"},
                             self.pop_of[src], target)
        elif kind == "op":
            source = self._source_population(src)
            q = self._op(src, self.nodes[src], self._input_shape(src))
            n = self.uses.setdefault(src, 0)
            self.uses[src] += 1
            name = self._name(src, "projections") if n == 0 else f"{src}->{target}"
            self._projection(name, q, source, target)
            bias = self._op_bias(src)
            if bias is not None:
                self.bias[target] = bias if target not in self.bias else self.bias[target] + bias
        else:
            raise NIRImportError(f"NIR node {src!r} ({type(self.nodes[src]).__name__}) feeds "
                                 "a neuron node directly; snncore flattens only into an "
                                 "Affine or Linear", src)

    def _source_population(self, op):
        """The population whose events op node `op` reads: its one source
        population, or a relay holding the sum of its sources."""
        srcs = self.preds[op]
        if len(srcs) == 1 and self.kind[srcs[0]] == "flatten":
            if not isinstance(self.nodes[op], (self.nir.Affine, self.nir.Linear)):
                raise NIRImportError(f"NIR node {op!r}: only an Affine or Linear may read a "
                                     "Flatten in snncore", op)
            srcs = self.preds[srcs[0]]
        if any(self.kind[s] == "flatten" for s in srcs) or not srcs:
            raise NIRImportError(f"NIR node {op!r}: its inputs cannot be a population "
                                 "(no input, or a Flatten among several)", op)
        if len(srcs) == 1 and self.kind[srcs[0]] in _POPS:
            return self.pop_of[srcs[0]]
        return self._relay(tuple(srcs))

    def _relay(self, srcs):
        if srcs in self.relays:
            return self.relays[srcs]
        shape = self._input_shape_of(srcs)
        name = self._relay_name(srcs)
        self.pops[name] = {"name": name, "kind": "relay", "shape": list(shape)}
        self.relays[srcs] = name
        for s in srcs:
            self._term(s, name, shape)
        return name

    def _input_shape_of(self, srcs):
        shapes = {self._node_shape(s) for s in srcs}
        if len(shapes) != 1:
            raise NIRImportError(f"NIR nodes {list(srcs)} meet with the shapes "
                                 f"{sorted(shapes)}; they must share one", srcs[0])
        return shapes.pop()

    def _relay_name(self, srcs):
        projections = [self._name(s, "projections") for s in srcs]
        for name, inputs in self.names.get("relays", []):
            if inputs == projections:
                return name
        name = "+".join(srcs) + ".sum" if len(srcs) > 1 else f"{srcs[0]}.out"
        base, n = name, 1
        while name in self.pops:
            n += 1
            name = f"{base}~{n}"
        return name

    def _projection(self, name, q, source, target):
        base, n = name, 1
        while any(p["name"] == name for p in self.projs):
            n += 1
            name = f"{base}~{n}"
        obj = {"name": name, "source": source, "target": target}
        for field, value in q.items():
            obj[field] = self._array(f"{name}.weight", value) if field == "weight" else value
        self.projs.append(obj)

    def _output(self, key):
        srcs = self.preds[key]
        if len(srcs) != 1:
            raise NIRImportError(f"NIR Output node {key!r} has {len(srcs)} inputs; snncore "
                                 "reads out one population", key)
        src = srcs[0]
        if self.kind[src] == "flatten" and len(self.preds[src]) == 1:
            src = self.preds[src][0]      # snncore reads its output flattened anyway
        if self.kind[src] in ("if", "accumulate"):
            return self.pop_of[src]
        if self.kind[src] != "op":
            raise NIRImportError(f"NIR Output node {key!r} reads {src!r}, which is not a "
                                 "neuron or a computing node", key)
        warnings.warn(f"from_nir: the graph's output is the current of {src!r}; snncore reads it "
                      f"through an accumulate population {key!r}, whose decoded output is the "
                      "mean current over the steps", UserWarning, stacklevel=3)
        name = self._name(key, "populations")
        self.pops[name] = {"name": name, "kind": "accumulate",
                           "shape": list(self._node_shape(src))}
        self._term(src, name, self._node_shape(src))
        return name

    def _meta(self, out_name):
        for name, bias in self.bias.items():
            self.pops[name]["bias"] = self._array(f"{name}.bias", bias)
        in_name = self.pop_of[self.input]
        pops = self._ordered(self._feed_forward(), "population_order")
        meta = {"format": "snncore", "version": 1, "output": out_name,
                "input": dict(self.names.get("input", {}), population=in_name),
                "populations": pops, "projections": self._ordered(self.projs, "projection_order"),
                "provenance": self.names.get("provenance", {"source": "NIR"})}
        start = self.names.get("readout", {}).get("start")
        if start:
            meta["readout"] = {"start": start}
        return meta, self.arrays

    def _feed_forward(self):
        """The populations, each after the populations that project into it."""
        waiting = {name: {q["source"] for q in self.projs if q["target"] == name}
                   for name in self.pops}
        order = []
        while waiting:
            ready = [name for name, srcs in waiting.items() if not srcs - set(order)]
            order.extend(ready)
            for name in ready:
                del waiting[name]
        return [self.pops[name] for name in order]

    def _ordered(self, items, role):
        """Items in the saved file order when every name is there, else as made."""
        order = self.names.get(role)
        if not order or sorted(order) != sorted(i["name"] for i in items):
            return items
        rank = {name: k for k, name in enumerate(order)}
        return sorted(items, key=lambda i: rank[i["name"]])
