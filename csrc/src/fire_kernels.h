/*
 * The threshold pass (integrate, compare, reset, emit) and the relay pass,
 * compiled once per instruction set: fire.c includes this file with
 * SNN_KERNEL(name), SNN_KERNEL_ATTR and a vector width SNN_VW (0: scalar only)
 * and its load/add/compare macros (SNN_VMASK: what a comparison gives, a vector
 * of all-ones lanes or an AVX-512 mask register), which the end of this file
 * undefines. A block of SNN_VW neurons is integrated, compared and reset in one
 * go, and its events are stored with one compress (SNN_VSTORE_LANES) whichever
 * lanes fired: the pass has no branch on whether a block fired, which at the
 * firing rates of a converted network would be unpredictable. Every membrane is
 * computed by the same float operations whatever the path, so all builds agree
 * bit for bit.
 */

#ifndef SNN_FIRE_SHARED
#define SNN_FIRE_SHARED
#if defined(__GNUC__) || defined(__clang__)
#define SNN_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define SNN_ALWAYS_INLINE inline
#endif
/* A population's neuron parameters, copied out of snn_pop: the compiler then
 * knows no store to a queue changes them. */
typedef struct snn_neurons {
    const float *theta, *theta_neg;
    float *net;         /* a retracting population's net spike counts, else NULL */
    int64_t C;
} snn_neurons;
#endif

/* One IF neuron: integrate u = v (+ k), fire and reset. Returns the event value
 * (+1, -1) or 0 and stores the new membrane. has_k, is_signed, subtract and
 * retract are constants at every call, so each combination compiles to its own
 * loop. A retracting neuron (retract: its net count at *cnt) fires -1 only while
 * that count is positive, and adds theta back, which undoes one spike. */
static SNN_ALWAYS_INLINE float SNN_KERNEL(fire_one)(const snn_neurons *nr, float *v,
                                                    const float *k, int64_t c, int has_k,
                                                    int is_signed, int subtract, int retract,
                                                    float *cnt)
{
    float u = has_k ? *v + *k : *v;
    float e = 0.0f;
    if (u >= nr->theta[c]) {
        u = subtract ? u - nr->theta[c] : 0.0f;
        e = 1.0f;
    } else if (is_signed && u <= -nr->theta_neg[c] && (!retract || *cnt >= 1.0f)) {
        u = retract ? u + nr->theta[c] : subtract ? u + nr->theta_neg[c] : 0.0f;
        e = -1.0f;
    }
    if (retract) *cnt += e;
    *v = u;
    return e;
}

#if SNN_VW
/* Neurons c .. c + SNN_VW of one position (thresholds th and, if signed, thn),
 * branch-free, their integrated membranes in *u: compare and reset the lanes
 * that fire (the same float operations as fire_one; with retract, their net
 * counts in *cnt, updated). Returns the lanes that fired as a bit mask (bit j:
 * lane j) and as a vector mask (*fired), and their event values (+1 or -1;
 * other lanes any value) in *val. */
SNN_KERNEL_ATTR static SNN_ALWAYS_INLINE unsigned SNN_KERNEL(fire_lanes)(
    SNN_VTYPE th, SNN_VTYPE thn, SNN_VTYPE *u, int is_signed, int subtract, int retract,
    SNN_VTYPE *cnt, SNN_VTYPE *val, SNN_VMASK *fired)
{
    const SNN_VMASK up = SNN_VGE(*u, th);
    unsigned bits = (unsigned)SNN_VBITS(up);
    if (retract) {
        /* signed, reset subtract (check.c): both tests on the integrated u (a lane
         * at or above th is above -thn, thresholds being > 0); inc, the change of
         * the lane's net count, is also its event value, and u - inc x th its reset,
         * u - th, u + th or u: the bits of the separate resets (inc x th is exact,
         * and x - -y is x + y) in fewer operations */
        const SNN_VMASK down =
            SNN_VAND(SNN_VLE(*u, SNN_VNEG(thn)), SNN_VGE(*cnt, SNN_VSET1(1.0f)));
        const SNN_VTYPE inc = SNN_VSELECT(up, SNN_VSET1(1.0f),
                                          SNN_VSELECT(down, SNN_VSET1(-1.0f), SNN_VZERO()));
        *u = SNN_VSUB(*u, SNN_VMUL(inc, th));
        *cnt = SNN_VADD(*cnt, inc);
        *val = inc;
        *fired = SNN_VOR(up, down);
        return bits | (unsigned)SNN_VBITS(down);
    }
    *u = SNN_VSELECT(up, subtract ? SNN_VSUB(*u, th) : SNN_VZERO(), *u);
    *val = SNN_VSET1(1.0f);
    *fired = up;
    if (is_signed) {
        /* a lane that fired +1 holds u - th >= 0 (or 0), above -thn (thresholds are > 0,
         * check.c), so it is not among these */
        const SNN_VMASK un = SNN_VLE(*u, SNN_VNEG(thn));
        bits |= (unsigned)SNN_VBITS(un);
        *u = SNN_VSELECT(un, subtract ? SNN_VADD(*u, thn) : SNN_VZERO(), *u);
        *val = SNN_VSELECT(un, SNN_VSET1(-1.0f), *val);
        *fired = SNN_VOR(up, un);
    }
    return bits;
}

/* fire_lanes on the membranes at v + c, integrated first (u = v + k); with
 * retract, the net counts at cnt + c. */
SNN_KERNEL_ATTR static SNN_ALWAYS_INLINE unsigned SNN_KERNEL(fire_block)(
    const snn_neurons *nr, float *v, const float *k, int64_t c, int has_k, int is_signed,
    int subtract, int retract, float *cnt, SNN_VTYPE *val, SNN_VMASK *fired)
{
    SNN_VTYPE u = SNN_VLOAD(v + c);
    SNN_VTYPE n = retract ? SNN_VLOAD(cnt + c) : SNN_VZERO();
    unsigned bits;
    if (has_k) u = SNN_VADD(u, SNN_VLOAD(k + c));
    bits = SNN_KERNEL(fire_lanes)(SNN_VLOAD(nr->theta + c),
                                  is_signed ? SNN_VLOAD(nr->theta_neg + c) : SNN_VZERO(), &u,
                                  is_signed, subtract, retract, &n, val, fired);
    SNN_VSTORE(v + c, u);
    if (retract) SNN_VSTORE(cnt + c, n);
    return bits;
}

/* The lanes of fired add val x w to d (the others keep their bits: a select,
 * not an addition of zero); an unsigned population's events are all +1, and
 * 1 x w is w. */
SNN_KERNEL_ATTR static SNN_ALWAYS_INLINE SNN_VTYPE SNN_KERNEL(pool_add)(
    SNN_VTYPE d, SNN_VMASK fired, SNN_VTYPE val, SNN_VTYPE w, int is_signed)
{
    return SNN_VSELECT(fired, SNN_VADD(d, is_signed ? SNN_VMUL(val, w) : w), d);
}

/* Appends the lanes of a block set in bits (neuron index first + lane, value
 * that lane of val) to the queue at n, in ascending lane order, and returns the
 * new n. It stores SNN_VW slots whatever the count; the slots past the new n
 * are garbage that the next block overwrites. They stay inside this pass's own
 * part of the queue: a step emits at most one event per neuron, so n <= first
 * and the slots end by first + SNN_VW, this block's own end. */
SNN_KERNEL_ATTR static SNN_ALWAYS_INLINE int64_t SNN_KERNEL(emit_lanes)(
    unsigned bits, int64_t first, SNN_VTYPE val, int32_t *qi, float *qv, int64_t n)
{
    SNN_VSTORE_LANES(qi + n, qv + n, first, bits, val);
    return n + SNN_VCOUNT(bits);
}
#endif

/* The threshold pass over positions [pos0, pos1), for one combination of the
 * constant flags; events from qi[n], qv[n] on; returns the new n. With has_fold,
 * each spike inside a window of fold's pool also adds value x w[c] to the
 * window's target (the lanes that did not fire keep their bits: a select, not
 * an addition of zero). With count_only (qi NULL: the fold is the population's only
 * reader), the events are counted, not stored. */
SNN_KERNEL_ATTR static SNN_ALWAYS_INLINE int64_t SNN_KERNEL(fire_positions)(
    const snn_neurons *nr, float *V, const float *K, int32_t *qi, float *qv, int32_t *first,
    int32_t *end, int64_t pos0, int64_t pos1, int64_t n, snn_fold *fold, int has_k,
    int is_signed, int subtract, int has_fold, int count_only, int retract)
{
    const int64_t C = nr->C;
    int64_t pos, c, ops = 0;
    for (pos = pos0; pos < pos1; pos++) {
        float *v = V + pos * C;
        float *cnt = retract ? nr->net + pos * C : NULL;
        const float *k = has_k ? K + pos * C : NULL;
        const int32_t tp = has_fold ? fold->tpos[pos] : -1;
        float *pooled = tp >= 0 ? fold->dst + (int64_t)tp * C : NULL;
        const int64_t n0 = n;
        if (!count_only && first) first[pos] = (int32_t)n;
        c = 0;
#if SNN_VW
        for (; c + SNN_VW <= C; c += SNN_VW) {
            SNN_VTYPE val;
            SNN_VMASK fired;
            const unsigned bits =
                SNN_KERNEL(fire_block)(nr, v, k, c, has_k, is_signed, subtract, retract, cnt,
                                       &val, &fired);
            if (count_only) n += SNN_VCOUNT(bits);
            else n = SNN_KERNEL(emit_lanes)(bits, pos * C + c, val, qi, qv, n);
            if (has_fold && pooled)
                SNN_VSTORE(pooled + c, SNN_KERNEL(pool_add)(SNN_VLOAD(pooled + c), fired, val,
                                                            SNN_VLOAD(fold->w + c), is_signed));
        }
#endif
        for (; c < C; c++) {
            const float e = SNN_KERNEL(fire_one)(nr, v + c, has_k ? k + c : NULL, c, has_k,
                                                 is_signed, subtract, retract,
                                                 retract ? cnt + c : NULL);
            if (e != 0.0f) {
                if (!count_only) {
                    qi[n] = (int32_t)(pos * C + c);
                    qv[n] = e;
                }
                n++;
                if (has_fold && pooled) pooled[c] += e * fold->w[c];
            }
        }
        if (has_fold && pooled) ops += n - n0;
        if (!count_only && first) end[pos] = (int32_t)n;
    }
    if (has_fold) fold->ops += ops;
    return n;
}

#if SNN_WINDOWS
/* The target rows [*wy0, *wy1) whose windows lie in a band of source rows
 * [row0, row1) that starts at a window row, for a population of C channels in
 * whole vectors (the AVX-512 set takes populations of 16k channels); 0 when
 * there are none, and the band goes position by position. The positions of
 * the band outside those windows (the last rows and columns when the pool
 * does not tile the population) are left to the caller. */
static inline int SNN_KERNEL(window_band)(const snn_windows *g, int64_t C, int64_t row0,
                                          int64_t row1, int64_t *wy0, int64_t *wy1)
{
    const int64_t covered = g->TH * g->kh < row1 ? g->TH * g->kh : row1;
    if (g->kh <= 0 || g->kw <= 0 || row0 % g->kh != 0 || covered <= row0 || C % SNN_VW != 0)
        return 0;
    *wy0 = row0 / g->kh;
    *wy1 = covered / g->kh;
    return 1;
}

/* fire_positions for the pool windows of target rows [wy0, wy1) when the
 * events are only counted (count_only, has_fold): per window and vector of
 * channels, the window's positions in ascending order, the pooled current
 * kept in a register over them and stored once, and the spikes counted per
 * lane. Per neuron and per target the same float operations in the same order
 * as fire_positions. Returns the spikes (all of them inside windows: also the
 * fold's synaptic operations). */
SNN_KERNEL_ATTR static SNN_ALWAYS_INLINE int64_t SNN_KERNEL(fire_windows)(
    const snn_neurons *nr, float *V, const float *K, int64_t W, int64_t wy0, int64_t wy1,
    const snn_fold *fold, int has_k, int is_signed, int subtract)
{
    const int64_t C = nr->C, kh = fold->win.kh, kw = fold->win.kw, TW = fold->win.TW;
    SNN_VCNT cnt = SNN_VCNT_ZERO();
    int64_t wy, wx, c, dy, dx;
    for (wy = wy0; wy < wy1; wy++)
        for (wx = 0; wx < TW; wx++) {
            float *pooled = fold->dst + (wy * TW + wx) * C;
            const int64_t base = wy * kh * W + wx * kw;     /* the window's first position */
            for (c = 0; c < C; c += SNN_VW) {
                const SNN_VTYPE w = SNN_VLOAD(fold->w + c), th = SNN_VLOAD(nr->theta + c);
                const SNN_VTYPE thn = is_signed ? SNN_VLOAD(nr->theta_neg + c) : SNN_VZERO();
                SNN_VTYPE d = SNN_VLOAD(pooled + c);
                for (dy = 0; dy < kh; dy++)
                    for (dx = 0; dx < kw; dx++) {
                        const int64_t o = (base + dy * W + dx) * C + c;
                        SNN_VTYPE u = SNN_VLOAD(V + o), val;
                        SNN_VMASK fired;
                        if (has_k) u = SNN_VADD(u, SNN_VLOAD(K + o));
                        (void)SNN_KERNEL(fire_lanes)(th, thn, &u, is_signed, subtract, 0,
                                                     NULL, &val, &fired);
                        SNN_VSTORE(V + o, u);
                        cnt = SNN_VCNT_ADD(cnt, fired);
                        d = SNN_KERNEL(pool_add)(d, fired, val, w, is_signed);
                    }
                SNN_VSTORE(pooled + c, d);
            }
        }
    return SNN_VCNT_SUM(cnt);
}

/* fire_positions for rows [row0, row1) when the events are only counted: the
 * whole windows through fire_windows (on a band that starts at a window row),
 * the positions outside every window position by position. Returns the new n. */
SNN_KERNEL_ATTR static SNN_ALWAYS_INLINE int64_t SNN_KERNEL(count_rows)(
    const snn_neurons *nr, int64_t W, float *V, const float *K, int64_t row0, int64_t row1,
    int64_t n, snn_fold *fold, int has_k, int is_signed, int subtract)
{
    const int64_t kh = fold->win.kh, kw = fold->win.kw, TW = fold->win.TW;
    int64_t wy0, wy1, y, inside;
    if (!SNN_KERNEL(window_band)(&fold->win, nr->C, row0, row1, &wy0, &wy1))
        return SNN_KERNEL(fire_positions)(nr, V, K, NULL, NULL, NULL, NULL, row0 * W, row1 * W,
                                          n, fold, has_k, is_signed, subtract, 1, 1, 0);
    inside = SNN_KERNEL(fire_windows)(nr, V, K, W, wy0, wy1, fold, has_k, is_signed, subtract);
    fold->ops += inside;
    n += inside;
    if (TW * kw < W)    /* the columns right of the last window, in the windows' rows */
        for (y = wy0 * kh; y < wy1 * kh; y++)
            n = SNN_KERNEL(fire_positions)(nr, V, K, NULL, NULL, NULL, NULL, y * W + TW * kw,
                                           (y + 1) * W, n, fold, has_k, is_signed, subtract, 1,
                                           1, 0);
    if (wy1 * kh < row1)    /* the rows below the last window */
        n = SNN_KERNEL(fire_positions)(nr, V, K, NULL, NULL, NULL, NULL, wy1 * kh * W,
                                       row1 * W, n, fold, has_k, is_signed, subtract, 1, 1, 0);
    return n;
}
#endif

/* The threshold pass over rows [row0, row1) of an IF population: V its
 * membranes, K its constant current or NULL. Events go to qi/qv from index
 * row0 * W * C on, in ascending neuron order, and, unless first is NULL, each
 * position's events are qi[first[pos] .. end[pos]). Returns their number. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(fire)(const snn_pop *p, float *V, const float *K,
                                                int32_t *qi, float *qv, int32_t *first,
                                                int32_t *end, int64_t row0, int64_t row1,
                                                snn_fold *fold)
{
    const int64_t base = row0 * p->W * p->C, pos0 = row0 * p->W, pos1 = row1 * p->W;
    const int subtract = p->reset == SNN_RESET_SUBTRACT;
    /* a queue is only left out with a fold (the pass's one reader) */
    /* a retracting population has no fold (net.c) and is signed, with reset subtract */
    const int mode = (fold != NULL) * (8 + 16 * (qi == NULL)) + (K != NULL) * 4 +
                     (p->is_signed != 0) * 2 + subtract + (p->retract != 0) * 32;
    snn_neurons nr;
    int64_t n = base;
    nr.theta = p->theta;
    nr.theta_neg = p->theta_neg;
    nr.net = p->retract ? V + p->n : NULL;      /* the counts follow the membranes */
    nr.C = p->C;
#if SNN_WINDOWS
#define SNN_COUNT_CASE(m) \
    case m: n = SNN_KERNEL(count_rows)(&nr, p->W, V, K, row0, row1, n, fold, ((m) >> 2) & 1, \
                                       ((m) >> 1) & 1, (m) & 1); break;
    switch (mode) {
    SNN_COUNT_CASE(24) SNN_COUNT_CASE(25) SNN_COUNT_CASE(26) SNN_COUNT_CASE(27)
    SNN_COUNT_CASE(28) SNN_COUNT_CASE(29) SNN_COUNT_CASE(30) SNN_COUNT_CASE(31)
    default: break;
    }
#undef SNN_COUNT_CASE
    if (mode >= 24 && mode < 32) return n - base;     /* the count-only cases above */
#endif
#define SNN_FIRE_CASE(m) \
    case m: n = SNN_KERNEL(fire_positions)(&nr, V, K, qi, qv, first, end, pos0, pos1, n, fold, \
                                           ((m) >> 2) & 1, ((m) >> 1) & 1, (m) & 1, \
                                           ((m) >> 3) & 1, ((m) >> 4) & 1, (m) >> 5); break;
    switch (mode) {
    SNN_FIRE_CASE(0) SNN_FIRE_CASE(1) SNN_FIRE_CASE(2) SNN_FIRE_CASE(3)
    SNN_FIRE_CASE(4) SNN_FIRE_CASE(5) SNN_FIRE_CASE(6) SNN_FIRE_CASE(7)
    SNN_FIRE_CASE(8) SNN_FIRE_CASE(9) SNN_FIRE_CASE(10) SNN_FIRE_CASE(11)
    SNN_FIRE_CASE(12) SNN_FIRE_CASE(13) SNN_FIRE_CASE(14) SNN_FIRE_CASE(15)
    SNN_FIRE_CASE(24) SNN_FIRE_CASE(25) SNN_FIRE_CASE(26) SNN_FIRE_CASE(27)
    SNN_FIRE_CASE(28) SNN_FIRE_CASE(29) SNN_FIRE_CASE(30) SNN_FIRE_CASE(31)
    SNN_FIRE_CASE(35) SNN_FIRE_CASE(39)     /* retracting: signed, subtract, no fold */
    }
#undef SNN_FIRE_CASE
    return n - base;
}

/* The threshold pass over positions [pos0, pos1) for a block of a->steps steps
 * at once (snn_ahead): per block of neurons, the membranes and the constant
 * current stay in registers over the steps, each step's spikes adding to that
 * step's slot of the folded pool's target. Per neuron the same float
 * operations as fire_positions over those steps; per target, contributions in
 * ascending source position, as there. */
SNN_KERNEL_ATTR static SNN_ALWAYS_INLINE void SNN_KERNEL(ahead_positions)(
    const snn_neurons *nr, float *V, const float *K, int64_t pos0, int64_t pos1, snn_ahead *a,
    int is_signed, int subtract)
{
    const int64_t C = nr->C, slot = a->slot;
    const int32_t steps = a->steps;
    const float *const fw = a->w;
    int64_t pos, c;
    int32_t t;
    for (pos = pos0; pos < pos1; pos++) {
        const int32_t tp = a->tpos[pos];
        float *pooled = tp >= 0 ? a->dst + (int64_t)tp * C : NULL;
        c = 0;
#if SNN_VW
        for (; c + SNN_VW <= C; c += SNN_VW) {
            SNN_VTYPE u = SNN_VLOAD(V + pos * C + c);
            const SNN_VTYPE k = SNN_VLOAD(K + pos * C + c), w = SNN_VLOAD(fw + c);
            const SNN_VTYPE th = SNN_VLOAD(nr->theta + c);
            const SNN_VTYPE thn = is_signed ? SNN_VLOAD(nr->theta_neg + c) : SNN_VZERO();
            for (t = 0; t < steps; t++) {
                SNN_VTYPE val;
                SNN_VMASK fired;
                unsigned bits;
                u = SNN_VADD(u, k);
                bits = SNN_KERNEL(fire_lanes)(th, thn, &u, is_signed, subtract, 0, NULL, &val,
                                              &fired);
                a->spikes[t] += SNN_VCOUNT(bits);
                if (pooled) {
                    float *d = pooled + t * slot + c;
                    SNN_VSTORE(d, SNN_KERNEL(pool_add)(SNN_VLOAD(d), fired, val, w, is_signed));
                    a->ops[t] += SNN_VCOUNT(bits);
                }
            }
            SNN_VSTORE(V + pos * C + c, u);
        }
#endif
        for (; c < C; c++) {
            float v = V[pos * C + c];
            for (t = 0; t < steps; t++) {
                const float e = SNN_KERNEL(fire_one)(nr, &v, K + pos * C + c, c, 1, is_signed,
                                                     subtract, 0, NULL);
                if (e != 0.0f) {
                    a->spikes[t]++;
                    if (pooled) {
                        pooled[t * slot + c] += e * fw[c];
                        a->ops[t]++;
                    }
                }
            }
            V[pos * C + c] = v;
        }
    }
}

#if SNN_WINDOWS
/* G positions of one window (offsets o[0..G) of their channels c..), one
 * vector of channels, all SNN_AHEAD_STEPS steps: the G membranes are
 * independent chains that overlap (one alone is a chain of add, compare and
 * subtract per step), while step t's pooled current d[t] takes their
 * contributions in the order of o[]. */
#define SNN_AHEAD_GROUP(G)                                                                     \
    do {                                                                                        \
        SNN_VTYPE u_[G], k_[G];                                                                 \
        int j_;                                                                                 \
        _Pragma("GCC unroll 16") for (j_ = 0; j_ < (G); j_++) {                                 \
            u_[j_] = SNN_VLOAD(V + o[j_]);                                                      \
            k_[j_] = SNN_VLOAD(K + o[j_]);                                                      \
        }                                                                                       \
        _Pragma("GCC unroll 16") for (t = 0; t < SNN_AHEAD_STEPS; t++)                          \
            _Pragma("GCC unroll 16") for (j_ = 0; j_ < (G); j_++) {                             \
                SNN_VTYPE val;                                                                  \
                SNN_VMASK fired;                                                                \
                u_[j_] = SNN_VADD(u_[j_], k_[j_]);                                              \
                (void)SNN_KERNEL(fire_lanes)(th, thn, &u_[j_], is_signed, subtract, 0, NULL,    \
                                             &val, &fired);                                     \
                cnt[t] = SNN_VCNT_ADD(cnt[t], fired);                                           \
                d[t] = SNN_KERNEL(pool_add)(d[t], fired, val, w, is_signed);                    \
            }                                                                                   \
        _Pragma("GCC unroll 16") for (j_ = 0; j_ < (G); j_++) SNN_VSTORE(V + o[j_], u_[j_]);    \
    } while (0)

/* The block of SNN_AHEAD_STEPS steps for the pool windows of rows [wy0, wy1)
 * of the target, channels in whole vectors: per window and vector of channels,
 * the window's kh x kw positions in ascending order (the order of their
 * contributions in ahead_positions), SNN_AHEAD_G of them at a time, each
 * step's pooled current kept in a register over them and stored once, and the
 * spikes counted in cnt[t] (SNN_VCNT), not with a store per block and step.
 * Per neuron and per target the same float operations in the same order as
 * ahead_positions; only the order of the positions across targets, and of the
 * integer counts, differs. */
SNN_KERNEL_ATTR static SNN_ALWAYS_INLINE void SNN_KERNEL(ahead_windows)(
    const snn_neurons *nr, float *V, const float *K, int64_t W, int64_t wy0, int64_t wy1,
    snn_ahead *a, SNN_VCNT *cnt, int is_signed, int subtract)
{
    const int64_t C = nr->C, slot = a->slot, kh = a->win.kh, kw = a->win.kw, TW = a->win.TW;
    const int64_t area = kh * kw;
    int64_t wy, wx, c, i, dy, dx;
    int32_t t;
    for (wy = wy0; wy < wy1; wy++)
        for (wx = 0; wx < TW; wx++) {
            float *pooled = a->dst + (wy * TW + wx) * C;
            const int64_t base = wy * kh * W + wx * kw;     /* the window's first position */
            for (c = 0; c < C; c += SNN_VW) {
                const SNN_VTYPE w = SNN_VLOAD(a->w + c), th = SNN_VLOAD(nr->theta + c);
                const SNN_VTYPE thn = is_signed ? SNN_VLOAD(nr->theta_neg + c) : SNN_VZERO();
                SNN_VTYPE d[SNN_AHEAD_STEPS];
                _Pragma("GCC unroll 16") for (t = 0; t < SNN_AHEAD_STEPS; t++)
                    d[t] = SNN_VLOAD(pooled + t * slot + c);
                for (i = 0, dy = 0, dx = 0; i < area;) {
                    int64_t o[SNN_AHEAD_G];
                    const int g = i + SNN_AHEAD_G <= area ? SNN_AHEAD_G : 1;
                    int j;
                    for (j = 0; j < g; j++, i++) {  /* the next g positions, row by row */
                        o[j] = (base + dy * W + dx) * C + c;
                        if (++dx == kw) dx = 0, dy++;
                    }
                    if (g == SNN_AHEAD_G) SNN_AHEAD_GROUP(SNN_AHEAD_G);
                    else SNN_AHEAD_GROUP(1);
                }
                _Pragma("GCC unroll 16") for (t = 0; t < SNN_AHEAD_STEPS; t++)
                    SNN_VSTORE(pooled + t * slot + c, d[t]);
            }
        }
}
#undef SNN_AHEAD_GROUP
#endif

/* Rows [row0, row1) of IF population p (K: its constant current) for one
 * combination of the constant flags: the whole pool windows through
 * ahead_windows (a full block of steps on a band that starts at a window
 * row), the positions outside every window (tpos < 0: the last rows and
 * columns when the pool does not tile p) and any other case through
 * ahead_positions. */
SNN_KERNEL_ATTR static SNN_ALWAYS_INLINE void SNN_KERNEL(ahead_rows)(
    const snn_neurons *nr, const snn_pop *p, float *V, const float *K, int64_t row0,
    int64_t row1, snn_ahead *a, int is_signed, int subtract)
{
    const int64_t W = p->W, kh = a->win.kh, kw = a->win.kw, TW = a->win.TW;
    int64_t wy0 = 0, wy1 = 0, y;
    int32_t t;
    for (t = 0; t < a->steps; t++) a->spikes[t] = a->ops[t] = 0;
#if SNN_WINDOWS
    if (a->steps == SNN_AHEAD_STEPS &&
        SNN_KERNEL(window_band)(&a->win, nr->C, row0, row1, &wy0, &wy1)) {
        SNN_VCNT cnt[SNN_AHEAD_STEPS];
        _Pragma("GCC unroll 16") for (t = 0; t < SNN_AHEAD_STEPS; t++) cnt[t] = SNN_VCNT_ZERO();
        SNN_KERNEL(ahead_windows)(nr, V, K, W, wy0, wy1, a, cnt, is_signed, subtract);
        _Pragma("GCC unroll 16") for (t = 0; t < SNN_AHEAD_STEPS; t++) {
            const int64_t n = SNN_VCNT_SUM(cnt[t]);
            a->spikes[t] += n;
            a->ops[t] += n;
        }
    }
#endif
    if (wy1 == wy0) {   /* no windows taken: everything position by position */
        SNN_KERNEL(ahead_positions)(nr, V, K, row0 * W, row1 * W, a, is_signed, subtract);
        return;
    }
    if (TW * kw < W)    /* the columns right of the last window, in the windows' rows */
        for (y = wy0 * kh; y < wy1 * kh; y++)
            SNN_KERNEL(ahead_positions)(nr, V, K, y * W + TW * kw, (y + 1) * W, a, is_signed,
                                        subtract);
    if (wy1 * kh < row1)    /* the rows below the last window */
        SNN_KERNEL(ahead_positions)(nr, V, K, wy1 * kh * W, row1 * W, a, is_signed, subtract);
}

/* ahead_rows over rows [row0, row1) of IF population p (K: its constant
 * current), for each combination of the constant flags. */
SNN_KERNEL_ATTR static void SNN_KERNEL(fire_ahead)(const snn_pop *p, float *V, const float *K,
                                                   int64_t row0, int64_t row1, snn_ahead *a)
{
    snn_neurons nr;
    nr.theta = p->theta;
    nr.theta_neg = p->theta_neg;
    nr.C = p->C;
    switch ((p->is_signed != 0) * 2 + (p->reset == SNN_RESET_SUBTRACT)) {
    case 0: SNN_KERNEL(ahead_rows)(&nr, p, V, K, row0, row1, a, 0, 0); break;
    case 1: SNN_KERNEL(ahead_rows)(&nr, p, V, K, row0, row1, a, 0, 1); break;
    case 2: SNN_KERNEL(ahead_rows)(&nr, p, V, K, row0, row1, a, 1, 0); break;
    default: SNN_KERNEL(ahead_rows)(&nr, p, V, K, row0, row1, a, 1, 1); break;
    }
}

/* One relay neuron i: emits this step's current x (if not zero) and clears A[i]. */
static inline int64_t SNN_KERNEL(relay_one)(float *A, const float *K, int64_t i, int32_t *qi,
                                            float *qv, int64_t n)
{
    const float x = K ? A[i] + K[i] : A[i];
    A[i] = 0.0f;
    if (x != 0.0f) {
        qi[n] = (int32_t)i;
        qv[n++] = x;
    }
    return n;
}

/* The relay pass over rows [row0, row1) of population p: this step's current
 * (A, plus the constant K if any) goes out as graded events, and A is cleared.
 * Events, first and end as for fire; returns the number of events. */
SNN_KERNEL_ATTR static int64_t SNN_KERNEL(relay)(const snn_pop *p, float *A, const float *K,
                                                 int32_t *qi, float *qv, int32_t *first,
                                                 int32_t *end, int64_t row0, int64_t row1,
                                                 snn_fold *fold)
{
    const int64_t C = p->C, base = row0 * p->W * C;
    int64_t pos, n = base;
    (void)fold;
    for (pos = row0 * p->W; pos < row1 * p->W; pos++) {
        int64_t i = pos * C;
        const int64_t stop = i + C;
        if (first) first[pos] = (int32_t)n;
#if SNN_VW
        for (; i + SNN_VW <= stop; i += SNN_VW) {
            SNN_VTYPE u = SNN_VLOAD(A + i);
            if (K) u = SNN_VADD(u, SNN_VLOAD(K + i));
            SNN_VSTORE(A + i, SNN_VZERO());
            n = SNN_KERNEL(emit_lanes)((unsigned)SNN_VBITS(SNN_VNONZERO(u)), i, u, qi, qv, n);
        }
#endif
        for (; i < stop; i++) n = SNN_KERNEL(relay_one)(A, K, i, qi, qv, n);
        if (first) end[pos] = (int32_t)n;
    }
    return n - base;
}

/* the macros of this inclusion (see the top) */
#undef SNN_KERNEL
#undef SNN_KERNEL_ATTR
#undef SNN_VW
#undef SNN_VTYPE
#undef SNN_VMASK
#undef SNN_VCOUNT
#undef SNN_WINDOWS
#undef SNN_VCNT
#undef SNN_VCNT_ZERO
#undef SNN_VCNT_ADD
#undef SNN_VCNT_SUM
#undef SNN_AHEAD_G
#undef SNN_VLOAD
#undef SNN_VSTORE
#undef SNN_VZERO
#undef SNN_VADD
#undef SNN_VSUB
#undef SNN_VNEG
#undef SNN_VANDNOT
#undef SNN_VAND
#undef SNN_VGE
#undef SNN_VLE
#undef SNN_VNONZERO
#undef SNN_VBITS
#undef SNN_VSELECT
#undef SNN_VOR
#undef SNN_VMUL
#undef SNN_VSET1
#undef SNN_VSTORE_LANES
