"""Small trained networks on sklearn's 8x8 digits, for the converter tests.

The data: ``digits.images / 16`` as (N, 1, 8, 8) float32 in [0, 1], shuffled by
a fixed permutation, split into the first 1300 images (train) and the other
497 (test). The four architectures are the issue's cases: a ReLU CNN, a
VGG-style net with BatchNorm and Dropout, a residual net (custom forward with
``+`` and ``F.relu``) and a leaky-ReLU CNN; a fifth, MobileNet-style, has
depthwise (grouped) convolutions. `trained(name)` trains each one
once per process (deterministically: fixed seeds, one thread) and caches it;
tests/conftest.py exposes the cache as session fixtures.
"""

import functools

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

N_TRAIN = 1300
SPLIT_SEED = 0


@functools.lru_cache(maxsize=None)
def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    order = np.random.RandomState(SPLIT_SEED).permutation(len(x))
    return x[order], y[order]


def digits():
    """(x_train, y_train, x_test, y_test): float32 (N, 1, 8, 8) in [0, 1] and
    int64 labels (fresh copies; the split is always the same)."""
    x, y = _digits()
    return (x[:N_TRAIN].copy(), y[:N_TRAIN].copy(), x[N_TRAIN:].copy(), y[N_TRAIN:].copy())


# -- architectures -------------------------------------------------------------

def relu_cnn():
    """(a) Conv-ReLU-AvgPool x2, Flatten, Linear; every layer has a bias."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(128, 10))


def vgg_bn():
    """(b) VGG-style: four conv-BN-ReLU layers, average pools, dropout, linear head."""
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(1, 16), *block(16, 16), nn.AvgPool2d(2), nn.Dropout(0.1),
        *block(16, 32), *block(32, 32), nn.AvgPool2d(2), nn.Dropout(0.2),
        nn.Flatten(), nn.Linear(128, 10))


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus a shortcut (identity, or 1x1 conv + BN), ReLU after the add."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.project = None
        if stride != 1 or cin != cout:
            self.project = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                         nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.project is None else self.project(x)
        return F.relu(out + shortcut)


class ResNet(nn.Module):
    """(c) A stem conv and two basic blocks (the second with a projection
    shortcut), global average pooling and a linear classifier."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.block1 = BasicBlock(16, 16)
        self.block2 = BasicBlock(16, 32, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.block2(self.block1(x))
        return self.fc(self.flatten(self.pool(x)))


def leaky_cnn(slope=0.1):
    """(d) The ReLU CNN's layout with LeakyReLU(0.1) activations."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.LeakyReLU(slope), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.LeakyReLU(slope), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(128, 10))


def mobile_block():
    """(e) MobileNet-style: a stem conv, then depthwise 3x3 (groups = channels) -
    BN - ReLU6 - pointwise 1x1 - BN - ReLU6 twice, the second depthwise with a
    channel multiplier of 2 and stride 2, global average pooling, linear head."""
    def bn_relu6(c):
        return [nn.BatchNorm2d(c), nn.ReLU6()]

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), *bn_relu6(16),
        nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False), *bn_relu6(16),
        nn.Conv2d(16, 24, 1, bias=False), *bn_relu6(24),
        nn.Conv2d(24, 48, 3, stride=2, padding=1, groups=24, bias=False), *bn_relu6(48),
        nn.Conv2d(48, 32, 1, bias=False), *bn_relu6(32),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


ARCHITECTURES = {"cnn": relu_cnn, "vgg": vgg_bn, "resnet": ResNet, "leaky": leaky_cnn,
                 "mobile": mobile_block}
EPOCHS = {"cnn": 40, "vgg": 10, "resnet": 10, "leaky": 40, "mobile": 15}


# -- training ------------------------------------------------------------------

def train(model, x, y, epochs, seed=0, lr=1e-2, batch_size=64):
    """Train `model` in place with Adam (cosine learning-rate decay) on (x, y);
    deterministic for a given seed.

    Returns the model in eval mode.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        xt = torch.tensor(np.asarray(x, np.float32))
        yt = torch.tensor(np.asarray(y, np.int64))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * -(-len(xt) // batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(xt), generator=gen)
            for lo in range(0, len(xt), batch_size):
                idx = order[lo:lo + batch_size]
                opt.zero_grad()
                F.cross_entropy(model(xt[idx]), yt[idx]).backward()
                opt.step()
                sched.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def logits(model, x):
    """The model's outputs on x (numpy) as a float64 numpy array."""
    with torch.no_grad():
        return model.eval()(torch.tensor(np.asarray(x, np.float32))).double().numpy()


@functools.lru_cache(maxsize=None)
def _trained(name, seed):
    torch.manual_seed(seed)
    model = ARCHITECTURES[name]()
    x_train, y_train, _, _ = digits()
    return train(model, x_train, y_train, EPOCHS[name], seed)


def trained(name, seed=0):
    """The architecture `name` trained on the digits' training split (cached;
    callers must not modify it - from_torch does not)."""
    return _trained(name, seed)
