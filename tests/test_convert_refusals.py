"""What `from_torch` refuses, and how it says so (issue "Converter utilities":
"each refusal message is tested"), the option checks, and `check(model)`.

Every refusal is a ConversionError whose message names the node - "node
'<fx name>' (<op> <target>)" - and, for code in a custom forward(), the source
line in this file. Models here are tiny and untrained: only the capture is
under test (tests/test_convert_accuracy.py covers accuracy).
"""

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snncore.convert import ConversionError, check, from_torch  # noqa: E402

nn = torch.nn
F = torch.nn.functional

X = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
THIS_FILE = "test_convert_refusals.py"


def _line_of(marker):
    """Line number in this file of the line ending with the comment `marker`."""
    with open(__file__) as f:
        hits = [i + 1 for i, ln in enumerate(f) if ln.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]


def refused(model, *fragments, node=None, calibration=X, **options):
    """Assert from_torch refuses `model` with a message holding every fragment
    and naming `node` ("node '<name>' (<op> ..."); return the message."""
    with pytest.raises(ConversionError) as info:
        from_torch(model, calibration, **options)
    msg = str(info.value)
    for text in fragments:
        assert text in msg, (text, msg)
    if node is not None:
        assert f"node {node!r} (" in msg, (node, msg)
    return msg


def conv_relu(cout=4):
    return [nn.Conv2d(1, cout, 3, padding=1), nn.ReLU()]


# -- models with a custom forward() --------------------------------------------------------

class SigmoidForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(256, 10)

    def forward(self, x):
        x = torch.sigmoid(self.conv(x))  # sigmoid-line
        return self.fc(x.flatten(1))


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x, y):
        return F.relu(self.conv(x)) + F.relu(self.conv(y))


class TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(256, 10)

    def forward(self, x):
        h = F.relu(self.conv(x))
        return h, self.fc(h.flatten(1))


class ControlFlow(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x):
        if x.sum() > 0:  # control-flow-line
            return F.relu(self.conv(x))
        return self.conv(x)


class ScaleParameter(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.scale = nn.Parameter(torch.full((1,), 2.0))

    def forward(self, x):
        return F.relu(self.conv(x)) * self.scale


class Maximum(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, padding=1)
        self.b = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x):
        return torch.maximum(F.relu(self.a(x)), F.relu(self.b(x)))  # maximum-line


class FunctionalMaxPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(torch.flatten(x, 1))


class SoftmaxHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(256, 10)

    def forward(self, x):
        return F.softmax(self.fc(F.relu(self.conv(x)).flatten(1)), dim=1)


# -- max pooling ---------------------------------------------------------------------------

def maxpool_net():
    return nn.Sequential(*conv_relu(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))


def test_maxpool_is_refused_on_request():
    msg = refused(maxpool_net(), "maxpool='refuse'", "maxpool='spike'", "maxpool='avg'",
                  node="_2", maxpool="refuse")
    assert "call_module 2" in msg
    refused(FunctionalMaxPool(), "maxpool='refuse'", node="max_pool2d", maxpool="refuse")


@pytest.mark.parametrize("model", [maxpool_net, FunctionalMaxPool])
def test_maxpool_converts_to_spiking_max_pooling(model):
    """The default pools spike counts: the SNN follows the ANN with max pooling."""
    torch.manual_seed(3)
    src = model().eval()
    net = from_torch(src, X, percentile=100)
    assert [q.op for q in net.projections].count("maxpool2d") == 1
    with torch.no_grad():
        ann = src(X).numpy()
    out = net.run(X.numpy(), 1024).output
    assert np.corrcoef(out.ravel(), ann.ravel())[0, 1] > 0.999
    np.testing.assert_allclose(out, ann, atol=0.05)


def leaky_detector_net():
    """Spiking-YOLO's layout: conv-BN-leaky ReLU(0.1)-maxpool, twice, and a conv
    head whose outputs are negative as often as positive."""
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.LeakyReLU(0.1),
                         nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1), nn.LeakyReLU(0.1),
                         nn.MaxPool2d(2, 1), nn.MaxPool2d(2, 1), nn.Conv2d(8, 5, 1))


def test_maxpool_after_leaky_relu_pools_signed_spikes():
    """A max pool of a leaky ReLU reads signed neurons and follows their net
    counts; nested pools keep the sign. The SNN follows the ANN."""
    torch.manual_seed(5)
    src = leaky_detector_net()
    with torch.no_grad():           # settle BatchNorm on the data, then freeze it
        src.train()(torch.as_tensor(X))
    src.eval()
    net = from_torch(src, X, norm="channel", channel_stat="max")
    by_name = {p["name"]: p for p in net.describe()["populations"]}
    sources = [by_name[q.source] for q in net.projections if q.op == "maxpool2d"]
    assert len(sources) == 3 and sources[0].get("signed") and sources[1].get("signed")
    with torch.no_grad():
        ann = src(torch.as_tensor(X)).numpy()
    assert (ann < 0).mean() > 0.1
    out = net.run(X.numpy(), 1024).output.reshape(ann.shape)
    assert np.corrcoef(out.ravel(), ann.ravel())[0, 1] > 0.999
    np.testing.assert_allclose(out, ann, atol=0.05 * np.abs(ann).max())


@pytest.mark.parametrize("before, what", [
    (lambda: [nn.Conv2d(1, 4, 3, padding=1)], "the output of conv2d, not of a ReLU"),
    (lambda: [], "the input image"),
])
def test_maxpool_needs_a_relu_before_it(before, what):
    layers = before()
    channels = 4 if layers else 1
    model = nn.Sequential(*layers, nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * channels, 10))
    refused(model, "max pooling converts only right after a ReLU or leaky ReLU", what,
            "maxpool='avg'")


def test_maxpool_options_are_checked():
    with pytest.raises(ValueError, match="'spike', 'avg', 'refuse'"):
        from_torch(maxpool_net(), X, maxpool="max")
    refused(nn.Sequential(*conv_relu(), nn.MaxPool2d(2, dilation=2), nn.Flatten(),
                          nn.Linear(36, 10)), "dilated max pooling")


@pytest.mark.parametrize("model", [maxpool_net, FunctionalMaxPool])
def test_maxpool_avg_substitutes_with_a_warning(model):
    with pytest.warns(UserWarning, match="max pooling replaced by average pooling"):
        net = from_torch(model(), X, maxpool="avg")
    assert any(q.op == "avgpool2d" for q in net.projections)
    assert any("max pooling replaced by average pooling" in n
               for n in net.provenance["notes"])


def test_maxpool_avg_is_average_pooling():
    """The substitute is exactly AvgPool2d: the SNN follows the same weights
    with average pooling."""
    src = maxpool_net()
    avg = nn.Sequential(*conv_relu(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))
    avg.load_state_dict(src.state_dict())
    with pytest.warns(UserWarning):
        net = from_torch(src, X, maxpool="avg", percentile=100)
    with torch.no_grad():
        ann = avg(X).numpy()
    np.testing.assert_allclose(net.run(X.numpy(), 1024).output, ann, atol=0.02)


# -- activations and softmax ---------------------------------------------------------------

@pytest.mark.parametrize("act", [nn.Sigmoid, nn.Tanh, nn.GELU])
def test_non_relu_activation_is_refused(act):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), act(), nn.Flatten(), nn.Linear(256, 10))
    refused(model, f"{act.__name__} has no spiking equivalent", "ReLU", "LeakyReLU", node="_1")


def test_functional_sigmoid_names_node_and_source_line():
    msg = refused(SigmoidForward(), "sigmoid has no spiking equivalent", node="sigmoid")
    assert f"at {THIS_FILE}:{_line_of('sigmoid-line')}" in msg, msg


def test_leaky_relu_slope_out_of_range_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(1.5), nn.Flatten(),
                          nn.Linear(256, 10))
    refused(model, "negative_slope", node="_1")


def test_softmax_in_the_middle_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Softmax(dim=1), nn.Flatten(),
                          nn.Linear(256, 10))
    refused(model, "softmax is only supported as the last operation", node="_1")


@pytest.mark.parametrize("model", [
    lambda: nn.Sequential(*conv_relu(), nn.Flatten(), nn.Linear(256, 10), nn.Softmax(dim=1)),
    SoftmaxHead])
def test_final_softmax_is_dropped_with_a_note(model):
    model = model()
    net = from_torch(model, X)
    notes = net.provenance["notes"]
    assert any("final softmax dropped" in n for n in notes), notes
    # the read-out is the logits, so the argmax is the model's
    with torch.no_grad():
        probs = model(X)
    assert torch.allclose(probs.sum(1), torch.ones(len(X)))
    np.testing.assert_array_equal(net.run(X.numpy(), 512).predictions,
                                  probs.argmax(1).numpy())


# -- convolutions and pooling --------------------------------------------------------------

def test_dilated_conv_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=2, dilation=2), nn.ReLU())
    refused(model, "dilated convolution", node="_0")


def test_avgpool_ceil_mode_is_refused():
    model = nn.Sequential(*conv_relu(), nn.AvgPool2d(3, ceil_mode=True), nn.Flatten(),
                          nn.Linear(36, 10))
    refused(model, "ceil_mode=True", node="_2")


def test_adaptive_pool_to_a_non_divisor_is_refused_unless_a_linear_follows():
    # a ReLU between the pooling and the Linear: the pooling cannot fold into it
    # (tests/test_convert_channels.py: with the Linear right after, it folds)
    model = nn.Sequential(*conv_relu(), nn.AdaptiveAvgPool2d(3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(36, 10))
    refused(model, "from (8, 8) to (3, 3)", "divides", "a flatten and a Linear follow it",
            node="_2")


@pytest.mark.parametrize("size,kernel", [(1, 8), (2, 4), ((4, 1), (2, 8))])
def test_adaptive_pool_to_a_divisor_is_accepted(size, kernel):
    out = (size, size) if isinstance(size, int) else size
    model = nn.Sequential(*conv_relu(), nn.AdaptiveAvgPool2d(size), nn.Flatten(),
                          nn.Linear(4 * out[0] * out[1], 10))
    net = from_torch(model, X)
    pool = [q for q in net._spec["projections"] if q["op"] == "avgpool2d"]
    k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    assert len(pool) == 1 and tuple(pool[0]["kernel"]) == k and tuple(pool[0]["stride"]) == k
    with torch.no_grad():
        ann = model(X).numpy()
    np.testing.assert_allclose(net.run(X.numpy(), 1024).output, ann, atol=0.05)


# -- graph structure -----------------------------------------------------------------------

def test_two_inputs_are_refused():
    refused(TwoInputs(), "more than one input", node="y")


def test_two_outputs_are_refused():
    refused(TwoOutputs(), "returns several tensors", node="output")


def test_data_dependent_control_flow_is_refused():
    msg = refused(ControlFlow(), "torch.fx", "control flow")
    # there is no node yet when tracing fails: the source line stands for it
    assert f"at {THIS_FILE}:{_line_of('control-flow-line')}" in msg, msg


def test_parameter_used_in_forward_is_refused():
    refused(ScaleParameter(), "uses a parameter or buffer directly in forward()",
            "wrap it in a module", node="scale")


def test_unsupported_function_is_refused():
    msg = refused(Maximum(), "function maximum is not supported", node="maximum")
    assert f"at {THIS_FILE}:{_line_of('maximum-line')}" in msg, msg


def test_sequential_refusals_do_not_point_into_torch():
    """An nn.Sequential has no forward() of the user's: the node's module path
    names it, and no torch-internal file is given as its 'source line'."""
    msg = refused(maxpool_net(), node="_2", maxpool="refuse")
    assert ".py:" not in msg, msg


# -- strict_bias ---------------------------------------------------------------------------

def test_strict_bias_refuses_a_biased_layer():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(),
                          nn.Linear(256, 10))
    refused(model, "has a bias", "strict_bias=True", "Cao et al. 2015", node="_3",
            strict_bias=True)


def test_strict_bias_refuses_batchnorm():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                          nn.ReLU(), nn.Flatten(), nn.Linear(256, 10, bias=False))
    with torch.no_grad():
        model[1].running_mean.fill_(0.1)
    # the conv has no bias of its own: the message says where it came from
    refused(model, "has a bias (from the BatchNorm folded into it: node '_1'", node="_0",
            strict_bias=True)


def test_strict_bias_refuses_an_unfolded_batchnorm():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(),
                          nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(256, 10, bias=False))
    with torch.no_grad():
        model[2].running_mean.fill_(0.1)
    refused(model, "has a bias (from BatchNorm)", node="_2", strict_bias=True)


def test_strict_bias_accepts_a_bias_free_model():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10, bias=False))
    net = from_torch(model, X, strict_bias=True)
    assert net.provenance["bias"] == "none"
    assert all(p["bias"] is None for p in net._spec["populations"])


# -- option checks -------------------------------------------------------------------------

def small_cnn():
    return nn.Sequential(*conv_relu(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))


@pytest.mark.parametrize("options,name", [
    ({"norm": "foo"}, "norm"),
    ({"reset": "bar"}, "reset"),
    ({"v_init": 2}, "v_init"),
    ({"v_init": -1.5}, "v_init"),
    ({"percentile": 0}, "percentile"),
    ({"percentile": 101}, "percentile"),
    ({"readout": "x"}, "readout"),
    ({"encoding": "morse"}, "encoding"),
    ({"channel_stat": "mean"}, "channel_stat"),
    ({"maxpool": "min"}, "maxpool"),
    ({"bias_calibration": True}, "timesteps"),
    ({"readout_delay": "auto"}, "timesteps"),
    ({"readout_delay": 0}, "readout_delay"),
    ({"readout_delay": 2.5}, "readout_delay"),
    ({"timesteps": 0}, "timesteps"),
    ({"ltb_batches": 0}, "ltb_batches"),
])
def test_bad_option_is_a_value_error_naming_it(options, name):
    with pytest.raises(ValueError, match=re.escape(name)) as info:
        from_torch(small_cnn(), X, **options)
    assert type(info.value) is ValueError       # not a ConversionError: the model is fine


def test_model_must_be_a_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        from_torch(lambda x: x, X)


# -- check(model) --------------------------------------------------------------------------

def test_check_names_each_departure_and_its_paper():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(0.1),
                          nn.Conv2d(4, 4, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(64, 10), nn.Softmax(dim=1))
    report = check(model)
    assert report.convertible
    rows = {r["key"]: r for r in report.rows}
    assert set(rows) == {"bias", "batchnorm", "leaky", "maxpool", "softmax"}
    assert "Cao" in rows["bias"]["papers"]
    assert "Sengupta" in rows["batchnorm"]["papers"]
    assert "Cao" in rows["maxpool"]["papers"]
    assert "Kim 2020" in rows["leaky"]["converts"] and "Spiking-YOLO" in rows["leaky"]["converts"]
    assert sum(r["key"] == "bias" for r in report.rows) == 3      # the convs and the linear
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split() == ["rule", "paper", "found", "snncore", "converts", "it"]
    for needle in ("no biases", "Cao 2015", "max pooling", "MaxPool2d", "BatchNorm2d",
                   "Sengupta 2019", "LeakyReLU(0.1)", "Spiking-YOLO", "Kim 2020",
                   "final softmax"):
        assert needle in text, needle
    assert text.endswith("\nconvertible")
    assert repr(report) == text


def test_check_refuses_a_sigmoid_model():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Sigmoid(), nn.Flatten(),
                          nn.Linear(256, 10))
    report = check(model)
    assert report.convertible is False
    assert "Sigmoid" in report.refusal and "node '_1'" in report.refusal
    assert "not convertible" in str(report)
    assert any(r["key"] == "activation" for r in report.rows)


def test_check_accepts_a_plain_relu_cnn():
    import models
    report = check(models.relu_cnn())
    assert report.convertible is True and report.refusal is None
    assert {r["key"] for r in report.rows} == {"bias"}
    assert str(report).rstrip().endswith("convertible")


def test_check_of_a_model_that_follows_every_rule():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10, bias=False))
    report = check(model)
    assert report.convertible and report.rows == []
    assert "follows the tailoring rules" in str(report)


@pytest.mark.parametrize("model", [
    maxpool_net, FunctionalMaxPool, SoftmaxHead,
    lambda: nn.Sequential(*conv_relu(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10)),
    lambda: nn.Sequential(*conv_relu(), nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.ReLU())])
def test_check_agrees_with_from_torch_on_convertible_models(model):
    assert check(model()).convertible


@pytest.mark.parametrize("model", [
    SigmoidForward, TwoInputs, TwoOutputs, ControlFlow, ScaleParameter, Maximum,
    lambda: nn.Sequential(*conv_relu(), nn.AvgPool2d(3, ceil_mode=True)),
    lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Softmax(dim=1), nn.Flatten(),
                          nn.Linear(256, 10))])
def test_check_agrees_with_from_torch_on_refused_models(model):
    """What from_torch refuses, check() reports as not convertible, naming the
    same node. (Adaptive pooling to a non-divisor is the exception: check
    traces without a sample, so it cannot know the feature map's size.)"""
    report = check(model())
    assert report.convertible is False
    with pytest.raises(ConversionError) as info:
        from_torch(model(), X)
    # the same node (or source line) is blamed
    assert report.refusal.split(":")[0] == str(info.value).split(":")[0]


def test_check_accepts_max_pooling_of_signed_spikes_and_refuses_it_of_currents():
    leaky = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(64, 10))
    assert check(leaky).convertible
    report = check(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2),
                                 nn.Flatten(), nn.Linear(64, 10)))
    assert not report.convertible
    assert "max pooling converts only right after a ReLU or leaky ReLU" in report.refusal
    assert "the output of conv2d" in report.refusal