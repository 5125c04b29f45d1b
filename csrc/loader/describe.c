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
    const char *top;        /* or the top-level key being read ("input"), or NULL */
    char **name;            /* where the item's name is kept */
    float *scalar;          /* where the item's next threshold given as a number goes */
    snn_error *err;
} ctx;

/* Refuses the current item: "population 'a': <problem>" (or "population 3"), or the
 * top-level key being read: "metadata key 'input': <problem>". */
static SNN__PRINTF(2, 3) int refuse(ctx *c, const char *fmt, ...)
{
    char label[128], problem[sizeof c->err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    if (c->top) return FORMAT_ERROR(c->err, "metadata key '%s': %s", c->top, problem);
    snn__item_label(&c->f->desc, c->pop, c->proj, label, sizeof label);
    return snn__set_error(c->err, SNN_E_FORMAT, c->pop, c->proj, "%s%s", label, problem);
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

/* Refuses `v` under `key` for not being `expected`, saying what it is instead. */
static int wrong_type(ctx *c, const char *key, const char *expected, const json_t *v)
{
    char num[32];
    const char *is = "null";
    switch (json_typeof(v)) {
    case JSON_OBJECT: is = "an object"; break;
    case JSON_ARRAY: is = "a list"; break;
    case JSON_STRING: is = "a string"; break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        is = num;
        break;
    case JSON_REAL: is = "a number"; break;
    case JSON_TRUE:
    case JSON_FALSE: is = "a boolean"; break;
    default: break;
    }
    return refuse(c, "'%s' must be %s, not %s", key, expected, is);
}

/* An array name: names a member, whose header gives the shape. */
static int array_ref(ctx *c, const json_t *o, const char *key, snn_array *slot)
{
    const json_t *v = json_object_get(o, key);
    const char *s = plain_string(v);
    snn__member *m;
    int32_t k;
    if (v == NULL) return SNN_OK;
    if (s == NULL) return wrong_type(c, key, "an array name", v);
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
static int threshold(ctx *c, const json_t *o, const char *key, snn_array *slot)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_string(v)) return array_ref(c, o, key, slot);
    if (!is_number(v)) return wrong_type(c, key, "a number or an array name", v);
    *c->scalar = to_f32(json_number_value(v));
    slot->data = c->scalar++;
    slot->ndim = 1;
    slot->shape[0] = 1;
    return SNN_OK;
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

/* Every key of `o` is a row of `owner` that applies to kind or op `which`; else
 * says whether another kind or op takes it. */
static int keys(ctx *c, const json_t *o, int32_t owner, int32_t which)
{
    const int pops = owner == SNN_KEYS_POPULATION;
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)o, key, x) {
        int32_t t, other = 0;
        if (snn_key_applies(key, owner, which)) continue;
        for (t = 0; t < 32; t++) other |= snn_key_applies(key, owner, t);
        if (other)
            return refuse(c, "'%s' does not apply to %s %s", key,
                          pops ? snn_kind_name(which) : snn_op_name(which),
                          pops ? "populations" : "projections");
        return refuse(c, "unknown key '%s'", key);
    }
    return SNN_OK;
}

/* The row of `key` of `owner` (the first, if several), or NULL. */
static const snn_key *row_of(int32_t owner, const char *key)
{
    int32_t i, n;
    const snn_key *rows = snn_keys(&n);
    for (i = 0; i < n; i++)
        if (rows[i].owner == owner && strcmp(rows[i].key, key) == 0) return &rows[i];
    return NULL;
}

/* The value of a key that is absent: its row's fallback, or another key's value. */
static void fallback(const snn_key *k, unsigned char *base)
{
    void *field = base + k->offset;
    const snn_key *from = k->fallback_key ? row_of(k->owner, k->fallback_key) : NULL;
    switch (k->type) {
    case SNN_KEY_PAIR:
        if (from) memcpy(field, base + from->offset, 2 * sizeof(int32_t));
        else ((int32_t *)field)[0] = ((int32_t *)field)[1] = (int32_t)k->fallback;
        break;
    case SNN_KEY_FLOAT:
        *(float *)field = (float)k->fallback;
        break;
    case SNN_KEY_DOUBLE:
        *(double *)field = k->fallback;
        break;
    case SNN_KEY_CHOICE:
    case SNN_KEY_BOOL:
    case SNN_KEY_INT:
    case SNN_KEY_COUNT:
        *(int32_t *)field = (int32_t)k->fallback;
        break;
    default:    /* an array stays absent (ndim 0); the others are required */
        break;
    }
}

/* Reads key row `k` of `o` into the description at `base`. */
static int read_key(ctx *c, const json_t *o, const snn_key *k, unsigned char *base)
{
    const json_t *v = json_object_get(o, k->key);
    void *field = base + k->offset;
    const char *s = plain_string(v);
    int32_t *i32 = field;
    if (v == NULL && k->required) return refuse(c, "'%s' is missing", k->key);
    if (v == NULL) {
        fallback(k, base);
        return SNN_OK;
    }
    switch (k->type) {
    case SNN_KEY_NAME:
        if (!json_is_string(v)) return wrong_type(c, k->key, "a string", v);
        if (s == NULL) return refuse(c, "'%s' holds a NUL character", k->key);
        if ((*c->name = strdup(s)) == NULL) return snn__nomem(c->err);
        *(const char **)field = *c->name;
        return SNN_OK;
    case SNN_KEY_CHOICE:
    case SNN_KEY_POPULATION:
        if (s == NULL) return wrong_type(c, k->key, "a string", v);
        *i32 = k->choices ? snn__from_name(k->choices, s) : find_population(c, s);
        if (*i32 < 0 && k->choices) return refuse(c, "unknown %s '%s'", k->key, s);
        if (*i32 < 0) return refuse(c, "'%s' names no population '%s'", k->key, s);
        return SNN_OK;
    case SNN_KEY_SHAPE:
        if (!int_list(v, 1, 3, NULL, field, &((snn_population_desc *)base)->ndim))
            return wrong_type(c, k->key, "a list of 1 or 3 integers", v);
        return SNN_OK;
    case SNN_KEY_PAIR:
        if (!int_list(v, 2, 2, field, NULL, NULL))
            return wrong_type(c, k->key, "a list of 2 integers", v);
        return SNN_OK;
    case SNN_KEY_ARRAY: return array_ref(c, o, k->key, field);
    case SNN_KEY_THRESHOLD: return threshold(c, o, k->key, field);
    case SNN_KEY_FLOAT:
    case SNN_KEY_DOUBLE:
        if (!is_number(v)) return wrong_type(c, k->key, "a number", v);
        if (k->type == SNN_KEY_FLOAT) *(float *)field = to_f32(json_number_value(v));
        else *(double *)field = json_number_value(v);
        return SNN_OK;
    case SNN_KEY_BOOL:
        if (!json_is_boolean(v)) return wrong_type(c, k->key, "true or false", v);
        *i32 = json_is_true(v);
        return SNN_OK;
    default:    /* SNN_KEY_INT, SNN_KEY_COUNT */
        if (!json_is_integer(v) || (k->type == SNN_KEY_COUNT && json_integer_value(v) < 1))
            return wrong_type(c, k->key, k->type == SNN_KEY_COUNT ? "an integer >= 1"
                                                                   : "an integer", v);
        *i32 = clamp32(json_integer_value(v));
        return SNN_OK;
    }
}

/* Reads the keys of `owner` from `o` into `base`, as the table lists them: for a
 * population or projection, its kind or op (its second row) selects the rows that
 * apply, after which any other key is refused. */
static int read_keys(ctx *c, const json_t *o, int32_t owner, void *base)
{
    int32_t i, n, row = 0, which = -1;
    const snn_key *k = snn_keys(&n);
    const int selects = owner == SNN_KEYS_POPULATION || owner == SNN_KEYS_PROJECTION;
    if (selects && !json_is_object(o)) return refuse(c, "must be a JSON object");
    for (i = 0; i < n; i++) {
        if (k[i].owner != owner || (which >= 0 && !(k[i].applies >> which & 1))) continue;
        FORWARD(read_key(c, o, &k[i], base));
        if (selects && ++row == 2) {
            which = *(int32_t *)((unsigned char *)base + k[i].offset);
            FORWARD(keys(c, o, owner, which));
        }
    }
    return SNN_OK;
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
    c->top = "readout";
    FORWARD(read_keys(c, readout, SNN_KEYS_READOUT, &f->hints));   /* readout may be NULL */
    c->top = "input";
    if ((v = json_object_get(in, "population")) == NULL)
        return refuse(c, "'population' is missing");
    if ((in_name = plain_string(v)) == NULL)
        return refuse(c, "'population' must be a string");
    FORWARD(read_keys(c, in, SNN_KEYS_INPUT, &f->hints));
    c->top = NULL;

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
    for (i = 0; i < P; i++) {
        c->pop = (int32_t)i;
        c->name = &f->pop_names[i];
        c->scalar = &f->scalars[2 * i];
        FORWARD(read_keys(c, json_array_get(pops, i), SNN_KEYS_POPULATION, &f->pops[i]));
    }
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
    for (i = 0; i < J; i++) {
        c->proj = (int32_t)i;
        c->name = &f->proj_names[i];
        FORWARD(read_keys(c, json_array_get(projs, i), SNN_KEYS_PROJECTION, &f->projs[i]));
    }
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
