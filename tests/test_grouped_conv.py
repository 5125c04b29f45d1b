"""Grouped and depthwise conv2d (the ``groups`` key): the engine against the dense
reference and against the same layer written as an ordinary conv with
block-diagonal weights, on every kernel set the CPU has and on teams of threads
sharing an image; the key in files, summaries and the builder.

The layers cover both of the engine's grouped kernels (scatter_kernels.h): the
dense depthwise one (one input channel a group), with one and several blocks
of outputs, vector blocks and scalar tails, strides and paddings, and rows wide
enough for its groups of pixels inside the source; and the
per-event one, for groups of several input channels, for depthwise layers whose
rows or kernels are too large for the first (more than 16 kernel rows, rows
wider than its buffer), and blocks of groups or of one group's outputs.
Weights, thresholds and inputs are dyadic, so the comparisons are exact.
"""

import numpy as np
import pytest

import reference
import snncore
from snncore import _core
from test_isa import FLAGS

ISAS = ["generic"] + [isa for isa, flag in (("avx2", "avx2"), ("avx512", "avx512f"))
                      if flag in FLAGS]


def dyadic(rng, shape, lo=-8, hi=8, denom=8):
    """float32 integers in lo..hi over denom."""
    return (rng.integers(lo, hi, size=shape, endpoint=True) / denom).astype(np.float32)


def grouped_net(in_shape, co, groups, kernel, stride, padding, seed=0):
    """input (Ci, H, W) -conv2d(groups)-> a (if) -depthwise 3x3 (padding 1)-> h (if)
    -dense-> out (accumulate): the layer under test, and a depthwise layer fed by
    spikes after it."""
    rng = np.random.default_rng(seed)
    ci = in_shape[0]
    weight = dyadic(rng, (co, ci // groups) + tuple(kernel))
    shape = snncore.conv2d_shape(in_shape, weight.shape, stride, padding)
    b = snncore.NetworkBuilder(in_shape)
    b.population("a", shape, threshold=0.5, bias=dyadic(rng, (co,), -2, 2, 16))
    b.conv2d("c", "input", "a", weight, stride=stride, padding=padding, groups=groups)
    b.population("h", shape, threshold=0.75, reset="zero")
    b.conv2d("dw", "a", "h", dyadic(rng, (co, 1, 3, 3), -4, 8, 8), padding=1, groups=co)
    b.population("out", (3,), kind="accumulate")
    b.dense("fc", "h", "out", dyadic(rng, (3, int(np.prod(shape)))))
    return b.build("out")


# (input shape, Co, groups, kernel, stride, padding)
LAYERS = {
    "depthwise x2": ((6, 7, 9), 12, 6, (3, 3), (1, 1), (1, 1)),
    "depthwise stride 2": ((16, 9, 8), 16, 16, (3, 3), (2, 2), (1, 1)),
    "depthwise stride 2, 11 columns": ((24, 5, 21), 24, 24, (3, 3), (2, 2), (1, 1)),
    "depthwise 64 channels": ((64, 6, 7), 64, 64, (3, 3), (1, 1), (1, 1)),
    "depthwise 5x5 x2": ((20, 7, 13), 40, 20, (5, 5), (1, 1), (2, 2)),
    "depthwise 3x2 no padding": ((5, 6, 6), 15, 5, (3, 2), (1, 2), (0, 1)),
    "depthwise, blocks of outputs": ((64, 4, 200), 64, 64, (3, 3), (1, 1), (1, 1)),
    "depthwise 17 rows (per event)": ((3, 18, 4), 9, 3, (17, 1), (1, 1), (8, 0)),
    "depthwise wide rows (per event)": ((2, 3, 600), 20, 2, (3, 3), (1, 1), (1, 1)),
    "groups of 2 channels": ((6, 7, 5), 6, 3, (3, 2), (2, 1), (1, 0)),
    "2 groups, 35 outputs each": ((8, 5, 6), 70, 2, (3, 3), (1, 1), (1, 1)),
    "1100 groups (blocks of groups)": ((2200, 2, 2), 2200, 1100, (1, 1), (1, 1), (0, 0)),
    "2 groups of 1030 outputs": ((2, 2, 2), 2060, 2, (1, 1), (1, 1), (0, 0)),
}


def _same(res, ref, what):
    np.testing.assert_array_equal(res.outputs, ref["output"], err_msg=what)
    np.testing.assert_array_equal(res.spikes.raw, ref["spikes"], err_msg=what)
    np.testing.assert_array_equal(res.synaptic_ops.raw, ref["synops"], err_msg=what)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_grouped_conv_matches_reference_on_every_kernel_set_and_team(layer, monkeypatch):
    in_shape, co, groups, kernel, stride, padding = LAYERS[layer]
    rng = np.random.default_rng(1)
    x = dyadic(rng, (2,) + in_shape, 0, 8, 8)
    cps = [2, 7]
    ref = None
    for isa in ISAS:
        monkeypatch.setenv("SNNCORE_ISA", isa)
        net = grouped_net(in_shape, co, groups, kernel, stride, padding)
        assert net.isa == isa
        if ref is None:
            ref = reference.simulate(net._spec, x, 7, encoding="poisson", seed=3, checkpoints=cps)
            assert ref["spikes"][:, -1, 1:3].min() > 0, "both conv layers should spike"
        res = net.run(x, 7, encoding="poisson", seed=3, checkpoints=cps, threads=1)
        _same(res, ref, f"{layer}, {isa}")
        for threads in (2, 3):    # a team shares the one image, split by output rows
            team = net.run(x[:1], 7, encoding="poisson", seed=3, checkpoints=cps,
                           threads=threads)
            _same(team, {k: v[:1] for k, v in ref.items()}, f"{layer}, {isa}, {threads}")


def _block_diagonal(weight, groups, ci):
    """A grouped weight (Co, Ci / groups, kh, kw) as the ordinary conv's (Co, Ci,
    kh, kw): output o sees its group's input channels, zeros elsewhere."""
    co, cig = weight.shape[:2]
    dense = np.zeros((co, ci) + weight.shape[2:], np.float32)
    for o in range(co):
        g = o // (co // groups)
        dense[o, g * cig:(g + 1) * cig] = weight[o]
    return dense


@pytest.mark.parametrize("groups,co", [(4, 8), (2, 6), (4, 4)])
def test_grouped_conv_is_the_block_diagonal_ordinary_conv(groups, co):
    """The same currents as the ordinary conv whose weights are zero across
    groups, and Co / groups synaptic operations per event and tap, not Co."""
    rng = np.random.default_rng(groups + co)
    weight = dyadic(rng, (co, 4 // groups, 3, 3))
    x = dyadic(rng, (2, 4, 6, 6), 0, 8, 8)
    runs = {}
    for g, w in ((groups, weight), (1, _block_diagonal(weight, groups, 4))):
        b = snncore.NetworkBuilder((4, 6, 6))
        b.population("a", (co, 6, 6), threshold=0.5)
        b.conv2d("c", "input", "a", w, padding=1, groups=g)
        b.population("out", (co, 6, 6), kind="accumulate")
        b.identity("r", "a", "out")
        runs[g] = b.build("out").run(x, 9, encoding="poisson", seed=1)
    grouped, ordinary = runs[groups], runs[1]
    np.testing.assert_array_equal(grouped.outputs, ordinary.outputs)
    np.testing.assert_array_equal(grouped.spikes.raw, ordinary.spikes.raw)
    ops_g, ops_1 = grouped.synaptic_ops.raw[..., 0], ordinary.synaptic_ops.raw[..., 0]
    assert ops_g.min() > 0
    np.testing.assert_array_equal(ops_g * groups, ops_1)


@pytest.mark.parametrize("layer", ["depthwise x2", "depthwise 5x5 x2", "depthwise stride 2, 11 columns",
                                   "groups of 2 channels",
                                   "2 groups, 35 outputs each", "depthwise wide rows (per event)"])
def test_grouped_kernels_round_alike_on_every_kernel_set_and_team(layer, monkeypatch):
    """With weights that round (not dyadic) the order of every addition shows:
    each kernel set and each team size gives the generic build's bits."""
    in_shape, co, groups, kernel, stride, padding = LAYERS[layer]
    rng = np.random.default_rng(7)
    weight = rng.normal(0, 0.4, (co, in_shape[0] // groups) + kernel).astype(np.float32)
    depthwise = rng.normal(0, 0.4, (co, 1, 3, 3)).astype(np.float32)
    x = rng.uniform(0, 1, (2,) + in_shape).astype(np.float32)
    runs = {}
    for isa in ISAS:
        monkeypatch.setenv("SNNCORE_ISA", isa)
        shape = snncore.conv2d_shape(in_shape, weight.shape, stride, padding)
        b = snncore.NetworkBuilder(in_shape)
        b.population("a", shape, threshold=0.75)
        b.conv2d("c", "input", "a", weight, stride=stride, padding=padding, groups=groups)
        b.population("out", shape, kind="accumulate")
        b.conv2d("dw", "a", "out", depthwise, padding=1, groups=co)
        net = b.build("out")
        runs[isa] = net.run(x, 6, encoding="regular", checkpoints=[1, 6], threads=1)
        for threads in (2, 3):
            runs[f"{isa}-{threads}"] = net.run(x[:1], 6, encoding="regular", checkpoints=[1, 6],
                                               threads=threads)
    base = runs["generic"]
    assert base.spikes.raw[:, -1, 1].min() > 0
    for name, res in runs.items():
        n = len(res.outputs)
        assert res.outputs.tobytes() == base.outputs[:n].tobytes(), name
        np.testing.assert_array_equal(res.synaptic_ops.raw, base.synaptic_ops.raw[:n],
                                      err_msg=name)


# -- the file format ------------------------------------------------------------------------

def _one_conv(groups, weight_shape=None, in_c=4, out_c=8):
    b = snncore.NetworkBuilder((in_c, 5, 5))
    b.population("a", (out_c, 5, 5), threshold=1.0)
    b.conv2d("c", "input", "a",
             np.full(weight_shape or (out_c, in_c // groups, 3, 3), 0.125, np.float32),
             padding=1, groups=groups)
    return b


def test_builder_writes_groups_only_when_not_one(tmp_path):
    """An ordinary conv's file is unchanged (no groups key); a grouped one's
    groups survive a save and load in both directions."""
    plain = _one_conv(1).build("a")
    assert "groups" not in plain._to_file()[0]["projections"][0]
    net = _one_conv(4).build("a")
    assert net._to_file()[0]["projections"][0]["groups"] == 4
    net.save(tmp_path / "g.npz")
    again = snncore.load(tmp_path / "g.npz")
    assert again._spec["projections"][0]["groups"] == 4
    x = np.ones((1, 4, 5, 5), np.float32)
    np.testing.assert_array_equal(again.run(x, 4).outputs, net.run(x, 4).outputs)


def test_describe_and_summary_show_groups():
    net = _one_conv(4).build("a")
    item = net.describe()["projections"][0]
    assert item["groups"] == 4
    # each output reads its group's Ci / groups = 1 input channel: 8 * 5 * 5 * 1 * 3 * 3
    assert item["ann_macs"] == net.ann_macs()["c"] == 1800
    assert "g=4" in net.summary()
    assert _one_conv(1).build("a").describe()["projections"][0]["groups"] == 1


@pytest.mark.parametrize("value,what", [(0, "not 0"), (-2, "not -2"), (True, "a boolean"),
                                        ("2", "a string"), (2.0, "a number"), (None, "null")])
def test_reader_refuses_groups_that_are_not_integers_from_1(value, what):
    meta, arrays = _one_conv(4).build("a")._to_file()
    meta["projections"][0]["groups"] = value
    with pytest.raises(snncore.FormatError, match="'groups' must be an integer >= 1, not ") as info:
        snncore.Network(meta, arrays)
    assert what in str(info.value)
    assert info.value.status == snncore.FormatError.FORMAT and info.value.projection == 0


@pytest.mark.parametrize("groups,weight_shape,message", [
    (3, (8, 1, 3, 3), "groups 3 does not divide both the source's 4 channels and the "
                      "weight's 8 output channels"),
    (2, (8, 1, 3, 3), r"weight has shape \(8, 1, 3, 3\), expected \(8, 2, kh, kw\) for the "
                      "source's 4 channels in 2 groups"),
    (4, (8, 4, 3, 3), r"weight has shape \(8, 4, 3, 3\), expected \(8, 1, kh, kw\)"),
])
def test_check_refuses_groups_that_do_not_fit(groups, weight_shape, message):
    with pytest.raises(snncore.FormatError, match=message) as info:
        _one_conv(groups, weight_shape).build("a")
    assert info.value.status == _core.E_SHAPE and info.value.projection == 0
    assert "projection 'c'" in str(info.value)


def test_builder_refuses_groups_that_are_not_ints():
    with pytest.raises(ValueError, match="groups must be an int"):
        _one_conv(True)
