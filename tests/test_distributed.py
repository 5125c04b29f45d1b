"""snncore.distributed on a LocalCluster: runs and sweeps on Dask give what a
local run gives, bit for bit; a worker that dies mid-run costs a retry, and one
that dies every time fails the run with an error naming the block.

One cluster for the module (2 worker processes of 1 thread on loopback), with
Dask's allowed failures lowered to 1 so that the failing case is quick.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pytest.importorskip("pandas")
from snncore import distributed as sd  # noqa: E402
from test_nir import every_op_net, images  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
    # not the default client: the tests without a client must run locally
    c = distributed.Client(cluster, set_as_default=False)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def net():
    return every_op_net()


def same_result(a, b):
    assert np.array_equal(a.checkpoints, b.checkpoints)
    assert np.array_equal(a.outputs, b.outputs)
    for what in ("spikes", "synaptic_ops"):
        assert getattr(a, what).names == getattr(b, what).names
        assert np.array_equal(getattr(a, what).raw, getattr(b, what).raw)
    assert (a.timesteps, a.encoding, a.readout_start) == (b.timesteps, b.encoding, b.readout_start)


RUN = dict(timesteps=10, checkpoints=[2, 5], encoding="poisson", seed=7)


def test_blocks_of_an_array_give_the_local_result(client, net):
    x = images(net.input_shape, n=23)
    local = net.run(x, **RUN)
    same_result(local, sd.run(net, x, block_size=5, client=client, **RUN))
    # the same network again: each worker kept the one it loaded
    cached = client.run(lambda: [id(n) for n in sd._NETWORKS.values()])
    same_result(local, sd.run(net, x, block_size=7, client=client, **RUN))
    assert client.run(lambda: [id(n) for n in sd._NETWORKS.values()]) == cached
    assert all(len(ids) == 1 for ids in cached.values())


def test_a_dask_array_shards_and_a_path(client, net, tmp_path):
    x = images(net.input_shape, n=17)
    local = net.run(x, **RUN)
    chunks = da.from_array(x, chunks=(6, 1, 4, 8))      # rechunked to whole images
    same_result(local, sd.run(net, chunks, client=client, **RUN))
    shards = []
    for k, lo in enumerate(range(0, 17, 8)):
        shards.append(str(tmp_path / f"x{k}.npy"))
        np.save(shards[-1], x[lo:lo + 8])
    path = tmp_path / "net.npz"
    net.save(path)
    same_result(local, sd.run(str(path), shards, client=client, **RUN))
    with open(path, "rb") as f:
        same_result(local, sd.run(f.read(), shards, client=client, **RUN))


def test_without_a_client_it_runs_here(net):
    x = images(net.input_shape, n=9)
    res = sd.run(net, x, block_size=4, profile=True, **RUN)
    same_result(net.run(x, **RUN), res)
    assert set(res.profile["projections"]) == {q.name for q in net.projections}


def _dies_once(x, marker):
    """A block that kills its worker process the first time it is computed."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return x


def _always_dies(x):
    os._exit(1)


def blocks_through(fn, x, size, *args):
    """A dask array of x whose last block comes through fn(block, *args)."""
    parts = []
    for lo in range(0, len(x), size):
        part = x[lo:lo + size]
        if lo + size >= len(x):
            part = da.from_delayed(dask.delayed(fn)(part, *args), part.shape, part.dtype)
        else:
            part = da.from_array(part, chunks=part.shape)
        parts.append(part)
    return da.concatenate(parts)


def test_a_worker_that_dies_mid_run_costs_a_retry(client, net, tmp_path):
    x = images(net.input_shape, n=20)
    marker = str(tmp_path / "died")
    res = sd.run(net, blocks_through(_dies_once, x, 5, marker), client=client, **RUN)
    assert os.path.exists(marker)           # a worker did die
    same_result(net.run(x, **RUN), res)


def test_a_block_that_kills_every_worker_fails_the_run_by_name(client, net):
    x = images(net.input_shape, n=10)
    # (a block that ran beside it on a dying worker may fail first: Dask counts
    # the deaths of every task that was running there)
    with pytest.raises(sd.BlockError, match=r"block [01] \(images [05]..[49]\) failed: its "
                                            r"worker died .*KilledWorker"):
        sd.run(net, blocks_through(_always_dies, x, 5), client=client, **RUN)
    client.wait_for_workers(2, timeout=60)      # the nannies restart them


def test_a_failing_block_is_named(client, net):
    x = images(net.input_shape, n=6)
    with pytest.raises(sd.BlockError, match=r"block 0 \(images 0..5\) failed: ValueError: "
                                            r"timesteps must be in"):
        sd.run(net, x, client=client, timesteps=0)
    with pytest.raises(ValueError, match="block_size must be"):
        sd.run(net, x, 4, block_size=0)
    with pytest.raises(TypeError, match="net must be a Network"):
        sd.run(42, x, timesteps=4)


# -- sweeps -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_model():
    """A small seeded ReLU net on 1x4x4 images, with labels = its predictions."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 12), torch.nn.ReLU(),
                                torch.nn.Linear(12, 3)).eval()
    x = np.random.default_rng(0).random((40, 1, 4, 4)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).numpy()
    return model, x, y


TIMING = ["convert_seconds", "run_seconds"]


def test_a_sweep_on_the_cluster_is_the_local_sweep(client, tiny_model):
    model, x, y = tiny_model
    # two settings, one a worker: each worker pays torch.fx's first trace (seconds)
    grid = [{"norm": "max", "v_init": 0.0}, {"norm": "percentile", "v_init": 0.5}]
    kwargs = dict(calibration=x[:20], grid=grid, images=x, labels=y, timesteps=8,
                  checkpoints=[2, 4])
    with ThreadPoolExecutor(1) as pool:      # the local sweep while the workers convert
        remote = pool.submit(sd.sweep, model, client=client, **kwargs)
        local = sd.sweep(model, **kwargs)
        remote = remote.result()
    assert len(remote) == 2 * 3
    assert list(remote.columns[:4]) == ["model", "norm", "v_init", "T"]
    assert remote.drop(columns=TIMING).equals(local.drop(columns=TIMING))
    assert (remote.accuracy.between(0, 1)).all()


def test_a_sweep_of_networks_over_run_settings(client, net):
    x = images(net.input_shape, n=8)
    y = np.arange(8) % 3
    grid = [{"encoding": "analog"}, {"encoding": "poisson", "seed": 3}]
    table = sd.sweep({"a": net, "b": net}, grid=grid, images=x, labels=y, timesteps=6,
                     client=client)
    assert list(table.model) == ["a", "a", "b", "b"]
    res = net.run(x, 6, encoding="poisson", seed=3)
    assert table.accuracy[1] == res.accuracy(y)
    assert table.spikes_per_image[1] == res.spikes.total_per_image()[-1]
    with pytest.raises(sd.BlockError, match=r"setting 0 \(a: \{'norm': 'max'\}\).*run settings"):
        sd.sweep({"a": net}, grid={"norm": ["max"]}, images=x, labels=y, client=client)
    with pytest.raises(TypeError, match="grid must be"):
        sd.sweep(net, grid=[1], images=x, labels=y)


# -- the command line -------------------------------------------------------------------

def test_cli_run_on_a_scheduler_prints_what_a_local_run_prints(client, net, tmp_path, capsys):
    from snncore.cli import main

    path, xs, ys = tmp_path / "net.npz", tmp_path / "x.npy", tmp_path / "y.npy"
    net.save(path)
    np.save(xs, images(net.input_shape, n=11))
    np.save(ys, np.arange(11) % 3)
    argv = ["run", str(path), str(xs), "--labels", str(ys), "-T", "8", "--checkpoints", "2,4",
            "--encoding", "poisson", "--format", "json"]
    assert main(argv) == 0
    local = capsys.readouterr().out
    assert main(argv + ["--scheduler", client.scheduler.address, "--block-size", "4"]) == 0
    assert capsys.readouterr().out == local


def test_cli_sweep(client, net, tmp_path, capsys):
    from snncore.cli import main

    path, xs, ys = tmp_path / "net.npz", tmp_path / "x.npy", tmp_path / "y.npy"
    net.save(path)
    np.save(xs, images(net.input_shape, n=6))
    np.save(ys, np.arange(6) % 3)
    argv = ["sweep", str(path), "--images", str(xs), "--labels", str(ys), "-T", "6",
            "--checkpoints", "3", "--grid", '{"encoding": ["analog", "regular"]}',
            "--format", "csv"]
    assert main(argv) == 0
    local = capsys.readouterr().out.splitlines()
    assert local[0].startswith("model,encoding,T,accuracy,spikes_per_image")
    assert len(local) == 1 + 4
    assert main(argv + ["--scheduler", client.scheduler.address]) == 0
    remote = capsys.readouterr().out.splitlines()
    untimed = [line.rsplit(",", 2)[0] for line in local]       # without the seconds
    assert [line.rsplit(",", 2)[0] for line in remote] == untimed
    with pytest.raises(SystemExit):
        main(["sweep", "--images", str(xs), "--labels", str(ys)])
    assert "either networks" in capsys.readouterr().err
