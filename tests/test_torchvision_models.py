"""torchvision's own classifiers through the converter: each either converts or is
refused with a ConversionError naming the layer, never another exception.

The groundwork for "Real-world architectures convert" (its torchvision coverage list):
the tables below are today's verdicts; a change to the converter that makes one more
architecture convert updates its row. Random weights, 64x64 inputs, 10 classes,
BatchNorm statistics settled on random images; the verdicts depend on the
architecture, not on the weights. tests/torchvision_models.py says how torchvision
is imported next to a CPU-only torch; without torchvision these tests skip.
"""

import re
import time
import warnings

import pytest

torch = pytest.importorskip("torch")

import torch.library  # noqa: E402

import torchvision_models  # noqa: E402  (tests/, on sys.path by conftest.py)

REGISTER_FAKE = torch.library.register_fake  # before torchvision's import, below

pytestmark = pytest.mark.slow

# Input sizes: 32x32, small enough for the whole file to take about a minute on two
# cores, except alexnet, whose first layers need 63x63 at least.
SIZE = 32
SIZES = {"alexnet": 64}
IMAGES = 8    # BatchNorm settling and calibration

CONVERTS = "converts"

# name -> CONVERTS, or (node named by the refusal, what the message says)
# from_torch(model, calibration, norm="percentile") with the default maxpool="refuse".
VERDICTS = {
    "alexnet": ("features_2", "max pooling has no exact spiking equivalent"),
    "vgg11_bn": ("features_3", "max pooling has no exact spiking equivalent"),
    "resnet18": ("maxpool", "max pooling has no exact spiking equivalent"),
    "resnet50": ("maxpool", "max pooling has no exact spiking equivalent"),
    "squeezenet1_1": ("features_2", "max pooling has no exact spiking equivalent"),
    "shufflenet_v2_x0_5": ("maxpool", "max pooling has no exact spiking equivalent"),
    "densenet121": ("features_pool0", "max pooling has no exact spiking equivalent"),
    "googlenet": ("maxpool1", "max pooling has no exact spiking equivalent"),
    "mobilenet_v2": CONVERTS,       # depthwise convolutions and ReLU6
    "mobilenet_v3_small": ("features_0_2", "Hardswish has no spiking equivalent"),
    "regnet_x_400mf": CONVERTS,     # grouped convolutions (groups=2 and more)
    "mnasnet0_5": CONVERTS,         # depthwise convolutions
    "efficientnet_b0": ("features_0_2", "SiLU has no spiking equivalent"),
}

# The same with maxpool="avg", for the models refused for max pooling: what is next.
VERDICTS_MAXPOOL_AVG = {
    "alexnet": ("avgpool", "adaptive average pooling from (1, 1) to (6, 6) has unequal windows"),
    "vgg11_bn": ("avgpool", "adaptive average pooling from (1, 1) to (7, 7) has unequal windows"),
    "resnet18": CONVERTS,
    "resnet50": CONVERTS,
    "squeezenet1_1": ("features_2", "AvgPool2d with ceil_mode=True is not supported"),
    "shufflenet_v2_x0_5": ("cat", "function cat is not supported"),
    "densenet121": ("cat", "function cat is not supported"),
    "googlenet": ("maxpool1", "AvgPool2d with ceil_mode=True is not supported"),
}


@pytest.fixture(scope="module")
def tv():
    ok, reason = torchvision_models.available()
    if not ok:
        pytest.skip(reason)
    return torchvision_models


def test_tables_cover_the_list():
    assert tuple(VERDICTS) == torchvision_models.CLASSIFIERS
    assert set(VERDICTS_MAXPOOL_AVG) == {
        name for name, v in VERDICTS.items() if v != CONVERTS and v[1].startswith("max pooling")}


def test_import_leaves_torch_as_it_was(tv):
    # the guard on torch.library.register_fake lasts for torchvision's import only
    assert torch.library.register_fake is REGISTER_FAKE
    assert REGISTER_FAKE.__module__ == "torch.library"


def settled(tv, name):
    """The model, BatchNorm statistics settled on random images, in eval(); and the
    calibration images."""
    torch.manual_seed(0)
    model = tv.classifier(name, num_classes=10)
    size = SIZES.get(name, SIZE)
    x = torch.rand(IMAGES, 3, size, size)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(x)
    return model.eval(), x


def verdict(model, x, **options):
    """CONVERTS, or the (node, message) of the ConversionError; any other exception
    fails the test (a converter bug: it must refuse naming the cause)."""
    from snncore import Network
    from snncore.convert import ConversionError, from_torch
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # maxpool='avg' warns per layer
            net = from_torch(model, calibration=x, norm="percentile", **options)
    except ConversionError as e:
        message = str(e)
        m = re.match(r"node '([^']+)' \(call_(?:module|function|method) [^)]+\) at \S+:\d+: ",
                     message)
        assert m, f"the refusal names no layer: {message}"
        return m.group(1), message
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"from_torch raised {type(e).__name__}, not ConversionError: {e}")
    assert isinstance(net, Network)
    return CONVERTS


def check(got, expected):
    if expected == CONVERTS or got == CONVERTS:
        assert got == expected, f"verdict {got!r}, expected {expected!r}"
        return
    node, message = got
    assert node == expected[0], f"refused at {node!r}, expected {expected[0]!r}: {message}"
    assert expected[1] in message, message


@pytest.mark.parametrize("name", list(VERDICTS))
def test_classifier_verdict(tv, name):
    t = time.perf_counter()
    model, x = settled(tv, name)
    check(verdict(model, x), VERDICTS[name])
    if name in VERDICTS_MAXPOOL_AVG:
        check(verdict(model, x, maxpool="avg"), VERDICTS_MAXPOOL_AVG[name])
    assert time.perf_counter() - t < 60, "keep this file's run short: a smaller input?"
