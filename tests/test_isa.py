"""The generic and AVX2 kernels give bit-identical results (both paths of the
load-time dispatch are exercised on every machine that has AVX2)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snncore
from netgen import networks, run_settings


def _has_avx2():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx2" in f.read()
    except OSError:
        return False


def _run(engine, net, x, timesteps, encoding, checkpoints, seed):
    n = len(x)
    cps = np.array(sorted(set(checkpoints) | {timesteps}), np.int32)
    out = np.empty((n, len(cps) * engine.output_size), np.float32)
    spikes = np.empty((n, len(cps) * engine.n_populations), np.int64)
    synops = np.empty((n, len(cps) * engine.n_projections), np.int64)
    engine.run(np.ascontiguousarray(x.reshape(n, -1)), timesteps, encoding, 1.0, seed, cps, 0, 1,
               out, spikes, synops)
    return out, spikes, synops


@pytest.mark.skipif(not _has_avx2(), reason="this CPU has no AVX2")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generic_and_avx2_kernels_agree_bit_for_bit(data):
    net, shape = data.draw(networks())
    x, timesteps, encoding, checkpoints, seed, _ = data.draw(run_settings(shape))
    generic, avx2 = net._build_engine("generic"), net._build_engine("avx2")
    assert (generic.isa, avx2.isa) == ("generic", "avx2")
    for a, b in zip(_run(generic, net, x, timesteps, encoding, checkpoints, seed),
                    _run(avx2, net, x, timesteps, encoding, checkpoints, seed)):
        np.testing.assert_array_equal(a, b)


def test_isa_environment_variable(monkeypatch):
    b = snncore.NetworkBuilder((2,))
    b.population("out", (2,), kind="accumulate")
    b.identity("w", "input", "out")
    monkeypatch.setenv("SNNCORE_ISA", "generic")
    assert b.build("out").isa == "generic"
    monkeypatch.setenv("SNNCORE_ISA", "sse9")
    with pytest.raises(ValueError, match="SNNCORE_ISA"):
        b.build("out").run(np.ones((1, 2), np.float32), 2)
    monkeypatch.delenv("SNNCORE_ISA")
    assert b.build("out").isa == ("avx2" if _has_avx2() else "generic")
