"""The runtime's central object: a validated spiking network that can be saved,
summarised and run on batches of images by the C engine."""

import numbers
import os
from collections import namedtuple

import numpy as np

from . import _core, _limits
from ._images import float_images
from ._progress import Progress
from ._spec import ENCODINGS, WINDOWED, denormalize, normalize, read
from ._npz import write_npz
from .errors import FormatError
from .result import Counters, RunResult

__all__ = ["Network", "load", "Population", "Projection"]

Population = namedtuple("Population", "name kind shape")
Population.__doc__ = "A population as written in the file: name, kind and shape ((N,) or (C, H, W))."
Projection = namedtuple("Projection", "name op source target")
Projection.__doc__ = "A projection: name, op, and the names of its source and target populations."


def load(path, max_bytes=None):
    """Read and validate a network file written by `Network.save` (or by any
    writer following docs/format.md).

    The C library reads the file (the same loader as ``snnrun`` and
    ``snn_file_read``): it is checked from its metadata and its arrays'
    headers before any array is read, and only the arrays the network
    references are read.

    Parameters
    ----------
    path : str, bytes or os.PathLike, a binary file object, or the file's
        bytes as a bytearray or memoryview
    max_bytes : int, optional
        Refuse a network whose weights and one image's state would need more
        memory than this (default: ``snncore.limits()["max_bytes"]``, 8 GiB).

    Returns
    -------
    Network

    Raises
    ------
    FormatError
        The file is not a valid snncore network; the message names the
        member, population or projection at fault, and ``status``,
        ``population`` and ``projection`` give the C library's status and the
        index of the item at fault.
    OSError
        The path cannot be opened or read.
    """
    return Network._from_spec(read(path, max_bytes=max_bytes))


class Network:
    """A spiking network: populations of integrate-and-fire neurons joined by
    projections, as specified in docs/format.md.

    Parameters
    ----------
    meta : dict
        The decoded ``__snncore__`` metadata.
    arrays : mapping of str to array_like
        The tensors the metadata names, stored as float32 (integer and
        float arrays are converted).

    The pair is written as a network file in memory and read back by the C
    library's loader, so it meets exactly the rules a file meets. Build one
    with `snncore.load`, `snncore.NetworkBuilder` or the converter
    (``snncore.convert.from_torch``). A network is immutable.

    Raises
    ------
    FormatError
        The description is invalid.
    """

    def __init__(self, meta, arrays):
        self._spec = normalize(meta, arrays)
        self._freeze()
        self._engine = None

    @classmethod
    def _from_spec(cls, spec):
        """A network of a checked, normalised spec whose arrays are its own."""
        net = cls.__new__(cls)
        net._spec = spec
        net._freeze()
        net._engine = None
        return net

    def _freeze(self):
        """Make every array read-only (they are the network's own: the loader's
        copies), so that the network, its saved file and its engine agree."""
        for item in self._spec["populations"] + self._spec["projections"]:
            for key in ("threshold", "threshold_neg", "bias", "weight"):
                if item.get(key) is not None:
                    item[key].setflags(write=False)

    # -- description -------------------------------------------------------

    def _pop_shape(self, index):
        pop = self._spec["populations"][index]
        return (pop["shape"][0],) if pop["ndim"] == 1 else tuple(pop["shape"])

    @property
    def input_shape(self):
        """Shape of one input image: (C, H, W) or (N,)."""
        return self._pop_shape(self._spec["input"])

    @property
    def output_shape(self):
        """Shape of the read-out population: (K,) or (C, H, W)."""
        return self._pop_shape(self._spec["output"])

    @property
    def output_name(self):
        return self._spec["populations"][self._spec["output"]]["name"]

    @property
    def populations(self):
        """tuple of `Population`, in file order."""
        return tuple(Population(p["name"], p["kind"], self._pop_shape(i))
                     for i, p in enumerate(self._spec["populations"]))

    @property
    def projections(self):
        """tuple of `Projection`, in file order."""
        names = [p["name"] for p in self._spec["populations"]]
        return tuple(Projection(q["name"], q["op"], names[q["source"]], names[q["target"]])
                     for q in self._spec["projections"])

    @property
    def encoding(self):
        """The file's default input encoding ('analog', 'poisson' or 'regular')."""
        return self._spec["encoding"]

    @property
    def readout_start(self):
        """The file's delayed read-out hint: the output counts steps >= this (1: all)."""
        return self._spec["readout_start"]

    @property
    def provenance(self):
        """dict: how the network was made (normalisation method, percentile, ...)."""
        return dict(self._spec["provenance"])

    def ann_macs(self):
        """Multiply-accumulates of the equivalent ANN for one image, per
        projection (dict name -> int). Convolutions count every kernel tap of
        every output (padding included), as the field does; pooling and
        identity count none."""
        pops = self._spec["populations"]
        macs = {}
        for q in self._spec["projections"]:
            src, dst = pops[q["source"]]["shape"], pops[q["target"]]["shape"]
            if q["op"] == "conv2d":
                kh, kw = q["kernel"]
                per_group = src[0] // q["groups"]      # each output reads its group's inputs
                macs[q["name"]] = dst[0] * dst[1] * dst[2] * per_group * kh * kw
            elif q["op"] == "dense":
                macs[q["name"]] = int(np.prod(dst)) * int(np.prod(src))
            else:
                macs[q["name"]] = 0
        return macs

    def describe(self):
        """The network's description as plain Python values (dicts, lists,
        str, int, float, bool, None), ready for ``json.dumps``: what
        `summary` shows, with a fixed key order and no NaN or infinity.

        Returns
        -------
        dict
            ``format_version`` (the file's, or the newest for a network made
            in memory), ``producer`` (str or None), ``input`` (``population``,
            ``shape``, ``encoding``, ``rate``, ``uint8_scale``), ``output``
            (``name``, ``kind``, ``shape``), ``readout_start``,
            ``populations`` (a list in file order of ``name``, ``kind``,
            ``shape``, ``neurons``, ``bias`` (None, 'per channel' or 'per
            neuron'), and for ``if`` neurons ``threshold``, ``reset``,
            ``v_init``, ``signed``, ``retract``, and ``threshold_neg`` when signed; a
            threshold is a number, or ``{"channels", "min", "max"}`` when
            it is per channel), ``order`` (population names in simulation
            order), ``projections`` (a list in file order of ``name``, ``op``,
            ``source``, ``target``, ``weights`` (the count), ``kernel``,
            ``stride``, ``padding``, ``ceil_mode`` (for the ops with a window),
            ``scale`` (upsample2d), ``groups`` (conv2d), ``ann_macs``),
            ``totals`` (``neurons`` (input excluded), ``weights``,
            ``ann_macs``) and ``provenance`` (dict; non-finite numbers become
            None).
        """
        spec = self._spec
        pops = spec["populations"]
        macs = self.ann_macs()
        populations = []
        for i, p in enumerate(pops):
            item = {"name": p["name"], "kind": p["kind"], "shape": list(self._pop_shape(i)),
                    "neurons": int(np.prod(p["shape"]))}
            if p["kind"] == "if":
                item["threshold"] = _values(p["threshold"])
                if p["signed"]:
                    item["threshold_neg"] = _values(p["threshold_neg"])
                item["reset"] = p["reset"]
                item["v_init"] = _finite(p["v_init"])
                item["signed"] = bool(p["signed"])
                item["retract"] = bool(p["retract"])
            item["bias"] = None if p["bias"] is None else (
                "per channel" if p["bias"].size == p["shape"][0] else "per neuron")
            populations.append(item)
        projections = []
        for q in spec["projections"]:
            item = {"name": q["name"], "op": q["op"], "source": pops[q["source"]]["name"],
                    "target": pops[q["target"]]["name"],
                    "weights": 0 if q["weight"] is None else int(q["weight"].size)}
            if q["op"] in WINDOWED:
                for key in ("kernel", "stride", "padding"):
                    item[key] = [int(v) for v in q[key]]
                item["ceil_mode"] = bool(q["ceil_mode"])
            if q["op"] == "upsample2d":
                item["scale"] = [int(v) for v in q["scale"]]
            if q["op"] == "conv2d":
                item["groups"] = int(q["groups"])
            item["ann_macs"] = int(macs[q["name"]])
            projections.append(item)
        out = pops[spec["output"]]
        return {
            "format_version": int(spec.get("version") or _limits.FORMAT_VERSION),
            "producer": spec["producer"],
            "input": {"population": pops[spec["input"]]["name"], "shape": list(self.input_shape),
                      "encoding": spec["encoding"], "rate": _finite(spec["rate"]),
                      "uint8_scale": _finite(spec["uint8_scale"])},
            "output": {"name": out["name"], "kind": out["kind"], "shape": list(self.output_shape)},
            "readout_start": int(spec["readout_start"]),
            "populations": populations,
            "order": [pops[i]["name"] for i in spec["order"]],
            "projections": projections,
            "totals": {"neurons": sum(p["neurons"] for p in populations if p["kind"] != "input"),
                       "weights": sum(q["weights"] for q in projections),
                       "ann_macs": int(sum(macs.values()))},
            "provenance": _plain(spec["provenance"]),
        }

    # -- validation and files ------------------------------------------------

    def validate(self):
        """Check the network completely, as the file loader and the C core do.

        A `Network` is validated when it is made; this re-runs every check
        (Python's and the C core's) and builds the engine.

        Raises
        ------
        FormatError
        """
        normalize(*denormalize(self._spec))
        self._get_engine()

    def save(self, path, compressed=False):
        """Write the network as an ``.npz`` file (docs/format.md).

        Parameters
        ----------
        path : str or os.PathLike or binary file object
            Used as given (no extension is appended).
        compressed : bool
            Deflate the members. The default (stored) is what the C loader
            reads fastest; both load everywhere.
        """
        meta, arrays = self._to_file()
        write_npz(path, meta, arrays, compressed=compressed)

    def _to_file(self):
        meta, arrays = denormalize(self._spec)
        meta["producer"] = "snncore " + _core.VERSION
        return meta, arrays

    @property
    def isa(self):
        """The engine's kernels: 'avx512' where the CPU has AVX-512F, else 'avx2'
        where it has AVX2, else 'generic'. All give bit-identical results. The
        environment variable SNNCORE_ISA (auto, generic, avx2 or avx512; snnrun's
        --isa) overrides the choice."""
        return self._get_engine().isa

    def _get_engine(self):
        if self._engine is None:
            isa = os.environ.get("SNNCORE_ISA", "auto").strip().lower() or "auto"
            if isa not in _core.ISAS:
                raise ValueError(f"SNNCORE_ISA must be one of {', '.join(_core.ISAS)}, got {isa!r}")
            self._engine = self._build_engine(isa)
        return self._engine

    def _build_engine(self, isa):
        try:
            return _core.Engine(self._spec, isa)
        except _core.CoreError as e:
            raise FormatError(str(e), e.status, e.population, e.projection) from None

    # -- running -------------------------------------------------------------

    def run(self, x, timesteps, encoding=None, checkpoints=None, seed=0, threads=None,
            rate=None, first_index=0, progress=None, readout_start=None, profile=False,
            team="auto"):
        """Simulate a batch of images.

        Parameters
        ----------
        x : array-like of shape (n_images, *input_shape) or input_shape
            float images (any float dtype; converted to float32) or uint8
            images (scaled by the file's ``uint8_scale``, 1/255 by default).
            A torch tensor works too. A single image is run as a batch of one.
        timesteps : int
            T >= 1.
        encoding : {'analog', 'poisson', 'regular'}, optional
            Default: the file's hint. Poisson and regular inputs must be >= 0.
        checkpoints : iterable of int, optional
            Steps in 1..T at which to record the output and counters; T is
            always added. One run gives the whole accuracy-vs-timesteps curve.
        seed : int
            Seed of the poisson encoder (0 <= seed < 2**64). Image i of the
            batch uses the random stream (seed, first_index + i), so results do
            not depend on the batch split or the thread count.
        threads : int, optional
            Worker threads (default: the CPUs this process may use; for fewer
            images than that on a small network, one per image). With fewer
            images than threads, the threads share each image's work. Results
            are bit-identical for any value. The network keeps its worker
            threads and simulation states from one run to the next (they spin
            for about a millisecond after a run, then sleep), so that a stream
            of short runs (one image at a time) pays no start-up per run.
        team : {'auto', 'always', 'never'}
            With fewer images than threads: 'always' has the threads share each
            image (a team); 'never' runs the images on the calling thread;
            'auto' (the default) times both from time to time over a stream of
            runs and uses the faster (a team meets several times per step, so
            a core slowed by another program slows all of it). Results are
            bit-identical whichever runs.
        rate : float, optional
            Spike probability per unit input per step for poisson/regular
            (default: the file's hint, 1.0).
        first_index : int
            Index of the first image, for the poisson streams.
        progress : bool, optional
            Show a progress bar on stderr (default: when stderr is a terminal
            and the run is long).
        readout_start : int, optional
            Delayed read-out: the output sums steps readout_start..t only and is
            0 at checkpoints before it (default: the file's hint, usually 1).
            It must be <= T.
        profile : bool
            Time the engine's work per population and projection (the result's
            ``profile``, in seconds summed over images and threads). It costs
            two clock reads per population and projection per step.

        Returns
        -------
        RunResult
        """
        engine = self._get_engine()
        encoding = self._check_encoding(encoding)
        timesteps = _check_int("timesteps", timesteps, 1, _limits.MAX_TIMESTEPS)
        cps = _check_checkpoints(checkpoints, timesteps)
        seed = _check_int("seed", seed, 0, 2 ** 64 - 1)
        first_index = _check_int("first_index", first_index, 0, 2 ** 62)
        threads = None if threads is None else _check_int("threads", threads, 1, _core.MAX_THREADS)
        if not isinstance(team, str) or team not in _core.TEAM_POLICIES:   # the engine's names
            *first, last = map(repr, _core.TEAM_POLICIES)
            raise ValueError(f"team must be {', '.join(first)} or {last}, got {team!r}")
        rate = self._check_rate(rate)
        readout_start = self._check_readout_start(readout_start, timesteps)
        x = self._prepare_input(x, encoding)
        if threads is None:
            threads = engine.suggest_threads(x.shape[0], _default_threads())

        n, n_cp = x.shape[0], cps.shape[0]
        n_pop, n_proj = engine.n_populations, engine.n_projections
        out = np.empty((n, n_cp * engine.output_size), dtype=np.float32)
        spikes = np.empty((n, n_cp * n_pop), dtype=np.int64)
        synops = np.empty((n, n_cp * n_proj), dtype=np.int64)
        prof = np.zeros(n_pop + n_proj, dtype=np.int64) if profile else None
        bar = Progress(n, enabled=progress, work=n * timesteps * engine.input_size)
        step = n if not bar.enabled else max(8 * threads, -(-n // 50))
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            try:
                engine.run(x[lo:hi], timesteps, encoding, rate, seed, cps, first_index + lo,
                           threads, out[lo:hi], spikes[lo:hi], synops[lo:hi], readout_start,
                           prof, team)
            except _core.CoreError as e:
                raise ValueError(str(e)) from None     # the C message names the item
            bar.update(hi)
        bar.close()

        pop_names = [p["name"] for p in self._spec["populations"]]
        proj_names = [q["name"] for q in self._spec["projections"]]
        cps64 = cps.astype(np.int64)
        return RunResult(
            checkpoints=cps64,
            outputs=out.reshape(n, n_cp, engine.output_size),
            spikes=Counters(pop_names, spikes.reshape(n, n_cp, n_pop), cps64),
            synaptic_ops=Counters(proj_names, synops.reshape(n, n_cp, n_proj), cps64),
            timesteps=timesteps, encoding=encoding, readout_start=readout_start,
            profile=None if prof is None else {
                "populations": dict(zip(pop_names, (prof[:n_pop] * 1e-9).tolist())),
                "projections": dict(zip(proj_names, (prof[n_pop:] * 1e-9).tolist()))})

    def simulate(self, image, encoding=None, seed=0, rate=None, image_index=0, readout_start=None):
        """Start a step-by-step simulation of one image (for inspection).

        Returns
        -------
        Simulation
        """
        encoding = self._check_encoding(encoding)
        x = self._prepare_input(image, encoding)
        if x.shape[0] != 1:
            raise ValueError(f"simulate takes one image, got a batch of {x.shape[0]}")
        sim = Simulation(self, self._get_engine())
        sim._state.reset(x[0], encoding, self._check_rate(rate),
                         _check_int("seed", seed, 0, 2 ** 64 - 1),
                         _check_int("image_index", image_index, 0, 2 ** 62),
                         self._check_readout_start(readout_start, _limits.MAX_TIMESTEPS))
        return sim

    def _check_encoding(self, encoding):
        if encoding is None:
            return self._spec["encoding"]
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
        return encoding

    def _check_readout_start(self, readout_start, timesteps):
        if readout_start is None:
            readout_start = min(self._spec["readout_start"], timesteps)
        return _check_int("readout_start", readout_start, 1, timesteps)

    def _check_rate(self, rate):
        if rate is None:
            return float(self._spec["rate"])
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not np.isfinite(rate) \
                or rate <= 0:
            raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
        return float(rate)

    def _prepare_input(self, x, encoding):
        """x as a C-contiguous float32 array (n_images, input_size), checked."""
        shape = self.input_shape
        size = int(np.prod(shape))
        try:
            x = float_images(x, self._spec["uint8_scale"])
        except TypeError as e:
            raise TypeError(f"x must hold float or uint8 images, not {np.asarray(x).dtype}") \
                from e
        if x.shape == shape:
            x = x[None]
        if x.ndim >= 1 and x.shape[0] == 0:
            raise ValueError("x is an empty batch (0 images)")
        if x.shape[1:] != shape and not (x.ndim == 2 and x.shape[1] == size):
            raise ValueError(f"x has shape {x.shape}; expected (n_images, {', '.join(map(str, shape))})"
                             f" for this network's input {shape}")
        x = np.ascontiguousarray(x.reshape(x.shape[0], size))
        bad = ~np.isfinite(x)
        if bad.any():
            i = int(np.argmax(bad.any(axis=1)))
            raise ValueError(f"x holds NaN or infinity (first in image {i})")
        if encoding != "analog" and (x < 0).any():
            i = int(np.argmax((x < 0).any(axis=1)))
            raise ValueError(f"{encoding} encoding needs inputs >= 0 (spike probabilities); "
                             f"image {i} holds negative values")
        return x

    # -- display -------------------------------------------------------------

    def summary(self):
        """A readable table of populations and projections.

        Returns
        -------
        str
            Shapes, neuron kinds, thresholds, parameter counts and the ANN's
            multiply-accumulates per image.
        """
        from ._summary import summary_text
        return summary_text(self._spec, self.ann_macs())

    def __repr__(self):
        return (f"<snncore.Network: {len(self._spec['populations'])} populations, "
                f"{len(self._spec['projections'])} projections, input {self.input_shape}, "
                f"output {self.output_name!r} {self.output_shape}>")


class Simulation:
    """One image simulated step by step (see `Network.simulate`).

    Stepping 3 then 5 steps gives exactly what one run of 8 steps gives.
    """

    def __init__(self, network, engine):
        self._network = network
        self._engine = engine
        self._state = _core.State(engine)
        self._max_timesteps = engine.max_timesteps

    @property
    def time(self):
        """Steps simulated so far."""
        return self._state.time

    def step(self, n=1):
        """Advance by n >= 0 steps."""
        # a network of retracting neurons runs at most 2^24 steps (the engine's max_timesteps)
        self._state.step(_check_int("n", n, 0, self._max_timesteps - self._state.time))

    @property
    def output(self):
        """ndarray of shape (K,), float32: decoded output now (needs time >= 1)."""
        if self.time < 1:
            raise ValueError("no output before the first step; call step() first")
        out = np.empty(self._engine.output_size, dtype=np.float32)
        self._state.read_output(out)
        return out

    def counters(self):
        """(spikes, synaptic_ops): dicts name -> count so far."""
        spikes = np.empty(self._engine.n_populations, dtype=np.int64)
        synops = np.empty(self._engine.n_projections, dtype=np.int64)
        self._state.read_counters(spikes, synops)
        return ({p.name: int(v) for p, v in zip(self._network.populations, spikes)},
                {q.name: int(v) for q, v in zip(self._network.projections, synops)})


def _finite(value):
    """A float, or None for NaN and infinity (JSON has neither)."""
    value = float(value)
    return value if np.isfinite(value) else None


def _values(arr):
    """A threshold: its number, or {"channels", "min", "max"} when per channel."""
    if arr is None:
        return None
    arr = np.asarray(arr).reshape(-1)
    if arr.size == 1:
        return _finite(arr[0])
    return {"channels": int(arr.size), "min": _finite(arr.min()), "max": _finite(arr.max())}


def _plain(value):
    """A JSON-like value with tuples as lists, numpy scalars as Python ones and
    non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _finite(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return value


def _check_checkpoints(checkpoints, timesteps):
    """int32 array: sorted unique steps in 1..T, T included."""
    if checkpoints is None:
        return np.array([timesteps], dtype=np.int32)
    if isinstance(checkpoints, numbers.Integral):
        checkpoints = [checkpoints]
    elif isinstance(checkpoints, (str, bytes, numbers.Number)) or not hasattr(checkpoints, "__iter__"):
        raise TypeError(f"checkpoints must be an integer or an iterable of integers, "
                        f"not {type(checkpoints).__name__}")
    values = {_check_int("checkpoint", c, 1, timesteps) for c in checkpoints}
    values.add(timesteps)
    return np.array(sorted(values), dtype=np.int32)


def _default_threads():
    try:
        return max(1, min(_core.MAX_THREADS, len(os.sched_getaffinity(0))))
    except AttributeError:
        return max(1, min(_core.MAX_THREADS, os.cpu_count() or 1))
