"""The captured graph run as an ANN in PyTorch: the reference that calibration
statistics come from (after BatchNorm folding and any max-pool substitution,
so the statistics describe exactly the network that is converted)."""

import numpy as np

__all__ = ["AnnRunner"]


class AnnRunner:
    """Evaluates a Graph on batches of images.

    `hook(name, tensor) -> tensor`, if given, sees the output of every node in
    `watch` (by default the activations) and may replace it (LTB clips it).
    """

    def __init__(self, graph):
        import torch
        self.torch = torch
        self.F = torch.nn.functional
        self.graph = graph
        self.params = {}
        for node in graph.nodes.values():
            for key in ("weight", "bias", "scale", "shift", "index"):
                value = node.params.get(key)
                if value is not None:
                    self.params[(node.name, key)] = torch.from_numpy(np.ascontiguousarray(value))

    def _p(self, node, key):
        return self.params.get((node.name, key))

    def _eval(self, node, inputs):
        F, op = self.F, node.op
        x = inputs[0] if inputs else None
        if op == "conv2d":
            return F.conv2d(x, self._p(node, "weight"), self._p(node, "bias"),
                            stride=node.params["stride"], padding=node.params["padding"],
                            groups=node.params["groups"])
        if op == "linear":
            return F.linear(x, self._p(node, "weight"), self._p(node, "bias"))
        if op == "avgpool2d":
            return F.avg_pool2d(x, node.params["kernel"], node.params["stride"],
                                node.params["padding"], count_include_pad=True)
        if op == "maxpool2d":
            return F.max_pool2d(x, node.params["kernel"], node.params["stride"],
                                node.params["padding"], ceil_mode=node.params["ceil_mode"])
        if op == "upsample2d":
            return F.interpolate(x, scale_factor=node.params["scale"], mode="nearest")
        if op == "affine":
            view = (1, -1) + (1,) * (x.dim() - 2)
            return x * self._p(node, "scale").view(view) + self._p(node, "shift").view(view)
        if op == "add":
            out = inputs[0]
            for other in inputs[1:]:
                out = out + other
            return out
        if op == "flatten":
            return x.flatten(1)
        if op == "cat":
            return self.torch.cat(inputs, 1)
        if op == "channels":
            return x[:, self._p(node, "index")]
        if op == "relu":
            clip = node.params.get("clip")
            # clamp with a python float clips at float32(c), the value an IF
            # threshold of c holds once stored as float32
            return F.relu(x) if clip is None else x.clamp(min=0.0, max=clip)
        if op == "leaky_relu":
            return F.leaky_relu(x, node.params["alpha"])
        raise AssertionError(f"unknown IR op {op}")

    def forward(self, x, hook=None, watch=None):
        """x: torch float32 (N, ...). Returns the output tensor (N, ...)."""
        torch = self.torch
        watch = set(self.graph.activations() if watch is None else watch)
        values = {}
        with torch.no_grad():
            for node in self.graph.nodes.values():
                if node.op == "input":
                    out = x
                else:
                    out = self._eval(node, [values[i] for i in node.inputs])
                if hook is not None and node.name in watch:
                    replaced = hook(node.name, out)
                    out = out if replaced is None else replaced
                values[node.name] = out
        return values[self.graph.output]
