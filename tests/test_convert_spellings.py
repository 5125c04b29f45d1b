"""Global pooling, flattening and output functions in every common spelling
(issue "Real-world architectures convert", items 6 and 7).

One small CNN with random weights and BatchNorm statistics settled on random
data; its head is written in each spelling that PyTorch code uses for global
average pooling (x.mean((2, 3)), AdaptiveAvgPool2d(1), ...), for the flatten
(x.view(x.size(0), -1), x.squeeze(), ...) and for a final output function
(softmax, log_softmax, sigmoid). Each spelling must give the same network as
the canonical nn.AdaptiveAvgPool2d(1) + nn.Flatten() version (the same
populations and projections, and the same outputs), whose SNN tracks the ANN.
What is not a flatten, not a global mean or not at the end is refused, naming
the layer.
"""

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snncore.convert import ConversionError, check, from_torch  # noqa: E402

nn = torch.nn
F = torch.nn.functional

T = 256
GEN = torch.Generator().manual_seed(1)
CALIB = torch.rand(256, 3, 8, 8, generator=GEN)
TEST = torch.rand(200, 3, 8, 8, generator=GEN)


# -- the model ------------------------------------------------------------------------------

# head(self, h): (N, 16, 4, 4) feature map -> (N, 16) vector for the classifier
POOLS = {
    "nn.AdaptiveAvgPool2d(1) + nn.Flatten()": lambda s, h: s.flat(s.gap(h)),
    "nn.AdaptiveAvgPool2d((1, 1))": lambda s, h: s.flat(s.gap11(h)),
    "nn.AvgPool2d(4)": lambda s, h: s.flat(s.avg4(h)),
    "x.mean((2, 3))": lambda s, h: h.mean((2, 3)),
    "x.mean(dim=[-1, -2])": lambda s, h: h.mean(dim=[-1, -2]),
    "torch.mean(x, (2, 3))": lambda s, h: torch.mean(h, (2, 3)),
    "torch.mean(x, dim=(-2, -1))": lambda s, h: torch.mean(h, dim=(-2, -1)),
    "x.mean([2, 3], keepdim=True).flatten(1)": lambda s, h: h.mean([2, 3], keepdim=True)
    .flatten(1),
    "x.mean((2, 3), True).view(x.size(0), -1)": lambda s, h: h.mean((2, 3), True)
    .view(h.size(0), -1),
    "F.adaptive_avg_pool2d(x, 1)": lambda s, h: F.adaptive_avg_pool2d(h, 1).flatten(1),
    "F.adaptive_avg_pool2d(x, (1, 1))": lambda s, h: F.adaptive_avg_pool2d(h, (1, 1))
    .flatten(1),
    "F.avg_pool2d(x, 4)": lambda s, h: F.avg_pool2d(h, 4).flatten(1),
}

FLATTENS = {
    "torch.flatten(x, 1)": lambda s, h: torch.flatten(s.gap(h), 1),
    "x.flatten(1)": lambda s, h: s.gap(h).flatten(1),
    "x.view(x.size(0), -1)": lambda s, h: s.gap(h).view(h.size(0), -1),
    "x.view(-1, 16)": lambda s, h: s.gap(h).view(-1, 16),
    "x.reshape(x.shape[0], -1)": lambda s, h: s.gap(h).reshape(h.shape[0], -1),
    "x.reshape(x.size()[0], 16)": lambda s, h: s.gap(h).reshape(h.size()[0], 16),
    "torch.reshape(x, (-1, 16))": lambda s, h: torch.reshape(s.gap(h), (-1, 16)),
    "x.squeeze()": lambda s, h: s.gap(h).squeeze(),
    "x.squeeze(-1).squeeze(-1)": lambda s, h: s.gap(h).squeeze(-1).squeeze(-1),
    "x.squeeze(3).squeeze(2)": lambda s, h: s.gap(h).squeeze(3).squeeze(2),
    "torch.squeeze(x)": lambda s, h: torch.squeeze(s.gap(h)),
    "x.contiguous().view(x.size(0), -1)": lambda s, h: s.gap(h).contiguous()
    .view(h.size(0), -1),
}

# out(self, y): a function of the logits y (N, 10) as the last operation
OUTPUTS = {
    "F.softmax(y, dim=1)": ("softmax", lambda s, y: F.softmax(y, dim=1)),
    "torch.softmax(y, 1)": ("softmax", lambda s, y: torch.softmax(y, 1)),
    "y.softmax(-1)": ("softmax", lambda s, y: y.softmax(-1)),
    "y.softmax(dim=1)": ("softmax", lambda s, y: y.softmax(dim=1)),
    "nn.Softmax(dim=1)": ("softmax", lambda s, y: s.softmax(y)),
    "F.log_softmax(y, dim=1)": ("log_softmax", lambda s, y: F.log_softmax(y, dim=1)),
    "torch.log_softmax(y, -1)": ("log_softmax", lambda s, y: torch.log_softmax(y, -1)),
    "y.log_softmax(1)": ("log_softmax", lambda s, y: y.log_softmax(1)),
    "nn.LogSoftmax(dim=-1)": ("log_softmax", lambda s, y: s.log_softmax(y)),
    "torch.sigmoid(y)": ("sigmoid", lambda s, y: torch.sigmoid(y)),
    "F.sigmoid(y)": ("sigmoid", lambda s, y: F.sigmoid(y)),
    "y.sigmoid()": ("sigmoid", lambda s, y: y.sigmoid()),
    "nn.Sigmoid()": ("sigmoid", lambda s, y: s.sigmoid(y)),
}

CANONICAL = "nn.AdaptiveAvgPool2d(1) + nn.Flatten()"


class Net(nn.Module):
    """conv-BN-ReLU, conv-BN-ReLU (stride 2), head(self, h), Linear, out(self, y)."""

    def __init__(self, head, out=None, fc_in=16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8, momentum=None)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16, momentum=None)
        self.fc = nn.Linear(fc_in, 10)
        # parameter-free modules the spellings use
        self.gap, self.gap11 = nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d((1, 1))
        self.avg4, self.flat = nn.AvgPool2d(4), nn.Flatten()
        self.softmax, self.log_softmax = nn.Softmax(dim=1), nn.LogSoftmax(dim=-1)
        self.sigmoid = nn.Sigmoid()
        self.head, self.out = head, out

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        y = self.fc(self.head(self, h))
        return y if self.out is None else self.out(self, y)


@functools.lru_cache(maxsize=None)
def _weights(fc_in=16):
    """Random weights, BatchNorm statistics settled on random images (the
    cumulative average of 8 batches)."""
    torch.manual_seed(0)
    model = Net(POOLS[CANONICAL] if fc_in == 16 else _avg2, fc_in=fc_in)
    model.train()
    with torch.no_grad():
        for _ in range(8):
            model(torch.rand(64, 3, 8, 8, generator=GEN))
    return model.state_dict()


def _avg2(s, h):
    return F.avg_pool2d(h, 2).flatten(1)


def build(head, out=None, fc_in=16):
    model = Net(head, out, fc_in)
    if fc_in in (16, 64):
        model.load_state_dict(_weights(fc_in))
    return model.eval()


def structure(net):
    """The network without its names: populations and projections."""
    spec = net._spec
    pops = [(p["kind"], tuple(p["shape"])) for p in spec["populations"]]
    projs = [(q["op"], tuple(q.get("kernel") or ()), tuple(q.get("stride") or ()))
             for q in spec["projections"]]
    return pops, projs


@functools.lru_cache(maxsize=None)
def converted(kind, key):
    table = {"pool": POOLS, "flatten": FLATTENS}
    if kind == "output":
        model = build(POOLS[CANONICAL], OUTPUTS[key][1])
    else:
        model = build(table[kind][key])
    net = from_torch(model, CALIB, v_init=0.5)
    with torch.no_grad():
        ann = model(TEST).numpy()
    return net, ann, net.run(TEST.numpy(), T).output


# -- pooling and flattening -----------------------------------------------------------------

def test_canonical_snn_tracks_the_ann():
    net, ann, out = converted("pool", CANONICAL)
    agree = (out.argmax(1) == ann.argmax(1)).mean()
    assert agree >= 0.9, agree
    assert np.corrcoef(out.ravel(), ann.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("kind,key", [("pool", k) for k in POOLS if k != CANONICAL]
                         + [("flatten", k) for k in FLATTENS])
def test_spelling_gives_the_canonical_network(kind, key):
    net, ann, out = converted(kind, key)
    ref_net, ref_ann, ref_out = converted("pool", CANONICAL)
    np.testing.assert_allclose(ann, ref_ann, rtol=1e-5, atol=1e-6)   # the same ANN
    assert structure(net) == structure(ref_net)
    pool = [q for q in net._spec["projections"] if q["op"] == "avgpool2d"]
    assert len(pool) == 1 and tuple(pool[0]["kernel"]) == (4, 4)
    np.testing.assert_array_equal(out, ref_out)
    assert (out.argmax(1) == ann.argmax(1)).mean() >= 0.9


@pytest.mark.parametrize("head", [
    lambda s, h: F.adaptive_avg_pool2d(h, 2).flatten(1),
    lambda s, h: nn.functional.adaptive_avg_pool2d(h, (2, 2)).view(h.size(0), -1),
    _avg2])
def test_adaptive_pooling_to_a_divisor_is_plain_average_pooling(head):
    model = build(head, fc_in=64)
    net = from_torch(model, CALIB, v_init=0.5)
    pool = [q for q in net._spec["projections"] if q["op"] == "avgpool2d"]
    assert len(pool) == 1
    assert tuple(pool[0]["kernel"]) == (2, 2) and tuple(pool[0]["stride"]) == (2, 2)
    with torch.no_grad():
        ann = model(TEST).numpy()
    out = net.run(TEST.numpy(), T).output
    assert (out.argmax(1) == ann.argmax(1)).mean() >= 0.9


# -- output functions -----------------------------------------------------------------------

@pytest.mark.parametrize("key", list(OUTPUTS))
def test_final_output_function_is_left_out_and_recorded(key):
    fn = OUTPUTS[key][0]
    net, probs, out = converted("output", key)
    ref_net, logits, ref_out = converted("pool", CANONICAL)
    # the read-out is the logits: the same network and outputs as without it
    assert structure(net) == structure(ref_net)
    np.testing.assert_array_equal(out, ref_out)
    assert (out.argmax(1) == probs.argmax(1)).mean() >= 0.9
    np.testing.assert_array_equal(probs.argmax(1), logits.argmax(1))
    assert net.provenance["output_function"] == fn
    assert any(f"final {fn} dropped" in n for n in net.provenance["notes"])
    assert "output_function" not in ref_net.provenance
    text = net.summary()
    assert "outputs are pre-activation (logits)" in text and f"final {fn}" in text
    assert "pre-activation" not in ref_net.summary()


def test_output_function_survives_save_and_load(tmp_path):
    import snncore
    net = converted("output", "nn.Sigmoid()")[0]
    net.save(tmp_path / "net.npz")
    again = snncore.load(tmp_path / "net.npz")
    assert again.provenance["output_function"] == "sigmoid"
    assert "outputs are pre-activation (logits)" in again.summary()


@pytest.mark.parametrize("key", ["nn.Softmax(dim=1)", "torch.log_softmax(y, -1)", "y.sigmoid()"])
def test_check_notes_the_dropped_output_function(key):
    fn = OUTPUTS[key][0]
    report = check(build(POOLS[CANONICAL], OUTPUTS[key][1]))
    assert report.convertible
    assert len(report.notes) == 1 and f"final {fn}" in report.notes[0]
    assert "left out of the read-out" in report.notes[0]
    assert f"note: the final {fn}" in str(report)
    assert check(build(POOLS[CANONICAL])).notes == []


# -- refusals -------------------------------------------------------------------------------

def refused(model, *fragments, node, check_knows=True):
    """from_torch refuses `model` naming `node`, and so does check(model)
    unless the refusal needs the shapes (check traces without data)."""
    with pytest.raises(ConversionError) as info:
        from_torch(model, CALIB[:16])
    msg = str(info.value)
    for text in fragments:
        assert text in msg, (text, msg)
    assert f"node {node!r} (" in msg, (node, msg)
    if check_knows:
        report = check(model)
        assert not report.convertible
        assert f"node {node!r} (" in report.refusal, report.refusal
    return msg


class SqueezeExcite(nn.Module):
    """A squeeze-and-excitation gate: a sigmoid that is not the output."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.squeeze_fc = nn.Linear(8, 8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        h = F.relu(self.conv(x))
        gate = torch.sigmoid(self.squeeze_fc(h.mean((2, 3))))
        h = h * gate.view(gate.size(0), -1, 1, 1)
        return self.fc(h.mean((2, 3)))


def test_squeeze_excitation_gate_is_refused():
    msg = refused(SqueezeExcite(), "sigmoid has no spiking equivalent", "ReLU",
                  "only as the last operation", "retrain with ReLU", node="sigmoid")
    assert "test_convert_spellings.py:" in msg


@pytest.mark.parametrize("act,name", [(nn.SiLU, "SiLU"), (nn.Hardswish, "Hardswish"),
                                      (nn.GELU, "GELU"), (nn.Hardsigmoid, "Hardsigmoid"),
                                      (nn.Mish, "Mish")])
def test_gating_activation_modules_are_refused(act, name):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), act(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 10))
    refused(model, f"{name} has no spiking equivalent", "ReLU", node="_1")


@pytest.mark.parametrize("fn", [F.silu, F.hardswish, F.gelu])
def test_gating_activation_functions_are_refused(fn):
    model = build(lambda s, h: fn(h).mean((2, 3)))
    refused(model, f"{fn.__name__} has no spiking equivalent", node=fn.__name__)


@pytest.mark.parametrize("act", [nn.SiLU, nn.GELU, nn.Tanh])
def test_non_monotone_or_other_final_functions_are_refused(act):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(256, 10), act())
    refused(model, f"{act.__name__} has no spiking equivalent", node="_4")


def test_sigmoid_before_the_end_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Sigmoid(), nn.Flatten(),
                          nn.Linear(256, 10))
    refused(model, "Sigmoid has no spiking equivalent", "only as the last operation",
            node="_1")


def test_softmax_over_the_batch_is_refused():
    model = build(POOLS[CANONICAL], lambda s, y: F.softmax(y, dim=0))
    refused(model, "softmax over dim 0", "dim 1", node="softmax")


def test_softmax_then_something_is_refused():
    model = build(POOLS[CANONICAL], lambda s, y: F.softmax(y, dim=1) * 2)
    refused(model, "softmax is only supported as the last operation", node="softmax")


@pytest.mark.parametrize("head,fc_in,node,fragments", [
    # a reshape that keeps a dim besides the batch, used by a layer
    (lambda s, h: s.gap(h).view(h.size(0), 4, 4), 4, "view",
     ["(16, 1, 1) tensor to (4, 4)", "flatten of the channel, height and width dims, to (16,)"]),
    # folds part of each sample into the batch
    (lambda s, h: s.gap(h).view(-1, 8), 8, "view", ["to (8,)", "to (16,)"]),
    (lambda s, h: h.reshape(h.shape[0] * 4, -1)[:, :16], 16, "reshape",
     ["to (64,)", "to (256,)"]),
    # a mean that is not over height and width
    (lambda s, h: h.mean(1).flatten(1), 16, "mean", ["mean over dims (1,)", "x.mean((2, 3))"]),
    (lambda s, h: h.mean(3).mean(2), 16, "mean", ["mean over dims (3,)", "height and width"]),
])
def test_reshape_that_is_not_a_flatten_is_refused(head, fc_in, node, fragments):
    refused(build(head, fc_in=fc_in), *fragments, node=node, check_knows=node == "mean")


def test_pooling_window_from_the_input_size_is_refused():
    model = build(lambda s, h: F.avg_pool2d(h, h.size()[2:]).flatten(1))
    refused(model, "window computed from the input's size", "x.mean((2, 3))",
            node="avg_pool2d", check_knows=False)
