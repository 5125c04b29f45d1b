"""The converter on small real data: four networks trained on sklearn's 8x8
digits (tests/models.py), converted with `from_torch` and run by the engine.

Issue "Converter utilities", first bullet: the SNN's predictions agree with
the ANN's on >= 99 % of the test images at T=512 with norm='percentile', for a
ReLU CNN, a BatchNorm VGG-style net, a residual net and a leaky-ReLU net;
every normalisation method lands within 1 percentage point of the ANN at
large T; and the options do what docs/conversion.md says.

Every converted network and every run is cached for the module, so each
configuration is converted and simulated once. A run records the output at
the checkpoints 8, 16, ..., T, so one run answers questions at several T.
"""

import copy
import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import snncore  # noqa: E402
import models  # noqa: E402
from snncore.convert import NORMS, from_torch  # noqa: E402

nn = torch.nn

CALIB = 500          # calibration images: the first 500 training images
MODELS = ("cnn", "vgg", "resnet", "leaky")


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """The ANN passes here are tiny; torch's thread pool only competes with
    the engine's threads (and, on a busy machine, costs more than it gives)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- cached conversions and runs -----------------------------------------------------------

def _data():
    return models.digits()


@functools.lru_cache(maxsize=None)
def _ann(name):
    """(logits, predictions, accuracy) of the trained model on the test split."""
    _, _, x_test, y_test = _data()
    out = models.logits(models.trained(name), x_test)
    pred = out.argmax(1)
    return out, pred, float((pred == y_test).mean())


@functools.lru_cache(maxsize=None)
def _convert(name, opts):
    x_train = _data()[0]
    return from_torch(models.trained(name), x_train[:CALIB], **dict(opts))


def _key(opts):
    return tuple(sorted(dict({"norm": "percentile"}, **opts).items()))


def convert(name, **opts):
    """from_torch(trained model `name`, first 500 training images, **opts), cached
    (norm='percentile' unless given, so the default shares the cache)."""
    return _convert(name, _key(opts))


class Run:
    """A cached run of a converted network on the whole test split."""

    def __init__(self, name, net, timesteps):
        _, _, x_test, y_test = _data()
        self.name = name
        self.net = net
        checkpoints = [t for t in (8, 16, 32, 64, 128, 256) if t < timesteps]
        self.res = net.run(x_test, timesteps, checkpoints=checkpoints)   # the file's encoding
        self.y = y_test

    def _col(self, t):
        hits = np.flatnonzero(self.res.checkpoints == t)
        assert hits.size == 1, f"T={t} was not recorded"
        return int(hits[0])

    def output(self, t):
        return self.res.outputs[:, self._col(t), :].astype(np.float64)

    def agreement(self, t):
        """Fraction of test images where the SNN's argmax is the ANN's."""
        return float((self.output(t).argmax(1) == _ann(self.name)[1]).mean())

    def accuracy(self, t):
        return float((self.output(t).argmax(1) == self.y).mean())


@functools.lru_cache(maxsize=None)
def _run(name, opts, timesteps):
    return Run(name, _convert(name, opts), timesteps)


def run(name, timesteps=512, **opts):
    """Run(convert(name, **opts)) at `timesteps` (checkpoints 8..T), cached."""
    return _run(name, _key(opts), timesteps)


def ann_accuracy(name):
    return _ann(name)[2]


# -- the trained networks ------------------------------------------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_ann_is_accurate(name, trained, digits):
    """Each tiny ANN is a fair subject: > 90 % on the 497 test images."""
    model = trained(name)
    assert not model.training
    _, _, x_test, y_test = digits
    assert len(x_test) == 497 and x_test.min() >= 0 and x_test.max() <= 1
    acc = (models.logits(model, x_test).argmax(1) == y_test).mean()
    assert acc == ann_accuracy(name) > 0.90


def test_training_is_deterministic(digits):
    """The same seed gives the same weights (the cache is not hiding noise)."""
    x_train, y_train = digits[0][:200], digits[1][:200]
    nets = []
    for _ in range(2):
        torch.manual_seed(3)
        nets.append(models.train(models.relu_cnn(), x_train, y_train, 1, seed=3))
    for pa, pb in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.equal(pa, pb)


# -- the requirement: >= 99 % agreement at T=512 with norm='percentile' --------------------

@pytest.mark.parametrize("name", MODELS)
def test_percentile_agreement_at_512(name):
    r = run(name, norm="percentile")
    assert r.net.provenance["norm"] == "percentile"
    assert r.agreement(512) >= 0.99, (name, r.agreement(512))
    # and so its accuracy is the ANN's within a point
    assert abs(r.accuracy(512) - ann_accuracy(name)) <= 0.01


def test_agreement_grows_with_timesteps():
    """Rate coding converges: more steps, no worse agreement (8 -> 512)."""
    r = run("resnet", norm="percentile")
    assert r.agreement(8) < r.agreement(64) <= r.agreement(512)


# -- every normalisation method within 1 point of the ANN at large T -----------------------

# T for each method on the ReLU CNN. 'model' (Diehl's weight-bound thresholds) is the
# slowest to converge: on this CNN it is 0.4 points short at T=256 and exact at T=512.
LARGE_T = {"model": 512, "max": 512, "percentile": 512, "channel": 512, "ltb": 512,
           "spike": 512}


def test_every_norm_is_tested():
    assert set(LARGE_T) | {"none"} == set(NORMS)


@pytest.mark.parametrize("norm", sorted(LARGE_T))
def test_norm_within_one_point_of_ann(norm):
    t = LARGE_T[norm]
    r = run("cnn", timesteps=t, norm=norm)
    assert r.net.provenance["norm"] == norm
    assert abs(r.accuracy(t) - ann_accuracy("cnn")) <= 0.01, (norm, r.accuracy(t))


def test_spike_norm_on_residual_net():
    """Spike-Norm balances the junctions of the residual net too."""
    r = run("resnet", norm="spike")
    prov = r.net.provenance
    assert prov["spike_norm_input"] == "poisson" and prov["spike_norm_steps"] == 64
    assert abs(r.accuracy(512) - ann_accuracy("resnet")) <= 0.01


def test_channel_and_ltb_thresholds_are_per_channel():
    for norm in ("channel", "ltb"):
        net = convert("cnn", norm=norm)
        for lo, hi in net.provenance["thresholds"].values():
            assert lo < hi


def test_norm_none_saturates_on_the_raw_cnn():
    """norm='none' is Cao's threshold of 1 on the ANN's weights as they are. This
    CNN's activations reach about 4 (first layer) and 19 (second), while an IF
    neuron fires at most once per step, so everything above 1 is clipped: the
    error is systematic, not a convergence lag, and no T fixes it. What 'none'
    is for - a network whose weights are already normalised - is tested below."""
    r = run("cnn", timesteps=128, norm="none")
    assert r.net.provenance["thresholds"] == {"relu_1": [1.0, 1.0], "relu_4": [1.0, 1.0]}
    assert r.accuracy(128) < ann_accuracy("cnn") - 0.10
    assert r.accuracy(128) <= r.accuracy(32) + 0.01       # more steps do not help


def _normalised_copy(model, x):
    """The ReLU CNN with weights rescaled by hand (Diehl's data-based rule with
    the maximum): every hidden activation on x becomes <= 1, and the logits are
    unchanged, since ReLU and average pooling commute with positive scaling."""
    model = copy.deepcopy(model)
    conv1, conv2, fc = model[0], model[3], model[7]
    with torch.no_grad():
        l1 = float(model[:2](torch.from_numpy(x)).max())     # largest relu_1 activation
        l2 = float(model[:5](torch.from_numpy(x)).max())     # largest relu_4 activation
        conv1.weight /= l1
        conv1.bias /= l1
        conv2.weight *= l1 / l2
        conv2.bias /= l2
        fc.weight *= l2
    return model


def test_norm_none_matches_a_normalised_ann():
    """With weights already normalised (activations <= 1), norm='none' lands
    within a point of the ANN (at T=256, as 'max' does)."""
    x_train, _, x_test, y_test = _data()
    model = _normalised_copy(models.trained("cnn"), x_train[:CALIB])
    logits = models.logits(model, x_test)
    ann = models.logits(models.trained("cnn"), x_test)
    np.testing.assert_allclose(logits, ann, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        assert float(model[:2](torch.from_numpy(x_train[:CALIB])).max()) <= 1 + 1e-5
        assert float(model[:5](torch.from_numpy(x_train[:CALIB])).max()) <= 1 + 1e-5
    net = from_torch(model, x_train[:CALIB], norm="none")
    res = net.run(x_test, 256)
    assert abs(res.accuracy(y_test) - ann_accuracy("cnn")) <= 0.01
    assert (res.predictions == ann.argmax(1)).mean() >= 0.99


# -- neuron and read-out options -----------------------------------------------------------

def test_reset_zero_under_counts():
    """Reset to zero throws away the charge above threshold: fewer spikes in the
    first layer (whose input current is the same either way) and a larger
    distance from the ANN's logits than reset by subtraction (Rueckauer 2017)."""
    sub = run("cnn", timesteps=256)
    zero = run("cnn", timesteps=256, reset="zero")
    assert zero.net.provenance["reset"] == "zero"
    assert all(p["reset"] == "zero" for p in zero.net._spec["populations"]
               if p["kind"] == "if")
    assert zero.res.spikes["relu_1"] < sub.res.spikes["relu_1"]
    ann = _ann("cnn")[0]
    err_sub = np.abs(sub.output(256) - ann).mean()
    err_zero = np.abs(zero.output(256) - ann).mean()
    assert err_zero > 2 * err_sub, (err_zero, err_sub)


def test_half_threshold_start_helps_at_low_timesteps():
    """v_init=0.5 rounds rates to nearest instead of down: at T=8 it agrees
    with the ANN at least as often as v_init=0."""
    base = run("cnn")
    half = run("cnn", timesteps=16, v_init=0.5)
    assert half.net.provenance["v_init"] == 0.5
    assert half.agreement(8) >= base.agreement(8)


@pytest.mark.parametrize("name", MODELS)
def test_low_latency_options(name, trained):
    """The recommended combination: LTB thresholds, the half-threshold start
    and bias calibration at T for plain feed-forward nets; per-channel
    percentiles, retracting neurons and the delayed read-out besides for
    residual ones. At T=16 it agrees with the ANN at least as often as plain
    percentile normalisation."""
    from snncore.convert import low_latency_options

    opts = low_latency_options(trained(name), 16)
    if name == "resnet":
        assert opts == dict(norm="channel", v_init=0.5, retract=True, readout_delay="auto",
                            bias_calibration=True, timesteps=16)
    else:
        assert opts == dict(norm="ltb", v_init=0.5, bias_calibration=True, timesteps=16)
    r = Run(name, convert(name, **opts), 16)
    assert r.agreement(16) >= run(name).agreement(16)
    with pytest.raises(ValueError, match="timesteps"):
        low_latency_options(trained(name), 0)


class _Concat(torch.nn.Module):
    """A shortcut beside a deep path, joined by concatenation (ShuffleNet's way)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 64, 10)

    def forward(self, x):
        return self.fc(torch.cat([x, torch.relu(self.conv(x))], 1).flatten(1))


def _plain_chain():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(36, 10))


def _max_pooled():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(36, 10))


@pytest.mark.parametrize("make, timesteps, expected", [
    (_plain_chain, 8, {"norm": "ltb"}),
    (_plain_chain, 31, {"norm": "ltb"}),
    (_plain_chain, 32, {"norm": "channel"}),
    (_plain_chain, 256, {"norm": "channel"}),
    (_max_pooled, 8, {"norm": "channel", "retract": True}),
    (_max_pooled, 32, {"norm": "channel", "retract": True, "percentile": 99.99}),
    (_Concat, 31, {"norm": "channel", "retract": True, "readout_delay": "auto"}),
    (_Concat, 32, {"norm": "channel", "retract": True, "readout_delay": "auto",
                   "percentile": 99.99}),
])
def test_low_latency_options_follow_the_structure(make, timesteps, expected):
    """LTB for plain chains below 32 steps, per-channel percentiles from there
    on; per-channel percentiles and retracting neurons where max pooling
    selects the largest activations; and the delayed read-out besides where a
    concatenation joins paths of different depths; in those two, the 99.99th
    percentile from 32 steps on."""
    from snncore.convert import low_latency_options
    from snncore.convert.lowlatency import CHANNEL_FROM_TIMESTEPS, LONG_RUN_PERCENTILE

    assert (CHANNEL_FROM_TIMESTEPS, LONG_RUN_PERCENTILE) == (32, 99.99)
    opts = low_latency_options(make(), timesteps)
    assert opts == dict(v_init=0.5, bias_calibration=True, timesteps=timesteps, **expected)


def test_low_latency_options_spend_fewer_spikes_from_32_steps():
    """From 32 steps on, a plain chain's per-channel percentiles fire fewer
    spikes than LTB's lower thresholds would (the reason for the switch), and
    agree with the ANN as often within a few images."""
    from snncore.convert import low_latency_options

    opts = low_latency_options(models.trained("cnn"), 32)
    assert opts["norm"] == "channel"
    chosen = Run("cnn", convert("cnn", **opts), 32)
    ltb = Run("cnn", convert("cnn", **dict(opts, norm="ltb")), 32)
    spikes = [r.res.spikes.total_per_image()[-1] for r in (chosen, ltb)]
    assert spikes[0] < 0.9 * spikes[1]
    assert chosen.agreement(32) >= ltb.agreement(32) - 0.03


def test_low_latency_options_clip_less_on_long_runs_of_junction_nets():
    """From 32 steps on, a residual net's recipe takes the 99.99th percentile:
    fewer spikes than at the 99.9th, and as close to the ANN within a few
    images (the reason for the choice)."""
    from snncore.convert import low_latency_options

    opts = low_latency_options(models.trained("resnet"), 32)
    assert opts["percentile"] == 99.99
    chosen = Run("resnet", convert("resnet", **opts), 32)
    lower = Run("resnet", convert("resnet", **dict(opts, percentile=99.9)), 32)
    spikes = [r.res.spikes.total_per_image()[-1] for r in (chosen, lower)]
    assert spikes[0] < spikes[1]
    assert chosen.agreement(32) >= lower.agreement(32) - 0.03


def test_low_latency_options_refuses_what_it_cannot_read():
    """Not a model, or a model torch.fx cannot trace: a clear error, never the
    feed-forward options by default."""
    from snncore.convert import ConversionError, low_latency_options

    with pytest.raises(TypeError, match="torch.nn.Module or a torch.export.ExportedProgram, "
                                        "not str"):
        low_latency_options("model.pt", 16)

    class Branchy(torch.nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x     # data-dependent control flow

    with pytest.raises(ConversionError, match="could not trace"):
        low_latency_options(Branchy(), 16)


def test_spiking_readout():
    r = run("cnn", readout="spikes")
    out = [p for p in r.net._spec["populations"] if p["name"] == r.net.output_name][0]
    assert out["kind"] == "if"
    assert "__output__" in r.net.provenance["thresholds"]
    assert r.agreement(512) >= 0.97


def test_poisson_encoding():
    r = run("cnn", encoding="poisson")
    assert r.net.encoding == "poisson"            # the file's hint, used by run()
    assert r.res.encoding == "poisson"
    assert abs(r.accuracy(512) - ann_accuracy("cnn")) <= 0.02


def test_bias_calibration_at_16_steps():
    """Light bias calibration for T=16: agreement at T=16 is not worse by more
    than a point (on this net it is better: about 97.6 % -> 99.0 %)."""
    base = run("cnn")
    cal = Run("cnn", convert("cnn", bias_calibration=True, timesteps=16), 16)
    prov = cal.net.provenance["bias_calibration"]
    assert prov == {"timesteps": 16, "images": 256, "encoding": "analog"}
    assert cal.agreement(16) >= base.agreement(16) - 0.01
    assert cal.agreement(16) >= base.agreement(16)


def test_readout_delay_auto():
    net = convert("cnn", readout_delay="auto", timesteps=32)
    prov = net.provenance["readout_delay"]
    assert net.readout_start >= 1
    assert prov["start"] == net.readout_start
    assert prov["chosen_at_timesteps"] == 32 and prov["images"] == 256
    assert 0 <= prov["agreement_with_ann"] <= 1
    r = Run("cnn", net, 32)
    assert r.res.readout_start == net.readout_start          # the hint is the default
    assert r.agreement(32) >= run("cnn").agreement(32) - 0.01


def test_readout_delay_fixed_step():
    net = convert("cnn", readout_delay=3)
    assert net.readout_start == 3
    assert net.provenance["readout_delay"] == {"start": 3}


# -- leaky ReLU: signed neurons ------------------------------------------------------------

def test_leaky_relu_becomes_signed_neurons():
    r = run("leaky")
    spiking = [p for p in r.net._spec["populations"] if p["kind"] == "if"]
    assert len(spiking) == 2 and all(p["signed"] for p in spiking)
    for p in spiking:           # imbalanced thresholds: -lambda / alpha below
        np.testing.assert_allclose(p["threshold_neg"], p["threshold"] / 0.1, rtol=1e-6)
    assert " / -" in r.net.summary()
    assert r.agreement(512) >= 0.99


def test_signed_neurons_matter():
    """The same weights with plain ReLU (what a converter without signed neurons
    would build) lose about 3.6 points on this data; the signed SNN keeps the
    leaky ANN's accuracy."""
    x_train, _, x_test, y_test = _data()
    model = copy.deepcopy(models.trained("leaky"))
    for i, layer in enumerate(model):
        if isinstance(layer, nn.LeakyReLU):
            model[i] = nn.ReLU()
    net = from_torch(model, x_train[:CALIB])
    assert not any(p["signed"] for p in net._spec["populations"] if p["kind"] == "if")
    relu_acc = net.run(x_test, 256).accuracy(y_test)
    signed_acc = run("leaky").accuracy(256)
    assert relu_acc <= signed_acc - 0.02, (relu_acc, signed_acc)


# -- provenance, files, calibration data ---------------------------------------------------

def test_provenance_records_the_choices():
    net = convert("vgg", norm="percentile")
    prov = net.provenance
    assert prov["norm"] == "percentile"
    assert prov["percentile"] == 99.9
    assert prov["calibration_images"] == CALIB
    assert prov["reset"] == "subtract" and prov["v_init"] == 0.0
    assert prov["readout"] == "membrane"
    assert prov["converter"].startswith("snncore") and prov["torch"] == torch.__version__
    spiking = [p.name for p in net.populations if p.kind == "if"]
    assert sorted(prov["thresholds"]) == sorted(spiking)
    for lo, hi in prov["thresholds"].values():
        assert 0 < lo == hi          # layer-wise thresholds
    notes = "\n".join(prov["notes"])
    assert notes.count("BatchNorm2d folded into") == 4, notes
    assert notes.count("dropout removed") == 2, notes


def test_provenance_of_the_residual_net_notes_its_batchnorms():
    notes = "\n".join(convert("resnet").provenance["notes"])
    assert notes.count("BatchNorm2d folded into") == 6, notes   # stem, 2 x 2 blocks, projection


def test_save_load_round_trip(tmp_path):
    _, _, x_test, _ = _data()
    for name in ("resnet", "leaky"):
        net = convert(name)
        path = tmp_path / f"{name}.npz"
        net.save(path)
        back = snncore.load(path)
        assert back.provenance == net.provenance
        assert back.readout_start == net.readout_start and back.encoding == net.encoding
        a = net.run(x_test[:100], 64, checkpoints=[16, 32])
        b = back.run(x_test[:100], 64, checkpoints=[16, 32])
        np.testing.assert_array_equal(a.outputs, b.outputs)
        np.testing.assert_array_equal(a.spikes.raw, b.spikes.raw)
        np.testing.assert_array_equal(a.synaptic_ops.raw, b.synaptic_ops.raw)


def _thresholds(net):
    return {p["name"]: np.asarray(p["threshold"]) for p in net._spec["populations"]
            if p["kind"] == "if"}


def test_dataloader_calibration_equals_tensor_calibration():
    x_train, y_train, _, _ = _data()
    x, y = torch.from_numpy(x_train[:CALIB]), torch.from_numpy(y_train[:CALIB])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=128,
                                         shuffle=False)
    model = models.trained("cnn")
    # 'channel' uses both the layer and the per-channel histograms
    a = from_torch(model, loader, norm="channel")
    b = from_torch(model, x, norm="channel")
    assert a.provenance["calibration_images"] == CALIB
    ta, tb = _thresholds(a), _thresholds(b)
    assert ta.keys() == tb.keys() == {"relu_1", "relu_4"}
    for k in ta:
        assert ta[k].shape == (16,) if k == "relu_1" else (32,)
        np.testing.assert_allclose(ta[k], tb[k], rtol=1e-6)


def test_generator_calibration_is_refused():
    x_train = _data()[0]
    batches = (x_train[i:i + 100] for i in range(0, CALIB, 100))
    with pytest.raises(TypeError, match="re-iterable"):
        from_torch(models.trained("cnn"), batches)


def test_uint8_calibration_images():
    """uint8 images are read as x / 255, as Network.run reads them: the
    thresholds match the float images' and the network agrees with the ANN on
    uint8 test images."""
    x_train, _, x_test, _ = _data()
    to_u8 = lambda a: np.round(a * 255).astype(np.uint8)    # noqa: E731
    model = models.trained("cnn")
    net = from_torch(model, to_u8(x_train[:CALIB]))
    ref = convert("cnn")
    for k, t in _thresholds(net).items():
        np.testing.assert_allclose(t, _thresholds(ref)[k], rtol=0.01)
    pred = net.run(to_u8(x_test), 256).predictions
    assert (pred == _ann("cnn")[1]).mean() >= 0.99
