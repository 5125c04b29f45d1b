/* Small hand-built networks shared by the C tests. */
#ifndef SNN_TEST_NETS_H
#define SNN_TEST_NETS_H

#include "snn.h"
#include <string.h>

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
    d.threshold = theta;
    d.threshold_len = theta_len;
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
    d.kernel[0] = d.kernel[1] = 1;
    d.stride[0] = d.stride[1] = 1;
    d.weight = w;
    d.weight_len = wlen;
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

static snn_net_desc net_desc(const snn_population_desc *pops, int32_t np,
                             const snn_projection_desc *projs, int32_t nj, int32_t output)
{
    snn_net_desc d;
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
