"""Command line: `snncore info NET.npz` and `snncore run NET.npz X.npy ...`
(the Python twin of the C runner `snnrun`)."""

import argparse
import sys

import numpy as np

from . import ENCODINGS, __version__, load
from ._summary import format_table
from .errors import FormatError


def _checkpoint_list(text):
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"checkpoints must be comma-separated integers, got {text!r}")


def _parser():
    p = argparse.ArgumentParser(prog="snncore", description="Inspect and run snncore spiking networks.")
    p.add_argument("--version", action="version", version=f"snncore {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print a network's summary")
    info.add_argument("network", help="a .npz network file")
    run = sub.add_parser("run", help="run a network on images stored as .npy")
    run.add_argument("network", help="a .npz network file")
    run.add_argument("images", help=".npy of float32 or uint8 images, (N, *input_shape)")
    run.add_argument("--labels", help=".npy of integer labels (N,): print the accuracy curve")
    run.add_argument("--timesteps", "-T", type=int, default=64)
    run.add_argument("--encoding", choices=ENCODINGS)
    run.add_argument("--checkpoints", type=_checkpoint_list, default=None,
                     help="comma-separated steps, e.g. 8,16,32")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--threads", type=int, default=None)
    run.add_argument("--output", "-o", help="write the decoded outputs (N, K) at T to this .npy")
    return p


def _run(args):
    net = load(args.network)
    x = np.load(args.images, allow_pickle=False)
    res = net.run(x, args.timesteps, encoding=args.encoding, checkpoints=args.checkpoints,
                  seed=args.seed, threads=args.threads)
    if args.output:
        np.save(args.output, res.output)
    spikes = res.spikes.total_per_image()
    synops = res.synaptic_ops.total_per_image()
    headers = ["T", "spikes/img", "synaptic ops/img"]
    columns = [res.checkpoints, [f"{s:,.0f}" for s in spikes], [f"{o:,.0f}" for o in synops]]
    if args.labels:
        y = np.load(args.labels, allow_pickle=False)
        headers.insert(1, "accuracy %")
        columns.insert(1, [f"{100 * a:.2f}" for a in res.curve(y)])
    print(format_table(headers, list(zip(*columns)), [">"] * len(headers)))
    if not args.output and not args.labels:
        for row in res.predictions:
            print(int(row))
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.command == "info":
            print(load(args.network).summary())
            return 0
        return _run(args)
    except (FormatError, ValueError, TypeError, OSError) as e:
        print(f"snncore: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
