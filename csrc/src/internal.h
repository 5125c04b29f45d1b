/* Private structures of the engine. Not installed; never included by users. */
#ifndef SNN_INTERNAL_H
#define SNN_INTERNAL_H

#include "snn.h"

#include <stddef.h>
#include <stdint.h>

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

/* Division by a constant d <= 2^24 of any n < 2^28 (the largest population) as a
 * multiply and a shift: q = (n * mul) >> shift with shift = 29 + ceil(log2 d) and
 * mul = ceil(2^shift / d). The rounding error n * (mul * d - 2^shift) stays below
 * 2^shift, so q is exact; n * mul stays below 2^59. */
typedef struct snn_divider {
    uint64_t mul;
    uint32_t shift;
} snn_divider;

static inline uint32_t snn__divide(const snn_divider *d, uint32_t n)
{
    return (uint32_t)(((uint64_t)n * d->mul) >> d->shift);
}

void snn__divider_init(snn_divider *d, uint32_t divisor);

/* One kernel offset along an axis and the output row/column it reaches. */
typedef struct snn_tap {
    int32_t k;
    int32_t out;
} snn_tap;

/* Where one event of a conv2d or avgpool2d lands: its channel, and the row and
 * column taps of its source position (see snn_proj's tables). */
typedef struct snn_event_taps {
    int64_t channel;
    const snn_tap *row, *row_end, *col, *col_end;
} snn_event_taps;

/* A population as the engine keeps it: channel-last (HWC) neuron order. */
typedef struct snn_pop {
    int32_t kind;
    int32_t reset;
    int32_t is_signed;
    int64_t C, H, W, n;
    snn_divider div_c, div_w;  /* index -> position (by C), position -> row (by W) */
    float v_init;
    float *theta;       /* C values (a scalar threshold is broadcast) */
    float *theta_neg;   /* C values, signed populations only */
    float *bias;        /* n values in HWC order, or NULL */
    int32_t *out_proj;  /* outgoing projection indices */
    int32_t n_out;
    int32_t has_const;  /* receives a per-image constant current (bias or analog input) */
    int32_t has_queue;  /* emits events (input, IF, relay) */
    /* offsets into a state's workspace (0 = absent) */
    size_t off_acc;     /* membrane (IF, accumulate) or this step's current (relay) */
    size_t off_const;   /* per-image constant current */
    size_t off_qidx;    /* event indices (int32) */
    size_t off_qval;    /* event values (float) */
    size_t off_count;   /* output population only: net spike count per neuron (int32) */
} snn_pop;

typedef struct snn_proj {
    int32_t op;
    int32_t source, target;
    int32_t kh, kw, sh, sw, ph, pw;
    float *w;           /* repacked: conv [kh][kw][Ci][Co]; dense [in, HWC order][out];
                         * identity and avgpool2d: the gain [C] */
    float inv_area;     /* avgpool2d: 1 / (kh * kw) */
    /* conv2d, avgpool2d: for source row y, the taps row_taps[row_start[y] ..
     * row_start[y+1]) are the (kernel row, output row) pairs it reaches; the same
     * for columns. Precomputed so an event needs no division or bounds test. */
    int32_t *row_start, *col_start;
    snn_tap *row_taps, *col_taps;
} snn_proj;

typedef int64_t (*snn_scatter_fn)(const struct snn_net *net, const snn_proj *p,
                                  const int32_t *idx, const float *val, int64_t n_ev,
                                  float *dst);

struct snn_net {
    snn_allocator alloc;
    int32_t isa;                /* SNN_ISA_GENERIC or SNN_ISA_AVX2 */
    snn_scatter_fn scatter;     /* the kernels of that instruction set */
    int32_t n_pop, n_proj;
    int32_t input, output;
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
    float *x;           /* input image, HWC order */
    float *phase;       /* regular encoding */
    int64_t *spikes;    /* per population */
    int64_t *synops;    /* per projection */
};

/* error.c */
void snn__set_error(snn_error *err, int status, int32_t pop, int32_t proj,
                    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Checks a run configuration (timesteps, encoding, rate, checkpoints). */
int snn__check_config(const snn_net *net, const snn_run_config *cfg, snn_error *err);

/* scatter.c: the kernels that add an op applied to `n_ev` events of the source
 * into `dst` (the target's buffer, HWC order) and return the synaptic
 * operations performed, for an instruction set; and whether the CPU has AVX2. */
snn_scatter_fn snn__scatter_kernel(int32_t isa);
int snn__cpu_has_avx2(void);

static inline void *snn__at(const snn_state *s, size_t off) { return s->base + off; }

#endif /* SNN_INTERNAL_H */
