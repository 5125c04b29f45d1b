"""Compare the speed of two kernel sets on one network, in alternating rounds.

A single timing of each kernel set, one after the other, is at the mercy of the
shared machine: between two runs of one set the figure moves by more than the
sets differ. This runs the same network with both sets in turns (each round
times both, in alternating order) and prints each set's median images/s and the
median and range of the per-round ratio, after checking that both give the same
outputs, spike counts and synaptic operations.

    python bench/compare_isas.py NET.npz IMAGES.npy [--isas avx2,avx512] \\
        [--batch 1] [--images 50] [--rounds 9] [-T 32] [--threads 2]

--batch 1 runs the images one at a time (the speed suite's batch 1), a larger
batch runs them in calls of that many. The network's own encoding and read-out
hints are used.
"""

import argparse
import os
import statistics
import sys

import numpy as np

import rounds


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("net", help="a network file (.npz)")
    p.add_argument("image_file", metavar="IMAGES",
                   help="a .npy of images, (N, C, H, W) or (N, size)")
    p.add_argument("--isas", default="avx2,avx512",
                   help="the two kernel sets, comma-separated (default: avx2,avx512)")
    rounds.add_arguments(p, batch=1, images=50, rounds=9)
    args = p.parse_args(argv)
    args.isas = args.isas.split(",")
    if len(args.isas) != 2:
        p.error("--isas takes two kernel sets")
    rounds.check_arguments(p, args)
    return args


def load_with(path, isa):
    """The network built with kernel set `isa` (exits when the CPU lacks it)."""
    import snncore

    return rounds.built_with(isa, lambda: snncore.load(path), "compare_isas")


def main(argv=None):
    args = parse_args(argv)
    x = np.load(args.image_file)[:args.n_images]
    a, b = args.isas
    nets = {isa: load_with(args.net, isa) for isa in args.isas}
    first = {isa: net.run(x[:4], args.timesteps, threads=args.threads)
             for isa, net in nets.items()}
    for field in ("outputs", "spikes", "synaptic_ops"):
        left, right = (np.asarray(getattr(first[isa], field)) for isa in args.isas)
        if left.tobytes() != right.tobytes():
            sys.exit(f"compare_isas: {a} and {b} differ in {field}")
    rates = rounds.alternate(
        {isa: (lambda xs, net=net: net.run(xs, args.timesteps, threads=args.threads))
         for isa, net in nets.items()}, x, args.batch, args.rounds)
    median, low, high = rounds.ratio_summary(rates[b], rates[a])
    print(f"{os.path.basename(args.net)}, batch {args.batch}, T={args.timesteps}, "
          f"{args.threads} thread(s), {args.rounds} rounds of {len(x)} images: "
          f"{a} {statistics.median(rates[a]):,.0f} images/s, "
          f"{b} {statistics.median(rates[b]):,.0f} images/s; {b}/{a} per round: median "
          f"{median:.3f}, range {low:.3f} to {high:.3f}; same results")


if __name__ == "__main__":
    main()
