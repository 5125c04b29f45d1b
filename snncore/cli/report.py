"""`snncore report NET.npz IMAGES`: one self-contained HTML page about a
network on a data set (snncore.report.html_report)."""

import os

from .. import ENCODINGS, load
from ._common import (FORMATTER, CliError, add_common, add_image_arguments, checkpoint_list,
                      labelled_images, note, positive, progress_flag)
from ._model import MODEL_HELP, add_model_argument, check_model_options, resolve_model

EXAMPLES = """examples:
  snncore report net.npz x.npy --labels y.npy -o report.html
  snncore report net.npz --dataset fashion-mnist --limit 1000 -T 128 \\
      --ann mypkg.models:Net --weights net.pt -o report.html

The page holds: the accuracy at T and a suggested T (the first checkpoint within one
point of the accuracy at T), accuracy against timesteps beside the ANN's, the
per-layer correlation of the ANN's activations with the SNN's rates x thresholds
(with --ann), firing rates per population and per channel (dead and saturated
channels), a spike raster of the first image, the energy against the ANN's and the
network's summary. Pictures are embedded: the file opens anywhere on its own.

model: """ + MODEL_HELP


def register(sub):
    p = sub.add_parser("report", help="write a self-contained HTML report of a network on a "
                                      "data set",
                       description="Write one self-contained HTML page about a network on a "
                                   "data set: accuracy against T, the ANN/SNN correlation, "
                                   "rates, energy.",
                       epilog=EXAMPLES, formatter_class=FORMATTER)
    p.add_argument("network", help="a .npz network file")
    add_image_arguments(p)
    add_model_argument(p, "--ann", "the model the network was converted from (optional)")
    p.add_argument("--timesteps", "-T", type=positive, default=64)
    p.add_argument("--checkpoints", type=checkpoint_list, default=None,
                   help="comma-separated steps (default: 1, 2, 4, ... up to T)")
    p.add_argument("--encoding", choices=ENCODINGS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--detail-images", type=positive, default=200, metavar="N",
                   help="images for the per-neuron parts: rates and correlation "
                        "(default: 200)")
    p.add_argument("--title", help="the page's title")
    p.add_argument("--output", "-o", required=True, metavar="REPORT.html")
    add_common(p)
    p.set_defaults(handler=report)
    return p


def report(args):
    from ..report import html_report

    if not args.output.lower().endswith((".html", ".htm")):
        args.parser.error(f"--output {args.output}: the report is an .html file")
    check_model_options(args, args.parser, bool(args.ann), bool(args.ann))
    net = load(args.network)
    x, y, where = labelled_images(args, args.limit)
    model = resolve_model(args, args.ann) if args.ann else None
    try:
        page = html_report(net, x, y, model=model, timesteps=args.timesteps,
                           checkpoints=args.checkpoints, encoding=args.encoding, seed=args.seed,
                           title=args.title, source=os.path.basename(args.network),
                           detail_images=args.detail_images, progress=progress_flag(args))
    except ImportError as e:
        raise CliError(f"the report needs matplotlib and scipy ({e}): "
                       "pip install 'snncore[cli]'")
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(page)
    note(args, f"wrote {args.output}")
    return 0
