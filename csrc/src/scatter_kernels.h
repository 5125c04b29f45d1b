/*
 * The scatter kernels, compiled once per instruction set: scatter.c includes
 * this file with SNN_KERNEL(name) and SNN_KERNEL_ATTR defined, once for the
 * baseline build and once with AVX2 enabled. The arithmetic is the same in
 * both (no fused multiply-add), so both give bit-identical results.
 */

#ifndef SNN_EVENT_TAPS_DEFINED
#define SNN_EVENT_TAPS_DEFINED
/* Splits event index i of `src` into channel and position, and looks up the
 * position's taps in q's tables (no division: see snn_divider). */
static inline snn_event_taps snn__event_taps(const snn_pop *src, const snn_proj *q, uint32_t i)
{
    snn_event_taps t;
    const uint32_t pos = snn__divide(&src->div_c, i), y = snn__divide(&src->div_w, pos);
    const uint32_t x = pos - y * (uint32_t)src->W;
    t.channel = (int64_t)(i - pos * (uint32_t)src->C);
    t.row = q->row_taps + q->row_start[y];
    t.row_end = q->row_taps + q->row_start[y + 1];
    t.col = q->col_taps + q->col_start[x];
    t.col_end = q->col_taps + q->col_start[x + 1];
    return t;
}
#endif

/* dst[0..n) += w[0..n): a spike of value +1 */
SNN_KERNEL_ATTR static void SNN_KERNEL(add)(float *restrict dst, const float *restrict w,
                                            int64_t n)
{
    int64_t k;
    for (k = 0; k < n; k++) dst[k] += w[k];
}

/* dst[0..n) -= w[0..n): a spike of value -1 (x - w == x + (-1 * w) exactly) */
SNN_KERNEL_ATTR static void SNN_KERNEL(sub)(float *restrict dst, const float *restrict w,
                                            int64_t n)
{
    int64_t k;
    for (k = 0; k < n; k++) dst[k] -= w[k];
}

/* dst[0..n) += v * w[0..n): a graded event */
SNN_KERNEL_ATTR static void SNN_KERNEL(axpy)(float *restrict dst, const float *restrict w,
                                             float v, int64_t n)
{
    int64_t k;
    for (k = 0; k < n; k++) dst[k] += v * w[k];
}

SNN_KERNEL_ATTR static void SNN_KERNEL(update)(float *restrict dst, const float *restrict w,
                                               float v, int64_t n)
{
    if (v == 1.0f) SNN_KERNEL(add)(dst, w, n);
    else if (v == -1.0f) SNN_KERNEL(sub)(dst, w, n);
    else SNN_KERNEL(axpy)(dst, w, v, n);
}

SNN_KERNEL_ATTR static int64_t SNN_KERNEL(conv)(const snn_net *net, const snn_proj *q,
                                                const int32_t *idx, const float *val,
                                                int64_t n_ev, float *dst)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t Ci = src->C, Co = tgt->C, OW = tgt->W, kw = q->kw;
    int64_t e, ops = 0;
    for (e = 0; e < n_ev; e++) {
        const snn_event_taps t = snn__event_taps(src, q, (uint32_t)idx[e]);
        const float v = val[e];
        const snn_tap *ry, *cx;
        for (ry = t.row; ry < t.row_end; ry++)
            for (cx = t.col; cx < t.col_end; cx++)
                SNN_KERNEL(update)(dst + ((int64_t)ry->out * OW + cx->out) * Co,
                                   q->w + (((int64_t)ry->k * kw + cx->k) * Ci + t.channel) * Co,
                                   v, Co);
        ops += (int64_t)(t.row_end - t.row) * (t.col_end - t.col) * Co;
    }
    return ops;
}

SNN_KERNEL_ATTR static int64_t SNN_KERNEL(pool)(const snn_net *net, const snn_proj *q,
                                                const int32_t *idx, const float *val,
                                                int64_t n_ev, float *dst)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t C = src->C, OW = tgt->W;
    int64_t e, ops = 0;
    for (e = 0; e < n_ev; e++) {
        const snn_event_taps t = snn__event_taps(src, q, (uint32_t)idx[e]);
        const float v = val[e] * q->inv_area * q->w[t.channel];
        const snn_tap *ry, *cx;
        for (ry = t.row; ry < t.row_end; ry++)
            for (cx = t.col; cx < t.col_end; cx++)
                dst[((int64_t)ry->out * OW + cx->out) * C + t.channel] += v;
        ops += (int64_t)(t.row_end - t.row) * (t.col_end - t.col);
    }
    return ops;
}

SNN_KERNEL_ATTR static int64_t SNN_KERNEL(dense)(const snn_net *net, const snn_proj *q,
                                                 const int32_t *idx, const float *val,
                                                 int64_t n_ev, float *dst)
{
    const int64_t out = net->pops[q->target].n;
    int64_t e;
    for (e = 0; e < n_ev; e++) SNN_KERNEL(update)(dst, q->w + (int64_t)idx[e] * out, val[e], out);
    return n_ev * out;
}

SNN_KERNEL_ATTR static int64_t SNN_KERNEL(scatter)(const snn_net *net, const snn_proj *q,
                                                   const int32_t *idx, const float *val,
                                                   int64_t n_ev, float *dst)
{
    switch (q->op) {
    case SNN_OP_CONV2D: return SNN_KERNEL(conv)(net, q, idx, val, n_ev, dst);
    case SNN_OP_AVGPOOL2D: return SNN_KERNEL(pool)(net, q, idx, val, n_ev, dst);
    case SNN_OP_DENSE: return SNN_KERNEL(dense)(net, q, idx, val, n_ev, dst);
    default: {
        const int64_t C = net->pops[q->source].C;
        int64_t e;
        for (e = 0; e < n_ev; e++) dst[idx[e]] += val[e] * q->w[idx[e] % C];
        return n_ev;
    }
    }
}
