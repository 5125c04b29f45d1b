/*
 * Event-driven synaptic updates. Each event (a neuron index in the source's HWC
 * order and a value: +-1 for a spike, the current for a graded relay event) adds
 * value * weights into the target's buffer. The weights were repacked so that the
 * floats one event adds to one target position are contiguous over output
 * channels, which the compiler turns into vector adds.
 */
#include "internal.h"

/* dst[0..n) += v * w[0..n) */
static void axpy(float *restrict dst, const float *restrict w, float v, int64_t n)
{
    int64_t k;
    for (k = 0; k < n; k++) dst[k] += v * w[k];
}

/* Target rows along one axis that a source row `y` feeds: rows o with
 * o*s - p <= y - ky, i.e. y + p - ky = o*s for a kernel offset ky. */
static int64_t conv_events(const snn_net *net, const snn_proj *q, const int32_t *idx,
                           const float *val, int64_t n_ev, float *dst)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t Ci = src->C, W = src->W, Co = tgt->C, OH = tgt->H, OW = tgt->W;
    int64_t e, ops = 0;
    for (e = 0; e < n_ev; e++) {
        const int64_t i = idx[e], ci = i % Ci, pos = i / Ci, y = pos / W, x = pos % W;
        const float v = val[e];
        int32_t ky, kx;
        for (ky = 0; ky < q->kh; ky++) {
            const int64_t ny = y + q->ph - ky;
            int64_t oy;
            if (ny < 0 || ny % q->sh) continue;
            oy = ny / q->sh;
            if (oy >= OH) continue;
            for (kx = 0; kx < q->kw; kx++) {
                const int64_t nx = x + q->pw - kx;
                int64_t ox;
                if (nx < 0 || nx % q->sw) continue;
                ox = nx / q->sw;
                if (ox >= OW) continue;
                axpy(dst + (oy * OW + ox) * Co, q->w + ((ky * q->kw + kx) * Ci + ci) * Co, v, Co);
                ops += Co;
            }
        }
    }
    return ops;
}

static int64_t pool_events(const snn_net *net, const snn_proj *q, const int32_t *idx,
                           const float *val, int64_t n_ev, float *dst)
{
    const snn_pop *src = &net->pops[q->source], *tgt = &net->pops[q->target];
    const int64_t C = src->C, W = src->W, OH = tgt->H, OW = tgt->W;
    int64_t e, ops = 0;
    for (e = 0; e < n_ev; e++) {
        const int64_t i = idx[e], c = i % C, pos = i / C, y = pos / W, x = pos % W;
        const float v = val[e] * q->inv_area * q->w[c];
        int32_t ky, kx;
        for (ky = 0; ky < q->kh; ky++) {
            const int64_t ny = y + q->ph - ky;
            int64_t oy;
            if (ny < 0 || ny % q->sh) continue;
            oy = ny / q->sh;
            if (oy >= OH) continue;
            for (kx = 0; kx < q->kw; kx++) {
                const int64_t nx = x + q->pw - kx;
                int64_t ox;
                if (nx < 0 || nx % q->sw) continue;
                ox = nx / q->sw;
                if (ox >= OW) continue;
                dst[(oy * OW + ox) * C + c] += v;
                ops++;
            }
        }
    }
    return ops;
}

static int64_t dense_events(const snn_net *net, const snn_proj *q, const int32_t *idx,
                            const float *val, int64_t n_ev, float *dst)
{
    const int64_t out = net->pops[q->target].n;
    int64_t e;
    for (e = 0; e < n_ev; e++) axpy(dst, q->w + (int64_t)idx[e] * out, val[e], out);
    return n_ev * out;
}

static int64_t identity_events(const snn_net *net, const snn_proj *q, const int32_t *idx,
                               const float *val, int64_t n_ev, float *dst)
{
    const int64_t C = net->pops[q->source].C;
    int64_t e;
    for (e = 0; e < n_ev; e++) dst[idx[e]] += val[e] * q->w[idx[e] % C];
    return n_ev;
}

int64_t snn__scatter(const snn_net *net, const snn_proj *p, const int32_t *idx,
                     const float *val, int64_t n_ev, float *dst)
{
    switch (p->op) {
    case SNN_OP_CONV2D: return conv_events(net, p, idx, val, n_ev, dst);
    case SNN_OP_AVGPOOL2D: return pool_events(net, p, idx, val, n_ev, dst);
    case SNN_OP_DENSE: return dense_events(net, p, idx, val, n_ev, dst);
    default: return identity_events(net, p, idx, val, n_ev, dst);
    }
}
