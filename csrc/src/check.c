/*
 * The one definition of a valid network: snn_net_check checks a description
 * against the rules of docs/format.md that concern its meaning (kinds and ops,
 * shapes and their arithmetic, names, the graph, the hints, the memory bound).
 * The file reader (csrc/loader, which Python reads through too) checks syntax and
 * types only and hands its description here, first with shapes alone, then with the data;
 * snn_net_create checks with the data before it builds anything.
 */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reporting ------------------------------------------------------------ */

/* Bytes of a name that a message shows (longer ones end in "..."), so that the
 * message keeps room for the fault. */
#define LABEL_NAME 64

/* The item at fault, as messages name it (the file loader's too). */
void snn__item_label(const snn_net_desc *d, int32_t pop, int32_t proj, char *buf, size_t cap)
{
    const char *name = NULL;
    const char *what = proj >= 0 ? "projection" : "population";
    const int32_t i = proj >= 0 ? proj : pop;
    int shown;
    if (proj >= 0 && d->projections) name = d->projections[proj].name;
    if (proj < 0 && d->populations) name = d->populations[pop].name;
    if (name == NULL || name[0] == '\0') {
        snprintf(buf, cap, "%s %d: ", what, (int)i);
        return;
    }
    shown = (int)strlen(name);
    if (shown > LABEL_NAME) {
        shown = LABEL_NAME - 3;
        while (shown > 0 && ((unsigned char)name[shown] & 0xC0) == 0x80) shown--;  /* whole characters */
    }
    snprintf(buf, cap, "%s '%.*s%s': ", what, shown, name, shown < (int)strlen(name) ? "..." : "");
}

/* Records a fault of population `pop` or projection `proj` (or of neither: -1,
 * -1), its message prefixed by the item's label, and returns `status`. */
static SNN__FORMAT(6, 7) int fault(snn_error *err, const snn_net_desc *d, int status, int32_t pop,
                                   int32_t proj, const char *fmt, ...)
{
    char label[128] = "";
    char text[sizeof err->message];
    va_list ap;
    if (err == NULL) return status;
    if (pop >= 0 || proj >= 0) snn__item_label(d, pop, proj, label, sizeof label);
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return snn__set_error(err, status, pop, proj, "%s%s", label, text);
}

#define CHECK(cond, status, pop, proj, ...)                                    \
    do {                                                                       \
        if (!(cond)) return fault(err, desc, (status), (pop), (proj), __VA_ARGS__); \
    } while (0)

/* ---- small helpers -------------------------------------------------------- */

/* *out = a * b when it stays <= limit (all operands >= 0); else returns 0. */
static int mul_within(int64_t a, int64_t b, int64_t limit, int64_t *out)
{
    if (a < 0 || b < 0) return 0;
    if (a != 0 && b > limit / a) return 0;
    *out = a * b;
    return 1;
}

static int64_t array_len(const snn_array *a)
{
    int64_t n = 1;
    int32_t k;
    for (k = 0; k < a->ndim; k++) n *= a->shape[k];
    return n;
}

/* "(3, 3)" */
static const char *shape_text(const snn_array *a, char *buf, size_t cap)
{
    size_t n = 0;
    int32_t k;
    n += (size_t)snprintf(buf + n, cap - n, "(");
    for (k = 0; k < a->ndim && k < 4 && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, k ? ", %lld" : "%lld", (long long)a->shape[k]);
    if (n < cap) snprintf(buf + n, cap - n, a->ndim == 1 ? ",)" : ")");
    return buf;
}

static int is_shape(const snn_array *a, int32_t ndim, int64_t s0, int64_t s1, int64_t s2)
{
    const int64_t want[3] = {s0, s1, s2};
    int32_t k;
    if (a->ndim != ndim) return 0;
    for (k = 0; k < ndim; k++)
        if (a->shape[k] != want[k]) return 0;
    return 1;
}

/* Characters of a UTF-8 string (bytes that do not continue a sequence). */
static int64_t utf8_chars(const char *s)
{
    int64_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* ---- arrays --------------------------------------------------------------- */

/* The values of an array whose shape its caller has checked, if given: finite,
 * and > 0 when `positive`. */
static int check_array(const snn_net_desc *desc, const snn_array *a, const char *role, int32_t pop,
                       int32_t proj, int positive, int need_data, snn_error *err)
{
    const int64_t n = array_len(a);
    int64_t i;
    if (a->ndim == 0) return SNN_OK;
    CHECK(a->data != NULL || !need_data, SNN_E_INVALID_ARG, pop, proj, "%s has no data", role);
    if (a->data == NULL) return SNN_OK;
    for (i = 0; i < n; i++)
        CHECK(isfinite(a->data[i]), SNN_E_VALUE, pop, proj,
              "%s holds NaN or infinity (at index %lld)", role, (long long)i);
    if (positive)
        for (i = 0; i < n; i++)
            CHECK(a->data[i] > 0.0f, SNN_E_VALUE, pop, proj,
                  "%s must be > 0, found %g at index %lld", role, (double)a->data[i], (long long)i);
    return SNN_OK;
}

/* A threshold: shape (1,) or (C,), values > 0. */
static int check_threshold(const snn_net_desc *desc, const snn_array *a, const char *role,
                           int32_t i, int64_t C, int need_data, snn_error *err)
{
    char s[64];
    CHECK(a->ndim != 0, SNN_E_INVALID_ARG, i, -1, "%s is missing", role);
    CHECK(is_shape(a, 1, 1, 0, 0) || is_shape(a, 1, C, 0, 0), SNN_E_SHAPE, i, -1,
          "%s has shape %s, expected (1,) or (%lld,)", role, shape_text(a, s, sizeof s),
          (long long)C);
    return check_array(desc, a, role, i, -1, 1, need_data, err);
}

/* ---- populations ---------------------------------------------------------- */

static int check_name(const snn_net_desc *desc, const char *name, int32_t pop, int32_t proj,
                      const snn_limits *L, snn_error *err)
{
    if (name == NULL) return SNN_OK;
    CHECK(name[0] != '\0', SNN_E_VALUE, pop, proj, "the name is empty");
    CHECK(utf8_chars(name) <= L->max_name, SNN_E_LIMIT, pop, proj,
          "the name has %lld characters, more than the %lld allowed",
          (long long)utf8_chars(name), (long long)L->max_name);
    return SNN_OK;
}

static int check_population(const snn_net_desc *desc, int32_t i, const snn_limits *L,
                            int need_data, snn__dims *out, snn_error *err)
{
    const snn_population_desc *d = &desc->populations[i];
    int64_t C, H = 1, W = 1, n;
    char s[64];
    FORWARD_IF_ERROR(check_name(desc, d->name, i, -1, L, err));
    CHECK(snn_kind_name(d->kind) != NULL, SNN_E_UNSUPPORTED, i, -1, "unknown kind %d",
          (int)d->kind);
    CHECK(d->ndim == 1 || d->ndim == 3, SNN_E_SHAPE, i, -1,
          "the shape has %d dimensions, expected 1 or 3", (int)d->ndim);
    C = d->shape[0];
    if (d->ndim == 3) { H = d->shape[1]; W = d->shape[2]; }
    CHECK(C >= 1 && H >= 1 && W >= 1 && C <= L->max_dim && H <= L->max_dim && W <= L->max_dim,
          SNN_E_LIMIT, i, -1, "a dimension of the shape is outside 1..%lld",
          (long long)L->max_dim);
    CHECK(mul_within(C, H, L->max_neurons, &n) && mul_within(n, W, L->max_neurons, &n),
          SNN_E_LIMIT, i, -1, "more than %lld neurons", (long long)L->max_neurons);

    if (d->kind == SNN_KIND_IF) {
        FORWARD_IF_ERROR(check_threshold(desc, &d->threshold, "threshold", i, C, need_data, err));
        CHECK(snn_reset_name(d->reset) != NULL, SNN_E_UNSUPPORTED, i, -1,
              "unknown reset mode %d", (int)d->reset);
        CHECK(isfinite(d->v_init) && d->v_init >= -1.0f && d->v_init <= 1.0f, SNN_E_VALUE, i, -1,
              "v_init must be in [-1, 1], found %g", (double)d->v_init);
        if (d->is_signed)
            FORWARD_IF_ERROR(check_threshold(desc, &d->threshold_neg, "threshold_neg", i, C,
                                             need_data, err));
        else
            CHECK(d->threshold_neg.ndim == 0, SNN_E_INVALID_ARG, i, -1,
                  "threshold_neg is given but the population is not signed");
        CHECK(!d->retract || d->is_signed, SNN_E_INVALID_ARG, i, -1,
              "retract is set but the population is not signed");
        CHECK(!d->retract || d->reset == SNN_RESET_SUBTRACT, SNN_E_INVALID_ARG, i, -1,
              "a retracting population needs reset subtract");
    } else {
        CHECK(d->threshold.ndim == 0 && d->threshold_neg.ndim == 0 && !d->is_signed &&
              !d->retract, SNN_E_INVALID_ARG, i, -1, "only if populations take thresholds");
    }
    if (d->bias.ndim != 0) {
        CHECK(d->kind != SNN_KIND_INPUT, SNN_E_INVALID_ARG, i, -1,
              "the input population takes no bias");
        CHECK(is_shape(&d->bias, 1, C, 0, 0) || is_shape(&d->bias, d->ndim, C, H, W), SNN_E_SHAPE,
              i, -1, "bias has shape %s, expected (%lld,) (per channel) or the population's shape",
              shape_text(&d->bias, s, sizeof s), (long long)C);
        FORWARD_IF_ERROR(check_array(desc, &d->bias, "bias", i, -1, 0, need_data, err));
    }
    out->ndim = d->ndim; out->C = C; out->H = H; out->W = W; out->n = n;
    return SNN_OK;
}

/* ---- projections ---------------------------------------------------------- */

int64_t snn_window_out(int64_t in, int32_t k, int32_t s, int32_t p, int32_t ceil_mode)
{
    int64_t span, out;
    if (in < 1 || k < 1 || s < 1 || p < 0) return -1;
    span = in + 2 * (int64_t)p - k;
    if (span < 0) return -1;
    if (!ceil_mode) return span / s + 1;
    out = (span + s - 1) / s + 1;
    if ((out - 1) * s >= in + p) out--;
    return out;
}

/* Upper bound of the engine's taps table of one axis: out * min(k, in). */
static int64_t taps_bound(int64_t in, int64_t out, int32_t k)
{
    return out * (k < in ? k : in);
}

static int check_window(const snn_net_desc *desc, int32_t j, const int32_t kernel[2],
                        const snn__dims *src, const snn__dims *dst, int64_t out_c,
                        const snn_limits *L, snn_error *err)
{
    const snn_projection_desc *d = &desc->projections[j];
    const char *op = snn_op_name(d->op);
    int64_t oh, ow;
    int a;
    CHECK(src->ndim == 3 && dst->ndim == 3, SNN_E_SHAPE, -1, j,
          "%s needs 3-D source and target populations", op);
    for (a = 0; a < 2; a++) {
        CHECK(kernel[a] >= 1 && kernel[a] <= L->max_dim, SNN_E_SHAPE, -1, j,
              "kernel (%d, %d) must be in 1..%lld", (int)kernel[0], (int)kernel[1],
              (long long)L->max_dim);
        CHECK(d->stride[a] >= 1 && d->stride[a] <= L->max_dim, SNN_E_SHAPE, -1, j,
              "stride (%d, %d) must be in 1..%lld", (int)d->stride[0], (int)d->stride[1],
              (long long)L->max_dim);
        CHECK(d->padding[a] >= 0 && d->padding[a] < kernel[a], SNN_E_SHAPE, -1, j,
              "padding (%d, %d) must be in 0..kernel-1", (int)d->padding[0], (int)d->padding[1]);
    }
    oh = snn_window_out(src->H, kernel[0], d->stride[0], d->padding[0], d->ceil_mode);
    ow = snn_window_out(src->W, kernel[1], d->stride[1], d->padding[1], d->ceil_mode);
    CHECK(oh >= 1 && ow >= 1, SNN_E_SHAPE, -1, j,
          "kernel (%d, %d) does not fit the padded source (%lld, %lld)", (int)kernel[0],
          (int)kernel[1], (long long)src->H, (long long)src->W);
    CHECK(dst->C == out_c && dst->H == oh && dst->W == ow, SNN_E_SHAPE, -1, j,
          "the target's shape (%lld, %lld, %lld) is not the %s output (%lld, %lld, %lld)",
          (long long)dst->C, (long long)dst->H, (long long)dst->W, op, (long long)out_c,
          (long long)oh, (long long)ow);
    return SNN_OK;
}

/* Whether population i emits one event per spike, of the spike's sign, so that
 * a window's largest net count changes by at most one a step: an IF population
 * (signed or not), or a relay whose one input is a maxpool2d (whose events are
 * the changes of its largest counts, of the sign of the change, its gains being
 * positive: nested max pooling). */
static int counts_spikes(const snn_net_desc *desc, int32_t i)
{
    const snn_population_desc *p = &desc->populations[i];
    int32_t j, fed = 0, pooled = 0;
    if (p->kind == SNN_KIND_IF) return 1;
    if (p->kind != SNN_KIND_RELAY || p->bias.ndim != 0) return 0;
    for (j = 0; j < desc->n_projections; j++)
        if (desc->projections[j].target == i) {
            fed++;
            pooled += desc->projections[j].op == SNN_OP_MAXPOOL2D;
        }
    return fed == 1 && pooled == 1;
}

/* An optional gain per channel (identity, the pools and upsample2d); `positive`:
 * each gain must be > 0. */
static int check_gain(const snn_net_desc *desc, int32_t j, int64_t C, int positive,
                      int need_data, snn_error *err)
{
    const snn_array *w = &desc->projections[j].weight;
    char s[64];
    if (w->ndim == 0) return SNN_OK;
    CHECK(is_shape(w, 1, C, 0, 0), SNN_E_SHAPE, -1, j,
          "weight has shape %s, expected (%lld,) (one gain per channel)",
          shape_text(w, s, sizeof s), (long long)C);
    return check_array(desc, w, "weight", -1, j, positive, need_data, err);
}

/* A conv2d's channel groups against its 4-D weight (Co, Ci / groups, kh, kw)
 * and its source's Ci channels: groups divide both Ci and Co. */
static int check_groups(const snn_net_desc *desc, int32_t j, const snn_array *w, int64_t Ci,
                        snn_error *err)
{
    const int64_t g = desc->projections[j].groups ? desc->projections[j].groups : 1;
    char s[64];
    CHECK(g >= 1, SNN_E_SHAPE, -1, j, "groups %lld must be >= 1", (long long)g);
    CHECK(Ci % g == 0 && w->shape[0] % g == 0, SNN_E_SHAPE, -1, j,
          "groups %lld does not divide both the source's %lld channels and the weight's %lld "
          "output channels", (long long)g, (long long)Ci, (long long)w->shape[0]);
    if (g == 1)
        CHECK(w->shape[1] == Ci, SNN_E_SHAPE, -1, j,
              "weight has shape %s, but the source has %lld channels", shape_text(w, s, sizeof s),
              (long long)Ci);
    else
        CHECK(w->shape[1] == Ci / g, SNN_E_SHAPE, -1, j,
              "weight has shape %s, expected (%lld, %lld, kh, kw) for the source's %lld "
              "channels in %lld groups", shape_text(w, s, sizeof s), (long long)w->shape[0],
              (long long)(Ci / g), (long long)Ci, (long long)g);
    return SNN_OK;
}

/* Checks projection j and adds the floats the engine keeps for it to *floats. */
static int check_projection(const snn_net_desc *desc, int32_t j, const snn__dims *pd,
                            const snn_limits *L, int need_data, int64_t max_floats,
                            int64_t *floats, snn_error *err)
{
    const snn_projection_desc *d = &desc->projections[j];
    const snn_array *w = &d->weight;
    const snn__dims *src, *dst;
    int64_t mine;
    int32_t kernel[2];
    char s[64];
    FORWARD_IF_ERROR(check_name(desc, d->name, -1, j, L, err));
    CHECK(d->source >= 0 && d->source < desc->n_populations, SNN_E_GRAPH, -1, j,
          "the source %d names no population", (int)d->source);
    CHECK(d->target >= 0 && d->target < desc->n_populations, SNN_E_GRAPH, -1, j,
          "the target %d names no population", (int)d->target);
    CHECK(desc->populations[d->target].kind != SNN_KIND_INPUT, SNN_E_GRAPH, -1, j,
          "a projection may not target the input population");
    CHECK(desc->populations[d->source].kind != SNN_KIND_ACCUMULATE, SNN_E_GRAPH, -1, j,
          "an accumulate population emits nothing and cannot be a source");
    CHECK(snn_op_name(d->op) != NULL, SNN_E_UNSUPPORTED, -1, j, "unknown op %d", (int)d->op);
    src = &pd[d->source];
    dst = &pd[d->target];
    kernel[0] = d->kernel[0];
    kernel[1] = d->kernel[1];
    switch (d->op) {
    case SNN_OP_CONV2D:
        CHECK(w->ndim == 4, SNN_E_SHAPE, -1, j,
              "weight has shape %s, expected (out channels, in channels, kh, kw)",
              shape_text(w, s, sizeof s));
        CHECK(w->shape[2] <= L->max_dim && w->shape[3] <= L->max_dim, SNN_E_SHAPE, -1, j,
              "weight has shape %s: a kernel larger than %lld", shape_text(w, s, sizeof s),
              (long long)L->max_dim);
        CHECK((kernel[0] == 0 && kernel[1] == 0) ||
              (kernel[0] == w->shape[2] && kernel[1] == w->shape[3]), SNN_E_SHAPE, -1, j,
              "kernel (%d, %d) is not the weight's (%lld, %lld)", (int)kernel[0], (int)kernel[1],
              (long long)w->shape[2], (long long)w->shape[3]);
        kernel[0] = (int32_t)w->shape[2];
        kernel[1] = (int32_t)w->shape[3];
        FORWARD_IF_ERROR(check_groups(desc, j, w, src->C, err));
        FORWARD_IF_ERROR(check_window(desc, j, kernel, src, dst, w->shape[0], L, err));
        break;
    case SNN_OP_MAXPOOL2D:
        CHECK(counts_spikes(desc, d->source), SNN_E_GRAPH, -1, j,
              "maxpool2d pools spike counts: its source must be an if population, "
              "or a relay fed by one maxpool2d alone");
        /* fall through */
    case SNN_OP_AVGPOOL2D:
        FORWARD_IF_ERROR(check_window(desc, j, kernel, src, dst, src->C, L, err));
        /* a max pool's gains keep the sign of its counts' changes (counts_spikes) */
        FORWARD_IF_ERROR(check_gain(desc, j, src->C, d->op == SNN_OP_MAXPOOL2D, need_data, err));
        break;
    case SNN_OP_DENSE:
        CHECK(dst->ndim == 1, SNN_E_SHAPE, -1, j, "dense needs a 1-D target");
        CHECK(is_shape(w, 2, dst->n, src->n, 0), SNN_E_SHAPE, -1, j,
              "weight has shape %s, expected (%lld, %lld) (target size, source size)",
              shape_text(w, s, sizeof s), (long long)dst->n, (long long)src->n);
        break;
    case SNN_OP_UPSAMPLE2D:
        CHECK(src->ndim == 3 && dst->ndim == 3, SNN_E_SHAPE, -1, j,
              "upsample2d needs 3-D source and target populations");
        CHECK(d->scale[0] >= 1 && d->scale[1] >= 1 && d->scale[0] <= L->max_dim &&
              d->scale[1] <= L->max_dim, SNN_E_SHAPE, -1, j, "scale (%d, %d) must be in 1..%lld",
              (int)d->scale[0], (int)d->scale[1], (long long)L->max_dim);
        CHECK(dst->C == src->C && dst->H == src->H * d->scale[0] && dst->W == src->W * d->scale[1],
              SNN_E_SHAPE, -1, j,
              "the target's shape (%lld, %lld, %lld) is not the upsample2d output (%lld, %lld, %lld)",
              (long long)dst->C, (long long)dst->H, (long long)dst->W, (long long)src->C,
              (long long)(src->H * d->scale[0]), (long long)(src->W * d->scale[1]));
        FORWARD_IF_ERROR(check_gain(desc, j, src->C, 0, need_data, err));
        break;
    default: /* SNN_OP_IDENTITY */
        CHECK(src->ndim == dst->ndim && src->C == dst->C && src->H == dst->H && src->W == dst->W,
              SNN_E_SHAPE, -1, j, "identity needs a target of the source's shape");
        FORWARD_IF_ERROR(check_gain(desc, j, src->C, 0, need_data, err));
        break;
    }
    CHECK(!d->ceil_mode || d->op == SNN_OP_MAXPOOL2D, SNN_E_INVALID_ARG, -1, j,
          "%s takes no ceil_mode", snn_op_name(d->op));
    CHECK((!d->scale[0] && !d->scale[1]) || d->op == SNN_OP_UPSAMPLE2D, SNN_E_INVALID_ARG, -1, j,
          "%s takes no scale", snn_op_name(d->op));
    if (!snn__windowed(d->op))
        CHECK(!d->kernel[0] && !d->kernel[1] && !d->stride[0] && !d->stride[1] &&
              !d->padding[0] && !d->padding[1], SNN_E_INVALID_ARG, -1, j,
              "%s takes no kernel, stride or padding", snn_op_name(d->op));
    if (d->op != SNN_OP_CONV2D)
        CHECK(d->groups == 0 || d->groups == 1, SNN_E_INVALID_ARG, -1, j, "%s takes no groups",
              snn_op_name(d->op));
    FORWARD_IF_ERROR(check_array(desc, w, "weight", -1, j, 0, need_data, err));
    /* the engine's copy of the weight (or gain), and its taps tables at 2 floats a tap */
    mine = w->ndim ? array_len(w) : (d->op == SNN_OP_DENSE ? 0 : src->C);
    if (snn__windowed(d->op))
        mine += 2 * (taps_bound(src->H, dst->H, kernel[0]) + taps_bound(src->W, dst->W, kernel[1]));
    CHECK(mine <= max_floats, SNN_E_LIMIT, -1, j,
          "its weights need %lld bytes, more than the memory limit", (long long)(4 * mine));
    *floats = *floats + mine > max_floats ? max_floats + 1 : *floats + mine;
    return SNN_OK;
}

/* ---- the graph -------------------------------------------------------------- */

typedef struct named { const char *name; int32_t index; } named;

static int by_name(const void *a, const void *b)
{
    const named *x = a, *y = b;
    const int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The first item, in index order, whose name an earlier item has, or -1. Names
 * are given by `name_at`; unnamed items are skipped. `tmp` is scratch of n. */
static int32_t find_duplicate(const snn_net_desc *desc, int projections, int32_t n, named *tmp)
{
    int32_t i, m = 0, dup = -1;
    for (i = 0; i < n; i++) {
        const char *name = projections ? desc->projections[i].name : desc->populations[i].name;
        if (name) { tmp[m].name = name; tmp[m].index = i; m++; }
    }
    qsort(tmp, (size_t)m, sizeof *tmp, by_name);
    for (i = 1; i < m; i++)
        if (strcmp(tmp[i - 1].name, tmp[i].name) == 0 && (dup < 0 || tmp[i].index < dup))
            dup = tmp[i].index;
    return dup;
}

/* The name of population i in a message ("population 3" when unnamed). */
static int pop_name(const snn_net_desc *d, int32_t i, char *buf, size_t cap)
{
    const char *name = d->populations[i].name;
    if (name && name[0]) return snprintf(buf, cap, "%s", name);
    return snprintf(buf, cap, "population %d", (int)i);
}

/* A cycle among the populations that Kahn's algorithm left (done[i] == 0, each
 * with a predecessor also left): walking back from the lowest one through the
 * lowest such predecessor repeats a population, which closes a cycle. Reported
 * from its lowest population, in the direction of the projections. `path` is
 * scratch of P. */
static int report_cycle(const snn_net_desc *desc, unsigned char *done, int32_t *path,
                        snn_error *err)
{
    const int32_t P = desc->n_populations;
    int32_t n = 0, cur, i, j, start, low;
    char text[sizeof err->message];
    size_t len = 0;
    for (cur = 0; cur < P && done[cur]; cur++) {}
    while (done[cur] != 2) {                  /* 2: on the path */
        int32_t pred = -1;
        done[cur] = 2;
        path[n++] = cur;
        for (j = 0; j < desc->n_projections; j++) {
            const int32_t s = desc->projections[j].source;
            if (desc->projections[j].target == cur && done[s] != 1 && (pred < 0 || s < pred))
                pred = s;
        }
        cur = pred;
    }
    for (start = 0; path[start] != cur; start++) {}
    /* the cycle is path[start..n) walked backwards; begin at its lowest index */
    low = n - 1;
    for (i = start; i < n; i++)
        if (path[i] < path[low]) low = i;
    for (i = 0; i <= n - start && len < sizeof text; i++) {
        int32_t k = low - i;
        if (k < start) k += n - start;
        if (i) len += (size_t)snprintf(text + len, sizeof text - len, " -> ");
        if (len < sizeof text) len += (size_t)pop_name(desc, path[k], text + len, sizeof text - len);
    }
    return fault(err, desc, SNN_E_GRAPH, path[low], -1, "the projections form a cycle: %s", text);
}

/* Kahn's algorithm: the input first, then always the lowest ready index, so the
 * order is a pure function of the description. `indeg` is scratch of P. */
static int topological_order(const snn_net_desc *desc, int32_t *indeg, unsigned char *done,
                             int32_t *order, snn_error *err)
{
    const int32_t P = desc->n_populations;
    int32_t k, i, j;
    memset(indeg, 0, (size_t)P * sizeof *indeg);
    memset(done, 0, (size_t)P);
    for (j = 0; j < desc->n_projections; j++) indeg[desc->projections[j].target]++;
    for (k = 0; k < P; k++) {
        int32_t pick = -1;
        if (k == 0)
            pick = desc->input;
        else
            for (i = 0; i < P && pick < 0; i++)
                if (!done[i] && indeg[i] == 0) pick = i;
        if (pick < 0) return report_cycle(desc, done, indeg, err);
        done[pick] = 1;
        order[k] = pick;
        for (j = 0; j < desc->n_projections; j++)
            if (desc->projections[j].source == pick) indeg[desc->projections[j].target]--;
    }
    return SNN_OK;
}

/* ---- the memory bound ------------------------------------------------------- */

/*
 * Bytes of one state, at most (the engine's layout, net.c plan_state, needs no
 * more): per population its membranes or current (4 bytes a neuron), a constant
 * current (4), an event queue (8), per-position event ranges (8 a position), the
 * output's spike counts (4), and for an IF population the slots of a run-ahead
 * block (32 a neuron plus per-member counters); per maxpool2d, its source's
 * spike counts and its target's largest counts (4 a neuron each); each block
 * aligned.
 */
static uint64_t state_bound(const snn_net_desc *desc, const snn__dims *pd)
{
    uint64_t total = sizeof(struct snn_state) + 5 * SNN_ALIGN;
    int32_t i;
    for (i = 0; i < desc->n_projections; i++)
        if (desc->projections[i].op == SNN_OP_MAXPOOL2D)
            total += 4 * (uint64_t)(pd[desc->projections[i].source].n +
                                    pd[desc->projections[i].target].n) + 2 * SNN_ALIGN;
    total += 8 * (uint64_t)pd[desc->input].n + 8 * (uint64_t)desc->n_populations +
             8 * (uint64_t)desc->n_projections;
    for (i = 0; i < desc->n_populations; i++) {
        const uint64_t n = (uint64_t)pd[i].n;
        total += 28 * n + 8 * (uint64_t)(pd[i].H * pd[i].W) + 8 * SNN_ALIGN;
        if (desc->populations[i].kind == SNN_KIND_IF)
            total += 4 * SNN_AHEAD_STEPS * n + 16 * SNN_AHEAD_STEPS * SNN_MAX_THREADS;
        if (desc->populations[i].retract) total += 4 * n;     /* its net spike counts */
    }
    return total;
}

/* ---- the whole description ---------------------------------------------------- */

static int check_hints(const snn_net_desc *desc, const snn_limits *L, snn_error *err)
{
    const snn_hints *h = desc->hints;
    if (h == NULL) return SNN_OK;
    CHECK(snn_encoding_name(h->encoding) != NULL, SNN_E_UNSUPPORTED, -1, -1,
          "hints: unknown encoding %d", (int)h->encoding);
    CHECK(isfinite(h->rate) && h->rate > 0.0, SNN_E_VALUE, -1, -1,
          "hints: rate must be finite and > 0, found %g", h->rate);
    CHECK(isfinite(h->uint8_scale) && h->uint8_scale > 0.0, SNN_E_VALUE, -1, -1,
          "hints: uint8_scale must be finite and > 0, found %g", h->uint8_scale);
    CHECK(h->readout_start >= 1 && h->readout_start <= L->max_timesteps, SNN_E_VALUE, -1, -1,
          "hints: readout start must be in 1..%lld, found %d", (long long)L->max_timesteps,
          (int)h->readout_start);
    return SNN_OK;
}

static int check_counts(const snn_net_desc *desc, const snn_limits *L, snn_error *err)
{
    CHECK(desc->n_populations >= 1 && desc->n_populations <= L->max_populations, SNN_E_LIMIT, -1,
          -1, "%d populations, expected 1..%lld", (int)desc->n_populations,
          (long long)L->max_populations);
    CHECK(desc->n_projections >= 0 && desc->n_projections <= L->max_projections, SNN_E_LIMIT, -1,
          -1, "%d projections, expected 0..%lld", (int)desc->n_projections,
          (long long)L->max_projections);
    CHECK(desc->populations != NULL, SNN_E_INVALID_ARG, -1, -1, "populations is NULL");
    CHECK(desc->n_projections == 0 || desc->projections != NULL, SNN_E_INVALID_ARG, -1, -1,
          "projections is NULL");
    CHECK(desc->isa >= SNN_ISA_AUTO && desc->isa <= SNN_ISA_AVX512, SNN_E_UNSUPPORTED, -1, -1,
          "unknown isa %d", (int)desc->isa);
    CHECK(desc->isa != SNN_ISA_AVX2 || snn__cpu_has_avx2(), SNN_E_UNSUPPORTED, -1, -1,
          "isa avx2 requested, but this CPU or build has no AVX2");
    CHECK(desc->isa != SNN_ISA_AVX512 || snn__cpu_has_avx512(), SNN_E_UNSUPPORTED, -1, -1,
          "isa avx512 requested, but this CPU or build has no AVX-512F with FMA");
    CHECK(desc->allocator == NULL || (desc->allocator->alloc && desc->allocator->free),
          SNN_E_INVALID_ARG, -1, -1, "the allocator lacks alloc or free");
    return SNN_OK;
}

static int check_io(const snn_net_desc *desc, snn_error *err)
{
    int32_t i, n_input = 0, out_kind;
    for (i = 0; i < desc->n_populations; i++)
        if (desc->populations[i].kind == SNN_KIND_INPUT) {
            CHECK(n_input == 0, SNN_E_GRAPH, i, -1,
                  "a second input population: a network has exactly one");
            n_input++;
        }
    CHECK(n_input == 1, SNN_E_GRAPH, -1, -1, "the network has no input population");
    CHECK(desc->input >= 0 && desc->input < desc->n_populations &&
          desc->populations[desc->input].kind == SNN_KIND_INPUT, SNN_E_GRAPH, -1, -1,
          "input %d is not the input population", (int)desc->input);
    CHECK(desc->output >= 0 && desc->output < desc->n_populations, SNN_E_GRAPH, -1, -1,
          "output %d names no population", (int)desc->output);
    out_kind = desc->populations[desc->output].kind;
    CHECK(out_kind == SNN_KIND_IF || out_kind == SNN_KIND_ACCUMULATE, SNN_E_GRAPH, desc->output, -1,
          "the output population must be if or accumulate, not %s", snn_kind_name(out_kind));
    return SNN_OK;
}

static int check_all(const snn_net_desc *desc, const snn_limits *L, int need_data, snn__dims *pd,
                     named *names, int32_t *indeg, unsigned char *done, int32_t *order,
                     snn_error *err)
{
    const int64_t max_bytes = desc->max_bytes > 0 ? desc->max_bytes : L->max_bytes;
    int64_t floats = 0;
    uint64_t need;
    int32_t i, dup;
    FORWARD_IF_ERROR(check_hints(desc, L, err));
    for (i = 0; i < desc->n_populations; i++)
        FORWARD_IF_ERROR(check_population(desc, i, L, need_data, &pd[i], err));
    dup = find_duplicate(desc, 0, desc->n_populations, names);
    CHECK(dup < 0, SNN_E_GRAPH, dup, -1, "a second population of this name");
    FORWARD_IF_ERROR(check_io(desc, err));
    for (i = 0; i < desc->n_projections; i++)
        FORWARD_IF_ERROR(check_projection(desc, i, pd, L, need_data, max_bytes / 4, &floats, err));
    dup = find_duplicate(desc, 1, desc->n_projections, names);
    CHECK(dup < 0, SNN_E_GRAPH, -1, dup, "a second projection of this name");
    need = state_bound(desc, pd) + 4 * (uint64_t)floats;   /* floats <= max_bytes / 4 + 1 */
    CHECK(need <= (uint64_t)max_bytes, SNN_E_LIMIT, -1, -1,
          "the network needs up to %llu bytes (weights and one state), more than the limit "
          "of %lld", (unsigned long long)need, (long long)max_bytes);
    return topological_order(desc, indeg, done, order, err);
}

int snn__check_counts(const snn_net_desc *desc, snn_error *err)
{
    snn_limits L;
    if (err) { err->status = SNN_OK; err->population = err->projection = -1; err->message[0] = 0; }
    if (desc == NULL) return snn__set_error(err, SNN_E_INVALID_ARG, -1, -1, "the description is NULL");
    snn_get_limits(&L);
    return check_counts(desc, &L, err);
}

int snn__check(const snn_net_desc *desc, int need_data, snn__dims *pd, int32_t *order,
               snn_error *err)
{
    snn_limits L;
    const snn_allocator a = desc->allocator ? *desc->allocator : snn__default_allocator();
    const int32_t P = desc->n_populations, J = desc->n_projections;
    named *names = a.alloc(a.opaque, (size_t)(P > J ? P : J) * sizeof *names);
    int32_t *indeg = a.alloc(a.opaque, (size_t)P * sizeof *indeg);
    unsigned char *done = a.alloc(a.opaque, (size_t)P);
    int status;
    snn_get_limits(&L);
    if (names && indeg && done)
        status = check_all(desc, &L, need_data, pd, names, indeg, done, order, err);
    else
        status = fault(err, desc, SNN_E_NOMEM, -1, -1, "out of memory checking the network");
    a.free(a.opaque, names);
    a.free(a.opaque, indeg);
    a.free(a.opaque, done);
    return status;
}

int snn_net_check(const snn_net_desc *desc, int32_t *order, snn_error *err)
{
    snn_allocator a;
    snn__dims *pd;
    int32_t *ord;
    int status;
    FORWARD_IF_ERROR(snn__check_counts(desc, err));      /* before the counts size anything */
    a = desc->allocator ? *desc->allocator : snn__default_allocator();
    pd = a.alloc(a.opaque, (size_t)desc->n_populations * sizeof *pd);
    ord = order ? order : a.alloc(a.opaque, (size_t)desc->n_populations * sizeof *ord);
    if (pd == NULL || ord == NULL)
        status = fault(err, desc, SNN_E_NOMEM, -1, -1, "out of memory checking the network");
    else
        status = snn__check(desc, 0, pd, ord, err);
    a.free(a.opaque, pd);
    if (ord != order) a.free(a.opaque, ord);
    return status;
}
