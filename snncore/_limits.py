"""Size limits, read from the C library (snn_get_limits), which defines them.

Code that enforces a limit reads it from this module at call time
(``_limits.MAX_BYTES``, not ``from ._limits import MAX_BYTES``).
"""

from . import _core

__all__ = ["MAX_DIM", "MAX_NEURONS", "MAX_POPULATIONS", "MAX_PROJECTIONS", "MAX_META_BYTES",
           "MAX_BYTES", "MAX_NAME", "MAX_JSON_DEPTH", "MAX_TIMESTEPS", "FORMAT_VERSION"]

_L = _core.limits()
MAX_DIM = _L["max_dim"]                     # largest C, H, W or N of a population
MAX_NEURONS = _L["max_neurons"]             # largest population, in neurons
MAX_POPULATIONS = _L["max_populations"]
MAX_PROJECTIONS = _L["max_projections"]
MAX_META_BYTES = _L["max_meta_bytes"]       # the __snncore__ metadata member
MAX_BYTES = _L["max_bytes"]                 # default memory bound: weights + one state
MAX_NAME = _L["max_name"]                   # longest name, in characters
MAX_JSON_DEPTH = _L["max_json_depth"]       # deepest nesting of the metadata JSON
MAX_TIMESTEPS = _L["max_timesteps"]
FORMAT_VERSION = _core.FORMAT_VERSION       # newest network file version this code reads
del _L
