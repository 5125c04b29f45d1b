"""A self-contained HTML report of a spiking network on a data set: what it
is, how accuracy grows with the timesteps, where it departs from the ANN
(the per-layer correlation), how its neurons fire, and what it costs against
the ANN. Pictures are embedded as data URIs, so the page is one file that
opens anywhere; it holds no script.

>>> from snncore.report import html_report
>>> page = html_report(net, x_test[:500], y_test[:500], model=model,
...                    timesteps=128)                               # doctest: +SKIP
>>> open("report.html", "w").write(page)                           # doctest: +SKIP
"""

import base64
import html
import io

import numpy as np

from . import __version__, analysis, plots
from .energy import estimate_energy

__all__ = ["html_report", "choose_timesteps"]

# within how many percentage points of the accuracy at T a shorter run counts
# as as good (choose_timesteps)
TOLERANCE_POINTS = 1.0
# the images that the per-neuron parts of the report (rates, correlation) use
DETAIL_IMAGES = 200

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em;
       margin-top: 2em; }
.lead { color: #555; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; min-width: 10em; }
.card b { display: block; font-size: 1.5em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
.note { background: #fffbe6; border-left: 4px solid #e6c200; padding: 0.5em 1em; }
"""


def _png(fig, alt):
    """A Figure as an <img> with a data URI (PNG) and its alternative text."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _table(headers, rows):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def choose_timesteps(checkpoints, accuracy, tolerance=TOLERANCE_POINTS):
    """The first checkpoint whose accuracy is within `tolerance` percentage
    points of the accuracy at the last one.

    Parameters
    ----------
    checkpoints : (n,) int
    accuracy : (n,) float in [0, 1]

    Returns
    -------
    int
    """
    accuracy = 100 * np.asarray(accuracy, np.float64)
    ok = np.flatnonzero(accuracy >= accuracy[-1] - tolerance)
    return int(np.asarray(checkpoints)[ok[0]])


def _pct(v):
    return "-" if v is None else f"{100 * v:.2f} %"


def html_report(net, x, y=None, model=None, timesteps=64, checkpoints=None, encoding=None,
                seed=0, title=None, source=None, detail_images=DETAIL_IMAGES, progress=False):
    """The report as one HTML page (str).

    Parameters
    ----------
    net : Network
    x : ndarray (n_images, *net.input_shape), float or uint8
        The test images.
    y : ndarray (n_images,), int, optional
        Their labels (the accuracy parts need them).
    model : torch.nn.Module, optional
        The ANN the network was converted from: its accuracy, the agreement
        and the per-layer correlation.
    timesteps : int
    checkpoints : list of int, optional
        Default: 1, 2, 4, ... up to T.
    encoding, seed
        As for `Network.run`.
    title, source : str, optional
        The page's title, and where the network came from (a file name).
    detail_images : int
        The first this many images feed the per-neuron parts (rates,
        correlation); every image feeds the accuracy and the energy.
    """
    x = np.asarray(x)
    if checkpoints is None:
        checkpoints = analysis.doubling_checkpoints(timesteps)
    run = dict(encoding=encoding, seed=seed)
    res = net.run(x, timesteps, checkpoints=checkpoints, progress=progress, **run)
    energy = estimate_energy(res, net)
    accuracy = None if y is None else res.curve(y)
    ann_acc, agreement = None, None
    if model is not None:
        pred = analysis.ann_outputs(model, x, uint8_scale=net.describe()["input"]["uint8_scale"]
                                    ).argmax(axis=1)
        agreement = (res.predictions_at() == pred[:, None]).mean(axis=0)
        ann_acc = None if y is None else float((pred == np.asarray(y)).mean())
    detail = x[:detail_images]
    rates = analysis.firing_rates(net, detail, timesteps, progress=progress, **run)
    layers = None if model is None else analysis.layer_correlation(
        model, net, detail, timesteps, progress=progress, **run)
    trains = analysis.spike_trains(net, x[0], analysis.rate_populations(net), min(timesteps, 64),
                                   **run)

    title = title or f"snncore report{': ' + source if source else ''}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p class='lead'>{len(x)} images, up to T = {timesteps} timesteps, "
             f"{res.encoding} input; made by snncore {__version__}.</p>"]
    parts += _glance(res, accuracy, ann_acc, energy)
    parts += _accuracy_section(res, accuracy, ann_acc, agreement, energy)
    parts += _correlation_section(layers, len(detail), timesteps)
    parts += _rates_section(rates, len(detail), timesteps)
    parts += [f"<h2>Spikes of one image</h2><p>Each dot is one spike of one neuron (image 0, "
              f"the first {min(timesteps, 64)} steps). Vertical stripes are neurons firing "
              "together; an empty band is a group of neurons that never fires.</p>",
              _png(plots.raster_figure(trains), "spike raster of image 0")]
    parts += _energy_section(res, energy)
    parts += ["<h2>The network</h2><p>Populations (groups of neurons) and the projections "
              "(weighted connections) between them, as <code>snncore info</code> prints "
              "them, and how the file was made (its provenance).</p>",
              f"<pre>{html.escape(net.summary())}</pre>", "</body></html>"]
    return "\n".join(parts)


def _glance(res, accuracy, ann_acc, energy):
    cards = []
    t = int(res.checkpoints[-1])
    if accuracy is not None:
        cards.append((_pct(accuracy[-1]), f"SNN accuracy at T = {t}"))
        best = choose_timesteps(res.checkpoints, accuracy)
        k = list(res.checkpoints).index(best)
        cards.append((f"T = {best}", f"suggested: within {TOLERANCE_POINTS:g} point of T = {t}"
                                     f" ({_pct(accuracy[k])})"))
        ratio = energy.ratio[k]
        cards.append((f"{ratio:.2f}" if np.isfinite(ratio) else "-",
                      f"energy SNN / ANN at T = {best}"))
    if ann_acc is not None:
        cards.append((_pct(ann_acc), "ANN accuracy"))
    cards.append((f"{res.spikes.total_per_image()[-1]:,.0f}", f"spikes per image at T = {t}"))
    body = "".join(f"<div class='card'><b>{html.escape(v)}</b>{html.escape(k)}</div>"
                   for v, k in cards)
    return ["<h2>At a glance</h2>", f"<div class='cards'>{body}</div>"]


def _accuracy_section(res, accuracy, ann_acc, agreement, energy):
    out = ["<h2>Accuracy against timesteps</h2>",
           "<p>A spiking network answers better the longer it runs: each neuron's spike rate "
           "approaches its ANN activation as T grows. One run gives the whole curve (the "
           "output is read at each checkpoint). Choose T where the curve flattens: past it, "
           "each step costs energy and latency and gains little.</p>"]
    if accuracy is not None:
        out.append(_png(plots.accuracy_figure([("SNN", res.checkpoints, accuracy)],
                                              ann=ann_acc), "accuracy against timesteps"))
    else:
        out.append("<p class='note'>No labels were given: accuracy is not shown.</p>")
    headers = ["T"] + (["accuracy"] if accuracy is not None else []) + \
        (["agrees with ANN"] if agreement is not None else []) + \
        ["spikes / image", "synaptic ops / image", "energy SNN / ANN"]
    rows = []
    for i, t in enumerate(res.checkpoints):
        row = [int(t)]
        if accuracy is not None:
            row.append(_pct(accuracy[i]))
        if agreement is not None:
            row.append(_pct(agreement[i]))
        ratio = energy.ratio[i]
        row += [f"{res.spikes.total_per_image()[i]:,.0f}",
                f"{res.synaptic_ops.total_per_image()[i]:,.0f}",
                f"{ratio:.3g}" if np.isfinite(ratio) else "-"]
        rows.append(row)
    out.append(_table(headers, rows))
    return out


def _correlation_section(layers, n_images, timesteps):
    out = ["<h2>Where the SNN departs from the ANN</h2>"]
    if layers is None:
        return out + ["<p class='note'>Give the ANN (<code>--ann MODEL</code>) to see, layer "
                      "by layer, how closely the spiking network follows it.</p>"]
    out += [f"<p>For each layer, every neuron of the first {n_images} images is a dot: its ANN "
            f"activation (x) against its spike rate at T = {timesteps} times its threshold "
            "(y), which is what the spiking neuron transmits in the ANN's units. On the dashed "
            "identity line the layer is converted exactly. A <b>slope</b> below 1 means the "
            "layer transmits too little (too few timesteps, thresholds too high); dots "
            "flattened at the top are <b>saturated</b> neurons (threshold too low); a low "
            "<b>r</b> means the spikes no longer follow the activations, and every later layer "
            "inherits the error. The first layer whose r drops is where accuracy is lost.</p>",
            _png(plots.correlation_figure(layers), "ANN against SNN per layer"),
            _table(["layer", "neurons x images", "slope", "r"],
                   [[c.population, f"{c.ann.size:,}", f"{c.slope:.3f}", f"{c.r:.3f}"]
                    for c in layers])]
    return out


def _rates_section(rates, n_images, timesteps):
    rows = []
    for name, rate in rates.items():
        dead, saturated = plots.channel_health(rate)
        rows.append([name, f"{float(np.mean(rate)):.3f}", dead.size, int(dead.sum()),
                     int(saturated.sum())])
    return ["<h2>Firing rates</h2>",
            f"<p>Spikes per neuron per step, over the first {n_images} images at T = "
            f"{timesteps}. A neuron fires at most once per step, so its rate is in [0, 1]. A "
            "<b>dead</b> channel (rate 0) transmits nothing: its threshold is far above its "
            "input, or the ANN's channel is dead too. A <b>saturated</b> channel has a neuron "
            "that fires at every step: it clips its activation at its threshold, which is "
            "too low for it (a low percentile, or thresholds that ignore the data). Low rates overall mean "
            "long latency: the network needs many steps to say anything.</p>",
            _png(plots.rates_figure(rates), "firing rates"),
            _table(["population", "mean rate", "channels", "dead", "saturated"], rows)]


def _energy_section(res, energy):
    be = energy.break_even()
    when = f"from T = {be} on, the SNN spends more than the ANN" if be is not None else \
        f"up to T = {int(res.checkpoints[-1])} it stays cheaper than the ANN"
    return ["<h2>Energy against the ANN</h2>",
            f"<p>An estimate on 45 nm CMOS: each synaptic operation of a spike is an "
            f"accumulate ({energy.e_ac * 1e12:.2g} pJ), each of the ANN's multiply-accumulates "
            f"costs {energy.e_mac * 1e12:.2g} pJ; the ANN spends "
            f"{energy.ann * 1e6:.3g} µJ per image. Below the dashed line the SNN is cheaper; "
            f"{when}.</p>",
            _png(plots.energy_figure(res.checkpoints, energy.ratio), "energy against T")]
