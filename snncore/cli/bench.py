"""`snncore bench [NET.npz]`: the quick speed benchmark (snncore.timing):
images per second with one thread and with all, and the speed-up, each with
a 95 % bootstrap confidence interval."""

import json

import numpy as np

from .. import load
from .._summary import format_table
from ._common import FORMATTER, add_common, labelled_images, note, positive

EXAMPLES = """examples:
  snncore bench                                 # a synthetic CNN of Fashion-MNIST's size
  snncore bench net.npz x.npy -T 64 --repeats 9
  snncore bench net.npz --dataset fashion-mnist --limit 256 --format json

Runs are timed in turns (one thread, all threads, one thread, ...) after a warm-up,
so that another program slowing the machine slows both alike. Each figure is the
median over the repeats, with its 95 % confidence interval from a bootstrap of the
repeats (scipy.stats.bootstrap): on a busy machine the interval widens instead of the
figure lying. The full benchmarks (accuracy, energy, peers) are in the source
tree's bench/ directory.
"""


def register(sub):
    p = sub.add_parser("bench", help="time the engine on a network: images per second",
                       description="The quick benchmark: images per second with one thread "
                                   "and with all, and the speed-up, with confidence intervals.",
                       epilog=EXAMPLES, formatter_class=FORMATTER)
    p.add_argument("network", nargs="?",
                   help="a .npz network file (default: a synthetic CNN of Fashion-MNIST's size)")
    p.add_argument("images", nargs="?", help=".npy or .npz of images (default: random ones "
                                             "of the network's input shape)")
    p.add_argument("--dataset", choices=("digits", "mnist", "fashion-mnist"),
                   help="instead of IMAGES: a named offline data set's test images")
    p.add_argument("--limit", type=positive, default=256, metavar="N",
                   help="images per run (default: 256)")
    p.add_argument("--timesteps", "-T", type=positive, default=32)
    p.add_argument("--threads", type=positive, help="the threads of the parallel runs "
                                                    "(default: every CPU this process may use)")
    p.add_argument("--repeats", type=positive, default=7, help="timed runs of each setting "
                                                               "(default: 7)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_common(p)
    p.set_defaults(handler=bench, labels=None)
    return p


def _images(args, net):
    if args.images or args.dataset:
        x, _, _ = labelled_images(args, args.limit)
        return x
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (args.limit,) + tuple(net.input_shape)).astype(np.float32)


def bench(args):
    from ..timing import quick_bench, synthetic_network

    if args.network:
        net = load(args.network)
        x = _images(args, net)
        name = args.network
    else:
        if args.images or args.dataset:
            args.parser.error("images go with a NETWORK")
        net, _ = synthetic_network()
        x = _images(args, net)
        name = "synthetic CNN 1x28x28 (random weights)"
    note(args, f"timing {name}: {len(x)} images x T={args.timesteps}, "
               f"{args.repeats} runs per setting ...")
    out = quick_bench(net, x, args.timesteps, args.threads, args.repeats)
    if args.format == "json":
        def plain(v):
            return {"value": v.value, "low": v.low, "high": v.high}
        doc = dict(out, network=name)
        for label in ("one_thread", "all_threads"):
            doc[label] = dict(out[label], images_per_s=plain(out[label]["images_per_s"]))
        doc["speedup"] = plain(out["speedup"])
        print(json.dumps(doc, indent=2))
        return 0
    rows = []
    for label, text in (("one_thread", "1"), ("all_threads", str(out["threads"]))):
        v = out[label]["images_per_s"]
        rows.append([text, f"{v.value:,.1f}", f"{v.low:,.1f} .. {v.high:,.1f}",
                     f"{v.value * out['synaptic_ops_per_image'] / 1e6:,.1f}"])
    print(f"{name}: {out['images']} images, T = {out['timesteps']}, median of "
          f"{out['repeats']} runs, 95 % bootstrap intervals")
    print(format_table(["threads", "images/s", "95 % interval", "M synaptic ops/s"], rows,
                       [">"] * 4))
    s = out["speedup"]
    print(f"speed-up of {out['threads']} threads over 1: {s.value:.2f} "
          f"(95 % interval {s.low:.2f} .. {s.high:.2f})")
    return 0
