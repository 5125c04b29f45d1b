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
from .exported import require_convertible_model

__all__ = ["calibrate_biases", "calibrate_output", "choose_readout_start",
           "low_latency_options", "CHANNEL_FROM_TIMESTEPS", "LONG_RUN_PERCENTILE"]

# From this many timesteps on, low_latency_options gives plain chains per-channel
# percentiles instead of LTB: LTB's lower thresholds win accuracy only while the
# steps are few, and cost spikes at every T (docs/conversion.md, "Spikes").
CHANNEL_FROM_TIMESTEPS = 32

# From CHANNEL_FROM_TIMESTEPS steps on, the per-channel percentile that
# low_latency_options gives networks with junctions, concatenations or max
# pooling (below it, from_torch's default 99.9): with many steps a threshold's
# resolution (theta / T) is fine, so clipping fewer activations costs less than
# it saves, and the higher thresholds fire fewer spikes (docs/conversion.md,
# "Spikes").
LONG_RUN_PERCENTILE = 99.99


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
      (``norm="ltb", v_init=0.5, bias_calibration=True``); from
      `CHANNEL_FROM_TIMESTEPS` (32) steps on, per-channel 99.9th percentiles
      instead of LTB (``norm="channel"``), as accurate there with 24 to 40%
      fewer spikes;
    - with max pooling: per-channel 99.9th percentiles instead of LTB, whose
      lower thresholds clip exactly the large activations that max pooling
      selects, and retracting neurons (``norm="channel", v_init=0.5,
      retract=True, bias_calibration=True``); from `CHANNEL_FROM_TIMESTEPS`
      steps on, 99.99th percentiles (`LONG_RUN_PERCENTILE`,
      ``percentile=99.99``), as accurate there with fewer spikes;
    - with residual junctions, or concatenations (whose branches, a shortcut
      beside a deep path as in ShuffleNet and DenseNet, reach the output at
      different times): per-channel percentiles (LTB's default 40 batches
      set a junction's thresholds too low), retracting neurons, whose counts
      follow the whole input when its branches arrive out of step, and the
      delayed read-out, which lets the deep path charge up before the output
      counts (``norm="channel", v_init=0.5, retract=True,
      readout_delay="auto", bias_calibration=True``), with the
      `LONG_RUN_PERCENTILE` from `CHANNEL_FROM_TIMESTEPS` steps on, as with
      max pooling.

    Retracting neurons are left out of plain chains, where they gain nothing
    measurable and would cost the pooling that the engine folds into a
    threshold pass.

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

    require_convertible_model(torch, model)
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be a positive integer, got {timesteps!r}")
    ops = ir_ops(model)
    many = timesteps >= CHANNEL_FROM_TIMESTEPS
    if ops & {"add", "cat", "maxpool2d"}:
        options = dict(norm="channel", v_init=0.5, retract=True, bias_calibration=True,
                       timesteps=timesteps)
        if ops & {"add", "cat"}:
            options["readout_delay"] = "auto"
        if many:
            options["percentile"] = LONG_RUN_PERCENTILE
        return options
    return dict(norm="channel" if many else "ltb", v_init=0.5, bias_calibration=True,
                timesteps=timesteps)


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


def choose_readout_start(net, x, ann_outputs, timesteps, encoding, seed, max_fraction=0.5,
                         calibrated=False):
    """The delayed read-out start D (1 = none) that brings the SNN's output
    at T closest to the ANN's on the calibration images; the smallest such D.
    Uses one run with the output recorded at every step.

    A vector output (a classifier's) is judged by its argmax: the share of
    images whose class agrees with the ANN's. A map output (C, H, W) (a
    detector's or a segmenter's head, where every value counts) is judged by
    the mean squared difference from the ANN's output; when `calibrated`,
    the difference that remains after `calibrate_output`'s per-channel gain
    and offset, which the read-out will get.

    Parameters
    ----------
    net : snncore.Network
    x : ndarray (N, ...) float32, the calibration images
    ann_outputs : ndarray (N, K) float, the ANN's outputs on them (K = the
        output population's size)

    Returns
    -------
    (int, float, ndarray (N, K) float64)
        D, its measure (the agreement for a vector output, the mean squared
        difference for a map output), and the output at T read from D (what a
        run with readout_start=D gives, so the caller need not run it again).
    """
    res = net.run(x, timesteps, encoding=encoding, seed=seed,
                  checkpoints=list(range(1, timesteps + 1)), readout_start=1)
    sums = _running_sums(res.outputs)
    ann_outputs = np.asarray(ann_outputs, np.float64).reshape(len(x), -1)
    channels = net.output_shape[0] if len(net.output_shape) == 3 else None
    best_d, best = 1, None
    for d in range(1, max(1, int(timesteps * max_fraction)) + 1):
        decoded = _decoded(sums, d)
        if channels is None:
            measure = float((decoded.argmax(axis=1) == ann_outputs.argmax(axis=1)).mean())
        else:
            measure = -(calibrate_output(decoded, ann_outputs, channels)[2] if calibrated
                        else float(np.mean((decoded - ann_outputs) ** 2)))
        if best is None or measure > best + 1e-12:
            best_d, best, best_out = d, measure, decoded
    return best_d, (best if channels is None else -best), best_out


def decoded_from(outputs, start):
    """The output at the last step as a read-out from step `start` would
    decode it (the mean of the counted steps' contributions), from a run's
    outputs (N, T, K) recorded at every step 1..T with no delay.

    Returns ndarray (N, K) float64."""
    return _decoded(_running_sums(outputs), start)


def _running_sums(outputs):
    """(N, T, K) outputs decoded at every step with no delay (means over steps
    1..t) -> float64 sums over steps 1..t."""
    steps = np.arange(1, outputs.shape[1] + 1, dtype=np.float64)
    return outputs.astype(np.float64) * steps[None, :, None]


def _decoded(sums, start):
    """decoded_from, on the running sums of _running_sums."""
    timesteps = sums.shape[1]
    before = sums[:, start - 2, :] if start > 1 else 0.0
    return (sums[:, -1, :] - before) / (timesteps - start + 1)


def calibrate_output(snn, ann, channels):
    """Per channel of a map read-out (C, H, W), the gain and offset that best
    map the SNN's decoded output at T onto the ANN's (least squares over the
    calibration images and positions): a detector's boxes and scores need
    the values, which the SNN underestimates at few steps (its neurons keep
    part of their charge), not only their order.

    Parameters
    ----------
    snn, ann : ndarray (N, C*H*W) float, the SNN's output at T and the ANN's
        output on the same N calibration images
    channels : int, C

    Returns
    -------
    (scale (C,), shift (C,), float64 each, and the mean squared difference
    that remains): output channel c becomes scale[c] * output + shift[c]. A
    channel whose SNN output does not vary, or whose gain would be outside
    [1/2, 2], keeps gain 1 and takes the mean difference as its offset.
    """
    def by_channel(a):
        a = np.asarray(a, np.float64).reshape(len(a), channels, -1)
        return a.transpose(1, 0, 2).reshape(channels, -1)

    snn, ann = by_channel(snn), by_channel(ann)
    ds = snn - snn.mean(axis=1, keepdims=True)
    da = ann - ann.mean(axis=1, keepdims=True)
    var = (ds * ds).sum(axis=1)
    scale = np.divide((ds * da).sum(axis=1), var, out=np.ones(channels), where=var > 0)
    scale = np.where((scale >= 0.5) & (scale <= 2.0), scale, 1.0)
    shift = ann.mean(axis=1) - scale * snn.mean(axis=1)
    residual = float(np.mean((scale[:, None] * snn + shift[:, None] - ann) ** 2))
    return scale, shift, residual
