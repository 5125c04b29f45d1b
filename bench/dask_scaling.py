"""Throughput of snncore.distributed.run with 1 and 2 Dask workers.

Each cluster is a distributed.LocalCluster of worker processes with one thread
each (the engine runs one thread a task), on loopback. The network is the
Fashion-MNIST CNN converted by snncore (percentile normalisation), run on
Fashion-MNIST test images for T steps in blocks of `block` images; the result
is checked to equal a local run's, bit for bit. Times are medians of
`repeats` runs after one untimed run (which loads the network on the
workers); the clusters' runs are interleaved. The per-block overhead is the median wall time per block of a run of
many blocks of one image through a network of one dense layer (whose work is
microseconds), on the same cluster. The busy fraction is the share of a run's
wall time the workers spent computing blocks: near 1, Dask keeps every worker
busy, and a speed-up below the worker count comes from cores that other jobs
hold.

    python bench/dask_scaling.py --json bench/results/dask_scaling.json

writes the record bench/report.py renders ("Dask workers"); bench/test_dask_scaling.py
runs a small version. The machine is shared: quote the medians.
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from report import write_single_file  # noqa: E402


def _median_seconds(fn, repeats):
    fn()                                 # untimed: the workers load the network
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times)), [float(t) for t in times]


def _busy_fraction(client, fn, n_workers):
    """The share of one more run's wall time that the workers spent running
    blocks (Dask's task stream): 1 when every worker computed all along. It
    tells the distribution's own loss from a shortage of free cores."""
    from distributed import get_task_stream

    with get_task_stream(client) as stream:
        started = time.perf_counter()
        fn()
        wall = time.perf_counter() - started
    computing = sum(s["stop"] - s["start"] for task in stream.data
                    if "_run_block" in str(task["key"])
                    for s in task["startstops"] if s["action"] == "compute")
    return computing / (wall * n_workers)


def _tiny_network():
    import snncore

    b = snncore.NetworkBuilder((4,))
    b.population("out", (2,), kind="accumulate")
    b.dense("fc", "input", "out", np.full((2, 4), 0.25, np.float32))
    return b.build("out")


def _same(a, b):
    return bool(np.array_equal(a.outputs, b.outputs) and np.array_equal(a.spikes.raw, b.spikes.raw)
                and np.array_equal(a.synaptic_ops.raw, b.synaptic_ops.raw))


def measure(net, x, timesteps, block, repeats=3, overhead_blocks=200, workers=(1, 2)):
    """The record: images/s of a local run on one thread and of the Dask runs
    with each worker count, the scaling efficiency and the per-block overhead.
    The clusters are all up at once and their runs interleaved (1, 2, 1, 2,
    ...), so that the other jobs of a shared machine weigh on each alike; the
    load average before and after is recorded."""
    import distributed

    from snncore import distributed as sd

    record = {"images": int(len(x)), "timesteps": int(timesteps), "block": int(block),
              "repeats": int(repeats), "blocks": -(-len(x) // block), "cpus": os.cpu_count(),
              "load_average_before": os.getloadavg()[0]}
    local = net.run(x, timesteps, threads=1)
    seconds, _ = _median_seconds(lambda: net.run(x, timesteps, threads=1), repeats)
    record["local_1_thread_images_per_second"] = len(x) / seconds
    tiny, tiny_x = _tiny_network(), np.ones((overhead_blocks, 4), np.float32)
    clusters = {n: distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                            host="127.0.0.1", dashboard_address=None)
                for n in workers}
    clients = {n: distributed.Client(c, set_as_default=False) for n, c in clusters.items()}
    times = {n: [] for n in workers}
    overhead = {n: [] for n in workers}
    try:
        same = {n: _same(local, sd.run(net, x, timesteps, block_size=block, client=c))
                for n, c in clients.items()}      # also the untimed run: networks loaded
        for _ in range(repeats):
            for n, c in clients.items():
                started = time.perf_counter()
                sd.run(net, x, timesteps, block_size=block, client=c)
                times[n].append(time.perf_counter() - started)
                started = time.perf_counter()
                sd.run(tiny, tiny_x, 1, block_size=1, client=c)
                overhead[n].append(time.perf_counter() - started)
        busy = {n: _busy_fraction(c, lambda c=c: sd.run(net, x, timesteps, block_size=block,
                                                          client=c), n)
                for n, c in clients.items()}
    finally:
        for n in workers:
            clients[n].close()
            clusters[n].close()
    record["load_average_after"] = os.getloadavg()[0]
    record["workers"] = {}
    for n in workers:
        seconds = float(np.median(times[n]))
        record["workers"][str(n)] = {
            "images_per_second": len(x) / seconds, "seconds": seconds, "all_seconds": times[n],
            "identical_to_local": same[n], "busy_fraction": busy[n],
            "overhead_ms_per_block": 1e3 * float(np.median(overhead[n])) / overhead_blocks}
    one, two = record["workers"].get("1"), record["workers"].get("2")
    if one and two:
        record["speedup_2_over_1"] = two["images_per_second"] / one["images_per_second"]
        record["scaling_efficiency"] = record["speedup_2_over_1"] / 2
    return record


def fashion_case(images, calibration=500):
    """The Fashion CNN converted by snncore, and `images` test images."""
    from datasets import fashion_mnist
    from models import load_model
    from snncore.convert import from_torch

    x_calib = fashion_mnist("train")[0][:calibration].astype(np.float32) / 255
    net = from_torch(load_model("fashion_cnn"), x_calib, progress=False)
    x = fashion_mnist("test")[0][:images].astype(np.float32) / 255
    return net, x


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--timesteps", "-T", type=int, default=32)
    p.add_argument("--block", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", help="write the record here (bench/results/dask_scaling.json)")
    args = p.parse_args(argv)
    net, x = fashion_case(args.images)
    record = dict(measure(net, x, args.timesteps, args.block, args.repeats),
                  model="fashion_cnn", encoding="analog")
    write_single_file(record, args.json)


if __name__ == "__main__":
    main()
