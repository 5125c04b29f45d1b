"""Size limits shared by the Python layer and the C core.

The C core reports the same numbers through ``snn_get_limits``; a test compares
them.  Code that enforces a limit reads it from this module at call time
(``_limits.MAX_BYTES``, not ``from ._limits import MAX_BYTES``) so that tests can
lower it with ``monkeypatch``.
"""

__all__ = [
    "MAX_DIM",
    "MAX_NEURONS",
    "MAX_POPULATIONS",
    "MAX_PROJECTIONS",
    "MAX_META_BYTES",
    "MAX_BYTES",
    "MAX_NAME",
    "MAX_JSON_DEPTH",
    "MAX_TIMESTEPS",
    "FORMAT_VERSION",
    "estimate_bytes",
]

MAX_DIM = 2 ** 24               # largest C, H, W or N of a population
MAX_NEURONS = 2 ** 28           # largest population, in neurons
MAX_POPULATIONS = 4096
MAX_PROJECTIONS = 16384
MAX_META_BYTES = 16 * 2 ** 20   # the __snncore__ metadata member
MAX_BYTES = 8 * 2 ** 30         # default memory limit: weights + one image's state
MAX_NAME = 200                  # longest population / projection name, in characters
MAX_JSON_DEPTH = 64             # deepest nesting of the metadata JSON (as the C loader)
MAX_TIMESTEPS = 2 ** 30         # (the C core's limit on T, mirrored here)
FORMAT_VERSION = 1              # newest network file version this code reads


def estimate_bytes(spec):
    """Estimated memory, in bytes, that a normalised network spec needs.

    ``4 * (weight elements of all projections)`` (a weight array referenced by
    several projections counts once per projection)
    ``+ 16 * (neurons of all populations)`` (per-image state)
    ``+ 64 * (number of populations + number of projections)``.
    """
    pops = spec["populations"]
    projs = spec["projections"]
    weights = 0
    for proj in projs:
        w = proj.get("weight")
        if w is not None:
            weights += int(w.size)
    neurons = 0
    for pop in pops:
        c, h, w = pop["shape"]
        neurons += int(c) * int(h) * int(w)
    return 4 * weights + 16 * neurons + 64 * (len(pops) + len(projs))
