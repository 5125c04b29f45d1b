"""Issue 6: how fast snncore runs the trained Fashion-MNIST CNN, against its peers.

    pytest bench/ --benchmark-only -k speed --benchmark-json=bench/results/speed.json

The model is bench/models.py's "fashion_cnn" (trained weights in bench/weights),
analog input. snncore converts it with
``snncore.convert.from_torch(model, x_calib, norm="percentile")``; SpikingJelly
2.0 with its default recipe (mode="max") and its best one (mode="99.9%",
channel_wise=True, half_threshold=True); sinabs with its weight
normalisation (bench/peers.py runs them as bench/README.md describes). All
calibrate on the same first 1,000 training images, and every comparison runs
the same model on the same images with the same T and the same number of
threads (``threads=`` for snncore, ``torch.set_num_threads`` for the rest).

What the suite measures (and records; it asserts no time and no speed ratio):

1. images/s of snncore, SpikingJelly (both recipes), sinabs and the ANN at
   T=16 and 64, batch 1 and 100, 1 and 2 threads; T=256 at batch 100 for
   snncore and SpikingJelly. Batch 1 is a sequence of single-image runs
   (10 images for the peers, whose dense cost does not depend on the image,
   50 for snncore and the ANN). Each simulator's accuracy on the first 1,000
   test images (200 at T=256) is recorded beside its speed (computed once per
   simulator and T, on one thread: it does not depend on the thread count,
   and one thread keeps it quick on a loaded machine). The snncore
   records carry the ratios to the peers measured earlier in the same run
   (the test functions are ordered: ANN, sinabs, SpikingJelly, snncore).
2. synaptic operations per image of each projection, and the executed conv
   synaptic operations per second per core: from the engine's profile
   (``net.run(..., profile=True)``: the time of each projection's synaptic
   updates, summed over threads).
3. and 4. 2 threads against 1 at batch 100 and at batch 1: the speed-up is
   recorded, and outputs, spike counts and synaptic operations are ASSERTED
   bit-identical.
5. peak RSS: the increase during the run (above the RSS just before it), in
   this process for every speed record, and in a fresh process for snncore at
   batch 100 with 1 and 2 threads and at batch 1000 (``test_speed_memory``).
6. the generic kernels against the AVX2 and AVX-512 ones (SNNCORE_ISA), batch
   100, T=64, one thread; results ASSERTED identical.

Each benchmark's ``extra_info`` holds the figures: kind "speed" records (read by
bench/report.py) have the keys kind, simulator ("snncore",
"spikingjelly-default", "spikingjelly-best", "sinabs", "ann"), model,
timesteps, batch, threads, images_per_s, accuracy, and where relevant
ratio_vs_spikingjelly (against the faster SpikingJelly recipe, named in
ratio_vs_spikingjelly_recipe), ratio_vs_sinabs, target, target_met,
peak_rss_mb, conv_synops_per_s_per_core (basis in conv_rate_basis), and for
snncore at batch 1 on two threads team_always_images_per_s,
team_always_ratio_vs_1_thread and team_always_identical (the team forced;
the timed runs use the runner's default choice); kinds "memory" and "kernel"
hold items 5 and 6. Every case warms up for at least 1 s and is timed over at
least 1 s (warmup_rounds, warmup_s, rounds). At the end of the run
bench/speed_targets.py prints the six targets (measured, target, met) and
adds them to the JSON under "speed_targets".

Under ``--benchmark-disable`` (the CI smoke run), or with ``--bench-scale
smoke``, the sizes shrink to T=16, batch 1 and 10, a few images and the peers
on one thread, so this file takes seconds; the identities are still asserted. SpikingJelly and sinabs benchmarks skip, naming
bench/requirements-peers.txt, when those are not installed.
"""

import json
import math
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

import speed_targets

MODEL = "fashion_cnn"

SJ_RECIPES = {
    "default": dict(mode="max"),
    "best": dict(mode="99.9%", channel_wise=True, half_threshold=True),
}

# full: pytest --benchmark-only; smoke: --benchmark-disable (CI)
FULL = dict(timesteps=(16, 64), long_timesteps=(256,), batches=(1, 100), threads=(1, 2),
            peer_threads=(1, 2), accuracy_threads=1,
            calib=1000, acc=1000, acc_long=200, single_peers=10, single_fast=50,
            memory_timesteps=64, memory=((100, 1), (100, 2), (1000, 2)), kernel=(100, 64))
SMOKE = dict(timesteps=(16,), long_timesteps=(), batches=(1, 10), threads=(1, 2),
             peer_threads=(1,), accuracy_threads=1,
             calib=100, acc=20, acc_long=0, single_peers=2, single_fast=4,
             memory_timesteps=16, memory=((10, 1), (10, 2), (100, 2)), kernel=(10, 16))


def _sizes(config):
    """SMOKE or FULL, chosen as bench/conftest.py's --bench-scale is: that
    option, else SNNCORE_BENCH_SCALE, else smoke when pytest-benchmark is
    disabled and full when it times (so `--benchmark-only --bench-scale smoke`
    is a quick timed run of every path)."""
    name = config.getoption("bench_scale", default=None) or os.environ.get("SNNCORE_BENCH_SCALE")
    if name not in ("smoke", "full"):
        disabled = config.getoption("benchmark_disable", default=False) and \
            not config.getoption("benchmark_enable", default=False)
        name = "smoke" if disabled else "full"
    return SimpleNamespace(smoke=name == "smoke", **(SMOKE if name == "smoke" else FULL))


# -- the cases -------------------------------------------------------------------------

class Case:
    def __init__(self, sim, timesteps=None, batch=None, threads=None, recipe=None, isa=None):
        self.sim, self.T, self.batch, self.threads = sim, timesteps, batch, threads
        self.recipe, self.isa = recipe, isa

    @property
    def key(self):
        return (self.sim, self.T, self.batch, self.threads)

    @property
    def id(self):
        if self.isa:
            return self.isa
        parts = [self.recipe] if self.recipe else []
        if self.T is not None:
            parts.append(f"T{self.T}")
        return "-".join(parts + [f"b{self.batch}", f"t{self.threads}"])


def _grid(s, sim, recipe=None, long=False):
    """Cases for one simulator: every T, batch and thread count (1 before 2,
    so that the 2-thread case finds the 1-thread one), then T=256 at the big batch.
    The smoke run times the peers on one thread only."""
    threads = s.threads if sim in ("snncore", "ann") else s.peer_threads
    cases = [Case(sim, T, b, th, recipe) for T in s.timesteps for b in s.batches
             for th in threads]
    if long:
        cases += [Case(sim, T, s.batches[-1], th, recipe) for T in s.long_timesteps
                  for th in threads]
    return cases


CASES = {
    "test_speed_ann": lambda s: _grid(s, "ann"),
    "test_speed_sinabs": lambda s: _grid(s, "sinabs"),
    "test_speed_spikingjelly": lambda s: [c for r in SJ_RECIPES
                                          for c in _grid(s, f"spikingjelly-{r}", r, long=True)],
    "test_speed_snncore": lambda s: _grid(s, "snncore", long=True),
    "test_speed_memory": lambda s: [Case("snncore", s.memory_timesteps, b, th)
                                    for b, th in s.memory],
    "test_speed_kernel": lambda s: [Case("snncore", isa=i) for i in ("generic", "avx2", "avx512")],
}


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames and metafunc.function.__name__ in CASES:
        cases = CASES[metafunc.function.__name__](_sizes(metafunc.config))
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


def _rounds(case):
    """(rounds, warm-up rounds) of the timed call; fewer for the slowest peer runs."""
    if case.sim == "ann":
        return 10, 2
    if case.sim != "snncore" and case.batch > 1:
        if case.T >= 256:
            return 1, 0     # 8 to 12 s a call; the runs before have warmed torch up
        if case.sim == "sinabs" and case.T >= 64:
            return 2, 0     # 5 to 15 s a call (time folded into a batch of 6,400)
    return (5, 1) if case.batch == 1 else (3, 1)


# Every timed case warms up for at least this long (or its rounds above, if
# longer), so that a fast call gets as much warm-up time as a slow one: a core
# that sat idle may run slower for a while (clock and cache warm-up), whatever
# the case's own duration. At most MAX_WARMUP_ROUNDS calls.
WARMUP_SECONDS = 1.0
MAX_WARMUP_ROUNDS = 50
# ... and is timed over at least this long (or its rounds above), so that the
# median of a fast case rests on enough rounds that one disturbed round does
# not move it. At most MAX_ROUNDS calls.
TIMED_SECONDS = 1.0
MAX_ROUNDS = 30


def _warm_up(fn, warmup):
    """Runs fn() as warm-up: one timed call, then more until WARMUP_SECONDS
    have passed in all (at least `warmup` calls; none if warmup is 0, for the
    slowest peer runs, which the runs before them warm up). Returns (calls,
    seconds, seconds of the first call or None)."""
    if warmup <= 0:
        return 0, 0.0, None
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    calls = max(warmup, min(MAX_WARMUP_ROUNDS, math.ceil(WARMUP_SECONDS / max(once, 1e-6))))
    for _ in range(calls - 1):
        fn()
    return calls, time.perf_counter() - start, once


def _timed_rounds(rounds, once):
    """The rounds to time: at least `rounds`, and enough for TIMED_SECONDS
    when one call took `once` seconds (at most MAX_ROUNDS)."""
    if once is None:
        return rounds
    return max(rounds, min(MAX_ROUNDS, math.ceil(TIMED_SECONDS / max(once, 1e-6))))


# -- session fixtures -------------------------------------------------------------------

@pytest.fixture(scope="session")
def sizes(request):
    return _sizes(request.config)


@pytest.fixture(scope="session")
def state(request, sizes):
    """What the tests share: the records (extra_info dicts) and medians for the
    ratios and the target table, and results for the identity checks."""
    st = SimpleNamespace(sizes=sizes, records=[], medians={}, accuracy={}, snn_results={},
                         kernel_results={}, files={})
    config = request.config
    name = "snncore-speed-targets"
    if not config.pluginmanager.has_plugin(name):
        config.pluginmanager.register(speed_targets.SummaryPlugin(st.records), name)
    path = config.getoption("benchmark_json", default=None)
    if path:    # pytest-benchmark does not create the folder (bench/results/)
        os.makedirs(os.path.dirname(os.path.abspath(str(path))), exist_ok=True)
    return st


@pytest.fixture(scope="session")
def data(sizes, fmnist_train, fmnist_test):
    x_test, y_test = fmnist_test
    n = max(sizes.batches[-1], sizes.single_fast)
    return SimpleNamespace(calib=fmnist_train[0][:sizes.calib], x_test=x_test, y_test=y_test,
                           x=x_test[:n])


@pytest.fixture(scope="session")
def model(trained_model):
    return trained_model(MODEL)


@pytest.fixture(scope="session")
def snn(model, data):
    from snncore.convert import from_torch

    return from_torch(model, data.calib, norm="percentile")


class _PeerNets:
    """The peers' converted networks, made on first use; a missing peer skips."""

    def __init__(self, model, calib):
        self.model, self.calib, self.nets = model, calib, {}

    def get(self, key):
        import peers

        if key not in self.nets:
            try:
                if key == "sinabs":
                    self.nets[key] = peers.sinabs_convert(self.model, self.calib)
                else:
                    self.nets[key] = peers.spikingjelly_convert(self.model, self.calib,
                                                                **SJ_RECIPES[key])
            except peers.PeerMissing as e:
                self.nets[key] = e
        net = self.nets[key]
        if isinstance(net, Exception):
            msg = str(net)
            if "requirements-peers.txt" not in msg:
                msg += "; install the peers with bench/requirements-peers.txt"
            pytest.skip(msg)
        return net


@pytest.fixture(scope="session")
def peer_nets(model, data):
    return _PeerNets(model, data.calib)


# -- measuring --------------------------------------------------------------------------

def _status_mb(field):
    """A field of /proc/self/status (VmRSS, VmHWM) in MB, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _measure(benchmark, state, case, fn, n_images):
    """Time fn() with benchmark.pedantic; return (its last result, the record
    started with the schema's common keys)."""
    rounds, warmup = _rounds(case)
    benchmark.group = f"speed T={case.T} batch={case.batch} threads={case.threads}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rss0 = _status_mb("VmRSS")
    reset = rss0 is not None and _reset_peak_rss()
    warmup, warmup_s, once = _warm_up(fn, warmup) if benchmark.enabled else (0, 0.0, None)
    rounds = _timed_rounds(rounds, once)
    result = benchmark.pedantic(fn, rounds=rounds, warmup_rounds=0, iterations=1)
    peak = _status_mb("VmHWM") if reset else None
    median = benchmark.stats.stats.median if benchmark.stats is not None else None
    ips = None if median is None else n_images / median
    if ips is not None:
        state.medians[case.key] = ips
    info = {"kind": "speed", "simulator": case.sim, "model": MODEL, "timesteps": case.T,
            "batch": case.batch, "threads": case.threads, "images_per_s": ips,
            "accuracy": None, "accuracy_images": None,
            "peak_rss_mb": None if peak is None else round(peak - rss0, 1),
            "rss_basis": ("peak RSS increase over the RSS before the timed runs, in the pytest "
                          "process (VmHWM reset through /proc/self/clear_refs)"
                          if peak is not None else "not available on this system"),
            "images_timed": n_images, "median_s": median, "rounds": rounds,
            "warmup_rounds": warmup, "warmup_s": round(warmup_s, 3),
            "load_avg_1min": load, "cpus": os.cpu_count()}
    return result, info


def _record(benchmark, state, info):
    benchmark.extra_info.update(info)
    state.records.append(benchmark.extra_info)


def _accuracy(state, data, sim, T, run):
    """(accuracy, images) of a simulator at T on the first test images; one run
    with checkpoints covers all the suite's T except the long ones.
    run(x, T, checkpoints) returns a result with .curve(y)."""
    s = state.sizes
    if (sim, T) not in state.accuracy:
        if T is None:                       # the ANN
            group, n = (None,), s.acc
            res = run(data.x_test[:n], 1, [1])
        else:
            group = tuple(s.timesteps) if T in s.timesteps else (T,)
            n = s.acc if T in s.timesteps else s.acc_long
            res = run(data.x_test[:n], max(group), list(group))
        for t, a in zip(group, res.curve(data.y_test[:n])[-len(group):]):
            state.accuracy[(sim, t)] = (float(a), n)
    return state.accuracy[(sim, T)]


def _images(data, state, case, peer):
    if case.batch == 1:
        return data.x[:state.sizes.single_peers if peer else state.sizes.single_fast]
    return data.x[:case.batch]


# -- 1. the peers first, then snncore --------------------------------------------------

def test_speed_ann(benchmark, state, data, model, case):
    """The ANN in PyTorch (its speed does not depend on T: recorded at each T
    so that every comparison row has it)."""
    import peers

    x = _images(data, state, case, peer=False)
    res, info = _measure(benchmark, state, case, lambda: peers.ann_run(
        model, x, batch_size=case.batch, threads=case.threads), len(x))
    acc, n = _accuracy(state, data, "ann", None, lambda xs, T, cps: peers.ann_run(
        model, xs, threads=state.sizes.accuracy_threads))
    info.update(accuracy=acc, accuracy_images=n, accuracy_threads=state.sizes.accuracy_threads)
    _record(benchmark, state, info)
    assert res.outputs.shape == (len(x), 1, 10)


def test_speed_sinabs(benchmark, state, data, peer_nets, case):
    import peers

    net = peer_nets.get("sinabs")
    x = _images(data, state, case, peer=True)
    res, info = _measure(benchmark, state, case, lambda: peers.sinabs_run(
        net, x, case.T, batch_size=case.batch, threads=case.threads), len(x))
    acc, n = _accuracy(state, data, "sinabs", case.T, lambda xs, T, cps: peers.sinabs_run(
        net, xs, T, batch_size=max(1, 640 // T), checkpoints=cps,
        threads=state.sizes.accuracy_threads))
    info.update(accuracy=acc, accuracy_images=n, accuracy_threads=state.sizes.accuracy_threads,
                normalization="sinabs.utils.normalize_weights "
                "(99.9th percentile)")
    _record(benchmark, state, info)
    assert res.outputs.shape == (len(x), 1, 10)


def test_speed_spikingjelly(benchmark, state, data, peer_nets, case):
    import peers

    snn = peer_nets.get(case.recipe)
    x = _images(data, state, case, peer=True)
    res, info = _measure(benchmark, state, case, lambda: peers.spikingjelly_run(
        snn, x, case.T, batch_size=case.batch, threads=case.threads), len(x))
    acc, n = _accuracy(state, data, case.sim, case.T, lambda xs, T, cps: peers.spikingjelly_run(
        snn, xs, T, checkpoints=cps, threads=state.sizes.accuracy_threads))
    info.update(accuracy=acc, accuracy_images=n, accuracy_threads=state.sizes.accuracy_threads,
                recipe=dict(SJ_RECIPES[case.recipe]))
    _record(benchmark, state, info)
    assert res.outputs.shape == (len(x), 1, 10)


def _merge(results):
    """(outputs, spikes, synaptic ops) of a list of RunResults, concatenated."""
    return (np.concatenate([r.outputs for r in results]),
            np.concatenate([r.spikes.raw for r in results]),
            np.concatenate([r.synaptic_ops.raw for r in results]))


def _run_snn(net, x, T, batch, threads, **kw):
    if batch == 1:
        return [net.run(x[i:i + 1], T, threads=threads, **kw) for i in range(len(x))]
    return [net.run(x[i:i + batch], T, threads=threads, **kw) for i in range(0, len(x), batch)]


def _team_always(net, x, T, threads):
    """images/s of x one image at a time with the team forced (team="always"),
    median of 5 rounds after 1 s of warm-up, and the last round's results."""
    def once():
        return [net.run(x[i:i + 1], T, threads=threads, team="always") for i in range(len(x))]

    _warm_up(once, 1)
    times, results = [], None
    for _ in range(5):
        start = time.perf_counter()
        results = once()
        times.append(time.perf_counter() - start)
    return len(x) / float(np.median(times)), results


def _profile_seconds(net, x, T, batch, threads):
    """{projection name: seconds} of synaptic updates from the engine's profile
    (``run(..., profile=True)``), summed over the images and threads."""
    total = {}
    for r in _run_snn(net, x, T, batch, threads, profile=True):
        for k, v in r.profile["projections"].items():
            total[k] = total.get(k, 0.0) + float(v)
    return total


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


def _ratio(a, b):
    return None if a is None or not b else a / b


def test_speed_snncore(benchmark, state, data, snn, case):
    """snncore, with its ratios to the peers measured before it in this run,
    conv synaptic operations per second, and the 2-vs-1-thread identity."""
    T, batch, th = case.T, case.batch, case.threads
    x = _images(data, state, case, peer=False)
    results, info = _measure(benchmark, state, case,
                             lambda: _run_snn(snn, x, T, batch, th), len(x))
    merged = _merge(results)
    state.snn_results[(T, batch, th)] = merged
    acc, n = _accuracy(state, data, "snncore", T, lambda xs, t, cps: snn.run(
        xs, t, checkpoints=cps, threads=state.sizes.accuracy_threads))
    info.update(accuracy=acc, accuracy_images=n, accuracy_threads=state.sizes.accuracy_threads,
                conversion='from_torch(model, x_calib, '
                f'norm="percentile"), {state.sizes.calib} training images', isa=snn.isa)

    # 2. synaptic operations per projection, and the conv layers' rate per core
    names = results[0].synaptic_ops.names
    synops = merged[2][:, -1, :]                       # (images, projections) at T
    per_image = {k: float(v) for k, v in zip(names, synops.mean(axis=0))}
    conv = [p.name for p in snn.projections if p.op == "conv2d"]
    conv_total = float(sum(synops[:, names.index(k)].sum() for k in conv))
    info.update(synaptic_ops_per_image=per_image,
                conv_synops_per_image=conv_total / len(x),
                spikes_per_image=float(merged[1][:, -1, :].sum(axis=1).mean()),
                conv_synops_per_s_per_core=None, conv_rate_basis=None)
    prof = _profile_seconds(snn, x, T, batch, th) if benchmark.enabled else None
    conv_seconds = sum(prof.get(k, 0.0) for k in conv) if prof else 0.0
    if conv_seconds > 0:
        info.update(conv_synops_per_s_per_core=conv_total / conv_seconds,
                    conv_rate_basis="profile", profile_seconds=prof)
    elif info["median_s"]:
        info.update(conv_synops_per_s_per_core=conv_total / (info["median_s"] * th),
                    conv_rate_basis="whole run")

    # 1. ratios to the peers and the ANN, from this run's medians
    ips = info["images_per_s"]
    sj = {r: state.medians.get((f"spikingjelly-{r}", T, batch, th)) for r in SJ_RECIPES}
    sj = {r: v for r, v in sj.items() if v}
    faster = max(sj, key=sj.get) if sj else None
    wanted = speed_targets.peer_targets(T, batch)
    ratios = {"spikingjelly": _ratio(ips, sj.get(faster)),
              "sinabs": _ratio(ips, state.medians.get(("sinabs", T, batch, th)))}
    met = None
    if wanted and all(ratios[k] is not None for k in wanted):
        met = all(ratios[k] >= v for k, v in wanted.items())
    info.update(ratio_vs_spikingjelly=ratios["spikingjelly"],
                ratio_vs_spikingjelly_recipe=f"spikingjelly-{faster}" if faster else None,
                ratio_vs_sinabs=ratios["sinabs"],
                ratio_vs_ann=_ratio(ips, state.medians.get(("ann", T, batch, th))),
                target=speed_targets.target_text(wanted), target_met=met)

    # 3. and 4. two threads against one: the speed-up, and the same bits
    identical = True
    if th > 1:
        ref = state.snn_results.get((T, batch, 1))
        if ref is None:
            ref = _merge(_run_snn(snn, x, T, batch, 1))
        identical = _same(merged, ref)
        ratio = _ratio(ips, state.medians.get(("snncore", T, batch, 1)))
        if batch == 1 and benchmark.enabled:
            # target 4: one image on both cores, the team forced (team="always";
            # the timed runs above use "auto", which runs the faster of the team
            # and one thread)
            team_ips, team_results = _team_always(snn, x, T, th)
            info.update(team_always_images_per_s=team_ips,
                        team_always_ratio_vs_1_thread=_ratio(
                            team_ips, state.medians.get(("snncore", T, batch, 1))),
                        team_always_identical=_same(_merge(team_results), ref))
        goal = speed_targets.THREAD_SCALING if batch >= speed_targets.BIG_BATCH else None
        info.update(identical_to_1_thread=identical, ratio_vs_1_thread=ratio,
                    threads_target=f">= {goal:g}x" if goal else None,
                    threads_target_met=None if goal is None or ratio is None else ratio >= goal)
    _record(benchmark, state, info)
    assert merged[0].shape == (len(x), 1, 10)
    assert identical, f"{th} threads and 1 thread differ (T={T}, batch {batch})"


# -- 5. peak memory in a fresh process -------------------------------------------------

_MEMORY_SCRIPT = r"""
import json, resource, sys
import numpy as np
import snncore

def status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024

net_path, x_path = sys.argv[1:3]
T, batch, threads = (int(v) for v in sys.argv[3:6])
net = snncore.load(net_path)
x = np.load(x_path)[:batch]
net.run(x[:1], 1, threads=1)            # the engine is built: part of the baseline
base = status_mb("VmRSS")
loading_peak = status_mb("VmHWM")
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    basis = "VmHWM reset before the run"
except OSError:
    basis = "ru_maxrss"
res = net.run(x, T, threads=threads)
if basis == "ru_maxrss":
    # (Linux carries ru_maxrss over fork and exec: it can be pytest's own peak)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
else:
    peak = status_mb("VmHWM")
print(json.dumps({"baseline_rss_mb": base, "run_peak_rss_mb": peak,
                  "process_peak_rss_mb": max(peak, loading_peak), "basis": basis,
                  "outputs": res.outputs.shape[0]}))
"""


def test_speed_memory(benchmark, state, data, snn, case, tmp_path_factory):
    """Peak RSS of snncore in a fresh process (no torch): the increase during
    the run over the RSS after loading the network; the timing is the whole
    subprocess (start-up included) and means little."""
    if not state.files:
        folder = tmp_path_factory.mktemp("speed_memory")
        state.files["net"] = str(folder / "fashion_cnn.npz")
        state.files["x"] = str(folder / "x.npy")
        snn.save(state.files["net"])
        np.save(state.files["x"], data.x_test[:max(b for b, _ in state.sizes.memory)])
    argv = [sys.executable, "-c", _MEMORY_SCRIPT, state.files["net"], state.files["x"],
            str(case.T), str(case.batch), str(case.threads)]
    benchmark.group = "speed memory"
    proc = benchmark.pedantic(subprocess.run, args=(argv,),
                              kwargs=dict(capture_output=True, text=True, timeout=900),
                              rounds=1, iterations=1)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    assert m["outputs"] == case.batch
    _record(benchmark, state, {
        "kind": "memory", "simulator": "snncore", "model": MODEL, "timesteps": case.T,
        "batch": case.batch, "threads": case.threads,
        "peak_rss_mb": round(m["run_peak_rss_mb"] - m["baseline_rss_mb"], 1),
        "baseline_rss_mb": round(m["baseline_rss_mb"], 1),
        "process_peak_rss_mb": round(m["process_peak_rss_mb"], 1),
        "rss_basis": "fresh process: peak RSS during the run minus the RSS after loading the "
                     f"network and building the engine ({m['basis']})"})


# -- 6. generic against AVX2 kernels --------------------------------------------------

def _net_with_isa(snn, isa, monkeypatch):
    import snncore

    monkeypatch.setenv("SNNCORE_ISA", isa)
    net = snncore.Network(*snn._to_file())
    assert net.isa == isa
    return net


def _cpu_has(snn, isa):
    """Whether this CPU and build have the kernels `isa` (building them fails if not)."""
    from snncore import FormatError

    try:
        snn._build_engine(isa)
    except FormatError:
        return False
    return True


def test_speed_kernel(benchmark, state, data, snn, case, monkeypatch):
    """The baseline kernels against the AVX2 and AVX-512 ones (batch 100, T=64,
    one thread), in one run so that their ratios are measured under the same
    load; their results must be bit-identical."""
    if not _cpu_has(snn, case.isa):
        pytest.skip(f"this CPU has no {case.isa}")
    batch, T = state.sizes.kernel
    x = data.x_test[:batch]
    if case.isa != "generic" and "generic" not in state.kernel_results:
        state.kernel_results["generic"] = (
            _merge([_net_with_isa(snn, "generic", monkeypatch).run(x, T, threads=1)]), None)
    net = _net_with_isa(snn, case.isa, monkeypatch)
    benchmark.group = "speed kernels"
    res = benchmark.pedantic(net.run, args=(x, T), kwargs={"threads": 1}, rounds=3,
                             iterations=1, warmup_rounds=1)
    ips = batch / benchmark.stats.stats.median if benchmark.stats is not None else None
    merged = _merge([res])
    info = {"kind": "kernel", "simulator": "snncore", "model": MODEL, "isa": case.isa,
            "timesteps": T, "batch": batch, "threads": 1, "images_per_s": ips,
            "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "cpus": os.cpu_count()}
    identical = True
    if case.isa == "generic":
        state.kernel_results["generic"] = (merged, ips)
    else:
        ref, ref_ips = state.kernel_results["generic"]
        identical = _same(merged, ref)
        info.update(identical_to_generic=identical, ratio_vs_generic=_ratio(ips, ref_ips))
    _record(benchmark, state, info)
    assert identical, f"{case.isa} and generic kernels differ"
