/*
 * The synaptic kernels, compiled once per instruction set: scatter.c includes
 * this file with SNN_KERNEL(name), SNN_KERNEL_ATTR, a vector type SNN_VT of
 * SNN_VL floats, SNN_NV and SNN_DENSE_NV (the accumulator vectors a conv or
 * dense block keeps in registers) defined: for the baseline build, with AVX2 and
 * with AVX-512, and undefines them at its end. The arithmetic is the same in all
 * three (no fused multiply-add), so all give bit-identical results.
 */

/* ---- conv2d as a gather ------------------------------------------------------
 *
 * Each output pixel sums the events of its window into accumulators held in
 * vector registers, SNN_NV vectors of SNN_VL channels at a time, and adds them to
 * its membranes once; the weight rows of the window stream past. Per channel the
 * arithmetic is the same whatever the block width (acc = 0; acc += v * w for each
 * window tap in kernel order and each event of that tap in index order; dst +=
 * acc), so the baseline, AVX2 and AVX-512 builds agree bit for bit.
 *
 * A window's column taps are consecutive source columns with consecutive kernel
 * columns (no dilation), and a source row's events are contiguous in the queue,
 * sorted by position, so the events of one kernel row of the window are the one
 * range first[pos] .. end[pos + cols - 1]. Over that range the weight row of an
 * event is wt + idx * tap_stride with a single wt (the kernel column grows with
 * the position exactly as idx grows by Ci), so a kernel row is one loop, not
 * one loop per tap, and the order of the additions is unchanged. */

#ifndef SNN_V8_DEFINED
#define SNN_V8_DEFINED
#if defined(__GNUC__) || defined(__clang__)
#define SNN_HAVE_V8 1
typedef float snn_v4 __attribute__((vector_size(16)));
typedef float snn_v8 __attribute__((vector_size(32)));
typedef float snn_v16 __attribute__((vector_size(64)));
/* x in every lane; written out, not as x * vector, which GCC's baseline build
 * compiles with the accumulators spilled to the stack */
#define SNN_SPLAT_snn_v4(x) ((snn_v4){x, x, x, x})
#define SNN_SPLAT_snn_v8(x) ((snn_v8){x, x, x, x, x, x, x, x})
#define SNN_SPLAT_snn_v16(x) ((snn_v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x})
#define SNN_SPLAT(VT, x) SNN_SPLAT_TYPE(VT, x)  /* VT expanded first */
#define SNN_SPLAT_TYPE(VT, x) SNN_SPLAT_##VT(x)
#else
#define SNN_HAVE_V8 0
#endif

/* What a conv gather knows of its events' values, from its source's kind
 * (snn_event_kind): graded (a relay's currents, the analog input, or the +1
 * and -1 of a signed IF population) or unit (an unsigned IF population's
 * spikes, all +1). A unit event's product 1 x w is w exactly, so the gathers
 * for unit events add the weights without multiplying (one vector instruction
 * per weight vector instead of two) and give the graded gather's bits. */
#define SNN_EV_GRADED 0
#define SNN_EV_UNIT 1
/* v x w for an event of value v (splat in V) of kind KIND */
#define SNN_EV_PRODUCT(KIND, V, W) ((KIND) == SNN_EV_UNIT ? (W) : (V) * (W))
/* The kernel NAME_g or NAME_u of this kernel set for events of kind KIND */
#define SNN_BY_KIND(KIND, NAME)                                                                 \
    ((KIND) == SNN_EV_UNIT ? SNN_KERNEL(NAME##_u) : SNN_KERNEL(NAME##_g))

/* Each kind of gather DEF(NAME, VT, L, NV, KIND) for events of both kinds: G for
 * graded events, U for unit ones. */
#define SNN_EV_KINDS(DEF, G, U, VT, L, NV)                                                      \
    DEF(G, VT, L, NV, SNN_EV_GRADED)                                                            \
    DEF(U, VT, L, NV, SNN_EV_UNIT)
/* O[L * j .. L * (j + 1)) += ACC[j] for j < NV, unaligned: how a gather adds its
 * accumulators to a pixel's membranes */
#define SNN_ADD_VECTORS(VT, L, NV, O, ACC)                                                      \
    do {                                                                                        \
        int j_;                                                                                 \
        _Pragma("GCC unroll 8") for (j_ = 0; j_ < NV; j_++) {                                   \
            VT d_;                                                                              \
            memcpy(&d_, (O) + L * j_, sizeof d_);                                               \
            d_ += (ACC)[j_];                                                                    \
            memcpy((O) + L * j_, &d_, sizeof d_);                                               \
        }                                                                                       \
    } while (0)

/* The kind of the events population p emits: SNN_EV_UNIT for the spikes of
 * an unsigned IF population (fire_kernels.h emits +1 alone there), else
 * SNN_EV_GRADED. */
static inline int snn_event_kind(const snn_pop *p)
{
    return p->kind == SNN_KIND_IF && !p->is_signed ? SNN_EV_UNIT : SNN_EV_GRADED;
}

/* One output row's window: its row taps, and the events of its columns. */
typedef struct snn_gather_row {
    const snn_tap *row, *row_end;   /* (kernel row, source row) */
    const snn_tap *col, *col_end;   /* (kernel column, source column) of one pixel */
} snn_gather_row;
#endif

#if SNN_HAVE_V8
/* Channels [co, co + L * NV) of the pixels [ox0, ox1) of one output row (at
 * most SNN_CHUNK; n[ox - ox0]: the events in each pixel's window, 0 to skip
 * it), in NV vectors VT of L floats, kernel row by kernel row: each kernel
 * row's pass over the pixels uses only that row's weights (a third of a 3x3
 * kernel's, which then stay in the L1 cache), the accumulators waiting in
 * `part` between passes. NV is a constant at each call (SNN_NV for the main
 * blocks, 1 for the last few channels), so the accumulators live in registers
 * within a pass. Per channel: acc = 0; acc += v * w over the kernel rows in
 * order and each row's events in queue order; out += acc. */
#define SNN_CHUNK 32
#define SNN_GATHER_ROWS(NAME, VT, L, NV, KIND)                                                  \
    SNN_KERNEL_ATTR static void NAME(const snn_proj *q, const snn_events *ev,                   \
                                     const snn_tap *row, const snn_tap *row_end,                \
                                     const int64_t *n, int64_t ox0, int64_t ox1, int64_t SW,    \
                                     int64_t Ci, int64_t Co, int64_t co, float *restrict out)   \
    {                                                                                           \
        VT part[SNN_CHUNK][NV];                                                                 \
        const snn_tap *ry;                                                                      \
        int64_t ox;                                                                             \
        int j;                                                                                  \
        for (ox = ox0; ox < ox1; ox++)                                                          \
            _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) part[ox - ox0][j] = (VT){0};       \
        for (ry = row; ry < row_end; ry++)                                                      \
            for (ox = ox0; ox < ox1; ox++) {                                                    \
                const snn_tap *col = q->gcol_taps + q->gcol_start[ox];                          \
                const int64_t cols = q->gcol_start[ox + 1] - q->gcol_start[ox];                 \
                int64_t pos, wt;                                                                \
                int32_t e, e1;                                                                  \
                VT acc[NV];                                                                     \
                if (n[ox - ox0] == 0) continue; /* also every pixel without column taps */      \
                pos = (int64_t)ry->src * SW + col->src;                                         \
                wt = ry->k * q->row_stride + ((int64_t)col->k - pos) * Ci * q->tap_stride + co; \
                e1 = ev->end[pos + cols - 1];                                                   \
                if (ev->first[pos] == e1) continue;                                             \
                _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) acc[j] = part[ox - ox0][j];    \
                for (e = ev->first[pos]; e < e1; e++) {                                         \
                    const float *w = q->w + (wt + (int64_t)ev->idx[e] * q->tap_stride);                    \
                    const VT v = SNN_SPLAT(VT, ev->val[e]);                                     \
                    _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) {                          \
                        VT wj; /* an unaligned load (memcpy), one instruction */                \
                        memcpy(&wj, w + L * j, sizeof wj);                                      \
                        acc[j] += SNN_EV_PRODUCT(KIND, v, wj);                                   \
                    }                                                                           \
                }                                                                               \
                _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) part[ox - ox0][j] = acc[j];    \
            }                                                                                   \
        for (ox = ox0; ox < ox1; ox++)                                                          \
            if (n[ox - ox0]) SNN_ADD_VECTORS(VT, L, NV, out + ox * Co + co, part[ox - ox0]);    \
    }
/* each width for each kind of event (_g graded, _u unit) */
#define SNN_GATHER_ROWS_KINDS(G, U, VT, L, NV) SNN_EV_KINDS(SNN_GATHER_ROWS, G, U, VT, L, NV)
SNN_GATHER_ROWS_KINDS(SNN_KERNEL(gather_rows_g), SNN_KERNEL(gather_rows_u),
                      SNN_VT, SNN_VL, SNN_NV)
SNN_GATHER_ROWS_KINDS(SNN_KERNEL(gather_rows_half_g), SNN_KERNEL(gather_rows_half_u),
                      SNN_VT, SNN_VL, SNN_NV / 2)
#if SNN_NV >= 8
SNN_GATHER_ROWS_KINDS(SNN_KERNEL(gather_rows_quarter_g), SNN_KERNEL(gather_rows_quarter_u),
                      SNN_VT, SNN_VL, SNN_NV / 4)
#endif
SNN_GATHER_ROWS_KINDS(SNN_KERNEL(gather_rows_vec_g), SNN_KERNEL(gather_rows_vec_u),
                      SNN_VT, SNN_VL, 1)
SNN_GATHER_ROWS_KINDS(SNN_KERNEL(gather_rows_v8_g), SNN_KERNEL(gather_rows_v8_u),
                      snn_v8, 8, 1)
#undef SNN_GATHER_ROWS_KINDS
#undef SNN_GATHER_ROWS
#endif

#if SNN_HAVE_V8 && SNN_QUAD_NV
/* Four output rows oy .. oy + 3 of a conv with 3 kernel rows and vertical
 * stride 1: source row s0 + j (s0 = oy - ph) is kernel row j - r of output row
 * oy + r, so one pass
 * over the events of a pixel's window columns in source row s0 + j serves up
 * to three of the four pixels (each event loaded once for up to three weight
 * rows, adjacent in memory: [kw][Ci][kh][Co]), and each pixel's accumulators
 * stay in registers over its three kernel rows: half the loops (and loop
 * exits) of gather_rows for the same work. Per pixel the additions are those
 * of gather_rows, in the same order. With EDGE (a group at a padded edge) a
 * source row outside the source is skipped, as gather_rows skips its kernel
 * row; without, all six exist. n[r][ox]: the events in each pixel's window. */
#define SNN_QUAD_ADD(VT, L, KIND, R, ACC)                                                       \
    do {                                                                                        \
        VT w_;                                                                                  \
        memcpy(&w_, w0_ - (R) * q->row_stride + off_ + L * k, sizeof w_);                       \
        ACC[k] += SNN_EV_PRODUCT(KIND, v_, w_);                                                 \
    } while (0)
#define SNN_QUAD_RANGE(VT, L, NV, KIND, EDGE, J, D0, D1, D2, D3)                                \
    if (!(EDGE) || (s0 + (J) >= 0 && s0 + (J) < SH)) {                                          \
        const int64_t pos_ = (s0 + (J)) * SW + col->src;                                        \
        const int32_t e1_ = ev->end[pos_ + cols - 1];                                           \
        const float *w0_ = q->w + ((J) * q->row_stride +                                        \
                                   ((int64_t)col->k - pos_) * Ci * q->tap_stride + co);         \
        int32_t e_;                                                                             \
        for (e_ = ev->first[pos_]; e_ < e1_; e_++) {                                            \
            const int64_t off_ = (int64_t)ev->idx[e_] * q->tap_stride;                          \
            const VT v_ = SNN_SPLAT(VT, ev->val[e_]);                                           \
            _Pragma("GCC unroll 8") for (k = 0; k < NV; k++) {                                  \
                if (D0) SNN_QUAD_ADD(VT, L, KIND, 0, a0);                                       \
                if (D1) SNN_QUAD_ADD(VT, L, KIND, 1, a1);                                       \
                if (D2) SNN_QUAD_ADD(VT, L, KIND, 2, a2);                                       \
                if (D3) SNN_QUAD_ADD(VT, L, KIND, 3, a3);                                       \
            }                                                                                   \
        }                                                                                       \
    }
#define SNN_QUAD_STORE(VT, L, NV, R, ACC)                                                       \
    if (n[R][ox]) SNN_ADD_VECTORS(VT, L, NV, out + ((R) * OW + ox) * Co + co, ACC);
#define SNN_GATHER_QUAD(NAME, VT, L, NV, KIND, EDGE)                                            \
    SNN_KERNEL_ATTR static void NAME(const snn_proj *q, const snn_events *ev, int64_t s0,       \
                                     int64_t (*n)[SNN_QUAD_MAX_W], int64_t OW, int64_t SW,      \
                                     int64_t SH, int64_t Ci, int64_t Co, int64_t co,            \
                                     float *restrict out)                                       \
    {                                                                                           \
        int64_t ox;                                                                             \
        int k;                                                                                  \
        for (ox = 0; ox < OW; ox++) {                                                           \
            const snn_tap *col = q->gcol_taps + q->gcol_start[ox];                              \
            const int64_t cols = q->gcol_start[ox + 1] - q->gcol_start[ox];                     \
            VT a0[NV], a1[NV], a2[NV], a3[NV];                                                  \
            if ((n[0][ox] | n[1][ox] | n[2][ox] | n[3][ox]) == 0) continue;                     \
            _Pragma("GCC unroll 8") for (k = 0; k < NV; k++)                                    \
                a0[k] = a1[k] = a2[k] = a3[k] = (VT){0};                                        \
            SNN_QUAD_RANGE(VT, L, NV, KIND, EDGE, 0, 1, 0, 0, 0);                               \
            SNN_QUAD_RANGE(VT, L, NV, KIND, EDGE, 1, 1, 1, 0, 0);                               \
            SNN_QUAD_RANGE(VT, L, NV, KIND, EDGE, 2, 1, 1, 1, 0);                               \
            SNN_QUAD_RANGE(VT, L, NV, KIND, EDGE, 3, 0, 1, 1, 1);                               \
            SNN_QUAD_RANGE(VT, L, NV, KIND, EDGE, 4, 0, 0, 1, 1);                               \
            SNN_QUAD_RANGE(VT, L, NV, KIND, EDGE, 5, 0, 0, 0, 1);                               \
            SNN_QUAD_STORE(VT, L, NV, 0, a0)                                                    \
            SNN_QUAD_STORE(VT, L, NV, 1, a1)                                                    \
            SNN_QUAD_STORE(VT, L, NV, 2, a2)                                                    \
            SNN_QUAD_STORE(VT, L, NV, 3, a3)                                                    \
        }                                                                                       \
    }
/* the groups of four rows inside the source (no test on the source rows in
 * the loop), and those at a padded edge */
#define SNN_GATHER_QUAD_INSIDE(NAME, VT, L, NV, KIND) SNN_GATHER_QUAD(NAME, VT, L, NV, KIND, 0)
#define SNN_GATHER_QUAD_EDGE(NAME, VT, L, NV, KIND) SNN_GATHER_QUAD(NAME, VT, L, NV, KIND, 1)
#define SNN_GATHER_QUAD_KINDS(NAME, NV)                                                         \
    SNN_EV_KINDS(SNN_GATHER_QUAD_INSIDE, SNN_KERNEL(NAME##_g), SNN_KERNEL(NAME##_u), SNN_VT,    \
                 SNN_VL, NV)                                                                    \
    SNN_EV_KINDS(SNN_GATHER_QUAD_EDGE, SNN_KERNEL(NAME##_edge_g), SNN_KERNEL(NAME##_edge_u),    \
                 SNN_VT, SNN_VL, NV)
SNN_GATHER_QUAD_KINDS(gather_quad, SNN_QUAD_NV)
#if SNN_QUAD_NV / 2 >= SNN_QUAD_MIN_NV
SNN_GATHER_QUAD_KINDS(gather_quad_half, SNN_QUAD_NV / 2)
#endif
#if SNN_QUAD_NV / 4 >= SNN_QUAD_MIN_NV
SNN_GATHER_QUAD_KINDS(gather_quad_quarter, SNN_QUAD_NV / 4)
#endif
#undef SNN_GATHER_QUAD_KINDS
#undef SNN_GATHER_QUAD_INSIDE
#undef SNN_GATHER_QUAD_EDGE
#undef SNN_GATHER_QUAD
#undef SNN_QUAD_RANGE
#undef SNN_QUAD_ADD
#undef SNN_QUAD_STORE
#endif

#if SNN_HAVE_V8
/* Channels [co, co + L * NV) of output row oy of a 1x1 conv (pointwise), fed
 * by source row sy: each pixel's window is one source position, whose events
 * are summed straight into accumulators in registers and added to the
 * membranes once (acc = 0; acc += v * w in queue order; out += acc: the
 * additions of gather_rows for one kernel tap, without its buffer of partial
 * sums or its count of each window's events). */
#define SNN_GATHER_POINTWISE(NAME, VT, L, NV, KIND)                                             \
    SNN_KERNEL_ATTR static void NAME(const snn_proj *q, const snn_events *ev, int64_t sy,       \
                                     int64_t OW, int64_t SW, int64_t Ci, int64_t Co,            \
                                     int64_t co, float *restrict out)                           \
    {                                                                                           \
        int64_t ox;                                                                             \
        int j;                                                                                  \
        for (ox = 0; ox < OW; ox++) {                                                           \
            const int64_t c0 = q->gcol_start[ox];                                               \
            int64_t pos, wt;                                                                    \
            int32_t e, e1;                                                                      \
            VT acc[NV];                                                                         \
            if (q->gcol_start[ox + 1] == c0) continue; /* no window (1x1: never) */             \
            pos = sy * SW + q->gcol_taps[c0].src;                                               \
            e = ev->first[pos];                                                                 \
            e1 = ev->end[pos];                                                                  \
            if (e == e1) continue;                                                              \
            wt = co - pos * Ci * q->tap_stride;                                                 \
            _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) acc[j] = (VT){0};                  \
            for (; e < e1; e++) {                                                               \
                const float *w = q->w + (wt + (int64_t)ev->idx[e] * q->tap_stride);             \
                const VT v = SNN_SPLAT(VT, ev->val[e]);                                         \
                _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) {                              \
                    VT wj;                                                                      \
                    memcpy(&wj, w + L * j, sizeof wj);                                          \
                    acc[j] += SNN_EV_PRODUCT(KIND, v, wj);                                      \
                }                                                                               \
            }                                                                                   \
            SNN_ADD_VECTORS(VT, L, NV, out + ox * Co + co, acc);                                \
        }                                                                                       \
    }
#define SNN_GATHER_POINTWISE_KINDS(G, U, VT, L, NV)                                             \
    SNN_EV_KINDS(SNN_GATHER_POINTWISE, G, U, VT, L, NV)
SNN_GATHER_POINTWISE_KINDS(SNN_KERNEL(pointwise_g), SNN_KERNEL(pointwise_u), SNN_VT, SNN_VL,
                           SNN_NV)
SNN_GATHER_POINTWISE_KINDS(SNN_KERNEL(pointwise_half_g), SNN_KERNEL(pointwise_half_u), SNN_VT,
                           SNN_VL, SNN_NV / 2)
#if SNN_NV >= 8
SNN_GATHER_POINTWISE_KINDS(SNN_KERNEL(pointwise_quarter_g), SNN_KERNEL(pointwise_quarter_u),
                           SNN_VT, SNN_VL, SNN_NV / 4)
#endif
SNN_GATHER_POINTWISE_KINDS(SNN_KERNEL(pointwise_vec_g), SNN_KERNEL(pointwise_vec_u), SNN_VT,
                           SNN_VL, 1)
SNN_GATHER_POINTWISE_KINDS(SNN_KERNEL(pointwise_v8_g), SNN_KERNEL(pointwise_v8_u), snn_v8, 8, 1)
#undef SNN_GATHER_POINTWISE_KINDS
#undef SNN_GATHER_POINTWISE
#endif

/* Channels [co, Co) of one output pixel, one at a time: the tail of the blocks. */
SNN_KERNEL_ATTR static void SNN_KERNEL(gather_tail)(const snn_proj *q, const snn_events *ev,
                                                    const snn_gather_row *g, int64_t SW,
                                                    int64_t Ci, int64_t Co, int64_t co,
                                                    float *restrict out)
{
    for (; co < Co; co++) {
        float acc = 0.0f;
        const snn_tap *ry;
        for (ry = g->row; ry < g->row_end; ry++) {
            const int64_t pos = (int64_t)ry->src * SW + g->col->src;
            const int64_t wt =
                ry->k * q->row_stride + ((int64_t)g->col->k - pos) * Ci * q->tap_stride + co;
            const int32_t e1 = ev->end[pos + (g->col_end - g->col) - 1];
            int32_t e;
            for (e = ev->first[pos]; e < e1; e++)
                acc += ev->val[e] * q->w[wt + (int64_t)ev->idx[e] * q->tap_stride];
        }
        out[co] += acc;
    }
}

/* The events in one output pixel's window (0: the pixel can be skipped). */
static inline int64_t SNN_KERNEL(window_events)(const snn_events *ev, const snn_gather_row *g,
                                                int64_t SW)
{
    const int64_t cols = g->col_end - g->col;
    int64_t n = 0;
    const snn_tap *ry;
    if (cols == 0) return 0;
    for (ry = g->row; ry < g->row_end; ry++) {
        const int64_t pos = (int64_t)ry->src * SW + g->col->src;
        n += ev->end[pos + cols - 1] - ev->first[pos];
    }
    return n;
}

/* The events in the windows of pixels [ox0, ox1) of output row g->row ..
 * g->row_end into n[ox - ox0]; returns their sum. */
static inline int64_t SNN_KERNEL(pixels_events)(const snn_proj *q, const snn_events *ev,
                                                snn_gather_row *g, int64_t ox0, int64_t ox1,
                                                int64_t SW, int64_t *n)
{
    int64_t ox, taps = 0;
    for (ox = ox0; ox < ox1; ox++) {
        g->col = q->gcol_taps + q->gcol_start[ox];
        g->col_end = q->gcol_taps + q->gcol_start[ox + 1];
        taps += n[ox - ox0] = SNN_KERNEL(window_events)(ev, g, SW);
    }
    return taps;
}

/* The events in the source rows of one output row's window (a row's events
 * are contiguous: a segment of the queue holds whole rows). */
static inline int64_t SNN_KERNEL(row_events)(const snn_events *ev, const snn_tap *ry,
                                             const snn_tap *ry_end, int64_t SW)
{
    int64_t n = 0;
    for (; ry < ry_end; ry++)
        n += ev->end[(int64_t)(ry->src + 1) * SW - 1] - ev->first[(int64_t)ry->src * SW];
    return n;
}

/* The gathers NAME (whole blocks of SNN_NV vectors), then at most one pass each
 * of NAME_half (half a block: 32 channels with AVX-512 or AVX2, one pass over
 * the events where single vectors would take two or four) and NAME_quarter
 * (two vectors, where the kernel set has SNN_NV >= 8), NAME_vec (single
 * vectors) and NAME_v8 (8 lanes, where vectors are wider), for events of kind
 * KIND, over channels CO .. Co, ARGS(CO) giving a call's arguments: no kernel
 * set passes over the events more often than a narrower one would. Leaves CO
 * at the first channel for the one-at-a-time tail. */
#if SNN_HAVE_V8
#if SNN_NV >= 8
#define SNN_QUARTER_BLOCK(KIND, NAME, CO, Co, ARGS)                                             \
    if (CO + SNN_VL * (SNN_NV / 4) <= Co) {                                                     \
        SNN_BY_KIND(KIND, NAME##_quarter)(ARGS(CO));                                            \
        CO += SNN_VL * (SNN_NV / 4);                                                            \
    }
#else
#define SNN_QUARTER_BLOCK(KIND, NAME, CO, Co, ARGS)
#endif
#define SNN_CHANNEL_BLOCKS(KIND, NAME, CO, Co, ARGS)                                            \
    do {                                                                                        \
        for (; CO + SNN_VL * SNN_NV <= Co; CO += SNN_VL * SNN_NV)                               \
            SNN_BY_KIND(KIND, NAME)(ARGS(CO));                                                  \
        if (CO + SNN_VL * (SNN_NV / 2) <= Co) {                                                 \
            SNN_BY_KIND(KIND, NAME##_half)(ARGS(CO));                                           \
            CO += SNN_VL * (SNN_NV / 2);                                                        \
        }                                                                                       \
        SNN_QUARTER_BLOCK(KIND, NAME, CO, Co, ARGS)                                             \
        for (; CO + SNN_VL <= Co; CO += SNN_VL) SNN_BY_KIND(KIND, NAME##_vec)(ARGS(CO));        \
        if (SNN_VL > 8 && CO + 8 <= Co) {                                                       \
            SNN_BY_KIND(KIND, NAME##_v8)(ARGS(CO));                                             \
            CO += 8;                                                                            \
        }                                                                                       \
    } while (0)
#else
#define SNN_CHANNEL_BLOCKS(KIND, NAME, CO, Co, ARGS) ((void)0)
#endif

/* Output row oy of a conv2d, channels [co0, Co), kernel row by kernel row in
 * chunks of pixels (gather_rows); returns its synaptic operations / Co. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(conv_row)(const snn_proj *q, const snn_events *ev,
                                                    int kind, int64_t oy, int64_t co0,
                                                    int64_t SW, int64_t Ci, int64_t Co,
                                                    int64_t OW, float *dst)
{
    snn_gather_row g;
    int64_t ox, ox0, taps = 0;
    g.row = q->grow_taps + q->grow_start[oy];
    g.row_end = q->grow_taps + q->grow_start[oy + 1];
    if (SNN_KERNEL(row_events)(ev, g.row, g.row_end, SW) == 0) return 0;
    for (ox0 = 0; ox0 < OW; ox0 += SNN_CHUNK) {
        const int64_t ox1 = ox0 + SNN_CHUNK < OW ? ox0 + SNN_CHUNK : OW;
        int64_t n[SNN_CHUNK], co = co0;
        taps += SNN_KERNEL(pixels_events)(q, ev, &g, ox0, ox1, SW, n);
#define SNN_ROWS_ARGS(c) q, ev, g.row, g.row_end, n, ox0, ox1, SW, Ci, Co, c, dst + oy * OW * Co
        SNN_CHANNEL_BLOCKS(kind, gather_rows, co, Co, SNN_ROWS_ARGS);
#undef SNN_ROWS_ARGS
        if (co == Co) continue;
        for (ox = ox0; ox < ox1; ox++) {
            if (n[ox - ox0] == 0) continue;
            g.col = q->gcol_taps + q->gcol_start[ox];
            g.col_end = q->gcol_taps + q->gcol_start[ox + 1];
            SNN_KERNEL(gather_tail)(q, ev, &g, SW, Ci, Co, co, dst + (oy * OW + ox) * Co);
        }
    }
    return taps;
}

#if SNN_HAVE_V8 && SNN_QUAD_NV
/* Whether q's output rows can go through gather_quad: 3 kernel rows, vertical
 * stride 1, rows no wider than SNN_QUAD_MAX_W, and channels for its narrowest
 * pass. */
static inline int SNN_KERNEL(quad_fits)(const snn_proj *q, int64_t OW, int64_t Co)
{
    return q->kh == 3 && q->sh == 1 && OW <= SNN_QUAD_MAX_W &&
           Co >= SNN_VL * SNN_QUAD_MIN_NV && Co <= SNN_QUAD_MAX_CO;
}

/* Rows oy .. oy + 3 of a conv through gather_quad (the whole blocks of
 * channels, then a half and a quarter block where the kernel set has them)
 * and conv_row (the rest); returns their synaptic operations / Co. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(conv_quad)(const snn_proj *q, const snn_events *ev,
                                                     int kind, int64_t oy, int64_t SW,
                                                     int64_t SH, int64_t Ci, int64_t Co,
                                                     int64_t OW, float *dst)
{
    int64_t n[4][SNN_QUAD_MAX_W], taps = 0, co = 0;
    int r;
    /* inside: the group's source rows oy - ph .. oy - ph + 5 all exist */
    const int inside = oy - q->ph >= 0 && oy - q->ph + 6 <= SH;
    for (r = 0; r < 4; r++) {
        snn_gather_row g;
        g.row = q->grow_taps + q->grow_start[oy + r];
        g.row_end = q->grow_taps + q->grow_start[oy + r + 1];
        taps += SNN_KERNEL(pixels_events)(q, ev, &g, 0, OW, SW, n[r]);
    }
    if (taps == 0) return 0;
#define SNN_QUAD_CALL(NAME)                                                             \
    (inside ? SNN_BY_KIND(kind, NAME) : SNN_BY_KIND(kind, NAME##_edge))(                \
        q, ev, oy - q->ph, n, OW, SW, SH, Ci, Co, co, dst + oy * OW * Co)
    for (; co + SNN_VL * SNN_QUAD_NV <= Co; co += SNN_VL * SNN_QUAD_NV)
        SNN_QUAD_CALL(gather_quad);
/* one narrower pass of NV vectors a pixel, where the channels left fill it */
#define SNN_QUAD_PASS(NAME, NV)                                                         \
    if (co + SNN_VL * (NV) <= Co) {                                                     \
        SNN_QUAD_CALL(NAME);                                                            \
        co += SNN_VL * (NV);                                                            \
    }
#if SNN_QUAD_NV / 2 >= SNN_QUAD_MIN_NV
    SNN_QUAD_PASS(gather_quad_half, SNN_QUAD_NV / 2)
#endif
#if SNN_QUAD_NV / 4 >= SNN_QUAD_MIN_NV
    SNN_QUAD_PASS(gather_quad_quarter, SNN_QUAD_NV / 4)
#endif
#undef SNN_QUAD_PASS
#undef SNN_QUAD_CALL
    if (co < Co)
        for (r = 0; r < 4; r++)
            SNN_KERNEL(conv_row)(q, ev, kind, oy + r, co, SW, Ci, Co, OW, dst);
    return taps;
}
#endif

/* ---- grouped conv2d as a gather ------------------------------------------------
 *
 * With G > 1 groups an event of input channel ci reaches only the Cog = Co / G
 * outputs of its group ci / Cig (Cig = Ci / G), so gather_rows' vectors over all
 * Co outputs do not apply: for a depthwise layer (Cig = 1) each event would fill
 * one lane. Two kernels, with the arithmetic of gather_rows per output channel
 * (acc = 0; acc += v * w over the kernel rows in order and each row's events of
 * its group in queue order, that is column by column; out += acc, for every
 * output of a pixel whose window holds an event):
 *
 * - conv_depthwise (Cig = 1): the source rows of an output row's window are
 *   made dense (each event's value at its Cog outputs, zeros elsewhere) in a
 *   ring of rows on the stack, and each pixel's outputs are summed in vector
 *   registers over its taps, all lanes busy. A zero adds nothing (acc is never -0: it starts at
 *   +0), so this is the event-by-event sum bit for bit. Pixels whose windows
 *   lie inside the source go SNN_DW_P at a time over all their taps, each
 *   weight vector loaded once for them (dw_group); the others, one at a time
 *   over the taps at positions with events (dw_taps).
 * - conv_groups (the others): an output pixel keeps the accumulators of a block
 *   of its outputs (whole groups, or part of a wide one) in memory, walks the
 *   events of its window tap by tap and adds each event's Cog weights (vectors
 *   over Cog) to its group's accumulators. */
#ifndef SNN_GROUP_ACC
#define SNN_GROUP_ACC 1024  /* accumulators of a conv_groups block (4 KiB on the stack) */
#define SNN_DW_BUF 16384    /* floats of conv_depthwise's dense source rows (64 KiB) */
#define SNN_DW_ROWS 16      /* the most kernel rows conv_depthwise takes */
#define SNN_DW_TAPS 81      /* the most taps (kh x kw) conv_depthwise takes: 9 x 9 */
#define SNN_DW_P 4          /* the pixels side by side of dw_group */

/* The dense rows of conv_depthwise: up to SNN_DW_ROWS source rows of SW * ob
 * floats each, kept from one output row to the next (with stride 1 each source
 * row is made dense once, not once per kernel row). */
typedef struct snn_dw_ring {
    float *x;                       /* slot k at x + k * SW * ob */
    int64_t held[SNN_DW_ROWS];      /* the source row in each slot, or -1 */
    int64_t slots, SW, ob, o0;
} snn_dw_ring;
#endif

/* The first event of e0 .. e1 (one position's, channels ascending) whose
 * channel idx - base is at least c, or e1. */
static inline int32_t SNN_KERNEL(first_channel)(const snn_events *ev, int32_t e0, int32_t e1,
                                                int64_t base, int64_t c)
{
    while (e0 < e1) {
        const int32_t mid = e0 + (e1 - e0) / 2;
        if ((int64_t)ev->idx[mid] - base < c) e0 = mid + 1;
        else e1 = mid;
    }
    return e0;
}

/* One event's weights w[0 .. mw) times v into acc[0 .. mw). */
SNN_KERNEL_ATTR static inline void SNN_KERNEL(add_scaled)(float v, const float *w, int64_t mw,
                                                          float *restrict acc)
{
    int64_t m = 0;
#if SNN_HAVE_V8
    const SNN_VT vv = SNN_SPLAT(SNN_VT, v);
    for (; m + SNN_VL <= mw; m += SNN_VL) {
        SNN_VT a, wm;
        memcpy(&a, acc + m, sizeof a);
        memcpy(&wm, w + m, sizeof wm);
        a += vv * wm;
        memcpy(acc + m, &a, sizeof a);
    }
#endif
    for (; m < mw; m++) acc[m] += v * w[m];
}

/* The block of groups [g0, g1), outputs [m0, m0 + mw) of each, of one output
 * pixel (window g) into acc[(group - g0) * mw + m - m0], which start at 0. */
SNN_KERNEL_ATTR static void SNN_KERNEL(group_pixel)(const snn_proj *q, const snn_events *ev,
                                                    const snn_gather_row *g, int64_t SW,
                                                    int64_t Ci, int64_t g0, int64_t g1,
                                                    int64_t m0, int64_t mw, float *restrict acc)
{
    const int64_t Cig = Ci / q->groups, c0 = g0 * Cig, c1 = g1 * Cig;
    const snn_tap *ry, *cx;
    for (ry = g->row; ry < g->row_end; ry++)
        for (cx = g->col; cx < g->col_end; cx++) {
            const int64_t pos = (int64_t)ry->src * SW + cx->src, base = pos * Ci;
            /* the weights of channel ci at this tap: w + ci * tap_stride */
            const float *w = q->w + ry->k * q->row_stride + (int64_t)cx->k * Ci * q->tap_stride + m0;
            const int32_t e1 = ev->end[pos];
            int32_t e = ev->first[pos];
            int64_t grp = g0, next = c0;    /* the group of channels [next - Cig, next) */
            if (e == e1) continue;
            if (c0 > 0) e = SNN_KERNEL(first_channel)(ev, e, e1, base, c0);
            for (; e < e1; e++) {
                const int64_t ci = (int64_t)ev->idx[e] - base;
                if (ci >= c1) break;
                if (ci >= next) {           /* a division per group met, not per event */
                    grp = ci / Cig;
                    next = (grp + 1) * Cig;
                }
                SNN_KERNEL(add_scaled)(ev->val[e], w + ci * q->tap_stride, mw,
                                       acc + (grp - g0) * mw);
            }
        }
}

/* Output rows [OH * part / parts, OH * (part + 1) / parts) of a grouped conv2d,
 * pixel by pixel, in blocks of at most SNN_GROUP_ACC outputs; returns its
 * synaptic operations: the window events of each pixel times Cog. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(conv_groups)(const snn_net *net, const snn_proj *q,
                                                       const snn_events *ev, float *dst,
                                                       int32_t part, int32_t parts)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t Ci = src->C, SW = src->W, Co = tgt->C, OW = tgt->W, OH = tgt->H;
    const int64_t G = q->groups, Cog = Co / G;
    const int64_t mb = Cog < SNN_GROUP_ACC ? Cog : SNN_GROUP_ACC;   /* outputs of a group a block */
    const int64_t gb = SNN_GROUP_ACC / mb;                           /* groups a block */
    float acc[SNN_GROUP_ACC];
    int64_t oy, ox, taps = 0;
    for (oy = OH * part / parts; oy < OH * (part + 1) / parts; oy++) {
        snn_gather_row g;
        g.row = q->grow_taps + q->grow_start[oy];
        g.row_end = q->grow_taps + q->grow_start[oy + 1];
        if (SNN_KERNEL(row_events)(ev, g.row, g.row_end, SW) == 0) continue;
        for (ox = 0; ox < OW; ox++) {
            float *out = dst + (oy * OW + ox) * Co;
            int64_t n, g0, m0;
            g.col = q->gcol_taps + q->gcol_start[ox];
            g.col_end = q->gcol_taps + q->gcol_start[ox + 1];
            if ((n = SNN_KERNEL(window_events)(ev, &g, SW)) == 0) continue;
            taps += n;
            for (g0 = 0; g0 < G; g0 += gb) {
                const int64_t g1 = g0 + gb < G ? g0 + gb : G;
                for (m0 = 0; m0 < Cog; m0 += mb) {
                    const int64_t mw = m0 + mb < Cog ? mb : Cog - m0;
                    int64_t k, m;
                    memset(acc, 0, (size_t)((g1 - g0) * mw) * sizeof *acc);
                    SNN_KERNEL(group_pixel)(q, ev, &g, SW, Ci, g0, g1, m0, mw, acc);
                    for (k = g0; k < g1; k++)
                        for (m = 0; m < mw; m++) out[k * Cog + m0 + m] += acc[(k - g0) * mw + m];
                }
            }
        }
    }
    return taps * Cog;
}

/* Whether q takes conv_depthwise: one input channel a group, at most
 * SNN_DW_ROWS kernel rows and SNN_DW_TAPS taps, and one group's dense rows fit
 * its buffer. */
static inline int SNN_KERNEL(depthwise_fits)(const snn_proj *q, int64_t Ci, int64_t SW,
                                             int64_t Co)
{
    return q->groups == Ci && q->kh <= SNN_DW_ROWS && (int64_t)q->kh * q->kw <= SNN_DW_TAPS &&
           (int64_t)q->kh * SW * (Co / Ci) <= SNN_DW_BUF;
}

/* Source row sy of conv_depthwise made dense for outputs [o0, o0 + ob) (input
 * channels [o0 / Cog, (o0 + ob) / Cog)): x[sx * ob + o - o0] is the value of the
 * event of input channel o / Cog at column sx, or 0; x is all zeros before. */
static inline void SNN_KERNEL(dense_row)(const snn_events *ev, int64_t sy, int64_t SW, int64_t Ci,
                                         int64_t Cog, int64_t o0, int64_t ob, float *x)
{
    const int64_t c0 = o0 / Cog, c1 = (o0 + ob) / Cog;
    int64_t sx, m;
    if (Cog == 1 && c0 == 0 && c1 == Ci) {
        /* depthwise, one block of all channels: x[sx * Ci + c] for event index
         * (sy * SW + sx) * Ci + c, so the row's events (contiguous in the queue)
         * go in one loop, not one loop a position, whose exits, at a few
         * events a position, would be mispredicted about once each */
        const int32_t e1 = ev->end[(sy + 1) * SW - 1];
        int32_t e = ev->first[sy * SW];
        float *xr = x - sy * SW * Ci;
        for (; e < e1; e++) xr[ev->idx[e]] = ev->val[e];
        return;
    }
    for (sx = 0; sx < SW; sx++) {
        const int64_t pos = sy * SW + sx, base = pos * Ci;
        float *xr = x + sx * ob - o0;
        const int32_t e1 = ev->end[pos];
        int32_t e = ev->first[pos];
        if (e == e1) continue;
        if (c0 > 0) e = SNN_KERNEL(first_channel)(ev, e, e1, base, c0);
        if (Cog == 1 && c1 == Ci) {     /* depthwise, the last block: one store an event */
            for (xr -= base; e < e1; e++) xr[ev->idx[e]] = ev->val[e];
            continue;
        }
        for (; e < e1 && ev->idx[e] - base < c1; e++)
            for (m = 0; m < Cog; m++) xr[(ev->idx[e] - base) * Cog + m] = ev->val[e];
    }
}


/* The slot of source row sy, made dense if no slot holds it, in a slot that
 * none of the current output row's source rows row[0 .. rows) holds. */
static inline const float *SNN_KERNEL(dw_slot)(snn_dw_ring *ring, const snn_events *ev,
                                               const snn_tap *row, int64_t rows, int64_t sy,
                                               int64_t Ci, int64_t Cog)
{
    const int64_t size = ring->SW * ring->ob;
    int64_t k, r, free_slot = -1;
    for (k = 0; k < ring->slots; k++) {
        int needed = 0;
        if (ring->held[k] == sy) return ring->x + k * size;
        for (r = 0; r < rows; r++) needed |= ring->held[k] == row[r].src;
        if (!needed && free_slot < 0) free_slot = k;
    }
    if (ring->held[free_slot] >= 0)
        memset(ring->x + free_slot * size, 0, (size_t)size * sizeof *ring->x);
    ring->held[free_slot] = sy;
    SNN_KERNEL(dense_row)(ev, sy, ring->SW, Ci, Cog, ring->o0, ring->ob, ring->x + free_slot * size);
    return ring->x + free_slot * size;
}

#if SNN_HAVE_V8
/* Outputs [o, o + L * NV) of a block of one pixel of conv_depthwise, over its
 * live taps in order (xp[t]: the tap's dense row at its column, wp[t]: its
 * weights, both from the block's first output): acc = 0; acc += x * w;
 * out += acc. */
#define SNN_DW_PIXEL(NAME, VT, L, NV)                                                           \
    SNN_KERNEL_ATTR static inline void NAME(const float *const *xp, const float *const *wp,    \
                                            int nt, int64_t o, float *restrict out)             \
    {                                                                                           \
        VT acc[NV];                                                                             \
        int t, j;                                                                               \
        _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) acc[j] = (VT){0};                      \
        for (t = 0; t < nt; t++) {                                                              \
            const float *xv = xp[t] + o, *wv = wp[t] + o;                                       \
            _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) {                                  \
                VT a, b;                                                                        \
                memcpy(&a, xv + L * j, sizeof a);                                               \
                memcpy(&b, wv + L * j, sizeof b);                                               \
                acc[j] += a * b;                                                                \
            }                                                                                   \
        }                                                                                       \
        _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) {                                      \
            VT d;                                                                               \
            memcpy(&d, out + L * j, sizeof d);                                                  \
            d += acc[j];                                                                        \
            memcpy(out + L * j, &d, sizeof d);                                                  \
        }                                                                                       \
    }
SNN_DW_PIXEL(SNN_KERNEL(dw_pixel), SNN_VT, SNN_VL, SNN_NV)
SNN_DW_PIXEL(SNN_KERNEL(dw_pixel_half), SNN_VT, SNN_VL, SNN_NV / 2)
#if SNN_NV >= 8
SNN_DW_PIXEL(SNN_KERNEL(dw_pixel_quarter), SNN_VT, SNN_VL, SNN_NV / 4)
#endif
SNN_DW_PIXEL(SNN_KERNEL(dw_pixel_vec), SNN_VT, SNN_VL, 1)
SNN_DW_PIXEL(SNN_KERNEL(dw_pixel_v8), snn_v8, 8, 1)
#undef SNN_DW_PIXEL
#endif

/* Output o of a block of one pixel of conv_depthwise, alone: the tail of the
 * vectors (as dw_pixel). */
SNN_KERNEL_ATTR static inline void SNN_KERNEL(dw_pixel_one)(const float *const *xp,
                                                            const float *const *wp, int nt,
                                                            int64_t o, float *out)
{
    float acc = 0.0f;
    int t;
    for (t = 0; t < nt; t++) acc += xp[t][o] * wp[t][o];
    *out += acc;
}

/* SNN_DW_P pixels of conv_depthwise side by side, whose windows lie inside
 * the source (every column tap exists): every tap of their windows, live or
 * not (a tap without events adds only zeros, which leave an accumulator that
 * is never -0 unchanged, so the sums are dw_pixel's bit for bit), each weight
 * vector loaded once for the SNN_DW_P pixels. xp[t], wp[t]: tap t of the
 * first pixel (its dense row at the tap's column, its weights, both from the
 * block's first output); pixel p's row is step * p floats further. out[p]
 * receives pixel p's sums where live[p] (a pixel whose window holds no event
 * is left alone, as dw_row leaves it). */
#if SNN_HAVE_V8
#define SNN_DW_PIXELS(NAME, VT, L, NV)                                                          \
    SNN_KERNEL_ATTR static inline void NAME(const float *const *xp, const float *const *wp,    \
                                            int nt, int64_t step, int64_t o,                    \
                                            float *const *out, const int64_t *live)             \
    {                                                                                           \
        VT acc[SNN_DW_P][NV];                                                                   \
        int t, p, j;                                                                            \
        _Pragma("GCC unroll 4") for (p = 0; p < SNN_DW_P; p++)                                  \
            _Pragma("GCC unroll 4") for (j = 0; j < NV; j++) acc[p][j] = (VT){0};               \
        for (t = 0; t < nt; t++) {                                                              \
            const float *xv = xp[t] + o, *wv = wp[t] + o;                                       \
            VT w[NV];                                                                           \
            _Pragma("GCC unroll 4") for (j = 0; j < NV; j++)                                    \
                memcpy(&w[j], wv + L * j, sizeof w[j]);                                         \
            _Pragma("GCC unroll 4") for (p = 0; p < SNN_DW_P; p++)                              \
                _Pragma("GCC unroll 4") for (j = 0; j < NV; j++) {                              \
                    VT a;                                                                       \
                    memcpy(&a, xv + step * p + L * j, sizeof a);                                \
                    acc[p][j] += a * w[j];                                                      \
                }                                                                               \
        }                                                                                       \
        for (p = 0; p < SNN_DW_P; p++)                                                          \
            if (live[p]) SNN_ADD_VECTORS(VT, L, NV, out[p] + o, acc[p]);                        \
    }
SNN_DW_PIXELS(SNN_KERNEL(dw_pixels_pair), SNN_VT, SNN_VL, 2)
SNN_DW_PIXELS(SNN_KERNEL(dw_pixels_vec), SNN_VT, SNN_VL, 1)
SNN_DW_PIXELS(SNN_KERNEL(dw_pixels_v8), snn_v8, 8, 1)
#undef SNN_DW_PIXELS
#endif

/* The SNN_DW_P pixels of dw_pixels, outputs [o, ob) one at a time. */
SNN_KERNEL_ATTR static void SNN_KERNEL(dw_pixels_one)(const float *const *xp,
                                                      const float *const *wp, int nt,
                                                      int64_t step, int64_t o, int64_t ob,
                                                      float *const *out, const int64_t *live)
{
    int p, t;
    for (p = 0; p < SNN_DW_P; p++) {
        int64_t c;
        if (!live[p]) continue;
        for (c = o; c < ob; c++) {
            float acc = 0.0f;
            for (t = 0; t < nt; t++) acc += xp[t][step * p + c] * wp[t][c];
            out[p][c] += acc;
        }
    }
}

/* The first output column from ox on whose window holds every column tap (kw
 * of them: no padding), and the number of columns from it that do too, into
 * *n (0: none). */
static inline int64_t SNN_KERNEL(dw_inside)(const snn_proj *q, int64_t ox, int64_t OW, int64_t *n)
{
    int64_t e;
    for (; ox < OW && q->gcol_start[ox + 1] - q->gcol_start[ox] != q->kw; ox++) {}
    for (e = ox; e < OW && q->gcol_start[e + 1] - q->gcol_start[e] == q->kw; e++) {}
    *n = e - ox;
    return ox;
}

/* SNN_DW_P pixels from ox of output row g of conv_depthwise, all inside
 * (dw_inside), through dw_pixels: their taps from the window of ox (kernel row
 * by kernel row, columns in order, as dw_taps lists them), each pixel's events
 * counted as dw_taps counts them. Returns the pixels' events. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(dw_group)(const snn_proj *q, const snn_events *ev,
                                                    const snn_gather_row *g,
                                                    const float *const *xr, const float *w,
                                                    int64_t ox, int64_t ob, int64_t SW,
                                                    int64_t Co, float *out0)
{
    const float *xp[SNN_DW_TAPS], *wp[SNN_DW_TAPS];
    float *out[SNN_DW_P];
    int64_t live[SNN_DW_P], n = 0, o = 0;
    const int64_t sx0 = q->gcol_taps[q->gcol_start[ox]].src, step = q->sw * ob;
    const snn_tap *ry;
    int nt = 0, p, k;
    for (ry = g->row; ry < g->row_end; ry++)
        for (k = 0; k < q->kw; k++) {
            xp[nt] = xr[ry - g->row] + (sx0 + k) * ob;
            wp[nt++] = w + ry->k * q->row_stride + (int64_t)k * Co;
        }
    for (p = 0; p < SNN_DW_P; p++) {
        const int64_t sx = sx0 + q->sw * p;
        live[p] = 0;
        for (ry = g->row; ry < g->row_end; ry++) {
            const int64_t pos = (int64_t)ry->src * SW + sx;
            live[p] += ev->end[pos + q->kw - 1] - ev->first[pos];
        }
        n += live[p];
        out[p] = out0 + p * Co;
    }
    if (n == 0) return 0;
#if SNN_HAVE_V8
    for (; o + SNN_VL * 2 <= ob; o += SNN_VL * 2)
        SNN_KERNEL(dw_pixels_pair)(xp, wp, nt, step, o, out, live);
    for (; o + SNN_VL <= ob; o += SNN_VL) SNN_KERNEL(dw_pixels_vec)(xp, wp, nt, step, o, out, live);
    if (SNN_VL > 8 && o + 8 <= ob) {
        SNN_KERNEL(dw_pixels_v8)(xp, wp, nt, step, o, out, live);
        o += 8;
    }
#endif
    if (o < ob) SNN_KERNEL(dw_pixels_one)(xp, wp, nt, step, o, ob, out, live);
    return n;
}

/* The live taps of one pixel of conv_depthwise (window g, the dense rows of its
 * row taps xr): the taps at positions with events, kernel row by kernel row,
 * into xp (the dense row at the tap's column) and wp (its weights from w, the
 * block's first output), their count into *nt; returns the window's events. A
 * tap at a position without events would add only zeros. Every tap is written
 * and the count grows by whether it is live: no branch on the events. */
static inline int64_t SNN_KERNEL(dw_taps)(const snn_proj *q, const snn_events *ev,
                                          const snn_gather_row *g, const float *const *xr,
                                          const float *w, int64_t ob, int64_t SW, int64_t Co,
                                          const float **xp, const float **wp, int *nt)
{
    const snn_tap *ry, *cx;
    int64_t n = 0;
    int t = 0;
    for (ry = g->row; ry < g->row_end; ry++)
        for (cx = g->col; cx < g->col_end; cx++) {
            const int64_t pos = (int64_t)ry->src * SW + cx->src;
            const int32_t k = ev->end[pos] - ev->first[pos];
            xp[t] = xr[ry - g->row] + (int64_t)cx->src * ob;
            wp[t] = w + ry->k * q->row_stride + (int64_t)cx->k * Co;
            n += k;
            t += k != 0;
        }
    *nt = t;
    return n;
}

/* Output row oy of conv_depthwise, the ring's block of outputs: each pixel
 * whose window holds events summed over its live taps; returns those events. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(dw_row)(const snn_proj *q, const snn_events *ev,
                                                  snn_dw_ring *ring, int64_t oy, int64_t SW,
                                                  int64_t Ci, int64_t Co, int64_t OW, float *dst)
{
    const float *xr[SNN_DW_ROWS], *xp[SNN_DW_TAPS], *wp[SNN_DW_TAPS];
    const float *w = q->w + ring->o0;
    const int64_t ob = ring->ob;
    snn_gather_row g;
    int64_t r, rows, ox, taps = 0, inside, n_inside;
    g.row = q->grow_taps + q->grow_start[oy];
    g.row_end = q->grow_taps + q->grow_start[oy + 1];
    rows = g.row_end - g.row;
    if (SNN_KERNEL(row_events)(ev, g.row, g.row_end, SW) == 0) return 0;
    for (r = 0; r < rows; r++)
        xr[r] = SNN_KERNEL(dw_slot)(ring, ev, g.row, rows, g.row[r].src, Ci, Co / Ci);
    inside = SNN_KERNEL(dw_inside)(q, 0, OW, &n_inside);
    for (ox = 0; ox < OW; ox++) {
        float *out = dst + (oy * OW + ox) * Co + ring->o0;
        int64_t o = 0, n;
        int nt;
        if (ox >= inside && ox + SNN_DW_P <= inside + n_inside) {
            taps += SNN_KERNEL(dw_group)(q, ev, &g, xr, w, ox, ob, SW, Co, out);
            ox += SNN_DW_P - 1;
            continue;
        }
        g.col = q->gcol_taps + q->gcol_start[ox];
        g.col_end = q->gcol_taps + q->gcol_start[ox + 1];
        if ((n = SNN_KERNEL(dw_taps)(q, ev, &g, xr, w, ob, SW, Co, xp, wp, &nt)) == 0) continue;
        taps += n;
#if SNN_HAVE_V8
        /* whole blocks, then at most one pass each of a half and a quarter
         * block: the vectors of a pass are independent chains of additions */
        for (; o + SNN_VL * SNN_NV <= ob; o += SNN_VL * SNN_NV)
            SNN_KERNEL(dw_pixel)(xp, wp, nt, o, out + o);
        if (o + SNN_VL * (SNN_NV / 2) <= ob) {
            SNN_KERNEL(dw_pixel_half)(xp, wp, nt, o, out + o);
            o += SNN_VL * (SNN_NV / 2);
        }
#if SNN_NV >= 8
        if (o + SNN_VL * (SNN_NV / 4) <= ob) {
            SNN_KERNEL(dw_pixel_quarter)(xp, wp, nt, o, out + o);
            o += SNN_VL * (SNN_NV / 4);
        }
#endif
        for (; o + SNN_VL <= ob; o += SNN_VL) SNN_KERNEL(dw_pixel_vec)(xp, wp, nt, o, out + o);
        /* 8 outputs in a vector, not one at a time, where a zmm is too wide */
        if (SNN_VL > 8 && o + 8 <= ob) {
            SNN_KERNEL(dw_pixel_v8)(xp, wp, nt, o, out + o);
            o += 8;
        }
#endif
        for (; o < ob; o++) SNN_KERNEL(dw_pixel_one)(xp, wp, nt, o, out + o);
    }
    return taps;
}

/* Output rows [OH * part / parts, OH * (part + 1) / parts) of a depthwise conv2d
 * (depthwise_fits), block of outputs (whole groups) by block, so that a block's
 * dense source rows fit SNN_DW_BUF; returns its synaptic operations: the
 * window events of each pixel times Cog. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(conv_depthwise)(const snn_net *net, const snn_proj *q,
                                                          const snn_events *ev, float *dst,
                                                          int32_t part, int32_t parts)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t Ci = src->C, SW = src->W, Co = tgt->C, OW = tgt->W, OH = tgt->H;
    const int64_t Cog = Co / Ci, per_group = q->kh * SW * Cog;
    const int64_t ob = (SNN_DW_BUF / per_group < Ci ? SNN_DW_BUF / per_group : Ci) * Cog;
    float x[SNN_DW_BUF];
    snn_dw_ring ring;
    int64_t oy, k, taps = 0;
    ring.x = x;
    ring.slots = q->kh;
    ring.SW = SW;
    for (ring.o0 = 0; ring.o0 < Co; ring.o0 += ob) {
        ring.ob = ring.o0 + ob < Co ? ob : Co - ring.o0;
        for (k = 0; k < ring.slots; k++) ring.held[k] = -1;
        memset(x, 0, (size_t)(ring.slots * SW * ring.ob) * sizeof *x);
        for (oy = OH * part / parts; oy < OH * (part + 1) / parts; oy++) {
            const int64_t n = SNN_KERNEL(dw_row)(q, ev, &ring, oy, SW, Ci, Co, OW, dst);
            if (ring.o0 == 0) taps += n;        /* a pixel's events, once */
        }
    }
    return taps * Cog;
}

/* Output rows [oy, oy1) of a 1x1 conv (groups 1): the channels in blocks
 * through the pointwise gathers (SNN_CHANNEL_BLOCKS), the channels left one at
 * a time; returns the synaptic operations / Co. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(conv_pointwise)(const snn_proj *q,
                                                          const snn_events *ev, int kind,
                                                          int64_t oy, int64_t oy1, int64_t SW,
                                                          int64_t Ci, int64_t Co, int64_t OW,
                                                          float *dst)
{
    int64_t taps = 0;
    for (; oy < oy1; oy++) {
        snn_gather_row g;
        float *out = dst + oy * OW * Co;
        int64_t sy, ox, co = 0;
        g.row = q->grow_taps + q->grow_start[oy];
        g.row_end = q->grow_taps + q->grow_start[oy + 1];
        if (g.row == g.row_end) continue; /* no window (1x1: never) */
        sy = g.row->src;
        if (SNN_KERNEL(row_events)(ev, g.row, g.row_end, SW) == 0) continue;
        for (ox = 0; ox < OW; ox++)     /* window_events, for a window of one position */
            if (q->gcol_start[ox + 1] > q->gcol_start[ox]) {
                const int64_t pos = sy * SW + q->gcol_taps[q->gcol_start[ox]].src;
                taps += ev->end[pos] - ev->first[pos];
            }
#define SNN_POINTWISE_ARGS(c) q, ev, sy, OW, SW, Ci, Co, c, out
        SNN_CHANNEL_BLOCKS(kind, pointwise, co, Co, SNN_POINTWISE_ARGS);
#undef SNN_POINTWISE_ARGS
        if (co == Co) continue;
        for (ox = 0; ox < OW; ox++) {
            g.col = q->gcol_taps + q->gcol_start[ox];
            g.col_end = q->gcol_taps + q->gcol_start[ox + 1];
            if (SNN_KERNEL(window_events)(ev, &g, SW) == 0) continue;
            SNN_KERNEL(gather_tail)(q, ev, &g, SW, Ci, Co, co, out + ox * Co);
        }
    }
    return taps;
}

/* Output rows [OH * part / parts, OH * (part + 1) / parts) of a conv2d: the rows
 * whose threshold pass the same team member runs (run.c, emit), so that no
 * synchronisation is needed in between. An event's index is pos * Ci + ci, so
 * the weight row of (tap, event) is at wt + index * tap_stride, wt folding the
 * tap's offset and -pos * Ci * tap_stride. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(conv)(const snn_net *net, const snn_proj *q,
                                                const snn_events *ev, float *dst, int32_t part,
                                                int32_t parts)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t Ci = src->C, SW = src->W, Co = tgt->C, OW = tgt->W, OH = tgt->H;
    const int64_t oy1 = OH * (part + 1) / parts;
    const int kind = snn_event_kind(src);
    int64_t oy = OH * part / parts, taps = 0;
    if (q->groups > 1 && SNN_KERNEL(depthwise_fits)(q, Ci, SW, Co))
        return SNN_KERNEL(conv_depthwise)(net, q, ev, dst, part, parts);
    if (q->groups > 1) return SNN_KERNEL(conv_groups)(net, q, ev, dst, part, parts);
    if (q->kh == 1 && q->kw == 1)
        return Co * SNN_KERNEL(conv_pointwise)(q, ev, kind, oy, oy1, SW, Ci, Co, OW, dst);
    while (oy < oy1) {
#if SNN_HAVE_V8 && SNN_QUAD_NV
        /* groups of four rows from the part's first, padded edges included;
         * the one to three rows left go row by row (groups of two or three,
         * which compute some accumulators of rows past them, measured slower) */
        if (oy + 4 <= oy1 && SNN_KERNEL(quad_fits)(q, OW, Co)) {
            taps += SNN_KERNEL(conv_quad)(q, ev, kind, oy, SW, src->H, Ci, Co, OW, dst);
            oy += 4;
            continue;
        }
#endif
        taps += SNN_KERNEL(conv_row)(q, ev, kind, oy, 0, SW, Ci, Co, OW, dst);
        oy++;
    }
    return taps * Co;
}

/* avgpool2d as a gather, output rows split as for conv: each output pixel
 * adds the events of its window, channel by channel (q->w holds gain / area per
 * channel). Contributions reach an output in ascending source order, as they
 * would by scattering. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(pool)(const snn_net *net, const snn_proj *q,
                                                const snn_events *ev, float *dst, int32_t part,
                                                int32_t parts)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t C = src->C, SW = src->W, OW = tgt->W, OH = tgt->H;
    int64_t oy, ox, ops = 0;
    for (oy = OH * part / parts; oy < OH * (part + 1) / parts; oy++) {
        const snn_tap *const row = q->grow_taps + q->grow_start[oy];
        const snn_tap *const row_end = q->grow_taps + q->grow_start[oy + 1];
        const snn_tap *ry, *cx;
        if (SNN_KERNEL(row_events)(ev, row, row_end, SW) == 0) continue;
        for (ox = 0; ox < OW; ox++) {
            const snn_tap *const col_end = q->gcol_taps + q->gcol_start[ox + 1];
            float *out = dst + (oy * OW + ox) * C;
            for (ry = row; ry < row_end; ry++)
                for (cx = q->gcol_taps + q->gcol_start[ox]; cx < col_end; cx++) {
                    const int64_t pos = (int64_t)ry->src * SW + cx->src;
                    const int32_t e0 = ev->first[pos], e1 = ev->end[pos];
                    int32_t e;
                    for (e = e0; e < e1; e++) {
                        const int64_t c = ev->idx[e] - pos * C;
                        out[c] += ev->val[e] * q->w[c];
                    }
                    ops += e1 - e0;
                }
        }
    }
    return ops;
}

/* ---- dense as a gather ----------------------------------------------------
 *
 * Outputs [o, o + L * NV) of a dense projection: their currents are loaded into
 * vector registers once, every event of the step adds value x its weight row's
 * slice in queue order, and they are stored once. Per output that is the same
 * float operations in the same order as adding each event's row into memory
 * (x * w with x = +-1 is exactly +-w), so it changes no bit; it saves a load and
 * a store of the currents per event, which bound the scatter. */
#if SNN_HAVE_V8
#define SNN_DENSE_BLOCK(NAME, VT, L, NV)                                                        \
    SNN_KERNEL_ATTR static inline void NAME(const snn_events *ev, const float *w, int64_t out,  \
                                            float *restrict dst)                                \
    {                                                                                           \
        VT acc[NV];                                                                             \
        int64_t e;                                                                              \
        int32_t k;                                                                              \
        int j;                                                                                  \
        _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) memcpy(&acc[j], dst + L * j, sizeof acc[j]); \
        for (k = 0; k < ev->n_seg; k++) {                                                       \
            const int64_t e_end = ev->seg_start[k] + ev->seg_len[k];                            \
            for (e = ev->seg_start[k]; e < e_end; e++) {                                        \
                const float *row = w + (int64_t)ev->idx[e] * out;                               \
                const VT v = SNN_SPLAT(VT, ev->val[e]);                                         \
                _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) {                              \
                    VT wj;                                                                      \
                    memcpy(&wj, row + L * j, sizeof wj);                                        \
                    acc[j] += v * wj;                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) memcpy(dst + L * j, &acc[j], sizeof acc[j]); \
    }
#if SNN_DENSE_NV != 8
#error "dense: the passes below halve 8 vectors down to one"
#endif
SNN_DENSE_BLOCK(SNN_KERNEL(dense_block), SNN_VT, SNN_VL, SNN_DENSE_NV)
SNN_DENSE_BLOCK(SNN_KERNEL(dense_half), SNN_VT, SNN_VL, SNN_DENSE_NV / 2)
SNN_DENSE_BLOCK(SNN_KERNEL(dense_quarter), SNN_VT, SNN_VL, SNN_DENSE_NV / 4)
SNN_DENSE_BLOCK(SNN_KERNEL(dense_vec), SNN_VT, SNN_VL, 1)
SNN_DENSE_BLOCK(SNN_KERNEL(dense_v8), snn_v8, 8, 1)
#undef SNN_DENSE_BLOCK
#endif

/* Output o of a dense projection, alone: the tail of the blocks. */
SNN_KERNEL_ATTR static void SNN_KERNEL(dense_one)(const snn_events *ev, const float *w,
                                                  int64_t out, float *dst)
{
    float acc = *dst;
    int64_t e;
    int32_t k;
    for (k = 0; k < ev->n_seg; k++)
        for (e = ev->seg_start[k]; e < ev->seg_start[k] + ev->seg_len[k]; e++)
            acc += ev->val[e] * w[(int64_t)ev->idx[e] * out];
    *dst = acc;
}

/* dense: output neurons [o0, o1) of this part (whole blocks of 8 but the last). */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(dense)(const snn_net *net, const snn_proj *q,
                                                 const snn_events *ev, float *dst, int32_t part,
                                                 int32_t parts)
{
    const int64_t out = net->pops[q->target].n, blocks = (out + 7) / 8;
    const int64_t o0 = 8 * (blocks * part / parts);
    const int64_t o1 = part + 1 == parts ? out : 8 * (blocks * (part + 1) / parts);
    int64_t o = o0;
    if (o1 <= o0 || ev->n == 0) return 0;
#if SNN_HAVE_V8
    /* whole blocks, then at most one pass each of 4, 2 and 1 vectors and of 8
     * outputs, so that no set passes over the events more often than a
     * narrower one would (with AVX-512, 32 outputs are one pass of 2 zmm, not
     * four of 8) */
    for (; o + SNN_VL * SNN_DENSE_NV <= o1; o += SNN_VL * SNN_DENSE_NV)
        SNN_KERNEL(dense_block)(ev, q->w + o, out, dst + o);
    if (o + SNN_VL * (SNN_DENSE_NV / 2) <= o1) {
        SNN_KERNEL(dense_half)(ev, q->w + o, out, dst + o);
        o += SNN_VL * (SNN_DENSE_NV / 2);
    }
    if (o + SNN_VL * (SNN_DENSE_NV / 4) <= o1) {
        SNN_KERNEL(dense_quarter)(ev, q->w + o, out, dst + o);
        o += SNN_VL * (SNN_DENSE_NV / 4);
    }
    if (o + SNN_VL <= o1) {
        SNN_KERNEL(dense_vec)(ev, q->w + o, out, dst + o);
        o += SNN_VL;
    }
    if (SNN_VL > 8 && o + 8 <= o1) {
        SNN_KERNEL(dense_v8)(ev, q->w + o, out, dst + o);
        o += 8;
    }
#endif
    for (; o < o1; o++) SNN_KERNEL(dense_one)(ev, q->w + o, out, dst + o);
    return ev->n * (o1 - o0);
}

/* n events (indices idx, values val) of an identity projection, each times
 * its channel's gain w[i mod C] into the target neuron of the same index i;
 * the channel found by multiply and shift (snn_divider). Not inlined, so that
 * the loop's few values get the registers. */
SNN_KERNEL_ATTR __attribute__((noinline)) static void SNN_KERNEL(identity_events)(
    const int32_t *idx, const float *val, int64_t n, const float *w, int64_t C,
    snn_divider by_c, float *restrict dst)
{
    int64_t e;
    for (e = 0; e < n; e++) {
        const int64_t i = idx[e];
        dst[i] += val[e] * w[i - snn__divide(by_c, i) * C];
    }
}

/* identity: the part-th of parts share of the events (counted across the
 * segments). */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(identity)(const snn_net *net, const snn_proj *q,
                                                    const snn_events *ev, float *dst,
                                                    int32_t part, int32_t parts)
{
    const int64_t C = net->pops[q->source].C;
    const int64_t lo = ev->n * part / parts, hi = ev->n * (part + 1) / parts;
    int64_t seen = 0;
    int32_t k;
    for (k = 0; k < ev->n_seg; k++) {
        /* this segment's events that fall in [lo, hi) of the whole queue */
        const int64_t a = lo > seen ? lo - seen : 0;
        const int64_t b = hi - seen < ev->seg_len[k] ? hi - seen : ev->seg_len[k];
        const int64_t e0 = ev->seg_start[k] + a;
        if (b > a)
            SNN_KERNEL(identity_events)(ev->idx + e0, ev->val + e0, b - a, q->w, C, q->by_c, dst);
        seen += ev->seg_len[k];
    }
    return hi - lo;
}

/* Part `part` of `parts` of projection q's work for events ev, into dst; the
 * parts write disjoint neurons of dst, so they may run on separate threads.
 * Returns the synaptic operations of this part. */
/* ---- maxpool2d at one output pixel (snn_maxpool_fn) -------------------------
 *
 * Per channel: m = the largest count over the window's taps; the change m - best
 * (-1, 0 or 1: no count moves by more than one a step) times the channel's gain
 * is added to dst, and best = m. Integer maxima and an exact product, so every
 * set gives the same bits; an unchanged channel adds +0.0 (gains are positive),
 * which leaves its current as it is. Channels go in blocks of 4 vectors, then
 * single vectors, kept in registers over the taps, then one at a time. */
#if SNN_HAVE_V8
/* int32 vectors as wide as SNN_VT, and float and int32 vectors half as wide */
typedef int32_t SNN_KERNEL(ivec) __attribute__((vector_size(sizeof(SNN_VT))));
typedef int32_t SNN_KERNEL(ihalf) __attribute__((vector_size(sizeof(SNN_VT) / 2)));
typedef float SNN_KERNEL(fhalf) __attribute__((vector_size(sizeof(SNN_VT) / 2)));

/* max(a, b) lane by lane, as a select on the comparison's mask */
#define SNN_IMAX(a, b) ((b) ^ (((a) ^ (b)) & ((a) > (b))))

/* Channels [b, b + NV * L) in NV vectors of L lanes (IVT, FVT). */
#define SNN_MAXPOOL_BLOCK(NAME, IVT, FVT, L, NV)                                                \
    SNN_KERNEL_ATTR static void NAME(const snn_tap *r, const snn_tap *r_end, const snn_tap *c,  \
                                     const snn_tap *c_end, const int32_t *fired, int64_t SW,    \
                                     int64_t C, int64_t b, int32_t *restrict best,              \
                                     const float *restrict gain, float *restrict dst)           \
    {                                                                                           \
        IVT m[NV], old, d;                                                                      \
        FVT g, v;                                                                               \
        const snn_tap *ry, *cx;                                                                 \
        int j;                                                                                  \
        _Pragma("GCC unroll 4") for (j = 0; j < NV; j++) m[j] = (IVT){0} + INT32_MIN;          \
        for (ry = r; ry < r_end; ry++)                                                          \
            for (cx = c; cx < c_end; cx++) {                                                    \
                const int32_t *f = fired + ((int64_t)ry->src * SW + cx->src) * C + b;           \
                _Pragma("GCC unroll 4") for (j = 0; j < NV; j++) {                              \
                    IVT x;                                                                      \
                    memcpy(&x, f + j * (L), sizeof x);                                          \
                    m[j] = SNN_IMAX(x, m[j]);                                                   \
                }                                                                               \
            }                                                                                   \
        _Pragma("GCC unroll 4") for (j = 0; j < NV; j++) {                                      \
            memcpy(&old, best + b + j * (L), sizeof old);                                       \
            memcpy(&best[b + j * (L)], &m[j], sizeof m[j]);                                     \
            d = m[j] - old;                                                                     \
            memcpy(&g, gain + b + j * (L), sizeof g);                                           \
            memcpy(&v, dst + b + j * (L), sizeof v);                                            \
            v += __builtin_convertvector(d, FVT) * g;                                           \
            memcpy(&dst[b + j * (L)], &v, sizeof v);                                            \
        }                                                                                       \
    }
SNN_MAXPOOL_BLOCK(SNN_KERNEL(maxpool_block4), SNN_KERNEL(ivec), SNN_VT, SNN_VL, 4)
SNN_MAXPOOL_BLOCK(SNN_KERNEL(maxpool_block2), SNN_KERNEL(ivec), SNN_VT, SNN_VL, 2)
SNN_MAXPOOL_BLOCK(SNN_KERNEL(maxpool_block1), SNN_KERNEL(ivec), SNN_VT, SNN_VL, 1)
SNN_MAXPOOL_BLOCK(SNN_KERNEL(maxpool_half), SNN_KERNEL(ihalf), SNN_KERNEL(fhalf), SNN_VL / 2, 1)
#undef SNN_MAXPOOL_BLOCK
#undef SNN_IMAX
#endif

SNN_KERNEL_ATTR static void SNN_KERNEL(maxpool_pixel)(const snn_tap *r, const snn_tap *r_end,
                                                      const snn_tap *c, const snn_tap *c_end,
                                                      const int32_t *fired, int64_t SW, int64_t C,
                                                      int32_t *restrict best,
                                                      const float *restrict gain,
                                                      float *restrict dst)
{
    int64_t b = 0;
#if SNN_HAVE_V8
    for (; b + 4 * SNN_VL <= C; b += 4 * SNN_VL)
        SNN_KERNEL(maxpool_block4)(r, r_end, c, c_end, fired, SW, C, b, best, gain, dst);
    if (b + 2 * SNN_VL <= C) {
        SNN_KERNEL(maxpool_block2)(r, r_end, c, c_end, fired, SW, C, b, best, gain, dst);
        b += 2 * SNN_VL;
    }
    if (b + SNN_VL <= C) {
        SNN_KERNEL(maxpool_block1)(r, r_end, c, c_end, fired, SW, C, b, best, gain, dst);
        b += SNN_VL;
    }
    if (SNN_VL >= 8 && b + SNN_VL / 2 <= C) {
        SNN_KERNEL(maxpool_half)(r, r_end, c, c_end, fired, SW, C, b, best, gain, dst);
        b += SNN_VL / 2;
    }
#endif
    for (; b < C; b++) {
        const snn_tap *ry, *cx;
        int32_t m = INT32_MIN, d;
        for (ry = r; ry < r_end; ry++)
            for (cx = c; cx < c_end; cx++) {
                const int32_t x = fired[((int64_t)ry->src * SW + cx->src) * C + b];
                m = x > m ? x : m;
            }
        d = m - best[b];
        best[b] = m;
        dst[b] += (float)d * gain[b];
    }
}

SNN_KERNEL_ATTR static int64_t SNN_KERNEL(scatter)(const snn_net *net, const snn_proj *q,
                                                   const snn_events *ev, float *dst,
                                                   int32_t part, int32_t parts)
{
    switch (q->op) {
    case SNN_OP_CONV2D: return SNN_KERNEL(conv)(net, q, ev, dst, part, parts);
    case SNN_OP_AVGPOOL2D: return SNN_KERNEL(pool)(net, q, ev, dst, part, parts);
    case SNN_OP_UPSAMPLE2D: return snn__upsample(net, q, ev, dst, part, parts);  /* a copy */
    case SNN_OP_DENSE: return SNN_KERNEL(dense)(net, q, ev, dst, part, parts);
    default: return SNN_KERNEL(identity)(net, q, ev, dst, part, parts);
    }
}

/* the macros of this inclusion (see the top) */
#undef SNN_KERNEL
#undef SNN_KERNEL_ATTR
#undef SNN_VT
#undef SNN_VL
#undef SNN_NV
#undef SNN_DENSE_NV
#undef SNN_QUAD_NV
#undef SNN_QUAD_MIN_NV
#undef SNN_QUAD_MAX_CO
#undef SNN_CHANNEL_BLOCKS
#undef SNN_QUARTER_BLOCK
