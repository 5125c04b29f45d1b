"""Images as the engine and the converter read them: float32, with uint8 images scaled by
a network file's `uint8_scale` (the format's default, 1/255, unless a file says otherwise).
Every place that turns a user's images into numbers goes through `float_images`, so the
ANN and the SNN of a comparison see the same values."""

import numpy as np

from ._spec import DEFAULT_UINT8_SCALE

__all__ = ["DEFAULT_UINT8_SCALE", "float_images", "images_tensor"]


def float_images(x, uint8_scale=DEFAULT_UINT8_SCALE):
    """`x` (array-like, float or uint8, any shape) as a float32 ndarray:
    uint8 values times `uint8_scale`, floats converted; other dtypes raise
    TypeError. Float32 input is returned without a copy."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) * np.float32(uint8_scale)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"images must be float or uint8, not {x.dtype}")
    with np.errstate(over="ignore"):       # out-of-range float64 is refused later, as inf
        return x.astype(np.float32, copy=False)


def images_tensor(torch, x, uint8_scale=DEFAULT_UINT8_SCALE):
    """`float_images(x, uint8_scale)` as a contiguous float32 torch tensor
    (`torch` is the module, imported by the caller, which needs PyTorch)."""
    return torch.from_numpy(np.ascontiguousarray(float_images(x, uint8_scale)))
