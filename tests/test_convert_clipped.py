"""Clipped ReLUs (issue "Real-world architectures convert", item 4): ReLU6,
F.relu6, Hardtanh(0, c), F.hardtanh(x, 0, c), torch.clamp / torch.clip /
x.clamp / x.clip / x.clamp_ with min 0 and max c > 0, all min(max(x, 0), c).

An IF neuron fires at most once per step, so its rate-coded output saturates
at its threshold: a clipped ReLU converts exactly (for rate codes, as T grows)
when the layer's threshold, in the activation's units, is min(lambda, c). The
clip is a ceiling on the threshold under every norm. Every spelling gives the
same network as the nn.ReLU6 version; a CNN whose activations reach the clip
tracks its ANN, and the same weights converted without the ceiling (as plain
ReLUs) do not; thresholds read back from the network never exceed c; what is
not a clipped ReLU is refused, naming the layer and saying why.
"""

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snncore.convert import (ConversionError, check, from_torch,  # noqa: E402
                             low_latency_options)

nn = torch.nn
F = torch.nn.functional

T = 256
GEN = torch.Generator().manual_seed(3)
CALIB = torch.rand(256, 3, 8, 8, generator=GEN)
TEST = torch.rand(200, 3, 8, 8, generator=GEN)

# act(self, h, i): the i-th activation (i = 1, 2), each equal to min(max(h, 0), 6)
SPELLINGS = {
    "nn.ReLU6()": lambda s, h, i: getattr(s, f"relu6_{i}")(h),
    "nn.Hardtanh(0, 6)": lambda s, h, i: getattr(s, f"hardtanh_{i}")(h),
    "nn.Hardtanh(min_val=0.0, max_val=6.0)": lambda s, h, i: getattr(s, f"hardtanh_kw_{i}")(h),
    "F.relu6(x)": lambda s, h, i: F.relu6(h),
    "F.relu6(x, inplace=True)": lambda s, h, i: F.relu6(h, inplace=True),
    "F.hardtanh(x, 0, 6)": lambda s, h, i: F.hardtanh(h, 0, 6),
    "F.hardtanh(x, min_val=0.0, max_val=6.0)": lambda s, h, i: F.hardtanh(h, min_val=0.0,
                                                                           max_val=6.0),
    "torch.clamp(x, 0, 6)": lambda s, h, i: torch.clamp(h, 0, 6),
    "torch.clamp(x, min=0, max=6)": lambda s, h, i: torch.clamp(h, min=0, max=6),
    "torch.clip(x, 0.0, 6.0)": lambda s, h, i: torch.clip(h, 0.0, 6.0),
    "x.clamp(0, 6)": lambda s, h, i: h.clamp(0, 6),
    "x.clamp(min=0, max=6)": lambda s, h, i: h.clamp(min=0, max=6),
    "x.clip(0, 6)": lambda s, h, i: h.clip(0, 6),
    "x.clamp_(0, 6)": lambda s, h, i: h.clamp_(0, 6),
}
CANONICAL = "nn.ReLU6()"


class Net(nn.Module):
    """conv-BN-act, conv-act (stride 2), flatten, Linear."""

    def __init__(self, act):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8, momentum=None)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16 * 4 * 4, 10)
        for i in (1, 2):        # parameter-free modules the spellings use
            setattr(self, f"relu6_{i}", nn.ReLU6())
            setattr(self, f"hardtanh_{i}", nn.Hardtanh(0, 6))
            setattr(self, f"hardtanh_kw_{i}", nn.Hardtanh(min_val=0.0, max_val=6.0))
            setattr(self, f"relu_{i}", nn.ReLU())
        self.act = act

    def forward(self, x):
        h = self.act(self, self.bn1(self.conv1(x)), 1)
        h = self.act(self, self.conv2(h), 2)
        return self.fc(h.flatten(1))


def _relu(s, h, i):
    return getattr(s, f"relu_{i}")(h)


@functools.lru_cache(maxsize=None)
def _weights(gain):
    """Random weights scaled by `gain` (conv1 and conv2) and BatchNorm
    statistics settled on random images; with a large gain most
    pre-activations lie above the clip."""
    torch.manual_seed(0)
    model = Net(SPELLINGS[CANONICAL])
    model.train()
    with torch.no_grad():
        for _ in range(8):
            model(torch.rand(64, 3, 8, 8, generator=GEN))
        model.bn1.weight.mul_(gain)
        model.bn1.bias.mul_(gain)
        model.conv2.weight.mul_(gain)
        model.eval()
        # logits centred on the calibration images, so that the argmax varies
        model.fc.bias.sub_(model(CALIB.clone()).mean(0))
    return model.state_dict()


HIGH = 8.0      # most activations reach the clip
LOW = 0.3       # none does: a clipped ReLU is a ReLU


def build(act, gain=HIGH):
    model = Net(act)
    model.load_state_dict(_weights(gain))
    return model.eval()


def ann(model):
    with torch.no_grad():
        return model(TEST.clone()).numpy()


def pre_activations(model):
    """The inputs of the two activations on the test images."""
    with torch.no_grad():
        x = TEST.clone()
        z1 = model.bn1(model.conv1(x))
        z2 = model.conv2(z1.clamp(0, 6))
    return z1, z2


def if_thresholds(net):
    """[(population, threshold array)] of the IF populations, from the network."""
    return [(p["name"], np.broadcast_to(np.asarray(p["threshold"], np.float64), p["shape"][:1]))
            for p in net._spec["populations"] if p["kind"] == "if"]


def arrays(net):
    """Every population's and projection's numbers, without the names."""
    out = []
    for p in net._spec["populations"]:
        out.append((p["kind"], tuple(p["shape"]), None if p["threshold"] is None
                    else np.asarray(p["threshold"]).tolist(),
                    None if p["bias"] is None else np.asarray(p["bias"]).tolist()))
    for q in net._spec["projections"]:
        out.append((q["op"], tuple(q.get("kernel") or ()), tuple(q.get("stride") or ()),
                    None if q.get("weight") is None else np.asarray(q["weight"]).tolist()))
    return out


@functools.lru_cache(maxsize=None)
def converted(key, gain=HIGH, **opts):
    model = build(_relu if key == "plain ReLU" else SPELLINGS[key], gain)
    net = from_torch(model, CALIB, v_init=0.5, **opts)
    return net, net.run(TEST.numpy(), T).output


def agreement(out, ref):
    return float((out.argmax(1) == ref.argmax(1)).mean())


def correlation(out, ref):
    return float(np.corrcoef(out.ravel(), ref.ravel())[0, 1])


# -- spellings ------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [k for k in SPELLINGS if k != CANONICAL])
def test_spelling_gives_the_relu6_network(key):
    model, ref_model = build(SPELLINGS[key]), build(SPELLINGS[CANONICAL])
    np.testing.assert_array_equal(ann(model), ann(ref_model))        # the same ANN
    net, out = converted(key)
    ref_net, ref_out = converted(CANONICAL)
    assert arrays(net) == arrays(ref_net)
    np.testing.assert_array_equal(out, ref_out)
    assert net.provenance["thresholds"].values().__len__() == 2
    assert sorted(net.provenance["threshold_ceilings"].values()) == [6.0, 6.0]


def test_check_accepts_clipped_relus_with_a_note():
    for key in SPELLINGS:
        report = check(build(SPELLINGS[key]))
        assert report.convertible, key
        assert not [r for r in report.rows if r["key"] == "activation"], key
        ceiling = [n for n in report.notes if "ceiling on the threshold" in n]
        assert len(ceiling) == 2 and all("clipped at 6" in n for n in ceiling), (key, report.notes)
        assert "ceiling on the threshold" in str(report)


# -- accuracy: the ceiling matters ----------------------------------------------------------

def test_the_activations_reach_the_clip():
    z1, z2 = pre_activations(build(SPELLINGS[CANONICAL]))
    assert float((z1 > 6).double().mean()) > 0.2
    assert float((z2 > 6).double().mean()) > 0.2


def test_relu6_snn_tracks_the_ann_and_plain_relu_does_not():
    ref = ann(build(SPELLINGS[CANONICAL]))
    _, out = converted(CANONICAL)
    agree, corr = agreement(out, ref), correlation(out, ref)
    assert agree >= 0.9, agree
    assert corr > 0.98, corr
    # the same weights without the ceiling: plain ReLUs, whose thresholds come from
    # the unclipped activations, so the SNN saturates far above 6
    _, relu_out = converted("plain ReLU")
    relu_agree, relu_corr = agreement(relu_out, ref), correlation(relu_out, ref)
    assert relu_agree < agree - 0.15, (relu_agree, agree)
    assert relu_corr < 0.9, relu_corr
    net, _ = converted("plain ReLU")
    assert all(t.min() > 6 for _, t in if_thresholds(net))
    print(f"\nReLU6 CNN, T={T}: SNN vs ANN argmax agreement {agree:.3f}, correlation "
          f"{corr:.6f}; converted as plain ReLU: {relu_agree:.3f}, {relu_corr:.4f}")


def test_a_clip_that_is_never_reached_changes_nothing():
    relu6, _ = converted(CANONICAL, gain=LOW)
    relu, _ = converted("plain ReLU", gain=LOW)
    assert arrays(relu6) == arrays(relu)
    assert any("not reached" in n for n in relu6.provenance["notes"])


# -- the ceiling under every norm -----------------------------------------------------------

NORM_OPTIONS = {
    "percentile": {},
    "max": dict(norm="max"),
    "model": dict(norm="model"),
    "channel": dict(norm="channel"),
    "channel max": dict(norm="channel", channel_stat="max"),
    "ltb": dict(norm="ltb", ltb_batches=8),
    "spike": dict(norm="spike", spike_norm_steps=16, spike_norm_images=32),
    "none": dict(norm="none"),
    "spiking read-out": dict(readout="spikes"),
    "bias calibration": dict(norm="ltb", bias_calibration=True, timesteps=16,
                             calibration_images=64),
    "readout delay": dict(norm="channel", readout_delay="auto", timesteps=16,
                          calibration_images=64),
}


@pytest.mark.parametrize("label", list(NORM_OPTIONS))
@pytest.mark.parametrize("clip", [6.0, 0.7])
def test_thresholds_never_exceed_the_clip(label, clip):
    model = build(lambda s, h, i: h.clamp(0, clip))
    net = from_torch(model, CALIB, **NORM_OPTIONS[label])
    ceilings = net.provenance["threshold_ceilings"]
    assert sorted(ceilings.values()) == [clip, clip]
    thresholds = [(n, t) for n, t in if_thresholds(net) if n in ceilings]
    assert len(thresholds) == 2
    for name, t in thresholds:
        assert t.max() <= np.float32(clip), (label, name, t.max())
        assert t.min() > 0
    notes = [n for n in net.provenance["notes"] if "is a ceiling on the threshold" in n]
    assert len(notes) == 2
    if "ltb" not in str(NORM_OPTIONS[label]) and not (label == "none" and clip > 1):
        # the clipped activations (or the fixed 1 above 0.7) reach lambda = c
        assert all(t.max() == np.float32(clip) for _, t in thresholds), label


def test_low_latency_options_keep_the_ceiling():
    model = build(SPELLINGS[CANONICAL])
    net = from_torch(model, CALIB, **low_latency_options(model, 16))
    assert all(t.max() <= 6 for _, t in if_thresholds(net))


def test_the_model_norm_records_the_capped_lambda():
    net, _ = converted(CANONICAL, norm="model")
    capped = [n for n in net.provenance["notes"] if "capped there" in n]
    assert len(capped) == 2, net.provenance["notes"]
    assert all(t.max() == 6 for _, t in if_thresholds(net))


def test_a_clip_on_the_input_converts_as_relu_there():
    class OnInput(nn.Module):
        def __init__(self, act):
            super().__init__()
            self.fc = nn.Linear(3 * 8 * 8, 10)
            self.act = act

        def forward(self, x):
            return self.fc(self.act(x).flatten(1))

    torch.manual_seed(0)
    clipped = OnInput(lambda x: x.clamp(0, 0.5)).eval()
    relu = OnInput(F.relu).eval()
    relu.load_state_dict(clipped.state_dict())
    net = from_torch(clipped, CALIB)
    ref = from_torch(relu, CALIB)
    assert [(p["kind"], p["shape"]) for p in net._spec["populations"]] == \
        [(p["kind"], p["shape"]) for p in ref._spec["populations"]]
    (_, t), = if_thresholds(net)
    assert t.max() == np.float32(0.5)
    out, expected = net.run(TEST.numpy(), T).output, ann(clipped)
    assert correlation(out, expected) > 0.98


# -- refusals -------------------------------------------------------------------------------

def _one_act(act):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4 * 6 * 6, 2)
            self.hardtanh = nn.Hardtanh()
            self.shifted = nn.Hardtanh(1.0, 6.0)

        def forward(self, x):
            return self.fc(act(self, self.conv(x)).flatten(1))
    return M().eval()


REFUSED = {
    "torch.clamp(x, -1, 1)": (lambda s, h: torch.clamp(h, -1, 1), "clamp", "min=-1 < 0",
                              "signed neurons"),
    "x.clamp(min=-0.5, max=6)": (lambda s, h: h.clamp(min=-0.5, max=6), "clamp",
                                 "min=-0.5 < 0", "leaky ReLU"),
    "nn.Hardtanh()": (lambda s, h: s.hardtanh(h), "hardtanh", "min=-1.0 < 0", "Hardtanh"),
    "F.hardtanh(x)": (lambda s, h: F.hardtanh(h), "hardtanh", "min=-1.0 < 0", "hardtanh"),
    "x.clamp(max=6)": (lambda s, h: h.clamp(max=6), "clamp", "no min", "not a ReLU"),
    "torch.clip(x, None, 6)": (lambda s, h: torch.clip(h, None, 6), "clip", "no min"),
    "x.clamp(0, 0)": (lambda s, h: h.clamp(0, 0), "clamp", "max=0 <= 0", "constant"),
    "x.clamp(0, -2)": (lambda s, h: h.clamp(0, -2), "clamp", "max=-2 <= 0"),
    "x.clamp(1, 6)": (lambda s, h: h.clamp(1, 6), "clamp", "min=1 > 0", "not a ReLU"),
    "nn.Hardtanh(1, 6)": (lambda s, h: s.shifted(h), "shifted", "min=1.0 > 0", "not a ReLU"),
    "torch.clamp(x, min=x)": (lambda s, h: torch.clamp(h, min=h), "clamp", "constant numbers"),
}


@pytest.mark.parametrize("key", list(REFUSED))
def test_what_is_not_a_clipped_relu_is_refused_naming_the_layer(key):
    act, node, *fragments = REFUSED[key]
    model = _one_act(act)
    with pytest.raises(ConversionError) as info:
        from_torch(model, CALIB[:16])
    msg = str(info.value)
    assert msg.startswith(f"node '{node}"), msg
    assert "test_convert_clipped.py:" in msg or "call_module" in msg, msg
    for text in fragments:
        assert text in msg, (text, msg)
    assert "clamp(x, 0, c)" in msg, msg
    report = check(model)
    assert not report.convertible and report.refusal.startswith(f"node '{node}")
