"""Runs and sweeps on Dask: a data set in blocks over a cluster's workers.

``run(net, images, timesteps, ...)`` runs a network over a Dask array, a list
of ``.npy`` shards or a numpy array, one task per block of images, and returns
the `RunResult` that ``net.run`` gives on the same images, bit for bit: each
block is run with its images' indices in the whole set (``first_index``), so
Poisson inputs draw the same random numbers, and the engine's results do not
depend on how the work is split (docs/format.md). Each worker loads the network
once, from the bytes the client sends it once or from a path, and keeps it.

``sweep(models_or_nets, calibration, grid, images, labels, ...)`` converts a
model under every setting of a grid (or takes converted networks), runs each
on the images, and returns one row per setting and checkpoint as a pandas
DataFrame. Each setting is one Dask task.

Both take ``client`` (a ``distributed.Client``); without one they use the
current default client, or, when there is none, run in this process, through
the same code. docs/distributed.md shows both on one machine and on a cluster.
"""

import hashlib
import io
import itertools
import numbers
import os
import time
from collections import OrderedDict

import numpy as np

from .network import Network, load
from .result import Counters, RunResult

__all__ = ["run", "sweep", "BlockError"]

# Images per block when `images` is a numpy array and no block size is given:
# enough that the per-task overhead (a few ms) is small against the work.
DEFAULT_BLOCK = 256

# Networks a worker keeps, most recently used last (a sweep over many networks
# must not fill a long-lived worker's memory).
_CACHE_SIZE = 8
_NETWORKS = OrderedDict()


class BlockError(RuntimeError):
    """A task of a distributed run or sweep failed (its worker died too often,
    or it raised). ``block`` is its index, ``what`` says which images or which
    setting it ran."""

    def __init__(self, message, block, what):
        super().__init__(message)
        self.block = block
        self.what = what


# -- the network on the workers ---------------------------------------------------------

def _network_ref(net):
    """What a task needs to find the network on a worker: ('bytes', digest, data)
    or ('path', absolute path)."""
    if isinstance(net, Network):
        buf = io.BytesIO()
        net.save(buf)
        data = buf.getvalue()
    elif isinstance(net, (bytes, bytearray, memoryview)):
        data = bytes(net)
    elif isinstance(net, (str, os.PathLike)):
        return ("path", os.path.abspath(os.fspath(net)))
    else:
        raise TypeError(f"net must be a Network, the bytes of a .npz or a path, "
                        f"not {type(net).__name__}")
    return ("bytes", hashlib.sha256(data).hexdigest(), data)


def _cached(key, make):
    if key in _NETWORKS:
        _NETWORKS.move_to_end(key)
        return _NETWORKS[key]
    net = make()
    _NETWORKS[key] = net
    while len(_NETWORKS) > _CACHE_SIZE:
        _NETWORKS.popitem(last=False)
    return net


def _worker_network(ref):
    """The network of `ref`, loaded once per worker process."""
    if ref[0] == "path":
        st = os.stat(ref[1])         # a rewritten file is loaded again
        return _cached(("path", ref[1], st.st_mtime_ns, st.st_size), lambda: load(ref[1]))
    return _cached(("bytes", ref[1]), lambda: load(io.BytesIO(ref[2])))


# -- blocks of images -------------------------------------------------------------------

def _blocks(images, block_size):
    """[(first, stop, source)]: source is an ndarray, a dask delayed block or a
    path to a .npy shard; first..stop are the images' indices in the set."""
    if isinstance(images, (list, tuple)) and images and all(
            isinstance(p, (str, os.PathLike)) for p in images):
        return _shard_blocks(images)
    if hasattr(images, "to_delayed") and hasattr(images, "chunks"):    # a dask array
        images = images.rechunk({i: -1 for i in range(1, images.ndim)})
        parts = images.to_delayed().reshape(-1)
        out, first = [], 0
        for part, n in zip(parts, images.chunks[0]):
            out.append((first, first + n, part))
            first += n
        return out
    x = np.asarray(images)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError("images is empty: no image to run")
    size = _check_block_size(block_size)
    return [(lo, min(lo + size, len(x)), x[lo:lo + size]) for lo in range(0, len(x), size)]


def _check_block_size(block_size):
    if block_size is None:
        return DEFAULT_BLOCK
    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral) \
            or block_size < 1:
        raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
    return int(block_size)


def _shard_blocks(paths):
    """One block per .npy shard; the shards' sizes come from their headers,
    read here (the client must see the files, as the workers do)."""
    out, first = [], 0
    for path in paths:
        path = os.path.abspath(os.fspath(path))
        try:
            n = np.load(path, mmap_mode="r", allow_pickle=False).shape[0]
        except (OSError, ValueError, IndexError) as e:
            raise ValueError(f"shard {path}: not a readable .npy of images ({e})") from None
        out.append((first, first + n, path))
        first += n
    return out


def _block_images(source):
    if isinstance(source, str):
        return np.load(source, allow_pickle=False)
    return source


# -- the task ---------------------------------------------------------------------------

def _run_block(ref, source, first, stop, options):
    """Run one block on a worker: its RunResult's per-image arrays and settings."""
    net = _worker_network(ref)
    x = _block_images(source)
    if len(x) != stop - first:
        raise ValueError(f"block of images {first}..{stop - 1} holds {len(x)} images, "
                         f"expected {stop - first}")
    res = net.run(x, first_index=first, progress=False, **options)
    return {"outputs": res.outputs, "spikes": res.spikes.raw, "synops": res.synaptic_ops.raw,
            "profile": res.profile, "checkpoints": res.checkpoints, "encoding": res.encoding,
            "readout_start": res.readout_start, "timesteps": res.timesteps,
            "names": (res.spikes.names, res.synaptic_ops.names)}


def _client(client):
    """The client to use: the given one, the default one, or None (local;
    client=False asks for that even when there is a default client)."""
    if client is False:
        return None
    if client is not None:
        return client
    try:
        from distributed import default_client
        return default_client()
    except (ImportError, ValueError):
        return None


def run(net, images, timesteps, encoding=None, checkpoints=None, seed=0, rate=None,
        readout_start=None, profile=False, threads=1, block_size=None, client=None,
        progress=False):
    """Run a network over a data set in blocks, on a Dask cluster.

    Parameters
    ----------
    net : Network, bytes or str or os.PathLike
        The network, the bytes of its ``.npz``, or a path every worker can
        read. A Network or bytes go to each worker once (``client.scatter``);
        each worker loads it once and keeps it for later runs.
    images : dask.array.Array, list of paths, or ndarray
        (N, *input_shape) float or uint8 images: a Dask array (one task per
        chunk along the first axis), ``.npy`` shards (one task per shard;
        the client and the workers must see the files), or an array split
        into blocks of ``block_size`` images.
    timesteps, encoding, checkpoints, seed, rate, readout_start, profile
        As `Network.run`.
    threads : int
        Engine threads per task (default 1: Dask's workers give the
        parallelism). Results do not depend on it.
    block_size : int, optional
        Images per task for a numpy array (default 256).
    client : distributed.Client or False, optional
        Default: the current client, or none (run here, block by block).
        False: run here even when there is a current client.
    progress : bool
        Show Dask's progress bar (``distributed.progress``) while it runs.

    Returns
    -------
    RunResult
        The result of ``net.run(images, ...)``: outputs and counters per
        image in order (so their totals are the sums over blocks), and the
        profile summed over blocks.

    Raises
    ------
    BlockError
        A block failed: its worker died more often than Dask allows
        (``distributed.scheduler.allowed-failures``), or its run raised. The
        message names the block and its images; no partial result is returned.
    """
    ref = _network_ref(net)
    blocks = _blocks(images, block_size)
    options = {"timesteps": timesteps, "encoding": encoding, "checkpoints": checkpoints,
               "seed": seed, "rate": rate, "readout_start": readout_start, "profile": profile,
               "threads": threads}
    client = _client(client)
    if client is None:
        parts = [_run_block(ref, _computed(src), lo, hi, options) for lo, hi, src in blocks]
    else:
        parts = _run_on(client, ref, blocks, options, progress)
    return _assemble(parts, blocks)


def _computed(source):
    return source.compute() if hasattr(source, "compute") else source


def _run_on(client, ref, blocks, options, progress):
    import dask

    if ref[0] == "bytes":
        # one task of the graph holds the bytes: sent once, fetched by each worker
        # once, and (unlike scattered data) recomputed if its worker dies
        ref = (ref[0], ref[1], dask.delayed(ref[2], pure=True))
    tasks = [dask.delayed(_run_block, pure=True)(ref, src, lo, hi, options)
             for lo, hi, src in blocks]
    futures = client.compute(tasks)
    if progress:
        from distributed import progress as show
        show(futures)
    return _gather(futures, [f"block {k} (images {lo}..{hi - 1})"
                                     for k, (lo, hi, _) in enumerate(blocks)])


def _gather(futures, labels):
    """Every task's result, in order, or a BlockError naming the first that
    failed (`labels[k]` says what task k was); the others are cancelled then."""
    results = []
    for k, f in enumerate(futures):
        try:
            results.append(f.result())
        except Exception as exc:
            why = (f"its worker died while running it ({type(exc).__name__}: {exc})"
                   if type(exc).__name__ == "KilledWorker" else f"{type(exc).__name__}: {exc}")
            for other in futures:
                other.cancel()
            raise BlockError(f"{labels[k]} failed: {why}", k, labels[k]) from exc
    return results


def _assemble(parts, blocks):
    """One RunResult from the blocks' results, checked to hold every image once."""
    expected = sum(hi - lo for lo, hi, _ in blocks)
    got = sum(len(p["outputs"]) for p in parts)
    if len(parts) != len(blocks) or got != expected:
        raise BlockError(f"the blocks returned {got} images, expected {expected}", -1,
                         "the whole run")
    first = parts[0]
    cps = first["checkpoints"]
    pop_names, proj_names = first["names"]
    profile = None
    if first["profile"] is not None:
        profile = {side: {name: sum(p["profile"][side][name] for p in parts)
                          for name in first["profile"][side]}
                   for side in ("populations", "projections")}
    return RunResult(
        checkpoints=cps, outputs=np.concatenate([p["outputs"] for p in parts]),
        spikes=Counters(pop_names, np.concatenate([p["spikes"] for p in parts]), cps),
        synaptic_ops=Counters(proj_names, np.concatenate([p["synops"] for p in parts]), cps),
        timesteps=first["timesteps"], encoding=first["encoding"],
        readout_start=first["readout_start"], profile=profile)


# -- sweeps -----------------------------------------------------------------------------

# The keys of a setting that are Network.run options (the others go to from_torch).
_RUN_KEYS = ("encoding", "rate", "seed", "readout_start")
# The key that asks for snncore's low-latency recipe (low_latency_options) at the run's T.
_RECIPE = "recipe"


def _settings(grid):
    """A list of dicts: the product of a dict of lists, or a list of dicts as given."""
    if grid is None:
        return [{}]
    if isinstance(grid, dict):
        keys = list(grid)
        values = []
        for k in keys:
            v = grid[k]
            values.append(list(v) if isinstance(v, (list, tuple)) else [v])
        return [dict(zip(keys, combo)) for combo in itertools.product(*values)]
    if isinstance(grid, (list, tuple)) and all(isinstance(s, dict) for s in grid):
        return [dict(s) for s in grid]
    raise TypeError("grid must be a dict of lists (their product is swept) or a list of dicts")


def _subjects(models_or_nets):
    """{name: model, Network or path}."""
    if isinstance(models_or_nets, dict):
        return {str(k): v for k, v in models_or_nets.items()}
    if isinstance(models_or_nets, (list, tuple)):
        return {_subject_name(v, i): v for i, v in enumerate(models_or_nets)}
    return {_subject_name(models_or_nets, 0): models_or_nets}


def _subject_name(subject, index):
    if isinstance(subject, (str, os.PathLike)):
        return os.path.basename(os.fspath(subject))
    return type(subject).__name__ if index == 0 else f"{type(subject).__name__}{index}"


def _is_model(subject):
    return not isinstance(subject, (Network, str, os.PathLike, bytes))


def _sweep_task(name, subject, setting, calibration, images, labels, timesteps, checkpoints,
                threads):
    """Convert (for a model) and run one setting: its rows, one per checkpoint."""
    from .energy import estimate_energy

    run_options = {k: v for k, v in setting.items() if k in _RUN_KEYS}
    started = time.perf_counter()
    if not isinstance(subject, tuple):
        net = _convert(subject, calibration, setting, timesteps, threads)
    else:
        if set(setting) - set(_RUN_KEYS):
            raise ValueError(f"{name}: a converted network takes only run settings "
                             f"({', '.join(_RUN_KEYS)}), not {sorted(set(setting) - set(_RUN_KEYS))}")
        net = _worker_network(subject)
    converted = time.perf_counter()
    res = net.run(images, timesteps, checkpoints=checkpoints, threads=threads, progress=False,
                  **run_options)
    done = time.perf_counter()
    accuracy = res.curve(labels)
    energy = estimate_energy(res, net)
    spikes, synops = res.spikes.total_per_image(), res.synaptic_ops.total_per_image()
    return [dict({"model": name}, **setting, T=int(t), accuracy=float(accuracy[i]),
                 spikes_per_image=float(spikes[i]), synaptic_ops_per_image=float(synops[i]),
                 energy_ratio=float(energy.ratio[i]), convert_seconds=converted - started,
                 run_seconds=done - converted)
            for i, t in enumerate(res.checkpoints)]


def _convert(model, calibration, setting, timesteps, threads):
    """from_torch under `setting`, with torch on `threads` threads (so that a
    worker and a local run compute the same floats)."""
    import torch
    from .convert import from_torch, low_latency_options

    options = {k: v for k, v in setting.items() if k not in _RUN_KEYS and k != _RECIPE}
    recipe = setting.get(_RECIPE)
    if recipe not in (None, "low-latency"):
        raise ValueError(f"recipe must be None or 'low-latency', got {recipe!r}")
    if recipe == "low-latency":
        options = dict(low_latency_options(model, timesteps=timesteps), **options)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return from_torch(model, calibration, progress=False, **options)
    finally:
        torch.set_num_threads(before)


def sweep(models_or_nets, calibration=None, grid=None, images=None, labels=None, timesteps=64,
          checkpoints=None, threads=1, client=None, progress=False):
    """Convert and run every setting of a grid as Dask tasks; one row per
    setting and checkpoint.

    Parameters
    ----------
    models_or_nets : torch.nn.Module, Network, path, or a list or dict of them
        Trained models to convert under each setting (from_torch), or
        converted networks to run under each run setting. A dict names them.
    calibration : ndarray, optional
        The calibration images of from_torch (needed for models).
    grid : dict of lists, or list of dicts, optional
        The settings: a dict's product ({"norm": ["max", "percentile"],
        "v_init": [0, 0.5]}) or the given dicts. Keys are from_torch's
        options, Network.run's encoding, rate, seed and readout_start, and
        ``recipe`` ('low-latency': low_latency_options at T, under the other
        keys). Default: one run with the defaults.
    images : ndarray (N, *input_shape)
    labels : ndarray (N,) of int
    timesteps : int
        T: the run's length, and the T that the low-latency recipe aims at.
    checkpoints : iterable of int, optional
        As Network.run: one row per checkpoint.
    threads : int
        Threads per task for torch and the engine (default 1).
    client : distributed.Client or False, optional
        Default: the current client, or none (run here, one setting at a time).
        False: run here even when there is a current client.
    progress : bool
        Show Dask's progress bar.

    Returns
    -------
    pandas.DataFrame
        Columns: ``model``, the grid's keys, ``T``, ``accuracy`` (in [0, 1]),
        ``spikes_per_image``, ``synaptic_ops_per_image``, ``energy_ratio``
        (SNN / ANN, estimate_energy), ``convert_seconds``, ``run_seconds``;
        rows in the order of models, settings and checkpoints.
    """
    import pandas as pd

    if images is None or labels is None:
        raise ValueError("sweep needs images and labels to measure the accuracy")
    subjects = _subjects(models_or_nets)
    settings = _settings(grid)
    if any(_is_model(s) for s in subjects.values()) and calibration is None:
        raise ValueError("converting a model needs calibration images")
    jobs = [(name, subject, setting) for name, subject in subjects.items()
            for setting in settings]
    # a task gets a model, or a network's reference (_network_ref)
    jobs = [(name, subject if _is_model(subject) else _network_ref(subject), setting)
            for name, subject, setting in jobs]
    fixed = (timesteps, checkpoints, threads)
    client = _client(client)
    if client is None:
        parts = [_sweep_task(n, s, st, calibration, images, labels, *fixed) for n, s, st in jobs]
    else:
        parts = _sweep_on(client, jobs, calibration, images, labels, fixed, progress)
    rows = [row for part in parts for row in part]
    return pd.DataFrame(rows)


def _sweep_on(client, jobs, calibration, images, labels, fixed, progress):
    import dask

    # the data and each model or network are one task of the graph each (see _run_on)
    data = [dask.delayed(calibration, pure=True), dask.delayed(np.asarray(images), pure=True),
            dask.delayed(np.asarray(labels), pure=True)]
    shared = {}
    tasks = []
    for name, subject, setting in jobs:
        if name not in shared:
            shared[name] = (dask.delayed(subject, pure=True) if not isinstance(subject, tuple)
                            else subject[:2] + tuple(dask.delayed(v, pure=True)
                                                     for v in subject[2:]))
        tasks.append(dask.delayed(_sweep_task, pure=True)(name, shared[name], setting, *data,
                                                         *fixed))
    futures = client.compute(tasks)
    if progress:
        from distributed import progress as show
        show(futures)
    return _gather(futures, [f"setting {k} ({name}: {setting})"
                                     for k, (name, _, setting) in enumerate(jobs)])
