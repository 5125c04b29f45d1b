"""Retracting neurons (a signed IF neuron whose -1 takes back an earlier spike).

The rule (docs/format.md, step 2): after integrating, a neuron fires +1 at
V >= theta (V -= theta); otherwise, if V <= -theta_n and its net spike count is
positive, it fires -1 and V += theta. So its net count never goes below zero,
and, with small currents, stays within a spike and a half of its total input
over theta. The engine runs it bit for bit as the dense reference does, under
every kernel set (tests/data/zzz_retract.npz has 16 and 32 channels, so the
vector paths run); the converter's retract=True makes one per ReLU.
"""

import os

import numpy as np
import pytest

import snncore
from snncore.analysis import spike_trains
from snncore.builder import NetworkBuilder
from snncore.errors import FormatError

import reference

DATA = os.path.join(os.path.dirname(__file__), "data")
ISAS = ("generic", "avx2", "avx512")


def _stored():
    return (snncore.load(os.path.join(DATA, "zzz_retract.npz")),
            np.load(os.path.join(DATA, "zzz_retract.x.npy")))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("encoding", ["analog", "poisson"])
def test_engine_equals_reference(isa, threads, encoding, monkeypatch):
    net, x = _stored()
    monkeypatch.setenv("SNNCORE_ISA", isa)
    if net.isa != isa:
        pytest.skip(f"this CPU has no {isa}")
    res = net.run(x, 24, checkpoints=[3, 11, 24], encoding=encoding, seed=5, threads=threads)
    ref = reference.simulate(net._spec, x, 24, encoding=encoding, seed=5,
                             checkpoints=[3, 11, 24])
    np.testing.assert_array_equal(res.outputs, ref["output"])
    np.testing.assert_array_equal(res.spikes.raw, ref["spikes"])
    np.testing.assert_array_equal(res.synaptic_ops.raw, ref["synops"])


def test_the_stored_network_retracts():
    """Its neurons do send negative spikes (under poisson input: a constant current
    never needs taking back), and no net count ever goes below zero."""
    net, x = _stored()
    trains = spike_trains(net, x[0], ["r", "r2"], 24, encoding="poisson")
    for name, train in trains.items():
        assert (train < 0).any(), f"{name} never retracted: the test would prove nothing"
        assert np.cumsum(train, axis=0).min() >= 0, name


def _regular_spikes(p, timesteps):
    """The input's spikes under regular encoding (docs/format.md): float32 phases."""
    phi = np.zeros(len(p), np.float32)
    out = np.zeros((timesteps, len(p)), np.int64)
    for t in range(timesteps):
        phi = phi + np.float32(p)
        fire = phi >= 1
        out[t] = fire
        phi = np.where(fire, phi - np.float32(1), phi)
    return out


@pytest.mark.parametrize("rates", [(0.5, 0.375), (0.25, 0.75), (0.875, 0.125), (0.125, 0.5)])
@pytest.mark.parametrize("v_init", [0.5, 0.0])
def test_one_neuron_follows_its_total_input(rates, v_init):
    """Current a * s0(t) - b * s1(t) from two regular inputs: the count never goes
    negative, a -1 is sent only while the count is positive, and the membrane
    V = v0 + (total input) - count * theta stays in (-theta_n - b, theta) whenever
    the count is positive (it is exactly that sum: dyadic values)."""
    theta, theta_n, a, b = 1.0, 0.5, 0.25, 0.375
    builder = NetworkBuilder((2,), encoding="regular")
    builder.population("r", (1,), threshold=theta, v_init=v_init, signed=True,
                       threshold_neg=theta_n, retract=True)
    builder.dense("w", "input", "r", np.array([[a, -b]], np.float32))
    builder.population("out", (1,), kind="accumulate")
    builder.dense("o", "r", "out", np.array([[1.0]], np.float32))
    net = builder.build("out")
    T = 40
    x = np.array(rates, np.float32)
    train = spike_trains(net, x, ["r"], T, encoding="regular")["r"][:, 0]
    s = _regular_spikes(np.array(rates), T)
    total = np.cumsum(a * s[:, 0] - b * s[:, 1])
    count = np.cumsum(train)
    before = np.concatenate([[0], count[:-1]])
    assert count.min() >= 0
    assert np.all(before[train < 0] > 0)
    v = v_init * theta + total - count * theta
    assert np.all(v < theta)
    assert np.all(v[count > 0] > -theta_n - b)
    assert np.all(v[(count == 0) & (train == 0)] < theta)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("v_init", [-1.0, 0.0, 0.5, 1.0])
def test_constant_current_alone_matches_the_reference(isa, v_init, monkeypatch):
    """A retracting population fed by the input alone integrates, under analog
    input, a constant current, and the engine then runs the plain pass (a -1
    needs a +1 first, which such a neuron only fires from V >= theta, leaving
    V - theta >= 0 or, with no current, V = 0 for good). Currents below, at and
    above zero, and every v_init up to 1 (a neuron at its threshold from the start,
    with no current, fires once at step 1): the engine equals the rule as the
    reference runs it, and the same network under regular input, which takes the
    retracting pass, does send -1s."""
    rng = np.random.default_rng(3)
    c, h, w = 16, 3, 4
    weight = (rng.integers(-4, 5, size=(c, 2, 1, 1)) / 8).astype(np.float32)
    weight[:4] = 0.0                    # these neurons' current is their bias alone
    bias = (rng.integers(-2, 3, size=c) / 8).astype(np.float32)
    bias[:2] = 0.0                      # and two of them have none: no current at all
    b = NetworkBuilder((2, h, w))
    b.population("r", (c, h, w), threshold=0.75, v_init=v_init, signed=True,
                 threshold_neg=0.375, retract=True, bias=bias)
    b.conv2d("c", "input", "r", weight)
    b.population("out", (3,), kind="accumulate")
    b.dense("o", "r", "out", (rng.integers(-4, 5, size=(3, c * h * w)) / 8).astype(np.float32))
    net = b.build("out")
    monkeypatch.setenv("SNNCORE_ISA", isa)
    if net.isa != isa:
        pytest.skip(f"this CPU has no {isa}")
    x = (rng.integers(0, 9, size=(3, 2, h, w)) / 8).astype(np.float32)
    for encoding in ("analog", "regular"):
        res = net.run(x, 20, checkpoints=[1, 7, 20], encoding=encoding, threads=1)
        ref = reference.simulate(net._spec, x, 20, encoding=encoding, checkpoints=[1, 7, 20])
        np.testing.assert_array_equal(res.outputs, ref["output"], err_msg=encoding)
        np.testing.assert_array_equal(res.spikes.raw, ref["spikes"], err_msg=encoding)
    assert res.spikes.raw[:, -1, 1].min() > 0
    negative = [(spike_trains(net, image, ["r"], 20, encoding="regular")["r"] < 0).any()
                for image in x]
    # (starting at -theta, the neurons rarely reach a +1 and a -1 within 20 steps)
    assert any(negative) or v_init < 0, "no -1 under regular input: the test would prove less"


def test_builder_refuses_what_cannot_retract():
    b = NetworkBuilder((3,))
    with pytest.raises(ValueError, match="must be signed"):
        b.population("r", (2,), retract=True)
    with pytest.raises(ValueError, match="reset 'subtract'"):
        b.population("r", (2,), reset="zero", signed=True, threshold_neg=1.0, retract=True)
    with pytest.raises(ValueError, match="only IF populations"):
        b.population("r", (2,), kind="relay", retract=True)


@pytest.mark.parametrize("edit, message", [
    (dict(retract=True, signed=False), "retract is set but the population is not signed"),
    (dict(retract=True, reset="zero"), "needs reset subtract"),
    (dict(retract="yes"), "'retract' must be true or false, not a string"),
])
def test_file_refusals_name_the_population(edit, message):
    net, _ = _stored()
    meta, arrays = net._to_file()
    pop = next(p for p in meta["populations"] if p["name"] == "r")
    pop.update(edit)
    if not pop.get("signed"):
        pop.pop("signed", None)
        pop.pop("threshold_neg", None)
    with pytest.raises(FormatError, match=message) as info:
        snncore.Network(meta, arrays)
    assert "'r'" in str(info.value)


# -- the converter -------------------------------------------------------------

@pytest.fixture(scope="module")
def mobile(trained, digits):
    x_train, _, x_test, y_test = digits
    return trained("mobile"), x_train[:300], x_test, y_test


def test_from_torch_makes_every_relu_retract(mobile):
    from snncore.convert import from_torch

    model, x_calib, _, _ = mobile
    net = from_torch(model, x_calib, norm="channel", v_init=0.5, retract=True)
    ifs = [p for p in net._spec["populations"] if p["kind"] == "if"]
    assert ifs and all(p["retract"] and p["signed"] for p in ifs)
    for p in ifs:
        np.testing.assert_array_equal(p["threshold_neg"], p["threshold"] / np.float32(2))
    assert "retract" in net.provenance
    assert ", retract" in net.summary()


def test_leaky_relus_keep_their_signed_neurons(trained, digits):
    from snncore.convert import from_torch

    net = from_torch(trained("leaky"), digits[0][:200], retract=True)
    ifs = [p for p in net._spec["populations"] if p["kind"] == "if"]
    assert ifs and all(p["signed"] and not p["retract"] for p in ifs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(retract="yes"), "retract must be True or False"),
    (dict(retract=True, reset="zero"), "needs reset='subtract'"),
])
def test_from_torch_refuses_bad_retract_options(mobile, kwargs, message):
    from snncore.convert import from_torch

    model, x_calib, _, _ = mobile
    with pytest.raises(ValueError, match=message):
        from_torch(model, x_calib, **kwargs)


def test_retracting_tracks_the_ann_better_at_low_timesteps(mobile):
    """On the MobileNet-style digits net at T=8, retracting neurons agree with the
    ANN's predictions more often than plain IF neurons on the same thresholds."""
    from snncore.convert import from_torch

    model, x_calib, x_test, _ = mobile
    import torch
    with torch.no_grad():
        ann = model(torch.from_numpy(x_test)).argmax(1).numpy()
    agree = {}
    for retract in (False, True):
        net = from_torch(model, x_calib, norm="channel", v_init=0.5, retract=retract)
        agree[retract] = float((net.run(x_test, 8, threads=1).predictions == ann).mean())
    assert agree[True] > agree[False], agree


def test_runs_stop_where_the_counts_stop_being_exact():
    """Net counts are float32, exact up to 2^24: a longer run of a network with
    retracting neurons is refused before it starts, by run and by step."""
    net, x = _stored()
    with pytest.raises(ValueError, match="retracting neurons"):
        net.run(x[:1], 2 ** 24 + 1)
    sim = net.simulate(x[0])
    with pytest.raises(ValueError, match=r"0\.\.16777216"):
        sim.step(2 ** 24 + 1)
    plain = snncore.load(os.path.join(DATA, "junction.npz"))
    assert plain._get_engine().max_timesteps == snncore.limits()["max_timesteps"] > 2 ** 24
