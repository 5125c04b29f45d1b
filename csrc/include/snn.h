/*
 * snn.h - the public C API of snncore's event-driven spiking-network engine.
 *
 * This is the only installed header. Everything a program needs to build a
 * network from arrays, run it on images and read the results is declared here;
 * the network file format and the exact semantics of a timestep are specified in
 * docs/format.md of the snncore source tree.
 *
 * Objects
 *   snn_net    an immutable, validated network: populations of integrate-and-fire
 *              neurons joined by projections, with weights repacked into the
 *              engine's channel-last layout. Created once, shared read-only by any
 *              number of threads.
 *   snn_state  the per-image working memory of a run: membranes, spike queues and
 *              counters. One per thread. Either allocated by the library
 *              (snn_state_create) or placed in a buffer the caller provides
 *              (snn_state_init_static), for products that forbid malloc during
 *              inference.
 *
 * Threading
 *   An snn_net is never modified after snn_net_create returns, so it may be used
 *   from many threads at once. An snn_state is not thread-safe: use one state per
 *   thread. snn_run_batch spreads the images of a batch over threads itself; its
 *   results are bit-identical for any number of threads, because every image is
 *   simulated independently and its random numbers depend only on (seed, image
 *   index).
 *
 * Errors
 *   Every function that can fail returns an snn_status (0 = SNN_OK) or, for
 *   constructors, NULL with the reason in an snn_error out-parameter (which may be
 *   NULL when the caller does not want details). snn_strerror names a status.
 *   Status values are stable: they will not be renumbered.
 *
 * Memory
 *   The library never hands out memory the caller must free with free(); every
 *   object has its own _free function, and every _free accepts NULL. All
 *   allocations go through the allocator given in snn_net_desc (malloc/free when
 *   NULL). The caller owns every array it passes in; snn_net_create copies what it
 *   keeps, so the caller may free its arrays as soon as it returns.
 */
#ifndef SNN_H
#define SNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SNN_VERSION_MAJOR 0
#define SNN_VERSION_MINOR 1
#define SNN_VERSION_PATCH 0
#define SNN_VERSION_STRING "0.1.0"

/* The newest version of the network file format this library reads. */
#define SNN_FORMAT_VERSION 1

/* Symbols of the public API are the only ones the shared library exports. */
#ifndef SNN_API
#  if defined(_WIN32) && defined(SNN_DLL_EXPORT)
#    define SNN_API __declspec(dllexport)
#  elif defined(__GNUC__) && __GNUC__ >= 4
#    define SNN_API __attribute__((visibility("default")))
#  else
#    define SNN_API
#  endif
#endif

/* ------------------------------------------------------------------------- */
/* Status codes                                                              */
/* ------------------------------------------------------------------------- */

typedef enum snn_status {
    SNN_OK = 0,
    SNN_E_NOMEM = 1,        /* an allocation failed */
    SNN_E_INVALID_ARG = 2,  /* a NULL pointer, or a run setting out of range */
    SNN_E_SHAPE = 3,        /* an array's length or a population's shape does not fit its role */
    SNN_E_VALUE = 4,        /* NaN or infinity, a threshold <= 0, v_init outside [-1, 1] */
    SNN_E_GRAPH = 5,        /* a bad reference, a cycle, or a forbidden connection */
    SNN_E_LIMIT = 6,        /* a size beyond snn_get_limits() */
    SNN_E_CAPACITY = 7,     /* a caller-provided buffer is too small */
    SNN_E_THREAD = 8,       /* a worker thread could not be started */
    SNN_E_UNSUPPORTED = 9,  /* an unknown kind, op, reset mode or encoding */
    SNN_E_IO = 10,          /* reserved for the file loader: a read failed */
    SNN_E_FORMAT = 11,      /* reserved for the file loader: the file is malformed */
    SNN_STATUS_COUNT        /* not a status: one past the last value */
} snn_status;

/* A static, human-readable name for a status ("invalid argument", ...). Never NULL. */
SNN_API const char *snn_strerror(int status);

/*
 * Details of a failure. `population` and `projection` index the arrays of the
 * snn_net_desc that caused it (or are -1), so a caller can print the offending
 * item's name. `message` is NUL-terminated English text.
 */
typedef struct snn_error {
    int status;             /* an snn_status */
    int32_t population;     /* index of the population at fault, or -1 */
    int32_t projection;     /* index of the projection at fault, or -1 */
    char message[256];
} snn_error;

/* ------------------------------------------------------------------------- */
/* Limits (Python reads the same numbers through snn_get_limits)             */
/* ------------------------------------------------------------------------- */

typedef struct snn_limits {
    int64_t max_dim;          /* largest C, H, W or N of a population: 2^24 */
    int64_t max_neurons;      /* largest population: 2^28 neurons */
    int64_t max_populations;  /* 4096 */
    int64_t max_projections;  /* 16384 */
    int64_t max_timesteps;    /* 2^30 */
    int64_t max_bytes;        /* default memory bound of a network (snn_net_check): 8 GiB */
    int64_t max_name;         /* longest population or projection name, in characters: 200 */
    int64_t max_meta_bytes;   /* a file's metadata member (readers): 16 MiB */
    int64_t max_json_depth;   /* deepest nesting of a file's metadata (readers): 64 */
} snn_limits;

SNN_API void snn_get_limits(snn_limits *out);

/* The output size along one axis of a window op (conv2d and the pools) on `in`
 * source rows or columns: (in + 2 padding - kernel) / stride + 1, rounded up
 * under ceil_mode but for a last window that would start in the right padding;
 * -1 when the kernel does not fit the padded source or an argument is out of
 * range (in, kernel, stride >= 1; padding >= 0). */
SNN_API int64_t snn_window_out(int64_t in, int32_t kernel, int32_t stride, int32_t padding,
                               int32_t ceil_mode);

/* The library's version, "MAJOR.MINOR.PATCH". */
SNN_API const char *snn_version_string(void);

/* ------------------------------------------------------------------------- */
/* Describing a network                                                      */
/* ------------------------------------------------------------------------- */

typedef enum snn_kind {
    SNN_KIND_INPUT = 0,       /* fed by the encoder; exactly one per network */
    SNN_KIND_IF = 1,          /* integrate-and-fire neurons that spike */
    SNN_KIND_RELAY = 2,       /* stateless and linear: passes each step's current on as graded events */
    SNN_KIND_ACCUMULATE = 3   /* integrates its current and is read out; emits nothing */
} snn_kind;

typedef enum snn_reset {
    SNN_RESET_SUBTRACT = 0,   /* V <- V - theta after a spike */
    SNN_RESET_ZERO = 1        /* V <- 0 after a spike */
} snn_reset;

typedef enum snn_op {
    SNN_OP_CONV2D = 0,
    SNN_OP_AVGPOOL2D = 1,
    SNN_OP_DENSE = 2,
    SNN_OP_IDENTITY = 3,
    SNN_OP_MAXPOOL2D = 4,   /* spiking max pooling: see snn_projection_desc */
    SNN_OP_UPSAMPLE2D = 5   /* nearest-neighbour upsampling by integer factors */
} snn_op;

typedef enum snn_encoding {
    SNN_ENCODING_ANALOG = 0,  /* the pixel values as a constant current every step */
    SNN_ENCODING_POISSON = 1, /* a spike with probability clip(x * rate, 0, 1) per step */
    SNN_ENCODING_REGULAR = 2  /* deterministic spikes at rate clip(x * rate, 0, 1) */
} snn_encoding;

/*
 * An array that a description refers to: `ndim` dimensions of `shape`, its values
 * in C order at `data`. ndim 0 means "no array" (an optional array left out); a
 * reader gives a 0-d array (a scalar) as shape (1,). `data` may be NULL while a
 * description is checked before its arrays are read (snn_net_check); then only
 * the shape is checked.
 */
typedef struct snn_array {
    const float *data;
    int32_t ndim;               /* 0 (absent) or 1..4 */
    int64_t shape[4];
} snn_array;

/*
 * One population. Shapes are [C, H, W] (ndim 3) or [N] (ndim 1; then shape[0] = N
 * and shape[1], shape[2] are ignored). Arrays are read during snn_net_create only.
 */
typedef struct snn_population_desc {
    const char *name;           /* UTF-8, 1..max_name characters, unique among the
                                 * populations; NULL: unnamed ("population 3" in messages) */
    int32_t kind;               /* an snn_kind */
    int32_t ndim;               /* 1 or 3 */
    int64_t shape[3];           /* C, H, W (or N) */
    snn_array threshold;        /* IF only (required): theta > 0, shape (1,) or (C,) */
    int32_t is_signed;          /* IF only: nonzero for a signed neuron (two thresholds) */
    snn_array threshold_neg;    /* signed only (required): theta_n > 0, (1,) or (C,); fires
                                 * -1 at V <= -theta_n */
    int32_t retract;            /* signed only: nonzero for a retracting neuron, whose -1
                                 * takes back an earlier spike: it fires only while the
                                 * neuron's net spike count is positive, and adds theta
                                 * (not theta_n) back; needs reset subtract */
    int32_t reset;              /* IF only: an snn_reset */
    float v_init;               /* IF only: initial membrane as a fraction of theta, in [-1, 1] */
    snn_array bias;             /* not for the input; optional: current added every step,
                                 * shape (C,) (per channel) or the population's own shape
                                 * ((N,) or (C, H, W): per neuron, CHW order) */
} snn_population_desc;

/*
 * One projection from `source` to `target` (indices into the population array).
 * Weights are in PyTorch's layouts: conv2d (Co, Ci / groups, kh, kw); dense (out, in) with
 * `in` the source flattened in CHW order; identity, the pools and upsample2d an
 * optional gain per channel (C,). upsample2d copies source position (y, x) to the
 * target positions (y * sh + i, x * sw + j), 0 <= i < sh, 0 <= j < sw (PyTorch's
 * nearest interpolation by integer scale factors).
 *
 * maxpool2d pools net spike counts: its source is an IF population, signed or not
 * (or a relay without bias fed by one maxpool2d alone, whose events are the
 * changes of that pool's largest counts: nested pooling), its gains are > 0, and
 * each step target neuron o receives gain[c] times the change, in that step, of
 * the largest cumulative net spike count (positive spikes less negative ones,
 * since the run began) among the source neurons of its window (positions outside
 * the source never count). That change is -1, 0 or 1, so the target sees a
 * (signed) spike train whose net count is the window's largest net count: max
 * pooling of the rates, exact as the steps grow.
 */
typedef struct snn_projection_desc {
    const char *name;           /* UTF-8, 1..max_name characters, unique among the
                                 * projections; NULL: unnamed */
    int32_t op;                 /* an snn_op */
    int32_t source;             /* population index */
    int32_t target;             /* population index */
    int32_t kernel[2];          /* avgpool2d, maxpool2d: the window; conv2d: (0, 0) or the
                                 * weight's (kh, kw); others: (0, 0) */
    int32_t stride[2];          /* conv2d and the pools: >= 1; others: (0, 0) */
    int32_t padding[2];         /* conv2d and the pools: 0 <= padding < kernel (zeros;
                                 * for maxpool2d, positions that never count) */
    int32_t ceil_mode;          /* maxpool2d only: nonzero to round the output size up
                                 * as PyTorch's ceil_mode does (a last window that would
                                 * start in the right padding is dropped) */
    int32_t scale[2];           /* upsample2d only: the factors (sh, sw), >= 1 */
    snn_array weight;           /* see above; absent for a unit-gain identity or avgpool2d */
    int32_t groups;             /* conv2d: input and output channels split into this many
                                 * groups, output group g fed by input group g alone
                                 * (PyTorch's groups; groups = Ci: depthwise); it divides
                                 * Ci and Co. 0 or 1: an ordinary conv. Others: 0 */
} snn_projection_desc;

/*
 * The run settings a network file suggests (its "input" and "readout" hints).
 * The engine does not use them; snn_net_check checks them when given.
 */
typedef struct snn_hints {
    int32_t encoding;           /* an snn_encoding */
    double rate;                /* poisson/regular: > 0 */
    double uint8_scale;         /* uint8 images x become float32(x) * float32(uint8_scale): > 0 */
    int32_t readout_start;      /* delayed read-out step, 1..max_timesteps (1: none) */
} snn_hints;

/* Which compiled kernels a network uses. All give bit-identical results: every
 * kernel set adds in the same order with the same roundings (where a fused
 * multiply-add is used, one factor is 1, so it rounds as a plain addition). */
typedef enum snn_isa {
    SNN_ISA_AUTO = 0,       /* the widest of AVX-512, AVX2 and generic that the CPU and
                             * the build have */
    SNN_ISA_GENERIC = 1,    /* the baseline instruction set of the build */
    SNN_ISA_AVX2 = 2,       /* x86-64 AVX2; SNN_E_UNSUPPORTED where unavailable */
    SNN_ISA_AVX512 = 3      /* x86-64 AVX-512F with FMA (the threshold and relay passes
                             * of populations whose channels are not a multiple of 16
                             * use AVX2); SNN_E_UNSUPPORTED where unavailable */
} snn_isa;

/* How a runner runs fewer images than threads (snn_runner_set_team). */
typedef enum snn_team_policy {
    SNN_TEAM_AUTO = 0,      /* the team or the calling thread alone, whichever ran faster */
    SNN_TEAM_ALWAYS = 1,    /* the team, as snn_run_batch */
    SNN_TEAM_NEVER = 2      /* the calling thread alone */
} snn_team_policy;

/* ------------------------------------------------------------------------- */
/* Names                                                                     */
/* ------------------------------------------------------------------------- */
/*
 * The names that files, Python and snnrun use for the values of the enums above:
 * kinds "input", "if", "relay", "accumulate"; ops "conv2d", "avgpool2d", "dense",
 * "identity", "maxpool2d", "upsample2d"; resets "subtract", "zero"; encodings "analog", "poisson", "regular";
 * isas "auto", "generic", "avx2", "avx512"; team policies "auto", "always", "never".
 * snn_*_name returns a static string, or NULL for a value out of range (so a
 * caller lists all names by counting up from 0 until NULL); snn_*_from_name
 * returns the value, or -1 for an unknown (or NULL) name.
 */
SNN_API const char *snn_kind_name(int32_t kind);
SNN_API int32_t snn_kind_from_name(const char *name);
SNN_API const char *snn_op_name(int32_t op);
SNN_API int32_t snn_op_from_name(const char *name);
SNN_API const char *snn_reset_name(int32_t reset);
SNN_API int32_t snn_reset_from_name(const char *name);
SNN_API const char *snn_encoding_name(int32_t encoding);
SNN_API int32_t snn_encoding_from_name(const char *name);
SNN_API const char *snn_isa_name(int32_t isa);
SNN_API int32_t snn_isa_from_name(const char *name);
SNN_API const char *snn_team_policy_name(int32_t policy);
SNN_API int32_t snn_team_policy_from_name(const char *name);

/*
 * The metadata keys of a network file (docs/format.md) that a population, a
 * projection, the "input" object and the "readout" object may give: one row per key
 * (a key whose default differs between ops has a row per default), each saying how
 * a reader checks the key and which field of the description it fills. Both file
 * readers (csrc/loader, snncore/_spec.py) walk this table: an item's rows start
 * with its name and its kind (or op), which selects the rows that apply to it; a
 * reader refuses any other key.
 */
typedef enum snn_key_owner {
    SNN_KEYS_POPULATION = 0,    /* fills an snn_population_desc */
    SNN_KEYS_PROJECTION = 1,    /* fills an snn_projection_desc */
    SNN_KEYS_INPUT = 2,         /* "input": fills the snn_hints */
    SNN_KEYS_READOUT = 3        /* "readout": fills the snn_hints */
} snn_key_owner;

typedef enum snn_key_type {
    SNN_KEY_NAME = 0,           /* a string without NUL: the item's name (const char *) */
    SNN_KEY_CHOICE = 1,         /* a string among `choices`: its index (int32_t) */
    SNN_KEY_POPULATION = 2,     /* a string naming a population: its index (int32_t) */
    SNN_KEY_SHAPE = 3,          /* a list of 1 or 3 integers: shape[3] and ndim */
    SNN_KEY_PAIR = 4,           /* a list of 2 integers, clamped to int32 (int32_t[2]) */
    SNN_KEY_ARRAY = 5,          /* the name of an array of the file (snn_array) */
    SNN_KEY_THRESHOLD = 6,      /* a number (an array of one float32) or an array name */
    SNN_KEY_FLOAT = 7,          /* a number, rounded to float32 (float) */
    SNN_KEY_DOUBLE = 8,         /* a number (double) */
    SNN_KEY_BOOL = 9,           /* true or false: 1 or 0 (int32_t) */
    SNN_KEY_INT = 10,           /* an integer, clamped to int32 (int32_t) */
    SNN_KEY_COUNT = 11          /* an integer >= 1, clamped to int32 (0 means absent) */
} snn_key_type;

typedef struct snn_key {
    const char *key;
    int32_t owner;              /* an snn_key_owner */
    int32_t type;               /* an snn_key_type */
    uint32_t applies;           /* bit k: kind k (populations) or op k (projections)
                                 * takes the key; all bits for the others */
    int32_t required;
    double fallback;            /* the value when absent (a choice: its index) */
    const char *fallback_key;   /* not NULL: when absent, the value of this key instead */
    const char *const *choices; /* SNN_KEY_CHOICE: the names, NULL-terminated */
    size_t offset;              /* of the field the value fills */
} snn_key;

/* The rows of the keys table; *count (if not NULL) receives their number. */
SNN_API const snn_key *snn_keys(int32_t *count);
/* Whether `key` applies to kind or op `which` of `owner` (an snn_key_owner). */
SNN_API int snn_key_applies(const char *key, int32_t owner, int32_t which);

/* Custom memory allocation, for products with their own heap. snn_run_batch
 * calls it from its worker threads (a state per thread, or a team's shared
 * scratch), so it must be thread-safe when n_threads > 1. */
typedef struct snn_allocator {
    void *(*alloc)(void *opaque, size_t size);  /* returns NULL on failure */
    void (*free)(void *opaque, void *ptr);      /* accepts NULL */
    void *opaque;
} snn_allocator;

typedef struct snn_net_desc {
    const snn_population_desc *populations;
    int32_t n_populations;
    const snn_projection_desc *projections;
    int32_t n_projections;
    int32_t input;                       /* index of the one SNN_KIND_INPUT population */
    int32_t output;                      /* index of the read-out population (IF or ACCUMULATE) */
    const snn_allocator *allocator;      /* NULL: malloc and free */
    int32_t isa;                         /* an snn_isa; 0 (auto) picks the fastest */
    int64_t max_bytes;                   /* memory bound (snn_net_check); <= 0: the
                                          * max_bytes of snn_get_limits */
    const snn_hints *hints;              /* NULL, or a file's hints, checked too */
} snn_net_desc;

typedef struct snn_net snn_net;

/*
 * The one definition of a valid network: checks `desc` against every rule of the
 * format (docs/format.md) that concerns its meaning: kinds and ops, shapes and
 * their arithmetic, names (present ones unique and of 1..max_name characters), the
 * graph (one input, the output's kind, no cycle), the hints, and the memory bound:
 * the network's weights as the engine keeps them plus one state must fit in
 * desc->max_bytes. Arrays whose `data` is NULL are checked by shape only, so a
 * reader can check a file before it reads any array's data; arrays with data are
 * also checked for NaN and infinity, and thresholds for > 0. The first fault found
 * is reported, its population or projection index in err (the message names it).
 * If `order` is not NULL, it receives desc->n_populations population indices in
 * the order the engine simulates them (input first; the lowest ready index next).
 * @return SNN_OK, or SNN_E_SHAPE, SNN_E_VALUE, SNN_E_GRAPH, SNN_E_LIMIT,
 * SNN_E_UNSUPPORTED, SNN_E_INVALID_ARG or SNN_E_NOMEM with details in *err.
 * Thread safety: reads `desc` only; allocates scratch with desc->allocator.
 */
SNN_API int snn_net_check(const snn_net_desc *desc, int32_t *order, snn_error *err);

/*
 * Checks `desc` as snn_net_check does (every array present must have its data)
 * and builds a network (weights copied and repacked).
 * @return the network, or NULL with the reason in *err (when err is not NULL).
 * Ownership: the caller frees the result with snn_net_free. Thread safety: the
 * returned network is immutable and may be shared by threads.
 */
SNN_API snn_net *snn_net_create(const snn_net_desc *desc, snn_error *err);

/* Frees a network. Accepts NULL. Every state made from it must be freed first. */
SNN_API void snn_net_free(snn_net *net);

SNN_API int32_t snn_net_n_populations(const snn_net *net);
SNN_API int32_t snn_net_n_projections(const snn_net *net);
/* Neurons of population `pop` (C*H*W), or -1 when `pop` is out of range. */
SNN_API int64_t snn_net_population_size(const snn_net *net, int32_t pop);
/* Floats of one input image (the input population's C*H*W). */
SNN_API int64_t snn_net_input_size(const snn_net *net);
/* Floats of one decoded output (the output population's C*H*W). */
SNN_API int64_t snn_net_output_size(const snn_net *net);
/* The snn_isa the network's kernels use (SNN_ISA_GENERIC, SNN_ISA_AVX2 or
 * SNN_ISA_AVX512). */
SNN_API int32_t snn_net_isa(const snn_net *net);
/* The most timesteps a run of the network may take: the limits' max_timesteps, or
 * 2^24 when it has a retracting population (whose net spike counts are exact up to
 * there); 0 for NULL. */
SNN_API int64_t snn_net_max_timesteps(const snn_net *net);
/* Population indices in the order the engine simulates them (input first). */
SNN_API int snn_net_order(const snn_net *net, int32_t *order, int32_t capacity);

/* ------------------------------------------------------------------------- */
/* Running                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct snn_run_config {
    int32_t timesteps;          /* 1..max_timesteps (1..2^24 with a retracting population) */
    int32_t encoding;           /* an snn_encoding */
    double rate;                /* poisson/regular: spike probability per unit input, > 0 */
    uint64_t seed;              /* poisson: the random stream is a function of (seed, image index) */
    const int32_t *checkpoints; /* strictly increasing steps in 1..T where results are recorded */
    int32_t n_checkpoints;      /* 0 (with checkpoints NULL) means the one checkpoint T */
    int32_t readout_start;      /* delayed read-out: the output counts steps >= this one
                                 * (0 or 1: all steps); at a checkpoint t >= readout_start
                                 * the output is (sum over steps readout_start..t) / (t -
                                 * readout_start + 1), before it the output is 0 */
    int64_t *profile_ns;        /* NULL, or P + J counters (P populations, J projections)
                                 * to which a run adds the nanoseconds it spent, summed
                                 * over images and threads: [p] in population p's
                                 * threshold or relay pass (the input: its encoding),
                                 * [P + j] in projection j's synaptic updates */
} snn_run_config;

/* The most threads a run uses: snn_run_batch runs with at most this many,
 * snn_runner_create refuses more. */
#define SNN_MAX_THREADS 64

/*
 * Runs `n_images` images (each snn_net_input_size floats, CHW order, one after the
 * other in `x`) for cfg->timesteps steps, on `n_threads` threads (<= 1: the calling
 * thread only; more than SNN_MAX_THREADS: SNN_MAX_THREADS). With at least as many
 * images as threads, each thread runs whole images; with fewer, all the threads run
 * each image together (a population's rows and each projection's targets split
 * between them). Results are bit-identical either way. The call runs on a runner
 * of its own (below) with SNN_TEAM_ALWAYS, freed before it returns; if some of
 * its threads cannot be started, it runs on those that could.
 *
 * For image i (0-based within this call) and checkpoint c, with P populations, J
 * projections, K = snn_net_output_size and n_cp checkpoints:
 *   out[(i * n_cp + c) * K + k]      decoded output (V/t or net spike count/t)
 *   spikes[(i * n_cp + c) * P + p]   events emitted by population p up to the checkpoint
 *   synops[(i * n_cp + c) * J + j]   synaptic operations of projection j up to the checkpoint
 * `spikes` and `synops` may be NULL. The random numbers of image i use the image
 * index first_index + i, so a batch split into calls gives the same results.
 * @return SNN_OK, or a status with details in *err (the outputs are then undefined).
 */
/*
 * A thread count for snn_run_batch on `n_images` images with up to `max_threads`
 * cores: max_threads, except for a batch smaller than that on a network too small
 * for its images to be worth splitting between threads (the threads would spend
 * more time meeting than working), where it is the number of images (at least 1).
 */
SNN_API int32_t snn_suggest_threads(const snn_net *net, int64_t n_images, int32_t max_threads);

SNN_API int snn_run_batch(const snn_net *net, const snn_run_config *cfg,
                          const float *x, int64_t n_images, int64_t first_index,
                          float *out, int64_t *spikes, int64_t *synops,
                          int32_t n_threads, snn_error *err);

/*
 * A runner keeps snn_run_batch's threads and states between runs. snn_run_batch
 * starts its threads and makes its states on every call: a large part of a short
 * run, such as one image at a time in a product that classifies a stream. A runner with n_threads threads
 * (1..SNN_MAX_THREADS) starts n_threads - 1 workers once; between runs they spin
 * for about a millisecond, then sleep. snn_runner_run gives exactly the results of
 * snn_run_batch with the same arguments and n_threads (for fewer images than
 * threads it may use one thread: snn_runner_set_team). Calls from several threads
 * on one runner run one after the other. Free the runner before its network.
 * snn_runner_create returns NULL (details in *err) if a thread cannot be started.
 */
typedef struct snn_runner snn_runner;

SNN_API snn_runner *snn_runner_create(const snn_net *net, int32_t n_threads, snn_error *err);
SNN_API int snn_runner_run(snn_runner *runner, const snn_run_config *cfg, const float *x,
                           int64_t n_images, int64_t first_index, float *out, int64_t *spikes,
                           int64_t *synops, snn_error *err);
/* The runner's thread count (0 for NULL). */
SNN_API int32_t snn_runner_threads(const snn_runner *runner);
SNN_API void snn_runner_free(snn_runner *runner);

/*
 * How a runner with several threads runs fewer images than threads, where
 * snn_run_batch would have every thread share each image (a team):
 *   SNN_TEAM_AUTO    (the default) the team or the calling thread alone,
 *                    whichever ran faster in recent runs: both are timed from
 *                    time to time (a few runs each, in turns, one thread
 *                    first), and the way in use changes only for a clear gain.
 *                    A team meets several times per step, so a core slowed or
 *                    taken by another program slows the whole team (on a
 *                    loaded machine, tens of times), while one thread keeps
 *                    its speed: a team run three times slower than one thread
 *                    gives the team up at once, and the team is tried again
 *                    less often each time it loses.
 *   SNN_TEAM_ALWAYS  the team, as snn_run_batch.
 *   SNN_TEAM_NEVER   the calling thread alone.
 * The results are the same bits whichever runs. Returns SNN_OK, or
 * SNN_E_INVALID_ARG for a NULL runner or another policy.
 */
SNN_API int snn_runner_set_team(snn_runner *runner, int32_t policy);

typedef struct snn_state snn_state;

/* Bytes of workspace that one state needs (for snn_state_init_static). */
SNN_API size_t snn_state_size(const snn_net *net);

/*
 * Places a state inside `workspace` (at least snn_state_size bytes, any alignment)
 * and never allocates. The workspace must outlive the state; snn_state_free on such
 * a state does nothing. @return the state, or NULL with *status set (when not NULL).
 */
SNN_API snn_state *snn_state_init_static(const snn_net *net, void *workspace,
                                         size_t size, int *status);

/* Allocates a state with the network's allocator. @return NULL on failure. */
SNN_API snn_state *snn_state_create(const snn_net *net, int *status);

/* Frees a state from snn_state_create. Accepts NULL. */
SNN_API void snn_state_free(snn_state *state);

/*
 * Starts a run of image `x` (snn_net_input_size floats, CHW order, all finite):
 * membranes to their initial values, counters to zero, time to 0. Under analog
 * encoding, the constant current of the input's projections is computed here.
 * Only cfg->encoding, cfg->rate, cfg->seed, cfg->readout_start and cfg->profile_ns
 * are used (the state keeps the profile pointer for the steps that follow).
 */
SNN_API int snn_state_reset(snn_state *state, const snn_run_config *cfg,
                            const float *x, int64_t image_index);

/* Advances the simulation by `n_steps` >= 0 timesteps. Stepping 3 then 5 equals stepping 8.
 * SNN_E_LIMIT past max_timesteps since the reset, or past 2^24 for a network with a
 * retracting population (whose net spike counts are exact up to there; snn_run's
 * timesteps have the same bound). */
SNN_API int snn_state_step(snn_state *state, int32_t n_steps);

/* Steps simulated since the last reset. */
SNN_API int32_t snn_state_time(const snn_state *state);

/* Writes the decoded output at the current step (K floats, CHW order). Needs time >= 1. */
SNN_API int snn_state_read_output(const snn_state *state, float *out, int64_t capacity);

/* Writes the counters so far: P spike counts and J synaptic-operation counts (either may be NULL). */
SNN_API int snn_state_read_counters(const snn_state *state, int64_t *spikes, int64_t spikes_capacity,
                                    int64_t *synops, int64_t synops_capacity);

/*
 * One image, start to end, on a state the caller owns (no allocation): reset, step
 * to each checkpoint and record (layout as snn_run_batch with one image).
 */
SNN_API int snn_run_image(snn_state *state, const snn_run_config *cfg, const float *x,
                          int64_t image_index, float *out, int64_t *spikes, int64_t *synops);

/* ------------------------------------------------------------------------- */
/* Loading a network file (.npz, format version 1: docs/format.md)          */
/* ------------------------------------------------------------------------- */
/*
 * The loader reads the same files as snncore.load in Python, stored or deflated, in
 * two stages. Its reader turns the archive into a network description, checking
 * syntax and types only: the zip archive (CRCs, sizes), every member's .npy header
 * and dtype, the metadata's JSON, its keys and their types, the names that items
 * refer to. Then snn_net_check, the one definition of a valid network, checks the
 * description from the metadata and the arrays' headers alone; only then are the
 * referenced arrays read (members that nothing references are never read), and the
 * check runs again on their values (finite, thresholds > 0). So a member that
 * declares more than the metadata implies is refused having read its header only.
 *
 * Refusals: SNN_E_FORMAT for the reader's (with err->population or err->projection
 * set where an item is at fault), the status of snn_net_check for the rest, and
 * SNN_E_IO for a file that cannot be opened or read; SNN_E_NOMEM when out of
 * memory. Messages name the member, population or projection at fault.
 *
 * The loader is part of libsnncore when it is built with libzip and jansson (meson
 * option `loader`, on when both are found). Without them these functions exist but
 * fail with SNN_E_UNSUPPORTED, and snn_has_loader() returns 0.
 *
 * Threading: loading touches no global state; files may be loaded on several
 * threads at once. An snn_file is immutable once read and may be shared.
 *
 * Memory: the loader allocates with malloc (as do libzip and jansson, which it
 * uses); the allocator in snn_load_options is used for the snn_net only. While a
 * file is read, the arrays it references are in memory once (plus the archive's
 * directory and the metadata); snn_net_create then makes its own repacked copy.
 *
 *   Two ways to use it:
 *     snn_net *net = snn_load_file("net.npz", NULL, &err);     the network only
 *   or, to read the file's hints (default encoding, uint8 scale, names) too:
 *     snn_file *f = snn_file_read("net.npz", NULL, &err);
 *     const snn_file_info *info = snn_file_get_info(f);
 *     snn_net *net = snn_file_build(f, NULL, &err);
 *     snn_file_free(f);                                         the net stays valid
 */

typedef struct snn_load_options {
    int64_t max_bytes;               /* the memory bound of snn_net_check (<= 0: the
                                      * max_bytes of snn_get_limits, 8 GiB) */
    const snn_allocator *allocator;  /* for the snn_net that snn_load_* build; NULL: malloc */
} snn_load_options;

/*
 * What a file says besides the network. Strings are UTF-8 without NUL characters,
 * owned by the snn_file and valid until snn_file_free.
 */
typedef struct snn_file_info {
    int32_t format_version;               /* the file's "version" (1) */
    const char *producer;                 /* free text, "" when absent */
    snn_hints hints;                      /* defaults where absent: analog, rate 1,
                                           * uint8_scale 1/255, readout_start 1 */
    const char *const *population_names;  /* one per population, in file order (= desc index) */
    const char *const *projection_names;  /* one per projection, in file order */
    const char *provenance;               /* the "provenance" object as compact JSON, "{}" if absent */
} snn_file_info;

/* A network file, read and validated: its description and its hints. */
typedef struct snn_file snn_file;

/* 1 when this libsnncore was built with the file loader, else 0. */
SNN_API int snn_has_loader(void);

/*
 * Reads and validates a network file. @return the file, or NULL with the reason in
 * *err (SNN_E_IO, SNN_E_FORMAT, SNN_E_NOMEM, SNN_E_INVALID_ARG, SNN_E_UNSUPPORTED);
 * err may be NULL. `opt` may be NULL (defaults). Ownership: free with snn_file_free.
 */
SNN_API snn_file *snn_file_read(const char *path, const snn_load_options *opt, snn_error *err);

/*
 * The same from `size` bytes in memory (the whole .npz file). The caller keeps the
 * buffer; it is not needed after the call returns. Safe on any input: a fuzzer
 * runs this function in CI.
 */
SNN_API snn_file *snn_file_read_memory(const void *data, size_t size,
                                       const snn_load_options *opt, snn_error *err);

/* Frees a file. Accepts NULL. Networks built from it stay valid. */
SNN_API void snn_file_free(snn_file *file);

/*
 * The network description the file holds, ready for snn_net_create (arrays in the
 * PyTorch layouts of snn_net_desc, owned by the file). NULL when file is NULL.
 */
SNN_API const snn_net_desc *snn_file_desc(const snn_file *file);

/* The file's hints and names. NULL when file is NULL. */
SNN_API const snn_file_info *snn_file_get_info(const snn_file *file);

/*
 * snn_net_create on the file's description with `allocator` (NULL: malloc).
 * @return the network, or NULL with the reason in *err. Free with snn_net_free.
 */
SNN_API snn_net *snn_file_build(const snn_file *file, const snn_allocator *allocator,
                                snn_error *err);

/* Reads, validates and builds a network in one call (snn_file_read + snn_file_build). */
SNN_API snn_net *snn_load_file(const char *path, const snn_load_options *opt, snn_error *err);

/* The same from memory (snn_file_read_memory + snn_file_build). */
SNN_API snn_net *snn_load_memory(const void *data, size_t size, const snn_load_options *opt,
                                 snn_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SNN_H */
