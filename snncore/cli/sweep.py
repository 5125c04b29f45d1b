"""The command line's Dask parts: ``snncore sweep`` (snncore.distributed),
and ``snncore run ... --scheduler ADDRESS``, whose options and run run.py
takes from here."""

import argparse
import json
import os
import sys

import numpy as np

from ._common import add_common, checkpoint_list
from ._model import factory_spec

SWEEP_EXAMPLES = """examples:
  snncore sweep net_a.npz net_b.npz --images x.npy --labels y.npy -T 64 --checkpoints 8,16,32
  snncore sweep net.npz --images x.npy --labels y.npy \\
      --grid '{"encoding": ["analog", "poisson"]}' --scheduler tcp://10.0.0.5:8786
  snncore sweep --factory mypkg.models:Net --weights net.pt --calibration xc.npy \\
      --images x.npy --labels y.npy -T 32 --grid '{"norm": ["max", "percentile"],
      "v_init": [0, 0.5]}' --format csv > sweep.csv

--grid is a JSON object of lists (their product is swept) or a list of objects. With
--factory, its keys are from_torch's options (and "recipe": "low-latency"); with
networks, encoding, rate, seed and readout_start. Without --scheduler the settings run
here, one after the other. The table has one row per network or model, setting and
checkpoint: accuracy, spikes and synaptic operations per image, the energy ratio
(SNN / ANN) and the seconds each conversion and run took.
"""


def _client(address):
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--scheduler needs Dask: pip install 'snncore[distributed]'") from None
    return Client(address, set_as_default=False)


def add_run_options(run):
    """`snncore run`'s --scheduler and --block-size."""
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run on this Dask scheduler (tcp://HOST:PORT) in blocks of images; "
                     "the workers must read the network and image files at the same paths")
    run.add_argument("--block-size", type=int, default=None, metavar="N",
                     help="images per Dask task (default 256)")


def run_on_scheduler(args, x):
    """`snncore run --scheduler`: the RunResult of args.network on images x."""
    from ..distributed import run

    with _client(args.scheduler) as client:
        return run(args.network, x, args.timesteps, encoding=args.encoding,
                   checkpoints=args.checkpoints, seed=args.seed,
                   threads=args.threads or 1, block_size=args.block_size, client=client)


def _grid(text):
    try:
        grid = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e}): {text!r}")
    if not isinstance(grid, (dict, list)):
        raise argparse.ArgumentTypeError(f"must be a JSON object or list, got {text!r}")
    return grid


def register(sub):
    """Register `snncore sweep`."""
    p = sub.add_parser("sweep", help="run a grid of settings (on Dask with --scheduler)",
                       epilog=SWEEP_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("networks", nargs="*", help=".npz networks to run under each setting")
    p.add_argument("--factory", type=factory_spec, metavar="MODULE:CALLABLE",
                   help="a callable returning the torch.nn.Module to convert under each setting")
    p.add_argument("--weights", metavar="FILE", help="its state dict (torch.save)")
    p.add_argument("--calibration", metavar="FILE", help=".npy calibration images (--factory)")
    p.add_argument("--images", required=True, metavar="FILE", help=".npy test images")
    p.add_argument("--labels", required=True, metavar="FILE", help=".npy integer labels")
    p.add_argument("--grid", type=_grid, default=None, metavar="JSON")
    p.add_argument("--timesteps", "-T", type=int, default=64)
    p.add_argument("--checkpoints", type=checkpoint_list, default=None)
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler (tcp://HOST:PORT)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    add_common(p)
    p.set_defaults(handler=sweep)
    return p


def _model(args):
    import importlib

    import torch

    module_name, name = args.factory
    model = getattr(importlib.import_module(module_name), name)()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, weights_only=True, map_location="cpu"))
    return model.eval()


def sweep(args):
    """`snncore sweep`: print the table."""
    parser = args.parser
    from ..distributed import sweep as run_sweep

    if bool(args.networks) == bool(args.factory):
        parser.error("give either networks (.npz) or --factory (a model to convert)")
    if args.factory and not args.calibration:
        parser.error("--factory needs --calibration images")
    subjects = ({os.path.basename(p): p for p in args.networks} if args.networks
                else {args.factory[1]: _model(args)})
    load = np.load
    kwargs = dict(calibration=load(args.calibration) if args.calibration else None,
                  grid=args.grid, images=load(args.images), labels=load(args.labels),
                  timesteps=args.timesteps, checkpoints=args.checkpoints)
    if args.scheduler:
        with _client(args.scheduler) as client:
            table = run_sweep(subjects, client=client, **kwargs)
    else:
        table = run_sweep(subjects, client=False, **kwargs)
    if args.format == "csv":
        table.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(table.to_json(orient="records", indent=2))
    else:
        print(table.to_string(index=False))
    return 0
