"""Builds snncore's one extension module, snncore._core: the Cython glue in
python/ compiled together with the C engine in csrc/src (the same sources and
flags as meson.build, so both builds produce the same numbers)."""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

# Keep this list in step with meson.build (tests/test_build.py checks it).
CORE_SOURCES = [
    "csrc/src/batch.c",
    "csrc/src/check.c",
    "csrc/src/error.c",
    "csrc/src/fire.c",
    "csrc/src/names.c",
    "csrc/src/net.c",
    "csrc/src/run.c",
    "csrc/src/runner.c",
    "csrc/src/scatter.c",
    "csrc/src/sync.c",
    "csrc/src/team.c",
]

# No fused multiply-add contraction: every build rounds every sum identically.
COMPILE_ARGS = ["-O3", "-ffp-contract=off", "-D_POSIX_C_SOURCE=200809L"]

# SNNCORE_DEBUG=1 turns Cython's bounds checks back on for debugging.
DEBUG = os.environ.get("SNNCORE_DEBUG") == "1"
DIRECTIVES = {"language_level": 3, "boundscheck": DEBUG, "wraparound": False}

extension = Extension(
    "snncore._core",
    sources=["python/_core.pyx"] + CORE_SOURCES,
    include_dirs=["csrc/include", "python"],
    extra_compile_args=COMPILE_ARGS,
    libraries=["m", "pthread"],
)

setup(ext_modules=cythonize([extension], compiler_directives=DIRECTIVES,
                            include_path=["python"]))
