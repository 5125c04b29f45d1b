"""Builds snncore's one extension module, snncore._core: the Cython glue in
python/ compiled together with the C engine in csrc/src and the file loader in
csrc/loader (the same sources and flags as meson.build, so both builds produce
the same numbers). The loader links libzip and jansson (Debian: libzip-dev,
libjansson-dev), found through pkg-config where it is installed.

Four facts come from files that meson.build reads too, so the builds cannot
drift: the C core's and the loader's sources (csrc/src/sources.txt and
csrc/loader/sources.txt, one path per line), the loader's libraries
(csrc/loader/dependencies.txt) and the version (SNN_VERSION_STRING
in csrc/include/snn.h)."""
import glob
import os
import re
import shutil
import subprocess

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_text(relpath):
    with open(os.path.join(HERE, relpath), encoding="utf-8") as f:
        return f.read()


def listed_sources(relpath):
    """The lines of a list file: sources (paths from the repository's root) or
    library names; blank lines ignored."""
    return [line.strip() for line in read_text(relpath).splitlines() if line.strip()]


def pkg_config(flag, packages, fallback):
    """pkg-config's answer for the loader's libraries, or `fallback` without it."""
    if shutil.which("pkg-config") is None:
        return fallback
    try:
        out = subprocess.run(["pkg-config", flag] + packages, check=True,
                             capture_output=True, text=True).stdout
    except subprocess.CalledProcessError:
        return fallback
    return [word[2:] for word in out.split()]


def header_version():
    """SNN_VERSION_STRING of csrc/include/snn.h: the package's one version number."""
    m = re.search(r'^#define\s+SNN_VERSION_STRING\s+"([^"]+)"',
                  read_text("csrc/include/snn.h"), re.MULTILINE)
    if not m:
        raise RuntimeError("csrc/include/snn.h defines no SNN_VERSION_STRING")
    return m.group(1)


SOURCES = listed_sources("csrc/src/sources.txt") + listed_sources("csrc/loader/sources.txt")
# The loader's libraries by their pkg-config names (meson.build reads the same
# file); without pkg-config, linked by those names less a "lib" prefix.
LOADER_LIBS = listed_sources("csrc/loader/dependencies.txt")
LOADER_LINK_NAMES = [re.sub(r"^lib", "", name) for name in LOADER_LIBS]

# The headers every source may include: a change to one rebuilds the extension
# (the kernels are compiled from headers included once per instruction set).
HEADERS = sorted(glob.glob("csrc/include/*.h") + glob.glob("csrc/src/*.h")
                 + glob.glob("csrc/loader/*.h"))

# No fused multiply-add contraction: every build rounds every sum identically.
COMPILE_ARGS = ["-O3", "-ffp-contract=off", "-D_POSIX_C_SOURCE=200809L"]

# SNNCORE_DEBUG=1 turns Cython's bounds checks back on for debugging.
DEBUG = os.environ.get("SNNCORE_DEBUG") == "1"
DIRECTIVES = {"language_level": 3, "boundscheck": DEBUG, "wraparound": False}

extension = Extension(
    "snncore._core",
    sources=["python/_core.pyx"] + SOURCES,
    include_dirs=["csrc/include", "csrc/loader", "python"]
                 + pkg_config("--cflags-only-I", LOADER_LIBS, []),
    depends=HEADERS,
    extra_compile_args=COMPILE_ARGS,
    library_dirs=pkg_config("--libs-only-L", LOADER_LIBS, []),
    libraries=pkg_config("--libs-only-l", LOADER_LIBS, LOADER_LINK_NAMES) + ["m", "pthread"],
)

setup(version=header_version(),
      ext_modules=cythonize([extension], compiler_directives=DIRECTIVES,
                            include_path=["python"]))
