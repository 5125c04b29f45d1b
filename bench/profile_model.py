"""Where one bench model's time goes in the engine, by kind of layer.

Converts the model as the speed suite does (percentile thresholds or
`low_latency_options(model, T)`), runs the first test images with the
engine's profile, and prints each kind's share of the engine's time: the
projections by what they are (bench/report.py's projection_kind: dense
convs by input channels, strided, 1x1, depthwise, pooling, junction
shortcuts, dense; signed sources and relay sources apart) and the
populations by their kind (threshold passes of IF neurons, signed or
retracting, and relay passes), with synaptic operations per second and per
core for the projections.

    python bench/profile_model.py MODEL [--recipe low_latency] [-T 32] \\
        [--images 100] [--threads 1] [--isa avx2] [--rounds 3]

Times are the engine's own (`Network.run(..., profile=True)`), summed over
threads, the median of --rounds runs per entry (evaluation.median_profile).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from compare_peer import RECIPES, snncore_network  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a bench model (bench/models.py), e.g. mobilenet_v2")
    p.add_argument("--recipe", choices=RECIPES, default="low_latency",
                   help="the conversion (default low_latency: low_latency_options)")
    p.add_argument("-T", "--timesteps", type=int, default=32)
    p.add_argument("--images", type=int, default=100, dest="n_images",
                   help="test images to run (default 100)")
    p.add_argument("--threads", type=int, default=1, help="engine threads (default 1)")
    p.add_argument("--rounds", type=int, default=3,
                   help="profiled runs; each entry's median is kept (default 3)")
    p.add_argument("--isa", default=None,
                   help="the kernels: generic, avx2 or avx512 (default: the widest)")
    p.add_argument("--scale", choices=("full", "smoke"), default="full",
                   help="the benchmark scale of the conversion (default full)")
    args = p.parse_args(argv)
    if min(args.timesteps, args.n_images, args.threads, args.rounds) < 1:
        p.error("-T, --images, --threads and --rounds must be at least 1")
    return args


def population_kind(p):
    """A described population's kind for the table: the threshold pass of IF
    neurons (signed, retracting), a relay pass, or the input/read-out."""
    if p["kind"] == "if":
        return "threshold pass" + (", retracting" if p.get("retract") else
                                   ", signed" if p.get("signed") else "")
    return {"relay": "relay pass"}.get(p["kind"], p["kind"])


def kind_rows(net, x, timesteps, threads, rounds_):
    """[(kind, seconds, share of the total, synaptic operations per second per
    core or None)], largest first, and the total engine seconds."""
    from evaluation import costs_of_profile, median_profile
    from report import projection_kind

    res, profile, _ = median_profile(net, x, timesteps, threads, rounds_)
    costs = costs_of_profile(net, len(x), res, profile)
    groups = {}
    for p in costs.values():
        g = groups.setdefault("projection: " + projection_kind(p), [0.0, 0.0])
        g[0] += p["seconds"]
        g[1] += p["synops_per_image"] * len(x)
    for p in net.describe()["populations"]:
        seconds = profile["populations"].get(p["name"], 0.0)
        g = groups.setdefault("population: " + population_kind(p), [0.0, None])
        g[0] += seconds
    total = sum(g[0] for g in groups.values())
    rows = [(kind, s, s / total if total else 0.0, synops / s if synops and s else None)
            for kind, (s, synops) in groups.items() if s > 0]
    return sorted(rows, key=lambda r: -r[1]), total


def main(argv=None):
    args = parse_args(argv)
    from evaluation import Evaluator, Scale

    evaluator = Evaluator(Scale.resolve(args.scale))
    x = evaluator.data(args.model).x_test[:args.n_images]
    net = snncore_network(evaluator, args.model, args.recipe, args.timesteps, args.isa,
                          tool="profile_model")
    rows, total = kind_rows(net, x, args.timesteps, args.threads, args.rounds)
    print(f"{args.model} ({args.recipe}), T={args.timesteps}, {len(x)} images, "
          f"{args.threads} thread(s), kernels {net.isa}: {total:.4f} s in the engine "
          f"({1e3 * total / len(x):.3f} ms an image)")
    print(f"{'kind':<58} {'seconds':>9} {'share':>7} {'synops/s/core':>15}")
    for kind, seconds, share, rate in rows:
        print(f"{kind:<58} {seconds:9.4f} {100 * share:6.1f}% "
              f"{'-' if rate is None else f'{rate:,.0f}':>15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
