"""torchvision's own classifiers through the converter: each either converts, and its
SNN follows its ANN at T=256, or is refused with a ConversionError naming the layer,
never another exception.

The table below holds today's verdicts; a change to the converter that makes one more
architecture convert updates its row. Random weights, 32x32 inputs (alexnet 64x64), 10
classes, BatchNorm statistics settled on random images; the verdicts depend on the
architecture, not on the weights. tests/torchvision_models.py says how torchvision
is imported next to a CPU-only torch; without torchvision these tests skip.
"""

import warnings

import pytest

torch = pytest.importorskip("torch")

import torch.library  # noqa: E402

import torchvision_models  # noqa: E402  (tests/, on sys.path by conftest.py)

REGISTER_FAKE = torch.library.register_fake  # before torchvision's import, below

pytestmark = pytest.mark.slow

# Input size: 32x32, small enough for the whole file to take about a minute on two
# cores (alexnet, whose first layers need 63x63 at least, takes 64x64: MIN_SIZE).
SIZE = 32
IMAGES = 8    # BatchNorm settling and calibration

CONVERTS = "converts"

# name -> CONVERTS, or (node named by the refusal, what the message says)
# from_torch(model, calibration, norm="percentile") with the default maxpool="spike".
VERDICTS = {
    "alexnet": CONVERTS,
    "vgg11_bn": CONVERTS,
    "resnet18": CONVERTS,
    "resnet50": CONVERTS,
    "squeezenet1_1": CONVERTS,
    "shufflenet_v2_x0_5": CONVERTS,
    "densenet121": CONVERTS,
    "googlenet": CONVERTS,
    "mobilenet_v2": CONVERTS,       # depthwise convolutions and ReLU6
    "mobilenet_v3_small": ("features_0_2", "Hardswish has no spiking equivalent"),
    "regnet_x_400mf": CONVERTS,     # grouped convolutions (groups=2 and more)
    "mnasnet0_5": CONVERTS,         # depthwise convolutions
    "efficientnet_b0": ("features_0_2", "SiLU has no spiking equivalent"),
}

# How closely each converted SNN follows its ANN at T=256 on fresh random images.
TRACK_STEPS = 256
TRACK_ARGMAX = 0.75     # the share of images whose argmax agrees
TRACK_CORRELATION = 0.98


@pytest.fixture(scope="module")
def tv():
    ok, reason = torchvision_models.available()
    if not ok:
        pytest.skip(reason)
    return torchvision_models


def test_tables_cover_the_list():
    assert tuple(VERDICTS) == torchvision_models.CLASSIFIERS


def test_import_leaves_torch_as_it_was(tv):
    # the guard on torch.library.register_fake lasts for torchvision's import only
    assert torch.library.register_fake is REGISTER_FAKE
    assert REGISTER_FAKE.__module__ == "torch.library"


def verdict(model, x, **options):
    """The Network, or the (node, message) of the ConversionError; any other
    exception fails the test (a converter bug: it must refuse naming the cause)."""
    from snncore import Network
    from snncore.convert import ConversionError, from_torch
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # maxpool='avg' warns per layer
            net = from_torch(model, calibration=x, norm="percentile", **options)
    except ConversionError as e:
        message = str(e)
        named = torchvision_models.refused_layer(message)
        assert named, f"the refusal names no layer: {message}"
        return named[0], message
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"from_torch raised {type(e).__name__}, not ConversionError: {e}")
    assert isinstance(net, Network)
    return net


def check(got, expected):
    if expected == CONVERTS or not isinstance(got, tuple):
        assert expected == CONVERTS and not isinstance(got, tuple), \
            f"verdict {got!r}, expected {expected!r}"
        return
    node, message = got
    assert node == expected[0], f"refused at {node!r}, expected {expected[0]!r}: {message}"
    assert expected[1] in message, message


@pytest.mark.parametrize("name", list(VERDICTS))
def test_classifier_verdict(tv, name):
    """Each converts and its SNN follows its ANN at T=256, or is refused naming
    the layer and why."""
    model, x = tv.settled(name, SIZE, IMAGES)
    got = verdict(model, x)
    check(got, VERDICTS[name])
    if VERDICTS[name] == CONVERTS:
        agree, corr = tv.tracking(model, x, got, TRACK_STEPS)
        assert agree >= TRACK_ARGMAX and corr >= TRACK_CORRELATION, (agree, corr)


def same_network(a, b):
    """The same layers, names, thresholds and weights, and the same outputs."""
    import numpy as np

    da, db = a.describe(), b.describe()
    da.pop("provenance"), db.pop("provenance")      # which holds the conversion's seconds
    assert da == db
    x = np.random.default_rng(1).random((2,) + a.input_shape, dtype=np.float32)
    np.testing.assert_array_equal(a.run(x, timesteps=8).outputs, b.run(x, timesteps=8).outputs)


# Exported and converted in CI: between them every ATen operator that the classifiers
# above export to (max pooling with ceil_mode, residual additions, concatenation, the
# channel shuffle's view and transpose, chunk, ReLU6, depthwise convolutions, dropout,
# global means and adaptive pooling, flatten) and a refusal (Hardswish); the rest take
# minutes more (VGG's, DenseNet's and ResNet-50's exports are the slowest) and pass too
# (pytest -k exported with EXPORTED = VERDICTS).
EXPORTED = ("resnet18", "shufflenet_v2_x0_5", "mobilenet_v2", "googlenet", "mnasnet0_5",
            "mobilenet_v3_small")


@pytest.mark.parametrize("name", EXPORTED)
def test_exported_classifier_converts_as_the_python_model(tv, name):
    """The classifier as a torch.export program (exported on one image, so with the
    batch size fixed at 1) gets the verdict of its Python model: the same network,
    names included, or a refusal for the same reason."""
    model, x = tv.settled(name, SIZE, IMAGES)
    program = torch.export.export(model, (x[:1],))
    python, exported = verdict(model, x), verdict(program, x)
    if VERDICTS[name] == CONVERTS:
        same_network(python, exported)
    else:
        assert isinstance(exported, tuple), exported
        assert VERDICTS[name][1].lower() in exported[1].lower(), exported[1]
