/*
 * The zip archive of a network file (libzip): its members and their checks, each
 * member's .npy header parsed without reading its data, and one member's data read
 * on demand (exact size, CRC, nothing after it; Fortran order turned to C order).
 * Nothing here trusts a size from the file before checking it against the archive.
 */
#include "loader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MEMBERS 100000
#define DEFLATE_MAX_RATIO 1100
#define CHUNK ((size_t)1 << 20)

/* Refuses member m: "member '<name>': <problem>". */
static SNN__PRINTF(3, 4) int bad(snn_error *err, const snn__member *m, const char *fmt, ...)
{
    char problem[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    return FORMAT_ERROR(err, "member '%s': %s", m->name, problem);
}

static int by_key(const void *x, const void *y)
{
    const snn__member *a = *(snn__member *const *)x, *b = *(snn__member *const *)y;
    const int c = strcmp(a->key, b->key);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

snn__member *snn__archive_find(const snn__archive *a, const char *key)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {   /* the first member whose key is >= key */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(a->sorted[mid]->key, key) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < a->n && strcmp(a->sorted[lo]->key, key) == 0 ? a->sorted[lo] : NULL;
}

/* Checks one member's name, method and sizes (the member scan's rules, in order). */
static int check_member(const snn__archive *a, const snn__member *m, snn_error *err)
{
    const size_t len = strlen(m->name);
    if (strchr(m->name, '/')) return bad(err, m, "names with '/' are not allowed");
    if (len < 4 || strcmp(m->name + len - 4, ".npy") != 0)
        return bad(err, m, "not a .npy member (the name does not end in .npy)");
    if (len == 4) return bad(err, m, "empty array name");
    if (strncmp(m->key, "__", 2) == 0 && strcmp(m->key, SNN__META_KEY) != 0)
        return bad(err, m, "array names starting with '__' are reserved");
    if (m->encrypted) return bad(err, m, "encrypted");
    if (m->method != ZIP_CM_STORE && m->method != ZIP_CM_DEFLATE)
        return bad(err, m, "compression method %d; only stored and deflated members are allowed",
                   m->method);
    if (m->dup) return bad(err, m, "appears twice in the archive");
    if (m->comp_size > a->size) return bad(err, m, "more compressed bytes than the archive holds");
    if (m->method == ZIP_CM_STORE && m->size != m->comp_size)
        return bad(err, m, "a stored member whose sizes disagree");
    if (m->method == ZIP_CM_DEFLATE && m->size > (zip_uint64_t)DEFLATE_MAX_RATIO * m->comp_size + 1024)
        return bad(err, m, "declares more bytes than deflate can produce from its compressed size");
    return SNN_OK;
}

/* Lists the members, then checks each in archive order. */
static int scan(snn__archive *a, snn_error *err)
{
    const zip_uint64_t want = ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE;
    zip_int64_t n = zip_get_num_entries(a->za, 0);
    size_t i;
    if (n < 0) n = 0;
    if (n > MAX_MEMBERS)
        return FORMAT_ERROR(err, "archive: %lld members, more than the %d allowed", (long long)n,
                            MAX_MEMBERS);
    a->m = calloc((size_t)n + 1, sizeof *a->m);
    a->sorted = malloc(((size_t)n + 1) * sizeof *a->sorted);
    if (a->m == NULL || a->sorted == NULL) return snn__nomem(err);
    for (i = 0; i < (size_t)n; i++) {
        snn__member *m = &a->m[i];
        zip_stat_t st;
        size_t len;
        zip_stat_init(&st);
        if (zip_stat_index(a->za, i, ZIP_FL_ENC_STRICT, &st) != 0 || (st.valid & want) != want)
            return FORMAT_ERROR(err, "archive: member %llu is damaged (%s)", (unsigned long long)i,
                                zip_strerror(a->za));
        len = strlen(st.name);
        m->index = i;
        m->size = st.size;
        m->comp_size = st.comp_size;
        m->method = (st.valid & ZIP_STAT_COMP_METHOD) ? (int)st.comp_method : -1;
        m->encrypted = (st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE;
        m->name = strdup(st.name);
        m->key = strdup(st.name);
        a->n = i + 1;
        if (m->name == NULL || m->key == NULL) return snn__nomem(err);
        if (len >= 4 && strcmp(st.name + len - 4, ".npy") == 0) m->key[len - 4] = '\0';
        a->sorted[i] = m;
    }
    /* a member is a duplicate when an earlier one has its name (the sort keeps
     * equal keys in archive order; equal names have equal keys) */
    qsort(a->sorted, a->n, sizeof *a->sorted, by_key);
    for (i = 1; i < a->n; i++)
        a->sorted[i]->dup = strcmp(a->sorted[i - 1]->name, a->sorted[i]->name) == 0;
    for (i = 0; i < a->n; i++) FORWARD(check_member(a, &a->m[i], err));
    return SNN_OK;
}

int snn__archive_open(snn__archive *a, zip_source_t *src, uint64_t size, snn_error *err)
{
    zip_error_t ze;
    int code;
    memset(a, 0, sizeof *a);
    a->size = size;
    zip_error_init(&ze);
    /* ZIP_CHECKCONS: every local header must agree with the central directory */
    a->za = size < 22 ? NULL : zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    code = a->za ? SNN_OK : size < 22 ? ZIP_ER_NOZIP : zip_error_code_zip(&ze);
    if (code == ZIP_ER_MEMORY) snn__nomem(err);
    else if (code != SNN_OK)
        FORMAT_ERROR(err, "archive: not a zip archive, or a truncated or damaged one (%s)",
                     code == ZIP_ER_NOZIP ? "no zip directory" : zip_error_strerror(&ze));
    zip_error_fini(&ze);
    if (a->za == NULL) zip_source_free(src);
    return a->za ? scan(a, err) : code == ZIP_ER_MEMORY ? SNN_E_NOMEM : SNN_E_FORMAT;
}

void snn__archive_close(snn__archive *a)
{
    size_t i;
    for (i = 0; i < a->n; i++) {
        free(a->m[i].name);
        free(a->m[i].key);
        free(a->m[i].data);
    }
    free(a->m);
    free(a->sorted);
    if (a->za) zip_discard(a->za);
    memset(a, 0, sizeof *a);
}

/* Reads up to n bytes. @return the count read (< n at the end of the member), or -1. */
static zip_int64_t read_some(zip_file_t *zf, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        zip_int64_t r = zip_fread(zf, (char *)buf + got, n - got < CHUNK ? n - got : CHUNK);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (zip_int64_t)got;
}

static int damaged(snn_error *err, const snn__member *m, zip_file_t *zf, const snn__archive *a)
{
    return bad(err, m, "damaged or truncated (%s)",
               zf ? zip_file_strerror(zf) : zip_strerror(a->za));
}

/* Reads exactly n bytes of `part` (the header or the data), or fails. */
static int read_part(const snn__archive *a, const snn__member *m, zip_file_t *zf, void *buf,
                     uint64_t n, const char *part, snn_error *err)
{
    zip_int64_t r = read_some(zf, buf, (size_t)n);
    if (r < 0) return damaged(err, m, zf, a);
    return (uint64_t)r < n ? bad(err, m, "ends inside %s", part) : SNN_OK;
}

static int check_dtype(snn_error *err, const snn__member *m, int want_u8)
{
    const char *d = m->h.descr;
    if (want_u8 ? strcmp(d, "|u1") == 0 || strcmp(d, "<u1") == 0 || strcmp(d, "u1") == 0
                : strcmp(d, "<f4") == 0)
        return SNN_OK;
    if (d[(d[0] && strchr("<>|=", d[0])) ? 1 : 0] == 'O')
        return bad(err, m, "an object array (it would need pickle); only '<f4' arrays are allowed");
    if (!want_u8 && strcmp(d, ">f4") == 0)
        return bad(err, m, "big-endian float32 ('>f4') is not supported; store '<f4'");
    return bad(err, m, "dtype '%s', expected %s", d, want_u8 ? "uint8 ('|u1')" : "'<f4'");
}

/* Opens member m and parses its .npy header (the data stays unread); *zf (which the
 * caller closes, whatever the result) stays at the start of the data. */
static int open_header(const snn__archive *a, snn__member *m, int want_u8, zip_file_t **zf,
                       snn_error *err)
{
    unsigned char prefix[SNN_NPY_MAGIC_LEN], lenbuf[4];
    char hdr[SNN_NPY_MAX_HEADER], why[96];
    int width, major = 0, minor = 0;
    uint32_t hlen;
    uint64_t nbytes;
    snn_limits L;
    *zf = zip_fopen_index(a->za, m->index, 0);
    if (*zf == NULL) return damaged(err, m, NULL, a);
    FORWARD(read_part(a, m, *zf, prefix, sizeof prefix, "the .npy header", err));
    width = snn_npy_magic(prefix, &major, &minor);
    if (width == 0) return bad(err, m, "not a .npy array (bad magic bytes)");
    if (width < 0)
        return bad(err, m, ".npy format version %d.%d, expected 1.0 or 2.0", major, minor);
    FORWARD(read_part(a, m, *zf, lenbuf, (uint64_t)width, "the .npy header", err));
    hlen = snn_npy_header_len(lenbuf, width);
    if (hlen > SNN_NPY_MAX_HEADER)
        return bad(err, m, "a .npy header of %lu bytes, more than the %d allowed",
                   (unsigned long)hlen, SNN_NPY_MAX_HEADER);
    FORWARD(read_part(a, m, *zf, hdr, hlen, "the .npy header", err));
    if (snn_npy_parse(hdr, hlen, &m->h, why, sizeof why) != 0)
        return bad(err, m, "broken .npy header (%s)", why);
    FORWARD(check_dtype(err, m, want_u8));
    snn_get_limits(&L);
    if (want_u8 && m->h.ndim != 1) return bad(err, m, "the metadata must be a 1-D uint8 array");
    if (want_u8 && (m->h.count_overflow || m->h.count > (uint64_t)L.max_meta_bytes))
        return bad(err, m, "more than the %lld bytes of metadata allowed",
                   (long long)L.max_meta_bytes);
    m->header_size = SNN_NPY_MAGIC_LEN + (uint64_t)width + hlen;
    nbytes = m->h.count * (want_u8 ? 1 : 4);
    if (m->h.count_overflow || m->h.count > (UINT64_MAX >> 3) || m->size < m->header_size ||
        m->size - m->header_size != nbytes)
        return bad(err, m, "the .npy header declares a shape whose data size is not the member's");
    return SNN_OK;
}

/* Reads the data after the header (nbytes into *out, malloc'd) and checks the end. */
static int read_rest(const snn__archive *a, const snn__member *m, zip_file_t *zf, uint64_t nbytes,
                     unsigned char **out, snn_error *err)
{
    unsigned char extra, *data = malloc(nbytes ? (size_t)nbytes : 1);
    zip_int64_t r;
    int status;
    if (data == NULL) return snn__nomem(err);
    status = read_part(a, m, zf, data, nbytes, "the array data", err);
    if (status == SNN_OK && (r = zip_fread(zf, &extra, 1)) != 0)   /* < 0: damaged, or a bad CRC */
        status = r < 0 ? damaged(err, m, zf, a)
                       : bad(err, m, "holds more data than its header declares");
    if (status != SNN_OK) free(data);
    else *out = data;
    return status;
}

/* Parses member m's header; then, unless `out` is NULL, reads its data into *out. */
static int read_member(const snn__archive *a, snn__member *m, int want_u8, unsigned char **out,
                       snn_error *err)
{
    zip_file_t *zf = NULL;
    int status = open_header(a, m, want_u8, &zf, err);
    if (status == SNN_OK && out)
        status = read_rest(a, m, zf, m->h.count * (want_u8 ? 1 : 4), out, err);
    if (zf) zip_fclose(zf);
    return status;
}

int snn__archive_read_meta(snn__archive *a, snn__member *m, unsigned char **raw, snn_error *err)
{
    return read_member(a, m, 1, raw, err);
}

int snn__archive_headers(snn__archive *a, const snn__member *skip, snn_error *err)
{
    size_t i;
    for (i = 0; i < a->n; i++)
        if (&a->m[i] != skip) FORWARD(read_member(a, &a->m[i], 0, NULL, err));
    return SNN_OK;
}

int snn__archive_read(snn__archive *a, snn__member *m, snn_error *err)
{
    unsigned char *data = NULL;
    if (m->data) return SNN_OK;   /* referenced twice */
    FORWARD(read_member(a, m, 0, &data, err));
    m->data = (float *)data;
    if (m->h.fortran_order && m->h.ndim > 1) {
        if ((m->data = malloc((size_t)m->h.count * 4)) == NULL) {
            free(data);
            return snn__nomem(err);
        }
        snn_npy_fortran_to_c(&m->h, 4, data, m->data);
        free(data);
    }
    return SNN_OK;
}
