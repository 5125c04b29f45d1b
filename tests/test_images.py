"""One scaling of a user's images (snncore/_images.py), used alike by Network.run, the
converter's calibration and the ANN side of every comparison (snncore.analysis), so that
a file whose uint8_scale is not 1/255 is compared with its ANN on the same values."""

import numpy as np
import pytest

from snncore._images import DEFAULT_UINT8_SCALE, float_images


def test_uint8_is_scaled_and_float_is_kept():
    u8 = np.array([[0, 51, 255]], np.uint8)
    np.testing.assert_array_equal(float_images(u8), u8.astype(np.float32) * np.float32(1 / 255))
    np.testing.assert_array_equal(float_images(u8, 0.5), [[0.0, 25.5, 127.5]])
    f = np.ones((2, 3), np.float32)
    assert float_images(f) is f
    assert float_images(np.ones(3)).dtype == np.float32
    assert DEFAULT_UINT8_SCALE == pytest.approx(1 / 255)


def test_other_dtypes_are_refused():
    with pytest.raises(TypeError, match="float or uint8, not int64"):
        float_images(np.arange(3))


def test_the_ann_sees_uint8_images_as_the_file_scales_them():
    torch = pytest.importorskip("torch")
    from snncore.analysis import ann_outputs

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1.0]]))
    x = np.array([[[[10, 0], [0, 200]]]], np.uint8)          # (1, 1, 2, 2)
    np.testing.assert_allclose(ann_outputs(model, x), [[10 / 255, 200 / 255]], rtol=1e-6)
    np.testing.assert_allclose(ann_outputs(model, x, uint8_scale=0.01), [[0.1, 2.0]], rtol=1e-6)
