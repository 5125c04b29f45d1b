/* Private structures of the engine. Not installed; never included by users. */
#ifndef SNN_INTERNAL_H
#define SNN_INTERNAL_H

#include "snn.h"

#include <stddef.h>
#include <stdint.h>

/* printf-style checking of a function's format (argument `f`, values from `a`). */
#if defined(__GNUC__)
#define SNN__FORMAT(f, a) __attribute__((format(printf, f, a)))
#else
#define SNN__FORMAT(f, a)
#endif

/* Report `code` with a formatted message and return it from the current function. */
#define RETURN_ERROR_IF(cond, err, code, pop, proj, ...)                     \
    do {                                                                     \
        if (cond) {                                                          \
            snn__set_error((err), (code), (pop), (proj), __VA_ARGS__);       \
            return (code);                                                   \
        }                                                                    \
    } while (0)

/* Propagate a failing status unchanged. */
#define FORWARD_IF_ERROR(expr)                                               \
    do {                                                                     \
        int snn__s = (expr);                                                 \
        if (snn__s != SNN_OK) return snn__s;                                 \
    } while (0)

#define SNN_ALIGN 64

/* Kernels for AVX2 are compiled next to the baseline ones where the compiler can
 * target it per function (GCC, Clang on x86); elsewhere only the baseline exists. */
#if !defined(SNN_NO_DISPATCH) && (defined(__x86_64__) || defined(__i386__)) && \
    (defined(__GNUC__) || defined(__clang__))
#define SNN_HAVE_AVX2 1
#else
#define SNN_HAVE_AVX2 0
#endif
/* AVX-512 (AVX512F) kernels, under the same condition: the synaptic gathers,
 * and the threshold and relay passes of populations with a multiple of 16
 * channels (the others take the AVX2 passes). */
#define SNN_HAVE_AVX512 SNN_HAVE_AVX2

/* The ops with a window (kernel, stride, padding): conv2d and the pools. */
static inline int snn__windowed(int32_t op)
{
    return op == SNN_OP_CONV2D || op == SNN_OP_AVGPOOL2D || op == SNN_OP_MAXPOOL2D;
}

/* The ops whose work splits by target rows, reading the source's events by
 * position (snn_events.first, .end): the windowed ones and upsample2d. */
static inline int snn__by_rows(int32_t op)
{
    return snn__windowed(op) || op == SNN_OP_UPSAMPLE2D;
}

/* One tap of a window along an axis: a kernel offset and the source row or
 * column it reads. */
typedef struct snn_tap {
    int32_t k;      /* kernel offset */
    int32_t src;    /* source row or column */
} snn_tap;

/* Floor division of a neuron index i (0 <= i < 2^31) by a divisor d fixed
 * when the network is built, without a divide instruction (tens of cycles, which
 * made an identity projection cost several times its one add per event):
 * i / d = (i * mul) >> shift with mul = ceil(2^(31 + l) / d), 2^(l-1) < d <= 2^l,
 * shift = 31 + l. mul <= 2^32, so i * mul < 2^63; and i * mul / 2^shift exceeds
 * i / d by less than i / 2^shift < 1 / d, never reaching the next integer. */
typedef struct snn_divider {
    uint64_t mul;
    int32_t shift;
} snn_divider;

static inline snn_divider snn__divider(int64_t d)
{
    snn_divider dv;
    int32_t l = 0;
    while (((int64_t)1 << l) < d) l++;
    dv.shift = 31 + l;
    dv.mul = (((uint64_t)1 << dv.shift) + (uint64_t)d - 1) / (uint64_t)d;
    return dv;
}

static inline int64_t snn__divide(snn_divider dv, int64_t i)
{
    return (int64_t)(((uint64_t)i * dv.mul) >> dv.shift);
}

/* A population as the engine keeps it: channel-last (HWC) neuron order. */
typedef struct snn_pop {
    int32_t kind;
    int32_t reset;
    int32_t is_signed;
    int32_t retract;    /* IF, signed: a -1 retracts an earlier spike (snn.h); its net
                         * spike counts (float) follow its membranes at off_acc + 4n */
    int64_t C, H, W, n;
    float v_init;
    float *theta;       /* C values (a scalar threshold is broadcast) */
    float *theta_neg;   /* C values, signed populations only */
    float *bias;        /* n values in HWC order, or NULL */
    int32_t *out_proj;  /* outgoing projection indices */
    int32_t n_out;
    int32_t has_const;  /* receives a per-image constant current (bias or analog input) */
    int32_t input_only; /* every projection into it comes from the input: under analog
                         * input its constant current is all it receives */
    int32_t has_queue;  /* emits events (input, IF, relay) */
    int32_t has_index;  /* feeds a conv2d or a pool: its queue gets a per-position
                         * index each step */
    int32_t has_fired;  /* feeds a maxpool2d: keeps its net spikes per neuron (off_fired) */
    int32_t fold_proj;  /* IF only: the avgpool2d folded into its threshold pass
                         * (net.c, fold_pools), or -1 */
    int32_t *fold_tpos; /* with fold_proj: per position, the target position whose
                         * window holds it, or -1 */
    int32_t ahead;      /* IF only: steps per block when it runs ahead (net.c,
                         * plan_ahead), else 0 */
    int32_t ahead_src;  /* relay only: the population running ahead whose folded
                         * pool feeds it, or -1 */
    /* offsets into a state's workspace (0 = absent) */
    size_t off_acc;     /* membrane (IF, accumulate) or this step's current (relay) */
    size_t off_const;   /* per-image constant current */
    size_t off_qidx;    /* event indices (int32) */
    size_t off_qval;    /* event values (float) */
    size_t off_first;   /* has_index: per position, its first event in the queue (int32) */
    size_t off_end;     /* has_index: per position, one past its last event (int32) */
    size_t off_count;   /* output population only: net spike count per neuron (int32) */
    size_t off_fired;   /* has_fired: its net spikes (+1 and -1) per neuron since the run
                         * began (int32) */
    size_t off_ahead;   /* ahead: `ahead` slots of its fold target's current (float),
                         * then per slot and team member its spikes and the fold's
                         * synaptic operations (int64 [ahead][SNN_MAX_THREADS][2]) */
} snn_pop;

/* A retracting population keeps its net spike counts as floats, exact up to 2^24:
 * a run of such a network takes at most this many steps. */
#define SNN_RETRACT_MAX_STEPS ((int64_t)1 << 24)

/* The steps of a block that a population driven by constant current alone runs
 * ahead (run.c, emit): its membranes and current stay in registers over them. */
#define SNN_AHEAD_STEPS 8

typedef struct snn_proj {
    int32_t op;
    int32_t source, target;
    int32_t kh, kw, sh, sw, ph, pw;     /* upsample2d: its scale in sh, sw */
    int64_t row_stride; /* conv: floats from one kernel row's weights to the next
                         * (groups > 1: kw * Ci * Co / groups; else Co: an
                         * event's rows for the kernel rows are adjacent,
                         * so the three that gather_quad reads are 3 * Co floats
                         * in a row, not three blocks in L1 sets of their own) */
    int64_t tap_stride; /* conv: floats from one (kernel column, input channel) to
                         * the next: kh * Co (groups > 1: Co / groups) */
    int64_t groups;     /* conv: channel groups (1: an ordinary conv) */
    float *w;           /* repacked: conv [kw][Ci][kh][Co], with groups
                         * [kh][kw][Ci][Co / groups] (an input channel meets its
                         * group's outputs alone); in both, tap (ky, kx) of input
                         * channel ci starts at ky * row_stride + (kx * Ci + ci) *
                         * tap_stride; dense [in, HWC
                         * order][out]; identity, maxpool2d, upsample2d: the gain
                         * [C]; avgpool2d: gain / area [C] */
    snn_divider by_c;   /* identity, upsample2d: division by the source's channels,
                         * for an event's channel (its gain) and position */
    size_t off_best;    /* maxpool2d: in a state's workspace, per target neuron
                         * the largest spike count of its window so far (int32) */
    /* conv2d, avgpool2d: for output row o, the taps grow_taps[grow_start[o] ..
     * grow_start[o+1]) are the (kernel row, source row) pairs of its window that
     * fall inside the source; the same for columns. Precomputed so that a window needs no division or bounds test. */
    int32_t *grow_start, *gcol_start;
    snn_tap *grow_taps, *gcol_taps;
} snn_proj;

/* The events a projection delivers in one step: indices in the source's HWC
 * order and values. The queue is made of segments (one per team member that
 * filled it; one for a team of one), each in ascending index order, holding
 * idx[seg_start[k] .. seg_start[k] + seg_len[k]). For a source with has_index,
 * the events at position pos are idx[first[pos] .. end[pos]); a segment always
 * holds whole rows of positions. */
typedef struct snn_events {
    const int32_t *idx;
    const float *val;
    const int32_t *first, *end;
    const int64_t *seg_start, *seg_len;
    int32_t n_seg;
    int64_t n;              /* all segments together */
} snn_events;

typedef int64_t (*snn_scatter_fn)(const struct snn_net *net, const snn_proj *p,
                                  const snn_events *ev, float *dst, int32_t part, int32_t parts);

/* maxpool2d at one output pixel (maxpool.c): per channel, the largest count of
 * `fired` (C counts a source position, SW positions a source row) over the
 * window's taps, rows [r, r_end) x columns [c, c_end), against `best` (its C
 * largest counts so far, updated); dst (C) gains (new - old) x gain. */
typedef void (*snn_maxpool_fn)(const snn_tap *r, const snn_tap *r_end, const snn_tap *c,
                               const snn_tap *c_end, const int32_t *fired, int64_t SW,
                               int64_t C, int32_t *best, const float *gain, float *dst);

/* The windows of a folded pool (stride = kernel, no padding): kh x kw source
 * positions each, TH x TW of them (its target's rows and columns). The AVX-512
 * passes go window by window (fire_kernels.h). */
typedef struct snn_windows {
    int32_t kh, kw;
    int64_t TH, TW;
} snn_windows;

/* An avgpool2d folded into its source's threshold pass: its windows do not
 * overlap, so each spike at a source position adds value x w[c] to one target
 * position's buffer, and the pass adds it there as the neuron fires: the same
 * float operations in the same order as the pool's gather (contributions in
 * ascending source position, which is kernel order), without queue traffic. */
typedef struct snn_fold {
    float *dst;             /* the target's buffer (its off_acc) */
    const float *w;         /* gain / area per channel */
    const int32_t *tpos;    /* snn_pop.fold_tpos */
    snn_windows win;
    int64_t ops;            /* out: synaptic operations (spikes inside a window) */
} snn_fold;

/* maxpool.c: part `part` of `parts` of maxpool2d q's step (the target rows a
 * conv of the same target would give that part): for the events ev of its
 * source, whose net spike counts since the run began (this step's included) are
 * `fired`, updates `best` (its window's largest count per target neuron) and adds
 * the gain to dst where it grew, or subtracts it where it fell. Returns the
 * synaptic operations (events times the windows that hold them). */
int64_t snn__maxpool(const struct snn_net *net, const snn_proj *q, const snn_events *ev,
                     const int32_t *fired, int32_t *best, float *dst, int32_t part, int32_t parts);

/* upsample.c: part `part` of `parts` of upsample2d q (the target rows a conv of
 * the same target would give that part): each event adds value x gain to its
 * sh x sw target positions. Returns the synaptic operations. */
int64_t snn__upsample(const struct snn_net *net, const snn_proj *q, const snn_events *ev,
                      float *dst, int32_t part, int32_t parts);

/* fire.c: the threshold pass of an IF population (membranes V, constant current
 * K or NULL) and the relay pass, over the positions of rows [row0, row1). Both
 * write their events in ascending order from qi[row0 * W * C], qv[...], record
 * each position's events in first[] and end[] (unless NULL), and return their
 * number. The threshold pass also applies fold's pool (unless NULL); the relay
 * pass takes no fold. */
typedef int64_t (*snn_fire_fn)(const snn_pop *p, float *V, const float *K, int32_t *qi,
                               float *qv, int32_t *first, int32_t *end, int64_t row0,
                               int64_t row1, snn_fold *fold);
typedef snn_fire_fn snn_relay_fn;

/* A block of steps of an IF population run ahead: its only input is constant
 * current and its only reader its folded pool, so `steps` steps of its
 * threshold pass can run at once, neuron block by neuron block, each step's
 * pool contributions going to their own slot of dst (slot floats apart), and
 * each step's spikes and pool synaptic operations counted in spikes[] and ops[]
 * (at most SNN_AHEAD_STEPS steps). */
typedef struct snn_ahead {
    float *dst;
    int64_t slot;
    const float *w;         /* the pool's gain / area per channel */
    const int32_t *tpos;    /* snn_pop.fold_tpos */
    int32_t steps;
    snn_windows win;        /* the pool's */
    int64_t spikes[SNN_AHEAD_STEPS], ops[SNN_AHEAD_STEPS];
} snn_ahead;
typedef void (*snn_ahead_fn)(const snn_pop *p, float *V, const float *K, int64_t row0,
                             int64_t row1, snn_ahead *a);

struct snn_net {
    snn_allocator alloc;
    int32_t isa;                /* SNN_ISA_GENERIC, SNN_ISA_AVX2 or SNN_ISA_AVX512 */
    snn_scatter_fn scatter;     /* the kernels of that instruction set */
    snn_maxpool_fn maxpool_pixel;
    snn_fire_fn fire;
    snn_relay_fn relay;
    snn_ahead_fn fire_ahead;
    int32_t n_pop, n_proj;
    int32_t input, output;
    int64_t max_steps;  /* the most steps of a run: the library's limit, or
                         * SNN_RETRACT_MAX_STEPS with a retracting population */
    snn_pop *pops;
    snn_proj *projs;
    int32_t *order;     /* simulation order, input first */
    size_t state_size;  /* bytes of one state's workspace, header included */
    size_t off_x, off_phase, off_spikes, off_synops;  /* fixed arrays of a state */
    void **blocks;      /* every allocation the net owns, freed together */
    int32_t n_blocks, cap_blocks;
};

struct snn_state {
    const snn_net *net;
    void *allocation;   /* from snn_state_create, else NULL */
    unsigned char *base;
    int32_t t;
    int32_t encoding;
    double rate;
    uint64_t seed;
    int64_t image;
    int32_t readout_start;  /* first step the output counts (>= 1) */
    int64_t input_events;   /* events of the input's queue this step */
    int64_t *profile_ns;    /* the run's profile counters (snn_run_config), or NULL */
    float *x;           /* input image, HWC order */
    float *phase;       /* regular encoding */
    int64_t *spikes;    /* per population */
    int64_t *synops;    /* per projection */
};

/* check.c: the sizes of a population as the engine keeps them. */
typedef struct snn__dims { int32_t ndim; int64_t C, H, W, n; } snn__dims;

/* check.c: snn_net_check in two parts. snn__check_counts checks what sizes
 * scratch (the description's counts, pointers, isa and allocator) and clears
 * *err; snn__check, on a description that passed it, checks the rest (with
 * need_data, every array given must have its data) and fills pd and order
 * (n_populations each). */
int snn__check_counts(const snn_net_desc *desc, snn_error *err);
int snn__check(const snn_net_desc *desc, int need_data, snn__dims *pd, int32_t *order,
               snn_error *err);

/* error.c: malloc and free as an snn_allocator. */
snn_allocator snn__default_allocator(void);

/* error.c: records a failure in *err (which may be NULL) and returns `status`. */
int snn__set_error(snn_error *err, int status, int32_t pop, int32_t proj, const char *fmt, ...)
    SNN__FORMAT(5, 6);
/* check.c: "population 'a': " (or "population 3: ", "projection ..."), the item at fault
 * as messages name it, into buf. */
void snn__item_label(const snn_net_desc *d, int32_t pop, int32_t proj, char *buf, size_t cap);

/* Checks a run configuration (timesteps, encoding, rate, checkpoints). */
int snn__check_config(const snn_net *net, const snn_run_config *cfg, snn_error *err);

/* scatter.c: for an instruction set, the kernels that add an op applied to the
 * events of the source into `dst` (the target's buffer, HWC order), one part of
 * the work at a time, and return the synaptic operations performed, and the max
 * pool's per-pixel kernel; and whether the CPU has AVX2 or AVX-512. */
void snn__synaptic_kernels(int32_t isa, snn_scatter_fn *scatter, snn_maxpool_fn *maxpool);
void snn__neuron_kernels(int32_t isa, snn_fire_fn *fire, snn_relay_fn *relay,
                         snn_ahead_fn *fire_ahead);
int snn__cpu_has_avx2(void);
int snn__cpu_has_avx512(void);

/* sync.c: a barrier for the `size` members of a team (at most
 * SNN_MAX_THREADS), ranks 0..size-1. snn__barrier_init readies it for use;
 * members then meet with snn__team_sync. Its memory is shared by the members
 * and owned by whoever embeds it. */
typedef struct snn_barrier {
    int32_t size;
    int32_t arrived;
    int32_t sense;
    int32_t sleepers;
    int32_t spins;          /* before sleeping: snn__spins(size) */
    int32_t member_sense[SNN_MAX_THREADS];
} snn_barrier;
void snn__barrier_init(snn_barrier *b, int32_t size);

/* The threads that run one image together, sharing its state (team.c). Each
 * member has its rank, its own synaptic operation counters, the steps it has run
 * and their parity; the barrier and `counts` are shared. counts[parity]
 * [population][member] is the number of events the member emitted in a step of
 * that parity: a member may start the next step (and emit) before the others
 * have read this step's counts, never two steps ahead (each step with events
 * has a barrier). A team of one has no barrier or counts, and counts its
 * synaptic operations straight into its state. */
typedef struct snn_team {
    int32_t rank, size;
    int32_t parity;
    int32_t t;          /* the steps this member has run of the image */
    snn_barrier *barrier;
    int64_t *counts;
    int64_t *synops;
} snn_team;

/* The events member `rank` emitted from population `pop` in the step it is running. */
static inline int64_t *snn__team_count(const snn_team *tm, int32_t n_pop, int64_t pop,
                                       int32_t rank)
{
    return tm->counts + ((int64_t)tm->parity * n_pop + pop) * tm->size + rank;
}

/* sync.c: waits until every member of the team has arrived (nothing for a
 * team of one). */
void snn__team_sync(const snn_team *tm);

/* sync.c: waiting for other threads. snn__wait_change waits until *word !=
 * value (and returns the new value), spinning `spins` steps, then sleeping
 * (a futex on Linux, a yield elsewhere) counted in *sleepers, so that the
 * writer, after changing the word, calls snn__wake_all(word) if *sleepers > 0.
 * snn__spins: the spin steps for a thread of a group of `members`: about a
 * millisecond when the group fits the CPUs this process may use (waking a
 * sleeper costs more than a phase of a step), briefly if not. */
int32_t snn__wait_change(int32_t *word, int32_t value, int32_t *sleepers, int32_t spins);
void snn__wake_all(int32_t *word);
int32_t snn__spins(int32_t members);

/* A batch's images and where its results go (batch.c, team.c, runner.c): image i at
 * x + i * in_size; its outputs, spikes and synops (one block per checkpoint) at
 * out + i * out_stride, and so on (spikes, synops may be NULL). */
typedef struct snn__batch_io {
    const float *x;
    int64_t n_images, first_index;
    float *out;
    int64_t *spikes, *synops;
    int64_t in_size, out_stride, spikes_stride, synops_stride;
} snn__batch_io;

/* team.c: a team's shared state and buffers for `size` members, reusable over
 * runs (runner.c): set a run, have each member call snn__team_job_member with
 * its rank at the same time, then read the status. */
typedef struct snn__team_job snn__team_job;
snn__team_job *snn__team_job_create(const snn_net *net, int32_t size, int *status);
void snn__team_job_free(snn__team_job *job);
void snn__team_job_set(snn__team_job *job, const snn_run_config *cfg, const snn__batch_io *io);
void snn__team_job_member(snn__team_job *job, int32_t rank);
int snn__team_job_status(const snn__team_job *job);

/* runner.c: under SNN_TEAM_AUTO, which way a runner runs a batch smaller than
 * its threads: on its team or on the calling thread alone (the same bits). The
 * two are compared over SNN_CHOICE_PROBES runs each, taken in turns (one
 * thread first), by their median seconds per image and step (images differ in their
 * work, so single runs are noisy); the way in use changes only if the other
 * is faster by SNN_CHOICE_MARGIN; it then runs the next SNN_CHOICE_KEEP
 * batches, after which the two are compared again. A team is only as fast as
 * its slowest member at every meeting: on a loaded machine, where a member
 * waits for a core, a team run can take ten times one thread's. So a team run
 * (kept or probed) slower than SNN_CHOICE_BAIL times the last comparison's
 * median alone (in the first comparison, its fastest run alone so far) gives
 * the team up at once, and every time the team loses, the
 * batches before the next comparison double (up to SNN_CHOICE_KEEP_MAX), so
 * that its probes cost little while the load lasts. */
#define SNN_CHOICE_PROBES 5
#define SNN_CHOICE_KEEP 60
#define SNN_CHOICE_KEEP_MAX (64 * SNN_CHOICE_KEEP)
#define SNN_CHOICE_MARGIN 0.05
#define SNN_CHOICE_BAIL 3.0
typedef struct snn__team_choice {
    int32_t left;           /* batches before the next comparison (0: comparing) */
    int32_t use;            /* the faster at the last comparison: 1 team, 0 alone */
    int32_t keep;           /* batches kept after a comparison: doubles as the team loses */
    int32_t n[2];           /* this comparison's runs of each way so far */
    double seconds[2][SNN_CHOICE_PROBES];
    double alone;           /* the last comparison's median seconds per step alone (0: none) */
} snn__team_choice;
void snn__team_choice_init(snn__team_choice *c);
int32_t snn__team_choice_next(const snn__team_choice *c);    /* 1: team, 0: alone */
void snn__team_choice_record(snn__team_choice *c, int32_t team, double seconds_per_step);

/* batch.c: checks a batch's arguments as snn_run_batch does and describes it
 * in *io; images one thread takes from a shared counter (next) and runs on its
 * own state, recording the first failure in *status. */
int snn__batch_prepare(const snn_net *net, const snn_run_config *cfg, const float *x,
                       int64_t n_images, int64_t first_index, float *out, int64_t *spikes,
                       int64_t *synops, snn__batch_io *io, snn_error *err);
void snn__batch_images(snn_state *s, const snn_run_config *cfg, const snn__batch_io *io,
                       int64_t *next, int *status);

/* run.c: one timestep of a state, by every member of a team. */
void snn__step(snn_state *s, snn_team *tm);

static inline void *snn__at(const snn_state *s, size_t off) { return s->base + off; }

#endif /* SNN_INTERNAL_H */
