"""Capture a PyTorch model as a small graph of the operations the converter
knows (the IR), with torch.fx.

IR ops (every shape excludes the batch dimension):

    input                      shape (C, H, W) or (N,)
    conv2d     weight (Co, Ci / groups, kh, kw), bias (Co,) or None, stride, padding,
               groups (1, or G > 1: output group g reads input group g alone)
    linear     weight (out, in), bias (out,) or None
    avgpool2d  kernel, stride, padding   (also global average pooling: x.mean((2, 3)),
                                         AdaptiveAvgPool2d(1), and adaptive pooling to a
                                         divisor of the input size; adaptive pooling with
                                         unequal windows is folded into the Linear that
                                         follows it through a flatten, and refused
                                         elsewhere)
    maxpool2d  kernel, stride, padding, ceil_mode   (also adaptive max pooling to a
                                         divisor of the input size)
    upsample2d scale (sh, sw)           nearest-neighbour upsampling by integer factors
                                         (F.interpolate, nn.Upsample)
    affine     scale (C,), shift (C,)       a BatchNorm that could not be folded
    add        two or more inputs of one shape (a residual junction)
    flatten    (C, H, W) -> (C*H*W,)    (flatten, view, reshape, squeeze: any order-keeping
                                         reshape whose end result is this one)
    cat        two or more (C_i, H, W) inputs -> (sum C_i, H, W): torch.cat, torch.concat
               on dim 1 (or -3)
    channels   index (C_out,) int64: output channel c is input channel index[c] of a
               (C, H, W) input (x[:, a:b], x.chunk(n, 1), x.split(s, 1), x.narrow(1, a,
               n) and their torch.* spellings, the channel shuffle x.view(n, g, c // g,
               h, w), torch.transpose(x, 1, 2), x.view(n, c, h, w): any chain of
               reshapes, transposes and slices whose end result picks whole channels)
    relu       clip c > 0 or absent: min(max(x, 0), c) (ReLU6, hardtanh(x, 0, c),
               clamp(x, 0, c)); the clip becomes a ceiling on the layer's threshold
    leaky_relu alpha in (0, 1)

Dropout and Identity vanish; a BatchNorm right after a conv or linear with no
other user is folded into it; a monotone output function (softmax, log_softmax
or sigmoid) as the last operation of forward() is dropped from the read-out
(the argmax is unchanged) and named in Graph.output_function. Anything else is
refused with the node's name, what it is and the source line.
"""

import builtins
import operator
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import ConversionError
from .exported import LIFTED, aten_name, lift

__all__ = ["Node", "Graph", "capture", "MAXPOOL_MODES"]

# How max pooling converts (from_torch's maxpool): 'spike' pools spike counts (the
# spiking maxpool2d op), 'avg' substitutes average pooling, 'refuse' refuses it.
MAXPOOL_MODES = ("spike", "avg", "refuse")


@dataclass
class Node:
    name: str
    op: str
    inputs: list
    shape: tuple
    params: dict = field(default_factory=dict)
    origin: str = ""          # what it came from, for messages


@dataclass
class Graph:
    nodes: dict               # name -> Node, in topological order
    input: str
    output: str
    notes: list = field(default_factory=list)   # what the capture changed, for the user
    departures: list = field(default_factory=list)  # (rule key, detail) for check()
    output_function: str = None   # 'softmax', 'log_softmax' or 'sigmoid' left out of the read-out

    def users(self, name):
        return [n for n in self.nodes.values() if name in n.inputs]

    def activations(self):
        """Names of the relu / leaky_relu nodes, in order."""
        return [n.name for n in self.nodes.values() if n.op in ("relu", "leaky_relu")]


def _in_torch(frame_line):
    """Whether a 'File "...", line n' line of a stack trace is inside torch."""
    import torch
    try:
        path = os.path.realpath(frame_line.split('"')[1])
    except IndexError:
        return False
    return path.startswith(os.path.realpath(os.path.dirname(torch.__file__)) + os.sep)


def _np(t):
    return t.detach().to("cpu").double().numpy().astype(np.float32)


def _pair(v):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(v)
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))


def _arg(args, kwargs, i, name, default=None):
    """Argument `i` of a call, given by position or as `name`."""
    return args[i] if len(args) > i else kwargs.get(name, default)


_SIZE_ARITHMETIC = (operator.add, operator.sub, operator.mul, operator.floordiv,
                    operator.getitem, operator.neg)


def _CATS(torch):
    """The spellings of channel concatenation."""
    return tuple(getattr(torch, n) for n in ("cat", "concat", "concatenate") if hasattr(torch, n))


def _CHANNEL_FUNCTIONS(torch):
    """torch functions that pick or move elements: channel slices and shuffles."""
    return (torch.chunk, torch.split, torch.narrow, torch.transpose, torch.permute)


_CHANNEL_METHODS = ("chunk", "split", "narrow", "transpose", "permute")


def _holds_node(node_type, value):
    """Whether an fx argument (nested tuples, lists, dicts, slices) holds an fx Node."""
    if isinstance(value, node_type):
        return True
    if isinstance(value, (tuple, list)):
        return any(_holds_node(node_type, v) for v in value)
    if isinstance(value, dict):
        return any(_holds_node(node_type, v) for v in value.values())
    if isinstance(value, slice):
        return any(_holds_node(node_type, v) for v in (value.start, value.stop, value.step))
    return False


def _GATES_AND_CURVES(nn):
    """Activation modules that are neither ReLU nor an output function."""
    return tuple(getattr(nn, n) for n in (
        "Tanh", "GELU", "SiLU", "ELU", "Softplus", "PReLU", "Hardswish",
        "Hardsigmoid", "Mish", "SELU", "CELU", "Softsign", "LogSigmoid", "Tanhshrink",
        "Softshrink", "Hardshrink", "RReLU", "GLU") if hasattr(nn, n))


class _Capture:
    """One pass over an fx graph, turning nodes into IR nodes."""

    def __init__(self, torch, gm, maxpool, strict):
        self.torch = torch
        self.F = torch.nn.functional
        self.nn = torch.nn
        self.gm = gm
        self.maxpool = maxpool
        self.strict = strict          # refuse departures instead of recording them (check())
        self.nodes = {}
        self.alias = {}               # fx node name -> IR node name (pass-through ops)
        self.notes = []
        self.departures = []
        self.input = None
        self.batch = None             # the sample's batch size (the placeholder's first dim)
        self.output = None
        self.shape_values = set()     # fx names of shape arithmetic (x.size(0), x.shape[0])
        self.pending = {}             # fx name -> (IR source, positions, fx node): a reshape or
        #                               transpose on its way to a flatten or a channel selection
        #                               (x.squeeze(-1) before .squeeze(-1); the channel shuffle)
        self.pieces = {}              # fx name -> (IR source, [positions]): x.chunk(), x.split()
        self.output_function = None
        self.output_note = None
        self.clip_notes = []          # for check(): each clipped ReLU and its ceiling

    # -- helpers -------------------------------------------------------------

    @staticmethod
    def where(node):
        """'node 'conv1' (call_module Conv2d) at model.py:42' for messages."""
        what = node.target if isinstance(node.target, str) else getattr(
            node.target, "__name__", str(node.target))
        text = f"node {node.name!r} ({node.op} {what})"
        trace = getattr(node, "stack_trace", None) or ""
        # the user's frames only: recent torch versions end the trace in torch.fx
        # itself, and an nn.Sequential's line is torch's own container.py
        lines = [ln.strip() for ln in trace.splitlines() if ln.strip().startswith("File ")
                 and not _in_torch(ln)]
        if lines:
            last = lines[-1]
            try:
                path = last.split('"')[1]
                line = last.split("line ")[1].split(",")[0]
                text += f" at {path.rsplit('/', 1)[-1]}:{line}"
            except IndexError:
                pass
        return text

    def refuse(self, node, reason):
        raise ConversionError(f"{self.where(node)}: {reason}")

    def shape(self, node):
        meta = node.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            return None
        return tuple(int(d) for d in meta.shape[1:])

    def ref(self, arg, node):
        """The IR name of an fx argument that must be a tensor."""
        fx = self.torch.fx
        if not isinstance(arg, fx.Node):
            self.refuse(node, f"expects a tensor argument, got {type(arg).__name__} {arg!r}")
        if arg.name in self.pending:
            src, positions, where = self.pending[arg.name]
            self.refuse(where, self._reshape_reason(self.nodes[src].shape,
                                                    tuple(positions.shape[1:])))
        if arg.name in self.pieces:
            self.refuse(node, f"uses {arg.name!r}, the tuple of pieces of a chunk or split; "
                              "use its pieces (a, b = x.chunk(2, 1))")
        if arg.name in self.shape_values:
            self.refuse(node, f"uses {arg.name!r}, a size and not a tensor")
        name = self.alias.get(arg.name, arg.name)
        if name not in self.nodes:
            self.refuse(node, f"uses {arg.name!r}, which is not a tensor the converter knows")
        return name

    def readable_name(self, node, suffix=""):
        """'input', a module's path ('features.3', or 'conv2d_0' for a bare index
        in a Sequential), or fx's name for functions ('relu_1', 'add')."""
        if node.op == "placeholder":
            base = "input"
        elif node.op == "call_module":
            base = str(node.target)
            if base.replace(".", "").isdigit():
                kind = type(self.gm.get_submodule(node.target)).__name__.lower()
                base = f"{kind}_{base.replace('.', '_')}"
        else:
            base = node.name
        base += suffix
        name, k = base, 1
        while name in self.nodes:
            k += 1
            name = f"{base}_{k}"
        return name

    def add(self, node, op, inputs, shape=None, suffix="", **params):
        """An IR node for fx `node` (its shape, unless `shape` is given; a
        `suffix` when one fx node becomes two IR nodes)."""
        name = self.readable_name(node)
        if suffix:
            name = self.readable_name(node, suffix)
        shape = self.shape(node) if shape is None else shape
        self.nodes[name] = Node(name, op, inputs, shape, params, self.where(node))
        self.alias[node.name] = name
        return name

    def passthrough(self, node, src):
        self.alias[node.name] = src

    def departure(self, key, detail):
        self.departures.append((key, detail))

    # -- layers --------------------------------------------------------------

    def conv(self, node, m, x):
        if tuple(m.dilation) != (1, 1):
            self.refuse(node, f"dilated convolution (dilation={tuple(m.dilation)}) is not "
                              "supported")
        if m.padding_mode != "zeros":
            self.refuse(node, f"padding_mode={m.padding_mode!r} is not supported; use 'zeros'")
        padding = m.padding
        if isinstance(padding, str):
            if padding == "valid":
                padding = (0, 0)
            elif all(k % 2 == 1 for k in m.kernel_size):
                padding = tuple(k // 2 for k in m.kernel_size)
            else:
                self.refuse(node, "padding='same' with an even kernel pads asymmetrically, "
                                  "which snncore does not support")
        if m.bias is not None:
            self.departure("bias", f"{node.name}: {type(m).__name__} has a bias")
        return self.add(node, "conv2d", [x], weight=_np(m.weight),
                        bias=None if m.bias is None else _np(m.bias),
                        stride=_pair(m.stride), padding=_pair(padding), groups=int(m.groups))

    def linear(self, node, m, x):
        if m.bias is not None:
            self.departure("bias", f"{node.name}: Linear has a bias")
        return self.add(node, "linear", [x], weight=_np(m.weight),
                        bias=None if m.bias is None else _np(m.bias))

    def avgpool(self, node, x, kernel, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        fx = self.torch.fx
        if any(isinstance(v, fx.Node) for v in (kernel if isinstance(kernel, (tuple, list))
                                                 else (kernel, stride))):
            self.refuse(node, "average pooling with a window computed from the input's size "
                              "is not supported; write global average pooling as "
                              "x.mean((2, 3)) or nn.AdaptiveAvgPool2d(1)")
        kernel = _pair(kernel)
        stride = kernel if stride is None or stride == [] else _pair(stride)
        padding = _pair(padding)
        if ceil_mode:
            self.refuse(node, "AvgPool2d with ceil_mode=True is not supported")
        if divisor_override:
            self.refuse(node, "AvgPool2d with divisor_override is not supported")
        if not count_include_pad and padding != (0, 0):
            self.refuse(node, "AvgPool2d with padding and count_include_pad=False is not "
                              "supported (snncore divides by the full window)")
        return self.add(node, "avgpool2d", [x], kernel=kernel, stride=stride, padding=padding)

    @staticmethod
    def _adaptive_out(src, output_size):
        """(oh, ow): an adaptive pool's output size (None keeps the input's)."""
        out = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        return tuple(src[1 + i] if o is None else int(o) for i, o in enumerate(out))

    def _adaptive_kernel(self, node, src, output_size, what):
        """The window (= stride) of adaptive pooling from (C, H, W) `src` to
        `output_size`, when the output size divides the input size."""
        if src is None or len(src) != 3:
            self.refuse(node, f"adaptive {what} pooling needs a (C, H, W) input")
        out = self._adaptive_out(src, output_size)
        if src[1] % out[0] or src[2] % out[1]:
            self.refuse(node, f"adaptive {what} pooling from {src[1:]} to {out} has unequal "
                              "windows; snncore converts it only when the output size divides "
                              "the input size")
        return (src[1] // out[0], src[2] // out[1])

    def adaptive_avgpool(self, node, x, output_size):
        src = self.nodes[x].shape
        if src is None and not self.strict:
            return self.add(node, "avgpool2d", [x])      # survey: shapes unknown
        if src is None or len(src) != 3:
            self.refuse(node, "adaptive average pooling needs a (C, H, W) input")
        out = self._adaptive_out(src, output_size)
        if src[1] % out[0] or src[2] % out[1]:
            # unequal windows: folded into the Linear that must follow (_fold_adaptive_pools)
            return self.add(node, "adaptive_avgpool2d", [x], output_size=out)
        kernel = (src[1] // out[0], src[2] // out[1])
        return self.add(node, "avgpool2d", [x], kernel=kernel, stride=kernel, padding=(0, 0))

    def maxpool_node(self, node, x, kernel, stride, padding, dilation=1, ceil_mode=False):
        if self.maxpool == "refuse":
            self.refuse(node, "max pooling is refused (maxpool='refuse'); the default, "
                              "maxpool='spike', pools spike counts, and maxpool='avg' "
                              "substitutes average pooling")
        if _pair(dilation) != (1, 1):
            self.refuse(node, "dilated max pooling is not supported")
        kernel = _pair(kernel)
        stride = kernel if stride is None or stride == [] else _pair(stride)
        padding = _pair(padding)
        if self.maxpool == "spike":
            self._check_spiking_maxpool_input(node, x)
            return self.add(node, "maxpool2d", [x], kernel=kernel, stride=stride,
                            padding=padding, ceil_mode=bool(ceil_mode))
        warnings.warn(f"{self.where(node)}: max pooling replaced by average pooling "
                      "(maxpool='avg'); accuracy may drop, and the network should be retrained "
                      "with average pooling", stacklevel=4)
        self.notes.append(f"{self.readable_name(node)}: max pooling replaced by average pooling")
        return self.avgpool(node, x, kernel, stride, padding, ceil_mode, True, None)

    # IR ops whose every input channel passes through unchanged into the output
    CHANNEL_VIEWS = ("cat", "channels")

    def _reads_spikes(self, name):
        """Whether IR node `name` emits spike counts: a ReLU's or leaky ReLU's
        IF neurons (signed for the latter), a max pool of them (nested pooling),
        or a channel view of those."""
        n = self.nodes[name]
        if n.op in self.CHANNEL_VIEWS:
            return all(self._reads_spikes(i) for i in n.inputs)
        return n.op in ("relu", "leaky_relu", "maxpool2d")

    def _check_spiking_maxpool_input(self, node, x):
        """Spiking max pooling pools spike counts: refuse it where its input is
        not the output of a ReLU or a leaky ReLU."""
        if x not in self.nodes or self.nodes[x].op == "unknown" or self._reads_spikes(x):
            return
        op = self.nodes[x].op
        what = {"input": "the input image"}.get(op, f"the output of {op}, not of a ReLU")
        self.refuse(node, f"max pooling converts only right after a ReLU or leaky ReLU (it "
                          f"pools spike counts), but it reads {what}; place it after the "
                          "activation (conv-BN-ReLU-maxpool computes the same as "
                          "conv-BN-maxpool-ReLU), or pass maxpool='avg' to substitute "
                          "average pooling")

    def adaptive_maxpool(self, node, x, output_size, return_indices=False):
        if return_indices:
            self.refuse(node, "adaptive max pooling that returns indices is not supported")
        src = self.nodes[x].shape
        if src is None and not self.strict:
            return self.add(node, "maxpool2d", [x])      # survey: shapes unknown
        kernel = self._adaptive_kernel(node, src, output_size, "max")
        return self.maxpool_node(node, x, kernel, kernel, 0)

    def upsample(self, node, x, size=None, scale_factor=None, mode="nearest",
                 align_corners=None):
        """Nearest-neighbour upsampling by integer factors, given as factors or
        as an output size that is a multiple of the input's."""
        if mode != "nearest":
            self.refuse(node, f"upsampling with mode={mode!r} is not supported; snncore "
                              "converts mode='nearest' by integer factors")
        src, out = self.nodes[x].shape, self.shape(node)
        if src is None or out is None:
            if not self.strict:
                return self.add(node, "upsample2d", [x])     # survey: shapes unknown
            self.refuse(node, "upsampling needs a (C, H, W) input")
        if len(src) != 3 or len(out) != 3 or out[1] % src[1] or out[2] % src[2]:
            self.refuse(node, f"upsampling from {src} to {out} is not by integer factors")
        scale = (out[1] // src[1], out[2] // src[2])
        if scale_factor is not None:
            factors = scale_factor if isinstance(scale_factor, (tuple, list)) else \
                (scale_factor,) * 2
            if any(float(f) != int(f) for f in factors):
                self.refuse(node, f"upsampling by {scale_factor} is not by integer factors")
        return self.add(node, "upsample2d", [x], scale=scale)

    def batchnorm(self, node, m, x):
        if m.running_mean is None or m.running_var is None:
            self.refuse(node, "BatchNorm without running statistics (track_running_stats="
                              "False) cannot be folded")
        inv = 1.0 / np.sqrt(_np(m.running_var).astype(np.float64) + m.eps)
        gamma = _np(m.weight).astype(np.float64) if m.weight is not None else 1.0
        beta = _np(m.bias).astype(np.float64) if m.bias is not None else 0.0
        scale = gamma * inv
        shift = beta - _np(m.running_mean).astype(np.float64) * scale
        self.departure("batchnorm", f"{node.name}: {type(m).__name__}")
        return self.add(node, "affine", [x], scale=np.broadcast_to(scale, m.num_features)
                        .astype(np.float32), shift=np.broadcast_to(shift, m.num_features)
                        .astype(np.float32), kind=type(m).__name__)

    def activation(self, node, x, alpha=0.0):
        if alpha == 0.0:
            return self.add(node, "relu", [x])
        if not 0.0 < alpha < 1.0:
            self.refuse(node, f"leaky ReLU with slope {alpha} is not supported; snncore's "
                              "signed neurons need 0 < negative_slope < 1")
        self.departure("leaky", f"{node.name}: LeakyReLU({alpha})")
        return self.add(node, "leaky_relu", [x], alpha=float(alpha))

    def clipped(self, node, x, low, high, what):
        """min(max(x, low), high) (ReLU6, hardtanh, clamp, clip): with low 0
        and high c > 0 the clipped ReLU, an IF population whose threshold has
        the ceiling c (an IF neuron fires at most once per step, so its rate
        saturates at its threshold); with low 0 and no high a plain ReLU.
        Anything else is refused with the reason."""
        fx = self.torch.fx
        for label, v in (("min", low), ("max", high)):
            if isinstance(v, fx.Node) or (v is not None and (
                    isinstance(v, bool) or not isinstance(v, (int, float))
                    or not np.isfinite(v))):
                self.refuse(node, f"{what} with {label}={getattr(v, 'name', v)!r}: snncore "
                                  "converts a clamp only with constant numbers, clamp(x, 0, "
                                  "c) with min=0 and max=c > 0 (the clipped ReLU, such as "
                                  "ReLU6)")
        if low is None:
            self.refuse(node, f"{what} with no min is not a ReLU: negative values pass "
                              "unchanged, and unsigned spiking neurons carry no negative "
                              "values; snncore converts clamp(x, 0, c) with min=0 and max=c > 0")
        if low < 0:
            self.refuse(node, f"{what} with min={low} < 0 has no spiking equivalent: a negative "
                              "floor needs signed neurons, and snncore's signed neurons carry "
                              "only leaky ReLU; snncore converts clamp(x, 0, c) with min=0 and "
                              "max=c > 0 (the clipped ReLU, such as ReLU6)")
        if low > 0:
            self.refuse(node, f"{what} with min={low} > 0 is not a ReLU (its output never "
                              "falls to 0, which an IF neuron's silence stands for); snncore "
                              "converts clamp(x, 0, c) with min=0 and max=c > 0 (the clipped "
                              "ReLU, such as ReLU6)")
        if high is None:
            return self.activation(node, x)
        if high <= 0:
            self.refuse(node, f"{what} with min=0 and max={high} <= 0 is constant, not a "
                              "ReLU; snncore converts clamp(x, 0, c) with max=c > 0")
        c = float(high)
        name = self.readable_name(node)
        self.notes.append(f"{name}: {what} clips at {c:g}: the clip is a ceiling on the "
                          f"layer's threshold (min(lambda, {c:g}))")
        self.clip_notes.append(f"{name}: {what} (a ReLU clipped at {c:g}) converts to IF "
                               f"neurons whose threshold is at most {c:g} (the clip is a "
                               "ceiling on the threshold)")
        return self.add(node, "relu", [x], clip=c)

    def global_mean(self, node, x, dims, keepdim):
        """x.mean((2, 3)) and its spellings: global average pooling, an
        avgpool2d over the whole map (then a flatten unless keepdim)."""
        dims = (dims,) if isinstance(dims, int) else dims
        how = "snncore converts a mean over the height and width of a (N, C, H, W) map " \
              "(global average pooling: x.mean((2, 3)), x.mean(dim=[-1, -2]))"
        if not isinstance(dims, (tuple, list)) or not all(
                isinstance(d, int) and not isinstance(d, bool) for d in dims):
            self.refuse(node, f"mean over {dims!r}; {how}")
        if not isinstance(keepdim, bool):
            self.refuse(node, f"mean with keepdim={keepdim!r}; {how}")
        src = self.nodes[x].shape
        if src is None and not self.strict:   # survey: shapes unknown, taken as (N, C, H, W)
            if sorted(d % 4 for d in dims) != [2, 3]:
                self.refuse(node, f"mean over dims {tuple(dims)}; {how}")
            pooled = self.add(node, "avgpool2d", [x])
            return pooled if keepdim else self.add(node, "flatten", [pooled], suffix="_flatten")
        if src is None or len(src) != 3 or sorted(d % 4 for d in dims) != [2, 3]:
            self.refuse(node, f"mean over dims {tuple(dims)} of a per-sample {src} tensor; {how}")
        kernel = (src[1], src[2])
        pooled = self.add(node, "avgpool2d", [x], shape=(src[0], 1, 1), kernel=kernel,
                          stride=kernel, padding=(0, 0))
        if keepdim:
            return pooled
        return self.add(node, "flatten", [pooled], shape=(src[0],), suffix="_flatten")

    @staticmethod
    def _reshape_reason(src, out):
        n = None if src is None else int(np.prod(src))
        return (f"rearranges the per-sample {src} tensor to {out}; snncore converts only a "
                f"flatten of the channel, height and width dims, to ({n},) (x.flatten(1), "
                "torch.flatten(x, 1), nn.Flatten(), x.view(x.size(0), -1), "
                "x.reshape(x.shape[0], -1), x.squeeze() of a 1x1 map), and a slice, split or "
                "permutation of the channels of a (C, H, W) map (x[:, a:b], x.chunk(n, 1), "
                "x.split(s, 1), x.narrow(1, a, n), the channel shuffle x.view(n, g, c // g, h, "
                "w).transpose(1, 2) then x.view(n, c, h, w))")

    def source(self, arg, node):
        """(IR node, positions) of a tensor argument: positions is an int64
        tensor (1, *shape) of the per-sample flat indices of the IR node's
        elements that the argument holds, in its order (None when shapes are
        unknown); the IR node's own order unless the argument is a pending
        rearrangement of it."""
        name = getattr(arg, "name", None)
        if name in self.pending:
            return self.pending[name][:2]
        x = self.ref(arg, node)
        shape = self.nodes[x].shape
        if shape is None:
            return x, None
        return x, self.torch.arange(int(np.prod(shape))).reshape((1,) + tuple(shape))

    def settle(self, node, x, positions):
        """The IR for fx `node`, whose per-sample result holds the elements
        `positions` (int64 (1, *shape)) of IR node x: x itself, its flatten, a
        channel selection of it, or else a pending rearrangement that only a
        later reshape or transpose may complete."""
        src, out = self.nodes[x].shape, tuple(positions.shape[1:])
        if positions.numel() == 0:
            self.refuse(node, f"selects nothing of the per-sample {src} tensor")
        flat = positions.reshape(-1)
        in_order = self.torch.equal(flat, self.torch.arange(flat.numel()))
        if in_order and out == src:
            return self.passthrough(node, x)
        if in_order and out == (int(np.prod(src)),):
            return self.add(node, "flatten", [x], shape=out)
        if len(src) == 3 and len(out) == 3 and out[1:] == src[1:]:
            per_channel = positions[0].reshape(out[0], -1)
            plane = per_channel.shape[1]
            channels = per_channel[:, 0] // plane
            if self.torch.equal(per_channel, channels[:, None] * plane
                                + self.torch.arange(plane)[None, :]):
                return self.add(node, "channels", [x], shape=out, index=channels.numpy())
        self.pending[node.name] = (x, positions, node)

    def reshape(self, node, arg):
        """flatten, view, reshape, squeeze: each keeps the order of the
        elements, so only the end shape matters. A flatten of everything after
        the batch dim becomes one; a reshape to the same shape vanishes; one
        that brings a transposed map back to (C, H, W) with its channels
        permuted (the channel shuffle) is a channel selection; another shape
        waits for the next reshape (x.squeeze(-1).squeeze(-1)) and is refused
        if anything else uses it."""
        x, positions = self.source(arg, node)
        src, out = self.nodes[x].shape, self.shape(node)
        if not self.strict and (src is None or out is None):
            return self.add(node, "flatten", [x])        # survey: shapes unknown
        if out is None or src is None or int(np.prod(out)) != int(np.prod(src)):
            self.refuse(node, self._reshape_reason(src, out))
        return self.settle(node, x, positions.reshape((1,) + out))

    def channel_op(self, node, arg, apply, what):
        """A slice, split, chunk, narrow or transpose of tensor `arg`, done by
        `apply(t)` on the positions of its elements: the result says which
        elements land where. A channel selection or permutation becomes a
        'channels' node; a tuple (chunk, split) waits for its pieces."""
        x, positions = self.source(arg, node)
        if positions is None:                              # survey: shapes unknown
            if what in ("chunk", "split"):
                self.pieces[node.name] = (x, None)
                return None
            return self.add(node, "channels", [x])
        try:
            result = apply(positions)
        except Exception as e:  # noqa: BLE001  (torch raises many types for bad arguments)
            self.refuse(node, f"{what} with these arguments: {type(e).__name__}: {e}")
        if what in ("chunk", "split"):
            self.pieces[node.name] = (x, list(result))
            return None
        self.check_batch_kept(node, result, what)
        return self.settle(node, x, result)

    def check_batch_kept(self, node, positions, what):
        """Refuse a `what` that indexes or moves the batch dimension."""
        meta = node.meta.get("tensor_meta")
        batch = self.batch
        if positions.shape[0] != 1 or (meta is not None and hasattr(meta, "shape") and (
                int(meta.shape[0]) != batch or tuple(positions.shape[1:]) != self.shape(node))):
            self.refuse(node, f"{what} indexes or moves the batch dimension; snncore converts "
                              "channel slices and permutations of (N, C, H, W) maps (x[:, a:b])")

    def piece(self, node, arg, i):
        """Piece i of a chunk or split."""
        x, pieces = self.pieces[arg.name]
        if pieces is None:                                 # survey: shapes unknown
            return self.add(node, "channels", [x])
        if not isinstance(i, int) or isinstance(i, bool):
            self.refuse(node, f"indexes the pieces of {arg.name!r} with {i!r}; take one piece "
                              "at a time (a, b = x.chunk(2, 1))")
        self.check_batch_kept(node, pieces[i], "a piece of a chunk or split")
        return self.settle(node, x, pieces[i])

    def getitem(self, node, arg, index):
        """x[...] on a tensor (a slice of channels), or a piece of a chunk."""
        if getattr(arg, "name", None) in self.pieces:
            return self.piece(node, arg, index)
        self.constant_arguments(node, (index,), {})
        return self.channel_op(node, arg, lambda t: t[index], "indexing")

    def constant_arguments(self, node, args, kwargs):
        """Refuse a slice or split whose arguments are computed from the input."""
        if _holds_node(self.torch.fx.Node, (args, kwargs)):
            self.refuse(node, "slices or splits with sizes computed from the input's shape; "
                              "write them as numbers")

    def concat(self, node, tensors, dim):
        """torch.cat on the channel dim of (C, H, W) maps: a 'cat' node."""
        if not isinstance(tensors, (tuple, list)) or not tensors:
            self.refuse(node, f"concatenates {tensors!r}; pass a list of tensors")
        inputs = [self.ref(t, node) for t in tensors]
        shapes = [self.nodes[i].shape for i in inputs]
        if isinstance(dim, bool) or not isinstance(dim, int) or dim not in (1, -3):
            self.refuse(node, f"concatenation on dim {dim!r}; snncore concatenates (N, C, H, W) "
                              "maps on the channel dim (dim=1 or dim=-3)")
        if self.strict and any(s is None or len(s) != 3 for s in shapes):
            self.refuse(node, f"concatenates per-sample tensors of shapes {shapes}; snncore "
                              "concatenates (C, H, W) feature maps on the channel dim, not "
                              "vectors")
        if len(inputs) == 1:
            return self.passthrough(node, inputs[0])
        return self.add(node, "cat", inputs)

    def shape_value(self, node):
        """x.size(0), x.shape, x.shape[0]: arithmetic on sizes, which only
        feeds shape arguments (checked where it is used)."""
        self.shape_values.add(node.name)

    def junction(self, node, args):
        if len(args) != 2:
            self.refuse(node, "add with alpha or other arguments is not supported")
        inputs = [self.ref(a, node) for a in args]
        shapes = {self.nodes[i].shape for i in inputs}
        if len(shapes) != 1 and self.strict:
            self.refuse(node, f"adds tensors of different shapes {sorted(shapes)}; broadcasting "
                              "is not supported")
        return self.add(node, "add", inputs)

    def output_fn(self, node, arg, kind, dim=None, label=None):
        """A softmax, log_softmax or sigmoid as the last operation of forward():
        monotone on the logits, so it is left out of the read-out (the argmax
        is unchanged) and recorded. Anywhere else it is refused."""
        x = self.ref(arg, node)
        label = label or kind
        users = list(node.users)
        if not (len(users) == 1 and users[0].op == "output"):
            fed = ", ".join(repr(u.name) for u in users) or "nothing"
            where = (f"; only as the last operation of forward() is {kind} converted, as an "
                     f"output function left out of the read-out, and here it feeds {fed}")
            if kind == "sigmoid":
                return self.unsupported_activation(node, label, where)
            self.refuse(node, f"{kind} is only supported as the last operation, where it is "
                              f"dropped from the read-out (the argmax is unchanged); here it "
                              f"feeds {fed}: remove it, or apply it to the network's outputs")
        if kind != "sigmoid":
            src = self.nodes[x].shape
            if not isinstance(dim, (int, type(None))) or isinstance(dim, bool):
                self.refuse(node, f"{kind} over dim={dim!r} is not supported")
            ndim = None if src is None else len(src) + 1
            if ndim is None:            # survey: shapes unknown; only dim 0 is surely wrong
                over_classes = dim != 0
            else:
                over_classes = dim is None or dim % ndim == 1
            if not over_classes:
                self.refuse(node, f"{kind} over dim {dim} of a per-sample {src} output is "
                                  "not over the classes; snncore drops a final softmax only "
                                  "over dim 1 (the classes; dim=-1 for (N, classes) logits)")
        name = self.readable_name(node)
        self.output_function = kind
        self.output_note = (f"the final {kind} ({name}) is left out of the read-out: the "
                            f"outputs are the logits before it (its argmax is the same)")
        self.notes.append(f"{name}: final {kind} dropped (the argmax is unchanged; the outputs "
                          "are the logits before it)")
        self.departure("sigmoid" if kind == "sigmoid" else "softmax",
                       f"{node.name}: final {label} (dropped)")
        return self.passthrough(node, x)

    def unsupported_activation(self, node, what, where=""):
        self.departure("activation", f"{node.name}: {what}")
        self.refuse(node, f"{what} has no spiking equivalent in rate-coded conversion; the "
                          "tailoring rule (Cao et al. 2015) is ReLU (or LeakyReLU, converted to "
                          f"signed neurons as in Spiking-YOLO){where}; retrain with ReLU in "
                          "its place")

    # -- dispatch ------------------------------------------------------------

    def call_module(self, node):
        nn = self.nn
        m = self.gm.get_submodule(node.target)
        if isinstance(m, nn.Flatten):
            return self.reshape(node, node.args[0])
        x = self.ref(node.args[0], node) if node.args else None
        if isinstance(m, nn.Conv2d):
            return self.conv(node, m, x)
        if isinstance(m, nn.Linear):
            return self.linear(node, m, x)
        if isinstance(m, nn.AvgPool2d):
            return self.avgpool(node, x, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                m.count_include_pad, m.divisor_override)
        if isinstance(m, nn.AdaptiveAvgPool2d):
            return self.adaptive_avgpool(node, x, m.output_size)
        if isinstance(m, nn.MaxPool2d):
            self.departure("maxpool", f"{node.name}: MaxPool2d")
            if m.return_indices:
                self.refuse(node, "max pooling that returns indices is not supported")
            return self.maxpool_node(node, x, m.kernel_size, m.stride, m.padding, m.dilation,
                                     m.ceil_mode)
        if isinstance(m, nn.AdaptiveMaxPool2d):
            self.departure("maxpool", f"{node.name}: AdaptiveMaxPool2d")
            return self.adaptive_maxpool(node, x, m.output_size, m.return_indices)
        if isinstance(m, nn.Upsample):
            return self.upsample(node, x, m.size, m.scale_factor, m.mode, m.align_corners)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return self.batchnorm(node, m, x)
        if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)):
            if not isinstance(m, nn.Identity):
                self.notes.append(f"{self.readable_name(node)}: dropout removed")
            return self.passthrough(node, x)
        if isinstance(m, nn.ReLU):
            return self.activation(node, x)
        if isinstance(m, nn.Hardtanh):       # ReLU6 is Hardtanh(0, 6)
            return self.clipped(node, x, m.min_val, m.max_val, type(m).__name__)
        if isinstance(m, nn.LeakyReLU):
            return self.activation(node, x, m.negative_slope)
        if isinstance(m, (nn.Softmax, nn.LogSoftmax)):
            kind = "softmax" if isinstance(m, nn.Softmax) else "log_softmax"
            return self.output_fn(node, node.args[0], kind, m.dim, type(m).__name__)
        if isinstance(m, nn.Sigmoid):
            return self.output_fn(node, node.args[0], "sigmoid", label="Sigmoid")
        if isinstance(m, _GATES_AND_CURVES(nn)):
            return self.unsupported_activation(node, type(m).__name__)
        self.refuse(node, f"layer {type(m).__name__} is not supported (snncore converts Conv2d, "
                          "Linear, AvgPool2d, AdaptiveAvgPool2d, MaxPool2d, AdaptiveMaxPool2d, "
                          "Upsample (nearest), BatchNorm1d/2d, Dropout, Flatten, Identity, ReLU, "
                          "ReLU6, "
                          "Hardtanh(0, c) and LeakyReLU)")

    def call_function(self, node):
        torch, F = self.torch, self.F
        fn = node.target
        args, kw = node.args, node.kwargs
        if fn in _SIZE_ARITHMETIC and any(getattr(a, "name", None) in self.shape_values
                                          for a in args):
            return self.shape_value(node)       # x.size(0) * 4, x.shape[0] // 2
        if fn is operator.getitem:
            return self.getitem(node, args[0], args[1])
        if fn in _CATS(torch):
            return self.concat(node, _arg(args, kw, 0, "tensors"),
                               _arg(args, kw, 1, "dim", kw.get("axis", 0)))
        if fn in _CHANNEL_FUNCTIONS(torch):
            self.constant_arguments(node, args[1:], kw)
            return self.channel_op(node, args[0], lambda t: fn(t, *args[1:], **kw),
                                   fn.__name__)
        if fn in (operator.add, operator.iadd, torch.add):
            if kw.get("alpha", 1) != 1:
                self.refuse(node, "torch.add with alpha is not supported")
            return self.junction(node, list(args[:2]))
        if fn in (F.relu, torch.relu, torch.relu_):
            return self.activation(node, self.ref(args[0], node))
        if fn is F.relu6:
            return self.clipped(node, self.ref(args[0], node), 0.0, 6.0, "relu6")
        if fn in (F.hardtanh, getattr(F, "hardtanh_", None)):
            return self.clipped(node, self.ref(args[0], node), _arg(args, kw, 1, "min_val", -1.0),
                                _arg(args, kw, 2, "max_val", 1.0), fn.__name__)
        if fn in (torch.clamp, torch.clip, getattr(torch, "clamp_", None),
                  getattr(torch, "clip_", None)):
            return self.clipped(node, self.ref(args[0], node), _arg(args, kw, 1, "min"),
                                _arg(args, kw, 2, "max"), f"torch.{fn.__name__}")
        if fn is F.leaky_relu:
            alpha = args[1] if len(args) > 1 else kw.get("negative_slope", 0.01)
            return self.activation(node, self.ref(args[0], node), alpha)
        if fn is F.avg_pool2d:
            names = ["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                     "divisor_override"]
            defaults = [None, None, 0, False, True, None]
            vals = [args[i + 1] if len(args) > i + 1 else kw.get(n, d)
                    for i, (n, d) in enumerate(zip(names, defaults))]
            return self.avgpool(node, self.ref(args[0], node), *vals)
        if fn is F.adaptive_avg_pool2d:
            size = args[1] if len(args) > 1 else kw["output_size"]
            return self.adaptive_avgpool(node, self.ref(args[0], node), size)
        if fn is F.max_pool2d:
            self.departure("maxpool", f"{node.name}: max_pool2d")
            names = ["kernel_size", "stride", "padding", "dilation", "ceil_mode"]
            defaults = [None, None, 0, 1, False]
            vals = [args[i + 1] if len(args) > i + 1 else kw.get(n, d)
                    for i, (n, d) in enumerate(zip(names, defaults))]
            return self.maxpool_node(node, self.ref(args[0], node), *vals)
        if fn is F.interpolate:
            names = ["size", "scale_factor", "mode", "align_corners"]
            defaults = [None, None, "nearest", None]
            vals = [args[i + 1] if len(args) > i + 1 else kw.get(n, d)
                    for i, (n, d) in enumerate(zip(names, defaults))]
            return self.upsample(node, self.ref(args[0], node), *vals)
        if fn is F.adaptive_max_pool2d:
            self.departure("maxpool", f"{node.name}: adaptive_max_pool2d")
            size = args[1] if len(args) > 1 else kw["output_size"]
            return self.adaptive_maxpool(node, self.ref(args[0], node), size,
                                         _arg(args, kw, 2, "return_indices", False))
        if fn in (torch.flatten, torch.reshape, torch.squeeze):
            return self.reshape(node, args[0])
        if fn is torch.mean:
            return self.global_mean(node, self.ref(args[0], node), _arg(args, kw, 1, "dim"),
                                    _arg(args, kw, 2, "keepdim", False))
        if fn is builtins.getattr and len(args) == 2 and args[1] == "shape":
            return self.shape_value(node)
        if fn in (F.dropout, F.dropout2d):
            self.notes.append(f"{self.readable_name(node)}: dropout removed")
            return self.passthrough(node, self.ref(args[0], node))
        if fn in (F.softmax, torch.softmax, F.log_softmax, torch.log_softmax):
            kind = "softmax" if fn in (F.softmax, torch.softmax) else "log_softmax"
            return self.output_fn(node, args[0], kind, _arg(args, kw, 1, "dim"))
        if fn in (torch.sigmoid, F.sigmoid):
            return self.output_fn(node, args[0], "sigmoid")
        if fn in (torch.tanh, F.tanh, F.gelu, F.silu, F.elu, F.hardswish, F.hardsigmoid,
                  F.mish, F.softplus, F.selu, F.celu, F.logsigmoid):
            return self.unsupported_activation(node, getattr(fn, "__name__", str(fn)))
        if aten_name(fn):           # kept by the lifting of an export (exported.py)
            self.refuse(node, f"ATen operator aten.{fn.__name__} is not supported")
        self.refuse(node, f"function {getattr(fn, '__name__', fn)} is not supported")

    def call_method(self, node):
        name = node.target
        if name in ("size", "dim"):
            return self.shape_value(node)   # only feeds shape arguments; checked where used
        if name in ("view", "reshape", "flatten", "squeeze"):
            return self.reshape(node, node.args[0])
        if name in ("contiguous", "clone", "detach") and node.args[0].name in self.pending:
            self.pending[node.name] = self.pending[node.args[0].name]
            return None
        if name in _CHANNEL_METHODS:
            args, kw = node.args[1:], node.kwargs
            self.constant_arguments(node, args, kw)
            return self.channel_op(node, node.args[0],
                                   lambda t: getattr(t, name)(*args, **kw), name)
        if name in ("softmax", "log_softmax"):
            return self.output_fn(node, node.args[0], name,
                                        _arg(node.args, node.kwargs, 1, "dim"))
        if name == "sigmoid":
            return self.output_fn(node, node.args[0], "sigmoid")
        x = self.ref(node.args[0], node)
        if name == "mean":
            return self.global_mean(node, x, _arg(node.args, node.kwargs, 1, "dim"),
                                    _arg(node.args, node.kwargs, 2, "keepdim", False))
        if name in ("relu", "relu_"):
            return self.activation(node, x)
        if name in ("clamp", "clamp_", "clip", "clip_"):
            return self.clipped(node, x, _arg(node.args, node.kwargs, 1, "min"),
                                _arg(node.args, node.kwargs, 2, "max"), f".{name}()")
        if name in ("add", "add_", "__add__"):
            return self.junction(node, list(node.args[:2]))
        if name in ("contiguous", "clone", "detach"):
            return self.passthrough(node, x)
        if name in ("tanh", "sigmoid_", "tanh_"):
            return self.unsupported_activation(node, name)
        self.refuse(node, f"tensor method .{name}() is not supported")

    def run(self, graph):
        for node in graph.nodes:
            if node.op == "placeholder":
                if self.input is not None:
                    self.refuse(node, "the model takes more than one input")
                self.input = self.add(node, "input", [])
                self.batch = int(node.meta["tensor_meta"].shape[0])
            elif node.op == "get_attr":
                self.refuse(node, "uses a parameter or buffer directly in forward(); wrap it "
                                  "in a module (nn.Conv2d, nn.Linear, ...)")
            elif node.op == "call_module":
                self.call_module(node)
            elif node.op == "call_function":
                self.call_function(node)
            elif node.op == "call_method":
                self.call_method(node)
            elif node.op == "output":
                out = node.args[0]
                if isinstance(out, (tuple, list)):
                    if len(out) != 1:
                        self.refuse(node, "the model returns several tensors; snncore converts "
                                          "models with one output")
                    out = out[0]
                self.output = self.ref(out, node)
        if self.output is None:
            raise ConversionError("the traced model has no output")


def _trace(torch, model):
    """An fx GraphModule of the model: a lifted export (exported.py) as it is,
    a Python module traced with its source lines recorded."""
    if getattr(model, LIFTED, False):
        return model
    tracer = torch.fx.Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(model)
    except Exception as e:  # fx raises many types for untraceable code
        import traceback
        mine = [f for f in traceback.extract_tb(e.__traceback__)
                if not _in_torch(f'File "{f.filename}"') and f.filename != __file__]
        at = f" at {os.path.basename(mine[-1].filename)}:{mine[-1].lineno}" if mine else ""
        raise ConversionError(
            f"torch.fx could not trace the model{at} ({type(e).__name__}: {e}). snncore needs "
            "a forward() without data-dependent control flow") from None
    return torch.fx.GraphModule(tracer.root, graph)


def _fold_batchnorms(nodes, notes):
    """Fold each affine (BatchNorm) into the conv or linear right before it when
    nothing else uses that layer's output."""
    for name in list(nodes):
        node = nodes.get(name)
        if node is None or node.op != "affine":
            continue
        prev = nodes[node.inputs[0]]
        users = [n for n in nodes.values() if prev.name in n.inputs]
        if prev.op not in ("conv2d", "linear") or len(users) != 1:
            continue
        s, t = node.params["scale"], node.params["shift"]
        w = prev.params["weight"]
        prev.params["weight"] = (w * s.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
        b = prev.params["bias"] if prev.params["bias"] is not None else np.zeros_like(s)
        prev.params["bias"] = (b * s + t).astype(np.float32)
        prev.params["folded"] = prev.params.get("folded", []) + [node.origin]
        for other in nodes.values():
            other.inputs = [prev.name if i == name else i for i in other.inputs]
        del nodes[name]
        notes.append(f"{name}: {node.params['kind']} folded into {prev.name}")


def _pooling_matrix(torch, size, out):
    """(oh*ow, H*W) float64: adaptive average pooling from `size` (H, W) to
    `out` (oh, ow) as a matrix, made by torch's own pooling of the unit maps."""
    h, w = size
    basis = torch.eye(h * w, dtype=torch.float64).reshape(h * w, 1, h, w)
    pooled = torch.nn.functional.adaptive_avg_pool2d(basis, out)
    return pooled.reshape(h * w, -1).T.numpy()


def _fold_adaptive_pools(nodes, notes):
    """Fold each adaptive average pooling with unequal windows into the Linear
    that follows it through a flatten (dropout has vanished): both are linear,
    so the Linear's weight composed with the pooling matrix reads the map
    before the pooling. Anything else after it is refused."""
    import torch

    for name in list(nodes):
        pool = nodes[name]
        if pool.op != "adaptive_avgpool2d":
            continue
        src = nodes[pool.inputs[0]]
        out = pool.params["output_size"]
        flat = [n for n in nodes.values() if name in n.inputs]
        linear = [n for n in nodes.values() if flat and flat[0].name in n.inputs]
        if len(flat) != 1 or flat[0].op != "flatten" or len(linear) != 1 \
                or linear[0].op != "linear":
            raise ConversionError(
                f"{pool.origin}: adaptive average pooling from {src.shape[1:]} to {out} has "
                "unequal windows; snncore converts it only when the output size divides the "
                "input size, or when a flatten and a Linear follow it (dropout between is "
                "fine), into which the pooling folds")
        fc = linear[0]
        weight = fc.params["weight"].astype(np.float64)
        c = src.shape[0]
        matrix = _pooling_matrix(torch, src.shape[1:], out)
        folded = weight.reshape(weight.shape[0], c, -1) @ matrix       # (out, C, H*W)
        fc.params["weight"] = folded.reshape(weight.shape[0], -1).astype(np.float32)
        flat[0].inputs = [src.name]
        flat[0].shape = (int(np.prod(src.shape)),)
        del nodes[name]
        notes.append(f"{name}: adaptive average pooling from {src.shape[1:]} to {out} folded "
                     f"into {fc.name} (its weight reads the map before the pooling)")


def capture(model, sample, maxpool="spike"):
    """Trace `model` on `sample` (a torch tensor (N, ...)) into a Graph.

    Raises
    ------
    ConversionError
        A node that cannot be converted, named with its op and source line.
    """
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    if maxpool not in MAXPOOL_MODES:
        raise ValueError(f"maxpool must be one of {', '.join(map(repr, MAXPOOL_MODES))}, "
                         f"got {maxpool!r}")
    gm = _trace(torch, lift(model, sample))
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) > 1:      # before ShapeProp, which would fail on the missing input
        raise ConversionError(f"{_Capture.where(placeholders[1])}: the model takes more than "
                              "one input")
    with torch.no_grad():
        try:
            ShapeProp(gm).propagate(sample)
        except Exception as e:
            raise ConversionError(f"the model failed on a calibration batch of shape "
                                  f"{tuple(sample.shape)}: {type(e).__name__}: {e}") from None
    cap = _Capture(torch, gm, maxpool, strict=True)
    cap.run(gm.graph)
    nodes = cap.nodes
    _fold_batchnorms(nodes, cap.notes)
    _fold_adaptive_pools(nodes, cap.notes)
    output = cap.output
    for n in nodes.values():
        if n.shape is None or len(n.shape) not in (1, 3):
            raise ConversionError(f"{n.origin}: tensor of shape {n.shape} per sample; snncore "
                                  "handles (C, H, W) feature maps and (N,) vectors")
    return Graph(nodes=nodes, input=cap.input, output=output, notes=cap.notes,
                 departures=cap.departures, output_function=cap.output_function)


def survey(model):
    """Trace without running: the departures from the tailoring rules, the
    first refusal if any, and notes on what the conversion leaves out (a final
    output function) or changes (a clipped ReLU's clip becomes a ceiling on its
    threshold), for `check`. Returns (departures, refusal or None, notes)."""
    cap, refusal = _survey_capture(model)
    if cap is None:
        return [], refusal, []
    notes = list(cap.clip_notes) + ([cap.output_note] if cap.output_note else [])
    return cap.departures, refusal, notes


def ir_ops(model):
    """The set of IR ops (module docstring) of the model's graph, from a trace
    without running it: what low_latency_options chooses by ('add' for a
    residual junction, 'cat' for a concatenation, 'maxpool2d', ...).

    Raises
    ------
    ConversionError
        The model cannot be traced (from_torch would refuse it too).
    """
    cap, refusal = _survey_capture(model)
    if cap is None:
        raise ConversionError(refusal)
    return frozenset(n.op for n in cap.nodes.values())


def _survey_capture(model):
    """(_Capture of every node that converts, first refusal or None); the
    capture is None when the model cannot be traced at all."""
    import torch

    try:
        gm = _trace(torch, lift(model))
    except ConversionError as e:     # untraceable or not liftable: nothing to survey
        return None, str(e)
    cap = _Capture(torch, gm, maxpool="spike", strict=False)
    refusal = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for node in gm.graph.nodes:
            try:
                if node.op == "placeholder":
                    if cap.input is not None:
                        cap.refuse(node, "the model takes more than one input")
                    cap.input = cap.add(node, "input", [])
                elif node.op in ("call_module", "call_function", "call_method"):
                    getattr(cap, node.op)(node)
                elif node.op == "get_attr":
                    cap.refuse(node, "uses a parameter or buffer directly in forward()")
                elif node.op == "output" and isinstance(node.args[0], (tuple, list)) \
                        and len(node.args[0]) != 1:
                    cap.refuse(node, "the model returns several tensors; snncore converts "
                                     "models with one output")
            except ConversionError as e:
                refusal = refusal or str(e)
                cap.nodes[node.name] = Node(node.name, "unknown", [], None, {}, "")
            except (KeyError, TypeError, ValueError):
                # shapes are unknown without a sample; layers that need them are fine
                cap.nodes[node.name] = Node(node.name, "unknown", [], None, {}, "")
    return cap, refusal
