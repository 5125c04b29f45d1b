"""`snncore info NET.npz`: a network's summary table, or its description as JSON."""

import json

from .. import load
from ._common import FORMATTER, add_common

EXAMPLES = """examples:
  snncore info net.npz
  snncore info net.npz --json > net.json              # the same as JSON (Network.describe())
"""


def register(sub):
    p = sub.add_parser("info", help="print a network's summary", epilog=EXAMPLES,
                       description="Print a network's populations, projections, thresholds "
                                   "and the ANN's multiply-accumulates.",
                       formatter_class=FORMATTER)
    p.add_argument("network", help="a .npz network file")
    p.add_argument("--json", action="store_true",
                   help="print the description as JSON (snncore.Network.describe())")
    add_common(p, quiet=False)
    p.set_defaults(handler=info)
    return p


def info(args):
    net = load(args.network)
    if args.json:
        print(json.dumps(net.describe(), indent=2, allow_nan=False))
    else:
        print(net.summary())
    return 0
