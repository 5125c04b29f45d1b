"""Quick check that the peer comparison still works end to end (runs under
`pytest bench --benchmark-disable`, well under a minute).

The trained Fashion-MNIST CNN of bench/models.py is converted with snncore
(`norm='channel'`, `v_init=0.5`) and with SpikingJelly's best recipe (99.9th
percentile, channel-wise thresholds, half-threshold start), both calibrated on
the same 500 training images, and run on the first 200 test images for T=8
steps: each must stay within a few points of the ANN on those images (at T=8
both recipes reach the ANN's accuracy on this net: see the peer tables of
bench/RESULTS.md).

Skips, saying why, when PyTorch, the trained weights (bench/train.py),
Fashion-MNIST (dataset-fashion-mnist) or SpikingJelly
(bench/requirements-peers.txt) is missing.
"""

import numpy as np
import pytest

T = 8
N_TEST = 200
N_CALIB = 500
TOLERANCE = 0.03      # 3 points (6 of the 200 images)


@pytest.fixture(scope="module")
def case(trained_model, fmnist_train, fmnist_test):
    model = trained_model("fashion_cnn")
    import peers

    x_calib = fmnist_train[0][:N_CALIB]
    x, y = fmnist_test[0][:N_TEST], fmnist_test[1][:N_TEST]
    ann = peers.ann_run(model, x).accuracy(y)
    return model, x_calib, x, y, ann


def test_snncore_close_to_ann(case):
    from snncore.convert import from_torch

    model, x_calib, x, y, ann = case
    net = from_torch(model, x_calib, norm="channel", v_init=0.5)
    acc = net.run(x, T, threads=2).accuracy(y)
    assert acc >= ann - TOLERANCE, f"snncore {acc:.3f} at T={T}, ANN {ann:.3f}"


def test_spikingjelly_close_to_ann(case):
    import peers

    model, x_calib, x, y, ann = case
    try:
        snn = peers.spikingjelly_convert(model, x_calib, mode="99.9%", channel_wise=True,
                                         half_threshold=True)
    except peers.PeerMissing as e:
        pytest.skip(str(e))
    res = peers.spikingjelly_run(snn, x, T)
    acc = res.accuracy(y)
    assert res.outputs.shape == (N_TEST, 1, 10)
    assert acc >= ann - TOLERANCE, f"SpikingJelly {acc:.3f} at T={T}, ANN {ann:.3f}"


def test_fanout_of_first_layer_is_576(case):
    """The peers' synaptic-operation count: a first-layer spike drives
    3x3x64 = 576 synapses of the second conv through the (linear) pooling."""
    import peers

    fan = peers.fanout_maps(case[0], (1, 28, 28))
    assert [f.shape for f in fan] == [(32, 28, 28), (64, 14, 14), (128,)]
    assert fan[0][0, 10, 10] == 576 and fan[0].max() == 576
    assert fan[0][0, 0, 0] == 4 * 64        # a corner pooled unit: 2x2 of the 3x3 taps
    assert np.all(fan[1] == 128) and np.all(fan[2] == 10)
