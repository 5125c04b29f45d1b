"""Channel concatenation, slices, chunks, splits and the channel shuffle, and
adaptive average pooling folded into a Linear (issue "Real-world
architectures convert": DenseNet, SqueezeNet's Fire, GoogLeNet's Inception,
ShuffleNet's split and shuffle; AlexNet's and VGG's heads on small inputs).

Small networks with random weights and BatchNorm statistics settled on random
images. Each converts, its SNN tracks its ANN (argmax agreement and output
correlation at T = 256), and the channel operations cost no population of
their own: a concatenated or sliced map is a view of the populations that
computed it. What cannot be read from several populations (a network whose
output is a concatenation) is refused, naming the layer.
"""

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snncore.convert import ConversionError, from_torch  # noqa: E402
# the same random images, T and structure() as the spellings of pooling and flattening
from test_convert_spellings import CALIB, T, TEST, structure  # noqa: E402  (tests/ on sys.path)

nn = torch.nn
F = torch.nn.functional
GEN = torch.Generator().manual_seed(2)


def settle(model, size=8):
    """BatchNorm statistics settled on random images (cumulative average), eval()."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(8):
            model(torch.rand(64, 3, size, size, generator=GEN))
    return model.eval()


def tracks(model, net, agree=0.9, corr=0.99):
    """The SNN's outputs at T against the ANN's: argmax agreement and correlation."""
    with torch.no_grad():
        ann = model(TEST).numpy()
    out = net.run(TEST.numpy(), T).output
    got = (out.argmax(1) == ann.argmax(1)).mean()
    r = np.corrcoef(out.ravel(), ann.ravel())[0, 1]
    assert got >= agree and r > corr, (got, r)
    return out


def populations(net):
    return [p["name"] for p in net._spec["populations"]]


def channel_shuffle(x, groups):
    """torchvision.models.shufflenetv2.channel_shuffle, as torchvision spells it."""
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    x = x.view(batchsize, num_channels, height, width)
    return x


# -- concatenation and slicing spellings ----------------------------------------------------

# cat(self, a, b): two (N, 4, 8, 8) maps -> (N, 8, 8, 8)
CATS = {
    "torch.cat([a, b], 1)": lambda a, b: torch.cat([a, b], 1),
    "torch.cat((a, b), dim=1)": lambda a, b: torch.cat((a, b), dim=1),
    "torch.cat([a, b], dim=-3)": lambda a, b: torch.cat([a, b], dim=-3),
    "torch.concat([a, b], 1)": lambda a, b: torch.concat([a, b], 1),
}

# halves(h): (N, 8, 8, 8) -> its first and last 4 channels
HALVES = {
    "h.chunk(2, dim=1)": lambda h: h.chunk(2, dim=1),
    "torch.chunk(h, 2, 1)": lambda h: torch.chunk(h, 2, 1),
    "h.split(4, dim=1)": lambda h: h.split(4, dim=1),
    "torch.split(h, [4, 4], 1)": lambda h: torch.split(h, [4, 4], 1),
    "h[:, :4], h[:, 4:]": lambda h: (h[:, :4], h[:, 4:]),
    "h[:, 0:4, :, :], h[:, -4:, ...]": lambda h: (h[:, 0:4, :, :], h[:, -4:, ...]),
    "h.narrow(1, 0, 4), torch.narrow(h, 1, 4, 4)": lambda h: (h.narrow(1, 0, 4),
                                                            torch.narrow(h, 1, 4, 4)),
}

CANONICAL_CAT = "torch.cat([a, b], 1)"
CANONICAL_HALVES = "h.chunk(2, dim=1)"


class ShuffleUnit(nn.Module):
    """ShuffleNet v2's unit, dense convs: conv-BN-ReLU, split in halves, one half
    through conv-BN-ReLU, concatenated with the other, channel shuffle; then a
    conv-BN-ReLU and a global-pool Linear head."""

    def __init__(self, halves=HALVES[CANONICAL_HALVES], cat=CATS[CANONICAL_CAT]):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.branch = nn.Conv2d(4, 4, 3, padding=1)
        self.bn_branch = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)
        self.halves, self.cat = halves, cat

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        a, b = self.halves(h)
        h = self.cat(a, F.relu(self.bn_branch(self.branch(b))))
        h = channel_shuffle(h, 2)
        h = F.relu(self.bn2(self.conv2(h)))
        return self.fc(h.mean((2, 3)))


@functools.lru_cache(maxsize=None)
def _unit_weights():
    return settle(ShuffleUnit()).state_dict()


@functools.lru_cache(maxsize=None)
def converted_unit(halves, cat):
    model = ShuffleUnit(HALVES[halves], CATS[cat])
    model.load_state_dict(_unit_weights())
    model.eval()
    net = from_torch(model, CALIB, v_init=0.5)
    return model, net, net.run(TEST.numpy(), T).output


def test_split_concat_and_shuffle_track_the_ann_without_copies():
    model, net, _ = converted_unit(CANONICAL_HALVES, CANONICAL_CAT)
    tracks(model, net)
    # conv1's ReLU, the branch's ReLU, conv2's ReLU and the read-out: the halves,
    # the concatenation and the shuffle are views of the first two, not populations
    assert len(populations(net)) == 6, populations(net)       # with the input
    kinds = [p["kind"] for p in net._spec["populations"]]
    assert kinds.count("relay") == 1        # the global pool before the Linear
    # conv2 reads its shuffled input straight from both populations
    conv2 = [q for q in net._spec["projections"] if q["name"].startswith("conv2")]
    assert sorted(populations(net)[q["source"]] for q in conv2) == ["relu", "relu_1"], conv2


@pytest.mark.parametrize("halves,cat", [(k, CANONICAL_CAT) for k in HALVES
                                        if k != CANONICAL_HALVES]
                         + [(CANONICAL_HALVES, k) for k in CATS if k != CANONICAL_CAT])
def test_spelling_gives_the_canonical_network(halves, cat):
    model, net, out = converted_unit(halves, cat)
    ref_model, ref_net, ref_out = converted_unit(CANONICAL_HALVES, CANONICAL_CAT)
    with torch.no_grad():
        np.testing.assert_allclose(model(TEST).numpy(), ref_model(TEST).numpy(), rtol=1e-5,
                                   atol=1e-6)
    assert structure(net) == structure(ref_net)
    np.testing.assert_array_equal(out, ref_out)


# -- the architectures' blocks --------------------------------------------------------------

class DenseBlock(nn.Module):
    """DenseNet: each layer is BN-ReLU-conv on the concatenation of everything
    before it; a transition (BN-ReLU-conv-avgpool) and BN-ReLU-global pool."""

    def __init__(self, layers=3, growth=4):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        c = 6
        self.norms, self.convs = nn.ModuleList(), nn.ModuleList()
        for _ in range(layers):
            self.norms.append(nn.BatchNorm2d(c))
            self.convs.append(nn.Conv2d(c, growth, 3, padding=1, bias=False))
            c += growth
        self.norm_t, self.conv_t = nn.BatchNorm2d(c), nn.Conv2d(c, 8, 1, bias=False)
        self.norm_out = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        features = [self.stem(x)]
        for norm, conv in zip(self.norms, self.convs):
            features.append(conv(F.relu(norm(torch.cat(features, 1)))))
        h = self.conv_t(F.relu(self.norm_t(torch.cat(features, 1))))
        h = F.avg_pool2d(h, 2)
        h = F.relu(self.norm_out(h))
        return self.fc(F.adaptive_avg_pool2d(h, (1, 1)).flatten(1))


class Fire(nn.Module):
    """SqueezeNet's Fire: squeeze 1x1 conv-ReLU, then the concatenation of two
    expand conv-ReLUs (1x1 and 3x3); twice, then a 1x1 conv classifier and a
    global pool, as SqueezeNet ends."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.squeeze1, self.e1x1_1, self.e3x3_1 = (nn.Conv2d(8, 4, 1), nn.Conv2d(4, 6, 1),
                                                   nn.Conv2d(4, 6, 3, padding=1))
        self.squeeze2, self.e1x1_2, self.e3x3_2 = (nn.Conv2d(12, 4, 1), nn.Conv2d(4, 6, 1),
                                                   nn.Conv2d(4, 6, 3, padding=1))
        self.classifier = nn.Conv2d(12, 10, 1)

    def fire(self, x, squeeze, e1, e3):
        s = F.relu(squeeze(x))
        return torch.cat([F.relu(e1(s)), F.relu(e3(s))], 1)

    def forward(self, x):
        h = F.relu(self.stem(x))
        h = self.fire(h, self.squeeze1, self.e1x1_1, self.e3x3_1)
        h = F.avg_pool2d(h, 2)
        h = self.fire(h, self.squeeze2, self.e1x1_2, self.e3x3_2)
        h = F.relu(self.classifier(h))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1)


class Inception(nn.Module):
    """GoogLeNet's Inception: four branches (1x1; 1x1-3x3; 1x1-3x3; 3x3 pool-1x1),
    each conv-BN-ReLU, concatenated; pooled and classified by a Linear on the
    flattened concatenation."""

    def __init__(self):
        super().__init__()

        def conv(i, o, k):
            return nn.Sequential(nn.Conv2d(i, o, k, padding=k // 2, bias=False),
                                 nn.BatchNorm2d(o), nn.ReLU(inplace=True))
        self.stem = conv(3, 8, 3)
        self.b1 = conv(8, 4, 1)
        self.b2 = nn.Sequential(conv(8, 4, 1), conv(4, 6, 3))
        self.b3 = nn.Sequential(conv(8, 2, 1), conv(2, 4, 3))
        self.b4 = nn.Sequential(nn.AvgPool2d(3, 1, 1), conv(8, 4, 1))
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(18 * 4 * 4, 10)

    def forward(self, x):
        x = self.stem(x)
        h = torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)
        return self.fc(torch.flatten(self.pool(h), 1))


@pytest.mark.parametrize("make", [DenseBlock, Fire, Inception])
def test_architecture_block_tracks_the_ann(make):
    model = settle(make())
    net = from_torch(model, CALIB, v_init=0.5)
    tracks(model, net)


@pytest.mark.slow
def test_dense_block_converts_under_the_threshold_rules():
    """The rules that read activations per layer (ltb, channel), run probes of
    the spiking network (spike, bias calibration, the delayed read-out) on a
    concatenation's parts. (norm="model" works on views too, test below; on
    this block its bounds grow so fast that the last layers stay silent.)"""
    model = settle(DenseBlock())
    for options in (dict(norm="channel"), dict(norm="ltb"),
                    dict(norm="spike", spike_norm_images=32),
                    dict(norm="channel", bias_calibration=True, timesteps=32,
                         readout_delay="auto", calibration_images=64)):
        net = from_torch(model, CALIB, v_init=0.5, **options)
        tracks(model, net, agree=0.75, corr=0.98)


# -- per-channel operations on views ----------------------------------------------------------

class ViewOps(nn.Module):
    """A concatenation through an unfolded BatchNorm, a leaky ReLU, a ReLU6, a
    residual add with a conv output, an average pool and a Linear on its
    flattened channels; and a ReLU of a slice of a conv output, and a
    concatenation of a map with itself. `vectors`: the last concatenation is
    of the flattened maps (refused) instead of the maps."""

    def __init__(self, vectors=False):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.c = nn.Conv2d(8, 8, 3, padding=1)
        self.d = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(16 * 16 + 4 * 16, 10)
        self.vectors = vectors

    def forward(self, x):
        h = torch.cat([F.relu(self.a(x)), self.b(x)], 1)
        h = F.leaky_relu(self.bn(h), 0.1)
        h = F.relu6(torch.cat([h[:, 4:], h[:, :4]], 1) + self.c(h))
        h = F.avg_pool2d(torch.cat([h, h], 1), 2)
        s = F.avg_pool2d(F.relu(self.d(x)[:, 1:5]), 2)
        if self.vectors:
            return self.fc(torch.cat([h.flatten(1), s.flatten(1)], 1))
        return self.fc(torch.cat([h, s], 1).flatten(1))


def test_cat_of_vectors_is_refused():
    with pytest.raises(ConversionError, match="not vectors"):
        from_torch(settle(ViewOps(vectors=True)), CALIB[:16])


@pytest.mark.parametrize("norm", ["percentile", "model", "channel"])
def test_per_channel_ops_act_on_each_part(norm):
    model = settle(ViewOps())
    net = from_torch(model, CALIB, v_init=0.5, norm=norm)
    tracks(model, net, corr=0.98)


# -- adaptive average pooling folded into a Linear --------------------------------------------

class AdaptiveHead(nn.Module):
    """conv-ReLU (stride 4 when `small`: a 2x2 map), adaptive pooling to (3, 3)
    (unequal windows, or a larger output), flatten, dropout, Linear: AlexNet's
    and VGG's heads on inputs smaller than they were made for."""

    def __init__(self, small):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=4 if small else 1, padding=1)
        self.pool = nn.AdaptiveAvgPool2d((3, 3))
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8 * 9, 10)

    def forward(self, x):
        h = self.pool(F.relu(self.conv(x)))
        return self.fc(self.drop(torch.flatten(h, 1)))


@pytest.mark.parametrize("small", [False, True])
def test_adaptive_pooling_folds_into_the_linear(small):
    model = AdaptiveHead(small).eval()
    net = from_torch(model, CALIB, v_init=0.5)
    assert not any(q["op"] == "avgpool2d" for q in net._spec["projections"])
    assert [p["kind"] for p in net._spec["populations"]] == ["input", "if", "accumulate"]
    assert any("folded into fc" in n for n in net.provenance["notes"])
    tracks(model, net)


# -- refusals ---------------------------------------------------------------------------------

class Two(nn.Module):
    """Two conv-ReLU maps a and b of 4 channels, and `tail(a, b)` as the output."""

    def __init__(self, tail):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 3, padding=1)
        self.tail = tail

    def forward(self, x):
        return self.tail(F.relu(self.a(x)), F.relu(self.b(x)))


def refused(model, *fragments, node):
    with pytest.raises(ConversionError) as info:
        from_torch(model, CALIB[:16])
    msg = str(info.value)
    assert f"node {node!r} (" in msg, msg
    for text in fragments:
        assert text in msg, (text, msg)


def test_output_of_several_parts_is_refused():
    refused(Two(lambda a, b: torch.cat([a, b], 1)), "output is a concatenation",
            "one population", node="cat")


def test_output_of_one_part_in_order_converts():
    def tail(a, b):
        first, second = torch.cat([a, b], 1).chunk(2, 1)
        return torch.cat([first, second], 1)[:, :4]     # a again, in order
    model = Two(tail)
    net = from_torch(model, CALIB, v_init=0.5)
    with torch.no_grad():
        ann = model(TEST).numpy().reshape(len(TEST), -1)
    out = net.run(TEST.numpy(), T).output.reshape(len(TEST), -1)
    assert np.corrcoef(out.ravel(), ann.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("tail,node,fragments", [
    (lambda a, b: torch.cat([a, b], 2).mean((2, 3)), "cat", ["on dim 2", "dim=1"]),
    (lambda a, b: (a[:, :, 1:] + b[:, :, 1:]).mean((2, 3)), "getitem",
     ["(4, 8, 8) tensor to (4, 7, 8)", "x[:, a:b]"]),
    (lambda a, b: (a[:, : a.size(1) // 2] + b[:, :2]).mean((2, 3)), "getitem",
     ["sizes computed from the input's shape"]),
    (lambda a, b: (torch.transpose(a, 2, 3) + b).mean((2, 3)), "transpose",
     ["tensor to (4, 8, 8)", "channel shuffle"]),
    (lambda a, b: torch.cat(a.chunk(2, 1), 1).mean((2, 3)), "cat", ["pass a list"]),
])
def test_what_is_not_a_channel_selection_is_refused(tail, node, fragments):
    refused(Two(tail), *fragments, node=node)
