import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from datasets import fashion_mnist  # noqa: E402


@pytest.fixture(scope="session")
def fmnist_test():
    """Fashion-MNIST test images as float32 in [0, 1] (N, 1, 28, 28), and labels."""
    try:
        x, y = fashion_mnist("test")
    except FileNotFoundError as e:
        pytest.skip(str(e))
    return x.astype(np.float32) / 255, y
