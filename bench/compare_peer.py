"""Time snncore against SpikingJelly on one bench model, in alternating rounds.

The speed suite (test_speed_recipes.py) times SpikingJelly once per model and
snncore's cases after it, minutes apart; on a shared machine the load moves in
between, and a ratio from such a run moves by 10 to 40% from one run to the
next. This converts the model both ways (snncore with percentile thresholds or
`low_latency_options(model, T)`, SpikingJelly with its best recipe, as the
suite does), then times both on the same images in turns (each round times
both, in alternating order) and prints each one's median images/s and the
median and range of the per-round ratio snncore / SpikingJelly.

    python bench/compare_peer.py MODEL [--recipe percentile|low_latency] \\
        [--batch 100] [--images 100] [--rounds 7] [-T 32] [--threads 2] [--isa avx2]

--batch 1 runs the images one at a time (the suite's batch 1), a larger batch in
calls of that many. --isa picks snncore's kernel set (SNNCORE_ISA; default the
widest the CPU has). Models, weights and data come from bench/models.py and
bench/evaluation.py (calibration images of the full scale); SpikingJelly's
converter refuses ReLU6, so mobilenet_v2 runs its ReLU twin there
(peers.relu_twin), as in the suite.
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import rounds  # noqa: E402

RECIPES = ("percentile", "low_latency")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a bench model (bench/models.py), e.g. resnet18")
    p.add_argument("--recipe", choices=RECIPES, default="low_latency",
                   help="snncore's conversion (default low_latency: low_latency_options)")
    rounds.add_arguments(p, batch=100, images=100, rounds=7)
    p.add_argument("--isa", default=None,
                   help="snncore's kernels: generic, avx2 or avx512 (default: the widest)")
    p.add_argument("--scale", choices=("full", "smoke"), default="full",
                   help="the benchmark scale of the conversions (default full; smoke for a "
                        "quick check)")
    args = p.parse_args(argv)
    rounds.check_arguments(p, args)
    return args


def snncore_network(evaluator, model, recipe, timesteps, isa, tool="compare_peer"):
    """The model converted with `recipe` (as the speed suite converts it),
    built with kernel set `isa` (None: the widest); exits, naming `tool`, when
    the CPU lacks it."""
    import snncore
    from test_speed_recipes import recipe_options

    net = evaluator.network(model, recipe_options(evaluator, model, recipe, timesteps))[0]
    if isa is None:
        return net
    return rounds.built_with(isa, lambda: snncore.Network(*net._to_file()), tool)


def in_turns(net, sj, x, batch, timesteps, threads, n_rounds, warm_up=False):
    """{"snncore": [...], "SpikingJelly": [...]}: images/s of each round of
    rounds.alternate, snncore's `net` against SpikingJelly's `sj` on the images
    x (or {side: images}) in calls of `batch`, each side run once on a first
    batch beforehand with warm_up."""
    import peers

    runs = {
        "snncore": lambda xs: net.run(xs, timesteps, threads=threads),
        "SpikingJelly": lambda xs: peers.spikingjelly_run(sj, xs, timesteps, batch_size=batch,
                                                          threads=threads),
    }
    if warm_up:
        for name, run in runs.items():
            run((x[name] if isinstance(x, dict) else x)[:batch])
    return rounds.alternate(runs, x, batch, n_rounds)


def main(argv=None):
    args = parse_args(argv)
    import peers
    from evaluation import Evaluator, Scale
    from test_speed import SJ_RECIPES
    from test_speed_recipes import SJ_RECIPE

    evaluator = Evaluator(Scale.resolve(args.scale))
    data = evaluator.data(args.model)
    x = data.x_test[:args.n_images]
    net = snncore_network(evaluator, args.model, args.recipe, args.timesteps, args.isa)
    try:
        sj, twin = peers.spikingjelly_or_twin(evaluator.model(args.model), data.x_calib,
                                              threads=args.threads, **SJ_RECIPES[SJ_RECIPE])
    except (peers.PeerMissing, peers.PeerRefused) as e:
        sys.exit(f"compare_peer: no SpikingJelly network for {args.model}: {e}")
    rates = in_turns(net, sj, x, args.batch, args.timesteps, args.threads, args.rounds,
                     warm_up=True)
    median, low, high = rounds.ratio_summary(rates["snncore"], rates["SpikingJelly"])
    print(f"{args.model} ({args.recipe}; SpikingJelly {SJ_RECIPE}"
          f"{', on its ReLU twin' if twin else ''}), batch {args.batch}, T={args.timesteps}, "
          f"{args.threads} thread(s), snncore kernels {net.isa}, {args.rounds} rounds of "
          f"{len(x)} images: snncore {statistics.median(rates['snncore']):,.1f} images/s, "
          f"SpikingJelly {statistics.median(rates['SpikingJelly']):,.1f} images/s; "
          f"snncore/SpikingJelly per round: median {median:.2f}x, "
          f"range {low:.2f}x to {high:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
