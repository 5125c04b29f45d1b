"""Speed of `Network.run` on a network the size of DESIGN.md's Fashion-MNIST
CNN, analog input, T=64: images/s and synaptic operations per second.

    pytest bench/test_engine_speed.py --benchmark-only --benchmark-json=bench/engine.json

The figures are in each benchmark's extra_info; pytest-benchmark's table gives
the timings (median of the rounds).
"""

import numpy as np
import pytest

from networks import fmnist_cnn


@pytest.fixture(scope="module")
def cnn(fmnist_test):
    x, _ = fmnist_test
    return fmnist_cnn(x[:500])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 100])
@pytest.mark.parametrize("timesteps", [64])
def test_run_speed(benchmark, cnn, fmnist_test, batch, threads, timesteps):
    x = fmnist_test[0][1000:1000 + batch]
    res = benchmark.pedantic(cnn.run, args=(x, timesteps), kwargs={"threads": threads},
                             rounds=3 if batch > 1 else 10, iterations=1, warmup_rounds=1)
    synops = float(res.synaptic_ops.total_per_image()[-1])
    info = {"batch": batch, "threads": threads, "timesteps": timesteps,
            "spikes_per_image": float(res.spikes.total_per_image()[-1]),
            "synaptic_ops_per_image": synops,
            "ann_macs_per_image": int(sum(cnn.ann_macs().values()))}
    if benchmark.stats is not None:   # None under --benchmark-disable
        median = benchmark.stats.stats.median
        info["images_per_s"] = batch / median
        info["synaptic_ops_per_s"] = batch * synops / median
    benchmark.extra_info.update(info)
    assert res.outputs.shape == (batch, 1, 10)
    assert info["spikes_per_image"] > 0


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_kernel_speed(benchmark, cnn, fmnist_test, monkeypatch, isa):
    """The baseline kernels against the AVX2 ones (batch 100, T=64, one thread),
    in one run, so their ratio is measured under the same load."""
    import snncore

    if isa == "avx2" and cnn.isa != "avx2":
        pytest.skip("this CPU has no AVX2")
    monkeypatch.setenv("SNNCORE_ISA", isa)
    net = snncore.Network(*cnn._to_file())
    assert net.isa == isa
    x = fmnist_test[0][1000:1100]
    res = benchmark.pedantic(net.run, args=(x, 64), kwargs={"threads": 1}, rounds=3,
                             iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(isa=isa, batch=100, threads=1, timesteps=64)
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_s"] = 100 / benchmark.stats.stats.median
    assert res.outputs.shape == (100, 1, 10)
