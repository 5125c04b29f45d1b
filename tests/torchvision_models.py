"""torchvision's own classifier definitions, for the converter's real-world tests.

    classifier(name, num_classes=10, **kwargs)  the model, random weights (weights=None)
    available()                                 (True, "") or (False, why not)
    settled(name, size, images)                 the model in eval(), BatchNorm statistics
                                                settled on random images (at least
                                                MIN_SIZE[name] wide), and those images
    tracking(model, x, net, steps)              how closely the SNN follows the ANN on fresh
                                                random images: (argmax agreement, correlation)
    refused_layer(message)                      (layer, why) of a ConversionError's message

tests/test_torchvision_models.py asserts the verdicts and the tracking at 32x32;
bench/torchvision_tracking.py tabulates the same at any input size (64x64 there).

What fails, and why
-------------------
The torchvision wheel (0.28.0 from PyPI) is a CUDA build: its compiled operators,
torchvision/_C.so, link libc10_cuda.so and libtorch_cuda.so, which a CPU-only torch
does not have. torchvision/extension.py expects that: it catches the OSError of
torch.ops.load_library("_C.so") and sets extension._has_ops() to False, so the
operators torchvision::nms, roi_align, deform_conv2d, ... are simply never defined.

What breaks `import torchvision` is the next import of its __init__.py,
torchvision/_meta_registrations.py. Its fake (meta) kernels go through its helper
register_meta, which registers only `if torchvision.extension._has_ops()`; but two of
them, for nms and qnms, use the decorator @torch.library.register_fake("torchvision::nms")
directly, without that guard, and torch raises
    RuntimeError: operator torchvision::nms does not exist
half-way through the package's import.

The workaround
--------------
`_import()` imports torchvision with torch.library.register_fake replaced, for the
duration of that import only (restored in a finally), by a function that applies
torchvision's own guard: a "torchvision::..." registration while extension._has_ops()
is False is skipped (the decorated function is returned unregistered); every other
call goes to the real register_fake. Nothing else is patched, nothing is defined in
torch's dispatcher, and the package is the real, whole torchvision.

It is safe for these tests because none of the classifiers below ever calls a
compiled torchvision operator; they are built of torch.nn modules and torch
functions only. The nearest they come:
  - googlenet's transform_input (False unless pretrained weights are asked for) is
    plain torch arithmetic;
  - efficientnet_b0's StochasticDepth (torchvision/ops/stochastic_depth.py) is plain
    torch (a Bernoulli mask, the identity in eval()), but its function is
    torch.fx.wrap'ed: torch.fx records it as one call_function node
    `stochastic_depth` instead of tracing into it;
  - mobilenet_v3 and efficientnet use torchvision.ops.misc (Conv2dNormActivation,
    SqueezeExcitation): torch.nn modules.
What would fail is torchvision.ops.nms, roi_align and the other compiled
operators (detection models), torchvision.io's image decoding (image.so, also
CUDA-linked) and the weight download (no network); none is used here.

torchvision also needs Pillow (torchvision.transforms imports PIL, and every model
file imports torchvision.transforms._presets for its weights' metadata).
torchvision must be installed with `pip install --no-deps torchvision==0.28.0`, so
that pip keeps the CPU-only torch instead of pulling the CUDA one it asks for.
"""

import importlib
import importlib.util
import re
import sys

__all__ = ["CLASSIFIERS", "MIN_SIZE", "available", "classifier", "settled", "tracking", "refused_layer"]

# Input sizes below which a classifier cannot run: alexnet's first layers need
# 63x63 at least.
MIN_SIZE = {"alexnet": 64}

# The classifiers of the torchvision coverage list.
CLASSIFIERS = (
    "alexnet",
    "vgg11_bn",
    "resnet18",
    "resnet50",
    "squeezenet1_1",
    "shufflenet_v2_x0_5",
    "densenet121",
    "googlenet",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "regnet_x_400mf",
    "mnasnet0_5",
    "efficientnet_b0",
)

_state = {}  # "module": torchvision.models, or "reason": why it is not available


def _has_ops():
    """torchvision.extension._has_ops(): whether torchvision's compiled operators
    loaded. torchvision/__init__.py imports extension before _meta_registrations,
    so it is there when the guard is asked."""
    extension = sys.modules.get("torchvision.extension")
    return extension is not None and extension._has_ops()


def _guarded(register_fake):
    """register_fake, with torchvision's own guard (`if extension._has_ops()`) on
    registrations for "torchvision::..." operators."""
    def register_fake_if_defined(op, func=None, /, *args, **kwargs):
        if isinstance(op, str) and op.startswith("torchvision::") and not _has_ops():
            return func if func is not None else (lambda fn: fn)
        return register_fake(op, func, *args, **kwargs)
    return register_fake_if_defined


def _import():
    """torchvision.models, torchvision imported under the guard."""
    import torch.library
    if importlib.util.find_spec("torchvision") is None:
        raise ImportError("torchvision is not installed "
                          "(pip install --no-deps torchvision==0.28.0)")
    if importlib.util.find_spec("PIL") is None:
        raise ImportError("Pillow is not installed (torchvision.transforms imports PIL; "
                          "pip install pillow)")
    register_fake = torch.library.register_fake
    torch.library.register_fake = _guarded(register_fake)
    try:
        import torchvision.models
    finally:
        torch.library.register_fake = register_fake
    return torchvision.models


def _models():
    if "module" not in _state and "reason" not in _state:
        try:
            _state["module"] = _import()
        except Exception as e:  # anything: the tests skip with the reason
            _state["reason"] = f"torchvision cannot be imported: {type(e).__name__}: {e}"
    return _state.get("module")


def available():
    """(True, "") when torchvision's models can be built here, else (False, reason)."""
    try:
        import torch  # noqa: F401
    except ImportError as e:
        return False, f"torch is not installed: {e}"
    if _models() is None:
        return False, _state["reason"]
    return True, ""


def classifier(name, num_classes=10, **kwargs):
    """torchvision.models.<name>(weights=None, num_classes=num_classes, **kwargs):
    torchvision's own definition, random weights, in train mode as built."""
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {name!r}; one of {', '.join(CLASSIFIERS)}")
    ok, reason = available()
    if not ok:
        raise RuntimeError(reason)
    if name == "googlenet":
        # googlenet's auxiliary classifiers are only for training; without weights
        # it would build them (and warn about its initialisation): ask explicitly.
        kwargs.setdefault("aux_logits", False)
        kwargs.setdefault("init_weights", True)
    return getattr(_state["module"], name)(weights=None, num_classes=num_classes, **kwargs)


def settled(name, size=32, images=8, seed=0):
    """(model, x): classifier `name` with 10 classes and random weights (torch seed
    `seed`), its BatchNorm statistics settled on `images` random images
    x (float32 tensor (images, 3, S, S), S = max(size, MIN_SIZE[name]), uniform in
    [0, 1)) by two passes in train(), then put in eval(). x also serves as
    calibration data."""
    import torch

    size = max(size, MIN_SIZE.get(name, 0))
    torch.manual_seed(seed)
    model = classifier(name, num_classes=10)
    x = torch.rand(images, 3, size, size)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(x)
    return model.eval(), x


def tracking(model, x, net, steps, threads=2, seed=1):
    """(agreement, correlation) of the SNN `net` run for `steps` timesteps and its
    ANN `model` on fresh random images shaped as x (torch seed `seed`): the share
    of images whose argmax agrees, and the correlation of all their logits. With
    random weights the logits are close together, so the argmax is demanding."""
    import numpy as np
    import torch

    torch.manual_seed(seed)
    fresh = torch.rand_like(x)
    with torch.no_grad():
        ann = model(fresh).numpy()
    snn = net.run(fresh.numpy(), steps, threads=threads).output
    agree = float(np.mean(snn.argmax(1) == ann.argmax(1)))
    corr = float(np.corrcoef(snn.ravel(), ann.ravel())[0, 1])
    return agree, corr


# from_torch's refusals: "node 'NAME' (call_module|function|method ...) at FILE:LINE: why"
_REFUSAL = re.compile(r"node '([^']+)' \(call_(?:module|function|method) [^)]+\) at \S+:\d+: "
                      r"(.*)", re.S)


def refused_layer(message):
    """(layer, why) of a ConversionError's message, or None when it names no layer."""
    m = _REFUSAL.match(message)
    return (m.group(1), m.group(2)) if m else None
