"""What the comparisons in alternating rounds (compare_isas.py, compare_peer.py)
share: their timing options and the rounds themselves. On a shared machine the
load moves between two timings by more than many differences being measured;
timing both sides in turns, in alternating order, lets each round's ratio see
one load."""

import os
import statistics
import sys
import time


def add_arguments(parser, batch, images, rounds):
    """--batch, --images (dest n_images), --rounds, -T/--timesteps and
    --threads, with these defaults (T 32, 2 threads)."""
    parser.add_argument("--batch", type=int, default=batch,
                        help=f"images per call (default {batch})")
    parser.add_argument("--images", type=int, default=images, dest="n_images",
                        help=f"images per round (default {images})")
    parser.add_argument("--rounds", type=int, default=rounds, help=f"rounds (default {rounds})")
    parser.add_argument("-T", "--timesteps", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)


def check_arguments(parser, args):
    """Exits through the parser when a count of add_arguments is below 1."""
    if min(args.batch, args.n_images, args.rounds, args.timesteps, args.threads) < 1:
        parser.error("--batch, --images, --rounds, -T and --threads must be at least 1")


def images_per_second(run, x, batch):
    """images/s of run(images) over x in calls of `batch` images."""
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        run(x[i:i + batch])
    return len(x) / (time.perf_counter() - start)


def alternate(runs, x, batch, rounds):
    """{name: [images/s of each round]} of the callables `runs` (name -> run),
    each round timing all of them, in reversed order every other round. x: the
    images, or {name: images} where the sides need different counts to run for
    comparable times."""
    names = list(runs)
    rates = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            xs = x[name] if isinstance(x, dict) else x
            rates[name].append(images_per_second(runs[name], xs, batch))
    return rates


def ratio_summary(numerator, denominator):
    """(median, smallest, largest) of the per-round ratios of two lists of rates."""
    ratios = [a / b for a, b in zip(numerator, denominator)]
    return statistics.median(ratios), min(ratios), max(ratios)


def built_with(isa, build, tool):
    """build() (a snncore.Network) with kernel set `isa` (SNNCORE_ISA set around
    it); exits, naming `tool`, when the CPU lacks that set."""
    import snncore

    os.environ["SNNCORE_ISA"] = isa
    try:
        net = build()
        if net.isa != isa:
            raise snncore.FormatError(f"got the {net.isa} kernels")
    except snncore.FormatError as e:
        sys.exit(f"{tool}: cannot use the {isa} kernels here: {e}")
    finally:
        del os.environ["SNNCORE_ISA"]
    return net
