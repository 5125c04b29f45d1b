"""Max pooling in a converted SNN: the known ways, measured on two networks.

The networks (MODELS below), trained on Fashion-MNIST: bench/models.py's
MaxPoolCNN (`maxpool_cnn`: conv-ReLU-maxpool twice, then two Linear layers)
and `resnet18` (torchvision's ResNet-18 at a quarter width for 1x32x32 input,
whose one max pool, 3x3 stride 2 padding 1, follows the stem). The variants
(VARIANTS below), each on one of two sets of thresholds (THRESHOLD_SETS):

- snncore's engine with `maxpool="spike"`: each pooled output spikes when the
  largest cumulative spike count of its window grows (docs/format.md,
  `maxpool2d`);
- snncore's engine with `maxpool="avg"`: average pooling substituted, no
  retraining;
- a time-stepped PyTorch simulation (`simulate`) of three pooling rules on the
  thresholds, initial membranes, calibrated biases and read-out start of the
  `maxpool="spike"` conversion with the same threshold set: "count-max"
  (snncore's rule: it checks the simulator against the engine), "rate-gate"
  (Rueckauer et al. 2017: pass the spike of the window's neuron whose count is
  highest so far) and "current-max" (SpikingJelly-style: max-pool the neurons'
  input currents and put the IF neuron after the pool);
- SpikingJelly 2.0's own converter (bench/peers.py), which keeps MaxPool2d on
  the spike tensors: a pooled output carries a spike whenever any neuron of
  its window spikes that step. It sets its own thresholds.

The simulator runs the ANN's torch.fx graph one step at a time, BatchNorm
folded into the convolutions, with IF neurons in place of each ReLU and the
pooling rule in place of each max pool; residual additions, average pooling
and flattening run as the ANN's own ops on the spikes times their threshold.

bench/test_maxpool_study.py runs them as benchmarks; this module holds the
simulator and the runs.
"""

import io
import json
import time

import evaluation
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The study's size at the full scale, per model: 1,000 test images (as the
# torchvision architectures' rows) and T up to 256 (the conventional curve's
# range; modest on a shared 2-core machine: a simulated resnet18 row takes
# about a minute on one thread).
IMAGES = {"maxpool_cnn": 1000, "resnet18": 1000}
TIMESTEPS = {"maxpool_cnn": 256, "resnet18": 256}
MODELS = tuple(IMAGES)
# The simulator must agree with snncore's engine to this many points at every
# T (or to one image, when one image is worth more: the smoke run's 20).
AGREEMENT_POINTS = 0.5
# Every run of the study is on one thread: the accuracies are the measure, and
# one thread makes the run seconds of the engine, the simulator and
# SpikingJelly comparable (and leaves the shared machine's other core alone).
THREADS = 1


# -- the simulator ---------------------------------------------------------------

class IFNeurons:
    """Integrate-and-fire neurons with reset by subtraction, in ANN units:
    V(0) = v_init * theta; each step V <- V + I + bias; a spike (1) where
    V >= theta, which then loses theta. With theta_retract (the conversion's
    retracting neurons, docs/format.md): otherwise a -1 where V <= -theta_retract
    while the neuron's net count is positive, which gives theta back. theta,
    theta_retract, bias: broadcastable to the current ((1, C, 1, 1) or (1, C) per
    channel); None: none."""

    def __init__(self, theta, v_init=0.0, bias=None, theta_retract=None):
        self.theta = theta
        self.v_init = float(v_init)
        self.bias = bias
        self.theta_retract = theta_retract
        self.v = self.count = None

    def __call__(self, current):
        if self.bias is not None:
            current = current + self.bias
        if self.v is None:
            self.v = self.v_init * self.theta + current
            self.count = torch.zeros_like(self.v)
        else:
            self.v = self.v + current
        spikes = (self.v >= self.theta).to(torch.float32)
        if self.theta_retract is not None:
            back = (spikes == 0) & (self.v <= -self.theta_retract) & (self.count > 0)
            spikes = spikes - back.to(torch.float32)
            self.count = self.count + spikes
        self.v = self.v - spikes * self.theta
        return spikes


def _pool_args(pool):
    """nn.MaxPool2d's geometry as F.max_pool2d keywords."""
    return dict(kernel_size=pool.kernel_size, stride=pool.stride, padding=pool.padding,
                dilation=pool.dilation, ceil_mode=pool.ceil_mode)


class CountMax:
    """snncore's maxpool2d: the output spikes when the window's largest
    cumulative count (this step's spikes included) grows, so its count is
    always the largest count of the window. Any window geometry (overlapping,
    padded: F.max_pool2d pads with -inf, so padding never wins)."""

    def __init__(self, pool):
        self.args = _pool_args(pool)
        self.counts = None
        self.largest = None

    def __call__(self, spikes):
        self.counts = spikes if self.counts is None else self.counts + spikes
        largest = F.max_pool2d(self.counts, **self.args)
        grew = largest if self.largest is None else largest - self.largest
        self.largest = largest
        return grew


class RateGate:
    """Rueckauer et al. 2017: each step the output passes the spike of the
    window's neuron with the highest count so far (this step's spikes
    included; ties go to the first in window order, as F.max_pool2d's indices
    pick it)."""

    def __init__(self, pool):
        self.args = _pool_args(pool)
        self.counts = None

    def __call__(self, spikes):
        self.counts = spikes if self.counts is None else self.counts + spikes
        _, winner = F.max_pool2d(self.counts, return_indices=True, **self.args)
        flat = spikes.flatten(2).gather(2, winner.flatten(2))
        return flat.reshape(winner.shape)


# pooling rule name -> (its spike-pooling class, or None for the current-max
# rule, where the pool moves before the IF neurons; what it is)
POOLING_RULES = {
    "count-max": (CountMax, "snncore's rule re-implemented (checks the simulator)"),
    "rate-gate": (RateGate, "Rueckauer et al. 2017: the spike of the window's neuron with the "
                            "highest count so far"),
    "current-max": (None, "SpikingJelly-style: max of the input currents, IF neuron after the "
                          "pool"),
}


def _is_relu(node, modules):
    if node.op == "call_module":
        return isinstance(modules[node.target], nn.ReLU)
    if node.op == "call_function":
        return node.target in (F.relu, torch.relu)
    return node.op == "call_method" and node.target == "relu"


def _is_max_pool(node, modules):
    return node.op == "call_module" and isinstance(modules[node.target], nn.MaxPool2d)


def _per_channel(values, ndim):
    """A (C,) or scalar parameter as a tensor broadcastable over (B, C, ...)
    of `ndim` dimensions."""
    t = torch.as_tensor(np.asarray(values, np.float32))
    return t.reshape((1, -1) + (1,) * (ndim - 2)) if t.ndim else t


class EngineLayers:
    """What a snncore conversion chose for each IF population and its output,
    read from its file (docs/format.md): per IF population in file order
    (name, shape, threshold (C,) float32, v_init, bias (C,) float32 or None,
    retract: the retraction level theta_neg (C,) of a retracting population, or None),
    the output population's bias, and the read-out start."""

    def __init__(self, net):
        buffer = io.BytesIO()
        net.save(buffer)
        buffer.seek(0)
        with np.load(buffer, allow_pickle=False) as z:
            meta = json.loads(bytes(z["__snncore__"]).decode("utf-8"))
            arrays = {k: z[k] for k in z.files if k != "__snncore__"}

        def per_channel(value, channels, what):
            if value is None:
                return None
            a = np.asarray(arrays[value] if isinstance(value, str) else value, np.float32)
            if a.size not in (1, channels):
                raise ValueError(f"{what} has {a.size} values; the simulator takes one per "
                                 f"channel ({channels})")
            return np.broadcast_to(a.reshape(-1), (channels,)).copy()

        self.spiking = [dict(name=p["name"], shape=tuple(p["shape"]),
                             threshold=per_channel(p["threshold"], p["shape"][0],
                                                   f"{p['name']}'s threshold"),
                             v_init=float(p.get("v_init", 0.0)),
                             bias=per_channel(p.get("bias"), p["shape"][0],
                                              f"{p['name']}'s bias"),
                             retract=per_channel(p["threshold_neg"], p["shape"][0],
                                                 f"{p['name']}'s threshold_neg")
                             if p.get("retract") else None)
                        for p in meta["populations"] if p["kind"] == "if"]
        out = next(p for p in meta["populations"] if p["name"] == meta["output"])
        self.output_bias = per_channel(out.get("bias"), out["shape"][0], "the output's bias")
        self.readout_start = int(net.readout_start)
        self.calibrated = "bias_calibration" in net.provenance


class _Step(torch.fx.Interpreter):
    """One timestep of the graph: the nodes named in `stand_ins` run their
    stand-in (node's input value -> its output value) instead of the ANN's op."""

    def __init__(self, graph_module, stand_ins):
        super().__init__(graph_module)
        self.stand_ins = stand_ins

    def run_node(self, n):
        if n.name in self.stand_ins:
            args, _ = self.fetch_args_kwargs_from_env(n)
            return self.stand_ins[n.name](args[0])
        return super().run_node(n)


class SpikingGraph:
    """An ANN (`folded`: its torch.fx GraphModule with BatchNorm folded, from
    `fold`) run as an SNN on images x (B, C, H, W) float32 tensor.

    Each ReLU's node becomes IF neurons with the threshold, initial membrane
    and (calibrated) bias of the matching IF population of a snncore
    conversion (`EngineLayers`; matched in graph order, shapes checked); its
    output is spikes times the threshold, so every other op (conv, Linear,
    residual add, average pooling, flatten) gets its current in ANN units and
    adds its bias once per step, as snncore converts. Each max pool follows
    `rule` (a POOLING_RULES name): a spike-pooling rule reads its source's
    spikes (value / threshold, exact) and passes pooled spikes on in the same
    units; "current-max" pools the ReLU's input current and puts the IF
    neurons after the pool, at the pooled resolution."""

    def __init__(self, folded, layers, x, rule):
        self.gm = folded
        self.layers = layers
        self.x = x
        self.rule = rule
        modules = dict(self.gm.named_modules())
        nodes = list(self.gm.graph.nodes)
        relus = [n for n in nodes if _is_relu(n, modules)]
        if len(relus) != len(layers.spiking):
            raise ValueError(f"the model has {len(relus)} ReLUs but its conversion has "
                             f"{len(layers.spiking)} IF populations")
        self.layer_of = {n.name: i for i, n in enumerate(relus)}
        self.pools = {n.name: (modules[n.target], n.args[0].name) for n in nodes
                      if _is_max_pool(n, modules)}
        for name, (_, source) in self.pools.items():
            if source not in self.layer_of and source not in self.pools:
                raise ValueError(f"{name} pools {source}, which is no ReLU's or max pool's "
                                 "output")
        self.delta = self._bias_deltas() if layers.calibrated else {}
        self.step_graph = _Step(self.gm, self._stand_ins())

    def _bias_deltas(self):
        """Per IF population and the output, the bias the conversion added
        (bias calibration): its file's bias less the constant current the
        folded ANN gives that node when the image and every spike are zero
        (per channel: zero input gives each conv its bias everywhere)."""
        seen = {}

        def recorder(name):
            def record(current):
                seen[name] = current[0].reshape(current.shape[1], -1)[:, 0]
                return torch.zeros_like(current)
            return record

        stand_ins = {name: recorder(name) for name in self.layer_of}
        stand_ins.update({name: (lambda v, p=pool: F.max_pool2d(v, **_pool_args(p)))
                          for name, (pool, _) in self.pools.items()})
        with torch.inference_mode():
            out = _Step(self.gm, stand_ins).run(torch.zeros_like(self.x[:1]))
        deltas = {}
        for name, i in self.layer_of.items():
            layer = self.layers.spiking[i]
            file_bias = 0 if layer["bias"] is None else torch.from_numpy(layer["bias"])
            deltas[name] = file_bias - seen[name]
        file_bias = 0 if self.layers.output_bias is None else \
            torch.from_numpy(self.layers.output_bias)
        deltas["__output__"] = file_bias - out[0]
        return deltas

    def _neurons(self, name, ndim, shape):
        """IF neurons of ReLU node `name`'s population, for a current of
        `ndim` dimensions whose (C, H, W) is `shape` (checked)."""
        layer = self.layers.spiking[self.layer_of[name]]
        if self.rule != "current-max" or name not in self._pooled_relus():
            if tuple(shape) != layer["shape"]:
                raise ValueError(f"ReLU {name} has shape {tuple(shape)} but its IF population "
                                 f"{layer['name']} {layer['shape']}")
        delta = self.delta.get(name)
        retract = layer["retract"]
        return IFNeurons(_per_channel(layer["threshold"], ndim), layer["v_init"],
                         None if delta is None else _per_channel(delta, ndim),
                         None if retract is None else _per_channel(retract, ndim))

    def _pooled_relus(self):
        return {source for _, source in self.pools.values() if source in self.layer_of}

    def _stand_ins(self):
        """node name -> its per-step stand-in (a closure with its own state)."""
        units = {}
        stand_ins = {}
        pooled = self._pooled_relus()
        for name in self.layer_of:
            if self.rule == "current-max" and name in pooled:
                stand_ins[name] = lambda current: current       # IF after the pool
            else:
                stand_ins[name] = self._spiking(name, units)
        for name, (pool, source) in self.pools.items():
            stand_ins[name] = self._pooling(name, pool, source, units)
        return stand_ins

    def _spiking(self, name, units):
        state = {}

        def spike(current):
            if "neurons" not in state:
                state["neurons"] = self._neurons(name, current.ndim, current.shape[1:])
                units[name] = state["neurons"].theta
            return state["neurons"](current) * units[name]
        return spike

    def _pooling(self, name, pool, source, units):
        state = {}

        def pool_spikes(value):
            if "rule" not in state:
                state["rule"] = POOLING_RULES[self.rule][0](pool)
                units[name] = units[source]
            return state["rule"](value / units[name]) * units[name]

        def pool_currents(current):
            pooled = F.max_pool2d(current, **_pool_args(pool))
            if "neurons" not in state:
                state["neurons"] = self._neurons(source, pooled.ndim, pooled.shape[1:])
                units[name] = state["neurons"].theta
            return state["neurons"](pooled) * units[name]

        current_max = self.rule == "current-max" and source in self.layer_of
        return pool_currents if current_max else pool_spikes

    def step(self):
        """One timestep; the output layer's current (added to the read-out)."""
        out = self.step_graph.run(self.x)
        delta = self.delta.get("__output__")
        return out if delta is None else out + delta


def fold(model):
    """A torch.fx GraphModule copy of `model` (eval mode) with each BatchNorm2d
    folded into the Conv2d before it, as snncore folds them."""
    from torch.fx.experimental.optimization import fuse

    return fuse(model)


def simulate(model, layers, x, timesteps, checkpoints, rule, batch_size=100):
    """Run `model` as an SNN with pooling `rule` (a POOLING_RULES name) on
    images x (N, C, H, W) float32 for `timesteps` steps, with the IF
    parameters and read-out start of `layers` (EngineLayers). Returns the
    read-out (N, len(checkpoints), K) float32 as snncore decodes an
    `accumulate` output: the output's current summed over steps
    readout_start..t, divided by t - readout_start + 1 (0 before the start)."""
    cps = sorted(int(t) for t in checkpoints)
    start = layers.readout_start
    out = None
    folded = fold(model)
    with torch.inference_mode():
        for lo in range(0, len(x), batch_size):
            net = SpikingGraph(folded, layers, torch.from_numpy(x[lo:lo + batch_size]), rule)
            membrane = 0
            for t in range(1, timesteps + 1):
                current = net.step()
                if out is None:
                    out = np.zeros((len(x), len(cps), current.shape[1]), dtype=np.float32)
                if t >= start:
                    membrane = membrane + current
                if t in cps and t >= start:
                    out[lo:lo + len(current), cps.index(t)] = \
                        (membrane / np.float32(t - start + 1)).numpy()
    return out


def accuracy_curve(outputs, y):
    """Accuracy (fraction) at each checkpoint of read-outs (N, n_checkpoints, K)."""
    return (outputs.argmax(-1) == np.asarray(y)[:, None]).mean(axis=0)


def agreement_tolerance(images):
    """The largest accuracy gap (fraction) allowed between the simulator and
    the engine: AGREEMENT_POINTS, or one image when that is more."""
    return max(AGREEMENT_POINTS / 100, 1 / images) + 1e-9


# -- the variants ----------------------------------------------------------------

LOW_LATENCY_SUFFIX = " + low latency"

# name -> (who runs it: snncore's engine, this module's simulator or
# SpikingJelly; its thresholds; what it is). Thresholds: "percentile"
# (snncore's default, each layer's 99.9th percentile), "low latency"
# (snncore.convert.low_latency_options(model, T), whose options follow the
# model's structure) or "own" (SpikingJelly's converter sets them). Each
# simulated row runs on the conversion of the snncore spike row with its
# thresholds (SPIKE_TWIN).
VARIANTS = {
    "snncore spike": ("snncore", "percentile", "maxpool='spike' (largest spike count)"),
    "snncore spike + low latency": ("snncore", "low latency",
                                    "maxpool='spike' with low_latency_options"),
    "snncore avg": ("snncore", "percentile", "maxpool='avg': average pooling substituted, "
                    "no retraining"),
    "snncore avg + low latency": ("snncore", "low latency", "maxpool='avg' with "
                                  "low_latency_options"),
    **{rule + suffix: ("simulator", thresholds, what)
       for suffix, thresholds in (("", "percentile"), (LOW_LATENCY_SUFFIX, "low latency"))
       for rule, (_, what) in POOLING_RULES.items()},
    "SpikingJelly max": ("SpikingJelly", "own", "SpikingJelly 2.0 converter, mode='max' (its "
                         "default); MaxPool2d on the spike tensors"),
    "SpikingJelly best": ("SpikingJelly", "own", "SpikingJelly 2.0 converter, 99.9%, "
                          "channel-wise, half threshold; MaxPool2d on the spike tensors"),
}
# threshold set -> the snncore row whose conversion the simulated rows share
# (and whose accuracy count-max must give)
SPIKE_TWIN = {"percentile": "snncore spike", "low latency": "snncore spike + low latency"}
# the simulator's checks: the count-max row per threshold set
CHECKS = {"percentile": "count-max", "low latency": "count-max" + LOW_LATENCY_SUFFIX}

# SpikingJelly recipes (bench/peers.py spikingjelly_convert keywords)
SPIKINGJELLY_RECIPES = {
    "SpikingJelly max": dict(mode="max"),
    "SpikingJelly best": dict(mode="99.9%", channel_wise=True, half_threshold=True),
}


def rule_of(variant):
    """The POOLING_RULES name of a simulated variant."""
    return variant.removesuffix(LOW_LATENCY_SUFFIX)


class Study:
    """The study's runs on one of MODELS, each made once: the conversions go
    through the benchmark session's `evaluation.Evaluator` (so the smoke
    run's smaller calibration passes apply), on the first min(IMAGES[model],
    the scale's) test images for T = min(TIMESTEPS[model], the scale's), on
    THREADS threads."""

    def __init__(self, evaluator, model):
        if model not in IMAGES:
            raise KeyError(f"the max pooling study runs on {', '.join(MODELS)}, not {model!r}")
        self.ev = evaluator
        self.name = model
        data = evaluator.data(model)
        n = min(IMAGES[model], len(data.x_test))
        self.x, self.y, self.x_calib = data.x_test[:n], data.y_test[:n], data.x_calib
        self.timesteps = evaluator.scale.timesteps(TIMESTEPS[model])
        self.checkpoints = evaluation.powers_of_two(self.timesteps)
        self.model = evaluator.model(model)
        self._outputs = {}

    def options(self, variant):
        """from_torch options of a snncore variant."""
        from snncore.convert import low_latency_options

        who, thresholds, _ = VARIANTS[variant]
        if who != "snncore":
            raise KeyError(f"{variant} is no snncore variant")
        maxpool = "avg" if variant.startswith("snncore avg") else "spike"
        if thresholds == "low latency":
            # as bench/evaluation.py's low-latency rows: tuned at the scale's T
            tuned = low_latency_options(self.model, self.ev.scale.tune_timesteps(self.name))
            return self.ev.options(maxpool=maxpool, **tuned)
        return self.ev.options(maxpool=maxpool)

    def engine_layers(self, variant):
        """The EngineLayers a simulated variant runs on: those of the snncore
        spike conversion with its threshold set."""
        net, _ = self.ev.network(self.name, self.options(SPIKE_TWIN[VARIANTS[variant][1]]))
        return EngineLayers(net)

    def outputs(self, variant):
        """Decoded read-outs (N, len(checkpoints), 10) of `variant`, and the
        seconds its run took (conversions excluded)."""
        if variant not in self._outputs:
            import peers

            runner = {"snncore": self._snncore, "simulator": self._simulated,
                      "SpikingJelly": self._spikingjelly}[VARIANTS[variant][0]]
            with peers._threads(THREADS):
                out, seconds = runner(variant)
            self._outputs[variant] = (out, seconds)
        return self._outputs[variant]

    @staticmethod
    def _timed(run):
        """(run(), the seconds it took)."""
        started = time.perf_counter()
        out = run()
        return out, time.perf_counter() - started

    def _snncore(self, variant):
        net, _ = self.ev.network(self.name, self.options(variant))
        return self._timed(lambda: net.run(self.x, self.timesteps, checkpoints=self.checkpoints,
                                           threads=THREADS, progress=False).outputs)

    def _simulated(self, variant):
        layers = self.engine_layers(variant)       # converted before the clock starts
        return self._timed(lambda: simulate(self.model, layers, self.x, self.timesteps,
                                            self.checkpoints, rule_of(variant)))

    def _spikingjelly(self, variant):
        import peers

        snn = peers.spikingjelly_convert(self.model, self.x_calib, threads=THREADS,
                                         **SPIKINGJELLY_RECIPES[variant])
        return self._timed(lambda: peers.spikingjelly_run(
            snn, self.x, self.timesteps, checkpoints=self.checkpoints, threads=THREADS).outputs)

    def accuracy(self, variant):
        """Accuracy (fractions) of `variant` at each checkpoint."""
        return accuracy_curve(self.outputs(variant)[0], self.y)

    def ann_accuracy(self, avg_pool=False):
        """The ANN on the study's images; avg_pool=True: with its max pooling
        swapped for average pooling (what maxpool='avg' converts)."""
        import peers
        from evaluation import _avg_pool_copy

        model = _avg_pool_copy(self.model) if avg_pool else self.model
        return float(peers.ann_run(model, self.x, threads=THREADS).accuracy(self.y))

    def agreement(self, thresholds):
        """How closely the simulator's count-max follows snncore's engine on
        the `thresholds` set: the largest accuracy gap (points), the fraction
        of images whose prediction agrees at each checkpoint, and the largest
        relative difference of the read-outs."""
        sim = self.outputs(CHECKS[thresholds])[0]
        engine = self.outputs(SPIKE_TWIN[thresholds])[0]
        gap = np.abs(accuracy_curve(sim, self.y) - accuracy_curve(engine, self.y))
        same = (sim.argmax(-1) == engine.argmax(-1)).mean(axis=0)
        scale = np.abs(engine).max(axis=-1, keepdims=True) + 1e-12
        return {"engine_variant": SPIKE_TWIN[thresholds],
                "max_accuracy_gap_points": float(100 * gap.max()),
                "prediction_agreement": [float(a) for a in same],
                "max_relative_readout_difference": float((np.abs(sim - engine) / scale).max()),
                "tolerance_points": float(100 * agreement_tolerance(len(self.y)))}

    def info(self, variant):
        """extra_info of one variant's benchmark (kind 'maxpool_study')."""
        seconds = self.outputs(variant)[1]
        who, thresholds, what = VARIANTS[variant]
        accuracy = self.accuracy(variant)
        ann = self.ann_accuracy()
        info = {"kind": "maxpool_study", "model": self.name, "variant": variant, "runner": who,
                "thresholds": thresholds, "description": what,
                "checkpoints": list(self.checkpoints),
                "accuracy": [float(a) for a in accuracy], "ann_accuracy": ann,
                "t_within_1": evaluation.steps_to_within(self.checkpoints, accuracy, ann, 1.0),
                "images": len(self.y), "calibration": len(self.x_calib),
                "run_seconds": round(seconds, 3), "threads": THREADS,
                "scale": self.ev.scale.name}
        if who == "snncore":
            info["options"] = self.options(variant)
        if who == "simulator":
            info["conversion_of"] = SPIKE_TWIN[thresholds]
        if variant.startswith("snncore avg"):
            info["ann_avg_pool_accuracy"] = self.ann_accuracy(avg_pool=True)
        return info
