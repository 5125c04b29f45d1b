"""The generic, AVX2 and AVX-512 kernels give bit-identical results (every path
of the load-time dispatch that the CPU has is exercised)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snncore
from netgen import networks, run_settings


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


FLAGS = _cpu_flags()
# what the engine picks with SNNCORE_ISA=auto, widest first
AUTO = "avx512" if {"avx2", "avx512f"} <= FLAGS else "avx2" if "avx2" in FLAGS else "generic"


def _run(engine, net, x, timesteps, encoding, checkpoints, seed):
    n = len(x)
    cps = np.array(sorted(set(checkpoints) | {timesteps}), np.int32)
    out = np.empty((n, len(cps) * engine.output_size), np.float32)
    spikes = np.empty((n, len(cps) * engine.n_populations), np.int64)
    synops = np.empty((n, len(cps) * engine.n_projections), np.int64)
    engine.run(np.ascontiguousarray(x.reshape(n, -1)), timesteps, encoding, 1.0, seed, cps, 0, 1,
               out, spikes, synops)
    return out, spikes, synops


@pytest.mark.parametrize("isa,flag", [("avx2", "avx2"), ("avx512", "avx512f")])
def test_vector_kernels_agree_with_generic_bit_for_bit(isa, flag):
    if flag not in FLAGS:
        pytest.skip(f"this CPU has no {flag}")

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def check(data):
        net, shape = data.draw(networks())
        x, timesteps, encoding, checkpoints, seed, _ = data.draw(run_settings(shape))
        generic, vector = net._build_engine("generic"), net._build_engine(isa)
        assert (generic.isa, vector.isa) == ("generic", isa)
        for a, b in zip(_run(generic, net, x, timesteps, encoding, checkpoints, seed),
                        _run(vector, net, x, timesteps, encoding, checkpoints, seed)):
            np.testing.assert_array_equal(a, b)

    check()


def _tiny():
    b = snncore.NetworkBuilder((2,))
    b.population("out", (2,), kind="accumulate")
    b.identity("w", "input", "out")
    return b


def test_isa_environment_variable(monkeypatch):
    b = _tiny()
    monkeypatch.setenv("SNNCORE_ISA", "generic")
    assert b.build("out").isa == "generic"
    monkeypatch.setenv("SNNCORE_ISA", " AVX2 ")
    if "avx2" in FLAGS:
        assert b.build("out").isa == "avx2"
    monkeypatch.setenv("SNNCORE_ISA", "sse9")
    with pytest.raises(ValueError, match="SNNCORE_ISA"):
        b.build("out").run(np.ones((1, 2), np.float32), 2)
    monkeypatch.delenv("SNNCORE_ISA")
    assert b.build("out").isa == AUTO


@pytest.mark.parametrize("isa,flag", [("avx2", "avx2"), ("avx512", "avx512f")])
def test_kernels_the_cpu_lacks_are_refused_by_name(isa, flag, monkeypatch):
    if flag in FLAGS:
        pytest.skip(f"this CPU has {flag}")
    monkeypatch.setenv("SNNCORE_ISA", isa)
    with pytest.raises(snncore.FormatError, match="has no"):
        _tiny().build("out").run(np.ones((1, 2), np.float32), 2)
