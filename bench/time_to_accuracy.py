"""Time to accuracy: snncore at its ANN's accuracy against the ANN itself in
onnxruntime and in PyTorch (issue 15).

For each bench model with trained weights, the ANN's accuracy on the model's
test images (bench/evaluation.py's scale: 2,000 Fashion-MNIST images for the
CNNs, 1,000 for vgg and resnet_small); then snncore's low-latency recipe
(``snncore.convert.low_latency_options(model, T)``, tuned at each T) at each T
of the LADDER in turn, until the SNN is within POINTS percentage points of the
ANN on the same images (`smallest_t_within`). At that T (or, where no T of the
ladder gets there, at the T of the best accuracy, marked as not reached) three
runtimes are timed in one process, in alternating rounds (medians):

- onnxruntime: the ANN exported by ``torch.onnx.export(..., dynamo=False)``,
  CPU provider, ``intra_op_num_threads`` = N;
- PyTorch: the ANN under ``torch.inference_mode``, ``torch.set_num_threads(N)``;
- snncore: the converted network at T, ``threads=N``, its default kernel set;

at batch 100 (one call) and at batch 1 (images one at a time), for N = 1 and
2. The ratios snncore/onnxruntime and snncore/PyTorch are the record's; the
target (speed_targets.ANN_RUNTIME_TARGET) is snncore at >= 0.8x onnxruntime
on the CNN at both batches. Each model also records where the time goes, at
batch 100 on one thread, medians over the rounds: the engine's profile per
projection (evaluation.projection_costs, beside the ANN's multiply-accumulates
of the same layer) and per population pass, and onnxruntime's own profile per
node.

    python bench/time_to_accuracy.py --json bench/results/time_to_accuracy.json
    python bench/report.py          # bench/RESULTS.md, "Time to accuracy ..."

needs onnxruntime and onnx (pip install -e ".[bench]"). bench/test_time_to_accuracy.py
runs the same measurement under pytest-benchmark (a smoke version under
--benchmark-disable). Nothing is asserted about time; the machine's load
average is recorded beside each row.
"""

import argparse
import io
import os
import sys
import time
import warnings
from types import SimpleNamespace

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import speed_targets  # noqa: E402
from evaluation import is_within, median_profile, projection_costs  # noqa: E402
from report import write_single_file  # noqa: E402

MODELS = ("fashion_cnn", "leaky_cnn", "vgg", "resnet_small")
LADDER = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
POINTS = 0.5
RUNTIMES = ("onnxruntime", "pytorch", "snncore")

FULL = dict(ladder=LADDER, threads=(1, 2), batches=(100, 1), single_images=50, rounds=7)
SMOKE = dict(ladder=(2, 4), threads=(1,), batches=(10, 1), single_images=3, rounds=1)


def sizes_of(scale):
    """SMOKE or FULL for an evaluation.Scale."""
    return SimpleNamespace(**(SMOKE if scale.smoke else FULL))


def smallest_t_within(ladder, accuracy_at, ann, points):
    """The first T of `ladder` (increasing ints) whose accuracy_at(T) (a
    fraction) is within `points` percentage points of `ann` (a fraction).

    accuracy_at is called for each T in turn, up to the first that is within.

    Returns
    -------
    (T or None, {T: accuracy} of every T tried, bool reached)
        Where no T gets within, T is the ladder's most accurate (the smallest
        of equals) and reached is False.
    """
    if not ladder:
        raise ValueError("the ladder of timestep counts is empty")
    if list(ladder) != sorted(set(ladder)) or ladder[0] < 1:
        raise ValueError(f"the ladder must be increasing positive timestep counts, got {ladder}")
    tried = {}
    for t in ladder:
        tried[t] = float(accuracy_at(t))
        if is_within(tried[t], ann, points):
            return t, tried, True
    best = max(tried.values())
    return min(t for t, a in tried.items() if a == best), tried, False


# -- the three runtimes ------------------------------------------------------------

def onnx_session(model, input_shape, threads):
    """An onnxruntime CPU session of `model` (torch.nn.Module, eval mode) for
    any batch of float32 images of `input_shape` (C, H, W) (see onnx_bytes),
    with `threads` intra-op threads."""
    import onnxruntime as ort

    return ort.InferenceSession(onnx_bytes(model, input_shape), _session_options(ort, threads),
                                providers=["CPUExecutionProvider"])


def onnx_bytes(model, input_shape):
    """`model` exported to ONNX (bytes) by PyTorch's TorchScript exporter,
    input "x" of float32 images (batch,) + input_shape, output "y"."""
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, torch.zeros((1,) + tuple(input_shape)), buffer, dynamo=False,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return buffer.getvalue()


def _session_options(ort, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


def onnx_node_profile(model_bytes, x, rounds=5):
    """{node: {"op", "us_per_image"}} of the ANN in onnxruntime on one
    thread: onnxruntime's own profile of `rounds` runs of the batch x (float32
    images (N, C, H, W)) after one untimed run, the median of each node's
    kernel time, per image. The nodes are onnxruntime's after its graph
    optimisations (a Conv with its Relu fused, layouts reordered)."""
    import json
    import tempfile

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = _session_options(ort, 1)
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        for _ in range(rounds + 1):
            session.run(None, {"x": x})
        with open(session.end_profiling()) as f:
            events = json.load(f)
    durations, ops = {}, {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            name = e["name"][:-len("_kernel_time")]
            durations.setdefault(name, []).append(e["dur"])      # microseconds
            ops[name] = e.get("args", {}).get("op_name")
    return {name: {"op": ops[name], "us_per_image": float(np.median(d[1:] or d)) / len(x)}
            for name, d in durations.items()}


def pass_seconds(net, x, timesteps, rounds):
    """{population: seconds of its passes} and the wall seconds of a profiled
    run of x on one thread, medians of `rounds` runs (the projections' share
    is in evaluation.projection_costs)."""
    _, profile, wall = median_profile(net, x, timesteps, 1, rounds)
    return {k: v for k, v in profile["populations"].items() if v}, wall


def runners(model, session, net, timesteps, threads):
    """{runtime: f(x) -> logits or outputs} for RUNTIMES on `threads` threads.
    PyTorch's thread count is process-wide: set here, once per thread count."""
    import torch

    torch.set_num_threads(threads)

    def pytorch(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return {"onnxruntime": lambda x: session.run(None, {"x": x})[0],
            "pytorch": pytorch,
            "snncore": lambda x: net.run(x, timesteps, threads=threads, progress=False).output}


def one_at_a_time(fn, x, batch):
    """fn over x in batches of `batch` (a batch of 1: images one at a time)."""
    return [fn(x[i:i + batch]) for i in range(0, len(x), batch)]


def alternating_medians(fns, rounds):
    """{name: median seconds} of fns (name -> f()), each run once untimed, then
    in `rounds` rounds of one call each, the order rotating every round so
    that no runtime always follows another; the load of a shared machine
    then weighs on each alike."""
    names = list(fns)
    for name in names:
        fns[name]()
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            started = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - started)
    return {name: float(np.median(t)) for name, t in times.items()}


def speed_row(run, x, batch, threads, rounds):
    """One row: images/s of each runtime on `x` in batches of `batch`, and
    snncore's ratios to the two ANN runtimes."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    seconds = alternating_medians(
        {name: (lambda fn=fn: one_at_a_time(fn, x, batch)) for name, fn in run.items()}, rounds)
    ips = {name: len(x) / s for name, s in seconds.items()}
    row = {"threads": threads, "batch": batch, "images": len(x), "rounds": rounds,
           "load_avg_1min": load}
    row.update({f"{name}_images_per_s": v for name, v in ips.items()})
    row["ratio_vs_onnxruntime"] = ips["snncore"] / ips["onnxruntime"]
    row["ratio_vs_pytorch"] = ips["snncore"] / ips["pytorch"]
    return row


# -- one model ---------------------------------------------------------------------

def recipe_options(evaluator, model, timesteps):
    """from_torch options of the low-latency recipe tuned at `timesteps`."""
    from snncore.convert import low_latency_options

    return evaluator.options(**low_latency_options(evaluator.model(model), timesteps))


def search(evaluator, model, sizes):
    """(T, {T: accuracy}, reached, options at T) of the model's smallest-T search."""
    def accuracy_at(t):
        curve = evaluator.curve(model, recipe_options(evaluator, model, t), "analog", t)
        return curve.accuracy[curve.at(t)]

    t, tried, reached = smallest_t_within(sizes.ladder, accuracy_at,
                                          evaluator.ann_accuracy(model), POINTS)
    return t, tried, reached, recipe_options(evaluator, model, t)


def agreement(run, x):
    """Share of `x` on which onnxruntime's and snncore's class agree with
    PyTorch's, and onnxruntime's largest logit difference from PyTorch's."""
    ref = run["pytorch"](x)
    ort_out = run["onnxruntime"](x)
    return {"onnxruntime_same_class": float((ort_out.argmax(1) == ref.argmax(1)).mean()),
            "onnxruntime_max_logit_difference": float(np.abs(ort_out - ref).max()),
            "snncore_same_class": float((run["snncore"](x).argmax(1) == ref.argmax(1)).mean())}


def measure_model(evaluator, model, sizes, on_row=None):
    """The model's record: accuracies, the search, a speed row per (threads,
    batch), the profile per projection. on_row(row) is called after each row."""
    import models
    import snncore
    import torch

    d = evaluator.data(model)
    t, tried, reached, options = search(evaluator, model, sizes)
    net = evaluator.network(model, options)[0]
    ann = evaluator.model(model)
    record = {"model": model, "points": POINTS, "ladder": list(sizes.ladder),
              "ann_accuracy": evaluator.ann_accuracy(model), "accuracy_images": len(d.x_test),
              "tried": {str(k): v for k, v in tried.items()}, "timesteps": t,
              "reached": reached, "snn_accuracy": tried[t],
              "conversion": {k: v for k, v in options.items() if k != "progress"},
              "isa": net.isa, "onnxruntime_version": _version("onnxruntime"),
              "torch_version": _version("torch"), "snncore_version": snncore.__version__,
              "cpus": os.cpu_count(), "rows": []}
    x_big = d.x_test[:max(sizes.batches)]
    torch_threads = torch.get_num_threads()
    try:
        for threads in sizes.threads:
            run = runners(ann, onnx_session(ann, models.input_shape_of(model), threads), net,
                          t, threads)
            if "agreement" not in record:
                record["agreement"] = agreement(run, x_big)
            for batch in sizes.batches:
                x = x_big if batch > 1 else d.x_test[:sizes.single_images]
                row = speed_row(run, x, batch, threads, sizes.rounds)
                record["rows"].append(row)
                if on_row:
                    on_row(row)
    finally:
        torch.set_num_threads(torch_threads)    # runners set it for the whole process
    record["profile"] = projection_costs(net, x_big, t, 1, sizes.rounds)
    macs = net.ann_macs()
    for name, p in record["profile"].items():
        p["ann_macs"] = int(macs.get(name, 0))
    record["passes"], record["profile_wall_seconds"] = pass_seconds(net, x_big, t,
                                                                    sizes.rounds)
    record["profile_images"] = len(x_big)
    record["ann_profile"] = onnx_node_profile(onnx_bytes(ann, models.input_shape_of(model)),
                                              x_big, sizes.rounds)
    record["target"] = target_of(model)
    return record


def target_of(model):
    """The target text of `model`'s rows, or None."""
    if model != speed_targets.ANN_RUNTIME_MODEL:
        return None
    return f">= {speed_targets.ANN_RUNTIME_TARGET:g}x onnxruntime at batch 100 and 1"


def _version(module):
    import importlib

    return getattr(importlib.import_module(module), "__version__", None)


def main(argv=None):
    from evaluation import Evaluator, Scale

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--scale", choices=("smoke", "full"), default="full",
                   help="full: the numbers of RESULTS.md; smoke: seconds")
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="thread counts N (default: 1 2; smoke: 1)")
    p.add_argument("--json", help="write the record here "
                                  "(bench/results/time_to_accuracy.json)")
    args = p.parse_args(argv)
    scale = Scale.resolve(args.scale)
    sizes = sizes_of(scale)
    if args.threads:
        sizes.threads = tuple(args.threads)
    evaluator = Evaluator(scale, threads=1)     # the searches: results do not depend on it
    started = time.time()
    record = {"command": "python bench/time_to_accuracy.py --json "
                         "bench/results/time_to_accuracy.json",
              "scale": scale.as_dict(), "load_avg_before": os.getloadavg()[0], "models": []}
    for model in args.models:
        rec = measure_model(evaluator, model, sizes,
                            on_row=lambda r, m=model: print(_row_text(m, r), file=sys.stderr))
        record["models"].append(rec)
    record["load_avg_after"] = os.getloadavg()[0]
    record["seconds"] = round(time.time() - started, 1)
    write_single_file(record, args.json)


def _row_text(model, row):
    return (f"{model} threads={row['threads']} batch={row['batch']}: "
            + ", ".join(f"{n} {row[n + '_images_per_s']:.0f}/s" for n in RUNTIMES)
            + f"; snncore/onnxruntime {row['ratio_vs_onnxruntime']:.2f}x, load "
              f"{row['load_avg_1min']:.2f}")


if __name__ == "__main__":
    main()
