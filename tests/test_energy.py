"""snncore.estimate_energy on small hand-built networks whose operation counts
are worked out by hand (dyadic weights and inputs, so every spike is exact)."""

import doctest
import json

import numpy as np
import pytest

import snncore
import snncore.energy


def _mlp():
    """4 inputs -> 3 IF neurons (every weight 1/4, threshold 1) -> 2 outputs.
    ANN MACs: fc1 12, fc2 6."""
    b = snncore.NetworkBuilder((4,))
    b.population("hidden", (3,), threshold=1.0)
    b.dense("fc1", "input", "hidden", np.full((3, 4), 0.25, np.float32))
    b.population("out", (2,), kind="accumulate")
    b.dense("fc2", "hidden", "out", np.ones((2, 3), np.float32))
    return b.build(output="out")


def _conv_pool():
    """(1, 4, 4) input -> conv 3x3 (padding 1) into 2 channels of IF neurons ->
    2x2 average pool into a relay -> dense into 3 outputs. The kernels have one
    non-zero tap, the centre: 1 for channel 0, 1/2 for channel 1. So on an
    all-ones image channel 0 fires at every step (16 spikes), channel 1 at
    every second step. ANN MACs: conv 2*4*4*9 = 288, pool 0, dense 3*8 = 24."""
    w = np.zeros((2, 1, 3, 3), np.float32)
    w[0, 0, 1, 1], w[1, 0, 1, 1] = 1.0, 0.5
    b = snncore.NetworkBuilder((1, 4, 4))
    b.population("act", (2, 4, 4), threshold=1.0)
    b.conv2d("conv", "input", "act", w, padding=1)
    b.population("pool", (2, 2, 2), kind="relay")
    b.avgpool2d("pool", "act", "pool", 2)
    b.population("out", (3,), kind="accumulate")
    b.dense("fc", "pool", "out", np.ones((3, 8), np.float32))
    return b.build(output="out")


ONES = np.ones((1, 1, 4, 4), np.float32)
CHECKPOINTS = [1, 2, 3, 4]
# cumulative per image at steps 1..4 for _conv_pool on ONES
POOL_OPS = [16, 48, 64, 96]          # one per spike: 16 at every step, 16 more at even steps
FC_OPS = [12, 36, 48, 72]            # 4 relay events (ch 0) + 4 at even steps (ch 1), x 3
CONV_POISSON_OPS = 200               # per step: 2 channels x 100 in-bounds (pixel, tap) pairs


def test_module_doctest():
    result = doctest.testmod(snncore.energy, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_defaults_are_the_45nm_figures():
    assert snncore.E_AC == 0.9e-12 and snncore.E_MAC == 4.6e-12
    net = _mlp()
    est = snncore.estimate_energy(net.run(np.ones(4, np.float32), 1), net)
    assert est.e_ac == 0.9e-12 and est.e_mac == 4.6e-12
    assert est.ann == pytest.approx(18 * 4.6e-12)


def test_mlp_analog_counts_the_first_layer_as_macs_every_step():
    net = _mlp()
    res = net.run(np.ones((1, 4), np.float32), 4, encoding="analog", checkpoints=CHECKPOINTS)
    est = snncore.estimate_energy(res, net, e_ac=1.0, e_mac=4.0)
    assert est.kinds == ("mac", "ac")
    # fc1: 12 MACs per step although the engine counted them once;
    # fc2: 3 spikes per step x 2 synapses
    np.testing.assert_array_equal(est.operations, [[12, 6], [24, 12], [36, 18], [48, 24]])
    np.testing.assert_array_equal(est.total, [54, 108, 162, 216])
    np.testing.assert_array_equal(est.macs, [12, 24, 36, 48])
    np.testing.assert_array_equal(est.accumulates, [6, 12, 18, 24])
    assert est.ann == 72.0
    np.testing.assert_array_equal(est.ratio, [0.75, 1.5, 2.25, 3.0])
    assert est.ann_macs == {"fc1": 12, "fc2": 6}


def test_mlp_poisson_counts_only_accumulates():
    net = _mlp()
    # input 1 at rate 1: every input spikes at every step
    res = net.run(np.ones((1, 4), np.float32), 4, encoding="poisson", checkpoints=CHECKPOINTS)
    est = snncore.estimate_energy(res, net, e_ac=1.0, e_mac=4.0)
    assert est.kinds == ("ac", "ac")
    np.testing.assert_array_equal(est.operations[:, 0], [12, 24, 36, 48])   # 4 spikes x 3
    np.testing.assert_array_equal(est.total, [18, 36, 54, 72])
    np.testing.assert_array_equal(est.total, res.synaptic_ops.total_per_image())
    np.testing.assert_array_equal(est.macs, [0, 0, 0, 0])


def test_conv_pool_relay_analog():
    net = _conv_pool()
    res = net.run(ONES, 4, encoding="analog", checkpoints=CHECKPOINTS)
    est = snncore.estimate_energy(res, net, e_ac=1.0, e_mac=4.0)
    assert est.projections == ("conv", "pool", "fc")
    assert est.kinds == ("mac", "ac", "ac")
    np.testing.assert_array_equal(est.operations[:, 0], [288, 576, 864, 1152])
    np.testing.assert_array_equal(est.operations[:, 1], POOL_OPS)
    np.testing.assert_array_equal(est.operations[:, 2], FC_OPS)
    assert est.breakdown(4) == {"conv": 4608.0, "pool": 96.0, "fc": 72.0}
    assert est.breakdown() == est.breakdown(4)
    assert est.ann == (288 + 24) * 4.0
    np.testing.assert_allclose(est.ratio, est.total / 1248.0)


def test_conv_pool_relay_poisson():
    net = _conv_pool()
    res = net.run(ONES, 4, encoding="poisson", checkpoints=CHECKPOINTS)
    est = snncore.estimate_energy(res, net, e_ac=1.0, e_mac=4.0)
    assert est.kinds == ("ac", "ac", "ac")
    steps = np.array(CHECKPOINTS)
    np.testing.assert_array_equal(est.operations[:, 0], CONV_POISSON_OPS * steps)
    np.testing.assert_array_equal(est.operations[:, 1], POOL_OPS)
    np.testing.assert_array_equal(est.operations[:, 2], FC_OPS)
    np.testing.assert_array_equal(est.total, CONV_POISSON_OPS * steps + np.add(POOL_OPS, FC_OPS))


def test_graded_relay_events_as_macs():
    net = _conv_pool()
    res = net.run(ONES, 4, checkpoints=CHECKPOINTS)
    est = snncore.estimate_energy(res, net, e_ac=1.0, e_mac=4.0, graded_as_mac=True)
    assert est.kinds == ("mac", "ac", "mac")
    assert est.breakdown(4) == {"conv": 4608.0, "pool": 96.0, "fc": 4 * 72.0}


def test_relay_fed_by_the_input_is_dense_work_under_analog():
    """input -> pool -> relay -> dense: the relay passes the analog input on
    every step, so its projection is dense multiply-accumulates, and the pool
    (no MACs in the ANN) costs nothing."""
    b = snncore.NetworkBuilder((1, 4, 4))
    b.population("pool", (1, 2, 2), kind="relay")
    b.avgpool2d("pool", "input", "pool", 2)
    b.population("out", (2,), kind="accumulate")
    b.dense("fc", "pool", "out", np.ones((2, 4), np.float32))
    net = b.build(output="out")
    est = snncore.estimate_energy(net.run(ONES, 3, checkpoints=[1, 3]), net, e_ac=1.0, e_mac=4.0)
    assert est.kinds == ("mac", "mac")
    np.testing.assert_array_equal(est.operations, [[0, 8], [0, 24]])
    np.testing.assert_array_equal(est.ratio, [1.0, 3.0])


def test_mean_over_images():
    net = _mlp()
    x = np.array([[1, 1, 1, 1], [0, 0, 0, 0]], np.float32)   # the second image never spikes
    est = snncore.estimate_energy(net.run(x, 2, encoding="poisson", checkpoints=[1, 2]), net,
                                  e_ac=1.0, e_mac=4.0)
    np.testing.assert_array_equal(est.total, [9, 18])


def test_break_even_and_index():
    net = _mlp()
    res = net.run(np.ones((1, 4), np.float32), 4, checkpoints=CHECKPOINTS)
    est = snncore.estimate_energy(res, net, e_ac=1.0, e_mac=4.0)
    assert est.break_even() == 2                  # 108 >= 72 first at step 2
    assert est.index(3) == 2
    with pytest.raises(ValueError, match="not a checkpoint"):
        est.index(5)
    with pytest.raises(ValueError, match="not a checkpoint"):
        est.breakdown(0)
    cheap = snncore.estimate_energy(res, net, e_ac=0.0, e_mac=4.0)
    assert cheap.break_even() == 2                # the analog first layer alone: 48 per step
    free = snncore.estimate_energy(net.run(np.ones(4, np.float32), 4, encoding="poisson"), net,
                                   e_ac=0.0, e_mac=4.0)
    assert free.break_even() is None


def test_zero_ann_energy_gives_an_infinite_ratio():
    net = _mlp()
    est = snncore.estimate_energy(net.run(np.ones(4, np.float32), 2), net, e_ac=1.0, e_mac=0.0)
    assert est.ann == 0.0
    assert np.isinf(est.ratio[-1])


def test_as_dict_is_json():
    net = _conv_pool()
    est = snncore.estimate_energy(net.run(ONES, 2, checkpoints=[1]), net)
    d = json.loads(json.dumps(est.as_dict()))
    assert d["checkpoints"] == [1, 2] and d["encoding"] == "analog"
    assert d["projections"]["conv"]["kind"] == "mac"
    assert d["projections"]["conv"]["ann_macs"] == 288
    assert d["projections"]["fc"]["operations"] == [12.0, 36.0]
    assert "ratio" in repr(est)


@pytest.mark.parametrize("bad", [-1e-12, float("nan"), float("inf"), "1e-12", None, True])
@pytest.mark.parametrize("name", ["e_ac", "e_mac"])
def test_bad_energies(name, bad):
    net = _mlp()
    res = net.run(np.ones(4, np.float32), 1)
    with pytest.raises(ValueError, match=name):
        snncore.estimate_energy(res, net, **{name: bad})


def test_result_of_another_network():
    res = _mlp().run(np.ones(4, np.float32), 1)
    with pytest.raises(ValueError, match="pass the network that made the result"):
        snncore.estimate_energy(res, _conv_pool())


def test_wrong_types():
    net = _mlp()
    res = net.run(np.ones(4, np.float32), 1)
    with pytest.raises(TypeError, match="RunResult"):
        snncore.estimate_energy(res.synaptic_ops, net)
    with pytest.raises(TypeError, match="Network"):
        snncore.estimate_energy(res, "net.npz")


def test_max_pool_comparisons_cost_nothing_and_its_relay_feeds_accumulates():
    b = snncore.NetworkBuilder((1, 4, 4))
    b.population("h", (2, 4, 4), threshold=0.5)
    b.conv2d("c", "input", "h", np.full((2, 1, 3, 3), 0.25, np.float32), padding=1)
    b.population("m", (2, 2, 2), kind="relay")
    b.maxpool2d("m", "h", "m", 2)
    b.population("out", (3,), kind="accumulate")
    b.dense("d", "m", "out", np.full((3, 8), 0.5, np.float32))
    net = b.build("out")
    res = net.run(np.ones((2, 1, 4, 4), np.float32), 16)
    est = snncore.estimate_energy(res, net, graded_as_mac=True)
    assert est.kinds == ("mac", "compare", "ac")
    assert res.synaptic_ops.raw[:, -1, 1].min() > 0         # the pool did work
    assert est.per_projection[-1, 1] == 0.0
    assert est.accumulates[-1] == est.operations[-1, 2]
