"""A quick, honest speed measurement of the engine on a network: repeated
timed runs, interleaved between the configurations compared, so that a busy
machine slows them alike, and every ratio given with a bootstrap confidence
interval (scipy.stats.bootstrap) rather than as one number.

The full benchmarks of the project (accuracy, peers, energy) live in the
source tree's bench/ directory; this is what ``snncore bench`` runs anywhere.
"""

import time
from collections import namedtuple

import numpy as np

from .builder import NetworkBuilder

__all__ = ["synthetic_network", "time_runs", "ratio_interval", "Interval", "quick_bench"]

Interval = namedtuple("Interval", "value low high")
Interval.__doc__ = "A statistic and its confidence interval (low, high)."

# the confidence level of every interval reported
CONFIDENCE = 0.95


def synthetic_network(seed=0):
    """A CNN of Fashion-MNIST's size with random weights (1x28x28 -> conv 16 ->
    pool -> conv 32 -> pool -> dense 128 -> 10), its thresholds set so that
    its layers fire at moderate rates: a stand-in for timing when no network
    is given, not a classifier.

    Returns
    -------
    (Network, images float32 (64, 1, 28, 28) in [0, 1])
    """
    rng = np.random.default_rng(seed)

    def weights(*shape):
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    b = NetworkBuilder((1, 28, 28))
    b.population("conv1", (16, 28, 28), threshold=0.5)
    b.conv2d("c1", "input", "conv1", weights(16, 1, 3, 3), padding=(1, 1))
    b.population("pool1", (16, 14, 14), kind="relay")
    b.avgpool2d("p1", "conv1", "pool1", (2, 2))
    b.population("conv2", (32, 14, 14), threshold=0.5)
    b.conv2d("c2", "pool1", "conv2", weights(32, 16, 3, 3), padding=(1, 1))
    b.population("pool2", (32, 7, 7), kind="relay")
    b.avgpool2d("p2", "conv2", "pool2", (2, 2))
    b.population("fc", (128,), threshold=0.5)
    b.dense("d1", "pool2", "fc", weights(128, 32 * 7 * 7))
    b.population("output", (10,), kind="accumulate")
    b.dense("d2", "fc", "output", weights(10, 128))
    x = rng.uniform(0, 1, (64, 1, 28, 28)).astype(np.float32)
    return b.build("output", provenance={"made_by": "snncore.timing.synthetic_network"}), x


def time_runs(net, x, timesteps, configs, repeats, warmup=1):
    """Seconds of `repeats` runs of each configuration, interleaved.

    Parameters
    ----------
    configs : dict label -> dict of Network.run keyword arguments (threads, ...)

    Returns
    -------
    dict label -> ndarray (repeats,), float64 seconds per run
    """
    for options in configs.values():
        for _ in range(warmup):
            net.run(x, timesteps, **options)
    seconds = {label: np.empty(repeats) for label in configs}
    for r in range(repeats):
        for label, options in configs.items():
            start = time.perf_counter()
            net.run(x, timesteps, **options)
            seconds[label][r] = time.perf_counter() - start
    return seconds


def _median_ratio(a, b, axis=-1):
    return np.median(a, axis=axis) / np.median(b, axis=axis)


def ratio_interval(a, b, n_resamples=2000, seed=0):
    """median(a) / median(b) and its 95 % bootstrap interval (percentile
    method, a and b resampled independently).

    Parameters
    ----------
    a, b : array-like (n,), float, n >= 2

    Returns
    -------
    Interval
    """
    from scipy import stats
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    value = float(_median_ratio(a, b))
    if len(a) < 2 or len(b) < 2:
        return Interval(value, float("nan"), float("nan"))
    res = stats.bootstrap((a, b), _median_ratio, n_resamples=n_resamples, paired=False,
                          vectorized=True, confidence_level=CONFIDENCE, method="percentile",
                          random_state=np.random.default_rng(seed))
    ci = res.confidence_interval
    return Interval(value, float(ci.low), float(ci.high))


def quick_bench(net, x, timesteps=32, threads=None, repeats=7):
    """Images per second of `net` on `x` with one thread and with `threads`
    (default: every CPU this process may use), and the speed-up of the
    second over the first.

    Returns
    -------
    dict with ``images``, ``timesteps``, ``threads``, ``repeats``,
    ``synaptic_ops_per_image`` (float), ``one_thread`` and ``all_threads``
    (each ``{"images_per_s": Interval, "seconds": list}``, the interval that of
    the median over the repeats against a run's median) and ``speedup``
    (Interval).
    """
    from .network import _default_threads
    threads = threads or _default_threads()
    configs = {"one_thread": {"threads": 1}, "all_threads": {"threads": threads}}
    seconds = time_runs(net, x, timesteps, configs, repeats)
    res = net.run(x, timesteps, threads=threads)
    n = len(x)
    out = {"images": n, "timesteps": timesteps, "threads": threads, "repeats": repeats,
           "synaptic_ops_per_image": float(res.synaptic_ops.total_per_image()[-1])}
    for label, s in seconds.items():
        # images/s = n / median seconds; its interval: n / (the seconds' interval)
        per = ratio_interval(np.full(len(s), float(n)), s)
        out[label] = {"images_per_s": per, "seconds": s.tolist()}
    out["speedup"] = ratio_interval(seconds["one_thread"], seconds["all_threads"])
    return out
