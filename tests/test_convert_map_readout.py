"""A map read-out (a detector's or a segmenter's head, (C, H, W)): its values count, not
only their argmax, so `readout_delay="auto"` judges it by its error and bias calibration
also fits a gain and offset per output channel (snncore/convert/lowlatency.py)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from snncore.convert import from_torch  # noqa: E402
from snncore.convert.lowlatency import calibrate_output, decoded_from  # noqa: E402


def _head():
    """conv-BN-leaky ReLU twice, then a 1x1 conv head: (6, 8, 8) maps."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.LeakyReLU(0.1),
                          nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 6, 1))
    x = torch.rand(64, 1, 16, 16)
    with torch.no_grad():                      # outputs of a trained head's size
        for m in model:
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(3.0)
    model.train()
    with torch.no_grad():
        model(x)
    return model.eval(), x.numpy()


def _mse(net, model, x, timesteps):
    with torch.no_grad():
        ann = model(torch.from_numpy(x)).numpy().reshape(len(x), -1)
    return float(np.mean((net.run(x, timesteps).output - ann) ** 2))


def test_bias_calibration_fits_the_map_readout():
    model, x = _head()
    calib, held_out = x[:48], x[48:]
    plain = from_torch(model, calib, norm="channel", v_init=0.5)
    fitted = from_torch(model, calib, norm="channel", v_init=0.5, bias_calibration=True,
                        timesteps=8)
    record = fitted.provenance["output_calibration"]
    assert 0.5 <= record["gain"][0] <= record["gain"][1] <= 2.0
    assert record["timesteps"] == 8 and record["images"] == 48
    assert "output_calibration" not in plain.provenance
    # the gains and offsets are in the file: fitted again on the same images at the same
    # T, the read-out needs none
    with torch.no_grad():
        ann = model(torch.from_numpy(calib)).numpy().reshape(len(calib), -1)
    scale, shift, _ = calibrate_output(fitted.run(calib, 8).output, ann, 6)
    np.testing.assert_allclose(scale, 1.0, atol=1e-3)
    np.testing.assert_allclose(shift, 0.0, atol=1e-3)
    assert _mse(fitted, model, held_out, 8) < _mse(plain, model, held_out, 8)


def test_auto_readout_delay_of_a_map_is_judged_by_its_error():
    model, x = _head()
    net = from_torch(model, x, norm="channel", readout_delay="auto", timesteps=16)
    prov = net.provenance["readout_delay"]
    assert "mean_squared_difference" in prov and "agreement_with_ann" not in prov
    assert 1 <= prov["start"] <= 8 and prov["mean_squared_difference"] >= 0


def test_decoding_from_a_start_matches_the_engine():
    model, x = _head()
    net = from_torch(model, x, norm="channel")
    every = net.run(x[:8], 12, checkpoints=list(range(1, 13)), readout_start=1).outputs
    for start in (1, 3, 7):
        np.testing.assert_allclose(decoded_from(every, start),
                                   net.run(x[:8], 12, readout_start=start).output,
                                   rtol=1e-5, atol=1e-5)


def test_channel_fit_recovers_a_gain_and_keeps_the_guards():
    rng = np.random.default_rng(0)
    snn = rng.normal(size=(10, 3 * 4))               # 10 images, 3 channels of 4 positions
    ann = snn.copy().reshape(10, 3, 4)
    ann[:, 0] = 1.3 * ann[:, 0] + 0.2               # a gain and an offset
    ann[:, 1] = 5.0 * ann[:, 1]                      # a gain beyond 2: not applied
    snn.reshape(10, 3, 4)[:, 2] = 0.5                # a silent channel: only an offset
    scale, shift, residual = calibrate_output(snn, ann.reshape(10, -1), 3)
    np.testing.assert_allclose(scale, [1.3, 1.0, 1.0], rtol=1e-9)
    assert shift[0] == pytest.approx(0.2)
    assert shift[2] == pytest.approx(ann[:, 2].mean() - 0.5)
    assert residual > 0                               # channel 1 keeps its error
