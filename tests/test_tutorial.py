"""docs/tutorial.md, run as written: every ```sh and ```python block in
order, in a fresh directory that sees the source tree's bench/ (the model and
its weights) and build-c/ (snnrun), with the `snncore` command of this
Python on PATH. A block fails the test when it exits non-zero.

A block after the comment ``<!-- tutorial-test: built by ./dev test -->``
builds snnrun; it runs only when no snnrun was built already (./dev test
builds build-c/ first and says where, in $SNNRUN)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIAL = os.path.join(ROOT, "docs", "tutorial.md")
BUILT_BY_DEV = "<!-- tutorial-test: built by ./dev test -->"

BLOCK = re.compile(r"^(<!-- [^\n]* -->\n)?```(sh|python)\n(.*?)^```$", re.M | re.S)


def blocks():
    """[(language, code, marker)] of the tutorial, in order."""
    with open(TUTORIAL, encoding="utf-8") as f:
        text = f.read()
    return [(m.group(2), m.group(3), (m.group(1) or "").strip()) for m in BLOCK.finditer(text)]


def test_the_tutorial_has_its_blocks():
    found = blocks()
    assert [lang for lang, _, _ in found].count("python") >= 3
    assert sum("snncore convert" in code for _, code, _ in found) >= 1
    assert sum("build-c/snnrun" in code for _, code, _ in found) >= 1
    assert [marker for _, _, marker in found].count(BUILT_BY_DEV) == 1


def _snnrun():
    """The snnrun that ./dev test built, or one in the tree's build-c/."""
    path = os.environ.get("SNNRUN") or os.path.join(ROOT, "build-c", "snnrun")
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def _have_fashion_mnist():
    from snncore.datasets import fashion_mnist_dir
    return os.path.exists(os.path.join(fashion_mnist_dir(), "t10k-images-idx3-ubyte.gz"))


@pytest.mark.slow
def test_the_tutorial_runs_as_written(tmp_path):
    if not _have_fashion_mnist():
        pytest.skip("Fashion-MNIST is missing (Debian: apt-get install dataset-fashion-mnist; "
                    "./dev does)")
    snnrun = _snnrun()
    if snnrun is None and shutil.which("meson") is None:
        pytest.skip("no snnrun and no meson to build it (./dev test builds build-c/)")
    os.symlink(os.path.join(ROOT, "bench"), tmp_path / "bench")
    if snnrun:
        os.symlink(os.path.dirname(snnrun), tmp_path / "build-c")
    else:       # the build block builds it here, from the tree's sources
        for name in ("meson.build", "meson_options.txt", "csrc"):
            os.symlink(os.path.join(ROOT, name), tmp_path / name)
    bindir = os.path.dirname(sys.executable)     # the `snncore` command of this Python
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               PYTHONPATH=os.pathsep.join(
                   [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
               MPLBACKEND="Agg")
    for k, (lang, code, marker) in enumerate(blocks()):
        if marker == BUILT_BY_DEV and snnrun:
            continue
        if lang == "sh":
            cmd = ["bash", "-euo", "pipefail", "-c", code]
        else:
            script = tmp_path / f"block{k}.py"
            script.write_text(code)
            cmd = [sys.executable, str(script)]
        r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"block {k} ({lang}) failed:\n{code}\n{r.stdout}\n{r.stderr}"
    for name in ("fashion_cnn.npz", "report.html", "rates.png", "raster.svg", "accuracy.png",
                 "choose_t.png", "fashion_cnn_t8.npz"):
        assert (tmp_path / name).stat().st_size > 0, name
    _same_but_provenance(tmp_path / "fashion_cnn.npz", tmp_path / "fashion_cnn_exported.npz")


def _same_but_provenance(a, b):
    """The tutorial's claim: the exported model converts to the same network."""
    import snncore

    da, db = snncore.load(a).describe(), snncore.load(b).describe()
    da.pop("provenance"), db.pop("provenance")
    assert da == db
