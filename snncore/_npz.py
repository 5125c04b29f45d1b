"""Writing snncore ``.npz`` network files (docs/format.md).

Reading is the C library's (csrc/loader, through ``snncore._spec.read``): one
reader, which trusts nothing in the file, for Python and C alike.
"""

import json
import os
import tempfile
import zipfile

import numpy as np
import numpy.lib.format as npformat

from . import _limits
from .errors import FormatError

__all__ = ["write_npz", "META_MEMBER"]

META_MEMBER = "__snncore__"

_U8 = np.dtype("u1")
_F32 = np.dtype("<f4")
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_ZIP64_THRESHOLD = (1 << 31) - (1 << 20)


def _short(e, limit=200):
    text = "%s: %s" % (type(e).__name__, e)
    return text if len(text) <= limit else text[:limit] + "..."

def write_npz(path_or_file, meta, arrays, compressed=False):
    """Write a network file.

    ``meta`` (a JSON-serialisable dict, no NaN/infinity) becomes the
    ``__snncore__`` member, written first; each entry of ``arrays`` becomes a
    little-endian C-order float32 ``.npy`` member (integer and float arrays are
    cast to float32).  Members are stored, or deflated when ``compressed``.
    The result loads with ``numpy.load(path, allow_pickle=False)``.  A path is
    written atomically (temporary file + rename) and used as given (no ``.npz``
    is appended).  The output bytes depend only on the arguments.
    """
    if not isinstance(meta, dict):
        raise FormatError("metadata must be a dict, not %s" % (type(meta).__name__,))
    try:
        text = json.dumps(meta, allow_nan=False, sort_keys=False, indent=None,
                          default=_json_default)
    except (TypeError, ValueError, RecursionError) as e:
        raise FormatError("metadata cannot be written as JSON (%s)" % (_short(e),)) from None
    raw = text.encode("utf-8")
    if len(raw) > _limits.MAX_META_BYTES:
        raise FormatError("metadata of %d bytes is larger than the %d allowed"
                          % (len(raw), _limits.MAX_META_BYTES))
    members = [(META_MEMBER, np.frombuffer(raw, dtype=_U8))]
    for key, value in arrays.items():
        if not isinstance(key, str) or not key or "/" in key or key.startswith("__"):
            raise FormatError("array name %r is not allowed (it must be a non-empty string "
                              "without '/', not starting with '__')" % (key,))
        a = np.asarray(value)
        if a.dtype.kind not in "fiu":
            raise FormatError("array %r: dtype %s cannot be written as float32" % (key, a.dtype))
        members.append((key, np.asarray(a, dtype=_F32, order="C")))
    compression = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED

    if isinstance(path_or_file, (str, bytes, os.PathLike)):
        path = os.fspath(path_or_file)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".snncore-", suffix=".npz.tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                _write_zip(f, members, compression)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    else:
        _write_zip(path_or_file, members, compression)


def _write_zip(f, members, compression):
    with zipfile.ZipFile(f, "w", compression=compression, allowZip64=True) as zf:
        for key, arr in members:
            info = zipfile.ZipInfo(key + ".npy", date_time=_FIXED_DATE)
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            big = arr.nbytes >= _ZIP64_THRESHOLD
            with zf.open(info, "w", force_zip64=big) as out:
                npformat.write_array(out, arr, allow_pickle=False)


def _json_default(obj):
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return obj.item()
    raise TypeError("Object of type %s is not JSON serializable" % (type(obj).__name__,))
