/*
 * Running a network: per-image state, the encoders, one timestep, checkpoints.
 * The semantics are those of docs/format.md, "Semantics of one run".
 */
#include "internal.h"

#include <math.h>
#include <string.h>
#include <time.h>

/* ---- run settings -------------------------------------------------------- */

int snn__check_config(const snn_net *net, const snn_run_config *cfg, snn_error *err)
{
    snn_limits L;
    int32_t c;
    snn_get_limits(&L);
    RETURN_ERROR_IF(net == NULL || cfg == NULL, err, SNN_E_INVALID_ARG, -1, -1,
                    "network or run config is NULL");
    RETURN_ERROR_IF(cfg->timesteps < 1 || cfg->timesteps > net->max_steps, err,
                    SNN_E_INVALID_ARG, -1, -1, "timesteps must be in 1..%lld%s, got %d",
                    (long long)net->max_steps,
                    net->max_steps < L.max_timesteps
                        ? " for a network of retracting neurons (their net spike counts are "
                          "exact up to there)" : "",
                    (int)cfg->timesteps);
    RETURN_ERROR_IF(cfg->encoding < SNN_ENCODING_ANALOG || cfg->encoding > SNN_ENCODING_REGULAR,
                    err, SNN_E_UNSUPPORTED, -1, -1, "unknown encoding %d", (int)cfg->encoding);
    RETURN_ERROR_IF(!isfinite(cfg->rate) || !(cfg->rate > 0.0), err, SNN_E_INVALID_ARG, -1, -1,
                    "rate must be finite and > 0, got %g", cfg->rate);
    RETURN_ERROR_IF(cfg->readout_start < 0 || cfg->readout_start > cfg->timesteps, err,
                    SNN_E_INVALID_ARG, -1, -1, "readout_start must be in 0..%d, got %d",
                    (int)cfg->timesteps, (int)cfg->readout_start);
    RETURN_ERROR_IF(cfg->n_checkpoints < 0 || (cfg->n_checkpoints > 0 && cfg->checkpoints == NULL),
                    err, SNN_E_INVALID_ARG, -1, -1, "checkpoints is NULL or has a negative count");
    for (c = 0; c < cfg->n_checkpoints; c++) {
        int32_t prev = c ? cfg->checkpoints[c - 1] : 0;
        RETURN_ERROR_IF(cfg->checkpoints[c] <= prev || cfg->checkpoints[c] > cfg->timesteps, err,
                        SNN_E_INVALID_ARG, -1, -1,
                        "checkpoints must increase strictly within 1..%d (checkpoint %d is %d)",
                        (int)cfg->timesteps, (int)c, (int)cfg->checkpoints[c]);
    }
    return SNN_OK;
}

/* ---- states -------------------------------------------------------------- */

size_t snn_state_size(const snn_net *net) { return net ? net->state_size + SNN_ALIGN : 0; }

snn_state *snn_state_init_static(const snn_net *net, void *workspace, size_t size, int *status)
{
    unsigned char *base;
    snn_state *s;
    if (status) *status = SNN_OK;
    if (net == NULL || workspace == NULL) {
        if (status) *status = SNN_E_INVALID_ARG;
        return NULL;
    }
    if (size < snn_state_size(net)) {
        if (status) *status = SNN_E_CAPACITY;
        return NULL;
    }
    /* The layout's offsets assume a SNN_ALIGN-aligned base; the spare SNN_ALIGN
     * bytes counted by snn_state_size pay for aligning an arbitrary workspace. */
    base = (unsigned char *)workspace +
           (SNN_ALIGN - (uintptr_t)workspace % SNN_ALIGN) % SNN_ALIGN;
    memset(base, 0, net->state_size);
    s = (snn_state *)base;
    s->net = net;
    s->base = base;
    s->x = snn__at(s, net->off_x);
    s->phase = snn__at(s, net->off_phase);
    s->spikes = snn__at(s, net->off_spikes);
    s->synops = snn__at(s, net->off_synops);
    s->rate = 1.0;
    return s;
}

snn_state *snn_state_create(const snn_net *net, int *status)
{
    void *mem;
    snn_state *s;
    if (net == NULL) {
        if (status) *status = SNN_E_INVALID_ARG;
        return NULL;
    }
    mem = net->alloc.alloc(net->alloc.opaque, snn_state_size(net));
    if (mem == NULL) {
        if (status) *status = SNN_E_NOMEM;
        return NULL;
    }
    s = snn_state_init_static(net, mem, snn_state_size(net), status);
    s->allocation = mem;
    return s;
}

void snn_state_free(snn_state *state)
{
    if (state == NULL || state->allocation == NULL) return;
    state->net->alloc.free(state->net->alloc.opaque, state->allocation);
}

/* ---- encoders ------------------------------------------------------------ */

/* SplitMix64's finaliser: the counter-based random numbers of poisson input. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

#define GOLDEN UINT64_C(0x9E3779B97F4A7C15)
#define PIXEL_STRIDE UINT64_C(0xD1B54A32D192ED03)

static double spike_probability(float x, double rate)
{
    double p = (double)x * rate;
    return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
}

/* Fills the input's queue with this step's spikes; returns their number. The
 * random stream is indexed by the pixel's CHW index so that it does not depend
 * on the engine's internal layout. */
static int64_t encode_input(snn_state *s)
{
    const snn_net *net = s->net;
    const snn_pop *in = &net->pops[net->input];
    int32_t *qi = snn__at(s, in->off_qidx);
    float *qv = snn__at(s, in->off_qval);
    const int64_t C = in->C, HW = in->H * in->W;
    int64_t pos, c, n = 0;
    if (s->encoding == SNN_ENCODING_POISSON) {
        const uint64_t s_step = mix64(mix64(s->seed + GOLDEN * (uint64_t)(s->image + 1)) +
                                      GOLDEN * (uint64_t)s->t);
        for (pos = 0; pos < HW; pos++)
            for (c = 0; c < C; c++) {
                const int64_t i = pos * C + c;
                const uint64_t chw = (uint64_t)(c * HW + pos);
                const uint64_t u24 = mix64(s_step + PIXEL_STRIDE * (chw + 1)) >> 40;
                if ((double)u24 < spike_probability(s->x[i], s->rate) * 16777216.0) {
                    qi[n] = (int32_t)i;
                    qv[n++] = 1.0f;
                }
            }
    } else {
        const int64_t total = C * HW;
        int64_t i;
        for (i = 0; i < total; i++) {
            float ph = s->phase[i] + (float)spike_probability(s->x[i], s->rate);
            if (ph >= 1.0f) {
                ph -= 1.0f;
                qi[n] = (int32_t)i;
                qv[n++] = 1.0f;
            }
            s->phase[i] = ph;
        }
    }
    return n;
}

/* ---- profile ------------------------------------------------------------ */

/* Nanoseconds on a monotonic clock (0 where there is none). */
static int64_t clock_ns(void)
{
#if defined(CLOCK_MONOTONIC)
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
#endif
    return 0;
}

/* The start of a timed section when the run is profiled, else 0. */
static int64_t profile_start(const snn_state *s)
{
    return s->profile_ns ? clock_ns() : 0;
}

/* Adds the time since `start` to profile counter k (team members add at once). */
static void profile_add(const snn_state *s, int64_t k, int64_t start)
{
    if (s->profile_ns) __atomic_fetch_add(&s->profile_ns[k], clock_ns() - start, __ATOMIC_RELAXED);
}

/* ---- one timestep -------------------------------------------------------- *
 *
 * A step runs on a team of threads that share one state (snn_team, team.c): the
 * threshold pass splits a population's positions into contiguous ranges, and each
 * projection's work is split so that the parts write disjoint target neurons. A
 * team of one (snn_state_step) does the same work with no synchronisation. Every
 * neuron sees the same float operations in the same order whatever the team
 * size, so results are bit-identical. */

/* Per position, the first event (first) and one past the last (end) of p's
 * queue, when p feeds a conv2d or avgpool2d; else NULL. */
static int32_t *first_events(snn_state *s, const snn_pop *p)
{
    return p->has_index ? (int32_t *)snn__at(s, p->off_first) : NULL;
}

static int32_t *end_events(snn_state *s, const snn_pop *p)
{
    return p->has_index ? (int32_t *)snn__at(s, p->off_end) : NULL;
}

/* Indexes the input's queue of n_ev events (ascending) by position (IF and
 * relay populations index theirs as they fill them). */
static void index_input(snn_state *s, int64_t n_ev)
{
    const snn_pop *p = &s->net->pops[s->net->input];
    const int32_t *idx = snn__at(s, p->off_qidx);
    int32_t *first = first_events(s, p), *end = end_events(s, p);
    int64_t pos, e = 0;
    if (first == NULL) return;
    for (pos = 0; pos < p->H * p->W; pos++) {
        const int64_t stop = (pos + 1) * p->C;
        first[pos] = (int32_t)e;
        while (e < n_ev && idx[e] < stop) e++;
        end[pos] = (int32_t)e;
    }
}

/* The first row of member `rank`'s share of a population with H rows: the
 * threshold pass and the projections into the population split rows alike. */
static int64_t share_row(int64_t H, int32_t rank, int32_t size)
{
    return H * rank / size;
}

/* Where each team member's events of population p are in its queue (its
 * segments: see snn_events); the input's queue is one segment, filled by
 * member 0. `start` and `len` hold SNN_MAX_THREADS values. */
static snn_events queue_of(snn_state *s, const snn_pop *p, int64_t n_ev, const snn_team *tm,
                           int64_t *start, int64_t *len)
{
    snn_events ev;
    int32_t r;
    ev.idx = snn__at(s, p->off_qidx);
    ev.val = snn__at(s, p->off_qval);
    ev.first = first_events(s, p);
    ev.end = end_events(s, p);
    ev.n = n_ev;
    ev.seg_start = start;
    ev.seg_len = len;
    if (tm->size == 1 || p->kind == SNN_KIND_INPUT) {
        ev.n_seg = 1;
        start[0] = 0;
        len[0] = n_ev;
        return ev;
    }
    ev.n_seg = tm->size;
    for (r = 0; r < tm->size; r++) {
        start[r] = share_row(p->H, r, tm->size) * p->W * p->C;
        len[r] = *snn__team_count(tm, s->net->n_pop, p - s->net->pops, r);
    }
    return ev;
}

/* Whether the members may go on without meeting after their parts of p's k-th
 * outgoing projection: a conv2d or pool part writes the rows of the target
 * whose threshold or relay pass the same member runs next, so nothing needs to
 * wait, unless a later projection of p writes the same target split otherwise
 * (a junction fed twice by p) or the target accumulates (member 0 reads it
 * whole). */
static int rows_stay_with_member(const snn_net *net, const snn_pop *p, int32_t k)
{
    const snn_proj *q = &net->projs[p->out_proj[k]];
    int32_t later;
    if (!snn__by_rows(q->op)) return 0;
    if (net->pops[q->target].kind == SNN_KIND_ACCUMULATE) return 0;
    for (later = k + 1; later < p->n_out; later++)
        if (net->projs[p->out_proj[later]].target == q->target) return 0;
    return 1;
}

/* Whether p's folded pool (snn_pop.fold_proj) is applied by its threshold pass
 * in this team: always for a team of one; for a larger team only if each
 * member's band of p's rows covers whole windows and the target rows of those
 * windows are the ones the member passes over next (else the members' bands
 * would write each other's rows), as for 28 rows into 14 on two members. */
static int fold_in_pass(const snn_net *net, const snn_pop *p, const snn_team *tm)
{
    const snn_proj *q;
    int32_t r;
    if (p->fold_proj < 0) return 0;
    if (tm->size == 1) return 1;
    q = &net->projs[p->fold_proj];
    for (r = 1; r < tm->size; r++)
        if (share_row(p->H, r, tm->size) != q->sh * share_row(net->pops[q->target].H, r, tm->size))
            return 0;
    return 1;
}

/* Sends population p's n_ev queued events through its outgoing projections
 * into their targets' membranes, or into their constant currents
 * (`const_current`: the analog input's, computed once per image). Each team
 * member does its part of each projection and counts its synaptic operations
 * in its own counters. */
static void propagate(snn_state *s, const snn_pop *p, int64_t n_ev, int const_current,
                      const snn_team *tm)
{
    const snn_net *net = s->net;
    int64_t start[SNN_MAX_THREADS], len[SNN_MAX_THREADS];
    snn_events ev;
    int32_t k;
    if (n_ev == 0) return;
    ev = queue_of(s, p, n_ev, tm, start, len);
    for (k = 0; k < p->n_out; k++) {
        const int32_t j = p->out_proj[k];
        const snn_proj *q = &net->projs[j];
        const snn_pop *t = &net->pops[q->target];
        float *dst = snn__at(s, const_current ? t->off_const : t->off_acc);
        int64_t started;
        if (j == p->fold_proj && !const_current && fold_in_pass(net, p, tm)) continue;
        started = profile_start(s);
        if (q->op == SNN_OP_MAXPOOL2D)
            tm->synops[j] += snn__maxpool(net, q, &ev, snn__at(s, p->off_fired),
                                          snn__at(s, q->off_best), dst, tm->rank, tm->size);
        else
            tm->synops[j] += net->scatter(net, q, &ev, dst, tm->rank, tm->size);
        profile_add(s, net->n_pop + j, started);
        if (const_current || !rows_stay_with_member(net, p, k)) snn__team_sync(tm);
    }
}

/* Whether p's pass only counts its events: its folded pool, applied by the
 * pass, is its one reader (and it is not the output, whose spikes are read). */
static int counts_only(const snn_net *net, const snn_pop *p, const snn_team *tm)
{
    return fold_in_pass(net, p, tm) && p->n_out == 1 && p - net->pops != net->output;
}

/* Whether IF population p runs ahead in this run (snn_ahead): it may (p->ahead),
 * its constant current is all its input (analog input), and its folded pool
 * is applied by its pass. */
static int runs_ahead(const snn_state *s, const snn_pop *p, const snn_team *tm)
{
    return p->ahead && s->encoding == SNN_ENCODING_ANALOG && fold_in_pass(s->net, p, tm);
}

/* Whether retracting population p never fires -1 in this run: under analog
 * input, fed by the input alone, its neurons integrate a constant current k. A
 * -1 needs a +1 before it; with k <= 0 a neuron, starting at or below its
 * threshold (v_init <= 1), fires +1 at most once, at step 1 with k = 0, which
 * leaves it at 0; with k > 0 it never falls, and a +1 leaves it at u - theta >= 0.
 * Either way it stays above -theta_neg (< 0) once it has fired. */
static int never_retracts(const snn_state *s, const snn_pop *p)
{
    return p->retract && p->input_only && s->encoding == SNN_ENCODING_ANALOG;
}

/* The windows of p's folded pool. */
static snn_windows fold_windows(const snn_net *net, const snn_pop *p)
{
    const snn_proj *q = &net->projs[p->fold_proj];
    snn_windows g;
    g.kh = q->kh;
    g.kw = q->kw;
    g.TH = net->pops[q->target].H;
    g.TW = net->pops[q->target].W;
    return g;
}

/* The floats of one step's slot of p's block (its fold target's size). */
static int64_t ahead_slot(const snn_net *net, const snn_pop *p)
{
    return net->pops[net->projs[p->fold_proj].target].n;
}

/* Slot b of p's block: its fold target's current in that step. */
static float *ahead_current(snn_state *s, const snn_pop *p, int32_t b)
{
    return (float *)snn__at(s, p->off_ahead) + b * ahead_slot(s->net, p);
}

/* Step b of p's block, team member r: its spikes and the fold's synaptic
 * operations. */
static int64_t *ahead_counts(snn_state *s, const snn_pop *p, int32_t b, int32_t r)
{
    int64_t *base = (int64_t *)(void *)ahead_current(s, p, p->ahead);
    return base + 2 * ((int64_t)b * SNN_MAX_THREADS + r);
}

/* p's events this step when it runs ahead: at the first step of a block, the
 * member's rows run the block's steps (each step's pool contributions go to
 * their slot, which the relay pass of that step reads and clears); each step
 * then takes its own counts, so the counters at a checkpoint inside a block are
 * those of the steps run so far. */
static int64_t emit_ahead(snn_state *s, const snn_pop *p, const snn_team *tm, int64_t row0,
                          int64_t row1)
{
    const int32_t b = (tm->t - 1) % p->ahead;
    int64_t *counts;
    if (b == 0) {
        snn_ahead a;
        int32_t t;
        a.dst = ahead_current(s, p, 0);
        a.slot = ahead_slot(s->net, p);
        a.w = s->net->projs[p->fold_proj].w;
        a.tpos = p->fold_tpos;
        a.steps = p->ahead;
        a.win = fold_windows(s->net, p);
        s->net->fire_ahead(p, snn__at(s, p->off_acc), snn__at(s, p->off_const), row0, row1, &a);
        for (t = 0; t < p->ahead; t++) {
            counts = ahead_counts(s, p, t, tm->rank);
            counts[0] = a.spikes[t];
            counts[1] = a.ops[t];
        }
    }
    counts = ahead_counts(s, p, b, tm->rank);
    tm->synops[p->fold_proj] += counts[1];
    return counts[0];
}

/* Adds the n events of a member's queue segment (qi, qv) to p's net counts since
 * the run began, +1 for a positive event and -1 for a negative one (a maxpool2d
 * reads them once the team has met after the pass). */
static void count_fired(snn_state *s, const snn_pop *p, const int32_t *qi, const float *qv,
                        int64_t n)
{
    int32_t *fired = snn__at(s, p->off_fired);
    int64_t e;
    for (e = 0; e < n; e++) fired[qi[e]] += qv[e] > 0.0f ? 1 : -1;
}

/* Returned by emit for a population that a team only counts (below). */
#define SNN_COUNTED_LATER (-1)

/* The threshold pass (fn = net->fire) or relay pass (net->relay) of p: each
 * team member passes over its share of p's rows, writing its events to its own
 * segment of p's queue (and applying p's folded pool, whose time and synaptic
 * operations then count with the pass and the pool respectively); returns the
 * number of events of all members. A population whose only reader is its
 * folded pool writes no queue, and its pool writes the rows of the target that
 * the same member passes over next: a team need not meet after its pass, so
 * each member only leaves its count, summed after the team's next meeting
 * (sum_counted_later), and emit returns SNN_COUNTED_LATER. */
static int64_t emit(snn_state *s, const snn_pop *p, snn_fire_fn fn, const snn_team *tm)
{
    const snn_net *net = s->net;
    const float *K = p->has_const ? (const float *)snn__at(s, p->off_const) : NULL;
    const int64_t row0 = share_row(p->H, tm->rank, tm->size);
    const int64_t row1 = share_row(p->H, tm->rank + 1, tm->size);
    const int64_t index = p - net->pops, started = profile_start(s);
    float *A = snn__at(s, p->off_acc);
    int32_t *qi = snn__at(s, p->off_qidx);
    snn_fold fold, *fp = NULL;
    snn_pop plain;
    int64_t n;
    int32_t r;
    const snn_pop *pass = p;
    if (never_retracts(s, p)) {     /* the plain pass gives the same events and membranes */
        plain = *p;
        plain.is_signed = 0;
        plain.retract = 0;
        pass = &plain;
    }
    if (runs_ahead(s, p, tm)) {
        n = emit_ahead(s, p, tm, row0, row1);
    } else {
        if (p->ahead_src >= 0 && runs_ahead(s, &net->pops[p->ahead_src], tm)) {
            const snn_pop *src = &net->pops[p->ahead_src];
            A = ahead_current(s, src, (tm->t - 1) % src->ahead);  /* this step's slot */
        }
        if (fold_in_pass(net, p, tm)) {     /* only IF populations have a fold */
            const snn_proj *q = &net->projs[p->fold_proj];
            fold.dst = snn__at(s, net->pops[q->target].off_acc);
            fold.w = q->w;
            fold.tpos = p->fold_tpos;
            fold.win = fold_windows(net, p);
            fold.ops = 0;
            fp = &fold;
            if (counts_only(net, p, tm)) qi = NULL;     /* nothing else reads the queue */
        }
        n = fn(pass, A, K, qi, snn__at(s, p->off_qval), first_events(s, p), end_events(s, p),
               row0, row1, fp);
        if (fp) tm->synops[p->fold_proj] += fold.ops;
        if (p->has_fired) {
            const int64_t seg = row0 * p->W * p->C;
            count_fired(s, p, qi + seg, (const float *)snn__at(s, p->off_qval) + seg, n);
        }
    }
    profile_add(s, index, started);
    if (tm->size == 1) return n;
    *snn__team_count(tm, s->net->n_pop, index, tm->rank) = n;
    if (counts_only(net, p, tm)) return SNN_COUNTED_LATER;  /* also every pop that runs ahead */
    snn__team_sync(tm);
    for (n = 0, r = 0; r < tm->size; r++) n += *snn__team_count(tm, s->net->n_pop, index, r);
    return n;
}

static void accumulate(snn_state *s, const snn_pop *p)
{
    float *V = snn__at(s, p->off_acc);
    const float *K = snn__at(s, p->off_const);
    int64_t i;
    if (!p->has_const) return;
    for (i = 0; i < p->n; i++) V[i] += K[i];
}

static void count_output_spikes(snn_state *s, const snn_pop *p, int64_t n_ev, const snn_team *tm)
{
    int32_t *count = snn__at(s, p->off_count);
    int64_t start[SNN_MAX_THREADS], len[SNN_MAX_THREADS], e;
    const snn_events ev = queue_of(s, p, n_ev, tm, start, len);
    int32_t k;
    for (k = 0; k < ev.n_seg; k++)
        for (e = start[k]; e < start[k] + len[k]; e++) count[ev.idx[e]] += ev.val[e] > 0.0f ? 1 : -1;
}

/* Delayed read-out: forget what the output gathered before readout_start. The
 * output population's dynamics go on unchanged; only its read-out restarts. */
static void restart_readout(snn_state *s)
{
    const snn_pop *p = &s->net->pops[s->net->output];
    if (p->kind == SNN_KIND_IF)
        memset(snn__at(s, p->off_count), 0, (size_t)p->n * sizeof(int32_t));
    else
        memset(snn__at(s, p->off_acc), 0, (size_t)p->n * sizeof(float));
}

/* After a meeting, the lead adds to the spike counters the counts that members
 * left for the populations counted later among net->order[from .. to) (every
 * member wrote its count before it arrived). Returns -1: none pending. */
static int32_t sum_counted_later(snn_state *s, const snn_team *tm, int32_t from, int32_t to)
{
    const snn_net *net = s->net;
    int32_t k, r;
    if (tm->rank != 0) return -1;
    for (k = from; k < to; k++) {
        const int32_t i = net->order[k];
        if (!counts_only(net, &net->pops[i], tm)) continue;
        for (r = 0; r < tm->size; r++) s->spikes[i] += *snn__team_count(tm, net->n_pop, i, r);
    }
    return -1;
}

/* One timestep, by every member of the team. Member 0 alone keeps the books
 * (time, read-out, input encoding, spike counts); the others only read what it
 * wrote after a synchronisation. */
void snn__step(snn_state *s, snn_team *tm)
{
    const snn_net *net = s->net;
    const int lead = tm->rank == 0;
    int32_t pending = -1, k;     /* the first population counted later, in order */
    tm->t++;
    if (lead) {
        if (s->t + 1 == s->readout_start && s->t > 0) restart_readout(s);
        s->t++;
    }
    if (s->encoding != SNN_ENCODING_ANALOG) {
        if (lead) {
            const int64_t started = profile_start(s);
            s->input_events = encode_input(s);
            index_input(s, s->input_events);
            s->spikes[net->input] += s->input_events;
            profile_add(s, net->input, started);
        }
        snn__team_sync(tm);
        propagate(s, &net->pops[net->input], s->input_events, 0, tm);
    }
    for (k = 1; k < net->n_pop; k++) {
        const int32_t i = net->order[k];
        const snn_pop *p = &net->pops[i];
        int64_t n_ev = 0;
        switch (p->kind) {
        case SNN_KIND_IF:
            n_ev = emit(s, p, net->fire, tm);
            if (lead && i == net->output) count_output_spikes(s, p, n_ev, tm);
            break;
        case SNN_KIND_RELAY: n_ev = emit(s, p, net->relay, tm); break;
        default:
            if (lead) accumulate(s, p);
            continue;   /* no queue, nothing to send */
        }
        if (n_ev == SNN_COUNTED_LATER) {
            if (pending < 0) pending = k;
            continue;   /* its one reader, the folded pool, is done */
        }
        if (pending >= 0) pending = sum_counted_later(s, tm, pending, k);  /* emit met */
        if (lead) s->spikes[i] += n_ev;
        propagate(s, p, n_ev, 0, tm);
    }
    if (pending >= 0) { /* not reached: a folded pool's target is emitted after its source */
        snn__team_sync(tm);
        sum_counted_later(s, tm, pending, net->n_pop);
    }
    tm->parity ^= 1;
}

/* The team of one that runs a state on the calling thread. */
static snn_team solo_team(snn_state *s)
{
    snn_team tm;
    memset(&tm, 0, sizeof tm);
    tm.size = 1;
    tm.t = s->t;
    tm.synops = s->synops;
    return tm;
}

/* ---- starting a run ------------------------------------------------------ */

/* steps_before: the steps the state ran before this reset. */
static void reset_population(snn_state *s, const snn_pop *p, int is_output, int32_t steps_before)
{
    int64_t pos, c;
    if (p->kind == SNN_KIND_INPUT) return;
    if (p->kind == SNN_KIND_IF) {
        float *V = snn__at(s, p->off_acc);
        for (pos = 0; pos < p->H * p->W; pos++)
            for (c = 0; c < p->C; c++) V[pos * p->C + c] = p->v_init * p->theta[c];
        if (p->retract) memset(V + p->n, 0, (size_t)p->n * sizeof(float));   /* net counts */
        if (is_output) memset(snn__at(s, p->off_count), 0, (size_t)p->n * sizeof(int32_t));
    } else {
        memset(snn__at(s, p->off_acc), 0, (size_t)p->n * sizeof(float));
    }
    /* a run that stopped inside a block left later steps' currents in its slots
     * (the relay pass clears each slot it reads; unused slots are zero) */
    if (p->ahead && steps_before % p->ahead != 0)
        memset(snn__at(s, p->off_ahead), 0,
               (size_t)(p->ahead * ahead_slot(s->net, p)) * sizeof(float));
    if (p->has_fired) memset(snn__at(s, p->off_fired), 0, (size_t)p->n * sizeof(int32_t));
    if (p->has_const) {
        float *K = snn__at(s, p->off_const);
        if (p->bias) memcpy(K, p->bias, (size_t)p->n * sizeof(float));
        else memset(K, 0, (size_t)p->n * sizeof(float));
    }
}

/* Under analog input the input's projections deliver the same current every step:
 * compute it once into their targets' constant currents. */
static void precompute_analog_current(snn_state *s)
{
    const snn_net *net = s->net;
    const snn_pop *in = &net->pops[net->input];
    int32_t *qi = snn__at(s, in->off_qidx);
    float *qv = snn__at(s, in->off_qval);
    int64_t i, n = 0;
    snn_team tm = solo_team(s);
    for (i = 0; i < in->n; i++)
        if (s->x[i] != 0.0f) {
            qi[n] = (int32_t)i;
            qv[n++] = s->x[i];
        }
    index_input(s, n);
    propagate(s, in, n, 1, &tm);
}

int snn_state_reset(snn_state *s, const snn_run_config *cfg, const float *x, int64_t image_index)
{
    const snn_net *net;
    const snn_pop *in;
    int64_t pos, c, HW;
    int32_t i, steps_before;
    if (s == NULL || cfg == NULL || x == NULL || image_index < 0) return SNN_E_INVALID_ARG;
    net = s->net;
    if (cfg->encoding < SNN_ENCODING_ANALOG || cfg->encoding > SNN_ENCODING_REGULAR)
        return SNN_E_UNSUPPORTED;
    if (!isfinite(cfg->rate) || !(cfg->rate > 0.0)) return SNN_E_INVALID_ARG;
    if (cfg->readout_start < 0) return SNN_E_INVALID_ARG;
    in = &net->pops[net->input];
    HW = in->H * in->W;
    for (c = 0; c < in->C; c++)
        for (pos = 0; pos < HW; pos++) {
            const float v = x[c * HW + pos];
            if (!isfinite(v)) return SNN_E_VALUE;
            s->x[pos * in->C + c] = v;
        }
    steps_before = s->t;
    s->t = 0;
    s->encoding = cfg->encoding;
    s->rate = cfg->rate;
    s->seed = cfg->seed;
    s->image = image_index;
    s->readout_start = cfg->readout_start > 1 ? cfg->readout_start : 1;
    s->profile_ns = cfg->profile_ns;
    memset(s->phase, 0, (size_t)in->n * sizeof(float));
    memset(s->spikes, 0, (size_t)net->n_pop * sizeof(int64_t));
    memset(s->synops, 0, (size_t)net->n_proj * sizeof(int64_t));
    for (i = 0; i < net->n_pop; i++)
        reset_population(s, &net->pops[i], i == net->output, steps_before);
    for (i = 0; i < net->n_proj; i++)
        if (net->projs[i].op == SNN_OP_MAXPOOL2D)
            memset(snn__at(s, net->projs[i].off_best), 0,
                   (size_t)net->pops[net->projs[i].target].n * sizeof(int32_t));
    if (s->encoding == SNN_ENCODING_ANALOG) precompute_analog_current(s);
    return SNN_OK;
}

int snn_state_step(snn_state *s, int32_t n_steps)
{
    snn_team tm;
    int32_t k;
    if (s == NULL || n_steps < 0) return SNN_E_INVALID_ARG;
    /* the network's bound: the library's max_timesteps, or lower (net.c) */
    if ((int64_t)s->t + n_steps > s->net->max_steps) return SNN_E_LIMIT;
    tm = solo_team(s);
    for (k = 0; k < n_steps; k++) snn__step(s, &tm);
    return SNN_OK;
}

int32_t snn_state_time(const snn_state *s) { return s ? s->t : 0; }

/* ---- reading results ----------------------------------------------------- */

int snn_state_read_output(const snn_state *s, float *out, int64_t capacity)
{
    const snn_pop *p;
    int64_t pos, c, HW;
    float t;
    if (s == NULL || out == NULL) return SNN_E_INVALID_ARG;
    p = &s->net->pops[s->net->output];
    if (capacity < p->n) return SNN_E_CAPACITY;
    if (s->t < 1) return SNN_E_INVALID_ARG;
    HW = p->H * p->W;
    if (s->t < s->readout_start) {  /* nothing read out yet */
        memset(out, 0, (size_t)p->n * sizeof(float));
        return SNN_OK;
    }
    t = (float)(s->t - s->readout_start + 1);
    for (c = 0; c < p->C; c++)
        for (pos = 0; pos < HW; pos++) {
            const int64_t i = pos * p->C + c;
            const float v = p->kind == SNN_KIND_IF ? (float)((const int32_t *)snn__at(s, p->off_count))[i]
                                                   : ((const float *)snn__at(s, p->off_acc))[i];
            out[c * HW + pos] = v / t;
        }
    return SNN_OK;
}

int snn_state_read_counters(const snn_state *s, int64_t *spikes, int64_t spikes_capacity,
                            int64_t *synops, int64_t synops_capacity)
{
    if (s == NULL) return SNN_E_INVALID_ARG;
    if ((spikes && spikes_capacity < s->net->n_pop) || (synops && synops_capacity < s->net->n_proj))
        return SNN_E_CAPACITY;
    if (spikes) memcpy(spikes, s->spikes, (size_t)s->net->n_pop * sizeof(int64_t));
    if (synops) memcpy(synops, s->synops, (size_t)s->net->n_proj * sizeof(int64_t));
    return SNN_OK;
}

int snn_run_image(snn_state *s, const snn_run_config *cfg, const float *x, int64_t image_index,
                  float *out, int64_t *spikes, int64_t *synops)
{
    const snn_net *net;
    const int32_t *cps;
    int32_t n_cp, c, now = 0;
    if (s == NULL || out == NULL) return SNN_E_INVALID_ARG;
    net = s->net;
    FORWARD_IF_ERROR(snn__check_config(net, cfg, NULL));
    FORWARD_IF_ERROR(snn_state_reset(s, cfg, x, image_index));
    n_cp = cfg->n_checkpoints ? cfg->n_checkpoints : 1;
    cps = cfg->n_checkpoints ? cfg->checkpoints : &cfg->timesteps;
    for (c = 0; c < n_cp; c++) {
        FORWARD_IF_ERROR(snn_state_step(s, cps[c] - now));
        now = cps[c];
        FORWARD_IF_ERROR(snn_state_read_output(s, out + (int64_t)c * net->pops[net->output].n,
                                               net->pops[net->output].n));
        FORWARD_IF_ERROR(snn_state_read_counters(
            s, spikes ? spikes + (int64_t)c * net->n_pop : NULL, net->n_pop,
            synops ? synops + (int64_t)c * net->n_proj : NULL, net->n_proj));
    }
    return SNN_OK;
}
