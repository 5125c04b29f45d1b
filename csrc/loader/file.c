/*
 * The loader's public functions: a network file read in stages. The members are
 * listed and every .npy header parsed; the metadata is read and described (shapes
 * from the headers, no data); snn_net_check judges that description; only then are
 * the referenced arrays read (never the others), and snn_net_check runs again on
 * their values.
 */
#include "loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int snn__nomem(snn_error *err)
{
    return snn__set_error(err, SNN_E_NOMEM, -1, -1, "out of memory while reading the network file");
}

void snn_file_free(snn_file *f)
{
    size_t i;
    int32_t k;
    if (f == NULL) return;
    for (k = 0; f->pop_names && k < f->desc.n_populations; k++) free(f->pop_names[k]);
    for (k = 0; f->proj_names && k < f->desc.n_projections; k++) free(f->proj_names[k]);
    for (i = 0; i < f->n_arrays; i++) free(f->arrays[i]);
    free(f->pop_names);
    free(f->proj_names);
    free(f->pops);
    free(f->projs);
    free(f->scalars);
    free(f->producer);
    free(f->provenance);
    free(f->arrays);
    free(f);
}

/* Reads the referenced arrays into the description; the file takes their data. */
static int read_arrays(snn__archive *a, snn_file *f, const snn__ref *refs, size_t n,
                       snn_error *err)
{
    size_t i, k;
    if ((f->arrays = calloc(n + 1, sizeof *f->arrays)) == NULL) return snn__nomem(err);
    for (i = 0; i < n; i++)
        FORWARD(snn__archive_read(a, refs[i].member, err));
    for (i = 0; i < n; i++) refs[i].slot->data = refs[i].member->data;
    for (k = 0; k < a->n; k++)
        if (a->m[k].data) {
            f->arrays[f->n_arrays++] = a->m[k].data;
            a->m[k].data = NULL;
        }
    return SNN_OK;
}

static int read_file(snn__archive *a, const snn_load_options *opt, snn_file *f, snn_error *err)
{
    snn__member *meta;
    unsigned char *raw = NULL;
    json_t *json = NULL;
    snn__ref *refs = NULL;
    size_t n_refs = 0;
    int status;
    if ((meta = snn__archive_find(a, SNN__META_KEY)) == NULL)
        return FORMAT_ERROR(err, "member '" SNN__META_KEY ".npy': missing; "
                            "this is not an snncore network file");
    FORWARD(snn__archive_read_meta(a, meta, &raw, err));
    status = snn__parse_json(raw, (size_t)meta->h.count, &json, err);
    free(raw);
    if (status == SNN_OK) status = snn__archive_headers(a, meta, err);
    if (status == SNN_OK) status = snn__describe(json, a, f, &refs, &n_refs, err);
    json_decref(json);
    f->desc.max_bytes = opt ? opt->max_bytes : 0;
    if (status == SNN_OK) status = snn_net_check(&f->desc, NULL, err);
    if (status == SNN_OK) status = read_arrays(a, f, refs, n_refs, err);
    if (status == SNN_OK) status = snn_net_check(&f->desc, NULL, err);
    free(refs);
    return status;
}

/* Reads the archive in `src`: NULL when creating the source failed (out of memory). */
static snn_file *read_source(zip_source_t *src, uint64_t size, const snn_load_options *opt,
                             snn_error *err)
{
    snn__archive a = {.za = NULL};   /* closable even when never opened */
    snn_file *f = NULL;
    int status = src ? snn__archive_open(&a, src, size, err) : snn__nomem(err);
    if (status == SNN_OK) {
        f = calloc(1, sizeof *f);
        status = f ? read_file(&a, opt, f, err) : snn__nomem(err);
    }
    snn__archive_close(&a);
    if (status != SNN_OK) {
        snn_file_free(f);
        return NULL;
    }
    snn__set_error(err, SNN_OK, -1, -1, "%s", "");
    return f;
}

snn_file *snn_file_read(const char *path, const snn_load_options *opt, snn_error *err)
{
    FILE *fp = NULL;
    struct stat st;
    zip_source_t *src = NULL;
    zip_error_t ze;
    snn__set_error(err, SNN_OK, -1, -1, "%s", "");
    if (path == NULL) {
        snn__set_error(err, SNN_E_INVALID_ARG, -1, -1, "path is NULL");
    } else if ((fp = fopen(path, "rb")) == NULL) {
        snn__set_error(err, SNN_E_IO, -1, -1, "%s: cannot open: %s", path, strerror(errno));
    } else if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        snn__set_error(err, SNN_E_IO, -1, -1, "%s: not a regular file", path);
    } else {
        zip_error_init(&ze);
        src = zip_source_filep_create(fp, 0, -1, &ze);   /* takes fp, unless it fails */
        zip_error_fini(&ze);
        if (src == NULL) snn__nomem(err);
    }
    if (src == NULL && fp) fclose(fp);
    return src ? read_source(src, (uint64_t)st.st_size, opt, err) : NULL;
}

snn_file *snn_file_read_memory(const void *data, size_t size, const snn_load_options *opt,
                               snn_error *err)
{
    static const unsigned char empty[1] = {0};
    zip_source_t *src;
    zip_error_t ze;
    snn__set_error(err, SNN_OK, -1, -1, "%s", "");
    if (data == NULL && size > 0) {
        snn__set_error(err, SNN_E_INVALID_ARG, -1, -1, "data is NULL but size is not 0");
        return NULL;
    }
    zip_error_init(&ze);
    src = zip_source_buffer_create(data ? data : empty, size, 0, &ze);
    zip_error_fini(&ze);
    return read_source(src, (uint64_t)size, opt, err);
}

const snn_net_desc *snn_file_desc(const snn_file *file) { return file ? &file->desc : NULL; }

const snn_file_info *snn_file_get_info(const snn_file *file) { return file ? &file->info : NULL; }

snn_net *snn_file_build(const snn_file *file, const snn_allocator *allocator, snn_error *err)
{
    snn_net_desc d;
    if (file == NULL) {
        snn__set_error(err, SNN_E_INVALID_ARG, -1, -1, "file is NULL");
        return NULL;
    }
    d = file->desc;
    d.allocator = allocator;
    return snn_net_create(&d, err);
}

static snn_net *build_and_free(snn_file *f, const snn_load_options *opt, snn_error *err)
{
    snn_net *net = f ? snn_file_build(f, opt ? opt->allocator : NULL, err) : NULL;
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
