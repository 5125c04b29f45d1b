"""`Network.run`: what it accepts, what it refuses and what it returns.

Bad input must raise a clear exception whose message names the problem (the
argument, the image, the expected shape). The good paths check the input
conversions (single image, flattened images, uint8, float64, nested lists,
checkpoints) and the `RunResult` / `Counters` helpers against values worked out
by hand.
"""

import numpy as np
import pytest

import snncore
from snncore import _limits
from results import assert_same_result


# ---------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------

def conv_net(encoding="analog", uint8_scale=1.0 / 255.0):
    """input (2, 4, 4) -conv 3x3 p1-> c (if, 3 ch) -pool 2-> p (relay) -dense-> out (acc, 3)."""
    rng = np.random.default_rng(7)
    b = snncore.NetworkBuilder((2, 4, 4), encoding=encoding, uint8_scale=uint8_scale)
    b.population("c", (3, 4, 4), threshold=np.array([0.5, 1.0, 0.75], np.float32))
    b.conv2d("c_w", "input", "c", rng.integers(-4, 5, (3, 2, 3, 3)).astype(np.float32) / 8,
             padding=1)
    b.population("p", (3, 2, 2), kind="relay")
    b.avgpool2d("p_w", "c", "p", 2)
    b.population("out", (3,), kind="accumulate")
    b.dense("out_w", "p", "out", rng.integers(-4, 5, (3, 12)).astype(np.float32) / 4)
    return b.build("out")


def linear_net(uint8_scale=1.0 / 255.0):
    """input (1, 4, 4) -dense-> out (accumulate, 3): the output is W @ x exactly
    (up to rounding), with no threshold to amplify a one-ulp input change."""
    rng = np.random.default_rng(3)
    b = snncore.NetworkBuilder((1, 4, 4), uint8_scale=uint8_scale)
    b.population("out", (3,), kind="accumulate")
    b.dense("w", "input", "out", rng.standard_normal((3, 16)).astype(np.float32))
    return b.build("out")


def race_net():
    """input (2,) -dense-> out (accumulate, 2) <-dense- hidden (if, 1).

    `hidden` starts at its threshold (v_init = 1), so it fires once at t = 1 and
    never again; it adds 2 to out[1]. The decoded output at step t is therefore
    exactly [x0, x1 + 2 / t]: out[1] leads early and x decides late.
    """
    b = snncore.NetworkBuilder((2,))
    b.population("hidden", (1,), threshold=1.0, v_init=1.0)
    b.population("out", (2,), kind="accumulate")
    b.dense("direct", "input", "out", np.eye(2, dtype=np.float32))
    b.dense("late", "hidden", "out", np.array([[0.0], [2.0]], np.float32))
    return b.build("out")


@pytest.fixture(scope="module")
def net():
    return conv_net()


def images(n=3, seed=0, shape=(2, 4, 4)):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 9, (n,) + shape) / 8).astype(np.float32)


# ---------------------------------------------------------------------------
# x: shape, dtype, values
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 4, 4, 2), (3, 2, 4), (2, 2, 4, 5), (3, 31), (3, 2, 16)])
def test_wrong_shape_names_both_shapes(net, shape):
    with pytest.raises(ValueError) as info:
        net.run(np.zeros(shape, np.float32), timesteps=4)
    msg = str(info.value)
    assert str(shape) in msg, msg
    assert "(2, 4, 4)" in msg, msg


def test_one_flat_image_without_batch_axis_is_refused(net):
    # (32,) is neither input_shape nor (N, 32)
    with pytest.raises(ValueError, match=r"shape \(32,\)"):
        net.run(np.zeros(32, np.float32), timesteps=4)


def test_scalar_is_refused(net):
    with pytest.raises(ValueError, match="shape"):
        net.run(np.float32(1.0), timesteps=4)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint16, bool, np.complex64,
                                   np.complex128, object])
def test_wrong_dtype_is_a_type_error(net, dtype):
    x = np.zeros((2, 2, 4, 4), dtype=dtype)
    with pytest.raises(TypeError) as info:
        net.run(x, timesteps=4)
    assert np.dtype(dtype).name in str(info.value) or str(np.dtype(dtype)) in str(info.value)
    assert "float or uint8" in str(info.value)


def test_strings_are_a_type_error(net):
    x = np.full((1, 2, 4, 4), "0.5")
    with pytest.raises(TypeError, match="float or uint8"):
        net.run(x, timesteps=4)
    with pytest.raises(TypeError, match="float or uint8"):
        net.run([[["a"] * 4] * 4] * 2, timesteps=4)


def test_nested_lists_of_python_ints_are_a_type_error(net):
    # ints are ambiguous (0..255 pixels or already scaled?): refused, not guessed
    with pytest.raises(TypeError, match="int64"):
        net.run(np.zeros((1, 2, 4, 4), np.int64).tolist(), timesteps=4)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("index", [0, 2])
def test_non_finite_values_name_the_image(net, bad, index):
    x = images(4)
    x[index, 1, 2, 3] = bad
    with pytest.raises(ValueError) as info:
        net.run(x, timesteps=4)
    msg = str(info.value)
    assert "NaN or infinity" in msg and f"image {index}" in msg, msg


def test_float64_overflowing_float32_is_refused(net):
    x = images(3).astype(np.float64)
    x[1, 0, 0, 0] = 1e300                 # finite in float64, inf in float32
    with pytest.raises(ValueError, match="image 1"):
        net.run(x, timesteps=4)


@pytest.mark.parametrize("x", [np.zeros((0, 2, 4, 4), np.float32), np.zeros((0, 32), np.float32),
                               np.zeros((0,), np.float32), []])
def test_empty_batch(net, x):
    with pytest.raises(ValueError, match="empty batch"):
        net.run(x, timesteps=4)


@pytest.mark.parametrize("encoding", ["poisson", "regular"])
def test_negative_input_refused_by_spike_encodings(net, encoding):
    x = images(3)
    x[2, 0, 1, 1] = -0.125
    with pytest.raises(ValueError) as info:
        net.run(x, timesteps=4, encoding=encoding)
    msg = str(info.value)
    assert encoding in msg and "image 2" in msg and ">= 0" in msg, msg


def test_negative_input_allowed_by_analog(net):
    x = images(2)
    neg = -x
    res = net.run(neg, timesteps=8, encoding="analog")
    assert res.output.shape == (2, 3)
    # the negative values reach the network (not clipped to zero)
    zero = net.run(np.zeros_like(x), timesteps=8, encoding="analog")
    assert not np.array_equal(res.outputs, zero.outputs)


def test_default_encoding_is_the_file_hint():
    x = images(2)
    x[0, 0, 0, 0] = -1.0
    # the file says poisson, so negative input is refused without encoding=...
    with pytest.raises(ValueError, match="poisson"):
        conv_net(encoding="poisson").run(x, timesteps=4)
    assert conv_net(encoding="poisson").run(np.abs(x), timesteps=4).encoding == "poisson"
    assert conv_net(encoding="regular").run(np.abs(x), timesteps=4).encoding == "regular"
    assert conv_net().run(x, timesteps=4).encoding == "analog"


# ---------------------------------------------------------------------------
# Scalar arguments
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("timesteps, exc", [
    (0, ValueError), (-1, ValueError), (-(2 ** 40), ValueError),
    (_limits.MAX_TIMESTEPS + 1, ValueError), (2 ** 63, ValueError),
    (8.0, TypeError), (2.5, TypeError), (True, TypeError), (False, TypeError),
    ("8", TypeError), (None, TypeError), (np.float32(8), TypeError),
])
def test_bad_timesteps(net, timesteps, exc):
    with pytest.raises(exc, match="timesteps"):
        net.run(images(1), timesteps=timesteps)


def test_timesteps_limit_is_the_c_core_limit():
    assert _limits.MAX_TIMESTEPS == snncore.limits()["max_timesteps"]


def test_numpy_integer_timesteps_accepted(net):
    x = images(2)
    assert_same_result(net.run(x, timesteps=np.int64(6)), net.run(x, timesteps=6))
    assert_same_result(net.run(x, timesteps=np.uint8(6)), net.run(x, timesteps=6))


@pytest.mark.parametrize("checkpoints, exc, fragment", [
    ([0], ValueError, "1..8"), ([9], ValueError, "got 9"), ([-1, 4], ValueError, "got -1"),
    ([2, 2.5], TypeError, "float"), (["3"], TypeError, "str"), ([None], TypeError, "NoneType"),
    (np.array([1.0, 2.0]), TypeError, "float"), ([True], TypeError, "bool"),
    (0, ValueError, "got 0"), (9, ValueError, "got 9"),
])
def test_bad_checkpoints(net, checkpoints, exc, fragment):
    with pytest.raises(exc) as info:
        net.run(images(1), timesteps=8, checkpoints=checkpoints)
    msg = str(info.value)
    assert "checkpoint" in msg and fragment in msg, msg


@pytest.mark.parametrize("checkpoints", [2.5, np.float64(4.0)])
def test_scalar_float_checkpoints_named(net, checkpoints):
    with pytest.raises(TypeError, match="checkpoint"):
        net.run(images(1), timesteps=8, checkpoints=checkpoints)


@pytest.mark.parametrize("encoding", ["spiky", "Poisson", "", "analogue", 1])
def test_unknown_encoding(net, encoding):
    with pytest.raises(ValueError) as info:
        net.run(images(1), timesteps=4, encoding=encoding)
    msg = str(info.value)
    assert "unknown encoding" in msg and repr(encoding) in msg, msg
    assert "analog, poisson, regular" in msg


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (2 ** 64, ValueError),
                                       (2 ** 70, ValueError), (1.0, TypeError),
                                       (True, TypeError), ("1", TypeError)])
def test_bad_seed(net, seed, exc):
    with pytest.raises(exc, match="seed"):
        net.run(images(1), timesteps=4, encoding="poisson", seed=seed)


def test_seed_range_edges_accepted(net):
    x = images(2)
    top = net.run(x, timesteps=6, encoding="poisson", seed=2 ** 64 - 1)
    also = net.run(x, timesteps=6, encoding="poisson", seed=np.uint64(2 ** 64 - 1))
    assert_same_result(top, also)
    net.run(x, timesteps=6, encoding="poisson", seed=0)


@pytest.mark.parametrize("threads, exc", [(0, ValueError), (-1, ValueError),
                                          (snncore._core.MAX_THREADS + 1, ValueError),
                                          (2.0, TypeError), (True, TypeError)])
def test_bad_threads(net, threads, exc):
    with pytest.raises(exc, match="threads"):
        net.run(images(1), timesteps=4, threads=threads)


@pytest.mark.parametrize("rate", [0, 0.0, -1, -0.5, float("nan"), float("inf"), True, "1", [1.0]])
def test_bad_rate(net, rate):
    with pytest.raises(ValueError) as info:
        net.run(images(1), timesteps=4, encoding="poisson", rate=rate)
    msg = str(info.value)
    assert "rate" in msg and "> 0" in msg, msg


@pytest.mark.parametrize("first_index, exc", [(-1, ValueError), (2 ** 63, ValueError),
                                              (1.0, TypeError), (False, TypeError)])
def test_bad_first_index(net, first_index, exc):
    with pytest.raises(exc, match="first_index"):
        net.run(images(1), timesteps=4, encoding="poisson", first_index=first_index)


def test_network_still_works_after_refused_runs(net):
    x = images(2)
    before = net.run(x, timesteps=5, encoding="poisson", seed=3)
    for kwargs in ({"timesteps": 0}, {"timesteps": 5, "seed": -1}, {"timesteps": 5, "threads": 0}):
        with pytest.raises((ValueError, TypeError)):
            net.run(x, **kwargs)
    assert_same_result(net.run(x, timesteps=5, encoding="poisson", seed=3), before)


# ---------------------------------------------------------------------------
# Accepted input forms
# ---------------------------------------------------------------------------

def test_single_image_is_a_batch_of_one(net):
    x = images(3)
    batch = net.run(x, timesteps=8, checkpoints=[2, 5])
    one = net.run(x[1], timesteps=8, checkpoints=[2, 5])
    assert one.outputs.shape == (1, 3, 3)
    assert one.output.shape == (1, 3)
    np.testing.assert_array_equal(one.outputs[0], batch.outputs[1])
    np.testing.assert_array_equal(one.spikes.raw[0], batch.spikes.raw[1])
    np.testing.assert_array_equal(one.synaptic_ops.raw[0], batch.synaptic_ops.raw[1])


def test_single_image_of_a_vector_network():
    net = race_net()
    one = net.run(np.array([0.5, 0.25], np.float32), timesteps=4)
    assert one.output.shape == (1, 2)
    np.testing.assert_array_equal(one.output, [[0.5, 0.75]])


def test_flattened_images_accepted(net):
    x = images(4)
    a = net.run(x, timesteps=8, encoding="regular")
    b = net.run(x.reshape(4, 32), timesteps=8, encoding="regular")
    assert_same_result(a, b)
    c = net.run(x.reshape(4, -1), timesteps=8, encoding="poisson", seed=5)
    assert_same_result(c, net.run(x, timesteps=8, encoding="poisson", seed=5))


def test_uint8_scaled_by_default_scale():
    net = linear_net()
    rng = np.random.default_rng(11)
    u8 = rng.integers(0, 256, (5, 1, 4, 4), dtype=np.uint8)
    u8[0] = 255
    u8[1] = 0
    got = net.run(u8, timesteps=4)
    want = net.run(u8 / 255.0, timesteps=4)
    raw = net.run(u8.astype(np.float32), timesteps=4)
    np.testing.assert_allclose(got.outputs, want.outputs, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got.outputs, raw.outputs)     # it was scaled
    np.testing.assert_array_equal(got.synaptic_ops.raw, want.synaptic_ops.raw)


def test_uint8_uses_the_file_scale():
    # 1/128 is a power of two, so the scaled uint8 image is exactly u8 / 128
    net = linear_net(uint8_scale=1.0 / 128.0)
    u8 = np.random.default_rng(2).integers(0, 256, (4, 1, 4, 4), dtype=np.uint8)
    got = net.run(u8, timesteps=4)
    assert_same_result(got, net.run(u8.astype(np.float32) / np.float32(128), timesteps=4))
    assert not np.allclose(got.outputs, net.run(u8 / 255.0, timesteps=4).outputs)


def test_uint8_scale_survives_save_and_load(tmp_path):
    net = linear_net(uint8_scale=1.0 / 64.0)
    net.save(tmp_path / "n.npz")
    back = snncore.load(tmp_path / "n.npz")
    u8 = np.arange(16, dtype=np.uint8).reshape(1, 1, 4, 4) * 15
    assert_same_result(back.run(u8, timesteps=2),
                       net.run(u8.astype(np.float32) / np.float32(64), timesteps=2))


def test_uint8_with_spike_encodings(net):
    u8 = np.random.default_rng(4).integers(0, 256, (3, 2, 4, 4), dtype=np.uint8)
    scaled = u8.astype(np.float32) * np.float32(1.0 / 255.0)
    for enc in ("poisson", "regular"):
        assert_same_result(net.run(u8, timesteps=8, encoding=enc, seed=9),
                           net.run(scaled, timesteps=8, encoding=enc, seed=9))


def test_float64_equals_float32(net):
    rng = np.random.default_rng(5)
    x64 = rng.uniform(0, 1, (3, 2, 4, 4))            # not representable in float32
    x32 = x64.astype(np.float32)
    for enc in ("analog", "poisson", "regular"):
        assert_same_result(net.run(x64, timesteps=8, encoding=enc, seed=1),
                           net.run(x32, timesteps=8, encoding=enc, seed=1))
    # and a float32 batch upcast to float64 gives the float32 results
    assert_same_result(net.run(x32.astype(np.float64), timesteps=8),
                       net.run(x32, timesteps=8))


def test_float16_accepted(net):
    x = images(2)                                   # multiples of 1/8: exact in float16
    assert_same_result(net.run(x.astype(np.float16), timesteps=6), net.run(x, timesteps=6))


def test_nested_lists_work(net):
    x = images(2)
    assert_same_result(net.run(x.tolist(), timesteps=6), net.run(x, timesteps=6))
    # a single image given as nested lists
    assert_same_result(net.run(x[0].tolist(), timesteps=6), net.run(x[:1], timesteps=6))


def test_non_contiguous_read_only_and_big_endian_input(net):
    x = images(4)
    want = net.run(x[::2], timesteps=6)
    assert_same_result(net.run(np.asfortranarray(x)[::2], timesteps=6), want)
    ro = x[::2].copy()
    ro.setflags(write=False)
    assert_same_result(net.run(ro, timesteps=6), want)
    assert_same_result(net.run(x[::2].astype(">f4"), timesteps=6), want)
    # x is not modified by the run
    before = x.copy()
    net.run(x, timesteps=6, encoding="poisson")
    np.testing.assert_array_equal(x, before)


def test_checkpoints_sorted_deduplicated_and_t_appended(net):
    x = images(2)
    res = net.run(x, timesteps=10, checkpoints=[7, 3, 3, 1, 7])
    assert res.checkpoints.tolist() == [1, 3, 7, 10]
    assert res.checkpoints.dtype == np.int64
    assert res.outputs.shape == (2, 4, 3)
    assert res.spikes.raw.shape == (2, 4, 4)
    assert res.synaptic_ops.raw.shape == (2, 4, 3)
    # the recorded values are those of shorter runs
    for c, t in enumerate([1, 3, 7, 10]):
        short = net.run(x, timesteps=t)
        np.testing.assert_array_equal(res.outputs[:, c], short.output)
        np.testing.assert_array_equal(res.spikes.raw[:, c], short.spikes.per_image)
    # T given explicitly, a generator, a single int and numpy ints all work
    assert net.run(x, 10, checkpoints=[10, 10]).checkpoints.tolist() == [10]
    assert net.run(x, 10, checkpoints=(c for c in (5, 2))).checkpoints.tolist() == [2, 5, 10]
    assert net.run(x, 10, checkpoints=4).checkpoints.tolist() == [4, 10]
    assert net.run(x, 10, checkpoints=np.array([6, 2])).checkpoints.tolist() == [2, 6, 10]
    assert net.run(x, 10, checkpoints=[]).checkpoints.tolist() == [10]
    assert net.run(x, 10).checkpoints.tolist() == [10]


# ---------------------------------------------------------------------------
# RunResult
# ---------------------------------------------------------------------------

X_RACE = np.array([[0.5625, 0.0], [0.3125, 0.125], [0.0, 0.5], [1.125, 0.0]], np.float32)
Y_RACE = np.array([0, 0, 1, 0])
CP_RACE = [1, 2, 4, 8, 16, 32]


def test_outputs_equal_hand_values():
    res = race_net().run(X_RACE, timesteps=32, checkpoints=CP_RACE)
    want = np.stack([np.stack([X_RACE[:, 0], X_RACE[:, 1] + np.float32(2.0 / t)], axis=1)
                     for t in CP_RACE], axis=1)
    np.testing.assert_array_equal(res.outputs, want.astype(np.float32))


def test_curve_equals_hand_computation():
    res = race_net().run(X_RACE, timesteps=32, checkpoints=CP_RACE)
    # predictions per image at t = 1, 2, 4, 8, 16, 32 (worked out from [x0, x1 + 2/t]):
    preds = np.array([[1, 1, 0, 0, 0, 0],
                      [1, 1, 1, 1, 0, 0],
                      [1, 1, 1, 1, 1, 1],
                      [1, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(res.predictions_at(), preds)
    curve = res.curve(Y_RACE)
    assert curve.dtype == np.float64
    np.testing.assert_array_equal(curve, [0.25, 0.5, 0.75, 0.75, 1.0, 1.0])
    assert res.accuracy(Y_RACE) == 1.0
    assert isinstance(res.accuracy(Y_RACE), float)
    np.testing.assert_array_equal(res.curve([1, 1, 0, 1]), [0.75, 0.5, 0.25, 0.25, 0.0, 0.0])
    np.testing.assert_array_equal(res.curve(np.array([0, 0, 1, 0], np.uint8)), curve)


def test_predictions_are_argmax_of_output(net):
    x = np.random.default_rng(8).uniform(-1, 1, (12, 2, 4, 4)).astype(np.float32)
    res = net.run(x, timesteps=16, checkpoints=[4, 8])
    np.testing.assert_array_equal(res.output, res.outputs[:, -1, :])
    np.testing.assert_array_equal(res.predictions, np.argmax(res.output, axis=1))
    np.testing.assert_array_equal(res.predictions_at(), np.argmax(res.outputs, axis=2))
    assert res.predictions.shape == (12,)
    assert res.predictions_at().shape == (12, 3)
    assert res.outputs.dtype == np.float32
    assert res.timesteps == 16
    assert "images=12" in repr(res) and "timesteps=16" in repr(res)


@pytest.mark.parametrize("y", [[0, 0, 1], [0, 0, 1, 0, 1], [[0, 0, 1, 0]], 0,
                               np.zeros((4, 1), int)])
def test_curve_wrong_length_or_shape(y):
    res = race_net().run(X_RACE, timesteps=4)
    with pytest.raises(ValueError) as info:
        res.curve(y)
    assert "(4,)" in str(info.value) and "label" in str(info.value)


@pytest.mark.parametrize("y", [[0.0, 0.0, 1.0, 0.0], np.array([0, 0, 1, 0], np.float32),
                               ["0", "0", "1", "0"], [True, False, True, False]])
def test_curve_non_integer_labels(y):
    res = race_net().run(X_RACE, timesteps=4)
    with pytest.raises(TypeError, match="integer class labels"):
        res.curve(y)
    with pytest.raises(TypeError, match="integer class labels"):
        res.accuracy(y)


# ---------------------------------------------------------------------------
# Counters
# ---------------------------------------------------------------------------

def test_counters_hand_values():
    res = race_net().run(X_RACE, timesteps=32, checkpoints=[1, 8])
    spikes, synops = res.spikes, res.synaptic_ops
    assert list(spikes) == ["input", "hidden", "out"]
    assert list(synops) == ["direct", "late"]
    # hidden fires once per image at t = 1; analog input emits no spikes
    assert dict(spikes) == {"input": 0, "hidden": 4, "out": 0}
    # direct: each non-zero pixel drives 2 synapses, counted once (analog);
    # late: one hidden spike drives 2 synapses
    assert dict(synops) == {"direct": 2 * 5, "late": 2 * 4}
    np.testing.assert_array_equal(synops.per_image, [[2, 2], [4, 2], [2, 2], [2, 2]])
    assert synops.mean_per_image == {"direct": 2.5, "late": 2.0}
    np.testing.assert_array_equal(spikes.raw[:, 0], spikes.raw[:, 1])   # all by step 1


def test_counters_mapping_behaviour(net):
    x = images(5)
    res = net.run(x, timesteps=12, encoding="poisson", checkpoints=[3, 6], seed=2)
    for counters, n_items in ((res.spikes, 4), (res.synaptic_ops, 3)):
        raw = counters.raw
        assert raw.shape == (5, 3, n_items) and raw.dtype == np.int64
        assert len(counters) == n_items and tuple(counters) == counters.names
        np.testing.assert_array_equal(counters.checkpoints, res.checkpoints)
        totals = raw[:, -1].sum(axis=0)
        for j, name in enumerate(counters.names):
            assert name in counters
            assert type(counters[name]) is int
            assert counters[name] == totals[j]
            assert counters.get(name) == totals[j]
        assert dict(counters) == dict(zip(counters.names, totals.tolist()))
        assert counters.keys() == set(counters.names)
        # cumulative: never decreasing along the checkpoints
        assert (np.diff(raw, axis=1) >= 0).all()
        # unknown names behave as in any Mapping
        assert "nope" not in counters
        assert counters.get("nope") is None
        with pytest.raises(KeyError):
            counters["nope"]
        # the array views
        assert counters.per_image.shape == (5, n_items)
        np.testing.assert_array_equal(counters.per_image, raw[:, -1, :])
        means = counters.mean_per_image
        assert list(means) == list(counters.names)
        for j, name in enumerate(counters.names):
            assert isinstance(means[name], float)
            assert means[name] == pytest.approx(raw[:, -1, j].mean())
        at = counters.at_checkpoints()
        assert at.shape == (3, n_items) and at.dtype == np.float64
        np.testing.assert_allclose(at, raw.mean(axis=0))
        tot = counters.total_per_image()
        assert tot.shape == (3,)
        np.testing.assert_allclose(tot, raw.sum(axis=2).mean(axis=0))
    # spikes are counted for the poisson input and the spiking population
    assert res.spikes["input"] > 0
    assert res.spikes["out"] == 0
    assert "Counters(" in repr(res.spikes) and "'c':" in repr(res.spikes)


def test_counters_of_a_network_without_projections():
    b = snncore.NetworkBuilder((3,))
    b.population("out", (2,), kind="accumulate", bias=np.array([0.5, -0.25], np.float32))
    res = b.build("out").run(np.zeros((2, 3), np.float32), timesteps=4)
    np.testing.assert_array_equal(res.output, [[0.5, -0.25], [0.5, -0.25]])
    assert len(res.synaptic_ops) == 0 and dict(res.synaptic_ops) == {}
    assert res.synaptic_ops.raw.shape == (2, 1, 0)
    assert res.synaptic_ops.total_per_image().tolist() == [0.0]
