/* A strict reader (and a tiny writer) of .npy headers; see npy.h. */
#include "npy.h"

#include <stdio.h>
#include <string.h>

static const unsigned char MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

int snn_npy_magic(const unsigned char *p, int *major, int *minor)
{
    if (memcmp(p, MAGIC, sizeof MAGIC) != 0) return 0;
    *major = p[6];
    *minor = p[7];
    if (p[6] == 1 && p[7] == 0) return 2;
    if (p[6] == 2 && p[7] == 0) return 4;
    return -1;
}

uint32_t snn_npy_header_len(const unsigned char *p, int width)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    if (width == 4) v |= (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return v;
}

/* ---- the header dict ----------------------------------------------------- */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Consumes `ch` (after optional white space) when it comes next. */
static int take(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string of printable ASCII without escapes, copied (truncated) to buf.
 * @return its full length, or -1. */
static long quoted(cursor *c, char *buf, size_t cap)
{
    char q;
    size_t n = 0;
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
    q = *c->p++;
    while (c->p < c->end && *c->p != q) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20 || ch > 0x7e || ch == '\\') return -1;
        if (n + 1 < cap) buf[n] = (char)ch;
        n++;
        c->p++;
    }
    if (c->p >= c->end) return -1;
    c->p++;
    buf[n + 1 < cap ? n : cap - 1] = '\0';
    return (long)n;
}

/* A decimal integer without sign or leading zeros, at most SNN_NPY_MAX_DIM. */
static int integer(cursor *c, uint64_t *out)
{
    uint64_t v = 0;
    const char *start;
    skip_space(c);
    start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        v = v * 10 + (uint64_t)(*c->p - '0');
        if (v > SNN_NPY_MAX_DIM) return -1;
        c->p++;
    }
    if (c->p == start || (*start == '0' && c->p - start > 1)) return -1;
    *out = v;
    return 0;
}

static int word(cursor *c, const char *w)
{
    size_t n = strlen(w);
    skip_space(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
    c->p += n;
    return 1;
}

static int fail(char *why, size_t why_len, const char *text)
{
    snprintf(why, why_len, "%s", text);
    return -1;
}

static int parse_shape(cursor *c, snn_npy_header *h, char *why, size_t why_len)
{
    int n = 0, comma = 0;
    if (!take(c, '(')) return fail(why, why_len, "shape is not a tuple");
    if (take(c, ')')) {
        h->ndim = 0;
        return 0;
    }
    for (;;) {
        if (n == SNN_NPY_MAX_NDIM) return fail(why, why_len, "shape has too many dimensions");
        if (integer(c, &h->shape[n]) != 0)
            return fail(why, why_len, "shape holds something other than a non-negative integer");
        n++;
        comma = take(c, ',');
        if (take(c, ')')) break;
        if (!comma) return fail(why, why_len, "shape is not a tuple");
    }
    if (n == 1 && !comma) return fail(why, why_len, "shape is not a tuple");
    h->ndim = n;
    return 0;
}

int snn_npy_parse(const char *p, size_t len, snn_npy_header *h, char *why, size_t why_len)
{
    cursor c;
    int seen_descr = 0, seen_order = 0, seen_shape = 0, k;
    char key[16];
    c.p = p;
    c.end = p + len;
    memset(h, 0, sizeof *h);
    if (!take(&c, '{')) return fail(why, why_len, "the header is not a dict");
    while (!take(&c, '}')) {
        long klen = quoted(&c, key, sizeof key);
        if (klen < 0) return fail(why, why_len, "a key is not a plain quoted string");
        if (!take(&c, ':')) return fail(why, why_len, "a key is not followed by ':'");
        if (klen == 5 && strcmp(key, "descr") == 0) {
            if (seen_descr++) return fail(why, why_len, "key 'descr' appears twice");
            if (quoted(&c, h->descr, sizeof h->descr) < 0)
                return fail(why, why_len, "descr is not a plain dtype string");
        } else if (klen == 13 && strcmp(key, "fortran_order") == 0) {
            if (seen_order++) return fail(why, why_len, "key 'fortran_order' appears twice");
            if (word(&c, "True")) h->fortran_order = 1;
            else if (word(&c, "False")) h->fortran_order = 0;
            else return fail(why, why_len, "fortran_order is not True or False");
        } else if (klen == 5 && strcmp(key, "shape") == 0) {
            if (seen_shape++) return fail(why, why_len, "key 'shape' appears twice");
            if (parse_shape(&c, h, why, why_len) != 0) return -1;
        } else {
            return fail(why, why_len, "the header has a key other than descr, fortran_order "
                                      "and shape");
        }
        if (!take(&c, ',')) {
            if (!take(&c, '}')) return fail(why, why_len, "items are not separated by ','");
            break;
        }
    }
    skip_space(&c);
    if (c.p != c.end) return fail(why, why_len, "text follows the header dict");
    if (!seen_descr || !seen_order || !seen_shape)
        return fail(why, why_len, "the header lacks one of descr, fortran_order and shape");
    h->count = 1;
    for (k = 0; k < h->ndim; k++) {
        uint64_t d = h->shape[k];
        if (d != 0 && h->count > ((uint64_t)1 << 63) / d) h->count_overflow = 1;
        else h->count *= d;
    }
    for (k = 0; k < h->ndim; k++)     /* a zero dimension empties any product */
        if (h->shape[k] == 0) {
            h->count = 0;
            h->count_overflow = 0;
        }
    return 0;
}

void snn_npy_format_shape(const snn_npy_header *h, char *buf, size_t cap)
{
    size_t n = 0;
    int k;
    if (cap == 0) return;
    n += (size_t)snprintf(buf, cap, "(");
    for (k = 0; k < h->ndim && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", k ? ", " : "",
                              (unsigned long long)h->shape[k]);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, h->ndim == 1 ? ",)" : ")");
    (void)n;
}

void snn_npy_fortran_to_c(const snn_npy_header *h, size_t itemsize, const void *src, void *dst)
{
    const unsigned char *s = src;
    unsigned char *d = dst;
    uint64_t idx[SNN_NPY_MAX_NDIM], fstride[SNN_NPY_MAX_NDIM], i, off = 0;
    int k, n = h->ndim;
    if (n < 2 || h->count == 0) {
        memcpy(dst, src, (size_t)h->count * itemsize);
        return;
    }
    for (k = 0; k < n; k++) {
        idx[k] = 0;
        fstride[k] = k == 0 ? 1 : fstride[k - 1] * h->shape[k - 1];
    }
    /* walk the C-order multi-index; `off` is its Fortran-order offset */
    for (i = 0; i < h->count; i++) {
        memcpy(d + i * itemsize, s + off * itemsize, itemsize);
        for (k = n - 1; k >= 0; k--) {
            idx[k]++;
            off += fstride[k];
            if (idx[k] < h->shape[k]) break;
            off -= idx[k] * fstride[k];
            idx[k] = 0;
        }
    }
}

size_t snn_npy_write_header(char *buf, size_t cap, const char *descr, int ndim,
                            const int64_t *shape)
{
    char dict[512];
    size_t n, total;
    int k;
    n = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                         descr);
    for (k = 0; k < ndim && n < sizeof dict; k++)
        n += (size_t)snprintf(dict + n, sizeof dict - n, "%s%lld", k ? ", " : "",
                              (long long)shape[k]);
    if (n < sizeof dict)
        n += (size_t)snprintf(dict + n, sizeof dict - n, "%s}", ndim == 1 ? ",), " : "), ");
    if (n >= sizeof dict) return 0;
    /* magic(6) + version(2) + length(2) + dict + padding + '\n', a multiple of 64 */
    total = (10 + n + 1 + 63) / 64 * 64;
    if (total > cap || total - 10 > 65535) return 0;
    memcpy(buf, MAGIC, sizeof MAGIC);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, n);
    memset(buf + 10 + n, ' ', total - 10 - n - 1);
    buf[total - 1] = '\n';
    return total;
}
