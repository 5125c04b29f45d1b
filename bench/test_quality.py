"""Conversion quality: accuracy against timesteps of every normalisation
method, reset mode and input encoding on the Fashion-MNIST CNN, and of the
low-latency settings on the four main benchmark models.

    pytest bench/test_quality.py --benchmark-only --benchmark-json=bench/results/quality.json
    python bench/report.py bench/results/quality.json

1. The matrix (``group="matrix"``): fashion_cnn converted with
   ``from_torch(model, x_calib, norm=method, reset=reset)`` for each method of
   METHODS and each reset, run with ``net.run(x, T, encoding=...)`` under
   analog and poisson input, accuracy at T = 1, 2, 4, ..., 512.
2. The low-latency rows (``group="low_latency"``): fashion_cnn, vgg,
   resnet_small and leaky_cnn with analog input and the settings of
   evaluation.LOW_LATENCY (per-channel thresholds, half-threshold start,
   delayed read-out, bias calibration), up to T=128, beside Rueckauer's
   percentile. The smoke run takes three settings on fashion_cnn and one on
   the other models (evaluation.low_latency_cases).
3. The torchvision rows (``group="torchvision"``): resnet18, vgg11_bn,
   mobilenet_v2, squeezenet1_1 and shufflenet_v2_x0_5 (torchvision's
   definitions for 32x32 Fashion-MNIST, bench/models.py) with the low-latency
   recipe (snncore.convert.low_latency_options, setting "recipe"), with the
   recipe given LTB thresholds from 100 batches on the models without residual
   junctions ("recipe_ltb100"), and with
   percentile normalisation, analog input, up to T=128, on 1,000 test images.
   The smoke run converts shufflenet_v2_x0_5 with the recipe alone
   (evaluation.torchvision_cases).

Each benchmark's extra_info (kind="quality") holds model, group, setting,
method, reset, encoding, options (from_torch's), checkpoints, accuracy (one
fraction per checkpoint), ann_accuracy (the ANN on the same images),
t_within_1 and t_within_0_1 (the first checkpoint within 1 and 0.1 points of
the ANN, None if never), spikes_per_image and synaptic_ops_per_image (mean per
image up to each checkpoint; spikes of the IF neurons), energy_ratio
(snncore.estimate_energy: SNN over ANN), images, calibration, readout_start,
scale, and the seconds of the conversion and run. Sizes come from the
benchmark scale (bench/conftest.py: --bench-scale, smoke under
--benchmark-disable). Conversions and runs are shared with the energy and
claims benchmarks through the session's evaluator.
"""

import numpy as np
import pytest

from evaluation import (bench_scale_of, low_latency_cases, record, skip_if_missing,
                        torchvision_cases)

METHODS = ("none", "model", "max", "percentile", "channel", "spike", "ltb")
RESETS = ("subtract", "zero")
ENCODINGS = ("analog", "poisson")

# Settings whose final accuracy must be near the ANN's even at smoke size: the
# benchmark would be measuring a broken converter otherwise.
SANE = {("percentile", "subtract", "analog"), ("channel", "subtract", "analog")}
SANE_POINTS = 15             # 3 of the smoke run's 20 images


def check_curve(curve):
    """What every curve must satisfy whatever its accuracy."""
    n = len(curve.checkpoints)
    assert curve.accuracy.shape == (n,)
    assert np.all((curve.accuracy >= 0) & (curve.accuracy <= 1))
    assert np.all(np.diff(curve.synaptic_ops) >= 0), "counts are cumulative"
    assert np.all(np.diff(curve.spikes) >= 0)
    assert curve.synaptic_ops[-1] > 0


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("method", METHODS)
def test_quality_matrix(benchmark, evaluator, method, reset, encoding):
    benchmark.group = "quality: fashion_cnn"
    options = evaluator.options(norm=method, reset=reset)
    with skip_if_missing():
        curve = record(benchmark, lambda: evaluator.curve("fashion_cnn", options, encoding))
    benchmark.extra_info.update(kind="quality", group="matrix", setting=method, method=method,
                                reset=reset, **curve.info(), scale=evaluator.scale.name)
    check_curve(curve)
    if (method, reset, encoding) in SANE:
        assert curve.accuracy[-1] >= curve.ann_accuracy - SANE_POINTS / 100, \
            f"{method}/{reset}/{encoding}: {curve.accuracy[-1]:.3f} vs ANN {curve.ann_accuracy:.3f}"


# fixture name -> the function listing its (model, setting) cases at a scale
CASES = {"low_latency_case": low_latency_cases, "torchvision_case": torchvision_cases}


def pytest_generate_tests(metafunc):
    for fixture, cases_of in CASES.items():
        if fixture in metafunc.fixturenames:
            cases = cases_of(bench_scale_of(metafunc.config))
            metafunc.parametrize(fixture, cases, ids=[f"{m}-{s}" for m, s in cases])


def record_low_latency(benchmark, evaluator, model, setting, group):
    """Run one low-latency row (cached), record it in extra_info under
    `group`, and check its curve."""
    with skip_if_missing():
        curve = record(benchmark, lambda: evaluator.low_latency_curve(model, setting))
    benchmark.extra_info.update(kind="quality", group=group, setting=setting,
                                method=curve.options["norm"], reset="subtract",
                                **curve.info(),
                                scale=evaluator.scale.name)
    check_curve(curve)


def test_quality_low_latency(benchmark, evaluator, low_latency_case):
    model, setting = low_latency_case
    benchmark.group = f"quality: low latency, {model}"
    record_low_latency(benchmark, evaluator, model, setting, "low_latency")


def test_quality_torchvision(benchmark, evaluator, torchvision_case):
    model, setting = torchvision_case
    benchmark.group = f"quality: torchvision, {model}"
    record_low_latency(benchmark, evaluator, model, setting, "torchvision")
