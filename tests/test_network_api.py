"""The public `Network` / `NetworkBuilder` API: files, summary, MAC counts,
step-by-step simulation, properties, limits, builder errors, immutability, and
errors reported by the C core named after the population or projection."""

import doctest
import io
import zipfile

import numpy as np
import pytest

import snncore
import snncore.builder
import snncore.network
from snncore import _limits
from snncore.errors import FormatError
from results import assert_same_result


# ---------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------

def small_net(encoding="analog"):
    """Every kind and op, with dyadic values:

    input (2, 6, 6) -conv1 3x3 p1-> c1 (if, per-channel threshold, bias) (4, 6, 6)
      -pool 2-> p1 (relay) (4, 3, 3) -conv2 2x2-> c2 (signed if, zero reset) (3, 2, 2)
      -gain (identity)-> g (relay) (3, 2, 2) -fc (dense)-> out (accumulate) (5,)
    """
    rng = np.random.default_rng(12)

    def w(*shape):
        return (rng.integers(-4, 5, shape) / 8).astype(np.float32)

    b = snncore.NetworkBuilder((2, 6, 6), encoding=encoding, rate=0.75)
    b.population("c1", (4, 6, 6), threshold=np.array([0.5, 1.0, 0.75, 0.25], np.float32),
                 bias=w(4), v_init=0.5)
    b.conv2d("conv1", "input", "c1", w(4, 2, 3, 3), padding=1)
    b.population("p1", (4, 3, 3), kind="relay")
    b.avgpool2d("pool", "c1", "p1", 2)
    b.population("c2", (3, 2, 2), threshold=1.0, signed=True, threshold_neg=0.5, reset="zero")
    b.conv2d("conv2", "p1", "c2", w(3, 4, 2, 2))
    b.population("g", (3, 2, 2), kind="relay", bias=w(3, 2, 2))
    b.identity("gain", "c2", "g", np.array([1.0, -0.5, 2.0], np.float32))
    b.population("out", (5,), kind="accumulate")
    b.dense("fc", "g", "out", w(5, 12))
    return b.build("out", provenance={"norm": "max", "percentile": 99.9, "note": [1, 2]})


SMALL_MACS = {"conv1": 4 * 6 * 6 * 2 * 3 * 3,      # 2592
              "pool": 0,
              "conv2": 3 * 2 * 2 * 4 * 2 * 2,      # 192
              "gain": 0,
              "fc": 5 * 12}                        # 60
SMALL_TOTAL = 2592 + 192 + 60


def fashion_cnn():
    """Conv2d(1,32,3,p1)-ReLU-AvgPool2d(2)-Conv2d(32,64,3,p1)-ReLU-AvgPool2d(2)
    -Flatten-Linear(3136,128)-ReLU-Linear(128,10), random weights."""
    rng = np.random.default_rng(0)

    def w(*shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    b = snncore.NetworkBuilder((1, 28, 28))
    b.population("conv1", (32, 28, 28), threshold=1.0, bias=w(32))
    b.conv2d("conv1", "input", "conv1", w(32, 1, 3, 3), padding=1)
    b.population("pool1", snncore.avgpool2d_shape((32, 28, 28), 2), kind="relay")
    b.avgpool2d("pool1", "conv1", "pool1", 2)
    b.population("conv2", (64, 14, 14), threshold=1.0, bias=w(64))
    b.conv2d("conv2", "pool1", "conv2", w(64, 32, 3, 3), padding=1)
    b.population("pool2", (64, 7, 7), kind="relay")
    b.avgpool2d("pool2", "conv2", "pool2", 2)
    b.population("fc1", (128,), threshold=1.0, bias=w(128))
    b.dense("fc1", "pool2", "fc1", w(128, 3136))
    b.population("fc2", (10,), kind="accumulate", bias=w(10))
    b.dense("fc2", "fc1", "fc2", w(10, 128))
    return b.build("fc2")


def images(n, shape=(2, 6, 6), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 9, (n,) + shape) / 8).astype(np.float32)


def all_runs(net, x):
    return [net.run(x, 12, encoding=enc, checkpoints=[3, 7], seed=99)
            for enc in ("analog", "poisson", "regular")]


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("target", ["path", "str", "bytesio"])
def test_save_load_round_trip(tmp_path, compressed, target):
    net = small_net()
    if target == "bytesio":
        dest = io.BytesIO()
        net.save(dest, compressed=compressed)
        dest.seek(0)
    else:
        dest = tmp_path / "net.npz" if target == "path" else str(tmp_path / "net.npz")
        net.save(dest, compressed=compressed)
    if target != "bytesio":
        with zipfile.ZipFile(dest) as zf:
            want = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
            assert all(i.compress_type == want for i in zf.infolist())
    back = snncore.load(dest)
    assert back.summary() == net.summary()
    assert back.populations == net.populations
    assert back.projections == net.projections
    assert back.provenance == net.provenance
    assert back.encoding == net.encoding
    assert back.ann_macs() == net.ann_macs()
    x = images(4)
    for a, b in zip(all_runs(net, x), all_runs(back, x)):
        assert_same_result(a, b)


def test_save_is_stable_across_load(tmp_path):
    from npzfile import read_npz
    net = small_net()
    first = io.BytesIO()
    net.save(first)
    meta1, arrays1 = read_npz(io.BytesIO(first.getvalue()))
    second = io.BytesIO()
    snncore.load(io.BytesIO(first.getvalue())).save(second)
    meta2, arrays2 = read_npz(io.BytesIO(second.getvalue()))
    assert meta1 == meta2
    assert arrays1.keys() == arrays2.keys()
    for k in arrays1:
        np.testing.assert_array_equal(arrays1[k], arrays2[k])
    # and from then on the bytes are identical
    third = io.BytesIO()
    snncore.load(io.BytesIO(second.getvalue())).save(third)
    assert second.getvalue() == third.getvalue()


def test_save_uses_the_path_as_given(tmp_path):
    small_net().save(tmp_path / "model.snn")
    assert (tmp_path / "model.snn").exists()
    assert not (tmp_path / "model.snn.npz").exists()
    snncore.load(tmp_path / "model.snn")


def test_saved_file_records_the_producer(tmp_path):
    import json
    small_net().save(tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz", allow_pickle=False) as npz:
        meta = json.loads(npz["__snncore__"].tobytes().decode())
    assert meta["producer"] == "snncore " + snncore.__version__
    assert meta["format"] == "snncore" and meta["version"] == 1
    assert meta["provenance"] == {"norm": "max", "percentile": 99.9, "note": [1, 2]}


def test_validate_passes_on_a_good_network():
    net = small_net()
    assert net.validate() is None
    assert fashion_cnn().validate() is None
    # validation leaves the network as it was
    x = images(2)
    before = all_runs(net, x)
    net.validate()
    for a, b in zip(before, all_runs(net, x)):
        assert_same_result(a, b)


def test_validate_reruns_the_checks():
    net = small_net()
    net.validate()
    pop = next(p for p in net._spec["populations"] if p["kind"] == "if")
    pop["v_init"] = 5.0         # damage the description behind the network's back
    with pytest.raises(FormatError, match="v_init must be in"):
        net.validate()


# ---------------------------------------------------------------------------
# Summary and MACs
# ---------------------------------------------------------------------------

def test_ann_macs_by_hand():
    macs = small_net().ann_macs()
    assert macs == SMALL_MACS
    assert all(type(v) is int for v in macs.values())
    assert list(macs) == ["conv1", "pool", "conv2", "gain", "fc"]


def test_summary_mentions_everything():
    net = small_net()
    text = net.summary()
    for p in net.populations:
        assert p.name in text
        assert str(p.shape) in text
        assert p.kind in text
    for q in net.projections:
        assert q.name in text
        assert f"{q.source} -> {q.target}" in text
        assert q.op in text
    for q, macs in SMALL_MACS.items():
        assert f"{macs:,}" in text
    assert f"{SMALL_TOTAL:,} ANN multiply-accumulates per image" in text
    assert "2,844" in text
    assert "(2, 6, 6)" in text and "(5,)" in text
    assert "percentile=99.9" in text


def test_describe_is_plain_json_in_a_fixed_order(tmp_path):
    import json

    net = small_net()
    d = net.describe()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert list(d) == ["format_version", "producer", "input", "output", "readout_start",
                       "populations", "order", "projections", "totals", "provenance"]
    assert d["format_version"] == _limits.FORMAT_VERSION
    assert d["input"] == {"population": "input", "shape": [2, 6, 6], "encoding": "analog",
                          "rate": 0.75, "uint8_scale": pytest.approx(1 / 255)}
    assert d["output"] == {"name": "out", "kind": "accumulate", "shape": [5]}
    assert [p["name"] for p in d["populations"]] == [p.name for p in net.populations]
    assert [p["shape"] for p in d["populations"]] == [list(p.shape) for p in net.populations]
    pops = {p["name"]: p for p in d["populations"]}
    assert pops["c1"]["threshold"] == {"channels": 4, "min": 0.25, "max": 1.0}
    assert pops["c1"]["v_init"] == 0.5 and pops["c1"]["reset"] == "subtract"
    assert pops["c1"]["signed"] is False and "threshold_neg" not in pops["c1"]
    assert pops["c1"]["bias"] == "per channel" and pops["g"]["bias"] == "per neuron"
    assert pops["c2"]["threshold"] == 1.0 and pops["c2"]["threshold_neg"] == 0.5
    assert pops["c2"]["signed"] is True and pops["c2"]["reset"] == "zero"
    assert "threshold" not in pops["p1"] and pops["p1"]["neurons"] == 36
    projs = {q["name"]: q for q in d["projections"]}
    assert [q["name"] for q in d["projections"]] == list(SMALL_MACS)
    assert {n: q["ann_macs"] for n, q in projs.items()} == SMALL_MACS
    assert projs["conv1"]["kernel"] == [3, 3] and projs["conv1"]["padding"] == [1, 1]
    assert projs["pool"]["stride"] == [2, 2] and projs["pool"]["weights"] == 0
    assert "kernel" not in projs["fc"] and projs["fc"]["weights"] == 60
    assert (projs["gain"]["source"], projs["gain"]["target"]) == ("c2", "g")
    assert d["totals"] == {"neurons": 144 + 36 + 12 + 12 + 5, "weights": 72 + 48 + 3 + 60,
                           "ann_macs": SMALL_TOTAL}
    assert d["provenance"] == {"norm": "max", "percentile": 99.9, "note": [1, 2]}
    net.save(tmp_path / "n.npz")
    back = snncore.load(tmp_path / "n.npz").describe()
    assert back["producer"].startswith("snncore ")
    assert {k: v for k, v in back.items() if k != "producer"} == \
        {k: v for k, v in d.items() if k != "producer"}


def test_summary_changes_with_the_network():
    """The summary is computed from the network, not canned."""
    b = snncore.NetworkBuilder((3, 5, 5))
    b.population("only", (2, 5, 5), kind="accumulate")
    b.conv2d("k", "input", "only", np.ones((2, 3, 3, 3), np.float32), padding=1)
    text = b.build("only").summary()
    assert f"{2 * 5 * 5 * 3 * 9:,} ANN multiply-accumulates" in text
    assert "c1" not in text and "only" in text and "(2, 5, 5)" in text


def test_fashion_mnist_cnn_macs():
    net = fashion_cnn()
    macs = net.ann_macs()
    assert macs == {"conv1": 32 * 28 * 28 * 1 * 9, "pool1": 0, "conv2": 64 * 14 * 14 * 32 * 9,
                    "pool2": 0, "fc1": 3136 * 128, "fc2": 128 * 10}
    assert sum(macs.values()) == 4_241_152
    assert "4,241,152 ANN multiply-accumulates per image" in net.summary()
    assert net.input_shape == (1, 28, 28) and net.output_shape == (10,)
    res = net.run(np.random.default_rng(1).uniform(0, 1, (2, 1, 28, 28)), timesteps=4)
    assert res.output.shape == (2, 10) and np.isfinite(res.output).all()


# ---------------------------------------------------------------------------
# Step-by-step simulation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["analog", "poisson", "regular"])
def test_simulate_3_then_5_equals_run_of_8(encoding):
    net = small_net()
    x = images(3, seed=4)
    res = net.run(x[2:3], timesteps=8, encoding=encoding, seed=11, first_index=2,
                  checkpoints=[3])
    sim = net.simulate(x[2], encoding=encoding, seed=11, image_index=2)
    assert sim.time == 0
    sim.step(3)
    assert sim.time == 3
    np.testing.assert_array_equal(sim.output, res.outputs[0, 0])
    sim.step(0)
    sim.step(5)
    assert sim.time == 8
    out = sim.output
    assert out.shape == (5,) and out.dtype == np.float32
    np.testing.assert_array_equal(out, res.output[0])
    spikes, synops = sim.counters()
    assert spikes == dict(zip(res.spikes.names, res.spikes.raw[0, -1].tolist()))
    assert synops == dict(zip(res.synaptic_ops.names, res.synaptic_ops.raw[0, -1].tolist()))
    assert list(spikes) == [p.name for p in net.populations]
    assert list(synops) == [q.name for q in net.projections]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("encoding", ["analog", "poisson"])
def test_profile_times_every_population_and_projection(encoding, threads):
    """profile=True adds the engine's time per population and projection and
    changes nothing else, for one image on a team of threads as for a batch."""
    net = small_net()
    x = images(2, seed=6)
    plain = net.run(x[:1], 12, encoding=encoding, checkpoints=[5], threads=threads)
    timed = net.run(x[:1], 12, encoding=encoding, checkpoints=[5], threads=threads, profile=True)
    assert_same_result(plain, timed)
    assert plain.profile is None
    assert list(timed.profile) == ["populations", "projections"]
    assert list(timed.profile["populations"]) == [p.name for p in net.populations]
    assert list(timed.profile["projections"]) == [q.name for q in net.projections]
    seconds = list(timed.profile["populations"].values()) + list(timed.profile["projections"].values())
    assert all(isinstance(v, float) and v >= 0 for v in seconds)
    assert sum(timed.profile["projections"].values()) > 0   # the engine did synaptic work
    batch = net.run(x, 12, encoding=encoding, threads=threads, profile=True)
    assert sum(batch.profile["projections"].values()) > 0


def test_simulate_one_step_at_a_time():
    net = small_net()
    x = images(1, seed=5)[0]
    res = net.run(x, 6, encoding="poisson", seed=3, checkpoints=range(1, 7))
    sim = net.simulate(x, encoding="poisson", seed=3)
    for t in range(6):
        sim.step()
        np.testing.assert_array_equal(sim.output, res.outputs[0, t])


def test_simulate_image_index_selects_the_stream():
    net = small_net()
    x = images(1, seed=6)[0]
    a = net.simulate(x, encoding="poisson", seed=1, image_index=0)
    b = net.simulate(x, encoding="poisson", seed=1, image_index=1)
    a.step(12)
    b.step(12)
    assert a.counters()[0]["input"] != b.counters()[0]["input"] or \
        not np.array_equal(a.output, b.output)


def test_simulate_output_before_a_step_raises():
    sim = small_net().simulate(images(1)[0])
    with pytest.raises(ValueError, match="step"):
        sim.output
    sim.step(0)
    with pytest.raises(ValueError, match="step"):
        sim.output
    spikes, _ = sim.counters()
    assert set(spikes.values()) == {0}


def test_simulate_refuses_bad_arguments():
    net = small_net()
    with pytest.raises(ValueError, match="one image"):
        net.simulate(images(2))
    with pytest.raises(ValueError, match="unknown encoding"):
        net.simulate(images(1)[0], encoding="spikes")
    with pytest.raises(ValueError, match="image_index"):
        net.simulate(images(1)[0], image_index=-1)
    with pytest.raises(ValueError, match="seed"):
        net.simulate(images(1)[0], seed=2 ** 64)
    with pytest.raises(ValueError, match="rate"):
        net.simulate(images(1)[0], rate=0.0)
    sim = net.simulate(images(1)[0])
    with pytest.raises(ValueError, match="n must be"):
        sim.step(-1)
    with pytest.raises(TypeError, match="n must be an integer"):
        sim.step(1.5)


def test_simulate_takes_uint8_and_a_batch_of_one():
    net = small_net()
    u8 = np.random.default_rng(7).integers(0, 256, (1, 2, 6, 6), dtype=np.uint8)
    sim = net.simulate(u8)
    sim.step(4)
    np.testing.assert_array_equal(sim.output, net.run(u8, 4).output[0])


# ---------------------------------------------------------------------------
# Properties and limits
# ---------------------------------------------------------------------------

def test_properties():
    net = small_net(encoding="regular")
    assert net.input_shape == (2, 6, 6)
    assert net.output_shape == (5,)
    assert net.output_name == "out"
    assert net.encoding == "regular"
    pops = net.populations
    assert isinstance(pops, tuple)
    assert [tuple(p) for p in pops] == [
        ("input", "input", (2, 6, 6)), ("c1", "if", (4, 6, 6)), ("p1", "relay", (4, 3, 3)),
        ("c2", "if", (3, 2, 2)), ("g", "relay", (3, 2, 2)), ("out", "accumulate", (5,))]
    assert isinstance(pops[0], snncore.Population)
    assert pops[1].name == "c1" and pops[1].kind == "if" and pops[1].shape == (4, 6, 6)
    projs = net.projections
    assert [tuple(q) for q in projs] == [
        ("conv1", "conv2d", "input", "c1"), ("pool", "avgpool2d", "c1", "p1"),
        ("conv2", "conv2d", "p1", "c2"), ("gain", "identity", "c2", "g"),
        ("fc", "dense", "g", "out")]
    assert isinstance(projs[0], snncore.Projection)
    assert projs[4].source == "g" and projs[4].target == "out"
    assert net.provenance == {"norm": "max", "percentile": 99.9, "note": [1, 2]}
    r = repr(net)
    assert "6 populations" in r and "5 projections" in r and "'out'" in r


def test_provenance_is_a_copy():
    net = small_net()
    prov = net.provenance
    prov["norm"] = "changed"
    assert net.provenance["norm"] == "max"


def test_default_encoding_and_no_provenance():
    b = snncore.NetworkBuilder((3,))
    b.population("o", (2,), kind="accumulate")
    b.dense("d", "input", "o", np.ones((2, 3), np.float32))
    net = b.build("o")
    assert net.encoding == "analog"
    assert net.provenance == {}
    assert net.input_shape == (3,) and net.output_shape == (2,)


def test_output_shape_of_a_3d_output():
    b = snncore.NetworkBuilder((1, 3, 3))
    b.population("o", (2, 3, 3), threshold=0.5)
    b.conv2d("k", "input", "o", np.ones((2, 1, 1, 1), np.float32))
    net = b.build("o")
    assert net.output_shape == (2, 3, 3)
    assert net.run(np.ones((1, 3, 3), np.float32), 4).output.shape == (1, 18)


def test_limits_match_the_python_constants():
    lim = snncore.limits()
    assert lim == {"max_dim": _limits.MAX_DIM, "max_neurons": _limits.MAX_NEURONS,
                   "max_populations": _limits.MAX_POPULATIONS,
                   "max_projections": _limits.MAX_PROJECTIONS,
                   "max_timesteps": _limits.MAX_TIMESTEPS, "max_bytes": _limits.MAX_BYTES,
                   "max_name": _limits.MAX_NAME, "max_meta_bytes": _limits.MAX_META_BYTES,
                   "max_json_depth": _limits.MAX_JSON_DEPTH}
    assert lim["max_dim"] == 2 ** 24 and lim["max_neurons"] == 2 ** 28
    assert lim["max_timesteps"] == 2 ** 30 and lim["max_bytes"] == 8 * 2 ** 30
    assert all(type(v) is int for v in lim.values())


def test_version_and_exports():
    assert snncore.__version__ == snncore._core.VERSION
    for name in snncore.__all__:
        assert hasattr(snncore, name), name
    assert snncore.ENCODINGS == ("analog", "poisson", "regular")


def test_shape_helpers():
    assert snncore.conv2d_shape((3, 28, 28), (8, 3, 5, 5), stride=2, padding=2) == (8, 14, 14)
    assert snncore.conv2d_shape((1, 7, 9), (4, 1, 3, 1), (1, 2), (1, 0)) == (4, 7, 5)
    assert snncore.avgpool2d_shape((6, 9, 9), 3) == (6, 3, 3)
    assert snncore.avgpool2d_shape((6, 9, 8), (2, 2), stride=1, padding=1) == (6, 10, 9)
    with pytest.raises(ValueError, match="stride"):
        snncore.conv2d_shape((1, 4, 4), (1, 1, 2, 2), stride=(1, 2, 3))


# ---------------------------------------------------------------------------
# NetworkBuilder
# ---------------------------------------------------------------------------

def builder():
    b = snncore.NetworkBuilder((4,))
    b.population("h", (3,), threshold=1.0)
    b.dense("fc", "input", "h", np.ones((3, 4), np.float32))
    return b


def test_builder_duplicate_population():
    b = builder()
    with pytest.raises(ValueError, match="population 'h' already exists"):
        b.population("h", (2,), kind="accumulate")
    with pytest.raises(ValueError, match="population 'input' already exists"):
        b.population("input", (2,), kind="relay")


def test_builder_duplicate_projection():
    b = builder()
    b.population("o", (2,), kind="accumulate")
    with pytest.raises(ValueError, match="projection 'fc' already exists"):
        b.dense("fc", "h", "o", np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="projection 'fc' already exists"):
        b.identity("fc", "h", "h")


def test_builder_projection_may_share_a_population_name():
    b = builder()
    b.population("o", (2,), kind="accumulate")
    assert b.dense("o", "h", "o", np.ones((2, 3), np.float32)) == "o"
    assert b.build("o").projections[1].name == "o"


def test_refused_duplicate_projection_leaves_the_first_one_alone():
    b = builder()                                  # fc: input -> h, all-ones (3, 4)
    b.population("o", (3,), kind="accumulate")
    b.identity("read", "h", "o")
    want = b.build("o").run(np.ones((1, 4), np.float32), 4)
    with pytest.raises(ValueError, match="already exists"):
        b.dense("fc", "input", "h", np.zeros((3, 4), np.float32))
    assert_same_result(b.build("o").run(np.ones((1, 4), np.float32), 4), want)


def test_refused_duplicate_population_leaves_the_first_one_alone():
    b = snncore.NetworkBuilder((2,))
    b.population("o", (2,), kind="accumulate", bias=np.array([1.0, 2.0], np.float32))
    want = b.build("o").run(np.zeros((1, 2), np.float32), 4)
    with pytest.raises(ValueError, match="already exists"):
        b.population("o", (2,), kind="accumulate", bias=np.array([-8.0, -8.0], np.float32))
    assert_same_result(b.build("o").run(np.zeros((1, 2), np.float32), 4), want)


def test_builder_signed_needs_threshold_neg():
    with pytest.raises(ValueError, match="'s'.*threshold_neg"):
        builder().population("s", (3,), signed=True)
    with pytest.raises(ValueError, match="only IF populations can be signed"):
        builder().population("r", (3,), kind="relay", signed=True, threshold_neg=1.0)
    with pytest.raises(ValueError, match="only IF populations can be signed"):
        builder().population("r", (3,), kind="accumulate", threshold_neg=1.0)


@pytest.mark.parametrize("kind", ["input", "lif", "IF", "", None])
def test_builder_bad_kind(kind):
    with pytest.raises(ValueError, match="kind must be one of if, relay, accumulate"):
        builder().population("x", (3,), kind=kind)


@pytest.mark.parametrize("reset", ["none", "Zero", "", None])
def test_builder_bad_reset(reset):
    with pytest.raises(ValueError, match="reset must be 'subtract' or 'zero'"):
        builder().population("x", (3,), reset=reset)


def test_builder_bad_pair():
    b = snncore.NetworkBuilder((1, 4, 4))
    b.population("c", (1, 4, 4), kind="accumulate")
    with pytest.raises(ValueError, match="padding"):
        b.conv2d("k", "input", "c", np.ones((1, 1, 3, 3), np.float32), padding=(1, 1, 1))


def test_builder_build_invalid_graph_names_the_item():
    b = builder()
    b.population("o", (2,), kind="accumulate")
    b.dense("to_nowhere", "h", "nowhere", np.ones((2, 3), np.float32))
    with pytest.raises(FormatError, match="to_nowhere"):
        b.build("o")

    b = builder()
    b.population("o", (2,), kind="accumulate")
    b.dense("bad_shape", "h", "o", np.ones((2, 4), np.float32))
    with pytest.raises(FormatError, match="bad_shape"):
        b.build("o")

    b = builder()
    b.population("r", (3,), kind="relay")
    b.identity("there", "h", "r")
    b.identity("back", "r", "h")
    b.population("o", (3,), kind="accumulate")
    b.identity("read", "h", "o")
    with pytest.raises(FormatError, match="cycle") as info:
        b.build("o")
    assert "h -> r -> h" in str(info.value) or "r -> h -> r" in str(info.value)

    b = builder()
    b.population("r", (3,), kind="relay")
    b.identity("x", "h", "r")
    with pytest.raises(FormatError, match="'r'"):
        b.build("r")                                 # a relay cannot be read out
    with pytest.raises(FormatError, match="'missing'"):
        b.build("missing")

    b = builder()
    b.population("z", (3,), threshold=0.0)
    with pytest.raises(FormatError, match="population 1|'z'"):
        b.build("h")


def test_builder_build_twice_gives_equal_networks():
    b = builder()
    b.population("o", (2,), kind="accumulate")
    b.dense("out", "h", "o", np.ones((2, 3), np.float32))
    a, c = b.build("o"), b.build("o")
    x = np.ones((2, 4), np.float32)
    assert_same_result(a.run(x, 5), c.run(x, 5))
    assert b.shape("h") == (3,) and b.shape("input") == (4,)


def test_builder_docstring_example_runs():
    result = doctest.testmod(snncore.builder, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# ---------------------------------------------------------------------------
# Immutability
# ---------------------------------------------------------------------------

def test_weight_arrays_are_read_only():
    net = small_net()
    seen = 0
    for item in net._spec["populations"] + net._spec["projections"]:
        for key in ("threshold", "threshold_neg", "bias", "weight"):
            arr = item.get(key)
            if arr is None:
                continue
            seen += 1
            assert not arr.flags.writeable, (item["name"], key)
            with pytest.raises(ValueError):
                arr[...] = 0
    assert seen == 9


def test_loaded_weight_arrays_are_read_only():
    buf = io.BytesIO()
    small_net().save(buf)
    net = snncore.load(io.BytesIO(buf.getvalue()))
    for q in net._spec["projections"]:
        if q["weight"] is not None:
            assert not q["weight"].flags.writeable
            with pytest.raises(ValueError):
                q["weight"][...] = 1.0


def _view_net(base):
    b = snncore.NetworkBuilder((4,))
    b.population("o", (3,), kind="accumulate")
    b.dense("w", "input", "o", base[:3])         # a contiguous float32 view: not copied
    return b.build("o")


def test_network_does_not_change_when_the_callers_buffer_does():
    base = np.full((6, 4), 0.25, np.float32)
    net = _view_net(base)
    x = np.ones((1, 4), np.float32)
    before = net.run(x, 4)
    saved = io.BytesIO()
    net.save(saved)
    base[:] = 1.0
    after = io.BytesIO()
    net.save(after)
    assert saved.getvalue() == after.getvalue()
    assert_same_result(net.run(x, 4), before)


def test_building_leaves_the_callers_arrays_writable():
    w = np.ones((3, 4), np.float32)
    b = snncore.NetworkBuilder((4,))
    b.population("o", (3,), kind="accumulate")
    b.dense("w", "input", "o", w)
    net = b.build("o")
    w[0, 0] = 5.0                       # the caller may reuse its array
    np.testing.assert_array_equal(net.run(np.ones((1, 4), np.float32), 1).output, [[4, 4, 4]])


# ---------------------------------------------------------------------------
# Malformed files
# ---------------------------------------------------------------------------

def test_format_error_is_a_value_error():
    assert issubclass(FormatError, ValueError)
    assert snncore.FormatError is FormatError


def _good_bytes():
    buf = io.BytesIO()
    small_net().save(buf)
    return buf.getvalue()


def _nan_weight_bytes():
    net = small_net()
    meta, arrays = net._to_file()
    arrays = {k: np.array(v) for k, v in arrays.items()}
    arrays["fc.weight"][1, 3] = np.nan
    buf = io.BytesIO()
    from snncore._npz import write_npz
    write_npz(buf, meta, arrays)
    return buf.getvalue()


@pytest.mark.parametrize("make, fragment", [
    (lambda: b"this is not a zip archive at all", "zip"),
    (lambda: b"", "zip"),
    (lambda: _good_bytes()[: len(_good_bytes()) // 2], "zip"),
    (lambda: _good_bytes()[:-10], ""),
    (_nan_weight_bytes, "NaN"),
])
@pytest.mark.parametrize("via", ["bytesio", "path"])
def test_load_malformed_files(tmp_path, make, fragment, via):
    data = make()
    if via == "path":
        src = tmp_path / "bad.npz"
        src.write_bytes(data)
    else:
        src = io.BytesIO(data)
    with pytest.raises(FormatError) as info:
        snncore.load(src)
    assert isinstance(info.value, ValueError)
    assert fragment in str(info.value), str(info.value)


def test_load_nan_weight_names_the_array():
    with pytest.raises(FormatError) as info:
        snncore.load(io.BytesIO(_nan_weight_bytes()))
    msg = str(info.value)
    assert "projection 'fc': weight holds NaN or infinity" in msg, msg


def test_load_missing_file_is_not_a_format_error(tmp_path):
    with pytest.raises(OSError):
        snncore.load(tmp_path / "does_not_exist.npz")


# ---------------------------------------------------------------------------
# Errors found by the C core
# ---------------------------------------------------------------------------

def _network_with_patched_spec(monkeypatch, edit):
    """A Network whose normalised spec passed Python validation and was then
    edited, so only the C core can catch the problem."""
    net = small_net()
    meta, arrays = net._to_file()
    real = snncore.network.normalize

    def patched(*args, **kwargs):
        spec = real(*args, **kwargs)
        edit(spec)
        return spec

    monkeypatch.setattr(snncore.network, "normalize", patched)
    return snncore.network.Network(meta, arrays)


def _zero_threshold(spec):
    c1 = next(p for p in spec["populations"] if p["name"] == "c1")
    c1["threshold"] = np.array([0.5, 0.0, 0.75, 0.25], np.float32)


def test_c_core_refuses_a_zero_threshold_and_names_the_population(monkeypatch):
    net = _network_with_patched_spec(monkeypatch, _zero_threshold)
    with pytest.raises(FormatError) as info:
        net._get_engine()
    msg = str(info.value)
    assert "population 'c1'" in msg and "threshold" in msg, msg
    # the same error from the public entry points
    with pytest.raises(FormatError, match="population 'c1'"):
        net.run(images(1), 4)
    with pytest.raises(FormatError, match="population 'c1'"):
        net.validate()
    with pytest.raises(FormatError, match="population 'c1'"):
        net.simulate(images(1)[0])


def test_c_core_refuses_a_wrong_weight_length_and_names_the_projection(monkeypatch):
    def edit(spec):
        fc = next(q for q in spec["projections"] if q["name"] == "fc")
        fc["weight"] = np.ones((5, 11), np.float32)

    net = _network_with_patched_spec(monkeypatch, edit)
    with pytest.raises(FormatError) as info:
        net._get_engine()
    msg = str(info.value)
    assert "projection 'fc'" in msg and "weight" in msg, msg


def test_c_core_refuses_v_init_out_of_range(monkeypatch):
    def edit(spec):
        next(p for p in spec["populations"] if p["name"] == "c1")["v_init"] = 1.5

    net = _network_with_patched_spec(monkeypatch, edit)
    with pytest.raises(FormatError, match="population 'c1'"):
        net._get_engine()


def test_unpatched_network_builds_its_engine():
    """The control for the tests above: the same network is accepted."""
    net = small_net()
    engine = net._get_engine()
    assert engine is net._get_engine()
    assert engine.n_populations == 6 and engine.n_projections == 5
    assert engine.input_size == 72 and engine.output_size == 5
