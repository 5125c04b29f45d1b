"""What machine a benchmark ran on (recorded in the JSON and in RESULTS.md)."""

import platform


def vector_extensions():
    """The x86 vector extensions that snncore's kernels can use on this CPU, widest
    first ("AVX-512F, AVX2, FMA"), from /proc/cpuinfo's flags; None elsewhere."""
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        return None
    names = [("avx512f", "AVX-512F"), ("avx2", "AVX2"), ("fma", "FMA"), ("sse2", "SSE2")]
    found = [name for flag, name in names if flag in flags]
    return ", ".join(found) if found else None


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (else platform.processor()), or None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None
