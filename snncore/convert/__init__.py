"""Conversion of trained PyTorch networks to snncore spiking networks.

Needs PyTorch (``pip install 'snncore[convert]'``)::

    from snncore.convert import from_torch, check
    print(check(model))                       # how the model departs from the papers' rules
    net = from_torch(model, calibration=x_calib, norm="percentile", percentile=99.9)
    net = from_torch(model, x_calib, **low_latency_options(model, timesteps=16))   # few steps
    net.save("net.npz")
    net = from_torch(torch.export.export(model, (x[:2],)), x_calib)   # a torch.export program

TorchScript converts too, through torch.export (`export_torchscript`).

See `from_torch` for every option and docs/conversion.md for the methods.
"""

from .check import CheckReport, check
from .errors import ConversionError
from .exported import export_torchscript
from .lowlatency import low_latency_options
from .pipeline import from_torch
from .normalize import NORMS

__all__ = ["from_torch", "check", "CheckReport", "ConversionError", "NORMS",
           "low_latency_options", "export_torchscript"]
