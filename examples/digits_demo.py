"""snncore end to end on real handwritten digits, with no download.

1. Train a small ReLU CNN in PyTorch on scikit-learn's 8x8 digits (seconds).
2. Convert it twice with snncore.convert.from_torch: Rueckauer's robust
   normalisation (the default), and snncore's recommended combination for few
   timesteps (snncore.convert.low_latency_options: for this CNN, local threshold
   balancing, the half-threshold start and bias calibration at T=8).
3. Save the spiking network as .npz, load it back, run the test images with
   analog input, and print ANN against SNN accuracy per timestep (all from one
   run each), spikes, synaptic operations and the estimated energy.

Run:  python examples/digits_demo.py  [--timesteps 64] [--threads N] [--epochs 30]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import snncore
from snncore._summary import format_table


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


def make_cnn(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))


def train(torch, model, x, y, epochs, seed=0):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args(argv)
    try:
        import torch
        from snncore.convert import from_torch, low_latency_options
    except ImportError:
        sys.exit("this demo needs PyTorch: pip install torch==2.13.0 'snncore[convert]'")
    torch.set_num_threads(args.threads or os.cpu_count() or 1)

    x_train, y_train, x_test, y_test = load_digits_split()
    print(f"scikit-learn digits: {len(x_train)} training and {len(x_test)} test images, 8x8")
    start = time.perf_counter()
    model = train(torch, make_cnn(torch), x_train, y_train, args.epochs)
    with torch.no_grad():
        ann_acc = float((model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean())
    print(f"ANN (PyTorch CNN) trained in {time.perf_counter() - start:.1f} s: "
          f"{100 * ann_acc:.2f}% test accuracy\n")

    # Rueckauer's robust normalisation, and snncore's recommended combination for few
    # timesteps (for this CNN: LTB thresholds, half-threshold start, bias calibration at T=8)
    low_latency = low_latency_options(model, timesteps=8)
    settings = {"percentile": dict(norm="percentile", percentile=99.9),
                "low-latency": low_latency}
    checkpoints = [t for t in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if t <= args.timesteps]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, options in settings.items():
            net = from_torch(model, x_train, **options)
            path = os.path.join(tmp, "digits_snn.npz")
            net.save(path)
            net = snncore.load(path)
            start = time.perf_counter()
            res = net.run(x_test, args.timesteps, checkpoints=checkpoints, threads=args.threads)
            results[label] = (net, res, time.perf_counter() - start)
    net, res, _ = results["low-latency"]
    options = ", ".join(f"{k}={v!r}" for k, v in low_latency.items())
    print(f"the converted network (low_latency_options: {options}), saved as .npz and "
          f"reloaded:\n")
    print(net.summary(), "\n")

    # analog input: the first layer's multiply-accumulates count at every step
    energy = snncore.estimate_energy(res, net)
    rows = []
    for i, t in enumerate(res.checkpoints):
        row = [t, f"{100 * ann_acc:.2f}"]
        for label in settings:
            row.append(f"{100 * results[label][1].curve(y_test)[i]:.2f}")
        row += [f"{res.spikes.total_per_image()[i]:,.0f}",
                f"{res.synaptic_ops.total_per_image()[i]:,.0f}",
                f"{energy.ratio[i]:.2f}"]
        rows.append(row)
    print(format_table(["T", "ANN %", *[f"SNN {k} %" for k in settings], "spikes/img",
                        "synaptic ops/img", "energy SNN/ANN"], rows, [">"] * (5 + len(settings))))
    seconds = results["low-latency"][2]
    print(f"\nspikes, synaptic operations and energy are for 'low-latency'; energy "
          f"(snncore.estimate_energy) at {energy.e_ac * 1e12:.1f} pJ per accumulate and "
          f"{energy.e_mac * 1e12:.1f} pJ per multiply-accumulate, the analog first layer's "
          f"multiply-accumulates counted at every step; ANN {sum(net.ann_macs().values()):,} "
          f"MACs per image.")
    print(f"snncore simulated {len(x_test)} images x {args.timesteps} steps in {seconds:.2f} s "
          f"({len(x_test) / seconds:,.0f} images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
