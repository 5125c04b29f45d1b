/*
 * The network file loader: a .npz (a zip of .npy members, docs/format.md) read into
 * an snn_net_desc and validated as strictly as the Python loader (snncore/_npz.py for
 * the container, snncore/_spec.py for the meaning), in the same order and with
 * messages that name the member, population or projection at fault.
 *
 * libzip reads the archive (stored and deflated members, CRC checks, consistency of
 * local and central headers); jansson parses the metadata (strict JSON: duplicate
 * keys, bad UTF-8, NUL characters and out-of-range numbers refused, integers told
 * apart from reals); npy.c parses the .npy headers. Nothing here trusts a size from
 * the file before checking it against what the archive really holds.
 */
#include "snn.h"
#include "npy.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <zip.h>

/* The same numbers as snncore/_npz.py and snncore/_limits.py. */
#define MAX_MEMBERS 100000
#define MAX_META_BYTES ((uint64_t)16 << 20)
#define MAX_NAME 200
#define MAX_DIM ((int64_t)1 << 24)
#define MAX_NEURONS ((int64_t)1 << 28)
#define MAX_POPULATIONS 4096
#define MAX_PROJECTIONS 16384
#define MAX_TIMESTEPS ((int64_t)1 << 30)
#define DEFLATE_MAX_RATIO 1100
/* Deeper JSON is refused: nobody needs it, and deep nesting exhausts stacks. */
#define MAX_JSON_DEPTH 64
#define CHUNK ((size_t)1 << 20)
#define META_KEY "__snncore__"

static const char *const KINDS[] = {"input", "if", "relay", "accumulate"};
static const char *const OPS[] = {"conv2d", "avgpool2d", "dense", "identity"};
static const char *const ENCODINGS[] = {"analog", "poisson", "regular"};

/* Keys each kind of population and each op accepts, and all of them (NULL-terminated). */
static const char *const POP_KEYS[4][10] = {
    {"name", "kind", "shape", NULL},
    {"name", "kind", "shape", "threshold", "reset", "v_init", "signed", "threshold_neg", "bias",
     NULL},
    {"name", "kind", "shape", "bias", NULL},
    {"name", "kind", "shape", "bias", NULL},
};
static const char *const ALL_POP_KEYS[] = {"name", "kind", "shape", "threshold", "reset",
                                           "v_init", "signed", "threshold_neg", "bias", NULL};
static const char *const PROJ_KEYS[4][9] = {
    {"name", "op", "source", "target", "weight", "stride", "padding", NULL},
    {"name", "op", "source", "target", "kernel", "stride", "padding", "weight", NULL},
    {"name", "op", "source", "target", "weight", NULL},
    {"name", "op", "source", "target", "weight", NULL},
};
static const char *const ALL_PROJ_KEYS[] = {"name", "op", "source", "target", "weight", "stride",
                                            "padding", "kernel", NULL};

/* ---- the result ---------------------------------------------------------- */

struct snn_file {
    snn_net_desc desc;
    snn_file_info info;
    snn_population_desc *pops;
    snn_projection_desc *projs;
    char **pop_names;
    char **proj_names;
    char *producer;
    char *provenance;
    float *scalars;         /* 2 per population: threshold, threshold_neg given as numbers */
    float **arrays;         /* member data that the descriptions point into */
    size_t n_arrays;
    int32_t n_pop_slots, n_proj_slots;  /* lengths of pop_names and proj_names */
};

/* ---- a small string -> index map (open addressing) ----------------------- */

typedef struct strmap {
    const char **keys;
    int32_t *vals;
    size_t cap;             /* a power of two, more than twice the entries */
} strmap;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603u;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return h;
}

static int map_init(strmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 1) cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = calloc(cap, sizeof *m->vals);
    m->cap = cap;
    return m->keys && m->vals ? 0 : -1;
}

static void map_free(strmap *m)
{
    free((void *)m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
}

/* The slot of `key`: where it is, or the empty slot where it would go. */
static size_t map_slot(const strmap *m, const char *key)
{
    size_t i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0) i = (i + 1) & (m->cap - 1);
    return i;
}

static int32_t map_get(const strmap *m, const char *key)
{
    size_t i = map_slot(m, key);
    return m->keys[i] ? m->vals[i] : -1;
}

/* Inserts key -> val unless present. @return the existing value, or -1 if inserted. */
static int32_t map_put(strmap *m, const char *key, int32_t val)
{
    size_t i = map_slot(m, key);
    if (m->keys[i]) return m->vals[i];
    m->keys[i] = key;
    m->vals[i] = val;
    return -1;
}

/* ---- the loader's state -------------------------------------------------- */

typedef struct member {
    char *name;             /* as stored, e.g. "c1.weight.npy" */
    char *key;              /* the name without ".npy" */
    zip_uint64_t index;
    zip_uint64_t size, comp_size;
    snn_npy_header h;
    float *data;            /* C-order values (NULL when empty) */
    int finite;             /* 0 not checked yet, 1 all finite, -1 holds NaN or infinity */
    int used;               /* referenced by the metadata */
} member;

typedef struct loader {
    snn_error *err;
    int64_t max_bytes;
    zip_t *za;
    uint64_t archive_size;
    member *m;
    size_t n_m;
    strmap by_key;
    json_t *meta;
    snn_file *f;
    strmap pop_index, proj_index;
    int64_t *pop_dims;      /* C, H, W of each population (1-D: N, 1, 1) */
} loader;

static int fail(loader *L, int status, int32_t pop, int32_t proj, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static int fail(loader *L, int status, int32_t pop, int32_t proj, const char *fmt, ...)
{
    va_list ap;
    if (L->err == NULL) return status;
    L->err->status = status;
    L->err->population = pop;
    L->err->projection = proj;
    va_start(ap, fmt);
    vsnprintf(L->err->message, sizeof L->err->message, fmt, ap);
    va_end(ap);
    return status;
}

#define NOMEM(L) fail((L), SNN_E_NOMEM, -1, -1, "out of memory while loading the network")

/* ---- showing values in messages (as Python's repr would, shortened) ------- */

typedef struct text {
    char *s;
    size_t n, cap;
} text;

/* Buffers for values shown in messages (kept short: a message holds 256 bytes). */
#define SHOWN 112
typedef char shown[SHOWN];

static text text_at(char *buf)
{
    text t;
    t.s = buf;
    t.n = 0;
    t.cap = SHOWN;
    buf[0] = '\0';
    return t;
}

static void put(text *t, const char *s, size_t n)
{
    size_t room = t->cap - 1 - t->n;
    if (n > room) n = room;
    memcpy(t->s + t->n, s, n);
    t->n += n;
    t->s[t->n] = '\0';
}

static void putf(text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void putf(text *t, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(t, buf, strlen(buf));
}

/* Drops a partial UTF-8 character at the end, then appends "...". */
static void ellipsis(text *t)
{
    while (t->n > 0 && ((unsigned char)t->s[t->n - 1] & 0xC0) == 0x80) t->n--;
    if (t->n > 0 && ((unsigned char)t->s[t->n - 1] & 0xC0) == 0xC0) t->n--;
    t->s[t->n] = '\0';
    put(t, "...", 3);
}

/* A quoted string as Python's repr quotes it: control characters escaped, cut after
 * `limit` bytes. */
static void put_quoted(text *t, const char *s, size_t limit)
{
    size_t i, n = strlen(s);
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    put(t, &q, 1);
    for (i = 0; i < n && i < limit; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) putf(t, "\\x%02x", c);
        else if (c == (unsigned char)q || c == '\\') putf(t, "\\%c", c);
        else put(t, s + i, 1);
    }
    if (i < n) ellipsis(t);
    put(t, &q, 1);
}

/* The shortest decimal that reads back as x, with ".0" on integral values (Python's repr). */
static void put_double(text *t, double x)
{
    char buf[40];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, x);
        if (strtod(buf, NULL) == x) break;
    }
    if (!strpbrk(buf, ".einfa")) strcat(buf, ".0");
    put(t, buf, strlen(buf));
}

static void put_json(text *t, const json_t *v, int depth)
{
    size_t i;
    const char *k;
    json_t *x;
    if (t->n > 64 || depth > 4) {
        put(t, "...", 3);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_STRING: put_quoted(t, json_string_value(v), 60); break;
    case JSON_INTEGER: putf(t, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: put_double(t, json_real_value(v)); break;
    case JSON_TRUE: put(t, "True", 4); break;
    case JSON_FALSE: put(t, "False", 5); break;
    case JSON_NULL: put(t, "None", 4); break;
    case JSON_ARRAY:
        put(t, "[", 1);
        for (i = 0; i < json_array_size(v); i++) {
            if (i) put(t, ", ", 2);
            put_json(t, json_array_get(v, i), depth + 1);
        }
        put(t, "]", 1);
        break;
    case JSON_OBJECT:
        put(t, "{", 1);
        i = 0;
        json_object_foreach((json_t *)v, k, x) {
            if (i++) put(t, ", ", 2);
            put_quoted(t, k, 20);
            put(t, ": ", 2);
            put_json(t, x, depth + 1);
        }
        put(t, "}", 1);
        break;
    }
}

/* A JSON value as Python's repr shows it, cut after 60 characters (_spec.py, _show). */
static const char *show(char *buf, const json_t *v)
{
    text t = text_at(buf);
    put_json(&t, v, 0);
    if (t.n > 60) {
        t.n = 60;
        ellipsis(&t);
    }
    return buf;
}

static const char *quote(char *buf, const char *s)
{
    text t = text_at(buf);
    put_quoted(&t, s, 80);
    return buf;
}

static const char *show_double(char *buf, double x)
{
    text t = text_at(buf);
    put_double(&t, x);
    return buf;
}

/* A .npy shape, "(3,)" or "(2, 3)". */
static const char *show_shape(char *buf, const snn_npy_header *h)
{
    snn_npy_format_shape(h, buf, SHOWN);
    return buf;
}

/* A population's shape as written: "[N]" or "[C, H, W]". */
static const char *show_pop_shape(char *buf, const snn_population_desc *p)
{
    if (p->ndim == 1) snprintf(buf, SHOWN, "[%lld]", (long long)p->shape[0]);
    else snprintf(buf, SHOWN, "[%lld, %lld, %lld]", (long long)p->shape[0],
                  (long long)p->shape[1], (long long)p->shape[2]);
    return buf;
}

/* JSON type names as snncore/_spec.py words them. */
static const char *tname(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    case JSON_NULL: return "null";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "list";
    default: return "object";
    }
}

static const char *a_or_an(const char *word)
{
    return strchr("aeiou", word[0]) ? "an" : "a";
}

/* ---- the archive --------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Lists the members and checks their names and sizes (snncore/_npz.py, _read). */
static int scan_members(loader *L)
{
    shown b1;
    zip_int64_t n = zip_get_num_entries(L->za, 0);
    zip_uint64_t i;
    if (n < 0) n = 0;
    if (n > MAX_MEMBERS)
        return fail(L, SNN_E_FORMAT, -1, -1, "the archive has %lld members, more than the %d allowed",
                    (long long)n, MAX_MEMBERS);
    L->m = calloc((size_t)n + 1, sizeof *L->m);
    if (L->m == NULL || map_init(&L->by_key, (size_t)n) != 0) return NOMEM(L);
    for (i = 0; i < (zip_uint64_t)n; i++) {
        member *m = &L->m[i];
        zip_stat_t st;
        size_t len;
        const char *name;
        int32_t seen;
        zip_stat_init(&st);
        if (zip_stat_index(L->za, i, ZIP_FL_ENC_STRICT, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
            !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
            return fail(L, SNN_E_FORMAT, -1, -1, "damaged zip archive (member %llu: %s)",
                        (unsigned long long)i, zip_strerror(L->za));
        name = st.name;
        len = strlen(name);
        m->index = i;
        m->size = st.size;
        m->comp_size = st.comp_size;
        if ((m->name = malloc(len + 1)) == NULL) return NOMEM(L);
        memcpy(m->name, name, len + 1);
        L->n_m = i + 1;
        if (strchr(name, '/'))
            return fail(L, SNN_E_FORMAT, -1, -1, "member %s: names with '/' are not allowed",
                        quote(b1, name));
        if (!ends_with(name, ".npy"))
            return fail(L, SNN_E_FORMAT, -1, -1,
                        "member %s: not a .npy member (the name does not end in .npy)", quote(b1, name));
        if (len == 4)
            return fail(L, SNN_E_FORMAT, -1, -1, "member %s: empty array name", quote(b1, name));
        if ((m->key = malloc(len - 3)) == NULL) return NOMEM(L);
        memcpy(m->key, name, len - 4);
        m->key[len - 4] = '\0';
        if (strncmp(m->key, "__", 2) == 0 && strcmp(m->key, META_KEY) != 0)
            return fail(L, SNN_E_FORMAT, -1, -1,
                        "member %s: array names starting with '__' are reserved", quote(b1, name));
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
            return fail(L, SNN_E_FORMAT, -1, -1, "member %s is encrypted", quote(b1, name));
        if (!(st.valid & ZIP_STAT_COMP_METHOD) ||
            (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE))
            return fail(L, SNN_E_FORMAT, -1, -1,
                        "member %s uses compression method %d; only stored and deflated members "
                        "are allowed", quote(b1, name), (int)st.comp_method);
        if ((seen = map_put(&L->by_key, m->key, (int32_t)i)) >= 0)
            return fail(L, SNN_E_FORMAT, -1, -1, "member %s appears twice in the archive",
                        quote(b1, name));
        if (m->comp_size > L->archive_size)
            return fail(L, SNN_E_FORMAT, -1, -1,
                        "member %s: declares %llu compressed bytes but the archive holds only "
                        "%llu: truncated archive", quote(b1, name), (unsigned long long)m->comp_size,
                        (unsigned long long)L->archive_size);
        if (st.comp_method == ZIP_CM_STORE) {
            if (m->size != m->comp_size)
                return fail(L, SNN_E_FORMAT, -1, -1,
                            "member %s: stored member whose sizes disagree (%llu vs %llu)",
                            quote(b1, name), (unsigned long long)m->size,
                            (unsigned long long)m->comp_size);
        } else if (m->size > (zip_uint64_t)DEFLATE_MAX_RATIO * m->comp_size + 1024) {
            return fail(L, SNN_E_FORMAT, -1, -1,
                        "member %s: declares %llu bytes from only %llu compressed bytes, which "
                        "deflate cannot produce", quote(b1, name), (unsigned long long)m->size,
                        (unsigned long long)m->comp_size);
        }
    }
    return SNN_OK;
}

/* Reads up to n bytes. @return the count read (< n at the end of the member), or -1. */
static zip_int64_t read_some(zip_file_t *zf, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got < CHUNK ? n - got : CHUNK;
        zip_int64_t r = zip_fread(zf, (char *)buf + got, want);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (zip_int64_t)got;
}

static int damaged(loader *L, const member *m, zip_file_t *zf)
{
    shown b1;
    return fail(L, SNN_E_FORMAT, -1, -1, "member %s: damaged or truncated (%s)", quote(b1, m->name),
                zf ? zip_file_strerror(zf) : zip_strerror(L->za));
}

/* Reads exactly n bytes of the header, or fails naming what it ended inside. */
static int read_header_part(loader *L, const member *m, zip_file_t *zf, void *buf, size_t n)
{
    shown b1;
    zip_int64_t r = read_some(zf, buf, n);
    if (r < 0) return damaged(L, m, zf);
    if ((size_t)r < n)
        return fail(L, SNN_E_FORMAT, -1, -1, "member %s: ends inside the .npy header",
                    quote(b1, m->name));
    return SNN_OK;
}

/* numpy's name for a simple descr ("float64" for "<f8"), or NULL. */
static const char *dtype_name(const char *descr, char *buf, size_t cap)
{
    const char *p = descr;
    int bytes;
    if (*p == '<' || *p == '>' || *p == '|' || *p == '=') p++;
    if (p[0] == '\0' || p[1] < '1' || p[1] > '9' || p[2] != '\0') return NULL;
    bytes = p[1] - '0';
    switch (p[0]) {
    case 'f': snprintf(buf, cap, "float%d", 8 * bytes); return buf;
    case 'i': snprintf(buf, cap, "int%d", 8 * bytes); return buf;
    case 'u': snprintf(buf, cap, "uint%d", 8 * bytes); return buf;
    case 'c': snprintf(buf, cap, "complex%d", 8 * bytes); return buf;
    case 'b': return bytes == 1 ? "bool" : NULL;
    default: return NULL;
    }
}

static int check_dtype(loader *L, const member *m, int want_u8)
{
    shown b1;
    const char *d = m->h.descr, *p = d, *name;
    char buf[24];
    if (want_u8 ? (strcmp(d, "|u1") == 0 || strcmp(d, "<u1") == 0 || strcmp(d, ">u1") == 0 ||
                   strcmp(d, "u1") == 0)
                : strcmp(d, "<f4") == 0)
        return SNN_OK;
    if (*p == '<' || *p == '>' || *p == '|' || *p == '=') p++;
    if (p[0] == 'O')
        return fail(L, SNN_E_FORMAT, -1, -1, "member %s: object array (it would need pickle); only "
                    "float32 arrays are allowed", quote(b1, m->name));
    if (!want_u8 && strcmp(d, ">f4") == 0)
        return fail(L, SNN_E_FORMAT, -1, -1, "member %s: big-endian float32 is not supported; "
                    "store arrays as little-endian float32", quote(b1, m->name));
    name = dtype_name(d, buf, sizeof buf);
    return fail(L, SNN_E_FORMAT, -1, -1, "member %s: dtype %s (%s), expected %s", quote(b1, m->name),
                name ? name : d, d, want_u8 ? "uint8" : "float32");
}

/*
 * Reads one .npy member (snncore/_npz.py, _read_member): its header, then exactly
 * the data it declares, then the end of the member (which checks the CRC). For the
 * metadata (want_u8) the bytes go to *raw; otherwise the floats, in C order, to m->data.
 */
static int read_member(loader *L, member *m, int want_u8, unsigned char **raw)
{
    unsigned char prefix[SNN_NPY_MAGIC_LEN], lenbuf[4], extra;
    char *hdr = NULL, why[96];
    int width, major = 0, minor = 0, status = SNN_OK;
    shown b1;
    uint32_t hlen;
    uint64_t itemsize = want_u8 ? 1 : 4, nbytes = 0, header_size;
    unsigned char *data = NULL;
    zip_int64_t r;
    zip_file_t *zf = zip_fopen_index(L->za, m->index, 0);
    if (zf == NULL) return damaged(L, m, NULL);

    if ((status = read_header_part(L, m, zf, prefix, sizeof prefix)) != SNN_OK) goto done;
    width = snn_npy_magic(prefix, &major, &minor);
    if (width == 0) {
        status = fail(L, SNN_E_FORMAT, -1, -1, "member %s: not a .npy array (bad magic bytes)",
                      quote(b1, m->name));
        goto done;
    }
    if (width < 0) {
        status = fail(L, SNN_E_FORMAT, -1, -1, "member %s: unsupported .npy format version %d.%d",
                      quote(b1, m->name), major, minor);
        goto done;
    }
    if ((status = read_header_part(L, m, zf, lenbuf, (size_t)width)) != SNN_OK) goto done;
    hlen = snn_npy_header_len(lenbuf, width);
    if (hlen > SNN_NPY_MAX_HEADER) {
        status = fail(L, SNN_E_FORMAT, -1, -1, "member %s: .npy header of %lu bytes is larger than "
                      "the %d allowed", quote(b1, m->name), (unsigned long)hlen, SNN_NPY_MAX_HEADER);
        goto done;
    }
    if ((hdr = malloc(hlen + 1)) == NULL) {
        status = NOMEM(L);
        goto done;
    }
    if ((status = read_header_part(L, m, zf, hdr, hlen)) != SNN_OK) goto done;
    if (snn_npy_parse(hdr, hlen, &m->h, why, sizeof why) != 0) {
        status = fail(L, SNN_E_FORMAT, -1, -1, "member %s: broken .npy header (%s)",
                      quote(b1, m->name), why);
        goto done;
    }
    if ((status = check_dtype(L, m, want_u8)) != SNN_OK) goto done;
    if (want_u8 && (m->h.count_overflow || m->h.count > MAX_META_BYTES)) {
        status = fail(L, SNN_E_FORMAT, -1, -1, "member %s: %s elements, more than the %llu allowed",
                      quote(b1, m->name), m->h.count_overflow ? "too many" : "so many",
                      (unsigned long long)MAX_META_BYTES);
        goto done;
    }
    header_size = SNN_NPY_MAGIC_LEN + (uint64_t)width + hlen;
    if (!m->h.count_overflow && m->h.count <= (UINT64_MAX >> 3)) nbytes = m->h.count * itemsize;
    if (m->h.count_overflow || m->h.count > (UINT64_MAX >> 3) || m->size < header_size ||
        m->size - header_size != nbytes) {
        shown shape;
        show_shape(shape, &m->h);
        if (m->h.count_overflow || m->h.count > (UINT64_MAX >> 3))
            status = fail(L, SNN_E_FORMAT, -1, -1, "member %s: the .npy header declares shape %s "
                          "(too many data bytes) but the member holds %lld data bytes",
                          quote(b1, m->name), shape, (long long)m->size - (long long)header_size);
        else
            status = fail(L, SNN_E_FORMAT, -1, -1, "member %s: the .npy header declares shape %s "
                          "(%llu data bytes) but the member holds %lld data bytes",
                          quote(b1, m->name), shape, (unsigned long long)nbytes,
                          (long long)m->size - (long long)header_size);
        goto done;
    }
    /* nbytes <= the member's declared size, itself bounded by the archive */
    if ((data = malloc(nbytes ? (size_t)nbytes : 1)) == NULL) {
        status = NOMEM(L);
        goto done;
    }
    r = read_some(zf, data, (size_t)nbytes);
    if (r < 0) {
        status = damaged(L, m, zf);
        goto done;
    }
    if ((uint64_t)r < nbytes) {
        status = fail(L, SNN_E_FORMAT, -1, -1, "member %s: ends inside the array data",
                      quote(b1, m->name));
        goto done;
    }
    r = zip_fread(zf, &extra, 1);
    if (r < 0) {
        status = damaged(L, m, zf);
        goto done;
    }
    if (r > 0) {
        status = fail(L, SNN_E_FORMAT, -1, -1, "member %s: holds more data than its header declares",
                      quote(b1, m->name));
        goto done;
    }
    if (want_u8) {
        *raw = data;
        data = NULL;
    } else if (m->h.fortran_order && m->h.ndim > 1) {
        float *c_order = malloc((size_t)nbytes);
        if (c_order == NULL) {
            status = NOMEM(L);
            goto done;
        }
        snn_npy_fortran_to_c(&m->h, 4, data, c_order);
        m->data = c_order;
    } else {
        m->data = (float *)data;
        data = NULL;
    }
done:
    free(hdr);
    free(data);
    zip_fclose(zf);
    return status;
}

/* ---- the metadata's JSON ------------------------------------------------- */

static int depth_ok(const json_t *v, int depth)
{
    size_t i;
    const char *k;
    json_t *x;
    if (depth > MAX_JSON_DEPTH) return 0;
    if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++)
            if (!depth_ok(json_array_get(v, i), depth + 1)) return 0;
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x)
            if (!depth_ok(x, depth + 1)) return 0;
    }
    return 1;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    default: return "number";
    }
}

/* snncore/_npz.py, parse_meta: strict JSON, an object, not from a newer writer. */
static int parse_meta(loader *L, const unsigned char *raw, size_t n)
{
    json_error_t je;
    const json_t *fmt, *version;
    memset(&je, 0, sizeof je);
    L->meta = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (L->meta == NULL) {
        switch (json_error_code(&je)) {
        case json_error_out_of_memory: return NOMEM(L);
        case json_error_invalid_utf8:
            return fail(L, SNN_E_FORMAT, -1, -1, "metadata (" META_KEY ".npy) is not valid UTF-8 "
                        "(%s)", je.text);
        case json_error_duplicate_key:
            return fail(L, SNN_E_FORMAT, -1, -1, "metadata (" META_KEY ".npy): a key appears twice "
                        "in one JSON object (%s)", je.text);
        case json_error_numeric_overflow:
            return fail(L, SNN_E_FORMAT, -1, -1, "metadata (" META_KEY ".npy): a number is out of "
                        "range (%s)", je.text);
        case json_error_stack_overflow:
            return fail(L, SNN_E_FORMAT, -1, -1, "metadata (" META_KEY ".npy) is not valid JSON: "
                        "nested too deeply");
        case json_error_null_character:
            return fail(L, SNN_E_FORMAT, -1, -1, "metadata (" META_KEY ".npy): a string holds a NUL "
                        "character (%s)", je.text);
        default:
            return fail(L, SNN_E_FORMAT, -1, -1, "metadata (" META_KEY ".npy) is not valid JSON (%s, "
                        "line %d column %d)", je.text, je.line, je.column);
        }
    }
    if (!depth_ok(L->meta, 1))
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata (" META_KEY ".npy) is not valid JSON: "
                    "nested too deeply");
    if (!json_is_object(L->meta))
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata (" META_KEY ".npy) must be a JSON object, "
                    "not a JSON %s", json_kind(L->meta));
    fmt = json_object_get(L->meta, "format");
    version = json_object_get(L->meta, "version");
    if (fmt && json_is_string(fmt) && strcmp(json_string_value(fmt), "snncore") == 0 && version &&
        json_is_integer(version) && json_integer_value(version) > SNN_FORMAT_VERSION)
        return fail(L, SNN_E_FORMAT, -1, -1, "format version %lld is newer than this snncore "
                    "supports (%d); upgrade snncore", (long long)json_integer_value(version),
                    SNN_FORMAT_VERSION);
    return SNN_OK;
}

/* snncore/_npz.py, read_npz: the container, the metadata, then every array. */
static int read_container(loader *L)
{
    int32_t meta_index;
    member *meta;
    unsigned char *raw = NULL;
    uint64_t total = 0;
    size_t i;
    int status;
    if ((status = scan_members(L)) != SNN_OK) return status;
    meta_index = map_get(&L->by_key, META_KEY);
    if (meta_index < 0)
        return fail(L, SNN_E_FORMAT, -1, -1, "no " META_KEY ".npy member: this is not an snncore "
                    "network file");
    meta = &L->m[meta_index];
    if ((status = read_member(L, meta, 1, &raw)) != SNN_OK) return status;
    if (meta->h.ndim != 1) {
        shown b1, shape;
        show_shape(shape, &meta->h);
        free(raw);
        return fail(L, SNN_E_FORMAT, -1, -1, "member %s: metadata must be a 1-D uint8 array, got "
                    "shape %s", quote(b1, meta->name), shape);
    }
    status = parse_meta(L, raw, (size_t)meta->h.count);
    free(raw);
    if (status != SNN_OK) return status;
    for (i = 0; i < L->n_m; i++)
        if ((int32_t)i != meta_index) total += L->m[i].size;
    if (total > (uint64_t)L->max_bytes)
        return fail(L, SNN_E_FORMAT, -1, -1, "the archive's arrays would need %llu bytes, more than "
                    "the memory limit of %lld bytes", (unsigned long long)total,
                    (long long)L->max_bytes);
    for (i = 0; i < L->n_m; i++)
        if ((int32_t)i != meta_index && (status = read_member(L, &L->m[i], 0, NULL)) != SNN_OK)
            return status;
    return SNN_OK;
}

/* ---- the meaning (snncore/_spec.py) -------------------------------------- */

static int is_int(const json_t *v) { return v && json_is_integer(v); }
static int is_number(const json_t *v) { return v && (json_is_integer(v) || json_is_real(v)); }

/* Code points of a valid UTF-8 string (jansson has checked it). */
static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* float32(x) as numpy rounds it; 0 when it would round to infinity. */
static int to_float32(double x, float *out)
{
    if (fabs(x) >= 0x1.ffffffp+127) return 0;
    if (fabs(x) > FLT_MAX) *out = x > 0 ? FLT_MAX : -FLT_MAX;
    else *out = (float)x;
    return 1;
}

static int required(loader *L, const json_t *obj, const char *key, const char *where, int32_t pop,
                    int32_t proj, json_t **out)
{
    *out = json_object_get(obj, key);
    if (*out == NULL)
        return fail(L, SNN_E_FORMAT, pop, proj, "%s: required key '%s' is missing", where, key);
    return SNN_OK;
}

static int item_name(loader *L, const json_t *obj, const char *where, const char *what,
                     int32_t pop, int32_t proj, const char **out)
{
    json_t *v;
    int status = required(L, obj, "name", where, pop, proj, &v);
    if (status != SNN_OK) return status;
    if (!json_is_string(v))
        return fail(L, SNN_E_FORMAT, pop, proj, "%s: name must be a string, not %s", where, tname(v));
    *out = json_string_value(v);
    if (**out == '\0')
        return fail(L, SNN_E_FORMAT, pop, proj, "%s: name must not be empty", where);
    if (utf8_length(*out) > MAX_NAME)
        return fail(L, SNN_E_FORMAT, pop, proj, "%s: name of %lu characters is longer than the %d "
                    "allowed for a %s", where, (unsigned long)utf8_length(*out), MAX_NAME, what);
    return SNN_OK;
}

static int listed(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0) return 1;
    return 0;
}

/* Refuses keys that are unknown or do not apply (snncore/_spec.py, _check_keys). */
static int check_keys(loader *L, const json_t *obj, const char *where, const char *const *allowed,
                      const char *const *every, const char *what, const char *kind, int32_t pop,
                      int32_t proj)
{
    const char *k;
    json_t *x;
    shown b1;
    json_object_foreach((json_t *)obj, k, x) {
        (void)x;
        if (listed(allowed, k)) continue;
        if (listed(every, k))
            return fail(L, SNN_E_FORMAT, pop, proj, "%s: '%s' does not apply to %s %s %s", where, k,
                        a_or_an(kind), kind, what);
        return fail(L, SNN_E_FORMAT, pop, proj, "%s: unknown key %s", where, quote(b1, k));
    }
    return SNN_OK;
}

/* An array referenced by name: present, float32 (already checked), finite (_Arrays.get). */
static int get_array(loader *L, const json_t *v, const char *where, const char *role, int32_t pop,
                     int32_t proj, member **out)
{
    shown b1;
    const char *key;
    int32_t k;
    member *m = NULL;
    if (!json_is_string(v))
        return fail(L, SNN_E_FORMAT, pop, proj, "%s: %s must be an array name (a string), not %s",
                    where, role, tname(v));
    key = json_string_value(v);
    if (*key == '\0' || strchr(key, '/'))
        return fail(L, SNN_E_FORMAT, pop, proj, "%s: %s names an invalid array %s (empty or "
                    "containing '/')", where, role, quote(b1, key));
    if (strncmp(key, "__", 2) == 0)
        return fail(L, SNN_E_FORMAT, pop, proj, "%s: %s names the reserved array %s (names starting "
                    "with '__' are reserved)", where, role, quote(b1, key));
    k = map_get(&L->by_key, key);
    if (k < 0)
        return fail(L, SNN_E_FORMAT, pop, proj, "%s: %s array %s names no member", where, role,
                    quote(b1, key));
    m = &L->m[k];
    if (m->finite == 0) {
        uint64_t i;
        m->finite = 1;
        for (i = 0; i < m->h.count; i++)
            if (!isfinite(m->data[i])) {
                m->finite = -1;
                break;
            }
    }
    if (m->finite < 0)
        return fail(L, SNN_E_FORMAT, pop, proj, "%s: %s array %s holds NaN or infinity", where, role,
                    quote(b1, key));
    m->used = 1;
    *out = m;
    return SNN_OK;
}

/* A threshold: a number or an array of shape (), (1,) or (C,), all > 0. */
static int get_threshold(loader *L, const json_t *v, const char *where, const char *role,
                         int32_t pop, int64_t channels, float *scalar, const float **values,
                         int64_t *len)
{
    shown b1, b2;
    if (json_is_string(v)) {
        member *m = NULL;
        const snn_npy_header *h;
        uint64_t i;
        int status = get_array(L, v, where, role, pop, -1, &m);
        if (status != SNN_OK) return status;
        h = &m->h;
        if (!(h->ndim == 0 || (h->ndim == 1 && (h->shape[0] == 1 || h->shape[0] == (uint64_t)channels))))
            return fail(L, SNN_E_FORMAT, pop, -1, "%s: %s has shape %s, expected (), (1,) or (%lld,)",
                        where, role, show_shape(b1, h), (long long)channels);
        for (i = 0; i < h->count; i++)
            if (!(m->data[i] > 0.0f)) {
                float lo = m->data[0];
                uint64_t j;
                for (j = 1; j < h->count; j++)
                    if (m->data[j] < lo) lo = m->data[j];
                return fail(L, SNN_E_FORMAT, pop, -1, "%s: %s must be positive (> 0); array %s holds "
                            "%s", where, role, quote(b1, json_string_value(v)), show_double(b2, lo));
            }
        *values = m->data;
        *len = (int64_t)h->count;
        return SNN_OK;
    }
    if (!is_number(v))
        return fail(L, SNN_E_FORMAT, pop, -1, "%s: %s must be a number or an array name, not %s",
                    where, role, tname(v));
    if (!to_float32(json_number_value(v), scalar))
        return fail(L, SNN_E_FORMAT, pop, -1, "%s: %s %s does not fit in float32", where, role,
                    show(b1, v));
    if (!(*scalar > 0.0f))
        return fail(L, SNN_E_FORMAT, pop, -1, "%s: %s must be positive (> 0), got %s", where, role,
                    show(b1, v));
    *values = scalar;
    *len = 1;
    return SNN_OK;
}

/* A finite number (integers too, booleans not). */
static int get_number(loader *L, const json_t *v, const char *where, const char *what, int32_t pop,
                      double *out)
{
    shown b1;
    if (!is_number(v))
        return fail(L, SNN_E_FORMAT, pop, -1, "%s: %s must be a number, not %s", where, what,
                    tname(v));
    *out = json_number_value(v);
    if (!isfinite(*out))
        return fail(L, SNN_E_FORMAT, pop, -1, "%s: %s must be finite, got %s", where, what,
                    show(b1, v));
    return SNN_OK;
}

static int parse_population(loader *L, int32_t i, const json_t *obj)
{
    shown b1;
    snn_file *f = L->f;
    snn_population_desc *p = &f->pops[i];
    char where[160];
    const char *name, *kind_s;
    json_t *kind, *shape, *v;
    int k, kind_i = -1, status;
    int64_t dims[3] = {1, 1, 1}, n = 1;
    size_t nd;
    snprintf(where, sizeof where, "population %d", (int)i);
    if (!json_is_object(obj))
        return fail(L, SNN_E_FORMAT, i, -1, "population %d must be an object, not %s", (int)i,
                    tname(obj));
    if ((status = item_name(L, obj, where, "population", i, -1, &name)) != SNN_OK) return status;
    if ((f->pop_names[i] = malloc(strlen(name) + 1)) == NULL) return NOMEM(L);
    strcpy(f->pop_names[i], name);
    snprintf(where, sizeof where, "population %s", quote(b1, name));
    if ((status = required(L, obj, "kind", where, i, -1, &kind)) != SNN_OK) return status;
    if (!json_is_string(kind))
        return fail(L, SNN_E_FORMAT, i, -1, "%s: kind must be a string, not %s", where, tname(kind));
    kind_s = json_string_value(kind);
    for (k = 0; k < 4; k++)
        if (strcmp(kind_s, KINDS[k]) == 0) kind_i = k;
    if (kind_i < 0)
        return fail(L, SNN_E_FORMAT, i, -1, "%s: unknown kind %s (expected one of input, if, relay, "
                    "accumulate)", where, show(b1, kind));
    if ((status = check_keys(L, obj, where, POP_KEYS[kind_i], ALL_POP_KEYS, "population", kind_s,
                             i, -1)) != SNN_OK)
        return status;
    if ((status = required(L, obj, "shape", where, i, -1, &shape)) != SNN_OK) return status;
    nd = json_is_array(shape) ? json_array_size(shape) : 0;
    if (nd != 1 && nd != 3)
        return fail(L, SNN_E_FORMAT, i, -1, "%s: shape must be a list of 1 or 3 integers, got %s",
                    where, show(b1, shape));
    for (k = 0; k < (int)nd; k++) {
        json_t *d = json_array_get(shape, (size_t)k);
        if (!is_int(d))
            return fail(L, SNN_E_FORMAT, i, -1, "%s: shape[%d] must be an integer, not %s", where, k,
                        tname(d));
        if (json_integer_value(d) < 1 || json_integer_value(d) > MAX_DIM)
            return fail(L, SNN_E_FORMAT, i, -1, "%s: shape %s has a dimension outside 1 .. %lld",
                        where, show(b1, shape), (long long)MAX_DIM);
        dims[k] = (int64_t)json_integer_value(d);
    }
    /* each dimension is <= 2^24: C*H fits in 64 bits, and C*H*W does when C*H <= 2^28 */
    n = dims[0] * dims[1];
    if (n > MAX_NEURONS || n * dims[2] > MAX_NEURONS) {
        char count[32];
        uint64_t c_h = (uint64_t)dims[0] * (uint64_t)dims[1];
        if (c_h <= UINT64_MAX / (uint64_t)dims[2])
            snprintf(count, sizeof count, "%llu", (unsigned long long)(c_h * (uint64_t)dims[2]));
        else
            snprintf(count, sizeof count, "%.0f", (double)c_h * (double)dims[2]);
        return fail(L, SNN_E_FORMAT, i, -1, "%s: shape %s holds %s neurons, more than the %lld "
                    "allowed", where, show(b1, shape), count, (long long)MAX_NEURONS);
    }
    n *= dims[2];
    p->kind = kind_i;
    p->ndim = (int32_t)nd;
    p->shape[0] = dims[0];
    p->shape[1] = nd == 3 ? dims[1] : 0;
    p->shape[2] = nd == 3 ? dims[2] : 0;
    L->pop_dims[3 * i] = dims[0];
    L->pop_dims[3 * i + 1] = dims[1];
    L->pop_dims[3 * i + 2] = dims[2];
    if (kind_i == SNN_KIND_IF) {
        json_t *theta, *reset, *sgn;
        double v_init = 0.0;
        if ((status = required(L, obj, "threshold", where, i, -1, &theta)) != SNN_OK) return status;
        if ((status = get_threshold(L, theta, where, "threshold", i, dims[0], &f->scalars[2 * i],
                                    &p->threshold, &p->threshold_len)) != SNN_OK)
            return status;
        reset = json_object_get(obj, "reset");
        p->reset = SNN_RESET_SUBTRACT;
        if (reset) {
            if (!json_is_string(reset))
                return fail(L, SNN_E_FORMAT, i, -1, "%s: reset must be a string, not %s", where,
                            tname(reset));
            if (strcmp(json_string_value(reset), "zero") == 0) p->reset = SNN_RESET_ZERO;
            else if (strcmp(json_string_value(reset), "subtract") != 0)
                return fail(L, SNN_E_FORMAT, i, -1, "%s: unknown reset mode %s (expected subtract or "
                            "zero)", where, show(b1, reset));
        }
        if ((v = json_object_get(obj, "v_init")) != NULL &&
            (status = get_number(L, v, where, "v_init", i, &v_init)) != SNN_OK)
            return status;
        if (!(v_init >= -1.0 && v_init <= 1.0))
            return fail(L, SNN_E_FORMAT, i, -1, "%s: v_init %s is outside [-1, 1]", where,
                        show_double(b1, v_init));
        p->v_init = (float)v_init;
        sgn = json_object_get(obj, "signed");
        if (sgn && !json_is_boolean(sgn))
            return fail(L, SNN_E_FORMAT, i, -1, "%s: signed must be true or false, not %s", where,
                        tname(sgn));
        p->is_signed = sgn && json_is_true(sgn);
        v = json_object_get(obj, "threshold_neg");
        if (p->is_signed) {
            if (v == NULL)
                return fail(L, SNN_E_FORMAT, i, -1, "%s: signed is true but threshold_neg is missing",
                            where);
            if ((status = get_threshold(L, v, where, "threshold_neg", i, dims[0],
                                        &f->scalars[2 * i + 1], &p->threshold_neg,
                                        &p->threshold_neg_len)) != SNN_OK)
                return status;
        } else if (v != NULL) {
            return fail(L, SNN_E_FORMAT, i, -1, "%s: threshold_neg is given but signed is not true",
                        where);
        }
    }
    if ((v = json_object_get(obj, "bias")) != NULL) {
        member *m = NULL;
        const snn_npy_header *h;
        if ((status = get_array(L, v, where, "bias", i, -1, &m)) != SNN_OK) return status;
        h = &m->h;
        if (h->ndim == 1 && h->shape[0] == (uint64_t)dims[0]) {
            p->bias_len = dims[0];
        } else if (nd == 3 && h->ndim == 3 && h->shape[0] == (uint64_t)dims[0] &&
                   h->shape[1] == (uint64_t)dims[1] && h->shape[2] == (uint64_t)dims[2]) {
            p->bias_len = n;
        } else {
            shown declared;
            if (nd == 1) snprintf(declared, sizeof declared, "(%lld,)", (long long)dims[0]);
            else snprintf(declared, sizeof declared, "(%lld, %lld, %lld)", (long long)dims[0],
                          (long long)dims[1], (long long)dims[2]);
            return fail(L, SNN_E_FORMAT, i, -1, "%s: bias has shape %s, expected (%lld,) (per "
                        "channel) or %s (per neuron)", where, show_shape(b1, h), (long long)dims[0],
                        declared);
        }
        p->bias = m->data;
    }
    return SNN_OK;
}

/* A list of 2 integers in low .. MAX_DIM (snncore/_spec.py, _pair). */
static int get_pair(loader *L, const json_t *v, const char *where, const char *what, int low,
                    int32_t proj, int32_t out[2])
{
    shown b1;
    int k;
    if (!json_is_array(v) || json_array_size(v) != 2)
        return fail(L, SNN_E_FORMAT, -1, proj, "%s: %s must be a list of 2 integers, got %s", where,
                    what, show(b1, v));
    for (k = 0; k < 2; k++) {
        json_t *item = json_array_get(v, (size_t)k);
        json_int_t x;
        if (!is_int(item))
            return fail(L, SNN_E_FORMAT, -1, proj, "%s: %s[%d] must be an integer, not %s", where,
                        what, k, tname(item));
        x = json_integer_value(item);
        if (x < low || x > MAX_DIM)
            return fail(L, SNN_E_FORMAT, -1, proj, "%s: %s must hold integers in %d .. %lld, got %s",
                        where, what, low, (long long)MAX_DIM, show(b1, v));
        out[k] = (int32_t)x;
    }
    return SNN_OK;
}

static int get_endpoint(loader *L, const json_t *obj, const char *key, const char *where,
                        int32_t proj, int32_t *out)
{
    shown b1;
    json_t *v;
    int status = required(L, obj, key, where, -1, proj, &v);
    if (status != SNN_OK) return status;
    if (!json_is_string(v))
        return fail(L, SNN_E_FORMAT, -1, proj, "%s: %s must be a population name (a string), not %s",
                    where, key, tname(v));
    *out = map_get(&L->pop_index, json_string_value(v));
    if (*out < 0)
        return fail(L, SNN_E_FORMAT, -1, proj, "%s: %s %s names no population", where, key,
                    show(b1, v));
    return SNN_OK;
}

/* The optional per-channel gain of an identity or avgpool2d projection. */
static int get_gain(loader *L, const json_t *obj, const char *where, int32_t j, int64_t channels,
                    snn_projection_desc *q)
{
    shown b1;
    json_t *v = json_object_get(obj, "weight");
    member *m = NULL;
    int status;
    if (v == NULL) return SNN_OK;
    if ((status = get_array(L, v, where, "weight", -1, j, &m)) != SNN_OK) return status;
    if (!(m->h.ndim == 1 && m->h.shape[0] == (uint64_t)channels))
        return fail(L, SNN_E_FORMAT, -1, j, "%s: weight has shape %s, expected (%lld,) (one gain per "
                    "channel)", where, show_shape(b1, &m->h), (long long)channels);
    q->weight = m->data;
    q->weight_len = channels;
    return SNN_OK;
}

/* Python's floor division for the output size of a window. */
static int64_t out_size(int64_t n, int64_t k, int64_t s, int64_t p)
{
    int64_t span = n + 2 * p - k;
    int64_t q = span / s;
    if (span % s != 0 && span < 0) q--;
    return q + 1;
}

static int parse_projection(loader *L, int32_t j, const json_t *obj)
{
    shown b1, b2, b3;
    snn_file *f = L->f;
    snn_projection_desc *q = &f->projs[j];
    char where[160];
    const char *name, *op_s;
    json_t *op, *v;
    int k, op_i = -1, status;
    int32_t s, t;
    const snn_population_desc *src, *dst;
    int64_t sc, sh, sw;
    snprintf(where, sizeof where, "projection %d", (int)j);
    if (!json_is_object(obj))
        return fail(L, SNN_E_FORMAT, -1, j, "projection %d must be an object, not %s", (int)j,
                    tname(obj));
    if ((status = item_name(L, obj, where, "projection", -1, j, &name)) != SNN_OK) return status;
    if ((f->proj_names[j] = malloc(strlen(name) + 1)) == NULL) return NOMEM(L);
    strcpy(f->proj_names[j], name);
    snprintf(where, sizeof where, "projection %s", quote(b1, name));
    if ((status = required(L, obj, "op", where, -1, j, &op)) != SNN_OK) return status;
    if (!json_is_string(op))
        return fail(L, SNN_E_FORMAT, -1, j, "%s: op must be a string, not %s", where, tname(op));
    op_s = json_string_value(op);
    for (k = 0; k < 4; k++)
        if (strcmp(op_s, OPS[k]) == 0) op_i = k;
    if (op_i < 0)
        return fail(L, SNN_E_FORMAT, -1, j, "%s: unknown op %s (expected one of conv2d, avgpool2d, "
                    "dense, identity)", where, show(b1, op));
    if ((status = check_keys(L, obj, where, PROJ_KEYS[op_i], ALL_PROJ_KEYS, "projection", op_s,
                             -1, j)) != SNN_OK)
        return status;
    if ((status = get_endpoint(L, obj, "source", where, j, &s)) != SNN_OK) return status;
    if ((status = get_endpoint(L, obj, "target", where, j, &t)) != SNN_OK) return status;
    src = &f->pops[s];
    dst = &f->pops[t];
    if (dst->kind == SNN_KIND_INPUT)
        return fail(L, SNN_E_FORMAT, -1, j, "%s: target %s is the input population, which receives "
                    "no projections", where, quote(b1, f->pop_names[t]));
    if (src->kind == SNN_KIND_ACCUMULATE)
        return fail(L, SNN_E_FORMAT, -1, j, "%s: source %s is an accumulate population, which has "
                    "no outgoing projections", where, quote(b1, f->pop_names[s]));
    q->op = op_i;
    q->source = s;
    q->target = t;
    q->kernel[0] = q->kernel[1] = 1;
    q->stride[0] = q->stride[1] = 1;
    q->padding[0] = q->padding[1] = 0;
    sc = L->pop_dims[3 * s];
    sh = L->pop_dims[3 * s + 1];
    sw = L->pop_dims[3 * s + 2];

    if (op_i == SNN_OP_CONV2D || op_i == SNN_OP_AVGPOOL2D) {
        int64_t out_c, oh, ow;
        for (k = 0; k < 2; k++) {
            int32_t who = k == 0 ? s : t;
            if (f->pops[who].ndim != 3)
                return fail(L, SNN_E_FORMAT, -1, j, "%s: %s needs a 3-D %s, but population %s has "
                            "shape %s", where, op_s, k == 0 ? "source" : "target",
                            quote(b1, f->pop_names[who]), show_pop_shape(b2, &f->pops[who]));
        }
        if (op_i == SNN_OP_CONV2D) {
            member *m = NULL;
            const snn_npy_header *h;
            json_t *w;
            if ((status = required(L, obj, "weight", where, -1, j, &w)) != SNN_OK) return status;
            if ((status = get_array(L, w, where, "weight", -1, j, &m)) != SNN_OK) return status;
            h = &m->h;
            if (h->ndim != 4)
                return fail(L, SNN_E_FORMAT, -1, j, "%s: weight has shape %s, expected (Co, Ci, kh, "
                            "kw) with Ci = %lld", where, show_shape(b1, h), (long long)sc);
            if (h->shape[1] != (uint64_t)sc)
                return fail(L, SNN_E_FORMAT, -1, j, "%s: weight has shape %s, whose %llu input "
                            "channels do not match the source's %lld channels", where,
                            show_shape(b1, h), (unsigned long long)h->shape[1], (long long)sc);
            if (h->shape[2] < 1 || h->shape[3] < 1 || h->shape[0] < 1)
                return fail(L, SNN_E_FORMAT, -1, j, "%s: weight has shape %s with an empty dimension",
                            where, show_shape(b1, h));
            if (h->shape[2] > (uint64_t)MAX_DIM || h->shape[3] > (uint64_t)MAX_DIM)
                return fail(L, SNN_E_FORMAT, -1, j, "%s: kernel (%llu, %llu) is larger than %lld",
                            where, (unsigned long long)h->shape[2], (unsigned long long)h->shape[3],
                            (long long)MAX_DIM);
            q->kernel[0] = (int32_t)h->shape[2];
            q->kernel[1] = (int32_t)h->shape[3];
            v = json_object_get(obj, "stride");
            if (v && (status = get_pair(L, v, where, "stride", 1, j, q->stride)) != SNN_OK)
                return status;
            q->weight = m->data;
            q->weight_len = (int64_t)h->count;
            out_c = (int64_t)h->shape[0];
        } else {
            json_t *kern;
            if ((status = required(L, obj, "kernel", where, -1, j, &kern)) != SNN_OK) return status;
            if ((status = get_pair(L, kern, where, "kernel", 1, j, q->kernel)) != SNN_OK)
                return status;
            v = json_object_get(obj, "stride");
            if (v) {
                if ((status = get_pair(L, v, where, "stride", 1, j, q->stride)) != SNN_OK)
                    return status;
            } else {
                q->stride[0] = q->kernel[0];
                q->stride[1] = q->kernel[1];
            }
            out_c = sc;
            if ((status = get_gain(L, obj, where, j, sc, q)) != SNN_OK) return status;
        }
        v = json_object_get(obj, "padding");
        if (v && (status = get_pair(L, v, where, "padding", 0, j, q->padding)) != SNN_OK)
            return status;
        if (q->padding[0] >= q->kernel[0] || q->padding[1] >= q->kernel[1])
            return fail(L, SNN_E_FORMAT, -1, j, "%s: padding [%d, %d] must be smaller than the "
                        "kernel [%d, %d]", where, (int)q->padding[0], (int)q->padding[1],
                        (int)q->kernel[0], (int)q->kernel[1]);
        oh = out_size(sh, q->kernel[0], q->stride[0], q->padding[0]);
        ow = out_size(sw, q->kernel[1], q->stride[1], q->padding[1]);
        if (oh < 1 || ow < 1)
            return fail(L, SNN_E_FORMAT, -1, j, "%s: the %s output would be empty (%lld, %lld): the "
                        "kernel [%d, %d] is larger than the padded source %s", where, op_s,
                        (long long)oh, (long long)ow, (int)q->kernel[0], (int)q->kernel[1],
                        show_pop_shape(b1, src));
        if (L->pop_dims[3 * t] != out_c || L->pop_dims[3 * t + 1] != oh ||
            L->pop_dims[3 * t + 2] != ow)
            return fail(L, SNN_E_FORMAT, -1, j, "%s: target shape (%lld, %lld, %lld) does not match "
                        "the %s output (%lld, %lld, %lld)", where, (long long)L->pop_dims[3 * t],
                        (long long)L->pop_dims[3 * t + 1], (long long)L->pop_dims[3 * t + 2], op_s,
                        (long long)out_c, (long long)oh, (long long)ow);
    } else if (op_i == SNN_OP_DENSE) {
        member *m = NULL;
        const snn_npy_header *h;
        json_t *w;
        int64_t n_in = sc * sh * sw;
        if ((status = required(L, obj, "weight", where, -1, j, &w)) != SNN_OK) return status;
        if ((status = get_array(L, w, where, "weight", -1, j, &m)) != SNN_OK) return status;
        h = &m->h;
        if (h->ndim != 2 || h->shape[1] != (uint64_t)n_in)
            return fail(L, SNN_E_FORMAT, -1, j, "%s: weight has shape %s, expected (out, %lld) for "
                        "the source %s of shape %s", where, show_shape(b1, h), (long long)n_in,
                        quote(b2, f->pop_names[s]), show_pop_shape(b3, src));
        if (dst->ndim != 1)
            return fail(L, SNN_E_FORMAT, -1, j, "%s: dense needs a 1-D target, but population %s has "
                        "shape %s", where, quote(b1, f->pop_names[t]), show_pop_shape(b2, dst));
        if (h->shape[0] != (uint64_t)dst->shape[0])
            return fail(L, SNN_E_FORMAT, -1, j, "%s: target shape %s does not match the dense output "
                        "(%llu,) of weight %s", where, show_pop_shape(b1, dst),
                        (unsigned long long)h->shape[0], show_shape(b2, h));
        q->weight = m->data;
        q->weight_len = (int64_t)h->count;
    } else {
        if (L->pop_dims[3 * t] != sc || L->pop_dims[3 * t + 1] != sh || L->pop_dims[3 * t + 2] != sw)
            return fail(L, SNN_E_FORMAT, -1, j, "%s: identity needs a target of the source's shape "
                        "%s, but population %s has shape %s", where, show_pop_shape(b1, src),
                        quote(b2, f->pop_names[t]), show_pop_shape(b3, dst));
        if ((status = get_gain(L, obj, where, j, sc, q)) != SNN_OK) return status;
    }
    return SNN_OK;
}

/* Kahn's algorithm; on a cycle, name it as snncore/_spec.py does (_topological_order). */
static int check_acyclic(loader *L)
{
    const snn_net_desc *d = &L->f->desc;
    int32_t P = d->n_populations, J = d->n_projections, i, j, head = 0, tail = 0, cur, n_path = 0;
    int32_t *indeg = calloc((size_t)P, sizeof *indeg), *queue = calloc((size_t)P, sizeof *queue);
    int32_t *first_out = calloc((size_t)P + 1, sizeof *first_out);
    int32_t *outs = calloc((size_t)J + 1, sizeof *outs), *position = NULL, *path = NULL;
    unsigned char *done = calloc((size_t)P, 1);
    int status = SNN_OK;
    if (!indeg || !queue || !first_out || !outs || !done) {
        status = NOMEM(L);
        goto out;
    }
    /* outgoing projections of each population, grouped (counting sort by source) */
    for (j = 0; j < J; j++) first_out[d->projections[j].source + 1]++;
    for (i = 0; i < P; i++) first_out[i + 1] += first_out[i];
    {
        int32_t *fill = calloc((size_t)P, sizeof *fill);
        if (fill == NULL) {
            status = NOMEM(L);
            goto out;
        }
        for (j = 0; j < J; j++) {
            int32_t src = d->projections[j].source;
            outs[first_out[src] + fill[src]++] = j;
        }
        free(fill);
    }
    for (j = 0; j < J; j++) indeg[d->projections[j].target]++;
    queue[tail++] = d->input;
    done[d->input] = 1;
    for (i = 0; i < P; i++)
        if (i != d->input && indeg[i] == 0) {
            queue[tail++] = i;
            done[i] = 1;
        }
    while (head < tail) {
        int32_t p = queue[head++], e;
        for (e = first_out[p]; e < first_out[p + 1]; e++) {
            int32_t tgt = d->projections[outs[e]].target;
            if (--indeg[tgt] == 0 && !done[tgt]) {
                queue[tail++] = tgt;
                done[tgt] = 1;
            }
        }
    }
    if (tail == P) goto out;
    /* Every population left has a predecessor also left: walk back to a repeat. */
    position = malloc((size_t)P * sizeof *position);
    path = malloc((size_t)P * sizeof *path);
    if (!position || !path) {
        status = NOMEM(L);
        goto out;
    }
    for (i = 0; i < P; i++) position[i] = -1;
    for (cur = 0; done[cur]; cur++) {}
    while (position[cur] < 0) {
        int32_t best = -1;
        position[cur] = n_path;
        path[n_path++] = cur;
        for (j = 0; j < J; j++)
            if (d->projections[j].target == cur && !done[d->projections[j].source] &&
                (best < 0 || d->projections[j].source < best))
                best = d->projections[j].source;
        cur = best;
    }
    {
        /* the cycle runs forwards from its smallest index */
        int32_t start = position[cur], len = n_path - start, k, lo = 0;
        char msg[sizeof L->err->message];
        size_t n;
        for (k = 0; k < len; k++) {
            int32_t a = path[start + (len - 1 - k)];
            int32_t b = path[start + (len - 1 - lo)];
            if (a < b) lo = k;
        }
        n = (size_t)snprintf(msg, sizeof msg, "the projections form a cycle: ");
        for (k = 0; k <= len && n < sizeof msg; k++) {
            int32_t idx = path[start + (len - 1 - (lo + k) % len)];
            n += (size_t)snprintf(msg + n, sizeof msg - n, "%s%s", k ? " -> " : "",
                                  L->f->pop_names[idx]);
        }
        status = fail(L, SNN_E_FORMAT, path[start], -1, "%s", msg);
    }
out:
    free(indeg);
    free(queue);
    free(first_out);
    free(outs);
    free(done);
    free(position);
    free(path);
    return status;
}

static int get_top(loader *L, const char *key, json_type type, const char *what, int required_,
                   json_t **out)
{
    json_t *v = json_object_get(L->meta, key);
    *out = v;
    if (v == NULL) {
        if (required_) return fail(L, SNN_E_FORMAT, -1, -1, "metadata key '%s' is missing", key);
        return SNN_OK;
    }
    if (json_typeof(v) != type)
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata key '%s' must be %s, not %s", key, what,
                    tname(v));
    return SNN_OK;
}

/* snncore/_spec.py, normalize: the meaning of the metadata and arrays. */
static int interpret(loader *L)
{
    shown b1, b2;
    snn_file *f = L->f;
    json_t *fmt, *version, *producer, *input, *output, *pops, *projs, *provenance, *readout, *v;
    int32_t P, J, i, n_inputs = 0, input_index = -1, out_index;
    int64_t neurons = 0, weights = 0, need;
    int status;
    const char *in_name;

    /* _check_header */
    if ((fmt = json_object_get(L->meta, "format")) == NULL)
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata: required key 'format' is missing");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "snncore") != 0)
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata format is %s, expected 'snncore': not an "
                    "snncore network", show(b1, fmt));
    if ((version = json_object_get(L->meta, "version")) == NULL)
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata: required key 'version' is missing");
    if (!is_int(version))
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata key 'version' must be an integer, not %s",
                    tname(version));
    if (json_integer_value(version) > SNN_FORMAT_VERSION)
        return fail(L, SNN_E_FORMAT, -1, -1, "format version %lld is newer than this snncore "
                    "supports (%d); upgrade snncore", (long long)json_integer_value(version),
                    SNN_FORMAT_VERSION);
    if (json_integer_value(version) < 1)
        return fail(L, SNN_E_FORMAT, -1, -1, "format version %lld is not valid (versions start at 1)",
                    (long long)json_integer_value(version));
    f->info.format_version = (int32_t)json_integer_value(version);

    if ((status = get_top(L, "producer", JSON_STRING, "a string", 0, &producer)) != SNN_OK ||
        (status = get_top(L, "input", JSON_OBJECT, "an object", 1, &input)) != SNN_OK ||
        (status = get_top(L, "output", JSON_STRING, "a string", 1, &output)) != SNN_OK ||
        (status = get_top(L, "populations", JSON_ARRAY, "a list", 1, &pops)) != SNN_OK ||
        (status = get_top(L, "projections", JSON_ARRAY, "a list", 1, &projs)) != SNN_OK ||
        (status = get_top(L, "provenance", JSON_OBJECT, "an object", 0, &provenance)) != SNN_OK ||
        (status = get_top(L, "readout", JSON_OBJECT, "an object", 0, &readout)) != SNN_OK)
        return status;
    f->info.readout_start = 1;
    if (readout && (v = json_object_get(readout, "start")) != NULL) {
        if (!is_int(v) || json_integer_value(v) < 1 || json_integer_value(v) > MAX_TIMESTEPS)
            return fail(L, SNN_E_FORMAT, -1, -1, "metadata key 'readout': start must be an integer in "
                        "1..%lld, got %s", (long long)MAX_TIMESTEPS, show(b1, v));
        f->info.readout_start = (int32_t)json_integer_value(v);
    }

    if (json_array_size(pops) < 1 || json_array_size(pops) > MAX_POPULATIONS)
        return fail(L, SNN_E_FORMAT, -1, -1, "the network has %lu populations; 1 to %d are allowed",
                    (unsigned long)json_array_size(pops), MAX_POPULATIONS);
    if (json_array_size(projs) > MAX_PROJECTIONS)
        return fail(L, SNN_E_FORMAT, -1, -1, "the network has %lu projections; at most %d are "
                    "allowed", (unsigned long)json_array_size(projs), MAX_PROJECTIONS);
    P = (int32_t)json_array_size(pops);
    J = (int32_t)json_array_size(projs);
    f->pops = calloc((size_t)P, sizeof *f->pops);
    f->projs = calloc((size_t)J + 1, sizeof *f->projs);
    f->pop_names = calloc((size_t)P, sizeof *f->pop_names);
    f->proj_names = calloc((size_t)J + 1, sizeof *f->proj_names);
    f->scalars = calloc(2 * (size_t)P, sizeof *f->scalars);
    L->pop_dims = calloc(3 * (size_t)P, sizeof *L->pop_dims);
    f->n_pop_slots = P;
    f->n_proj_slots = J;
    if (!L->pop_dims || !f->pops || !f->projs || !f->pop_names || !f->proj_names || !f->scalars ||
        map_init(&L->pop_index, (size_t)P) != 0 || map_init(&L->proj_index, (size_t)J) != 0)
        return NOMEM(L);
    f->desc.populations = f->pops;
    f->desc.projections = f->projs;
    f->info.population_names = (const char *const *)f->pop_names;
    f->info.projection_names = (const char *const *)f->proj_names;

    for (i = 0; i < P; i++) {
        int32_t seen;
        if ((status = parse_population(L, i, json_array_get(pops, (size_t)i))) != SNN_OK)
            return status;
        f->desc.n_populations = i + 1;
        if ((seen = map_put(&L->pop_index, f->pop_names[i], i)) >= 0)
            return fail(L, SNN_E_FORMAT, i, -1, "population %s: duplicate name (populations %d and "
                        "%d)", quote(b1, f->pop_names[i]), (int)seen, (int)i);
    }
    for (i = 0; i < P; i++)
        neurons += L->pop_dims[3 * i] * L->pop_dims[3 * i + 1] * L->pop_dims[3 * i + 2];
    need = 16 * neurons + 64 * (int64_t)(P + J);
    if (need > L->max_bytes)
        return fail(L, SNN_E_FORMAT, -1, -1, "the network would need at least %lld bytes of "
                    "per-image state, more than the memory limit of %lld bytes", (long long)need,
                    (long long)L->max_bytes);

    for (i = 0; i < P; i++)
        if (f->pops[i].kind == SNN_KIND_INPUT) {
            if (n_inputs++ == 0) input_index = i;
        }
    if (n_inputs != 1) {
        char names[sizeof L->err->message];
        size_t n = 0;
        if (n_inputs == 0)
            return fail(L, SNN_E_FORMAT, -1, -1, "the network has no input population; exactly one "
                        "is required");
        names[0] = '\0';
        for (i = 0; i < P && n < sizeof names; i++)
            if (f->pops[i].kind == SNN_KIND_INPUT)
                n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "",
                                      quote(b1, f->pop_names[i]));
        return fail(L, SNN_E_FORMAT, -1, -1, "the network has %d input populations (%s); exactly one "
                    "is required", (int)n_inputs, names);
    }
    f->desc.input = input_index;
    if ((v = json_object_get(input, "population")) == NULL)
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata key 'input': required key 'population' is "
                    "missing");
    if (!json_is_string(v))
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata key 'input': population must be a string, not "
                    "%s", tname(v));
    in_name = json_string_value(v);
    if ((i = map_get(&L->pop_index, in_name)) < 0)
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata key 'input': population %s names no "
                    "population", show(b1, v));
    if (i != input_index)
        return fail(L, SNN_E_FORMAT, i, -1, "metadata key 'input': population %s is %s %s "
                    "population, not the input population %s", quote(b1, in_name),
                    a_or_an(KINDS[f->pops[i].kind]), KINDS[f->pops[i].kind],
                    quote(b2, f->pop_names[input_index]));
    f->info.encoding = SNN_ENCODING_ANALOG;
    if ((v = json_object_get(input, "encoding")) != NULL) {
        int e, found = -1;
        if (!json_is_string(v))
            return fail(L, SNN_E_FORMAT, -1, -1, "metadata key 'input': encoding must be a string, "
                        "not %s", tname(v));
        for (e = 0; e < 3; e++)
            if (strcmp(json_string_value(v), ENCODINGS[e]) == 0) found = e;
        if (found < 0)
            return fail(L, SNN_E_FORMAT, -1, -1, "metadata key 'input': unknown encoding %s "
                        "(expected one of analog, poisson, regular)", show(b1, v));
        f->info.encoding = found;
    }
    f->info.rate = 1.0;
    if ((v = json_object_get(input, "rate")) != NULL &&
        (status = get_number(L, v, "metadata key 'input'", "rate", -1, &f->info.rate)) != SNN_OK)
        return status;
    if (!(f->info.rate > 0))
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata key 'input': rate must be positive (> 0), got "
                    "%s", show_double(b1, f->info.rate));
    f->info.uint8_scale = 1.0 / 255.0;
    if ((v = json_object_get(input, "uint8_scale")) != NULL &&
        (status = get_number(L, v, "metadata key 'input'", "uint8_scale", -1,
                             &f->info.uint8_scale)) != SNN_OK)
        return status;
    if (!(f->info.uint8_scale > 0))
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata key 'input': uint8_scale must be positive "
                    "(> 0), got %s", show_double(b1, f->info.uint8_scale));

    if ((out_index = map_get(&L->pop_index, json_string_value(output))) < 0)
        return fail(L, SNN_E_FORMAT, -1, -1, "metadata key 'output': %s names no population",
                    show(b1, output));
    if (f->pops[out_index].kind != SNN_KIND_IF && f->pops[out_index].kind != SNN_KIND_ACCUMULATE)
        return fail(L, SNN_E_FORMAT, out_index, -1, "output population %s is %s %s population; it "
                    "must be if or accumulate", quote(b1, f->pop_names[out_index]),
                    a_or_an(KINDS[f->pops[out_index].kind]), KINDS[f->pops[out_index].kind]);
    f->desc.output = out_index;

    for (i = 0; i < J; i++) {
        int32_t seen;
        if ((status = parse_projection(L, i, json_array_get(projs, (size_t)i))) != SNN_OK)
            return status;
        f->desc.n_projections = i + 1;
        if ((seen = map_put(&L->proj_index, f->proj_names[i], i)) >= 0)
            return fail(L, SNN_E_FORMAT, -1, i, "projection %s: duplicate name (projections %d and "
                        "%d)", quote(b1, f->proj_names[i]), (int)seen, (int)i);
        weights += f->projs[i].weight_len;
    }
    need = 4 * weights + 16 * neurons + 64 * (int64_t)(P + J);
    if (need > L->max_bytes)
        return fail(L, SNN_E_FORMAT, -1, -1, "the network would need about %lld bytes (weights and "
                    "per-image state), more than the memory limit of %lld bytes", (long long)need,
                    (long long)L->max_bytes);
    if ((status = check_acyclic(L)) != SNN_OK) return status;

    if (producer) {
        if ((f->producer = malloc(strlen(json_string_value(producer)) + 1)) == NULL) return NOMEM(L);
        strcpy(f->producer, json_string_value(producer));
    }
    f->provenance = provenance ? json_dumps(provenance, JSON_COMPACT) : NULL;
    if (provenance && f->provenance == NULL) return NOMEM(L);
    return SNN_OK;
}

/* ---- putting it together ------------------------------------------------- */

static void release(snn_file *f)
{
    size_t i;
    int32_t k;
    if (f == NULL) return;
    for (k = 0; k < f->n_pop_slots && f->pop_names; k++) free(f->pop_names[k]);
    for (k = 0; k < f->n_proj_slots && f->proj_names; k++) free(f->proj_names[k]);
    free(f->pop_names);
    free(f->proj_names);
    free(f->pops);
    free(f->projs);
    free(f->scalars);
    free(f->producer);
    free(f->provenance);
    for (i = 0; i < f->n_arrays; i++) free(f->arrays[i]);
    free(f->arrays);
    free(f);
}

void snn_file_free(snn_file *file) { release(file); }

static snn_file *load_source(zip_source_t *src, uint64_t archive_size, const snn_load_options *opt,
                             snn_error *err)
{
    loader L;
    zip_error_t ze;
    snn_limits lim;
    size_t i;
    int status;
    memset(&L, 0, sizeof L);
    L.err = err;
    L.archive_size = archive_size;
    snn_get_limits(&lim);
    L.max_bytes = opt && opt->max_bytes > 0 ? opt->max_bytes : lim.max_bytes;

    if (archive_size < 22) {   /* shorter than an end of central directory record */
        fail(&L, SNN_E_FORMAT, -1, -1, "not a zip archive, or a truncated or damaged one (%llu "
             "bytes)", (unsigned long long)archive_size);
        zip_source_free(src);
        return NULL;
    }
    zip_error_init(&ze);
    /* ZIP_CHECKCONS: every local header must agree with the central directory */
    L.za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (L.za == NULL) {
        if (zip_error_code_zip(&ze) == ZIP_ER_MEMORY)
            NOMEM(&L);
        else if (zip_error_code_zip(&ze) == ZIP_ER_EXISTS)
            fail(&L, SNN_E_FORMAT, -1, -1, "a member appears twice in the archive (%s)",
                 zip_error_strerror(&ze));
        else
            fail(&L, SNN_E_FORMAT, -1, -1, "not a zip archive, or a truncated or damaged one (%s)",
                 zip_error_strerror(&ze));
        zip_error_fini(&ze);
        zip_source_free(src);
        return NULL;
    }
    zip_error_fini(&ze);
    L.f = calloc(1, sizeof *L.f);
    status = L.f ? read_container(&L) : NOMEM(&L);
    if (status == SNN_OK) status = interpret(&L);
    if (status == SNN_OK) {
        /* keep the arrays the network uses, free the others */
        L.f->arrays = calloc(L.n_m + 1, sizeof *L.f->arrays);
        if (L.f->arrays == NULL) status = NOMEM(&L);
        for (i = 0; i < L.n_m && status == SNN_OK; i++)
            if (L.m[i].used) {
                L.f->arrays[L.f->n_arrays++] = L.m[i].data;
                L.m[i].data = NULL;
            }
    }
    for (i = 0; i < L.n_m; i++) {
        free(L.m[i].name);
        free(L.m[i].key);
        free(L.m[i].data);
    }
    free(L.m);
    map_free(&L.by_key);
    map_free(&L.pop_index);
    map_free(&L.proj_index);
    free(L.pop_dims);
    json_decref(L.meta);
    zip_discard(L.za);
    if (status != SNN_OK) {
        release(L.f);
        return NULL;
    }
    L.f->info.producer = L.f->producer ? L.f->producer : "";
    L.f->info.provenance = L.f->provenance ? L.f->provenance : "{}";
    return L.f;
}

/* Appends s to the NUL-terminated text of length n in dst (truncating); @return the new length. */
static size_t cat(char *dst, size_t cap, size_t n, const char *s)
{
    size_t k = strlen(s);
    if (k > cap - 1 - n) k = cap - 1 - n;
    memcpy(dst + n, s, k);
    dst[n + k] = '\0';
    return n + k;
}

static void clear_error(snn_error *err)
{
    if (err == NULL) return;
    err->status = SNN_OK;
    err->population = err->projection = -1;
    err->message[0] = '\0';
}

static void set_error(snn_error *err, int status, const char *fmt, const char *arg1,
                      const char *arg2)
{
    if (err == NULL) return;
    err->status = status;
    err->population = err->projection = -1;
    snprintf(err->message, sizeof err->message, fmt, arg1, arg2);
}

snn_file *snn_file_read(const char *path, const snn_load_options *opt, snn_error *err)
{
    FILE *fp;
    struct stat st;
    zip_source_t *src;
    zip_error_t ze;
    clear_error(err);
    if (path == NULL) {
        set_error(err, SNN_E_INVALID_ARG, "path is NULL%s%s", "", "");
        return NULL;
    }
    if ((fp = fopen(path, "rb")) == NULL) {
        set_error(err, SNN_E_IO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        set_error(err, SNN_E_IO, "cannot read %s: %s", path, "not a regular file");
        fclose(fp);
        return NULL;
    }
    zip_error_init(&ze);
    src = zip_source_filep_create(fp, 0, -1, &ze);
    if (src == NULL) {
        set_error(err, zip_error_code_zip(&ze) == ZIP_ER_MEMORY ? SNN_E_NOMEM : SNN_E_IO,
                  "cannot read %s: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        fclose(fp);
        return NULL;
    }
    zip_error_fini(&ze);
    return load_source(src, (uint64_t)st.st_size, opt, err);
}

snn_file *snn_file_read_memory(const void *data, size_t size, const snn_load_options *opt,
                               snn_error *err)
{
    zip_source_t *src;
    zip_error_t ze;
    static const unsigned char empty[1] = {0};
    clear_error(err);
    if (data == NULL && size > 0) {
        set_error(err, SNN_E_INVALID_ARG, "data is NULL but size is not 0%s%s", "", "");
        return NULL;
    }
    zip_error_init(&ze);
    src = zip_source_buffer_create(data ? data : empty, size, 0, &ze);
    if (src == NULL) {
        set_error(err, SNN_E_NOMEM, "cannot read the buffer: %s%s", zip_error_strerror(&ze), "");
        zip_error_fini(&ze);
        return NULL;
    }
    zip_error_fini(&ze);
    return load_source(src, (uint64_t)size, opt, err);
}

const snn_net_desc *snn_file_desc(const snn_file *file) { return file ? &file->desc : NULL; }

const snn_file_info *snn_file_get_info(const snn_file *file)
{
    return file ? &file->info : NULL;
}

snn_net *snn_file_build(const snn_file *file, const snn_allocator *allocator, snn_error *err)
{
    shown b1;
    snn_net_desc d;
    snn_net *net;
    snn_error local;
    snn_error *e = err ? err : &local;
    if (file == NULL) {
        set_error(err, SNN_E_INVALID_ARG, "file is NULL%s%s", "", "");
        return NULL;
    }
    d = file->desc;
    d.allocator = allocator;
    net = snn_net_create(&d, e);
    if (net == NULL && err) {
        /* name the item at fault, as the messages of the file checks do */
        char msg[sizeof err->message];
        size_t n = 0;
        if (err->projection >= 0 && err->projection < d.n_projections) {
            n = cat(msg, sizeof msg, n, "projection ");
            n = cat(msg, sizeof msg, n, quote(b1, file->proj_names[err->projection]));
            n = cat(msg, sizeof msg, n, ": ");
        } else if (err->population >= 0 && err->population < d.n_populations) {
            n = cat(msg, sizeof msg, n, "population ");
            n = cat(msg, sizeof msg, n, quote(b1, file->pop_names[err->population]));
            n = cat(msg, sizeof msg, n, ": ");
        }
        cat(msg, sizeof msg, n, err->message);
        memcpy(err->message, msg, sizeof msg);
    }
    return net;
}

static snn_net *build_and_free(snn_file *f, const snn_load_options *opt, snn_error *err)
{
    snn_net *net;
    if (f == NULL) return NULL;
    net = snn_file_build(f, opt ? opt->allocator : NULL, err);
    snn_file_free(f);
    return net;
}

snn_net *snn_load_file(const char *path, const snn_load_options *opt, snn_error *err)
{
    return build_and_free(snn_file_read(path, opt, err), opt, err);
}

snn_net *snn_load_memory(const void *data, size_t size, const snn_load_options *opt,
                         snn_error *err)
{
    return build_and_free(snn_file_read_memory(data, size, opt, err), opt, err);
}

int snn_has_loader(void) { return 1; }
