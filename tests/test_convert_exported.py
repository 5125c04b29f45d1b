"""Models given as torch.export programs or TorchScript convert as their Python
model does (snncore/convert/exported.py lifts their ATen graphs), and what cannot
be lifted is refused naming the operator and its source line."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from snncore.convert import ConversionError, check, export_torchscript, from_torch, \
    low_latency_options  # noqa: E402


class Everything(nn.Module):
    """One of each operator the lifting maps (modules and functions)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=4)
        self.leaky = nn.LeakyReLU(0.1)
        self.conv3 = nn.Conv2d(12, 8, 1, bias=False)
        self.up = nn.Upsample(scale_factor=2)
        self.avg = nn.AvgPool2d(2)
        self.adaptive = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool(self.relu(self.bn1(self.conv1(x))))          # (8, 8, 8) by ceil_mode
        a, b = x.chunk(2, 1)
        x = torch.cat([b, a], 1)                                     # a channel permutation
        y = F.max_pool2d(self.leaky(self.conv2(x)), 2)             # signed, (8, 4, 4)
        z = F.relu6(self.conv3(torch.cat([self.up(y), x[:, :4]], 1)))   # (8, 8, 8)
        z = self.avg(z) + torch.clamp(self.avg(z), 0, 1)            # a junction
        pooled = torch.cat([self.adaptive(z), z.mean((2, 3), keepdim=True)], 1).flatten(1)
        return F.softmax(self.fc(self.drop(pooled)), dim=1)


def _settled(model, x):
    """The model in eval() with its BatchNorm statistics from `x`."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model.eval()


@pytest.fixture(scope="module")
def model_and_images():
    torch.manual_seed(0)
    x = torch.rand(32, 1, 15, 15)
    return _settled(Everything(), x), x


def _describe(net):
    d = net.describe()
    d.pop("provenance")             # holds the conversion's seconds
    return d


def _assert_same(a, b, x, names=True):
    if names:
        assert _describe(a) == _describe(b)
    else:
        assert [(p.kind, p.shape) for p in a.populations] == \
            [(p.kind, p.shape) for p in b.populations]
    ra, rb = a.run(x[:8].numpy(), timesteps=16), b.run(x[:8].numpy(), timesteps=16)
    np.testing.assert_array_equal(ra.outputs, rb.outputs)


def test_an_export_converts_as_the_python_model(model_and_images):
    model, x = model_and_images
    python = from_torch(model, x)
    ops = {q.op for q in python.projections}
    assert {"conv2d", "maxpool2d", "upsample2d", "avgpool2d", "dense"} <= ops
    for program in (torch.export.export(model, (x[:1],)),          # batch fixed at 1
                    torch.export.export(model, (x[:4],), dynamic_shapes=(
                        {0: torch.export.Dim("batch", min=1, max=1024)},))):
        _assert_same(python, from_torch(program, x), x)


def test_a_saved_export_converts(model_and_images, tmp_path):
    model, x = model_and_images
    torch.export.save(torch.export.export(model, (x[:2],)), str(tmp_path / "m.pt2"))
    program = torch.export.load(str(tmp_path / "m.pt2"))
    _assert_same(from_torch(model, x), from_torch(program, x), x)


@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_converts_as_the_python_model(model_and_images, how):
    model, x = model_and_images
    ts = torch.jit.script(model) if how == "script" else torch.jit.trace(model, x[:2])
    # TorchScript records no module for a parameterless layer: the names differ there
    _assert_same(from_torch(model, x), from_torch(ts, x), x, names=False)


def test_the_recipe_and_check_read_an_export(model_and_images):
    model, x = model_and_images
    program = torch.export.export(model, (x[:2],))
    assert low_latency_options(program, 16) == low_latency_options(model, 16)
    report = check(program)
    assert report.refusal is None
    found = {row["rule"] for row in report.rows}
    assert found == {row["rule"] for row in check(model).rows}
    assert any("max pooling" in rule for rule in found)


def test_torchscript_needs_an_input_to_be_read(model_and_images):
    model, x = model_and_images
    ts = torch.jit.script(model)
    with pytest.raises(ConversionError, match="export_torchscript"):
        low_latency_options(ts, 16)
    assert "export_torchscript" in check(ts).refusal
    program = export_torchscript(ts, x[:2].numpy())
    assert low_latency_options(program, 16) == low_latency_options(model, 16)
    with pytest.raises(TypeError, match="ScriptModule"):
        export_torchscript(model, x[:2])


def test_not_a_model_is_a_type_error():
    with pytest.raises(TypeError, match="ExportedProgram"):
        from_torch("model.pt2", np.zeros((4, 1, 8, 8), np.float32))
    with pytest.raises(TypeError, match="ExportedProgram"):
        low_latency_options({"weight": 1}, 8)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        x = F.relu(self.conv(x)) * 2
        return self.fc(x.flatten(1))


class Offset(Scaled):
    def __init__(self):
        super().__init__()
        self.offset = nn.Parameter(torch.ones(4, 1, 1))

    def forward(self, x):
        return self.fc(F.relu(self.conv(x) + self.offset).flatten(1))


class Transposed(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(1, 2, 2, stride=2)

    def forward(self, x):
        return F.relu(self.up(x)).flatten(1)


class BatchFlatten(Scaled):
    def forward(self, x):
        return F.relu(self.conv(x)).reshape(-1)


def _exported(cls, batch=2, train=False):
    torch.manual_seed(0)
    model = cls()
    model.train(train)
    return torch.export.export(model, (torch.rand(batch, 1, 8, 8),))


@pytest.mark.parametrize("cls, message", [
    (Scaled, r"node 'mul\w*' .*test_convert_exported.py:\d+: ATen operator aten.mul.Tensor is "
             "not supported"),
    (Offset, "uses the parameter or buffer 'offset' directly"),
    (Transposed, "transposed convolution is not supported"),
    (BatchFlatten, r"reshapes the batch dimension \(to \(288,\)\)"),
])
def test_what_cannot_be_lifted_is_refused_naming_it(cls, message):
    with pytest.raises(ConversionError, match=message):
        from_torch(_exported(cls), np.random.default_rng(0).random((4, 1, 8, 8), np.float32))


def test_an_export_in_training_mode_is_refused():
    class Normed(Scaled):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))

    with pytest.raises(ConversionError, match=r"training mode.*model.eval\(\)"):
        from_torch(_exported(Normed, train=True), np.zeros((4, 1, 8, 8), np.float32))


def test_the_lifted_module_computes_what_the_model_does(model_and_images):
    from snncore.convert.exported import lift

    model, x = model_and_images
    lifted = lift(torch.export.export(model, (x[:1],)))
    with torch.no_grad():
        torch.testing.assert_close(lifted(x), model(x))          # any batch, one tensor out
    names = dict(lifted.named_modules())
    assert isinstance(names["conv1"], nn.Conv2d) and isinstance(names["pool"], nn.MaxPool2d)
    assert isinstance(names["bn1"], nn.BatchNorm2d) and not names["bn1"].training


def test_torchscript_that_cannot_be_exported_is_one_clear_error():
    class TwoInputs(nn.Module):
        def forward(self, x, y):
            return x + y

    with pytest.raises(ConversionError, match=r"PyTorch could not export the TorchScript module "
                                              r"on an input of shape \(2, 1, 4, 4\)"):
        from_torch(torch.jit.script(TwoInputs()), np.zeros((4, 1, 4, 4), np.float32))
