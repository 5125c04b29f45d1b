# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin binding of csrc/include/snn.h. Validation, defaults and array
allocation live in the Python layer (snncore/); this file only turns typed
buffers into C calls and C statuses into exceptions."""

from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset

cimport snn

import os
import threading

import numpy as np

ENCODINGS = {"analog": snn.SNN_ENCODING_ANALOG, "poisson": snn.SNN_ENCODING_POISSON,
             "regular": snn.SNN_ENCODING_REGULAR}
KINDS = {"input": snn.SNN_KIND_INPUT, "if": snn.SNN_KIND_IF, "relay": snn.SNN_KIND_RELAY,
         "accumulate": snn.SNN_KIND_ACCUMULATE}
OPS = {"conv2d": snn.SNN_OP_CONV2D, "avgpool2d": snn.SNN_OP_AVGPOOL2D,
       "dense": snn.SNN_OP_DENSE, "identity": snn.SNN_OP_IDENTITY}
RESETS = {"subtract": snn.SNN_RESET_SUBTRACT, "zero": snn.SNN_RESET_ZERO}
ISAS = {"auto": snn.SNN_ISA_AUTO, "generic": snn.SNN_ISA_GENERIC, "avx2": snn.SNN_ISA_AVX2,
        "avx512": snn.SNN_ISA_AVX512}
VERSION = snn.snn_version_string().decode()
FORMAT_VERSION = snn.SNN_FORMAT_VERSION
MAX_THREADS = snn.SNN_MAX_THREADS   # the most threads a run uses (snn.h)
TEAM_POLICIES = {"auto": snn.SNN_TEAM_AUTO, "always": snn.SNN_TEAM_ALWAYS,
                 "never": snn.SNN_TEAM_NEVER}


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


def limits():
    cdef snn.snn_limits lim
    snn.snn_get_limits(&lim)
    return {"max_dim": lim.max_dim, "max_neurons": lim.max_neurons,
            "max_populations": lim.max_populations, "max_projections": lim.max_projections,
            "max_timesteps": lim.max_timesteps, "max_bytes": lim.max_bytes}


cdef const float *_floats(object arr, int64_t *length) except? NULL:
    """Pointer and length of a C-contiguous float32 array (None: NULL, 0)."""
    cdef const float[::1] view
    if arr is None:
        length[0] = 0
        return NULL
    if not arr.flags.c_contiguous:
        raise ValueError("internal: engine arrays must be C-contiguous")
    if arr.size == 0:
        length[0] = 0
        return NULL
    view = arr.reshape(-1)
    length[0] = view.shape[0]
    return &view[0] if view.shape[0] > 0 else NULL


cdef class Engine:
    """Owns one snn_net, built from a normalised spec (see snncore/_spec.py)."""
    cdef snn.snn_net *net
    cdef readonly int n_populations, n_projections
    cdef readonly Py_ssize_t input_size, output_size
    cdef object _keep      # the arrays snn_net_create reads
    # The snn_runner of the last run (its threads and states kept between runs,
    # which saves tens of microseconds per run: see snn.h), the process that
    # made it, and a lock held while it is in use.
    cdef snn.snn_runner *runner
    cdef long runner_pid
    cdef object runner_lock
    cdef int runner_team    # the team policy set on the runner (snn_runner_set_team)

    def __cinit__(self, spec, str isa="auto"):
        cdef int np_ = len(spec["populations"]), nj = len(spec["projections"])
        cdef snn.snn_population_desc *pops = <snn.snn_population_desc *>calloc(max(np_, 1), sizeof(snn.snn_population_desc))
        cdef snn.snn_projection_desc *projs = <snn.snn_projection_desc *>calloc(max(nj, 1), sizeof(snn.snn_projection_desc))
        cdef snn.snn_net_desc desc
        cdef snn.snn_error err
        cdef int i
        if pops == NULL or projs == NULL:
            free(pops); free(projs)
            raise MemoryError("out of memory describing the network")
        self._keep = []
        self.runner_lock = threading.Lock()
        try:
            for i, p in enumerate(spec["populations"]):
                self._describe_population(&pops[i], p)
            for i, q in enumerate(spec["projections"]):
                self._describe_projection(&projs[i], q)
            memset(&desc, 0, sizeof(desc))
            desc.populations = pops
            desc.n_populations = np_
            desc.projections = projs
            desc.n_projections = nj
            desc.input = spec["input"]
            desc.output = spec["output"]
            desc.isa = ISAS[isa]
            with nogil:
                self.net = snn.snn_net_create(&desc, &err)
            if self.net == NULL:
                _check(err.status, &err)
        finally:
            free(pops)
            free(projs)
            self._keep = None
        self.n_populations = np_
        self.n_projections = nj
        self.input_size = snn.snn_net_input_size(self.net)
        self.output_size = snn.snn_net_output_size(self.net)

    cdef _describe_population(self, snn.snn_population_desc *d, p):
        shape = p["shape"]
        d.kind = KINDS[p["kind"]]
        d.ndim = p["ndim"]
        d.shape[0], d.shape[1], d.shape[2] = shape
        self._keep.extend([p["threshold"], p["threshold_neg"], p["bias"]])
        d.threshold = _floats(p["threshold"], &d.threshold_len)
        d.is_signed = 1 if p["signed"] else 0
        d.threshold_neg = _floats(p["threshold_neg"], &d.threshold_neg_len)
        d.reset = RESETS[p["reset"]]
        d.v_init = p["v_init"]
        d.bias = _floats(p["bias"], &d.bias_len)

    cdef _describe_projection(self, snn.snn_projection_desc *d, q):
        d.op = OPS[q["op"]]
        d.source = q["source"]
        d.target = q["target"]
        d.kernel[0], d.kernel[1] = q["kernel"]
        d.stride[0], d.stride[1] = q["stride"]
        d.padding[0], d.padding[1] = q["padding"]
        self._keep.append(q["weight"])
        d.weight = _floats(q["weight"], &d.weight_len)

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
        return {snn.SNN_ISA_GENERIC: "generic", snn.SNN_ISA_AVX2: "avx2",
                snn.SNN_ISA_AVX512: "avx512"}[snn.snn_net_isa(self.net)]

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
        cfg.encoding = ENCODINGS[encoding]
        cfg.rate = rate
        cfg.seed = seed
        cfg.readout_start = readout_start
        cfg.n_checkpoints = checkpoints.shape[0]
        cfg.checkpoints = &checkpoints[0] if checkpoints.shape[0] else NULL
        if team not in TEAM_POLICIES:
            raise ValueError(f"team must be one of {', '.join(TEAM_POLICIES)}, got {team!r}")
        cdef int policy = TEAM_POLICIES[team]
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
        cfg.encoding = ENCODINGS[encoding]
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
