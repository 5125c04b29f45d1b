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
import time

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("net", help="a network file (.npz)")
    p.add_argument("image_file", metavar="IMAGES",
                   help="a .npy of images, (N, C, H, W) or (N, size)")
    p.add_argument("--isas", default="avx2,avx512",
                   help="the two kernel sets, comma-separated (default: avx2,avx512)")
    p.add_argument("--batch", type=int, default=1, help="images per call (default 1)")
    p.add_argument("--images", type=int, default=50, dest="n_images",
                   help="images per round (default 50)")
    p.add_argument("--rounds", type=int, default=9, help="rounds (default 9)")
    p.add_argument("-T", "--timesteps", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    args.isas = args.isas.split(",")
    if len(args.isas) != 2:
        p.error("--isas takes two kernel sets")
    if min(args.batch, args.n_images, args.rounds, args.timesteps, args.threads) < 1:
        p.error("--batch, --images, --rounds, -T and --threads must be at least 1")
    return args


def load_with(path, isa):
    """The network built with kernel set `isa` (exits when the CPU lacks it)."""
    import snncore

    os.environ["SNNCORE_ISA"] = isa
    try:
        net = snncore.load(path)
        if net.isa != isa:
            raise snncore.FormatError(f"got the {net.isa} kernels")
    except snncore.FormatError as e:
        sys.exit(f"compare_isas: cannot use the {isa} kernels here: {e}")
    finally:
        del os.environ["SNNCORE_ISA"]
    return net


def images_per_second(net, x, batch, timesteps, threads):
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        net.run(x[i:i + batch], timesteps, threads=threads)
    return len(x) / (time.perf_counter() - start)


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
    rates = {isa: [] for isa in args.isas}
    for r in range(args.rounds):
        for isa in (args.isas if r % 2 == 0 else args.isas[::-1]):
            rates[isa].append(images_per_second(nets[isa], x, args.batch, args.timesteps,
                                                args.threads))
    ratios = [q / p for p, q in zip(rates[a], rates[b])]
    print(f"{os.path.basename(args.net)}, batch {args.batch}, T={args.timesteps}, "
          f"{args.threads} thread(s), {args.rounds} rounds of {len(x)} images: "
          f"{a} {statistics.median(rates[a]):,.0f} images/s, "
          f"{b} {statistics.median(rates[b]):,.0f} images/s; {b}/{a} per round: median "
          f"{statistics.median(ratios):.3f}, range {min(ratios):.3f} to {max(ratios):.3f}; "
          f"same results")


if __name__ == "__main__":
    main()
