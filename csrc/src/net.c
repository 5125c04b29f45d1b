/*
 * Building a network: validate a description completely, then copy its arrays
 * into the engine's layout (channel-last membranes, weights repacked so that one
 * event's update is a contiguous run of floats).
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- memory ------------------------------------------------------------ */

static void *default_alloc(void *opaque, size_t size) { (void)opaque; return malloc(size); }
static void default_free(void *opaque, void *ptr) { (void)opaque; free(ptr); }

/* A zeroed block owned by the net, freed by snn_net_free, aligned to SNN_ALIGN
 * (a cache line): a weight row that starts a cache line is read as whole lines,
 * where malloc's 16-byte alignment would make most vector loads straddle two
 * (fc1 of the benchmark CNN took 16 % longer so). blocks[] keeps what the
 * allocator returned, for freeing. */
static void *net_alloc(snn_net *net, size_t bytes)
{
    unsigned char *p;
    if (bytes == 0) bytes = 1;
    if (bytes > SIZE_MAX - SNN_ALIGN) return NULL;
    if (net->n_blocks == net->cap_blocks) {
        int32_t cap = net->cap_blocks ? 2 * net->cap_blocks : 16;
        void **blocks = net->alloc.alloc(net->alloc.opaque, (size_t)cap * sizeof *blocks);
        if (blocks == NULL) return NULL;
        if (net->n_blocks) memcpy(blocks, net->blocks, (size_t)net->n_blocks * sizeof *blocks);
        net->alloc.free(net->alloc.opaque, net->blocks);
        net->blocks = blocks;
        net->cap_blocks = cap;
    }
    p = net->alloc.alloc(net->alloc.opaque, bytes + SNN_ALIGN);
    if (p == NULL) return NULL;
    net->blocks[net->n_blocks++] = p;
    p += (SNN_ALIGN - (uintptr_t)p % SNN_ALIGN) % SNN_ALIGN;
    memset(p, 0, bytes);
    return p;
}

void snn_net_free(snn_net *net)
{
    snn_allocator a;
    int32_t i;
    if (net == NULL) return;
    a = net->alloc;
    for (i = 0; i < net->n_blocks; i++) a.free(a.opaque, net->blocks[i]);
    a.free(a.opaque, net->blocks);
    a.free(a.opaque, net);
}

/* ---- validation helpers ------------------------------------------------ */

/* *out = a * b when it stays <= limit (all operands >= 0); else returns 0. */
static int mul_within(int64_t a, int64_t b, int64_t limit, int64_t *out)
{
    if (a < 0 || b < 0) return 0;
    if (a != 0 && b > limit / a) return 0;
    *out = a * b;
    return 1;
}

static int64_t first_bad_float(const float *v, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return -1;
}

typedef struct dims { int32_t ndim; int64_t C, H, W, n; } dims;

static int check_array(const float *v, int64_t len, const char *what, int32_t pop,
                       int32_t proj, int positive, snn_error *err)
{
    int64_t i;
    RETURN_ERROR_IF(len > 0 && v == NULL, err, SNN_E_INVALID_ARG, pop, proj,
                    "%s is NULL but has length %lld", what, (long long)len);
    i = first_bad_float(v, len);
    RETURN_ERROR_IF(i >= 0, err, SNN_E_VALUE, pop, proj,
                    "%s holds a non-finite value at index %lld", what, (long long)i);
    if (positive) {
        for (i = 0; i < len; i++)
            RETURN_ERROR_IF(!(v[i] > 0.0f), err, SNN_E_VALUE, pop, proj,
                            "%s must be > 0, found %g at index %lld", what,
                            (double)v[i], (long long)i);
    }
    return SNN_OK;
}

static int check_population(const snn_population_desc *d, int32_t i, const snn_limits *L,
                            dims *out, snn_error *err)
{
    int64_t C, H = 1, W = 1, n;
    RETURN_ERROR_IF(d->kind < SNN_KIND_INPUT || d->kind > SNN_KIND_ACCUMULATE, err,
                    SNN_E_UNSUPPORTED, i, -1, "unknown population kind %d", (int)d->kind);
    RETURN_ERROR_IF(d->ndim != 1 && d->ndim != 3, err, SNN_E_SHAPE, i, -1,
                    "shape must have 1 or 3 dimensions, not %d", (int)d->ndim);
    C = d->shape[0];
    if (d->ndim == 3) { H = d->shape[1]; W = d->shape[2]; }
    RETURN_ERROR_IF(C < 1 || H < 1 || W < 1 || C > L->max_dim || H > L->max_dim || W > L->max_dim,
                    err, SNN_E_LIMIT, i, -1, "dimension out of range 1..%lld in shape (%lld, %lld, %lld)",
                    (long long)L->max_dim, (long long)C, (long long)H, (long long)W);
    RETURN_ERROR_IF(!mul_within(C, H, L->max_neurons, &n) || !mul_within(n, W, L->max_neurons, &n),
                    err, SNN_E_LIMIT, i, -1, "more than %lld neurons", (long long)L->max_neurons);

    if (d->kind == SNN_KIND_IF) {
        RETURN_ERROR_IF(d->threshold_len != 1 && d->threshold_len != C, err, SNN_E_SHAPE, i, -1,
                        "threshold has %lld values, expected 1 or %lld", (long long)d->threshold_len,
                        (long long)C);
        FORWARD_IF_ERROR(check_array(d->threshold, d->threshold_len, "threshold", i, -1, 1, err));
        RETURN_ERROR_IF(d->reset != SNN_RESET_SUBTRACT && d->reset != SNN_RESET_ZERO, err,
                        SNN_E_UNSUPPORTED, i, -1, "unknown reset mode %d", (int)d->reset);
        RETURN_ERROR_IF(!isfinite(d->v_init) || d->v_init < -1.0f || d->v_init > 1.0f, err,
                        SNN_E_VALUE, i, -1, "v_init must be in [-1, 1], found %g", (double)d->v_init);
        if (d->is_signed) {
            RETURN_ERROR_IF(d->threshold_neg_len != 1 && d->threshold_neg_len != C, err, SNN_E_SHAPE,
                            i, -1, "threshold_neg has %lld values, expected 1 or %lld",
                            (long long)d->threshold_neg_len, (long long)C);
            FORWARD_IF_ERROR(check_array(d->threshold_neg, d->threshold_neg_len, "threshold_neg",
                                         i, -1, 1, err));
        } else {
            RETURN_ERROR_IF(d->threshold_neg_len != 0, err, SNN_E_INVALID_ARG, i, -1,
                            "threshold_neg given for an unsigned population");
        }
    } else {
        RETURN_ERROR_IF(d->threshold_len != 0 || d->threshold_neg_len != 0 || d->is_signed, err,
                        SNN_E_INVALID_ARG, i, -1, "only IF populations take thresholds");
    }
    if (d->kind == SNN_KIND_INPUT) {
        RETURN_ERROR_IF(d->bias_len != 0, err, SNN_E_INVALID_ARG, i, -1,
                        "the input population takes no bias");
    } else {
        RETURN_ERROR_IF(d->bias_len != 0 && d->bias_len != C && d->bias_len != n, err, SNN_E_SHAPE,
                        i, -1, "bias has %lld values, expected 0, %lld or %lld",
                        (long long)d->bias_len, (long long)C, (long long)n);
        FORWARD_IF_ERROR(check_array(d->bias, d->bias_len, "bias", i, -1, 0, err));
    }
    out->ndim = d->ndim; out->C = C; out->H = H; out->W = W; out->n = n;
    return SNN_OK;
}

/* Output size of a strided window along one axis, or -1 if the window does not fit. */
static int64_t window_out(int64_t in, int32_t k, int32_t s, int32_t p)
{
    int64_t span = in + 2 * (int64_t)p - k;
    if (span < 0) return -1;
    return span / s + 1;
}

/* Upper bound of the taps table of one axis (see build_gather_taps): out * min(k, in). */
static int64_t taps_bound(int64_t in, int64_t out, int32_t k)
{
    return out * (k < in ? k : in);
}

static int check_window(const snn_projection_desc *d, int32_t j, const dims *src,
                        const dims *dst, int64_t out_c, snn_error *err)
{
    int a;
    int64_t oh, ow;
    RETURN_ERROR_IF(src->ndim != 3 || dst->ndim != 3, err, SNN_E_SHAPE, -1, j,
                    "source and target of a 2-D op must be 3-D populations");
    for (a = 0; a < 2; a++) {
        RETURN_ERROR_IF(d->kernel[a] < 1, err, SNN_E_SHAPE, -1, j, "kernel must be >= 1");
        RETURN_ERROR_IF(d->stride[a] < 1, err, SNN_E_SHAPE, -1, j, "stride must be >= 1");
        RETURN_ERROR_IF(d->padding[a] < 0 || d->padding[a] >= d->kernel[a], err, SNN_E_SHAPE, -1, j,
                        "padding must be in 0..kernel-1");
    }
    oh = window_out(src->H, d->kernel[0], d->stride[0], d->padding[0]);
    ow = window_out(src->W, d->kernel[1], d->stride[1], d->padding[1]);
    RETURN_ERROR_IF(oh < 1 || ow < 1, err, SNN_E_SHAPE, -1, j,
                    "kernel (%d, %d) does not fit the padded input (%lld, %lld)", (int)d->kernel[0],
                    (int)d->kernel[1], (long long)src->H, (long long)src->W);
    RETURN_ERROR_IF(dst->C != out_c || dst->H != oh || dst->W != ow, err, SNN_E_SHAPE, -1, j,
                    "target shape (%lld, %lld, %lld) does not match the op's output (%lld, %lld, %lld)",
                    (long long)dst->C, (long long)dst->H, (long long)dst->W, (long long)out_c,
                    (long long)oh, (long long)ow);
    return SNN_OK;
}

static int check_projection(const snn_net_desc *desc, int32_t j, const dims *pd,
                            const snn_limits *L, int64_t *weight_floats, snn_error *err)
{
    const snn_projection_desc *d = &desc->projections[j];
    const dims *src, *dst;
    int64_t expect = 0, max_floats = L->max_bytes / 4;
    RETURN_ERROR_IF(d->source < 0 || d->source >= desc->n_populations, err, SNN_E_GRAPH, -1, j,
                    "source %d names no population", (int)d->source);
    RETURN_ERROR_IF(d->target < 0 || d->target >= desc->n_populations, err, SNN_E_GRAPH, -1, j,
                    "target %d names no population", (int)d->target);
    RETURN_ERROR_IF(desc->populations[d->target].kind == SNN_KIND_INPUT, err, SNN_E_GRAPH, -1, j,
                    "a projection may not target the input population");
    RETURN_ERROR_IF(desc->populations[d->source].kind == SNN_KIND_ACCUMULATE, err, SNN_E_GRAPH,
                    -1, j, "an accumulate population emits nothing and cannot be a source");
    src = &pd[d->source];
    dst = &pd[d->target];
    if (d->op == SNN_OP_CONV2D || d->op == SNN_OP_AVGPOOL2D) {
        /* the taps tables cost 8 bytes a tap: counted as 2 floats of weights */
        const int64_t taps = taps_bound(src->H, dst->H, d->kernel[0]) +
                             taps_bound(src->W, dst->W, d->kernel[1]);
        RETURN_ERROR_IF(taps > max_floats / 2, err, SNN_E_LIMIT, -1, j,
                        "the kernel's tap tables would exceed the memory limit");
        *weight_floats = 2 * taps;
    }
    switch (d->op) {
    case SNN_OP_CONV2D: {
        int64_t ci_k;
        FORWARD_IF_ERROR(check_window(d, j, src, dst, dst->C, err));
        RETURN_ERROR_IF(!mul_within(dst->C, src->C, max_floats, &expect) ||
                        !mul_within(d->kernel[0], d->kernel[1], max_floats, &ci_k) ||
                        !mul_within(expect, ci_k, max_floats, &expect),
                        err, SNN_E_LIMIT, -1, j, "conv2d weight larger than the memory limit");
        break;
    }
    case SNN_OP_AVGPOOL2D:
        FORWARD_IF_ERROR(check_window(d, j, src, dst, src->C, err));
        expect = d->weight_len == 0 ? 0 : src->C;
        break;
    case SNN_OP_DENSE:
        RETURN_ERROR_IF(dst->ndim != 1, err, SNN_E_SHAPE, -1, j, "a dense target must be 1-D");
        RETURN_ERROR_IF(!mul_within(dst->n, src->n, max_floats, &expect), err, SNN_E_LIMIT, -1, j,
                        "dense weight larger than the memory limit");
        break;
    case SNN_OP_IDENTITY:
        RETURN_ERROR_IF(src->C != dst->C || src->H != dst->H || src->W != dst->W, err, SNN_E_SHAPE,
                        -1, j, "identity needs equal source and target shapes");
        expect = d->weight_len == 0 ? 0 : src->C;
        break;
    default:
        RETURN_ERROR_IF(1, err, SNN_E_UNSUPPORTED, -1, j, "unknown op %d", (int)d->op);
    }
    RETURN_ERROR_IF(d->weight_len != expect, err, SNN_E_SHAPE, -1, j,
                    "weight has %lld values, expected %lld", (long long)d->weight_len,
                    (long long)expect);
    FORWARD_IF_ERROR(check_array(d->weight, d->weight_len, "weight", -1, j, 0, err));
    *weight_floats += expect;
    return SNN_OK;
}

/* Kahn's algorithm: the input first, then always the lowest ready index, so the
 * order is a pure function of the description (Python computes the same). */
static int topological_order(const snn_net_desc *desc, int32_t *indeg, int32_t *order,
                             snn_error *err)
{
    int32_t P = desc->n_populations, k, i, j;
    unsigned char *done = (unsigned char *)(indeg + P);
    memset(indeg, 0, (size_t)P * sizeof *indeg);
    memset(done, 0, (size_t)P);
    for (j = 0; j < desc->n_projections; j++) indeg[desc->projections[j].target]++;
    for (k = 0; k < P; k++) {
        int32_t pick = -1;
        if (k == 0) pick = desc->input;
        else
            for (i = 0; i < P && pick < 0; i++)
                if (!done[i] && indeg[i] == 0) pick = i;
        if (pick < 0) {
            for (i = 0; i < P && done[i]; i++) {}
            RETURN_ERROR_IF(1, err, SNN_E_GRAPH, i, -1,
                            "the projections form a cycle through population %d", (int)i);
        }
        done[pick] = 1;
        order[k] = pick;
        for (j = 0; j < desc->n_projections; j++)
            if (desc->projections[j].source == pick) indeg[desc->projections[j].target]--;
    }
    return SNN_OK;
}

static int check_desc(const snn_net_desc *desc, const snn_limits *L, dims *pd, int64_t *wfloats,
                      snn_error *err)
{
    int32_t i, n_input = 0;
    const snn_population_desc *out;
    RETURN_ERROR_IF(desc->n_populations < 1 || desc->n_populations > L->max_populations, err,
                    SNN_E_LIMIT, -1, -1, "population count %d outside 1..%lld",
                    (int)desc->n_populations, (long long)L->max_populations);
    RETURN_ERROR_IF(desc->n_projections < 0 || desc->n_projections > L->max_projections, err,
                    SNN_E_LIMIT, -1, -1, "projection count %d outside 0..%lld",
                    (int)desc->n_projections, (long long)L->max_projections);
    RETURN_ERROR_IF(desc->populations == NULL, err, SNN_E_INVALID_ARG, -1, -1, "populations is NULL");
    RETURN_ERROR_IF(desc->isa < SNN_ISA_AUTO || desc->isa > SNN_ISA_AVX512, err,
                    SNN_E_UNSUPPORTED, -1, -1, "unknown isa %d", (int)desc->isa);
    RETURN_ERROR_IF(desc->isa == SNN_ISA_AVX2 && !snn__cpu_has_avx2(), err, SNN_E_UNSUPPORTED,
                    -1, -1, "isa AVX2 requested, but this CPU or build has no AVX2");
    RETURN_ERROR_IF(desc->isa == SNN_ISA_AVX512 && !snn__cpu_has_avx512(), err,
                    SNN_E_UNSUPPORTED, -1, -1,
                    "isa AVX-512 requested, but this CPU or build has no AVX-512F");
    RETURN_ERROR_IF(desc->n_projections > 0 && desc->projections == NULL, err, SNN_E_INVALID_ARG,
                    -1, -1, "projections is NULL");
    for (i = 0; i < desc->n_populations; i++) {
        FORWARD_IF_ERROR(check_population(&desc->populations[i], i, L, &pd[i], err));
        n_input += desc->populations[i].kind == SNN_KIND_INPUT;
    }
    RETURN_ERROR_IF(n_input != 1, err, SNN_E_GRAPH, -1, -1,
                    "a network has exactly one input population, found %d", (int)n_input);
    RETURN_ERROR_IF(desc->input < 0 || desc->input >= desc->n_populations ||
                    desc->populations[desc->input].kind != SNN_KIND_INPUT,
                    err, SNN_E_GRAPH, -1, -1, "input %d is not the input population", (int)desc->input);
    RETURN_ERROR_IF(desc->output < 0 || desc->output >= desc->n_populations, err, SNN_E_GRAPH, -1,
                    -1, "output %d names no population", (int)desc->output);
    out = &desc->populations[desc->output];
    RETURN_ERROR_IF(out->kind != SNN_KIND_IF && out->kind != SNN_KIND_ACCUMULATE, err, SNN_E_GRAPH,
                    desc->output, -1, "the output population must be IF or accumulate");
    *wfloats = 0;
    for (i = 0; i < desc->n_projections; i++) {
        int64_t w = 0;
        FORWARD_IF_ERROR(check_projection(desc, i, pd, L, &w, err));
        *wfloats += w; /* each term < 2^31, at most 2^14 terms: no overflow */
    }
    return SNN_OK;
}

/* ---- layout ------------------------------------------------------------ */

static uint64_t align_up(uint64_t v) { return (v + SNN_ALIGN - 1) & ~(uint64_t)(SNN_ALIGN - 1); }

/* Reserves `bytes` in a state's workspace and returns the offset. */
static size_t reserve(uint64_t *cursor, uint64_t bytes)
{
    size_t off = (size_t)*cursor;
    *cursor = align_up(*cursor + bytes);
    return off;
}

static void plan_state(snn_net *net, uint64_t *total)
{
    int32_t i;
    uint64_t cur = align_up(sizeof(struct snn_state));
    const snn_pop *in = &net->pops[net->input];
    net->off_x = reserve(&cur, 4 * (uint64_t)in->n);
    net->off_phase = reserve(&cur, 4 * (uint64_t)in->n);
    net->off_spikes = reserve(&cur, 8 * (uint64_t)net->n_pop);
    net->off_synops = reserve(&cur, 8 * (uint64_t)net->n_proj);
    for (i = 0; i < net->n_pop; i++) {
        snn_pop *p = &net->pops[i];
        uint64_t n = (uint64_t)p->n;
        if (p->kind != SNN_KIND_INPUT) p->off_acc = reserve(&cur, 4 * n);
        if (p->has_const) p->off_const = reserve(&cur, 4 * n);
        if (p->has_queue) {
            p->off_qidx = reserve(&cur, 4 * n);
            p->off_qval = reserve(&cur, 4 * n);
        }
        if (p->has_index) {
            p->off_first = reserve(&cur, 4 * (uint64_t)(p->H * p->W));
            p->off_end = reserve(&cur, 4 * (uint64_t)(p->H * p->W));
        }
        if (i == net->output && p->kind == SNN_KIND_IF) p->off_count = reserve(&cur, 4 * n);
        if (p->ahead) {
            const uint64_t slot = (uint64_t)net->pops[net->projs[p->fold_proj].target].n;
            p->off_ahead = reserve(&cur, 4 * slot * (uint64_t)p->ahead +
                                             16 * (uint64_t)p->ahead * SNN_MAX_TEAM);
        }
    }
    *total = cur;
}

/* ---- copying the arrays into the engine's layout ------------------------ */

static int64_t hwc_index(const snn_pop *p, int64_t chw)
{
    int64_t hw = p->H * p->W, c = chw / hw, pos = chw % hw;
    return pos * p->C + c;
}

static float *copy_per_channel(snn_net *net, const float *v, int64_t len, int64_t C)
{
    int64_t c;
    float *dst = net_alloc(net, (size_t)C * sizeof(float));
    if (dst == NULL) return NULL;
    for (c = 0; c < C; c++) dst[c] = v[len == 1 ? 0 : c];
    return dst;
}

static int build_population(snn_net *net, const snn_population_desc *d, snn_pop *p,
                            const dims *pd)
{
    int64_t i;
    p->kind = d->kind;
    p->C = pd->C; p->H = pd->H; p->W = pd->W; p->n = pd->n;
    p->has_queue = d->kind != SNN_KIND_ACCUMULATE;
    if (d->kind == SNN_KIND_IF) {
        p->reset = d->reset;
        p->v_init = d->v_init;
        p->is_signed = d->is_signed != 0;
        if ((p->theta = copy_per_channel(net, d->threshold, d->threshold_len, p->C)) == NULL)
            return SNN_E_NOMEM;
        if (p->is_signed &&
            (p->theta_neg = copy_per_channel(net, d->threshold_neg, d->threshold_neg_len, p->C)) == NULL)
            return SNN_E_NOMEM;
    }
    if (d->bias_len > 0) {
        if ((p->bias = net_alloc(net, (size_t)p->n * sizeof(float))) == NULL) return SNN_E_NOMEM;
        for (i = 0; i < p->n; i++)
            p->bias[hwc_index(p, i)] = d->bias_len == p->n ? d->bias[i] : d->bias[i / (p->H * p->W)];
        p->has_const = 1;
    }
    return SNN_OK;
}

/* For each output row o (0 <= o < out), the (kernel offset, source row) pairs
 * of its window that fall inside the source, 0 <= o * s - p + k < in, in order
 * of k (the same for columns). */
static int build_gather_taps(snn_net *net, int64_t in, int64_t out, int32_t ksize, int32_t s,
                             int32_t p, int32_t **start, snn_tap **taps)
{
    int64_t o, k, n = 0, pass;
    for (pass = 0; pass < 2; pass++) {
        n = 0;
        for (o = 0; o < out; o++) {
            if (pass) (*start)[o] = (int32_t)n;
            for (k = 0; k < ksize; k++) {
                const int64_t y = o * s - p + k;
                if (y < 0 || y >= in) continue;
                if (pass) {
                    (*taps)[n].k = (int32_t)k;
                    (*taps)[n].src = (int32_t)y;
                }
                n++;
            }
        }
        if (!pass) {
            *start = net_alloc(net, (size_t)(out + 1) * sizeof(int32_t));
            *taps = net_alloc(net, (size_t)(n ? n : 1) * sizeof(snn_tap));
            if (*start == NULL || *taps == NULL) return SNN_E_NOMEM;
        }
    }
    (*start)[out] = (int32_t)n;
    return SNN_OK;
}

static int build_projection(snn_net *net, const snn_projection_desc *d, snn_proj *q)
{
    const snn_pop *src = &net->pops[d->source], *dst = &net->pops[d->target];
    int64_t i, o;
    q->op = d->op;
    q->source = d->source;
    q->target = d->target;
    q->kh = d->kernel[0]; q->kw = d->kernel[1];
    q->sh = d->stride[0]; q->sw = d->stride[1];
    q->ph = d->padding[0]; q->pw = d->padding[1];
    if (d->op == SNN_OP_CONV2D || d->op == SNN_OP_AVGPOOL2D) {
        FORWARD_IF_ERROR(build_gather_taps(net, src->H, dst->H, q->kh, q->sh, q->ph,
                                           &q->grow_start, &q->grow_taps));
        FORWARD_IF_ERROR(build_gather_taps(net, src->W, dst->W, q->kw, q->sw, q->pw,
                                           &q->gcol_start, &q->gcol_taps));
    }
    switch (d->op) {
    case SNN_OP_CONV2D: {
        int64_t Co = dst->C, Ci = src->C, kh = q->kh, kw = q->kw, co, ci, ky, kx;
        /* [kw][Ci][kh][Co]: the weight rows one event meets in the kernel rows
         * are adjacent, which the four-row gather reads together (conv2 of the
         * benchmark CNN 0.93x against kernel rows 24 KB apart) */
        q->row_stride = Co;
        q->tap_stride = kh * Co;
        if ((q->w = net_alloc(net, (size_t)(kw * Ci * kh * Co) * sizeof(float))) == NULL)
            return SNN_E_NOMEM;
        for (co = 0; co < Co; co++)
            for (ci = 0; ci < Ci; ci++)
                for (ky = 0; ky < kh; ky++)
                    for (kx = 0; kx < kw; kx++)
                        q->w[ky * q->row_stride + (kx * Ci + ci) * q->tap_stride + co] =
                            d->weight[((co * Ci + ci) * kh + ky) * kw + kx];
        break;
    }
    case SNN_OP_AVGPOOL2D:
        /* one factor per channel: gain / (kh * kw), so an event costs one multiply */
        if ((q->w = net_alloc(net, (size_t)src->C * sizeof(float))) == NULL) return SNN_E_NOMEM;
        for (i = 0; i < src->C; i++)
            q->w[i] = (d->weight_len ? d->weight[i] : 1.0f) / (float)((int64_t)q->kh * q->kw);
        break;
    case SNN_OP_DENSE: {
        int64_t out = dst->n, in = src->n;
        if ((q->w = net_alloc(net, (size_t)d->weight_len * sizeof(float))) == NULL) return SNN_E_NOMEM;
        for (o = 0; o < out; o++)
            for (i = 0; i < in; i++) q->w[hwc_index(src, i) * out + o] = d->weight[o * in + i];
        break;
    }
    case SNN_OP_IDENTITY:
        if ((q->w = net_alloc(net, (size_t)src->C * sizeof(float))) == NULL) return SNN_E_NOMEM;
        for (i = 0; i < src->C; i++) q->w[i] = d->weight_len ? d->weight[i] : 1.0f;
        break;
    }
    return SNN_OK;
}

/* Outgoing projection lists, and which populations get the analog input's current. */
static int link_projections(snn_net *net)
{
    int32_t j, i;
    for (j = 0; j < net->n_proj; j++) {
        net->pops[net->projs[j].source].n_out++;
        if (net->projs[j].source == net->input) net->pops[net->projs[j].target].has_const = 1;
        if (net->projs[j].op == SNN_OP_CONV2D || net->projs[j].op == SNN_OP_AVGPOOL2D)
            net->pops[net->projs[j].source].has_index = 1;
    }
    for (i = 0; i < net->n_pop; i++) {
        snn_pop *p = &net->pops[i];
        if (p->n_out && (p->out_proj = net_alloc(net, (size_t)p->n_out * sizeof(int32_t))) == NULL)
            return SNN_E_NOMEM;
        p->n_out = 0;
    }
    for (j = 0; j < net->n_proj; j++) {
        snn_pop *p = &net->pops[net->projs[j].source];
        p->out_proj[p->n_out++] = j;
    }
    return SNN_OK;
}

/* Folds into an IF population's threshold pass (snn_fold) its first outgoing
 * avgpool2d whose windows do not overlap (stride = kernel, no padding) and
 * whose target receives nothing else and is not an accumulator: the pass then
 * adds each spike to its window's target as it fires, instead of queueing it for
 * the pool's gather; the same float operations in the same order. */
static int fold_pools(snn_net *net)
{
    int32_t i, j, k;
    for (i = 0; i < net->n_pop; i++) net->pops[i].fold_proj = -1;
    for (i = 0; i < net->n_pop; i++) {
        snn_pop *p = &net->pops[i];
        if (p->kind != SNN_KIND_IF) continue;
        for (k = 0; k < p->n_out && p->fold_proj < 0; k++) {
            const snn_proj *q = &net->projs[p->out_proj[k]];
            const snn_pop *t = &net->pops[q->target];
            int32_t fed = 0;
            int64_t y, x;
            if (q->op != SNN_OP_AVGPOOL2D || q->kh != q->sh || q->kw != q->sw || q->ph != 0 ||
                q->pw != 0 || t->kind == SNN_KIND_ACCUMULATE)
                continue;
            for (j = 0; j < net->n_proj; j++) fed += net->projs[j].target == q->target;
            if (fed != 1) continue;
            if ((p->fold_tpos = net_alloc(net, (size_t)(p->H * p->W) * sizeof(int32_t))) == NULL)
                return SNN_E_NOMEM;
            for (y = 0; y < p->H; y++)
                for (x = 0; x < p->W; x++) {
                    const int64_t ty = y / q->sh, tx = x / q->sw;
                    p->fold_tpos[y * p->W + x] =
                        ty < t->H && tx < t->W ? (int32_t)(ty * t->W + tx) : -1;
                }
            p->fold_proj = p->out_proj[k];
        }
    }
    return SNN_OK;
}

/* Which IF populations may run ahead (snn_ahead, run.c): fed by the input
 * alone (so, under analog input, by a constant current), not the output, and
 * read by their folded pool alone, whose target is a relay (it starts each step
 * from zero, as a slot does). */
static void plan_ahead(snn_net *net)
{
    int32_t i, j;
    for (i = 0; i < net->n_pop; i++) net->pops[i].ahead_src = -1;
    for (i = 0; i < net->n_pop; i++) {
        snn_pop *p = &net->pops[i];
        int only_input = 1;
        if (p->kind != SNN_KIND_IF || i == net->output || p->fold_proj < 0 || p->n_out != 1 ||
            !p->has_const)
            continue;
        for (j = 0; j < net->n_proj; j++)
            if (net->projs[j].target == i && net->projs[j].source != net->input) only_input = 0;
        if (!only_input || net->pops[net->projs[p->fold_proj].target].kind != SNN_KIND_RELAY)
            continue;
        p->ahead = SNN_AHEAD_STEPS;
        net->pops[net->projs[p->fold_proj].target].ahead_src = i;
    }
}

static int build(snn_net *net, const snn_net_desc *desc, const dims *pd, int32_t *scratch,
                 snn_error *err)
{
    int32_t i, j;
    net->n_pop = desc->n_populations;
    net->n_proj = desc->n_projections;
    net->input = desc->input;
    net->output = desc->output;
    net->isa = desc->isa != SNN_ISA_AUTO ? desc->isa
               : snn__cpu_has_avx512()   ? SNN_ISA_AVX512
               : snn__cpu_has_avx2()     ? SNN_ISA_AVX2
                                         : SNN_ISA_GENERIC;
    net->scatter = snn__scatter_kernel(net->isa);
    snn__neuron_kernels(net->isa, &net->fire, &net->relay, &net->fire_ahead);
    net->pops = net_alloc(net, (size_t)net->n_pop * sizeof(snn_pop));
    net->projs = net_alloc(net, (size_t)(net->n_proj ? net->n_proj : 1) * sizeof(snn_proj));
    net->order = net_alloc(net, (size_t)net->n_pop * sizeof(int32_t));
    RETURN_ERROR_IF(!net->pops || !net->projs || !net->order, err, SNN_E_NOMEM, -1, -1,
                    "out of memory building the network");
    FORWARD_IF_ERROR(topological_order(desc, scratch, net->order, err));
    for (i = 0; i < net->n_pop; i++)
        RETURN_ERROR_IF(build_population(net, &desc->populations[i], &net->pops[i], &pd[i]) != SNN_OK,
                        err, SNN_E_NOMEM, i, -1, "out of memory copying a population");
    for (j = 0; j < net->n_proj; j++)
        RETURN_ERROR_IF(build_projection(net, &desc->projections[j], &net->projs[j]) != SNN_OK, err,
                        SNN_E_NOMEM, -1, j, "out of memory repacking weights");
    RETURN_ERROR_IF(link_projections(net) != SNN_OK, err, SNN_E_NOMEM, -1, -1, "out of memory");
    RETURN_ERROR_IF(fold_pools(net) != SNN_OK, err, SNN_E_NOMEM, -1, -1, "out of memory");
    plan_ahead(net);
    return SNN_OK;
}

snn_net *snn_net_create(const snn_net_desc *desc, snn_error *err)
{
    snn_limits L;
    snn_allocator a;
    snn_net *net;
    dims *pd = NULL;
    int32_t *scratch = NULL;
    int64_t wfloats = 0;
    uint64_t state_bytes = 0;
    int status;

    if (err) { err->status = SNN_OK; err->population = err->projection = -1; err->message[0] = 0; }
    if (desc == NULL) {
        snn__set_error(err, SNN_E_INVALID_ARG, -1, -1, "desc is NULL");
        return NULL;
    }
    snn_get_limits(&L);
    a.alloc = default_alloc; a.free = default_free; a.opaque = NULL;
    if (desc->allocator) {
        if (!desc->allocator->alloc || !desc->allocator->free) {
            snn__set_error(err, SNN_E_INVALID_ARG, -1, -1, "allocator lacks alloc or free");
            return NULL;
        }
        a = *desc->allocator;
    }
    if (desc->n_populations < 1 || desc->n_populations > L.max_populations) {
        snn__set_error(err, SNN_E_LIMIT, -1, -1, "population count %d outside 1..%lld",
                       (int)desc->n_populations, (long long)L.max_populations);
        return NULL;
    }
    pd = a.alloc(a.opaque, (size_t)desc->n_populations * sizeof *pd);
    scratch = a.alloc(a.opaque, (size_t)desc->n_populations * (sizeof(int32_t) + 1));
    net = a.alloc(a.opaque, sizeof *net);
    if (!pd || !scratch || !net) {
        a.free(a.opaque, pd); a.free(a.opaque, scratch); a.free(a.opaque, net);
        snn__set_error(err, SNN_E_NOMEM, -1, -1, "out of memory");
        return NULL;
    }
    memset(net, 0, sizeof *net);
    net->alloc = a;
    status = check_desc(desc, &L, pd, &wfloats, err);
    if (status == SNN_OK) status = build(net, desc, pd, scratch, err);
    if (status == SNN_OK) {
        plan_state(net, &state_bytes);
        if ((uint64_t)wfloats * 4 + state_bytes > (uint64_t)L.max_bytes) {
            snn__set_error(err, SNN_E_LIMIT, -1, -1,
                           "the network needs %llu bytes, more than the limit of %lld",
                           (unsigned long long)((uint64_t)wfloats * 4 + state_bytes),
                           (long long)L.max_bytes);
            status = SNN_E_LIMIT;
        }
        net->state_size = (size_t)state_bytes;
    }
    a.free(a.opaque, pd);
    a.free(a.opaque, scratch);
    if (status != SNN_OK) {
        snn_net_free(net);
        return NULL;
    }
    return net;
}

/* ---- queries ------------------------------------------------------------ */

int32_t snn_net_n_populations(const snn_net *net) { return net ? net->n_pop : 0; }
int32_t snn_net_isa(const snn_net *net) { return net ? net->isa : 0; }
int32_t snn_net_n_projections(const snn_net *net) { return net ? net->n_proj : 0; }

int64_t snn_net_population_size(const snn_net *net, int32_t pop)
{
    if (net == NULL || pop < 0 || pop >= net->n_pop) return -1;
    return net->pops[pop].n;
}

int64_t snn_net_input_size(const snn_net *net) { return net ? net->pops[net->input].n : -1; }
int64_t snn_net_output_size(const snn_net *net) { return net ? net->pops[net->output].n : -1; }

int snn_net_order(const snn_net *net, int32_t *order, int32_t capacity)
{
    if (net == NULL || order == NULL) return SNN_E_INVALID_ARG;
    if (capacity < net->n_pop) return SNN_E_CAPACITY;
    memcpy(order, net->order, (size_t)net->n_pop * sizeof *order);
    return SNN_OK;
}
