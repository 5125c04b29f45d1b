"""Post-training corrections that bring the spiking network to the ANN's
accuracy in few timesteps (docs/methods.md): light bias calibration and the
choice of a delayed read-out, both measured with snncore's own engine at the
timestep count the network is meant for. (Per-channel thresholds and the
half-threshold start are threshold and neuron options: norm='ltb' or
'channel', v_init=0.5.)
"""

import numpy as np

from .._progress import Progress
from .assemble import Assembler
from .exported import is_convertible_model

__all__ = ["calibrate_biases", "choose_readout_start", "low_latency_options"]


def low_latency_options(model, timesteps):
    """`from_torch` options that bring `model` to its ANN's accuracy in few
    timesteps: snncore's recommended combination, chosen from the benchmark
    measurements (docs/conversion.md, "Which option helps where").

    It chooses by what the network contains (docs/conversion.md tabulates
    what each option gives on the benchmark models; bench/conversion_sweep.py
    measures it):

    - plain chains of convolutions, average pooling and linear layers:
      per-channel thresholds by local threshold balancing, the half-threshold
      start and light bias calibration tuned at `timesteps`
      (``norm="ltb", v_init=0.5, bias_calibration=True``);
    - with max pooling: per-channel 99.9th percentiles instead of LTB, whose
      lower thresholds clip exactly the large activations that max pooling
      selects (``norm="channel", v_init=0.5, bias_calibration=True``);
    - with residual junctions, or concatenations (whose branches, a shortcut
      beside a deep path as in ShuffleNet and DenseNet, reach the output at
      different times): per-channel percentiles (LTB's default 40 batches
      set a junction's thresholds too low) and the delayed read-out, which
      lets the deep path charge up before the output counts
      (``norm="channel", v_init=0.5, readout_delay="auto",
      bias_calibration=True``).

    Parameters
    ----------
    model : torch.nn.Module or torch.export.ExportedProgram
        The trained network (traced, not run, to find residual junctions);
        TorchScript is refused here, for it needs an input to be read: export
        it with `export_torchscript` first.
    timesteps : int
        The timestep count the network is meant to run for (>= 1).

    Returns
    -------
    dict
        Keyword arguments for `from_torch`; pass others beside them to override.

    Raises
    ------
    TypeError
        `model` is not a torch.nn.Module or an ExportedProgram.
    ConversionError
        The model cannot be traced by torch.fx (or lifted, if exported).

    Examples
    --------
    >>> net = from_torch(model, x_calib, **low_latency_options(model, 16))  # doctest: +SKIP
    """
    import torch

    from .graph import ir_ops

    if not is_convertible_model(torch, model):
        raise TypeError(f"model must be a torch.nn.Module or a torch.export.ExportedProgram, "
                        f"not {type(model).__name__}")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be a positive integer, got {timesteps!r}")
    ops = ir_ops(model)
    if ops & {"add", "cat"}:
        return dict(norm="channel", v_init=0.5, readout_delay="auto", bias_calibration=True,
                    timesteps=timesteps)
    if "maxpool2d" in ops:
        return dict(norm="channel", v_init=0.5, bias_calibration=True, timesteps=timesteps)
    return dict(norm="ltb", v_init=0.5, bias_calibration=True, timesteps=timesteps)


def _channel_means(a, channels):
    """(N, C, ...) -> (C,) mean over images and positions."""
    a = a.reshape(a.shape[0], channels, -1)
    return a.mean(axis=(0, 2))


def calibrate_biases(graph, runner, thresholds, x, timesteps, encoding, seed, options,
                     progress=None):
    """Light bias calibration (Li et al. 2021): layer by layer, shift each
    channel's bias by the mean gap between the SNN's rate (times lambda) and the
    ANN's activation on the calibration images, the layers below already
    corrected. Returns {activation: (C,) bias change}."""
    import torch

    ann = {}

    def keep(name, t):
        ann[name] = t.detach().numpy().astype(np.float64)

    runner.forward(torch.from_numpy(x), hook=keep)
    delta = {}
    names = graph.activations()
    bar = Progress(len(names), enabled=progress, unit="layers", label="bias calibration:",
                   work=len(names) * len(x) * timesteps * x[0].size)
    for done, name in enumerate(names, start=1):
        shape = graph.nodes[name].shape
        c = shape[0]
        probe = Assembler(graph, thresholds, probe=name, probe_kind="if", bias_delta=delta,
                          **options).build()
        res = probe.run(x, timesteps, encoding=encoding, seed=seed)
        theta = np.broadcast_to(np.asarray(thresholds[name], np.float64), (c,))
        rate = res.output.astype(np.float64).reshape((len(x),) + tuple(shape))
        snn_mean = _channel_means(rate, c) * theta
        error = snn_mean - _channel_means(ann[name], c)
        delta[name] = -error
        bar.update(done)
    bar.close()
    return delta


def choose_readout_start(net, x, ann_predictions, timesteps, encoding, seed, max_fraction=0.5):
    """The delayed read-out start D (1 = none) that makes the SNN's argmax at T
    agree most often with the ANN's on the calibration images; the smallest
    such D. Uses one run with the output recorded at every step."""
    res = net.run(x, timesteps, encoding=encoding, seed=seed,
                  checkpoints=list(range(1, timesteps + 1)), readout_start=1)
    steps = np.arange(1, timesteps + 1, dtype=np.float64)
    total = res.outputs.astype(np.float64) * steps[None, :, None]       # sum up to step t
    final = total[:, -1, :]
    best_d, best_agree = 1, -1.0
    for d in range(1, max(1, int(timesteps * max_fraction)) + 1):
        before = total[:, d - 2, :] if d > 1 else 0.0
        agree = float(((final - before).argmax(axis=1) == ann_predictions).mean())
        if agree > best_agree + 1e-12:
            best_d, best_agree = d, agree
    return best_d, best_agree
