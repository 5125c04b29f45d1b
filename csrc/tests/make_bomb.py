"""Writes tests/bomb/shape_mismatch.npz: a compressed bomb.

Its member w.npy is about 2 MB of deflate that inflates to 2 GiB: a .npy header
declaring shape (2**29,) float32, then 2 GiB of zeros. The metadata wants a dense
weight of shape (10, 4), so a reader must refuse the file (snn_net_check:
SNN_E_SHAPE, projection 0) having inflated the header only.

The archive is written by hand (zipfile cannot store a ready-made deflate stream).
Needs only the standard library; takes a few seconds. The file is kept out of
tests/data, whose files seed the fuzzer.
usage: python3 csrc/tests/make_bomb.py [OUT]
"""
import json
import struct
import sys
import zlib

COUNT = 1 << 29                      # float32 values: 2 GiB of data
CHUNK = 1 << 24


def npy_header(descr, shape):
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    text = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, dims)
    total = (10 + len(text) + 1 + 63) // 64 * 64
    text = text + " " * (total - 10 - len(text) - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("ascii")


def stored(name, data):
    return name, 0, data, zlib.crc32(data), len(data)


def deflated_zeros(name, header, n_zero_bytes):
    comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    parts = [comp.compress(header)]
    crc = zlib.crc32(header)
    zeros = bytes(CHUNK)
    left = n_zero_bytes
    while left:
        piece = zeros if left >= CHUNK else bytes(left)
        parts.append(comp.compress(piece))
        crc = zlib.crc32(piece, crc)
        left -= len(piece)
    parts.append(comp.flush())
    return name, 8, b"".join(parts), crc, len(header) + n_zero_bytes


def archive(members):
    out, central = [], []
    offset = 0
    for name, method, data, crc, size in members:
        raw = name.encode("ascii")
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data),
                            size, len(raw), 0) + raw
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21,
                                   crc, len(data), size, len(raw), 0, 0, 0, 0, 0, offset) + raw)
        out += [local, data]
        offset += len(local) + len(data)
    cd = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cd), offset, 0)
    return b"".join(out) + cd + end


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/bomb/shape_mismatch.npz"
    meta = {
        "format": "snncore", "version": 1, "producer": "csrc/tests/make_bomb.py",
        "input": {"population": "in"}, "output": "out",
        "populations": [{"name": "in", "kind": "input", "shape": [4]},
                        {"name": "out", "kind": "accumulate", "shape": [10]}],
        "projections": [{"name": "fc", "op": "dense", "source": "in", "target": "out",
                         "weight": "w"}],
    }
    text = json.dumps(meta).encode("utf-8")
    members = [stored("__snncore__.npy", npy_header("|u1", [len(text)]) + text),
               deflated_zeros("w.npy", npy_header("<f4", [COUNT]), 4 * COUNT)]
    with open(path, "wb") as f:
        f.write(archive(members))


if __name__ == "__main__":
    main()
