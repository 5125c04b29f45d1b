/*
 * maxpool2d: max pooling of spike counts (snn.h, snn_projection_desc). Each
 * target neuron keeps its window's largest count so far (`best`); a step's
 * spike raises it only where the spiking neuron's count now exceeds it, by
 * exactly one, since no count grows by more than one a step. So the work is
 * a gather of the step's events over each output's window, as avgpool2d's, with
 * a comparison in place of the multiply-add, and it is the same for every
 * instruction set: there is nothing to vectorise in a compare-and-branch per
 * event, and the results are integers.
 */
#include "internal.h"

int64_t snn__maxpool(const snn_net *net, const snn_proj *q, const snn_events *ev,
                     const int32_t *fired, int32_t *best, float *dst, int32_t part, int32_t parts)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t C = src->C, SW = src->W, OW = tgt->W, OH = tgt->H;
    int64_t oy, ox, ops = 0;
    for (oy = OH * part / parts; oy < OH * (part + 1) / parts; oy++) {
        const snn_tap *const row = q->grow_taps + q->grow_start[oy];
        const snn_tap *const row_end = q->grow_taps + q->grow_start[oy + 1];
        for (ox = 0; ox < OW; ox++) {
            const snn_tap *const col_end = q->gcol_taps + q->gcol_start[ox + 1];
            const int64_t o = (oy * OW + ox) * C;
            const snn_tap *ry, *cx;
            for (ry = row; ry < row_end; ry++)
                for (cx = q->gcol_taps + q->gcol_start[ox]; cx < col_end; cx++) {
                    const int64_t pos = (int64_t)ry->src * SW + cx->src;
                    const int32_t e1 = ev->end[pos];
                    int32_t e;
                    for (e = ev->first[pos]; e < e1; e++) {
                        const int32_t i = ev->idx[e];
                        const int64_t c = i - pos * C;
                        if (fired[i] > best[o + c]) {
                            best[o + c] = fired[i];
                            dst[o + c] += q->w[c];
                        }
                    }
                    ops += e1 - ev->first[pos];
                }
        }
    }
    return ops;
}
