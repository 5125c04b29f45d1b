"""`from_torch`: the whole conversion, from a trained model to a `Network`."""

import numbers
import time

import numpy as np

from .. import __version__
from .._spec import ENCODINGS, RESETS
from .ann import AnnRunner
from .assemble import Assembler
from .calibrate import CHANNEL_BINS, LAYER_BINS, Calibration
from .errors import ConversionError
from .exported import lift, require_convertible_model
from .graph import capture
from .lowlatency import calibrate_biases, calibrate_output, choose_readout_start
from .normalize import (NORMS, apply_ceilings, ceilings, check_percentile, data_thresholds,
                        ltb_thresholds, spike_norm_thresholds, spiking_output_threshold)

__all__ = ["from_torch"]

_READOUTS = ("membrane", "spikes")


def _positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_options(norm, reset, readout, v_init, encoding):
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {', '.join(NORMS)}")
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {', '.join(RESETS)}, got {reset!r}")
    if readout not in _READOUTS:
        raise ValueError(f"readout must be 'membrane' or 'spikes', got {readout!r}")
    if isinstance(v_init, bool) or not isinstance(v_init, numbers.Real) or not -1 <= v_init <= 1:
        raise ValueError(f"v_init must be a number in [-1, 1] (a fraction of the threshold), "
                         f"got {v_init!r}")
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")


def _check_retract(retract, reset):
    if not isinstance(retract, bool):
        raise ValueError(f"retract must be True or False, got {retract!r}")
    if retract and reset != "subtract":
        raise ValueError("retract=True needs reset='subtract': taking a spike back restores "
                         "the threshold it removed")


def _refuse_biases(graph):
    for node in graph.nodes.values():
        for key in ("bias", "shift"):
            b = node.params.get(key)
            if b is not None and np.any(b != 0):
                folded = node.params.get("folded")
                source = " (from BatchNorm)" if key == "shift" else \
                    f" (from the BatchNorm folded into it: {'; '.join(folded)})" if folded else ""
                raise ConversionError(
                    f"{node.origin}: has a bias{source}; "
                    "strict_bias=True enforces the no-bias rule of Cao et al. 2015 and Diehl et "
                    "al. 2015. Retrain without biases (and without BatchNorm), or keep the "
                    "default strict_bias=False to inject biases as a constant current "
                    "(Rueckauer et al. 2017)")


def from_torch(model, calibration, norm="percentile", percentile=99.9, channel_stat="percentile",
               reset="subtract", v_init=0.0, retract=False, readout="membrane", encoding="analog",
               strict_bias=False, maxpool="spike", ltb_batches=40, spike_norm_steps=64,
               spike_norm_images=256, bias_calibration=False, readout_delay=None, timesteps=None,
               calibration_images=256, batch_size=128, seed=0, progress=None):
    """Convert a trained PyTorch network to a spiking `snncore.Network`.

    Parameters
    ----------
    model : torch.nn.Module, torch.jit.ScriptModule or torch.export.ExportedProgram
        A ReLU, clipped-ReLU (ReLU6, hardtanh(x, 0, c), clamp(x, 0, c): the
        clip c caps the layer's threshold) or leaky-ReLU network of Conv2d, Linear, AvgPool2d,
        AdaptiveAvgPool2d, global means (x.mean((2, 3))), BatchNorm1d/2d
        (folded), Dropout, flattening (Flatten, view, reshape, squeeze),
        residual additions, channel concatenation (torch.cat on dim 1) and
        channel slices, splits and shuffles, traceable by torch.fx, or the same
        as a torch.export program or TorchScript (snncore.convert.exported
        lifts their ATen graph; TorchScript is exported on two calibration
        images). It is not modified. A final
        softmax, log_softmax or sigmoid is left out of the read-out (the
        outputs are the logits; provenance["output_function"] names it).
    calibration : ndarray or torch.Tensor (N, C, H, W), or re-iterable batches
        Unlabelled training images, scaled as the model expects (a DataLoader
        yielding (images, labels) works; uint8 images are scaled by 1/255, as
        `Network.run` scales them). All of it is used for statistics.
    norm : {'percentile', 'max', 'model', 'channel', 'ltb', 'spike', 'none'}
        How thresholds are set; see `snncore.convert.normalize` and
        docs/conversion.md.
    percentile : float
        For 'percentile' and 'channel' (Rueckauer's robust normalisation).
    channel_stat : {'percentile', 'max'}
        For 'channel': each channel's percentile or maximum.
    reset : {'subtract', 'zero'}
        Reset by subtraction (Rueckauer, Spiking-YOLO) or to zero (Diehl, Cao).
    v_init : float
        Initial membrane as a fraction of the threshold; 0.5 (the half-
        threshold start) removes the rounding-down error at low timesteps.
    retract : bool
        Retracting neurons for the ReLUs: a neuron that fired too early, its
        input having turned negative since, sends a negative spike that takes
        one back (when its membrane falls to -theta/2 while its net count is
        positive). Its count then follows the ReLU of its total input, not of
        the input's early part, which matters most in deep networks at low
        timesteps (docs/conversion.md). Needs reset='subtract'; leaky ReLUs
        keep their signed neurons.
    readout : {'membrane', 'spikes'}
        Read the last layer by its accumulated current (non-spiking), or by
        spike counts of a spiking output layer.
    encoding : {'analog', 'poisson', 'regular'}
        The input coding the network is meant for (the file's hint; also what
        the calibrations below simulate).
    strict_bias : bool
        Refuse biases (and BatchNorm) instead of injecting them as a current.
    maxpool : {'spike', 'avg', 'refuse'}
        'spike' converts max pooling after a ReLU into spiking max pooling
        (each output follows the largest spike count of its window: exact as
        the timesteps grow); 'avg' substitutes average pooling with a warning
        (Cao 2015's tailoring rule); 'refuse' refuses it.
    ltb_batches : int
        For norm='ltb': number of threshold updates (calibration batches; the
        data is cycled if it has fewer). More batches, higher thresholds.
    spike_norm_steps, spike_norm_images : int
        For norm='spike': timesteps and images of each layer's SNN run.
    bias_calibration : bool
        Light bias calibration at `timesteps` on `calibration_images` images.
        A (C, H, W) map read-out (a detector's head), whose values count and
        not only their argmax, also gets a gain and offset per channel that
        map its output at `timesteps` onto the ANN's (provenance
        "output_calibration").
    readout_delay : None, 'auto' or int
        Delayed read-out start step stored as the file's hint; 'auto' picks
        the step (up to T/2) whose read-out at `timesteps` is closest to the
        ANN's on the calibration images: by the argmax for a vector output,
        by the mean squared difference (after the output calibration, if
        any) for a map output.
    timesteps : int, optional
        The timestep count the network is meant for; needed by
        bias_calibration and readout_delay='auto'.
    calibration_images : int
        Images used by bias calibration and readout_delay='auto'.
    batch_size : int
        Batch size for array calibration data.
    seed : int
        Seed of the Poisson input that Spike-Norm simulates.
    progress : bool, optional
        Progress bars on stderr (default: on a terminal, for long passes).

    Returns
    -------
    snncore.Network
        Its provenance records every choice made here.

    Raises
    ------
    ConversionError
        A part of the model cannot be converted; the message names the node,
        its op and its source line, and says what to change.
    """
    import torch

    started = time.perf_counter()
    _check_options(norm, reset, readout, v_init, encoding)
    _check_retract(retract, reset)
    percentile = check_percentile(percentile)
    if channel_stat not in ("percentile", "max"):
        raise ValueError(f"channel_stat must be 'percentile' or 'max', got {channel_stat!r}")
    ltb_batches = _positive_int("ltb_batches", ltb_batches)
    timesteps = _positive_int("timesteps", timesteps, allow_none=True)
    if (bias_calibration or readout_delay == "auto") and timesteps is None:
        raise ValueError("bias_calibration and readout_delay='auto' need timesteps=, the "
                         "timestep count the network is meant for")
    if readout_delay not in (None, "auto") and not (
            isinstance(readout_delay, numbers.Integral) and not isinstance(readout_delay, bool)
            and readout_delay >= 1):
        raise ValueError(f"readout_delay must be None, 'auto' or a step >= 1, got "
                         f"{readout_delay!r}")
    require_convertible_model(torch, model)

    data = Calibration(calibration, batch_size)
    model = lift(model, data.first()[:2])
    was_training = model.training
    model.eval()
    try:
        graph = capture(model, data.first()[:2], maxpool=maxpool)
    finally:
        model.train(was_training)
    if strict_bias:
        _refuse_biases(graph)

    runner = AnnRunner(graph)
    names = graph.activations()
    options = {"reset": reset, "v_init": float(v_init), "retract": retract, "readout": readout,
               "encoding": encoding}
    stats = None
    provenance = {"converter": f"snncore {__version__} from_torch", "torch": torch.__version__,
                  "norm": norm, "reset": reset, "v_init": float(v_init), "readout": readout,
                  "bias": "none" if strict_bias else "constant current per step",
                  "notes": list(graph.notes)}
    if retract:
        provenance["retract"] = "signed; -1 at V <= -theta/2 while the net count is positive"
    if graph.output_function is not None:
        # left out of the read-out: the network's outputs are the logits before it
        provenance["output_function"] = graph.output_function
    n_calib = data.count()
    provenance["calibration_images"] = n_calib
    input_max = max(float(b.max()) for b in data)

    if norm == "none":
        thresholds = {n: np.array([1.0]) for n in names}
    elif norm == "model":
        thresholds = {}
    elif norm in ("max", "percentile", "channel"):
        thresholds, stats = data_thresholds(graph, runner, data, norm, percentile, channel_stat,
                                            names, progress)
        if norm != "max":
            provenance.update(percentile=percentile, percentile_domain="non-zero activations",
                              histogram_bins={"layer": LAYER_BINS, "channel": CHANNEL_BINS})
        if norm == "channel":
            provenance["channel_stat"] = channel_stat
    elif norm == "ltb":
        thresholds = ltb_thresholds(runner, data, names, ltb_batches, ceilings(graph))
        provenance.update(ltb_batches=ltb_batches, batch_size=batch_size)
    else:
        thresholds = spike_norm_thresholds(graph, data, names, spike_norm_steps,
                                           spike_norm_images, seed,
                                           {"reset": reset, "v_init": float(v_init),
                                            "retract": retract,
                                            "encoding": encoding}, progress)
        provenance.update(spike_norm_steps=spike_norm_steps,
                          spike_norm_images=min(spike_norm_images, n_calib), seed=seed,
                          spike_norm_input="poisson")
    if readout == "spikes":
        thresholds["__output__"] = spiking_output_threshold(graph, runner, data, norm,
                                                            percentile, stats)

    assemble = dict(options, model_norm=norm == "model", input_bound=input_max)
    if norm == "model":
        probe = Assembler(graph, thresholds, **assemble)
        probe.build()
        thresholds.update(probe.chosen)
        assemble["model_norm"] = False
    # a clipped ReLU's clip c is a ceiling on its threshold, whatever the norm
    thresholds, capped = apply_ceilings(graph, thresholds)
    if norm == "model":
        capped = probe.capped
    clips = ceilings(graph)
    if clips:
        provenance["threshold_ceilings"] = clips
        for name, c in clips.items():
            top = float(np.max(thresholds[name]))
            if name in capped:
                how = f"capped there (lambda by norm={norm!r} was {capped[name]:.6g})"
            elif top >= c:
                how = (f"lambda by norm={norm!r} reaches it (the statistics and threshold "
                       "balancing see the clipped activations)")
            else:
                how = f"not reached (lambda by norm={norm!r} is at most {top:.6g})"
            provenance["notes"].append(f"{name}: its clip {c:g} is a ceiling on the threshold; "
                                       + how)

    bias_delta = None
    if bias_calibration:
        x = data.images(calibration_images)
        bias_delta = calibrate_biases(graph, runner, thresholds, x, timesteps, encoding, seed,
                                      options, progress)
        provenance["bias_calibration"] = {"timesteps": timesteps, "images": len(x),
                                          "encoding": encoding}

    # a map read-out (a detector's head) whose values count, not only their order, is
    # calibrated with the biases: a gain and offset per channel (calibrate_output)
    map_output = len(graph.nodes[graph.output].shape) == 3 and readout == "membrane"
    calibrate_map = bias_calibration and map_output
    ann_out = None
    if readout_delay == "auto" or calibrate_map:
        x = data.images(calibration_images)
        ann_out = runner.forward(torch.from_numpy(x)).reshape(len(x), -1).numpy()

    readout_start, snn_out = 1, None
    if readout_delay == "auto":
        draft = Assembler(graph, thresholds, bias_delta=bias_delta, **assemble).build()
        readout_start, measure, snn_out = choose_readout_start(
            draft, x, ann_out, timesteps, encoding, seed, calibrated=calibrate_map)
        provenance["readout_delay"] = {"start": readout_start, "chosen_at_timesteps": timesteps,
                                       "images": len(x)}
        if map_output:
            provenance["readout_delay"]["mean_squared_difference"] = round(measure, 6)
        else:
            provenance["readout_delay"]["agreement_with_ann"] = round(measure, 4)
    elif readout_delay is not None:
        readout_start = int(readout_delay)
        provenance["readout_delay"] = {"start": readout_start}

    output_affine = None
    if calibrate_map:
        if snn_out is None:        # no delay search ran, whose run gives the read-out at T
            draft = Assembler(graph, thresholds, bias_delta=bias_delta, **assemble).build(
                readout_start=readout_start)
            snn_out = draft.run(x, timesteps, encoding=encoding, seed=seed).output
        output_affine = calibrate_output(snn_out, ann_out, graph.nodes[graph.output].shape[0])[:2]
        provenance["output_calibration"] = {
            "timesteps": timesteps, "images": len(x),
            "gain": [float(output_affine[0].min()), float(output_affine[0].max())]}

    provenance["thresholds"] = {
        n: [float(np.min(t)), float(np.max(t))] for n, t in thresholds.items()}
    provenance["seconds"] = round(time.perf_counter() - started, 3)
    return Assembler(graph, thresholds, bias_delta=bias_delta, output_affine=output_affine,
                     **assemble).build(provenance=provenance, readout_start=readout_start)
