# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin binding of csrc/include/snn.h: typed buffers become C calls, C statuses
become exceptions, and a network file read by the C loader becomes a spec (the
plain dict of snncore/_spec.py). The format's rules live in the library alone."""

from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

cimport snn

import json
import os
import threading

import numpy as np

cdef const char *_table_name(int table, int32_t value) noexcept:
    if table == 0:
        return snn.snn_kind_name(value)
    if table == 1:
        return snn.snn_op_name(value)
    if table == 2:
        return snn.snn_reset_name(value)
    if table == 3:
        return snn.snn_encoding_name(value)
    if table == 4:
        return snn.snn_isa_name(value)
    return snn.snn_team_policy_name(value)


def _names(int table):
    """The names of one of the library's tables, in value order."""
    cdef int32_t value = 0
    cdef const char *name
    names = []
    while True:
        name = _table_name(table, value)
        if name == NULL:
            return tuple(names)
        names.append(name.decode())
        value += 1


cdef tuple _keys(const char *const *keys):
    cdef int i = 0
    out = []
    while keys[i] != NULL:
        out.append(keys[i].decode())
        i += 1
    return tuple(out)


# The library's names (snn.h, "Names"): each tuple lists the names in enum order.
KINDS = _names(0)
OPS = _names(1)
RESETS = _names(2)
ENCODINGS = _names(3)
ISAS = _names(4)
TEAM_POLICIES = _names(5)
_KEY_OWNERS = {snn.SNN_KEYS_POPULATION: "population", snn.SNN_KEYS_PROJECTION: "projection",
               snn.SNN_KEYS_INPUT: "input", snn.SNN_KEYS_READOUT: "readout"}
_KEY_TYPES = {snn.SNN_KEY_NAME: "name", snn.SNN_KEY_CHOICE: "choice",
              snn.SNN_KEY_POPULATION: "population", snn.SNN_KEY_SHAPE: "shape",
              snn.SNN_KEY_PAIR: "pair", snn.SNN_KEY_ARRAY: "array",
              snn.SNN_KEY_THRESHOLD: "threshold", snn.SNN_KEY_FLOAT: "float",
              snn.SNN_KEY_DOUBLE: "double", snn.SNN_KEY_BOOL: "bool", snn.SNN_KEY_INT: "int",
              snn.SNN_KEY_COUNT: "count"}


def _key_rows():
    cdef int32_t n = 0, i
    cdef const snn.snn_key *k = snn.snn_keys(&n)
    rows = []
    for i in range(n):
        owner = _KEY_OWNERS[k[i].owner]
        names = KINDS if owner == "population" else OPS if owner == "projection" else None
        rows.append({
            "key": k[i].key.decode(), "owner": owner, "type": _KEY_TYPES[k[i].type],
            "applies": frozenset(x for b, x in enumerate(names) if k[i].applies >> b & 1)
                       if names else None,
            "required": bool(k[i].required), "fallback": k[i].fallback,
            "fallback_key": k[i].fallback_key.decode() if k[i].fallback_key != NULL else None,
            "choices": _keys(k[i].choices) if k[i].choices != NULL else None})
    return tuple(rows)


# The metadata keys of a network file (snn_keys of snn.h), one dict per row in the
# order the readers read them: "owner" ("population", "projection", "input" or
# "readout"), "type" (snn_key_type's name in lower case: "name", "choice", ...),
# "applies" (the kinds or ops that take the key; None for input and readout),
# "required", "fallback", "fallback_key" and "choices" (a tuple, or None).
KEYS = _key_rows()
# Status codes (snn_status of snn.h), as the exceptions' .status holds them.
E_NOMEM = snn.SNN_E_NOMEM
E_INVALID_ARG = snn.SNN_E_INVALID_ARG
E_SHAPE = snn.SNN_E_SHAPE
E_VALUE = snn.SNN_E_VALUE
E_GRAPH = snn.SNN_E_GRAPH
E_LIMIT = snn.SNN_E_LIMIT
E_UNSUPPORTED = snn.SNN_E_UNSUPPORTED
E_FORMAT = snn.SNN_E_FORMAT     # a reader's refusal
E_IO = snn.SNN_E_IO             # a file that cannot be opened or read
VERSION = snn.snn_version_string().decode()
FORMAT_VERSION = snn.SNN_FORMAT_VERSION
MAX_THREADS = snn.SNN_MAX_THREADS   # the most threads a run uses (snn.h)


class CoreError(ValueError):
    """A status from the C core. `population` / `projection` index the item at
    fault (or are -1); the Python layer turns them into names."""

    def __init__(self, status, message, population=-1, projection=-1):
        super().__init__(message)
        self.status = status
        self.population = population
        self.projection = projection


def strerror(int status):
    return snn.snn_strerror(status).decode()


cdef int _check(int status, snn.snn_error *err=NULL) except -1:
    """The one place where C statuses become Python exceptions."""
    if status == snn.SNN_OK:
        return 0
    message = strerror(status)
    pop = proj = -1
    if err != NULL and err.message[0] != 0:
        message = err.message.decode("utf-8", "replace")
        pop, proj = err.population, err.projection
    if status == snn.SNN_E_NOMEM:
        raise MemoryError(message)
    if status == snn.SNN_E_THREAD:
        raise RuntimeError(message)
    raise CoreError(status, message, pop, proj)


def window_out(int64_t n, int32_t kernel, int32_t stride, int32_t padding, bint ceil_mode=False):
    """Output size along one axis of a window op on n rows or columns (the
    format's rule: snn_window_out); -1 when the kernel does not fit."""
    return snn.snn_window_out(n, kernel, stride, padding, ceil_mode)


def limits():
    cdef snn.snn_limits lim
    snn.snn_get_limits(&lim)
    return {"max_dim": lim.max_dim, "max_neurons": lim.max_neurons,
            "max_populations": lim.max_populations, "max_projections": lim.max_projections,
            "max_timesteps": lim.max_timesteps, "max_bytes": lim.max_bytes,
            "max_name": lim.max_name, "max_meta_bytes": lim.max_meta_bytes,
            "max_json_depth": lim.max_json_depth}


cdef float _EMPTY = 0.0     # the data of an array with no elements


cdef int _set_array(snn.snn_array *a, object arr, list keep) except -1:
    """Describes `arr` in *a: None (absent); an ndarray (shape and float32 data);
    or anything with a .shape whose data is not read yet (data NULL). A 0-d
    array is given as shape (1,)."""
    cdef const float[::1] view
    cdef int k
    memset(a, 0, sizeof(a[0]))
    if arr is None:
        return 0
    shape = tuple(arr.shape) or (1,)
    if len(shape) > 4:
        raise ValueError("internal: an array of more than 4 dimensions reached the binding")
    a.ndim = len(shape)
    for k in range(a.ndim):
        a.shape[k] = shape[k]
    if isinstance(arr, np.ndarray):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        keep.append(arr)
        if arr.size == 0:
            a.data = &_EMPTY
        else:
            view = arr.reshape(-1)
            a.data = &view[0]
    return 0


cdef class _Description:
    """An snn_net_desc of a spec (see snncore/_spec.py) and the objects it
    points into, kept alive while the description is."""
    cdef snn.snn_population_desc *pops
    cdef snn.snn_projection_desc *projs
    cdef snn.snn_net_desc desc
    cdef snn.snn_hints hints
    cdef list keep

    def __cinit__(self, spec, str isa="auto", int64_t max_bytes=0):
        cdef int n_pop = len(spec["populations"]), n_proj = len(spec["projections"])
        cdef int i
        self.pops = <snn.snn_population_desc *>calloc(max(n_pop, 1), sizeof(snn.snn_population_desc))
        self.projs = <snn.snn_projection_desc *>calloc(max(n_proj, 1), sizeof(snn.snn_projection_desc))
        if self.pops == NULL or self.projs == NULL:
            raise MemoryError("out of memory describing the network")
        self.keep = []
        for i, p in enumerate(spec["populations"]):
            self._population(&self.pops[i], p)
        for i, q in enumerate(spec["projections"]):
            self._projection(&self.projs[i], q)
        memset(&self.desc, 0, sizeof(self.desc))
        self.desc.populations = self.pops
        self.desc.n_populations = n_pop
        self.desc.projections = self.projs
        self.desc.n_projections = n_proj
        self.desc.input = spec["input"]
        self.desc.output = spec["output"]
        self.desc.isa = ISAS.index(isa)
        self.desc.max_bytes = max_bytes
        if spec.get("encoding") is not None:
            self.hints.encoding = ENCODINGS.index(spec["encoding"])
            self.hints.rate = spec["rate"]
            self.hints.uint8_scale = spec["uint8_scale"]
            self.hints.readout_start = spec["readout_start"]      # int32: the reader clamps it
            self.desc.hints = &self.hints

    def __dealloc__(self):
        free(self.pops)
        free(self.projs)

    cdef _name(self, name):
        if name is None:
            return None
        b = name.encode("utf-8", "surrogatepass")
        self.keep.append(b)
        return b

    cdef _population(self, snn.snn_population_desc *d, p):
        cdef int k
        name = self._name(p["name"])
        if name is not None:
            d.name = name
        d.kind = KINDS.index(p["kind"])
        d.ndim = p["ndim"]
        for k in range(3):
            d.shape[k] = p["shape"][k]
        _set_array(&d.threshold, p["threshold"], self.keep)
        d.is_signed = 1 if p["signed"] else 0
        _set_array(&d.threshold_neg, p["threshold_neg"], self.keep)
        d.retract = 1 if p["retract"] else 0
        d.reset = RESETS.index(p["reset"])
        d.v_init = p["v_init"]      # a float32 value: the reader rounds it
        _set_array(&d.bias, p["bias"], self.keep)

    cdef _projection(self, snn.snn_projection_desc *d, q):
        name = self._name(q["name"])
        if name is not None:
            d.name = name
        d.op = OPS.index(q["op"])
        d.source = q["source"]
        d.target = q["target"]
        d.kernel[0], d.kernel[1] = q["kernel"]
        d.stride[0], d.stride[1] = q["stride"]
        d.padding[0], d.padding[1] = q["padding"]
        d.ceil_mode = 1 if q.get("ceil_mode") else 0
        d.scale[0], d.scale[1] = q.get("scale", (0, 0))
        d.groups = q["groups"]
        _set_array(&d.weight, q["weight"], self.keep)


def check(spec, int64_t max_bytes=0):
    """snn_net_check on a spec: raises CoreError for the first fault; returns
    the simulation order, int32 (P,)."""
    cdef _Description d = _Description(spec, "auto", max_bytes)
    cdef snn.snn_error err
    cdef int status
    order = np.zeros(max(d.desc.n_populations, 1), dtype=np.int32)
    cdef int32_t[::1] buf = order
    with nogil:
        status = snn.snn_net_check(&d.desc, &buf[0], &err)
    _check(status, &err)
    return order[:d.desc.n_populations]


cdef object _array_copy(const snn.snn_array *a):
    """A described array as a float32 ndarray of its shape (a copy), or None
    when absent."""
    cdef float[::1] view
    if a.ndim == 0:
        return None
    out = np.empty(tuple(a.shape[k] for k in range(a.ndim)), dtype=np.float32)
    if out.size:
        view = out.reshape(-1)
        memcpy(&view[0], a.data, out.size * sizeof(float))
    return out


cdef object _flat(object arr):
    return None if arr is None else arr.reshape(-1)


cdef dict _population_spec(const snn.snn_population_desc *p, name):
    shape = (p.shape[0], p.shape[1] if p.ndim == 3 else 1, p.shape[2] if p.ndim == 3 else 1)
    return {"name": name, "kind": KINDS[p.kind], "ndim": p.ndim, "shape": shape,
            "threshold": _flat(_array_copy(&p.threshold)), "signed": bool(p.is_signed),
            "threshold_neg": _flat(_array_copy(&p.threshold_neg)), "retract": bool(p.retract),
            "reset": RESETS[p.reset], "v_init": float(p.v_init), "bias": _array_copy(&p.bias)}


cdef dict _projection_spec(const snn.snn_projection_desc *q, name):
    weight = _array_copy(&q.weight)
    kernel = (q.kernel[0], q.kernel[1])
    if q.op == snn.SNN_OP_CONV2D:
        kernel = tuple(weight.shape[2:])        # the file gives a conv's kernel by its weight
    return {"name": name, "op": OPS[q.op], "source": q.source, "target": q.target,
            "weight": weight, "kernel": kernel, "stride": (q.stride[0], q.stride[1]),
            "padding": (q.padding[0], q.padding[1]), "ceil_mode": bool(q.ceil_mode),
            "scale": (q.scale[0], q.scale[1]), "groups": q.groups}


cdef dict _file_spec(const snn.snn_file *f):
    """The spec of a file the loader has read and checked."""
    cdef const snn.snn_net_desc *d = snn.snn_file_desc(f)
    cdef const snn.snn_file_info *info = snn.snn_file_get_info(f)
    cdef snn.snn_error err
    cdef int i
    order = np.zeros(max(d.n_populations, 1), dtype=np.int32)
    cdef int32_t[::1] buf = order
    # the simulation order, from the file's own description (already checked)
    _check(snn.snn_net_check(d, &buf[0], &err), &err)
    producer = info.producer.decode("utf-8")
    spec = {"populations": [_population_spec(&d.populations[i],
                                             info.population_names[i].decode("utf-8"))
                            for i in range(d.n_populations)],
            "projections": [_projection_spec(&d.projections[i],
                                             info.projection_names[i].decode("utf-8"))
                            for i in range(d.n_projections)],
            "input": d.input, "output": d.output,
            "encoding": ENCODINGS[info.hints.encoding], "rate": info.hints.rate,
            "uint8_scale": info.hints.uint8_scale, "readout_start": info.hints.readout_start,
            "producer": producer or None, "version": info.format_version,
            "provenance": json.loads(info.provenance.decode("utf-8"))}
    spec["order"] = [int(i) for i in order[:d.n_populations]]
    return spec


cdef dict _taken(snn.snn_file *f, snn.snn_error *err):
    """The spec of a file just read (NULL: raise the loader's error); frees it."""
    if f == NULL:
        _check(err.status, err)
    try:
        return _file_spec(f)
    finally:
        snn.snn_file_free(f)


def read_file(path, int64_t max_bytes=0):
    """Reads and checks the network file at `path` (str or bytes) with the C
    loader (snn_file_read); returns its spec. max_bytes: the memory bound (<= 0:
    the library's). Raises CoreError (status E_FORMAT for the reader's refusals,
    the check's status for the rest; E_IO when the file cannot be read)."""
    cdef snn.snn_load_options opt = snn.snn_load_options(max_bytes, NULL)
    cdef snn.snn_error err
    cdef snn.snn_file *f
    cdef bytes p = os.fsencode(path)
    cdef const char *cpath = p
    with nogil:
        f = snn.snn_file_read(cpath, &opt, &err)
    return _taken(f, &err)


def read_memory(const unsigned char[::1] data, int64_t max_bytes=0):
    """read_file for a whole network file held in memory (snn_file_read_memory)."""
    cdef snn.snn_load_options opt = snn.snn_load_options(max_bytes, NULL)
    cdef snn.snn_error err
    cdef snn.snn_file *f
    cdef const void *ptr = &data[0] if data.shape[0] else NULL
    with nogil:
        f = snn.snn_file_read_memory(ptr, data.shape[0], &opt, &err)
    return _taken(f, &err)


cdef class Engine:
    """Owns one snn_net, built from a normalised spec (see snncore/_spec.py)."""
    cdef snn.snn_net *net
    cdef readonly int n_populations, n_projections
    cdef readonly Py_ssize_t input_size, output_size
    cdef readonly long long max_timesteps
    # The snn_runner of the last run (its threads and states kept between runs,
    # which saves starting them on every run: see snn.h), the process that
    # made it, and a lock held while it is in use.
    cdef snn.snn_runner *runner
    cdef long runner_pid
    cdef object runner_lock
    cdef int runner_team    # the team policy set on the runner (snn_runner_set_team)

    def __cinit__(self, spec, str isa="auto"):
        cdef _Description d = _Description(spec, isa)
        cdef snn.snn_error err
        self.runner_lock = threading.Lock()
        with nogil:
            self.net = snn.snn_net_create(&d.desc, &err)
        if self.net == NULL:
            _check(err.status, &err)
        self.n_populations = d.desc.n_populations
        self.n_projections = d.desc.n_projections
        self.input_size = snn.snn_net_input_size(self.net)
        self.output_size = snn.snn_net_output_size(self.net)
        self.max_timesteps = snn.snn_net_max_timesteps(self.net)

    def __dealloc__(self):
        # a forked child has the parent's runner but not its threads: leave it
        if self.runner != NULL and self.runner_pid == os.getpid():
            snn.snn_runner_free(self.runner)
        snn.snn_net_free(self.net)

    cdef snn.snn_runner *_runner(self, int threads) except NULL:
        """The runner for `threads` threads (the caller holds runner_lock)."""
        cdef snn.snn_error err
        cdef long pid = os.getpid()
        if self.runner != NULL and self.runner_pid != pid:
            self.runner = NULL      # forked: the parent's workers are not in this process
        if self.runner != NULL and snn.snn_runner_threads(self.runner) != threads:
            with nogil:
                snn.snn_runner_free(self.runner)
            self.runner = NULL
        if self.runner == NULL:
            self.runner = snn.snn_runner_create(self.net, threads, &err)
            if self.runner == NULL:
                _check(err.status, &err)
            self.runner_pid = pid
            self.runner_team = snn.SNN_TEAM_AUTO
        return self.runner

    def order(self):
        """Population indices in simulation order (input first), int32 (P,)."""
        arr = np.empty(self.n_populations, dtype=np.int32)
        cdef int32_t[::1] buf = arr
        _check(snn.snn_net_order(self.net, &buf[0], self.n_populations))
        return arr

    @property
    def isa(self):
        """The kernels in use: 'generic', 'avx2' or 'avx512'."""
        return ISAS[snn.snn_net_isa(self.net)]

    def suggest_threads(self, int64_t n_images, int max_threads):
        """Threads for a batch of n_images (snn_suggest_threads)."""
        return snn.snn_suggest_threads(self.net, n_images, max_threads)

    def state_size(self):
        return snn.snn_state_size(self.net)

    def run(self, const float[:, ::1] x, int timesteps, str encoding, double rate,
            uint64_t seed, const int32_t[::1] checkpoints, int64_t first_index, int threads,
            float[:, ::1] out, int64_t[:, ::1] spikes, int64_t[:, ::1] synops,
            int readout_start=1, int64_t[::1] profile=None, str team="auto"):
        """x (N, input_size); out (N, n_cp * output_size); spikes (N, n_cp * P);
        synops (N, n_cp * J); the caller allocates all of them. profile: None, or
        P + J int64 counters to which the run adds its nanoseconds per
        population pass and per projection (snn_run_config.profile_ns). team:
        'auto', 'always' or 'never', for fewer images than threads
        (snn_runner_set_team)."""
        cdef snn.snn_run_config cfg
        cdef snn.snn_error err
        cdef int status
        cdef int64_t n = x.shape[0]
        memset(&cfg, 0, sizeof(cfg))
        cfg.timesteps = timesteps
        cfg.encoding = ENCODINGS.index(encoding)
        cfg.rate = rate
        cfg.seed = seed
        cfg.readout_start = readout_start
        cfg.n_checkpoints = checkpoints.shape[0]
        cfg.checkpoints = &checkpoints[0] if checkpoints.shape[0] else NULL
        if team not in TEAM_POLICIES:
            raise ValueError(f"team must be one of {', '.join(TEAM_POLICIES)}, got {team!r}")
        cdef int policy = TEAM_POLICIES.index(team)
        if profile is not None:
            if profile.shape[0] != self.n_populations + self.n_projections:
                raise ValueError(f"profile needs {self.n_populations + self.n_projections} "
                                 f"counters, got {profile.shape[0]}")
            cfg.profile_ns = &profile[0]
        if n == 0:
            return
        cdef int64_t *synops_p = &synops[0, 0] if synops.shape[1] else NULL
        cdef snn.snn_runner *runner = NULL
        # more threads run as the most a run uses, as in snn_run_batch
        threads = max(1, min(threads, MAX_THREADS))
        # The engine's runner, unless another Python thread is using it: that
        # run then has a runner of its own for the call (snn_run_batch).
        if self.runner_lock.acquire(blocking=False):
            try:
                runner = self._runner(threads)
                if policy != self.runner_team:
                    _check(snn.snn_runner_set_team(runner, policy))
                    self.runner_team = policy
                with nogil:
                    status = snn.snn_runner_run(runner, &cfg, &x[0, 0], n, first_index,
                                                &out[0, 0], &spikes[0, 0], synops_p, &err)
            finally:
                self.runner_lock.release()
        else:
            if policy == snn.SNN_TEAM_NEVER and n < threads:
                threads = 1     # the caller alone, as a runner would
            with nogil:
                status = snn.snn_run_batch(self.net, &cfg, &x[0, 0], n, first_index, &out[0, 0],
                                           &spikes[0, 0], synops_p, threads, &err)
        _check(status, &err)


cdef class State:
    """One image's simulation, stepped from Python (snn_state_*)."""
    cdef snn.snn_state *state
    cdef readonly Engine engine

    def __cinit__(self, Engine engine):
        cdef int status = 0
        self.engine = engine
        self.state = snn.snn_state_create(engine.net, &status)
        if self.state == NULL:
            _check(status)

    def __dealloc__(self):
        snn.snn_state_free(self.state)

    def reset(self, const float[::1] x, str encoding, double rate, uint64_t seed, int64_t image_index,
              int readout_start=1):
        cdef snn.snn_run_config cfg
        memset(&cfg, 0, sizeof(cfg))
        cfg.timesteps = 1
        cfg.readout_start = readout_start
        cfg.encoding = ENCODINGS.index(encoding)
        cfg.rate = rate
        cfg.seed = seed
        if x.shape[0] != self.engine.input_size:
            raise ValueError(f"x has {x.shape[0]} values, the input needs {self.engine.input_size}")
        _check(snn.snn_state_reset(self.state, &cfg, &x[0], image_index))

    def step(self, int n_steps):
        cdef int status
        with nogil:
            status = snn.snn_state_step(self.state, n_steps)
        _check(status)

    @property
    def time(self):
        return snn.snn_state_time(self.state)

    def read_output(self, float[::1] out):
        _check(snn.snn_state_read_output(self.state, &out[0], out.shape[0]))

    def read_counters(self, int64_t[::1] spikes, int64_t[::1] synops):
        _check(snn.snn_state_read_counters(self.state, &spikes[0], spikes.shape[0],
                                           &synops[0] if synops.shape[0] else NULL, synops.shape[0]))
