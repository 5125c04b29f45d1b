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
#define SNN_GATHER_ROWS(NAME, VT, L, NV)                                                        \
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
                        acc[j] += v * wj;                                                       \
                    }                                                                           \
                }                                                                               \
                _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) part[ox - ox0][j] = acc[j];    \
            }                                                                                   \
        for (ox = ox0; ox < ox1; ox++) {                                                        \
            float *o = out + ox * Co + co;                                                      \
            if (n[ox - ox0] == 0) continue;                                                     \
            _Pragma("GCC unroll 8") for (j = 0; j < NV; j++) {                                  \
                VT d;                                                                           \
                memcpy(&d, o + L * j, sizeof d);                                                \
                d += part[ox - ox0][j];                                                         \
                memcpy(o + L * j, &d, sizeof d);                                                \
            }                                                                                   \
        }                                                                                       \
    }
SNN_GATHER_ROWS(SNN_KERNEL(gather_rows), SNN_VT, SNN_VL, SNN_NV)
SNN_GATHER_ROWS(SNN_KERNEL(gather_rows_half), SNN_VT, SNN_VL, SNN_NV / 2)
SNN_GATHER_ROWS(SNN_KERNEL(gather_rows_vec), SNN_VT, SNN_VL, 1)
SNN_GATHER_ROWS(SNN_KERNEL(gather_rows_v8), snn_v8, 8, 1)
#undef SNN_GATHER_ROWS
#endif

#if SNN_HAVE_V8 && SNN_QUAD_NV
/* Four output rows oy .. oy + 3 of a conv with 3 kernel rows and vertical
 * stride 1, all four with their kernel rows inside the source: source row
 * s0 + j (s0 = oy - ph) is kernel row j - r of output row oy + r, so one pass
 * over the events of a pixel's window columns in source row s0 + j serves up
 * to three of the four pixels (each event loaded once for up to three weight
 * rows, adjacent in memory: [kw][Ci][kh][Co]), and each pixel's accumulators
 * stay in registers over its three kernel rows: half the loops (and loop
 * exits) of gather_rows for the same work. Per pixel the additions are those
 * of gather_rows, in the same order. n[r][ox]: the events in each pixel's
 * window. */
#define SNN_QUAD_ADD(VT, L, R, ACC)                                                             \
    do {                                                                                        \
        VT w_;                                                                                  \
        memcpy(&w_, w0_ - (R) * q->row_stride + off_ + L * k, sizeof w_);                       \
        ACC[k] += v_ * w_;                                                                      \
    } while (0)
#define SNN_QUAD_RANGE(VT, L, NV, J, D0, D1, D2, D3)                                            \
    do {                                                                                        \
        const int64_t pos_ = (s0 + (J)) * SW + col->src;                                        \
        const int32_t e1_ = ev->end[pos_ + cols - 1];                                           \
        const float *w0_ = q->w + ((J) * q->row_stride +                                        \
                                   ((int64_t)col->k - pos_) * Ci * q->tap_stride + co);         \
        int32_t e_;                                                                             \
        for (e_ = ev->first[pos_]; e_ < e1_; e_++) {                                            \
            const int64_t off_ = (int64_t)ev->idx[e_] * q->tap_stride;                          \
            const VT v_ = SNN_SPLAT(VT, ev->val[e_]);                                           \
            _Pragma("GCC unroll 8") for (k = 0; k < NV; k++) {                                  \
                if (D0) SNN_QUAD_ADD(VT, L, 0, a0);                                             \
                if (D1) SNN_QUAD_ADD(VT, L, 1, a1);                                             \
                if (D2) SNN_QUAD_ADD(VT, L, 2, a2);                                             \
                if (D3) SNN_QUAD_ADD(VT, L, 3, a3);                                             \
            }                                                                                   \
        }                                                                                       \
    } while (0)
#define SNN_QUAD_STORE(VT, L, NV, R, ACC)                                                       \
    if (n[R][ox]) {                                                                             \
        float *o_ = out + ((R) * OW + ox) * Co + co;                                            \
        _Pragma("GCC unroll 8") for (k = 0; k < NV; k++) {                                      \
            VT d_;                                                                              \
            memcpy(&d_, o_ + L * k, sizeof d_);                                                 \
            d_ += ACC[k];                                                                       \
            memcpy(o_ + L * k, &d_, sizeof d_);                                                 \
        }                                                                                       \
    }
#define SNN_GATHER_QUAD(NAME, VT, L, NV)                                                        \
    SNN_KERNEL_ATTR static void NAME(const snn_proj *q, const snn_events *ev, int64_t s0,       \
                                     int64_t (*n)[SNN_QUAD_MAX_W], int64_t OW, int64_t SW,      \
                                     int64_t Ci, int64_t Co, int64_t co, float *restrict out)   \
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
            SNN_QUAD_RANGE(VT, L, NV, 0, 1, 0, 0, 0);                                           \
            SNN_QUAD_RANGE(VT, L, NV, 1, 1, 1, 0, 0);                                           \
            SNN_QUAD_RANGE(VT, L, NV, 2, 1, 1, 1, 0);                                           \
            SNN_QUAD_RANGE(VT, L, NV, 3, 0, 1, 1, 1);                                           \
            SNN_QUAD_RANGE(VT, L, NV, 4, 0, 0, 1, 1);                                           \
            SNN_QUAD_RANGE(VT, L, NV, 5, 0, 0, 0, 1);                                           \
            SNN_QUAD_STORE(VT, L, NV, 0, a0)                                                    \
            SNN_QUAD_STORE(VT, L, NV, 1, a1)                                                    \
            SNN_QUAD_STORE(VT, L, NV, 2, a2)                                                    \
            SNN_QUAD_STORE(VT, L, NV, 3, a3)                                                    \
        }                                                                                       \
    }
SNN_GATHER_QUAD(SNN_KERNEL(gather_quad), SNN_VT, SNN_VL, SNN_QUAD_NV)
#undef SNN_GATHER_QUAD
#undef SNN_QUAD_RANGE
#undef SNN_QUAD_ADD
#undef SNN_QUAD_STORE
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

/* Output row oy of a conv2d, channels [co0, Co), kernel row by kernel row in
 * chunks of pixels (gather_rows); returns its synaptic operations / Co. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(conv_row)(const snn_proj *q, const snn_events *ev,
                                                    int64_t oy, int64_t co0, int64_t SW,
                                                    int64_t Ci, int64_t Co, int64_t OW,
                                                    float *dst)
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
#if SNN_HAVE_V8
        for (; co + SNN_VL * SNN_NV <= Co; co += SNN_VL * SNN_NV)
            SNN_KERNEL(gather_rows)(q, ev, g.row, g.row_end, n, ox0, ox1, SW, Ci, Co, co,
                                    dst + oy * OW * Co);
        /* half a block (32 channels with AVX-512 or AVX2): one pass over the
         * events where single vectors would take two or four */
        if (co + SNN_VL * (SNN_NV / 2) <= Co) {
            SNN_KERNEL(gather_rows_half)(q, ev, g.row, g.row_end, n, ox0, ox1, SW, Ci, Co, co,
                                         dst + oy * OW * Co);
            co += SNN_VL * (SNN_NV / 2);
        }
        for (; co + SNN_VL <= Co; co += SNN_VL)
            SNN_KERNEL(gather_rows_vec)(q, ev, g.row, g.row_end, n, ox0, ox1, SW, Ci, Co, co,
                                        dst + oy * OW * Co);
        if (SNN_VL > 8 && co + 8 <= Co) {
            SNN_KERNEL(gather_rows_v8)(q, ev, g.row, g.row_end, n, ox0, ox1, SW, Ci, Co, co,
                                       dst + oy * OW * Co);
            co += 8;
        }
#endif
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
/* Whether output rows oy .. oy + 3 of q can go through gather_quad: 3 kernel
 * rows, vertical stride 1, each row with all of them inside the source, rows
 * no wider than SNN_QUAD_MAX_W, and a whole block of channels. */
static inline int SNN_KERNEL(quad_rows)(const snn_proj *q, int64_t oy, int64_t OW, int64_t Co)
{
    int64_t r;
    if (q->kh != 3 || q->sh != 1 || OW > SNN_QUAD_MAX_W || Co < SNN_VL * SNN_QUAD_NV) return 0;
    for (r = 0; r < 4; r++)
        if (q->grow_start[oy + r + 1] - q->grow_start[oy + r] != 3) return 0;
    return 1;
}

/* Rows oy .. oy + 3 of a conv through gather_quad (the whole blocks of
 * channels) and conv_row (the rest); returns their synaptic operations / Co. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(conv_quad)(const snn_proj *q, const snn_events *ev,
                                                     int64_t oy, int64_t SW, int64_t Ci,
                                                     int64_t Co, int64_t OW, float *dst)
{
    const int64_t blocks = Co / (SNN_VL * SNN_QUAD_NV) * (SNN_VL * SNN_QUAD_NV);
    int64_t n[4][SNN_QUAD_MAX_W], taps = 0, co;
    int r;
    for (r = 0; r < 4; r++) {
        snn_gather_row g;
        g.row = q->grow_taps + q->grow_start[oy + r];
        g.row_end = q->grow_taps + q->grow_start[oy + r + 1];
        taps += SNN_KERNEL(pixels_events)(q, ev, &g, 0, OW, SW, n[r]);
    }
    if (taps == 0) return 0;
    for (co = 0; co < blocks; co += SNN_VL * SNN_QUAD_NV)
        SNN_KERNEL(gather_quad)(q, ev, oy - q->ph, n, OW, SW, Ci, Co, co, dst + oy * OW * Co);
    if (blocks < Co)
        for (r = 0; r < 4; r++) SNN_KERNEL(conv_row)(q, ev, oy + r, blocks, SW, Ci, Co, OW, dst);
    return taps;
}
#endif

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
    int64_t oy = OH * part / parts, taps = 0;
    while (oy < oy1) {
#if SNN_HAVE_V8 && SNN_QUAD_NV
        if (oy + 4 <= oy1 && SNN_KERNEL(quad_rows)(q, oy, OW, Co)) {
            taps += SNN_KERNEL(conv_quad)(q, ev, oy, SW, Ci, Co, OW, dst);
            oy += 4;
            continue;
        }
#endif
        taps += SNN_KERNEL(conv_row)(q, ev, oy, 0, SW, Ci, Co, OW, dst);
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
SNN_DENSE_BLOCK(SNN_KERNEL(dense_block), SNN_VT, SNN_VL, SNN_DENSE_NV)
SNN_DENSE_BLOCK(SNN_KERNEL(dense_half), SNN_VT, SNN_VL, SNN_DENSE_NV / 2)
SNN_DENSE_BLOCK(SNN_KERNEL(dense_vec), snn_v8, 8, 1)
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
    for (; o + SNN_VL * SNN_DENSE_NV <= o1; o += SNN_VL * SNN_DENSE_NV)
        SNN_KERNEL(dense_block)(ev, q->w + o, out, dst + o);
    for (; o + SNN_VL * (SNN_DENSE_NV / 2) <= o1; o += SNN_VL * (SNN_DENSE_NV / 2))
        SNN_KERNEL(dense_half)(ev, q->w + o, out, dst + o);
    for (; o + 8 <= o1; o += 8) SNN_KERNEL(dense_vec)(ev, q->w + o, out, dst + o);
#endif
    for (; o < o1; o++) SNN_KERNEL(dense_one)(ev, q->w + o, out, dst + o);
    return ev->n * (o1 - o0);
}

/* identity: the part-th of parts share of the events (counted across the
 * segments), each to the target neuron of the same index. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(identity)(const snn_net *net, const snn_proj *q,
                                                    const snn_events *ev, float *dst,
                                                    int32_t part, int32_t parts)
{
    const int64_t C = net->pops[q->source].C;
    const int64_t lo = ev->n * part / parts, hi = ev->n * (part + 1) / parts;
    int64_t seen = 0, e;
    int32_t k;
    for (k = 0; k < ev->n_seg; k++) {
        /* this segment's events that fall in [lo, hi) of the whole queue */
        const int64_t a = lo > seen ? lo - seen : 0;
        const int64_t b = hi - seen < ev->seg_len[k] ? hi - seen : ev->seg_len[k];
        for (e = ev->seg_start[k] + a; e < ev->seg_start[k] + b; e++)
            dst[ev->idx[e]] += ev->val[e] * q->w[ev->idx[e] % C];
        seen += ev->seg_len[k];
    }
    return hi - lo;
}

/* Part `part` of `parts` of projection q's work for events ev, into dst; the
 * parts write disjoint neurons of dst, so they may run on separate threads.
 * Returns the synaptic operations of this part. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(scatter)(const snn_net *net, const snn_proj *q,
                                                   const snn_events *ev, float *dst,
                                                   int32_t part, int32_t parts)
{
    switch (q->op) {
    case SNN_OP_CONV2D: return SNN_KERNEL(conv)(net, q, ev, dst, part, parts);
    case SNN_OP_AVGPOOL2D: return SNN_KERNEL(pool)(net, q, ev, dst, part, parts);
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
