"""Thresholds: one scale lambda per spiking layer (or per channel), by each
paper's rule. With the unit system of assemble.py a threshold *is* lambda: the
ANN activation that one spike stands for.

=============  ==============================================================
norm           lambda of activation layer l
=============  ==============================================================
"none"         1 (the ANN's weights and biases as they are; Cao et al. 2015)
"model"        the largest input one step can bring: max over neurons of the
               positive fan-in, sum_i max(0, W_ji) * (largest value of
               input i per step); Diehl et al. 2015, model-based
"max"          max(largest activation on the calibration set, largest
               weight of the layer); Diehl et al. 2015, data-based (the
               paper's version, previous_factor = scale_factor)
"percentile"   p-th percentile of the layer's non-zero activations
               (default p = 99.9); Rueckauer et al. 2017, robust
"channel"      per output channel: the p-th percentile (channel_stat=
               "percentile") or the maximum ("max") of that channel's
               non-zero activations; Kim et al. 2020 (Spiking-YOLO)
"ltb"          per channel, local threshold balancing: theta_c starts at 0
               and, on each of k calibration batches, theta_c += 2 * mean
               (a - theta_c)+ with the activation clipped at the new theta
               before the next layer sees it (SpikingJelly's LTB recipe; k
               sets the effective percentile, about 1 - 1/(2k+1))
"spike"        Spike-Norm (Sengupta et al. 2019): layer by layer, the
               largest current one step brings while the spiking network
               itself runs on calibration images with Poisson input, the
               layers below already balanced
=============  ==============================================================

A clipped ReLU min(max(x, 0), c) (ReLU6, hardtanh(x, 0, c), clamp(x, 0, c))
caps every one of these: an IF neuron fires at most once per step, so its
rate-coded output saturates at its threshold, and a threshold of min(lambda, c)
in the activation's units makes the layer compute the clip exactly (for rate
codes, as T grows). `ceilings` and `apply_ceilings` give and apply the cap;
the statistics already see the clipped activations (the ANN runner clips).
"""

import math
import warnings

import numpy as np

from .._progress import Progress
from .assemble import Assembler
from .calibrate import collect_stats
from .errors import ConversionError

__all__ = ["NORMS", "data_thresholds", "ltb_thresholds", "spike_norm_thresholds", "ceilings",
           "apply_ceilings"]

NORMS = ("none", "model", "max", "percentile", "channel", "ltb", "spike")


def ceilings(graph):
    """{activation: c} for each clipped ReLU of the graph."""
    return {n.name: float(n.params["clip"]) for n in graph.nodes.values()
            if n.op == "relu" and n.params.get("clip") is not None}


def apply_ceilings(graph, thresholds):
    """The thresholds with each clipped ReLU's lambda (per layer or per
    channel) capped at its clip c, and {activation: largest lambda before the
    cap} for those whose lambda exceeded c."""
    out, capped = dict(thresholds), {}
    for name, c in ceilings(graph).items():
        if name not in out:
            continue
        theta = np.asarray(out[name], np.float64)
        if np.any(theta > c):
            capped[name] = float(np.max(theta))
        out[name] = np.minimum(theta, c)
    return out, capped


def _feeding_weights(graph, name):
    """Weights of the conv/linear layers whose output reaches activation `name`
    without passing another activation (its linear cone)."""
    out, stack, seen = [], list(graph.nodes[name].inputs), set()
    while stack:
        n = graph.nodes[stack.pop()]
        if n.name in seen:
            continue
        seen.add(n.name)
        if n.op in ("conv2d", "linear"):
            out.append(n.params["weight"])
        if n.op not in ("relu", "leaky_relu", "input"):
            stack.extend(n.inputs)
    return out


def _safe(value, name, fallback=1.0):
    if not value > 0:
        warnings.warn(f"layer {name!r} never activated on the calibration data; its threshold "
                      f"is set to {fallback}", stacklevel=3)
        return fallback
    return value


def data_thresholds(graph, runner, calibration, norm, percentile, channel_stat, names,
                    progress=None):
    """lambda for each activation in `names` from ANN statistics ('max',
    'percentile', 'channel'); also returns the stats for reuse."""
    need_hist = norm == "percentile" or (norm == "channel" and channel_stat == "percentile")
    stats = collect_stats(runner, calibration, names, need_hist, progress)
    out = {}
    for name in names:
        s = stats[name]
        if norm == "max":
            weights = _feeding_weights(graph, name)
            max_wt = max((float(np.max(w)) for w in weights), default=0.0)
            out[name] = np.array([_safe(max(s.layer_max, max_wt), name)])
        elif norm == "percentile":
            out[name] = np.array([_safe(s.percentile(percentile), name)])
        else:
            layer = s.percentile(percentile) if channel_stat == "percentile" else s.layer_max
            layer = _safe(layer, name)
            per = s.channel_percentile(percentile) if channel_stat == "percentile" \
                else s.channel_max.copy()
            # a channel that never fired keeps the layer's scale (Spiking-YOLO's code
            # uses 1; the layer's value is the same order as its neighbours')
            out[name] = np.where(per > 0, per, layer)
    return out, stats


def ltb_thresholds(runner, calibration, names, batches, ceiling=None):
    """Local threshold balancing over `batches` updates (cycling the data);
    `ceiling` {activation: c} caps the thresholds of clipped ReLUs at every
    update, so the activation the next layer sees is clipped at min(theta, c)."""
    import torch

    theta = {}
    ceiling = ceiling or {}

    def hook(name, t):
        y = torch.clamp(t, min=0)
        view = (1, -1) + (1,) * (t.dim() - 2)
        if name not in theta:
            theta[name] = torch.zeros(t.shape[1], dtype=torch.float64)
        dims = [0] + list(range(2, t.dim()))
        overflow = torch.clamp(y.double() - theta[name].view(view), min=0).mean(dim=dims)
        theta[name] = torch.clamp(theta[name] + 2 * overflow, min=1e-6)
        if name in ceiling:
            theta[name] = torch.clamp(theta[name], max=ceiling[name])
        return torch.minimum(t, theta[name].view(view).to(t.dtype))

    done = 0
    while done < batches:
        for batch in calibration:
            runner.forward(batch, hook=hook, watch=names)
            done += 1
            if done >= batches:
                break
    return {n: theta[n].numpy() for n in names}


def _largest_step_current(net, x, timesteps, seed, chunk_bytes=1 << 28):
    """Largest per-step input current of `net`'s accumulating output over
    images x, steps and neurons (V(t) - V(t-1) from outputs at every step)."""
    k = int(np.prod(net.output_shape))
    per_image = timesteps * k * 4
    chunk = max(1, chunk_bytes // per_image)
    steps = np.arange(1, timesteps + 1, dtype=np.float64)
    peak = -np.inf
    for lo in range(0, len(x), chunk):
        res = net.run(x[lo:lo + chunk], timesteps, encoding="poisson", seed=seed,
                      checkpoints=list(range(1, timesteps + 1)), first_index=lo)
        v = res.outputs.astype(np.float64) * steps[None, :, None]
        step_current = np.diff(v, axis=1, prepend=0.0)
        peak = max(peak, float(step_current.max()))
    return peak


def spike_norm_thresholds(graph, calibration, names, steps, images, seed, options,
                          progress=None):
    """Sengupta's Spike-Norm, one layer at a time, with snncore's engine."""
    x = calibration.images(images)
    thresholds = {}
    cap = ceilings(graph)
    bar = Progress(len(names), enabled=progress, unit="layers", label="Spike-Norm:",
                   work=len(names) * len(x) * steps * x[0].size)
    for done, name in enumerate(names, start=1):
        probe = Assembler(graph, thresholds, probe=name, probe_kind="accumulate",
                          **options).build()
        peak = _largest_step_current(probe, x, steps, seed)
        # a clipped ReLU's ceiling applies before the layers above are balanced
        thresholds[name] = np.array([min(_safe(peak, name), cap.get(name, np.inf))])
        bar.update(done)
    bar.close()
    return thresholds


def spiking_output_threshold(graph, runner, calibration, norm, percentile, stats=None):
    """lambda of the output layer when it is read out by spikes."""
    if stats is not None and graph.output in stats:
        s = stats[graph.output]
    else:
        s = collect_stats(runner, calibration, [graph.output], True)[graph.output]
    value = s.layer_max if norm == "max" else s.percentile(percentile)
    return np.array([_safe(value, "output")])


def check_percentile(p):
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) \
            or not 0 < p <= 100:
        raise ValueError(f"percentile must be a number in (0, 100], got {p!r}")
    return float(p)


def raise_unknown(norm):
    raise ConversionError(f"unknown norm {norm!r}; expected one of {', '.join(NORMS)}")
