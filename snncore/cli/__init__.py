"""The `snncore` command (also `python -m snncore`).

Each subcommand is a module of this package with a ``register(subparsers)``
that adds its parser and sets ``handler`` (a function of the parsed
arguments returning the exit status); `COMMANDS` lists them in the order
``snncore --help`` shows them.

Exit status: 0 on success, 2 for a usage error (argparse's), 1 for a failure
(a file that cannot be read, a model that cannot be converted, bad data),
reported as one line ``snncore: error: ...`` on stderr; ``--debug`` shows the
traceback instead.
"""

import argparse
import importlib
import os
import sys

from .. import __version__
from ._common import CliError, one_line

__all__ = ["main", "COMMANDS", "CliError"]

# the subcommand modules, in the order of `snncore --help`
COMMANDS = ("convert", "info", "run", "sweep", "plot", "report", "bench")


def build_parser():
    p = argparse.ArgumentParser(prog="snncore", description="Convert, inspect, run and plot "
                                "snncore spiking networks.", epilog="`snncore COMMAND --help` "
                                "shows each command's options and examples.")
    p.add_argument("--version", action="version", version=f"snncore {__version__}")
    p.add_argument("--debug", action="store_true", default=False,
                   help="on a failure, show the Python traceback")
    p.add_argument("--quiet", "-q", action="store_true", default=False,
                   help="print only the results: no progress bars, no notes on stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f".{name}", __name__)
        command = module.register(sub)
        command.set_defaults(parser=command)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("snncore: interrupted", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (`snncore run ... | head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:
        if args.debug:
            raise
        known = isinstance(e, (CliError, ValueError, TypeError, OSError))
        text = one_line(e) if known else f"{type(e).__name__}: {one_line(e)}"
        print(f"snncore: error: {text}", file=sys.stderr)
        return 1
