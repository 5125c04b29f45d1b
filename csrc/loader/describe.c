/*
 * The metadata (__snncore__.npy) turned into an snn_net_desc: strict JSON (jansson),
 * then its keys and their types, the names items give each other, and the arrays
 * they name (shapes from the members' .npy headers, data not read yet). What the
 * values mean is snn_net_check's business, not this reader's.
 */
#include "loader.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct named { const char *name; int32_t index; } named;

typedef struct ctx {
    const snn__archive *a;
    snn_file *f;
    snn__ref *refs;
    size_t n_refs;
    named *by_name;         /* the populations, sorted by (name, index) */
    int32_t pop, proj;      /* the item being read, or -1 */
    snn_error *err;
} ctx;

/* Refuses the current item: "population 'a': <problem>" (or "population 3"). */
static SNN__PRINTF(2, 3) int refuse(ctx *c, const char *fmt, ...)
{
    char problem[sizeof c->err->message];
    const char *what = c->proj >= 0 ? "projection" : "population";
    const int32_t i = c->proj >= 0 ? c->proj : c->pop;
    const char *name = c->proj >= 0 ? c->f->proj_names[i] : c->f->pop_names[i];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    if (name && name[0])
        return snn__set_error(c->err, SNN_E_FORMAT, c->pop, c->proj, "%s '%s': %s", what, name,
                              problem);
    return snn__set_error(c->err, SNN_E_FORMAT, c->pop, c->proj, "%s %d: %s", what, (int)i,
                          problem);
}

static int meta_key(ctx *c, const char *key, const char *problem, const char *arg)
{
    return FORMAT_ERROR(c->err, "metadata key '%s': %s%s%s%s", key, problem, arg ? " '" : "",
                        arg ? arg : "", arg ? "'" : "");
}

/* ---- the JSON ------------------------------------------------------------- */

static int depth_ok(const json_t *v, int64_t depth, int64_t max)
{
    const char *k;
    json_t *x;
    size_t i;
    if (depth > max) return 0;
    if (json_is_array(v))
        for (i = 0; i < json_array_size(v); i++)
            if (!depth_ok(json_array_get(v, i), depth + 1, max)) return 0;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x)
            if (!depth_ok(x, depth + 1, max)) return 0;
    return 1;
}

int snn__parse_json(const unsigned char *raw, size_t n, json_t **out, snn_error *err)
{
    json_error_t je;
    const json_t *fmt, *version;
    snn_limits L;
    snn_get_limits(&L);
    memset(&je, 0, sizeof je);
    *out = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (*out == NULL && json_error_code(&je) == json_error_out_of_memory) return snn__nomem(err);
    if (*out == NULL)
        return FORMAT_ERROR(err, "metadata: not valid JSON (%s, line %d column %d)", je.text,
                            je.line, je.column);
    if (!json_is_object(*out)) return FORMAT_ERROR(err, "metadata: not a JSON object");
    if (!depth_ok(*out, 1, L.max_json_depth))
        return FORMAT_ERROR(err, "metadata: nested more than %lld deep",
                            (long long)L.max_json_depth);
    fmt = json_object_get(*out, "format");
    version = json_object_get(*out, "version");
    if (json_is_string(fmt) && strcmp(json_string_value(fmt), "snncore") == 0 &&
        json_is_integer(version) && json_integer_value(version) > SNN_FORMAT_VERSION)
        return FORMAT_ERROR(err, "metadata: format version %lld is newer than this snncore "
                            "supports; upgrade snncore", (long long)json_integer_value(version));
    return SNN_OK;
}

/* ---- values ---------------------------------------------------------------- */

static int32_t clamp32(json_int_t v)
{
    return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

/* float32(x) with IEEE rounding, infinity beyond the largest float (no UB). */
static float to_f32(double x)
{
    const double edge = 340282356779733661637539395458142568448.0;   /* 2^128 - 2^103 */
    if (x >= edge) return INFINITY;
    if (x <= -edge) return -INFINITY;
    return (float)x;
}

static int is_number(const json_t *v) { return json_is_integer(v) || json_is_real(v); }

/* A string without NUL characters (jansson refuses them; a guard all the same). */
static const char *plain_string(const json_t *v)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v)
               ? json_string_value(v) : NULL;
}

/* A list of `n` integers (clamped to int32 when `out32`, else kept as int64). */
static int int_list(const json_t *v, size_t n1, size_t n2, int32_t *out32, int64_t *out64,
                    int32_t *count)
{
    size_t i, n = json_array_size(v);
    if (!json_is_array(v) || (n != n1 && n != n2)) return 0;
    for (i = 0; i < n; i++) {   /* on failure, what was stored is not used */
        const json_t *x = json_array_get(v, i);
        if (!json_is_integer(x)) return 0;
        if (out32) out32[i] = clamp32(json_integer_value(x));
        else out64[i] = (int64_t)json_integer_value(x);
    }
    if (count) *count = (int32_t)n;
    return 1;
}

static int pair(ctx *c, const json_t *o, const char *key, int32_t out[2])
{
    const json_t *v = json_object_get(o, key);
    if (v && !int_list(v, 2, 2, out, NULL, NULL))
        return refuse(c, "'%s' must be a list of 2 integers", key);
    return SNN_OK;
}

/* An array name: names a member, whose header gives the shape. */
static int array_ref(ctx *c, const json_t *o, const char *key, snn_array *slot)
{
    const json_t *v = json_object_get(o, key);
    const char *s = plain_string(v);
    snn__member *m;
    int32_t k;
    if (v == NULL) return SNN_OK;
    if (s == NULL) return refuse(c, "'%s' must be an array name", key);
    if (s[0] == '\0' || strchr(s, '/') || strncmp(s, "__", 2) == 0)
        return refuse(c, "'%s': '%s' is not a valid array name", key, s);
    if ((m = snn__archive_find(c->a, s)) == NULL)
        return refuse(c, "'%s' names no array '%s'", key, s);
    if (m->h.ndim > 4)
        return refuse(c, "'%s': the array '%s' has %d dimensions, more than 4", key, s, m->h.ndim);
    slot->ndim = m->h.ndim ? m->h.ndim : 1;   /* slot->data stays NULL until it is read */
    slot->shape[0] = 1;
    for (k = 0; k < m->h.ndim; k++) slot->shape[k] = (int64_t)m->h.shape[k];
    c->refs[c->n_refs].slot = slot;
    c->refs[c->n_refs++].member = m;
    return SNN_OK;
}

/* A threshold: a number (one value) or an array name. */
static int threshold(ctx *c, const json_t *o, const char *key, snn_array *slot, float *scalar)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_string(v)) return array_ref(c, o, key, slot);
    if (!is_number(v)) return refuse(c, "'%s' must be a number or an array name", key);
    *scalar = to_f32(json_number_value(v));
    slot->data = scalar;
    slot->ndim = 1;
    slot->shape[0] = 1;
    return SNN_OK;
}

/* Every key of `o` is in `mine`; else say whether another kind or op takes it. */
static int keys(ctx *c, const json_t *o, const char *const *mine,
                const char *const *(*lists)(int32_t), const char *what, const char *plural)
{
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)o, key, x) {
        const char *const *l = mine;
        int32_t t;
        int other = 0;
        while (*l && strcmp(*l, key) != 0) l++;
        if (*l) continue;
        for (t = 0; lists(t); t++)
            for (l = lists(t); *l; l++) other |= strcmp(*l, key) == 0;
        if (other) return refuse(c, "'%s' does not apply to %s %s", key, what, plural);
        return refuse(c, "unknown key '%s'", key);
    }
    return SNN_OK;
}

/* The item's name (required): kept, and used in messages from here on. */
static int item_name(ctx *c, const json_t *o, char **slot)
{
    const json_t *v = json_object_get(o, "name");
    if (v == NULL) return refuse(c, "'name' is missing");
    if (!json_is_string(v)) return refuse(c, "'name' must be a string");
    if (plain_string(v) == NULL) return refuse(c, "'name' holds a NUL character");
    return (*slot = strdup(json_string_value(v))) ? SNN_OK : snn__nomem(c->err);
}

/* A string key: *out is its value, or NULL when it is absent and optional. */
static int string_key(ctx *c, const json_t *o, const char *key, int required, const char **out)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL) return required ? refuse(c, "'%s' is missing", key) : SNN_OK;
    return (*out = plain_string(v)) ? SNN_OK : refuse(c, "'%s' must be a string", key);
}

/* A string naming one of a table's values (`from_name`). */
static int enum_key(ctx *c, const json_t *o, const char *key, int required,
                    int32_t (*from_name)(const char *), int32_t *out)
{
    const char *s;
    FORWARD(string_key(c, o, key, required, &s));
    if (s && (*out = from_name(s)) < 0) return refuse(c, "unknown %s '%s'", key, s);
    return SNN_OK;
}

/* An optional boolean key: *out is 1 for true, 0 for false or absent. */
static int bool_key(ctx *c, const json_t *o, const char *key, int32_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (v != NULL && !json_is_boolean(v)) return refuse(c, "'%s' must be true or false", key);
    *out = v != NULL && json_is_true(v);
    return SNN_OK;
}

/* ---- populations and projections ---------------------------------------------- */

static int population(ctx *c, int32_t i, const json_t *o)
{
    snn_population_desc *p = &c->f->pops[i];
    const json_t *v;
    c->pop = i;
    if (!json_is_object(o)) return refuse(c, "must be a JSON object");
    FORWARD(item_name(c, o, &c->f->pop_names[i]));
    p->name = c->f->pop_names[i];
    FORWARD(enum_key(c, o, "kind", 1, snn_kind_from_name, &p->kind));
    FORWARD(keys(c, o, snn_kind_keys(p->kind), snn_kind_keys, snn_kind_name(p->kind),
                 "populations"));
    v = json_object_get(o, "shape");
    if (v == NULL) return refuse(c, "'shape' is missing");
    if (!int_list(v, 1, 3, NULL, p->shape, &p->ndim))
        return refuse(c, "'shape' must be a list of 1 or 3 integers");
    FORWARD(threshold(c, o, "threshold", &p->threshold, &c->f->scalars[2 * i]));
    p->reset = SNN_RESET_SUBTRACT;
    FORWARD(enum_key(c, o, "reset", 0, snn_reset_from_name, &p->reset));
    if ((v = json_object_get(o, "v_init")) != NULL && !is_number(v))
        return refuse(c, "'v_init' must be a number");
    p->v_init = v ? to_f32(json_number_value(v)) : 0.0f;
    FORWARD(bool_key(c, o, "signed", &p->is_signed));
    FORWARD(threshold(c, o, "threshold_neg", &p->threshold_neg, &c->f->scalars[2 * i + 1]));
    return array_ref(c, o, "bias", &p->bias);
}

/* The first population called `name`, or -1. */
static int32_t find_population(const ctx *c, const char *name)
{
    size_t lo = 0, hi = (size_t)c->f->desc.n_populations;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(c->by_name[mid].name, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < (size_t)c->f->desc.n_populations && strcmp(c->by_name[lo].name, name) == 0
               ? c->by_name[lo].index : -1;
}

static int endpoint(ctx *c, const json_t *o, const char *key, int32_t *out)
{
    const char *s;
    FORWARD(string_key(c, o, key, 1, &s));
    if ((*out = find_population(c, s)) < 0)
        return refuse(c, "'%s' names no population '%s'", key, s);
    return SNN_OK;
}

/* conv2d's channel groups: an integer >= 1 (default 1). The reader refuses 0
 * and below itself, since the description's 0 means "absent" (snn.h). */
static int groups(ctx *c, const json_t *o, snn_projection_desc *p)
{
    const json_t *v = json_object_get(o, "groups");
    if (p->op == SNN_OP_CONV2D) p->groups = 1;
    if (v == NULL) return SNN_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return refuse(c, "'groups' must be an integer >= 1");
    p->groups = clamp32(json_integer_value(v));
    return SNN_OK;
}

static int projection(ctx *c, int32_t j, const json_t *o)
{
    snn_projection_desc *p = &c->f->projs[j];
    c->pop = -1;
    c->proj = j;
    if (!json_is_object(o)) return refuse(c, "must be a JSON object");
    FORWARD(item_name(c, o, &c->f->proj_names[j]));
    p->name = c->f->proj_names[j];
    FORWARD(enum_key(c, o, "op", 1, snn_op_from_name, &p->op));
    FORWARD(keys(c, o, snn_op_keys(p->op), snn_op_keys, snn_op_name(p->op), "projections"));
    FORWARD(endpoint(c, o, "source", &p->source));
    FORWARD(endpoint(c, o, "target", &p->target));
    FORWARD(array_ref(c, o, "weight", &p->weight));
    FORWARD(pair(c, o, "kernel", p->kernel));
    if (p->op == SNN_OP_CONV2D) p->stride[0] = p->stride[1] = 1;
    if (p->op == SNN_OP_AVGPOOL2D || p->op == SNN_OP_MAXPOOL2D)
        memcpy(p->stride, p->kernel, sizeof p->stride);
    FORWARD(pair(c, o, "stride", p->stride));
    FORWARD(pair(c, o, "padding", p->padding));
    FORWARD(pair(c, o, "scale", p->scale));
    FORWARD(bool_key(c, o, "ceil_mode", &p->ceil_mode));
    return groups(c, o, p);
}

/* ---- the top level ------------------------------------------------------------ */

/* A top-level key of JSON type `type` (NULL when absent and optional). */
static int top(ctx *c, const json_t *meta, const char *key, json_type type, const char *what,
               int required, const json_t **out)
{
    *out = json_object_get(meta, key);
    if (*out == NULL) return required ? meta_key(c, key, "missing", NULL) : SNN_OK;
    if (json_typeof(*out) != type)
        return FORMAT_ERROR(c->err, "metadata key '%s': must be %s", key, what);
    return SNN_OK;
}

static int by_name(const void *x, const void *y)
{
    const named *a = x, *b = y;
    const int k = strcmp(a->name, b->name);
    return k ? k : (a->index > b->index) - (a->index < b->index);
}

static int input_hints(ctx *c, const json_t *in, const char **pop_name)
{
    snn_hints *h = &c->f->hints;
    const json_t *v = json_object_get(in, "population");
    if (v == NULL) return meta_key(c, "input", "'population' is missing", NULL);
    if ((*pop_name = plain_string(v)) == NULL)
        return meta_key(c, "input", "'population' must be a string", NULL);
    if ((v = json_object_get(in, "encoding")) != NULL) {
        if (plain_string(v) == NULL) return meta_key(c, "input", "'encoding' must be a string", NULL);
        if ((h->encoding = snn_encoding_from_name(json_string_value(v))) < 0)
            return meta_key(c, "input", "unknown encoding", json_string_value(v));
    }
    if ((v = json_object_get(in, "rate")) != NULL && !is_number(v))
        return meta_key(c, "input", "'rate' must be a number", NULL);
    if (v) h->rate = json_number_value(v);
    if ((v = json_object_get(in, "uint8_scale")) != NULL && !is_number(v))
        return meta_key(c, "input", "'uint8_scale' must be a number", NULL);
    if (v) h->uint8_scale = json_number_value(v);
    return SNN_OK;
}

static int describe(ctx *c, const json_t *meta)
{
    snn_file *f = c->f;
    const json_t *v, *in, *out, *pops, *projs, *prov, *readout;
    const char *in_name = NULL;
    size_t i, P, J;
    v = json_object_get(meta, "format");
    if (v == NULL) return meta_key(c, "format", "missing", NULL);
    if (!json_is_string(v) || strcmp(json_string_value(v), "snncore") != 0)
        return meta_key(c, "format", "must be \"snncore\"", NULL);
    v = json_object_get(meta, "version");
    if (v == NULL) return meta_key(c, "version", "missing", NULL);
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > SNN_FORMAT_VERSION)
        return meta_key(c, "version", "must be an integer from 1 to this snncore's format version",
                        NULL);
    f->info.format_version = (int32_t)json_integer_value(v);
    FORWARD(top(c, meta, "producer", JSON_STRING, "a string", 0, &v));
    if (v && plain_string(v) == NULL) return meta_key(c, "producer", "holds a NUL character", NULL);
    if (v && (f->producer = strdup(json_string_value(v))) == NULL) return snn__nomem(c->err);
    FORWARD(top(c, meta, "input", JSON_OBJECT, "an object", 1, &in));
    FORWARD(top(c, meta, "output", JSON_STRING, "a string", 1, &out));
    FORWARD(top(c, meta, "populations", JSON_ARRAY, "a list", 1, &pops));
    FORWARD(top(c, meta, "projections", JSON_ARRAY, "a list", 1, &projs));
    FORWARD(top(c, meta, "provenance", JSON_OBJECT, "an object", 0, &prov));
    f->provenance = prov ? json_dumps(prov, JSON_COMPACT) : strdup("{}");
    if (f->provenance == NULL) return snn__nomem(c->err);
    FORWARD(top(c, meta, "readout", JSON_OBJECT, "an object", 0, &readout));
    f->hints.encoding = SNN_ENCODING_ANALOG;
    f->hints.rate = 1.0;
    f->hints.uint8_scale = 1.0 / 255.0;
    f->hints.readout_start = 1;
    if (readout && (v = json_object_get(readout, "start")) != NULL) {
        if (!json_is_integer(v)) return meta_key(c, "readout", "'start' must be an integer", NULL);
        f->hints.readout_start = clamp32(json_integer_value(v));
    }
    FORWARD(input_hints(c, in, &in_name));

    P = json_array_size(pops);
    J = json_array_size(projs);
    f->pops = calloc(P + 1, sizeof *f->pops);
    f->projs = calloc(J + 1, sizeof *f->projs);
    f->pop_names = calloc(P + 1, sizeof *f->pop_names);
    f->proj_names = calloc(J + 1, sizeof *f->proj_names);
    f->scalars = calloc(2 * P + 1, sizeof *f->scalars);
    c->refs = malloc((3 * P + J + 1) * sizeof *c->refs);
    c->by_name = malloc((P + 1) * sizeof *c->by_name);
    if (!f->pops || !f->projs || !f->pop_names || !f->proj_names || !f->scalars || !c->refs ||
        !c->by_name)
        return snn__nomem(c->err);
    f->desc.populations = f->pops;
    f->desc.n_populations = (int32_t)P;
    f->desc.projections = f->projs;
    f->desc.n_projections = (int32_t)J;
    for (i = 0; i < P; i++) FORWARD(population(c, (int32_t)i, json_array_get(pops, i)));
    c->pop = -1;
    for (i = 0; i < P; i++) {
        c->by_name[i].name = f->pop_names[i];
        c->by_name[i].index = (int32_t)i;
    }
    qsort(c->by_name, P, sizeof *c->by_name, by_name);
    if ((f->desc.input = find_population(c, in_name)) < 0)
        return meta_key(c, "input", "'population' names no population", in_name);
    if ((f->desc.output = find_population(c, json_string_value(out))) < 0)
        return meta_key(c, "output", "names no population", json_string_value(out));
    for (i = 0; i < J; i++) FORWARD(projection(c, (int32_t)i, json_array_get(projs, i)));
    return SNN_OK;
}

int snn__describe(const json_t *meta, const snn__archive *a, snn_file *f, snn__ref **refs,
                  size_t *n_refs, snn_error *err)
{
    ctx c = {.a = a, .f = f, .pop = -1, .proj = -1, .err = err};
    const int status = describe(&c, meta);
    free(c.by_name);
    *refs = c.refs;
    *n_refs = c.n_refs;
    f->desc.hints = &f->hints;
    f->info.hints = f->hints;
    f->info.producer = f->producer ? f->producer : "";
    f->info.provenance = f->provenance ? f->provenance : "{}";
    f->info.population_names = (const char *const *)f->pop_names;
    f->info.projection_names = (const char *const *)f->proj_names;
    return status;
}
