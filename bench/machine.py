"""What machine a benchmark ran on (recorded in the JSON and in RESULTS.md)."""

import platform


def _cpuinfo(field):
    """The value of the first /proc/cpuinfo line whose key is `field`
    (case-insensitive), or None (no such line, or no /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip().lower() == field:
                    return value.strip()
    except OSError:
        pass
    return None


def vector_extensions():
    """The x86 vector extensions that snncore's kernels can use on this CPU, widest
    first ("AVX-512F, AVX2, FMA"), from /proc/cpuinfo's flags; None elsewhere."""
    flags = set((_cpuinfo("flags") or "").split())
    names = [("avx512f", "AVX-512F"), ("avx2", "AVX2"), ("fma", "FMA"), ("sse2", "SSE2")]
    found = [name for flag, name in names if flag in flags]
    return ", ".join(found) if found else None


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (else platform.processor()), or None."""
    return _cpuinfo("model name") or platform.processor() or None
