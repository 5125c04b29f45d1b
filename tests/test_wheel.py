"""The package as a user gets it: `python -m build` on a clean copy of the
repository makes an sdist and then a wheel from that sdist (so the sdist is known
to hold everything a build needs); the wheel is installed, not editable, into a
fresh virtual environment, and README's Python example runs there.

The copy is of the working tree (uncommitted changes included), without build
directories, compiled modules, Cython's generated C and caches. The new
environment sees the running interpreter's packages (torch, numpy) but gets
snncore only from the wheel; the example checks that it imports the installed
copy. About a minute, most of it compiling the C core."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Left out of the copy at the repository's root: build trees, environments, VCS data.
ROOT_IGNORED = ("build", ".venv", ".git", "dist")
# Left out at any depth.
ANY_IGNORED = ("__pycache__", ".pytest_cache", ".hypothesis", ".benchmarks")
SUFFIX_IGNORED = (".so", ".pyd", ".o", ".egg-info")

# README's "Using it from Python", on a small CNN and random images.
EXAMPLE = textwrap.dedent('''
    import os, sys, sysconfig, tempfile
    import numpy as np
    import torch
    import snncore
    from snncore.convert import from_torch, check, low_latency_options

    site = os.path.realpath(sysconfig.get_paths()["platlib"])
    where = os.path.realpath(snncore.__file__)
    assert where.startswith(site + os.sep), (where, site)
    assert os.path.realpath(sys.modules["snncore.convert"].__file__).startswith(site + os.sep)
    print("version", snncore.__version__)

    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 10)).eval()
    rng = np.random.default_rng(0)
    x_train = rng.random((200, 1, 8, 8), dtype=np.float32)
    x_test = rng.random((40, 1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        y_test = model(torch.from_numpy(x_test)).argmax(1).numpy()

    print(check(model))
    net = from_torch(model, calibration=x_train[:100])
    net = from_torch(model, x_train[:100], **low_latency_options(model, timesteps=8))
    path = os.path.join(tempfile.mkdtemp(), "net.npz")
    net.save(path)

    net = snncore.load(path)
    print(net.summary())
    res = net.run(x_test, timesteps=32, encoding="analog", checkpoints=[8, 16, 32])
    assert res.output.shape == (40, 10), res.output.shape
    assert res.predictions.shape == (40,)
    curve = res.curve(y_test)
    assert len(curve) == 3 and all(0.0 <= a <= 1.0 for a in curve), curve
    assert res.spikes and res.synaptic_ops
    est = snncore.estimate_energy(res, net)
    print("curve", list(curve), "energy ratio", list(est.ratio))
''')


def _ignore(directory, names):
    at_root = os.path.abspath(directory) == ROOT
    ignored = set()
    for name in names:
        if (name in ANY_IGNORED or name.endswith(SUFFIX_IGNORED)
                or (at_root and name.startswith(ROOT_IGNORED))
                or (os.path.basename(directory) == "python" and name == "_core.c")):
            ignored.add(name)
    return ignored


def _cannot_build(reason):
    """Skip where a build is impossible, but never in CI, which must run this test."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI cannot build the wheel: {reason}")
    pytest.skip(f"cannot build the wheel here: {reason}")


def _run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{shlex.join(map(str, cmd))} exited {proc.returncode}\n"
                             f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return proc.stdout


def _header_version():
    with open(os.path.join(ROOT, "csrc", "include", "snn.h"), encoding="utf-8") as f:
        return re.search(r'^#define\s+SNN_VERSION_STRING\s+"([^"]+)"', f.read(),
                         re.MULTILINE).group(1)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist and the wheel built from it: (sdist path, wheel path)."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None and shutil.which("cc") is None:
        _cannot_build(f"no C compiler ({cc} or cc)")
    try:
        import build  # noqa: F401
    except ImportError:
        _cannot_build("the `build` package is missing (pip install 'snncore[test]')")

    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=_ignore, symlinks=True)
    out = base / "dist"
    # Without --sdist/--wheel, build makes the sdist and then the wheel from it.
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(src)])
    sdists = sorted(out.glob("*.tar.gz"))
    wheels = sorted(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, os.listdir(out)
    return sdists[0], wheels[0]


def test_sdist_holds_the_sources(dist):
    sdist, _ = dist
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        names = {n[len(top) + 1:] for n in tar.getnames()}
    sources = [line.strip() for line in
               open(os.path.join(ROOT, "csrc", "src", "sources.txt"), encoding="utf-8")
               if line.strip()]
    needed = ["README.md", "pyproject.toml", "setup.py", "meson.build", "meson_options.txt",
              "csrc/src/sources.txt", "csrc/include/snn.h", "csrc/src/internal.h",
              "python/_core.pyx", "python/snn.pxd", "snncore/__init__.py",
              "snncore/convert/__init__.py", "snncore/convert/pipeline.py",
              "cross/debian-arm64.ini", "cross/debian-armhf.ini"] + sources
    missing = [n for n in needed if n not in names]
    assert not missing, missing
    assert "python/_core.c" not in names
    assert not [n for n in names if n.endswith(".so")]
    assert top == f"snncore-{_header_version()}"


def test_wheel_holds_the_packages(dist):
    _, wheel = dist
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert "snncore/__init__.py" in names
    assert "snncore/convert/__init__.py" in names
    assert [n for n in names if re.fullmatch(r"snncore/_core\..*(so|pyd)", n)], names
    assert os.path.basename(wheel).startswith(f"snncore-{_header_version()}-")


def test_readme_example_runs_from_the_installed_wheel(dist, tmp_path):
    pytest.importorskip("torch")
    _, wheel = dist
    venv = tmp_path / "venv"
    try:
        _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    except AssertionError as e:
        _cannot_build(f"python -m venv failed: {e}")
    py = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # torch and numpy come from the interpreter running the tests, which may itself
    # be a virtual environment: add its site directories after the new one's own
    # (a plain path line, so their .pth files, an editable snncore's among them,
    # are not run).
    outer = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    venv_site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    with open(os.path.join(venv_site, "_snncore_test_outer.pth"), "w", encoding="utf-8") as f:
        f.write("".join(p + "\n" for p in sorted(outer)))
    _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)])
    script = tmp_path / "example.py"
    script.write_text(EXAMPLE, encoding="utf-8")
    out = _run([str(py), str(script)], cwd=tmp_path)
    assert f"version {_header_version()}" in out, out
    assert "curve" in out, out
