/*
 * The scatter kernels, compiled once per instruction set: scatter.c includes
 * this file with SNN_KERNEL(name) and SNN_KERNEL_ATTR defined, once for the
 * baseline build and once with AVX2 enabled. The arithmetic is the same in
 * both (no fused multiply-add), so both give bit-identical results.
 */

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
    const int64_t Ci = src->C, W = src->W, Co = tgt->C, OW = tgt->W, kw = q->kw;
    int64_t e, ops = 0;
    for (e = 0; e < n_ev; e++) {
        const uint32_t i = (uint32_t)idx[e];
        const uint32_t pos = snn__divide(&src->div_c, i), y = snn__divide(&src->div_w, pos);
        const int64_t ci = i - pos * (uint32_t)Ci, x = pos - y * (uint32_t)W;
        const snn_tap *ry = q->row_taps + q->row_start[y], *ry_end = q->row_taps + q->row_start[y + 1];
        const snn_tap *cx0 = q->col_taps + q->col_start[x], *cx_end = q->col_taps + q->col_start[x + 1];
        const float v = val[e];
        for (; ry < ry_end; ry++) {
            const snn_tap *cx;
            for (cx = cx0; cx < cx_end; cx++)
                SNN_KERNEL(update)(dst + ((int64_t)ry->out * OW + cx->out) * Co,
                                   q->w + (((int64_t)ry->k * kw + cx->k) * Ci + ci) * Co, v, Co);
        }
        ops += (int64_t)(ry_end - (q->row_taps + q->row_start[y])) * (cx_end - cx0) * Co;
    }
    return ops;
}

SNN_KERNEL_ATTR static int64_t SNN_KERNEL(pool)(const snn_net *net, const snn_proj *q,
                                                const int32_t *idx, const float *val,
                                                int64_t n_ev, float *dst)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t C = src->C, W = src->W, OW = tgt->W;
    int64_t e, ops = 0;
    for (e = 0; e < n_ev; e++) {
        const uint32_t i = (uint32_t)idx[e];
        const uint32_t pos = snn__divide(&src->div_c, i), y = snn__divide(&src->div_w, pos);
        const int64_t c = i - pos * (uint32_t)C, x = pos - y * (uint32_t)W;
        const snn_tap *ry = q->row_taps + q->row_start[y], *ry_end = q->row_taps + q->row_start[y + 1];
        const snn_tap *cx0 = q->col_taps + q->col_start[x], *cx_end = q->col_taps + q->col_start[x + 1];
        const float v = val[e] * q->inv_area * q->w[c];
        for (; ry < ry_end; ry++) {
            const snn_tap *cx;
            for (cx = cx0; cx < cx_end; cx++) dst[((int64_t)ry->out * OW + cx->out) * C + c] += v;
        }
        ops += (int64_t)(ry_end - (q->row_taps + q->row_start[y])) * (cx_end - cx0);
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
