"""A test's view of a network file's members, to inspect or damage them.

snncore has one reader of network files, the C library's; tests that need the
raw metadata and arrays of a valid file (to edit them and write a broken one)
take them with numpy.
"""

import json

import numpy as np

from snncore._npz import META_MEMBER


def read_npz(path_or_file):
    """``(meta, arrays)`` of a well-formed file: the decoded metadata (dict) and
    every other member (name without ``.npy`` -> ndarray)."""
    with np.load(path_or_file, allow_pickle=False) as z:
        arrays = {key: z[key] for key in z.files}
    return json.loads(arrays.pop(META_MEMBER).tobytes()), arrays
