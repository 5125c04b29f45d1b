import os
import sys

# tests/ holds helper modules (reference.py, netgen.py) imported by name.
sys.path.insert(0, os.path.dirname(__file__))


# -- trained digits networks for the converter tests (tests/models.py) ----------

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    """(x_train, y_train, x_test, y_test) of sklearn's 8x8 digits, in [0, 1]."""
    pytest.importorskip("sklearn")
    import models
    return models.digits()


@pytest.fixture(scope="session")
def trained():
    """trained(name) -> the model of tests/models.py trained on the digits,
    once per session ('cnn', 'vgg', 'resnet', 'leaky', 'mobile'). Do not modify it."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    import models
    return models.trained
