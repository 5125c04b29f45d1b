"""Models given as a torch.export program or as TorchScript, lifted to the
torch-level graph that the capture (graph.py) reads.

A torch.export program (``torch.export.export(model, (x,))``, or a file of
``torch.export.save``) holds an fx graph of ATen operators on raw tensors:
``aten.conv2d(x, weight, bias, stride, padding, ...)`` where a Python model has
``nn.Conv2d``. Lifting rewrites that graph with the modules and functions the
capture knows: each convolution, linear layer and batch norm becomes the
``nn`` module holding its parameters (named after them: ``features.0.weight``
gives module ``features.0``), each other operator the ``torch`` function of
the same meaning, and a reshape keeps the batch dimension free (``-1``), since
an export fixes the batch size it was traced with. Everything after lifting
(what converts, what is refused and why) is the capture's, so a model converts
the same way whether it is given as Python or as an export.

TorchScript (``torch.jit.script``, ``torch.jit.trace``, ``torch.jit.load``)
reaches the same graph through PyTorch's TorchScript-to-export converter,
which runs the module on a sample input.

Lifted operators (ATen names, without the overload):

    conv2d, convolution, _convolution (2-D, not transposed)  -> nn.Conv2d
    linear; addmm and mm with a transposed parameter           -> nn.Linear
    batch_norm, _native_batch_norm_legit_no_training           -> nn.BatchNorm1d/2d
    relu, relu6, hardtanh, clamp, clamp_min, clamp_max, leaky_relu,
    max_pool2d(_with_indices), avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d,
    mean, add, cat, upsample_nearest2d, dropout, softmax, log_softmax, sigmoid,
    view, reshape, flatten, squeeze, unsqueeze, slice, select, split, chunk,
    transpose, permute, contiguous, clone, detach, and the activations that the
    capture refuses with its reason (tanh, gelu, silu, hardswish, ...)

Any other operator is kept as it is, for the capture to refuse (an earlier
refusal, if any, is the one reported, as for a Python model).
"""

import contextlib
import logging
import operator
import warnings

from .errors import ConversionError

__all__ = ["lift", "export_torchscript", "require_convertible_model", "LIFTED"]

# attribute set on a lifted GraphModule: the capture uses it as it is, without tracing
LIFTED = "_snncore_lifted"

# ATen operators that pass their input through unchanged (per sample)
_PASS = ("contiguous", "clone", "alias", "detach", "lift_fresh_copy", "lift_fresh")
# ATen operators whose result is only a reshape of their input
_RESHAPES = ("view", "reshape", "_unsafe_view", "flatten", "squeeze", "unsqueeze")
# asserts and guards that an export inserts; they compute nothing the network needs
_CHECKS = ("_assert_async", "_assert_scalar", "_assert_tensor_metadata", "sym_constrain_range",
           "sym_constrain_range_for_size", "_functional_assert_async")


def require_convertible_model(torch, model):
    """Raise TypeError unless `model` is something the converter takes: an
    nn.Module (TorchScript included) or a torch.export program."""
    program = getattr(getattr(torch, "export", None), "ExportedProgram", None)
    if not (isinstance(model, torch.nn.Module) or (program is not None
                                                   and isinstance(model, program))):
        raise TypeError(f"model must be a torch.nn.Module or a torch.export.ExportedProgram, "
                        f"not {type(model).__name__}")


def lift(model, sample=None):
    """The model as an nn.Module the capture reads.

    Parameters
    ----------
    model : torch.nn.Module, torch.jit.ScriptModule or torch.export.ExportedProgram
        A Python module is returned as it is; an export program is lifted;
        TorchScript is exported on `sample`, then lifted.
    sample : torch.Tensor, optional
        A batch (N, ...) float32 the model accepts; TorchScript needs it.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ConversionError
        An operator with no lifting, a program exported in training mode, a
        TorchScript module without `sample` or that PyTorch cannot export.
    """
    import torch

    if getattr(model, LIFTED, False):
        return model
    if isinstance(model, torch.jit.ScriptModule):
        if sample is None:
            raise ConversionError(
                "a TorchScript module is converted through torch.export, which runs it on an "
                "input: pass it to from_torch (which uses the calibration images), or export "
                "it first with snncore.convert.export_torchscript(module, images)")
        model = export_torchscript(model, sample)
    if isinstance(model, torch.export.ExportedProgram):
        return _Lifter(torch, model.module()).run()
    return model


@contextlib.contextmanager
def quiet_torch_export():
    """Silence torch.export's log: its warnings about the dimensions it
    specialises describe its own choices, not a problem with the model, and a
    file that does not load is reported by the caller in one line."""
    loggers = [logging.getLogger(n) for n in ("torch._export", "torch.export",
                                              "torch.fx.experimental.symbolic_shapes")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_torchscript(module, sample):
    """A TorchScript module as a torch.export program, by PyTorch's converter
    (which runs it on `sample`).

    Parameters
    ----------
    module : torch.jit.ScriptModule
        Scripted, traced or loaded with torch.jit.load.
    sample : torch.Tensor or numpy.ndarray
        A batch (N, ...) of inputs the module accepts (float32; uint8 is
        scaled as Network.run scales it by default).

    Returns
    -------
    torch.export.ExportedProgram

    Raises
    ------
    ConversionError
        This PyTorch has no TorchScript converter, or it fails on the module.
    """
    import numpy as np
    import torch

    from .._images import images_tensor

    if not isinstance(module, torch.jit.ScriptModule):
        raise TypeError(f"module must be a torch.jit.ScriptModule, not {type(module).__name__}")
    if isinstance(sample, np.ndarray):
        sample = images_tensor(torch, sample)
    try:
        from torch._export.converter import TS2EPConverter
    except ImportError:
        raise ConversionError(f"PyTorch {torch.__version__} has no TorchScript-to-export "
                              "converter (torch._export.converter); convert the Python model "
                              "instead, or upgrade PyTorch") from None
    was_training = module.training
    module.eval()
    try:
        with quiet_torch_export(), torch.no_grad(), warnings.catch_warnings():
            # it warns of the unused buffers it copies (num_batches_tracked)
            warnings.simplefilter("ignore", UserWarning)
            return TS2EPConverter(module, (sample,)).convert()
    except Exception as e:  # noqa: BLE001  (the converter raises many types)
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ConversionError(f"PyTorch could not export the TorchScript module on an input "
                              f"of shape {tuple(sample.shape)} ({type(e).__name__}: {first}); "
                              "convert the Python model instead") from None
    finally:
        module.train(was_training)


def _size_hint(d):
    """A dimension of an export's shape as an int: its value, or for a
    symbolic (dynamic) size the value it had on the sample the export ran."""
    if isinstance(d, int):
        return d
    hint = getattr(getattr(d, "node", None), "hint", None)
    return int(hint) if hint is not None else None


def aten_name(target):
    """'conv2d' for torch.ops.aten.conv2d.default; None for anything else."""
    schema = getattr(target, "_schema", None)
    if schema is None or not schema.name.startswith("aten::"):
        return None
    return schema.name[len("aten::"):]


class _Lifter:
    """One pass over an export's ATen graph, building the torch-level graph."""

    def __init__(self, torch, gm):
        self.torch = torch
        self.F = torch.nn.functional
        self.gm = gm
        self.graph = torch.fx.Graph()
        self.env = {}            # exported node -> lifted node (or a constant)
        self.tensors = {}        # exported node -> parameter or buffer (get_attr)
        self.transposed = {}     # exported node -> the 2-D parameter it transposes
        self.owners = {}         # exported node -> its parameter's qualified name
        self.singles = set()     # exported nodes lifted to a tensor from a (tensor, ...) tuple
        self.modules = {}        # qualified name -> module, the lifted model's children

    # -- helpers -------------------------------------------------------------

    def refuse(self, node, reason):
        from .graph import _Capture   # one style of message for both graphs
        raise ConversionError(f"{_Capture.where(node)}: {reason}")

    def arguments(self, node):
        """The call's arguments by their schema names, defaults filled in."""
        from torch.fx.operator_schemas import normalize_function

        pair = normalize_function(node.target, node.args, node.kwargs,
                                  normalize_to_only_use_kwargs=True)
        if pair is None:
            self.refuse(node, "arguments that do not match the operator's schema")
        return pair.kwargs

    def value(self, node, arg):
        """A lifted argument: lifted nodes for exported ones, recursively."""
        fx = self.torch.fx
        if isinstance(arg, fx.Node):
            if arg in self.tensors or arg in self.transposed:
                self.refuse(node, f"uses the parameter or buffer {self.owners[arg]!r} directly; "
                                  "snncore converts parameters held by convolutions, linear "
                                  "layers and batch norms")
            return self.env[arg]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.value(node, a) for a in arg)
        return arg

    def parameter(self, node, arg, what):
        """The tensor of a get_attr argument (None stays None)."""
        if arg is None:
            return None
        if arg not in self.tensors:
            self.refuse(node, f"its {what} is computed in forward(), not a parameter; snncore "
                              "converts layers whose weights are parameters")
        return self.tensors[arg]

    def module(self, node, module, base, x):
        """Add `module` as `base` (or base_2, ... when taken), and call it on
        exported node x."""
        name, k = base, 1
        while name in self.modules:
            k += 1
            name = f"{base}_{k}"
        self.modules[name] = module.eval()
        return self.emit(node, "call_module", name, (self.value(node, x),))

    def emit(self, node, op, target, args, kwargs=None):
        # named by fx from the target, as tracing the Python model names it ('relu_1',
        # 'layer1_0_conv1'), not after the export's ATen names ('relu__1')
        name = node.name if op == "placeholder" else None
        new = self.graph.create_node(op, target, tuple(args), kwargs or {}, name=name)
        if node.meta.get("stack_trace"):
            new.meta["stack_trace"] = node.meta["stack_trace"]
        self.env[node] = new
        return new

    def call(self, node, fn, *args, **kwargs):
        return self.emit(node, "call_function", fn, [self.value(node, a) for a in args],
                         {k: self.value(node, v) for k, v in kwargs.items()})

    def sample_shape(self, node):
        """The export's shape of the node's result: a tuple of ints and symbols."""
        val = node.meta.get("val")
        return None if val is None or not hasattr(val, "shape") else tuple(val.shape)

    # -- layers --------------------------------------------------------------

    def layer_name(self, param_node):
        """The name of the layer that holds a parameter: 'features.0' for
        'features.0.weight'."""
        owner = self.owners[param_node]
        return owner.rpartition(".")[0] or owner

    def conv(self, node, a, transposed=False):
        nn = self.torch.nn
        weight = self.parameter(node, a["weight"], "weight")
        bias = self.parameter(node, a["bias"], "bias")
        if transposed:
            self.refuse(node, "transposed convolution is not supported")
        if weight.dim() != 4:
            self.refuse(node, f"a {weight.dim() - 2}-D convolution; snncore converts 2-D "
                              "convolutions")
        groups = int(a["groups"])
        conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                         stride=tuple(a["stride"]), padding=a["padding"] if isinstance(
                             a["padding"], str) else tuple(a["padding"]),
                         dilation=tuple(a["dilation"]), groups=groups, bias=bias is not None)
        self.load(conv, weight, bias)
        return self.module(node, conv, self.layer_name(a["weight"]), a["input"])

    def linear(self, node, a):
        weight = self.parameter(node, a["weight"], "weight")
        bias = self.parameter(node, a["bias"], "bias")
        lin = self.torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        self.load(lin, weight, bias)
        return self.module(node, lin, self.layer_name(a["weight"]), a["input"])

    def load(self, module, weight, bias):
        torch = self.torch
        with torch.no_grad():
            module.weight.copy_(weight)
            if bias is not None:
                module.bias.copy_(bias)

    def matmul(self, node, a, bias_key):
        """addmm(bias, x, weight.t()) or mm(x, weight.t()): a linear layer."""
        second = a["mat2"]
        if second not in self.transposed:
            self.refuse(node, "a matrix product whose second factor is not a transposed "
                              "parameter; snncore converts linear layers")
        bias = self.parameter(node, a[bias_key], "bias") if bias_key else None
        if bias is not None and bias.dim() != 1:
            self.refuse(node, "a matrix product plus a bias that is not a vector")
        weight = self.transposed[second]
        lin = self.torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        self.load(lin, weight, bias)
        return self.module(node, lin, self.layer_name(second), a["mat1"])

    def batchnorm(self, node, a):
        nn = self.torch.nn
        mean = self.parameter(node, a["running_mean"], "running mean")
        var = self.parameter(node, a["running_var"], "running variance")
        if mean is None or var is None:
            self.refuse(node, "batch norm without running statistics cannot be folded")
        weight = self.parameter(node, a["weight"], "weight")
        bias = self.parameter(node, a["bias"], "bias")
        shape = self.sample_shape(node.args[0])
        kind = nn.BatchNorm2d if shape is not None and len(shape) == 4 else nn.BatchNorm1d
        bn = kind(mean.numel(), eps=float(a["eps"]), affine=weight is not None)
        torch = self.torch
        with torch.no_grad():
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            if weight is not None:
                bn.weight.copy_(weight)
                bn.bias.copy_(bias if bias is not None else torch.zeros_like(weight))
        return self.module(node, bn, self.layer_name(a["running_mean"]), a["input"])

    def reshape(self, node, x):
        """Any reshape, to the export's result shape with the batch left free:
        the capture decides from the shapes what it is (a flatten, a channel
        shuffle's step, nothing)."""
        shape = self.sample_shape(node)
        sizes = None if shape is None else [_size_hint(d) for d in shape[1:]]
        if sizes is None or None in sizes:
            self.refuse(node, "a reshape whose result shape the export does not record")
        batch = self.sample_shape(self.placeholder)[0]
        if isinstance(batch, int) and isinstance(shape[0], int) and shape[0] != batch:
            self.refuse(node, f"reshapes the batch dimension (to {shape}); snncore converts "
                              "reshapes of each sample's tensor")
        return self.emit(node, "call_method", "reshape", (self.env[x], -1, *sizes))

    def slice(self, node, x, a):
        """aten.slice of x on `dim`: x[:, ..., start:end:step], which the
        capture reads as a channel selection (or nothing, over the whole dim)."""
        index = (slice(None),) * int(a["dim"]) + (slice(a["start"], a["end"], a["step"]),)
        return self.call(node, operator.getitem, x, index)

    # -- dispatch ------------------------------------------------------------

    def leaf_layers(self, a):
        """ATen name -> (module classes it runs inside, the module, the torch
        function call (fn, args)) for the parameterless layers: lifted to the
        module when the export records that it ran in one of that class, so
        that the network's names follow the model's, else to the function."""
        torch, F, nn = self.torch, self.F, self.torch.nn
        x = a.get("input", a.get("self"))
        pool = (a.get("kernel_size"), a.get("stride") or None, a.get("padding"))
        size = a.get("output_size")
        return {
            "relu": (("ReLU",), nn.ReLU, (F.relu, x)),
            "relu6": (("ReLU6",), nn.ReLU6, (F.relu6, x)),
            "hardtanh": (("Hardtanh", "ReLU6"), lambda: nn.Hardtanh(a["min_val"], a["max_val"]),
                         (F.hardtanh, x, a.get("min_val"), a.get("max_val"))),
            "leaky_relu": (("LeakyReLU",), lambda: nn.LeakyReLU(a["negative_slope"]),
                           (F.leaky_relu, x, a.get("negative_slope"))),
            "sigmoid": (("Sigmoid",), nn.Sigmoid, (torch.sigmoid, x)),
            "max_pool2d": (("MaxPool2d",), lambda: nn.MaxPool2d(
                *pool, a["dilation"], ceil_mode=a["ceil_mode"]),
                (F.max_pool2d, x, *pool, a.get("dilation"), a.get("ceil_mode"))),
            "avg_pool2d": (("AvgPool2d",), lambda: nn.AvgPool2d(
                *pool, a["ceil_mode"], a["count_include_pad"], a["divisor_override"]),
                (F.avg_pool2d, x, *pool, a.get("ceil_mode"), a.get("count_include_pad"),
                 a.get("divisor_override"))),
            "adaptive_avg_pool2d": (("AdaptiveAvgPool2d",), lambda: nn.AdaptiveAvgPool2d(size),
                                    (F.adaptive_avg_pool2d, x, size)),
            "adaptive_max_pool2d": (("AdaptiveMaxPool2d",), lambda: nn.AdaptiveMaxPool2d(size),
                                    (F.adaptive_max_pool2d, x, size)),
            "softmax": (("Softmax",), lambda: nn.Softmax(a["dim"]), (F.softmax, x, a.get("dim"))),
            "log_softmax": (("LogSoftmax",), lambda: nn.LogSoftmax(a["dim"]),
                            (F.log_softmax, x, a.get("dim"))),
            "dropout": (("Dropout", "Dropout1d", "Dropout2d"), lambda: nn.Dropout(a["p"]),
                        (F.dropout, x, a.get("p"), False)),
        }

    # ATen names that differ from their layer's only by a leading _ or a suffix
    _LEAF_ALIASES = {"_softmax": "softmax", "_log_softmax": "log_softmax",
                     "_adaptive_avg_pool2d": "adaptive_avg_pool2d",
                     "max_pool2d_with_indices": "max_pool2d", "feature_dropout": "dropout"}
    # ...of which these return a tuple whose first item is the layer's output
    _TUPLES = ("max_pool2d_with_indices", "adaptive_max_pool2d")

    def leaf(self, node, layer):
        """One entry of leaf_layers as its module or as its function."""
        classes, make, (fn, *args) = layer
        path = self.module_path(node, classes)
        x = args[0]
        if path is None:
            return self.call(node, fn, *args)
        return self.module(node, make(), path, x)

    @staticmethod
    def module_path(node, classes):
        """The model's name of the module whose forward ran `node` when it is
        of one of `classes` (class names), from the export's module stack."""
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return None
        path, kind = list(stack.values())[-1]
        kind = kind if isinstance(kind, str) else getattr(kind, "__name__", "")
        return path if path and kind.rsplit(".", 1)[-1] in classes else None

    def aten(self, node, name):
        """Lift one ATen call, or refuse it."""
        torch, F = self.torch, self.F
        a = self.arguments(node)
        x = a.get("input", a.get("self"))
        curves = {"tanh": torch.tanh, "silu": F.silu, "hardswish": F.hardswish,
                  "mish": F.mish, "hardsigmoid": F.hardsigmoid, "selu": F.selu,
                  "log_sigmoid": F.logsigmoid, "gelu": F.gelu, "elu": F.elu,
                  "softplus": F.softplus, "celu": F.celu}
        if name in curves:        # refused by the capture, with its reason
            return self.call(node, curves[name], x)
        if name in self._TUPLES:
            self.singles.add(node)
        layer = self.leaf_layers(a).get(self._LEAF_ALIASES.get(name, name))
        if layer is not None:
            return self.leaf(node, layer)
        if name in _PASS:
            self.env[node] = self.env[x]
            return None
        if name in _RESHAPES:
            return self.reshape(node, x)
        if name.startswith("conv_transpose"):
            self.refuse(node, "transposed convolution is not supported")
        if name in ("conv2d", "convolution", "_convolution"):
            return self.conv(node, a, bool(a.get("transposed", False)))
        if name == "linear":
            return self.linear(node, a)
        if name in ("addmm", "mm"):
            return self.matmul(node, a, "self" if name == "addmm" else None)
        if name in ("t", "transpose", "permute", "numpy_T") and x in self.tensors \
                and self.tensors[x].dim() == 2:
            self.transposed[node] = self.tensors[x].t()
            self.owners[node] = self.owners[x]
            return None
        if name == "_native_batch_norm_legit_no_training":
            self.singles.add(node)
        if name in ("batch_norm", "_native_batch_norm_legit_no_training"):
            return self.batchnorm(node, a)     # in eval mode (refuse_training_mode)
        if name in ("clamp", "clamp_min", "clamp_max"):
            return self.call(node, torch.clamp, x, a.get("min"), a.get("max"))
        if name == "mean":
            return self.call(node, torch.mean, x, a.get("dim"), a.get("keepdim", False))
        if name == "add":
            if a.get("alpha", 1) != 1:
                return self.call(node, torch.add, x, a["other"], alpha=a["alpha"])
            return self.call(node, operator.add, x, a["other"])
        if name == "cat":
            return self.call(node, torch.cat, a["tensors"], a["dim"])
        if name == "slice":
            return self.slice(node, x, a)
        if name == "select":
            index = (slice(None),) * int(a["dim"]) + (int(a["index"]),)
            return self.call(node, operator.getitem, x, index)
        if name in ("split", "split_with_sizes"):
            return self.call(node, torch.split, x, a.get("split_size", a.get("split_sizes")),
                             a["dim"])
        if name == "chunk":
            return self.call(node, torch.chunk, x, a["chunks"], a["dim"])
        if name == "transpose":
            return self.call(node, torch.transpose, x, a["dim0"], a["dim1"])
        if name == "permute":
            return self.call(node, torch.permute, x, a["dims"])
        if name.startswith("upsample_"):
            return self.upsample(node, name, a)
        if name == "sym_size":
            return self.emit(node, "call_method", "size", (self.env[x], a["dim"]))
        # kept as it is: the capture refuses it, unless it refuses an earlier node first
        return self.call(node, node.target, *node.args, **node.kwargs)

    def upsample(self, node, name, a):
        """upsample_nearest2d and the other modes (refused by the capture but
        for 'nearest'), by output size or by scale factors."""
        nn = self.torch.nn
        mode = name[len("upsample_"):].rstrip("0123456789d")
        factors = a.get("scale_factors")
        if factors is None and (a.get("scales_h") or 0) > 0:     # -1 or None: not given
            factors = [a["scales_h"], a["scales_w"]]
        size = None if factors else a.get("output_size")
        factors = tuple(factors) if factors else None
        path = self.module_path(node, ("Upsample", "UpsamplingNearest2d"))
        if path is not None:
            return self.module(node, nn.Upsample(size, factors, mode), path, a["input"])
        return self.call(node, self.F.interpolate, a["input"], size=size, scale_factor=factors,
                         mode=mode)

    def refuse_training_mode(self):
        """A batch norm that normalises by the batch's own statistics: the
        model was exported in training mode (its running statistics updates
        come first in the graph, so look for it before anything else)."""
        for node in self.gm.graph.nodes:
            name = aten_name(node.target) if node.op == "call_function" else None
            if name in ("batch_norm", "native_batch_norm", "_native_batch_norm_legit",
                        "_native_batch_norm_legit_functional") and (
                    name != "batch_norm" or self.arguments(node)["training"]):
                self.refuse(node, "batch norm in training mode: the program was exported "
                                  "from a model in training mode; call model.eval() before "
                                  "torch.export.export")

    def run(self):
        fx = self.torch.fx
        self.refuse_training_mode()
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
        self.placeholder = placeholders[0] if placeholders else None
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self.emit(node, "placeholder", node.target, ())
            elif node.op == "get_attr":
                self.tensors[node] = operator.attrgetter(node.target)(self.gm)
                self.owners[node] = node.target
            elif node.op == "call_module":
                continue      # the export's own guards (_guards_fn)
            elif node.op == "call_function":
                self.call_function(node)
            elif node.op == "output":
                # an export's graph returns a tuple; one tensor, as the model did
                out = node.args[0]
                single = isinstance(out, (tuple, list)) and len(out) == 1
                self.graph.output(self.value(node, out[0] if single else out))
        root = self.torch.nn.Module()
        for name, m in self.modules.items():
            parent = root
            *path, last = name.split(".")
            for part in path:
                if not hasattr(parent, part):
                    parent.add_module(part, self.torch.nn.Module())
                parent = getattr(parent, part)
            parent.add_module(last, m)
        lifted = fx.GraphModule(root, self.graph)
        lifted.graph.eliminate_dead_code()      # the sizes that fed the export's reshapes
        lifted.recompile()
        setattr(lifted, LIFTED, True)
        return lifted.eval()

    def call_function(self, node):
        target = node.target
        if target is operator.getitem:
            source, index = node.args
            if source in self.singles:
                if index != 0:
                    self.refuse(node, "uses the indices or statistics of a max pooling or "
                                      "batch norm, which snncore does not compute")
                self.env[node] = self.env[source]
                return
            self.call(node, operator.getitem, source, index)
            return
        if target in (operator.add, operator.sub, operator.mul, operator.floordiv):
            self.call(node, target, *node.args)       # arithmetic on sizes
            return
        name = aten_name(target)
        if name is None:
            self.refuse(node, f"operator {getattr(target, '__name__', target)!r} is not an "
                              "ATen operator snncore lifts")
        base = name.split(".")[0]
        if base.endswith("_") and not base.endswith("__"):
            base = base[:-1]           # in place (relu_, add_): the same for the converter
        if base not in _CHECKS:
            self.aten(node, base)
