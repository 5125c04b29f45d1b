"""What the subcommands share: the failure type, argument types, the common
flags and the readers of images and labels."""

import argparse
import os
import sys

import numpy as np

from ..datasets import DATASETS

FORMATTER = argparse.RawDescriptionHelpFormatter


class CliError(Exception):
    """A failure reported as one line and exit status 1."""


def one_line(e):
    """An exception's message on one line."""
    return " ".join(str(e).split())


# -- argument types ------------------------------------------------------------------------

def checkpoint_list(text):
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"checkpoints must be comma-separated integers, got {text!r}")


def positive(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return n


def name_list(text):
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


# -- common flags --------------------------------------------------------------------------

def add_common(p, quiet=True):
    """--debug (and --quiet) on a subcommand's parser."""
    # default=SUPPRESS: `snncore --debug convert ...` and `snncore convert ... --debug` both work
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="on a failure, show the Python traceback")
    if quiet:
        p.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                       help="print only the results: no progress bars, no notes on stderr")


def progress_flag(args):
    """The `progress` argument of long work: False under --quiet, else None
    (a bar on a terminal, nothing in pipes and logs)."""
    return False if getattr(args, "quiet", False) else None


def note(args, text):
    """A line for the user on stderr, unless --quiet."""
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr)


def need_file(path, what):
    if not os.path.isfile(path):
        raise CliError(f"{what} {path}: no such file")


# -- data ----------------------------------------------------------------------------------

def read_array(path, what, key=None):
    """The array of a .npy file, or array `key` (default: the first) of a .npz."""
    need_file(path, what)
    where = f"{what} {path}"
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            if not z.files:
                raise CliError(f"{where}: the .npz holds no arrays")
            key = key or z.files[0]
            if key not in z.files:
                raise CliError(f"{where} has no array {key!r}; it holds {', '.join(z.files)}")
            return z[key]
    if key is not None:
        raise CliError(f"{what}: a key applies to a .npz file only")
    if not path.endswith(".npy"):
        raise CliError(f"{where}: expected a .npy or .npz file")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        raise CliError(f"{where} is not a plain .npy array ({one_line(e)})")


def check_images(x, where, batch=True):
    """Images as read: uint8 or float, and not none of them; with `batch`,
    (N, ...) with N >= 1 (else a single image may be given, as Network.run
    takes one)."""
    if not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
        raise CliError(f"{where}: images must be uint8 or float, not {x.dtype}")
    if batch and x.ndim < 2:
        raise CliError(f"{where}: expected images (N, C, H, W), got shape {x.shape}")
    if x.size == 0:
        raise CliError(f"{where}: the set of images is empty (shape {x.shape})")
    return x


def dataset_split(name, split):
    """(images, labels) of a named offline data set."""
    from ..datasets import load as load_dataset
    return load_dataset(name, split)


def labelled_images(args, limit=None):
    """(images, labels or None, description) from IMAGES [--labels] or --dataset:
    the subcommands that run a network read their test images this way."""
    if getattr(args, "dataset", None):
        x, y = dataset_split(args.dataset, "test")
        where = f"--dataset {args.dataset}"
    else:
        if args.images is None:
            raise CliError("give the images (a .npy or .npz file) or --dataset NAME")
        x = read_array(args.images, "images", getattr(args, "images_key", None))
        y = read_array(args.labels, "--labels") if args.labels else None
        where = args.images
    check_images(x, where, batch=False)
    if y is not None:
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
            raise CliError(f"--labels: expected {len(x)} integer labels (one per image), got "
                           f"{y.dtype} of shape {y.shape}")
    if limit is not None:
        x = x[:limit]
        y = None if y is None else y[:limit]
    return x, y, where


def add_image_arguments(p, dataset=True):
    """IMAGES [--labels L] [--dataset NAME] [--images N]."""
    p.add_argument("images", nargs=None if not dataset else "?",
                   help=".npy or .npz of float or uint8 images (N, *input_shape)")
    p.add_argument("--labels", metavar="L.npy", help=".npy of integer labels (N,)")
    if dataset:
        p.add_argument("--dataset", choices=tuple(DATASETS),
                       help="instead of IMAGES: a named offline data set's test images and "
                            "labels")
    p.add_argument("--limit", type=positive, metavar="N", help="use the first N images only")
