"""The C runner `snnrun` and `Network.run` agree bit for bit.

For every stored network in tests/data (every op, both resets, signed neurons, a
junction, uint8 images, a deflated file, Fortran-ordered arrays), under analog,
regular and poisson encoding, the outputs at every checkpoint, the spike counts per
population and the synaptic operations per projection that snnrun writes equal those
of Network.run exactly. snnrun and Python load the file with the same C loader, each
from its own build (meson's and the extension's), so this also checks that the two
builds make the same network.

snnrun is found through the SNNRUN environment variable (./dev sets it to
build-c/snnrun) or at build-c/snnrun; without it these tests are skipped.
"""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import snncore

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
NETS = sorted(p.stem for p in DATA.glob("*.npz"))
SNNRUN = Path(os.environ.get("SNNRUN") or ROOT / "build-c" / "snnrun")

pytestmark = pytest.mark.skipif(
    not SNNRUN.is_file(),
    reason=f"snnrun is not built ({SNNRUN} does not exist): run ./dev test, or "
           f"`meson setup build-c && meson compile -C build-c` and set SNNRUN=build-c/snnrun")


def snnrun(*args, check=True):
    proc = subprocess.run([str(SNNRUN), *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"snnrun {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"{proc.stderr}")
    return proc


def run_both(tmp_path, name, x_path, timesteps, encoding, checkpoints=None, seed=0, extra=(),
             **kwargs):
    """(snnrun's outputs, spikes, synops, predictions), Network.run's RunResult."""
    out, spikes, synops = tmp_path / "out.npy", tmp_path / "spikes.npy", tmp_path / "synops.npy"
    args = [DATA / f"{name}.npz", x_path, "--timesteps", timesteps, "--encoding", encoding,
            "--seed", seed, "-o", out, "--spikes", spikes, "--synops", synops, "--quiet", *extra]
    if checkpoints:
        args += ["--checkpoints", ",".join(map(str, checkpoints))]
    proc = snnrun(*args)
    predictions = np.array([int(line) for line in proc.stdout.split()], dtype=np.int64)
    net = snncore.load(DATA / f"{name}.npz")
    res = net.run(np.load(x_path), timesteps, encoding=encoding, checkpoints=checkpoints,
                  seed=seed, threads=1, **kwargs)
    return (np.load(out), np.load(spikes), np.load(synops), predictions), res


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(
        a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("encoding", ["analog", "regular", "poisson"])
@pytest.mark.parametrize("name", NETS)
def test_runner_equals_network_run(tmp_path, name, encoding):
    cps = [1, 3, 8, 13, 20]
    (out, spikes, synops, pred), res = run_both(tmp_path, name, DATA / f"{name}.x.npy", 20,
                                                 encoding, cps, seed=12345)
    assert same_bits(out, res.outputs)
    assert same_bits(spikes, res.spikes.raw)
    assert same_bits(synops, res.synaptic_ops.raw)
    assert np.array_equal(pred, res.predictions)
    assert res.spikes.raw[:, -1, 1:].sum() > 0, "the test network should spike"


@pytest.mark.parametrize("name", NETS)
def test_without_checkpoints_the_results_are_2d(tmp_path, name):
    (out, spikes, synops, pred), res = run_both(tmp_path, name, DATA / f"{name}.x.npy", 11,
                                                 "analog")
    assert same_bits(out, res.output)
    assert same_bits(spikes, res.spikes.per_image)
    assert same_bits(synops, res.synaptic_ops.per_image)
    assert np.array_equal(pred, res.predictions)


@pytest.mark.parametrize("layout", ["single", "flat", "fortran", "negative"])
def test_other_image_layouts(tmp_path, layout):
    path = DATA / "inputs" / f"{layout}.npy"
    (out, spikes, _, pred), res = run_both(tmp_path, "conv_pool_dense", path, 9, "analog", [4, 9])
    assert same_bits(out, res.outputs)
    assert same_bits(spikes, res.spikes.raw)


def test_uint8_images_are_scaled_as_python_scales_them(tmp_path):
    x = np.load(DATA / "uint8_readout.x.npy")
    assert x.dtype == np.uint8
    for encoding in ("analog", "regular", "poisson"):
        (out, spikes, _, _), res = run_both(tmp_path, "uint8_readout", DATA / "uint8_readout.x.npy",
                                            14, encoding, [2, 3, 7])
        assert same_bits(out, res.outputs) and same_bits(spikes, res.spikes.raw)


def test_readout_and_rate_settings(tmp_path):
    x = DATA / "junction.x.npy"
    (out, *_), res = run_both(tmp_path, "junction", x, 12, "regular", [4, 12],
                              extra=["--rate", "0.5", "--readout-start", "5"], rate=0.5,
                              readout_start=5)
    assert same_bits(out, res.outputs)
    assert np.all(out[:, 0] == 0)           # before the read-out starts
    # the file's hint (3) is the default, as in Python
    (out, *_), res = run_both(tmp_path, "uint8_readout", DATA / "uint8_readout.x.npy", 10, "analog",
                              [2, 10])
    assert snncore.load(DATA / "uint8_readout.npz").readout_start == 3
    assert same_bits(out, res.outputs) and np.all(out[:, 0] == 0)


def test_threads_do_not_change_the_results(tmp_path):
    name = "junction"
    results = []
    for threads in (1, 2, 5):
        o = tmp_path / f"o{threads}.npy"
        snnrun(DATA / f"{name}.npz", DATA / f"{name}.x.npy", "-T", 15, "-e", "poisson", "-j", threads,
               "-o", o, "-q")
        results.append(np.load(o))
    assert same_bits(results[0], results[1]) and same_bits(results[0], results[2])


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_isa_option_matches_python_with_the_same_kernels(tmp_path, isa, monkeypatch):
    name = "conv_pool_dense"
    probe = subprocess.run([str(SNNRUN), DATA / f"{name}.npz", DATA / f"{name}.x.npy", "--isa",
                            isa], capture_output=True, text=True, timeout=120)
    if probe.returncode == 3 and "has no" in probe.stderr:
        pytest.skip(f"this CPU has no {isa}")
    assert f"({isa} kernels)" in probe.stderr
    monkeypatch.setenv("SNNCORE_ISA", isa)
    (out, spikes, synops, _), res = run_both(tmp_path, name, DATA / f"{name}.x.npy", 17,
                                              "poisson", [5, 17], extra=["--isa", isa])
    assert snncore.load(DATA / f"{name}.npz").isa == isa
    assert same_bits(out, res.outputs) and same_bits(spikes, res.spikes.raw)
    assert same_bits(synops, res.synaptic_ops.raw)


def test_isa_option_and_variable_are_checked(tmp_path, monkeypatch):
    net, x = DATA / "junction.npz", DATA / "junction.x.npy"
    proc = snnrun(net, x, "--isa", "sse9", check=False)
    assert proc.returncode == 2 and "--isa must be auto, generic, avx2 or avx512" in proc.stderr
    monkeypatch.setenv("SNNCORE_ISA", "sse9")
    proc = snnrun(net, x, check=False)
    assert proc.returncode == 2 and "SNNCORE_ISA must be" in proc.stderr
    monkeypatch.setenv("SNNCORE_ISA", " Generic ")
    proc = snnrun(net, x)
    assert "(generic kernels)" in proc.stderr


def test_csv_matches_the_npy_results(tmp_path):
    name = "signed_zero"
    o, s = tmp_path / "o.npy", tmp_path / "s.npy"
    csv = snnrun(DATA / f"{name}.npz", DATA / f"{name}.x.npy", "-T", 10, "-c", "5", "--csv",
                 "-o", o, "--spikes", s, "-q").stdout.splitlines()
    out, spikes = np.load(o), np.load(s)
    n, n_cp, k = out.shape
    header = csv[0].split(",")
    assert header[:3] == ["image", "t", "prediction"] and len(csv) == 1 + n * n_cp
    for line in csv[1:]:
        cells = line.split(",")
        i, t = int(cells[0]), int(cells[1])
        c = [5, 10].index(t)
        assert int(cells[2]) == int(np.argmax(out[i, c]))
        assert np.array_equal(np.array(cells[3:3 + k], dtype=np.float32), out[i, c])
        assert [int(v) for v in cells[3 + k:3 + k + spikes.shape[2]]] == list(spikes[i, c])


@pytest.mark.parametrize("name", NETS)
def test_info_names_everything(name):
    info = snnrun("--info", DATA / f"{name}.npz").stdout
    net = snncore.load(DATA / f"{name}.npz")
    for p in net.populations:
        assert f"  {p.name}  {p.kind} " in info
    for q in net.projections:
        assert f"  {q.op}  {q.source} -> {q.target}" in info
    assert f"ANN needs {sum(net.ann_macs().values())} multiply-accumulates" in info


def test_exit_codes_for_bad_files(tmp_path):
    x = DATA / "conv_pool_dense.x.npy"
    assert snnrun(DATA / "corpus" / "cycle.npz", x, check=False).returncode == 3
    assert snnrun(DATA / "conv_pool_dense.npz", DATA / "inputs" / "float64.npy",
                  check=False).returncode == 4
    assert snnrun(DATA / "conv_pool_dense.npz", x, "--encoding", "nope", check=False).returncode == 2
