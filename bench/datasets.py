"""Real image data for the benchmarks, offline.

Fashion-MNIST comes from Debian's package `dataset-fashion-mnist`
(IDX files in /usr/share/datasets/fashion-mnist/).
"""

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
