"""Loading a trained PyTorch model from the command line: a factory and its
state dict, or a whole saved model (TorchScript, a torch.export program, or a
pickled module, which needs --trust-pickle).
`convert` reads it as --factory/--model; `run --compare-ann`, `plot` and
`report` as one MODEL argument that is either."""

import argparse
import importlib
import json
import os
import sys
import zipfile

from .._images import images_tensor
from ._common import CliError, need_file, one_line

MODEL_HELP = """a model is MODULE:CALLABLE (a factory returning the torch.nn.Module; its state
dict with --weights W.pt, loaded with weights_only=True, and keyword arguments with
--factory-args JSON) or FILE, a whole model saved with torch.save(model), which needs
--trust-pickle (unpickling runs the file's code), TorchScript (torch.jit.save) or a
torch.export program (torch.export.save), which need no --trust-pickle."""


def json_kwargs(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e}): {text!r}")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object of keyword arguments, "
                                         f"got {text!r}")
    return value


def factory_spec(text):
    module, sep, name = text.partition(":")
    if not sep or not module or not name:
        raise argparse.ArgumentTypeError(f"expected package.module:callable, got {text!r}")
    return module, name


def add_weights_arguments(group):
    """--factory-args, --weights and --trust-pickle, which every way of naming a
    model shares."""
    group.add_argument("--factory-args", type=json_kwargs, default={}, metavar="JSON",
                       help="keyword arguments for the factory, as a JSON object")
    group.add_argument("--weights", metavar="FILE",
                       help="the factory model's state dict (.pt/.pth, loaded with "
                            "weights_only=True)")
    group.add_argument("--trust-pickle", action="store_true",
                       help="allow a whole pickled module (torch.save(model)); unpickling "
                            "runs arbitrary code, so only for files you trust")


def add_model_argument(p, flag, help_text):
    """One MODEL option (`flag`) that is MODULE:CALLABLE or a file, and the
    options that go with it."""
    g = p.add_argument_group("the ANN (a trained PyTorch model)")
    g.add_argument(flag, metavar="MODEL", help=help_text + " (see 'model' below)")
    add_weights_arguments(g)
    return g


def import_torch(what):
    try:
        import torch
    except ImportError:
        raise CliError(f"{what} needs PyTorch: pip install 'snncore[convert]'")
    return torch


def resolve_model(args, spec):
    """The torch.nn.Module named by MODEL `spec` (a file, else MODULE:CALLABLE)
    with the shared options of `args`."""
    if os.path.isfile(spec) or ":" not in spec:
        need_file(spec, "model")
        return load_model(args, model_file=spec)
    return load_model(args, factory=factory_spec(spec))


def check_model_options(args, parser, has_factory, has_file):
    """Refuse the options that do not go with the way the model is named."""
    if args.weights and not has_factory:
        parser.error("--weights goes with a factory MODULE:CALLABLE (a whole model file is "
                     "given alone)")
    if args.factory_args and not has_factory:
        parser.error("--factory-args goes with a factory MODULE:CALLABLE")
    if args.trust_pickle and not has_file:
        parser.error("--trust-pickle goes with a whole model file")


def load_model(args, factory=None, model_file=None, flag="--model"):
    """The model, in eval mode, from a factory (module, name) or a whole model file."""
    if args.weights:
        need_file(args.weights, "--weights")
        refuse_state_dict_archive(args.weights, "--weights")
    if model_file:
        need_file(model_file, flag)
    torch = import_torch("loading a PyTorch model")
    kind = _archive_kind(model_file) if model_file else None
    if factory:
        model = _build_from_factory(torch, factory, args)
    elif kind in ("torchscript", "export"):
        model = _load_program(torch, model_file, kind, flag)
    else:
        model = _load_model_file(torch, model_file, args.trust_pickle, flag)
    return model.eval()


def _build_from_factory(torch, factory, args):
    module_name, name = factory
    # as `python -m` does: a factory in the current directory's packages imports
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise CliError(f"factory: cannot import {module_name!r} ({e}); is it on PYTHONPATH?")
    fn = getattr(module, name, None)
    if not callable(fn):
        raise CliError(f"factory: {module_name} has no callable {name!r}")
    model = fn(**args.factory_args)
    if not isinstance(model, torch.nn.Module):
        raise CliError(f"factory: {module_name}:{name} returned a {type(model).__name__}, "
                       "not a torch.nn.Module")
    if args.weights:
        try:
            state = torch.load(args.weights, weights_only=True, map_location="cpu")
        except Exception as e:
            raise CliError(f"--weights {args.weights} is not a state dict that loads with "
                           f"weights_only=True ({type(e).__name__}); a whole pickled module "
                           "goes as a model file with --trust-pickle, if you trust the file")
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]     # a training checkpoint {'state_dict': ..., ...}
        if not isinstance(state, dict):
            raise CliError(f"--weights {args.weights} holds a {type(state).__name__}, not a "
                           "state dict")
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise CliError(f"--weights {args.weights} does not fit the factory's model: "
                           f"{one_line(e)}")
    return model


def _archive_kind(path):
    """'torchscript', 'export', 'pickle' or None, from a torch archive's members."""
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


def refuse_state_dict_archive(path, flag):
    """--weights is a state dict: refuse a whole model there, before loading it."""
    kind = _archive_kind(path)
    if kind in ("torchscript", "export"):
        what = "TorchScript" if kind == "torchscript" else "a torch.export program"
        raise CliError(f"{flag} {path} is {what}, a whole model, not a state dict: give it "
                       "as the model file (--model FILE, or FILE as MODEL) without a factory")


def _load_program(torch, path, kind, flag):
    """A TorchScript module (torch.jit.load), or a torch.export program lifted
    to a module (torch.export.load; snncore.convert.exported)."""
    from ..convert.exported import lift, quiet_torch_export

    try:
        if kind == "torchscript":
            return torch.jit.load(path, map_location="cpu")
        with quiet_torch_export():
            program = torch.export.load(path)
    except Exception as e:
        what = "TorchScript" if kind == "torchscript" else "torch.export program"
        raise CliError(f"{flag} {path} looks like a {what} but does not load "
                       f"({type(e).__name__}: {one_line(e)})")
    return lift(program)


def _load_model_file(torch, path, trust_pickle, flag):
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:
        if not trust_pickle:
            raise CliError(f"{flag} {path} is a pickled object that weights_only loading refuses "
                           f"({type(e).__name__}); unpickling it runs arbitrary code, so it needs "
                           "--trust-pickle (only for files you trust), or give its factory "
                           "(--factory MODULE:CALLABLE, or MODULE:CALLABLE as MODEL) and "
                           "--weights STATE_DICT.pt")
        obj = torch.load(path, weights_only=False, map_location="cpu")
    if isinstance(obj, dict):
        raise CliError(f"{flag} {path} holds a state dict, not a model: give it as --weights "
                       "with a factory that builds the model (--factory MODULE:CALLABLE, or "
                       "MODULE:CALLABLE as MODEL)")
    if not isinstance(obj, torch.nn.Module):
        raise CliError(f"{flag} {path} holds a {type(obj).__name__}, not a torch.nn.Module")
    return obj


def try_model(torch, model, x):
    """Run the model on two images, to report a mismatch between the model and
    the data in one line (torch.fx prints a traceback of its own)."""
    sample = images_tensor(torch, x[:2])
    try:
        with torch.no_grad():
            model(sample)
    except Exception as e:
        raise CliError(f"the model fails on images of shape {tuple(sample.shape)} "
                       f"({type(e).__name__}: {one_line(e)}); are they the images it was "
                       "trained on, scaled the same way?")


def lifted(torch, model, x):
    """The model as the converter reads it: TorchScript is exported on two of
    the images `x` and lifted once here, so that low_latency_options (which
    only traces) and from_torch both take it."""
    if isinstance(model, torch.jit.ScriptModule):
        from ..convert.exported import lift
        return lift(model, images_tensor(torch, x[:2]))
    return model


