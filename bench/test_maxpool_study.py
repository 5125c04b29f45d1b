"""Max pooling: the known ways of converting it, measured on one network
(bench/maxpool_study.py describes the variants and holds the simulator).

    pytest bench/test_maxpool_study.py --benchmark-only \\
        --benchmark-json=bench/results/maxpool_study.json
    python bench/report.py bench/results/full.json bench/results/speed.json \\
        bench/results/maxpool_study.json

The trained max-pooling CNN (`maxpool_cnn`) on the first 1,000 Fashion-MNIST
test images, analog input, accuracy at T = 1, 2, 4, ..., 256, with: snncore's
engine (maxpool='spike', default and low-latency; maxpool='avg'), a PyTorch
simulation of three pooling rules on the thresholds of the percentile
conversion (count-max, snncore's rule; rate-gate, Rueckauer et al. 2017;
current-max, SpikingJelly-style pooling before the neuron), and SpikingJelly's
own converter (two recipes). The smoke run (--benchmark-disable) runs the
same on the smoke scale's 20 images and T up to 32.

The simulator is checked first: its count-max must give the engine's
accuracy at every T to within 0.5 points (one image at the smoke size);
test_simulator_matches_engine asserts it. Nothing else is asserted: the
accuracies are the finding.

Each benchmark's extra_info (kind="maxpool_study") holds model, variant,
runner (snncore, simulator or SpikingJelly), description, checkpoints,
accuracy (fractions), ann_accuracy (the ANN on the same images), images,
calibration, run_seconds, scale; snncore's rows their from_torch options
(and ann_avg_pool_accuracy for maxpool='avg'), the simulator's rows their
thresholds; the check's row also its agreement with the engine.
"""

import pytest

from evaluation import record, skip_if_missing
from maxpool_study import VARIANTS, Study


@pytest.fixture(scope="session")
def study(evaluator):
    """The study's runs, made once per session."""
    with skip_if_missing():
        return Study(evaluator)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "count-max"])
def test_maxpool_variant(benchmark, study, variant):
    benchmark.group = "maxpool study: maxpool_cnn"
    with skip_if_missing():
        record(benchmark, lambda: study.outputs(variant))
        benchmark.extra_info.update(study.info(variant))


def test_simulator_matches_engine(benchmark, study):
    """The simulator's count-max against snncore's engine (maxpool='spike',
    same thresholds): the same accuracy at every T, so the simulator's other
    rules are measured under the engine's dynamics."""
    benchmark.group = "maxpool study: maxpool_cnn"
    with skip_if_missing():
        record(benchmark, lambda: study.outputs("count-max"))
        agreement = study.agreement()
    benchmark.extra_info.update(study.info("count-max"), agreement=agreement)
    assert agreement["max_accuracy_gap_points"] <= agreement["tolerance_points"], \
        f"the simulator departs from snncore's engine: {agreement}"
