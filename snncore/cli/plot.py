"""`snncore plot WHAT ...`: pictures (PNG or SVG) of accuracy against
timesteps, spike rasters, firing rates and the per-layer ANN/SNN correlation
(snncore.plots, from snncore.analysis)."""

import json
import os

import numpy as np

from .. import ENCODINGS, analysis, load, plots
from ._common import (FORMATTER, CliError, add_common, add_image_arguments, checkpoint_list,
                      labelled_images, name_list, need_file, note, positive, progress_flag)
from ._model import MODEL_HELP, add_model_argument, check_model_options, resolve_model

EXAMPLES = """examples:
  # accuracy against T of several runs on one axis, from `snncore run --format json`
  snncore run a.npz x.npy --labels y.npy --checkpoints 1,2,4,8,16,32 --format json > a.json
  snncore run b.npz x.npy --labels y.npy --checkpoints 1,2,4,8,16,32 --format json > b.json
  snncore plot accuracy a.json b.json -o accuracy.png
  # or straight from networks (each run on the same images)
  snncore plot accuracy a.npz b.npz --images x.npy --labels y.npy -T 32 -o accuracy.svg
  snncore plot raster net.npz x.npy --image 3 --populations relu_1,relu_4 -T 64 -o raster.png
  snncore plot rates net.npz x.npy --limit 200 -T 64 -o rates.png
  snncore plot correlation net.npz x.npy --limit 200 -T 64 \\
      --ann mypkg.models:Net --weights net.pt -o correlation.png
"""


def _add_output(p):
    p.add_argument("--output", "-o", required=True, metavar="FILE.png|FILE.svg",
                   help="the picture to write (its extension picks PNG or SVG)")
    p.add_argument("--title", help="the figure's title")


def _add_run_options(p, checkpoints=False):
    p.add_argument("--timesteps", "-T", type=positive, default=64)
    if checkpoints:
        p.add_argument("--checkpoints", type=checkpoint_list, default=None,
                       help="comma-separated steps (default: 1, 2, 4, ... up to T)")
    p.add_argument("--encoding", choices=ENCODINGS)
    p.add_argument("--seed", type=int, default=0)


def register(sub):
    p = sub.add_parser("plot", help="draw accuracy, spike rasters, rates or the ANN/SNN "
                                    "correlation as PNG or SVG",
                       description="Draw what a network does (snncore.plots) as PNG or SVG.",
                       epilog=EXAMPLES, formatter_class=FORMATTER)
    kinds = p.add_subparsers(dest="what", required=True, metavar="WHAT")

    a = kinds.add_parser("accuracy", help="accuracy against timesteps, several runs on one axis",
                         description="Accuracy against timesteps of several runs on one axis. "
                                     "A RUN is a JSON report of `snncore run --format json` "
                                     "(with --labels), or a .npz network run here on --images "
                                     "with --labels.",
                         epilog=EXAMPLES, formatter_class=FORMATTER)
    a.add_argument("runs", nargs="+", metavar="RUN", help="a run.json or a net.npz")
    a.add_argument("--images", help="images for the .npz runs (.npy or .npz)")
    a.add_argument("--labels", help="their labels (.npy)")
    a.add_argument("--limit", type=positive, metavar="N", help="use the first N images only")
    a.add_argument("--names", type=name_list, help="comma-separated legend labels, one per RUN "
                                                   "(default: the file names)")
    _add_run_options(a, checkpoints=True)
    _add_output(a)

    r = kinds.add_parser("raster", help="a spike raster of chosen populations for one image",
                         epilog=EXAMPLES, formatter_class=FORMATTER)
    r.add_argument("network", help="a .npz network file")
    add_image_arguments(r)
    r.add_argument("--image", type=int, default=0, help="which image (default: 0)")
    r.add_argument("--populations", type=name_list,
                   help="comma-separated IF populations (default: all)")
    _add_run_options(r)
    _add_output(r)

    f = kinds.add_parser("rates", help="firing rate per population and per channel",
                         epilog=EXAMPLES, formatter_class=FORMATTER)
    f.add_argument("network", help="a .npz network file")
    add_image_arguments(f)
    f.add_argument("--populations", type=name_list,
                   help="comma-separated IF populations (default: all)")
    _add_run_options(f)
    _add_output(f)

    c = kinds.add_parser("correlation", help="per layer, the ANN's activation against the "
                                             "SNN's rate x threshold",
                         description="One scatter per layer of the ANN's activation against "
                                     "the SNN's rate x threshold, with slope and r: where a "
                                     "conversion loses accuracy.",
                         epilog=EXAMPLES + "\nmodel: " + MODEL_HELP, formatter_class=FORMATTER)
    c.add_argument("network", help="a .npz network file")
    add_image_arguments(c)
    add_model_argument(c, "--ann", "the model the network was converted from (required)")
    _add_run_options(c)
    _add_output(c)

    for kind in (a, r, f, c):
        add_common(kind)
        kind.set_defaults(parser=kind)
    add_common(p)
    p.set_defaults(handler=plot)
    return p


def _accuracy_curves(args):
    """[(label, checkpoints, accuracy)] and the ANN's accuracies {label: a}."""
    names = args.names or [os.path.splitext(os.path.basename(r))[0] for r in args.runs]
    if len(names) != len(args.runs):
        args.parser.error(f"--names gives {len(names)} labels for {len(args.runs)} runs")
    curves, ann, data = [], {}, None
    for path, label in zip(args.runs, names):
        need_file(path, "run")
        if path.endswith(".json"):
            with open(path) as f:
                try:
                    report = json.load(f)
                except json.JSONDecodeError as e:
                    raise CliError(f"{path} is not JSON ({e})")
            if not isinstance(report, dict) or "checkpoints" not in report:
                raise CliError(f"{path} is not a report of `snncore run --format json`")
            if report.get("accuracy") is None:
                raise CliError(f"{path} has no accuracy: run it with --labels")
            curves.append((label, report["checkpoints"], report["accuracy"]))
            if (report.get("ann") or {}).get("accuracy") is not None:
                ann[f"ANN of {label}"] = report["ann"]["accuracy"]
        elif path.endswith(".npz"):
            if data is None:
                if not args.images or not args.labels:
                    args.parser.error("a .npz RUN needs --images and --labels")
                data = labelled_images(args, args.limit)
            x, y, _ = data
            net = load(path)
            res = net.run(x, args.timesteps, encoding=args.encoding,
                          checkpoints=args.checkpoints or
                          analysis.doubling_checkpoints(args.timesteps),
                          seed=args.seed, progress=progress_flag(args))
            curves.append((label, res.checkpoints, res.curve(y)))
        else:
            raise CliError(f"run {path}: expected a .json report or a .npz network")
    return curves, ann


def _image(args, x):
    if not -len(x) <= args.image < len(x):
        raise CliError(f"--image {args.image}: there are {len(x)} images")
    return x[args.image]


def plot(args):
    if not args.output.lower().endswith((".png", ".svg")):
        args.parser.error(f"--output {args.output}: write a .png or a .svg")
    title = {"title": args.title} if args.title else {}
    if args.what == "accuracy":
        curves, ann = _accuracy_curves(args)
        fig = plots.accuracy_figure(curves, ann=ann or None, **title)
    else:
        if args.what == "correlation":
            if not args.ann:
                args.parser.error("the correlation needs the ANN: --ann MODEL")
            check_model_options(args, args.parser, True, True)
        net = load(args.network)
        x, _, _ = labelled_images(args, args.limit)
        run = dict(encoding=args.encoding, seed=args.seed)
        if args.what == "raster":
            names = args.populations or analysis.rate_populations(net)
            trains = analysis.spike_trains(net, _image(args, x), names, args.timesteps, **run)
            fig = plots.raster_figure(trains, **title)
        elif args.what == "rates":
            rates = analysis.firing_rates(net, x, args.timesteps, args.populations,
                                          progress=progress_flag(args), **run)
            fig = plots.rates_figure(rates, **title)
        else:
            model = resolve_model(args, args.ann)
            layers = analysis.layer_correlation(model, net, np.asarray(x), args.timesteps,
                                                progress=progress_flag(args), **run)
            if not layers:
                raise CliError("no population of the network is named after an activation of "
                               "the model: is it the model the network was converted from?")
            fig = plots.correlation_figure(layers, **title)
    plots.save(fig, args.output)
    note(args, f"wrote {args.output}")
    return 0
