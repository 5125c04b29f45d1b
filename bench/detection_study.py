"""Object detection with a spiking Tiny-YOLO: the ANN's and the SNN's mAP over timesteps,
Spiking-YOLO's ablation, the plot and the picture grid, in one command.

    python bench/detection_study.py                 # everything, about 7 minutes on 2 cores
    python bench/detection_study.py --retrain       # train the detector again first
    python bench/detection_study.py --images 200 --max-t 128   # quicker, smaller

It (1) writes or reuses the cached canvases of bench/detection_data.py, (2)
loads the detector's weights from bench/weights/tiny_yolo.pt, training them
(bench/detection_model.py) when missing or with --retrain, (3) measures the
ANN's mAP@0.5 and mAP@0.5:0.95 (pycocotools) on the 2,000 test canvases and on
the first --images of them, (4) converts it once per row of ROWS and runs each
SNN once to --max-t, decoding the head at every checkpoint of CHECKPOINTS
with the ANN's decoding and NMS (snncore.detection), (5) converts the ReLU twin
with SpikingJelly beside them (when installed), and writes
bench/results/detection.json, bench/plots/detection_grid.png (the ANN's and the
SNN's boxes at two timesteps) and, through bench/report.py, bench/RESULTS.md
with the table and the mAP-against-timesteps plot.

Rows (Spiking-YOLO's ablation, on this task): layer-wise against channel-wise
normalisation (99.9th percentiles), signed neurons (leaky ReLU carried) against
plain IF neurons (the model with its LeakyReLU modules swapped for ReLU before
conversion, thresholds from that twin's activations: the negative part is
lost, which is what an IF neuron that cannot fire below zero does), and
snncore's low-latency recipe (`low_latency_options(model, RECIPE_T)`), beside it
the recipe with LTB thresholds.
"""

import argparse
import contextlib
import copy
import io
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import detection_data  # noqa: E402
import detection_model  # noqa: E402
from snncore.convert import from_torch, low_latency_options  # noqa: E402
from snncore.detection import detect, evaluate  # noqa: E402

CHECKPOINTS = (4, 8, 16, 32, 64, 128, 256, 512)
SNN_IMAGES = 500              # test canvases the SNNs run on (the ANN runs on all)
CALIBRATION = 500             # training canvases for the thresholds
RECIPE_T = 16                 # the timestep count the low-latency recipe is tuned for
SPIKINGJELLY_MAX_T = 128
TARGET_FRACTION = 0.98        # the target: 98% of the ANN's mAP@0.5 ...
TARGET_MAX_T = 32             # ... at some T <= 32, with the low-latency recipe
GRID_T = (8, 32)              # the picture grid's two timesteps
RECIPE_ROW = "low-latency recipe"
# The recipe with LTB's thresholds, what it picks for a plain chain without max pooling
# or concatenation: LTB clips the large activations that max pooling selects and that
# the box regression needs.
RECIPE_LTB_ROW = "low-latency recipe with LTB thresholds"
TARGET_ROWS = (RECIPE_ROW,)
GRID_ROW = RECIPE_ROW
GRID_CANVASES = 6
SCORE_THRESHOLD = 0.01        # the mAP's detections (COCO reads the 100 best per image)
PICTURE_THRESHOLD = 0.3       # the boxes drawn in the picture grid
# Spiking-YOLO (Kim et al. 2020), quoted beside our numbers as the issue and the
# paper's abstract state it (no per-T figures are copied here).
PAPER = {"fraction": 0.97, "dataset": "PASCAL VOC", "model": "Tiny-YOLO",
         "timesteps": "thousands",
         "note": "channel-wise normalisation and signed neurons with imbalanced threshold"}

RESULTS = os.path.join(HERE, "results", "detection.json")
GRID_PNG = os.path.join(HERE, "plots", "detection_grid.png")


# -- the rows ------------------------------------------------------------------------------

def relu_twin(model):
    """A copy of `model` with every nn.LeakyReLU replaced by nn.ReLU (plain IF neurons)."""
    twin = copy.deepcopy(model)
    for module in twin.modules():
        for name, child in module.named_children():
            if isinstance(child, nn.LeakyReLU):
                setattr(module, name, nn.ReLU())
    return twin.eval()


def rows(model):
    """[(setting, neurons, normalisation, the model to convert, from_torch options)]."""
    twin = relu_twin(model)
    recipe = low_latency_options(model, RECIPE_T)
    return [
        ("layer-wise, signed", "signed", "layer", model, dict(norm="percentile")),
        ("channel-wise, signed (Spiking-YOLO)", "signed", "channel", model, dict(norm="channel")),
        ("layer-wise, plain IF", "plain IF", "layer", twin, dict(norm="percentile")),
        ("channel-wise, plain IF", "plain IF", "channel", twin, dict(norm="channel")),
        (RECIPE_ROW, "signed", recipe["norm"], model, recipe),
        (RECIPE_LTB_ROW, "signed", "ltb", model, dict(recipe, norm="ltb")),
    ]


# -- measuring -------------------------------------------------------------------------------

def heads_at(outputs, shape):
    """(N, n_checkpoints, K) flat outputs -> (n_checkpoints, N, C, S, S) heads."""
    n, c = outputs.shape[:2]
    return np.moveaxis(outputs.reshape((n, c) + tuple(shape)), 1, 0)


def map_of(head, truth, anchors):
    """mAP dict of one head (N, C, S, S) against the ground truth."""
    dets = detect(head, anchors, detection_data.NUM_CLASSES, detection_data.CANVAS,
                  score_threshold=SCORE_THRESHOLD)
    return evaluate(dets, truth, detection_data.NUM_CLASSES, detection_data.CANVAS)


def first_within(values, checkpoints, reference, fraction=TARGET_FRACTION):
    """The first checkpoint whose value is at least fraction x reference, or None."""
    for t, v in zip(checkpoints, values):
        if v >= fraction * reference - 1e-12:
            return t
    return None


def curve_record(setting, checkpoints, maps, ann):
    """The JSON record of one row's mAP curve."""
    m50 = [m["map50"] for m in maps]
    m5095 = [m["map50_95"] for m in maps]
    return {"setting": setting, "checkpoints": list(checkpoints), "map50": m50,
            "map50_95": m5095, "fraction_of_ann_map50": [v / ann["map50"] for v in m50],
            "t_within_2pct_map50": first_within(m50, checkpoints, ann["map50"]),
            "t_within_2pct_map50_95": first_within(m5095, checkpoints, ann["map50_95"])}


def run_snn_row(row, calib, x, truth, ann, max_t, maxpool, log):
    """Convert a row of `rows`, run it once to max_t, mAP at every checkpoint
    (fractions of `ann`, the ANN's mAP on the same canvases); (record,
    RunResult, network)."""
    setting, neurons, normalisation, model, options = row
    started = time.perf_counter()
    with _quiet_warnings():
        net = from_torch(model, calib, maxpool=maxpool, **options)
    convert_s = time.perf_counter() - started
    cps = [t for t in CHECKPOINTS if t <= max_t]
    started = time.perf_counter()
    res = net.run(x, max_t, checkpoints=cps)
    run_s = time.perf_counter() - started
    anchors = detection_model.ANCHORS
    maps = [map_of(h, truth, anchors) for h in heads_at(res.outputs, net.output_shape)]
    record = curve_record(setting, res.checkpoints.tolist(), maps, ann)
    record.update(simulator="snncore", neurons=neurons, normalisation=normalisation,
                  options={k: v for k, v in options.items()}, maxpool=maxpool,
                  readout_start=int(res.readout_start),
                  output_calibration=net.provenance.get("output_calibration"),
                  spikes_per_image=res.spikes.total_per_image().tolist(),
                  synaptic_ops_per_image=res.synaptic_ops.total_per_image().tolist(),
                  convert_seconds=round(convert_s, 1), run_seconds=round(run_s, 1))
    log(f"  {setting}: mAP@0.5 " + " ".join(f"T{t}={100 * m['map50']:.1f}"
                                             for t, m in zip(record["checkpoints"], maps))
        + f"  (convert {convert_s:.0f} s, run {run_s:.0f} s)")
    return record, res, net


@contextlib.contextmanager
def _quiet_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- SpikingJelly ------------------------------------------------------------------------------

def spikingjelly_refusal(model, calib):
    """What SpikingJelly 2.0's converter says about the leaky-ReLU detector itself:
    its error message, or None if it converted it."""
    from spikingjelly.activation_based import ann2snn

    recipe = ann2snn.RateCodingRecipe(dataloader=[torch.from_numpy(calib[:100])], mode="99.9%",
                                      channel_wise=True, half_threshold=True)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            ann2snn.Converter(recipe=recipe, device="cpu").convert(copy.deepcopy(model))
    except Exception as e:           # noqa: BLE001 - we report whatever it raised
        return f"{type(e).__name__}: {e}"
    return None


def spikingjelly_row(model, calib, x, truth, ann, max_t, log):
    """SpikingJelly's best recipe (99.9%, channel-wise, half threshold) on the ReLU
    twin; a record like the snncore rows', or None without SpikingJelly."""
    import peers

    try:
        refusal = spikingjelly_refusal(model, calib)
    except ImportError as e:
        log(f"  SpikingJelly not installed ({e}): skipped")
        return None
    started = time.perf_counter()
    snn = peers.spikingjelly_convert(relu_twin(model), calib, mode="99.9%", channel_wise=True,
                                     half_threshold=True)
    convert_s = time.perf_counter() - started
    cps = [t for t in CHECKPOINTS if t <= max_t]
    res = peers.spikingjelly_run(nn.Sequential(snn, nn.Flatten()), x, max_t, checkpoints=cps)
    shape = detection_model.predict(model, x[:1]).shape[1:]
    means = res.outputs / np.asarray(res.checkpoints, np.float32)[None, :, None]
    maps = [map_of(h, truth, detection_model.ANCHORS) for h in heads_at(means, shape)]
    record = curve_record("SpikingJelly 2.0, ReLU twin (99.9%, channel-wise, half threshold)",
                          res.checkpoints, maps, ann)
    record.update(simulator="SpikingJelly", neurons="plain IF", normalisation="channel",
                  refusal_of_leaky_model=refusal, convert_seconds=round(convert_s, 1),
                  run_seconds=round(res.seconds, 1))
    log(f"  SpikingJelly on the leaky model: {refusal or 'converted'}")
    log(f"  {record['setting']}: mAP@0.5 " + " ".join(
        f"T{t}={100 * m['map50']:.1f}" for t, m in zip(res.checkpoints, maps)))
    return record


# -- the picture grid ----------------------------------------------------------------------------

def picture_grid(x, truth, ann_head, snn_heads, path, anchors=detection_model.ANCHORS):
    """Canvases in rows; columns: ground truth, the ANN's boxes, the SNN's at each of
    `snn_heads` ({T: head (N, C, S, S)}). Boxes above PICTURE_THRESHOLD, labelled."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    columns = [("ground truth", None), ("ANN", ann_head)] + \
        [(f"SNN, T={t}", h) for t, h in snn_heads.items()]
    n = len(x)
    fig, axes = plt.subplots(n, len(columns), figsize=(2.3 * len(columns), 2.3 * n),
                             squeeze=False)
    for j, (title, head) in enumerate(columns):
        found = None if head is None else detect(
            head, anchors, detection_data.NUM_CLASSES, detection_data.CANVAS,
            score_threshold=PICTURE_THRESHOLD)
        for i in range(n):
            ax = axes[i, j]
            ax.imshow(x[i, 0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=9)
            if found is None:
                boxes, classes, scores, colour = truth[i].boxes, truth[i].classes, None, "lime"
            else:
                boxes, classes, scores, colour = (found[i].boxes, found[i].classes,
                                                  found[i].scores, "orange")
            for k, (b, c) in enumerate(zip(boxes, classes)):
                ax.add_patch(Rectangle((b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1],
                                       fill=False, edgecolor=colour, linewidth=1.2))
                label = detection_data.CLASS_NAMES[c] + \
                    ("" if scores is None else f" {scores[k]:.2f}")
                ax.text(b[0], b[1] - 1, label, color=colour, fontsize=5.5, va="bottom")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- the whole study ---------------------------------------------------------------------------------

def model_and_info(retrain, log):
    found = None if retrain else detection_model.load()
    if found is None:
        return detection_model.train_and_save(log=log)
    log(f"{detection_model.NAME}: kept weights {detection_model.weight_paths()[0]}")
    return found


def study(images=SNN_IMAGES, max_t=CHECKPOINTS[-1], retrain=False, maxpool="spike",
          spikingjelly=True, out=RESULTS, grid_png=GRID_PNG, data=None, only=None, log=print):
    """Run everything; returns the JSON document (also written to `out`).

    data: (train, test) Canvases instead of the cached sets; only: the
    settings of ROWS to run (all by default). The smoke test uses both."""
    started = time.perf_counter()
    torch.set_num_threads(detection_model.THREADS)
    train, test = data or (detection_data.load("train", log=log),
                           detection_data.load("test", log=log))
    model, info = model_and_info(retrain, log)
    anchors = detection_model.ANCHORS
    x_all, truth_all = test.floats(), test.ground_truth()
    images = min(images, len(test))
    x, truth = x_all[:images], truth_all[:images]
    calib = train.floats()[:CALIBRATION]

    ann_head = detection_model.predict(model, x_all)
    ann_all = map_of(ann_head, truth_all, anchors)
    ann = map_of(ann_head[:images], truth, anchors)
    twin_ann = map_of(detection_model.predict(relu_twin(model), x), truth, anchors)
    log(f"ANN: mAP@0.5 {100 * ann_all['map50']:.2f}, mAP@0.5:0.95 "
        f"{100 * ann_all['map50_95']:.2f} on {len(test):,} test canvases; on the first "
        f"{images}: {100 * ann['map50']:.2f} / {100 * ann['map50_95']:.2f}; the ReLU twin "
        f"there: {100 * twin_ann['map50']:.2f} / {100 * twin_ann['map50_95']:.2f}")

    records, grid_heads = [], {}
    for row in rows(model):
        if only is not None and row[0] not in only:
            continue
        record, res, net = run_snn_row(row, calib, x, truth, ann, max_t, maxpool, log)
        records.append(record)
        if record["setting"] == GRID_ROW:
            heads = heads_at(res.outputs[:GRID_CANVASES], net.output_shape)
            cps = res.checkpoints.tolist()
            grid_heads = {t: heads[cps.index(t)] for t in GRID_T if t in cps}
    if spikingjelly:
        sj = spikingjelly_row(model, calib, x, truth, ann, min(max_t, SPIKINGJELLY_MAX_T), log)
        if sj is not None:
            records.append(sj)
    picture_grid(x[:GRID_CANVASES], truth[:GRID_CANVASES], ann_head[:GRID_CANVASES],
                 grid_heads, grid_png)

    met = {r["setting"]: [t for t, f in zip(r["checkpoints"], r["fraction_of_ann_map50"])
                          if t <= TARGET_MAX_T and f >= TARGET_FRACTION - 1e-12]
           for r in records if r["setting"] in TARGET_ROWS}
    doc = {"kind": "detection", "model": detection_model.NAME, "model_info": info,
           "data": {"train": detection_data.summary(train), "test": detection_data.summary(test),
                    "settings": detection_data.settings()},
           "snn_images": images, "calibration_images": CALIBRATION,
           "ann": {"all_test": ann_all, "snn_images": ann, "relu_twin_snn_images": twin_ann},
           "recipe_timesteps": RECIPE_T, "maxpool": maxpool,
           "score_threshold": SCORE_THRESHOLD, "rows": records,
           "target": {"fraction": TARGET_FRACTION, "max_t": TARGET_MAX_T, "met_at": met,
                      "met": any(met.values())},
           "grid": {"path": os.path.relpath(grid_png, HERE), "timesteps": list(grid_heads),
                    "row": GRID_ROW, "canvases": GRID_CANVASES,
                    "score_threshold": PICTURE_THRESHOLD},
           "paper": PAPER, "seconds": round(time.perf_counter() - started, 1),
           "torch": torch.__version__}
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    log(f"wrote {out} and {grid_png} ({doc['seconds']:.0f} s)")
    return doc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=SNN_IMAGES,
                   help="test canvases the SNNs run on (default %(default)s)")
    p.add_argument("--max-t", type=int, default=CHECKPOINTS[-1],
                   help="the longest run's T (default %(default)s)")
    p.add_argument("--retrain", action="store_true", help="train the detector even if "
                   "bench/weights/tiny_yolo.pt exists")
    p.add_argument("--maxpool", choices=("spike", "avg"), default="spike",
                   help="how the converter takes max pooling (default spiking max pooling)")
    p.add_argument("--no-spikingjelly", action="store_true")
    p.add_argument("--json", default=RESULTS, help="where to write the results")
    p.add_argument("--no-report", action="store_true",
                   help="do not regenerate bench/RESULTS.md")
    args = p.parse_args(argv)
    if args.images < 1 or args.max_t < CHECKPOINTS[0]:
        p.error(f"--images must be >= 1 and --max-t >= {CHECKPOINTS[0]}")
    study(args.images, args.max_t, args.retrain, args.maxpool, not args.no_spikingjelly,
          args.json)
    if not args.no_report:
        import report
        return report.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
