"""Nearest-neighbour upsampling through the converter: every spelling becomes one
upsample2d projection, the SNN follows the ANN, and what does not convert is
refused naming the node."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

from snncore.convert import ConversionError, from_torch  # noqa: E402

X = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))


class Up(nn.Module):
    """conv-ReLU, upsampled by `up`, then conv-ReLU and a Linear."""

    def __init__(self, up, scale=(2, 2)):
        super().__init__()
        torch.manual_seed(1)
        self.conv1 = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.up = up
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * scale[0] * 4 * scale[1], 10)

    def forward(self, x):
        h = F.relu(self.conv2(self.up(F.relu(self.conv1(x)))))
        return self.fc(h.flatten(1))


class Fn(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def forward(self, x):
        return F.interpolate(x, **self.kw)


SPELLINGS = [
    lambda: nn.Upsample(scale_factor=2),
    lambda: nn.Upsample(size=(8, 8), mode="nearest"),
    lambda: Fn(scale_factor=2),
    lambda: Fn(scale_factor=2.0, mode="nearest"),
    lambda: Fn(size=8),
]


@pytest.mark.parametrize("spelling", range(len(SPELLINGS)))
def test_spellings_become_one_upsample_and_follow_the_ann(spelling):
    model = Up(SPELLINGS[spelling]()).eval()
    net = from_torch(model, X, percentile=100)
    ups = [q for q in net.projections if q.op == "upsample2d"]
    assert len(ups) == 1 and net._spec["projections"][1]["scale"] == (2, 2)
    with torch.no_grad():
        ann = model(X).numpy()
    out = net.run(X.numpy(), 512).output
    assert np.corrcoef(out.ravel(), ann.ravel())[0, 1] > 0.999


def test_unequal_factors():
    model = Up(Fn(scale_factor=(2, 3)), scale=(2, 3)).eval()
    net = from_torch(model, X, percentile=100)
    assert net._spec["projections"][1]["scale"] == (2, 3)
    with torch.no_grad():
        ann = model(X).numpy()
    out = net.run(X.numpy(), 512).output
    assert np.corrcoef(out.ravel(), ann.ravel())[0, 1] > 0.999


@pytest.mark.parametrize("up, fragment", [
    (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), "mode='bilinear'"),
    (lambda: Fn(scale_factor=1.5), "not by integer factors"),
    (lambda: Fn(size=(6, 6)), "not by integer factors"),
])
def test_what_does_not_convert_is_refused(up, fragment):
    model = Up(up())
    if "integer" in fragment:       # 4 x 4 maps upsampled to 6 x 6
        model.fc = nn.Linear(4 * 6 * 6, 10)
    with pytest.raises(ConversionError, match="node '") as e:
        from_torch(model.eval(), X)
    assert fragment in str(e.value)
