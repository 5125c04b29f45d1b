"""snncore: ANN-to-SNN conversion with a fast, event-driven C engine.

The runtime (this package) loads, validates, saves and runs spiking networks;
the converter lives in `snncore.convert` and needs PyTorch.

>>> import snncore
>>> net = snncore.load("net.npz")                                   # doctest: +SKIP
>>> res = net.run(x_test, timesteps=64, checkpoints=[8, 16, 32])    # doctest: +SKIP
>>> res.curve(y_test)                                               # doctest: +SKIP
>>> snncore.estimate_energy(res, net).ratio                         # doctest: +SKIP
"""

from . import _core
from ._spec import ENCODINGS
from .builder import (NetworkBuilder, avgpool2d_shape, conv2d_shape, maxpool2d_shape,
                      upsample2d_shape)
from .energy import E_AC, E_MAC, EnergyEstimate, estimate_energy
from .errors import FormatError
from .network import Network, Population, Projection, Simulation, load
from .result import Counters, RunResult

__version__ = _core.VERSION

__all__ = ["load", "Network", "NetworkBuilder", "RunResult", "Counters", "Simulation",
           "Population", "Projection", "FormatError", "ENCODINGS", "limits",
           "conv2d_shape", "avgpool2d_shape", "maxpool2d_shape", "upsample2d_shape", "estimate_energy", "EnergyEstimate", "E_AC",
           "E_MAC", "__version__"]


def limits():
    """The engine's size limits (dict: max_dim, max_neurons, max_populations,
    max_projections, max_timesteps, max_bytes), from the C core."""
    return _core.limits()
