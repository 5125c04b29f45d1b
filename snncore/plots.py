"""Pictures of what a spiking network does, as matplotlib Figures.

Each function returns a `matplotlib.figure.Figure` made without pyplot (no
window, no global state: safe in scripts, servers and tests); save it with
``fig.savefig("name.png")`` or ``.svg``. They need matplotlib
(``pip install 'snncore[cli]'``); `correlation_figure` takes the fits of
`snncore.analysis.layer_correlation`, which uses scipy.

The data comes from `snncore.analysis` and `Network.run`:

>>> res = net.run(x, 256, checkpoints=[8, 16, 32, 64, 128])           # doctest: +SKIP
>>> accuracy_figure([("percentile", res.checkpoints, res.curve(y))])  # doctest: +SKIP
>>> raster_figure(analysis.spike_trains(net, x[0], ["relu_1"], 64))   # doctest: +SKIP
>>> rates_figure(analysis.firing_rates(net, x[:100], 64))             # doctest: +SKIP
>>> correlation_figure(analysis.layer_correlation(model, net, x[:100], 64))  # doctest: +SKIP
"""

import math

import numpy as np

__all__ = ["accuracy_figure", "raster_figure", "rates_figure", "correlation_figure",
           "energy_figure", "save", "channel_rates", "channel_health", "SATURATED"]

# the most points a scatter draws per layer (the fit uses them all)
SCATTER_POINTS = 4000
# the most neurons a raster shows per population (evenly spread over it)
RASTER_NEURONS = 400


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(f"plots need matplotlib ({e}): pip install 'snncore[cli]'") from None
    return Figure(figsize=(width, height), layout="constrained")


def save(fig, path):
    """Write `fig` to `path`; the extension (.png or .svg) picks the format."""
    if not str(path).lower().endswith((".png", ".svg")):
        raise ValueError(f"{path}: a picture is written as .png or .svg")
    fig.savefig(path, dpi=110)


def _step_axis(ax, steps):
    """Timesteps on a log-2 axis with their values as ticks."""
    steps = [int(s) for s in steps]
    if len(steps) > 1 and max(steps) / min(steps) >= 4:
        ax.set_xscale("log", base=2)
        ticks = sorted(set(steps))
        if len(ticks) > 12:
            ticks = [t for t in ticks if math.log2(t).is_integer()] or ticks
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
    ax.set_xlabel("timesteps T")


def accuracy_figure(curves, ann=None, title="Accuracy against timesteps"):
    """Accuracy against timesteps, several runs on one axis.

    Parameters
    ----------
    curves : list of (label, checkpoints, accuracy)
        checkpoints (n,) int and accuracy (n,) float in [0, 1], as
        ``res.checkpoints`` and ``res.curve(y)`` give them.
    ann : float or dict label -> float, optional
        The ANN's accuracy in [0, 1], drawn as a dashed line (one per label).
    """
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    steps = []
    for label, checkpoints, accuracy in curves:
        ax.plot(checkpoints, 100 * np.asarray(accuracy, np.float64), marker="o", ms=4,
                label=label)
        steps.extend(int(t) for t in checkpoints)
    if ann is not None:
        lines = ann if isinstance(ann, dict) else {"ANN": ann}
        for k, (label, value) in enumerate(lines.items()):
            ax.axhline(100 * value, ls="--", lw=1, color=f"C{k}" if len(lines) > 1 else "k",
                       label=f"{label} ({100 * value:.1f} %)")
    if steps:
        _step_axis(ax, steps)
    ax.set_xlabel("timesteps T")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title(title)
    return fig


def raster_figure(trains, title="Spikes of one image"):
    """A spike raster per population: a dot for each spike of each neuron.

    Parameters
    ----------
    trains : dict name -> ndarray (T, n_neurons), int8
        As `snncore.analysis.spike_trains` gives them (+1 spike, -1 negative
        spike). Populations of more than RASTER_NEURONS neurons show that many,
        evenly spread.
    """
    names = list(trains)
    if not names:
        raise ValueError("no population to draw")
    fig = _figure(6.4, 1.2 + 1.8 * len(names))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names):
        train = np.asarray(trains[name])
        steps, n = train.shape
        shown = np.unique(np.linspace(0, n - 1, min(n, RASTER_NEURONS)).astype(np.int64))
        sub = train[:, shown]
        for sign, color in ((1, "C0"), (-1, "C3")):
            t, j = np.nonzero(sub == sign)
            if t.size:
                ax.scatter(t + 1, shown[j], s=2, marker="|", color=color, linewidths=0.8)
        rate = np.abs(train).sum() / train.size
        ax.set_title(f"{name}: {n} neurons, {rate:.3f} spikes per neuron per step",
                     fontsize="small", loc="left")
        ax.set_ylabel("neuron")
        ax.set_ylim(-0.5, n - 0.5)
        ax.set_xlim(0.5, steps + 0.5)
    axes[-1].set_xlabel("timestep")
    fig.suptitle(title)
    return fig


# a neuron whose rate is at least this fires at (almost) every step: its
# activation is clipped at its threshold
SATURATED = 0.99


def channel_rates(rate):
    """(mean, top): each channel's mean rate and its busiest neuron's rate,
    (C,) float64 each, of a (C,) or (C, H, W) rate array."""
    rate = np.asarray(rate, np.float64)
    per = rate.reshape(rate.shape[0], -1)
    return per.mean(axis=1), per.max(axis=1)


def channel_health(rate):
    """(dead, saturated): boolean (C,) masks of the channels that never fire,
    and of those with a neuron at SATURATED or above."""
    mean, top = channel_rates(rate)
    return top <= 0, top >= SATURATED


def rates_figure(rates, title="Firing rates"):
    """Firing rate per population (bars) and per channel (dots).

    Parameters
    ----------
    rates : dict name -> ndarray of the population's shape, float
        Spikes per neuron per step, as `snncore.analysis.firing_rates` gives
        them. Each channel is a dot at its mean rate: a cross if it never
        fires (dead), a triangle if one of its neurons fires at (almost) every
        step (saturated: its activation is clipped at a threshold too low).
    """
    names = list(rates)
    if not names:
        raise ValueError("no population to draw")
    fig = _figure(max(6.4, 1.1 * len(names) + 2), 4.2)
    layer_ax, channel_ax = fig.subplots(1, 2, width_ratios=(1, 2))
    x = np.arange(len(names))
    layer_ax.bar(x, [float(np.mean(rates[n])) for n in names], color="C0")
    layer_ax.set_ylabel("firing rate (spikes per neuron per step)")
    layer_ax.set_title("per population", fontsize="medium")
    rng = np.random.default_rng(0)
    labelled = set()
    for k, name in enumerate(names):
        per, _ = channel_rates(rates[name])
        dead, full = channel_health(rates[name])
        jitter = k + rng.uniform(-0.25, 0.25, per.size)
        for kind, mask, style in (
                ("", ~dead & ~full, dict(s=8, color="C0", alpha=0.6)),
                ("dead (never fires)", dead, dict(s=14, color="C3", marker="x")),
                ("saturated (a neuron fires every step)", full,
                 dict(s=16, color="C1", marker="^"))):
            if mask.any():
                label = kind if kind and kind not in labelled else None
                labelled.add(kind)
                channel_ax.scatter(jitter[mask], per[mask], label=label, **style)
    if labelled - {""}:
        channel_ax.legend(fontsize="x-small", loc="upper right")
    channel_ax.set_ylabel("firing rate per channel")
    channel_ax.set_title("per channel: its mean rate", fontsize="medium")
    for ax in (layer_ax, channel_ax):
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize="small")
        ax.set_xlabel("population")
        ax.set_ylim(min(0.0, min(float(np.min(rates[n])) for n in names)) - 0.02, 1.02)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    return fig


# the y axis of a correlation plot, by LayerCorrelation.kind
SNN_AXIS = {"if": "SNN rate x threshold", "readout": "SNN output (decoded at T)"}


def correlation_figure(layers, title="ANN activation against SNN rate x threshold"):
    """One scatter per layer: the ANN's activation (x) against the SNN's rate
    x threshold (y), neuron by neuron and image by image, with the identity
    line, the least-squares fit, and its slope and r in the title.

    A layer that follows the identity line converts well; a slope below 1
    means the SNN under-represents the layer (too few timesteps, or a
    threshold too high); points stuck at the top of the y axis are clipped at
    the threshold (saturation); a low r means the layer's spikes no longer
    follow its activation, and every layer after it inherits the error.

    Parameters
    ----------
    layers : list of snncore.analysis.LayerCorrelation
    """
    if not layers:
        raise ValueError("no layer to draw")
    cols = min(3, len(layers))
    rows = -(-len(layers) // cols)
    fig = _figure(3.3 * cols, 3.1 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
    rng = np.random.default_rng(0)
    for ax, layer in zip(axes, layers):
        ann, snn = np.asarray(layer.ann), np.asarray(layer.snn)
        pick = rng.choice(ann.size, SCATTER_POINTS, replace=False) \
            if ann.size > SCATTER_POINTS else slice(None)
        ax.scatter(ann[pick], snn[pick], s=3, alpha=0.35, color="C0", linewidths=0)
        lo = float(min(ann.min(), snn.min(), 0.0))
        hi = float(max(ann.max(), snn.max(), lo + 1e-6))
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls="--", label="identity")
        if np.isfinite(layer.slope):
            ax.plot([lo, hi], [layer.intercept + layer.slope * lo,
                               layer.intercept + layer.slope * hi], color="C3", lw=1,
                    label="fit")
        ax.set_title(f"{layer.population}\nslope {layer.slope:.3f}, r {layer.r:.3f}",
                     fontsize="small")
        ax.set_xlabel("ANN activation" if layer.kind == "if" else "ANN output")
        ax.set_ylabel(SNN_AXIS[layer.kind])
        ax.grid(alpha=0.3)
    for ax in axes[len(layers):]:
        ax.set_visible(False)
    axes[0].legend(fontsize="x-small", loc="upper left")
    fig.suptitle(title)
    return fig


def energy_figure(checkpoints, ratio, title="Energy of the SNN relative to the ANN"):
    """The SNN's estimated energy per image as a fraction of the ANN's, at each
    checkpoint (`snncore.estimate_energy(res, net).ratio`); below 1 the SNN is
    cheaper."""
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    ax.plot(checkpoints, ratio, marker="o", ms=4, color="C2", label="SNN / ANN")
    ax.axhline(1.0, ls="--", lw=1, color="k", label="break-even")
    _step_axis(ax, checkpoints)
    ax.set_ylabel("energy SNN / ANN")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title)
    return fig
