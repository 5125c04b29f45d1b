/*
 * upsample2d: nearest-neighbour upsampling by integer factors (sh, sw). Target
 * row oy copies source row oy / sh, each source column x to the sw target
 * columns x * sw .. x * sw + sw - 1. Each target neuron receives at most one
 * event's value a step, so the order of additions cannot change a bit, and one
 * implementation serves every instruction set: the work is a copy, bound by
 * memory, not arithmetic.
 */
#include "internal.h"

int64_t snn__upsample(const snn_net *net, const snn_proj *q, const snn_events *ev, float *dst,
                      int32_t part, int32_t parts)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t C = src->C, SW = src->W, OW = tgt->W, OH = tgt->H;
    int64_t oy, ops = 0;
    for (oy = OH * part / parts; oy < OH * (part + 1) / parts; oy++) {
        const int64_t row = (oy / q->sh) * SW;
        const int32_t e1 = ev->end[row + SW - 1];
        float *out = dst + oy * OW * C;
        int32_t e;
        for (e = ev->first[row]; e < e1; e++) {
            const int64_t pos = snn__divide(q->by_c, ev->idx[e]), c = ev->idx[e] - pos * C;
            const float v = ev->val[e] * q->w[c];
            float *o = out + (pos - row) * q->sw * C + c;
            int32_t j;
            for (j = 0; j < q->sw; j++) o[j * C] += v;
        }
        ops += (int64_t)(e1 - ev->first[row]) * q->sw;
    }
    return ops;
}
