"""Byte-level damage for fuzz tests of the loaders: a hypothesis strategy of
edit operations and the function that applies them to a file's bytes."""

from hypothesis import strategies as st

# (kind, position, value) edits; positions wrap around the data's length
OPS = st.lists(st.tuples(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
                         st.integers(0, 1 << 20), st.integers(0, 255)),
               min_size=1, max_size=4)


def mutate(data, ops):
    """`data` (bytes) with the edits of `ops` (drawn from OPS) applied in order."""
    data = bytearray(data)
    for kind, pos, value in ops:
        if not data:
            data = bytearray(b"\0")
        pos %= len(data)
        if kind == "flip":
            data[pos] ^= 1 << (value % 8)
        elif kind == "set":
            data[pos] = value
        elif kind == "insert":
            data[pos:pos] = bytes([value]) * (1 + value % 7)
        elif kind == "delete":
            del data[pos:pos + 1 + value % 7]
        else:  # truncate
            del data[pos:]
    return bytes(data)
