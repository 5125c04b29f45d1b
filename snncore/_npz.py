"""Safe reading and writing of snncore ``.npz`` network files.

The reader trusts nothing in the file: it never unpickles, checks every size
against what the archive really holds *before* allocating, bounds every header
it parses and turns every kind of damage into :class:`~snncore.errors.FormatError`.
See docs/format.md for the format.

:class:`Archive` checks the container only (zip members, ``.npy`` headers and
dtypes, the metadata's JSON syntax) and parses every member's header without
reading its data; ``snncore._spec`` turns the metadata into a network
description, and the C library checks its meaning before any array is read.
"""

import io
import json
import math
import os
import struct
import tempfile
import warnings
import zipfile
import zlib

import numpy as np
import numpy.lib.format as npformat

from . import _limits
from ._spec import _F32, _dtype_problem, _tname
from .errors import FormatError

__all__ = ["Archive", "read_npz", "write_npz", "META_MEMBER"]

META_MEMBER = "__snncore__"

_MAX_MEMBERS = 100_000
_MAX_HEADER = 10_000          # bytes of a .npy header dict (numpy's own default bound)
_MAX_NDIM = 32
_MAX_NPY_DIM = 1 << 62        # the largest dimension a header may give (as csrc/loader/npy.h)
_CHUNK = 1 << 20
_DEFLATE_MAX_RATIO = 1100     # deflate cannot expand more than ~1032:1
_NPY_MAGIC = b"\x93NUMPY"
_U8 = np.dtype("u1")
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_ZIP64_THRESHOLD = (1 << 31) - (1 << 20)

# What the zipfile / zlib / struct machinery raises on a damaged archive.
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    struct.error,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    IndexError,
    KeyError,
)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

class Header:
    """A member's parsed ``.npy`` header: ``shape`` (tuple), ``fortran``, and
    where its data starts."""

    __slots__ = ("shape", "fortran", "offset", "info")

    def __init__(self, shape, fortran, offset, info):
        self.shape, self.fortran, self.offset, self.info = shape, fortran, offset, info


class Archive:
    """A network file opened for reading (a context manager).

    Opening it checks the archive and its members' names and sizes, reads and
    parses the metadata (``meta``, a dict), and parses every other member's
    ``.npy`` header (``headers``: array name -> :class:`Header`) without reading
    any array data; ``read(name)`` then reads one array.

    Parameters
    ----------
    path_or_file : str, bytes, os.PathLike or binary file object

    Raises
    ------
    FormatError
        For anything that is not a well-formed container; OSError (e.g.
        FileNotFoundError) only when the path itself cannot be opened.
    """

    def __init__(self, path_or_file):
        self._own = None
        if isinstance(path_or_file, (str, bytes, os.PathLike)):
            f = self._own = open(path_or_file, "rb")
        else:
            f = path_or_file
        try:
            self._open(f)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        zf, self._zf = getattr(self, "_zf", None), None
        if zf is not None:
            zf.close()
        if self._own is not None:
            self._own.close()
            self._own = None

    def _open(self, f):
        try:
            seekable = f.seekable()
        except (AttributeError, OSError, ValueError):
            seekable = False
        if not seekable:
            f = io.BytesIO(f.read())
        try:
            start = f.tell()
            archive_size = f.seek(0, io.SEEK_END) - start
            f.seek(start)
            self._zf = zipfile.ZipFile(f, "r")
            infos = self._zf.infolist()
        except _ARCHIVE_ERRORS as e:
            raise FormatError("not a zip archive, or a truncated or damaged one (%s)"
                              % (e,)) from None
        if len(infos) > _MAX_MEMBERS:
            raise FormatError("the archive has %d members, more than the %d allowed"
                              % (len(infos), _MAX_MEMBERS))
        members = {}
        for info in infos:
            key = _member_key(info)
            if key in members:
                raise FormatError("member %r appears twice in the archive" % (info.filename,))
            _check_member_sizes(info, archive_size)
            members[key] = info
        if META_MEMBER not in members:
            raise FormatError("no %s.npy member: this is not an snncore network file"
                              % META_MEMBER)
        self.meta = _read_meta(self._zf, members.pop(META_MEMBER))
        self.headers = {key: _member_header(self._zf, info, _F32) for key, info in members.items()}

    def read(self, key):
        """The array `key` (its header already checked): C-contiguous float32."""
        return _read_data(self._zf, self.headers[key], _F32)


def read_npz(path_or_file):
    """Read a whole network file: ``(meta, arrays)``, every member read.

    ``arrays`` maps every member's name (without ``.npy``) to a C-contiguous
    little-endian float32 array. `snncore.load` reads only what the network
    references, after checking it; this is for tools and tests.
    """
    with Archive(path_or_file) as ar:
        return ar.meta, {key: ar.read(key) for key in ar.headers}


def _member_key(info):
    name = info.filename
    if "/" in name:
        raise FormatError("member %r: names with '/' are not allowed" % (name,))
    if not name.endswith(".npy"):
        raise FormatError("member %r: not a .npy member (the name does not end in .npy)"
                          % (name,))
    key = name[:-4]
    if not key:
        raise FormatError("member %r: empty array name" % (name,))
    if key.startswith("__") and key != META_MEMBER:
        raise FormatError("member %r: array names starting with '__' are reserved" % (name,))
    if info.flag_bits & 0x1:
        raise FormatError("member %r is encrypted" % (name,))
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise FormatError("member %r uses compression method %d; only stored and deflated "
                          "members are allowed" % (name, info.compress_type))
    return key


def _check_member_sizes(info, archive_size):
    name = info.filename
    if info.file_size < 0 or info.compress_size < 0:
        raise FormatError("member %r: negative size in the zip directory" % (name,))
    if info.compress_size > archive_size:
        raise FormatError("member %r: declares %d compressed bytes but the archive holds "
                          "only %d: truncated archive" % (name, info.compress_size, archive_size))
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise FormatError("member %r: stored member whose sizes disagree (%d vs %d)"
                              % (name, info.file_size, info.compress_size))
    elif info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024:
        raise FormatError("member %r: declares %d bytes from only %d compressed bytes, "
                          "which deflate cannot produce" % (name, info.file_size,
                                                            info.compress_size))


def _read_exact(stream, n, name, what):
    """Read exactly n bytes from a zip member stream (n already bounded)."""
    parts = []
    left = n
    while left > 0:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            raise FormatError("member %r: ends inside the %s" % (name, what))
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _parse_npy_header(stream, name):
    """Read and check a .npy header; return (shape, fortran_order, dtype, header_bytes)."""
    prefix = _read_exact(stream, 8, name, ".npy header")
    if not prefix.startswith(_NPY_MAGIC):
        raise FormatError("member %r: not a .npy array (bad magic bytes)" % (name,))
    version = (prefix[6], prefix[7])
    if version == (1, 0):
        len_fmt, reader = "<H", npformat.read_array_header_1_0
    elif version == (2, 0):
        len_fmt, reader = "<I", npformat.read_array_header_2_0
    else:
        raise FormatError("member %r: unsupported .npy format version %d.%d"
                          % (name, version[0], version[1]))
    len_bytes = _read_exact(stream, struct.calcsize(len_fmt), name, ".npy header")
    (hlen,) = struct.unpack(len_fmt, len_bytes)
    if hlen > _MAX_HEADER:
        raise FormatError("member %r: .npy header of %d bytes is larger than the %d allowed"
                          % (name, hlen, _MAX_HEADER))
    header = _read_exact(stream, hlen, name, ".npy header")
    buf = io.BytesIO(prefix + len_bytes + header)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            npformat.read_magic(buf)
            shape, fortran_order, dtype = reader(buf, max_header_size=_MAX_HEADER)
    except Exception as e:  # numpy parses attacker-controlled text here: any failure is damage
        raise FormatError("member %r: broken .npy header (%s)" % (name, _short(e))) from None
    if not isinstance(shape, tuple) or len(shape) > _MAX_NDIM:
        raise FormatError("member %r: .npy header has an invalid shape" % (name,))
    for d in shape:
        if type(d) is not int or not 0 <= d <= _MAX_NPY_DIM:
            raise FormatError("member %r: .npy header has an invalid shape %r" % (name, shape))
    return shape, bool(fortran_order), dtype, len(prefix) + len(len_bytes) + hlen


def _check_dtype(dtype, name, expected):
    problem = _dtype_problem(dtype, expected)
    if problem:
        raise FormatError("member %r: %s" % (name, problem))


def _member_header(zf, info, dtype):
    """A member's checked .npy header: of `dtype`, declaring the member's size."""
    name = info.filename
    try:
        with zf.open(info) as stream:
            shape, fortran, got, offset = _parse_npy_header(stream, name)
    except FormatError:
        raise
    except _ARCHIVE_ERRORS as e:
        raise FormatError("member %r: damaged or truncated (%s)" % (name, _short(e))) from None
    _check_dtype(got, name, dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if info.file_size != offset + nbytes:
        raise FormatError("member %r: the .npy header declares shape %r (%d data bytes) but "
                          "the member holds %d data bytes"
                          % (name, shape, nbytes, info.file_size - offset))
    return Header(shape, fortran, offset, info)


def _read_data(zf, header, dtype):
    """Read a member's data after its header: exactly the bytes the header
    declares (already checked against the member's size), then the end of the
    member, which checks its CRC."""
    info, offset, shape = header.info, header.offset, header.shape
    name = info.filename
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    try:
        with zf.open(info) as stream:
            _read_exact(stream, offset, name, ".npy header")
            arr = np.empty(count, dtype=dtype)
            view = memoryview(arr).cast("B") if count else memoryview(b"")
            pos = 0
            while pos < nbytes:
                chunk = stream.read(min(_CHUNK, nbytes - pos))
                if not chunk:
                    raise FormatError("member %r: ends inside the array data" % (name,))
                view[pos:pos + len(chunk)] = chunk
                pos += len(chunk)
            if stream.read(1):
                raise FormatError("member %r: holds more data than its header declares"
                                  % (name,))
    except FormatError:
        raise
    except _ARCHIVE_ERRORS as e:
        raise FormatError("member %r: damaged or truncated (%s)" % (name, _short(e))) from None
    if len(shape) > 1 and header.fortran:
        return np.ascontiguousarray(arr.reshape(shape[::-1]).T)
    return arr.reshape(shape)


def _read_meta(zf, info):
    h = _member_header(zf, info, _U8)
    if len(h.shape) != 1:
        raise FormatError("member %r: metadata must be a 1-D uint8 array, got shape %r"
                          % (info.filename, h.shape))
    if h.shape[0] > _limits.MAX_META_BYTES:
        raise FormatError("member %r: %d elements, more than the %d allowed"
                          % (info.filename, h.shape[0], _limits.MAX_META_BYTES))
    return parse_meta(_read_data(zf, h, _U8).tobytes())


def parse_meta(raw):
    """Decode the UTF-8 JSON metadata bytes into a dict (strictly)."""
    if len(raw) > _limits.MAX_META_BYTES:
        raise FormatError("metadata of %d bytes is larger than the %d allowed"
                          % (len(raw), _limits.MAX_META_BYTES))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError("metadata (%s.npy) is not valid UTF-8 (%s)" % (META_MEMBER, e)) from None
    try:
        meta = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float,
                          object_pairs_hook=_unique_object)
    except FormatError:
        raise
    except RecursionError:
        raise FormatError("metadata (%s.npy) is not valid JSON: nested too deeply"
                          % (META_MEMBER,)) from None
    except (ValueError, TypeError, OverflowError, MemoryError) as e:
        raise FormatError("metadata (%s.npy) is not valid JSON (%s)"
                          % (META_MEMBER, _short(e))) from None
    if not isinstance(meta, dict):
        raise FormatError("metadata (%s.npy) must be a JSON object, not %s"
                          % (META_MEMBER, _tname(meta)))
    _check_depth(meta)
    _check_version_early(meta)
    return meta


def _check_depth(meta):
    """Refuse JSON with a value deeper than MAX_JSON_DEPTH levels (the top object
    is level 1; scalars count too), as the C loader does, so that nothing later
    recurses without bound."""
    stack = [(meta, 1)]
    while stack:
        value, depth = stack.pop()
        children = list(value.values() if isinstance(value, dict) else value)
        if children and depth + 1 > _limits.MAX_JSON_DEPTH:
            raise FormatError("metadata (%s.npy) is nested too deeply (more than %d levels)"
                              % (META_MEMBER, _limits.MAX_JSON_DEPTH))
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _reject_constant(word):
    raise FormatError("metadata (%s.npy) is not valid JSON: %s is not a JSON number"
                      % (META_MEMBER, word))


def _parse_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise FormatError("metadata (%s.npy): the number %s is out of range"
                          % (META_MEMBER, text[:40]))
    return value


def _unique_object(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise FormatError("metadata (%s.npy): key %r appears twice in one JSON object"
                              % (META_MEMBER, k))
        obj[k] = v
    return obj


def _check_version_early(meta):
    # Refuse files from a newer writer before anything else can fail on them.
    version = meta.get("version")
    if (meta.get("format") == "snncore" and type(version) is int
            and version > _limits.FORMAT_VERSION):
        raise FormatError("format version %d is newer than this snncore supports (%d); "
                          "upgrade snncore" % (version, _limits.FORMAT_VERSION))


def _short(e, limit=200):
    text = "%s: %s" % (type(e).__name__, e)
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

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
