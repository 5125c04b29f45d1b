"""Networks for the benchmarks.

Until the converter and the trained benchmark models land, the speed benchmark
uses a network with exactly the shape of DESIGN.md's Fashion-MNIST CNN
(Conv2d(1,32,3,p1)-ReLU-AvgPool2d(2)-Conv2d(32,64,3,p1)-ReLU-AvgPool2d(2)-
Flatten-Linear(3136,128)-ReLU-Linear(128,10), 4.24 M multiply-accumulates per
image) with seeded random He-initialised weights, normalised with Rueckauer's
robust (99.9th percentile) rule on real Fashion-MNIST images, so that its
spike activity has a realistic size.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import snncore


def _conv(x, w, padding):
    """(N, Ci, H, W) x (Co, Ci, k, k) -> (N, Co, H', W'), stride 1."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = sliding_window_view(x, w.shape[2:], axis=(2, 3))       # N, Ci, H', W', k, k
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True)


def _pool(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def random_fmnist_cnn_weights(seed=0):
    rng = np.random.default_rng(seed)

    def he(*shape):
        fan_in = int(np.prod(shape[1:]))
        return (rng.normal(0, np.sqrt(2 / fan_in), shape)).astype(np.float32)

    return {"conv1": he(32, 1, 3, 3), "conv2": he(64, 32, 3, 3),
            "fc1": he(128, 3136), "fc2": he(10, 128)}


def ann_activations(w, x):
    a1 = np.maximum(_conv(x, w["conv1"], 1), 0)
    a2 = np.maximum(_conv(_pool(a1), w["conv2"], 1), 0)
    a3 = np.maximum(_pool(a2).reshape(len(x), -1) @ w["fc1"].T, 0)
    return a1, a2, a3, a3 @ w["fc2"].T


def fmnist_cnn(x_calib, seed=0, percentile=99.9):
    """The DESIGN.md CNN shape as a spiking network (random weights, robust
    normalisation on `x_calib` (N, 1, 28, 28) float32). Pools are linear relays."""
    w = random_fmnist_cnn_weights(seed)
    a1, a2, a3, _ = ann_activations(w, x_calib)
    lam = [float(np.percentile(a[a > 0], percentile)) for a in (a1, a2, a3)]
    b = snncore.NetworkBuilder((1, 28, 28))
    b.population("conv1", (32, 28, 28), threshold=lam[0])
    b.conv2d("conv1", "input", "conv1", w["conv1"], padding=1)
    b.population("pool1", (32, 14, 14), kind="relay")
    b.avgpool2d("pool1", "conv1", "pool1", 2)
    b.population("conv2", (64, 14, 14), threshold=lam[1] / lam[0])
    b.conv2d("conv2", "pool1", "conv2", w["conv2"], padding=1)
    b.population("pool2", (64, 7, 7), kind="relay")
    b.avgpool2d("pool2", "conv2", "pool2", 2)
    b.population("fc1", (128,), threshold=lam[2] / lam[1])
    b.dense("fc1", "pool2", "fc1", w["fc1"])
    b.population("fc2", (10,), kind="accumulate")
    b.dense("fc2", "fc1", "fc2", w["fc2"] * np.float32(lam[2]))
    return b.build("fc2", provenance={"norm": "percentile", "percentile": percentile,
                                      "weights": f"random He, seed {seed}"})
