"""The Dask scaling measurement still works (bench/dask_scaling.py, no timing
kept): 1 and 2 workers on a small run give the local result and positive
rates. Skips without Dask, PyTorch, the trained weights or Fashion-MNIST."""

import pytest


def test_dask_scaling_smoke(trained_model, fmnist_test):
    pytest.importorskip("distributed")
    import dask_scaling
    from snncore.convert import from_torch

    x = fmnist_test[0][:24]
    net = from_torch(trained_model("fashion_cnn"), x, progress=False)
    record = dask_scaling.measure(net, x, 4, block=8, repeats=1, overhead_blocks=10)
    for n in ("1", "2"):
        assert record["workers"][n]["identical_to_local"]
        assert record["workers"][n]["images_per_second"] > 0
        assert record["workers"][n]["overhead_ms_per_block"] > 0
    assert record["scaling_efficiency"] > 0
