"""snncore and sinabs 3.1.3 exchange networks through NIR (snncore.nir).

Export: the Fashion-MNIST CNN converted by snncore (percentile normalisation,
the defaults: no initial membrane, reset by subtraction, so the export is
exact) goes to NIR and is loaded by sinabs (`sinabs.nir.from_nir`, which runs
the graph with nirtorch 1.0's executor), then both run the same test images.
sinabs 3.1.3 imports IF, Conv2d, Affine, SumPool2d and Flatten but not the
AvgPool2d, Scale and I nodes that snncore writes for its average pooling, its
pooling gains and its accumulating read-out: `sinabs_module` maps those three
to plain torch modules (`torch.nn.AvgPool2d`, a product, and the identity:
the read-out is averaged over the steps here, which is what snncore's V(t)/t
decodes) and leaves every other node to sinabs. sinabs runs its IF layers
under its own rules unless told otherwise: several spikes per step when the
membrane holds several thresholds, and a membrane floor at -threshold.
`snncore_rule=True` sets one spike per step and no floor, snncore's rule;
then the two simulators should agree to float rounding.

Import: the same trained CNN converted by sinabs (`peers.sinabs_convert`,
sinabs's weight normalisation), its average pools swapped for sinabs's
SumPool2d with the next layer's weights divided by the window (exact in
float32: a division by 4), exported by `sinabs.nir.to_nir` and imported by
`snncore.nir.from_nir`. Both run the test images; the images per second of
each are measured.

`python bench/nir_peer.py --json bench/results/nir_peer.json` (500 test images,
T = 32) writes the
record bench/report.py renders; bench/test_nir_peer.py runs a small version.
"""

import argparse
import copy
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import peers  # noqa: E402
from report import write_single_file  # noqa: E402


class _Scale(torch.nn.Module):
    """NIR's Scale: a product by a fixed array (per neuron)."""

    def __init__(self, scale):
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, np.float32)))

    def forward(self, x):
        return x * self.scale


def sinabs_module(node, timesteps, snncore_rule):
    """The torch module sinabs makes of a NIR node, or ours for the three node
    types sinabs 3.1.3 does not import."""
    import nir
    import sinabs.activation
    import sinabs.nir

    if isinstance(node, nir.AvgPool2d):
        return torch.nn.AvgPool2d(tuple(int(k) for k in node.kernel_size),
                                  tuple(int(s) for s in node.stride),
                                  tuple(int(p) for p in node.padding), count_include_pad=True)
    if isinstance(node, nir.Scale):
        return _Scale(node.scale)
    if isinstance(node, nir.I):
        return torch.nn.Identity()
    module = sinabs.nir._import_sinabs_module(node, batch_size=None, num_timesteps=timesteps)
    if snncore_rule and isinstance(node, nir.IF):
        module.spike_fn = sinabs.activation.SingleSpike
        module.min_v_mem = None
    return module


def sinabs_load(graph, timesteps, snncore_rule=False):
    """A torch module running `graph` under sinabs (nirtorch's executor)."""
    import nirtorch

    return nirtorch.load(graph, lambda node: sinabs_module(node, timesteps, snncore_rule),
                         return_state=False).eval()


def run_squeezed(module, x, timesteps, batch_size=100, count_layers=()):
    """Outputs per image averaged over the steps (N, K), and spike counts per
    image of `count_layers` (a list of (N,) arrays): time folded into the
    batch, the image repeated every step (analog input)."""
    x = torch.as_tensor(x)
    outs, counts = [], [[] for _ in count_layers]
    seen = {}
    handles = [m.register_forward_hook(
        lambda mod, inp, out, i=i: seen.__setitem__(i, out.detach()))
        for i, m in enumerate(count_layers)]
    try:
        with torch.inference_mode():
            for lo in range(0, len(x), batch_size):
                xb = x[lo:lo + batch_size]
                b = len(xb)
                for m in module.modules():
                    if hasattr(m, "reset_states") and m is not module:
                        m.reset_states()
                xr = xb.unsqueeze(1).expand(b, timesteps, *xb.shape[1:]).reshape(
                    b * timesteps, *xb.shape[1:])
                out = module(xr)
                outs.append(out.reshape(b, timesteps, -1).mean(1).numpy())
                for i in range(len(count_layers)):
                    counts[i].append(seen[i].reshape(b, -1).sum(1).numpy())
    finally:
        for h in handles:
            h.remove()
    return np.concatenate(outs), [np.concatenate(c) for c in counts]


def export_check(model, x_calib, x, y, timesteps):
    """snncore's conversion, exported to NIR, run by snncore and by sinabs."""
    import sinabs.layers
    from snncore.convert import from_torch
    from snncore.nir import from_nir, to_nir

    net = from_torch(model, x_calib, progress=False)
    graph = to_nir(net)
    res = net.run(x, timesteps)
    back = from_nir(graph).run(x, timesteps)
    record = {"timesteps": timesteps, "images": int(len(x)),
              "snncore_accuracy": res.accuracy(y),
              "round_trip_identical": bool(np.array_equal(res.outputs, back.outputs)
                                           and np.array_equal(res.spikes.raw, back.spikes.raw))}
    if_names = [p.name for p in net.populations if p.kind == "if"]
    ours = res.spikes.per_image[:, [res.spikes.names.index(n) for n in if_names]]
    for rule, label in ((False, "sinabs"), (True, "sinabs_snncore_rule")):
        mod = sinabs_load(graph, timesteps, snncore_rule=rule)
        layers = [dict(mod.named_modules())[n] for n in if_names]
        assert all(isinstance(m, sinabs.layers.IAFSqueeze) for m in layers)
        out, counts = run_squeezed(mod, x, timesteps, count_layers=layers)
        theirs = np.stack(counts, axis=1)
        record[label] = {
            "accuracy": float((out.argmax(1) == y).mean()),
            "same_prediction": float((out.argmax(1) == res.predictions).mean()),
            "max_output_difference": float(np.abs(out - res.output).max()),
            "spikes_per_image": float(theirs.sum(1).mean()),
            "spike_count_difference": float(np.abs(theirs - ours).sum() / max(ours.sum(), 1))}
    record["snncore_spikes_per_image"] = float(ours.sum(1).mean())
    return record


def sinabs_exportable(model, x_calib):
    """sinabs's conversion of `model` with its AvgPool2d swapped for SumPool2d
    (sinabs.nir.to_nir has no AvgPool2d), the next layer's weights / window."""
    import sinabs.layers

    snn = copy.deepcopy(peers.sinabs_convert(model, x_calib).spiking_model)
    layers = list(snn.named_children())
    for k, (name, m) in enumerate(layers):
        if isinstance(m, torch.nn.AvgPool2d):
            k_h, k_w = (m.kernel_size, m.kernel_size) if isinstance(m.kernel_size, int) \
                else m.kernel_size
            setattr(snn, name, sinabs.layers.SumPool2d(m.kernel_size, m.stride))
            nxt = next(c for _, c in layers[k + 1:] if hasattr(c, "weight"))
            with torch.no_grad():
                nxt.weight /= float(k_h * k_w)
    return snn.eval()


def import_check(model, x_calib, x, y, timesteps, speed_images=200, repeats=3):
    """sinabs's conversion, exported by sinabs, imported and run by snncore;
    images per second of both on the first `speed_images` images (median of
    `repeats` runs after one untimed run)."""
    import sinabs.layers
    import sinabs.nir
    from snncore.nir import from_nir

    snn = sinabs_exportable(model, x_calib)
    graph = sinabs.nir.to_nir(snn, torch.as_tensor(x[:1]))
    for m in snn.modules():     # its squeeze layers: T steps an image (as peers.sinabs_run)
        if isinstance(m, sinabs.layers.SqueezeMixin):
            m.num_timesteps, m.batch_size = int(timesteps), -1
    net = from_nir(graph)
    res = net.run(x, timesteps)
    out, _ = run_squeezed(snn, x, timesteps)
    record = {"timesteps": timesteps, "images": int(len(x)),
              "node_types": sorted({type(n).__name__ for n in graph.nodes.values()}),
              "sinabs_accuracy": float((out.argmax(1) == y).mean()),
              "snncore_accuracy": res.accuracy(y),
              "same_prediction": float((out.argmax(1) == res.predictions).mean()),
              "speed_images": int(min(speed_images, len(x))), "threads": 2}
    xs = x[:speed_images]
    record["sinabs_images_per_second"] = peers.images_per_second(
        lambda: run_squeezed(snn, xs, timesteps), len(xs), repeats=repeats)
    record["snncore_images_per_second"] = peers.images_per_second(
        lambda: net.run(xs, timesteps, threads=2), len(xs), repeats=repeats)
    record["speedup"] = record["snncore_images_per_second"] / record["sinabs_images_per_second"]
    return record


def measure(model, x_calib, x, y, timesteps, speed_images=200, repeats=3):
    """Both checks: `model` the trained CNN, `x_calib` calibration images,
    x (N, 1, 28, 28) float32 test images in [0, 1] and their labels y."""
    torch.set_num_threads(2)
    return {"model": "fashion_cnn", "peer": "sinabs 3.1.3 (nirtorch 1.0, nir 1.0.4)",
            "export": export_check(model, x_calib, x, y, timesteps),
            "import": import_check(model, x_calib, x, y, timesteps, speed_images, repeats)}


def main(argv=None):
    from datasets import fashion_mnist
    from models import load_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--calibration", type=int, default=1000)
    p.add_argument("--speed-images", type=int, default=200)
    p.add_argument("--timesteps", "-T", type=int, default=32)
    p.add_argument("--json", help="write the record here (bench/results/nir_peer.json)")
    args = p.parse_args(argv)
    x_calib = fashion_mnist("train")[0][:args.calibration].astype(np.float32) / 255
    x, y = fashion_mnist("test")
    record = measure(load_model("fashion_cnn"), x_calib, x[:args.images].astype(np.float32) / 255,
                     y[:args.images], args.timesteps, args.speed_images)
    write_single_file(record, args.json)


if __name__ == "__main__":
    main()
