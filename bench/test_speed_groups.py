"""Synaptic operations per second per core of a depthwise 3x3 conv against a dense
3x3 conv of the same size, under each kernel set.

    pytest bench/test_speed_groups.py --benchmark-only

Three layers of the same shape, (64, 28, 28) -> (64, 28, 28), padding 1, fed by
the input population under regular encoding (images of 0s and 1s, a fraction
DENSITY of ones, so that a fifth of the input neurons spike each step):

- "depthwise": groups = 64 (one weight per channel and tap; the engine's dense
  depthwise kernel);
- "dense": an ordinary conv (64 weights per channel and tap);
- "blockdiag": the depthwise layer written as an ordinary conv whose weights are
  zero across channels, as a network had to be before groups: it does the dense
  conv's work, of which a 64th is useful.

Each case runs BATCH images for T steps on one thread, SNNCORE_ISA set to the
case's kernel set. ``extra_info`` (kind "groups_speed") records the synaptic
operations the engine counts (for "blockdiag", its useful ones: a 64th), the
seconds of that projection's synaptic updates from the engine's profile
(``run(..., profile=True)``, the median of PROFILED runs), and their ratio, ``synops_per_s_per_core``; and
``wall_synops_per_s``, the same over the whole run's wall time (which adds the
input's encoding, the same for all three). Nothing is asserted about time;
the three kernel sets' results are asserted bit-identical per layer.
"""

import os
import time

import numpy as np
import pytest

C, H, W = 64, 28, 28
BATCH, T = 8, 16
DENSITY = 0.2
PROFILED = 7        # profiled runs whose median kernel time is recorded
ISAS = ("generic", "avx2", "avx512")
LAYERS = ("depthwise", "dense", "blockdiag")

_results = {}


def _weight(layer, rng):
    """The layer's conv weight, float32 OIHW, and its groups."""
    if layer == "dense":
        return rng.normal(0, 0.1, (C, C, 3, 3)).astype(np.float32), 1
    depthwise = rng.normal(0, 0.3, (C, 1, 3, 3)).astype(np.float32)
    if layer == "depthwise":
        return depthwise, C
    block = np.zeros((C, C, 3, 3), np.float32)
    block[np.arange(C), np.arange(C)] = depthwise[:, 0]
    return block, 1


def _network(layer):
    import snncore
    weight, groups = _weight(layer, np.random.default_rng(0))
    b = snncore.NetworkBuilder((C, H, W), encoding="regular")
    b.population("out", (C, H, W), kind="accumulate")
    b.conv2d("conv", "input", "out", weight, padding=1, groups=groups)
    return b.build("out")


def _images():
    rng = np.random.default_rng(1)
    return (rng.random((BATCH, C, H, W)) < DENSITY).astype(np.float32)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("layer", LAYERS)
def test_speed_groups(benchmark, layer, isa, monkeypatch):
    monkeypatch.setenv("SNNCORE_ISA", isa)
    try:
        net = _network(layer)
        x = _images()
        net.run(x[:1], 2, threads=1)
    except Exception as e:      # noqa: BLE001 - an ISA this CPU lacks is refused by name
        if "has no" in str(e):
            pytest.skip(f"this CPU has no {isa}")
        raise
    benchmark.group = f"depthwise vs dense 3x3, {isa}"
    start = time.perf_counter()
    res = benchmark.pedantic(net.run, args=(x, T), kwargs={"threads": 1, "profile": True},
                             rounds=3, iterations=1, warmup_rounds=1)
    wall = (benchmark.stats.stats.median if benchmark.stats is not None
            else time.perf_counter() - start)
    useful = 1.0 / C if layer == "blockdiag" else 1.0
    synops = float(res.synaptic_ops.raw[:, -1, 0].sum()) * useful
    # the profile of one run is noisy on a shared machine: the median of PROFILED
    seconds = float(np.median([net.run(x, T, threads=1, profile=True).profile["projections"]
                               ["conv"] for _ in range(PROFILED)]))
    benchmark.extra_info.update(
        kind="groups_speed", layer=layer, isa=isa, timesteps=T, batch=BATCH, threads=1,
        shape=[C, H, W], density=DENSITY, synops=synops, kernel_seconds=seconds,
        synops_per_s_per_core=synops / seconds if seconds > 0 else None,
        wall_synops_per_s=synops / wall if wall else None,
        load_avg_1min=os.getloadavg()[0] if hasattr(os, "getloadavg") else None)
    first = _results.setdefault(layer, res)
    np.testing.assert_array_equal(res.outputs, first.outputs)
    np.testing.assert_array_equal(res.synaptic_ops.raw, first.synaptic_ops.raw)
