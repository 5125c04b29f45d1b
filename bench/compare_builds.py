"""Compare two builds of `snnrun` on the same network and images, interleaved.

An engine change is judged by running the old and the new runner in turns, so that
both see the same load on a shared machine; the medians of the wall time and of
each entry of `snnrun --profile` (seconds per population pass and per projection)
are printed side by side with their ratio. The outputs of the two builds are also
compared (the CSV of every image: outputs, spikes, synaptic operations), since an
engine change must not move a bit.

    python bench/compare_builds.py OLD/snnrun NEW/snnrun NET.npz IMAGES.npy \\
        [--reps 9] [snnrun options, e.g. -T 64 -j 1 --isa avx2]

Build the old runner from another checkout (`git worktree add ../old REV`, then
`meson setup ../old/build-c && meson compile -C ../old/build-c` there).
"""

import argparse
import re
import statistics
import subprocess
import sys
import time

PROFILE_LINE = re.compile(r"\s*(population|projection) (\S+): ([0-9.]+) s")


def run_once(snnrun, net, images, options):
    """(wall seconds, {(kind, name): seconds}) of one profiled run."""
    start = time.perf_counter()
    proc = subprocess.run([snnrun, net, images, "--quiet", "--profile", *options],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{snnrun} failed ({proc.returncode}):\n{proc.stderr}")
    entries = {}
    for line in proc.stderr.splitlines():
        m = PROFILE_LINE.match(line)
        if m:
            entries[(m.group(1), m.group(2))] = float(m.group(3))
    return wall, entries


def results_csv(snnrun, net, images, options):
    proc = subprocess.run([snnrun, net, images, "--quiet", "--csv", *options],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{snnrun} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("net")
    parser.add_argument("images")
    parser.add_argument("--reps", type=int, default=9, help="runs of each build (default 9)")
    args, options = parser.parse_known_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")

    same = results_csv(args.old, args.net, args.images, options) == \
        results_csv(args.new, args.net, args.images, options)
    walls = {args.old: [], args.new: []}
    profiles = {args.old: {}, args.new: {}}
    for _ in range(args.reps):
        for build in (args.old, args.new):
            wall, entries = run_once(build, args.net, args.images, options)
            walls[build].append(wall)
            for key, seconds in entries.items():
                profiles[build].setdefault(key, []).append(seconds)

    def median(build, key):
        values = profiles[build].get(key)
        return statistics.median(values) if values else float("nan")

    old_wall, new_wall = (statistics.median(walls[b]) for b in (args.old, args.new))
    print(f"{'':24} {'old':>9} {'new':>9} {'new/old':>8}   (medians of {args.reps} runs, s)")
    print(f"{'wall time':24} {old_wall:9.4f} {new_wall:9.4f} {new_wall / old_wall:8.3f}")
    keys = sorted(set(profiles[args.old]) | set(profiles[args.new]),
                  key=lambda k: -median(args.old, k))
    for key in keys:
        a, b = median(args.old, key), median(args.new, key)
        if a == 0 and b == 0:
            continue
        ratio = b / a if a > 0 else float("nan")
        print(f"{key[0][:3] + ' ' + key[1]:24} {a:9.4f} {b:9.4f} {ratio:8.3f}")
    print("results identical" if same else "RESULTS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
