/*
 * maxpool2d: max pooling of net spike counts (snn.h, snn_projection_desc). Each
 * target neuron keeps its window's largest count so far (`best`), which is always
 * the largest of the window's current counts. No count changes by more than one a
 * step, so neither does the largest, and the target receives +gain when its
 * window's largest count rose this step and -gain when it fell (a signed
 * neuron's negative spike can lower it).
 *
 * The work goes output pixel by output pixel, over the pixels whose window holds
 * an event this step (only those can change): the largest count of each channel
 * is taken afresh over the window, all channels at once, which the kernel sets
 * vectorise (snn_maxpool_fn, scatter_kernels.h). The results are integers and
 * exact products, the same for every instruction set and team size.
 *
 * Synaptic operations are counted as an event-driven pool would do them: each
 * event visits the windows that hold it.
 */
#include "internal.h"

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

#define COUNT_COLUMNS 256  /* source columns whose window counts count_ops keeps at once */

/* The synaptic operations of output rows [oy0, oy1): each event of the step
 * times the windows of those rows that hold it. The windows of a source column
 * are found once per block of columns, not once per position (windows_of
 * divides). */
static int64_t count_ops(const snn_proj *q, const snn_events *ev, int64_t SH, int64_t SW,
                         int64_t OW, int64_t oy0, int64_t oy1)
{
    const int64_t sy_end = (oy1 - 1) * q->sh - q->ph + q->kh;
    const int64_t sy0 = oy0 * q->sh - q->ph < 0 ? 0 : oy0 * q->sh - q->ph;
    int64_t sy, sx, sx0, ops = 0;
    int64_t cols[COUNT_COLUMNS];
    for (sx0 = 0; sx0 < SW; sx0 += COUNT_COLUMNS) {
        const int64_t sx1 = sx0 + COUNT_COLUMNS < SW ? sx0 + COUNT_COLUMNS : SW;
        for (sx = sx0; sx < sx1; sx++) {
            int64_t xlo, xhi;
            windows_of(sx, q->kw, q->sw, q->pw, 0, OW, &xlo, &xhi);
            cols[sx - sx0] = xhi > xlo ? xhi - xlo : 0;
        }
        for (sy = sy0; sy < SH && sy < sy_end; sy++) {
            int64_t ylo, yhi, row = 0;
            windows_of(sy, q->kh, q->sh, q->ph, oy0, oy1, &ylo, &yhi);
            if (ylo >= yhi) continue;
            for (sx = sx0; sx < sx1; sx++) {
                const int64_t pos = sy * SW + sx;
                row += (int64_t)(ev->end[pos] - ev->first[pos]) * cols[sx - sx0];
            }
            ops += row * (yhi - ylo);
        }
    }
    return ops;
}

/* Whether a window (its row taps x its column taps, which are consecutive
 * source columns) holds an event this step: a source row's events are one
 * range of the queue, sorted by position. */
static int window_has_events(const snn_events *ev, const snn_tap *r, const snn_tap *r_end,
                             const snn_tap *c, const snn_tap *c_end, int64_t SW)
{
    for (; r < r_end; r++) {
        const int64_t row = (int64_t)r->src * SW;
        if (ev->first[row + c->src] != ev->end[row + c_end[-1].src]) return 1;
    }
    return 0;
}

/* Output rows [oy0, oy1) of this team member; returns their synaptic operations. */
int64_t snn__maxpool(const snn_net *net, const snn_proj *q, const snn_events *ev,
                     const int32_t *fired, int32_t *best, float *dst, int32_t part, int32_t parts)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t C = src->C, SH = src->H, SW = src->W, OW = tgt->W, OH = tgt->H;
    const int64_t oy0 = OH * part / parts, oy1 = OH * (part + 1) / parts;
    int64_t oy, ox;
    if (oy0 >= oy1) return 0;
    for (oy = oy0; oy < oy1; oy++) {
        const snn_tap *r = q->grow_taps + q->grow_start[oy];
        const snn_tap *r_end = q->grow_taps + q->grow_start[oy + 1];
        for (ox = 0; ox < OW; ox++) {
            const snn_tap *c = q->gcol_taps + q->gcol_start[ox];
            const snn_tap *c_end = q->gcol_taps + q->gcol_start[ox + 1];
            const int64_t o = (oy * OW + ox) * C;
            if (c == c_end || !window_has_events(ev, r, r_end, c, c_end, SW)) continue;
            net->maxpool_pixel(r, r_end, c, c_end, fired, SW, C, best + o, q->w, dst + o);
        }
    }
    return count_ops(q, ev, SH, SW, OW, oy0, oy1);
}
