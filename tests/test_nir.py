"""snncore.nir: export to NIR and import back.

The round trip ``from_nir(to_nir(net))`` must run bit-identically to ``net``
(outputs, spikes and synaptic operations per name, at every checkpoint) for
every network NIR can express, in memory and through a NIR file; what NIR
cannot express is refused naming the population or projection, or dropped
with a warning under ``approximate=True``. Graphs written the way other
simulators write them (sum pooling between layers, Flatten before an Affine,
r = 1/dt) import into the network they mean.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import snncore
from netgen import networks, run_settings

nir = pytest.importorskip("nir")
from snncore.nir import (NIRExportError, NIRExportWarning, NIRImportError,  # noqa: E402
                         from_nir, to_nir)


def dyadic(rng, shape, lo=-8, hi=8, denom=8):
    return (rng.integers(lo, hi, size=shape, endpoint=True) / denom).astype(np.float32)


def assert_same_run(a, b, x, **kwargs):
    """a and b give identical outputs and counters (by name) on x."""
    ra, rb = a.run(x, **kwargs), b.run(x, **kwargs)
    assert np.array_equal(ra.outputs, rb.outputs)
    for what in ("spikes", "synaptic_ops"):
        ca, cb = getattr(ra, what), getattr(rb, what)
        assert sorted(ca.names) == sorted(cb.names)
        for name in ca.names:
            assert np.array_equal(ca.raw[:, :, ca.names.index(name)],
                                  cb.raw[:, :, cb.names.index(name)]), (what, name)


def every_op_net(seed=0):
    """Every op and population NIR expresses: a grouped conv with a per-channel
    bias and thresholds, an average pool with a gain into a relay that a second
    projection (a 1x1 conv carrying the relay's bias) joins, a conv and an
    identity shortcut meeting at an IF junction, an identity with a gain, a
    dense from a 3-D relay and one from a vector, an accumulating read-out."""
    rng = np.random.default_rng(seed)
    b = snncore.NetworkBuilder((2, 8, 8), encoding="analog", uint8_scale=0.5)
    b.population("c1", (4, 8, 8), threshold=np.array([1, .5, .75, 1], np.float32),
                 bias=dyadic(rng, (4,), -2, 2, 16))
    b.conv2d("c1", "input", "c1", dyadic(rng, (4, 1, 3, 3)), padding=1, groups=2)
    b.population("pool", (4, 4, 4), kind="relay", bias=dyadic(rng, (4,), -2, 2, 16))
    b.avgpool2d("pool", "c1", "pool", 2, gain=np.array([1, .5, .75, 2], np.float32))
    b.conv2d("pool.skip", "input", "pool", dyadic(rng, (4, 2, 1, 1)), stride=2)
    b.population("c2", (4, 4, 4), threshold=0.75)
    b.conv2d("c2", "pool", "c2", dyadic(rng, (4, 4, 3, 3)), padding=1)
    b.identity("c2.short", "pool", "c2")
    b.population("g", (4, 4, 4), threshold=0.5)
    b.identity("g", "c2", "g", gain=np.array([1, 2, .5, .25], np.float32))
    b.population("fc1", (6,), threshold=1.0, bias=dyadic(rng, (6,), -2, 2, 16))
    b.dense("fc1", "g", "fc1", dyadic(rng, (6, 64), -2, 2, 8))
    b.dense("fc1.b", "pool", "fc1", dyadic(rng, (6, 64), -2, 2, 8))
    b.population("out", (3,), kind="accumulate", bias=dyadic(rng, (3,), -2, 2, 16))
    b.dense("fc2", "fc1", "out", dyadic(rng, (3, 6)))
    return b.build("out", provenance={"norm": "test"}, readout_start=2)


def images(shape, n=4, seed=1):
    return dyadic(np.random.default_rng(seed), (n,) + tuple(shape), 0, 8, 8)


def test_round_trip_every_op_in_memory_and_through_a_file(tmp_path):
    net = every_op_net()
    graph = to_nir(net)
    back = from_nir(graph)
    x = images(net.input_shape)
    assert_same_run(net, back, x, timesteps=12, checkpoints=[3, 7])
    # names, file order, run hints and provenance come back as they were
    expected = net.describe()
    assert back.describe() == expected
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    from_file = from_nir(path)
    assert from_file.describe() == expected
    assert_same_run(net, from_file, x, timesteps=12, checkpoints=[3, 7], encoding="poisson",
                    seed=5)


def test_export_layout():
    graph = to_nir(every_op_net())
    types = {k: type(v).__name__ for k, v in graph.nodes.items()}
    assert types["input"] == "Input" and types["output"] == "Output"
    assert types["c1"] == "IF" and types["out"] == "I"
    assert "pool" not in types                    # a relay is its edges' sum
    assert types["c1.conv2d"] == "Conv2d" and graph.nodes["c1.conv2d"].groups == 2
    assert types["pool.avgpool2d"] == "AvgPool2d" and types["pool.avgpool2d.gain"] == "Scale"
    assert types["fc1.dense.flatten"] == "Flatten" and types["fc1.dense"] == "Affine"
    # thresholds per neuron; the population's bias on its first conv into it
    assert graph.nodes["c1"].v_threshold.shape == (4, 8, 8)
    assert graph.nodes["c1"].v_threshold[1, 3, 5] == 0.5
    assert np.any(graph.nodes["c1.conv2d"].bias != 0)
    assert np.any(graph.nodes["pool.skip"].bias != 0)   # the relay's bias
    # the relay's two inputs both feed what reads it; the junction has two edges in
    assert ("pool.avgpool2d.gain", "c2.conv2d") in graph.edges
    assert ("pool.skip", "c2.conv2d") in graph.edges
    assert sum(1 for a, b in graph.edges if b == "c2") == 2
    assert all(a.dtype == np.float32 for a in (graph.nodes["fc2"].weight,
                                               graph.nodes["c1"].v_threshold))


def exactly_mappable(net):
    """The network with what NIR cannot say taken out: no initial membrane,
    resets by subtraction, unsigned neurons, biases per channel."""
    meta, arrays = net._to_file()
    for pop in meta["populations"]:
        if pop["kind"] == "if":
            pop.update(v_init=0.0, reset="subtract")
            pop.pop("signed", None)
            pop.pop("threshold_neg", None)
            pop.pop("retract", None)
        if "bias" in pop:
            bias = arrays[pop["bias"]]
            arrays[pop["bias"]] = bias.reshape(pop["shape"][0], -1)[:, 0].copy()
    return snncore.Network(meta, arrays)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_round_trip_random_networks(data):
    """Random networks of netgen made exactly mappable: either the export
    refuses naming an item of the network (a max pool, an upsampling, a bias
    that no conv or dense can carry) or the round trip is bit-identical."""
    net, shape = data.draw(networks())
    net = exactly_mappable(net)
    try:
        graph = to_nir(net)
    except NIRExportError as e:
        names = {p.name for p in net.populations} | {q.name for q in net.projections}
        assert e.item in names and repr(e.item) in str(e)
        return
    x, timesteps, encoding, checkpoints, seed, readout_start = data.draw(run_settings(shape))
    assert_same_run(net, from_nir(graph), x, timesteps=timesteps, encoding=encoding,
                    checkpoints=checkpoints, seed=seed, readout_start=readout_start)


def chain(**if_kwargs):
    """input (4,) -dense-> h (if, if_kwargs) -dense-> out (accumulate)."""
    b = snncore.NetworkBuilder((4,))
    b.population("h", (3,), **if_kwargs)
    b.dense("fc1", "input", "h", np.full((3, 4), 0.25, np.float32))
    b.population("out", (2,), kind="accumulate")
    b.dense("fc2", "h", "out", np.ones((2, 3), np.float32))
    return b.build("out")


@pytest.mark.parametrize("kwargs, what", [
    ({"v_init": 0.5}, "initial membrane"),
    ({"reset": "zero"}, "reset 'zero'"),
    ({"signed": True, "threshold_neg": 1.0}, "negative spikes"),
])
def test_what_nir_cannot_say_is_refused_or_dropped_with_a_warning(kwargs, what):
    net = chain(**kwargs)
    with pytest.raises(NIRExportError, match=f"population 'h'.*{what}.*approximate=True") as e:
        to_nir(net)
    assert e.value.item == "h"
    with pytest.warns(NIRExportWarning, match=f"population 'h': dropped .*{what}"):
        graph = to_nir(net, approximate=True)
    assert what in graph.nodes["h"].metadata["snncore_dropped"]
    back = from_nir(graph)               # what NIR said: the plain IF neuron
    assert_same_run(chain(), back, images((4,)), timesteps=9)


def test_refusals_name_the_item():
    b = snncore.NetworkBuilder((1, 4, 4))
    b.population("a", (1, 4, 4), threshold=1.0)
    b.identity("a", "input", "a")
    b.population("m", (1, 2, 2), threshold=1.0)
    b.maxpool2d("pool", "a", "m", 2)
    with pytest.raises(NIRExportError, match="projection 'pool'.*max pooling.*maxpool='avg'"):
        to_nir(b.build("m"))

    b = snncore.NetworkBuilder((1, 2, 2))
    b.population("u", (1, 4, 4), threshold=1.0)
    b.upsample2d("up", "input", "u", 2)
    with pytest.raises(NIRExportError, match="projection 'up'.*upsampling"):
        to_nir(b.build("u"))

    b = snncore.NetworkBuilder((1, 4, 4))
    b.population("p", (1, 2, 2), threshold=1.0, bias=np.ones(1, np.float32))
    b.avgpool2d("p", "input", "p", 2)
    with pytest.raises(NIRExportError, match="population 'p'.*bias.*no conv2d or dense"):
        to_nir(b.build("p"))

    b = snncore.NetworkBuilder((1, 2, 2))
    b.population("c", (1, 2, 2), threshold=1.0,
                 bias=np.array([[[0.5, 0.25], [0, 0]]], np.float32))
    b.conv2d("c", "input", "c", np.ones((1, 1, 1, 1), np.float32))
    with pytest.raises(NIRExportError, match="population 'c'.*varies within a channel"):
        to_nir(b.build("c"))

    with pytest.raises(TypeError, match="snncore.Network"):
        to_nir("net.npz")


# -- graphs written by others ----------------------------------------------------------

def peer_style_graph(r=1.0, dt=1.0):
    """What sinabs or SpikingJelly write for a small CNN: Conv2d - IF - SumPool2d
    - Conv2d - IF - Flatten - Affine - IF, nodes named by index, thresholds and
    r per neuron; with r and dt, thresholds scaled by r dt (so that the network
    stays the same)."""
    k = np.float32(r * dt)
    rng = np.random.default_rng(2)
    w1, w2 = dyadic(rng, (2, 1, 3, 3)), dyadic(rng, (3, 2, 3, 3))
    w3, b3 = dyadic(rng, (4, 12), -2, 2), dyadic(rng, (4,), -2, 2, 16)
    b1 = dyadic(rng, (2,), -2, 2, 16)
    nodes = {
        "input": nir.Input(np.array([1, 4, 4])),
        "0": nir.Conv2d(input_shape=None, weight=w1, stride=1, padding="same", dilation=1,
                        groups=1, bias=b1),
        "1": nir.IF(r=np.full((2, 4, 4), r), v_threshold=np.full((2, 4, 4), 0.5 * k)),
        "2": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                           padding=np.array([0, 0])),
        "3": nir.Conv2d(input_shape=None, weight=w2, stride=1, padding=1, dilation=1,
                        groups=1, bias=np.zeros(3, np.float32)),
        "4": nir.IF(r=np.full((3, 2, 2), r), v_threshold=np.full((3, 2, 2), k)),
        "5": nir.Flatten(np.array([3, 2, 2]), 0, -1),
        "6": nir.Affine(weight=w3, bias=b3),
        "7": nir.IF(r=np.full(4, r), v_threshold=np.full(4, 0.75 * k)),
        "output": nir.Output(np.array([4])),
    }
    keys = list(nodes)
    edges = list(zip(keys[:-1], keys[1:]))
    expected = snncore.NetworkBuilder((1, 4, 4))
    expected.population("1", (2, 4, 4), threshold=0.5, bias=b1)
    expected.conv2d("0", "input", "1", w1, padding=1)
    expected.population("2.out", (2, 2, 2), kind="relay")
    expected.avgpool2d("2", "1", "2.out", 2, gain=np.full(2, 4, np.float32))
    expected.population("4", (3, 2, 2), threshold=1.0)
    expected.conv2d("3", "2.out", "4", w2, padding=1)
    expected.population("7", (4,), threshold=0.75, bias=b3)
    expected.dense("6", "4", "7", w3)
    return nir.NIRGraph(nodes=nodes, edges=edges), expected.build("7")


def test_peer_style_graph_imports_as_the_network_it_means():
    graph, expected = peer_style_graph()
    net = from_nir(graph)
    assert [p.kind for p in net.populations] == ["input", "if", "relay", "if", "if"]
    assert_same_run(expected, net, images((1, 4, 4), n=3), timesteps=16, checkpoints=[4])


@pytest.mark.parametrize("r, dt", [(1e4, 1e-4), (2.0, 1.0), (0.5, 0.5)])
def test_dt_times_r_divides_the_threshold(r, dt):
    """V += dt r I with threshold t is V / (dt r) += I with threshold t / (dt r);
    r = 1/dt (SpikingJelly's and Norse's convention) changes nothing."""
    graph, expected = peer_style_graph(r=r, dt=dt)
    net = from_nir(graph, dt=dt)
    assert_same_run(expected, net, images((1, 4, 4), n=3), timesteps=16)


def test_dt_must_be_positive():
    graph, _ = peer_style_graph()
    with pytest.raises(ValueError, match="dt must be"):
        from_nir(graph, dt=0)


def test_an_output_that_is_a_current_is_read_by_an_accumulate_population():
    w = np.full((2, 3), 0.5, np.float32)
    graph = nir.NIRGraph(nodes={"in": nir.Input(np.array([3])),
                                "fc": nir.Affine(weight=w, bias=np.zeros(2, np.float32)),
                                "out": nir.Output(np.array([2]))},
                         edges=[("in", "fc"), ("fc", "out")])
    with pytest.warns(UserWarning, match="current of 'fc'.*accumulate population 'out'"):
        net = from_nir(graph)
    res = net.run(np.ones((1, 3), np.float32), timesteps=4)
    assert np.array_equal(res.output, [[1.5, 1.5]])


def broken(change):
    """The peer-style graph with one change: change(nodes, edges)."""
    graph, _ = peer_style_graph()
    nodes, edges = dict(graph.nodes), list(graph.edges)
    change(nodes, edges)
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _lif(nodes, edges):
    nodes["4"] = nir.LIF(tau=np.ones((3, 2, 2)), r=np.ones((3, 2, 2)),
                         v_leak=np.zeros((3, 2, 2)), v_threshold=np.ones((3, 2, 2)))


def _cycle(nodes, edges):
    edges.append(("4", "3"))


def _dilation(nodes, edges):
    nodes["3"].dilation = (2, 2)


def _threshold_per_neuron(nodes, edges):
    nodes["1"].v_threshold = np.arange(32, dtype=np.float32).reshape(2, 4, 4) + 1


def _flatten_into_conv(nodes, edges):
    nodes["f"] = nir.Flatten(np.array([2, 2, 2]), 0, -1)
    edges[:] = [e for e in edges if e != ("2", "3")] + [("2", "f"), ("f", "3")]


def _two_outputs(nodes, edges):
    nodes["output2"] = nir.Output(np.array([3, 2, 2]))
    edges.append(("4", "output2"))


@pytest.mark.parametrize("change, message", [
    (_lif, "node '4' is a LIF: snncore's neurons do not leak"),
    (_cycle, "cycle"),
    (_dilation, "node '3': a dilated convolution"),
    (_threshold_per_neuron, "node '1': its v_threshold .* varies within a channel"),
    (_flatten_into_conv, "node '3': only an Affine or Linear may read a Flatten"),
    (_two_outputs, "2 Output nodes"),
])
def test_import_refusals_name_the_node(change, message):
    with pytest.raises(NIRImportError, match=message):
        from_nir(broken(change))


def test_from_nir_takes_a_graph_or_a_path():
    with pytest.raises(TypeError, match="nir.NIRGraph or a path"):
        from_nir(42)


def test_a_warning_free_export_of_an_exact_network():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_nir(every_op_net())
