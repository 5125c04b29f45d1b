"""Max pooling in a converted SNN: the known ways, measured on one network.

The network is bench/models.py's MaxPoolCNN (`maxpool_cnn`: conv-ReLU-maxpool
twice, then two Linear layers), trained on Fashion-MNIST. The variants
(VARIANTS below):

- snncore's engine with `maxpool="spike"`: each pooled output spikes when the
  largest cumulative spike count of its window grows (docs/format.md,
  `maxpool2d`), with the default percentile thresholds and with the
  low-latency recipe (`snncore.convert.low_latency_options`);
- snncore's engine with `maxpool="avg"`: average pooling substituted, no
  retraining;
- a time-stepped PyTorch simulation (`simulate`) of three pooling rules on the
  same thresholds (those of the percentile `maxpool="spike"` conversion):
  "count-max" (snncore's rule: it checks the simulator against the engine),
  "rate-gate" (Rueckauer et al. 2017: pass the spike of the window's neuron
  whose count is highest so far) and "current-max" (SpikingJelly-style:
  max-pool the neurons' input currents and put the IF neuron after the pool);
- SpikingJelly 2.0's own converter (bench/peers.py), which keeps MaxPool2d on
  the spike tensors: a pooled output carries a spike whenever any neuron of
  its window spikes that step.

bench/test_maxpool_study.py runs them as benchmarks; this module holds the
simulator and the runs.
"""

import evaluation
import numpy as np
import torch
from torch.nn.modules.utils import _pair

MODEL = "maxpool_cnn"
# The study's size at the full scale: 1,000 test images, T up to 256 (the
# conventional curve's range; modest on a shared 2-core machine).
IMAGES = 1000
TIMESTEPS = 256
# The simulator must agree with snncore's engine to this many points at every
# T (or to one image, when one image is worth more: the smoke run's 20).
AGREEMENT_POINTS = 0.5

# The spiking layers of MaxPoolCNN, by their snncore population names.
SPIKING_LAYERS = ("act1", "act2", "act3")


# -- the simulator ---------------------------------------------------------------

class IFNeurons:
    """Integrate-and-fire neurons with reset by subtraction, threshold in ANN units:
    V <- V + I; a spike (1) where V >= theta, which then loses theta."""

    def __init__(self, threshold):
        self.theta = torch.tensor(threshold, dtype=torch.float32)
        self.v = None

    def __call__(self, current):
        self.v = current.clone() if self.v is None else self.v + current
        spikes = (self.v >= self.theta).to(torch.float32)
        self.v -= spikes * self.theta
        return spikes


def windows(t, pool):
    """(B, C, H, W) -> (B, C, Ho, Wo, kh * kw): each pooled output's window,
    in window (row-major) order. Only non-overlapping, unpadded windows (what
    MaxPoolCNN has), so a plain reshape finds them."""
    kh, kw = _pair(pool.kernel_size)
    if _pair(pool.stride) != (kh, kw) or _pair(pool.padding) != (0, 0) or pool.ceil_mode \
            or _pair(pool.dilation) != (1, 1):
        raise ValueError(f"the simulator pools only non-overlapping windows, not {pool}")
    b, c, h, w = t.shape
    ho, wo = h // kh, w // kw
    t = t[:, :, :ho * kh, :wo * kw].reshape(b, c, ho, kh, wo, kw)
    return t.permute(0, 1, 2, 4, 3, 5).reshape(b, c, ho, wo, kh * kw)


class CountMax:
    """snncore's maxpool2d: the output spikes when the window's largest
    cumulative count (this step's spikes included) grows, so its count is
    always the largest count of the window."""

    def __init__(self, pool):
        self.pool = pool
        self.counts = None
        self.largest = None

    def __call__(self, spikes):
        self.counts = spikes if self.counts is None else self.counts + spikes
        largest = windows(self.counts, self.pool).amax(-1)
        grew = largest if self.largest is None else largest - self.largest
        self.largest = largest
        return grew


class RateGate:
    """Rueckauer et al. 2017: each step the output passes the spike of the
    window's neuron with the highest count so far (this step's spikes
    included; ties go to the first in window order, as torch.argmax picks)."""

    def __init__(self, pool):
        self.pool = pool
        self.counts = None

    def __call__(self, spikes):
        self.counts = spikes if self.counts is None else self.counts + spikes
        winner = windows(self.counts, self.pool).argmax(-1, keepdim=True)
        return windows(spikes, self.pool).gather(-1, winner).squeeze(-1)


class SpikePoolingNet:
    """MaxPoolCNN as an SNN that pools the spikes of its IF neurons with a
    rule (CountMax or RateGate). Spikes carry their layer's threshold in ANN
    units, so every layer gets its current in ANN units and the bias is a
    constant current each step (as snncore converts)."""

    def __init__(self, model, thresholds, x, rule):
        self.m = model
        self.units = thresholds
        # analog input: the first layer's current is the same every step
        self.input_current = model.conv1(x)
        self.neurons = [IFNeurons(th) for th in thresholds]
        self.pools = [rule(model.pool1), rule(model.pool2)]

    def step(self):
        """One timestep; the output layer's current (added to the read-out)."""
        m, (u1, u2, u3), (n1, n2, n3) = self.m, self.units, self.neurons
        s1 = n1(self.input_current)
        s2 = n2(m.conv2(self.pools[0](s1) * u1))
        s3 = n3(m.fc1(self.pools[1](s2).flatten(1) * u2))
        return m.fc2(s3 * u3)


class CurrentPoolingNet:
    """MaxPoolCNN as an SNN that max-pools the input currents and puts the IF
    neurons after the pool (SpikingJelly-style: max and ReLU commute, so the
    ANN is the same), at the pooled resolution."""

    def __init__(self, model, thresholds, x):
        self.m = model
        self.units = thresholds
        self.input_current = model.pool1(model.conv1(x))
        self.neurons = [IFNeurons(th) for th in thresholds]

    def step(self):
        m, (u1, u2, u3), (n1, n2, n3) = self.m, self.units, self.neurons
        s1 = n1(self.input_current)
        s2 = n2(m.pool2(m.conv2(s1 * u1)))
        s3 = n3(m.fc1(s2.flatten(1) * u2))
        return m.fc2(s3 * u3)


# pooling rule name -> a function (model, thresholds, images) -> a net with step()
POOLING_RULES = {
    "count-max": lambda m, th, x: SpikePoolingNet(m, th, x, CountMax),
    "rate-gate": lambda m, th, x: SpikePoolingNet(m, th, x, RateGate),
    "current-max": CurrentPoolingNet,
}


def simulate(model, thresholds, x, timesteps, checkpoints, rule, batch_size=100):
    """Run MaxPoolCNN as an SNN with pooling `rule` (a POOLING_RULES name) on
    images x (N, 1, 28, 28) float32 for `timesteps` steps; thresholds: one per
    spiking layer, in ANN units. Returns the read-out (N, len(checkpoints), 10)
    as snncore decodes an `accumulate` output: the output layer's accumulated
    current (its membrane) at each checkpoint t, divided by t."""
    cps = sorted(int(t) for t in checkpoints)
    out = np.zeros((len(x), len(cps), 10), dtype=np.float32)
    with torch.inference_mode():
        for lo in range(0, len(x), batch_size):
            net = POOLING_RULES[rule](model, thresholds, torch.from_numpy(x[lo:lo + batch_size]))
            membrane = 0
            for t in range(1, timesteps + 1):
                membrane = membrane + net.step()
                if t in cps:
                    out[lo:lo + len(membrane), cps.index(t)] = (membrane / t).numpy()
    return out


def layer_thresholds(net):
    """The per-layer thresholds (ANN units) of a snncore conversion of
    MaxPoolCNN, from its provenance; refuses per-channel ones (the simulator
    takes one per layer)."""
    recorded = net.provenance["thresholds"]
    out = []
    for name in SPIKING_LAYERS:
        low, high = recorded[name]
        if low != high:
            raise ValueError(f"{name} has per-channel thresholds ({low}..{high}); the "
                             "simulator takes one per layer")
        out.append(float(low))
    return out


def accuracy_curve(outputs, y):
    """Accuracy (fraction) at each checkpoint of read-outs (N, n_checkpoints, K)."""
    return (outputs.argmax(-1) == np.asarray(y)[:, None]).mean(axis=0)


def agreement_tolerance(images):
    """The largest accuracy gap (fraction) allowed between the simulator and
    the engine: AGREEMENT_POINTS, or one image when that is more."""
    return max(AGREEMENT_POINTS / 100, 1 / images) + 1e-9


# -- the variants ----------------------------------------------------------------

# name -> (who runs it: snncore's engine, this module's simulator or
# SpikingJelly; what it is)
VARIANTS = {
    "snncore spike": ("snncore", "maxpool='spike' (largest spike count), percentile thresholds"),
    "snncore spike + low latency": ("snncore", "maxpool='spike' with low_latency_options "
                                    "(LTB, half-threshold start, bias calibration)"),
    "snncore avg": ("snncore", "maxpool='avg': average pooling substituted, no retraining"),
    "count-max": ("simulator", "snncore's rule re-implemented (checks the simulator)"),
    "rate-gate": ("simulator", "Rueckauer et al. 2017: the spike of the window's neuron with "
                  "the highest count so far"),
    "current-max": ("simulator", "SpikingJelly-style: max of the input currents, IF neuron "
                    "after the pool"),
    "SpikingJelly max": ("SpikingJelly", "SpikingJelly 2.0 converter, mode='max' (its "
                         "default); MaxPool2d on the spike tensors"),
    "SpikingJelly best": ("SpikingJelly", "SpikingJelly 2.0 converter, 99.9%, channel-wise, "
                          "half threshold; MaxPool2d on the spike tensors"),
}

# SpikingJelly recipes (bench/peers.py spikingjelly_convert keywords)
SPIKINGJELLY_RECIPES = {
    "SpikingJelly max": dict(mode="max"),
    "SpikingJelly best": dict(mode="99.9%", channel_wise=True, half_threshold=True),
}


class Study:
    """The study's runs on `maxpool_cnn`, each made once: the conversions go
    through the benchmark session's `evaluation.Evaluator` (so the smoke
    run's smaller calibration passes apply), on the first min(IMAGES, the
    scale's) test images for T = min(TIMESTEPS, the scale's)."""

    def __init__(self, evaluator):
        self.ev = evaluator
        data = evaluator.data(MODEL)
        n = min(IMAGES, len(data.x_test))
        self.x, self.y, self.x_calib = data.x_test[:n], data.y_test[:n], data.x_calib
        self.timesteps = evaluator.scale.timesteps(TIMESTEPS)
        self.checkpoints = evaluation.powers_of_two(self.timesteps)
        self.model = evaluator.model(MODEL)
        self._outputs = {}

    def options(self, variant):
        """from_torch options of a snncore variant."""
        from snncore.convert import low_latency_options

        if variant == "snncore spike":
            return self.ev.options(maxpool="spike")
        if variant == "snncore avg":
            return self.ev.options(maxpool="avg")
        if variant == "snncore spike + low latency":
            # as bench/evaluation.py's low-latency rows: tuned at the scale's T
            tuned = low_latency_options(self.model, self.ev.scale.tune_timesteps(MODEL))
            return self.ev.options(maxpool="spike", **tuned)
        raise KeyError(variant)

    def thresholds(self):
        """The per-layer thresholds every simulated variant shares: those of
        the percentile maxpool='spike' conversion."""
        net, _ = self.ev.network(MODEL, self.options("snncore spike"))
        return layer_thresholds(net)

    def outputs(self, variant):
        """Decoded read-outs (N, len(checkpoints), 10) of `variant`, and the
        seconds its run took (conversions excluded)."""
        if variant not in self._outputs:
            import time

            started = time.perf_counter()
            runner = {"snncore": self._snncore, "simulator": self._simulated,
                      "SpikingJelly": self._spikingjelly}[VARIANTS[variant][0]]
            out = runner(variant)
            self._outputs[variant] = (out, time.perf_counter() - started)
        return self._outputs[variant]

    def _snncore(self, variant):
        net, _ = self.ev.network(MODEL, self.options(variant))
        res = net.run(self.x, self.timesteps, checkpoints=self.checkpoints,
                      threads=self.ev.threads, progress=False)
        return res.outputs

    def _simulated(self, variant):
        thresholds = self.thresholds()      # converted before the clock matters
        return simulate(self.model, thresholds, self.x, self.timesteps, self.checkpoints,
                        variant)

    def _spikingjelly(self, variant):
        import peers

        snn = peers.spikingjelly_convert(self.model, self.x_calib,
                                         **SPIKINGJELLY_RECIPES[variant])
        res = peers.spikingjelly_run(snn, self.x, self.timesteps, checkpoints=self.checkpoints)
        return res.outputs

    def accuracy(self, variant):
        """Accuracy (fractions) of `variant` at each checkpoint."""
        return accuracy_curve(self.outputs(variant)[0], self.y)

    def ann_accuracy(self, avg_pool=False):
        """The ANN on the study's images; avg_pool=True: with its max pooling
        swapped for average pooling (what maxpool='avg' converts)."""
        import peers
        from evaluation import _avg_pool_copy

        model = _avg_pool_copy(self.model) if avg_pool else self.model
        return float(peers.ann_run(model, self.x).accuracy(self.y))

    def agreement(self):
        """How closely the simulator's count-max follows snncore's engine:
        the largest accuracy gap (points), the fraction of images whose
        prediction agrees at each checkpoint, and the largest relative
        difference of the read-outs."""
        sim, engine = self.outputs("count-max")[0], self.outputs("snncore spike")[0]
        gap = np.abs(accuracy_curve(sim, self.y) - accuracy_curve(engine, self.y))
        same = (sim.argmax(-1) == engine.argmax(-1)).mean(axis=0)
        scale = np.abs(engine).max(axis=-1, keepdims=True) + 1e-12
        return {"max_accuracy_gap_points": float(100 * gap.max()),
                "prediction_agreement": [float(a) for a in same],
                "max_relative_readout_difference": float((np.abs(sim - engine) / scale).max()),
                "tolerance_points": float(100 * agreement_tolerance(len(self.y)))}

    def info(self, variant):
        """extra_info of one variant's benchmark (kind 'maxpool_study')."""
        seconds = self.outputs(variant)[1]
        who, what = VARIANTS[variant]
        accuracy = self.accuracy(variant)
        ann = self.ann_accuracy()
        info = {"kind": "maxpool_study", "model": MODEL, "variant": variant, "runner": who,
                "description": what, "checkpoints": list(self.checkpoints),
                "accuracy": [float(a) for a in accuracy], "ann_accuracy": ann,
                "t_within_1": evaluation.steps_to_within(self.checkpoints, accuracy, ann, 1.0),
                "images": len(self.y),
                "calibration": len(self.x_calib), "run_seconds": round(seconds, 3),
                "scale": self.ev.scale.name}
        if who == "snncore":
            info["options"] = self.options(variant)
        if who == "simulator":
            info["thresholds"] = self.thresholds()
        if variant == "snncore avg":
            info["ann_avg_pool_accuracy"] = self.ann_accuracy(avg_pool=True)
        return info
