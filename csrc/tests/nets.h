/* Small hand-built networks shared by the C tests. */
#ifndef SNN_TEST_NETS_H
#define SNN_TEST_NETS_H

#include "snn.h"
#include <string.h>

/* A 1-D array of n floats (n = 0: absent). */
static snn_array vec(const float *data, int64_t n)
{
    snn_array a;
    memset(&a, 0, sizeof a);
    a.data = data;
    a.ndim = n > 0 ? 1 : 0;
    a.shape[0] = n;
    return a;
}

static snn_population_desc pop_input(int64_t C, int64_t H, int64_t W)
{
    snn_population_desc d;
    memset(&d, 0, sizeof d);
    d.kind = SNN_KIND_INPUT;
    d.ndim = 3;
    d.shape[0] = C; d.shape[1] = H; d.shape[2] = W;
    return d;
}

static snn_population_desc pop_vector(int32_t kind, int64_t N)
{
    snn_population_desc d;
    memset(&d, 0, sizeof d);
    d.kind = kind;
    d.ndim = 1;
    d.shape[0] = N;
    return d;
}

static snn_population_desc pop_if(int64_t C, int64_t H, int64_t W, const float *theta,
                                  int64_t theta_len, int32_t reset)
{
    snn_population_desc d = pop_input(C, H, W);
    d.kind = SNN_KIND_IF;
    d.threshold = vec(theta, theta_len);
    d.reset = reset;
    return d;
}

static snn_projection_desc proj(int32_t op, int32_t src, int32_t dst, const float *w, int64_t wlen)
{
    snn_projection_desc d;
    memset(&d, 0, sizeof d);
    d.op = op;
    d.source = src;
    d.target = dst;
    d.weight = vec(w, wlen);
    return d;
}

static snn_projection_desc proj_window(int32_t op, int32_t src, int32_t dst, const float *w,
                                       int64_t wlen, int32_t kh, int32_t kw, int32_t s, int32_t p)
{
    snn_projection_desc d = proj(op, src, dst, w, wlen);
    d.kernel[0] = kh; d.kernel[1] = kw;
    d.stride[0] = d.stride[1] = s;
    d.padding[0] = d.padding[1] = p;
    return d;
}

static int64_t pop_size(const snn_population_desc *p)
{
    return p->ndim == 1 ? p->shape[0] : p->shape[0] * p->shape[1] * p->shape[2];
}

/*
 * Gives the weights that proj() and proj_window() made 1-D (n floats) the shape
 * their op takes: dense (target size, source size), conv2d (Co, Ci, kh, kw), when
 * n fits it; else (and for the gains of identity and avgpool2d) they stay (n,).
 */
static void shape_weights(const snn_population_desc *pops, int32_t np, snn_projection_desc *projs,
                          int32_t nj)
{
    int32_t j;
    for (j = 0; j < nj; j++) {
        snn_projection_desc *q = &projs[j];
        const int64_t n = q->weight.shape[0];
        int64_t src, dst, per_out;
        if (q->weight.ndim != 1 || q->source < 0 || q->source >= np || q->target < 0 ||
            q->target >= np)
            continue;
        src = pop_size(&pops[q->source]);
        dst = pop_size(&pops[q->target]);
        per_out = pops[q->source].shape[0] * q->kernel[0] * q->kernel[1];
        if (q->op == SNN_OP_DENSE && n == src * dst && n > 0) {
            q->weight.ndim = 2;
            q->weight.shape[0] = dst;
            q->weight.shape[1] = src;
        } else if (q->op == SNN_OP_CONV2D && per_out > 0 && n % per_out == 0) {
            q->weight.ndim = 4;
            q->weight.shape[0] = n / per_out;
            q->weight.shape[1] = pops[q->source].shape[0];
            q->weight.shape[2] = q->kernel[0];
            q->weight.shape[3] = q->kernel[1];
        }
    }
}

/* A description of pops and projs (whose weights it shapes: shape_weights). */
static snn_net_desc net_desc(const snn_population_desc *pops, int32_t np,
                             const snn_projection_desc *projs, int32_t nj, int32_t output)
{
    snn_net_desc d;
    shape_weights(pops, np, (snn_projection_desc *)projs, nj);
    memset(&d, 0, sizeof d);
    d.populations = pops;
    d.n_populations = np;
    d.projections = projs;
    d.n_projections = nj;
    d.input = 0;
    d.output = output;
    return d;
}

static snn_run_config run_config(int32_t T, int32_t encoding)
{
    snn_run_config c;
    memset(&c, 0, sizeof c);
    c.timesteps = T;
    c.encoding = encoding;
    c.rate = 1.0;
    return c;
}

#endif
