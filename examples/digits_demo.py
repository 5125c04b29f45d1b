"""snncore end to end on real handwritten digits, with no download and no PyTorch.

1. Train a small ReLU network (64 -> 128 -> 10) on scikit-learn's 8x8 digits
   with plain numpy.
2. Convert it by hand with Rueckauer's robust normalisation: each spiking
   layer's threshold is the 99.9th percentile of its ANN activations on the
   training images, and the next layer's weights carry that scale.
3. Save the spiking network as .npz, load it back, and run it on the test
   images with analog input, recording accuracy from 1 to 128 timesteps in one
   run, with spike and synaptic-operation counts and an energy estimate.

Run:  python examples/digits_demo.py  [--timesteps 128] [--threads N]
(Once snncore.convert lands, the same pipeline starts from a PyTorch model.)
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import snncore

E_AC = 0.9e-12   # J per accumulate (45 nm CMOS, the field's usual figure)
E_MAC = 4.6e-12  # J per multiply-accumulate


def load_digits_split(seed=0, n_test=450):
    """Images (N, 1, 8, 8) float32 in [0, 1] and labels, split train/test."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("this demo needs scikit-learn: pip install 'snncore[examples]'")
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def train_mlp(x, y, hidden=128, epochs=60, lr=0.1, seed=0):
    """A 64-hidden-10 ReLU network trained with SGD + momentum on softmax
    cross-entropy. Returns (W1 (hidden, 64), b1, W2 (10, hidden), b2)."""
    rng = np.random.default_rng(seed)
    x = x.reshape(len(x), -1)
    w1 = rng.normal(0, np.sqrt(2 / x.shape[1]), (hidden, x.shape[1])).astype(np.float32)
    b1 = np.zeros(hidden, np.float32)
    w2 = rng.normal(0, np.sqrt(2 / hidden), (10, hidden)).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    params = [w1, b1, w2, b2]
    velocity = [np.zeros_like(p) for p in params]
    for _ in range(epochs):
        for batch in np.array_split(rng.permutation(len(x)), len(x) // 32):
            xb, yb = x[batch], y[batch]
            h = np.maximum(xb @ w1.T + b1, 0)
            logits = h @ w2.T + b2
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1
            g_logits = p / len(yb)
            g_h = (g_logits @ w2) * (h > 0)
            grads = [g_h.T @ xb, g_h.sum(0), g_logits.T @ h, g_logits.sum(0)]
            for param, vel, grad in zip(params, velocity, grads):
                vel *= 0.9
                vel -= lr * grad
                param += vel
    return w1, b1, w2, b2


def ann_forward(params, x):
    w1, b1, w2, b2 = params
    h = np.maximum(x.reshape(len(x), -1) @ w1.T + b1, 0)
    return h, h @ w2.T + b2


def convert(params, x_calib, percentile=99.9):
    """The spiking twin: IF hidden layer with threshold lambda (robust
    normalisation), accumulating read-out whose weights carry lambda."""
    w1, b1, w2, b2 = params
    hidden, _ = ann_forward(params, x_calib)
    lam = float(np.percentile(hidden[hidden > 0], percentile))
    b = snncore.NetworkBuilder((1, 8, 8), encoding="analog")
    b.population("hidden", (w1.shape[0],), kind="if", threshold=lam, reset="subtract",
                 bias=b1)
    b.dense("fc1", "input", "hidden", w1)
    b.population("logits", (10,), kind="accumulate", bias=b2)
    b.dense("fc2", "hidden", "logits", w2 * lam)
    return b.build(output="logits", provenance={
        "norm": "percentile", "percentile": percentile, "calibration_images": len(x_calib),
        "lambda_hidden": lam, "made_by": "examples/digits_demo.py"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    x_train, y_train, x_test, y_test = load_digits_split()
    print(f"scikit-learn digits: {len(x_train)} training and {len(x_test)} test images, 8x8")
    params = train_mlp(x_train, y_train)
    ann_acc = float((ann_forward(params, x_test)[1].argmax(1) == y_test).mean())
    print(f"ANN (numpy, 64-128-10 ReLU) test accuracy: {100 * ann_acc:.2f}%\n")

    net = convert(params, x_train)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits_snn.npz")
        net.save(path)
        size = os.path.getsize(path)
        net = snncore.load(path)
    print(f"saved and reloaded the spiking network ({size:,} bytes):\n")
    print(net.summary(), "\n")

    checkpoints = [t for t in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if t <= args.timesteps]
    start = time.perf_counter()
    res = net.run(x_test, timesteps=args.timesteps, checkpoints=checkpoints,
                  threads=args.threads)
    seconds = time.perf_counter() - start
    curve = res.curve(y_test)
    spikes = res.spikes.total_per_image()
    synops = res.synaptic_ops.total_per_image()
    ann_macs = sum(net.ann_macs().values())
    # Under analog input the first projection is a real multiply-accumulate,
    # done once per image; every later synaptic operation is an accumulate.
    first_macs = res.synaptic_ops.at_checkpoints()[:, 0]
    energy = (first_macs * E_MAC + (synops - first_macs) * E_AC) / (ann_macs * E_MAC)

    rows = [[t, f"{100 * a:.2f}", f"{100 * (a - ann_acc):+.2f}", f"{s:,.0f}", f"{o:,.0f}",
             f"{e:.2f}"] for t, a, s, o, e in zip(res.checkpoints, curve, spikes, synops, energy)]
    print(snncore._summary.format_table(
        ["T", "SNN acc %", "vs ANN", "spikes/img", "synaptic ops/img", "energy SNN/ANN"],
        rows, [">"] * 6))
    print(f"\nANN: {ann_macs:,} multiply-accumulates per image; energy at "
          f"{E_AC * 1e12:.1f} pJ per accumulate and {E_MAC * 1e12:.1f} pJ per multiply-accumulate.")
    print(f"simulated {len(x_test)} images x {args.timesteps} steps in {seconds:.2f} s "
          f"({len(x_test) / seconds:,.0f} images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
