"""The NIR exchange with sinabs still works (bench/nir_peer.py, no timing kept):
snncore's export runs in sinabs with the same predictions (and, under
snncore's spike rule, the same spike counts), and sinabs's export runs in
snncore. Skips, saying why, without PyTorch, the trained weights,
Fashion-MNIST, nir or sinabs (bench/requirements-peers.txt)."""

import numpy as np
import pytest

N_TEST, N_CALIB, T = 40, 100, 8


@pytest.fixture(scope="module")
def record(trained_model, fmnist_train, fmnist_test):
    pytest.importorskip("nir")
    pytest.importorskip("sinabs", exc_type=ImportError)
    import nir_peer

    model = trained_model("fashion_cnn")
    x, y = fmnist_test[0][:N_TEST], fmnist_test[1][:N_TEST]
    return nir_peer.measure(model, fmnist_train[0][:N_CALIB], x, y, T, speed_images=10,
                            repeats=1)


def test_export_runs_in_sinabs(record):
    export = record["export"]
    assert export["round_trip_identical"]
    assert export["sinabs"]["same_prediction"] >= 0.95
    rule = export["sinabs_snncore_rule"]
    assert rule["spike_count_difference"] <= 1e-4 and rule["max_output_difference"] < 1e-4


def test_sinabs_export_runs_in_snncore(record):
    imported = record["import"]
    assert {"IF", "SumPool2d", "Affine"} <= set(imported["node_types"])
    assert imported["same_prediction"] >= 0.9
    assert np.isfinite(imported["speedup"])
