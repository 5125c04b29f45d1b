/*
 * maxpool2d: max pooling of net spike counts (snn.h, snn_projection_desc). Each
 * target neuron keeps its window's largest count so far (`best`). No count
 * changes by more than one a step, so neither does the largest:
 *   - a positive event raises it where the spiking neuron's count now exceeds
 *     it, by exactly one;
 *   - a negative event (a signed neuron's) can lower it only where that neuron
 *     held the largest count before this step; then the window's counts, which
 *     are final for the step, are read again for the new largest one.
 * The second case is the only one that reads more than the step's events, and
 * it needs signed neurons. The work is otherwise a gather of the step's events
 * over each output's window, as avgpool2d's, with a comparison in place of the
 * multiply-add, and it is the same for every instruction set: there is nothing
 * to vectorise in a compare-and-branch per event, and the results are integers.
 */
#include "internal.h"

/* The largest count, in channel c, of the source positions of output (oy, ox)'s
 * window (the in-bounds ones: the taps skip the padding). */
static int32_t window_max(const snn_proj *q, const int32_t *fired, int64_t SW, int64_t C,
                          int64_t oy, int64_t ox, int64_t c)
{
    const snn_tap *ry, *cx;
    const snn_tap *const row_end = q->grow_taps + q->grow_start[oy + 1];
    const snn_tap *const col_end = q->gcol_taps + q->gcol_start[ox + 1];
    int32_t m = INT32_MIN;
    for (ry = q->grow_taps + q->grow_start[oy]; ry < row_end; ry++)
        for (cx = q->gcol_taps + q->gcol_start[ox]; cx < col_end; cx++) {
            const int32_t n = fired[((int64_t)ry->src * SW + cx->src) * C + c];
            if (n > m) m = n;
        }
    return m;
}

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
                        } else if (ev->val[e] < 0.0f && fired[i] + 1 == best[o + c]) {
                            const int32_t m = window_max(q, fired, SW, C, oy, ox, c);
                            if (m < best[o + c]) {
                                best[o + c] = m;
                                dst[o + c] -= q->w[c];
                            }
                        }
                    }
                    ops += e1 - ev->first[pos];
                }
        }
    }
    return ops;
}
