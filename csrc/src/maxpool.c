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
 * it needs signed neurons. The work otherwise follows the step's events alone
 * (each visits the windows that hold it, a comparison in place of avgpool2d's
 * multiply-add), and it is the same for every instruction set: there is nothing
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

/* The outputs [*lo, *hi) along one axis whose windows (k, stride st, padding pd)
 * hold source coordinate sc, clipped to [o0, o1). */
static void windows_of(int64_t sc, int32_t k, int32_t st, int32_t pd, int64_t o0, int64_t o1,
                       int64_t *lo, int64_t *hi)
{
    const int64_t first = sc + pd - k + 1;      /* the first output's window start <= sc */
    const int64_t a = first <= 0 ? 0 : (first + st - 1) / st;
    const int64_t b = (sc + pd) / st + 1;
    *lo = a > o0 ? a : o0;
    *hi = b < o1 ? b : o1;
}

/* Output rows [oy0, oy1) of this team member, by the step's events: each event
 * visits the windows that hold it (the outputs of its channel whose largest count
 * it may change), rows outside the member's left to the others. For one output
 * the events of its window come in ascending source position, as a pass over the
 * window's taps would take them, and its largest count changes at most once a
 * step, so the result does not depend on the order. */
int64_t snn__maxpool(const snn_net *net, const snn_proj *q, const snn_events *ev,
                     const int32_t *fired, int32_t *best, float *dst, int32_t part, int32_t parts)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t C = src->C, SH = src->H, SW = src->W, OW = tgt->W, OH = tgt->H;
    const int64_t oy0 = OH * part / parts, oy1 = OH * (part + 1) / parts;
    const int64_t sy_end = (oy1 - 1) * q->sh - q->ph + q->kh;
    int64_t sy, sx, xlo, xhi, ops = 0;
    if (oy0 >= oy1) return 0;
    for (sy = oy0 * q->sh - q->ph < 0 ? 0 : oy0 * q->sh - q->ph; sy < SH && sy < sy_end; sy++) {
        int64_t ylo, yhi;
        windows_of(sy, q->kh, q->sh, q->ph, oy0, oy1, &ylo, &yhi);
        if (ylo >= yhi) continue;
        /* the columns' windows, [xlo, xhi), move right with sx (no division per column) */
        for (sx = 0, xlo = 0, xhi = 0; sx < SW; sx++) {
            const int64_t pos = sy * SW + sx;
            const int32_t e1 = ev->end[pos];
            int64_t oy, ox;
            int32_t e;
            while (xlo < OW && xlo * q->sw - q->pw + q->kw <= sx) xlo++;
            while (xhi < OW && xhi * q->sw - q->pw <= sx) xhi++;
            if (ev->first[pos] == e1) continue;
            for (e = ev->first[pos]; e < e1; e++) {
                const int32_t i = ev->idx[e];
                const int64_t c = i - pos * C;
                const int32_t n = fired[i];
                const float w = q->w[c];
                if (ev->val[e] > 0.0f) {
                    for (oy = ylo; oy < yhi; oy++)
                        for (ox = xlo; ox < xhi; ox++) {
                            const int64_t o = (oy * OW + ox) * C + c;
                            if (n > best[o]) {
                                best[o] = n;
                                dst[o] += w;
                            }
                        }
                } else {
                    for (oy = ylo; oy < yhi; oy++)
                        for (ox = xlo; ox < xhi; ox++) {
                            const int64_t o = (oy * OW + ox) * C + c;
                            if (n + 1 == best[o]) {
                                const int32_t m = window_max(q, fired, SW, C, oy, ox, c);
                                if (m < best[o]) {
                                    best[o] = m;
                                    dst[o] -= w;
                                }
                            }
                        }
                }
                ops += (yhi - ylo) * (xhi - xlo);
            }
        }
    }
    return ops;
}
