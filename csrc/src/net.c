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


/* A zeroed block owned by the net, freed by snn_net_free, aligned to SNN_ALIGN
 * (a cache line), so that a weight row that starts a cache line is read as whole
 * lines. blocks[] keeps what the allocator returned, for freeing. */
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
        if (p->kind != SNN_KIND_INPUT) p->off_acc = reserve(&cur, 4 * n * (p->retract ? 2 : 1));
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
        if (p->has_fired) p->off_fired = reserve(&cur, 4 * n);
        if (p->ahead) {
            const uint64_t slot = (uint64_t)net->pops[net->projs[p->fold_proj].target].n;
            p->off_ahead = reserve(&cur, 4 * slot * (uint64_t)p->ahead +
                                             16 * (uint64_t)p->ahead * SNN_MAX_THREADS);
        }
    }
    for (i = 0; i < net->n_proj; i++)
        if (net->projs[i].op == SNN_OP_MAXPOOL2D)
            net->projs[i].off_best = reserve(&cur, 4 * (uint64_t)net->pops[net->projs[i].target].n);
    *total = cur;
}

/* ---- copying the arrays into the engine's layout ------------------------ */

static int64_t hwc_index(const snn_pop *p, int64_t chw)
{
    int64_t hw = p->H * p->W, c = chw / hw, pos = chw % hw;
    return pos * p->C + c;
}

/* One value per channel from an array of 1 or C values. */
static float *copy_per_channel(snn_net *net, const snn_array *v, int64_t C)
{
    int64_t c;
    float *dst = net_alloc(net, (size_t)C * sizeof(float));
    if (dst == NULL) return NULL;
    for (c = 0; c < C; c++) dst[c] = v->data[v->shape[0] == 1 ? 0 : c];
    return dst;
}

static int build_population(snn_net *net, const snn_population_desc *d, snn_pop *p,
                            const snn__dims *pd)
{
    int64_t i;
    p->kind = d->kind;
    p->C = pd->C; p->H = pd->H; p->W = pd->W; p->n = pd->n;
    p->has_queue = d->kind != SNN_KIND_ACCUMULATE;
    if (d->kind == SNN_KIND_IF) {
        p->reset = d->reset;
        p->v_init = d->v_init;
        p->is_signed = d->is_signed != 0;
        p->retract = d->retract != 0;
        if ((p->theta = copy_per_channel(net, &d->threshold, p->C)) == NULL) return SNN_E_NOMEM;
        if (p->is_signed && (p->theta_neg = copy_per_channel(net, &d->threshold_neg, p->C)) == NULL)
            return SNN_E_NOMEM;
    }
    if (d->bias.ndim > 0) {
        /* per channel (C,), or per neuron in the population's own shape */
        const int per_neuron = !(d->bias.ndim == 1 && d->bias.shape[0] == p->C) || p->n == p->C;
        if ((p->bias = net_alloc(net, (size_t)p->n * sizeof(float))) == NULL) return SNN_E_NOMEM;
        for (i = 0; i < p->n; i++)
            p->bias[hwc_index(p, i)] = per_neuron ? d->bias.data[i] : d->bias.data[i / (p->H * p->W)];
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
    q->kh = d->op == SNN_OP_CONV2D ? (int32_t)d->weight.shape[2] : d->kernel[0];
    q->kw = d->op == SNN_OP_CONV2D ? (int32_t)d->weight.shape[3] : d->kernel[1];
    q->sh = d->stride[0]; q->sw = d->stride[1];
    q->ph = d->padding[0]; q->pw = d->padding[1];
    if (d->op == SNN_OP_UPSAMPLE2D) {
        q->sh = d->scale[0];
        q->sw = d->scale[1];
    }
    if (snn__windowed(d->op)) {
        FORWARD_IF_ERROR(build_gather_taps(net, src->H, dst->H, q->kh, q->sh, q->ph,
                                           &q->grow_start, &q->grow_taps));
        FORWARD_IF_ERROR(build_gather_taps(net, src->W, dst->W, q->kw, q->sw, q->pw,
                                           &q->gcol_start, &q->gcol_taps));
    }
    switch (d->op) {
    case SNN_OP_CONV2D: {
        const int64_t G = d->groups > 1 ? d->groups : 1;
        const int64_t Co = dst->C, Ci = src->C, Cog = Co / G, Cig = Ci / G;
        const int64_t kh = q->kh, kw = q->kw;
        int64_t co, j, ky, kx;
        q->groups = G;
        if (G == 1) {
            /* [kw][Ci][kh][Co]: the weight rows one event meets in the kernel rows
             * are adjacent, which the four-row gather reads together */
            q->row_stride = Co;
            q->tap_stride = kh * Co;
        } else {
            /* [kh][kw][Ci][Co / G]: input channel ci holds the rows of its group's
             * Cog outputs alone; for a depthwise conv (Cig = 1) a tap's weights
             * are then Co floats in output order, as its dense kernel reads them */
            q->row_stride = kw * Ci * Cog;
            q->tap_stride = Cog;
        }
        if ((q->w = net_alloc(net, (size_t)(kw * Ci * kh * Cog) * sizeof(float))) == NULL)
            return SNN_E_NOMEM;
        /* both layouts: tap (ky, kx) of input channel ci starts at
         * ky * row_stride + (kx * Ci + ci) * tap_stride, its group's outputs after it */
        for (co = 0; co < Co; co++)
            for (j = 0; j < Cig; j++) {
                const int64_t ci = co / Cog * Cig + j;      /* weight column j's input channel */
                for (ky = 0; ky < kh; ky++)
                    for (kx = 0; kx < kw; kx++)
                        q->w[ky * q->row_stride + (kx * Ci + ci) * q->tap_stride + co % Cog] =
                            d->weight.data[((co * Cig + j) * kh + ky) * kw + kx];
            }
        break;
    }
    case SNN_OP_AVGPOOL2D:
        /* one factor per channel: gain / (kh * kw), so an event costs one multiply */
        if ((q->w = net_alloc(net, (size_t)src->C * sizeof(float))) == NULL) return SNN_E_NOMEM;
        for (i = 0; i < src->C; i++)
            q->w[i] = (d->weight.ndim ? d->weight.data[i] : 1.0f) / (float)((int64_t)q->kh * q->kw);
        break;
    case SNN_OP_DENSE: {
        int64_t out = dst->n, in = src->n;
        if ((q->w = net_alloc(net, (size_t)(out * in) * sizeof(float))) == NULL) return SNN_E_NOMEM;
        for (o = 0; o < out; o++)
            for (i = 0; i < in; i++) q->w[hwc_index(src, i) * out + o] = d->weight.data[o * in + i];
        break;
    }
    case SNN_OP_IDENTITY:
    case SNN_OP_MAXPOOL2D:
    case SNN_OP_UPSAMPLE2D:
        if ((q->w = net_alloc(net, (size_t)src->C * sizeof(float))) == NULL) return SNN_E_NOMEM;
        for (i = 0; i < src->C; i++) q->w[i] = d->weight.ndim ? d->weight.data[i] : 1.0f;
        q->by_c = snn__divider(src->C);
        break;
    }
    return SNN_OK;
}

/* Outgoing projection lists, and which populations get the analog input's current. */
static int link_projections(snn_net *net)
{
    int32_t j, i;
    for (i = 0; i < net->n_pop; i++) net->pops[i].input_only = 1;
    for (j = 0; j < net->n_proj; j++) {
        net->pops[net->projs[j].source].n_out++;
        if (net->projs[j].source == net->input) net->pops[net->projs[j].target].has_const = 1;
        else net->pops[net->projs[j].target].input_only = 0;
        if (snn__by_rows(net->projs[j].op))
            net->pops[net->projs[j].source].has_index = 1;
        if (net->projs[j].op == SNN_OP_MAXPOOL2D) net->pops[net->projs[j].source].has_fired = 1;
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
        /* a retracting population's pass keeps net counts that the folded passes do not */
        if (p->kind != SNN_KIND_IF || p->retract) continue;
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
    int32_t i;
    for (i = 0; i < net->n_pop; i++) net->pops[i].ahead_src = -1;
    for (i = 0; i < net->n_pop; i++) {
        snn_pop *p = &net->pops[i];
        if (p->kind != SNN_KIND_IF || i == net->output || p->fold_proj < 0 || p->n_out != 1 ||
            !p->has_const || !p->input_only ||
            net->pops[net->projs[p->fold_proj].target].kind != SNN_KIND_RELAY)
            continue;
        p->ahead = SNN_AHEAD_STEPS;
        net->pops[net->projs[p->fold_proj].target].ahead_src = i;
    }
}

static int build(snn_net *net, const snn_net_desc *desc, const snn__dims *pd, snn_error *err)
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
    snn__synaptic_kernels(net->isa, &net->scatter, &net->maxpool_pixel);
    snn__neuron_kernels(net->isa, &net->fire, &net->relay, &net->fire_ahead);
    net->pops = net_alloc(net, (size_t)net->n_pop * sizeof(snn_pop));
    net->projs = net_alloc(net, (size_t)(net->n_proj ? net->n_proj : 1) * sizeof(snn_proj));
    RETURN_ERROR_IF(!net->pops || !net->projs, err, SNN_E_NOMEM, -1, -1,
                    "out of memory building the network");
    for (i = 0; i < net->n_pop; i++)
        RETURN_ERROR_IF(build_population(net, &desc->populations[i], &net->pops[i], &pd[i]) != SNN_OK,
                        err, SNN_E_NOMEM, i, -1, "out of memory copying a population");
    for (j = 0; j < net->n_proj; j++)
        RETURN_ERROR_IF(build_projection(net, &desc->projections[j], &net->projs[j]) != SNN_OK, err,
                        SNN_E_NOMEM, -1, j, "out of memory repacking weights");
    RETURN_ERROR_IF(link_projections(net) != SNN_OK, err, SNN_E_NOMEM, -1, -1, "out of memory");
    RETURN_ERROR_IF(fold_pools(net) != SNN_OK, err, SNN_E_NOMEM, -1, -1, "out of memory");
    plan_ahead(net);
    {
        snn_limits L;
        snn_get_limits(&L);
        net->max_steps = L.max_timesteps;
        for (i = 0; i < net->n_pop; i++)
            if (net->pops[i].retract && net->max_steps > SNN_RETRACT_MAX_STEPS)
                net->max_steps = SNN_RETRACT_MAX_STEPS;
    }
    return SNN_OK;
}

snn_net *snn_net_create(const snn_net_desc *desc, snn_error *err)
{
    snn_allocator a;
    snn_net *net = NULL;
    snn__dims *pd = NULL;
    uint64_t state_bytes = 0;
    int status;

    status = snn__check_counts(desc, err);     /* before the counts size anything */
    if (status != SNN_OK) return NULL;
    a = desc->allocator ? *desc->allocator : snn__default_allocator();
    pd = a.alloc(a.opaque, (size_t)desc->n_populations * sizeof *pd);
    net = a.alloc(a.opaque, sizeof *net);
    if (pd == NULL || net == NULL) {
        a.free(a.opaque, pd);
        a.free(a.opaque, net);
        snn__set_error(err, SNN_E_NOMEM, -1, -1, "out of memory");
        return NULL;
    }
    memset(net, 0, sizeof *net);
    net->alloc = a;
    net->order = net_alloc(net, (size_t)desc->n_populations * sizeof(int32_t));
    if (net->order == NULL) {
        snn__set_error(err, SNN_E_NOMEM, -1, -1, "out of memory");
        status = SNN_E_NOMEM;
    }
    if (status == SNN_OK) status = snn__check(desc, 1, pd, net->order, err);
    if (status == SNN_OK) status = build(net, desc, pd, err);
    if (status == SNN_OK) {
        plan_state(net, &state_bytes);     /* within the bound that snn__check checked */
        net->state_size = (size_t)state_bytes;
    }
    a.free(a.opaque, pd);
    if (status != SNN_OK) {
        snn_net_free(net);
        return NULL;
    }
    return net;
}

/* ---- queries ------------------------------------------------------------ */

int32_t snn_net_n_populations(const snn_net *net) { return net ? net->n_pop : 0; }
int32_t snn_net_isa(const snn_net *net) { return net ? net->isa : 0; }
int64_t snn_net_max_timesteps(const snn_net *net) { return net ? net->max_steps : 0; }
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
