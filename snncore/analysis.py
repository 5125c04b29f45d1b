"""What a spiking network does inside: spike counts and spike trains of any
population, firing rates per population and per channel, and the per-layer
agreement of the spiking network with the ANN it was converted from.

The engine records spike counts per population, not per neuron. A
population's per-neuron counts come from the same engine run on the network
cut at that population: the population and everything that feeds it, with the
population as the read-out. A network is feed-forward, so the cut network's
populations do exactly what they do in the whole one, and an IF read-out
reports each neuron's net spike count (positive minus negative spikes) / t at
every checkpoint; times t it is the count, exactly.

Firing rates and the ANN comparison are in the ANN's units where the
converter's are kept: an IF population's threshold is the ANN activation that
one spike stands for (snncore.convert.assemble), so ``rate x threshold``
approximates the ANN's activation, the better the larger T.
"""

from collections import namedtuple

import numpy as np

from ._images import DEFAULT_UINT8_SCALE, images_tensor
from .network import Network

__all__ = ["doubling_checkpoints", "population_counts", "spike_trains", "firing_rates", "ann_outputs",
           "ann_activations", "layer_correlation", "LayerCorrelation", "rate_populations"]

LayerCorrelation = namedtuple("LayerCorrelation", "population kind ann snn slope intercept r")
LayerCorrelation.__doc__ = """The ANN against the SNN at one layer.

population : str
    The population (an IF population named after the ANN activation it
    stands for, or the read-out).
kind : {'if', 'readout'}
    An IF population, or the accumulating read-out.
ann : ndarray (n_images * n_neurons,), float32
    The ANN's activations (the logits for the read-out).
snn : ndarray (n_images * n_neurons,), float32
    The SNN's values in the same order: net spike count / T x threshold per
    channel for an IF population, the decoded output for the read-out.
slope, intercept, r : float
    The least-squares line snn = slope x ann + intercept and Pearson's r
    (scipy.stats.linregress); NaN where either side is constant.
"""


def doubling_checkpoints(timesteps):
    """[1, 2, 4, ..., T]: the checkpoints of an accuracy curve on a log axis
    (T included even when it is no power of 2)."""
    steps = [1 << k for k in range(int(timesteps).bit_length()) if 1 << k <= timesteps]
    return sorted(set(steps + [int(timesteps)]))


def _ancestors(spec, index):
    """Indices of the populations that feed population `index` (it included)."""
    feeders = {}
    for q in spec["projections"]:
        feeders.setdefault(q["target"], []).append(q["source"])
    keep, todo = set(), [index]
    while todo:
        i = todo.pop()
        if i not in keep:
            keep.add(i)
            todo.extend(feeders.get(i, ()))
    return keep


def _population_index(net, name):
    names = [p.name for p in net.populations]
    if name not in names:
        raise ValueError(f"no population {name!r}; the network has {', '.join(names)}")
    return names.index(name)


def _cut(net, name):
    """The network cut at IF population `name`: it and what feeds it, with it
    as the read-out (which starts at step 1)."""
    from ._spec import denormalize
    spec = net._spec
    index = _population_index(net, name)
    kind = spec["populations"][index]["kind"]
    if kind != "if":
        raise ValueError(f"population {name!r} is of kind {kind!r}: only IF populations "
                         "(the ones that spike) have spike counts per neuron")
    meta, arrays = denormalize(spec)
    keep = {spec["populations"][i]["name"] for i in _ancestors(spec, index)}
    meta["populations"] = [p for p in meta["populations"] if p["name"] in keep]
    meta["projections"] = [q for q in meta["projections"] if q["target"] in keep]
    meta["output"] = name
    meta.pop("readout", None)
    return Network(meta, arrays)


def population_counts(net, x, population, timesteps, checkpoints=None, encoding=None, seed=0,
                      threads=None, progress=False):
    """Each neuron's net spike count (positive minus negative spikes) up to
    each checkpoint.

    Parameters
    ----------
    net : Network
    x : array-like (n_images, *net.input_shape), float or uint8
    population : str
        An IF population of `net`.
    timesteps, checkpoints, encoding, seed, threads, progress
        As for `Network.run`.

    Returns
    -------
    ndarray of shape (n_images, n_checkpoints, *population shape), int64
    """
    cut = _cut(net, population)
    res = cut.run(x, timesteps, encoding=encoding or net.encoding, checkpoints=checkpoints,
                  seed=seed, threads=threads, progress=progress)
    t = res.checkpoints.astype(np.float64)[None, :, None]
    counts = np.rint(res.outputs.astype(np.float64) * t).astype(np.int64)
    return counts.reshape(counts.shape[:2] + cut.output_shape)


def spike_trains(net, image, populations, timesteps, encoding=None, seed=0):
    """The spikes of one image, step by step.

    Parameters
    ----------
    image : array-like of shape net.input_shape (or (1, *input_shape))
    populations : iterable of str
        IF populations.

    Returns
    -------
    dict name -> ndarray of shape (timesteps, n_neurons), int8
        +1 for a spike, -1 for a negative spike (signed neurons), 0 for none,
        neurons in CHW order.
    """
    steps = np.arange(1, timesteps + 1)
    trains = {}
    for name in populations:
        counts = population_counts(net, image, name, timesteps, checkpoints=steps,
                                   encoding=encoding, seed=seed)
        cumulative = counts[0].reshape(timesteps, -1)
        trains[name] = np.diff(cumulative, axis=0, prepend=0).astype(np.int8)
    return trains


def rate_populations(net):
    """Names of the populations that spike (kind 'if'), in simulation order."""
    order = net._spec["order"]
    pops = net._spec["populations"]
    return [pops[i]["name"] for i in order if pops[i]["kind"] == "if"]


def firing_rates(net, x, timesteps, populations=None, encoding=None, seed=0, threads=None,
                 progress=False):
    """Each neuron's firing rate: net spikes per step, averaged over the images.

    Parameters
    ----------
    populations : iterable of str, optional
        IF populations (default: all, `rate_populations`).

    Returns
    -------
    dict name -> ndarray of the population's shape, float64
        Rates in [-1, 1] (an IF neuron fires at most once per step). Average
        over axes (1, 2) for the rate per channel, over all for the layer's.
    """
    names = rate_populations(net) if populations is None else list(populations)
    rates = {}
    for name in names:
        counts = population_counts(net, x, name, timesteps, encoding=encoding, seed=seed,
                                   threads=threads, progress=progress)
        rates[name] = counts[:, -1].mean(axis=0) / float(timesteps)
    return rates


def _thresholds(net, name):
    """(C,) float64: a population's threshold per channel."""
    pop = net._spec["populations"][_population_index(net, name)]
    c = pop["shape"][0]
    return np.broadcast_to(np.asarray(pop["threshold"], np.float64).reshape(-1), (c,))


def ann_outputs(model, x, batch_size=256, uint8_scale=DEFAULT_UINT8_SCALE):
    """The ANN's outputs.

    Parameters
    ----------
    model : torch.nn.Module or torch.export.ExportedProgram
    x : array-like (n_images, ...), float or uint8 (scaled by `uint8_scale`,
        as the network file's own scale, 1/255 by default, scales it)

    Returns
    -------
    ndarray of shape (n_images, K), float32
    """
    import torch
    from .convert.exported import lift

    model = lift(model) if not isinstance(model, torch.nn.Module) else model
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for lo in range(0, len(x), batch_size):
                y = model(images_tensor(torch, x[lo:lo + batch_size], uint8_scale))
                out.append(y.reshape(y.shape[0], -1).numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out).astype(np.float32)


def ann_activations(model, x, names=None, uint8_scale=DEFAULT_UINT8_SCALE):
    """The ANN's activations, by the names the converter gives their
    populations (the ReLU and leaky-ReLU nodes of the traced model), and its
    output (the logits, before a final softmax) as '__output__'. uint8
    images `x` are scaled by `uint8_scale`, as for `ann_outputs`.

    Returns
    -------
    dict name -> ndarray (n_images, *shape), float32
    """
    import torch
    from .convert.ann import AnnRunner
    from .convert.exported import lift
    from .convert.graph import capture

    xt = images_tensor(torch, x, uint8_scale)
    model = lift(model, xt[:2])
    was_training = model.training
    model.eval()
    try:
        graph = capture(model, xt[:2])
    finally:
        model.train(was_training)
    watch = graph.activations() if names is None else [n for n in names
                                                       if n in graph.nodes]
    acts = {}

    def record(name, t):
        acts[name] = t.numpy().astype(np.float32)

    acts["__output__"] = AnnRunner(graph).forward(xt, hook=record, watch=watch).numpy()
    return acts


def _fit(ann, snn):
    """(slope, intercept, r) of snn against ann by scipy.stats.linregress."""
    try:
        from scipy import stats
    except ImportError as e:
        raise ImportError(f"the correlation's fit needs scipy ({e}): "
                          "pip install 'snncore[cli]'") from None
    if ann.size < 2 or np.ptp(ann) == 0 or np.ptp(snn) == 0:
        return float("nan"), float("nan"), float("nan")
    fit = stats.linregress(ann.astype(np.float64), snn.astype(np.float64))
    return float(fit.slope), float(fit.intercept), float(fit.rvalue)


def layer_correlation(model, net, x, timesteps, encoding=None, seed=0, threads=None,
                      progress=False):
    """The ANN's activation against the SNN's rate x threshold, layer by layer.

    Each IF population named after an activation of `model` (as
    ``snncore.convert.from_torch`` names them) is paired with that
    activation, neuron by neuron and image by image; an accumulating read-out
    is paired with the model's output. A population that holds only part of
    an activation's channels (named '<activation>.part<k>', where a channel
    shuffle or a split sends them to different layers) is paired with those
    channels, as the provenance's "channel_parts" lists them.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model `net` was converted from.
    net : Network
    x : array-like (n_images, *net.input_shape), float or uint8
    timesteps : int
    encoding, seed, threads, progress
        As for `Network.run`.

    Returns
    -------
    list of LayerCorrelation, in simulation order
    """
    x = np.asarray(x)
    acts = ann_activations(model, x, uint8_scale=net.describe()["input"]["uint8_scale"])
    parts = net.provenance.get("channel_parts", {})
    pairs = []
    for name in rate_populations(net):
        if name in acts:
            ann = acts[name]
        elif name in parts and parts[name]["of"] in acts:
            ann = acts[parts[name]["of"]][:, parts[name]["channels"]]
        else:
            continue
        counts = population_counts(net, x, name, timesteps, encoding=encoding, seed=seed,
                                   threads=threads, progress=progress)[:, -1]
        theta = _thresholds(net, name).reshape((-1,) + (1,) * (counts.ndim - 2))
        snn = counts / float(timesteps) * theta
        pairs.append((name, "if", ann.reshape(snn.shape), snn))
    out_pop = net._spec["populations"][net._spec["output"]]
    if out_pop["kind"] == "accumulate":
        res = net.run(x, timesteps, encoding=encoding, seed=seed, threads=threads,
                      progress=progress)
        pairs.append((out_pop["name"], "readout", acts["__output__"].reshape(res.output.shape),
                      res.output))
    result = []
    for name, kind, ann, snn in pairs:
        ann = np.asarray(ann, np.float32).reshape(-1)
        snn = np.asarray(snn, np.float32).reshape(-1)
        result.append(LayerCorrelation(name, kind, ann, snn, *_fit(ann, snn)))
    return result
