"""Threads and batching never change a result.

`Network.run` promises bit-identical results for any thread count, for any
split of a batch (image i uses the poisson stream first_index + i), for
concurrent runs of one Network from Python threads (the engine runs without
the GIL and shares the immutable network), and with or without the progress
bar (which runs the batch in chunks).
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snncore
from netgen import dyadic, networks
from results import assert_same_result

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])


@st.composite
def batch_settings(draw, shape, encodings=("analog", "poisson", "regular"), n=9):
    """(x of n images, timesteps, encoding, checkpoints, seed)."""
    encoding = draw(st.sampled_from(encodings))
    lo = -8 if encoding == "analog" else 0
    x = dyadic(draw, (n,) + tuple(shape), lo, 8, 8)
    timesteps = draw(st.integers(1, 20))
    checkpoints = draw(st.lists(st.integers(1, timesteps), max_size=3))
    seed = draw(st.integers(0, 2 ** 64 - 1))
    return x, timesteps, encoding, checkpoints, seed


@settings(max_examples=20, **SETTINGS)
@given(data=st.data())
def test_thread_count_does_not_change_results(data):
    net, shape = data.draw(networks())
    x, timesteps, encoding, checkpoints, seed = data.draw(batch_settings(shape))
    runs = [net.run(x, timesteps, encoding=encoding, checkpoints=checkpoints, seed=seed,
                    threads=threads) for threads in (1, 2, 3, 7)]
    for other in runs[1:]:
        assert_same_result(runs[0], other)


@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_images_split_over_a_team_of_threads(data):
    """With fewer images than threads, each image runs on all the threads
    together (a population's positions and each projection's target neurons
    split between them): nothing changes either."""
    net, shape = data.draw(networks())
    x, timesteps, encoding, checkpoints, seed = data.draw(batch_settings(shape, n=2))
    one = net.run(x, timesteps, encoding=encoding, checkpoints=checkpoints, seed=seed, threads=1)
    for threads in (3, 5):
        assert_same_result(one, net.run(x, timesteps, encoding=encoding, checkpoints=checkpoints,
                                        seed=seed, threads=threads))
    single = net.run(x[:1], timesteps, encoding=encoding, checkpoints=checkpoints, seed=seed,
                     threads=2)
    np.testing.assert_array_equal(single.outputs[0], one.outputs[0])
    np.testing.assert_array_equal(single.spikes.raw[0], one.spikes.raw[0])
    np.testing.assert_array_equal(single.synaptic_ops.raw[0], one.synaptic_ops.raw[0])


def _pooled_net(rows, channels, signed, reset, rng):
    """conv -> IF (rows x rows x channels) -> 2x2 average pool -> relay -> dense ->
    output, float32 weights that are not dyadic, so that a change in the order of
    the pool's additions would show in the bits."""
    b = snncore.NetworkBuilder((2, rows, rows))
    w = rng.normal(0, 0.6, (channels, 2, 3, 3)).astype(np.float32)
    b.population("act", (channels, rows, rows), kind="if", threshold=0.7, reset=reset,
                 signed=signed, threshold_neg=0.9 if signed else None, v_init=0.5)
    b.conv2d("conv", "input", "act", w, padding=(1, 1))
    h = rows // 2
    b.population("pool", (channels, h, h), kind="relay")
    gain = rng.uniform(0.3, 1.7, channels).astype(np.float32)
    b.avgpool2d("avg", "act", "pool", (2, 2), (2, 2), (0, 0), gain=gain)
    b.population("out", (5,), kind="accumulate")
    b.dense("fc", "pool", "out", rng.normal(0, 0.3, (5, channels * h * h)).astype(np.float32))
    return b.build("out")


@pytest.mark.parametrize("rows,channels", [(10, 16), (11, 3), (12, 32), (9, 21)])
@pytest.mark.parametrize("signed,reset", [(False, "subtract"), (True, "zero")])
def test_pool_folded_into_the_threshold_pass_changes_no_bit(rows, channels, signed, reset):
    """A 2x2 pool after IF neurons is applied by their threshold pass (folded) when
    one thread runs the image, and when a team's row bands cover whole windows
    whose target rows the same member passes over (12 rows into 6 on 2 or 3
    members); otherwise (10 or 11 rows into 5 on 2 members) the pool gathers the
    queued spikes. Every variant gives the same bits, with weights that are not
    dyadic; an odd row count leaves a row outside every window."""
    rng = np.random.default_rng(rows * 100 + channels)
    net = _pooled_net(rows, channels, signed, reset, rng)
    x = rng.uniform(-1, 1, (1, 2, rows, rows)).astype(np.float32)
    runs = [net.run(x, 23, checkpoints=[5, 11], threads=t) for t in (1, 2, 3)]
    assert runs[0].spikes.raw[0, -1, 1] > 0, "the pooled neurons should spike"
    for other in runs[1:]:
        assert_same_result(runs[0], other)
    many = net.run(np.repeat(x, 3, axis=0), 23, checkpoints=[5, 11], threads=2)
    np.testing.assert_array_equal(many.outputs[1], runs[0].outputs[0])


def test_suggested_threads():
    """The default thread count splits an image between threads only for a
    network big enough to gain from it."""
    small = conv_net()._get_engine()
    assert small.suggest_threads(1, 4) == 1
    assert small.suggest_threads(3, 4) == 3
    assert small.suggest_threads(9, 4) == 4
    assert small.suggest_threads(0, 0) == 1
    b = snncore.NetworkBuilder((1, 64, 64))
    b.population("h", (8, 64, 64), threshold=1.0)
    b.conv2d("c", "input", "h", np.ones((8, 1, 3, 3), np.float32), padding=1)
    assert b.build("h")._get_engine().suggest_threads(1, 4) == 4


@pytest.mark.parametrize("threads", [2, 3])
def test_team_policies_give_the_same_bits(threads):
    """With fewer images than threads a run goes on a team ('always'), on the
    calling thread ('never'), or on whichever has been faster ('auto', whose
    first runs alternate the two): a stream of one- and two-image runs gives
    one thread's bits every way, counters and checkpoints included."""
    net = conv_net()
    x = images(6, seed=3)
    one = net.run(x, 12, encoding="poisson", threads=1, seed=2, checkpoints=[4, 9])
    for team in ("auto", "always", "never", "auto"):
        for lo in range(0, 6, 2 if team == "always" else 1):
            hi = lo + (2 if team == "always" else 1)
            got = net.run(x[lo:hi], 12, encoding="poisson", threads=threads, seed=2,
                          checkpoints=[4, 9], first_index=lo, team=team)
            np.testing.assert_array_equal(got.outputs, one.outputs[lo:hi])
            np.testing.assert_array_equal(got.spikes.raw, one.spikes.raw[lo:hi])
            np.testing.assert_array_equal(got.synaptic_ops.raw, one.synaptic_ops.raw[lo:hi])


def test_team_policy_is_checked():
    net = conv_net()
    with pytest.raises(ValueError, match="team must be 'auto', 'always' or 'never'"):
        net.run(images(1), 4, threads=2, team="sometimes")
    with pytest.raises(ValueError, match="team must be"):
        net.run(images(1), 4, team=None)
    with pytest.raises(ValueError, match="team must be"):
        net.run(images(1), 4, team=["auto"])


@pytest.mark.parametrize("encoding", ["analog", "poisson", "regular"])
def test_more_threads_than_images(encoding):
    net = conv_net()
    x = images(3, seed=1)
    one = net.run(x, 10, encoding=encoding, threads=1, seed=5)
    for threads in (3, 16, snncore._core.MAX_THREADS):
        assert_same_result(one, net.run(x, 10, encoding=encoding, threads=threads, seed=5))


@settings(max_examples=15, **SETTINGS)
@given(data=st.data())
def test_batch_equals_images_one_at_a_time(data):
    net, shape = data.draw(networks(max_layers=3))
    x, timesteps, _, checkpoints, seed = data.draw(batch_settings(shape, ("poisson",), n=5))
    first = data.draw(st.integers(0, 1000))
    batch = net.run(x, timesteps, encoding="poisson", checkpoints=checkpoints, seed=seed,
                    first_index=first, threads=2)
    for i in range(x.shape[0]):
        one = net.run(x[i:i + 1], timesteps, encoding="poisson", checkpoints=checkpoints,
                      seed=seed, first_index=first + i, threads=1)
        np.testing.assert_array_equal(one.outputs[0], batch.outputs[i])
        np.testing.assert_array_equal(one.spikes.raw[0], batch.spikes.raw[i])
        np.testing.assert_array_equal(one.synaptic_ops.raw[0], batch.synaptic_ops.raw[i])


def test_batch_split_into_chunks_equals_whole_batch():
    net = conv_net()
    x = images(10, seed=2)
    whole = net.run(x, 12, encoding="poisson", seed=77, checkpoints=[3, 6], threads=3)
    parts = [net.run(x[lo:hi], 12, encoding="poisson", seed=77, checkpoints=[3, 6],
                     first_index=lo, threads=2) for lo, hi in ((0, 3), (3, 4), (4, 10))]
    np.testing.assert_array_equal(np.concatenate([p.outputs for p in parts]), whole.outputs)
    np.testing.assert_array_equal(np.concatenate([p.spikes.raw for p in parts]),
                                  whole.spikes.raw)
    np.testing.assert_array_equal(np.concatenate([p.synaptic_ops.raw for p in parts]),
                                  whole.synaptic_ops.raw)


def test_poisson_streams_differ_between_images():
    """The comparisons above can fail: the same image at different indices
    (or with another seed) gets other spikes."""
    net = conv_net()
    x = np.repeat(images(1, seed=3), 6, axis=0)
    res = net.run(x, 16, encoding="poisson", seed=1)
    assert len({res.spikes.raw[i].tobytes() for i in range(6)}) > 1
    shifted = net.run(x, 16, encoding="poisson", seed=1, first_index=1)
    assert not np.array_equal(res.spikes.raw, shifted.spikes.raw)
    np.testing.assert_array_equal(shifted.spikes.raw[:5], res.spikes.raw[1:])
    other_seed = net.run(x, 16, encoding="poisson", seed=2)
    assert not np.array_equal(res.spikes.raw, other_seed.spikes.raw)


# ---------------------------------------------------------------------------
# Concurrent runs from Python threads
# ---------------------------------------------------------------------------

def conv_net():
    """A network big enough that concurrent runs overlap in time:
    input (2, 12, 12) -conv-> c1 (if, 8 ch) -pool-> p1 (relay) -conv-> c2 (if)
    -dense-> out (accumulate, 10), with a residual identity into c2."""
    rng = np.random.default_rng(21)

    def w(*shape):
        return (rng.integers(-4, 5, shape) / 8).astype(np.float32)

    b = snncore.NetworkBuilder((2, 12, 12))
    b.population("c1", (8, 12, 12), threshold=np.linspace(0.25, 2.0, 8).astype(np.float32),
                 bias=w(8))
    b.conv2d("c1", "input", "c1", w(8, 2, 3, 3), padding=1)
    b.population("p1", (8, 6, 6), kind="relay")
    b.avgpool2d("p1", "c1", "p1", 2)
    b.population("c2", (8, 6, 6), threshold=0.5, signed=True, threshold_neg=1.0,
                 reset="zero")
    b.conv2d("c2", "p1", "c2", w(8, 8, 3, 3), padding=1)
    b.identity("skip", "p1", "c2")
    b.population("out", (10,), kind="accumulate")
    b.dense("out", "c2", "out", w(10, 288))
    return b.build("out")


def images(n, seed=0, shape=(2, 12, 12)):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 9, (n,) + shape) / 8).astype(np.float32)


TASKS = [dict(timesteps=16 + k, encoding=("analog", "poisson", "regular")[k % 3],
              seed=1000 + k, first_index=5 * k, threads=1 + k % 2, checkpoints=[4, 9])
         for k in range(8)]


def _task(net, x, k):
    return net.run(x, **TASKS[k])


def _concurrent_equals_sequential(net, x):
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(_task, net, x, k) for k in range(8)]
        concurrent = [f.result() for f in futures]
    sequential = [_task(net, x, k) for k in range(8)]
    for a, b in zip(concurrent, sequential):
        assert_same_result(a, b)
    return sequential


def test_concurrent_runs_of_one_network_equal_sequential_runs():
    net = conv_net()
    x = images(64, seed=4)
    net.run(x[:1], 2)                             # the engine exists before the threads start
    sequential = _concurrent_equals_sequential(net, x)
    # the tasks really differ, so a mix-up between threads would show
    assert len({r.outputs.tobytes() for r in sequential}) == 8


def test_concurrent_first_runs_of_a_fresh_network():
    # the engine is built lazily: here several threads may build it at once
    x = images(48, seed=6)
    _concurrent_equals_sequential(conv_net(), x)


def test_concurrent_runs_of_different_networks():
    nets = [conv_net(), conv_net()]
    x = images(8, seed=8)
    want = [nets[k % 2].run(x, 16, encoding="poisson", seed=k) for k in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda k: nets[k % 2].run(x, 16, encoding="poisson", seed=k),
                            range(8)))
    for a, b in zip(got, want):
        assert_same_result(a, b)


def test_concurrent_step_by_step_simulations():
    net = conv_net()
    x = images(4, seed=9)

    def sim(k):
        s = net.simulate(x[k % 4], encoding="poisson", seed=k, image_index=k)
        s.step(5)
        s.step(7)
        return s.output, s.counters()

    want = [sim(k) for k in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(sim, range(8)))
    for (out_a, cnt_a), (out_b, cnt_b) in zip(got, want):
        np.testing.assert_array_equal(out_a, out_b)
        assert cnt_a == cnt_b


# ---------------------------------------------------------------------------
# Progress bar
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["analog", "poisson", "regular"])
def test_progress_bar_writes_to_stderr_and_changes_nothing(capsys, encoding):
    net = conv_net()
    x = images(30, seed=10)             # with one thread the bar runs chunks of 8 images
    quiet = net.run(x, 10, encoding=encoding, seed=3, checkpoints=[5], threads=1,
                    progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""

    loud = net.run(x, 10, encoding=encoding, seed=3, checkpoints=[5], threads=1,
                   progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert "[" in err and "#" in err and "]" in err, err
    assert "/30 images" in err, err
    assert "30/30 images" in err, err
    assert err.rstrip().endswith("s") and "30 images in" in err, err
    assert_same_result(quiet, loud)


def test_progress_bar_with_several_threads(capfd):
    net = conv_net()
    x = images(40, seed=11)
    loud = net.run(x, 6, encoding="poisson", seed=8, threads=2, progress=True)
    err = capfd.readouterr().err
    assert "40/40 images" in err and "40 images in" in err, err
    assert_same_result(loud, net.run(x, 6, encoding="poisson", seed=8, threads=3))


def test_no_progress_bar_by_default_when_stderr_is_not_a_terminal(capsys):
    net = conv_net()
    net.run(images(20, seed=12), 4)
    assert capsys.readouterr().err == ""


def test_runs_on_a_kept_runner_equal_runs_on_fresh_ones():
    """The engine keeps its threads and states between runs (snn_runner): runs
    that switch between whole images per thread and one image per team, and
    between thread counts (which replaces the runner), equal the same runs on
    networks used for the first time."""
    net = conv_net()
    x = images(7, seed=11)
    plan = [(1, 5), (2, 1), (2, 5), (2, 1), (3, 2), (3, 7), (1, 1), (2, 3)]
    for k, (threads, n) in enumerate(plan):
        kw = dict(encoding=("analog", "poisson")[k % 2], seed=k, first_index=k,
                  checkpoints=[3, 7], threads=threads)
        kept = net.run(x[:n], 11 + k % 3, **kw)
        fresh = conv_net().run(x[:n], 11 + k % 3, **kw)
        assert_same_result(kept, fresh)


def test_runs_in_a_forked_child():
    """A child forked after runs has the parent's runner but not its threads:
    the engine starts new ones there, and the results are the parent's."""
    import os

    net = conv_net()
    x = images(3, seed=12)
    want = [net.run(x[:n], 9, threads=2).outputs for n in (1, 3)]
    pid = os.fork()
    if pid == 0:   # the child: exit 0 only if both runs match
        ok = False
        try:
            got = [net.run(x[:n], 9, threads=2).outputs for n in (1, 3)]
            ok = all(np.array_equal(a, b) for a, b in zip(want, got))
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
