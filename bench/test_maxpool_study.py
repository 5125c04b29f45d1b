"""Max pooling: the known ways of converting it, measured on two networks
(bench/maxpool_study.py describes the variants and holds the simulator).

    pytest bench/test_maxpool_study.py --benchmark-only \\
        --benchmark-json=bench/results/maxpool_study.json
    python bench/report.py

The trained max-pooling CNN (`maxpool_cnn`, 28x28) and the quarter-width
torchvision resnet18 (`resnet18`, 32x32, its max pool after the stem), each on
the first 1,000 Fashion-MNIST test images, analog input, accuracy at T = 1, 2,
4, ..., 256, with: snncore's engine (maxpool='spike' and maxpool='avg', each
with percentile thresholds and with low_latency_options), a PyTorch simulation
of three pooling rules (count-max, snncore's rule; rate-gate, Rueckauer et al.
2017; current-max, SpikingJelly-style pooling before the neuron) on the
parameters of each of the two maxpool='spike' conversions, and SpikingJelly's
own converter (two recipes). Everything runs on one thread. The smoke run
(--benchmark-disable) runs the same on the smoke scale's 20 images and T up
to 32.

The simulator is checked first: its count-max must give the engine's
accuracy at every T to within 0.5 points (one image at the smoke size), on
each model and threshold set; test_simulator_matches_engine asserts it.
Nothing else is asserted: the accuracies are the finding.

Each benchmark's extra_info (kind="maxpool_study") holds model, variant,
runner (snncore, simulator or SpikingJelly), thresholds (percentile, low
latency or own), description, checkpoints, accuracy (fractions),
ann_accuracy (the ANN on the same images), images, calibration,
run_seconds, threads, scale; snncore's rows their from_torch options (and
ann_avg_pool_accuracy for maxpool='avg'), the simulator's rows the snncore
row whose conversion they run on (conversion_of); the checks' rows also
their agreement with the engine.
"""

import pytest

from evaluation import record, skip_if_missing
from maxpool_study import CHECKS, MODELS, VARIANTS, Study

GROUP = "maxpool study: {}"


@pytest.fixture(scope="session")
def studies(evaluator):
    """model -> its Study, each made once per session (on first use)."""
    made = {}

    def study(model):
        if model not in made:
            with skip_if_missing():
                made[model] = Study(evaluator, model)
        return made[model]
    return study


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v not in CHECKS.values()])
@pytest.mark.parametrize("model", MODELS)
def test_maxpool_variant(benchmark, studies, model, variant):
    benchmark.group = GROUP.format(model)
    study = studies(model)
    with skip_if_missing():
        record(benchmark, lambda: study.outputs(variant))
        benchmark.extra_info.update(study.info(variant))


@pytest.mark.parametrize("thresholds", list(CHECKS))
@pytest.mark.parametrize("model", MODELS)
def test_simulator_matches_engine(benchmark, studies, model, thresholds):
    """The simulator's count-max against snncore's engine (maxpool='spike',
    the same conversion): the same accuracy at every T, so the simulator's
    other rules are measured under the engine's dynamics."""
    benchmark.group = GROUP.format(model)
    study = studies(model)
    with skip_if_missing():
        record(benchmark, lambda: study.outputs(CHECKS[thresholds]))
        agreement = study.agreement(thresholds)
    benchmark.extra_info.update(study.info(CHECKS[thresholds]), agreement=agreement)
    assert agreement["max_accuracy_gap_points"] <= agreement["tolerance_points"], \
        f"the simulator departs from snncore's engine on {model}: {agreement}"


# -- the simulator's parts on small inputs (no data, no trained weights) -----------

def _random_spikes(steps, shape, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(shape, generator=g) < 0.3).float() for _ in range(steps)]


def test_pooling_rules_on_overlapping_padded_windows():
    """resnet18's pool (3x3, stride 2, padding 1): count-max's running count is
    the max-pooled running count of its inputs at every step; the rate gate
    passes at most one spike per window and step, and only where a neuron of
    the window spiked (padding never wins)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from maxpool_study import CountMax, RateGate

    pool = nn.MaxPool2d(3, stride=2, padding=1)
    count_max, gate = CountMax(pool), RateGate(pool)
    counts = pooled = gated = 0
    for spikes in _random_spikes(20, (2, 3, 9, 9)):
        counts = counts + spikes
        pooled = pooled + count_max(spikes)
        passed = gate(spikes)
        gated = gated + passed
        assert torch.equal(pooled, F.max_pool2d(counts, 3, stride=2, padding=1))
        assert bool((passed <= F.max_pool2d(spikes, 3, stride=2, padding=1)).all())
        assert set(passed.unique().tolist()) <= {0.0, 1.0}
    assert pooled.shape == gated.shape == (2, 3, 5, 5) and float(gated.sum()) > 0


def test_simulator_refuses_a_conversion_of_another_network():
    """The simulator matches ReLUs to the conversion's IF populations; a
    conversion with another count of them is refused, naming both counts."""
    import numpy as np
    import torch
    import torch.nn as nn

    from maxpool_study import EngineLayers, SpikingGraph, fold
    from snncore.convert import from_torch

    small = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(18, 3)).eval()
    deeper = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                           nn.Linear(18, 4), nn.ReLU(), nn.Linear(4, 3)).eval()
    x = np.random.default_rng(0).random((8, 1, 8, 8), dtype=np.float32)
    layers = EngineLayers(from_torch(small, x, progress=False))
    with pytest.raises(ValueError, match="the model has 2 ReLUs but its conversion has 1 IF"):
        SpikingGraph(fold(deeper), layers, torch.from_numpy(x), "count-max")
