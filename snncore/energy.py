"""Estimated energy of a run, from its synaptic operations, beside the ANN's.

The estimate follows the field's usual accounting (Rueckauer et al. 2017,
Sengupta et al. 2019, Kim et al. 2020): an ANN does one multiply-accumulate
(MAC) per synapse per image; a spiking network does one accumulate (AC) per
synaptic operation, because a spike only adds its weight. With the 45 nm CMOS
figures (Horowitz 2014) a 32-bit float MAC costs about 4.6 pJ and an add
0.9 pJ, so a spiking network is cheaper only while its synaptic operations
stay below about five times the ANN's MACs.

Under ``analog`` encoding the input is a real-valued current, not spikes: the
projections out of the input do dense multiply-accumulates. The engine
computes that current once per image and adds it each step, but hardware
without that shortcut redoes it every step, so the estimate counts it as the
ANN's MACs of those projections times the number of steps.

Neuron updates, threshold comparisons and bias currents are not counted (nor
does the ANN count its activations and biases).

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
>>> res = net.run(np.ones((1, 4), np.float32), timesteps=2, checkpoints=[1, 2])
>>> est = snncore.estimate_energy(res, net, e_ac=1.0, e_mac=4.0)
>>> est.total          # fc1: 12 MACs per step; fc2: 3 spikes x 2 synapses per step
array([ 54., 108.])
>>> est.ann, est.ratio
(72.0, array([0.75, 1.5 ]))
"""

import numbers

import numpy as np

from .network import Network
from .result import RunResult

__all__ = ["E_AC", "E_MAC", "EnergyEstimate", "estimate_energy"]

E_AC = 0.9e-12
"""Joules per accumulate (32-bit float add, 45 nm CMOS)."""

E_MAC = 4.6e-12
"""Joules per multiply-accumulate (32-bit float multiply + add, 45 nm CMOS)."""


class EnergyEstimate:
    """Energy per image of a spiking run and of its ANN (see `estimate_energy`).

    Attributes
    ----------
    checkpoints : ndarray of shape (n_checkpoints,), dtype int64
        The run's checkpoints (steps), increasing.
    projections : tuple of str
        Projection names, in file order.
    kinds : tuple of str
        Per projection, how its work is counted: ``'mac'`` (dense
        multiply-accumulates of an analog input, every step), ``'ac'``
        (one accumulate per synaptic operation) or ``'compare'`` (a max
        pool's comparisons: no energy, as the ANN's max pooling counts none).
    operations : ndarray of shape (n_checkpoints, n_projections), dtype float64
        Operations per image up to each checkpoint, of the projection's kind.
    per_projection : ndarray of shape (n_checkpoints, n_projections), dtype float64
        Joules per image up to each checkpoint, per projection.
    total : ndarray of shape (n_checkpoints,), dtype float64
        Joules per image up to each checkpoint, all projections.
    ann_macs : dict of str to int
        The ANN's multiply-accumulates per image, per projection.
    ann : float
        The ANN's joules per image: ``sum(ann_macs) * e_mac``.
    ratio : ndarray of shape (n_checkpoints,), dtype float64
        ``total / ann``: below 1, the spiking network is the cheaper. ``inf``
        (or ``nan`` when both are 0) when the ANN's energy is 0.
    e_ac, e_mac : float
        The per-operation energies used, in joules.
    encoding : str
        The run's input encoding.
    """

    def __init__(self, checkpoints, projections, kinds, operations, ann_macs, e_ac, e_mac,
                 encoding):
        self.checkpoints = checkpoints
        self.projections = tuple(projections)
        self.kinds = tuple(kinds)
        self.operations = operations
        self.ann_macs = dict(ann_macs)
        self.e_ac = e_ac
        self.e_mac = e_mac
        self.encoding = encoding
        cost = {"mac": e_mac, "ac": e_ac, "compare": 0.0}
        per_op = np.array([cost[k] for k in self.kinds], dtype=np.float64)
        self.per_projection = operations * per_op
        self.total = self.per_projection.sum(axis=1)
        self.ann = float(sum(self.ann_macs.values()) * e_mac)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.ratio = self.total / self.ann

    @property
    def macs(self):
        """ndarray of shape (n_checkpoints,), float64: multiply-accumulates per image."""
        return self._sum_kind("mac")

    @property
    def accumulates(self):
        """ndarray of shape (n_checkpoints,), float64: accumulates per image."""
        return self._sum_kind("ac")

    def _sum_kind(self, kind):
        mask = np.array([k == kind for k in self.kinds], dtype=bool)
        return self.operations[:, mask].sum(axis=1)

    def index(self, t):
        """Position of checkpoint `t` in `checkpoints` (ValueError if it is not one)."""
        hits = np.flatnonzero(self.checkpoints == t)
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or hits.size == 0:
            raise ValueError(f"{t!r} is not a checkpoint of this run; checkpoints: "
                             f"{', '.join(map(str, self.checkpoints))}")
        return int(hits[0])

    def breakdown(self, t=None):
        """Joules per image per projection up to checkpoint `t` (default: the
        last), as a dict name -> float in file order."""
        i = -1 if t is None else self.index(t)
        return {n: float(e) for n, e in zip(self.projections, self.per_projection[i])}

    def break_even(self):
        """The first checkpoint at which the spiking network has spent at least
        the ANN's energy per image (int), or None if it never does within the
        run. Exact when the run recorded every step up to it."""
        over = np.flatnonzero(self.total >= self.ann)
        return None if over.size == 0 else int(self.checkpoints[over[0]])

    def as_dict(self):
        """Plain Python values (lists, floats), ready for JSON."""
        return {"checkpoints": [int(t) for t in self.checkpoints],
                "encoding": self.encoding, "e_ac": self.e_ac, "e_mac": self.e_mac,
                "total": [float(v) for v in self.total], "ann": self.ann,
                "ratio": [float(v) for v in self.ratio],
                "projections": {n: {"kind": k, "operations": [float(v) for v in ops],
                                    "joules": [float(v) for v in e],
                                    "ann_macs": int(self.ann_macs[n])}
                                for n, k, ops, e in zip(self.projections, self.kinds,
                                                        self.operations.T,
                                                        self.per_projection.T)}}

    def __repr__(self):
        return (f"EnergyEstimate(encoding={self.encoding!r}, T={int(self.checkpoints[-1])}: "
                f"{self.total[-1]:.4g} J per image, ANN {self.ann:.4g} J, "
                f"ratio {self.ratio[-1]:.3g})")


def estimate_energy(result, network, e_ac=E_AC, e_mac=E_MAC, graded_as_mac=False):
    """Estimated energy per image of a run, per projection and per checkpoint,
    and of the equivalent ANN.

    Parameters
    ----------
    result : RunResult
        What ``network.run(...)`` returned; its mean synaptic operations per
        image (``result.synaptic_ops.at_checkpoints()``) are used.
    network : Network
        The network that made `result` (for its projections and ANN MACs).
    e_ac : float
        Joules per accumulate (>= 0). Default 0.9 pJ (45 nm CMOS).
    e_mac : float
        Joules per multiply-accumulate (>= 0). Default 4.6 pJ (45 nm CMOS).
    graded_as_mac : bool
        Count the synaptic operations of graded relay events (the linear
        pooling between spiking layers) as multiply-accumulates rather than
        accumulates. A relay event carries a real value, so the next layer
        multiplies it by its weights; the default counts it as one
        accumulate, as if each pooled spike drove the next layer's synapses
        directly with a pre-scaled weight (a lower figure than counting every
        spike's whole fan-out, the convention of bench/peers.py).

    Returns
    -------
    EnergyEstimate
        Under ``analog`` encoding, projections fed by the input (directly, or
        through relays fed only by it) count their ANN MACs times the step
        count as multiply-accumulates; every other projection counts its
        synaptic operations as accumulates (or graded ones as MACs, above).
        Under ``poisson`` and ``regular`` encoding the input spikes, so every
        projection counts accumulates.

    Raises
    ------
    TypeError
        `result` is not a RunResult, or `network` not a Network.
    ValueError
        An energy is negative, not finite or not a number, or `result` has
        other projections than `network`.
    """
    if not isinstance(result, RunResult):
        raise TypeError(f"result must be a RunResult (what Network.run returns), "
                        f"not {type(result).__name__}")
    if not isinstance(network, Network):
        raise TypeError(f"network must be a snncore.Network, not {type(network).__name__}")
    e_ac = _check_energy("e_ac", e_ac)
    e_mac = _check_energy("e_mac", e_mac)
    names = [q.name for q in network.projections]
    if list(result.synaptic_ops.names) != names:
        raise ValueError(f"result counts projections {list(result.synaptic_ops.names)} but "
                         f"network has {names}: pass the network that made the result")
    kinds, dense = _projection_kinds(network, result.encoding, graded_as_mac)
    operations = _operations(result, network, dense)
    return EnergyEstimate(np.asarray(result.checkpoints, dtype=np.int64), names, kinds,
                          operations, network.ann_macs(), e_ac, e_mac, result.encoding)


def _check_energy(name, value):
    """A per-operation energy as a float >= 0 (joules)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number of joules >= 0, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of joules >= 0, got {value!r}")
    return value


def _dense_sources(network):
    """Names of the populations whose output is a dense real value every step
    under analog encoding: the input, and relays fed only by such populations
    (pooling of the input before the first spiking layer)."""
    dense = {p.name for p in network.populations if p.kind == "input"}
    relays = {p.name for p in network.populations if p.kind == "relay"}
    feeds = {}
    for q in network.projections:
        feeds.setdefault(q.target, []).append(q.source)
    changed = True
    while changed:          # grow to a fixpoint: chains of relays after the input
        changed = False
        for name in relays - dense:
            if all(src in dense for src in feeds.get(name, ())):
                dense.add(name)
                changed = True
    return dense


def _projection_kinds(network, encoding, graded_as_mac):
    """(kinds, dense): per projection in file order, 'mac', 'ac' or 'compare'
    (list of str), and whether it is dense analog work redone every step
    (ndarray of bool). A max pool's relay passes spikes on (one event per
    growth of a largest count), so what it feeds counts accumulates."""
    sources = _dense_sources(network) if encoding == "analog" else set()
    pooled = {q.target for q in network.projections if q.op == "maxpool2d"}
    relays = {p.name for p in network.populations if p.kind == "relay"} - pooled
    dense = np.array([q.source in sources for q in network.projections], dtype=bool)
    kinds = ["compare" if q.op == "maxpool2d" else
             "mac" if d or (graded_as_mac and q.source in relays) else "ac"
             for q, d in zip(network.projections, dense)]
    return kinds, dense


def _operations(result, network, dense):
    """ndarray (n_checkpoints, n_projections) float64: operations per image up
    to each checkpoint. Dense analog projections count their ANN MACs every
    step (the engine counted their work once, at step 1); the others, the
    engine's mean synaptic operations per image."""
    ops = np.array(result.synaptic_ops.at_checkpoints(), dtype=np.float64)
    macs = network.ann_macs()
    steps = np.asarray(result.checkpoints, dtype=np.float64)
    for j, q in enumerate(network.projections):
        if dense[j]:
            ops[:, j] = macs[q.name] * steps
    return ops
