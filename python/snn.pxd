# Declarations of csrc/include/snn.h, one for one. No logic lives here.
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

cdef extern from "snn.h" nogil:
    int SNN_VERSION_MAJOR
    int SNN_VERSION_MINOR
    int SNN_VERSION_PATCH
    int SNN_FORMAT_VERSION
    int SNN_MAX_THREADS

    ctypedef enum snn_status:
        SNN_OK
        SNN_E_NOMEM
        SNN_E_INVALID_ARG
        SNN_E_SHAPE
        SNN_E_VALUE
        SNN_E_GRAPH
        SNN_E_LIMIT
        SNN_E_CAPACITY
        SNN_E_THREAD
        SNN_E_UNSUPPORTED
        SNN_E_IO
        SNN_E_FORMAT
        SNN_STATUS_COUNT

    const char *snn_strerror(int status) noexcept

    ctypedef struct snn_error:
        int status                # an snn_status
        int32_t population        # index of the population at fault, or -1
        int32_t projection        # index of the projection at fault, or -1
        char message[256]         # NUL-terminated English text

    ctypedef struct snn_limits:
        int64_t max_dim           # largest C, H, W or N
        int64_t max_neurons       # largest population
        int64_t max_populations
        int64_t max_projections
        int64_t max_timesteps
        int64_t max_bytes         # default memory bound: weights + one state
        int64_t max_name          # longest name, in characters
        int64_t max_meta_bytes    # a file's metadata member (readers)
        int64_t max_json_depth    # deepest metadata nesting (readers)

    void snn_get_limits(snn_limits *out) noexcept
    int64_t snn_window_out(int64_t n, int32_t kernel, int32_t stride, int32_t padding,
                           int32_t ceil_mode) noexcept
    const char *snn_version_string() noexcept

    ctypedef enum snn_kind:
        SNN_KIND_INPUT
        SNN_KIND_IF
        SNN_KIND_RELAY
        SNN_KIND_ACCUMULATE

    ctypedef enum snn_reset:
        SNN_RESET_SUBTRACT
        SNN_RESET_ZERO

    ctypedef enum snn_op:
        SNN_OP_CONV2D
        SNN_OP_AVGPOOL2D
        SNN_OP_DENSE
        SNN_OP_IDENTITY

    ctypedef enum snn_encoding:
        SNN_ENCODING_ANALOG
        SNN_ENCODING_POISSON
        SNN_ENCODING_REGULAR

    ctypedef struct snn_array:
        const float *data             # C order; NULL while unread
        int32_t ndim                  # 0 (absent) or 1..4
        int64_t shape[4]

    ctypedef struct snn_population_desc:
        const char *name              # UTF-8, or NULL
        int32_t kind                  # an snn_kind
        int32_t ndim                  # 1 or 3
        int64_t shape[3]              # C, H, W (or N)
        snn_array threshold           # IF: theta > 0, (1,) or (C,)
        int32_t is_signed             # IF: nonzero for two thresholds
        snn_array threshold_neg       # signed: theta_n > 0
        int32_t retract               # signed: nonzero for a retracting neuron
        int32_t reset                 # an snn_reset
        float v_init                  # initial membrane, fraction of theta, in [-1, 1]
        snn_array bias                # (C,) or the population's shape

    ctypedef struct snn_projection_desc:
        const char *name              # UTF-8, or NULL
        int32_t op                    # an snn_op
        int32_t source                # population index
        int32_t target                # population index
        int32_t kernel[2]             # the pools: the window; conv2d: 0 or the weight's
        int32_t stride[2]             # conv2d and the pools: >= 1
        int32_t padding[2]            # 0 <= padding < kernel
        int32_t ceil_mode             # maxpool2d: nonzero rounds the output size up
        int32_t scale[2]              # upsample2d: the factors (sh, sw)
        snn_array weight              # PyTorch layout (OIHW, [out, in], [C])
        int32_t groups                # conv2d: channel groups (0 or 1: ordinary); others 0

    ctypedef struct snn_hints:
        int32_t encoding              # an snn_encoding
        double rate                   # > 0
        double uint8_scale            # > 0
        int32_t readout_start         # 1..max_timesteps

    ctypedef enum snn_isa:
        SNN_ISA_AUTO
        SNN_ISA_GENERIC
        SNN_ISA_AVX2
        SNN_ISA_AVX512

    ctypedef struct snn_allocator:
        void *(*alloc)(void *opaque, size_t size)
        void (*free)(void *opaque, void *ptr)
        void *opaque

    ctypedef struct snn_net_desc:
        const snn_population_desc *populations
        int32_t n_populations
        const snn_projection_desc *projections
        int32_t n_projections
        int32_t input                 # index of the input population
        int32_t output                # index of the read-out population
        const snn_allocator *allocator  # NULL: malloc and free
        int32_t isa                   # an snn_isa; 0 (auto) picks the fastest
        int64_t max_bytes             # memory bound; <= 0: the library's
        const snn_hints *hints        # NULL, or hints to check

    const char *snn_kind_name(int32_t kind)
    int32_t snn_kind_from_name(const char *name)
    const char *snn_op_name(int32_t op)
    const char *snn_reset_name(int32_t reset)
    const char *snn_encoding_name(int32_t encoding)
    const char *snn_isa_name(int32_t isa)
    const char *snn_team_policy_name(int32_t policy)

    enum:
        SNN_KEYS_POPULATION, SNN_KEYS_PROJECTION, SNN_KEYS_INPUT, SNN_KEYS_READOUT
        SNN_KEY_NAME, SNN_KEY_CHOICE, SNN_KEY_POPULATION, SNN_KEY_SHAPE, SNN_KEY_PAIR
        SNN_KEY_ARRAY, SNN_KEY_THRESHOLD, SNN_KEY_FLOAT, SNN_KEY_DOUBLE, SNN_KEY_BOOL
        SNN_KEY_INT, SNN_KEY_COUNT

    ctypedef struct snn_key:
        const char *key
        int32_t owner
        int32_t type
        uint32_t applies
        int32_t required
        double fallback
        const char *fallback_key
        const char *const *choices
        size_t offset

    const snn_key *snn_keys(int32_t *count)

    int snn_net_check(const snn_net_desc *desc, int32_t *order, snn_error *err)

    ctypedef struct snn_load_options:
        int64_t max_bytes                     # <= 0: the library's
        const snn_allocator *allocator        # for the snn_net only; NULL: malloc

    ctypedef struct snn_file_info:
        int32_t format_version
        const char *producer                  # "" when absent
        snn_hints hints
        const char *const *population_names
        const char *const *projection_names
        const char *provenance                # compact JSON, "{}" when absent

    ctypedef struct snn_file:
        pass

    int snn_has_loader()
    snn_file *snn_file_read(const char *path, const snn_load_options *opt, snn_error *err)
    snn_file *snn_file_read_memory(const void *data, size_t size, const snn_load_options *opt,
                                   snn_error *err)
    void snn_file_free(snn_file *file)
    const snn_net_desc *snn_file_desc(const snn_file *file)
    const snn_file_info *snn_file_get_info(const snn_file *file)

    ctypedef struct snn_net:
        pass

    snn_net *snn_net_create(const snn_net_desc *desc, snn_error *err)
    void snn_net_free(snn_net *net)
    int32_t snn_net_n_populations(const snn_net *net)
    int32_t snn_net_n_projections(const snn_net *net)
    int64_t snn_net_population_size(const snn_net *net, int32_t pop)
    int64_t snn_net_input_size(const snn_net *net)
    int64_t snn_net_output_size(const snn_net *net)
    int snn_net_order(const snn_net *net, int32_t *order, int32_t capacity)
    int32_t snn_net_isa(const snn_net *net)
    int64_t snn_net_max_timesteps(const snn_net *net)

    ctypedef struct snn_run_config:
        int32_t timesteps             # T >= 1
        int32_t encoding              # an snn_encoding
        double rate                   # spike probability per unit input, > 0
        uint64_t seed                 # poisson stream = f(seed, image index)
        const int32_t *checkpoints    # strictly increasing steps in 1..T
        int32_t n_checkpoints         # 0 means the one checkpoint T
        int32_t readout_start         # output counts steps >= this (0/1: all)
        int64_t *profile_ns           # NULL, or P + J nanosecond counters

    int32_t snn_suggest_threads(const snn_net *net, int64_t n_images, int32_t max_threads)

    int snn_run_batch(const snn_net *net, const snn_run_config *cfg, const float *x,
                      int64_t n_images, int64_t first_index, float *out, int64_t *spikes,
                      int64_t *synops, int32_t n_threads, snn_error *err)

    ctypedef struct snn_runner:
        pass

    snn_runner *snn_runner_create(const snn_net *net, int32_t n_threads, snn_error *err)
    int snn_runner_run(snn_runner *runner, const snn_run_config *cfg, const float *x,
                       int64_t n_images, int64_t first_index, float *out, int64_t *spikes,
                       int64_t *synops, snn_error *err)
    int32_t snn_runner_threads(const snn_runner *runner)
    void snn_runner_free(snn_runner *runner)
    ctypedef enum snn_team_policy:
        SNN_TEAM_AUTO
        SNN_TEAM_ALWAYS
        SNN_TEAM_NEVER
    int snn_runner_set_team(snn_runner *runner, int32_t policy)

    ctypedef struct snn_state:
        pass

    size_t snn_state_size(const snn_net *net)
    snn_state *snn_state_init_static(const snn_net *net, void *workspace, size_t size, int *status)
    snn_state *snn_state_create(const snn_net *net, int *status)
    void snn_state_free(snn_state *state)
    int snn_state_reset(snn_state *state, const snn_run_config *cfg, const float *x, int64_t image_index)
    int snn_state_step(snn_state *state, int32_t n_steps)
    int32_t snn_state_time(const snn_state *state)
    int snn_state_read_output(const snn_state *state, float *out, int64_t capacity)
    int snn_state_read_counters(const snn_state *state, int64_t *spikes, int64_t spikes_capacity,
                                int64_t *synops, int64_t synops_capacity)
    int snn_run_image(snn_state *state, const snn_run_config *cfg, const float *x,
                      int64_t image_index, float *out, int64_t *spikes, int64_t *synops)
