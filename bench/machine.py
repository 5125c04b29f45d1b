"""What machine a benchmark ran on (recorded in the JSON and in RESULTS.md)."""

import platform


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
