"""`snncore run NET.npz IMAGES`: predictions, the accuracy curve, spikes and
synaptic operations per layer and the energy estimate (the Python twin of the
C runner `snnrun`), with the ANN beside it (--compare-ann), on a Dask cluster
with --scheduler (sweep.py)."""

import csv
import json
import sys

import numpy as np

from .. import ENCODINGS, load
from .._summary import format_table
from ._common import (FORMATTER, CliError, add_common, add_image_arguments, checkpoint_list,
                      labelled_images, progress_flag)
from ._model import MODEL_HELP, add_model_argument, check_model_options, resolve_model
from .sweep import add_run_options, run_on_scheduler

EXAMPLES = """examples:
  snncore run net.npz x.npy                          # one predicted class per line
  snncore run net.npz x.npy --labels y.npy -T 64 --checkpoints 8,16,32
  snncore run net.npz x.npy -T 32 --encoding poisson --seed 3 -o outputs.npy
  snncore run net.npz x.npy --labels y.npy --checkpoints 8,16 --format json > run.json
  snncore run net.npz x.npy --labels y.npy --checkpoints 8,16,32 --format csv > curve.csv
  snncore run net.npz x.npy --labels y.npy --compare-ann mypkg.models:Net --weights net.pt

--format table (the default) prints one row per checkpoint: accuracy with --labels,
spikes and synaptic operations per image, and the estimated energy as a fraction of
the ANN's (snncore.estimate_energy), then the predictions when neither --labels nor
-o is given. --format csv prints the same rows as CSV (T, accuracy, spikes_per_image,
synaptic_ops_per_image, energy_j_per_image, energy_ratio). --format json prints one
object: checkpoints, accuracy (null without --labels), spikes and synaptic operations
per image in total and per population / projection, the energy estimate and the
predictions at T.

--compare-ann MODEL runs the ANN on the same images: the table and the CSV gain the
ANN's accuracy (with --labels) and the fraction of images on which the SNN's class
agrees with the ANN's at each checkpoint; the JSON gains "ann".

""" + "model: " + MODEL_HELP


def register(sub):
    p = sub.add_parser("run", help="run a network on images stored as .npy or .npz",
                       description="Run a network on images and report predictions, the "
                                   "accuracy curve, events per layer and the energy estimate.",
                       epilog=EXAMPLES, formatter_class=FORMATTER)
    p.add_argument("network", help="a .npz network file")
    add_image_arguments(p, dataset=False)
    p.add_argument("--timesteps", "-T", type=int, default=64)
    p.add_argument("--encoding", choices=ENCODINGS)
    p.add_argument("--checkpoints", type=checkpoint_list, default=None,
                   help="comma-separated steps, e.g. 8,16,32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", "-o", help="write the decoded outputs (N, K) at T to this .npy")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="how to print the results (default: table; see below)")
    add_run_options(p)
    add_model_argument(p, "--compare-ann", "the ANN the network was converted from")
    add_common(p)
    p.set_defaults(handler=run)
    return p


def _finite(value):
    value = float(value)
    return value if np.isfinite(value) else None


def _curve(values):
    return [float(v) for v in values]


def _run_report(res, energy, accuracy, ann, args):
    """The run as plain values for --format json (fixed key order, no NaN)."""
    report = {
        "network": args.network,
        "images": int(res.outputs.shape[0]),
        "timesteps": int(res.timesteps),
        "encoding": res.encoding,
        "seed": args.seed,
        "readout_start": int(res.readout_start),
        "checkpoints": [int(t) for t in res.checkpoints],
        "accuracy": None if accuracy is None else _curve(accuracy),
        "spikes_per_image": {
            "total": _curve(res.spikes.total_per_image()),
            "populations": {n: _curve(v) for n, v in
                            zip(res.spikes.names, res.spikes.at_checkpoints().T)}},
        "synaptic_ops_per_image": {
            "total": _curve(res.synaptic_ops.total_per_image()),
            "projections": {n: _curve(v) for n, v in
                            zip(res.synaptic_ops.names, res.synaptic_ops.at_checkpoints().T)}},
        "energy": {
            "joules_per_image": _curve(energy.total),
            "ann_joules_per_image": float(energy.ann),
            "ratio": [_finite(v) for v in energy.ratio],
            "e_ac": float(energy.e_ac), "e_mac": float(energy.e_mac)},
        "predictions": [int(p) for p in res.predictions],
    }
    if ann is not None:
        report["ann"] = {"accuracy": ann["accuracy"], "agreement": _curve(ann["agreement"])}
    return report


def compare_with_ann(model, net, x, y, res):
    """The ANN's accuracy (None without labels) and the SNN's agreement with
    its classes at each checkpoint ((n_checkpoints,) float64); uint8 images
    reach the ANN scaled as `net` scales them."""
    from ..analysis import ann_outputs

    out = ann_outputs(model, x, uint8_scale=net.describe()["input"]["uint8_scale"])
    if out.shape[1] != res.outputs.shape[2]:
        raise CliError(f"the ANN has {out.shape[1]} outputs and the network "
                       f"{res.outputs.shape[2]}: is it the model the network was converted from?")
    pred = out.argmax(axis=1)
    return {"accuracy": None if y is None else float((pred == y).mean()),
            "agreement": (res.predictions_at() == pred[:, None]).mean(axis=0)}


def run(args):
    from ..energy import estimate_energy

    check_model_options(args, args.parser, has_factory=bool(args.compare_ann),
                        has_file=bool(args.compare_ann))
    net = load(args.network)
    x, y, _ = labelled_images(args, args.limit)
    model = resolve_model(args, args.compare_ann) if args.compare_ann else None
    if args.scheduler:
        res = run_on_scheduler(args, x)
    else:
        res = net.run(x, args.timesteps, encoding=args.encoding, checkpoints=args.checkpoints,
                      seed=args.seed, threads=args.threads, progress=progress_flag(args))
    ann = None if model is None else compare_with_ann(model, net, x, y, res)
    if args.output:
        np.save(args.output, res.output)
    accuracy = None if y is None else res.curve(y)
    energy = estimate_energy(res, net)
    if args.format == "json":
        print(json.dumps(_run_report(res, energy, accuracy, ann, args), indent=2,
                         allow_nan=False))
    elif args.format == "csv":
        _print_csv(res, energy, accuracy, ann)
    else:
        _print_table(res, energy, accuracy, ann)
        if not args.output and y is None:
            for row in res.predictions:
                print(int(row))
    return 0


def _columns(res, energy, accuracy, ann):
    """(header, values, table text) per column, in the order printed."""
    n = len(res.checkpoints)
    cols = [("T", [int(t) for t in res.checkpoints], "T", None)]
    if accuracy is not None:
        cols.append(("accuracy", accuracy, "accuracy %", lambda a: f"{100 * a:.2f}"))
    if ann is not None and ann["accuracy"] is not None:
        cols.append(("ann_accuracy", [ann["accuracy"]] * n, "ANN %",
                     lambda a: f"{100 * a:.2f}"))
    if ann is not None:
        cols.append(("agreement_with_ann", ann["agreement"], "agrees with ANN %",
                     lambda a: f"{100 * a:.2f}"))
    cols += [("spikes_per_image", res.spikes.total_per_image(), "spikes/img",
              lambda v: f"{v:,.0f}"),
             ("synaptic_ops_per_image", res.synaptic_ops.total_per_image(),
              "synaptic ops/img", lambda v: f"{v:,.0f}"),
             ("energy_j_per_image", energy.total, None, None),
             ("energy_ratio", energy.ratio, "energy vs ANN",
              lambda r: f"{r:.3g}" if np.isfinite(r) else "-")]
    return cols


def _print_csv(res, energy, accuracy, ann):
    cols = _columns(res, energy, accuracy, ann)
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow([c[0] for c in cols])
    for row in zip(*(c[1] for c in cols)):
        w.writerow([v if isinstance(v, int) else
                    ("" if _finite(v) is None else repr(float(v))) for v in row])


def _print_table(res, energy, accuracy, ann):
    cols = [c for c in _columns(res, energy, accuracy, ann) if c[2] is not None]
    rows = zip(*([v if fmt is None else fmt(v) for v in values] for _, values, _, fmt in cols))
    print(format_table([c[2] for c in cols], list(rows), [">"] * len(cols)))
